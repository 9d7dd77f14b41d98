//! [`Client`]: the async API. Every method builds a request (paths validated and put under the
//! chroot), hands it to the connection task and awaits its reply; many calls may be in flight
//! at once and complete in the order they were issued.

use std::sync::Arc;
use std::time::Duration;

use thiserror::Error;
use tokio::sync::{mpsc, oneshot, watch};

use zk_proto::codec::{Decode, Reader};
use zk_proto::data::{Acl, ClientInfo, Stat};
use zk_proto::proto::*;
use zk_proto::request::{decode_multi_results, MultiOp, MultiResult, Request};
use zk_proto::{AddWatchMode, CreateMode, ErrorCode, OpCode, WatcherType};

use crate::conn::{tcp_connector, Cmd, Connector, OnReply, Shell, Waiter, WatchKind, WatchedEvent};
use crate::connect_string::{self, Chroot, ConnectStringError};
use crate::session::{Failure, SessionConfig, SessionState};

/// A stream of watch notifications for one watcher, in the order the server sent them. A
/// one-shot watcher yields at most one event; the stream ends when the session ends or the
/// watch is removed.
pub type Watcher = mpsc::UnboundedReceiver<WatchedEvent>;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Error {
    /// The connection dropped before the reply came: the request may or may not have been
    /// applied.
    #[error("connection loss")]
    ConnectionLoss,
    #[error("session expired")]
    SessionExpired,
    #[error("authentication failed")]
    AuthFailed,
    /// The client was closed.
    #[error("client closed")]
    Closed,
    /// Any other error code the server answered with (`NoNode`, `NodeExists`, `BadVersion`...).
    #[error("server error {0}")]
    Server(ErrorCode),
    #[error("unknown server error code {0}")]
    UnknownCode(i32),
    #[error("bad argument: {0}")]
    BadArguments(String),
    #[error(transparent)]
    ConnectString(#[from] ConnectStringError),
    /// The server's reply could not be decoded.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// A lock recipe's release found the lock already lost: its node was gone before the
    /// release's delete reached the server, or the session had ended. The release deleted
    /// nothing, and the lock was not (certainly) held until the release.
    #[error("lock already lost: {0}")]
    LockLost(crate::recipes::LockLoss),
}

impl Error {
    fn from_code(err: i32) -> Error {
        match ErrorCode::from_i32(err) {
            Some(ErrorCode::ConnectionLoss) => Error::ConnectionLoss,
            Some(ErrorCode::SessionExpired) => Error::SessionExpired,
            Some(ErrorCode::AuthFailed) => Error::AuthFailed,
            Some(c) => Error::Server(c),
            None => Error::UnknownCode(err),
        }
    }

    /// ZooKeeper's error code for this error, when it has one.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            Error::ConnectionLoss => Some(ErrorCode::ConnectionLoss),
            Error::SessionExpired => Some(ErrorCode::SessionExpired),
            Error::AuthFailed => Some(ErrorCode::AuthFailed),
            Error::Server(c) => Some(*c),
            Error::BadArguments(_) => Some(ErrorCode::BadArguments),
            _ => None,
        }
    }
}

impl From<Failure> for Error {
    fn from(f: Failure) -> Error {
        match f {
            Failure::ConnectionLoss => Error::ConnectionLoss,
            Failure::SessionExpired => Error::SessionExpired,
            Failure::AuthFailed => Error::AuthFailed,
            Failure::Closed => Error::Closed,
        }
    }
}

impl From<zk_proto::DecodeError> for Error {
    fn from(e: zk_proto::DecodeError) -> Error {
        Error::Protocol(e.to_string())
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// One write operation of a [`Client::multi`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    Create {
        path: String,
        data: Vec<u8>,
        acl: Vec<Acl>,
        mode: CreateMode,
        /// Required for (and only for) the TTL modes.
        ttl_ms: Option<i64>,
    },
    Delete {
        path: String,
        version: i32,
    },
    SetData {
        path: String,
        data: Vec<u8>,
        version: i32,
    },
    Check {
        path: String,
        version: i32,
    },
}

