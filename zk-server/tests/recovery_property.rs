//! Property test of durability (issue #3): random sequences of writes are applied to a core
//! driven as the runtime drives it, snapshotted at random points while writes go on, and the
//! data directory recovered into a fresh core must equal the core that never stopped.
//!
//! The driver (no sockets, virtual time): three client slots (two authenticated with `digest`)
//! send real jute frames: creates of every mode (persistent, ephemeral, sequential, container,
//! TTL; extended types on), deletes and setData with and without versions, setACL (world, ip,
//! digest, `auth`, invalid), multis that succeed and fail, closeSession, dropped connections
//! whose sessions then expire, and virtual time passing (session expiry, container and TTL
//! sweeps). Every txn the core proposes is appended to a real `TxnLog` in a temp `version-2`
//! directory; usually it is committed (one `commit` per batch) and applied at once, sometimes
//! it stays in flight for a few ops, as with the runtime's disk thread. At random points:
//! - "snapshot now", as the runtime: roll the log, take `tree.view()`, the sessions and the
//!   zxid; the file is written with `snapshot::save` some ops later while writes go on, then
//!   read back and compared with an image of the tree taken when the view was taken;
//! - a check: make everything durable and applied, recover a copy of the directory, compare;
//! - a restart: the process dies (the log writer dropped unclosed; in-flight snapshots written
//!   or cut short, leaving a partial temp file; in a "dirty" restart the txns still in the
//!   writer's buffer are lost and those already rolled to disk count as applied), recovery in
//!   place is compared with the core that was running, then the recovered core carries on
//!   after the runtime's start-up snapshot and with a new log writer.
//!
//! At the end the directory is recovered in place (newest snapshot + log), from the log alone
//! (every snapshot removed; the log starts at zxid 1), and from every older snapshot + the log.
//!
//! What "equal" means (see [`compare`]):
//! - the same paths in pre-order, and for every node the same data (`None` and empty kept
//!   apart), ACL list, `StatPersisted` and children;
//! - the same tree digest (and each tree's kept digest is the sum of its nodes' digests);
//! - the same `last_zxid`, and recovery reports the snapshot it was expected to use and
//!   replays exactly the txns after it;
//! - the same sessions as (id, timeout) pairs. Session deadlines are not compared: a
//!   recovered session's deadline restarts from the recovery time (as in ZooKeeper), a
//!   runtime matter. Comparisons are made with nothing in flight, so no session is half-closed
//!   (asserted at the end). Connections, watches and auth are not durable and not compared;
//! - the same ephemerals per owner, container set, TTL set, node count and data size;
//! - the same set of ACL lists in the ACL cache, which must be exactly the set of (non-open)
//!   lists the nodes use (no leaked or missing reference);
//! - no txn digest mismatch while replaying, and the recovered core proposes its next txn at
//!   `last_zxid + 1` with the tree's digest.
//!
//! Failures print the minimal op sequence (proptest). The seed is fixed unless
//! `PROPTEST_RNG_SEED` is set; `PROPTEST_CASES` overrides the case count (64). Temp
//! directories go to /dev/shm when there is one: snapshots are fsynced, which costs nothing on
//! tmpfs, and what is tested (contents, names, renames) is the same.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fs;
use std::path::{Path, PathBuf};

use proptest::prelude::*;
use proptest::test_runner::{RngSeed, TestCaseError};
use zk_proto::data::{Acl, StatPersisted};
use zk_proto::proto::*;
use zk_proto::request::{encode_request, MultiOp, Request};
use zk_proto::{CreateMode, OpCode, Perms};
use zk_server::core::acl::generate_digest;
use zk_server::core::tree::{node_digest, DataTree, Node, TreeView, DIGEST_VERSION};
use zk_server::core::txn::Txn;
use zk_server::core::{Core, CoreConfig, Effect, Now};
use zk_server::storage::recovery::recover;
use zk_server::storage::snapshot::{self, SnapshotWriteOptions, ZxidDigest};
use zk_server::storage::txnlog::{LogOptions, TxnLog};

// ---------------------------------------------------------------------------------------------
// The operation space

const SLOTS: usize = 3;
/// Requested session timeouts per client slot (clamped by the config's 200..30000 ms).
const SLOT_TIMEOUT_MS: [i32; SLOTS] = [2_000, 5_000, 15_000];
/// `digest` credentials each slot authenticates with after connecting.
const SLOT_USER: [Option<usize>; SLOTS] = [Some(0), Some(1), None];
const USERS: [&str; 2] = ["u0:p0", "u1:p1"];

/// Parents for creates (`Target::Fixed`); "/c" never exists unless created.
const PARENTS: &[&str] = &["/", "/a", "/b", "/a/x", "/b/y", "/c", "/zookeeper"];
/// Nodes for deletes, setData, setACL and checks (`Target::Fixed`).
const NODES: &[&str] = &[
    "/a",
    "/b",
    "/c",
    "/a/x",
    "/a/y",
    "/b/x",
    "/b/y",
    "/a/x/a",
    "/zookeeper/quota",
    "/nope",
];
const NAMES: &[&str] = &["a", "b", "c", "x", "y", "s-", "é"];

const SYSTEM: &[&str] = &["/", "/zookeeper", "/zookeeper/quota", "/zookeeper/config"];

/// A path, fixed or picked among the nodes that exist when the op runs (so deletes and
/// setData hit sequential and deeper nodes too). Deterministic given the history.
#[derive(Debug, Clone, Copy)]
enum Target {
    Fixed(usize),
    Existing(usize),
}

