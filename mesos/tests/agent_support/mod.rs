//! Test support for the agent's end-to-end tests: a fake master speaking
//! docs/mesos-agent-protocol.md, and a guard that runs the real `mesos-agent` binary and kills
//! it (and every supervisor and task it started) by PID when dropped.

#![allow(dead_code)]

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use serde_json::{json, Value};
use tokio::sync::mpsc;

/// Every wait in these tests ends by this.
pub const DEADLINE: Duration = Duration::from_secs(20);
pub const FRAMEWORK: &str = "F1";

/// One call the agent made.
#[derive(Debug, Clone)]
pub struct Call {
    pub body: Value,
    pub agent_id: Option<String>,
    pub stream_id: Option<String>,
    pub at: Instant,
}

#[derive(Default)]
struct Inner {
    registers: Vec<Value>,
    calls: Vec<Call>,
    stream: Option<mpsc::UnboundedSender<Bytes>>,
    streams: u64,
    /// Tasks whose updates are not acknowledged automatically.
    hold: HashSet<String>,
}

#[derive(Clone)]
pub struct FakeMaster {
    inner: Arc<Mutex<Inner>>,
    pub addr: std::net::SocketAddr,
    pub agent_id: String,
}

fn frame(v: &Value) -> Bytes {
    Bytes::from(mesos::recordio::encode(v.to_string().as_bytes()))
}

async fn api(State(m): State<FakeMaster>, headers: HeaderMap, body: Bytes) -> Response {
    let Ok(call) = serde_json::from_slice::<Value>(&body) else {
        return (StatusCode::BAD_REQUEST, "not JSON").into_response();
    };
    let header = |k: &str| {
        headers
            .get(k)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let ty = call["type"].as_str().unwrap_or("").to_string();
    if ty == "REGISTER" {
        let (tx, rx) = mpsc::unbounded_channel::<Bytes>();
        let agent_id = call
            .pointer("/register/agent_id/value")
            .and_then(Value::as_str)
            .unwrap_or(&m.agent_id)
            .to_string();
        let registered = json!({"type": "REGISTERED", "registered": {
            "agent_id": {"value": agent_id},
            "master_info": {"id": "fake", "ip": 16777343u32, "port": m.addr.port(),
                            "hostname": "fake-master", "version": "1.11.0"},
            "ping_interval_seconds": 2.0}});
        let _ = tx.send(frame(&registered));
        let stream_id = {
            let mut g = m.inner.lock().unwrap();
            g.registers.push(call);
            g.streams += 1;
            g.stream = Some(tx);
            format!("stream-{}", g.streams)
        };
        let body = futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv()
                .await
                .map(|b| (Ok::<_, std::convert::Infallible>(b), rx))
        });
        return ([("Mesos-Stream-Id", stream_id)], Body::from_stream(body)).into_response();
    }
    let mut g = m.inner.lock().unwrap();
    g.calls.push(Call {
        body: call.clone(),
        agent_id: header("Mesos-Agent-Id"),
        stream_id: header("Mesos-Stream-Id"),
        at: Instant::now(),
    });
    if ty == "UPDATE" {
        let status = &call["update"]["status"];
        let task = status["task_id"]["value"]
            .as_str()
            .unwrap_or("")
            .to_string();
        if !g.hold.contains(&task) {
            let ack = ack_event(status);
            if let Some(s) = &g.stream {
                let _ = s.send(frame(&ack));
            }
        }
    }
    StatusCode::ACCEPTED.into_response()
}

pub fn ack_event(status: &Value) -> Value {
    json!({"type": "ACKNOWLEDGE", "acknowledge": {"framework_id": {"value": FRAMEWORK},
        "task_id": status["task_id"], "uuid": status["uuid"]}})
}

