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

use std::process::{Command, Stdio};
use std::time::Duration;

use bytes::Bytes;
use hyper::Method;
use mesos::http_client;
use serde_json::json;
use testkit::{Poll, Ports, Proc, TaskReaper, WebDriver};

const MARATHON: &str = env!("CARGO_BIN_EXE_marathon");

/// Every single wait in this test is bounded by this.
const WAIT: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------- processes and files

/// Ports free on both 127.0.0.1 and 127.0.0.2, below the ephemeral range.
static PORTS: Ports = Ports::new(11_000, 4_000, &["127.0.0.1", "127.0.0.2"]);
/// Waits poll every 200 ms.
const POLL: Poll = Poll::every(Duration::from_millis(200));

/// Starts `cmd` in a process group of its own (killed by PID on drop), without the
/// environment's `MESOS_*` and `MARATHON_*` variables.
fn spawn(name: &str, cmd: &mut Command) -> Proc {
    for (k, _) in std::env::vars_os() {
        let k2 = k.to_string_lossy();
        if k2.starts_with("MESOS_") || k2.starts_with("MARATHON_") {
            cmd.env_remove(k);
        }
    }
    Proc::spawn_group(name, cmd)
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
    testkit::install_chromium();
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
    let _reaper = TaskReaper::new(run.clone(), &["mesos-agent", "sleep"]).removing_run();

    // ZooKeeper, the Mesos master, two agents on one port, one Marathon.
    let exe = std::env::current_exe().expect("the test's path");
    let zk_bin = jepsen::cluster::locate_zk_server(&exe, testkit::profile()).expect("zk-server");
    let ensemble = jepsen::cluster::Ensemble::start(jepsen::cluster::EnsembleOptions::new(
        zk_bin,
        run.join("zk"),
    ))
    .await
    .expect("the zkrs ensemble");
    ensemble.wait_stable(WAIT).await.expect("a stable ensemble");
    let zk = format!("zk://{}", ensemble.connect_string(&[1, 2, 3]));

    let master_port = PORTS.next();
    let master_addr = format!("127.0.0.1:{master_port}");
    let log =
        |name: &str| std::fs::File::create(run.join(format!("{name}.log"))).expect("a log file");
    let mut master = spawn(
        "mesos-master",
        Command::new(testkit::cargo_bin("mesos", "mesos-master"))
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
    let agent_bin = testkit::cargo_bin("mesos", "mesos-agent");
    let agent_port = PORTS.next();
    let mut agents = Vec::new();
    for (i, ip) in ["127.0.0.1", "127.0.0.2"].iter().enumerate() {
        agents.push(spawn(
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
    let marathon_port = PORTS.next();
    let marathon_addr = format!("127.0.0.1:{marathon_port}");
    let mut marathon = spawn(
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
    POLL.until(WAIT, "two agents", || async move {
        let s = http_client::get_json(m, "/master/slaves").await.ok()?;
        (s["slaves"].as_array()?.len() == 2).then_some(())
    })
    .await;
    let ma = &marathon_addr;
    let framework_id = POLL
        .until(WAIT, "Marathon to lead and subscribe", || async move {
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
    let driver_port = PORTS.next();
    let mut driver = spawn(
        "chromedriver",
        Command::new("chromedriver")
            .arg(format!("--port={driver_port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdout(Stdio::null())
            .stderr(log("chromedriver")),
    );
    driver.assert_alive();
    let wd = WebDriver::start(driver_port, &profile_dir, "1400,1000", WAIT).await;
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
    wd.screenshot(&testkit::target_file("marathon-webui-error.png"))
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
    wd.screenshot(&testkit::target_file("marathon-webui-form.png"))
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
    wd.screenshot(&testkit::target_file("marathon-webui.png"))
        .await;

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
    POLL.until(WAIT, "the sandbox link to serve stdout", || async move {
        let v = http_client::get_json(ag, p).await.ok()?;
        v["data"].is_string().then_some(())
    })
    .await;
    assert_eq!(wd.text("detail-status").await, "Running");
    wd.screenshot(&testkit::target_file("marathon-webui-detail.png"))
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
    POLL.until(WAIT, "every task gone", || async move {
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
