//! The master as a pure state machine: calls, agent messages and ticks in; [`Effect`]s out.
//!
//! No sockets, clocks or randomness: time comes in as `now_ms` (Unix milliseconds), stream and
//! connection IDs come from the runtime, and IDs are `<master id>-<kind><counter>`. The runtime
//! carries out the effects of one input, in order, before it feeds the next input; a
//! [`Effect::Persist`] is written to ZooKeeper before the effects after it are sent, so an agent
//! or framework is never told about a registry change that could be lost.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use serde_json::{json, Value};

use super::allocator::{self, Candidate, Slot};
use crate::resources::Resources;
use crate::zk::MasterInfo;

/// Task states after which a task never runs again.
pub const TERMINAL_STATES: [&str; 8] = [
    "TASK_FINISHED",
    "TASK_FAILED",
    "TASK_KILLED",
    "TASK_ERROR",
    "TASK_LOST",
    "TASK_DROPPED",
    "TASK_GONE",
    "TASK_GONE_BY_OPERATOR",
];

pub fn is_terminal(state: &str) -> bool {
    TERMINAL_STATES.contains(&state)
}

#[derive(Debug, Clone)]
pub struct Config {
    pub offer_timeout_ms: Option<u64>,
    pub agent_ping_timeout_ms: u64,
    pub max_agent_ping_timeouts: u32,
    pub agent_reregister_timeout_ms: u64,
    pub allocation_interval_ms: u64,
    pub heartbeat_interval_ms: u64,
    pub weights: BTreeMap<String, f64>,
    pub max_completed_frameworks: usize,
    pub max_completed_tasks_per_framework: usize,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            offer_timeout_ms: None,
            agent_ping_timeout_ms: 15_000,
            max_agent_ping_timeouts: 5,
            agent_reregister_timeout_ms: 600_000,
            allocation_interval_ms: 1_000,
            heartbeat_interval_ms: 15_000,
            weights: BTreeMap::new(),
            max_completed_frameworks: 50,
            max_completed_tasks_per_framework: 1000,
        }
    }
}

/// What the runtime must do.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Send an event on a framework's subscription stream.
    Framework { stream: String, event: Value },
    /// Close a framework's subscription stream (after its last event).
    CloseFramework { stream: String },
    /// Send an event on an agent's stream.
    Agent { conn: u64, event: Value },
    /// Close an agent's stream.
    CloseAgent { conn: u64 },
    /// The registry changed: write [`Master::registry`] before carrying out later effects.
    Persist,
}

/// A refused call: the HTTP status and the message for the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallError {
    pub status: u16,
    pub message: String,
}

fn bad_request<T>(message: impl Into<String>) -> Result<T, CallError> {
    Err(CallError {
        status: 400,
        message: message.into(),
    })
}

fn forbidden<T>(message: impl Into<String>) -> Result<T, CallError> {
    Err(CallError {
        status: 403,
        message: message.into(),
    })
}

#[derive(Debug, Clone)]
pub struct Framework {
    pub id: String,
    /// FrameworkInfo as subscribed (with `id`).
    pub info: Value,
    pub name: String,
    pub role: String,
    pub failover_timeout_ms: u64,
    pub partition_aware: bool,
    /// The subscription stream, while connected.
    pub stream: Option<String>,
    /// Known from the registry or an agent, not re-subscribed since this master took over.
    pub recovered: bool,
    pub registered_time: f64,
    pub reregistered_time: Option<f64>,
    pub disconnected_at_ms: Option<u64>,
    pub suppressed: bool,
    /// Agent id -> filtered until (ms).
    pub filters: BTreeMap<String, u64>,
    pub offers: BTreeSet<String>,
    pub completed_tasks: VecDeque<Task>,
    pub unregistered_time: Option<f64>,
}

impl Framework {
    pub fn connected(&self) -> bool {
        self.stream.is_some()
    }

    pub fn active(&self) -> bool {
        self.connected() && !self.recovered
    }
}

#[derive(Debug, Clone)]
pub struct Task {
    pub task_id: String,
    pub framework_id: String,
    pub agent_id: String,
    pub name: String,
    pub state: String,
    pub resources: Resources,
    /// TaskInfo as the framework sent it.
    pub task_info: Value,
    /// Every status, oldest first.
    pub statuses: Vec<Value>,
    /// Resources already given back (terminal, or unreachable).
    pub released: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgentConn {
    /// Streaming to us on this connection.
    Connected(u64),
    /// Stream closed; waiting for it to come back or for the pings to time out.
    Disconnected,
    /// Admitted by an earlier leader; waiting for it to re-register.
    Recovering,
}

#[derive(Debug, Clone)]
pub struct Agent {
    pub id: String,
    /// AgentInfo with `id`.
    pub info: Value,
    pub hostname: String,
    pub port: u16,
    pub total: Resources,
    pub attributes: Value,
    pub conn: AgentConn,
    pub since_ms: u64,
    pub missed_pings: u32,
    pub awaiting_pong: bool,
    pub registered_time: f64,
    pub reregistered_time: Option<f64>,
    pub version: String,
    pub capabilities: Value,
    pub containerizers: Vec<String>,
    /// Where the agent says it can be reached (for sandbox links).
    pub pid: String,
}

#[derive(Debug, Clone)]
pub struct Offer {
    pub id: String,
    pub framework_id: String,
    pub agent_id: String,
    pub resources: Resources,
    pub created_ms: u64,
}

/// Counters for `/metrics/snapshot`.
#[derive(Debug, Clone, Default)]
pub struct Counters {
    pub tasks_by_terminal_state: BTreeMap<String, u64>,
    pub offers_sent: u64,
    pub offers_declined: u64,
    pub offers_rescinded: u64,
    pub offers_accepted: u64,
    pub valid_framework_calls: u64,
    pub invalid_framework_calls: u64,
    pub status_updates: u64,
    pub agent_registrations: u64,
    pub agent_reregistrations: u64,
    pub agent_removals: u64,
    pub framework_removals: u64,
}

pub struct Master {
    pub info: MasterInfo,
    pub config: Config,
    pub start_ms: u64,
    pub elected_ms: Option<u64>,
    pub frameworks: BTreeMap<String, Framework>,
    pub completed_frameworks: VecDeque<Framework>,
    /// Framework ids torn down (refused on re-subscription).
    pub removed_frameworks: BTreeSet<String>,
    pub agents: BTreeMap<String, Agent>,
    /// Agent id -> (AgentInfo, when it became unreachable, ms).
    pub unreachable: BTreeMap<String, (Value, u64)>,
    /// (framework id, task id) -> task.
    pub tasks: BTreeMap<(String, String), Task>,
    /// Tasks of partition-aware frameworks on unreachable agents.
    pub unreachable_tasks: BTreeMap<(String, String), Task>,
    pub offers: BTreeMap<String, Offer>,
    pub maintenance_schedule: Value,
    /// Hostnames that are DOWN.
    pub down_machines: BTreeSet<String>,
    /// Agent id -> tasks to kill when it is back (asked for while it was not connected).
    pub pending_kills: BTreeMap<String, BTreeSet<(String, String)>>,
    pub counters: Counters,
    next_framework: u64,
    next_agent: u64,
    next_offer: u64,
    last_allocation_ms: u64,
    last_heartbeat_ms: u64,
    last_ping_ms: u64,
    recovered_at_ms: Option<u64>,
}

fn secs(ms: u64) -> f64 {
    ms as f64 / 1000.0
}

fn id_value(v: &Value) -> Option<String> {
    match v {
        Value::Object(_) => v.get("value").and_then(Value::as_str).map(str::to_string),
        Value::String(s) => Some(s.clone()),
        _ => None,
    }
    .filter(|s| !s.is_empty())
}

fn str_field<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

/// A status update event for a framework, built by the master (no uuid: not acknowledged).
fn master_status(task: &Task, state: &str, reason: &str, message: &str, now_ms: u64) -> Value {
    json!({
        "task_id": {"value": task.task_id},
        "state": state,
        "source": "SOURCE_MASTER",
        "reason": reason,
        "message": message,
        "agent_id": {"value": task.agent_id},
        "timestamp": secs(now_ms),
    })
}

/// A KILL_TASK event for an agent.
fn kill_task_event(fid: &str, tid: &str) -> Value {
    json!({"type": "KILL_TASK", "kill_task": {"framework_id": {"value": fid}, "task_id": {"value": tid}}})
}

/// A SHUTDOWN_FRAMEWORK event for an agent.
fn shutdown_framework_event(fid: &str) -> Value {
    json!({"type": "SHUTDOWN_FRAMEWORK", "shutdown_framework": {"framework_id": {"value": fid}}})
}

fn update_event(status: Value) -> Value {
    json!({"type": "UPDATE", "update": {"status": status}})
}

impl Master {
    pub fn new(info: MasterInfo, config: Config, now_ms: u64) -> Master {
        Master {
            info,
            config,
            start_ms: now_ms,
            elected_ms: None,
            frameworks: BTreeMap::new(),
            completed_frameworks: VecDeque::new(),
            removed_frameworks: BTreeSet::new(),
            agents: BTreeMap::new(),
            unreachable: BTreeMap::new(),
            tasks: BTreeMap::new(),
            unreachable_tasks: BTreeMap::new(),
            offers: BTreeMap::new(),
            maintenance_schedule: json!({"windows": []}),
            down_machines: BTreeSet::new(),
            pending_kills: BTreeMap::new(),
            counters: Counters::default(),
            next_framework: 0,
            next_agent: 0,
            next_offer: 0,
            last_allocation_ms: now_ms,
            last_heartbeat_ms: now_ms,
            last_ping_ms: now_ms,
            recovered_at_ms: None,
        }
    }

