//! The operator endpoints' JSON, in Mesos 1.x's shapes: `/master/state`, `/master/state-summary`,
//! `/master/frameworks`, `/master/slaves`, `/master/tasks`, `/metrics/snapshot`,
//! `/master/maintenance/status`. Pure functions of the master's state.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use super::core::{Agent, AgentConn, Framework, Master, Task};

/// The Mesos release whose APIs we follow (pymesos reads `/version`).
pub const MESOS_VERSION: &str = "1.11.0";

/// What the state endpoints need besides the core.
pub struct Context<'a> {
    pub flags: &'a BTreeMap<String, String>,
    pub cluster: Option<&'a str>,
    /// The leading master's info, when one is known.
    pub leader: Option<Value>,
    /// Whether this master leads.
    pub elected: bool,
}

fn secs(ms: u64) -> f64 {
    ms as f64 / 1000.0
}

pub fn version() -> Value {
    json!({
        "version": MESOS_VERSION,
        "build_date": "2026-11-22 00:00:00",
        "build_time": 1795305600.0,
        "build_user": "zkrs",
        "git_sha": "",
        "git_tag": MESOS_VERSION,
    })
}

pub fn task_json(t: &Task) -> Value {
    let statuses: Vec<Value> = t
        .statuses
        .iter()
        .map(|s| {
            let mut o = json!({"state": s["state"], "timestamp": s["timestamp"]});
            if let Some(cs) = s.get("container_status") {
                o["container_status"] = cs.clone();
            }
            if let Some(h) = s.get("healthy") {
                o["healthy"] = h.clone();
            }
            o
        })
        .collect();
    let mut o = json!({
        "id": t.task_id,
        "name": t.name,
        "framework_id": t.framework_id,
        "executor_id": "",
        "slave_id": t.agent_id,
        "agent_id": t.agent_id,
        "state": t.state,
        "resources": t.resources.to_state_object(),
        "role": "*",
        "statuses": statuses,
    });
    for k in [
        "labels",
        "discovery",
        "container",
        "health_check",
        "kill_policy",
    ] {
        if let Some(v) = t.task_info.get(k) {
            o[k] = v.clone();
        }
    }
    if let Some(h) = t.statuses.last().and_then(|s| s.get("healthy")) {
        o["healthy"] = h.clone();
    }
    o
}

fn offer_json(m: &Master, oid: &str) -> Option<Value> {
    let o = m.offers.get(oid)?;
    Some(json!({
        "id": o.id,
        "framework_id": o.framework_id,
        "slave_id": o.agent_id,
        "resources": o.resources.to_state_object(),
    }))
}

pub fn framework_json(m: &Master, f: &Framework, completed: bool) -> Value {
    let tasks: Vec<Value> = if completed {
        Vec::new()
    } else {
        m.tasks
            .values()
            .filter(|t| t.framework_id == f.id)
            .map(task_json)
            .collect()
    };
    let unreachable: Vec<Value> = m
        .unreachable_tasks
        .values()
        .filter(|t| t.framework_id == f.id)
        .map(task_json)
        .collect();
    let completed_tasks: Vec<Value> = f.completed_tasks.iter().map(task_json).collect();
    let offers: Vec<Value> = f.offers.iter().filter_map(|o| offer_json(m, o)).collect();
    let used = m.framework_used(&f.id);
    let offered = m.framework_offered(&f.id);
    let capabilities: Vec<Value> = f
        .info
        .get("capabilities")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|c| c.get("type").cloned()).collect())
        .unwrap_or_default();
    json!({
        "id": f.id,
        "name": f.name,
        "pid": Value::Null,
        "used_resources": used.to_state_object(),
        "offered_resources": offered.to_state_object(),
        "resources": used.plus(&offered).to_state_object(),
        "allocated_resources": used.to_state_object(),
        "capabilities": capabilities,
        "hostname": f.info.get("hostname").and_then(Value::as_str).unwrap_or(""),
        "webui_url": f.info.get("webui_url").and_then(Value::as_str).unwrap_or(""),
        "active": !completed && f.active(),
        "connected": !completed && f.connected(),
        "recovered": !completed && f.recovered,
        "user": f.info.get("user").and_then(Value::as_str).unwrap_or(""),
        "failover_timeout": secs(f.failover_timeout_ms),
        "checkpoint": f.info.get("checkpoint").and_then(Value::as_bool).unwrap_or(false),
        "role": f.role,
        "roles": [f.role],
        "principal": f.info.get("principal").cloned().unwrap_or(Value::Null),
        "registered_time": f.registered_time,
        "reregistered_time": f.reregistered_time.unwrap_or(f.registered_time),
        "unregistered_time": f.unregistered_time.unwrap_or(0.0),
        "tasks": tasks,
        "unreachable_tasks": unreachable,
        "completed_tasks": completed_tasks,
        "offers": offers,
        "executors": [],
        "completed_executors": [],
    })
}

