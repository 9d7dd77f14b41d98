//! Shared helpers for the end-to-end tests that drive a real `zk-server` with real clients:
//! the `zookeeper-client` crate for the common paths, and [`Raw`], a minimal wire-level client
//! built on `zk_proto`, where a test must see exactly what the server sends (every
//! notification, null data, connect responses) without a client library filtering it.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use sha1::{Digest, Sha1};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use zk_proto::codec::{Decode, Encode, Reader};
use zk_proto::data::{Acl, Stat};
use zk_proto::proto::*;
use zk_proto::request::{encode_request, Request};
use zk_proto::{consts::xid, ErrorCode, EventType, OpCode};
use zk_server::runtime::{RuntimeConfig, Server};
use zookeeper_client as zk;

/// Upper bound for a whole test.
pub const TEST_TIMEOUT: Duration = Duration::from_secs(20);
/// Upper bound for waiting on one event that must happen (expiry, sweeps, notifications).
pub const EVENT_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs a test body with a hard time limit.
pub async fn bounded<F: Future>(f: F) -> F::Output {
    tokio::time::timeout(TEST_TIMEOUT, f)
        .await
        .expect("test did not finish within its time limit")
}

/// Awaits something that must happen soon.
pub async fn soon<F: Future>(what: &str, f: F) -> F::Output {
    match tokio::time::timeout(EVENT_TIMEOUT, f).await {
        Ok(v) => v,
        Err(_) => panic!("timed out waiting for {what}"),
    }
}

/// Wall-clock milliseconds, the clock ZooKeeper stamps ctime/mtime with.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// `user:base64(sha1(user:password))`, computed here independently of the server
/// (ZooKeeper's `DigestAuthenticationProvider.generateDigest`).
pub fn digest(user_password: &str) -> String {
    let user = user_password.split(':').next().unwrap();
    let hash = Sha1::digest(user_password.as_bytes());
    format!(
        "{user}:{}",
        base64::engine::general_purpose::STANDARD.encode(hash)
    )
}

pub const SUPER_AUTH: &str = "super:secret";

/// The configuration most tests use: tickTime 100 ms, session timeouts 200 ms..20 s,
/// extended types on, a 100 ms container/TTL sweep, and `super:secret` as super user.
pub fn config() -> RuntimeConfig {
    let mut cfg = RuntimeConfig::for_tests("127.0.0.1:0".parse().unwrap());
    cfg.core.tick_time_ms = 100;
    cfg.core.min_session_timeout_ms = 200;
    cfg.core.max_session_timeout_ms = 20_000;
    cfg.core.extended_types_enabled = true;
    cfg.core.container_check_interval_ms = 100;
    cfg.core.super_digest = Some(digest(SUPER_AUTH));
    cfg
}

/// A running server with its own scratch data directory.
pub struct TestServer {
    server: Option<Server>,
    pub addr: SocketAddr,
    dir: PathBuf,
}

impl TestServer {
    pub async fn start() -> TestServer {
        Self::start_with(config()).await
    }

    pub async fn start_with(mut cfg: RuntimeConfig) -> TestServer {
        static N: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "zkrs-e2e-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        cfg.data_dir = dir.clone();
        cfg.data_log_dir = dir.clone();
        // The real write path: txn log on a disk thread, answers after the log write. (No
        // fsync: durability has its own tests; these are about protocol behaviour.)
        cfg.storage = Some(zk_server::runtime::StorageConfig {
            force_sync: false,
            prealloc_bytes: 64 * 1024,
            ..zk_server::runtime::StorageConfig::new(&dir)
        });
        let server = Server::start(cfg).await.expect("server starts");
        TestServer {
            addr: server.local_addr,
            server: Some(server),
            dir,
        }
    }

    pub fn connect_string(&self) -> String {
        self.addr.to_string()
    }

    /// A `zookeeper-client` session with a 10 s timeout.
    pub async fn client(&self) -> zk::Client {
        client_at(self.addr).await
    }

    /// A wire-level client with a fresh session.
    pub async fn raw(&self) -> Raw {
        Raw::connect(self.addr).await
    }

    pub async fn stop(mut self) {
        if let Some(s) = self.server.take() {
            s.shutdown().await;
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub async fn client_at(addr: SocketAddr) -> zk::Client {
    zk::Client::connector()
        .with_session_timeout(Duration::from_secs(10))
        .connect(&addr.to_string())
        .await
        .expect("client connects")
}

/// `world:anyone` with all permissions.
pub fn open() -> zk::CreateOptions<'static> {
    zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all())
}

pub fn mode(m: zk::CreateMode) -> zk::CreateOptions<'static> {
    m.with_acls(zk::Acls::anyone_all())
}

