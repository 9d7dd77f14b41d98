//! The election port (`QuorumCnxManager` + `FastLeaderElection`), as Apache ZooKeeper 3.8/3.9
//! speak it: the connection header the dialling side sends, the `int length` + payload message
//! framing, and the FLE notification. Layouts and sources: `docs/quorum-wire.md`.
//!
//! After the header, only the connection dialled by the larger sid survives: the acceptor closes
//! a connection from a smaller sid and dials back; the dialler closes its own connection to a
//! larger sid (`QuorumCnxManager.handleConnection`, `startConnection`). Both directions of the
//! surviving connection then carry framed notifications.

use std::fmt;

use thiserror::Error;

use crate::codec::{Reader, WriteExt};

/// The header version sent since 3.5.0 (ZOOKEEPER-107): one election address. A `long` on the
/// wire (0xffffffffffff0000), not an `int`.
pub const PROTOCOL_VERSION_V1: i64 = -65536;
/// The header version sent since 3.6.0 (ZOOKEEPER-3188) when `multiAddress.enabled=true`:
/// `|`-separated addresses. 3.8/3.9 accept both and send V1 by default.
pub const PROTOCOL_VERSION_V2: i64 = -65535;
/// `QuorumCnxManager.maxBuffer`: the most address bytes a header may carry (and at least 1).
pub const MAX_ADDRESS_LEN: usize = 2048;
/// `QuorumCnxManager.PACKETMAXSIZE`: the largest message accepted (and at least 1 byte).
pub const MAX_MESSAGE_LEN: usize = 512 * 1024;
/// `QuorumPeer.OBSERVER_ID`: an observer may send this sid; the acceptor then assigns it a
/// fresh negative id for the connection.
pub const OBSERVER_ID: i64 = i64::MAX;
/// `FastLeaderElection.Notification.CURRENTVERSION`: the notification format 3.5+ sends.
pub const NOTIFICATION_VERSION: i32 = 2;

/// Why election-port bytes were refused. Apache drops the connection on the header and framing
/// errors, and skips the message (keeping the connection) on the notification errors.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ElectionError {
    #[error("unrecognized protocol version {0}")]
    UnknownProtocolVersion(i64),
    #[error("unreasonable address length {0} (1..=2048)")]
    BadAddressLength(i32),
    #[error("badly formed address {0:?}")]
    BadAddress(String),
    #[error("bad port number {0:?}")]
    BadPort(String),
    #[error("invalid message length {0} (1..=524288)")]
    BadMessageLength(i32),
    #[error("notification of {0} bytes is shorter than 28")]
    ShortNotification(usize),
    #[error("partial notification of {len} bytes (format version {version})")]
    PartialNotification { len: usize, version: i32 },
    #[error("invalid configLength {config_len} in a notification of {len} bytes")]
    BadConfigLength { config_len: i32, len: usize },
    #[error("unknown server state {0}")]
    UnknownState(i32),
}

/// One election address as `host:port` (`NetUtils.formatInetAddr`: an IPv6 literal in brackets).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ElectionAddr {
    pub host: String,
    pub port: u16,
}

impl fmt::Display for ElectionAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

impl ElectionAddr {
    /// Parses one address as `QuorumCnxManager.InitialMessage.parse` does with
    /// `ConfigUtils.getHostAndPort` and `Integer.parseInt` (which accepts a leading `+`/`-`).
    /// Apache then leaves out wildcard hosts (0.0.0.0, ::) after resolving them; that takes a
    /// resolver, so it is the caller's job.
    pub fn parse(s: &str) -> Result<Self, ElectionError> {
        let bad = || ElectionError::BadAddress(s.to_owned());
        let parts: Vec<&str> = if let Some(inner) = s.strip_prefix('[') {
            let close = inner.find(']').ok_or_else(bad)?;
            // `]` is at index close+1 of `s`; Java skips one character after it, whatever it is.
            let after = &s[close + 2..];
            let mut chars = after.chars();
            match chars.next() {
                None => return Err(bad()),
                Some(_) if chars.as_str().is_empty() => return Err(bad()),
                Some(_) => {}
            }
            let mut v = vec![&inner[..close]];
            v.extend(java_split(chars.as_str(), ':'));
            v
        } else {
            java_split(s, ':')
        };
        if parts.len() != 2 {
            return Err(bad());
        }
        let port =
            java_parse_int(parts[1]).ok_or_else(|| ElectionError::BadPort(parts[1].into()))?;
        // Java's InetSocketAddress throws IllegalArgumentException outside 0..=65535.
        let port = u16::try_from(port).map_err(|_| ElectionError::BadPort(parts[1].into()))?;
        Ok(ElectionAddr {
            host: parts[0].to_owned(),
            port,
        })
    }
}

