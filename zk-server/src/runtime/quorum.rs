//! The ensemble's wires: the election port (FLE notifications) and the quorum port (Zab's
//! `QuorumPacket` stream), in Apache ZooKeeper's formats (`docs/quorum-wire.md`).
//!
//! - Election: every server listens; either side may dial, and only a connection from the
//!   higher sid is kept (a lower sid's connection is closed and dialled back), as
//!   `QuorumCnxManager` does. Notifications are fire-and-forget; FLE resends.
//! - Quorum: a learner dials its leader's quorum port and opens with FOLLOWERINFO/OBSERVERINFO;
//!   the leader learns the learner's sid from its `LearnerInfo`. One connection per learner;
//!   its packets, and its end, reach the core task tagged with a connection number so that
//!   news from a replaced connection is ignored.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::io::{ReadHalf, WriteHalf};
use tokio::net::{TcpListener, TcpStream};

use super::tls::{self, PeerStream};
use tokio::sync::{mpsc, watch};
use zab::{Entry, Epoch, Message, Notification, PeerId, ServerState, Vote, Zxid};
use zk_proto::data::Id;
use zk_proto::election::{self, ConnectionHeader, ElectionAddr};
use zk_proto::quorum::{self, AckEpoch, LeaderInfo, LearnerInfo, PacketType, QuorumPacket};
use zk_proto::Encode;

use super::ToCore;
use crate::core::tree::TreeView;
use crate::storage::snapshot;

/// One `server.N` line as the runtime needs it.
#[derive(Debug, Clone)]
pub struct PeerAddr {
    pub host: String,
    pub quorum_port: u16,
    pub election_port: u16,
    pub observer: bool,
}

/// The ensemble this server belongs to.
#[derive(Debug, Clone)]
pub struct QuorumSettings {
    pub my_id: u64,
    pub servers: BTreeMap<u64, PeerAddr>,
    pub verifier: zab::QuorumVerifier,
    pub init_limit: u32,
    pub sync_limit: u32,
    /// Transactions kept in memory for DIFF syncs (`zookeeper.commitLogCount`); a learner
    /// further behind gets a SNAP.
    pub history_limit: usize,
    /// `sslQuorum=true`: TLS on the quorum and election ports, both ways. `Server::start`
    /// fills this from [`super::RuntimeConfig::tls`].
    pub tls: Option<Arc<super::tls::QuorumTls>>,
}

impl QuorumSettings {
    /// The accepting side of an election (`what`) or quorum connection: TLS when configured;
    /// `None`, logged, when the handshake fails.
    async fn accept_peer(&self, stream: TcpStream, what: &str) -> Option<PeerStream> {
        let hosts = self.servers.values().map(|a| a.host.as_str());
        match tls::accept_peer(self.tls.as_deref(), stream, hosts).await {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::warn!(error = %e, "{what} connection: TLS handshake failed; closing");
                None
            }
        }
    }

    /// The dialling side of a connection to server `sid` (TLS when configured).
    async fn connect_peer(&self, stream: TcpStream, sid: u64) -> std::io::Result<PeerStream> {
        let host = self.servers.get(&sid).map_or("", |a| a.host.as_str());
        tls::connect_peer(self.tls.as_deref(), stream, host).await
    }

    pub fn zab_config(&self, tick_ms: u32) -> zab::Config {
        let observers = self
            .servers
            .iter()
            .filter(|(_, a)| a.observer)
            .map(|(id, _)| PeerId(*id))
            .collect();
        let mut c = zab::Config::new(PeerId(self.my_id), self.verifier.clone(), observers);
        c.tick_ms = u64::from(tick_ms.max(1));
        c.init_limit = self.init_limit.max(1);
        c.sync_limit = self.sync_limit.max(1);
        c.history_limit = self.history_limit.max(1);
        c
    }

    fn addr(&self, id: u64, election: bool) -> Option<String> {
        let a = self.servers.get(&id)?;
        let port = if election {
            a.election_port
        } else {
            a.quorum_port
        };
        Some(if a.host.contains(':') {
            format!("[{}]:{port}", a.host)
        } else {
            format!("{}:{port}", a.host)
        })
    }
}

