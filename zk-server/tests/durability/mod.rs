//! Support for the durability tests (`durability_*.rs`): the real `zk-server` binary run as a
//! child process on a scratch data directory (started, killed with SIGKILL, stopped with
//! SIGTERM, restarted), a raw wire-level client that reports a lost connection instead of
//! panicking (so a request in flight at a kill is *indeterminate*), a tree dump for exact
//! before/after comparisons, and helpers that read the on-disk files the way Apache ZooKeeper
//! lays them out (`version-2/snapshot.<hex zxid>`, `version-2/log.<hex zxid>`).
//!
//! Everything is bounded: every network wait has a deadline, every child process is killed
//! (by its own PID, through `Child::kill`) when its handle is dropped, and every scratch
//! directory is removed when its [`ZkDir`] is dropped (set `ZKRS_KEEP_DIRS=1` to keep them
//! for a post-mortem).
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File};
use std::hash::{Hash, Hasher};
use std::io::{Read, Seek, SeekFrom, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use base64::Engine;
use sha1::{Digest, Sha1};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;
use zk_proto::codec::{Decode, Encode, Reader};
use zk_proto::data::{Acl, Stat};
use zk_proto::proto::*;
use zk_proto::request::{decode_multi_results, encode_request, MultiOp, MultiResult, Request};
use zk_proto::{consts::xid, CreateMode, ErrorCode, OpCode, Perms};

/// The server binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_zk-server");
/// The longest a single network step (connect, one request's reply) may take before the test
/// calls the server hung.
pub const STEP: Duration = Duration::from_secs(20);
/// How long a server gets to come up (recovery included) or to exit.
pub const PROCESS_DEADLINE: Duration = Duration::from_secs(30);
/// The super user configured on every server started here.
pub const SUPER_AUTH: &str = "super:durability";

// ---------------------------------------------------------------------------------------------
// Small utilities

/// A deterministic PRNG (xorshift64*): the crash test's schedule follows from its seed.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }

    /// True with probability `pct` percent.
    pub fn chance(&mut self, pct: u64) -> bool {
        self.below(100) < pct
    }

    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(n + 8);
        while out.len() < n {
            out.extend_from_slice(&self.next_u64().to_le_bytes());
        }
        out.truncate(n);
        out
    }
}

/// A payload of `len` bytes that starts with a readable `tag` (handy in hex dumps).
pub fn payload(rng: &mut Rng, tag: &str, len: usize) -> Vec<u8> {
    let mut v = tag.as_bytes().to_vec();
    v.push(b'|');
    if v.len() < len {
        let more = len - v.len();
        v.extend(rng.bytes(more));
    }
    v
}

/// A fingerprint of some bytes (length and SipHash), so models need not keep every payload.
pub fn fingerprint(data: &[u8]) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    data.hash(&mut h);
    h.finish()
}

/// `user:base64(sha1(user:password))`, computed independently of the server
/// (`DigestAuthenticationProvider.generateDigest`).
pub fn digest(user_password: &str) -> String {
    let user = user_password.split(':').next().unwrap_or_default();
    let hash = Sha1::digest(user_password.as_bytes());
    format!(
        "{user}:{}",
        base64::engine::general_purpose::STANDARD.encode(hash)
    )
}

pub fn open_acl() -> Vec<Acl> {
    Acl::open_unsafe()
}

pub fn acl(perms: i32, scheme: &str, id: &str) -> Vec<Acl> {
    vec![Acl::new(perms, scheme, id)]
}

#[path = "../../../testkit/src/ports.rs"]
mod ports;

pub use ports::free_port;

/// Sends a four-letter word and reads the answer; `None` if nobody answers.
pub async fn four_letter(addr: SocketAddr, cmd: &str) -> Option<String> {
    let step = Duration::from_secs(2);
    let mut s = timeout(step, TcpStream::connect(addr)).await.ok()?.ok()?;
    timeout(step, s.write_all(cmd.as_bytes()))
        .await
        .ok()?
        .ok()?;
    let mut out = String::new();
    timeout(step, s.read_to_string(&mut out)).await.ok()?.ok()?;
    Some(out)
}

// ---------------------------------------------------------------------------------------------
// Data directories and server processes