    // ---------------------------------------------------------------- registry

    /// The registry as stored in ZooKeeper.
    pub fn registry(&self) -> Value {
        let agents: Vec<Value> = self
            .agents
            .values()
            .map(|a| json!({"info": a.info}))
            .collect();
        let unreachable: Vec<Value> = self
            .unreachable
            .iter()
            .map(|(id, (info, ts))| json!({"id": {"value": id}, "info": info, "timestamp": secs(*ts)}))
            .collect();
        let frameworks: Vec<Value> = self
            .frameworks
            .values()
            .map(|f| json!({"info": f.info}))
            .collect();
        json!({
            "master_id": self.info.id,
            "agents": agents,
            "unreachable": unreachable,
            "frameworks": frameworks,
            "removed_frameworks": self.removed_frameworks,
            "maintenance": {"schedule": self.maintenance_schedule, "down": self.down_machines},
        })
    }

    /// Becomes the leader with the registry an earlier leader left (or `Value::Null`). Agents
    /// in it are expected back within `agent_reregister_timeout`; frameworks in it wait for
    /// re-subscription within their failover timeout.
    pub fn recover(&mut self, registry: &Value, now_ms: u64) {
        self.elected_ms = Some(now_ms);
        self.recovered_at_ms = Some(now_ms);
        self.last_allocation_ms = now_ms;
        self.last_heartbeat_ms = now_ms;
        self.last_ping_ms = now_ms;
        for a in registry["agents"].as_array().into_iter().flatten() {
            let info = &a["info"];
            let Some(id) = id_value(&info["id"]) else {
                continue;
            };
            if let Ok(agent) = agent_from_info(&id, info, AgentConn::Recovering, now_ms) {
                self.agents.insert(id, agent);
            }
        }
        for u in registry["unreachable"].as_array().into_iter().flatten() {
            if let Some(id) = id_value(&u["id"]) {
                let ts = u["timestamp"]
                    .as_f64()
                    .map_or(now_ms, |s| (s * 1000.0) as u64);
                self.unreachable.insert(id, (u["info"].clone(), ts));
            }
        }
        for f in registry["frameworks"].as_array().into_iter().flatten() {
            let info = &f["info"];
            let Some(id) = id_value(&info["id"]) else {
                continue;
            };
            // No failover clock: Mesos starts it only when a connected framework disconnects.
            let mut fw = framework_from_info(&id, info, now_ms);
            fw.recovered = true;
            self.frameworks.insert(id, fw);
        }
        for id in registry["removed_frameworks"]
            .as_array()
            .into_iter()
            .flatten()
        {
            if let Some(s) = id.as_str() {
                self.removed_frameworks.insert(s.to_string());
            }
        }
        if !registry["maintenance"]["schedule"].is_null() {
            self.maintenance_schedule = registry["maintenance"]["schedule"].clone();
        }
        for h in registry["maintenance"]["down"]
            .as_array()
            .into_iter()
            .flatten()
        {
            if let Some(s) = h.as_str() {
                self.down_machines.insert(s.to_string());
            }
        }
    }

    // ---------------------------------------------------------------- frameworks

    /// A SUBSCRIBE call on a new stream. Returns the framework id; the effects start the stream
    /// with SUBSCRIBED.
    pub fn subscribe(
        &mut self,
        now_ms: u64,
        stream: &str,
        call: &Value,
        fx: &mut Vec<Effect>,
    ) -> Result<String, CallError> {
        let Some(info) = call.pointer("/subscribe/framework_info") else {
            self.counters.invalid_framework_calls += 1;
            return bad_request("Expecting 'subscribe.framework_info' to be present");
        };
        if !info.is_object() {
            return bad_request("'subscribe.framework_info' must be an object");
        }
        if str_field(info, "name").is_none_or(str::is_empty) {
            self.counters.invalid_framework_calls += 1;
            return bad_request("'framework_info.name' is required");
        }
        if info.get("user").is_some_and(|u| !u.is_string()) {
            return bad_request("'framework_info.user' must be a string");
        }
        let info_id = info.get("id").and_then(id_value);
        let call_id = call.get("framework_id").and_then(id_value);
        if let (Some(a), Some(b)) = (&info_id, &call_id) {
            if a != b {
                return bad_request(format!(
                    "'framework_id' ({b}) differs from 'subscribe.framework_info.id' ({a})"
                ));
            }
        }
        let requested = info_id.or(call_id);
        if let Some(id) = &requested {
            if self.removed_frameworks.contains(id) {
                // As Mesos: the subscription stream opens with an ERROR, then closes.
                fx.push(Effect::Framework {
                    stream: stream.to_string(),
                    event: json!({"type": "ERROR", "error": {"message": "Framework has been removed"}}),
                });
                fx.push(Effect::CloseFramework {
                    stream: stream.to_string(),
                });
                return Ok(id.clone());
            }
        }
        self.counters.valid_framework_calls += 1;
        let id = match requested {
            Some(id) => id,
            None => {
                let id = format!("{}-{:04}", self.info.id, self.next_framework);
                self.next_framework += 1;
                id
            }
        };
        let mut info = info.clone();
        info["id"] = json!({"value": id});
        if info.get("user").is_none() {
            info["user"] = json!("");
        }
        let new_registration = !self.frameworks.contains_key(&id);
        let fw = self
            .frameworks
            .entry(id.clone())
            .or_insert_with(|| framework_from_info(&id, &info, now_ms));
        // A framework that fails over to a new scheduler instance: the old stream is told and
        // closed, its offers rescinded (they were made to the old instance).
        if let Some(old) = fw.stream.take() {
            fx.push(Effect::Framework {
                stream: old.clone(),
                event: json!({"type": "ERROR", "error": {"message": "Framework failed over"}}),
            });
            fx.push(Effect::CloseFramework { stream: old });
        }
        let refreshed = framework_from_info(&id, &info, now_ms);
        fw.info = info;
        fw.name = refreshed.name;
        fw.role = refreshed.role;
        fw.failover_timeout_ms = refreshed.failover_timeout_ms;
        fw.partition_aware = refreshed.partition_aware;
        fw.stream = Some(stream.to_string());
        fw.disconnected_at_ms = None;
        fw.unregistered_time = None;
        if !new_registration {
            fw.reregistered_time = Some(secs(now_ms));
        }
        fw.recovered = false;
        let offers: Vec<String> = fw.offers.iter().cloned().collect();
        for o in offers {
            self.remove_offer(&o);
        }
        fx.push(Effect::Persist);
        fx.push(Effect::Framework {
            stream: stream.to_string(),
            event: json!({
                "type": "SUBSCRIBED",
                "subscribed": {
                    "framework_id": {"value": id},
                    "heartbeat_interval_seconds": secs(self.config.heartbeat_interval_ms),
                    "master_info": self.info.to_json(),
                }
            }),
        });
        Ok(id)
    }

    /// A subscription stream closed (the scheduler went away).
    pub fn framework_disconnected(&mut self, now_ms: u64, stream: &str) {
        let Some(fw) = self
            .frameworks
            .values_mut()
            .find(|f| f.stream.as_deref() == Some(stream))
        else {
            return;
        };
        fw.stream = None;
        fw.disconnected_at_ms = Some(now_ms);
        let offers: Vec<String> = fw.offers.iter().cloned().collect();
        for o in offers {
            self.remove_offer(&o);
        }
    }

    /// Any call but SUBSCRIBE. `stream` is the request's `Mesos-Stream-Id` header.
    pub fn framework_call(
        &mut self,
        now_ms: u64,
        stream: Option<&str>,
        call: &Value,
        fx: &mut Vec<Effect>,
    ) -> Result<(), CallError> {
        let result = self.framework_call_inner(now_ms, stream, call, fx);
        match &result {
            Ok(()) => self.counters.valid_framework_calls += 1,
            Err(_) => self.counters.invalid_framework_calls += 1,
        }
        result
    }

