//! `zkcli`: a shell compatible with Apache ZooKeeper's `zkCli.sh` (3.8 output formats).
//!
//! - `zkcli -server host:port cmd args...`: runs one command and exits (1 on error).
//! - `zkcli -server host:port` with a terminal: interactive (rustyline), prompt
//!   `[zk: host:port(CONNECTED) N] `.
//! - `zkcli -server host:port < script`: one command a line, no prompt (as zkCli without
//!   JLine); exits 1 if any command failed.
//!
//! Outputs go to stdout, error messages to stderr, as zkCli prints them.

mod complete;
mod config;
mod fmt;
mod quota;
mod reconfig;
mod secure;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;
use std::task::Poll;
use std::time::Duration;

use tokio::sync::mpsc;
use zk_client::{
    AddWatchMode, Client, CreateMode, Error, EventType, KeeperState, Op, SessionState,
    WatchedEvent, Watcher, WatcherType,
};

const USAGE: &[(&str, &str)] = &[
    ("addWatch", "addWatch [-m mode] path # optional mode is one of [PERSISTENT, PERSISTENT_RECURSIVE] - default is PERSISTENT_RECURSIVE"),
    ("addauth", "addauth scheme auth"),
    ("close", "close "),
    ("config", "config [-c] [-w] [-s]"),
    ("connect", "connect host:port"),
    ("create", "create [-s] [-e] [-c] [-t ttl] path [data] [acl]"),
    ("delete", "delete [-v version] path"),
    ("deleteall", "deleteall path [-b batch size]"),
    ("delquota", "delquota [-n|-b|-N|-B] path"),
    ("get", "get [-s] [-w] path"),
    ("getAcl", "getAcl [-s] path"),
    ("getAllChildrenNumber", "getAllChildrenNumber path"),
    ("getEphemerals", "getEphemerals path"),
    ("history", "history "),
    ("listquota", "listquota path"),
    ("ls", "ls [-s] [-w] [-R] path"),
    ("printwatches", "printwatches on|off"),
    ("quit", "quit "),
    ("reconfig", "reconfig [-s] [-v version] [[-file path] | [-members serverID=host:port1:port2;port3[,...]*]] | [-add serverId=host:port1:port2;port3[,...]]* [-remove serverId[,...]*]"),
    ("redo", "redo cmdno"),
    ("removewatches", "removewatches path [-c|-d|-a] [-l]"),
    ("set", "set [-s] [-v version] path data"),
    ("setAcl", "setAcl [-s] [-v version] [-R] path acl"),
    ("setquota", "setquota -n|-b|-N|-B val path"),
    ("stat", "stat [-w] path"),
    ("sync", "sync path"),
    ("version", "version "),
    ("whoami", "whoami "),
];

/// Every command name, sorted (for completion).
fn command_names() -> Vec<&'static str> {
    let mut v: Vec<&'static str> = USAGE.iter().map(|(n, _)| *n).collect();
    v.sort_unstable();
    v
}

/// What kind of watch a [`Watcher`] we hold is (to report removals as zkCli does).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Data,
    Child,
    Persistent,
}

enum Ev {
    State(SessionState),
    Watch(WatchedEvent),
    Ended(usize),
}

/// The failure of one command: its message for stderr.
struct Fail(String);

type CmdResult = Result<(), Fail>;

struct Opts {
    flags: HashSet<char>,
    vals: HashMap<char, String>,
    /// Non-option words, the command name first.
    args: Vec<String>,
}

/// commons-cli style parsing: `flags` take no value, `valued` take the next word.
fn parse_opts(words: &[String], flags: &str, valued: &str) -> Result<Opts, Fail> {
    let mut o = Opts {
        flags: HashSet::new(),
        vals: HashMap::new(),
        args: Vec::new(),
    };
    let mut it = words.iter();
    while let Some(w) = it.next() {
        let mut cs = w.chars();
        if w.len() == 2 && cs.next() == Some('-') && !o.args.is_empty() {
            let c = cs.next().unwrap_or('-');
            if flags.contains(c) {
                o.flags.insert(c);
                continue;
            }
            if valued.contains(c) {
                match it.next() {
                    Some(v) => {
                        o.vals.insert(c, v.clone());
                        continue;
                    }
                    None => return Err(Fail(format!("Missing argument for option: {c}"))),
                }
            }
            if !c.is_ascii_digit() {
                return Err(Fail(format!(
                    "org.apache.commons.cli.UnrecognizedOptionException: Unrecognized option: {w}"
                )));
            }
        }
        o.args.push(w.clone());
    }
    Ok(o)
}

