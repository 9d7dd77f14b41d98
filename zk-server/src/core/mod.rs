//! The server's pure core: every connection's frames go in, bytes to send and connections to
//! close come out. No sockets, files, clocks or threads: time arrives as [`Now`].
//!
//! Request path (ZooKeeper's processor chain, as plain functions):
//! 1. [`Core::handle_frame`] decodes a frame; the first on a connection is the handshake.
//! 2. Reads are answered at once from the tree ([`reads`]).
//! 3. Writes go through [`prep`]: validated against the tree *plus* changes proposed but not
//!    yet applied, they become a [`txn::Txn`] stamped with zxid and wall time; a failed write
//!    becomes an error txn, as in ZooKeeper, and still consumes a zxid.
//! 4. The txn is handed out as [`Effect::Persist`]; once the runtime has made it durable it calls
//!    [`Core::commit`], which applies it ([`apply`]), fires watches, and answers the client.
//!
//! Modules: [`tree`] (znodes), [`acl`], [`watches`], [`sessions`], [`txn`], [`prep`], [`apply`],
//! [`reads`], [`stats`] (counters behind the four-letter words), [`quota`], [`readonly`].

pub mod acl;
pub mod apply;
pub mod cluster;
pub mod config_node;
pub mod prep;
pub mod quota;
pub mod readonly;
pub mod reads;
pub mod sessions;
pub mod stats;
pub mod tree;
pub mod txn;
pub mod watches;

use std::collections::{BTreeMap, HashMap, VecDeque};

use zk_proto::codec::Encode;
use zk_proto::consts::xid;
use zk_proto::data::Id;
use zk_proto::proto::{ConnectRequest, ConnectResponse, ReplyHeader, WatcherEvent};
use zk_proto::request::{decode_request, Request, RequestError};
use zk_proto::{frame, ErrorCode, EventType, KeeperState, OpCode};

pub use self::cluster::ServerRole;
use self::prep::{ChangeRecords, Origin};
use self::sessions::SessionTracker;
use self::stats::{ConnStats, ServerStats};
use self::tree::DataTree;
use self::txn::Txn;
use self::watches::WatchManager;

/// A connection, numbered by the runtime.
pub type ConnId = u64;

/// The time, as the runtime read it: wall clock for txn timestamps, monotonic for expiry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Now {
    pub wall_ms: i64,
    pub mono_ms: u64,
}

/// What the core asks the runtime to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Queue a complete frame (length prefix included) on a connection.
    Send { conn: ConnId, frame: Vec<u8> },
    /// Close a connection after flushing what was queued on it.
    Close { conn: ConnId },
    /// Make this txn durable, then call [`Core::commit`] with its zxid. Txns come out in zxid
    /// order and must be committed in that order. (A leader proposes it through Zab instead.)
    Persist(Box<Txn>),
    /// Learner: send the leader a REQUEST (`long sessionId; int cxid; int type; body`) made
    /// on behalf of a client with these identities.
    Forward { data: Vec<u8>, auth: Vec<Id> },
    /// Learner: ask the leader whether `session` may move here; answer with
    /// [`Core::revalidated`].
    Revalidate { session: i64, timeout: i32 },
}

/// Settings the core needs, taken from zoo.cfg by the runtime.
#[derive(Debug, Clone)]
pub struct CoreConfig {
    pub server_id: u64,
    pub tick_time_ms: u32,
    pub min_session_timeout_ms: u32,
    pub max_session_timeout_ms: u32,
    pub max_buffer: usize,
    pub extended_types_enabled: bool,
    /// `user:base64(sha1)` whose digest login grants the `super` identity.
    pub super_digest: Option<String>,
    pub skip_acl: bool,
    pub reconfig_enabled: bool,
    pub container_check_interval_ms: u64,
    pub container_max_per_minute: u32,
    /// `zookeeper.digest.enabled`: stamp txns with the tree digest and check it on apply.
    pub digest_enabled: bool,
    /// `zookeeper.enforceQuota`: hard quota limits refuse creates and setData.
    pub enforce_quota: bool,
    /// `readonlymode.enabled`: an ensemble member without a quorum serves read-only clients
    /// (the runtime decides when, see [`Core::set_read_only`]).
    pub read_only_mode_enabled: bool,
}

