//! Golden tests of the `zkcli` binary: each `tests/golden/NAME.zk` script is fed on stdin
//! (plus `quit`) to `zkcli` against a fresh in-process zk-server, and the transcript
//! (stdout and stderr merged) must equal `tests/golden/NAME.apache.raw`, the transcript of
//! Apache's real zkCli 3.8 running the same script against Apache ZooKeeper 3.8 (see
//! `tests/golden/README.md`). Both go through the same [`normalise`].

mod common;

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

fn golden_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

use common::run_zkcli as zkcli;

async fn run_blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    common::bounded(tokio::task::spawn_blocking(f))
        .await
        .expect("zkcli thread")
}

/// Replaces what legitimately differs between runs and servers, the same way in both
/// transcripts: the server address, zxids, times and session ids; and moves each
/// `WATCHER::` block to the end of its segment (segments end at `Sync is OK`), since
/// zkCli prints events from another thread, racing the command's own output.
fn normalise(text: &str) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut events: Vec<String> = Vec::new();
    let lines: Vec<&str> = text.lines().collect();
    let mut i = 0;
    while i < lines.len() {
        let l = lines[i];
        if l.is_empty()
            && lines.get(i + 1) == Some(&"WATCHER::")
            && lines.get(i + 2) == Some(&"")
            && lines
                .get(i + 3)
                .is_some_and(|e| e.starts_with("WatchedEvent "))
        {
            events.push(format!("\nWATCHER::\n\n{}", lines[i + 3]));
            i += 4;
            continue;
        }
        let norm = if l.starts_with("Connecting to ") {
            "Connecting to HOST:PORT".to_string()
        } else if l.starts_with("ZooKeeper CLI version: ") {
            "ZooKeeper CLI version: VERSION".to_string()
        } else if let Some((k, v)) = l.split_once(" = ") {
            match k {
                "cZxid" | "mZxid" | "pZxid" if v.starts_with("0x") => format!("{k} = 0xZXID"),
                "ctime" | "mtime" => format!("{k} = TIME"),
                // a session id (not 0, and not a container's or TTL node's marker)
                "ephemeralOwner"
                    if v != "0x0"
                        && !(v.len() == 18 && (v.starts_with("0x80") || v.starts_with("0xff"))) =>
                {
                    format!("{k} = 0xSESSION")
                }
                _ => l.to_string(),
            }
        } else {
            l.to_string()
        };
        let sync = norm == "Sync is OK";
        out.push(norm);
        if sync {
            out.append(&mut events);
        }
        i += 1;
    }
    out.append(&mut events);
    let mut s = out.join("\n");
    s.push('\n');
    s
}

async fn golden(name: &str) {
    golden_on(name, common::start().await).await;
}

