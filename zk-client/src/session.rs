//! The session state machine: pure, no I/O, no clocks. The shell feeds it connection events,
//! frames and the current time in milliseconds (from any monotonic origin), and carries out the
//! [`Output`]s it returns: bytes to send, connections to close, replies and events to deliver.
//!
//! Invariants:
//! - Replies arrive in the order requests were sent (ZooKeeper's FIFO client order); a reply
//!   whose xid is not the oldest outstanding one is a protocol error and drops the connection.
//! - Requests that were sent on a connection that dropped fail with `ConnectionLoss` (they may
//!   or may not have been applied); requests not yet sent wait for the next connection.
//! - The last zxid seen is the highest zxid in a reply to one of our requests; it goes into the
//!   ConnectRequest (a server that is behind it refuses us) and is the relative zxid of
//!   setWatches2 (the server fires re-set watches for changes after it).
//! - Once `Expired`, `AuthFailed` or `Closed`, the session never connects again.
//! - A session that has been `Disconnected` for its whole negotiated timeout, counted from a
//!   time at or before the server last renewed it, is declared `Expired` without waiting for a
//!   server to say so (as Curator does): the server has expired it by then, or will within a
//!   tick, and a lock or leadership must not be believed held any longer.

use std::collections::{BTreeSet, VecDeque};

use zk_proto::codec::{Decode, Encode, Reader};
use zk_proto::consts::xid;
use zk_proto::proto::{AuthPacket, ConnectRequest, ConnectResponse, ReplyHeader, SetWatches2};
use zk_proto::request::{encode_request, Request};
use zk_proto::{frame, ErrorCode};

/// The session's state, as the client's state stream reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SessionState {
    /// Looking for a server for the first time.
    Connecting,
    Connected,
    /// Connected to a server that has no quorum and serves reads only (a session that asked
    /// for read-only service): writes fail with NotReadOnly. The shell keeps looking for a
    /// read/write server and moves there once it finds one.
    ConnectedReadOnly,
    /// The connection was lost; the session may still be alive and the client is
    /// reconnecting.
    Disconnected,
    /// The server said the session no longer exists. Terminal.
    Expired,
    /// The server rejected our credentials. Terminal.
    AuthFailed,
    /// The client closed the session. Terminal.
    Closed,
}

impl SessionState {
    /// Connected, read/write or read-only: requests go out.
    pub fn is_connected(self) -> bool {
        matches!(
            self,
            SessionState::Connected | SessionState::ConnectedReadOnly
        )
    }

    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            SessionState::Expired | SessionState::AuthFailed | SessionState::Closed
        )
    }
}

/// Why a request failed without a reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    ConnectionLoss,
    SessionExpired,
    AuthFailed,
    Closed,
}

/// The server-side paths of every watch the client holds, re-sent with setWatches2 after a
/// reconnect.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WatchPaths {
    pub data: BTreeSet<String>,
    pub exist: BTreeSet<String>,
    pub child: BTreeSet<String>,
    pub persistent: BTreeSet<String>,
    pub persistent_recursive: BTreeSet<String>,
}

impl WatchPaths {
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
            && self.exist.is_empty()
            && self.child.is_empty()
            && self.persistent.is_empty()
            && self.persistent_recursive.is_empty()
    }
}

/// What the shell must do. `W` is the shell's handle for a request's caller.
#[derive(Debug, PartialEq, Eq)]
pub enum Output<W> {
    /// Write these bytes (whole frames) to the connection.
    Send(Vec<u8>),
    /// Close the connection; the shell then connects to the next host unless the state is
    /// terminal.
    Close,
    State(SessionState),
    Reply {
        waiter: W,
        zxid: i64,
        err: i32,
        body: Vec<u8>,
    },
    Fail {
        waiter: W,
        failure: Failure,
    },
    /// A watch notification (the `WatcherEvent` body) and the zxid in its header.
    Event {
        zxid: i64,
        body: Vec<u8>,
    },
}

/// Fixed settings of a session.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    pub session_timeout_ms: u32,
    /// Ask for a read-only-capable session.
    pub read_only: bool,
    /// How many hosts the connect string names: a connect attempt may take
    /// `session_timeout_ms / hosts` before the next host is tried.
    pub hosts: usize,
}

struct Pending<W> {
    xid: i32,
    waiter: Option<W>,
    sent_ms: u64,
}