impl Default for CoreConfig {
    fn default() -> Self {
        CoreConfig {
            server_id: 1,
            tick_time_ms: 2000,
            min_session_timeout_ms: 4000,
            max_session_timeout_ms: 40000,
            max_buffer: zk_proto::DEFAULT_MAX_BUFFER,
            extended_types_enabled: false,
            super_digest: None,
            skip_acl: false,
            reconfig_enabled: false,
            container_check_interval_ms: 60_000,
            container_max_per_minute: 10_000,
            digest_enabled: true,
            enforce_quota: false,
            read_only_mode_enabled: false,
        }
    }
}

/// A client connection's state in the core.
#[derive(Debug, Clone)]
pub struct Conn {
    /// The client's address; its IP is also the connection's `ip` identity.
    pub peer: std::net::SocketAddr,
    pub session: Option<i64>,
    /// Identities for ACL checks: `ip:<addr>` from the start, more after `auth` packets.
    pub auth: Vec<Id>,
    /// True when the client's ConnectRequest carried the `readOnly` flag.
    pub sent_read_only_flag: bool,
    pub stats: ConnStats,
}

/// A request that waits for its session's earlier writes to be applied.
#[derive(Debug, Clone)]
struct Held {
    conn: ConnId,
    payload: Vec<u8>,
    wait_zxid: i64,
}

/// Why a txn was proposed: who to answer once it is applied.
#[derive(Debug, Clone)]
pub(crate) struct Pending {
    pub origin: Origin,
    pub zxid: i64,
}

pub struct Core {
    pub config: CoreConfig,
    pub tree: DataTree,
    pub sessions: SessionTracker,
    pub data_watches: WatchManager,
    pub child_watches: WatchManager,
    pub conns: BTreeMap<ConnId, Conn>,
    session_conn: HashMap<i64, ConnId>,
    /// The last zxid handed to a txn, and the last one applied.
    next_zxid: i64,
    last_applied: i64,
    changes: ChangeRecords,
    pending: VecDeque<Pending>,
    last_container_check_ms: u64,
    /// Set by applying a closeSession txn: the session's connection, closed after the answer.
    session_closing_conn: Option<ConnId>,
    /// The monotonic time of the input being handled, for connection stats.
    clock_mono_ms: u64,
    /// Per session: the zxid of its last proposed write, and requests waiting for it.
    session_last_write: HashMap<i64, i64>,
    held: HashMap<i64, VecDeque<Held>>,
    pub stats: ServerStats,
    quota_log: quota::QuotaLog,
    /// Set while serving read-only clients without a quorum.
    read_only: Option<readonly::ReadOnlyState>,
    role: ServerRole,
    /// False while an ensemble member is not synced with a leader: clients are turned away.
    serving: bool,
    learner: cluster::LearnerState,
}

/// Requests that go through prep and the txn log.
pub(crate) fn is_write(op: OpCode) -> bool {
    use OpCode::*;
    matches!(
        op,
        Create
            | Create2
            | CreateContainer
            | CreateTtl
            | Delete
            | SetData
            | SetAcl
            | Multi
            | Reconfig
            | CloseSession
    )
}

/// Writes a reply body after the header.
pub(crate) type Body<'a> = Option<&'a dyn Fn(&mut Vec<u8>)>;

fn reply_frame(xid: i32, zxid: i64, err: i32, body: Body<'_>) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    let at = frame::begin(&mut out);
    ReplyHeader { xid, zxid, err }.encode(&mut out);
    if let Some(b) = body {
        b(&mut out);
    }
    frame::finish(&mut out, at);
    out
}

impl Core {
    pub fn new(config: CoreConfig, now: Now) -> Self {
        let tree = DataTree::new();
        let prep_digest = tree.digest() as u64;
        Core {
            // Seeded from the wall clock (ZooKeeper uses time since boot): a restarted server must
            // not hand out ids, and so passwords, that clients of its previous run still hold.
            sessions: SessionTracker::new(
                config.server_id,
                config.tick_time_ms,
                now.wall_ms.max(0) as u64,
            ),
            config,
            tree,
            data_watches: WatchManager::default(),
            child_watches: WatchManager::default(),
            conns: BTreeMap::new(),
            session_conn: HashMap::new(),
            next_zxid: 0,
            last_applied: 0,
            changes: ChangeRecords::new(prep_digest),
            pending: VecDeque::new(),
            last_container_check_ms: now.mono_ms,
            session_closing_conn: None,
            clock_mono_ms: now.mono_ms,
            session_last_write: HashMap::new(),
            held: HashMap::new(),
            stats: ServerStats::default(),
            quota_log: quota::QuotaLog::default(),
            read_only: None,
            role: ServerRole::Standalone,
            serving: true,
            learner: cluster::LearnerState::default(),
        }
    }

