//! The history of a run, as Jepsen records it: every operation a client attempts appears as an
//! `Invoke`, then exactly one completion by the same process: `Ok` (it happened), `Fail` (it
//! certainly did not) or `Info` (unknown: a timeout or a lost connection; it may or may not
//! have happened, at any time after its invocation).

use std::fmt;

/// How an operation event ended (or that it started).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Type {
    Invoke,
    Ok,
    Fail,
    Info,
}

/// What an operation does. Workloads use the subset they need.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum F {
    /// Register: read the value (`Value::Int`, or `Value::None` if the key does not exist).
    Read,
    /// Register: write `Value::Int`.
    Write,
    /// Register: compare-and-set `Value::Pair(expected, new)`.
    Cas,
    /// Set: add `Value::Int`.
    Add,
    /// Set: read every element (`Value::List`).
    ReadAll,
    /// Unique ids: a sequential create; completes with `Value::Int` (the sequence number).
    GenId,
    /// Lock: acquire; completes with `Value::Int` (the fencing token, the lock node's czxid).
    Acquire,
    /// Lock: release `Value::Int` (the token).
    Release,
}

/// An operation's argument or result.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Value {
    None,
    Int(i64),
    Pair(i64, i64),
    List(Vec<i64>),
}

/// One event of the history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Op {
    /// Position in the history.
    pub index: usize,
    /// The logical client (a process is one session; a new session gets a new process).
    pub process: u64,
    pub typ: Type,
    pub f: F,
    /// The register or object the operation is on.
    pub key: u64,
    pub value: Value,
    /// Nanoseconds since the start of the run.
    pub time_ns: u64,
    /// The server (1-based index into the run's client addresses) the client was connected to
    /// when it invoked the operation, if known; completions copy their invocation's.
    pub node: Option<u64>,
    /// Why it failed or is unknown.
    pub error: Option<String>,
}

impl fmt::Display for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Type::Invoke => "invoke",
            Type::Ok => "ok",
            Type::Fail => "fail",
            Type::Info => "info",
        })
    }
}

impl fmt::Display for F {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            F::Read => "read",
            F::Write => "write",
            F::Cas => "cas",
            F::Add => "add",
            F::ReadAll => "read-all",
            F::GenId => "generate",
            F::Acquire => "acquire",
            F::Release => "release",
        })
    }
}

/// Pairs every invocation with its completion: `(invoke index, completion index)`. A process
/// with an invocation and no completion (the run ended) gets `None`, which checkers treat as
/// `Info`. Panics on a malformed history (a completion without an invocation, or two
/// invocations in a row by one process): that is a harness bug.
pub fn pairs(history: &[Op]) -> Vec<(usize, Option<usize>)> {
    let mut open: std::collections::HashMap<u64, usize> = std::collections::HashMap::new();
    let mut out = Vec::new();
    let mut slot: std::collections::HashMap<usize, usize> = std::collections::HashMap::new();
    for (i, op) in history.iter().enumerate() {
        match op.typ {
            Type::Invoke => {
                assert!(
                    open.insert(op.process, i).is_none(),
                    "process {} invoked twice without completing (index {i})",
                    op.process
                );
                slot.insert(i, out.len());
                out.push((i, None));
            }
            _ => {
                let inv = open
                    .remove(&op.process)
                    .unwrap_or_else(|| panic!("completion without invocation at index {i}"));
                out[slot[&inv]].1 = Some(i);
            }
        }
    }
    out
}