/// `String.split(regex)` for a one-character separator: trailing empty strings are dropped (an
/// empty input gives one empty string).
fn java_split(s: &str, sep: char) -> Vec<&str> {
    let mut parts: Vec<&str> = s.split(sep).collect();
    if s.is_empty() {
        return parts;
    }
    while parts.len() > 1 && parts.last() == Some(&"") {
        parts.pop();
    }
    if parts == [""] {
        parts.clear();
    }
    parts
}

/// `Integer.parseInt`: optional sign, ASCII decimal digits, in `i32` range.
fn java_parse_int(s: &str) -> Option<i32> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// The header format the dialling side used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HeaderVersion {
    /// Before 3.5.0: the first `long` is the sid itself (any value >= 0), nothing follows.
    Legacy,
    /// [`PROTOCOL_VERSION_V1`].
    V1,
    /// [`PROTOCOL_VERSION_V2`].
    V2,
}

/// What the dialling side sends first: `long protocolVersion; long sid; int length;` then
/// `length` bytes of UTF-8 `host:port` (V2: `host:port|host:port|...`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ConnectionHeader {
    pub version: HeaderVersion,
    pub sid: i64,
    pub addresses: Vec<ElectionAddr>,
}

impl ConnectionHeader {
    /// The header Apache 3.8/3.9 sends by default: V1 with one address.
    pub fn v1(sid: i64, address: ElectionAddr) -> Self {
        ConnectionHeader {
            version: HeaderVersion::V1,
            sid,
            addresses: vec![address],
        }
    }

    /// Writes the header. Apache refuses a V1/V2 header whose joined addresses are empty or
    /// longer than [`MAX_ADDRESS_LEN`] bytes; keeping within that is the caller's job.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let version = match self.version {
            HeaderVersion::Legacy => {
                out.put_i64(self.sid);
                return;
            }
            HeaderVersion::V1 => PROTOCOL_VERSION_V1,
            HeaderVersion::V2 => PROTOCOL_VERSION_V2,
        };
        out.put_i64(version);
        out.put_i64(self.sid);
        let addrs: Vec<String> = self.addresses.iter().map(ToString::to_string).collect();
        out.put_string(&addrs.join("|"));
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode(&mut out);
        out
    }

    /// Pulls the header off the front of the stream. `Ok(None)`: read more. `Ok(Some((h, n)))`:
    /// the header took `n` bytes; framed messages follow. `Err`: Apache would close the
    /// connection. Never allocates more than [`MAX_ADDRESS_LEN`] bytes.
    pub fn decode(buf: &[u8]) -> Result<Option<(Self, usize)>, ElectionError> {
        let mut r = Reader::new(buf);
        let Ok(first) = r.read_i64() else {
            return Ok(None);
        };
        let version = match first {
            v if v >= 0 => {
                let header = ConnectionHeader {
                    version: HeaderVersion::Legacy,
                    sid: v,
                    addresses: Vec::new(),
                };
                return Ok(Some((header, 8)));
            }
            PROTOCOL_VERSION_V1 => HeaderVersion::V1,
            PROTOCOL_VERSION_V2 => HeaderVersion::V2,
            v => return Err(ElectionError::UnknownProtocolVersion(v)),
        };
        let (Ok(sid), Ok(len)) = (r.read_i64(), r.read_i32()) else {
            return Ok(None);
        };
        if len <= 0 || len as usize > MAX_ADDRESS_LEN {
            return Err(ElectionError::BadAddressLength(len));
        }
        let len = len as usize;
        if r.remaining() < len {
            return Ok(None);
        }
        let raw = &r.rest()[..len];
        // Java decodes with replacement of malformed UTF-8; the result then fails to parse or
        // names a host that does not resolve.
        let text = String::from_utf8_lossy(raw);
        let addresses = java_split(&text, '|')
            .into_iter()
            .map(ElectionAddr::parse)
            .collect::<Result<Vec<_>, _>>()?;
        let header = ConnectionHeader {
            version,
            sid,
            addresses,
        };
        Ok(Some((header, 20 + len)))
    }
}

