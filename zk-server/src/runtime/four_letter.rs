//! Four-letter words on the client port (`ruok`, `srvr`, `stat`, `conf`, `cons`, `mntr`, `envi`,
//! `wchs`, `wchc`, `wchp`, `dump`, `dirs`, `isro`, `crst`, `srst`), in ZooKeeper 3.8's formats.
//! A word is recognised only as the first four bytes a connection sends; the answer is plain
//! text and the connection is then closed.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::Path;

use crate::core::{Core, Now};

use super::RuntimeConfig;

/// The ZooKeeper version we speak, as clients parse it from `srvr` and `envi`.
pub const ZK_VERSION: &str = concat!("3.9.3-zkrs-", env!("CARGO_PKG_VERSION"));

/// The version with ZooKeeper's build-date suffix (`srvr`, `stat`, `envi`, `mntr`, the admin
/// commands).
pub const ZK_VERSION_BUILT: &str = concat!(
    "3.9.3-zkrs-",
    env!("CARGO_PKG_VERSION"),
    ", built on 1970-01-01 00:00 UTC"
);

const COMMANDS: &[&str] = &[
    "ruok", "srvr", "stat", "conf", "cons", "mntr", "envi", "wchs", "wchc", "wchp", "dump", "dirs",
    "isro", "crst", "srst", "gtmk", "stmk",
];

/// The command a connection's first four bytes spell, if they spell one.
pub fn command_name(first4: &[u8]) -> Option<&'static str> {
    COMMANDS.iter().copied().find(|c| c.as_bytes() == first4)
}

/// What the four-letter words need besides the core.
#[derive(Debug, Clone)]
pub struct FourLetterContext {
    /// The port the client listener bound (the configured one may be 0).
    pub(crate) client_port: u16,
    pub(crate) started_wall_ms: i64,
    /// `standalone`, `leader`, `follower` or `observer` (`Mode:` and `zk_server_state`).
    pub mode: &'static str,
    /// False while an ensemble member is not serving (LOOKING or syncing).
    pub serving: bool,
    /// The runtime's counters and distributions (`mntr`, `monitor`, `/metrics`).
    pub metrics: super::metrics::Metrics,
    /// Zab's state, refreshed before each query (replicated servers only).
    pub zab: Option<super::metrics::ZabView>,
    /// The configuration (`conf`, `envi` and the admin commands read it).
    pub(crate) cfg: std::sync::Arc<RuntimeConfig>,
}

impl FourLetterContext {
    pub fn new(cfg: &RuntimeConfig, local: SocketAddr) -> Self {
        Self::with_config(std::sync::Arc::new(cfg.clone()), local)
    }

    /// A context sharing the server's configuration.
    pub fn with_config(cfg: std::sync::Arc<RuntimeConfig>, local: SocketAddr) -> Self {
        FourLetterContext {
            client_port: local.port(),
            started_wall_ms: super::Clock::new().now().wall_ms,
            mode: "standalone",
            serving: true,
            metrics: Default::default(),
            zab: None,
            cfg,
        }
    }

    /// `myid`, 0 for a standalone server.
    pub(crate) fn server_id(&self) -> u64 {
        self.cfg.quorum.as_ref().map_or(0, |q| q.my_id)
    }

    pub fn started_wall_ms(&self) -> i64 {
        self.started_wall_ms
    }
}

pub(crate) fn dir_size(p: &Path) -> u64 {
    let dir = p.join("version-2");
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

pub(crate) fn abs(p: &Path) -> String {
    let p = std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    p.join("version-2").display().to_string()
}

/// `user.name` and `user.home` as the JVM sets them: the passwd entry of the (real) uid
/// (falling back to `$USER`/`$HOME`, then Java's `?`).
fn user_name_and_home() -> (String, String) {
    let from_passwd = || -> Option<(String, String)> {
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        let uid = status
            .lines()
            .find_map(|l| l.strip_prefix("Uid:"))?
            .split_whitespace()
            .next()?
            .to_owned();
        let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
        passwd.lines().find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.len() >= 6 && f[2] == uid).then(|| (f[0].to_owned(), f[5].to_owned()))
        })
    };
    from_passwd().unwrap_or_else(|| {
        let env = |k: &str| {
            std::env::var(k)
                .ok()
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| "?".to_owned())
        };
        (env("USER"), env("HOME"))
    })
}