    /// The zxid of the last txn applied to the tree.
    pub fn last_zxid(&self) -> i64 {
        self.last_applied
    }

    pub fn connection_opened(&mut self, conn: ConnId, peer: std::net::SocketAddr, now: Now) {
        self.conns.insert(
            conn,
            Conn {
                peer,
                session: None,
                auth: vec![Id::new("ip", &peer.ip().to_string())],
                sent_read_only_flag: false,
                stats: ConnStats::new(now.mono_ms),
            },
        );
    }

    /// Identities the transport proved for a connection (a TLS client certificate's `x509`
    /// id, and `super` for the configured x509 super user).
    pub fn add_identities(&mut self, conn: ConnId, ids: Vec<Id>) {
        if let Some(c) = self.conns.get_mut(&conn) {
            for id in ids {
                if !c.auth.contains(&id) {
                    c.auth.push(id);
                }
            }
        }
    }

    /// The socket is gone: its watches go with it; its session lives on until it expires.
    pub fn connection_closed(&mut self, conn: ConnId) {
        if let Some(c) = self.conns.remove(&conn) {
            if let Some(s) = c.session {
                if self.session_conn.get(&s) == Some(&conn) {
                    self.session_conn.remove(&s);
                }
            }
        }
        self.data_watches.remove_conn(conn);
        self.child_watches.remove_conn(conn);
        self.held.retain(|_, q| {
            q.retain(|h| h.conn != conn);
            !q.is_empty()
        });
    }

    /// One frame's payload from a connection.
    pub fn handle_frame(&mut self, conn: ConnId, payload: &[u8], now: Now) -> Vec<Effect> {
        let mut fx = Vec::new();
        self.clock_mono_ms = now.mono_ms;
        let Some(c) = self.conns.get_mut(&conn) else {
            return fx;
        };
        c.stats.packets_received += 1;
        self.stats.packets_received += 1;
        self.stats.bytes_received += payload.len() as u64 + 4;
        match c.session {
            None => self.handle_connect(conn, payload, now, &mut fx),
            Some(session) => self.handle_request(conn, session, payload, now, &mut fx),
        }
        fx
    }

