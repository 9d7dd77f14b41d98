//! The tokio shell around [`Session`]: one task owns the socket, tries hosts in shuffled order,
//! reconnects with the same session, and carries out the session's outputs. It also keeps the
//! watch registry, so a watch is registered (on its reply) before any later event is
//! dispatched: both happen in this task, in wire order.
//!
//! Streams come from a [`Connector`] (TCP in production; in-memory duplex pipes in the
//! paused-time tests of `shell_tests`), and every timer is the session's `poll_timeout`, read
//! from tokio's clock.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;

use zk_proto::codec::Decode;
use zk_proto::proto::WatcherEvent;
use zk_proto::request::Request;
use zk_proto::{frame, EventType, KeeperState, WatcherType};

use crate::connect_string::{Chroot, HostPort};
use crate::session::{Failure, Output, Session, SessionConfig, SessionState, WatchPaths};

/// Bytes a reply frame may carry beyond its record (`jute.maxbuffer` bounds the record).
const FRAME_SLACK: usize = 1024;

/// A byte stream to a server.
pub(crate) trait Stream: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Stream for T {}
pub(crate) type BoxStream = Box<dyn Stream>;
pub(crate) type ConnectFuture = Pin<Box<dyn Future<Output = std::io::Result<BoxStream>> + Send>>;
/// Opens a stream to a host (the shell bounds each attempt by the session's connect timeout).
pub(crate) type Connector = Arc<dyn Fn(&HostPort) -> ConnectFuture + Send + Sync>;

/// Plain TCP, with Nagle off (requests are small and latency-bound).
pub(crate) fn tcp_connector() -> Connector {
    Arc::new(|host: &HostPort| {
        let addr = host.to_addr_string();
        Box::pin(async move {
            let s = TcpStream::connect(addr).await?;
            let _ = s.set_nodelay(true);
            Ok(Box::new(s) as BoxStream)
        })
    })
}

/// A watch notification, with the path as the caller sees it (chroot stripped).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchedEvent {
    pub event_type: EventType,
    pub state: KeeperState,
    pub path: String,
    /// The zxid in the notification's header (-1 when the server does not send one).
    pub zxid: i64,
}

/// The raw answer to a request: header zxid, error code and body.
pub(crate) type RawReply = Result<(i64, i32, Vec<u8>), Failure>;

