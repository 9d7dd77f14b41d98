//! Recovery at start: the newest valid snapshot, then every logged txn after it.
//!
//! Refuses to start, deleting nothing, when what is on disk cannot be the whole acknowledged
//! history: a log that does not continue where the snapshot ends, or a log with no snapshot
//! that does not start at the first zxid. A torn tail of the last log file (a crash mid-write:
//! nothing there was acknowledged) is cut off.

use std::path::{Path, PathBuf};
use std::time::Instant;

use thiserror::Error;

use super::{snapshot, txnlog};
use crate::core::{Core, Now};

#[derive(Debug, Error)]
pub enum RecoveryError {
    #[error("snapshot: {0}")]
    Snapshot(String),
    #[error("txn log: {0}")]
    Log(String),
    #[error(
        "the txn log does not continue the {from}: the next txn is {next:#x} but {expected:#x} was expected; \
         txns are missing (deleted or lost log files?). Refusing to start; nothing was deleted"
    )]
    Gap {
        from: String,
        next: i64,
        expected: i64,
    },
}

/// What recovery found.
#[derive(Debug, Clone)]
pub struct Recovered {
    /// The snapshot loaded, if any: its zxid and file.
    pub snapshot: Option<(i64, PathBuf)>,
    pub replayed: u64,
    pub last_zxid: i64,
    /// ms spent finding and loading the snapshot (`startup_snap_load_time`), and replaying
    /// the log after it (`startup_txns_load_time`).
    pub snap_load_ms: u64,
    pub txns_load_ms: u64,
    /// Where a torn log tail was cut, if one was.
    pub truncated: Option<String>,
}

/// Loads `snap_dir` and `log_dir` (both the `version-2` directories) into `core`.
pub fn recover(
    core: &mut Core,
    snap_dir: &Path,
    log_dir: &Path,
    now: Now,
) -> Result<Recovered, RecoveryError> {
    let mut out = Recovered {
        snapshot: None,
        replayed: 0,
        last_zxid: 0,
        truncated: None,
        snap_load_ms: 0,
        txns_load_ms: 0,
    };
    let started = Instant::now();
    let snap_zxid = match snapshot::load_newest_valid(snap_dir)
        .map_err(|e| RecoveryError::Snapshot(e.to_string()))?
    {
        Some((zxid, path, loaded)) => {
            tracing::info!(snapshot = %path.display(), zxid = format_args!("{zxid:#x}"), "loaded snapshot");
            core.restore(loaded.tree, &loaded.sessions, zxid, now);
            out.snapshot = Some((zxid, path));
            zxid
        }
        None => 0,
    };
    out.last_zxid = snap_zxid;
    out.snap_load_ms = started.elapsed().as_millis() as u64;
    let started = Instant::now();
    let from = match &out.snapshot {
        Some((z, p)) => format!("snapshot {} (zxid {z:#x})", p.display()),
        None => "empty tree (there is no snapshot)".to_owned(),
    };
    let mut prev = snap_zxid;
    let mut replayed = 0u64;
    let mut gap: Option<RecoveryError> = None;
    let report = txnlog::scan(log_dir, snap_zxid, |txn| {
        let z = txn.hdr.zxid;
        if replayed == 0 && !txnlog::follows(prev, z) {
            gap = Some(RecoveryError::Gap {
                from: from.clone(),
                next: z,
                expected: prev + 1,
            });
            return Err("gap after the snapshot".to_owned());
        }
        core.replay(&txn, now);
        prev = z;
        replayed += 1;
        Ok(())
    });
    if let Some(g) = gap {
        return Err(g);
    }
    let report = report.map_err(|e| RecoveryError::Log(e.to_string()))?;
    if let Some(torn) = &report.torn_tail {
        tracing::warn!(
            ?torn,
            "txn log ends in a torn record (a crash mid-write); cutting it off"
        );
        txnlog::truncate_torn_tail(torn).map_err(|e| RecoveryError::Log(e.to_string()))?;
        out.truncated = Some(format!("{torn:?}"));
    }
    out.replayed = replayed;
    out.txns_load_ms = started.elapsed().as_millis() as u64;
    out.last_zxid = prev;
    tracing::info!(
        replayed,
        last_zxid = format_args!("{prev:#x}"),
        digest_mismatches = core.stats.digest_mismatches,
        "recovered"
    );
    Ok(out)
}