fn usage_of(cmd: &str) -> String {
    USAGE
        .iter()
        .find(|(n, _)| *n == cmd)
        .map(|(_, u)| u.to_string())
        .unwrap_or_default()
}

fn int_opt(o: &Opts, c: char, default: i64) -> Result<i64, Fail> {
    match o.vals.get(&c) {
        None => Ok(default),
        Some(v) => v
            .parse()
            .map_err(|_| Fail(format!("-{c} argument must be a number: {v}"))),
    }
}

struct Shell {
    server: String,
    timeout: Duration,
    /// `-r`: ask for a read-only-capable session.
    read_only: bool,
    /// TLS from `-client-configuration` / `CLIENT_JVMFLAGS`; `None` for plaintext.
    tls: Option<zk_client::tls::TlsConfig>,
    client: Option<Client>,
    /// The same session, for tab completion on the line reader's thread.
    shared: complete::SharedClient,
    states: Option<mpsc::UnboundedReceiver<SessionState>>,
    last_state: Option<SessionState>,
    watches: Vec<(String, Kind, Watcher)>,
    print_watches: bool,
    history: BTreeMap<usize, String>,
    count: usize,
    /// The current command's output, (to stderr?, text), printed after pending events.
    out: Vec<(bool, String)>,
    failed: bool,
}

impl Shell {
    fn say(&mut self, s: impl Into<String>) {
        let mut s = s.into();
        if !s.ends_with('\n') {
            s.push('\n');
        }
        self.out.push((false, s));
    }

    fn flush(&mut self) {
        let out = std::io::stdout();
        let err = std::io::stderr();
        for (is_err, s) in self.out.drain(..) {
            if is_err {
                let _ = out.lock().flush();
                let _ = err.lock().write_all(s.as_bytes());
            } else {
                let mut o = out.lock();
                let _ = o.write_all(s.as_bytes());
                let _ = o.flush();
            }
        }
    }

    fn print_event_text(&mut self, text: String) {
        if self.print_watches {
            let mut o = std::io::stdout().lock();
            let _ = write!(o, "\nWATCHER::\n\n{text}\n");
            let _ = o.flush();
        }
    }

    fn handle(&mut self, ev: Ev) {
        match ev {
            Ev::State(s) => {
                if self.last_state == Some(s)
                    || s == SessionState::Connecting
                        && self.last_state != Some(SessionState::Connected)
                {
                    return;
                }
                self.last_state = Some(s);
                let text = format!(
                    "WatchedEvent state:{} type:None path:null",
                    fmt::keeper_state(s)
                );
                self.print_event_text(text);
            }
            Ev::Watch(e) => self.print_event_text(fmt::event(&e)),
            Ev::Ended(i) => {
                self.watches.remove(i);
            }
        }
    }

    /// Prints the events already received, without waiting.
    fn drain(&mut self) {
        loop {
            let mut got = None;
            if let Some(rx) = self.states.as_mut() {
                match rx.try_recv() {
                    Ok(s) => got = Some(Ev::State(s)),
                    Err(mpsc::error::TryRecvError::Disconnected) => self.states = None,
                    Err(mpsc::error::TryRecvError::Empty) => {}
                }
            }
            if got.is_none() {
                for (i, (_, _, w)) in self.watches.iter_mut().enumerate() {
                    match w.try_recv() {
                        Ok(e) => got = Some(Ev::Watch(e)),
                        Err(mpsc::error::TryRecvError::Disconnected) => got = Some(Ev::Ended(i)),
                        Err(mpsc::error::TryRecvError::Empty) => continue,
                    }
                    break;
                }
            }
            match got {
                Some(ev) => self.handle(ev),
                None => return,
            }
        }
    }

    /// Waits for the next event from the session or any watcher.
    async fn next_event(&mut self) -> Ev {
        std::future::poll_fn(|cx| {
            if let Some(rx) = self.states.as_mut() {
                match rx.poll_recv(cx) {
                    Poll::Ready(Some(s)) => return Poll::Ready(Ev::State(s)),
                    Poll::Ready(None) => self.states = None,
                    Poll::Pending => {}
                }
            }
            for (i, (_, _, w)) in self.watches.iter_mut().enumerate() {
                match w.poll_recv(cx) {
                    Poll::Ready(Some(e)) => return Poll::Ready(Ev::Watch(e)),
                    Poll::Ready(None) => return Poll::Ready(Ev::Ended(i)),
                    Poll::Pending => {}
                }
            }
            Poll::Pending
        })
        .await
    }

