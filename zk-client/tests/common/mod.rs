//! The server for the client's end-to-end tests: an in-process `zk-server`, or, when
//! `ZK_TEST_SERVER=host:port` is set, an external server (e.g. Apache ZooKeeper, started by
//! `scripts/interop.sh`). Against an external server each test works under its own chroot
//! (`/zkrs-<pid>-<nanos>-<n>`, created first and deleted recursively by
//! [`TestServer::shutdown`]), so tests running in parallel do not see each other's nodes.
//!
//! `ZK_TEST_SERVER_VERSION` names the external server's version (e.g. `3.8.0`) for the few
//! assertions that differ between ZooKeeper releases; see [`server_is_3_8_0`].
#![allow(dead_code)]

pub mod ensemble;

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use zk_client::{Acl, Client, CreateMode, WatchedEvent, Watcher};
use zk_server::runtime::{RuntimeConfig, Server, StorageConfig};

pub const TEST_TIMEOUT: Duration = Duration::from_secs(30);
pub const EVENT_TIMEOUT: Duration = Duration::from_secs(10);

pub async fn bounded<F: Future>(f: F) -> F::Output {
    tokio::time::timeout(TEST_TIMEOUT, f)
        .await
        .expect("test did not finish within its time limit")
}

pub async fn soon<F: Future>(what: &str, f: F) -> F::Output {
    match tokio::time::timeout(EVENT_TIMEOUT, f).await {
        Ok(v) => v,
        Err(_) => panic!("timed out waiting for {what}"),
    }
}

pub async fn next_event(w: &mut Watcher) -> WatchedEvent {
    soon("a watch event", w.recv())
        .await
        .expect("watch stream ended")
}

/// tickTime 100 ms, session timeouts 200 ms..20 s, extended types (TTL, containers) on.
pub fn config(addr: SocketAddr) -> RuntimeConfig {
    let mut cfg = RuntimeConfig::for_tests(addr);
    cfg.core.tick_time_ms = 100;
    cfg.core.min_session_timeout_ms = 200;
    cfg.core.max_session_timeout_ms = 20_000;
    cfg.core.extended_types_enabled = true;
    cfg.core.container_check_interval_ms = 100;
    cfg
}

/// The external server the tests run against (`ZK_TEST_SERVER=host:port`), if any.
pub fn external_server() -> Option<String> {
    std::env::var("ZK_TEST_SERVER")
        .ok()
        .filter(|s| !s.trim().is_empty())
}

/// For tests that stop, restart or impersonate the server: true (after saying so on stdout)
/// when the tests run against an external server, in which case the test returns early.
pub fn skip_external() -> bool {
    if external_server().is_some() {
        println!("skipped: needs an in-process server");
        true
    } else {
        false
    }
}

/// True when the external server is Apache ZooKeeper 3.8.0 (`ZK_TEST_SERVER_VERSION=3.8.0`,
/// set by `scripts/interop.sh` for Debian's package), whose behaviour differs from the 3.9
/// line zkrs follows in a few documented places.
pub fn server_is_3_8_0() -> bool {
    external_server().is_some()
        && std::env::var("ZK_TEST_SERVER_VERSION").is_ok_and(|v| v.trim() == "3.8.0")
}

/// The server a test talks to. `local_addr` is a connect string: `127.0.0.1:port` for an
/// in-process server, `host:port/zkrs-...` (a per-test chroot) for an external one.
pub struct TestServer {
    pub local_addr: &'static str,
    inner: Option<Server>,
    /// External only: the server's `host:port` and this test's chroot.
    external: Option<(String, String)>,
}

impl TestServer {
    /// Stops the in-process server, or deletes this test's chroot on the external one
    /// (best-effort: errors are ignored).
    pub async fn shutdown(self) {
        if let Some(s) = self.inner {
            s.shutdown().await;
        }
        if let Some((host, root)) = self.external {
            if let Ok(c) = Client::builder()
                .session_timeout(Duration::from_secs(10))
                .connect(&host)
                .await
            {
                delete_tree(&c, &root).await;
                c.close().await;
            }
        }
    }
}

/// Deletes `path` and everything under it, ignoring errors.
async fn delete_tree(c: &Client, path: &str) {
    let mut order = vec![path.to_string()];
    let mut i = 0;
    while i < order.len() {
        if let Ok(kids) = c.get_children(&order[i]).await {
            let base = order[i].clone();
            order.extend(kids.into_iter().map(|k| format!("{base}/{k}")));
        }
        i += 1;
    }
    for p in order.iter().rev() {
        let _ = c.delete(p, -1).await;
    }
}

