//! Reliable status updates: one ordered queue per task; only the head is in flight; the head
//! is resent every 10 s (doubling to 10 min) until an ACKNOWLEDGE with its `uuid` arrives, and
//! at once after every (re-)registration. Time is an argument; nothing here does I/O.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::agent::task::{TaskKey, TaskState};

pub const RETRY_INITIAL: Duration = Duration::from_secs(10);
pub const RETRY_MAX: Duration = Duration::from_secs(600);

#[derive(Debug, Clone)]
struct Queue {
    pending: VecDeque<Value>,
    /// When the head is due (again); `None` until it is first sent.
    next_send: Option<Instant>,
    backoff: Duration,
}

impl Queue {
    fn new() -> Queue {
        Queue {
            pending: VecDeque::new(),
            next_send: None,
            backoff: RETRY_INITIAL,
        }
    }
}

/// What an ACKNOWLEDGE did.
#[derive(Debug, Clone, PartialEq)]
pub enum Acked {
    /// The head matched and was dropped. `terminal` says whether it was a terminal update;
    /// `drained` whether the queue is now empty.
    Head { terminal: bool, drained: bool },
    /// No queue for this task, or the uuid is not its head (a duplicate or stale ack).
    Ignored,
}

#[derive(Debug, Clone, Default)]
pub struct StatusUpdateManager {
    queues: BTreeMap<TaskKey, Queue>,
}

fn uuid_of(status: &Value) -> Option<&str> {
    status.get("uuid").and_then(Value::as_str)
}

fn state_of(status: &Value) -> Option<TaskState> {
    status
        .get("state")
        .and_then(|s| serde_json::from_value(s.clone()).ok())
}

impl StatusUpdateManager {
    pub fn new() -> StatusUpdateManager {
        StatusUpdateManager::default()
    }

    /// Appends `status` (a v1 `TaskStatus`) to its task's queue. A new head is due at once.
    pub fn push(&mut self, key: &TaskKey, status: Value) {
        self.queues
            .entry(key.clone())
            .or_insert_with(Queue::new)
            .pending
            .push_back(status);
    }

    /// Restores a checkpointed queue.
    pub fn restore(&mut self, key: &TaskKey, pending: Vec<Value>) {
        if pending.is_empty() {
            return;
        }
        let q = self.queues.entry(key.clone()).or_insert_with(Queue::new);
        q.pending = pending.into();
    }

    pub fn acknowledge(&mut self, key: &TaskKey, uuid: &str) -> Acked {
        let Some(q) = self.queues.get_mut(key) else {
            return Acked::Ignored;
        };
        if q.pending.front().and_then(uuid_of) != Some(uuid) {
            return Acked::Ignored;
        }
        let head = q.pending.pop_front();
        let terminal = head
            .as_ref()
            .and_then(state_of)
            .is_some_and(TaskState::is_terminal);
        q.next_send = None;
        q.backoff = RETRY_INITIAL;
        let drained = q.pending.is_empty();
        if drained {
            self.queues.remove(key);
        }
        Acked::Head { terminal, drained }
    }

    /// The heads due at `now`, each with its next resend scheduled.
    pub fn due(&mut self, now: Instant) -> Vec<Value> {
        self.due_with_keys(now)
            .into_iter()
            .map(|(_, s)| s)
            .collect()
    }

    /// [`StatusUpdateManager::due`], with each head's task.
    pub fn due_with_keys(&mut self, now: Instant) -> Vec<(TaskKey, Value)> {
        let mut out = Vec::new();
        for (key, q) in self.queues.iter_mut() {
            let Some(head) = q.pending.front() else {
                continue;
            };
            match q.next_send {
                Some(t) if t > now => {}
                None => {
                    q.next_send = Some(now + q.backoff);
                    out.push((key.clone(), head.clone()));
                }
                Some(_) => {
                    // A resend: the wait doubles.
                    q.backoff = (q.backoff * 2).min(RETRY_MAX);
                    q.next_send = Some(now + q.backoff);
                    out.push((key.clone(), head.clone()));
                }
            }
        }
        out
    }

