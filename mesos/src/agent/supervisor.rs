//! The supervisor: a tiny process between the agent and a task's command, so the command
//! outlives the agent. It is the agent binary re-executed as
//! `mesos-agent --supervise=<meta run dir>`, in its own process group. It reads
//! `launch.json`, starts the command in a new process group of its own (so the agent can
//! signal the command's whole tree with killpg, whatever happens to the supervisor), writes
//! `pids/command.pid`, prints `{"pid": N}` on its stdout (the agent reads that one line), waits,
//! and writes `exit_status` (`{"code": N}`, `{"signal": N}` or `{"error": "..."}`).
//!
//! A restarted agent finds the supervisor by `pids/forked.pid` and knows it is really ours
//! when `/proc/<pid>/cmdline` names the same run directory.

use std::io::Write;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;

use serde_json::{json, Value};

use crate::agent::checkpoint::write_atomic;
use crate::agent::core::ExitOutcome;
use crate::agent::layout;
use crate::agent::task::LaunchSpec;

/// The hidden flag that turns the agent binary into a supervisor.
pub const FLAG: &str = "--supervise=";

fn log(run_dir: &Path, msg: &str) {
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(run_dir.join(layout::SUPERVISOR_LOG))
    {
        let _ = writeln!(f, "{:.3} {msg}", crate::agent::system::wall_clock());
    }
}

fn finish(run_dir: &Path, status: &Value) -> i32 {
    if let Err(e) = write_atomic(
        &run_dir.join(layout::EXIT_STATUS_FILE),
        status.to_string().as_bytes(),
    ) {
        log(
            run_dir,
            &format!("cannot write the exit status {status}: {e}"),
        );
        return 1;
    }
    log(run_dir, &format!("recorded {status}"));
    0
}

/// The supervisor's main; returns its exit code.
pub fn supervise(run_dir: &Path) -> i32 {
    let spec: LaunchSpec = match std::fs::read(run_dir.join(layout::LAUNCH_FILE))
        .map_err(|e| e.to_string())
        .and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string()))
    {
        Ok(s) => s,
        Err(e) => {
            let status = json!({"error": format!("cannot read the launch spec: {e}")});
            let _ = writeln!(std::io::stdout(), "{status}");
            return finish(run_dir, &status);
        }
    };
    let open = |p: &Path| {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(p)
            .map_err(|e| format!("cannot open {}: {e}", p.display()))
    };
    let (stdout, stderr) = match (open(&spec.stdout), open(&spec.stderr)) {
        (Ok(o), Ok(e)) => (o, e),
        (Err(m), _) | (_, Err(m)) => {
            let status = json!({ "error": m });
            let _ = writeln!(std::io::stdout(), "{status}");
            return finish(run_dir, &status);
        }
    };
    if let Err(e) = crate::agent::fetcher::fetch_all(&spec.uris, &spec.cwd) {
        log(run_dir, &e);
        let status = json!({ "error": e });
        let _ = writeln!(std::io::stdout(), "{status}");
        return finish(run_dir, &status);
    }
    let mut cmd = std::process::Command::new(&spec.program);
    cmd.arg0(&spec.arg0)
        .args(&spec.args)
        .current_dir(&spec.cwd)
        .env_clear()
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .stdin(std::process::Stdio::null())
        .stdout(stdout)
        .stderr(stderr)
        .process_group(0);
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            let status = json!({"error": format!("cannot run '{}': {e}", spec.program)});
            let _ = writeln!(std::io::stdout(), "{status}");
            return finish(run_dir, &status);
        }
    };
    let pid = child.id();
    if let Err(e) = write_atomic(
        &run_dir.join(layout::COMMAND_PID),
        pid.to_string().as_bytes(),
    ) {
        log(run_dir, &format!("cannot write the command's pid: {e}"));
    }
    log(run_dir, &format!("started '{}' as pid {pid}", spec.program));
    // The agent may be gone already; a failed write changes nothing here.
    let _ = writeln!(std::io::stdout(), "{}", json!({ "pid": pid }));
    let _ = std::io::stdout().flush();
    let status = loop {
        match child.wait() {
            Ok(s) => break s,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                return finish(
                    run_dir,
                    &json!({"error": format!("cannot wait for the command: {e}")}),
                )
            }
        }
    };
    let status = match (status.code(), status.signal()) {
        (Some(c), _) => json!({ "code": c }),
        (None, Some(s)) => json!({ "signal": s }),
        (None, None) => json!({"error": "the command ended without a status"}),
    };
    finish(run_dir, &status)
}