/// What to do to the watch registry when a request succeeds.
#[derive(Debug)]
pub(crate) enum OnReply {
    Nothing,
    /// getData / getChildren (on success) and exists (a data watch on success, an exist
    /// watch on NoNode).
    Watch(WatchKind, String, mpsc::UnboundedSender<WatchedEvent>),
    Remove(WatcherType, String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WatchKind {
    Data,
    Exists,
    Child,
    Persistent,
    PersistentRecursive,
}

#[derive(Debug)]
pub(crate) struct Waiter {
    pub tx: oneshot::Sender<RawReply>,
    pub on_reply: OnReply,
}

pub(crate) enum Cmd {
    Request(Request, Waiter),
    Close(oneshot::Sender<()>),
    SubscribeState(mpsc::UnboundedSender<SessionState>),
    /// Drops the client's watches of a kind on a server path without asking the server;
    /// answers whether there were any.
    ForgetWatches(WatcherType, String, oneshot::Sender<bool>),
}

type Senders = Vec<mpsc::UnboundedSender<WatchedEvent>>;

/// Client-side watches by server path.
#[derive(Default)]
struct Registry {
    data: BTreeMap<String, Senders>,
    exist: BTreeMap<String, Senders>,
    child: BTreeMap<String, Senders>,
    persistent: BTreeMap<String, Senders>,
    recursive: BTreeMap<String, Senders>,
}

impl Registry {
    fn map(&mut self, kind: WatchKind) -> &mut BTreeMap<String, Senders> {
        match kind {
            WatchKind::Data => &mut self.data,
            WatchKind::Exists => &mut self.exist,
            WatchKind::Child => &mut self.child,
            WatchKind::Persistent => &mut self.persistent,
            WatchKind::PersistentRecursive => &mut self.recursive,
        }
    }

    fn add(&mut self, kind: WatchKind, path: String, tx: mpsc::UnboundedSender<WatchedEvent>) {
        self.map(kind).entry(path).or_default().push(tx);
    }

    /// Removes the watches of `kind` on `path`; true if there were any.
    fn remove(&mut self, kind: WatcherType, path: &str) -> bool {
        let kinds: &[WatchKind] = match kind {
            WatcherType::Children => &[WatchKind::Child],
            WatcherType::Data => &[WatchKind::Data, WatchKind::Exists],
            WatcherType::Persistent => &[WatchKind::Persistent],
            WatcherType::PersistentRecursive => &[WatchKind::PersistentRecursive],
            WatcherType::Any => &[
                WatchKind::Data,
                WatchKind::Exists,
                WatchKind::Child,
                WatchKind::Persistent,
                WatchKind::PersistentRecursive,
            ],
        };
        let mut any = false;
        for &k in kinds {
            any |= self.map(k).remove(path).is_some();
        }
        any
    }

    /// Drops watchers whose receivers are gone (they need not be re-sent on reconnect).
    fn prune(&mut self) {
        for m in [
            &mut self.data,
            &mut self.exist,
            &mut self.child,
            &mut self.persistent,
            &mut self.recursive,
        ] {
            m.retain(|_, v| {
                v.retain(|tx| !tx.is_closed());
                !v.is_empty()
            });
        }
    }

    fn paths(&mut self) -> WatchPaths {
        self.prune();
        let keys = |m: &BTreeMap<String, Senders>| m.keys().cloned().collect();
        WatchPaths {
            data: keys(&self.data),
            exist: keys(&self.exist),
            child: keys(&self.child),
            persistent: keys(&self.persistent),
            persistent_recursive: keys(&self.recursive),
        }
    }

    /// The watchers an event goes to, as ZooKeeper's `ZKWatchManager.materialize` picks them:
    /// one-shot watches are consumed, persistent ones stay.
    fn targets(&mut self, event: EventType, path: &str) -> Senders {
        let mut out = Vec::new();
        match event {
            EventType::NodeCreated | EventType::NodeDataChanged => {
                out.extend(self.data.remove(path).unwrap_or_default());
                out.extend(self.exist.remove(path).unwrap_or_default());
            }
            EventType::NodeChildrenChanged => {
                out.extend(self.child.remove(path).unwrap_or_default());
            }
            EventType::NodeDeleted => {
                out.extend(self.data.remove(path).unwrap_or_default());
                out.extend(self.exist.remove(path).unwrap_or_default());
                out.extend(self.child.remove(path).unwrap_or_default());
            }
            _ => {}
        }
        if let Some(v) = self.persistent.get(path) {
            out.extend(v.iter().cloned());
        }
        if event != EventType::NodeChildrenChanged {
            let mut p = path;
            loop {
                if let Some(v) = self.recursive.get(p) {
                    out.extend(v.iter().cloned());
                }
                if p == "/" {
                    break;
                }
                p = match p.rfind('/') {
                    Some(0) => "/",
                    Some(i) => &p[..i],
                    None => break,
                };
            }
        }
        out
    }

    fn clear(&mut self) {
        *self = Registry::default();
    }
}

pub(crate) struct Shell {
    pub hosts: Vec<HostPort>,
    connector: Connector,
    pub chroot: Chroot,
    pub session: Session<Waiter>,
    pub rx: mpsc::UnboundedReceiver<Cmd>,
    pub state_tx: watch::Sender<SessionState>,
    session_tx: watch::Sender<(i64, Vec<u8>)>,
    /// The server (`host:port`) the session is connected through while `Connected`, else
    /// `None`. Shell state, not session state: the session machine does not know hosts.
    host_tx: watch::Sender<Option<String>>,
    /// The host of the socket being served.
    current_host: Option<String>,
    registry: Registry,
    state_subs: Vec<mpsc::UnboundedSender<SessionState>>,
    closers: Vec<oneshot::Sender<()>>,
    start: Instant,
    rx_open: bool,
    /// The largest reply frame accepted: the client's `jute.maxbuffer` plus headers.
    max_frame: usize,
    /// While connected read-only: the search for a read/write server, and the one found.
    rw: rw_seek::RwSeeker,
    prefer: Option<HostPort>,
}

impl Shell {
    pub fn new(
        hosts: Vec<HostPort>,
        connector: Connector,
        chroot: Chroot,
        cfg: SessionConfig,
        rx: mpsc::UnboundedReceiver<Cmd>,
        state_tx: watch::Sender<SessionState>,
        session_tx: watch::Sender<(i64, Vec<u8>)>,
    ) -> Shell {
        Shell {
            hosts,
            connector,
            chroot,
            session: Session::new(cfg),
            rx,
            state_tx,
            session_tx,
            host_tx: watch::channel(None).0,
            current_host: None,
            registry: Registry::default(),
            state_subs: Vec::new(),
            closers: Vec::new(),
            start: Instant::now(),
            rx_open: true,
            max_frame: zk_proto::DEFAULT_MAX_BUFFER + FRAME_SLACK,
            rw: rw_seek::RwSeeker::new(),
            prefer: None,
        }
    }

    /// Accepts replies whose record is up to `bytes` long (the client's `jute.maxbuffer`).
    pub fn set_max_buffer(&mut self, bytes: usize) {
        self.max_frame = bytes.saturating_add(FRAME_SLACK);
    }

    /// Follows the server the session is connected to (`host_tx`).
    pub fn connected_host(&self) -> watch::Receiver<Option<String>> {
        self.host_tx.subscribe()
    }

    fn now_ms(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }

    pub async fn run(mut self) {
        shuffle(&mut self.hosts);
        let mut attempt: usize = 0;
        while !self.session.state().is_terminal() {
            let host = match self.prefer.take() {
                Some(h) => h,
                None => {
                    attempt += 1;
                    self.hosts[(attempt - 1) % self.hosts.len()].clone()
                }
            };
            let limit = Duration::from_millis(self.session.connect_timeout_ms());
            let connect = tokio::time::timeout(limit, (self.connector)(&host));
            match self.detached_until(connect).await {
                Some(Ok(Ok(s))) => {
                    tracing::debug!(host = %host.to_addr_string(), "connected");
                    self.current_host = Some(host.to_addr_string());
                    self.serve(s).await;
                    self.current_host = None;
                    self.host_tx.send_replace(None);
                }
                Some(_) => tracing::debug!(host = %host.to_addr_string(), "connect failed"),
                None => break,
            }
            if attempt % self.hosts.len() == 0 && !self.session.state().is_terminal() {
                // A whole round failed (or a session ended on each host): back off briefly.
                let pause = tokio::time::sleep(Duration::from_millis(50));
                self.detached_until(pause).await;
            }
        }
        self.registry.clear();
        for c in self.closers.drain(..) {
            let _ = c.send(());
        }
        // Answer whatever is still queued to us.
        self.rx.close();
        while let Some(cmd) = self.rx.recv().await {
            self.on_cmd(Some(cmd), &mut Vec::new());
        }
    }

    /// Awaits `fut` while no socket is attached, meanwhile taking commands (queued by the
    /// session) and running the session's timers (the expiry of a `Disconnected` session).
    /// `None`: the session ended first.
    async fn detached_until<F: Future>(&mut self, fut: F) -> Option<F::Output> {
        tokio::pin!(fut);
        loop {
            let deadline = self.deadline();
            tokio::select! {
                r = &mut fut => return Some(r),
                cmd = self.rx.recv(), if self.rx_open => { self.on_cmd(cmd, &mut Vec::new()); }
                _ = sleep_until_opt(deadline) => {
                    let outs = self.session.on_timeout(self.now_ms());
                    self.apply(outs, &mut Vec::new());
                }
            }
            if self.session.state().is_terminal() {
                return None;
            }
        }
    }

    fn deadline(&self) -> Option<Instant> {
        self.session
            .poll_timeout()
            .map(|ms| self.start + Duration::from_millis(ms))
    }

    /// Handles one command; outputs that must go out on the wire are appended to `wbuf`.
    fn on_cmd(&mut self, cmd: Option<Cmd>, wbuf: &mut Vec<u8>) -> bool {
        let now = self.now_ms();
        let outs = match cmd {
            Some(Cmd::Request(req, waiter)) => self.session.submit(req, waiter, now),
            Some(Cmd::Close(done)) => {
                self.closers.push(done);
                self.session.close(now)
            }
            Some(Cmd::SubscribeState(tx)) => {
                let _ = tx.send(self.session.state());
                self.state_subs.push(tx);
                Vec::new()
            }
            Some(Cmd::ForgetWatches(kind, path, tx)) => {
                let _ = tx.send(self.registry.remove(kind, &path));
                Vec::new()
            }
            None => {
                // Every Client handle is gone: end the session.
                self.rx_open = false;
                self.session.close(now)
            }
        };
        let close = self.apply(outs, wbuf);
        if self.session.state().is_terminal() {
            for c in self.closers.drain(..) {
                let _ = c.send(());
            }
        }
        close
    }

    /// Carries out outputs; returns true when the connection must be closed.
    fn apply(&mut self, outs: Vec<Output<Waiter>>, wbuf: &mut Vec<u8>) -> bool {
        let mut close = false;
        for o in outs {
            match o {
                Output::Send(b) => wbuf.extend_from_slice(&b),
                Output::Close => close = true,
                Output::State(s) => {
                    tracing::debug!(state = ?s, session_id = self.session.session_id(), "state");
                    if s.is_connected() {
                        let id = (self.session.session_id(), self.session.passwd().to_vec());
                        self.session_tx.send_replace(id);
                        self.host_tx.send_replace(self.current_host.clone());
                    } else {
                        self.host_tx.send_replace(None);
                    }
                    let _ = self.state_tx.send(s);
                    self.state_subs.retain(|tx| tx.send(s).is_ok());
                    if s.is_terminal() {
                        self.registry.clear();
                    }
                }
                Output::Reply {
                    waiter,
                    zxid,
                    err,
                    body,
                } => {
                    match waiter.on_reply {
                        OnReply::Nothing => {}
                        OnReply::Watch(kind, path, tx) => {
                            if err == 0 {
                                self.registry.add(kind, path, tx);
                            } else if kind == WatchKind::Data
                                && err == zk_proto::ErrorCode::NoNode.code()
                            {
                                // exists on a missing node: the server set an exist watch.
                                self.registry.add(WatchKind::Exists, path, tx);
                            }
                        }
                        OnReply::Remove(kind, path) => {
                            if err == 0 {
                                self.registry.remove(kind, &path);
                            }
                        }
                    }
                    let _ = waiter.tx.send(Ok((zxid, err, body)));
                }
                Output::Fail { waiter, failure } => {
                    let _ = waiter.tx.send(Err(failure));
                }
                Output::Event { zxid, body } => self.dispatch(zxid, &body),
            }
        }
        close
    }

    fn dispatch(&mut self, zxid: i64, body: &[u8]) {
        let Ok(e) = WatcherEvent::from_bytes(body) else {
            tracing::warn!("undecodable notification ignored");
            return;
        };
        let Some(event_type) = EventType::from_i32(e.event_type) else {
            tracing::warn!(t = e.event_type, "notification of unknown type ignored");
            return;
        };
        let state = KeeperState::from_i32(e.state).unwrap_or(KeeperState::SyncConnected);
        let event = WatchedEvent {
            event_type,
            state,
            path: self.chroot.strip(&e.path),
            zxid,
        };
        for tx in self.registry.targets(event_type, &e.path) {
            let _ = tx.send(event.clone());
        }
    }

    async fn serve(&mut self, stream: BoxStream) {
        let (mut rd, mut wr) = tokio::io::split(stream);
        let mut rbuf: Vec<u8> = Vec::with_capacity(64 * 1024);
        let mut wbuf = Vec::new();
        let paths = self.registry.paths();
        let outs = self.session.connecting(self.now_ms(), paths);
        let mut close = self.apply(outs, &mut wbuf);
        loop {
            if !wbuf.is_empty() {
                if wr.write_all(&wbuf).await.is_err() {
                    close = true;
                }
                wbuf.clear();
            }
            if close {
                let outs = self.session.disconnected(self.now_ms());
                self.apply(outs, &mut wbuf);
                return;
            }
            let deadline = self.deadline();
            let seeking = self.session.state() == SessionState::ConnectedReadOnly;
            self.rw.set_seeking(seeking);
            tokio::select! {
                // Only a read-only session looks for a read/write server.
                h = self.rw.found(&self.hosts, self.current_host.as_deref(), &self.connector), if seeking => {
                    // Leave the read-only server for it.
                    self.prefer = Some(h);
                    close = true;
                }
                r = rd.read_buf(&mut rbuf) => match r {
                    Ok(0) | Err(_) => close = true,
                    Ok(_) => {
                        let mut at = 0;
                        loop {
                            match frame::check(&rbuf[at..], self.max_frame) {
                                Ok(Some(end)) => {
                                    let now = self.now_ms();
                                    let outs = self.session.on_frame(&rbuf[at + 4..at + end], now);
                                    at += end;
                                    if self.apply(outs, &mut wbuf) {
                                        close = true;
                                        break;
                                    }
                                }
                                Ok(None) => break,
                                Err(e) => {
                                    tracing::warn!(%e, "bad frame from the server");
                                    close = true;
                                    break;
                                }
                            }
                        }
                        rbuf.drain(..at);
                    }
                },
                cmd = self.rx.recv(), if self.rx_open => {
                    close |= self.on_cmd(cmd, &mut wbuf);
                }
                _ = sleep_until_opt(deadline) => {
                    let outs = self.session.on_timeout(self.now_ms());
                    close |= self.apply(outs, &mut wbuf);
                }
            }
        }
    }
}

async fn sleep_until_opt(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// Shuffles the hosts (so clients spread over servers) with a xorshift seeded from the clock.
fn shuffle(hosts: &mut [HostPort]) {
    let mut x = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0x9e37_79b9_7f4a_7c15, |d| d.as_nanos() as u64)
        | 1;
    for i in (1..hosts.len()).rev() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        hosts.swap(i, (x % (i as u64 + 1)) as usize);
    }
}

mod rw_seek;

#[cfg(test)]
mod shell_tests;

#[cfg(test)]
mod tests {
    use super::*;

