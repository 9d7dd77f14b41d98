//! The tokio shell around the pure core.
//!
//! - One *core task* owns [`Core`]: it receives frames, opens/closes and four-letter-word
//!   queries over a channel, calls the core, and carries out the [`Effect`]s it returns.
//! - Each client connection has a reader (frames in, four-letter words detected before the
//!   handshake, `jute.maxbuffer` enforced) and a writer (batches queued frames into one write).
//! - The listener enforces `maxClientCnxns` per client IP. Client and quorum TLS (handshakes
//!   on each connection's own task, the `x509` identity of a client certificate) are in
//!   [`tls`].
//! - The AdminServer and the Prometheus `/metrics` endpoint (`http`) are tasks on the same
//!   runtime; they ask the core task (`ToCore::Admin`, `ToCore::Scrape`), which answers from
//!   one source of monitoring values (`metrics`), as the four-letter words do.
//!
//! - A *disk thread* appends txns and group-commits them (one fdatasync per batch); only then
//!   does the core task apply them and answer (persist before acknowledging).
//! - Snapshots are written from an O(1) frozen view on a blocking thread while writes go on.
//! - All of this runs on one thread (a current-thread runtime; the disk thread and snapshot
//!   writers are apart). The core task's few blocking steps (epoch files written with fsync,
//!   TRUNC, installing a SNAP image) happen while Zab syncs, when the server serves no client.
//! - `readonly`: when a member without a quorum starts serving read-only clients.

mod admin;
pub mod conn;
mod disk;
pub mod four_letter;
mod http;
pub mod metrics;
mod quorum;
mod readonly;
mod replicated;
pub mod tls;

pub use quorum::{PeerAddr, QuorumSettings};

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use self::disk::{Disk, DiskCmd};
use self::four_letter::FourLetterContext;
use crate::core::txn::Txn;
use crate::core::{ConnId, Core, CoreConfig, Effect, Now};
use crate::storage::{self, snapshot, txnlog};

/// What the runtime needs to serve; built from zoo.cfg by the binary, or directly by tests.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    pub client_addr: SocketAddr,
    pub core: CoreConfig,
    /// Connections allowed per client IP; 0 means unlimited.
    pub max_client_cnxns: u32,
    /// `None`: every four-letter word is allowed (`*`); otherwise the allowed ones.
    pub four_letter_whitelist: Option<Vec<String>>,
    pub data_dir: PathBuf,
    pub data_log_dir: PathBuf,
    /// Where and how txns and snapshots are kept; `None` keeps everything in memory.
    pub storage: Option<StorageConfig>,
    /// The ensemble (`server.N` lines and `myid`); `None` runs standalone.
    pub quorum: Option<QuorumSettings>,
    /// Client and quorum TLS; the default is none.
    pub tls: tls::TlsSettings,
    /// The AdminServer (`admin.*`); `None` when disabled.
    pub admin: Option<AdminSettings>,
    /// Where to serve Prometheus `/metrics` (`metricsProvider.*` with the Prometheus
    /// provider); `None` for none.
    pub metrics_addr: Option<SocketAddr>,
    /// The configuration file's text (the admin `initial_configuration` command).
    pub initial_config: Option<String>,
    /// System properties the configuration set (the admin `system_properties` command).
    pub system_properties: std::collections::BTreeMap<String, String>,
    /// What an ensemble member writes into `/zookeeper/config` (`None`: it stays empty).
    pub config_node: Option<crate::core::config_node::ConfigNode>,
}

/// `admin.serverAddress`:`admin.serverPort` and `admin.commandURL`.
#[derive(Debug, Clone)]
pub struct AdminSettings {
    pub addr: SocketAddr,
    pub command_url: String,
}

impl RuntimeConfig {
    /// A standalone server on `addr` with ZooKeeper's defaults and every four-letter word on.
    pub fn for_tests(addr: SocketAddr) -> Self {
        RuntimeConfig {
            client_addr: addr,
            core: CoreConfig::default(),
            max_client_cnxns: 60,
            four_letter_whitelist: None,
            data_dir: PathBuf::from("."),
            data_log_dir: PathBuf::from("."),
            storage: None,
            quorum: None,
            tls: tls::TlsSettings::default(),
            admin: None,
            metrics_addr: None,
            initial_config: None,
            system_properties: Default::default(),
            config_node: None,
        }
    }

