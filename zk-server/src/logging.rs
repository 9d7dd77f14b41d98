//! Logging: `tracing` events to the console and/or a size-rotated file, configured with the
//! system properties Apache ZooKeeper's logback.xml reads (so zkServer.sh-style environments
//! keep working) plus one of ours:
//!
//! | property (zoo.cfg key without `zookeeper.`) | env (as zkEnv.sh) | default |
//! | --- | --- | --- |
//! | `zookeeper.root.logger` = `LEVEL, APPENDER[, APPENDER]` | `ZOO_LOG4J_PROP` | `INFO, CONSOLE` |
//! | `zookeeper.console.threshold` | | `INFO` |
//! | `zookeeper.log.threshold` (the file's) | | `INFO` |
//! | `zookeeper.log.dir` | `ZOO_LOG_DIR` | `.` |
//! | `zookeeper.log.file` | `ZOO_LOG_FILE` | `zookeeper.log` |
//! | `zookeeper.log.maxfilesize` (`10MB`, `512KB`, bytes) | | `10MB` |
//! | `zookeeper.log.maxbackupindex` | | `10` |
//! | `zookeeper.log.format` = `text` or `json` (zkrs) | | `text` |
//!
//! Appenders are `CONSOLE` (standard error) and `ROLLINGFILE` (`log.dir/log.file`, rolled to
//! `.1`, `.2`, ... `.maxbackupindex` when it would grow past `maxfilesize`). `RUST_LOG`, when
//! set, replaces the level and thresholds with its own filter directives (per module, e.g.
//! `zk_server=debug,zab=trace`).

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use tracing::level_filters::LevelFilter;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// Where and how the server logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogConfig {
    /// The root level (`zookeeper.root.logger`'s first word).
    pub level: LevelFilter,
    pub console: bool,
    pub file: bool,
    pub console_threshold: LevelFilter,
    pub file_threshold: LevelFilter,
    pub dir: PathBuf,
    pub file_name: String,
    pub max_file_size: u64,
    pub max_backup_index: u32,
    pub json: bool,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            level: LevelFilter::INFO,
            console: true,
            file: false,
            console_threshold: LevelFilter::INFO,
            file_threshold: LevelFilter::INFO,
            dir: PathBuf::from("."),
            file_name: "zookeeper.log".to_owned(),
            max_file_size: 10 * 1024 * 1024,
            max_backup_index: 10,
            json: false,
        }
    }
}

/// The logging keys, as written in zoo.cfg (their system properties add `zookeeper.`).
pub const KEYS: &[&str] = &[
    "root.logger",
    "console.threshold",
    "log.threshold",
    "log.dir",
    "log.file",
    "log.maxfilesize",
    "log.maxbackupindex",
    "log.format",
];

/// The `-D` flags zkServer.sh builds from these environment variables, in its order.
pub const ENV_FLAGS: &[(&str, &str)] = &[
    ("ZOO_LOG_DIR", "zookeeper.log.dir"),
    ("ZOO_LOG_FILE", "zookeeper.log.file"),
    ("ZOO_LOG4J_PROP", "zookeeper.root.logger"),
];

fn parse_level(value: &str) -> Result<LevelFilter, String> {
    // log4j/logback names; FATAL is logback's ERROR, ALL its TRACE.
    match value.trim().to_ascii_uppercase().as_str() {
        "TRACE" | "ALL" => Ok(LevelFilter::TRACE),
        "DEBUG" => Ok(LevelFilter::DEBUG),
        "INFO" => Ok(LevelFilter::INFO),
        "WARN" => Ok(LevelFilter::WARN),
        "ERROR" | "FATAL" => Ok(LevelFilter::ERROR),
        "OFF" => Ok(LevelFilter::OFF),
        _ => Err(format!(
            "'{}' is not a log level (TRACE, DEBUG, INFO, WARN, ERROR or OFF)",
            value.trim()
        )),
    }
}

/// logback's FileSize: a number with an optional KB, MB or GB unit (powers of 1024).
fn parse_size(value: &str) -> Result<u64, String> {
    let v = value.trim();
    let upper = v.to_ascii_uppercase();
    let (digits, mult) = [
        ("GB", 1u64 << 30),
        ("MB", 1 << 20),
        ("KB", 1 << 10),
        ("B", 1),
    ]
    .iter()
    .find_map(|(unit, m)| upper.strip_suffix(unit).map(|d| (d.trim().to_owned(), *m)))
    .unwrap_or((upper.clone(), 1));
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("'{v}' is not a size (a number with an optional KB, MB or GB)"))?;
    match n.checked_mul(mult) {
        Some(0) | None => Err(format!("'{v}' must be between 1 byte and 16 EB")),
        Some(b) => Ok(b),
    }
}