/// ZooKeeper's `Environment.list()` entries that mean something for us, in its order.
pub(crate) fn environment() -> Vec<(&'static str, String)> {
    let host = canonical_host_name();
    let osver = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let (user, home) = user_name_and_home();
    let cwd = std::env::current_dir()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    vec![
        ("zookeeper.version", ZK_VERSION_BUILT.to_owned()),
        ("host.name", host),
        ("os.name", os_name().to_owned()),
        ("os.arch", os_arch().to_owned()),
        ("os.version", osver.trim().to_owned()),
        ("user.name", user),
        ("user.home", home),
        ("user.dir", cwd),
    ]
}

/// `host.name` as ZooKeeper finds it (`InetAddress.getLocalHost().getCanonicalHostName()`):
/// the host name's address, named by the first name `/etc/hosts` gives that address (as the
/// resolver's files backend answers the reverse lookup); the host name itself otherwise.
fn canonical_host_name() -> String {
    use std::net::ToSocketAddrs as _;
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_default();
    if host.is_empty() {
        return host;
    }
    let Some(ip) = (host.as_str(), 0)
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .map(|a| a.ip())
    else {
        return host;
    };
    let hosts = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
    hosts
        .lines()
        .map(|l| l.split('#').next().unwrap_or(""))
        .find_map(|l| {
            let mut f = l.split_whitespace();
            let addr: std::net::IpAddr = f.next()?.parse().ok()?;
            (addr == ip).then(|| f.next().map(str::to_owned)).flatten()
        })
        .unwrap_or(host)
}

/// `os.name` as the JVM names it.
pub(crate) fn os_name() -> &'static str {
    if cfg!(target_os = "linux") {
        "Linux"
    } else {
        std::env::consts::OS
    }
}

/// `os.arch` as the JVM names it.
pub(crate) fn os_arch() -> &'static str {
    if cfg!(target_arch = "x86_64") {
        "amd64"
    } else {
        std::env::consts::ARCH
    }
}

/// How many times ZooKeeper's `ServerStats.incrementPacketsSent` runs for a four-letter answer:
/// once per flush of its 8192-char `BufferedWriter`, never for an empty answer.
pub fn answer_packets(text: &str) -> u64 {
    (text.chars().count() as u64).div_ceil(8192)
}

/// `v` rounded to 4 decimal places, as ZooKeeper rounds average latencies.
pub(crate) fn round4(v: f64) -> f64 {
    (v * 10_000.0).round() / 10_000.0
}

/// Java's `Double.toString` of a value rounded to 4 places, as ZooKeeper prints avg latency.
pub(crate) fn java_double(v: f64) -> String {
    let r = round4(v);
    if r.fract() == 0.0 {
        format!("{r:.1}")
    } else {
        let s = format!("{r:.4}");
        s.trim_end_matches('0').to_owned()
    }
}

/// `java.util.Date.toString()` for a UTC instant: `Sat Nov 21 23:59:59 UTC 2026`.
pub(crate) fn java_date(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    format!(
        "{} {} {:02} {:02}:{:02}:{:02} UTC {}",
        DAYS[days.rem_euclid(7) as usize],
        MONTHS[(m - 1) as usize],
        d,
        sod / 3600,
        (sod % 3600) / 60,
        sod % 60,
        y
    )
}

fn server_stats(core: &Core, ctx: &FourLetterContext, out: &mut String) {
    let s = &core.stats;
    let _ = writeln!(
        out,
        "Latency min/avg/max: {}/{}/{}",
        s.latency.min_ms.unwrap_or(0),
        java_double(s.latency.avg_ms()),
        s.latency.max_ms
    );
    let _ = writeln!(out, "Received: {}", s.packets_received);
    let _ = writeln!(out, "Sent: {}", s.packets_sent);
    let _ = writeln!(out, "Connections: {}", core.conns.len());
    let _ = writeln!(out, "Outstanding: {}", core.outstanding_requests());
    let _ = writeln!(out, "Zxid: {:#x}", core.last_zxid());
    let _ = writeln!(out, "Mode: {}", ctx.mode);
    // ZooKeeper's node map holds the root twice ("" and "/"), and its count shows it.
    let _ = writeln!(out, "Node count: {}", core.tree.node_count() + 1);
}

