//! Ensemble membership: `server.N`, `group.N` and `weight.N` lines.
//!
//! These may sit in `zoo.cfg` itself (the pre-3.5 layout ZooKeeper still
//! accepts) or in the file named by `dynamicConfigFile`; both go through
//! [`build`].

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::Path;

use super::properties::Property;
use super::{ConfigError, ConfigWarning, Loc};

/// Whether a server votes (participant) or only follows (observer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum PeerRole {
    /// Votes in elections and on proposals.
    #[default]
    Participant,
    /// Receives the committed stream and serves clients, but never votes.
    Observer,
}

impl PeerRole {
    /// Parses `participant` / `observer`, case-insensitively (as ZooKeeper).
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("participant") {
            Some(Self::Participant)
        } else if s.eq_ignore_ascii_case("observer") {
            Some(Self::Observer)
        } else {
            None
        }
    }

    /// The spelling used in config files.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Participant => "participant",
            Self::Observer => "observer",
        }
    }
}

impl fmt::Display for PeerRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One `server.N=host:quorumPort:electionPort[:role][;[clientHost:]clientPort]`.
///
/// Hosts are stored without IPv6 brackets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerSpec {
    /// The `N` of `server.N`, matched against `myid`.
    pub id: u64,
    /// Host for the quorum and election ports.
    pub host: String,
    /// Port followers use to connect to the leader.
    pub quorum_port: u16,
    /// Port used for leader election.
    pub election_port: u16,
    /// `:participant` (default) or `:observer`.
    pub role: PeerRole,
    /// `(host, port)` from the part after `;`. A bare port means host
    /// `0.0.0.0`, as in ZooKeeper.
    pub client_addr: Option<(String, u16)>,
}

/// Brackets IPv6 literals so that `host:port` stays unambiguous.
pub(super) fn format_host(host: &str) -> String {
    if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_string()
    }
}

impl fmt::Display for ServerSpec {
    /// The value of the `server.N` line, in the form ZooKeeper itself writes
    /// into dynamic config files (role always spelled out).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}:{}",
            format_host(&self.host),
            self.quorum_port,
            self.election_port,
            self.role
        )?;
        if let Some((host, port)) = &self.client_addr {
            write!(f, ";{}:{}", format_host(host), port)?;
        }
        Ok(())
    }
}

const SERVER_FORMAT: &str =
    "expected host:quorumPort:electionPort[:participant|:observer][;[clientHost:]clientPort]";

/// Splits `host:port[:...]`, where host may be a bracketed IPv6 literal.
fn split_host_and_ports(s: &str) -> Result<Vec<String>, String> {
    let s = s.trim();
    if let Some(rest) = s.strip_prefix('[') {
        let Some(end) = rest.find(']') else {
            return Err(format!("'{s}' starts with '[' but has no matching ']'"));
        };
        let mut parts = vec![rest[..end].to_string()];
        let after = &rest[end + 1..];
        if !after.is_empty() {
            let Some(ports) = after.strip_prefix(':') else {
                return Err(format!("expected ':' after ']' in '{s}'"));
            };
            parts.extend(ports.split(':').map(str::to_string));
        }
        Ok(parts)
    } else {
        Ok(s.split(':').map(str::to_string).collect())
    }
}

fn parse_port(s: &str, what: &str) -> Result<u16, String> {
    let s = s.trim();
    let n: i64 = s
        .parse()
        .map_err(|_| format!("invalid {what} '{s}' (not a number)"))?;
    match u16::try_from(n) {
        Ok(p) if p > 0 => Ok(p),
        _ => Err(format!("{what} {n} out of range (1-65535)")),
    }
}

