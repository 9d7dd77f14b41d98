//! `zoo.cfg`, `myid`, dynamic-config and `-D` system-property parsing,
//! compatible with Apache ZooKeeper 3.8/3.9.
//!
//! Everything is pure (`&str` in, typed config out) except [`load`], which
//! only reads files and feeds them through the pure functions.
//!
//! The aim: a file ZooKeeper accepts is accepted here with the same meaning,
//! and a mistake is reported with file, line and key instead of a Java stack
//! trace. Where ZooKeeper silently falls back to a default on a malformed
//! value (it reads many settings with `Integer.getInteger`) we report an
//! error instead, because a typo that quietly changes behaviour is worse than
//! a refusal to start.
//!
//! How ZooKeeper reads its settings, which this module reproduces:
//! - `QuorumPeerConfig` knows a fixed set of keys (`tickTime`, `dataDir`,
//!   `server.N`, ...). Any other zoo.cfg key `k` is copied to the Java system
//!   property `zookeeper.k`, and many components read their settings only
//!   from system properties (`zookeeper.snapCount`, `zookeeper.forceSync`,
//!   `zookeeper.4lw.commands.whitelist`, ...). That is why `snapCount=1000`
//!   in zoo.cfg works even though the config parser does not know it.
//! - A few settings are read from system properties *without* the prefix
//!   (`jute.maxbuffer`, `readonlymode.enabled`, `znode.container.*`), so in
//!   ZooKeeper they only work as `-D` flags. We accept them in zoo.cfg too.
//! - Unknown keys are not errors. We keep them in
//!   [`ServerConfig::system_properties`] and return a warning, so typos are
//!   visible.

mod jvm_flags;
mod properties;
mod quorum;
mod tls;
mod verifier;

pub use quorum::{PeerRole, ServerSpec};
pub use tls::{ClientAuth, StoreType, TlsConfig, X509Settings};

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::num::IntErrorKind;
use std::path::{Path, PathBuf};

use properties::Property;

/// `tickTime` default (ZooKeeperServer.DEFAULT_TICK_TIME).
pub const DEFAULT_TICK_TIME_MS: u32 = 3000;
/// `maxClientCnxns` default, per client IP.
pub const DEFAULT_MAX_CLIENT_CNXNS: u32 = 60;
/// PurgeTxnLog never keeps fewer snapshots; smaller
/// `autopurge.snapRetainCount` values are raised to this.
pub const MIN_SNAP_RETAIN_COUNT: u32 = 3;
/// `snapCount` default: transactions between snapshots.
pub const DEFAULT_SNAP_COUNT: u32 = 100_000;
/// ZooKeeper's SyncRequestProcessor raises smaller values to this.
pub const MIN_SNAP_COUNT: u32 = 2;
/// `snapSizeLimitInKb` default (4 GB of transaction log).
pub const DEFAULT_SNAP_SIZE_LIMIT_KB: u64 = 4_194_304;
/// `preAllocSize` default (64 MB log file preallocation).
pub const DEFAULT_PRE_ALLOC_SIZE_KB: u64 = 65_536;
/// `jute.maxbuffer` default: largest record (znode data, request) in bytes.
pub const DEFAULT_JUTE_MAX_BUFFER: u32 = 0xfffff;
/// `globalOutstandingLimit` default: queued requests before throttling.
pub const DEFAULT_GLOBAL_OUTSTANDING_LIMIT: u32 = 1000;
/// `znode.container.checkIntervalMs` default.
pub const DEFAULT_CONTAINER_CHECK_INTERVAL_MS: u32 = 60_000;
/// `znode.container.maxPerMinute` default.
pub const DEFAULT_CONTAINER_MAX_PER_MINUTE: u32 = 10_000;
/// Fast leader election, the only `electionAlg` ZooKeeper 3.6+ accepts.
pub const DEFAULT_ELECTION_ALG: u32 = 3;
/// `admin.serverPort` default.
pub const DEFAULT_ADMIN_PORT: u16 = 8080;
/// `admin.idleTimeout` default.
pub const DEFAULT_ADMIN_IDLE_TIMEOUT_MS: u32 = 30_000;
/// `metricsProvider.className` default.
pub const DEFAULT_METRICS_PROVIDER: &str =
    "org.apache.zookeeper.metrics.impl.DefaultMetricsProvider";
/// `metricsProvider.httpPort` default (Prometheus provider).
pub const DEFAULT_METRICS_HTTP_PORT: u16 = 7000;
/// With extended (TTL/container) ephemeral types the server id is stored in
/// one byte of the ephemeral owner, so ZooKeeper refuses larger ids.
pub const MAX_EXTENDED_SERVER_ID: u64 = 254;

/// All four-letter words ZooKeeper 3.8/3.9 knows; `*` in the whitelist
/// enables exactly these.
pub const FOUR_LETTER_WORDS: &[&str] = &[
    "conf", "cons", "crst", "dirs", "dump", "envi", "gtmk", "hash", "isro", "mntr", "ruok", "srst",
    "srvr", "stat", "stmk", "wchc", "wchp", "wchs",
];

// ---------------------------------------------------------------------------
// Errors and warnings

/// A configuration error, naming the file and, where known, line and key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file (or flag source) concerned.
    pub file: PathBuf,
    /// 1-based line, when one line is to blame.
    pub line: Option<usize>,
    /// The key as written, when one key is to blame.
    pub key: Option<String>,
    /// What is wrong, without the location.
    pub message: String,
}

/// Something accepted but probably not what was meant (unknown key,
/// clamped value, ignored setting, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigWarning {
    /// The file (or flag source) concerned.
    pub file: PathBuf,
    /// 1-based line, when one line is to blame.
    pub line: Option<usize>,
    /// The key as written, when one key is to blame.
    pub key: Option<String>,
    /// What is wrong, without the location.
    pub message: String,
}

fn write_located(
    f: &mut fmt::Formatter<'_>,
    file: &Path,
    line: Option<usize>,
    key: Option<&str>,
    message: &str,
) -> fmt::Result {
    write!(f, "{}", file.display())?;
    if let Some(line) = line {
        write!(f, ":{line}")?;
    }
    f.write_str(": ")?;
    if let Some(key) = key {
        write!(f, "key '{key}': ")?;
    }
    f.write_str(message)
}

impl fmt::Display for ConfigError {
    /// `zoo.cfg:12: key 'tickTime': invalid integer 'abc'`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_located(f, &self.file, self.line, self.key.as_deref(), &self.message)
    }
}

impl std::error::Error for ConfigError {}

impl fmt::Display for ConfigWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_located(f, &self.file, self.line, self.key.as_deref(), &self.message)
    }
}

/// Logs warnings through `tracing` (parsing itself never logs).
pub fn log_warnings(warnings: &[ConfigWarning]) {
    for w in warnings {
        tracing::warn!("{w}");
    }
}

/// Where a value came from; builds errors and warnings.
#[derive(Clone, Copy)]
struct Loc<'a> {
    file: &'a Path,
    line: Option<usize>,
    key: Option<&'a str>,
}

impl Loc<'_> {
    fn err(self, message: impl Into<String>) -> ConfigError {
        ConfigError {
            file: self.file.to_path_buf(),
            line: self.line,
            key: self.key.map(str::to_string),
            message: message.into(),
        }
    }

    fn warn(self, message: impl Into<String>) -> ConfigWarning {
        ConfigWarning {
            file: self.file.to_path_buf(),
            line: self.line,
            key: self.key.map(str::to_string),
            message: message.into(),
        }
    }
}

// ---------------------------------------------------------------------------
// The typed configuration

/// Which four-letter words are enabled (`4lw.commands.whitelist`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FourLetterWhitelist {
    /// `*`: every word in [`FOUR_LETTER_WORDS`].
    All,
    /// An explicit list. Always contains `srvr`, which ZooKeeper force-enables
    /// because zkServer.sh's `status` depends on it.
    Only(BTreeSet<String>),
}

impl Default for FourLetterWhitelist {
    fn default() -> Self {
        Self::Only(BTreeSet::from(["srvr".to_string()]))
    }
}

/// The embedded Jetty admin server (`admin.*`, system properties
/// `zookeeper.admin.*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminServerConfig {
    /// `admin.enableServer` (default true).
    pub enabled: bool,
    /// `admin.serverAddress` (default 0.0.0.0).
    pub address: String,
    /// `admin.serverPort` (default 8080).
    pub port: u16,
    /// `admin.commandURL` (default /commands).
    pub command_url: String,
    /// `admin.idleTimeout` (default 30000 ms).
    pub idle_timeout_ms: u32,
}

impl Default for AdminServerConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            address: "0.0.0.0".to_string(),
            port: DEFAULT_ADMIN_PORT,
            command_url: "/commands".to_string(),
            idle_timeout_ms: DEFAULT_ADMIN_IDLE_TIMEOUT_MS,
        }
    }
}

/// `metricsProvider.*`. The http settings are those of ZooKeeper's
/// Prometheus provider; they mean nothing for the default provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricsProviderConfig {
    /// `metricsProvider.className`.
    pub class_name: String,
    /// `metricsProvider.httpHost` (default 0.0.0.0).
    pub http_host: String,
    /// `metricsProvider.httpPort` (default 7000).
    pub http_port: u16,
    /// `metricsProvider.exportJvmInfo` (default true).
    pub export_jvm_info: bool,
    /// Other `metricsProvider.<name>` entries, keyed by `<name>` (ZooKeeper
    /// hands these to the provider uninterpreted).
    pub extra: BTreeMap<String, String>,
}

impl Default for MetricsProviderConfig {
    fn default() -> Self {
        Self {
            class_name: DEFAULT_METRICS_PROVIDER.to_string(),
            http_host: "0.0.0.0".to_string(),
            http_port: DEFAULT_METRICS_HTTP_PORT,
            export_jvm_info: true,
            extra: BTreeMap::new(),
        }
    }
}

/// A fully typed server configuration with ZooKeeper's defaults applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    // Relative paths are kept as written: like ZooKeeper, they are resolved
    // against the process's working directory, not zoo.cfg's directory.
    /// `dataDir` (required): snapshots and `myid`.
    pub data_dir: PathBuf,
    /// `dataLogDir`: transaction logs; defaults to `data_dir`.
    pub data_log_dir: PathBuf,
    /// `dynamicConfigFile`: where the `server.N` lines are instead.
    pub dynamic_config_file: Option<PathBuf>,
    /// Version taken from a `.dynamic.<hex>` suffix of that file's name.
    pub dynamic_config_version: Option<u64>,

    /// `clientPort`; `0` in the file means "not set", as in ZooKeeper.
    /// See [`ServerConfig::client_address`] for the effective address.
    pub client_port: Option<u16>,
    /// `clientPortAddress` (IP literal or host name, IPv6 without brackets).
    pub client_port_address: Option<String>,
    /// `secureClientPort` (TLS); `0` means "not set".
    pub secure_client_port: Option<u16>,
    /// `secureClientPortAddress`.
    pub secure_client_port_address: Option<String>,
    /// `clientPortListenBacklog`; `None` = OS default (ZooKeeper's -1).
    pub client_port_listen_backlog: Option<u32>,
    /// `maxClientCnxns`: connections per client IP; 0 = unlimited.
    pub max_client_cnxns: u32,

    /// `tickTime` in ms (default 3000); the unit of the limits below.
    pub tick_time_ms: u32,
    /// `minSessionTimeout` as configured; `None` means 2 × tickTime. Use
    /// [`ServerConfig::min_session_timeout_ms`] for the effective value.
    pub min_session_timeout: Option<u32>,
    /// `maxSessionTimeout` as configured; `None` means 20 × tickTime. Use
    /// [`ServerConfig::max_session_timeout_ms`] for the effective value.
    pub max_session_timeout: Option<u32>,
    /// `initLimit` in ticks; 0 = not set (an error for an ensemble).
    pub init_limit: u32,
    /// `syncLimit` in ticks; 0 = not set (an error for an ensemble).
    pub sync_limit: u32,
    /// `connectToLearnerMasterLimit` in ticks; 0 = not set.
    pub connect_to_learner_master_limit: u32,

    /// `server.N` lines, by id.
    pub servers: BTreeMap<u64, ServerSpec>,
    /// `group.N` → member server ids (hierarchical quorums).
    pub groups: BTreeMap<u64, BTreeSet<u64>>,
    /// Explicit `weight.N` values; see [`ServerConfig::server_weight`].
    pub weights: BTreeMap<u64, u64>,
    /// This server's id, from `<dataDir>/myid` (filled by [`load`]).
    pub my_id: Option<u64>,
    /// `peerType`, but once `my_id` is known the role on this server's
    /// `server.N` line wins, as in ZooKeeper.
    pub peer_type: PeerRole,
    /// `standaloneEnabled` (default true).
    pub standalone_enabled: bool,
    /// `reconfigEnabled` (default false).
    pub reconfig_enabled: bool,
    /// `electionAlg`; always 3.
    pub election_alg: u32,
    /// `quorumListenOnAllIPs` (default false).
    pub quorum_listen_on_all_ips: bool,
    /// `observerMasterPort`; values <= 0 mean "not set".
    pub observer_master_port: Option<u16>,
    /// `syncEnabled`: observers log and snapshot to disk (default true).
    pub sync_enabled: bool,
    /// `leaderServes` (yes/no, default yes): leader accepts clients.
    pub leader_serves: bool,

    /// `localSessionsEnabled` (default false).
    pub local_sessions_enabled: bool,
    /// `localSessionsUpgradingEnabled` (default false).
    pub local_sessions_upgrading_enabled: bool,

    /// `autopurge.snapRetainCount` (default and minimum 3).
    pub autopurge_snap_retain_count: u32,
    /// `autopurge.purgeInterval` in hours; 0 = never (default).
    pub autopurge_purge_interval_hours: u32,
    /// `snapCount` (default 100000, minimum 2).
    pub snap_count: u32,
    /// `snapSizeLimitInKb`: snapshot after this much log; 0 = disabled.
    pub snap_size_limit_kb: u64,
    /// `preAllocSize` in KB (default 65536).
    pub pre_alloc_size_kb: u64,
    /// `forceSync` (yes/no, default yes): fsync the log before acking.
    pub force_sync: bool,

    /// `jute.maxbuffer` in bytes (default 0xfffff).
    pub jute_max_buffer: u32,
    /// `globalOutstandingLimit` (default 1000).
    pub global_outstanding_limit: u32,
    /// `4lw.commands.whitelist`; see [`ServerConfig::four_letter_allowed`].
    pub four_letter_whitelist: FourLetterWhitelist,
    /// `zookeeper.extendedTypesEnabled` (TTL nodes; default false).
    pub extended_types_enabled: bool,
    /// `readonlymode.enabled` (default false).
    pub read_only_mode_enabled: bool,
    /// `zookeeper.enforceQuota` (default false): hard quota limits refuse writes.
    pub enforce_quota: bool,
    /// `zookeeper.digest.enabled` (data tree digests; default true).
    pub digest_enabled: bool,
    /// `zookeeper.skipACL` (yes/no, default no).
    pub skip_acl: bool,
    /// `zookeeper.DigestAuthenticationProvider.superDigest`:
    /// `super:<base64 sha1>` for the digest `super` user.
    pub super_digest: Option<String>,
    /// `znode.container.checkIntervalMs` (default 60000).
    pub container_check_interval_ms: u32,
    /// `znode.container.maxPerMinute` (default 10000).
    pub container_max_per_minute: u32,
    /// `znode.container.maxNeverUsedIntervalMs`; 0 (default) = containers
    /// that never had children are not deleted.
    pub container_max_never_used_interval_ms: u64,

    /// `admin.*`.
    pub admin: AdminServerConfig,
    /// `metricsProvider.*`.
    pub metrics: MetricsProviderConfig,
    /// `zookeeper.root.logger`, `zookeeper.log.*` (see [`crate::logging`]).
    pub logging: crate::logging::LogConfig,
    /// `ssl.*`, `ssl.quorum.*`, `sslQuorum`, `portUnification`, `client.portUnification`.
    pub tls: TlsConfig,

    /// Unknown settings, keyed by their system-property name (`zookeeper.<key>`
    /// for zoo.cfg keys, the name as given for `-D` flags).
    pub system_properties: BTreeMap<String, String>,
    /// ZooKeeper keys that zkrs recognises but does not implement.
    pub unsupported: BTreeMap<String, String>,

    /// The zoo.cfg this came from (empty for [`ServerConfig::new`]).
    config_file: PathBuf,
    /// Canonical setting name → zoo.cfg line that set it. Used to locate
    /// errors found after parsing and to let zoo.cfg override `-D` flags.
    origin: BTreeMap<String, usize>,
}