/// Agent attributes as the operator endpoints show them: `name -> value`.
pub fn attributes_object(attrs: &Value) -> Value {
    let mut o = Map::new();
    for a in attrs.as_array().into_iter().flatten() {
        let Some(name) = a.get("name").and_then(Value::as_str) else {
            continue;
        };
        let v = match a.get("type").and_then(Value::as_str) {
            Some("SCALAR") => a.pointer("/scalar/value").cloned().unwrap_or(Value::Null),
            Some("RANGES") => {
                let parts: Vec<String> = a
                    .pointer("/ranges/range")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .map(|r| format!("{}-{}", r["begin"], r["end"]))
                    .collect();
                json!(format!("[{}]", parts.join(", ")))
            }
            Some("SET") => {
                let items: Vec<String> = a
                    .pointer("/set/item")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(|i| i.as_str().map(str::to_string))
                    .collect();
                json!(format!("{{{}}}", items.join(", ")))
            }
            _ => a.pointer("/text/value").cloned().unwrap_or(Value::Null),
        };
        o.insert(name.to_string(), v);
    }
    Value::Object(o)
}

pub fn agent_json(m: &Master, a: &Agent) -> Value {
    let used = m.used(&a.id);
    let offered = m.offered(&a.id);
    json!({
        "id": a.id,
        "pid": a.pid,
        "hostname": a.hostname,
        "port": a.port,
        "registered_time": a.registered_time,
        "reregistered_time": a.reregistered_time.unwrap_or(a.registered_time),
        "resources": a.total.to_state_object(),
        "used_resources": used.to_state_object(),
        "offered_resources": offered.to_state_object(),
        "reserved_resources": {},
        "unreserved_resources": a.total.to_state_object(),
        "resources_full": a.total.to_json(None),
        "attributes": attributes_object(&a.attributes),
        "active": matches!(a.conn, AgentConn::Connected(_)),
        "deactivated": m.down_machines.contains(&a.hostname),
        "version": a.version,
        "capabilities": a.capabilities.as_array().map(|c| c.iter().filter_map(|x| x.get("type").cloned()).collect::<Vec<_>>()).unwrap_or_default(),
        "drain_info": if m.down_machines.contains(&a.hostname) { json!({"state": "DRAINED"}) } else { Value::Null },
        "containerizers": a.containerizers,
    })
}

fn count_states<'a>(tasks: impl Iterator<Item = &'a Task>) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for s in [
        "TASK_STAGING",
        "TASK_STARTING",
        "TASK_RUNNING",
        "TASK_KILLING",
        "TASK_FINISHED",
        "TASK_KILLED",
        "TASK_FAILED",
        "TASK_LOST",
        "TASK_ERROR",
        "TASK_UNREACHABLE",
    ] {
        out.insert(s.to_string(), 0);
    }
    for t in tasks {
        *out.entry(t.state.clone()).or_default() += 1;
    }
    out
}

pub fn state(m: &Master, ctx: &Context<'_>) -> Value {
    let slaves: Vec<Value> = m.agents.values().map(|a| agent_json(m, a)).collect();
    let frameworks: Vec<Value> = m
        .frameworks
        .values()
        .map(|f| framework_json(m, f, false))
        .collect();
    let completed: Vec<Value> = m
        .completed_frameworks
        .iter()
        .map(|f| framework_json(m, f, true))
        .collect();
    let active = m
        .agents
        .values()
        .filter(|a| matches!(a.conn, AgentConn::Connected(_)))
        .count();
    json!({
        "version": MESOS_VERSION,
        "git_tag": MESOS_VERSION,
        "build_date": version()["build_date"],
        "build_time": version()["build_time"],
        "build_user": "zkrs",
        "start_time": secs(m.start_ms),
        "elected_time": m.elected_ms.map(secs),
        "id": m.info.id,
        "pid": m.info.pid(),
        "hostname": m.info.hostname,
        "activated_slaves": active,
        "deactivated_slaves": m.agents.len() - active,
        "unreachable_slaves": m.unreachable.len(),
        "cluster": ctx.cluster.unwrap_or(""),
        "leader": ctx.leader.as_ref().and_then(|l| l.get("pid").cloned()).unwrap_or(Value::Null),
        "leader_info": ctx.leader.clone().unwrap_or(Value::Null),
        "flags": ctx.flags,
        "slaves": slaves,
        "recovered_slaves": [],
        "frameworks": frameworks,
        "completed_frameworks": completed,
        "orphan_tasks": [],
        "unregistered_frameworks": [],
    })
}

