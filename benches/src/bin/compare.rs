//! `compare`: zkrs against Apache ZooKeeper 3.8, side by side on this machine, in one run, as
//! a table of both results and their ratio. `benches/compare.sh` installs Apache ZooKeeper
//! (Debian's package) when missing, builds, and runs this.
//!
//! Both run as 3-server pseudo-clusters on 127.0.0.1 with the same zoo.cfg (tickTime 2000,
//! initLimit 10, syncLimit 5, forceSync yes; Apache with zkEnv.sh's default heap, -Xmx1000m),
//! each server's dataDir under `--dir`. Measured, in this order:
//!
//! 1. **Throughput and latency** (zk-bench, 100-byte values): for each op of `--ops` and each
//!    client count of `--clients`, closed loop (one request in flight per session), then the
//!    largest client count pipelined (`--pipeline` in flight per session). Each cell runs
//!    `--rounds` times per server, alternating A B A B so that drift hits both; reported: the
//!    median ops/s and the median p99.
//! 2. **RSS** of each server process after those runs (the sum over the three).
//! 3. **Leader failover** (`--failovers` rounds, alternating): kill -9 of the leader until a
//!    create through a survivor is acknowledged; the killed server is restarted and the
//!    ensemble settles before the next round. Median.
//! 4. **Process start to first answer** (`--starts` rounds, alternating): a standalone server
//!    on an empty dataDir, from spawn to the first answered request of a new session. Median.
//! 5. **1M znodes** (`--populate`): `zk-bench populate` of that many 100-byte znodes into each
//!    ensemble in turn; RSS per server before and after, as bytes per znode (the mean over
//!    the three servers of the growth divided by the znode count).
//! 6. **Restart with that data** (`--restarts` rounds, alternating): kill -9 of all three
//!    servers, start all three, until a new session reads a populated znode. Median.
//!
//! Every server is stopped by its PID (also on an error: the ensembles kill their children
//! when dropped) and the data directories are removed unless `--keep`.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use zkrs_benches::args::Args;
use zkrs_benches::client::{write_until_ok, Client};
use zkrs_benches::ensemble::{default_zk_server, Ensemble, Flavor, Settings};
use zkrs_benches::json::{self, Obj};
use zkrs_benches::procfs;
use zkrs_benches::stats::median;
use zkrs_benches::zkbench::{self, Options, Report};

const USAGE: &str = "\
usage: compare [--zk-server PATH] [--dir DIR] [--rounds N] [--duration S] [--warmup S]
               [--ops set,create,get,mixed] [--clients 1,16,64] [--pipeline K]
               [--failovers N] [--starts N] [--populate N] [--restarts N]
               [--phases throughput,failover,start,populate] [--timeout S] [--json FILE] [--keep]

  --zk-server PATH  zkrs's server (default: beside this executable, else target/release/zk-server)
  --dir DIR         where the data directories go (default: a new directory under the temp dir)
  --rounds N        runs of each throughput cell per server, alternating (default 2)
  --duration S      measured seconds per run (default 10); --warmup S before it (default 2)
  --ops LIST        set, create, get, mixed (90% get) (default all four)
  --clients LIST    closed-loop client counts (default 1,16,64); the largest also pipelined
  --pipeline K      requests in flight per session for the pipelined runs (default 8)
  --failovers N     leader kill -9 rounds per server (default 5)
  --starts N        cold starts per server (default 5)
  --populate N      znodes for the memory and restart figures (default 1000000)
  --restarts N      restarts with that data per server (default 2)
  --phases LIST     which measurements (default all)
  --timeout S       bound of every wait (default 120)
  --json FILE       also write every figure as JSON
  --keep            keep the data directories and logs";

