//! ZooKeeper for Mesos: `zk://` URLs, the masters' `json.info_<seq>` group and the leading
//! master's `MasterInfo`.
//!
//! Layout under the URL's path (e.g. `/mesos`), as Mesos and its clients expect:
//! - `json.info_<seq>`: one EPHEMERAL_SEQUENTIAL node per master, data = JSON `MasterInfo`;
//!   the lowest sequence leads. pymesos takes the lexicographic minimum of all children except
//!   `log_replicas`, so nothing else here may sort before `json.info_`.
//! - `log_replicas/registry`: the registry (JSON), written only by the leading master with a
//!   version check. Real Mesos keeps its replicated log's group under `log_replicas`; we keep
//!   the registry itself there, which clients already skip.

use serde_json::{json, Value};

/// The prefix of the masters' group members.
pub const MASTER_PREFIX: &str = "json.info_";
/// The registry's directory under the Mesos path.
pub const REGISTRY_DIR: &str = "log_replicas";
/// The registry znode's name under [`REGISTRY_DIR`].
pub const REGISTRY_NODE: &str = "registry";

/// A parsed `zk://[user:password@]host:port[,host:port...]/path`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZkUrl {
    /// `host:port,host:port` (for the client's connect string).
    pub servers: String,
    /// The znode path, e.g. `/mesos` (never ends with `/` unless it is `/`).
    pub path: String,
    /// `user:password` for the digest scheme, when given.
    pub credentials: Option<String>,
}

impl ZkUrl {
    pub fn parse(url: &str) -> Result<ZkUrl, String> {
        let url = url.trim();
        let rest = url
            .strip_prefix("zk://")
            .ok_or_else(|| format!("'{url}' is not a zk:// URL"))?;
        let (auth, rest) = match rest.split_once('@') {
            Some((a, r)) if !a.contains('/') => (Some(a.to_string()), r),
            _ => (None, rest),
        };
        let (servers, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => return Err(format!("'{url}' has no path (zk://host:port/mesos)")),
        };
        if servers.is_empty() {
            return Err(format!("'{url}' names no ZooKeeper server"));
        }
        for s in servers.split(',') {
            let ok = s
                .rsplit_once(':')
                .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok());
            if !ok {
                return Err(format!("'{url}': '{s}' is not host:port"));
            }
        }
        let path = path.trim_end_matches('/');
        let path = if path.is_empty() { "/" } else { path };
        if path.contains("//") {
            return Err(format!("'{url}': bad path '{path}'"));
        }
        Ok(ZkUrl {
            servers: servers.to_string(),
            path: path.to_string(),
            credentials: auth,
        })
    }

    /// `<path>/log_replicas`
    pub fn registry_dir(&self) -> String {
        join(&self.path, REGISTRY_DIR)
    }

    /// `<path>/log_replicas/registry`
    pub fn registry_path(&self) -> String {
        join(&self.registry_dir(), REGISTRY_NODE)
    }
}

pub fn join(dir: &str, name: &str) -> String {
    if dir == "/" {
        format!("/{name}")
    } else {
        format!("{dir}/{name}")
    }
}

/// What a master publishes about itself (Mesos' `MasterInfo`).
#[derive(Debug, Clone, PartialEq)]
pub struct MasterInfo {
    pub id: String,
    pub ip: std::net::Ipv4Addr,
    pub port: u16,
    pub hostname: String,
    pub version: String,
}

impl MasterInfo {
    /// `master@ip:port`
    pub fn pid(&self) -> String {
        format!("master@{}:{}", self.ip, self.port)
    }

    /// `ip:port`, what clients connect to.
    pub fn address(&self) -> String {
        format!("{}:{}", self.ip, self.port)
    }