impl LogConfig {
    /// Applies one setting; `key` is one of [`KEYS`]. The error is the message for a config
    /// error at the setting's file, line and key.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), String> {
        match key {
            "root.logger" => {
                let mut words = value.split(',').map(str::trim);
                self.level = parse_level(words.next().unwrap_or_default())?;
                let (mut console, mut file) = (false, false);
                for w in words.filter(|w| !w.is_empty()) {
                    match w.to_ascii_uppercase().as_str() {
                        "CONSOLE" => console = true,
                        "ROLLINGFILE" => file = true,
                        _ => {
                            return Err(format!("unknown appender '{w}' (CONSOLE or ROLLINGFILE)"))
                        }
                    }
                }
                if !console && !file {
                    return Err("names no appender (CONSOLE and/or ROLLINGFILE)".to_owned());
                }
                self.console = console;
                self.file = file;
            }
            "console.threshold" => self.console_threshold = parse_level(value)?,
            "log.threshold" => self.file_threshold = parse_level(value)?,
            "log.dir" => {
                if value.trim().is_empty() {
                    return Err("must name a directory".to_owned());
                }
                self.dir = PathBuf::from(value.trim());
            }
            "log.file" => {
                let v = value.trim();
                if v.is_empty() || v.contains('/') {
                    return Err(format!("'{v}' must be a file name without '/'"));
                }
                self.file_name = v.to_owned();
            }
            "log.maxfilesize" => self.max_file_size = parse_size(value)?,
            "log.maxbackupindex" => {
                self.max_backup_index = value.trim().parse().map_err(|_| {
                    format!("'{}' is not a non-negative count of files", value.trim())
                })?;
            }
            "log.format" => {
                self.json = match value.trim() {
                    "text" => false,
                    "json" => true,
                    v => return Err(format!("'{v}' is not a log format (text or json)")),
                };
            }
            _ => return Err("not a logging setting".to_owned()),
        }
        Ok(())
    }

    /// The rolling file's path.
    pub fn file_path(&self) -> PathBuf {
        self.dir.join(&self.file_name)
    }

    /// Installs the global subscriber. Fails if the log file cannot be opened (the message
    /// names it).
    pub fn init(&self) -> Result<(), String> {
        let from_env = std::env::var("RUST_LOG")
            .ok()
            .filter(|s| !s.trim().is_empty());
        let filter = match &from_env {
            Some(directives) => EnvFilter::try_new(directives)
                .map_err(|e| format!("RUST_LOG: '{directives}': {e}"))?,
            None => EnvFilter::default().add_directive(self.level.into()),
        };
        // With RUST_LOG the directives decide alone.
        let threshold = |t: LevelFilter| {
            if from_env.is_some() {
                LevelFilter::TRACE
            } else {
                t
            }
        };
        let console = self.console.then(|| {
            let l = tracing_subscriber::fmt::layer()
                .with_writer(io::stderr)
                .with_ansi(std::io::IsTerminal::is_terminal(&io::stderr()));
            let l = if self.json {
                l.json().boxed()
            } else {
                l.boxed()
            };
            l.with_filter(threshold(self.console_threshold))
        });
        let file = match self.file {
            false => None,
            true => {
                let w =
                    RollingFile::open(&self.file_path(), self.max_file_size, self.max_backup_index)
                        .map_err(|e| {
                            format!("cannot open log file {}: {e}", self.file_path().display())
                        })?;
                let l = tracing_subscriber::fmt::layer()
                    .with_writer(w)
                    .with_ansi(false);
                let l = if self.json {
                    l.json().boxed()
                } else {
                    l.boxed()
                };
                Some(l.with_filter(threshold(self.file_threshold)))
            }
        };
        tracing_subscriber::registry()
            .with(filter)
            .with(console)
            .with(file)
            .try_init()
            .map_err(|e| format!("cannot install the logger: {e}"))
    }
}

