//! Snapshots: `dataDir/version-2/snapshot.<zxid hex>` files in Apache ZooKeeper's format
//! (`FileSnap`, uncompressed stream mode), which Apache ZooKeeper 3.8/3.9 and zkrs both read.
//!
//! Layout (jute, big-endian), with one Adler32 over the whole file so far behind every section:
//!
//! ```text
//! FileHeader   int magic "ZKSN", int version 2, long dbid -1
//! sessions     int count, then count x (long sessionId, int timeoutMs)
//! ACL cache    int count, then count x (long ref, vector<ACL>)       ref -1 (open ACL) not listed
//! nodes        pre-order: ustring path, buffer data, long aclRef, StatPersisted
//!              the root's path is "", a parent always precedes its children, end marker "/"
//! seal         long adler32-so-far, ustring "/"
//! [digest]     long zxid, int digestVersion, long digest (version < 2: ustring hex), seal
//!              written when zookeeper.digest.enabled (default true, 3.6+)
//! [lastZxid]   long lastProcessedZxid, seal
//!              3.9+ (zookeeper.serializeLastProcessedZxid.enabled, default true); 3.8 never
//!              writes it and ignores it when reading
//! ```
//!
//! Apache's snapshots are fuzzy (taken while txns are applied), so the tree can be newer than
//! the file name's zxid and the digest section's zxid can be newer still; the log is replayed
//! over them. zkrs writes consistent images: name zxid = digest zxid = the image's last zxid.
//! Siblings come in Java `HashSet` order in Apache's files and sorted in ours; readers accept
//! any order as long as parents come first.

use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use thiserror::Error;
use zk_proto::codec::{Decode, DecodeError, Encode, Reader, WriteExt};
use zk_proto::data::{Acl, StatPersisted};

use crate::core::tree::{DataTree, TreeBuilder, TreeView, DIGEST_VERSION};

/// `FileSnap.SNAP_MAGIC`: "ZKSN".
pub const SNAP_MAGIC: i32 = 0x5A4B534E;
/// `FileSnap.VERSION`.
pub const SNAP_VERSION: i32 = 2;
/// `FileSnap.dbId`.
pub const SNAP_DB_ID: i64 = -1;
/// `FileSnap.SNAPSHOT_FILE_PREFIX`.
pub const SNAPSHOT_FILE_PREFIX: &str = "snapshot";
/// How many of the newest snapshots a load tries before giving up (as `FileSnap.deserialize`).
pub const MAX_SNAPSHOTS_TRIED: usize = 100;

/// Bytes buffered before they go to the writer (and into the running checksum).
const WRITE_CHUNK: usize = 64 * 1024;

/// The digest section (`DataTree.ZxidDigest`): the tree digest as of txn `zxid`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ZxidDigest {
    pub zxid: i64,
    pub version: i32,
    pub digest: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnapshotWriteOptions {
    /// Write the digest section (ZooKeeper's `zookeeper.digest.enabled`, default true).
    pub digest_enabled: bool,
}

impl Default for SnapshotWriteOptions {
    fn default() -> Self {
        SnapshotWriteOptions {
            digest_enabled: true,
        }
    }
}

/// A snapshot read back and verified.
#[derive(Debug, Clone)]
pub struct LoadedSnapshot {
    pub tree: DataTree,
    /// (session id, timeout ms) in file order.
    pub sessions: Vec<(i64, i32)>,
    /// The digest section, if the file has one (see [`check_digest`]).
    pub zxid_digest: Option<ZxidDigest>,
    /// The 3.9 `lastProcessedZxid` section, if the file has one.
    pub last_processed_zxid: Option<i64>,
}

#[derive(Debug, Error)]
pub enum SnapshotError {
    #[error("I/O error on {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("not a snapshot: magic {0:#010x}, expected {SNAP_MAGIC:#010x} (\"ZKSN\")")]
    BadMagic(i32),
    #[error("malformed at byte {offset} ({what}): {source}")]
    Decode {
        offset: usize,
        what: &'static str,
        #[source]
        source: DecodeError,
    },
    #[error("checksum mismatch in the seal at byte {offset}: stored {stored:#x}, computed {computed:#x}")]
    Checksum {
        offset: usize,
        stored: i64,
        computed: i64,
    },
    #[error("malformed seal at byte {offset}: expected the string \"/\"")]
    BadSeal { offset: usize },
    #[error("invalid snapshot at byte {offset}: {msg}")]
    Invalid { offset: usize, msg: String },
    #[error("{0} bytes after the last section")]
    Trailing(usize),
    #[error("no valid snapshot in {dir} ({tried} candidates, all unreadable or corrupt)")]
    NoValidSnapshot { dir: PathBuf, tried: usize },
}

// ---------------------------------------------------------------------------------------------
// Adler32 (java.util.zip.Adler32), over everything written or read so far: storage::adler32.

pub use super::adler32::adler32;
use super::adler32::Adler32;

// ---------------------------------------------------------------------------------------------
// Writing

/// A `CheckedOutputStream` equivalent: buffers, checksums what it passes on.
struct Sink<'a, W: Write> {
    out: &'a mut W,
    buf: Vec<u8>,
    adler: Adler32,
}

impl<'a, W: Write> Sink<'a, W> {
    fn new(out: &'a mut W) -> Self {
        Sink {
            out,
            buf: Vec::with_capacity(WRITE_CHUNK + 1024),
            adler: Adler32::new(),
        }
    }

    fn flush_buf(&mut self) -> io::Result<()> {
        if !self.buf.is_empty() {
            self.adler.update(&self.buf);
            self.out.write_all(&self.buf)?;
            self.buf.clear();
        }
        Ok(())
    }

    fn maybe_flush(&mut self) -> io::Result<()> {
        if self.buf.len() >= WRITE_CHUNK {
            self.flush_buf()?;
        }
        Ok(())
    }

    /// `SnapStream.sealStream`: the checksum of everything so far, then the string "/".
    fn seal(&mut self) -> io::Result<()> {
        self.flush_buf()?;
        // The seal stores `Checksum.getValue()`, an unsigned 32-bit value, as a long.
        let v = i64::from(self.adler.value());
        self.buf.put_i64(v);
        self.buf.put_string("/");
        Ok(())
    }

    fn finish(mut self) -> io::Result<()> {
        self.flush_buf()?;
        self.out.flush()
    }
}

