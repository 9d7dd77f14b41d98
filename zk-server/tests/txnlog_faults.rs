//! Txn log writer under injected faults (`FaultFs`): group commit counts, crash consistency,
//! failed fsyncs and failed writes.

mod txnlog_common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use txnlog_common::*;
use zk_server::core::txn::Txn;
use zk_server::storage::txnlog::fault::FaultFs;
use zk_server::storage::txnlog::{truncate_torn_tail, LogError, LogOptions, TxnLog};

fn fake_dir() -> PathBuf {
    PathBuf::from("/fake/data/version-2")
}

fn open(fs: &FaultFs, prealloc: u64, force_sync: bool) -> TxnLog {
    let opts = LogOptions {
        prealloc_bytes: prealloc,
        force_sync,
        dbid: 0,
    };
    TxnLog::open_with(&fake_dir(), opts, Arc::new(fs.clone())).unwrap()
}

/// Materialises a crash image into a real directory and scans it.
fn scan_crash(fs: &FaultFs, keep: impl FnMut(&Path, u64) -> u64) -> (TempDir, Vec<Txn>, bool) {
    let tmp = TempDir::new("txnlog-crash");
    let images = fs.crash(keep);
    FaultFs::write_images(&images, &tmp.log_dir()).unwrap();
    let (txns, report) = scan_all(&tmp.log_dir(), 0);
    let torn = report.torn_tail.is_some();
    if let Some(t) = &report.torn_tail {
        truncate_torn_tail(t).unwrap();
        // After the repair the log reads the same txns with nothing torn.
        let (again, report) = scan_all(&tmp.log_dir(), 0);
        assert_eq!(again, txns);
        assert_eq!(report.torn_tail, None);
    }
    (tmp, txns, torn)
}

#[test]
fn group_commit_is_one_fdatasync() {
    let fs = FaultFs::new();
    let mut log = open(&fs, 64 * 1024, true);
    for z in 1..=1000 {
        log.append(&set_data(z)).unwrap();
    }
    assert_eq!(fs.sync_data_calls(), 0);
    log.commit().unwrap();
    assert_eq!(fs.sync_data_calls(), 1);
    // The new file's name is made durable once.
    assert_eq!(fs.sync_dir_calls(), 1);
    // Nothing appended: no fsync.
    log.commit().unwrap();
    assert_eq!(fs.sync_data_calls(), 1);
    log.append(&set_data(1001)).unwrap();
    log.commit().unwrap();
    assert_eq!((fs.sync_data_calls(), fs.sync_dir_calls()), (2, 1));
    // A roll commits; the next file needs its own directory sync.
    log.append(&set_data(1002)).unwrap();
    log.roll().unwrap();
    assert_eq!((fs.sync_data_calls(), fs.sync_dir_calls()), (3, 1));
    log.append(&set_data(1003)).unwrap();
    log.close().unwrap();
    assert_eq!((fs.sync_data_calls(), fs.sync_dir_calls()), (4, 2));
    let (_tmp, txns, torn) = scan_crash(&fs, |_, _| 0);
    assert_eq!(zxids(&txns), (1..=1003).collect::<Vec<_>>());
    assert!(!torn);
}

#[test]
fn no_fsync_without_force_sync() {
    let fs = FaultFs::new();
    let mut log = open(&fs, 64 * 1024, false);
    for z in 1..=100 {
        log.append(&set_data(z)).unwrap();
        log.commit().unwrap();
    }
    log.close().unwrap();
    assert_eq!((fs.sync_data_calls(), fs.sync_dir_calls()), (0, 0));
    // Everything is in the page cache...
    let path = fake_dir().join("log.1");
    assert!(fs.contents(&path).is_some());
    // ...and nothing is durable: a crash loses the file (its name was never synced).
    let (_tmp, txns, _) = scan_crash(&fs, |_, n| n);
    assert!(txns.is_empty());
}

#[test]
fn committed_txns_survive_any_crash() {
    // Tiny preallocation chunks: a set_len before almost every record, so crashes also cut
    // between a preallocation and the write after it.
    for prealloc in [0, 512, 64 * 1024] {
        let fs = FaultFs::new();
        let mut log = open(&fs, prealloc, true);
        let mut appended: Vec<Txn> = Vec::new();
        let mut committed = 0usize;
        let mut zxid = 0;
        // Batches of 1..=6 txns, a roll after batches 3 and 6; a crash is simulated after every
        // commit and after every append, at every byte of the unsynced data.
        for batch in 1..=8usize {
            for _ in 0..(batch % 6 + 1) {
                zxid += 1;
                let t = if zxid % 3 == 0 {
                    every_kind_txns(zxid, true).remove((zxid % 15) as usize)
                } else {
                    set_data(zxid)
                };
                let mut t = t;
                t.hdr.zxid = zxid;
                log.append(&t).unwrap();
                appended.push(t);
                check_crashes(&fs, &appended, committed);
            }
            log.commit().unwrap();
            committed = appended.len();
            check_crashes(&fs, &appended, committed);
            if batch % 3 == 0 {
                log.roll().unwrap();
            }
        }
        log.close().unwrap();
    }
}

