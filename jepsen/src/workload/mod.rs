//! Client workloads: many concurrent clients, each its own ZooKeeper session, each operation
//! recorded through a [`Recorder`] as an invocation and one completion.
//!
//! - [`register`]: a compare-and-set register per key (`/jepsen/r<k>`): read, write, cas;
//! - [`set`]: concurrent creates of unique elements, then a final read ([`set::read_all`]);
//! - [`ids`]: unique ids from sequential creates;
//! - [`lock`]: the lock recipe, its fencing token the lock node's czxid.
//!
//! How outcomes are recorded ([`outcome_of`]): a reply is `Ok`; an error that proves the
//! request had no effect (`BadVersion`, `NodeExists`, `NoNode`...) is `Fail`; a timeout, a
//! lost connection, an expired session or any error we cannot vouch for is `Info` (it may
//! have happened). A process that got `Info` never invokes again: the client continues under
//! a fresh process id. When a session ends (expired, closed) the client opens a new session,
//! also under a fresh process, so a process never spans two sessions
//! ([`Recorder::sessions`] maps processes to session ids).
//!
//! Client `i` is given every server, starting with server `i % n`. zk-client shuffles its
//! hosts before connecting, so this is a hint; the server a client is actually connected to
//! when it invokes an operation ([`zk_client::Client::connected_host`], mapped back to its
//! position in [`Config::addrs`] by [`node_of`]) is recorded as `Op::node`, 1-based. `None`
//! when the client is between servers at that moment (the request then waits for a
//! reconnect and may go to any server), and for the set's final read (it connects after
//! invoking).

pub mod ids;
pub mod lock;
mod recorder;
pub mod register;
pub mod set;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use zk_client::{Client, Error, ErrorCode};

use crate::history::{Type, Value};
pub use recorder::{Handle, Recorder};

/// A small seeded generator (SplitMix64): the same seed gives the same choices.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        assert!(n > 0, "Rng::below(0)");
        ((self.next_u64() as u128 * n as u128) >> 64) as u64
    }

    /// An independent generator for sub-task `i` (client `i` of a run).
    pub fn fork(&self, i: u64) -> Rng {
        let mut r = Rng(self.0 ^ i.wrapping_mul(0xD1B5_4A32_D192_ED03));
        r.next_u64();
        r
    }
}

/// A stop signal shared by every client task of a run (cheap to clone).
#[derive(Debug, Clone)]
pub struct Stop(Arc<watch::Sender<bool>>);

impl Default for Stop {
    fn default() -> Self {
        Stop::new()
    }
}

impl Stop {
    pub fn new() -> Stop {
        Stop(Arc::new(watch::channel(false).0))
    }

    /// A signal that fires by itself after `d` (needs a tokio runtime).
    pub fn after(d: Duration) -> Stop {
        let s = Stop::new();
        let s2 = s.clone();
        tokio::spawn(async move {
            tokio::time::sleep(d).await;
            s2.stop();
        });
        s
    }

    pub fn stop(&self) {
        self.0.send_replace(true);
    }

    pub fn is_stopped(&self) -> bool {
        *self.0.borrow()
    }

    /// Resolves once the signal fired.
    pub async fn stopped(&self) {
        let mut rx = self.0.subscribe();
        let _ = rx.wait_for(|s| *s).await;
    }
}

/// What every workload needs.
#[derive(Debug, Clone)]
pub struct Config {
    /// The servers' client addresses (`host:port`), e.g. per-server proxies.
    pub addrs: Vec<String>,
    /// How many client tasks (each its own session).
    pub concurrency: usize,
    /// Seeds every choice of operation and value (client `i` uses `Rng::new(seed).fork(i)`).
    pub seed: u64,
    /// An operation not answered within this is recorded `Info`.
    pub op_timeout: Duration,
    /// The session timeout clients ask for.
    pub session_timeout: Duration,
    /// Mean pause between a client's operations (each pause uniform in `0..2*think`).
    pub think: Duration,
    /// Ends the run: clients invoke nothing once it fired (an operation in flight still
    /// completes, within `op_timeout`).
    pub stop: Stop,
}

