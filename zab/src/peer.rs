//! One server's Zab: fast leader election, discovery, synchronisation and broadcast as a single
//! pure state machine.
//!
//! The driver feeds it time, messages, disconnections and "your log is durable up to here", and
//! drains [`Action`]s, which it must carry out **in order**:
//! - `PersistAcceptedEpoch`, `PersistCurrentEpoch`, `TruncateLog` and `InstallSnapshot` are
//!   durable before the next action is carried out (they are rare and small);
//! - `AppendLog` may be written in the background (group commit); the driver reports progress
//!   with [`Peer::log_durable`] once everything up to a zxid is on disk;
//! - `Deliver` is applied to the state before the next action: a `SendSnapshot` asks for the
//!   image of the state at exactly the zxid named, which is everything delivered so far.
//! - A learner's `Ping` reply is sent with an empty payload; the driver attaches its session
//!   touches before sending.
//! - When a quorum connection breaks (or the driver closes one on a `Disconnect` action), the
//!   driver calls [`Peer::peer_disconnected`] before delivering anything from a newer
//!   connection with the same peer.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use bytes::Bytes;

use crate::history::History;
use crate::{
    Entry, Epoch, Message, Millis, Notification, PeerId, QuorumVerifier, ServerState, Vote, Zxid,
};

/// The leader's state, borrowing only the `state` field (so `cfg` and `hist` stay usable).
macro_rules! leader {
    ($peer:expr) => {
        match &mut $peer.state {
            State::Leading(l) => &mut **l,
            _ => unreachable!("leader state expected"),
        }
    };
}

macro_rules! learner {
    ($peer:expr) => {
        match &mut $peer.state {
            State::Learning(l) => l,
            _ => unreachable!("learner state expected"),
        }
    };
}

/// Static configuration of one peer.
#[derive(Clone, Debug)]
pub struct Config {
    pub id: PeerId,
    /// Who votes, and what makes a quorum.
    pub quorum: QuorumVerifier,
    /// Servers configured as observers (`server.N=...:observer`).
    pub observers: BTreeSet<PeerId>,
    /// `tickTime` in milliseconds.
    pub tick_ms: u64,
    /// `initLimit`: ticks a learner may take to connect and sync.
    pub init_limit: u32,
    /// `syncLimit`: ticks a learner may stay silent once synced.
    pub sync_limit: u32,
    /// FLE's `finalizeWait`: how long a winning vote waits for a better one.
    pub finalize_wait_ms: u64,
    /// FLE's cap on the exponential back-off between notification rounds.
    pub max_notification_interval_ms: u64,
    /// How many transactions the in-memory history keeps for DIFF; older learners get SNAP.
    pub history_limit: usize,
}

impl Config {
    /// ZooKeeper's defaults: tickTime 2000, initLimit 10, syncLimit 5, finalizeWait 200 ms,
    /// notifications backing off to 60 s.
    pub fn new(id: PeerId, quorum: QuorumVerifier, observers: BTreeSet<PeerId>) -> Config {
        Config {
            id,
            quorum,
            observers,
            tick_ms: 2000,
            init_limit: 10,
            sync_limit: 5,
            finalize_wait_ms: 200,
            max_notification_interval_ms: 60_000,
            history_limit: 10_000,
        }
    }

    fn knows(&self, id: PeerId) -> bool {
        self.quorum.is_voter(id) || self.observers.contains(&id)
    }
}

/// What survived on disk: the epochs files and the log (after the state image at `base`).
/// The driver's state must already include every entry given here.
#[derive(Clone, Debug, Default)]
pub struct Persisted {
    pub accepted_epoch: Epoch,
    pub current_epoch: Epoch,
    pub base: Zxid,
    pub entries: Vec<Entry>,
}

/// Where the peer is in Zab, as ZooKeeper's `ZabState` names it (`zabstate`, `peer_state`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ZabPhase {
    Election,
    Discovery,
    Synchronization,
    Broadcast,
}

impl ZabPhase {
    /// ZooKeeper's lower-case name (`election`, `discovery`, `synchronization`, `broadcast`).
    pub fn name(self) -> &'static str {
        match self {
            ZabPhase::Election => "election",
            ZabPhase::Discovery => "discovery",
            ZabPhase::Synchronization => "synchronization",
            ZabPhase::Broadcast => "broadcast",
        }
    }
}

/// The role of the peer, as the server reports it (`Mode:` in `srvr`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Role {
    Looking,
    /// `established` once a quorum acknowledged NEWLEADER: from then on it commits and serves.
    Leading {
        epoch: Option<Epoch>,
        established: bool,
    },
    /// `serving` once UPTODATE arrived.
    Following {
        leader: PeerId,
        serving: bool,
    },
    Observing {
        leader: PeerId,
        serving: bool,
    },
}

impl Role {
    pub fn server_state(&self) -> ServerState {
        match self {
            Role::Looking => ServerState::Looking,
            Role::Leading { .. } => ServerState::Leading,
            Role::Following { .. } => ServerState::Following,
            Role::Observing { .. } => ServerState::Observing,
        }
    }

    /// Whether clients may be served.
    pub fn serving(&self) -> bool {
        match *self {
            Role::Looking => false,
            Role::Leading { established, .. } => established,
            Role::Following { serving, .. } | Role::Observing { serving, .. } => serving,
        }
    }
}