/// A scratch root holding `zoo.cfg`, the server's stderr logs, `data/` (dataDir) and, when
/// asked for, a separate `txnlog/` (dataLogDir). Removed on drop.
pub struct ZkDir {
    pub root: PathBuf,
    pub data_dir: PathBuf,
    pub log_dir: PathBuf,
    /// zoo.cfg settings besides the directories, the client port and the super user.
    settings: Vec<(String, String)>,
    starts: u32,
}

impl ZkDir {
    /// A new scratch directory. `settings` are zoo.cfg `key=value` pairs (tickTime, snapCount,
    /// preAllocSize, ...); tickTime defaults to 100 ms here unless given.
    pub fn new(name: &str, separate_log_dir: bool, settings: &[(&str, &str)]) -> ZkDir {
        static N: AtomicU64 = AtomicU64::new(0);
        let root = std::env::temp_dir().join(format!(
            "zkrs-dur-{name}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&root);
        let data_dir = root.join("data");
        let log_dir = if separate_log_dir {
            root.join("txnlog")
        } else {
            data_dir.clone()
        };
        fs::create_dir_all(&data_dir).unwrap();
        fs::create_dir_all(&log_dir).unwrap();
        let mut dir = ZkDir {
            root,
            data_dir,
            log_dir,
            settings: Vec::new(),
            starts: 0,
        };
        dir.set("tickTime", "100");
        for (k, v) in settings {
            dir.set(k, v);
        }
        dir
    }

    /// Sets (or replaces) a zoo.cfg setting for the next start.
    pub fn set(&mut self, key: &str, value: &str) {
        self.settings.retain(|(k, _)| k != key);
        self.settings.push((key.to_owned(), value.to_owned()));
    }

    /// `dataDir/version-2`: snapshots.
    pub fn snap_dir(&self) -> PathBuf {
        self.data_dir.join("version-2")
    }

    /// `dataLogDir/version-2`: txn logs.
    pub fn txn_dir(&self) -> PathBuf {
        self.log_dir.join("version-2")
    }

    pub fn cfg_path(&self) -> PathBuf {
        self.root.join("zoo.cfg")
    }

    /// Writes zoo.cfg for a server on `port`.
    pub fn write_cfg(&self, port: u16) {
        let mut body = format!(
            "dataDir={}\ndataLogDir={}\nclientPort={port}\nclientPortAddress=127.0.0.1\n\
             4lw.commands.whitelist=ruok,srvr\nadmin.enableServer=false\nDigestAuthenticationProvider.superDigest={}\n",
            self.data_dir.display(),
            self.log_dir.display(),
            digest(SUPER_AUTH)
        );
        for (k, v) in &self.settings {
            body.push_str(&format!("{k}={v}\n"));
        }
        fs::write(self.cfg_path(), body).unwrap();
    }

    /// Starts `zk-server zoo.cfg` on a fresh port without waiting for it. Its stderr goes to
    /// `stderr.<n>.log` in the root.
    pub fn spawn(&mut self) -> ServerProc {
        let port = free_port();
        self.write_cfg(port);
        self.starts += 1;
        let stderr_path = self.root.join(format!("stderr.{}.log", self.starts));
        let err = File::create(&stderr_path).unwrap();
        let spawned_at = Instant::now();
        let child = Command::new(BIN)
            .arg(self.cfg_path())
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(err))
            .spawn()
            .expect("spawn zk-server");
        ServerProc {
            child: Some(child),
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            stderr_path,
            spawned_at,
        }
    }

    /// Starts the server and waits until it answers `ruok`. Panics (with the server's stderr)
    /// if it exits or does not come up in time. A port taken by someone else between our
    /// probe and the server's bind is retried on another port.
    pub async fn start(&mut self) -> ServerProc {
        for _ in 0..5 {
            let mut p = self.spawn();
            match p.wait_ready().await {
                Ok(()) => return p,
                Err(e) if e.contains("Address already in use") => continue,
                Err(e) => panic!("zk-server did not start: {e}"),
            }
        }
        panic!("zk-server could not bind a free port in 5 attempts");
    }

    /// Runs the server expecting it to refuse to start: returns its exit status and stderr.
    /// Panics if it comes up and serves instead.
    pub async fn start_expecting_failure(&mut self) -> (ExitStatus, String) {
        let mut p = self.spawn();
        let deadline = Instant::now() + PROCESS_DEADLINE;
        loop {
            if let Some(st) = p.try_wait() {
                return (st, p.stderr());
            }
            if four_letter(p.addr, "ruok").await.as_deref() == Some("imok") {
                let err = p.stderr();
                p.kill9();
                panic!("zk-server started although it should have refused to; stderr:\n{err}");
            }
            assert!(
                Instant::now() < deadline,
                "zk-server neither served nor exited within {PROCESS_DEADLINE:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// `zk-server purge zoo.cfg -n COUNT` (zkCleanup.sh), run to completion.
    pub fn purge(&self, count: usize) -> std::process::Output {
        Command::new(BIN)
            .arg("purge")
            .arg(self.cfg_path())
            .arg("-n")
            .arg(count.to_string())
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .output()
            .expect("run zk-server purge")
    }

    pub fn snapshots(&self) -> Vec<(i64, PathBuf)> {
        zxid_files(&self.snap_dir(), "snapshot")
    }

    pub fn logs(&self) -> Vec<(i64, PathBuf)> {
        zxid_files(&self.txn_dir(), "log")
    }

    /// Every file under the data and log directories with its length and content hash.
    pub fn contents(&self) -> BTreeMap<PathBuf, (u64, u64)> {
        let mut out = BTreeMap::new();
        for d in [self.snap_dir(), self.txn_dir()] {
            let Ok(entries) = fs::read_dir(&d) else {
                continue;
            };
            for e in entries.flatten() {
                let p = e.path();
                if p.is_file() {
                    let bytes = fs::read(&p).unwrap();
                    out.insert(p, (bytes.len() as u64, fingerprint(&bytes)));
                }
            }
        }
        out
    }
}

impl Drop for ZkDir {
    fn drop(&mut self) {
        if std::env::var_os("ZKRS_KEEP_DIRS").is_some() {
            eprintln!("keeping {}", self.root.display());
            return;
        }
        let _ = fs::remove_dir_all(&self.root);
    }
}

/// A `zk-server` child process. Killed with SIGKILL when dropped if still running.
pub struct ServerProc {
    child: Option<Child>,
    pub addr: SocketAddr,
    pub stderr_path: PathBuf,
    /// When the process was started: it cannot have restored anything earlier.
    pub spawned_at: Instant,
}

impl ServerProc {
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// The exit status if the process has ended (it is reaped then).
    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        let child = self.child.as_mut()?;
        child.try_wait().expect("try_wait on zk-server")
    }

    pub fn is_running(&mut self) -> bool {
        self.child.is_some() && self.try_wait().is_none()
    }

    /// Waits until the server answers `ruok` with `imok`; `Err` with its stderr if it exits
    /// first or takes too long.
    pub async fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + PROCESS_DEADLINE;
        loop {
            if let Some(st) = self.try_wait() {
                return Err(format!(
                    "zk-server exited with {st} before serving; stderr:\n{}",
                    self.stderr()
                ));
            }
            if four_letter(self.addr, "ruok").await.as_deref() == Some("imok") {
                return Ok(());
            }
            if Instant::now() > deadline {
                let e = self.stderr_tail(60);
                self.kill9();
                return Err(format!(
                    "zk-server did not answer ruok within {PROCESS_DEADLINE:?}; stderr tail:\n{e}"
                ));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// SIGKILL (through `Child::kill`) and reap.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM to our child's PID, then waits for it to exit; returns its status. Panics if it
    /// does not exit in time (after killing it).
    pub async fn sigterm(&mut self) -> ExitStatus {
        assert!(
            self.try_wait().is_none(),
            "zk-server already exited; stderr:\n{}",
            self.stderr()
        );
        // The child is not reaped yet, so its PID is still ours.
        let ok = Command::new("kill")
            .arg("-TERM")
            .arg(self.pid().to_string())
            .status()
            .expect("run kill");
        assert!(ok.success(), "kill -TERM failed");
        match self.wait_exit(PROCESS_DEADLINE).await {
            Some(st) => st,
            None => {
                let e = self.stderr_tail(60);
                self.kill9();
                panic!("zk-server did not exit within {PROCESS_DEADLINE:?} of SIGTERM; stderr tail:\n{e}");
            }
        }
    }

    /// Polls for the process to exit, up to `limit`.
    pub async fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(st) = self.try_wait() {
                self.child = None;
                return Some(st);
            }
            if Instant::now() > deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    pub fn stderr(&self) -> String {
        fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    pub fn stderr_tail(&self, lines: usize) -> String {
        let all = self.stderr();
        let v: Vec<&str> = all.lines().collect();
        v[v.len().saturating_sub(lines)..].join("\n")
    }
}

impl Drop for ServerProc {
    fn drop(&mut self) {
        self.kill9();
    }
}

// ---------------------------------------------------------------------------------------------
// On-disk files

/// `<prefix>.<hex zxid>` files in `dir`, by zxid ascending (temp files such as
/// `.snapshot.5.tmp` are not counted).
pub fn zxid_files(dir: &Path, prefix: &str) -> Vec<(i64, PathBuf)> {
    let mut out = Vec::new();
    let Ok(entries) = fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(hex) = name.strip_prefix(prefix).and_then(|r| r.strip_prefix('.')) else {
            continue;
        };
        if let Ok(z) = i64::from_str_radix(hex, 16) {
            if e.path().is_file() {
                out.push((z, e.path()));
            }
        }
    }
    out.sort();
    out
}

/// One record of a txn log file, found by walking Apache's layout: a 16-byte file header, then
/// `long checksum, int length, byte[length], byte 0x42` records until zeros or end of file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogRecord {
    pub start: u64,
    pub end: u64,
    /// From the record's TxnHeader (clientId, cxid, zxid, time, type).
    pub zxid: i64,
    pub txn_type: i32,
}

/// The records of a log file and where its data ends (the rest is preallocated zeros).
#[derive(Debug, Clone)]
pub struct LogLayout {
    pub records: Vec<LogRecord>,
    pub data_end: u64,
    pub file_len: u64,
}

/// Walks a log file's records (independently of the server's reader). Stops at the first
/// zero checksum+length, at end of file, or at anything that is not a whole record ending in
/// 0x42.
pub fn log_layout(path: &Path) -> LogLayout {
    let bytes = fs::read(path).unwrap();
    assert!(
        bytes.len() >= 16,
        "{} is shorter than a log header",
        path.display()
    );
    assert_eq!(&bytes[..4], b"ZKLG", "{} is not a txn log", path.display());
    let mut records = Vec::new();
    let mut off = 16usize;
    loop {
        if off + 12 > bytes.len() {
            break;
        }
        let crc = i64::from_be_bytes(bytes[off..off + 8].try_into().unwrap());
        let len = i32::from_be_bytes(bytes[off + 8..off + 12].try_into().unwrap());
        if crc == 0 && len == 0 {
            break;
        }
        if len < 32 {
            break;
        }
        let end = off + 12 + len as usize + 1;
        if end > bytes.len() || bytes[end - 1] != 0x42 {
            break;
        }
        let txn = &bytes[off + 12..end - 1];
        let zxid = i64::from_be_bytes(txn[12..20].try_into().unwrap());
        let txn_type = i32::from_be_bytes(txn[28..32].try_into().unwrap());
        records.push(LogRecord {
            start: off as u64,
            end: end as u64,
            zxid,
            txn_type,
        });
        off = end;
    }
    LogLayout {
        records,
        data_end: off as u64,
        file_len: bytes.len() as u64,
    }
}

/// Flips every bit of the byte at `offset`.
pub fn flip_byte(path: &Path, offset: u64) {
    let mut f = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap();
    let mut b = [0u8; 1];
    f.seek(SeekFrom::Start(offset)).unwrap();
    f.read_exact(&mut b).unwrap();
    b[0] ^= 0xff;
    f.seek(SeekFrom::Start(offset)).unwrap();
    f.write_all(&b).unwrap();
    f.sync_all().unwrap();
}

/// Overwrites bytes at `offset` (the file is not truncated).
pub fn write_at(path: &Path, offset: u64, bytes: &[u8]) {
    let mut f = fs::OpenOptions::new().write(true).open(path).unwrap();
    f.seek(SeekFrom::Start(offset)).unwrap();
    f.write_all(bytes).unwrap();
    f.sync_all().unwrap();
}

pub fn truncate(path: &Path, len: u64) {
    let f = fs::OpenOptions::new().write(true).open(path).unwrap();
    f.set_len(len).unwrap();
    f.sync_all().unwrap();
}

// ---------------------------------------------------------------------------------------------
// A raw client

/// The connection was lost (closed, reset, or the server is gone): the outcome of a request
/// in flight is unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lost;

/// An answer (or a lost connection): `Ok(Ok(v))`, `Ok(Err(code))` for an error reply.
pub type Res<T> = Result<Result<T, ErrorCode>, Lost>;

#[derive(Debug, Clone)]
pub struct Reply {
    pub xid: i32,
    pub zxid: i64,
    pub err: i32,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn code(&self) -> ErrorCode {
        ErrorCode::from_i32(self.err)
            .unwrap_or_else(|| panic!("the server sent an unknown error code {}", self.err))
    }

    /// The body, or the error code.
    pub fn ok(&self) -> Result<&[u8], ErrorCode> {
        if self.err == 0 {
            Ok(&self.body)
        } else {
            Err(self.code())
        }
    }
}

fn decoded<T: Decode>(r: &Reply, what: &str) -> Result<T, ErrorCode> {
    r.ok().map(|b| {
        T::from_bytes(b).unwrap_or_else(|e| panic!("malformed {what} from the server: {e}"))
    })
}

/// A minimal ZooKeeper client on one connection; requests may be pipelined. Every wait is
/// bounded by [`STEP`] (a hang panics); a closed connection is [`Lost`].
pub struct Client {
    stream: TcpStream,
    buf: Vec<u8>,
    next_xid: i32,
    pub session_id: i64,
    pub passwd: Vec<u8>,
    pub timeout_ms: i32,
    /// The highest zxid seen in a reply header (sent back on a session resume).
    pub last_zxid: i64,
}

impl Client {
    /// A new session asking for `timeout_ms`. Panics if the server does not grant one.
    pub async fn connect(addr: SocketAddr, timeout_ms: i32) -> Client {
        match Self::try_connect(addr, timeout_ms).await {
            Ok(c) => c,
            Err(Lost) => panic!("could not open a session on {addr}"),
        }
    }

    pub async fn try_connect(addr: SocketAddr, timeout_ms: i32) -> Result<Client, Lost> {
        match Self::resume(addr, 0, &[0; 16], timeout_ms, 0).await? {
            Some(c) => Ok(c),
            None => panic!("the server refused a new session"),
        }
    }

    /// Reconnects to session `session_id` (0: a new session). `Ok(None)` when the server
    /// refuses (an expired or unknown session, or a bad password).
    pub async fn resume(
        addr: SocketAddr,
        session_id: i64,
        passwd: &[u8],
        timeout_ms: i32,
        last_zxid: i64,
    ) -> Result<Option<Client>, Lost> {
        let stream = match timeout(STEP, TcpStream::connect(addr)).await {
            Ok(Ok(s)) => s,
            Ok(Err(_)) => return Err(Lost),
            Err(_) => panic!("connecting to {addr} took over {STEP:?}"),
        };
        let _ = stream.set_nodelay(true);
        let mut c = Client {
            stream,
            buf: Vec::new(),
            next_xid: 1,
            session_id: 0,
            passwd: Vec::new(),
            timeout_ms: 0,
            last_zxid,
        };
        let req = ConnectRequest {
            protocol_version: 0,
            last_zxid_seen: last_zxid,
            time_out: timeout_ms,
            session_id,
            passwd: passwd.to_vec(),
            read_only: Some(false),
        };
        let mut out = Vec::new();
        zk_proto::frame::put(&mut out, &req.to_bytes());
        c.write(&out).await?;
        let frame = c.read_frame().await?;
        let resp = ConnectResponse::from_bytes(&frame).expect("a ConnectResponse");
        if resp.session_id == 0 {
            return Ok(None);
        }
        c.session_id = resp.session_id;
        c.passwd = resp.passwd;
        c.timeout_ms = resp.time_out;
        Ok(Some(c))
    }

    async fn write(&mut self, bytes: &[u8]) -> Result<(), Lost> {
        match timeout(STEP, self.stream.write_all(bytes)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(Lost),
            Err(_) => panic!("writing to the server took over {STEP:?}"),
        }
    }

    async fn read_frame(&mut self) -> Result<Vec<u8>, Lost> {
        loop {
            if self.buf.len() >= 4 {
                let len = i32::from_be_bytes(self.buf[..4].try_into().unwrap());
                assert!(len >= 0, "negative frame length {len} from the server");
                let end = 4 + len as usize;
                if self.buf.len() >= end {
                    let payload = self.buf[4..end].to_vec();
                    self.buf.drain(..end);
                    return Ok(payload);
                }
            }
            self.buf.reserve(64 * 1024);
            match timeout(STEP, self.stream.read_buf(&mut self.buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => return Err(Lost),
                Ok(Ok(_)) => {}
                Err(_) => panic!("no answer from the server within {STEP:?}"),
            }
        }
    }

    /// Sends one request; returns its xid.
    pub async fn send(&mut self, req: &Request) -> Result<i32, Lost> {
        let x = match req {
            Request::Ping => xid::PING,
            Request::Auth(_) => xid::AUTH,
            _ => {
                let x = self.next_xid;
                self.next_xid += 1;
                x
            }
        };
        let mut payload = Vec::new();
        encode_request(x, req, &mut payload);
        let mut out = Vec::with_capacity(payload.len() + 4);
        zk_proto::frame::put(&mut out, &payload);
        self.write(&out).await?;
        Ok(x)
    }

    /// The next reply that is not a watch notification.
    pub async fn recv(&mut self) -> Result<Reply, Lost> {
        loop {
            let frame = self.read_frame().await?;
            let mut r = Reader::new(&frame);
            let h = ReplyHeader::decode(&mut r).expect("a ReplyHeader");
            if h.xid == xid::NOTIFICATION {
                continue;
            }
            if h.zxid > self.last_zxid {
                self.last_zxid = h.zxid;
            }
            return Ok(Reply {
                xid: h.xid,
                zxid: h.zxid,
                err: h.err,
                body: r.rest().to_vec(),
            });
        }
    }

    pub async fn call(&mut self, req: &Request) -> Result<Reply, Lost> {
        let x = self.send(req).await?;
        let r = self.recv().await?;
        assert_eq!(r.xid, x, "replies must come in request order");
        Ok(r)
    }

    /// Pipelines `reqs` (in chunks) and returns their replies in order.
    pub async fn call_all(&mut self, reqs: &[Request]) -> Result<Vec<Reply>, Lost> {
        let mut out = Vec::with_capacity(reqs.len());
        for chunk in reqs.chunks(128) {
            let mut payload = Vec::new();
            let mut xids = Vec::with_capacity(chunk.len());
            let mut bytes = Vec::new();
            for req in chunk {
                let x = self.next_xid;
                self.next_xid += 1;
                xids.push(x);
                payload.clear();
                encode_request(x, req, &mut payload);
                zk_proto::frame::put(&mut bytes, &payload);
            }
            self.write(&bytes).await?;
            for x in xids {
                let r = self.recv().await?;
                assert_eq!(r.xid, x, "replies must come in request order");
                out.push(r);
            }
        }
        Ok(out)
    }

    pub async fn create(
        &mut self,
        path: &str,
        data: Option<&[u8]>,
        acl: Vec<Acl>,
        mode: CreateMode,
    ) -> Res<(String, Stat)> {
        let r = self.call(&create_req(path, data, acl, mode)).await?;
        Ok(decoded::<Create2Response>(&r, "Create2Response").map(|c| (c.path, c.stat)))
    }

    pub async fn get_data(&mut self, path: &str) -> Res<(Option<Vec<u8>>, Stat)> {
        let r = self.call(&get_data_req(path)).await?;
        Ok(decoded::<GetDataResponse>(&r, "GetDataResponse").map(|g| (g.data, g.stat)))
    }

    pub async fn set_data(&mut self, path: &str, data: &[u8], version: i32) -> Res<Stat> {
        let r = self
            .call(&Request::SetData(SetDataRequest {
                path: path.into(),
                data: Some(data.to_vec()),
                version,
            }))
            .await?;
        Ok(decoded::<SetDataResponse>(&r, "SetDataResponse").map(|s| s.stat))
    }

    pub async fn delete(&mut self, path: &str, version: i32) -> Res<()> {
        let r = self
            .call(&Request::Delete(DeleteRequest {
                path: path.into(),
                version,
            }))
            .await?;
        Ok(r.ok().map(|_| ()))
    }

    pub async fn exists(&mut self, path: &str) -> Res<Stat> {
        let r = self
            .call(&Request::Exists(ExistsRequest {
                path: path.into(),
                watch: false,
            }))
            .await?;
        Ok(decoded::<ExistsResponse>(&r, "ExistsResponse").map(|e| e.stat))
    }

    pub async fn children(&mut self, path: &str) -> Res<Vec<String>> {
        let r = self.call(&children_req(path)).await?;
        Ok(decoded::<GetChildrenResponse>(&r, "GetChildrenResponse").map(|c| c.children))
    }

    pub async fn get_acl(&mut self, path: &str) -> Res<(Vec<Acl>, Stat)> {
        let r = self.call(&get_acl_req(path)).await?;
        Ok(decoded::<GetAclResponse>(&r, "GetAclResponse").map(|a| (a.acl, a.stat)))
    }

    pub async fn set_acl(&mut self, path: &str, acl: Vec<Acl>, version: i32) -> Res<Stat> {
        let r = self
            .call(&Request::SetAcl(SetAclRequest {
                path: path.into(),
                acl,
                version,
            }))
            .await?;
        Ok(decoded::<SetAclResponse>(&r, "SetAclResponse").map(|s| s.stat))
    }

    /// A write multi: the per-op results (a failed multi has `MultiResult::Error` entries).
    pub async fn multi(&mut self, ops: Vec<MultiOp>) -> Res<Vec<MultiResult>> {
        let r = self.call(&Request::Multi(ops)).await?;
        Ok(r.ok().map(|b| {
            decode_multi_results(&mut Reader::new(b))
                .unwrap_or_else(|e| panic!("malformed multi response: {e}"))
        }))
    }

    /// `addauth scheme auth`: the reply's code (the server closes the connection on failure).
    pub async fn auth(&mut self, scheme: &str, auth: &str) -> Result<ErrorCode, Lost> {
        let r = self
            .call(&Request::Auth(AuthPacket {
                auth_type: 0,
                scheme: scheme.into(),
                auth: auth.as_bytes().to_vec(),
            }))
            .await?;
        Ok(r.code())
    }

    pub async fn ping(&mut self) -> Result<(), Lost> {
        let r = self.call(&Request::Ping).await?;
        assert_eq!(r.err, 0, "ping failed");
        Ok(())
    }

    pub async fn close_session(&mut self) -> Result<(), Lost> {
        let r = self.call(&Request::CloseSession).await?;
        assert_eq!(r.err, 0, "closeSession failed");
        Ok(())
    }
}

pub fn create_req(path: &str, data: Option<&[u8]>, acl: Vec<Acl>, mode: CreateMode) -> Request {
    Request::Create {
        op: OpCode::Create2,
        req: CreateRequest {
            path: path.into(),
            data: data.map(<[u8]>::to_vec),
            acl,
            flags: mode.code(),
        },
    }
}

pub fn get_data_req(path: &str) -> Request {
    Request::GetData(GetDataRequest {
        path: path.into(),
        watch: false,
    })
}

pub fn children_req(path: &str) -> Request {
    Request::GetChildren(GetChildrenRequest {
        path: path.into(),
        watch: false,
    })
}

pub fn get_acl_req(path: &str) -> Request {
    Request::GetAcl(GetAclRequest { path: path.into() })
}

/// A client authenticated as the configured super user (reads everything).
pub async fn super_client(addr: SocketAddr) -> Client {
    let mut c = Client::connect(addr, 30_000).await;
    assert_eq!(
        c.auth("digest", SUPER_AUTH).await.expect("auth reply"),
        ErrorCode::Ok
    );
    c
}

/// Unwraps an answer that must be a success.
#[track_caller]
pub fn must<T>(r: Res<T>, what: &str) -> T {
    match r {
        Ok(Ok(v)) => v,
        Ok(Err(code)) => panic!("{what}: {code}"),
        Err(Lost) => panic!("{what}: connection lost"),
    }
}

/// Unwraps an answer that must be the error `code`.
#[track_caller]
pub fn must_fail<T: std::fmt::Debug>(r: Res<T>, code: ErrorCode, what: &str) {
    match r {
        Ok(Err(c)) if c == code => {}
        other => panic!("{what}: expected {code}, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Whole-tree comparisons

/// One node as a client sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeState {
    pub data: Option<Vec<u8>>,
    pub stat: Stat,
    pub acl: Vec<Acl>,
}

/// Every node (data, stat, ACL) by path, read level by level with pipelined requests. The
/// client should be able to read everything (see [`super_client`]).
pub async fn dump_tree(c: &mut Client) -> BTreeMap<String, NodeState> {
    let mut out = BTreeMap::new();
    let mut level = vec!["/".to_owned()];
    while !level.is_empty() {
        let mut reqs = Vec::with_capacity(level.len() * 3);
        for p in &level {
            reqs.push(get_data_req(p));
            reqs.push(get_acl_req(p));
            reqs.push(children_req(p));
        }
        let replies = c
            .call_all(&reqs)
            .await
            .expect("connection lost during a dump");
        let mut next = Vec::new();
        for (p, r) in level.iter().zip(replies.chunks(3)) {
            let g: GetDataResponse =
                decoded(&r[0], "GetDataResponse").unwrap_or_else(|e| panic!("getData {p}: {e}"));
            let a: GetAclResponse =
                decoded(&r[1], "GetAclResponse").unwrap_or_else(|e| panic!("getACL {p}: {e}"));
            let ch: GetChildrenResponse = decoded(&r[2], "GetChildrenResponse")
                .unwrap_or_else(|e| panic!("getChildren {p}: {e}"));
            assert_eq!(
                a.stat, g.stat,
                "getACL and getData disagree on the stat of {p}"
            );
            out.insert(
                p.clone(),
                NodeState {
                    data: g.data,
                    stat: g.stat,
                    acl: a.acl,
                },
            );
            let mut kids = ch.children;
            kids.sort();
            for k in kids {
                next.push(if p == "/" {
                    format!("/{k}")
                } else {
                    format!("{p}/{k}")
                });
            }
        }
        level = next;
    }
    out
}

/// Panics with the first differences if two dumps differ.
#[track_caller]
pub fn assert_same_tree(
    before: &BTreeMap<String, NodeState>,
    after: &BTreeMap<String, NodeState>,
    what: &str,
) {
    if before == after {
        return;
    }
    let keys: BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    let mut diffs = Vec::new();
    for k in keys {
        match (before.get(k), after.get(k)) {
            (Some(_), None) => diffs.push(format!("{k}: missing after")),
            (None, Some(_)) => diffs.push(format!("{k}: appeared after")),
            (Some(a), Some(b)) if a != b => {
                if a.data != b.data {
                    diffs.push(format!(
                        "{k}: data {:?} -> {:?}",
                        a.data.as_ref().map(|d| d.len()),
                        b.data.as_ref().map(|d| d.len())
                    ));
                }
                if a.stat != b.stat {
                    diffs.push(format!("{k}: stat {:?} -> {:?}", a.stat, b.stat));
                }
                if a.acl != b.acl {
                    diffs.push(format!("{k}: acl {:?} -> {:?}", a.acl, b.acl));
                }
            }
            _ => {}
        }
        if diffs.len() >= 20 {
            break;
        }
    }
    panic!(
        "{what}: the tree differs ({} nodes before, {} after); first differences:\n{}",
        before.len(),
        after.len(),
        diffs.join("\n")
    );
}

/// The highest zxid any node's stat mentions.
pub fn max_zxid(tree: &BTreeMap<String, NodeState>) -> i64 {
    tree.values()
        .map(|n| n.stat.czxid.max(n.stat.mzxid).max(n.stat.pzxid))
        .max()
        .unwrap_or(0)
}

/// All permissions.
pub const ALL: i32 = Perms::ALL;
