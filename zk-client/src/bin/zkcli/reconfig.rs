//! `reconfig`, parsed as zkCli's `ReconfigCommand` does (commons-cli `DefaultParser`, then
//! its checks in the same order, with its messages).

/// What a `reconfig` line asks for.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Reconfig {
    pub stat: bool,
    /// `-v`, hexadecimal; -1 when absent (any version).
    pub from_config: i64,
    /// Comma-separated server specs to add (lowercased, as zkCli sends them).
    pub joining: Option<String>,
    /// Comma-separated server ids to remove.
    pub leaving: Option<String>,
    /// A whole new membership (`-members`, or the server lines of `-file`).
    pub members: Option<String>,
}

const VALUED: [&str; 5] = ["v", "file", "members", "add", "remove"];

/// Parses the words of a `reconfig` line (the command name first); `Err` is the message
/// zkCli prints. `usage` is the command's usage line.
pub fn parse(words: &[String], usage: &str) -> Result<Reconfig, String> {
    let mut stat = false;
    let mut vals: Vec<(&str, String)> = Vec::new();
    let mut it = words.iter().skip(1);
    while let Some(w) = it.next() {
        let Some(name) = w.strip_prefix('-').filter(|n| !n.is_empty()) else {
            continue; // a plain argument: zkCli ignores them
        };
        if name == "s" {
            stat = true;
        } else if let Some(opt) = VALUED.iter().find(|o| **o == name) {
            match it.next() {
                Some(v) => vals.push((opt, v.clone())),
                None => {
                    return Err(format!(
                        "org.apache.commons.cli.MissingArgumentException: Missing argument for option: {name}"
                    ))
                }
            }
        } else {
            return Err(format!(
                "org.apache.commons.cli.UnrecognizedOptionException: Unrecognized option: {w}"
            ));
        }
    }
    let get = |o: &str| vals.iter().find(|(n, _)| *n == o).map(|(_, v)| v.clone());
    let (file, members, add, remove) = (get("file"), get("members"), get("add"), get("remove"));
    if file.is_none() && members.is_none() && add.is_none() && remove.is_none() {
        return Err(usage.to_string());
    }
    let from_config = match get("v") {
        None => -1,
        Some(v) => i64::from_str_radix(&v, 16)
            .map_err(|_| "-v must be followed by a long (configuration version)".to_string())?,
    };
    if (file.is_some() || members.is_some()) && (add.is_some() || remove.is_some()) {
        return Err(
            "Can't use -file or -members together with -add or -remove (mixing \
                    incremental and non-incremental modes is not allowed)"
                .into(),
        );
    }
    if file.is_some() && members.is_some() {
        return Err(
            "Can't use -file and -members together (conflicting non-incremental modes)".into(),
        );
    }
    let mut r = Reconfig {
        stat,
        from_config,
        joining: add.map(|s| s.to_lowercase()),
        leaving: remove.map(|s| s.to_lowercase()),
        members: members.map(|s| s.to_lowercase()),
    };
    if let Some(path) = file {
        r.members =
            Some(members_of_file(&path).map_err(|e| format!("Error processing {path}{e}"))?);
    }
    Ok(r)
}

/// The membership in a dynamic config file: its `server.N=...` lines (and `group`/`weight`
/// lines), one per line, as ZooKeeper's QuorumVerifier prints them. Java's messages for
/// unreadable files (`<path> (No such file or directory)`).
fn members_of_file(path: &str) -> Result<String, String> {
    let text = std::fs::read_to_string(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => format!("{path} (No such file or directory)"),
        std::io::ErrorKind::PermissionDenied => format!("{path} (Permission denied)"),
        _ => format!("{path} ({e})"),
    })?;
    let mut lines = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') || line.starts_with('!') {
            continue;
        }
        let (key, value) = line
            .split_once('=')
            .map(|(k, v)| (k.trim(), v.trim()))
            .ok_or_else(|| format!(": bad line {line:?}"))?;
        let numbered = |p: &str| {
            key.strip_prefix(p)
                .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        };
        if numbered("server.") || numbered("group.") || numbered("weight.") {
            lines.push(format!("{key}={value}"));
        } else if key != "version" {
            return Err(format!(
                ": unrecognised parameter {key:?} in a dynamic config"
            ));
        }
    }
    if lines.is_empty() {
        return Err(": no servers in the file".into());
    }
    Ok(lines.join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(line: &str) -> Result<Reconfig, String> {
        let words: Vec<String> = line.split_whitespace().map(String::from).collect();
        parse(&words, "USAGE")
    }

    #[test]
    fn modes_and_errors_as_zkcli() {
        assert_eq!(p("reconfig"), Err("USAGE".into()));
        assert_eq!(p("reconfig -s"), Err("USAGE".into()));
        assert_eq!(
            p("reconfig -s -v 1A -add SERVER.5=H:1:2;3 -remove 3,4"),
            Ok(Reconfig {
                stat: true,
                from_config: 0x1a,
                joining: Some("server.5=h:1:2;3".into()),
                leaving: Some("3,4".into()),
                members: None,
            })
        );
        assert_eq!(
            p("reconfig -members server.1=a:1:2;3").unwrap().from_config,
            -1
        );
        assert!(p("reconfig -v xyz -add a")
            .unwrap_err()
            .starts_with("-v must be"));
        assert!(p("reconfig -members a -remove 1")
            .unwrap_err()
            .contains("mixing"));
        assert!(p("reconfig -file /x -members a")
            .unwrap_err()
            .contains("conflicting"));
        assert_eq!(
            p("reconfig -add"),
            Err(
                "org.apache.commons.cli.MissingArgumentException: Missing argument for option: add"
                    .into()
            )
        );
        assert_eq!(
            p("reconfig -q -add x"),
            Err(
                "org.apache.commons.cli.UnrecognizedOptionException: Unrecognized option: -q"
                    .into()
            )
        );
        assert_eq!(
            p("reconfig -file /nonexistent/r.cfg"),
            Err(
                "Error processing /nonexistent/r.cfg/nonexistent/r.cfg (No such file or directory)"
                    .into()
            )
        );
    }

    #[test]
    fn members_from_a_dynamic_config_file() {
        let path = std::env::temp_dir().join(format!("zkcli-reconfig-{}.cfg", std::process::id()));
        std::fs::write(
            &path,
            "# new ensemble\nserver.1=a:2888:3888:participant;2181\nserver.2=b:2888:3888;2181\nversion=100000000\n",
        )
        .unwrap();
        let r = p(&format!("reconfig -file {}", path.display())).unwrap();
        assert_eq!(
            r.members.as_deref(),
            Some("server.1=a:2888:3888:participant;2181\nserver.2=b:2888:3888;2181")
        );
        std::fs::write(&path, "clientPort=2181\n").unwrap();
        assert!(p(&format!("reconfig -file {}", path.display()))
            .unwrap_err()
            .starts_with("Error processing "));
        let _ = std::fs::remove_file(&path);
    }
}
