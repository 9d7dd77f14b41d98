//! Txn log format: round trips of every txn kind, exact bytes, preallocation, and Apache
//! ZooKeeper 3.8's own log files (fixtures) read by `scan`.

mod txnlog_common;

use std::path::Path;

use txnlog_common::*;
use zk_proto::codec::Encode;
use zk_proto::data::{Acl, Id};
use zk_proto::txn::*;
use zk_proto::OpCode;
use zk_server::core::txn::{Txn, TxnBody};
use zk_server::storage::txnlog::{adler32, decode_txn, encode_txn, log_files, LogOptions, TxnLog};

#[test]
fn every_kind_round_trips_with_and_without_digest() {
    for with_digest in [false, true] {
        let tmp = TempDir::new("txnlog-kinds");
        let dir = tmp.log_dir();
        let txns = every_kind_txns(0x1_0000_0001, with_digest);
        let mut log = TxnLog::open(&dir, opts(64 * 1024)).unwrap();
        for t in &txns {
            log.append(t).unwrap();
        }
        log.close().unwrap();
        let files = log_files(&dir).unwrap();
        assert_eq!(files.len(), 1);
        assert_eq!(files[0].0, 0x1_0000_0001);
        assert_eq!(files[0].1.file_name().unwrap(), "log.100000001");
        let (back, report) = scan_all(&dir, 0);
        assert_eq!(back, txns, "with_digest={with_digest}");
        assert_eq!(report.txn_count, txns.len() as u64);
        assert_eq!(report.last_zxid, Some(0x1_0000_0000 + txns.len() as i64));
        assert_eq!(report.torn_tail, None);
        assert!(report.earlier_torn_tails.is_empty());
    }
}

#[test]
fn record_bytes_are_exactly_zookeepers() {
    let tmp = TempDir::new("txnlog-bytes");
    let dir = tmp.log_dir();
    let txn = Txn {
        hdr: TxnHeader {
            client_id: 0x100_0022_6e7f_0000,
            cxid: 0,
            zxid: 1,
            time: 0x1a2_0092_7657,
            txn_type: OpCode::CreateSession.code(),
        },
        body: TxnBody::CreateSession(CreateSessionTxn { time_out: 30_000 }),
        digest: Some(TxnDigest {
            version: 2,
            tree_digest: 0x51c6_d660,
        }),
    };
    let mut log = TxnLog::open(&dir, opts(0)).unwrap();
    log.append(&txn).unwrap();
    log.close().unwrap();
    let bytes = std::fs::read(dir.join("log.1")).unwrap();
    // The first 77 bytes of Apache ZooKeeper 3.8's own log for the same txn (fixture log.1).
    let apache = std::fs::read(fixture("txnlog").join("log.1")).unwrap();
    assert_eq!(bytes.len(), 16 + 8 + 4 + 48 + 1);
    assert_eq!(bytes[..], apache[..bytes.len()]);
    // And field by field.
    assert_eq!(&bytes[..4], b"ZKLG");
    assert_eq!(bytes[4..8], 2i32.to_be_bytes());
    assert_eq!(bytes[8..16], 0i64.to_be_bytes());
    let mut txn_bytes = Vec::new();
    encode_txn(&txn, &mut txn_bytes);
    assert_eq!(txn_bytes.len(), 48);
    assert_eq!(bytes[16..24], i64::from(adler32(&txn_bytes)).to_be_bytes());
    assert_eq!(bytes[16..24], 0xb4ac_09fbi64.to_be_bytes());
    assert_eq!(bytes[24..28], 48i32.to_be_bytes());
    assert_eq!(bytes[28..76], txn_bytes[..]);
    assert_eq!(bytes[76], 0x42);
    assert_eq!(decode_txn(&txn_bytes).unwrap(), txn);
}