impl ServerSpec {
    /// Parses the value of a `server.<id>` line. The error is a bare message;
    /// the caller adds file, line and key.
    pub fn parse(id: u64, value: &str) -> Result<Self, String> {
        let value = value.trim();
        let (server_part, client_part) = match value.split_once(';') {
            Some((s, c)) => (s, Some(c)),
            None => (value, None),
        };
        if client_part.is_some_and(|c| c.contains(';')) {
            return Err(format!("more than one ';' in '{value}': {SERVER_FORMAT}"));
        }
        if server_part.contains('|') {
            // ZooKeeper only accepts this with multiAddress.enabled=true,
            // which zkrs does not implement.
            return Err("multiple quorum addresses ('|') are not supported".to_string());
        }
        let parts = split_host_and_ports(server_part)?;
        if parts.len() < 3 {
            return Err(format!("missing port in '{server_part}': {SERVER_FORMAT}"));
        }
        if parts.len() > 4 {
            let hint = if server_part.trim().starts_with('[') {
                ""
            } else {
                " (IPv6 addresses must be in brackets, e.g. [::1]:2888:3888)"
            };
            return Err(format!(
                "too many ':'-separated parts in '{server_part}'{hint}: {SERVER_FORMAT}"
            ));
        }
        let host = parts[0].trim();
        if host.is_empty() {
            return Err(format!("empty host in '{server_part}'"));
        }
        let quorum_port = parse_port(&parts[1], "quorum port")?;
        let election_port = parse_port(&parts[2], "election port")?;
        if quorum_port == election_port {
            return Err(format!(
                "quorum port and election port must differ (both are {quorum_port})"
            ));
        }
        let role = match parts.get(3) {
            Some(r) => PeerRole::parse(r).ok_or_else(|| {
                format!(
                    "unknown peer type '{}': expected 'participant' or 'observer'",
                    r.trim()
                )
            })?,
            None => PeerRole::Participant,
        };
        let client_addr = match client_part.map(str::trim) {
            None => None,
            Some("") => return Err(format!("empty client address after ';' in '{value}'")),
            Some(c) => {
                let cp = split_host_and_ports(c)?;
                match cp.as_slice() {
                    [port] => Some(("0.0.0.0".to_string(), parse_port(port, "client port")?)),
                    [h, port] if !h.trim().is_empty() => {
                        Some((h.trim().to_string(), parse_port(port, "client port")?))
                    }
                    _ => {
                        return Err(format!(
                            "invalid client address '{c}': expected [clientHost:]clientPort"
                        ))
                    }
                }
            }
        };
        Ok(Self {
            id,
            host: host.to_string(),
            quorum_port,
            election_port,
            role,
            client_addr,
        })
    }
}

/// The parsed membership.
#[derive(Debug, Default)]
pub(super) struct Quorum {
    pub servers: BTreeMap<u64, ServerSpec>,
    pub groups: BTreeMap<u64, BTreeSet<u64>>,
    pub weights: BTreeMap<u64, u64>,
}

fn parse_id(loc: Loc<'_>, s: &str, what: &str) -> Result<u64, ConfigError> {
    let s = s.trim();
    s.parse::<u64>().map_err(|_| {
        loc.err(format!(
            "invalid {what} '{s}' (expected a non-negative integer)"
        ))
    })
}

/// Builds the membership from the `server.`/`group.`/`weight.` entries of a
/// file and applies ZooKeeper's hierarchical-quorum rules.
pub(super) fn build(
    entries: &[Property],
    file: &Path,
    warnings: &mut Vec<ConfigWarning>,
) -> Result<Quorum, ConfigError> {
    let mut q = Quorum::default();
    let mut server_lines: BTreeMap<u64, usize> = BTreeMap::new();
    let mut group_lines: BTreeMap<u64, usize> = BTreeMap::new();
    let mut weight_lines: BTreeMap<u64, usize> = BTreeMap::new();
    // server id -> (group id, line of that group)
    let mut group_of: BTreeMap<u64, (u64, usize)> = BTreeMap::new();

    for p in entries {
        let loc = Loc {
            file,
            line: Some(p.line),
            key: Some(&p.key),
        };
        if let Some(id) = p.key.strip_prefix("server.") {
            let id = parse_id(loc, id, "server id")?;
            let spec = ServerSpec::parse(id, &p.value).map_err(|m| loc.err(m))?;
            if let Some(prev) = server_lines.insert(id, p.line) {
                return Err(loc.err(format!(
                    "duplicate server id {id} (already defined on line {prev})"
                )));
            }
            q.servers.insert(id, spec);
        } else if let Some(gid) = p.key.strip_prefix("group.") {
            let gid = parse_id(loc, gid, "group id")?;
            if let Some(prev) = group_lines.insert(gid, p.line) {
                return Err(loc.err(format!(
                    "duplicate group id {gid} (already defined on line {prev})"
                )));
            }
            if p.value.trim().is_empty() {
                return Err(loc.err("group has no members (expected id:id:...)"));
            }
            let mut members = BTreeSet::new();
            for member in p.value.split(':') {
                let sid = parse_id(loc, member, "server id")?;
                if let Some((other, line)) = group_of.insert(sid, (gid, p.line)) {
                    return Err(loc.err(format!(
                        "server {sid} is already in group {other} (line {line}); \
                         a server may be in only one group"
                    )));
                }
                members.insert(sid);
            }
            q.groups.insert(gid, members);
        } else if let Some(sid) = p.key.strip_prefix("weight.") {
            let sid = parse_id(loc, sid, "server id")?;
            if let Some(prev) = weight_lines.insert(sid, p.line) {
                return Err(loc.err(format!(
                    "duplicate weight for server {sid} (already defined on line {prev})"
                )));
            }
            let v = p.value.trim();
            let w: i64 = v
                .parse()
                .map_err(|_| loc.err(format!("invalid weight '{v}' (expected an integer)")))?;
            let w = u64::try_from(w)
                .map_err(|_| loc.err(format!("weight must not be negative, got {w}")))?;
            q.weights.insert(sid, w);
        }
    }

    if !q.groups.is_empty() || !q.weights.is_empty() {
        check_hierarchy(
            &q,
            file,
            &server_lines,
            &group_lines,
            &weight_lines,
            &group_of,
            warnings,
        )?;
    }
    warn_shared_addresses(&q, file, &server_lines, warnings);
    Ok(q)
}

