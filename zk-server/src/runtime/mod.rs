//! The tokio shell around the pure core.
//!
//! - One *core task* owns [`Core`]: it receives frames, opens/closes and four-letter-word
//!   queries over a channel, calls the core, and carries out the [`Effect`]s it returns.
//! - Each client connection has a reader (frames in, four-letter words detected before the
//!   handshake, `jute.maxbuffer` enforced) and a writer (batches queued frames into one write).
//! - The listener enforces `maxClientCnxns` per client IP.
//!
//! Storage seam: [`Effect::Persist`] is where the txn log's append + group fsync goes (#3).
//! Until then a txn counts as durable as soon as it is handed out, and is committed at once.

pub mod conn;
pub mod four_letter;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use self::four_letter::FourLetterContext;
use crate::core::{ConnId, Core, CoreConfig, Effect, Now};

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
    },
    Frame {
        conn: ConnId,
        payload: Vec<u8>,
    },
    Closed {
        conn: ConnId,
    },
    /// A four-letter word; `allowed` by the whitelist or not. The core task counts it, answers,
    /// and forgets the connection before the reader writes the text and closes.
    FourLetter {
        conn: ConnId,
        cmd: &'static str,
        allowed: bool,
        reply: oneshot::Sender<String>,
    },
}

/// Messages to a connection's writer.
#[derive(Debug)]
pub(crate) enum Outgoing {
    Frame(Vec<u8>),
    Close,
}

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
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Server {
    /// Binds the client port and starts serving.
    pub async fn start(cfg: RuntimeConfig) -> std::io::Result<Server> {
        let listener = TcpListener::bind(cfg.client_addr).await?;
        let local_addr = listener.local_addr()?;
        let clock = Clock::new();
        let (shutdown, shutdown_rx) = watch::channel(false);
        let (to_core, core_rx) = mpsc::unbounded_channel();
        let core = Core::new(cfg.core.clone(), clock.now());
        let ctx = FourLetterContext::new(&cfg, local_addr);
        let cfg = Arc::new(cfg);
        let core_task = tokio::spawn(core_loop(core, core_rx, clock, ctx, shutdown_rx.clone()));
        let accept_task = tokio::spawn(accept_loop(listener, cfg, to_core, shutdown_rx));
        tracing::info!(%local_addr, "serving clients");
        Ok(Server {
            local_addr,
            shutdown,
            tasks: vec![accept_task, core_task],
        })
    }

    /// Stops accepting, closes every connection and waits for the tasks to end.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
    }
}

async fn accept_loop(
    listener: TcpListener,
    cfg: Arc<RuntimeConfig>,
    to_core: mpsc::UnboundedSender<ToCore>,
    mut shutdown: watch::Receiver<bool>,
) {
    static NEXT_CONN: AtomicU64 = AtomicU64::new(1);
    let counts = Arc::new(IpCounts::default());
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
            drop(stream);
            continue;
        }
        let _ = stream.set_nodelay(true);
        let conn = NEXT_CONN.fetch_add(1, Ordering::Relaxed);
        tokio::spawn(conn::serve(
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

async fn core_loop(
    mut core: Core,
    mut rx: mpsc::UnboundedReceiver<ToCore>,
    clock: Clock,
    ctx: FourLetterContext,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut writers: HashMap<ConnId, mpsc::UnboundedSender<Outgoing>> = HashMap::new();
    loop {
        let deadline = core.next_deadline();
        let now_mono = clock.now().mono_ms;
        let sleep_ms = deadline.saturating_sub(now_mono).max(1);
        let msg = tokio::select! {
            m = rx.recv() => m,
            _ = tokio::time::sleep(Duration::from_millis(sleep_ms)) => {
                let fx = core.tick(clock.now());
                run_effects(&mut core, fx, &mut writers, &clock);
                continue;
            }
            _ = shutdown.changed() => None,
        };
        let Some(msg) = msg else {
            for (_, w) in writers.drain() {
                let _ = w.send(Outgoing::Close);
            }
            return;
        };
        let fx = match msg {
            ToCore::Opened { conn, peer, out } => {
                writers.insert(conn, out);
                core.connection_opened(conn, peer, clock.now());
                Vec::new()
            }
            ToCore::Frame { conn, payload } => core.handle_frame(conn, &payload, clock.now()),
            ToCore::Closed { conn } => {
                writers.remove(&conn);
                core.connection_closed(conn);
                Vec::new()
            }
            ToCore::FourLetter {
                conn,
                cmd,
                allowed,
                reply,
            } => {
                core.four_letter_word(conn);
                let text = if allowed {
                    four_letter::answer(cmd, &mut core, &ctx, clock.now())
                } else {
                    format!("{cmd} is not executed because it is not in the whitelist.\n")
                };
                core.four_letter_answered(conn, four_letter::answer_packets(&text));
                writers.remove(&conn);
                let _ = reply.send(text);
                Vec::new()
            }
        };
        run_effects(&mut core, fx, &mut writers, &clock);
    }
}

/// Carries out effects in order; a committed txn's own effects run before later ones.
fn run_effects(
    core: &mut Core,
    fx: Vec<Effect>,
    writers: &mut HashMap<ConnId, mpsc::UnboundedSender<Outgoing>>,
    clock: &Clock,
) {
    let mut queue: std::collections::VecDeque<Effect> = fx.into();
    while let Some(e) = queue.pop_front() {
        match e {
            Effect::Send { conn, frame } => {
                if let Some(w) = writers.get(&conn) {
                    let _ = w.send(Outgoing::Frame(frame));
                }
            }
            Effect::Close { conn } => {
                if let Some(w) = writers.remove(&conn) {
                    let _ = w.send(Outgoing::Close);
                }
            }
            Effect::Persist(txn) => {
                // Storage seam (#3): append to the txn log and group-fsync before committing.
                let more = core.commit(&txn, clock.now());
                for m in more.into_iter().rev() {
                    queue.push_front(m);
                }
            }
        }
    }
}
