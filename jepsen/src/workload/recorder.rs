//! [`Recorder`]: the shared history of a run. Every client task records through one recorder;
//! it numbers events (`index`), stamps them (`time_ns` since the run's start) and hands out
//! process ids.
//!
//! Jepsen's rules, enforced here (a violation is a harness bug and panics):
//! - a process has at most one operation open: `invoke`, then exactly one `complete`;
//! - a process whose operation completed `Info` is *crashed*: it never invokes again. The
//!   client carries on under a fresh process id ([`Recorder::new_process`]);
//! - completions are `Ok`, `Fail` or `Info`, never `Invoke`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::history::{Op, Type, Value, F};

/// A thread-safe, cheaply cloned history recorder.
#[derive(Clone, Debug)]
pub struct Recorder {
    start: Instant,
    inner: Arc<Mutex<State>>,
}

#[derive(Debug, Default)]
struct State {
    ops: Vec<Op>,
    next_process: u64,
    /// Processes with an open operation: process → index of its invocation.
    open: HashMap<u64, usize>,
    /// Processes that completed an operation with `Info`.
    crashed: HashSet<u64>,
    /// Which ZooKeeper session each process used (for session-guarantee checks).
    sessions: BTreeMap<u64, i64>,
}

/// An open operation, returned by [`Recorder::invoke`] and consumed by its completion.
#[derive(Debug)]
#[must_use = "an invoked operation must be completed"]
pub struct Handle {
    pub process: u64,
    pub f: F,
    pub key: u64,
    /// The invocation's value (echoed by `fail`/`info` completions, as Jepsen does).
    pub value: Value,
    pub node: Option<u64>,
    /// Index of the invocation in the history.
    pub index: usize,
    /// `time_ns` of the invocation.
    pub time_ns: u64,
}

impl Default for Recorder {
    fn default() -> Self {
        Recorder::new()
    }
}

impl Recorder {
    /// A recorder whose clock starts now.
    pub fn new() -> Recorder {
        Recorder::starting_at(Instant::now())
    }

    /// A recorder whose `time_ns` counts from `start` (share one start with the nemesis so
    /// fault periods and operations are on one time axis).
    pub fn starting_at(start: Instant) -> Recorder {
        Recorder {
            start,
            inner: Arc::new(Mutex::new(State::default())),
        }
    }

    /// The run's time origin.
    pub fn start(&self) -> Instant {
        self.start
    }

    /// Nanoseconds since the run's start.
    pub fn now_ns(&self) -> u64 {
        self.start.elapsed().as_nanos().min(u64::MAX as u128) as u64
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A process id never used before.
    pub fn new_process(&self) -> u64 {
        let mut st = self.state();
        let p = st.next_process;
        st.next_process += 1;
        p
    }

    /// Records that `process` runs on ZooKeeper session `session_id`.
    pub fn set_session(&self, process: u64, session_id: i64) {
        self.state().sessions.insert(process, session_id);
    }

    /// process → session id, for every process that recorded one.
    pub fn sessions(&self) -> BTreeMap<u64, i64> {
        self.state().sessions.clone()
    }

    /// Whether `process` completed an operation with `Info` (and so may not invoke again).
    pub fn is_crashed(&self, process: u64) -> bool {
        self.state().crashed.contains(&process)
    }

    /// Records the invocation of `f` by `process`. Panics if the process has an open operation
    /// or has crashed.
    pub fn invoke(&self, process: u64, f: F, key: u64, value: Value, node: Option<u64>) -> Handle {
        let mut st = self.state();
        assert!(
            !st.crashed.contains(&process),
            "process {process} crashed (completed info) and may not invoke again"
        );
        let index = st.ops.len();
        assert!(
            st.open.insert(process, index).is_none(),
            "process {process} invoked while its previous operation is open"
        );
        if process >= st.next_process {
            st.next_process = process + 1;
        }
        // Stamped under the lock, so time order and index order agree.
        let time_ns = self.now_ns();
        st.ops.push(Op {
            index,
            process,
            typ: Type::Invoke,
            f,
            key,
            value: value.clone(),
            time_ns,
            node,
            error: None,
        });
        Handle {
            process,
            f,
            key,
            value,
            node,
            index,
            time_ns,
        }
    }

    /// Records the completion of `h`; returns the completion event. Panics on `Type::Invoke`.
    pub fn complete(&self, h: Handle, typ: Type, value: Value, error: Option<String>) -> Op {
        assert!(typ != Type::Invoke, "a completion cannot be an invocation");
        let mut st = self.state();
        let open = st.open.remove(&h.process);
        assert_eq!(
            open,
            Some(h.index),
            "completion of an operation that is not open"
        );
        if typ == Type::Info {
            st.crashed.insert(h.process);
        }
        let op = Op {
            index: st.ops.len(),
            process: h.process,
            typ,
            f: h.f,
            key: h.key,
            value,
            time_ns: self.now_ns(),
            node: h.node,
            error,
        };
        st.ops.push(op.clone());
        op
    }

    /// `Ok` with the operation's result.
    pub fn ok(&self, h: Handle, value: Value) -> Op {
        self.complete(h, Type::Ok, value, None)
    }

    /// `Fail` (it certainly did not happen), echoing the invocation's value.
    pub fn fail(&self, h: Handle, error: impl Into<String>) -> Op {
        let v = h.value.clone();
        self.complete(h, Type::Fail, v, Some(error.into()))
    }

    /// `Info` (unknown outcome), echoing the invocation's value. The process is crashed.
    pub fn info(&self, h: Handle, error: impl Into<String>) -> Op {
        let v = h.value.clone();
        self.complete(h, Type::Info, v, Some(error.into()))
    }

    /// Completes `h` from a client outcome: `Ok(v)` → `Ok`, a definite error → `Fail`,
    /// anything else → `Info` (see [`super::Outcome`]). Returns the completion's type.
    pub fn finish(&self, h: Handle, outcome: super::Outcome) -> Type {
        match outcome {
            super::Outcome::Ok(v) => self.ok(h, v).typ,
            super::Outcome::Fail(e) => self.fail(h, e).typ,
            super::Outcome::Info(e) => self.info(h, e).typ,
        }
    }

    /// Completes every open operation with `Info` ("run ended"), so the history is closed.
    /// Call it once every client task has ended (a later completion of one of these
    /// operations would panic).
    pub fn close_open(&self) {
        let mut st = self.state();
        let mut open: Vec<(u64, usize)> = st.open.drain().collect();
        open.sort_unstable_by_key(|&(_, index)| index);
        for (process, index) in open {
            st.crashed.insert(process);
            let inv = st.ops[index].clone();
            let op = Op {
                index: st.ops.len(),
                typ: Type::Info,
                time_ns: self.now_ns(),
                error: Some("run ended".into()),
                ..inv
            };
            st.ops.push(op);
        }
    }

    /// How many events are recorded.
    pub fn len(&self) -> usize {
        self.state().ops.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A copy of the history so far (in index order).
    pub fn history(&self) -> Vec<Op> {
        self.state().ops.clone()
    }
}
