//! Logs and service files: the log file as zkEnv.sh's variables and the `zookeeper.log.*`
//! properties configure it (levels, appenders, size rotation, JSON), and
//! `confs/systemd/zookeeper.service` run as systemd runs it (ExecStart, EnvironmentFile,
//! KillSignal, TimeoutStopSec) on a copy of the `/etc` layout in `confs/etc`.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[path = "common/process.rs"]
mod process;

use process::{four_letter, free_port, BIN};

const FLW_TIMEOUT: Duration = Duration::from_secs(5);

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("zkrs-svc-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A config for a test server: its own client port, no AdminServer or metrics ports to clash.
fn test_cfg(dir: &Path, port: u16) -> PathBuf {
    let p = dir.join("zoo.cfg");
    std::fs::write(
        &p,
        format!(
            "tickTime=2000\ndataDir={}\nclientPort={port}\nclientPortAddress=127.0.0.1\n\
             admin.enableServer=false\n4lw.commands.whitelist=ruok,srvr\n",
            dir.join("data").display()
        ),
    )
    .unwrap();
    p
}

fn wait_ruok(child: &mut Child, port: u16) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if four_letter(port, "ruok", FLW_TIMEOUT).as_deref() == Some("imok") {
            return;
        }
        if let Some(st) = child.try_wait().unwrap() {
            panic!("zk-server exited with {st} before serving");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("zk-server did not start on port {port}");
}

fn stop(child: &mut Child, signal: &str, within: Duration) -> std::process::ExitStatus {
    process::send_signal(child.id(), signal);
    let deadline = Instant::now() + within;
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            return st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("zk-server did not stop within {within:?} of {signal}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Makes the server log one WARN line: a ConnectRequest too short to decode.
fn provoke_warning(port: u16) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.write_all(&[0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0]).unwrap();
    // The server closes the connection; reading to the end waits for that (bounded).
    s.set_read_timeout(Some(FLW_TIMEOUT)).unwrap();
    let _ = std::io::Read::read_to_end(&mut s, &mut Vec::new());
}

fn file_sizes(dir: &Path) -> BTreeMap<String, u64> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                e.metadata().unwrap().len(),
            )
        })
        .collect()
}

