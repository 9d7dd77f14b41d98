//! zk-bench: a load generator for any ZooKeeper-wire server (the `zk-bench` binary parses the
//! arguments, calls [`run`] and prints the [`Report`]).
//!
//! Module map:
//! - [`options`]: the command line ([`Options`], `--help`).
//! - [`setup`]: the setup phase (keys, create parents, populate parents).
//! - [`session`]: one pipelined session, the hot path (FIFO of requests in flight, pings,
//!   timeouts, reconnects).
//! - [`conn`]: opening a session; a plain pipelined session for setup and tests.
//! - [`wire`]: requests framed without allocation, the parts of replies we read.
//! - [`histogram`]: the log-linear latency histogram (relative error under 0.8 %).
//! - [`rng`]: the seeded generator of every random choice.
//! - [`report`]: the results as a table and as JSON; [`plot`]: as an SVG.
//! - [`progress`]: live counters and the progress line; [`jsonv`]: a JSON reader for checks.
//!
//! Architecture invariant: with `--count N`, exactly N measured ops end (with a reply, an
//! error, or a lost connection) unless sessions give up reconnecting, in which case the rest
//! is reported as `abandoned`; ops are never retried.

pub mod conn;
pub mod histogram;
pub mod jsonv;
pub mod options;
pub mod plot;
pub mod progress;
pub mod report;
pub mod rng;
pub mod session;
pub mod setup;
pub mod wire;

use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};

pub use options::{Command, Length, OpKind, Options};
pub use progress::Live;
pub use report::Report;

use report::TypeReport;
use session::{OpStats, OpType, Plan, SessionResult, Shared, OP_TYPES};

/// Runs the workload `opts` describes and reports it (the progress line is drawn when
/// `opts.progress`). Fails only if no server can be reached or setup fails.
pub async fn run(opts: &Options) -> Result<Report> {
    run_with(opts, Arc::new(Live::default())).await
}

/// [`run`], with counters the caller can watch while it runs.
pub async fn run_with(opts: &Options, live: Arc<Live>) -> Result<Report> {
    let clients = match opts.length {
        Length::Count(n) => opts.clients.min(usize::try_from(n).unwrap_or(usize::MAX)),
        Length::Duration(_) => opts.clients,
    };
    let value = crate::value_bytes(opts.value_size, opts.seed);
    let prepared = setup::prepare(opts, clients, &value).await?;

    let warm_end = Instant::now() + opts.warmup;
    let end = match opts.length {
        Length::Duration(d) => Some(warm_end + d),
        Length::Count(_) => None,
    };
    let shared = Arc::new(Shared {
        op: opts.op,
        servers: opts.servers.clone(),
        chroot: opts.chroot.clone(),
        keys: opts.keys,
        read_ratio: opts.read_ratio,
        multi_size: opts.multi_size,
        pipeline: opts.pipeline,
        timeout: opts.timeout,
        session_timeout_ms: opts.session_timeout_ms,
        seed: opts.seed,
        value,
        warm_end,
        end,
        live: Arc::clone(&live),
    });
    let mut first = 0;
    let plans: Vec<Plan> = (0..clients)
        .map(|c| {
            let quota = match opts.length {
                Length::Count(n) => {
                    let (q, r) = (n / clients as u64, n % clients as u64);
                    Some(q + u64::from((c as u64) < r))
                }
                Length::Duration(_) => None,
            };
            let plan = Plan {
                client: c as u64,
                quota,
                first: if opts.op == OpKind::Populate {
                    first
                } else {
                    prepared.create_bases[c]
                },
                first_parent: prepared.first_parent,
            };
            first += quota.unwrap_or(0);
            plan
        })
        .collect();

    let progress = opts
        .progress
        .then(|| progress::Progress::start(Arc::clone(&live), opts.length, warm_end));
    let tasks: Vec<_> = plans
        .into_iter()
        .map(|p| tokio::spawn(session::run(Arc::clone(&shared), p)))
        .collect();
    let mut results = Vec::with_capacity(tasks.len());
    for (i, t) in tasks.into_iter().enumerate() {
        results.push(t.await.with_context(|| format!("client {i} failed"))?);
    }
    if let Some(p) = progress {
        p.stop().await;
    }
    Ok(report(opts, clients, &prepared, warm_end, &results))
}

fn report(
    opts: &Options,
    clients: usize,
    prepared: &setup::Prepared,
    warm_end: Instant,
    results: &[SessionResult],
) -> Report {
    let mut stats: [OpStats; OP_TYPES] = Default::default();
    let mut r = Report {
        op: opts.op,
        servers: format!("{}{}", opts.servers.join(","), opts.chroot),
        clients,
        pipeline: opts.pipeline,
        value_size: opts.value_size,
        keys: opts.keys,
        read_ratio: opts.read_ratio,
        multi_size: opts.multi_size,
        seed: opts.seed,
        length: opts.length,
        warmup_secs: opts.warmup.as_secs_f64(),
        setup_secs: prepared.secs,
        keys_created: prepared.keys_created,
        keys_rewritten: prepared.keys_rewritten,
        secs: 0.0,
        ops: 0,
        warmup_ops: 0,
        abandoned: 0,
        connection_losses: 0,
        reconnects: 0,
        types: Vec::new(),
        first_parent: prepared.first_parent,
        parents: prepared.parents,
        notes: Vec::new(),
    };
    let mut last_done = None;
    let mut gave_up = Vec::new();
    for (i, s) in results.iter().enumerate() {
        for (acc, st) in stats.iter_mut().zip(&s.stats) {
            acc.merge(st);
        }
        r.ops += s.measured_ops;
        r.warmup_ops += s.warmup_ops;
        r.abandoned += s.abandoned;
        r.connection_losses += s.connection_losses;
        r.reconnects += s.reconnects;
        last_done = last_done.max(s.last_done);
        if let Some(why) = &s.gave_up {
            gave_up.push((i, why.clone()));
        }
    }
    let measured = last_done.map_or(0.0, |t| t.saturating_duration_since(warm_end).as_secs_f64());
    r.secs = match opts.length {
        Length::Duration(d) => measured.max(d.as_secs_f64()),
        Length::Count(_) => measured,
    };
    r.types = OpType::of(opts.op)
        .iter()
        .map(|&t| TypeReport {
            op_type: t,
            stats: std::mem::take(&mut stats[t as usize]),
        })
        .collect();
    if let Some((i, why)) = gave_up.first() {
        r.notes.push(format!(
            "{} of {clients} sessions stopped early (client {i}: {why})",
            gave_up.len()
        ));
    }
    r
}
