//! zk-bench's command line: [`parse`] turns the arguments into a [`Command`]; [`USAGE`] is the
//! `--help` text, which lists every option with its default.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};

use crate::args::Args;

pub const USAGE: &str = "\
zk-bench: a load generator for any ZooKeeper-wire server (zkrs, Apache ZooKeeper)

usage: zk-bench [OPTIONS]                       run a workload and report ops/s and latencies
       zk-bench populate --count N [OPTIONS]    create N znodes under /zk-bench/pop

workload:
  --servers LIST      connect string host:port,host:port[/chroot] (default 127.0.0.1:2181);
                      client i connects to server i mod n, and to the next one on a reconnect
  --clients N         sessions, each on its own connection (default 16; populate: 4)
  --op KIND           create | set | get | mixed | multi | watch (default mixed)
                        create  a new znode /zk-bench/c<client>/n<k> per op
                        set     setData(version -1) of a random key /zk-bench/k<j>
                        get     getData of a random key
                        mixed   get with probability --read-ratio, else set
                        multi   one multi of --multi-size setData ops on random keys
                        watch   getData(watch) of a random key, then setData of it; also
                                reports watch-fire, from sending the setData to the event
  --read-ratio R      share of gets in mixed (default 0.9)
  --value-size B      bytes per create/setData value (default 100)
  --keys N            keys /zk-bench/k0..k<N-1> for set/get/mixed/multi/watch (default 1000)
  --multi-size N      setData ops per multi (default 4)
  --pipeline K        requests in flight per session; 1 = closed loop (default 1; populate: 64)
  --duration S        measure for S seconds (default 10 unless --count is given)
  --count N           measure exactly N ops in total, split over the clients
  --warmup S          seconds of load before measuring; their ops are not measured and, with
                      --count, come on top of the N (default 1 with --duration, 0 with --count)
  --seed N            seed of every random choice (default 1)
  --no-setup          do not create /zk-bench, the keys and the create parents first
                      (the keys are created with --value-size values unless --no-setup)

running:
  --threads N         tokio worker threads for the clients (default 1)
  --timeout S         bound on every wait: connect and handshake, a reply to the oldest
                      request in flight, a watch event; and, with --count, how long a client
                      keeps failing to reconnect before it gives up its remaining ops
                      (default 10)
  --session-timeout MS  session timeout asked for; a ping goes out when a session has sent
                      nothing for a third of the negotiated one (default 30000)

output:
  --json FILE         write the JSON report to FILE (default: print it as stdout's last line)
  --plot FILE.svg     write a latency-by-percentile plot, one curve per op type (default none)
  --progress          show the progress line on stderr even when it is not a terminal
  --quiet             never show the progress line (default: shown when stderr is a terminal)
  -h, --help          this text

A connection lost or timed out counts ConnectionLoss for each request in flight, then the
session reconnects with a new session and goes on. Latency percentiles are nearest-rank, from a
log-linear histogram reported to within 0.8 %. The exit status is 0 when the run completed,
even if some ops failed (they are reported by error code); 2 on bad arguments; 1 if no server
could be reached or the setup failed.";

/// What each session does per op.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpKind {
    Create,
    Set,
    Get,
    Mixed,
    Multi,
    Watch,
    /// `zk-bench populate`: creates under `/zk-bench/pop/p<k>/n<i>`.
    Populate,
}

impl OpKind {
    pub fn name(self) -> &'static str {
        match self {
            OpKind::Create => "create",
            OpKind::Set => "set",
            OpKind::Get => "get",
            OpKind::Mixed => "mixed",
            OpKind::Multi => "multi",
            OpKind::Watch => "watch",
            OpKind::Populate => "populate",
        }
    }

    pub fn parse(s: &str) -> Result<OpKind> {
        Ok(match s {
            "create" => OpKind::Create,
            "set" | "setData" => OpKind::Set,
            "get" | "getData" => OpKind::Get,
            "mixed" => OpKind::Mixed,
            "multi" => OpKind::Multi,
            "watch" => OpKind::Watch,
            o => bail!("unknown --op {o:?} (create, set, get, mixed, multi, watch)"),
        })
    }

    /// Whether the op works on the `--keys` keys.
    pub fn uses_keys(self) -> bool {
        matches!(
            self,
            OpKind::Set | OpKind::Get | OpKind::Mixed | OpKind::Multi | OpKind::Watch
        )
    }
}

/// How long the measured phase lasts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Length {
    Duration(Duration),
    /// Exactly this many measured ops in total.
    Count(u64),
}

