//! Scenario tests of the Marathon scheduler core.

use serde_json::{json, Value};

use super::*;
use crate::app;

const T0: u64 = 1_795_000_000_000;

fn app(v: Value, version_ms: u64) -> App {
    app::parse(&v, "/", &iso(version_ms)).unwrap()
}

fn offer(id: &str, agent: &str, host: &str, res: &str) -> Value {
    json!({
        "id": {"value": id},
        "agent_id": {"value": agent},
        "hostname": host,
        "resources": Resources::parse(res).unwrap().to_json(Some("*")),
        "attributes": [],
    })
}

fn launches(out: &[Action]) -> Vec<Value> {
    out.iter()
        .filter_map(|a| match a {
            Action::Launch { tasks, .. } => Some(tasks.clone()),
            _ => None,
        })
        .flatten()
        .collect()
}

fn kills(out: &[Action]) -> Vec<String> {
    out.iter()
        .filter_map(|a| match a {
            Action::Kill { task_id, .. } => Some(task_id.clone()),
            _ => None,
        })
        .collect()
}

fn status(task: &str, agent: &str, state: &str) -> Value {
    json!({"task_id": {"value": task}, "agent_id": {"value": agent}, "state": state,
           "uuid": "dXVpZA==", "message": ""})
}

fn run_all(s: &mut Scheduler, now: u64) {
    let ids: Vec<(String, String)> = s
        .instances
        .values()
        .filter(|i| i.state == "TASK_STAGING")
        .map(|i| (i.task_id.clone(), i.agent_id.clone()))
        .collect();
    for (t, a) in ids {
        let mut out = Vec::new();
        s.status_update(now, &status(&t, &a, "TASK_RUNNING"), &mut out);
    }
}

#[test]
fn basic_0_launches_runs_and_completes_its_deployment() {
    let mut s = Scheduler::new();
    let mut out = Vec::new();
    let a = app(
        json!({"id": "basic-0", "cmd": "echo hi; sleep 100", "cpus": 0.1, "mem": 10}),
        T0,
    );
    s.put_app(a, "d1".into(), T0, &mut out);
    assert!(out.contains(&Action::PersistApp {
        app_id: "/basic-0".into()
    }));
    assert!(out.contains(&Action::Revive));
    assert_eq!(
        s.apps["/basic-0"].port_definitions[0].port, 10000,
        "a service port"
    );

    let mut out = Vec::new();
    s.offers(
        T0 + 10,
        &[offer(
            "o1",
            "a1",
            "h1",
            "cpus:1;mem:512;ports:[31000-31010]",
        )],
        &mut out,
    );
    let l = launches(&out);
    assert_eq!(l.len(), 1);
    let t = &l[0];
    assert!(t["task_id"]["value"]
        .as_str()
        .unwrap()
        .starts_with("basic-0."));
    assert_eq!(t["command"]["value"], "echo hi; sleep 100");
    assert_eq!(t["command"]["shell"], true);
    let res = Resources::from_json(&t["resources"]).unwrap();
    assert_eq!(res.scalar("cpus"), 0.1);
    assert_eq!(res.scalar("mem"), 10.0);
    assert_eq!(res.range_count("ports"), 1);
    let vars = t["command"]["environment"]["variables"].as_array().unwrap();
    assert!(vars
        .iter()
        .any(|v| v["name"] == "MARATHON_APP_ID" && v["value"] == "/basic-0"));
    assert!(vars.iter().any(|v| v["name"] == "PORT0"));
    assert_eq!(s.deployments.len(), 1);

    // A second offer: nothing more to launch.
    let mut out = Vec::new();
    s.offers(
        T0 + 20,
        &[offer("o2", "a1", "h1", "cpus:1;mem:512")],
        &mut out,
    );
    assert!(launches(&out).is_empty());
    assert!(matches!(out.last(), Some(Action::Decline { .. })));

    run_all(&mut s, T0 + 30);
    assert!(s.deployments.is_empty(), "done when the task runs");
    let i = s.instances.values().next().unwrap();
    assert_eq!(i.started_at_ms, Some(T0 + 30));
}