    pub fn four_letter_allowed(&self, cmd: &str) -> bool {
        match &self.four_letter_whitelist {
            None => true,
            Some(list) => list.iter().any(|c| c == cmd),
        }
    }
}

/// Messages into the core task.
pub(crate) enum ToCore {
    Opened {
        conn: ConnId,
        peer: SocketAddr,
        out: mpsc::UnboundedSender<Outgoing>,
        /// Identities the transport proved (a TLS client certificate's `x509` id).
        identities: Vec<zk_proto::data::Id>,
    },
    Frame {
        conn: ConnId,
        payload: Vec<u8>,
    },
    Closed {
        conn: ConnId,
    },
    /// Txns the disk thread made durable, in zxid order: apply and answer them.
    /// (`txns` holds the standalone server's txns; Zab's proposals are reported by `last`.)
    Durable {
        txns: Vec<Txn>,
        last: i64,
        /// How long the batch's fsync took (`fsynctime`); `None` without `forceSync`.
        fsync_ms: Option<u64>,
        /// Txns in the group commit (`sync_processor_batch_size`).
        batch: u64,
    },
    /// The listener refused a connection (`maxClientCnxns`).
    ConnectionRejected,
    /// A client connection's transport: TLS handshakes, plaintext connections.
    Transport(tls::TransportEvent),
    /// The txn log could not be written or synced: fatal.
    DiskFailed(String),
    /// News from the election or quorum port.
    Peer(quorum::PeerEvent),
    /// A background snapshot ended, after `ms` (`snapshottime`).
    SnapshotDone {
        result: Result<PathBuf, String>,
        ms: u64,
    },
    /// A four-letter word; `allowed` by the whitelist or not. The core task counts it, answers,
    /// and forgets the connection before the reader writes the text and closes.
    FourLetter {
        conn: ConnId,
        cmd: &'static str,
        allowed: bool,
        reply: oneshot::Sender<String>,
    },
    /// An AdminServer command.
    Admin {
        cmd: String,
        reply: oneshot::Sender<serde_json::Value>,
    },
    /// A Prometheus scrape.
    Scrape {
        reply: oneshot::Sender<Vec<metrics::Metric>>,
    },
}

/// Messages to a connection's writer.
#[derive(Debug)]
pub(crate) enum Outgoing {
    Frame(Vec<u8>),
    Close,
}

/// Messages the core task handles per clock reading and before it lets other tasks run.
const BATCH: usize = 64;

/// A monotonic and a wall clock, read only here and handed to the core as [`Now`].
#[derive(Clone, Copy)]
pub(crate) struct Clock {
    start: Instant,
}

impl Clock {
    fn new() -> Self {
        Clock {
            start: Instant::now(),
        }
    }

    pub(crate) fn now(&self) -> Now {
        let wall_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        Now {
            wall_ms,
            mono_ms: self.start.elapsed().as_millis() as u64,
        }
    }
}

/// Per-IP connection counts for `maxClientCnxns`.
#[derive(Default)]
pub(crate) struct IpCounts(Mutex<HashMap<IpAddr, u32>>);

impl IpCounts {
    fn try_add(&self, ip: IpAddr, max: u32) -> bool {
        let mut m = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let n = m.entry(ip).or_insert(0);
        if max > 0 && *n >= max {
            return false;
        }
        *n += 1;
        true
    }

    pub(crate) fn remove(&self, ip: IpAddr) {
        let mut m = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = m.get_mut(&ip) {
            *n -= 1;
            if *n == 0 {
                m.remove(&ip);
            }
        }
    }
}

