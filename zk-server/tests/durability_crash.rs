//! The crash test: a real `zk-server` process under concurrent load is killed with SIGKILL at a
//! random moment, restarted on the same (growing) data directory, and checked against a model
//! of every write a client saw acknowledged. Repeated for `ZKRS_CRASH_ROUNDS` rounds (default
//! 15); the schedule follows from a seed (`ZKRS_CRASH_SEED`, printed on failure).
//!
//! Per round, with `snapCount=50` (snapshots and log rolls every 25..50 txns) and
//! `preAllocSize=64` KiB (log files grow chunk by chunk: counter payloads are up to 16 KiB):
//! - 4 workers, each on its own session, loop over: sequential creates under `/seq`, creates
//!   of uniquely named nodes under `/cd`, deletes of acknowledged nodes, conditional
//!   `setData` on 4 shared counters (`/ctr/cN`, expected version = the last one the worker
//!   knows), and multis (two creates + a conditional counter `setData` [+ a delete]) that
//!   either all happen or none does.
//! - Every reply is recorded: an acknowledged create/delete/setData is a fact; an acknowledged
//!   failure too (a failed multi's nodes never exist); a request whose connection died with
//!   the server is *indeterminate* and counted neither way, until the restarted server shows
//!   what became of it (what it shows after recovery is durable from then on).
//! - After the kill and restart: every acknowledged node is there with its data, nothing
//!   deleted (or never created) is, no node appears that nobody created, every counter's
//!   version is at least the last acknowledged one and its data is what that version's writer
//!   sent, no sequential name is ever handed out twice and the next one is above all earlier.
//! - Ephemerals: two sessions per round (timeout 1.5 s, kept alive by pings) each own an
//!   ephemeral when the server is killed. After the restart one session is resumed at once
//!   (same id and password): its ephemeral must stay, while the other's must disappear once
//!   its session times out, and that session must then be refused.
//! - Now and then the server is also killed again during start-up (recovery, the start-up
//!   snapshot), and every 5th round `zk-server purge -n 3` runs between kill and restart.

mod durability;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use durability::*;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use zk_proto::proto::{CreateRequest, DeleteRequest, GetDataResponse, SetDataRequest};
use zk_proto::request::{MultiOp, MultiResult};
use zk_proto::{CreateMode, Decode, ErrorCode, OpCode};

const DEFAULT_ROUNDS: u32 = 15;
const WORKERS: usize = 4;
const COUNTERS: usize = 4;
/// Worker sessions; they die with the server at every kill and expire after the restart.
const WORKER_TIMEOUT_MS: i32 = 4000;
/// The ephemeral-owning sessions: short, so one round's wait for expiry stays short.
const EPH_TIMEOUT_MS: i32 = 1500;
const TICK_MS: u64 = 100;
/// Above this many deletable nodes, deletes dominate (keeps the tree, and so snapshots and
/// verification, small).
const POOL_HIGH: usize = 250;
const PARENTS: [&str; 3] = ["/seq", "/cd", "/multi"];

fn ctr_path(i: usize) -> String {
    format!("/ctr/c{i}")
}

fn seq_number(name: &str) -> Option<i64> {
    let digits = name.get(name.len().checked_sub(10)?..)?;
    digits.parse().ok()
}

// ---------------------------------------------------------------------------------------------
// The model of acknowledged history

#[derive(Default)]
struct Counter {
    /// version -> fingerprint of the data written at that version: acknowledged writes, and
    /// what a restarted server showed (durable from then on).
    acked: BTreeMap<i32, u64>,
    /// Indeterminate writes since the last check: (version if it happened, data fingerprint).
    candidates: Vec<(i32, u64)>,
}

impl Counter {
    /// The last acknowledged version: no read may show less.
    fn floor(&self) -> i32 {
        self.acked.keys().next_back().copied().unwrap_or(0)
    }
}

#[derive(Default)]
struct Model {
    /// Nodes acknowledged as created and not since touched by an indeterminate op: their data.
    present: HashMap<String, u64>,
    /// Nodes that must not exist: acknowledged deletes, nodes of acknowledged-failed multis,
    /// indeterminate creates the restarted server did not show, expired ephemerals.
    absent: HashSet<String>,
    /// Nodes an indeterminate create or delete touched: the data they have if they exist.
    unknown: HashMap<String, u64>,
    /// Data of indeterminate sequential creates (their names are unknown).
    unknown_seq: Vec<u64>,
    /// Present nodes a worker may delete (a worker claims one by taking it out).
    pool: Vec<String>,
    /// Every sequential name ever acknowledged or seen.
    seq_names: HashSet<String>,
    max_seq: i64,
    counters: Vec<Counter>,
    violations: Vec<String>,
}

