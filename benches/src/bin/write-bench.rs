//! write-bench: closed-loop write throughput and latency of an in-process zk-server, durable
//! (txn log on disk, forceSync=yes: one fdatasync per group commit) and in memory, side by
//! side in the same run.
//!
//! For each op and client count, a fresh server is started (durable on a fresh directory, then
//! in memory); each client has its own connection and session and keeps exactly one request in
//! flight. Ops completed during the measured window (after the warm-up) are counted; latency is
//! measured by the client, from just before the request is written to the reply read.
//!
//! ```text
//! cargo run --release -p zkrs-benches --bin write-bench -- --clients 1,16,64 --duration 10
//! ```

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use zk_server::runtime::{RuntimeConfig, Server, StorageConfig};
use zkrs_benches::args::Args;
use zkrs_benches::json::{self, Obj};
use zkrs_benches::stats::{fmt_us, latencies, Latencies};
use zkrs_benches::workload::{self, micros, Op, Workload};
use zkrs_benches::{procfs, value_bytes};

const USAGE: &str = "\
write-bench: closed-loop create/setData throughput and latency, durable vs in memory

usage: write-bench [--clients 1,16,64] [--duration S] [--warmup S] [--value-size B]
                   [--ops create,set] [--modes durable,memory] [--dir DIR] [--snap-count N]
                   [--server-threads N] [--client-threads N] [--no-perf] [--no-probe]
                   [--wait-quiet S] [--retries N]

  --clients        client counts to run, each client one connection and session with one
                   request in flight (default 1,16,64)
  --duration S     measured seconds per run (default 10)
  --warmup S       seconds run before measuring (default 2)
  --value-size B   bytes per create/setData (default 100)
  --ops            create (a new znode per op) and/or set (setData on the client's own znode)
  --modes          durable (storage on DIR, forceSync=yes) and/or memory (storage: None)
  --dir DIR        parent of the durable servers' data directories (default: the temp dir);
                   each run's directory is deleted after it
  --snap-count N   the durable server's snapCount (default 100000, ZooKeeper's)
  --server-threads tokio workers of the server's runtime (default 2)
  --client-threads tokio workers of the clients' runtime (default 2)
  --no-perf        do not count fdatasync calls with `perf stat` (used when perf is found)
  --no-probe       skip the raw fdatasync probe of the data directory's device
  --wait-quiet S   before each run, wait up to S seconds for the machine to be idle (default
                   0: do not wait); each run reports the CPU other processes took
  --retries N      run again (up to N times) when other processes took over 10% of a CPU
                   during a run's window (default 0)";

/// A run during which other processes took more than this share of a CPU is flagged (and,
/// with `--retries`, run again).
const BUSY_LIMIT: f64 = 0.1;

#[derive(Debug, Clone)]
struct Params {
    clients: Vec<usize>,
    duration: Duration,
    warmup: Duration,
    value_size: usize,
    ops: Vec<Op>,
    modes: Vec<bool>,
    dir: PathBuf,
    snap_count: u32,
    server_threads: usize,
    client_threads: usize,
    perf: bool,
    probe: bool,
    wait_quiet: Duration,
    retries: usize,
}

