//! A replicated `zk-server` ensemble in the test process: N servers on 127.0.0.1, each with its
//! own data directory (real txn log, no fsync), electing a leader over their election ports and
//! replicating over their quorum ports.
//!
//! Two kinds of relay sit in the ensemble's paths so that tests can shape faults without
//! stopping servers:
//! - every server reaches every other server's *quorum* port through a [`Link`] of its own (one
//!   per ordered pair), which can be paused: bytes are held, not dropped, so a follower whose
//!   links are paused falls behind and catches up when they resume;
//! - a client reaches the servers through [`Gates`] of its own (one [`Gate`] per server), so a
//!   test decides where a session starts (`open_only`) and can cut one client off
//!   (`isolate`) without touching the others.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use zk_client::{Client, SessionState};
use zk_server::runtime::{
    AdminSettings, PeerAddr, QuorumSettings, RuntimeConfig, Server, StorageConfig,
};

use super::{free_port, TempDir};

/// Upper bound for a whole ensemble test (elections and restarts take a few seconds each on
/// two shared cores).
pub const ENSEMBLE_TEST_TIMEOUT: Duration = Duration::from_secs(120);
/// Upper bound for an ensemble to (re-)elect a leader and have every live server serving.
pub const STABLE_TIMEOUT: Duration = Duration::from_secs(30);

pub async fn bounded_long<F: std::future::Future>(f: F) -> F::Output {
    tokio::time::timeout(ENSEMBLE_TEST_TIMEOUT, f)
        .await
        .expect("ensemble test did not finish within its time limit")
}

/// How the ensemble is configured.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    pub servers: u64,
    pub tick_ms: u32,
    pub init_limit: u32,
    /// Ticks a follower and its leader tolerate silence from each other.
    pub sync_limit: u32,
    /// `readonlymode.enabled`: a server without a quorum serves read-only clients.
    pub read_only: bool,
    /// `zookeeper.enforceQuota`: hard quota limits refuse writes.
    pub enforce_quota: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            servers: 3,
            tick_ms: 200,
            init_limit: 10,
            sync_limit: 5,
            read_only: false,
            enforce_quota: false,
        }
    }
}

/// A `four-letter word` answer, or `None` if the server does not answer within 3 s.
pub async fn four_letter(addr: SocketAddr, cmd: &str) -> Option<String> {
    tokio::time::timeout(Duration::from_secs(3), async {
        let mut s = TcpStream::connect(addr).await.ok()?;
        s.write_all(cmd.as_bytes()).await.ok()?;
        let mut out = String::new();
        s.read_to_string(&mut out).await.ok()?;
        Some(out)
    })
    .await
    .ok()
    .flatten()
}

/// `Zxid:` from a `srvr` answer.
pub fn srvr_zxid(srvr: &str) -> Option<i64> {
    let hex = srvr.lines().find_map(|l| l.strip_prefix("Zxid: 0x"))?;
    i64::from_str_radix(hex.trim(), 16).ok()
}

/// A free port on 127.0.0.1 *below* the kernel's ephemeral range, for the ensemble's fixed
/// ports (client, quorum, election; a stopped server restarts on the same ones). A port from
/// `bind(0)` (as [`free_port`] gives) is in the ephemeral range, where, before the server
/// binds it, the local end of any outgoing connection in the process (a client, a relay, a
/// quorum link) or another `bind(0)` may take it.
pub fn fixed_port() -> u16 {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let low: u16 = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|r| r.split_whitespace().next()?.parse().ok())
        .unwrap_or(32768);
    if low <= 11_000 {
        return free_port().port();
    }
    // Start somewhere different in each test process; walk from there.
    let span = u64::from(low - 10_000);
    if NEXT.load(Ordering::SeqCst) == 0 {
        let seed = u64::from(std::process::id()).wrapping_mul(7919)
            ^ std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.subsec_nanos().into());
        let _ = NEXT.compare_exchange(0, seed % span + 1, Ordering::SeqCst, Ordering::SeqCst);
    }
    for _ in 0..span {
        let port = 10_000 + (NEXT.fetch_add(1, Ordering::SeqCst) % span) as u16;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    free_port().port()
}

// ---------------------------------------------------------------------------------------------
// Relays

