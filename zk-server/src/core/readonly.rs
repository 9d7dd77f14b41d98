//! Read-only mode (`readonlymode.enabled=true`): an ensemble member cut off from the quorum
//! keeps serving reads from its replica to clients that asked for a read-only session
//! (ZooKeeper's `ReadOnlyZooKeeperServer`). The runtime decides when (LOOKING for a while) and
//! calls [`Core::set_read_only`]; any role change ends it (every connection is closed, and
//! clients go and find the new quorum).
//!
//! While read-only:
//! - A ConnectRequest without `readOnly=true` is refused (the connection is closed), as is
//!   the resumption of a session the ensemble knows (a global session): it must not be used
//!   where it cannot be renewed.
//! - New sessions are local: they live only in this server's memory, are never logged, and
//!   expire here. The ConnectResponse says `readOnly=true`. A client that only ever saw
//!   read-only servers reconnects with session id 0 (ZooKeeper's `seenRwServerBefore`).
//! - Reads are answered from the tree as it was when the quorum was lost. Writes (create*,
//!   delete, setData, setACL, multi, reconfig, check, sync) are answered with NotReadOnly;
//!   closeSession ends the local session.
//!
//! Apache ZooKeeper 3.6+ refuses read-only clients unless `localSessionsEnabled=true` (its
//! read-only server answers a global createSession with NotReadOnly); here read-only sessions
//! are always local, which is what that setting gives there.

use zk_proto::proto::ConnectRequest;
use zk_proto::{ErrorCode, OpCode};

use super::sessions::{self, SessionTracker};
use super::{ConnId, Core, Effect, Now};

/// The local sessions of a read-only server.
#[derive(Debug)]
pub(crate) struct ReadOnlyState {
    sessions: SessionTracker,
}

/// Requests a read-only server refuses with NotReadOnly (`ReadOnlyRequestProcessor`).
fn is_refused(op: OpCode) -> bool {
    use OpCode::*;
    matches!(
        op,
        Sync | Create
            | Create2
            | CreateTtl
            | CreateContainer
            | Delete
            | DeleteContainer
            | SetData
            | Reconfig
            | SetAcl
            | Multi
            | Check
    )
}

impl Core {
    /// Whether this server is serving read-only clients.
    pub fn is_read_only(&self) -> bool {
        self.read_only.is_some()
    }

    /// Starts (or ends) read-only service. Only a server that is not serving otherwise (an
    /// ensemble member without a quorum) may start it; ending it closes every connection.
    pub fn set_read_only(&mut self, on: bool, now: Now) -> Vec<Effect> {
        let mut fx = Vec::new();
        if on == self.read_only.is_some() || (on && self.serving) {
            return fx;
        }
        let conns: Vec<ConnId> = self.conns.keys().copied().collect();
        for conn in conns {
            fx.push(Effect::Close { conn });
            self.connection_closed(conn);
        }
        self.read_only = on.then(|| ReadOnlyState {
            sessions: SessionTracker::new(
                self.config.server_id,
                self.config.tick_time_ms,
                now.mono_ms,
            ),
        });
        if on {
            tracing::info!("read-only server started");
        } else {
            tracing::info!("read-only server stopped");
        }
        fx
    }

    /// The handshake on a read-only server (after the checks every server makes).
    pub(crate) fn ro_connect(
        &mut self,
        conn: ConnId,
        req: &ConnectRequest,
        timeout: u32,
        now: Now,
        fx: &mut Vec<Effect>,
    ) {
        let Some(ro) = self.read_only.as_mut() else {
            return;
        };
        if req.read_only != Some(true) {
            tracing::info!(conn, "refusing session request for not-read-only client");
            fx.push(Effect::Close { conn });
            return;
        }
        if req.session_id == 0 {
            let id = self.sessions.next_session_id();
            ro.sessions.add(id, timeout, now.mono_ms);
            self.attach(conn, id);
            self.send_connect_response(conn, id, timeout, true, fx);
            return;
        }
        let id = req.session_id;
        if self.sessions.get(id).is_some() {
            tracing::info!(
                conn,
                "refusing global session reconnection in read-only mode: {id:#x}"
            );
            fx.push(Effect::Close { conn });
            return;
        }
        let valid = req.passwd.as_slice() == sessions::password(id).as_slice()
            && ro.sessions.touch(id, now.mono_ms);
        if !valid {
            self.send_connect_response(conn, 0, 0, false, fx);
            fx.push(Effect::Close { conn });
            return;
        }
        if let Some(old) = self.conn_of_session(id) {
            if old != conn {
                fx.push(Effect::Close { conn: old });
                self.connection_closed(old);
            }
        }
        self.attach(conn, id);
        self.send_connect_response(conn, id, timeout, true, fx);
    }