impl FakeMaster {
    /// Starts the fake master on 127.0.0.1:0; it PINGs its current stream every 2 s.
    pub async fn start() -> FakeMaster {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let m = FakeMaster {
            inner: Arc::new(Mutex::new(Inner::default())),
            addr: listener.local_addr().unwrap(),
            agent_id: "fake-master-S0".into(),
        };
        let app = Router::new()
            .route("/api/v1/agent", post(api))
            .with_state(m.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        let pinger = m.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(2));
            loop {
                tick.tick().await;
                pinger.send(json!({"type": "PING", "ping": {}}));
            }
        });
        m
    }

    /// Sends an event on the current stream.
    pub fn send(&self, event: Value) {
        if let Some(s) = &self.inner.lock().unwrap().stream {
            let _ = s.send(frame(&event));
        }
    }

    /// Ends the current stream (the agent sees it close).
    pub fn close_stream(&self) {
        self.inner.lock().unwrap().stream = None;
    }

    pub fn hold(&self, task: &str) {
        self.inner.lock().unwrap().hold.insert(task.to_string());
    }

    pub fn release(&self, task: &str) {
        self.inner.lock().unwrap().hold.remove(task);
    }

    pub fn registers(&self) -> Vec<Value> {
        self.inner.lock().unwrap().registers.clone()
    }

    pub fn calls(&self) -> Vec<Call> {
        self.inner.lock().unwrap().calls.clone()
    }

    /// The statuses of `task` as they arrived (resends included).
    pub fn updates(&self, task: &str) -> Vec<Value> {
        self.calls()
            .into_iter()
            .filter(|c| c.body["type"] == "UPDATE")
            .map(|c| c.body["update"]["status"].clone())
            .filter(|s| s["task_id"]["value"] == task)
            .collect()
    }

    /// The distinct states of `task`, in order.
    pub fn states(&self, task: &str) -> Vec<String> {
        let mut seen = HashSet::new();
        self.updates(task)
            .into_iter()
            .filter(|s| seen.insert(s["uuid"].as_str().unwrap_or("").to_string()))
            .map(|s| s["state"].as_str().unwrap_or("").to_string())
            .collect()
    }

    pub async fn wait_for<T>(&self, what: &str, mut f: impl FnMut(&FakeMaster) -> Option<T>) -> T {
        let end = Instant::now() + DEADLINE;
        loop {
            if let Some(v) = f(self) {
                return v;
            }
            assert!(Instant::now() < end, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn wait_registers(&self, n: usize) -> Value {
        self.wait_for(&format!("REGISTER #{n}"), |m| {
            m.registers().get(n - 1).cloned()
        })
        .await
    }

    /// Waits for a status of `task` in `state` and returns it.
    pub async fn wait_state(&self, task: &str, state: &str) -> Value {
        self.wait_for(&format!("{task} {state}"), |m| {
            m.updates(task).into_iter().find(|s| s["state"] == state)
        })
        .await
    }

    pub fn run_task(&self, agent_id: &str, task: Value) {
        let mut task = task;
        task["agent_id"] = json!({ "value": agent_id });
        self.send(json!({"type": "RUN_TASK", "run_task": {
            "framework_info": {"id": {"value": FRAMEWORK}, "name": "test-fw", "user": "root"},
            "task": task}}));
    }

    pub fn kill_task(&self, task: &str, grace: Option<Duration>) {
        let mut kill = json!({"framework_id": {"value": FRAMEWORK}, "task_id": {"value": task}});
        if let Some(g) = grace {
            kill["kill_policy"] = json!({"grace_period": {"nanoseconds": g.as_nanos() as u64}});
        }
        self.send(json!({"type": "KILL_TASK", "kill_task": kill}));
    }
}

/// A command task using 0.1 cpus, 32 MB and two ports.
pub fn command_task(id: &str, command: &str) -> Value {
    json!({"name": id, "task_id": {"value": id},
        "command": {"value": command},
        "resources": [
            {"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.1}},
            {"name": "mem", "type": "SCALAR", "scalar": {"value": 32}},
            {"name": "ports", "type": "RANGES", "ranges": {"range": [{"begin": 31000, "end": 31001}]}}]})
}

pub use testkit::free_port;

pub fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("agent-e2e-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The real agent binary. Dropping it kills the agent, and every supervisor and task the
/// work directory records, by PID.
pub struct Agent {
    child: Option<Child>,
    pub work_dir: PathBuf,
    pub port: u16,
    log: PathBuf,
}

impl Agent {
    pub fn start(master: &FakeMaster, work_dir: &Path, port: u16, extra: &[&str]) -> Agent {
        Agent::start_with_master(&master.addr.to_string(), work_dir, port, extra)
    }

    pub fn start_with_master(master: &str, work_dir: &Path, port: u16, extra: &[&str]) -> Agent {
        let log = work_dir.with_extension(format!(
            "log.{}",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_millis()
        ));
        let child = Command::new(env!("CARGO_BIN_EXE_mesos-agent"))
            .arg(format!("--master={master}"))
            .arg(format!("--work_dir={}", work_dir.display()))
            .arg(format!("--port={port}"))
            .arg("--ip=127.0.0.1")
            .arg("--resources=cpus:2;mem:1024;disk:1000;ports:[31000-31100]")
            .arg("--attributes=rack:r1;level:2")
            .arg("--registration_backoff_factor=100ms")
            .arg("--conf_dir=")
            .args(extra)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("start mesos-agent");
        Agent {
            child: Some(child),
            work_dir: work_dir.to_path_buf(),
            port,
            log,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// SIGKILL, as a crash would.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Waits (bounded) for the agent to exit by itself.
    pub async fn wait_exit(&mut self) -> std::process::ExitStatus {
        let end = Instant::now() + DEADLINE;
        loop {
            if let Some(s) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                self.child = None;
                return s;
            }
            assert!(
                Instant::now() < end,
                "the agent did not exit:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// A GET on the agent's HTTP port: (status, body).
    pub async fn get(&self, path_and_query: &str) -> (u16, String) {
        http_get(self.port, path_and_query).await
    }
}

pub async fn http_get(port: u16, path_and_query: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect to the agent");
    s.write_all(
        format!("GET {path_and_query} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            .as_bytes(),
    )
    .await
    .unwrap();
    let mut buf = Vec::new();
    tokio::time::timeout(DEADLINE, s.read_to_end(&mut buf))
        .await
        .expect("HTTP timeout")
        .unwrap();
    let text = String::from_utf8_lossy(&buf).to_string();
    let status: u16 = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_string()
    };
    (status, body)
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((len, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(len.trim(), 16).unwrap_or(0);
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].trim_start_matches("\r\n");
    }
    out
}

pub async fn wait_http(port: u16) {
    let end = Instant::now() + DEADLINE;
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(Instant::now() < end, "the agent never listened on {port}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Every file named `name` under `dir`.
pub fn find_files(dir: &Path, name: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_symlink() {
            continue;
        }
        if p.is_dir() {
            out.extend(find_files(&p, name));
        } else if p.file_name().is_some_and(|n| n == name) {
            out.push(p);
        }
    }
    out
}

pub fn pid_alive(pid: i32) -> bool {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .unwrap_or_default()
            .rsplit_once(')')
            .is_some_and(|(_, r)| r.trim_start().starts_with('Z'))
}

impl Drop for Agent {
    fn drop(&mut self) {
        self.kill9();
        let meta = self.work_dir.join("meta");
        for f in find_files(&meta, "command.pid") {
            if let Some(pid) = std::fs::read_to_string(&f)
                .ok()
                .and_then(|s| s.trim().parse::<i32>().ok())
            {
                let _ = nix::sys::signal::killpg(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
        }
        for f in find_files(&meta, "forked.pid") {
            if let Some(pid) = std::fs::read_to_string(&f)
                .ok()
                .and_then(|s| s.trim().parse::<i32>().ok())
            {
                if std::fs::read(format!("/proc/{pid}/cmdline"))
                    .is_ok_and(|c| String::from_utf8_lossy(&c).contains("--supervise="))
                {
                    let _ = nix::sys::signal::kill(
                        nix::unistd::Pid::from_raw(pid),
                        nix::sys::signal::Signal::SIGKILL,
                    );
                }
            }
        }
        if std::thread::panicking() {
            eprintln!(
                "---- agent log ({}) ----\n{}",
                self.log.display(),
                self.log()
            );
        } else {
            let _ = std::fs::remove_file(&self.log);
        }
    }
}
