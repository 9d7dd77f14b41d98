//! The agent's decisions, without I/O: master events, task exits and timer ticks go in;
//! [`Effect`]s come out for the runtime (`runtime.rs`) to carry out. Time (monotonic and
//! wall) is an argument.
//!
//! Invariants:
//! - every update of a task goes through its queue in [`StatusUpdateManager`], in order;
//! - a task leaves `tasks` for `completed` only when its terminal update is acknowledged;
//! - a task's `state` is the state of its latest status (sent or not).

use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::agent::attributes::{self, Attribute};
use crate::agent::layout;
use crate::agent::task::{
    describe_exit, kill_grace, plan_launch, task_resources, LaunchContext, LaunchSpec, TaskKey,
    TaskState,
};
use crate::agent::updates::{make_status, update_call, Acked, StatusFields, StatusUpdateManager};
use crate::resources::Resources;

pub const VERSION: &str = "1.11.0";
/// Completed tasks kept for `/state` (Mesos' `--max_completed_tasks_per_framework` is 1000).
pub const MAX_COMPLETED_TASKS: usize = 1000;

/// What the core knows of its configuration.
#[derive(Debug, Clone)]
pub struct CoreConfig {
    pub work_dir: PathBuf,
    pub hostname: String,
    pub port: u16,
    pub resources: Resources,
    pub attributes: Vec<Attribute>,
    /// The docker CLI, when DOCKER containers can run here.
    pub docker: Option<String>,
    /// `--containerizers` as given.
    pub containerizers: String,
    /// The kill grace for SHUTDOWN_FRAMEWORK.
    pub shutdown_grace: Duration,
    /// The environment every task starts from.
    pub base_env: Vec<(String, String)>,
}

/// The agent's record of one task; also its checkpoint (`task.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskRecord {
    pub framework_id: String,
    pub task_id: String,
    pub framework_info: Value,
    pub task_info: Value,
    /// The agent ID the task was launched under (its paths use it).
    pub agent_id: String,
    pub container_id: String,
    pub sandbox: PathBuf,
    pub run_dir: PathBuf,
    pub state: TaskState,
    /// Every status generated, the latest last.
    pub statuses: Vec<Value>,
    #[serde(default)]
    pub supervisor_pid: Option<i32>,
    /// The command's pid, which is also its process group.
    #[serde(default)]
    pub command_pid: Option<i32>,
    /// Set once a kill was asked for: the grace in nanoseconds.
    #[serde(default)]
    pub kill_grace_ns: Option<u64>,
    /// The terminal update was acknowledged.
    #[serde(default)]
    pub completed: bool,
    /// Only in checkpoints: the unacknowledged updates, in order.
    #[serde(default)]
    pub pending_updates: Vec<Value>,
}

impl TaskRecord {
    pub fn key(&self) -> TaskKey {
        TaskKey {
            framework_id: self.framework_id.clone(),
            task_id: self.task_id.clone(),
        }
    }

    pub fn name(&self) -> &str {
        self.task_info
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or("")
    }

    pub fn resources(&self) -> Resources {
        task_resources(&self.task_info)
    }
}

/// How a supervised command ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExitOutcome {
    Exited(i32),
    Signaled(i32),
    /// The supervisor could not start the command.
    LaunchFailed(String),
    /// The supervisor is gone and left no exit status.
    Vanished,
}

/// What the runtime must do.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Create the sandbox (and `latest` link), write the launch spec, start a supervisor.
    Launch {
        key: TaskKey,
        spec: Box<LaunchSpec>,
        sandbox: PathBuf,
        run_dir: PathBuf,
    },
    /// SIGTERM the process group `pgid`, then SIGKILL it after `grace`.
    Kill {
        key: TaskKey,
        pgid: i32,
        grace: Duration,
    },
    /// A call to the master.
    Send(Value),
    /// Write this task's checkpoint (see [`Core::checkpoint`]).
    Checkpoint(TaskKey),
    /// Write the agent ID (`meta/slaves/latest`).
    CheckpointAgentId(String),
}

/// Counters since start, for `/metrics/snapshot`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counters {
    pub tasks_finished: u64,
    pub tasks_failed: u64,
    pub tasks_killed: u64,
    pub tasks_lost: u64,
    pub tasks_error: u64,
    pub status_updates: u64,
    pub valid_acks: u64,
    pub invalid_acks: u64,
    pub launched: u64,
    pub registrations: u64,
}

