//! The agent's flags (Mesos' names and defaults) and the checked configuration built from them.

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::Duration;

use crate::agent::attributes::{self, Attribute};
use crate::flags::{FlagError, Flags, Spec};
use crate::resources::Resources;
use crate::zk::ZkUrl;

pub const SPECS: &[Spec] = &[
    Spec::value(
        "master",
        None,
        "the master: zk://host:port[,host:port]/path or host:port (required)",
    ),
    Spec::value(
        "work_dir",
        Some("/tmp/mesos"),
        "where sandboxes and checkpoints live",
    ),
    Spec::value(
        "ip",
        Some("127.0.0.1"),
        "the IPv4 address to listen on and advertise",
    ),
    Spec::value("port", Some("5051"), "the port to listen on"),
    Spec::value(
        "hostname",
        None,
        "the hostname to advertise (default: --ip)",
    ),
    Spec::value(
        "resources",
        None,
        "total resources, e.g. cpus:4;mem:4096;disk:10000;ports:[31000-32000] (or a JSON \
         array); what is missing is detected",
    ),
    Spec::value(
        "attributes",
        None,
        "attributes, e.g. rack:r1;zone:a;level:2",
    ),
    Spec::value(
        "containerizers",
        Some("mesos"),
        "comma-separated containerizers: mesos, docker",
    ),
    Spec::value(
        "docker",
        Some("docker"),
        "the docker CLI to use for DOCKER containers",
    ),
    Spec::value(
        "executor_shutdown_grace_period",
        Some("5secs"),
        "grace between SIGTERM and SIGKILL when a framework is shut down",
    ),
    Spec::value(
        "zk_session_timeout",
        Some("10secs"),
        "ZooKeeper session timeout",
    ),
    Spec::value(
        "registration_backoff_factor",
        Some("1secs"),
        "the first delay before registering again (doubling, at most 4 times this or 5secs)",
    ),
    Spec::value(
        "recover",
        Some("reconnect"),
        "reconnect: adopt the tasks of the previous run; cleanup: kill them, forget them and exit",
    ),
    Spec::boolean(
        "strict",
        true,
        "fail on an unreadable checkpoint instead of skipping it",
    ),
    Spec::value(
        "logging_level",
        Some("INFO"),
        "INFO, WARNING or ERROR (RUST_LOG overrides)",
    ),
];

