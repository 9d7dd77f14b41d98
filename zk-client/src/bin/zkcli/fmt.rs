//! Output formats of Apache's zkCli 3.8: stats, Java dates, ACLs, error texts, events.

use zk_client::{Acl, Error, ErrorCode, Id, Perms, SessionState, Stat, WatchedEvent};

/// `java.util.Date.toString()` in UTC: `EEE MMM dd HH:mm:ss zzz yyyy`.
pub fn java_date(ms: i64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{} {} {:02} {:02}:{:02}:{:02} UTC {}",
        DAYS[days.rem_euclid(7) as usize],
        MONTHS[(m - 1) as usize],
        d,
        sod / 3600,
        sod % 3600 / 60,
        sod % 60,
        y
    )
}

/// zkCli's `StatPrinter`.
pub fn stat(s: &Stat) -> String {
    format!(
        "cZxid = 0x{:x}\nctime = {}\nmZxid = 0x{:x}\nmtime = {}\npZxid = 0x{:x}\n\
         cversion = {}\ndataVersion = {}\naclVersion = {}\nephemeralOwner = 0x{:x}\n\
         dataLength = {}\nnumChildren = {}\n",
        s.czxid,
        java_date(s.ctime),
        s.mzxid,
        java_date(s.mtime),
        s.pzxid,
        s.cversion,
        s.version,
        s.aversion,
        s.ephemeral_owner,
        s.data_length,
        s.num_children
    )
}

/// `GetAclCommand.getPermString`: letters in the order c, d, r, w, a.
pub fn perms(p: i32) -> String {
    let mut s = String::new();
    for (bit, c) in [
        (Perms::CREATE, 'c'),
        (Perms::DELETE, 'd'),
        (Perms::READ, 'r'),
        (Perms::WRITE, 'w'),
        (Perms::ADMIN, 'a'),
    ] {
        if p & bit != 0 {
            s.push(c);
        }
    }
    s
}

pub fn acls(list: &[Acl]) -> String {
    let mut s = String::new();
    for a in list {
        s.push_str(&format!(
            "'{},'{}\n: {}\n",
            a.id.scheme,
            a.id.id,
            perms(a.perms)
        ));
    }
    s
}

/// `AclParser.parse`: `scheme:id:perms[,...]`; malformed entries are reported on `errs`
/// and skipped, as zkCli does.
pub fn parse_acl(text: &str, errs: &mut String) -> Vec<Acl> {
    let mut out = Vec::new();
    for a in text.split(',') {
        let (Some(first), Some(last)) = (a.find(':'), a.rfind(':')) else {
            errs.push_str(&format!("{a} does not have the form scheme:id:perm\n"));
            continue;
        };
        if first == last {
            errs.push_str(&format!("{a} does not have the form scheme:id:perm\n"));
            continue;
        }
        let mut p = 0;
        for c in a[last + 1..].chars() {
            p |= match c.to_ascii_lowercase() {
                'r' => Perms::READ,
                'w' => Perms::WRITE,
                'c' => Perms::CREATE,
                'd' => Perms::DELETE,
                'a' => Perms::ADMIN,
                other => {
                    errs.push_str(&format!("Unknown perm type: {other}\n"));
                    0
                }
            };
        }
        out.push(Acl {
            perms: p,
            id: Id::new(&a[..first], &a[first + 1..last]),
        });
    }
    out
}

/// `ZooDefs.Ids.OPEN_ACL_UNSAFE`.
pub fn open_acl() -> Vec<Acl> {
    vec![Acl {
        perms: Perms::ALL,
        id: Id::new("world", "anyone"),
    }]
}

/// `KeeperException.Code.getCodeMessage`-style text for a code.
pub fn code_message(c: ErrorCode) -> String {
    match c {
        ErrorCode::Ok => "ok".into(),
        ErrorCode::ApiError => "APIError".into(),
        ErrorCode::InvalidAcl => "InvalidACL".into(),
        ErrorCode::SessionExpired => "Session expired".into(),
        ErrorCode::InvalidCallback => "Invalid callback".into(),
        ErrorCode::SessionMoved => "Session moved".into(),
        ErrorCode::NotReadOnly => "Not a read-only call".into(),
        ErrorCode::EphemeralOnLocalSession => "Ephemeral node on local session".into(),
        ErrorCode::NoWatcher => "No such watcher".into(),
        ErrorCode::ReconfigDisabled => "Reconfig is disabled".into(),
        ErrorCode::NotEmpty => "Directory not empty".into(),
        ErrorCode::QuotaExceeded => "Quota has exceeded".into(),
        ErrorCode::ThrottledOp => "Op throttled due to high load".into(),
        ErrorCode::NewConfigNoQuorum => "NewConfigNoQuorum".into(),
        ErrorCode::ReconfigInProgress => "ReconfigInProgress".into(),
        other => format!("{other:?}"),
    }
}

/// The message zkCli prints for a failed command on `path` (`CliWrapperException`).
pub fn error(e: &Error, path: &str) -> String {
    match e.code() {
        Some(ErrorCode::NoNode) => format!("Node does not exist: {path}"),
        Some(ErrorCode::BadVersion) => format!("version No is not valid : {path}"),
        Some(ErrorCode::NoAuth) => format!("Insufficient permission : {path}"),
        Some(ErrorCode::NotEmpty) => format!("Node not empty: {path}"),
        Some(ErrorCode::NodeExists) => format!("Node already exists: {path}"),
        Some(ErrorCode::NoChildrenForEphemerals) => {
            format!("Ephemerals cannot have children: {path}")
        }
        Some(ErrorCode::InvalidAcl) => format!("Acl is not valid : {path}"),
        Some(ErrorCode::NotReadOnly) => format!("Not a read-only call: {path}"),
        Some(ErrorCode::QuotaExceeded) => format!("Quota has exceeded : {path}"),
        Some(ErrorCode::BadArguments) => match e {
            Error::BadArguments(m) => m.clone(),
            _ => format!("Arguments are not valid : {path}"),
        },
        Some(ErrorCode::ConnectionLoss) => format!("KeeperErrorCode = ConnectionLoss for {path}"),
        Some(c) => format!("KeeperErrorCode = {} for {path}", code_message(c)),
        None => format!("{e}"),
    }
}