/// The test's server: an in-memory in-process server on an ephemeral port, or a fresh chroot
/// on the external server named by `ZK_TEST_SERVER`.
pub async fn test_server() -> TestServer {
    let Some(host) = external_server() else {
        let s = start().await;
        return TestServer {
            local_addr: Box::leak(s.local_addr.to_string().into_boxed_str()),
            inner: Some(s),
            external: None,
        };
    };
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let root = format!(
        "/zkrs-{}-{nanos}-{:04}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    );
    let c = Client::builder()
        .session_timeout(Duration::from_secs(10))
        .connect(&host)
        .await
        .unwrap_or_else(|e| panic!("connecting to ZK_TEST_SERVER={host}: {e:?}"));
    c.create(&root, b"", &Acl::open_unsafe(), CreateMode::Persistent)
        .await
        .unwrap_or_else(|e| panic!("creating the test root {root} on {host}: {e:?}"));
    c.close().await;
    TestServer {
        local_addr: Box::leak(format!("{host}{root}").into_boxed_str()),
        inner: None,
        external: Some((host, root)),
    }
}

/// An in-memory in-process server on an ephemeral port (for tests that need to control it,
/// and for the zkcli golden tests).
pub async fn start() -> Server {
    Server::start(config("127.0.0.1:0".parse().unwrap()))
        .await
        .expect("server starts")
}

/// A scratch directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new() -> TempDir {
        static N: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "zk-client-test-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A server keeping its data in `dir` (no fsync), on `addr`.
pub async fn start_durable(addr: SocketAddr, dir: &Path) -> Server {
    let mut cfg = config(addr);
    cfg.data_dir = dir.to_path_buf();
    cfg.data_log_dir = dir.to_path_buf();
    cfg.storage = Some(StorageConfig {
        force_sync: false,
        prealloc_bytes: 64 * 1024,
        ..StorageConfig::new(dir)
    });
    // The port may still be held briefly by the previous server's socket.
    for _ in 0..50 {
        if let Ok(s) = Server::start(cfg.clone()).await {
            return s;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("server on {addr} did not start");
}

/// An in-memory server on `addr` (which a previous server may just have left).
pub async fn start_at(addr: SocketAddr) -> Server {
    for _ in 0..50 {
        if let Ok(s) = Server::start(config(addr)).await {
            return s;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("server on {addr} did not start");
}

/// Ends a session behind its client's back: attaches to it with its id and password on a
/// connection of our own (as a client moving between servers would) and sends closeSession.
pub async fn close_session_elsewhere(server: SocketAddr, session_id: i64, passwd: &[u8]) {
    use tokio::io::AsyncWriteExt;
    use zk_proto::codec::{Decode, Encode};
    use zk_proto::proto::{ConnectRequest, ConnectResponse, ReplyHeader};
    use zk_proto::request::{encode_request, Request};
    let mut s = tokio::net::TcpStream::connect(server).await.unwrap();
    let req = ConnectRequest {
        protocol_version: 0,
        last_zxid_seen: 0,
        time_out: 10_000,
        session_id,
        passwd: passwd.to_vec(),
        read_only: Some(false),
    };
    let mut out = Vec::new();
    zk_proto::frame::put(&mut out, &req.to_bytes());
    s.write_all(&out).await.unwrap();
    let resp = ConnectResponse::from_bytes(&read_frame(&mut s).await.unwrap()).unwrap();
    assert_eq!(resp.session_id, session_id, "attached to the session");
    let mut payload = Vec::new();
    encode_request(1, &Request::CloseSession, &mut payload);
    let mut out = Vec::new();
    zk_proto::frame::put(&mut out, &payload);
    s.write_all(&out).await.unwrap();
    let reply = ReplyHeader::from_bytes(&read_frame(&mut s).await.unwrap()[..16]).unwrap();
    assert_eq!((reply.xid, reply.err), (1, 0), "closeSession answered");
}

#[path = "../../../testkit/src/ports.rs"]
mod ports;

/// An address on 127.0.0.1 for a server under test (see `testkit/src/ports.rs`).
pub fn free_port() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], ports::free_port()))
}

/// A client of `addr`: a socket address or a connect string (host:port[/chroot]).
pub async fn connect(addr: impl std::fmt::Display) -> Client {
    Client::builder()
        .session_timeout(Duration::from_secs(10))
        .connect(&addr.to_string())
        .await
        .expect("client connects")
}

/// A TCP relay to `target`; [`Proxy::sever`] cuts every relayed connection, and while
/// [`Proxy::set_open`] is false new connections are accepted and dropped at once.
pub struct Proxy {
    pub addr: SocketAddr,
    links: std::sync::Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>>,
    open: std::sync::Arc<std::sync::atomic::AtomicBool>,
    acceptor: tokio::task::JoinHandle<()>,
}

impl Proxy {
    pub async fn start(target: SocketAddr) -> Proxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let links = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let l2 = links.clone();
        let open = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
        let open2 = open.clone();
        let acceptor = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if !open2.load(Ordering::SeqCst) {
                    continue;
                }
                let link = tokio::spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                l2.lock().unwrap().push(link);
            }
        });
        Proxy {
            addr,
            links,
            open,
            acceptor,
        }
    }

    pub fn set_open(&self, open: bool) {
        self.open.store(open, Ordering::SeqCst);
    }

    pub fn sever(&self) {
        for l in self.links.lock().unwrap().drain(..) {
            l.abort();
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.acceptor.abort();
        self.sever();
    }
}

/// A listener that accepts connections and never answers (a hung server).
pub async fn black_hole() -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = listener.accept().await {
            held.push(s);
        }
    });
    (addr, task)
}