/// Something the network tells the core task.
pub(crate) enum PeerEvent {
    Election {
        from: PeerId,
        n: Notification,
    },
    /// A learner connected to our quorum port; `first` is its FOLLOWERINFO/OBSERVERINFO.
    Accepted {
        peer: PeerId,
        conn: u64,
        out: mpsc::UnboundedSender<QOut>,
        first: Message,
    },
    Packet {
        peer: PeerId,
        conn: u64,
        packet: QuorumPacket,
        /// The state stream after a SNAP packet.
        snap: Option<Bytes>,
    },
    Closed {
        peer: PeerId,
        conn: u64,
    },
}

/// What a quorum connection's writer sends.
pub(crate) enum QOut {
    Packet(QuorumPacket),
    /// A SNAP packet followed by the state stream of this image.
    Snap {
        zxid: i64,
        view: Box<TreeView>,
        sessions: Vec<(i64, i32)>,
    },
}

// ---------------------------------------------------------------------------------------------
// Mapping Zab's messages to and from packets

fn zxid(z: Zxid) -> i64 {
    z.0 as i64
}

fn from_i64(z: i64) -> Zxid {
    Zxid(z as u64)
}

/// A Zab message as a packet. `Request`, `Revalidate` and `Snap` are built by the runtime.
pub(crate) fn to_packet(msg: &Message, my_id: u64, leading: bool) -> Option<QuorumPacket> {
    Some(match msg {
        Message::FollowerInfo {
            accepted_epoch,
            observer,
        } => QuorumPacket::learner_info(
            *observer,
            i64::from(accepted_epoch.0),
            &LearnerInfo {
                server_id: my_id as i64,
                protocol_version: quorum::ZAB_PROTOCOL_VERSION,
                config_version: 0,
            },
        ),
        Message::LeaderInfo { epoch } => QuorumPacket::leader_info(i64::from(epoch.0)),
        Message::AckEpoch {
            current_epoch,
            last_zxid,
        } => QuorumPacket::ack_epoch(
            zxid(*last_zxid),
            AckEpoch {
                current_epoch: current_epoch.map_or(AckEpoch::ALREADY_ACCEPTED, |e| e.0 as i32),
            },
        ),
        Message::Diff { last_zxid } => QuorumPacket::op(PacketType::Diff, zxid(*last_zxid)),
        Message::Trunc { zxid: z } => QuorumPacket::op(PacketType::Trunc, zxid(*z)),
        Message::Proposal(e) => {
            QuorumPacket::txn(PacketType::Proposal, zxid(e.zxid), e.data.to_vec())
        }
        Message::Commit { zxid: z } => QuorumPacket::op(PacketType::Commit, zxid(*z)),
        Message::Inform(e) => QuorumPacket::txn(PacketType::Inform, zxid(e.zxid), e.data.to_vec()),
        Message::NewLeader { epoch } => QuorumPacket::new_leader(i64::from(epoch.0), None),
        Message::Ack { zxid: z } => QuorumPacket::op(PacketType::Ack, zxid(*z)),
        Message::UpToDate => QuorumPacket::up_to_date(),
        Message::Ping { payload } => {
            let data = (!leading).then(|| payload.to_vec());
            QuorumPacket::new(PacketType::Ping, 0, data)
        }
        Message::Sync => QuorumPacket::sync(),
        Message::Snap { .. }
        | Message::Request(_)
        | Message::Revalidate(_)
        | Message::Notification(_) => return None,
    })
}