fn parse_args() -> Result<Option<Params>> {
    let mut a = Args::from_env();
    if a.flag("--help") || a.flag("-h") {
        println!("{USAGE}");
        return Ok(None);
    }
    let clients: Vec<usize> = a.list("--clients", &[1, 16, 64])?;
    let duration: f64 = a.parse("--duration", 10.0)?;
    let warmup: f64 = a.parse("--warmup", 2.0)?;
    let value_size: usize = a.parse("--value-size", 100)?;
    let ops = Op::from_args(&mut a)?;
    let modes = a
        .list::<String>("--modes", &["durable".into(), "memory".into()])?
        .iter()
        .map(|s| match s.as_str() {
            "durable" => Ok(true),
            "memory" => Ok(false),
            o => bail!("unknown mode {o:?} (durable, memory)"),
        })
        .collect::<Result<Vec<_>>>()?;
    let dir = a
        .value("--dir")?
        .map_or_else(std::env::temp_dir, PathBuf::from);
    let snap_count: u32 = a.parse("--snap-count", 100_000)?;
    let server_threads: usize = a.parse("--server-threads", 2)?;
    let client_threads: usize = a.parse("--client-threads", 2)?;
    let no_perf = a.flag("--no-perf");
    let no_probe = a.flag("--no-probe");
    let wait_quiet: f64 = a.parse("--wait-quiet", 0.0)?;
    let retries: usize = a.parse("--retries", 0)?;
    a.finish()?;
    if clients.is_empty() || clients.contains(&0) || ops.is_empty() || modes.is_empty() {
        bail!("--clients, --ops and --modes must be non-empty (and client counts positive)");
    }
    if duration <= 0.0 || warmup < 0.0 || server_threads == 0 || client_threads == 0 {
        bail!("--duration must be positive, --warmup not negative, thread counts positive");
    }
    Ok(Some(Params {
        clients,
        duration: Duration::from_secs_f64(duration),
        warmup: Duration::from_secs_f64(warmup),
        value_size,
        ops,
        modes,
        dir,
        snap_count,
        server_threads,
        client_threads,
        perf: !no_perf && perf_available(),
        probe: !no_probe,
        wait_quiet: Duration::from_secs_f64(wait_quiet.max(0.0)),
        retries,
    }))
}

fn main() -> Result<()> {
    let Some(p) = parse_args()? else {
        return Ok(());
    };
    let base = p
        .dir
        .join(format!("zkrs-write-bench-{}", std::process::id()));
    std::fs::create_dir_all(&base).with_context(|| format!("creating {}", base.display()))?;
    let result = run(&p, &base);
    let _ = std::fs::remove_dir_all(&base);
    result
}

/// What one (op, clients, mode) run measured.
#[derive(Debug, Clone)]
struct RunResult {
    op: Op,
    clients: usize,
    durable: bool,
    ops: u64,
    secs: f64,
    lat: Latencies,
    errors: u64,
    /// fdatasync calls by the whole process in the window, counted by `perf stat` (the server
    /// makes one per group commit; nothing else in the process syncs).
    perf_fdatasyncs: Option<u64>,
    /// Flush requests the data directory's block device completed in the window (device wide).
    device_flushes: Option<u64>,
    /// CPU seconds of the whole process (server + clients) in the window.
    cpu_secs: Option<f64>,
    /// CPU seconds taken by other processes in the window (a busy machine skews the figures).
    others_cpu_secs: Option<f64>,
}

impl RunResult {
    fn ops_per_sec(&self) -> f64 {
        self.ops as f64 / self.secs
    }

    fn mode(&self) -> &'static str {
        if self.durable {
            "durable"
        } else {
            "memory"
        }
    }

    /// The share of one CPU other processes took during the window.
    fn others_share(&self) -> f64 {
        self.others_cpu_secs.map_or(0.0, |c| c / self.secs)
    }

    fn fdatasyncs(&self) -> Option<u64> {
        self.perf_fdatasyncs
    }

    fn json(&self) -> Obj {
        Obj::new()
            .str("op", self.op.name())
            .uint("clients", self.clients as u64)
            .str("mode", self.mode())
            .uint("ops", self.ops)
            .num("secs", self.secs)
            .num("ops_per_sec", self.ops_per_sec())
            .uint("p50_us", self.lat.p50_us)
            .uint("p99_us", self.lat.p99_us)
            .uint("p999_us", self.lat.p999_us)
            .uint("max_us", self.lat.max_us)
            .num("mean_us", self.lat.mean_us)
            .uint("errors", self.errors)
            .opt_uint("fdatasyncs", self.perf_fdatasyncs)
            .opt_uint("device_flushes", self.device_flushes)
            .raw(
                "ops_per_fdatasync",
                self.fdatasyncs()
                    .filter(|&n| n > 0)
                    .map_or("null".into(), |n| json::num(self.ops as f64 / n as f64)),
            )
            .raw("cpu_secs", self.cpu_secs.map_or("null".into(), json::num))
            .raw(
                "others_cpu_secs",
                self.others_cpu_secs.map_or("null".into(), json::num),
            )
    }
}

