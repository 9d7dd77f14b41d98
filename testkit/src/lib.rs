//! The harness the workspace's integration tests share (mesos and marathon `tests/`): child
//! processes killed by PID on drop, ports, bounded polling, stopping the tasks agents started,
//! building sibling binaries, the scripts/install-*.sh installers, and a small WebDriver client.
//!
//! Every process these helpers stop is stopped by its PID (or process group), never by name.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

mod ports;
mod webdriver;

pub use ports::{free_port, Ports};

pub use webdriver::{chromium_binary, WebDriver};

// ---------------------------------------------------------------- processes

/// A child process, SIGKILLed by its PID and reaped when dropped (or [`Proc::kill`]ed).
///
/// Started with [`Proc::spawn_group`], the child leads a process group of its own, and the whole
/// group (the process and whatever it started, e.g. chromedriver's chromium) is killed first.
pub struct Proc {
    name: String,
    child: Option<Child>,
    group: bool,
}

impl Proc {
    /// Starts `cmd`; panics (naming `name`) when it cannot be started.
    pub fn spawn(name: &str, cmd: &mut Command) -> Proc {
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("spawning {name}: {e}"));
        Proc {
            name: name.to_string(),
            child: Some(child),
            group: false,
        }
    }

    /// Starts `cmd` in a process group of its own, with stdin from /dev/null.
    pub fn spawn_group(name: &str, cmd: &mut Command) -> Proc {
        use std::os::unix::process::CommandExt;
        let child = cmd
            .process_group(0)
            .stdin(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {name}: {e}"));
        Proc {
            name: name.to_string(),
            child: Some(child),
            group: true,
        }
    }

    /// The running child (for its pipes); panics once it was killed or waited for.
    pub fn child(&mut self) -> &mut Child {
        self.child
            .as_mut()
            .unwrap_or_else(|| panic!("{} was already stopped", self.name))
    }

    /// SIGKILLs the child (and its group, if it has one) by PID and reaps it. Idempotent.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            if self.group {
                // The group id is the child's PID (process_group(0)).
                let _ = nix::sys::signal::killpg(
                    nix::unistd::Pid::from_raw(c.id() as i32),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Waits for the child to exit by itself; it is no longer killed on drop afterwards.
    pub fn wait(&mut self) -> std::io::Result<ExitStatus> {
        let mut c = self
            .child
            .take()
            .unwrap_or_else(|| panic!("{} was already stopped", self.name));
        c.wait()
    }

    /// Whether the child is still running.
    pub fn alive(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| c.try_wait().ok().flatten().is_none())
    }

    /// Panics when the child has exited.
    pub fn assert_alive(&mut self) {
        if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
            panic!("{} exited early: {status}", self.name);
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if self.child.is_some() {
            eprintln!("stopping {}", self.name);
        }
        self.kill();
    }
}

// ---------------------------------------------------------------- polling

/// Bounded polling at a fixed interval.
#[derive(Clone, Copy, Debug)]
pub struct Poll {
    every: Duration,
}

impl Poll {
    /// Polls every `every`.
    pub const fn every(every: Duration) -> Poll {
        Poll { every }
    }

    /// Calls `f` until it gives `Some`, or panics with `what` after `limit`.
    pub async fn until<T, F, Fut>(&self, limit: Duration, what: &str, mut f: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Option<T>>,
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
            tokio::time::sleep(self.every).await;
        }
    }
}

// ---------------------------------------------------------------- agents' tasks

/// On drop (also when the test fails), stops the tasks the agents under `run` started: it calls
/// [`kill_checkpointed_tasks`] on every `run/agent*` directory.
pub struct TaskReaper {
    run: PathBuf,
    ours: &'static [&'static str],
    remove_run: bool,
}

impl TaskReaper {
    /// `ours`: what the command line of a process of ours contains (see
    /// [`kill_checkpointed_tasks`]).
    pub fn new(run: PathBuf, ours: &'static [&'static str]) -> TaskReaper {
        TaskReaper {
            run,
            ours,
            remove_run: false,
        }
    }

    /// Also removes `run` on drop.
    pub fn removing_run(mut self) -> TaskReaper {
        self.remove_run = true;
        self
    }
}

impl Drop for TaskReaper {
    fn drop(&mut self) {
        for e in std::fs::read_dir(&self.run).into_iter().flatten().flatten() {
            if e.file_name().to_string_lossy().starts_with("agent") {
                kill_checkpointed_tasks(&e.path(), self.ours);
            }
        }
        if self.remove_run {
            let _ = std::fs::remove_dir_all(&self.run);
        }
    }
}

/// SIGKILLs the process groups and processes whose PIDs an agent checkpointed under
/// `work_dir/meta` (`*.pid` files), when they are still ours: when `/proc/<pid>/cmdline`
/// contains one of `ours` (a supervisor, `mesos-agent`, or its command), not a reused PID.
pub fn kill_checkpointed_tasks(work_dir: &Path, ours: &[&str]) {
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
        if !ours.iter().any(|o| cmdline.contains(o)) {
            continue;
        }
        let pid = nix::unistd::Pid::from_raw(pid);
        let _ = nix::sys::signal::killpg(pid, nix::sys::signal::Signal::SIGKILL);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
    }
}

/// The file `name` in the sandbox of task `task_id`, under `run` (not following symlinks, not
/// under `meta/`, at most 12 directories deep).
pub fn find_file(run: &Path, task_id: &str, name: &str) -> Option<PathBuf> {
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

// ---------------------------------------------------------------- the workspace

/// The workspace's root directory.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("testkit lives in the workspace")
        .to_path_buf()
}

/// The cargo profile the tests were built with: `debug` or `release`.
pub fn profile() -> &'static str {
    if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    }
}

/// The binary `name` of the workspace package `package`, built first if needed
/// (`cargo build -p <package> --bin <name>`, same profile, into the running test's target
/// directory).
pub fn cargo_bin(package: &str, name: &str) -> PathBuf {
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
        .args(["build", "-q", "-p", package, "--bin", name])
        .env("CARGO_TARGET_DIR", &target)
        .stdin(Stdio::null());
    if profile() == "release" {
        cmd.arg("--release");
    }
    let _ = cmd.status();
    assert!(bin.is_file(), "{} not built", bin.display());
    bin
}

/// `$CARGO_TARGET_DIR/<name>` (default `target/` of the workspace): where tests leave files
/// such as screenshots.
pub fn target_file(name: &str) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("target"))
        .join(name)
}

// ---------------------------------------------------------------- installers

/// Runs `script` (a path relative to the workspace, e.g. `scripts/install-pymesos.sh`), which
/// installs a Python package and prints the python to run it with; returns that path.
pub fn install_python(script: &str) -> PathBuf {
    let out = Command::new("bash")
        .arg(workspace().join(script))
        .stderr(Stdio::inherit())
        .output()
        .unwrap_or_else(|e| panic!("running {script}: {e}"));
    assert!(out.status.success(), "{script} failed");
    PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
}

/// Runs `scripts/install-chromium.sh` (Debian's chromium and chromium-driver, by apt-get).
pub fn install_chromium() {
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

/// Decodes standard (padded or not) base64, ignoring whitespace; panics on other characters.
pub fn b64_decode(s: &str) -> Vec<u8> {
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
