//! Marathon on the whole stack, on 127.0.0.1: a 3-server zkrs ensemble, a Mesos master, two
//! agents (127.0.0.1 and 127.0.0.2, so `hostname` constraints see two hosts), two Marathon
//! instances, and marathon-python 0.13 (installed by `scripts/install-marathon-python.sh`)
//! driving the API.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use mesos::http_client;
use serde_json::{json, Value};

const MARATHON: &str = env!("CARGO_BIN_EXE_marathon");

/// A child process killed (SIGKILL) and reaped when dropped.
struct Proc(Option<Child>);

impl Proc {
    fn spawn(cmd: &mut Command) -> Proc {
        Proc(Some(cmd.spawn().expect("spawn")))
    }
    fn kill(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// A binary of the mesos crate, built if needed (same profile and target directory).
fn mesos_bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    let target = exe
        .ancestors()
        .find(|a| a.file_name().is_some_and(|n| n == profile))
        .and_then(Path::parent)
        .unwrap()
        .to_path_buf();
    let bin = target.join(profile).join(name);
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(workspace())
        .args(["build", "-q", "-p", "mesos", "--bin", name])
        .env("CARGO_TARGET_DIR", &target)
        .stdin(Stdio::null());
    if profile == "release" {
        cmd.arg("--release");
    }
    let _ = cmd.status();
    assert!(bin.is_file(), "{} not built", bin.display());
    bin
}

fn port() -> u16 {
    use std::sync::atomic::{AtomicU16, Ordering};
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let _ = NEXT.compare_exchange(
        0,
        15_000 + (std::process::id() % 4_000) as u16,
        Ordering::SeqCst,
        Ordering::SeqCst,
    );
    loop {
        let p = NEXT.fetch_add(1, Ordering::SeqCst);
        if std::net::TcpListener::bind(("127.0.0.1", p)).is_ok()
            && std::net::TcpListener::bind(("127.0.0.2", p)).is_ok()
        {
            return p;
        }
    }
}

async fn until<T, F, Fut>(limit: Duration, what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {limit:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// marathon-python behind a line protocol (marathon/tests/py/client.py).
struct Client {
    _proc: Proc,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Client {
    fn start(python: &Path, urls: &str) -> Client {
        let mut cmd = Command::new(python);
        cmd.arg(workspace().join("marathon/tests/py/client.py"))
            .arg(urls)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut p = Proc::spawn(&mut cmd);
        let child = p.0.as_mut().unwrap();
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

fn python() -> PathBuf {
    let out = Command::new("bash")
        .arg(workspace().join("scripts/install-marathon-python.sh"))
        .stderr(Stdio::inherit())
        .output()
        .expect("scripts/install-marathon-python.sh");
    assert!(
        out.status.success(),
        "scripts/install-marathon-python.sh failed"
    );
    PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
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
    let python = python();
    let run = std::env::temp_dir().join(format!("marathon-e2e-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&run);
    std::fs::create_dir_all(&run).unwrap();
    let _reaper = TaskReaper(run.clone());

    let exe = std::env::current_exe().unwrap();
    let profile = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    let zk_bin = jepsen::cluster::locate_zk_server(&exe, profile).unwrap();
    let ensemble = jepsen::cluster::Ensemble::start(jepsen::cluster::EnsembleOptions::new(
        zk_bin,
        run.join("zk"),
    ))
    .await
    .unwrap();
    ensemble.wait_stable(Duration::from_secs(30)).await.unwrap();
    let zk = format!("zk://{}", ensemble.connect_string(&[1, 2, 3]));

    let master_port = port();
    let master_addr = format!("127.0.0.1:{master_port}");
    let mut master = Proc::spawn(
        Command::new(mesos_bin("mesos-master"))
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
    let agent_bin = mesos_bin("mesos-agent");
    let mut agents = Vec::new();
    for (i, ip) in ["127.0.0.1", "127.0.0.2"].iter().enumerate() {
        let p = port();
        agents.push(Proc::spawn(
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
        let p = port();
        urls.push(format!("127.0.0.1:{p}"));
        marathons.push(Proc::spawn(
            Command::new(MARATHON)
                .args([
                    "--master",
                    &format!("{zk}/mesos"),
                    "--zk",
                    &format!("{zk}/marathon"),
                    "--http_port",
                    &p.to_string(),
                    "--conf_dir=",
                    "--zk_session_timeout",
                    "3000",
                ])
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(run.join(format!("marathon{i}.log"))).unwrap()),
        ));
    }
    // Both agents registered; one Marathon leads and the other proxies to it.
    until(Duration::from_secs(30), "two agents", || {
        let m = master_addr.clone();
        async move {
            let s = http_client::get_json(&m, "/master/slaves").await.ok()?;
            (s["slaves"].as_array()?.len() == 2).then_some(())
        }
    })
    .await;
    let leader = until(Duration::from_secs(30), "a leading Marathon", || {
        let u = urls.clone();
        async move {
            // `/v2/leader` is answered by every instance itself (`/v2/info` is proxied).
            let l = http_client::get_json(&u[0], "/v2/leader").await.ok()?;
            let l = l["leader"].as_str()?.to_string();
            let elected = http_client::get_json(&l, "/metrics").await.ok()?;
            (u.contains(&l) && elected["gauges"]["marathon.leadership.elected.gauge"]["value"] == 1)
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
    let a = until(Duration::from_secs(30), "basic-0 running", || {
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
    let stdout = until(Duration::from_secs(20), "basic-0's stdout", || {
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
    until(Duration::from_secs(30), "uniq deployed", || {
        let l = leader.clone();
        async move {
            app(&l, "/uniq").await.filter(|a| {
                a["tasksRunning"] == 1 && a["deployments"].as_array().is_some_and(Vec::is_empty)
            })
        }
    })
    .await;
    c.ok(json!({"op": "scale", "id": "/uniq", "instances": 3}));
    let a = until(Duration::from_secs(30), "uniq on both hosts", || {
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
    let (db, web) = until(Duration::from_secs(30), "the group running", || {
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
    until(Duration::from_secs(30), "the group gone", || {
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
    let first = until(Duration::from_secs(40), "hc healthy", || {
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
    let ok_file = find_file(&run, &first, "ok").expect("the task's ok file in its sandbox");
    std::fs::remove_file(&ok_file).unwrap();
    until(
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
    until(Duration::from_secs(30), "web running", || {
        let l = leader.clone();
        async move { app(&l, "/web").await.filter(|a| a["tasksRunning"] == 2) }
    })
    .await;
    let victim_host = agent["hostname"].as_str().unwrap().to_string();
    let vi = if victim_host == "127.0.0.1" { 0 } else { 1 };
    agents[vi].kill();
    until(
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
    marathons[li].kill();
    let mut c2 = Client::start(&python, &all_urls);
    until(Duration::from_secs(30), "the standby to lead", || {
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
    let after = until(
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
    assert_eq!(listed.as_array().unwrap().len(), 3);

    // Restart, invalid JSON, delete.
    c2.ok(json!({"op": "restart", "id": "/web", "force": true}));
    until(
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
    for id in ["/basic-0", "/uniq", "/web"] {
        c2.ok(json!({"op": "delete", "id": id, "force": true}));
    }
    until(Duration::from_secs(30), "every task gone", || {
        let s = standby.clone();
        async move {
            let t = http_client::get_json(&s, "/v2/tasks").await.ok()?;
            t["tasks"].as_array()?.is_empty().then_some(())
        }
    })
    .await;

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
    kill_checkpointed_tasks(&run.join(format!("agent{vi}")));
    kill_checkpointed_tasks(&run.join(format!("agent{}", 1 - vi)));
    drop(ensemble);
    let _ = std::fs::remove_dir_all(&run);
}

/// The file `name` in the sandbox of task `task_id`, under `run`.
fn find_file(run: &Path, task_id: &str, name: &str) -> Option<PathBuf> {
    fn walk(dir: &Path, task_id: &str, name: &str, depth: usize) -> Option<PathBuf> {
        if depth > 12 {
            return None;
        }
        for e in std::fs::read_dir(dir).ok()?.flatten() {
            let p = e.path();
            let is_link = e.file_type().is_ok_and(|t| t.is_symlink());
            if p.is_dir() && !is_link {
                if let Some(f) = walk(&p, task_id, name, depth + 1) {
                    return Some(f);
                }
            } else if p.file_name().is_some_and(|n| n == name)
                && p.to_string_lossy().contains(task_id)
                && !p.to_string_lossy().contains("/meta/")
            {
                return Some(p);
            }
        }
        None
    }
    walk(run, task_id, name, 0)
}

/// On drop (also when the test fails), stops the tasks the agents under `run` started.
struct TaskReaper(PathBuf);

impl Drop for TaskReaper {
    fn drop(&mut self) {
        for e in std::fs::read_dir(&self.0).into_iter().flatten().flatten() {
            if e.file_name().to_string_lossy().starts_with("agent") {
                kill_checkpointed_tasks(&e.path());
            }
        }
    }
}

/// SIGKILLs the process groups and processes an agent checkpointed under `work_dir/meta`, when
/// they are still ours (a supervisor or its command).
fn kill_checkpointed_tasks(work_dir: &Path) {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "pid") {
                out.push(p);
            }
        }
    }
    let mut files = Vec::new();
    walk(&work_dir.join("meta"), &mut files);
    for f in files {
        let Some(pid) = std::fs::read_to_string(&f)
            .ok()
            .and_then(|s| s.trim().parse::<i32>().ok())
            .filter(|p| *p > 1)
        else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(
            &std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default(),
        )
        .into_owned();
        if !(cmdline.contains("mesos-agent")
            || cmdline.contains("sleep")
            || cmdline.contains("Hello"))
        {
            continue;
        }
        let pid = nix::unistd::Pid::from_raw(pid);
        let _ = nix::sys::signal::killpg(pid, nix::sys::signal::Signal::SIGKILL);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
    }
}