impl Op {
    pub fn create(path: &str, data: &[u8], acl: Vec<Acl>, mode: CreateMode) -> Op {
        Op::Create {
            path: path.into(),
            data: data.into(),
            acl,
            mode,
            ttl_ms: None,
        }
    }
    pub fn delete(path: &str, version: i32) -> Op {
        Op::Delete {
            path: path.into(),
            version,
        }
    }
    pub fn set_data(path: &str, data: &[u8], version: i32) -> Op {
        Op::SetData {
            path: path.into(),
            data: data.into(),
            version,
        }
    }
    pub fn check(path: &str, version: i32) -> Op {
        Op::Check {
            path: path.into(),
            version,
        }
    }
}

/// One read of a [`Client::multi_read`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadOp {
    GetData(String),
    GetChildren(String),
}

/// One result of a multi or multiRead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpResult {
    Create {
        path: String,
        stat: Option<Stat>,
    },
    Delete,
    SetData(Stat),
    Check,
    GetData {
        data: Vec<u8>,
        stat: Stat,
    },
    GetChildren(Vec<String>),
    /// In a multiRead: this read failed. In a failed multi: `Ok` for the ops before the
    /// failing one, the failing op's code, `RuntimeInconsistency` after it.
    Error(ErrorCode),
}

/// How to connect.
#[derive(Debug, Clone)]
pub struct ClientBuilder {
    session_timeout: Duration,
    connect_timeout: Option<Duration>,
    read_only: bool,
    max_buffer: usize,
    tls: Option<crate::tls::TlsConfig>,
}

impl Default for ClientBuilder {
    fn default() -> Self {
        ClientBuilder {
            session_timeout: Duration::from_secs(10),
            connect_timeout: None,
            read_only: false,
            max_buffer: zk_proto::DEFAULT_MAX_BUFFER,
            tls: None,
        }
    }
}

impl ClientBuilder {
    /// The session timeout to ask for (the server clamps it to its min/max).
    pub fn session_timeout(mut self, t: Duration) -> Self {
        self.session_timeout = t;
        self
    }
    /// How long [`ClientBuilder::connect`] waits for the first session (default: twice the
    /// session timeout).
    pub fn connect_timeout(mut self, t: Duration) -> Self {
        self.connect_timeout = Some(t);
        self
    }
    pub fn read_only(mut self, ro: bool) -> Self {
        self.read_only = ro;
        self
    }
    /// The largest reply record accepted, as the Java client's `jute.maxbuffer` (default
    /// 0xfffff). A larger reply, say `getChildren` of a parent with a few hundred thousand
    /// children, closes the connection (`ConnectionLoss`) unless this is raised.
    pub fn max_buffer(mut self, bytes: usize) -> Self {
        self.max_buffer = bytes;
        self
    }

    /// Parses the connect string, starts the connection task and waits until a session is
    /// established (`ConnectionLoss` if none within the connect timeout).
    pub async fn connect(self, connect_string: &str) -> Result<Client> {
        let connector = match &self.tls {
            Some(t) => t.connector(),
            None => tcp_connector(),
        };
        self.connect_via(connect_string, connector).await
    }

    /// Connect with TLS (to a `secureClientPort`, or a port with `client.portUnification`).
    pub fn tls(mut self, tls: crate::tls::TlsConfig) -> Self {
        self.tls = Some(tls);
        self
    }

