//! Corrupt, truncated and half-written snapshots are detected, and loading falls back to an
//! older valid snapshot.

use std::fs;
use std::path::{Path, PathBuf};

use proptest::prelude::*;
use zk_proto::data::Acl;
use zk_proto::Perms;
use zk_server::core::tree::DataTree;
use zk_server::storage::snapshot::{
    file_name, list, load_newest_valid, read_snapshot, save, temp_file_name, write_snapshot,
    SnapshotError, SnapshotWriteOptions,
};

struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let p = std::env::temp_dir().join(format!(
            "zkrs-snapshot-{tag}-{}-{nanos}",
            std::process::id()
        ));
        fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn small_tree(tag: &[u8]) -> DataTree {
    let mut t = DataTree::new();
    let mut tr = Vec::new();
    t.create_node(
        "/a",
        Some(tag.to_vec()),
        &Acl::open_unsafe(),
        0,
        -1,
        1,
        100,
        &mut tr,
    )
    .unwrap();
    t.create_node(
        "/a/b",
        None,
        &[Acl::new(Perms::READ, "digest", "u:h")],
        0x42,
        -1,
        2,
        101,
        &mut tr,
    )
    .unwrap();
    t
}

fn small_snapshot(tag: &[u8], zxid: i64) -> Vec<u8> {
    let mut out = Vec::new();
    write_snapshot(
        &mut out,
        &small_tree(tag).view(),
        &[(0x42, 30_000)],
        zxid,
        &SnapshotWriteOptions::default(),
    )
    .unwrap();
    out
}

#[test]
fn every_single_byte_flip_is_detected() {
    let good = small_snapshot(b"data", 2);
    assert!(read_snapshot(&good).is_ok());
    for i in 0..good.len() {
        for mask in [0x01u8, 0x80, 0xff] {
            let mut bad = good.clone();
            bad[i] ^= mask;
            assert!(
                read_snapshot(&bad).is_err(),
                "flip {mask:#x} at byte {i} of {} went undetected",
                good.len()
            );
        }
    }
}

#[test]
fn every_truncation_is_detected_except_at_optional_section_boundaries() {
    let good = small_snapshot(b"data", 2);
    let full = read_snapshot(&good).unwrap();
    // The digest section (33 bytes with its seal) and the lastProcessedZxid section (21) are
    // optional in ZooKeeper's format, so a cut right before either is a well-formed snapshot.
    let body_end = good.len() - 33 - 21;
    let digest_end = good.len() - 21;
    let mut accepted = Vec::new();
    for len in 0..good.len() {
        if let Ok(s) = read_snapshot(&good[..len]) {
            accepted.push(len);
            assert_eq!(s.tree.paths_preorder(), full.tree.paths_preorder());
            assert_eq!(s.tree.digest(), full.tree.digest());
            assert_eq!(s.last_processed_zxid, None);
        }
    }
    assert_eq!(accepted, vec![body_end, digest_end]);
    let body_only = read_snapshot(&good[..body_end]).unwrap();
    assert_eq!(body_only.zxid_digest, None);
    let with_digest = read_snapshot(&good[..digest_end]).unwrap();
    assert_eq!(with_digest.zxid_digest, full.zxid_digest);
}

#[test]
fn appended_bytes_are_detected() {
    let good = small_snapshot(b"data", 2);
    for extra in 1..40 {
        let mut bad = good.clone();
        bad.extend(std::iter::repeat_n(0u8, extra));
        assert!(read_snapshot(&bad).is_err(), "{extra} zero bytes appended");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    /// Garbage never panics.
    #[test]
    fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = read_snapshot(&bytes);
    }

    /// Nor does garbage behind a real header, or a snapshot with a few bytes overwritten.
    #[test]
    fn damaged_snapshots_never_panic(
        edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8),
        cut in any::<usize>(),
    ) {
        let mut bytes = small_snapshot(b"payload", 7);
        for (at, v) in edits {
            let i = at % bytes.len();
            bytes[i] = v;
        }
        let cut = cut % (bytes.len() + 1);
        let _ = read_snapshot(&bytes[..cut]);
    }
}

#[test]
fn save_writes_the_zookeeper_name_and_leaves_no_temp_file() {
    let dir = TempDir::new("save");
    let t = small_tree(b"v");
    let p = save(
        &dir.0,
        &t.view(),
        &[(0x42, 30_000)],
        0x1_0000_002a,
        &SnapshotWriteOptions::default(),
    )
    .unwrap();
    assert_eq!(p, dir.0.join("snapshot.10000002a"));
    let names: Vec<String> = fs::read_dir(&dir.0)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names, vec!["snapshot.10000002a"]);
    let (zxid, path, loaded) = load_newest_valid(&dir.0).unwrap().unwrap();
    assert_eq!((zxid, path), (0x1_0000_002a, p));
    assert_eq!(loaded.sessions, vec![(0x42, 30_000)]);
    assert_eq!(
        loaded.tree.get("/a").unwrap().data.as_deref(),
        Some(&b"v"[..])
    );
}

