//! Helpers shared by the `txnlog_*` tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use zk_proto::data::{Acl, Id};
use zk_proto::txn::*;
use zk_proto::OpCode;
use zk_server::core::txn::{Txn, TxnBody};
use zk_server::storage::txnlog::{scan, LogOptions, ScanReport};

/// A directory under the system temp dir, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: AtomicU64 = AtomicU64::new(0);
        let p = std::env::temp_dir().join(format!(
            "zkrs-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    /// `<tmp>/version-2`, not created.
    pub fn log_dir(&self) -> PathBuf {
        self.0.join("version-2")
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Small preallocation so files stay small in tests.
pub fn opts(prealloc: u64) -> LogOptions {
    LogOptions {
        prealloc_bytes: prealloc,
        force_sync: true,
        dbid: 0,
    }
}

pub fn hdr(zxid: i64, txn_type: OpCode) -> TxnHeader {
    TxnHeader {
        client_id: 0x1000_0226_e7f0_0001,
        cxid: (zxid & 0xffff) as i32,
        zxid,
        time: 1_700_000_000_000 + zxid,
        txn_type: txn_type.code(),
    }
}

pub fn digest(zxid: i64) -> Option<TxnDigest> {
    Some(TxnDigest {
        version: 2,
        tree_digest: 0x51c6_d660 ^ zxid,
    })
}

/// A setData txn whose payload depends on the zxid, with a digest.
pub fn set_data(zxid: i64) -> Txn {
    Txn {
        hdr: hdr(zxid, OpCode::SetData),
        body: TxnBody::SetData(SetDataTxn {
            path: format!("/n{}", zxid % 7),
            data: Some(format!("value-{zxid}").into_bytes()),
            version: (zxid % 100) as i32,
        }),
        digest: digest(zxid),
    }
}

pub fn create(path: &str, data: &[u8], ephemeral: bool, parent_cversion: i32) -> CreateTxn {
    CreateTxn {
        path: path.into(),
        data: Some(data.to_vec()),
        acl: Acl::open_unsafe(),
        ephemeral,
        parent_cversion,
    }
}

/// One txn of every kind the log stores, as (header type, body).
pub fn every_kind() -> Vec<(OpCode, TxnBody)> {
    let digest_acl = Acl {
        perms: 31,
        id: Id {
            scheme: "digest".into(),
            id: "u:Jq7wMyA/w2Vd5WIDAKdu4OIIFEQ=".into(),
        },
    };
    vec![
        (
            OpCode::CreateSession,
            TxnBody::CreateSession(CreateSessionTxn { time_out: 30_000 }),
        ),
        (
            OpCode::Create,
            TxnBody::Create(create("/a", b"hello", false, 3)),
        ),
        (
            OpCode::Create2,
            TxnBody::Create(create("/a/e", b"", true, 1)),
        ),
        (
            OpCode::Create,
            TxnBody::Create(CreateTxn {
                path: "/nulldata".into(),
                data: None,
                acl: vec![digest_acl.clone()],
                ephemeral: false,
                parent_cversion: 0,
            }),
        ),
        (
            OpCode::CreateContainer,
            TxnBody::CreateContainer(CreateContainerTxn {
                path: "/c".into(),
                data: Some(b"cont".to_vec()),
                acl: Acl::open_unsafe(),
                parent_cversion: 1,
            }),
        ),
        (
            OpCode::CreateTtl,
            TxnBody::CreateTtl(CreateTtlTxn {
                path: "/t".into(),
                data: Some(b"ttl".to_vec()),
                acl: Acl::open_unsafe(),
                parent_cversion: 2,
                ttl: 60_000,
            }),
        ),
        (
            OpCode::Delete,
            TxnBody::Delete(DeleteTxn { path: "/t".into() }),
        ),
        (
            OpCode::SetData,
            TxnBody::SetData(SetDataTxn {
                path: "/a".into(),
                data: Some(vec![0, 1, 2, 0x42, 0xff]),
                version: 1,
            }),
        ),
        (
            OpCode::SetAcl,
            TxnBody::SetAcl(SetAclTxn {
                path: "/a".into(),
                acl: vec![digest_acl, Acl::open_unsafe().remove(0)],
                version: 1,
            }),
        ),
        (
            OpCode::Multi,
            TxnBody::Multi(vec![
                (
                    OpCode::Create,
                    TxnBody::Create(create("/m", b"m1", false, 4)),
                ),
                (
                    OpCode::Check,
                    TxnBody::Check(CheckVersionTxn {
                        path: "/a".into(),
                        version: 1,
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
        (
            // A failed multi: the ops before the failing one keep their txn, then error txns.
            OpCode::Multi,
            TxnBody::Multi(vec![
                (
                    OpCode::Create,
                    TxnBody::Create(create("/m2", b"x", false, 5)),
                ),
                (OpCode::Error, TxnBody::Error(ErrorTxn { err: -103 })),
                (OpCode::Error, TxnBody::Error(ErrorTxn { err: -2 })),
            ]),
        ),
        (
            OpCode::Check,
            TxnBody::Check(CheckVersionTxn {
                path: "/a".into(),
                version: 7,
            }),
        ),
        (OpCode::Error, TxnBody::Error(ErrorTxn { err: -110 })),
        (
            OpCode::CloseSession,
            TxnBody::CloseSession(CloseSessionTxn {
                paths_to_delete: vec!["/a/e".into()],
            }),
        ),
        (
            OpCode::CloseSession,
            TxnBody::CloseSession(CloseSessionTxn {
                paths_to_delete: vec![],
            }),
        ),
    ]
}

/// Every kind as txns with consecutive zxids from `first`.
pub fn every_kind_txns(first: i64, with_digest: bool) -> Vec<Txn> {
    numbered(every_kind(), first, with_digest)
}

/// [`every_kind_txns`] without the top-level check: Apache ZooKeeper 3.8 logs a top-level
/// `check` request as a txn of type 13, but its reader (`SerializeUtils.deserializeTxn`,
/// hence `TxnLogToolkit` and its own startup) rejects that type.
pub fn apache_readable_txns(first: i64, with_digest: bool) -> Vec<Txn> {
    let kinds = every_kind()
        .into_iter()
        .filter(|(op, _)| *op != OpCode::Check)
        .collect();
    numbered(kinds, first, with_digest)
}

fn numbered(kinds: Vec<(OpCode, TxnBody)>, first: i64, with_digest: bool) -> Vec<Txn> {
    kinds
        .into_iter()
        .enumerate()
        .map(|(i, (op, body))| {
            let zxid = first + i as i64;
            Txn {
                hdr: hdr(zxid, op),
                body,
                digest: if with_digest { digest(zxid) } else { None },
            }
        })
        .collect()
}

/// Scans `dir` from `after`, collecting the txns.
pub fn scan_all(dir: &Path, after: i64) -> (Vec<Txn>, ScanReport) {
    let mut txns = Vec::new();
    let report = scan(dir, after, |t| {
        txns.push(t);
        Ok(())
    })
    .unwrap_or_else(|e| panic!("scan of {} failed: {e}", dir.display()));
    (txns, report)
}

pub fn zxids(txns: &[Txn]) -> Vec<i64> {
    txns.iter().map(|t| t.hdr.zxid).collect()
}

/// One record's bytes, as the writer lays them out.
pub fn record_bytes(t: &Txn) -> Vec<u8> {
    let mut b = Vec::new();
    zk_server::storage::txnlog::encode_txn(t, &mut b);
    let mut r = Vec::new();
    r.extend_from_slice(&i64::from(zk_server::storage::txnlog::adler32(&b)).to_be_bytes());
    r.extend_from_slice(&(b.len() as i32).to_be_bytes());
    r.extend_from_slice(&b);
    r.push(0x42);
    r
}

pub fn header_bytes() -> Vec<u8> {
    let mut h = b"ZKLG".to_vec();
    h.extend_from_slice(&2i32.to_be_bytes());
    h.extend_from_slice(&0i64.to_be_bytes());
    h
}

/// Writes `log.<start>` by hand (so tests can build logs the writer refuses to write), with
/// `zeros` bytes of padding. Returns the path and each record's start offset.
pub fn write_raw_log(dir: &Path, start: i64, txns: &[Txn], zeros: usize) -> (PathBuf, Vec<u64>) {
    std::fs::create_dir_all(dir).unwrap();
    let mut bytes = header_bytes();
    let mut offsets = Vec::new();
    for t in txns {
        offsets.push(bytes.len() as u64);
        bytes.extend_from_slice(&record_bytes(t));
    }
    bytes.resize(bytes.len() + zeros, 0);
    let path = dir.join(format!("log.{start:x}"));
    std::fs::write(&path, bytes).unwrap();
    (path, offsets)
}

/// Copies every file of `from` into `to` (created).
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}