#[test]
fn preallocation_follows_file_padding() {
    const CHUNK: u64 = 64 * 1024;
    let tmp = TempDir::new("txnlog-prealloc");
    let dir = tmp.log_dir();
    let path = dir.join("log.1");
    let mut log = TxnLog::open(&dir, opts(CHUNK)).unwrap();
    log.append(&set_data(1)).unwrap();
    log.commit().unwrap();
    let data_end = |p: &Path| {
        let b = std::fs::read(p).unwrap();
        let end = b.iter().rposition(|&x| x != 0).map_or(0, |i| i + 1);
        (b.len() as u64, end as u64, b)
    };
    let (size, end, _) = data_end(&path);
    // FilePadding pads first at position 16 (after the header): 16 + one chunk.
    assert_eq!(size, 16 + CHUNK);
    let rec = end - 16;
    assert_eq!(end, 16 + rec);
    // Append until the write position comes within 4 KiB of the end: one more chunk.
    let mut zxid = 1;
    loop {
        let (size, end, _) = data_end(&path);
        if end + 4096 >= size {
            break;
        }
        assert_eq!(size, 16 + CHUNK);
        zxid += 1;
        log.append(&set_data(zxid)).unwrap();
        log.commit().unwrap();
    }
    // The pad happens before the next record is written.
    zxid += 1;
    log.append(&set_data(zxid)).unwrap();
    log.commit().unwrap();
    let (size, end, bytes) = data_end(&path);
    assert_eq!(size, 16 + 2 * CHUNK);
    assert!(bytes[end as usize..].iter().all(|&b| b == 0));
    // A record that jumps past the end: the next pad rounds up to a multiple of the chunk.
    let big = Txn {
        hdr: hdr(zxid + 1, OpCode::SetData),
        body: TxnBody::SetData(SetDataTxn {
            path: "/big".into(),
            data: Some(vec![7u8; 3 * CHUNK as usize]),
            version: 0,
        }),
        digest: None,
    };
    log.append(&big).unwrap();
    log.append(&set_data(zxid + 2)).unwrap();
    log.close().unwrap();
    let (size, end, bytes) = data_end(&path);
    assert_eq!(size % CHUNK, 0);
    assert!(size >= end && size - end <= CHUNK, "size {size} end {end}");
    assert!(bytes[end as usize..].iter().all(|&b| b == 0));
    // The zeros end the data cleanly.
    let (txns, report) = scan_all(&dir, 0);
    assert_eq!(zxids(&txns), (1..=zxid + 2).collect::<Vec<_>>());
    assert_eq!(report.torn_tail, None);
}

#[test]
fn default_preallocation_is_64_mib_plus_header() {
    let tmp = TempDir::new("txnlog-prealloc-default");
    let dir = tmp.log_dir();
    let mut log = TxnLog::open(&dir, LogOptions::default()).unwrap();
    assert_eq!(log.options().prealloc_bytes, 64 * 1024 * 1024);
    log.append(&set_data(1)).unwrap();
    log.close().unwrap();
    // As Apache ZooKeeper's files: 67108880 bytes (sparse).
    let size = std::fs::metadata(dir.join("log.1")).unwrap().len();
    assert_eq!(size, 67_108_880);
    let (txns, report) = scan_all(&dir, 0);
    assert_eq!(zxids(&txns), vec![1]);
    assert_eq!(report.torn_tail, None);
}

#[test]
fn no_preallocation_leaves_exact_length() {
    let tmp = TempDir::new("txnlog-noprealloc");
    let dir = tmp.log_dir();
    let mut log = TxnLog::open(&dir, opts(0)).unwrap();
    let mut expect = 16u64;
    for z in 1..=5 {
        let t = set_data(z);
        let mut b = Vec::new();
        encode_txn(&t, &mut b);
        expect += 8 + 4 + b.len() as u64 + 1;
        log.append(&t).unwrap();
    }
    log.close().unwrap();
    assert_eq!(std::fs::metadata(dir.join("log.1")).unwrap().len(), expect);
    assert_eq!(zxids(&scan_all(&dir, 0).0), vec![1, 2, 3, 4, 5]);
}

