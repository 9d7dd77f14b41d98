//! Unique ids from sequential znodes: `GenId` on a parent (the key) completes `Ok` with
//! `Value::Int(n)`, the sequence number ZooKeeper appended.
//!
//! Per parent:
//! - no id is returned `Ok` twice;
//! - ids increase with real time: if `GenId` A completed before `GenId` B was invoked, then
//!   `id(A) < id(B)` (B's create was ordered after A's, and the parent's counter only grows).
//!
//! Failed and indeterminate `GenId`s are ignored (an indeterminate create may have consumed a
//! number; gaps are allowed).

use std::collections::{BTreeMap, HashMap};

use super::{completed, describe, push_limited, Completed, Valid, Verdict};
use crate::history::{Op, Type, Value, F};

/// The result for one parent.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeyReport {
    pub key: u64,
    /// `Ok` ids checked.
    pub ok: usize,
    /// Each id returned more than once, with the operations.
    pub duplicates: Vec<String>,
    /// Each operation whose id is not above an id completed before it was invoked.
    pub out_of_order: Vec<String>,
    pub unknown: Option<String>,
}

/// The result for every parent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    pub keys: Vec<KeyReport>,
}

impl Report {
    pub fn valid(&self) -> Valid {
        self.keys.iter().fold(Valid::Yes, |acc, k| {
            acc.and(if k.unknown.is_some() {
                Valid::Unknown
            } else if !k.duplicates.is_empty() || !k.out_of_order.is_empty() {
                Valid::No
            } else {
                Valid::Yes
            })
        })
    }

    pub fn verdict(&self) -> Verdict {
        let mut details = String::new();
        for k in &self.keys {
            if let Some(why) = &k.unknown {
                details.push_str(&format!("key {}: unknown: {why}\n", k.key));
                continue;
            }
            details.push_str(&format!(
                "key {}: {} ids, {} duplicated, {} out of real-time order\n",
                k.key,
                k.ok,
                k.duplicates.len(),
                k.out_of_order.len()
            ));
            push_limited(&mut details, &k.duplicates, 20);
            push_limited(&mut details, &k.out_of_order, 20);
        }
        Verdict {
            valid: self.valid(),
            name: "ids".to_string(),
            details,
        }
    }
}

/// Checks every parent with `GenId` operations.
pub fn check(history: &[Op]) -> Report {
    let all = completed(history);
    let mut by_key: BTreeMap<u64, Vec<&Completed<'_>>> = BTreeMap::new();
    for op in &all {
        if op.f == F::GenId && op.typ == Type::Ok {
            by_key.entry(op.key).or_default().push(op);
        }
    }
    Report {
        keys: by_key
            .into_iter()
            .map(|(key, ops)| {
                let mut r = KeyReport {
                    key,
                    ok: ops.len(),
                    ..KeyReport::default()
                };
                match values(&ops) {
                    Ok(ids) => {
                        let (d, o) = check_monotonic(&ops, &ids, "id");
                        r.duplicates = d;
                        r.out_of_order = o;
                    }
                    Err(e) => r.unknown = Some(e),
                }
                r
            })
            .collect(),
    }
}

/// The `Int` result of every op.
pub(crate) fn values(ops: &[&Completed<'_>]) -> Result<Vec<i64>, String> {
    ops.iter()
        .map(|o| match o.result {
            Value::Int(v) => Ok(*v),
            _ => Err(format!("malformed result {}", describe(o))),
        })
        .collect()
}

/// For `Ok` ops with values (`ops[i]` has `vals[i]`): values returned twice, and ops whose
/// value is not above the largest value of an op that completed before they were invoked.
pub(crate) fn check_monotonic(
    ops: &[&Completed<'_>],
    vals: &[i64],
    what: &str,
) -> (Vec<String>, Vec<String>) {
    let mut seen: HashMap<i64, Vec<usize>> = HashMap::new();
    for (i, &v) in vals.iter().enumerate() {
        seen.entry(v).or_default().push(i);
    }
    let mut dups: Vec<(i64, Vec<usize>)> = seen.into_iter().filter(|(_, v)| v.len() > 1).collect();
    dups.sort_unstable();
    let duplicates = dups
        .into_iter()
        .map(|(v, is)| {
            let who: Vec<String> = is.iter().map(|&i| describe(ops[i])).collect();
            format!("{what} {v} returned by {}", who.join("; "))
        })
        .collect();
    // Sweep the history: at each invocation, the floor is the largest value completed so far.
    let mut events: Vec<(usize, bool, usize)> = Vec::with_capacity(ops.len() * 2);
    for (i, o) in ops.iter().enumerate() {
        events.push((o.invoke, true, i));
        if let Some(c) = o.completion {
            events.push((c, false, i));
        }
    }
    events.sort_unstable();
    let mut max: Option<usize> = None;
    let mut floor: Vec<Option<usize>> = vec![None; ops.len()];
    let mut out_of_order = Vec::new();
    for (_, is_invoke, i) in events {
        if is_invoke {
            floor[i] = max;
        } else {
            if let Some(f) = floor[i] {
                if vals[i] <= vals[f] {
                    out_of_order.push(format!(
                        "{what} {} of {} is not above {what} {} of {}, which completed before it was invoked",
                        vals[i],
                        describe(ops[i]),
                        vals[f],
                        describe(ops[f])
                    ));
                }
            }
            if max.is_none_or(|m| vals[i] > vals[m]) {
                max = Some(i);
            }
        }
    }
    (duplicates, out_of_order)
}
