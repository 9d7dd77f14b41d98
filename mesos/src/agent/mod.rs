//! The agent: registers with the leading master over `POST /api/v1/agent` (see
//! docs/mesos-agent-protocol.md), runs command tasks in Mesos-style sandboxes under small
//! supervisor processes that outlive it, delivers status updates reliably, checkpoints
//! everything under `<work_dir>/meta`, and serves Mesos' agent endpoints.
//!
//! Module map:
//! - [`config`]: flags and the checked configuration;
//! - [`attributes`]: `--attributes` parsing and JSON;
//! - [`system`]: the machine's CPUs, memory, disk and load; resource detection;
//! - [`task`]: task states and the launch plan (command line, environment) for a `TaskInfo`;
//! - [`updates`]: per-task status update queues with retries (time as an argument);
//! - [`core`]: the agent's decisions: events in, effects out, no I/O;
//! - [`state_json`]: `/state`, `/metrics/snapshot`, `/version`, `/flags` bodies;
//! - [`layout`]: where sandboxes and checkpoints live;
//! - [`checkpoint`]: atomic writes and recovery reads of `<work_dir>/meta`;
//! - [`fetcher`]: `CommandInfo.uris` into the sandbox before the command starts;
//! - [`supervisor`]: the process that runs one command and records its exit status;
//! - [`files`]: `/files/*`, limited to the sandboxes;
//! - [`master_link`]: leader detection, REGISTER's event stream, calls to the master;
//! - [`http`]: the agent's HTTP endpoints;
//! - [`runtime`]: the tokio shell that ties them together.
pub mod attributes;
pub mod checkpoint;
pub mod config;
pub mod core;
pub mod fetcher;
pub mod files;
pub mod http;
pub mod layout;
pub mod master_link;
pub mod runtime;
pub mod state_json;
pub mod supervisor;
pub mod system;
pub mod task;
pub mod updates;

use std::process::ExitCode;

use crate::flags::{self, Sources};

/// `mesos-agent`'s main: flags, logging, then the runtime (or the supervisor, when the
/// binary was re-executed as one).
pub fn main(args: Vec<String>) -> ExitCode {
    let program = args
        .first()
        .cloned()
        .unwrap_or_else(|| "mesos-agent".into());
    let rest: Vec<String> = args.into_iter().skip(1).collect();
    if let [only] = rest.as_slice() {
        if let Some(run_dir) = only.strip_prefix(supervisor::FLAG) {
            let code = supervisor::supervise(std::path::Path::new(run_dir));
            return ExitCode::from(u8::try_from(code).unwrap_or(1));
        }
    }
    let sources = Sources {
        env: std::env::vars().collect(),
        default_conf_dirs: ["/etc/mesos", "/etc/mesos-slave", "/etc/mesos-agent"]
            .iter()
            .map(std::path::PathBuf::from)
            .collect(),
        zk_file_flag: "master",
    };
    let loaded = match flags::load(config::SPECS, &rest, &sources) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("Failed to load flags: {e}\n\nRun '{program} --help' for usage.");
            return ExitCode::from(1);
        }
    };
    if loaded.help {
        print!("{}", flags::usage(&program, config::SPECS));
        return ExitCode::SUCCESS;
    }
    let config = match config::AgentConfig::from_flags(&loaded) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("Failed to load flags: {e}\n\nRun '{program} --help' for usage.");
            return ExitCode::from(1);
        }
    };
    let level = match config.logging_level.to_ascii_uppercase().as_str() {
        "WARNING" | "WARN" => "warn",
        "ERROR" => "error",
        "DEBUG" => "debug",
        _ => "info",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match rt.block_on(runtime::run(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("mesos-agent: {e:#}");
            ExitCode::from(1)
        }
    }
}
