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

/// ZooKeeper's quick validity test (`isValidSnapshot`): a complete snapshot ends with its last
/// seal's `ustring "/"`. Damaged or half-written files do not count towards `retain`.
fn looks_complete(path: &Path) -> bool {
    use std::io::{Read, Seek, SeekFrom};
    let Ok(mut f) = std::fs::File::open(path) else {
        return false;
    };
    let mut tail = [0u8; 5];
    f.seek(SeekFrom::End(-5)).is_ok()
        && f.read_exact(&mut tail).is_ok()
        && tail == [0, 0, 0, 1, b'/']
}

/// Deletes what the newest `retain` complete snapshots do not need: older snapshots (complete
/// or not) and the logs only they need. Does nothing when fewer complete snapshots exist.
pub fn purge(snap_dir: &Path, log_dir: &Path, retain: usize) -> std::io::Result<Purged> {
    let retain = retain.max(MIN_RETAIN);
    let snaps = snapshot::list(snap_dir)?; // newest first
    let mut out = Purged::default();
    let complete: Vec<i64> = snaps
        .iter()
        .filter(|(_, p)| looks_complete(p))
        .map(|(z, _)| *z)
        .collect();
    if complete.len() < retain {
        return Ok(out);
    }
    let oldest_kept = complete[retain - 1];
    let logs = txnlog::log_files(log_dir).map_err(std::io::Error::other)?; // by first zxid
    for (i, (_, path)) in logs.iter().enumerate() {
        match logs.get(i + 1) {
            Some((next_start, _)) if *next_start <= oldest_kept => out.logs.push(path.clone()),
            _ => break,
        }
    }
    out.snapshots = snaps
        .iter()
        .filter(|(z, _)| *z < oldest_kept)
        .map(|(_, p)| p.clone())
        .collect();
    for p in out.snapshots.iter().chain(&out.logs) {
        std::fs::remove_file(p)?;
        tracing::info!(file = %p.display(), "purged");
    }
    Ok(out)
}