#[derive(Debug)]
pub struct Core {
    pub cfg: CoreConfig,
    pub agent_id: Option<String>,
    pub registered: bool,
    pub master_info: Option<Value>,
    tasks: BTreeMap<TaskKey, TaskRecord>,
    completed: VecDeque<TaskRecord>,
    updates: StatusUpdateManager,
    pub counters: Counters,
}

fn id_value(v: &Value, field: &str) -> Option<String> {
    v.get(field)
        .and_then(|x| {
            x.get("value")
                .and_then(Value::as_str)
                .or_else(|| x.as_str())
        })
        .map(str::to_string)
}

fn random16() -> [u8; 16] {
    *uuid::Uuid::new_v4().as_bytes()
}

impl Core {
    pub fn new(cfg: CoreConfig) -> Core {
        Core {
            cfg,
            agent_id: None,
            registered: false,
            master_info: None,
            tasks: BTreeMap::new(),
            completed: VecDeque::new(),
            updates: StatusUpdateManager::new(),
            counters: Counters::default(),
        }
    }

    pub fn tasks(&self) -> impl Iterator<Item = &TaskRecord> {
        self.tasks.values()
    }

    pub fn task(&self, key: &TaskKey) -> Option<&TaskRecord> {
        self.tasks.get(key)
    }

    pub fn completed_tasks(&self) -> impl Iterator<Item = &TaskRecord> {
        self.completed.iter()
    }

    pub fn pending_updates(&self) -> usize {
        self.updates.len()
    }

    /// The resources of tasks not yet terminal.
    pub fn used_resources(&self) -> Resources {
        self.tasks
            .values()
            .filter(|t| !t.state.is_terminal())
            .fold(Resources::new(), |acc, t| acc.plus(&t.resources()))
    }

    /// Loads checkpointed tasks (recovery). Their queues come back from `pending_updates`.
    pub fn recover(&mut self, agent_id: Option<String>, records: Vec<TaskRecord>) {
        self.agent_id = agent_id;
        for mut r in records {
            let pending = std::mem::take(&mut r.pending_updates);
            if r.completed {
                self.push_completed(r);
                continue;
            }
            let key = r.key();
            self.updates.restore(&key, pending);
            self.tasks.insert(key, r);
        }
    }

    /// What to write for `key`: the record with its pending updates.
    pub fn checkpoint(&self, key: &TaskKey) -> Option<(PathBuf, TaskRecord)> {
        let r = self
            .tasks
            .get(key)
            .or_else(|| self.completed.iter().rev().find(|r| &r.key() == key))?;
        let mut r = r.clone();
        r.pending_updates = self.updates.pending(key);
        Some((r.run_dir.join(layout::TASK_FILE), r))
    }

    /// The REGISTER call: agent info, and when re-registering the agent ID, the tasks not
    /// yet completed and their frameworks.
    pub fn register_call(&self) -> Value {
        let containerizers: Vec<&str> = match self.cfg.docker {
            Some(_) => vec!["mesos", "docker"],
            None => vec!["mesos"],
        };
        let mut agent_info = json!({
            "hostname": self.cfg.hostname,
            "port": self.cfg.port,
            "resources": self.cfg.resources.to_json(None),
            "attributes": attributes::to_json(&self.cfg.attributes),
        });
        let mut register = json!({
            "version": VERSION,
            "capabilities": [{"type": "MULTI_ROLE"}, {"type": "HIERARCHICAL_ROLE"}],
            "containerizers": containerizers,
        });
        if let Some(id) = &self.agent_id {
            agent_info["id"] = json!({ "value": id });
            register["agent_id"] = json!({ "value": id });
            let tasks: Vec<Value> = self.tasks.values().map(|t| self.master_task(t)).collect();
            let mut frameworks: BTreeMap<&str, Value> = BTreeMap::new();
            for t in self.tasks.values() {
                let mut fi = t.framework_info.clone();
                if fi.is_object() {
                    fi["id"] = json!({ "value": t.framework_id });
                }
                frameworks.entry(t.framework_id.as_str()).or_insert(fi);
            }
            register["tasks"] = Value::Array(tasks);
            register["frameworks"] = Value::Array(frameworks.into_values().collect());
        }
        register["agent_info"] = agent_info;
        json!({"type": "REGISTER", "register": register})
    }