/// [`golden`] against a server started by the caller (for scripts whose server needs a
/// setting; `gen-apache.sh` reads it from `NAME.jvmflags`).
async fn golden_on(name: &str, server: zk_server::runtime::Server) {
    let addr = server.local_addr;
    let dir = golden_dir();
    let script = std::fs::read_to_string(dir.join(format!("{name}.zk")))
        .unwrap()
        .replace("@SERVER@", &addr.to_string());
    let expected = std::fs::read_to_string(dir.join(format!("{name}.apache.raw"))).unwrap();
    let out = run_blocking(move || zkcli(addr, &[], &format!("{script}quit\n"))).await;
    let got = String::from_utf8_lossy(&out.stdout).into_owned();
    if std::env::var_os("ZKCLI_GOLDEN_DUMP").is_some() {
        std::fs::write(std::env::temp_dir().join(format!("{name}.zkcli.out")), &got).unwrap();
    }
    let (want, got_n) = (normalise(&expected), normalise(&got));
    if want != got_n {
        let wl: Vec<&str> = want.lines().collect();
        let gl: Vec<&str> = got_n.lines().collect();
        let first = wl.iter().zip(&gl).position(|(a, b)| a != b);
        panic!(
            "{name}: zkcli differs from Apache zkCli (first differing line {first:?})\n\
             --- expected (normalised) ---\n{want}--- got (normalised) ---\n{got_n}"
        );
    }
    // zkCli exits 1 when a command of the script failed; every script has failures
    assert_eq!(out.status.code(), Some(1), "{name}: exit status");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn golden_basic() {
    golden("basic").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn golden_watches() {
    golden("watches").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn golden_shell() {
    golden("shell").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn golden_connect() {
    golden("connect").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn golden_misc() {
    golden("misc").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn golden_help() {
    golden("help").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn golden_quota() {
    golden("quota").await;
}

/// Hard limits with `zookeeper.enforceQuota=true`: refused creates and setData, soft limits
/// that only warn, the usage listquota shows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn golden_quota_enforced() {
    let mut cfg = common::config("127.0.0.1:0".parse().unwrap());
    cfg.core.enforce_quota = true;
    let server = zk_server::runtime::Server::start(cfg).await.unwrap();
    golden_on("quota_enforced", server).await;
}

/// reconfig's option checks and messages, and a standalone server's answer (reconfig
/// disabled) to the requests that pass them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn golden_reconfig() {
    golden("reconfig").await;
}

/// zkCli's quota commands report refused values and missing quotas without failing: this
/// script exits 0 with Apache's zkCli 3.8 too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quota_messages_are_not_failures() {
    let server = common::start().await;
    let addr = server.local_addr;
    let script = "create /q\nsetquota -n 0 /q\nlistquota /nope\ndelquota /nope\n\
                  setquota -n 5 /q\nversion\nquit\n";
    let out = run_blocking(move || zkcli(addr, &[], script)).await;
    let text = normalise(&String::from_utf8_lossy(&out.stdout));
    assert!(
        text.contains(
            "Created /q\nthe num quota must be greater than zero\n\
             absolute path is /zookeeper/quota/nope/zookeeper_limits\n\
             quota for /nope does not exist.\nQuota does not exist for /nope\n"
        ),
        "{text}"
    );
    assert_eq!(out.status.code(), Some(0), "{text}");
}

/// listquota shows the usage the server keeps in `zookeeper_stats`: the quota's node and
/// everything below it, following creates, setData and deletes made after setquota.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listquota_shows_the_servers_usage() {
    let server = common::start().await;
    let addr = server.local_addr;
    let script = "create /u ab\ncreate /u/a 1234\nsetquota -n 10 /u\nlistquota /u\n\
                  create /u/b xyz\ncreate /u/b/c\nset /u/a 1\ndelete /u/b/c\nlistquota /u\nquit\n";
    let out = run_blocking(move || zkcli(addr, &[], script)).await;
    let text = normalise(&String::from_utf8_lossy(&out.stdout));
    let stats: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("Output stat for "))
        .collect();
    assert_eq!(
        stats,
        vec![
            "Output stat for /u count=2,bytes=6",
            "Output stat for /u count=3,bytes=6",
        ],
        "{text}"
    );
}

/// `version` prints zkcli's own version (normalised away in the golden comparison).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn version_text() {
    let server = common::start().await;
    let addr = server.local_addr;
    let out = run_blocking(move || zkcli(addr, &["version"], "")).await;
    let text = String::from_utf8_lossy(&out.stdout);
    let want = format!(
        "\nZooKeeper CLI version: 3.9.3-zkrs-{}\n",
        env!("CARGO_PKG_VERSION")
    );
    assert!(text.contains(&want), "{text}");
    assert_eq!(out.status.code(), Some(0));
}

/// `zkcli -server h:p cmd args`: one command, exit status 0/1, as zkCli.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn single_command_mode() {
    let server = common::start().await;
    let addr = server.local_addr;
    let out = run_blocking(move || {
        let a = zkcli(addr, &["create", "/one", "hello world"], "");
        let b = zkcli(addr, &["get", "/one"], "");
        let c = zkcli(addr, &["get", "/missing"], "");
        let d = zkcli(addr, &["stat", "/one"], "");
        [a, b, c, d]
    })
    .await;
    let text = |o: &Output| normalise(&String::from_utf8_lossy(&o.stdout));
    let connected = "Connecting to HOST:PORT\n\nWATCHER::\n\n\
                     WatchedEvent state:SyncConnected type:None path:null\n";
    let want = |s: &str| normalise(&format!("{connected}{s}"));
    assert_eq!(text(&out[0]), want("Created /one\n"));
    assert_eq!(out[0].status.code(), Some(0));
    assert_eq!(text(&out[1]), want("hello world\n"));
    assert_eq!(out[1].status.code(), Some(0));
    assert_eq!(text(&out[2]), want("Node does not exist: /missing\n"));
    assert_eq!(out[2].status.code(), Some(1));
    assert!(text(&out[3]).contains("\ndataLength = 11\nnumChildren = 0\n"));
    assert_eq!(out[3].status.code(), Some(0));
}

