//! The writer: appends records to `log.<zxid>` files with ZooKeeper's preallocation, and makes
//! them durable with one `fdatasync` per commit (group commit).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use zk_proto::codec::{Encode, WriteExt};
use zk_proto::txn::FileHeader;

use super::format::{
    encode_txn, follows, log_name, padded_size, DEFAULT_PREALLOC, EOR, TXNLOG_MAGIC, TXNLOG_VERSION,
};
use super::fs::{LogFile, LogFs, RealFs};
use super::LogError;
use crate::core::txn::Txn;
use crate::storage::adler32::adler32;

/// Buffered records are handed to the file once this many bytes are pending, so a large batch
/// does not sit in memory; they become durable only at the next commit either way.
const FLUSH_AT: usize = 256 * 1024;

/// How the writer lays out and syncs files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogOptions {
    /// `zookeeper.preAllocSize` in bytes (ZooKeeper's setting is in KiB): files grow in chunks
    /// of this size, zero-filled. 0 disables preallocation.
    pub prealloc_bytes: u64,
    /// `zookeeper.forceSync`: `false` skips every fsync (for tests and throwaway servers only).
    pub force_sync: bool,
    /// The `dbid` written into each file header; ZooKeeper always writes 0.
    pub dbid: i64,
}

impl Default for LogOptions {
    fn default() -> Self {
        LogOptions {
            prealloc_bytes: DEFAULT_PREALLOC,
            force_sync: true,
            dbid: 0,
        }
    }
}

/// The file being appended to.
struct Segment {
    path: PathBuf,
    file: Box<dyn LogFile>,
    last_zxid: i64,
    /// Bytes handed to the file so far.
    written: u64,
    /// The file's size as padded (`FilePadding.currentSize`).
    size: u64,
    /// Whether the directory was fsynced since the file was created.
    name_synced: bool,
}

/// The txn log writer, owned by the disk thread.
///
/// [`append`](TxnLog::append) only buffers; [`commit`](TxnLog::commit) writes and makes durable
/// everything appended since the previous commit with one `fdatasync` (plus, once per new file,
/// an fsync of the directory so the file's name is durable too). Any I/O error is returned and
/// leaves the writer failed: every later call returns [`LogError::Failed`]. An fsync is never
/// retried (after a failed fsync, Linux may have dropped the dirty pages; a retry would report
/// success for data that is gone). Dropping the writer without [`close`](TxnLog::close) loses
/// what was appended since the last commit, which was never promised durable.
pub struct TxnLog {
    dir: PathBuf,
    opts: LogOptions,
    fs: Arc<dyn LogFs>,
    seg: Option<Segment>,
    /// Encoded records (and a new file's header) not yet handed to the file.
    buf: Vec<u8>,
    scratch: Vec<u8>,
    /// Whether anything was appended since the last commit.
    dirty: bool,
    failed: bool,
}