/// `PathUtils.validatePath`, with its messages.
pub fn validate_path(path: &str, sequential: bool) -> Result<(), String> {
    if path.is_empty() {
        return Err("Path length must be > 0".into());
    }
    if !path.starts_with('/') {
        return Err("Path must start with / character".into());
    }
    if path.len() == 1 {
        return Ok(());
    }
    if path.ends_with('/') && !sequential {
        return Err("Path must not end with / character".into());
    }
    let chars: Vec<char> = path.chars().collect();
    for i in 1..chars.len() {
        let (last, c) = (chars[i - 1], chars[i]);
        let reason = if c == '\0' {
            "null character not allowed"
        } else if c == '/' && last == '/' {
            "empty node name specified"
        } else if c == '.'
            && (i + 1 == chars.len() || chars[i + 1] == '/')
            && (last == '/' || last == '.' && chars[i - 2] == '/')
        {
            "relative paths not allowed"
        } else if matches!(c as u32, 0x1..=0x1f | 0x7f..=0x9f | 0xd800..=0xf8ff | 0xfff0..=0xffff) {
            "invalid character"
        } else {
            continue;
        };
        return Err(format!(
            "Invalid path string \"{path}\" caused by {reason} @{i}"
        ));
    }
    Ok(())
}

/// `WatchedEvent.toString()`.
pub fn event(e: &WatchedEvent) -> String {
    let path = if e.path.is_empty() {
        "null"
    } else {
        e.path.as_str()
    };
    format!(
        "WatchedEvent state:{:?} type:{:?} path:{}",
        e.state, e.event_type, path
    )
}

/// The `KeeperState` name zkCli's watcher reports for a session state change.
pub fn keeper_state(s: SessionState) -> &'static str {
    match s {
        SessionState::Connecting | SessionState::Disconnected => "Disconnected",
        SessionState::Connected => "SyncConnected",
        SessionState::ConnectedReadOnly => "ConnectedReadOnly",
        SessionState::Expired => "Expired",
        SessionState::AuthFailed => "AuthFailed",
        SessionState::Closed => "Closed",
    }
}

/// `ZooKeeper.States` as the prompt shows it.
pub fn prompt_state(s: SessionState) -> &'static str {
    match s {
        SessionState::Connecting | SessionState::Disconnected => "CONNECTING",
        SessionState::Connected => "CONNECTED",
        SessionState::ConnectedReadOnly => "CONNECTEDREADONLY",
        SessionState::Expired | SessionState::Closed => "CLOSED",
        SessionState::AuthFailed => "AUTH_FAILED",
    }
}

/// zkCli's `MyCommandOptions.parseCommand`: words, or `"..."` / `'...'` quoted strings.
pub fn split_words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut it = line.char_indices().peekable();
    while let Some(&(i, c)) = it.peek() {
        if c.is_whitespace() {
            it.next();
            continue;
        }
        if c == '"' || c == '\'' {
            if let Some(end) = line[i + 1..].find(c) {
                out.push(line[i + 1..i + 1 + end].to_string());
                let stop = i + 1 + end;
                while it.peek().is_some_and(|&(j, _)| j <= stop) {
                    it.next();
                }
                continue;
            }
        }
        let mut w = String::new();
        while let Some(&(_, c)) = it.peek() {
            if c.is_whitespace() {
                break;
            }
            w.push(c);
            it.next();
        }
        out.push(w);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(java_date(0), "Thu Jan 01 00:00:00 UTC 1970");
        assert_eq!(java_date(1_795_914_744_000), "Sun Nov 29 01:12:24 UTC 2026");
    }

    #[test]
    fn words() {
        assert_eq!(
            split_words(" set  /a \"x y\" 'z' w"),
            vec!["set", "/a", "x y", "z", "w"]
        );
    }

    #[test]
    fn paths() {
        assert!(validate_path("/", false).is_ok());
        assert!(validate_path("/a/b", false).is_ok());
        assert!(validate_path("/a/", true).is_ok());
        assert_eq!(
            validate_path("s", false).unwrap_err(),
            "Path must start with / character"
        );
        assert_eq!(
            validate_path("/a/../b", false).unwrap_err(),
            "Invalid path string \"/a/../b\" caused by relative paths not allowed @4"
        );
        assert_eq!(
            validate_path("/a//b", false).unwrap_err(),
            "Invalid path string \"/a//b\" caused by empty node name specified @3"
        );
    }

    #[test]
    fn acl_parse() {
        let mut e = String::new();
        let a = parse_acl("digest:u:h=:cdrwa,ip:1.2.3.4:r,bad", &mut e);
        assert_eq!(a.len(), 2);
        assert_eq!(a[0].id.id, "u:h=");
        assert_eq!(perms(a[0].perms), "cdrwa");
        assert_eq!(a[1].perms, Perms::READ);
        assert_eq!(e, "bad does not have the form scheme:id:perm\n");
    }
}