    fn framework_call_inner(
        &mut self,
        now_ms: u64,
        stream: Option<&str>,
        call: &Value,
        fx: &mut Vec<Effect>,
    ) -> Result<(), CallError> {
        let Some(ty) = str_field(call, "type") else {
            return bad_request("Expecting 'type' to be present");
        };
        let Some(fid) = call.get("framework_id").and_then(id_value) else {
            return bad_request(format!(
                "Expecting 'framework_id' to be present in a {ty} call"
            ));
        };
        let Some(fw) = self.frameworks.get(&fid) else {
            return bad_request(format!("Framework {fid} cannot be found"));
        };
        if fw.stream.is_none() {
            return forbidden(format!("Framework {fid} is not subscribed"));
        }
        let Some(stream) = stream else {
            return bad_request(
                "All non-subscribe calls should include the 'Mesos-Stream-Id' header",
            );
        };
        if fw.stream.as_deref() != Some(stream) {
            return bad_request(format!(
                "The stream ID '{stream}' included in this request didn't match the stream ID \
                 currently associated with framework ID {fid}"
            ));
        }
        match ty {
            "TEARDOWN" => {
                self.remove_framework(&fid, now_ms, fx);
                Ok(())
            }
            "ACCEPT" => self.accept(now_ms, &fid, call.get("accept").unwrap_or(&Value::Null), fx),
            "DECLINE" => {
                let d = call.get("decline").unwrap_or(&Value::Null);
                let ids = offer_ids(d)?;
                let refuse = refuse_ms(d)?;
                for oid in ids {
                    if let Some(o) = self.offers.get(&oid).cloned() {
                        if o.framework_id == fid {
                            self.remove_offer(&oid);
                            self.counters.offers_declined += 1;
                            self.add_filter(&fid, &o.agent_id, now_ms + refuse);
                        }
                    }
                }
                Ok(())
            }
            "REVIVE" => {
                let fw = self.frameworks.get_mut(&fid).expect("checked above");
                fw.filters.clear();
                fw.suppressed = false;
                Ok(())
            }
            "SUPPRESS" => {
                let fw = self.frameworks.get_mut(&fid).expect("checked above");
                // Outstanding offers stay valid, as in Mesos.
                fw.suppressed = true;
                Ok(())
            }
            "KILL" => {
                let k = call.get("kill").unwrap_or(&Value::Null);
                let Some(tid) = k.get("task_id").and_then(id_value) else {
                    return bad_request("Expecting 'kill.task_id' to be present");
                };
                self.kill_task(now_ms, &fid, &tid, k.get("kill_policy"), fx);
                Ok(())
            }
            "SHUTDOWN" => {
                let s = call.get("shutdown").unwrap_or(&Value::Null);
                let Some(eid) = s.get("executor_id").and_then(id_value) else {
                    return bad_request("Expecting 'shutdown.executor_id' to be present");
                };
                // Command tasks run under an executor with the task's id.
                self.kill_task(now_ms, &fid, &eid, None, fx);
                Ok(())
            }
            "ACKNOWLEDGE" => {
                let a = call.get("acknowledge").unwrap_or(&Value::Null);
                let (Some(tid), Some(aid), Some(uuid)) = (
                    a.get("task_id").and_then(id_value),
                    a.get("agent_id").and_then(id_value),
                    a.get("uuid").and_then(Value::as_str),
                ) else {
                    return bad_request(
                        "Expecting 'acknowledge.task_id', 'acknowledge.agent_id' and 'acknowledge.uuid'",
                    );
                };
                self.acknowledge(&fid, &tid, &aid, uuid, fx);
                Ok(())
            }
            "RECONCILE" => {
                let tasks = call
                    .pointer("/reconcile/tasks")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                self.reconcile(now_ms, &fid, &tasks, fx)
            }
            "MESSAGE"
            | "REQUEST"
            | "ACKNOWLEDGE_OPERATION_STATUS"
            | "RECONCILE_OPERATIONS"
            | "ACCEPT_INVERSE_OFFERS"
            | "DECLINE_INVERSE_OFFERS"
            | "UPDATE_FRAMEWORK" => {
                // Command tasks have no executor to message; the rest have nothing to act on
                // here (no resource providers, no inverse offers).
                Ok(())
            }
            "SUBSCRIBE" => {
                bad_request("SUBSCRIBE must be sent on a new connection without 'Mesos-Stream-Id'")
            }
            other => bad_request(format!("Unknown call type '{other}'")),
        }
    }

    fn add_filter(&mut self, fid: &str, agent: &str, until_ms: u64) {
        if let Some(fw) = self.frameworks.get_mut(fid) {
            let e = fw.filters.entry(agent.to_string()).or_insert(0);
            *e = (*e).max(until_ms);
        }
    }

    fn accept(
        &mut self,
        now_ms: u64,
        fid: &str,
        accept: &Value,
        fx: &mut Vec<Effect>,
    ) -> Result<(), CallError> {
        let ids = offer_ids(accept)?;
        let refuse = refuse_ms(accept)?;
        let operations = accept
            .get("operations")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let pa = self.frameworks[fid].partition_aware;

        // Validate the offers: all exist, all ours, all on one agent.
        let mut invalid = None;
        let mut agent_id: Option<String> = None;
        let mut offered = Resources::new();
        for oid in &ids {
            match self.offers.get(oid) {
                None => invalid = Some(format!("Offer {oid} is no longer valid")),
                Some(o) if o.framework_id != fid => {
                    invalid = Some(format!("Offer {oid} is not for this framework"))
                }
                Some(o) => {
                    if agent_id.as_ref().is_some_and(|a| *a != o.agent_id) {
                        invalid = Some("Aggregated offers must belong to the same agent".into());
                    }
                    agent_id = Some(o.agent_id.clone());
                    offered = offered.plus(&o.resources);
                }
            }
        }
        if ids.is_empty() {
            invalid = Some("No offers specified".into());
        }
        for oid in &ids {
            if self.offers.get(oid).is_some_and(|o| o.framework_id == fid) {
                self.remove_offer(oid);
            }
        }
        let launches = launch_tasks(&operations);
        if let Some(why) = invalid {
            for t in launches {
                let tid = t.get("task_id").and_then(id_value).unwrap_or_default();
                let state = if pa { "TASK_DROPPED" } else { "TASK_LOST" };
                let status = json!({
                    "task_id": {"value": tid}, "state": state, "source": "SOURCE_MASTER",
                    "reason": "REASON_INVALID_OFFERS",
                    "message": format!("Task launched with invalid offers: {why}"),
                    "timestamp": secs(now_ms),
                });
                self.send_to_framework(fid, update_event(status), fx);
            }
            return Ok(());
        }
        self.counters.offers_accepted += ids.len() as u64;
        let agent_id = agent_id.expect("at least one valid offer");
        let mut left = offered;
        for op in &operations {
            let ty = str_field(op, "type").unwrap_or("");
            match ty {
                "LAUNCH" => {
                    let tasks = op
                        .pointer("/launch/task_infos")
                        .and_then(Value::as_array)
                        .cloned()
                        .unwrap_or_default();
                    for t in tasks {
                        match self.validate_task(fid, &agent_id, &t, &left) {
                            Ok(res) => {
                                left = left.minus(&res).expect("validated to fit");
                                self.launch(now_ms, fid, &agent_id, t, res, fx);
                            }
                            Err(why) => {
                                let tid = t.get("task_id").and_then(id_value).unwrap_or_default();
                                let status = json!({
                                    "task_id": {"value": tid}, "state": "TASK_ERROR",
                                    "source": "SOURCE_MASTER", "reason": "REASON_TASK_INVALID",
                                    "message": why, "agent_id": {"value": agent_id},
                                    "timestamp": secs(now_ms),
                                });
                                self.send_to_framework(fid, update_event(status), fx);
                            }
                        }
                    }
                }
                "LAUNCH_GROUP" => {
                    let tasks = op
                        .pointer("/launch_group/task_group/tasks")
                        .and_then(Value::as_array)
                        .cloned()
                        .unwrap_or_default();
                    for t in tasks {
                        let tid = t.get("task_id").and_then(id_value).unwrap_or_default();
                        let status = json!({
                            "task_id": {"value": tid}, "state": "TASK_ERROR",
                            "source": "SOURCE_MASTER", "reason": "REASON_TASK_GROUP_INVALID",
                            "message": "LAUNCH_GROUP (task groups) is not supported by this master",
                            "agent_id": {"value": agent_id}, "timestamp": secs(now_ms),
                        });
                        self.send_to_framework(fid, update_event(status), fx);
                    }
                }
                _ => {}
            }
        }
        // What was not used goes back, filtered for this framework for refuse_seconds.
        self.add_filter(fid, &agent_id, now_ms + refuse);
        Ok(())
    }

