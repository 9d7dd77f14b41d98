//! `jepsen run`: a real zkrs ensemble under a seeded nemesis, concurrent client workloads, a
//! recorded history, checkers, and a results directory.
//!
//! ```text
//! cargo build --release -p zk-server -p jepsen
//! target/release/jepsen run --workload all --nemesis all --time 300 --seed 7
//! ```
//!
//! Options (defaults in brackets):
//! - `--workload register|set|ids|lock|all` [all]: `all` runs register, set, ids and lock at
//!   once;
//! - `--nemesis kill,pause,partition,client-partition,leader-kill,disk-full|all|none` [all];
//!   `disk-full` puts every server's data directory on a tmpfs of its own (`--disk-mb`
//!   [1024]) and needs root;
//! - `--time SECS` [60] of faults and load, then everything heals and the final checks run;
//! - `--seed N` [1]: the nemesis schedule and the workloads' choices;
//! - `--nodes 3|5` [3], `--concurrency N` [10] clients per workload, `--tick MS` [200];
//! - `--init-limit TICKS` [100]: 20 s for a learner to sync, as ZooKeeper's defaults give
//!   (2000 ms × 10); syncLimit stays 5 ticks, so failures are noticed within a second. A long
//!   run's tree holds a million znodes or more, and a learner far behind gets it whole (SNAP)
//!   on a loaded machine: with initLimit 10 (2 s) such a learner timed out on every attempt
//!   and never rejoined (a 30-minute kill run, 1.2M znodes);
//! - `--out DIR` [jepsen-results]: each run gets its own subdirectory;
//! - `--zk-server PATH` [$ZK_SERVER_BIN, else `zk-server` beside this binary].
//!
//! The exit status is 0 when every checker says valid, 1 on any anomaly, 2 on a harness error,
//! and 3 when a checker could not decide (its search budget ran out).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use jepsen::checker;
use jepsen::cluster::{self, Ensemble, EnsembleOptions, FaultKind, Nemesis, NemesisOptions};
use jepsen::report::{self, Fault, Summary};
use jepsen::workload::{set, Config, Recorder, Stop, Workload};

/// What `--workload all` runs. `lock` is in since its releases are recorded `Ok` only when
/// they deleted the lock node, so the locks checker judges overlapping holds (60 s runs with
/// every nemesis, seeds 5, 6 and 7: valid).
const ALL_WORKLOADS: [&str; 4] = ["register", "set", "ids", "lock"];

struct Args {
    workloads: Vec<String>,
    nemesis: Vec<FaultKind>,
    time: Duration,
    seed: u64,
    nodes: u64,
    concurrency: usize,
    tick_ms: u64,
    init_limit: u32,
    disk_mb: u64,
    out: PathBuf,
    zk_server: Option<PathBuf>,
}

fn usage() -> &'static str {
    "usage: jepsen run [--workload register|set|ids|lock|all] [--nemesis KINDS|all|none] \
     [--time SECS] [--seed N] [--nodes N] [--concurrency N] [--tick MS] [--init-limit TICKS] [--disk-mb MB] [--out DIR] \
     [--zk-server PATH]"
}

