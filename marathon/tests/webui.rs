//! Marathon's web UI (`/`, `src/ui/index.html`) in a real headless browser, on the whole stack:
//! a 3-server zkrs ensemble, a Mesos master, two agents (127.0.0.1 and 127.0.0.2, on one port so
//! the page's sandbox links can name it with `?agent_port=`), and one Marathon.
//!
//! Debian's chromium is driven through chromedriver (W3C WebDriver, JSON over HTTP, spoken with
//! `mesos::http_client`) the way a user would: create an app through the form and one through
//! the JSON mode, see Marathon's 422 details, scale (and force a scale past a stuck
//! deployment), open the task list and its sandbox links, restart, destroy.
//!
//! Needs `chromium` and `chromium-driver`: `scripts/install-chromium.sh` installs them (apt-get).
//! Leaves screenshots in `$CARGO_TARGET_DIR` (default `target/`): `marathon-webui.png` (the app
//! list), `marathon-webui-detail.png` (an app's tasks), `marathon-webui-form.png` (the create
//! form) and `marathon-webui-error.png` (a 422).

use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::Method;
use mesos::http_client;
use serde_json::{json, Value};

const MARATHON: &str = env!("CARGO_BIN_EXE_marathon");

/// Every single wait in this test is bounded by this.
const WAIT: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------- processes and files

/// A child started in its own process group; dropping it kills that group (the process and
/// whatever it started, e.g. chromedriver's chromium) by the child's PID, then reaps it.
struct Proc {
    name: &'static str,
    child: Child,
}

impl Proc {
    fn spawn(name: &'static str, cmd: &mut Command) -> Proc {
        use std::os::unix::process::CommandExt;
        for (k, _) in std::env::vars_os() {
            let k2 = k.to_string_lossy();
            if k2.starts_with("MESOS_") || k2.starts_with("MARATHON_") {
                cmd.env_remove(k);
            }
        }
        let child = cmd
            .process_group(0)
            .stdin(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {name}: {e}"));
        Proc { name, child }
    }

    fn assert_alive(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!("{} exited early: {status}", self.name);
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        // The group id is the child's PID (process_group(0)).
        let _ = nix::sys::signal::killpg(pid, nix::sys::signal::Signal::SIGKILL);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// On drop (also when the test fails), stops the tasks the agents under `run` started, and
/// removes `run`.
struct TaskReaper(PathBuf);

impl Drop for TaskReaper {
    fn drop(&mut self) {
        for e in std::fs::read_dir(&self.0).into_iter().flatten().flatten() {
            if e.file_name().to_string_lossy().starts_with("agent") {
                kill_checkpointed_tasks(&e.path());
            }
        }
        let _ = std::fs::remove_dir_all(&self.0);
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
        if !(cmdline.contains("mesos-agent") || cmdline.contains("sleep")) {
            continue;
        }
        let pid = nix::unistd::Pid::from_raw(pid);
        let _ = nix::sys::signal::killpg(pid, nix::sys::signal::Signal::SIGKILL);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
    }
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the marathon crate lives in the workspace")
        .to_path_buf()
}

fn profile() -> &'static str {
    if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    }
}

/// A binary of the mesos crate, built if needed (same profile and target directory).
fn mesos_bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test's path");
    let target = exe
        .ancestors()
        .find(|a| a.file_name().is_some_and(|n| n == profile()))
        .and_then(Path::parent)
        .expect("the test runs from a target directory")
        .to_path_buf();
    let bin = target.join(profile()).join(name);
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(workspace())
        .args(["build", "-q", "-p", "mesos", "--bin", name])
        .env("CARGO_TARGET_DIR", &target)
        .stdin(Stdio::null());
    if profile() == "release" {
        cmd.arg("--release");
    }
    let _ = cmd.status();
    assert!(bin.is_file(), "{} not built", bin.display());
    bin
}