    /// Checks a TaskInfo against the framework's tasks and what is left of the offers; returns
    /// its resources.
    fn validate_task(
        &self,
        fid: &str,
        agent_id: &str,
        t: &Value,
        left: &Resources,
    ) -> Result<Resources, String> {
        let Some(tid) = t.get("task_id").and_then(id_value) else {
            return Err("Task has no 'task_id'".into());
        };
        if tid.contains('/') || tid.contains('\0') || tid == "." || tid == ".." {
            return Err(format!("Task ID '{tid}' contains invalid characters"));
        }
        let key = (fid.to_string(), tid.clone());
        if self.tasks.contains_key(&key) || self.unreachable_tasks.contains_key(&key) {
            return Err(format!("Task has duplicate ID: {tid}"));
        }
        if str_field(t, "name").is_none() {
            return Err("Task has no 'name'".into());
        }
        if let Some(a) = t.get("agent_id").and_then(id_value) {
            if a != agent_id {
                return Err(format!(
                    "Task uses agent {a} but the offers are for agent {agent_id}"
                ));
            }
        }
        if t.get("executor").is_some() {
            return Err("Custom executors are not supported by this master; use 'command'".into());
        }
        if t.get("command").is_none() && t.get("container").is_none() {
            return Err("Task must set 'command' (or 'container')".into());
        }
        let res = Resources::from_json(t.get("resources").unwrap_or(&json!([])))
            .map_err(|e| format!("Task has invalid resources: {e}"))?;
        if res.scalar("cpus") < 0.01 && res.scalar("mem") < 32.0 && res.is_empty() {
            return Err("Task uses no resources".into());
        }
        if !left.contains(&res) {
            return Err(format!(
                "Task uses more resources {res} than available {left}"
            ));
        }
        Ok(res)
    }

    fn launch(
        &mut self,
        now_ms: u64,
        fid: &str,
        agent_id: &str,
        mut t: Value,
        res: Resources,
        fx: &mut Vec<Effect>,
    ) {
        let tid = t.get("task_id").and_then(id_value).expect("validated");
        t["agent_id"] = json!({"value": agent_id});
        let status = json!({"state": "TASK_STAGING", "timestamp": secs(now_ms)});
        let task = Task {
            task_id: tid.clone(),
            framework_id: fid.to_string(),
            agent_id: agent_id.to_string(),
            name: str_field(&t, "name").unwrap_or("").to_string(),
            state: "TASK_STAGING".into(),
            resources: res,
            task_info: t.clone(),
            statuses: vec![status],
            released: false,
        };
        self.tasks.insert((fid.to_string(), tid), task);
        let info = self.frameworks[fid].info.clone();
        if let Some(AgentConn::Connected(conn)) = self.agents.get(agent_id).map(|a| a.conn) {
            fx.push(Effect::Agent {
                conn,
                event: json!({"type": "RUN_TASK", "run_task": {"framework_info": info, "task": t}}),
            });
        }
    }

    fn kill_task(
        &mut self,
        now_ms: u64,
        fid: &str,
        tid: &str,
        policy: Option<&Value>,
        fx: &mut Vec<Effect>,
    ) {
        let key = (fid.to_string(), tid.to_string());
        let pa = self.frameworks.get(fid).is_some_and(|f| f.partition_aware);
        let Some(task) = self.tasks.get(&key) else {
            if let Some(t) = self.unreachable_tasks.get(&key) {
                // Cannot reach its agent; it stays unreachable until the agent returns.
                let st = master_status(
                    t,
                    "TASK_UNREACHABLE",
                    "REASON_RECONCILIATION",
                    "Task is on an unreachable agent",
                    now_ms,
                );
                self.send_to_framework(fid, update_event(st), fx);
                return;
            }
            let state = if pa { "TASK_UNKNOWN" } else { "TASK_LOST" };
            let status = json!({
                "task_id": {"value": tid}, "state": state, "source": "SOURCE_MASTER",
                "reason": "REASON_RECONCILIATION", "message": "Attempted to kill an unknown task",
                "timestamp": secs(now_ms),
            });
            self.send_to_framework(fid, update_event(status), fx);
            return;
        };
        if is_terminal(&task.state) {
            return;
        }
        match self.agents.get(&task.agent_id).map(|a| a.conn) {
            Some(AgentConn::Connected(conn)) => {
                let mut kill = json!({"framework_id": {"value": fid}, "task_id": {"value": tid}});
                if let Some(p) = policy {
                    kill["kill_policy"] = p.clone();
                }
                fx.push(Effect::Agent {
                    conn,
                    event: json!({"type": "KILL_TASK", "kill_task": kill}),
                });
            }
            _ => {
                // The agent is away: as Mesos does, remember the kill and send it when the
                // agent registers again.
                let agent = task.agent_id.clone();
                self.pending_kills.entry(agent).or_default().insert(key);
            }
        }
    }

    fn acknowledge(&mut self, fid: &str, tid: &str, aid: &str, uuid: &str, fx: &mut Vec<Effect>) {
        let key = (fid.to_string(), tid.to_string());
        if let Some(AgentConn::Connected(conn)) = self.agents.get(aid).map(|a| a.conn) {
            fx.push(Effect::Agent {
                conn,
                event: json!({"type": "ACKNOWLEDGE", "acknowledge": {
                    "framework_id": {"value": fid}, "task_id": {"value": tid}, "uuid": uuid}}),
            });
        }
        // A terminal task leaves the active list once its terminal update is acknowledged.
        let done = self.tasks.get(&key).is_some_and(|t| {
            is_terminal(&t.state)
                && t.statuses
                    .last()
                    .and_then(|s| s.get("uuid"))
                    .and_then(Value::as_str)
                    == Some(uuid)
        });
        if done {
            let task = self.tasks.remove(&key).expect("present");
            self.complete_task(task);
        }
    }

    fn complete_task(&mut self, task: Task) {
        let max = self.config.max_completed_tasks_per_framework;
        if let Some(fw) = self.frameworks.get_mut(&task.framework_id) {
            fw.completed_tasks.push_back(task);
            while fw.completed_tasks.len() > max {
                fw.completed_tasks.pop_front();
            }
        }
    }

    fn reconcile(
        &mut self,
        now_ms: u64,
        fid: &str,
        tasks: &[Value],
        fx: &mut Vec<Effect>,
    ) -> Result<(), CallError> {
        let pa = self.frameworks[fid].partition_aware;
        let latest = |t: &Task| {
            let mut s = master_status(
                t,
                &t.state,
                "REASON_RECONCILIATION",
                "Reconciliation: latest task state",
                now_ms,
            );
            if let Some(h) = t.statuses.last().and_then(|s| s.get("healthy")) {
                s["healthy"] = h.clone();
            }
            s
        };
        if tasks.is_empty() {
            // Implicit: every task the master knows for the framework.
            let mut out = Vec::new();
            for t in self.tasks.values().filter(|t| t.framework_id == fid) {
                out.push(latest(t));
            }
            for t in self
                .unreachable_tasks
                .values()
                .filter(|t| t.framework_id == fid)
            {
                out.push(latest(t));
            }
            for s in out {
                self.send_to_framework(fid, update_event(s), fx);
            }
            return Ok(());
        }
        let mut out = Vec::new();
        for q in tasks {
            let Some(tid) = q.get("task_id").and_then(id_value) else {
                return bad_request("Expecting 'reconcile.tasks[].task_id' to be present");
            };
            let key = (fid.to_string(), tid.clone());
            if let Some(t) = self
                .tasks
                .get(&key)
                .or_else(|| self.unreachable_tasks.get(&key))
            {
                out.push(latest(t));
                continue;
            }
            // Mesos' answers for a task it does not know: silence while the agent (or, with no
            // agent given, any agent) may still report it; TASK_UNREACHABLE on an unreachable
            // agent; TASK_GONE on a registered one; TASK_UNKNOWN otherwise. Frameworks that
            // are not partition-aware get TASK_LOST for all of these.
            let agent = q.get("agent_id").and_then(id_value);
            let recovering = match &agent {
                Some(a) => self
                    .agents
                    .get(a)
                    .is_some_and(|x| x.conn == AgentConn::Recovering),
                None => self
                    .agents
                    .values()
                    .any(|x| x.conn == AgentConn::Recovering),
            };
            if recovering {
                continue;
            }
            let state = match &agent {
                _ if !pa => "TASK_LOST",
                Some(a) if self.unreachable.contains_key(a) => "TASK_UNREACHABLE",
                Some(a) if self.agents.contains_key(a) => "TASK_GONE",
                _ => "TASK_UNKNOWN",
            };
            let mut s = json!({
                "task_id": {"value": tid}, "state": state, "source": "SOURCE_MASTER",
                "reason": "REASON_RECONCILIATION", "message": "Reconciliation: task unknown to the master",
                "timestamp": secs(now_ms),
            });
            if let Some(a) = agent {
                s["agent_id"] = json!({"value": a});
            }
            out.push(s);
        }
        for s in out {
            self.send_to_framework(fid, update_event(s), fx);
        }
        Ok(())
    }

    /// `POST /master/teardown`: an operator removes a framework.
    pub fn teardown(
        &mut self,
        fid: &str,
        now_ms: u64,
        fx: &mut Vec<Effect>,
    ) -> Result<(), CallError> {
        if !self.frameworks.contains_key(fid) {
            return bad_request(format!("No framework found with specified ID: {fid}"));
        }
        self.remove_framework(fid, now_ms, fx);
        Ok(())
    }