fn run(p: &Params, base: &Path) -> Result<()> {
    let dev = procfs::device_of(base);
    let dev_name = dev.and_then(procfs::device_name);
    let probe = if p.probe {
        procfs::wait_quiet(p.wait_quiet);
        Some(fdatasync_probe(base, Duration::from_secs(2), p.value_size)?)
    } else {
        None
    };
    if let Some(pr) = &probe {
        eprintln!(
            "probe: {:.0} fdatasync/s on {} (p50 {}, p99 {})",
            pr.per_sec,
            dev_name.as_deref().unwrap_or("?"),
            fmt_us(pr.lat.p50_us),
            fmt_us(pr.lat.p99_us)
        );
    }
    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(p.server_threads)
        .thread_name("zk-server-rt")
        .enable_all()
        .build()?;
    let client_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(p.client_threads)
        .thread_name("bench-client")
        .enable_all()
        .build()?;

    let mut results = Vec::new();
    let mut n = 0;
    for &op in &p.ops {
        for &clients in &p.clients {
            for &durable in &p.modes {
                let mut attempt = 0;
                let r = loop {
                    n += 1;
                    attempt += 1;
                    procfs::wait_quiet(p.wait_quiet);
                    let dir = base.join(format!("run-{n}"));
                    let r = run_one(&server_rt, &client_rt, p, op, clients, durable, &dir, dev)
                        .with_context(|| {
                            format!(
                                "{} with {clients} clients, {}",
                                op.name(),
                                if durable { "durable" } else { "memory" }
                            )
                        })?;
                    let _ = std::fs::remove_dir_all(&dir);
                    eprintln!(
                        "  {:<6} {:>3} clients {:<7}: {:>9.0} ops/s  p50 {:>8}  p99 {:>8}  max {:>8}{}  others {:.0}%",
                        op.name(),
                        clients,
                        r.mode(),
                        r.ops_per_sec(),
                        fmt_us(r.lat.p50_us),
                        fmt_us(r.lat.p99_us),
                        fmt_us(r.lat.max_us),
                        r.fdatasyncs()
                            .map_or(String::new(), |f| format!("  fdatasyncs {f}")),
                        100.0 * r.others_share()
                    );
                    if r.others_share() <= BUSY_LIMIT || attempt > p.retries {
                        break r;
                    }
                    eprintln!("    discarded: the machine was busy; running again");
                };
                results.push(r);
            }
        }
    }
    report(p, base, dev_name.as_deref(), probe.as_ref(), &results);
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn run_one(
    server_rt: &tokio::runtime::Runtime,
    client_rt: &tokio::runtime::Runtime,
    p: &Params,
    op: Op,
    clients: usize,
    durable: bool,
    dir: &Path,
    dev: Option<(u32, u32)>,
) -> Result<RunResult> {
    let mut cfg = RuntimeConfig::for_tests("127.0.0.1:0".parse()?);
    cfg.max_client_cnxns = 0;
    if durable {
        std::fs::create_dir_all(dir)?;
        cfg.data_dir = dir.to_path_buf();
        cfg.data_log_dir = dir.to_path_buf();
        let mut st = StorageConfig::new(dir);
        st.force_sync = true;
        st.snap_count = p.snap_count;
        cfg.storage = Some(st);
    }
    let server = server_rt
        .block_on(Server::start(cfg))
        .context("starting the server")?;
    let addr = server.local_addr;
    let res = client_rt.block_on(drive(addr, p, op, clients, durable, dev));
    server_rt.block_on(server.shutdown());
    res
}

/// Counters read at the window's edges.
struct Counters {
    flushes: Option<u64>,
    cpu: Option<f64>,
    system_busy: Option<f64>,
}

impl Counters {
    fn read(dev: Option<(u32, u32)>) -> Counters {
        Counters {
            flushes: dev.and_then(procfs::device_flushes),
            cpu: procfs::cpu_seconds(),
            system_busy: procfs::system_busy_seconds(),
        }
    }
}

fn delta(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    Some(b?.saturating_sub(a?))
}

async fn drive(
    addr: SocketAddr,
    p: &Params,
    op: Op,
    clients: usize,
    durable: bool,
    dev: Option<(u32, u32)>,
) -> Result<RunResult> {
    // Sessions first, then each client's own znode.
    let mut conns = workload::connect_all(&vec![addr; clients]).await?;
    let value = value_bytes(p.value_size, 1);
    workload::create_own_znodes(&mut conns, &value).await?;

    let w = Workload::start(conns, op, &value, p.warmup, p.duration, 64 * 1024);
    w.until_warm().await;
    let before = Counters::read(dev);
    let perf = if p.perf && durable {
        start_perf(p.duration)
    } else {
        None
    };
    w.until_end().await;
    let after = Counters::read(dev);

    let (lat, errors) = w.finish().await?;
    let perf_fdatasyncs = perf.and_then(finish_perf);
    Ok(RunResult {
        op,
        clients,
        durable,
        ops: lat.count,
        secs: p.duration.as_secs_f64(),
        lat,
        errors,
        perf_fdatasyncs,
        device_flushes: delta(before.flushes, after.flushes),
        cpu_secs: match (before.cpu, after.cpu) {
            (Some(a), Some(b)) => Some(b - a),
            _ => None,
        },
        others_cpu_secs: procfs::others_cpu(
            (before.system_busy, before.cpu),
            (after.system_busy, after.cpu),
        ),
    })
}

// ---------------------------------------------------------------------------------------------
// fdatasync counting with perf (optional)

fn perf_available() -> bool {
    Command::new("perf")
        .args(["stat", "-x,", "-e", "syscalls:sys_enter_fdatasync", "true"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// `perf stat` counting this process's fdatasync calls for `window`.
fn start_perf(window: Duration) -> Option<Child> {
    Command::new("perf")
        .args([
            "stat",
            "-x,",
            "-e",
            "syscalls:sys_enter_fdatasync",
            "-p",
            &std::process::id().to_string(),
            "--timeout",
            &window.as_millis().to_string(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .ok()
}

fn finish_perf(child: Child) -> Option<u64> {
    let out = child.wait_with_output().ok()?;
    String::from_utf8_lossy(&out.stderr).lines().find_map(|l| {
        let mut f = l.split(',');
        let n = f.next()?.trim().parse().ok()?;
        f.any(|x| x == "syscalls:sys_enter_fdatasync").then_some(n)
    })
}

// ---------------------------------------------------------------------------------------------
// The raw device probe: what one append + fdatasync costs on the data directory's filesystem.

struct Probe {
    per_sec: f64,
    lat: Latencies,
}

fn fdatasync_probe(dir: &Path, window: Duration, record: usize) -> Result<Probe> {
    let path = dir.join("fdatasync-probe");
    let mut f = std::fs::File::create(&path)?;
    // As the txn log: preallocated (sparse) 64 MiB, then appends.
    f.set_len(64 * 1024 * 1024)?;
    let buf = value_bytes(record + 100, 9);
    let mut samples = Vec::new();
    let t0 = Instant::now();
    while t0.elapsed() < window {
        let s = Instant::now();
        f.write_all(&buf)?;
        f.sync_data()?;
        samples.push(micros(s.elapsed()));
    }
    let secs = t0.elapsed().as_secs_f64();
    drop(f);
    let _ = std::fs::remove_file(&path);
    let n = samples.len();
    Ok(Probe {
        per_sec: n as f64 / secs,
        lat: latencies(&mut samples),
    })
}

// ---------------------------------------------------------------------------------------------
// Report

fn report(
    p: &Params,
    base: &Path,
    dev_name: Option<&str>,
    probe: Option<&Probe>,
    results: &[RunResult],
) {
    let clients: Vec<String> = p.clients.iter().map(|c| c.to_string()).collect();
    let ops: Vec<&str> = p.ops.iter().map(|o| o.name()).collect();
    let modes: Vec<&str> = p
        .modes
        .iter()
        .map(|&d| if d { "durable" } else { "memory" })
        .collect();
    println!();
    println!("write-bench");
    println!(
        "  parameters: --clients {} --duration {} --warmup {} --value-size {} --ops {} --modes {} \
         --snap-count {} --server-threads {} --client-threads {}",
        clients.join(","),
        p.duration.as_secs_f64(),
        p.warmup.as_secs_f64(),
        p.value_size,
        ops.join(","),
        modes.join(","),
        p.snap_count,
        p.server_threads,
        p.client_threads
    );
    println!(
        "  durable: StorageConfig::new (forceSync=yes, preAllocSize 64 MiB, snapCount {}) in {} \
         (device {}); memory: storage None",
        p.snap_count,
        base.display(),
        dev_name.unwrap_or("?")
    );
    println!(
        "  clients: raw jute over loopback TCP, one session and one request in flight each; \
         {} CPUs; fdatasync count: {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        if p.perf {
            "perf stat -e syscalls:sys_enter_fdatasync -p <this process> over the window"
        } else {
            "not counted (perf not available or --no-perf)"
        }
    );
    if let Some(pr) = probe {
        println!(
            "  device probe: {:.0} append+fdatasync/s from one thread (p50 {}, p99 {})",
            pr.per_sec,
            fmt_us(pr.lat.p50_us),
            fmt_us(pr.lat.p99_us)
        );
    }
    println!();
    println!(
        "  {:<6} {:>7} | {:>9} {:>8} {:>8} {:>8} {:>9} {:>8} {:>5} | {:>9} {:>8} {:>8} {:>8} {:>5} | {:>7}",
        "op",
        "clients",
        "dur ops/s",
        "p50",
        "p99",
        "max",
        "fdatasync",
        "ops/sync",
        "cpu",
        "mem ops/s",
        "p50",
        "p99",
        "max",
        "cpu",
        "mem/dur"
    );
    let find = |op: Op, c: usize, d: bool| {
        results
            .iter()
            .find(|r| r.op == op && r.clients == c && r.durable == d)
    };
    let cpu = |r: &RunResult| {
        r.cpu_secs
            .map_or("-".to_owned(), |c| format!("{:.0}%", 100.0 * c / r.secs))
    };
    let mut ratios = Vec::new();
    for &op in &p.ops {
        for &c in &p.clients {
            let d = find(op, c, true);
            let m = find(op, c, false);
            let dcols = d.map_or_else(
                || {
                    format!(
                        "{:>9} {:>8} {:>8} {:>8} {:>9} {:>8} {:>5}",
                        "-", "", "", "", "", "", ""
                    )
                },
                |r| {
                    let syncs = r.fdatasyncs();
                    format!(
                        "{:>9.0} {:>8} {:>8} {:>8} {:>9} {:>8} {:>5}",
                        r.ops_per_sec(),
                        fmt_us(r.lat.p50_us),
                        fmt_us(r.lat.p99_us),
                        fmt_us(r.lat.max_us),
                        syncs.map_or("-".to_owned(), |s| s.to_string()),
                        syncs.filter(|&s| s > 0).map_or("-".to_owned(), |s| format!(
                            "{:.1}",
                            r.ops as f64 / s as f64
                        )),
                        cpu(r)
                    )
                },
            );
            let mcols = m.map_or_else(
                || format!("{:>9} {:>8} {:>8} {:>8} {:>5}", "-", "", "", "", ""),
                |r| {
                    format!(
                        "{:>9.0} {:>8} {:>8} {:>8} {:>5}",
                        r.ops_per_sec(),
                        fmt_us(r.lat.p50_us),
                        fmt_us(r.lat.p99_us),
                        fmt_us(r.lat.max_us),
                        cpu(r)
                    )
                },
            );
            let ratio = match (d, m) {
                (Some(d), Some(m)) if d.ops > 0 => {
                    let x = m.ops_per_sec() / d.ops_per_sec();
                    ratios.push(
                        Obj::new()
                            .str("op", op.name())
                            .uint("clients", c as u64)
                            .num("memory_over_durable_ops", x)
                            .num(
                                "durable_over_memory_p50",
                                d.lat.p50_us as f64 / m.lat.p50_us.max(1) as f64,
                            ),
                    );
                    format!("x{x:.1}")
                }
                _ => "-".to_owned(),
            };
            println!(
                "  {:<6} {:>7} | {dcols} | {mcols} | {ratio:>7}",
                op.name(),
                c
            );
        }
    }
    let errors: u64 = results.iter().map(|r| r.errors).sum();
    if errors > 0 {
        println!("  WARNING: {errors} replies carried an error code");
    }
    let others: Vec<String> = results
        .iter()
        .map(|r| {
            format!(
                "{}/{}/{}: {}",
                r.op.name(),
                r.clients,
                r.mode(),
                r.others_cpu_secs
                    .map_or("-".into(), |c| format!("{:.0}%", 100.0 * c / r.secs))
            )
        })
        .collect();
    println!(
        "  other processes' CPU during each window (100% = one CPU): {}",
        others.join("; ")
    );
    let busiest = results
        .iter()
        .map(RunResult::others_share)
        .fold(0.0, f64::max);
    if busiest > BUSY_LIMIT {
        println!(
            "  WARNING: other processes used up to {:.0}% of a CPU during a window; the figures \
             are skewed (rerun on a quiet machine)",
            100.0 * busiest
        );
    }
    let dev_flushes: Vec<String> = results
        .iter()
        .filter(|r| r.durable)
        .map(|r| {
            format!(
                "{}/{}: {}",
                r.op.name(),
                r.clients,
                r.device_flushes.map_or("-".into(), |x| x.to_string())
            )
        })
        .collect();
    println!(
        "  block-device flushes in the window (device wide, incl. journal commits): {}",
        dev_flushes.join("; ")
    );
    let mut params = Obj::new()
        .raw(
            "clients",
            json::array(p.clients.iter().map(|c| c.to_string())),
        )
        .num("duration_secs", p.duration.as_secs_f64())
        .num("warmup_secs", p.warmup.as_secs_f64())
        .uint("value_size", p.value_size as u64)
        .raw("ops", json::array(ops.iter().map(|o| json::string(o))))
        .raw("modes", json::array(modes.iter().map(|m| json::string(m))))
        .uint("snap_count", u64::from(p.snap_count))
        .uint("server_threads", p.server_threads as u64)
        .uint("client_threads", p.client_threads as u64)
        .str("force_sync", "yes")
        .str("dir", &base.display().to_string())
        .str("device", dev_name.unwrap_or("?"));
    if let Some(pr) = probe {
        params = params
            .num("probe_fdatasync_per_sec", pr.per_sec)
            .uint("probe_p50_us", pr.lat.p50_us)
            .uint("probe_p99_us", pr.lat.p99_us);
    }
    println!();
    println!(
        "{}",
        Obj::new()
            .str("bench", "write-bench")
            .obj("params", params)
            .raw(
                "results",
                json::array(results.iter().map(|r| r.json().render()))
            )
            .raw("ratios", json::array(ratios.iter().map(Obj::render)))
            .render()
    );
}