/// Something the driver must do.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Action {
    Send {
        to: PeerId,
        msg: Message,
    },
    /// Close the quorum connection with `peer` (the other side will notice).
    Disconnect {
        peer: PeerId,
    },
    /// Append to the log; report durability with [`Peer::log_durable`].
    AppendLog(Entry),
    /// Drop every logged entry after `to`. If the state already applied entries after `to`,
    /// reload it from disk (snapshot and log up to `to`).
    TruncateLog {
        to: Zxid,
    },
    /// Replace state and log with the image at `zxid` received from the leader.
    InstallSnapshot {
        zxid: Zxid,
        state: Bytes,
    },
    PersistAcceptedEpoch(Epoch),
    PersistCurrentEpoch(Epoch),
    /// Send `to` a [`Message::Snap`] with the state image at `zxid` (everything delivered).
    SendSnapshot {
        to: PeerId,
        zxid: Zxid,
    },
    /// A committed transaction: apply it. Delivered strictly in zxid order.
    Deliver(Entry),
    RoleChanged(Role),
    /// Leader: a write forwarded by a learner.
    Request {
        from: PeerId,
        data: Bytes,
    },
    /// Leader: a learner's ping answer with a non-empty payload (session touches).
    PingFrom {
        from: PeerId,
        payload: Bytes,
    },
    /// Leader: a session revalidation from a learner; learner: the leader's answer.
    Revalidate {
        from: PeerId,
        data: Bytes,
    },
    /// The oldest outstanding sync of this server is answered: every write proposed before it
    /// was committed and delivered here.
    SyncReady,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ProposeError {
    /// Not an established leader.
    NotLeader,
    /// The epoch's 32-bit counter is used up; the leader stepped down to start a new epoch.
    EpochExhausted,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct NotServing;

/// A vote as stored in the receive sets, compared as Apache's `Vote.equals` does: fully while
/// either side is LOOKING, by leader and peer epoch otherwise (ZOOKEEPER-1805).
#[derive(Clone, Copy, Debug)]
struct Ballot {
    vote: Vote,
    election_epoch: u64,
    state: ServerState,
}

impl Ballot {
    fn same(&self, other: &Ballot) -> bool {
        if self.state == ServerState::Looking || other.state == ServerState::Looking {
            self.vote == other.vote && self.election_epoch == other.election_epoch
        } else {
            self.vote.leader == other.vote.leader && self.vote.peer_epoch == other.vote.peer_epoch
        }
    }
}

struct Election {
    /// `logicalclock`: the election round.
    clock: u64,
    proposal: Vote,
    recv: BTreeMap<PeerId, Ballot>,
    out_of_election: BTreeMap<PeerId, Ballot>,
    finalize_at: Option<Millis>,
    resend_at: Millis,
    interval: u64,
    /// The vote this peer stands by once the election ended.
    current: Ballot,
    /// FOLLOWERINFOs from learners that finished the election before this peer did (the
    /// usual case: a follower learns of the agreement one hop before its leader). Kept until
    /// this peer decides, as Apache's learner keeps retrying its connection until the leader
    /// listens; refusing them would send the learner into a new round, from which a bare
    /// quorum cannot get back to this leader before initLimit expires.
    early: BTreeMap<PeerId, (Epoch, bool)>,
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum LinkPhase {
    /// FOLLOWERINFO received; the epoch is not decided yet.
    Info,
    EpochSent,
    EpochAcked,
    /// Synchronisation stream and NEWLEADER sent; proposals and commits flow to it.
    Syncing,
    /// NEWLEADER acknowledged.
    Synced,
    UpToDate,
}

struct Link {
    observer: bool,
    phase: LinkPhase,
    summary: (Epoch, Zxid),
    /// Everything up to here is durable on the learner.
    acked: Zxid,
    sync_end: Zxid,
    connected_at: Millis,
    last_heard: Millis,
}

impl Link {
    fn forwarding(&self) -> bool {
        self.phase >= LinkPhase::Syncing
    }
}

struct Leader {
    epoch: Option<Epoch>,
    connecting: BTreeMap<PeerId, Epoch>,
    epoch_acks: BTreeSet<PeerId>,
    history_fixed: bool,
    fixed_last: Zxid,
    self_ready: bool,
    newleader_acks: BTreeSet<PeerId>,
    established: bool,
    deadline: Millis,
    links: BTreeMap<PeerId, Link>,
    counter: u32,
    committed: Zxid,
    next_ping: Millis,
    /// Sync barriers: answered once `committed` reaches the zxid.
    syncs: VecDeque<(Zxid, PeerId)>,
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum LearnerPhase {
    Connecting,
    EpochAcked,
    Syncing,
    NewLeaderPending,
    Synced,
    UpToDate,
}

struct Learner {
    leader: PeerId,
    observer: bool,
    phase: LearnerPhase,
    epoch: Epoch,
    commit_to: Zxid,
    ack_after: Zxid,
    acked: Zxid,
    started: Millis,
    last_heard: Millis,
}

enum State {
    Looking,
    Leading(Box<Leader>),
    Learning(Learner),
}

/// One Zab peer.
pub struct Peer {
    cfg: Config,
    accepted_epoch: Epoch,
    current_epoch: Epoch,
    hist: History,
    delivered: Zxid,
    election: Election,
    state: State,
    actions: Vec<Action>,
}

impl Peer {
    /// A peer starting from what it has on disk. It starts LOOKING.
    pub fn new(cfg: Config, persisted: Persisted, now: Millis) -> Peer {
        let hist = History::new(persisted.base, persisted.entries, cfg.history_limit);
        let delivered = hist.last();
        let nobody = Vote {
            leader: None,
            zxid: Zxid::ZERO,
            peer_epoch: Epoch(0),
        };
        let mut peer = Peer {
            accepted_epoch: persisted.accepted_epoch.max(persisted.current_epoch),
            current_epoch: persisted.current_epoch,
            hist,
            delivered,
            election: Election {
                clock: 0,
                proposal: nobody,
                recv: BTreeMap::new(),
                out_of_election: BTreeMap::new(),
                finalize_at: None,
                resend_at: now,
                interval: cfg.finalize_wait_ms,
                current: Ballot {
                    vote: nobody,
                    election_epoch: 0,
                    state: ServerState::Looking,
                },
                early: BTreeMap::new(),
            },
            cfg,
            state: State::Looking,
            actions: Vec::new(),
        };
        peer.start_looking(now);
        peer
    }

    pub fn id(&self) -> PeerId {
        self.cfg.id
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    pub fn accepted_epoch(&self) -> Epoch {
        self.accepted_epoch
    }

    pub fn current_epoch(&self) -> Epoch {
        self.current_epoch
    }

    /// The last zxid in the log (durable or not).
    pub fn last_logged(&self) -> Zxid {
        self.hist.last()
    }

    /// The last zxid handed out as `Deliver` (or loaded at start).
    pub fn last_delivered(&self) -> Zxid {
        self.delivered
    }

    /// The election round (`logicalclock`).
    pub fn election_epoch(&self) -> u64 {
        self.election.clock
    }

    pub fn role(&self) -> Role {
        match &self.state {
            State::Looking => Role::Looking,
            State::Leading(l) => Role::Leading {
                epoch: l.epoch,
                established: l.established,
            },
            State::Learning(l) if l.observer => Role::Observing {
                leader: l.leader,
                serving: l.phase == LearnerPhase::UpToDate,
            },
            State::Learning(l) => Role::Following {
                leader: l.leader,
                serving: l.phase == LearnerPhase::UpToDate,
            },
        }
    }

    /// Followers (voters) currently synced with this leader, for `zk_synced_followers`.
    pub fn synced_followers(&self) -> Vec<PeerId> {
        match &self.state {
            State::Leading(l) => l
                .links
                .iter()
                .filter(|(_, k)| !k.observer && k.phase >= LinkPhase::Synced)
                .map(|(id, _)| *id)
                .collect(),
            _ => Vec::new(),
        }
    }

    /// Learners this leader is synchronising: the sync stream and NEWLEADER sent, NEWLEADER
    /// not yet acknowledged (ZooKeeper's syncs in progress, `inflight_*_count`).
    pub fn syncing_learners(&self) -> Vec<PeerId> {
        match &self.state {
            State::Leading(l) => l
                .links
                .iter()
                .filter(|(_, k)| k.phase == LinkPhase::Syncing)
                .map(|(id, _)| *id)
                .collect(),
            _ => Vec::new(),
        }
    }

    /// Learners connected to this leader (followers and observers), in any phase.
    pub fn learners(&self) -> Vec<(PeerId, bool)> {
        match &self.state {
            State::Leading(l) => l.links.iter().map(|(id, k)| (*id, k.observer)).collect(),
            _ => Vec::new(),
        }
    }

    /// The Zab phase: discovery until the epoch is agreed, synchronisation until NEWLEADER is
    /// acknowledged (leader) or UPTODATE arrives (learner), then broadcast.
    pub fn zab_phase(&self) -> ZabPhase {
        match &self.state {
            State::Looking => ZabPhase::Election,
            State::Leading(l) if l.established => ZabPhase::Broadcast,
            State::Leading(l) if l.history_fixed => ZabPhase::Synchronization,
            State::Leading(_) => ZabPhase::Discovery,
            State::Learning(l) => match l.phase {
                LearnerPhase::Connecting | LearnerPhase::EpochAcked => ZabPhase::Discovery,
                LearnerPhase::UpToDate => ZabPhase::Broadcast,
                _ => ZabPhase::Synchronization,
            },
        }
    }

    /// Leader: sync barriers waiting for their zxid to commit (`zk_pending_syncs`).
    pub fn pending_syncs(&self) -> usize {
        match &self.state {
            State::Leading(l) => l.syncs.len(),
            _ => 0,
        }
    }

    pub fn take_actions(&mut self) -> Vec<Action> {
        std::mem::take(&mut self.actions)
    }

    /// When [`Peer::tick`] next has something to do.
    pub fn next_deadline(&self) -> Option<Millis> {
        match &self.state {
            State::Looking => Some(match self.election.finalize_at {
                Some(f) => f.min(self.election.resend_at),
                None => self.election.resend_at,
            }),
            State::Leading(l) => {
                let mut d = l.next_ping;
                if !l.established {
                    d = d.min(l.deadline);
                }
                Some(d)
            }
            State::Learning(l) => Some(self.learner_deadline(l)),
        }
    }

    fn ms(&self, ticks: u32) -> u64 {
        self.cfg.tick_ms.saturating_mul(u64::from(ticks))
    }

    fn learner_deadline(&self, l: &Learner) -> Millis {
        if l.phase == LearnerPhase::UpToDate {
            l.last_heard + self.ms(self.cfg.sync_limit)
        } else {
            l.started + self.ms(self.cfg.init_limit)
        }
    }

    fn send(&mut self, to: PeerId, msg: Message) {
        self.actions.push(Action::Send { to, msg });
    }

    fn emit_role(&mut self) {
        let role = self.role();
        self.actions.push(Action::RoleChanged(role));
    }

    fn is_voter(&self, id: PeerId) -> bool {
        self.cfg.quorum.is_voter(id)
    }

    // ----------------------------------------------------------------------------------------
    // Inputs
    // ----------------------------------------------------------------------------------------

    /// Time passes.
    pub fn tick(&mut self, now: Millis) {
        match &self.state {
            State::Looking => self.election_tick(now),
            State::Leading(_) => self.leader_tick(now),
            State::Learning(l) => {
                if now >= self.learner_deadline(l) {
                    self.learner_fail(now);
                }
            }
        }
    }

    /// A message from `from` arrived.
    pub fn step(&mut self, now: Millis, from: PeerId, msg: Message) {
        if from == self.cfg.id || !self.cfg.knows(from) {
            return;
        }
        match msg {
            Message::Notification(n) => self.on_notification(now, from, n),
            msg => match &self.state {
                State::Leading(_) => self.leader_step(now, from, msg),
                State::Learning(l) if l.leader == from => self.learner_step(now, msg),
                State::Looking => {
                    if let Message::FollowerInfo {
                        accepted_epoch,
                        observer,
                    } = msg
                    {
                        // Somebody thinks we lead; we may, once our own election ends.
                        self.election.early.insert(from, (accepted_epoch, observer));
                    }
                }
                State::Learning(_) => {
                    if matches!(msg, Message::FollowerInfo { .. }) {
                        // Somebody thinks we lead; we do not.
                        self.actions.push(Action::Disconnect { peer: from });
                    }
                }
            },
        }
    }

    /// The quorum connection with `peer` is gone.
    pub fn peer_disconnected(&mut self, now: Millis, peer: PeerId) {
        match &mut self.state {
            State::Leading(l) => {
                l.links.remove(&peer);
            }
            State::Learning(l) if l.leader == peer => self.start_looking(now),
            State::Looking => {
                self.election.early.remove(&peer);
            }
            State::Learning(_) => {}
        }
    }

    /// Every logged entry up to `zxid` is durable.
    pub fn log_durable(&mut self, now: Millis, zxid: Zxid) {
        self.hist.set_durable(zxid);
        match &self.state {
            State::Leading(l) => {
                if l.established {
                    self.try_commit(now);
                } else {
                    self.leader_self_ready(now);
                }
            }
            State::Learning(_) => {
                self.learner_finish_newleader();
                self.learner_send_acks();
            }
            State::Looking => {}
        }
    }

    /// Leader: propose a transaction. It is delivered once a quorum has it durable.
    pub fn propose(&mut self, now: Millis, data: Bytes) -> Result<Zxid, ProposeError> {
        let State::Leading(l) = &mut self.state else {
            return Err(ProposeError::NotLeader);
        };
        let Some(epoch) = l.epoch.filter(|_| l.established) else {
            return Err(ProposeError::NotLeader);
        };
        if l.counter == u32::MAX {
            self.step_down(now);
            return Err(ProposeError::EpochExhausted);
        }
        l.counter += 1;
        let entry = Entry {
            zxid: Zxid::new(epoch, l.counter),
            data,
        };
        let to: Vec<PeerId> = l
            .links
            .iter()
            .filter(|(_, k)| k.forwarding() && !k.observer)
            .map(|(id, _)| *id)
            .collect();
        self.hist.append(entry.clone());
        self.actions.push(Action::AppendLog(entry.clone()));
        for id in to {
            self.send(id, Message::Proposal(entry.clone()));
        }
        Ok(entry.zxid)
    }

    /// Leader: answer `requester` (a learner, or this server itself) once everything proposed so
    /// far is committed.
    pub fn sync_barrier(&mut self, requester: PeerId) -> Result<(), NotServing> {
        let last = self.hist.last();
        let State::Leading(l) = &mut self.state else {
            return Err(NotServing);
        };
        if !l.established {
            return Err(NotServing);
        }
        l.syncs.push_back((last, requester));
        self.answer_syncs();
        Ok(())
    }

    /// Leader: answer a learner's revalidation.
    pub fn reply_revalidate(&mut self, to: PeerId, data: Bytes) {
        if let State::Leading(l) = &self.state {
            if l.links.contains_key(&to) {
                self.send(to, Message::Revalidate(data));
            }
        }
    }

    /// Learner: forward a write to the leader.
    pub fn forward(&mut self, data: Bytes) -> Result<(), NotServing> {
        self.send_to_leader(Message::Request(data))
    }

    /// Learner: ask the leader to revalidate a session.
    pub fn revalidate(&mut self, data: Bytes) -> Result<(), NotServing> {
        self.send_to_leader(Message::Revalidate(data))
    }

    fn send_to_leader(&mut self, msg: Message) -> Result<(), NotServing> {
        match &self.state {
            State::Learning(l) if l.phase >= LearnerPhase::Synced => {
                let leader = l.leader;
                self.send(leader, msg);
                Ok(())
            }
            _ => Err(NotServing),
        }
    }

    // ----------------------------------------------------------------------------------------
    // Fast leader election
    // ----------------------------------------------------------------------------------------

    fn initial_vote(&self) -> Vote {
        if self.is_voter(self.cfg.id) {
            Vote {
                leader: Some(self.cfg.id),
                zxid: self.hist.last(),
                peer_epoch: self.current_epoch,
            }
        } else {
            Vote {
                leader: None,
                zxid: Zxid::ZERO,
                peer_epoch: Epoch(0),
            }
        }
    }

    /// FLE's `totalOrderPredicate`: is `new` a better leader than `cur`?
    fn better(&self, new: &Vote, cur: &Vote) -> bool {
        let Some(id) = new.leader.filter(|id| self.is_voter(*id)) else {
            return false;
        };
        match cur.leader {
            None => true,
            Some(cur_id) => (new.peer_epoch, new.zxid, id) > (cur.peer_epoch, cur.zxid, cur_id),
        }
    }

    fn start_looking(&mut self, now: Millis) {
        self.state = State::Looking;
        let e = &mut self.election;
        e.clock += 1;
        e.recv.clear();
        e.out_of_election.clear();
        e.finalize_at = None;
        e.interval = self.cfg.finalize_wait_ms.max(1);
        e.resend_at = now + e.interval;
        self.election.proposal = self.initial_vote();
        self.emit_role();
        self.send_notifications();
        self.check_round(now);
    }

    fn send_notifications(&mut self) {
        let n = Notification {
            state: ServerState::Looking,
            vote: self.election.proposal,
            election_epoch: self.election.clock,
        };
        if self.is_voter(self.cfg.id) {
            // Our own notification reaches us too (Apache loops it back).
            self.election.recv.insert(
                self.cfg.id,
                Ballot {
                    vote: n.vote,
                    election_epoch: n.election_epoch,
                    state: ServerState::Looking,
                },
            );
        }
        for id in self.cfg.quorum.voters() {
            if id != self.cfg.id {
                self.send(id, Message::Notification(n));
            }
        }
    }

    fn quorum_agrees(&self, set: &BTreeMap<PeerId, Ballot>, target: &Ballot) -> bool {
        let ids: Vec<PeerId> = set
            .iter()
            .filter(|(_, b)| b.same(target))
            .map(|(id, _)| *id)
            .collect();
        self.cfg.quorum.has_quorum(&ids)
    }

    /// FLE's `checkLeader`: someone else must have told us it leads; ourselves only in the round
    /// that is ours.
    fn check_leader(
        &self,
        set: &BTreeMap<PeerId, Ballot>,
        leader: PeerId,
        election_epoch: u64,
    ) -> bool {
        if leader != self.cfg.id {
            set.get(&leader)
                .is_some_and(|b| b.state == ServerState::Leading)
        } else {
            self.election.clock == election_epoch
        }
    }

    fn on_notification(&mut self, now: Millis, from: PeerId, n: Notification) {
        let looking = matches!(self.state, State::Looking);
        let my_state = self.role().server_state();
        if !self.is_voter(from) {
            // A non-voter (observer) asks who leads: tell it. (Apache answers non-voters
            // whatever their state, which ping-pongs with an observer that answers a LOOKING
            // voter; only a LOOKING one is asking.)
            if n.state != ServerState::Looking {
                return;
            }
            let vote = if looking {
                self.election.proposal
            } else {
                self.election.current.vote
            };
            let reply = Notification {
                state: my_state,
                vote,
                election_epoch: self.election.clock,
            };
            self.send(from, Message::Notification(reply));
            return;
        }
        if !looking {
            if n.state == ServerState::Looking {
                let c = self.election.current;
                let reply = Notification {
                    state: my_state,
                    vote: c.vote,
                    election_epoch: c.election_epoch,
                };
                self.send(from, Message::Notification(reply));
            }
            return;
        }
        // Help a voter from an older round catch up. (A non-voter's round means nothing to
        // voters, who ignore its notifications; its catch-up reply would only ping-pong.)
        if n.state == ServerState::Looking
            && n.election_epoch < self.election.clock
            && self.is_voter(self.cfg.id)
        {
            let reply = Notification {
                state: ServerState::Looking,
                vote: self.election.proposal,
                election_epoch: self.election.clock,
            };
            self.send(from, Message::Notification(reply));
        }
        self.election.resend_at = now + self.election.interval;
        let Some(leader) = n.vote.leader.filter(|id| self.is_voter(*id)) else {
            return;
        };
        match n.state {
            ServerState::Looking => {
                let e = &self.election;
                if n.election_epoch > e.clock {
                    self.election.clock = n.election_epoch;
                    self.election.recv.clear();
                    self.election.finalize_at = None;
                    let init = self.initial_vote();
                    self.election.proposal = if self.better(&n.vote, &init) {
                        n.vote
                    } else {
                        init
                    };
                    self.send_notifications();
                } else if n.election_epoch < e.clock {
                    return;
                } else if self.better(&n.vote, &e.proposal) {
                    self.election.proposal = n.vote;
                    self.election.finalize_at = None;
                    self.send_notifications();
                } else if self.better(&e.proposal, &n.vote)
                    && self.is_voter(from)
                    && self.is_voter(self.cfg.id)
                {
                    // The sender has not seen our better vote (it would have taken it), e.g. it
                    // was still following when our first notification came: tell it now, not
                    // at our next resend, which its own notifications keep pushing back. No
                    // ping-pong: it answers only by adopting this vote or a better one.
                    let reply = Notification {
                        state: ServerState::Looking,
                        vote: e.proposal,
                        election_epoch: e.clock,
                    };
                    self.send(from, Message::Notification(reply));
                }
                self.election.recv.insert(
                    from,
                    Ballot {
                        vote: n.vote,
                        election_epoch: n.election_epoch,
                        state: ServerState::Looking,
                    },
                );
                self.check_round(now);
            }
            ServerState::Observing => {}
            ServerState::Following | ServerState::Leading => {
                let b = Ballot {
                    vote: n.vote,
                    election_epoch: n.election_epoch,
                    state: n.state,
                };
                if n.election_epoch == self.election.clock {
                    self.election.recv.insert(from, b);
                    if self.quorum_agrees(&self.election.recv, &b)
                        && self.check_leader(&self.election.recv, leader, n.election_epoch)
                    {
                        self.decide(now, n.vote, n.election_epoch);
                        return;
                    }
                }
                self.election.out_of_election.insert(from, b);
                if self.quorum_agrees(&self.election.out_of_election, &b)
                    && self.check_leader(&self.election.out_of_election, leader, n.election_epoch)
                {
                    self.election.clock = n.election_epoch;
                    self.decide(now, n.vote, n.election_epoch);
                }
            }
        }
    }

    /// Starts the finalize wait once a quorum agrees with our proposal.
    fn check_round(&mut self, now: Millis) {
        let e = &self.election;
        let target = Ballot {
            vote: e.proposal,
            election_epoch: e.clock,
            state: ServerState::Looking,
        };
        if e.proposal.leader.is_some() && self.quorum_agrees(&e.recv, &target) {
            if e.finalize_at.is_none() {
                self.election.finalize_at = Some(now + self.cfg.finalize_wait_ms);
            }
        } else {
            self.election.finalize_at = None;
        }
    }

    fn election_tick(&mut self, now: Millis) {
        if let Some(at) = self.election.finalize_at {
            if now >= at {
                let (vote, clock) = (self.election.proposal, self.election.clock);
                self.decide(now, vote, clock);
                return;
            }
        }
        if now >= self.election.resend_at {
            self.send_notifications();
            let e = &mut self.election;
            e.interval = (e.interval * 2).min(self.cfg.max_notification_interval_ms.max(1));
            e.resend_at = now + e.interval;
        }
    }

    fn decide(&mut self, now: Millis, vote: Vote, election_epoch: u64) {
        let Some(leader) = vote.leader else {
            return;
        };
        let state = if leader == self.cfg.id {
            ServerState::Leading
        } else if self.is_voter(self.cfg.id) {
            ServerState::Following
        } else {
            ServerState::Observing
        };
        self.election.finalize_at = None;
        self.election.current = Ballot {
            vote,
            election_epoch,
            state,
        };
        let early = std::mem::take(&mut self.election.early);
        if leader == self.cfg.id {
            self.become_leader(now);
            for (from, (accepted_epoch, observer)) in early {
                if matches!(self.state, State::Leading(_)) {
                    self.on_follower_info(now, from, accepted_epoch, observer);
                }
            }
        } else {
            for peer in early.into_keys() {
                self.actions.push(Action::Disconnect { peer });
            }
            self.become_learner(now, leader, state == ServerState::Observing);
        }
    }

    // ----------------------------------------------------------------------------------------
    // Leader
    // ----------------------------------------------------------------------------------------

    fn become_leader(&mut self, now: Millis) {
        let mut connecting = BTreeMap::new();
        connecting.insert(self.cfg.id, self.accepted_epoch);
        self.state = State::Leading(Box::new(Leader {
            epoch: None,
            connecting,
            epoch_acks: BTreeSet::new(),
            history_fixed: false,
            fixed_last: Zxid::ZERO,
            self_ready: false,
            newleader_acks: BTreeSet::new(),
            established: false,
            deadline: now + self.ms(self.cfg.init_limit),
            links: BTreeMap::new(),
            counter: 0,
            committed: self.delivered,
            next_ping: now + self.cfg.tick_ms / 2,
            syncs: VecDeque::new(),
        }));
        self.emit_role();
        self.try_decide_epoch(now);
    }

    fn step_down(&mut self, now: Millis) {
        if let State::Leading(l) = &self.state {
            let peers: Vec<PeerId> = l.links.keys().copied().collect();
            for peer in peers {
                self.actions.push(Action::Disconnect { peer });
            }
        }
        self.start_looking(now);
    }

    fn try_decide_epoch(&mut self, now: Millis) {
        let l = leader!(self);
        if l.epoch.is_some() {
            return;
        }
        let voters: Vec<PeerId> = l.connecting.keys().copied().collect();
        if !self.cfg.quorum.has_quorum(&voters) {
            return;
        }
        let l = leader!(self);
        let max = l.connecting.values().copied().max().unwrap_or_default();
        let Some(next) = max.0.checked_add(1) else {
            self.step_down(now);
            return;
        };
        let epoch = Epoch(next);
        l.epoch = Some(epoch);
        let me = self.cfg.id;
        l.epoch_acks.insert(me);
        let waiting: Vec<PeerId> = l
            .links
            .iter_mut()
            .filter(|(_, k)| k.phase == LinkPhase::Info)
            .map(|(id, k)| {
                k.phase = LinkPhase::EpochSent;
                *id
            })
            .collect();
        self.accepted_epoch = epoch;
        self.actions.push(Action::PersistAcceptedEpoch(epoch));
        for id in waiting {
            self.send(id, Message::LeaderInfo { epoch });
        }
        self.check_epoch_acks(now);
    }

    fn check_epoch_acks(&mut self, now: Millis) {
        let l = leader!(self);
        if l.history_fixed || !self.cfg.quorum.has_quorum(&l.epoch_acks) {
            return;
        }
        let last = self.hist.last();
        let l = leader!(self);
        l.history_fixed = true;
        l.fixed_last = last;
        let ready: Vec<PeerId> = l
            .links
            .iter()
            .filter(|(_, k)| k.phase == LinkPhase::EpochAcked)
            .map(|(id, _)| *id)
            .collect();
        self.leader_self_ready(now);
        for id in ready {
            self.start_sync(id);
        }
    }

    /// The leader acknowledges its own NEWLEADER once its history is durable.
    fn leader_self_ready(&mut self, now: Millis) {
        let durable = self.hist.durable();
        let me = self.cfg.id;
        let l = leader!(self);
        if !l.history_fixed || l.self_ready || durable < l.fixed_last {
            return;
        }
        let Some(epoch) = l.epoch else { return };
        l.self_ready = true;
        l.newleader_acks.insert(me);
        self.current_epoch = epoch;
        self.actions.push(Action::PersistCurrentEpoch(epoch));
        self.check_established(now);
    }

    fn check_established(&mut self, now: Millis) {
        let l = leader!(self);
        if l.established || !l.self_ready || !self.cfg.quorum.has_quorum(&l.newleader_acks) {
            return;
        }
        let Some(epoch) = l.epoch else { return };
        l.established = true;
        l.committed = l.fixed_last;
        l.next_ping = now;
        let fixed_last = l.fixed_last;
        let synced: Vec<PeerId> = l
            .links
            .iter_mut()
            .filter(|(_, k)| k.phase == LinkPhase::Synced)
            .map(|(id, k)| {
                k.phase = LinkPhase::UpToDate;
                *id
            })
            .collect();
        self.election.current.vote.peer_epoch = epoch;
        self.deliver_to(fixed_last);
        for id in synced {
            self.send(id, Message::UpToDate);
        }
        self.emit_role();
        self.try_commit(now);
        self.answer_syncs();
    }

    fn leader_step(&mut self, now: Millis, from: PeerId, msg: Message) {
        if let Message::FollowerInfo {
            accepted_epoch,
            observer,
        } = msg
        {
            self.on_follower_info(now, from, accepted_epoch, observer);
            return;
        }
        let l = leader!(self);
        let Some(link) = l.links.get_mut(&from) else {
            return;
        };
        link.last_heard = now;
        let phase = link.phase;
        match msg {
            Message::AckEpoch {
                current_epoch,
                last_zxid,
            } if phase == LinkPhase::EpochSent => {
                link.phase = LinkPhase::EpochAcked;
                link.summary = (current_epoch.unwrap_or_default(), last_zxid);
                let Some(current_epoch) = current_epoch else {
                    // Accepted before this LEADERINFO: not a vote for this epoch. It is synced
                    // once a quorum of real acknowledgements fixes the history.
                    if l.history_fixed {
                        self.start_sync(from);
                    }
                    return;
                };
                if !l.history_fixed {
                    // Discovery: the leader's history must be at least as recent as that of
                    // every voter of the quorum it is built on.
                    if (current_epoch, last_zxid) > (self.current_epoch, self.hist.last()) {
                        if link.observer {
                            // An observer cannot lead, so yielding to it only costs a round
                            // (and it may win the race every time). Drop it, as Apache drops
                            // the learner; it rejoins once the history is fixed and is synced.
                            leader!(self).links.remove(&from);
                            self.actions.push(Action::Disconnect { peer: from });
                            return;
                        }
                        self.step_down(now);
                        return;
                    }
                    if self.is_voter(from) {
                        leader!(self).epoch_acks.insert(from);
                    }
                    self.check_epoch_acks(now);
                } else {
                    self.start_sync(from);
                }
            }
            Message::Ack { zxid } if phase >= LinkPhase::Syncing => {
                let epoch = l.epoch.unwrap_or_default();
                if zxid == Zxid::new(epoch, 0) {
                    if phase != LinkPhase::Syncing {
                        return;
                    }
                    link.phase = LinkPhase::Synced;
                    link.acked = link.acked.max(link.sync_end);
                    let observer = link.observer;
                    if !observer {
                        l.newleader_acks.insert(from);
                    }
                    if l.established {
                        link.phase = LinkPhase::UpToDate;
                        self.send(from, Message::UpToDate);
                        self.try_commit(now);
                    } else {
                        self.check_established(now);
                    }
                } else if phase >= LinkPhase::Synced && !link.observer && zxid.epoch() == epoch {
                    link.acked = link.acked.max(zxid.min(self.hist.last()));
                    self.try_commit(now);
                }
            }
            Message::Ping { payload } => {
                if !payload.is_empty() {
                    self.actions.push(Action::PingFrom { from, payload });
                }
            }
            Message::Request(data) if phase >= LinkPhase::Synced => {
                self.actions.push(Action::Request { from, data });
            }
            Message::Revalidate(data) if phase >= LinkPhase::Synced => {
                self.actions.push(Action::Revalidate { from, data });
            }
            _ => {
                // Out of place: the learner is confused; make it start over.
                leader!(self).links.remove(&from);
                self.actions.push(Action::Disconnect { peer: from });
            }
        }
    }

    fn on_follower_info(
        &mut self,
        now: Millis,
        from: PeerId,
        accepted_epoch: Epoch,
        observer: bool,
    ) {
        if observer != self.cfg.observers.contains(&from) {
            self.actions.push(Action::Disconnect { peer: from });
            return;
        }
        let l = leader!(self);
        l.links.insert(
            from,
            Link {
                observer,
                phase: LinkPhase::Info,
                summary: (Epoch(0), Zxid::ZERO),
                acked: Zxid::ZERO,
                sync_end: Zxid::ZERO,
                connected_at: now,
                last_heard: now,
            },
        );
        match l.epoch {
            Some(epoch) => {
                if let Some(link) = l.links.get_mut(&from) {
                    link.phase = LinkPhase::EpochSent;
                }
                self.send(from, Message::LeaderInfo { epoch });
            }
            None => {
                // An observer's acceptedEpoch counts towards the maximum, never towards the
                // quorum (the verifier ignores non-voters).
                let known = l.connecting.get(&from).copied().unwrap_or_default();
                l.connecting.insert(from, known.max(accepted_epoch));
                self.try_decide_epoch(now);
            }
        }
    }

    /// Chooses DIFF, TRUNC or SNAP for a learner that acknowledged the epoch, and queues the
    /// stream that brings it to the leader's history, ending with NEWLEADER.
    fn start_sync(&mut self, to: PeerId) {
        let me_delivered = self.delivered;
        let last = self.hist.last();
        let l = leader!(self);
        let Some(epoch) = l.epoch else { return };
        let Some(link) = l.links.get(&to) else { return };
        let peer_last = link.summary.1;
        let observer = link.observer;
        // Pre-establishment the whole history becomes committed; afterwards only what is.
        let committed = if l.established { l.committed } else { last };
        // Followers get the in-flight tail too (they ack it); observers only what is committed
        // (the rest reaches them as INFORM).
        let end = if observer { committed } else { last };
        let start = match self.hist.floor(peer_last.min(committed)) {
            None => {
                self.actions.push(Action::SendSnapshot {
                    to,
                    zxid: me_delivered,
                });
                me_delivered
            }
            Some(t) if t == peer_last => {
                self.send(to, Message::Diff { last_zxid: last });
                t
            }
            Some(t) => {
                self.send(to, Message::Trunc { zxid: t });
                t
            }
        };
        let mut stream: Vec<Message> = Vec::new();
        if start > Zxid::ZERO && start <= committed {
            // The learner may hold entries up to `start` without knowing they are committed.
            stream.push(Message::Commit { zxid: start });
        }
        let tail: Vec<Message> = self
            .hist
            .range(start, end)
            .flat_map(|e| {
                let p = Message::Proposal(e.clone());
                if e.zxid <= committed {
                    vec![p, Message::Commit { zxid: e.zxid }]
                } else {
                    vec![p]
                }
            })
            .collect();
        stream.extend(tail);
        for m in stream {
            self.send(to, m);
        }
        self.send(to, Message::NewLeader { epoch });
        let l = leader!(self);
        if let Some(link) = l.links.get_mut(&to) {
            link.phase = LinkPhase::Syncing;
            link.sync_end = end.max(start);
            link.acked = Zxid::ZERO;
        }
    }

    /// Commits the longest prefix a quorum has durable, in zxid order.
    fn try_commit(&mut self, _now: Millis) {
        let durable = self.hist.durable();
        let me = self.cfg.id;
        let last = self.hist.last();
        let State::Leading(l) = &self.state else {
            return;
        };
        if !l.established || l.committed >= last {
            return;
        }
        let acks: Vec<(PeerId, Zxid)> = std::iter::once((me, durable))
            .chain(
                l.links
                    .iter()
                    .filter(|(_, k)| !k.observer && k.phase >= LinkPhase::Synced)
                    .map(|(id, k)| (*id, k.acked)),
            )
            .collect();
        let has = |z: Zxid| {
            if cfg!(feature = "unsafe-leader-commits-alone") {
                // The planted bug (a feature only the harness's mutation check enables).
                return durable >= z;
            }
            let ids: Vec<PeerId> = acks
                .iter()
                .filter(|(_, a)| *a >= z)
                .map(|(id, _)| *id)
                .collect();
            self.cfg.quorum.has_quorum(&ids)
        };
        let pending: Vec<Zxid> = self.hist.range(l.committed, last).map(|e| e.zxid).collect();
        // Acks are cumulative, so "a quorum has z" is monotone: binary search the prefix.
        let n = pending.partition_point(|z| has(*z));
        if n == 0 {
            return;
        }
        let new_commit = pending[n - 1];
        let old = l.committed;
        let (followers, observers): (Vec<PeerId>, Vec<PeerId>) = {
            let fwd: Vec<(PeerId, bool)> = l
                .links
                .iter()
                .filter(|(_, k)| k.forwarding())
                .map(|(id, k)| (*id, k.observer))
                .collect();
            (
                fwd.iter().filter(|(_, o)| !o).map(|(id, _)| *id).collect(),
                fwd.iter().filter(|(_, o)| *o).map(|(id, _)| *id).collect(),
            )
        };
        let entries: Vec<Entry> = self.hist.range(old, new_commit).cloned().collect();
        leader!(self).committed = new_commit;
        for e in &entries {
            for id in &followers {
                self.send(*id, Message::Commit { zxid: e.zxid });
            }
            for id in &observers {
                self.send(*id, Message::Inform(e.clone()));
            }
            self.deliver_to(e.zxid);
            // A sync is answered right after the last commit it waited for, before the commits
            // of later proposals: a learner answers its client's requests in order, and a
            // write sent after the sync must not be answered first.
            self.answer_syncs_upto(e.zxid);
        }
    }

    fn answer_syncs(&mut self) {
        let committed = match &self.state {
            State::Leading(l) => l.committed,
            _ => return,
        };
        self.answer_syncs_upto(committed);
    }

    fn answer_syncs_upto(&mut self, upto: Zxid) {
        let me = self.cfg.id;
        let State::Leading(l) = &mut self.state else {
            return;
        };
        let mut ready = Vec::new();
        while l.syncs.front().is_some_and(|(z, _)| *z <= upto) {
            if let Some((_, who)) = l.syncs.pop_front() {
                ready.push(who);
            }
        }
        for who in ready {
            if who == me {
                self.actions.push(Action::SyncReady);
            } else {
                self.send(who, Message::Sync);
            }
        }
    }

    fn deliver_to(&mut self, zxid: Zxid) {
        if zxid <= self.delivered {
            return;
        }
        let entries: Vec<Entry> = self.hist.range(self.delivered, zxid).cloned().collect();
        for e in entries {
            self.delivered = e.zxid;
            self.actions.push(Action::Deliver(e));
        }
        self.hist.trim(self.delivered);
    }

    fn leader_tick(&mut self, now: Millis) {
        let sync_ms = self.ms(self.cfg.sync_limit);
        let init_ms = self.ms(self.cfg.init_limit);
        let half_tick = (self.cfg.tick_ms / 2).max(1);
        let me = self.cfg.id;
        let l = leader!(self);
        if !l.established && now >= l.deadline {
            self.step_down(now);
            return;
        }
        if now < l.next_ping {
            return;
        }
        l.next_ping = now + half_tick;
        // Learners that went silent, or never finished syncing, are dropped.
        let dead: Vec<PeerId> = l
            .links
            .iter()
            .filter(|(_, k)| {
                if k.phase >= LinkPhase::Synced {
                    now.saturating_sub(k.last_heard) > sync_ms
                } else {
                    now.saturating_sub(k.connected_at) > init_ms
                }
            })
            .map(|(id, _)| *id)
            .collect();
        for id in &dead {
            l.links.remove(id);
        }
        let pinged: Vec<PeerId> = l
            .links
            .iter()
            .filter(|(_, k)| k.forwarding())
            .map(|(id, _)| *id)
            .collect();
        let mut alive: Vec<PeerId> = l
            .links
            .iter()
            .filter(|(_, k)| !k.observer && k.phase >= LinkPhase::Synced)
            .map(|(id, _)| *id)
            .collect();
        alive.push(me);
        let established = l.established;
        for id in dead {
            self.actions.push(Action::Disconnect { peer: id });
        }
        if established && !self.cfg.quorum.has_quorum(&alive) {
            self.step_down(now);
            return;
        }
        for id in pinged {
            self.send(
                id,
                Message::Ping {
                    payload: Bytes::new(),
                },
            );
        }
    }

    // ----------------------------------------------------------------------------------------
    // Learner (follower or observer)
    // ----------------------------------------------------------------------------------------

    fn become_learner(&mut self, now: Millis, leader: PeerId, observer: bool) {
        self.state = State::Learning(Learner {
            leader,
            observer,
            phase: LearnerPhase::Connecting,
            epoch: Epoch(0),
            commit_to: self.delivered,
            ack_after: Zxid::ZERO,
            acked: Zxid::ZERO,
            started: now,
            last_heard: now,
        });
        self.emit_role();
        self.send(
            leader,
            Message::FollowerInfo {
                accepted_epoch: self.accepted_epoch,
                observer,
            },
        );
    }

    fn learner_fail(&mut self, now: Millis) {
        if let State::Learning(l) = &self.state {
            let peer = l.leader;
            self.actions.push(Action::Disconnect { peer });
        }
        self.start_looking(now);
    }

    fn learner_step(&mut self, now: Millis, msg: Message) {
        let l = learner!(self);
        l.last_heard = now;
        let phase = l.phase;
        let observer = l.observer;
        let leader = l.leader;
        match msg {
            Message::LeaderInfo { epoch } if phase == LearnerPhase::Connecting => {
                if epoch < self.accepted_epoch {
                    self.learner_fail(now);
                    return;
                }
                let current_epoch = if epoch > self.accepted_epoch {
                    self.accepted_epoch = epoch;
                    self.actions.push(Action::PersistAcceptedEpoch(epoch));
                    Some(self.current_epoch)
                } else {
                    // Accepted already (perhaps from another leader): say so, and it will not
                    // count (Apache's -1).
                    None
                };
                let l = learner!(self);
                l.epoch = epoch;
                l.phase = LearnerPhase::EpochAcked;
                let reply = Message::AckEpoch {
                    current_epoch,
                    last_zxid: self.hist.last(),
                };
                self.send(leader, reply);
            }
            Message::Diff { .. } if phase == LearnerPhase::EpochAcked => {
                learner!(self).phase = LearnerPhase::Syncing;
            }
            Message::Trunc { zxid } if phase == LearnerPhase::EpochAcked => {
                if !self.hist.contains(zxid) {
                    // Our history does not pass through that point: we cannot follow.
                    self.learner_fail(now);
                    return;
                }
                self.hist.truncate(zxid);
                self.delivered = self.delivered.min(zxid);
                self.actions.push(Action::TruncateLog { to: zxid });
                let l = learner!(self);
                l.commit_to = l.commit_to.min(zxid);
                l.phase = LearnerPhase::Syncing;
            }
            Message::Snap { zxid, state } if phase == LearnerPhase::EpochAcked => {
                self.hist.reset(zxid);
                self.delivered = zxid;
                self.actions.push(Action::InstallSnapshot { zxid, state });
                let l = learner!(self);
                l.commit_to = zxid;
                l.phase = LearnerPhase::Syncing;
            }
            Message::Proposal(e) if phase >= LearnerPhase::Syncing && !observer => {
                if e.zxid <= self.hist.last() {
                    self.learner_fail(now);
                    return;
                }
                self.hist.append(e.clone());
                self.actions.push(Action::AppendLog(e));
            }
            Message::Proposal(e) if phase == LearnerPhase::Syncing && observer => {
                if e.zxid <= self.hist.last() {
                    self.learner_fail(now);
                    return;
                }
                self.hist.append(e.clone());
                self.actions.push(Action::AppendLog(e));
            }
            Message::Commit { zxid } if phase >= LearnerPhase::Syncing => {
                if zxid > self.hist.last() {
                    self.learner_fail(now);
                    return;
                }
                let l = learner!(self);
                l.commit_to = l.commit_to.max(zxid);
                self.learner_deliver();
            }
            Message::Inform(e) if phase >= LearnerPhase::Syncing && observer => {
                if e.zxid > self.hist.last() {
                    let zxid = e.zxid;
                    self.hist.append(e.clone());
                    self.actions.push(Action::AppendLog(e));
                    let l = learner!(self);
                    l.commit_to = l.commit_to.max(zxid);
                    self.learner_deliver();
                } else if !self.hist.contains(e.zxid) {
                    self.learner_fail(now);
                }
            }
            Message::NewLeader { epoch } if phase == LearnerPhase::Syncing => {
                let last = self.hist.last();
                let l = learner!(self);
                if epoch != l.epoch {
                    self.learner_fail(now);
                    return;
                }
                l.phase = LearnerPhase::NewLeaderPending;
                l.ack_after = last;
                self.learner_finish_newleader();
            }
            Message::UpToDate if phase == LearnerPhase::Synced => {
                learner!(self).phase = LearnerPhase::UpToDate;
                self.learner_deliver();
                self.emit_role();
            }
            Message::Ping { .. } => {
                self.send(
                    leader,
                    Message::Ping {
                        payload: Bytes::new(),
                    },
                );
            }
            Message::Sync => self.actions.push(Action::SyncReady),
            Message::Revalidate(data) => {
                self.actions.push(Action::Revalidate { from: leader, data })
            }
            _ => self.learner_fail(now),
        }
    }

    fn learner_deliver(&mut self) {
        let State::Learning(l) = &self.state else {
            return;
        };
        if l.phase == LearnerPhase::UpToDate {
            let to = l.commit_to;
            self.deliver_to(to);
        }
    }

    /// NEWLEADER is acknowledged only once the synced history is durable, after currentEpoch
    /// is written.
    fn learner_finish_newleader(&mut self) {
        let durable = self.hist.durable();
        let State::Learning(l) = &mut self.state else {
            return;
        };
        if l.phase != LearnerPhase::NewLeaderPending || durable < l.ack_after {
            return;
        }
        l.phase = LearnerPhase::Synced;
        l.acked = l.ack_after;
        let (epoch, leader) = (l.epoch, l.leader);
        self.current_epoch = epoch;
        self.election.current.vote.peer_epoch = epoch;
        self.actions.push(Action::PersistCurrentEpoch(epoch));
        self.send(
            leader,
            Message::Ack {
                zxid: Zxid::new(epoch, 0),
            },
        );
    }

    /// Acknowledges proposals received after NEWLEADER once they are durable, one ACK each.
    fn learner_send_acks(&mut self) {
        let durable = self.hist.durable();
        let State::Learning(l) = &mut self.state else {
            return;
        };
        if l.observer || l.phase < LearnerPhase::Synced || durable <= l.acked {
            return;
        }
        let from = l.acked.max(l.ack_after);
        l.acked = durable;
        let leader = l.leader;
        let zxids: Vec<Zxid> = self.hist.range(from, durable).map(|e| e.zxid).collect();
        for zxid in zxids {
            self.send(leader, Message::Ack { zxid });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg3(id: u64) -> Config {
        let voters = [1, 2, 3].map(PeerId);
        let mut c = Config::new(
            PeerId(id),
            QuorumVerifier::majority(voters),
            BTreeSet::new(),
        );
        c.tick_ms = 100;
        c.finalize_wait_ms = 10;
        c
    }

    fn epochs(accepted: u32, current: u32) -> Persisted {
        Persisted {
            accepted_epoch: Epoch(accepted),
            current_epoch: Epoch(current),
            ..Persisted::default()
        }
    }

    fn vote(leader: u64, peer_epoch: u32) -> Vote {
        Vote {
            leader: Some(PeerId(leader)),
            zxid: Zxid::ZERO,
            peer_epoch: Epoch(peer_epoch),
        }
    }

    fn notification(state: ServerState, v: Vote, election_epoch: u64) -> Message {
        Message::Notification(Notification {
            state,
            vote: v,
            election_epoch,
        })
    }

    fn sent(actions: &[Action], to: u64) -> Vec<Message> {
        actions
            .iter()
            .filter_map(|a| match a {
                Action::Send { to: t, msg } if *t == PeerId(to) => Some(msg.clone()),
                _ => None,
            })
            .collect()
    }

    /// A peer that follows 1 (learnt from 1 LEADING and 3 FOLLOWING).
    fn follower_of_1(p: Persisted) -> Peer {
        let mut h = Peer::new(cfg3(2), p, 0);
        h.step(
            1,
            PeerId(1),
            notification(ServerState::Leading, vote(1, 5), 3),
        );
        h.step(
            1,
            PeerId(3),
            notification(ServerState::Following, vote(1, 5), 3),
        );
        assert_eq!(
            h.role(),
            Role::Following {
                leader: PeerId(1),
                serving: false
            }
        );
        h.take_actions();
        h
    }

    /// Two leaders can propose the same epoch (each from its own connecting quorum). A peer
    /// that accepted it from one must not vote for it again for the other, or both could gather
    /// an epoch quorum and establish the same epoch: Apache's learner answers `-1`.
    #[test]
    fn an_epoch_accepted_before_is_acknowledged_as_already_accepted() {
        let mut h = follower_of_1(epochs(5, 4));
        h.step(2, PeerId(1), Message::LeaderInfo { epoch: Epoch(5) });
        let a = h.take_actions();
        assert!(!a
            .iter()
            .any(|a| matches!(a, Action::PersistAcceptedEpoch(_))));
        assert_eq!(
            sent(&a, 1),
            vec![Message::AckEpoch {
                current_epoch: None,
                last_zxid: Zxid::ZERO
            }]
        );

        let mut h = follower_of_1(epochs(5, 4));
        h.step(2, PeerId(1), Message::LeaderInfo { epoch: Epoch(6) });
        let a = h.take_actions();
        assert_eq!(a[0], Action::PersistAcceptedEpoch(Epoch(6)));
        assert_eq!(
            sent(&a, 1),
            vec![Message::AckEpoch {
                current_epoch: Some(Epoch(4)),
                last_zxid: Zxid::ZERO
            }]
        );
    }

    #[test]
    fn an_already_accepted_acknowledgement_does_not_count_towards_the_epoch_quorum() {
        let mut l = Peer::new(cfg3(1), epochs(4, 4), 0);
        for from in [2, 3] {
            l.step(
                1,
                PeerId(from),
                notification(ServerState::Looking, vote(1, 4), 1),
            );
        }
        l.tick(50);
        assert!(matches!(l.role(), Role::Leading { .. }), "{:?}", l.role());
        l.take_actions();
        let info = |l: &mut Peer, from: u64| {
            l.step(
                60,
                PeerId(from),
                Message::FollowerInfo {
                    accepted_epoch: Epoch(4),
                    observer: false,
                },
            );
        };
        info(&mut l, 2);
        let a = l.take_actions();
        assert!(sent(&a, 2).contains(&Message::LeaderInfo { epoch: Epoch(5) }));
        l.step(
            61,
            PeerId(2),
            Message::AckEpoch {
                current_epoch: None,
                last_zxid: Zxid::ZERO,
            },
        );
        let a = l.take_actions();
        assert!(
            sent(&a, 2).is_empty(),
            "synced on an uncounted acknowledgement: {a:?}"
        );

        info(&mut l, 3);
        l.take_actions();
        l.step(
            62,
            PeerId(3),
            Message::AckEpoch {
                current_epoch: Some(Epoch(4)),
                last_zxid: Zxid::ZERO,
            },
        );
        let a = l.take_actions();
        // Now a quorum (1 and 3) acknowledged: both learners are synced.
        for to in [2, 3] {
            let m = sent(&a, to);
            assert!(
                matches!(m.first(), Some(Message::Diff { .. })),
                "{to}: {m:?}"
            );
            assert!(m.contains(&Message::NewLeader { epoch: Epoch(5) }));
        }
    }
}