/// Serializes a consistent image: sessions (id, timeout ms), the tree (ACL cache then nodes in
/// pre-order, root as ""), seals, the digest section (if enabled) and the last processed zxid.
pub fn write_snapshot(
    out: &mut impl Write,
    view: &TreeView,
    sessions: &[(i64, i32)],
    last_zxid: i64,
    opts: &SnapshotWriteOptions,
) -> io::Result<()> {
    let mut s = Sink::new(out);

    // FileHeader
    s.buf.put_i32(SNAP_MAGIC);
    s.buf.put_i32(SNAP_VERSION);
    s.buf.put_i64(SNAP_DB_ID);

    write_body(&mut s, view, sessions)?;
    s.seal()?;

    if opts.digest_enabled {
        s.buf.put_i64(last_zxid);
        s.buf.put_i32(DIGEST_VERSION);
        s.buf.put_i64(view.digest());
        s.seal()?;
    }

    // 3.9's lastProcessedZxid section; 3.8 stops reading before it.
    s.buf.put_i64(last_zxid);
    s.seal()?;
    s.finish()
}

/// `SerializeUtils.serializeSnapshot`: sessions, the ACL cache, the nodes in pre-order (the root
/// as "") and the "/" end marker. Shared by snapshot files and the SNAP sync stream.
fn write_body<W: Write>(
    s: &mut Sink<'_, W>,
    view: &TreeView,
    sessions: &[(i64, i32)],
) -> io::Result<()> {
    // SerializeUtils.serializeSnapshot: sessions, then the tree.
    s.buf.put_i32(len_i32(sessions.len())?);
    for &(id, timeout) in sessions {
        s.buf.put_i64(id);
        s.buf.put_i32(timeout);
        s.maybe_flush()?;
    }

    // ReferenceCountedACLCache.serialize
    s.buf.put_i32(len_i32(view.acls.entries().count())?);
    for (r, acl) in view.acls.entries() {
        s.buf.put_i64(r);
        s.buf.put_vec(acl);
        s.maybe_flush()?;
    }

    // DataTree.serializeNodes: pre-order, the root as "", then the "/" end marker.
    let mut err: Option<io::Error> = None;
    view.visit_preorder(|p, n| {
        if err.is_some() {
            return;
        }
        s.buf.put_string(if p == "/" { "" } else { p });
        s.buf.put_opt_buffer(n.data.as_deref());
        s.buf.put_i64(n.acl_ref);
        n.stat.encode(&mut s.buf);
        if let Err(e) = s.maybe_flush() {
            err = Some(e);
        }
    });
    if let Some(e) = err {
        return Err(e);
    }
    s.buf.put_string("/");
    Ok(())
}

/// What a leader sends after a SNAP packet (`LearnerHandler`): the serialized database, then the
/// string "BenWasHere". No file header, no seals, no digest.
pub fn write_snap_stream(
    out: &mut impl Write,
    view: &TreeView,
    sessions: &[(i64, i32)],
) -> io::Result<()> {
    let mut s = Sink::new(out);
    write_body(&mut s, view, sessions)?;
    s.buf.put_string("BenWasHere");
    s.finish()
}

/// Reads a SNAP stream from the start of `bytes`: `Ok(None)` if more bytes are needed, else the
/// state and the bytes it took.
pub fn read_snap_stream(bytes: &[u8]) -> Result<Option<(LoadedSnapshot, usize)>, SnapshotError> {
    // Read as if behind a file header (offsets in errors and the length limit count one), as
    // the body of a snapshot file is: the header itself is not there to read.
    let mut c = Checked::new(bytes, SNAP_HEADER_LEN);
    let (sessions, builder) = match read_body(&mut c, Framing::SnapStream) {
        Ok(v) => v,
        Err(SnapshotError::Decode {
            source: DecodeError::Truncated { .. },
            ..
        }) => return Ok(None),
        Err(e) => return Err(e),
    };
    let sig = match c.run(|r| r.read_string()) {
        Ok(s) => s,
        Err(DecodeError::Truncated { .. }) => return Ok(None),
        Err(source) => {
            return Err(SnapshotError::Decode {
                offset: c.pos(),
                what: "SNAP signature",
                source,
            })
        }
    };
    if sig != "BenWasHere" {
        return Err(SnapshotError::Invalid {
            offset: c.pos(),
            msg: format!("SNAP stream signature {sig:?}, expected \"BenWasHere\""),
        });
    }
    let used = c.pos() - SNAP_HEADER_LEN;
    let tree = builder
        .finish()
        .map_err(|msg| SnapshotError::Invalid { offset: used, msg })?;
    Ok(Some((
        LoadedSnapshot {
            tree,
            sessions,
            zxid_digest: None,
            last_processed_zxid: None,
        },
        used,
    )))
}

fn len_i32(n: usize) -> io::Result<i32> {
    i32::try_from(n).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "too many entries"))
}

// ---------------------------------------------------------------------------------------------
// Reading

/// The file header's length: magic, version, dbid.
const SNAP_HEADER_LEN: usize = 16;

/// How much of a snapshot file is held at a time when it is read from disk: small enough that
/// the bytes are still in the CPU cache when the checksum covers them.
/// (Tiny in unit tests, so that their snapshots take many windows.)
const READ_WINDOW: usize = if cfg!(test) { 64 } else { 1 << 20 };

/// Parsed bytes are checksummed once this many have piled up (while they are still cached),
/// not all at the next seal.
const CHECKSUM_EVERY: usize = 256 * 1024;

/// Where a [`Checked`] reader's bytes come from.
enum Input<'a> {
    /// All of them, in memory.
    Slice(&'a [u8]),
    /// A file, read a window at a time into `buf` (`buf[..filled]` holds the bytes from the
    /// reader's `win_start` on).
    Stream {
        src: &'a mut dyn Read,
        buf: Vec<u8>,
        filled: usize,
    },
}

/// A reader that knows which bytes the seals cover. Positions are offsets in the whole input;
/// a streamed input keeps only a window of it (from the start of the record being read on).
struct Checked<'a> {
    input: Input<'a>,
    /// Where the window starts in the input.
    win_start: usize,
    /// Where the next read starts.
    at: usize,
    /// The input's length (for a file, its size when opened).
    total: usize,
    /// No more bytes will come into the window.
    eof: bool,
    /// Why reading the file stopped early, if it did.
    io_error: Option<io::Error>,
    /// Added to positions in errors: the bytes that come before the input (a SNAP stream is
    /// read as the body of a file, behind a header that is not there).
    base: usize,
    /// The most any length prefix may claim.
    max: usize,
    /// While a node record is read: where it starts (its bytes stay in the window).
    pin: Option<usize>,
    /// The checksum of the input's bytes before `checked_upto`.
    adler: Adler32,
    checked_upto: usize,
}