/// ZooKeeper switches to hierarchical quorums as soon as any group/weight
/// line exists; from then on every voter must belong to exactly one group.
fn check_hierarchy(
    q: &Quorum,
    file: &Path,
    server_lines: &BTreeMap<u64, usize>,
    group_lines: &BTreeMap<u64, usize>,
    weight_lines: &BTreeMap<u64, usize>,
    group_of: &BTreeMap<u64, (u64, usize)>,
    warnings: &mut Vec<ConfigWarning>,
) -> Result<(), ConfigError> {
    for (gid, members) in &q.groups {
        let key = format!("group.{gid}");
        let loc = Loc {
            file,
            line: group_lines.get(gid).copied(),
            key: Some(&key),
        };
        for sid in members {
            match q.servers.get(sid) {
                None => {
                    return Err(loc.err(format!(
                        "group {gid} lists server {sid}, which has no server.{sid} line"
                    )))
                }
                Some(s) if s.role == PeerRole::Observer => warnings.push(loc.warn(format!(
                    "server {sid} is an observer; observers do not vote, so its group \
                     membership has no effect"
                ))),
                Some(_) => {}
            }
        }
    }
    for sid in q.weights.keys() {
        if !q.servers.contains_key(sid) {
            let key = format!("weight.{sid}");
            let loc = Loc {
                file,
                line: weight_lines.get(sid).copied(),
                key: Some(&key),
            };
            return Err(loc.err(format!(
                "weight given for server {sid}, which has no server.{sid} line"
            )));
        }
    }
    for (sid, spec) in &q.servers {
        if spec.role == PeerRole::Participant && !group_of.contains_key(sid) {
            let key = format!("server.{sid}");
            let loc = Loc {
                file,
                line: server_lines.get(sid).copied(),
                key: Some(&key),
            };
            return Err(loc.err(format!(
                "server {sid} is not in any group; once group.N/weight.N lines are used, \
                 every participant must belong to a group"
            )));
        }
    }
    Ok(())
}

