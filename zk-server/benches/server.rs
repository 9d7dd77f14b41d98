//! The server's hot paths, without sockets:
//! - `core/*`: requests through `Core::handle_frame` (decode, checks, apply, reply encoding)
//!   on a tree of 1,000,000 znodes of 100 bytes (1000 parents of 1000 children): getData,
//!   getChildren of a 1000-child parent, setData and create + delete (each write also runs
//!   `Core::commit`, as the runtime does once the txn is durable);
//! - `tree/*`: the data tree alone at the same size;
//! - `txnlog/*`: txn log append with group commit (one fdatasync per 1 or 64 txns) in a temp
//!   directory on this machine's disk;
//! - `snapshot/*`: writing and loading a snapshot of 100,000 znodes (from memory and from its
//!   file).
//!
//! `cargo bench -p zk-server --bench server` (building the 1M-znode tree takes a few seconds).

use std::hint::black_box;
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use zk_proto::codec::{Decode, Encode, Reader};
use zk_proto::data::Acl;
use zk_proto::proto::{
    ConnectRequest, CreateRequest, DeleteRequest, GetChildrenRequest, GetDataRequest, ReplyHeader,
    SetDataRequest,
};
use zk_proto::request::{encode_request, Request};
use zk_proto::{CreateMode, OpCode};
use zk_server::core::tree::DataTree;
use zk_server::core::txn::Txn;
use zk_server::core::{Core, CoreConfig, Effect, Now};
use zk_server::storage::snapshot;
use zk_server::storage::txnlog::{LogOptions, TxnLog};

const PARENTS: usize = 1000;
const CHILDREN: usize = 1000;
const VALUE: usize = 100;

fn now() -> Now {
    Now {
        wall_ms: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64),
        mono_ms: 0,
    }
}

/// A core with one session, driven the way the runtime drives it (durability immediate).
struct Driver {
    core: Core,
    now: Now,
    xid: i32,
    buf: Vec<u8>,
    /// Txns made durable so far (kept when `keep_txns`).
    txns: Vec<Txn>,
    keep_txns: bool,
}

impl Driver {
    fn new() -> Driver {
        let now = now();
        let mut d = Driver {
            core: Core::new(CoreConfig::default(), now),
            now,
            xid: 0,
            buf: Vec::with_capacity(512),
            txns: Vec::new(),
            keep_txns: false,
        };
        d.core
            .connection_opened(1, "127.0.0.1:1".parse().unwrap(), now);
        let connect = ConnectRequest {
            time_out: 30_000,
            passwd: vec![0; 16],
            ..Default::default()
        };
        let fx = d.core.handle_frame(1, &connect.to_bytes(), now);
        d.run(fx);
        assert!(d.core.session_of(1).is_some(), "session established");
        d
    }

    /// Sends one request; returns the reply's error code (0: ok).
    fn request(&mut self, req: &Request) -> i32 {
        self.xid += 1;
        self.buf.clear();
        encode_request(self.xid, req, &mut self.buf);
        let payload = std::mem::take(&mut self.buf);
        let fx = self.core.handle_frame(1, &payload, self.now);
        self.buf = payload;
        self.run(fx)
    }

    fn run(&mut self, fx: Vec<Effect>) -> i32 {
        let mut err = 0;
        let mut queue: std::collections::VecDeque<Effect> = fx.into();
        while let Some(e) = queue.pop_front() {
            match e {
                Effect::Persist(txn) => {
                    for m in self.core.commit(&txn, self.now).into_iter().rev() {
                        queue.push_front(m);
                    }
                    if self.keep_txns {
                        self.txns.push(*txn);
                    }
                }
                Effect::Send { frame, .. } => {
                    if let Ok(h) = ReplyHeader::decode(&mut Reader::new(&frame[4..])) {
                        if h.xid > 0 && h.err != 0 {
                            err = h.err;
                        }
                    }
                    black_box(frame);
                }
                other => panic!("unexpected effect {other:?}"),
            }
        }
        err
    }
}

fn create(path: String, data: Vec<u8>) -> Request {
    Request::Create {
        op: OpCode::Create,
        req: CreateRequest {
            path,
            data: Some(data),
            acl: Acl::open_unsafe(),
            flags: CreateMode::Persistent.code(),
        },
    }
}

fn parent(p: usize) -> String {
    format!("/p{p:04}")
}

fn child(p: usize, c: usize) -> String {
    format!("/p{p:04}/c{c:04}")
}

/// A core holding `parents × children` znodes of [`VALUE`] bytes.
fn populated(parents: usize, children: usize) -> Driver {
    let mut d = Driver::new();
    let value = vec![b'v'; VALUE];
    for p in 0..parents {
        assert_eq!(d.request(&create(parent(p), Vec::new())), 0);
        for c in 0..children {
            assert_eq!(d.request(&create(child(p, c), value.clone())), 0);
        }
    }
    d
}

/// A cheap deterministic sequence of znode coordinates spread over the tree.
struct Spread(u64);

impl Spread {
    fn next(&mut self) -> (usize, usize) {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let x = (self.0 >> 33) as usize;
        (x % PARENTS, (x / PARENTS) % CHILDREN)
    }
}

