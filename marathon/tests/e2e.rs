//! Marathon on the whole stack, on 127.0.0.1: a 3-server zkrs ensemble, a Mesos master, two
//! agents (127.0.0.1 and 127.0.0.2, so `hostname` constraints see two hosts), two Marathon
//! instances, and marathon-python 0.13 (installed by `scripts/install-marathon-python.sh`)
//! driving the API.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{ChildStdin, ChildStdout, Command, Stdio};
use std::time::Duration;

use mesos::http_client;
use serde_json::{json, Value};
use testkit::{Poll, Ports, Proc, TaskReaper};

const MARATHON: &str = env!("CARGO_BIN_EXE_marathon");

/// Ports free on both 127.0.0.1 and 127.0.0.2, below the ephemeral range.
static PORTS: Ports = Ports::new(15_000, 4_000, &["127.0.0.1", "127.0.0.2"]);
/// Waits poll every 200 ms.
const POLL: Poll = Poll::every(Duration::from_millis(200));
/// What the command lines of the agents' supervisors and tasks contain.
const OURS: &[&str] = &["mesos-agent", "sleep", "Hello"];

/// marathon-python behind a line protocol (marathon/tests/py/client.py).
struct Client {
    _proc: Proc,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Client {
    fn start(python: &Path, urls: &str) -> Client {
        let mut cmd = Command::new(python);
        cmd.arg(testkit::workspace().join("marathon/tests/py/client.py"))
            .arg(urls)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut p = Proc::spawn("marathon-python client", &mut cmd);
        let child = p.child();
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        Client {
            _proc: p,
            stdin,
            stdout,
        }
    }

    /// One command; the parsed answer line.
    fn call(&mut self, cmd: Value) -> Value {
        writeln!(self.stdin, "{cmd}").unwrap();
        self.stdin.flush().unwrap();
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        let v: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line:?}"));
        eprintln!("marathon-python {cmd} -> {v}");
        v
    }

    fn ok(&mut self, cmd: Value) -> Value {
        let v = self.call(cmd.clone());
        assert_eq!(v["ok"], true, "{cmd}: {v}");
        v["result"].clone()
    }
}