fn parse_args() -> Result<Args> {
    let mut it = std::env::args().skip(1);
    match it.next().as_deref() {
        Some("run") => {}
        _ => bail!("{}", usage()),
    }
    let mut a = Args {
        workloads: ALL_WORKLOADS.map(String::from).to_vec(),
        nemesis: FaultKind::ALL.to_vec(),
        time: Duration::from_secs(60),
        seed: 1,
        nodes: 3,
        concurrency: 10,
        tick_ms: 200,
        init_limit: 100,
        disk_mb: 1024,
        out: PathBuf::from("jepsen-results"),
        zk_server: None,
    };
    while let Some(flag) = it.next() {
        let mut value = || {
            it.next()
                .ok_or_else(|| anyhow!("{flag} needs a value\n{}", usage()))
        };
        match flag.as_str() {
            "--workload" => {
                let v = value()?;
                a.workloads = if v == "all" {
                    ALL_WORKLOADS.map(String::from).to_vec()
                } else {
                    v.split(',').map(str::to_owned).collect()
                };
                for w in &a.workloads {
                    if Workload::parse(w).is_none() {
                        bail!("unknown workload {w:?}\n{}", usage());
                    }
                }
            }
            "--nemesis" => {
                let v = value()?;
                a.nemesis = if v == "none" {
                    Vec::new()
                } else {
                    FaultKind::parse_list(&v)?
                };
            }
            "--time" => a.time = Duration::from_secs(value()?.parse().context("--time")?),
            "--seed" => a.seed = value()?.parse().context("--seed")?,
            "--nodes" => a.nodes = value()?.parse().context("--nodes")?,
            "--concurrency" => a.concurrency = value()?.parse().context("--concurrency")?,
            "--tick" => a.tick_ms = value()?.parse().context("--tick")?,
            "--init-limit" => a.init_limit = value()?.parse().context("--init-limit")?,
            "--disk-mb" => a.disk_mb = value()?.parse().context("--disk-mb")?,
            "--out" => a.out = PathBuf::from(value()?),
            "--zk-server" => a.zk_server = Some(PathBuf::from(value()?)),
            "-h" | "--help" => bail!("{}", usage()),
            other => bail!("unknown option {other:?}\n{}", usage()),
        }
    }
    Ok(a)
}

fn zk_server_path(a: &Args) -> Result<PathBuf> {
    if let Some(p) = &a.zk_server {
        return Ok(p.clone());
    }
    if let Some(p) = std::env::var_os("ZK_SERVER_BIN") {
        return Ok(PathBuf::from(p));
    }
    let exe = std::env::current_exe()?;
    let beside = exe.with_file_name("zk-server");
    if beside.is_file() {
        return Ok(beside);
    }
    let profile = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    cluster::locate_zk_server(&exe, profile)
}

