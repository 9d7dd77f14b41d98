//! Where things live under `--work_dir`, in Mesos' layout:
//!
//! ```text
//! <work_dir>/slaves/<agent_id>/frameworks/<framework_id>/executors/<executor_id>/runs/<container_id>
//!                                                                      .../runs/latest -> <container_id>
//! <work_dir>/meta/slaves/latest -> <agent_id>
//! <work_dir>/meta/slaves/<agent_id>/frameworks/<framework_id>/executors/<executor_id>/runs/<container_id>/
//!     task.json        the agent's record of the task (checkpoint, see `checkpoint.rs`)
//!     launch.json      what the supervisor runs
//!     pids/forked.pid  the supervisor's pid (written by the agent)
//!     pids/command.pid the command's pid, also its process group (written by the supervisor)
//!     exit_status      the command's end (written by the supervisor)
//!     supervisor.log   the supervisor's own messages
//! ```
//! The sandbox holds only what the task writes (and its `stdout`/`stderr`), as in Mesos.
//! IDs come from the network, so every path component is checked by [`safe_component`].

use std::path::{Path, PathBuf};

/// Whether an ID may be used as one path component: non-empty, no `/`, not `.` or `..`, no
/// NUL, at most 255 bytes.
pub fn safe_component(id: &str) -> bool {
    !id.is_empty() && id.len() <= 255 && id != "." && id != ".." && !id.contains(['/', '\0'])
}

fn run_suffix(agent_id: &str, framework_id: &str, executor_id: &str) -> PathBuf {
    Path::new("slaves")
        .join(agent_id)
        .join("frameworks")
        .join(framework_id)
        .join("executors")
        .join(executor_id)
        .join("runs")
}

/// The directory holding a run's sandboxes and its `latest` link.
pub fn sandbox_runs_dir(
    work_dir: &Path,
    agent_id: &str,
    framework_id: &str,
    executor_id: &str,
) -> PathBuf {
    work_dir.join(run_suffix(agent_id, framework_id, executor_id))
}

pub fn sandbox_dir(
    work_dir: &Path,
    agent_id: &str,
    framework_id: &str,
    executor_id: &str,
    container_id: &str,
) -> PathBuf {
    sandbox_runs_dir(work_dir, agent_id, framework_id, executor_id).join(container_id)
}

pub fn meta_run_dir(
    work_dir: &Path,
    agent_id: &str,
    framework_id: &str,
    executor_id: &str,
    container_id: &str,
) -> PathBuf {
    work_dir
        .join("meta")
        .join(run_suffix(agent_id, framework_id, executor_id))
        .join(container_id)
}

/// `<work_dir>/meta/slaves`
pub fn meta_slaves_dir(work_dir: &Path) -> PathBuf {
    work_dir.join("meta").join("slaves")
}

/// `<work_dir>/slaves`: the root of everything `/files` may serve.
pub fn sandboxes_root(work_dir: &Path) -> PathBuf {
    work_dir.join("slaves")
}

pub const TASK_FILE: &str = "task.json";
pub const LAUNCH_FILE: &str = "launch.json";
pub const EXIT_STATUS_FILE: &str = "exit_status";
pub const SUPERVISOR_LOG: &str = "supervisor.log";
pub const FORKED_PID: &str = "pids/forked.pid";
pub const COMMAND_PID: &str = "pids/command.pid";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mesos_layout() {
        let w = Path::new("/w");
        assert_eq!(
            sandbox_dir(w, "A-S0", "F", "t1", "c1"),
            PathBuf::from("/w/slaves/A-S0/frameworks/F/executors/t1/runs/c1")
        );
        assert_eq!(
            meta_run_dir(w, "A-S0", "F", "t1", "c1"),
            PathBuf::from("/w/meta/slaves/A-S0/frameworks/F/executors/t1/runs/c1")
        );
    }

    #[test]
    fn unsafe_ids_are_refused() {
        for bad in ["", ".", "..", "a/b", "a\0b", &"x".repeat(256)] {
            assert!(!safe_component(bad), "{bad:?}");
        }
        for good in ["t1", "my-app.1f2e", "..x", "a b"] {
            assert!(safe_component(good), "{good:?}");
        }
    }
}