pub struct Session<W> {
    cfg: SessionConfig,
    state: SessionState,
    /// True while a socket is attached (from `connecting` until `disconnected`).
    attached: bool,
    session_id: i64,
    passwd: Vec<u8>,
    negotiated_timeout_ms: u32,
    last_zxid_seen: i64,
    next_xid: i32,
    /// Sent, awaiting replies, oldest first.
    pending: VecDeque<Pending<W>>,
    /// Not sent yet (no connection); sent in order once connected.
    queued: VecDeque<(Request, W)>,
    auths: Vec<(String, Vec<u8>)>,
    watches: WatchPaths,
    attempt_started_ms: u64,
    last_send_ms: u64,
    last_recv_ms: u64,
    /// Send times of the pings not answered yet, oldest first.
    pings_sent_ms: VecDeque<u64>,
    /// A time at or before the server last renewed the session: the send time of the newest
    /// request (or ping, or ConnectRequest) the server has answered.
    renewed_ms: u64,
    closing: bool,
    close_xid: Option<i32>,
    /// Whether a read/write server ever accepted this session (ZooKeeper's
    /// `seenRwServerBefore`). Until then the session is a read-only server's local one, which
    /// no other server knows: reconnects ask for a new session (id 0) instead of resuming it.
    seen_rw_server: bool,
}

impl<W> Session<W> {
    pub fn new(cfg: SessionConfig) -> Self {
        Session {
            cfg,
            state: SessionState::Connecting,
            attached: false,
            session_id: 0,
            passwd: vec![0; 16],
            negotiated_timeout_ms: 0,
            last_zxid_seen: 0,
            next_xid: 1,
            pending: VecDeque::new(),
            queued: VecDeque::new(),
            auths: Vec::new(),
            watches: WatchPaths::default(),
            attempt_started_ms: 0,
            last_send_ms: 0,
            last_recv_ms: 0,
            pings_sent_ms: VecDeque::new(),
            renewed_ms: 0,
            closing: false,
            close_xid: None,
            seen_rw_server: false,
        }
    }

    pub fn state(&self) -> SessionState {
        self.state
    }
    pub fn session_id(&self) -> i64 {
        self.session_id
    }
    pub fn passwd(&self) -> &[u8] {
        &self.passwd
    }
    pub fn negotiated_timeout_ms(&self) -> u32 {
        self.negotiated_timeout_ms
    }
    pub fn last_zxid_seen(&self) -> i64 {
        self.last_zxid_seen
    }
    pub fn outstanding(&self) -> usize {
        self.pending.len()
    }

    /// How long one connect attempt (TCP + handshake) may take.
    pub fn connect_timeout_ms(&self) -> u64 {
        (self.cfg.session_timeout_ms as u64 / self.cfg.hosts.max(1) as u64).max(1)
    }
    /// Silence longer than this means the server is gone: `timeout * 2/3`.
    pub fn read_timeout_ms(&self) -> u64 {
        (self.negotiated_timeout_ms as u64 * 2 / 3).max(1)
    }
    /// A ping goes out when nothing was sent for this long: `timeout / 3`.
    pub fn ping_interval_ms(&self) -> u64 {
        (self.negotiated_timeout_ms as u64 / 3).max(1)
    }
    /// While `Disconnected`: when the session is to be taken as expired (see the module's
    /// invariants).
    pub fn expiry_deadline_ms(&self) -> Option<u64> {
        // A read-only server's local session is not resumed, so it cannot be lost either.
        (self.state == SessionState::Disconnected && self.seen_rw_server)
            .then(|| self.renewed_ms + self.negotiated_timeout_ms as u64)
    }

    /// A socket to a server is open: returns the framed ConnectRequest to send. `watches` are
    /// the paths to re-register once the server accepts the session.
    pub fn connecting(&mut self, now_ms: u64, watches: WatchPaths) -> Vec<Output<W>> {
        let mut out = Vec::new();
        if self.state.is_terminal() {
            out.push(Output::Close);
            return out;
        }
        self.attached = true;
        self.watches = watches;
        self.attempt_started_ms = now_ms;
        self.last_send_ms = now_ms;
        self.last_recv_ms = now_ms;
        self.pings_sent_ms.clear();
        // A reconnect stays `Disconnected` until the server answers (as ZooKeeper's clients
        // report it); only the very first attempts are `Connecting`.
        let req = ConnectRequest {
            protocol_version: 0,
            last_zxid_seen: self.last_zxid_seen,
            time_out: self.cfg.session_timeout_ms as i32,
            session_id: if self.seen_rw_server {
                self.session_id
            } else {
                0
            },
            passwd: self.passwd.clone(),
            read_only: Some(self.cfg.read_only),
        };
        let mut bytes = Vec::new();
        frame::put(&mut bytes, &req.to_bytes());
        out.push(Output::Send(bytes));
        out
    }