/// Every crash point: the recovered log is a prefix of what was appended that holds at least
/// everything committed.
fn check_crashes(fs: &FaultFs, appended: &[Txn], committed: usize) {
    let unsynced: u64 = fs.paths().iter().map(|p| fs.unsynced_bytes(p)).sum();
    for keep in 0..=unsynced {
        let (_tmp, txns, _) = scan_crash(fs, |_, _| keep);
        assert!(
            txns.len() >= committed && txns.len() <= appended.len(),
            "keep {keep}: recovered {} of {} appended, {committed} committed",
            txns.len(),
            appended.len()
        );
        assert_eq!(txns[..], appended[..txns.len()], "keep {keep}");
    }
}

#[test]
fn uncommitted_new_file_is_lost_whole() {
    let fs = FaultFs::new();
    let mut log = open(&fs, 4096, true);
    log.append(&set_data(1)).unwrap();
    log.append(&set_data(2)).unwrap();
    log.roll().unwrap();
    log.append(&set_data(3)).unwrap();
    // log.3 exists in the page cache, but neither its data nor its name are durable.
    assert_eq!(fs.paths().len(), 2);
    let (_tmp, txns, torn) = scan_crash(&fs, |_, n| n);
    assert_eq!(zxids(&txns), vec![1, 2]);
    assert!(!torn);
}

#[test]
fn failed_fsync_is_fatal_and_never_retried() {
    let fs = FaultFs::new();
    let mut log = open(&fs, 4096, true);
    for z in 1..=3 {
        log.append(&set_data(z)).unwrap();
    }
    log.commit().unwrap();
    fs.set_fail_syncs(true);
    log.append(&set_data(4)).unwrap();
    let err = log.commit().unwrap_err();
    assert!(matches!(&err, LogError::Io { op: "fsync", .. }), "{err}");
    assert!(log.is_failed());
    let syncs = fs.sync_data_calls();
    // Even once the disk "recovers", the writer does nothing more: no retry of the fsync.
    fs.set_fail_syncs(false);
    assert!(matches!(log.commit(), Err(LogError::Failed)));
    assert!(matches!(log.append(&set_data(5)), Err(LogError::Failed)));
    assert!(matches!(log.roll(), Err(LogError::Failed)));
    assert!(matches!(log.close(), Err(LogError::Failed)));
    assert_eq!(fs.sync_data_calls(), syncs);
    // What survives: the committed 1..=3, and maybe txn 4 (it was written, not synced).
    for keep in [0, 10, u64::MAX] {
        let (_tmp, txns, _) = scan_crash(&fs, |_, _| keep);
        let z = zxids(&txns);
        assert!(z == vec![1, 2, 3] || z == vec![1, 2, 3, 4], "{z:?}");
    }
}

#[test]
fn failed_directory_fsync_is_fatal() {
    let fs = FaultFs::new();
    let mut log = open(&fs, 4096, true);
    log.append(&set_data(1)).unwrap();
    fs.set_fail_syncs(true);
    let err = log.commit().unwrap_err();
    // The data fsync fails first.
    assert!(matches!(&err, LogError::Io { op: "fsync", .. }), "{err}");
    assert!(matches!(log.append(&set_data(2)), Err(LogError::Failed)));
}

#[test]
fn failed_write_is_fatal_and_keeps_the_committed_prefix() {
    let one = record_bytes(&set_data(10)).len() as u64;
    for budget in 0..(3 * one + 20) {
        let fs = FaultFs::new();
        let mut log = open(&fs, 1024, true);
        for z in 1..=3 {
            log.append(&set_data(z)).unwrap();
        }
        log.commit().unwrap();
        fs.fail_writes_after(Some(budget));
        let mut failed = None;
        for z in 4..=9 {
            if let Err(e) = log.append(&set_data(z)) {
                failed = Some(e);
                break;
            }
        }
        let err = failed.unwrap_or_else(|| log.commit().unwrap_err());
        assert!(
            matches!(
                &err,
                LogError::Io { op: "write", .. }
                    | LogError::Io {
                        op: "preallocate",
                        ..
                    }
            ),
            "budget {budget}: {err}"
        );
        assert!(matches!(log.append(&set_data(10)), Err(LogError::Failed)));
        assert!(matches!(log.commit(), Err(LogError::Failed)));
        fs.fail_writes_after(None);
        for keep in [0, budget / 2, u64::MAX] {
            let (_tmp, txns, _) = scan_crash(&fs, |_, _| keep);
            let z = zxids(&txns);
            assert!(
                z.len() >= 3 && z == (1..=z.len() as i64).collect::<Vec<_>>(),
                "budget {budget}: {z:?}"
            );
            assert!(z.len() <= 9);
        }
    }
}