#[test]
fn failed_tasks_are_relaunched_with_backoff() {
    let mut s = Scheduler::new();
    let mut out = Vec::new();
    s.put_app(
        app(
            json!({"id": "crash", "cmd": "exit 1", "cpus": 0.1, "mem": 16,
        "backoffSeconds": 2, "backoffFactor": 2, "maxLaunchDelaySeconds": 5}),
            T0,
        ),
        "d".into(),
        T0,
        &mut out,
    );
    let o = || [offer("o", "a1", "h1", "cpus:1;mem:512;ports:[31000-31010]")];
    let mut delays = Vec::new();
    let mut now = T0;
    for round in 0..4 {
        let mut out = Vec::new();
        s.offers(now, &o(), &mut out);
        let l = launches(&out);
        assert_eq!(l.len(), 1, "round {round}");
        let tid = l[0]["task_id"]["value"].as_str().unwrap().to_string();
        let mut out = Vec::new();
        s.status_update(now + 1, &status(&tid, "a1", "TASK_FAILED"), &mut out);
        assert!(s.instances.is_empty());
        let b = s.backoff["/crash"].clone();
        delays.push(b.delay_seconds);
        // Not before the delay...
        let mut out = Vec::new();
        s.offers(b.until_ms - 1, &o(), &mut out);
        assert!(
            launches(&out).is_empty(),
            "round {round}: launched during backoff"
        );
        now = b.until_ms;
    }
    assert_eq!(delays, vec![2.0, 4.0, 5.0, 5.0]);
    assert_eq!(s.last_failure["/crash"]["state"], "TASK_FAILED");
}

#[test]
fn unique_hostname_places_at_most_one_per_host() {
    let mut s = Scheduler::new();
    let mut out = Vec::new();
    s.put_app(
        app(
            json!({"id": "u", "cmd": "sleep 100", "cpus": 0.1, "mem": 16, "instances": 3,
        "constraints": [["hostname", "UNIQUE"]]}),
            T0,
        ),
        "d".into(),
        T0,
        &mut out,
    );
    let offers = [
        offer("o1", "a1", "h1", "cpus:4;mem:4096;ports:[31000-31100]"),
        offer("o2", "a2", "h2", "cpus:4;mem:4096;ports:[31000-31100]"),
    ];
    let mut out = Vec::new();
    s.offers(T0 + 1, &offers, &mut out);
    assert_eq!(launches(&out).len(), 2);
    let mut out = Vec::new();
    s.offers(T0 + 2, &offers, &mut out);
    assert!(launches(&out).is_empty(), "a third host is needed");
    let hosts: std::collections::BTreeSet<&str> =
        s.instances.values().map(|i| i.host.as_str()).collect();
    assert_eq!(hosts.len(), 2);
}

#[test]
fn scale_down_kills_the_youngest() {
    let mut s = Scheduler::new();
    let mut out = Vec::new();
    let a = app(
        json!({"id": "w", "cmd": "sleep 100", "cpus": 0.1, "mem": 16, "instances": 3}),
        T0,
    );
    s.put_app(a.clone(), "d".into(), T0, &mut out);
    for k in 0..3 {
        let mut out = Vec::new();
        s.offers(
            T0 + 10 * (k + 1),
            &[offer("o", "a1", "h1", "cpus:1;mem:512;ports:[31000-31100]")],
            &mut out,
        );
    }
    assert_eq!(s.instances.len(), 3);
    run_all(&mut s, T0 + 100);
    let youngest: Vec<String> = {
        let mut v: Vec<&Instance> = s.instances.values().collect();
        v.sort_by_key(|i| std::cmp::Reverse(i.staged_at_ms));
        v.iter().take(2).map(|i| i.task_id.clone()).collect()
    };
    let _ = a;
    let mut scaled = s.apps["/w"].clone();
    scaled.instances = 1;
    let mut out = Vec::new();
    s.put_app(scaled, "d2".into(), T0 + 200, &mut out);
    let mut k = kills(&out);
    k.sort();
    let mut y = youngest.clone();
    y.sort();
    assert_eq!(k, y);
    assert_eq!(s.deployments["/w"].action, "ScaleApplication");
    for t in youngest {
        let mut out = Vec::new();
        s.status_update(T0 + 300, &status(&t, "a1", "TASK_KILLED"), &mut out);
    }
    assert!(s.deployments.is_empty());
    assert!(s.backoff.is_empty(), "kills we asked for are not failures");
}

