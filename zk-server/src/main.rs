//! `zk-server`: run a ZooKeeper-compatible server from a zoo.cfg, like
//! `zkServer.sh start-foreground CONFIG`.
//!
//! Usage:
//!   zk-server [start-foreground] CONFIG   serve until SIGTERM/SIGINT
//!   zk-server status CONFIG               ask the running server for its mode (zkServer.sh status)
//!   zk-server version

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use zk_server::config::{self, FourLetterWhitelist, ServerConfig};
use zk_server::core::CoreConfig;
use zk_server::runtime::{four_letter::ZK_VERSION, RuntimeConfig, Server};

const USAGE: &str = "usage: zk-server [start-foreground|status|version] CONFIG";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
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
        [cmd, c] if cmd == "start-foreground" || cmd == "status" => {
            (cmd.as_str(), PathBuf::from(c))
        }
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let rt = match tokio::runtime::Builder::new_multi_thread()
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

/// zoo.cfg, then `-D` settings from SERVER_JVMFLAGS and JVMFLAGS (as zkServer.sh passes them).
fn load_config(path: &Path) -> Result<ServerConfig> {
    let (mut cfg, warnings) = config::load(path).map_err(anyhow::Error::msg)?;
    config::log_warnings(&warnings);
    for var in ["JVMFLAGS", "SERVER_JVMFLAGS"] {
        if let Ok(flags) = std::env::var(var) {
            let w = config::apply_jvm_flags_from(&mut cfg, &flags, Path::new(var))
                .map_err(anyhow::Error::msg)?;
            config::log_warnings(&w);
        }
    }
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
        },
        max_client_cnxns: cfg.max_client_cnxns,
        four_letter_whitelist: match &cfg.four_letter_whitelist {
            FourLetterWhitelist::All => None,
            FourLetterWhitelist::Only(set) => Some(set.iter().cloned().collect()),
        },
        data_dir: cfg.data_dir.clone(),
        data_log_dir: cfg.data_log_dir.clone(),
    }
}

async fn client_addr(cfg: &ServerConfig, path: &Path) -> Result<std::net::SocketAddr> {
    let Some((host, port)) = cfg.client_address() else {
        bail!(
            "{}: no clientPort (or server.N ';clientPort') is configured",
            path.display()
        );
    };
    let mut addrs = tokio::net::lookup_host((host.as_str(), port))
        .await
        .with_context(|| {
            format!(
                "{}: cannot resolve client address {host}:{port}",
                path.display()
            )
        })?;
    addrs.next().with_context(|| {
        format!(
            "{}: client address {host} resolves to nothing",
            path.display()
        )
    })
}

async fn serve(path: &Path) -> Result<()> {
    let cfg = load_config(path)?;
    if !cfg.is_standalone() {
        bail!(
            "{}: lists {} servers; replicated mode (Zab) is not available in this build yet, \
             run a standalone config (no server.N lines)",
            path.display(),
            cfg.servers.len()
        );
    }
    let addr = client_addr(&cfg, path).await?;
    tracing::info!(config = %path.display(), "starting zk-server {} (standalone)", env!("CARGO_PKG_VERSION"));
    let server = Server::start(runtime_config(&cfg, addr))
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    wait_for_signal().await;
    tracing::info!("shutting down");
    server.shutdown().await;
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

/// `zkServer.sh status`: asks the server with `srvr` and prints its mode.
async fn status(path: &Path) -> Result<()> {
    let cfg = load_config(path)?;
    let mut addr = client_addr(&cfg, path).await?;
    if addr.ip().is_unspecified() {
        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    println!("Using config: {}", path.display());
    println!(
        "Client port found: {}. Client address: {}. Client SSL: false.",
        addr.port(),
        addr.ip()
    );
    let mut s = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        tokio::net::TcpStream::connect(addr),
    )
    .await
    .context("timed out connecting")?
    .with_context(|| format!("Error contacting service. It is probably not running. ({addr})"))?;
    s.write_all(b"srvr").await?;
    let mut text = String::new();
    tokio::time::timeout(
        std::time::Duration::from_secs(5),
        s.read_to_string(&mut text),
    )
    .await
    .context("timed out reading srvr")??;
    match text.lines().find(|l| l.starts_with("Mode: ")) {
        Some(mode) => {
            println!("{mode}");
            Ok(())
        }
        None => bail!("Error contacting service. It is probably not running."),
    }
}
