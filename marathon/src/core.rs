//! Marathon's scheduler as a pure state machine: API changes, offers, status updates and ticks
//! in; [`Action`]s out (launch, decline, kill, acknowledge, persist, publish an event).
//!
//! It keeps each app at its `instances`, with tasks of the app's current version:
//! - failed or lost tasks are relaunched after the app's backoff (`backoffSeconds`, times
//!   `backoffFactor` per failure, at most `maxLaunchDelaySeconds`);
//! - placement honours constraints against the app's other tasks;
//! - a changed definition rolls tasks over within the upgrade strategy: at most
//!   `instances * (1 + maximumOverCapacity)` tasks at once, and at least
//!   `instances * minimumHealthCapacity` ready tasks kept while old ones are killed;
//! - scaling down kills the youngest (or oldest, per `killSelection`) first.
//!
//! Time is an argument (ms since the Unix epoch); IDs come from the caller.

use std::collections::{BTreeMap, BTreeSet};

use mesos::resources::Resources;
use serde_json::{json, Value};

use crate::app::App;
use crate::constraints::{self, Placement};
use crate::offer_match::{self, Needs};

/// One task of an app.
#[derive(Debug, Clone, PartialEq)]
pub struct Instance {
    pub task_id: String,
    pub app_id: String,
    pub agent_id: String,
    pub host: String,
    pub placement: Placement,
    /// Host ports, in the order of the app's ports.
    pub ports: Vec<u32>,
    pub state: String,
    pub staged_at_ms: u64,
    pub started_at_ms: Option<u64>,
    /// The app version (config) it runs.
    pub version: String,
    /// None while it has no health verdict (or the app no checks).
    pub healthy: Option<bool>,
    /// `healthCheckResults[]` as the API shows them (one per check).
    pub health_results: Vec<Value>,
    /// A kill was sent.
    pub killing: bool,
    /// When the last kill was sent (kills are re-sent until the task ends).
    pub kill_sent_ms: Option<u64>,
}

impl Instance {
    pub fn running(&self) -> bool {
        self.state == "TASK_RUNNING"
    }

    /// Counts as serving: running, and healthy when the app has health checks.
    pub fn ready(&self, has_checks: bool) -> bool {
        self.running() && !self.killing && (!has_checks || self.healthy == Some(true))
    }
}

/// What the runtime must do.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    Launch {
        offer_id: Value,
        tasks: Vec<Value>,
    },
    Decline {
        offer_ids: Vec<Value>,
        refuse_seconds: f64,
    },
    Kill {
        task_id: String,
        agent_id: String,
    },
    Acknowledge {
        status: Value,
    },
    /// Ask the master for offers again (demand appeared).
    Revive,
    /// The app's definition (or its removal) must be stored.
    PersistApp {
        app_id: String,
    },
    /// An instance record changed (or was removed) and must be stored.
    PersistInstance {
        task_id: String,
    },
    /// A `/v2/events` event.
    Event(Value),
}

/// Launch delay after failures (Marathon's RateLimiter).
#[derive(Debug, Clone, PartialEq)]
pub struct Backoff {
    pub delay_seconds: f64,
    pub until_ms: u64,
}

/// A running deployment: one per app at a time.
#[derive(Debug, Clone, PartialEq)]
pub struct Deployment {
    pub id: String,
    pub app_id: String,
    /// StartApplication, ScaleApplication, RestartApplication, StopApplication.
    pub action: String,
    pub version: String,
    pub started_ms: u64,
}

#[derive(Debug, Default)]
pub struct Scheduler {
    pub apps: BTreeMap<String, App>,
    pub instances: BTreeMap<String, Instance>,
    pub backoff: BTreeMap<String, Backoff>,
    pub last_failure: BTreeMap<String, Value>,
    pub deployments: BTreeMap<String, Deployment>,
    pub framework_id: Option<String>,
    /// Service ports in use (10000-20000).
    pub service_ports: BTreeSet<u32>,
    /// Makes task ids unique within one leader's life (with the time in them, across leaders).
    pub task_seq: u64,
    /// Every stored definition of each app, oldest first: (version, app JSON).
    pub versions: BTreeMap<String, Vec<(String, Value)>>,
}

