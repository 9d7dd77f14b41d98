//! cluster-bench: a 3-server replicated ensemble of real processes on 127.0.0.1 (zkrs's
//! `zk-server`, and with `--apache` Apache ZooKeeper 3.8 from Debian's package, side by side in
//! the same run), measuring
//!
//! 1. **election time after `kill -9` of the leader**: the ensemble is started and left to
//!    elect a leader; then, each round, the leader's PID gets SIGKILL and `srvr` is polled on
//!    the two survivors every 10 ms until both serve, one as leader and one as follower
//!    (*elected*); a new session on the survivor that follows then creates a znode (*write*,
//!    also timed from the kill); the killed server is restarted and polled until it serves as
//!    a follower (*rejoin*, timed from its restart). Each round and the median/min/max are
//!    reported.
//! 2. **write throughput** for 1, 16 and 64 clients: for each op and client count a fresh
//!    ensemble is started; client `i` connects to server `1 + i % 3` (so clients are spread
//!    round-robin over leader and followers), with its own session and one request in flight,
//!    doing `create` of new znodes, or `setData` on its own znode, with 100-byte values, for
//!    `--duration` seconds after a `--warmup`. Ops completed in the window give ops/s; client
//!    side latencies give median and p99.
//!
//! Servers run with `tickTime=2000` (ZooKeeper's default, so the figures compare with Apache's;
//! `--tick` changes it), `initLimit=10`, `syncLimit=5`, `forceSync=yes` (fdatasync of the txn
//! log before a proposal is acknowledged, the default) and their dataDirs under a temp dir (the
//! filesystem is printed). Every process is stopped by its PID, also on an error (the ensemble
//! is a guard that kills its children when dropped); every wait is bounded by `--timeout`.
//! Directories are deleted at the end unless a phase failed or `--keep` is given (the servers'
//! logs are in them).
//!
//! Build both binaries in release mode first (the bench runs the `zk-server` found beside its
//! own executable unless `--zk-server PATH` says otherwise), and for `--apache` install Debian's
//! package (`apt-get install -y zookeeper`, which brings a JRE):
//!
//! ```text
//! cargo build --release -p zk-server -p zkrs-benches
//! target/release/cluster-bench                           # zkrs: 7 rounds, 10 s per run
//! target/release/cluster-bench --apache --rounds 3 --duration 5 --ops set
//! target/release/cluster-bench --zk-server /path/to/zk-server --phases election --tick 200
//! ```
//!
//! Run by hand only (never from tests): it takes minutes and the figures depend on the
//! machine. All servers and clients share the machine's CPUs and disk, so the throughput is
//! that of a pseudo-cluster, not of three hosts.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use zkrs_benches::args::Args;
use zkrs_benches::client::write_until_ok;
use zkrs_benches::ensemble::{default_zk_server, Ensemble, Flavor, Settings};
use zkrs_benches::json::{self, Obj};
use zkrs_benches::stats::{fmt_us, median, Latencies};
use zkrs_benches::workload::{self, Op, Workload};
use zkrs_benches::{procfs, value_bytes};

const USAGE: &str = "\
cluster-bench: election time after kill -9 of the leader, and write throughput, of a 3-server
ensemble of real processes on 127.0.0.1 (zkrs, and Apache ZooKeeper with --apache)

