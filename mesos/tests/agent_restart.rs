//! End to end: the agent is killed with SIGKILL while tasks run, and a new one on the same
//! work directory adopts them, reports what ended meanwhile, and re-registers with its ID.

mod agent_support;

use std::time::{Duration, Instant};

use agent_support::*;
use serde_json::Value;

fn exit_status_of(work: &std::path::Path, task: &str) -> Option<String> {
    find_files(&work.join("meta"), "exit_status")
        .into_iter()
        .find(|p| p.to_string_lossy().contains(&format!("/executors/{task}/")))
        .and_then(|p| std::fs::read_to_string(p).ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_agent_keeps_its_tasks_and_its_id() {
    let master = FakeMaster::start().await;
    let work = temp_dir("restart");
    let port = free_port();
    let mut first = Agent::start(&master, &work, port, &[]);
    master.wait_registers(1).await;
    let aid = master.agent_id.clone();

    master.run_task(&aid, command_task("long", "sleep 30"));
    master.run_task(&aid, command_task("meanwhile", "sleep 1; exit 0"));
    master.run_task(&aid, command_task("later", "sleep 5; exit 7"));
    for t in ["long", "meanwhile", "later"] {
        master.wait_state(t, "TASK_RUNNING").await;
    }
    let long_pid: i32 = find_files(&work.join("meta"), "command.pid")
        .into_iter()
        .find(|p| p.to_string_lossy().contains("/executors/long/"))
        .and_then(|p| std::fs::read_to_string(p).ok())
        .and_then(|s| s.trim().parse().ok())
        .expect("long's command.pid");

    first.kill9();
    // `meanwhile` ends while no agent runs; its supervisor records that.
    let end = Instant::now() + DEADLINE;
    while exit_status_of(&work, "meanwhile").is_none() {
        assert!(Instant::now() < end, "meanwhile never ended");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(pid_alive(long_pid), "the task died with its agent");
    assert!(
        exit_status_of(&work, "later").is_none(),
        "later ended too soon for this test"
    );

    let second = Agent::start(&master, &work, port, &[]);
    let reg = master.wait_registers(2).await;
    let r = &reg["register"];
    assert_eq!(r["agent_id"]["value"], aid.as_str(), "{reg}");
    assert_eq!(r["agent_info"]["id"]["value"], aid.as_str());
    let tasks = r["tasks"].as_array().expect("tasks");
    let long = tasks
        .iter()
        .find(|t| t["task_id"]["value"] == "long")
        .expect("long in REGISTER");
    assert_eq!(long["state"], "TASK_RUNNING");
    assert_eq!(long["framework_id"]["value"], FRAMEWORK);
    assert_eq!(long["task_info"]["command"]["value"], "sleep 30");
    assert!(long["statuses"].as_array().is_some_and(|s| !s.is_empty()));
    assert_eq!(r["frameworks"][0]["id"]["value"], FRAMEWORK);
    assert_eq!(r["frameworks"][0]["name"], "test-fw");

    let done = master.wait_state("meanwhile", "TASK_FINISHED").await;
    assert_eq!(done["message"], "Command exited with status 0");
    wait_http(port).await;
    let (_, body) = second.get("/state").await;
    let state: Value = serde_json::from_str(&body).unwrap();
    let running: Vec<&Value> = state["frameworks"][0]["executors"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|e| e["tasks"].as_array().unwrap().iter())
        .filter(|t| t["state"] == "TASK_RUNNING")
        .collect();
    assert!(running.iter().any(|t| t["id"] == "long"), "{body}");
    assert!(pid_alive(long_pid));

    // The adopted tasks still end and die as they should.
    let later = master.wait_state("later", "TASK_FAILED").await;
    assert_eq!(later["message"], "Command exited with status 7");
    master.kill_task("long", Some(Duration::from_secs(2)));
    let killed = master.wait_state("long", "TASK_KILLED").await;
    assert_eq!(killed["message"], "Command terminated with signal SIGTERM");
    let end = Instant::now() + DEADLINE;
    while pid_alive(long_pid) {
        assert!(Instant::now() < end, "the killed task is still alive");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(second);
    drop(first);
    let _ = std::fs::remove_dir_all(&work);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_whose_supervisor_vanished_is_reported_failed() {
    let master = FakeMaster::start().await;
    let work = temp_dir("vanish");
    let port = free_port();
    let mut first = Agent::start(&master, &work, port, &[]);
    master.wait_registers(1).await;
    let aid = master.agent_id.clone();
    master.run_task(&aid, command_task("orphan", "sleep 30"));
    master.wait_state("orphan", "TASK_RUNNING").await;
    first.kill9();
    // Kill the supervisor and the command behind the agent's back: no exit status is left.
    for f in find_files(&work.join("meta"), "forked.pid") {
        let pid: i32 = std::fs::read_to_string(&f).unwrap().trim().parse().unwrap();
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
        let end = Instant::now() + DEADLINE;
        while pid_alive(pid) {
            assert!(Instant::now() < end, "the supervisor outlived SIGKILL");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    for f in find_files(&work.join("meta"), "command.pid") {
        let pid: i32 = std::fs::read_to_string(&f).unwrap().trim().parse().unwrap();
        let _ = nix::sys::signal::killpg(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    let second = Agent::start(&master, &work, port, &[]);
    let failed = master.wait_state("orphan", "TASK_FAILED").await;
    let msg = failed["message"].as_str().unwrap();
    assert!(
        msg.contains("supervisor") && msg.contains("no exit status"),
        "{msg}"
    );
    assert_eq!(failed["source"], "SOURCE_AGENT");
    assert_eq!(failed["reason"], "REASON_EXECUTOR_TERMINATED");
    drop(second);
    drop(first);
    let _ = std::fs::remove_dir_all(&work);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recover_cleanup_kills_the_old_tasks_and_exits() {
    let master = FakeMaster::start().await;
    let work = temp_dir("cleanup");
    let port = free_port();
    let mut first = Agent::start(&master, &work, port, &[]);
    master.wait_registers(1).await;
    let aid = master.agent_id.clone();
    master.run_task(&aid, command_task("old", "sleep 30"));
    master.wait_state("old", "TASK_RUNNING").await;
    let pid: i32 = find_files(&work.join("meta"), "command.pid")
        .first()
        .and_then(|p| std::fs::read_to_string(p).ok())
        .and_then(|s| s.trim().parse().ok())
        .expect("command.pid");
    first.kill9();
    assert!(pid_alive(pid));

    let mut cleaner = Agent::start(&master, &work, port, &["--recover=cleanup"]);
    let status = cleaner.wait_exit().await;
    assert!(status.success(), "{status:?}");
    let end = Instant::now() + DEADLINE;
    while pid_alive(pid) {
        assert!(
            Instant::now() < end,
            "the old task survived --recover=cleanup"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!work.join("meta/slaves").exists());
    assert_eq!(master.registers().len(), 1, "cleanup does not register");
    drop(cleaner);
    drop(first);
    let _ = std::fs::remove_dir_all(&work);
}
