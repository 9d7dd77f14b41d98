//! Checkpoints under `<work_dir>/meta` (layout in `layout.rs`): the agent ID and one
//! `task.json` per task. Every write goes to a temporary file and is renamed into place, so a
//! crash leaves the old or the new content, never a mix.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::agent::core::TaskRecord;
use crate::agent::layout;

pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)
}

/// Replaces the symlink `link` by one pointing at `target`, atomically.
pub fn replace_symlink(target: &Path, link: &Path) -> std::io::Result<()> {
    let mut tmp = link.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(target, &tmp)?;
    std::fs::rename(&tmp, link)
}

/// `meta/slaves/latest -> <agent_id>`, with the directory it names.
pub fn write_agent_id(work_dir: &Path, agent_id: &str) -> std::io::Result<()> {
    let slaves = layout::meta_slaves_dir(work_dir);
    std::fs::create_dir_all(slaves.join(agent_id))?;
    replace_symlink(Path::new(agent_id), &slaves.join("latest"))
}

pub fn read_agent_id(work_dir: &Path) -> Option<String> {
    let target = std::fs::read_link(layout::meta_slaves_dir(work_dir).join("latest")).ok()?;
    let id = target.file_name()?.to_str()?.to_string();
    layout::safe_component(&id).then_some(id)
}

pub fn write_task(path: &Path, record: &TaskRecord) -> std::io::Result<()> {
    let bytes = serde_json::to_vec_pretty(record).map_err(std::io::Error::other)?;
    write_atomic(path, &bytes)
}

fn subdirs(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path())
        .collect();
    out.sort();
    out
}

/// Every task checkpointed under `agent_id`. An unreadable `task.json` is an error when
/// `strict`, else it is logged and skipped.
pub fn load_tasks(
    work_dir: &Path,
    agent_id: &str,
    strict: bool,
) -> anyhow::Result<Vec<TaskRecord>> {
    let root = layout::meta_slaves_dir(work_dir)
        .join(agent_id)
        .join("frameworks");
    let mut out = Vec::new();
    for fw in subdirs(&root) {
        for ex in subdirs(&fw.join("executors")) {
            for run in subdirs(&ex.join("runs")) {
                let file = run.join(layout::TASK_FILE);
                if !file.exists() {
                    continue;
                }
                let parsed = std::fs::read(&file)
                    .with_context(|| format!("cannot read {}", file.display()))
                    .and_then(|b| {
                        serde_json::from_slice::<TaskRecord>(&b)
                            .with_context(|| format!("{} is not a task checkpoint", file.display()))
                    });
                match parsed {
                    Ok(r) => out.push(r),
                    Err(e) if strict => {
                        return Err(e.context("recovery failed (start with --no-strict to skip it)"))
                    }
                    Err(e) => tracing::warn!("skipping a checkpoint: {e:#}"),
                }
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::task::TaskState;

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("agent-ckpt-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn agent_id_and_tasks_round_trip() {
        let w = tmp("rt");
        assert_eq!(read_agent_id(&w), None);
        write_agent_id(&w, "M-S1").unwrap();
        write_agent_id(&w, "M-S2").unwrap();
        assert_eq!(read_agent_id(&w).as_deref(), Some("M-S2"));
        let run_dir = layout::meta_run_dir(&w, "M-S2", "F", "t", "c");
        let r = TaskRecord {
            framework_id: "F".into(),
            task_id: "t".into(),
            framework_info: serde_json::json!({"name": "fw"}),
            task_info: serde_json::json!({"name": "t"}),
            agent_id: "M-S2".into(),
            container_id: "c".into(),
            sandbox: w.join("sb"),
            run_dir: run_dir.clone(),
            state: TaskState::Running,
            statuses: vec![],
            supervisor_pid: Some(1),
            command_pid: None,
            kill_grace_ns: None,
            completed: false,
            pending_updates: vec![serde_json::json!({"uuid": "u"})],
        };
        write_task(&run_dir.join(layout::TASK_FILE), &r).unwrap();
        assert_eq!(load_tasks(&w, "M-S2", true).unwrap(), vec![r]);

        std::fs::write(run_dir.join(layout::TASK_FILE), b"{garbage").unwrap();
        let e = load_tasks(&w, "M-S2", true).unwrap_err();
        assert!(format!("{e:#}").contains("not a task checkpoint"), "{e:#}");
        assert!(load_tasks(&w, "M-S2", false).unwrap().is_empty());
        std::fs::remove_dir_all(&w).unwrap();
    }
}