    /// The JSON written into `json.info_<seq>` and returned by the APIs. `ip` is the address
    /// as a uint32 in network byte order read as a little-endian integer, as Mesos stores it.
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "ip": u32::from_le_bytes(self.ip.octets()),
            "port": self.port,
            "pid": self.pid(),
            "hostname": self.hostname,
            "version": self.version,
            "address": {"hostname": self.hostname, "ip": self.ip.to_string(), "port": self.port},
        })
    }

    /// Reads a `MasterInfo` JSON (ours or real Mesos'): `address.ip` when present, else the
    /// uint32 `ip`.
    pub fn from_json(v: &Value) -> Result<MasterInfo, String> {
        let port = v
            .get("port")
            .and_then(Value::as_u64)
            .or_else(|| v.pointer("/address/port").and_then(Value::as_u64))
            .and_then(|p| u16::try_from(p).ok())
            .ok_or("MasterInfo has no valid port")?;
        let ip = match v.pointer("/address/ip").and_then(Value::as_str) {
            Some(s) => s
                .parse()
                .map_err(|_| format!("MasterInfo address.ip '{s}' is not IPv4"))?,
            None => {
                let n = v
                    .get("ip")
                    .and_then(Value::as_u64)
                    .and_then(|n| u32::try_from(n).ok())
                    .ok_or("MasterInfo has no ip")?;
                std::net::Ipv4Addr::from(n.to_le_bytes())
            }
        };
        Ok(MasterInfo {
            id: v
                .get("id")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            ip,
            port,
            hostname: v
                .get("hostname")
                .and_then(Value::as_str)
                .map_or_else(|| ip.to_string(), str::to_string),
            version: v
                .get("version")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
        })
    }
}

/// Connects a client for `url` (with digest credentials when the URL has them).
pub async fn connect(
    url: &ZkUrl,
    session_timeout: std::time::Duration,
) -> zk_client::Result<zk_client::Client> {
    let client = zk_client::Client::builder()
        .session_timeout(session_timeout)
        .connect(&url.servers)
        .await?;
    if let Some(c) = &url.credentials {
        client.add_auth("digest", c.as_bytes()).await?;
    }
    Ok(client)
}

/// The current leading master, if any.
pub async fn leading_master(
    client: &zk_client::Client,
    url: &ZkUrl,
) -> zk_client::Result<Option<MasterInfo>> {
    match zk_client::recipes::lowest_child(client, &url.path, MASTER_PREFIX).await {
        Ok(Some((_, data))) => Ok(serde_json::from_slice::<Value>(&data)
            .ok()
            .and_then(|v| MasterInfo::from_json(&v).ok())),
        Ok(None) => Ok(None),
        Err(zk_client::Error::Server(zk_client::ErrorCode::NoNode)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Follows the leading master: sends the current one first, then every change (None while
/// there is none). Ends when the session ends; dropping the receiver stops it.
pub fn watch_leading_master(
    client: &zk_client::Client,
    url: &ZkUrl,
) -> tokio::sync::mpsc::UnboundedReceiver<Option<MasterInfo>> {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let mut inner = zk_client::recipes::watch_lowest_child(client, &url.path, MASTER_PREFIX);
    tokio::spawn(async move {
        while let Some(item) = inner.recv().await {
            let info = item.and_then(|(_, data)| {
                serde_json::from_slice::<Value>(&data)
                    .ok()
                    .and_then(|v| MasterInfo::from_json(&v).ok())
            });
            if tx.send(info).is_err() {
                return;
            }
        }
    });
    rx
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_zk_urls() {
        let u =
            ZkUrl::parse("zk://182.48.115.233:2181,182.48.115.235:2181,182.48.115.236:2181/mesos")
                .unwrap();
        assert_eq!(
            u.servers,
            "182.48.115.233:2181,182.48.115.235:2181,182.48.115.236:2181"
        );
        assert_eq!(u.path, "/mesos");
        assert_eq!(u.registry_path(), "/mesos/log_replicas/registry");
        let u = ZkUrl::parse("zk://user:pw@h:1/a/b/").unwrap();
        assert_eq!(u.credentials.as_deref(), Some("user:pw"));
        assert_eq!(u.path, "/a/b");
        for bad in [
            "http://h:1/m",
            "zk://h:1",
            "zk:///m",
            "zk://h/m",
            "zk://h:x/m",
            "zk://h:1//m",
        ] {
            assert!(ZkUrl::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn master_info_json_matches_mesos() {
        let m = MasterInfo {
            id: "abc".into(),
            ip: "127.0.0.1".parse().unwrap(),
            port: 5050,
            hostname: "localhost".into(),
            version: "1.11.0".into(),
        };
        let j = m.to_json();
        // 127.0.0.1 in network order read little-endian: 0x0100007f.
        assert_eq!(j["ip"], 16777343u32);
        assert_eq!(j["pid"], "master@127.0.0.1:5050");
        assert_eq!(j["address"]["ip"], "127.0.0.1");
        assert_eq!(MasterInfo::from_json(&j).unwrap(), m);
        let mut no_addr = j.clone();
        no_addr.as_object_mut().unwrap().remove("address");
        assert_eq!(MasterInfo::from_json(&no_addr).unwrap().ip, m.ip);
    }
}