impl ServerConfig {
    /// A standalone configuration with every default and the given dataDir.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        let data_dir = data_dir.into();
        Self {
            data_log_dir: data_dir.clone(),
            data_dir,
            dynamic_config_file: None,
            dynamic_config_version: None,
            client_port: None,
            client_port_address: None,
            secure_client_port: None,
            secure_client_port_address: None,
            client_port_listen_backlog: None,
            max_client_cnxns: DEFAULT_MAX_CLIENT_CNXNS,
            tick_time_ms: DEFAULT_TICK_TIME_MS,
            min_session_timeout: None,
            max_session_timeout: None,
            init_limit: 0,
            sync_limit: 0,
            connect_to_learner_master_limit: 0,
            servers: BTreeMap::new(),
            groups: BTreeMap::new(),
            weights: BTreeMap::new(),
            my_id: None,
            peer_type: PeerRole::Participant,
            standalone_enabled: true,
            reconfig_enabled: false,
            election_alg: DEFAULT_ELECTION_ALG,
            quorum_listen_on_all_ips: false,
            observer_master_port: None,
            sync_enabled: true,
            leader_serves: true,
            local_sessions_enabled: false,
            local_sessions_upgrading_enabled: false,
            autopurge_snap_retain_count: MIN_SNAP_RETAIN_COUNT,
            autopurge_purge_interval_hours: 0,
            snap_count: DEFAULT_SNAP_COUNT,
            snap_size_limit_kb: DEFAULT_SNAP_SIZE_LIMIT_KB,
            pre_alloc_size_kb: DEFAULT_PRE_ALLOC_SIZE_KB,
            force_sync: true,
            jute_max_buffer: DEFAULT_JUTE_MAX_BUFFER,
            global_outstanding_limit: DEFAULT_GLOBAL_OUTSTANDING_LIMIT,
            four_letter_whitelist: FourLetterWhitelist::default(),
            extended_types_enabled: false,
            read_only_mode_enabled: false,
            enforce_quota: false,
            digest_enabled: true,
            skip_acl: false,
            super_digest: None,
            container_check_interval_ms: DEFAULT_CONTAINER_CHECK_INTERVAL_MS,
            container_max_per_minute: DEFAULT_CONTAINER_MAX_PER_MINUTE,
            container_max_never_used_interval_ms: 0,
            admin: AdminServerConfig::default(),
            metrics: MetricsProviderConfig::default(),
            logging: crate::logging::LogConfig::default(),
            tls: TlsConfig::default(),
            system_properties: BTreeMap::new(),
            unsupported: BTreeMap::new(),
            config_file: PathBuf::new(),
            origin: BTreeMap::new(),
        }
    }

    /// The zoo.cfg path this configuration was parsed from.
    pub fn config_file(&self) -> &Path {
        &self.config_file
    }

    /// `<dataDir>/myid`.
    pub fn myid_path(&self) -> PathBuf {
        self.data_dir.join("myid")
    }

    /// Effective minimum session timeout (default 2 × tickTime).
    pub fn min_session_timeout_ms(&self) -> u32 {
        self.min_session_timeout
            .unwrap_or_else(|| self.tick_time_ms.saturating_mul(2))
    }

    /// Effective maximum session timeout (default 20 × tickTime).
    pub fn max_session_timeout_ms(&self) -> u32 {
        self.max_session_timeout
            .unwrap_or_else(|| self.tick_time_ms.saturating_mul(20))
    }

    /// Whether the four-letter word `cmd` may be served. As in ZooKeeper,
    /// `srvr` is always allowed and `isro` is allowed in read-only mode.
    pub fn four_letter_allowed(&self, cmd: &str) -> bool {
        if cmd == "srvr" || (cmd == "isro" && self.read_only_mode_enabled) {
            return true;
        }
        match &self.four_letter_whitelist {
            FourLetterWhitelist::All => FOUR_LETTER_WORDS.contains(&cmd),
            FourLetterWhitelist::Only(set) => set.contains(cmd),
        }
    }

    /// The voting members.
    pub fn participants(&self) -> impl Iterator<Item = &ServerSpec> {
        self.servers
            .values()
            .filter(|s| s.role == PeerRole::Participant)
    }

    /// The non-voting members.
    pub fn observers(&self) -> impl Iterator<Item = &ServerSpec> {
        self.servers
            .values()
            .filter(|s| s.role == PeerRole::Observer)
    }

    /// ZooKeeper's rule: run as a quorum peer when servers are listed and
    /// either standalone mode is disabled or there are at least two voters.
    /// A single `server.N` line with standaloneEnabled=true (HBase writes
    /// such files) still runs standalone.
    pub fn is_distributed(&self) -> bool {
        !self.servers.is_empty() && (!self.standalone_enabled || self.participants().count() > 1)
    }

    /// The opposite of [`ServerConfig::is_distributed`].
    pub fn is_standalone(&self) -> bool {
        !self.is_distributed()
    }

    /// Whether `group.N`/`weight.N` lines switched on hierarchical quorums.
    pub fn is_hierarchical(&self) -> bool {
        !self.groups.is_empty() || !self.weights.is_empty()
    }

    /// Vote weight of a server in hierarchical quorums (default 1).
    pub fn server_weight(&self, id: u64) -> u64 {
        self.weights.get(&id).copied().unwrap_or(1)
    }

    /// This server's `server.N` entry, once `my_id` is known.
    pub fn this_server(&self) -> Option<&ServerSpec> {
        self.my_id.and_then(|id| self.servers.get(&id))
    }

    /// The address to serve clients on, as `(host, port)`: this server's
    /// `;[host:]port` from its `server.N` line if present (it wins, as in
    /// ZooKeeper), else `clientPortAddress` (default `0.0.0.0`) and
    /// `clientPort`. `None` when no client port is configured.
    ///
    /// The host may be a name; `(host.as_str(), port)` can be passed to
    /// `TcpListener::bind` directly.
    pub fn client_address(&self) -> Option<(String, u16)> {
        if let Some(addr) = self.this_server().and_then(|s| s.client_addr.clone()) {
            return Some(addr);
        }
        let port = self.client_port?;
        let host = self
            .client_port_address
            .clone()
            .unwrap_or_else(|| "0.0.0.0".to_string());
        Some((host, port))
    }

    /// [`ServerConfig::client_address`] as a `SocketAddr`, when the host is
    /// an IP literal (no name resolution here).
    pub fn client_socket_addr(&self) -> Option<SocketAddr> {
        let (host, port) = self.client_address()?;
        let ip: IpAddr = host.parse().ok()?;
        Some(SocketAddr::new(ip, port))
    }

    /// `(secureClientPortAddress or 0.0.0.0, secureClientPort)`.
    pub fn secure_client_address(&self) -> Option<(String, u16)> {
        let port = self.secure_client_port?;
        let host = self
            .secure_client_port_address
            .clone()
            .unwrap_or_else(|| "0.0.0.0".to_string());
        Some((host, port))
    }

    /// Sets this server's id (the content of `myid_file`) and applies what
    /// ZooKeeper derives from it: the id must be listed, the `server.N`
    /// line's role and client address take effect, and extended types limit
    /// the id to 254.
    pub fn apply_my_id(
        &mut self,
        id: u64,
        myid_file: &Path,
    ) -> Result<Vec<ConfigWarning>, ConfigError> {
        let mut warnings = Vec::new();
        if !self.servers.is_empty() && !self.servers.contains_key(&id) {
            let ids: Vec<String> = self.servers.keys().map(u64::to_string).collect();
            return Err(Loc {
                file: myid_file,
                line: Some(1),
                key: None,
            }
            .err(format!(
                "server id {id} is not in the server list of {} (ids: {})",
                self.config_file.display(),
                ids.join(", ")
            )));
        }
        if let Some(spec) = self.servers.get(&id).cloned() {
            self.check_client_address_conflict(&spec)?;
            if spec.role != self.peer_type {
                // Only worth a warning if someone wrote peerType explicitly.
                if let Some(&line) = self.origin.get("peerType") {
                    warnings.push(
                        Loc {
                            file: &self.config_file,
                            line: Some(line),
                            key: Some("peerType"),
                        }
                        .warn(format!(
                            "peerType={} does not match server.{id}, which makes this server \
                             a {}; using the server list",
                            self.peer_type, spec.role
                        )),
                    );
                }
                self.peer_type = spec.role;
            }
        }
        self.my_id = Some(id);
        let loc = self.origin_loc("extendedTypesEnabled");
        self.check_extended_types(loc)?;
        Ok(warnings)
    }

    fn origin_loc<'a>(&'a self, key: &'a str) -> Loc<'a> {
        Loc {
            file: &self.config_file,
            line: self.origin.get(key).copied(),
            key: Some(key),
        }
    }

    /// ZooKeeper's setupClientPort: clientPort/clientPortAddress in zoo.cfg
    /// may not contradict the `;client` part of this server's line.
    fn check_client_address_conflict(&self, spec: &ServerSpec) -> Result<(), ConfigError> {
        let (Some(port), Some((line_host, line_port))) = (self.client_port, &spec.client_addr)
        else {
            return Ok(());
        };
        let host = self.client_port_address.as_deref().unwrap_or("0.0.0.0");
        let conflict = if is_wildcard(host) {
            port != *line_port
        } else {
            port != *line_port || !same_host(host, line_host)
        };
        if conflict {
            return Err(self.origin_loc("clientPort").err(format!(
                "client address {}:{port} differs from {}:{line_port} on this server's \
                 server.{} line",
                quorum::format_host(host),
                quorum::format_host(line_host),
                spec.id
            )));
        }
        Ok(())
    }

    fn check_extended_types(&self, loc: Loc<'_>) -> Result<(), ConfigError> {
        match self.my_id {
            Some(id) if self.extended_types_enabled && id > MAX_EXTENDED_SERVER_ID => {
                Err(loc.err(format!(
                    "extended types (TTL nodes) require a server id <= \
                     {MAX_EXTENDED_SERVER_ID}, but this server's id is {id}"
                )))
            }
            _ => Ok(()),
        }
    }

    /// Installs a parsed membership and applies ZooKeeper's counting rules
    /// (parseDynamicConfig) and limit checks (checkValidity).
    fn install_quorum(
        &mut self,
        q: quorum::Quorum,
        file: &Path,
        warnings: &mut Vec<ConfigWarning>,
    ) -> Result<(), ConfigError> {
        self.servers = q.servers;
        self.groups = q.groups;
        self.weights = q.weights;
        let participants = self.participants().count();
        let observers = self.observers().count();
        let whole_file = Loc {
            file,
            line: None,
            key: None,
        };
        if participants == 0 {
            if !self.standalone_enabled {
                return Err(self.origin_loc("standaloneEnabled").err(
                    "standaloneEnabled=false requires at least one participant server.N line",
                ));
            }
            if observers > 0 {
                return Err(
                    whole_file.err("observers without participants are not a valid ensemble")
                );
            }
        } else if participants == 1 && self.standalone_enabled {
            if observers > 0 {
                return Err(whole_file.err(
                    "observers need a quorum: with a single participant set standaloneEnabled=false",
                ));
            }
            warnings.push(whole_file.warn(
                "only one server is listed; running standalone and ignoring the server list \
                 (set standaloneEnabled=false to run a one-server ensemble)",
            ));
        } else if participants <= 2 {
            warnings.push(whole_file.warn(format!(
                "{participants} participant(s): no server failure will be tolerated; at least 3 are needed"
            )));
        } else if participants % 2 != 1 {
            warnings.push(whole_file.warn(format!(
                "{participants} participants tolerate no more failures than {}; an odd number is recommended",
                participants - 1
            )));
        }
        if self.is_distributed() {
            for (key, value) in [
                ("initLimit", self.init_limit),
                ("syncLimit", self.sync_limit),
            ] {
                if value == 0 {
                    return Err(self.origin_loc(key).err(
                        "must be set to a positive number of ticks when running as an ensemble",
                    ));
                }
            }
        }
        Ok(())
    }
}

fn is_wildcard(host: &str) -> bool {
    host.parse::<IpAddr>().is_ok_and(|ip| ip.is_unspecified())
}

fn same_host(a: &str, b: &str) -> bool {
    if a.eq_ignore_ascii_case(b) {
        return true;
    }
    matches!((a.parse::<IpAddr>(), b.parse::<IpAddr>()), (Ok(x), Ok(y)) if x == y)
}

// ---------------------------------------------------------------------------
// Key tables

/// Keys QuorumPeerConfig itself interprets and zkrs implements.
const PEER_KEYS: &[&str] = &[
    "dataDir",
    "dataLogDir",
    "clientPort",
    "clientPortAddress",
    "secureClientPort",
    "secureClientPortAddress",
    "observerMasterPort",
    "clientPortListenBacklog",
    "tickTime",
    "maxClientCnxns",
    "minSessionTimeout",
    "maxSessionTimeout",
    "initLimit",
    "syncLimit",
    "connectToLearnerMasterLimit",
    "electionAlg",
    "quorumListenOnAllIPs",
    "peerType",
    "syncEnabled",
    "dynamicConfigFile",
    "autopurge.snapRetainCount",
    "autopurge.purgeInterval",
    "standaloneEnabled",
    "reconfigEnabled",
    "localSessionsEnabled",
    "localSessionsUpgradingEnabled",
    "metricsProvider.className",
    "metricsProvider.httpHost",
    "metricsProvider.httpPort",
    "metricsProvider.exportJvmInfo",
    "sslQuorum",
    "portUnification",
];

/// Keys QuorumPeerConfig interprets that zkrs does not implement. They are
/// not system properties in ZooKeeper, so they go to `unsupported`.
const UNSUPPORTED_PEER_KEYS: &[&str] = &[
    "sslQuorumReloadCertFiles",
    "quorum.auth.enableSasl",
    "quorum.auth.serverRequireSasl",
    "quorum.auth.learnerRequireSasl",
    "quorum.auth.learner.saslLoginContext",
    "quorum.auth.server.saslLoginContext",
    "quorum.auth.kerberos.servicePrincipal",
    "quorum.cnxn.threads.size",
    "jvm.pause.info-threshold.ms",
    "jvm.pause.warn-threshold.ms",
    "jvm.pause.sleep.time.ms",
    "jvm.pause.monitor",
    "multiAddress.enabled",
    "multiAddress.reachabilityCheckTimeoutMs",
    "multiAddress.reachabilityCheckEnabled",
    "oraclePath",
];

