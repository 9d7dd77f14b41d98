//! The human-readable files: `history.txt`, `faults.txt` and `summary.txt`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

use super::{samples, Fault, Summary};
use crate::history::{Op, Type, F};

/// Seconds with microseconds, e.g. `12.345678`.
pub fn secs(ns: u64) -> String {
    format!("{}.{:06}", ns / 1_000_000_000, (ns % 1_000_000_000) / 1_000)
}

/// A duration with a readable unit (`850us`, `12.3ms`, `4.20s`).
pub fn dur(ns: u64) -> String {
    if ns < 1_000_000 {
        format!("{}us", ns / 1_000)
    } else if ns < 1_000_000_000 {
        format!("{:.1}ms", ns as f64 / 1e6)
    } else {
        format!("{:.2}s", ns as f64 / 1e9)
    }
}

/// One line per event: index, time (s), process, type, f, key, value, node, error.
pub fn history(h: &[Op]) -> String {
    let mut out = String::new();
    for o in h {
        let _ = write!(
            out,
            "{:>7} {:>14} p{:<5} {:<6} {:<9} k{:<4} {:<14}",
            o.index,
            secs(o.time_ns),
            o.process,
            o.typ.to_string(),
            o.f.to_string(),
            o.key,
            super::edn::value(&o.value)
        );
        if let Some(n) = o.node {
            let _ = write!(out, " n{n}");
        }
        if let Some(e) = &o.error {
            let _ = write!(out, " ({e})");
        }
        let end = out.trim_end().len();
        out.truncate(end);
        out.push('\n');
    }
    out
}

/// One line per fault: start, end (s), duration, label.
pub fn faults(faults: &[Fault]) -> String {
    let mut out = String::new();
    for f in faults {
        let _ = writeln!(
            out,
            "{:>12} {:>12} {:>9}  {}",
            secs(f.start_ns),
            secs(f.end_ns),
            dur(f.end_ns.saturating_sub(f.start_ns)),
            f.label
        );
    }
    out
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// The run in a few lines: verdicts first, then parameters, op counts per f and outcome,
/// latencies of completed ops, and the faults.
pub fn summary(h: &[Op], faults_: &[Fault], s: &Summary) -> String {
    let mut out = String::new();
    if !s.title.is_empty() {
        let _ = writeln!(out, "{}\n", s.title);
    }
    let verdict = match s.valid() {
        Some(true) => "VALID",
        Some(false) => "INVALID",
        None => "UNKNOWN",
    };
    let _ = writeln!(out, "verdict: {verdict}");
    for v in &s.verdicts {
        let mark = match v.valid {
            Some(true) => "ok",
            Some(false) => "ANOMALY",
            None => "unknown",
        };
        let _ = writeln!(out, "  {:<24} {:<8} {}", v.checker, mark, v.detail);
    }
    if !s.params.is_empty() {
        out.push('\n');
        for (k, v) in &s.params {
            let _ = writeln!(out, "{k}: {v}");
        }
    }

    let invokes = h.iter().filter(|o| o.typ == Type::Invoke).count();
    let processes: BTreeSet<u64> = h.iter().map(|o| o.process).collect();
    let keys: BTreeSet<u64> = h.iter().map(|o| o.key).collect();
    let span = h.last().map_or(0, |o| o.time_ns);
    let done = samples(h);
    let _ = writeln!(
        out,
        "\nops: {invokes} invoked, {} completed, {} never completed; {} processes, {} keys, {} s",
        done.len(),
        invokes - done.len(),
        processes.len(),
        keys.len(),
        secs(span)
    );

    // Counts per f and completion type.
    let mut counts: BTreeMap<String, [usize; 3]> = BTreeMap::new();
    let mut lat: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for d in &done {
        let c = counts.entry(d.f.to_string()).or_default();
        match d.typ {
            Type::Ok => c[0] += 1,
            Type::Fail => c[1] += 1,
            _ => c[2] += 1,
        }
        if d.typ == Type::Ok {
            lat.entry(d.f.to_string()).or_default().push(d.latency_ns);
        }
    }
    let _ = writeln!(
        out,
        "\n{:<10} {:>8} {:>8} {:>8}   {:>9} {:>9} {:>9} {:>9}",
        "f", "ok", "fail", "info", "p50", "p95", "p99", "max"
    );
    for (f, c) in &counts {
        let mut l = lat.remove(f).unwrap_or_default();
        l.sort_unstable();
        let _ = writeln!(
            out,
            "{:<10} {:>8} {:>8} {:>8}   {:>9} {:>9} {:>9} {:>9}",
            f,
            c[0],
            c[1],
            c[2],
            dur(percentile(&l, 0.5)),
            dur(percentile(&l, 0.95)),
            dur(percentile(&l, 0.99)),
            dur(l.last().copied().unwrap_or(0)),
        );
    }
    let _ = writeln!(out, "(latencies of ok ops)");

    let _ = writeln!(out, "\nfaults: {}", faults_.len());
    out.push_str(&faults(faults_));
    let infos = h.iter().filter(|o| o.typ == Type::Info).count();
    let reads = done.iter().filter(|d| d.f == F::ReadAll).count();
    if reads > 0 {
        let _ = writeln!(out, "\nfinal reads: {reads}");
    }
    let _ = writeln!(out, "\nindeterminate (info) completions: {infos}");
    out
}
