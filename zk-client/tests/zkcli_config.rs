//! `zkcli config` on an ensemble member prints `/zookeeper/config` as Apache's zkCli 3.8 does
//! against Apache ZooKeeper 3.8 (transcript below), and `zkcli config` on a standalone server
//! prints the empty node.
//!
//! Apache zkCli 3.8.0 against a static 3-server Apache ZooKeeper 3.8.0 pseudo-cluster,
//! `config`, `config -c`, `config -s`, `set /zookeeper/config x`:
//!
//! ```text
//! server.1=127.0.0.1:57775:53461:participant
//! server.2=127.0.0.1:42717:45499:participant
//! server.3=127.0.0.1:57137:34937:participant
//! version=0
//! 0 ,,
//! (the text again)
//! cZxid = 0x0
//! ctime = Thu Jan 01 00:00:00 UTC 1970
//! mZxid = 0x0
//! mtime = <the server's clock>
//! pZxid = 0x0
//! cversion = 0
//! dataVersion = -1
//! aclVersion = -1
//! ephemeralOwner = 0x0
//! dataLength = 138
//! numChildren = 0
//! Insufficient permission : /zookeeper/config
//! ```
//! (With four servers, one an observer, `config -c` printed `0 ,,,`.)

mod common;

use std::net::SocketAddr;

use common::ensemble::*;

/// zkcli's transcript (stdout and stderr) for `script` then `quit`.
async fn zkcli(addr: SocketAddr, script: &str) -> String {
    let script = format!("{script}quit\n");
    let out = common::bounded(tokio::task::spawn_blocking(move || {
        common::run_zkcli(addr, &[], &script)
    }))
    .await
    .expect("zkcli thread");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The transcript after the connection event, without the closing event.
fn body(transcript: &str) -> Vec<String> {
    transcript
        .lines()
        .skip_while(|l| !l.contains("type:None path:null"))
        .skip(1)
        .take_while(|l| !l.is_empty() && !l.starts_with("WATCHER::"))
        .map(str::to_owned)
        .collect()
}

fn is_server_line(l: &str, id: u64) -> bool {
    let Some(rest) = l.strip_prefix(&format!("server.{id}=127.0.0.1:")) else {
        return false;
    };
    let Some(ports) = rest.strip_suffix(":participant") else {
        return false;
    };
    let p: Vec<&str> = ports.split(':').collect();
    p.len() == 2 && p.iter().all(|x| x.parse::<u16>().is_ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zkcli_config_prints_the_ensembles_configuration() {
    bounded_long(async {
        let (e, leader) = Ensemble::start(Options::default()).await;
        let follower = e.ids().into_iter().find(|id| *id != leader).unwrap();
        for id in [leader, follower] {
            let out = zkcli(
                e.client_addr(id),
                "config\nconfig -c\nconfig -s\nset /zookeeper/config x\n",
            )
            .await;
            let lines = body(&out);
            assert_eq!(lines.len(), 21, "server {id}:\n{out}");
            let text = &lines[0..4];
            for (i, l) in text[..3].iter().enumerate() {
                assert!(is_server_line(l, i as u64 + 1), "server {id}: {l:?}\n{out}");
            }
            assert_eq!(text[3], "version=0");
            assert_eq!(lines[4], "0 ,,", "config -c\n{out}");
            assert_eq!(&lines[5..9], text, "config -s prints the text first");
            let stat: Vec<&str> = lines[9..20].iter().map(String::as_str).collect();
            let len = text.join("\n").len();
            assert_eq!(
                [stat[0], stat[1], stat[2], stat[4], stat[5], stat[6], stat[7], stat[8]],
                [
                    "cZxid = 0x0",
                    "ctime = Thu Jan 01 00:00:00 UTC 1970",
                    "mZxid = 0x0",
                    "pZxid = 0x0",
                    "cversion = 0",
                    "dataVersion = -1",
                    "aclVersion = -1",
                    "ephemeralOwner = 0x0",
                ],
                "{out}"
            );
            assert!(stat[3].starts_with("mtime = "), "{out}");
            assert_eq!(stat[9], format!("dataLength = {len}"));
            assert_eq!(stat[10], "numChildren = 0");
            assert_eq!(lines[20], "Insufficient permission : /zookeeper/config");
        }
        e.shutdown().await;
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zkcli_config_on_a_standalone_server_prints_the_empty_node() {
    let server = common::start().await;
    let out = zkcli(server.local_addr, "config -s\n").await;
    // Apache: an empty line (the node's empty data), then its stat: version 0, length 0.
    let after: Vec<&str> = out
        .lines()
        .skip_while(|l| !l.contains("type:None path:null"))
        .skip(1)
        .collect();
    assert_eq!(
        after.get(..3),
        Some(&["", "cZxid = 0x0", "ctime = Thu Jan 01 00:00:00 UTC 1970"][..]),
        "{out}"
    );
    assert!(
        after.contains(&"mtime = Thu Jan 01 00:00:00 UTC 1970"),
        "{out}"
    );
    assert!(after.contains(&"dataVersion = 0"), "{out}");
    assert!(after.contains(&"dataLength = 0"), "{out}");
}