#[test]
fn older_txn_forms_decode_as_java_does() {
    // closeSession without a body (ZooKeeper before 3.6), with and without a digest.
    let h = hdr(5, OpCode::CloseSession);
    let mut b = h.to_bytes();
    let t = decode_txn(&b).unwrap();
    assert_eq!(t.body, TxnBody::CloseSession(CloseSessionTxn::default()));
    assert_eq!(t.digest, None);
    let d = TxnDigest {
        version: 2,
        tree_digest: 0x1234_5678_9abc,
    };
    d.encode(&mut b);
    let t = decode_txn(&b).unwrap();
    assert_eq!(t.body, TxnBody::CloseSession(CloseSessionTxn::default()));
    assert_eq!(t.digest, Some(d));
    // A pre-3.3 create (CreateTxnV0, no parentCVersion) reads with parentCVersion -1.
    let mut b = hdr(6, OpCode::Create).to_bytes();
    CreateTxnV0 {
        path: "/old".into(),
        data: Some(b"v0".to_vec()),
        acl: Acl::open_unsafe(),
        ephemeral: true,
    }
    .encode(&mut b);
    let t = decode_txn(&b).unwrap();
    assert_eq!(t.body, TxnBody::Create(create("/old", b"v0", true, -1)));
    // Bytes after the digest are rejected.
    let mut b = set_data(7).hdr.to_bytes();
    set_data(7).body.encode(&mut b);
    b.extend_from_slice(&[0; 13]);
    assert!(decode_txn(&b).is_err());
    // An unknown txn type (reconfig is not supported) is rejected.
    let mut b = hdr(8, OpCode::Reconfig).to_bytes();
    set_data(8).body.encode(&mut b);
    assert!(decode_txn(&b).is_err());
}

fn fixture(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/apache-3.8")
        .join(name)
}

fn acl_open() -> Vec<Acl> {
    Acl::open_unsafe()
}