impl Model {
    fn violation(&mut self, msg: String) {
        eprintln!("VIOLATION: {msg}");
        self.violations.push(msg);
    }

    fn ack_create(&mut self, path: String, fp: u64) {
        self.present.insert(path.clone(), fp);
        self.pool.push(path);
    }

    fn ack_seq(&mut self, name: String, fp: u64) {
        let Some(n) = seq_number(&name) else {
            self.violation(format!("sequential create returned {name:?}"));
            return;
        };
        if !self.seq_names.insert(name.clone()) {
            self.violation(format!(
                "sequential name {name} was handed out a second time"
            ));
        }
        self.max_seq = self.max_seq.max(n);
        self.ack_create(name, fp);
    }

    fn claim(&mut self, rng: &mut Rng) -> Option<(String, u64)> {
        if self.pool.is_empty() {
            return None;
        }
        let i = rng.below(self.pool.len() as u64) as usize;
        let path = self.pool.swap_remove(i);
        let fp = self.present[&path];
        Some((path, fp))
    }

    fn ack_delete(&mut self, path: &str) {
        self.present.remove(path);
        self.absent.insert(path.to_owned());
    }

    fn lost_delete(&mut self, path: &str) {
        if let Some(fp) = self.present.remove(path) {
            self.unknown.insert(path.to_owned(), fp);
        }
    }

    fn ack_counter(&mut self, c: usize, version: i32, fp: u64) {
        if let Some(old) = self.counters[c].acked.insert(version, fp) {
            if old != fp {
                self.violation(format!(
                    "two different writes of {} were both acknowledged as version {version}",
                    ctr_path(c)
                ));
            }
        }
    }

    /// A read of counter `c` that started after `floor` was the last acknowledged version.
    fn check_counter_read(&mut self, c: usize, floor: i32, version: i32, fp: u64, when: &str) {
        if version < floor {
            self.violation(format!(
                "{when}: {} is at version {version}, below the acknowledged version {floor}",
                ctr_path(c)
            ));
        }
        if let Some(&want) = self.counters[c].acked.get(&version) {
            if want != fp {
                self.violation(format!(
                    "{when}: {} at version {version} does not hold the data acknowledged for that version",
                    ctr_path(c)
                ));
            }
        }
    }
}

/// State shared by the round's tasks.
struct Shared {
    model: Mutex<Model>,
    stop: AtomicBool,
    /// Set just before the SIGKILL: a connection lost after this is expected.
    killed: AtomicBool,
    /// Count of acknowledged operations (the kill comes after a random number of them).
    acked: watch::Sender<u64>,
    unexpected_losses: AtomicU64,
}

impl Shared {
    fn model(&self) -> std::sync::MutexGuard<'_, Model> {
        self.model.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn acked_one(&self) {
        self.acked.send_modify(|n| *n += 1);
    }
}

// ---------------------------------------------------------------------------------------------
// Workers

struct Worker {
    id: usize,
    round: u32,
    k: u64,
    rng: Rng,
    c: Client,
    known: [i32; COUNTERS],
    sh: Arc<Shared>,
}

async fn run_worker(id: usize, round: u32, seed: u64, addr: SocketAddr, sh: Arc<Shared>) {
    let Ok(c) = Client::try_connect(addr, WORKER_TIMEOUT_MS).await else {
        return;
    };
    let mut w = Worker {
        id,
        round,
        k: 0,
        rng: Rng::new(seed),
        c,
        known: [0; COUNTERS],
        sh,
    };
    let mut ready = w.refresh_all().await.is_ok();
    while !w.sh.stop.load(Ordering::SeqCst) {
        if ready && w.step().await.is_ok() {
            continue;
        }
        if w.sh.killed.load(Ordering::SeqCst) {
            return;
        }
        // The server closed a connection while running (a session expired under load?): the
        // request in flight stays indeterminate; carry on with a new session.
        w.sh.unexpected_losses.fetch_add(1, Ordering::SeqCst);
        eprintln!("worker {id}: connection lost while the server was running; reconnecting");
        match Client::try_connect(addr, WORKER_TIMEOUT_MS).await {
            Ok(c) => w.c = c,
            Err(Lost) => return,
        }
        ready = w.refresh_all().await.is_ok();
    }
}

impl Worker {
    async fn refresh_all(&mut self) -> Result<(), Lost> {
        for i in 0..COUNTERS {
            self.refresh(i).await?;
        }
        Ok(())
    }

