//! Connect strings: `host1:port1,host2:port2/chroot`, and the chroot's mapping between the
//! paths callers use and the paths the server sees.

use thiserror::Error;
use zk_proto::path::PathError;

/// ZooKeeper's client port when a host names none.
pub const DEFAULT_PORT: u16 = 2181;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ConnectStringError {
    #[error("the connect string names no host")]
    NoHosts,
    #[error("empty host in the connect string")]
    EmptyHost,
    #[error("bad port in {0:?}")]
    BadPort(String),
    #[error("unterminated IPv6 address in {0:?}")]
    BadIpv6(String),
    #[error("invalid chroot {chroot:?}: {err}")]
    BadChroot { chroot: String, err: PathError },
}

/// One server to try: a host name or address literal (IPv6 without brackets) and a port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPort {
    pub host: String,
    pub port: u16,
}

impl HostPort {
    /// `host:port` as `tokio::net::lookup_host` takes it (IPv6 in brackets).
    pub fn to_addr_string(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// A parsed connect string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectString {
    pub hosts: Vec<HostPort>,
    pub chroot: Chroot,
}

impl std::str::FromStr for ConnectString {
    type Err = ConnectStringError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse(s)
    }
}

/// Parses `host1:port1,host2:port2/chroot`. A chroot of `/` means none.
pub fn parse(s: &str) -> Result<ConnectString, ConnectStringError> {
    let s = s.trim();
    let (hosts_part, chroot) = match s.find('/') {
        Some(i) => (&s[..i], Chroot::new(&s[i..])?),
        None => (s, Chroot::none()),
    };
    if hosts_part.trim().is_empty() {
        return Err(ConnectStringError::NoHosts);
    }
    let hosts = hosts_part
        .split(',')
        .map(parse_host)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(ConnectString { hosts, chroot })
}

fn parse_host(h: &str) -> Result<HostPort, ConnectStringError> {
    let h = h.trim();
    if h.is_empty() {
        return Err(ConnectStringError::EmptyHost);
    }
    let (host, port) = if let Some(rest) = h.strip_prefix('[') {
        let end = rest
            .find(']')
            .ok_or_else(|| ConnectStringError::BadIpv6(h.to_owned()))?;
        let host = &rest[..end];
        let after = &rest[end + 1..];
        let port = match after.strip_prefix(':') {
            Some(p) => Some(p),
            None if after.is_empty() => None,
            None => return Err(ConnectStringError::BadPort(h.to_owned())),
        };
        (host, port)
    } else {
        match h.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (h, None),
        }
    };
    if host.is_empty() {
        return Err(ConnectStringError::EmptyHost);
    }
    let port = match port {
        None => DEFAULT_PORT,
        Some(p) => p
            .parse::<u16>()
            .ok()
            .filter(|&p| p != 0)
            .ok_or_else(|| ConnectStringError::BadPort(h.to_owned()))?,
    };
    Ok(HostPort {
        host: host.to_owned(),
        port,
    })
}

/// A validated chroot prefix ("" when there is none).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Chroot(String);

impl Chroot {
    pub fn none() -> Chroot {
        Chroot(String::new())
    }