/// A running server.
pub struct Server {
    pub local_addr: SocketAddr,
    /// The extra TLS-only client listener's address (`secureClientPort`), if any.
    pub secure_addr: Option<SocketAddr>,
    /// Where the AdminServer and `/metrics` listen, when they do.
    pub admin_addr: Option<SocketAddr>,
    pub metrics_addr: Option<SocketAddr>,
    shutdown: watch::Sender<bool>,
    failed: watch::Receiver<Option<String>>,
    tasks: Vec<JoinHandle<()>>,
}

impl Server {
    /// Recovers the data directory (if storage is configured), binds the client port and starts
    /// serving.
    pub async fn start(cfg: RuntimeConfig) -> std::io::Result<Server> {
        let clock = Clock::new();
        let mut core = Core::new(cfg.core.clone(), clock.now());
        let (to_core, core_rx) = mpsc::unbounded_channel();
        let replicated = cfg.quorum.is_some();
        let mut recovered = None;
        let mut startup_metrics = metrics::Metrics::default();
        let disk = match &cfg.storage {
            Some(st) => {
                let (d, rec) = open_storage(
                    st,
                    &mut core,
                    &clock,
                    to_core.clone(),
                    !replicated,
                    &mut startup_metrics,
                )?;
                recovered = Some(rec);
                Some(d)
            }
            None => None,
        };
        let listener = TcpListener::bind(cfg.client_addr).await?;
        let local_addr = listener.local_addr()?;
        let secure_listener = match cfg.tls.secure_client_addr {
            Some(a) => Some(TcpListener::bind(a).await?),
            None => None,
        };
        let secure_addr = secure_listener
            .as_ref()
            .map(|l| l.local_addr())
            .transpose()?;
        let (shutdown, shutdown_rx) = watch::channel(false);
        let (failed_tx, failed) = watch::channel(None);
        let cfg = Arc::new(cfg);
        let mut ctx = FourLetterContext::with_config(cfg.clone(), local_addr);
        ctx.metrics = startup_metrics;
        let snap = SnapState::new(cfg.storage.as_ref().map_or(0, |s| s.snap_count));
        let repl = match &cfg.quorum {
            None => None,
            Some(q) => {
                let mut q = q.clone();
                if q.tls.is_none() {
                    q.tls = cfg.tls.quorum.clone();
                }
                let q = Arc::new(q);
                let (snap_zxid, log_dir) = match (&recovered, &cfg.storage) {
                    (Some(rec), Some(st)) => (
                        rec.snapshot.as_ref().map_or(0, |(z, _)| *z),
                        st.log_dir.clone(),
                    ),
                    _ => (0, cfg.data_log_dir.join("version-2")),
                };
                std::fs::create_dir_all(&cfg.data_dir)?;
                let persisted = if cfg.storage.is_some() {
                    replicated::persisted(
                        &cfg.data_dir,
                        &log_dir,
                        snap_zxid,
                        core.last_zxid(),
                        10_000,
                    )?
                } else {
                    zab::Persisted::default()
                };
                let election =
                    quorum::start_election(q.clone(), to_core.clone(), shutdown_rx.clone()).await?;
                quorum::start_quorum_listener(q.clone(), to_core.clone(), shutdown_rx.clone())
                    .await?;
                let zcfg = q.zab_config(cfg.core.tick_time_ms);
                let fx = core.set_role(crate::core::ServerRole::Learner, false, clock.now());
                debug_assert!(fx.is_empty());
                ctx.mode = "follower";
                ctx.serving = false;
                ctx.metrics.looking_count += 1;
                ctx.metrics.looking_since_ms = Some(clock.now().mono_ms);
                ctx.metrics.unavailable_since_ms = Some(clock.now().mono_ms);
                Some(replicated::Replication {
                    peer: zab::Peer::new(zcfg, persisted, clock.now().mono_ms),
                    q,
                    election,
                    conns: HashMap::new(),
                    proposed: HashMap::new(),
                    data_dir: cfg.data_dir.clone(),
                    role: zab::Role::Looking,
                    ro: readonly::ReadOnlyTimer::new(
                        cfg.core.read_only_mode_enabled,
                        cfg.core.tick_time_ms,
                        clock.now().mono_ms,
                    ),
                    to_core: to_core.clone(),
                    shutdown: shutdown_rx.clone(),
                    config_node: cfg.config_node.clone(),
                })
            }
        };
        let mut task = CoreTask {
            core,
            writers: HashMap::new(),
            now: clock.now(),
            clock,
            ctx,
            disk,
            storage: cfg.storage.clone(),
            snap,
            to_core: to_core.clone(),
            failed: failed_tx,
            repl,
        };
        task.init_config_node();
        task.drain_zab().map_err(std::io::Error::other)?;
        // The HTTP servers first: a /metrics port that cannot be bound fails the start before
        // the core task runs (messages wait in the channel until it does).
        let mut http_tasks = Vec::new();
        let mut admin_addr = None;
        if let Some(a) = &cfg.admin {
            // As ZooKeeper, a server whose AdminServer cannot start serves on without it.
            match http::start_admin(a.addr, &a.command_url, to_core.clone(), shutdown_rx.clone())
                .await
            {
                Ok((addr, t)) => {
                    admin_addr = Some(addr);
                    http_tasks.push(t);
                }
                Err(e) => {
                    tracing::warn!(addr = %a.addr, error = %e, "problem starting AdminServer")
                }
            }
        }
        let mut metrics_addr = None;
        if let Some(addr) = cfg.metrics_addr {
            // As ZooKeeper, a metrics provider that cannot start stops the server.
            let (addr, t) = http::start_metrics(addr, to_core.clone(), shutdown_rx.clone())
                .await
                .map_err(|e| {
                    std::io::Error::new(e.kind(), format!("cannot start /metrics on {addr}: {e}"))
                })?;
            metrics_addr = Some(addr);
            http_tasks.push(t);
        }
        let mut tasks = vec![tokio::spawn(task.run(core_rx, shutdown_rx.clone()))];
        tasks.extend(http_tasks);
        if let Some(st) = cfg.storage.clone().filter(|s| s.purge_interval_hours > 0) {
            tasks.push(tokio::spawn(purge_loop(st, shutdown_rx.clone())));
        }
        let counts = Arc::new(IpCounts::default());
        if let (Some(l), Some(t)) = (secure_listener, cfg.tls.client.clone()) {
            tracing::info!(secure_addr = %l.local_addr()?, "serving TLS clients");
            tasks.push(tokio::spawn(accept_loop(
                l,
                tls::Listener::Tls(t),
                counts.clone(),
                cfg.clone(),
                to_core.clone(),
                shutdown_rx.clone(),
            )));
        }
        tasks.push(tokio::spawn(accept_loop(
            listener,
            cfg.tls.main_listener(),
            counts,
            cfg,
            to_core,
            shutdown_rx,
        )));
        tracing::info!(%local_addr, "serving clients");
        Ok(Server {
            local_addr,
            secure_addr,
            admin_addr,
            metrics_addr,
            shutdown,
            failed,
            tasks,
        })
    }

