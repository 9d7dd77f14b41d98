//! Txn log recovery: torn tails, corruption, zxid sequence checks, scans from a snapshot zxid
//! across rolled files, and truncation.

mod txnlog_common;

use std::path::{Path, PathBuf};

use txnlog_common::*;
use zk_proto::OpCode;
use zk_server::core::txn::Txn;
use zk_server::storage::txnlog::{
    log_files, scan, truncate_after, truncate_torn_tail, LogError, TornTail, TxnLog,
};

const PREALLOC: u64 = 16 * 1024;

/// Writes `txns` with the writer into `dir` (one file) and returns the file's path and bytes.
fn write_log(dir: &Path, txns: &[Txn]) -> (PathBuf, Vec<u8>) {
    let mut log = TxnLog::open(dir, opts(PREALLOC)).unwrap();
    for t in txns {
        log.append(t).unwrap();
    }
    let path = log.current_file().unwrap().to_path_buf();
    log.close().unwrap();
    let bytes = std::fs::read(&path).unwrap();
    (path, bytes)
}

/// After a torn tail: repair, append 4 more txns with a fresh writer, and check the whole log
/// reads back in order with nothing torn.
fn repair_and_continue(dir: &Path, report_tail: Option<&TornTail>, good: &[Txn]) {
    if let Some(t) = report_tail {
        truncate_torn_tail(t).unwrap();
    }
    let next = good.last().map_or(1, |t| t.hdr.zxid + 1);
    let more: Vec<Txn> = (next..next + 4).map(set_data).collect();
    let mut log = TxnLog::open(dir, opts(PREALLOC)).unwrap();
    for t in &more {
        log.append(t).unwrap();
    }
    log.close().unwrap();
    let (all, report) = scan_all(dir, 0);
    let mut want = good.to_vec();
    want.extend(more);
    assert_eq!(all, want);
    assert_eq!(report.torn_tail, None);
    assert!(report.earlier_torn_tails.is_empty());
}

#[test]
fn torn_last_record_at_every_byte_offset() {
    let txns = every_kind_txns(1, true);
    let n = txns.len();
    let tmp = TempDir::new("txnlog-torn-src");
    let (path, orig) = write_log(&tmp.log_dir(), &txns);
    let name = path.file_name().unwrap().to_owned();
    let last_len = record_bytes(&txns[n - 1]).len();
    let data_end = orig.iter().rposition(|&b| b != 0).unwrap() + 1;
    let last_start = data_end - last_len;
    assert_eq!(orig[data_end - 1], 0x42);
    let mut torn_reported = 0;
    for keep in 0..last_len {
        for zero_fill in [false, true] {
            let case = TempDir::new("txnlog-torn");
            let dir = case.log_dir();
            std::fs::create_dir_all(&dir).unwrap();
            let mut bytes = orig[..last_start + keep].to_vec();
            if zero_fill {
                bytes.resize(orig.len(), 0);
            }
            let file = dir.join(&name);
            std::fs::write(&file, &bytes).unwrap();
            let (got, report) = scan_all(&dir, 0);
            assert_eq!(got, txns[..n - 1], "keep {keep} zero_fill {zero_fill}");
            assert_eq!(report.txn_count, (n - 1) as u64);
            assert_eq!(report.last_zxid, Some((n - 1) as i64));
            // Bytes identical to a clean end (a zero checksum prefix) cannot be told apart
            // from one; anything else is reported.
            let kept_nonzero = orig[last_start..last_start + keep].iter().any(|&b| b != 0);
            match &report.torn_tail {
                Some(t) => {
                    assert!(kept_nonzero, "keep {keep}: {t:?}");
                    assert_eq!(t.file, file);
                    assert_eq!(t.valid_len, last_start as u64);
                    torn_reported += 1;
                }
                None => assert!(!kept_nonzero, "keep {keep} zero_fill {zero_fill}"),
            }
            repair_and_continue(&dir, report.torn_tail.as_ref(), &txns[..n - 1]);
        }
    }
    // The checksum's 4 high bytes are zero; every longer cut is detected.
    assert_eq!(torn_reported, 2 * (last_len - 5));
}

