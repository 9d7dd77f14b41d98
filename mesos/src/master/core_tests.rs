//! Scenario tests of the master core: one input at a time, asserting the exact effects.

use serde_json::{json, Value};

use super::*;

const T0: u64 = 1_700_000_000_000;

fn master() -> Master {
    let info = MasterInfo {
        id: "M".into(),
        ip: "127.0.0.1".parse().unwrap(),
        port: 5050,
        hostname: "m1".into(),
        version: "1.11.0".into(),
    };
    let config = Config {
        offer_timeout_ms: None,
        agent_ping_timeout_ms: 1_000,
        max_agent_ping_timeouts: 3,
        agent_reregister_timeout_ms: 10_000,
        allocation_interval_ms: 1_000,
        heartbeat_interval_ms: 5_000,
        ..Config::default()
    };
    let mut m = Master::new(info, config, T0);
    m.recover(&Value::Null, T0);
    m
}

fn subscribe(m: &mut Master, stream: &str, extra: Value) -> String {
    let mut info = json!({"user": "u", "name": "fw", "failover_timeout": 10});
    for (k, v) in extra.as_object().unwrap() {
        info[k] = v.clone();
    }
    let mut fx = Vec::new();
    m.subscribe(
        T0,
        stream,
        &json!({"type": "SUBSCRIBE", "subscribe": {"framework_info": info}}),
        &mut fx,
    )
    .unwrap()
}

fn register(
    m: &mut Master,
    conn: u64,
    host: &str,
    resources: &str,
    extra: Value,
) -> (String, Vec<Effect>) {
    let mut reg = json!({
        "agent_info": {"hostname": host, "port": 5051,
                       "resources": crate::resources::Resources::parse(resources).unwrap().to_json(None)},
    });
    for (k, v) in extra.as_object().unwrap() {
        reg[k] = v.clone();
    }
    let mut fx = Vec::new();
    let id = m
        .register_agent(
            T0,
            conn,
            &json!({"type": "REGISTER", "register": reg}),
            &mut fx,
        )
        .unwrap();
    (id, fx)
}

fn framework_events(fx: &[Effect], stream: &str) -> Vec<Value> {
    fx.iter()
        .filter_map(|e| match e {
            Effect::Framework { stream: s, event } if s == stream => Some(event.clone()),
            _ => None,
        })
        .collect()
}

fn agent_events(fx: &[Effect], conn: u64) -> Vec<Value> {
    fx.iter()
        .filter_map(|e| match e {
            Effect::Agent { conn: c, event } if *c == conn => Some(event.clone()),
            _ => None,
        })
        .collect()
}

