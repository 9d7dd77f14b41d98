//! Mesos-style flags, read from four places (later ones win):
//! 1. each flag's default;
//! 2. flag-file directories (`--conf_dir`, by default `/etc/mesos` and `/etc/mesos-master` or
//!    `/etc/mesos-slave`, as Mesosphere's `mesos-init-wrapper` reads them): a file's name is
//!    the flag, its content the value; `?name` sets a boolean true and `no-name` false. In
//!    `/etc/mesos`, only `zk` is read, as `--zk` (master) or `--master` (agent);
//! 3. `MESOS_<NAME>` environment variables (unknown ones are ignored: tasks get `MESOS_*`
//!    variables too);
//! 4. the command line: `--name=value`, `--name value`, `--name` / `--no-name` for booleans.
//!
//! A value `file:///path` is replaced by the file's content (trimmed), as Mesos does for `--zk`
//! and `--master`. Every error names where the bad flag came from.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Bool,
    Value,
}

/// One flag a program accepts.
#[derive(Debug, Clone, Copy)]
pub struct Spec {
    pub name: &'static str,
    pub kind: Kind,
    pub default: Option<&'static str>,
    pub help: &'static str,
}

impl Spec {
    pub const fn value(
        name: &'static str,
        default: Option<&'static str>,
        help: &'static str,
    ) -> Spec {
        Spec {
            name,
            kind: Kind::Value,
            default,
            help,
        }
    }