/// A packet as a Zab message; `None` for packets the runtime handles itself (REQUEST,
/// REVALIDATE) or does not know.
pub(crate) fn from_packet(
    p: &QuorumPacket,
    snap: Option<Bytes>,
) -> Result<Option<Message>, String> {
    let Some(kind) = p.kind() else {
        return Ok(None);
    };
    let z = from_i64(p.zxid);
    let data = || Bytes::copy_from_slice(p.data().unwrap_or_default());
    Ok(Some(match kind {
        PacketType::FollowerInfo | PacketType::ObserverInfo => Message::FollowerInfo {
            accepted_epoch: Epoch(quorum::epoch_of(p.zxid) as u32),
            observer: kind == PacketType::ObserverInfo,
        },
        PacketType::LeaderInfo => {
            let _: LeaderInfo = p.payload().map_err(|e| format!("LEADERINFO: {e}"))?;
            Message::LeaderInfo {
                epoch: Epoch(quorum::epoch_of(p.zxid) as u32),
            }
        }
        PacketType::AckEpoch => {
            let a: AckEpoch = p.payload().map_err(|e| format!("ACKEPOCH: {e}"))?;
            Message::AckEpoch {
                current_epoch: (a.current_epoch >= 0).then_some(Epoch(a.current_epoch as u32)),
                last_zxid: z,
            }
        }
        PacketType::Diff => Message::Diff { last_zxid: z },
        PacketType::Trunc => Message::Trunc { zxid: z },
        PacketType::Snap => Message::Snap {
            zxid: z,
            state: snap.unwrap_or_default(),
        },
        PacketType::Proposal => Message::Proposal(Entry {
            zxid: z,
            data: data(),
        }),
        PacketType::Commit => Message::Commit { zxid: z },
        PacketType::Inform => Message::Inform(Entry {
            zxid: z,
            data: data(),
        }),
        PacketType::NewLeader => Message::NewLeader {
            epoch: Epoch(quorum::epoch_of(p.zxid) as u32),
        },
        PacketType::Ack => Message::Ack { zxid: z },
        PacketType::UpToDate => Message::UpToDate,
        PacketType::Ping => Message::Ping { payload: data() },
        PacketType::Sync => Message::Sync,
        _ => return Ok(None),
    }))
}

pub(crate) fn to_wire_notification(n: &Notification, config: &[u8]) -> election::Notification {
    let state = match n.state {
        ServerState::Looking => election::ServerState::Looking,
        ServerState::Following => election::ServerState::Following,
        ServerState::Leading => election::ServerState::Leading,
        ServerState::Observing => election::ServerState::Observing,
    };
    let (leader, z, pe) = match n.vote.leader {
        Some(l) => (
            l.0 as i64,
            zxid(n.vote.zxid),
            i64::from(n.vote.peer_epoch.0),
        ),
        None => (i64::MIN, i64::MIN, i64::MIN),
    };
    election::Notification::new(
        state,
        leader,
        z,
        n.election_epoch as i64,
        pe,
        config.to_vec(),
    )
}

pub(crate) fn from_wire_notification(n: &election::Notification) -> Notification {
    let state = match n.state {
        election::ServerState::Looking => ServerState::Looking,
        election::ServerState::Following => ServerState::Following,
        election::ServerState::Leading => ServerState::Leading,
        election::ServerState::Observing => ServerState::Observing,
    };
    let leader = (n.leader >= 0).then_some(PeerId(n.leader as u64));
    Notification {
        state,
        vote: Vote {
            leader,
            zxid: if leader.is_some() {
                from_i64(n.zxid)
            } else {
                Zxid::ZERO
            },
            peer_epoch: Epoch(n.peer_epoch.clamp(0, i64::from(u32::MAX)) as u32),
        },
        election_epoch: n.election_epoch.max(0) as u64,
    }
}

/// The quorum verifier as Apache prints it in notifications (`QuorumVerifier.toString()`).
pub(crate) fn config_string(q: &QuorumSettings) -> Vec<u8> {
    let mut s = String::new();
    for (id, a) in &q.servers {
        let role = if a.observer {
            "observer"
        } else {
            "participant"
        };
        s.push_str(&format!(
            "server.{id}={}:{}:{}:{role}\n",
            a.host, a.quorum_port, a.election_port
        ));
    }
    s.push_str("version=0");
    s.into_bytes()
}

// ---------------------------------------------------------------------------------------------
// Election port

/// Handle for sending notifications.
#[derive(Clone)]
pub(crate) struct ElectionNet {
    tx: mpsc::UnboundedSender<(PeerId, Notification)>,
}

impl ElectionNet {
    pub fn send(&self, to: PeerId, n: Notification) {
        let _ = self.tx.send((to, n));
    }
}

enum ElectionInternal {
    Up {
        sid: u64,
        id: u64,
        tx: mpsc::UnboundedSender<Vec<u8>>,
    },
    Down {
        sid: u64,
        id: u64,
    },
    DialFailed {
        sid: u64,
    },
}