    /// Validates `path` as a chroot; `/` is the same as none.
    pub fn new(path: &str) -> Result<Chroot, ConnectStringError> {
        zk_proto::path::validate(path, false).map_err(|err| ConnectStringError::BadChroot {
            chroot: path.to_owned(),
            err,
        })?;
        Ok(if path == "/" {
            Chroot::none()
        } else {
            Chroot(path.to_owned())
        })
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The server-side path of a client path (`/a` under `/app` is `/app/a`; `/` is `/app`).
    pub fn prefix(&self, path: &str) -> String {
        if self.0.is_empty() {
            path.to_owned()
        } else if path == "/" {
            self.0.clone()
        } else {
            format!("{}{}", self.0, path)
        }
    }

    /// The client path of a server path (created paths, event paths). Paths outside the
    /// chroot are returned unchanged (ZooKeeper does the same).
    pub fn strip(&self, path: &str) -> String {
        if self.0.is_empty() {
            return path.to_owned();
        }
        match path.strip_prefix(self.0.as_str()) {
            Some("") => "/".to_owned(),
            Some(rest) if rest.starts_with('/') => rest.to_owned(),
            _ => path.to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hp(host: &str, port: u16) -> HostPort {
        HostPort {
            host: host.into(),
            port,
        }
    }

    #[test]
    fn hosts_ports_and_chroot() {
        let cs = parse("a:1,b:2/app/x").unwrap();
        assert_eq!(cs.hosts, vec![hp("a", 1), hp("b", 2)]);
        assert_eq!(cs.chroot.as_str(), "/app/x");
        let cs = parse("a, b:3").unwrap();
        assert_eq!(cs.hosts, vec![hp("a", DEFAULT_PORT), hp("b", 3)]);
        assert_eq!(cs.chroot, Chroot::none());
        assert_eq!(parse("a:1/").unwrap().chroot, Chroot::none());
    }

    #[test]
    fn ipv6() {
        let cs = parse("[::1]:2182,[fe80::1]/c").unwrap();
        assert_eq!(cs.hosts, vec![hp("::1", 2182), hp("fe80::1", DEFAULT_PORT)]);
        assert_eq!(cs.hosts[0].to_addr_string(), "[::1]:2182");
        assert_eq!(cs.hosts[1].to_addr_string(), "[fe80::1]:2181");
        assert_eq!(cs.chroot.as_str(), "/c");
        assert!(matches!(parse("[::1"), Err(ConnectStringError::BadIpv6(_))));
        assert!(matches!(
            parse("[::1]x"),
            Err(ConnectStringError::BadPort(_))
        ));
    }

    #[test]
    fn errors() {
        assert_eq!(parse(""), Err(ConnectStringError::NoHosts));
        assert_eq!(parse("/app"), Err(ConnectStringError::NoHosts));
        assert_eq!(parse("a,,b"), Err(ConnectStringError::EmptyHost));
        assert_eq!(parse(":1"), Err(ConnectStringError::EmptyHost));
        assert!(matches!(parse("a:x"), Err(ConnectStringError::BadPort(_))));
        assert!(matches!(parse("a:0"), Err(ConnectStringError::BadPort(_))));
        assert!(matches!(
            parse("a:70000"),
            Err(ConnectStringError::BadPort(_))
        ));
        assert!(matches!(
            parse("a:1/app/"),
            Err(ConnectStringError::BadChroot {
                err: PathError::TrailingSlash,
                ..
            })
        ));
        assert!(matches!(
            parse("a:1/app//x"),
            Err(ConnectStringError::BadChroot { .. })
        ));
    }

    #[test]
    fn prefix_and_strip() {
        let c = Chroot::new("/app").unwrap();
        assert_eq!(c.prefix("/"), "/app");
        assert_eq!(c.prefix("/a/b"), "/app/a/b");
        assert_eq!(c.strip("/app"), "/");
        assert_eq!(c.strip("/app/a"), "/a");
        assert_eq!(c.strip("/apple"), "/apple");
        assert_eq!(c.strip("/other"), "/other");
        let n = Chroot::none();
        assert_eq!(n.prefix("/a"), "/a");
        assert_eq!(n.strip("/a"), "/a");
    }
}

#[cfg(test)]
mod props {
    use super::*;
    use proptest::prelude::*;

    fn host() -> impl Strategy<Value = HostPort> {
        let name = prop_oneof![
            "[a-z][a-z0-9.-]{0,12}",
            "(::1|fe80::1|2001:db8::7)".prop_map(String::from),
        ];
        (name, 1u16..).prop_map(|(host, port)| HostPort { host, port })
    }

    proptest! {
        /// Formatting hosts and a chroot, then parsing, gives them back; prefix and strip are
        /// inverse on every path under the chroot.
        #[test]
        fn round_trip(hosts in prop::collection::vec(host(), 1..5),
                      chroot in prop::option::of("(/[a-z0-9]{1,5}){1,3}"),
                      rel in "(/[a-z0-9]{1,5}){0,3}") {
            let mut s = hosts.iter().map(HostPort::to_addr_string).collect::<Vec<_>>().join(",");
            if let Some(c) = &chroot {
                s.push_str(c);
            }
            let cs = parse(&s).unwrap();
            prop_assert_eq!(&cs.hosts, &hosts);
            prop_assert_eq!(cs.chroot.as_str(), chroot.as_deref().unwrap_or(""));
            let rel = if rel.is_empty() { "/".to_owned() } else { rel };
            prop_assert_eq!(cs.chroot.strip(&cs.chroot.prefix(&rel)), rel);
        }
    }
}
