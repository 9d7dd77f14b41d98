//! `mesos-resolve zk://host:port,.../mesos`: prints the leading master's `ip:port`.
//! A `host:port` argument is printed as is; a `file:///path` is read first. Exits 1 (with a
//! message on stderr) when no master leads or ZooKeeper cannot be reached in time.

use std::process::ExitCode;
use std::time::Duration;

use mesos::zk::ZkUrl;

const USAGE: &str = "Usage: mesos-resolve [--timeout=SECS] <master>\n\
  <master> is zk://host:port,.../path, host:port, or file:///path holding either";

fn main() -> ExitCode {
    let mut timeout = Duration::from_secs(5);
    let mut master = None;
    for a in std::env::args().skip(1) {
        if let Some(t) = a.strip_prefix("--timeout=") {
            match mesos::flags::parse_duration(t).or_else(|_| {
                t.parse::<f64>()
                    .map(Duration::from_secs_f64)
                    .map_err(|e| e.to_string())
            }) {
                Ok(d) => timeout = d,
                Err(e) => {
                    eprintln!("mesos-resolve: --timeout: {e}");
                    return ExitCode::from(1);
                }
            }
        } else if a == "--help" || a == "-h" {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        } else if let Some(m) = a.strip_prefix("--master=") {
            master = Some(m.to_string());
        } else {
            master = Some(a);
        }
    }
    let Some(mut master) = master else {
        eprintln!("{USAGE}");
        return ExitCode::from(1);
    };
    if let Some(path) = master.strip_prefix("file://") {
        match std::fs::read_to_string(path) {
            Ok(s) => master = s.trim().to_string(),
            Err(e) => {
                eprintln!("mesos-resolve: cannot read {path}: {e}");
                return ExitCode::from(1);
            }
        }
    }
    if !master.starts_with("zk://") {
        println!("{master}");
        return ExitCode::SUCCESS;
    }
    let url = match ZkUrl::parse(&master) {
        Ok(u) => u,
        Err(e) => {
            eprintln!("mesos-resolve: {e}");
            return ExitCode::from(1);
        }
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("mesos-resolve: {e}");
            return ExitCode::from(1);
        }
    };
    let r = rt.block_on(async {
        tokio::time::timeout(timeout, async {
            let client = mesos::zk::connect(&url, Duration::from_secs(10)).await?;
            let leader = mesos::zk::leading_master(&client, &url).await;
            client.close().await;
            leader
        })
        .await
    });
    match r {
        Ok(Ok(Some(m))) => {
            println!("{}", m.address());
            ExitCode::SUCCESS
        }
        Ok(Ok(None)) => {
            eprintln!("mesos-resolve: no master is leading under {}", url.path);
            ExitCode::from(1)
        }
        Ok(Err(e)) => {
            eprintln!("mesos-resolve: ZooKeeper at {}: {e}", url.servers);
            ExitCode::from(1)
        }
        Err(_) => {
            eprintln!("mesos-resolve: timed out after {timeout:?} resolving {master}");
            ExitCode::from(1)
        }
    }
}