/// Script mode: a script whose commands all succeed exits 0; whoami (3.9) lists the
/// session's identities.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn script_success_and_whoami() {
    let server = common::start().await;
    let addr = server.local_addr;
    let out = run_blocking(move || {
        zkcli(
            addr,
            &[],
            "addauth digest user1:pass1\nwhoami\ncreate /x\nls /\nquit\n",
        )
    })
    .await;
    let text = normalise(&String::from_utf8_lossy(&out.stdout));
    assert!(text.contains("\nAuth scheme: User\n"), "{text}");
    assert!(text.contains("\ndigest: user1\n"), "{text}");
    assert!(text.contains("\nCreated /x\n[x, zookeeper]\n"), "{text}");
    assert_eq!(out.status.code(), Some(0), "{text}");
}

#[test]
fn normaliser_moves_events_to_segment_end() {
    let raw = "a\n\nWATCHER::\n\nWatchedEvent state:SyncConnected type:NodeCreated path:/x\n\
               Created /x\nSync is OK\nctime = Sun Nov 22 01:12:24 UTC 2026\n";
    assert_eq!(
        normalise(raw),
        "a\nCreated /x\nSync is OK\n\nWATCHER::\n\n\
         WatchedEvent state:SyncConnected type:NodeCreated path:/x\nctime = TIME\n"
    );
}

/// A zkcli in script mode whose stdin is written a line at a time, its merged output
/// collected as it comes.
struct Live {
    child: std::process::Child,
    stdin: std::process::ChildStdin,
    out: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Live {
    fn start(addr: SocketAddr) -> Live {
        let mut child = Command::new("sh")
            .arg("-c")
            .arg("exec \"$0\" \"$@\" 2>&1")
            .arg(env!("CARGO_BIN_EXE_zkcli"))
            .arg("-server")
            .arg(addr.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("zkcli starts");
        let stdin = child.stdin.take().unwrap();
        let mut stdout = child.stdout.take().unwrap();
        let out = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let o = out.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = std::io::Read::read(&mut stdout, &mut buf) {
                if n == 0 {
                    break;
                }
                o.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        Live { child, stdin, out }
    }

    fn send(&mut self, line: &str) {
        writeln!(self.stdin, "{line}").unwrap();
    }

    /// Waits until the output holds `text` `n` times in all.
    async fn wait_for(&self, text: &str, n: usize) {
        common::soon(&format!("{n} x {text:?} from zkcli"), async {
            while self.out.lock().unwrap().matches(text).count() < n {
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
        })
        .await;
    }

    fn text(&self) -> String {
        self.out.lock().unwrap().clone()
    }
}

/// `removewatches -l` with the server gone: the watch is removed locally and the removal
/// event says Disconnected (as zkCli's client queues it with the ConnectionLoss code); a
/// second try finds no watcher.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removewatches_local_without_a_server() {
    let server = common::start().await;
    let mut z = Live::start(server.local_addr);
    z.send("create /x a");
    z.send("get -w /x");
    z.wait_for("Created /x\na\n", 1).await;
    server.shutdown().await;
    z.wait_for("WatchedEvent state:Disconnected type:None path:null", 1)
        .await;
    z.send("removewatches /x -l");
    z.wait_for(
        "WatchedEvent state:Disconnected type:DataWatchRemoved path:/x",
        1,
    )
    .await;
    z.send("removewatches /x -l");
    z.wait_for("KeeperErrorCode = No such watcher for /x", 1)
        .await;
    z.send("quit");
    let status = tokio::task::spawn_blocking(move || {
        let s = z.child.wait().unwrap();
        (s, z.text())
    })
    .await
    .unwrap();
    let (status, text) = status;
    assert_eq!(
        status.code(),
        Some(1),
        "the second removewatches failed: {text}"
    );
    assert_eq!(text.matches("DataWatchRemoved").count(), 1, "{text}");
}