    /// A request on a read-only server: true when it was answered here (a refused write, or
    /// closeSession); reads go on as usual.
    pub(crate) fn ro_request(
        &mut self,
        conn: ConnId,
        session: i64,
        payload: &[u8],
        now: Now,
        fx: &mut Vec<Effect>,
    ) -> bool {
        let Some(ro) = self.read_only.as_mut() else {
            return false;
        };
        ro.sessions.touch(session, now.mono_ms);
        let Some((xid, op)) = super::peek_header(payload) else {
            return false;
        };
        match op {
            Some(op) if is_refused(op) => {
                self.reply(conn, xid, ErrorCode::NotReadOnly, None, fx);
                true
            }
            Some(OpCode::CloseSession) => {
                ro.sessions.remove(session);
                self.reply(conn, xid, ErrorCode::Ok, None, fx);
                fx.push(Effect::Close { conn });
                true
            }
            _ => false,
        }
    }

    /// Expires local sessions whose clients went quiet, closing their connections.
    pub(crate) fn ro_tick(&mut self, now: Now) -> Vec<Effect> {
        let mut fx = Vec::new();
        let Some(ro) = self.read_only.as_mut() else {
            return fx;
        };
        let expired = ro.sessions.expired(now.mono_ms);
        for id in &expired {
            ro.sessions.remove(*id);
        }
        for id in expired {
            tracing::info!("expiring read-only session {id:#x}");
            if let Some(conn) = self.conn_of_session(id) {
                fx.push(Effect::Close { conn });
                self.connection_closed(conn);
            }
        }
        fx
    }

    /// When [`Core::ro_tick`] next has work.
    pub(crate) fn ro_deadline(&self) -> Option<u64> {
        self.read_only
            .as_ref()
            .map(|ro| ro.sessions.next_deadline().unwrap_or(u64::MAX))
    }

