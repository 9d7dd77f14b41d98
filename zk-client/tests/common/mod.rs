//! An in-process `zk-server` for the client's end-to-end tests.
#![allow(dead_code)]

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use zk_client::{Client, WatchedEvent, Watcher};
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

/// An in-memory server on an ephemeral port.
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

/// A port that was free a moment ago.
pub fn free_port() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

pub async fn connect(addr: SocketAddr) -> Client {
    Client::builder()
        .session_timeout(Duration::from_secs(10))
        .connect(&addr.to_string())
        .await
        .expect("client connects")
}

/// A TCP relay to `target`; [`Proxy::sever`] cuts every relayed connection.
pub struct Proxy {
    pub addr: SocketAddr,
    links: std::sync::Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>>,
    acceptor: tokio::task::JoinHandle<()>,
}

impl Proxy {
    pub async fn start(target: SocketAddr) -> Proxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let links = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let l2 = links.clone();
        let acceptor = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
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
            acceptor,
        }
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