    /// Opens a session; `announce` prints zkCli's startup `Connecting to` line.
    async fn connect(&mut self, announce: bool) -> Result<(), String> {
        if announce {
            let mut o = std::io::stdout().lock();
            let _ = writeln!(o, "Connecting to {}", self.server);
            let _ = o.flush();
        }
        let mut b = Client::builder()
            .session_timeout(self.timeout)
            .read_only(self.read_only);
        if let Some(t) = &self.tls {
            b = b.tls(t.clone());
        }
        let c = b
            .connect(&self.server)
            .await
            .map_err(|e| format!("Unable to connect to {}: {e}", self.server))?;
        self.states = Some(c.state_events());
        self.last_state = None;
        if let Ok(mut s) = self.shared.lock() {
            *s = Some(c.clone());
        }
        self.client = Some(c);
        Ok(())
    }

    async fn close(&mut self) {
        if let Ok(mut s) = self.shared.lock() {
            *s = None;
        }
        if let Some(c) = self.client.take() {
            c.close().await;
            self.drain();
            if self.last_state != Some(SessionState::Closed) {
                self.handle(Ev::State(SessionState::Closed));
            }
            self.states = None;
            self.watches.clear();
        }
    }

    fn prompt(&self) -> String {
        let st = self
            .client
            .as_ref()
            .map(|c| c.state())
            .unwrap_or(SessionState::Closed);
        format!(
            "[zk: {}({}) {}] ",
            self.server,
            fmt::prompt_state(st),
            self.count
        )
    }

    /// Runs one line; returns false for `quit`.
    async fn execute_line(&mut self, line: &str) -> bool {
        let words = fmt::split_words(line);
        if words.is_empty() {
            return true;
        }
        self.history.insert(self.count, line.to_string());
        let r = self.process(&words).await;
        self.count += 1;
        match r {
            Ok(true) => {}
            Ok(false) => {
                self.drain();
                self.flush();
                return false;
            }
            Err(Fail(msg)) => {
                self.failed = true;
                if !msg.is_empty() {
                    self.out.push((true, format!("{msg}\n")));
                }
            }
        }
        self.drain();
        self.flush();
        true
    }

    fn client(&self) -> Result<Client, Fail> {
        self.client
            .clone()
            .ok_or_else(|| Fail("Not connected".into()))
    }

    async fn process(&mut self, words: &[String]) -> Result<bool, Fail> {
        let cmd = words[0].as_str();
        match cmd {
            "quit" => {
                self.close().await;
                return Ok(false);
            }
            "history" => {
                let lo = self.count.saturating_sub(10);
                for i in lo..=self.count {
                    if let Some(h) = self.history.get(&i).cloned() {
                        self.say(format!("{i} - {h}"));
                    }
                }
            }
            "redo" => {
                let n: Option<usize> = words.get(1).and_then(|w| w.parse().ok());
                let Some(n) = n.filter(|n| *n < self.count) else {
                    return Err(Fail("Command index out of range".into()));
                };
                let line = self.history.get(&n).cloned().unwrap_or_default();
                let again = fmt::split_words(&line);
                if again.first().map(String::as_str) == Some("redo") {
                    return Err(Fail("No redoing redos".into()));
                }
                self.history.insert(self.count, line);
                return Box::pin(self.process(&again)).await;
            }
            "printwatches" => match words.get(1).map(String::as_str) {
                Some(v) => self.print_watches = v == "on",
                None => {
                    let s = if self.print_watches { "on" } else { "off" };
                    self.say(format!("printwatches is {s}"));
                }
            },
            "connect" => {
                if let Some(h) = words.get(1) {
                    self.close().await;
                    self.server = h.clone();
                    self.connect(false).await.map_err(Fail)?;
                    // let the SyncConnected event print before the next command
                    tokio::task::yield_now().await;
                } else {
                    return Err(Fail(usage_of("connect")));
                }
            }
            "close" => self.close().await,
            "version" => {
                if words.len() > 1 {
                    return Err(Fail(usage_of("version")));
                }
                self.say(format!(
                    "ZooKeeper CLI version: 3.9.3-zkrs-{}",
                    env!("CARGO_PKG_VERSION")
                ));
            }
            _ => {
                if !USAGE.iter().any(|(n, _)| *n == cmd) {
                    let mut s = String::from(
                        "ZooKeeper -server host:port -client-configuration properties-file cmd args\n",
                    );
                    for (_, u) in USAGE {
                        s.push_str(&format!("\t{u}\n"));
                    }
                    self.out.push((true, s));
                    return Err(Fail(format!("Command not found: Command not found {cmd}")));
                }
                // a request made while disconnected waits for a reconnect: give up after the
                // session timeout, as zkCli's client reports ConnectionLoss
                let limit = self.timeout;
                match tokio::time::timeout(limit, self.zk_command(cmd, words)).await {
                    Ok(r) => r?,
                    Err(_) => {
                        let path = words.iter().skip(1).find(|w| w.starts_with('/'));
                        return Err(Fail(format!(
                            "KeeperErrorCode = ConnectionLoss for {}",
                            path.map(String::as_str).unwrap_or("")
                        )));
                    }
                }
            }
        }
        Ok(true)
    }