    fn event_paths(r: &mut Registry, e: EventType, path: &str) -> usize {
        r.targets(e, path).len()
    }

    #[test]
    fn dispatch_follows_zookeeper() {
        let mut r = Registry::default();
        let (tx, _rx) = mpsc::unbounded_channel();
        r.add(WatchKind::Data, "/a".into(), tx.clone());
        r.add(WatchKind::Child, "/a".into(), tx.clone());
        r.add(WatchKind::Persistent, "/a".into(), tx.clone());
        r.add(WatchKind::PersistentRecursive, "/".into(), tx.clone());
        assert_eq!(event_paths(&mut r, EventType::NodeDataChanged, "/a"), 3);
        // The data watch was one-shot.
        assert_eq!(event_paths(&mut r, EventType::NodeDataChanged, "/a"), 2);
        // Children events: child + persistent, never recursive.
        assert_eq!(event_paths(&mut r, EventType::NodeChildrenChanged, "/a"), 2);
        assert_eq!(event_paths(&mut r, EventType::NodeChildrenChanged, "/a"), 1);
        assert_eq!(event_paths(&mut r, EventType::NodeCreated, "/a/b/c"), 1);
        let p = r.paths();
        assert_eq!(p.persistent.len(), 1);
        assert_eq!(p.persistent_recursive.len(), 1);
        assert!(p.data.is_empty() && p.child.is_empty());
    }

    #[test]
    fn shuffle_keeps_every_host() {
        let mut hosts: Vec<HostPort> = (0..5)
            .map(|i| HostPort {
                host: format!("h{i}"),
                port: 1,
            })
            .collect();
        shuffle(&mut hosts);
        let mut names: Vec<_> = hosts.iter().map(|h| h.host.clone()).collect();
        names.sort();
        assert_eq!(names, vec!["h0", "h1", "h2", "h3", "h4"]);
    }
}