impl Config {
    /// Defaults: 5 s op timeout, 10 s session timeout, 20 ms think time, never stops by
    /// itself (set `stop`).
    pub fn new(addrs: Vec<String>, concurrency: usize, seed: u64) -> Config {
        Config {
            addrs,
            concurrency,
            seed,
            op_timeout: Duration::from_secs(5),
            session_timeout: Duration::from_secs(10),
            think: Duration::from_millis(20),
            stop: Stop::new(),
        }
    }

    /// Client `i`'s connect string: every server, starting with server `i % n`.
    pub fn connect_string(&self, i: usize) -> String {
        connect_string(&self.addrs, i)
    }
}

/// Every address, starting with `addrs[i % n]`, comma-separated.
pub fn connect_string(addrs: &[String], i: usize) -> String {
    let n = addrs.len().max(1);
    (0..addrs.len())
        .map(|j| addrs[(i + j) % n].as_str())
        .collect::<Vec<_>>()
        .join(",")
}

/// The history's node (1-based position in `addrs`) of the server at `host` (`host:port`, as
/// [`zk_client::Client::connected_host`] gives it); `None` if it is none of them. Compares the
/// strings, then the socket addresses they parse to (so `[::1]:5` finds `::1` spelled
/// differently).
pub fn node_of(addrs: &[String], host: &str) -> Option<u64> {
    let pos = addrs.iter().position(|a| a == host).or_else(|| {
        let h: std::net::SocketAddr = host.parse().ok()?;
        addrs
            .iter()
            .position(|a| a.parse::<std::net::SocketAddr>().is_ok_and(|a| a == h))
    })?;
    Some(pos as u64 + 1)
}

/// How an operation ended, before it is recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Ok(Value),
    /// Certainly without effect.
    Fail(String),
    /// Unknown.
    Info(String),
}

/// Why a client call did not answer with a result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallError {
    /// No answer within the op timeout.
    Timeout,
    Zk(Error),
}

impl CallError {
    /// The server's error code, if the server answered with one.
    pub fn server_code(&self) -> Option<ErrorCode> {
        match self {
            CallError::Zk(Error::Server(c)) => Some(*c),
            _ => None,
        }
    }

    /// `Fail` when the error proves the request had no effect, else `Info`.
    pub fn outcome(&self) -> Outcome {
        match self {
            CallError::Timeout => Outcome::Info("timeout".into()),
            CallError::Zk(e) => outcome_of(e),
        }
    }

    /// Whether the session is over (the client must open a new one).
    pub fn session_ended(&self) -> bool {
        matches!(
            self,
            CallError::Zk(Error::SessionExpired | Error::Closed | Error::AuthFailed)
        )
    }
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CallError::Timeout => f.write_str("timeout"),
            CallError::Zk(e) => write!(f, "{e}"),
        }
    }
}

/// The outcome a client error stands for. `Fail` only for errors the server returns when it
/// refused the request before changing anything (checked versions and existence, arguments,
/// ACLs) or that the client raises before sending (or, for `LockLost`, after seeing that it
/// changed nothing); everything else, including
/// `ConnectionLoss`, `SessionExpired`, `OperationTimeout` and unknown codes, is `Info`.
pub fn outcome_of(e: &Error) -> Outcome {
    let definite = match e {
        Error::Server(c) => matches!(
            c,
            ErrorCode::NoNode
                | ErrorCode::NodeExists
                | ErrorCode::BadVersion
                | ErrorCode::NotEmpty
                | ErrorCode::NoChildrenForEphemerals
                | ErrorCode::InvalidAcl
                | ErrorCode::NoAuth
                | ErrorCode::BadArguments
        ),
        // The lock recipe's release found the lock already lost: it deleted nothing.
        Error::BadArguments(_) | Error::ConnectString(_) | Error::LockLost(_) => true,
        _ => false,
    };
    if definite {
        Outcome::Fail(e.to_string())
    } else {
        Outcome::Info(e.to_string())
    }
}