    /// Queues a request (sent at once when connected). A `Request::Auth` is remembered and
    /// re-sent on every reconnect, as ZooKeeper's clients do.
    pub fn submit(&mut self, req: Request, waiter: W, now_ms: u64) -> Vec<Output<W>> {
        let mut out = Vec::new();
        if self.state.is_terminal() {
            out.push(Output::Fail {
                waiter,
                failure: self.terminal_failure(),
            });
            return out;
        }
        if self.state.is_connected() {
            self.send(req, Some(waiter), now_ms, &mut out);
        } else {
            self.queued.push_back((req, waiter));
        }
        out
    }

    /// Closes the session: sends closeSession when connected, otherwise ends at once.
    pub fn close(&mut self, now_ms: u64) -> Vec<Output<W>> {
        let mut out = Vec::new();
        if self.state.is_terminal() || self.closing {
            return out;
        }
        self.closing = true;
        if self.state.is_connected() {
            self.close_xid = Some(self.next_xid);
            self.send(Request::CloseSession, None, now_ms, &mut out);
        } else {
            self.terminate(SessionState::Closed, &mut out);
        }
        out
    }

    /// One frame's payload from the server.
    pub fn on_frame(&mut self, payload: &[u8], now_ms: u64) -> Vec<Output<W>> {
        let mut out = Vec::new();
        if !self.attached || self.state.is_terminal() {
            return out;
        }
        self.last_recv_ms = now_ms;
        if !self.state.is_connected() {
            self.on_connect_response(payload, now_ms, &mut out);
            return out;
        }
        let mut r = Reader::new(payload);
        let Ok(h) = ReplyHeader::decode(&mut r) else {
            tracing::warn!("undecodable reply header; dropping the connection");
            self.drop_connection(&mut out);
            return out;
        };
        let body = r.rest().to_vec();
        match h.xid {
            xid::NOTIFICATION => {
                out.push(Output::Event { zxid: h.zxid, body });
                return out;
            }
            xid::PING => {
                if let Some(t) = self.pings_sent_ms.pop_front() {
                    self.renewed_ms = self.renewed_ms.max(t);
                }
                return out;
            }
            _ => {}
        }
        match self.pending.front() {
            Some(p) if p.xid == h.xid => {}
            front => {
                tracing::warn!(
                    got = h.xid,
                    expected = ?front.map(|p| p.xid),
                    "reply out of order; dropping the connection"
                );
                self.drop_connection(&mut out);
                return out;
            }
        }
        let Some(p) = self.pending.pop_front() else {
            return out;
        };
        self.renewed_ms = self.renewed_ms.max(p.sent_ms);
        // Like ZooKeeper's ClientCnxn, only replies to requests advance the last zxid seen
        // (not notifications or pings).
        if h.zxid > self.last_zxid_seen {
            self.last_zxid_seen = h.zxid;
        }
        if h.xid == xid::AUTH && h.err == ErrorCode::AuthFailed.code() {
            if let Some(w) = p.waiter {
                out.push(Output::Fail {
                    waiter: w,
                    failure: Failure::AuthFailed,
                });
            }
            self.terminate(SessionState::AuthFailed, &mut out);
            return out;
        }
        let closed_reply = self.close_xid == Some(h.xid);
        if let Some(w) = p.waiter {
            out.push(Output::Reply {
                waiter: w,
                zxid: h.zxid,
                err: h.err,
                body,
            });
        }
        if closed_reply {
            self.terminate(SessionState::Closed, &mut out);
        }
        out
    }

