//! Operator tools over a data directory, like ZooKeeper's `TxnLogToolkit` and
//! `SnapshotFormatter`: print a txn log or a snapshot readably, or only check it.

use std::fmt::Write as _;
use std::io::{IsTerminal, Read, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use zk_proto::data::{Acl, StatPersisted};
use zk_proto::OpCode;

use crate::core::txn::{Txn, TxnBody};
use crate::storage::{snapshot, txnlog};

/// Progress on stderr for long reads, only when someone is watching a terminal.
struct Progress {
    enabled: bool,
    last: Instant,
    label: &'static str,
}

impl Progress {
    fn new(label: &'static str, big: bool) -> Self {
        Progress {
            enabled: big && std::io::stderr().is_terminal(),
            last: Instant::now(),
            label,
        }
    }

    fn bar(&mut self, done: u64, total: u64) {
        if !self.enabled || self.last.elapsed() < Duration::from_millis(200) {
            return;
        }
        self.last = Instant::now();
        let pct = (done * 100).checked_div(total).unwrap_or(100).min(100);
        let filled = (pct / 4) as usize;
        eprint!(
            "\r{} [{}{}] {pct:3}%",
            self.label,
            "#".repeat(filled),
            " ".repeat(25 - filled)
        );
    }

    fn count(&mut self, n: u64) {
        if self.enabled && self.last.elapsed() >= Duration::from_millis(200) {
            self.last = Instant::now();
            eprint!("\r{} {n} txns", self.label);
        }
    }

    fn done(&self) {
        if self.enabled {
            eprintln!();
        }
    }
}

const BIG_FILE: u64 = 16 * 1024 * 1024;

fn hex(v: i64) -> String {
    format!("{v:#x}")
}

fn acl_text(acl: &[Acl]) -> String {
    acl.iter()
        .map(|a| format!("{}:{}:{}", a.id.scheme, a.id.id, perms(a.perms)))
        .collect::<Vec<_>>()
        .join(",")
}

fn perms(p: i32) -> String {
    [(16, 'a'), (4, 'c'), (8, 'd'), (1, 'r'), (2, 'w')]
        .iter()
        .filter(|(bit, _)| p & bit != 0)
        .map(|(_, c)| *c)
        .collect()
}

fn data_text(d: &Option<Vec<u8>>) -> String {
    match d {
        None => "null".to_owned(),
        Some(b) => String::from_utf8_lossy(b).into_owned(),
    }
}

fn body_text(op: OpCode, body: &TxnBody) -> String {
    match body {
        TxnBody::Create(t) => format!(
            "{} {},{},[{}],ephemeral={},parentCVersion={}",
            op.name(),
            t.path,
            data_text(&t.data),
            acl_text(&t.acl),
            t.ephemeral,
            t.parent_cversion
        ),
        TxnBody::CreateContainer(t) => format!(
            "createContainer {},{},[{}]",
            t.path,
            data_text(&t.data),
            acl_text(&t.acl)
        ),
        TxnBody::CreateTtl(t) => format!(
            "createTtl {},{},[{}],ttl={}",
            t.path,
            data_text(&t.data),
            acl_text(&t.acl),
            t.ttl
        ),
        TxnBody::Delete(t) => format!("{} {}", op.name(), t.path),
        TxnBody::SetData(t) => format!(
            "setData {},{},version={}",
            t.path,
            data_text(&t.data),
            t.version
        ),
        TxnBody::SetAcl(t) => format!(
            "setACL {},[{}],aclVersion={}",
            t.path,
            acl_text(&t.acl),
            t.version
        ),
        TxnBody::Check(t) => format!("check {},version={}", t.path, t.version),
        TxnBody::CreateSession(t) => format!("createSession timeout={}", t.time_out),
        TxnBody::CloseSession(t) => {
            format!("closeSession ephemerals=[{}]", t.paths_to_delete.join(","))
        }
        TxnBody::Error(e) => format!("error {}", e.err),
        TxnBody::Multi(ops) => {
            let parts: Vec<String> = ops.iter().map(|(op, b)| body_text(*op, b)).collect();
            format!("multi [{}]", parts.join("; "))
        }
    }
}

/// One line per txn, as TxnLogToolkit prints them (times in UTC milliseconds).
pub fn txn_line(t: &Txn) -> String {
    let op = OpCode::from_i32(t.hdr.txn_type).unwrap_or(OpCode::Error);
    let mut line = format!(
        "time {} session {} cxid {} zxid {} {}",
        t.hdr.time,
        hex(t.hdr.client_id),
        hex(i64::from(t.hdr.cxid)),
        hex(t.hdr.zxid),
        body_text(op, &t.body)
    );
    if let Some(d) = &t.digest {
        let _ = write!(line, " digest={}", d.tree_digest);
    }
    line
}

/// Prints (or with `check_only`, only verifies) the txn log at `path`: a `version-2` directory or
/// one `log.<zxid>` file. Returns the number of txns; an error names what is wrong and where.
pub fn dump_log(path: &Path, check_only: bool, out: &mut impl Write) -> Result<u64, String> {
    let (dir, from, until) = if path.is_dir() {
        (path.to_path_buf(), 0, None)
    } else {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let start = txnlog::parse_log_name(name)
            .ok_or_else(|| format!("{}: not a log.<zxid> file", path.display()))?;
        let dir = path.parent().unwrap_or(Path::new(".")).to_path_buf();
        let files = txnlog::log_files(&dir).map_err(|e| e.to_string())?;
        let next = files.iter().map(|(z, _)| *z).find(|z| *z > start);
        (dir, start - 1, next)
    };
    let big = std::fs::metadata(path)
        .map(|m| m.len() > BIG_FILE)
        .unwrap_or(false);
    let mut progress = Progress::new("reading", big);
    let mut n = 0u64;
    let mut write_err = None;
    let report = txnlog::scan(&dir, from, |t| {
        if until.is_some_and(|u| t.hdr.zxid >= u) {
            return Err("stop".to_owned());
        }
        n += 1;
        progress.count(n);
        if !check_only {
            if let Err(e) = writeln!(out, "{}", txn_line(&t)) {
                write_err = Some(e.to_string());
                return Err("stop".to_owned());
            }
        }
        Ok(())
    });
    progress.done();
    if let Some(e) = write_err {
        return Err(e);
    }
    match report {
        Ok(r) => {
            if let Some(t) = r.torn_tail {
                return Err(format!(
                    "{}: torn tail at byte {}: {}",
                    t.file.display(),
                    t.valid_len,
                    t.reason
                ));
            }
            let _ = writeln!(out, "EOF reached after {n} txns.");
            Ok(n)
        }
        Err(txnlog::LogError::Callback { message, .. }) if message == "stop" => {
            let _ = writeln!(out, "EOF reached after {n} txns.");
            Ok(n)
        }
        Err(e) => Err(e.to_string()),
    }
}

fn stat_text(s: &StatPersisted, data_len: usize, out: &mut String) {
    let _ = writeln!(out, "  cZxid = {}", hex(s.czxid));
    let _ = writeln!(out, "  ctime = {}", s.ctime);
    let _ = writeln!(out, "  mZxid = {}", hex(s.mzxid));
    let _ = writeln!(out, "  mtime = {}", s.mtime);
    let _ = writeln!(out, "  pZxid = {}", hex(s.pzxid));
    let _ = writeln!(out, "  cversion = {}", s.cversion);
    let _ = writeln!(out, "  dataVersion = {}", s.version);
    let _ = writeln!(out, "  aclVersion = {}", s.aversion);
    let _ = writeln!(out, "  ephemeralOwner = {}", hex(s.ephemeral_owner));
    let _ = writeln!(out, "  dataLength = {data_len}");
}

/// Prints (or only verifies) a snapshot as SnapshotFormatter does; `with_data` adds node data.
pub fn dump_snapshot(
    path: &Path,
    with_data: bool,
    check_only: bool,
    out: &mut impl Write,
) -> Result<usize, String> {
    let mut f = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let total = f.metadata().map(|m| m.len()).unwrap_or(0);
    let mut progress = Progress::new("reading", total > BIG_FILE);
    let mut bytes = Vec::with_capacity(total as usize);
    let mut chunk = vec![0u8; 1 << 20];
    loop {
        let n = f
            .read(&mut chunk)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        if n == 0 {
            break;
        }
        bytes.extend_from_slice(&chunk[..n]);
        progress.bar(bytes.len() as u64, total);
    }
    progress.done();
    let snap = snapshot::read_snapshot(&bytes).map_err(|e| format!("{}: {e}", path.display()))?;
    let count = snap.tree.node_count();
    if check_only {
        let _ = writeln!(
            out,
            "{}: OK, {count} znodes, {} sessions",
            path.display(),
            snap.sessions.len()
        );
        return Ok(count);
    }
    let mut text = format!("ZNode Details (count={count}):\n");
    snap.tree.visit_preorder(|p, n| {
        text.push_str("----\n");
        text.push_str(p);
        text.push('\n');
        stat_text(&n.stat, n.data.as_ref().map_or(0, Vec::len), &mut text);
        if with_data {
            let _ = writeln!(text, "  data = {}", data_text(&n.data));
        }
    });
    text.push_str("----\nSession Details (sid, timeout, ephemeralCount):\n");
    let mut sessions = snap.sessions.clone();
    sessions.sort_unstable();
    for (sid, timeout) in &sessions {
        let eph = snap.tree.ephemerals_of(*sid).count();
        let _ = writeln!(text, "{}, {timeout}, {eph}", hex(*sid));
    }
    if let Some(d) = &snap.zxid_digest {
        let _ = writeln!(
            text,
            "----\nDigest: zxid {}, version {}, digest {}",
            hex(d.zxid),
            d.version,
            d.digest
        );
    }
    if let Some(z) = snap.last_processed_zxid {
        let _ = writeln!(text, "----\nLast zxid: {}", hex(z));
    }
    out.write_all(text.as_bytes()).map_err(|e| e.to_string())?;
    Ok(count)
}
