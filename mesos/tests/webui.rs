//! The master's web UI in a real headless browser.
//!
//! Starts the real `mesos-master` (standalone: no ZooKeeper, it leads at once), builds a live
//! cluster through the real HTTP APIs (a fake agent on `/api/v1/agent`, a framework on
//! `/api/v1/scheduler` that launches two tasks), then drives Debian's chromium through
//! chromedriver (the W3C WebDriver HTTP protocol, spoken by `testkit::WebDriver`) and checks
//! what the page shows, including a change that arrives while the page stays loaded.
//!
//! Needs `chromium` and `chromium-driver`: `scripts/install-chromium.sh` installs them (apt-get).
//! Leaves a screenshot in `$CARGO_TARGET_DIR/webui-screenshot.png` (default `target/`).

use std::future::Future;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use mesos::recordio::Decoder;
use serde_json::{json, Value};
use testkit::{Poll, Proc, WebDriver};
use tokio::sync::mpsc;

/// Every single wait in this test is bounded by this.
const WAIT: Duration = Duration::from_secs(30);

type Http = Client<HttpConnector, Full<Bytes>>;

/// Waits poll every 100 ms.
const POLL: Poll = Poll::every(Duration::from_millis(100));

// ---------------------------------------------------------------- processes and files

/// A scratch directory removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let p = std::env::temp_dir().join(format!("{tag}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&p).expect("creating a temp dir");
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

use testkit::free_port;

// ---------------------------------------------------------------- small codecs

