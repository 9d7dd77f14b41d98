//! Checkers over a recorded [`History`](crate::history): pure functions of the history, no I/O.
//!
//! - [`linear`]: linearizability of compare-and-set registers (one register per key), by the
//!   Wing–Gong/Lowe search with memoisation and a step budget.
//! - [`set`]: set completeness (every acknowledged add is in the final read).
//! - [`ids`]: unique ids from sequential znodes (no duplicate, increasing in real time).
//! - [`session`]: ZooKeeper's per-session read guarantees (read-your-writes, monotonic reads),
//!   checked conservatively from real-time facts only.
//! - [`locks`]: lock recipe safety (unique, real-time increasing fencing tokens; no two
//!   definite holds overlap).
//!
//! Every checker returns a report with a [`Verdict`]; [`check_all`] runs each checker whose
//! operations appear in the history.

pub mod ids;
pub mod linear;
pub mod locks;
pub mod session;
pub mod set;

use std::fmt;

use crate::history::{pairs, Op, Type, Value, F};

/// The outcome of one checker.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Valid {
    /// No anomaly.
    Yes,
    /// An anomaly was found (see the details).
    No,
    /// The checker could not decide (search budget exceeded, malformed or missing data).
    Unknown,
}

impl Valid {
    /// Combines two outcomes: `No` wins over `Unknown`, which wins over `Yes`.
    pub fn and(self, other: Valid) -> Valid {
        match (self, other) {
            (Valid::No, _) | (_, Valid::No) => Valid::No,
            (Valid::Unknown, _) | (_, Valid::Unknown) => Valid::Unknown,
            _ => Valid::Yes,
        }
    }
}

impl Valid {
    /// `Some(true)` valid, `Some(false)` anomaly, `None` unknown.
    pub fn as_option(self) -> Option<bool> {
        match self {
            Valid::Yes => Some(true),
            Valid::No => Some(false),
            Valid::Unknown => None,
        }
    }
}

impl fmt::Display for Valid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Valid::Yes => "valid",
            Valid::No => "INVALID",
            Valid::Unknown => "unknown",
        })
    }
}

/// A checker's verdict, for the summary and the exit status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    pub valid: Valid,
    /// The checker: `linearizable`, `set`, `ids`, `session`, `locks`.
    pub name: String,
    /// Human-readable explanation (counts; the anomalies or the reason for `Unknown`).
    pub details: String,
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}\n{}", self.name, self.valid, self.details)
    }
}

/// The combined outcome of several verdicts (`Yes` for none).
pub fn overall(verdicts: &[Verdict]) -> Valid {
    verdicts.iter().fold(Valid::Yes, |acc, v| acc.and(v.valid))
}

/// Runs every checker whose operations occur in `history`, with default options:
/// `linearizable` and `session` for `Read`/`Write`/`Cas`, `set` for `Add`/`ReadAll`, `ids` for
/// `GenId`, `locks` for `Acquire`/`Release` (judging overlapping definite holds: the lock
/// workload records a release `Ok` only when it deleted the lock node, see
/// [`locks::Options`]).
pub fn check_all(history: &[Op]) -> Vec<Verdict> {
    let has = |fs: &[F]| history.iter().any(|op| fs.contains(&op.f));
    let mut out = Vec::new();
    if has(&[F::Read, F::Write, F::Cas]) {
        out.push(linear::check(history, &linear::Options::default()).verdict());
        out.push(session::check(history).verdict());
    }
    if has(&[F::Add, F::ReadAll]) {
        out.push(set::check(history).verdict());
    }
    if has(&[F::GenId]) {
        out.push(ids::check(history).verdict());
    }
    if has(&[F::Acquire, F::Release]) {
        let opts = locks::Options {
            release_ok_means_held: true,
        };
        out.push(locks::check_with(history, &opts).verdict());
    }
    out
}

/// One operation: an invocation with its completion (if any), as positions in the history.
#[derive(Clone, Debug)]
pub(crate) struct Completed<'a> {
    /// Position of the invocation in the history slice.
    pub invoke: usize,
    /// Position of the completion; `None` if the run ended first.
    pub completion: Option<usize>,
    /// `Ok`, `Fail` or `Info` (a missing completion is `Info`).
    pub typ: Type,
    pub process: u64,
    pub f: F,
    pub key: u64,
    /// The invocation's value (the argument).
    pub arg: &'a Value,
    /// The completion's value (the result), or the argument if there is no completion.
    pub result: &'a Value,
    /// `Op::index` of the invocation (for messages).
    pub index: usize,
}

/// Every operation of the history, in invocation order.
pub(crate) fn completed(history: &[Op]) -> Vec<Completed<'_>> {
    pairs(history)
        .into_iter()
        .map(|(inv, done)| {
            let i = &history[inv];
            let c = done.map(|d| &history[d]);
            Completed {
                invoke: inv,
                completion: done,
                typ: c.map_or(Type::Info, |c| c.typ),
                process: i.process,
                f: i.f,
                key: i.key,
                arg: &i.value,
                result: c.map_or(&i.value, |c| &c.value),
                index: i.index,
            }
        })
        .collect()
}

/// Formats an operation for a report line.
pub(crate) fn describe(op: &Completed<'_>) -> String {
    let v = |v: &Value| match v {
        Value::None => "nil".to_string(),
        Value::Int(i) => i.to_string(),
        Value::Pair(a, b) => format!("[{a} {b}]"),
        Value::List(l) => format!("{l:?}"),
    };
    let value = match (op.f, op.typ) {
        (F::Read | F::ReadAll | F::GenId | F::Acquire, Type::Ok) => v(op.result),
        _ => v(op.arg),
    };
    let end = match op.completion {
        Some(c) => format!("{c}"),
        None => "-".to_string(),
    };
    format!(
        "#{} process {} key {} {} {} {} (events {}..{})",
        op.index, op.process, op.key, op.typ, op.f, value, op.invoke, end
    )
}

/// Appends at most `limit` lines, then a count of the rest.
pub(crate) fn push_limited(out: &mut String, lines: &[String], limit: usize) {
    for l in lines.iter().take(limit) {
        out.push_str("  ");
        out.push_str(l);
        out.push('\n');
    }
    if lines.len() > limit {
        out.push_str(&format!("  ... and {} more\n", lines.len() - limit));
    }
}
