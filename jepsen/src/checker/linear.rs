//! Linearizability of compare-and-set registers, one register per key.
//!
//! Operations: `Read` (the completion's value is `Value::Int(v)`, or `Value::None` if the node
//! is missing), `Write(Int(v))` and `Cas(Pair(expected, new))`. Each register starts as
//! `None`. Keys are independent (linearizability is compositional), so each key is checked on
//! its own.
//!
//! # Algorithm
//!
//! The Wing–Gong search as refined by Lowe: the calls and returns of the completed (`Ok`)
//! operations form a doubly-linked list in history order; the search repeatedly linearizes a
//! call that precedes the first outstanding return (if the model allows it and the resulting
//! configuration is new), removing its call and return from the list; on reaching a return it
//! backtracks. A configuration is (the set of linearized operations, the register value); the
//! set of explored configurations is memoised, so each is explored once.
//!
//! Indeterminate operations (`Info`, or no completion) may take effect at any point after
//! their invocation, or never: they have no return entry, so nothing ever forces them. They
//! are tried "just in time": only when the search would otherwise backtrack at a return, any
//! pending indeterminate operation invoked before that return may be linearized first. To keep
//! this tractable:
//! - an indeterminate `Read` has no effect and is dropped; `Fail` operations never happened
//!   and are dropped;
//! - an indeterminate `Write(v)` (or `Cas(e, v)`) whose value `v` is never observed (no `Ok`
//!   read returns it, no non-failed `Cas` expects it) is dropped: in any linearization it is
//!   followed directly by a write or by nothing, so it can be left out (sound);
//! - indeterminate operations that are identical (same function and value) are
//!   interchangeable, so they are only linearized in invocation order (symmetry reduction);
//! - a configuration is skipped if one with the same linearized `Ok` operations, the same
//!   value and a subset of the linearized indeterminate operations was already explored
//!   (having more optional operations still available is never worse).
//!
//! The search is bounded by [`Options`]; when a bound is exceeded the key's outcome is
//! [`Outcome::Unknown`] with the reason, never a hang.
//!
//! Cost: a linearizable history is usually found in about one step per operation. Refuting a
//! history means exhausting every configuration up to the anomaly: on 3000 operations by 10
//! processes that takes well under a second with unique written values (even with 10 %
//! indeterminate writes) or with 5 distinct values and no indeterminate writes, but with
//! dozens of indeterminate writes over a handful of values the configurations multiply and the
//! budget ends it (`Unknown`). Workloads should write unique values.
//!
//! On failure the witness is the operation whose return the search could never get past (the
//! latest such return in history order over the whole search), with the register values the
//! search could reach just before it.

use std::collections::HashMap;

use super::{completed, describe, Completed, Valid, Verdict};
use crate::history::{Op, Type, Value, F};

/// A register's value: `None` while the node does not exist.
pub type State = Option<i64>;

/// Search bounds (per key).
#[derive(Clone, Debug)]
pub struct Options {
    /// Search steps (candidate linearizations and backtracks) before giving up.
    pub max_steps: u64,
    /// Memoised configurations before giving up (bounds memory).
    pub max_configs: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            max_steps: 50_000_000,
            max_configs: 2_000_000,
        }
    }
}

/// The outcome for one key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Linearizable. `order` is one linearization: the history positions of the invocations
    /// of every `Ok` operation and of the indeterminate operations taken as having happened.
    Linearizable { order: Vec<usize> },
    /// Not linearizable.
    NotLinearizable(Witness),
    /// Undecided: a budget was exceeded or the history is malformed.
    Unknown(String),
}

/// Why a key is not linearizable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Witness {
    /// History position of the invocation of the operation that could not be linearized.
    pub op: usize,
    /// That operation, formatted.
    pub description: String,
    /// The register values the search could reach just before that operation had to take
    /// effect (at most 32).
    pub states: Vec<State>,
    /// How many operations were linearized on the first path that reached it.
    pub linearized: usize,
    /// The last operations (at most 10) linearized on that path, oldest first.
    pub last: Vec<String>,
}