/// Where a [`CutProxy`] cuts the connection around a create.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cut {
    /// The create never reaches the server.
    Request,
    /// The server applies the create; its reply is lost with the connection.
    Reply,
}

#[derive(Default)]
struct CutState {
    armed: Option<(Cut, String)>,
    cuts: u32,
}

/// A frame-aware TCP relay to `target` that, once armed, drops the connection around the next
/// create (opcode create or create2) whose path contains a given string: before forwarding it
/// ([`Cut::Request`]) or in place of forwarding its reply ([`Cut::Reply`]). It disarms after
/// one cut; [`CutProxy::cuts`] says how many happened.
pub struct CutProxy {
    pub addr: SocketAddr,
    state: std::sync::Arc<std::sync::Mutex<CutState>>,
    acceptor: tokio::task::JoinHandle<()>,
}

async fn read_frame<R: tokio::io::AsyncRead + Unpin>(r: &mut R) -> Option<Vec<u8>> {
    use tokio::io::AsyncReadExt;
    let mut len = [0u8; 4];
    r.read_exact(&mut len).await.ok()?;
    let mut body = vec![0; u32::from_be_bytes(len) as usize];
    r.read_exact(&mut body).await.ok()?;
    Some(body)
}

async fn write_frame<W: tokio::io::AsyncWrite + Unpin>(w: &mut W, body: &[u8]) -> Option<()> {
    use tokio::io::AsyncWriteExt;
    w.write_all(&(body.len() as u32).to_be_bytes()).await.ok()?;
    w.write_all(body).await.ok()
}

fn be_i32(b: &[u8], at: usize) -> Option<i32> {
    Some(i32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

impl CutProxy {
    pub async fn start(target: SocketAddr) -> CutProxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = std::sync::Arc::new(std::sync::Mutex::new(CutState::default()));
        let st = state.clone();
        let acceptor = tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                let st = st.clone();
                tokio::spawn(async move {
                    let Ok(outbound) = tokio::net::TcpStream::connect(target).await else {
                        return;
                    };
                    relay_with_cut(inbound, outbound, st).await;
                });
            }
        });
        CutProxy {
            addr,
            state,
            acceptor,
        }
    }

    pub fn arm(&self, cut: Cut, path_contains: &str) {
        self.state.lock().unwrap().armed = Some((cut, path_contains.to_string()));
    }

    pub fn cuts(&self) -> u32 {
        self.state.lock().unwrap().cuts
    }
}

impl Drop for CutProxy {
    fn drop(&mut self) {
        self.acceptor.abort();
    }
}

/// Relays frames both ways until either side closes or the armed cut happens; returning drops
/// both sockets.
async fn relay_with_cut(
    inbound: tokio::net::TcpStream,
    outbound: tokio::net::TcpStream,
    state: std::sync::Arc<std::sync::Mutex<CutState>>,
) {
    let (mut cr, mut cw) = inbound.into_split();
    let (mut sr, mut sw) = outbound.into_split();
    // The xid of the create whose reply must be lost (this connection only).
    let doomed: std::sync::Mutex<Option<i32>> = std::sync::Mutex::new(None);
    let to_server = async {
        // The first frame is the ConnectRequest (no request header).
        let first = read_frame(&mut cr).await?;
        write_frame(&mut sw, &first).await?;
        loop {
            let f = read_frame(&mut cr).await?;
            let (xid, op) = (be_i32(&f, 0)?, be_i32(&f, 4)?);
            if op == 1 || op == 15 {
                let len = be_i32(&f, 8)?.max(0) as usize;
                let path = String::from_utf8_lossy(f.get(12..12 + len)?).to_string();
                let mut st = state.lock().unwrap();
                if let Some((cut, _)) = st.armed.clone().filter(|(_, s)| path.contains(s)) {
                    st.armed = None;
                    match cut {
                        Cut::Request => {
                            st.cuts += 1;
                            return None::<()>;
                        }
                        Cut::Reply => *doomed.lock().unwrap() = Some(xid),
                    }
                }
            }
            write_frame(&mut sw, &f).await?;
        }
    };
    let to_client = async {
        let first = read_frame(&mut sr).await?;
        write_frame(&mut cw, &first).await?;
        loop {
            let f = read_frame(&mut sr).await?;
            let xid = be_i32(&f, 0)?;
            if *doomed.lock().unwrap() == Some(xid) {
                state.lock().unwrap().cuts += 1;
                return None::<()>;
            }
            write_frame(&mut cw, &f).await?;
        }
    };
    tokio::select! {
        _ = to_server => {}
        _ = to_client => {}
    }
}

/// Runs zkcli with `stdin`, stderr merged into stdout (as `2>&1` does).
pub fn run_zkcli(addr: SocketAddr, args: &[&str], stdin: &str) -> std::process::Output {
    use std::io::Write;
    let mut child = std::process::Command::new("sh")
        .arg("-c")
        .arg("exec \"$0\" \"$@\" 2>&1")
        .arg(env!("CARGO_BIN_EXE_zkcli"))
        .arg("-server")
        .arg(addr.to_string())
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("zkcli starts");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().expect("zkcli runs")
}