    /// [`ClientBuilder::connect`] with streams opened by `connector` (tests use in-memory ones).
    pub(crate) async fn connect_via(
        self,
        connect_string: &str,
        connector: Connector,
    ) -> Result<Client> {
        let cs = connect_string::parse(connect_string)?;
        let cfg = SessionConfig {
            session_timeout_ms: self.session_timeout.as_millis().min(i32::MAX as u128) as u32,
            read_only: self.read_only,
            hosts: cs.hosts.len(),
        };
        let (tx, rx) = mpsc::unbounded_channel();
        let (state_tx, mut state_rx) = watch::channel(SessionState::Connecting);
        let (session_tx, session_rx) = watch::channel((0, Vec::new()));
        let mut shell = Shell::new(
            cs.hosts,
            connector,
            cs.chroot.clone(),
            cfg,
            rx,
            state_tx,
            session_tx,
        );
        shell.set_max_buffer(self.max_buffer);
        let host = shell.connected_host();
        tokio::spawn(shell.run());
        let client = Client {
            inner: Arc::new(Inner {
                tx,
                chroot: cs.chroot,
                state: state_rx.clone(),
                session: session_rx,
                host,
            }),
        };
        let limit = self.connect_timeout.unwrap_or(self.session_timeout * 2);
        // Copy the state out at once: a `watch::Ref` held across the `close().await` below
        // would make this future `!Send` (unusable in a spawned task).
        let waited = tokio::time::timeout(
            limit,
            state_rx.wait_for(|s| s.is_connected() || s.is_terminal()),
        )
        .await
        .map(|r| r.map(|s| *s));
        let state = match waited {
            Ok(Ok(s)) => s,
            Ok(Err(_)) => SessionState::Closed,
            Err(_) => {
                client.close().await;
                return Err(Error::ConnectionLoss);
            }
        };
        match state {
            SessionState::Connected | SessionState::ConnectedReadOnly => Ok(client),
            SessionState::Expired => Err(Error::SessionExpired),
            SessionState::AuthFailed => Err(Error::AuthFailed),
            _ => Err(Error::Closed),
        }
    }
}

struct Inner {
    tx: mpsc::UnboundedSender<Cmd>,
    chroot: Chroot,
    state: watch::Receiver<SessionState>,
    session: watch::Receiver<(i64, Vec<u8>)>,
    host: watch::Receiver<Option<String>>,
}

/// A ZooKeeper session. Cheap to clone; the session ends when [`Client::close`] is called or
/// the last clone is dropped.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("chroot", &self.inner.chroot)
            .field("state", &*self.inner.state.borrow())
            .finish()
    }
}

fn check_path(path: &str, sequential: bool) -> Result<()> {
    zk_proto::path::validate(path, sequential)
        .map_err(|e| Error::BadArguments(format!("{path:?}: {e}")))
}

/// Decodes a reply body. Its frame already passed the connection's `jute.maxbuffer` check
/// ([`ClientBuilder::max_buffer`]), so no length inside it is bounded more tightly than by
/// the body itself.
fn reply<T: Decode>(body: &[u8]) -> std::result::Result<T, zk_proto::codec::DecodeError> {
    T::from_bytes_max(body, body.len())
}

fn opt_data(data: &[u8]) -> Option<Vec<u8>> {
    Some(data.to_vec())
}

impl Client {
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// Connects with a 10 s session timeout.
    pub async fn connect(connect_string: &str) -> Result<Client> {
        ClientBuilder::default().connect(connect_string).await
    }

    /// The session id (0 before the first session is established).
    pub fn session_id(&self) -> i64 {
        self.inner.session.borrow().0
    }

    /// The session password, with [`Client::session_id`] what a reconnect presents.
    pub fn session_password(&self) -> Vec<u8> {
        self.inner.session.borrow().1.clone()
    }

    /// The server the session is connected to now, as `host:port` from the connect string
    /// (IPv6 hosts in brackets); `None` while not connected (connecting, disconnected, ended).
    /// A snapshot: the client may move to another server at any time.
    pub fn connected_host(&self) -> Option<String> {
        self.inner.host.borrow().clone()
    }

    /// The current session state.
    pub fn state(&self) -> SessionState {
        *self.inner.state.borrow()
    }

    /// A stream of session states: the current one first, then every change.
    pub fn state_events(&self) -> mpsc::UnboundedReceiver<SessionState> {
        let (tx, rx) = mpsc::unbounded_channel();
        if let Err(mpsc::error::SendError(Cmd::SubscribeState(tx))) =
            self.inner.tx.send(Cmd::SubscribeState(tx))
        {
            let _ = tx.send(self.state());
        }
        rx
    }

    /// A watch of the session state (for recipes that follow the session without a stream).
    pub(crate) fn state_watch(&self) -> watch::Receiver<SessionState> {
        self.inner.state.clone()
    }