    /// The master's `/state` task object for `t`.
    fn master_task(&self, t: &TaskRecord) -> Value {
        let agent_id = self.agent_id.as_deref().unwrap_or(&t.agent_id);
        json!({
            "task_id": {"value": t.task_id},
            "framework_id": {"value": t.framework_id},
            "agent_id": {"value": agent_id},
            "executor_id": {"value": t.task_id},
            "name": t.name(),
            "state": t.state.as_str(),
            "resources": t.task_info.get("resources").cloned().unwrap_or(json!([])),
            "statuses": t.statuses,
            "task_info": t.task_info,
        })
    }

    pub fn on_registered(
        &mut self,
        agent_id: &str,
        master_info: Option<Value>,
        now: Instant,
    ) -> Vec<Effect> {
        let mut fx = Vec::new();
        if self.agent_id.as_deref() != Some(agent_id) {
            if let Some(old) = &self.agent_id {
                tracing::warn!(old, new = agent_id, "the master gave this agent a new ID");
            }
            self.agent_id = Some(agent_id.to_string());
            fx.push(Effect::CheckpointAgentId(agent_id.to_string()));
        }
        self.registered = true;
        self.master_info = master_info;
        self.counters.registrations += 1;
        self.updates.reset();
        fx.extend(self.flush(now));
        fx
    }

    pub fn on_disconnected(&mut self) {
        self.registered = false;
    }

    /// The updates due at `now` (nothing while unregistered).
    pub fn flush(&mut self, now: Instant) -> Vec<Effect> {
        if !self.registered {
            return Vec::new();
        }
        self.updates
            .due_with_keys(now)
            .iter()
            .map(|(key, s)| Effect::Send(update_call(&key.framework_id, s)))
            .collect()
    }

    pub fn next_deadline(&self, now: Instant) -> Option<Instant> {
        if self.registered {
            self.updates.next_deadline(now)
        } else {
            None
        }
    }

    /// One event from the master's stream.
    pub fn on_event(&mut self, event: &Value, now: Instant, wall: f64) -> Vec<Effect> {
        let ty = event.get("type").and_then(Value::as_str).unwrap_or("");
        let mut fx = match ty {
            "RUN_TASK" => self.run_task(event.get("run_task").unwrap_or(&Value::Null), wall),
            "KILL_TASK" => self.kill_task(event.get("kill_task").unwrap_or(&Value::Null), wall),
            "ACKNOWLEDGE" => self.acknowledge(event.get("acknowledge").unwrap_or(&Value::Null)),
            "SHUTDOWN_FRAMEWORK" => {
                let fid = event
                    .get("shutdown_framework")
                    .and_then(|s| id_value(s, "framework_id"))
                    .unwrap_or_default();
                self.shutdown_framework(&fid, wall)
            }
            "PING" => vec![Effect::Send(json!({"type": "PONG"}))],
            "REGISTERED" | "HEARTBEAT" => Vec::new(),
            other => {
                tracing::warn!(event = other, "ignoring an unknown event from the master");
                Vec::new()
            }
        };
        fx.extend(self.flush(now));
        fx
    }

    fn new_status(
        &mut self,
        key: &TaskKey,
        state: TaskState,
        source: &'static str,
        message: Option<&str>,
        reason: Option<&str>,
        wall: f64,
    ) -> Value {
        let agent_id = self.agent_id.clone().unwrap_or_default();
        let container_id = self.tasks.get(key).map(|t| t.container_id.clone());
        let status = make_status(&StatusFields {
            agent_id: &agent_id,
            task_id: &key.task_id,
            state,
            source,
            message,
            reason,
            container_id: container_id.as_deref().filter(|c| !c.is_empty()),
            uuid: random16(),
            timestamp: wall,
        });
        self.counters.status_updates += 1;
        match state {
            TaskState::Finished => self.counters.tasks_finished += 1,
            TaskState::Failed => self.counters.tasks_failed += 1,
            TaskState::Killed => self.counters.tasks_killed += 1,
            TaskState::Lost => self.counters.tasks_lost += 1,
            TaskState::Error => self.counters.tasks_error += 1,
            _ => {}
        }
        status
    }

    /// Records a new state of a known task and queues its update.
    fn transition(
        &mut self,
        key: &TaskKey,
        state: TaskState,
        source: &'static str,
        message: Option<&str>,
        reason: Option<&str>,
        wall: f64,
    ) -> Vec<Effect> {
        let status = self.new_status(key, state, source, message, reason, wall);
        let Some(t) = self.tasks.get_mut(key) else {
            return Vec::new();
        };
        t.state = state;
        t.statuses.push(status.clone());
        self.updates.push(key, status);
        vec![Effect::Checkpoint(key.clone())]
    }