    fn watch(&mut self, path: &str, kind: Kind, w: Watcher) {
        self.watches.push((path.to_string(), kind, w));
    }

    /// getData of `path`, leaving a data watch on it when `watch` (`-w`).
    async fn get_data(
        &mut self,
        c: &Client,
        path: &str,
        watch: bool,
    ) -> zk_client::Result<(Vec<u8>, zk_client::Stat)> {
        if !watch {
            return c.get_data(path).await;
        }
        let (d, s, w) = c.get_data_w(path).await?;
        self.watch(path, Kind::Data, w);
        Ok((d, s))
    }

    /// `setquota`, `listquota`, `delquota` (see [`quota`]).
    async fn quota_command(&mut self, cmd: &str, words: &[String]) -> CmdResult {
        let (flags, valued) = match cmd {
            "setquota" => ("", "nbNB"),
            "delquota" => ("nbNB", ""),
            _ => ("", ""),
        };
        let o = parse_opts(words, flags, valued)?;
        let sel = if cmd == "listquota" {
            None
        } else {
            quota::group_option(words, cmd == "setquota").map_err(Fail)?
        };
        if cmd == "setquota" && sel.is_none() {
            return Err(Fail(quota::missing_option()));
        }
        if o.args.len() < 2 {
            return Err(Fail(usage_of(cmd)));
        }
        let c = self.client()?;
        let path = o.args[1].clone();
        let mut lines = Vec::new();
        let r = match (cmd, sel) {
            ("setquota", Some(opt)) => {
                if path.starts_with(quota::QUOTA) {
                    lines.push(quota::Line::Err(format!(
                        "cannot set a quota under the path: {}",
                        quota::QUOTA
                    )));
                    Ok(())
                } else {
                    let v = o.vals.get(&opt).cloned().unwrap_or_default();
                    let n = if matches!(opt, 'n' | 'N') {
                        v.parse::<i32>().map(i64::from).ok()
                    } else {
                        v.parse::<i64>().ok()
                    };
                    match n {
                        None => {
                            lines.push(quota::Line::Err(
                                "NumberFormatException happens when parsing the option value"
                                    .into(),
                            ));
                            Ok(())
                        }
                        Some(n) if matches!(opt, 'n' | 'N') && n <= 0 => {
                            lines.push(quota::Line::Err(
                                "the num quota must be greater than zero".into(),
                            ));
                            Ok(())
                        }
                        Some(n) if n < 0 => {
                            lines.push(quota::Line::Err(
                                "the bytes quota must be greater than or equal to zero".into(),
                            ));
                            Ok(())
                        }
                        Some(n) => {
                            let mut q = quota::StatsTrack::default();
                            for (g, _) in quota::GROUP {
                                q.set(quota::key_of(g), -1);
                            }
                            q.set(quota::key_of(opt), n);
                            quota::create_quota(&c, &path, &q, &mut lines).await
                        }
                    }
                }
            }
            ("listquota", _) => quota::list_quota(&c, &path, &mut lines).await,
            _ => quota::del_quota(&c, &path, sel.map(quota::key_of), &mut lines).await,
        };
        for l in lines {
            match l {
                quota::Line::Out(s) => self.say(s),
                quota::Line::Err(s) => self.out.push((true, format!("{s}\n"))),
            }
        }
        r.map_err(Fail)
    }

    /// `reconfig`: prints the committed configuration (and its stat with `-s`), or zkCli's
    /// message for the server's error (a KeeperException without a path).
    async fn reconfig_command(&mut self, words: &[String]) -> CmdResult {
        let r = reconfig::parse(words, &usage_of("reconfig")).map_err(Fail)?;
        let c = self.client()?;
        let done = c
            .reconfig(
                r.joining.as_deref(),
                r.leaving.as_deref(),
                r.members.as_deref(),
                r.from_config,
            )
            .await;
        match done {
            Ok((config, st)) => {
                self.say(format!(
                    "Committed new configuration:\n{}",
                    String::from_utf8_lossy(&config)
                ));
                if r.stat {
                    self.out.push((false, fmt::stat(&st)));
                }
                Ok(())
            }
            Err(e) => Err(Fail(match e.code() {
                Some(code) => format!("KeeperErrorCode = {}", fmt::code_message(code)),
                None => e.to_string(),
            })),
        }
    }