/// Starts the election port: listener, dialler and connection tasks.
pub(crate) async fn start_election(
    q: Arc<QuorumSettings>,
    to_core: mpsc::UnboundedSender<ToCore>,
    shutdown: watch::Receiver<bool>,
) -> std::io::Result<ElectionNet> {
    let me = q.servers.get(&q.my_id).cloned().ok_or_else(|| {
        std::io::Error::other(format!("myid {} has no server.{} line", q.my_id, q.my_id))
    })?;
    let listener = TcpListener::bind(("0.0.0.0", me.election_port)).await?;
    let (tx, rx) = mpsc::unbounded_channel();
    let (itx, irx) = mpsc::unbounded_channel();
    let config = config_string(&q);
    tokio::spawn(election_accept(
        listener,
        q.clone(),
        to_core.clone(),
        itx.clone(),
        shutdown.clone(),
    ));
    tokio::spawn(election_manager(q, rx, irx, itx, to_core, config, shutdown));
    Ok(ElectionNet { tx })
}

async fn election_accept(
    listener: TcpListener,
    q: Arc<QuorumSettings>,
    to_core: mpsc::UnboundedSender<ToCore>,
    itx: mpsc::UnboundedSender<ElectionInternal>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            _ = shutdown.changed() => return,
        };
        let Ok((stream, _)) = accepted else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let q = q.clone();
        let to_core = to_core.clone();
        let itx = itx.clone();
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            let Some(mut stream) = q.accept_peer(stream, "election").await else {
                return;
            };
            let mut buf = Vec::new();
            let header = loop {
                match ConnectionHeader::decode(&buf) {
                    Ok(Some((h, used))) => {
                        buf.drain(..used);
                        break h;
                    }
                    Ok(None) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, "election connection: bad header; closing");
                        return;
                    }
                }
                let mut chunk = [0u8; 512];
                match tokio::time::timeout(Duration::from_secs(5), stream.read(&mut chunk)).await {
                    Ok(Ok(n)) if n > 0 => buf.extend_from_slice(&chunk[..n]),
                    _ => return,
                }
            };
            let sid = header.sid as u64;
            if !q.servers.contains_key(&sid) {
                tracing::warn!(
                    sid,
                    "election connection from a server not in the configuration; closing"
                );
                return;
            }
            if sid < q.my_id {
                // Only the connection from the higher sid is kept: dial it back.
                drop(stream);
                let _ = itx.send(ElectionInternal::DialFailed { sid });
                return;
            }
            run_election_conn(stream, sid, buf, to_core, itx, shutdown).await;
        });
    }
}

static NEXT_ELECTION_CONN: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

async fn run_election_conn(
    stream: PeerStream,
    sid: u64,
    mut buf: Vec<u8>,
    to_core: mpsc::UnboundedSender<ToCore>,
    itx: mpsc::UnboundedSender<ElectionInternal>,
    mut shutdown: watch::Receiver<bool>,
) {
    let id = NEXT_ELECTION_CONN.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let (tx, mut rx) = mpsc::unbounded_channel::<Vec<u8>>();
    let _ = itx.send(ElectionInternal::Up { sid, id, tx });
    let (mut rd, mut wr) = tokio::io::split(stream);
    let writer = tokio::spawn(async move {
        while let Some(m) = rx.recv().await {
            if wr.write_all(&m).await.is_err() {
                break;
            }
        }
    });
    let mut chunk = vec![0u8; 8192];
    'read: loop {
        loop {
            match election::check_message(&buf) {
                Ok(Some(end)) => {
                    match election::Notification::decode(&buf[4..end]) {
                        Ok(n) => {
                            let _ = to_core.send(ToCore::Peer(PeerEvent::Election {
                                from: PeerId(sid),
                                n: from_wire_notification(&n),
                            }));
                        }
                        Err(e) => tracing::debug!(sid, error = %e, "skipping a notification"),
                    }
                    buf.drain(..end);
                }
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!(sid, error = %e, "election connection: bad frame; closing");
                    break 'read;
                }
            }
        }
        let n = tokio::select! {
            r = rd.read(&mut chunk) => r,
            _ = shutdown.changed() => break,
        };
        match n {
            Ok(n) if n > 0 => buf.extend_from_slice(&chunk[..n]),
            _ => break,
        }
    }
    writer.abort();
    let _ = itx.send(ElectionInternal::Down { sid, id });
}