/// A log file rolled by size: before a write would take it past `max_size`, `name.K` becomes
/// `name.K+1` (the oldest, `name.max_backups`, is dropped) and `name` becomes `name.1`, as
/// log4j's RollingFileAppender and logback's FixedWindowRollingPolicy do. One event is never
/// split across files. A failing write is reported once on standard error, and logging goes
/// on with the next event.
#[derive(Clone)]
pub struct RollingFile(Arc<Mutex<Rolling>>);

struct Rolling {
    path: PathBuf,
    file: Option<File>,
    size: u64,
    max_size: u64,
    max_backups: u32,
    failed: bool,
}

impl RollingFile {
    /// Opens (appending to) or creates `path`, creating its directory.
    pub fn open(path: &Path, max_size: u64, max_backups: u32) -> io::Result<RollingFile> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let file = open_append(path)?;
        let size = file.metadata()?.len();
        Ok(RollingFile(Arc::new(Mutex::new(Rolling {
            path: path.to_path_buf(),
            file: Some(file),
            size,
            max_size: max_size.max(1),
            max_backups,
            failed: false,
        }))))
    }

    fn backup(path: &Path, k: u32) -> PathBuf {
        let mut s = path.as_os_str().to_owned();
        s.push(format!(".{k}"));
        PathBuf::from(s)
    }
}

impl Rolling {
    fn roll(&mut self) -> io::Result<()> {
        self.file = None;
        if self.max_backups == 0 {
            std::fs::remove_file(&self.path).or_else(ignore_missing)?;
        } else {
            let oldest = RollingFile::backup(&self.path, self.max_backups);
            std::fs::remove_file(&oldest).or_else(ignore_missing)?;
            for k in (1..self.max_backups).rev() {
                let from = RollingFile::backup(&self.path, k);
                std::fs::rename(&from, RollingFile::backup(&self.path, k + 1))
                    .or_else(ignore_missing)?;
            }
            std::fs::rename(&self.path, RollingFile::backup(&self.path, 1))
                .or_else(ignore_missing)?;
        }
        self.file = Some(open_append(&self.path)?);
        self.size = 0;
        Ok(())
    }

    fn write_event(&mut self, buf: &[u8]) -> io::Result<()> {
        if self.size > 0 && self.size + buf.len() as u64 > self.max_size {
            self.roll()?;
        }
        let file = match self.file.as_mut() {
            Some(f) => f,
            None => {
                // A roll failed half-way: try to reopen.
                let f = open_append(&self.path)?;
                self.size = f.metadata()?.len();
                self.file.insert(f)
            }
        };
        file.write_all(buf)?;
        self.size += buf.len() as u64;
        Ok(())
    }
}

fn open_append(p: &Path) -> io::Result<File> {
    OpenOptions::new().create(true).append(true).open(p)
}

fn ignore_missing(e: io::Error) -> io::Result<()> {
    if e.kind() == io::ErrorKind::NotFound {
        Ok(())
    } else {
        Err(e)
    }
}

/// One event's bytes, written to the file when dropped (tracing's fmt layer writes an event
/// with a single `write_all` of its formatted line; buffering keeps that true for any writer).
pub struct EventWriter {
    target: Arc<Mutex<Rolling>>,
    buf: Vec<u8>,
}