fn conn_line(core: &Core, conn: &crate::core::Conn, brief: bool, now: Now, out: &mut String) {
    let _ = write!(
        out,
        " /{}[{}](queued=0,recved={},sent={}",
        conn.peer,
        // Interest ops: a four-letter connection is not reading any more; others are.
        if conn.stats.four_letter { "0" } else { "1" },
        conn.stats.packets_received,
        conn.stats.packets_sent
    );
    if !brief {
        if let Some(sid) = conn.session {
            let st = &conn.stats;
            let est = now.wall_ms - (now.mono_ms as i64 - st.established_mono_ms as i64);
            // ZooKeeper prints 0 until the connection has answered a request (and after `crst`).
            let lresp = if st.last_response_mono_ms == 0 {
                0
            } else {
                now.wall_ms - (now.mono_ms as i64 - st.last_response_mono_ms as i64)
            };
            let to = core.sessions.get(sid).map_or(0, |s| s.timeout_ms);
            let _ = write!(out, ",sid={sid:#x},lop={},est={est},to={to}", st.last_op);
            if st.last_cxid >= 0 {
                let _ = write!(out, ",lcxid={:#x}", st.last_cxid);
            }
            let l = &st.latency;
            // ServerCnxn's averages are integer divisions.
            let avg = l.total_ms.checked_div(l.count).unwrap_or(0);
            let _ = write!(
                out,
                ",lzxid={:#x},lresp={lresp},llat={},minlat={},avglat={avg},maxlat={}",
                st.last_zxid,
                l.last_ms,
                l.min_ms.unwrap_or(0),
                l.max_ms
            );
        }
    }
    out.push(')');
}

/// Answers a four-letter word that the whitelist allows.
///
/// Like ZooKeeper, the word counts as a packet received (before `srst` can reset the count) and
/// the answer as packets sent (after it is built, so `srvr` does not count its own answer).
pub fn answer(cmd: &str, core: &mut Core, ctx: &mut FourLetterContext, now: Now) -> String {
    build_answer(cmd, core, ctx, now)
}