    /// Resolves with the reason once the server has stopped on a fatal error (a failed txn
    /// log write or fsync). Never resolves while it is healthy.
    pub async fn failure(&mut self) -> String {
        loop {
            if let Some(reason) = self.failed.borrow().clone() {
                return reason;
            }
            if self.failed.changed().await.is_err() {
                return "the server stopped".to_owned();
            }
        }
    }

    /// Stops accepting, closes every connection, makes queued txns durable and waits for the
    /// tasks to end. Returns false if any of them panicked (a bug, logged).
    pub async fn shutdown(self) -> bool {
        let _ = self.shutdown.send(true);
        let mut clean = true;
        for t in self.tasks {
            if let Err(e) = t.await {
                tracing::error!(error = %e, "a server task failed during shutdown");
                clean = false;
            }
        }
        clean
    }
}

/// Storage settings (absent: an in-memory server, used by protocol tests).
#[derive(Debug, Clone)]
pub struct StorageConfig {
    /// `dataDir/version-2`: snapshots.
    pub snap_dir: PathBuf,
    /// `dataLogDir/version-2`: txn logs.
    pub log_dir: PathBuf,
    pub prealloc_bytes: u64,
    pub force_sync: bool,
    /// Snapshot after about this many txns (ZooKeeper's `snapCount`, randomised).
    pub snap_count: u32,
    pub digest_enabled: bool,
    pub snap_retain_count: u32,
    pub purge_interval_hours: u32,
}

