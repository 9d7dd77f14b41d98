//! The tokio shell around [`Core`]: recovery at start, the master link, supervisors, the
//! HTTP server, and one loop that feeds the core and carries out its [`Effect`]s.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use anyhow::Context;
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use serde_json::Value;
use tokio::io::AsyncBufReadExt;
use tokio::sync::mpsc;

use crate::agent::checkpoint;
use crate::agent::config::{AgentConfig, Recover};
use crate::agent::core::{Core, CoreConfig, Effect, ExitOutcome};
use crate::agent::http::{self, HttpState};
use crate::agent::layout;
use crate::agent::master_link::{self, HttpClient, Link, LinkInput, Session};
use crate::agent::supervisor;
use crate::agent::system::{self, Machine};
use crate::agent::task::{LaunchSpec, TaskKey};

/// How often an adopted supervisor (not our child) is checked.
const ADOPTED_POLL: Duration = Duration::from_millis(200);
/// How long a supervisor may take to start its command.
const LAUNCH_TIMEOUT: Duration = Duration::from_secs(60);

/// What the loop reacts to besides the master link.
#[derive(Debug)]
enum Input {
    Link(LinkInput),
    SupervisorStarted { key: TaskKey, pid: i32 },
    Launched { key: TaskKey, command_pid: i32 },
    Exited { key: TaskKey, outcome: ExitOutcome },
}

fn lock(core: &Mutex<Core>) -> MutexGuard<'_, Core> {
    match core.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

/// Whether DOCKER containers can run: `docker` is a configured containerizer and
/// `docker version` answers.
async fn docker_available(config: &AgentConfig) -> Option<String> {
    if !config.containerizers.iter().any(|c| c == "docker") {
        return None;
    }
    let probe = tokio::process::Command::new(&config.docker)
        .arg("version")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .status();
    match tokio::time::timeout(Duration::from_secs(10), probe).await {
        Ok(Ok(s)) if s.success() => Some(config.docker.clone()),
        other => {
            tracing::warn!(
                "--containerizers names docker but '{} version' failed ({other:?}); DOCKER tasks will be refused",
                config.docker
            );
            None
        }
    }
}

/// The environment tasks start from: the agent's, without the agent's own settings.
fn task_base_env() -> Vec<(String, String)> {
    std::env::vars()
        .filter(|(k, _)| {
            !k.starts_with("MESOS_") && !k.starts_with("LIBPROCESS_") && k != "RUST_LOG"
        })
        .collect()
}

/// `--recover=cleanup`: kill what the previous run left and forget it.
fn cleanup(work_dir: &Path) -> anyhow::Result<()> {
    let mut supervisors = Vec::new();
    if let Some(id) = checkpoint::read_agent_id(work_dir) {
        for t in checkpoint::load_tasks(work_dir, &id, false)? {
            let Some(sup) = t
                .supervisor_pid
                .filter(|p| supervisor::supervisor_alive(*p, &t.run_dir))
            else {
                continue;
            };
            let pgid = t
                .command_pid
                .or_else(|| supervisor::read_pid(&t.run_dir.join(layout::COMMAND_PID)));
            if let Some(pgid) = pgid {
                tracing::info!(
                    task_id = t.task_id,
                    pgid,
                    "killing a task of the previous run"
                );
                let _ = killpg(Pid::from_raw(pgid), Signal::SIGKILL);
            }
            supervisors.push((sup, t.run_dir));
        }
    }
    // The supervisors write their exit status into the checkpoint directory: let them finish
    // (or stop them) before it is removed.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while supervisors
        .iter()
        .any(|(p, d)| supervisor::supervisor_alive(*p, d))
        && std::time::Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    for (p, d) in &supervisors {
        if supervisor::supervisor_alive(*p, d) {
            let _ = nix::sys::signal::kill(Pid::from_raw(*p), Signal::SIGKILL);
        }
    }
    let meta = layout::meta_slaves_dir(work_dir);
    if meta.exists() {
        std::fs::remove_dir_all(&meta)
            .with_context(|| format!("cannot remove {}", meta.display()))?;
    }
    Ok(())
}