    /// Tears a framework down: its tasks are killed, its offers withdrawn, it is forgotten.
    fn remove_framework(&mut self, fid: &str, now_ms: u64, fx: &mut Vec<Effect>) {
        let Some(mut fw) = self.frameworks.remove(fid) else {
            return;
        };
        // The registry forgets it before the agents are told (the Persist goes in front).
        let first = fx.len();
        self.counters.framework_removals += 1;
        for oid in fw.offers.clone() {
            self.offers.remove(&oid);
        }
        fw.offers.clear();
        let agents: BTreeSet<String> = self
            .tasks
            .values()
            .filter(|t| t.framework_id == fid)
            .map(|t| t.agent_id.clone())
            .collect();
        for aid in agents {
            if let Some(AgentConn::Connected(conn)) = self.agents.get(&aid).map(|a| a.conn) {
                fx.push(Effect::Agent {
                    conn,
                    event: shutdown_framework_event(fid),
                });
            }
        }
        let keys: Vec<(String, String)> =
            self.tasks.keys().filter(|k| k.0 == fid).cloned().collect();
        for k in keys {
            let mut t = self.tasks.remove(&k).expect("present");
            if !is_terminal(&t.state) {
                t.state = "TASK_KILLED".into();
                t.statuses
                    .push(json!({"state": "TASK_KILLED", "timestamp": secs(now_ms)}));
                *self
                    .counters
                    .tasks_by_terminal_state
                    .entry("TASK_KILLED".into())
                    .or_default() += 1;
            }
            fw.completed_tasks.push_back(t);
        }
        self.unreachable_tasks.retain(|k, _| k.0 != fid);
        if let Some(stream) = fw.stream.take() {
            fx.push(Effect::CloseFramework { stream });
        }
        fw.unregistered_time = Some(secs(now_ms));
        self.removed_frameworks.insert(fid.to_string());
        self.completed_frameworks.push_back(fw);
        while self.completed_frameworks.len() > self.config.max_completed_frameworks {
            self.completed_frameworks.pop_front();
        }
        fx.insert(first, Effect::Persist);
    }

    fn send_to_framework(&mut self, fid: &str, event: Value, fx: &mut Vec<Effect>) {
        if let Some(stream) = self.frameworks.get(fid).and_then(|f| f.stream.clone()) {
            fx.push(Effect::Framework { stream, event });
        }
    }

    // ---------------------------------------------------------------- agents

    /// A REGISTER on a new agent connection `conn`. Returns the agent id.
    pub fn register_agent(
        &mut self,
        now_ms: u64,
        conn: u64,
        call: &Value,
        fx: &mut Vec<Effect>,
    ) -> Result<String, CallError> {
        let Some(reg) = call.get("register") else {
            return bad_request("Expecting 'register' to be present");
        };
        let Some(info) = reg.get("agent_info").filter(|v| v.is_object()) else {
            return bad_request("Expecting 'register.agent_info' to be present");
        };
        if str_field(info, "hostname").is_none_or(str::is_empty) {
            return bad_request("Expecting 'agent_info.hostname' to be present");
        }
        let id = match reg.get("agent_id").and_then(id_value) {
            Some(id) => id,
            None => {
                let id = format!("{}-S{}", self.info.id, self.next_agent);
                self.next_agent += 1;
                id
            }
        };
        let mut info = info.clone();
        info["id"] = json!({"value": id});
        let mut agent =
            agent_from_info(&id, &info, AgentConn::Connected(conn), now_ms).map_err(|m| {
                CallError {
                    status: 400,
                    message: m,
                }
            })?;
        agent.version = str_field(reg, "version").unwrap_or("").to_string();
        agent.capabilities = reg.get("capabilities").cloned().unwrap_or(json!([]));
        agent.containerizers = reg
            .get("containerizers")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_else(|| vec!["mesos".to_string()]);
        if let Some(p) = str_field(reg, "pid") {
            agent.pid = p.to_string();
        }

        let previous = self.agents.remove(&id);
        let was_unreachable = self.unreachable.remove(&id).is_some();
        let reregistering = previous.is_some() || was_unreachable;
        if let Some(prev) = &previous {
            agent.registered_time = prev.registered_time;
            agent.reregistered_time = Some(secs(now_ms));
            if let AgentConn::Connected(old) = prev.conn {
                if old != conn {
                    fx.push(Effect::CloseAgent { conn: old });
                }
            }
            self.counters.agent_reregistrations += 1;
        } else if was_unreachable {
            agent.reregistered_time = Some(secs(now_ms));
            self.counters.agent_reregistrations += 1;
        } else {
            self.counters.agent_registrations += 1;
        }
        // Offers on the old incarnation are void.
        self.rescind_offers_on(&id, fx);
        self.agents.insert(id.clone(), agent);

        // Frameworks the agent knows (after a master failover they may not have re-subscribed).
        for f in reg
            .get("frameworks")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(fid) = f.get("id").and_then(id_value) {
                if !self.frameworks.contains_key(&fid) && !self.removed_frameworks.contains(&fid) {
                    let mut fw = framework_from_info(&fid, f, now_ms);
                    fw.recovered = true;
                    self.frameworks.insert(fid, fw);
                }
            }
        }

        fx.push(Effect::Persist);
        fx.push(Effect::Agent {
            conn,
            event: json!({"type": "REGISTERED", "registered": {
                "agent_id": {"value": id},
                "master_info": self.info.to_json(),
                "ping_interval_seconds": secs(self.config.agent_ping_timeout_ms),
            }}),
        });

        // Reconcile the tasks it reports with what we know.
        let reported: Vec<Value> = reg
            .get("tasks")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let mut reported_keys = BTreeSet::new();
        for t in &reported {
            let (Some(fid), Some(tid)) = (
                t.get("framework_id").and_then(id_value),
                t.get("task_id").and_then(id_value),
            ) else {
                continue;
            };
            let key = (fid.clone(), tid.clone());
            reported_keys.insert(key.clone());
            let state = str_field(t, "state").unwrap_or("TASK_STAGING").to_string();
            if self.removed_frameworks.contains(&fid) || !self.frameworks.contains_key(&fid) {
                fx.push(Effect::Agent {
                    conn,
                    event: shutdown_framework_event(&fid),
                });
                continue;
            }
            let pa = self.frameworks[&fid].partition_aware;
            if let Some(back) = self.unreachable_tasks.remove(&key) {
                // Back from a partition: a partition-aware framework learns it is running again.
                let mut back = back;
                back.state = state.clone();
                back.released = is_terminal(&state);
                let st = master_status(
                    &back,
                    &state,
                    "REASON_AGENT_REREGISTERED",
                    "Agent re-registered",
                    now_ms,
                );
                back.statuses
                    .push(json!({"state": state, "timestamp": secs(now_ms)}));
                self.tasks.insert(key.clone(), back);
                self.send_to_framework(&fid, update_event(st), fx);
                continue;
            }
            if was_unreachable && !pa && !self.tasks.contains_key(&key) {
                // Its framework was told TASK_LOST already: the task must not come back.
                fx.push(Effect::Agent {
                    conn,
                    event: kill_task_event(&fid, &tid),
                });
                continue;
            }
            if self
                .tasks
                .get(&key)
                .is_some_and(|known| known.agent_id != id)
            {
                // The same task ID lives on another agent (relaunched meanwhile): this copy
                // is stale.
                fx.push(Effect::Agent {
                    conn,
                    event: kill_task_event(&fid, &tid),
                });
                continue;
            }
            let task_info = t.get("task_info").cloned().unwrap_or_else(|| t.clone());
            let resources = Resources::from_json(t.get("resources").unwrap_or(&json!([])))
                .or_else(|_| Resources::from_json(task_info.get("resources").unwrap_or(&json!([]))))
                .unwrap_or_default();
            let statuses = t
                .get("statuses")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_else(|| vec![json!({"state": state, "timestamp": secs(now_ms)})]);
            let entry = self.tasks.entry(key).or_insert_with(|| Task {
                task_id: tid.clone(),
                framework_id: fid.clone(),
                agent_id: id.clone(),
                name: str_field(t, "name").unwrap_or("").to_string(),
                state: state.clone(),
                resources,
                task_info,
                statuses,
                released: false,
            });
            if entry.state != state && !is_terminal(&entry.state) {
                entry.state = state.clone();
            }
            entry.released = is_terminal(&entry.state);
        }
        // Kills asked for while it was away, and everything on a DOWN machine, go out now.
        let mut kills = self.pending_kills.remove(&id).unwrap_or_default();
        if self.down_machines.contains(&self.agents[&id].hostname) {
            kills.extend(reported_keys.iter().cloned());
        }
        for key in kills {
            let live = reported_keys.contains(&key)
                && self
                    .tasks
                    .get(&key)
                    .is_some_and(|t| t.agent_id == id && !is_terminal(&t.state));
            if live {
                fx.push(Effect::Agent {
                    conn,
                    event: kill_task_event(&key.0, &key.1),
                });
            }
        }
        // Tasks we think run there but the agent does not know: lost.
        let missing: Vec<(String, String)> = self
            .tasks
            .iter()
            .filter(|(k, t)| t.agent_id == id && !reported_keys.contains(*k) && reregistering)
            .map(|(k, _)| k.clone())
            .collect();
        for k in missing {
            let t = self.tasks.get(&k).expect("present").clone();
            if is_terminal(&t.state) {
                continue;
            }
            if t.state == "TASK_STAGING"
                && previous
                    .as_ref()
                    .is_some_and(|p| matches!(p.conn, AgentConn::Connected(_)))
            {
                // Launched on the old connection; it may simply not have arrived: re-send it.
                let info = self.frameworks[&k.0].info.clone();
                fx.push(Effect::Agent {
                    conn,
                    event: json!({"type": "RUN_TASK", "run_task": {"framework_info": info, "task": t.task_info}}),
                });
                continue;
            }
            self.finish_task_on_master(
                &k,
                "TASK_LOST",
                "REASON_RECONCILIATION",
                "Task is unknown to the agent",
                now_ms,
                fx,
            );
        }
        Ok(id)
    }

