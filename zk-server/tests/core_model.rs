//! Differential property test of the pure core against a deliberately simple model: random
//! sequences of creates, deletes, setData, reads, multis and session closes over a small path
//! space, sent as real jute frames; every reply's error code, data, version, cversion and
//! children must be what the model predicts.

use std::collections::BTreeMap;

use proptest::prelude::*;
use zk_proto::codec::{Decode, Reader};
use zk_proto::data::{Acl, Stat};
use zk_proto::proto::*;
use zk_proto::request::{decode_multi_results, MultiOp, MultiResult, Request};
use zk_proto::{ErrorCode, OpCode};

mod harness;
use harness::Harness;

const PATHS: &[&str] = &["/a", "/b", "/a/x", "/a/y", "/b/x", "/a/x/q"];

#[derive(Debug, Clone)]
enum Op {
    Create {
        path: usize,
        data: u8,
        ephemeral: bool,
        session: usize,
    },
    Delete {
        path: usize,
        version: i32,
    },
    Set {
        path: usize,
        data: u8,
        version: i32,
    },
    Get {
        path: usize,
    },
    Children {
        path: usize,
    },
    Multi(Vec<(u8, usize, i32)>),
    CloseSession {
        session: usize,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let p = 0..PATHS.len();
    prop_oneof![
        4 => (p.clone(), any::<u8>(), any::<bool>(), 0..2usize)
            .prop_map(|(path, data, ephemeral, session)| Op::Create { path, data, ephemeral, session }),
        2 => (p.clone(), -1..3i32).prop_map(|(path, version)| Op::Delete { path, version }),
        2 => (p.clone(), any::<u8>(), -1..3i32).prop_map(|(path, data, version)| Op::Set { path, data, version }),
        2 => p.clone().prop_map(|path| Op::Get { path }),
        1 => p.clone().prop_map(|path| Op::Children { path }),
        1 => prop::collection::vec((0..3u8, p, -1..2i32), 1..4).prop_map(Op::Multi),
        1 => (0..2usize).prop_map(|session| Op::CloseSession { session }),
    ]
}

#[derive(Debug, Clone)]
struct MNode {
    data: Vec<u8>,
    version: i32,
    creates: i32,
    deletes: i32,
    owner: Option<usize>,
}

#[derive(Debug, Clone, Default)]
struct Model {
    nodes: BTreeMap<String, MNode>,
}

fn parent(p: &str) -> &str {
    zk_proto::path::parent(p)
}

impl Model {
    fn children(&self, p: &str) -> Vec<String> {
        self.nodes
            .keys()
            .filter(|k| parent(k) == p && *k != p)
            .map(|k| zk_proto::path::name(k).to_owned())
            .collect()
    }
    fn exists(&self, p: &str) -> bool {
        p == "/" || self.nodes.contains_key(p)
    }
    fn create(&mut self, p: &str, data: u8, owner: Option<usize>) -> Result<(), ErrorCode> {
        let par = parent(p);
        if !self.exists(par) {
            return Err(ErrorCode::NoNode);
        }
        if self.nodes.contains_key(p) {
            return Err(ErrorCode::NodeExists);
        }
        if self.nodes.get(par).is_some_and(|n| n.owner.is_some()) {
            return Err(ErrorCode::NoChildrenForEphemerals);
        }
        if let Some(n) = self.nodes.get_mut(par) {
            n.creates += 1;
        }
        self.nodes.insert(
            p.to_owned(),
            MNode {
                data: vec![data],
                version: 0,
                creates: 0,
                deletes: 0,
                owner,
            },
        );
        Ok(())
    }
    fn delete(&mut self, p: &str, version: i32) -> Result<(), ErrorCode> {
        let n = self.nodes.get(p).ok_or(ErrorCode::NoNode)?;
        if version != -1 && version != n.version {
            return Err(ErrorCode::BadVersion);
        }
        if !self.children(p).is_empty() {
            return Err(ErrorCode::NotEmpty);
        }
        self.nodes.remove(p);
        if let Some(n) = self.nodes.get_mut(parent(p)) {
            n.deletes += 1;
        }
        Ok(())
    }
    fn set(&mut self, p: &str, data: u8, version: i32) -> Result<i32, ErrorCode> {
        let n = self.nodes.get_mut(p).ok_or(ErrorCode::NoNode)?;
        if version != -1 && version != n.version {
            return Err(ErrorCode::BadVersion);
        }
        n.version += 1;
        n.data = vec![data];
        Ok(n.version)
    }
    fn check(&self, p: &str, version: i32) -> Result<(), ErrorCode> {
        let n = self.nodes.get(p).ok_or(ErrorCode::NoNode)?;
        if version != -1 && version != n.version {
            return Err(ErrorCode::BadVersion);
        }
        Ok(())
    }
}

fn open_acl() -> Vec<Acl> {
    Acl::open_unsafe()
}

fn create_req(p: &str, data: u8, ephemeral: bool) -> Request {
    Request::Create {
        op: OpCode::Create2,
        req: CreateRequest {
            path: p.into(),
            data: Some(vec![data]),
            acl: open_acl(),
            flags: ephemeral as i32,
        },
    }
}

fn code(r: Result<(), ErrorCode>) -> i32 {
    r.err().map_or(0, ErrorCode::code)
}

fn check_stat(model: &Model, p: &str, stat: &Stat) {
    let n = &model.nodes[p];
    assert_eq!(stat.version, n.version, "version of {p}");
    assert_eq!(
        stat.num_children as usize,
        model.children(p).len(),
        "numChildren of {p}"
    );
    assert_eq!(stat.cversion, n.creates + n.deletes, "cversion of {p}");
    assert_eq!(stat.data_length as usize, n.data.len());
    assert!(stat.czxid <= stat.mzxid && stat.czxid <= stat.pzxid);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn core_matches_model(ops in prop::collection::vec(op(), 1..60)) {
        let mut h = Harness::new();
        let mut model = Model::default();
        let mut last_zxid = 0i64;
        for op in ops {
            match op {
                Op::Create { path, data, ephemeral, session } => {
                    let p = PATHS[path];
                    let conn = h.sessions[session];
                    let (err, body) = h.call(conn, &create_req(p, data, ephemeral));
                    let expect = model.create(p, data, ephemeral.then_some(session));
                    prop_assert_eq!(err, code(expect), "create {}", p);
                    if err == 0 {
                        let r = Create2Response::from_bytes(&body).unwrap();
                        prop_assert_eq!(&r.path, p);
                        prop_assert!(r.stat.czxid > last_zxid);
                        last_zxid = r.stat.czxid;
                        prop_assert_eq!(r.stat.ephemeral_owner != 0, ephemeral);
                    }
                }
                Op::Delete { path, version } => {
                    let p = PATHS[path];
                    let (err, _) = h.call(h.sessions[0], &Request::Delete(DeleteRequest { path: p.into(), version }));
                    prop_assert_eq!(err, code(model.delete(p, version)), "delete {} v{}", p, version);
                }
                Op::Set { path, data, version } => {
                    let p = PATHS[path];
                    let req = Request::SetData(SetDataRequest { path: p.into(), data: Some(vec![data]), version });
                    let (err, body) = h.call(h.sessions[1], &req);
                    let expect = model.set(p, data, version);
                    prop_assert_eq!(err, code(expect.map(|_| ())), "set {} v{}", p, version);
                    if err == 0 {
                        check_stat(&model, p, &SetDataResponse::from_bytes(&body).unwrap().stat);
                    }
                }
                Op::Get { path } => {
                    let p = PATHS[path];
                    let (err, body) = h.call(h.sessions[0], &Request::GetData(GetDataRequest { path: p.into(), watch: false }));
                    match model.nodes.get(p) {
                        None => prop_assert_eq!(err, ErrorCode::NoNode.code()),
                        Some(n) => {
                            prop_assert_eq!(err, 0);
                            let r = GetDataResponse::from_bytes(&body).unwrap();
                            prop_assert_eq!(r.data.as_deref(), Some(n.data.as_slice()));
                            check_stat(&model, p, &r.stat);
                        }
                    }
                }
                Op::Children { path } => {
                    let p = PATHS[path];
                    let req = Request::GetChildren2(GetChildren2Request { path: p.into(), watch: false });
                    let (err, body) = h.call(h.sessions[1], &req);
                    if model.nodes.contains_key(p) {
                        prop_assert_eq!(err, 0);
                        let r = GetChildren2Response::from_bytes(&body).unwrap();
                        prop_assert_eq!(r.children, model.children(p));
                        check_stat(&model, p, &r.stat);
                    } else {
                        prop_assert_eq!(err, ErrorCode::NoNode.code());
                    }
                }
                Op::Multi(items) => {
                    let mut ops = Vec::new();
                    let mut trial = model.clone();
                    let mut expect: Vec<i32> = Vec::new();
                    let mut failed = false;
                    for (kind, path, version) in items {
                        let p = PATHS[path];
                        let r = match kind {
                            0 => {
                                ops.push(MultiOp::Create {
                                    op: OpCode::Create,
                                    req: CreateRequest { path: p.into(), data: Some(vec![7]), acl: open_acl(), flags: 0 },
                                });
                                trial.create(p, 7, None)
                            }
                            1 => {
                                ops.push(MultiOp::Check(CheckVersionRequest { path: p.into(), version }));
                                trial.check(p, version)
                            }
                            _ => {
                                ops.push(MultiOp::Delete(DeleteRequest { path: p.into(), version }));
                                trial.delete(p, version)
                            }
                        };
                        expect.push(if failed { ErrorCode::RuntimeInconsistency.code() } else { code(r) });
                        if r.is_err() {
                            failed = true;
                        }
                    }
                    let (err, body) = h.call(h.sessions[0], &Request::Multi(ops));
                    prop_assert_eq!(err, 0, "a multi's own header err is 0");
                    let results = decode_multi_results(&mut Reader::new(&body)).unwrap();
                    if failed {
                        // Ops before the failing one report 0, then its code, then -2s.
                        let got: Vec<i32> = results
                            .iter()
                            .map(|r| match r { MultiResult::Error(e) => *e, other => panic!("{other:?}") })
                            .collect();
                        let first_fail = expect.iter().position(|&e| e != 0).unwrap();
                        let mut want = expect.clone();
                        for w in want.iter_mut().take(first_fail) { *w = 0; }
                        prop_assert_eq!(got, want);
                    } else {
                        prop_assert!(results.iter().all(|r| !matches!(r, MultiResult::Error(_))));
                        model = trial;
                    }
                }
                Op::CloseSession { session } => {
                    let conn = h.sessions[session];
                    let (err, _) = h.call(conn, &Request::CloseSession);
                    prop_assert_eq!(err, 0);
                    let gone: Vec<String> =
                        model.nodes.iter().filter(|(_, n)| n.owner == Some(session)).map(|(k, _)| k.clone()).collect();
                    for p in gone {
                        model.delete(&p, -1).unwrap();
                    }
                    h.sessions[session] = h.connect();
                }
            }
        }
        // Every txn's precomputed digest matched the tree after applying it.
        prop_assert_eq!(h.core.stats.digest_mismatches, 0);
        // The tree's view of every path agrees with the model at the end.
        for p in PATHS {
            let (err, _) = h.call(h.sessions[0], &Request::Exists(ExistsRequest { path: (*p).into(), watch: false }));
            prop_assert_eq!(err == 0, model.nodes.contains_key(*p), "exists {}", p);
        }
    }
}