/// The result for one key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyReport {
    pub key: u64,
    /// `Ok` operations checked.
    pub ok: usize,
    /// Indeterminate writes/cas kept in the search.
    pub info: usize,
    /// Operations left out: failed, indeterminate reads, unobserved indeterminate writes.
    pub dropped: usize,
    pub steps: u64,
    pub configs: usize,
    pub outcome: Outcome,
}

/// The result for every register key of a history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    /// One entry per key, in key order.
    pub keys: Vec<KeyReport>,
}

impl Report {
    pub fn valid(&self) -> Valid {
        self.keys.iter().fold(Valid::Yes, |acc, k| {
            acc.and(match k.outcome {
                Outcome::Linearizable { .. } => Valid::Yes,
                Outcome::NotLinearizable(_) => Valid::No,
                Outcome::Unknown(_) => Valid::Unknown,
            })
        })
    }

    pub fn verdict(&self) -> Verdict {
        let mut details = String::new();
        let ok: usize = self.keys.iter().map(|k| k.ok).sum();
        let info: usize = self.keys.iter().map(|k| k.info).sum();
        details.push_str(&format!(
            "{} keys, {} ok ops, {} indeterminate writes searched\n",
            self.keys.len(),
            ok,
            info
        ));
        for k in &self.keys {
            match &k.outcome {
                Outcome::Linearizable { .. } => {}
                Outcome::Unknown(why) => {
                    details.push_str(&format!("key {}: unknown: {why}\n", k.key));
                }
                Outcome::NotLinearizable(w) => {
                    details.push_str(&format!(
                        "key {}: not linearizable: cannot linearize {}\n  reachable values just before it: {}\n  after {} linearized ops; last linearized:\n",
                        k.key,
                        w.description,
                        fmt_states(&w.states),
                        w.linearized
                    ));
                    for l in &w.last {
                        details.push_str(&format!("    {l}\n"));
                    }
                }
            }
        }
        Verdict {
            valid: self.valid(),
            name: "linearizable".to_string(),
            details,
        }
    }
}

fn fmt_states(states: &[State]) -> String {
    let s: Vec<String> = states
        .iter()
        .map(|s| s.map_or("nil".to_string(), |v| v.to_string()))
        .collect();
    format!("[{}]", s.join(", "))
}