/// A setting ZooKeeper reads from a Java system property.
struct PropDef {
    /// Name without the `zookeeper.` prefix (how it is written in zoo.cfg).
    short: &'static str,
    /// Whether the real property is `zookeeper.<short>`. If so, a zoo.cfg
    /// entry sets it in ZooKeeper (and overrides a `-D` flag, because the
    /// config is applied after JVM start). If not, ZooKeeper only honours
    /// the `-D` flag; we accept zoo.cfg as well, but the flag wins.
    prefixed: bool,
}

/// A setting read from `zookeeper.<short>`.
const fn zk(short: &'static str) -> PropDef {
    PropDef {
        short,
        prefixed: true,
    }
}

/// A setting read from the system property `<short>` itself.
const fn plain(short: &'static str) -> PropDef {
    PropDef {
        short,
        prefixed: false,
    }
}

const PROPS: &[PropDef] = &[
    zk("snapCount"),
    zk("snapSizeLimitInKb"),
    zk("preAllocSize"),
    zk("forceSync"),
    zk("4lw.commands.whitelist"),
    zk("extendedTypesEnabled"),
    zk("DigestAuthenticationProvider.superDigest"),
    zk("digest.enabled"),
    zk("enforceQuota"),
    zk("globalOutstandingLimit"),
    zk("leaderServes"),
    zk("skipACL"),
    zk("admin.enableServer"),
    zk("admin.serverAddress"),
    zk("admin.serverPort"),
    zk("admin.commandURL"),
    zk("admin.idleTimeout"),
    plain("jute.maxbuffer"),
    plain("readonlymode.enabled"),
    plain("znode.container.checkIntervalMs"),
    plain("znode.container.maxPerMinute"),
    plain("znode.container.maxNeverUsedIntervalMs"),
    // Logging (logback.xml's properties; see crate::logging).
    zk("root.logger"),
    zk("console.threshold"),
    zk("log.threshold"),
    zk("log.dir"),
    zk("log.file"),
    zk("log.maxfilesize"),
    zk("log.maxbackupindex"),
    zk("log.format"),
];

fn prop_def(short: &str) -> Option<&'static PropDef> {
    PROPS.iter().chain(tls::PROPS).find(|d| d.short == short)
}

fn strip_zk_prefix(name: &str) -> &str {
    name.strip_prefix("zookeeper.").unwrap_or(name)
}

fn is_quorum_key(key: &str) -> bool {
    key.starts_with("server.") || key.starts_with("group.") || key.starts_with("weight.")
}

fn is_peer_key(key: &str) -> bool {
    PEER_KEYS.contains(&key)
        || UNSUPPORTED_PEER_KEYS.contains(&key)
        || key.starts_with("metricsProvider.")
}

enum Kind {
    Quorum,
    Peer,
    Prop(&'static PropDef),
    Unknown,
}

/// Classifies a zoo.cfg key and gives its canonical name: the key itself for
/// config keys, the short name for system-property settings (so `snapCount`
/// and `zookeeper.snapCount` are the same setting), `zookeeper.<key>` for
/// unknown keys.
fn classify(key: &str) -> (Kind, String) {
    if is_quorum_key(key) {
        return (Kind::Quorum, key.to_string());
    }
    if is_peer_key(key) {
        return (Kind::Peer, key.to_string());
    }
    let short = strip_zk_prefix(key);
    match prop_def(short) {
        Some(def) => (Kind::Prop(def), def.short.to_string()),
        None => (Kind::Unknown, format!("zookeeper.{short}")),
    }
}

fn known_keys() -> impl Iterator<Item = &'static str> {
    PEER_KEYS
        .iter()
        .chain(UNSUPPORTED_PEER_KEYS)
        .copied()
        .chain(PROPS.iter().chain(tls::PROPS).map(|d| d.short))
}

fn unknown_key_message(key: &str, sysprop: &str) -> String {
    let mut msg = format!("unknown key, kept as system property '{sysprop}' (not used by zkrs)");
    let short = strip_zk_prefix(key);
    if short != key && is_peer_key(short) {
        msg.push_str(&format!(
            "; '{short}' is a zoo.cfg key and must be written without the 'zookeeper.' prefix"
        ));
    } else if let Some(known) = known_keys().find(|k| k.eq_ignore_ascii_case(short)) {
        msg.push_str(&format!("; did you mean '{known}'?"));
    }
    msg
}

// ---------------------------------------------------------------------------
// Value parsers

/// ZooKeeper trims keys and values with Java's `String.trim`.
fn java_trim(s: &str) -> &str {
    s.trim_matches(|c: char| c <= ' ')
}

fn comment_hint(value: &str) -> &'static str {
    if value.contains('#') {
        " ('#' starts a comment only at the beginning of a line)"
    } else {
        ""
    }
}

fn parse_long(loc: Loc<'_>, value: &str) -> Result<i64, ConfigError> {
    value.parse::<i64>().map_err(|e| match e.kind() {
        IntErrorKind::PosOverflow | IntErrorKind::NegOverflow => {
            loc.err(format!("integer '{value}' is out of range"))
        }
        _ => loc.err(format!("invalid integer '{value}'{}", comment_hint(value))),
    })
}

/// ZooKeeper reads these with `Integer.parseInt`, so they are 32-bit.
fn parse_int(loc: Loc<'_>, value: &str) -> Result<i32, ConfigError> {
    let v = parse_long(loc, value)?;
    i32::try_from(v).map_err(|_| loc.err(format!("integer {v} is out of range for a 32-bit value")))
}

fn parse_non_negative(loc: Loc<'_>, value: &str) -> Result<u32, ConfigError> {
    let v = parse_int(loc, value)?;
    u32::try_from(v).map_err(|_| loc.err(format!("must not be negative, got {v}")))
}

fn parse_positive(loc: Loc<'_>, value: &str) -> Result<u32, ConfigError> {
    match parse_non_negative(loc, value)? {
        0 => Err(loc.err("must be greater than 0, got 0")),
        v => Ok(v),
    }
}

fn parse_non_negative_long(loc: Loc<'_>, value: &str) -> Result<u64, ConfigError> {
    let v = parse_long(loc, value)?;
    u64::try_from(v).map_err(|_| loc.err(format!("must not be negative, got {v}")))
}

/// A port where 0 is allowed (it means "unset" or "ephemeral", per key).
fn parse_port(loc: Loc<'_>, value: &str) -> Result<u16, ConfigError> {
    let v = parse_int(loc, value)?;
    u16::try_from(v).map_err(|_| loc.err(format!("port {v} out of range (0-65535)")))
}

/// QuorumPeerConfig booleans: exactly `true`/`false`, any case. (Settings
/// ZooKeeper reads with `Boolean.parseBoolean` silently turn typos into
/// `false`; we reject them instead.)
fn parse_bool(loc: Loc<'_>, value: &str) -> Result<bool, ConfigError> {
    if value.eq_ignore_ascii_case("true") {
        Ok(true)
    } else if value.eq_ignore_ascii_case("false") {
        Ok(false)
    } else {
        Err(loc.err(format!(
            "invalid boolean '{value}' (expected 'true' or 'false'){}",
            comment_hint(value)
        )))
    }
}

/// forceSync, leaderServes and skipACL are yes/no in ZooKeeper. It compares
/// against one literal, so `forceSync=false` there means *yes*; rather than
/// guess, anything but yes/no is an error.
fn parse_yes_no(loc: Loc<'_>, value: &str) -> Result<bool, ConfigError> {
    if value.eq_ignore_ascii_case("yes") {
        Ok(true)
    } else if value.eq_ignore_ascii_case("no") {
        Ok(false)
    } else {
        Err(loc.err(format!(
            "invalid value '{value}' (expected 'yes' or 'no'){}",
            comment_hint(value)
        )))
    }
}

fn parse_nonempty(loc: Loc<'_>, value: &str) -> Result<String, ConfigError> {
    if value.is_empty() {
        Err(loc.err("value must not be empty"))
    } else {
        Ok(value.to_string())
    }
}

/// A host name or IP literal; IPv6 brackets are removed.
fn parse_host(loc: Loc<'_>, value: &str) -> Result<String, ConfigError> {
    let host = value
        .strip_prefix('[')
        .and_then(|v| v.strip_suffix(']'))
        .unwrap_or(value);
    if host.is_empty() {
        return Err(loc.err("host must not be empty"));
    }
    if host.chars().any(|c| c.is_whitespace() || c == '/') {
        return Err(loc.err(format!("invalid host '{value}'{}", comment_hint(value))));
    }
    Ok(host.to_string())
}

/// `-1` (ZooKeeper's "use the default") or a non-negative millisecond value.
fn parse_session_timeout(loc: Loc<'_>, value: &str) -> Result<Option<u32>, ConfigError> {
    match parse_int(loc, value)? {
        -1 => Ok(None),
        v => u32::try_from(v).map(Some).map_err(|_| {
            loc.err(format!(
                "must be -1 (default) or a non-negative number of milliseconds, got {v}"
            ))
        }),
    }
}

fn parse_whitelist(
    loc: Loc<'_>,
    value: &str,
    warnings: &mut Vec<ConfigWarning>,
) -> FourLetterWhitelist {
    let mut set = BTreeSet::from(["srvr".to_string()]);
    for cmd in value.split(',').map(str::trim).filter(|c| !c.is_empty()) {
        if cmd == "*" {
            return FourLetterWhitelist::All;
        }
        if !FOUR_LETTER_WORDS.contains(&cmd) {
            warnings.push(loc.warn(format!("unknown four-letter word '{cmd}'")));
        }
        set.insert(cmd.to_string());
    }
    FourLetterWhitelist::Only(set)
}

// ---------------------------------------------------------------------------
// Setting individual keys

/// Sets a QuorumPeerConfig key (`is_peer_key`).
fn set_peer_key(
    cfg: &mut ServerConfig,
    key: &str,
    value: &str,
    loc: Loc<'_>,
    warnings: &mut Vec<ConfigWarning>,
) -> Result<(), ConfigError> {
    match key {
        "dataDir" => cfg.data_dir = PathBuf::from(parse_nonempty(loc, value)?),
        "dataLogDir" => cfg.data_log_dir = PathBuf::from(parse_nonempty(loc, value)?),
        "dynamicConfigFile" => {
            cfg.dynamic_config_file = Some(PathBuf::from(parse_nonempty(loc, value)?));
        }
        // ZooKeeper treats 0 as "no client port".
        "clientPort" => cfg.client_port = Some(parse_port(loc, value)?).filter(|&p| p != 0),
        "clientPortAddress" => cfg.client_port_address = Some(parse_host(loc, value)?),
        "secureClientPort" => {
            cfg.secure_client_port = Some(parse_port(loc, value)?).filter(|&p| p != 0);
        }
        "secureClientPortAddress" => {
            cfg.secure_client_port_address = Some(parse_host(loc, value)?);
        }
        // ZooKeeper: <= 0 means "not set".
        "observerMasterPort" => {
            let v = parse_int(loc, value)?;
            cfg.observer_master_port = if v <= 0 {
                None
            } else {
                Some(parse_port(loc, value)?)
            };
        }
        // -1 (or any non-positive value) means the OS default backlog.
        "clientPortListenBacklog" => {
            let v = parse_int(loc, value)?;
            cfg.client_port_listen_backlog = u32::try_from(v).ok().filter(|&b| b > 0);
        }
        "tickTime" => cfg.tick_time_ms = parse_positive(loc, value)?,
        "maxClientCnxns" => cfg.max_client_cnxns = parse_non_negative(loc, value)?,
        "minSessionTimeout" => cfg.min_session_timeout = parse_session_timeout(loc, value)?,
        "maxSessionTimeout" => cfg.max_session_timeout = parse_session_timeout(loc, value)?,
        "initLimit" => cfg.init_limit = parse_non_negative(loc, value)?,
        "syncLimit" => cfg.sync_limit = parse_non_negative(loc, value)?,
        "connectToLearnerMasterLimit" => {
            cfg.connect_to_learner_master_limit = parse_non_negative(loc, value)?;
        }
        "electionAlg" => {
            let v = parse_int(loc, value)?;
            if v != 3 {
                return Err(loc.err(format!(
                    "unsupported election algorithm {v}; only 3 (fast leader election) exists"
                )));
            }
            cfg.election_alg = 3;
        }
        "quorumListenOnAllIPs" => cfg.quorum_listen_on_all_ips = parse_bool(loc, value)?,
        "peerType" => {
            cfg.peer_type = PeerRole::parse(value).ok_or_else(|| {
                loc.err(format!(
                    "unknown peer type '{value}' (expected 'participant' or 'observer')"
                ))
            })?;
        }
        "syncEnabled" => cfg.sync_enabled = parse_bool(loc, value)?,
        "autopurge.snapRetainCount" => {
            let v = parse_int(loc, value)?;
            cfg.autopurge_snap_retain_count = match u32::try_from(v) {
                Ok(n) if n >= MIN_SNAP_RETAIN_COUNT => n,
                // PurgeTxnLog never keeps fewer than 3 snapshots; ZooKeeper
                // raises the value with a warning.
                _ => {
                    warnings.push(loc.warn(format!(
                        "{v} is below the minimum of {MIN_SNAP_RETAIN_COUNT}; using {MIN_SNAP_RETAIN_COUNT}"
                    )));
                    MIN_SNAP_RETAIN_COUNT
                }
            };
        }
        "autopurge.purgeInterval" => {
            let v = parse_int(loc, value)?;
            cfg.autopurge_purge_interval_hours = u32::try_from(v).unwrap_or_else(|_| {
                // ZooKeeper treats any value <= 0 as "purging disabled".
                warnings.push(loc.warn(format!("negative interval {v} disables purging; use 0")));
                0
            });
        }
        "standaloneEnabled" => cfg.standalone_enabled = parse_bool(loc, value)?,
        "reconfigEnabled" => cfg.reconfig_enabled = parse_bool(loc, value)?,
        "localSessionsEnabled" => cfg.local_sessions_enabled = parse_bool(loc, value)?,
        "localSessionsUpgradingEnabled" => {
            cfg.local_sessions_upgrading_enabled = parse_bool(loc, value)?;
        }
        "metricsProvider.className" => cfg.metrics.class_name = parse_nonempty(loc, value)?,
        "metricsProvider.httpHost" => cfg.metrics.http_host = parse_host(loc, value)?,
        "metricsProvider.httpPort" => cfg.metrics.http_port = parse_port(loc, value)?,
        "metricsProvider.exportJvmInfo" => cfg.metrics.export_jvm_info = parse_bool(loc, value)?,
        "sslQuorum" => cfg.tls.ssl_quorum = parse_bool(loc, value)?,
        "portUnification" => cfg.tls.quorum_port_unification = parse_bool(loc, value)?,
        k if k.starts_with("metricsProvider.") => {
            let name = &k["metricsProvider.".len()..];
            cfg.metrics
                .extra
                .insert(name.to_string(), value.to_string());
        }
        k => {
            // UNSUPPORTED_PEER_KEYS. Explicitly disabling a feature we lack
            // needs no warning; anything else might be relied upon (e.g.
            // sslQuorum=true: quorum traffic would NOT be encrypted).
            if !value.eq_ignore_ascii_case("false") {
                warnings.push(loc.warn(format!(
                    "'{k}' is a ZooKeeper setting that zkrs does not support; ignored"
                )));
            }
            cfg.unsupported.insert(k.to_string(), value.to_string());
        }
    }
    Ok(())
}