    pub const fn boolean(name: &'static str, default: bool, help: &'static str) -> Spec {
        Spec {
            name,
            kind: Kind::Bool,
            default: Some(if default { "true" } else { "false" }),
            help,
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{origin}: {message}")]
pub struct FlagError {
    /// Where the flag came from: `command line`, `environment variable MESOS_X`,
    /// `/etc/mesos-master/quorum`, `/etc/mesos-master/quorum: line 2`...
    pub origin: String,
    pub message: String,
}

fn flag_err<T>(origin: impl Into<String>, message: impl Into<String>) -> Result<T, FlagError> {
    Err(FlagError {
        origin: origin.into(),
        message: message.into(),
    })
}

/// Where a program's flags came from, besides the command line.
#[derive(Debug, Clone)]
pub struct Sources {
    /// The environment (`std::env::vars()` in the binaries).
    pub env: Vec<(String, String)>,
    /// Directories read when no `--conf_dir` is given; missing ones are skipped.
    pub default_conf_dirs: Vec<PathBuf>,
    /// The flag that `/etc/mesos/zk` sets (`zk` for masters, `master` for agents).
    pub zk_file_flag: &'static str,
}

/// The loaded flags: every known flag with its value (defaults included) and origin.
#[derive(Debug, Clone, Default)]
pub struct Flags {
    values: BTreeMap<String, (String, String)>,
    /// `help` was asked for.
    pub help: bool,
}

impl Flags {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(|(v, _)| v.as_str())
    }

    /// Where `name`'s value came from (for error messages).
    pub fn origin(&self, name: &str) -> String {
        self.values
            .get(name)
            .map_or_else(|| "default".to_string(), |(_, o)| o.clone())
    }

    pub fn require(&self, name: &str) -> Result<&str, FlagError> {
        match self.get(name) {
            Some(v) if !v.is_empty() => Ok(v),
            _ => flag_err("command line", format!("missing required flag --{name}")),
        }
    }

    pub fn bool(&self, name: &str) -> bool {
        self.get(name) == Some("true")
    }

    pub fn parse<T: std::str::FromStr>(&self, name: &str) -> Result<Option<T>, FlagError> {
        match self.get(name) {
            None | Some("") => Ok(None),
            Some(v) => v.trim().parse().map(Some).or_else(|_| {
                flag_err(
                    self.origin(name),
                    format!("--{name}: '{v}' is not a valid value"),
                )
            }),
        }
    }

    pub fn duration(&self, name: &str) -> Result<Option<Duration>, FlagError> {
        match self.get(name) {
            None | Some("") => Ok(None),
            Some(v) => parse_duration(v).map(Some).map_err(|m| FlagError {
                origin: self.origin(name),
                message: format!("--{name}: {m}"),
            }),
        }
    }

    /// Every flag as `name -> value`, for `/master/flags`.
    pub fn all(&self) -> impl Iterator<Item = (&str, &str)> {
        self.values
            .iter()
            .map(|(k, (v, _))| (k.as_str(), v.as_str()))
    }

    fn set(&mut self, name: &str, value: String, origin: String) {
        self.values.insert(name.to_string(), (value, origin));
    }
}

/// Mesos' duration syntax: a number and a unit (`ns`, `us`, `ms`, `secs`, `mins`, `hrs`,
/// `days`, `weeks`), e.g. `10secs`, `1.5mins`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .ok_or_else(|| {
            format!("'{text}' has no unit (ns, us, ms, secs, mins, hrs, days, weeks)")
        })?;
    let (num, unit) = t.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("'{text}' does not start with a number"))?;
    let secs = match unit.trim() {
        "ns" => n / 1e9,
        "us" => n / 1e6,
        "ms" => n / 1e3,
        "secs" | "sec" | "s" => n,
        "mins" | "min" => n * 60.0,
        "hrs" | "hr" | "h" => n * 3600.0,
        "days" | "day" => n * 86400.0,
        "weeks" | "week" => n * 604800.0,
        other => {
            return Err(format!(
                "unknown unit '{other}' in '{text}' (ns, us, ms, secs, mins, hrs, days, weeks)"
            ))
        }
    };
    if !secs.is_finite() || secs < 0.0 {
        return Err(format!("'{text}' is not a valid duration"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// Formats a duration the way Mesos prints them in `/master/flags` (`10secs`, `2mins`...).
pub fn format_duration(d: Duration) -> String {
    let s = d.as_secs_f64();
    let (v, unit) = if s >= 604800.0 && s % 604800.0 == 0.0 {
        (s / 604800.0, "weeks")
    } else if s >= 86400.0 && s % 86400.0 == 0.0 {
        (s / 86400.0, "days")
    } else if s >= 3600.0 && s % 3600.0 == 0.0 {
        (s / 3600.0, "hrs")
    } else if s >= 60.0 && s % 60.0 == 0.0 {
        (s / 60.0, "mins")
    } else if s >= 1.0 || s == 0.0 {
        (s, "secs")
    } else {
        (s * 1000.0, "ms")
    };
    format!("{v}{unit}")
}

struct Loader<'a> {
    specs: &'a [Spec],
    flags: Flags,
}

impl Loader<'_> {
    fn spec(&self, name: &str) -> Option<&Spec> {
        self.specs.iter().find(|s| s.name == name)
    }

    /// Sets `name` from `origin`; `value` None means a bare boolean (`--name`, `?name`).
    fn set(&mut self, name: &str, value: Option<String>, origin: &str) -> Result<(), FlagError> {
        let (name, negated) = match name.strip_prefix("no-") {
            Some(rest) if self.spec(rest).is_some_and(|s| s.kind == Kind::Bool) => (rest, true),
            _ => (name, false),
        };
        let Some(spec) = self.spec(name).copied() else {
            return flag_err(origin, format!("unknown flag '{name}'"));
        };
        let value = match (spec.kind, value, negated) {
            (Kind::Bool, None, neg) => (!neg).to_string(),
            (Kind::Bool, Some(_), true) => {
                return flag_err(origin, format!("--no-{name} takes no value"))
            }
            (Kind::Bool, Some(v), false) => match v.trim() {
                "true" | "1" | "yes" => "true".to_string(),
                "false" | "0" | "no" => "false".to_string(),
                other => {
                    return flag_err(origin, format!("--{name}: '{other}' is not true or false"))
                }
            },
            (Kind::Value, None, _) => {
                return flag_err(origin, format!("--{name} needs a value"));
            }
            (Kind::Value, Some(v), _) => resolve_file_value(&v, origin, name)?,
        };
        self.flags.set(name, value, origin.to_string());
        Ok(())
    }
}

fn resolve_file_value(v: &str, origin: &str, name: &str) -> Result<String, FlagError> {
    match v.strip_prefix("file://") {
        Some(path) => std::fs::read_to_string(path)
            .map(|s| s.trim().to_string())
            .or_else(|e| flag_err(origin, format!("--{name}: cannot read {path}: {e}"))),
        None => Ok(v.to_string()),
    }
}

/// Reads one flag-file directory. In a directory named `mesos` (the shared `/etc/mesos`) only
/// `zk` is a flag (it sets `zk_flag`); other files there belong to other tools.
fn load_dir(loader: &mut Loader<'_>, dir: &Path, zk_flag: &str) -> Result<(), FlagError> {
    let shared = dir.file_name().is_some_and(|n| n == "mesos");
    let entries = std::fs::read_dir(dir).map_err(|e| FlagError {
        origin: dir.display().to_string(),
        message: format!("cannot read the flag directory: {e}"),
    })?;
    let mut names: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    names.sort();
    for path in names {
        let file = path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .to_string();
        if file.starts_with('.') || file.ends_with('~') {
            continue;
        }
        let origin = path.display().to_string();
        if shared {
            if file == "zk" {
                let v = read_flag_file(&path)?;
                loader.set(zk_flag, Some(v), &origin)?;
            }
            continue;
        }
        if let Some(name) = file.strip_prefix('?') {
            loader.set(name, None, &origin)?;
        } else if let Some(name) = file.strip_prefix("no-") {
            if loader.spec(name).is_some_and(|s| s.kind == Kind::Bool) {
                loader.set(&file, None, &origin)?;
            } else {
                let v = read_flag_file(&path)?;
                loader.set(&file, Some(v), &origin)?;
            }
        } else {
            let v = read_flag_file(&path)?;
            loader.set(&file, Some(v), &origin)?;
        }
    }
    Ok(())
}

/// A flag file's value: its first non-empty, non-comment line. A second such line is an error
/// naming the line.
fn read_flag_file(path: &Path) -> Result<String, FlagError> {
    let text = std::fs::read_to_string(path).map_err(|e| FlagError {
        origin: path.display().to_string(),
        message: format!("cannot read: {e}"),
    })?;
    let mut value = None;
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if value.is_some() {
            return flag_err(
                format!("{}: line {}", path.display(), i + 1),
                "a flag file holds one value; this is a second one",
            );
        }
        value = Some(line.to_string());
    }
    Ok(value.unwrap_or_default())
}