    fn on_connect_response(&mut self, payload: &[u8], now_ms: u64, out: &mut Vec<Output<W>>) {
        let resp = match ConnectResponse::from_bytes(payload) {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(%e, "bad ConnectResponse; dropping the connection");
                self.drop_connection(out);
                return;
            }
        };
        if resp.time_out <= 0 {
            self.terminate(SessionState::Expired, out);
            return;
        }
        self.session_id = resp.session_id;
        self.passwd = resp.passwd;
        self.negotiated_timeout_ms = resp.time_out as u32;
        self.renewed_ms = self.renewed_ms.max(self.attempt_started_ms);
        let read_only = resp.read_only == Some(true);
        if read_only && !self.cfg.read_only {
            tracing::error!("read/write client got connected to a read-only server");
        }
        self.seen_rw_server |= !read_only;
        let state = if read_only {
            SessionState::ConnectedReadOnly
        } else {
            SessionState::Connected
        };
        self.set_state(state, out);
        if !self.watches.is_empty() {
            let w = std::mem::take(&mut self.watches);
            let sw = SetWatches2 {
                relative_zxid: self.last_zxid_seen,
                data_watches: w.data.into_iter().collect(),
                exist_watches: w.exist.into_iter().collect(),
                child_watches: w.child.into_iter().collect(),
                persistent_watches: w.persistent.into_iter().collect(),
                persistent_recursive_watches: w.persistent_recursive.into_iter().collect(),
            };
            self.send_xid(
                xid::SET_WATCHES,
                &Request::SetWatches2(sw),
                None,
                now_ms,
                out,
            );
        }
        for (scheme, auth) in self.auths.clone() {
            let req = Request::Auth(AuthPacket {
                auth_type: 0,
                scheme,
                auth,
            });
            self.send_xid(xid::AUTH, &req, None, now_ms, out);
        }
        while let Some((req, w)) = self.queued.pop_front() {
            self.send(req, Some(w), now_ms, out);
        }
    }

    /// The socket closed or failed (or could not be opened).
    pub fn disconnected(&mut self, _now_ms: u64) -> Vec<Output<W>> {
        let mut out = Vec::new();
        if self.attached {
            self.attached = false;
            self.fail_pending(Failure::ConnectionLoss, &mut out);
            if self.closing && !self.state.is_terminal() {
                self.terminate(SessionState::Closed, &mut out);
            } else if self.state.is_connected() {
                self.set_state(SessionState::Disconnected, &mut out);
            }
        }
        out
    }

    /// The next time [`Session::on_timeout`] must be called, if any (also while no socket is
    /// attached, for the expiry of a `Disconnected` session).
    pub fn poll_timeout(&self) -> Option<u64> {
        if self.state.is_terminal() {
            return None;
        }
        let expiry = self.expiry_deadline_ms();
        if !self.attached {
            return expiry;
        }
        if !self.state.is_connected() {
            let attempt = self.attempt_started_ms + self.connect_timeout_ms();
            return Some(expiry.map_or(attempt, |e| e.min(attempt)));
        }
        Some(
            (self.last_recv_ms + self.read_timeout_ms())
                .min(self.last_send_ms + self.ping_interval_ms()),
        )
    }

    pub fn on_timeout(&mut self, now_ms: u64) -> Vec<Output<W>> {
        let mut out = Vec::new();
        if self.state.is_terminal() {
            return out;
        }
        if self.expiry_deadline_ms().is_some_and(|d| now_ms >= d) {
            tracing::debug!("disconnected for the whole session timeout; taken as expired");
            self.terminate(SessionState::Expired, &mut out);
            return out;
        }
        if !self.attached {
            return out;
        }
        if !self.state.is_connected() {
            if now_ms >= self.attempt_started_ms + self.connect_timeout_ms() {
                tracing::debug!("connect attempt timed out");
                self.drop_connection(&mut out);
            }
            return out;
        }
        if now_ms >= self.last_recv_ms + self.read_timeout_ms() {
            tracing::debug!("no answer within the read timeout; the server is gone");
            self.drop_connection(&mut out);
            return out;
        }
        if now_ms >= self.last_send_ms + self.ping_interval_ms() {
            let mut payload = Vec::new();
            encode_request(xid::PING, &Request::Ping, &mut payload);
            let mut bytes = Vec::new();
            frame::put(&mut bytes, &payload);
            self.last_send_ms = now_ms;
            self.pings_sent_ms.push_back(now_ms);
            out.push(Output::Send(bytes));
        }
        out
    }

    fn send(&mut self, req: Request, waiter: Option<W>, now_ms: u64, out: &mut Vec<Output<W>>) {
        let x = if let Request::Auth(a) = &req {
            self.auths.push((a.scheme.clone(), a.auth.clone()));
            xid::AUTH
        } else {
            let x = self.next_xid;
            // Positive xids only; the negative ones are ZooKeeper's special xids.
            self.next_xid = if x == i32::MAX { 1 } else { x + 1 };
            x
        };
        self.send_xid(x, &req, waiter, now_ms, out);
    }

    fn send_xid(
        &mut self,
        x: i32,
        req: &Request,
        waiter: Option<W>,
        now_ms: u64,
        out: &mut Vec<Output<W>>,
    ) {
        let mut bytes = Vec::new();
        let at = frame::begin(&mut bytes);
        match req {
            Request::Reconfig(r) => encode_reconfig(x, r, &mut bytes),
            _ => encode_request(x, req, &mut bytes),
        }
        frame::finish(&mut bytes, at);
        self.pending.push_back(Pending {
            xid: x,
            waiter,
            sent_ms: now_ms,
        });
        self.last_send_ms = now_ms;
        out.push(Output::Send(bytes));
    }

    fn drop_connection(&mut self, out: &mut Vec<Output<W>>) {
        out.push(Output::Close);
        out.extend(self.disconnected(0));
    }

    fn fail_pending(&mut self, failure: Failure, out: &mut Vec<Output<W>>) {
        for p in self.pending.drain(..) {
            if let Some(w) = p.waiter {
                out.push(Output::Fail { waiter: w, failure });
            }
        }
    }

    fn terminal_failure(&self) -> Failure {
        match self.state {
            SessionState::Expired => Failure::SessionExpired,
            SessionState::AuthFailed => Failure::AuthFailed,
            _ => Failure::Closed,
        }
    }

    fn terminate(&mut self, state: SessionState, out: &mut Vec<Output<W>>) {
        self.set_state(state, out);
        let failure = self.terminal_failure();
        self.fail_pending(failure, out);
        for (_, w) in self.queued.drain(..) {
            out.push(Output::Fail { waiter: w, failure });
        }
        if self.attached {
            self.attached = false;
            out.push(Output::Close);
        }
    }

    fn set_state(&mut self, state: SessionState, out: &mut Vec<Output<W>>) {
        if self.state != state {
            self.state = state;
            out.push(Output::State(state));
        }
    }
}