pub fn state_summary(m: &Master, ctx: &Context<'_>) -> Value {
    let slaves: Vec<Value> = m
        .agents
        .values()
        .map(|a| {
            let mut o = agent_json(m, a);
            let tasks = m.tasks.values().filter(|t| t.agent_id == a.id);
            for (k, v) in count_states(tasks) {
                o[k] = json!(v);
            }
            let fids: std::collections::BTreeSet<&str> = m
                .tasks
                .values()
                .filter(|t| t.agent_id == a.id)
                .map(|t| t.framework_id.as_str())
                .collect();
            o["framework_ids"] = json!(fids);
            o
        })
        .collect();
    let frameworks: Vec<Value> = m
        .frameworks
        .values()
        .map(|f| {
            let full = framework_json(m, f, false);
            let mut o = json!({
                "id": f.id, "name": f.name, "pid": Value::Null,
                "used_resources": full["used_resources"], "offered_resources": full["offered_resources"],
                "capabilities": full["capabilities"], "hostname": full["hostname"],
                "webui_url": full["webui_url"], "active": full["active"], "connected": full["connected"],
                "recovered": full["recovered"], "role": f.role,
            });
            let tasks = m.tasks.values().filter(|t| t.framework_id == f.id);
            for (k, v) in count_states(tasks.chain(f.completed_tasks.iter())) {
                o[k] = json!(v);
            }
            let aids: std::collections::BTreeSet<&str> = m
                .tasks
                .values()
                .filter(|t| t.framework_id == f.id)
                .map(|t| t.agent_id.as_str())
                .collect();
            o["slave_ids"] = json!(aids);
            o
        })
        .collect();
    json!({
        "hostname": m.info.hostname,
        "cluster": ctx.cluster.unwrap_or(""),
        "slaves": slaves,
        "frameworks": frameworks,
    })
}

pub fn frameworks(m: &Master, only: Option<&str>) -> Value {
    let frameworks: Vec<Value> = m
        .frameworks
        .values()
        .filter(|f| only.is_none_or(|id| id == f.id))
        .map(|f| framework_json(m, f, false))
        .collect();
    let completed: Vec<Value> = m
        .completed_frameworks
        .iter()
        .filter(|f| only.is_none_or(|id| id == f.id))
        .map(|f| framework_json(m, f, true))
        .collect();
    json!({"frameworks": frameworks, "completed_frameworks": completed, "unregistered_frameworks": []})
}

pub fn slaves(m: &Master, only: Option<&str>) -> Value {
    let slaves: Vec<Value> = m
        .agents
        .values()
        .filter(|a| only.is_none_or(|id| id == a.id))
        .map(|a| agent_json(m, a))
        .collect();
    let unreachable: Vec<Value> = m
        .unreachable
        .iter()
        .map(|(id, (info, ts))| json!({"id": id, "info": info, "timestamp": secs(*ts)}))
        .collect();
    json!({"slaves": slaves, "recovered_slaves": [], "unreachable_slaves": unreachable})
}

/// `/master/tasks?limit=&offset=&order=asc|desc&framework_id=&task_id=`.
pub fn tasks(
    m: &Master,
    limit: usize,
    offset: usize,
    descending: bool,
    framework_id: Option<&str>,
    task_id: Option<&str>,
) -> Value {
    let mut all: Vec<&Task> = m
        .tasks
        .values()
        .chain(m.unreachable_tasks.values())
        .chain(m.frameworks.values().flat_map(|f| f.completed_tasks.iter()))
        .chain(
            m.completed_frameworks
                .iter()
                .flat_map(|f| f.completed_tasks.iter()),
        )
        .filter(|t| framework_id.is_none_or(|f| f == t.framework_id))
        .filter(|t| task_id.is_none_or(|id| id == t.task_id))
        .collect();
    let start = |t: &Task| {
        t.statuses
            .first()
            .and_then(|s| s["timestamp"].as_f64())
            .unwrap_or(0.0)
    };
    all.sort_by(|a, b| {
        start(a)
            .total_cmp(&start(b))
            .then(a.task_id.cmp(&b.task_id))
    });
    if descending {
        all.reverse();
    }
    let page: Vec<Value> = all
        .into_iter()
        .skip(offset)
        .take(limit)
        .map(task_json)
        .collect();
    json!({"tasks": page})
}

