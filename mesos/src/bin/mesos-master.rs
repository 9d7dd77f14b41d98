//! `mesos-master`: a Mesos master that elects its leader and keeps its registry in ZooKeeper.
//!
//! ```text
//! mesos-master --zk=zk://127.0.0.1:2181,127.0.0.1:2182,127.0.0.1:2183/mesos --quorum=2 \
//!              --work_dir=/var/lib/mesos --ip=127.0.0.1 --port=5050 --cluster=mesos_cluster
//! ```
//! Flags also come from `MESOS_*` variables and from `/etc/mesos/zk` and `/etc/mesos-master/`
//! (see `mesos::flags`).

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use mesos::flags::{self, Flags, Sources};
use mesos::master::core::Config;
use mesos::master::options::SPECS;
use mesos::master::{http, runtime, state};
use mesos::zk::{MasterInfo, ZkUrl};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let sources = Sources {
        env: std::env::vars().collect(),
        default_conf_dirs: vec!["/etc/mesos".into(), "/etc/mesos-master".into()],
        zk_file_flag: "zk",
    };
    let flags = match flags::load(SPECS, &args, &sources) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("mesos-master: {e}\n(mesos-master --help lists the flags)");
            return ExitCode::from(1);
        }
    };
    if flags.help {
        print!("{}", flags::usage("mesos-master", SPECS));
        return ExitCode::SUCCESS;
    }
    let level = match flags.get("logging_level").unwrap_or("INFO") {
        "ERROR" => "error",
        "WARNING" => "warn",
        _ => "info",
    };
    mesos::daemon::serve("mesos-master", "MESOS_LOG", level, run(flags))
}

fn duration(flags: &Flags, name: &str, alias: &str) -> Result<Duration> {
    let d = match flags.duration(alias)? {
        Some(d) => Some(d),
        None => flags.duration(name)?,
    };
    d.with_context(|| format!("--{name} is required"))
}

async fn run(flags: Flags) -> Result<()> {
    for f in ["authenticate_frameworks", "authenticate_agents"] {
        if flags.bool(f) {
            bail!("--{f}: authentication is not supported by this master");
        }
    }
    let zk = match flags.get("zk").filter(|s| !s.is_empty()) {
        Some(z) => Some(
            ZkUrl::parse(z).map_err(|e| anyhow::anyhow!("{}: --zk: {e}", flags.origin("zk")))?,
        ),
        None => None,
    };
    if zk.is_some() {
        let quorum: u32 = flags
            .parse("quorum")?
            .context("--quorum is required when --zk is given (e.g. --quorum=2 for 3 masters)")?;
        if quorum == 0 {
            bail!("{}: --quorum must be at least 1", flags.origin("quorum"));
        }
        flags.require("work_dir")?;
    }
    if let Some(dir) = flags.get("work_dir").filter(|s| !s.is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating --work_dir {dir}"))?;
    }
    let registry_in_zk = match flags.get("registry").unwrap_or("replicated_log") {
        "replicated_log" => true,
        "in_memory" => false,
        other => bail!(
            "{}: --registry must be replicated_log or in_memory, not '{other}'",
            flags.origin("registry")
        ),
    };
    let ip: Ipv4Addr = flags.parse("ip")?.context("--ip")?;
    let port: u16 = flags.parse("port")?.context("--port")?;
    let adv_ip: Ipv4Addr = flags.parse("advertise_ip")?.unwrap_or(ip);
    let adv_port: u16 = flags.parse("advertise_port")?.unwrap_or(port);
    let hostname = flags
        .get("hostname")
        .filter(|s| !s.is_empty())
        .map_or_else(|| adv_ip.to_string(), str::to_string);

    let mut weights = BTreeMap::new();
    if let Some(w) = flags.get("weights").filter(|s| !s.is_empty()) {
        for kv in w.split(',') {
            let (role, weight) = kv
                .split_once('=')
                .with_context(|| format!("--weights: '{kv}' is not role=weight"))?;
            let weight: f64 = weight
                .trim()
                .parse()
                .ok()
                .filter(|w: &f64| *w > 0.0)
                .with_context(|| format!("--weights: '{weight}' is not a positive number"))?;
            weights.insert(role.trim().to_string(), weight);
        }
    }
    let config = Config {
        offer_timeout_ms: flags
            .duration("offer_timeout")?
            .map(|d| d.as_millis() as u64),
        agent_ping_timeout_ms: duration(&flags, "agent_ping_timeout", "slave_ping_timeout")?
            .as_millis() as u64,
        max_agent_ping_timeouts: match flags.parse::<u32>("max_slave_ping_timeouts")? {
            Some(n) => n,
            None => flags.parse("max_agent_ping_timeouts")?.unwrap_or(5),
        }
        .max(1),
        agent_reregister_timeout_ms: duration(
            &flags,
            "agent_reregister_timeout",
            "slave_reregister_timeout",
        )?
        .as_millis() as u64,
        allocation_interval_ms: duration(&flags, "allocation_interval", "allocation_interval")?
            .as_millis()
            .max(1) as u64,
        heartbeat_interval_ms: duration(&flags, "heartbeat_interval", "heartbeat_interval")?
            .as_millis()
            .max(1) as u64,
        weights,
        max_completed_frameworks: flags.parse("max_completed_frameworks")?.unwrap_or(50),
        max_completed_tasks_per_framework: flags
            .parse("max_completed_tasks_per_framework")?
            .unwrap_or(1000),
    };
    let info = MasterInfo {
        id: uuid::Uuid::new_v4().to_string(),
        ip: adv_ip,
        port: adv_port,
        hostname,
        version: state::MESOS_VERSION.to_string(),
    };
    let listener = tokio::net::TcpListener::bind((ip, port))
        .await
        .with_context(|| format!("binding {ip}:{port}"))?;
    let flag_map: BTreeMap<String, String> = flags
        .all()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let handle = runtime::start(runtime::Options {
        info: info.clone(),
        config,
        zk,
        zk_session_timeout: duration(&flags, "zk_session_timeout", "zk_session_timeout")?,
        registry_in_zk,
        flags: flag_map,
        cluster: flags
            .get("cluster")
            .filter(|s| !s.is_empty())
            .map(str::to_string),
    })
    .await?;
    tracing::info!(id = %info.id, "master listening on {ip}:{port}");
    axum::serve(listener, http::router(handle))
        .await
        .context("serving HTTP")?;
    Ok(())
}