impl Write for EventWriter {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(b);
        Ok(b.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for EventWriter {
    fn drop(&mut self) {
        if self.buf.is_empty() {
            return;
        }
        let mut r = self.target.lock().unwrap_or_else(|e| e.into_inner());
        match r.write_event(&self.buf) {
            Ok(()) => r.failed = false,
            Err(e) if !r.failed => {
                r.failed = true;
                eprintln!("zk-server: cannot write log file {}: {e}", r.path.display());
            }
            Err(_) => {}
        }
    }
}

impl<'a> MakeWriter<'a> for RollingFile {
    type Writer = EventWriter;

    fn make_writer(&'a self) -> EventWriter {
        EventWriter {
            target: self.0.clone(),
            buf: Vec::with_capacity(256),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("zkrs-log-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn settings_parse_like_logback() {
        let mut c = LogConfig::default();
        c.set("root.logger", "DEBUG, CONSOLE, ROLLINGFILE").unwrap();
        assert_eq!(
            (c.level, c.console, c.file),
            (LevelFilter::DEBUG, true, true)
        );
        c.set("root.logger", "warn,ROLLINGFILE").unwrap();
        assert_eq!(
            (c.level, c.console, c.file),
            (LevelFilter::WARN, false, true)
        );
        c.set("log.maxfilesize", "10MB").unwrap();
        assert_eq!(c.max_file_size, 10 << 20);
        c.set("log.maxfilesize", "512 kb").unwrap();
        assert_eq!(c.max_file_size, 512 << 10);
        c.set("log.maxfilesize", "4096").unwrap();
        assert_eq!(c.max_file_size, 4096);
        c.set("log.maxbackupindex", "3").unwrap();
        assert_eq!(c.max_backup_index, 3);
        c.set("log.format", "json").unwrap();
        assert!(c.json);
        c.set("log.dir", "/var/log/zookeeper").unwrap();
        c.set("log.file", "zk.log").unwrap();
        assert_eq!(c.file_path(), PathBuf::from("/var/log/zookeeper/zk.log"));

        for (k, v, msg) in [
            ("root.logger", "LOUD, CONSOLE", "'LOUD' is not a log level"),
            ("root.logger", "INFO, SYSLOG", "unknown appender 'SYSLOG'"),
            ("root.logger", "INFO", "names no appender"),
            ("log.maxfilesize", "ten", "'ten' is not a size"),
            ("log.maxfilesize", "0", "must be between"),
            ("log.maxbackupindex", "-1", "not a non-negative count"),
            ("log.format", "xml", "not a log format"),
            ("log.file", "a/b", "without '/'"),
        ] {
            let e = LogConfig::default().set(k, v).expect_err(v);
            assert!(e.contains(msg), "{k}={v}: {e}");
        }
    }

    fn files(dir: &Path) -> Vec<(String, u64)> {
        let mut v: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (
                    e.file_name().to_string_lossy().into_owned(),
                    e.metadata().unwrap().len(),
                )
            })
            .collect();
        v.sort();
        v
    }

    #[test]
    fn rolls_by_size_keeping_max_backups() {
        let dir = tmp("roll");
        let path = dir.join("zookeeper.log");
        let rf = RollingFile::open(&path, 100, 2).unwrap();
        // 30-byte events: three fit in 100 bytes, the fourth rolls.
        for i in 0..10 {
            let mut w = rf.make_writer();
            writeln!(w, "{i:02} {}", "x".repeat(26)).unwrap();
        }
        let got = files(&dir);
        assert_eq!(
            got,
            vec![
                ("zookeeper.log".to_owned(), 30),
                ("zookeeper.log.1".to_owned(), 90),
                ("zookeeper.log.2".to_owned(), 90),
            ]
        );
        // The newest events are in the live file, the ones before in .1, then .2; 00-02 are gone.
        let live = std::fs::read_to_string(&path).unwrap();
        assert!(live.starts_with("09 "), "{live}");
        let one = std::fs::read_to_string(dir.join("zookeeper.log.1")).unwrap();
        assert!(one.starts_with("06 ") && one.contains("\n08 "), "{one}");
        let two = std::fs::read_to_string(dir.join("zookeeper.log.2")).unwrap();
        assert!(two.starts_with("03 "), "{two}");
        // Reopening appends and keeps counting the existing size.
        drop(rf);
        let rf = RollingFile::open(&path, 100, 2).unwrap();
        let mut w = rf.make_writer();
        w.write_all(&[b'y'; 80]).unwrap();
        drop(w);
        assert_eq!(files(&dir)[0], ("zookeeper.log".to_owned(), 80));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn no_backups_means_the_file_starts_over() {
        let dir = tmp("nobackup");
        let path = dir.join("z.log");
        let rf = RollingFile::open(&path, 50, 0).unwrap();
        for _ in 0..5 {
            let mut w = rf.make_writer();
            w.write_all(&[b'a'; 20]).unwrap();
        }
        assert_eq!(files(&dir), vec![("z.log".to_owned(), 20)]);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn an_event_larger_than_the_limit_is_written_whole() {
        let dir = tmp("big");
        let path = dir.join("z.log");
        let rf = RollingFile::open(&path, 10, 1).unwrap();
        for _ in 0..2 {
            let mut w = rf.make_writer();
            w.write_all(&[b'b'; 25]).unwrap();
        }
        assert_eq!(
            files(&dir),
            vec![("z.log".to_owned(), 25), ("z.log.1".to_owned(), 25)]
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