/// Everything a run needs ([`super::run`] takes it as is; the binary fills it from [`parse`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    /// `host:port` of each server.
    pub servers: Vec<String>,
    /// "" or `/path`: prefixed to every path.
    pub chroot: String,
    pub clients: usize,
    pub op: OpKind,
    pub read_ratio: f64,
    pub value_size: usize,
    pub keys: u64,
    pub multi_size: usize,
    pub pipeline: usize,
    pub length: Length,
    pub warmup: Duration,
    pub seed: u64,
    pub setup: bool,
    pub threads: usize,
    pub timeout: Duration,
    pub session_timeout_ms: i32,
    pub json: Option<PathBuf>,
    pub plot: Option<PathBuf>,
    pub progress: bool,
}

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    Help,
    Run(Box<Options>),
}

/// The largest value ZooKeeper accepts by default (`jute.maxbuffer`), less room for the rest
/// of the request.
const MAX_VALUE_SIZE: usize = zk_proto::DEFAULT_MAX_BUFFER - 1024;

/// Parses the arguments (without the program name).
pub fn parse(args: Vec<String>) -> Result<Command> {
    let populate = args.first().is_some_and(|a| a == "populate");
    let mut a = Args::from_vec(args.into_iter().skip(usize::from(populate)).collect());
    if a.flag("--help") || a.flag("-h") {
        return Ok(Command::Help);
    }
    let (servers, chroot) = parse_servers(
        &a.value("--servers")?
            .unwrap_or_else(|| "127.0.0.1:2181".into()),
    )?;
    let clients: usize = a.parse("--clients", if populate { 4 } else { 16 })?;
    let op = if populate {
        OpKind::Populate
    } else {
        OpKind::parse(&a.value("--op")?.unwrap_or_else(|| "mixed".into()))?
    };
    let read_ratio: f64 = a.parse("--read-ratio", 0.9)?;
    let value_size: usize = a.parse("--value-size", 100)?;
    let keys: u64 = a.parse("--keys", 1000)?;
    let multi_size: usize = a.parse("--multi-size", 4)?;
    let pipeline: usize = a.parse("--pipeline", if populate { 64 } else { 1 })?;
    let duration: Option<f64> = a
        .value("--duration")?
        .map(|v| v.parse().with_context(|| format!("--duration {v}")))
        .transpose()?;
    let count: Option<u64> = a
        .value("--count")?
        .map(|v| {
            v.replace('_', "")
                .parse()
                .with_context(|| format!("--count {v}"))
        })
        .transpose()?;
    let warmup: Option<f64> = a
        .value("--warmup")?
        .map(|v| v.parse().with_context(|| format!("--warmup {v}")))
        .transpose()?;
    let seed: u64 = a.parse("--seed", 1)?;
    let no_setup = a.flag("--no-setup");
    let threads: usize = a.parse("--threads", 1)?;
    let timeout: f64 = a.parse("--timeout", 10.0)?;
    let session_timeout_ms: i32 = a.parse("--session-timeout", 30_000)?;
    let json = a.value("--json")?.map(PathBuf::from);
    let plot = a.value("--plot")?.map(PathBuf::from);
    let progress_flag = a.flag("--progress");
    let quiet = a.flag("--quiet");
    a.finish()?;

    let length = match (duration, count) {
        (Some(_), Some(_)) => bail!("give --duration or --count, not both"),
        (Some(d), None) if d > 0.0 && d.is_finite() => Length::Duration(Duration::from_secs_f64(d)),
        (Some(d), None) => bail!("--duration must be positive, not {d}"),
        (None, Some(0)) => bail!("--count must be positive"),
        (None, Some(n)) => Length::Count(n),
        (None, None) if populate => bail!("populate needs --count N"),
        (None, None) => Length::Duration(Duration::from_secs(10)),
    };
    if populate && (duration.is_some() || warmup.is_some()) {
        bail!("populate takes --count, not --duration or --warmup");
    }
    let warmup = match warmup {
        Some(w) if w >= 0.0 && w.is_finite() => Duration::from_secs_f64(w),
        Some(w) => bail!("--warmup must not be negative, not {w}"),
        None if matches!(length, Length::Duration(_)) => Duration::from_secs(1),
        None => Duration::ZERO,
    };
    if clients == 0 || pipeline == 0 || threads == 0 || multi_size == 0 {
        bail!("--clients, --pipeline, --threads and --multi-size must be positive");
    }
    if keys == 0 && op.uses_keys() {
        bail!("--keys must be positive");
    }
    if !(0.0..=1.0).contains(&read_ratio) {
        bail!("--read-ratio must be between 0 and 1, not {read_ratio}");
    }
    if value_size > MAX_VALUE_SIZE {
        bail!("--value-size {value_size} is over {MAX_VALUE_SIZE} (jute.maxbuffer)");
    }
    if multi_size.saturating_mul(value_size + 64) > zk_proto::DEFAULT_MAX_BUFFER {
        bail!(
            "--multi-size x --value-size is over jute.maxbuffer ({} bytes)",
            zk_proto::DEFAULT_MAX_BUFFER
        );
    }
    if !(timeout > 0.0 && timeout.is_finite()) {
        bail!("--timeout must be positive");
    }
    if session_timeout_ms <= 0 {
        bail!("--session-timeout must be positive");
    }
    Ok(Command::Run(Box::new(Options {
        servers,
        chroot,
        clients,
        op,
        read_ratio,
        value_size,
        keys,
        multi_size,
        pipeline,
        length,
        warmup,
        seed,
        setup: !no_setup,
        threads,
        timeout: Duration::from_secs_f64(timeout),
        session_timeout_ms,
        json,
        plot,
        progress: !quiet && (progress_flag || std::io::stderr().is_terminal()),
    })))
}