#[derive(Debug, Clone, Copy)]
enum Ver {
    Any,
    Current,
    Stale,
}

#[derive(Debug, Clone)]
enum Data {
    Null,
    Empty,
    Bytes(Vec<u8>),
}

#[derive(Debug, Clone, Copy)]
enum Mode {
    Persistent,
    Ephemeral,
    PersistentSeq,
    EphemeralSeq,
    Container,
    Ttl(i64),
    TtlSeq(i64),
}

#[derive(Debug, Clone, Copy)]
enum AclChoice {
    Open,
    ReadOnly,
    Digest {
        user: usize,
        perms: i32,
    },
    WorldReadCreateDigestAll {
        user: usize,
    },
    /// `auth:` — expands to the session's digest identity; InvalidAcl without one.
    Auth,
    Ip,
    /// `world:nobody`: InvalidAcl.
    Invalid,
}

#[derive(Debug, Clone)]
enum MOp {
    Create {
        parent: Target,
        name: usize,
        mode: Mode,
        data: Data,
    },
    Delete {
        target: Target,
        version: Ver,
    },
    SetData {
        target: Target,
        data: Data,
        version: Ver,
    },
    Check {
        target: Target,
        version: Ver,
    },
}

#[derive(Debug, Clone)]
enum Op {
    Create {
        slot: usize,
        parent: Target,
        name: usize,
        mode: Mode,
        data: Data,
        acl: AclChoice,
        create2: bool,
        sync: bool,
    },
    Delete {
        slot: usize,
        target: Target,
        version: Ver,
        sync: bool,
    },
    SetData {
        slot: usize,
        target: Target,
        data: Data,
        version: Ver,
        sync: bool,
    },
    SetAcl {
        slot: usize,
        target: Target,
        acl: AclChoice,
        version: Ver,
        sync: bool,
    },
    Multi {
        slot: usize,
        ops: Vec<MOp>,
        sync: bool,
    },
    CloseSession {
        slot: usize,
        sync: bool,
    },
    /// The socket goes away; the session lives on until it expires.
    Disconnect {
        slot: usize,
    },
    /// Virtual time moves on; the core's tick expires sessions and sweeps containers/TTLs.
    Advance {
        ms: u64,
        sync: bool,
    },
    /// Roll the log and take a view (as the runtime does); the file is written `write_after`
    /// ops later, while writes go on.
    SnapshotNow {
        write_after: usize,
    },
    /// Make everything durable and applied, then recover a copy of the directory and compare.
    Check,
    /// The process dies (the log writer is dropped unclosed; in-flight snapshots finish or are
    /// cut short) and restarts as the runtime does: recover in place (compared with the core
    /// that was running), write the start-up snapshot, open a new log writer, and carry on
    /// with the recovered core. Clients reconnect with new sessions.
    ///
    /// `dirty`: the process dies with txns in flight: those already durable (rolled into the
    /// previous file at a snapshot point) count as applied, those still in the writer's buffer
    /// are lost (never acknowledged). Otherwise everything proposed is made durable and
    /// applied first.
    Restart {
        dirty: bool,
        crash_snapshots: bool,
    },
}

/// An op sequence, printed one numbered op per line (the numbers are the `i` in messages).
#[derive(Clone)]
struct Ops(Vec<Op>);

impl std::fmt::Debug for Ops {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "[")?;
        for (i, op) in self.0.iter().enumerate() {
            writeln!(f, "    /* {i} */ {op:?},")?;
        }
        write!(f, "]")
    }
}

fn target() -> impl Strategy<Value = Target> {
    prop_oneof![
        1 => (0..16usize).prop_map(Target::Fixed),
        3 => (0..64usize).prop_map(Target::Existing),
    ]
}

fn version() -> impl Strategy<Value = Ver> {
    prop_oneof![3 => Just(Ver::Any), 3 => Just(Ver::Current), 1 => Just(Ver::Stale)]
}

fn data() -> impl Strategy<Value = Data> {
    prop_oneof![
        1 => Just(Data::Null),
        1 => Just(Data::Empty),
        4 => prop::collection::vec(any::<u8>(), 1..4).prop_map(Data::Bytes),
    ]
}

fn mode() -> impl Strategy<Value = Mode> {
    prop_oneof![
        4 => Just(Mode::Persistent),
        2 => Just(Mode::Ephemeral),
        2 => Just(Mode::PersistentSeq),
        1 => Just(Mode::EphemeralSeq),
        2 => Just(Mode::Container),
        1 => (0..3000i64).prop_map(Mode::Ttl),
        1 => (1..3000i64).prop_map(Mode::TtlSeq),
    ]
}

fn multi_mode() -> impl Strategy<Value = Mode> {
    prop_oneof![
        4 => Just(Mode::Persistent),
        2 => Just(Mode::Ephemeral),
        2 => Just(Mode::PersistentSeq),
        1 => Just(Mode::Container),
        1 => (1..3000i64).prop_map(Mode::Ttl),
    ]
}

fn acl_choice() -> impl Strategy<Value = AclChoice> {
    prop_oneof![
        12 => Just(AclChoice::Open),
        1 => Just(AclChoice::Invalid),
        1 => Just(AclChoice::ReadOnly),
        2 => (0..2usize, 1..32i32).prop_map(|(user, perms)| AclChoice::Digest { user, perms }),
        2 => (0..2usize).prop_map(|user| AclChoice::WorldReadCreateDigestAll { user }),
        1 => Just(AclChoice::Auth),
        1 => Just(AclChoice::Ip),
    ]
}