/// Opens a session (zk-client's `ClientBuilder::connect`), waiting at most `timeout` for it.
///
/// zk-client's connect future is not `Send` (it holds a `watch::Ref` across an await on its
/// timeout path), so it cannot run inside a spawned task; it runs here on a blocking thread
/// driving the current runtime (the connection task it spawns lives on the runtime as usual).
pub async fn connect(
    connect_string: &str,
    session_timeout: Duration,
    timeout: Duration,
) -> zk_client::Result<Client> {
    let cs = connect_string.to_string();
    let rt = tokio::runtime::Handle::current();
    let job = tokio::task::spawn_blocking(move || {
        rt.block_on(
            Client::builder()
                .session_timeout(session_timeout)
                .connect_timeout(timeout)
                .connect(&cs),
        )
    });
    match job.await {
        Ok(r) => r,
        Err(e) => Err(Error::Protocol(format!("connect task failed: {e}"))),
    }
}

/// Runs a client call under the op timeout.
pub async fn call<T>(
    timeout: Duration,
    f: impl Future<Output = zk_client::Result<T>>,
) -> Result<T, CallError> {
    match tokio::time::timeout(timeout, f).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(CallError::Zk(e)),
        Err(_) => Err(CallError::Timeout),
    }
}

/// One client task's state: its session and its current process.
pub(crate) struct Worker {
    pub cfg: Config,
    pub rec: Recorder,
    pub index: usize,
    pub rng: Rng,
    client: Option<Client>,
    pub process: u64,
}

impl Worker {
    pub fn new(cfg: &Config, rec: &Recorder, index: usize) -> Worker {
        Worker {
            cfg: cfg.clone(),
            rec: rec.clone(),
            index,
            rng: Rng::new(cfg.seed).fork(index as u64),
            client: None,
            process: u64::MAX,
        }
    }

    /// The session, connecting a new one (under a new process) if there is none; `None` once
    /// the run is stopped.
    pub async fn client(&mut self) -> Option<Client> {
        let mut backoff = Duration::from_millis(50);
        while self.client.is_none() {
            if self.cfg.stop.is_stopped() {
                return None;
            }
            let cs = self.cfg.connect_string(self.index);
            let connect = connect(&cs, self.cfg.session_timeout, self.cfg.session_timeout);
            tokio::select! {
                r = connect => match r {
                    Ok(c) => {
                        self.process = self.rec.new_process();
                        self.rec.set_session(self.process, c.session_id());
                        tracing::debug!(client = self.index, process = self.process,
                            session = format_args!("{:#x}", c.session_id()), "session");
                        self.client = Some(c);
                    }
                    Err(e) => {
                        tracing::debug!(client = self.index, %e, "connect failed");
                        tokio::select! {
                            _ = tokio::time::sleep(backoff) => {}
                            _ = self.cfg.stop.stopped() => return None,
                        }
                        backoff = (backoff * 2).min(Duration::from_secs(1));
                    }
                },
                _ = self.cfg.stop.stopped() => return None,
            }
        }
        self.client.clone()
    }

    /// Invokes on the current process, recording the server the session is connected to.
    pub fn invoke(&self, f: crate::history::F, key: u64, value: Value) -> Handle {
        let node = self
            .client
            .as_ref()
            .and_then(|c| node_of(&self.cfg.addrs, &c.connected_host()?));
        self.rec.invoke(self.process, f, key, value, node)
    }