impl Options {
    /// Options from arguments as on the command line (for tests and tools); `--help` is an
    /// error here.
    pub fn from_args(args: &[&str]) -> Result<Options> {
        match parse(args.iter().map(|s| s.to_string()).collect())? {
            Command::Run(o) => Ok(*o),
            Command::Help => bail!("--help"),
        }
    }
}

/// Splits a connect string into `host:port`s (port 2181 when absent) and a chroot.
fn parse_servers(s: &str) -> Result<(Vec<String>, String)> {
    let (hosts, chroot) = match s.find('/') {
        Some(i) => (&s[..i], s[i..].trim_end_matches('/')),
        None => (s, ""),
    };
    if chroot.contains("//") {
        bail!("bad chroot {chroot:?} in --servers");
    }
    let mut servers = Vec::new();
    for h in hosts.split(',').map(str::trim).filter(|h| !h.is_empty()) {
        let has_port = match h.rfind(']') {
            Some(close) => h[close..].contains(':'),
            None => h.contains(':'),
        };
        let hp = if has_port {
            h.to_owned()
        } else {
            format!("{h}:2181")
        };
        let port = hp.rsplit(':').next().unwrap_or_default();
        if port.parse::<u16>().is_err() || hp.starts_with(':') {
            bail!("bad server {h:?} in --servers (host:port)");
        }
        servers.push(hp);
    }
    if servers.is_empty() {
        bail!("--servers names no server");
    }
    Ok((servers, chroot.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults() {
        let o = Options::from_args(&[]).unwrap();
        assert_eq!(o.servers, vec!["127.0.0.1:2181"]);
        assert_eq!(o.chroot, "");
        assert_eq!((o.clients, o.op, o.pipeline), (16, OpKind::Mixed, 1));
        assert_eq!(
            (o.value_size, o.keys, o.multi_size, o.seed),
            (100, 1000, 4, 1)
        );
        assert_eq!(o.length, Length::Duration(Duration::from_secs(10)));
        assert_eq!(o.warmup, Duration::from_secs(1));
        assert_eq!(o.read_ratio, 0.9);
        assert!(o.setup);
        let o = Options::from_args(&["--count", "1_000"]).unwrap();
        assert_eq!((o.length, o.warmup), (Length::Count(1000), Duration::ZERO));
        let o = Options::from_args(&["populate", "--count", "5"]).unwrap();
        assert_eq!((o.op, o.clients, o.pipeline), (OpKind::Populate, 4, 64));
    }

    #[test]
    fn connect_strings() {
        let o = Options::from_args(&["--servers", "a:1,b,[::1]:3,[::1]/x/y/"]).unwrap();
        assert_eq!(o.servers, vec!["a:1", "b:2181", "[::1]:3", "[::1]:2181"]);
        assert_eq!(o.chroot, "/x/y");
        assert!(Options::from_args(&["--servers", ""]).is_err());
        assert!(Options::from_args(&["--servers", "a:x"]).is_err());
        assert!(Options::from_args(&["--servers", "a:1//b"]).is_err());
    }

    #[test]
    fn bad_arguments() {
        for bad in [
            &["--op", "delete"][..],
            &["--duration", "1", "--count", "2"],
            &["--count", "0"],
            &["--duration", "-1"],
            &["--clients", "0"],
            &["--pipeline", "0"],
            &["--read-ratio", "1.5"],
            &["--value-size", "2000000"],
            &["--bogus"],
            &["--keys", "0", "--op", "get"],
            &["populate"],
            &["populate", "--count", "3", "--duration", "2"],
            &["populate", "--count", "3", "--warmup", "2"],
        ] {
            assert!(Options::from_args(bad).is_err(), "{bad:?}");
        }
        assert_eq!(parse(vec!["--help".into()]).unwrap(), Command::Help);
    }

    #[test]
    fn usage_lists_every_option() {
        for opt in [
            "--servers",
            "--clients",
            "--op",
            "--read-ratio",
            "--value-size",
            "--keys",
            "--multi-size",
            "--pipeline",
            "--duration",
            "--count",
            "--warmup",
            "--seed",
            "--no-setup",
            "--threads",
            "--timeout",
            "--session-timeout",
            "--json",
            "--plot",
            "--progress",
            "--quiet",
            "--help",
        ] {
            assert!(USAGE.contains(opt), "{opt}");
        }
    }
}