    fn run_task(&mut self, run: &Value, wall: f64) -> Vec<Effect> {
        let task_info = run.get("task").cloned().unwrap_or(Value::Null);
        let framework_info = run.get("framework_info").cloned().unwrap_or(json!({}));
        let task_id = id_value(&task_info, "task_id").unwrap_or_default();
        let framework_id = id_value(&framework_info, "id")
            .or_else(|| id_value(run, "framework_id"))
            .unwrap_or_default();
        let key = TaskKey {
            framework_id: framework_id.clone(),
            task_id: task_id.clone(),
        };
        let Some(agent_id) = self.agent_id.clone() else {
            tracing::warn!(task_id, "RUN_TASK before REGISTERED; ignored");
            return Vec::new();
        };
        if !layout::safe_component(&task_id) || !layout::safe_component(&framework_id) {
            tracing::warn!(
                task_id,
                framework_id,
                "RUN_TASK with an unusable task or framework ID"
            );
            if task_id.is_empty() {
                return Vec::new();
            }
            let status = self.new_status(
                &key,
                TaskState::Error,
                "SOURCE_AGENT",
                Some("The task or framework ID cannot be used as a directory name"),
                Some("REASON_TASK_INVALID"),
                wall,
            );
            self.updates.push(&key, status);
            return Vec::new();
        }
        if let Some(t) = self.tasks.get(&key) {
            tracing::warn!(
                task_id,
                state = t.state.as_str(),
                "RUN_TASK for a task this agent already has; ignored"
            );
            return Vec::new();
        }
        let container_id = uuid::Uuid::new_v4().to_string();
        let sandbox = layout::sandbox_dir(
            &self.cfg.work_dir,
            &agent_id,
            &framework_id,
            &task_id,
            &container_id,
        );
        let run_dir = layout::meta_run_dir(
            &self.cfg.work_dir,
            &agent_id,
            &framework_id,
            &task_id,
            &container_id,
        );
        let plan = plan_launch(
            &task_info,
            &LaunchContext {
                agent_id: &agent_id,
                hostname: &self.cfg.hostname,
                framework_id: &framework_id,
                container_id: &container_id,
                sandbox: sandbox.clone(),
                base_env: &self.cfg.base_env,
                docker: self.cfg.docker.as_deref(),
                containerizers: &self.cfg.containerizers,
            },
        );
        self.tasks.insert(
            key.clone(),
            TaskRecord {
                framework_id,
                task_id: task_id.clone(),
                framework_info,
                task_info,
                agent_id,
                container_id,
                sandbox: sandbox.clone(),
                run_dir: run_dir.clone(),
                state: TaskState::Staging,
                statuses: Vec::new(),
                supervisor_pid: None,
                command_pid: None,
                kill_grace_ns: None,
                completed: false,
                pending_updates: Vec::new(),
            },
        );
        match plan {
            Err(refusal) => {
                tracing::info!(task_id, message = refusal.message, "refusing a task");
                self.transition(
                    &key,
                    refusal.state,
                    "SOURCE_AGENT",
                    Some(&refusal.message),
                    Some(refusal.reason),
                    wall,
                )
            }
            Ok(spec) => {
                self.counters.launched += 1;
                let mut fx = self.transition(
                    &key,
                    TaskState::Starting,
                    "SOURCE_EXECUTOR",
                    None,
                    None,
                    wall,
                );
                fx.push(Effect::Launch {
                    key,
                    spec: Box::new(spec),
                    sandbox,
                    run_dir,
                });
                fx
            }
        }
    }

    fn kill_task(&mut self, kill: &Value, wall: f64) -> Vec<Effect> {
        let key = TaskKey {
            framework_id: id_value(kill, "framework_id").unwrap_or_default(),
            task_id: id_value(kill, "task_id").unwrap_or_default(),
        };
        let Some(t) = self.tasks.get(&key) else {
            if self.completed.iter().any(|c| c.key() == key) {
                return Vec::new();
            }
            if key.task_id.is_empty() {
                return Vec::new();
            }
            let status = self.new_status(
                &key,
                TaskState::Lost,
                "SOURCE_AGENT",
                Some("Task is unknown to the agent"),
                Some("REASON_TASK_UNKNOWN"),
                wall,
            );
            self.updates.push(&key, status);
            return Vec::new();
        };
        let grace = kill_grace(kill.get("kill_policy"), &t.task_info);
        self.kill(&key, grace, wall)
    }