#[test]
fn a_config_change_rolls_within_the_upgrade_strategy() {
    let mut s = Scheduler::new();
    let mut out = Vec::new();
    let v1 = app(
        json!({"id": "r", "cmd": "sleep 100", "cpus": 0.1, "mem": 16, "instances": 2,
        "upgradeStrategy": {"minimumHealthCapacity": 0.5, "maximumOverCapacity": 0.5}}),
        T0,
    );
    s.put_app(v1.clone(), "d".into(), T0, &mut out);
    let big = || {
        [offer(
            "o",
            "a1",
            "h1",
            "cpus:8;mem:8192;ports:[31000-31100]",
        )]
    };
    let mut out = Vec::new();
    s.offers(T0 + 1, &big(), &mut out);
    run_all(&mut s, T0 + 2);
    assert_eq!(s.instances.len(), 2);

    let v2 = v1
        .patched(&json!({"cmd": "sleep 200"}), &iso(T0 + 1000))
        .unwrap();
    let mut out = Vec::new();
    s.put_app(v2, "d2".into(), T0 + 1000, &mut out);
    assert_eq!(s.deployments["/r"].action, "RestartApplication");
    // minimumHealthCapacity 0.5 of 2: one old task may go at once.
    assert_eq!(kills(&out).len(), 1);
    // maximumOverCapacity 0.5 of 2: at most 3 tasks at once.
    let mut out = Vec::new();
    s.offers(T0 + 1001, &big(), &mut out);
    let l = launches(&out);
    let live = s.instances.values().filter(|i| !i.killing).count();
    assert!(live <= 3, "{live} live tasks");
    assert!(!l.is_empty());
    // Run everything new, end the killed ones; finally only new tasks remain.
    for round in 0..6 {
        let now = T0 + 2000 + round * 100;
        run_all(&mut s, now);
        let killing: Vec<(String, String)> = s
            .instances
            .values()
            .filter(|i| i.killing)
            .map(|i| (i.task_id.clone(), i.agent_id.clone()))
            .collect();
        for (t, a) in killing {
            let mut out = Vec::new();
            s.status_update(now + 1, &status(&t, &a, "TASK_KILLED"), &mut out);
        }
        let mut out = Vec::new();
        s.offers(now + 2, &big(), &mut out);
        for i in s.instances.values() {
            assert!(
                s.instances.values().filter(|i| !i.killing).count() <= 3,
                "{i:?}"
            );
        }
    }
    run_all(&mut s, T0 + 5000);
    let versions: Vec<&str> = s.instances.values().map(|i| i.version.as_str()).collect();
    assert_eq!(versions.len(), 2);
    assert!(
        versions.iter().all(|v| *v == iso(T0 + 1000)),
        "{versions:?}"
    );
    assert!(s.deployments.is_empty());
}

