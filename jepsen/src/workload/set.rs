//! A set: clients add unique elements `n` by creating `/jepsen/set/b<n % 256>/e<n>` (an
//! acknowledged create must survive); after the run, once faults are healed, the harness calls
//! [`read_all`] for the final read (`sync` then `getChildren` of every bucket, by a fresh
//! client). Every op is on key 0. The buckets keep each listing far below `jute.maxbuffer`
//! however long the run (one parent with a few hundred thousand children would not fit).

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use zk_client::{Acl, CreateMode};

use super::{call, connect, connect_string, setup, Config, Outcome, Recorder, Worker};
use crate::history::{Op, Value, F};

pub const DIR: &str = "/jepsen/set";

/// Children of [`DIR`] the elements are spread over.
pub const BUCKETS: i64 = 256;

fn bucket(n: i64) -> String {
    format!("{DIR}/b{}", n.rem_euclid(BUCKETS))
}

/// Runs set clients until `cfg.stop` fires.
pub async fn run(cfg: &Config, rec: &Recorder) -> anyhow::Result<()> {
    let buckets: Vec<String> = (0..BUCKETS).map(bucket).collect();
    let mut paths = vec![DIR];
    paths.extend(buckets.iter().map(String::as_str));
    setup(cfg, &paths).await?;
    let next = Arc::new(AtomicI64::new(0));
    super::run_clients(cfg, rec, |w| client(w, next.clone())).await
}

async fn client(mut w: Worker, next: Arc<AtomicI64>) {
    let acl = Acl::open_unsafe();
    while w.think().await {
        let Some(c) = w.client().await else { break };
        let n = next.fetch_add(1, Ordering::Relaxed);
        let h = w.invoke(F::Add, 0, Value::Int(n));
        let path = format!("{}/e{n}", bucket(n));
        let create = c.create(&path, b"", &acl, CreateMode::Persistent);
        let r = call(w.cfg.op_timeout, create).await;
        let (outcome, err) = match r {
            Ok(_) => (Outcome::Ok(Value::Int(n)), None),
            Err(e) => (e.outcome(), Some(e)),
        };
        w.finish(h, outcome, err.as_ref());
    }
    w.close().await;
}

/// The final read: a fresh client (under a new process) connects to `addrs`, syncs and lists
/// the set's elements. Returns the completion: `Ok` with `Value::List` (sorted), or
/// `Fail`/`Info`; the harness may call it again.
pub async fn read_all(addrs: &[String], rec: &Recorder, timeout: Duration) -> Op {
    let process = rec.new_process();
    let h = rec.invoke(process, F::ReadAll, 0, Value::None, None);
    let cs = connect_string(addrs, 0);
    let r = call(timeout, async {
        let c = connect(&cs, timeout, timeout).await?;
        rec.set_session(process, c.session_id());
        let r = async {
            c.sync(DIR).await?;
            let mut all = Vec::new();
            for b in 0..BUCKETS {
                all.extend(c.get_children(&bucket(b)).await?);
            }
            Ok::<_, zk_client::Error>(all)
        }
        .await;
        let _ = tokio::time::timeout(Duration::from_secs(5), c.close()).await;
        r
    })
    .await;
    match r {
        Ok(children) => {
            let mut v: Vec<i64> = children
                .iter()
                .filter_map(|c| c.strip_prefix('e')?.parse().ok())
                .collect();
            v.sort_unstable();
            rec.ok(h, Value::List(v))
        }
        Err(e) => match e.outcome() {
            Outcome::Fail(m) => rec.fail(h, m),
            Outcome::Info(m) => rec.info(h, m),
            Outcome::Ok(_) => unreachable!("an error is never Ok"),
        },
    }
}