/// Sets a system-property setting by its short name. Returns `Ok(false)` if
/// `short` is not one (kept in sync with `PROPS` by a test).
fn set_prop(
    cfg: &mut ServerConfig,
    short: &str,
    value: &str,
    loc: Loc<'_>,
    warnings: &mut Vec<ConfigWarning>,
) -> Result<bool, ConfigError> {
    match short {
        "snapCount" => {
            let v = parse_int(loc, value)?;
            cfg.snap_count = match u32::try_from(v) {
                Ok(n) if n >= MIN_SNAP_COUNT => n,
                // ZooKeeper resets values below 2 (snapshots are taken at a
                // random point in [snapCount/2, snapCount]).
                _ => {
                    warnings.push(loc.warn(format!(
                        "{v} is below the minimum of {MIN_SNAP_COUNT}; using {MIN_SNAP_COUNT}"
                    )));
                    MIN_SNAP_COUNT
                }
            };
        }
        // <= 0 disables the size trigger in ZooKeeper; keep that meaning.
        "snapSizeLimitInKb" => {
            cfg.snap_size_limit_kb = u64::try_from(parse_long(loc, value)?).unwrap_or(0);
        }
        "preAllocSize" => cfg.pre_alloc_size_kb = parse_non_negative_long(loc, value)?,
        "forceSync" => cfg.force_sync = parse_yes_no(loc, value)?,
        "4lw.commands.whitelist" => {
            cfg.four_letter_whitelist = parse_whitelist(loc, value, warnings);
        }
        "extendedTypesEnabled" => cfg.extended_types_enabled = parse_bool(loc, value)?,
        "DigestAuthenticationProvider.superDigest" => {
            if value.is_empty() {
                cfg.super_digest = None;
            } else {
                if !value.contains(':') {
                    warnings.push(loc.warn(
                        "expected 'super:<base64 sha1>' (as printed by DigestAuthenticationProvider); \
                         no super user can match this",
                    ));
                }
                cfg.super_digest = Some(value.to_string());
            }
        }
        "digest.enabled" => cfg.digest_enabled = parse_bool(loc, value)?,
        "enforceQuota" => cfg.enforce_quota = parse_bool(loc, value)?,
        "globalOutstandingLimit" => cfg.global_outstanding_limit = parse_non_negative(loc, value)?,
        "leaderServes" => cfg.leader_serves = parse_yes_no(loc, value)?,
        "skipACL" => cfg.skip_acl = parse_yes_no(loc, value)?,
        "admin.enableServer" => cfg.admin.enabled = parse_bool(loc, value)?,
        "admin.serverAddress" => cfg.admin.address = parse_host(loc, value)?,
        "admin.serverPort" => cfg.admin.port = parse_port(loc, value)?,
        "admin.commandURL" => {
            if !value.starts_with('/') {
                return Err(loc.err(format!("must be a path starting with '/', got '{value}'")));
            }
            cfg.admin.command_url = value.to_string();
        }
        "admin.idleTimeout" => cfg.admin.idle_timeout_ms = parse_non_negative(loc, value)?,
        "jute.maxbuffer" => cfg.jute_max_buffer = parse_positive(loc, value)?,
        "readonlymode.enabled" => cfg.read_only_mode_enabled = parse_bool(loc, value)?,
        // 0 would make ZooKeeper's container timer or its rate division fail.
        "znode.container.checkIntervalMs" => {
            cfg.container_check_interval_ms = parse_positive(loc, value)?;
        }
        "znode.container.maxPerMinute" => {
            cfg.container_max_per_minute = parse_positive(loc, value)?;
        }
        "znode.container.maxNeverUsedIntervalMs" => {
            cfg.container_max_never_used_interval_ms = parse_non_negative_long(loc, value)?;
        }
        k if crate::logging::KEYS.contains(&k) => {
            cfg.logging.set(k, value).map_err(|m| loc.err(m))?;
        }
        s => return tls::set_prop(cfg, s, value, loc),
    }
    Ok(true)
}

// ---------------------------------------------------------------------------
// Entry points

fn syntax_error(file: &Path, e: properties::SyntaxError) -> ConfigError {
    ConfigError {
        file: file.to_path_buf(),
        line: Some(e.line),
        key: None,
        message: e.message,
    }
}

/// Parses the properties text and applies ZooKeeper's trimming.
fn read_entries(text: &str, file: &Path) -> Result<Vec<Property>, ConfigError> {
    let props = properties::parse(text).map_err(|e| syntax_error(file, e))?;
    Ok(props
        .into_iter()
        .map(|p| Property {
            key: java_trim(&p.key).to_string(),
            value: java_trim(&p.value).to_string(),
            line: p.line,
        })
        .collect())
}

/// Parses `zoo.cfg` text. `file` is only used in messages.
///
/// Server lines in the file are parsed and validated here. If
/// `dynamicConfigFile` is set, membership lives in that file instead and is
/// added by [`parse_dynamic_config`] (which [`load`] calls); `my_id` is set
/// by [`ServerConfig::apply_my_id`] (also called by [`load`]).
pub fn parse(text: &str, file: &Path) -> Result<(ServerConfig, Vec<ConfigWarning>), ConfigError> {
    let entries = read_entries(text, file)?;
    let mut cfg = ServerConfig::new(PathBuf::new());
    cfg.config_file = file.to_path_buf();
    let mut warnings = Vec::new();

    let classified: Vec<(Kind, String)> = entries.iter().map(|p| classify(&p.key)).collect();
    // Java's Properties keeps the last of repeated keys; do the same, but say so.
    let mut last: HashMap<&str, usize> = HashMap::new();
    for (i, (kind, canon)) in classified.iter().enumerate() {
        if matches!(kind, Kind::Quorum) {
            continue;
        }
        if let Some(prev) = last.insert(canon, i) {
            let p = &entries[i];
            warnings.push(
                Loc {
                    file,
                    line: Some(p.line),
                    key: Some(&p.key),
                }
                .warn(format!(
                    "overrides the earlier setting on line {}",
                    entries[prev].line
                )),
            );
        }
    }

    let has_dynamic_file = entries.iter().any(|p| p.key == "dynamicConfigFile");
    let mut quorum_entries = Vec::new();
    for (i, (p, (kind, canon))) in entries.iter().zip(&classified).enumerate() {
        let loc = Loc {
            file,
            line: Some(p.line),
            key: Some(&p.key),
        };
        match kind {
            Kind::Quorum => {
                if has_dynamic_file {
                    return Err(loc.err(
                        "must be in the file named by dynamicConfigFile, not in the static config",
                    ));
                }
                quorum_entries.push(p.clone());
                continue;
            }
            _ if last.get(canon.as_str()) != Some(&i) => continue,
            Kind::Peer => set_peer_key(&mut cfg, &p.key, &p.value, loc, &mut warnings)?,
            Kind::Prop(def) => {
                set_prop(&mut cfg, def.short, &p.value, loc, &mut warnings)?;
            }
            Kind::Unknown => {
                cfg.system_properties.insert(canon.clone(), p.value.clone());
                // `authProvider.N=<class>` naming a scheme zkrs has built in is honoured.
                let built_in = canon.starts_with("zookeeper.authProvider.")
                    && tls::BUILT_IN_AUTH_PROVIDERS.contains(&p.value.as_str());
                if !built_in {
                    warnings.push(loc.warn(unknown_key_message(&p.key, canon)));
                }
            }
        }
        cfg.origin.insert(canon.clone(), p.line);
    }

    // Cross-key checks, in ZooKeeper's order.
    if !cfg.origin.contains_key("dataDir") {
        return Err(cfg
            .origin_loc("dataDir")
            .err("required setting is missing (directory for snapshots and the myid file)"));
    }
    if !cfg.origin.contains_key("dataLogDir") {
        cfg.data_log_dir = cfg.data_dir.clone();
    }
    for (addr_key, port_key, addr_set, port_set) in [
        (
            "clientPortAddress",
            "clientPort",
            cfg.client_port_address.is_some(),
            cfg.client_port.is_some(),
        ),
        (
            "secureClientPortAddress",
            "secureClientPort",
            cfg.secure_client_port_address.is_some(),
            cfg.secure_client_port.is_some(),
        ),
    ] {
        if addr_set && !port_set {
            return Err(cfg
                .origin_loc(addr_key)
                .err(format!("{addr_key} is set but {port_key} is not")));
        }
    }
    let (min, max) = (cfg.min_session_timeout_ms(), cfg.max_session_timeout_ms());
    if min > max {
        let key = if cfg.min_session_timeout.is_some() {
            "minSessionTimeout"
        } else {
            "maxSessionTimeout"
        };
        return Err(cfg.origin_loc(key).err(format!(
            "minSessionTimeout ({min} ms{}) must not be larger than maxSessionTimeout ({max} ms{})",
            if cfg.min_session_timeout.is_none() {
                ", 2 x tickTime"
            } else {
                ""
            },
            if cfg.max_session_timeout.is_none() {
                ", 20 x tickTime"
            } else {
                ""
            },
        )));
    }
    if !has_dynamic_file {
        let q = quorum::build(&quorum_entries, file, &mut warnings)?;
        cfg.install_quorum(q, file, &mut warnings)?;
    }
    Ok((cfg, warnings))
}

/// ZooKeeper takes a dynamic config file's version from a hex suffix of its
/// name (`zoo.cfg.dynamic.100000000`); a non-hex suffix means no version.
fn version_from_filename(file: &Path) -> Option<u64> {
    let name = file.file_name()?.to_str()?;
    let (_, suffix) = name.rsplit_once('.')?;
    u64::from_str_radix(suffix, 16).ok()
}

/// Parses the file named by `dynamicConfigFile` (only `server.N`,
/// `group.N` and `weight.N` lines) into `cfg`, replacing any membership.
pub fn parse_dynamic_config(
    cfg: &mut ServerConfig,
    text: &str,
    file: &Path,
) -> Result<Vec<ConfigWarning>, ConfigError> {
    let entries = read_entries(text, file)?;
    for p in &entries {
        let loc = Loc {
            file,
            line: Some(p.line),
            key: Some(&p.key),
        };
        if p.key == "version" {
            return Err(loc.err(
                "a dynamic config file must not contain 'version'; it is taken from the file name",
            ));
        }
        if !is_quorum_key(&p.key) {
            return Err(loc.err(
                "not allowed in a dynamic config file (only server.N, group.N and weight.N)",
            ));
        }
    }
    let mut warnings = Vec::new();
    let q = quorum::build(&entries, file, &mut warnings)?;
    cfg.install_quorum(q, file, &mut warnings)?;
    cfg.dynamic_config_version = version_from_filename(file);
    if let Some(id) = cfg.my_id {
        let myid_file = cfg.myid_path();
        warnings.extend(cfg.apply_my_id(id, &myid_file)?);
    }
    Ok(warnings)
}

/// Parses a `myid` file: the server id on the first line. Surrounding
/// whitespace (`echo 1 > myid` leaves a newline) is allowed; like ZooKeeper,
/// later lines are ignored.
pub fn parse_myid(text: &str, file: &Path) -> Result<u64, ConfigError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let first = text.lines().next().unwrap_or("").trim();
    let loc = Loc {
        file,
        line: Some(1),
        key: None,
    };
    if first.is_empty() {
        return Err(loc.err("myid file is empty; it must contain this server's id"));
    }
    first.parse::<u64>().map_err(|_| {
        loc.err(format!(
            "invalid server id '{first}' (expected a non-negative integer)"
        ))
    })
}

/// Reads a config file. Java reads properties as ISO-8859-1; we expect
/// UTF-8 but fall back to Latin-1 rather than refuse an old file.
fn read_text(path: &Path) -> Result<String, ConfigError> {
    let bytes = std::fs::read(path).map_err(|e| ConfigError {
        file: path.to_path_buf(),
        line: None,
        key: None,
        message: format!("cannot read file: {e}"),
    })?;
    Ok(String::from_utf8(bytes)
        .unwrap_or_else(|e| e.into_bytes().into_iter().map(char::from).collect()))
}

/// Reads and parses `path` (zoo.cfg), then the dynamic config file if one
/// is named, then `<dataDir>/myid` when servers are listed. Relative paths
/// inside the config are resolved against the working directory, as in
/// ZooKeeper.
pub fn load(path: &Path) -> Result<(ServerConfig, Vec<ConfigWarning>), ConfigError> {
    let text = read_text(path)?;
    let (mut cfg, mut warnings) = parse(&text, path)?;
    if let Some(dynamic) = cfg.dynamic_config_file.clone() {
        let text = read_text(&dynamic)?;
        warnings.extend(parse_dynamic_config(&mut cfg, &text, &dynamic)?);
    }
    if !cfg.servers.is_empty() {
        let myid_path = cfg.myid_path();
        if myid_path.is_file() {
            let id = parse_myid(&read_text(&myid_path)?, &myid_path)?;
            warnings.extend(cfg.apply_my_id(id, &myid_path)?);
        } else if cfg.is_distributed() {
            let ids: Vec<String> = cfg.servers.keys().map(u64::to_string).collect();
            return Err(ConfigError {
                file: myid_path,
                line: None,
                key: None,
                message: format!(
                    "myid file is missing; {} lists servers {}, so this file must contain \
                     this server's id",
                    path.display(),
                    ids.join(", ")
                ),
            });
        }
    }
    Ok((cfg, warnings))
}

/// Applies `-Dname=value` words from a `SERVER_JVMFLAGS`/`JVMFLAGS` string
/// (other words, like `-Xmx1g`, are JVM tuning and are ignored).
pub fn apply_jvm_flags(
    cfg: &mut ServerConfig,
    flags: &str,
) -> Result<Vec<ConfigWarning>, ConfigError> {
    apply_jvm_flags_from(cfg, flags, Path::new("JVM flags"))
}