/// ZooKeeper does not check this, but two servers on one host sharing a
/// port is the classic pseudo-cluster copy-and-paste mistake, and it only
/// shows up later as a bind failure.
fn warn_shared_addresses(
    q: &Quorum,
    file: &Path,
    server_lines: &BTreeMap<u64, usize>,
    warnings: &mut Vec<ConfigWarning>,
) {
    let mut used: BTreeMap<(String, u16), String> = BTreeMap::new();
    for (sid, s) in &q.servers {
        let mut endpoints = vec![
            (s.host.as_str(), s.quorum_port, "quorum port"),
            (s.host.as_str(), s.election_port, "election port"),
        ];
        if let Some((host, port)) = &s.client_addr {
            endpoints.push((host.as_str(), *port, "client port"));
        }
        let key = format!("server.{sid}");
        for (host, port, what) in endpoints {
            let me = format!("server.{sid}'s {what}");
            if let Some(other) = used.get(&(host.to_ascii_lowercase(), port)) {
                let loc = Loc {
                    file,
                    line: server_lines.get(sid).copied(),
                    key: Some(&key),
                };
                warnings
                    .push(loc.warn(format!("{me} {}:{port} is also {other}", format_host(host))));
            } else {
                used.insert((host.to_ascii_lowercase(), port), me);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn spec(
        id: u64,
        host: &str,
        qp: u16,
        ep: u16,
        role: PeerRole,
        client: Option<(&str, u16)>,
    ) -> ServerSpec {
        ServerSpec {
            id,
            host: host.to_string(),
            quorum_port: qp,
            election_port: ep,
            role,
            client_addr: client.map(|(h, p)| (h.to_string(), p)),
        }
    }

    #[test]
    fn server_line_forms() {
        use PeerRole::{Observer, Participant};
        let cases = [
            (
                "zk1:2888:3888",
                spec(1, "zk1", 2888, 3888, Participant, None),
            ),
            (
                " 10.0.0.1:2888:3888:participant ",
                spec(1, "10.0.0.1", 2888, 3888, Participant, None),
            ),
            (
                "zk4.example.com:2888:3888:OBSERVER",
                spec(1, "zk4.example.com", 2888, 3888, Observer, None),
            ),
            (
                "127.0.0.1:3181:4181;2181",
                spec(
                    1,
                    "127.0.0.1",
                    3181,
                    4181,
                    Participant,
                    Some(("0.0.0.0", 2181)),
                ),
            ),
            (
                "127.0.0.1:3181:4181:observer;127.0.0.1:2184",
                spec(
                    1,
                    "127.0.0.1",
                    3181,
                    4181,
                    Observer,
                    Some(("127.0.0.1", 2184)),
                ),
            ),
            (
                "[::1]:2888:3888",
                spec(1, "::1", 2888, 3888, Participant, None),
            ),
            (
                "[fe80::1]:2888:3888:participant;[::]:2181",
                spec(1, "fe80::1", 2888, 3888, Participant, Some(("::", 2181))),
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(ServerSpec::parse(1, text), Ok(expected), "{text}");
        }
    }

    #[test]
    fn server_line_display_round_trips() {
        for text in [
            "zk1:2888:3888:participant",
            "[::1]:2888:3888:observer;[::]:2181",
            "127.0.0.1:3181:4181:participant;0.0.0.0:2181",
        ] {
            let s = ServerSpec::parse(7, text).expect("valid");
            assert_eq!(s.to_string(), text);
            assert_eq!(ServerSpec::parse(7, &s.to_string()), Ok(s));
        }
    }

    #[test]
    fn server_line_errors() {
        let cases = [
            ("zk1:2888", "missing port in 'zk1:2888': expected host:quorumPort:electionPort[:participant|:observer][;[clientHost:]clientPort]"),
            ("zk1", "missing port in 'zk1': expected host:quorumPort:electionPort[:participant|:observer][;[clientHost:]clientPort]"),
            (":2888:3888", "empty host in ':2888:3888'"),
            ("zk1:2888:x", "invalid election port 'x' (not a number)"),
            ("zk1:70000:3888", "quorum port 70000 out of range (1-65535)"),
            ("zk1:0:3888", "quorum port 0 out of range (1-65535)"),
            ("zk1:-5:3888", "quorum port -5 out of range (1-65535)"),
            ("zk1:2888:2888", "quorum port and election port must differ (both are 2888)"),
            (
                "zk1:2888:3888:leader",
                "unknown peer type 'leader': expected 'participant' or 'observer'",
            ),
            ("zk1:2888:3888;", "empty client address after ';' in 'zk1:2888:3888;'"),
            ("zk1:2888:3888;abc", "invalid client port 'abc' (not a number)"),
            ("zk1:2888:3888;99999", "client port 99999 out of range (1-65535)"),
            (
                "zk1:2888:3888;a:b:1",
                "invalid client address 'a:b:1': expected [clientHost:]clientPort",
            ),
            ("[::1:2888:3888", "'[::1:2888:3888' starts with '[' but has no matching ']'"),
            ("[::1]2888:3888", "expected ':' after ']' in '[::1]2888:3888'"),
            ("a:1:2|b:1:2", "multiple quorum addresses ('|') are not supported"),
        ];
        for (text, message) in cases {
            assert_eq!(
                ServerSpec::parse(1, text),
                Err(message.to_string()),
                "{text}"
            );
        }
        let err = ServerSpec::parse(1, "::1:2888:3888").expect_err("unbracketed IPv6");
        assert!(err.contains("IPv6 addresses must be in brackets"), "{err}");
        let err = ServerSpec::parse(1, "a:1:2;3;4").expect_err("two ';'");
        assert!(err.starts_with("more than one ';'"), "{err}");
    }

    fn props(text: &str) -> Vec<Property> {
        super::super::properties::parse(text).expect("valid syntax")
    }

    fn build_text(text: &str) -> Result<(Quorum, Vec<ConfigWarning>), ConfigError> {
        let mut w = Vec::new();
        let q = build(&props(text), &PathBuf::from("q.cfg"), &mut w)?;
        Ok((q, w))
    }

    #[test]
    fn groups_and_weights() {
        let (q, w) = build_text(
            "server.1=a:1:2\nserver.2=b:1:2\nserver.3=c:1:2\nserver.4=d:1:2:observer\n\
             group.1=1:2\ngroup.2=3\nweight.1=2\nweight.3=0\n",
        )
        .expect("valid");
        assert!(w.is_empty(), "{w:?}");
        assert_eq!(q.servers.len(), 4);
        assert_eq!(q.groups[&1], BTreeSet::from([1, 2]));
        assert_eq!(q.groups[&2], BTreeSet::from([3]));
        assert_eq!(q.weights, BTreeMap::from([(1, 2), (3, 0)]));
    }

    fn build_err(text: &str) -> ConfigError {
        build_text(text).expect_err("should fail")
    }

    #[test]
    fn group_and_weight_errors() {
        let e = build_err("server.1=a:1:2\ngroup.1=1:9\n");
        assert_eq!((e.line, e.key.as_deref()), (Some(2), Some("group.1")));
        assert_eq!(
            e.message,
            "group 1 lists server 9, which has no server.9 line"
        );

        let e = build_err("server.1=a:1:2\nserver.2=b:1:2\ngroup.1=1:2\ngroup.2=2\n");
        assert_eq!((e.line, e.key.as_deref()), (Some(4), Some("group.2")));
        assert_eq!(
            e.message,
            "server 2 is already in group 1 (line 3); a server may be in only one group"
        );

        let e = build_err("server.1=a:1:2\nserver.2=b:1:2\ngroup.1=1\n");
        assert_eq!((e.line, e.key.as_deref()), (Some(2), Some("server.2")));
        assert!(
            e.message.starts_with("server 2 is not in any group"),
            "{}",
            e.message
        );

        let e = build_err("server.1=a:1:2\ngroup.1=1\nweight.1=-1\n");
        assert_eq!((e.line, e.key.as_deref()), (Some(3), Some("weight.1")));
        assert_eq!(e.message, "weight must not be negative, got -1");

        let e = build_err("server.1=a:1:2\ngroup.1=1\nweight.1=heavy\n");
        assert_eq!(e.message, "invalid weight 'heavy' (expected an integer)");

        let e = build_err("server.1=a:1:2\ngroup.1=1\nweight.5=1\n");
        assert_eq!((e.line, e.key.as_deref()), (Some(3), Some("weight.5")));
        assert_eq!(
            e.message,
            "weight given for server 5, which has no server.5 line"
        );

        // weight lines alone already make the quorum hierarchical.
        let e = build_err("server.1=a:1:2\nweight.1=1\n");
        assert_eq!(e.key.as_deref(), Some("server.1"));

        let e = build_err("server.1=a:1:2\ngroup.1=\n");
        assert_eq!(e.message, "group has no members (expected id:id:...)");

        let e = build_err("server.1=a:1:2\ngroup.x=1\n");
        assert_eq!(
            e.message,
            "invalid group id 'x' (expected a non-negative integer)"
        );

        let e = build_err("server.1=a:1:2\ngroup.1=1:two\n");
        assert_eq!(
            e.message,
            "invalid server id 'two' (expected a non-negative integer)"
        );
    }

    #[test]
    fn duplicate_server_ids() {
        let e = build_err("server.1=a:1:2\nserver.2=b:1:2\nserver.01=c:1:2\n");
        assert_eq!((e.line, e.key.as_deref()), (Some(3), Some("server.01")));
        assert_eq!(
            e.message,
            "duplicate server id 1 (already defined on line 1)"
        );
        let e = build_err("server.-1=a:1:2\n");
        assert_eq!(
            e.message,
            "invalid server id '-1' (expected a non-negative integer)"
        );
    }

    #[test]
    fn shared_addresses_are_warned_about() {
        let (_, w) = build_text("server.1=127.0.0.1:3181:4181\nserver.2=127.0.0.1:3182:4181\n")
            .expect("valid");
        assert_eq!(w.len(), 1);
        assert_eq!(w[0].line, Some(2));
        assert_eq!(
            w[0].message,
            "server.2's election port 127.0.0.1:4181 is also server.1's election port"
        );
    }

    #[test]
    fn observer_in_group_is_a_warning() {
        let (_, w) =
            build_text("server.1=a:1:2\nserver.2=b:1:2:observer\ngroup.1=1:2\n").expect("valid");
        assert_eq!(w.len(), 1);
        assert_eq!(w[0].key.as_deref(), Some("group.1"));
    }
}