/// `fixtures/apache-3.8/txnlog/log.1`: written by Apache ZooKeeper 3.8.0 (see the README).
#[test]
fn apache_log_fixture_scans_exactly() {
    let (txns, report) = scan_all(&fixture("txnlog"), 0);
    assert_eq!(report.torn_tail, None);
    assert_eq!(report.last_zxid, Some(0x11));
    let s0 = 0x100_0022_6e7f_0000;
    let s1 = 0x100_0022_6e7f_0001;
    let create = |path: &str, data: &[u8], eph: bool, pcv: i32| {
        TxnBody::Create(CreateTxn {
            path: path.into(),
            data: Some(data.to_vec()),
            acl: acl_open(),
            ephemeral: eph,
            parent_cversion: pcv,
        })
    };
    let expected: Vec<(i64, i32, OpCode, TxnBody)> = vec![
        (
            s0,
            0,
            OpCode::CreateSession,
            TxnBody::CreateSession(CreateSessionTxn { time_out: 30_000 }),
        ),
        (
            s0,
            1,
            OpCode::CreateContainer,
            TxnBody::CreateContainer(CreateContainerTxn {
                path: "/c".into(),
                data: Some(b"cont".to_vec()),
                acl: acl_open(),
                parent_cversion: 1,
            }),
        ),
        (
            s0,
            2,
            OpCode::CreateTtl,
            TxnBody::CreateTtl(CreateTtlTxn {
                path: "/t".into(),
                data: Some(b"ttl".to_vec()),
                acl: acl_open(),
                parent_cversion: 2,
                ttl: 60_000,
            }),
        ),
        (
            s0,
            3,
            OpCode::Delete,
            TxnBody::Delete(DeleteTxn { path: "/t".into() }),
        ),
        (
            s0,
            4,
            OpCode::CloseSession,
            TxnBody::CloseSession(CloseSessionTxn {
                paths_to_delete: vec![],
            }),
        ),
        (
            s1,
            0,
            OpCode::CreateSession,
            TxnBody::CreateSession(CreateSessionTxn { time_out: 10_000 }),
        ),
        (s1, 1, OpCode::Create, create("/a", b"hello", false, 3)),
        (s1, 2, OpCode::Create, create("/a/e", b"eph", true, 1)),
        (
            s1,
            3,
            OpCode::Create,
            create("/a/s-0000000001", b"", false, 2),
        ),
        (s1, 4, OpCode::Create2, create("/a/stat", b"s", false, 3)),
        (
            s1,
            5,
            OpCode::SetData,
            TxnBody::SetData(SetDataTxn {
                path: "/a".into(),
                data: Some(b"world".to_vec()),
                version: 1,
            }),
        ),
        (
            s1,
            6,
            OpCode::SetAcl,
            TxnBody::SetAcl(SetAclTxn {
                path: "/a/stat".into(),
                acl: vec![
                    Acl {
                        perms: 31,
                        id: Id {
                            scheme: "digest".into(),
                            id: "u:Jq7wMyA/w2Vd5WIDAKdu4OIIFEQ=".into(),
                        },
                    },
                    acl_open().remove(0),
                ],
                version: 1,
            }),
        ),
        // create /a again: NODEEXISTS (-110) logged as an error txn.
        (s1, 7, OpCode::Error, TxnBody::Error(ErrorTxn { err: -110 })),
        (
            s1,
            8,
            OpCode::Multi,
            TxnBody::Multi(vec![
                (OpCode::Create, create("/m", b"m1", false, 4)),
                // check("/a", 1) is logged with the version incremented (checkAndIncVersion).
                (
                    OpCode::Check,
                    TxnBody::Check(CheckVersionTxn {
                        path: "/a".into(),
                        version: 2,
                    }),
                ),
                (
                    OpCode::SetData,
                    TxnBody::SetData(SetDataTxn {
                        path: "/m".into(),
                        data: Some(b"m2".to_vec()),
                        version: 1,
                    }),
                ),
                (
                    OpCode::Delete,
                    TxnBody::Delete(DeleteTxn {
                        path: "/a/s-0000000001".into(),
                    }),
                ),
            ]),
        ),
        // A multi whose check fails (BADVERSION -103): the create before it stays a create.
        (
            s1,
            9,
            OpCode::Multi,
            TxnBody::Multi(vec![
                (OpCode::Create, create("/m2", b"x", false, 5)),
                (OpCode::Error, TxnBody::Error(ErrorTxn { err: -103 })),
            ]),
        ),
        (
            s1,
            10,
            OpCode::Delete,
            TxnBody::Delete(DeleteTxn { path: "/m".into() }),
        ),
        (
            s1,
            11,
            OpCode::CloseSession,
            TxnBody::CloseSession(CloseSessionTxn {
                paths_to_delete: vec!["/a/e".into()],
            }),
        ),
    ];
    assert_eq!(txns.len(), expected.len());
    for (i, (t, (session, cxid, op, body))) in txns.iter().zip(expected).enumerate() {
        let zxid = i as i64 + 1;
        assert_eq!(t.hdr.zxid, zxid);
        assert_eq!(t.hdr.client_id, session, "zxid {zxid}");
        assert_eq!(t.hdr.cxid, cxid, "zxid {zxid}");
        assert_eq!(t.hdr.txn_type, op.code(), "zxid {zxid}");
        assert!(t.hdr.time > 1_600_000_000_000, "zxid {zxid}");
        assert_eq!(t.body, body, "zxid {zxid}");
        // 3.8 logs a digest with every txn except error txns.
        if op == OpCode::Error {
            assert_eq!(t.digest, None, "zxid {zxid}");
        } else {
            assert_eq!(t.digest.as_ref().map(|d| d.version), Some(2), "zxid {zxid}");
        }
    }
    assert_eq!(txns[0].digest.as_ref().unwrap().tree_digest, 0x51c6_d660);
    // Re-encoding gives Apache's bytes back, record by record.
    let raw = std::fs::read(fixture("txnlog").join("log.1")).unwrap();
    let mut pos = 16;
    for t in &txns {
        let mut b = Vec::new();
        encode_txn(t, &mut b);
        assert_eq!(raw[pos + 8..pos + 12], (b.len() as i32).to_be_bytes());
        assert_eq!(
            raw[pos + 12..pos + 12 + b.len()],
            b[..],
            "zxid {}",
            t.hdr.zxid
        );
        pos += 12 + b.len() + 1;
    }
    assert!(raw[pos..].iter().all(|&b| b == 0));
}

