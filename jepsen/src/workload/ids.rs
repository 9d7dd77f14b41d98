//! Unique ids: each op creates a PERSISTENT_SEQUENTIAL `/jepsen/ids/id-` and completes with
//! the parsed sequence number (`GenId` → `Int`). Ids must be unique, and (per parent)
//! increasing in the order the creates were acknowledged. Every op is on key 0.

use zk_client::{Acl, CreateMode};

use super::{call, setup, Config, Outcome, Recorder, Worker};
use crate::history::{Value, F};

pub const DIR: &str = "/jepsen/ids";

/// The sequence number of a created path (`.../id-0000000042` → 42).
pub fn sequence(path: &str) -> Option<i64> {
    path.rsplit_once("id-")?.1.parse().ok()
}

/// Runs id clients until `cfg.stop` fires.
pub async fn run(cfg: &Config, rec: &Recorder) -> anyhow::Result<()> {
    setup(cfg, &[DIR]).await?;
    super::run_clients(cfg, rec, client).await
}

async fn client(mut w: Worker) {
    let prefix = format!("{DIR}/id-");
    let acl = Acl::open_unsafe();
    while w.think().await {
        let Some(c) = w.client().await else { break };
        let h = w.invoke(F::GenId, 0, Value::None);
        let create = c.create(&prefix, b"", &acl, CreateMode::PersistentSequential);
        let r = call(w.cfg.op_timeout, create).await;
        let (outcome, err) = match r {
            Ok(path) => match sequence(&path) {
                Some(n) => (Outcome::Ok(Value::Int(n)), None),
                // Created, but we cannot say which id: unknown.
                None => (Outcome::Info(format!("unparseable path {path:?}")), None),
            },
            Err(e) => (e.outcome(), Some(e)),
        };
        w.finish(h, outcome, err.as_ref());
    }
    w.close().await;
}