/// Where the masters are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MasterSource {
    Zk(ZkUrl),
    /// `host:port` of one master.
    Fixed(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recover {
    Reconnect,
    Cleanup,
}

#[derive(Debug, Clone)]
pub struct AgentConfig {
    pub master: MasterSource,
    pub work_dir: PathBuf,
    pub ip: Ipv4Addr,
    pub port: u16,
    pub hostname: String,
    /// Resources given on the command line; the rest is detected at start.
    pub resources: Resources,
    pub attributes: Vec<Attribute>,
    pub containerizers: Vec<String>,
    pub docker: String,
    pub executor_shutdown_grace_period: Duration,
    pub zk_session_timeout: Duration,
    pub registration_backoff_factor: Duration,
    pub recover: Recover,
    pub strict: bool,
    pub logging_level: String,
    /// Every flag as given or defaulted (for `/flags`).
    pub flags: Vec<(String, String)>,
}

fn bad(flags: &Flags, name: &str, message: String) -> FlagError {
    FlagError {
        origin: flags.origin(name),
        message: format!("--{name}: {message}"),
    }
}

fn duration(flags: &Flags, name: &str) -> Result<Duration, FlagError> {
    Ok(flags.duration(name)?.unwrap_or(Duration::ZERO))
}

pub fn parse_master(text: &str) -> Result<MasterSource, String> {
    let t = text.trim();
    if t.starts_with("zk://") {
        return ZkUrl::parse(t).map(MasterSource::Zk);
    }
    let hostport = t.strip_prefix("http://").unwrap_or(t).trim_end_matches('/');
    let hostport = hostport.strip_prefix("master@").unwrap_or(hostport);
    match hostport.rsplit_once(':') {
        Some((h, p)) if !h.is_empty() && p.parse::<u16>().is_ok() => {
            Ok(MasterSource::Fixed(hostport.to_string()))
        }
        _ => Err(format!(
            "'{text}' is neither zk://host:port/path nor host:port"
        )),
    }
}

impl AgentConfig {
    pub fn from_flags(flags: &Flags) -> Result<AgentConfig, FlagError> {
        let master_text = flags.require("master")?;
        let master = parse_master(master_text).map_err(|m| bad(flags, "master", m))?;
        let ip: Ipv4Addr = flags
            .parse("ip")?
            .ok_or_else(|| bad(flags, "ip", "must be an IPv4 address".into()))?;
        let port: u16 = flags.parse("port")?.unwrap_or(5051);
        let hostname = match flags.get("hostname") {
            Some(h) if !h.trim().is_empty() => h.trim().to_string(),
            _ => ip.to_string(),
        };
        let resources = match flags.get("resources").map(str::trim) {
            None | Some("") => Resources::new(),
            Some(t) if t.starts_with('[') => {
                let v: serde_json::Value = serde_json::from_str(t)
                    .map_err(|e| bad(flags, "resources", format!("not JSON: {e}")))?;
                Resources::from_json(&v).map_err(|e| bad(flags, "resources", e.0))?
            }
            Some(t) => Resources::parse(t).map_err(|e| bad(flags, "resources", e.0))?,
        };
        let attributes = attributes::parse(flags.get("attributes").unwrap_or(""))
            .map_err(|m| bad(flags, "attributes", m))?;
        let containerizers: Vec<String> = flags
            .get("containerizers")
            .unwrap_or("mesos")
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect();
        for c in &containerizers {
            if c != "mesos" && c != "docker" {
                return Err(bad(
                    flags,
                    "containerizers",
                    format!("unknown containerizer '{c}' (mesos, docker)"),
                ));
            }
        }
        if containerizers.is_empty() {
            return Err(bad(
                flags,
                "containerizers",
                "names no containerizer".into(),
            ));
        }
        let recover = match flags.get("recover").unwrap_or("reconnect") {
            "reconnect" => Recover::Reconnect,
            "cleanup" => Recover::Cleanup,
            other => {
                return Err(bad(
                    flags,
                    "recover",
                    format!("'{other}' is not reconnect or cleanup"),
                ))
            }
        };
        let work_dir = PathBuf::from(flags.get("work_dir").unwrap_or("/tmp/mesos"));
        if !work_dir.is_absolute() {
            return Err(bad(flags, "work_dir", "must be an absolute path".into()));
        }
        let backoff = duration(flags, "registration_backoff_factor")?;
        Ok(AgentConfig {
            master,
            work_dir,
            ip,
            port,
            hostname,
            resources,
            attributes,
            containerizers,
            docker: flags.get("docker").unwrap_or("docker").to_string(),
            executor_shutdown_grace_period: duration(flags, "executor_shutdown_grace_period")?,
            zk_session_timeout: duration(flags, "zk_session_timeout")?,
            registration_backoff_factor: backoff,
            recover,
            strict: flags.bool("strict"),
            logging_level: flags.get("logging_level").unwrap_or("INFO").to_string(),
            flags: flags
                .all()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        })
    }

    /// `slave(1)@ip:port`, the agent's libprocess-style pid.
    pub fn pid(&self) -> String {
        format!("slave(1)@{}:{}", self.ip, self.port)
    }

    /// The `--containerizers` value as given (for messages).
    pub fn containerizers_text(&self) -> String {
        self.containerizers.join(",")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flags::{load, Sources};

    fn config(args: &[&str]) -> Result<AgentConfig, FlagError> {
        let sources = Sources {
            env: vec![],
            default_conf_dirs: vec![],
            zk_file_flag: "master",
        };
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        AgentConfig::from_flags(&load(SPECS, &args, &sources)?)
    }

    #[test]
    fn defaults_follow_mesos() {
        let c = config(&["--master=127.0.0.1:5050"]).unwrap();
        assert_eq!(c.master, MasterSource::Fixed("127.0.0.1:5050".into()));
        assert_eq!(c.port, 5051);
        assert_eq!(c.hostname, "127.0.0.1");
        assert_eq!(c.work_dir, PathBuf::from("/tmp/mesos"));
        assert_eq!(c.containerizers, vec!["mesos"]);
        assert_eq!(c.recover, Recover::Reconnect);
        assert_eq!(c.executor_shutdown_grace_period, Duration::from_secs(5));
        assert_eq!(c.pid(), "slave(1)@127.0.0.1:5051");
        assert!(c.resources.is_empty());
    }

    #[test]
    fn masters_resources_and_attributes() {
        let c = config(&[
            "--master=zk://h1:2181,h2:2181/mesos",
            "--resources=cpus:2;ports:[1-10]",
            "--attributes=rack:r1",
            "--containerizers=docker,mesos",
            "--hostname=agent1",
        ])
        .unwrap();
        assert!(matches!(c.master, MasterSource::Zk(ref u) if u.path == "/mesos"));
        assert_eq!(c.resources.scalar("cpus"), 2.0);
        assert_eq!(c.attributes.len(), 1);
        assert_eq!(c.containerizers_text(), "docker,mesos");
        assert_eq!(c.hostname, "agent1");
        let c = config(&[
            "--master=http://m:5050/",
            r#"--resources=[{"name":"cpus","type":"SCALAR","scalar":{"value":3}}]"#,
        ])
        .unwrap();
        assert_eq!(c.master, MasterSource::Fixed("m:5050".into()));
        assert_eq!(c.resources.scalar("cpus"), 3.0);
    }

    #[test]
    fn bad_flags_name_the_flag_and_source() {
        let e = config(&[]).unwrap_err();
        assert!(
            e.to_string().contains("missing required flag --master"),
            "{e}"
        );
        let e = config(&["--master=nowhere"]).unwrap_err();
        assert_eq!(e.origin, "command line");
        assert!(e.message.contains("--master"), "{e}");
        let e = config(&["--master=m:1", "--resources=cpus:x"]).unwrap_err();
        assert!(e.message.contains("--resources"), "{e}");
        let e = config(&["--master=m:1", "--containerizers=rkt"]).unwrap_err();
        assert!(e.message.contains("unknown containerizer 'rkt'"), "{e}");
        let e = config(&["--master=m:1", "--recover=maybe"]).unwrap_err();
        assert!(e.message.contains("--recover"), "{e}");
        let e = config(&["--master=m:1", "--ip=localhost"]).unwrap_err();
        assert!(e.message.contains("--ip"), "{e}");
        let e = config(&["--master=m:1", "--work_dir=rel"]).unwrap_err();
        assert!(e.message.contains("absolute"), "{e}");
    }
}