fn write(dir: &Path, name: &str, bytes: &[u8]) {
    fs::write(dir.join(name), bytes).unwrap();
}

#[test]
fn empty_dir_has_no_snapshot() {
    let dir = TempDir::new("empty");
    assert!(list(&dir.0).unwrap().is_empty());
    assert!(load_newest_valid(&dir.0).unwrap().is_none());
    // Unrelated files, compressed snapshots and directories are not snapshots either.
    write(&dir.0, "log.1", b"whatever");
    write(&dir.0, "snapshot.1a.gz", b"\x1f\x8b");
    write(&dir.0, "snapshot.xyz", b"");
    write(&dir.0, "acceptedEpoch", b"1");
    fs::create_dir(dir.0.join("snapshot.7")).unwrap();
    assert!(list(&dir.0).unwrap().is_empty());
    assert!(load_newest_valid(&dir.0).unwrap().is_none());
}

#[test]
fn list_is_newest_first() {
    let dir = TempDir::new("list");
    for z in [0x5i64, 0x1_0000_0000, 0x2a, 0] {
        write(&dir.0, &file_name(z), &small_snapshot(b"x", z));
    }
    let zxids: Vec<i64> = list(&dir.0).unwrap().into_iter().map(|(z, _)| z).collect();
    assert_eq!(zxids, vec![0x1_0000_0000, 0x2a, 0x5, 0]);
}

#[test]
fn falls_back_when_the_newest_is_corrupt() {
    let dir = TempDir::new("corrupt");
    write(&dir.0, &file_name(5), &small_snapshot(b"old", 5));
    let mut newest = small_snapshot(b"new", 9);
    let mid = newest.len() / 2;
    newest[mid] ^= 0x10;
    write(&dir.0, &file_name(9), &newest);
    let (zxid, path, loaded) = load_newest_valid(&dir.0).unwrap().unwrap();
    assert_eq!((zxid, path), (5, dir.0.join("snapshot.5")));
    assert_eq!(
        loaded.tree.get("/a").unwrap().data.as_deref(),
        Some(&b"old"[..])
    );
}

#[test]
fn falls_back_when_the_newest_is_truncated() {
    let dir = TempDir::new("truncated");
    write(&dir.0, &file_name(5), &small_snapshot(b"old", 5));
    let newest = small_snapshot(b"new", 9);
    write(&dir.0, &file_name(9), &newest[..newest.len() - 60]);
    write(&dir.0, &file_name(0xa), b"");
    let (zxid, _, loaded) = load_newest_valid(&dir.0).unwrap().unwrap();
    assert_eq!(zxid, 5);
    assert_eq!(
        loaded.tree.get("/a").unwrap().data.as_deref(),
        Some(&b"old"[..])
    );
}

#[test]
fn no_valid_snapshot_is_an_error() {
    let dir = TempDir::new("allbad");
    let s = small_snapshot(b"x", 3);
    write(&dir.0, &file_name(3), &s[..s.len() / 2]);
    write(&dir.0, &file_name(4), b"garbage");
    match load_newest_valid(&dir.0) {
        Err(SnapshotError::NoValidSnapshot { tried, .. }) => assert_eq!(tried, 2),
        other => panic!("expected NoValidSnapshot, got {other:?}"),
    }
}

/// A crash between writing the temp file and renaming it leaves the temp file behind: it is
/// neither listed nor loaded, whether complete or torn, ours or Apache's (`snapshot.N.tmp`).
#[test]
fn a_temp_file_left_by_a_crash_is_ignored() {
    let dir = TempDir::new("crash");
    let older = save(
        &dir.0,
        &small_tree(b"saved").view(),
        &[],
        5,
        &SnapshotWriteOptions::default(),
    )
    .unwrap();
    let newer = small_snapshot(b"never renamed", 9);
    write(&dir.0, &temp_file_name(9), &newer);
    write(&dir.0, &temp_file_name(0xa), &newer[..newer.len() / 3]);
    write(&dir.0, "snapshot.b.tmp", &newer);
    assert_eq!(list(&dir.0).unwrap(), vec![(5, older.clone())]);
    let (zxid, path, loaded) = load_newest_valid(&dir.0).unwrap().unwrap();
    assert_eq!((zxid, path), (5, older));
    assert_eq!(
        loaded.tree.get("/a").unwrap().data.as_deref(),
        Some(&b"saved"[..])
    );
    // The next save of that zxid simply replaces the stale temp file.
    let p = save(
        &dir.0,
        &small_tree(b"retried").view(),
        &[],
        9,
        &SnapshotWriteOptions::default(),
    )
    .unwrap();
    assert!(!dir.0.join(temp_file_name(9)).exists());
    let (zxid, path, loaded) = load_newest_valid(&dir.0).unwrap().unwrap();
    assert_eq!((zxid, path), (9, p));
    assert_eq!(
        loaded.tree.get("/a").unwrap().data.as_deref(),
        Some(&b"retried"[..])
    );
}
