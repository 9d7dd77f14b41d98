//! The operator endpoints' JSON, built from the core without I/O: `/state` (Mesos' agent
//! state shape), `/metrics/snapshot`, `/version`, `/flags`.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use crate::agent::attributes;
use crate::agent::core::{Core, TaskRecord, VERSION};
use crate::agent::task::TaskState;
use crate::resources::Resources;

/// What `/state` needs besides the core.
#[derive(Debug, Clone)]
pub struct StateContext<'a> {
    pub pid: &'a str,
    pub start_time: f64,
    pub flags: &'a [(String, String)],
}

/// A sample of the machine for `/metrics/snapshot`.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemSample {
    pub cpus: u64,
    pub mem_total_bytes: u64,
    pub mem_free_bytes: u64,
    pub load: (f64, f64, f64),
    pub now: f64,
}

pub fn version() -> Value {
    json!({
        "version": VERSION,
        "build_date": "2020-11-24 00:00:00",
        "build_time": 1_606_176_000.0,
        "build_user": "zkrs",
        "git_tag": VERSION,
    })
}

pub fn flags(flags: &[(String, String)]) -> Value {
    let m: Map<String, Value> = flags
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    json!({ "flags": m })
}

fn agent_task(core: &Core, t: &TaskRecord) -> Value {
    let statuses: Vec<Value> = t
        .statuses
        .iter()
        .map(|s| {
            let mut o = json!({"state": s["state"], "timestamp": s["timestamp"]});
            if let Some(c) = s.get("container_status") {
                o["container_status"] = c.clone();
            }
            o
        })
        .collect();
    let mut o = json!({
        "id": t.task_id,
        "name": t.name(),
        "framework_id": t.framework_id,
        "executor_id": "",
        "slave_id": core.agent_id.as_deref().unwrap_or(&t.agent_id),
        "state": t.state.as_str(),
        "resources": t.resources().to_state_object(),
        "role": t.framework_info.get("role").and_then(Value::as_str).unwrap_or("*"),
        "statuses": statuses,
    });
    for field in ["labels", "discovery", "container"] {
        if let Some(v) = t.task_info.get(field) {
            o[field] = v.clone();
        }
    }
    o
}

fn executor_name(t: &TaskRecord) -> String {
    let cmd = t
        .task_info
        .pointer("/command/value")
        .and_then(Value::as_str)
        .unwrap_or("");
    format!(
        "Command Executor (Task: {}) (Command: sh -c '{}')",
        t.task_id, cmd
    )
}

fn executor(core: &Core, t: &TaskRecord, active: bool) -> Value {
    let task = agent_task(core, t);
    let (tasks, completed) = if active {
        (vec![task], vec![])
    } else {
        (vec![], vec![task])
    };
    json!({
        "id": t.task_id,
        "name": executor_name(t),
        "source": t.task_id,
        "container": t.container_id,
        "directory": t.sandbox.display().to_string(),
        "resources": t.resources().to_state_object(),
        "role": t.framework_info.get("role").and_then(Value::as_str).unwrap_or("*"),
        "type": "COMMAND",
        "framework_id": t.framework_id,
        "tasks": tasks,
        "queued_tasks": [],
        "completed_tasks": completed,
    })
}

fn framework(info: &Value, id: &str, executors: Vec<Value>, completed: Vec<Value>) -> Value {
    let get = |k: &str, d: Value| info.get(k).cloned().unwrap_or(d);
    json!({
        "id": id,
        "name": get("name", json!("")),
        "user": get("user", json!("")),
        "failover_timeout": get("failover_timeout", json!(0.0)),
        "checkpoint": get("checkpoint", json!(false)),
        "hostname": get("hostname", json!("")),
        "role": get("role", json!("*")),
        "capabilities": get("capabilities", json!([])),
        "executors": executors,
        "completed_executors": completed,
    })
}

