//! Purging old snapshots and the logs only they need (`autopurge.*`, `zkCleanup.sh`).
//!
//! Keeps the newest `retain` snapshots (at least 3, as ZooKeeper insists) and every log file
//! that may hold a txn after the oldest of them: a log file goes only when the next log file
//! starts at or below that snapshot's zxid.

use std::path::{Path, PathBuf};

use super::{snapshot, txnlog};

/// ZooKeeper never keeps fewer snapshots than this.
pub const MIN_RETAIN: usize = 3;

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Purged {
    pub snapshots: Vec<PathBuf>,
    pub logs: Vec<PathBuf>,
}

/// Deletes what the newest `retain` snapshots do not need. Does nothing when fewer snapshots
/// exist than `retain`.
pub fn purge(snap_dir: &Path, log_dir: &Path, retain: usize) -> std::io::Result<Purged> {
    let retain = retain.max(MIN_RETAIN);
    let snaps = snapshot::list(snap_dir)?; // newest first
    let mut out = Purged::default();
    if snaps.len() <= retain {
        return Ok(out);
    }
    let oldest_kept = snaps[retain - 1].0;
    let logs = txnlog::log_files(log_dir).map_err(std::io::Error::other)?; // by first zxid
    for (i, (_, path)) in logs.iter().enumerate() {
        match logs.get(i + 1) {
            Some((next_start, _)) if *next_start <= oldest_kept => out.logs.push(path.clone()),
            _ => break,
        }
    }
    out.snapshots = snaps[retain..].iter().map(|(_, p)| p.clone()).collect();
    for p in out.snapshots.iter().chain(&out.logs) {
        std::fs::remove_file(p)?;
        tracing::info!(file = %p.display(), "purged");
    }
    Ok(out)
}