pub fn acl(perms: zk::Permission, scheme: &str, id: &str) -> zk::Acl {
    zk::Acl::new(perms, zk::AuthId::new(scheme, id))
}

/// `(scheme, id, perms)` triples, sorted, for order-insensitive ACL comparisons.
pub fn acl_triples(acls: &[zk::Acl]) -> Vec<(String, String, zk::Permission)> {
    let mut v: Vec<_> = acls
        .iter()
        .map(|a| (a.scheme().to_owned(), a.id().to_owned(), a.permission()))
        .collect();
    v.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    v
}

pub fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

/// Asserts the stat of a node created at `zxid` by one txn, with no children.
#[track_caller]
pub fn assert_created_stat(
    stat: &zk::Stat,
    zxid: i64,
    data_len: i32,
    owner: i64,
    before_ms: i64,
    after_ms: i64,
) {
    assert_eq!(stat.czxid, zxid, "czxid of {stat:?}");
    assert_eq!(stat.mzxid, zxid, "mzxid of {stat:?}");
    assert_eq!(stat.pzxid, zxid, "pzxid of {stat:?}");
    assert_eq!(stat.ctime, stat.mtime, "ctime == mtime in {stat:?}");
    assert!(
        before_ms <= stat.ctime && stat.ctime <= after_ms,
        "ctime {} not within [{before_ms}, {after_ms}]",
        stat.ctime
    );
    assert_eq!(stat.version, 0);
    assert_eq!(stat.cversion, 0);
    assert_eq!(stat.aversion, 0);
    assert_eq!(stat.ephemeral_owner, owner);
    assert_eq!(stat.data_length, data_len);
    assert_eq!(stat.num_children, 0);
}

/// Sends a four-letter word and returns the whole answer.
pub async fn four_letter(addr: SocketAddr, cmd: &str) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(cmd.as_bytes()).await.unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    out
}

/// The `Total watches:N` figure of `wchs`.
pub async fn total_watches(addr: SocketAddr) -> usize {
    let out = four_letter(addr, "wchs").await;
    out.lines()
        .find_map(|l| l.strip_prefix("Total watches:"))
        .unwrap_or_else(|| panic!("no watch total in {out:?}"))
        .trim()
        .parse()
        .unwrap()
}

/// A TCP relay between clients and the server. [`Proxy::sever`] cuts every relayed
/// connection (a client sees its connection drop and reconnects through the proxy), and
/// [`Proxy::set_refusing`] makes it drop new connections at once.
pub struct Proxy {
    pub addr: SocketAddr,
    links: Arc<Mutex<Vec<JoinHandle<()>>>>,
    refusing: Arc<AtomicBool>,
    acceptor: JoinHandle<()>,
}

impl Proxy {
    pub async fn start(target: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let links: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let refusing = Arc::new(AtomicBool::new(false));
        let (l2, r2) = (links.clone(), refusing.clone());
        let acceptor = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if r2.load(Ordering::SeqCst) {
                    drop(inbound);
                    continue;
                }
                let link = tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                l2.lock().unwrap().push(link);
            }
        });
        Proxy {
            addr,
            links,
            refusing,
            acceptor,
        }
    }

    /// Closes every relayed connection, on both sides.
    pub fn sever(&self) {
        for l in self.links.lock().unwrap().drain(..) {
            l.abort();
        }
    }

    pub fn set_refusing(&self, on: bool) {
        self.refusing.store(on, Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.acceptor.abort();
        self.sever();
    }
}

/// A notification as it came off the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub kind: EventType,
    pub path: String,
    /// The zxid in the notification's reply header.
    pub zxid: i64,
}

pub fn ev(kind: EventType, path: &str, zxid: i64) -> Event {
    Event {
        kind,
        path: path.to_owned(),
        zxid,
    }
}

/// A minimal ZooKeeper client speaking the wire protocol directly, one request at a time.
/// Notifications that arrive while it waits for a reply are queued in order.
pub struct Raw {
    stream: TcpStream,
    buf: Vec<u8>,
    next_xid: i32,
    pub session_id: i64,
    pub passwd: Vec<u8>,
    pub timeout_ms: i32,
    pub events: VecDeque<Event>,
}