#[test]
fn zkenv_variables_send_logs_to_a_file_rolled_by_size() {
    let dir = temp_dir("roll");
    let port = free_port();
    let cfg = test_cfg(&dir, port);
    let logs = dir.join("logs");
    let stderr = std::fs::File::create(dir.join("stderr")).unwrap();
    let mut child = Command::new(BIN)
        .arg("start-foreground")
        .arg(&cfg)
        .env_remove("RUST_LOG")
        .env("ZOO_LOG_DIR", &logs)
        .env("ZOO_LOG4J_PROP", "WARN, ROLLINGFILE")
        .env(
            "JVMFLAGS",
            "-Dzookeeper.log.maxfilesize=2KB -Dzookeeper.log.maxbackupindex=2",
        )
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .unwrap();
    wait_ruok(&mut child, port);
    for _ in 0..60 {
        provoke_warning(port);
    }
    // Still serving, and stops cleanly.
    assert_eq!(
        four_letter(port, "ruok", FLW_TIMEOUT).as_deref(),
        Some("imok")
    );
    assert!(stop(&mut child, "-TERM", Duration::from_secs(20)).success());

    let sizes = file_sizes(&logs);
    assert_eq!(
        sizes.keys().cloned().collect::<Vec<_>>(),
        ["zookeeper.log", "zookeeper.log.1", "zookeeper.log.2"],
        "{sizes:?}"
    );
    for (name, size) in &sizes {
        assert!(*size <= 2048, "{name} has {size} bytes, over 2KB");
    }
    // The rolled files are nearly full: each holds whole lines up to the limit.
    assert!(sizes["zookeeper.log.1"] > 1500, "{sizes:?}");
    for name in sizes.keys() {
        let text = std::fs::read_to_string(logs.join(name)).unwrap();
        assert!(text.ends_with('\n'), "{name} ends mid-line");
        for line in text.lines() {
            assert!(
                line.contains("WARN") && line.contains("malformed ConnectRequest"),
                "{name}: a line below WARN or not ours: {line}"
            );
        }
    }
    // ROLLINGFILE alone: nothing on the console.
    let console = std::fs::read_to_string(dir.join("stderr")).unwrap();
    assert!(!console.contains("malformed"), "{console}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn json_logs_on_the_console_and_thresholds_per_appender() {
    let dir = temp_dir("json");
    let port = free_port();
    let cfg = test_cfg(&dir, port);
    // zoo.cfg keys work as well as -D flags.
    let mut text = std::fs::read_to_string(&cfg).unwrap();
    text.push_str(&format!(
        "root.logger=INFO, CONSOLE, ROLLINGFILE\nlog.format=json\nlog.threshold=WARN\nlog.dir={}\n",
        dir.join("logs").display()
    ));
    std::fs::write(&cfg, text).unwrap();
    let stderr = std::fs::File::create(dir.join("stderr")).unwrap();
    let mut child = Command::new(BIN)
        .arg(&cfg)
        .env_remove("RUST_LOG")
        .env_remove("ZOO_LOG4J_PROP")
        .env_remove("ZOO_LOG_DIR")
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .unwrap();
    wait_ruok(&mut child, port);
    provoke_warning(port);
    assert!(stop(&mut child, "-INT", Duration::from_secs(20)).success());

    let console = std::fs::read_to_string(dir.join("stderr")).unwrap();
    let serving = console
        .lines()
        .find(|l| l.contains("serving clients"))
        .unwrap_or_else(|| panic!("no start-up line on the console:\n{console}"));
    assert!(
        serving.starts_with('{') && serving.ends_with('}'),
        "not a JSON object: {serving}"
    );
    assert!(serving.contains(r#""level":"INFO""#), "{serving}");
    assert!(
        serving.contains(r#""message":"serving clients""#),
        "{serving}"
    );
    assert!(serving.contains(r#""local_addr":"127.0.0.1:"#), "{serving}");
    // The file's threshold is WARN: the warning is there, the INFO start-up line is not.
    let file = std::fs::read_to_string(dir.join("logs/zookeeper.log")).unwrap();
    assert!(file.contains("malformed ConnectRequest"), "{file}");
    assert!(!file.contains("serving clients"), "{file}");
    assert!(file.lines().all(|l| l.starts_with('{')), "{file}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_bad_logging_setting_names_its_source() {
    let dir = temp_dir("bad");
    let port = free_port();
    let cfg = test_cfg(&dir, port);
    let out = Command::new(BIN)
        .arg(&cfg)
        .env("ZOO_LOG4J_PROP", "LOUD,CONSOLE")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("ZOO_LOG4J_PROP")
            && err.contains("zookeeper.root.logger")
            && err.contains("'LOUD' is not a log level"),
        "{err}"
    );

    let mut text = std::fs::read_to_string(&cfg).unwrap();
    text.push_str("log.maxfilesize=huge\n");
    std::fs::write(&cfg, text).unwrap();
    let out = Command::new(BIN).arg(&cfg).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("zoo.cfg:7") && err.contains("log.maxfilesize") && err.contains("'huge'"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// The `[Service]` settings of a unit file: key -> values in order.
fn service_section(unit: &str) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut in_service = false;
    for line in unit.lines().map(str::trim) {
        if line.starts_with('[') {
            in_service = line == "[Service]";
            continue;
        }
        if !in_service || line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        let (k, v) = line.split_once('=').expect("a key=value line");
        out.entry(k.trim().to_owned())
            .or_default()
            .push(v.trim().to_owned());
    }
    out
}

/// systemd's EnvironmentFile: `KEY=VALUE` lines, `#` comments, optional quotes.
fn environment_file(text: &str) -> Vec<(String, String)> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (k, v) = l.split_once('=').expect("KEY=VALUE");
            let v = v.trim();
            let v = v
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(v);
            (k.trim().to_owned(), v.to_owned())
        })
        .collect()
}

#[test]
fn the_systemd_unit_runs_the_etc_layout_and_stops_on_its_kill_signal() {
    let root = temp_dir("systemd");
    let unit = std::fs::read_to_string(repo().join("confs/systemd/zookeeper.service")).unwrap();
    let svc = service_section(&unit);
    let one = |k: &str| -> String {
        let v = svc.get(k).unwrap_or_else(|| panic!("the unit has no {k}="));
        assert_eq!(v.len(), 1, "{k}= set more than once");
        v[0].clone()
    };
    // Where systemd would put things, moved under `root`.
    let rebase = |s: &str| -> String {
        s.replace(
            "/etc/zookeeper",
            &root.join("etc/zookeeper").display().to_string(),
        )
        .replace("/var/lib/", &root.join("var/lib/").display().to_string())
        .replace("/var/log/", &root.join("var/log/").display().to_string())
    };
    // StateDirectory= and LogsDirectory=, created by systemd before ExecStart.
    for (key, base) in [("StateDirectory", "var/lib"), ("LogsDirectory", "var/log")] {
        std::fs::create_dir_all(root.join(base).join(one(key))).unwrap();
    }
    // The /etc layout, with this test's ports.
    let etc = root.join("etc/zookeeper");
    std::fs::create_dir_all(&etc).unwrap();
    let port = free_port();
    let shipped = std::fs::read_to_string(repo().join("confs/etc/zookeeper/zoo.cfg")).unwrap();
    let cfg: String = shipped
        .lines()
        .map(|l| match l.split_once('=').map(|(k, _)| k) {
            Some("clientPort") => format!("clientPort={port}"),
            Some("admin.serverPort") => format!("admin.serverPort={}", free_port()),
            Some("metricsProvider.httpPort") => {
                format!("metricsProvider.httpPort={}", free_port())
            }
            _ => rebase(l),
        })
        .map(|l| l + "\n")
        .collect();
    std::fs::write(etc.join("zoo.cfg"), cfg).unwrap();
    let env_text =
        std::fs::read_to_string(repo().join("confs/etc/zookeeper/zookeeper.env")).unwrap();
    std::fs::write(etc.join("zookeeper.env"), rebase(&env_text)).unwrap();

    // ExecStart with the binary under test.
    let exec = one("ExecStart");
    let mut words = exec.split_whitespace().map(&rebase);
    assert_eq!(words.next().as_deref(), Some("/usr/local/bin/zk-server"));
    let args: Vec<String> = words.collect();
    let env_file = one("EnvironmentFile");
    let env_path = rebase(env_file.trim_start_matches('-'));
    let mut cmd = Command::new(BIN);
    cmd.args(&args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let env = environment_file(&std::fs::read_to_string(env_path).unwrap());
    assert!(env.iter().any(|(k, _)| k == "ZOO_LOG_DIR"), "{env:?}");
    for (k, v) in &env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    wait_ruok(&mut child, port);
    let mntr = four_letter(port, "srvr", FLW_TIMEOUT).unwrap();
    assert!(mntr.contains("Mode: standalone"), "{mntr}");
    // Stopped with the unit's KillSignal, within its TimeoutStopSec, exiting 0 (not a failure
    // that Restart=on-failure would restart).
    assert_eq!(one("KillSignal"), "SIGTERM");
    let timeout: u64 = one("TimeoutStopSec").parse().unwrap();
    let st = stop(&mut child, "-TERM", Duration::from_secs(timeout));
    assert!(st.success(), "exit status {st}");

    // Logged to the file in LogsDirectory, not to the journal (ZOO_LOG4J_PROP=INFO,ROLLINGFILE).
    let log = std::fs::read_to_string(root.join("var/log/zookeeper/zookeeper.log"))
        .expect("zookeeper.log in LogsDirectory");
    assert!(log.contains("serving clients"), "{log}");
    assert!(log.contains("shutting down"), "{log}");
    let mut console = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut console).unwrap();
    assert!(!console.contains("serving clients"), "{console}");
    // Data in StateDirectory.
    let v2 = root.join("var/lib/zookeeper/version-2");
    let snaps = std::fs::read_dir(&v2)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with("snapshot.")
        })
        .count();
    assert!(snaps >= 1, "no snapshot in {}", v2.display());
    let _ = std::fs::remove_dir_all(&root);
}