    /// Waits until the session reaches `state` (or a terminal state); returns the state reached.
    pub async fn wait_for_state(&self, state: SessionState) -> SessionState {
        let mut rx = self.inner.state.clone();
        let r = rx.wait_for(|s| *s == state || s.is_terminal()).await;
        r.map(|s| *s).unwrap_or(SessionState::Closed)
    }

    /// Ends the session (closeSession) and waits until the connection task is done with it.
    pub async fn close(&self) {
        let (tx, rx) = oneshot::channel();
        if self.inner.tx.send(Cmd::Close(tx)).is_ok() {
            let _ = rx.await;
        }
    }

    fn path(&self, path: &str) -> Result<String> {
        check_path(path, false)?;
        Ok(self.inner.chroot.prefix(path))
    }

    fn strip(&self, path: &str) -> String {
        self.inner.chroot.strip(path)
    }

    async fn call_raw(&self, req: Request, on_reply: OnReply) -> Result<(i64, i32, Vec<u8>)> {
        let (tx, rx) = oneshot::channel();
        self.inner
            .tx
            .send(Cmd::Request(req, Waiter { tx, on_reply }))
            .map_err(|_| self.ended())?;
        match rx.await {
            Ok(r) => r.map_err(Error::from),
            Err(_) => Err(self.ended()),
        }
    }

    /// The error for a request made after the connection task has ended.
    fn ended(&self) -> Error {
        match self.state() {
            SessionState::Expired => Error::SessionExpired,
            SessionState::AuthFailed => Error::AuthFailed,
            _ => Error::Closed,
        }
    }

    async fn call(&self, req: Request) -> Result<Vec<u8>> {
        self.call_with(req, OnReply::Nothing).await
    }

    async fn call_with(&self, req: Request, on_reply: OnReply) -> Result<Vec<u8>> {
        let (_, err, body) = self.call_raw(req, on_reply).await?;
        if err != 0 {
            return Err(Error::from_code(err));
        }
        Ok(body)
    }

    /// Creates a node; returns its path (with the sequence number for sequential modes).
    /// Container mode uses `createContainer`; TTL modes need [`Client::create_ttl`].
    pub async fn create(
        &self,
        path: &str,
        data: &[u8],
        acl: &[Acl],
        mode: CreateMode,
    ) -> Result<String> {
        if mode == CreateMode::Persistent
            || mode == CreateMode::Ephemeral
            || mode.is_sequential() && !mode.is_ttl()
        {
            let req = self.create_request(OpCode::Create, path, data, acl, mode)?;
            let body = self.call(req).await?;
            return Ok(self.strip(&reply::<CreateResponse>(&body)?.path));
        }
        Ok(self.create2(path, data, acl, mode).await?.0)
    }

    /// Creates a node and returns its path and stat (`create2`, or `createContainer`).
    pub async fn create2(
        &self,
        path: &str,
        data: &[u8],
        acl: &[Acl],
        mode: CreateMode,
    ) -> Result<(String, Stat)> {
        if mode.is_ttl() {
            return Err(Error::BadArguments(
                "TTL modes need create_ttl and a TTL".into(),
            ));
        }
        let op = if mode.is_container() {
            OpCode::CreateContainer
        } else {
            OpCode::Create2
        };
        let req = self.create_request(op, path, data, acl, mode)?;
        let body = self.call(req).await?;
        let r = reply::<Create2Response>(&body)?;
        Ok((self.strip(&r.path), r.stat))
    }

    /// Creates a TTL node (`createTTL`): `mode` must be one of the TTL modes.
    pub async fn create_ttl(
        &self,
        path: &str,
        data: &[u8],
        acl: &[Acl],
        mode: CreateMode,
        ttl_ms: i64,
    ) -> Result<(String, Stat)> {
        if !mode.is_ttl() {
            return Err(Error::BadArguments(format!("{mode:?} is not a TTL mode")));
        }
        check_path(path, mode.is_sequential())?;
        let req = Request::CreateTtl(CreateTtlRequest {
            path: self.inner.chroot.prefix(path),
            data: opt_data(data),
            acl: acl.to_vec(),
            flags: mode.code(),
            ttl: ttl_ms,
        });
        let body = self.call(req).await?;
        let r = reply::<Create2Response>(&body)?;
        Ok((self.strip(&r.path), r.stat))
    }

