//! End to end: the real `mesos-agent` against a fake master. Registration, a task's life,
//! reliable updates, failures, kills, DOCKER refusal, PING/PONG and the HTTP endpoints.

mod agent_support;

use std::time::{Duration, Instant};

use agent_support::*;
use serde_json::{json, Value};

fn parse(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_registers_runs_tasks_and_delivers_updates_reliably() {
    let master = FakeMaster::start().await;
    let work = temp_dir("tasks");
    let port = free_port();
    let agent = Agent::start(&master, &work, port, &["--hostname=agent-one"]);

    // Registration carries what the protocol asks for.
    let reg = master.wait_registers(1).await;
    let r = &reg["register"];
    assert!(r.get("agent_id").is_none(), "a new agent has no ID: {reg}");
    assert_eq!(r["agent_info"]["hostname"], "agent-one");
    assert_eq!(r["agent_info"]["port"], port);
    assert_eq!(r["version"], "1.11.0");
    assert_eq!(
        r["containerizers"],
        json!(["mesos"]),
        "docker is not advertised"
    );
    let res = mesos::resources::Resources::from_json(&r["agent_info"]["resources"]).unwrap();
    assert_eq!(res.scalar("cpus"), 2.0);
    assert_eq!(res.ranges("ports"), &[(31000, 31100)]);
    let attrs = r["agent_info"]["attributes"].as_array().unwrap();
    assert!(
        attrs.contains(&json!({"name": "rack", "type": "TEXT", "text": {"value": "r1"}})),
        "{attrs:?}"
    );
    assert!(
        attrs.contains(&json!({"name": "level", "type": "SCALAR", "scalar": {"value": 2.0}})),
        "{attrs:?}"
    );
    let aid = master.agent_id.clone();
    wait_http(port).await;
    let end = Instant::now() + DEADLINE;
    loop {
        let (_, body) = agent.get("/metrics/snapshot").await;
        if parse(&body)["slave/registered"] == 1.0 {
            break;
        }
        assert!(Instant::now() < end, "never registered: {body}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // An update nobody acknowledges is sent again; RUNNING waits behind it.
    master.hold("held");
    master.run_task(&aid, command_task("held", "sleep 1; exit 0"));

    // A task's whole life, with its output in the sandbox and through /files/read.
    master.run_task(
        &aid,
        command_task(
            "hello",
            "echo hello; echo port=$PORT0 task=$MESOS_TASK_ID host=$HOST >&2; exit 0",
        ),
    );
    let fin = master.wait_state("hello", "TASK_FINISHED").await;
    assert_eq!(
        master.states("hello"),
        vec!["TASK_STARTING", "TASK_RUNNING", "TASK_FINISHED"]
    );
    assert_eq!(fin["message"], "Command exited with status 0");
    assert_eq!(fin["source"], "SOURCE_EXECUTOR");
    assert_eq!(fin["agent_id"]["value"], aid.as_str());
    assert_eq!(fin["executor_id"]["value"], "hello");
    assert!(fin["timestamp"].as_f64().unwrap() > 1.0e9);
    assert_eq!(
        fin["uuid"].as_str().unwrap().len(),
        24,
        "base64 of 16 bytes"
    );
    let update_call = master
        .calls()
        .into_iter()
        .find(|c| c.body["type"] == "UPDATE")
        .unwrap();
    assert_eq!(update_call.agent_id.as_deref(), Some(aid.as_str()));
    assert_eq!(update_call.stream_id.as_deref(), Some("stream-1"));
    assert_eq!(
        update_call.body["update"]["framework_id"]["value"],
        FRAMEWORK
    );

    let (_, body) = agent.get("/state").await;
    let state = parse(&body);
    assert_eq!(state["id"], aid.as_str());
    assert_eq!(state["pid"], format!("slave(1)@127.0.0.1:{port}"));
    assert_eq!(state["hostname"], "agent-one");
    assert_eq!(state["master_hostname"], "fake-master");
    assert_eq!(state["attributes"]["rack"], "r1");
    let executors: Vec<Value> = state["frameworks"]
        .as_array()
        .into_iter()
        .chain(state["completed_frameworks"].as_array())
        .flatten()
        .flat_map(|f| {
            f["executors"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .chain(
                    f["completed_executors"]
                        .as_array()
                        .cloned()
                        .unwrap_or_default(),
                )
        })
        .collect();
    let hello = executors
        .iter()
        .find(|e| e["id"] == "hello")
        .expect("hello's executor in /state");
    let sandbox = hello["directory"].as_str().unwrap().to_string();
    assert!(
        sandbox.starts_with(&format!(
            "{}/slaves/{aid}/frameworks/F1/executors/hello/runs/",
            work.display()
        )),
        "{sandbox}"
    );
    assert_eq!(
        std::fs::read_to_string(format!("{sandbox}/stdout")).unwrap(),
        "hello\n"
    );
    let stderr = std::fs::read_to_string(format!("{sandbox}/stderr")).unwrap();
    assert!(
        stderr.contains("port=31000 task=hello host=agent-one"),
        "{stderr}"
    );
    let latest = std::fs::canonicalize(work.join(format!(
        "slaves/{aid}/frameworks/F1/executors/hello/runs/latest"
    )))
    .unwrap();
    assert_eq!(latest, std::fs::canonicalize(&sandbox).unwrap());
    let (code, body) = agent
        .get(&format!("/files/read?path={sandbox}/stdout&offset=0"))
        .await;
    assert_eq!(code, 200);
    assert_eq!(parse(&body), json!({"data": "hello\n", "offset": 0}));
    let (_, body) = agent
        .get(&format!("/files/read?path={sandbox}/stdout&offset=-1"))
        .await;
    assert_eq!(parse(&body), json!({"data": "", "offset": 6}));
    let (code, body) = agent.get(&format!("/files/browse?path={sandbox}")).await;
    assert_eq!(code, 200);
    assert!(
        parse(&body)
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["path"] == format!("{sandbox}/stdout")),
        "{body}"
    );
    let (code, body) = agent
        .get(&format!("/files/download?path={sandbox}/stdout"))
        .await;
    assert_eq!((code, body.as_str()), (200, "hello\n"));
    assert_eq!(
        agent.get("/files/read?path=/etc/passwd&offset=0").await.0,
        404
    );
    assert_eq!(
        agent
            .get(&format!(
                "/files/read?path={sandbox}/../../../../../../../meta&offset=0"
            ))
            .await
            .0,
        404
    );
    assert_eq!(
        agent
            .get(&format!("/files/read?path={sandbox}/stdout&offset=x"))
            .await
            .0,
        400
    );
    assert_eq!(agent.get("/health").await.0, 200);
    let (_, body) = agent.get("/version").await;
    assert_eq!(parse(&body)["version"], "1.11.0");
    let (_, body) = agent.get("/flags").await;
    assert_eq!(parse(&body)["flags"]["hostname"], "agent-one");

    // A failing command.
    master.run_task(&aid, command_task("three", "exit 3"));
    let failed = master.wait_state("three", "TASK_FAILED").await;
    assert_eq!(failed["message"], "Command exited with status 3");
    assert_eq!(
        master.states("three"),
        vec!["TASK_STARTING", "TASK_RUNNING", "TASK_FAILED"]
    );

    // KILL_TASK: SIGTERM, and KILLED well within the grace.
    master.run_task(&aid, command_task("sleeper", "sleep 60"));
    master.wait_state("sleeper", "TASK_RUNNING").await;
    let asked = Instant::now();
    master.kill_task("sleeper", Some(Duration::from_secs(5)));
    let killed = master.wait_state("sleeper", "TASK_KILLED").await;
    assert!(
        asked.elapsed() < Duration::from_secs(5),
        "killed after {:?}",
        asked.elapsed()
    );
    assert_eq!(killed["message"], "Command terminated with signal SIGTERM");

    // A command that ignores SIGTERM gets SIGKILL after the grace.
    master.run_task(&aid, command_task("stubborn", "trap '' TERM; sleep 60"));
    master.wait_state("stubborn", "TASK_RUNNING").await;
    let asked = Instant::now();
    master.kill_task("stubborn", Some(Duration::from_millis(700)));
    let killed = master.wait_state("stubborn", "TASK_KILLED").await;
    assert!(
        asked.elapsed() >= Duration::from_millis(700),
        "SIGKILL came before the grace"
    );
    assert_eq!(killed["message"], "Command terminated with signal SIGKILL");

    // DOCKER without docker.
    let mut docker = command_task("docked", "nginx");
    docker["container"] = json!({"type": "DOCKER", "docker": {"image": "nginx"}});
    master.run_task(&aid, docker);
    let refused = master.wait_state("docked", "TASK_FAILED").await;
    assert_eq!(
        refused["message"],
        "Docker is not available on this agent (--containerizers=mesos)"
    );
    assert_eq!(refused["reason"], "REASON_CONTAINER_LAUNCH_FAILED");

    // A task without a command, and killing an unknown task.
    let mut empty = command_task("empty", "");
    empty.as_object_mut().unwrap().remove("command");
    master.run_task(&aid, empty);
    let err = master.wait_state("empty", "TASK_ERROR").await;
    assert!(err["message"]
        .as_str()
        .unwrap()
        .contains("neither a command nor an executor"));
    master.kill_task("ghost", None);
    master.wait_state("ghost", "TASK_LOST").await;

    // The held STARTING is resent (the first resend is due 10 s after the first send).
    let first = master.updates("held")[0].clone();
    assert_eq!(first["state"], "TASK_STARTING");
    master
        .wait_for("a resend of the held STARTING", |m| {
            (m.updates("held").len() >= 2).then_some(())
        })
        .await;
    let sent = master.updates("held");
    assert!(
        sent.iter().all(|s| s["uuid"] == first["uuid"]),
        "only the head is in flight: {sent:?}"
    );
    master.release("held");
    let resends_at_ack = master.updates("held").len();
    master.send(ack_event(&first));
    master.wait_state("held", "TASK_FINISHED").await;
    assert_eq!(
        master.states("held"),
        vec!["TASK_STARTING", "TASK_RUNNING", "TASK_FINISHED"]
    );

    // PINGs are answered on the registered stream.
    let pong = master
        .wait_for("a PONG", |m| {
            m.calls().into_iter().find(|c| c.body["type"] == "PONG")
        })
        .await;
    assert_eq!(pong.agent_id.as_deref(), Some(aid.as_str()));

    let (_, body) = agent.get("/metrics/snapshot").await;
    let m = parse(&body);
    assert_eq!(m["slave/tasks_finished"], 2.0, "{m}");
    assert_eq!(m["slave/tasks_failed"], 2.0, "{m}");
    assert_eq!(m["slave/tasks_killed"], 2.0, "{m}");
    assert_eq!(m["slave/tasks_running"], 0.0, "{m}");
    assert_eq!(m["slave/cpus_total"], 2.0);
    assert!(m["system/mem_total_bytes"].as_f64().unwrap() > 0.0);

    // Nothing more of the acknowledged STARTING, and one registration throughout.
    let starting_after = master
        .updates("held")
        .iter()
        .filter(|s| s["uuid"] == first["uuid"])
        .count();
    assert_eq!(
        starting_after, resends_at_ack,
        "the acknowledged update was sent again"
    );
    assert_eq!(master.registers().len(), 1, "{}", agent.log());
    drop(agent);
    let _ = std::fs::remove_dir_all(&work);
}