usage: cluster-bench [--zk-server PATH] [--apache] [--phases election,writes] [--rounds N]
                     [--tick MS] [--clients 1,16,64] [--duration S] [--warmup S]
                     [--value-size B] [--ops create,set] [--dir DIR] [--timeout S]
                     [--client-threads N] [--keep]

  --zk-server PATH  the zk-server binary (default: beside this executable, else
                    target/release/zk-server); build it with
                    cargo build --release -p zk-server -p zkrs-benches
  --apache          also measure Apache ZooKeeper 3.8 from Debian's package
                    (apt-get install -y zookeeper), launched as scripts/interop.sh does
  --phases          election and/or writes (default both)
  --rounds N        leader kills (default 7)
  --tick MS         tickTime in ms (default 2000, ZooKeeper's default)
  --clients         client counts of the write phase (default 1,16,64); client i connects
                    to server 1 + i % 3
  --duration S      measured seconds per write run (default 10)
  --warmup S        seconds of writes before measuring (default 2)
  --value-size B    bytes per create/setData (default 100)
  --ops             create (a new znode per op) and/or set (setData on the client's own znode);
                    default both
  --dir DIR         where the servers' dataDirs go (default: the temp dir)
  --timeout S       bound of every wait: startup, election, rejoin, first write (default 60)
  --client-threads  tokio workers of the clients (default 2)
  --keep            keep the data directories and server logs";

/// `srvr` is polled this often while an election or a rejoin is timed.
const POLL: Duration = Duration::from_millis(10);

/// Pause between a rejoin and the next kill, so that the restarted server has settled.
const SETTLE: Duration = Duration::from_secs(1);

#[derive(Debug, Clone)]
struct Params {
    zk_server: PathBuf,
    apache: bool,
    election: bool,
    writes: bool,
    rounds: usize,
    tick_ms: u64,
    clients: Vec<usize>,
    duration: Duration,
    warmup: Duration,
    value_size: usize,
    ops: Vec<Op>,
    dir: PathBuf,
    timeout: Duration,
    client_threads: usize,
    keep: bool,
}

fn parse_args() -> Result<Option<Params>> {
    let mut a = Args::from_env();
    if a.flag("--help") || a.flag("-h") {
        println!("{USAGE}");
        return Ok(None);
    }
    let zk_server = a
        .value("--zk-server")?
        .map_or_else(default_zk_server, PathBuf::from);
    let apache = a.flag("--apache");
    let phases: Vec<String> = a.list("--phases", &["election".into(), "writes".into()])?;
    for ph in &phases {
        if ph != "election" && ph != "writes" {
            bail!("unknown phase {ph:?} (election, writes)");
        }
    }
    let rounds: usize = a.parse("--rounds", 7)?;
    let tick_ms: u64 = a.parse("--tick", 2000)?;
    let clients: Vec<usize> = a.list("--clients", &[1, 16, 64])?;
    let duration: f64 = a.parse("--duration", 10.0)?;
    let warmup: f64 = a.parse("--warmup", 2.0)?;
    let value_size: usize = a.parse("--value-size", 100)?;
    let ops = Op::from_args(&mut a)?;
    let dir = a
        .value("--dir")?
        .map_or_else(std::env::temp_dir, PathBuf::from);
    let timeout: f64 = a.parse("--timeout", 60.0)?;
    let client_threads: usize = a.parse("--client-threads", 2)?;
    let keep = a.flag("--keep");
    a.finish()?;
    if rounds == 0 || tick_ms == 0 || client_threads == 0 {
        bail!("--rounds, --tick and --client-threads must be positive");
    }
    if clients.is_empty() || clients.contains(&0) || ops.is_empty() {
        bail!("--clients and --ops must be non-empty (and client counts positive)");
    }
    if duration <= 0.0 || warmup < 0.0 || timeout <= 0.0 {
        bail!("--duration and --timeout must be positive, --warmup not negative");
    }
    Ok(Some(Params {
        zk_server,
        apache,
        election: phases.iter().any(|p| p == "election"),
        writes: phases.iter().any(|p| p == "writes"),
        rounds,
        tick_ms,
        clients,
        duration: Duration::from_secs_f64(duration),
        warmup: Duration::from_secs_f64(warmup),
        value_size,
        ops,
        dir,
        timeout: Duration::from_secs_f64(timeout),
        client_threads,
        keep,
    }))
}

fn main() -> Result<()> {
    let Some(p) = parse_args()? else {
        return Ok(());
    };
    if !p.zk_server.is_file() {
        bail!(
            "{} not found: build it with `cargo build --release -p zk-server -p zkrs-benches` \
             or name it with --zk-server PATH",
            p.zk_server.display()
        );
    }
    let mut flavors = vec![Flavor::Zkrs {
        bin: std::fs::canonicalize(&p.zk_server)?,
    }];
    if p.apache {
        flavors.push(Flavor::apache_debian()?);
    }
    let base = p
        .dir
        .join(format!("zkrs-cluster-bench-{}", std::process::id()));
    std::fs::create_dir_all(&base).with_context(|| format!("creating {}", base.display()))?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(p.client_threads)
        .thread_name("bench-client")
        .enable_all()
        .build()?;

    let env = describe_env(&p, &base, &flavors);
    for l in &env {
        eprintln!("{l}");
    }
    if p.zk_server.components().any(|c| c.as_os_str() == "debug") {
        eprintln!(
            "WARNING: {} looks like a debug build",
            p.zk_server.display()
        );
    }

    let mut failures = Vec::new();
    let mut elections = Vec::new();
    if p.election {
        for f in &flavors {
            eprintln!();
            eprintln!("election, {}: {} rounds", f.name(), p.rounds);
            match election(f, &p, &base, &rt) {
                Ok(e) => elections.push(e),
                Err(e) => {
                    eprintln!("  FAILED: {e:#}");
                    failures.push(format!("election/{}: {e:#}", f.name()));
                }
            }
        }
    }
    let mut writes = Vec::new();
    if p.writes {
        eprintln!();
        eprintln!("writes");
        for &op in &p.ops {
            for &clients in &p.clients {
                for f in &flavors {
                    match write_run(f, &p, &base, &rt, op, clients) {
                        Ok(r) => {
                            eprintln!("  {}", r.line());
                            writes.push(r);
                        }
                        Err(e) => {
                            eprintln!(
                                "  {} {} {clients} clients FAILED: {e:#}",
                                f.name(),
                                op.name()
                            );
                            failures.push(format!(
                                "writes/{}/{}/{clients}: {e:#}",
                                f.name(),
                                op.name()
                            ));
                        }
                    }
                }
            }
        }
    }

    report(&p, &env, &flavors, &elections, &writes, &failures);
    drop(rt);
    if failures.is_empty() && !p.keep {
        let _ = std::fs::remove_dir_all(&base);
    } else {
        println!(
            "  data directories and server logs kept in {}",
            base.display()
        );
    }
    if !failures.is_empty() {
        bail!("{} measurement(s) failed", failures.len());
    }
    Ok(())
}

fn settings(p: &Params) -> Settings {
    Settings {
        tick_ms: p.tick_ms,
        ..Settings::default()
    }
}

/// Lines describing the machine, the storage and the servers.
fn describe_env(p: &Params, base: &Path, flavors: &[Flavor]) -> Vec<String> {
    let fs = procfs::filesystem_of(base).map_or("?".to_owned(), |(t, s)| format!("{t} on {s}"));
    let mut v = vec![
        format!(
            "machine: {} CPUs (servers and clients share them), load average {}",
            std::thread::available_parallelism().map_or(0, |n| n.get()),
            std::fs::read_to_string("/proc/loadavg")
                .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
                .unwrap_or_else(|_| "?".into())
        ),
        format!(
            "storage: dataDirs under {} ({fs}), forceSync=yes, tickTime={} ms, initLimit=10, \
             syncLimit=5",
            base.display(),
            p.tick_ms
        ),
    ];
    for f in flavors {
        v.push(format!("{}: {}", f.name(), f.describe()));
    }
    v
}

// ---------------------------------------------------------------------------------------------
// Phase 1: election after kill -9 of the leader

#[derive(Debug, Clone)]
struct Round {
    killed: u64,
    new_leader: u64,
    /// SIGKILL to both survivors serving, one leading and one following.
    elected: Duration,
    /// SIGKILL to a znode created by a new session on the survivor that follows.
    write: Duration,
    /// Restart of the killed server to it serving as a follower.
    rejoin: Duration,
}

#[derive(Debug, Clone)]
struct Election {
    flavor: &'static str,
    /// Start of the three servers to a stable leader.
    startup: Duration,
    first_leader: u64,
    rounds: Vec<Round>,
}

fn election(
    flavor: &Flavor,
    p: &Params,
    base: &Path,
    rt: &tokio::runtime::Runtime,
) -> Result<Election> {
    let root = base.join(format!("{}-election", flavor.name()));
    let mut e = Ensemble::create(flavor.clone(), &root, 3, &settings(p))?;
    let all = e.ids();
    let t0 = Instant::now();
    e.start_all()?;
    let (first_leader, seen) = e
        .wait_stable(&all, p.timeout, POLL)
        .context("waiting for the first leader")?;
    let startup = seen - t0;
    eprintln!("  started; leader {first_leader} after {}", fmt_ms(startup));
    let mut leader = first_leader;
    let mut rounds = Vec::new();
    for n in 1..=p.rounds {
        std::thread::sleep(SETTLE);
        e.check_running(&all)?;
        let survivors: Vec<u64> = all.iter().copied().filter(|&i| i != leader).collect();
        let pid = e.node(leader).pid().unwrap_or(0);

        let killed_at = Instant::now();
        e.kill(leader)?;
        let (new_leader, seen) = e
            .wait_stable(&survivors, p.timeout, POLL)
            .with_context(|| format!("round {n}: electing a new leader"))?;
        let elected = seen - killed_at;

        let follower = survivors
            .iter()
            .copied()
            .find(|&i| i != new_leader)
            .expect("two survivors");
        let addr = e.node(follower).client_addr();
        let path = format!("/cluster-bench-round-{n}");
        let done = rt
            .block_on(write_until_ok(&[addr], path, killed_at + p.timeout))
            .with_context(|| format!("round {n}: writing through server {follower}"))?;
        let write = done - killed_at;

        let restarted_at = Instant::now();
        e.start(leader)?;
        let (now_leader, rejoined) = e
            .wait_stable(&all, p.timeout, POLL)
            .with_context(|| format!("round {n}: server {leader} rejoining"))?;
        if now_leader != new_leader {
            eprintln!("    note: the leadership moved to {now_leader} when {leader} rejoined");
        }
        let rejoin = rejoined - restarted_at;
        eprintln!(
            "  round {n}: kill -9 leader {leader} (pid {pid}): server {new_leader} leads after {}, \
             write ok after {}; {leader} rejoined as follower in {}",
            fmt_ms(elected),
            fmt_ms(write),
            fmt_ms(rejoin)
        );
        rounds.push(Round {
            killed: leader,
            new_leader,
            elected,
            write,
            rejoin,
        });
        leader = now_leader;
    }
    e.remove()?;
    Ok(Election {
        flavor: flavor.name(),
        startup,
        first_leader,
        rounds,
    })
}

// ---------------------------------------------------------------------------------------------
// Phase 2: write throughput

#[derive(Debug, Clone)]
struct WriteRun {
    flavor: &'static str,
    op: Op,
    clients: usize,
    leader: u64,
    /// Clients connected to the leader.
    on_leader: usize,
    ops: u64,
    secs: f64,
    lat: Latencies,
    errors: u64,
    /// CPU seconds of the three server processes in the window.
    servers_cpu: Option<f64>,
    /// CPU seconds of this process (the clients) in the window.
    clients_cpu: Option<f64>,
    /// CPU seconds of everything else on the machine in the window (other processes, and
    /// interrupt and softirq time, which no process is charged for).
    others_cpu: Option<f64>,
}

impl WriteRun {
    fn ops_per_sec(&self) -> f64 {
        self.ops as f64 / self.secs
    }

    fn pct(&self, cpu: Option<f64>) -> String {
        cpu.map_or("-".to_owned(), |c| format!("{:.0}%", 100.0 * c / self.secs))
    }

    fn line(&self) -> String {
        format!(
            "{:<6} {:<6} {:>3} clients ({} on leader {}): {:>7.0} ops/s  p50 {:>8}  p99 {:>8}  \
             max {:>8}  cpu: servers {} clients {} others {}{}",
            self.flavor,
            self.op.name(),
            self.clients,
            self.on_leader,
            self.leader,
            self.ops_per_sec(),
            fmt_us(self.lat.p50_us),
            fmt_us(self.lat.p99_us),
            fmt_us(self.lat.max_us),
            self.pct(self.servers_cpu),
            self.pct(self.clients_cpu),
            self.pct(self.others_cpu),
            if self.errors > 0 {
                format!("  ERRORS {}", self.errors)
            } else {
                String::new()
            }
        )
    }

    fn json(&self) -> Obj {
        let opt = |v: Option<f64>| v.map_or("null".into(), json::num);
        Obj::new()
            .str("server", self.flavor)
            .str("op", self.op.name())
            .uint("clients", self.clients as u64)
            .uint("leader", self.leader)
            .uint("clients_on_leader", self.on_leader as u64)
            .uint("ops", self.ops)
            .num("secs", self.secs)
            .num("ops_per_sec", self.ops_per_sec())
            .uint("p50_us", self.lat.p50_us)
            .uint("p99_us", self.lat.p99_us)
            .uint("max_us", self.lat.max_us)
            .num("mean_us", self.lat.mean_us)
            .uint("errors", self.errors)
            .raw("servers_cpu_secs", opt(self.servers_cpu))
            .raw("clients_cpu_secs", opt(self.clients_cpu))
            .raw("others_cpu_secs", opt(self.others_cpu))
    }
}

fn write_run(
    flavor: &Flavor,
    p: &Params,
    base: &Path,
    rt: &tokio::runtime::Runtime,
    op: Op,
    clients: usize,
) -> Result<WriteRun> {
    let root = base.join(format!("{}-{}-{clients}", flavor.name(), op.name()));
    let mut e = Ensemble::create(flavor.clone(), &root, 3, &settings(p))?;
    let all = e.ids();
    e.start_all()?;
    let (leader, _) = e
        .wait_stable(&all, p.timeout, Duration::from_millis(50))
        .context("waiting for a leader")?;
    let targets: Vec<(u64, SocketAddr)> = (0..clients)
        .map(|i| {
            let n = &e.nodes[i % e.nodes.len()];
            (n.id, n.client_addr())
        })
        .collect();
    let on_leader = targets.iter().filter(|(id, _)| *id == leader).count();
    let pids: Vec<u32> = e.nodes.iter().filter_map(|n| n.pid()).collect();
    let addrs: Vec<SocketAddr> = targets.iter().map(|(_, a)| *a).collect();
    let mut r = rt.block_on(drive(&addrs, &pids, p, op))?;
    // A server that died during the run fails it.
    e.check_running(&all)?;
    e.remove()?;
    r.flavor = flavor.name();
    r.leader = leader;
    r.on_leader = on_leader;
    Ok(r)
}

/// Counters read at the window's edges.
struct Counters {
    servers: Option<f64>,
    own: Option<f64>,
    busy: Option<f64>,
}

impl Counters {
    fn read(pids: &[u32]) -> Counters {
        Counters {
            servers: pids
                .iter()
                .map(|&pid| procfs::pid_cpu_seconds(pid))
                .sum::<Option<f64>>(),
            own: procfs::cpu_seconds(),
            busy: procfs::system_busy_seconds(),
        }
    }
}

fn diff(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    Some(b? - a?)
}

async fn drive(addrs: &[SocketAddr], pids: &[u32], p: &Params, op: Op) -> Result<WriteRun> {
    let mut conns = workload::connect_all(addrs).await?;
    let value = value_bytes(p.value_size, 1);
    workload::create_own_znodes(&mut conns, &value).await?;

    let w = Workload::start(conns, op, &value, p.warmup, p.duration, 16 * 1024);
    w.until_warm().await;
    let before = Counters::read(pids);
    w.until_end().await;
    let after = Counters::read(pids);

    let (lat, errors) = w.finish().await?;
    let servers_cpu = diff(before.servers, after.servers);
    let clients_cpu = diff(before.own, after.own);
    let others_cpu = match (diff(before.busy, after.busy), servers_cpu, clients_cpu) {
        (Some(b), Some(s), Some(c)) => Some((b - s - c).max(0.0)),
        _ => None,
    };
    Ok(WriteRun {
        flavor: "",
        op,
        clients: addrs.len(),
        leader: 0,
        on_leader: 0,
        ops: lat.count,
        secs: p.duration.as_secs_f64(),
        lat,
        errors,
        servers_cpu,
        clients_cpu,
        others_cpu,
    })
}

// ---------------------------------------------------------------------------------------------
// Report

fn fmt_ms(d: Duration) -> String {
    format!("{:.0}ms", d.as_secs_f64() * 1e3)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// (median, min, max) in ms.
fn summary(v: &[Duration]) -> (f64, f64, f64) {
    let xs: Vec<f64> = v.iter().map(|&d| ms(d)).collect();
    (
        median(&xs),
        xs.iter().copied().fold(f64::INFINITY, f64::min),
        xs.iter().copied().fold(0.0, f64::max),
    )
}

fn report(
    p: &Params,
    env: &[String],
    flavors: &[Flavor],
    elections: &[Election],
    writes: &[WriteRun],
    failures: &[String],
) {
    let ops: Vec<&str> = p.ops.iter().map(|o| o.name()).collect();
    let clients: Vec<String> = p.clients.iter().map(|c| c.to_string()).collect();
    println!();
    println!("cluster-bench (3 servers on 127.0.0.1)");
    println!(
        "  parameters: --rounds {} --tick {} --clients {} --duration {} --warmup {} \
         --value-size {} --ops {}{}",
        p.rounds,
        p.tick_ms,
        clients.join(","),
        p.duration.as_secs_f64(),
        p.warmup.as_secs_f64(),
        p.value_size,
        ops.join(","),
        if p.apache { " --apache" } else { "" }
    );
    for l in env {
        println!("  {l}");
    }

    let mut json_elections = Vec::new();
    if !elections.is_empty() {
        println!();
        println!(
            "  election after kill -9 of the leader ({} rounds; ms; srvr polled every {} ms)",
            p.rounds,
            POLL.as_millis()
        );
        println!(
            "    elected: SIGKILL -> both survivors serve, one leader + one follower; \
             write: SIGKILL -> a new session on the follower created a znode; \
             rejoin: restart -> the killed server serves as follower"
        );
        println!(
            "    {:<7} | {:>8} {:>6} {:>6} | {:>8} {:>6} {:>6} | {:>8} {:>6} {:>6} | {:>7}",
            "server",
            "elected",
            "min",
            "max",
            "write",
            "min",
            "max",
            "rejoin",
            "min",
            "max",
            "startup"
        );
        for e in elections {
            let el: Vec<Duration> = e.rounds.iter().map(|r| r.elected).collect();
            let wr: Vec<Duration> = e.rounds.iter().map(|r| r.write).collect();
            let rj: Vec<Duration> = e.rounds.iter().map(|r| r.rejoin).collect();
            let (a, b, c) = (summary(&el), summary(&wr), summary(&rj));
            println!(
                "    {:<7} | {:>8.0} {:>6.0} {:>6.0} | {:>8.0} {:>6.0} {:>6.0} | {:>8.0} {:>6.0} {:>6.0} | {:>7.0}",
                e.flavor,
                a.0,
                a.1,
                a.2,
                b.0,
                b.1,
                b.2,
                c.0,
                c.1,
                c.2,
                ms(e.startup)
            );
            json_elections.push(
                Obj::new()
                    .str("server", e.flavor)
                    .num("startup_ms", ms(e.startup))
                    .uint("first_leader", e.first_leader)
                    .num("elected_median_ms", a.0)
                    .num("elected_min_ms", a.1)
                    .num("elected_max_ms", a.2)
                    .num("write_median_ms", b.0)
                    .num("rejoin_median_ms", c.0)
                    .raw(
                        "rounds",
                        json::array(e.rounds.iter().map(|r| {
                            Obj::new()
                                .uint("killed", r.killed)
                                .uint("new_leader", r.new_leader)
                                .num("elected_ms", ms(r.elected))
                                .num("write_ms", ms(r.write))
                                .num("rejoin_ms", ms(r.rejoin))
                                .render()
                        })),
                    ),
            );
        }
        for e in elections {
            let rounds: Vec<String> = e
                .rounds
                .iter()
                .map(|r| {
                    format!(
                        "{}->{} {:.0}/{:.0}/{:.0}",
                        r.killed,
                        r.new_leader,
                        ms(r.elected),
                        ms(r.write),
                        ms(r.rejoin)
                    )
                })
                .collect();
            println!(
                "    {} rounds (killed->new leader elected/write/rejoin ms): {}",
                e.flavor,
                rounds.join(", ")
            );
        }
        if let [z, a] = elections {
            let ratio = |f: fn(&Round) -> Duration| {
                let m =
                    |e: &Election| median(&e.rounds.iter().map(|r| ms(f(r))).collect::<Vec<_>>());
                m(z) / m(a)
            };
            println!(
                "    {}/{} medians (below 1: {} is faster): elected x{:.2}, write x{:.2}, rejoin x{:.2}",
                z.flavor,
                a.flavor,
                z.flavor,
                ratio(|r| r.elected),
                ratio(|r| r.write),
                ratio(|r| r.rejoin)
            );
        }
    }

    if !writes.is_empty() {
        println!();
        println!(
            "  write throughput, {} s per run after {} s warm-up, {}-byte values, one request in \
             flight per client, client i on server 1 + i % 3",
            p.duration.as_secs_f64(),
            p.warmup.as_secs_f64(),
            p.value_size
        );
        let names: Vec<&str> = flavors.iter().map(Flavor::name).collect();
        // Columns per server: ops/s, p50, p99, and the CPU of the servers, the clients and
        // everything else on the machine in the window.
        const W: usize = 9 + 1 + 8 + 1 + 8 + 3 * 5 + 3;
        let mut group = format!("    {:<14}", "");
        let mut head = format!("    {:<6} {:>7}", "op", "clients");
        for n in &names {
            group.push_str(&format!(" | {:-<W$}", format!("{n} ")));
            head.push_str(&format!(
                " | {:>9} {:>8} {:>8} {:>5} {:>5} {:>5}",
                "ops/s", "p50", "p99", "srv", "cli", "oth"
            ));
        }
        if names.len() == 2 {
            group.push_str(&format!(" | {}/{}", names[0], names[1]));
            head.push_str(&format!(" | {:>5}", "ops/s"));
        }
        println!("{group}");
        println!("{head}");
        for &op in &p.ops {
            for &c in &p.clients {
                let mut line = format!("    {:<6} {:>7}", op.name(), c);
                let found: Vec<Option<&WriteRun>> = names
                    .iter()
                    .map(|n| {
                        writes
                            .iter()
                            .find(|r| r.flavor == *n && r.op == op && r.clients == c)
                    })
                    .collect();
                for r in &found {
                    match r {
                        Some(r) => line.push_str(&format!(
                            " | {:>9.0} {:>8} {:>8} {:>5} {:>5} {:>5}",
                            r.ops_per_sec(),
                            fmt_us(r.lat.p50_us),
                            fmt_us(r.lat.p99_us),
                            r.pct(r.servers_cpu),
                            r.pct(r.clients_cpu),
                            r.pct(r.others_cpu)
                        )),
                        None => line.push_str(&format!(" | {:>9} {:w$}", "failed", "", w = W - 10)),
                    }
                }
                if let [Some(z), Some(a)] = found.as_slice() {
                    if a.ops > 0 {
                        line.push_str(&format!(" | x{:.2}", z.ops_per_sec() / a.ops_per_sec()));
                    }
                }
                println!("{line}");
            }
        }
        let errors: u64 = writes.iter().map(|r| r.errors).sum();
        if errors > 0 {
            println!("    WARNING: {errors} replies carried an error code");
        }
        println!(
            "    cpu: share of one CPU in the window taken by the three servers (srv), this \
             process's clients (cli), and everything else (oth: other processes, and interrupt \
             work no process is charged for, e.g. loopback networking; a busy machine skews \
             the figures)"
        );
    }
    if !failures.is_empty() {
        println!();
        for f in failures {
            println!("  FAILED {}", f.lines().next().unwrap_or_default());
        }
    }

    println!();
    println!(
        "{}",
        Obj::new()
            .str("bench", "cluster-bench")
            .obj(
                "params",
                Obj::new()
                    .uint("servers", 3)
                    .uint("rounds", p.rounds as u64)
                    .uint("tick_ms", p.tick_ms)
                    .raw(
                        "clients",
                        json::array(p.clients.iter().map(|c| c.to_string()))
                    )
                    .num("duration_secs", p.duration.as_secs_f64())
                    .num("warmup_secs", p.warmup.as_secs_f64())
                    .uint("value_size", p.value_size as u64)
                    .raw("ops", json::array(ops.iter().map(|o| json::string(o))))
                    .str("force_sync", "yes")
                    .raw("env", json::array(env.iter().map(|l| json::string(l))))
            )
            .raw(
                "elections",
                json::array(json_elections.iter().map(Obj::render))
            )
            .raw(
                "writes",
                json::array(writes.iter().map(|r| r.json().render()))
            )
            .uint("failures", failures.len() as u64)
            .render()
    );
}