/// Appends one election message: `int length` then the payload.
pub fn put_message(out: &mut Vec<u8>, payload: &[u8]) {
    crate::frame::put(out, payload);
}

/// Whether `buf` starts with a whole message. `Ok(Some(end))`: the payload is `buf[4..end]`.
/// `Ok(None)`: read more. `Err`: a length Apache's `RecvWorker` refuses (<= 0 or > 512 KiB),
/// after which it drops the connection.
pub fn check_message(buf: &[u8]) -> Result<Option<usize>, ElectionError> {
    let Some(head) = buf.first_chunk::<4>() else {
        return Ok(None);
    };
    let len = i32::from_be_bytes(*head);
    if len <= 0 || len as usize > MAX_MESSAGE_LEN {
        return Err(ElectionError::BadMessageLength(len));
    }
    let end = 4 + len as usize;
    Ok((buf.len() >= end).then_some(end))
}

/// `QuorumPeer.ServerState`, sent as its ordinal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ServerState {
    Looking = 0,
    Following = 1,
    Leading = 2,
    Observing = 3,
}

impl ServerState {
    pub const ALL: &'static [ServerState] = &[
        ServerState::Looking,
        ServerState::Following,
        ServerState::Leading,
        ServerState::Observing,
    ];

    pub fn from_i32(n: i32) -> Option<Self> {
        Self::ALL.get(usize::try_from(n).ok()?).copied()
    }

    pub fn code(self) -> i32 {
        self as i32
    }
}

/// An FLE notification (`FastLeaderElection.buildMsg`, read by `Messenger.WorkerReceiver`).
///
/// `version` and `config` are as the receiver sees them: a 28- or 40-byte message has version
/// 0 (a 40-byte message's last `int` is not read), and `config` is `Some` exactly when
/// `version > 1`. Receivers compare votes by `version > 0` (`Vote.equals`), so the number is
/// kept. `decode(encode(n)) == n` when `version > 1`, and when `version == 0` with no config;
/// a message with another version ≤ 1 is only read back as such if it is longer than 40 bytes,
/// which no Apache release sends.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Notification {
    pub state: ServerState,
    /// The proposed leader's sid.
    pub leader: i64,
    /// The proposed leader's last zxid.
    pub zxid: i64,
    /// The sender's logical clock (election round).
    pub election_epoch: i64,
    /// The proposed leader's epoch. A 28-byte message has none; Apache uses `zxid >> 32`.
    pub peer_epoch: i64,
    pub version: i32,
    /// The sender's quorum verifier as `QuorumVerifier.toString()` UTF-8 bytes.
    pub config: Option<Vec<u8>>,
}

impl Notification {
    /// A notification as 3.5+ sends it: version 2 with the sender's config.
    pub fn new(
        state: ServerState,
        leader: i64,
        zxid: i64,
        election_epoch: i64,
        peer_epoch: i64,
        config: Vec<u8>,
    ) -> Self {
        Notification {
            state,
            leader,
            zxid,
            election_epoch,
            peer_epoch,
            version: NOTIFICATION_VERSION,
            config: Some(config),
        }
    }

