//! A seeded, deterministic simulator for Zab peers.
//!
//! It drives real [`zab::Peer`]s over a simulated network and simulated disks:
//! - election messages may be lost, duplicated, delayed and reordered;
//! - quorum messages travel over FIFO connections that a learner opens with FOLLOWERINFO; a lost
//!   message breaks its connection, silently or with a reset both ends notice;
//! - partitions drop everything between two groups;
//! - disks write appended entries in the background after a random (sometimes long) delay; a
//!   crash loses whatever was not yet durable; epochs, truncations and snapshots are durable at
//!   once;
//! - crashed peers restart from what their disk kept, with the state replayed from it.
//!
//! After every event it checks Zab's invariants (names from the Zab papers and the TLA+ spec):
//! Leadership, Integrity, PrefixConsistency/Agreement/TotalOrder (one committed sequence that
//! every delivery agrees with), LocalPrimaryOrder and GlobalPrimaryOrder (counters of an epoch
//! consecutive, epochs increasing), and PrimaryIntegrity (an established leader holds every
//! earlier committed transaction). A violation panics with the seed.

#![allow(dead_code)]

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};

use bytes::Bytes;
use zab::{
    Action, Config, Entry, Epoch, Message, Peer, PeerId, Persisted, QuorumVerifier, Role, Zxid,
};

/// Panics with the seed and the command that replays it. A macro, so that it only borrows the
/// `seed` and `now` fields.
macro_rules! fail {
    ($w:expr, ($($arg:tt)*)) => {
        die($w.seed, $w.now, format!($($arg)*))
    };
}

fn die(seed: u64, now: u64, what: String) -> ! {
    panic!(
        "seed {seed}: t={now}ms: {what}\nreplay: ZAB_SIM_SEED={seed} cargo test -p zab --test simulation -- seeds --nocapture"
    );
}

fn tracing() -> bool {
    std::env::var("ZAB_SIM_TRACE").is_ok()
}

/// SplitMix64: small, seedable, and the same on every platform.
#[derive(Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x5DEE_CE66_D1CE_4E5B)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..hi` (`lo` if empty).
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        if hi <= lo {
            lo
        } else {
            lo + self.next_u64() % (hi - lo)
        }
    }

    pub fn chance(&mut self, p: f64) -> bool {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }

    pub fn pick<T: Copy>(&mut self, items: &[T]) -> Option<T> {
        if items.is_empty() {
            None
        } else {
            Some(items[self.range(0, items.len() as u64) as usize])
        }
    }
}

/// Fault rates and timings for one run.
#[derive(Clone, Debug)]
pub struct Faults {
    pub election_loss: f64,
    pub election_dup: f64,
    pub quorum_loss: f64,
    /// Of lost quorum messages, the share that resets the connection visibly.
    pub reset_share: f64,
    pub max_delay_ms: u64,
    pub disk_min_ms: u64,
    pub disk_max_ms: u64,
    pub slow_disk: f64,
    /// The disk reports entries durable as soon as they are appended (before they are): the
    /// planted "ACK before persisting" bug the checks must catch.
    pub lying_disk: bool,
}

impl Faults {
    pub fn none() -> Faults {
        Faults {
            election_loss: 0.0,
            election_dup: 0.0,
            quorum_loss: 0.0,
            reset_share: 0.5,
            max_delay_ms: 5,
            disk_min_ms: 1,
            disk_max_ms: 5,
            slow_disk: 0.0,
            lying_disk: false,
        }
    }

