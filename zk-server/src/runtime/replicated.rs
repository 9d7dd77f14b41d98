//! The core task's replicated mode: it owns a [`zab::Peer`] beside the core and carries out
//! Zab's actions (the driver contract is in `zab::peer`'s documentation).
//!
//! - Proposals: the leader's core preps a write into a txn (`Effect::Persist`); its bytes (as a
//!   txn log record holds them) become a Zab proposal. Every server logs proposals through the
//!   disk thread, whose "durable" report goes to Zab; committed txns come back as `Deliver`
//!   and are applied by the core, which answers its own clients.
//! - Epochs live in `acceptedEpoch` and `currentEpoch` files in the data directory, written
//!   atomically before Zab acts on them.
//! - TRUNC cuts the log (and drops snapshots past the cut, which can only hold uncommitted
//!   txns) and reloads the state from disk; SNAP replaces state and log.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::{mpsc, watch};
use zab::{Action, Message, PeerId, Role, Zxid};
use zk_proto::quorum::{
    self, PacketType, Payload, PingTouches, RevalidateRequest, RevalidateResponse, SessionTouch,
};

use super::metrics::SyncKind;
use super::quorum::{self as net, ElectionNet, PeerEvent, QOut, QuorumSettings};
use super::{disk::DiskCmd, CoreTask, ToCore};
use crate::core::config_node::ConfigNode;
use crate::core::txn::Txn;
use crate::core::{Core, ServerRole};
use crate::storage::{self, snapshot, txnlog};

/// Zab and its wires, owned by the core task.
pub(crate) struct Replication {
    pub peer: zab::Peer,
    pub q: Arc<QuorumSettings>,
    pub election: ElectionNet,
    pub conns: HashMap<PeerId, (u64, mpsc::UnboundedSender<QOut>)>,
    /// The leader's own proposals, kept so that delivery need not decode them again.
    pub proposed: HashMap<i64, Txn>,
    pub data_dir: PathBuf,
    pub role: Role,
    /// When to start serving read-only clients (`readonlymode.enabled`).
    pub ro: super::readonly::ReadOnlyTimer,
    pub to_core: mpsc::UnboundedSender<ToCore>,
    pub shutdown: watch::Receiver<bool>,
    /// What goes into `/zookeeper/config` (see [`CoreTask::init_config_node`]).
    pub config_node: Option<ConfigNode>,
}