    /// Reads counter `i` (learning its version) and checks the read against the model.
    async fn refresh(&mut self, i: usize) -> Result<(), Lost> {
        let floor = self.sh.model().counters[i].floor();
        let r = self.c.get_data(&ctr_path(i)).await?;
        let mut m = self.sh.model();
        match r {
            Ok((data, stat)) => {
                let fp = fingerprint(data.as_deref().unwrap_or_default());
                m.check_counter_read(i, floor, stat.version, fp, "a read");
                self.known[i] = stat.version;
            }
            Err(code) => m.violation(format!("getData {} failed: {code}", ctr_path(i))),
        }
        Ok(())
    }

    async fn step(&mut self) -> Result<(), Lost> {
        self.k += 1;
        let pool = self.sh.model().pool.len();
        let roll = self.rng.below(100);
        if pool > POOL_HIGH && roll < 40 {
            return self.delete().await;
        }
        match roll {
            0..=21 => self.create_seq().await,
            22..=36 => self.create_named().await,
            37..=49 => self.delete().await,
            50..=84 => self.set_counter().await,
            _ => self.multi().await,
        }
    }

    fn small(&mut self, tag: &str) -> Vec<u8> {
        let len = self.rng.range(8, 96) as usize;
        payload(&mut self.rng, tag, len)
    }

    fn big(&mut self, tag: &str) -> Vec<u8> {
        let len = self.rng.range(1, 16 * 1024) as usize;
        payload(&mut self.rng, tag, len)
    }

    async fn create_seq(&mut self) -> Result<(), Lost> {
        let (id, round, k) = (self.id, self.round, self.k);
        let data = self.small(&format!("seq w{id} r{round} k{k}"));
        let fp = fingerprint(&data);
        let r = self
            .c
            .create(
                "/seq/n-",
                Some(&data),
                open_acl(),
                CreateMode::PersistentSequential,
            )
            .await;
        let mut m = self.sh.model();
        match r {
            Err(Lost) => {
                m.unknown_seq.push(fp);
                return Err(Lost);
            }
            Ok(Ok((name, _))) => m.ack_seq(name, fp),
            Ok(Err(code)) => m.violation(format!("create /seq/n- failed: {code}")),
        }
        drop(m);
        self.sh.acked_one();
        Ok(())
    }

    async fn create_named(&mut self) -> Result<(), Lost> {
        let (id, round, k) = (self.id, self.round, self.k);
        let path = format!("/cd/w{id}-r{round}-{k}");
        let data = self.small(&path);
        let fp = fingerprint(&data);
        let r = self
            .c
            .create(&path, Some(&data), open_acl(), CreateMode::Persistent)
            .await;
        let mut m = self.sh.model();
        match r {
            Err(Lost) => {
                m.unknown.insert(path, fp);
                return Err(Lost);
            }
            Ok(Ok((got, _))) if got == path => m.ack_create(path, fp),
            Ok(Ok((got, _))) => m.violation(format!("create {path} answered {got}")),
            Ok(Err(code)) => m.violation(format!("create {path} failed: {code}")),
        }
        drop(m);
        self.sh.acked_one();
        Ok(())
    }

    async fn delete(&mut self) -> Result<(), Lost> {
        let claimed = self.sh.model().claim(&mut self.rng);
        let Some((path, _)) = claimed else {
            return Ok(());
        };
        let r = self.c.delete(&path, -1).await;
        let mut m = self.sh.model();
        match r {
            Err(Lost) => {
                m.lost_delete(&path);
                return Err(Lost);
            }
            Ok(Ok(())) => m.ack_delete(&path),
            Ok(Err(code)) => {
                m.violation(format!(
                    "delete of {path}, an acknowledged node, failed: {code}"
                ));
                m.lost_delete(&path);
            }
        }
        drop(m);
        self.sh.acked_one();
        Ok(())
    }

    async fn set_counter(&mut self) -> Result<(), Lost> {
        let i = self.rng.below(COUNTERS as u64) as usize;
        let v = self.known[i];
        let (id, round, k) = (self.id, self.round, self.k);
        let data = self.big(&format!("c{i} v{} w{id} r{round} k{k}", v + 1));
        let fp = fingerprint(&data);
        let r = self.c.set_data(&ctr_path(i), &data, v).await;
        let refresh = {
            let mut m = self.sh.model();
            match r {
                Err(Lost) => {
                    m.counters[i].candidates.push((v + 1, fp));
                    return Err(Lost);
                }
                Ok(Ok(stat)) => {
                    if stat.version != v + 1 {
                        m.violation(format!(
                            "setData {} with version {v} answered version {}",
                            ctr_path(i),
                            stat.version
                        ));
                    }
                    m.ack_counter(i, stat.version, fp);
                    self.known[i] = stat.version;
                    false
                }
                Ok(Err(ErrorCode::BadVersion)) => true,
                Ok(Err(code)) => {
                    m.violation(format!("setData {} failed: {code}", ctr_path(i)));
                    false
                }
            }
        };
        self.sh.acked_one();
        if refresh {
            self.refresh(i).await?;
        }
        Ok(())
    }