impl<'a> Checked<'a> {
    fn new(bytes: &'a [u8], base: usize) -> Self {
        Checked {
            input: Input::Slice(bytes),
            win_start: 0,
            at: 0,
            total: bytes.len(),
            eof: true,
            io_error: None,
            pin: None,
            base,
            // Every length is also bounded by what is left, so no claim can make us allocate
            // more than the file holds; Apache's own limit is jute.maxbuffer + extrasize.
            max: base + bytes.len(),
            adler: Adler32::new(),
            checked_upto: 0,
        }
    }

    /// Reads `len` bytes from `src` (fewer if it ends first), as if they were in memory.
    fn stream(src: &'a mut dyn Read, len: usize) -> Self {
        Checked {
            input: Input::Stream {
                src,
                buf: Vec::new(),
                filled: 0,
            },
            win_start: 0,
            at: 0,
            total: len,
            eof: len == 0,
            io_error: None,
            pin: None,
            base: 0,
            max: len,
            adler: Adler32::new(),
            checked_upto: 0,
        }
    }

    /// The bytes in memory, from `win_start` on.
    fn window(&self) -> &[u8] {
        match &self.input {
            Input::Slice(b) => b,
            Input::Stream { buf, filled, .. } => &buf[..*filled],
        }
    }

    /// The position, as errors report it.
    fn pos(&self) -> usize {
        self.base + self.at
    }

    /// Bytes left in the input.
    fn remaining(&self) -> usize {
        self.total - self.at
    }

    fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    /// The bytes from `at` on that are in memory (all that is left once `eof`).
    fn rest(&self) -> &[u8] {
        &self.window()[self.at - self.win_start..]
    }

    /// Input bytes `from..to` (both in the window).
    fn slice(&self, from: usize, to: usize) -> &[u8] {
        &self.window()[from - self.win_start..to - self.win_start]
    }

    /// Makes the window hold at least `n` bytes from `at` on (or everything left), keeping
    /// those of the record being read. Only streamed input ever has to read.
    fn want(&mut self, n: usize) {
        while self.rest().len() < n && !self.eof {
            self.fill(n);
        }
    }

    /// Reads the next piece of a streamed input into the window, first dropping (and
    /// checksumming) the bytes before `at` (before the record being read, if it is pinned).
    fn fill(&mut self, n: usize) {
        let drop_to = self.pin.unwrap_or(self.at).min(self.at);
        self.checksum_to(drop_to);
        let drop_to = drop_to.min(self.checked_upto);
        let Input::Stream { src, buf, filled } = &mut self.input else {
            self.eof = true;
            return;
        };
        // Drop what is no longer needed, then read as much as the window takes.
        let dropped = drop_to - self.win_start;
        buf.copy_within(dropped..*filled, 0);
        *filled -= dropped;
        self.win_start = drop_to;
        let end = self.win_start + *filled;
        let need = (self.at - self.win_start) + n;
        let size = need.max(READ_WINDOW).min(self.total - self.win_start);
        if buf.len() < size {
            buf.resize(size, 0);
        }
        let want = (self.total - end).min(buf.len() - *filled);
        match src.read(&mut buf[*filled..*filled + want]) {
            Ok(0) => {
                // The file is shorter than it was: it ends here.
                self.total = end;
                self.eof = true;
            }
            Ok(k) => {
                *filled += k;
                if self.win_start + *filled == self.total {
                    self.eof = true;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                self.io_error = Some(e);
                self.total = end;
                self.eof = true;
            }
        }
    }

    /// Checksums the parsed bytes once enough have piled up.
    fn checksum_parsed(&mut self) {
        if self.at - self.checked_upto >= CHECKSUM_EVERY {
            self.checksum_to(self.at);
        }
    }

    /// Adds the bytes from `checked_upto` to `to` (in the window) to the checksum.
    fn checksum_to(&mut self, to: usize) {
        if to <= self.checked_upto {
            return;
        }
        let (from, end) = (self.checked_upto - self.win_start, to - self.win_start);
        let bytes = match &self.input {
            Input::Slice(b) => &b[from..end],
            Input::Stream { buf, .. } => &buf[from..end],
        };
        self.adler.update(bytes);
        self.checked_upto = to;
    }

    /// Runs a decoder on the rest (with the same limit and the same failures as over the whole
    /// input) and moves past what it read, also when it fails.
    fn run<T>(
        &mut self,
        mut f: impl FnMut(&mut Reader<'_>) -> Result<T, DecodeError>,
    ) -> Result<T, DecodeError> {
        loop {
            let max = self.max;
            let mut r = Reader::with_max(self.rest(), max);
            let res = f(&mut r);
            let used = r.position();
            match res {
                // Not all in memory yet: read more and decode again.
                Err(DecodeError::Truncated { needed }) if !self.eof => {
                    self.want(self.rest().len() + needed);
                }
                res => {
                    self.at += used;
                    return res;
                }
            }
        }
    }

    fn ctx<T>(&self, what: &'static str, res: Result<T, DecodeError>) -> Result<T, SnapshotError> {
        let offset = self.pos();
        res.map_err(|source| SnapshotError::Decode {
            offset,
            what,
            source,
        })
    }

    /// `N` bytes, as `Reader` takes them (nothing is consumed when they are not all there).
    fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        if self.rest().len() < N {
            self.want(N);
        }
        match self.rest().first_chunk::<N>() {
            Some(&a) => {
                self.at += N;
                Ok(a)
            }
            None => Err(DecodeError::Truncated {
                needed: N - self.remaining(),
            }),
        }
    }

    fn i32(&mut self, what: &'static str) -> Result<i32, SnapshotError> {
        let v = self.array().map(i32::from_be_bytes);
        self.ctx(what, v)
    }

    fn i64(&mut self, what: &'static str) -> Result<i64, SnapshotError> {
        let v = self.array().map(i64::from_be_bytes);
        self.ctx(what, v)
    }

    /// A nullable `buffer`, as the input positions `(from, to)` of its bytes (in the window
    /// until the next read, or while their record is pinned); fails as
    /// `Reader::read_opt_buffer`.
    fn opt_span(&mut self, what: &'static str) -> Result<Option<(usize, usize)>, SnapshotError> {
        let v = self.opt_span_raw();
        self.ctx(what, v)
    }

    fn opt_span_raw(&mut self) -> Result<Option<(usize, usize)>, DecodeError> {
        let len = i32::from_be_bytes(self.array()?);
        if len == -1 {
            return Ok(None);
        }
        if len < 0 || len as usize > self.max {
            return Err(DecodeError::BadLength {
                len: i64::from(len),
                max: self.max,
            });
        }
        let n = len as usize;
        if n > self.remaining() {
            return Err(DecodeError::Truncated {
                needed: n - self.remaining(),
            });
        }
        self.want(n);
        if self.rest().len() < n {
            // Only if the file shrank while it was read.
            return Err(DecodeError::Truncated {
                needed: n - self.rest().len(),
            });
        }
        let from = self.at;
        self.at += n;
        Ok(Some((from, self.at)))
    }

    /// The bytes of a span from [`Checked::opt_span`].
    fn span(&self, s: Option<(usize, usize)>) -> Option<&[u8]> {
        s.map(|(from, to)| self.slice(from, to))
    }

    /// A count that must be non-negative and, at `min_size` bytes per element, fit in the rest.
    fn count(&mut self, what: &'static str, min_size: usize) -> Result<usize, SnapshotError> {
        let offset = self.pos();
        let n = self.i32(what)?;
        let n = usize::try_from(n).map_err(|_| SnapshotError::Invalid {
            offset,
            msg: format!("negative {what} {n}"),
        })?;
        let needed = n.saturating_mul(min_size);
        if needed > self.remaining() {
            return Err(SnapshotError::Decode {
                offset,
                what,
                source: DecodeError::Truncated {
                    needed: needed - self.remaining(),
                },
            });
        }
        Ok(n)
    }

    /// A nullable ustring (null is `None`), decoded as Java does (malformed UTF-8 replaced).
    fn opt_string(&mut self, what: &'static str) -> Result<Option<String>, SnapshotError> {
        let s = self.opt_span(what)?;
        Ok(self
            .span(s)
            .map(|b| String::from_utf8_lossy(b).into_owned()))
    }

    /// `SnapStream.checkSealIntegrity`, stricter: the string must be exactly "/".
    fn seal(&mut self) -> Result<(), SnapshotError> {
        self.checksum_to(self.at);
        let computed = i64::from(self.adler.value());
        let start = self.pos();
        let stored = self.i64("seal checksum")?;
        let slash_at = self.pos();
        let slash = self.opt_span("seal path")?;
        if self.span(slash) != Some(b"/".as_slice()) {
            return Err(SnapshotError::BadSeal { offset: slash_at });
        }
        if stored != computed {
            return Err(SnapshotError::Checksum {
                offset: start,
                stored,
                computed,
            });
        }
        Ok(())
    }
}

/// A snapshot path must be "" (the root) or absolute without empty components or a trailing
/// slash, so that parent/child links are what the path says.
fn path_shape_ok(p: &str) -> bool {
    p.is_empty()
        || (p.starts_with('/') && !p.ends_with('/') && !p.contains("//") && !p.contains('\0'))
}

/// What surrounds the serialized database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    /// A snapshot file: the file header before, a seal after.
    File,
    /// A SNAP stream: neither.
    SnapStream,
}

