//! ZooKeeper's per-session read guarantees on the registers (`Read`/`Write`/`Cas` per key),
//! with one process being one session.
//!
//! ZooKeeper orders all writes (by zxid) consistently with real time, but a session may read
//! from a follower that lags: reads are not linearizable, they are only guaranteed to be
//! monotonic within a session and to reflect the session's own writes. This checker verifies
//! exactly that, conservatively (it never reports a violation that some valid write order
//! would explain), using only real-time facts about writes:
//!
//! - The *sources* of a value `v` on a key are its non-failed `Write(v)`/`Cas(_, v)`
//!   operations; the source of `None` is the initial state, before every write.
//! - If every source of `w` completed before every source of `u` was invoked (or `w` is `None`
//!   and `u` is not), then `w` precedes `u` in every valid write order.
//! - Per process and key, a *floor* is the latest invocation among: the process's own `Ok`
//!   writes/cas (their invocation), and the earliest source invocation of each value it has
//!   read. A later `Ok` read of `w` violates the guarantees if every source of `w` completed
//!   before the floor: that is a read going back in time (monotonic reads) or not seeing the
//!   process's own earlier write (read-your-writes).
//! - A read of a value with no source at all (never written, or written only by failed
//!   operations) is reported as a phantom read.
//!
//! Not checked: ordering across keys (a session's view is one prefix of the zxid order over
//! all keys), and orders only derivable from reads or cas chains (e.g. between concurrent
//! writes). Linearizability, which implies all of this, is [`super::linear`]'s job.

use std::collections::{BTreeMap, HashMap};

use super::{completed, describe, Completed, Valid, Verdict};
use crate::history::{Op, Type, Value, F};

/// The result of the session check.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// `Ok` reads checked.
    pub reads: usize,
    /// Reads that went back before the session's floor.
    pub stale: Vec<String>,
    /// Reads of values nothing wrote.
    pub phantom: Vec<String>,
    /// Malformed operations.
    pub unknown: Option<String>,
}

impl Report {
    pub fn valid(&self) -> Valid {
        if self.unknown.is_some() {
            Valid::Unknown
        } else if self.stale.is_empty() && self.phantom.is_empty() {
            Valid::Yes
        } else {
            Valid::No
        }
    }

    pub fn verdict(&self) -> Verdict {
        let mut details = format!(
            "{} reads checked, {} went back in time (monotonic reads / read-your-writes), {} phantom\n",
            self.reads,
            self.stale.len(),
            self.phantom.len()
        );
        if let Some(why) = &self.unknown {
            details.push_str(&format!("unknown: {why}\n"));
        }
        super::push_limited(&mut details, &self.stale, 20);
        super::push_limited(&mut details, &self.phantom, 20);
        Verdict {
            valid: self.valid(),
            name: "session".to_string(),
            details,
        }
    }
}

/// Real-time bounds of a value's sources (history positions; -1 is the initial state).
#[derive(Clone, Copy)]
struct Bounds {
    /// The earliest invocation of a source.
    lower: i64,
    /// The latest completion of a source (`i64::MAX` if one is indeterminate).
    upper: i64,
}

/// Checks the session guarantees over every register key.
pub fn check(history: &[Op]) -> Report {
    let all = completed(history);
    let mut report = Report::default();
    let mut sources: HashMap<(u64, Option<i64>), Bounds> = HashMap::new();
    let mut by_process: BTreeMap<u64, Vec<&Completed<'_>>> = BTreeMap::new();
    for op in &all {
        if !matches!(op.f, F::Read | F::Write | F::Cas) || op.typ == Type::Fail {
            continue;
        }
        let written = match (op.f, op.arg) {
            (F::Write, Value::Int(v)) | (F::Cas, Value::Pair(_, v)) => Some(*v),
            (F::Read, _) => None,
            _ => {
                report.unknown = Some(format!("malformed operation {}", describe(op)));
                return report;
            }
        };
        if let Some(v) = written {
            let upper = match (op.typ, op.completion) {
                (Type::Ok, Some(c)) => c as i64,
                _ => i64::MAX,
            };
            let b = sources.entry((op.key, Some(v))).or_insert(Bounds {
                lower: op.invoke as i64,
                upper,
            });
            b.lower = b.lower.min(op.invoke as i64);
            b.upper = b.upper.max(upper);
        }
        if op.typ == Type::Ok {
            by_process.entry(op.process).or_default().push(op);
        }
    }
    for ops in by_process.values() {
        // Per key: the floor and the op that set it.
        let mut floors: HashMap<u64, (i64, &Completed<'_>)> = HashMap::new();
        for op in ops {
            let (lower, read) = match (op.f, op.result, op.arg) {
                (F::Read, Value::None, _) => (-1, Some(None)),
                (F::Read, Value::Int(v), _) => {
                    let Some(b) = sources.get(&(op.key, Some(*v))) else {
                        report.reads += 1;
                        report.phantom.push(format!(
                            "{} read a value no write (except failed ones) wrote",
                            describe(op)
                        ));
                        continue;
                    };
                    (b.lower, Some(Some(*v)))
                }
                (F::Read, _, _) => {
                    report.unknown = Some(format!("malformed read {}", describe(op)));
                    return report;
                }
                _ => (op.invoke as i64, None),
            };
            if let Some(value) = read {
                report.reads += 1;
                let upper = match value {
                    None => -1,
                    Some(v) => sources[&(op.key, Some(v))].upper,
                };
                if let Some(&(floor, by)) = floors.get(&op.key) {
                    if upper < floor {
                        let what = if by.f == F::Read {
                            "the value it read earlier in"
                        } else {
                            "its own earlier"
                        };
                        report.stale.push(format!(
                            "{} read a value every write of which completed before {what} {}",
                            describe(op),
                            describe(by)
                        ));
                    }
                }
            }
            let f = floors.entry(op.key).or_insert((lower, op));
            if lower > f.0 {
                *f = (lower, op);
            }
        }
    }
    report
}