    fn create_request(
        &self,
        op: OpCode,
        path: &str,
        data: &[u8],
        acl: &[Acl],
        mode: CreateMode,
    ) -> Result<Request> {
        check_path(path, mode.is_sequential())?;
        Ok(Request::Create {
            op,
            req: CreateRequest {
                path: self.inner.chroot.prefix(path),
                data: opt_data(data),
                acl: acl.to_vec(),
                flags: mode.code(),
            },
        })
    }

    /// Deletes a node; `version` -1 matches any version.
    pub async fn delete(&self, path: &str, version: i32) -> Result<()> {
        let path = self.path(path)?;
        self.call(Request::Delete(DeleteRequest { path, version }))
            .await?;
        Ok(())
    }

    /// The node's stat, or `None` when it does not exist.
    pub async fn exists(&self, path: &str) -> Result<Option<Stat>> {
        self.exists_inner(path, None).await
    }

    /// Like [`Client::exists`], also leaving a one-shot watch: NodeCreated if the node is
    /// missing; NodeDataChanged or NodeDeleted if it exists.
    pub async fn exists_w(&self, path: &str) -> Result<(Option<Stat>, Watcher)> {
        let (tx, rx) = mpsc::unbounded_channel();
        let stat = self.exists_inner(path, Some(tx)).await?;
        Ok((stat, rx))
    }

    async fn exists_inner(
        &self,
        path: &str,
        watch: Option<mpsc::UnboundedSender<WatchedEvent>>,
    ) -> Result<Option<Stat>> {
        let path = self.path(path)?;
        let req = Request::Exists(ExistsRequest {
            path: path.clone(),
            watch: watch.is_some(),
        });
        let on_reply = match watch {
            Some(tx) => OnReply::Watch(WatchKind::Data, path, tx),
            None => OnReply::Nothing,
        };
        let (_, err, body) = self.call_raw(req, on_reply).await?;
        if err == ErrorCode::NoNode.code() {
            return Ok(None);
        }
        if err != 0 {
            return Err(Error::from_code(err));
        }
        Ok(Some(reply::<ExistsResponse>(&body)?.stat))
    }

    /// The node's data (empty when null) and stat.
    pub async fn get_data(&self, path: &str) -> Result<(Vec<u8>, Stat)> {
        let path = self.path(path)?;
        let body = self
            .call(Request::GetData(GetDataRequest { path, watch: false }))
            .await?;
        let r = reply::<GetDataResponse>(&body)?;
        Ok((r.data.unwrap_or_default(), r.stat))
    }

    /// Like [`Client::get_data`], also leaving a one-shot data watch.
    pub async fn get_data_w(&self, path: &str) -> Result<(Vec<u8>, Stat, Watcher)> {
        let path = self.path(path)?;
        let (tx, rx) = mpsc::unbounded_channel();
        let body = self
            .call_with(
                Request::GetData(GetDataRequest {
                    path: path.clone(),
                    watch: true,
                }),
                OnReply::Watch(WatchKind::Data, path, tx),
            )
            .await?;
        let r = reply::<GetDataResponse>(&body)?;
        Ok((r.data.unwrap_or_default(), r.stat, rx))
    }

    /// Sets the node's data; `version` -1 matches any version.
    pub async fn set_data(&self, path: &str, data: &[u8], version: i32) -> Result<Stat> {
        let path = self.path(path)?;
        let body = self
            .call(Request::SetData(SetDataRequest {
                path,
                data: opt_data(data),
                version,
            }))
            .await?;
        Ok(reply::<SetDataResponse>(&body)?.stat)
    }

    pub async fn get_acl(&self, path: &str) -> Result<(Vec<Acl>, Stat)> {
        let path = self.path(path)?;
        let body = self.call(Request::GetAcl(GetAclRequest { path })).await?;
        let r = reply::<GetAclResponse>(&body)?;
        Ok((r.acl, r.stat))
    }