async fn app(addr: &str, id: &str) -> Option<Value> {
    let v = http_client::get_json(addr, &format!("/v2/apps{id}?embed=app.tasks"))
        .await
        .ok()?;
    Some(v["app"].clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn marathon_python_runs_apps_through_agent_and_marathon_failures() {
    tokio::time::timeout(Duration::from_secs(300), scenario())
        .await
        .expect("the scenario did not finish within 300 s");
}

async fn scenario() {
    let python = testkit::install_python("scripts/install-marathon-python.sh");
    let run = std::env::temp_dir().join(format!("marathon-e2e-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&run);
    std::fs::create_dir_all(&run).unwrap();
    let _reaper = TaskReaper::new(run.clone(), OURS);

    let exe = std::env::current_exe().unwrap();
    let zk_bin = jepsen::cluster::locate_zk_server(&exe, testkit::profile()).unwrap();
    let ensemble = jepsen::cluster::Ensemble::start(jepsen::cluster::EnsembleOptions::new(
        zk_bin,
        run.join("zk"),
    ))
    .await
    .unwrap();
    ensemble.wait_stable(Duration::from_secs(30)).await.unwrap();
    let zk = format!("zk://{}", ensemble.connect_string(&[1, 2, 3]));

    let master_port = PORTS.next();
    let master_addr = format!("127.0.0.1:{master_port}");
    let mut master = Proc::spawn(
        "mesos-master",
        Command::new(testkit::cargo_bin("mesos", "mesos-master"))
            .args([
                &format!("--zk={zk}/mesos"),
                "--quorum=1",
                &format!("--work_dir={}", run.join("master").display()),
                "--ip=127.0.0.1",
                &format!("--port={master_port}"),
                "--conf_dir=",
                "--agent_ping_timeout=1secs",
                "--max_agent_ping_timeouts=3",
                "--allocation_interval=200ms",
                "--zk_session_timeout=3secs",
            ])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(run.join("master.log")).unwrap()),
    );
    let agent_bin = testkit::cargo_bin("mesos", "mesos-agent");
    let mut agents = Vec::new();
    for (i, ip) in ["127.0.0.1", "127.0.0.2"].iter().enumerate() {
        let p = PORTS.next();
        agents.push(Proc::spawn(
            "mesos-agent",
            Command::new(&agent_bin)
                .args([
                    &format!("--master={zk}/mesos"),
                    &format!("--work_dir={}", run.join(format!("agent{i}")).display()),
                    &format!("--ip={ip}"),
                    &format!("--hostname={ip}"),
                    &format!("--port={p}"),
                    "--conf_dir=",
                    "--resources=cpus:2;mem:1024;disk:1000;ports:[31000-31100]",
                ])
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(run.join(format!("agent{i}.log"))).unwrap()),
        ));
    }
    let mut marathons = Vec::new();
    let mut urls = Vec::new();
    for i in 0..2 {
        let p = PORTS.next();
        urls.push(format!("127.0.0.1:{p}"));
        marathons.push(Proc::spawn(
            "marathon",
            &mut marathon_cmd(&zk, p, &run.join(format!("marathon{i}.log"))),
        ));
    }
    // Both agents registered; one Marathon leads and the other proxies to it.
    POLL.until(Duration::from_secs(30), "two agents", || {
        let m = master_addr.clone();
        async move {
            let s = http_client::get_json(&m, "/master/slaves").await.ok()?;
            (s["slaves"].as_array()?.len() == 2).then_some(())
        }
    })
    .await;
    let leader = POLL
        .until(Duration::from_secs(30), "a leading Marathon", || {
            let u = urls.clone();
            async move {
                // `/v2/leader` is answered by every instance itself (`/v2/info` is proxied).
                let l = http_client::get_json(&u[0], "/v2/leader").await.ok()?;
                let l = l["leader"].as_str()?.to_string();
                let elected = http_client::get_json(&l, "/metrics").await.ok()?;
                (u.contains(&l)
                    && elected["gauges"]["marathon.leadership.elected.gauge"]["value"] == 1)
                    .then_some(l)
            }
        })
        .await;
    let li = urls.iter().position(|u| *u == leader).unwrap();
    let standby = urls[1 - li].clone();
    let all_urls = urls
        .iter()
        .map(|u| format!("http://{u}"))
        .collect::<Vec<_>>()
        .join(",");
    let mut c = Client::start(&python, &format!("http://{standby}"));

    // Events, from the start.
    let events = http_client::send(
        &leader,
        hyper::Method::GET,
        "/v2/events",
        &[("Accept", "text/event-stream")],
        Default::default(),
    )
    .await
    .unwrap();
    let (etx, mut erx) = tokio::sync::mpsc::unbounded_channel::<String>();
    tokio::spawn(async move {
        use http_body_util::BodyExt;
        let mut body = events.into_body();
        loop {
            let f = body.frame().await;
            let Some(Ok(f)) = f else { break };
            if let Ok(d) = f.into_data() {
                let _ = etx.send(String::from_utf8_lossy(&d).into_owned());
            }
        }
    });

    // The seeds' basic-0 through the standby (proxied), and its output in the sandbox.
    let info = c.ok(json!({"op": "info"}));
    assert_eq!(
        info["elected"], true,
        "answered by the leader through the proxy: {info}"
    );
    let basic = json!({"id": "basic-0", "cmd": "while [ true ] ; do echo 'Hello Marathon' ; sleep 5 ; done",
        "cpus": 0.1, "mem": 10.0, "instances": 1});
    let created = c.ok(json!({"op": "create", "app": basic}));
    assert_eq!(created["id"], "/basic-0");
    let a = POLL
        .until(Duration::from_secs(30), "basic-0 running", || {
            let l = leader.clone();
            async move {
                app(&l, "/basic-0").await.filter(|a| {
                    a["tasksRunning"] == 1 && a["deployments"].as_array().is_some_and(Vec::is_empty)
                })
            }
        })
        .await;
    let task = &a["tasks"][0];
    let fid = http_client::get_json(&leader, "/v2/info").await.unwrap()["frameworkId"]
        .as_str()
        .unwrap()
        .to_string();
    let slaves = http_client::get_json(&master_addr, "/master/slaves")
        .await
        .unwrap();
    let agent = slaves["slaves"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == task["slaveId"])
        .unwrap()
        .clone();
    let agent_addr = format!("{}:{}", agent["hostname"].as_str().unwrap(), agent["port"]);
    let stdout = POLL
        .until(Duration::from_secs(20), "basic-0's stdout", || {
            let path = format!(
                "/files/read?path=/frameworks/{fid}/executors/{}/runs/latest/stdout&offset=0",
                task["id"].as_str().unwrap()
            );
            let aa = agent_addr.clone();
            async move {
                let v = http_client::get_json(&aa, &path).await.ok()?;
                v["data"]
                    .as_str()
                    .filter(|d| d.contains("Hello Marathon"))
                    .map(str::to_string)
            }
        })
        .await;
    assert!(stdout.starts_with("Hello Marathon"));

    // Scale to 3 with hostname UNIQUE on 2 agents: 2 run, 1 waits in the queue.
    let uniq = json!({"id": "/uniq", "cmd": "sleep 300", "cpus": 0.1, "mem": 16, "instances": 1,
        "constraints": [["hostname", "UNIQUE"]]});
    c.ok(json!({"op": "create", "app": uniq}));
    POLL.until(Duration::from_secs(30), "uniq deployed", || {
        let l = leader.clone();
        async move {
            app(&l, "/uniq").await.filter(|a| {
                a["tasksRunning"] == 1 && a["deployments"].as_array().is_some_and(Vec::is_empty)
            })
        }
    })
    .await;
    c.ok(json!({"op": "scale", "id": "/uniq", "instances": 3}));
    let a = POLL
        .until(Duration::from_secs(30), "uniq on both hosts", || {
            let l = leader.clone();
            async move { app(&l, "/uniq").await.filter(|a| a["tasksRunning"] == 2) }
        })
        .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let a2 = app(&leader, "/uniq").await.unwrap();
    assert_eq!(
        a2["tasksRunning"], 2,
        "never placed twice on one host: {a2}"
    );
    let hosts: std::collections::BTreeSet<&str> = a["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["host"].as_str().unwrap())
        .collect();
    assert_eq!(hosts.len(), 2);
    let q = http_client::get_json(&leader, "/v2/queue").await.unwrap();
    assert!(
        q["queue"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["app"]["id"] == "/uniq" && i["count"] == 1),
        "{q}"
    );
    c.ok(json!({"op": "scale", "id": "/uniq", "instances": 2, "force": true}));

    // Groups: dependencies start first; the tree, versions, and deleting a group.
    let group = json!({"id": "/prod", "apps": [
        {"id": "db", "cmd": "sleep 300", "cpus": 0.1, "mem": 16},
        {"id": "web", "cmd": "sleep 300", "cpus": 0.1, "mem": 16, "dependencies": ["db"]}]});
    let r = http_client::post_json(&leader, "/v2/groups", &[], &group)
        .await
        .unwrap();
    assert_eq!(r.status, 201, "{}", r.text());
    let (db, web) = POLL
        .until(Duration::from_secs(30), "the group running", || {
            let l = leader.clone();
            async move {
                let db = app(&l, "/prod/db").await?;
                let web = app(&l, "/prod/web").await?;
                (db["tasksRunning"] == 1 && web["tasksRunning"] == 1).then_some((db, web))
            }
        })
        .await;
    let started_db = db["tasks"][0]["startedAt"].as_str().unwrap().to_string();
    let staged_web = web["tasks"][0]["stagedAt"].as_str().unwrap().to_string();
    assert!(
        started_db <= staged_web,
        "web staged ({staged_web}) before db ran ({started_db})"
    );
    let tree = http_client::get_json(&standby, "/v2/groups").await.unwrap();
    assert_eq!(tree["groups"][0]["id"], "/prod", "{tree}");
    assert_eq!(tree["groups"][0]["apps"].as_array().unwrap().len(), 2);
    let r = http_client::request(
        &standby,
        hyper::Method::PUT,
        "/v2/apps/prod/web",
        &[("Content-Type", "application/json")],
        bytes::Bytes::from(r#"{"cmd": "sleep 301"}"#),
    )
    .await
    .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    let versions = http_client::get_json(&standby, "/v2/apps/prod/web/versions")
        .await
        .unwrap();
    assert_eq!(
        versions["versions"].as_array().unwrap().len(),
        2,
        "{versions}"
    );
    let oldest = versions["versions"][1].as_str().unwrap();
    let old = http_client::get_json(&standby, &format!("/v2/apps/prod/web/versions/{oldest}"))
        .await
        .unwrap();
    assert_eq!(old["cmd"], "sleep 300");
    let r = http_client::request(
        &standby,
        hyper::Method::DELETE,
        "/v2/groups/prod",
        &[],
        Default::default(),
    )
    .await
    .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    POLL.until(Duration::from_secs(30), "the group gone", || {
        let l = leader.clone();
        async move {
            let g = http_client::get_json(&l, "/v2/groups/prod").await;
            let t = http_client::get_json(&l, "/v2/tasks").await.ok()?;
            let left = t["tasks"]
                .as_array()?
                .iter()
                .any(|t| t["appId"].as_str().is_some_and(|a| a.starts_with("/prod/")));
            (g.is_err() && !left).then_some(())
        }
    })
    .await;

    // A health check that starts failing gets its task replaced.
    let hc = json!({"id": "/hc", "cpus": 0.1, "mem": 32, "instances": 1,
        "cmd": "echo ok > ok && exec python3 -m http.server $PORT0 --bind $HOST",
        "healthChecks": [{"protocol": "HTTP", "path": "/ok", "portIndex": 0,
            "gracePeriodSeconds": 10, "intervalSeconds": 1, "timeoutSeconds": 1,
            "maxConsecutiveFailures": 2, "delaySeconds": 0}]});
    c.ok(json!({"op": "create", "app": hc}));
    let first = POLL
        .until(Duration::from_secs(40), "hc healthy", || {
            let l = leader.clone();
            async move {
                let a = app(&l, "/hc").await?;
                (a["tasksHealthy"] == 1).then(|| a["tasks"][0]["id"].as_str().unwrap().to_string())
            }
        })
        .await;
    let a = app(&leader, "/hc").await.unwrap();
    assert_eq!(a["tasks"][0]["healthCheckResults"][0]["alive"], true, "{a}");
    // Break it: remove the file the check fetches, in the task's sandbox.
    let ok_file =
        testkit::find_file(&run, &first, "ok").expect("the task's ok file in its sandbox");
    std::fs::remove_file(&ok_file).unwrap();
    POLL.until(
        Duration::from_secs(40),
        "the unhealthy task replaced by a healthy one",
        || {
            let l = leader.clone();
            let first = first.clone();
            async move {
                let a = app(&l, "/hc").await?;
                let tasks = a["tasks"].as_array()?;
                (a["tasksHealthy"] == 1 && tasks.len() == 1 && tasks[0]["id"] != first.as_str())
                    .then_some(())
            }
        },
    )
    .await;
    c.ok(json!({"op": "delete", "id": "/hc", "force": true}));

    // A plain app of 2: kill -9 the agent running basic-0; its tasks come back elsewhere.
    let web = json!({"id": "/web", "cmd": "sleep 300", "cpus": 0.1, "mem": 16, "instances": 2});
    c.ok(json!({"op": "create", "app": web}));
    POLL.until(Duration::from_secs(30), "web running", || {
        let l = leader.clone();
        async move { app(&l, "/web").await.filter(|a| a["tasksRunning"] == 2) }
    })
    .await;
    let victim_host = agent["hostname"].as_str().unwrap().to_string();
    let vi = if victim_host == "127.0.0.1" { 0 } else { 1 };
    agents[vi].kill();
    POLL.until(
        Duration::from_secs(40),
        "basic-0 and web back on the other agent",
        || {
            let l = leader.clone();
            let vh = victim_host.clone();
            async move {
                for id in ["/basic-0", "/web"] {
                    let a = app(&l, id).await?;
                    let want = a["instances"].as_u64()? as usize;
                    let running: Vec<&Value> = a["tasks"]
                        .as_array()?
                        .iter()
                        .filter(|t| t["state"] == "TASK_RUNNING" && t["host"] != vh.as_str())
                        .collect();
                    if running.len() != want.min(if id == "/web" { 2 } else { 1 }) {
                        return None;
                    }
                }
                Some(())
            }
        },
    )
    .await;

    // kill -9 of the leading Marathon: the standby takes over, and the apps keep their tasks.
    let before = app(&leader, "/web").await.unwrap()["tasks"].clone();
    // An app that cannot be placed keeps its deployment running across the failover.
    let stuck = c.ok(
        json!({"op": "create", "app": {"id": "/stuck", "cmd": "sleep 300", "cpus": 0.1,
        "mem": 16, "constraints": [["hostname", "CLUSTER", "nowhere.invalid"]]}}),
    );
    let stuck_deployment = stuck["deployments"][0].as_str().unwrap().to_string();
    marathons[li].kill();
    let mut c2 = Client::start(&python, &all_urls);
    POLL.until(Duration::from_secs(30), "the standby to lead", || {
        let s = standby.clone();
        async move {
            http_client::get_json(&s, "/v2/info")
                .await
                .ok()
                .filter(|i| i["elected"] == true)
                .map(|_| ())
        }
    })
    .await;
    let after = POLL
        .until(
            Duration::from_secs(30),
            "web reconciled on the new leader",
            || {
                let s = standby.clone();
                async move {
                    app(&s, "/web")
                        .await
                        .filter(|a| a["tasksRunning"] == 2)
                        .map(|a| a["tasks"].clone())
                }
            },
        )
        .await;
    let ids = |v: &Value| -> std::collections::BTreeSet<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|t| t["id"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(ids(&before), ids(&after), "the same tasks, not restarted");
    let listed = c2.ok(json!({"op": "list"}));
    assert_eq!(
        listed.as_array().unwrap().len(),
        4,
        "basic-0, uniq, web and stuck"
    );

    // Restart, invalid JSON, delete.
    c2.ok(json!({"op": "restart", "id": "/web", "force": true}));
    POLL.until(
        Duration::from_secs(40),
        "web restarted with new tasks",
        || {
            let s = standby.clone();
            let old = ids(&after);
            async move {
                let a = app(&s, "/web").await?;
                let now: std::collections::BTreeSet<String> = a["tasks"]
                    .as_array()?
                    .iter()
                    .filter(|t| t["state"] == "TASK_RUNNING")
                    .map(|t| t["id"].as_str().unwrap().to_string())
                    .collect();
                (now.len() == 2 && now.is_disjoint(&old)).then_some(())
            }
        },
    )
    .await;
    let bad = c2.call(json!({"op": "create", "app": {"id": "/bad", "cpus": -1}}));
    assert_eq!(bad["status"], 422, "{bad}");
    let r = http_client::post_json(&standby, "/v2/apps", &[], &json!({"id": "x"}))
        .await
        .unwrap();
    assert_eq!(r.status, 422);
    assert!(r.text().contains("Object is not valid"));
    let deployments = c2.ok(json!({"op": "deployments"}));
    assert!(
        deployments
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["id"] == stuck_deployment.as_str()),
        "the new leader restored the running deployment: {deployments}"
    );
    for id in ["/basic-0", "/uniq", "/web", "/stuck"] {
        c2.ok(json!({"op": "delete", "id": id, "force": true}));
    }
    POLL.until(Duration::from_secs(30), "every task gone", || {
        let s = standby.clone();
        async move {
            let t = http_client::get_json(&s, "/v2/tasks").await.ok()?;
            t["tasks"].as_array()?.is_empty().then_some(())
        }
    })
    .await;

    // Abdication: the killed instance comes back as a standby; the leader steps down to it
    // and stays up as a standby itself.
    let back = urls[li].clone();
    let back_port: u16 = back.rsplit(':').next().unwrap().parse().unwrap();
    marathons[li] = Proc::spawn(
        "marathon",
        &mut marathon_cmd(&zk, back_port, &run.join("marathon-back.log")),
    );
    let leader_seen_by = |addr: String| async move {
        let l = http_client::get_json(&addr, "/v2/leader").await.ok()?;
        l["leader"].as_str().map(str::to_string)
    };
    POLL.until(
        Duration::from_secs(30),
        "the returned instance to see the leader",
        || {
            let (b, s) = (back.clone(), standby.clone());
            async move { (leader_seen_by(b).await? == s).then_some(()) }
        },
    )
    .await;
    let r = http_client::request(
        &standby,
        hyper::Method::DELETE,
        "/v2/leader",
        &[],
        Default::default(),
    )
    .await
    .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    POLL.until(
        Duration::from_secs(30),
        "the returned instance to lead",
        || {
            let (b, s) = (back.clone(), standby.clone());
            async move {
                let elected = http_client::get_json(&b, "/metrics").await.ok()?;
                let led = elected["gauges"]["marathon.leadership.elected.gauge"]["value"] == 1;
                (led && leader_seen_by(s).await? == b).then_some(())
            }
        },
    )
    .await;
    let via_old = http_client::get_json(&standby, "/v2/apps").await.unwrap();
    assert!(
        via_old["apps"].as_array().unwrap().is_empty(),
        "proxied by the abdicated instance"
    );

    // The event stream saw the steps (from the first leader, until it died).
    let mut seen = String::new();
    while let Ok(chunk) = erx.try_recv() {
        seen.push_str(&chunk);
    }
    for ev in [
        "event_stream_attached",
        "api_post_event",
        "deployment_info",
        "status_update_event",
        "deployment_success",
        "health_status_changed_event",
        "unhealthy_task_kill_event",
    ] {
        assert!(seen.contains(&format!("event: {ev}")), "no {ev} in {seen}");
    }

    master.kill();
    for a in &mut agents {
        a.kill();
    }
    drop(marathons);
    // Tasks of the killed agent outlive it by design: stop them by their checkpointed PIDs.
    testkit::kill_checkpointed_tasks(&run.join(format!("agent{vi}")), OURS);
    testkit::kill_checkpointed_tasks(&run.join(format!("agent{}", 1 - vi)), OURS);
    drop(ensemble);
    let _ = std::fs::remove_dir_all(&run);
}

/// The command line of one Marathon instance of this test.
fn marathon_cmd(zk: &str, port: u16, log: &Path) -> Command {
    let mut cmd = Command::new(MARATHON);
    cmd.args([
        "--master",
        &format!("{zk}/mesos"),
        "--zk",
        &format!("{zk}/marathon"),
        "--http_port",
        &port.to_string(),
        "--conf_dir=",
        "--zk_session_timeout",
        "3000",
    ])
    .stdout(Stdio::null())
    .stderr(std::fs::File::create(log).unwrap());
    cmd
}