#[test]
fn flipped_bits_and_missing_marker_in_last_record() {
    let txns: Vec<Txn> = (1..=6).map(set_data).collect();
    let tmp = TempDir::new("txnlog-flip-src");
    let (path, orig) = write_log(&tmp.log_dir(), &txns);
    let name = path.file_name().unwrap().to_owned();
    let last_len = record_bytes(&txns[5]).len();
    let last_start = orig.iter().rposition(|&b| b != 0).unwrap() + 1 - last_len;
    let mut cases: Vec<(usize, u8)> = Vec::new();
    for i in 0..last_len {
        for bit in 0..8 {
            cases.push((last_start + i, 1 << bit));
        }
    }
    // The end-of-record marker removed (0x42 -> 0).
    cases.push((last_start + last_len - 1, 0x42));
    for (at, mask) in cases {
        let case = TempDir::new("txnlog-flip");
        let dir = case.log_dir();
        std::fs::create_dir_all(&dir).unwrap();
        let mut bytes = orig.clone();
        bytes[at] ^= mask;
        std::fs::write(dir.join(&name), &bytes).unwrap();
        let (got, report) = scan_all(&dir, 0);
        assert_eq!(got, txns[..5], "byte {at} mask {mask:#x}");
        let t = report.torn_tail.as_ref().expect("torn tail reported");
        assert_eq!(t.valid_len, last_start as u64, "byte {at} mask {mask:#x}");
        repair_and_continue(&dir, Some(t), &txns[..5]);
    }
}

#[test]
fn last_file_without_txns_is_a_torn_tail_and_is_removed() {
    let header = header_bytes();
    let first = record_bytes(&set_data(1));
    let cases: Vec<(&str, Vec<u8>, u64)> = vec![
        ("empty file", vec![], 0),
        ("partial magic", b"ZK".to_vec(), 0),
        ("short header", header[..10].to_vec(), 0),
        ("zero header", vec![0; 4096], 0),
        ("torn magic", [b"ZK".as_slice(), &[0; 100]].concat(), 0),
        ("header only", header.clone(), 16),
        (
            "header and zeros",
            [header.as_slice(), &[0; 4096]].concat(),
            16,
        ),
        (
            "half a record",
            [header.as_slice(), &first[..first.len() / 2]].concat(),
            16,
        ),
    ];
    for (what, bytes, valid_len) in cases {
        let tmp = TempDir::new("txnlog-empty");
        let dir = tmp.log_dir();
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("log.1");
        std::fs::write(&file, &bytes).unwrap();
        let (got, report) = scan_all(&dir, 0);
        assert!(got.is_empty(), "{what}");
        assert_eq!(report.last_zxid, None, "{what}");
        let t = report.torn_tail.clone().expect(what);
        assert_eq!(
            (t.file.clone(), t.valid_len),
            (file.clone(), valid_len),
            "{what}"
        );
        // The writer cannot create log.1 while it exists; after the repair it can.
        let mut log = TxnLog::open(&dir, opts(PREALLOC)).unwrap();
        assert!(
            matches!(
                log.append(&set_data(1)),
                Err(LogError::Io { op: "create", .. })
            ),
            "{what}"
        );
        drop(log);
        truncate_torn_tail(&t).unwrap();
        assert!(!file.exists(), "{what}");
        repair_and_continue(&dir, None, &[]);
    }
}

#[test]
fn writer_never_overwrites_an_existing_file() {
    let tmp = TempDir::new("txnlog-exists");
    let dir = tmp.log_dir();
    write_raw_log(&dir, 1, &[set_data(1)], 0);
    let mut log = TxnLog::open(&dir, opts(PREALLOC)).unwrap();
    let err = log.append(&set_data(1)).unwrap_err();
    assert!(
        matches!(&err, LogError::Io { op: "create", source, .. } if source.kind() == std::io::ErrorKind::AlreadyExists),
        "{err}"
    );
    assert!(matches!(log.append(&set_data(2)), Err(LogError::Failed)));
    assert_eq!(zxids(&scan_all(&dir, 0).0), vec![1]);
}

