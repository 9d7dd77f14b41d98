//! Lock recipe safety, per lock (the key): `Acquire` completes `Ok` with `Value::Int(token)`
//! (the fencing token: the lock node's czxid); `Release` carries `Value::Int(token)` and
//! completes `Ok` only if the lock node still existed when it was deleted.
//!
//! Checked:
//! - no fencing token is granted twice;
//! - tokens increase with real time: if acquire A completed before acquire B was invoked, A's
//!   token is below B's;
//! - with [`Options::release_ok_means_held`], no two *definite* holds overlap. A hold is
//!   definite from its `Acquire`'s `Ok` completion to the invocation of the same process's
//!   `Release` of that token, when that release completed `Ok` and `Ok` means the lock node
//!   was still there to delete (the node, and so the lock, existed throughout). Holds that end
//!   otherwise (session expiry, indeterminate release) are not definite: their validity is
//!   what the fencing token is for. zk-client's recipe reports a release that found its node
//!   already deleted (`NoNode`, e.g. after the session expired) as `Error::LockLost`, which
//!   the lock workload records as `Fail`, so an `Ok` release proves the hold and overlaps are
//!   violations by default.

use std::collections::BTreeMap;

use super::{completed, describe, push_limited, Completed, Valid, Verdict};
use crate::history::{Op, Type, Value, F};

/// What a history's `Release` results mean.
#[derive(Clone, Debug)]
pub struct Options {
    /// A `Release` completes `Ok` only if it deleted the lock node (not on `NoNode`): then
    /// overlapping definite holds are violations.
    pub release_ok_means_held: bool,
}

impl Default for Options {
    /// `release_ok_means_held: true`. Sound for histories of the lock workload since
    /// zk-client's `LockGuard::release` returns `Ok` only when its own delete removed the node
    /// (a `NoNode`, an ended session, or a `NoNode` after a retried delete is an error there,
    /// recorded `Fail` or `Info`). The node existing until that delete means the lock was held
    /// until then: a contender acquires only once its read of the children, ordered after its
    /// own create and so after ours, no longer shows our node. Use `false` for histories
    /// recorded by a client whose release swallows `NoNode`.
    fn default() -> Self {
        Options {
            release_ok_means_held: true,
        }
    }
}

/// The result for one lock.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeyReport {
    pub key: u64,
    /// `Ok` acquisitions.
    pub acquired: usize,
    /// Holds ended by an `Ok` release.
    pub definite: usize,
    pub duplicates: Vec<String>,
    pub out_of_order: Vec<String>,
    /// Overlapping definite holds (violations only with
    /// [`Options::release_ok_means_held`]).
    pub overlapping: Vec<String>,
    /// Whether `overlapping` counts as a violation.
    pub overlap_is_violation: bool,
    pub unknown: Option<String>,
}

/// The result for every lock.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    pub keys: Vec<KeyReport>,
}

impl Report {
    pub fn valid(&self) -> Valid {
        self.keys.iter().fold(Valid::Yes, |acc, k| {
            acc.and(if k.unknown.is_some() {
                Valid::Unknown
            } else if k.duplicates.is_empty()
                && k.out_of_order.is_empty()
                && (k.overlapping.is_empty() || !k.overlap_is_violation)
            {
                Valid::Yes
            } else {
                Valid::No
            })
        })
    }

    pub fn verdict(&self) -> Verdict {
        let mut details = String::new();
        for k in &self.keys {
            if let Some(why) = &k.unknown {
                details.push_str(&format!("lock {}: unknown: {why}\n", k.key));
                continue;
            }
            details.push_str(&format!(
                "lock {}: {} acquisitions, {} definite holds, {} duplicate tokens, {} out of order, {} overlapping{}\n",
                k.key,
                k.acquired,
                k.definite,
                k.duplicates.len(),
                k.out_of_order.len(),
                k.overlapping.len(),
                if k.overlap_is_violation {
                    ""
                } else {
                    " (not judged: a release's Ok may mean the node was already gone)"
                }
            ));
            push_limited(&mut details, &k.duplicates, 20);
            push_limited(&mut details, &k.out_of_order, 20);
            push_limited(&mut details, &k.overlapping, 20);
        }
        Verdict {
            valid: self.valid(),
            name: "locks".to_string(),
            details,
        }
    }
}

/// Checks every lock with default [`Options`].
pub fn check(history: &[Op]) -> Report {
    check_with(history, &Options::default())
}

/// Checks every lock.
pub fn check_with(history: &[Op], opts: &Options) -> Report {
    let all = completed(history);
    let mut by_key: BTreeMap<u64, Vec<&Completed<'_>>> = BTreeMap::new();
    for op in &all {
        if matches!(op.f, F::Acquire | F::Release) {
            by_key.entry(op.key).or_default().push(op);
        }
    }
    Report {
        keys: by_key
            .into_iter()
            .map(|(key, ops)| check_key(key, &ops, opts))
            .collect(),
    }
}

fn check_key(key: u64, ops: &[&Completed<'_>], opts: &Options) -> KeyReport {
    let mut r = KeyReport {
        key,
        overlap_is_violation: opts.release_ok_means_held,
        ..KeyReport::default()
    };
    let acquires: Vec<&Completed<'_>> = ops
        .iter()
        .copied()
        .filter(|o| o.f == F::Acquire && o.typ == Type::Ok)
        .collect();
    let tokens = match super::ids::values(&acquires) {
        Ok(t) => t,
        Err(e) => {
            r.unknown = Some(e);
            return r;
        }
    };
    r.acquired = acquires.len();
    let (d, o) = super::ids::check_monotonic(&acquires, &tokens, "token");
    r.duplicates = d;
    r.out_of_order = o;
    // Definite holds: (start, end, acquire index).
    let mut holds: Vec<(usize, usize, usize)> = Vec::new();
    for (i, a) in acquires.iter().enumerate() {
        let Some(start) = a.completion else { continue };
        let release = ops.iter().find(|o| {
            o.f == F::Release
                && o.process == a.process
                && o.invoke > start
                && *o.arg == Value::Int(tokens[i])
        });
        if let Some(rel) = release {
            if rel.typ == Type::Ok {
                holds.push((start, rel.invoke, i));
            }
        }
    }
    r.definite = holds.len();
    holds.sort_unstable();
    // Sorted by start: each hold must start after every earlier hold ended.
    let mut latest: Option<(usize, usize)> = None; // (end, acquire index)
    for &(start, end, i) in &holds {
        if let Some((e, j)) = latest {
            if start < e {
                r.overlapping.push(format!(
                    "{} (token {}) acquired while {} (token {}) held the lock",
                    describe(acquires[i]),
                    tokens[i],
                    describe(acquires[j]),
                    tokens[j]
                ));
            }
        }
        if latest.is_none_or(|(e, _)| end > e) {
            latest = Some((end, i));
        }
    }
    r
}