/// `/state`.
pub fn state(core: &Core, ctx: &StateContext<'_>) -> Value {
    // Framework ID -> (info, active executors, completed executors).
    let mut fws: BTreeMap<&str, (&Value, Vec<Value>, Vec<Value>)> = BTreeMap::new();
    for t in core.tasks() {
        let e = fws
            .entry(t.framework_id.as_str())
            .or_insert((&t.framework_info, vec![], vec![]));
        e.0 = &t.framework_info;
        // A terminal task whose update is unacknowledged still has its executor.
        e.1.push(executor(core, t, true));
    }
    for t in core.completed_tasks() {
        fws.entry(t.framework_id.as_str())
            .or_insert((&t.framework_info, vec![], vec![]))
            .2
            .push(executor(core, t, false));
    }
    let mut frameworks = Vec::new();
    let mut completed_frameworks = Vec::new();
    for (id, (info, active, done)) in fws {
        if active.is_empty() {
            completed_frameworks.push(framework(info, id, active, done));
        } else {
            frameworks.push(framework(info, id, active, done));
        }
    }
    let master_hostname = core
        .master_info
        .as_ref()
        .and_then(|m| m.get("hostname").and_then(Value::as_str))
        .unwrap_or("");
    let mut o = version();
    let extra = json!({
        "start_time": ctx.start_time,
        "id": core.agent_id.as_deref().unwrap_or(""),
        "pid": ctx.pid,
        "hostname": core.cfg.hostname,
        "port": core.cfg.port,
        "capabilities": ["MULTI_ROLE", "HIERARCHICAL_ROLE"],
        "resources": core.cfg.resources.to_state_object(),
        "unreserved_resources": core.cfg.resources.to_state_object(),
        "reserved_resources": {},
        "reserved_resources_full": {},
        "unreserved_resources_full": core.cfg.resources.to_json(None),
        "attributes": attributes::to_state_object(&core.cfg.attributes),
        "master_hostname": master_hostname,
        "flags": flags(ctx.flags)["flags"],
        "frameworks": frameworks,
        "completed_frameworks": completed_frameworks,
    });
    if let (Some(o), Some(extra)) = (o.as_object_mut(), extra.as_object()) {
        for (k, v) in extra {
            o.insert(k.clone(), v.clone());
        }
    }
    o
}

fn percent(used: f64, total: f64) -> f64 {
    if total > 0.0 {
        used / total
    } else {
        0.0
    }
}