impl StorageConfig {
    /// ZooKeeper's defaults for a data directory (`dataLogDir` = `dataDir`).
    pub fn new(data_dir: &std::path::Path) -> Self {
        let v2 = data_dir.join("version-2");
        StorageConfig {
            snap_dir: v2.clone(),
            log_dir: v2,
            prealloc_bytes: 64 * 1024 * 1024,
            force_sync: true,
            snap_count: 100_000,
            digest_enabled: true,
            snap_retain_count: 3,
            purge_interval_hours: 0,
        }
    }
}

/// Recovery, the start-up snapshot ZooKeeper always takes, and the log writer's thread.
fn open_storage(
    st: &StorageConfig,
    core: &mut Core,
    clock: &Clock,
    to_core: mpsc::UnboundedSender<ToCore>,
    startup_snapshot: bool,
    m: &mut metrics::Metrics,
) -> std::io::Result<(Disk, storage::recovery::Recovered)> {
    std::fs::create_dir_all(&st.snap_dir)?;
    std::fs::create_dir_all(&st.log_dir)?;
    let started = Instant::now();
    let rec = storage::recovery::recover(core, &st.snap_dir, &st.log_dir, clock.now())
        .map_err(std::io::Error::other)?;
    m.dbinittime.record(started.elapsed().as_millis() as i64);
    metrics::record_recovery(m, &rec);
    // (An ensemble member's log may end in txns that never committed: no snapshot of those.)
    if startup_snapshot && rec.snapshot.as_ref().map(|(z, _)| *z) != Some(core.last_zxid()) {
        let opts = snapshot::SnapshotWriteOptions {
            digest_enabled: st.digest_enabled,
        };
        let view = core.tree.view();
        let started = Instant::now();
        snapshot::save(
            &st.snap_dir,
            &view,
            &core.sessions_for_snapshot(),
            core.last_zxid(),
            &opts,
        )?;
        m.snapshottime.record(started.elapsed().as_millis() as i64);
    }
    let opts = txnlog::LogOptions {
        prealloc_bytes: st.prealloc_bytes,
        force_sync: st.force_sync,
        dbid: 0,
    };
    let log = txnlog::TxnLog::open(&st.log_dir, opts).map_err(std::io::Error::other)?;
    Ok((Disk::spawn(log, to_core)?, rec))
}

async fn purge_loop(st: StorageConfig, mut shutdown: watch::Receiver<bool>) {
    let every = Duration::from_secs(u64::from(st.purge_interval_hours) * 3600);
    // As ZooKeeper's DatadirCleanupManager: once at start, then every interval.
    let mut first = true;
    loop {
        if !first {
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = shutdown.changed() => return,
            }
        }
        first = false;
        let (snap, log, retain) = (
            st.snap_dir.clone(),
            st.log_dir.clone(),
            st.snap_retain_count as usize,
        );
        match tokio::task::spawn_blocking(move || storage::purge::purge(&snap, &log, retain)).await
        {
            Ok(Ok(p)) => tracing::info!(
                snapshots = p.snapshots.len(),
                logs = p.logs.len(),
                "autopurge done"
            ),
            Ok(Err(e)) => tracing::warn!(error = %e, "autopurge failed"),
            Err(e) => tracing::warn!(error = %e, "autopurge task failed"),
        }
    }
}

/// When to snapshot: after a random count between snapCount/2 and snapCount txns, as
/// ZooKeeper's SyncRequestProcessor does, so an ensemble's servers do not snapshot together.
struct SnapState {
    snap_count: u32,
    since: u64,
    roll_at: u64,
    in_flight: bool,
    rng: u64,
}

impl SnapState {
    fn new(snap_count: u32) -> Self {
        let seed = Clock::new().now().wall_ms as u64 | 1;
        let mut s = SnapState {
            snap_count,
            since: 0,
            roll_at: 0,
            in_flight: false,
            rng: seed,
        };
        s.reset();
        s
    }