    fn handle_connect(&mut self, conn: ConnId, payload: &[u8], now: Now, fx: &mut Vec<Effect>) {
        if !self.serving && self.read_only.is_none() {
            // ZooKeeper's "ZooKeeperServer not running": the client tries another server.
            fx.push(Effect::Close { conn });
            return;
        }
        let req = match <ConnectRequest as zk_proto::Decode>::decode(
            &mut zk_proto::Reader::with_max(payload, self.config.max_buffer),
        ) {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(conn, error = %e, "closing connection: malformed ConnectRequest");
                fx.push(Effect::Close { conn });
                return;
            }
        };
        if req.last_zxid_seen > self.last_applied {
            tracing::info!(
                conn,
                "refusing session: client has seen zxid {:#x}, our last zxid is {:#x}; client must try another server",
                req.last_zxid_seen,
                self.last_applied
            );
            fx.push(Effect::Close { conn });
            return;
        }
        let timeout = (req.time_out.max(0) as u32).clamp(
            self.config.min_session_timeout_ms,
            self.config.max_session_timeout_ms,
        );
        let read_only_flag = req.read_only.is_some();
        if let Some(c) = self.conns.get_mut(&conn) {
            c.sent_read_only_flag = read_only_flag;
        }
        if req.session_id != 0 {
            self.stats.connection_revalidate += 1;
        }
        if self.read_only.is_some() {
            self.ro_connect(conn, &req, timeout, now, fx);
            return;
        }
        if req.session_id == 0 && self.role == ServerRole::Learner {
            self.learner_new_session(conn, timeout, fx);
            return;
        }
        if req.session_id == 0 {
            let id = self.sessions.next_session_id();
            self.attach(conn, id);
            let origin = Origin::Connect { conn, timeout };
            let body = txn::TxnBody::CreateSession(zk_proto::txn::CreateSessionTxn {
                time_out: timeout as i32,
            });
            let zxid = self.reserve_zxid();
            self.propose(zxid, id, 0, OpCode::CreateSession, body, origin, now, fx);
            return;
        }
        let id = req.session_id;
        let valid = req.passwd.as_slice() == sessions::password(id).as_slice()
            && self.sessions.get(id).is_some_and(|s| !s.closing);
        if self.role == ServerRole::Learner
            && req.passwd.as_slice() == sessions::password(id).as_slice()
        {
            self.learner_resume(conn, id, timeout, fx);
            return;
        }
        if !valid {
            self.send_connect_response(conn, 0, 0, false, fx);
            fx.push(Effect::Close { conn });
            return;
        }
        // The session moves here; the connection it had (if any) is closed, as ZooKeeper does.
        if let Some(old) = self.session_conn.get(&id).copied() {
            if old != conn {
                fx.push(Effect::Close { conn: old });
                self.connection_closed(old);
            }
        }
        self.sessions.touch(id, now.mono_ms);
        self.attach(conn, id);
        self.send_connect_response(conn, id, timeout, true, fx);
    }

    pub(crate) fn attach(&mut self, conn: ConnId, session: i64) {
        if let Some(c) = self.conns.get_mut(&conn) {
            c.session = Some(session);
        }
        self.session_conn.insert(session, conn);
    }

    pub(crate) fn send_connect_response(
        &mut self,
        conn: ConnId,
        session: i64,
        timeout: u32,
        valid: bool,
        fx: &mut Vec<Effect>,
    ) {
        let read_only = self.read_only.is_some();
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        c.stats.last_op = "SESS";
        c.stats.last_cxid = 0;
        let resp = ConnectResponse {
            protocol_version: 0,
            time_out: if valid { timeout as i32 } else { 0 },
            session_id: if valid { session } else { 0 },
            passwd: if valid {
                sessions::password(session).to_vec()
            } else {
                vec![0; 16]
            },
            read_only: c.sent_read_only_flag.then_some(read_only),
        };
        let mut out = Vec::with_capacity(48);
        let at = frame::begin(&mut out);
        resp.encode(&mut out);
        frame::finish(&mut out, at);
        self.send(conn, out, fx);
    }

    pub(crate) fn send(&mut self, conn: ConnId, frame: Vec<u8>, fx: &mut Vec<Effect>) {
        // A reply over jute.maxbuffer would be rejected by the client ("Packet len is out of
        // range"); close instead, and say why here, where the operator can see it.
        if frame.len() - 4 > self.config.max_buffer {
            tracing::warn!(
                conn,
                len = frame.len() - 4,
                max = self.config.max_buffer,
                "closing connection: response larger than jute.maxbuffer"
            );
            fx.push(Effect::Close { conn });
            return;
        }
        if let Some(c) = self.conns.get_mut(&conn) {
            c.stats.packets_sent += 1;
            self.stats.packets_sent += 1;
            fx.push(Effect::Send { conn, frame });
        }
    }

    /// Request latency, server-wide and per connection (`srvr`, `cons`, `mntr`).
    pub(crate) fn record_latency(&mut self, conn: ConnId, ms: u64) {
        self.stats.read_latency.record(ms as i64);
        self.record_conn_latency(conn, ms);
    }

    /// The latency of a request answered after its txn committed (`updatelatency`).
    pub(crate) fn record_update_latency(&mut self, conn: ConnId, ms: u64) {
        self.stats.update_latency.record(ms as i64);
        self.record_conn_latency(conn, ms);
    }

    fn record_conn_latency(&mut self, conn: ConnId, ms: u64) {
        self.stats.latency.record(ms);
        if let Some(c) = self.conns.get_mut(&conn) {
            c.stats.latency.record(ms);
        }
    }

    /// A four-letter word arrived on `conn`: counted as a packet, and the connection is done.
    pub fn four_letter_word(&mut self, conn: ConnId) {
        self.stats.packets_received += 1;
        if let Some(c) = self.conns.get_mut(&conn) {
            c.stats.packets_received += 1;
            c.stats.four_letter = true;
        }
    }

    /// The answer to a four-letter word goes out in `packets` writes; the connection is done.
    pub fn four_letter_answered(&mut self, conn: ConnId, packets: u64) {
        self.stats.packets_sent += packets;
        self.connection_closed(conn);
    }

    pub(crate) fn reply(
        &mut self,
        conn: ConnId,
        xid: i32,
        err: ErrorCode,
        body: Body<'_>,
        fx: &mut Vec<Effect>,
    ) {
        let zxid = self.last_applied;
        let body = if err == ErrorCode::Ok { body } else { None };
        let f = reply_frame(xid, zxid, err.code(), body);
        // The answer's size without its length prefix, as ZooKeeper's BufferStats counts it.
        self.stats.client_response.record(f.len().saturating_sub(4));
        self.stats.response_bytes += f.len().saturating_sub(4) as u64;
        if let Some(c) = self.conns.get_mut(&conn) {
            c.stats.last_zxid = zxid;
            c.stats.last_response_mono_ms = self.clock_mono_ms;
        }
        self.send(conn, f, fx);
    }

    /// A watch notification (xid -1). `zxid` is the change's zxid (3.9 behaviour), or -1.
    pub(crate) fn notify(
        &mut self,
        conn: ConnId,
        event: EventType,
        path: &str,
        zxid: i64,
        fx: &mut Vec<Effect>,
    ) {
        let ev = WatcherEvent {
            event_type: event.code(),
            state: KeeperState::SyncConnected.code(),
            path: path.to_owned(),
        };
        let f = reply_frame(
            xid::NOTIFICATION,
            zxid,
            0,
            Some(&|out: &mut Vec<u8>| ev.encode(out)),
        );
        self.stats.watch_bytes += f.len().saturating_sub(4) as u64;
        self.send(conn, f, fx);
    }

    fn handle_request(
        &mut self,
        conn: ConnId,
        session: i64,
        payload: &[u8],
        now: Now,
        fx: &mut Vec<Effect>,
    ) {
        if self.read_only.is_some() && self.ro_request(conn, session, payload, now, fx) {
            return;
        }
        // A session's requests are answered in the order they were sent. Writes wait for the
        // disk before they are answered, so anything else the session sends after a write it
        // has pending waits too, in order. Writes themselves are prepped at once (pipelining);
        // auth is handled at once, as ZooKeeper does, so later writes see the new identity.
        let op = peek_header(payload).and_then(|(_, op)| op);
        if !op.is_some_and(|o| is_write(o) || o == OpCode::Auth) {
            let wait_zxid = self.write_marker(session);
            let queued = self.held.get(&session).is_some_and(|q| !q.is_empty());
            if queued || wait_zxid > self.write_done(session) {
                let h = Held {
                    conn,
                    payload: payload.to_vec(),
                    wait_zxid,
                };
                self.held.entry(session).or_default().push_back(h);
                return;
            }
        }
        self.process_request(conn, session, payload, now, fx);
    }

    /// Answers held requests of `session` whose writes have now been applied, in order.
    pub(crate) fn release_held(&mut self, session: i64, now: Now, fx: &mut Vec<Effect>) {
        let done = self.write_done(session);
        while let Some(q) = self.held.get_mut(&session) {
            if q.front().is_none_or(|h| h.wait_zxid > done) {
                break;
            }
            let Some(h) = q.pop_front() else { break };
            if q.is_empty() {
                self.held.remove(&session);
            }
            if self.conns.get(&h.conn).and_then(|c| c.session) == Some(session) {
                self.process_request(h.conn, session, &h.payload, now, fx);
            }
        }
        if self
            .session_last_write
            .get(&session)
            .is_some_and(|&z| z <= self.last_applied)
        {
            self.session_last_write.remove(&session);
        }
    }

    fn process_request(
        &mut self,
        conn: ConnId,
        session: i64,
        payload: &[u8],
        now: Now,
        fx: &mut Vec<Effect>,
    ) {
        let (hdr, req) = match decode_request(payload, self.config.max_buffer) {
            Ok(v) => v,
            Err(RequestError::Header(e)) => {
                tracing::warn!(conn, error = %e, "closing connection: unreadable request header");
                fx.push(Effect::Close { conn });
                return;
            }
            Err(RequestError::Body { xid, op, err }) => {
                tracing::warn!(conn, op, error = %err, "request body did not decode");
                self.touch(session, now);
                match OpCode::from_i32(op) {
                    // ZooKeeper reads auth packets itself and drops the connection on garbage.
                    Some(OpCode::Auth) => fx.push(Effect::Close { conn }),
                    // A write is stamped with a zxid before its body is read, so a body that
                    // does not decode becomes a MarshallingError txn and consumes that zxid.
                    Some(o) if is_write(o) && self.role == ServerRole::Learner => {
                        let origin = Origin::Request {
                            conn,
                            xid,
                            op,
                            received_mono_ms: now.mono_ms,
                        };
                        self.forward(conn, session, xid, origin, payload, fx);
                    }
                    Some(o) if is_write(o) => {
                        let op = OpCode::Error.code();
                        let origin = Origin::Request {
                            conn,
                            xid,
                            op,
                            received_mono_ms: now.mono_ms,
                        };
                        let zxid = self.reserve_zxid();
                        let body = txn::TxnBody::Error(zk_proto::txn::ErrorTxn {
                            err: ErrorCode::MarshallingError.code(),
                        });
                        self.propose(zxid, session, xid, OpCode::Error, body, origin, now, fx);
                    }
                    _ => self.reply(conn, xid, ErrorCode::MarshallingError, None, fx),
                }
                return;
            }
        };
        self.touch(session, now);
        let op = zk_proto::request::request_op(&req);
        if let Some(c) = self.conns.get_mut(&conn) {
            c.stats.last_op = OpCode::from_i32(op).map_or("UNKN", stats::short_op_name);
            c.stats.last_cxid = hdr.xid;
            c.stats.last_op_mono_ms = now.mono_ms;
        }
        let xid = hdr.xid;
        match req {
            Request::Ping => {
                self.record_latency(conn, 0);
                // Whatever xid the client used, the answer says -2.
                self.reply(conn, xid::PING, ErrorCode::Ok, None, fx)
            }
            Request::Auth(p) => self.handle_auth(conn, xid, &p, fx),
            Request::Create { .. }
            | Request::CreateTtl(_)
            | Request::Delete(_)
            | Request::SetData(_)
            | Request::SetAcl(_)
            | Request::Multi(_)
            | Request::Reconfig(_)
            | Request::CloseSession => {
                let origin = Origin::Request {
                    conn,
                    xid,
                    op,
                    received_mono_ms: now.mono_ms,
                };
                if self.role == ServerRole::Learner {
                    self.forward(conn, session, xid, origin, payload, fx);
                    return;
                }
                let auth = self
                    .conns
                    .get(&conn)
                    .map(|c| c.auth.clone())
                    .unwrap_or_default();
                self.prep_and_propose(session, xid, op, &req, &auth, origin, now, fx);
            }
            Request::Sync(r) if self.role == ServerRole::Learner => {
                self.forward_sync(conn, session, xid, r.path, payload, fx);
            }
            // Types ZooKeeper does not accept from clients (`Request.isValid`): answered with
            // Unimplemented and zxid -1, then the connection is closed. `check` is valid only
            // inside a multi; client `deleteContainer` would delete without any ACL check.
            Request::Unknown(_)
            | Request::DeleteContainer(_)
            | Request::Sasl(_)
            | Request::Check(_) => {
                let f = reply_frame(xid, -1, ErrorCode::Unimplemented.code(), None);
                self.send(conn, f, fx);
                fx.push(Effect::Close { conn });
            }
            other => {
                // Answered within this call: zero milliseconds of core time.
                self.record_latency(conn, 0);
                self.handle_read(conn, session, xid, other, fx)
            }
        }
    }

    fn handle_auth(
        &mut self,
        conn: ConnId,
        xid: i32,
        p: &zk_proto::proto::AuthPacket,
        fx: &mut Vec<Effect>,
    ) {
        let ids: Option<Vec<Id>> = match p.scheme.as_str() {
            "digest" => {
                let digest = acl::generate_digest(&String::from_utf8_lossy(&p.auth));
                let mut ids = Vec::new();
                if self.config.super_digest.as_deref() == Some(digest.as_str()) {
                    ids.push(Id::new("super", ""));
                }
                ids.push(Id::new("digest", &digest));
                Some(ids)
            }
            "ip" => self
                .conns
                .get(&conn)
                .map(|c| vec![Id::new("ip", &c.peer.ip().to_string())]),
            // Only a TLS client certificate proves an x509 identity (given at connect).
            "x509" => self.conns.get(&conn).and_then(|c| {
                let ids: Vec<Id> = acl::x509_identities(&c.auth);
                (!ids.is_empty()).then_some(ids)
            }),
            _ => None,
        };
        match ids {
            Some(ids) => {
                if let Some(c) = self.conns.get_mut(&conn) {
                    for id in ids {
                        if !c.auth.contains(&id) {
                            c.auth.push(id);
                        }
                    }
                }
                let f = reply_frame(xid, 0, 0, None);
                self.send(conn, f, fx);
            }
            None => {
                tracing::warn!(conn, scheme = %p.scheme, "authentication failed: no provider for scheme");
                self.stats.auth_failed += 1;
                let f = reply_frame(xid, 0, ErrorCode::AuthFailed.code(), None);
                self.send(conn, f, fx);
                fx.push(Effect::Close { conn });
            }
        }
    }

    /// Preps a write (against the tree and the pending changes) into a txn, or an error txn, and
    /// proposes it.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn prep_and_propose(
        &mut self,
        session: i64,
        xid: i32,
        op: i32,
        req: &Request,
        auth: &[Id],
        origin: Origin,
        now: Now,
        fx: &mut Vec<Effect>,
    ) {
        let zxid = self.reserve_zxid();
        let body = self.prep(zxid, session, req, auth, now);
        let op = if let txn::TxnBody::Error(_) = body {
            OpCode::Error
        } else {
            OpCode::from_i32(op).unwrap_or(OpCode::Error)
        };
        self.propose(zxid, session, xid, op, body, origin, now, fx);
    }

    /// Stamps a txn and hands it out for persistence.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn propose(
        &mut self,
        zxid: i64,
        session: i64,
        cxid: i32,
        op: OpCode,
        body: txn::TxnBody,
        origin: Origin,
        now: Now,
        fx: &mut Vec<Effect>,
    ) {
        let hdr = zk_proto::txn::TxnHeader {
            client_id: session,
            cxid,
            zxid,
            time: now.wall_ms,
            txn_type: op.code(),
        };
        if session != 0 {
            self.session_last_write.insert(session, zxid);
        }
        self.pending.push_back(Pending { origin, zxid });
        // The tree digest once this txn is applied, precomputed by prep (`TxnDigest`).
        let digest = self
            .config
            .digest_enabled
            .then_some(zk_proto::txn::TxnDigest {
                version: tree::DIGEST_VERSION,
                tree_digest: self.changes.prep_digest as i64,
            });
        fx.push(Effect::Persist(Box::new(Txn { hdr, body, digest })));
    }

    pub(crate) fn reserve_zxid(&mut self) -> i64 {
        self.next_zxid += 1;
        self.next_zxid
    }

    /// The runtime made the txn with this zxid durable: apply it and answer.
    pub fn commit(&mut self, txn: &Txn, now: Now) -> Vec<Effect> {
        let mut fx = Vec::new();
        let origin = if self.role == ServerRole::Learner {
            self.learner_origin(txn)
        } else {
            // Proposals that never committed (a leader that lost its epoch) are dropped.
            while self.pending.front().is_some_and(|p| p.zxid < txn.hdr.zxid) {
                self.pending.pop_front();
            }
            match self.pending.front() {
                Some(p) if p.zxid == txn.hdr.zxid => self.pending.pop_front().map(|p| p.origin),
                _ => None,
            }
        };
        let result = self.apply_txn(txn, now, &mut fx);
        let propagation = now.wall_ms - txn.hdr.time;
        if propagation >= 0 {
            self.stats.propagation_latency.record(propagation);
        }
        self.changes
            .committed(txn.hdr.zxid, self.tree.digest() as u64);
        self.answer(
            origin.unwrap_or(Origin::Internal),
            txn,
            result,
            now,
            &mut fx,
        );
        self.release_held(txn.hdr.client_id, now, &mut fx);
        fx
    }

    /// Periodic work: session expiry and the container/TTL sweep.
    pub fn tick(&mut self, now: Now) -> Vec<Effect> {
        if self.read_only.is_some() {
            return self.ro_tick(now);
        }
        let mut fx = Vec::new();
        if self.role == ServerRole::Learner || !self.serving {
            // The leader expires sessions and sweeps containers; a learner only applies.
            return fx;
        }
        for id in self.sessions.expired(now.mono_ms) {
            tracing::info!("expiring session {id:#x}");
            self.stats.expired_sessions += 1;
            self.close_session_txn(id, Origin::Internal, now, &mut fx);
        }
        if now.mono_ms.saturating_sub(self.last_container_check_ms)
            >= self.config.container_check_interval_ms
        {
            self.last_container_check_ms = now.mono_ms;
            self.sweep_containers(now, &mut fx);
        }
        fx
    }

    /// The earliest monotonic time at which [`tick`](Self::tick) has work (never, while it
    /// has none: a learner, or a server not yet serving).
    pub fn next_deadline(&self) -> u64 {
        if let Some(d) = self.ro_deadline() {
            return d;
        }
        if self.role == ServerRole::Learner || !self.serving {
            return u64::MAX;
        }
        let containers = self.last_container_check_ms + self.config.container_check_interval_ms;
        self.sessions
            .next_deadline()
            .map_or(containers, |s| s.min(containers))
    }

    pub(crate) fn close_session_txn(
        &mut self,
        session: i64,
        origin: Origin,
        now: Now,
        fx: &mut Vec<Effect>,
    ) {
        let zxid = self.reserve_zxid();
        let body = self.prep_close_session(zxid, session);
        self.propose(
            zxid,
            session,
            0,
            OpCode::CloseSession,
            body,
            origin,
            now,
            fx,
        );
    }

    fn sweep_containers(&mut self, now: Now, fx: &mut Vec<Effect>) {
        let mut candidates = Vec::new();
        for p in self.tree.containers() {
            if let Some(n) = self.tree.get(p) {
                if n.children.is_empty() && n.stat.cversion > 0 {
                    candidates.push(p.clone());
                }
            }
        }
        for p in self.tree.ttls() {
            if let Some(n) = self.tree.get(p) {
                if let tree::OwnerKind::Ttl(ttl) = tree::owner_kind(n.stat.ephemeral_owner) {
                    if n.children.is_empty() && ttl != 0 && now.wall_ms - n.stat.mtime > ttl {
                        candidates.push(p.clone());
                    }
                }
            }
        }
        candidates.truncate(self.config.container_max_per_minute as usize);
        for p in candidates {
            let zxid = self.reserve_zxid();
            let body = self.prep_delete_container(zxid, &p);
            let op = if let txn::TxnBody::Error(_) = body {
                OpCode::Error
            } else {
                OpCode::DeleteContainer
            };
            self.propose(zxid, 0, 0, op, body, Origin::Internal, now, fx);
        }
    }

    /// Replaces the state with a snapshot's: the tree, its sessions (each expiring normally from
    /// `now` if its client does not come back) and the zxid it was taken at.
    pub fn restore(&mut self, tree: DataTree, sessions: &[(i64, i32)], zxid: i64, now: Now) {
        self.changes = ChangeRecords::new(tree.digest() as u64);
        self.tree = tree;
        for &(id, timeout) in sessions {
            self.sessions.add(id, timeout.max(0) as u32, now.mono_ms);
        }
        self.last_applied = zxid;
        self.next_zxid = zxid;
    }

    /// Applies a txn read back from the log during recovery: nobody is answered. Txns at or
    /// below the last applied zxid are skipped.
    pub fn replay(&mut self, txn: &Txn, now: Now) {
        if txn.hdr.zxid <= self.last_applied {
            return;
        }
        let mut fx = Vec::new();
        self.apply_txn(txn, now, &mut fx);
        self.next_zxid = self.next_zxid.max(txn.hdr.zxid);
        self.changes
            .committed(txn.hdr.zxid, self.tree.digest() as u64);
    }

    /// The live sessions and their timeouts, as a snapshot stores them.
    pub fn sessions_for_snapshot(&self) -> Vec<(i64, i32)> {
        let mut v: Vec<(i64, i32)> = self
            .sessions
            .iter()
            .map(|s| (s.id, s.timeout_ms as i32))
            .collect();
        v.sort_unstable();
        v
    }

    pub fn session_of(&self, conn: ConnId) -> Option<i64> {
        self.conns.get(&conn).and_then(|c| c.session)
    }

    pub fn conn_of_session(&self, session: i64) -> Option<ConnId> {
        self.session_conn.get(&session).copied()
    }

    pub fn outstanding_requests(&self) -> usize {
        self.pending.len()
    }

    /// Requests of `conn` whose txn is proposed and not yet applied (`cons`' outstanding).
    pub fn outstanding_of(&self, conn: ConnId) -> usize {
        self.pending
            .iter()
            .filter(|p| matches!(p.origin, Origin::Request { conn: c, .. } if c == conn))
            .count()
    }
}

/// A request's xid and opcode (`None` for an unknown one), read from its header without
/// decoding the rest; `None` when the payload is shorter than a header.
fn peek_header(payload: &[u8]) -> Option<(i32, Option<OpCode>)> {
    let xid = i32::from_be_bytes(payload.get(..4)?.try_into().ok()?);
    let op = i32::from_be_bytes(payload.get(4..8)?.try_into().ok()?);
    Some((xid, OpCode::from_i32(op)))
}