pub async fn run(config: AgentConfig) -> anyhow::Result<()> {
    let work_dir = config.work_dir.clone();
    if config.recover == Recover::Cleanup {
        cleanup(&work_dir)?;
        tracing::info!("--recover=cleanup: the previous run's tasks are killed and its checkpoints removed; exiting");
        return Ok(());
    }
    let sandboxes = layout::sandboxes_root(&work_dir);
    std::fs::create_dir_all(&sandboxes)
        .with_context(|| format!("cannot create the work directory {}", sandboxes.display()))?;
    let files_root = std::fs::canonicalize(&sandboxes)?;
    let machine = Machine::read(&work_dir);
    let resources = system::complete_resources(&config.resources, &machine);
    let docker = docker_available(&config).await;
    let exe = std::env::current_exe().context("cannot find the agent's own binary")?;

    let mut core = Core::new(CoreConfig {
        work_dir: work_dir.clone(),
        hostname: config.hostname.clone(),
        port: config.port,
        resources: resources.clone(),
        attributes: config.attributes.clone(),
        docker,
        containerizers: config.containerizers_text(),
        shutdown_grace: config.executor_shutdown_grace_period,
        base_env: task_base_env(),
    });
    let agent_id = checkpoint::read_agent_id(&work_dir);
    let records = match &agent_id {
        Some(id) => checkpoint::load_tasks(&work_dir, id, config.strict)?,
        None => Vec::new(),
    };
    tracing::info!(agent_id = ?agent_id, tasks = records.len(), %resources, "recovered the previous run");
    core.recover(agent_id, records);

    let listener = tokio::net::TcpListener::bind((config.ip, config.port))
        .await
        .with_context(|| format!("cannot listen on {}:{}", config.ip, config.port))?;
    let core = Arc::new(Mutex::new(core));
    let (tx, mut rx) = mpsc::unbounded_channel::<Input>();
    let start_time = system::wall_clock();

    // What the previous run left running: adopt live supervisors, report the rest.
    let recovered: Vec<_> = lock(&core)
        .tasks()
        .filter(|t| !t.state.is_terminal())
        .map(|t| (t.key(), t.supervisor_pid, t.command_pid, t.run_dir.clone()))
        .collect();
    for (key, sup, cmd, run_dir) in recovered {
        recover_task(&tx, key, sup, cmd, &run_dir);
    }

    let http_state = Arc::new(HttpState {
        core: core.clone(),
        pid: config.pid(),
        start_time,
        flags: config.flags.clone(),
        files_root,
        cpus: machine.cpus,
    });
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, http::router(http_state)).await {
            tracing::error!("the HTTP server stopped: {e}");
        }
    });
    tracing::info!(pid = config.pid(), "agent started");

    let client = master_link::http_client();
    let (refused_tx, refused_rx) = mpsc::unbounded_channel();
    let (link_tx, mut link_rx) = mpsc::unbounded_channel();
    let link = Link {
        client: client.clone(),
        core: core.clone(),
        tx: link_tx,
        leader: master_link::detect_leader(&config.master, config.zk_session_timeout),
        backoff_factor: config.registration_backoff_factor,
        refused: refused_rx,
    };
    tokio::spawn(link.run());
    {
        let tx = tx.clone();
        tokio::spawn(async move {
            while let Some(i) = link_rx.recv().await {
                if tx.send(Input::Link(i)).is_err() {
                    return;
                }
            }
        });
    }

    let mut shell = Shell {
        core,
        tx,
        client,
        refused: refused_tx,
        session: None,
        exe,
    };
    let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    loop {
        let now = tokio::time::Instant::now();
        let deadline = lock(&shell.core).next_deadline(now.into_std()).map_or(
            now + Duration::from_secs(3600),
            tokio::time::Instant::from_std,
        );
        tokio::select! {
            input = rx.recv() => match input {
                Some(i) => shell.handle(i),
                None => return Ok(()),
            },
            _ = tokio::time::sleep_until(deadline) => {
                let fx = lock(&shell.core).flush(std::time::Instant::now());
                shell.execute(fx);
            }
            _ = tokio::signal::ctrl_c() => {
                tracing::info!("interrupted; exiting (tasks keep running)");
                return Ok(());
            }
            _ = sigterm.recv() => {
                tracing::info!("terminated; exiting (tasks keep running)");
                return Ok(());
            }
        }
    }
}