    /// Sets the node's ACL; `aversion` -1 matches any ACL version.
    pub async fn set_acl(&self, path: &str, acl: &[Acl], aversion: i32) -> Result<Stat> {
        let path = self.path(path)?;
        let body = self
            .call(Request::SetAcl(SetAclRequest {
                path,
                acl: acl.to_vec(),
                version: aversion,
            }))
            .await?;
        Ok(reply::<SetAclResponse>(&body)?.stat)
    }

    /// The node's children (names, unsorted as the server sends them).
    pub async fn get_children(&self, path: &str) -> Result<Vec<String>> {
        let path = self.path(path)?;
        let body = self
            .call(Request::GetChildren(GetChildrenRequest {
                path,
                watch: false,
            }))
            .await?;
        Ok(reply::<GetChildrenResponse>(&body)?.children)
    }

    /// Like [`Client::get_children`], also leaving a one-shot child watch.
    pub async fn get_children_w(&self, path: &str) -> Result<(Vec<String>, Watcher)> {
        let path = self.path(path)?;
        let (tx, rx) = mpsc::unbounded_channel();
        let body = self
            .call_with(
                Request::GetChildren(GetChildrenRequest {
                    path: path.clone(),
                    watch: true,
                }),
                OnReply::Watch(WatchKind::Child, path, tx),
            )
            .await?;
        Ok((reply::<GetChildrenResponse>(&body)?.children, rx))
    }

    /// The node's children and its stat.
    pub async fn get_children2(&self, path: &str) -> Result<(Vec<String>, Stat)> {
        let path = self.path(path)?;
        let body = self
            .call(Request::GetChildren2(GetChildren2Request {
                path,
                watch: false,
            }))
            .await?;
        let r = reply::<GetChildren2Response>(&body)?;
        Ok((r.children, r.stat))
    }

    /// How many descendants the node has (all levels).
    pub async fn get_all_children_number(&self, path: &str) -> Result<i32> {
        let path = self.path(path)?;
        let body = self
            .call(Request::GetAllChildrenNumber(GetAllChildrenNumberRequest {
                path,
            }))
            .await?;
        Ok(reply::<GetAllChildrenNumberResponse>(&body)?.total_number)
    }

    /// The paths of this session's ephemeral nodes that start with `prefix` (`/` for all).
    pub async fn get_ephemerals(&self, prefix: &str) -> Result<Vec<String>> {
        let prefix_path = self.path(prefix)?;
        let body = self
            .call(Request::GetEphemerals(GetEphemeralsRequest { prefix_path }))
            .await?;
        let r = reply::<GetEphemeralsResponse>(&body)?;
        Ok(r.ephemerals.iter().map(|p| self.strip(p)).collect())
    }

    /// Waits until the server this client is connected to has caught up with the leader.
    pub async fn sync(&self, path: &str) -> Result<()> {
        let path = self.path(path)?;
        self.call(Request::Sync(SyncRequest { path })).await?;
        Ok(())
    }

    fn multi_op(&self, op: &Op) -> Result<MultiOp> {
        Ok(match op {
            Op::Create {
                path,
                data,
                acl,
                mode,
                ttl_ms,
            } => {
                check_path(path, mode.is_sequential())?;
                let path = self.inner.chroot.prefix(path);
                match (mode.is_ttl(), ttl_ms) {
                    (true, Some(ttl)) => MultiOp::CreateTtl(CreateTtlRequest {
                        path,
                        data: opt_data(data),
                        acl: acl.clone(),
                        flags: mode.code(),
                        ttl: *ttl,
                    }),
                    (false, None) => MultiOp::Create {
                        op: if mode.is_container() {
                            OpCode::CreateContainer
                        } else {
                            OpCode::Create2
                        },
                        req: CreateRequest {
                            path,
                            data: opt_data(data),
                            acl: acl.clone(),
                            flags: mode.code(),
                        },
                    },
                    _ => {
                        return Err(Error::BadArguments(
                            "a TTL goes with (and only with) the TTL modes".into(),
                        ))
                    }
                }
            }
            Op::Delete { path, version } => MultiOp::Delete(DeleteRequest {
                path: self.path(path)?,
                version: *version,
            }),
            Op::SetData {
                path,
                data,
                version,
            } => MultiOp::SetData(SetDataRequest {
                path: self.path(path)?,
                data: opt_data(data),
                version: *version,
            }),
            Op::Check { path, version } => MultiOp::Check(CheckVersionRequest {
                path: self.path(path)?,
                version: *version,
            }),
        })
    }