/// A reply: the header's zxid and error code, and the body (empty on errors).
#[derive(Debug)]
pub struct Reply {
    pub zxid: i64,
    pub err: i32,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn ok(&self) -> Result<&[u8], ErrorCode> {
        if self.err == 0 {
            Ok(&self.body)
        } else {
            Err(ErrorCode::from_i32(self.err).unwrap_or_else(|| panic!("error {}", self.err)))
        }
    }
}

impl Raw {
    /// A new session with a 30 s timeout.
    pub async fn connect(addr: SocketAddr) -> Raw {
        match Raw::handshake(addr, 0, &[0; 16], 30_000).await {
            Ok(r) => r,
            Err(resp) => panic!("session refused: {resp:?}"),
        }
    }

    /// Sends a ConnectRequest; `Err` carries the response of a refused session (whose
    /// connection the server then closes).
    pub async fn handshake(
        addr: SocketAddr,
        session_id: i64,
        passwd: &[u8],
        timeout_ms: i32,
    ) -> Result<Raw, ConnectResponse> {
        let stream = TcpStream::connect(addr).await.unwrap();
        let mut raw = Raw {
            stream,
            buf: Vec::new(),
            next_xid: 1,
            session_id: 0,
            passwd: Vec::new(),
            timeout_ms: 0,
            events: VecDeque::new(),
        };
        let req = ConnectRequest {
            protocol_version: 0,
            last_zxid_seen: 0,
            time_out: timeout_ms,
            session_id,
            passwd: passwd.to_vec(),
            read_only: Some(false),
        };
        let mut out = Vec::new();
        zk_proto::frame::put(&mut out, &req.to_bytes());
        raw.stream.write_all(&out).await.unwrap();
        let frame = raw.read_frame().await.expect("a ConnectResponse");
        let resp = ConnectResponse::decode(&mut Reader::new(&frame)).expect("ConnectResponse");
        if resp.session_id == 0 {
            return Err(resp);
        }
        raw.session_id = resp.session_id;
        raw.passwd = resp.passwd.clone();
        raw.timeout_ms = resp.time_out;
        Ok(raw)
    }