    /// After a (re-)registration every head is due at once and the backoff starts again.
    pub fn reset(&mut self) {
        for q in self.queues.values_mut() {
            q.next_send = None;
            q.backoff = RETRY_INITIAL;
        }
    }

    /// When [`StatusUpdateManager::due`] next has something to send.
    /// A head never sent is due at `now`.
    pub fn next_deadline(&self, now: Instant) -> Option<Instant> {
        self.queues
            .values()
            .filter(|q| !q.pending.is_empty())
            .map(|q| q.next_send.unwrap_or(now))
            .min()
    }

    pub fn pending(&self, key: &TaskKey) -> Vec<Value> {
        self.queues
            .get(key)
            .map(|q| q.pending.iter().cloned().collect())
            .unwrap_or_default()
    }

    pub fn has_pending(&self, key: &TaskKey) -> bool {
        self.queues.contains_key(key)
    }

    pub fn len(&self) -> usize {
        self.queues.values().map(|q| q.pending.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.queues.is_empty()
    }
}

/// The inputs of one `TaskStatus`.
#[derive(Debug, Clone)]
pub struct StatusFields<'a> {
    pub agent_id: &'a str,
    pub task_id: &'a str,
    pub state: TaskState,
    pub source: &'static str,
    pub message: Option<&'a str>,
    pub reason: Option<&'a str>,
    pub container_id: Option<&'a str>,
    /// Random bytes for the uuid (16 of them).
    pub uuid: [u8; 16],
    pub timestamp: f64,
}

/// A v1 `TaskStatus`.
pub fn make_status(f: &StatusFields<'_>) -> Value {
    let mut s = json!({
        "task_id": {"value": f.task_id},
        "state": f.state.as_str(),
        "uuid": crate::agent::system::base64(&f.uuid),
        "timestamp": f.timestamp,
        "source": f.source,
        "agent_id": {"value": f.agent_id},
        "executor_id": {"value": f.task_id},
    });
    if let Some(m) = f.message {
        s["message"] = json!(m);
    }
    if let Some(r) = f.reason {
        s["reason"] = json!(r);
    }
    if let Some(c) = f.container_id {
        s["container_status"] = json!({"container_id": {"value": c}});
    }
    s
}