/// `fixtures/apache-3.8/txnlog-rolls`: six files from Apache ZooKeeper 3.8.0 with snapCount=4
/// and a restart between zxid 0xd and 0xe.
#[test]
fn apache_rolled_logs_scan_across_files() {
    let dir = fixture("txnlog-rolls");
    let starts: Vec<i64> = log_files(&dir).unwrap().iter().map(|f| f.0).collect();
    assert_eq!(starts, vec![0x1, 0x4, 0x8, 0xb, 0xe, 0x11]);
    let (txns, report) = scan_all(&dir, 0);
    assert_eq!(zxids(&txns), (1..=0x12).collect::<Vec<_>>());
    assert_eq!(report.torn_tail, None);
    let types: Vec<i32> = txns.iter().map(|t| t.hdr.txn_type).collect();
    let mut want = vec![OpCode::CreateSession.code(), OpCode::Create.code()];
    want.extend(std::iter::repeat_n(OpCode::Create.code(), 10));
    want.push(OpCode::CloseSession.code());
    want.push(OpCode::CreateSession.code());
    want.extend(std::iter::repeat_n(OpCode::Create.code(), 3));
    want.push(OpCode::CloseSession.code());
    assert_eq!(types, want);
    let paths: Vec<String> = txns
        .iter()
        .filter_map(|t| match &t.body {
            TxnBody::Create(c) => Some(c.path.clone()),
            _ => None,
        })
        .collect();
    let mut want: Vec<String> = vec!["/r".into()];
    want.extend((0..10).map(|i| format!("/r/a{i}")));
    want.extend((0..3).map(|i| format!("/r/b{i}")));
    assert_eq!(paths, want);
    // From Apache's snapshots' zxids (snapshot.2, .6, .9, .d, .f): exactly the suffix.
    for after in [0x2, 0x6, 0x9, 0xd, 0xf, 0x12] {
        let (txns, report) = scan_all(&dir, after);
        assert_eq!(
            zxids(&txns),
            (after + 1..=0x12).collect::<Vec<_>>(),
            "after {after:#x}"
        );
        assert_eq!(report.last_zxid, Some(0x12));
    }
}

