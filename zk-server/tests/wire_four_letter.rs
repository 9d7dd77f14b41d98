//! Four-letter words on the client port: sent as a connection's first four bytes, answered in
//! plain text, then the server closes (`NIOServerCnxn.checkFourLetterWord`, the `*Command`
//! classes, `WatchManager.dumpWatches`).

mod wire;

use wire::*;
use zk_proto::CreateMode;

async fn ask(addr: std::net::SocketAddr, cmd: &str) -> String {
    let out = four_letter(addr, cmd).await;
    assert!(!out.is_empty(), "{cmd}: empty answer");
    out
}

#[tokio::test]
async fn ruok_isro_crst_srst_exact() {
    bounded(async {
        let server = start_default().await;
        let addr = server.local_addr;
        assert_eq!(ask(addr, "ruok").await, "imok");
        assert_eq!(ask(addr, "isro").await, "rw");
        assert_eq!(ask(addr, "crst").await, "Connection stats reset.\n");
        assert_eq!(ask(addr, "srst").await, "Server stats reset.\n");
        assert_healthy(addr).await;
        server.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn srvr_and_stat_on_a_fresh_server() {
    bounded(async {
        let server = start_default().await;
        let addr = server.local_addr;
        let srvr = ask(addr, "srvr").await;
        for needle in [
            "Zookeeper version: ",
            "Latency min/avg/max: ",
            "Received: ",
            "Sent: ",
            "Connections: ",
            "Outstanding: 0\n",
            "Zxid: 0x0\n",
            "Mode: standalone\n",
            // "", "/", "/zookeeper", "/zookeeper/quota", "/zookeeper/config".
            "Node count: 5\n",
        ] {
            assert!(srvr.contains(needle), "srvr lacks {needle:?}:\n{srvr}");
        }
        assert!(srvr.starts_with("Zookeeper version: "));

        let stat = ask(addr, "stat").await;
        for needle in [
            "Zookeeper version: ",
            "Clients:\n",
            " /127.0.0.1:",
            "Mode: standalone\n",
            "Node count: 5\n",
        ] {
            assert!(stat.contains(needle), "stat lacks {needle:?}:\n{stat}");
        }
        assert_healthy(addr).await;
        // The healthy client's node shows up.
        assert!(ask(addr, "srvr").await.contains("Node count: 6\n"));
        server.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn conf_cons_dirs_envi() {
    bounded(async {
        let server = start_default().await;
        let addr = server.local_addr;
        let conf = ask(addr, "conf").await;
        assert!(
            conf.contains(&format!("clientPort={}\n", addr.port())),
            "conf:\n{conf}"
        );
        for needle in [
            "tickTime=2000\n",
            "minSessionTimeout=4000\n",
            "maxSessionTimeout=40000\n",
        ] {
            assert!(conf.contains(needle), "conf lacks {needle:?}:\n{conf}");
        }

        let s = Session::connect(addr).await;
        let cons = ask(addr, "cons").await;
        assert!(cons.contains(" /127.0.0.1:"), "cons:\n{cons}");
        assert!(
            cons.contains(&format!("sid={:#x}", s.id)),
            "cons lacks the session:\n{cons}"
        );
        assert!(
            cons.ends_with("\n\n"),
            "cons ends with a blank line:\n{cons:?}"
        );

        let dirs = ask(addr, "dirs").await;
        assert!(dirs.contains("datadir_size: "), "dirs:\n{dirs}");
        assert!(dirs.contains("logdir_size: "), "dirs:\n{dirs}");

        let envi = ask(addr, "envi").await;
        assert!(envi.starts_with("Environment:\n"), "envi:\n{envi}");
        assert!(envi.contains("zookeeper.version="), "envi:\n{envi}");
        s.close().await;
        assert_healthy(addr).await;
        server.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn mntr_lines_are_key_tab_value() {
    bounded(async {
        let server = start_default().await;
        let addr = server.local_addr;
        let mntr = ask(addr, "mntr").await;
        assert!(mntr.ends_with('\n'));
        for line in mntr.lines() {
            assert!(line.starts_with("zk_"), "mntr line {line:?}");
            assert_eq!(line.matches('\t').count(), 1, "mntr line {line:?}");
            let (k, v) = line.split_once('\t').unwrap();
            assert!(!k.contains(' '), "mntr key {k:?}");
            assert!(!v.is_empty(), "mntr value of {k}");
        }
        for needle in [
            "zk_server_state\tstandalone\n",
            "zk_znode_count\t5\n",
            "zk_watch_count\t0\n",
            "zk_ephemerals_count\t0\n",
        ] {
            assert!(mntr.contains(needle), "mntr lacks {needle:?}:\n{mntr}");
        }
        assert!(mntr.contains("zk_version\t"));
        assert_healthy(addr).await;
        server.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn every_word_answers_and_closes() {
    bounded(async {
        let server = start_default().await;
        let addr = server.local_addr;
        for cmd in [
            "ruok", "srvr", "stat", "conf", "cons", "mntr", "envi", "wchs", "wchc", "wchp", "dump",
            "dirs", "isro", "crst", "srst",
        ] {
            // `four_letter` reads until the server closes; a word followed by more bytes (as
            // `nc` sends a newline) is answered the same way.
            let out = ask(addr, cmd).await;
            let mut w = Wire::connect(addr).await;
            w.send(format!("{cmd}\n").as_bytes()).await;
            let again = String::from_utf8(w.read_to_close().await).unwrap();
            assert!(!again.is_empty(), "{cmd} with a trailing newline");
            if matches!(cmd, "ruok" | "isro" | "crst" | "srst" | "conf" | "dirs") {
                assert_eq!(out, again, "{cmd}");
            }
        }
        assert_healthy(addr).await;
        server.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn a_word_after_the_handshake_is_just_a_bad_frame() {
    // Only a connection's first four bytes are checked for a word; after the ConnectRequest,
    // "ruok" is the length prefix 0x72756f6b, over jute.maxbuffer: "Len error", closed.
    bounded(async {
        let server = start_default().await;
        let addr = server.local_addr;
        let mut s = Session::connect(addr).await;
        let _ = s.wire.try_send(b"ruok").await;
        s.wire.expect_closed("ruok after the handshake").await;
        assert_healthy(addr).await;
        server.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn whitelist_refuses_other_words() {
    bounded(async {
        let mut cfg = config();
        cfg.four_letter_whitelist = Some(vec!["srvr".into()]);
        let server = start(cfg).await;
        let addr = server.local_addr;
        assert_eq!(
            ask(addr, "ruok").await,
            "ruok is not executed because it is not in the whitelist.\n"
        );
        assert_eq!(
            ask(addr, "mntr").await,
            "mntr is not executed because it is not in the whitelist.\n"
        );
        assert!(ask(addr, "srvr").await.contains("Mode: standalone\n"));
        assert_healthy(addr).await;
        server.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn watch_and_dump_words_name_paths_and_sessions() {
    bounded(async {
        let server = start_default().await;
        let addr = server.local_addr;
        let mut s = Session::connect(addr).await;
        let r = s.create("/eph", b"e", CreateMode::Ephemeral).await;
        assert_eq!(r.err, 0, "{r:?}");
        // A data watch on /eph.
        let g = s.call(&get_data_req("/eph", true)).await;
        assert_eq!(g.err, 0);
        let sid = format!("{:#x}", s.id);
        assert!(sid.starts_with("0x1") && sid == sid.to_lowercase());

        assert_eq!(
            ask(addr, "wchs").await,
            "1 connections watching 1 paths\nTotal watches:1\n"
        );
        assert_eq!(ask(addr, "wchc").await, format!("{sid}\n\t/eph\n\n"));
        assert_eq!(ask(addr, "wchp").await, format!("/eph\n\t{sid}\n\n"));

        let dump = ask(addr, "dump").await;
        for needle in [
            "SessionTracker dump:\n".to_string(),
            "ephemeral nodes dump:\n".to_string(),
            "Sessions with Ephemerals (1):\n".to_string(),
            format!("{sid}:\n\t/eph\n"),
            format!("\t{sid}\n"),
            "Connections dump:\n".to_string(),
            format!("sessionId: {sid}\n"),
        ] {
            assert!(dump.contains(&needle), "dump lacks {needle:?}:\n{dump}");
        }
        let mntr = ask(addr, "mntr").await;
        assert!(mntr.contains("zk_ephemerals_count\t1\n"), "{mntr}");
        assert!(mntr.contains("zk_watch_count\t1\n"), "{mntr}");

        // Once the session is gone, so are its watch and ephemeral.
        s.close().await;
        assert_eq!(
            ask(addr, "wchs").await,
            "0 connections watching 0 paths\nTotal watches:0\n"
        );
        let dump = ask(addr, "dump").await;
        assert!(!dump.contains("/eph"), "{dump}");
        assert_healthy(addr).await;
        server.shutdown().await;
    })
    .await;
}