pub fn iso(ms: u64) -> String {
    let secs = (ms / 1000) as i64;
    let days = secs.div_euclid(86400);
    let rem = secs.rem_euclid(86400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60,
        ms % 1000
    )
}

/// Marathon's task id prefix for an app: `/prod/web` -> `prod_web`.
pub fn task_prefix(app_id: &str) -> String {
    app_id.trim_start_matches('/').replace('/', "_")
}

/// States after which a task is gone for Marathon.
fn is_terminal(state: &str) -> bool {
    mesos::master::core::is_terminal(state) || state == "TASK_UNKNOWN" || state == "TASK_GONE"
}

impl Scheduler {
    pub fn new() -> Scheduler {
        Scheduler::default()
    }

    /// A free service port from 10000-20000.
    pub fn pick_service_port(&mut self) -> Option<u32> {
        let p = (10000..=20000).find(|p| !self.service_ports.contains(p))?;
        self.service_ports.insert(p);
        Some(p)
    }

    pub fn instances_of<'a>(&'a self, app_id: &'a str) -> impl Iterator<Item = &'a Instance> + 'a {
        self.instances.values().filter(move |i| i.app_id == app_id)
    }

    /// Adds or replaces an app (POST, PUT). Returns the deployment id. Service ports are
    /// assigned here.
    pub fn put_app(
        &mut self,
        mut app: App,
        deployment_id: String,
        now_ms: u64,
        out: &mut Vec<Action>,
    ) -> String {
        let old = self.apps.get(&app.id).cloned();
        let action = match &old {
            None => "StartApplication",
            Some(o) if o.config_differs(&app) => "RestartApplication",
            Some(_) => "ScaleApplication",
        };
        if let Some(o) = &old {
            // Keep the service ports it had; give new ones to new zero ports.
            for p in o.service_ports() {
                self.service_ports.insert(p);
            }
            // Every change is a new version; only a config change makes tasks old (tasks
            // carry the config version, `versionInfo.lastConfigChangeAt`).
            if o.config_differs(&app) {
                app.last_config_change_at = app.version.clone();
            } else {
                app.last_config_change_at = o.last_config_change_at.clone();
            }
            if o.instances != app.instances {
                app.last_scaling_at = iso(now_ms);
            }
        }
        // Ports the app names itself are taken too, so no other app is given them.
        for p in app.service_ports().into_iter().filter(|p| *p != 0) {
            self.service_ports.insert(p);
        }
        let mut ports = std::mem::take(&mut self.service_ports);
        app.assign_service_ports(|| {
            let p = (10000..=20000).find(|p| !ports.contains(p))?;
            ports.insert(p);
            Some(p)
        });
        self.service_ports = ports;
        let id = app.id.clone();
        let version = app.version.clone();
        self.apps.insert(id.clone(), app);
        self.backoff.remove(&id);
        self.deployments.insert(
            id.clone(),
            Deployment {
                id: deployment_id.clone(),
                app_id: id.clone(),
                action: action.to_string(),
                version,
                started_ms: now_ms,
            },
        );
        self.record_version(&id);
        out.push(Action::PersistApp { app_id: id.clone() });
        out.push(Action::Event(json!({
            "eventType": "deployment_info", "timestamp": iso(now_ms),
            "plan": {"id": deployment_id, "version": iso(now_ms)},
            "currentStep": {"actions": [{"action": action, "app": id}]},
        })));
        out.push(Action::Revive);
        self.step(now_ms, out);
        deployment_id
    }

    /// `POST /v2/apps/{id}/restart`: the same definition under a new version, so every task
    /// is replaced within the upgrade strategy. None when the app does not exist.
    pub fn restart_app(
        &mut self,
        app_id: &str,
        deployment_id: String,
        now_ms: u64,
        out: &mut Vec<Action>,
    ) -> Option<String> {
        let app = self.apps.get_mut(app_id)?;
        app.version = iso(now_ms);
        app.last_config_change_at = iso(now_ms);
        let version = app.version.clone();
        self.deployments.insert(
            app_id.to_string(),
            Deployment {
                id: deployment_id.clone(),
                app_id: app_id.to_string(),
                action: "RestartApplication".into(),
                version,
                started_ms: now_ms,
            },
        );
        self.record_version(app_id);
        out.push(Action::PersistApp {
            app_id: app_id.to_string(),
        });
        out.push(Action::Revive);
        self.step(now_ms, out);
        Some(deployment_id)
    }

    /// Whether the app `dep` (or every app under the group `dep`) is fully deployed and ready.
    pub fn dependency_ready(&self, dep: &str) -> bool {
        let prefix = format!("{}/", dep.trim_end_matches('/'));
        self.apps
            .values()
            .filter(|a| a.id == dep || a.id.starts_with(&prefix))
            .all(|a| {
                let checks = !a.health_checks.is_empty();
                let ready = self
                    .instances_of(&a.id)
                    .filter(|i| i.version == a.last_config_change_at && i.ready(checks))
                    .count();
                ready >= a.instances as usize
            })
    }

    /// Records the app's current definition among its versions.
    fn record_version(&mut self, app_id: &str) {
        if let Some(app) = self.apps.get(app_id) {
            let list = self.versions.entry(app_id.to_string()).or_default();
            if list.last().is_none_or(|(v, _)| *v != app.version) {
                list.push((app.version.clone(), app.to_json()));
            }
        }
    }

    /// `DELETE /v2/deployments/{id}`: the deployment stops (a `deployment_failed` event).
    /// With `rollback`, the app goes back to the definition it had before (an app the
    /// deployment created is removed); that is a new deployment, whose id is returned.
    /// None when there is no such deployment.
    pub fn cancel_deployment(
        &mut self,
        id: &str,
        rollback: bool,
        new_deployment: String,
        now_ms: u64,
        out: &mut Vec<Action>,
    ) -> Option<Option<String>> {
        let d = self.deployments.values().find(|d| d.id == id)?.clone();
        // A group's apps share one deployment: cancel (and roll back) each of them.
        let others: Vec<String> = self
            .deployments
            .values()
            .filter(|x| x.id == id && x.app_id != d.app_id)
            .map(|x| x.app_id.clone())
            .collect();
        self.deployments.remove(&d.app_id);
        for app_id in others {
            if let Some(x) = self.deployments.get(&app_id).cloned() {
                let mut sub = Vec::new();
                let _ = self.cancel_deployment(
                    &x.id,
                    rollback,
                    new_deployment.clone(),
                    now_ms,
                    &mut sub,
                );
                out.extend(sub.into_iter().filter(|a| !matches!(a, Action::Event(_))));
            }
        }
        out.push(Action::Event(json!({
            "eventType": "deployment_failed", "timestamp": iso(now_ms),
            "id": d.id, "plan": {"id": d.id, "version": d.version},
        })));
        if !rollback || d.action == "StopApplication" {
            return Some(None);
        }
        if d.action == "StartApplication" {
            self.delete_app(&d.app_id, new_deployment.clone(), now_ms, out);
            return Some(Some(new_deployment));
        }
        let previous = self.versions.get(&d.app_id).and_then(|l| {
            let at = l.iter().position(|(v, _)| *v == d.version)?;
            at.checked_sub(1).map(|i| l[i].1.clone())
        });
        let Some(previous) = previous else {
            return Some(None);
        };
        match crate::app::parse(&previous, "/", &iso(now_ms)) {
            Ok(app) => Some(Some(self.put_app(app, new_deployment, now_ms, out))),
            Err(_) => Some(None),
        }
    }

    /// Removes an app and kills its tasks.
    pub fn delete_app(
        &mut self,
        app_id: &str,
        deployment_id: String,
        now_ms: u64,
        out: &mut Vec<Action>,
    ) -> bool {
        let Some(app) = self.apps.remove(app_id) else {
            return false;
        };
        for p in app.service_ports() {
            self.service_ports.remove(&p);
        }
        self.backoff.remove(app_id);
        self.versions.remove(app_id);
        self.deployments.insert(
            app_id.to_string(),
            Deployment {
                id: deployment_id,
                app_id: app_id.to_string(),
                action: "StopApplication".into(),
                version: app.version.clone(),
                started_ms: now_ms,
            },
        );
        let ids: Vec<String> = self
            .instances_of(app_id)
            .map(|i| i.task_id.clone())
            .collect();
        for t in ids {
            self.kill(&t, out);
        }
        out.push(Action::PersistApp {
            app_id: app_id.to_string(),
        });
        self.step(now_ms, out);
        true
    }

    /// Kills one task (optionally scaling the app down by one).
    pub fn kill_task(
        &mut self,
        task_id: &str,
        scale: bool,
        now_ms: u64,
        out: &mut Vec<Action>,
    ) -> bool {
        let Some(app_id) = self.instances.get(task_id).map(|i| i.app_id.clone()) else {
            return false;
        };
        if scale {
            if let Some(app) = self.apps.get_mut(&app_id) {
                app.instances = app.instances.saturating_sub(1);
                app.last_scaling_at = iso(now_ms);
                out.push(Action::PersistApp {
                    app_id: app_id.clone(),
                });
            }
        }
        self.kill(task_id, out);
        true
    }

    fn kill(&mut self, task_id: &str, out: &mut Vec<Action>) {
        if let Some(i) = self.instances.get_mut(task_id) {
            if !i.killing {
                i.killing = true;
                i.kill_sent_ms = None;
                out.push(Action::Kill {
                    task_id: i.task_id.clone(),
                    agent_id: i.agent_id.clone(),
                });
                out.push(Action::PersistInstance {
                    task_id: task_id.to_string(),
                });
            }
        }
    }

    /// Time-driven chores: kills that got no answer are sent again (every 10 s), and a task
    /// stuck in staging longer than `task_launch_timeout_ms` is killed (and so replaced).
    pub fn housekeeping(
        &mut self,
        now_ms: u64,
        task_launch_timeout_ms: u64,
        out: &mut Vec<Action>,
    ) {
        let stuck: Vec<String> = self
            .instances
            .values()
            .filter(|i| !i.killing && i.state == "TASK_STAGING")
            .filter(|i| now_ms.saturating_sub(i.staged_at_ms) > task_launch_timeout_ms)
            .map(|i| i.task_id.clone())
            .collect();
        for t in stuck {
            self.kill(&t, out);
        }
        for i in self.instances.values_mut().filter(|i| i.killing) {
            match i.kill_sent_ms {
                None => i.kill_sent_ms = Some(now_ms),
                Some(at) if now_ms.saturating_sub(at) >= 10_000 => {
                    i.kill_sent_ms = Some(now_ms);
                    out.push(Action::Kill {
                        task_id: i.task_id.clone(),
                        agent_id: i.agent_id.clone(),
                    });
                }
                Some(_) => {}
            }
        }
    }

    /// Forgets every task record (the framework was removed: Mesos killed its tasks).
    pub fn forget_instances(&mut self, out: &mut Vec<Action>) {
        let ids: Vec<String> = self.instances.keys().cloned().collect();
        self.instances.clear();
        for task_id in ids {
            out.push(Action::PersistInstance { task_id });
        }
    }

    /// How many more tasks of `app` to launch now (0 while backing off).
    pub fn launch_demand(&self, app: &App, now_ms: u64) -> u32 {
        if self
            .backoff
            .get(&app.id)
            .is_some_and(|b| b.until_ms > now_ms)
        {
            return 0;
        }
        // Dependencies first: an app waits until every app it depends on (or every app in a
        // group it depends on) has all its tasks of the current version ready.
        let deploying = self
            .deployments
            .get(&app.id)
            .is_some_and(|d| d.action != "ScaleApplication");
        if deploying && !app.dependencies.iter().all(|d| self.dependency_ready(d)) {
            return 0;
        }
        let live: Vec<&Instance> = self.instances_of(&app.id).filter(|i| !i.killing).collect();
        let new = live
            .iter()
            .filter(|i| i.version == app.last_config_change_at)
            .count() as u32;
        let total = live.len() as u32;
        let mut max_total =
            app.instances + (f64::from(app.instances) * app.maximum_over_capacity).floor() as u32;
        // As Marathon: when the healthy minimum equals the capacity, allow one task over it,
        // or a rollout could neither start a new task nor stop an old one.
        let min_ready = (f64::from(app.instances) * app.minimum_health_capacity).ceil() as u32;
        if max_total <= min_ready {
            max_total = min_ready + 1;
        }
        let want_new = app.instances.saturating_sub(new);
        want_new.min(max_total.saturating_sub(total))
    }

    /// Offers in: launches where apps need tasks and constraints allow, the rest declined.
    pub fn offers(&mut self, now_ms: u64, offers: &[Value], out: &mut Vec<Action>) {
        let mut unused = Vec::new();
        let app_ids: Vec<String> = self.apps.keys().cloned().collect();
        for offer in offers {
            let mut left = Resources::from_json(&offer["resources"]).unwrap_or_default();
            let placement = Placement::from_offer(offer);
            let agent_id = offer["agent_id"]["value"]
                .as_str()
                .unwrap_or("")
                .to_string();
            let host = offer["hostname"].as_str().unwrap_or("").to_string();
            let mut tasks = Vec::new();
            for app_id in &app_ids {
                let app = self.apps[app_id].clone();
                let demand = self.launch_demand(&app, now_ms);
                if demand == 0 {
                    continue;
                }
                let Ok(cons) = constraints::parse(&app.constraints) else {
                    continue;
                };
                let needs = needs_of(&app);
                for _ in 0..demand {
                    let others: Vec<Placement> = self
                        .instances_of(app_id)
                        .filter(|i| !i.killing)
                        .map(|i| i.placement.clone())
                        .collect();
                    if !constraints::satisfied(&cons, &placement, &others) {
                        break;
                    }
                    let Some(m) = offer_match::match_many(&needs, &left, 1).into_iter().next()
                    else {
                        break;
                    };
                    left = left.saturating_minus(&m.resources);
                    self.task_seq += 1;
                    let task_id = format!(
                        "{}.{}",
                        task_prefix(app_id),
                        uuid_like(now_ms, self.task_seq)
                    );
                    let info = task_info(
                        &app,
                        &task_id,
                        &agent_id,
                        &host,
                        &m.resources,
                        &m.host_ports,
                    );
                    self.instances.insert(
                        task_id.clone(),
                        Instance {
                            task_id: task_id.clone(),
                            app_id: app_id.clone(),
                            agent_id: agent_id.clone(),
                            host: host.clone(),
                            placement: placement.clone(),
                            ports: m.host_ports.clone(),
                            state: "TASK_STAGING".into(),
                            staged_at_ms: now_ms,
                            started_at_ms: None,
                            version: app.last_config_change_at.clone(),
                            healthy: None,
                            health_results: Vec::new(),
                            killing: false,
                            kill_sent_ms: None,
                        },
                    );
                    out.push(Action::PersistInstance { task_id });
                    tasks.push(info);
                }
            }
            if tasks.is_empty() {
                unused.push(offer["id"].clone());
            } else {
                out.push(Action::Launch {
                    offer_id: offer["id"].clone(),
                    tasks,
                });
            }
        }
        if !unused.is_empty() {
            out.push(Action::Decline {
                offer_ids: unused,
                refuse_seconds: 5.0,
            });
        }
    }

    /// A status update from the master.
    pub fn status_update(&mut self, now_ms: u64, status: &Value, out: &mut Vec<Action>) {
        let task_id = status["task_id"]["value"]
            .as_str()
            .unwrap_or("")
            .to_string();
        let state = status["state"].as_str().unwrap_or("").to_string();
        let Some(inst) = self.instances.get_mut(&task_id) else {
            // Not ours (any more): if it is alive somewhere, it must go.
            if !is_terminal(&state) {
                if let Some(agent) = status["agent_id"]["value"].as_str() {
                    out.push(Action::Kill {
                        task_id,
                        agent_id: agent.to_string(),
                    });
                }
            }
            out.push(Action::Acknowledge {
                status: status.clone(),
            });
            return;
        };
        let app_id = inst.app_id.clone();
        let version = inst.version.clone();
        let host = inst.host.clone();
        let ports = inst.ports.clone();
        let agent_id = inst.agent_id.clone();
        inst.state = state.clone();
        if inst.killing && !is_terminal(&state) && state != "TASK_UNREACHABLE" {
            // Still alive though we killed it (the kill may have been lost): again.
            out.push(Action::Kill {
                task_id: task_id.clone(),
                agent_id: agent_id.clone(),
            });
        }
        if state == "TASK_RUNNING" && inst.started_at_ms.is_none() {
            inst.started_at_ms = Some(now_ms);
        }
        out.push(Action::Event(json!({
            "eventType": "status_update_event", "timestamp": iso(now_ms),
            "slaveId": agent_id, "taskId": task_id, "taskStatus": state,
            "message": status["message"].as_str().unwrap_or(""),
            "appId": app_id, "host": host, "ports": ports, "ipAddresses": [], "version": version,
        })));
        if is_terminal(&state) || state == "TASK_UNREACHABLE" {
            let inst = self.instances.remove(&task_id).expect("present");
            out.push(Action::PersistInstance {
                task_id: task_id.clone(),
            });
            // Marathon's rate limiter counts every end it did not ask for, a clean exit
            // included (an app whose command returns must not be relaunched in a tight
            // loop); only failures are `lastTaskFailure`.
            let failed = !inst.killing && state != "TASK_FINISHED";
            let limit_worthy = !inst.killing;
            if failed {
                self.last_failure.insert(
                    app_id.clone(),
                    json!({
                        "appId": app_id, "host": inst.host, "message": status["message"].as_str().unwrap_or(""),
                        "state": state, "taskId": task_id, "timestamp": iso(now_ms), "version": inst.version,
                        "slaveId": inst.agent_id,
                    }),
                );
            }
            if limit_worthy {
                if let Some(app) = self.apps.get(&app_id) {
                    // A delay from long ago (past the maximum delay since it ran out) is
                    // forgotten, as Marathon's overdue delays are.
                    let max_ms = (app.max_launch_delay_seconds * 1000.0) as u64;
                    let prev = self
                        .backoff
                        .get(&app_id)
                        .filter(|b| b.until_ms.saturating_add(max_ms) > now_ms)
                        .map(|b| b.delay_seconds);
                    let delay = match prev {
                        None => app.backoff_seconds,
                        Some(d) => (d * app.backoff_factor).min(app.max_launch_delay_seconds),
                    };
                    self.backoff.insert(
                        app_id.clone(),
                        Backoff {
                            delay_seconds: delay,
                            until_ms: now_ms + (delay * 1000.0) as u64,
                        },
                    );
                }
            }
            out.push(Action::Revive);
        } else {
            out.push(Action::PersistInstance { task_id });
        }
        // Acknowledged only after the record change (persisted in order before it).
        out.push(Action::Acknowledge {
            status: status.clone(),
        });
        self.step(now_ms, out);
    }

    /// A health verdict for a task (from the health checker), with its results for the API.
    pub fn health(
        &mut self,
        now_ms: u64,
        task_id: &str,
        verdict: (bool, bool),
        results: Vec<Value>,
        out: &mut Vec<Action>,
    ) {
        let (healthy, kill) = verdict;
        let Some(i) = self.instances.get_mut(task_id) else {
            return;
        };
        i.health_results = results;
        if i.healthy != Some(healthy) {
            i.healthy = Some(healthy);
            out.push(Action::Event(json!({
                "eventType": "health_status_changed_event", "timestamp": iso(now_ms),
                "appId": i.app_id, "taskId": task_id, "instanceId": task_id, "version": i.version,
                "alive": healthy,
            })));
        }
        if kill {
            let app_id = i.app_id.clone();
            out.push(Action::Event(json!({
                "eventType": "unhealthy_task_kill_event", "timestamp": iso(now_ms),
                "appId": app_id, "taskId": task_id, "version": i.version,
                "reason": "health check failed", "host": i.host, "slaveId": i.agent_id,
            })));
            self.kill(task_id, out);
        }
        self.step(now_ms, out);
    }

    /// Rolling work and deployment bookkeeping: kills old-version or surplus tasks within the
    /// upgrade strategy, finishes deployments whose apps reached their target.
    pub fn step(&mut self, now_ms: u64, out: &mut Vec<Action>) {
        let app_ids: Vec<String> = self.apps.keys().cloned().collect();
        for app_id in &app_ids {
            let app = self.apps[app_id].clone();
            let checks = !app.health_checks.is_empty();
            let live: Vec<Instance> = self
                .instances_of(app_id)
                .filter(|i| !i.killing)
                .cloned()
                .collect();
            let (new, old): (Vec<Instance>, Vec<Instance>) = live
                .into_iter()
                .partition(|i| i.version == app.last_config_change_at);
            // Old versions: keep enough ready tasks for minimumHealthCapacity.
            let min_ready =
                (f64::from(app.instances) * app.minimum_health_capacity).ceil() as usize;
            let mut ready = new
                .iter()
                .chain(old.iter())
                .filter(|i| i.ready(checks))
                .count();
            // Tasks that do not serve go first, then the youngest.
            let mut old_sorted = old.clone();
            old_sorted.sort_by_key(|i| (i.ready(checks), std::cmp::Reverse(i.staged_at_ms)));
            for i in &old_sorted {
                let counts = i.ready(checks);
                if counts && ready <= min_ready {
                    break;
                }
                if counts {
                    ready -= 1;
                }
                self.kill(&i.task_id, out);
            }
            // Surplus of the current version: scale down.
            let surplus = new.len().saturating_sub(app.instances as usize);
            if surplus > 0 {
                let mut victims = new.clone();
                // Not yet running first, then by kill selection.
                victims.sort_by_key(|i| (i.running(), i.staged_at_ms));
                if app.kill_selection == "YOUNGEST_FIRST" {
                    victims.sort_by_key(|i| (i.running(), std::cmp::Reverse(i.staged_at_ms)));
                }
                for i in victims.iter().take(surplus) {
                    self.kill(&i.task_id, out);
                }
            }
        }
        // Tasks of apps that no longer exist (their removal was lost, or their stored
        // definition unreadable) must not run on.
        let orphans: Vec<String> = self
            .instances
            .values()
            .filter(|i| !i.killing && !self.apps.contains_key(&i.app_id))
            .map(|i| i.task_id.clone())
            .collect();
        for t in orphans {
            self.kill(&t, out);
        }
        // Deployments end when their apps are at target.
        let done: Vec<String> = self
            .deployments
            .values()
            .filter(|d| match self.apps.get(&d.app_id) {
                None => self.instances_of(&d.app_id).next().is_none(),
                Some(app) => {
                    let checks = !app.health_checks.is_empty();
                    let insts: Vec<&Instance> = self.instances_of(&d.app_id).collect();
                    insts.len() == app.instances as usize
                        && insts
                            .iter()
                            .all(|i| i.version == app.last_config_change_at && i.ready(checks))
                }
            })
            .map(|d| d.app_id.clone())
            .collect();
        for app_id in done {
            let d = self.deployments.remove(&app_id).expect("present");
            out.push(Action::Event(json!({
                "eventType": "deployment_success", "timestamp": iso(now_ms),
                "id": d.id, "plan": {"id": d.id, "version": d.version},
            })));
        }
    }
}

