//! A lock: clients take zk-client's lock recipe on `/jepsen/lock`, hold it briefly and release
//! it. `Acquire` completes `Ok` with the fencing token, the lock node's czxid (`Int`);
//! `Release` carries the token and completes `Ok` only when the release deleted the lock node
//! (so the lock was held until the release was invoked); a release that found the lock already
//! lost (`LockLost`: the node gone, the session over) is a `Fail`, and an unknown one (timeout,
//! connection loss) `Info`. The checker's property: no two holders with overlapping validity,
//! in token order, and no two definite holds overlap. Every op is on key 0.
//!
//! Not acquiring within `acquire_wait` (the recipe then deletes its node) is a `Fail`. After any
//! `Info` the client also ends its session: an unknown acquire may have left a queued node,
//! and only the end of its session removes it without question.

use std::time::Duration;

use zk_client::recipes::Lock;

use super::{call, setup, Config, Outcome, Recorder, Worker};
use crate::history::{Type, Value, F};

pub const DIR: &str = "/jepsen/lock";

/// The lock workload's knobs.
#[derive(Debug, Clone)]
pub struct Options {
    /// How long an acquire waits for the lock before giving up (`Fail`).
    pub acquire_wait: Duration,
    /// Mean time a holder keeps the lock (uniform in `0..2*hold`).
    pub hold: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            acquire_wait: Duration::from_secs(3),
            hold: Duration::from_millis(20),
        }
    }
}

/// Runs lock clients until `cfg.stop` fires.
pub async fn run(cfg: &Config, opts: &Options, rec: &Recorder) -> anyhow::Result<()> {
    setup(cfg, &[DIR]).await?;
    let opts = opts.clone();
    super::run_clients(cfg, rec, |w| client(w, opts.clone())).await
}

async fn client(mut w: Worker, opts: Options) {
    while w.think().await {
        let Some(c) = w.client().await else { break };
        let t = w.cfg.op_timeout;
        let lock = Lock::new(&c, DIR);
        let h = w.invoke(F::Acquire, 0, Value::None);
        let r = call(t + opts.acquire_wait, lock.try_acquire(opts.acquire_wait)).await;
        let guard = match r {
            Ok(Some(g)) => g,
            Ok(None) => {
                w.finish(h, Outcome::Fail("not acquired in time".into()), None);
                continue;
            }
            Err(e) => {
                if w.finish(h, e.outcome(), Some(&e)) == Type::Info {
                    w.drop_session();
                }
                continue;
            }
        };
        let token = match call(t, c.exists(guard.node())).await {
            Ok(Some(stat)) => stat.czxid,
            Ok(None) => {
                // Our node is gone already: the lock is not held (the session may be over).
                drop(guard);
                w.finish(h, Outcome::Info("lock node vanished".into()), None);
                w.drop_session();
                continue;
            }
            Err(e) => {
                drop(guard);
                w.finish(h, Outcome::Info(format!("token unknown: {e}")), Some(&e));
                w.drop_session();
                continue;
            }
        };
        w.finish(h, Outcome::Ok(Value::Int(token)), None);
        let max = opts.hold.as_micros() as u64 * 2;
        if max > 0 {
            tokio::time::sleep(Duration::from_micros(w.rng.below(max))).await;
        }
        let h = w.invoke(F::Release, 0, Value::Int(token));
        let r = call(t, guard.release()).await;
        let (outcome, err) = match r {
            Ok(()) => (Outcome::Ok(Value::Int(token)), None),
            // `LockLost` is a Fail (outcome_of), anything else unknown.
            Err(e) => (e.outcome(), Some(e)),
        };
        let lost = err.is_some();
        if w.finish(h, outcome, err.as_ref()) == Type::Info || lost {
            // The session lost the lock (or may have): start afresh with a new one.
            w.drop_session();
        }
    }
    w.close().await;
}