/// `/metrics/snapshot`.
pub fn metrics(core: &Core, start_time: f64, sys: &SystemSample) -> Value {
    let count = |s: TaskState| core.tasks().filter(|t| t.state == s).count() as f64;
    let total: &Resources = &core.cfg.resources;
    let used = core.used_resources();
    let live = core.tasks().filter(|t| !t.state.is_terminal()).count() as f64;
    let frameworks: std::collections::BTreeSet<&str> = core
        .tasks()
        .filter(|t| !t.state.is_terminal())
        .map(|t| t.framework_id.as_str())
        .collect();
    let c = &core.counters;
    let mut m = Map::new();
    let mut put = |k: &str, v: f64| {
        m.insert(k.to_string(), json!(v));
    };
    put("slave/registered", if core.registered { 1.0 } else { 0.0 });
    put("slave/uptime_secs", (sys.now - start_time).max(0.0));
    put("slave/tasks_staging", count(TaskState::Staging));
    put("slave/tasks_starting", count(TaskState::Starting));
    put("slave/tasks_running", count(TaskState::Running));
    put("slave/tasks_killing", count(TaskState::Killing));
    put("slave/tasks_finished", c.tasks_finished as f64);
    put("slave/tasks_failed", c.tasks_failed as f64);
    put("slave/tasks_killed", c.tasks_killed as f64);
    put("slave/tasks_lost", c.tasks_lost as f64);
    put("slave/tasks_error", c.tasks_error as f64);
    put("slave/executors_running", live);
    put("slave/executors_registering", 0.0);
    put("slave/executors_terminating", 0.0);
    put(
        "slave/executors_terminated",
        core.completed_tasks().count() as f64,
    );
    put("slave/frameworks_active", frameworks.len() as f64);
    put("slave/valid_status_updates", c.status_updates as f64);
    put("slave/invalid_status_updates", 0.0);
    put("slave/valid_framework_messages", 0.0);
    put("slave/invalid_framework_messages", 0.0);
    put("slave/recovery_errors", 0.0);
    for r in ["cpus", "mem", "disk", "gpus"] {
        let (t, u) = (total.scalar(r), used.scalar(r));
        put(&format!("slave/{r}_total"), t);
        put(&format!("slave/{r}_used"), u);
        put(&format!("slave/{r}_percent"), percent(u, t));
    }
    put("system/cpus_total", sys.cpus as f64);
    put("system/mem_total_bytes", sys.mem_total_bytes as f64);
    put("system/mem_free_bytes", sys.mem_free_bytes as f64);
    put("system/load_1min", sys.load.0);
    put("system/load_5min", sys.load.1);
    put("system/load_15min", sys.load.2);
    Value::Object(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::core::{CoreConfig, ExitOutcome};
    use crate::agent::task::TaskKey;
    use std::path::PathBuf;
    use std::time::{Duration, Instant};

    fn core_with_tasks() -> Core {
        let mut c = Core::new(CoreConfig {
            work_dir: PathBuf::from("/w"),
            hostname: "agent1".into(),
            port: 5051,
            resources: Resources::parse("cpus:4;mem:1024;disk:10;ports:[31000-31010]").unwrap(),
            attributes: attributes::parse("rack:r1;level:2").unwrap(),
            docker: None,
            containerizers: "mesos".into(),
            shutdown_grace: Duration::from_secs(5),
            base_env: vec![],
        });
        let now = Instant::now();
        c.on_registered("A-S0", Some(json!({"hostname": "m1"})), now);
        for t in ["a", "b"] {
            c.on_event(
                &json!({"type": "RUN_TASK", "run_task": {
                    "framework_info": {"id": {"value": "F1"}, "name": "fw", "user": "u"},
                    "task": {"name": t, "task_id": {"value": t}, "command": {"value": "sleep 1"},
                        "resources": [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.5}},
                                      {"name": "mem", "type": "SCALAR", "scalar": {"value": 64}}]}}}),
                now,
                1.0,
            );
        }
        let key = |t: &str| TaskKey {
            framework_id: "F1".into(),
            task_id: t.into(),
        };
        c.on_launched(&key("a"), 10, now, 2.0);
        c.on_launched(&key("b"), 11, now, 2.0);
        c.on_exited(&key("b"), &ExitOutcome::Exited(1), now, 3.0);
        c
    }

    #[test]
    fn state_has_mesos_shape() {
        let c = core_with_tasks();
        let flags = vec![("port".to_string(), "5051".to_string())];
        let s = state(
            &c,
            &StateContext {
                pid: "slave(1)@127.0.0.1:5051",
                start_time: 1.0,
                flags: &flags,
            },
        );
        assert_eq!(s["id"], "A-S0");
        assert_eq!(s["pid"], "slave(1)@127.0.0.1:5051");
        assert_eq!(s["hostname"], "agent1");
        assert_eq!(s["master_hostname"], "m1");
        assert_eq!(s["version"], "1.11.0");
        assert_eq!(s["resources"]["cpus"], 4.0);
        assert_eq!(s["resources"]["ports"], "[31000-31010]");
        assert_eq!(s["attributes"]["rack"], "r1");
        assert_eq!(s["attributes"]["level"], 2.0);
        assert_eq!(s["flags"]["port"], "5051");
        let fw = &s["frameworks"][0];
        assert_eq!(fw["id"], "F1");
        assert_eq!(fw["name"], "fw");
        let ex = &fw["executors"][0];
        assert_eq!(ex["id"], "a");
        assert!(ex["directory"]
            .as_str()
            .unwrap()
            .starts_with("/w/slaves/A-S0/frameworks/F1/executors/a/runs/"));
        assert_eq!(ex["tasks"][0]["state"], "TASK_RUNNING");
        assert_eq!(ex["tasks"][0]["slave_id"], "A-S0");
        assert_eq!(ex["tasks"][0]["resources"]["cpus"], 0.5);
        assert_eq!(fw["executors"][1]["tasks"][0]["state"], "TASK_FAILED");
        assert_eq!(s["completed_frameworks"], json!([]));
    }

    #[test]
    fn metrics_are_real_values() {
        let c = core_with_tasks();
        let sys = SystemSample {
            cpus: 2,
            mem_total_bytes: 100,
            mem_free_bytes: 50,
            load: (0.5, 0.25, 0.125),
            now: 11.0,
        };
        let m = metrics(&c, 1.0, &sys);
        assert_eq!(m["slave/registered"], 1.0);
        assert_eq!(m["slave/tasks_running"], 1.0);
        assert_eq!(m["slave/tasks_failed"], 1.0);
        assert_eq!(m["slave/cpus_total"], 4.0);
        assert_eq!(m["slave/cpus_used"], 0.5);
        assert_eq!(m["slave/mem_used"], 64.0);
        assert_eq!(m["slave/uptime_secs"], 10.0);
        assert_eq!(m["system/load_1min"], 0.5);
        assert_eq!(m["system/cpus_total"], 2.0);
    }
}
