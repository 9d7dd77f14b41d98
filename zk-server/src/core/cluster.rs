//! The core's part in an ensemble.
//!
//! - A **leader** preps and proposes writes, its own clients' and those learners forward, owns
//!   every session's expiry (learners report their clients' activity in their pings) and answers
//!   revalidation of sessions that move to a learner.
//! - A **learner** (follower or observer) serves reads from its replica, forwards writes, session
//!   creation, closes and syncs to the leader, and answers each once its txn commits here (or,
//!   for a sync, once the leader says everything before it is committed). A session's requests
//!   are still answered in the order they were sent.
//!
//! Zab and the wire live in the runtime; the core only says "forward these bytes".

use std::collections::{BTreeMap, HashMap, VecDeque};

use zk_proto::codec::Encode;
use zk_proto::data::Id;
use zk_proto::proto::SyncResponse;
use zk_proto::request::{decode_request, RequestError};
use zk_proto::{ErrorCode, OpCode};

use super::prep::Origin;
use super::{txn, ConnId, Core, Effect, Now};

/// How this server takes part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerRole {
    Standalone,
    Leader,
    /// A follower or an observer.
    Learner,
}

/// A request forwarded to the leader, answered when its txn (same session and cxid) commits.
#[derive(Debug, Clone)]
pub(crate) struct Forwarded {
    pub cxid: i32,
    pub origin: Origin,
}

#[derive(Debug, Clone)]
pub(crate) struct PendingSync {
    pub session: i64,
    pub conn: ConnId,
    pub xid: i32,
    pub path: String,
}

/// A learner's bookkeeping of what it forwarded.
#[derive(Debug, Default)]
pub(crate) struct LearnerState {
    pub forwarded: HashMap<i64, VecDeque<Forwarded>>,
    /// Per session: requests forwarded, and how many of them are answered. Reads wait for the
    /// forwarded requests sent before them.
    pub sent: HashMap<i64, i64>,
    pub done: HashMap<i64, i64>,
    pub syncs: VecDeque<PendingSync>,
    /// New sessions waiting for their createSession to commit: connection and timeout.
    pub new_sessions: HashMap<i64, (ConnId, u32)>,
    /// Reconnects waiting for the leader's revalidation.
    pub revalidating: HashMap<i64, VecDeque<(ConnId, u32)>>,
    /// Sessions with client activity since the last ping to the leader, with their timeouts.
    pub touched: BTreeMap<i64, i32>,
}

impl Core {
    pub fn role(&self) -> ServerRole {
        self.role
    }

    pub fn is_serving(&self) -> bool {
        self.serving
    }

    /// Changes the server's part. Every client connection is closed (clients reconnect and
    /// resume their sessions), as ZooKeeper does when a server changes state; what was in flight
    /// is forgotten. A new leader gives every session a full timeout from `now`.
    pub fn set_role(&mut self, role: ServerRole, serving: bool, now: Now) -> Vec<Effect> {
        let mut fx = Vec::new();
        let conns: Vec<ConnId> = self.conns.keys().copied().collect();
        for conn in conns {
            fx.push(Effect::Close { conn });
            self.connection_closed(conn);
        }
        self.role = role;
        self.serving = serving;
        self.read_only = None;
        self.learner = LearnerState::default();
        self.pending.clear();
        self.held.clear();
        self.session_last_write.clear();
        self.changes = super::prep::ChangeRecords::new(self.tree.digest() as u64);
        self.next_zxid = self.next_zxid.max(self.last_applied);
        if role == ServerRole::Leader {
            let ids: Vec<i64> = self.sessions.iter().map(|s| s.id).collect();
            for id in ids {
                self.sessions.touch(id, now.mono_ms);
            }
        }
        fx
    }

    /// Leader: zxids continue from here (`epoch << 32` once an epoch is established).
    pub fn set_next_zxid(&mut self, zxid: i64) {
        self.next_zxid = zxid.max(self.last_applied);
    }

    /// The next zxid prep will hand out.
    pub fn peek_next_zxid(&self) -> i64 {
        self.next_zxid + 1
    }

    /// Learner: the sessions its clients used since the last call, for the ping to the leader.
    pub fn take_touches(&mut self) -> Vec<(i64, i32)> {
        std::mem::take(&mut self.learner.touched)
            .into_iter()
            .collect()
    }

    pub(crate) fn touch(&mut self, session: i64, now: Now) {
        self.sessions.touch(session, now.mono_ms);
        if self.role == ServerRole::Learner {
            let timeout = self
                .sessions
                .get(session)
                .map_or(0, |s| s.timeout_ms as i32);
            self.learner.touched.insert(session, timeout);
        }
    }