    /// Writes the message payload (without the `int length` frame). With `version > 1`, the
    /// current layout: `int state; long leader; long zxid; long electionEpoch; long peerEpoch;
    /// int version; int configLength; config` (a missing config is written as empty).
    /// Otherwise the 40-byte layout of the 5-argument `buildMsg`, with `version` in the last
    /// `int`, which receivers do not read.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.put_i32(self.state.code());
        out.put_i64(self.leader);
        out.put_i64(self.zxid);
        out.put_i64(self.election_epoch);
        out.put_i64(self.peer_epoch);
        out.put_i32(self.version);
        if self.version > 1 {
            out.put_buffer(self.config.as_deref().unwrap_or_default());
        }
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode(&mut out);
        out
    }

    /// Reads one message payload as `WorkerReceiver.run` does: fewer than 28 bytes is refused;
    /// exactly 28 has no peerEpoch; exactly 40 has no version; otherwise a version follows the
    /// peerEpoch and, when it is above 1, `int configLength` (0..=message length) and the
    /// config. Bytes after what the format calls for are ignored, as Apache ignores them. A
    /// state other than 0..=3 is an error (Apache skips such a notification from a voter).
    pub fn decode(msg: &[u8]) -> Result<Self, ElectionError> {
        let len = msg.len();
        if len < 28 {
            return Err(ElectionError::ShortNotification(len));
        }
        let partial = |version| ElectionError::PartialNotification { len, version };
        let mut r = Reader::new(msg);
        let (Ok(state), Ok(leader), Ok(zxid), Ok(election_epoch)) =
            (r.read_i32(), r.read_i64(), r.read_i64(), r.read_i64())
        else {
            return Err(partial(0));
        };
        let mut version = 0;
        let mut config = None;
        let peer_epoch = if len == 28 {
            zxid >> 32
        } else {
            let peer_epoch = r.read_i64().map_err(|_| partial(0))?;
            if len != 40 {
                version = r.read_i32().map_err(|_| partial(0))?;
            }
            peer_epoch
        };
        if version > 1 {
            let config_len = r.read_i32().map_err(|_| partial(version))?;
            if config_len < 0 || config_len as usize > len {
                return Err(ElectionError::BadConfigLength { config_len, len });
            }
            let rest = r.rest();
            let bytes = rest
                .get(..config_len as usize)
                .ok_or_else(|| partial(version))?;
            config = Some(bytes.to_vec());
        }
        let state = ServerState::from_i32(state).ok_or(ElectionError::UnknownState(state))?;
        Ok(Notification {
            state,
            leader,
            zxid,
            election_epoch,
            peer_epoch,
            version,
            config,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_split_drops_trailing_empties() {
        assert_eq!(java_split("a:1", ':'), vec!["a", "1"]);
        assert_eq!(java_split("a:", ':'), vec!["a"]);
        assert_eq!(java_split("a::", ':'), vec!["a"]);
        assert_eq!(java_split(":a", ':'), vec!["", "a"]);
        assert_eq!(java_split("", ':'), vec![""]);
        assert_eq!(java_split(":", ':'), Vec::<&str>::new());
        assert_eq!(java_split("a||b", '|'), vec!["a", "", "b"]);
    }

    #[test]
    fn addresses_parse_like_config_utils() {
        let a = |h: &str, p| ElectionAddr {
            host: h.into(),
            port: p,
        };
        assert_eq!(ElectionAddr::parse("zk1:3888"), Ok(a("zk1", 3888)));
        assert_eq!(ElectionAddr::parse("[::1]:3888"), Ok(a("::1", 3888)));
        assert_eq!(ElectionAddr::parse("10.0.0.1:+7"), Ok(a("10.0.0.1", 7)));
        assert_eq!(a("::1", 3888).to_string(), "[::1]:3888");
        for bad in ["zk1", "zk1:", "a:b:c", "[::1]", "[::1]:", "[::1", "", ":"] {
            assert!(
                matches!(ElectionAddr::parse(bad), Err(ElectionError::BadAddress(_))),
                "{bad}"
            );
        }
        for bad in ["zk1:x", "zk1:70000", "zk1:-1", "zk1: 1", "zk1:99999999999"] {
            assert!(
                matches!(ElectionAddr::parse(bad), Err(ElectionError::BadPort(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn states() {
        for (i, s) in ServerState::ALL.iter().enumerate() {
            assert_eq!(ServerState::from_i32(i as i32), Some(*s));
        }
        assert_eq!(ServerState::from_i32(4), None);
        assert_eq!(ServerState::from_i32(-1), None);
    }
}
