//! A real ensemble of `zk-server` processes on 127.0.0.1, every one of its links behind a
//! controllable proxy, and the faults a nemesis injects into it.
//!
//! - Each server gets its own zoo.cfg: its own `server.N` line has its real quorum and
//!   election ports, every other server's line names the ports of the proxies dedicated to
//!   the pair (this server → that one). So every byte between two servers crosses a proxy of
//!   [`Net`], which can stall it per direction (partitions, one-way drops).
//! - Clients reach a server through its client proxy ([`Ensemble::client_addr`]), so clients
//!   can be partitioned from a server too; the harness itself asks four-letter words on the
//!   real client port ([`Ensemble::direct_client_addr`]), which no nemesis blocks.
//! - Processes are started with `std::process::Command`, tracked by PID and stopped by PID
//!   (SIGKILL through `Child::kill`, SIGTERM/SIGSTOP/SIGCONT through `kill -SIG PID`), also
//!   when the [`Ensemble`] is dropped; nothing is ever signalled by name.

mod digest;
mod disk;
mod nemesis;
mod net;
mod proxy;

pub use digest::{tree_digest, walker, znode_hash, TreeDigest, WALK_MAX_BUFFER};
pub use nemesis::{FaultKind, FaultPeriod, Nemesis, NemesisOptions};
pub use net::{
    bridge, complete, describe, halves, isolate, majorities_ring, one_way, Grudge, Net, Port,
};
pub use proxy::{LinkState, Proxy};

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How long one four-letter word may take (a paused server never answers).
const FLW_TIMEOUT: Duration = Duration::from_millis(1500);

/// SplitMix64: a small, fast, seedable generator; the nemesis schedule depends only on it.
#[derive(Clone, Debug)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
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
        assert!(n > 0);
        // Lemire's multiply-shift; the bias is negligible for the small n used here.
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// Uniform in `[lo, hi]`.
    pub fn duration(&mut self, lo: Duration, hi: Duration) -> Duration {
        if hi <= lo {
            return lo;
        }
        lo + (hi - lo).mul_f64(self.unit())
    }

    pub fn pick<T: Copy>(&mut self, v: &[T]) -> T {
        v[self.below(v.len() as u64) as usize]
    }

    pub fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            v.swap(i, j);
        }
    }
}

/// How to build an ensemble.
#[derive(Clone, Debug)]
pub struct EnsembleOptions {
    /// The `zk-server` binary.
    pub bin: PathBuf,
    /// Holds every server's zoo.cfg, dataDir and log; created if missing. Must not hold a
    /// previous ensemble (its data would be reused).
    pub run_dir: PathBuf,
    /// 3 or 5 (any n ≥ 1 works).
    pub nodes: u64,
    pub tick_ms: u64,
    pub init_limit: u32,
    pub sync_limit: u32,
    /// Lines appended to every zoo.cfg.
    pub extra_cfg: String,
    /// `RUST_LOG` of the servers.
    pub rust_log: String,
    /// Each server's data directory on a tmpfs of its own of this many bytes, so that the
    /// disk-full nemesis can fill it ([`Ensemble::fill_disk`]); needs root. None: plain
    /// directories under `run_dir`.
    pub disk_bytes: Option<u64>,
}

impl EnsembleOptions {
    /// 3 nodes, tickTime 200 ms, initLimit 10, syncLimit 5 (`jepsen run` raises initLimit:
    /// see its `--init-limit`).
    pub fn new(bin: impl Into<PathBuf>, run_dir: impl Into<PathBuf>) -> Self {
        EnsembleOptions {
            bin: bin.into(),
            run_dir: run_dir.into(),
            nodes: 3,
            tick_ms: 200,
            init_limit: 10,
            sync_limit: 5,
            extra_cfg: String::new(),
            rust_log: "info".into(),
            disk_bytes: None,
        }
    }
}

/// A server's role as `srvr` reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mode {
    Leader,
    Follower,
    Observer,
    Standalone,
}

impl Mode {
    fn parse(s: &str) -> Option<Mode> {
        Some(match s.trim() {
            "leader" => Mode::Leader,
            "follower" => Mode::Follower,
            "observer" => Mode::Observer,
            "standalone" => Mode::Standalone,
            _ => return None,
        })
    }
}

