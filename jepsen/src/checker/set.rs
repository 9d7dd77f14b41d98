//! Set completeness: concurrent `Add(Int(x))` operations and a final `ReadAll` (returning
//! `Value::List`) after healing, per key.
//!
//! The final read of a key is its `Ok` `ReadAll` that completed last. Then, for each element:
//! - lost: an `Add` of it completed `Ok` before the final read was invoked, and the final read
//!   does not contain it;
//! - unexpected: the final read contains it but no `Add` of it was attempted, or every attempt
//!   `Fail`ed;
//! - indeterminate (`Info`) adds, and `Ok` adds concurrent with the final read, may be either
//!   (the report counts how many of the indeterminate ones survived);
//! - an element listed twice in the final read is also an anomaly.
//!
//! A key with adds but no successful `ReadAll` is `Unknown`.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::{completed, describe, Completed, Valid, Verdict};
use crate::history::{Op, Type, Value, F};

/// The result for one key.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeyReport {
    pub key: u64,
    /// History position of the final read's invocation, if there is one.
    pub final_read: Option<usize>,
    /// Distinct elements attempted.
    pub attempted: usize,
    /// Elements with an `Ok` add that completed before the final read.
    pub acknowledged: usize,
    /// Elements in the final read.
    pub present: usize,
    /// Elements whose adds were all indeterminate (or concurrent with the final read), and
    /// that are present.
    pub recovered: usize,
    /// Acknowledged but absent.
    pub lost: Vec<i64>,
    /// Present but never added, or only by failed adds.
    pub unexpected: Vec<i64>,
    /// Present more than once.
    pub duplicated: Vec<i64>,
    /// Why the key could not be checked.
    pub unknown: Option<String>,
}

/// The result for every key with set operations.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    pub keys: Vec<KeyReport>,
}

impl Report {
    pub fn valid(&self) -> Valid {
        self.keys.iter().fold(Valid::Yes, |acc, k| {
            acc.and(if k.unknown.is_some() {
                Valid::Unknown
            } else if !k.lost.is_empty() || !k.unexpected.is_empty() || !k.duplicated.is_empty() {
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
                "key {}: {} attempted, {} acknowledged, {} present, {} indeterminate present, {} lost, {} unexpected, {} duplicated\n",
                k.key,
                k.attempted,
                k.acknowledged,
                k.present,
                k.recovered,
                k.lost.len(),
                k.unexpected.len(),
                k.duplicated.len()
            ));
            for (what, list) in [
                ("lost", &k.lost),
                ("unexpected", &k.unexpected),
                ("duplicated", &k.duplicated),
            ] {
                if !list.is_empty() {
                    let shown: Vec<String> = list.iter().take(50).map(|x| x.to_string()).collect();
                    let more = if list.len() > 50 { " ..." } else { "" };
                    details.push_str(&format!("  {what}: {}{more}\n", shown.join(" ")));
                }
            }
        }
        Verdict {
            valid: self.valid(),
            name: "set".to_string(),
            details,
        }
    }
}

/// Checks every key with `Add` or `ReadAll` operations.
pub fn check(history: &[Op]) -> Report {
    let all = completed(history);
    let mut by_key: BTreeMap<u64, Vec<&Completed<'_>>> = BTreeMap::new();
    for op in &all {
        if matches!(op.f, F::Add | F::ReadAll) {
            by_key.entry(op.key).or_default().push(op);
        }
    }
    Report {
        keys: by_key
            .into_iter()
            .map(|(key, ops)| check_key(key, &ops))
            .collect(),
    }
}

#[derive(Default)]
struct Element {
    /// An `Ok` add completed before the final read was invoked.
    must: bool,
    /// Some attempt did not fail.
    may: bool,
}

fn check_key(key: u64, ops: &[&Completed<'_>]) -> KeyReport {
    let mut r = KeyReport {
        key,
        ..KeyReport::default()
    };
    let last = ops
        .iter()
        .filter(|o| o.f == F::ReadAll && o.typ == Type::Ok)
        .max_by_key(|o| o.completion);
    let Some(last) = last else {
        r.unknown = Some("no successful final read".to_string());
        return r;
    };
    let Value::List(read) = last.result else {
        r.unknown = Some(format!("malformed final read {}", describe(last)));
        return r;
    };
    r.final_read = Some(last.invoke);
    let mut elements: HashMap<i64, Element> = HashMap::new();
    for op in ops.iter().filter(|o| o.f == F::Add) {
        let Value::Int(x) = op.arg else {
            r.unknown = Some(format!("malformed add {}", describe(op)));
            return r;
        };
        let e = elements.entry(*x).or_default();
        match op.typ {
            Type::Ok => {
                e.may = true;
                if op.completion.is_some_and(|c| c < last.invoke) {
                    e.must = true;
                }
            }
            Type::Info | Type::Invoke => e.may = true,
            Type::Fail => {}
        }
    }
    let mut present: BTreeSet<i64> = BTreeSet::new();
    let mut duplicated = BTreeSet::new();
    for &x in read {
        if !present.insert(x) {
            duplicated.insert(x);
        }
    }
    r.attempted = elements.len();
    r.present = present.len();
    r.duplicated = duplicated.into_iter().collect();
    let mut lost = Vec::new();
    for (&x, e) in &elements {
        if e.must {
            r.acknowledged += 1;
            if !present.contains(&x) {
                lost.push(x);
            }
        } else if e.may && present.contains(&x) {
            r.recovered += 1;
        }
    }
    lost.sort_unstable();
    r.lost = lost;
    r.unexpected = present
        .iter()
        .copied()
        .filter(|x| !elements.get(x).is_some_and(|e| e.may))
        .collect();
    r
}
