//! `zk-server`: run a ZooKeeper-compatible server from a zoo.cfg, like
//! `zkServer.sh start-foreground CONFIG`.
//!
//! Usage:
//!   zk-server [start-foreground] CONFIG   serve until SIGTERM/SIGINT
//!   zk-server status CONFIG               ask the running server for its mode (zkServer.sh status)
//!   zk-server purge CONFIG [-n COUNT]     keep the newest COUNT (>= 3) snapshots and the logs
//!                                         they need (zkCleanup.sh)
//!   zk-server txnlog PATH [--check]       print (or check) a txn log file or version-2 dir
//!   zk-server snapshot FILE [-d] [--check] print (or check) a snapshot; -d prints node data
//!   zk-server version

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use zk_server::config::{self, FourLetterWhitelist, ServerConfig};
use zk_server::core::CoreConfig;
use zk_server::runtime::{
    four_letter::ZK_VERSION, tls::TlsSettings, AdminSettings, PeerAddr, QuorumSettings,
    RuntimeConfig, Server, StorageConfig,
};

const USAGE: &str = "usage: zk-server [start-foreground|status] CONFIG
       zk-server purge CONFIG [-n COUNT]
       zk-server txnlog LOG_FILE_OR_DIR [--check]
       zk-server snapshot SNAPSHOT_FILE [-d] [--check]
       zk-server version";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut purge_count: Option<usize> = None;
    if let Some(code) = run_tool(&args) {
        return code;
    }
    let (cmd, cfg_path) = match args.as_slice() {
        [v] if v == "version" || v == "--version" => {
            println!(
                "zkrs zk-server {} (ZooKeeper {ZK_VERSION})",
                env!("CARGO_PKG_VERSION")
            );
            return ExitCode::SUCCESS;
        }
        [h] if h == "-h" || h == "--help" || h == "help" => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        [c] => ("start-foreground", PathBuf::from(c)),
        [cmd, c] if cmd == "start-foreground" || cmd == "status" || cmd == "purge" => {
            (cmd.as_str(), PathBuf::from(c))
        }
        [cmd, c, n, count] if cmd == "purge" && n == "-n" => match count.parse::<usize>() {
            Ok(k) => {
                purge_count = Some(k);
                ("purge", PathBuf::from(c))
            }
            Err(_) => {
                eprintln!("zk-server: purge -n needs a number, got '{count}'");
                return ExitCode::from(2);
            }
        },
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    if cmd != "start-foreground" {
        // `status` and `purge` log to the console; the server logs as its config says.
        let _ = zk_server::logging::LogConfig::default().init();
    }
    // One thread serves everything: the core is a single task anyway, and on a small machine
    // (the target: 2 cores, often shared by a pseudo-cluster) cross-thread wake-ups and work
    // stealing cost more than they give (measured in benches/RESULTS.md). Txn log syncs,
    // snapshots and their loading have threads of their own.
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("zk-server: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = rt.block_on(async {
        match cmd {
            "status" => status(&cfg_path).await,
            "purge" => purge(&cfg_path, purge_count),
            _ => serve(&cfg_path).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("zk-server: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// `txnlog` and `snapshot`: offline tools that need no runtime.
fn run_tool(args: &[String]) -> Option<ExitCode> {
    let (tool, rest) = args.split_first()?;
    if tool != "txnlog" && tool != "snapshot" {
        return None;
    }
    let check = rest.iter().any(|a| a == "--check");
    let data = rest.iter().any(|a| a == "-d");
    let paths: Vec<&String> = rest.iter().filter(|a| !a.starts_with('-')).collect();
    let [path] = paths.as_slice() else {
        eprintln!("{USAGE}");
        return Some(ExitCode::from(2));
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let r = if tool == "txnlog" {
        zk_server::tools::dump_log(Path::new(path), check, &mut out).map(|_| ())
    } else {
        zk_server::tools::dump_snapshot(Path::new(path), data, check, &mut out).map(|_| ())
    };
    let _ = std::io::Write::flush(&mut out);
    Some(match r {
        Ok(()) => ExitCode::SUCCESS,
        // `zk-server txnlog ... | head` is normal use, not an error.
        Err(e) if e.contains("Broken pipe") => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("zk-server {tool}: {e}");
            ExitCode::FAILURE
        }
    })
}

/// zoo.cfg, then the `-D` settings zkServer.sh passes: those it makes of ZOO_LOG_DIR,
/// ZOO_LOG_FILE and ZOO_LOG4J_PROP, then JVMFLAGS and SERVER_JVMFLAGS. Returns the warnings
/// unlogged: the logger is set up from this config.
fn load_config_quietly(path: &Path) -> Result<(ServerConfig, Vec<config::ConfigWarning>)> {
    let (mut cfg, mut warnings) = config::load(path).map_err(anyhow::Error::msg)?;
    for (var, prop) in zk_server::logging::ENV_FLAGS {
        if let Ok(value) = std::env::var(var) {
            // One shell-quoted word: values such as "INFO, CONSOLE" hold blanks.
            let flag = format!("-D{prop}='{}'", value.replace('\'', "'\\''"));
            warnings.extend(
                config::apply_jvm_flags_from(&mut cfg, &flag, Path::new(var))
                    .map_err(anyhow::Error::msg)?,
            );
        }
    }
    for var in ["JVMFLAGS", "SERVER_JVMFLAGS"] {
        if let Ok(flags) = std::env::var(var) {
            warnings.extend(
                config::apply_jvm_flags_from(&mut cfg, &flags, Path::new(var))
                    .map_err(anyhow::Error::msg)?,
            );
        }
    }
    Ok((cfg, warnings))
}

fn load_config(path: &Path) -> Result<ServerConfig> {
    let (cfg, warnings) = load_config_quietly(path)?;
    config::log_warnings(&warnings);
    Ok(cfg)
}

fn runtime_config(cfg: &ServerConfig, addr: std::net::SocketAddr) -> RuntimeConfig {
    RuntimeConfig {
        client_addr: addr,
        core: CoreConfig {
            server_id: cfg.my_id.unwrap_or(0).max(1),
            tick_time_ms: cfg.tick_time_ms,
            min_session_timeout_ms: cfg.min_session_timeout_ms(),
            max_session_timeout_ms: cfg.max_session_timeout_ms(),
            max_buffer: cfg.jute_max_buffer as usize,
            extended_types_enabled: cfg.extended_types_enabled,
            super_digest: cfg.super_digest.clone(),
            skip_acl: cfg.skip_acl,
            reconfig_enabled: cfg.reconfig_enabled,
            container_check_interval_ms: u64::from(cfg.container_check_interval_ms),
            container_max_per_minute: cfg.container_max_per_minute,
            digest_enabled: cfg.digest_enabled,
            enforce_quota: cfg.enforce_quota,
            read_only_mode_enabled: cfg.read_only_mode_enabled,
        },
        max_client_cnxns: cfg.max_client_cnxns,
        four_letter_whitelist: match &cfg.four_letter_whitelist {
            FourLetterWhitelist::All => None,
            FourLetterWhitelist::Only(set) => Some(set.iter().cloned().collect()),
        },
        data_dir: cfg.data_dir.clone(),
        data_log_dir: cfg.data_log_dir.clone(),
        storage: Some(StorageConfig {
            snap_dir: cfg.data_dir.join("version-2"),
            log_dir: cfg.data_log_dir.join("version-2"),
            prealloc_bytes: cfg.pre_alloc_size_kb * 1024,
            force_sync: cfg.force_sync,
            snap_count: cfg.snap_count,
            digest_enabled: cfg.digest_enabled,
            snap_retain_count: cfg.autopurge_snap_retain_count,
            purge_interval_hours: cfg.autopurge_purge_interval_hours,
        }),
        quorum: quorum_settings(cfg),
        tls: TlsSettings::default(),
        // Resolved in `serve` (see `http_addrs`).
        admin: None,
        metrics_addr: None,
        initial_config: None,
        system_properties: cfg.system_properties.clone(),
        config_node: cfg.quorum_config_text().map(|text| {
            zk_server::core::config_node::ConfigNode {
                data: text.into_bytes(),
                version: cfg.quorum_config_version() as i64,
            }
        }),
    }
}

/// ZooKeeper's Prometheus metrics provider, the one that serves `/metrics`.
const PROMETHEUS_PROVIDER: &str =
    "org.apache.zookeeper.metrics.prometheus.PrometheusMetricsProvider";

async fn resolve(host: &str, port: u16, what: &str, path: &Path) -> Result<std::net::SocketAddr> {
    tokio::net::lookup_host((host, port))
        .await
        .with_context(|| format!("{}: cannot resolve {what} {host}:{port}", path.display()))?
        .next()
        .with_context(|| format!("{}: {what} {host} resolves to nothing", path.display()))
}

/// The AdminServer's and the Prometheus endpoint's addresses, when they are on.
async fn http_addrs(
    cfg: &ServerConfig,
    path: &Path,
) -> Result<(Option<AdminSettings>, Option<std::net::SocketAddr>)> {
    let admin = if cfg.admin.enabled {
        let a = &cfg.admin;
        Some(AdminSettings {
            addr: resolve(&a.address, a.port, "admin.serverAddress", path).await?,
            command_url: a.command_url.clone(),
        })
    } else {
        None
    };
    let metrics = if cfg.metrics.class_name == PROMETHEUS_PROVIDER {
        let m = &cfg.metrics;
        Some(resolve(&m.http_host, m.http_port, "metricsProvider.httpHost", path).await?)
    } else {
        None
    };
    Ok((admin, metrics))
}

/// The ensemble from `server.N`, `group.N`/`weight.N` and `myid`; `None` when standalone.
fn quorum_settings(cfg: &ServerConfig) -> Option<QuorumSettings> {
    if cfg.is_standalone() {
        return None;
    }
    let my_id = cfg.my_id?;
    let servers = cfg
        .servers
        .iter()
        .map(|(id, s)| {
            (
                *id,
                PeerAddr {
                    host: s.host.clone(),
                    quorum_port: s.quorum_port,
                    election_port: s.election_port,
                    observer: s.role == zk_server::config::PeerRole::Observer,
                },
            )
        })
        .collect::<std::collections::BTreeMap<_, _>>();
    let voters = servers
        .iter()
        .filter(|(_, a)| !a.observer)
        .map(|(id, _)| zab::PeerId(*id));
    let verifier = if cfg.groups.is_empty() {
        zab::QuorumVerifier::majority(voters)
    } else {
        zab::QuorumVerifier::Hierarchical {
            groups: cfg
                .groups
                .values()
                .map(|g| g.iter().map(|id| zab::PeerId(*id)).collect())
                .collect(),
            weights: cfg
                .weights
                .iter()
                .map(|(id, w)| (zab::PeerId(*id), *w))
                .collect(),
        }
    };
    Some(QuorumSettings {
        my_id,
        servers,
        verifier,
        init_limit: cfg.init_limit,
        sync_limit: cfg.sync_limit,
        history_limit: cfg
            .system_properties
            .get("zookeeper.commitLogCount")
            .and_then(|v| v.parse().ok())
            .unwrap_or(10_000),
        tls: None,
    })
}

async fn client_addr(cfg: &ServerConfig, path: &Path) -> Result<std::net::SocketAddr> {
    // With only secureClientPort, that is the one client port (served with TLS).
    let Some((host, port)) = cfg.client_address().or_else(|| cfg.secure_client_address()) else {
        bail!(
            "{}: no clientPort (or server.N ';clientPort') is configured",
            path.display()
        );
    };
    resolve(&host, port, "client address", path).await
}

async fn serve(path: &Path) -> Result<()> {
    let (cfg, warnings) = load_config_quietly(path)?;
    cfg.logging.init().map_err(anyhow::Error::msg)?;
    config::log_warnings(&warnings);
    let mode = if cfg.is_standalone() {
        "standalone".to_owned()
    } else {
        let Some(id) = cfg.my_id else {
            bail!(
                "{}: lists {} servers but {} has no myid file",
                path.display(),
                cfg.servers.len(),
                cfg.data_dir.display()
            );
        };
        if !cfg.servers.contains_key(&id) {
            bail!(
                "{}: myid is {id} but there is no server.{id} line",
                path.display()
            );
        }
        format!("replicated, myid {id}")
    };
    let addr = client_addr(&cfg, path).await?;
    let client_port_is_secure = cfg.client_address().is_none();
    let secure_addr = match cfg.secure_client_address() {
        Some((host, port)) if !client_port_is_secure => {
            Some(resolve(&host, port, "secure client address", path).await?)
        }
        _ => None,
    };
    let mut rc = runtime_config(&cfg, addr);
    rc.tls = TlsSettings::from_config(&cfg, secure_addr, client_port_is_secure)
        .map_err(anyhow::Error::msg)?;
    tracing::info!(config = %path.display(), "starting zk-server {} ({mode})", env!("CARGO_PKG_VERSION"));
    (rc.admin, rc.metrics_addr) = http_addrs(&cfg, path).await?;
    rc.initial_config = std::fs::read_to_string(path).ok();
    let mut server = Server::start(rc).await.with_context(|| {
        format!(
            "cannot start on {addr} with data in {}",
            cfg.data_dir.display()
        )
    })?;
    tokio::select! {
        _ = wait_for_signal() => {
            tracing::info!("shutting down");
            server.shutdown().await;
            Ok(())
        }
        reason = server.failure() => {
            server.shutdown().await;
            bail!("fatal: {reason}")
        }
    }
}

/// `zkCleanup.sh -n COUNT`: keeps the newest COUNT snapshots (at least 3) and the logs they need.
fn purge(path: &Path, count: Option<usize>) -> Result<()> {
    let cfg = load_config(path)?;
    let retain = count.unwrap_or(cfg.autopurge_snap_retain_count as usize);
    let snap = cfg.data_dir.join("version-2");
    let log = cfg.data_log_dir.join("version-2");
    let p = zk_server::storage::purge::purge(&snap, &log, retain)
        .with_context(|| format!("purging {}", snap.display()))?;
    for f in p.snapshots.iter().chain(&p.logs) {
        println!("Removing file: {}", f.display());
    }
    println!(
        "Kept the newest {} snapshots",
        retain.max(zk_server::storage::purge::MIN_RETAIN)
    );
    Ok(())
}

async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        }
        _ => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// `zkServer.sh status`: asks the server with `srvr` and prints its mode. With `secureClientPort`
/// as the only client port, over TLS with zoo.cfg's own `ssl.*` stores.
async fn status(path: &Path) -> Result<()> {
    let cfg = load_config(path)?;
    let secure = cfg.client_address().is_none();
    let mut addr = client_addr(&cfg, path).await?;
    if addr.ip().is_unspecified() {
        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    println!("Using config: {}", path.display());
    println!(
        "Client port found: {}. Client address: {}. Client SSL: {secure}.",
        addr.port(),
        addr.ip()
    );
    let step = std::time::Duration::from_secs(5);
    let tcp = tokio::time::timeout(step, tokio::net::TcpStream::connect(addr))
        .await
        .context("timed out connecting")?
        .with_context(|| {
            format!("Error contacting service. It is probably not running. ({addr})")
        })?;
    let text = if secure {
        let tls = zk_server::runtime::tls::own_client_connector(&cfg)?;
        let name = rustls::pki_types::ServerName::IpAddress(addr.ip().into());
        let s = tokio::time::timeout(step, tls.connect(name, tcp))
            .await
            .context("timed out in the TLS handshake")?
            .with_context(|| format!("TLS handshake with {addr} failed"))?;
        ask_srvr(s, step).await?
    } else {
        ask_srvr(tcp, step).await?
    };
    match text.lines().find(|l| l.starts_with("Mode: ")) {
        Some(mode) => {
            println!("{mode}");
            Ok(())
        }
        None => bail!("Error contacting service. It is probably not running."),
    }
}

async fn ask_srvr<S>(mut s: S, step: std::time::Duration) -> Result<String>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    s.write_all(b"srvr").await?;
    let mut text = String::new();
    tokio::time::timeout(step, s.read_to_string(&mut text))
        .await
        .context("timed out reading srvr")??;
    Ok(text)
}