#[test]
fn bad_magic_is_an_error_not_a_torn_tail() {
    let tmp = TempDir::new("txnlog-magic");
    let dir = tmp.log_dir();
    std::fs::create_dir_all(&dir).unwrap();
    let mut bytes = header_bytes();
    bytes[..4].copy_from_slice(b"ZKSN");
    std::fs::write(dir.join("log.1"), &bytes).unwrap();
    let err = scan(&dir, 0, |_| Ok(())).unwrap_err();
    assert!(
        matches!(&err, LogError::Corrupt { offset: 0, path, .. } if path.ends_with("log.1")),
        "{err}"
    );
}

/// log.1 = 1..=5 and log.6 = 6..=10 written by hand; returns (dir guard, log.1 path, offsets).
fn two_files() -> (TempDir, PathBuf, Vec<u64>) {
    let tmp = TempDir::new("txnlog-two");
    let dir = tmp.log_dir();
    let (p1, offsets) = write_raw_log(&dir, 1, &(1..=5).map(set_data).collect::<Vec<_>>(), 512);
    write_raw_log(&dir, 6, &(6..=10).map(set_data).collect::<Vec<_>>(), 512);
    (tmp, p1, offsets)
}

#[test]
fn corruption_in_an_earlier_file_is_an_error() {
    for victim in 0..5 {
        let (tmp, p1, offsets) = two_files();
        let mut bytes = std::fs::read(&p1).unwrap();
        bytes[offsets[victim] as usize + 30] ^= 0x10;
        std::fs::write(&p1, &bytes).unwrap();
        let mut seen = Vec::new();
        let err = scan(&tmp.log_dir(), 0, |t| {
            seen.push(t.hdr.zxid);
            Ok(())
        })
        .unwrap_err();
        match &err {
            LogError::Corrupt {
                path,
                offset,
                reason,
            } => {
                assert_eq!(path, &p1);
                assert_eq!(*offset, offsets[victim]);
                assert!(reason.contains("checksum mismatch"), "{reason}");
                assert!(reason.contains("log.6"), "{reason}");
            }
            other => panic!("victim {victim}: {other}"),
        }
        // The valid txns before the damage were delivered; nothing after it.
        assert_eq!(seen, (1..=victim as i64).collect::<Vec<_>>());
        // Scanning from after log.1 skips it by name and works.
        let (got, report) = scan_all(&tmp.log_dir(), 5);
        assert_eq!(zxids(&got), (6..=10).collect::<Vec<_>>());
        assert_eq!(report.torn_tail, None);
    }
}

#[test]
fn truncated_earlier_file_is_an_error() {
    let (tmp, p1, offsets) = two_files();
    let bytes = std::fs::read(&p1).unwrap();
    // Lose the last record of log.1 entirely (cut to a clean boundary): a gap before log.6.
    std::fs::write(&p1, &bytes[..offsets[4] as usize]).unwrap();
    let err = scan(&tmp.log_dir(), 0, |_| Ok(())).unwrap_err();
    assert!(
        matches!(&err, LogError::Sequence { prev: 4, zxid: 6, offset: 16, path } if path.ends_with("log.6")),
        "{err}"
    );
}

#[test]
fn torn_tail_of_an_earlier_file_is_accepted_when_the_next_file_continues() {
    // What Apache ZooKeeper leaves after a crash mid-write and a restart: a torn tail in
    // log.1 and a new file starting right after its last valid txn.
    for next_start in [6, 0x1_0000_0001] {
        let tmp = TempDir::new("txnlog-earlier-torn");
        let dir = tmp.log_dir();
        let (p1, _) = write_raw_log(&dir, 1, &(1..=5).map(set_data).collect::<Vec<_>>(), 0);
        let mut bytes = std::fs::read(&p1).unwrap();
        let end = bytes.len() as u64;
        bytes.extend_from_slice(&record_bytes(&set_data(6))[..20]);
        bytes.resize(bytes.len() + 300, 0);
        std::fs::write(&p1, &bytes).unwrap();
        let later: Vec<Txn> = (next_start..next_start + 3).map(set_data).collect();
        write_raw_log(&dir, next_start, &later, 100);
        let (got, report) = scan_all(&dir, 0);
        let mut want: Vec<i64> = (1..=5).collect();
        want.extend(next_start..next_start + 3);
        assert_eq!(zxids(&got), want);
        assert_eq!(report.torn_tail, None);
        assert_eq!(report.earlier_torn_tails.len(), 1);
        assert_eq!(report.earlier_torn_tails[0].file, p1);
        assert_eq!(report.earlier_torn_tails[0].valid_len, end);
    }
}