    /// A call from a registered agent (UPDATE or PONG).
    pub fn agent_call(
        &mut self,
        now_ms: u64,
        agent_id: &str,
        conn: Option<u64>,
        call: &Value,
        fx: &mut Vec<Effect>,
    ) -> Result<(), CallError> {
        let Some(agent) = self.agents.get_mut(agent_id) else {
            return forbidden(format!(
                "Agent {agent_id} is not registered with this master"
            ));
        };
        let AgentConn::Connected(current) = agent.conn else {
            return forbidden(format!("Agent {agent_id} is not connected; register again"));
        };
        if conn.is_some_and(|c| c != current) {
            return forbidden(format!(
                "Agent {agent_id} registered again on another stream"
            ));
        }
        match str_field(call, "type") {
            Some("PONG") => {
                agent.missed_pings = 0;
                agent.awaiting_pong = false;
                Ok(())
            }
            Some("UPDATE") => {
                let Some(status) = call.pointer("/update/status").filter(|s| s.is_object()) else {
                    return bad_request("Expecting 'update.status' to be present");
                };
                self.status_update(
                    now_ms,
                    agent_id,
                    call.pointer("/update/framework_id"),
                    status,
                    fx,
                )
            }
            Some(other) => bad_request(format!("Unknown agent call type '{other}'")),
            None => bad_request("Expecting 'type' to be present"),
        }
    }

    fn status_update(
        &mut self,
        now_ms: u64,
        agent_id: &str,
        framework_id: Option<&Value>,
        status: &Value,
        fx: &mut Vec<Effect>,
    ) -> Result<(), CallError> {
        let Some(tid) = status.get("task_id").and_then(id_value) else {
            return bad_request("Expecting 'status.task_id' to be present");
        };
        let Some(state) = str_field(status, "state").map(str::to_string) else {
            return bad_request("Expecting 'status.state' to be present");
        };
        if !state.starts_with("TASK_") {
            return bad_request(format!("Unknown task state '{state}'"));
        }
        let fid = match framework_id.and_then(id_value) {
            Some(f) => Some(f),
            None => self
                .tasks
                .keys()
                .find(|(f, t)| {
                    *t == tid && self.tasks[&(f.clone(), t.clone())].agent_id == agent_id
                })
                .map(|(f, _)| f.clone()),
        };
        self.counters.status_updates += 1;
        let conn = match self.agents.get(agent_id).map(|a| a.conn) {
            Some(AgentConn::Connected(c)) => Some(c),
            _ => None,
        };
        let uuid = str_field(status, "uuid").map(str::to_string);
        let Some(fid) = fid.filter(|f| self.frameworks.contains_key(f)) else {
            // No framework to tell: acknowledge on its behalf so the agent stops resending.
            if let (Some(conn), Some(uuid)) = (conn, &uuid) {
                let fid = framework_id.and_then(id_value).unwrap_or_default();
                fx.push(Effect::Agent {
                    conn,
                    event: json!({"type": "ACKNOWLEDGE", "acknowledge": {
                        "framework_id": {"value": fid}, "task_id": {"value": tid}, "uuid": uuid}}),
                });
            }
            return Ok(());
        };
        let key = (fid.clone(), tid.clone());
        let mut status = status.clone();
        status["agent_id"] = json!({"value": agent_id});
        if status.get("timestamp").is_none() {
            status["timestamp"] = json!(secs(now_ms));
        }
        if let Some(task) = self.tasks.get_mut(&key) {
            let newly_terminal = is_terminal(&state) && !is_terminal(&task.state);
            // A duplicate (resent) update does not change history twice.
            let dup = uuid.is_some()
                && task
                    .statuses
                    .iter()
                    .any(|s| s.get("uuid").and_then(Value::as_str) == uuid.as_deref());
            if !dup {
                // A late, older update (resent before a re-registration reported the end)
                // never moves a task out of a terminal state.
                if !is_terminal(&task.state) {
                    task.state = state.clone();
                }
                let mut entry = json!({"state": state, "timestamp": status["timestamp"]});
                if let Some(u) = &uuid {
                    entry["uuid"] = json!(u);
                }
                if let Some(cs) = status.get("container_status") {
                    entry["container_status"] = cs.clone();
                }
                if let Some(h) = status.get("healthy") {
                    entry["healthy"] = h.clone();
                }
                task.statuses.push(entry);
                if newly_terminal {
                    task.released = true;
                    *self
                        .counters
                        .tasks_by_terminal_state
                        .entry(state.clone())
                        .or_default() += 1;
                }
            }
        }
        self.send_to_framework(&fid, update_event(status), fx);
        // Updates without uuid need no acknowledgement: a terminal one completes the task now.
        if uuid.is_none() && is_terminal(&state) {
            if let Some(t) = self.tasks.remove(&key) {
                self.complete_task(t);
            }
        }
        Ok(())
    }

    /// An agent's stream closed.
    pub fn agent_disconnected(
        &mut self,
        now_ms: u64,
        agent_id: &str,
        conn: u64,
        fx: &mut Vec<Effect>,
    ) {
        let Some(agent) = self.agents.get_mut(agent_id) else {
            return;
        };
        if agent.conn != AgentConn::Connected(conn) {
            return;
        }
        agent.conn = AgentConn::Disconnected;
        agent.since_ms = now_ms;
        self.rescind_offers_on(agent_id, fx);
    }

    /// Marks an agent unreachable: offers rescinded, tasks reported lost or unreachable.
    fn agent_unreachable(&mut self, now_ms: u64, agent_id: &str, why: &str, fx: &mut Vec<Effect>) {
        let Some(agent) = self.agents.remove(agent_id) else {
            return;
        };
        // The registry records it before anyone is told (the Persist goes in front).
        let first = fx.len();
        self.counters.agent_removals += 1;
        if let AgentConn::Connected(conn) = agent.conn {
            fx.push(Effect::CloseAgent { conn });
        }
        self.rescind_offers_on(agent_id, fx);
        let keys: Vec<(String, String)> = self
            .tasks
            .iter()
            .filter(|(_, t)| t.agent_id == agent_id)
            .map(|(k, _)| k.clone())
            .collect();
        for k in keys {
            let task = self.tasks.get(&k).expect("present").clone();
            if is_terminal(&task.state) {
                // Its agent will not deliver the acknowledgement anymore.
                let t = self.tasks.remove(&k).expect("present");
                self.complete_task(t);
                continue;
            }
            let pa = self.frameworks.get(&k.0).is_some_and(|f| f.partition_aware);
            let message = format!(
                "Agent {agent_id} ({}) is unreachable: {why}",
                agent.hostname
            );
            if pa {
                let mut t = self.tasks.remove(&k).expect("present");
                let st = master_status(
                    &t,
                    "TASK_UNREACHABLE",
                    "REASON_AGENT_REMOVED",
                    &message,
                    now_ms,
                );
                t.state = "TASK_UNREACHABLE".into();
                t.released = true;
                t.statuses
                    .push(json!({"state": "TASK_UNREACHABLE", "timestamp": secs(now_ms)}));
                self.unreachable_tasks.insert(k.clone(), t);
                self.send_to_framework(&k.0, update_event(st), fx);
            } else {
                self.finish_task_on_master(
                    &k,
                    "TASK_LOST",
                    "REASON_AGENT_REMOVED",
                    &message,
                    now_ms,
                    fx,
                );
            }
        }
        let fids: Vec<String> = self.frameworks.keys().cloned().collect();
        for fid in fids {
            self.send_to_framework(
                &fid,
                json!({"type": "FAILURE", "failure": {"agent_id": {"value": agent_id}}}),
                fx,
            );
        }
        self.unreachable
            .insert(agent_id.to_string(), (agent.info, now_ms));
        fx.insert(first, Effect::Persist);
    }

    /// Ends a task with a master-generated state and tells its framework.
    fn finish_task_on_master(
        &mut self,
        key: &(String, String),
        state: &str,
        reason: &str,
        message: &str,
        now_ms: u64,
        fx: &mut Vec<Effect>,
    ) {
        let Some(mut t) = self.tasks.remove(key) else {
            return;
        };
        let st = master_status(&t, state, reason, message, now_ms);
        t.state = state.into();
        t.released = true;
        t.statuses
            .push(json!({"state": state, "timestamp": secs(now_ms)}));
        *self
            .counters
            .tasks_by_terminal_state
            .entry(state.into())
            .or_default() += 1;
        self.complete_task(t);
        self.send_to_framework(&key.0, update_event(st), fx);
    }