/// Where the interop tests write: `$ZKRS_TXNLOG_INTEROP_DIR/<sub>/version-2` when that variable
/// is set (for Apache ZooKeeper to read afterwards; see the README in
/// tests/fixtures/apache-3.8/txnlog), else a temp dir that only our own reader checks.
fn interop_dir(tmp: &TempDir, sub: &str) -> std::path::PathBuf {
    let dir = match std::env::var_os("ZKRS_TXNLOG_INTEROP_DIR") {
        Some(d) => std::path::PathBuf::from(d).join(sub).join("version-2"),
        None => tmp.path().join(sub).join("version-2"),
    };
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// A log of every kind for Apache's `TxnLogToolkit -d` to dump.
#[test]
fn write_log_for_apache_toolkit() {
    let tmp = TempDir::new("txnlog-interop");
    let dir = interop_dir(&tmp, "toolkit");
    let mut all = Vec::new();
    let mut log = TxnLog::open(&dir, LogOptions::default()).unwrap();
    // log.100000001: every kind with digests; log.10000000f: every kind without.
    for (first, with_digest) in [(0x1_0000_0001, true), (0x1_0000_000f, false)] {
        for t in apache_readable_txns(first, with_digest) {
            log.append(&t).unwrap();
            all.push(t);
        }
        log.roll().unwrap();
    }
    // An epoch change: log.200000001.
    for z in 0x2_0000_0001..=0x2_0000_0003 {
        let t = set_data(z);
        log.append(&t).unwrap();
        all.push(t);
    }
    log.close().unwrap();
    let (back, report) = scan_all(&dir, 0);
    assert_eq!(back, all);
    assert_eq!(report.torn_tail, None);
    let names: Vec<String> = log_files(&dir)
        .unwrap()
        .iter()
        .map(|f| f.1.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        vec!["log.100000001", "log.10000000f", "log.200000001"]
    );
}

/// A consistent history for Apache ZooKeeper to replay at startup (a dataDir with only this
/// log, started with `-Dzookeeper.snapshot.trust.empty=true`); afterwards `/zkrs` holds
/// "updated" with children `child` ("v2", mzxid 0x4) and `m`.
#[test]
fn write_log_for_apache_replay() {
    let tmp = TempDir::new("txnlog-replay");
    let dir = interop_dir(&tmp, "replay");
    let session = 0x100_0000_aa00_0000;
    let at = |zxid: i64, op: OpCode, body: TxnBody| Txn {
        hdr: TxnHeader {
            client_id: session,
            cxid: zxid as i32,
            zxid,
            time: 1_700_000_000_000 + zxid * 1000,
            txn_type: op.code(),
        },
        body,
        digest: None,
    };
    let set = |path: &str, data: &[u8], version: i32| {
        TxnBody::SetData(SetDataTxn {
            path: path.into(),
            data: Some(data.to_vec()),
            version,
        })
    };
    let txns = vec![
        at(
            1,
            OpCode::CreateSession,
            TxnBody::CreateSession(CreateSessionTxn { time_out: 30_000 }),
        ),
        at(
            2,
            OpCode::Create,
            TxnBody::Create(create("/zkrs", b"from zkrs", false, 1)),
        ),
        at(
            3,
            OpCode::Create2,
            TxnBody::Create(create("/zkrs/child", b"v1", false, 1)),
        ),
        at(4, OpCode::SetData, set("/zkrs/child", b"v2", 1)),
        at(
            5,
            OpCode::Multi,
            TxnBody::Multi(vec![
                (
                    OpCode::Create,
                    TxnBody::Create(create("/zkrs/m", b"m", false, 2)),
                ),
                (OpCode::SetData, set("/zkrs", b"updated", 1)),
            ]),
        ),
        at(
            6,
            OpCode::Create,
            TxnBody::Create(create("/zkrs/gone", b"", false, 3)),
        ),
        at(
            7,
            OpCode::Delete,
            TxnBody::Delete(DeleteTxn {
                path: "/zkrs/gone".into(),
            }),
        ),
        at(
            8,
            OpCode::Create,
            TxnBody::Create(create("/zkrs/eph", b"e", true, 5)),
        ),
        at(
            9,
            OpCode::CloseSession,
            TxnBody::CloseSession(CloseSessionTxn {
                paths_to_delete: vec!["/zkrs/eph".into()],
            }),
        ),
    ];
    let mut log = TxnLog::open(&dir, LogOptions::default()).unwrap();
    for t in &txns {
        log.append(t).unwrap();
    }
    log.close().unwrap();
    assert_eq!(scan_all(&dir, 0).0, txns);
}

/// Interop helper: with `ZKRS_TXNLOG_SCAN_DIR=<dataDir>/version-2` (e.g. a directory Apache
/// ZooKeeper wrote, or one mixing its files and ours), scans it from `ZKRS_TXNLOG_SCAN_AFTER`
/// (hex, default 0), prints one line per txn and requires a clean, unbroken log. A no-op when
/// the variable is unset.
#[test]
fn scan_dir_from_env() {
    let Some(dir) = std::env::var_os("ZKRS_TXNLOG_SCAN_DIR") else {
        return;
    };
    let after = std::env::var("ZKRS_TXNLOG_SCAN_AFTER")
        .ok()
        .map(|s| i64::from_str_radix(s.trim_start_matches("0x"), 16).unwrap())
        .unwrap_or(0);
    let dir = std::path::PathBuf::from(dir);
    for (start, path) in log_files(&dir).unwrap() {
        println!("file {} starts at {start:#x}", path.display());
    }
    let (txns, report) = scan_all(&dir, after);
    for t in &txns {
        let op = OpCode::from_i32(t.hdr.txn_type).map_or("?", |o| o.name());
        println!(
            "zxid {:#x} session {:#x} cxid {:#x} {op} digest={}",
            t.hdr.zxid,
            t.hdr.client_id,
            t.hdr.cxid,
            t.digest.is_some()
        );
    }
    println!(
        "{} txns, last zxid {:?}",
        report.txn_count,
        report.last_zxid.map(|z| format!("{z:#x}"))
    );
    assert_eq!(report.torn_tail, None);
    assert!(report.earlier_torn_tails.is_empty());
}