/// Base64 (standard alphabet, padded): status update uuids are base64 of 16 bytes, and
/// WebDriver screenshots come as base64 PNG.
fn b64_encode(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in bytes.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn new_uuid() -> String {
    b64_encode(uuid::Uuid::new_v4().as_bytes())
}

// ---------------------------------------------------------------- HTTP

fn http_client() -> Http {
    Client::builder(TokioExecutor::new()).build_http()
}

async fn bounded<T>(what: &str, f: impl Future<Output = T>) -> T {
    tokio::time::timeout(WAIT, f)
        .await
        .unwrap_or_else(|_| panic!("timed out after {WAIT:?}: {what}"))
}

async fn send(
    http: &Http,
    method: Method,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<&Value>,
) -> Response<Incoming> {
    let mut b = Request::builder().method(method.clone()).uri(url);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    let body = match body {
        Some(v) => {
            b = b.header("Content-Type", "application/json");
            Full::new(Bytes::from(v.to_string()))
        }
        None => Full::new(Bytes::new()),
    };
    let req = b.body(body).expect("a valid request");
    bounded(&format!("{method} {url}"), http.request(req))
        .await
        .unwrap_or_else(|e| panic!("{method} {url}: {e:?}"))
}

async fn body_text(resp: Response<Incoming>) -> String {
    let bytes = bounded("reading a response body", resp.into_body().collect())
        .await
        .expect("reading a response body")
        .to_bytes();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// A call that must be answered 202 (agent and scheduler calls after subscribing).
async fn call_202(http: &Http, url: &str, headers: &[(&str, &str)], call: &Value) {
    let resp = send(http, Method::POST, url, headers, Some(call)).await;
    let status = resp.status();
    let text = body_text(resp).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{call} -> {status}: {text}");
}

/// Opens a v1 event stream (REGISTER or SUBSCRIBE): the stream id, and a channel of the
/// stream's events, fed by a task that decodes RecordIO.
async fn open_stream(http: &Http, url: &str, call: &Value) -> (String, mpsc::Receiver<Value>) {
    let resp = send(http, Method::POST, url, &[], Some(call)).await;
    let status = resp.status();
    if status != StatusCode::OK {
        panic!("{call} -> {status}: {}", body_text(resp).await);
    }
    let stream_id = resp
        .headers()
        .get("Mesos-Stream-Id")
        .and_then(|v| v.to_str().ok())
        .expect("a Mesos-Stream-Id header")
        .to_string();
    let (tx, rx) = mpsc::channel(1024);
    let mut body = resp.into_body();
    tokio::spawn(async move {
        let mut dec = Decoder::new();
        while let Some(Ok(frame)) = body.frame().await {
            let Ok(data) = frame.into_data() else {
                continue;
            };
            dec.feed(&data);
            while let Ok(Some(rec)) = dec.next_record(16 << 20) {
                let v: Value = serde_json::from_slice(&rec).expect("stream events are JSON");
                if tx.send(v).await.is_err() {
                    return;
                }
            }
        }
    });
    (stream_id, rx)
}

/// The next event of `ty` on a stream, skipping others (after handing them to `other`).
async fn next_event(
    rx: &mut mpsc::Receiver<Value>,
    ty: &str,
    mut other: impl FnMut(&Value),
) -> Value {
    bounded(&format!("waiting for a {ty} event"), async {
        loop {
            let ev = rx
                .recv()
                .await
                .unwrap_or_else(|| panic!("stream ended before {ty}"));
            if ev["type"] == ty {
                return ev;
            }
            other(&ev);
        }
    })
    .await
}

// ---------------------------------------------------------------- the fake agent

/// Acts as an agent over `/api/v1/agent`: REGISTER, then UPDATE calls with `Mesos-Agent-Id`
/// and `Mesos-Stream-Id`, as `docs/mesos-agent-protocol.md` says.
struct FakeAgent {
    http: Http,
    url: String,
    id: String,
    stream_id: String,
    events: mpsc::Receiver<Value>,
}

impl FakeAgent {
    async fn register(http: &Http, master: &str, hostname: &str) -> FakeAgent {
        let url = format!("{master}/api/v1/agent");
        let scalar =
            |name: &str, v: f64| json!({"name": name, "type": "SCALAR", "scalar": {"value": v}});
        let call = json!({"type": "REGISTER", "register": {
            "agent_info": {
                "hostname": hostname,
                "port": 5051,
                "resources": [
                    scalar("cpus", 4.0), scalar("mem", 8192.0), scalar("disk", 20480.0),
                    {"name": "ports", "type": "RANGES", "ranges": {"range": [{"begin": 31000, "end": 32000}]}}
                ],
                "attributes": [
                    {"name": "rack", "type": "TEXT", "text": {"value": "r1"}},
                    // Untrusted text: the page must show it, not run it.
                    {"name": "note", "type": "TEXT",
                     "text": {"value": "<img src=x onerror=\"window.__xss=1\">"}}
                ]
            },
            "version": "1.11.0",
            "capabilities": [{"type": "MULTI_ROLE"}],
            "containerizers": ["mesos"]
        }});
        let (stream_id, mut events) = open_stream(http, &url, &call).await;
        let reg = next_event(&mut events, "REGISTERED", |_| {}).await;
        let id = reg["registered"]["agent_id"]["value"]
            .as_str()
            .expect("REGISTERED carries agent_id")
            .to_string();
        FakeAgent {
            http: http.clone(),
            url,
            id,
            stream_id,
            events,
        }
    }

    async fn call(&self, call: &Value) {
        let headers = [
            ("Mesos-Agent-Id", self.id.as_str()),
            ("Mesos-Stream-Id", self.stream_id.as_str()),
        ];
        call_202(&self.http, &self.url, &headers, call).await;
    }

    /// Handles what it must on the way (PING gets a PONG), returns the next event of `ty`.
    async fn next(&mut self, ty: &str) -> Value {
        let mut pings = 0;
        let ev = next_event(&mut self.events, ty, |ev| {
            if ev["type"] == "PING" {
                pings += 1;
            }
        })
        .await;
        for _ in 0..pings {
            self.call(&json!({"type": "PONG"})).await;
        }
        ev
    }

    /// Sends one status update and waits for the master to forward its acknowledgement, as a
    /// real agent does before sending the task's next update.
    async fn update(&mut self, task_id: &str, state: &str) {
        let uuid = new_uuid();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        let status = json!({
            "task_id": {"value": task_id},
            "state": state,
            "uuid": uuid,
            "timestamp": now,
            "source": "SOURCE_EXECUTOR",
            "agent_id": {"value": self.id},
            "executor_id": {"value": task_id},
            "message": format!("{state} (from the web UI test's fake agent)"),
        });
        self.call(&json!({"type": "UPDATE", "update": {"status": status}}))
            .await;
        loop {
            let ack = self.next("ACKNOWLEDGE").await;
            if ack["acknowledge"]["uuid"] == uuid.as_str() {
                return;
            }
        }
    }
}

// ---------------------------------------------------------------- the framework

/// A v1 scheduler that acknowledges every status update it gets (in a background task), so
/// terminal tasks move to the completed list.
struct Framework {
    id: String,
    stream_id: String,
    events: mpsc::Receiver<Value>,
}

async fn subscribe_framework(http: &Http, master: &str, name: &str) -> Framework {
    let url = format!("{master}/api/v1/scheduler");
    let call = json!({"type": "SUBSCRIBE", "subscribe": {"framework_info": {
        "name": name, "user": "root", "roles": ["web"], "hostname": "scheduler.webui.test",
        "capabilities": [{"type": "MULTI_ROLE"}]
    }}});
    let (stream_id, mut raw) = open_stream(http, &url, &call).await;
    let sub = next_event(&mut raw, "SUBSCRIBED", |_| {}).await;
    let id = sub["subscribed"]["framework_id"]["value"]
        .as_str()
        .expect("SUBSCRIBED carries framework_id")
        .to_string();
    let (tx, events) = mpsc::channel(1024);
    let (h, u, fid, sid) = (http.clone(), url.clone(), id.clone(), stream_id.clone());
    tokio::spawn(async move {
        while let Some(ev) = raw.recv().await {
            if ev["type"] == "UPDATE" {
                let st = &ev["update"]["status"];
                if let Some(uuid) = st["uuid"].as_str() {
                    let ack = json!({"type": "ACKNOWLEDGE", "framework_id": {"value": fid},
                        "acknowledge": {"agent_id": st["agent_id"], "task_id": st["task_id"],
                                        "uuid": uuid}});
                    call_202(&h, &u, &[("Mesos-Stream-Id", sid.as_str())], &ack).await;
                }
            }
            if tx.send(ev).await.is_err() {
                return;
            }
        }
    });
    Framework {
        id,
        stream_id,
        events,
    }
}

// ---------------------------------------------------------------- a non-leading master

/// Serves the UI the way a master that does not lead does (see `master/http.rs`): the page
/// itself, 307 to the leader for `/master/state` and `/master/redirect`, and its own
/// `/metrics/snapshot` with `master/elected` 0. Standalone masters always lead, so this is how
/// the test sees the page on a follower without a ZooKeeper ensemble.
async fn start_follower(leader: String) -> (u16, tokio::task::JoinHandle<()>) {
    use axum::http::header;
    use axum::response::IntoResponse;
    use axum::routing::get;
    const INDEX: &str = include_str!("../src/master/ui/index.html");
    let to = |path: &'static str| {
        let location = format!("{leader}{path}");
        move || async move {
            (
                StatusCode::TEMPORARY_REDIRECT,
                [(header::LOCATION, location)],
                "This master is not the leader",
            )
                .into_response()
        }
    };
    let app = axum::Router::new()
        .route(
            "/",
            get(|| async { ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], INDEX) }),
        )
        .route("/master/state", get(to("/master/state")))
        .route("/master/redirect", get(to("")))
        .route(
            "/metrics/snapshot",
            get(|| async { axum::Json(json!({"master/elected": 0.0})) }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binding the follower's port");
    let port = listener.local_addr().expect("local addr").port();
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (port, task)
}

// ---------------------------------------------------------------- the test

fn screenshot_path() -> PathBuf {
    testkit::target_file("webui-screenshot.png")
}

#[test]
fn web_ui_shows_the_live_cluster_in_headless_chromium() {
    testkit::install_chromium();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    rt.block_on(scenario());
}

async fn scenario() {
    let work = TempDir::new("webui-test");
    let http = http_client();

    // The master: standalone, on loopback, reading no flag files.
    let port = free_port();
    let master_url = format!("http://127.0.0.1:{port}");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mesos-master"));
    cmd.args([
        "--ip=127.0.0.1".to_string(),
        format!("--port={port}"),
        "--conf_dir=".to_string(),
        format!("--work_dir={}", work.0.join("master").display()),
        "--allocation_interval=100ms".to_string(),
        "--cluster=webui-test-cluster".to_string(),
    ]);
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("MESOS_") {
            cmd.env_remove(k);
        }
    }
    let mut master = Proc::spawn_group("mesos-master", &mut cmd);
    let deadline = Instant::now() + WAIT;
    loop {
        master.assert_alive();
        let req = Request::get(format!("{master_url}/health"))
            .body(Full::new(Bytes::new()))
            .expect("request");
        if let Ok(Ok(r)) = tokio::time::timeout(Duration::from_secs(2), http.request(req)).await {
            if r.status().is_success() {
                break;
            }
        }
        assert!(
            Instant::now() < deadline,
            "the master did not answer /health within {WAIT:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // A live cluster: one agent, one framework, two tasks.
    let agent_host = "agent-1.webui.test";
    let mut agent = FakeAgent::register(&http, &master_url, agent_host).await;
    let fw_name = "webui-test-framework";
    let mut fw = subscribe_framework(&http, &master_url, fw_name).await;
    let offers = next_event(&mut fw.events, "OFFERS", |_| {}).await;
    let offer = &offers["offers"]["offers"][0];
    assert_eq!(offer["agent_id"]["value"], agent.id.as_str(), "{offers}");
    let task = |id: &str, name: &str| {
        json!({"name": name, "task_id": {"value": id}, "agent_id": {"value": agent.id},
               "resources": [
                   {"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.5}},
                   {"name": "mem", "type": "SCALAR", "scalar": {"value": 128.0}}],
               "command": {"value": "sleep 1000"}})
    };
    let (running, finished) = ("webui-task-running", "webui-task-finished");
    let accept = json!({"type": "ACCEPT", "framework_id": {"value": fw.id}, "accept": {
        "offer_ids": [offer["id"]],
        "operations": [{"type": "LAUNCH", "launch": {"task_infos": [
            task(running, "long sleeper"), task(finished, "short job")]}}],
        "filters": {"refuse_seconds": 3600.0}
    }});
    call_202(
        &http,
        &format!("{master_url}/api/v1/scheduler"),
        &[("Mesos-Stream-Id", fw.stream_id.as_str())],
        &accept,
    )
    .await;
    let mut launched = Vec::new();
    for _ in 0..2 {
        let ev = agent.next("RUN_TASK").await;
        launched.push(
            ev["run_task"]["task"]["task_id"]["value"]
                .as_str()
                .unwrap_or("")
                .to_string(),
        );
    }
    launched.sort();
    assert_eq!(launched, [finished, running]);
    agent.update(running, "TASK_RUNNING").await;
    agent.update(finished, "TASK_RUNNING").await;
    agent.update(finished, "TASK_FINISHED").await;

    // A framework that came and went: it is listed under the completed frameworks.
    let gone_name = "webui-gone-framework";
    let gone = subscribe_framework(&http, &master_url, gone_name).await;
    call_202(
        &http,
        &format!("{master_url}/api/v1/scheduler"),
        &[("Mesos-Stream-Id", gone.stream_id.as_str())],
        &json!({"type": "TEARDOWN", "framework_id": {"value": gone.id}}),
    )
    .await;

    // The browser.
    let profile = TempDir::new("webui-chromium-profile");
    let driver_port = free_port();
    let mut driver_proc = Proc::spawn_group(
        "chromedriver",
        Command::new("chromedriver")
            .arg(format!("--port={driver_port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdout(Stdio::null()),
    );
    driver_proc.assert_alive();
    let wd = WebDriver::start(driver_port, &profile.0, "1400,1100", WAIT).await;
    wd.goto(&format!("{master_url}/")).await;

    let agent_row = wd.wait_row("agents-table", &[agent_host, &agent.id]).await;
    assert!(agent_row.contains("active"), "agent row: {agent_row}");
    assert!(agent_row.contains("rack: r1"), "agent row: {agent_row}");
    assert!(
        agent_row.contains("<img src=x"),
        "untrusted attribute text is shown as text: {agent_row}"
    );
    let fw_row = wd.wait_row("frameworks-table", &[fw_name, &fw.id]).await;
    assert!(
        fw_row.contains("web"),
        "framework row shows its role: {fw_row}"
    );
    wd.wait_row(
        "tasks-table",
        &[running, "TASK_RUNNING", agent_host, fw_name],
    )
    .await;
    wd.wait_row("completed-tasks-table", &[finished, "TASK_FINISHED"])
        .await;
    wd.wait_row("completed-frameworks-table", &[gone_name, &gone.id])
        .await;
    let tasks = wd.rows("tasks-table").await;
    assert!(
        !tasks.iter().any(|r| r.contains(finished)),
        "the finished task left the active tasks: {tasks:#?}"
    );

    let leader = wd.text("leader").await;
    let pid = format!("master@127.0.0.1:{port}");
    assert!(leader.contains(&pid), "leader section: {leader}");
    assert!(leader.contains("1.11.0"), "leader section: {leader}");
    assert_eq!(wd.text("cluster").await, "webui-test-cluster");
    assert_eq!(wd.text("status").await, "leading");
    let resources = wd.text("resources-table").await;
    assert!(resources.contains("8.0 GB"), "resources: {resources}");

    // The sandbox link points at the agent's /files/read for the executor's latest run.
    let href = wd
        .js(
            "var r = document.querySelector('#tasks-table tr[data-task-id=\"' + arguments[0] + '\"]');\
             var a = r && r.querySelector('a');\
             return a ? a.href : null;",
            json!([running]),
        )
        .await;
    let want = format!(
        "http://{agent_host}:5051/files/read?path=%2Fframeworks%2F{}%2Fexecutors%2F{running}%2Fruns%2Flatest%2Fstdout&offset=0",
        fw.id
    );
    assert_eq!(href, want.as_str());

    // Nothing from the JSON ran as markup.
    let xss = wd
        .js(
            "return [window.__xss === undefined, document.querySelectorAll('main img').length];",
            json!([]),
        )
        .await;
    assert_eq!(xss, json!([true, 0]), "untrusted text was injected as HTML");

    wd.screenshot(&screenshot_path()).await;

    // A later change shows up without reloading: mark the window, finish the running task,
    // and wait for the page to move it to the completed tasks with the mark still there.
    wd.js("window.__webuiMark = 'same page'; return null;", json!([]))
        .await;
    agent.update(running, "TASK_FINISHED").await;
    wd.wait_row("completed-tasks-table", &[running, "TASK_FINISHED"])
        .await;
    let w = &wd;
    POLL.until(
        WAIT,
        "the running task to leave the active tasks",
        || async move {
            let rows = w.rows("tasks-table").await;
            (!rows.iter().any(|r| r.contains(running))).then_some(())
        },
    )
    .await;
    let mark = wd.js("return window.__webuiMark || null;", json!([])).await;
    assert_eq!(mark, "same page", "the page was reloaded");
    assert!(wd.text("last-updated").await.starts_with("updated "));

    // On a master that does not lead: a banner with a link that reaches the leader.
    let (follower_port, follower) = start_follower(master_url.clone()).await;
    wd.goto(&format!("http://127.0.0.1:{follower_port}/")).await;
    wd.wait_text("status", "not leader").await;
    let banner = wd.text("banner").await;
    assert!(
        banner.contains("This master is not the leader"),
        "banner: {banner}"
    );
    wd.screenshot(&screenshot_path().with_file_name("webui-screenshot-follower.png"))
        .await;
    wd.click_now("#leader-link").await;
    wd.wait_text("status", "leading").await;
    let url = wd.current_url().await;
    assert!(url.starts_with(&master_url), "the leader link led to {url}");
    follower.abort();

    // The master goes away: the page says so and keeps the last data it had.
    master.assert_alive();
    drop(master);
    wd.wait_text("status", "unreachable").await;
    wd.wait_row("agents-table", &[agent_host]).await;
    let banner = wd.text("banner").await;
    assert!(banner.contains("Update failed"), "banner: {banner}");

    wd.quit().await;
    drop(driver_proc);
    drop(fw);
}