    async fn zk_command(&mut self, cmd: &str, words: &[String]) -> CmdResult {
        if matches!(cmd, "setquota" | "listquota" | "delquota") {
            return self.quota_command(cmd, words).await;
        }
        if cmd == "reconfig" {
            return self.reconfig_command(words).await;
        }
        let (flags, valued, nargs) = match cmd {
            "ls" => ("swR", "", 2),
            "get" => ("sw", "", 2),
            "set" => ("s", "v", 3),
            "create" => ("sec", "t", 2),
            "delete" => ("", "v", 2),
            "deleteall" => ("", "b", 2),
            "stat" => ("w", "", 2),
            "getAcl" => ("s", "", 2),
            "setAcl" => ("sR", "v", 3),
            "addauth" => ("", "", 2),
            "sync" => ("", "", 2),
            "addWatch" => ("", "m", 2),
            "removewatches" => ("cdal", "", 2),
            "getEphemerals" => ("", "", 1),
            "getAllChildrenNumber" => ("", "", 2),
            "config" => ("cws", "", 1),
            _ => ("", "", 1),
        };
        let o = parse_opts(words, flags, valued)?;
        if o.args.len() < nargs {
            return Err(Fail(usage_of(cmd)));
        }
        let c = self.client()?;
        let path = o.args.get(1).cloned().unwrap_or_default();
        let takes_path = !(matches!(cmd, "addauth" | "whoami" | "config")
            || cmd == "getEphemerals" && path.is_empty());
        if takes_path {
            fmt::validate_path(&path, cmd == "create" && o.flags.contains(&'s')).map_err(Fail)?;
        }
        let ke = |e: Error| Fail(fmt::error(&e, &path));
        match cmd {
            "ls" => {
                if o.flags.contains(&'R') {
                    for p in subtree_dfs(&c, &path).await.map_err(ke)? {
                        self.say(p);
                    }
                    return Ok(());
                }
                let mut kids = if o.flags.contains(&'w') {
                    let (k, w) = c.get_children_w(&path).await.map_err(ke)?;
                    self.watch(&path, Kind::Child, w);
                    k
                } else {
                    c.get_children(&path).await.map_err(ke)?
                };
                kids.sort();
                self.say(format!("[{}]", kids.join(", ")));
                if o.flags.contains(&'s') {
                    let (_, st) = c.get_children2(&path).await.map_err(ke)?;
                    self.out.push((false, fmt::stat(&st)));
                }
            }
            "get" => {
                let (data, st) = self
                    .get_data(&c, &path, o.flags.contains(&'w'))
                    .await
                    .map_err(ke)?;
                self.say(data_text(&data));
                if o.flags.contains(&'s') {
                    self.out.push((false, fmt::stat(&st)));
                }
            }
            "set" => {
                let v = int_opt(&o, 'v', -1)? as i32;
                let st = c
                    .set_data(&path, o.args[2].as_bytes(), v)
                    .await
                    .map_err(ke)?;
                if o.flags.contains(&'s') {
                    self.out.push((false, fmt::stat(&st)));
                }
            }
            "create" => {
                let (s, e, ct) = (
                    o.flags.contains(&'s'),
                    o.flags.contains(&'e'),
                    o.flags.contains(&'c'),
                );
                let ttl = int_opt(&o, 't', 0)?;
                if ct && (s || e) {
                    return Err(Fail("-c cannot be combined with -s or -e. Containers cannot be ephemeral or sequential.".into()));
                }
                if o.vals.contains_key(&'t') && e {
                    return Err(Fail("TTLs cannot be used with Ephemeral znodes".into()));
                }
                if o.vals.contains_key(&'t') && ct {
                    return Err(Fail("TTLs cannot be used with Container znodes".into()));
                }
                let ttl_mode = o.vals.contains_key(&'t');
                let mode = match (ttl_mode, ct, s, e) {
                    (true, _, true, _) => CreateMode::PersistentSequentialWithTtl,
                    (true, _, false, _) => CreateMode::PersistentWithTtl,
                    (_, true, _, _) => CreateMode::Container,
                    (_, _, true, true) => CreateMode::EphemeralSequential,
                    (_, _, true, false) => CreateMode::PersistentSequential,
                    (_, _, false, true) => CreateMode::Ephemeral,
                    _ => CreateMode::Persistent,
                };
                let data = o
                    .args
                    .get(2)
                    .map(|d| d.as_bytes().to_vec())
                    .unwrap_or_default();
                let acl = match o.args.get(3) {
                    Some(a) => {
                        let mut errs = String::new();
                        let acl = fmt::parse_acl(a, &mut errs);
                        if !errs.is_empty() {
                            self.out.push((true, errs));
                        }
                        acl
                    }
                    None => fmt::open_acl(),
                };
                let created = if ttl_mode {
                    c.create_ttl(&path, &data, &acl, mode, ttl)
                        .await
                        .map(|(p, _)| p)
                } else {
                    c.create(&path, &data, &acl, mode).await
                };
                let created = created.map_err(ke)?;
                self.say(format!("Created {created}"));
            }
            "delete" => {
                let v = int_opt(&o, 'v', -1)? as i32;
                c.delete(&path, v).await.map_err(ke)?;
            }
            "deleteall" => {
                let batch = int_opt(&o, 'b', 1000)?.max(1) as usize;
                let tree = subtree_bfs(&c, &path).await.map_err(ke)?;
                let ops: Vec<Op> = tree.iter().rev().map(|p| Op::delete(p, -1)).collect();
                for chunk in ops.chunks(batch) {
                    c.multi(chunk).await.map_err(ke)?;
                }
            }
            "stat" => {
                let st = if o.flags.contains(&'w') {
                    let (st, w) = c.exists_w(&path).await.map_err(ke)?;
                    self.watch(&path, Kind::Data, w);
                    st
                } else {
                    c.exists(&path).await.map_err(ke)?
                };
                let st = st.ok_or_else(|| ke(Error::Server(zk_client::ErrorCode::NoNode)))?;
                self.out.push((false, fmt::stat(&st)));
            }
            "getAcl" => {
                let (acl, st) = c.get_acl(&path).await.map_err(ke)?;
                self.out.push((false, fmt::acls(&acl)));
                if o.flags.contains(&'s') {
                    self.out.push((false, fmt::stat(&st)));
                }
            }
            "setAcl" => {
                let v = int_opt(&o, 'v', -1)? as i32;
                let mut errs = String::new();
                let acl = fmt::parse_acl(&o.args[2], &mut errs);
                if !errs.is_empty() {
                    self.out.push((true, errs));
                }
                let paths = if o.flags.contains(&'R') {
                    subtree_dfs(&c, &path).await.map_err(ke)?
                } else {
                    vec![path.clone()]
                };
                for p in paths {
                    let st = c
                        .set_acl(&p, &acl, v)
                        .await
                        .map_err(|e| Fail(fmt::error(&e, &p)))?;
                    if o.flags.contains(&'s') {
                        self.out.push((false, fmt::stat(&st)));
                    }
                }
            }
            "addauth" => {
                let auth = o.args.get(2).cloned().unwrap_or_default();
                c.add_auth(&o.args[1], auth.as_bytes())
                    .await
                    .map_err(|e| Fail(format!("{e}")))?;
            }
            "sync" => match c.sync(&path).await {
                Ok(()) => self.say("Sync is OK"),
                Err(Error::BadArguments(m)) => return Err(Fail(m)),
                Err(e) => {
                    let rc = e.code().map(|c| c.code()).unwrap_or(-1);
                    return Err(Fail(format!("Sync has failed rc={rc}")));
                }
            },
            "addWatch" => {
                let mode = match o.vals.get(&'m').map(String::as_str) {
                    None | Some("PERSISTENT_RECURSIVE") => AddWatchMode::PersistentRecursive,
                    Some("PERSISTENT") => AddWatchMode::Persistent,
                    Some(m) => return Err(Fail(format!("Unsupported mode: {m}"))),
                };
                let w = c.add_watch(&path, mode).await.map_err(ke)?;
                self.watch(&path, Kind::Persistent, w);
            }
            "removewatches" => {
                let kind = if o.flags.contains(&'c') {
                    WatcherType::Children
                } else if o.flags.contains(&'d') {
                    WatcherType::Data
                } else {
                    WatcherType::Any
                };
                let matches = |k: Kind| match kind {
                    WatcherType::Children => k == Kind::Child,
                    WatcherType::Data => k == Kind::Data,
                    _ => true,
                };
                let held: Vec<Kind> = self
                    .watches
                    .iter()
                    .filter(|(p, k, _)| *p == path && matches(*k))
                    .map(|(_, k, _)| *k)
                    .collect();
                // The removal events say Disconnected when the server could not be reached
                // and `-l` removed the watches locally (ZooKeeper's ClientCnxn.queueEvent).
                let mut state = KeeperState::SyncConnected;
                if o.flags.contains(&'l') {
                    let local_only = c.remove_watches_local(&path, kind).await.map_err(ke)?;
                    if let Some(Error::ConnectionLoss | Error::SessionExpired) = local_only {
                        state = KeeperState::Disconnected;
                    }
                } else {
                    c.remove_watches(&path, kind).await.map_err(ke)?;
                }
                // the client's watcher is told of each kind of watch removed
                self.drain();
                self.watches
                    .retain(|(p, k, _)| !(*p == path && matches(*k)));
                for (k, t) in [
                    (Kind::Data, EventType::DataWatchRemoved),
                    (Kind::Child, EventType::ChildWatchRemoved),
                    (Kind::Persistent, EventType::PersistentWatchRemoved),
                ] {
                    if held.contains(&k) {
                        let e = WatchedEvent {
                            event_type: t,
                            state,
                            path: path.clone(),
                            zxid: -1,
                        };
                        self.handle(Ev::Watch(e));
                    }
                }
            }
            "getEphemerals" => {
                let p = if path.is_empty() {
                    "/".into()
                } else {
                    path.clone()
                };
                let e = c
                    .get_ephemerals(&p)
                    .await
                    .map_err(|e| Fail(fmt::error(&e, &p)))?;
                self.say(format!("[{}]", e.join(", ")));
            }
            "getAllChildrenNumber" => {
                let n = c.get_all_children_number(&path).await.map_err(ke)?;
                self.say(n.to_string());
            }
            "whoami" => {
                let ids = c.whoami().await.map_err(|e| Fail(format!("{e}")))?;
                self.say("Auth scheme: User");
                for i in ids {
                    self.say(format!("{}: {}", i.auth_scheme, i.user));
                }
            }
            "config" => {
                let p = "/zookeeper/config";
                let fail = |e: Error| Fail(fmt::error(&e, p));
                let (data, st) = self
                    .get_data(&c, p, o.flags.contains(&'w'))
                    .await
                    .map_err(fail)?;
                let text = String::from_utf8_lossy(&data).into_owned();
                if o.flags.contains(&'c') {
                    self.say(config::client_config_str(&text));
                } else {
                    self.say(text);
                }
                if o.flags.contains(&'s') {
                    self.out.push((false, fmt::stat(&st)));
                }
            }
            _ => return Err(Fail(usage_of(cmd))),
        }
        Ok(())
    }
}