/// A port free on both 127.0.0.1 and 127.0.0.2 a moment ago, below the ephemeral range.
fn port() -> u16 {
    use std::sync::atomic::{AtomicU16, Ordering};
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let _ = NEXT.compare_exchange(
        0,
        11_000 + (std::process::id() % 4_000) as u16,
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

fn install_chromium() {
    let script = workspace().join("scripts/install-chromium.sh");
    let out = Command::new("bash")
        .arg(&script)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", script.display()));
    assert!(
        out.status.success(),
        "{} failed ({}); the web UI test needs Debian's chromium and chromium-driver.\n\
         stdout:\n{}\nstderr:\n{}",
        script.display(),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn screenshot_path(name: &str) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("target"))
        .join(name)
}

/// Polls `probe` every 200 ms until it yields a value, for at most [`WAIT`].
async fn until<T, F, Fut>(what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {WAIT:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn b64_decode(s: &str) -> Vec<u8> {
    let val = |c: u8| -> u32 {
        match c {
            b'A'..=b'Z' => u32::from(c - b'A'),
            b'a'..=b'z' => u32::from(c - b'a') + 26,
            b'0'..=b'9' => u32::from(c - b'0') + 52,
            b'+' => 62,
            b'/' => 63,
            _ => panic!("not base64: {:?}", c as char),
        }
    };
    let clean: Vec<u8> = s
        .bytes()
        .filter(|b| !b.is_ascii_whitespace() && *b != b'=')
        .collect();
    let mut out = Vec::with_capacity(clean.len() * 3 / 4);
    for c in clean.chunks(4) {
        let mut n = 0u32;
        for (i, b) in c.iter().enumerate() {
            n |= val(*b) << (18 - 6 * i);
        }
        for i in 0..c.len().saturating_sub(1) {
            out.push((n >> (16 - 8 * i)) as u8);
        }
    }
    out
}

// ---------------------------------------------------------------- WebDriver

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// Just enough of the W3C WebDriver protocol, over HTTP to chromedriver.
struct WebDriver {
    addr: String,
    session: String,
}

impl WebDriver {
    async fn cmd(addr: &str, method: Method, path: &str, body: Option<&Value>) -> Value {
        let (headers, bytes) = match body {
            Some(b) => (
                vec![("Content-Type", "application/json")],
                Bytes::from(b.to_string()),
            ),
            None => (vec![], Bytes::new()),
        };
        let r = http_client::request(addr, method.clone(), path, &headers, bytes)
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: {e:#}"));
        let text = r.text();
        let v: Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{method} {path}: not JSON ({e}): {text}"));
        assert!(
            r.status.is_success(),
            "{method} {path} -> {}: {text}",
            r.status
        );
        v["value"].clone()
    }

    async fn start(port: u16, profile: &Path) -> WebDriver {
        let addr = format!("127.0.0.1:{port}");
        let a = &addr;
        until("chromedriver to be ready", || async move {
            let v = http_client::get_json(a, "/status").await.ok()?;
            (v["value"]["ready"] == true).then_some(())
        })
        .await;
        let chromium = ["/usr/bin/chromium", "/usr/lib/chromium/chromium"]
            .iter()
            .find(|p| Path::new(p).exists())
            .map_or_else(|| "chromium".to_string(), |p| p.to_string());
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--disable-crash-reporter", "--disable-breakpad",
                         "--no-first-run", "--no-default-browser-check",
                         "--window-size=1400,1000",
                         format!("--user-data-dir={}", profile.display())]
            }
        }}});
        let v = Self::cmd(&addr, Method::POST, "/session", Some(&caps)).await;
        let session = v["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no sessionId in {v}"))
            .to_string();
        WebDriver { addr, session }
    }

    async fn session_cmd(&self, method: Method, path: &str, body: Option<&Value>) -> Value {
        let p = format!("/session/{}{path}", self.session);
        Self::cmd(&self.addr, method, &p, body).await
    }

    async fn goto(&self, url: &str) {
        self.session_cmd(Method::POST, "/url", Some(&json!({ "url": url })))
            .await;
    }

    async fn js(&self, script: &str, args: Value) -> Value {
        let body = json!({"script": script, "args": args});
        self.session_cmd(Method::POST, "/execute/sync", Some(&body))
            .await
    }

    async fn element(&self, css: &str) -> String {
        let v = self
            .session_cmd(
                Method::POST,
                "/element",
                Some(&json!({"using": "css selector", "value": css})),
            )
            .await;
        v[ELEMENT]
            .as_str()
            .unwrap_or_else(|| panic!("no element {css}: {v}"))
            .to_string()
    }

    /// Clicks the element `css` selects, as a user would (once it is shown).
    async fn click(&self, css: &str) {
        self.wait_visible(css).await;
        let id = self.element(css).await;
        self.session_cmd(
            Method::POST,
            &format!("/element/{id}/click"),
            Some(&json!({})),
        )
        .await;
    }

    /// Empties the field `css` and types `text` into it, key by key.
    async fn type_into(&self, css: &str, text: &str) {
        self.wait_visible(css).await;
        let id = self.element(css).await;
        self.session_cmd(
            Method::POST,
            &format!("/element/{id}/clear"),
            Some(&json!({})),
        )
        .await;
        if !text.is_empty() {
            self.session_cmd(
                Method::POST,
                &format!("/element/{id}/value"),
                Some(&json!({ "text": text })),
            )
            .await;
        }
    }

    /// Waits until `script` returns something other than null/false; returns it.
    async fn wait_js(&self, what: &str, script: &str, args: Value) -> Value {
        until(what, || {
            let args = args.clone();
            async move {
                let v = self.js(script, args).await;
                (!v.is_null() && v != false).then_some(v)
            }
        })
        .await
    }

    async fn is_visible(&self, css: &str) -> bool {
        self.js(
            "var e = document.querySelector(arguments[0]);\
             return !!(e && e.getClientRects().length && getComputedStyle(e).visibility !== 'hidden');",
            json!([css]),
        )
        .await
            == true
    }

    async fn wait_visible(&self, css: &str) {
        until(&format!("{css} to be shown"), || async move {
            self.is_visible(css).await.then_some(())
        })
        .await;
    }

    async fn wait_hidden(&self, css: &str) {
        until(&format!("{css} to be hidden"), || async move {
            (!self.is_visible(css).await).then_some(())
        })
        .await;
    }

    /// The rendered text of each body row of the table with id `table`.
    async fn rows(&self, table: &str) -> Vec<String> {
        let v = self
            .js(
                "var t = document.getElementById(arguments[0]);\
                 if (!t) return null;\
                 return Array.from(t.tBodies[0].rows).map(function (r) { return r.innerText; });",
                json!([table]),
            )
            .await;
        v.as_array()
            .unwrap_or_else(|| panic!("no table #{table} on the page"))
            .iter()
            .map(|r| r.as_str().unwrap_or("").to_string())
            .collect()
    }

    async fn text(&self, id: &str) -> String {
        let v = self
            .js(
                "var e = document.getElementById(arguments[0]); return e ? e.innerText : null;",
                json!([id]),
            )
            .await;
        v.as_str()
            .unwrap_or_else(|| panic!("no #{id} on the page"))
            .to_string()
    }

    /// Waits until a row of `table` contains every one of `needles`; returns that row.
    async fn wait_row(&self, table: &str, needles: &[&str]) -> String {
        let mut last = Vec::new();
        let found = tokio::time::timeout(WAIT, async {
            loop {
                let rows = self.rows(table).await;
                if let Some(r) = rows.iter().find(|r| needles.iter().all(|n| r.contains(n))) {
                    return r.clone();
                }
                last = rows;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
        .await;
        found.unwrap_or_else(|_| {
            panic!("timed out after {WAIT:?} waiting for #{table} to show a row with {needles:?}; rows: {last:#?}")
        })
    }

    /// Waits until `table` has exactly `n` rows and each satisfies `ok`; returns them.
    async fn wait_rows(&self, table: &str, n: usize, ok: impl Fn(&str) -> bool) -> Vec<String> {
        let mut last = Vec::new();
        let found = tokio::time::timeout(WAIT, async {
            loop {
                let rows = self.rows(table).await;
                if rows.len() == n && rows.iter().all(|r| ok(r)) {
                    return rows;
                }
                last = rows;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
        .await;
        found.unwrap_or_else(|_| {
            panic!("timed out after {WAIT:?} waiting for #{table} to have {n} fitting rows; rows: {last:#?}")
        })
    }

    async fn screenshot(&self, to: &Path) {
        let v = self.session_cmd(Method::GET, "/screenshot", None).await;
        let png = b64_decode(v.as_str().expect("a base64 screenshot"));
        assert!(png.starts_with(b"\x89PNG"), "the screenshot is not a PNG");
        if let Some(dir) = to.parent() {
            std::fs::create_dir_all(dir).expect("creating the screenshot's directory");
        }
        std::fs::write(to, png).expect("writing the screenshot");
    }

    async fn quit(self) {
        let p = format!("/session/{}", self.session);
        let _ = http_client::request(&self.addr, Method::DELETE, &p, &[], Bytes::new()).await;
    }
}

// ---------------------------------------------------------------- page actions

/// The create dialog's form fields, by element id, in the order a user fills them.
const FORM_FIELDS: [&str; 10] = [
    "app-id",
    "app-cmd",
    "app-cpus",
    "app-mem",
    "app-disk",
    "app-instances",
    "app-constraints",
    "app-env",
    "app-docker-image",
    "app-docker-ports",
];

/// Opens "Create Application" in form mode and fills every field (missing ones are emptied).
async fn fill_form(wd: &WebDriver, values: &[(&str, &str)]) {
    wd.click("#create-app-button").await;
    wd.wait_visible("#create-dialog").await;
    if !wd.is_visible("#app-form").await {
        wd.click("#mode-form").await;
    }
    for f in FORM_FIELDS {
        let v = values.iter().find(|(k, _)| *k == f).map_or("", |(_, v)| v);
        wd.type_into(&format!("#{f}"), v).await;
    }
}

/// Opens "Create Application" in JSON mode and pastes `text` there.
async fn fill_json(wd: &WebDriver, text: &str) {
    wd.click("#create-app-button").await;
    wd.wait_visible("#create-dialog").await;
    if !wd.is_visible("#app-json").await {
        wd.click("#mode-json").await;
    }
    wd.type_into("#app-json", text).await;
}

async fn submit_and_close(wd: &WebDriver) {
    wd.click("#app-form-submit").await;
    wd.wait_hidden("#create-dialog").await;
}

fn row_css(app: &str) -> String {
    format!("#apps-table tr[data-app-id=\"{app}\"]")
}

/// Clicks an app row's Scale, enters `n` and confirms.
async fn open_scale(wd: &WebDriver, app: &str, n: u32) {
    wd.click(&format!("{} button[data-action=scale]", row_css(app)))
        .await;
    wd.wait_visible("#action-dialog").await;
    wd.type_into("#action-input", &n.to_string()).await;
    wd.click("#action-ok").await;
}

async fn destroy(wd: &WebDriver, app: &str) {
    wd.click(&format!("{} button[data-action=destroy]", row_css(app)))
        .await;
    wd.wait_visible("#action-dialog").await;
    let text = wd.text("action-text").await;
    assert!(text.contains(app), "the confirmation names the app: {text}");
    wd.click("#action-ok").await;
    wd.wait_hidden("#action-dialog").await;
}

/// The ids of the tasks the detail view lists, when they are `n` running ones.
async fn running_task_ids(wd: &WebDriver, n: usize) -> Vec<String> {
    wd.wait_rows("tasks-table", n, |r| {
        r.contains("TASK_RUNNING") && r.contains("127.0.0.")
    })
    .await;
    let v = wd
        .js(
            "return Array.from(document.querySelectorAll('#tasks-table tbody tr'))\
             .map(function (r) { return r.getAttribute('data-task-id'); });",
            json!([]),
        )
        .await;
    serde_json::from_value(v).expect("task ids")
}

// ---------------------------------------------------------------- the test

#[test]
fn marathon_web_ui_creates_scales_restarts_and_destroys_apps_in_headless_chromium() {
    install_chromium();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    rt.block_on(async {
        tokio::time::timeout(Duration::from_secs(300), scenario())
            .await
            .expect("the scenario did not finish within 300 s");
    });
}

async fn scenario() {
    let run = std::env::temp_dir().join(format!("marathon-webui-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&run);
    std::fs::create_dir_all(&run).expect("the run directory");
    // Dropped last: the agents' tasks die even when an assertion fails first.
    let _reaper = TaskReaper(run.clone());

    // ZooKeeper, the Mesos master, two agents on one port, one Marathon.
    let exe = std::env::current_exe().expect("the test's path");
    let zk_bin = jepsen::cluster::locate_zk_server(&exe, profile()).expect("zk-server");
    let ensemble = jepsen::cluster::Ensemble::start(jepsen::cluster::EnsembleOptions::new(
        zk_bin,
        run.join("zk"),
    ))
    .await
    .expect("the zkrs ensemble");
    ensemble.wait_stable(WAIT).await.expect("a stable ensemble");
    let zk = format!("zk://{}", ensemble.connect_string(&[1, 2, 3]));

    let master_port = port();
    let master_addr = format!("127.0.0.1:{master_port}");
    let log =
        |name: &str| std::fs::File::create(run.join(format!("{name}.log"))).expect("a log file");
    let mut master = Proc::spawn(
        "mesos-master",
        Command::new(mesos_bin("mesos-master"))
            .args([
                &format!("--zk={zk}/mesos"),
                "--quorum=1",
                &format!("--work_dir={}", run.join("master").display()),
                "--ip=127.0.0.1",
                &format!("--port={master_port}"),
                "--conf_dir=",
                "--allocation_interval=200ms",
                "--zk_session_timeout=3secs",
            ])
            .stdout(Stdio::null())
            .stderr(log("master")),
    );
    let agent_bin = mesos_bin("mesos-agent");
    let agent_port = port();
    let mut agents = Vec::new();
    for (i, ip) in ["127.0.0.1", "127.0.0.2"].iter().enumerate() {
        agents.push(Proc::spawn(
            "mesos-agent",
            Command::new(&agent_bin)
                .args([
                    &format!("--master={zk}/mesos"),
                    &format!("--work_dir={}", run.join(format!("agent{i}")).display()),
                    &format!("--ip={ip}"),
                    &format!("--hostname={ip}"),
                    &format!("--port={agent_port}"),
                    "--conf_dir=",
                    "--resources=cpus:2;mem:1024;disk:1000;ports:[31000-31100]",
                ])
                .stdout(Stdio::null())
                .stderr(log(&format!("agent{i}"))),
        ));
    }
    let marathon_port = port();
    let marathon_addr = format!("127.0.0.1:{marathon_port}");
    let mut marathon = Proc::spawn(
        "marathon",
        Command::new(MARATHON)
            .args([
                "--master",
                &format!("{zk}/mesos"),
                "--zk",
                &format!("{zk}/marathon"),
                "--http_address",
                "127.0.0.1",
                "--http_port",
                &marathon_port.to_string(),
                "--conf_dir=",
                "--zk_session_timeout",
                "3000",
            ])
            .stdout(Stdio::null())
            .stderr(log("marathon")),
    );
    let m = &master_addr;
    until("two agents", || async move {
        let s = http_client::get_json(m, "/master/slaves").await.ok()?;
        (s["slaves"].as_array()?.len() == 2).then_some(())
    })
    .await;
    let ma = &marathon_addr;
    let framework_id = until("Marathon to lead and subscribe", || async move {
        let i = http_client::get_json(ma, "/v2/info").await.ok()?;
        (i["elected"] == true)
            .then(|| i["frameworkId"].as_str().map(str::to_string))
            .flatten()
    })
    .await;
    master.assert_alive();
    marathon.assert_alive();
    for a in &mut agents {
        a.assert_alive();
    }

    // The browser, on the page.
    let profile_dir = run.join("chromium-profile");
    let driver_port = port();
    let mut driver = Proc::spawn(
        "chromedriver",
        Command::new("chromedriver")
            .arg(format!("--port={driver_port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdout(Stdio::null())
            .stderr(log("chromedriver")),
    );
    driver.assert_alive();
    let wd = WebDriver::start(driver_port, &profile_dir).await;
    wd.goto(&format!("http://{marathon_addr}/?agent_port={agent_port}"))
        .await;
    wd.js("window.__webuiMark = 'same page'; return null;", json!([]))
        .await;
    wd.wait_js(
        "the page to connect",
        "return document.getElementById('status').innerText === 'connected';",
        json!([]),
    )
    .await;
    let leader = wd.text("leader").await;
    for want in [marathon_addr.as_str(), marathon::VERSION, &framework_id] {
        assert!(
            leader.contains(want),
            "leader section lacks {want}: {leader}"
        );
    }
    assert!(wd.rows("apps-table").await.is_empty());
    assert!(wd.is_visible("#apps-empty").await);

    // Create through the form.
    fill_form(
        &wd,
        &[
            ("app-id", "web-ui-test"),
            ("app-cmd", "sleep 300"),
            ("app-cpus", "0.1"),
            ("app-mem", "16"),
            ("app-instances", "1"),
        ],
    )
    .await;
    submit_and_close(&wd).await;
    let row = wd
        .wait_row("apps-table", &["/web-ui-test", "Running", "1/1"])
        .await;
    assert!(
        row.contains("0.1") && row.contains("16 MiB"),
        "cpus and mem: {row}"
    );
    let a = http_client::get_json(&marathon_addr, "/v2/apps/web-ui-test")
        .await
        .expect("the app");
    assert_eq!(a["app"]["cmd"], "sleep 300", "{a}");
    assert_eq!(a["app"]["cpus"], 0.1, "{a}");

    // Create through the JSON mode; its label is untrusted text and must stay text.
    fill_json(
        &wd,
        r#"{"id": "json-app", "cmd": "sleep 300", "cpus": 0.1, "mem": 16,
            "labels": {"note": "<img src=x onerror=\"window.__xss=1\">"}}"#,
    )
    .await;
    submit_and_close(&wd).await;
    let row = wd
        .wait_row("apps-table", &["/json-app", "Running", "1/1"])
        .await;
    assert!(row.contains("note: <img src=x"), "the label as text: {row}");
    let xss = wd
        .js(
            "return [window.__xss === undefined, document.querySelectorAll('main img').length];",
            json!([]),
        )
        .await;
    assert_eq!(xss, json!([true, 0]), "untrusted text was injected as HTML");

    // An invalid app: Marathon's 422 details next to the JSON, then next to the form field.
    fill_json(
        &wd,
        r#"{"id": "bad-app", "cmd": "sleep 300", "cpus": -1, "mem": 16}"#,
    )
    .await;
    wd.click("#app-form-submit").await;
    wd.wait_visible("#error-details").await;
    let details = wd.text("error-details").await;
    assert!(
        details.contains("422") && details.contains("Object is not valid"),
        "{details}"
    );
    assert!(details.contains("/cpus"), "the path is shown: {details}");
    assert!(
        wd.is_visible("#create-dialog").await,
        "the dialog stays open"
    );
    wd.screenshot(&screenshot_path("marathon-webui-error.png"))
        .await;
    wd.click("#mode-form").await;
    assert_eq!(
        wd.js(
            "return document.getElementById('app-cpus').value;",
            json!([])
        )
        .await,
        "-1",
        "the JSON carried over into the form"
    );
    wd.click("#app-form-submit").await;
    wd.wait_js(
        "the cpus field to be marked",
        "return document.getElementById('app-cpus').classList.contains('invalid') &&\
         !document.getElementById('error-details').hidden;",
        json!([]),
    )
    .await;
    wd.click("#app-form-cancel").await;
    wd.wait_hidden("#create-dialog").await;
    let r = http_client::request(
        &marathon_addr,
        Method::GET,
        "/v2/apps/bad-app",
        &[],
        Bytes::new(),
    )
    .await
    .expect("GET bad-app");
    assert_eq!(r.status, 404, "the invalid app was not created");

    // A deployment that cannot finish (no host matches): scaling it is refused (409) until
    // forced; scaled to 0 it is Suspended.
    fill_form(
        &wd,
        &[
            ("app-id", "stuck"),
            ("app-cmd", "sleep 300"),
            ("app-cpus", "0.1"),
            ("app-mem", "16"),
            ("app-instances", "1"),
            ("app-constraints", "hostname:CLUSTER:nowhere.invalid"),
            ("app-env", "GREETING=hello\nMODE=test"),
        ],
    )
    .await;
    wd.screenshot(&screenshot_path("marathon-webui-form.png"))
        .await;
    submit_and_close(&wd).await;
    wd.wait_row("apps-table", &["/stuck", "Deploying", "0/1"])
        .await;
    let a = http_client::get_json(&marathon_addr, "/v2/apps/stuck")
        .await
        .expect("stuck");
    assert_eq!(
        a["app"]["constraints"],
        json!([["hostname", "CLUSTER", "nowhere.invalid"]])
    );
    assert_eq!(
        a["app"]["env"],
        json!({"GREETING": "hello", "MODE": "test"})
    );
    open_scale(&wd, "/stuck", 0).await;
    wd.wait_visible("#action-error").await;
    let err = wd.text("action-error").await;
    assert!(err.contains("409") && err.contains("force"), "{err}");
    wd.click("#action-force").await;
    wd.wait_hidden("#action-dialog").await;
    wd.wait_row("apps-table", &["/stuck", "Suspended", "0/0"])
        .await;

    // Scale to 2.
    open_scale(&wd, "/web-ui-test", 2).await;
    wd.wait_hidden("#action-dialog").await;
    wd.wait_row("apps-table", &["/web-ui-test", "Running", "2/2"])
        .await;
    wd.wait_rows("deployments-table", 0, |_| true).await;
    wd.screenshot(&screenshot_path("marathon-webui.png")).await;

    // The detail view: two running tasks with their hosts, and sandbox links that work.
    wd.click(&format!("{} a.app-link", row_css("/web-ui-test")))
        .await;
    wd.wait_visible("#tasks-table").await;
    assert!(!wd.is_visible("#apps-table").await);
    let before = running_task_ids(&wd, 2).await;
    let rows = wd.rows("tasks-table").await;
    for r in &rows {
        assert!(
            r.contains("127.0.0.1:") || r.contains("127.0.0.2:"),
            "host:ports: {r}"
        );
    }
    let api = http_client::get_json(&marathon_addr, "/v2/apps/web-ui-test?embed=app.tasks")
        .await
        .expect("the app's tasks");
    for t in api["app"]["tasks"].as_array().expect("tasks") {
        let (id, host) = (t["id"].as_str().unwrap(), t["host"].as_str().unwrap());
        let row = rows
            .iter()
            .find(|r| r.contains(id))
            .unwrap_or_else(|| panic!("task {id} not listed: {rows:#?}"));
        assert!(row.contains(&format!("{host}:{}", t["ports"][0])), "{row}");
    }
    let href = wd
        .js(
            "var r = document.querySelector('#tasks-table tr[data-task-id=\"' + arguments[0] + '\"]');\
             var a = r && r.querySelector('a[data-file=stdout]');\
             return a ? a.href : null;",
            json!([before[0]]),
        )
        .await;
    let href = href.as_str().expect("a stdout link").to_string();
    let host = api["app"]["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == before[0].as_str())
        .map(|t| t["host"].as_str().unwrap().to_string())
        .unwrap();
    let want = format!(
        "http://{host}:{agent_port}/files/read?path=%2Fframeworks%2F{framework_id}%2Fexecutors%2F{}%2Fruns%2Flatest%2Fstdout&offset=0",
        before[0]
    );
    assert_eq!(href, want);
    let path = href
        .split_once(&format!(":{agent_port}"))
        .map(|(_, p)| p.to_string())
        .unwrap();
    let agent = format!("{host}:{agent_port}");
    let (ag, p) = (&agent, &path);
    until("the sandbox link to serve stdout", || async move {
        let v = http_client::get_json(ag, p).await.ok()?;
        v["data"].is_string().then_some(())
    })
    .await;
    assert_eq!(wd.text("detail-status").await, "Running");
    wd.screenshot(&screenshot_path("marathon-webui-detail.png"))
        .await;

    // Restart: the deployment shows up, then finishes with two new tasks.
    wd.js(
        "window.__sawRestart = false;\
         var id = arguments[0], t = document.querySelector('#deployments-table tbody');\
         new MutationObserver(function () {\
           if (Array.from(t.rows).some(function (r) {\
             return r.innerText.indexOf(id) >= 0 && r.innerText.indexOf('RestartApplication') >= 0; }))\
             window.__sawRestart = true;\
         }).observe(t, {childList: true, subtree: true, characterData: true});\
         return null;",
        json!(["/web-ui-test"]),
    )
    .await;
    wd.click("#detail-restart").await;
    wd.wait_js(
        "the restart's deployment to be shown",
        "return window.__sawRestart;",
        json!([]),
    )
    .await;
    wd.wait_rows("deployments-table", 0, |_| true).await;
    let after = running_task_ids(&wd, 2).await;
    assert!(
        after.iter().all(|t| !before.contains(t)),
        "restarted tasks are new: {before:?} -> {after:?}"
    );

    // Destroy all three from the list: it ends empty, and so does Mesos.
    wd.click("#back-to-apps").await;
    wd.wait_visible("#apps-table").await;
    for app in ["/web-ui-test", "/json-app", "/stuck"] {
        destroy(&wd, app).await;
    }
    wd.wait_rows("apps-table", 0, |_| true).await;
    wd.wait_visible("#apps-empty").await;
    until("every task gone", || async move {
        let t = http_client::get_json(ma, "/v2/tasks").await.ok()?;
        t["tasks"].as_array()?.is_empty().then_some(())
    })
    .await;
    let mark = wd.js("return window.__webuiMark || null;", json!([])).await;
    assert_eq!(mark, "same page", "the page was reloaded");

    wd.quit().await;
    drop(driver);
    drop(marathon);
    drop(agents);
    drop(master);
    drop(ensemble);
}