    // ---------------------------------------------------------------- offers

    fn remove_offer(&mut self, oid: &str) -> Option<Offer> {
        let o = self.offers.remove(oid)?;
        if let Some(fw) = self.frameworks.get_mut(&o.framework_id) {
            fw.offers.remove(oid);
        }
        Some(o)
    }

    fn rescind(&mut self, oid: &str, fx: &mut Vec<Effect>) {
        if let Some(o) = self.remove_offer(oid) {
            self.counters.offers_rescinded += 1;
            self.send_to_framework(
                &o.framework_id,
                json!({"type": "RESCIND", "rescind": {"offer_id": {"value": oid}}}),
                fx,
            );
        }
    }

    /// What an agent has that is neither used by live tasks nor offered.
    pub fn available(&self, agent_id: &str) -> Resources {
        let Some(a) = self.agents.get(agent_id) else {
            return Resources::new();
        };
        let mut left = a.total.clone();
        for t in self
            .tasks
            .values()
            .filter(|t| t.agent_id == agent_id && !t.released)
        {
            left = left.saturating_minus(&t.resources);
        }
        for o in self.offers.values().filter(|o| o.agent_id == agent_id) {
            left = left.saturating_minus(&o.resources);
        }
        left
    }

    /// The resources of the live (not yet released) tasks that `pick` selects.
    fn task_resources(&self, pick: impl Fn(&Task) -> bool) -> Resources {
        self.tasks
            .values()
            .filter(|t| !t.released && pick(t))
            .fold(Resources::new(), |acc, t| acc.plus(&t.resources))
    }

    /// The resources of the outstanding offers that `pick` selects.
    fn offer_resources(&self, pick: impl Fn(&Offer) -> bool) -> Resources {
        self.offers
            .values()
            .filter(|o| pick(o))
            .fold(Resources::new(), |acc, o| acc.plus(&o.resources))
    }

    /// Rescinds every outstanding offer of an agent.
    fn rescind_offers_on(&mut self, agent_id: &str, fx: &mut Vec<Effect>) {
        let ids: Vec<String> = self
            .offers
            .values()
            .filter(|o| o.agent_id == agent_id)
            .map(|o| o.id.clone())
            .collect();
        for o in ids {
            self.rescind(&o, fx);
        }
    }

    /// Resources of live tasks on an agent.
    pub fn used(&self, agent_id: &str) -> Resources {
        self.task_resources(|t| t.agent_id == agent_id)
    }

    pub fn offered(&self, agent_id: &str) -> Resources {
        self.offer_resources(|o| o.agent_id == agent_id)
    }

    /// Resources a framework holds in live tasks.
    pub fn framework_used(&self, fid: &str) -> Resources {
        self.task_resources(|t| t.framework_id == fid)
    }

    pub fn framework_offered(&self, fid: &str) -> Resources {
        self.offer_resources(|o| o.framework_id == fid)
    }

    fn offerable(&self, a: &Agent) -> bool {
        matches!(a.conn, AgentConn::Connected(_)) && !self.down_machines.contains(&a.hostname)
    }

    /// One allocation round: DRF over connected, active frameworks and offerable agents.
    pub fn allocate(&mut self, now_ms: u64, fx: &mut Vec<Effect>) {
        let candidates: Vec<Candidate> = self
            .frameworks
            .values()
            .filter(|f| f.active())
            .map(|f| Candidate {
                id: f.id.clone(),
                role: f.role.clone(),
                allocated: self
                    .framework_used(&f.id)
                    .plus(&self.framework_offered(&f.id)),
                suppressed: f.suppressed,
                filters: f.filters.clone(),
            })
            .collect();
        if candidates.is_empty() {
            return;
        }
        let slots: Vec<Slot> = self
            .agents
            .values()
            .map(|a| Slot {
                id: a.id.clone(),
                total: a.total.clone(),
                available: self.available(&a.id),
                offerable: self.offerable(a),
            })
            .collect();
        let grants = allocator::allocate(&candidates, &slots, &self.config.weights, now_ms);
        let mut by_framework: BTreeMap<String, Vec<Value>> = BTreeMap::new();
        for g in grants {
            let oid = format!("{}-O{}", self.info.id, self.next_offer);
            self.next_offer += 1;
            let agent = &self.agents[&g.agent];
            let role = self.frameworks[&g.framework].role.clone();
            let offer_json = json!({
                "id": {"value": oid},
                "framework_id": {"value": g.framework},
                "agent_id": {"value": g.agent},
                "hostname": agent.hostname,
                "url": {"scheme": "http", "address": {"hostname": agent.hostname,
                         "ip": agent_ip(agent), "port": agent.port}, "path": "/slave(1)"},
                "resources": g.resources.to_json(Some(&role)),
                "attributes": agent.attributes,
                "executor_ids": [],
                "allocation_info": {"role": role},
            });
            self.offers.insert(
                oid.clone(),
                Offer {
                    id: oid.clone(),
                    framework_id: g.framework.clone(),
                    agent_id: g.agent.clone(),
                    resources: g.resources,
                    created_ms: now_ms,
                },
            );
            self.frameworks
                .get_mut(&g.framework)
                .expect("candidate")
                .offers
                .insert(oid);
            self.counters.offers_sent += 1;
            by_framework
                .entry(g.framework)
                .or_default()
                .push(offer_json);
        }
        for (fid, offers) in by_framework {
            self.send_to_framework(
                &fid,
                json!({"type": "OFFERS", "offers": {"offers": offers}}),
                fx,
            );
        }
    }

    // ---------------------------------------------------------------- time

    /// Everything that happens with time: heartbeats, pings, timeouts, allocation.
    pub fn tick(&mut self, now_ms: u64, fx: &mut Vec<Effect>) {
        if now_ms.saturating_sub(self.last_heartbeat_ms) >= self.config.heartbeat_interval_ms {
            self.last_heartbeat_ms = now_ms;
            let streams: Vec<String> = self
                .frameworks
                .values()
                .filter_map(|f| f.stream.clone())
                .collect();
            for stream in streams {
                fx.push(Effect::Framework {
                    stream,
                    event: json!({"type": "HEARTBEAT"}),
                });
            }
        }

        if now_ms.saturating_sub(self.last_ping_ms) >= self.config.agent_ping_timeout_ms {
            self.last_ping_ms = now_ms;
            let mut dead = Vec::new();
            for a in self.agents.values_mut() {
                match a.conn {
                    AgentConn::Recovering => continue,
                    AgentConn::Connected(conn) => {
                        if a.awaiting_pong {
                            a.missed_pings += 1;
                        }
                        a.awaiting_pong = true;
                        fx.push(Effect::Agent {
                            conn,
                            event: json!({"type": "PING", "ping": {}}),
                        });
                    }
                    AgentConn::Disconnected => a.missed_pings += 1,
                }
                if a.missed_pings >= self.config.max_agent_ping_timeouts {
                    dead.push(a.id.clone());
                }
            }
            for id in dead {
                let why = format!(
                    "it did not answer {} pings ({} ms apart)",
                    self.config.max_agent_ping_timeouts, self.config.agent_ping_timeout_ms
                );
                self.agent_unreachable(now_ms, &id, &why, fx);
            }
        }

        if let Some(at) = self.recovered_at_ms {
            if now_ms.saturating_sub(at) >= self.config.agent_reregister_timeout_ms {
                self.recovered_at_ms = None;
                let late: Vec<String> = self
                    .agents
                    .values()
                    .filter(|a| a.conn == AgentConn::Recovering)
                    .map(|a| a.id.clone())
                    .collect();
                for id in late {
                    self.agent_unreachable(
                        now_ms,
                        &id,
                        "it did not re-register after the master failed over",
                        fx,
                    );
                }
            }
        }

        if let Some(timeout) = self.config.offer_timeout_ms {
            let old: Vec<String> = self
                .offers
                .values()
                .filter(|o| now_ms.saturating_sub(o.created_ms) >= timeout)
                .map(|o| o.id.clone())
                .collect();
            for o in old {
                self.rescind(&o, fx);
            }
        }

        let expired: Vec<String> = self
            .frameworks
            .values()
            .filter(|f| {
                f.disconnected_at_ms
                    .is_some_and(|at| now_ms.saturating_sub(at) >= f.failover_timeout_ms)
            })
            .map(|f| f.id.clone())
            .collect();
        for fid in expired {
            self.remove_framework(&fid, now_ms, fx);
        }

        if now_ms.saturating_sub(self.last_allocation_ms) >= self.config.allocation_interval_ms {
            self.last_allocation_ms = now_ms;
            self.allocate(now_ms, fx);
        }
    }

    // ---------------------------------------------------------------- maintenance