/// Checks every key that has `Read`, `Write` or `Cas` operations.
pub fn check(history: &[Op], opts: &Options) -> Report {
    let all = completed(history);
    let mut by_key: HashMap<u64, Vec<&Completed<'_>>> = HashMap::new();
    for op in &all {
        if matches!(op.f, F::Read | F::Write | F::Cas) {
            by_key.entry(op.key).or_default().push(op);
        }
    }
    let mut keys: Vec<u64> = by_key.keys().copied().collect();
    keys.sort_unstable();
    Report {
        keys: keys
            .into_iter()
            .map(|k| check_key(k, &by_key[&k], opts))
            .collect(),
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Kind {
    Read(State),
    Write(i64),
    Cas(i64, i64),
}

fn step(s: State, k: Kind) -> Option<State> {
    match k {
        Kind::Read(v) => (s == v).then_some(s),
        Kind::Write(v) => Some(Some(v)),
        Kind::Cas(e, n) => (s == Some(e)).then_some(Some(n)),
    }
}

/// One operation in the search.
struct LOp<'a> {
    inv: usize,
    kind: Kind,
    op: &'a Completed<'a>,
}

fn kind_of(op: &Completed<'_>) -> Result<Option<Kind>, String> {
    if op.typ == Type::Fail {
        return Ok(None);
    }
    let bad = || format!("malformed operation {}", describe(op));
    match op.f {
        F::Read => {
            if op.typ != Type::Ok {
                return Ok(None);
            }
            match op.result {
                Value::None => Ok(Some(Kind::Read(None))),
                Value::Int(v) => Ok(Some(Kind::Read(Some(*v)))),
                _ => Err(bad()),
            }
        }
        F::Write => match op.arg {
            Value::Int(v) => Ok(Some(Kind::Write(*v))),
            _ => Err(bad()),
        },
        F::Cas => match op.arg {
            Value::Pair(e, n) => Ok(Some(Kind::Cas(*e, *n))),
            _ => Err(bad()),
        },
        _ => Ok(None),
    }
}

fn check_key(key: u64, ops: &[&Completed<'_>], opts: &Options) -> KeyReport {
    let mut report = KeyReport {
        key,
        ok: 0,
        info: 0,
        dropped: 0,
        steps: 0,
        configs: 0,
        outcome: Outcome::Linearizable { order: Vec::new() },
    };
    let mut oks: Vec<LOp<'_>> = Vec::new();
    let mut infos: Vec<LOp<'_>> = Vec::new();
    for op in ops {
        match kind_of(op) {
            Err(e) => {
                report.outcome = Outcome::Unknown(e);
                return report;
            }
            Ok(None) => report.dropped += 1,
            Ok(Some(kind)) => {
                let l = LOp {
                    inv: op.invoke,
                    kind,
                    op,
                };
                if op.typ == Type::Ok {
                    oks.push(l);
                } else {
                    infos.push(l);
                }
            }
        }
    }
    // Values something observes: an indeterminate write of anything else can be left out.
    let mut observed = std::collections::HashSet::new();
    for l in oks.iter().chain(infos.iter()) {
        match l.kind {
            Kind::Read(Some(v)) | Kind::Cas(v, _) => {
                observed.insert(v);
            }
            _ => {}
        }
    }
    let before = infos.len();
    infos.retain(|l| match l.kind {
        Kind::Write(v) => observed.contains(&v),
        Kind::Cas(e, n) => e != n && observed.contains(&n),
        Kind::Read(_) => false,
    });
    report.dropped += before - infos.len();
    report.ok = oks.len();
    report.info = infos.len();
    oks.sort_by_key(|l| l.inv);
    infos.sort_by_key(|l| l.inv);
    let mut search = Search::new(&oks, &infos, opts);
    report.outcome = search.run();
    report.steps = search.steps;
    report.configs = search.configs;
    report
}

const NIL: usize = usize::MAX;
const HEAD: usize = 0;

#[derive(Clone, Copy)]
enum Choice {
    /// An `Ok` operation, by its call entry.
    Ok(usize),
    /// An indeterminate operation (index into `infos`), tried at the return entry `ret`.
    Info { idx: usize, ret: usize },
}

struct Frame {
    choice: Choice,
    prev: State,
}

enum Cursor {
    Scan(usize),
    Info { ret: usize, from: usize },
}

type OkKey = (u32, Box<[u64]>, State);

struct Search<'s, 'a> {
    oks: &'s [LOp<'a>],
    infos: &'s [LOp<'a>],
    opts: &'s Options,
    // The entry list: entry 0 is the head; entries 1.. are calls and returns.
    next: Vec<usize>,
    prev: Vec<usize>,
    /// Per entry: the `oks` index.
    entry_op: Vec<usize>,
    /// Per entry: its history position.
    entry_pos: Vec<usize>,
    /// Per call entry: its return entry (`NIL` for return entries).
    ret_of: Vec<usize>,
    /// Per info op: the previous identical info op, which must be linearized first.
    info_prev_same: Vec<Option<usize>>,
    ok_bits: Vec<u64>,
    info_bits: Vec<u64>,
    cache: HashMap<OkKey, Vec<Box<[u64]>>>,
    steps: u64,
    configs: usize,
    // Witness: the latest blocking return, its reachable states, the first path to it.
    best_pos: usize,
    best_entry: usize,
    best_states: Vec<State>,
    best_path: Vec<Choice>,
    best_depth: usize,
}