/// Loads `specs` from `args` (without the program name) and `sources`. `--help` sets
/// [`Flags::help`]. `--conf_dir=DIR` (repeatable) replaces the default directories;
/// `--conf_dir=` (empty) reads none.
pub fn load(specs: &[Spec], args: &[String], sources: &Sources) -> Result<Flags, FlagError> {
    load_with_prefix(specs, args, sources, "MESOS_")
}

/// [`load`] with another environment prefix (Marathon reads `MARATHON_*`).
pub fn load_with_prefix(
    specs: &[Spec],
    args: &[String],
    sources: &Sources,
    env_prefix: &str,
) -> Result<Flags, FlagError> {
    let mut loader = Loader {
        specs,
        flags: Flags::default(),
    };
    for s in specs {
        if let Some(d) = s.default {
            loader.flags.set(s.name, d.to_string(), "default".into());
        }
    }

    // The command line first into a list, so --conf_dir is known before the files are read.
    let mut cli: Vec<(String, Option<String>)> = Vec::new();
    let mut conf_dirs: Option<Vec<PathBuf>> = None;
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        i += 1;
        let Some(body) = a.strip_prefix("--") else {
            return flag_err("command line", format!("unexpected argument '{a}'"));
        };
        let (name, value) = match body.split_once('=') {
            Some((n, v)) => (n.to_string(), Some(v.to_string())),
            None => (body.to_string(), None),
        };
        if name == "help" {
            loader.flags.help = true;
            continue;
        }
        // `--name value` for value flags.
        let value = match value {
            None if loader.spec(&name).is_some_and(|s| s.kind == Kind::Value)
                || name == "conf_dir" =>
            {
                match args.get(i) {
                    Some(v) if !v.starts_with("--") => {
                        i += 1;
                        Some(v.clone())
                    }
                    _ => None,
                }
            }
            v => v,
        };
        if name == "conf_dir" {
            let v = value.unwrap_or_default();
            let dirs = conf_dirs.get_or_insert_with(Vec::new);
            if !v.is_empty() {
                dirs.push(PathBuf::from(v));
            }
            continue;
        }
        cli.push((name, value));
    }

    match conf_dirs {
        Some(dirs) => {
            for d in dirs {
                load_dir(&mut loader, &d, sources.zk_file_flag)?;
            }
        }
        None => {
            for d in &sources.default_conf_dirs {
                if d.is_dir() {
                    load_dir(&mut loader, d, sources.zk_file_flag)?;
                }
            }
        }
    }

    for (k, v) in &sources.env {
        let Some(rest) = k.strip_prefix(env_prefix) else {
            continue;
        };
        let name = rest.to_ascii_lowercase();
        if loader.spec(&name).is_some() {
            loader.set(&name, Some(v.clone()), &format!("environment variable {k}"))?;
        }
    }

    for (name, value) in cli {
        loader.set(&name, value, "command line")?;
    }
    Ok(loader.flags)
}

