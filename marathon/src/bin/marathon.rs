//! `marathon`: keeps long-running apps alive on our Mesos, with its state in ZooKeeper.
//!
//! ```text
//! marathon --master zk://127.0.0.1:2181/mesos --zk zk://127.0.0.1:2181/marathon --http_port 8080
//! ```
//! Flags also come from `MARATHON_*` variables and from flag files in `/etc/marathon/conf`
//! (file name = flag), and `/etc/mesos/zk` gives `--master`, as Mesosphere's packages do.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use marathon::options::SPECS;
use mesos::flags::{self, Flags, Sources};
use mesos::scheduler::MasterSource;
use mesos::zk::ZkUrl;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let sources = Sources {
        env: std::env::vars().collect(),
        default_conf_dirs: vec!["/etc/mesos".into(), "/etc/marathon/conf".into()],
        zk_file_flag: "master",
    };
    let flags = match flags::load_with_prefix(SPECS, &args, &sources, "MARATHON_") {
        Ok(f) => f,
        Err(e) => {
            eprintln!("marathon: {e}\n(marathon --help lists the flags)");
            return ExitCode::from(1);
        }
    };
    if flags.help {
        print!(
            "{}",
            flags::usage("marathon", SPECS).replace("MESOS_<FLAG>", "MARATHON_<FLAG>")
        );
        return ExitCode::SUCCESS;
    }
    let level = flags
        .get("logging_level")
        .unwrap_or("info")
        .to_ascii_lowercase();
    mesos::daemon::serve("marathon", "MARATHON_LOG", level.as_str(), run(flags))
}

async fn run(flags: Flags) -> Result<()> {
    let master = MasterSource::parse(flags.require("master")?)
        .with_context(|| format!("{}: --master", flags.origin("master")))?;
    let zk = ZkUrl::parse(flags.get("zk").unwrap_or(""))
        .map_err(|e| anyhow::anyhow!("{}: --zk: {e}", flags.origin("zk")))?;
    let port: u16 = flags.parse("http_port")?.context("--http_port")?;
    let addr: Ipv4Addr = flags.parse("http_address")?.context("--http_address")?;
    let hostname = flags
        .get("hostname")
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .unwrap_or_else(|| {
            if addr.is_unspecified() {
                "127.0.0.1".to_string()
            } else {
                addr.to_string()
            }
        });
    let failover_timeout_s: f64 = flags.parse("failover_timeout")?.unwrap_or(604800.0);
    if failover_timeout_s < 0.0 {
        bail!(
            "{}: --failover_timeout must not be negative",
            flags.origin("failover_timeout")
        );
    }
    let zk_session_ms: u64 = flags.parse("zk_session_timeout")?.unwrap_or(10000);
    let framework_name = flags
        .get("framework_name")
        .unwrap_or("marathon")
        .to_string();
    let flag_map: BTreeMap<String, String> = flags
        .all()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let me = format!("{hostname}:{port}");
    let info = marathon::runtime::info_json(&flag_map, &framework_name, &me);
    let listener = tokio::net::TcpListener::bind((addr, port))
        .await
        .with_context(|| format!("binding {addr}:{port}"))?;
    let task_launch_timeout_ms: u64 = flags.parse("task_launch_timeout")?.unwrap_or(300_000);
    let handle = marathon::runtime::start(marathon::runtime::Options {
        task_launch_timeout_ms,
        master,
        zk,
        zk_session_timeout: Duration::from_millis(zk_session_ms),
        me,
        framework_name,
        failover_timeout_s,
        mesos_role: flags.get("mesos_role").unwrap_or("*").to_string(),
        info,
    })
    .await?;
    tracing::info!("marathon listening on {addr}:{port}");
    axum::serve(listener, marathon::api::router(handle))
        .await
        .context("serving HTTP")?;
    Ok(())
}
