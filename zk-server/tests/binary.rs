//! The `zk-server` binary as an operator runs it: a zoo.cfg on the command line, `status`,
//! config errors that name the file, line and key, and a clean exit on SIGTERM/SIGINT.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[path = "common/certs.rs"]
mod certs;
#[path = "common/process.rs"]
mod process;

use process::{four_letter, free_port, BIN};

/// How long a four-letter word's answer may take.
const FLW_TIMEOUT: Duration = Duration::from_secs(5);

fn write_cfg(dir: &Path, body: &str) -> std::path::PathBuf {
    let p = dir.join("zoo.cfg");
    std::fs::write(&p, body).unwrap();
    p
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("zkrs-bin-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn start(cfg: &Path, port: u16) -> Child {
    let mut child = Command::new(BIN)
        .arg(cfg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if four_letter(port, "ruok", FLW_TIMEOUT).as_deref() == Some("imok") {
            return child;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("zk-server did not start on port {port}");
}

fn wait_exit(child: &mut Child) -> std::process::ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            return st;
        }
        assert!(Instant::now() < deadline, "zk-server did not exit");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn serves_from_a_zoo_cfg_reports_status_and_stops_on_sigterm_and_sigint() {
    for signal in ["-TERM", "-INT"] {
        let dir = temp_dir(&format!("run{signal}"));
        let port = free_port();
        let cfg = write_cfg(
            &dir,
            &format!(
                "tickTime=2000\ndataDir={}\nclientPort={port}\nclientPortAddress=127.0.0.1\n4lw.commands.whitelist=ruok,srvr\nadmin.enableServer=false\n",
                dir.display()
            ),
        );
        let mut child = start(&cfg, port);
        let srvr = four_letter(port, "srvr", FLW_TIMEOUT).unwrap();
        assert!(srvr.contains("Mode: standalone"), "{srvr}");
        let denied = four_letter(port, "cons", FLW_TIMEOUT).unwrap();
        assert_eq!(
            denied,
            "cons is not executed because it is not in the whitelist.\n"
        );
        let status = Command::new(BIN).arg("status").arg(&cfg).output().unwrap();
        assert!(status.status.success());
        assert!(String::from_utf8_lossy(&status.stdout).contains("Mode: standalone"));
        process::send_signal(child.id(), signal);
        let st = wait_exit(&mut child);
        assert!(st.success(), "exit after {signal}: {st:?}");
        assert!(
            four_letter(port, "ruok", FLW_TIMEOUT).is_none(),
            "the port is closed after shutdown"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[test]
fn a_bad_config_value_names_the_file_line_and_key() {
    let dir = temp_dir("badcfg");
    let cfg = write_cfg(
        &dir,
        &format!(
            "dataDir={}\nclientPort=2181\ntickTime=often\n",
            dir.display()
        ),
    );
    let out = Command::new(BIN).arg(&cfg).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("zoo.cfg"), "{err}");
    assert!(err.contains(":3"), "line number missing: {err}");
    assert!(err.contains("tickTime"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_tls_key_store_that_cannot_be_read_stops_start_up_naming_the_file() {
    let dir = temp_dir("badkey");
    let port = free_port();
    let garbage = dir.join("server.pem");
    std::fs::write(
        &garbage,
        "-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    for (store, what) in [
        (dir.join("absent.pem"), "cannot read"),
        (garbage, "bad PEM certificate"),
    ] {
        let cfg = write_cfg(
            &dir,
            &format!(
                "dataDir={}\nclientPort={port}\nclientPortAddress=127.0.0.1\nsecureClientPort={}\n\
                 ssl.keyStore.location={}\nssl.clientAuth=none\n",
                dir.display(),
                free_port(),
                store.display()
            ),
        );
        let out = Command::new(BIN).arg(&cfg).output().unwrap();
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("zoo.cfg:5"), "line missing: {err}");
        assert!(err.contains("ssl.keyStore.location"), "{err}");
        assert!(err.contains(&store.display().to_string()), "{err}");
        assert!(err.contains(what), "{err}");
        assert!(
            four_letter(port, "ruok", FLW_TIMEOUT).is_none(),
            "must not serve"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn status_of_a_server_that_is_not_running_fails_clearly() {
    let dir = temp_dir("status");
    let port = free_port();
    let cfg = write_cfg(
        &dir,
        &format!("dataDir={}\nclientPort={port}\n", dir.display()),
    );
    let out = Command::new(BIN).arg("status").arg(&cfg).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("probably not running"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn status_speaks_tls_when_the_only_client_port_is_secure() {
    let dir = temp_dir("status-tls");
    let ca = certs::Ca::new(&dir, "ca");
    let server = ca.server(&dir, "server.pem");
    let port = free_port();
    let cfg = write_cfg(
        &dir,
        &format!(
            "dataDir={}\nsecureClientPort={port}\nsecureClientPortAddress=127.0.0.1\n\
             admin.enableServer=false\nssl.keyStore.location={}\nssl.trustStore.location={}\n\
             ssl.clientAuth=need\n",
            dir.display(),
            server.key_store.display(),
            ca.trust_store.display()
        ),
    );
    let status = || Command::new(BIN).arg("status").arg(&cfg).output().unwrap();
    // Nothing listens yet: a clear failure.
    let out = status();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("probably not running"),
        "{out:?}"
    );
    let mut child = Command::new(BIN)
        .arg(&cfg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let out = loop {
        let out = status();
        if out.status.success() || Instant::now() > deadline {
            break out;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{out:?}");
    assert!(stdout.contains("Client SSL: true."), "{stdout}");
    assert!(stdout.contains("Mode: standalone"), "{stdout}");
    // A plaintext `srvr` on that port gets no answer: it really was TLS.
    let plain = four_letter(port, "srvr", FLW_TIMEOUT).unwrap_or_default();
    assert!(!plain.contains("Mode:"), "{plain}");
    // A trust store that does not hold the server's CA: the handshake fails, and says so.
    let other = certs::Ca::new(&dir, "other");
    let body = std::fs::read_to_string(&cfg).unwrap().replace(
        &ca.trust_store.display().to_string(),
        &other.trust_store.display().to_string(),
    );
    let foreign = dir.join("foreign.cfg");
    std::fs::write(&foreign, body).unwrap();
    let out = Command::new(BIN)
        .arg("status")
        .arg(&foreign)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("TLS handshake"),
        "{out:?}"
    );
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_shipped_config_is_accepted() {
    // `zk-server confs/zoo.cfg` is the README's run command; check the config loads.
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("../confs/zoo.cfg");
    let (cfg, warnings) = zk_server::config::load(&shipped).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(cfg.client_address().map(|a| a.1), Some(2181));
    assert!(cfg.is_standalone());
}