/// Parses the body (everything up to and including the first seal), handing the nodes to a
/// [`TreeBuilder`] as they are read. A node the builder rejects fails the load only once
/// everything else has been read and verified (see [`TreeBuilder::finish`]), so a bad file
/// reports the same error as when the nodes were all read before the tree was built.
fn read_body(
    c: &mut Checked<'_>,
    framing: Framing,
) -> Result<(Vec<(i64, i32)>, TreeBuilder), SnapshotError> {
    if framing == Framing::File {
        let magic = c.i32("file header magic")?;
        if magic != SNAP_MAGIC {
            return Err(SnapshotError::BadMagic(magic));
        }
        // Apache checks neither the version nor the dbid; the seal covers them.
        c.i32("file header version")?;
        c.i64("file header dbid")?;
    }

    let n = c.count("session count", 12)?;
    let mut sessions = Vec::with_capacity(n);
    for _ in 0..n {
        let id = c.i64("session id")?;
        let timeout = c.i32("session timeout")?;
        sessions.push((id, timeout));
    }

    let n = c.count("ACL cache size", 12)?;
    let mut acls: Vec<(i64, Vec<Acl>)> = Vec::with_capacity(n);
    let mut seen = std::collections::HashSet::with_capacity(n);
    for _ in 0..n {
        let at = c.pos();
        let r = c.i64("ACL ref")?;
        if r == crate::core::acl::OPEN_ACL_REF {
            return Err(SnapshotError::Invalid {
                offset: at,
                msg: "the ACL cache lists ref -1, which means the open ACL".to_owned(),
            });
        }
        if !seen.insert(r) {
            return Err(SnapshotError::Invalid {
                offset: at,
                msg: format!("ACL ref {r} listed twice"),
            });
        }
        let vat = c.pos();
        c.want(4);
        if c.rest().get(..4) == Some([0xff; 4].as_slice()) {
            // Apache throws "Incorrent format of InputArchive ... missing acls".
            return Err(SnapshotError::Invalid {
                offset: vat,
                msg: format!("ACL ref {r} has a null list"),
            });
        }
        let list = c.run(|r| r.read_vec::<Acl>());
        acls.push((r, c.ctx("ACL list", list)?));
    }

    let mut builder = TreeBuilder::new(acls);
    loop {
        c.checksum_parsed();
        // The record's bytes stay in the window until the node is built from them.
        c.pin = Some(c.at);
        let at = c.pos();
        let Some(path) = c.opt_span("node path")? else {
            return Err(SnapshotError::Invalid {
                offset: at,
                msg: "null node path".to_owned(),
            });
        };
        // Decoded as Java does (malformed UTF-8 replaced).
        {
            let p = utf8_lossy(c.slice(path.0, path.1));
            if p == "/" {
                c.pin = None;
                break;
            }
            if !path_shape_ok(&p) {
                return Err(SnapshotError::Invalid {
                    offset: at,
                    msg: format!("malformed node path {p:?}"),
                });
            }
        }
        let data = c.opt_span("node data")?;
        let acl_ref = c.i64("node ACL ref")?;
        c.want(STAT_LEN);
        let stat = c.run(StatPersisted::decode);
        let stat = c.ctx("node stat", stat)?;
        let p = utf8_lossy(c.slice(path.0, path.1));
        builder.add(&p, c.span(data), acl_ref, stat);
        c.pin = None;
    }
    if framing == Framing::File {
        c.seal()?;
    }
    Ok((sessions, builder))
}