#[test]
fn zxid_gaps_and_reversals_are_errors() {
    // (what, zxids, index of the first txn that does not follow)
    let cases: Vec<(&str, Vec<i64>, usize)> = vec![
        ("gap", vec![1, 2, 4], 2),
        ("repeat", vec![1, 2, 2], 2),
        ("backwards", vec![1, 3, 2], 1),
        ("epoch jump not at counter 1", vec![1, 2, 0x1_0000_0002], 2),
        ("epoch going back", vec![0x2_0000_0001, 0x1_0000_0001], 1),
    ];
    for (what, zs, bad) in cases {
        let tmp = TempDir::new("txnlog-gap");
        let dir = tmp.log_dir();
        let txns: Vec<Txn> = zs.iter().map(|&z| set_data(z)).collect();
        let (path, offsets) = write_raw_log(&dir, zs[0], &txns, 64);
        let mut seen = Vec::new();
        let err = scan(&dir, 0, |t| {
            seen.push(t.hdr.zxid);
            Ok(())
        })
        .unwrap_err();
        match &err {
            LogError::Sequence {
                path: p,
                offset,
                prev,
                zxid,
            } => {
                assert_eq!(p, &path, "{what}");
                assert_eq!((*prev, *zxid), (zs[bad - 1], zs[bad]), "{what}");
                assert_eq!(*offset, offsets[bad], "{what}");
            }
            other => panic!("{what}: {other}"),
        }
        assert_eq!(seen, zs[..bad], "{what}");
    }
    // Across files.
    let tmp = TempDir::new("txnlog-gap-files");
    let dir = tmp.log_dir();
    write_raw_log(&dir, 1, &(1..=3).map(set_data).collect::<Vec<_>>(), 0);
    let (p5, _) = write_raw_log(&dir, 5, &(5..=6).map(set_data).collect::<Vec<_>>(), 0);
    let err = scan(&dir, 0, |_| Ok(())).unwrap_err();
    assert!(
        matches!(&err, LogError::Sequence { path, offset: 16, prev: 3, zxid: 5 } if *path == p5),
        "{err}"
    );
    // An epoch change (counter restarting at 1) is fine, within and across files.
    let tmp = TempDir::new("txnlog-epochs");
    let dir = tmp.log_dir();
    let a: Vec<Txn> = [1, 2, 0x1_0000_0001, 0x1_0000_0002].map(set_data).to_vec();
    write_raw_log(&dir, 1, &a, 0);
    let b: Vec<Txn> = [0x3_0000_0001, 0x3_0000_0002].map(set_data).to_vec();
    write_raw_log(&dir, 0x3_0000_0001, &b, 0);
    assert_eq!(
        zxids(&scan_all(&dir, 0).0),
        vec![
            1,
            2,
            0x1_0000_0001,
            0x1_0000_0002,
            0x3_0000_0001,
            0x3_0000_0002
        ]
    );
    // From a snapshot at the end of an epoch, the next epoch's first txn follows.
    assert_eq!(
        zxids(&scan_all(&dir, 0x1_0000_0002).0),
        vec![0x3_0000_0001, 0x3_0000_0002]
    );
}