impl<'s, 'a> Search<'s, 'a> {
    fn new(oks: &'s [LOp<'a>], infos: &'s [LOp<'a>], opts: &'s Options) -> Self {
        let mut events: Vec<(usize, bool, usize)> = Vec::with_capacity(oks.len() * 2);
        for (i, l) in oks.iter().enumerate() {
            events.push((l.inv, true, i));
            events.push((
                l.op.completion.expect("an Ok op has a completion"),
                false,
                i,
            ));
        }
        events.sort_unstable();
        let n = events.len() + 1;
        let mut next = vec![NIL; n];
        let mut prev = vec![NIL; n];
        let mut entry_op = vec![NIL; n];
        let mut entry_pos = vec![0; n];
        let mut ret_of = vec![NIL; n];
        let mut call_entry = vec![NIL; oks.len()];
        for (j, &(pos, is_call, i)) in events.iter().enumerate() {
            let e = j + 1;
            prev[e] = e - 1;
            next[e - 1] = e;
            entry_op[e] = i;
            entry_pos[e] = pos;
            if is_call {
                call_entry[i] = e;
            } else {
                ret_of[call_entry[i]] = e;
            }
        }
        let mut last: HashMap<Kind, usize> = HashMap::new();
        let info_prev_same = infos
            .iter()
            .enumerate()
            .map(|(i, l)| last.insert(l.kind, i))
            .collect();
        Search {
            oks,
            infos,
            opts,
            next,
            prev,
            entry_op,
            entry_pos,
            ret_of,
            info_prev_same,
            ok_bits: vec![0; oks.len().div_ceil(64)],
            info_bits: vec![0; infos.len().div_ceil(64)],
            cache: HashMap::new(),
            steps: 0,
            configs: 0,
            best_pos: 0,
            best_entry: NIL,
            best_states: Vec::new(),
            best_path: Vec::new(),
            best_depth: 0,
        }
    }

    fn lift(&mut self, call: usize) {
        let ret = self.ret_of[call];
        for e in [call, ret] {
            let (p, n) = (self.prev[e], self.next[e]);
            self.next[p] = n;
            if n != NIL {
                self.prev[n] = p;
            }
        }
    }

    fn unlift(&mut self, call: usize) {
        let ret = self.ret_of[call];
        for e in [ret, call] {
            let (p, n) = (self.prev[e], self.next[e]);
            self.next[p] = e;
            if n != NIL {
                self.prev[n] = e;
            }
        }
    }

    /// Records the configuration `(ok_bits, info_bits, state)`; false if it (or one that
    /// dominates it) was already explored.
    fn remember(&mut self, state: State) -> bool {
        let bits = &self.ok_bits;
        let fw = bits
            .iter()
            .position(|&w| w != u64::MAX)
            .unwrap_or(bits.len());
        let lw = bits.iter().rposition(|&w| w != 0).map_or(0, |i| i + 1);
        let words: Box<[u64]> = if lw > fw {
            bits[fw..lw].into()
        } else {
            Box::new([])
        };
        let key = (fw as u32, words, state);
        let info = &self.info_bits;
        let seen = self.cache.entry(key).or_default();
        // A stored config with a subset of our linearized info ops dominates us.
        if seen
            .iter()
            .any(|s| s.iter().zip(info.iter()).all(|(a, b)| a & !b == 0))
        {
            return false;
        }
        // We dominate stored configs with a superset.
        let before = seen.len();
        seen.retain(|s| !s.iter().zip(info.iter()).all(|(a, b)| b & !a == 0));
        self.configs -= before - seen.len();
        seen.push(info.clone().into_boxed_slice());
        self.configs += 1;
        true
    }

    fn bit(bits: &mut [u64], i: usize, on: bool) {
        if on {
            bits[i / 64] |= 1 << (i % 64);
        } else {
            bits[i / 64] &= !(1 << (i % 64));
        }
    }

    fn has(bits: &[u64], i: usize) -> bool {
        bits[i / 64] & (1 << (i % 64)) != 0
    }

    fn choice_inv(&self, c: Choice) -> usize {
        match c {
            Choice::Ok(e) => self.oks[self.entry_op[e]].inv,
            Choice::Info { idx, .. } => self.infos[idx].inv,
        }
    }

    fn choice_desc(&self, c: Choice) -> String {
        match c {
            Choice::Ok(e) => describe(self.oks[self.entry_op[e]].op),
            Choice::Info { idx, .. } => describe(self.infos[idx].op),
        }
    }

    fn run(&mut self) -> Outcome {
        let mut state: State = None;
        let mut stack: Vec<Frame> = Vec::new();
        let mut remaining = self.oks.len();
        let mut cursor = Cursor::Scan(self.next[HEAD]);
        loop {
            if remaining == 0 {
                return Outcome::Linearizable {
                    order: stack.iter().map(|f| self.choice_inv(f.choice)).collect(),
                };
            }
            self.steps += 1;
            if self.steps > self.opts.max_steps {
                return Outcome::Unknown(format!(
                    "search budget exceeded: {} steps ({} configurations); {} of {} ok ops linearized on the current path",
                    self.opts.max_steps,
                    self.configs,
                    self.oks.len() - remaining,
                    self.oks.len()
                ));
            }
            if self.configs > self.opts.max_configs {
                return Outcome::Unknown(format!(
                    "memo budget exceeded: {} configurations after {} steps",
                    self.opts.max_configs, self.steps
                ));
            }
            match cursor {
                Cursor::Scan(e) => {
                    // Some Ok op is unlinearized, so its return entry is still in the list.
                    debug_assert!(e != NIL);
                    if self.ret_of[e] != NIL {
                        let i = self.entry_op[e];
                        if let Some(ns) = step(state, self.oks[i].kind) {
                            Self::bit(&mut self.ok_bits, i, true);
                            if self.remember(ns) {
                                stack.push(Frame {
                                    choice: Choice::Ok(e),
                                    prev: state,
                                });
                                state = ns;
                                self.lift(e);
                                remaining -= 1;
                                cursor = Cursor::Scan(self.next[HEAD]);
                                continue;
                            }
                            Self::bit(&mut self.ok_bits, i, false);
                        }
                        cursor = Cursor::Scan(self.next[e]);
                    } else {
                        let pos = self.entry_pos[e];
                        if self.best_entry == NIL || pos > self.best_pos {
                            self.best_pos = pos;
                            self.best_entry = e;
                            self.best_states = vec![state];
                            self.best_depth = stack.len();
                            let from = stack.len().saturating_sub(10);
                            self.best_path = stack[from..].iter().map(|f| f.choice).collect();
                        } else if pos == self.best_pos
                            && !self.best_states.contains(&state)
                            && self.best_states.len() < 32
                        {
                            self.best_states.push(state);
                        }
                        cursor = Cursor::Info { ret: e, from: 0 };
                    }
                }
                Cursor::Info { ret, from } => {
                    let limit = self.entry_pos[ret];
                    let mut j = from;
                    let mut chosen = None;
                    while j < self.infos.len() && self.infos[j].inv < limit {
                        let eligible = !Self::has(&self.info_bits, j)
                            && self.info_prev_same[j].is_none_or(|p| Self::has(&self.info_bits, p));
                        if eligible {
                            if let Some(ns) = step(state, self.infos[j].kind) {
                                Self::bit(&mut self.info_bits, j, true);
                                if self.remember(ns) {
                                    chosen = Some((j, ns));
                                    break;
                                }
                                Self::bit(&mut self.info_bits, j, false);
                            }
                        }
                        j += 1;
                        self.steps += 1;
                    }
                    if let Some((j, ns)) = chosen {
                        stack.push(Frame {
                            choice: Choice::Info { idx: j, ret },
                            prev: state,
                        });
                        state = ns;
                        cursor = Cursor::Scan(self.next[HEAD]);
                        continue;
                    }
                    // Backtrack.
                    let Some(frame) = stack.pop() else {
                        return Outcome::NotLinearizable(self.witness());
                    };
                    state = frame.prev;
                    match frame.choice {
                        Choice::Ok(e) => {
                            self.unlift(e);
                            Self::bit(&mut self.ok_bits, self.entry_op[e], false);
                            remaining += 1;
                            cursor = Cursor::Scan(self.next[e]);
                        }
                        Choice::Info { idx, ret } => {
                            Self::bit(&mut self.info_bits, idx, false);
                            cursor = Cursor::Info { ret, from: idx + 1 };
                        }
                    }
                }
            }
        }
    }

    fn witness(&self) -> Witness {
        let l = &self.oks[self.entry_op[self.best_entry]];
        Witness {
            op: l.inv,
            description: describe(l.op),
            states: self.best_states.clone(),
            linearized: self.best_depth,
            last: self
                .best_path
                .iter()
                .map(|&c| self.choice_desc(c))
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_steps() {
        assert_eq!(step(None, Kind::Read(None)), Some(None));
        assert_eq!(step(None, Kind::Read(Some(1))), None);
        assert_eq!(step(None, Kind::Write(3)), Some(Some(3)));
        assert_eq!(step(None, Kind::Cas(0, 1)), None);
        assert_eq!(step(Some(0), Kind::Cas(0, 1)), Some(Some(1)));
    }
}