/// `String::from_utf8_lossy`, with a faster check of the usual, valid case.
fn utf8_lossy(b: &[u8]) -> std::borrow::Cow<'_, str> {
    match std::str::from_utf8(b) {
        Ok(s) => std::borrow::Cow::Borrowed(s),
        Err(_) => String::from_utf8_lossy(b),
    }
}

/// A `StatPersisted`'s length in a snapshot.
const STAT_LEN: usize = 60;

/// `ZxidDigest.deserialize` then a seal.
fn read_digest_section(c: &mut Checked<'_>) -> Result<ZxidDigest, SnapshotError> {
    let zxid = c.i64("digest zxid")?;
    let version = c.i32("digest version")?;
    let digest = if version >= 2 {
        c.i64("digest")?
    } else {
        // Digest version 1 stored the value as a hex string (null: 0).
        let at = c.pos();
        match c.opt_string("digest")? {
            None => 0,
            Some(s) => parse_java_hex_long(&s).ok_or_else(|| SnapshotError::Invalid {
                offset: at,
                msg: format!("digest {s:?} is not a hex long"),
            })?,
        }
    };
    c.seal()?;
    Ok(ZxidDigest {
        zxid,
        version,
        digest,
    })
}

/// `Long.parseLong(s, 16)`.
fn parse_java_hex_long(s: &str) -> Option<i64> {
    let digits = s.strip_prefix(['-', '+']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    i64::from_str_radix(s.strip_prefix('+').unwrap_or(s), 16).ok()
}

fn read_last_zxid_section(c: &mut Checked<'_>) -> Result<i64, SnapshotError> {
    let z = c.i64("last processed zxid")?;
    c.seal()?;
    Ok(z)
}

/// Reads and verifies a whole snapshot file: the magic, every seal (Adler32 over all bytes
/// before it, then exactly "/"), the structure (parents before children, known ACL refs, no
/// duplicates, nothing after the last section). Never panics, whatever the bytes.
///
/// The two sections after the body are optional, as in ZooKeeper, so a file cut exactly at a
/// section boundary reads as a valid snapshot with fewer sections: the format cannot tell.
pub fn read_snapshot(bytes: &[u8]) -> Result<LoadedSnapshot, SnapshotError> {
    read_checked(&mut Checked::new(bytes, 0))
}

/// [`read_snapshot`] of the file at `path`, read piece by piece rather than into memory
/// whole: the same checks, the same errors, plus [`SnapshotError::Io`] if it cannot be read.
pub fn read_snapshot_file(path: &Path) -> Result<LoadedSnapshot, SnapshotError> {
    let io = |source| SnapshotError::Io {
        path: path.to_owned(),
        source,
    };
    let mut f = fs::File::open(path).map_err(io)?;
    let len = f.metadata().map_err(io)?.len();
    let len = usize::try_from(len).map_err(|_| {
        io(io::Error::new(
            io::ErrorKind::InvalidData,
            "file too large to read",
        ))
    })?;
    let mut c = Checked::stream(&mut f, len);
    let res = read_checked(&mut c);
    match c.io_error.take() {
        Some(e) => Err(io(e)),
        None => res,
    }
}

fn read_checked(c: &mut Checked<'_>) -> Result<LoadedSnapshot, SnapshotError> {
    let (sessions, builder) = read_body(c, Framing::File)?;

    let mut zxid_digest = None;
    let mut last_processed_zxid = None;
    if !c.is_empty() {
        // What follows is small: have it all in memory, so that a reading can be undone.
        c.want(c.remaining());
        // A digest section, or (3.9 with the digest off) only the lastProcessedZxid section:
        // the seal behind whichever reading is right confirms it.
        let undo = (c.at, c.adler, c.checked_upto);
        match read_digest_section(c) {
            Ok(zd) => {
                zxid_digest = Some(zd);
                if !c.is_empty() {
                    last_processed_zxid = Some(read_last_zxid_section(c)?);
                }
            }
            Err(digest_err) => {
                (c.at, c.adler, c.checked_upto) = undo;
                match read_last_zxid_section(c) {
                    Ok(z) => last_processed_zxid = Some(z),
                    Err(_) => return Err(digest_err),
                }
            }
        }
    }
    if !c.is_empty() {
        return Err(SnapshotError::Trailing(c.remaining()));
    }

    let end = c.pos();
    let tree = builder
        .finish()
        .map_err(|msg| SnapshotError::Invalid { offset: end, msg })?;
    Ok(LoadedSnapshot {
        tree,
        sessions,
        zxid_digest,
        last_processed_zxid,
    })
}

// ---------------------------------------------------------------------------------------------
// The digest check

/// What checking a loaded snapshot's digest section against its tree found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DigestCheck {
    /// The section's zxid is the snapshot's and the digests agree.
    Match,
    /// The section's zxid is the snapshot's and the digests differ.
    Mismatch { stored: i64, computed: i64 },
    /// The section is for a later txn (a fuzzy snapshot): compare when replaying the log
    /// reaches `zxid` (ZooKeeper does it in `processTxn`).
    Deferred { zxid: i64 },
    /// Nothing to compare: no section, an empty one (zxid <= 0), one older than the snapshot,
    /// or another digest version.
    Skipped(&'static str),
}

/// ZooKeeper's `deserializeZxidDigest` + `compareSnapshotDigests` for a snapshot named
/// `snap_zxid`.
pub fn check_digest(loaded: &LoadedSnapshot, snap_zxid: i64) -> DigestCheck {
    let Some(zd) = loaded.zxid_digest else {
        return DigestCheck::Skipped("no digest section");
    };
    if zd.zxid <= 0 {
        return DigestCheck::Skipped("the digest section is empty");
    }
    if zd.zxid < snap_zxid {
        return DigestCheck::Skipped("the digest section is older than the snapshot");
    }
    if zd.version != DIGEST_VERSION {
        return DigestCheck::Skipped("another digest version");
    }
    if zd.zxid > snap_zxid {
        return DigestCheck::Deferred { zxid: zd.zxid };
    }
    let computed = loaded.tree.digest();
    if computed == zd.digest {
        DigestCheck::Match
    } else {
        DigestCheck::Mismatch {
            stored: zd.digest,
            computed,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Files

/// `snapshot.<zxid in lowercase hex>` (`Util.makeSnapshotName`).
pub fn file_name(zxid: i64) -> String {
    format!("{SNAPSHOT_FILE_PREFIX}.{zxid:x}")
}

/// The zxid of a file named exactly `snapshot.<hex>`; `None` for anything else, including
/// compressed (`.gz`, `.snappy`) snapshots, which zkrs cannot read, and our temp files.
pub fn zxid_from_name(name: &str) -> Option<i64> {
    let hex = name.strip_prefix(SNAPSHOT_FILE_PREFIX)?.strip_prefix('.')?;
    if hex.is_empty() || hex.len() > 16 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    i64::from_str_radix(hex, 16).ok()
}

/// The temp file [`save`] writes before renaming it to [`file_name`]: it starts with a dot, so
/// neither [`list`] nor ZooKeeper's `Util.getZxidFromName` (which splits on '.' and wants
/// "snapshot" first) takes it for a snapshot.
pub fn temp_file_name(zxid: i64) -> String {
    format!(".{}.tmp", file_name(zxid))
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> io::Error + '_ {
    move |e| io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

/// Writes `snapshot.<zxid hex>` atomically: a temp file in `dir` (a name ZooKeeper's
/// `Util.getZxidFromName` does not take for a snapshot), write, fsync, rename, fsync the
/// directory. Returns the final path.
pub fn save(
    dir: &Path,
    view: &TreeView,
    sessions: &[(i64, i32)],
    last_zxid: i64,
    opts: &SnapshotWriteOptions,
) -> io::Result<PathBuf> {
    let fin = dir.join(file_name(last_zxid));
    let tmp = dir.join(temp_file_name(last_zxid));
    let res = (|| {
        let f = fs::File::create(&tmp).map_err(io_err(&tmp))?;
        let mut w = io::BufWriter::with_capacity(WRITE_CHUNK, f);
        write_snapshot(&mut w, view, sessions, last_zxid, opts).map_err(io_err(&tmp))?;
        let f = w.into_inner().map_err(|e| io_err(&tmp)(e.into_error()))?;
        f.sync_all().map_err(io_err(&tmp))?;
        drop(f);
        fs::rename(&tmp, &fin).map_err(io_err(&fin))?;
        sync_dir(dir)
    })();
    if res.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    res.map(|()| fin)
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(dir))
}

/// Snapshot files in `dir`, newest (highest zxid) first; ignores temp files and other names.
pub fn list(dir: &Path) -> io::Result<Vec<(i64, PathBuf)>> {
    let mut out = Vec::new();
    for e in fs::read_dir(dir).map_err(io_err(dir))? {
        let e = e.map_err(io_err(dir))?;
        let name = e.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(zxid) = zxid_from_name(name) else {
            if name.starts_with("snapshot.") && !name.ends_with(".tmp") {
                tracing::warn!(file = %e.path().display(), "ignoring a snapshot zkrs cannot read (compressed?)");
            }
            continue;
        };
        if e.file_type().map(|t| t.is_file()).unwrap_or(false) {
            out.push((zxid, e.path()));
        }
    }
    out.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    Ok(out)
}

/// Loads the newest snapshot that reads back valid, logging and skipping corrupt or unreadable
/// ones and falling back to older ones (at most [`MAX_SNAPSHOTS_TRIED`], as `FileSnap` does).
/// `Ok(None)` when there is no snapshot file at all (or no `dir`, as ZooKeeper's `listFiles`
/// returning null); `Err(NoValidSnapshot)` when there are
/// some but none is valid (ZooKeeper also refuses to start then).
///
/// A digest section for the snapshot's own zxid is compared with the restored tree; a mismatch
/// is logged as a warning and the snapshot is still used, as ZooKeeper does.
pub fn load_newest_valid(
    dir: &Path,
) -> Result<Option<(i64, PathBuf, LoadedSnapshot)>, SnapshotError> {
    let files = match list(dir) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(SnapshotError::Io {
                path: dir.to_owned(),
                source,
            })
        }
    };
    if files.is_empty() {
        return Ok(None);
    }
    let tried = files.len().min(MAX_SNAPSHOTS_TRIED);
    for (zxid, path) in files.into_iter().take(MAX_SNAPSHOTS_TRIED) {
        tracing::info!(snapshot = %path.display(), "reading snapshot");
        let loaded = match read_snapshot_file(&path) {
            Ok(l) => l,
            Err(SnapshotError::Io { source: e, .. }) => {
                tracing::warn!(snapshot = %path.display(), error = %e, "cannot read snapshot; trying an older one");
                continue;
            }
            Err(e) => {
                tracing::warn!(snapshot = %path.display(), error = %e, "corrupt snapshot; trying an older one");
                continue;
            }
        };
        match check_digest(&loaded, zxid) {
            DigestCheck::Match => {
                tracing::debug!(zxid = format_args!("{zxid:#x}"), "snapshot digest matches")
            }
            DigestCheck::Mismatch { stored, computed } => tracing::warn!(
                snapshot = %path.display(),
                stored,
                computed,
                "snapshot digest does not match its tree (using it anyway, as ZooKeeper does)"
            ),
            DigestCheck::Deferred { zxid } => tracing::info!(
                digest_zxid = format_args!("{zxid:#x}"),
                "fuzzy snapshot: its digest is compared when the log replay reaches its zxid"
            ),
            DigestCheck::Skipped(why) => tracing::info!("snapshot digest not compared: {why}"),
        }
        return Ok(Some((zxid, path, loaded)));
    }
    Err(SnapshotError::NoValidSnapshot {
        dir: dir.to_owned(),
        tried,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use zk_proto::Perms;

    fn small_tree() -> DataTree {
        let mut t = DataTree::new();
        let mut tr = Vec::new();
        t.create_node(
            "/a",
            Some(b"x".to_vec()),
            &Acl::open_unsafe(),
            0,
            -1,
            1,
            10,
            &mut tr,
        )
        .unwrap();
        t.create_node("/a/e", None, &Acl::read_unsafe(), 0x55, -1, 2, 11, &mut tr)
            .unwrap();
        t
    }

    /// A reader that hands out at most `chunk` bytes per read.
    struct Dribble<'a>(&'a [u8], usize);

    impl Read for Dribble<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = buf.len().min(self.1).min(self.0.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    /// Reads `bytes` as a file of `len` bytes (its size when opened) that reads `chunk` bytes
    /// at a time.
    fn read_streamed(
        bytes: &[u8],
        len: usize,
        chunk: usize,
    ) -> Result<LoadedSnapshot, SnapshotError> {
        let mut src = Dribble(bytes, chunk);
        let mut c = Checked::stream(&mut src, len);
        read_checked(&mut c)
    }

    fn outcome(r: Result<LoadedSnapshot, SnapshotError>) -> String {
        match r {
            Ok(l) => {
                let mut nodes = Vec::new();
                l.tree.visit_preorder(|p, n| {
                    nodes.push(format!(
                        "{p} {:?} {} {:?} {}",
                        n.data,
                        n.acl_ref,
                        n.stat,
                        n.children.len()
                    ))
                });
                format!(
                    "ok {:?} {:?} {:?} {} {} {:?} {nodes:?}",
                    l.sessions,
                    l.zxid_digest,
                    l.last_processed_zxid,
                    l.tree.digest(),
                    l.tree.approximate_data_size(),
                    l.tree.acls.entries().collect::<Vec<_>>(),
                )
            }
            Err(e) => format!("err {e:?}"),
        }
    }

    #[test]
    fn streamed_reads_match_in_memory_reads() {
        // Data larger than the test window, ACLs, sessions, an ephemeral, an empty node.
        let mut t = small_tree();
        let mut tr = Vec::new();
        t.create_node(
            "/big",
            Some(vec![7; 300]),
            &[Acl::new(Perms::ALL, "digest", "u:h")],
            0,
            -1,
            3,
            12,
            &mut tr,
        )
        .unwrap();
        t.create_node(
            "/big/e",
            Some(vec![1; 90]),
            &Acl::open_unsafe(),
            0x99,
            -1,
            4,
            13,
            &mut tr,
        )
        .unwrap();
        t.create_node(
            "/c",
            Some(Vec::new()),
            &Acl::read_unsafe(),
            0,
            -1,
            5,
            14,
            &mut tr,
        )
        .unwrap();
        let mut good = Vec::new();
        write_snapshot(
            &mut good,
            &t.view(),
            &[(0x99, 3000), (7, 4000)],
            5,
            &SnapshotWriteOptions::default(),
        )
        .unwrap();
        assert!(good.len() > 4 * READ_WINDOW);
        let expected = outcome(read_snapshot(&good));
        assert!(expected.starts_with("ok"), "{expected}");
        for chunk in [1, 5, 64, 4096] {
            assert_eq!(outcome(read_streamed(&good, good.len(), chunk)), expected);
        }
        // Every truncation and every corrupted byte: the same result, error included.
        let mut variants: Vec<Vec<u8>> = (0..good.len()).map(|n| good[..n].to_vec()).collect();
        for i in 0..good.len() {
            for x in [0x01, 0x80, 0xff] {
                let mut bad = good.clone();
                bad[i] ^= x;
                variants.push(bad);
            }
        }
        let mut trailing = good.clone();
        trailing.extend_from_slice(&[0; 200]);
        variants.push(trailing);
        for v in &variants {
            let want = outcome(read_snapshot(v));
            for chunk in [3, 4096] {
                assert_eq!(outcome(read_streamed(v, v.len(), chunk)), want);
            }
        }
        // A file shorter than its size said (it shrank): an error, as if cut there.
        for n in [0, 10, good.len() / 2, good.len() - 1] {
            let got = outcome(read_streamed(&good[..n], good.len(), 7));
            assert!(got.starts_with("err"), "{got}");
        }
        // Read only up to the size it had when opened.
        assert_eq!(
            outcome(read_streamed(&with_appended(&good), good.len(), 64)),
            expected
        );
    }

    /// `good` followed by bytes that arrived after the file was opened.
    fn with_appended(good: &[u8]) -> Vec<u8> {
        let mut v = good.to_vec();
        v.extend_from_slice(b"appended later");
        v
    }

    #[test]
    fn snap_stream_reads_its_signature_and_length() {
        let t = small_tree();
        let mut out = Vec::new();
        write_snap_stream(&mut out, &t.view(), &[(5, 100)]).unwrap();
        let n = out.len();
        out.extend_from_slice(b"next packet");
        let (l, used) = read_snap_stream(&out).unwrap().unwrap();
        assert_eq!(used, n);
        assert_eq!(l.tree.digest(), t.digest());
        assert_eq!(l.sessions, vec![(5, 100)]);
        for cut in 0..n {
            assert!(
                read_snap_stream(&out[..cut]).unwrap().is_none(),
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn adler32_known_values() {
        assert_eq!(adler32(b""), 1);
        assert_eq!(adler32(b"Wikipedia"), 0x11E6_0398);
        // Long input: the deferred modulo must not overflow.
        let big = vec![0xffu8; 100_000];
        let (mut a, mut b) = (1u64, 0u64);
        for &x in &big {
            a = (a + u64::from(x)) % 65521;
            b = (b + a) % 65521;
        }
        assert_eq!(u64::from(adler32(&big)), (b << 16) | a);
    }

    #[test]
    fn layout_of_a_minimal_snapshot() {
        let t = DataTree::new();
        let mut out = Vec::new();
        write_snapshot(
            &mut out,
            &t.view(),
            &[],
            0,
            &SnapshotWriteOptions::default(),
        )
        .unwrap();
        assert_eq!(&out[..4], b"ZKSN");
        assert_eq!(&out[4..8], &2i32.to_be_bytes());
        assert_eq!(&out[8..16], &(-1i64).to_be_bytes());
        assert_eq!(&out[16..20], &0i32.to_be_bytes(), "no sessions");
        // Ends like isValidSnapshot wants: int 1, '/'.
        assert_eq!(&out[out.len() - 5..], &[0, 0, 0, 1, b'/']);
        let back = read_snapshot(&out).unwrap();
        assert_eq!(back.tree.paths_preorder(), t.paths_preorder());
        assert_eq!(
            back.zxid_digest,
            Some(ZxidDigest {
                zxid: 0,
                version: DIGEST_VERSION,
                digest: t.digest()
            })
        );
        assert_eq!(back.last_processed_zxid, Some(0));
    }

    #[test]
    fn optional_sections() {
        let t = small_tree();
        let mut with = Vec::new();
        write_snapshot(
            &mut with,
            &t.view(),
            &[(7, 3000)],
            2,
            &SnapshotWriteOptions::default(),
        )
        .unwrap();
        let mut without = Vec::new();
        let off = SnapshotWriteOptions {
            digest_enabled: false,
        };
        write_snapshot(&mut without, &t.view(), &[(7, 3000)], 2, &off).unwrap();
        assert_eq!(with.len(), without.len() + 33);
        let a = read_snapshot(&with).unwrap();
        let b = read_snapshot(&without).unwrap();
        assert_eq!(a.zxid_digest.map(|d| d.digest), Some(t.digest()));
        assert_eq!(b.zxid_digest, None);
        assert_eq!(
            (a.last_processed_zxid, b.last_processed_zxid),
            (Some(2), Some(2))
        );
        assert_eq!(check_digest(&a, 2), DigestCheck::Match);
        assert_eq!(check_digest(&a, 1), DigestCheck::Deferred { zxid: 2 });
        assert!(matches!(check_digest(&a, 3), DigestCheck::Skipped(_)));
        assert!(matches!(check_digest(&b, 2), DigestCheck::Skipped(_)));
        // A 3.8-style file: the body and the digest only.
        let body_and_digest = &with[..with.len() - 21];
        let c = read_snapshot(body_and_digest).unwrap();
        assert_eq!(
            (c.zxid_digest, c.last_processed_zxid),
            (a.zxid_digest, None)
        );
    }

    #[test]
    fn digest_version_1_is_a_hex_string() {
        let t = DataTree::new();
        let mut out = Vec::new();
        let off = SnapshotWriteOptions {
            digest_enabled: false,
        };
        write_snapshot(&mut out, &t.view(), &[], 5, &off).unwrap();
        out.truncate(out.len() - 21); // drop the lastZxid section
        let mut sec = Vec::new();
        sec.put_i64(5);
        sec.put_i32(1);
        sec.put_string("-1f");
        out.extend_from_slice(&sec);
        let v = adler32(&out);
        out.put_i64(i64::from(v));
        out.put_string("/");
        let back = read_snapshot(&out).unwrap();
        assert_eq!(
            back.zxid_digest,
            Some(ZxidDigest {
                zxid: 5,
                version: 1,
                digest: -0x1f
            })
        );
        assert!(matches!(check_digest(&back, 5), DigestCheck::Skipped(_)));
    }

    #[test]
    fn names() {
        assert_eq!(file_name(0x1_0000_002a), "snapshot.10000002a");
        assert_eq!(zxid_from_name("snapshot.10000002a"), Some(0x1_0000_002a));
        assert_eq!(zxid_from_name("snapshot.0"), Some(0));
        for bad in [
            "snapshot.",
            "snapshot",
            "snapshot.1a.tmp",
            ".snapshot.1a.tmp",
            "snapshot.1a.gz",
            "snapshot.-1a",
            "snapshot.+1a",
            "snapshot.xyz",
            "snapshot.ffffffffffffffff",
            "log.1a",
        ] {
            assert_eq!(zxid_from_name(bad), None, "{bad}");
        }
    }

    #[test]
    fn structural_errors() {
        let build = |sections: &dyn Fn(&mut Vec<u8>)| {
            let mut out = Vec::new();
            out.put_i32(SNAP_MAGIC);
            out.put_i32(2);
            out.put_i64(-1);
            sections(&mut out);
            let v = adler32(&out);
            out.put_i64(i64::from(v));
            out.put_string("/");
            out
        };
        let root = |out: &mut Vec<u8>| {
            out.put_string("");
            out.put_opt_buffer(None);
            out.put_i64(-1);
            StatPersisted::default().encode(out);
        };
        // Valid: no sessions, no ACLs, just the root.
        let ok = build(&|o| {
            o.put_i32(0);
            o.put_i32(0);
            root(o);
            o.put_string("/");
        });
        let t = read_snapshot(&ok).unwrap().tree;
        assert_eq!(t.paths_preorder(), vec!["/"]);
        assert_eq!(t.get("/").unwrap().data, None);

        let cases: Vec<(&str, Vec<u8>)> = vec![
            (
                "child before parent",
                build(&|o| {
                    o.put_i32(0);
                    o.put_i32(0);
                    root(o);
                    o.put_string("/a/b");
                    o.put_opt_buffer(None);
                    o.put_i64(-1);
                    StatPersisted::default().encode(o);
                    o.put_string("/");
                }),
            ),
            (
                "null ACL list",
                build(&|o| {
                    o.put_i32(0);
                    o.put_i32(1);
                    o.put_i64(1);
                    o.put_i32(-1);
                    root(o);
                    o.put_string("/");
                }),
            ),
            (
                "ref -1 listed",
                build(&|o| {
                    o.put_i32(0);
                    o.put_i32(1);
                    o.put_i64(-1);
                    o.put_vec(&Acl::open_unsafe());
                    root(o);
                    o.put_string("/");
                }),
            ),
            (
                "duplicate ref",
                build(&|o| {
                    o.put_i32(0);
                    o.put_i32(2);
                    o.put_i64(1);
                    o.put_vec(&Acl::open_unsafe());
                    o.put_i64(1);
                    o.put_vec(&[Acl::new(Perms::READ, "world", "anyone")]);
                    root(o);
                    o.put_string("/");
                }),
            ),
            (
                "negative session count",
                build(&|o| {
                    o.put_i32(-2);
                    o.put_i32(0);
                    root(o);
                    o.put_string("/");
                }),
            ),
            (
                "no root",
                build(&|o| {
                    o.put_i32(0);
                    o.put_i32(0);
                    o.put_string("/");
                }),
            ),
            (
                "relative path",
                build(&|o| {
                    o.put_i32(0);
                    o.put_i32(0);
                    root(o);
                    o.put_string("a");
                    o.put_opt_buffer(None);
                    o.put_i64(-1);
                    StatPersisted::default().encode(o);
                    o.put_string("/");
                }),
            ),
            (
                "duplicate node",
                build(&|o| {
                    o.put_i32(0);
                    o.put_i32(0);
                    root(o);
                    root(o);
                    o.put_string("/");
                }),
            ),
            (
                "null path",
                build(&|o| {
                    o.put_i32(0);
                    o.put_i32(0);
                    o.put_i32(-1);
                }),
            ),
        ];
        for (what, bytes) in cases {
            assert!(read_snapshot(&bytes).is_err(), "{what} accepted");
        }
        // An ACL ref the snapshot does not list loads (Apache's fuzzy snapshots have them; log
        // replay recreates the entry) but grants nothing meanwhile.
        let dangling = build(&|o| {
            o.put_i32(0);
            o.put_i32(0);
            o.put_string("");
            o.put_opt_buffer(None);
            o.put_i64(3);
            StatPersisted::default().encode(o);
            o.put_string("/");
        });
        let loaded = read_snapshot(&dangling).expect("a dangling ACL ref loads");
        let root = loaded.tree.get("/").unwrap();
        assert_eq!(
            loaded.tree.acl_of(root),
            vec![Acl::new(0, "world", "anyone")]
        );
        let mut bad_magic = ok.clone();
        bad_magic[0] = b'X';
        assert!(matches!(
            read_snapshot(&bad_magic),
            Err(SnapshotError::BadMagic(_))
        ));
        let mut trailing = ok.clone();
        trailing.push(0);
        assert!(read_snapshot(&trailing).is_err());
    }
}
