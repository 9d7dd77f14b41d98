//! `zk-server txnlog` / `zk-server snapshot` over files Apache ZooKeeper 3.8 wrote, and over
//! damaged ones.

use std::path::PathBuf;

use zk_server::tools::{dump_log, dump_snapshot};

fn fixture(p: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/apache-3.8")
        .join(p)
}

#[test]
fn prints_an_apache_txn_log() {
    let mut out = Vec::new();
    let n = dump_log(&fixture("txnlog/log.1"), false, &mut out).unwrap();
    assert_eq!(n, 17);
    let text = String::from_utf8(out).unwrap();
    assert_eq!(text.lines().count(), 18, "{text}");
    assert!(
        text.lines()
            .next()
            .unwrap()
            .contains("zxid 0x1 createSession"),
        "{text}"
    );
    assert!(text.ends_with("EOF reached after 17 txns.\n"));
    let mut out = Vec::new();
    assert_eq!(
        dump_log(&fixture("txnlog/log.1"), true, &mut out).unwrap(),
        17
    );
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "EOF reached after 17 txns.\n"
    );
}

#[test]
fn prints_an_apache_snapshot() {
    let mut out = Vec::new();
    let n = dump_snapshot(&fixture("snap/snapshot.1c"), true, false, &mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(
        text.starts_with(&format!("ZNode Details (count={n}):\n----\n/\n")),
        "{text}"
    );
    assert!(text.contains("\n/zookeeper\n"), "{text}");
    assert!(
        text.contains("Session Details (sid, timeout, ephemeralCount):\n0x1000023e8d50001, 30000, 1\n0x1000023e8d50002, 20000, 1\n"),
        "{text}"
    );
    assert!(
        text.contains("Digest: zxid 0x1c, version 2, digest 35106020909"),
        "{text}"
    );
}

#[test]
fn a_damaged_file_is_reported_not_printed() {
    let dir = std::env::temp_dir().join(format!("zkrs-tools-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("version-2")).unwrap();
    let mut snap = std::fs::read(fixture("snap/snapshot.1c")).unwrap();
    let mid = snap.len() / 2;
    snap[mid] ^= 0x40;
    let bad = dir.join("version-2/snapshot.1c");
    std::fs::write(&bad, &snap).unwrap();
    let err = dump_snapshot(&bad, false, true, &mut Vec::new()).unwrap_err();
    assert!(err.contains("snapshot.1c"), "{err}");
    let mut log = std::fs::read(fixture("txnlog/log.1")).unwrap();
    let end = log.iter().rposition(|&b| b == 0x42).unwrap();
    log.truncate(end - 3);
    let bad = dir.join("version-2/log.1");
    std::fs::write(&bad, &log).unwrap();
    let err = dump_log(&bad, true, &mut Vec::new()).unwrap_err();
    assert!(err.contains("torn tail"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