#[test]
fn deleting_an_app_kills_its_tasks_and_unknown_tasks_are_killed() {
    let mut s = Scheduler::new();
    let mut out = Vec::new();
    s.put_app(
        app(
            json!({"id": "x", "cmd": "sleep 100", "cpus": 0.1, "mem": 16}),
            T0,
        ),
        "d".into(),
        T0,
        &mut out,
    );
    let mut out = Vec::new();
    s.offers(
        T0 + 1,
        &[offer("o", "a1", "h1", "cpus:1;mem:512;ports:[31000-31010]")],
        &mut out,
    );
    run_all(&mut s, T0 + 2);
    let tid = s.instances.keys().next().unwrap().clone();
    let mut out = Vec::new();
    assert!(s.delete_app("/x", "d2".into(), T0 + 3, &mut out));
    assert_eq!(kills(&out), vec![tid.clone()]);
    assert!(s.service_ports.is_empty(), "its service port is free again");
    let mut out = Vec::new();
    s.status_update(T0 + 4, &status(&tid, "a1", "TASK_KILLED"), &mut out);
    assert!(s.instances.is_empty());
    assert!(s.deployments.is_empty());
    // A running task nobody owns (e.g. found by reconciliation) is killed.
    let mut out = Vec::new();
    s.status_update(T0 + 5, &status("ghost.1", "a1", "TASK_RUNNING"), &mut out);
    assert_eq!(kills(&out), vec!["ghost.1".to_string()]);
    assert!(matches!(out.last(), Some(Action::Acknowledge { .. })));
}

#[test]
fn iso_timestamps() {
    assert_eq!(iso(0), "1970-01-01T00:00:00.000Z");
    assert_eq!(iso(1_795_305_600_123), "2026-11-22T00:00:00.123Z");
    assert_eq!(iso(951_782_400_000), "2000-02-29T00:00:00.000Z");
}

#[test]
fn dependencies_start_first() {
    let mut s = Scheduler::new();
    let mut out = Vec::new();
    s.put_app(
        app(
            json!({"id": "/prod/db", "cmd": "sleep 100", "cpus": 0.1, "mem": 16}),
            T0,
        ),
        "d".into(),
        T0,
        &mut out,
    );
    s.put_app(
        app(
            json!({"id": "/prod/web", "cmd": "sleep 100", "cpus": 0.1, "mem": 16,
        "dependencies": ["db"]}),
            T0,
        ),
        "d".into(),
        T0,
        &mut out,
    );
    assert_eq!(
        s.apps["/prod/web"].dependencies,
        vec!["/prod/db".to_string()]
    );
    let o = || {
        [offer(
            "o",
            "a1",
            "h1",
            "cpus:4;mem:4096;ports:[31000-31100]",
        )]
    };
    let mut out = Vec::new();
    s.offers(T0 + 1, &o(), &mut out);
    let l = launches(&out);
    assert_eq!(l.len(), 1);
    assert!(l[0]["task_id"]["value"]
        .as_str()
        .unwrap()
        .starts_with("prod_db."));
    // db staged but not running: web still waits.
    let mut out = Vec::new();
    s.offers(T0 + 2, &o(), &mut out);
    assert!(launches(&out).is_empty());
    run_all(&mut s, T0 + 3);
    let mut out = Vec::new();
    s.offers(T0 + 4, &o(), &mut out);
    let l = launches(&out);
    assert_eq!(l.len(), 1);
    assert!(l[0]["task_id"]["value"]
        .as_str()
        .unwrap()
        .starts_with("prod_web."));
    // Versions are recorded per app.
    assert_eq!(s.versions["/prod/web"].len(), 1);
}

