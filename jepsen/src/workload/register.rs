//! A compare-and-set register per key, the node `/jepsen/r<k>` holding the value as decimal
//! text. Each client op is, at random:
//! - **read**: `getData` → `Ok(Int(v))`, or `Ok(None)` when the node does not exist yet;
//! - **write** `v`: `setData(v, -1)`, or `create(v)` when the node is missing (and `setData`
//!   again if a concurrent create won). Each step either fails definitely or ends the op, so at
//!   most one of them takes effect: the op is one write of `v`;
//! - **cas** `(a, b)`: a `getData` recorded as its own **read** op (value `a`, stat version
//!   `n`), then a `setData(b, n)` recorded as `Cas(Pair(a, b))`, invoked when the `setData` is
//!   sent. The version check makes it a true compare-and-set of the value: registers are never
//!   deleted, so version `n` of the node is exactly the state the read saw, holding `a`, and
//!   `setData(b, n)` succeeds iff it applies to that state. Recording the `getData` as a read
//!   (rather than widening the cas's invocation to before it) gives the checker the read as
//!   well and the cas its real, tighter interval. `BadVersion` is a definite `Fail`. If the
//!   read fails, or finds no node, no cas is attempted.
//!
//! Data that does not parse as an integer reads as `-1`, a value never written, so the checker
//! flags it.
//!
//! Keys: each op picks one of `keys` live keys at random. With `ops_per_key` set, once the
//! run has invoked `keys * ops_per_key` ops the live keys move on to fresh ones (Jepsen's
//! independent keys), keeping each key's history small enough to check.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use zk_client::{Acl, CreateMode, ErrorCode};

use super::{call, setup, CallError, Config, Outcome, Recorder, Worker};
use crate::history::{Value, F};

/// The register workload's knobs.
#[derive(Debug, Clone)]
pub struct Options {
    /// Keys in use at a time.
    pub keys: u64,
    /// Values written are in `0..values`.
    pub values: i64,
    /// Move to fresh keys after this many ops per key (`None`: never).
    pub ops_per_key: Option<u64>,
    /// Relative weights of read, write and cas.
    pub weights: [u32; 3],
}

impl Default for Options {
    fn default() -> Self {
        Options {
            keys: 4,
            values: 5,
            ops_per_key: Some(1000),
            weights: [1, 1, 1],
        }
    }
}

/// The node of key `k`.
pub fn path(k: u64) -> String {
    format!("/jepsen/r{k}")
}

fn parse(data: &[u8]) -> Value {
    match std::str::from_utf8(data).ok().and_then(|s| s.parse().ok()) {
        Some(v) => Value::Int(v),
        None => Value::Int(-1),
    }
}

/// Runs register clients until `cfg.stop` fires.
pub async fn run(cfg: &Config, opts: &Options, rec: &Recorder) -> anyhow::Result<()> {
    anyhow::ensure!(
        opts.keys > 0 && opts.values > 0,
        "keys and values must be > 0"
    );
    anyhow::ensure!(opts.weights.iter().any(|w| *w > 0), "all weights are 0");
    setup(cfg, &["/jepsen"]).await?;
    let invoked = Arc::new(AtomicU64::new(0));
    let opts = Arc::new(opts.clone());
    super::run_clients(cfg, rec, |w| client(w, opts.clone(), invoked.clone())).await
}

async fn client(mut w: Worker, opts: Arc<Options>, invoked: Arc<AtomicU64>) {
    let total: u64 = opts.weights.iter().map(|w| *w as u64).sum();
    while w.think().await {
        let Some(c) = w.client().await else { break };
        let n = invoked.fetch_add(1, Ordering::Relaxed);
        let generation = opts
            .ops_per_key
            .map_or(0, |per| n / (per * opts.keys).max(1));
        let key = generation * opts.keys + w.rng.below(opts.keys);
        let p = path(key);
        let t = w.cfg.op_timeout;
        let mut pick = w.rng.below(total);
        let which = opts
            .weights
            .iter()
            .position(|wt| {
                let hit = pick < *wt as u64;
                pick = pick.saturating_sub(*wt as u64);
                hit
            })
            .unwrap_or(0);
        match which {
            0 => {
                read(&mut w, &c, key, &p).await;
            }
            1 => {
                let v = w.rng.below(opts.values as u64) as i64;
                let h = w.invoke(F::Write, key, Value::Int(v));
                let r = write(&c, &p, v, t).await;
                let (outcome, err) = match r {
                    Ok(()) => (Outcome::Ok(Value::Int(v)), None),
                    Err(e) => (e.outcome(), Some(e)),
                };
                w.finish(h, outcome, err.as_ref());
            }
            _ => {
                let Some((Value::Int(a), version)) = read(&mut w, &c, key, &p).await else {
                    continue;
                };
                let b = w.rng.below(opts.values as u64) as i64;
                let h = w.invoke(F::Cas, key, Value::Pair(a, b));
                let r = call(t, c.set_data(&p, b.to_string().as_bytes(), version)).await;
                let (outcome, err) = match r {
                    Ok(_) => (Outcome::Ok(Value::Pair(a, b)), None),
                    Err(e) => (e.outcome(), Some(e)),
                };
                w.finish(h, outcome, err.as_ref());
            }
        }
    }
    w.close().await;
}

/// A recorded read; returns the value and version when it completed `Ok` with a node.
async fn read(w: &mut Worker, c: &zk_client::Client, key: u64, p: &str) -> Option<(Value, i32)> {
    let h = w.invoke(F::Read, key, Value::None);
    // ZooKeeper's reads are sequentially consistent, not linearizable: a follower may lag.
    // `sync` first brings the server up to the leader's commit point, as a client that needs
    // the latest value does; only such reads can be held to linearizability.
    let synced_read = async {
        c.sync(p).await?;
        c.get_data(p).await
    };
    match call(w.cfg.op_timeout, synced_read).await {
        Ok((data, stat)) => {
            let v = parse(&data);
            w.finish(h, Outcome::Ok(v.clone()), None);
            Some((v, stat.version))
        }
        Err(e) if e.server_code() == Some(ErrorCode::NoNode) => {
            w.finish(h, Outcome::Ok(Value::None), None);
            None
        }
        Err(e) => {
            w.finish(h, e.outcome(), Some(&e));
            None
        }
    }
}

/// Writes `v`: setData, else create, else setData again. Returns the first error that is not
/// a definite "try the other way".
async fn write(
    c: &zk_client::Client,
    p: &str,
    v: i64,
    t: std::time::Duration,
) -> Result<(), CallError> {
    let data = v.to_string();
    let acl = Acl::open_unsafe();
    let deadline = tokio::time::Instant::now() + t;
    let left = || deadline.saturating_duration_since(tokio::time::Instant::now());
    for _ in 0..3 {
        match call(left(), c.set_data(p, data.as_bytes(), -1)).await {
            Ok(_) => return Ok(()),
            Err(e) if e.server_code() == Some(ErrorCode::NoNode) => {}
            Err(e) => return Err(e),
        }
        let create = c.create(p, data.as_bytes(), &acl, CreateMode::Persistent);
        match call(left(), create).await {
            Ok(_) => return Ok(()),
            Err(e) if e.server_code() == Some(ErrorCode::NodeExists) => {}
            Err(e) => return Err(e),
        }
    }
    // Three definite misses in a row (a node created and deleted under us): nothing applied.
    Err(CallError::Zk(zk_client::Error::Server(ErrorCode::NoNode)))
}