    async fn multi(&mut self) -> Result<(), Lost> {
        let (id, round, k) = (self.id, self.round, self.k);
        let a = format!("/multi/w{id}-r{round}-{k}-a");
        let b = format!("/multi/w{id}-r{round}-{k}-b");
        let (da, db) = (self.small(&a), self.small(&b));
        let (fa, fb) = (fingerprint(&da), fingerprint(&db));
        let i = self.rng.below(COUNTERS as u64) as usize;
        let v = self.known[i];
        let dc = self.big(&format!("multi c{i} v{} w{id} r{round} k{k}", v + 1));
        let fc = fingerprint(&dc);
        let del = if self.rng.chance(50) {
            let claimed = self.sh.model().claim(&mut self.rng);
            claimed.map(|(p, _)| p)
        } else {
            None
        };
        let create = |path: &str, data: Vec<u8>| MultiOp::Create {
            op: OpCode::Create,
            req: CreateRequest {
                path: path.to_owned(),
                data: Some(data),
                acl: open_acl(),
                flags: CreateMode::Persistent.code(),
            },
        };
        let mut ops = vec![
            create(&a, da),
            create(&b, db),
            MultiOp::SetData(SetDataRequest {
                path: ctr_path(i),
                data: Some(dc),
                version: v,
            }),
        ];
        if let Some(d) = &del {
            ops.push(MultiOp::Delete(DeleteRequest {
                path: d.clone(),
                version: -1,
            }));
        }
        let r = self.c.multi(ops).await;
        let refresh = {
            let mut m = self.sh.model();
            let results = match r {
                Err(Lost) => {
                    m.unknown.insert(a, fa);
                    m.unknown.insert(b, fb);
                    m.counters[i].candidates.push((v + 1, fc));
                    if let Some(d) = &del {
                        m.lost_delete(d);
                    }
                    return Err(Lost);
                }
                Ok(Err(code)) => {
                    m.violation(format!("multi failed as a request: {code}"));
                    return Ok(());
                }
                Ok(Ok(results)) => results,
            };
            if results.iter().any(|r| matches!(r, MultiResult::Error(_))) {
                // Only the version check can fail; nothing of the multi may have happened.
                let bad_version = ErrorCode::BadVersion.code();
                if !matches!(results.get(2), Some(MultiResult::Error(e)) if *e == bad_version) {
                    m.violation(format!("multi failed unexpectedly: {results:?}"));
                }
                m.absent.insert(a);
                m.absent.insert(b);
                if let Some(d) = del {
                    m.pool.push(d);
                }
                true
            } else {
                let expect_len = if del.is_some() { 4 } else { 3 };
                let shape_ok = results.len() == expect_len
                    && results[0] == MultiResult::Create(a.clone())
                    && results[1] == MultiResult::Create(b.clone());
                if !shape_ok {
                    m.violation(format!("multi answered {results:?}"));
                }
                m.ack_create(a, fa);
                m.ack_create(b, fb);
                match results.get(2) {
                    Some(MultiResult::SetData(stat)) => {
                        if stat.version != v + 1 {
                            m.violation(format!(
                                "multi setData {} with version {v} answered version {}",
                                ctr_path(i),
                                stat.version
                            ));
                        }
                        m.ack_counter(i, stat.version, fc);
                        self.known[i] = stat.version;
                    }
                    other => m.violation(format!("multi setData result {other:?}")),
                }
                if let Some(d) = &del {
                    m.ack_delete(d);
                }
                false
            }
        };
        self.sh.acked_one();
        if refresh {
            self.refresh(i).await?;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Ephemerals

/// A session that owned an ephemeral when the server was killed.
struct DeadSession {
    id: i64,
    passwd: Vec<u8>,
    last_zxid: i64,
    path: String,
}

struct EphPair {
    gone: DeadSession,
    stay: DeadSession,
}

/// One ephemeral owner: its node, the stop signal for its pinger, and the pinger (which hands
/// the client back with whether it lost the connection while the server was running).
struct Holder {
    path: String,
    stop: oneshot::Sender<()>,
    task: JoinHandle<(Client, bool)>,
}

/// This round's two ephemeral owners, kept alive by pings until the kill.
struct EphLive {
    holders: Vec<Holder>,
}

async fn keepalive(
    mut c: Client,
    mut stop: oneshot::Receiver<()>,
    sh: Arc<Shared>,
) -> (Client, bool) {
    loop {
        tokio::select! {
            _ = &mut stop => return (c, false),
            _ = tokio::time::sleep(Duration::from_millis(200)) => {
                if c.ping().await.is_err() {
                    return (c, !sh.killed.load(Ordering::SeqCst));
                }
            }
        }
    }
}

impl EphLive {
    async fn create(addr: SocketAddr, round: u32, sh: &Arc<Shared>) -> EphLive {
        let mut holders = Vec::new();
        for which in ["gone", "stay"] {
            let path = format!("/eph/r{round}-{which}");
            let mut c = Client::connect(addr, EPH_TIMEOUT_MS).await;
            assert_eq!(c.timeout_ms, EPH_TIMEOUT_MS, "negotiated session timeout");
            must(
                c.create(
                    &path,
                    Some(which.as_bytes()),
                    open_acl(),
                    CreateMode::Ephemeral,
                )
                .await,
                &format!("create ephemeral {path}"),
            );
            let (tx, rx) = oneshot::channel();
            holders.push(Holder {
                path,
                stop: tx,
                task: tokio::spawn(keepalive(c, rx, sh.clone())),
            });
        }
        EphLive { holders }
    }

    /// After the kill: the two sessions' credentials.
    async fn stop(self) -> EphPair {
        let mut dead = Vec::new();
        for Holder { path, stop, task } in self.holders {
            let _ = stop.send(());
            let (c, lost_early) = task.await.expect("keepalive task");
            assert!(
                !lost_early,
                "the session owning {path} lost its connection while the server was running \
                 (pinged every 200 ms, timeout {EPH_TIMEOUT_MS} ms)"
            );
            dead.push(DeadSession {
                id: c.session_id,
                passwd: c.passwd.clone(),
                last_zxid: c.last_zxid,
                path,
            });
        }
        let stay = dead.pop().expect("stay");
        let gone = dead.pop().expect("gone");
        EphPair { gone, stay }
    }
}

/// Right after a restart: resume `stay` at once, wait for `gone`'s ephemeral to go, check
/// `stay`'s is still there, that `gone`'s session is refused, then close `stay`.
async fn check_ephemerals(
    addr: SocketAddr,
    spawned_at: Instant,
    e: EphPair,
) -> Result<EphPair, String> {
    let (gone, stay) = (&e.gone, &e.stay);
    let mut c = match Client::resume(addr, stay.id, &stay.passwd, EPH_TIMEOUT_MS, stay.last_zxid)
        .await
    {
        Ok(Some(c)) => c,
        Ok(None) => {
            return Err(format!(
                "session {:#x} was refused right after the restart, within its {EPH_TIMEOUT_MS} ms timeout",
                stay.id
            ))
        }
        Err(Lost) => return Err("connection lost resuming a session".into()),
    };
    if c.session_id != stay.id {
        return Err(format!(
            "resuming session {:#x} gave session {:#x}",
            stay.id, c.session_id
        ));
    }
    let started = Instant::now();
    let deadline = started + Duration::from_secs(15);
    loop {
        match c.exists(&gone.path).await {
            Ok(Err(ErrorCode::NoNode)) => break,
            Ok(Ok(_)) => {}
            other => return Err(format!("exists {}: {other:?}", gone.path)),
        }
        if Instant::now() > deadline {
            return Err(format!(
                "ephemeral {} of session {:#x}, which never came back, still exists {:?} after the restart",
                gone.path,
                gone.id,
                started.elapsed()
            ));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The session's timeout restarts when the server restores it, so it cannot have expired
    // before the new process existed for that long (one tick of slack for expiry buckets).
    let since_spawn = spawned_at.elapsed();
    let earliest = Duration::from_millis(EPH_TIMEOUT_MS as u64 - TICK_MS);
    if since_spawn < earliest {
        return Err(format!(
            "ephemeral {} of session {:#x} was gone {since_spawn:?} after the server process was \
             started, before the session's {EPH_TIMEOUT_MS} ms timeout",
            gone.path, gone.id
        ));
    }
    match c.exists(&stay.path).await {
        Ok(Ok(st)) if st.ephemeral_owner == stay.id => {}
        other => {
            return Err(format!(
                "ephemeral {} of the resumed session {:#x} is not there after {:?}: {other:?}",
                stay.path,
                stay.id,
                started.elapsed()
            ))
        }
    }
    match Client::resume(addr, gone.id, &gone.passwd, EPH_TIMEOUT_MS, gone.last_zxid).await {
        Ok(None) => {}
        Ok(Some(_)) => {
            return Err(format!(
                "session {:#x} could be resumed after it expired",
                gone.id
            ))
        }
        Err(Lost) => return Err("connection lost resuming an expired session".into()),
    }
    if c.close_session().await.is_err() {
        return Err("connection lost closing a resumed session".into());
    }
    Ok(e)
}

// ---------------------------------------------------------------------------------------------
// Verification after a restart

async fn verify(addr: SocketAddr, sh: &Shared, round: u32, rng: &mut Rng) {
    let mut c = Client::connect(addr, 30_000).await;
    let mut m = std::mem::take(&mut *sh.model());
    let before = m.violations.len();
    let mut observed = HashSet::new();
    for parent in PARENTS {
        for k in must(c.children(parent).await, &format!("getChildren {parent}")) {
            observed.insert(format!("{parent}/{k}"));
        }
    }
    let mut missing: Vec<&String> = m
        .present
        .keys()
        .filter(|p| !observed.contains(*p))
        .collect();
    missing.sort();
    let missing: Vec<String> = missing.into_iter().cloned().collect();
    for p in missing {
        m.violation(format!("acknowledged node {p} is missing"));
    }
    let mut to_read = Vec::new();
    let mut max_seen = m.max_seq;
    for p in &observed {
        if let Some(n) = p.strip_prefix("/seq/").and_then(seq_number) {
            max_seen = max_seen.max(n);
        }
        if m.present.contains_key(p) || m.unknown.contains_key(p) || p.starts_with("/seq/") {
            if m.absent.contains(p) {
                m.violation(format!("{p} exists although it was deleted"));
            }
            to_read.push(p.clone());
        } else if m.absent.contains(p) {
            m.violation(format!(
                "{p} exists although its delete (or its multi's failure) was acknowledged"
            ));
        } else {
            m.violation(format!("{p} exists but no client created it"));
        }
    }
    to_read.sort();
    let reqs: Vec<_> = to_read.iter().map(|p| get_data_req(p)).collect();
    let replies = c.call_all(&reqs).await.expect("connection lost verifying");
    for (p, r) in to_read.iter().zip(replies) {
        let data = match r.ok() {
            Ok(b) => GetDataResponse::from_bytes(b)
                .expect("GetDataResponse")
                .data
                .unwrap_or_default(),
            Err(code) => {
                m.violation(format!("getData {p}: {code}"));
                continue;
            }
        };
        let fp = fingerprint(&data);
        if let Some(&want) = m.present.get(p) {
            if want != fp {
                m.violation(format!("{p} does not hold its acknowledged data"));
            }
        } else if let Some(want) = m.unknown.remove(p) {
            if want != fp {
                m.violation(format!(
                    "{p} (written by a request in flight at the kill) holds data nobody wrote"
                ));
            }
            m.ack_create(p.clone(), fp);
        } else if let Some(i) = m.unknown_seq.iter().position(|&f| f == fp) {
            m.unknown_seq.swap_remove(i);
            m.ack_seq(p.clone(), fp);
        } else {
            m.violation(format!(
                "{p} exists but matches no acknowledged or in-flight sequential create"
            ));
        }
    }
    // Indeterminate ops the restarted server does not show did not happen, for good.
    let gone: Vec<String> = m.unknown.drain().map(|(p, _)| p).collect();
    m.absent.extend(gone);
    m.unknown_seq.clear();
    for i in 0..COUNTERS {
        let (data, stat) = must(c.get_data(&ctr_path(i)).await, "getData counter");
        let fp = fingerprint(data.as_deref().unwrap_or_default());
        let floor = m.counters[i].floor();
        m.check_counter_read(i, floor, stat.version, fp, "after the restart");
        let known = m.counters[i].acked.contains_key(&stat.version);
        if !known && !m.counters[i].candidates.contains(&(stat.version, fp)) {
            m.violation(format!(
                "{} is at version {} with data no request wrote for that version",
                ctr_path(i),
                stat.version
            ));
        }
        m.counters[i].acked.insert(stat.version, fp);
        m.counters[i].candidates.clear();
    }
    for k in must(c.children("/eph").await, "getChildren /eph") {
        let p = format!("/eph/{k}");
        if m.absent.contains(&p) {
            m.violation(format!("ephemeral {p} is back after its session ended"));
        }
    }
    // The next sequential name is above every one handed out before.
    let data = payload(rng, &format!("probe r{round}"), 16);
    let fp = fingerprint(&data);
    let (name, _) = must(
        c.create(
            "/seq/n-",
            Some(&data),
            open_acl(),
            CreateMode::PersistentSequential,
        )
        .await,
        "sequential probe",
    );
    match seq_number(&name) {
        Some(n) if n > max_seen => {}
        _ => m.violation(format!(
            "the first sequential create after the restart got {name}, not above {max_seen}"
        )),
    }
    m.ack_seq(name, fp);
    let _ = c.close_session().await;
    let found: Vec<String> = m.violations[before..].to_vec();
    *sh.model() = m;
    assert!(
        found.is_empty(),
        "round {round}: {} violations after the restart:\n{}",
        found.len(),
        found.join("\n")
    );
}

// ---------------------------------------------------------------------------------------------
// The test

#[derive(Default)]
struct RunStats {
    snapshots: HashSet<String>,
    logs: HashSet<String>,
    biggest_log: u64,
    acked: u64,
    early_kills: u32,
    purges: u32,
}

impl RunStats {
    fn look(&mut self, dir: &ZkDir) {
        for (_, p) in dir.snapshots() {
            self.snapshots.insert(p.display().to_string());
        }
        for (_, p) in dir.logs() {
            self.logs.insert(p.display().to_string());
            let len = std::fs::metadata(&p).map(|m| m.len()).unwrap_or(0);
            self.biggest_log = self.biggest_log.max(len);
        }
    }
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}

#[tokio::test]
async fn acknowledged_writes_survive_repeated_sigkill() {
    let rounds = env_u64("ZKRS_CRASH_ROUNDS").map_or(DEFAULT_ROUNDS, |r| r.max(1) as u32);
    let seed = env_u64("ZKRS_CRASH_SEED").unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64)
    });
    eprintln!("durability_crash: seed {seed}, {rounds} rounds (ZKRS_CRASH_SEED={seed} to repeat)");
    let prev = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        eprintln!("durability_crash failed: seed {seed}; rerun with ZKRS_CRASH_SEED={seed}");
        prev(info);
    }));
    let limit = Duration::from_secs(120 + 30 * u64::from(rounds));
    tokio::time::timeout(limit, Box::pin(crash_rounds(rounds, seed)))
        .await
        .unwrap_or_else(|_| panic!("the crash test did not finish within {limit:?}"));
}