/// Reads the supervisor's line or exit status file.
pub fn parse_status(v: &Value) -> Option<ExitOutcome> {
    if let Some(c) = v.get("code").and_then(Value::as_i64) {
        return Some(ExitOutcome::Exited(c as i32));
    }
    if let Some(s) = v.get("signal").and_then(Value::as_i64) {
        return Some(ExitOutcome::Signaled(s as i32));
    }
    v.get("error")
        .and_then(Value::as_str)
        .map(|m| ExitOutcome::LaunchFailed(m.to_string()))
}

/// How the command ended, if the supervisor recorded it.
pub fn read_exit_status(run_dir: &Path) -> Option<ExitOutcome> {
    let bytes = std::fs::read(run_dir.join(layout::EXIT_STATUS_FILE)).ok()?;
    parse_status(&serde_json::from_slice(&bytes).ok()?)
}

pub fn read_pid(path: &Path) -> Option<i32> {
    std::fs::read_to_string(path)
        .ok()?
        .trim()
        .parse()
        .ok()
        .filter(|p| *p > 0)
}

/// Whether `pid` is a live (not zombie) supervisor of `run_dir`.
pub fn supervisor_alive(pid: i32, run_dir: &Path) -> bool {
    let proc_dir = Path::new("/proc").join(pid.to_string());
    let Ok(stat) = std::fs::read_to_string(proc_dir.join("stat")) else {
        return false;
    };
    // The state follows the last ')' (the command name may contain one).
    let state = stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.trim_start().chars().next());
    if matches!(state, Some('Z') | Some('X') | None) {
        return false;
    }
    let Ok(cmdline) = std::fs::read(proc_dir.join("cmdline")) else {
        return false;
    };
    let want = format!("{FLAG}{}", run_dir.display());
    cmdline.split(|b| *b == 0).any(|arg| arg == want.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_forms() {
        assert_eq!(
            parse_status(&json!({"code": 3})),
            Some(ExitOutcome::Exited(3))
        );
        assert_eq!(
            parse_status(&json!({"signal": 9})),
            Some(ExitOutcome::Signaled(9))
        );
        assert_eq!(
            parse_status(&json!({"error": "x"})),
            Some(ExitOutcome::LaunchFailed("x".into()))
        );
        assert_eq!(parse_status(&json!({"pid": 3})), None);
    }

    #[test]
    fn a_process_that_is_not_a_supervisor_is_not_ours() {
        let me = std::process::id() as i32;
        assert!(!supervisor_alive(me, Path::new("/nowhere")));
        assert!(!supervisor_alive(i32::MAX, Path::new("/nowhere")));
    }

    #[test]
    fn supervises_a_command_to_its_exit_status() {
        let dir = std::env::temp_dir().join(format!("agent-sup-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let spec = LaunchSpec {
            program: "sh".into(),
            arg0: "sh".into(),
            args: vec!["-c".into(), "echo out; echo err >&2; exit 4".into()],
            env: vec![("PATH".into(), std::env::var("PATH").unwrap_or_default())],
            cwd: dir.clone(),
            stdout: dir.join("stdout"),
            stderr: dir.join("stderr"),
            uris: vec![],
        };
        std::fs::write(
            dir.join(layout::LAUNCH_FILE),
            serde_json::to_vec(&spec).unwrap(),
        )
        .unwrap();
        assert_eq!(supervise(&dir), 0);
        assert_eq!(read_exit_status(&dir), Some(ExitOutcome::Exited(4)));
        assert_eq!(
            std::fs::read_to_string(dir.join("stdout")).unwrap(),
            "out\n"
        );
        assert_eq!(
            std::fs::read_to_string(dir.join("stderr")).unwrap(),
            "err\n"
        );
        assert!(read_pid(&dir.join(layout::COMMAND_PID)).is_some());

        let bad = LaunchSpec {
            program: "/no/such/program".into(),
            ..spec
        };
        std::fs::write(
            dir.join(layout::LAUNCH_FILE),
            serde_json::to_vec(&bad).unwrap(),
        )
        .unwrap();
        supervise(&dir);
        assert!(
            matches!(read_exit_status(&dir), Some(ExitOutcome::LaunchFailed(m)) if m.contains("/no/such/program"))
        );
        // A URI that cannot be fetched fails the launch with the fetcher's message.
        let unfetchable = LaunchSpec {
            uris: vec![crate::agent::fetcher::Uri {
                value: "/no/such/archive.tgz".into(),
                extract: true,
                executable: false,
                output_file: None,
            }],
            ..bad
        };
        std::fs::write(
            dir.join(layout::LAUNCH_FILE),
            serde_json::to_vec(&unfetchable).unwrap(),
        )
        .unwrap();
        supervise(&dir);
        assert!(
            matches!(read_exit_status(&dir), Some(ExitOutcome::LaunchFailed(m)) if m.starts_with("Failed to fetch '/no/such/archive.tgz'"))
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