    /// What a session's reads wait for: its last write (zxid), or on a learner the count of
    /// requests it forwarded.
    pub(crate) fn write_marker(&self, session: i64) -> i64 {
        match self.role {
            ServerRole::Learner => self.learner.sent.get(&session).copied().unwrap_or(0),
            _ => self.session_last_write.get(&session).copied().unwrap_or(0),
        }
    }

    /// How far a session's writes have got, in the units of [`Core::write_marker`].
    pub(crate) fn write_done(&self, session: i64) -> i64 {
        match self.role {
            ServerRole::Learner => self.learner.done.get(&session).copied().unwrap_or(0),
            _ => self.last_applied,
        }
    }

    /// Learner: a new session is created through the leader.
    pub(crate) fn learner_new_session(&mut self, conn: ConnId, timeout: u32, fx: &mut Vec<Effect>) {
        let id = self.sessions.next_session_id();
        self.attach(conn, id);
        self.learner.new_sessions.insert(id, (conn, timeout));
        let mut data = Vec::with_capacity(24);
        data.extend_from_slice(&id.to_be_bytes());
        data.extend_from_slice(&0i32.to_be_bytes());
        data.extend_from_slice(&OpCode::CreateSession.code().to_be_bytes());
        data.extend_from_slice(&(timeout as i32).to_be_bytes());
        fx.push(Effect::Forward {
            data,
            auth: Vec::new(),
        });
    }

    /// Learner: a client resumes `session` here; the leader decides whether it still lives.
    pub(crate) fn learner_resume(
        &mut self,
        conn: ConnId,
        session: i64,
        timeout: u32,
        fx: &mut Vec<Effect>,
    ) {
        self.learner
            .revalidating
            .entry(session)
            .or_default()
            .push_back((conn, timeout));
        fx.push(Effect::Revalidate {
            session,
            timeout: timeout as i32,
        });
    }

    /// Learner: the leader's answer to a revalidation.
    pub fn revalidated(&mut self, session: i64, valid: bool, now: Now) -> Vec<Effect> {
        let mut fx = Vec::new();
        let Some((conn, timeout)) = self
            .learner
            .revalidating
            .get_mut(&session)
            .and_then(|q| q.pop_front())
        else {
            return fx;
        };
        if self
            .learner
            .revalidating
            .get(&session)
            .is_some_and(|q| q.is_empty())
        {
            self.learner.revalidating.remove(&session);
        }
        if !self.conns.contains_key(&conn) {
            return fx;
        }
        if !valid {
            self.send_connect_response(conn, 0, 0, false, &mut fx);
            fx.push(Effect::Close { conn });
            return fx;
        }
        if let Some(old) = self.session_conn.get(&session).copied() {
            if old != conn {
                fx.push(Effect::Close { conn: old });
                self.connection_closed(old);
            }
        }
        self.touch(session, now);
        self.attach(conn, session);
        self.send_connect_response(conn, session, timeout, true, &mut fx);
        fx
    }