struct Params {
    zk_server: PathBuf,
    dir: PathBuf,
    rounds: usize,
    duration: u64,
    warmup: u64,
    ops: Vec<String>,
    clients: Vec<usize>,
    pipeline: usize,
    failovers: usize,
    starts: usize,
    populate: u64,
    restarts: usize,
    phases: Vec<String>,
    timeout: Duration,
    json: Option<PathBuf>,
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
    let dir = a.value("--dir")?.map_or_else(
        || std::env::temp_dir().join(format!("zkrs-compare-{}", std::process::id())),
        PathBuf::from,
    );
    let phases: Vec<String> = a.list(
        "--phases",
        &["throughput", "failover", "start", "populate"].map(String::from),
    )?;
    for ph in &phases {
        if !["throughput", "failover", "start", "populate"].contains(&ph.as_str()) {
            bail!("unknown phase {ph:?} (throughput, failover, start, populate)");
        }
    }
    let ops: Vec<String> = a.list(
        "--ops",
        &["set", "create", "get", "mixed"].map(String::from),
    )?;
    for op in &ops {
        if !["set", "create", "get", "mixed"].contains(&op.as_str()) {
            bail!("unknown op {op:?} (set, create, get, mixed)");
        }
    }
    let p = Params {
        zk_server,
        dir,
        rounds: a.parse("--rounds", 2)?,
        duration: a.parse("--duration", 10)?,
        warmup: a.parse("--warmup", 2)?,
        ops,
        clients: a.list("--clients", &[1, 16, 64])?,
        pipeline: a.parse("--pipeline", 8)?,
        failovers: a.parse("--failovers", 5)?,
        starts: a.parse("--starts", 5)?,
        populate: a.parse("--populate", 1_000_000)?,
        restarts: a.parse("--restarts", 2)?,
        phases,
        timeout: Duration::from_secs(a.parse("--timeout", 120)?),
        json: a.value("--json")?.map(PathBuf::from),
        keep: a.flag("--keep"),
    };
    a.finish()?;
    if p.rounds == 0 || p.clients.is_empty() || p.pipeline == 0 {
        bail!("--rounds, --clients and --pipeline must be positive");
    }
    Ok(Some(p))
}

/// One row of the table: a figure for each server and which way is better.
struct Row {
    what: String,
    unit: &'static str,
    zkrs: f64,
    apache: f64,
    /// True when more is better (ops/s); false for latency, time and memory.
    more_is_better: bool,
}

impl Row {
    /// How many times better zkrs is (above 1: zkrs ahead).
    fn advantage(&self) -> f64 {
        if self.more_is_better {
            self.zkrs / self.apache
        } else {
            self.apache / self.zkrs
        }
    }
}

fn settings() -> Settings {
    Settings::default()
}

const POLL: Duration = Duration::from_millis(10);

/// Both ensembles, created and started, in the order A (zkrs), B (apache).
fn start_pair(flavors: &[Flavor; 2], dir: &Path, tag: &str, p: &Params) -> Result<[Ensemble; 2]> {
    let mut out = Vec::new();
    for f in flavors {
        let mut e = Ensemble::create(
            f.clone(),
            &dir.join(format!("{}-{tag}", f.name())),
            3,
            &settings(),
        )?;
        e.start_all()?;
        let all = e.ids();
        let (leader, _) = e
            .wait_stable(&all, p.timeout, POLL)
            .with_context(|| format!("{}: the first leader", f.name()))?;
        eprintln!("  {}: 3 servers up, leader {leader}", f.name());
        out.push(e);
    }
    let b = out.pop().expect("two");
    let a = out.pop().expect("two");
    Ok([a, b])
}

fn bench_opts(e: &Ensemble, args: &[String], p: &Params) -> Result<Options> {
    let mut v: Vec<String> = vec!["--servers".into(), e.client_addrs().join(",")];
    v.extend(args.iter().cloned());
    v.extend([
        "--timeout".to_string(),
        p.timeout.as_secs().to_string(),
        "--quiet".into(),
    ]);
    let refs: Vec<&str> = v.iter().map(String::as_str).collect();
    Options::from_args(&refs)
}

fn zk_bench(
    rt: &tokio::runtime::Runtime,
    e: &Ensemble,
    args: &[String],
    p: &Params,
) -> Result<Report> {
    let o = bench_opts(e, args, p)?;
    rt.block_on(zkbench::run(&o))
}