/// What `srvr` said (None in [`Ensemble::status`] while a server does not serve).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServerStatus {
    pub mode: Mode,
    pub zxid: i64,
    pub node_count: u64,
}

/// A server's state after healing; every server of a converged ensemble reports the same.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FinalState {
    /// `Zxid:` of `srvr`: the last transaction the server applied.
    pub last_zxid: i64,
    /// `zk_znode_count` of `mntr` (ZooKeeper counts the root twice).
    pub znode_count: u64,
    /// `zk_ephemerals_count` of `mntr`.
    pub ephemerals_count: u64,
}

struct NodeProc {
    dir: PathBuf,
    cfg: PathBuf,
    log: PathBuf,
    client_port: u16,
    child: Option<Child>,
    paused: bool,
    starts: u32,
}

/// A running ensemble. Every method takes `&self`, so it can be shared (`Arc`) between the
/// nemesis and the workload.
pub struct Ensemble {
    opts: EnsembleOptions,
    ids: Vec<u64>,
    procs: Mutex<BTreeMap<u64, NodeProc>>,
    net: Net,
    /// tmpfs mounts to undo when the ensemble stops.
    mounts: Mutex<Vec<PathBuf>>,
}

/// A port that was free on 127.0.0.1 a moment ago, taken below Linux's ephemeral range
/// (32768-60999). A port the kernel picks for `bind(0)` comes from that range, and so does the
/// source port of every outgoing connection: between this check and the server's own bind, a
/// client of another test could take it ("Address already in use" in CI once). Below the range
/// only a listener can take it; ports handed out in this process are never repeated. The range
/// stops short of 31000-32000, the ports a Mesos agent offers its tasks by default (the mesos
/// and marathon tests run ensembles beside agents).
fn free_port() -> Result<u16> {
    use std::sync::atomic::{AtomicU32, Ordering};
    const LOW: u32 = 20_000;
    const SPAN: u32 = 11_000;
    static NEXT: AtomicU32 = AtomicU32::new(0);
    // Different processes (test binaries, runs) start at different places.
    let start = std::process::id().wrapping_mul(2_654_435_761) % SPAN;
    for _ in 0..SPAN {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = (LOW + (start + n) % SPAN) as u16;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return Ok(port);
        }
    }
    bail!("no free port in {LOW}-{} on 127.0.0.1", LOW + SPAN - 1)
}