/// Node data as zkCli prints it: `null` for none (zkCli's create without data sends none;
/// our client cannot tell an empty value from a missing one).
fn data_text(d: &[u8]) -> String {
    if d.is_empty() {
        "null".into()
    } else {
        String::from_utf8_lossy(d).into_owned()
    }
}

fn child_path(parent: &str, child: &str) -> String {
    if parent == "/" {
        format!("/{child}")
    } else {
        format!("{parent}/{child}")
    }
}

/// `ZKUtil.visitSubTreeDFS` order: the node (read first, as zkCli does), then for each
/// node its sorted children, then each child's subtree.
async fn subtree_dfs(c: &Client, root: &str) -> zk_client::Result<Vec<String>> {
    c.get_data(root).await?;
    let mut out = vec![root.to_string()];
    let mut stack = vec![root.to_string()];
    while let Some(p) = stack.pop() {
        let mut kids = match c.get_children(&p).await {
            Ok(k) => k,
            Err(e) if e.code() == Some(zk_client::ErrorCode::NoNode) => continue,
            Err(e) => return Err(e),
        };
        kids.sort();
        let paths: Vec<String> = kids.iter().map(|k| child_path(&p, k)).collect();
        out.extend(paths.iter().cloned());
        stack.extend(paths.into_iter().rev());
    }
    Ok(out)
}