pub(crate) fn read_epoch(dir: &Path, name: &str) -> std::io::Result<Option<u32>> {
    match std::fs::read_to_string(dir.join(name)) {
        Ok(s) => s
            .trim()
            .parse::<u32>()
            .map(Some)
            .map_err(|e| std::io::Error::other(format!("{}: {e}", dir.join(name).display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Writes an epoch file atomically: temp file, fsync, rename, fsync of the directory.
pub(crate) fn write_epoch(dir: &Path, name: &str, epoch: u32) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = dir.join(format!("{name}.tmp"));
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(epoch.to_string().as_bytes())?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, dir.join(name))?;
    std::fs::File::open(dir)?.sync_all()
}

/// What Zab starts from: the epochs and the tail of the log (as raw txn bytes).
pub(crate) fn persisted(
    data_dir: &Path,
    log_dir: &Path,
    snap_zxid: i64,
    last_zxid: i64,
    keep: usize,
) -> std::io::Result<zab::Persisted> {
    let current = read_epoch(data_dir, "currentEpoch")?.unwrap_or((last_zxid >> 32) as u32);
    let accepted = read_epoch(data_dir, "acceptedEpoch")?.unwrap_or(current);
    let mut tail: std::collections::VecDeque<zab::Entry> = std::collections::VecDeque::new();
    let mut base = snap_zxid;
    txnlog::scan(log_dir, snap_zxid, |txn| {
        let mut data = Vec::new();
        txnlog::encode_txn(&txn, &mut data);
        tail.push_back(zab::Entry {
            zxid: Zxid(txn.hdr.zxid as u64),
            data: Bytes::from(data),
        });
        if tail.len() > keep {
            if let Some(e) = tail.pop_front() {
                base = e.zxid.0 as i64;
            }
        }
        Ok(())
    })
    .map_err(|e| std::io::Error::other(e.to_string()))?;
    Ok(zab::Persisted {
        accepted_epoch: zab::Epoch(accepted),
        current_epoch: zab::Epoch(current),
        base: Zxid(base as u64),
        entries: tail.into(),
    })
}

/// Zab's state for the monitor (`mntr`, `monitor`, `/metrics`, `zabstate`, `leader`).
pub(crate) fn zab_view(r: &Replication) -> super::metrics::ZabView {
    let p = &r.peer;
    let phase = p.zab_phase();
    let leader = match r.role {
        Role::Leading { .. } => {
            let learners = p.learners();
            let observer_ids: Vec<u64> = learners
                .iter()
                .filter(|(_, obs)| *obs)
                .map(|(id, _)| id.0)
                .collect();
            Some(super::metrics::LeaderView {
                learners: learners.len(),
                synced_followers: p.synced_followers().len(),
                synced_observers: observer_ids.len(),
                pending_syncs: p.pending_syncs(),
                observer_ids,
            })
        }
        _ => None,
    };
    let (state, leader_id) = match r.role {
        Role::Looking => ("looking", None),
        Role::Leading { .. } => ("leading", Some(r.q.my_id)),
        Role::Following { leader, .. } => ("following", Some(leader.0)),
        Role::Observing { leader, .. } => ("observing", Some(leader.0)),
    };
    let peer_state = if state == "looking" {
        state.to_owned()
    } else {
        format!("{state} - {}", phase.name())
    };
    super::metrics::ZabView {
        leader,
        quorum_size: r.q.verifier.voters().len(),
        peer_state,
        phase: phase.name(),
        leader_id,
    }
}

/// The wall time a txn's header was stamped with (TxnHeader: clientId i64, cxid i32, zxid i64,
/// time i64, ...).
fn header_time_ms(record: &[u8]) -> Option<i64> {
    record
        .get(20..28)
        .and_then(|b| <[u8; 8]>::try_from(b).ok())
        .map(i64::from_be_bytes)
}

impl CoreTask {
    fn mono(&self) -> u64 {
        self.now.mono_ms
    }

    /// Writes the ensemble's configuration into `/zookeeper/config`, as ZooKeeper does when a
    /// server starts and whenever a learner syncs with a leader (a SNAP image or a reload from
    /// disk after TRUNC brings an older copy, which this overwrites too).
    pub(crate) fn init_config_node(&mut self) {
        let Some(node) = self.repl.as_ref().and_then(|r| r.config_node.as_ref()) else {
            return;
        };
        self.now = self.clock.now();
        let fx = self.core.set_config_node(node, self.now);
        self.run_effects(fx);
    }

    /// Runs Zab's actions, and whatever they lead to, until there are none.
    pub(crate) fn drain_zab(&mut self) -> Result<(), String> {
        loop {
            let Some(r) = self.repl.as_mut() else {
                return Ok(());
            };
            let actions = r.peer.take_actions();
            if actions.is_empty() {
                self.syncs_ended();
                return Ok(());
            }
            for a in actions {
                self.zab_action(a)?;
            }
        }
    }

    /// Leader: the syncs in progress that ended since (NEWLEADER acknowledged, or the
    /// learner gone).
    fn syncs_ended(&mut self) {
        if self.ctx.metrics.syncs_in_flight.is_empty() {
            return;
        }
        let Some(r) = self.repl.as_ref() else { return };
        let syncing: Vec<u64> = r.peer.syncing_learners().iter().map(|p| p.0).collect();
        let connected: Vec<u64> = r.peer.learners().iter().map(|(p, _)| p.0).collect();
        self.ctx.metrics.syncs_still(&syncing, &connected);
    }

    fn send_quorum(&mut self, to: PeerId, item: QOut) {
        let Some(r) = self.repl.as_mut() else { return };
        if let Some((_, tx)) = r.conns.get(&to) {
            let _ = tx.send(item);
        }
    }

    fn zab_action(&mut self, a: Action) -> Result<(), String> {
        let now = self.now;
        match a {
            Action::Send { to, msg } => self.zab_send(to, msg),
            Action::Disconnect { peer } => {
                if let Some(r) = self.repl.as_mut() {
                    r.conns.remove(&peer);
                }
            }
            Action::AppendLog(e) => {
                // The record is logged as it came, undecoded; its header must at least name
                // the zxid Zab gave it (TxnHeader: clientId i64, cxid i32, zxid i64, ...).
                let header_zxid = e
                    .data
                    .get(12..20)
                    .and_then(|b| <[u8; 8]>::try_from(b).ok())
                    .map(i64::from_be_bytes);
                if header_zxid != Some(e.zxid.0 as i64) {
                    return Err(format!(
                        "proposal {}: its txn header names zxid {header_zxid:#x?}",
                        e.zxid
                    ));
                }
                // Leader and followers acknowledge what they logged (observers do not).
                let acks = self.repl.as_ref().is_some_and(|r| {
                    matches!(r.role, Role::Leading { .. } | Role::Following { .. })
                });
                if let (true, Some(t)) = (acks, header_time_ms(&e.data)) {
                    self.ctx.metrics.logged_for_ack(e.zxid.0 as i64, t);
                }
                if let Some(d) = self.disk.as_mut() {
                    // The proposal's bytes are the log record: no decoding, no copy.
                    d.queue(DiskCmd::AppendEncoded {
                        zxid: e.zxid.0 as i64,
                        record: e.data.clone(),
                    });
                } else if let Some(r) = self.repl.as_mut() {
                    // No storage (tests): durable at once.
                    r.peer.log_durable(now.mono_ms, e.zxid);
                    self.ctx.metrics.acks_created(e.zxid.0 as i64, now.wall_ms);
                }
            }
            Action::TruncateLog { to } => self.truncate(to.0 as i64)?,
            Action::InstallSnapshot { zxid, state } => {
                self.install_snapshot(zxid.0 as i64, &state)?
            }
            Action::PersistAcceptedEpoch(e) => {
                if let Some(r) = &self.repl {
                    write_epoch(&r.data_dir, "acceptedEpoch", e.0)
                        .map_err(|e| format!("writing acceptedEpoch: {e}"))?;
                }
            }
            Action::PersistCurrentEpoch(e) => {
                if let Some(r) = &self.repl {
                    write_epoch(&r.data_dir, "currentEpoch", e.0)
                        .map_err(|e| format!("writing currentEpoch: {e}"))?;
                }
            }
            Action::SendSnapshot { to, zxid } => {
                self.ctx.metrics.snap_count += 1;
                self.ctx.metrics.sync_began(to.0, SyncKind::Snap);
                let view = Box::new(self.core.tree.view());
                let sessions = self.core.sessions_for_snapshot();
                debug_assert_eq!(self.core.last_zxid(), zxid.0 as i64);
                self.send_quorum(
                    to,
                    QOut::Snap {
                        zxid: zxid.0 as i64,
                        view,
                        sessions,
                    },
                );
            }
            Action::Deliver(e) => {
                let z = e.zxid.0 as i64;
                let txn = match self.repl.as_mut().and_then(|r| r.proposed.remove(&z)) {
                    Some(t) => {
                        // Ours, now acknowledged by a quorum.
                        let m = &mut self.ctx.metrics;
                        m.commit_count += 1;
                        let ms = now.wall_ms - t.hdr.time;
                        if ms >= 0 {
                            m.quorum_ack_latency.record(ms);
                        }
                        t
                    }
                    None => {
                        let t = txnlog::decode_txn(&e.data)
                            .map_err(|m| format!("committed txn {}: {m}", e.zxid))?;
                        // A serving learner heard of the commit (COMMIT, or INFORM on an
                        // observer): the leader's txn time to now. (Txns delivered while
                        // syncing are history, not propagation.)
                        let serving = self.repl.as_ref().is_some_and(|r| {
                            r.role.serving() && !matches!(r.role, Role::Leading { .. })
                        });
                        let ms = now.wall_ms - t.hdr.time;
                        if serving && ms >= 0 {
                            self.ctx.metrics.commit_propagation_latency.record(ms);
                        }
                        t
                    }
                };
                let fx = self.core.commit(&txn, now);
                self.run_effects(fx);
                self.snap.since += 1;
                self.maybe_snapshot();
            }
            Action::RoleChanged(role) => self.role_changed(role),
            Action::Request { .. } | Action::Revalidate { .. } => {
                // REQUEST and REVALIDATE packets are handled by the runtime itself (they carry
                // client identities Zab does not see).
            }
            Action::PingFrom { payload, .. } => {
                if let Ok(t) = PingTouches::from_data(Some(&payload)) {
                    let touches: Vec<(i64, i32)> = t
                        .touches
                        .iter()
                        .map(|t| (t.session_id, t.timeout_ms))
                        .collect();
                    self.core.touch_remote(&touches, now);
                }
            }
            Action::SyncReady => {
                if self.core.role() == ServerRole::Learner {
                    let fx = self.core.sync_ready(now);
                    self.run_effects(fx);
                }
            }
        }
        Ok(())
    }

    fn zab_send(&mut self, to: PeerId, msg: Message) {
        let Some(r) = self.repl.as_mut() else { return };
        if let Message::Notification(n) = msg {
            tracing::debug!(%to, ?n, "notification out");
            r.election.send(to, n);
            return;
        }
        let leading = matches!(r.role, Role::Leading { .. });
        let my_id = r.q.my_id;
        if let Message::FollowerInfo { .. } = &msg {
            // A learner dials its leader: a fresh connection replaces any old one.
            let conn = net::next_conn_id();
            let (tx, rx) = mpsc::unbounded_channel();
            if let Some(p) = net::to_packet(&msg, my_id, leading) {
                let _ = tx.send(QOut::Packet(p));
            }
            r.conns.insert(to, (conn, tx));
            net::dial_leader(
                r.q.clone(),
                to,
                conn,
                rx,
                r.to_core.clone(),
                r.shutdown.clone(),
            );
            return;
        }
        if matches!(msg, Message::Diff { .. } | Message::Trunc { .. }) {
            self.ctx.metrics.diff_count += 1;
            self.ctx.metrics.sync_began(to.0, SyncKind::Diff);
        }
        let msg = match msg {
            Message::Ping { payload } if !leading => {
                // A learner's ping answer carries its clients' session activity.
                let _ = payload;
                let touches = PingTouches {
                    touches: self
                        .core
                        .take_touches()
                        .into_iter()
                        .map(|(session_id, timeout_ms)| SessionTouch {
                            session_id,
                            timeout_ms,
                        })
                        .collect(),
                };
                Message::Ping {
                    payload: Bytes::from(touches.to_data().unwrap_or_default()),
                }
            }
            m => m,
        };
        if let Some(p) = net::to_packet(&msg, my_id, leading) {
            self.send_quorum(to, QOut::Packet(p));
        }
    }

    fn role_changed(&mut self, role: Role) {
        let now = self.now;
        self.role_metrics(role);
        let Some(r) = self.repl.as_mut() else { return };
        let still_looking = matches!((r.role, role), (Role::Looking, Role::Looking));
        r.role = role;
        r.ro.role_changed(&role, now.mono_ms);
        if still_looking {
            // Nothing changes for clients (a read-only server keeps its connections).
            return;
        }
        let (core_role, serving, mode) = match role {
            Role::Looking => (ServerRole::Learner, false, "follower"),
            Role::Leading { established, .. } => (ServerRole::Leader, established, "leader"),
            Role::Following { serving, .. } => (ServerRole::Learner, serving, "follower"),
            Role::Observing { serving, .. } => (ServerRole::Learner, serving, "observer"),
        };
        tracing::info!(?role, "zab role");
        self.ctx.mode = mode;
        self.ctx.serving = serving;
        if let Some(r) = self.repl.as_mut() {
            r.proposed.clear();
        }
        let fx = self.core.set_role(core_role, serving, now);
        let syncing_learner =
            !serving && matches!(role, Role::Following { .. } | Role::Observing { .. });
        if let Role::Leading {
            epoch: Some(e),
            established: true,
        } = role
        {
            self.core
                .set_next_zxid(quorum::make_zxid(i64::from(e.0), 0));
        }
        self.run_effects(fx);
        if syncing_learner {
            self.init_config_node();
        }
    }

    /// TRUNC: cut the log after `to`; reload the state if it had applied past it.
    fn truncate(&mut self, to: i64) -> Result<(), String> {
        let Some(st) = self.storage.clone() else {
            return Ok(());
        };
        tracing::info!(
            to = format_args!("{to:#x}"),
            applied = format_args!("{:#x}", self.core.last_zxid()),
            "TRUNC: cutting the txn log"
        );
        if let Some(d) = self.disk.as_mut() {
            let (tx, rx) = std::sync::mpsc::channel();
            d.send_now(DiskCmd::Truncate { to, done: tx });
            rx.recv()
                .map_err(|_| "the disk thread is gone".to_owned())??;
        }
        // Snapshots past the cut hold txns that never committed.
        for (z, path) in snapshot::list(&st.snap_dir).map_err(|e| e.to_string())? {
            if z > to {
                let _ = std::fs::remove_file(path);
            }
        }
        if self.core.last_zxid() > to {
            self.reload_core(&st)?;
        }
        Ok(())
    }

    fn reload_core(&mut self, st: &super::StorageConfig) -> Result<(), String> {
        self.now = self.clock.now();
        let now = self.now;
        let role = self.core.role();
        let serving = self.core.is_serving();
        let mut core = Core::new(self.core.config.clone(), now);
        storage::recovery::recover(&mut core, &st.snap_dir, &st.log_dir, now)
            .map_err(|e| e.to_string())?;
        let fx = self.core.set_role(role, false, now);
        self.run_effects(fx);
        self.core = core;
        let fx = self.core.set_role(role, serving, now);
        self.run_effects(fx);
        self.init_config_node();
        self.now = self.clock.now();
        Ok(())
    }

    /// SNAP: the leader's image replaces state and log.
    fn install_snapshot(&mut self, zxid: i64, state: &[u8]) -> Result<(), String> {
        self.now = self.clock.now();
        let now = self.now;
        tracing::info!(
            zxid = format_args!("{zxid:#x}"),
            bytes = state.len(),
            "SNAP: installing the leader's image"
        );
        let (loaded, _) = snapshot::read_snap_stream(state)
            .map_err(|e| format!("SNAP stream: {e}"))?
            .ok_or("SNAP stream: incomplete")?;
        let role = self.core.role();
        let fx = self.core.set_role(role, false, now);
        self.run_effects(fx);
        let mut core = Core::new(self.core.config.clone(), now);
        core.restore(loaded.tree, &loaded.sessions, zxid, now);
        let fx = core.set_role(role, false, now);
        self.core = core;
        self.run_effects(fx);
        self.init_config_node();
        if let Some(st) = self.storage.clone() {
            if let Some(d) = self.disk.as_mut() {
                // Everything logged is superseded.
                let (tx, rx) = std::sync::mpsc::channel();
                d.send_now(DiskCmd::Truncate { to: -1, done: tx });
                rx.recv()
                    .map_err(|_| "the disk thread is gone".to_owned())??;
            }
            for (z, path) in snapshot::list(&st.snap_dir).map_err(|e| e.to_string())? {
                if z > zxid {
                    let _ = std::fs::remove_file(path);
                }
            }
            let opts = snapshot::SnapshotWriteOptions {
                digest_enabled: st.digest_enabled,
            };
            let view = self.core.tree.view();
            snapshot::save(
                &st.snap_dir,
                &view,
                &self.core.sessions_for_snapshot(),
                zxid,
                &opts,
            )
            .map_err(|e| format!("writing the SNAP image: {e}"))?;
        }
        self.now = self.clock.now();
        Ok(())
    }

    /// The core wants a txn replicated (leader) — or, without Zab, persisted.
    pub(crate) fn propose_txn(&mut self, txn: Txn) -> Result<(), String> {
        let now = self.now;
        let Some(r) = self.repl.as_mut() else {
            return Ok(());
        };
        let mut data = Vec::new();
        txnlog::encode_txn(&txn, &mut data);
        let size = data.len();
        match r.peer.propose(now.mono_ms, Bytes::from(data)) {
            Ok(z) => {
                self.ctx.metrics.proposal_count += 1;
                self.ctx.metrics.proposal_stats.record(size);
                if z.0 as i64 != txn.hdr.zxid {
                    return Err(format!(
                        "zab numbered a proposal {z} but the core stamped {:#x}",
                        txn.hdr.zxid
                    ));
                }
                r.proposed.insert(txn.hdr.zxid, txn);
            }
            Err(e) => tracing::warn!(
                ?e,
                zxid = format_args!("{:#x}", txn.hdr.zxid),
                "not leading: proposal dropped"
            ),
        }
        self.drain_zab()
    }

    /// A learner forwards a client's write to the leader.
    pub(crate) fn forward(&mut self, data: Vec<u8>, auth: Vec<zk_proto::data::Id>) {
        let Some(r) = self.repl.as_ref() else { return };
        let leader = match r.role {
            Role::Following { leader, .. } | Role::Observing { leader, .. } => leader,
            _ => return,
        };
        self.send_quorum(leader, QOut::Packet(net::request_packet(data, auth)));
    }

    pub(crate) fn revalidate(&mut self, session: i64, timeout: i32) {
        let Some(r) = self.repl.as_ref() else { return };
        let leader = match r.role {
            Role::Following { leader, .. } | Role::Observing { leader, .. } => leader,
            _ => return,
        };
        let p = quorum::QuorumPacket::revalidate(RevalidateRequest {
            session_id: session,
            timeout_ms: timeout,
        });
        self.send_quorum(leader, QOut::Packet(p));
    }

    pub(crate) fn peer_event(&mut self, ev: PeerEvent) -> Result<(), String> {
        let now = self.now;
        let mono = self.mono();
        let Some(r) = self.repl.as_mut() else {
            return Ok(());
        };
        match ev {
            PeerEvent::Election { from, n } => {
                tracing::debug!(%from, ?n, "notification in");
                r.peer.step(mono, from, Message::Notification(n))
            }
            PeerEvent::Accepted {
                peer,
                conn,
                out,
                first,
            } => {
                if r.conns.remove(&peer).is_some() {
                    r.peer.peer_disconnected(mono, peer);
                }
                r.conns.insert(peer, (conn, out));
                r.peer.step(mono, peer, first);
            }
            PeerEvent::Closed { peer, conn } => {
                if r.conns.get(&peer).is_some_and(|(c, _)| *c == conn) {
                    r.conns.remove(&peer);
                    r.peer.peer_disconnected(mono, peer);
                }
            }
            PeerEvent::Packet {
                peer,
                conn,
                packet,
                snap,
            } => {
                if r.conns.get(&peer).is_none_or(|(c, _)| *c != conn) {
                    return Ok(());
                }
                match packet.kind() {
                    Some(PacketType::Request) => {
                        let data = packet.data.clone().unwrap_or_default();
                        let auth = packet.authinfo.clone().unwrap_or_default();
                        if data.len() >= 16
                            && i32::from_be_bytes(data[12..16].try_into().unwrap_or_default())
                                == zk_proto::OpCode::Sync.code()
                        {
                            let _ = r.peer.sync_barrier(peer);
                        } else if matches!(
                            r.role,
                            Role::Leading {
                                established: true,
                                ..
                            }
                        ) {
                            let fx = self.core.handle_forwarded(&data, auth, now);
                            self.run_effects(fx);
                        }
                    }
                    Some(PacketType::Revalidate) => {
                        if matches!(r.role, Role::Leading { .. }) {
                            if let Ok(req) = packet.payload::<RevalidateRequest>() {
                                self.ctx.metrics.revalidate_count += 1;
                                let (valid, fx) = self.core.revalidate(req.session_id, now);
                                self.run_effects(fx);
                                let reply = quorum::QuorumPacket::revalidate_reply(
                                    &packet,
                                    RevalidateResponse {
                                        session_id: req.session_id,
                                        valid,
                                    },
                                );
                                self.send_quorum(peer, QOut::Packet(reply));
                            }
                        } else if let Ok(resp) = packet.payload::<RevalidateResponse>() {
                            let fx = self.core.revalidated(resp.session_id, resp.valid, now);
                            self.run_effects(fx);
                        }
                    }
                    _ => match net::from_packet(&packet, snap) {
                        Ok(Some(msg)) => {
                            let m = &mut self.ctx.metrics;
                            match &msg {
                                Message::Proposal(e) => {
                                    m.learner_proposal_received_count += 1;
                                    // Wall clocks of two servers: a negative span is skew.
                                    if let Some(ms) = header_time_ms(&e.data)
                                        .and_then(|t| u64::try_from(now.wall_ms - t).ok())
                                    {
                                        m.proposal_latency.record(ms as i64);
                                    }
                                }
                                Message::Commit { .. } | Message::Inform(_) => {
                                    m.learner_commit_received_count += 1
                                }
                                _ => {}
                            }
                            r.peer.step(mono, peer, msg)
                        }
                        Ok(None) => {
                            tracing::debug!(%peer, kind = packet.packet_type, "ignoring a quorum packet")
                        }
                        Err(e) => {
                            tracing::warn!(%peer, error = %e, "bad quorum packet; closing the connection");
                            r.conns.remove(&peer);
                            r.peer.peer_disconnected(mono, peer);
                        }
                    },
                }
            }
        }
        self.drain_zab()
    }
}

impl CoreTask {
    /// Election and sync timings, as ZooKeeper takes them: `looking_count` on entering LOOKING,
    /// `election_time` from then to leading or following, `follower_sync_time` /
    /// `observer_sync_time` from following to serving; `unavailable_time` (and
    /// `leader_unavailable_time` when leading) from ceasing to serve to Zab's broadcast phase.
    fn role_metrics(&mut self, role: Role) {
        let now = self.now.mono_ms;
        let m = &mut self.ctx.metrics;
        let prev = self.repl.as_ref().map(|r| r.role);
        let broadcast = role.serving();
        if !broadcast {
            m.unavailable_since_ms.get_or_insert(now);
        } else if let Some(since) = m.unavailable_since_ms.take() {
            let ms = now.saturating_sub(since) as i64;
            m.unavailable_time.record(ms);
            if matches!(role, Role::Leading { .. }) {
                m.leader_unavailable_time.record(ms);
            }
        }
        match role {
            Role::Looking => {
                m.leading_since_ms = None;
                if prev != Some(Role::Looking) {
                    m.looking_count += 1;
                    m.looking_since_ms = Some(now);
                }
                m.sync_started_ms = None;
            }
            _ => {
                if let Some(since) = m.looking_since_ms.take() {
                    m.election_time.record(now.saturating_sub(since) as i64);
                    m.sync_started_ms = Some(now);
                }
                let serving = role.serving() && !matches!(role, Role::Leading { .. });
                if serving {
                    if let Some(start) = m.sync_started_ms.take() {
                        let ms = now.saturating_sub(start) as i64;
                        if matches!(role, Role::Observing { .. }) {
                            m.observer_sync_time.record(ms);
                        } else {
                            m.follower_sync_time.record(ms);
                        }
                    }
                }
                if matches!(role, Role::Leading { .. }) {
                    m.sync_started_ms = None;
                    if !matches!(prev, Some(Role::Leading { .. })) {
                        m.leading_since_ms = Some(now);
                    }
                } else {
                    m.leading_since_ms = None;
                }
            }
        }
    }
}