/// Copies `from` to `to`, holding what it read while `paused` is true.
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut paused: watch::Receiver<bool>,
) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if paused.wait_for(|p| !*p).await.is_err() {
            return;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

/// A relay from one server to another's quorum port that can be paused (bytes held, in
/// order, both ways) and resumed.
pub struct Link {
    pub addr: SocketAddr,
    paused: watch::Sender<bool>,
    conns: Arc<Mutex<Vec<JoinHandle<()>>>>,
    acceptor: JoinHandle<()>,
}

impl Link {
    async fn start(target: SocketAddr) -> Link {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (paused, paused_rx) = watch::channel(false);
        let conns = Arc::new(Mutex::new(Vec::new()));
        let c2 = conns.clone();
        let acceptor = tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                let paused = paused_rx.clone();
                let task = tokio::spawn(async move {
                    let Ok(outbound) = TcpStream::connect(target).await else {
                        return;
                    };
                    let _ = inbound.set_nodelay(true);
                    let _ = outbound.set_nodelay(true);
                    let (ir, iw) = inbound.into_split();
                    let (or, ow) = outbound.into_split();
                    // Either direction ending ends both (dropping both sockets).
                    tokio::select! {
                        _ = pump(ir, ow, paused.clone()) => {}
                        _ = pump(or, iw, paused) => {}
                    }
                });
                let mut v = c2.lock().unwrap();
                v.retain(|t: &JoinHandle<()>| !t.is_finished());
                v.push(task);
            }
        });
        Link {
            addr,
            paused,
            conns,
            acceptor,
        }
    }

    pub fn set_paused(&self, paused: bool) {
        self.paused.send_replace(paused);
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        self.acceptor.abort();
        for t in self.conns.lock().unwrap().drain(..) {
            t.abort();
        }
    }
}

/// A relay from one client to one server's client port. While closed, connections are
/// accepted and dropped at once (to the client: a server that hung up before answering);
/// [`Gate::sever`] cuts the relayed connections. Counts the connections it relayed.
pub struct Gate {
    pub addr: SocketAddr,
    open: Arc<AtomicBool>,
    relayed: Arc<AtomicU64>,
    links: Arc<Mutex<Vec<JoinHandle<()>>>>,
    acceptor: JoinHandle<()>,
}

impl Gate {
    async fn start(target: SocketAddr) -> Gate {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let open = Arc::new(AtomicBool::new(true));
        let relayed = Arc::new(AtomicU64::new(0));
        let links = Arc::new(Mutex::new(Vec::new()));
        let (o2, r2, l2) = (open.clone(), relayed.clone(), links.clone());
        let acceptor = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if !o2.load(Ordering::SeqCst) {
                    continue;
                }
                r2.fetch_add(1, Ordering::SeqCst);
                let link = tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(target).await {
                        let _ = outbound.set_nodelay(true);
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                let mut v = l2.lock().unwrap();
                v.retain(|t: &JoinHandle<()>| !t.is_finished());
                v.push(link);
            }
        });
        Gate {
            addr,
            open,
            relayed,
            links,
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

    /// Connections relayed to the server so far.
    pub fn relayed(&self) -> u64 {
        self.relayed.load(Ordering::SeqCst)
    }
}

impl Drop for Gate {
    fn drop(&mut self) {
        self.acceptor.abort();
        self.sever();
    }
}

/// One client's way to every server: a [`Gate`] per server id.
pub struct Gates {
    pub gates: BTreeMap<u64, Gate>,
}

impl Gates {
    /// The connect string naming every gate (the client shuffles it).
    pub fn connect_string(&self) -> String {
        self.gates
            .values()
            .map(|g| g.addr.to_string())
            .collect::<Vec<_>>()
            .join(",")
    }

    pub fn gate(&self, id: u64) -> &Gate {
        &self.gates[&id]
    }

    /// Only server `id` can be reached.
    pub fn open_only(&self, id: u64) {
        for (gid, g) in &self.gates {
            g.set_open(*gid == id);
        }
    }

    pub fn open_all(&self) {
        for g in self.gates.values() {
            g.set_open(true);
        }
    }