    /// `POST /master/maintenance/schedule`.
    pub fn set_schedule(
        &mut self,
        schedule: &Value,
        fx: &mut Vec<Effect>,
    ) -> Result<(), CallError> {
        let Some(windows) = schedule.get("windows").and_then(Value::as_array) else {
            return bad_request("A maintenance schedule needs 'windows' (an array)");
        };
        for w in windows {
            let ok = w
                .get("machine_ids")
                .and_then(Value::as_array)
                .is_some_and(|m| {
                    m.iter().all(|id| {
                        str_field(id, "hostname").is_some() || str_field(id, "ip").is_some()
                    })
                });
            if !ok {
                return bad_request("Each window needs 'machine_ids' with a 'hostname' or 'ip'");
            }
            if w.pointer("/unavailability/start/nanoseconds")
                .and_then(Value::as_i64)
                .is_none()
            {
                return bad_request("Each window needs 'unavailability.start.nanoseconds'");
            }
        }
        // Machines that are DOWN must stay in the schedule (Mesos' rule).
        let scheduled = scheduled_hosts(schedule);
        if let Some(h) = self.down_machines.iter().find(|h| !scheduled.contains(*h)) {
            return bad_request(format!(
                "Machine '{h}' is DOWN and must stay in the schedule; bring it up first"
            ));
        }
        self.maintenance_schedule = schedule.clone();
        fx.push(Effect::Persist);
        Ok(())
    }

    /// `POST /master/machine/down`: the machines' agents are drained (every task killed) and
    /// get no offers until `up`.
    pub fn machines_down(
        &mut self,
        machines: &Value,
        fx: &mut Vec<Effect>,
    ) -> Result<(), CallError> {
        let first = fx.len();
        let hosts = machine_hosts(machines)?;
        let scheduled = scheduled_hosts(&self.maintenance_schedule);
        for h in &hosts {
            if !scheduled.contains(h) {
                return bad_request(format!(
                    "Machine '{h}' is not part of a maintenance schedule"
                ));
            }
            if self.down_machines.contains(h) {
                return bad_request(format!("Machine '{h}' is already DOWN"));
            }
        }
        for h in hosts {
            let agents: Vec<String> = self
                .agents
                .values()
                .filter(|a| a.hostname == h)
                .map(|a| a.id.clone())
                .collect();
            self.down_machines.insert(h);
            for aid in agents {
                self.rescind_offers_on(&aid, fx);
                let conn = match self.agents[&aid].conn {
                    AgentConn::Connected(c) => Some(c),
                    _ => None,
                };
                let tasks: Vec<(String, String)> = self
                    .tasks
                    .iter()
                    .filter(|(_, t)| t.agent_id == aid && !is_terminal(&t.state))
                    .map(|(k, _)| k.clone())
                    .collect();
                for (fid, tid) in tasks {
                    if let Some(conn) = conn {
                        fx.push(Effect::Agent {
                            conn,
                            event: kill_task_event(&fid, &tid),
                        });
                    }
                }
            }
        }
        // The DOWN state is recorded before the kills go out.
        fx.insert(first, Effect::Persist);
        Ok(())
    }

    /// `POST /master/machine/up`: the machines leave maintenance (and the schedule).
    pub fn machines_up(&mut self, machines: &Value, fx: &mut Vec<Effect>) -> Result<(), CallError> {
        let hosts = machine_hosts(machines)?;
        for h in &hosts {
            if !self.down_machines.contains(h) {
                return bad_request(format!("Machine '{h}' is not DOWN"));
            }
        }
        for h in &hosts {
            self.down_machines.remove(h);
        }
        if let Some(windows) = self
            .maintenance_schedule
            .get_mut("windows")
            .and_then(Value::as_array_mut)
        {
            for w in windows.iter_mut() {
                if let Some(ids) = w.get_mut("machine_ids").and_then(Value::as_array_mut) {
                    ids.retain(|id| {
                        !str_field(id, "hostname").is_some_and(|n| hosts.iter().any(|h| h == n))
                    });
                }
            }
            windows.retain(|w| w["machine_ids"].as_array().is_some_and(|a| !a.is_empty()));
        }
        fx.push(Effect::Persist);
        Ok(())
    }

    /// DRAINING (scheduled) or DOWN, per hostname, for `/master/maintenance/status`.
    pub fn machine_mode(&self, hostname: &str) -> &'static str {
        if self.down_machines.contains(hostname) {
            "DOWN"
        } else if scheduled_hosts(&self.maintenance_schedule).contains(hostname) {
            "DRAINING"
        } else {
            "UP"
        }
    }
}

fn offer_ids(v: &Value) -> Result<Vec<String>, CallError> {
    let Some(list) = v.get("offer_ids").and_then(Value::as_array) else {
        return bad_request("Expecting 'offer_ids' to be present");
    };
    list.iter()
        .map(|x| {
            id_value(x).ok_or_else(|| CallError {
                status: 400,
                message: "Offer ids must be {\"value\": \"...\"}".into(),
            })
        })
        .collect()
}

/// `filters.refuse_seconds` (default 5 s), in ms.
fn refuse_ms(v: &Value) -> Result<u64, CallError> {
    match v.pointer("/filters/refuse_seconds") {
        None | Some(Value::Null) => Ok(5_000),
        Some(x) => match x.as_f64() {
            Some(s) if s.is_finite() && s >= 0.0 => Ok((s.min(365.0 * 86400.0) * 1000.0) as u64),
            _ => bad_request("'filters.refuse_seconds' must be a non-negative number"),
        },
    }
}

fn launch_tasks(operations: &[Value]) -> Vec<Value> {
    operations
        .iter()
        .filter(|op| str_field(op, "type") == Some("LAUNCH"))
        .flat_map(|op| {
            op.pointer("/launch/task_infos")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
        })
        .collect()
}

fn machine_hosts(v: &Value) -> Result<Vec<String>, CallError> {
    let Some(list) = v.as_array() else {
        return bad_request(
            "Expecting an array of machine ids ([{\"hostname\": ..., \"ip\": ...}])",
        );
    };
    let mut out = Vec::new();
    for m in list {
        match str_field(m, "hostname").or_else(|| str_field(m, "ip")) {
            Some(h) => out.push(h.to_string()),
            None => return bad_request("Each machine id needs a 'hostname' or 'ip'"),
        }
    }
    if out.is_empty() {
        return bad_request("No machines given");
    }
    Ok(out)
}

fn scheduled_hosts(schedule: &Value) -> BTreeSet<String> {
    schedule["windows"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|w| w["machine_ids"].as_array().cloned().unwrap_or_default())
        .filter_map(|id| {
            str_field(&id, "hostname")
                .or_else(|| str_field(&id, "ip"))
                .map(str::to_string)
        })
        .collect()
}

fn agent_ip(a: &Agent) -> String {
    a.pid
        .split_once('@')
        .and_then(|(_, addr)| addr.rsplit_once(':'))
        .map_or_else(|| a.hostname.clone(), |(ip, _)| ip.to_string())
}

fn framework_from_info(id: &str, info: &Value, now_ms: u64) -> Framework {
    let capabilities: Vec<String> = info
        .get("capabilities")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|c| str_field(c, "type").map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let role = info
        .get("roles")
        .and_then(Value::as_array)
        .and_then(|r| r.first())
        .and_then(Value::as_str)
        .or_else(|| str_field(info, "role"))
        .unwrap_or("*")
        .to_string();
    let failover_s = info
        .get("failover_timeout")
        .and_then(Value::as_f64)
        .unwrap_or(0.0);
    Framework {
        id: id.to_string(),
        info: info.clone(),
        name: str_field(info, "name").unwrap_or("").to_string(),
        role,
        failover_timeout_ms: (failover_s.clamp(0.0, 1e9) * 1000.0) as u64,
        partition_aware: capabilities.iter().any(|c| c == "PARTITION_AWARE"),
        stream: None,
        recovered: false,
        registered_time: secs(now_ms),
        reregistered_time: None,
        disconnected_at_ms: None,
        suppressed: false,
        filters: BTreeMap::new(),
        offers: BTreeSet::new(),
        completed_tasks: VecDeque::new(),
        unregistered_time: None,
    }
}

fn agent_from_info(id: &str, info: &Value, conn: AgentConn, now_ms: u64) -> Result<Agent, String> {
    let hostname = str_field(info, "hostname").unwrap_or("").to_string();
    let port = info.get("port").and_then(Value::as_u64).unwrap_or(5051) as u16;
    let total = Resources::from_json(info.get("resources").unwrap_or(&json!([])))
        .map_err(|e| format!("agent_info.resources: {e}"))?;
    Ok(Agent {
        id: id.to_string(),
        info: info.clone(),
        pid: format!("slave(1)@{hostname}:{port}"),
        hostname,
        port,
        total,
        attributes: info.get("attributes").cloned().unwrap_or(json!([])),
        conn,
        since_ms: now_ms,
        missed_pings: 0,
        awaiting_pong: false,
        registered_time: secs(now_ms),
        reregistered_time: None,
        version: String::new(),
        capabilities: json!([]),
        containerizers: vec!["mesos".into()],
    })
}

#[cfg(test)]
#[path = "core_tests.rs"]
mod tests;