    fn results(&self, body: &[u8]) -> Result<Vec<OpResult>> {
        let mut r = Reader::with_max(body, body.len());
        let results = decode_multi_results(&mut r)?;
        Ok(results
            .into_iter()
            .map(|res| match res {
                MultiResult::Create(path) => OpResult::Create {
                    path: self.strip(&path),
                    stat: None,
                },
                MultiResult::Create2 { path, stat, .. } => OpResult::Create {
                    path: self.strip(&path),
                    stat: Some(stat),
                },
                MultiResult::Delete => OpResult::Delete,
                MultiResult::SetData(stat) => OpResult::SetData(stat),
                MultiResult::Check => OpResult::Check,
                MultiResult::GetData(d) => OpResult::GetData {
                    data: d.data.unwrap_or_default(),
                    stat: d.stat,
                },
                MultiResult::GetChildren(c) => OpResult::GetChildren(c),
                MultiResult::Error(e) => {
                    OpResult::Error(ErrorCode::from_i32(e).unwrap_or(ErrorCode::SystemError))
                }
            })
            .collect())
    }

    /// Runs write ops atomically. On failure nothing was applied and the error is the first
    /// failing op's code, as ZooKeeper's `multi` throws it; [`Client::try_multi`] returns every
    /// op's result instead.
    pub async fn multi(&self, ops: &[Op]) -> Result<Vec<OpResult>> {
        let results = self.try_multi(ops).await?;
        for r in &results {
            if let OpResult::Error(c) = r {
                if *c != ErrorCode::Ok {
                    return Err(Error::from_code(c.code()));
                }
            }
        }
        Ok(results)
    }

    /// Runs write ops atomically and returns each op's result (errors inline).
    pub async fn try_multi(&self, ops: &[Op]) -> Result<Vec<OpResult>> {
        let ops = ops
            .iter()
            .map(|o| self.multi_op(o))
            .collect::<Result<Vec<_>>>()?;
        let (_, err, body) = self.call_raw(Request::Multi(ops), OnReply::Nothing).await?;
        if err != 0 && body.is_empty() {
            return Err(Error::from_code(err));
        }
        self.results(&body)
    }