fn core_and_tree(c: &mut Criterion) {
    eprintln!("building a tree of {} znodes ...", PARENTS * CHILDREN);
    let mut d = populated(PARENTS, CHILDREN);
    let mut g = c.benchmark_group("core");
    g.throughput(Throughput::Elements(1));
    let mut s = Spread(1);
    g.bench_function("get_data_1m", |b| {
        b.iter(|| {
            let (p, c) = s.next();
            let req = Request::GetData(GetDataRequest {
                path: child(p, c),
                watch: false,
            });
            assert_eq!(d.request(&req), 0);
        });
    });
    g.bench_function("get_children_1000_of_1m", |b| {
        b.iter(|| {
            let (p, _) = s.next();
            let req = Request::GetChildren(GetChildrenRequest {
                path: parent(p),
                watch: false,
            });
            assert_eq!(d.request(&req), 0);
        });
    });
    let value = vec![b'w'; VALUE];
    g.bench_function("set_data_1m", |b| {
        b.iter(|| {
            let (p, c) = s.next();
            let req = Request::SetData(SetDataRequest {
                path: child(p, c),
                data: Some(value.clone()),
                version: -1,
            });
            assert_eq!(d.request(&req), 0);
        });
    });
    g.throughput(Throughput::Elements(2));
    g.bench_function("create_and_delete_1m", |b| {
        b.iter(|| {
            let (p, _) = s.next();
            let path = format!("{}/extra", parent(p));
            assert_eq!(d.request(&create(path.clone(), value.clone())), 0);
            let del = Request::Delete(DeleteRequest { path, version: -1 });
            assert_eq!(d.request(&del), 0);
        });
    });
    g.finish();

    // The tree alone: what the core's apply step costs at 1M znodes.
    let mut tree: DataTree = d.core.tree.clone();
    drop(d);
    let mut g = c.benchmark_group("tree");
    g.throughput(Throughput::Elements(1));
    g.bench_function("get_1m", |b| {
        b.iter(|| {
            let (p, c) = s.next();
            black_box(tree.get(&child(p, c)).expect("exists"));
        });
    });
    let mut zxid = 1i64 << 40;
    let mut triggers = Vec::new();
    g.bench_function("set_data_1m", |b| {
        b.iter(|| {
            let (p, c) = s.next();
            zxid += 1;
            triggers.clear();
            tree.set_data(
                &child(p, c),
                Some(value.clone()),
                -1,
                zxid,
                0,
                &mut triggers,
            )
            .expect("set");
        });
    });
    g.throughput(Throughput::Elements(2));
    let acl = Acl::open_unsafe();
    g.bench_function("create_and_delete_1m", |b| {
        b.iter(|| {
            let (p, _) = s.next();
            let path = format!("{}/extra", parent(p));
            zxid += 1;
            triggers.clear();
            tree.create_node(
                &path,
                Some(value.clone()),
                &acl,
                0,
                -1,
                zxid,
                0,
                &mut triggers,
            )
            .expect("create");
            zxid += 1;
            tree.delete_node(&path, zxid, &mut triggers)
                .expect("delete");
        });
    });
    g.finish();
}

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("zk-bench-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn storage(c: &mut Criterion) {
    // Real setData txns, as the core makes them.
    let mut d = populated(1, 100);
    d.keep_txns = true;
    let value = vec![b'w'; VALUE];
    for i in 0..4096 {
        let req = Request::SetData(SetDataRequest {
            path: child(0, i % 100),
            data: Some(value.clone()),
            version: -1,
        });
        assert_eq!(d.request(&req), 0);
    }
    let txns = std::mem::take(&mut d.txns);

    let mut g = c.benchmark_group("txnlog");
    for batch in [1usize, 64] {
        let dir = temp_dir("txnlog");
        let mut log = TxnLog::open(&dir, LogOptions::default()).unwrap();
        let mut next = 0usize;
        g.throughput(Throughput::Elements(batch as u64));
        g.bench_function(format!("append_fdatasync_batch_{batch}"), |b| {
            b.iter(|| {
                for _ in 0..batch {
                    // Zxids must grow: re-stamp a template txn.
                    let mut t = txns[next % txns.len()].clone();
                    t.hdr.zxid = next as i64 + 1;
                    next += 1;
                    log.append(&t).unwrap();
                }
                log.commit().unwrap();
            });
        });
        log.close().unwrap();
        let _ = std::fs::remove_dir_all(&dir);
    }
    g.finish();

    let snap = populated(100, 1000);
    let dir = temp_dir("snapshot");
    let opts = snapshot::SnapshotWriteOptions {
        digest_enabled: true,
    };
    let mut g = c.benchmark_group("snapshot");
    g.sample_size(10);
    g.throughput(Throughput::Elements(snap.core.tree.node_count() as u64));
    g.bench_function("save_100k", |b| {
        b.iter_batched(
            || {
                for f in std::fs::read_dir(&dir).unwrap() {
                    let _ = std::fs::remove_file(f.unwrap().path());
                }
            },
            |()| {
                snapshot::save(
                    &dir,
                    &snap.core.tree.view(),
                    &snap.core.sessions_for_snapshot(),
                    snap.core.last_zxid(),
                    &opts,
                )
                .unwrap()
            },
            BatchSize::PerIteration,
        );
    });
    let path = snapshot::save(
        &dir,
        &snap.core.tree.view(),
        &snap.core.sessions_for_snapshot(),
        snap.core.last_zxid(),
        &opts,
    )
    .unwrap();
    let bytes = std::fs::read(&path).unwrap();
    g.bench_function("load_100k", |b| {
        b.iter(|| {
            let s = snapshot::read_snapshot(black_box(&bytes)).unwrap();
            assert_eq!(s.tree.node_count(), snap.core.tree.node_count());
        });
    });
    // What a restart does: the file read piece by piece as it is parsed.
    g.bench_function("load_file_100k", |b| {
        b.iter(|| {
            let s = snapshot::read_snapshot_file(black_box(&path)).unwrap();
            assert_eq!(s.tree.node_count(), snap.core.tree.node_count());
        });
    });
    g.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, core_and_tree, storage);
criterion_main!(benches);