/// `/metrics/snapshot` for a master. `system` holds the `system/*` gauges (measured by the
/// runtime: load, cpus, memory).
pub fn metrics(m: &Master, elected: bool, now_ms: u64, system: &BTreeMap<String, f64>) -> Value {
    let mut o = Map::new();
    let mut put = |k: &str, v: f64| {
        o.insert(k.to_string(), json!(v));
    };
    put("master/elected", if elected { 1.0 } else { 0.0 });
    put(
        "master/uptime_secs",
        secs(now_ms.saturating_sub(m.start_ms)),
    );
    let connected = m
        .agents
        .values()
        .filter(|a| matches!(a.conn, AgentConn::Connected(_)))
        .count();
    let down = m
        .agents
        .values()
        .filter(|a| m.down_machines.contains(&a.hostname))
        .count();
    put(
        "master/slaves_active",
        (connected - down.min(connected)) as f64,
    );
    put("master/slaves_inactive", down as f64);
    put("master/slaves_connected", connected as f64);
    put(
        "master/slaves_disconnected",
        (m.agents.len() - connected) as f64,
    );
    put("master/slaves_unreachable", m.unreachable.len() as f64);
    put(
        "master/slave_registrations",
        m.counters.agent_registrations as f64,
    );
    put(
        "master/slave_reregistrations",
        m.counters.agent_reregistrations as f64,
    );
    put("master/slave_removals", m.counters.agent_removals as f64);
    let active_fw = m.frameworks.values().filter(|f| f.active()).count();
    let connected_fw = m.frameworks.values().filter(|f| f.connected()).count();
    put("master/frameworks_active", active_fw as f64);
    put(
        "master/frameworks_inactive",
        (m.frameworks.len() - active_fw) as f64,
    );
    put("master/frameworks_connected", connected_fw as f64);
    put(
        "master/frameworks_disconnected",
        (m.frameworks.len() - connected_fw) as f64,
    );
    put(
        "master/framework_removals",
        m.counters.framework_removals as f64,
    );
    let live = |s: &str| m.tasks.values().filter(|t| t.state == s).count() as f64;
    put("master/tasks_staging", live("TASK_STAGING"));
    put("master/tasks_starting", live("TASK_STARTING"));
    put("master/tasks_running", live("TASK_RUNNING"));
    put("master/tasks_killing", live("TASK_KILLING"));
    put("master/tasks_unreachable", m.unreachable_tasks.len() as f64);
    for (state, key) in [
        ("TASK_FINISHED", "master/tasks_finished"),
        ("TASK_FAILED", "master/tasks_failed"),
        ("TASK_KILLED", "master/tasks_killed"),
        ("TASK_LOST", "master/tasks_lost"),
        ("TASK_ERROR", "master/tasks_error"),
        ("TASK_DROPPED", "master/tasks_dropped"),
        ("TASK_GONE", "master/tasks_gone"),
    ] {
        let n = m
            .counters
            .tasks_by_terminal_state
            .get(state)
            .copied()
            .unwrap_or(0);
        put(key, n as f64);
    }
    put("master/outstanding_offers", m.offers.len() as f64);
    put(
        "master/messages_decline_offers",
        m.counters.offers_declined as f64,
    );
    put(
        "master/messages_accept_offers",
        m.counters.offers_accepted as f64,
    );
    put("master/offers_sent", m.counters.offers_sent as f64);
    put(
        "master/offers_rescinded",
        m.counters.offers_rescinded as f64,
    );
    put("master/valid_framework_to_executor_messages", 0.0);
    put(
        "master/valid_status_updates",
        m.counters.status_updates as f64,
    );
    put(
        "master/messages_status_update",
        m.counters.status_updates as f64,
    );
    put(
        "master/valid_framework_calls",
        m.counters.valid_framework_calls as f64,
    );
    put(
        "master/invalid_framework_calls",
        m.counters.invalid_framework_calls as f64,
    );
    let mut total = crate::resources::Resources::new();
    let mut used = crate::resources::Resources::new();
    for a in m
        .agents
        .values()
        .filter(|a| matches!(a.conn, AgentConn::Connected(_)))
    {
        total = total.plus(&a.total);
        used = used.plus(&m.used(&a.id));
    }
    for r in ["cpus", "mem", "disk", "gpus"] {
        let t = total.scalar(r);
        let u = used.scalar(r);
        put(&format!("master/{r}_total"), t);
        put(&format!("master/{r}_used"), u);
        put(
            &format!("master/{r}_percent"),
            if t > 0.0 { u / t } else { 0.0 },
        );
    }
    for (k, v) in system {
        put(k, *v);
    }
    Value::Object(o)
}

/// `/master/maintenance/status`: DRAINING and DOWN machines.
pub fn maintenance_status(m: &Master) -> Value {
    let mut draining = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for w in m.maintenance_schedule["windows"]
        .as_array()
        .into_iter()
        .flatten()
    {
        for id in w["machine_ids"].as_array().into_iter().flatten() {
            let host = id
                .get("hostname")
                .or_else(|| id.get("ip"))
                .and_then(Value::as_str)
                .unwrap_or("");
            if !m.down_machines.contains(host) && seen.insert(host.to_string()) {
                draining.push(json!({"id": id, "statuses": []}));
            }
        }
    }
    let down: Vec<Value> = m
        .down_machines
        .iter()
        .map(|h| json!({"hostname": h}))
        .collect();
    json!({"draining_machines": draining, "down_machines": down})
}