    /// Runs reads together (`multiRead`); a failing read yields [`OpResult::Error`].
    pub async fn multi_read(&self, ops: &[ReadOp]) -> Result<Vec<OpResult>> {
        let ops = ops
            .iter()
            .map(|o| {
                Ok(match o {
                    ReadOp::GetData(p) => MultiOp::GetData(GetDataRequest {
                        path: self.path(p)?,
                        watch: false,
                    }),
                    ReadOp::GetChildren(p) => MultiOp::GetChildren(GetChildrenRequest {
                        path: self.path(p)?,
                        watch: false,
                    }),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let body = self.call(Request::MultiRead(ops)).await?;
        self.results(&body)
    }

    /// Changes the ensemble's membership (`ZooKeeperAdmin.reconfigure`, opcode 16):
    /// incrementally with `joining` (comma-separated `server.N=host:port:port[:role];[addr:]port`)
    /// and/or `leaving` (comma-separated server ids), or as a whole with `new_members`;
    /// `from_config` is the config version that must be current (-1: any). `None` and `Some("")`
    /// are both sent as a null string. Returns the new configuration (`/zookeeper/config`'s
    /// data) and its stat. A standalone server answers `ReconfigDisabled` (or `Unimplemented`
    /// when reconfig is enabled), as ZooKeeper does.
    pub async fn reconfig(
        &self,
        joining: Option<&str>,
        leaving: Option<&str>,
        new_members: Option<&str>,
        from_config: i64,
    ) -> Result<(Vec<u8>, Stat)> {
        let body = self
            .call(Request::Reconfig(ReconfigRequest {
                joining_servers: joining.unwrap_or_default().to_string(),
                leaving_servers: leaving.unwrap_or_default().to_string(),
                new_members: new_members.unwrap_or_default().to_string(),
                cur_config_id: from_config,
            }))
            .await?;
        let r = reply::<GetDataResponse>(&body)?;
        Ok((r.data.unwrap_or_default(), r.stat))
    }

    /// Adds credentials to the session (re-sent on every reconnect).
    pub async fn add_auth(&self, scheme: &str, auth: &[u8]) -> Result<()> {
        self.call(Request::Auth(AuthPacket {
            auth_type: 0,
            scheme: scheme.into(),
            auth: auth.to_vec(),
        }))
        .await?;
        Ok(())
    }

    /// The session's identities (3.9 `whoAmI`).
    pub async fn whoami(&self) -> Result<Vec<ClientInfo>> {
        let body = self.call(Request::WhoAmI).await?;
        Ok(reply::<WhoAmIResponse>(&body)?.client_info)
    }

    /// A persistent (or persistent-recursive) watch on `path`: it stays until removed with
    /// [`Client::remove_watches`] or the session ends, and is re-set after reconnects.
    pub async fn add_watch(&self, path: &str, mode: AddWatchMode) -> Result<Watcher> {
        let path = self.path(path)?;
        let (tx, rx) = mpsc::unbounded_channel();
        let kind = match mode {
            AddWatchMode::Persistent => WatchKind::Persistent,
            AddWatchMode::PersistentRecursive => WatchKind::PersistentRecursive,
        };
        self.call_with(
            Request::AddWatch(AddWatchRequest {
                path: path.clone(),
                mode: mode.code(),
            }),
            OnReply::Watch(kind, path, tx),
        )
        .await?;
        Ok(rx)
    }

    /// [`Client::remove_watches`] with ZooKeeper's `local` flag (`removeAllWatches(path, type,
    /// true)`, zkCli's `removewatches -l`): when the server cannot be asked (not connected,
    /// or the connection drops) or answers with an error, the watches are removed on the
    /// client anyway, so they are not re-set on reconnect and their streams end.
    ///
    /// `Ok(None)`: the server removed them. `Ok(Some(e))`: removed on the client only, the
    /// server's answer being `e` (`ConnectionLoss` when it was not reached). Fails with
    /// `NoWatcher` when the client held no such watch either.
    pub async fn remove_watches_local(
        &self,
        path: &str,
        kind: WatcherType,
    ) -> Result<Option<Error>> {
        let server_path = self.path(path)?;
        let why = if self.state() == SessionState::Connected {
            match self.remove_watches(path, kind).await {
                Ok(()) => return Ok(None),
                Err(e @ (Error::ConnectionLoss | Error::Server(_) | Error::UnknownCode(_))) => e,
                Err(e) => return Err(e),
            }
        } else {
            // Java's client fails a queued request with ConnectionLoss at the next failed
            // connection attempt; ours would wait for a reconnect, so do not ask at all.
            Error::ConnectionLoss
        };
        let (tx, rx) = oneshot::channel();
        self.inner
            .tx
            .send(Cmd::ForgetWatches(kind, server_path, tx))
            .map_err(|_| self.ended())?;
        match rx.await {
            Ok(true) => Ok(Some(why)),
            Ok(false) => Err(Error::Server(ErrorCode::NoWatcher)),
            Err(_) => Err(self.ended()),
        }
    }

    /// Removes this client's watches of `kind` on `path` (server and client side); their
    /// streams end. `NoWatcher` when the server holds none.
    pub async fn remove_watches(&self, path: &str, kind: WatcherType) -> Result<()> {
        let path = self.path(path)?;
        self.call_with(
            Request::RemoveWatches(RemoveWatchesRequest {
                path: path.clone(),
                watcher_type: kind.code(),
            }),
            OnReply::Remove(kind, path),
        )
        .await?;
        Ok(())
    }
}

#[cfg(test)]
mod send_tests {
    /// `connect` must be usable from `tokio::spawn`: its future is `Send`.
    #[allow(dead_code)]
    fn connect_future_is_send() {
        fn assert_send<T: Send>(_: T) {}
        assert_send(super::Client::builder().connect("127.0.0.1:1"));
    }
}