/// A reconfig request as ZooKeeperAdmin sends it: an absent (here: empty) server list is a
/// null jute string (length -1), which is how ZooKeeper tells incremental changes
/// (joining/leaving) from a new membership; an empty string would not be null.
fn encode_reconfig(x: i32, r: &zk_proto::proto::ReconfigRequest, out: &mut Vec<u8>) {
    zk_proto::proto::RequestHeader {
        xid: x,
        op_type: zk_proto::OpCode::Reconfig.code(),
    }
    .encode(out);
    for s in [&r.joining_servers, &r.leaving_servers, &r.new_members] {
        if s.is_empty() {
            out.extend_from_slice(&(-1i32).to_be_bytes());
        } else {
            out.extend_from_slice(&(s.len() as i32).to_be_bytes());
            out.extend_from_slice(s.as_bytes());
        }
    }
    out.extend_from_slice(&r.cur_config_id.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use zk_proto::proto::{GetDataRequest, SetWatches2};
    use zk_proto::request::decode_request;

    fn cfg() -> SessionConfig {
        SessionConfig {
            session_timeout_ms: 3000,
            read_only: false,
            hosts: 1,
        }
    }

    fn accept(s: &mut Session<u32>, now: u64, timeout: i32) -> Vec<Output<u32>> {
        let resp = ConnectResponse {
            protocol_version: 0,
            time_out: timeout,
            session_id: 0x42,
            passwd: vec![7; 16],
            read_only: Some(false),
        };
        s.on_frame(&resp.to_bytes(), now)
    }

    fn reply(x: i32, zxid: i64, err: i32) -> Vec<u8> {
        ReplyHeader { xid: x, zxid, err }.to_bytes()
    }

    fn sent(out: &[Output<u32>]) -> Vec<(i32, Request)> {
        out.iter()
            .filter_map(|o| match o {
                Output::Send(b) => {
                    let (h, r) = decode_request(&b[4..], usize::MAX).ok()?;
                    Some((h.xid, r))
                }
                _ => None,
            })
            .collect()
    }

    fn get(path: &str) -> Request {
        Request::GetData(GetDataRequest {
            path: path.into(),
            watch: false,
        })
    }

    fn connected() -> Session<u32> {
        let mut s = Session::new(cfg());
        s.connecting(0, WatchPaths::default());
        let out = accept(&mut s, 10, 3000);
        assert_eq!(out, vec![Output::State(SessionState::Connected)]);
        s
    }

    #[test]
    fn connect_request_carries_session_and_zxid() {
        let mut s = Session::<u32>::new(cfg());
        let out = s.connecting(0, WatchPaths::default());
        let Output::Send(b) = &out[0] else {
            panic!("{out:?}")
        };
        let req = ConnectRequest::from_bytes(&b[4..]).unwrap();
        assert_eq!(
            (req.session_id, req.time_out, req.last_zxid_seen),
            (0, 3000, 0)
        );
        assert_eq!(req.read_only, Some(false));
        accept(&mut s, 5, 3000);
        s.submit(get("/a"), 1, 6);
        s.on_frame(&reply(xid::NOTIFICATION, 120, 0), 6);
        s.on_frame(&reply(xid::PING, 130, 0), 6);
        s.on_frame(&reply(1, 99, 0), 6);
        assert_eq!(s.last_zxid_seen(), 99);
        s.disconnected(7);
        assert_eq!(s.state(), SessionState::Disconnected);
        let out = s.connecting(8, WatchPaths::default());
        // Still Disconnected while reconnecting: the only output is the request.
        let [Output::Send(b)] = &out[..] else {
            panic!("{out:?}")
        };
        let req = ConnectRequest::from_bytes(&b[4..]).unwrap();
        assert_eq!((req.session_id, req.last_zxid_seen), (0x42, 99));
        assert_eq!(req.passwd, vec![7; 16]);
    }

    fn connect_session_id(out: &[Output<u32>]) -> i64 {
        let Some(Output::Send(b)) = out.first() else {
            panic!("{out:?}")
        };
        ConnectRequest::from_bytes(&b[4..]).unwrap().session_id
    }

    fn accept_as(s: &mut Session<u32>, id: i64, read_only: bool) -> Vec<Output<u32>> {
        let resp = ConnectResponse {
            protocol_version: 0,
            time_out: 3000,
            session_id: id,
            passwd: vec![7; 16],
            read_only: Some(read_only),
        };
        s.on_frame(&resp.to_bytes(), 10)
    }

    #[test]
    fn read_only_sessions_start_afresh_until_a_read_write_server_accepts_one() {
        let mut s = Session::<u32>::new(SessionConfig {
            read_only: true,
            ..cfg()
        });
        let out = s.connecting(0, WatchPaths::default());
        let Output::Send(b) = &out[0] else {
            panic!("{out:?}")
        };
        assert_eq!(
            ConnectRequest::from_bytes(&b[4..]).unwrap().read_only,
            Some(true)
        );
        assert_eq!(
            accept_as(&mut s, 0x51, true),
            vec![Output::State(SessionState::ConnectedReadOnly)]
        );
        // Requests go out on a read-only connection.
        assert_eq!(sent(&s.submit(get("/a"), 1, 20)).len(), 1);
        s.disconnected(30);
        assert_eq!(s.state(), SessionState::Disconnected);
        // A read-only server's local session is neither resumed nor taken as expired.
        assert_eq!(s.expiry_deadline_ms(), None);
        assert_eq!(
            connect_session_id(&s.connecting(40, WatchPaths::default())),
            0
        );
        assert_eq!(
            accept_as(&mut s, 0x52, false),
            vec![Output::State(SessionState::Connected)]
        );
        s.disconnected(50);
        // Once a read/write server accepted it, the session is resumed wherever it goes, a
        // read-only server included.
        assert_eq!(s.expiry_deadline_ms(), Some(3040));
        assert_eq!(
            connect_session_id(&s.connecting(60, WatchPaths::default())),
            0x52
        );
        assert_eq!(
            accept_as(&mut s, 0x52, true),
            vec![Output::State(SessionState::ConnectedReadOnly)]
        );
        s.disconnected(70);
        assert_eq!(
            connect_session_id(&s.connecting(80, WatchPaths::default())),
            0x52
        );
    }

    #[test]
    fn ping_cadence_and_dead_server() {
        let mut s = connected();
        assert_eq!(s.negotiated_timeout_ms(), 3000);
        // Nothing sent since 0: the first ping is due at 1000.
        assert_eq!(s.poll_timeout(), Some(1000));
        assert!(s.on_timeout(999).is_empty());
        let out = s.on_timeout(1000);
        assert_eq!(sent(&out), vec![(xid::PING, Request::Ping)]);
        s.on_frame(&reply(xid::PING, 5, 0), 1010);
        assert_eq!(s.poll_timeout(), Some(2000));
        sent(&s.on_timeout(2000));
        // No answer to that ping: dead once 2000 ms passed since the last frame (at 1010).
        assert_eq!(s.poll_timeout(), Some(3000));
        sent(&s.on_timeout(3000));
        assert_eq!(s.poll_timeout(), Some(3010));
        let out = s.on_timeout(3010);
        assert_eq!(
            out,
            vec![Output::Close, Output::State(SessionState::Disconnected)]
        );
        // The server last renewed the session no earlier than the answered ping's send time.
        assert_eq!(s.poll_timeout(), Some(4000));
    }

    #[test]
    fn disconnected_for_the_session_timeout_is_expired() {
        let mut s = connected();
        // A reply to a request sent at 500 proves the session was renewed at or after 500.
        s.submit(get("/a"), 1, 500);
        s.on_frame(&reply(1, 3, 0), 900);
        s.disconnected(1000);
        assert_eq!(s.expiry_deadline_ms(), Some(3500));
        assert!(s.submit(get("/q"), 2, 1100).is_empty());
        // A reconnect attempt in progress: the earlier of its timeout and the expiry.
        s.connecting(3000, WatchPaths::default());
        assert_eq!(s.poll_timeout(), Some(3500));
        assert!(s.on_timeout(3499).is_empty());
        assert_eq!(
            s.on_timeout(3500),
            vec![
                Output::State(SessionState::Expired),
                Output::Fail {
                    waiter: 2,
                    failure: Failure::SessionExpired
                },
                Output::Close,
            ]
        );
        assert_eq!(s.poll_timeout(), None);
        // Detached: the deadline is still kept.
        let mut s = connected();
        s.disconnected(100);
        assert_eq!(s.poll_timeout(), Some(3000));
        assert_eq!(
            s.on_timeout(3000),
            vec![Output::State(SessionState::Expired)]
        );
        // A session that never connected does not expire this way.
        let s = Session::<u32>::new(cfg());
        assert_eq!(s.poll_timeout(), None);
    }

    #[test]
    fn fifo_replies_and_out_of_order_is_a_protocol_error() {
        let mut s = connected();
        let out: Vec<_> = (0..3).flat_map(|i| s.submit(get("/a"), i, 20)).collect();
        let xids: Vec<i32> = sent(&out).into_iter().map(|(x, _)| x).collect();
        assert_eq!(xids, vec![1, 2, 3]);
        let out = s.on_frame(&reply(1, 7, 0), 30);
        assert!(matches!(
            out[..],
            [Output::Reply {
                waiter: 0,
                zxid: 7,
                err: 0,
                ..
            }]
        ));
        assert_eq!(s.last_zxid_seen(), 7);
        let out = s.on_frame(&reply(3, 8, 0), 31);
        assert_eq!(
            out,
            vec![
                Output::Close,
                Output::Fail {
                    waiter: 1,
                    failure: Failure::ConnectionLoss
                },
                Output::Fail {
                    waiter: 2,
                    failure: Failure::ConnectionLoss
                },
                Output::State(SessionState::Disconnected),
            ]
        );
    }

    #[test]
    fn queued_while_disconnected_then_sent_after_set_watches() {
        let mut s = connected();
        s.disconnected(40);
        assert!(s.submit(get("/q"), 9, 41).is_empty());
        let watches = WatchPaths {
            data: ["/d".to_owned()].into(),
            persistent_recursive: ["/r".to_owned()].into(),
            ..WatchPaths::default()
        };
        s.on_frame(&reply(xid::NOTIFICATION, 55, 0), 42); // ignored: not attached
        s.connecting(50, watches);
        let out = accept(&mut s, 60, 3000);
        let reqs = sent(&out);
        assert_eq!(reqs.len(), 2);
        assert_eq!(
            reqs[0],
            (
                xid::SET_WATCHES,
                Request::SetWatches2(SetWatches2 {
                    relative_zxid: 0,
                    data_watches: vec!["/d".into()],
                    exist_watches: vec![],
                    child_watches: vec![],
                    persistent_watches: vec![],
                    persistent_recursive_watches: vec!["/r".into()],
                })
            )
        );
        assert_eq!(reqs[1], (1, get("/q")));
        // The setWatches reply has no waiter; the request's reply does.
        assert!(s.on_frame(&reply(xid::SET_WATCHES, 1, 0), 61).is_empty());
        assert!(matches!(
            s.on_frame(&reply(1, 1, 0), 62)[..],
            [Output::Reply { waiter: 9, .. }]
        ));
    }

    #[test]
    fn expiry_on_reconnect() {
        let mut s = connected();
        s.disconnected(100);
        s.submit(get("/x"), 1, 101);
        s.connecting(200, WatchPaths::default());
        let out = accept(&mut s, 210, 0);
        assert_eq!(
            out,
            vec![
                Output::State(SessionState::Expired),
                Output::Fail {
                    waiter: 1,
                    failure: Failure::SessionExpired
                },
                Output::Close,
            ]
        );
        assert_eq!(
            s.submit(get("/y"), 2, 220),
            vec![Output::Fail {
                waiter: 2,
                failure: Failure::SessionExpired
            }]
        );
        assert_eq!(
            s.connecting(300, WatchPaths::default()),
            vec![Output::Close]
        );
    }

    #[test]
    fn connect_attempt_timeout() {
        let mut s = Session::<u32>::new(SessionConfig { hosts: 3, ..cfg() });
        s.connecting(0, WatchPaths::default());
        assert_eq!(s.poll_timeout(), Some(1000));
        assert_eq!(s.on_timeout(1000), vec![Output::Close]);
        assert_eq!(s.state(), SessionState::Connecting);
    }

    #[test]
    fn auth_is_resent_and_auth_failure_is_terminal() {
        let mut s = connected();
        let auth = Request::Auth(AuthPacket {
            auth_type: 0,
            scheme: "digest".into(),
            auth: b"u:p".to_vec(),
        });
        let out = s.submit(auth.clone(), 1, 20);
        assert_eq!(sent(&out), vec![(xid::AUTH, auth.clone())]);
        s.on_frame(&reply(xid::AUTH, 0, 0), 21);
        s.disconnected(22);
        s.connecting(30, WatchPaths::default());
        let out = accept(&mut s, 31, 3000);
        assert_eq!(sent(&out), vec![(xid::AUTH, auth)]);
        let out = s.on_frame(&reply(xid::AUTH, 0, ErrorCode::AuthFailed.code()), 32);
        assert_eq!(
            out,
            vec![Output::State(SessionState::AuthFailed), Output::Close]
        );
    }

    #[test]
    fn reconfig_sends_absent_lists_as_null() {
        let mut s = connected();
        let req = Request::Reconfig(zk_proto::proto::ReconfigRequest {
            joining_servers: "server.5=h:1:2;3".into(),
            leaving_servers: String::new(),
            new_members: String::new(),
            cur_config_id: 0x1a,
        });
        let out = s.submit(req, 1, 20);
        let Output::Send(b) = &out[0] else {
            panic!("{out:?}")
        };
        // frame length, xid, opcode 16, the joining list, two nulls, the config id
        let mut want = Vec::new();
        for v in [44i32, 1, 16, 16] {
            want.extend_from_slice(&v.to_be_bytes());
        }
        want.extend_from_slice(b"server.5=h:1:2;3");
        want.extend_from_slice(&(-1i32).to_be_bytes());
        want.extend_from_slice(&(-1i32).to_be_bytes());
        want.extend_from_slice(&0x1a_i64.to_be_bytes());
        assert_eq!(b, &want);
    }

    #[test]
    fn close_sends_close_session() {
        let mut s = connected();
        let out = s.close(20);
        assert_eq!(sent(&out), vec![(1, Request::CloseSession)]);
        let out = s.on_frame(&reply(1, 3, 0), 21);
        assert_eq!(
            out,
            vec![Output::State(SessionState::Closed), Output::Close]
        );
    }
}