/// `ZKUtil.listSubTreeBFS`.
async fn subtree_bfs(c: &Client, root: &str) -> zk_client::Result<Vec<String>> {
    let mut out = vec![root.to_string()];
    let mut i = 0;
    while i < out.len() {
        let p = out[i].clone();
        match c.get_children(&p).await {
            Ok(mut kids) => {
                kids.sort();
                out.extend(kids.iter().map(|k| child_path(&p, k)));
            }
            Err(e) if i > 0 && e.code() == Some(zk_client::ErrorCode::NoNode) => {}
            Err(e) => return Err(e),
        }
        i += 1;
    }
    Ok(out)
}

/// Reads lines on a thread (rustyline on a terminal, plain lines otherwise); each prompt
/// sent on the returned sender asks for one line. `None` means end of input.
fn line_reader(
    tty: bool,
    helper: complete::ZkHelper,
) -> (
    std::sync::mpsc::Sender<String>,
    mpsc::UnboundedReceiver<Option<String>>,
) {
    let (ptx, prx) = std::sync::mpsc::channel::<String>();
    let (ltx, lrx) = mpsc::unbounded_channel();
    std::thread::spawn(move || {
        if tty {
            let Ok(mut ed) = rustyline::Editor::<complete::ZkHelper, _>::new() else {
                let _ = ltx.send(None);
                return;
            };
            ed.set_helper(Some(helper));
            while let Ok(prompt) = prx.recv() {
                match ed.readline(&prompt) {
                    Ok(l) => {
                        if !l.trim().is_empty() {
                            let _ = ed.add_history_entry(l.as_str());
                        }
                        if ltx.send(Some(l)).is_err() {
                            return;
                        }
                    }
                    Err(rustyline::error::ReadlineError::Interrupted) => {
                        if ltx.send(Some(String::new())).is_err() {
                            return;
                        }
                    }
                    Err(_) => {
                        let _ = ltx.send(None);
                        return;
                    }
                }
            }
        } else {
            let mut lines = std::io::stdin().lock().lines();
            while prx.recv().is_ok() {
                let l = lines.next().and_then(|l| l.ok());
                let end = l.is_none();
                if ltx.send(l).is_err() || end {
                    return;
                }
            }
        }
    });
    (ptx, lrx)
}

