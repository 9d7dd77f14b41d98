//! A run's results directory:
//! - `history.edn`: the history in Jepsen's EDN form (see [`edn`] for the exact shape), plus
//!   `independent/<key>.edn`, one plain cas-register history per key, for Knossos;
//! - `history.txt`: the same, one aligned line per event, for people;
//! - `faults.txt`: the fault periods;
//! - `summary.txt`: parameters, op counts, latencies, faults and the checkers' verdicts;
//! - `latency.svg`: latency over time, one point per completed op coloured by outcome, with
//!   the fault periods shaded.

pub mod edn;
pub mod svg;
pub mod text;

use std::path::Path;

use crate::history::Op;

/// A period during which a fault was active (on the run's time axis).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    pub start_ns: u64,
    pub end_ns: u64,
    pub label: String,
}

impl Fault {
    pub fn new(start_ns: u64, end_ns: u64, label: impl Into<String>) -> Fault {
        Fault {
            start_ns,
            end_ns,
            label: label.into(),
        }
    }
}

/// One checker's verdict, as the summary shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub checker: String,
    /// `Some(true)` valid, `Some(false)` anomaly found, `None` unknown (e.g. gave up).
    pub valid: Option<bool>,
    /// A short explanation (anomalies found, what was checked).
    pub detail: String,
}

impl Verdict {
    pub fn new(checker: impl Into<String>, valid: Option<bool>, detail: impl Into<String>) -> Self {
        Verdict {
            checker: checker.into(),
            valid,
            detail: detail.into(),
        }
    }
}

/// What the summary says besides what the history shows.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    /// e.g. `register, nemesis partition,kill, seed 7`.
    pub title: String,
    /// Run parameters, printed as `key: value`.
    pub params: Vec<(String, String)>,
    pub verdicts: Vec<Verdict>,
}

impl Summary {
    /// `Some(false)` if any verdict is invalid, `Some(true)` if there are verdicts and all are
    /// valid, else `None`.
    pub fn valid(&self) -> Option<bool> {
        if self.verdicts.is_empty() {
            return None;
        }
        let mut all = Some(true);
        for v in &self.verdicts {
            match v.valid {
                Some(false) => return Some(false),
                None => all = None,
                Some(true) => {}
            }
        }
        all
    }
}

/// Writes the results directory (created if missing; files overwritten).
pub fn write(
    dir: &Path,
    history: &[Op],
    faults: &[Fault],
    summary: &Summary,
) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join("history.edn"), edn::history(history))?;
    let per_key = edn::register_histories(history);
    if !per_key.is_empty() {
        let ind = dir.join("independent");
        std::fs::create_dir_all(&ind)?;
        for (k, s) in per_key {
            std::fs::write(ind.join(format!("{k}.edn")), s)?;
        }
    }
    std::fs::write(dir.join("history.txt"), text::history(history))?;
    std::fs::write(dir.join("faults.txt"), text::faults(faults))?;
    std::fs::write(
        dir.join("summary.txt"),
        text::summary(history, faults, summary),
    )?;
    std::fs::write(dir.join("latency.svg"), svg::latency(history, faults))?;
    Ok(())
}

/// One completed operation: when it was invoked, how long it took, how it ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    pub invoke_ns: u64,
    pub latency_ns: u64,
    pub f: crate::history::F,
    pub typ: crate::history::Type,
    pub process: u64,
}

/// Every completed operation of `history` (invocations never completed are left out), in
/// invocation order.
pub fn samples(history: &[Op]) -> Vec<Sample> {
    crate::history::pairs(history)
        .into_iter()
        .filter_map(|(i, c)| {
            let (inv, done) = (&history[i], &history[c?]);
            Some(Sample {
                invoke_ns: inv.time_ns,
                latency_ns: done.time_ns.saturating_sub(inv.time_ns),
                f: inv.f,
                typ: done.typ,
                process: inv.process,
            })
        })
        .collect()
}