#[allow(clippy::too_many_arguments)]
async fn election_manager(
    q: Arc<QuorumSettings>,
    mut rx: mpsc::UnboundedReceiver<(PeerId, Notification)>,
    mut irx: mpsc::UnboundedReceiver<ElectionInternal>,
    itx: mpsc::UnboundedSender<ElectionInternal>,
    to_core: mpsc::UnboundedSender<ToCore>,
    config: Vec<u8>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut conns: HashMap<u64, (u64, mpsc::UnboundedSender<Vec<u8>>)> = HashMap::new();
    let mut pending: HashMap<u64, Vec<u8>> = HashMap::new();
    let mut dialing: HashMap<u64, bool> = HashMap::new();
    loop {
        tokio::select! {
            m = rx.recv() => {
                let Some((to, n)) = m else { return };
                let mut frame = Vec::new();
                election::put_message(&mut frame, &to_wire_notification(&n, &config).to_bytes());
                let sid = to.0;
                if let Some((_, tx)) = conns.get(&sid) {
                    if tx.send(frame.clone()).is_ok() {
                        continue;
                    }
                    conns.remove(&sid);
                }
                // Keep the newest notification; FLE resends anyway.
                pending.insert(sid, frame);
                if !dialing.get(&sid).copied().unwrap_or(false) {
                    dialing.insert(sid, true);
                    tokio::spawn(election_dial(q.clone(), sid, to_core.clone(), itx.clone(), shutdown.clone()));
                }
            }
            ev = irx.recv() => {
                let Some(ev) = ev else { return };
                match ev {
                    ElectionInternal::Up { sid, id, tx } => {
                        dialing.insert(sid, false);
                        if let Some(f) = pending.remove(&sid) {
                            let _ = tx.send(f);
                        }
                        conns.insert(sid, (id, tx));
                    }
                    ElectionInternal::Down { sid, id } => {
                        if conns.get(&sid).is_some_and(|(cid, _)| *cid == id) {
                            conns.remove(&sid);
                        }
                    }
                    ElectionInternal::DialFailed { sid } => {
                        dialing.insert(sid, false);
                        if !conns.contains_key(&sid) && sid < q.my_id {
                            // A lower sid dialled us: dial it back.
                            dialing.insert(sid, true);
                            tokio::spawn(election_dial(q.clone(), sid, to_core.clone(), itx.clone(), shutdown.clone()));
                        }
                    }
                }
            }
            _ = shutdown.changed() => return,
        }
    }
}

async fn election_dial(
    q: Arc<QuorumSettings>,
    sid: u64,
    to_core: mpsc::UnboundedSender<ToCore>,
    itx: mpsc::UnboundedSender<ElectionInternal>,
    shutdown: watch::Receiver<bool>,
) {
    let Some(addr) = q.addr(sid, true) else {
        let _ = itx.send(ElectionInternal::DialFailed { sid });
        return;
    };
    let stream = match tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(&addr)).await
    {
        Ok(Ok(s)) => s,
        _ => {
            let _ = itx.send(ElectionInternal::DialFailed { sid });
            return;
        }
    };
    let _ = stream.set_nodelay(true);
    let mut stream = match q.connect_peer(stream, sid).await {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(sid, error = %e, "election connection: TLS handshake failed");
            let _ = itx.send(ElectionInternal::DialFailed { sid });
            return;
        }
    };
    let me = &q.servers[&q.my_id];
    let header = ConnectionHeader::v1(
        q.my_id as i64,
        ElectionAddr {
            host: me.host.clone(),
            port: me.election_port,
        },
    );
    if stream.write_all(&header.to_bytes()).await.is_err() {
        let _ = itx.send(ElectionInternal::DialFailed { sid });
        return;
    }
    if sid > q.my_id {
        // The higher sid closes our connection and dials back; nothing to keep here.
        let mut b = [0u8; 64];
        let _ = tokio::time::timeout(Duration::from_secs(2), stream.read(&mut b)).await;
        let _ = itx.send(ElectionInternal::DialFailed { sid });
        return;
    }
    run_election_conn(stream, sid, Vec::new(), to_core, itx, shutdown).await;
}

// ---------------------------------------------------------------------------------------------
// Quorum port

static NEXT_QUORUM_CONN: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