fn rss_kib(e: &Ensemble) -> Vec<u64> {
    e.ids()
        .iter()
        .map(|&id| {
            e.node(id)
                .pid()
                .and_then(|pid| procfs::pid_status_kib(pid, "VmRSS"))
                .unwrap_or(0)
        })
        .collect()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn throughput(
    pair: &[Ensemble; 2],
    rt: &tokio::runtime::Runtime,
    p: &Params,
    rows: &mut Vec<Row>,
    runs: &mut Vec<String>,
) -> Result<()> {
    let max_clients = *p.clients.iter().max().expect("non-empty");
    for op in &p.ops {
        let mut cells: Vec<(usize, usize)> = p.clients.iter().map(|&c| (c, 1)).collect();
        cells.push((max_clients, p.pipeline));
        for (clients, pipeline) in cells {
            let mut args: Vec<String> = vec![
                "--op".into(),
                op.clone(),
                "--clients".into(),
                clients.to_string(),
                "--pipeline".into(),
                pipeline.to_string(),
                "--duration".into(),
                p.duration.to_string(),
                "--warmup".into(),
                p.warmup.to_string(),
                "--value-size".into(),
                "100".into(),
                "--keys".into(),
                "1000".into(),
            ];
            if op == "mixed" {
                args.extend(["--read-ratio".into(), "0.9".into()]);
            }
            let mut ops_s = [Vec::new(), Vec::new()];
            let mut p99 = [Vec::new(), Vec::new()];
            for round in 0..p.rounds {
                for (i, e) in pair.iter().enumerate() {
                    let r = zk_bench(rt, e, &args, p)
                        .with_context(|| format!("{} {op} x{clients}", e.flavor.name()))?;
                    let errors = r.error_count();
                    let lat = r
                        .types
                        .iter()
                        .map(|t| t.hist().clone())
                        .reduce(|mut a, b| {
                            a.merge(&b);
                            a
                        })
                        .map_or(0, |h| h.percentile(99.0));
                    eprintln!(
                        "  {op:<6} {clients:>3} clients x{pipeline:<2} round {} {:<6}: {:>9.0} ops/s  p99 {:>8.2} ms  errors {errors}",
                        round + 1,
                        e.flavor.name(),
                        r.ops_per_sec(),
                        lat as f64 / 1e6
                    );
                    runs.push(
                        Obj::new()
                            .str("server", e.flavor.name())
                            .str("op", op)
                            .uint("clients", clients as u64)
                            .uint("pipeline", pipeline as u64)
                            .uint("round", round as u64 + 1)
                            .num("ops_per_sec", r.ops_per_sec())
                            .num("p99_ms", lat as f64 / 1e6)
                            .uint("errors", errors)
                            .render(),
                    );
                    ops_s[i].push(r.ops_per_sec());
                    p99[i].push(lat as f64 / 1e6);
                }
            }
            let label = if pipeline > 1 {
                format!("{op} {clients} clients, pipeline {pipeline}")
            } else {
                format!("{op} {clients} clients")
            };
            rows.push(Row {
                what: format!("{label}: ops/s"),
                unit: "ops/s",
                zkrs: median(&ops_s[0]),
                apache: median(&ops_s[1]),
                more_is_better: true,
            });
            rows.push(Row {
                what: format!("{label}: p99"),
                unit: "ms",
                zkrs: median(&p99[0]),
                apache: median(&p99[1]),
                more_is_better: false,
            });
        }
    }
    let rss: Vec<f64> = pair
        .iter()
        .map(|e| rss_kib(e).iter().sum::<u64>() as f64 / 1024.0)
        .collect();
    rows.push(Row {
        what: "RSS after the runs (3 servers)".into(),
        unit: "MiB",
        zkrs: rss[0],
        apache: rss[1],
        more_is_better: false,
    });
    Ok(())
}

/// Kill -9 of the leader until a create through a survivor is acknowledged; then the killed
/// server restarts and the ensemble settles. Returns the time to the acknowledged write.
fn failover_once(
    e: &mut Ensemble,
    rt: &tokio::runtime::Runtime,
    round: usize,
    p: &Params,
) -> Result<Duration> {
    let all = e.ids();
    let (leader, _) = e.wait_stable(&all, p.timeout, POLL)?;
    std::thread::sleep(Duration::from_millis(500));
    let survivors: Vec<std::net::SocketAddr> = all
        .iter()
        .filter(|&&i| i != leader)
        .map(|&i| e.node(i).client_addr())
        .collect();
    let killed_at = Instant::now();
    e.kill(leader)?;
    let path = format!("/compare-failover-{round}");
    let done = rt
        .block_on(write_until_ok(&survivors, path, killed_at + p.timeout))
        .context("a write after the leader's kill")?;
    e.start(leader)?;
    e.wait_stable(&all, p.timeout, POLL)
        .context("the killed leader rejoining")?;
    Ok(done - killed_at)
}

/// A new session on `addrs` (tried in turn every `poll`) answers `exists(path)`: the instant it
/// did. An error code other than Ok (say NoNode: the data is not there) fails at once.
async fn first_answer(
    addrs: &[std::net::SocketAddr],
    path: &str,
    poll: Duration,
    deadline: Instant,
) -> Result<Instant> {
    let mut n = 0usize;
    loop {
        let addr = addrs[n % addrs.len()];
        n += 1;
        let attempt = async {
            let mut c = Client::connect(addr).await?;
            c.call(&zk_proto::request::Request::Exists(
                zk_proto::proto::ExistsRequest {
                    path: path.into(),
                    watch: false,
                },
            ))
            .await
        };
        match tokio::time::timeout(Duration::from_secs(5), attempt).await {
            Ok(Ok(0)) => return Ok(Instant::now()),
            Ok(Ok(err)) => bail!("exists {path}: error {err}"),
            _ => {}
        }
        if Instant::now() >= deadline {
            bail!("no answer by the deadline ({n} attempts)");
        }
        tokio::time::sleep(poll).await;
    }
}

/// Spawn of a standalone server on an empty dataDir until a new session's first request is
/// answered.
fn cold_start(
    flavor: &Flavor,
    root: &Path,
    rt: &tokio::runtime::Runtime,
    p: &Params,
) -> Result<Duration> {
    let mut e = Ensemble::standalone(flavor.clone(), root, &settings())?;
    let addr = e.node(1).client_addr();
    let t0 = Instant::now();
    e.start(1)?;
    let answered = rt.block_on(first_answer(
        &[addr],
        "/zookeeper",
        Duration::from_millis(1),
        t0 + p.timeout,
    ))?;
    e.check_running(&[1])?;
    e.remove()?;
    Ok(answered - t0)
}

/// Kill -9 of every server, start all, until a new session reads `probe` (a populated znode).
fn restart_once(
    e: &mut Ensemble,
    rt: &tokio::runtime::Runtime,
    probe: &str,
    p: &Params,
) -> Result<Duration> {
    for id in e.ids() {
        e.kill(id)?;
    }
    let addrs: Vec<std::net::SocketAddr> =
        e.ids().iter().map(|&i| e.node(i).client_addr()).collect();
    let t0 = Instant::now();
    e.start_all()?;
    let done = rt.block_on(first_answer(&addrs, probe, POLL, t0 + p.timeout))?;
    let all = e.ids();
    e.wait_stable(&all, p.timeout, POLL)?;
    Ok(done - t0)
}

fn run(p: &Params) -> Result<()> {
    let flavors = [
        Flavor::Zkrs {
            bin: p.zk_server.clone(),
        },
        Flavor::apache_debian()?,
    ];
    if !p.zk_server.is_file() {
        bail!(
            "{} not found: cargo build --release -p zk-server",
            p.zk_server.display()
        );
    }
    std::fs::create_dir_all(&p.dir)?;
    eprintln!("compare: data under {}", p.dir.display());
    for f in &flavors {
        eprintln!("  {}: {}", f.name(), f.describe());
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let mut rows = Vec::new();
    let mut runs = Vec::new();
    let t_all = Instant::now();
    let has = |ph: &str| p.phases.iter().any(|x| x == ph);

    if has("throughput") || has("failover") {
        let mut pair = start_pair(&flavors, &p.dir, "load", p)?;
        if has("throughput") {
            eprintln!("throughput (closed loop, then pipelined), A B A B:");
            throughput(&pair, &rt, p, &mut rows, &mut runs)?;
        }
        if has("failover") {
            eprintln!("leader failover (kill -9 to an acknowledged write), A B A B:");
            let mut t = [Vec::new(), Vec::new()];
            for round in 0..p.failovers {
                for (i, e) in pair.iter_mut().enumerate() {
                    let d = failover_once(e, &rt, round, p).with_context(|| {
                        format!("{} failover round {}", e.flavor.name(), round + 1)
                    })?;
                    eprintln!(
                        "  round {} {:<6}: {:.0} ms",
                        round + 1,
                        e.flavor.name(),
                        ms(d)
                    );
                    t[i].push(ms(d));
                }
            }
            rows.push(Row {
                what: format!("leader failover, median of {}", p.failovers),
                unit: "ms",
                zkrs: median(&t[0]),
                apache: median(&t[1]),
                more_is_better: false,
            });
        }
        finish(pair, p)?;
    }

    if has("start") {
        eprintln!("process start to the first answer (standalone, empty), A B A B:");
        let mut t = [Vec::new(), Vec::new()];
        for round in 0..p.starts {
            for (i, f) in flavors.iter().enumerate() {
                let root = p.dir.join(format!("{}-start-{round}", f.name()));
                let d = cold_start(f, &root, &rt, p)
                    .with_context(|| format!("{} cold start {}", f.name(), round + 1))?;
                eprintln!("  round {} {:<6}: {:.1} ms", round + 1, f.name(), ms(d));
                t[i].push(ms(d));
            }
        }
        rows.push(Row {
            what: format!("process start to first answer, median of {}", p.starts),
            unit: "ms",
            zkrs: median(&t[0]),
            apache: median(&t[1]),
            more_is_better: false,
        });
    }

    if has("populate") {
        let mut pair = start_pair(&flavors, &p.dir, "populate", p)?;
        let mut per_znode = [0.0; 2];
        let mut rate = [0.0; 2];
        for (i, e) in pair.iter().enumerate() {
            std::thread::sleep(Duration::from_secs(2));
            let before = rss_kib(e);
            let args: Vec<String> = [
                "populate",
                "--count",
                &p.populate.to_string(),
                "--value-size",
                "100",
                "--clients",
                "16",
                "--pipeline",
                "16",
            ]
            .map(String::from)
            .to_vec();
            let mut v = args.clone();
            v.extend([
                "--servers".into(),
                e.client_addrs().join(","),
                "--quiet".into(),
            ]);
            v.extend(["--timeout".into(), p.timeout.as_secs().to_string()]);
            let refs: Vec<&str> = v.iter().map(String::as_str).collect();
            let o = Options::from_args(&refs)?;
            let t0 = Instant::now();
            let r = rt.block_on(zkbench::run(&o))?;
            if r.error_count() > 0 {
                bail!("{}: populate had errors: {:?}", e.flavor.name(), r.errors());
            }
            std::thread::sleep(Duration::from_secs(2));
            let after = rss_kib(e);
            let growth: Vec<f64> = before
                .iter()
                .zip(&after)
                .map(|(b, a)| (*a as f64 - *b as f64) * 1024.0 / p.populate as f64)
                .collect();
            per_znode[i] = growth.iter().sum::<f64>() / growth.len() as f64;
            rate[i] = p.populate as f64 / t0.elapsed().as_secs_f64();
            eprintln!(
                "  populate {} {}: {:.0} znodes/s; RSS KiB before {before:?} after {after:?}: {:.0} B/znode",
                p.populate,
                e.flavor.name(),
                rate[i],
                per_znode[i]
            );
            runs.push(
                Obj::new()
                    .str("server", e.flavor.name())
                    .uint("populate", p.populate)
                    .raw(
                        "rss_kib_before",
                        json::array(before.iter().map(|x| x.to_string())),
                    )
                    .raw(
                        "rss_kib_after",
                        json::array(after.iter().map(|x| x.to_string())),
                    )
                    .num("bytes_per_znode", per_znode[i])
                    .num("znodes_per_sec", rate[i])
                    .render(),
            );
        }
        rows.push(Row {
            what: format!("populate {} znodes of 100 B", p.populate),
            unit: "znodes/s",
            zkrs: rate[0],
            apache: rate[1],
            more_is_better: true,
        });
        rows.push(Row {
            what: format!("RSS growth per znode at {} znodes", p.populate),
            unit: "B",
            zkrs: per_znode[0],
            apache: per_znode[1],
            more_is_better: false,
        });
        eprintln!("restart with that data (kill -9 all, start all, until a read), A B A B:");
        let probe = "/zk-bench/pop/p0/n0";
        let mut t = [Vec::new(), Vec::new()];
        for round in 0..p.restarts {
            for (i, e) in pair.iter_mut().enumerate() {
                let d = restart_once(e, &rt, probe, p)
                    .with_context(|| format!("{} restart {}", e.flavor.name(), round + 1))?;
                eprintln!(
                    "  round {} {:<6}: {:.2} s",
                    round + 1,
                    e.flavor.name(),
                    d.as_secs_f64()
                );
                t[i].push(ms(d));
            }
        }
        rows.push(Row {
            what: format!(
                "restart with {} znodes, median of {}",
                p.populate, p.restarts
            ),
            unit: "ms",
            zkrs: median(&t[0]),
            apache: median(&t[1]),
            more_is_better: false,
        });
        finish(pair, p)?;
    }

    println!();
    println!(
        "zkrs vs Apache ZooKeeper, 3-server pseudo-clusters on one machine ({} CPUs), {:.0} s in all",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        t_all.elapsed().as_secs_f64()
    );
    println!(
        "{:<52} {:>12} {:>12} {:>9}  (advantage: how many times better zkrs is)",
        "figure", "zkrs", "apache", "advantage"
    );
    for r in &rows {
        println!(
            "{:<52} {:>12} {:>12} {:>8.2}x",
            format!("{} [{}]", r.what, r.unit),
            fmt_fig(r.zkrs),
            fmt_fig(r.apache),
            r.advantage()
        );
    }
    let json = Obj::new()
        .raw(
            "rows",
            json::array(rows.iter().map(|r| {
                Obj::new()
                    .str("figure", &r.what)
                    .str("unit", r.unit)
                    .num("zkrs", r.zkrs)
                    .num("apache", r.apache)
                    .num("advantage", r.advantage())
                    .render()
            })),
        )
        .raw("runs", json::array(runs))
        .render();
    if let Some(f) = &p.json {
        std::fs::write(f, &json).with_context(|| format!("writing {}", f.display()))?;
    }
    println!("{json}");
    if !p.keep {
        let _ = std::fs::remove_dir_all(&p.dir);
    }
    Ok(())
}

/// Stops both ensembles (by PID) and, unless `--keep`, removes their data.
fn finish(pair: [Ensemble; 2], p: &Params) -> Result<()> {
    for e in pair {
        if p.keep {
            drop(e);
        } else {
            e.remove()?;
        }
    }
    Ok(())
}

fn fmt_fig(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

fn main() {
    let p = match parse_args() {
        Ok(Some(p)) => p,
        Ok(None) => return,
        Err(e) => {
            eprintln!("compare: {e:#}\n{USAGE}");
            std::process::exit(2);
        }
    };
    if let Err(e) = run(&p) {
        eprintln!("compare: {e:#}");
        std::process::exit(1);
    }
}