    fn kill(&mut self, key: &TaskKey, grace: Duration, wall: f64) -> Vec<Effect> {
        let Some(t) = self.tasks.get_mut(key) else {
            return Vec::new();
        };
        if t.state.is_terminal() {
            return Vec::new();
        }
        if t.kill_grace_ns.is_some() {
            return Vec::new();
        }
        t.kill_grace_ns = Some(u64::try_from(grace.as_nanos()).unwrap_or(u64::MAX));
        match (t.command_pid, t.supervisor_pid) {
            (Some(pgid), _) => vec![
                Effect::Checkpoint(key.clone()),
                Effect::Kill {
                    key: key.clone(),
                    pgid,
                    grace,
                },
            ],
            // The supervisor has not said the command started: kill it when it does.
            (None, Some(_)) => vec![Effect::Checkpoint(key.clone())],
            (None, None) if t.state == TaskState::Starting => vec![Effect::Checkpoint(key.clone())],
            (None, None) => self.transition(
                key,
                TaskState::Killed,
                "SOURCE_AGENT",
                Some("Task killed before it was launched"),
                Some("REASON_TASK_KILLED_DURING_LAUNCH"),
                wall,
            ),
        }
    }

    fn acknowledge(&mut self, ack: &Value) -> Vec<Effect> {
        let key = TaskKey {
            framework_id: id_value(ack, "framework_id").unwrap_or_default(),
            task_id: id_value(ack, "task_id").unwrap_or_default(),
        };
        let uuid = ack.get("uuid").and_then(Value::as_str).unwrap_or("");
        match self.updates.acknowledge(&key, uuid) {
            Acked::Ignored => {
                self.counters.invalid_acks += 1;
                tracing::debug!(task_id = key.task_id, uuid, "ignoring an acknowledgement");
                Vec::new()
            }
            Acked::Head { terminal, drained } => {
                self.counters.valid_acks += 1;
                let is_terminal = self.tasks.get(&key).is_some_and(|t| t.state.is_terminal());
                if terminal && drained && is_terminal {
                    if let Some(mut t) = self.tasks.remove(&key) {
                        t.completed = true;
                        self.push_completed(t);
                    }
                }
                if self.tasks.contains_key(&key) || self.completed.iter().any(|c| c.key() == key) {
                    vec![Effect::Checkpoint(key)]
                } else {
                    Vec::new()
                }
            }
        }
    }

    fn push_completed(&mut self, t: TaskRecord) {
        if self.completed.len() >= MAX_COMPLETED_TASKS {
            self.completed.pop_front();
        }
        self.completed.push_back(t);
    }

    fn shutdown_framework(&mut self, framework_id: &str, wall: f64) -> Vec<Effect> {
        let keys: Vec<TaskKey> = self
            .tasks
            .keys()
            .filter(|k| k.framework_id == framework_id)
            .cloned()
            .collect();
        let grace = self.cfg.shutdown_grace;
        keys.iter()
            .flat_map(|k| self.kill(k, grace, wall))
            .collect()
    }

    /// The runtime started the supervisor.
    pub fn on_supervisor_started(&mut self, key: &TaskKey, pid: i32) -> Vec<Effect> {
        match self.tasks.get_mut(key) {
            Some(t) => {
                t.supervisor_pid = Some(pid);
                vec![Effect::Checkpoint(key.clone())]
            }
            None => Vec::new(),
        }
    }

    /// The supervisor started the command (its pid is its process group).
    pub fn on_launched(
        &mut self,
        key: &TaskKey,
        command_pid: i32,
        now: Instant,
        wall: f64,
    ) -> Vec<Effect> {
        let Some(t) = self.tasks.get_mut(key) else {
            return Vec::new();
        };
        t.command_pid = Some(command_pid);
        let mut fx = Vec::new();
        if let Some(ns) = t.kill_grace_ns {
            fx.push(Effect::Kill {
                key: key.clone(),
                pgid: command_pid,
                grace: Duration::from_nanos(ns),
            });
        }
        if t.state == TaskState::Starting {
            fx.extend(self.transition(
                key,
                TaskState::Running,
                "SOURCE_EXECUTOR",
                None,
                None,
                wall,
            ));
        } else {
            fx.push(Effect::Checkpoint(key.clone()));
        }
        fx.extend(self.flush(now));
        fx
    }