#[test]
fn deleting_a_deployment_rolls_back_or_just_stops() {
    let mut s = Scheduler::new();
    let mut out = Vec::new();
    let v1 = app(
        json!({"id": "r", "cmd": "sleep 1", "cpus": 0.1, "mem": 16}),
        T0,
    );
    s.put_app(v1.clone(), "d1".into(), T0, &mut out);
    let o = || {
        [offer(
            "o",
            "a1",
            "h1",
            "cpus:4;mem:4096;ports:[31000-31100]",
        )]
    };
    let mut out = Vec::new();
    s.offers(T0 + 1, &o(), &mut out);
    run_all(&mut s, T0 + 2);
    let v2 = s.apps["/r"]
        .patched(&json!({"cmd": "sleep 2"}), &iso(T0 + 10))
        .unwrap();
    let mut out = Vec::new();
    s.put_app(v2, "d2".into(), T0 + 10, &mut out);
    assert_eq!(s.apps["/r"].cmd.as_deref(), Some("sleep 2"));
    // Roll back: the app is back at `sleep 1`, under a new deployment.
    let mut out = Vec::new();
    let r = s.cancel_deployment("d2", true, "d3".into(), T0 + 20, &mut out);
    assert_eq!(r, Some(Some("d3".to_string())));
    assert_eq!(s.apps["/r"].cmd.as_deref(), Some("sleep 1"));
    assert!(out
        .iter()
        .any(|a| matches!(a, Action::Event(e) if e["eventType"] == "deployment_failed")));
    // force: just stop; unknown: None.
    let mut out = Vec::new();
    assert_eq!(
        s.cancel_deployment("d3", false, "d4".into(), T0 + 30, &mut out),
        Some(None)
    );
    assert!(s.deployments.is_empty());
    assert_eq!(
        s.cancel_deployment("nope", true, "d5".into(), T0 + 40, &mut out),
        None
    );
    // Rolling back a creation removes the app.
    let mut out = Vec::new();
    s.put_app(
        app(
            json!({"id": "n", "cmd": "x", "cpus": 0.1, "mem": 16}),
            T0 + 50,
        ),
        "c1".into(),
        T0 + 50,
        &mut out,
    );
    s.cancel_deployment("c1", true, "c2".into(), T0 + 60, &mut out);
    assert!(!s.apps.contains_key("/n"));
}

#[test]
fn finished_tasks_back_off_too_and_old_delays_are_forgotten() {
    let mut s = Scheduler::new();
    let mut out = Vec::new();
    s.put_app(
        app(
            json!({"id": "once", "cmd": "true", "cpus": 0.1, "mem": 16,
        "maxLaunchDelaySeconds": 10}),
            T0,
        ),
        "d".into(),
        T0,
        &mut out,
    );
    let o = || [offer("o", "a1", "h1", "cpus:1;mem:512;ports:[31000-31010]")];
    let mut out = Vec::new();
    s.offers(T0 + 1, &o(), &mut out);
    let tid = launches(&out)[0]["task_id"]["value"]
        .as_str()
        .unwrap()
        .to_string();
    let mut out = Vec::new();
    s.status_update(T0 + 2, &status(&tid, "a1", "TASK_FINISHED"), &mut out);
    assert_eq!(
        s.backoff["/once"].delay_seconds, 1.0,
        "a clean exit is rate-limited too"
    );
    assert!(
        !s.last_failure.contains_key("/once"),
        "but it is not a failure"
    );
    // Long after the delay ran out (more than maxLaunchDelaySeconds), it starts over at 1 s.
    let mut out = Vec::new();
    s.offers(T0 + 5_000, &o(), &mut out);
    let tid = launches(&out)[0]["task_id"]["value"]
        .as_str()
        .unwrap()
        .to_string();
    let mut out = Vec::new();
    s.status_update(T0 + 60_000, &status(&tid, "a1", "TASK_FAILED"), &mut out);
    assert_eq!(s.backoff["/once"].delay_seconds, 1.0);
}

#[test]
fn a_rollout_with_no_room_still_progresses() {
    // minimumHealthCapacity 1 and maximumOverCapacity 0: one task over capacity is allowed.
    let mut s = Scheduler::new();
    let mut out = Vec::new();
    let v1 = app(
        json!({"id": "tight", "cmd": "sleep 100", "cpus": 0.1, "mem": 16, "instances": 1,
        "upgradeStrategy": {"minimumHealthCapacity": 1, "maximumOverCapacity": 0}}),
        T0,
    );
    s.put_app(v1, "d".into(), T0, &mut out);
    let o = || {
        [offer(
            "o",
            "a1",
            "h1",
            "cpus:4;mem:4096;ports:[31000-31100]",
        )]
    };
    let mut out = Vec::new();
    s.offers(T0 + 1, &o(), &mut out);
    run_all(&mut s, T0 + 2);
    let v2 = s.apps["/tight"]
        .patched(&json!({"cmd": "sleep 200"}), &iso(T0 + 10))
        .unwrap();
    let mut out = Vec::new();
    s.put_app(v2, "d2".into(), T0 + 10, &mut out);
    assert!(
        kills(&out).is_empty(),
        "the only ready task stays until its replacement runs"
    );
    let mut out = Vec::new();
    s.offers(T0 + 11, &o(), &mut out);
    assert_eq!(launches(&out).len(), 1, "one over capacity");
    run_all(&mut s, T0 + 12);
    // The replacement runs: now the old one goes.
    let old: Vec<&Instance> = s
        .instances
        .values()
        .filter(|i| i.version != s.apps["/tight"].last_config_change_at)
        .collect();
    assert_eq!(old.len(), 1);
    assert!(old[0].killing);
}