    /// The next frame's payload, or `None` once the server closed the connection.
    pub async fn read_frame(&mut self) -> Option<Vec<u8>> {
        loop {
            if self.buf.len() >= 4 {
                let len = i32::from_be_bytes(self.buf[..4].try_into().unwrap()) as usize;
                if self.buf.len() >= 4 + len {
                    let payload = self.buf[4..4 + len].to_vec();
                    self.buf.drain(..4 + len);
                    return Some(payload);
                }
            }
            let mut chunk = [0u8; 8192];
            match self.stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
            }
        }
    }

    /// True once the server has closed the connection (reads to EOF, dropping anything else).
    pub async fn closed_by_server(&mut self) -> bool {
        while let Some(f) = self.read_frame().await {
            let _ = f;
        }
        true
    }

    fn queue_event(&mut self, zxid: i64, body: &[u8]) {
        let e = WatcherEvent::from_bytes(body).expect("WatcherEvent");
        self.events.push_back(Event {
            kind: EventType::from_i32(e.event_type).expect("event type"),
            path: e.path,
            zxid,
        });
    }

    /// Sends one request with the given xid and waits for the reply with that xid.
    pub async fn call_xid(&mut self, xid: i32, req: &Request) -> Reply {
        let mut payload = Vec::new();
        encode_request(xid, req, &mut payload);
        let mut out = Vec::new();
        zk_proto::frame::put(&mut out, &payload);
        self.stream.write_all(&out).await.unwrap();
        loop {
            let frame = self
                .read_frame()
                .await
                .expect("connection closed awaiting reply");
            let mut r = Reader::new(&frame);
            let h = ReplyHeader::decode(&mut r).expect("ReplyHeader");
            let body = r.rest().to_vec();
            if h.xid == xid::NOTIFICATION {
                self.queue_event(h.zxid, &body);
                continue;
            }
            assert_eq!(h.xid, xid, "replies must come in request order");
            return Reply {
                zxid: h.zxid,
                err: h.err,
                body,
            };
        }
    }

    pub async fn call(&mut self, req: &Request) -> Reply {
        let x = self.next_xid;
        self.next_xid += 1;
        self.call_xid(x, req).await
    }

    /// A ping round trip: every notification the server queued before it is now in `events`.
    pub async fn ping(&mut self) {
        let r = self.call_xid(xid::PING, &Request::Ping).await;
        assert_eq!(r.err, 0);
    }

    /// The next notification, reading from the connection if none is queued.
    pub async fn next_event(&mut self) -> Event {
        soon("a notification", async {
            loop {
                if let Some(e) = self.events.pop_front() {
                    return e;
                }
                let frame = self.read_frame().await.expect("connection closed");
                let mut r = Reader::new(&frame);
                let h = ReplyHeader::decode(&mut r).expect("ReplyHeader");
                assert_eq!(h.xid, xid::NOTIFICATION, "unexpected reply {h:?}");
                let body = r.rest().to_vec();
                self.queue_event(h.zxid, &body);
            }
        })
        .await
    }

    /// Pings, then returns and clears every queued notification.
    pub async fn drain_events(&mut self) -> Vec<Event> {
        self.ping().await;
        self.events.drain(..).collect()
    }

    pub async fn auth_digest(&mut self, user_password: &str) {
        let r = self
            .call_xid(
                xid::AUTH,
                &Request::Auth(AuthPacket {
                    auth_type: 0,
                    scheme: "digest".into(),
                    auth: user_password.as_bytes().to_vec(),
                }),
            )
            .await;
        assert_eq!(r.err, 0, "auth failed");
    }

    pub async fn create(
        &mut self,
        path: &str,
        data: Option<&[u8]>,
        acl: Vec<Acl>,
        flags: i32,
    ) -> Result<(String, Stat), ErrorCode> {
        let r = self
            .call(&Request::Create {
                op: OpCode::Create2,
                req: CreateRequest {
                    path: path.into(),
                    data: data.map(<[u8]>::to_vec),
                    acl,
                    flags,
                },
            })
            .await;
        let resp = Create2Response::from_bytes(r.ok()?).expect("Create2Response");
        Ok((resp.path, resp.stat))
    }

    pub async fn get_data(
        &mut self,
        path: &str,
        watch: bool,
    ) -> Result<(Option<Vec<u8>>, Stat), ErrorCode> {
        let r = self
            .call(&Request::GetData(GetDataRequest {
                path: path.into(),
                watch,
            }))
            .await;
        let resp = GetDataResponse::from_bytes(r.ok()?).expect("GetDataResponse");
        Ok((resp.data, resp.stat))
    }

    pub async fn set_data(&mut self, path: &str, data: Option<&[u8]>) -> Result<Stat, ErrorCode> {
        let r = self
            .call(&Request::SetData(SetDataRequest {
                path: path.into(),
                data: data.map(<[u8]>::to_vec),
                version: -1,
            }))
            .await;
        Ok(SetDataResponse::from_bytes(r.ok()?)
            .expect("SetDataResponse")
            .stat)
    }

    pub async fn exists(&mut self, path: &str, watch: bool) -> Result<Stat, ErrorCode> {
        let r = self
            .call(&Request::Exists(ExistsRequest {
                path: path.into(),
                watch,
            }))
            .await;
        Ok(ExistsResponse::from_bytes(r.ok()?)
            .expect("ExistsResponse")
            .stat)
    }

    pub async fn get_children(
        &mut self,
        path: &str,
        watch: bool,
    ) -> Result<Vec<String>, ErrorCode> {
        let r = self
            .call(&Request::GetChildren(GetChildrenRequest {
                path: path.into(),
                watch,
            }))
            .await;
        Ok(GetChildrenResponse::from_bytes(r.ok()?)
            .expect("GetChildrenResponse")
            .children)
    }

    pub async fn add_watch(&mut self, path: &str, mode: zk_proto::AddWatchMode) {
        let r = self
            .call(&Request::AddWatch(AddWatchRequest {
                path: path.into(),
                mode: mode.code(),
            }))
            .await;
        assert_eq!(r.err, 0, "addWatch failed");
    }

    pub async fn remove_watches(
        &mut self,
        path: &str,
        kind: zk_proto::WatcherType,
    ) -> Result<(), ErrorCode> {
        let r = self
            .call(&Request::RemoveWatches(RemoveWatchesRequest {
                path: path.into(),
                watcher_type: kind.code(),
            }))
            .await;
        r.ok().map(|_| ())
    }

    pub async fn close_session(&mut self) -> Reply {
        self.call(&Request::CloseSession).await
    }
}