/// Runs one allocation and returns the offers made to `stream`.
fn offers(m: &mut Master, now: u64, stream: &str) -> Vec<Value> {
    let mut fx = Vec::new();
    m.allocate(now, &mut fx);
    framework_events(&fx, stream)
        .into_iter()
        .flat_map(|e| {
            e["offers"]["offers"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .collect()
}

fn call(m: &mut Master, now: u64, stream: &str, c: Value) -> Result<Vec<Effect>, CallError> {
    let mut fx = Vec::new();
    m.framework_call(now, Some(stream), &c, &mut fx)
        .map(|()| fx)
}

fn launch(fid: &str, offer: &Value, tid: &str, res: &str) -> Value {
    json!({"type": "ACCEPT", "framework_id": {"value": fid}, "accept": {
        "offer_ids": [offer["id"]],
        "operations": [{"type": "LAUNCH", "launch": {"task_infos": [{
            "task_id": {"value": tid}, "name": tid, "agent_id": offer["agent_id"],
            "command": {"value": "sleep 10"},
            "resources": crate::resources::Resources::parse(res).unwrap().to_json(None),
        }]}}],
    }})
}

/// An UPDATE from the agent `at` = (agent id, connection).
fn update(
    m: &mut Master,
    now: u64,
    at: (&str, u64),
    fid: &str,
    tid: &str,
    state: &str,
    uuid: &str,
) -> Vec<Effect> {
    let mut fx = Vec::new();
    m.agent_call(now, at.0, Some(at.1), &json!({"type": "UPDATE", "update": {
        "framework_id": {"value": fid},
        "status": {"task_id": {"value": tid}, "state": state, "uuid": uuid, "source": "SOURCE_EXECUTOR"}}}), &mut fx)
        .unwrap();
    fx
}

#[test]
fn subscribe_persists_before_subscribed() {
    let mut m = master();
    let mut fx = Vec::new();
    let id = m
        .subscribe(T0, "s1", &json!({"type": "SUBSCRIBE", "subscribe": {"framework_info": {"user": "", "name": "x"}}}), &mut fx)
        .unwrap();
    assert_eq!(id, "M-0000");
    assert_eq!(fx[0], Effect::Persist);
    let Effect::Framework { stream, event } = &fx[1] else {
        panic!("{fx:?}")
    };
    assert_eq!(stream, "s1");
    assert_eq!(event["type"], "SUBSCRIBED");
    assert_eq!(event["subscribed"]["framework_id"]["value"], "M-0000");
    assert_eq!(event["subscribed"]["heartbeat_interval_seconds"], 5.0);
    assert_eq!(
        m.registry()["frameworks"][0]["info"]["id"]["value"],
        "M-0000"
    );

    // Re-subscription on a new stream fails the old one over.
    let mut fx = Vec::new();
    m.subscribe(
        T0,
        "s2",
        &json!({"type": "SUBSCRIBE", "framework_id": {"value": id},
        "subscribe": {"framework_info": {"user": "", "name": "x", "id": {"value": "M-0000"}}}}),
        &mut fx,
    )
    .unwrap();
    assert_eq!(framework_events(&fx, "s1")[0]["type"], "ERROR");
    assert!(fx.contains(&Effect::CloseFramework {
        stream: "s1".into()
    }));
    assert_eq!(m.frameworks[&id].stream.as_deref(), Some("s2"));
}

#[test]
fn malformed_and_unsubscribed_calls_are_refused() {
    let mut m = master();
    let mut fx = Vec::new();
    let e = m
        .subscribe(T0, "s", &json!({"type": "SUBSCRIBE"}), &mut fx)
        .unwrap_err();
    assert_eq!(e.status, 400);
    let e = m
        .subscribe(
            T0,
            "s",
            &json!({"type": "SUBSCRIBE", "subscribe": {"framework_info": {"user": "u"}}}),
            &mut fx,
        )
        .unwrap_err();
    assert!(e.message.contains("name"), "{e:?}");
    let fid = subscribe(&mut m, "s", json!({}));
    let decline =
        json!({"type": "DECLINE", "framework_id": {"value": fid}, "decline": {"offer_ids": []}});
    assert_eq!(
        m.framework_call(T0, None, &decline, &mut fx)
            .unwrap_err()
            .status,
        400
    );
    let e = m
        .framework_call(T0, Some("other"), &decline, &mut fx)
        .unwrap_err();
    assert!(e.message.contains("didn't match"), "{e:?}");
    let unknown = json!({"type": "REVIVE", "framework_id": {"value": "nope"}});
    let e = m
        .framework_call(T0, Some("s"), &unknown, &mut fx)
        .unwrap_err();
    assert_eq!(
        (e.status, e.message.as_str()),
        (400, "Framework nope cannot be found")
    );
    // Known but not connected: 403.
    m.framework_disconnected(T0, "s");
    let revive = json!({"type": "REVIVE", "framework_id": {"value": fid}});
    let e = m
        .framework_call(T0, Some("s"), &revive, &mut fx)
        .unwrap_err();
    assert_eq!(e.status, 403);
    let mut fx = Vec::new();
    m.subscribe(
        T0,
        "s",
        &json!({"type": "SUBSCRIBE", "framework_id": {"value": fid},
        "subscribe": {"framework_info": {"user": "u", "name": "fw", "id": {"value": fid}}}}),
        &mut fx,
    )
    .unwrap();
    let e = call(
        &mut m,
        T0,
        "s",
        json!({"type": "FROB", "framework_id": {"value": fid}}),
    )
    .unwrap_err();
    assert!(e.message.contains("Unknown call type"));
    let e = call(
        &mut m,
        T0,
        "s",
        json!({"type": "KILL", "framework_id": {"value": fid}}),
    )
    .unwrap_err();
    assert_eq!(e.status, 400);
    assert_eq!(m.counters.invalid_framework_calls, 8);
}

#[test]
fn offer_launch_update_acknowledge() {
    let mut m = master();
    let fid = subscribe(&mut m, "s", json!({}));
    let (aid, fx) = register(
        &mut m,
        7,
        "host-a",
        "cpus:2;mem:1024;ports:[31000-31010]",
        json!({}),
    );
    assert_eq!(aid, "M-S0");
    assert_eq!(fx[0], Effect::Persist);
    assert_eq!(agent_events(&fx, 7)[0]["type"], "REGISTERED");

    let offers1 = offers(&mut m, T0 + 1000, "s");
    assert_eq!(offers1.len(), 1);
    let offer = &offers1[0];
    assert_eq!(offer["agent_id"]["value"], aid);
    assert_eq!(offer["hostname"], "host-a");
    let offered = crate::resources::Resources::from_json(&offer["resources"]).unwrap();
    assert_eq!(offered.scalar("cpus"), 2.0);
    assert_eq!(offered.ranges("ports"), &[(31000, 31010)]);
    // Nothing left to offer while the offer is outstanding.
    assert!(offers(&mut m, T0 + 2000, "s").is_empty());

    let fx = call(
        &mut m,
        T0 + 2000,
        "s",
        launch(&fid, offer, "t1", "cpus:0.5;mem:128;ports:[31005-31005]"),
    )
    .unwrap();
    let run = agent_events(&fx, 7);
    assert_eq!(run[0]["type"], "RUN_TASK");
    assert_eq!(run[0]["run_task"]["task"]["task_id"]["value"], "t1");
    assert_eq!(run[0]["run_task"]["framework_info"]["id"]["value"], fid);
    assert_eq!(m.tasks[&(fid.clone(), "t1".into())].state, "TASK_STAGING");
    let left = m.available(&aid);
    assert_eq!(left.scalar("cpus"), 1.5);
    assert_eq!(left.ranges("ports"), &[(31000, 31004), (31006, 31010)]);
    // The rest is filtered for this framework for the default 5 s, then offered again.
    assert!(offers(&mut m, T0 + 3000, "s").is_empty());
    assert_eq!(offers(&mut m, T0 + 7000, "s").len(), 1);

    let fx = update(
        &mut m,
        T0 + 3000,
        (&aid, 7),
        &fid,
        "t1",
        "TASK_RUNNING",
        "u1",
    );
    let ev = framework_events(&fx, "s");
    assert_eq!(ev[0]["type"], "UPDATE");
    assert_eq!(ev[0]["update"]["status"]["state"], "TASK_RUNNING");
    assert_eq!(ev[0]["update"]["status"]["agent_id"]["value"], aid);
    assert_eq!(ev[0]["update"]["status"]["uuid"], "u1");
    // A resent duplicate is forwarded again (the framework may have missed it) but is one status.
    update(
        &mut m,
        T0 + 3500,
        (&aid, 7),
        &fid,
        "t1",
        "TASK_RUNNING",
        "u1",
    );
    assert_eq!(m.tasks[&(fid.clone(), "t1".into())].statuses.len(), 2);

    let ack = json!({"type": "ACKNOWLEDGE", "framework_id": {"value": fid}, "acknowledge": {
        "agent_id": {"value": aid}, "task_id": {"value": "t1"}, "uuid": "u1"}});
    let fx = call(&mut m, T0 + 4000, "s", ack).unwrap();
    assert_eq!(agent_events(&fx, 7)[0]["acknowledge"]["uuid"], "u1");

    update(
        &mut m,
        T0 + 5000,
        (&aid, 7),
        &fid,
        "t1",
        "TASK_FINISHED",
        "u2",
    );
    assert!(
        m.tasks[&(fid.clone(), "t1".into())].released,
        "terminal frees the resources at once"
    );
    // The other 1.5 cpus are in the outstanding offer; the task's 0.5 are free again.
    assert_eq!(m.available(&aid).scalar("cpus"), 0.5);
    assert_eq!(m.counters.tasks_by_terminal_state["TASK_FINISHED"], 1);
    let ack = json!({"type": "ACKNOWLEDGE", "framework_id": {"value": fid}, "acknowledge": {
        "agent_id": {"value": aid}, "task_id": {"value": "t1"}, "uuid": "u2"}});
    call(&mut m, T0 + 6000, "s", ack).unwrap();
    assert!(m.tasks.is_empty());
    assert_eq!(m.frameworks[&fid].completed_tasks[0].state, "TASK_FINISHED");
}

#[test]
fn invalid_launches_are_reported() {
    let mut m = master();
    let fid = subscribe(&mut m, "s", json!({}));
    register(&mut m, 1, "h", "cpus:1;mem:256", json!({}));
    let offer = offers(&mut m, T0 + 1000, "s").remove(0);
    // Too big, duplicate-free but over the offer.
    let fx = call(
        &mut m,
        T0 + 1000,
        "s",
        launch(&fid, &offer, "big", "cpus:4;mem:64"),
    )
    .unwrap();
    let ev = framework_events(&fx, "s");
    assert_eq!(ev[0]["update"]["status"]["state"], "TASK_ERROR");
    assert_eq!(ev[0]["update"]["status"]["reason"], "REASON_TASK_INVALID");
    assert!(ev[0]["update"]["status"]["message"]
        .as_str()
        .unwrap()
        .contains("more resources"));
    // The offer is gone now: launching on it again is an invalid offer.
    let fx = call(
        &mut m,
        T0 + 1000,
        "s",
        launch(&fid, &offer, "t2", "cpus:0.1;mem:32"),
    )
    .unwrap();
    let ev = framework_events(&fx, "s");
    assert_eq!(ev[0]["update"]["status"]["state"], "TASK_LOST");
    assert_eq!(ev[0]["update"]["status"]["reason"], "REASON_INVALID_OFFERS");
    assert!(m.tasks.is_empty());
}

#[test]
fn decline_filters_until_revive_and_suppress_stops_offers() {
    let mut m = master();
    let fid = subscribe(&mut m, "s", json!({}));
    register(&mut m, 1, "h", "cpus:1;mem:256", json!({}));
    let offer = offers(&mut m, T0 + 1000, "s").remove(0);
    call(
        &mut m,
        T0 + 1000,
        "s",
        json!({"type": "DECLINE", "framework_id": {"value": fid},
        "decline": {"offer_ids": [offer["id"]], "filters": {"refuse_seconds": 60}}}),
    )
    .unwrap();
    assert!(offers(&mut m, T0 + 30_000, "s").is_empty());
    call(
        &mut m,
        T0 + 30_000,
        "s",
        json!({"type": "REVIVE", "framework_id": {"value": fid}}),
    )
    .unwrap();
    let o = offers(&mut m, T0 + 31_000, "s");
    assert_eq!(o.len(), 1);
    call(
        &mut m,
        T0 + 31_000,
        "s",
        json!({"type": "DECLINE", "framework_id": {"value": fid},
        "decline": {"offer_ids": [o[0]["id"]], "filters": {"refuse_seconds": 0}}}),
    )
    .unwrap();
    call(
        &mut m,
        T0 + 31_000,
        "s",
        json!({"type": "SUPPRESS", "framework_id": {"value": fid}}),
    )
    .unwrap();
    assert!(offers(&mut m, T0 + 40_000, "s").is_empty());
    assert_eq!(m.counters.offers_declined, 2);
}

#[test]
fn two_frameworks_share_by_drf() {
    let mut m = master();
    let a = subscribe(&mut m, "sa", json!({"name": "a"}));
    let b = subscribe(&mut m, "sb", json!({"name": "b"}));
    register(&mut m, 1, "h1", "cpus:1;mem:1024", json!({}));
    register(&mut m, 2, "h2", "cpus:1;mem:1024", json!({}));
    let mut fx = Vec::new();
    m.allocate(T0 + 1000, &mut fx);
    let to_a = framework_events(&fx, "sa").len();
    let to_b = framework_events(&fx, "sb").len();
    assert_eq!((to_a, to_b), (1, 1), "each framework gets one agent");
    assert_eq!(m.framework_offered(&a).scalar("cpus"), 1.0);
    assert_eq!(m.framework_offered(&b).scalar("cpus"), 1.0);
}

#[test]
fn ping_timeouts_make_an_agent_unreachable() {
    let mut m = master();
    let plain = subscribe(&mut m, "s1", json!({"name": "plain"}));
    let pa = subscribe(
        &mut m,
        "s2",
        json!({"name": "pa", "capabilities": [{"type": "PARTITION_AWARE"}]}),
    );
    let (aid, _) = register(&mut m, 9, "h", "cpus:2;mem:512", json!({}));
    let mut fx = Vec::new();
    m.allocate(T0 + 1000, &mut fx);
    // Launch one task for each framework from whichever offer each got: re-offer both ways.
    for (fid, stream) in [(&plain, "s1"), (&pa, "s2")] {
        let o: Vec<Value> = framework_events(&fx, stream)
            .into_iter()
            .flat_map(|e| {
                e["offers"]["offers"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
            })
            .collect();
        if let Some(offer) = o.first() {
            call(
                &mut m,
                T0 + 1000,
                stream,
                launch(fid, offer, &format!("t-{stream}"), "cpus:0.5;mem:64"),
            )
            .unwrap();
        }
    }
    let mut fx = Vec::new();
    m.allocate(T0 + 7000, &mut fx);
    for (fid, stream) in [(&plain, "s1"), (&pa, "s2")] {
        let o: Vec<Value> = framework_events(&fx, stream)
            .into_iter()
            .flat_map(|e| {
                e["offers"]["offers"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
            })
            .collect();
        if let Some(offer) = o.first() {
            if !m
                .tasks
                .contains_key(&(fid.to_string(), format!("t-{stream}")))
            {
                call(
                    &mut m,
                    T0 + 7000,
                    stream,
                    launch(fid, offer, &format!("t-{stream}"), "cpus:0.5;mem:64"),
                )
                .unwrap();
            }
        }
    }
    assert_eq!(m.tasks.len(), 2, "{:?}", m.tasks.keys().collect::<Vec<_>>());

    // Pings at 1 s intervals; the agent never answers: after 3 missed, unreachable.
    let mut all = Vec::new();
    for s in 1..=5 {
        let mut fx = Vec::new();
        m.tick(T0 + 7000 + s * 1000, &mut fx);
        all.extend(fx);
    }
    assert!(m.unreachable.contains_key(&aid));
    assert!(!m.agents.contains_key(&aid));
    let plain_ev = framework_events(&all, "s1");
    let lost = plain_ev.iter().find(|e| e["type"] == "UPDATE").unwrap();
    assert_eq!(lost["update"]["status"]["state"], "TASK_LOST");
    assert_eq!(lost["update"]["status"]["reason"], "REASON_AGENT_REMOVED");
    assert!(plain_ev
        .iter()
        .any(|e| e["type"] == "FAILURE" && e["failure"]["agent_id"]["value"] == aid));
    let pa_ev = framework_events(&all, "s2");
    let unr = pa_ev.iter().find(|e| e["type"] == "UPDATE").unwrap();
    assert_eq!(unr["update"]["status"]["state"], "TASK_UNREACHABLE");
    assert!(all.contains(&Effect::Persist));
    assert!(all.contains(&Effect::CloseAgent { conn: 9 }));
    assert_eq!(m.registry()["unreachable"][0]["id"]["value"], aid);
    assert_eq!(m.unreachable_tasks.len(), 1);
    assert_eq!(m.counters.tasks_by_terminal_state["TASK_LOST"], 1);

    // The agent comes back with both tasks: the partition-aware one returns RUNNING, the other
    // is killed (its framework was told it was lost).
    let tasks = json!([
        {"framework_id": {"value": plain}, "task_id": {"value": "t-s1"}, "state": "TASK_RUNNING"},
        {"framework_id": {"value": pa}, "task_id": {"value": "t-s2"}, "state": "TASK_RUNNING"},
    ]);
    let (again, fx) = register(
        &mut m,
        10,
        "h",
        "cpus:2;mem:512",
        json!({"agent_id": {"value": aid}, "tasks": tasks}),
    );
    assert_eq!(again, aid);
    let to_agent = agent_events(&fx, 10);
    assert!(to_agent
        .iter()
        .any(|e| e["type"] == "KILL_TASK" && e["kill_task"]["task_id"]["value"] == "t-s1"));
    let back = framework_events(&fx, "s2");
    assert_eq!(back[0]["update"]["status"]["state"], "TASK_RUNNING");
    assert!(m.unreachable.is_empty());
    assert!(m.tasks.contains_key(&(pa.clone(), "t-s2".into())));
}

#[test]
fn failover_recovers_agents_and_frameworks_from_the_registry() {
    let mut m = master();
    let fid = subscribe(&mut m, "s", json!({}));
    let (aid, _) = register(&mut m, 1, "h", "cpus:1;mem:256", json!({}));
    let offer = offers(&mut m, T0 + 1000, "s").remove(0);
    call(
        &mut m,
        T0 + 1000,
        "s",
        launch(&fid, &offer, "t1", "cpus:0.5;mem:64"),
    )
    .unwrap();
    update(
        &mut m,
        T0 + 1500,
        (&aid, 1),
        &fid,
        "t1",
        "TASK_RUNNING",
        "u1",
    );
    let registry = m.registry();

    // A new leader.
    let info = MasterInfo {
        id: "N".into(),
        ..m.info.clone()
    };
    let mut n = Master::new(info, m.config.clone(), T0 + 2000);
    n.recover(&registry, T0 + 2000);
    assert_eq!(n.agents[&aid].conn, AgentConn::Recovering);
    assert!(n.frameworks[&fid].recovered);
    // Explicit reconciliation for a task on a recovering agent gets no answer yet.
    let task_json = json!({"framework_id": {"value": fid}, "task_id": {"value": "t1"}, "name": "t1",
        "state": "TASK_RUNNING", "resources": crate::resources::Resources::parse("cpus:0.5;mem:64").unwrap().to_json(None)});
    let (_, fx) = {
        let mut fx = Vec::new();
        let id = n.register_agent(T0 + 3000, 5, &json!({"type": "REGISTER", "register": {
            "agent_id": {"value": aid},
            "agent_info": {"hostname": "h", "port": 5051, "resources": crate::resources::Resources::parse("cpus:1;mem:256").unwrap().to_json(None)},
            "tasks": [task_json], "frameworks": [n.frameworks[&fid].info.clone()]}}), &mut fx).unwrap();
        (id, fx)
    };
    assert_eq!(agent_events(&fx, 5)[0]["type"], "REGISTERED");
    assert_eq!(n.tasks[&(fid.clone(), "t1".into())].state, "TASK_RUNNING");
    assert_eq!(
        n.available(&aid).scalar("cpus"),
        0.5,
        "the running task's resources stay used"
    );

    // The framework re-subscribes with its id; reconciliation reports the running task.
    let mut fx = Vec::new();
    n.subscribe(T0 + 4000, "s2", &json!({"type": "SUBSCRIBE", "framework_id": {"value": fid},
        "subscribe": {"framework_info": {"user": "u", "name": "fw", "id": {"value": fid}, "failover_timeout": 10}}}), &mut fx)
        .unwrap();
    assert!(!n.frameworks[&fid].recovered);
    let fx = call(
        &mut n,
        T0 + 4000,
        "s2",
        json!({"type": "RECONCILE", "framework_id": {"value": fid}, "reconcile": {"tasks": []}}),
    )
    .unwrap();
    let ev = framework_events(&fx, "s2");
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0]["update"]["status"]["state"], "TASK_RUNNING");
    assert_eq!(ev[0]["update"]["status"]["reason"], "REASON_RECONCILIATION");
    let fx = call(
        &mut n,
        T0 + 4000,
        "s2",
        json!({"type": "RECONCILE", "framework_id": {"value": fid},
        "reconcile": {"tasks": [{"task_id": {"value": "ghost"}}]}}),
    )
    .unwrap();
    assert_eq!(
        framework_events(&fx, "s2")[0]["update"]["status"]["state"],
        "TASK_LOST"
    );
}

#[test]
fn agents_that_do_not_return_after_failover_become_unreachable() {
    let mut m = master();
    register(&mut m, 1, "h", "cpus:1;mem:256", json!({}));
    let registry = m.registry();
    let mut n = Master::new(
        MasterInfo {
            id: "N".into(),
            ..m.info.clone()
        },
        m.config.clone(),
        T0,
    );
    n.recover(&registry, T0);
    let mut fx = Vec::new();
    n.tick(T0 + 9_000, &mut fx);
    assert_eq!(n.agents.len(), 1);
    n.tick(T0 + 10_000, &mut fx);
    assert!(n.agents.is_empty());
    assert_eq!(n.unreachable.len(), 1);
}

#[test]
fn a_framework_past_its_failover_timeout_is_torn_down() {
    let mut m = master();
    let fid = subscribe(&mut m, "s", json!({}));
    register(&mut m, 3, "h", "cpus:1;mem:256", json!({}));
    let offer = offers(&mut m, T0 + 1000, "s").remove(0);
    call(
        &mut m,
        T0 + 1000,
        "s",
        launch(&fid, &offer, "t1", "cpus:0.5;mem:64"),
    )
    .unwrap();
    m.framework_disconnected(T0 + 2000, "s");
    assert!(!m.frameworks[&fid].connected());
    let mut fx = Vec::new();
    m.tick(T0 + 11_000, &mut fx);
    assert!(
        m.frameworks.contains_key(&fid),
        "10 s failover timeout not yet over"
    );
    m.tick(T0 + 12_000, &mut fx);
    assert!(!m.frameworks.contains_key(&fid));
    assert!(agent_events(&fx, 3)
        .iter()
        .any(|e| e["type"] == "SHUTDOWN_FRAMEWORK"));
    assert!(m.removed_frameworks.contains(&fid));
    // Re-subscribing a removed framework: its stream opens with an ERROR and closes.
    let mut fx = Vec::new();
    m.subscribe(
        T0 + 13_000,
        "s3",
        &json!({"type": "SUBSCRIBE", "framework_id": {"value": fid},
        "subscribe": {"framework_info": {"user": "", "name": "fw", "id": {"value": fid}}}}),
        &mut fx,
    )
    .unwrap();
    let ev = framework_events(&fx, "s3");
    assert_eq!(ev[0]["type"], "ERROR");
    assert_eq!(ev[0]["error"]["message"], "Framework has been removed");
    assert!(fx.contains(&Effect::CloseFramework {
        stream: "s3".into()
    }));
    assert!(!m.frameworks.contains_key(&fid));
}

#[test]
fn recovered_frameworks_are_not_torn_down_by_a_failover() {
    let mut m = master();
    // failover_timeout 0 (Mesos' default): torn down at once if it *disconnects*...
    let fid = subscribe(&mut m, "s", json!({"failover_timeout": 0}));
    let registry = m.registry();
    // ...but a new leader starts no clock for frameworks it has not seen connected.
    let mut n = Master::new(
        MasterInfo {
            id: "N".into(),
            ..m.info.clone()
        },
        m.config.clone(),
        T0,
    );
    n.recover(&registry, T0);
    let mut fx = Vec::new();
    n.tick(T0 + 60_000, &mut fx);
    assert!(n.frameworks.contains_key(&fid));
    assert!(!fx.iter().any(|e| matches!(e, Effect::Agent { .. })));
}

#[test]
fn a_kill_for_an_away_agent_is_sent_when_it_returns() {
    let mut m = master();
    let fid = subscribe(&mut m, "s", json!({}));
    let (aid, _) = register(&mut m, 1, "h", "cpus:1;mem:256", json!({}));
    let offer = offers(&mut m, T0 + 1000, "s").remove(0);
    call(
        &mut m,
        T0 + 1000,
        "s",
        launch(&fid, &offer, "t1", "cpus:0.5;mem:64"),
    )
    .unwrap();
    update(
        &mut m,
        T0 + 1100,
        (&aid, 1),
        &fid,
        "t1",
        "TASK_RUNNING",
        "u1",
    );
    let mut fx = Vec::new();
    m.agent_disconnected(T0 + 1200, &aid, 1, &mut fx);
    let fx = call(
        &mut m,
        T0 + 1300,
        "s",
        json!({"type": "KILL", "framework_id": {"value": fid},
        "kill": {"task_id": {"value": "t1"}}}),
    )
    .unwrap();
    assert!(
        !fx.iter().any(|e| matches!(e, Effect::Agent { .. })),
        "nothing to send to"
    );
    let tasks = json!([{"framework_id": {"value": fid}, "task_id": {"value": "t1"}, "state": "TASK_RUNNING"}]);
    let (_, fx) = register(
        &mut m,
        2,
        "h",
        "cpus:1;mem:256",
        json!({"agent_id": {"value": aid}, "tasks": tasks}),
    );
    let kills: Vec<Value> = agent_events(&fx, 2)
        .into_iter()
        .filter(|e| e["type"] == "KILL_TASK")
        .collect();
    assert_eq!(kills.len(), 1);
    assert_eq!(kills[0]["kill_task"]["task_id"]["value"], "t1");
}

#[test]
fn registry_changes_are_persisted_before_anyone_is_told() {
    let mut m = master();
    let fid = subscribe(&mut m, "s", json!({}));
    let (aid, _) = register(&mut m, 1, "h", "cpus:1;mem:256", json!({}));
    let offer = offers(&mut m, T0 + 1000, "s").remove(0);
    call(
        &mut m,
        T0 + 1000,
        "s",
        launch(&fid, &offer, "t1", "cpus:0.5;mem:64"),
    )
    .unwrap();
    let mut fx = Vec::new();
    for s in 1..=4 {
        m.tick(T0 + 1000 + s * 1000, &mut fx);
    }
    assert!(m.unreachable.contains_key(&aid));
    let persist = fx.iter().position(|e| *e == Effect::Persist).unwrap();
    let told = fx
        .iter()
        .position(|e| matches!(e, Effect::Framework { event, .. } if event["type"] == "UPDATE" || event["type"] == "FAILURE"))
        .unwrap();
    assert!(persist < told, "{fx:?}");
}

#[test]
fn terminal_states_stick_and_stale_duplicates_are_killed() {
    let mut m = master();
    let fid = subscribe(&mut m, "s", json!({}));
    let (aid, _) = register(&mut m, 1, "h", "cpus:1;mem:256", json!({}));
    let offer = offers(&mut m, T0 + 1000, "s").remove(0);
    call(
        &mut m,
        T0 + 1000,
        "s",
        launch(&fid, &offer, "t1", "cpus:0.5;mem:64"),
    )
    .unwrap();
    update(
        &mut m,
        T0 + 1100,
        (&aid, 1),
        &fid,
        "t1",
        "TASK_FINISHED",
        "u2",
    );
    update(
        &mut m,
        T0 + 1200,
        (&aid, 1),
        &fid,
        "t1",
        "TASK_RUNNING",
        "u1",
    );
    assert_eq!(m.tasks[&(fid.clone(), "t1".into())].state, "TASK_FINISHED");
    // Another agent reports a task with an ID that lives on the first one: it is killed there.
    let (other, fx) = register(
        &mut m,
        5,
        "h2",
        "cpus:1;mem:256",
        json!({"tasks": [
        {"framework_id": {"value": fid}, "task_id": {"value": "t1"}, "state": "TASK_RUNNING"}]}),
    );
    assert_ne!(other, aid);
    assert_eq!(agent_events(&fx, 5)[1]["type"], "KILL_TASK");
    assert_eq!(m.tasks[&(fid.clone(), "t1".into())].agent_id, aid);
}

#[test]
fn explicit_reconciliation_follows_mesos() {
    let mut m = master();
    let fid = subscribe(
        &mut m,
        "s",
        json!({"capabilities": [{"type": "PARTITION_AWARE"}]}),
    );
    let (aid, _) = register(&mut m, 1, "h", "cpus:1;mem:256", json!({}));
    let ask = |tasks: Value| json!({"type": "RECONCILE", "framework_id": {"value": fid}, "reconcile": {"tasks": tasks}});
    let fx = call(
        &mut m,
        T0,
        "s",
        ask(json!([{"task_id": {"value": "x"}, "agent_id": {"value": aid}}])),
    )
    .unwrap();
    assert_eq!(
        framework_events(&fx, "s")[0]["update"]["status"]["state"],
        "TASK_GONE"
    );
    let fx = call(&mut m, T0, "s", ask(json!([{"task_id": {"value": "x"}}]))).unwrap();
    assert_eq!(
        framework_events(&fx, "s")[0]["update"]["status"]["state"],
        "TASK_UNKNOWN"
    );
    // While an agent may still come back, no answer.
    let registry = m.registry();
    let mut n = Master::new(
        MasterInfo {
            id: "N".into(),
            ..m.info.clone()
        },
        m.config.clone(),
        T0,
    );
    n.recover(&registry, T0);
    let mut fx = Vec::new();
    n.subscribe(
        T0,
        "s2",
        &json!({"type": "SUBSCRIBE", "framework_id": {"value": fid},
        "subscribe": {"framework_info": {"user": "u", "name": "fw", "id": {"value": fid},
        "capabilities": [{"type": "PARTITION_AWARE"}]}}}),
        &mut fx,
    )
    .unwrap();
    let fx = call(&mut n, T0, "s2", ask(json!([{"task_id": {"value": "x"}}]))).unwrap();
    assert!(framework_events(&fx, "s2").is_empty());
}

#[test]
fn offer_timeout_rescinds() {
    let mut m = master();
    m.config.offer_timeout_ms = Some(2_000);
    subscribe(&mut m, "s", json!({}));
    register(&mut m, 1, "h", "cpus:1;mem:256", json!({}));
    let mut fx = Vec::new();
    m.tick(T0 + 1000, &mut fx);
    assert_eq!(m.offers.len(), 1);
    let mut fx = Vec::new();
    m.tick(T0 + 3000, &mut fx);
    let ev = framework_events(&fx, "s");
    assert_eq!(ev[0]["type"], "RESCIND");
    assert_eq!(m.counters.offers_rescinded, 1);
}

#[test]
fn machine_down_drains_and_up_restores() {
    let mut m = master();
    let fid = subscribe(&mut m, "s", json!({}));
    let (aid, _) = register(&mut m, 4, "h1", "cpus:1;mem:256", json!({}));
    let offer = offers(&mut m, T0 + 1000, "s").remove(0);
    call(
        &mut m,
        T0 + 1000,
        "s",
        launch(&fid, &offer, "t1", "cpus:0.5;mem:64"),
    )
    .unwrap();
    let mut fx = Vec::new();
    let machines = json!([{"hostname": "h1", "ip": "127.0.0.1"}]);
    let e = m.machines_down(&machines, &mut fx).unwrap_err();
    assert!(e.message.contains("not part of a maintenance schedule"));
    m.set_schedule(&json!({"windows": [{"machine_ids": machines, "unavailability": {"start": {"nanoseconds": 1}}}]}), &mut fx)
        .unwrap();
    assert_eq!(m.machine_mode("h1"), "DRAINING");
    let mut fx = Vec::new();
    m.machines_down(&machines, &mut fx).unwrap();
    assert_eq!(m.machine_mode("h1"), "DOWN");
    assert!(agent_events(&fx, 4)
        .iter()
        .any(|e| e["type"] == "KILL_TASK"));
    update(&mut m, T0 + 2000, (&aid, 4), &fid, "t1", "TASK_KILLED", "k");
    assert!(
        offers(&mut m, T0 + 10_000, "s").is_empty(),
        "a DOWN agent gets no offers"
    );
    assert!(
        m.set_schedule(&json!({"windows": []}), &mut fx).is_err(),
        "DOWN machines stay scheduled"
    );
    m.machines_up(&machines, &mut fx).unwrap();
    assert_eq!(m.machine_mode("h1"), "UP");
    assert_eq!(offers(&mut m, T0 + 20_000, "s").len(), 1);
}

#[test]
fn kill_of_an_unknown_task_reports_it_lost() {
    let mut m = master();
    let fid = subscribe(&mut m, "s", json!({}));
    let fx = call(&mut m, T0, "s", json!({"type": "KILL", "framework_id": {"value": fid}, "kill": {"task_id": {"value": "zz"}}})).unwrap();
    let ev = framework_events(&fx, "s");
    assert_eq!(ev[0]["update"]["status"]["state"], "TASK_LOST");
}

#[test]
fn agent_calls_need_a_current_registration() {
    let mut m = master();
    let (aid, _) = register(&mut m, 1, "h", "cpus:1;mem:256", json!({}));
    let mut fx = Vec::new();
    assert_eq!(
        m.agent_call(T0, "nope", Some(1), &json!({"type": "PONG"}), &mut fx)
            .unwrap_err()
            .status,
        403
    );
    assert_eq!(
        m.agent_call(T0, &aid, Some(2), &json!({"type": "PONG"}), &mut fx)
            .unwrap_err()
            .status,
        403
    );
    assert_eq!(
        m.agent_call(T0, &aid, Some(1), &json!({"type": "UPDATE"}), &mut fx)
            .unwrap_err()
            .status,
        400
    );
    m.agent_call(T0, &aid, Some(1), &json!({"type": "PONG"}), &mut fx)
        .unwrap();
    let bad = json!({"type": "REGISTER", "register": {"agent_info": {"port": 1}}});
    assert_eq!(
        m.register_agent(T0, 3, &bad, &mut fx).unwrap_err().status,
        400
    );
    let bad = json!({"type": "REGISTER", "register": {"agent_info": {"hostname": "x", "resources": [{"name": "cpus"}]}}});
    assert_eq!(
        m.register_agent(T0, 3, &bad, &mut fx).unwrap_err().status,
        400
    );
}