async fn crash_rounds(rounds: u32, seed: u64) {
    let t0 = Instant::now();
    let mut dir = ZkDir::new(
        "crash",
        false,
        &[
            ("tickTime", &TICK_MS.to_string()),
            ("maxSessionTimeout", "4000"),
            ("snapCount", "50"),
            ("preAllocSize", "64"),
            ("forceSync", "yes"),
        ],
    );
    let mut rng = Rng::new(seed);
    let (acked_tx, mut acked_rx) = watch::channel(0u64);
    let sh = Arc::new(Shared {
        model: Mutex::new(Model::default()),
        stop: AtomicBool::new(false),
        killed: AtomicBool::new(false),
        acked: acked_tx,
        unexpected_losses: AtomicU64::new(0),
    });
    let mut stats = RunStats::default();
    let mut server = dir.start().await;
    {
        let mut c = Client::connect(server.addr, 30_000).await;
        for p in PARENTS.iter().chain(&["/ctr", "/eph"]) {
            must(
                c.create(p, Some(b""), open_acl(), CreateMode::Persistent)
                    .await,
                p,
            );
        }
        sh.model().counters.resize_with(COUNTERS, Counter::default);
        for i in 0..COUNTERS {
            let data = format!("c{i} v0").into_bytes();
            must(
                c.create(
                    &ctr_path(i),
                    Some(&data),
                    open_acl(),
                    CreateMode::Persistent,
                )
                .await,
                "create counter",
            );
            sh.model().counters[i].acked.insert(0, fingerprint(&data));
        }
        let _ = c.close_session().await;
    }
    let mut prev_eph: Option<EphPair> = None;
    for round in 1..=rounds {
        let round_start = Instant::now();
        // Resume / wait out the previous round's ephemeral owners while the rest goes on.
        let eph_check = prev_eph
            .take()
            .map(|e| tokio::spawn(check_ephemerals(server.addr, server.spawned_at, e)));
        if round > 1 {
            verify(server.addr, &sh, round, &mut rng).await;
        }
        let eph = EphLive::create(server.addr, round, &sh).await;
        sh.stop.store(false, Ordering::SeqCst);
        sh.killed.store(false, Ordering::SeqCst);
        let workers: Vec<_> = (0..WORKERS)
            .map(|w| {
                tokio::spawn(run_worker(
                    w,
                    round,
                    rng.next_u64(),
                    server.addr,
                    sh.clone(),
                ))
            })
            .collect();
        if let Some(h) = eph_check {
            let pair = h
                .await
                .expect("ephemeral check task")
                .unwrap_or_else(|e| panic!("round {round}: {e}"));
            let mut m = sh.model();
            m.absent.insert(pair.gone.path);
            m.absent.insert(pair.stay.path);
        }
        // Kill after a random number of further acknowledged operations (or 3 s).
        let base = *acked_rx.borrow_and_update();
        let extra = rng.range(1, 400);
        let _ = tokio::time::timeout(
            Duration::from_secs(3),
            acked_rx.wait_for(|n| *n >= base + extra),
        )
        .await;
        if let Some(st) = server.try_wait() {
            panic!(
                "round {round}: zk-server exited by itself ({st}); stderr tail:\n{}",
                server.stderr_tail(40)
            );
        }
        sh.killed.store(true, Ordering::SeqCst);
        sh.stop.store(true, Ordering::SeqCst);
        server.kill9();
        for w in workers {
            if let Err(e) = w.await {
                std::panic::resume_unwind(e.into_panic());
            }
        }
        prev_eph = Some(eph.stop().await);
        let ops = *acked_rx.borrow_and_update();
        stats.look(&dir);
        {
            let m = sh.model();
            assert!(
                m.violations.is_empty(),
                "round {round}: violations while running:\n{}",
                m.violations.join("\n")
            );
        }
        let mut note = String::new();
        if round % 5 == 0 {
            let before = dir.snapshots().len();
            let out = dir.purge(3);
            assert!(
                out.status.success(),
                "purge failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert_eq!(dir.snapshots().len(), before.min(3), "purge -n 3 keeps 3");
            stats.purges += 1;
            note.push_str(" +purge");
        }
        if rng.chance(20) {
            // Crash again while starting: during recovery, torn-tail repair or the start-up
            // snapshot.
            let mut p = dir.spawn();
            tokio::time::sleep(Duration::from_millis(rng.range(0, 80))).await;
            p.kill9();
            stats.early_kills += 1;
            note.push_str(" +early-kill");
        }
        server = dir.start().await;
        eprintln!(
            "round {round}: killed after {} acknowledged ops ({} in total), {} snapshots / {} logs on disk{note}, {:?}",
            ops - stats.acked,
            ops,
            dir.snapshots().len(),
            dir.logs().len(),
            round_start.elapsed()
        );
        stats.acked = ops;
    }
    let eph_check = prev_eph
        .take()
        .map(|e| tokio::spawn(check_ephemerals(server.addr, server.spawned_at, e)));
    verify(server.addr, &sh, rounds + 1, &mut rng).await;
    if let Some(h) = eph_check {
        h.await
            .expect("ephemeral check task")
            .unwrap_or_else(|e| panic!("after the last round: {e}"));
    }
    let st = server.sigterm().await;
    assert!(st.success(), "exit status after SIGTERM: {st}");
    stats.look(&dir);
    let m = sh.model();
    eprintln!(
        "durability_crash: {rounds} rounds in {:?}: {} acknowledged ops, {} nodes present, {} absent, \
         {} snapshot and {} log files seen, biggest log {} bytes, {} early kills, {} purges, \
         {} unexpected connection losses",
        t0.elapsed(),
        stats.acked,
        m.present.len(),
        m.absent.len(),
        stats.snapshots.len(),
        stats.logs.len(),
        stats.biggest_log,
        stats.early_kills,
        stats.purges,
        sh.unexpected_losses.load(Ordering::SeqCst)
    );
    // The run must have exercised what it claims to.
    assert!(
        stats.acked > u64::from(rounds),
        "hardly any writes were acknowledged"
    );
    assert!(
        stats.snapshots.len() >= 3,
        "expected snapshots to be taken, saw {:?}",
        stats.snapshots
    );
    assert!(
        stats.logs.len() >= 3,
        "expected log rolls, saw {:?}",
        stats.logs
    );
    if rounds >= 5 {
        assert!(
            stats.biggest_log > 16 + 64 * 1024,
            "no log file grew past its first 64 KiB preallocation chunk"
        );
    }
}