    /// Records the completion; after `Info` moves to a fresh process, and when the session is
    /// over drops it (the next [`Worker::client`] opens a new one).
    pub fn finish(&mut self, h: Handle, outcome: Outcome, err: Option<&CallError>) -> Type {
        let typ = self.rec.finish(h, outcome);
        let ended = err.is_some_and(CallError::session_ended)
            || self
                .client
                .as_ref()
                .is_some_and(|c| c.state().is_terminal());
        if ended {
            self.drop_session();
        } else if typ == Type::Info {
            self.process = self.rec.new_process();
            if let Some(c) = &self.client {
                self.rec.set_session(self.process, c.session_id());
            }
        }
        typ
    }

    /// Forgets the session (closing it in the background); the next op opens a new one.
    pub fn drop_session(&mut self) {
        if let Some(c) = self.client.take() {
            tokio::spawn(async move {
                let _ = tokio::time::timeout(Duration::from_secs(5), c.close()).await;
            });
        }
    }

    /// Pauses between operations; false once the run is stopped.
    pub async fn think(&mut self) -> bool {
        if self.cfg.stop.is_stopped() {
            return false;
        }
        let max = self.cfg.think.as_micros() as u64 * 2;
        if max > 0 {
            let d = Duration::from_micros(self.rng.below(max));
            tokio::select! {
                _ = tokio::time::sleep(d) => {}
                _ = self.cfg.stop.stopped() => return false,
            }
        }
        !self.cfg.stop.is_stopped()
    }

    /// Ends the session (bounded).
    pub async fn close(mut self) {
        if let Some(c) = self.client.take() {
            let _ = tokio::time::timeout(Duration::from_secs(5), c.close()).await;
        }
    }
}