pub(crate) fn next_conn_id() -> u64 {
    NEXT_QUORUM_CONN.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// Listens on the quorum port; every connection must open with FOLLOWERINFO/OBSERVERINFO.
pub(crate) async fn start_quorum_listener(
    q: Arc<QuorumSettings>,
    to_core: mpsc::UnboundedSender<ToCore>,
    mut shutdown: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let me = q.servers.get(&q.my_id).cloned().ok_or_else(|| {
        std::io::Error::other(format!("myid {} has no server.{} line", q.my_id, q.my_id))
    })?;
    let listener = TcpListener::bind(("0.0.0.0", me.quorum_port)).await?;
    tokio::spawn(async move {
        loop {
            let accepted = tokio::select! {
                r = listener.accept() => r,
                _ = shutdown.changed() => return,
            };
            let Ok((stream, _)) = accepted else {
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            };
            let _ = stream.set_nodelay(true);
            let q = q.clone();
            let to_core = to_core.clone();
            let shutdown = shutdown.clone();
            tokio::spawn(async move {
                let Some(stream) = q.accept_peer(stream, "quorum").await else {
                    return;
                };
                let (mut rd, wr) = tokio::io::split(stream);
                let mut buf = Vec::new();
                let first = match tokio::time::timeout(
                    Duration::from_secs(10),
                    read_packet(&mut rd, &mut buf),
                )
                .await
                {
                    Ok(Ok(Some(p))) => p,
                    _ => return,
                };
                let Ok(Some(msg)) = from_packet(&first, None) else {
                    return;
                };
                if !matches!(msg, Message::FollowerInfo { .. }) {
                    return;
                }
                let sid = match first.payload::<LearnerInfo>() {
                    Ok(info) => info.server_id as u64,
                    Err(_) => return,
                };
                if !q.servers.contains_key(&sid) || sid == q.my_id {
                    tracing::warn!(
                        sid,
                        "quorum connection from a server not in the configuration"
                    );
                    return;
                }
                let conn = next_conn_id();
                let (out, out_rx) = mpsc::unbounded_channel();
                let _ = to_core.send(ToCore::Peer(PeerEvent::Accepted {
                    peer: PeerId(sid),
                    conn,
                    out,
                    first: msg,
                }));
                tokio::spawn(quorum_writer(wr, out_rx));
                quorum_reader(rd, buf, PeerId(sid), conn, to_core, shutdown).await;
            });
        }
    });
    Ok(())
}

/// A learner dials its leader. Apache tries five times, a second apart.
pub(crate) fn dial_leader(
    q: Arc<QuorumSettings>,
    leader: PeerId,
    conn: u64,
    out_rx: mpsc::UnboundedReceiver<QOut>,
    to_core: mpsc::UnboundedSender<ToCore>,
    shutdown: watch::Receiver<bool>,
) {
    tokio::spawn(async move {
        let Some(addr) = q.addr(leader.0, false) else {
            let _ = to_core.send(ToCore::Peer(PeerEvent::Closed { peer: leader, conn }));
            return;
        };
        let mut stream = None;
        for attempt in 0..5 {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(1000)).await;
            }
            if let Ok(Ok(s)) =
                tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(&addr)).await
            {
                stream = Some(s);
                break;
            }
        }
        let Some(stream) = stream else {
            tracing::warn!(%addr, "cannot reach the leader's quorum port");
            let _ = to_core.send(ToCore::Peer(PeerEvent::Closed { peer: leader, conn }));
            return;
        };
        let _ = stream.set_nodelay(true);
        let stream = match q.connect_peer(stream, leader.0).await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(%addr, error = %e, "TLS handshake with the leader failed");
                let _ = to_core.send(ToCore::Peer(PeerEvent::Closed { peer: leader, conn }));
                return;
            }
        };
        let (rd, wr) = tokio::io::split(stream);
        tokio::spawn(quorum_writer(wr, out_rx));
        quorum_reader(rd, Vec::new(), leader, conn, to_core, shutdown).await;
    });
}