    /// No server can be reached and the current connection is cut.
    pub fn isolate(&self) {
        for g in self.gates.values() {
            g.set_open(false);
            g.sever();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The ensemble

pub struct Member {
    pub id: u64,
    /// The server's own client port (four-letter words go here, not through a gate).
    pub client_addr: SocketAddr,
    cfg: RuntimeConfig,
    server: Option<Server>,
    _dir: TempDir,
}

pub struct Ensemble {
    pub members: BTreeMap<u64, Member>,
    /// `(from, to)`: how server `from` reaches server `to`'s quorum port.
    links: BTreeMap<(u64, u64), Link>,
}

/// What a member started from a zoo.cfg listing these servers writes into `/zookeeper/config`.
fn config_node(
    ports: &BTreeMap<u64, (SocketAddr, u16, u16)>,
) -> zk_server::core::config_node::ConfigNode {
    let mut zoo_cfg = String::from("dataDir=/d\nclientPort=2181\ninitLimit=10\nsyncLimit=5\n");
    for (id, (_, quorum, election)) in ports {
        zoo_cfg.push_str(&format!("server.{id}=127.0.0.1:{quorum}:{election}\n"));
    }
    let (cfg, _) = zk_server::config::parse(&zoo_cfg, std::path::Path::new("zoo.cfg"))
        .expect("the ensemble's zoo.cfg");
    zk_server::core::config_node::ConfigNode {
        data: cfg.quorum_config_text().expect("an ensemble").into_bytes(),
        version: cfg.quorum_config_version() as i64,
    }
}

impl Ensemble {
    /// Starts `opts.servers` voters (ids 1..=n) and waits until they have a leader and all
    /// serve; returns the ensemble and the leader's id.
    pub async fn start(opts: Options) -> (Ensemble, u64) {
        let ids: Vec<u64> = (1..=opts.servers).collect();
        let ports: BTreeMap<u64, (SocketAddr, u16, u16)> = ids
            .iter()
            .map(|&id| {
                let client = SocketAddr::from(([127, 0, 0, 1], fixed_port()));
                (id, (client, fixed_port(), fixed_port()))
            })
            .collect();
        let mut links = BTreeMap::new();
        for &from in &ids {
            for &to in &ids {
                if from != to {
                    let target = SocketAddr::from(([127, 0, 0, 1], ports[&to].1));
                    links.insert((from, to), Link::start(target).await);
                }
            }
        }
        let verifier = zab::QuorumVerifier::majority(ids.iter().map(|&i| zab::PeerId(i)));
        let mut members = BTreeMap::new();
        for &id in &ids {
            let servers = ids
                .iter()
                .map(|&other| {
                    let quorum_port = if other == id {
                        ports[&id].1
                    } else {
                        links[&(id, other)].addr.port()
                    };
                    let addr = PeerAddr {
                        host: "127.0.0.1".into(),
                        quorum_port,
                        election_port: ports[&other].2,
                        observer: false,
                    };
                    (other, addr)
                })
                .collect();
            let dir = TempDir::new();
            let client_addr = ports[&id].0;
            let mut cfg = super::config(client_addr);
            cfg.core.server_id = id;
            cfg.core.tick_time_ms = opts.tick_ms;
            cfg.core.min_session_timeout_ms = 2 * opts.tick_ms;
            cfg.core.max_session_timeout_ms = 40_000;
            cfg.core.read_only_mode_enabled = opts.read_only;
            cfg.core.enforce_quota = opts.enforce_quota;
            // An AdminServer on its own port (kept across restarts).
            cfg.admin = Some(AdminSettings {
                addr: free_port(),
                command_url: "/commands".into(),
            });
            // Every client and four-letter word comes from 127.0.0.1.
            cfg.max_client_cnxns = 0;
            cfg.data_dir = dir.0.clone();
            cfg.data_log_dir = dir.0.clone();
            cfg.storage = Some(StorageConfig {
                force_sync: false,
                prealloc_bytes: 64 * 1024,
                ..StorageConfig::new(&dir.0)
            });
            cfg.quorum = Some(QuorumSettings {
                my_id: id,
                servers,
                verifier: verifier.clone(),
                init_limit: opts.init_limit,
                sync_limit: opts.sync_limit,
                history_limit: 10_000,
                tls: None,
            });
            cfg.config_node = Some(config_node(&ports));
            members.insert(
                id,
                Member {
                    id,
                    client_addr,
                    cfg,
                    server: None,
                    _dir: dir,
                },
            );
        }
        let mut e = Ensemble { members, links };
        for id in ids {
            e.restart(id).await;
        }
        let leader = e.wait_stable().await;
        (e, leader)
    }

    pub fn ids(&self) -> Vec<u64> {
        self.members.keys().copied().collect()
    }

    /// The servers that run (not stopped).
    pub fn running(&self) -> Vec<u64> {
        self.members
            .values()
            .filter(|m| m.server.is_some())
            .map(|m| m.id)
            .collect()
    }

    /// Where server `id`'s AdminServer listens.
    pub fn admin_addr(&self, id: u64) -> SocketAddr {
        self.members[&id]
            .cfg
            .admin
            .as_ref()
            .map(|a| a.addr)
            .unwrap()
    }

    pub fn client_addr(&self, id: u64) -> SocketAddr {
        self.members[&id].client_addr
    }

    /// (Re)starts server `id` on its ports and data directory.
    pub async fn restart(&mut self, id: u64) {
        let m = self.members.get_mut(&id).unwrap();
        assert!(m.server.is_none(), "server {id} is running");
        // The ports may still be held briefly by the previous incarnation's sockets.
        let mut last = None;
        for _ in 0..100 {
            match Server::start(m.cfg.clone()).await {
                Ok(s) => {
                    m.server = Some(s);
                    return;
                }
                Err(e) => last = Some(e),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("server {id} did not start: {last:?}");
    }

    /// A clean stop of server `id` (its clients' connections close; its peers see its quorum
    /// and election connections end).
    pub async fn stop(&mut self, id: u64) {
        let s = self.members.get_mut(&id).unwrap().server.take();
        if let Some(s) = s {
            assert!(s.shutdown().await, "server {id} stopped cleanly");
        }
    }

    pub async fn shutdown(mut self) {
        for id in self.ids() {
            self.stop(id).await;
        }
    }

    /// `Mode:` from `srvr` (`leader`, `follower`), or `None` while `id` does not serve.
    pub async fn mode(&self, id: u64) -> Option<String> {
        self.members[&id].server.as_ref()?;
        let text = four_letter(self.client_addr(id), "srvr").await?;
        text.lines()
            .find_map(|l| l.strip_prefix("Mode: "))
            .map(str::to_owned)
    }

    /// The `srvr` answer of a serving server.
    pub async fn srvr(&self, id: u64) -> Option<String> {
        let text = four_letter(self.client_addr(id), "srvr").await?;
        text.contains("Mode: ").then_some(text)
    }

    /// Waits (up to [`STABLE_TIMEOUT`]) until every running server serves and exactly one of
    /// them leads; returns the leader's id.
    pub async fn wait_stable(&self) -> u64 {
        let deadline = tokio::time::Instant::now() + STABLE_TIMEOUT;
        loop {
            let mut modes = Vec::new();
            for id in self.running() {
                modes.push((id, self.mode(id).await));
            }
            let leaders: Vec<u64> = modes
                .iter()
                .filter(|(_, m)| m.as_deref() == Some("leader"))
                .map(|(id, _)| *id)
                .collect();
            if leaders.len() == 1 && modes.iter().all(|(_, m)| m.is_some()) {
                return leaders[0];
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no stable ensemble within {STABLE_TIMEOUT:?}: {modes:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The running server that has a connection attached to `session_id` (from `cons`).
    pub async fn server_of(&self, session_id: i64) -> Option<u64> {
        let needle = format!("sid={session_id:#x},");
        for id in self.running() {
            if let Some(text) = four_letter(self.client_addr(id), "cons").await {
                if text.contains(&needle) {
                    return Some(id);
                }
            }
        }
        None
    }

    /// Pauses (or resumes) every quorum link from and to server `id`.
    pub fn pause_links_of(&self, id: u64, paused: bool) {
        for ((from, to), l) in &self.links {
            if *from == id || *to == id {
                l.set_paused(paused);
            }
        }
    }

    /// A fresh set of gates, one per server, for one client.
    pub async fn gates(&self) -> Gates {
        let mut gates = BTreeMap::new();
        for (id, m) in &self.members {
            gates.insert(*id, Gate::start(m.client_addr).await);
        }
        Gates { gates }
    }

    /// A client whose session starts on server `id` (the other gates are closed while it
    /// connects, then opened: the client knows, and may move to, every server).
    pub async fn client_on(&self, id: u64, session_timeout: Duration) -> (Client, Gates) {
        let gates = self.gates().await;
        gates.open_only(id);
        let c = tokio::time::timeout(
            STABLE_TIMEOUT,
            Client::builder()
                .session_timeout(session_timeout)
                .connect_timeout(STABLE_TIMEOUT)
                .connect(&gates.connect_string()),
        )
        .await
        .expect("connected in time")
        .unwrap_or_else(|e| panic!("client connects to server {id}: {e:?}"));
        gates.open_all();
        assert_eq!(c.state(), SessionState::Connected);
        (c, gates)
    }
}