/// The `--help` text.
pub fn usage(program: &str, specs: &[Spec]) -> String {
    let mut out = format!("Usage: {program} [options]\n\n");
    for s in specs {
        let left = match s.kind {
            Kind::Bool => format!("  --[no-]{}", s.name),
            Kind::Value => format!("  --{}=VALUE", s.name),
        };
        let default = match s.default {
            Some(d) if !d.is_empty() => format!(" (default: {d})"),
            _ => String::new(),
        };
        out.push_str(&format!("{left:<40} {}{default}\n", s.help));
    }
    out.push_str(
        "  --conf_dir=DIR                          read flag files from DIR (repeatable)\n\
         \nEvery flag can also be set as MESOS_<FLAG> in the environment; a value file:///path\n\
         is read from that file.\n",
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPECS: &[Spec] = &[
        Spec::value("zk", None, "ZooKeeper URL"),
        Spec::value("quorum", None, "quorum"),
        Spec::value("port", Some("5050"), "port"),
        Spec::value("offer_timeout", None, "offer timeout"),
        Spec::boolean("authenticate", false, "auth"),
    ];

    fn sources(env: &[(&str, &str)], dirs: Vec<PathBuf>) -> Sources {
        Sources {
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            default_conf_dirs: dirs,
            zk_file_flag: "zk",
        }
    }

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn precedence_default_files_env_cli() {
        let tmp = std::env::temp_dir().join(format!("mesos-flags-{}", std::process::id()));
        let shared = tmp.join("mesos");
        let master = tmp.join("mesos-master");
        std::fs::create_dir_all(&shared).unwrap();
        std::fs::create_dir_all(&master).unwrap();
        std::fs::write(shared.join("zk"), "zk://127.0.0.1:2181/mesos\n").unwrap();
        std::fs::write(shared.join("unrelated"), "ignored").unwrap();
        std::fs::write(master.join("quorum"), "# comment\n2\n").unwrap();
        std::fs::write(master.join("?authenticate"), "").unwrap();
        let src = sources(
            &[("MESOS_QUORUM", "3"), ("MESOS_SANDBOX", "/x")],
            vec![shared.clone(), master.clone()],
        );

        let f = load(SPECS, &[], &src).unwrap();
        assert_eq!(f.get("zk"), Some("zk://127.0.0.1:2181/mesos"));
        assert_eq!(f.get("quorum"), Some("3"), "env beats files");
        assert_eq!(f.origin("quorum"), "environment variable MESOS_QUORUM");
        assert_eq!(f.get("port"), Some("5050"));
        assert!(f.bool("authenticate"));

        let f = load(
            SPECS,
            &args(&["--quorum=1", "--no-authenticate", "--port", "5051"]),
            &src,
        )
        .unwrap();
        assert_eq!(f.get("quorum"), Some("1"));
        assert_eq!(f.parse::<u16>("port").unwrap(), Some(5051));
        assert!(!f.bool("authenticate"));

        // An explicit --conf_dir replaces the defaults; an empty one reads none.
        let f = load(
            SPECS,
            &args(&["--conf_dir="]),
            &sources(&[], vec![shared.clone(), master.clone()]),
        )
        .unwrap();
        assert_eq!(f.get("zk"), None);

        std::fs::write(master.join("quorumm"), "2").unwrap();
        let e = load(SPECS, &[], &src).unwrap_err();
        assert_eq!(e.origin, master.join("quorumm").display().to_string());
        assert!(e.message.contains("unknown flag 'quorumm'"));
        std::fs::remove_file(master.join("quorumm")).unwrap();

        std::fs::write(master.join("quorum"), "2\n3\n").unwrap();
        let e = load(SPECS, &[], &src).unwrap_err();
        assert_eq!(
            e.origin,
            format!("{}: line 2", master.join("quorum").display())
        );
        std::fs::remove_dir_all(&tmp).unwrap();
    }

    #[test]
    fn file_values_and_errors() {
        let tmp = std::env::temp_dir().join(format!("mesos-flags-file-{}", std::process::id()));
        std::fs::write(&tmp, "zk://h:1/m\n").unwrap();
        let f = load(
            SPECS,
            &args(&[&format!("--zk=file://{}", tmp.display())]),
            &sources(&[], vec![]),
        )
        .unwrap();
        assert_eq!(f.get("zk"), Some("zk://h:1/m"));
        std::fs::remove_file(&tmp).unwrap();

        let e = load(SPECS, &args(&["--bogus=1"]), &sources(&[], vec![])).unwrap_err();
        assert_eq!(e.to_string(), "command line: unknown flag 'bogus'");
        let e = load(
            SPECS,
            &args(&["--authenticate=maybe"]),
            &sources(&[], vec![]),
        )
        .unwrap_err();
        assert!(e.message.contains("not true or false"));
        let e = load(SPECS, &args(&["stray"]), &sources(&[], vec![])).unwrap_err();
        assert!(e.message.contains("unexpected argument"));
        let f = load(
            SPECS,
            &args(&["--port=x", "--offer_timeout=5mins"]),
            &sources(&[], vec![]),
        )
        .unwrap();
        assert!(f
            .parse::<u16>("port")
            .unwrap_err()
            .message
            .contains("'x' is not a valid value"));
        assert_eq!(
            f.duration("offer_timeout").unwrap(),
            Some(Duration::from_secs(300))
        );
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10secs").unwrap(), Duration::from_secs(10));
        assert_eq!(parse_duration("1.5mins").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(
            parse_duration("1weeks").unwrap(),
            Duration::from_secs(604800)
        );
        assert!(parse_duration("10").is_err());
        assert!(parse_duration("10parsecs").is_err());
        assert_eq!(format_duration(Duration::from_secs(600)), "10mins");
        assert_eq!(format_duration(Duration::from_secs(15)), "15secs");
        assert_eq!(format_duration(Duration::from_millis(500)), "500ms");
    }
}