#[test]
fn first_txn_must_match_the_file_name() {
    let tmp = TempDir::new("txnlog-name");
    let dir = tmp.log_dir();
    let (p, _) = write_raw_log(&dir, 1, &[set_data(2), set_data(3)], 0);
    let err = scan(&dir, 0, |_| Ok(())).unwrap_err();
    assert!(
        matches!(&err, LogError::Corrupt { path, offset: 16, .. } if *path == p),
        "{err}"
    );
    // Two names for one zxid.
    let tmp = TempDir::new("txnlog-dup");
    let dir = tmp.log_dir();
    write_raw_log(&dir, 1, &[set_data(1)], 0);
    std::fs::copy(dir.join("log.1"), dir.join("log.01")).unwrap();
    assert!(matches!(log_files(&dir), Err(LogError::Corrupt { .. })));
}

#[test]
fn intact_but_undecodable_record_is_an_error_even_at_the_end() {
    let tmp = TempDir::new("txnlog-undecodable");
    let dir = tmp.log_dir();
    let mut bad = set_data(3);
    bad.hdr.txn_type = OpCode::Reconfig.code();
    let (p, offsets) = write_raw_log(&dir, 1, &[set_data(1), set_data(2), bad], 100);
    let err = scan(&dir, 0, |_| Ok(())).unwrap_err();
    assert!(
        matches!(&err, LogError::Undecodable { path, offset, .. } if *path == p && *offset == offsets[2]),
        "{err}"
    );
}

#[test]
fn callback_errors_stop_the_scan() {
    let tmp = TempDir::new("txnlog-callback");
    let dir = tmp.log_dir();
    write_log(&dir, &(1..=5).map(set_data).collect::<Vec<_>>());
    let mut seen = Vec::new();
    let err = scan(&dir, 0, |t| {
        if t.hdr.zxid == 3 {
            return Err("apply failed".into());
        }
        seen.push(t.hdr.zxid);
        Ok(())
    })
    .unwrap_err();
    assert!(matches!(&err, LogError::Callback { zxid: 3, message } if message == "apply failed"));
    assert_eq!(seen, vec![1, 2]);
}

#[test]
fn writer_refuses_out_of_order_zxids() {
    let tmp = TempDir::new("txnlog-order");
    let dir = tmp.log_dir();
    let mut log = TxnLog::open(&dir, opts(PREALLOC)).unwrap();
    log.append(&set_data(1)).unwrap();
    for bad in [1, 3, 0, 0x1_0000_0002] {
        assert!(
            matches!(log.append(&set_data(bad)), Err(LogError::OutOfOrder { prev: 1, zxid }) if zxid == bad)
        );
    }
    log.append(&set_data(2)).unwrap();
    log.append(&set_data(0x1_0000_0001)).unwrap();
    // After a roll the next file may start anywhere (e.g. after installing a snapshot).
    log.roll().unwrap();
    log.append(&set_data(0x1_0000_0050)).unwrap();
    log.close().unwrap();
    assert_eq!(zxids(&scan_all(&dir, 0x1_0000_004f).0), vec![0x1_0000_0050]);
    let err = scan(&dir, 0, |_| Ok(())).unwrap_err();
    assert!(matches!(
        err,
        LogError::Sequence {
            prev: 0x1_0000_0001,
            zxid: 0x1_0000_0050,
            ..
        }
    ));
}

/// 1..=120 in epoch 0 and then 0x100000001..=0x100000080 in epoch 1, rolled every 17 txns.
fn rolled_log(dir: &Path) -> Vec<Txn> {
    let mut all: Vec<Txn> = (1..=120).map(set_data).collect();
    all.extend((0x1_0000_0001..=0x1_0000_0080).map(set_data));
    let mut log = TxnLog::open(dir, opts(PREALLOC)).unwrap();
    for (i, t) in all.iter().enumerate() {
        log.append(t).unwrap();
        if i % 17 == 16 {
            log.roll().unwrap();
        } else if i % 5 == 0 {
            log.commit().unwrap();
        }
    }
    log.close().unwrap();
    all
}

