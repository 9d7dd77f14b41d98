//! The whole stack on 127.0.0.1, as the issue describes it: a 3-server zkrs ensemble, 3
//! `mesos-master`s, 2 `mesos-agent`s, a real pymesos 0.3.15 framework (installed by
//! `scripts/install-pymesos.sh`) and `mesos-execute`; then kill -9 of the leading master, kill
//! -9 of an agent, and malformed API calls.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use mesos::http_client;
use serde_json::Value;
use testkit::{Poll, Ports, Proc, TaskReaper};

const MASTER: &str = env!("CARGO_BIN_EXE_mesos-master");
const AGENT: &str = env!("CARGO_BIN_EXE_mesos-agent");
const EXECUTE: &str = env!("CARGO_BIN_EXE_mesos-execute");
const RESOLVE: &str = env!("CARGO_BIN_EXE_mesos-resolve");

/// Free ports on 127.0.0.1 below the ephemeral range (see zk-client's tests for why).
static PORTS: Ports = Ports::new(20_000, 5_000, &["127.0.0.1"]);
/// Waits poll every 100 ms.
const POLL: Poll = Poll::every(Duration::from_millis(100));
/// What the command lines of the agents' supervisors and tasks contain.
const OURS: &[&str] = &["mesos-agent", "sleep"];

async fn elected(addr: &str) -> Option<bool> {
    let m = http_client::get_json(addr, "/metrics/snapshot")
        .await
        .ok()?;
    Some(m["master/elected"].as_f64()? == 1.0)
}

/// The masters that say they lead.
async fn leaders(masters: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for m in masters {
        if elected(m).await == Some(true) {
            out.push(m.clone());
        }
    }
    out
}

/// A pymesos framework process and the JSON lines it prints.
struct Framework {
    proc: Proc,
    stdin: ChildStdin,
    lines: mpsc::Receiver<Value>,
    seen: Vec<Value>,
}

impl Framework {
    fn start(python: &Path, master: &str, args: &[&str]) -> Framework {
        let script = testkit::workspace().join("mesos/tests/py/framework.py");
        let mut cmd = Command::new(python);
        cmd.arg(script)
            .arg(master)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut proc = Proc::spawn("pymesos framework", &mut cmd);
        let child = proc.child();
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                eprintln!("framework: {line}");
                if let Ok(v) = serde_json::from_str::<Value>(&line) {
                    if tx.send(v).is_err() {
                        return;
                    }
                }
            }
        });
        Framework {
            proc,
            stdin,
            lines: rx,
            seen: Vec::new(),
        }
    }

    fn send(&mut self, line: &str) {
        writeln!(self.stdin, "{line}").unwrap();
        self.stdin.flush().unwrap();
    }

    /// Waits (up to `limit`) until `pred` holds for the lines seen so far.
    fn wait(&mut self, limit: Duration, what: &str, pred: impl Fn(&[Value]) -> bool) {
        let deadline = Instant::now() + limit;
        loop {
            if pred(&self.seen) {
                return;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "framework: timed out after {limit:?} waiting for {what}; saw {:#?}",
                self.seen
            );
            match self
                .lines
                .recv_timeout(left.min(Duration::from_millis(200)))
            {
                Ok(v) => self.seen.push(v),
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    assert!(
                        pred(&self.seen),
                        "framework exited before {what}; saw {:#?}",
                        self.seen
                    )
                }
            }
        }
    }
}

fn states_of<'a>(seen: &'a [Value], task: &str) -> Vec<&'a str> {
    seen.iter()
        .filter(|v| v["event"] == "update" && v["task_id"] == task)
        .filter_map(|v| v["state"].as_str())
        .collect()
}