/// Decides what happened to a task of the previous run.
fn recover_task(
    tx: &mpsc::UnboundedSender<Input>,
    key: TaskKey,
    supervisor_pid: Option<i32>,
    command_pid: Option<i32>,
    run_dir: &Path,
) {
    let command_pid =
        command_pid.or_else(|| supervisor::read_pid(&run_dir.join(layout::COMMAND_PID)));
    let supervisor_pid =
        supervisor_pid.or_else(|| supervisor::read_pid(&run_dir.join(layout::FORKED_PID)));
    match supervisor_pid {
        Some(pid) if supervisor::supervisor_alive(pid, run_dir) => {
            // Only a live supervisor's command is ours to signal: after a reboot or once the
            // supervisor is gone, its process group id may belong to someone else.
            if let Some(command_pid) = command_pid {
                // Also re-arms a kill that was under way, and moves a STARTING task to RUNNING.
                let _ = tx.send(Input::Launched {
                    key: key.clone(),
                    command_pid,
                });
            }
            tracing::info!(task_id = key.task_id, pid, "adopting a running task");
            watch_adopted(
                tx.clone(),
                key,
                pid,
                run_dir.to_path_buf(),
                command_pid.is_some(),
            );
        }
        _ => {
            let outcome = supervisor::read_exit_status(run_dir).unwrap_or(ExitOutcome::Vanished);
            tracing::info!(
                task_id = key.task_id,
                ?outcome,
                "a task of the previous run has ended"
            );
            let _ = tx.send(Input::Exited { key, outcome });
        }
    }
}

/// Polls a supervisor that is not our child until it ends.
fn watch_adopted(
    tx: mpsc::UnboundedSender<Input>,
    key: TaskKey,
    pid: i32,
    run_dir: PathBuf,
    mut launched: bool,
) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(ADOPTED_POLL);
        loop {
            tick.tick().await;
            if tx.is_closed() {
                return;
            }
            if !launched {
                if let Some(cmd) = supervisor::read_pid(&run_dir.join(layout::COMMAND_PID)) {
                    launched = true;
                    let _ = tx.send(Input::Launched {
                        key: key.clone(),
                        command_pid: cmd,
                    });
                }
            }
            if !supervisor::supervisor_alive(pid, &run_dir) {
                let outcome =
                    supervisor::read_exit_status(&run_dir).unwrap_or(ExitOutcome::Vanished);
                let _ = tx.send(Input::Exited { key, outcome });
                return;
            }
        }
    });
}

struct Shell {
    core: Arc<Mutex<Core>>,
    tx: mpsc::UnboundedSender<Input>,
    client: HttpClient,
    refused: mpsc::UnboundedSender<String>,
    session: Option<Session>,
    exe: PathBuf,
}

impl Shell {
    fn handle(&mut self, input: Input) {
        let now = std::time::Instant::now();
        let wall = system::wall_clock();
        let fx = {
            let mut core = lock(&self.core);
            match input {
                Input::Link(LinkInput::Registered {
                    session,
                    master_info,
                }) => {
                    let id = session.agent_id.clone();
                    self.session = Some(session);
                    core.on_registered(&id, master_info, now)
                }
                Input::Link(LinkInput::Disconnected(_)) => {
                    self.session = None;
                    core.on_disconnected();
                    Vec::new()
                }
                Input::Link(LinkInput::Event(e)) => core.on_event(&e, now, wall),
                Input::SupervisorStarted { key, pid } => core.on_supervisor_started(&key, pid),
                Input::Launched { key, command_pid } => {
                    core.on_launched(&key, command_pid, now, wall)
                }
                Input::Exited { key, outcome } => core.on_exited(&key, &outcome, now, wall),
            }
        };
        self.execute(fx);
    }

    fn execute(&mut self, effects: Vec<Effect>) {
        for e in effects {
            match e {
                Effect::Send(call) => self.send(call),
                Effect::Checkpoint(key) => {
                    let ck = lock(&self.core).checkpoint(&key);
                    if let Some((path, record)) = ck {
                        if let Err(e) = checkpoint::write_task(&path, &record) {
                            tracing::error!("cannot checkpoint task {}: {e}", key.task_id);
                        }
                    }
                }
                Effect::CheckpointAgentId(id) => {
                    if let Err(e) = checkpoint::write_agent_id(&lock(&self.core).cfg.work_dir, &id)
                    {
                        tracing::error!("cannot checkpoint the agent ID: {e}");
                    }
                }
                Effect::Launch {
                    key,
                    spec,
                    sandbox,
                    run_dir,
                } => self.launch(key, &spec, &sandbox, run_dir),
                Effect::Kill { key, pgid, grace } => {
                    tracing::info!(task_id = key.task_id, pgid, ?grace, "killing a task");
                    tokio::spawn(kill_group(pgid, grace));
                }
            }
        }
    }