    pub fn random(rng: &mut Rng) -> Faults {
        Faults {
            election_loss: rng.range(0, 30) as f64 / 100.0,
            election_dup: rng.range(0, 10) as f64 / 100.0,
            quorum_loss: rng.range(0, 3) as f64 / 1000.0,
            reset_share: 0.5,
            max_delay_ms: rng.range(1, 60),
            disk_min_ms: 0,
            disk_max_ms: rng.range(1, 40),
            slow_disk: rng.range(0, 5) as f64 / 100.0,
            lying_disk: false,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Event {
    /// A message; `conn` is the quorum connection it was sent on (None: election port).
    Msg {
        from: PeerId,
        to: PeerId,
        conn: Option<u64>,
        msg: MsgBox,
    },
    DiskSync {
        node: PeerId,
        incarnation: u64,
    },
    Disconnected {
        node: PeerId,
        peer: PeerId,
        incarnation: u64,
    },
}

/// `Message` has no ordering; the queue needs one, so wrap it and order by nothing.
#[derive(Clone, Debug, PartialEq, Eq)]
struct MsgBox(Message);

impl PartialOrd for MsgBox {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for MsgBox {
    fn cmp(&self, _: &Self) -> std::cmp::Ordering {
        std::cmp::Ordering::Equal
    }
}

#[derive(Default)]
struct Disk {
    accepted: Epoch,
    current: Epoch,
    /// The last state image received by SNAP (every entry it holds).
    snap: Vec<Entry>,
    /// Durable log after the image.
    log: Vec<Entry>,
    /// Appended, not yet durable.
    volatile: Vec<Entry>,
    sync_pending: bool,
}

impl Disk {
    fn last(&self) -> Zxid {
        self.volatile
            .last()
            .or(self.log.last())
            .or(self.snap.last())
            .map_or(Zxid::ZERO, |e| e.zxid)
    }
}

pub struct Node {
    pub peer: Option<Peer>,
    disk: Disk,
    /// The replicated state: every transaction applied, in order.
    pub state: Vec<Entry>,
    /// How much of `state` has been checked against the committed sequence.
    verified: usize,
    pub role: Role,
    incarnation: u64,
    pub syncs_ready: usize,
}

/// One simulated ensemble.
pub struct World {
    pub seed: u64,
    pub now: u64,
    pub rng: Rng,
    pub faults: Faults,
    pub nodes: BTreeMap<PeerId, Node>,
    cfgs: BTreeMap<PeerId, Config>,
    queue: BinaryHeap<Reverse<(u64, u64, Event)>>,
    seq: u64,
    /// Quorum connections by unordered pair: (id, up).
    conns: BTreeMap<(PeerId, PeerId), (u64, bool)>,
    next_conn: u64,
    /// FIFO: the latest delivery time scheduled per connection direction.
    fifo: BTreeMap<(u64, PeerId), u64>,
    /// Pairs that cannot talk.
    cut: BTreeSet<(PeerId, PeerId)>,
    /// The committed sequence every delivery must agree with.
    pub committed: Vec<Entry>,
    proposed: BTreeMap<Zxid, Bytes>,
    leaders: BTreeMap<Epoch, PeerId>,
    pub proposals: u64,
    pub elections: u64,
    pub events: u64,
    /// With `record`, every action every peer emits, in the order it was carried out (for
    /// scenario tests that assert what was sent, persisted or delivered, and in which order).
    pub record: bool,
    pub log: Vec<(u64, PeerId, Action)>,
    /// With `record`, every message handed to the network (including the SNAP the driver
    /// builds for `SendSnapshot`), as (time, from, to, message), whether or not it arrives.
    pub wire: Vec<(u64, PeerId, PeerId, Message)>,
    /// Disks that make nothing durable until released (a stalled fsync).
    held: BTreeSet<PeerId>,
    /// Peers [`World::build`] leaves down (start them with [`World::restart`]).
    pub keep_down: BTreeSet<PeerId>,
}

fn pair(a: PeerId, b: PeerId) -> (PeerId, PeerId) {
    if a < b {
        (a, b)
    } else {
        (b, a)
    }
}

pub fn encode_state(entries: &[Entry]) -> Bytes {
    let mut out = Vec::new();
    for e in entries {
        out.extend_from_slice(&e.zxid.0.to_be_bytes());
        out.extend_from_slice(&(e.data.len() as u32).to_be_bytes());
        out.extend_from_slice(&e.data);
    }
    Bytes::from(out)
}

pub fn decode_state(mut b: &[u8]) -> Vec<Entry> {
    let mut out = Vec::new();
    while b.len() >= 12 {
        let zxid = Zxid(u64::from_be_bytes(b[..8].try_into().unwrap()));
        let len = u32::from_be_bytes(b[8..12].try_into().unwrap()) as usize;
        out.push(Entry {
            zxid,
            data: Bytes::copy_from_slice(&b[12..12 + len]),
        });
        b = &b[12 + len..];
    }
    out
}

impl World {
    /// An ensemble of `voters` and `observers` (ids), all starting empty.
    pub fn new(
        seed: u64,
        voters: &[u64],
        observers: &[u64],
        faults: Faults,
        tune: impl Fn(&mut Config),
    ) -> World {
        World::build(seed, voters, observers, faults, tune, |_| {})
    }

    /// As [`World::new`], with `prepare` run before any peer starts (to seed disks with
    /// [`World::preload`], or turn on `record`).
    pub fn build(
        seed: u64,
        voters: &[u64],
        observers: &[u64],
        faults: Faults,
        tune: impl Fn(&mut Config),
        prepare: impl FnOnce(&mut World),
    ) -> World {
        let quorum = QuorumVerifier::majority(voters.iter().map(|&i| PeerId(i)));
        let obs: BTreeSet<PeerId> = observers.iter().map(|&i| PeerId(i)).collect();
        let mut w = World {
            seed,
            now: 0,
            rng: Rng::new(seed),
            faults,
            nodes: BTreeMap::new(),
            cfgs: BTreeMap::new(),
            queue: BinaryHeap::new(),
            seq: 0,
            conns: BTreeMap::new(),
            next_conn: 1,
            fifo: BTreeMap::new(),
            cut: BTreeSet::new(),
            committed: Vec::new(),
            proposed: BTreeMap::new(),
            leaders: BTreeMap::new(),
            proposals: 0,
            elections: 0,
            events: 0,
            record: false,
            log: Vec::new(),
            wire: Vec::new(),
            held: BTreeSet::new(),
            keep_down: BTreeSet::new(),
        };
        for &id in voters.iter().chain(observers) {
            let mut cfg = Config::new(PeerId(id), quorum.clone(), obs.clone());
            cfg.tick_ms = 100;
            cfg.init_limit = 10;
            cfg.sync_limit = 5;
            cfg.finalize_wait_ms = 50;
            cfg.max_notification_interval_ms = 800;
            cfg.history_limit = 50;
            tune(&mut cfg);
            w.cfgs.insert(PeerId(id), cfg);
            w.nodes.insert(
                PeerId(id),
                Node {
                    peer: None,
                    disk: Disk::default(),
                    state: Vec::new(),
                    verified: 0,
                    role: Role::Looking,
                    incarnation: 0,
                    syncs_ready: 0,
                },
            );
        }
        prepare(&mut w);
        let ids: Vec<PeerId> = w
            .nodes
            .keys()
            .copied()
            .filter(|id| !w.keep_down.contains(id))
            .collect();
        for id in ids {
            w.start(id);
        }
        w
    }

    /// The command that replays this run.
    pub fn replay_hint(&self) -> String {
        format!(
            "ZAB_SIM_SEED={} cargo test -p zab --test simulation -- seeds --nocapture",
            self.seed
        )
    }

    fn push(&mut self, at: u64, ev: Event) {
        self.seq += 1;
        self.queue.push(Reverse((at, self.seq, ev)));
    }

    fn start(&mut self, id: PeerId) {
        if tracing() {
            println!("{:>6} {id} START", self.now);
        }
        let cfg = self.cfgs[&id].clone();
        let now = self.now;
        let node = self.nodes.get_mut(&id).unwrap();
        node.incarnation += 1;
        let d = &node.disk;
        node.state = d.snap.iter().chain(d.log.iter()).cloned().collect();
        node.verified = 0;
        node.role = Role::Looking;
        let persisted = Persisted {
            accepted_epoch: d.accepted,
            current_epoch: d.current,
            base: d.snap.last().map_or(Zxid::ZERO, |e| e.zxid),
            entries: d.log.clone(),
        };
        node.peer = Some(Peer::new(cfg, persisted, now));
        self.drain(id);
    }

    pub fn alive(&self, id: PeerId) -> bool {
        self.nodes[&id].peer.is_some()
    }

    /// kill -9: the peer stops, unsynced appends are lost, connections reset.
    pub fn crash(&mut self, id: PeerId) {
        if tracing() {
            println!("{:>6} {id} CRASH", self.now);
        }
        let node = self.nodes.get_mut(&id).unwrap();
        if node.peer.is_none() {
            return;
        }
        node.peer = None;
        node.disk.volatile.clear();
        node.disk.sync_pending = false;
        node.role = Role::Looking;
        let others: Vec<PeerId> = self.nodes.keys().copied().filter(|o| *o != id).collect();
        for o in others {
            self.reset_conn(id, o, true);
        }
    }

    pub fn restart(&mut self, id: PeerId) {
        if !self.alive(id) {
            self.start(id);
        }
    }

    /// Cuts every link between `a` and the rest.
    pub fn isolate(&mut self, a: PeerId) {
        let others: Vec<PeerId> = self.nodes.keys().copied().filter(|o| *o != a).collect();
        for o in others {
            self.cut.insert(pair(a, o));
        }
    }

    pub fn partition(&mut self, side: &[PeerId]) {
        let all: Vec<PeerId> = self.nodes.keys().copied().collect();
        for &a in side {
            for &b in &all {
                if !side.contains(&b) {
                    self.cut.insert(pair(a, b));
                }
            }
        }
    }

    pub fn heal(&mut self) {
        self.cut.clear();
    }

    fn reachable(&self, a: PeerId, b: PeerId) -> bool {
        !self.cut.contains(&pair(a, b))
    }

    /// Takes a quorum connection down; with `visible`, both ends are told (a reset).
    fn reset_conn(&mut self, a: PeerId, b: PeerId, visible: bool) {
        let Some((_, up)) = self.conns.get_mut(&pair(a, b)) else {
            return;
        };
        if !*up {
            return;
        }
        *up = false;
        if visible {
            for (node, peer) in [(a, b), (b, a)] {
                if let Some(n) = self.nodes.get(&node) {
                    if n.peer.is_some() {
                        let incarnation = n.incarnation;
                        let at = self.now;
                        self.push(
                            at,
                            Event::Disconnected {
                                node,
                                peer,
                                incarnation,
                            },
                        );
                    }
                }
            }
        }
    }

    fn delay(&mut self) -> u64 {
        let max = self.faults.max_delay_ms.max(1);
        self.rng.range(0, max + 1)
    }

    fn send(&mut self, from: PeerId, to: PeerId, msg: Message) {
        if self.record {
            self.wire.push((self.now, from, to, msg.clone()));
        }
        if msg.is_election() {
            if !self.reachable(from, to) || self.rng.chance(self.faults.election_loss) {
                return;
            }
            let copies = if self.rng.chance(self.faults.election_dup) {
                2
            } else {
                1
            };
            for _ in 0..copies {
                let at = self.now + self.delay();
                self.push(
                    at,
                    Event::Msg {
                        from,
                        to,
                        conn: None,
                        msg: MsgBox(msg.clone()),
                    },
                );
            }
            return;
        }
        let key = pair(from, to);
        if matches!(msg, Message::FollowerInfo { .. }) {
            // A learner dials: any older connection is replaced (its other end sees a reset).
            self.reset_conn(from, to, true);
            let id = self.next_conn;
            self.next_conn += 1;
            self.conns.insert(key, (id, true));
            if !self.reachable(from, to) {
                self.reset_conn(from, to, true);
                return;
            }
        }
        let Some(&(conn, up)) = self.conns.get(&key) else {
            return;
        };
        if !up {
            return;
        }
        if !self.reachable(from, to) || self.rng.chance(self.faults.quorum_loss) {
            let visible = self.rng.chance(self.faults.reset_share);
            self.reset_conn(from, to, visible);
            return;
        }
        let at = (self.now + self.delay()).max(self.fifo.get(&(conn, from)).copied().unwrap_or(0));
        self.fifo.insert((conn, from), at);
        self.push(
            at,
            Event::Msg {
                from,
                to,
                conn: Some(conn),
                msg: MsgBox(msg),
            },
        );
    }

    /// Carries out a peer's actions in order, checking invariants along the way.
    fn drain(&mut self, id: PeerId) {
        loop {
            let actions = match self.nodes.get_mut(&id).and_then(|n| n.peer.as_mut()) {
                Some(p) => p.take_actions(),
                None => return,
            };
            if actions.is_empty() {
                return;
            }
            for a in actions {
                self.act(id, a);
            }
        }
    }

    fn act(&mut self, id: PeerId, a: Action) {
        let now = self.now;
        if self.record {
            self.log.push((now, id, a.clone()));
        }
        if tracing() {
            let show = !matches!(
                &a,
                Action::Send {
                    msg: Message::Ping { .. } | Message::Notification(_),
                    ..
                }
            );
            if show {
                let text = format!("{a:?}");
                println!("{now:>6} {id} {}", &text[..text.len().min(160)]);
            }
        }
        match a {
            Action::Send { to, msg } => self.send(id, to, msg),
            Action::Disconnect { peer } => self.reset_conn(id, peer, true),
            Action::AppendLog(e) => {
                let lying = self.faults.lying_disk;
                let node = self.nodes.get_mut(&id).unwrap();
                if e.zxid <= node.disk.last() {
                    fail!(
                        self,
                        (
                            "peer {id} appended {:?} after {:?}",
                            e.zxid,
                            node.disk.last()
                        )
                    );
                }
                let zxid = e.zxid;
                node.disk.volatile.push(e);
                if lying {
                    node.peer.as_mut().unwrap().log_durable(now, zxid);
                }
                if !node.disk.sync_pending {
                    node.disk.sync_pending = true;
                    let incarnation = node.incarnation;
                    let mut d = self
                        .rng
                        .range(self.faults.disk_min_ms, self.faults.disk_max_ms + 1);
                    if self.rng.chance(self.faults.slow_disk) {
                        d += self.rng.range(100, 1500);
                    }
                    self.push(
                        now + d,
                        Event::DiskSync {
                            node: id,
                            incarnation,
                        },
                    );
                }
            }
            Action::TruncateLog { to } => {
                let node = self.nodes.get_mut(&id).unwrap();
                node.disk.log.retain(|e| e.zxid <= to);
                node.disk.volatile.retain(|e| e.zxid <= to);
                if node.state.last().is_some_and(|e| e.zxid > to) {
                    // Reload the state from disk, as the server does.
                    node.state = node
                        .disk
                        .snap
                        .iter()
                        .chain(node.disk.log.iter())
                        .filter(|e| e.zxid <= to)
                        .cloned()
                        .collect();
                    node.verified = node.verified.min(node.state.len());
                    let last = node.state.last().map_or(Zxid::ZERO, |e| e.zxid);
                    if last != to {
                        fail!(
                            self,
                            ("peer {id} truncated to {to:?} but its disk ends at {last:?}")
                        );
                    }
                }
            }
            Action::InstallSnapshot { zxid, state } => {
                let entries = decode_state(&state);
                let last = entries.last().map_or(Zxid::ZERO, |e| e.zxid);
                if last != zxid {
                    fail!(self, ("snapshot for {zxid:?} ends at {last:?}"));
                }
                let node = self.nodes.get_mut(&id).unwrap();
                node.disk.snap = entries.clone();
                node.disk.log.clear();
                node.disk.volatile.clear();
                node.state = entries;
                node.verified = 0;
            }
            Action::PersistAcceptedEpoch(e) => {
                let d = &mut self.nodes.get_mut(&id).unwrap().disk;
                if e < d.accepted {
                    fail!(
                        self,
                        ("peer {id} lowered acceptedEpoch {:?} -> {e:?}", d.accepted)
                    );
                }
                d.accepted = e;
            }
            Action::PersistCurrentEpoch(e) => {
                let d = &mut self.nodes.get_mut(&id).unwrap().disk;
                if e < d.current || e > d.accepted {
                    fail!(
                        self,
                        (
                            "peer {id} set currentEpoch {e:?} (was {:?}, accepted {:?})",
                            d.current,
                            d.accepted
                        )
                    );
                }
                d.current = e;
            }
            Action::SendSnapshot { to, zxid } => {
                let node = &self.nodes[&id];
                let last = node.state.last().map_or(Zxid::ZERO, |e| e.zxid);
                if last != zxid {
                    fail!(
                        self,
                        ("peer {id} asked to snapshot at {zxid:?} but its state is at {last:?}")
                    );
                }
                let state = encode_state(&node.state);
                self.send(id, to, Message::Snap { zxid, state });
            }
            Action::Deliver(e) => {
                let node = self.nodes.get_mut(&id).unwrap();
                if let Some(prev) = node.state.last() {
                    if e.zxid <= prev.zxid {
                        fail!(
                            self,
                            (
                                "peer {id} delivered {:?} after {:?} (TotalOrder)",
                                e.zxid,
                                prev.zxid
                            )
                        );
                    }
                }
                match self.proposed.get(&e.zxid) {
                    Some(d) if *d == e.data => {}
                    _ => fail!(
                        self,
                        (
                            "peer {id} delivered {:?}, never proposed with that data (Integrity)",
                            e.zxid
                        )
                    ),
                }
                self.nodes.get_mut(&id).unwrap().state.push(e);
                self.verify(id);
            }
            Action::RoleChanged(role) => {
                self.nodes.get_mut(&id).unwrap().role = role;
                match role {
                    Role::Leading {
                        epoch: Some(epoch),
                        established: true,
                    } => {
                        self.elections += 1;
                        if let Some(other) = self.leaders.insert(epoch, id) {
                            if other != id {
                                fail!(self, ("peers {other} and {id} both established epoch {epoch:?} (Leadership)"));
                            }
                        }
                        // PrimaryIntegrity: the new leader holds everything committed in
                        // earlier epochs. (A stale leader may still establish an older epoch
                        // late; it cannot commit anything new there without a quorum.)
                        self.verify(id);
                        let have = self.nodes[&id].state.len();
                        let before = self
                            .committed
                            .iter()
                            .filter(|e| e.zxid.epoch() < epoch)
                            .count();
                        if have < before {
                            fail!(self, (
                                "leader {id} of epoch {epoch:?} established with {have} of the {before} txns committed before it (PrimaryIntegrity)"
                            ));
                        }
                    }
                    Role::Following { serving: true, .. }
                    | Role::Observing { serving: true, .. } => self.verify(id),
                    _ => {}
                }
            }
            Action::SyncReady => self.nodes.get_mut(&id).unwrap().syncs_ready += 1,
            Action::Request { .. } | Action::PingFrom { .. } | Action::Revalidate { .. } => {}
        }
    }

    /// PrefixConsistency / Agreement: a peer's applied state is a prefix of the one committed
    /// sequence, or extends it (the new part becoming committed).
    fn verify(&mut self, id: PeerId) {
        let node = &self.nodes[&id];
        let from = node.verified;
        let state: Vec<Entry> = node.state[from..].to_vec();
        for (i, e) in (from..).zip(state) {
            if i < self.committed.len() {
                if self.committed[i] != e {
                    fail!(self, (
                        "peer {id} applied {:?} at position {i} where {:?} was committed (PrefixConsistency)",
                        e.zxid, self.committed[i].zxid
                    ));
                }
            } else {
                if let Some(prev) = self.committed.last() {
                    let ok = if prev.zxid.epoch() == e.zxid.epoch() {
                        e.zxid.counter() == prev.zxid.counter() + 1
                    } else {
                        e.zxid.epoch() > prev.zxid.epoch() && e.zxid.counter() == 1
                    };
                    if !ok {
                        fail!(self, (
                            "committed {:?} right after {:?} (LocalPrimaryOrder/GlobalPrimaryOrder)",
                            e.zxid, prev.zxid
                        ));
                    }
                }
                self.committed.push(e);
            }
        }
        let n = self.nodes[&id].state.len();
        self.nodes.get_mut(&id).unwrap().verified = n;
    }

    fn deliver_event(&mut self, ev: Event) {
        self.events += 1;
        let now = self.now;
        match ev {
            Event::Msg {
                from,
                to,
                conn,
                msg,
            } => {
                if !self.alive(to) || !self.reachable(from, to) {
                    if let Some(c) = conn {
                        if self
                            .conns
                            .get(&pair(from, to))
                            .is_some_and(|(id, _)| *id == c)
                        {
                            let visible = self.rng.chance(self.faults.reset_share);
                            self.reset_conn(from, to, visible);
                        }
                    }
                    return;
                }
                if let Some(c) = conn {
                    if self.conns.get(&pair(from, to)) != Some(&(c, true)) {
                        return;
                    }
                }
                if tracing() && !matches!(msg.0, Message::Ping { .. } | Message::Notification(_)) {
                    let text = format!("{:?}", msg.0);
                    println!("{now:>6} {to} <- {from} {}", &text[..text.len().min(160)]);
                }
                let peer = self.nodes.get_mut(&to).unwrap().peer.as_mut().unwrap();
                peer.step(now, from, msg.0);
                self.drain(to);
            }
            Event::DiskSync { node, incarnation } => {
                let n = self.nodes.get_mut(&node).unwrap();
                if n.incarnation != incarnation || n.peer.is_none() || self.held.contains(&node) {
                    return;
                }
                n.disk.sync_pending = false;
                let moved: Vec<Entry> = std::mem::take(&mut n.disk.volatile);
                n.disk.log.extend(moved);
                let last = n.disk.last();
                n.peer.as_mut().unwrap().log_durable(now, last);
                self.drain(node);
            }
            Event::Disconnected {
                node,
                peer,
                incarnation,
            } => {
                let n = self.nodes.get_mut(&node).unwrap();
                if n.incarnation != incarnation {
                    return;
                }
                if let Some(p) = n.peer.as_mut() {
                    p.peer_disconnected(now, peer);
                    self.drain(node);
                }
            }
        }
    }

    /// Runs events and timers up to `until`.
    pub fn run_until(&mut self, until: u64) {
        let (mut spins, mut at) = (0u32, self.now);
        loop {
            if self.now == at {
                spins += 1;
                if spins > 200_000 {
                    let timers: Vec<(PeerId, Option<u64>, Role)> = self
                        .nodes
                        .iter()
                        .filter_map(|(id, n)| {
                            n.peer.as_ref().map(|p| (*id, p.next_deadline(), n.role))
                        })
                        .collect();
                    fail!(self, ("no progress: 200000 steps without time passing (livelock); timers {timers:?}, {} queued", self.queue.len()));
                }
            } else {
                (spins, at) = (0, self.now);
            }
            let next_event = self.queue.peek().map(|Reverse((t, _, _))| *t);
            let next_timer = self
                .nodes
                .iter()
                .filter_map(|(id, n)| {
                    n.peer
                        .as_ref()
                        .and_then(|p| p.next_deadline())
                        .map(|d| (d, *id))
                })
                .min();
            let t = match (next_event, next_timer) {
                (Some(e), Some((d, _))) => e.min(d),
                (Some(e), None) => e,
                (None, Some((d, _))) => d,
                (None, None) => {
                    self.now = self.now.max(until);
                    return;
                }
            };
            if t > until {
                self.now = until;
                return;
            }
            self.now = self.now.max(t);
            if next_event == Some(t) {
                let Reverse((_, _, ev)) = self.queue.pop().unwrap();
                self.deliver_event(ev);
            } else if let Some((_, id)) = next_timer {
                let now = self.now;
                self.nodes
                    .get_mut(&id)
                    .unwrap()
                    .peer
                    .as_mut()
                    .unwrap()
                    .tick(now);
                self.drain(id);
            }
        }
    }

    /// Runs until `done` holds (checked after each millisecond of progress) or `limit` passes.
    pub fn run_while(&mut self, limit: u64, mut done: impl FnMut(&World) -> bool) -> bool {
        let end = self.now + limit;
        while self.now < end {
            if done(self) {
                return true;
            }
            let step = self.now + 10;
            self.run_until(step.min(end));
        }
        done(self)
    }

    /// The established leader, if exactly one live peer claims it in the highest epoch.
    pub fn leader(&self) -> Option<PeerId> {
        self.nodes
            .iter()
            .filter_map(|(id, n)| match (n.peer.as_ref(), n.role) {
                (
                    Some(_),
                    Role::Leading {
                        epoch: Some(e),
                        established: true,
                    },
                ) => Some((e, *id)),
                _ => None,
            })
            .max()
            .map(|(_, id)| id)
    }

    pub fn serving(&self) -> Vec<PeerId> {
        self.nodes
            .iter()
            .filter(|(_, n)| n.peer.is_some() && n.role.serving())
            .map(|(id, _)| *id)
            .collect()
    }

    /// Proposes a fresh transaction through the current leader.
    pub fn propose(&mut self) -> Option<Zxid> {
        let leader = self.leader()?;
        let now = self.now;
        self.proposals += 1;
        let data = Bytes::from(format!("txn-{}-{}", self.seed, self.proposals));
        let peer = self.nodes.get_mut(&leader).unwrap().peer.as_mut().unwrap();
        let zxid = peer.propose(now, data.clone()).ok()?;
        if let Some(old) = self.proposed.insert(zxid, data.clone()) {
            if old != data {
                fail!(
                    self,
                    ("zxid {zxid:?} proposed twice with different data (Leadership)")
                );
            }
        }
        self.drain(leader);
        Some(zxid)
    }

    pub fn peer(&self, id: PeerId) -> &Peer {
        self.nodes[&id].peer.as_ref().expect("peer is up")
    }

    pub fn peer_mut(&mut self, id: PeerId) -> &mut Peer {
        self.nodes
            .get_mut(&id)
            .unwrap()
            .peer
            .as_mut()
            .expect("peer is up")
    }

    /// Lets the driver act on a peer directly (as the server would) and carries out the result.
    pub fn with_peer(&mut self, id: PeerId, f: impl FnOnce(&mut Peer, u64)) {
        let now = self.now;
        f(self.peer_mut(id), now);
        self.drain(id);
    }

    pub fn ids(&self) -> Vec<PeerId> {
        self.nodes.keys().copied().collect()
    }

    pub fn state_zxids(&self, id: PeerId) -> Vec<Zxid> {
        self.nodes[&id].state.iter().map(|e| e.zxid).collect()
    }

    pub fn disk_last(&self, id: PeerId) -> Zxid {
        self.nodes[&id].disk.last()
    }

    // ----------------------------------------------------------------------------------------
    // Scenario helpers (the randomised runs do not use these)
    // ----------------------------------------------------------------------------------------

    /// Replaces what `id` has on disk (crashing it first if it runs), as if it had lived through
    /// an earlier history. The entries count as proposed, so delivering them is legal; whether
    /// they are committed is for the scenario to decide. Restart it with [`World::restart`].
    pub fn preload(&mut self, id: PeerId, accepted: Epoch, current: Epoch, entries: Vec<Entry>) {
        self.crash(id);
        for e in &entries {
            self.proposed.insert(e.zxid, e.data.clone());
        }
        let d = &mut self.nodes.get_mut(&id).unwrap().disk;
        d.accepted = accepted;
        d.current = current;
        d.snap.clear();
        d.log = entries;
        d.volatile.clear();
    }

    /// Proposes through `id`, whatever the others think of it (a stale leader does this).
    pub fn propose_on(&mut self, id: PeerId) -> Option<Zxid> {
        let now = self.now;
        self.proposals += 1;
        let data = Bytes::from(format!("txn-{}-{}", self.seed, self.proposals));
        let zxid = self.peer_mut(id).propose(now, data.clone()).ok()?;
        self.proposed.insert(zxid, data);
        self.drain(id);
        Some(zxid)
    }

    /// Stalls `id`'s disk: appends stay volatile until [`World::release_disk`].
    pub fn hold_disk(&mut self, id: PeerId) {
        self.held.insert(id);
    }

    pub fn release_disk(&mut self, id: PeerId) {
        self.held.remove(&id);
        let node = self.nodes.get_mut(&id).unwrap();
        if node.peer.is_some() && node.disk.sync_pending {
            let incarnation = node.incarnation;
            let now = self.now;
            self.push(
                now,
                Event::DiskSync {
                    node: id,
                    incarnation,
                },
            );
        }
    }

    /// Messages `from` sent to `to` (as emitted, whether or not they arrived), with the time.
    pub fn sent(&self, from: PeerId, to: PeerId) -> Vec<(u64, Message)> {
        self.wire
            .iter()
            .filter(|(_, src, dst, _)| *src == from && *dst == to)
            .map(|(t, _, _, msg)| (*t, msg.clone()))
            .collect()
    }

    /// Every action `id` emitted, in order.
    pub fn actions_of(&self, id: PeerId) -> Vec<Action> {
        self.log
            .iter()
            .filter(|(_, who, _)| *who == id)
            .map(|(_, _, a)| a.clone())
            .collect()
    }

    /// The zxids `id` was told to deliver (recorded ones only), in order.
    pub fn delivered_log(&self, id: PeerId) -> Vec<Zxid> {
        self.actions_of(id)
            .into_iter()
            .filter_map(|a| match a {
                Action::Deliver(e) => Some(e.zxid),
                _ => None,
            })
            .collect()
    }

    /// The epoch of the established leader, if any.
    pub fn leader_epoch(&self) -> Option<Epoch> {
        let id = self.leader()?;
        match self.nodes[&id].role {
            Role::Leading { epoch, .. } => epoch,
            _ => None,
        }
    }
}