/// A task id suffix shaped like a UUID (Marathon's task ids are `<app>.<uuid>`), made from the
/// time and a counter so that it is unique and the core stays deterministic.
fn uuid_like(now_ms: u64, seq: u64) -> String {
    format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        (now_ms >> 16) as u32,
        (now_ms & 0xffff) as u16,
        (seq >> 12) & 0xfff,
        seq & 0xfff,
        seq
    )
}

pub fn needs_of(app: &App) -> Needs {
    match app.container.as_ref().map(crate::app::port_mappings) {
        // A non-zero hostPort in a docker mapping is fixed whatever `requirePorts` says.
        Some(m) if !m.is_empty() => Needs {
            cpus: app.cpus,
            mem: app.mem,
            disk: app.disk,
            gpus: f64::from(app.gpus),
            ports: m
                .iter()
                .map(|x| x.get("hostPort").and_then(Value::as_u64).unwrap_or(0) as u32)
                .collect(),
            require_ports: true,
        },
        _ => Needs {
            cpus: app.cpus,
            mem: app.mem,
            disk: app.disk,
            gpus: f64::from(app.gpus),
            ports: app.port_definitions.iter().map(|p| p.port).collect(),
            require_ports: app.require_ports,
        },
    }
}

/// The TaskInfo for one instance.
pub fn task_info(
    app: &App,
    task_id: &str,
    agent_id: &str,
    host: &str,
    resources: &Resources,
    host_ports: &[u32],
) -> Value {
    let mut env: Vec<Value> = app
        .env
        .iter()
        .filter_map(|(k, v)| v.as_str().map(|s| json!({"name": k, "value": s})))
        .collect();
    env.push(json!({"name": "MARATHON_APP_ID", "value": app.id}));
    env.push(json!({"name": "MARATHON_APP_VERSION", "value": app.version}));
    env.push(json!({"name": "MESOS_TASK_ID", "value": task_id}));
    env.push(json!({"name": "HOST", "value": host}));
    for (i, p) in host_ports.iter().enumerate() {
        env.push(json!({"name": format!("PORT{i}"), "value": p.to_string()}));
    }
    if let Some(p) = host_ports.first() {
        env.push(json!({"name": "PORT", "value": p.to_string()}));
    }
    if !host_ports.is_empty() {
        let list: Vec<String> = host_ports.iter().map(u32::to_string).collect();
        env.push(json!({"name": "PORTS", "value": list.join(",")}));
    }
    for (k, v) in &app.labels {
        let key: String = k
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_uppercase()
                } else {
                    '_'
                }
            })
            .collect();
        env.push(json!({"name": format!("MARATHON_APP_LABEL_{key}"), "value": v}));
    }
    let mut command = json!({
        "shell": app.cmd.is_some(),
        "environment": {"variables": env},
        "uris": app.fetch.iter().map(|f| json!({"value": f["uri"], "extract": f["extract"],
            "executable": f["executable"], "cache": f["cache"]})).collect::<Vec<_>>(),
    });
    if let Some(c) = &app.cmd {
        command["value"] = json!(c);
    } else if let Some(first) = app.args.as_ref().and_then(|a| a.first()) {
        // Mesos' arguments include argv[0].
        command["value"] = json!(first);
        command["arguments"] = json!(app.args);
    }
    if let Some(u) = &app.user {
        command["user"] = json!(u);
    }
    let labels: Vec<Value> = app
        .labels
        .iter()
        .map(|(k, v)| json!({"key": k, "value": v}))
        .collect();
    let mut t = json!({
        "name": task_prefix(&app.id),
        "task_id": {"value": task_id},
        "agent_id": {"value": agent_id},
        "resources": resources.to_json(None),
        "command": command,
        "labels": {"labels": labels},
    });
    if let Some(g) = app.task_kill_grace_period_seconds {
        t["kill_policy"] = json!({"grace_period": {"nanoseconds": (g * 1e9) as i64}});
    }
    if let Some(c) = &app.container {
        if c["type"] == "DOCKER" {
            let mappings: Vec<Value> = crate::app::port_mappings(c)
                .iter()
                .zip(host_ports.iter())
                .map(|(m, hp)| {
                    json!({"host_port": hp, "container_port": m["containerPort"],
                    "protocol": m["protocol"]})
                })
                .collect();
            let network = c
                .pointer("/docker/network")
                .and_then(Value::as_str)
                .unwrap_or(if mappings.is_empty() {
                    "HOST"
                } else {
                    "BRIDGE"
                });
            t["container"] = json!({
                "type": "DOCKER",
                "docker": {"image": c["docker"]["image"], "network": network,
                    "port_mappings": mappings,
                    "privileged": c["docker"]["privileged"],
                    "force_pull_image": c["docker"]["forcePullImage"],
                    "parameters": c["docker"]["parameters"]},
                "volumes": c["volumes"],
            });
        }
    }
    t
}

#[cfg(test)]
#[path = "core_tests.rs"]
mod tests;