#[test]
fn housekeeping_resends_kills_times_out_staging_and_kills_orphans() {
    let mut s = Scheduler::new();
    let mut out = Vec::new();
    s.put_app(
        app(
            json!({"id": "h", "cmd": "sleep 100", "cpus": 0.1, "mem": 16, "instances": 2}),
            T0,
        ),
        "d".into(),
        T0,
        &mut out,
    );
    let mut out = Vec::new();
    s.offers(
        T0 + 1,
        &[offer(
            "o",
            "a1",
            "h1",
            "cpus:4;mem:4096;ports:[31000-31100]",
        )],
        &mut out,
    );
    let ids: Vec<String> = s.instances.keys().cloned().collect();
    // The first runs, the second stays staging past the launch timeout: it is killed.
    let mut out = Vec::new();
    s.status_update(T0 + 2, &status(&ids[0], "a1", "TASK_RUNNING"), &mut out);
    let mut out = Vec::new();
    s.housekeeping(T0 + 400_000, 300_000, &mut out);
    assert_eq!(kills(&out), vec![ids[1].clone()]);
    // No answer: the kill is sent again after 10 s.
    let mut out = Vec::new();
    s.housekeeping(T0 + 405_000, 300_000, &mut out);
    assert!(kills(&out).is_empty());
    let mut out = Vec::new();
    s.housekeeping(T0 + 411_000, 300_000, &mut out);
    assert_eq!(kills(&out), vec![ids[1].clone()]);
    // A task whose app is gone (a lost removal) is killed by the next step.
    s.apps.remove("/h");
    let mut out = Vec::new();
    s.step(T0 + 412_000, &mut out);
    assert!(kills(&out).contains(&ids[0]));
}

#[test]
fn dependencies_do_not_block_replacing_lost_tasks() {
    let mut s = Scheduler::new();
    let mut out = Vec::new();
    s.put_app(
        app(
            json!({"id": "/p/db", "cmd": "sleep 100", "cpus": 0.1, "mem": 16}),
            T0,
        ),
        "d".into(),
        T0,
        &mut out,
    );
    s.put_app(app(json!({"id": "/p/web", "cmd": "sleep 100", "cpus": 0.1, "mem": 16, "dependencies": ["db"]}), T0), "d".into(), T0, &mut out);
    let o = || {
        [offer(
            "o",
            "a1",
            "h1",
            "cpus:4;mem:4096;ports:[31000-31100]",
        )]
    };
    for k in 0..3 {
        let mut out = Vec::new();
        s.offers(T0 + 1 + k, &o(), &mut out);
        run_all(&mut s, T0 + 2 + k);
    }
    assert!(s.deployments.is_empty());
    // Both tasks die (say, their agent); db backs off, web is replaced at once all the same.
    let ids: Vec<(String, String)> = s
        .instances
        .values()
        .map(|i| (i.task_id.clone(), i.app_id.clone()))
        .collect();
    for (t, _) in &ids {
        let mut out = Vec::new();
        s.status_update(T0 + 100, &status(t, "a1", "TASK_LOST"), &mut out);
    }
    s.backoff.remove("/p/web");
    let mut out = Vec::new();
    s.offers(T0 + 101, &o(), &mut out);
    let l = launches(&out);
    assert!(
        l.iter().any(|t| t["task_id"]["value"]
            .as_str()
            .unwrap()
            .starts_with("p_web.")),
        "{l:?}"
    );
}