fn localhost(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

impl Ensemble {
    /// Writes every server's zoo.cfg and `myid`, starts the proxies and the servers (servers
    /// 1..=n). Does not wait for a leader: see [`Ensemble::wait_stable`].
    pub async fn start(opts: EnsembleOptions) -> Result<Ensemble> {
        if !opts.bin.is_file() {
            bail!("zk-server binary {} not found", opts.bin.display());
        }
        std::fs::create_dir_all(&opts.run_dir)
            .with_context(|| format!("creating {}", opts.run_dir.display()))?;
        let ids: Vec<u64> = (1..=opts.nodes).collect();
        let mut real: BTreeMap<u64, (u16, u16, u16)> = BTreeMap::new();
        for &id in &ids {
            real.insert(id, (free_port()?, free_port()?, free_port()?));
        }
        let mut peers = BTreeMap::new();
        let mut clients = BTreeMap::new();
        for &id in &ids {
            let (q, e, c) = real[&id];
            clients.insert(id, Proxy::start(localhost(c)).await?);
            for &from in &ids {
                if from != id {
                    peers.insert((from, id, Port::Quorum), Proxy::start(localhost(q)).await?);
                    peers.insert(
                        (from, id, Port::Election),
                        Proxy::start(localhost(e)).await?,
                    );
                }
            }
        }
        let mut mounts = Vec::new();
        if let Some(bytes) = opts.disk_bytes {
            for &id in &ids {
                let dir = opts.run_dir.join(format!("zk{id}"));
                if let Err(e) = disk::mount_tmpfs(&dir, bytes) {
                    mounts.iter().for_each(|d: &PathBuf| disk::unmount(d));
                    return Err(e);
                }
                mounts.push(dir);
            }
        }
        let mut procs = BTreeMap::new();
        for &id in &ids {
            let (_, _, client_port) = real[&id];
            let dir = opts.run_dir.join(format!("zk{id}"));
            std::fs::create_dir_all(&dir)?;
            std::fs::write(dir.join("myid"), format!("{id}\n"))?;
            let mut servers = String::new();
            for &other in &ids {
                let (q, e) = if other == id {
                    (real[&id].0, real[&id].1)
                } else {
                    (
                        peers[&(id, other, Port::Quorum)].listen_addr().port(),
                        peers[&(id, other, Port::Election)].listen_addr().port(),
                    )
                };
                servers.push_str(&format!("server.{other}=127.0.0.1:{q}:{e}\n"));
            }
            let cfg = opts.run_dir.join(format!("zk{id}.cfg"));
            std::fs::write(
                &cfg,
                format!(
                    "tickTime={}\ninitLimit={}\nsyncLimit={}\ndataDir={}\nclientPort={client_port}\n\
                     clientPortAddress=127.0.0.1\nmaxClientCnxns=0\n4lw.commands.whitelist=*\n\
                     admin.enableServer=false\njute.maxbuffer={}\n{}\n{servers}",
                    opts.tick_ms,
                    opts.init_limit,
                    opts.sync_limit,
                    dir.display(),
                    // The final tree walk lists a long run's sequential znodes in one reply.
                    WALK_MAX_BUFFER,
                    opts.extra_cfg
                ),
            )?;
            procs.insert(
                id,
                NodeProc {
                    dir,
                    cfg,
                    log: opts.run_dir.join(format!("zk{id}.log")),
                    client_port,
                    child: None,
                    paused: false,
                    starts: 0,
                },
            );
        }
        let e = Ensemble {
            net: Net::new(ids.clone(), peers, clients),
            ids,
            procs: Mutex::new(procs),
            opts,
            mounts: Mutex::new(mounts),
        };
        for &id in &e.ids {
            e.start_node(id)?;
        }
        Ok(e)
    }

    pub fn options(&self) -> &EnsembleOptions {
        &self.opts
    }

    pub fn run_dir(&self) -> &Path {
        &self.opts.run_dir
    }

    /// The server ids, 1..=n.
    pub fn nodes(&self) -> &[u64] {
        &self.ids
    }

    pub fn net(&self) -> &Net {
        &self.net
    }

    /// `syncLimit × tickTime`: how long a follower may lag or stay silent.
    pub fn sync_window(&self) -> Duration {
        Duration::from_millis(self.opts.tick_ms * u64::from(self.opts.sync_limit))
    }

    /// Where clients connect to `node`: its client proxy.
    pub fn client_addr(&self, node: u64) -> SocketAddr {
        self.net
            .client_proxy(node)
            .map(Proxy::listen_addr)
            .unwrap_or_else(|| panic!("no node {node}"))
    }

    /// `node`'s real client port (no nemesis in between); the harness's own questions use it.
    pub fn direct_client_addr(&self, node: u64) -> SocketAddr {
        localhost(self.procs.lock().unwrap()[&node].client_port)
    }

    /// A connect string over the client proxies of `nodes`.
    pub fn connect_string(&self, nodes: &[u64]) -> String {
        nodes
            .iter()
            .map(|&n| self.client_addr(n).to_string())
            .collect::<Vec<_>>()
            .join(",")
    }

    pub fn log_path(&self, node: u64) -> PathBuf {
        self.procs.lock().unwrap()[&node].log.clone()
    }

    pub fn data_dir(&self, node: u64) -> PathBuf {
        self.procs.lock().unwrap()[&node].dir.clone()
    }

    /// Fills `node`'s data filesystem until ENOSPC (needs [`EnsembleOptions::disk_bytes`]);
    /// returns the bytes the ballast took.
    pub fn fill_disk(&self, node: u64) -> Result<u64> {
        if self.opts.disk_bytes.is_none() {
            bail!("node {node}'s data directory is not a disk of its own (disk_bytes)");
        }
        disk::fill(&self.data_dir(node))
    }

    /// Deletes the ballast [`Ensemble::fill_disk`] wrote.
    pub fn free_disk(&self, node: u64) -> Result<()> {
        disk::free(&self.data_dir(node))
    }

    /// Bytes free on `node`'s data filesystem.
    pub fn disk_available(&self, node: u64) -> Result<u64> {
        disk::available(&self.data_dir(node))
    }

    fn unmount_all(&self) {
        let mounts = std::mem::take(&mut *self.mounts.lock().unwrap());
        for d in mounts {
            disk::unmount(&d);
        }
    }

    /// The PID of `node`'s process while it runs.
    pub fn pid(&self, node: u64) -> Option<u32> {
        self.procs.lock().unwrap()[&node]
            .child
            .as_ref()
            .map(Child::id)
    }

    pub fn is_running(&self, node: u64) -> bool {
        self.pid(node).is_some()
    }

    pub fn is_paused(&self, node: u64) -> bool {
        self.procs.lock().unwrap()[&node].paused
    }

    /// Starts `node`'s process (an error if it runs). Its log is appended to.
    pub fn start_node(&self, node: u64) -> Result<()> {
        let mut procs = self.procs.lock().unwrap();
        let p = procs
            .get_mut(&node)
            .ok_or_else(|| anyhow!("no node {node}"))?;
        if p.child.is_some() {
            bail!("node {node} is running");
        }
        let mut log = OpenOptions::new().create(true).append(true).open(&p.log)?;
        p.starts += 1;
        let _ = writeln!(
            log,
            "===== jepsen: start #{} of node {node} =====",
            p.starts
        );
        let child = Command::new(&self.opts.bin)
            .arg(&p.cfg)
            .env("RUST_LOG", &self.opts.rust_log)
            .stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone()?))
            .stderr(Stdio::from(log))
            .spawn()
            .with_context(|| format!("spawning {}", self.opts.bin.display()))?;
        p.child = Some(child);
        p.paused = false;
        Ok(())
    }

    /// SIGKILL to `node`'s PID (a paused process dies too); false if it was not running.
    pub fn kill(&self, node: u64) -> bool {
        let mut procs = self.procs.lock().unwrap();
        let Some(p) = procs.get_mut(&node) else {
            return false;
        };
        let Some(mut c) = p.child.take() else {
            return false;
        };
        let _ = c.kill();
        let _ = c.wait();
        p.paused = false;
        true
    }

    /// Kills `node` if it runs, then starts it again.
    pub fn restart(&self, node: u64) -> Result<()> {
        self.kill(node);
        self.start_node(node)
    }

    fn signal(&self, node: u64, sig: &str) -> Result<()> {
        let pid = self
            .pid(node)
            .ok_or_else(|| anyhow!("node {node} is not running"))?;
        let st = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(pid.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .context("running kill")?;
        if !st.success() {
            bail!("kill -{sig} {pid} failed: {st}");
        }
        Ok(())
    }

    /// SIGSTOP.
    pub fn pause(&self, node: u64) -> Result<()> {
        self.signal(node, "STOP")?;
        self.procs.lock().unwrap().get_mut(&node).unwrap().paused = true;
        Ok(())
    }

    /// SIGCONT.
    pub fn resume(&self, node: u64) -> Result<()> {
        self.signal(node, "CONT")?;
        self.procs.lock().unwrap().get_mut(&node).unwrap().paused = false;
        Ok(())
    }

    /// Servers whose process ended without being killed by us (a crash), with how it ended.
    /// They count as not running afterwards (so [`Ensemble::heal_all`] restarts them).
    pub fn reap_exited(&self) -> Vec<(u64, String)> {
        let mut out = Vec::new();
        for (&id, p) in self.procs.lock().unwrap().iter_mut() {
            if let Some(c) = p.child.as_mut() {
                if let Ok(Some(st)) = c.try_wait() {
                    out.push((id, st.to_string()));
                    p.child = None;
                    p.paused = false;
                }
            }
        }
        out
    }

    /// Sends `cmd` to `node`'s real client port; the whole answer, or None (not listening,
    /// paused, an error, or no answer within 1.5 s).
    pub async fn four_letter(&self, node: u64, cmd: &str) -> Option<String> {
        four_letter(self.direct_client_addr(node), cmd).await
    }

    /// `srvr` of `node`; None while it does not serve.
    pub async fn status(&self, node: u64) -> Option<ServerStatus> {
        parse_srvr(&self.four_letter(node, "srvr").await?)
    }

    /// `srvr` of every node, asked concurrently.
    pub async fn statuses(&self) -> Vec<(u64, Option<ServerStatus>)> {
        let mut set = tokio::task::JoinSet::new();
        for &id in &self.ids {
            let addr = self.direct_client_addr(id);
            set.spawn(async move {
                (
                    id,
                    four_letter(addr, "srvr").await.and_then(|t| parse_srvr(&t)),
                )
            });
        }
        let mut out = Vec::new();
        while let Some(r) = set.join_next().await {
            if let Ok(x) = r {
                out.push(x);
            }
        }
        out.sort_by_key(|(id, _)| *id);
        out
    }

    /// The server that leads now: of those saying `Mode: leader` (during a partition an old
    /// leader may still say so), the one with the newest zxid.
    pub async fn leader(&self) -> Option<u64> {
        self.statuses()
            .await
            .into_iter()
            .filter_map(|(id, s)| s.filter(|s| s.mode == Mode::Leader).map(|s| (s.zxid, id)))
            .max()
            .map(|(_, id)| id)
    }

    /// Waits until every one of `nodes` serves, exactly one leads and the others follow;
    /// returns the leader.
    pub async fn wait_stable_among(&self, nodes: &[u64], timeout: Duration) -> Result<u64> {
        let deadline = Instant::now() + timeout;
        loop {
            let st: Vec<(u64, Option<ServerStatus>)> = self
                .statuses()
                .await
                .into_iter()
                .filter(|(id, _)| nodes.contains(id))
                .collect();
            let leaders: Vec<u64> = st
                .iter()
                .filter(|(_, s)| s.is_some_and(|s| s.mode == Mode::Leader))
                .map(|(id, _)| *id)
                .collect();
            let followers = st
                .iter()
                .filter(|(_, s)| s.is_some_and(|s| s.mode == Mode::Follower))
                .count();
            if leaders.len() == 1 && followers + 1 == nodes.len() {
                return Ok(leaders[0]);
            }
            if Instant::now() >= deadline {
                let modes: Vec<String> = st
                    .iter()
                    .map(|(id, s)| match s {
                        Some(s) => format!("{id}: {:?}", s.mode),
                        None => format!("{id}: not serving"),
                    })
                    .collect();
                bail!(
                    "no stable leader among {nodes:?} within {timeout:?} ({}); logs in {}",
                    modes.join(", "),
                    self.opts.run_dir.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// [`Ensemble::wait_stable_among`] all nodes.
    pub async fn wait_stable(&self, timeout: Duration) -> Result<u64> {
        let nodes = self.ids.clone();
        self.wait_stable_among(&nodes, timeout).await
    }

    /// Waits until some node of `nodes` leads with every other node of `nodes` following it
    /// (nodes outside may say anything); returns it.
    pub async fn wait_leader_among(&self, nodes: &[u64], timeout: Duration) -> Result<u64> {
        self.wait_stable_among(nodes, timeout).await
    }

    /// `node`'s last zxid (`srvr`) and znode and ephemeral counts (`mntr`).
    pub async fn final_state(&self, node: u64) -> Result<FinalState> {
        let srvr = self
            .four_letter(node, "srvr")
            .await
            .ok_or_else(|| anyhow!("node {node}: no answer to srvr"))?;
        let st = parse_srvr(&srvr).ok_or_else(|| anyhow!("node {node} does not serve: {srvr}"))?;
        let mntr = self
            .four_letter(node, "mntr")
            .await
            .ok_or_else(|| anyhow!("node {node}: no answer to mntr"))?;
        let key = |k: &str| -> Result<u64> {
            mntr.lines()
                .find_map(|l| l.strip_prefix(k)?.strip_prefix('\t'))
                .ok_or_else(|| anyhow!("node {node}: no {k} in mntr"))?
                .trim()
                .parse()
                .with_context(|| format!("node {node}: {k}"))
        };
        Ok(FinalState {
            last_zxid: st.zxid,
            znode_count: key("zk_znode_count")?,
            ephemerals_count: key("zk_ephemerals_count")?,
        })
    }

    /// Every node's [`FinalState`] (an error for a node that does not answer).
    pub async fn final_states(&self) -> Vec<(u64, Result<FinalState>)> {
        let mut out = Vec::new();
        for &id in &self.ids {
            out.push((id, self.final_state(id).await));
        }
        out
    }

    /// Waits until every node reports the same [`FinalState`] twice in a row (100 ms apart);
    /// returns it, or an error listing what each node said at the deadline.
    pub async fn wait_converged(&self, timeout: Duration) -> Result<FinalState> {
        let deadline = Instant::now() + timeout;
        let mut last: Option<FinalState> = None;
        loop {
            let states = self.final_states().await;
            let first = states[0].1.as_ref().ok().copied();
            let agreed = first.filter(|f| states.iter().all(|(_, s)| s.as_ref().ok() == Some(f)));
            if let Some(f) = agreed.filter(|_| agreed == last) {
                return Ok(f);
            }
            last = agreed;
            if Instant::now() >= deadline {
                let said: Vec<String> = states
                    .iter()
                    .map(|(id, s)| match s {
                        Ok(f) => format!("{id}: {f:?}"),
                        Err(e) => format!("{id}: {e:#}"),
                    })
                    .collect();
                bail!(
                    "servers disagree after {timeout:?}: {}; logs in {}",
                    said.join("; "),
                    self.opts.run_dir.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// After [`Ensemble::wait_converged`]: walks every server's whole tree through its own
    /// client port and compares the digests ([`tree_digest`]). A walk that overlaps a change
    /// (some zxid moved, a znode vanished) is retried, up to 5 times. Returns the agreed
    /// state and digest, or an error naming what differs.
    pub async fn same_tree(&self, timeout: Duration) -> Result<(FinalState, TreeDigest)> {
        let mut last_err = anyhow!("no attempt");
        for _ in 0..5 {
            let mut clients = Vec::new();
            for &id in &self.ids {
                clients.push((id, walker(self.direct_client_addr(id), timeout).await?));
            }
            let before = self.wait_converged(timeout).await?;
            let mut digests = Vec::new();
            let mut walked = true;
            for (id, c) in &clients {
                match tree_digest(c, timeout).await {
                    Ok(d) => digests.push((*id, d)),
                    Err(e) => {
                        last_err = e;
                        walked = false;
                        break;
                    }
                }
            }
            let after = self.final_states().await;
            for (_, c) in clients {
                c.close().await;
            }
            if !walked || after.iter().any(|(_, s)| s.as_ref().ok() != Some(&before)) {
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
            let (first_id, first) = &digests[0];
            let odd: Vec<String> = digests[1..]
                .iter()
                .filter(|(_, d)| d.digest != first.digest || d.nodes != first.nodes)
                .map(|(id, d)| {
                    format!(
                        "node {id}: {} znodes, digest {:#018x}, vs node {first_id}: {}",
                        d.nodes,
                        d.digest,
                        first.differences(d, 5).join(", ")
                    )
                })
                .collect();
            if !odd.is_empty() {
                bail!(
                    "at zxid {:#x} node {first_id} has {} znodes, digest {:#018x}; {}",
                    before.last_zxid,
                    first.nodes,
                    first.digest,
                    odd.join("; ")
                );
            }
            return Ok((before, digests.swap_remove(0).1));
        }
        Err(last_err.context("the tree kept changing during the walks"))
    }

    /// Undoes every fault: all links open, paused servers resumed, dead servers restarted.
    pub fn heal_all(&self) -> Result<()> {
        self.net.heal_all();
        self.reap_exited();
        for &id in &self.ids {
            if self.is_paused(id) {
                self.resume(id)?;
            }
            if !self.is_running(id) {
                self.start_node(id)?;
            }
        }
        Ok(())
    }

    /// Stops every server: SIGCONT to paused ones, SIGTERM, then SIGKILL to any still running
    /// after `grace`.
    pub async fn stop_all(&self, grace: Duration) {
        for &id in &self.ids {
            if self.is_paused(id) {
                let _ = self.resume(id);
            }
            if self.is_running(id) {
                let _ = self.signal(id, "TERM");
            }
        }
        let deadline = Instant::now() + grace;
        loop {
            let running = self.ids.iter().any(|&id| {
                let mut procs = self.procs.lock().unwrap();
                let p = procs.get_mut(&id).unwrap();
                match p.child.as_mut().map(Child::try_wait) {
                    Some(Ok(None)) => true,
                    Some(_) => {
                        p.child = None;
                        false
                    }
                    None => false,
                }
            });
            if !running || Instant::now() >= deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        for &id in &self.ids {
            self.kill(id);
        }
        self.unmount_all();
    }
}

impl Drop for Ensemble {
    fn drop(&mut self) {
        if let Ok(procs) = self.procs.get_mut() {
            for p in procs.values_mut() {
                if let Some(mut c) = p.child.take() {
                    let _ = c.kill();
                    let _ = c.wait();
                }
            }
        }
        self.unmount_all();
    }
}

async fn four_letter(addr: SocketAddr, cmd: &str) -> Option<String> {
    let ask = async {
        let mut s = TcpStream::connect(addr).await.ok()?;
        s.write_all(cmd.as_bytes()).await.ok()?;
        let mut out = Vec::new();
        s.read_to_end(&mut out).await.ok()?;
        String::from_utf8(out).ok()
    };
    tokio::time::timeout(FLW_TIMEOUT, ask).await.ok().flatten()
}

fn parse_srvr(text: &str) -> Option<ServerStatus> {
    let field = |k: &str| text.lines().find_map(|l| l.strip_prefix(k));
    let mode = Mode::parse(field("Mode: ")?)?;
    let zxid = field("Zxid: ")?.trim();
    let zxid = i64::from_str_radix(zxid.strip_prefix("0x").unwrap_or(zxid), 16)
        .or_else(|_| {
            u64::from_str_radix(zxid.strip_prefix("0x").unwrap_or(zxid), 16).map(|z| z as i64)
        })
        .ok()?;
    let node_count = field("Node count: ")?.trim().parse().ok()?;
    Some(ServerStatus {
        mode,
        zxid,
        node_count,
    })
}

/// Finds the `zk-server` binary: `$ZK_SERVER_BIN` if set, else the one of this workspace's
/// target directory, built with `cargo build -p zk-server` first (a no-op when it is fresh).
/// `exe` is a path inside the target directory (a test's `std::env::current_exe()`);
/// `profile` is `debug` or `release`.
pub fn locate_zk_server(exe: &Path, profile: &str) -> Result<PathBuf> {
    if let Some(bin) = std::env::var_os("ZK_SERVER_BIN") {
        let bin = PathBuf::from(bin);
        if !bin.is_file() {
            bail!("ZK_SERVER_BIN={} is not a file", bin.display());
        }
        return Ok(bin);
    }
    // target/<profile>/deps/<test> → target
    let target = exe
        .ancestors()
        .find(|a| a.file_name().is_some_and(|n| n == profile))
        .and_then(Path::parent)
        .ok_or_else(|| anyhow!("no {profile} directory above {}", exe.display()))?;
    let bin = target.join(profile).join("zk-server");
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .ok_or_else(|| anyhow!("no workspace"))?;
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(workspace)
        .args(["build", "-q", "-p", "zk-server", "--bin", "zk-server"])
        .env("CARGO_TARGET_DIR", target)
        .stdin(Stdio::null());
    if profile == "release" {
        cmd.arg("--release");
    }
    let built = cmd.status();
    if bin.is_file() {
        return Ok(bin);
    }
    bail!(
        "{} not found and `cargo build -p zk-server` did not make it ({built:?})",
        bin.display()
    )
}

/// Creates a fresh, empty run directory `<base>/<name>-<pid>-<n>`.
pub fn fresh_run_dir(base: &Path, name: &str) -> Result<PathBuf> {
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = base.join(format!("{name}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// An [`Ensemble`] is shared between tasks.
const _: fn() = || {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Ensemble>();
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix_is_deterministic_and_spread() {
        let mut a = SplitMix64::new(7);
        let mut b = SplitMix64::new(7);
        let xs: Vec<u64> = (0..100).map(|_| a.below(5)).collect();
        let ys: Vec<u64> = (0..100).map(|_| b.below(5)).collect();
        assert_eq!(xs, ys);
        for k in 0..5 {
            assert!(xs.contains(&k));
        }
    }

    #[test]
    fn parses_srvr() {
        let t = "Zookeeper version: 3.8.4, built on 1970-01-01 00:00 UTC\nLatency min/avg/max: 0/0.0/0\n\
                 Received: 1\nSent: 0\nConnections: 1\nOutstanding: 0\nZxid: 0x100000003\nMode: leader\nNode count: 5\n";
        assert_eq!(
            parse_srvr(t),
            Some(ServerStatus {
                mode: Mode::Leader,
                zxid: 0x1_0000_0003,
                node_count: 5
            })
        );
        assert_eq!(
            parse_srvr("This ZooKeeper instance is not currently serving requests\n"),
            None
        );
    }
}