async fn run(a: Args) -> Result<(Summary, PathBuf)> {
    let bin = zk_server_path(&a)?;
    std::fs::create_dir_all(&a.out)?;
    let name = format!("{}-seed{}", a.workloads.join("+"), a.seed);
    let run_dir = cluster::fresh_run_dir(&a.out, &name)?;
    let mut opts = EnsembleOptions::new(bin, run_dir.join("cluster"));
    opts.nodes = a.nodes;
    opts.tick_ms = a.tick_ms;
    opts.init_limit = a.init_limit;
    if a.nemesis.contains(&FaultKind::DiskFull) {
        opts.disk_bytes = Some(a.disk_mb << 20);
    }
    let ens = Arc::new(Ensemble::start(opts).await?);
    ens.wait_stable(Duration::from_secs(60)).await?;
    eprintln!("ensemble of {} up in {}", a.nodes, run_dir.display());

    let origin = Instant::now();
    let rec = Recorder::starting_at(origin);
    let addrs: Vec<String> = ens
        .nodes()
        .iter()
        .map(|n| ens.client_addr(*n).to_string())
        .collect();
    let stop = Stop::new();
    let mut tasks = Vec::new();
    for (i, w) in a.workloads.iter().enumerate() {
        let mut w = Workload::parse(w).ok_or_else(|| anyhow!("unknown workload {w}"))?;
        if let Workload::Register(o) = &mut w {
            // Distinct values make a refutation quick (see checker::linear).
            o.values = 1_000_000;
            o.ops_per_key = Some(300);
        }
        let mut cfg = Config::new(addrs.clone(), a.concurrency, a.seed.wrapping_add(i as u64));
        cfg.stop = stop.clone();
        cfg.op_timeout = Duration::from_secs(3);
        cfg.session_timeout = Duration::from_secs(4);
        let rec = rec.clone();
        tasks.push(tokio::spawn(async move { w.run(&cfg, &rec).await }));
    }

    let deadline = origin + a.time;
    let periods = if a.nemesis.is_empty() {
        tokio::time::sleep_until(deadline.into()).await;
        Vec::new()
    } else {
        let mut n = Nemesis::new(
            ens.clone(),
            NemesisOptions::new(a.nemesis.clone(), a.seed),
            origin,
        );
        let r = n.run(deadline).await;
        let periods = n.into_periods();
        r.context("the nemesis")?;
        periods
    };
    // Everything is healed; let the clients run a little on the healthy ensemble, then stop.
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.stop();
    for t in tasks {
        match tokio::time::timeout(Duration::from_secs(30), t).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(e))) => return Err(e.context("a workload")),
            Ok(Err(e)) => bail!("a workload task panicked: {e}"),
            Err(_) => bail!("a workload did not stop within 30 s"),
        }
    }
    if a.workloads.iter().any(|w| w == "set") {
        // The final read, after healing; retried since a read can time out.
        for _ in 0..5 {
            let op = set::read_all(&addrs, &rec, Duration::from_secs(5)).await;
            if op.typ == jepsen::history::Type::Ok {
                break;
            }
        }
    }
    rec.close_open();
    let history = rec.history();

    let mut verdicts: Vec<report::Verdict> = checker::check_all(&history)
        .into_iter()
        .map(|v| report::Verdict::new(v.name, v.valid.as_option(), v.details))
        .collect();
    // Every server ends with the same tree: same zxid, same digest of every znode.
    let converged = ens.same_tree(Duration::from_secs(300)).await;
    verdicts.push(match &converged {
        Ok((s, d)) => report::Verdict::new(
            "convergence",
            Some(true),
            format!(
                "all servers at zxid {:#x} hold the same tree: {} znodes, digest {:#018x}",
                s.last_zxid, d.nodes, d.digest
            ),
        ),
        Err(e) => report::Verdict::new("convergence", Some(false), format!("{e:#}")),
    });
    let crashed = ens.reap_exited();
    if !crashed.is_empty() {
        verdicts.push(report::Verdict::new(
            "no crashes",
            Some(false),
            format!("servers exited on their own: {crashed:?}"),
        ));
    }
    ens.stop_all(Duration::from_secs(5)).await;

    let faults: Vec<Fault> = periods
        .iter()
        .map(|p| {
            Fault::new(
                p.start_ns,
                p.end_ns,
                format!("{}: {}", p.kind.name(), p.description),
            )
        })
        .collect();
    let summary = Summary {
        title: format!("jepsen {name}"),
        params: vec![
            ("workloads".into(), a.workloads.join(",")),
            (
                "nemesis".into(),
                a.nemesis
                    .iter()
                    .map(|k| k.name())
                    .collect::<Vec<_>>()
                    .join(","),
            ),
            ("time".into(), format!("{:?}", a.time)),
            ("seed".into(), a.seed.to_string()),
            ("nodes".into(), a.nodes.to_string()),
            ("concurrency".into(), a.concurrency.to_string()),
            ("ops".into(), history.len().to_string()),
            ("faults".into(), faults.len().to_string()),
        ],
        verdicts,
    };
    report::write(&run_dir, &history, &faults, &summary)?;
    if summary.valid() == Some(true) {
        // A long run leaves gigabytes of txn logs and snapshots per server; a valid run's are
        // not needed (its logs and configs stay). An invalid run keeps everything.
        for &id in ens.nodes() {
            let _ = std::fs::remove_dir_all(ens.data_dir(id).join("version-2"));
        }
    }
    Ok((summary, run_dir))
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e:#}");
            return ExitCode::from(2);
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match rt.block_on(run(args)) {
        Ok((summary, dir)) => {
            for v in &summary.verdicts {
                let mark = match v.valid {
                    Some(true) => "valid",
                    Some(false) => "INVALID",
                    None => "unknown",
                };
                println!(
                    "{:<22} {mark:<8} {}",
                    v.checker,
                    v.detail.lines().next().unwrap_or("")
                );
            }
            println!("results: {}", dir.display());
            match summary.valid() {
                Some(true) => ExitCode::SUCCESS,
                Some(false) => ExitCode::from(1),
                None => ExitCode::from(3),
            }
        }
        Err(e) => {
            eprintln!("jepsen: {e:#}");
            ExitCode::from(2)
        }
    }
}