#[test]
fn scans_from_any_zxid_across_rolls() {
    let tmp = TempDir::new("txnlog-rolls");
    let dir = tmp.log_dir();
    let all = rolled_log(&dir);
    let files = log_files(&dir).unwrap();
    assert_eq!(files.len(), all.len().div_ceil(17));
    assert_eq!(files[1].0, 18);
    let (got, report) = scan_all(&dir, 0);
    assert_eq!(got, all);
    assert_eq!(report.txn_count, all.len() as u64);
    let afters = [
        0,
        1,
        16,
        17,
        18,
        34,
        35,
        50,
        119,
        120,
        0x1_0000_0000,
        0x1_0000_0001,
        0x1_0000_0010,
        0x1_0000_007f,
        0x1_0000_0080,
        0x1_0000_0100,
    ];
    for after in afters {
        let (got, report) = scan_all(&dir, after);
        let want: Vec<Txn> = all.iter().filter(|t| t.hdr.zxid > after).cloned().collect();
        assert_eq!(zxids(&got), zxids(&want), "after {after:#x}");
        assert_eq!(got, want);
        assert_eq!(report.txn_count, want.len() as u64);
        assert_eq!(report.last_zxid, Some(0x1_0000_0080));
    }
    // Files before the one holding after+1 are skipped by name, without being read: corrupt
    // log.1 and scan from 17 (log.12 starts at 18).
    std::fs::write(&files[0].1, b"garbage!garbage!garbage!").unwrap();
    assert!(scan(&dir, 0, |_| Ok(())).is_err());
    assert_eq!(scan_all(&dir, 17).0.len(), all.len() - 17);
    assert!(scan(&dir, 16, |_| Ok(())).is_err());
}

#[test]
fn truncate_after_keeps_exactly_the_prefix() {
    let src = TempDir::new("txnlog-trunc-src");
    let all: Vec<Txn> = (1..=60).map(set_data).collect();
    {
        let mut log = TxnLog::open(&src.log_dir(), opts(PREALLOC)).unwrap();
        for (i, t) in all.iter().enumerate() {
            log.append(t).unwrap();
            if i % 10 == 9 {
                log.roll().unwrap();
            }
        }
        log.close().unwrap();
    }
    for z in [0, 1, 5, 10, 11, 35, 59, 60, 100] {
        let tmp = TempDir::new("txnlog-trunc");
        let dir = tmp.log_dir();
        copy_dir(&src.log_dir(), &dir);
        truncate_after(&dir, z).unwrap();
        let keep = z.min(60);
        let (got, report) = scan_all(&dir, 0);
        assert_eq!(
            zxids(&got),
            (1..=keep).collect::<Vec<_>>(),
            "truncate_after {z}"
        );
        assert_eq!(report.torn_tail, None, "truncate_after {z}");
        let starts: Vec<i64> = log_files(&dir).unwrap().iter().map(|f| f.0).collect();
        assert!(starts.iter().all(|&s| s <= keep.max(0)), "{starts:?}");
        // Zab continues with new txns after the truncation point.
        repair_and_continue(&dir, None, &all[..keep as usize]);
    }
    // A damaged tail after the truncation point goes too.
    let tmp = TempDir::new("txnlog-trunc-torn");
    let dir = tmp.log_dir();
    let (p, offsets) = write_raw_log(&dir, 1, &(1..=4).map(set_data).collect::<Vec<_>>(), 0);
    let mut bytes = std::fs::read(&p).unwrap();
    let n = bytes.len();
    bytes[n - 3] ^= 1;
    bytes.resize(n + 100, 0);
    std::fs::write(&p, &bytes).unwrap();
    assert!(scan_all(&dir, 0).1.torn_tail.is_some());
    truncate_after(&dir, 2).unwrap();
    let after = std::fs::read(&p).unwrap();
    assert_eq!(after.len(), n + 100);
    assert_eq!(after[..offsets[2] as usize], bytes[..offsets[2] as usize]);
    assert!(after[offsets[2] as usize..].iter().all(|&b| b == 0));
    let (got, report) = scan_all(&dir, 0);
    assert_eq!(zxids(&got), vec![1, 2]);
    assert_eq!(report.torn_tail, None);
}