    fn reset(&mut self) {
        // xorshift64: spreading snapshot points needs no quality randomness.
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        let half = u64::from(self.snap_count / 2).max(1);
        self.roll_at = half + self.rng % half;
        self.since = 0;
    }
}

/// The task that owns the core.
struct CoreTask {
    core: Core,
    writers: HashMap<ConnId, mpsc::UnboundedSender<Outgoing>>,
    /// The time as of the current batch of messages: the clock is read once per wake-up (and
    /// every [`BATCH`] messages), not per message or action.
    now: Now,
    clock: Clock,
    ctx: FourLetterContext,
    disk: Option<Disk>,
    storage: Option<StorageConfig>,
    snap: SnapState,
    to_core: mpsc::UnboundedSender<ToCore>,
    failed: watch::Sender<Option<String>>,
    repl: Option<replicated::Replication>,
}

impl CoreTask {
    async fn run(
        mut self,
        mut rx: mpsc::UnboundedReceiver<ToCore>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        'serve: loop {
            self.now = self.clock.now();
            if self.next_deadline() <= self.now.mono_ms {
                // Due timers run even while messages keep coming.
                if let Err(reason) = self.tick() {
                    let _ = self.failed.send(Some(reason));
                    break;
                }
            }
            // Txns queued while handling the last batch (or by the tick) go to the disk thread
            // together, before the task waits.
            self.flush_disk();
            let deadline = self.next_deadline();
            let sleep_ms = deadline.saturating_sub(self.now.mono_ms).clamp(1, 60_000);
            let msg = tokio::select! {
                m = rx.recv() => m,
                _ = tokio::time::sleep(Duration::from_millis(sleep_ms)) => {
                    self.now = self.clock.now();
                    if let Err(reason) = self.tick() {
                        let _ = self.failed.send(Some(reason));
                        break;
                    }
                    continue;
                }
                _ = shutdown.changed() => None,
            };
            let Some(mut msg) = msg else { break };
            self.now = self.clock.now();
            // What is already queued is handled under one clock reading, up to BATCH messages;
            // then the task yields so that the writers send what those produced (proposals,
            // forwarded writes, replies) before more is taken in.
            for _ in 1..BATCH {
                if let Err(reason) = self.handle(msg) {
                    let _ = self.failed.send(Some(reason));
                    break 'serve;
                }
                match rx.try_recv() {
                    Ok(m) => msg = m,
                    Err(_) => continue 'serve,
                }
            }
            if let Err(reason) = self.handle(msg) {
                let _ = self.failed.send(Some(reason));
                break;
            }
            self.flush_disk();
            tokio::task::yield_now().await;
        }
        for (_, w) in self.writers.drain() {
            let _ = w.send(Outgoing::Close);
        }
        if let Some(mut d) = self.disk.take() {
            // Joining the disk thread blocks; `block_in_place` would panic on a current-thread
            // runtime (and silently skip the final flush), so hand it to the blocking pool.
            let _ = tokio::task::spawn_blocking(move || d.shutdown()).await;
        }
        // A snapshot being written finishes before the server counts as stopped, so that
        // nothing writes into the data directory after `Server::shutdown` returns. (Bounded:
        // a stuck disk must not hang shutdown; a half-written snapshot is skipped by recovery.)
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        while self.snap.in_flight {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(ToCore::SnapshotDone { result, .. })) => {
                    self.snap.in_flight = false;
                    if let Err(e) = result {
                        tracing::error!(error = %e, "snapshot failed during shutdown");
                    }
                }
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(_) => {
                    tracing::warn!("stopping without waiting longer for a snapshot being written");
                    break;
                }
            }
        }
    }

    /// Copies Zab's state into the monitor's view before a query.
    fn refresh_zab_view(&mut self) {
        let Some(r) = &self.repl else { return };
        self.ctx.zab = Some(replicated::zab_view(r));
    }

    /// Hands the disk commands queued since the last flush to the disk thread.
    fn flush_disk(&mut self) {
        if let Some(d) = self.disk.as_mut() {
            d.flush();
        }
    }

    fn next_deadline(&self) -> u64 {
        let deadline = self
            .core
            .next_deadline()
            .min(self.read_only_deadline().unwrap_or(u64::MAX));
        match self.repl.as_ref().and_then(|r| r.peer.next_deadline()) {
            Some(d) => deadline.min(d),
            None => deadline,
        }
    }

    /// Timers: session expiry and Zab's deadlines.
    fn tick(&mut self) -> Result<(), String> {
        let now = self.now;
        let fx = self.core.tick(now);
        self.run_effects(fx);
        if let Some(r) = self.repl.as_mut() {
            r.peer.tick(now.mono_ms);
        }
        self.drain_zab()?;
        self.read_only_tick();
        Ok(())
    }

    fn handle(&mut self, msg: ToCore) -> Result<(), String> {
        let now = self.now;
        if let ToCore::Durable {
            fsync_ms, batch, ..
        } = &msg
        {
            let m = &mut self.ctx.metrics;
            m.sync_processor_batch_size.record(*batch as i64);
            if let Some(ms) = fsync_ms {
                m.fsynctime.record(*ms as i64);
            }
        }
        let fx = match msg {
            ToCore::Opened {
                conn,
                peer,
                out,
                identities,
            } => {
                self.ctx.metrics.connection_request_count += 1;
                self.writers.insert(conn, out);
                self.core.connection_opened(conn, peer, now);
                self.core.add_identities(conn, identities);
                Vec::new()
            }
            ToCore::Frame { conn, payload } => self.core.handle_frame(conn, &payload, now),
            ToCore::Closed { conn } => {
                self.writers.remove(&conn);
                self.core.connection_closed(conn);
                Vec::new()
            }
            ToCore::FourLetter {
                conn,
                cmd,
                allowed,
                reply,
            } => {
                self.core.four_letter_word(conn);
                self.refresh_zab_view();
                let text = if allowed {
                    four_letter::answer(cmd, &mut self.core, &mut self.ctx, now)
                } else {
                    format!("{cmd} is not executed because it is not in the whitelist.\n")
                };
                self.core
                    .four_letter_answered(conn, four_letter::answer_packets(&text));
                self.writers.remove(&conn);
                let _ = reply.send(text);
                Vec::new()
            }
            ToCore::ConnectionRejected => {
                self.ctx.metrics.connection_rejected += 1;
                Vec::new()
            }
            ToCore::Transport(ev) => {
                self.ctx.metrics.transport(ev, &mut self.core.stats);
                Vec::new()
            }
            ToCore::Admin { cmd, reply } => {
                self.refresh_zab_view();
                let _ = reply.send(admin::run(&cmd, &mut self.core, &mut self.ctx, now));
                Vec::new()
            }
            ToCore::Scrape { reply } => {
                self.refresh_zab_view();
                let _ = reply.send(metrics::collect(&self.core, &self.ctx, now));
                Vec::new()
            }
            ToCore::Durable { last, .. } if self.repl.is_some() => {
                if let Some(r) = self.repl.as_mut() {
                    r.peer.log_durable(now.mono_ms, zab::Zxid(last as u64));
                    self.ctx.metrics.acks_created(last, now.wall_ms);
                }
                self.drain_zab()?;
                Vec::new()
            }
            ToCore::Peer(ev) => {
                self.peer_event(ev)?;
                Vec::new()
            }
            ToCore::Durable { txns, .. } => {
                for t in txns {
                    let fx = self.core.commit(&t, self.now);
                    self.run_effects(fx);
                    self.snap.since += 1;
                }
                self.maybe_snapshot();
                Vec::new()
            }
            ToCore::SnapshotDone { result, ms } => {
                self.snap.in_flight = false;
                if result.is_ok() {
                    self.ctx.metrics.snapshottime.record(ms as i64);
                }
                match result {
                    Ok(path) => tracing::info!(snapshot = %path.display(), "snapshot written"),
                    Err(e) => {
                        tracing::error!(error = %e, "snapshot failed; the txn log still holds everything")
                    }
                }
                Vec::new()
            }
            ToCore::DiskFailed(reason) => return Err(reason),
        };
        self.run_effects(fx);
        Ok(())
    }

    /// Rolls the log and writes a snapshot of a frozen view on a blocking thread, while writes
    /// go on. Only one snapshot at a time, as ZooKeeper ("Too busy to snap, skipping").
    fn maybe_snapshot(&mut self) {
        let (Some(st), Some(disk)) = (&self.storage, self.disk.as_mut()) else {
            return;
        };
        if self.snap.since < self.snap.roll_at {
            return;
        }
        if self.snap.in_flight {
            tracing::warn!("too busy to snapshot, skipping");
            self.snap.reset();
            return;
        }
        self.snap.reset();
        self.snap.in_flight = true;
        disk.queue(DiskCmd::Roll);
        let view = self.core.tree.view();
        let sessions = self.core.sessions_for_snapshot();
        let zxid = self.core.last_zxid();
        let dir = st.snap_dir.clone();
        let opts = snapshot::SnapshotWriteOptions {
            digest_enabled: st.digest_enabled,
        };
        let to_core = self.to_core.clone();
        tokio::task::spawn_blocking(move || {
            let started = Instant::now();
            let result =
                snapshot::save(&dir, &view, &sessions, zxid, &opts).map_err(|e| e.to_string());
            let ms = started.elapsed().as_millis() as u64;
            let _ = to_core.send(ToCore::SnapshotDone { result, ms });
        });
    }

    /// Carries out effects in order; a committed txn's own effects run before later ones.
    fn run_effects(&mut self, fx: Vec<Effect>) {
        let mut queue: std::collections::VecDeque<Effect> = fx.into();
        while let Some(e) = queue.pop_front() {
            match e {
                Effect::Send { conn, frame } => {
                    if let Some(w) = self.writers.get(&conn) {
                        let _ = w.send(Outgoing::Frame(frame));
                    }
                }
                Effect::Close { conn } => {
                    if let Some(w) = self.writers.remove(&conn) {
                        let _ = w.send(Outgoing::Close);
                    }
                }
                Effect::Forward { data, auth } => self.forward(data, auth),
                Effect::Revalidate { session, timeout } => self.revalidate(session, timeout),
                Effect::Persist(txn) if self.repl.is_some() => {
                    if let Err(reason) = self.propose_txn(*txn) {
                        let _ = self.failed.send(Some(reason));
                    }
                }
                Effect::Persist(txn) => match self.disk.as_mut() {
                    // Durable first: the disk thread answers with `Durable` after its fsync.
                    Some(d) => d.queue(DiskCmd::Append(txn)),
                    // In-memory server: committed at once.
                    None => {
                        let more = self.core.commit(&txn, self.now);
                        for m in more.into_iter().rev() {
                            queue.push_front(m);
                        }
                    }
                },
            }
        }
    }
}

async fn accept_loop(
    listener: TcpListener,
    kind: tls::Listener,
    counts: Arc<IpCounts>,
    cfg: Arc<RuntimeConfig>,
    to_core: mpsc::UnboundedSender<ToCore>,
    mut shutdown: watch::Receiver<bool>,
) {
    static NEXT_CONN: AtomicU64 = AtomicU64::new(1);
    loop {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            _ = shutdown.changed() => return,
        };
        let (stream, peer) = match accepted {
            Ok(v) => v,
            Err(e) => {
                // Out of file descriptors and the like: back off rather than spin.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        if !counts.try_add(peer.ip(), cfg.max_client_cnxns) {
            tracing::warn!(
                "Too many connections from {} - max is {}",
                peer.ip(),
                cfg.max_client_cnxns
            );
            let _ = to_core.send(ToCore::ConnectionRejected);
            drop(stream);
            continue;
        }
        let _ = stream.set_nodelay(true);
        let conn = NEXT_CONN.fetch_add(1, Ordering::Relaxed);
        tokio::spawn(tls::serve_client(
            kind.clone(),
            conn,
            stream,
            peer,
            cfg.clone(),
            to_core.clone(),
            counts.clone(),
            shutdown.clone(),
        ));
    }
}