    /// The local sessions of a read-only server, for `cons`/`srvr` style reports and tests.
    pub fn read_only_sessions(&self) -> usize {
        self.read_only.as_ref().map_or(0, |ro| ro.sessions.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zk_proto::codec::{Decode, Encode, Reader};
    use zk_proto::data::Acl;
    use zk_proto::proto::{ConnectResponse, CreateRequest, GetDataRequest, ReplyHeader};
    use zk_proto::request::{encode_request, Request};

    use crate::core::{CoreConfig, ServerRole};

    const NOW: Now = Now {
        wall_ms: 1,
        mono_ms: 1,
    };

    fn at(mono_ms: u64) -> Now {
        Now {
            wall_ms: mono_ms as i64,
            mono_ms,
        }
    }

    /// A learner that lost its leader (not serving), in read-only mode.
    fn read_only_core() -> Core {
        let mut core = Core::new(
            CoreConfig {
                tick_time_ms: 100,
                min_session_timeout_ms: 200,
                ..CoreConfig::default()
            },
            NOW,
        );
        core.set_role(ServerRole::Learner, false, NOW);
        assert!(core.set_read_only(true, NOW).is_empty());
        core
    }

    fn connect(
        core: &mut Core,
        conn: ConnId,
        session_id: i64,
        read_only: Option<bool>,
    ) -> Vec<Effect> {
        core.connection_opened(conn, "127.0.0.1:5000".parse().unwrap(), NOW);
        let req = ConnectRequest {
            protocol_version: 0,
            last_zxid_seen: 0,
            time_out: 1000,
            session_id,
            passwd: sessions::password(session_id).to_vec(),
            read_only,
        };
        core.handle_frame(conn, &req.to_bytes(), NOW)
    }

    fn sent(fx: &[Effect]) -> Vec<&[u8]> {
        fx.iter()
            .filter_map(|e| match e {
                Effect::Send { frame, .. } => Some(&frame[4..]),
                _ => None,
            })
            .collect()
    }

    fn request(core: &mut Core, conn: ConnId, xid: i32, req: &Request, now: Now) -> Vec<Effect> {
        let mut payload = Vec::new();
        encode_request(xid, req, &mut payload);
        core.handle_frame(conn, &payload, now)
    }

    fn reply_err(fx: &[Effect]) -> i32 {
        let frames = sent(fx);
        ReplyHeader::decode(&mut Reader::new(frames[0]))
            .unwrap()
            .err
    }

    #[test]
    fn only_read_only_clients_get_a_local_session() {
        let mut core = read_only_core();
        let fx = connect(&mut core, 1, 0, Some(false));
        assert_eq!(fx, vec![Effect::Close { conn: 1 }]);
        let fx = connect(&mut core, 2, 0, None);
        assert_eq!(fx, vec![Effect::Close { conn: 2 }]);
        let fx = connect(&mut core, 3, 0, Some(true));
        let resp = ConnectResponse::from_bytes(sent(&fx)[0]).unwrap();
        assert_eq!(resp.read_only, Some(true));
        assert!(resp.time_out > 0 && resp.session_id != 0);
        // Nothing was proposed: the session is local.
        assert!(!fx
            .iter()
            .any(|e| matches!(e, Effect::Persist(_) | Effect::Forward { .. })));
        assert_eq!(core.read_only_sessions(), 1);
        // The client may come back to it.
        core.connection_closed(3);
        let fx = connect(&mut core, 4, resp.session_id, Some(true));
        let again = ConnectResponse::from_bytes(sent(&fx)[0]).unwrap();
        assert_eq!(again.session_id, resp.session_id);
    }

    #[test]
    fn a_global_session_is_not_resumed_read_only() {
        let mut core = read_only_core();
        core.sessions.add(0x77, 1000, 1);
        let fx = connect(&mut core, 1, 0x77, Some(true));
        assert_eq!(fx, vec![Effect::Close { conn: 1 }]);
    }

    #[test]
    fn writes_are_refused_reads_answered_and_close_ends_the_session() {
        let mut core = read_only_core();
        connect(&mut core, 1, 0, Some(true));
        let create = Request::Create {
            op: OpCode::Create,
            req: CreateRequest {
                path: "/a".into(),
                data: None,
                acl: Acl::open_unsafe(),
                flags: 0,
            },
        };
        let fx = request(&mut core, 1, 5, &create, at(2));
        assert_eq!(reply_err(&fx), ErrorCode::NotReadOnly.code());
        assert!(core.tree.get("/a").is_none());
        let get = Request::GetData(GetDataRequest {
            path: "/zookeeper".into(),
            watch: false,
        });
        let fx = request(&mut core, 1, 6, &get, at(3));
        assert_eq!(reply_err(&fx), 0);
        let fx = request(&mut core, 1, 7, &Request::CloseSession, at(4));
        assert_eq!(reply_err(&fx), 0);
        assert!(fx.contains(&Effect::Close { conn: 1 }));
        assert_eq!(core.read_only_sessions(), 0);
    }

    #[test]
    fn quiet_local_sessions_expire_and_a_role_change_ends_read_only_mode() {
        let mut core = read_only_core();
        connect(&mut core, 1, 0, Some(true));
        let deadline = core.next_deadline();
        assert!(deadline > 1 && deadline < u64::MAX);
        let fx = core.tick(at(deadline));
        assert_eq!(fx, vec![Effect::Close { conn: 1 }]);
        assert_eq!(core.read_only_sessions(), 0);
        connect(&mut core, 2, 0, Some(true));
        let fx = core.set_role(ServerRole::Learner, true, at(5));
        assert_eq!(fx, vec![Effect::Close { conn: 2 }]);
        assert!(!core.is_read_only());
        // A serving server does not go read-only.
        assert!(core.set_read_only(true, at(6)).is_empty());
        assert!(!core.is_read_only());
    }
}