/// [`apply_jvm_flags`], naming the flag source (e.g. `SERVER_JVMFLAGS`) in
/// messages.
///
/// Precedence follows ZooKeeper: for `zookeeper.*` properties an entry in
/// zoo.cfg wins (ZooKeeper sets the property from zoo.cfg after the JVM
/// has started); for `jute.maxbuffer`, `readonlymode.enabled` and
/// `znode.container.*` the flag wins (ZooKeeper ignores them in zoo.cfg).
pub fn apply_jvm_flags_from(
    cfg: &mut ServerConfig,
    flags: &str,
    source: &Path,
) -> Result<Vec<ConfigWarning>, ConfigError> {
    let words = jvm_flags::split_words(flags).map_err(|message| ConfigError {
        file: source.to_path_buf(),
        line: None,
        key: None,
        message,
    })?;
    let mut warnings = Vec::new();
    for word in &words {
        let Some(def) = word.strip_prefix("-D") else {
            continue;
        };
        let (name, value) = def.split_once('=').unwrap_or((def, ""));
        let value = java_trim(value);
        let loc = Loc {
            file: source,
            line: None,
            key: Some(name),
        };
        if name.is_empty() {
            warnings.push(loc.warn(format!("ignoring '{word}': no property name")));
            continue;
        }
        let short = strip_zk_prefix(name);
        let canon = match prop_def(short) {
            Some(d) if d.prefixed => Some(d.short.to_string()),
            Some(_) => None,
            None => Some(name.to_string()),
        };
        if let Some(line) = canon.and_then(|c| cfg.origin.get(&c).copied()) {
            warnings.push(loc.warn(format!(
                "ignored: {} line {line} sets it, and zoo.cfg takes precedence as in ZooKeeper",
                cfg.config_file.display()
            )));
            continue;
        }
        match prop_def(short) {
            Some(d) => {
                set_prop(cfg, d.short, value, loc, &mut warnings)?;
                if d.short == "extendedTypesEnabled" {
                    cfg.check_extended_types(loc)?;
                }
            }
            None => {
                // Most -D flags configure the JVM or logging; only mention the
                // ones that look like ZooKeeper settings.
                let looks_like_zk = ["zookeeper.", "jute.", "znode.", "readonlymode."]
                    .iter()
                    .any(|p| name.starts_with(p));
                if looks_like_zk {
                    warnings.push(loc.warn("system property not used by zkrs; kept"));
                }
                cfg.system_properties
                    .insert(name.to_string(), value.to_string());
            }
        }
    }
    Ok(warnings)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    const CFG: &str = "zoo.cfg";

    fn ok(text: &str) -> (ServerConfig, Vec<ConfigWarning>) {
        match parse(text, Path::new(CFG)) {
            Ok(r) => r,
            Err(e) => panic!("unexpected error: {e}"),
        }
    }

    fn err(text: &str) -> ConfigError {
        match parse(text, Path::new(CFG)) {
            Ok((cfg, _)) => panic!("expected an error, got {cfg:?}"),
            Err(e) => e,
        }
    }

    fn messages(w: &[ConfigWarning]) -> Vec<String> {
        w.iter().map(ToString::to_string).collect()
    }

    const ENSEMBLE: &str = "dataDir=/d\ninitLimit=5\nsyncLimit=2\n\
        server.1=10.0.0.1:2888:3888\nserver.2=10.0.0.2:2888:3888\nserver.3=10.0.0.3:2888:3888\n";

    // --- defaults and individual keys

    #[test]
    fn defaults_are_zookeepers() {
        let (c, w) = ok("dataDir=/var/lib/zookeeper\n");
        assert_eq!(w, vec![]);
        assert_eq!(c.data_dir, PathBuf::from("/var/lib/zookeeper"));
        assert_eq!(c.data_log_dir, PathBuf::from("/var/lib/zookeeper"));
        assert_eq!(c.myid_path(), PathBuf::from("/var/lib/zookeeper/myid"));
        assert_eq!(c.config_file(), Path::new(CFG));
        assert_eq!(c.tick_time_ms, 3000);
        assert_eq!(c.min_session_timeout, None);
        assert_eq!(c.max_session_timeout, None);
        assert_eq!(c.min_session_timeout_ms(), 6000);
        assert_eq!(c.max_session_timeout_ms(), 60000);
        assert_eq!(
            (
                c.init_limit,
                c.sync_limit,
                c.connect_to_learner_master_limit
            ),
            (0, 0, 0)
        );
        assert_eq!(c.client_port, None);
        assert_eq!(c.client_port_address, None);
        assert_eq!(c.client_address(), None);
        assert_eq!(c.secure_client_port, None);
        assert_eq!(c.secure_client_address(), None);
        assert_eq!(c.client_port_listen_backlog, None);
        assert_eq!(c.max_client_cnxns, 60);
        assert_eq!(c.autopurge_snap_retain_count, 3);
        assert_eq!(c.autopurge_purge_interval_hours, 0);
        assert_eq!(c.snap_count, 100_000);
        assert_eq!(c.snap_size_limit_kb, 4_194_304);
        assert_eq!(c.pre_alloc_size_kb, 65_536);
        assert_eq!(c.jute_max_buffer, 0xfffff);
        assert!(c.force_sync);
        assert_eq!(
            c.four_letter_whitelist,
            FourLetterWhitelist::Only(BTreeSet::from(["srvr".to_string()]))
        );
        assert!(!c.extended_types_enabled);
        assert_eq!(c.container_check_interval_ms, 60_000);
        assert_eq!(c.container_max_per_minute, 10_000);
        assert_eq!(c.container_max_never_used_interval_ms, 0);
        assert!(c.standalone_enabled);
        assert!(!c.reconfig_enabled);
        assert!(!c.local_sessions_enabled);
        assert!(!c.local_sessions_upgrading_enabled);
        assert_eq!(c.election_alg, 3);
        assert!(!c.quorum_listen_on_all_ips);
        assert_eq!(c.observer_master_port, None);
        assert_eq!(
            c.admin,
            AdminServerConfig {
                enabled: true,
                address: "0.0.0.0".to_string(),
                port: 8080,
                command_url: "/commands".to_string(),
                idle_timeout_ms: 30_000,
            }
        );
        assert_eq!(
            c.metrics,
            MetricsProviderConfig {
                class_name: "org.apache.zookeeper.metrics.impl.DefaultMetricsProvider".to_string(),
                http_host: "0.0.0.0".to_string(),
                http_port: 7000,
                export_jvm_info: true,
                extra: BTreeMap::new(),
            }
        );
        assert!(!c.read_only_mode_enabled);
        assert_eq!(c.super_digest, None);
        assert!(c.digest_enabled);
        assert_eq!(c.global_outstanding_limit, 1000);
        assert!(c.leader_serves);
        assert_eq!(c.peer_type, PeerRole::Participant);
        assert!(c.sync_enabled);
        assert!(!c.skip_acl);
        assert!(c.servers.is_empty());
        assert_eq!(c.my_id, None);
        assert!(c.is_standalone());
        assert!(!c.is_distributed());
        assert!(!c.is_hierarchical());
        assert!(c.system_properties.is_empty());
        assert!(c.unsupported.is_empty());
        assert_eq!(c.dynamic_config_file, None);
    }

    #[test]
    fn new_matches_parsed_defaults() {
        let (parsed, _) = ok("dataDir=/d");
        let mut fresh = ServerConfig::new("/d");
        fresh.config_file = PathBuf::from(CFG);
        fresh.origin.insert("dataDir".to_string(), 1);
        assert_eq!(parsed, fresh);
    }

    #[test]
    fn every_key_is_parsed() {
        let text = "\
tickTime=2500
initLimit=7
syncLimit=4
connectToLearnerMasterLimit=9
dataDir=/data/zk
dataLogDir=/txlog/zk
dynamicConfigFile=/etc/zk/zoo.cfg.dynamic
clientPort=2281
clientPortAddress=127.0.0.1
secureClientPort=2282
secureClientPortAddress=[::1]
clientPortListenBacklog=128
observerMasterPort=2191
maxClientCnxns=0
minSessionTimeout=1000
maxSessionTimeout=90000
autopurge.snapRetainCount=5
autopurge.purgeInterval=24
snapCount=5000
snapSizeLimitInKb=1024
preAllocSize=1024
jute.maxbuffer=2097152
forceSync=no
4lw.commands.whitelist=stat, ruok ,conf
extendedTypesEnabled=true
znode.container.checkIntervalMs=1000
znode.container.maxPerMinute=500
znode.container.maxNeverUsedIntervalMs=3600000
standaloneEnabled=false
reconfigEnabled=true
localSessionsEnabled=true
localSessionsUpgradingEnabled=TRUE
electionAlg=3
quorumListenOnAllIPs=true
admin.enableServer=false
admin.serverAddress=127.0.0.1
admin.serverPort=9090
admin.commandURL=/cmds
admin.idleTimeout=5000
metricsProvider.className=org.apache.zookeeper.metrics.prometheus.PrometheusMetricsProvider
metricsProvider.httpHost=127.0.0.2
metricsProvider.httpPort=7070
metricsProvider.exportJvmInfo=false
metricsProvider.numWorkerThreads=4
readonlymode.enabled=true
DigestAuthenticationProvider.superDigest=super:D/InIHSb7yEEbrWz8b9l71RjZJU=
digest.enabled=false
globalOutstandingLimit=2000
leaderServes=no
peerType=observer
syncEnabled=false
skipACL=yes
";
        let (c, w) = ok(text);
        assert_eq!(w, vec![]);
        assert_eq!(c.tick_time_ms, 2500);
        assert_eq!(
            (
                c.init_limit,
                c.sync_limit,
                c.connect_to_learner_master_limit
            ),
            (7, 4, 9)
        );
        assert_eq!(c.data_dir, PathBuf::from("/data/zk"));
        assert_eq!(c.data_log_dir, PathBuf::from("/txlog/zk"));
        assert_eq!(
            c.dynamic_config_file,
            Some(PathBuf::from("/etc/zk/zoo.cfg.dynamic"))
        );
        assert_eq!(c.client_port, Some(2281));
        assert_eq!(c.client_port_address.as_deref(), Some("127.0.0.1"));
        assert_eq!(c.client_address(), Some(("127.0.0.1".to_string(), 2281)));
        assert_eq!(
            c.client_socket_addr(),
            Some(SocketAddr::from(([127, 0, 0, 1], 2281)))
        );
        assert_eq!(c.secure_client_port, Some(2282));
        assert_eq!(c.secure_client_address(), Some(("::1".to_string(), 2282)));
        assert_eq!(c.client_port_listen_backlog, Some(128));
        assert_eq!(c.observer_master_port, Some(2191));
        assert_eq!(c.max_client_cnxns, 0);
        assert_eq!(c.min_session_timeout_ms(), 1000);
        assert_eq!(c.max_session_timeout_ms(), 90000);
        assert_eq!(c.autopurge_snap_retain_count, 5);
        assert_eq!(c.autopurge_purge_interval_hours, 24);
        assert_eq!(c.snap_count, 5000);
        assert_eq!(c.snap_size_limit_kb, 1024);
        assert_eq!(c.pre_alloc_size_kb, 1024);
        assert_eq!(c.jute_max_buffer, 2_097_152);
        assert!(!c.force_sync);
        assert_eq!(
            c.four_letter_whitelist,
            FourLetterWhitelist::Only(BTreeSet::from(
                ["conf", "ruok", "srvr", "stat"].map(String::from)
            ))
        );
        assert!(c.extended_types_enabled);
        assert_eq!(c.container_check_interval_ms, 1000);
        assert_eq!(c.container_max_per_minute, 500);
        assert_eq!(c.container_max_never_used_interval_ms, 3_600_000);
        assert!(!c.standalone_enabled);
        assert!(c.reconfig_enabled);
        assert!(c.local_sessions_enabled);
        assert!(c.local_sessions_upgrading_enabled);
        assert_eq!(c.election_alg, 3);
        assert!(c.quorum_listen_on_all_ips);
        assert_eq!(
            c.admin,
            AdminServerConfig {
                enabled: false,
                address: "127.0.0.1".to_string(),
                port: 9090,
                command_url: "/cmds".to_string(),
                idle_timeout_ms: 5000,
            }
        );
        assert_eq!(
            c.metrics,
            MetricsProviderConfig {
                class_name: "org.apache.zookeeper.metrics.prometheus.PrometheusMetricsProvider"
                    .to_string(),
                http_host: "127.0.0.2".to_string(),
                http_port: 7070,
                export_jvm_info: false,
                extra: BTreeMap::from([("numWorkerThreads".to_string(), "4".to_string())]),
            }
        );
        assert!(c.read_only_mode_enabled);
        assert_eq!(
            c.super_digest.as_deref(),
            Some("super:D/InIHSb7yEEbrWz8b9l71RjZJU=")
        );
        assert!(!c.digest_enabled);
        assert_eq!(c.global_outstanding_limit, 2000);
        assert!(!c.leader_serves);
        assert_eq!(c.peer_type, PeerRole::Observer);
        assert!(!c.sync_enabled);
        assert!(c.skip_acl);
        assert!(c.system_properties.is_empty());
        // Membership comes from the dynamic file, which parse() does not read.
        assert!(c.servers.is_empty());
    }

    #[test]
    fn system_property_settings_accept_the_zookeeper_prefix() {
        let (c, w) = ok("dataDir=/d\n\
             zookeeper.snapCount=777\n\
             zookeeper.forceSync=no\n\
             zookeeper.4lw.commands.whitelist=mntr\n\
             zookeeper.extendedTypesEnabled=true\n\
             zookeeper.DigestAuthenticationProvider.superDigest=super:x=\n\
             zookeeper.digest.enabled=false\n\
             zookeeper.enforceQuota=true\n\
             zookeeper.jute.maxbuffer=4096\n\
             zookeeper.readonlymode.enabled=true\n\
             zookeeper.znode.container.checkIntervalMs=5\n\
             zookeeper.admin.serverPort=8181\n");
        assert_eq!(w, vec![]);
        assert_eq!(c.snap_count, 777);
        assert!(!c.force_sync);
        assert!(c.four_letter_allowed("mntr"));
        assert!(c.extended_types_enabled);
        assert_eq!(c.super_digest.as_deref(), Some("super:x="));
        assert!(!c.digest_enabled);
        assert!(c.enforce_quota);
        assert_eq!(c.jute_max_buffer, 4096);
        assert!(c.read_only_mode_enabled);
        assert_eq!(c.container_check_interval_ms, 5);
        assert_eq!(c.admin.port, 8181);
        assert!(c.system_properties.is_empty());
    }

    #[test]
    fn relative_paths_are_kept_as_written() {
        let (c, _) = ok("dataDir=data/zk\ndataLogDir=./logs\n");
        assert_eq!(c.data_dir, PathBuf::from("data/zk"));
        assert_eq!(c.data_log_dir, PathBuf::from("./logs"));
        assert_eq!(c.myid_path(), PathBuf::from("data/zk/myid"));
    }

    #[test]
    fn client_port_zero_means_unset_and_ipv6_client_address() {
        let (c, _) = ok("dataDir=/d\nclientPort=0\n");
        assert_eq!(c.client_port, None);
        let (c, _) = ok("dataDir=/d\nclientPort=2181\nclientPortAddress=::1\n");
        assert_eq!(
            c.client_socket_addr(),
            Some("[::1]:2181".parse().expect("addr"))
        );
        let (c, _) = ok("dataDir=/d\nclientPort=2181\nclientPortAddress=zk.example.com\n");
        assert_eq!(
            c.client_address(),
            Some(("zk.example.com".to_string(), 2181))
        );
        assert_eq!(c.client_socket_addr(), None);
        let (c, _) = ok("dataDir=/d\nclientPort=2181\n");
        assert_eq!(
            c.client_socket_addr(),
            Some(SocketAddr::from(([0, 0, 0, 0], 2181)))
        );
    }

    // --- derived values

    #[test]
    fn effective_session_timeouts() {
        let (c, _) = ok("dataDir=/d\ntickTime=2000\n");
        assert_eq!(
            (c.min_session_timeout_ms(), c.max_session_timeout_ms()),
            (4000, 40000)
        );
        let (c, _) = ok("dataDir=/d\ntickTime=2000\nminSessionTimeout=-1\nmaxSessionTimeout=-1\n");
        assert_eq!(
            (c.min_session_timeout_ms(), c.max_session_timeout_ms()),
            (4000, 40000)
        );
        let (c, _) =
            ok("dataDir=/d\ntickTime=2000\nminSessionTimeout=5000\nmaxSessionTimeout=6000\n");
        assert_eq!(
            (c.min_session_timeout_ms(), c.max_session_timeout_ms()),
            (5000, 6000)
        );
        // Only one bound given: the other still follows tickTime.
        let (c, _) = ok("dataDir=/d\ntickTime=1000\nmaxSessionTimeout=100000\n");
        assert_eq!(
            (c.min_session_timeout_ms(), c.max_session_timeout_ms()),
            (2000, 100000)
        );
        let (c, _) = ok("dataDir=/d\nminSessionTimeout=6000\nmaxSessionTimeout=6000\n");
        assert_eq!(
            (c.min_session_timeout_ms(), c.max_session_timeout_ms()),
            (6000, 6000)
        );
    }

    #[test]
    fn min_session_timeout_above_max_is_an_error() {
        let e = err("dataDir=/d\ntickTime=2000\nminSessionTimeout=50000\n");
        assert_eq!(
            e.to_string(),
            "zoo.cfg:3: key 'minSessionTimeout': minSessionTimeout (50000 ms) must not be \
             larger than maxSessionTimeout (40000 ms, 20 x tickTime)"
        );
        let e = err("dataDir=/d\ntickTime=2000\nmaxSessionTimeout=3000\n");
        assert_eq!(e.key.as_deref(), Some("maxSessionTimeout"));
        assert_eq!(e.line, Some(3));
        let e = err("dataDir=/d\nminSessionTimeout=-2\n");
        assert_eq!(
            e.message,
            "must be -1 (default) or a non-negative number of milliseconds, got -2"
        );
    }

    #[test]
    fn four_letter_whitelist_semantics() {
        // Default: srvr only.
        let (c, _) = ok("dataDir=/d\n");
        assert!(c.four_letter_allowed("srvr"));
        for cmd in ["ruok", "stat", "mntr", "conf", "isro", "wchp"] {
            assert!(!c.four_letter_allowed(cmd), "{cmd}");
        }
        // "*": every known word, nothing else.
        let (c, _) = ok("dataDir=/d\n4lw.commands.whitelist=*\n");
        assert_eq!(c.four_letter_whitelist, FourLetterWhitelist::All);
        for cmd in FOUR_LETTER_WORDS {
            assert!(c.four_letter_allowed(cmd), "{cmd}");
        }
        assert!(!c.four_letter_allowed("abcd"));
        assert!(!c.four_letter_allowed(""));
        // "*" anywhere in a list wins.
        let (c, _) = ok("dataDir=/d\n4lw.commands.whitelist=ruok, *\n");
        assert_eq!(c.four_letter_whitelist, FourLetterWhitelist::All);
        // A list, with whitespace and empty items.
        let (c, w) = ok("dataDir=/d\n4lw.commands.whitelist= stat ,ruok,, mntr \n");
        assert_eq!(w, vec![]);
        for (cmd, allowed) in [
            ("stat", true),
            ("ruok", true),
            ("mntr", true),
            ("srvr", true),
            ("conf", false),
            ("STAT", false),
            ("isro", false),
        ] {
            assert_eq!(c.four_letter_allowed(cmd), allowed, "{cmd}");
        }
        // Empty value: srvr only.
        let (c, _) = ok("dataDir=/d\n4lw.commands.whitelist=\n");
        assert_eq!(c.four_letter_whitelist, FourLetterWhitelist::default());
        // Read-only mode enables isro.
        let (c, _) = ok("dataDir=/d\nreadonlymode.enabled=true\n");
        assert!(c.four_letter_allowed("isro"));
        assert!(!c.four_letter_allowed("stat"));
        // Unknown words are kept but warned about.
        let (c, w) = ok("dataDir=/d\n4lw.commands.whitelist=stat,ruk\n");
        assert!(c.four_letter_allowed("stat"));
        assert_eq!(
            messages(&w),
            vec!["zoo.cfg:2: key '4lw.commands.whitelist': unknown four-letter word 'ruk'"]
        );
    }

    // --- ensemble

    #[test]
    fn server_lines_of_every_form() {
        let text = "dataDir=/d\ninitLimit=5\nsyncLimit=2\n\
            server.1=10.0.0.1:2888:3888\n\
            server.2=10.0.0.2:2888:3888:participant;2182\n\
            server.3=10.0.0.3:2888:3888;10.0.0.3:2183\n\
            server.4=[fd00::4]:2888:3888:observer\n";
        let (c, w) = ok(text);
        assert_eq!(w, vec![]);
        assert_eq!(
            c.servers.keys().copied().collect::<Vec<_>>(),
            vec![1, 2, 3, 4]
        );
        assert_eq!(
            c.servers[&1],
            ServerSpec {
                id: 1,
                host: "10.0.0.1".to_string(),
                quorum_port: 2888,
                election_port: 3888,
                role: PeerRole::Participant,
                client_addr: None,
            }
        );
        assert_eq!(
            c.servers[&2].client_addr,
            Some(("0.0.0.0".to_string(), 2182))
        );
        assert_eq!(
            c.servers[&3].client_addr,
            Some(("10.0.0.3".to_string(), 2183))
        );
        assert_eq!(c.servers[&4].host, "fd00::4");
        assert_eq!(c.servers[&4].role, PeerRole::Observer);
        assert_eq!(c.servers[&4].to_string(), "[fd00::4]:2888:3888:observer");
        assert_eq!(c.participants().count(), 3);
        assert_eq!(c.observers().map(|s| s.id).collect::<Vec<_>>(), vec![4]);
        assert!(c.is_distributed());
        assert!(!c.is_standalone());

        let with_id = |id: u64| {
            let mut c = c.clone();
            assert_eq!(c.apply_my_id(id, Path::new("myid")), Ok(vec![]));
            assert_eq!(c.my_id, Some(id));
            assert_eq!(c.this_server().map(|s| s.id), Some(id));
            c
        };
        // The client address comes from this server's own line.
        assert_eq!(with_id(1).client_address(), None);
        assert_eq!(
            with_id(2).client_address(),
            Some(("0.0.0.0".to_string(), 2182))
        );
        assert_eq!(
            with_id(3).client_socket_addr(),
            Some(SocketAddr::from(([10, 0, 0, 3], 2183)))
        );
        // The observer's role comes from its server line.
        assert_eq!(with_id(2).peer_type, PeerRole::Participant);
        assert_eq!(with_id(4).peer_type, PeerRole::Observer);
    }

    #[test]
    fn client_port_and_server_line_client_part_combine() {
        let text = "dataDir=/d\ninitLimit=5\nsyncLimit=2\nclientPort=2181\n\
            server.1=a:2888:3888\nserver.2=b:2888:3888;2181\nserver.3=c:2888:3888;10.0.0.3:2181\n";
        let (c, _) = ok(text);
        // Before my_id is known, and for a server without a client part,
        // clientPort applies.
        assert_eq!(c.client_address(), Some(("0.0.0.0".to_string(), 2181)));
        let mut c1 = c.clone();
        assert_eq!(c1.apply_my_id(1, Path::new("myid")), Ok(vec![]));
        assert_eq!(c1.client_address(), Some(("0.0.0.0".to_string(), 2181)));
        // With a wildcard clientPortAddress only the ports must agree; the
        // server line's host then wins.
        let mut c3 = c.clone();
        assert_eq!(c3.apply_my_id(3, Path::new("myid")), Ok(vec![]));
        assert_eq!(c3.client_address(), Some(("10.0.0.3".to_string(), 2181)));
    }

    #[test]
    fn client_port_conflicting_with_server_line_is_an_error() {
        let text = "dataDir=/d\ninitLimit=5\nsyncLimit=2\nclientPort=2181\n\
            server.1=a:2888:3888;2182\nserver.2=b:2888:3888\nserver.3=c:2888:3888\n";
        let (mut c, _) = ok(text);
        let e = c.apply_my_id(1, Path::new("myid")).expect_err("conflict");
        assert_eq!(
            e.to_string(),
            "zoo.cfg:4: key 'clientPort': client address 0.0.0.0:2181 differs from \
             0.0.0.0:2182 on this server's server.1 line"
        );
        let text = "dataDir=/d\ninitLimit=5\nsyncLimit=2\nclientPort=2181\n\
            clientPortAddress=10.0.0.9\nserver.1=a:2888:3888;10.0.0.1:2181\n\
            server.2=b:2888:3888\nserver.3=c:2888:3888\n";
        let (mut c, _) = ok(text);
        assert!(c.apply_my_id(1, Path::new("myid")).is_err());
        // Same address spelled the same way is fine.
        let text = "dataDir=/d\ninitLimit=5\nsyncLimit=2\nclientPort=2181\n\
            clientPortAddress=10.0.0.1\nserver.1=a:2888:3888;10.0.0.1:2181\n\
            server.2=b:2888:3888\nserver.3=c:2888:3888\n";
        let (mut c, _) = ok(text);
        assert_eq!(c.apply_my_id(1, Path::new("myid")), Ok(vec![]));
        assert_eq!(c.client_address(), Some(("10.0.0.1".to_string(), 2181)));
    }

    #[test]
    fn peer_type_disagreeing_with_server_list_warns_and_list_wins() {
        let text =
            format!("{ENSEMBLE}server.4=10.0.0.4:2888:3888:observer\npeerType=participant\n");
        let (mut c, _) = ok(&text);
        let w = c.apply_my_id(4, Path::new("myid")).expect("valid");
        assert_eq!(c.peer_type, PeerRole::Observer);
        assert_eq!(
            messages(&w),
            vec![
                "zoo.cfg:8: key 'peerType': peerType=participant does not match server.4, \
                  which makes this server a observer; using the server list"
            ]
        );
    }

    #[test]
    fn my_id_must_be_listed() {
        let (mut c, _) = ok(ENSEMBLE);
        let e = c
            .apply_my_id(9, Path::new("data/myid"))
            .expect_err("unlisted");
        assert_eq!(
            e.to_string(),
            "data/myid:1: server id 9 is not in the server list of zoo.cfg (ids: 1, 2, 3)"
        );
        assert_eq!(c.my_id, None);
    }

    #[test]
    fn extended_types_limit_server_ids() {
        let text = "dataDir=/d\ninitLimit=5\nsyncLimit=2\nextendedTypesEnabled=true\n\
            server.254=a:1:2\nserver.255=b:1:2\nserver.3=c:1:2\n";
        let (c, _) = ok(text);
        assert_eq!(c.clone().apply_my_id(254, Path::new("myid")), Ok(vec![]));
        let e = c
            .clone()
            .apply_my_id(255, Path::new("myid"))
            .expect_err("too big");
        assert_eq!(
            e.to_string(),
            "zoo.cfg:4: key 'extendedTypesEnabled': extended types (TTL nodes) require a \
             server id <= 254, but this server's id is 255"
        );
    }

    #[test]
    fn standalone_and_distributed_rules() {
        // No servers.
        let (c, _) = ok("dataDir=/d\n");
        assert!(c.is_standalone());
        // One server with standaloneEnabled (the HBase case): standalone, warned.
        let (c, w) = ok("dataDir=/d\nserver.1=a:2888:3888\n");
        assert!(c.is_standalone());
        assert_eq!(c.servers.len(), 1);
        assert_eq!(w.len(), 1);
        assert!(
            w[0].message.starts_with("only one server is listed"),
            "{}",
            w[0]
        );
        // One server with standaloneEnabled=false: an ensemble of one.
        let (c, w) = ok(
            "dataDir=/d\nstandaloneEnabled=false\ninitLimit=5\nsyncLimit=2\nserver.1=a:2888:3888\n",
        );
        assert!(c.is_distributed());
        assert_eq!(
            messages(&w),
            vec!["zoo.cfg: 1 participant(s): no server failure will be tolerated; at least 3 are needed"]
        );
        // Three servers: no warnings.
        let (c, w) = ok(ENSEMBLE);
        assert!(c.is_distributed());
        assert_eq!(w, vec![]);
        // Four participants: even-count warning.
        let (_, w) = ok(&format!("{ENSEMBLE}server.4=10.0.0.4:2888:3888\n"));
        assert_eq!(
            messages(&w),
            vec!["zoo.cfg: 4 participants tolerate no more failures than 3; an odd number is recommended"]
        );
    }

    #[test]
    fn invalid_ensembles() {
        let e = err("dataDir=/d\nstandaloneEnabled=false\n");
        assert_eq!(
            e.to_string(),
            "zoo.cfg:2: key 'standaloneEnabled': standaloneEnabled=false requires at least \
             one participant server.N line"
        );
        let e = err("dataDir=/d\nserver.1=a:2888:3888:observer\n");
        assert_eq!(
            e.message,
            "observers without participants are not a valid ensemble"
        );
        let e = err("dataDir=/d\nserver.1=a:2888:3888\nserver.2=b:2888:3888:observer\n");
        assert!(e.message.starts_with("observers need a quorum"), "{e}");
        // initLimit/syncLimit are required once distributed.
        let e = err("dataDir=/d\nsyncLimit=2\nserver.1=a:1:2\nserver.2=b:1:2\n");
        assert_eq!(
            e.to_string(),
            "zoo.cfg: key 'initLimit': must be set to a positive number of ticks when running \
             as an ensemble"
        );
        let e = err("dataDir=/d\ninitLimit=5\nsyncLimit=0\nserver.1=a:1:2\nserver.2=b:1:2\n");
        assert_eq!((e.line, e.key.as_deref()), (Some(3), Some("syncLimit")));
    }

    #[test]
    fn server_line_errors_name_line_and_key() {
        let e = err("dataDir=/d\nserver.1=a:1:2\nserver.2=b:2888\n");
        assert_eq!(
            e.to_string(),
            "zoo.cfg:3: key 'server.2': missing port in 'b:2888': expected \
             host:quorumPort:electionPort[:participant|:observer][;[clientHost:]clientPort]"
        );
        let e = err("dataDir=/d\nserver.1=a:1:2\nserver.1=b:1:2\n");
        assert_eq!(
            e.to_string(),
            "zoo.cfg:3: key 'server.1': duplicate server id 1 (already defined on line 2)"
        );
        let e = err("dataDir=/d\nserver.one=a:1:2\n");
        assert_eq!(
            e.to_string(),
            "zoo.cfg:2: key 'server.one': invalid server id 'one' (expected a non-negative integer)"
        );
        let e = err("dataDir=/d\nserver.1=a:100000:2\n");
        assert_eq!(
            e.to_string(),
            "zoo.cfg:2: key 'server.1': quorum port 100000 out of range (1-65535)"
        );
    }

    #[test]
    fn hierarchical_quorums_via_zoo_cfg() {
        let text = format!("{ENSEMBLE}group.1=1:2\ngroup.2=3\nweight.1=3\nweight.2=0\n");
        let (c, w) = ok(&text);
        assert_eq!(w, vec![]);
        assert!(c.is_hierarchical());
        assert_eq!(c.groups[&1], BTreeSet::from([1, 2]));
        assert_eq!(c.groups[&2], BTreeSet::from([3]));
        assert_eq!(
            (c.server_weight(1), c.server_weight(2), c.server_weight(3)),
            (3, 0, 1)
        );

        let e = err(&format!("{ENSEMBLE}group.1=1:2:3:4\n"));
        assert_eq!(
            e.to_string(),
            "zoo.cfg:7: key 'group.1': group 1 lists server 4, which has no server.4 line"
        );
        let e = err(&format!("{ENSEMBLE}group.1=1:2\ngroup.2=2:3\n"));
        assert_eq!(
            e.to_string(),
            "zoo.cfg:8: key 'group.2': server 2 is already in group 1 (line 7); a server may be \
             in only one group"
        );
        let e = err(&format!("{ENSEMBLE}group.1=1:2:3\nweight.3=-2\n"));
        assert_eq!(
            e.to_string(),
            "zoo.cfg:8: key 'weight.3': weight must not be negative, got -2"
        );
        let e = err(&format!("{ENSEMBLE}group.1=1:2\n"));
        assert_eq!((e.line, e.key.as_deref()), (Some(6), Some("server.3")));
    }

    #[test]
    fn quorum_lines_are_rejected_when_a_dynamic_file_is_used() {
        let e = err("dataDir=/d\ndynamicConfigFile=/x/zoo.cfg.dynamic\nserver.1=a:1:2\n");
        assert_eq!(
            e.to_string(),
            "zoo.cfg:3: key 'server.1': must be in the file named by dynamicConfigFile, not in \
             the static config"
        );
    }

    // --- unknown keys, duplicates, clamping

    #[test]
    fn unknown_keys_become_system_properties_with_a_warning() {
        let (c, w) = ok("dataDir=/d\nfooBar=1\nticktime=5000\nzookeeper.tickTime=7\nsnapcount=3\n");
        assert_eq!(c.tick_time_ms, 3000);
        assert_eq!(
            c.system_properties,
            BTreeMap::from([
                ("zookeeper.fooBar".to_string(), "1".to_string()),
                ("zookeeper.ticktime".to_string(), "5000".to_string()),
                ("zookeeper.tickTime".to_string(), "7".to_string()),
                ("zookeeper.snapcount".to_string(), "3".to_string()),
            ])
        );
        assert_eq!(
            messages(&w),
            vec![
                "zoo.cfg:2: key 'fooBar': unknown key, kept as system property 'zookeeper.fooBar' \
                 (not used by zkrs)",
                "zoo.cfg:3: key 'ticktime': unknown key, kept as system property \
                 'zookeeper.ticktime' (not used by zkrs); did you mean 'tickTime'?",
                "zoo.cfg:4: key 'zookeeper.tickTime': unknown key, kept as system property \
                 'zookeeper.tickTime' (not used by zkrs); 'tickTime' is a zoo.cfg key and must \
                 be written without the 'zookeeper.' prefix",
                "zoo.cfg:5: key 'snapcount': unknown key, kept as system property \
                 'zookeeper.snapcount' (not used by zkrs); did you mean 'snapCount'?",
            ]
        );
    }

    #[test]
    fn repeated_keys_last_one_wins_with_a_warning() {
        // As with Java's Properties, the earlier (even invalid) value is dropped.
        let (c, w) = ok("dataDir=/d\ntickTime=abc\ntickTime=2000\n");
        assert_eq!(c.tick_time_ms, 2000);
        assert_eq!(
            messages(&w),
            vec!["zoo.cfg:3: key 'tickTime': overrides the earlier setting on line 2"]
        );
        // Both spellings of a system-property setting are the same setting.
        let (c, w) = ok("dataDir=/d\nsnapCount=1000\nzookeeper.snapCount=2000\n");
        assert_eq!(c.snap_count, 2000);
        assert_eq!(w.len(), 1);
        assert_eq!(w[0].line, Some(3));
    }

    #[test]
    fn out_of_range_values_are_clamped_like_zookeeper() {
        let (c, w) = ok(
            "dataDir=/d\nautopurge.snapRetainCount=1\nautopurge.purgeInterval=-1\n\
                         snapCount=1\nsnapSizeLimitInKb=-1\n",
        );
        assert_eq!(c.autopurge_snap_retain_count, 3);
        assert_eq!(c.autopurge_purge_interval_hours, 0);
        assert_eq!(c.snap_count, 2);
        assert_eq!(c.snap_size_limit_kb, 0);
        assert_eq!(
            messages(&w),
            vec![
                "zoo.cfg:2: key 'autopurge.snapRetainCount': 1 is below the minimum of 3; using 3",
                "zoo.cfg:3: key 'autopurge.purgeInterval': negative interval -1 disables purging; use 0",
                "zoo.cfg:4: key 'snapCount': 1 is below the minimum of 2; using 2",
            ]
        );
    }

    #[test]
    fn unsupported_zookeeper_keys_are_kept_and_warned_about() {
        let (c, w) =
            ok("dataDir=/d\nsslQuorumReloadCertFiles=true\nquorum.auth.enableSasl=false\n");
        assert_eq!(
            c.unsupported,
            BTreeMap::from([
                ("quorum.auth.enableSasl".to_string(), "false".to_string()),
                ("sslQuorumReloadCertFiles".to_string(), "true".to_string()),
            ])
        );
        assert_eq!(
            messages(&w),
            vec![
                "zoo.cfg:2: key 'sslQuorumReloadCertFiles': 'sslQuorumReloadCertFiles' is a \
                  ZooKeeper setting that zkrs does not support; ignored"
            ]
        );
        assert!(c.system_properties.is_empty());
    }

    // --- errors

    #[test]
    fn bad_values_name_file_line_and_key() {
        let cases = [
            ("tickTime=abc", "tickTime", "invalid integer 'abc'"),
            ("tickTime=0", "tickTime", "must be greater than 0, got 0"),
            (
                "tickTime=2000 # two seconds",
                "tickTime",
                "invalid integer '2000 # two seconds' ('#' starts a comment only at the \
                 beginning of a line)",
            ),
            (
                "tickTime=99999999999",
                "tickTime",
                "integer 99999999999 is out of range for a 32-bit value",
            ),
            (
                "tickTime=99999999999999999999",
                "tickTime",
                "integer '99999999999999999999' is out of range",
            ),
            (
                "clientPort=70000",
                "clientPort",
                "port 70000 out of range (0-65535)",
            ),
            (
                "clientPort=-1",
                "clientPort",
                "port -1 out of range (0-65535)",
            ),
            (
                "admin.serverPort=65536",
                "admin.serverPort",
                "port 65536 out of range (0-65535)",
            ),
            (
                "forceSync=maybe",
                "forceSync",
                "invalid value 'maybe' (expected 'yes' or 'no')",
            ),
            (
                "forceSync=false",
                "forceSync",
                "invalid value 'false' (expected 'yes' or 'no')",
            ),
            (
                "standaloneEnabled=maybe",
                "standaloneEnabled",
                "invalid boolean 'maybe' (expected 'true' or 'false')",
            ),
            (
                "readonlymode.enabled=yes",
                "readonlymode.enabled",
                "invalid boolean 'yes' (expected 'true' or 'false')",
            ),
            (
                "zookeeper.enforceQuota=on",
                "zookeeper.enforceQuota",
                "invalid boolean 'on' (expected 'true' or 'false')",
            ),
            (
                "maxClientCnxns=-1",
                "maxClientCnxns",
                "must not be negative, got -1",
            ),
            ("initLimit=-3", "initLimit", "must not be negative, got -3"),
            (
                "preAllocSize=-1",
                "preAllocSize",
                "must not be negative, got -1",
            ),
            (
                "jute.maxbuffer=-5",
                "jute.maxbuffer",
                "must not be negative, got -5",
            ),
            (
                "jute.maxbuffer=0",
                "jute.maxbuffer",
                "must be greater than 0, got 0",
            ),
            (
                "znode.container.maxPerMinute=0",
                "znode.container.maxPerMinute",
                "must be greater than 0, got 0",
            ),
            (
                "electionAlg=1",
                "electionAlg",
                "unsupported election algorithm 1; only 3 (fast leader election) exists",
            ),
            (
                "peerType=leader",
                "peerType",
                "unknown peer type 'leader' (expected 'participant' or 'observer')",
            ),
            (
                "admin.commandURL=commands",
                "admin.commandURL",
                "must be a path starting with '/', got 'commands'",
            ),
            (
                "clientPortAddress=",
                "clientPortAddress",
                "host must not be empty",
            ),
            ("dataLogDir=", "dataLogDir", "value must not be empty"),
        ];
        for (line, key, message) in cases {
            let e = err(&format!("# test\n{line}\ndataDir=/d\n"));
            assert_eq!(e.file, PathBuf::from(CFG), "{line}");
            assert_eq!(e.line, Some(2), "{line}");
            assert_eq!(e.key.as_deref(), Some(key), "{line}");
            assert_eq!(e.message, message, "{line}");
            assert_eq!(e.to_string(), format!("zoo.cfg:2: key '{key}': {message}"));
        }
    }

    #[test]
    fn missing_data_dir_is_an_error() {
        let e = err("tickTime=2000\nclientPort=2181\n");
        assert_eq!(
            e,
            ConfigError {
                file: PathBuf::from(CFG),
                line: None,
                key: Some("dataDir".to_string()),
                message: "required setting is missing (directory for snapshots and the myid file)"
                    .to_string(),
            }
        );
        assert_eq!(
            e.to_string(),
            "zoo.cfg: key 'dataDir': required setting is missing (directory for snapshots and \
             the myid file)"
        );
        let e = err("dataDir=\n");
        assert_eq!(
            e.to_string(),
            "zoo.cfg:1: key 'dataDir': value must not be empty"
        );
    }

    #[test]
    fn address_without_port_is_an_error() {
        let e = err("dataDir=/d\nclientPortAddress=127.0.0.1\n");
        assert_eq!(
            e.to_string(),
            "zoo.cfg:2: key 'clientPortAddress': clientPortAddress is set but clientPort is not"
        );
        let e = err("dataDir=/d\nsecureClientPortAddress=127.0.0.1\n");
        assert_eq!(e.key.as_deref(), Some("secureClientPortAddress"));
    }

    #[test]
    fn syntax_errors_name_file_and_line() {
        let e = err("dataDir=/d\nk=\\uzzzz\n");
        assert_eq!(e.to_string(), "zoo.cfg:2: malformed \\uXXXX escape");
    }

    #[test]
    fn java_properties_features_in_zoo_cfg() {
        let (c, w) = ok("  # indented comment\n! bang comment\ndataDir : /d\n\
                         tickTime 2500\n4lw.commands.whitelist=stat, \\\n   ruok\n\
                         clientPort=2181   \n");
        assert_eq!(w, vec![]);
        assert_eq!(c.data_dir, PathBuf::from("/d"));
        assert_eq!(c.tick_time_ms, 2500);
        assert!(c.four_letter_allowed("ruok"));
        assert_eq!(c.client_port, Some(2181));
    }

    // --- myid

    #[test]
    fn myid_parsing() {
        let f = Path::new("data/zk1/myid");
        assert_eq!(parse_myid("1", f), Ok(1));
        assert_eq!(parse_myid("1\n", f), Ok(1));
        assert_eq!(parse_myid("  42 \r\n", f), Ok(42));
        assert_eq!(parse_myid("\u{feff}7\n", f), Ok(7));
        // Like ZooKeeper, only the first line counts.
        assert_eq!(parse_myid("3\nwritten by ansible\n", f), Ok(3));
        assert_eq!(parse_myid("18446744073709551615", f), Ok(u64::MAX));
        assert_eq!(
            parse_myid("abc\n", f).map_err(|e| e.to_string()),
            Err(
                "data/zk1/myid:1: invalid server id 'abc' (expected a non-negative integer)"
                    .to_string()
            )
        );
        for bad in ["-1", "1 2", "0x1", "1.0", "18446744073709551616"] {
            let e = parse_myid(bad, f).expect_err(bad);
            assert_eq!(e.file, PathBuf::from("data/zk1/myid"));
            assert_eq!(e.line, Some(1));
            assert_eq!(
                e.message,
                format!("invalid server id '{bad}' (expected a non-negative integer)")
            );
        }
        for empty in ["", "\n", "   \n2"] {
            let e = parse_myid(empty, f).expect_err("empty");
            assert_eq!(
                e.message,
                "myid file is empty; it must contain this server's id"
            );
        }
    }

    // --- JVM flags

    #[test]
    fn jvm_flags_set_system_property_settings() {
        let (mut c, _) = ok("dataDir=/d\n");
        let w = apply_jvm_flags(
            &mut c,
            "-Xmx512m -Djute.maxbuffer=4194304 -Dzookeeper.extendedTypesEnabled=true \
             -Dreadonlymode.enabled=true -Dzookeeper.enforceQuota=true \
             -Dzookeeper.DigestAuthenticationProvider.superDigest=super:abc=",
        )
        .expect("valid flags");
        assert_eq!(w, vec![]);
        assert_eq!(c.jute_max_buffer, 4_194_304);
        assert!(c.extended_types_enabled);
        assert!(c.read_only_mode_enabled);
        assert!(c.enforce_quota);
        assert!(c.four_letter_allowed("isro"));
        assert_eq!(c.super_digest.as_deref(), Some("super:abc="));
        assert!(c.system_properties.is_empty());
    }

    #[test]
    fn jvm_flags_more_settings_and_quoting() {
        let (mut c, _) = ok("dataDir=/d\n");
        let w = apply_jvm_flags(
            &mut c,
            "-Dzookeeper.snapCount=5000 -Dzookeeper.forceSync=no \
             '-Dzookeeper.4lw.commands.whitelist=stat, ruok' \
             -Dznode.container.checkIntervalMs=1000 -Dzookeeper.admin.enableServer=false \
             -Dlog4j.configuration=file:/etc/zk/log4j.properties \
             -XX:OnOutOfMemoryError='kill -9 %p' -Dzookeeper.log.dir=/var/log/zk",
        )
        .expect("valid flags");
        assert_eq!(c.snap_count, 5000);
        assert!(!c.force_sync);
        assert!(c.four_letter_allowed("ruok"));
        assert_eq!(c.container_check_interval_ms, 1000);
        assert!(!c.admin.enabled);
        assert_eq!(
            c.system_properties,
            BTreeMap::from([(
                "log4j.configuration".to_string(),
                "file:/etc/zk/log4j.properties".to_string()
            )])
        );
        // zkServer.sh's logging properties configure our logger.
        assert_eq!(c.logging.dir, PathBuf::from("/var/log/zk"));
        assert_eq!(messages(&w), Vec::<String>::new());
        // An unknown ZooKeeper-looking property is worth a warning; a bad logging value fails.
        let w = apply_jvm_flags(&mut c, "-Dzookeeper.log.dri=/x").expect("valid flags");
        assert_eq!(
            messages(&w),
            vec!["JVM flags: key 'zookeeper.log.dri': system property not used by zkrs; kept"]
        );
        let e = apply_jvm_flags(&mut c, "-Dzookeeper.log.maxbackupindex=many").expect_err("bad");
        assert!(
            e.to_string().contains("zookeeper.log.maxbackupindex")
                && e.to_string().contains("'many' is not a non-negative count"),
            "{e}"
        );
    }

    #[test]
    fn zoo_cfg_beats_flags_for_zookeeper_properties_but_not_for_unprefixed_ones() {
        let (mut c, _) = ok("dataDir=/d\nsnapCount=5000\njute.maxbuffer=1000\nfoo=1\n");
        let w = apply_jvm_flags_from(
            &mut c,
            "-Dzookeeper.snapCount=10 -Djute.maxbuffer=2000 -Dzookeeper.foo=2",
            Path::new("SERVER_JVMFLAGS"),
        )
        .expect("valid flags");
        assert_eq!(c.snap_count, 5000);
        assert_eq!(c.jute_max_buffer, 2000);
        assert_eq!(c.system_properties["zookeeper.foo"], "1");
        assert_eq!(
            messages(&w),
            vec![
                "SERVER_JVMFLAGS: key 'zookeeper.snapCount': ignored: zoo.cfg line 2 sets it, \
                 and zoo.cfg takes precedence as in ZooKeeper",
                "SERVER_JVMFLAGS: key 'zookeeper.foo': ignored: zoo.cfg line 4 sets it, and \
                 zoo.cfg takes precedence as in ZooKeeper",
            ]
        );
    }

    #[test]
    fn jvm_flag_errors() {
        let (mut c, _) = ok("dataDir=/d\n");
        let e = apply_jvm_flags(&mut c, "-Djute.maxbuffer=lots").expect_err("bad value");
        assert_eq!(
            e.to_string(),
            "JVM flags: key 'jute.maxbuffer': invalid integer 'lots'"
        );
        let e = apply_jvm_flags(&mut c, "-Dzookeeper.forceSync='no").expect_err("bad quote");
        assert_eq!(e.to_string(), "JVM flags: unterminated ' quote");
        let e = apply_jvm_flags(&mut c, "-Dreadonlymode.enabled=maybe").expect_err("bad bool");
        assert_eq!(e.key.as_deref(), Some("readonlymode.enabled"));

        let (mut c, _) =
            ok("dataDir=/d\ninitLimit=5\nsyncLimit=2\nserver.300=a:1:2\nserver.2=b:1:2\n");
        c.apply_my_id(300, Path::new("myid"))
            .expect("valid without extended types");
        let e = apply_jvm_flags(&mut c, "-Dzookeeper.extendedTypesEnabled=true")
            .expect_err("id too large");
        assert_eq!(e.key.as_deref(), Some("zookeeper.extendedTypesEnabled"));

        let (mut c, _) = ok("dataDir=/d\n");
        let w = apply_jvm_flags(&mut c, "-D -Dflag").expect("valid");
        assert_eq!(
            messages(&w),
            vec!["JVM flags: key '': ignoring '-D': no property name"]
        );
        assert_eq!(c.system_properties["flag"], "");
    }

    // --- the key tables stay in sync with the setters

    #[test]
    fn every_table_key_has_a_setter() {
        let mut cfg = ServerConfig::new("/d");
        let mut w = Vec::new();
        for def in PROPS {
            let loc = Loc {
                file: Path::new(CFG),
                line: None,
                key: Some(def.short),
            };
            assert!(
                !matches!(set_prop(&mut cfg, def.short, "x", loc, &mut w), Ok(false)),
                "{} has no setter",
                def.short
            );
            assert!(!is_peer_key(def.short), "{}", def.short);
        }
        for key in PEER_KEYS {
            let loc = Loc {
                file: Path::new(CFG),
                line: None,
                key: Some(key),
            };
            let _ = set_peer_key(&mut cfg, key, "x", loc, &mut w);
            assert!(cfg.unsupported.is_empty(), "{key} has no setter");
        }
    }

    // --- shipped configuration files

    fn parse_shipped(text: &str, name: &str) -> ServerConfig {
        let (c, w) = match parse(text, Path::new(name)) {
            Ok(r) => r,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(w, vec![], "{name}");
        c
    }

    #[test]
    fn shipped_standalone_zoo_cfg() {
        let c = parse_shipped(include_str!("../../../confs/zoo.cfg"), "confs/zoo.cfg");
        assert!(c.is_standalone());
        assert_eq!(c.tick_time_ms, 2000);
        assert_eq!((c.init_limit, c.sync_limit), (10, 5));
        assert_eq!(c.data_dir, PathBuf::from("data/standalone"));
        assert_eq!(c.data_log_dir, PathBuf::from("data/standalone"));
        assert_eq!(c.client_address(), Some(("0.0.0.0".to_string(), 2181)));
        assert_eq!(c.max_client_cnxns, 60);
        assert_eq!(c.four_letter_whitelist, FourLetterWhitelist::All);
        assert!(c.four_letter_allowed("ruok"));
        assert_eq!(c.admin.port, 8081);
        assert!(c.admin.enabled);
        assert_eq!(c.autopurge_snap_retain_count, 3);
        assert_eq!(c.autopurge_purge_interval_hours, 1);
        assert_eq!(
            (c.min_session_timeout_ms(), c.max_session_timeout_ms()),
            (4000, 40000)
        );
        assert_eq!(
            c.metrics.class_name,
            "org.apache.zookeeper.metrics.prometheus.PrometheusMetricsProvider"
        );
        assert_eq!(
            (c.metrics.http_host.as_str(), c.metrics.http_port),
            ("127.0.0.1", 7000)
        );
    }

    /// Checks one member of a shipped ensemble whose ports are `offset` above the base ones
    /// (quorum 3180 + id, election 4180 + id, client 2180 + id, admin 8090 + id, metrics
    /// 7000 + id).
    fn check_ensemble_member(
        text: &str,
        name: &str,
        myid_text: &str,
        id: u64,
        data_dir: &str,
        n_servers: usize,
        offset: u16,
    ) -> ServerConfig {
        let mut c = parse_shipped(text, name);
        let myid_file = PathBuf::from(format!("{data_dir}/myid"));
        assert_eq!(parse_myid(myid_text, &myid_file), Ok(id), "{name}");
        assert_eq!(c.apply_my_id(id, &myid_file), Ok(vec![]), "{name}");
        assert!(c.is_distributed(), "{name}");
        assert_eq!(c.servers.len(), n_servers, "{name}");
        for (sid, s) in &c.servers {
            let port = u16::try_from(*sid).expect("small id");
            assert_eq!(s.host, "127.0.0.1");
            assert_eq!(s.quorum_port, 3180 + offset + port);
            assert_eq!(s.election_port, 4180 + offset + port);
            assert_eq!(s.client_addr, None);
        }
        let port = u16::try_from(id).expect("small id");
        assert_eq!(c.data_dir, PathBuf::from(data_dir), "{name}");
        assert_eq!(c.my_id, Some(id));
        assert_eq!(c.tick_time_ms, 2000);
        assert_eq!((c.init_limit, c.sync_limit), (10, 5));
        assert_eq!(
            c.client_address(),
            Some(("0.0.0.0".to_string(), 2180 + offset + port))
        );
        assert_eq!(c.admin.port, 8090 + offset + port);
        assert_eq!(c.metrics.http_port, 7000 + offset + port);
        assert_eq!(c.metrics.http_host, "127.0.0.1");
        assert_eq!(c.four_letter_whitelist, FourLetterWhitelist::All);
        c
    }

    /// The `(zk<i>.cfg, zk<i>/myid)` texts of a shipped ensemble `confs/<set>`, ids in order.
    macro_rules! shipped_ensemble {
        ($set:literal: $($id:literal),+) => {
            [$((
                include_str!(concat!("../../../confs/", $set, "/zk", $id, ".cfg")),
                include_str!(concat!("../../../confs/", $set, "/zk", $id, "/myid")),
            )),+]
        };
    }

    /// Checks every member of the shipped ensemble `confs/<set>` (`files` as
    /// `shipped_ensemble!` gives them, server `i` with its data in `<data>/zk<i>` and its ports
    /// `offset` above the base ones): the ids in `observers` are observers, all others
    /// participants, and every file describes the same servers.
    fn check_shipped_ensemble(
        set: &str,
        files: &[(&str, &str)],
        data: &str,
        offset: u16,
        observers: &[u64],
    ) {
        let mut servers = Vec::new();
        for (i, (cfg, myid)) in (1u64..).zip(files) {
            let name = format!("confs/{set}/zk{i}.cfg");
            let data_dir = format!("{data}/zk{i}");
            let c = check_ensemble_member(cfg, &name, myid, i, &data_dir, files.len(), offset);
            let role = if observers.contains(&i) {
                PeerRole::Observer
            } else {
                PeerRole::Participant
            };
            assert_eq!(c.peer_type, role, "{name}");
            assert_eq!(c.participants().count(), files.len() - observers.len());
            assert_eq!(c.observers().map(|s| s.id).collect::<Vec<_>>(), observers);
            servers.push(c.servers);
        }
        assert!(servers.iter().all(|s| *s == servers[0]));
    }

    #[test]
    fn shipped_pseudo_cluster() {
        let files = shipped_ensemble!("pseudo-cluster": 1, 2, 3);
        check_shipped_ensemble("pseudo-cluster", &files, "data", 0, &[]);
    }

    #[test]
    fn shipped_five_voter_ensemble_with_an_observer() {
        let files = shipped_ensemble!("five": 1, 2, 3, 4, 5, 6);
        check_shipped_ensemble("five", &files, "data/five", 10, &[6]);
    }

    #[test]
    fn shipped_observer_ensemble() {
        let files = shipped_ensemble!("observers": 1, 2, 3, 4);
        check_shipped_ensemble("observers", &files, "data/observers", 0, &[4]);
    }

    // --- load(): files on disk

    struct TempDir(PathBuf);

    impl TempDir {
        fn new(name: &str) -> Self {
            let dir = std::env::temp_dir()
                .join(format!("zkrs-config-test-{}-{name}", std::process::id()));
            let _ = fs::remove_dir_all(&dir);
            fs::create_dir_all(dir.join("data")).expect("create temp dir");
            Self(dir)
        }

        fn write(&self, name: &str, text: &str) -> PathBuf {
            let path = self.0.join(name);
            fs::write(&path, text).expect("write temp file");
            path
        }

        fn data(&self) -> PathBuf {
            self.0.join("data")
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn ensemble_cfg(data: &Path) -> String {
        format!(
            "tickTime=2000\ninitLimit=5\nsyncLimit=2\ndataDir={}\nclientPort=2181\n\
             server.1=127.0.0.1:3181:4181\nserver.2=127.0.0.1:3182:4182\n\
             server.3=127.0.0.1:3183:4183\n",
            data.display()
        )
    }

    #[test]
    fn load_reads_myid() {
        let t = TempDir::new("myid");
        let cfg = t.write("zoo.cfg", &ensemble_cfg(&t.data()));
        t.write("data/myid", "2\n");
        let (c, w) = load(&cfg).expect("valid");
        assert_eq!(w, vec![]);
        assert_eq!(c.my_id, Some(2));
        assert_eq!(c.this_server().map(|s| s.quorum_port), Some(3182));
        assert_eq!(c.client_address(), Some(("0.0.0.0".to_string(), 2181)));
        assert_eq!(c.config_file(), cfg.as_path());
    }

    #[test]
    fn load_requires_myid_for_an_ensemble() {
        let t = TempDir::new("nomyid");
        let cfg = t.write("zoo.cfg", &ensemble_cfg(&t.data()));
        let e = load(&cfg).expect_err("missing myid");
        assert_eq!(e.file, t.data().join("myid"));
        assert_eq!(e.line, None);
        assert_eq!(
            e.message,
            format!(
                "myid file is missing; {} lists servers 1, 2, 3, so this file must contain \
                 this server's id",
                cfg.display()
            )
        );

        t.write("data/myid", "two\n");
        let e = load(&cfg).expect_err("bad myid");
        assert_eq!(
            e.to_string(),
            format!(
                "{}:1: invalid server id 'two' (expected a non-negative integer)",
                t.data().join("myid").display()
            )
        );

        t.write("data/myid", "4\n");
        let e = load(&cfg).expect_err("unlisted myid");
        assert_eq!(e.file, t.data().join("myid"));
        assert!(
            e.message
                .starts_with("server id 4 is not in the server list"),
            "{e}"
        );
    }

    #[test]
    fn load_standalone_needs_no_myid() {
        let t = TempDir::new("standalone");
        let cfg = t.write(
            "zoo.cfg",
            &format!("dataDir={}\nclientPort=2181\n", t.data().display()),
        );
        let (c, _) = load(&cfg).expect("valid");
        assert_eq!(c.my_id, None);
        // A single server line runs standalone too (ZooKeeper ignores it).
        let cfg = t.write(
            "single.cfg",
            &format!(
                "dataDir={}\nclientPort=2181\nserver.1=a:1:2\n",
                t.data().display()
            ),
        );
        let (c, w) = load(&cfg).expect("valid");
        assert!(c.is_standalone());
        assert_eq!(c.my_id, None);
        assert_eq!(w.len(), 1);
    }

    #[test]
    fn load_reads_the_dynamic_config_file() {
        let t = TempDir::new("dynamic");
        let dynamic = t.write(
            "zoo.cfg.dynamic.100000000",
            "server.1=127.0.0.1:3181:4181:participant;127.0.0.1:2181\n\
             server.2=127.0.0.1:3182:4182:participant;127.0.0.1:2182\n\
             server.3=127.0.0.1:3183:4183:participant;127.0.0.1:2183\n",
        );
        let cfg = t.write(
            "zoo.cfg",
            &format!(
                "tickTime=2000\ninitLimit=5\nsyncLimit=2\ndataDir={}\nreconfigEnabled=true\n\
                 dynamicConfigFile={}\n",
                t.data().display(),
                dynamic.display()
            ),
        );
        t.write("data/myid", "3");
        let (c, w) = load(&cfg).expect("valid");
        assert_eq!(w, vec![]);
        assert_eq!(c.servers.len(), 3);
        assert_eq!(c.dynamic_config_version, Some(0x1_0000_0000));
        assert_eq!(c.my_id, Some(3));
        assert_eq!(c.client_port, None);
        assert_eq!(c.client_address(), Some(("127.0.0.1".to_string(), 2183)));

        // Only membership lines are allowed there.
        t.write(
            "zoo.cfg.dynamic.100000000",
            "server.1=a:1:2\ntickTime=2000\n",
        );
        let e = load(&cfg).expect_err("static key in dynamic file");
        assert_eq!(
            e.to_string(),
            format!(
                "{}:2: key 'tickTime': not allowed in a dynamic config file (only server.N, \
                 group.N and weight.N)",
                dynamic.display()
            )
        );
        t.write(
            "zoo.cfg.dynamic.100000000",
            "server.1=a:1:2\nversion=100000000\n",
        );
        let e = load(&cfg).expect_err("version in dynamic file");
        assert_eq!(e.key.as_deref(), Some("version"));
    }

    #[test]
    fn load_reports_unreadable_files() {
        let t = TempDir::new("unreadable");
        let missing = t.0.join("nope.cfg");
        let e = load(&missing).expect_err("missing file");
        assert_eq!(e.file, missing);
        assert!(e.message.starts_with("cannot read file: "), "{e}");

        let cfg = t.write(
            "zoo.cfg",
            &format!(
                "dataDir={}\ndynamicConfigFile={}/absent\n",
                t.data().display(),
                t.0.display()
            ),
        );
        let e = load(&cfg).expect_err("missing dynamic file");
        assert_eq!(e.file, t.0.join("absent"));
    }

    #[test]
    fn load_accepts_latin1_files() {
        let t = TempDir::new("latin1");
        let path = t.0.join("zoo.cfg");
        let mut bytes = format!("dataDir={}\n# caf", t.data().display()).into_bytes();
        bytes.extend([0xe9, b'\n']);
        fs::write(&path, bytes).expect("write");
        let (c, _) = load(&path).expect("valid");
        assert_eq!(c.data_dir, t.data());
    }

    #[test]
    fn dynamic_file_version_comes_from_its_name() {
        assert_eq!(
            version_from_filename(Path::new("/a/zoo.cfg.dynamic.1001")),
            Some(0x1001)
        );
        assert_eq!(version_from_filename(Path::new("zoo.cfg.dynamic")), None);
        assert_eq!(version_from_filename(Path::new("dynamic")), None);
    }

    #[test]
    fn shipped_tls_ensemble() {
        for (i, (text, myid)) in shipped_ensemble!("tls": "1", "2", "3")
            .into_iter()
            .enumerate()
        {
            let id = i as u64 + 1;
            let name = format!("confs/tls/zk{id}.cfg");
            let mut c = parse_shipped(text, &name);
            c.apply_my_id(
                parse_myid(myid, Path::new("myid")).unwrap(),
                Path::new("myid"),
            )
            .unwrap();
            assert!(c.is_distributed());
            assert_eq!(
                c.client_address(),
                Some(("127.0.0.1".to_string(), 2190 + id as u16))
            );
            assert_eq!(
                c.secure_client_address(),
                Some(("127.0.0.1".to_string(), 2290 + id as u16))
            );
            let t = &c.tls;
            assert!(t.ssl_quorum);
            assert_eq!(
                t.client.key_store_location,
                Some(PathBuf::from("data/tls-certs/server.pem"))
            );
            assert_eq!(
                t.quorum.trust_store_location,
                Some(PathBuf::from("data/tls-certs/ca.pem"))
            );
            assert_eq!(t.client.client_auth, ClientAuth::Need);
            assert_eq!(t.x509_super_user.as_deref(), Some("CN=admin,OU=ops,O=zkrs"));
        }
    }
}