fn launched(seen: &[Value]) -> Vec<(String, String)> {
    seen.iter()
        .filter(|v| v["event"] == "launched")
        .map(|v| {
            (
                v["task_id"].as_str().unwrap().to_string(),
                v["agent_id"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pymesos_and_mesos_execute_on_a_ha_cluster_through_master_and_agent_failures() {
    tokio::time::timeout(Duration::from_secs(300), scenario())
        .await
        .expect("the end-to-end scenario did not finish within 300 s");
}

async fn scenario() {
    let python = testkit::install_python("scripts/install-pymesos.sh");
    let run = std::env::temp_dir().join(format!("mesos-e2e-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&run);
    std::fs::create_dir_all(&run).unwrap();
    let _reaper = TaskReaper::new(run.clone(), OURS);

    // ZooKeeper: a 3-server zkrs ensemble.
    let exe = std::env::current_exe().unwrap();
    let zk_bin =
        jepsen::cluster::locate_zk_server(&exe, testkit::profile()).expect("zk-server binary");
    let ensemble = jepsen::cluster::Ensemble::start(jepsen::cluster::EnsembleOptions::new(
        zk_bin,
        run.join("zk"),
    ))
    .await
    .expect("starting the ZooKeeper ensemble");
    ensemble
        .wait_stable(Duration::from_secs(30))
        .await
        .expect("a ZooKeeper leader");
    let zk = format!("zk://{}/mesos", ensemble.connect_string(&[1, 2, 3]));

    // Three masters.
    let mut masters = Vec::new();
    let mut master_procs = Vec::new();
    for i in 0..3 {
        let p = PORTS.next();
        let addr = format!("127.0.0.1:{p}");
        let mut cmd = Command::new(MASTER);
        cmd.args([
            &format!("--zk={zk}"),
            "--quorum=2",
            &format!("--work_dir={}", run.join(format!("master{i}")).display()),
            "--ip=127.0.0.1",
            &format!("--port={p}"),
            "--conf_dir=",
            "--cluster=e2e",
            "--zk_session_timeout=3secs",
            "--agent_ping_timeout=1secs",
            "--max_agent_ping_timeouts=3",
            "--allocation_interval=200ms",
            "--heartbeat_interval=2secs",
            "--agent_reregister_timeout=30secs",
        ])
        .env("MESOS_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(run.join(format!("master{i}.log"))).unwrap());
        master_procs.push(Proc::spawn(&format!("master {i}"), &mut cmd));
        masters.push(addr);
    }
    let leader = POLL
        .until(
            Duration::from_secs(30),
            "exactly one elected master",
            || {
                let masters = masters.clone();
                async move {
                    let l = leaders(&masters).await;
                    (l.len() == 1).then(|| l[0].clone())
                }
            },
        )
        .await;
    // Non-leaders redirect the APIs to the leader.
    for m in masters.iter().filter(|m| **m != leader) {
        let r = http_client::request(
            m,
            hyper::Method::GET,
            "/master/state",
            &[],
            Default::default(),
        )
        .await
        .unwrap();
        assert_eq!(r.status, 307, "{m}");
        assert_eq!(r.location_authority().as_deref(), Some(leader.as_str()));
    }
    // mesos-resolve agrees.
    let out = Command::new(RESOLVE).arg(&zk).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), leader);

    // Two agents.
    let mut agents = Vec::new();
    for i in 0..2 {
        let p = PORTS.next();
        let mut cmd = Command::new(AGENT);
        cmd.args([
            &format!("--master={zk}"),
            &format!("--work_dir={}", run.join(format!("agent{i}")).display()),
            "--ip=127.0.0.1",
            &format!("--port={p}"),
            "--conf_dir=",
            "--resources=cpus:2;mem:1024;disk:1000;ports:[31000-31100]",
            &format!("--attributes=rack:r{i}"),
        ])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(run.join(format!("agent{i}.log"))).unwrap());
        agents.push((
            format!("127.0.0.1:{p}"),
            Proc::spawn(&format!("agent {i}"), &mut cmd),
        ));
    }
    let slaves = POLL
        .until(Duration::from_secs(30), "two active agents", || {
            let leader = leader.clone();
            async move {
                let s = http_client::get_json(&leader, "/master/slaves")
                    .await
                    .ok()?;
                let active: Vec<Value> = s["slaves"]
                    .as_array()?
                    .iter()
                    .filter(|a| a["active"] == true)
                    .cloned()
                    .collect();
                (active.len() == 2).then_some(active)
            }
        })
        .await;
    assert_eq!(slaves[0]["resources"]["cpus"], 2.0);

    // pymesos launches two short command tasks: each goes RUNNING, then FINISHED.
    let mut fw = Framework::start(
        &python,
        &zk,
        &[
            "--tasks",
            "2",
            "--cmd",
            "echo hello from $MESOS_TASK_ID",
            "--name",
            "e2e-short",
        ],
    );
    fw.wait(Duration::from_secs(60), "both tasks FINISHED", |seen| {
        let l = launched(seen);
        l.len() == 2
            && l.iter()
                .all(|(t, _)| states_of(seen, t).contains(&"TASK_FINISHED"))
    });
    for (t, _) in launched(&fw.seen) {
        let states = states_of(&fw.seen, &t);
        let running = states
            .iter()
            .position(|s| *s == "TASK_RUNNING")
            .expect("RUNNING seen");
        let finished = states.iter().position(|s| *s == "TASK_FINISHED").unwrap();
        assert!(running < finished, "{t}: {states:?}");
    }
    // The sandbox of a finished task, through the virtual path the web UI links to.
    let fid = fw.seen.iter().find(|v| v["event"] == "registered").unwrap()["framework_id"]
        .as_str()
        .unwrap()
        .to_string();
    let (t0, a0) = launched(&fw.seen)[0].clone();
    let agent_port = {
        let s = http_client::get_json(&leader, "/master/slaves")
            .await
            .unwrap();
        s["slaves"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["id"] == a0.as_str())
            .unwrap()["port"]
            .as_u64()
            .unwrap()
    };
    let path =
        format!("/files/read?path=/frameworks/{fid}/executors/{t0}/runs/latest/stdout&offset=0");
    let out = http_client::get_json(&format!("127.0.0.1:{agent_port}"), &path)
        .await
        .unwrap();
    assert_eq!(out["data"], format!("hello from {t0}\n"), "{out}");
    fw.send("teardown");
    fw.wait(Duration::from_secs(10), "teardown", |seen| {
        seen.iter().any(|v| v["event"] == "stopped")
    });
    drop(fw);

    // mesos-execute, as in the seeds.
    let out = Command::new(EXECUTE)
        .args([
            &format!("--master={zk}"),
            "--name=cluster-test",
            "--command=sleep 1",
            "--resources=cpus:0.1;mem:32",
            "--timeout=60secs",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    eprintln!(
        "mesos-execute:\n{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success());
    assert!(text.contains("Received status update TASK_RUNNING for task 'cluster-test'"));
    assert!(text.contains("Received status update TASK_FINISHED for task 'cluster-test'"));

    // A framework with long tasks, then kill -9 of the leading master.
    let mut fw = Framework::start(
        &python,
        &zk,
        &["--tasks", "2", "--cmd", "sleep 40", "--name", "e2e-long"],
    );
    fw.wait(Duration::from_secs(60), "both long tasks RUNNING", |seen| {
        let l = launched(seen);
        l.len() == 2
            && l.iter()
                .all(|(t, _)| states_of(seen, t).contains(&"TASK_RUNNING"))
    });
    let tasks = launched(&fw.seen);
    let li = masters.iter().position(|m| *m == leader).unwrap();
    let killed_at = Instant::now();
    master_procs[li].kill();
    let new_leader = POLL
        .until(Duration::from_secs(30), "a new leading master", || {
            let rest: Vec<String> = masters.iter().filter(|m| **m != leader).cloned().collect();
            async move {
                let l = leaders(&rest).await;
                (l.len() == 1).then(|| l[0].clone())
            }
        })
        .await;
    eprintln!("new leader {new_leader} after {:?}", killed_at.elapsed());
    fw.wait(
        Duration::from_secs(60),
        "the framework to re-subscribe",
        |seen| seen.iter().any(|v| v["event"] == "reregistered"),
    );
    // The running tasks survived and are reconciled as RUNNING by the new leader.
    POLL.until(
        Duration::from_secs(30),
        "both tasks RUNNING on the new leader",
        || {
            let nl = new_leader.clone();
            let ids: Vec<String> = tasks.iter().map(|(t, _)| t.clone()).collect();
            async move {
                let s = http_client::get_json(&nl, "/master/tasks").await.ok()?;
                let running = s["tasks"]
                    .as_array()?
                    .iter()
                    .filter(|t| {
                        ids.iter().any(|i| t["id"] == i.as_str()) && t["state"] == "TASK_RUNNING"
                    })
                    .count();
                (running == 2).then_some(())
            }
        },
    )
    .await;
    let before = fw.seen.len();
    fw.send("reconcile");
    fw.wait(Duration::from_secs(20), "reconciliation updates", |seen| {
        tasks.iter().all(|(t, _)| {
            seen[before..].iter().any(|v| {
                v["event"] == "update" && v["task_id"] == t.as_str() && v["state"] == "TASK_RUNNING"
            })
        })
    });
    for (t, _) in &tasks {
        assert!(
            !states_of(&fw.seen, t)
                .iter()
                .any(|s| *s != "TASK_STARTING" && *s != "TASK_RUNNING" && *s != "TASK_STAGING"),
            "{t}: {:?}",
            states_of(&fw.seen, t)
        );
    }

    // kill -9 of the agent running the first long task: its tasks are lost, it leaves the offers.
    let victim_id = tasks[0].1.clone();
    let victim = POLL
        .until(
            Duration::from_secs(10),
            "the victim agent's address",
            || {
                let nl = new_leader.clone();
                let vid = victim_id.clone();
                async move {
                    let s = http_client::get_json(&nl, "/master/slaves").await.ok()?;
                    s["slaves"]
                        .as_array()?
                        .iter()
                        .find(|a| a["id"] == vid.as_str())
                        .map(|a| a["port"].as_u64().unwrap())
                }
            },
        )
        .await;
    let vi = agents
        .iter()
        .position(|(a, _)| a.ends_with(&format!(":{victim}")))
        .unwrap();
    agents[vi].1.kill();
    let lost_at = fw.seen.len();
    fw.wait(
        Duration::from_secs(30),
        "TASK_LOST for the dead agent's tasks",
        |seen| {
            tasks
                .iter()
                .filter(|(_, a)| *a == victim_id)
                .all(|(t, _)| states_of(seen, t).contains(&"TASK_LOST"))
                && seen
                    .iter()
                    .any(|v| v["event"] == "agent_lost" && v["agent_id"] == victim_id.as_str())
        },
    );
    let lost = fw.seen[lost_at..]
        .iter()
        .find(|v| v["event"] == "update" && v["state"] == "TASK_LOST")
        .unwrap()
        .clone();
    assert_eq!(lost["reason"], "REASON_AGENT_REMOVED");
    let s = http_client::get_json(&new_leader, "/master/slaves")
        .await
        .unwrap();
    assert!(
        s["slaves"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["id"] != victim_id.as_str()),
        "the dead agent is no longer an agent: {s}"
    );
    assert_eq!(s["unreachable_slaves"][0]["id"], victim_id.as_str());
    // Offers made after the loss come from the survivor only.
    let after = fw.seen.len();
    fw.send("reconcile");
    tokio::time::sleep(Duration::from_secs(2)).await;
    fw.wait(Duration::from_secs(10), "a later event", |seen| {
        seen.len() > after
    });
    assert!(
        fw.seen[after..]
            .iter()
            .filter(|v| v["event"] == "offers")
            .all(|v| !v["agents"]
                .as_array()
                .unwrap()
                .iter()
                .any(|a| *a == victim_id.as_str())),
        "no offers from the dead agent"
    );

    // Malformed calls get 4xx with a message, and the master keeps serving.
    for (path, body, want) in [
        ("/api/v1/scheduler", "not json", 400),
        (
            "/api/v1/scheduler",
            r#"{"type":"ACCEPT","framework_id":{"value":"x"}}"#,
            400,
        ),
        (
            "/api/v1/scheduler",
            r#"{"type":"SUBSCRIBE","subscribe":{}}"#,
            400,
        ),
        ("/api/v1/agent", r#"{"type":"REGISTER"}"#, 400),
        ("/api/v1/agent", r#"{"type":"UPDATE"}"#, 400),
    ] {
        let r = http_client::request(
            &new_leader,
            hyper::Method::POST,
            path,
            &[("Content-Type", "application/json")],
            bytes::Bytes::from(body),
        )
        .await
        .unwrap();
        assert_eq!(r.status.as_u16(), want, "{path} {body}: {}", r.text());
        assert!(!r.text().is_empty(), "{path} {body}: no message");
    }
    let r = http_client::request(
        &new_leader,
        hyper::Method::GET,
        "/master/tasks?limit=x",
        &[],
        Default::default(),
    )
    .await
    .unwrap();
    assert_eq!(r.status, 400);
    assert!(http_client::get_json(&new_leader, "/master/state")
        .await
        .is_ok());
    assert!(fw.proc.alive(), "the framework survived everything");

    // Maintenance: draining the survivor's machine (both agents say 127.0.0.1) kills its
    // tasks. A task that can only run there: mesos-execute's.
    let mut exec = Command::new(EXECUTE);
    exec.args([
        &format!("--master={zk}"),
        "--name=drain-me",
        "--command=sleep 30",
        "--resources=cpus:0.1;mem:32",
        "--timeout=60secs",
    ])
    .stdout(Stdio::piped())
    .stderr(Stdio::inherit());
    let mut exec = Proc::spawn("mesos-execute drain-me", &mut exec);
    let out = exec.child().stdout.take().unwrap();
    let (etx, erx) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            eprintln!("mesos-execute: {line}");
            if etx.send(line).is_err() {
                return;
            }
        }
    });
    let mut exec_lines = Vec::new();
    let wait_line = |lines: &mut Vec<String>, needle: &str| {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !lines.iter().any(|l| l.contains(needle)) {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "mesos-execute never printed {needle:?}: {lines:?}"
            );
            if let Ok(l) = erx.recv_timeout(left) {
                lines.push(l);
            }
        }
    };
    wait_line(&mut exec_lines, "TASK_RUNNING");
    let machines = serde_json::json!([{"hostname": "127.0.0.1", "ip": "127.0.0.1"}]);
    let post = |path: &'static str, body: Value| {
        let leader = new_leader.clone();
        async move {
            http_client::post_json(&leader, path, &[], &body)
                .await
                .unwrap()
        }
    };
    let r = post("/master/machine/down", machines.clone()).await;
    assert_eq!(r.status, 400, "not scheduled yet: {}", r.text());
    let now_ns = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let schedule = serde_json::json!({"windows": [{"machine_ids": machines,
        "unavailability": {"start": {"nanoseconds": now_ns}}}]});
    assert_eq!(
        post("/master/maintenance/schedule", schedule).await.status,
        200
    );
    let st = http_client::get_json(&new_leader, "/master/maintenance/status")
        .await
        .unwrap();
    assert_eq!(
        st["draining_machines"][0]["id"]["hostname"], "127.0.0.1",
        "{st}"
    );
    assert_eq!(
        post("/master/machine/down", machines.clone()).await.status,
        200
    );
    wait_line(
        &mut exec_lines,
        "Received status update TASK_KILLED for task 'drain-me'",
    );
    let status = exec.wait().unwrap();
    assert!(
        !status.success(),
        "mesos-execute reports a killed task as a failure"
    );
    let st = http_client::get_json(&new_leader, "/master/maintenance/status")
        .await
        .unwrap();
    assert_eq!(st["down_machines"][0]["hostname"], "127.0.0.1", "{st}");
    assert_eq!(post("/master/machine/up", machines).await.status, 200);

    fw.send("teardown");
    fw.wait(Duration::from_secs(10), "teardown", |seen| {
        seen.iter().any(|v| v["event"] == "stopped")
    });
    // The killed agent's tasks outlive it by design (their supervisors are in process groups of
    // their own): stop them by the PIDs it checkpointed.
    testkit::kill_checkpointed_tasks(&run.join(format!("agent{vi}")), OURS);
    let _ = std::fs::remove_dir_all(&run);
}
