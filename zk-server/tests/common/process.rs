//! Std-only helpers for the tests that run the `zk-server` binary as a process (`binary.rs`,
//! `cluster.rs`, `metrics_cluster.rs`, `service.rs`). Included with
//! `#[path = "common/process.rs"] mod process;` rather than through `mod common;`, so those tests
//! do not build the client machinery of `common/mod.rs`.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The `zk-server` binary cargo built for this package's tests.
pub const BIN: &str = env!("CARGO_BIN_EXE_zk-server");

#[path = "../../../testkit/src/ports.rs"]
mod ports;

pub use ports::free_port;

/// Sends the four-letter word `cmd` to 127.0.0.1:`port` and reads the answer until the server
/// closes the connection; None when nothing listens there, or on an error (a read taking longer
/// than `read_timeout` is one).
pub fn four_letter(port: u16, cmd: &str, read_timeout: Duration) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(read_timeout)).ok()?;
    s.write_all(cmd.as_bytes()).ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out)
}

/// Sends `signal` (as `kill` spells it: "-TERM", "-STOP", ...) to `pid`, a process the test
/// started.
pub fn send_signal(pid: u32, signal: &str) {
    let ok = Command::new("kill")
        .arg(signal)
        .arg(pid.to_string())
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill {signal} {pid}");
}

/// One `zk-server` process of a test ensemble under `root`: data directory `zk<id>` with its
/// myid file, config `zk<id>.cfg`, and log `zk<id>.log`, appended to by every start. Killed
/// (SIGKILL, by PID) when dropped.
pub struct ServerProc {
    pub id: u64,
    pub dir: PathBuf,
    pub cfg: PathBuf,
    log: PathBuf,
    child: Option<Child>,
}

impl ServerProc {
    /// Makes the data directory and myid file, and writes into the config what `cfg` makes of
    /// the data directory. Starts nothing.
    pub fn new(root: &Path, id: u64, cfg: impl FnOnce(&Path) -> String) -> ServerProc {
        let dir = root.join(format!("zk{id}"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("myid"), format!("{id}\n")).unwrap();
        let cfg_path = root.join(format!("zk{id}.cfg"));
        std::fs::write(&cfg_path, cfg(&dir)).unwrap();
        ServerProc {
            id,
            dir,
            cfg: cfg_path,
            log: root.join(format!("zk{id}.log")),
            child: None,
        }
    }

    /// Starts the server (logging at info) with `env` added to its environment.
    pub fn start(&mut self, env: &[(&str, &str)]) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let child = Command::new(BIN)
            .arg(&self.cfg)
            .env("RUST_LOG", "info")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
    }

    /// SIGKILL: no shutdown path runs. Nothing if it is not running.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// The PID of the running server.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("the server runs").id()
    }
}

impl Drop for ServerProc {
    fn drop(&mut self) {
        self.kill();
    }
}