fn mop() -> impl Strategy<Value = MOp> {
    prop_oneof![
        3 => (target(), 0..NAMES.len(), multi_mode(), data())
            .prop_map(|(parent, name, mode, data)| MOp::Create { parent, name, mode, data }),
        2 => (target(), version()).prop_map(|(target, version)| MOp::Delete { target, version }),
        2 => (target(), data(), version())
            .prop_map(|(target, data, version)| MOp::SetData { target, data, version }),
        1 => (target(), version()).prop_map(|(target, version)| MOp::Check { target, version }),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    let slot = 0..SLOTS;
    let sync = || prop::bool::weighted(0.65);
    prop_oneof![
        10 => (slot.clone(), target(), 0..NAMES.len(), mode(), data(), acl_choice(), any::<bool>(), sync())
            .prop_map(|(slot, parent, name, mode, data, acl, create2, sync)| Op::Create {
                slot, parent, name, mode, data, acl, create2, sync,
            }),
        5 => (slot.clone(), target(), version(), sync())
            .prop_map(|(slot, target, version, sync)| Op::Delete { slot, target, version, sync }),
        5 => (slot.clone(), target(), data(), version(), sync())
            .prop_map(|(slot, target, data, version, sync)| Op::SetData { slot, target, data, version, sync }),
        2 => (slot.clone(), target(), acl_choice(), version(), sync())
            .prop_map(|(slot, target, acl, version, sync)| Op::SetAcl { slot, target, acl, version, sync }),
        4 => (slot.clone(), prop::collection::vec(mop(), 1..4), sync())
            .prop_map(|(slot, ops, sync)| Op::Multi { slot, ops, sync }),
        1 => (slot.clone(), sync()).prop_map(|(slot, sync)| Op::CloseSession { slot, sync }),
        1 => slot.prop_map(|slot| Op::Disconnect { slot }),
        3 => (0..400u64, sync()).prop_map(|(ms, sync)| Op::Advance { ms, sync }),
        1 => (400..4000u64, sync()).prop_map(|(ms, sync)| Op::Advance { ms, sync }),
        2 => (0..12usize).prop_map(|write_after| Op::SnapshotNow { write_after }),
        1 => Just(Op::Check),
        1 => (any::<bool>(), any::<bool>())
            .prop_map(|(dirty, crash_snapshots)| Op::Restart { dirty, crash_snapshots }),
    ]
}

// ---------------------------------------------------------------------------------------------
// Tree images and comparison

#[derive(Debug, Clone, PartialEq, Eq)]
struct NodeImage {
    path: String,
    data: Option<Vec<u8>>,
    acl: Vec<Acl>,
    stat: StatPersisted,
    children: Vec<String>,
}

/// Every node in pre-order, with its ACL list resolved, and the digest recomputed from scratch.
fn image(
    visit: impl FnOnce(&mut dyn FnMut(&str, &Node)),
    acl: impl Fn(i64) -> Vec<Acl>,
    children: impl Fn(&str) -> Vec<String>,
) -> (Vec<NodeImage>, i64) {
    let mut out = Vec::new();
    let mut digest = 0u64;
    visit(&mut |p: &str, n: &Node| {
        digest = digest.wrapping_add(node_digest(p, n));
        let children = children(p);
        assert_eq!(children.len(), n.children.len(), "{p}: child count");
        out.push(NodeImage {
            path: p.to_owned(),
            data: n.data.clone(),
            acl: acl(n.acl_ref),
            stat: n.stat.clone(),
            children,
        });
    });
    (out, digest as i64)
}

fn tree_image(t: &DataTree) -> (Vec<NodeImage>, i64) {
    image(
        |f| t.visit_preorder(f),
        |r| t.acls.get(r),
        |p| t.children_of(p),
    )
}

fn view_image(v: &TreeView) -> (Vec<NodeImage>, i64) {
    image(
        |f| v.visit_preorder(f),
        |r| v.acls.get(r),
        |p| v.children_of(p),
    )
}

fn fail(msg: String) -> TestCaseError {
    TestCaseError::fail(msg)
}

/// The first difference between two images, if any.
fn diff_images(want: &[NodeImage], got: &[NodeImage]) -> Result<(), String> {
    for (w, g) in want.iter().zip(got) {
        if w != g {
            return Err(format!("first differing node:\n  want {w:?}\n  got  {g:?}"));
        }
    }
    if want.len() != got.len() {
        let paths = |v: &[NodeImage]| v.iter().map(|n| n.path.clone()).collect::<Vec<_>>();
        return Err(format!(
            "node counts differ: want {} {:?}, got {} {:?}",
            want.len(),
            paths(want),
            got.len(),
            paths(got)
        ));
    }
    Ok(())
}

fn ephemerals(t: &DataTree) -> BTreeMap<i64, BTreeSet<String>> {
    t.ephemerals_by_session()
        .map(|(s, ps)| (*s, ps.clone()))
        .collect()
}

/// An ACL list as an ordered key (`Acl` is not `Ord`).
type AclKey = Vec<(i32, String, String)>;

fn acl_key(acl: &[Acl]) -> AclKey {
    acl.iter()
        .map(|a| (a.perms, a.id.scheme.clone(), a.id.id.clone()))
        .collect()
}

fn acl_lists(t: &DataTree) -> BTreeSet<AclKey> {
    t.acls.entries().map(|(_, a)| acl_key(a)).collect()
}

fn used_acl_lists(img: &[NodeImage]) -> BTreeSet<AclKey> {
    img.iter()
        .filter(|n| n.acl != Acl::open_unsafe())
        .map(|n| acl_key(&n.acl))
        .collect()
}

/// Checks a tree's internal consistency: digest vs a full recount, ACL cache vs nodes.
fn self_check(t: &DataTree, who: &str) -> Result<Vec<NodeImage>, String> {
    let (img, full) = tree_image(t);
    if full != t.digest() {
        return Err(format!(
            "{who}: kept digest {:#x} but the nodes sum to {full:#x}",
            t.digest()
        ));
    }
    let (cached, used) = (acl_lists(t), used_acl_lists(&img));
    if cached != used {
        return Err(format!(
            "{who}: the ACL cache holds {cached:?} but the nodes use {used:?}"
        ));
    }
    Ok(img)
}

/// The recovered core equals the live one (see the module doc for what is compared).
fn compare(live: &Core, rec: &Core) -> Result<(), String> {
    let want = self_check(&live.tree, "live tree")?;
    let got = self_check(&rec.tree, "recovered tree")?;
    diff_images(&want, &got)?;
    let checks: [(&str, String, String); 9] = [
        (
            "digest",
            format!("{:#x}", live.tree.digest()),
            format!("{:#x}", rec.tree.digest()),
        ),
        (
            "last_zxid",
            format!("{:#x}", live.last_zxid()),
            format!("{:#x}", rec.last_zxid()),
        ),
        (
            "sessions (id, timeout)",
            format!("{:x?}", live.sessions_for_snapshot()),
            format!("{:x?}", rec.sessions_for_snapshot()),
        ),
        (
            "ephemerals by owner",
            format!("{:x?}", ephemerals(&live.tree)),
            format!("{:x?}", ephemerals(&rec.tree)),
        ),
        (
            "containers",
            format!("{:?}", live.tree.containers().collect::<Vec<_>>()),
            format!("{:?}", rec.tree.containers().collect::<Vec<_>>()),
        ),
        (
            "TTL nodes",
            format!("{:?}", live.tree.ttls().collect::<Vec<_>>()),
            format!("{:?}", rec.tree.ttls().collect::<Vec<_>>()),
        ),
        (
            "node count",
            live.tree.node_count().to_string(),
            rec.tree.node_count().to_string(),
        ),
        (
            "approximate data size",
            live.tree.approximate_data_size().to_string(),
            rec.tree.approximate_data_size().to_string(),
        ),
        (
            "ACL cache lists",
            format!("{:?}", acl_lists(&live.tree)),
            format!("{:?}", acl_lists(&rec.tree)),
        ),
    ];
    for (what, w, g) in checks {
        if w != g {
            return Err(format!("{what} differ:\n  live      {w}\n  recovered {g}"));
        }
    }
    if rec.stats.digest_mismatches != 0 {
        return Err(format!(
            "{} txn digest mismatches while replaying",
            rec.stats.digest_mismatches
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Files

struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        use std::sync::atomic::{AtomicU64, Ordering};
        static N: AtomicU64 = AtomicU64::new(0);
        // Snapshots are fsynced; on tmpfs that costs nothing, and the semantics under test
        // (file contents, names, renames) are the same.
        let shm = Path::new("/dev/shm");
        let base = if shm.is_dir() {
            shm.to_path_buf()
        } else {
            std::env::temp_dir()
        };
        let p = base.join(format!(
            "zkrs-recovery-prop-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&p);
        fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }

    fn version2(&self) -> PathBuf {
        self.0.join("version-2")
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// A copy of `dir` with every log file and only the snapshots `keep` accepts.
fn copy_dir(dir: &Path, keep: impl Fn(i64) -> bool) -> TempDir {
    let t = TempDir::new("copy");
    let to = t.version2();
    fs::create_dir_all(&to).unwrap();
    for e in fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let name = e.file_name().into_string().unwrap();
        let wanted = name.starts_with("log.") || snapshot::zxid_from_name(&name).is_some_and(&keep);
        if wanted {
            fs::copy(e.path(), to.join(&name)).unwrap();
        }
    }
    t
}

// ---------------------------------------------------------------------------------------------
// The driver

fn config() -> CoreConfig {
    CoreConfig {
        tick_time_ms: 100,
        min_session_timeout_ms: 200,
        max_session_timeout_ms: 30_000,
        container_check_interval_ms: 1_000,
        extended_types_enabled: true,
        ..CoreConfig::default()
    }
}

fn log_options() -> LogOptions {
    LogOptions {
        prealloc_bytes: 4096,
        force_sync: false,
        dbid: 0,
    }
}

const SNAP_OPTS: SnapshotWriteOptions = SnapshotWriteOptions {
    digest_enabled: true,
};

/// A snapshot whose view was taken and whose file is not written yet.
struct InFlight {
    view: TreeView,
    sessions: Vec<(i64, i32)>,
    zxid: i64,
    /// The tree as it was when the view was taken.
    image: Vec<NodeImage>,
    digest: i64,
    ops_left: usize,
}

struct World {
    core: Core,
    now: Now,
    _tmp: TempDir,
    dir: PathBuf,
    log: TxnLog,
    /// Appended to the log (maybe not yet committed), not yet applied to the core.
    unapplied: VecDeque<Txn>,
    /// How many txns at the front of `unapplied` are durable (committed by a roll).
    durable: usize,
    /// Each slot's connection, `None` once closed.
    conns: [Option<u64>; SLOTS],
    next_conn: u64,
    xid: i32,
    inflight: Vec<InFlight>,
    /// zxids of the snapshot files written.
    written: BTreeSet<i64>,
}

impl World {
    fn new() -> Self {
        let tmp = TempDir::new("live");
        let dir = tmp.version2();
        fs::create_dir_all(&dir).unwrap();
        let now = Now {
            wall_ms: 1_700_000_000_000,
            mono_ms: 0,
        };
        let core = Core::new(config(), now);
        // The runtime writes a snapshot of the empty tree on first start.
        snapshot::save(
            &dir,
            &core.tree.view(),
            &core.sessions_for_snapshot(),
            0,
            &SNAP_OPTS,
        )
        .unwrap();
        let log = TxnLog::open(&dir, log_options()).unwrap();
        World {
            core,
            now,
            _tmp: tmp,
            dir,
            log,
            unapplied: VecDeque::new(),
            durable: 0,
            conns: [None; SLOTS],
            next_conn: 1,
            xid: 0,
            inflight: Vec::new(),
            written: BTreeSet::from([0]),
        }
    }

    /// Carries out effects: frames are dropped, closes close, txns go to the log.
    fn run(&mut self, fx: Vec<Effect>) {
        for e in fx {
            match e {
                Effect::Send { .. } => {}
                Effect::Close { conn } => {
                    for c in self.conns.iter_mut() {
                        if *c == Some(conn) {
                            *c = None;
                        }
                    }
                    self.core.connection_closed(conn);
                }
                Effect::Persist(txn) => {
                    self.log.append(&txn).expect("append");
                    self.unapplied.push_back(*txn);
                }
                Effect::Forward { .. } | Effect::Revalidate { .. } => {
                    unreachable!("a standalone core never forwards")
                }
            }
        }
    }

    /// Group commit: everything appended becomes durable, then is applied in zxid order.
    fn flush(&mut self) {
        while !self.unapplied.is_empty() {
            self.log.commit().expect("commit");
            while let Some(txn) = self.unapplied.pop_front() {
                let fx = self.core.commit(&txn, self.now);
                self.run(fx);
            }
        }
        self.durable = 0;
    }

    fn conn(&mut self, slot: usize) -> u64 {
        if let Some(c) = self.conns[slot] {
            return c;
        }
        let conn = self.next_conn;
        self.next_conn += 1;
        self.core
            .connection_opened(conn, "127.0.0.1:2181".parse().unwrap(), self.now);
        let req = ConnectRequest {
            time_out: SLOT_TIMEOUT_MS[slot],
            passwd: vec![0; 16],
            ..Default::default()
        };
        let fx = self
            .core
            .handle_frame(conn, &zk_proto::Encode::to_bytes(&req), self.now);
        self.run(fx);
        // A client waits for its ConnectResponse, sent once createSession is applied.
        self.flush();
        self.conns[slot] = Some(conn);
        if let Some(u) = SLOT_USER[slot] {
            self.send(
                conn,
                -4,
                &Request::Auth(AuthPacket {
                    auth_type: 0,
                    scheme: "digest".into(),
                    auth: USERS[u].as_bytes().to_vec(),
                }),
            );
        }
        conn
    }

    fn send(&mut self, conn: u64, xid: i32, req: &Request) {
        let mut payload = Vec::new();
        encode_request(xid, req, &mut payload);
        let fx = self.core.handle_frame(conn, &payload, self.now);
        self.run(fx);
    }

    fn request(&mut self, slot: usize, req: &Request, sync: bool) {
        let conn = self.conn(slot);
        self.xid += 1;
        let xid = self.xid;
        self.send(conn, xid, req);
        if sync {
            self.flush();
        }
    }

    /// Nodes clients made, in pre-order.
    fn user_nodes(&self) -> Vec<String> {
        self.core
            .tree
            .paths_preorder()
            .into_iter()
            .filter(|p| !SYSTEM.contains(&p.as_str()))
            .collect()
    }

    fn node(&self, t: Target) -> String {
        match t {
            Target::Fixed(i) => NODES[i % NODES.len()].to_owned(),
            Target::Existing(i) => {
                let nodes = self.user_nodes();
                if nodes.is_empty() {
                    "/a".to_owned()
                } else {
                    nodes[i % nodes.len()].clone()
                }
            }
        }
    }

    fn child(&self, parent: Target, name: usize) -> String {
        let parent = match parent {
            Target::Fixed(i) => PARENTS[i % PARENTS.len()].to_owned(),
            Target::Existing(i) => {
                let nodes = self.user_nodes();
                if i % (nodes.len() + 1) == 0 {
                    "/".to_owned()
                } else {
                    nodes[i % (nodes.len() + 1) - 1].clone()
                }
            }
        };
        let name = NAMES[name];
        if parent == "/" {
            format!("/{name}")
        } else {
            format!("{parent}/{name}")
        }
    }

    fn version(&self, path: &str, v: Ver, acl: bool) -> i32 {
        let cur = match self.core.tree.get(path) {
            Some(n) if acl => n.stat.aversion,
            Some(n) => n.stat.version,
            None => 0,
        };
        match v {
            Ver::Any => -1,
            Ver::Current => cur,
            Ver::Stale => cur.wrapping_add(1),
        }
    }

    /// Counts down in-flight snapshots and writes those that are due.
    fn step_snapshots(&mut self) -> Result<(), TestCaseError> {
        for s in self.inflight.iter_mut() {
            s.ops_left = s.ops_left.saturating_sub(1);
        }
        let (due, rest): (Vec<InFlight>, Vec<InFlight>) = std::mem::take(&mut self.inflight)
            .into_iter()
            .partition(|s| s.ops_left == 0);
        self.inflight = rest;
        for s in due {
            self.write_snapshot(s)?;
        }
        Ok(())
    }

    /// Writes an in-flight snapshot and checks the file holds the image of its view's moment.
    fn write_snapshot(&mut self, s: InFlight) -> Result<(), TestCaseError> {
        let (view_img, view_digest) = view_image(&s.view);
        diff_images(&s.image, &view_img)
            .map_err(|m| fail(format!("the view of {:#x} moved: {m}", s.zxid)))?;
        prop_assert_eq!(view_digest, s.digest, "recounted digest of the view");
        prop_assert_eq!(s.view.digest(), s.digest, "digest kept by the view");
        let path = snapshot::save(&self.dir, &s.view, &s.sessions, s.zxid, &SNAP_OPTS)
            .map_err(|e| fail(format!("save: {e}")))?;
        let loaded = snapshot::read_snapshot(&fs::read(&path).unwrap())
            .map_err(|e| fail(format!("reading back {}: {e}", path.display())))?;
        let (file_img, _) = tree_image(&loaded.tree);
        diff_images(&s.image, &file_img).map_err(|m| {
            fail(format!(
                "snapshot {:#x} does not hold its view's image: {m}",
                s.zxid
            ))
        })?;
        prop_assert_eq!(
            loaded.tree.digest(),
            s.digest,
            "digest of the tree read back"
        );
        prop_assert_eq!(&loaded.sessions, &s.sessions, "sessions read back");
        prop_assert_eq!(
            loaded.zxid_digest,
            Some(ZxidDigest {
                zxid: s.zxid,
                version: DIGEST_VERSION,
                digest: s.digest
            }),
            "digest section read back"
        );
        prop_assert_eq!(
            loaded.last_processed_zxid,
            Some(s.zxid),
            "lastProcessedZxid read back"
        );
        self.written.insert(s.zxid);
        Ok(())
    }

    /// As the runtime: roll the log (what is appended stays in the old file), take the view.
    fn snapshot_now(&mut self, write_after: usize) {
        self.log.roll().expect("roll");
        self.durable = self.unapplied.len();
        let (image, digest) = tree_image(&self.core.tree);
        let s = InFlight {
            view: self.core.tree.view(),
            sessions: self.core.sessions_for_snapshot(),
            zxid: self.core.last_zxid(),
            image,
            digest,
            ops_left: write_after + 1,
        };
        self.inflight.push(s);
    }

    /// A snapshot write interrupted by a crash: only a partial temp file is left.
    fn abandon_snapshot(&self, s: &InFlight) {
        let mut bytes = Vec::new();
        snapshot::write_snapshot(&mut bytes, &s.view, &s.sessions, s.zxid, &SNAP_OPTS).unwrap();
        bytes.truncate(bytes.len() / 2);
        fs::write(self.dir.join(snapshot::temp_file_name(s.zxid)), bytes).unwrap();
    }

    /// Recovers `dir` into a fresh core and compares it with the live one. `snap` is the
    /// snapshot recovery must start from (`None`: the log alone).
    fn recover_into(
        &self,
        dir: &Path,
        snap: Option<i64>,
        label: &str,
        now: Now,
        allow_torn: bool,
    ) -> Result<Core, TestCaseError> {
        let err = |m: String| fail(format!("{label}: {m}"));
        let mut rec = Core::new(config(), now);
        let report = recover(&mut rec, dir, dir, now).map_err(|e| err(format!("recover: {e}")))?;
        let live_last = self.core.last_zxid();
        let got_snap = report.snapshot.as_ref().map(|(z, _)| *z);
        if got_snap != snap {
            return Err(err(format!(
                "recovered from snapshot {got_snap:x?}, expected {snap:x?}"
            )));
        }
        let want_replayed = (live_last - snap.unwrap_or(0)) as u64;
        if report.last_zxid != live_last
            || report.replayed != want_replayed
            || (report.truncated.is_some() && !allow_torn)
        {
            return Err(err(format!(
                "report {report:?}; expected last zxid {live_last:#x}, {want_replayed} replayed, nothing truncated"
            )));
        }
        compare(&self.core, &rec).map_err(err)?;
        Ok(rec)
    }

    /// [`recover_into`](Self::recover_into), then: the recovered core carries on where the live
    /// one is, its next txn (a new session's) getting the next zxid and the current digest.
    fn check_recovery(
        &self,
        dir: &Path,
        snap: Option<i64>,
        label: &str,
    ) -> Result<(), TestCaseError> {
        let now = Now {
            wall_ms: self.now.wall_ms + 3_600_000,
            mono_ms: 0,
        };
        let mut rec = self.recover_into(dir, snap, label, now, false)?;
        let err = |m: String| fail(format!("{label}: {m}"));
        let live_last = self.core.last_zxid();
        rec.connection_opened(1, "127.0.0.1:2181".parse().unwrap(), now);
        let req = ConnectRequest {
            time_out: 5_000,
            passwd: vec![0; 16],
            ..Default::default()
        };
        let fx = rec.handle_frame(1, &zk_proto::Encode::to_bytes(&req), now);
        let txn = fx
            .into_iter()
            .find_map(|e| match e {
                Effect::Persist(t) => Some(t),
                _ => None,
            })
            .ok_or_else(|| err("no createSession txn after recovery".into()))?;
        if txn.hdr.zxid != live_last + 1
            || txn.digest.as_ref().map(|d| d.tree_digest) != Some(rec.tree.digest())
        {
            return Err(err(format!(
                "first txn after recovery: zxid {:#x} digest {:?}; expected zxid {:#x} digest {:#x}",
                txn.hdr.zxid,
                txn.digest,
                live_last + 1,
                rec.tree.digest()
            )));
        }
        Ok(())
    }

    /// In-flight snapshots are written, or (a crash) leave only a partial temp file.
    fn finish_snapshots(&mut self, crash: bool) -> Result<(), TestCaseError> {
        for s in std::mem::take(&mut self.inflight) {
            if crash {
                self.abandon_snapshot(&s);
            } else {
                self.write_snapshot(s)?;
            }
        }
        Ok(())
    }

    fn restart(
        &mut self,
        dirty: bool,
        crash_snapshots: bool,
        i: usize,
    ) -> Result<(), TestCaseError> {
        if dirty {
            // What the disk has would have been applied; the writer's buffer dies with the
            // process. A log file started for the lost txns is empty: a torn tail, removed.
            for _ in 0..self.durable {
                let txn = self.unapplied.pop_front().expect("durable txn");
                let fx = self.core.commit(&txn, self.now);
                self.run(fx);
            }
            self.unapplied.clear();
            self.durable = 0;
        } else {
            self.flush();
        }
        self.finish_snapshots(crash_snapshots)?;
        // A restart takes a while; the monotonic clock is the core's own business and simply
        // goes on.
        self.now.wall_ms += 1_000;
        let label = format!("restart after op {i}");
        let dir = self.dir.clone();
        self.core =
            self.recover_into(&dir, Some(self.newest_snapshot()), &label, self.now, dirty)?;
        self.conns = [None; SLOTS];
        // As the runtime's `open_storage`: snapshot what was recovered unless the newest
        // snapshot is it, then a fresh writer (its first append starts a new file).
        let last = self.core.last_zxid();
        if self.newest_snapshot() != last {
            let view = self.core.tree.view();
            let sessions = self.core.sessions_for_snapshot();
            snapshot::save(&dir, &view, &sessions, last, &SNAP_OPTS)
                .map_err(|e| fail(format!("{label}: start-up snapshot: {e}")))?;
            self.written.insert(last);
        }
        self.log = TxnLog::open(&dir, log_options()).expect("open log");
        Ok(())
    }

    fn newest_snapshot(&self) -> i64 {
        *self.written.iter().next_back().unwrap()
    }

    fn apply(&mut self, op: &Op, i: usize) -> Result<(), TestCaseError> {
        match op {
            Op::Create {
                slot,
                parent,
                name,
                mode,
                data,
                acl,
                create2,
                sync,
            } => {
                let path = self.child(*parent, *name);
                let req = create_request(path, *mode, data, acl_list(*acl), *create2);
                self.request(*slot, &req, *sync);
            }
            Op::Delete {
                slot,
                target,
                version,
                sync,
            } => {
                let path = self.node(*target);
                let version = self.version(&path, *version, false);
                self.request(
                    *slot,
                    &Request::Delete(DeleteRequest { path, version }),
                    *sync,
                );
            }
            Op::SetData {
                slot,
                target,
                data,
                version,
                sync,
            } => {
                let path = self.node(*target);
                let version = self.version(&path, *version, false);
                let req = Request::SetData(SetDataRequest {
                    path,
                    data: data_bytes(data),
                    version,
                });
                self.request(*slot, &req, *sync);
            }
            Op::SetAcl {
                slot,
                target,
                acl,
                version,
                sync,
            } => {
                let path = self.node(*target);
                let version = self.version(&path, *version, true);
                let req = Request::SetAcl(SetAclRequest {
                    path,
                    acl: acl_list(*acl),
                    version,
                });
                self.request(*slot, &req, *sync);
            }
            Op::Multi { slot, ops, sync } => {
                let ops = ops.iter().map(|m| self.multi_op(m)).collect();
                self.request(*slot, &Request::Multi(ops), *sync);
            }
            Op::CloseSession { slot, sync } => {
                self.request(*slot, &Request::CloseSession, *sync);
            }
            Op::Disconnect { slot } => {
                if let Some(c) = self.conns[*slot].take() {
                    self.core.connection_closed(c);
                }
            }
            Op::Advance { ms, sync } => {
                self.now.mono_ms += ms;
                self.now.wall_ms += *ms as i64;
                let fx = self.core.tick(self.now);
                self.run(fx);
                if *sync {
                    self.flush();
                }
            }
            Op::SnapshotNow { write_after } => self.snapshot_now(*write_after),
            Op::Restart {
                dirty,
                crash_snapshots,
            } => self.restart(*dirty, *crash_snapshots, i)?,
            Op::Check => {
                self.flush();
                let copy = copy_dir(&self.dir, |_| true);
                self.check_recovery(
                    &copy.version2(),
                    Some(self.newest_snapshot()),
                    &format!("recovery after op {i}"),
                )?;
            }
        }
        self.step_snapshots()
    }

    fn multi_op(&self, m: &MOp) -> MultiOp {
        match m {
            MOp::Create {
                parent,
                name,
                mode,
                data,
            } => {
                let path = self.child(*parent, *name);
                match create_request(path, *mode, data, Acl::open_unsafe(), true) {
                    Request::Create { op, req } => MultiOp::Create {
                        // `create` with container flags: prep rebuilds it as createContainer.
                        op: if op == OpCode::CreateContainer {
                            OpCode::Create
                        } else {
                            op
                        },
                        req,
                    },
                    Request::CreateTtl(r) => MultiOp::CreateTtl(r),
                    other => unreachable!("{other:?}"),
                }
            }
            MOp::Delete { target, version } => {
                let path = self.node(*target);
                let version = self.version(&path, *version, false);
                MultiOp::Delete(DeleteRequest { path, version })
            }
            MOp::SetData {
                target,
                data,
                version,
            } => {
                let path = self.node(*target);
                let version = self.version(&path, *version, false);
                MultiOp::SetData(SetDataRequest {
                    path,
                    data: data_bytes(data),
                    version,
                })
            }
            MOp::Check { target, version } => {
                let path = self.node(*target);
                let version = self.version(&path, *version, false);
                MultiOp::Check(CheckVersionRequest { path, version })
            }
        }
    }
}

fn data_bytes(d: &Data) -> Option<Vec<u8>> {
    match d {
        Data::Null => None,
        Data::Empty => Some(Vec::new()),
        Data::Bytes(b) => Some(b.clone()),
    }
}

fn acl_list(a: AclChoice) -> Vec<Acl> {
    let digest = |u: usize| generate_digest(USERS[u]);
    match a {
        AclChoice::Open => Acl::open_unsafe(),
        AclChoice::ReadOnly => Acl::read_unsafe(),
        AclChoice::Digest { user, perms } => vec![Acl::new(perms, "digest", &digest(user))],
        AclChoice::WorldReadCreateDigestAll { user } => vec![
            Acl::new(Perms::READ | Perms::CREATE, "world", "anyone"),
            Acl::new(Perms::ALL, "digest", &digest(user)),
        ],
        AclChoice::Auth => vec![Acl::new(Perms::ALL, "auth", "")],
        AclChoice::Ip => vec![Acl::new(Perms::ALL, "ip", "127.0.0.1")],
        AclChoice::Invalid => vec![Acl::new(Perms::ALL, "world", "nobody")],
    }
}

fn create_request(path: String, mode: Mode, data: &Data, acl: Vec<Acl>, create2: bool) -> Request {
    let data = data_bytes(data);
    let (flags, ttl) = match mode {
        Mode::Persistent => (CreateMode::Persistent, None),
        Mode::Ephemeral => (CreateMode::Ephemeral, None),
        Mode::PersistentSeq => (CreateMode::PersistentSequential, None),
        Mode::EphemeralSeq => (CreateMode::EphemeralSequential, None),
        Mode::Container => (CreateMode::Container, None),
        Mode::Ttl(ms) => (CreateMode::PersistentWithTtl, Some(ms)),
        Mode::TtlSeq(ms) => (CreateMode::PersistentSequentialWithTtl, Some(ms)),
    };
    if let Some(ttl) = ttl {
        return Request::CreateTtl(CreateTtlRequest {
            path,
            data,
            acl,
            flags: flags.code(),
            ttl,
        });
    }
    let op = if flags == CreateMode::Container {
        OpCode::CreateContainer
    } else if create2 {
        OpCode::Create2
    } else {
        OpCode::Create
    };
    Request::Create {
        op,
        req: CreateRequest {
            path,
            data,
            acl,
            flags: flags.code(),
        },
    }
}

fn run_case(ops: &[Op], crash_during_snapshot: bool) -> Result<(), TestCaseError> {
    let mut w = World::new();
    for slot in 0..SLOTS {
        w.conn(slot);
    }
    w.flush();
    for (i, op) in ops.iter().enumerate() {
        w.apply(op, i)?;
    }
    // The end: everything acknowledged; in-flight snapshots either finish or are cut short by
    // a crash; the log writer is dropped without closing, as in a crash.
    w.flush();
    w.finish_snapshots(crash_during_snapshot)?;
    prop_assert_eq!(w.core.stats.digest_mismatches, 0, "live digest mismatches");
    for s in w.core.sessions.iter() {
        prop_assert!(
            !s.closing,
            "session {:#x} still closing after a flush",
            s.id
        );
        prop_assert!(
            SLOT_TIMEOUT_MS.contains(&(s.timeout_ms as i32)),
            "session {:#x} has timeout {} ms, which no client asked for",
            s.id,
            s.timeout_ms
        );
    }

    // Newest snapshot + log, in place.
    w.check_recovery(&w.dir.clone(), Some(w.newest_snapshot()), "final recovery")?;
    // The log alone, from zxid 1.
    let logs_only = copy_dir(&w.dir, |_| false);
    w.check_recovery(&logs_only.version2(), None, "recovery from the log alone")?;
    // Every older snapshot (the newest included above) plus the log.
    for &z in w.written.iter().rev().skip(1) {
        let copy = copy_dir(&w.dir, |s| s == z);
        w.check_recovery(
            &copy.version2(),
            Some(z),
            &format!("recovery from the older snapshot {z:#x}"),
        )?;
    }
    Ok(())
}

fn proptest_config() -> ProptestConfig {
    let mut c = ProptestConfig::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        c.cases = 64;
    }
    if std::env::var_os("PROPTEST_RNG_SEED").is_none() {
        c.rng_seed = RngSeed::Fixed(0x2b_5eed_0003);
    }
    // Minimal failing inputs are printed; no regression file is written into the tree.
    c.failure_persistence = None;
    if std::env::var_os("PROPTEST_MAX_SHRINK_ITERS").is_none() {
        c.max_shrink_iters = 4096;
    }
    c
}

proptest! {
    #![proptest_config(proptest_config())]

    #[test]
    fn recovery_equals_the_tree_that_never_stopped(
        ops in prop::collection::vec(op(), 1..150).prop_map(Ops),
        crash_during_snapshot in any::<bool>(),
    ) {
        run_case(&ops.0, crash_during_snapshot)?;
    }
}