fn build_answer(cmd: &str, core: &mut Core, ctx: &mut FourLetterContext, now: Now) -> String {
    let mut out = String::new();
    if !ctx.serving
        && matches!(
            cmd,
            "srvr" | "stat" | "cons" | "wchs" | "wchc" | "wchp" | "dump" | "crst" | "srst" | "mntr"
        )
    {
        // ZooKeeper's answer while the server is not running (LOOKING, syncing).
        out.push_str("This ZooKeeper instance is not currently serving requests\n");
        return out;
    }
    match cmd {
        "ruok" => out.push_str("imok"),
        // "null" while not serving: a read-only client probing for a read/write server must
        // not take a LOOKING server for one.
        "isro" if core.is_read_only() => out.push_str("ro"),
        "isro" if !ctx.serving => out.push_str("null"),
        "isro" => out.push_str("rw"),
        "srvr" => {
            let _ = writeln!(out, "Zookeeper version: {ZK_VERSION_BUILT}");
            server_stats(core, ctx, &mut out);
        }
        "stat" => {
            let _ = writeln!(out, "Zookeeper version: {ZK_VERSION_BUILT}");
            out.push_str("Clients:\n");
            for c in core.conns.values() {
                conn_line(core, c, true, now, &mut out);
                out.push('\n');
            }
            out.push('\n');
            server_stats(core, ctx, &mut out);
        }
        "cons" => {
            for c in core.conns.values() {
                conn_line(core, c, false, now, &mut out);
                out.push('\n');
            }
            out.push('\n');
        }
        "conf" => {
            let _ = writeln!(out, "clientPort={}", ctx.client_port);
            let _ = writeln!(out, "secureClientPort=-1");
            let _ = writeln!(out, "dataDir={}", abs(&ctx.cfg.data_dir));
            let _ = writeln!(out, "dataDirSize={}", dir_size(&ctx.cfg.data_dir));
            let _ = writeln!(out, "dataLogDir={}", abs(&ctx.cfg.data_log_dir));
            let _ = writeln!(out, "dataLogSize={}", dir_size(&ctx.cfg.data_log_dir));
            let _ = writeln!(out, "tickTime={}", ctx.cfg.core.tick_time_ms);
            let _ = writeln!(out, "maxClientCnxns={}", ctx.cfg.max_client_cnxns);
            let _ = writeln!(
                out,
                "minSessionTimeout={}",
                ctx.cfg.core.min_session_timeout_ms
            );
            let _ = writeln!(
                out,
                "maxSessionTimeout={}",
                ctx.cfg.core.max_session_timeout_ms
            );
            let _ = writeln!(out, "clientPortListenBacklog=-1");
            let _ = writeln!(out, "serverId={}", ctx.server_id());
        }
        "dirs" => {
            let _ = writeln!(out, "datadir_size: {}", dir_size(&ctx.cfg.data_dir));
            let _ = writeln!(out, "logdir_size: {}", dir_size(&ctx.cfg.data_log_dir));
        }
        "envi" => {
            out.push_str("Environment:\n");
            for (k, v) in environment() {
                let _ = writeln!(out, "{k}={v}");
            }
        }
        "wchs" => {
            let w = &core.data_watches;
            let _ = write!(
                out,
                "{} connections watching {} paths\nTotal watches:{}",
                w.conn_count(),
                w.path_count(),
                w.watch_count()
            );
            out.push('\n');
        }
        "wchc" => {
            let w = &core.data_watches;
            let mut by_session: Vec<(i64, Vec<String>)> = w
                .conns()
                .map(|c| {
                    (
                        core.session_of(*c).unwrap_or(0),
                        w.paths_of(*c).cloned().collect(),
                    )
                })
                .collect();
            by_session.sort();
            for (sid, paths) in by_session {
                let _ = writeln!(out, "{sid:#x}");
                for p in paths {
                    let _ = writeln!(out, "\t{p}");
                }
            }
            out.push('\n');
        }
        "wchp" => {
            let w = &core.data_watches;
            let mut paths: Vec<&String> = w.paths().collect();
            paths.sort();
            for p in paths {
                let _ = writeln!(out, "{p}");
                for c in w.conns_of(p) {
                    let _ = writeln!(out, "\t{:#x}", core.session_of(*c).unwrap_or(0));
                }
            }
            out.push('\n');
        }
        "dump" => {
            out.push_str("SessionTracker dump:\n");
            let mut by_bucket: std::collections::BTreeMap<u64, Vec<i64>> = Default::default();
            for s in core.sessions.iter() {
                by_bucket.entry(s.expires_at_ms).or_default().push(s.id);
            }
            let _ = writeln!(
                out,
                "Session Sets ({})/({}):",
                by_bucket.len(),
                core.sessions.len()
            );
            for (at, mut ids) in by_bucket {
                ids.sort();
                let wall = now.wall_ms + (at as i64 - now.mono_ms as i64);
                let _ = writeln!(out, "{} expire at {}:", ids.len(), java_date(wall));
                for id in ids {
                    let _ = writeln!(out, "\t{id:#x}");
                }
            }
            out.push_str("ephemeral nodes dump:\n");
            let mut eph: Vec<(&i64, &std::collections::BTreeSet<String>)> =
                core.tree.ephemerals_by_session().collect();
            eph.sort();
            let _ = writeln!(out, "Sessions with Ephemerals ({}):", eph.len());
            for (sid, paths) in eph {
                let _ = writeln!(out, "{sid:#x}:");
                for p in paths {
                    let _ = writeln!(out, "\t{p}");
                }
            }
            out.push_str("Connections dump:\n");
            let _ = writeln!(out, "Connections Sets (1)/({}):", core.conns.len());
            let _ = writeln!(
                out,
                "{} expire at {}:",
                core.conns.len(),
                java_date(now.wall_ms)
            );
            for c in core.conns.values() {
                let _ = writeln!(
                    out,
                    "\tip: /{} sessionId: {:#x}",
                    c.peer,
                    c.session.unwrap_or(0)
                );
            }
        }
        "crst" => {
            for c in core.conns.values_mut() {
                c.stats.reset();
            }
            out.push_str("Connection stats reset.\n");
        }
        "srst" => {
            core.stats.reset();
            ctx.metrics.reset();
            out.push_str("Server stats reset.\n");
        }
        "mntr" => {
            // ZooKeeper 3.8's monitor map, limited to the values we really keep (see
            // `metrics` and docs/operations.md).
            out.push_str(&super::metrics::mntr_text(&super::metrics::collect(
                core, ctx, now,
            )));
        }
        other => {
            let _ = writeln!(out, "{other} is not supported by this server.");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_java() {
        assert_eq!(java_double(0.0), "0.0");
        assert_eq!(java_double(2.0 / 3.0), "0.6667");
        assert_eq!(java_double(1.5), "1.5");
        assert_eq!(java_date(0), "Thu Jan 01 00:00:00 UTC 1970");
        assert_eq!(java_date(1_795_305_599_000), "Sat Nov 21 23:59:59 UTC 2026");
        assert_eq!(command_name(b"ruok"), Some("ruok"));
        assert_eq!(command_name(&[0, 0, 0, 44]), None);
        assert_eq!(answer_packets(""), 0);
        assert_eq!(answer_packets("imok"), 1);
        assert_eq!(answer_packets(&"x".repeat(8192)), 1);
        assert_eq!(answer_packets(&"x".repeat(8193)), 2);
    }
}