    fn send(&self, call: Value) {
        let Some(session) = self.session.clone() else {
            return;
        };
        let client = self.client.clone();
        let refused = self.refused.clone();
        tokio::spawn(async move {
            match master_link::send_call(&client, &session, &call).await {
                Ok(s) if s.is_success() => {}
                Ok(hyper::StatusCode::FORBIDDEN) => {
                    tracing::warn!("the master refused a call with 403; registering again");
                    let _ = refused.send(session.stream_id.clone());
                }
                Ok(s) => tracing::warn!("the master answered {s} to a {} call", call["type"]),
                Err(e) => tracing::warn!("cannot send a {} call: {e}", call["type"]),
            }
        });
    }

    fn launch(&self, key: TaskKey, spec: &LaunchSpec, sandbox: &Path, run_dir: PathBuf) {
        let prepared = prepare_launch(spec, sandbox, &run_dir);
        let log = prepared.and_then(|_| {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(run_dir.join(layout::SUPERVISOR_LOG))
                .context("cannot open the supervisor log")
        });
        let child = log.and_then(|log| {
            tokio::process::Command::new(&self.exe)
                .arg(format!("{}{}", supervisor::FLAG, run_dir.display()))
                .process_group(0)
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::piped())
                .stderr(log)
                .kill_on_drop(false)
                .spawn()
                .context("cannot start the supervisor")
        });
        let mut child = match child {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(task_id = key.task_id, "{e:#}");
                let _ = self.tx.send(Input::Exited {
                    key,
                    outcome: ExitOutcome::LaunchFailed(format!("{e:#}")),
                });
                return;
            }
        };
        let pid = child.id().map_or(0, |p| p as i32);
        if let Err(e) = checkpoint::write_atomic(
            &run_dir.join(layout::FORKED_PID),
            pid.to_string().as_bytes(),
        ) {
            tracing::error!("cannot checkpoint the supervisor's pid: {e}");
        }
        let _ = self.tx.send(Input::SupervisorStarted {
            key: key.clone(),
            pid,
        });
        let tx = self.tx.clone();
        tokio::spawn(async move {
            if let Some(out) = child.stdout.take() {
                let mut lines = tokio::io::BufReader::new(out).lines();
                if let Ok(Ok(Some(line))) =
                    tokio::time::timeout(LAUNCH_TIMEOUT, lines.next_line()).await
                {
                    let v: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
                    if let Some(cmd) = v.get("pid").and_then(Value::as_i64) {
                        let _ = tx.send(Input::Launched {
                            key: key.clone(),
                            command_pid: cmd as i32,
                        });
                    }
                }
            }
            let status = child.wait().await;
            tracing::debug!(task_id = key.task_id, ?status, "supervisor ended");
            let outcome = supervisor::read_exit_status(&run_dir).unwrap_or(ExitOutcome::Vanished);
            let _ = tx.send(Input::Exited { key, outcome });
        });
    }
}

/// The sandbox, its `latest` link and the launch spec.
fn prepare_launch(spec: &LaunchSpec, sandbox: &Path, run_dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(sandbox)
        .with_context(|| format!("cannot create the sandbox {}", sandbox.display()))?;
    if let (Some(runs), Some(name)) = (sandbox.parent(), sandbox.file_name()) {
        checkpoint::replace_symlink(Path::new(name), &runs.join("latest"))
            .context("cannot link 'latest'")?;
    }
    std::fs::create_dir_all(run_dir.join("pids"))?;
    let bytes = serde_json::to_vec_pretty(spec)?;
    checkpoint::write_atomic(&run_dir.join(layout::LAUNCH_FILE), &bytes)
        .context("cannot write the launch spec")?;
    Ok(())
}

/// SIGTERM to the group, then SIGKILL once `grace` has passed and the group still exists.
async fn kill_group(pgid: i32, grace: Duration) {
    if pgid <= 1 {
        return;
    }
    let group = Pid::from_raw(pgid);
    if killpg(group, Signal::SIGTERM).is_err() {
        return;
    }
    let deadline = tokio::time::Instant::now() + grace;
    let mut tick = tokio::time::interval(Duration::from_millis(50));
    while tokio::time::Instant::now() < deadline {
        tick.tick().await;
        if killpg(group, None).is_err() {
            return;
        }
    }
    if killpg(group, Signal::SIGKILL).is_ok() {
        tracing::info!(pgid, "the task outlived its grace period; sent SIGKILL");
    }
}