/// The `UPDATE` call carrying `status` of a task of `framework_id` (v1's `TaskStatus` does
/// not name the framework, so the call does).
pub fn update_call(framework_id: &str, status: &Value) -> Value {
    json!({"type": "UPDATE", "update": {"framework_id": {"value": framework_id}, "status": status}})
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn key(t: &str) -> TaskKey {
        TaskKey {
            framework_id: "F".into(),
            task_id: t.into(),
        }
    }

    fn st(uuid: &str, state: &str) -> Value {
        json!({"uuid": uuid, "state": state})
    }

    #[test]
    fn only_the_head_is_in_flight_and_resent_with_backoff() {
        let t0 = Instant::now();
        let mut m = StatusUpdateManager::new();
        m.push(&key("a"), st("1", "TASK_STARTING"));
        m.push(&key("a"), st("2", "TASK_RUNNING"));
        assert_eq!(m.due(t0), vec![st("1", "TASK_STARTING")]);
        assert!(m.due(t0 + Duration::from_secs(9)).is_empty());
        assert_eq!(m.next_deadline(t0), Some(t0 + RETRY_INITIAL));
        assert_eq!(m.due(t0 + RETRY_INITIAL), vec![st("1", "TASK_STARTING")]);
        // The second wait is twice the first.
        assert!(m.due(t0 + Duration::from_secs(29)).is_empty());
        assert_eq!(m.due(t0 + Duration::from_secs(30)).len(), 1);

        assert_eq!(
            m.acknowledge(&key("a"), "2"),
            Acked::Ignored,
            "not the head"
        );
        assert_eq!(
            m.acknowledge(&key("a"), "1"),
            Acked::Head {
                terminal: false,
                drained: false
            }
        );
        let t1 = t0 + Duration::from_secs(31);
        assert_eq!(
            m.due(t1),
            vec![st("2", "TASK_RUNNING")],
            "the next one goes at once"
        );
        assert_eq!(
            m.next_deadline(t1),
            Some(t1 + RETRY_INITIAL),
            "with a fresh backoff"
        );
        assert_eq!(
            m.acknowledge(&key("a"), "2"),
            Acked::Head {
                terminal: false,
                drained: true
            }
        );
        assert!(m.is_empty());
        assert_eq!(
            m.acknowledge(&key("a"), "2"),
            Acked::Ignored,
            "a duplicate ack"
        );
    }

    #[test]
    fn registration_makes_every_head_due() {
        let t0 = Instant::now();
        let mut m = StatusUpdateManager::new();
        m.push(&key("a"), st("1", "TASK_FINISHED"));
        m.push(&key("b"), st("2", "TASK_RUNNING"));
        assert_eq!(m.due(t0).len(), 2);
        assert!(m.due(t0 + Duration::from_secs(1)).is_empty());
        m.reset();
        assert_eq!(m.due(t0 + Duration::from_secs(1)).len(), 2);
        assert_eq!(
            m.acknowledge(&key("a"), "1"),
            Acked::Head {
                terminal: true,
                drained: true
            }
        );
    }

    #[test]
    fn backoff_is_capped() {
        let mut now = Instant::now();
        let mut m = StatusUpdateManager::new();
        m.push(&key("a"), st("1", "TASK_RUNNING"));
        for _ in 0..20 {
            assert_eq!(m.due(now).len(), 1);
            now = m.next_deadline(now).unwrap();
        }
        let before = now;
        m.due(now);
        assert_eq!(m.next_deadline(now), Some(before + RETRY_MAX));
    }

    proptest! {
        /// Against a model of plain FIFO queues: whatever the order of pushes and acks, the
        /// heads sent are the model's heads, and acks drop exactly the model's heads.
        #[test]
        fn matches_a_fifo_model(ops in proptest::collection::vec((0u8..3, 0u8..2, any::<bool>()), 0..60)) {
            let mut m = StatusUpdateManager::new();
            let mut model: BTreeMap<u8, VecDeque<String>> = BTreeMap::new();
            let mut n = 0;
            let mut now = Instant::now();
            for (task, op, good) in ops {
                let k = key(&task.to_string());
                if op == 0 {
                    n += 1;
                    m.push(&k, st(&n.to_string(), "TASK_RUNNING"));
                    model.entry(task).or_default().push_back(n.to_string());
                } else {
                    let head = model.get(&task).and_then(|q| q.front().cloned());
                    let uuid = if good { head.clone().unwrap_or_default() } else { "x".into() };
                    let r = m.acknowledge(&k, &uuid);
                    if good && head.is_some() {
                        let q = model.get_mut(&task).unwrap();
                        q.pop_front();
                        prop_assert_eq!(r, Acked::Head { terminal: false, drained: q.is_empty() });
                    } else {
                        prop_assert_eq!(r, Acked::Ignored);
                    }
                }
                m.reset();
                now += Duration::from_millis(1);
                let mut sent: Vec<String> = m.due(now).iter().map(|s| s["uuid"].as_str().unwrap().to_string()).collect();
                let mut want: Vec<String> = model.values().filter_map(|q| q.front().cloned()).collect();
                sent.sort();
                want.sort();
                prop_assert_eq!(sent, want);
            }
            prop_assert_eq!(m.len(), model.values().map(VecDeque::len).sum::<usize>());
        }
    }
}