async fn run(
    server: String,
    timeout: Duration,
    read_only: bool,
    tls: Option<zk_client::tls::TlsConfig>,
    cmd: Vec<String>,
) -> ExitCode {
    let mut sh = Shell {
        server,
        timeout,
        read_only,
        tls,
        client: None,
        shared: Default::default(),
        states: None,
        last_state: None,
        watches: Vec::new(),
        print_watches: true,
        history: BTreeMap::new(),
        count: 0,
        out: Vec::new(),
        failed: false,
    };
    if let Err(e) = sh.connect(true).await {
        eprintln!("{e}");
        return ExitCode::FAILURE;
    }
    if !cmd.is_empty() {
        // one command (zkCli's trailing arguments): no banner, no close
        let line = cmd
            .iter()
            .map(|w| {
                if w.contains(char::is_whitespace) {
                    format!("\"{w}\"")
                } else {
                    w.clone()
                }
            })
            .collect::<Vec<_>>()
            .join(" ");
        sh.drain();
        sh.execute_line(&line).await;
        return if sh.failed {
            ExitCode::FAILURE
        } else {
            ExitCode::SUCCESS
        };
    }
    let tty = std::io::stdin().is_terminal();
    {
        let mut o = std::io::stdout().lock();
        let _ = writeln!(o, "Welcome to ZooKeeper!");
        let _ = writeln!(
            o,
            "JLine support is {}",
            if tty { "enabled" } else { "disabled" }
        );
        let _ = o.flush();
    }
    sh.drain();
    let helper = complete::ZkHelper {
        client: sh.shared.clone(),
        rt: tokio::runtime::Handle::current(),
        commands: command_names(),
    };
    let (ptx, mut lrx) = line_reader(tty, helper);
    loop {
        let prompt = if tty { sh.prompt() } else { String::new() };
        if ptx.send(prompt).is_err() {
            break;
        }
        let line = loop {
            tokio::select! {
                l = lrx.recv() => break l.flatten(),
                ev = sh.next_event() => sh.handle(ev),
            }
        };
        let Some(line) = line else {
            sh.close().await;
            break;
        };
        sh.drain();
        if !sh.execute_line(&line).await {
            break;
        }
    }
    if sh.failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1).peekable();
    let mut server = "localhost:2181".to_string();
    let mut timeout = Duration::from_millis(30_000);
    let mut cmd = Vec::new();
    let mut read_only = false;
    let mut client_config: Option<String> = None;
    while let Some(a) = args.next() {
        match a.as_str() {
            "-server" if cmd.is_empty() => server = args.next().unwrap_or(server),
            "-timeout" if cmd.is_empty() => {
                if let Some(t) = args.next().and_then(|t| t.parse().ok()) {
                    timeout = Duration::from_millis(t);
                }
            }
            "-r" if cmd.is_empty() => read_only = true,
            "-waitforconnection" if cmd.is_empty() => {}
            "-client-configuration" if cmd.is_empty() => client_config = args.next(),
            _ => cmd.push(a),
        }
    }
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("zkcli: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let tls = match secure::client_tls(client_config.as_deref()) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("zkcli: {e}");
            return ExitCode::FAILURE;
        }
    };
    rt.block_on(run(server, timeout, read_only, tls, cmd))
}