    /// The supervisor ended (or, after recovery, was found gone).
    pub fn on_exited(
        &mut self,
        key: &TaskKey,
        outcome: &ExitOutcome,
        now: Instant,
        wall: f64,
    ) -> Vec<Effect> {
        let Some(t) = self.tasks.get(key) else {
            return Vec::new();
        };
        if t.state.is_terminal() {
            return Vec::new();
        }
        let killed = t.kill_grace_ns.is_some();
        let supervisor = t
            .supervisor_pid
            .map_or_else(|| "?".to_string(), |p| p.to_string());
        let (state, message, reason) = match outcome {
            ExitOutcome::Exited(c) if killed => {
                (TaskState::Killed, describe_exit(Some(*c), None), None)
            }
            ExitOutcome::Signaled(s) if killed => {
                (TaskState::Killed, describe_exit(None, Some(*s)), None)
            }
            ExitOutcome::Exited(0) => (TaskState::Finished, describe_exit(Some(0), None), None),
            ExitOutcome::Exited(c) => (
                TaskState::Failed,
                describe_exit(Some(*c), None),
                Some("REASON_COMMAND_EXECUTOR_FAILED"),
            ),
            ExitOutcome::Signaled(s) => (
                TaskState::Failed,
                describe_exit(None, Some(*s)),
                Some("REASON_COMMAND_EXECUTOR_FAILED"),
            ),
            ExitOutcome::LaunchFailed(m) if killed => (
                TaskState::Killed,
                format!("Task killed during launch ({m})"),
                Some("REASON_TASK_KILLED_DURING_LAUNCH"),
            ),
            ExitOutcome::LaunchFailed(m) => (
                TaskState::Failed,
                format!("Failed to launch the command: {m}"),
                Some("REASON_CONTAINER_LAUNCH_FAILED"),
            ),
            ExitOutcome::Vanished if killed => (
                TaskState::Killed,
                "Task killed; its supervisor left no exit status".to_string(),
                None,
            ),
            ExitOutcome::Vanished => (
                TaskState::Failed,
                format!(
                    "The task's supervisor (pid {supervisor}) is gone and recorded no exit status \
                     (was the machine rebooted or the supervisor killed?)"
                ),
                Some("REASON_EXECUTOR_TERMINATED"),
            ),
        };
        let source = if matches!(outcome, ExitOutcome::Vanished) {
            "SOURCE_AGENT"
        } else {
            "SOURCE_EXECUTOR"
        };
        let mut fx = self.transition(key, state, source, Some(&message), reason, wall);
        fx.extend(self.flush(now));
        fx
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn core() -> Core {
        Core::new(CoreConfig {
            work_dir: PathBuf::from("/w"),
            hostname: "agent1".into(),
            port: 5051,
            resources: Resources::parse("cpus:4;mem:1024;ports:[31000-31010]").unwrap(),
            attributes: attributes::parse("rack:r1").unwrap(),
            docker: None,
            containerizers: "mesos".into(),
            shutdown_grace: Duration::from_secs(5),
            base_env: vec![],
        })
    }

    fn sends(fx: &[Effect]) -> Vec<Value> {
        fx.iter()
            .filter_map(|e| match e {
                Effect::Send(v) => Some(v.clone()),
                _ => None,
            })
            .collect()
    }

    fn state_sent(fx: &[Effect]) -> Vec<String> {
        sends(fx)
            .iter()
            .filter_map(|c| {
                c.pointer("/update/status/state")
                    .and_then(Value::as_str)
                    .map(str::to_string)
            })
            .collect()
    }

    fn run(task: &str, command: Value) -> Value {
        json!({"type": "RUN_TASK", "run_task": {
            "framework_info": {"id": {"value": "F1"}, "name": "fw", "user": "u"},
            "task": {"name": task, "task_id": {"value": task}, "agent_id": {"value": "A-S0"},
                     "command": command,
                     "resources": [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 1}}]}}})
    }

    fn ack_of(update: &Value) -> Value {
        let s = &update["update"]["status"];
        json!({"type": "ACKNOWLEDGE", "acknowledge": {"framework_id": {"value": "F1"},
            "task_id": s["task_id"], "uuid": s["uuid"]}})
    }

    fn key(t: &str) -> TaskKey {
        TaskKey {
            framework_id: "F1".into(),
            task_id: t.into(),
        }
    }

    #[test]
    fn first_registration_has_no_id_then_re_registration_carries_tasks() {
        let mut c = core();
        let r = c.register_call();
        assert_eq!(r["type"], "REGISTER");
        assert!(r["register"].get("agent_id").is_none());
        assert_eq!(r["register"]["agent_info"]["hostname"], "agent1");
        assert_eq!(
            r["register"]["agent_info"]["attributes"][0]["text"]["value"],
            "r1"
        );
        assert_eq!(r["register"]["containerizers"], json!(["mesos"]));
        let now = Instant::now();
        let fx = c.on_registered("A-S0", None, now);
        assert_eq!(fx, vec![Effect::CheckpointAgentId("A-S0".into())]);
        c.on_event(&run("t1", json!({"value": "sleep 1"})), now, 1.0);
        let r = c.register_call();
        assert_eq!(r["register"]["agent_id"]["value"], "A-S0");
        assert_eq!(r["register"]["tasks"][0]["task_id"]["value"], "t1");
        assert_eq!(r["register"]["tasks"][0]["state"], "TASK_STARTING");
        assert_eq!(r["register"]["frameworks"][0]["id"]["value"], "F1");
        assert_eq!(r["register"]["frameworks"][0]["name"], "fw");
    }

    #[test]
    fn a_task_runs_finishes_and_completes_when_acknowledged() {
        let mut c = core();
        let now = Instant::now();
        c.on_registered("A-S0", None, now);
        let fx = c.on_event(&run("t1", json!({"value": "echo hello"})), now, 1.0);
        let launch = fx.iter().find_map(|e| match e {
            Effect::Launch { spec, sandbox, .. } => Some((spec.clone(), sandbox.clone())),
            _ => None,
        });
        let (spec, sandbox) = launch.expect("a launch");
        assert!(sandbox.starts_with("/w/slaves/A-S0/frameworks/F1/executors/t1/runs/"));
        assert_eq!(spec.args, vec!["-c", "echo hello"]);
        let sent = sends(&fx);
        assert_eq!(state_sent(&fx), vec!["TASK_STARTING"]);
        let starting = sent[0].clone();
        assert_eq!(starting["update"]["framework_id"]["value"], "F1");
        assert_eq!(starting["update"]["status"]["source"], "SOURCE_EXECUTOR");
        assert_eq!(starting["update"]["status"]["agent_id"]["value"], "A-S0");
        assert_eq!(starting["update"]["status"]["executor_id"]["value"], "t1");

        // RUNNING waits behind the unacknowledged STARTING.
        c.on_supervisor_started(&key("t1"), 100);
        let fx = c.on_launched(&key("t1"), 101, now, 2.0);
        assert!(state_sent(&fx).is_empty());
        assert_eq!(c.task(&key("t1")).unwrap().state, TaskState::Running);
        let fx = c.on_event(&ack_of(&starting), now, 2.0);
        assert_eq!(state_sent(&fx), vec!["TASK_RUNNING"]);
        let running = sends(&fx)[0].clone();
        let fx = c.on_event(&ack_of(&running), now, 2.0);
        assert!(sends(&fx).is_empty());

        let fx = c.on_exited(&key("t1"), &ExitOutcome::Exited(0), now, 3.0);
        let fin = sends(&fx)[0].clone();
        assert_eq!(fin["update"]["status"]["state"], "TASK_FINISHED");
        assert_eq!(
            fin["update"]["status"]["message"],
            "Command exited with status 0"
        );
        assert!(c.task(&key("t1")).is_some(), "not completed before the ack");
        c.on_event(&ack_of(&fin), now, 3.0);
        assert!(c.task(&key("t1")).is_none());
        assert_eq!(c.completed_tasks().count(), 1);
        assert_eq!(c.counters.tasks_finished, 1);
        let (path, rec) = c.checkpoint(&key("t1")).unwrap();
        assert!(rec.completed);
        assert!(path.ends_with("task.json"));
    }

    #[test]
    fn failures_kills_and_refusals() {
        let mut c = core();
        let now = Instant::now();
        c.on_registered("A-S0", None, now);
        c.on_event(&run("bad", json!({"value": "exit 3"})), now, 1.0);
        c.on_launched(&key("bad"), 10, now, 1.0);
        let fx = c.on_exited(&key("bad"), &ExitOutcome::Exited(3), now, 1.0);
        assert!(state_sent(&fx).is_empty(), "queued behind STARTING");
        let t = c.task(&key("bad")).unwrap();
        assert_eq!(t.state, TaskState::Failed);
        assert_eq!(
            t.statuses.last().unwrap()["message"],
            "Command exited with status 3"
        );

        c.on_event(&run("sleepy", json!({"value": "sleep 60"})), now, 1.0);
        let fx = c.on_event(&json!({"type": "KILL_TASK", "kill_task": {"framework_id": {"value": "F1"},
            "task_id": {"value": "sleepy"}, "kill_policy": {"grace_period": {"nanoseconds": 1000}}}}), now, 1.0);
        assert!(
            !fx.iter().any(|e| matches!(e, Effect::Kill { .. })),
            "no pid yet"
        );
        let fx = c.on_launched(&key("sleepy"), 42, now, 1.0);
        assert!(fx.contains(&Effect::Kill {
            key: key("sleepy"),
            pgid: 42,
            grace: Duration::from_nanos(1000)
        }));
        c.on_exited(&key("sleepy"), &ExitOutcome::Signaled(15), now, 1.0);
        let t = c.task(&key("sleepy")).unwrap();
        assert_eq!(t.state, TaskState::Killed);
        assert_eq!(
            t.statuses.last().unwrap()["message"],
            "Command terminated with signal SIGTERM"
        );

        let fx = c.on_event(&run("dock", json!({"value": "x"})), now, 1.0);
        assert!(fx.iter().any(|e| matches!(e, Effect::Launch { .. })));
        let mut docker = run("dock2", json!({"value": "x"}));
        docker["run_task"]["task"]["container"] =
            json!({"type": "DOCKER", "docker": {"image": "busybox"}});
        let fx = c.on_event(&docker, now, 1.0);
        assert!(!fx.iter().any(|e| matches!(e, Effect::Launch { .. })));
        let sent = sends(&fx);
        assert_eq!(sent[0]["update"]["status"]["state"], "TASK_FAILED");
        assert_eq!(sent[0]["update"]["status"]["source"], "SOURCE_AGENT");
        assert_eq!(
            sent[0]["update"]["status"]["message"],
            "Docker is not available on this agent (--containerizers=mesos)"
        );

        let fx = c.on_event(
            &json!({"type": "KILL_TASK", "kill_task": {"framework_id": {"value": "F1"},
            "task_id": {"value": "ghost"}}}),
            now,
            1.0,
        );
        assert_eq!(sends(&fx)[0]["update"]["status"]["state"], "TASK_LOST");

        let fx = c.on_event(&json!({"type": "PING", "ping": {}}), now, 1.0);
        assert_eq!(sends(&fx), vec![json!({"type": "PONG"})]);
    }

    #[test]
    fn unacknowledged_updates_are_resent_after_registration_and_on_time() {
        let mut c = core();
        let t0 = Instant::now();
        c.on_registered("A-S0", None, t0);
        let fx = c.on_event(&run("t", json!({"value": "true"})), t0, 1.0);
        let first = sends(&fx)[0].clone();
        assert!(c.flush(t0 + Duration::from_secs(5)).is_empty());
        assert_eq!(
            sends(&c.flush(t0 + Duration::from_secs(10))),
            vec![first.clone()]
        );
        c.on_disconnected();
        assert!(
            c.flush(t0 + Duration::from_secs(100)).is_empty(),
            "nothing while disconnected"
        );
        assert_eq!(c.next_deadline(t0), None);
        let fx = c.on_registered("A-S0", None, t0 + Duration::from_secs(101));
        assert_eq!(
            sends(&fx),
            vec![first],
            "at once after re-registering, same uuid"
        );
    }

    #[test]
    fn recovery_restores_tasks_and_queues() {
        let mut c = core();
        let now = Instant::now();
        c.on_registered("A-S0", None, now);
        c.on_event(&run("t", json!({"value": "sleep 9"})), now, 1.0);
        c.on_launched(&key("t"), 7, now, 1.0);
        let (_, rec) = c.checkpoint(&key("t")).unwrap();
        assert_eq!(rec.pending_updates.len(), 2);
        let text = serde_json::to_string(&rec).unwrap();
        let back: TaskRecord = serde_json::from_str(&text).unwrap();
        assert_eq!(back, rec);

        let mut d = core();
        d.recover(Some("A-S0".into()), vec![back]);
        assert_eq!(d.task(&key("t")).unwrap().state, TaskState::Running);
        let fx = d.on_registered("A-S0", None, now);
        assert_eq!(state_sent(&fx), vec!["TASK_STARTING"]);
        let r = d.register_call();
        assert_eq!(r["register"]["tasks"][0]["state"], "TASK_RUNNING");
        let fx = d.on_exited(&key("t"), &ExitOutcome::Vanished, now, 2.0);
        assert!(fx.contains(&Effect::Checkpoint(key("t"))));
        let t = d.task(&key("t")).unwrap();
        assert_eq!(t.state, TaskState::Failed);
        assert!(t.statuses.last().unwrap()["message"]
            .as_str()
            .unwrap()
            .contains("supervisor (pid ?)"));
    }
}