    /// Learner: forwards a write (the client's request bytes) to the leader.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn forward(
        &mut self,
        conn: ConnId,
        session: i64,
        xid: i32,
        origin: Origin,
        payload: &[u8],
        fx: &mut Vec<Effect>,
    ) {
        let auth = self
            .conns
            .get(&conn)
            .map(|c| c.auth.clone())
            .unwrap_or_default();
        *self.learner.sent.entry(session).or_insert(0) += 1;
        self.learner
            .forwarded
            .entry(session)
            .or_default()
            .push_back(Forwarded { cxid: xid, origin });
        fx.push(Effect::Forward {
            data: forward_data(session, payload),
            auth,
        });
    }

    /// Learner: a sync goes to the leader; answered by [`Core::sync_ready`].
    pub(crate) fn forward_sync(
        &mut self,
        conn: ConnId,
        session: i64,
        xid: i32,
        path: String,
        payload: &[u8],
        fx: &mut Vec<Effect>,
    ) {
        *self.learner.sent.entry(session).or_insert(0) += 1;
        self.learner.syncs.push_back(PendingSync {
            session,
            conn,
            xid,
            path,
        });
        fx.push(Effect::Forward {
            data: forward_data(session, payload),
            auth: Vec::new(),
        });
    }

    /// Learner: the leader answered the oldest sync: everything before it is applied here.
    pub fn sync_ready(&mut self, now: Now) -> Vec<Effect> {
        let mut fx = Vec::new();
        let Some(s) = self.learner.syncs.pop_front() else {
            return fx;
        };
        let body = SyncResponse { path: s.path }.to_bytes();
        let write = |out: &mut Vec<u8>| out.extend_from_slice(&body);
        self.record_latency(s.conn, 0);
        self.reply(s.conn, s.xid, ErrorCode::Ok, Some(&write), &mut fx);
        *self.learner.done.entry(s.session).or_insert(0) += 1;
        self.release_held(s.session, now, &mut fx);
        fx
    }

    /// Learner: who to answer for a committed txn, if this server forwarded it.
    pub(crate) fn learner_origin(&mut self, t: &txn::Txn) -> Option<Origin> {
        let session = t.hdr.client_id;
        if t.hdr.txn_type == OpCode::CreateSession.code() {
            if let Some((conn, timeout)) = self.learner.new_sessions.remove(&session) {
                return Some(Origin::Connect { conn, timeout });
            }
            return None;
        }
        let q = self.learner.forwarded.get_mut(&session)?;
        if q.front().is_none_or(|f| f.cxid != t.hdr.cxid) {
            return None;
        }
        let f = q.pop_front()?;
        if q.is_empty() {
            self.learner.forwarded.remove(&session);
        }
        *self.learner.done.entry(session).or_insert(0) += 1;
        Some(f.origin)
    }

    /// Leader: a request a learner forwarded (`long sessionId; int cxid; int type; body`), with
    /// the identities of the client's connection.
    pub fn handle_forwarded(&mut self, data: &[u8], auth: Vec<Id>, now: Now) -> Vec<Effect> {
        let mut fx = Vec::new();
        if data.len() < 16 {
            tracing::warn!(len = data.len(), "dropping a short forwarded request");
            return fx;
        }
        let session = i64::from_be_bytes(data[..8].try_into().unwrap_or_default());
        let payload = &data[8..];
        let cxid = i32::from_be_bytes(payload[..4].try_into().unwrap_or_default());
        let op = i32::from_be_bytes(payload[4..8].try_into().unwrap_or_default());
        if op == OpCode::CreateSession.code() {
            let timeout = payload
                .get(8..12)
                .map_or(0, |b| i32::from_be_bytes(b.try_into().unwrap_or_default()));
            let zxid = self.reserve_zxid();
            let body =
                txn::TxnBody::CreateSession(zk_proto::txn::CreateSessionTxn { time_out: timeout });
            self.sessions
                .add(session, timeout.max(0) as u32, now.mono_ms);
            self.propose(
                zxid,
                session,
                cxid,
                OpCode::CreateSession,
                body,
                Origin::Internal,
                now,
                &mut fx,
            );
            return fx;
        }
        self.sessions.touch(session, now.mono_ms);
        match decode_request(payload, self.config.max_buffer) {
            Ok((hdr, req)) => {
                let op = zk_proto::request::request_op(&req);
                if OpCode::from_i32(op).is_some_and(super::is_write) {
                    self.prep_and_propose(
                        session,
                        hdr.xid,
                        op,
                        &req,
                        &auth,
                        Origin::Internal,
                        now,
                        &mut fx,
                    );
                } else {
                    tracing::warn!(
                        op,
                        session = format_args!("{session:#x}"),
                        "a learner forwarded a request that is not a write; ignored"
                    );
                }
            }
            Err(RequestError::Body { xid, op, .. }) if OpCode::from_i32(op).is_some() => {
                let zxid = self.reserve_zxid();
                let body = txn::TxnBody::Error(zk_proto::txn::ErrorTxn {
                    err: ErrorCode::MarshallingError.code(),
                });
                self.propose(
                    zxid,
                    session,
                    xid,
                    OpCode::Error,
                    body,
                    Origin::Internal,
                    now,
                    &mut fx,
                );
            }
            Err(e) => tracing::warn!(error = ?e, "dropping an unreadable forwarded request"),
        }
        fx
    }

    /// Leader: a learner's clients were active in these sessions.
    pub fn touch_remote(&mut self, touches: &[(i64, i32)], now: Now) {
        for &(id, _) in touches {
            self.sessions.touch(id, now.mono_ms);
        }
    }

    /// Leader: may `session` move to a learner? It must exist and not be closing. A local
    /// connection holding it is closed: the session moved.
    pub fn revalidate(&mut self, session: i64, now: Now) -> (bool, Vec<Effect>) {
        let mut fx = Vec::new();
        let valid = self.sessions.get(session).is_some_and(|s| !s.closing);
        if valid {
            self.sessions.touch(session, now.mono_ms);
            if let Some(conn) = self.session_conn.get(&session).copied() {
                fx.push(Effect::Close { conn });
                self.connection_closed(conn);
            }
        }
        (valid, fx)
    }
}

fn forward_data(session: i64, payload: &[u8]) -> Vec<u8> {
    let mut data = Vec::with_capacity(8 + payload.len());
    data.extend_from_slice(&session.to_be_bytes());
    data.extend_from_slice(payload);
    data
}