async fn read_packet(
    rd: &mut ReadHalf<PeerStream>,
    buf: &mut Vec<u8>,
) -> std::io::Result<Option<QuorumPacket>> {
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        match quorum::decode_packet(buf, quorum::DEFAULT_QUORUM_MAX_BUFFER) {
            Ok(Some((p, used))) => {
                buf.drain(..used);
                return Ok(Some(p));
            }
            Ok(None) => {}
            Err(e) => return Err(std::io::Error::other(e.to_string())),
        }
        let n = rd.read(&mut chunk).await?;
        if n == 0 {
            return Ok(None);
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Whether a SNAP stream's closing signature (ustring "BenWasHere") appears in `buf` at or
/// after `from`; packets may follow it in the same read.
fn has_signature(buf: &[u8], from: usize) -> bool {
    let mut sig = Vec::with_capacity(14);
    sig.extend_from_slice(&10i32.to_be_bytes());
    sig.extend_from_slice(quorum::SNAP_SIGNATURE.as_bytes());
    buf.get(from..)
        .is_some_and(|b| b.windows(sig.len()).any(|w| w == sig.as_slice()))
}

async fn quorum_reader(
    mut rd: ReadHalf<PeerStream>,
    mut buf: Vec<u8>,
    peer: PeerId,
    conn: u64,
    to_core: mpsc::UnboundedSender<ToCore>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut chunk = vec![0u8; 64 * 1024];
    let mut snap: Option<QuorumPacket> = None;
    // How far the buffer was searched for the SNAP signature.
    let mut searched = 0usize;
    let mut pos = 0usize;
    'outer: loop {
        loop {
            if let Some(p) = &snap {
                let found = has_signature(&buf, searched.saturating_sub(14));
                searched = buf.len();
                if !found {
                    break;
                }
                match snapshot::read_snap_stream(&buf) {
                    Ok(Some((_, used))) => {
                        let state = Bytes::copy_from_slice(&buf[..used]);
                        buf.drain(..used);
                        let packet = p.clone();
                        snap = None;
                        let _ = to_core.send(ToCore::Peer(PeerEvent::Packet {
                            peer,
                            conn,
                            packet,
                            snap: Some(state),
                        }));
                        continue;
                    }
                    Ok(None) => break,
                    Err(e) => {
                        tracing::warn!(%peer, error = %e, "bad SNAP stream; closing");
                        break 'outer;
                    }
                }
            }
            // Packets are cut from `buf[pos..]`; the consumed prefix is dropped once per read,
            // not once per packet (a 64 KiB read holds hundreds of PROPOSALs and ACKs).
            match quorum::decode_packet(&buf[pos..], quorum::DEFAULT_QUORUM_MAX_BUFFER) {
                Ok(Some((p, used))) => {
                    pos += used;
                    if p.kind() == Some(PacketType::Snap) {
                        buf.drain(..pos);
                        pos = 0;
                        snap = Some(p);
                        searched = 0;
                        continue;
                    }
                    let _ = to_core.send(ToCore::Peer(PeerEvent::Packet {
                        peer,
                        conn,
                        packet: p,
                        snap: None,
                    }));
                }
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!(%peer, error = %e, "malformed quorum packet; closing");
                    break 'outer;
                }
            }
        }
        buf.drain(..pos);
        pos = 0;
        let n = tokio::select! {
            r = rd.read(&mut chunk) => r,
            _ = shutdown.changed() => break,
        };
        match n {
            Ok(n) if n > 0 => buf.extend_from_slice(&chunk[..n]),
            _ => break,
        }
    }
    let _ = to_core.send(ToCore::Peer(PeerEvent::Closed { peer, conn }));
}

async fn quorum_writer(mut wr: WriteHalf<PeerStream>, mut rx: mpsc::UnboundedReceiver<QOut>) {
    let mut out = Vec::with_capacity(64 * 1024);
    while let Some(first) = rx.recv().await {
        let mut next = Some(first);
        while let Some(item) = next.take() {
            match item {
                QOut::Packet(p) => p.encode(&mut out),
                QOut::Snap {
                    zxid,
                    view,
                    sessions,
                } => {
                    QuorumPacket::op(PacketType::Snap, zxid).encode(&mut out);
                    let r = tokio::task::spawn_blocking(move || {
                        let mut b = Vec::new();
                        snapshot::write_snap_stream(&mut b, &view, &sessions).map(|_| b)
                    })
                    .await;
                    match r {
                        Ok(Ok(b)) => out.extend_from_slice(&b),
                        _ => return,
                    }
                }
            }
            if out.len() < 256 * 1024 {
                next = rx.try_recv().ok();
            }
        }
        if wr.write_all(&out).await.is_err() {
            return;
        }
        out.clear();
    }
    let _ = wr.shutdown().await;
}

/// A REQUEST packet for a forwarded write, with the client's identities.
pub(crate) fn request_packet(data: Vec<u8>, auth: Vec<Id>) -> QuorumPacket {
    let mut p = QuorumPacket::new(PacketType::Request, -1, Some(data));
    p.authinfo = Some(auth);
    p
}