fn io_err(op: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> LogError {
    let path = path.to_path_buf();
    move |source| LogError::Io { op, path, source }
}

impl TxnLog {
    /// A writer for `dir` (`dataLogDir/version-2`, created if missing) on the real filesystem.
    /// The first append starts a new file, as ZooKeeper does on every start.
    pub fn open(dir: &Path, opts: LogOptions) -> Result<TxnLog, LogError> {
        Self::open_with(dir, opts, Arc::new(RealFs))
    }

    /// As [`open`](TxnLog::open), with the file operations going through `fs`.
    pub fn open_with(dir: &Path, opts: LogOptions, fs: Arc<dyn LogFs>) -> Result<TxnLog, LogError> {
        fs.create_dir_all(dir)
            .map_err(io_err("create directory", dir))?;
        Ok(TxnLog {
            dir: dir.to_path_buf(),
            opts,
            fs,
            seg: None,
            buf: Vec::new(),
            scratch: Vec::new(),
            dirty: false,
            failed: false,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn options(&self) -> &LogOptions {
        &self.opts
    }

    /// The file being appended to, if one is open.
    pub fn current_file(&self) -> Option<&Path> {
        self.seg.as_ref().map(|s| s.path.as_path())
    }

    /// The zxid of the last txn appended to the current file.
    pub fn last_zxid(&self) -> Option<i64> {
        self.seg.as_ref().map(|s| s.last_zxid)
    }

    /// Whether an earlier I/O error disabled the writer.
    pub fn is_failed(&self) -> bool {
        self.failed
    }

    fn check_ok(&self) -> Result<(), LogError> {
        if self.failed {
            Err(LogError::Failed)
        } else {
            Ok(())
        }
    }

    /// Appends `txn` to the log (buffered: durable only after [`commit`](TxnLog::commit)).
    /// Starts `log.<txn zxid>` if no file is open. Within a file, zxids must follow each other
    /// as the reader requires (next counter, or counter 1 of a later epoch); otherwise
    /// [`LogError::OutOfOrder`] is returned and nothing is written. After installing a snapshot
    /// that jumps ahead, [`roll`](TxnLog::roll) first.
    pub fn append(&mut self, txn: &Txn) -> Result<(), LogError> {
        let mut record = std::mem::take(&mut self.scratch);
        record.clear();
        encode_txn(txn, &mut record);
        let result = self.append_encoded(txn.hdr.zxid, &record);
        self.scratch = record;
        result
    }

    /// Appends a txn already encoded as a log record holds it (`encode_txn`'s output, such as
    /// a Zab proposal's bytes), without decoding it. The same rules as [`append`](Self::append).
    pub fn append_encoded(&mut self, zxid: i64, record: &[u8]) -> Result<(), LogError> {
        self.check_ok()?;
        if let Some(seg) = &self.seg {
            if !follows(seg.last_zxid, zxid) {
                return Err(LogError::OutOfOrder {
                    prev: seg.last_zxid,
                    zxid,
                });
            }
        }
        if record.len() > i32::MAX as usize {
            return Err(LogError::TooLarge {
                zxid,
                len: record.len(),
            });
        }
        let result = self.append_record(zxid, record);
        if result.is_err() {
            self.failed = true;
        }
        result
    }

    fn append_record(&mut self, zxid: i64, record: &[u8]) -> Result<(), LogError> {
        if self.seg.is_none() {
            self.seg = Some(self.start_file(zxid)?);
        }
        let Some(seg) = self.seg.as_mut() else {
            return Err(LogError::Failed);
        };
        // FilePadding.padFile before each record.
        let position = seg.written + self.buf.len() as u64;
        let size = padded_size(position, seg.size, self.opts.prealloc_bytes);
        if size != seg.size {
            seg.file
                .set_len(size)
                .map_err(io_err("preallocate", &seg.path))?;
            seg.size = size;
        }
        let crc = adler32(record);
        self.buf.put_i64(i64::from(crc));
        self.buf.put_buffer(record);
        self.buf.push(EOR);
        seg.last_zxid = zxid;
        self.dirty = true;
        if self.buf.len() >= FLUSH_AT {
            write_out(seg, &mut self.buf)?;
        }
        Ok(())
    }

    fn start_file(&mut self, zxid: i64) -> Result<Segment, LogError> {
        let path = self.dir.join(log_name(zxid));
        tracing::info!(file = %path.display(), "creating new txn log file");
        let file = self.fs.create_new(&path).map_err(io_err("create", &path))?;
        debug_assert!(self.buf.is_empty());
        self.buf.clear();
        FileHeader {
            magic: TXNLOG_MAGIC,
            version: TXNLOG_VERSION,
            dbid: self.opts.dbid,
        }
        .encode(&mut self.buf);
        Ok(Segment {
            path,
            file,
            last_zxid: zxid,
            written: 0,
            size: self.buf.len() as u64,
            name_synced: false,
        })
    }

    /// Writes out everything appended since the last commit and makes it durable with one
    /// `fdatasync` (none when `force_sync` is off, or when nothing was appended).
    pub fn commit(&mut self) -> Result<(), LogError> {
        self.check_ok()?;
        let result = self.commit_inner();
        if result.is_err() {
            self.failed = true;
        }
        result
    }

    fn commit_inner(&mut self) -> Result<(), LogError> {
        let Some(seg) = self.seg.as_mut() else {
            return Ok(());
        };
        if !self.buf.is_empty() {
            write_out(seg, &mut self.buf)?;
        }
        if self.dirty && self.opts.force_sync {
            seg.file.flush().map_err(io_err("flush", &seg.path))?;
            seg.file.sync_data().map_err(io_err("fsync", &seg.path))?;
            if !seg.name_synced {
                self.fs
                    .sync_dir(&self.dir)
                    .map_err(io_err("fsync directory", &self.dir))?;
                seg.name_synced = true;
            }
        }
        self.dirty = false;
        Ok(())
    }

    /// Commits and closes the current file; the next append starts a new one (ZooKeeper rolls
    /// the log whenever it starts a snapshot).
    pub fn roll(&mut self) -> Result<(), LogError> {
        self.commit()?;
        self.seg = None;
        Ok(())
    }

    /// Commits and closes.
    pub fn close(mut self) -> Result<(), LogError> {
        self.roll()
    }
}

fn write_out(seg: &mut Segment, buf: &mut Vec<u8>) -> Result<(), LogError> {
    seg.file
        .write_all(buf)
        .map_err(io_err("write", &seg.path))?;
    seg.written += buf.len() as u64;
    buf.clear();
    Ok(())
}