/// Creates `paths` (and their ancestors) with a setup client, retrying until done or the run
/// is stopped.
pub async fn setup(cfg: &Config, paths: &[&str]) -> anyhow::Result<()> {
    let cs = connect_string(&cfg.addrs, 0);
    let mut last = None;
    for _ in 0..20 {
        if cfg.stop.is_stopped() {
            break;
        }
        let attempt = async {
            let c = connect(&cs, cfg.session_timeout, cfg.session_timeout).await?;
            let mut r = Ok(());
            for p in paths {
                r = zk_client::recipes::ensure_path(&c, p).await;
                if r.is_err() {
                    break;
                }
            }
            let _ = tokio::time::timeout(Duration::from_secs(5), c.close()).await;
            r
        };
        match tokio::time::timeout(cfg.session_timeout * 3, attempt).await {
            Ok(Ok(())) => return Ok(()),
            Ok(Err(e)) => last = Some(e.to_string()),
            Err(_) => last = Some("timeout".into()),
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    anyhow::bail!(
        "setup of {paths:?} failed: {}",
        last.unwrap_or_else(|| "stopped".into())
    )
}

/// Spawns `cfg.concurrency` client tasks running `body(worker)` and waits for them all.
pub(crate) async fn run_clients<Fut>(
    cfg: &Config,
    rec: &Recorder,
    body: impl Fn(Worker) -> Fut,
) -> anyhow::Result<()>
where
    Fut: Future<Output = ()> + Send + 'static,
{
    let mut tasks = Vec::new();
    for i in 0..cfg.concurrency {
        tasks.push(tokio::spawn(body(Worker::new(cfg, rec, i))));
    }
    for t in tasks {
        t.await?;
    }
    Ok(())
}

/// A workload by name, with its options.
#[derive(Debug, Clone)]
pub enum Workload {
    Register(register::Options),
    Set,
    Ids,
    Lock(lock::Options),
}

impl Workload {
    /// `register`, `set`, `ids` or `lock` with default options.
    pub fn parse(name: &str) -> Option<Workload> {
        Some(match name {
            "register" => Workload::Register(register::Options::default()),
            "set" => Workload::Set,
            "ids" => Workload::Ids,
            "lock" => Workload::Lock(lock::Options::default()),
            _ => return None,
        })
    }

    pub fn name(&self) -> &'static str {
        match self {
            Workload::Register(_) => "register",
            Workload::Set => "set",
            Workload::Ids => "ids",
            Workload::Lock(_) => "lock",
        }
    }

    /// Runs the workload until `cfg.stop` fires. (The set's final read is separate:
    /// [`set::read_all`].)
    pub async fn run(&self, cfg: &Config, rec: &Recorder) -> anyhow::Result<()> {
        match self {
            Workload::Register(o) => register::run(cfg, o, rec).await,
            Workload::Set => set::run(cfg, rec).await,
            Workload::Ids => ids::run(cfg, rec).await,
            Workload::Lock(o) => lock::run(cfg, o, rec).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{pairs, F};

    #[test]
    fn recorder_numbers_events_and_processes() {
        let rec = Recorder::new();
        let (p0, p1) = (rec.new_process(), rec.new_process());
        assert_ne!(p0, p1);
        let a = rec.invoke(p0, F::Write, 1, Value::Int(3), Some(2));
        let b = rec.invoke(p1, F::Read, 1, Value::None, None);
        let ra = rec.ok(a, Value::Int(3));
        let rb = rec.fail(b, "nope");
        let h = rec.history();
        assert_eq!(h.len(), 4);
        for (i, op) in h.iter().enumerate() {
            assert_eq!(op.index, i);
        }
        assert!(h.windows(2).all(|w| w[0].time_ns <= w[1].time_ns));
        assert_eq!((ra.index, ra.process, ra.typ), (2, p0, Type::Ok));
        assert_eq!(ra.node, Some(2));
        // Fail echoes the invocation's value and keeps the error.
        assert_eq!((rb.typ, &rb.value), (Type::Fail, &Value::None));
        assert_eq!(rb.error.as_deref(), Some("nope"));
        assert_eq!(pairs(&h), vec![(0, Some(2)), (1, Some(3))]);
        // A process may invoke again after ok/fail.
        let c = rec.invoke(p0, F::Read, 1, Value::None, None);
        rec.ok(c, Value::Int(3));
        // Explicit process ids move the counter past them.
        let d = rec.invoke(10, F::Read, 0, Value::None, None);
        rec.ok(d, Value::None);
        assert_eq!(rec.new_process(), 11);
    }

    #[test]
    #[should_panic(expected = "may not invoke again")]
    fn a_process_that_got_info_never_invokes_again() {
        let rec = Recorder::new();
        let h = rec.invoke(0, F::Write, 0, Value::Int(1), None);
        rec.info(h, "timeout");
        assert!(rec.is_crashed(0));
        let _ = rec.invoke(0, F::Read, 0, Value::None, None);
    }

    #[test]
    #[should_panic(expected = "previous operation is open")]
    fn a_process_has_one_open_operation() {
        let rec = Recorder::new();
        let _a = rec.invoke(0, F::Write, 0, Value::Int(1), None);
        let _b = rec.invoke(0, F::Read, 0, Value::None, None);
    }

    #[test]
    fn close_open_completes_with_info() {
        let rec = Recorder::new();
        let a = rec.invoke(0, F::Cas, 2, Value::Pair(1, 2), None);
        let b = rec.invoke(1, F::Read, 2, Value::None, None);
        rec.ok(b, Value::Int(1));
        std::mem::forget(a);
        rec.close_open();
        let h = rec.history();
        let last = h.last().unwrap();
        assert_eq!((last.typ, last.process, last.index), (Type::Info, 0, 3));
        assert_eq!(
            (last.f, last.key, &last.value),
            (F::Cas, 2, &Value::Pair(1, 2))
        );
        assert!(rec.is_crashed(0) && !rec.is_crashed(1));
        assert_eq!(pairs(&h).len(), 2);
    }

    #[test]
    fn outcomes_of_errors() {
        let info = |e: Error| matches!(outcome_of(&e), Outcome::Info(_));
        let fail = |e: Error| matches!(outcome_of(&e), Outcome::Fail(_));
        assert!(info(Error::ConnectionLoss));
        assert!(info(Error::SessionExpired));
        assert!(info(Error::Closed));
        assert!(info(Error::Server(ErrorCode::OperationTimeout)));
        assert!(info(Error::Server(ErrorCode::SystemError)));
        assert!(info(Error::UnknownCode(-999)));
        assert!(fail(Error::Server(ErrorCode::BadVersion)));
        assert!(fail(Error::Server(ErrorCode::NodeExists)));
        assert!(fail(Error::Server(ErrorCode::NoNode)));
        assert!(fail(Error::LockLost(
            zk_client::recipes::LockLoss::NodeGone
        )));
        assert!(fail(Error::LockLost(
            zk_client::recipes::LockLoss::SessionEnded
        )));
        assert!(matches!(CallError::Timeout.outcome(), Outcome::Info(_)));
        assert!(CallError::Zk(Error::SessionExpired).session_ended());
        assert!(!CallError::Zk(Error::ConnectionLoss).session_ended());
    }

    #[tokio::test]
    async fn a_timeout_is_recorded_as_info_and_the_worker_moves_to_a_new_process() {
        let rec = Recorder::new();
        let cfg = Config::new(vec!["127.0.0.1:1".into()], 1, 7);
        let mut w = Worker::new(&cfg, &rec, 0);
        w.process = rec.new_process();
        let first = w.process;
        let h = w.invoke(F::Write, 0, Value::Int(4));
        let r: Result<(), CallError> = call(
            Duration::from_millis(20),
            std::future::pending::<zk_client::Result<()>>(),
        )
        .await;
        let e = r.unwrap_err();
        assert_eq!(e, CallError::Timeout);
        assert_eq!(w.finish(h, e.outcome(), Some(&e)), Type::Info);
        assert_ne!(w.process, first, "a crashed process is replaced");
        let h = rec.history();
        assert_eq!(h[1].typ, Type::Info);
        assert_eq!(h[1].value, Value::Int(4));
        assert_eq!(h[1].error.as_deref(), Some("timeout"));
        // A definite failure keeps the process.
        let p = w.process;
        let h = w.invoke(F::Cas, 0, Value::Pair(1, 2));
        let e = CallError::Zk(Error::Server(ErrorCode::BadVersion));
        assert_eq!(w.finish(h, e.outcome(), Some(&e)), Type::Fail);
        assert_eq!(w.process, p);
    }

    #[test]
    fn node_of_maps_a_host_to_its_server_index() {
        let addrs: Vec<String> = ["127.0.0.1:7001", "127.0.0.1:7002", "[::1]:7003"]
            .map(String::from)
            .to_vec();
        assert_eq!(node_of(&addrs, "127.0.0.1:7001"), Some(1));
        assert_eq!(node_of(&addrs, "127.0.0.1:7002"), Some(2));
        assert_eq!(node_of(&addrs, "[::1]:7003"), Some(3));
        assert_eq!(node_of(&addrs, "[0:0:0:0:0:0:0:1]:7003"), Some(3));
        assert_eq!(node_of(&addrs, "127.0.0.1:7004"), None);
        assert_eq!(node_of(&addrs, "localhost:7001"), None);
    }

    #[test]
    fn connect_strings_rotate_and_rng_is_seeded() {
        let addrs: Vec<String> = ["a:1", "b:2", "c:3"].map(String::from).to_vec();
        assert_eq!(connect_string(&addrs, 0), "a:1,b:2,c:3");
        assert_eq!(connect_string(&addrs, 4), "b:2,c:3,a:1");
        let mut a = Rng::new(7).fork(3);
        let mut b = Rng::new(7).fork(3);
        let mut c = Rng::new(7).fork(4);
        let xs: Vec<u64> = (0..8).map(|_| a.below(100)).collect();
        assert_eq!(xs, (0..8).map(|_| b.below(100)).collect::<Vec<_>>());
        assert_ne!(xs, (0..8).map(|_| c.below(100)).collect::<Vec<_>>());
        assert!(xs.iter().all(|x| *x < 100));
    }
}
