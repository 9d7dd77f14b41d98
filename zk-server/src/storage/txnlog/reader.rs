//! Reading logs back: listing files, scanning records in zxid order, and cutting logs short
//! (torn-tail repair, Zab `TRUNC`).

use std::fs::{File, OpenOptions};
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};

use super::format::{
    decode_txn, follows, parse_log_name, EOR, HEADER_LEN, RECORD_PREFIX_LEN, TXNLOG_MAGIC,
};
use super::LogError;
use crate::core::txn::Txn;
use crate::storage::adler32::adler32;

/// Where the valid records of a file end before something that is not a valid record (or end
/// of data): the state a crash in the middle of a write leaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TornTail {
    pub file: PathBuf,
    /// Length of the valid prefix: header plus whole valid records. 0 when even the header is
    /// missing or incomplete.
    pub valid_len: u64,
    pub reason: String,
}

/// What [`scan`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScanReport {
    /// The zxid of the last valid txn read from the files scanned, whether or not it was after
    /// `after_zxid` (so it may be below it; files skipped by name are not read).
    pub last_zxid: Option<i64>,
    /// How many txns were passed to the callback.
    pub txn_count: u64,
    /// A damaged or incomplete end of the last log file. Repair it with
    /// [`truncate_torn_tail`] before writing again.
    pub torn_tail: Option<TornTail>,
    /// Damaged ends of earlier files that were accepted because the next file continues the
    /// zxid sequence right after the last valid txn, so no txn is missing: what Apache
    /// ZooKeeper leaves when it crashes mid-write and restarts (it never repairs a torn tail;
    /// it starts a new file).
    pub earlier_torn_tails: Vec<TornTail>,
}

fn io_err(op: &'static str, path: &Path) -> impl FnOnce(io::Error) -> LogError {
    let path = path.to_path_buf();
    move |source| LogError::Io { op, path, source }
}

/// The `log.<hex zxid>` files in `dir`, sorted by their first zxid. A missing directory has no
/// files. Two names for the same zxid (`log.a`, `log.0a`) are an error.
pub fn log_files(dir: &Path) -> Result<Vec<(i64, PathBuf)>, LogError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_err("list", dir)(e)),
    };
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry.map_err(io_err("list", dir))?;
        let name = entry.file_name();
        let Some(zxid) = name.to_str().and_then(parse_log_name) else {
            continue;
        };
        let path = entry.path();
        let meta = std::fs::metadata(&path).map_err(io_err("stat", &path))?;
        if meta.is_file() {
            files.push((zxid, path));
        }
    }
    files.sort();
    for pair in files.windows(2) {
        if pair[0].0 == pair[1].0 {
            return Err(LogError::Corrupt {
                path: pair[1].1.clone(),
                offset: 0,
                reason: format!(
                    "another log file, {}, has the same start zxid",
                    pair[0].1.display()
                ),
            });
        }
    }
    Ok(files)
}

/// One record read from a file.
enum Item {
    Txn {
        offset: u64,
        end: u64,
        txn: Txn,
    },
    /// End of data: end of file, or a zero `checksum` and `length` (preallocated space).
    End,
    /// Not a valid record at `offset`.
    Bad {
        offset: u64,
        reason: String,
    },
}

/// Sequential reader of one log file's records.
struct Records {
    path: PathBuf,
    rdr: BufReader<File>,
    len: u64,
    offset: u64,
}

/// Whether four magic bytes look like a header write that never (completely) reached the disk:
/// a prefix of "ZKLG" followed by zeros.
fn torn_magic(m: &[u8]) -> bool {
    let expect = TXNLOG_MAGIC.to_be_bytes();
    let k = m
        .iter()
        .zip(expect.iter())
        .take_while(|(a, b)| a == b)
        .count();
    m[k..].iter().all(|&b| b == 0)
}

impl Records {
    /// Opens `path` and reads its header. `Err(reason)` inside `Ok` when the header is missing
    /// or incomplete (a file created just before a crash); a header that is not a txn log's is
    /// an error.
    fn open(path: &Path) -> Result<Result<Records, String>, LogError> {
        let file = File::open(path).map_err(io_err("open", path))?;
        let len = file.metadata().map_err(io_err("stat", path))?.len();
        let mut rdr = BufReader::with_capacity(64 * 1024, file);
        let n = len.min(HEADER_LEN) as usize;
        let mut hdr = [0u8; HEADER_LEN as usize];
        rdr.read_exact(&mut hdr[..n])
            .map_err(io_err("read", path))?;
        let magic = &hdr[..n.min(4)];
        if n == HEADER_LEN as usize && magic == TXNLOG_MAGIC.to_be_bytes() {
            return Ok(Ok(Records {
                path: path.to_path_buf(),
                rdr,
                len,
                offset: HEADER_LEN,
            }));
        }
        if torn_magic(magic) {
            let reason = if n < HEADER_LEN as usize {
                format!("file is {len} bytes long, shorter than its header")
            } else {
                "file header is missing (zeros)".to_string()
            };
            return Ok(Err(reason));
        }
        Err(LogError::Corrupt {
            path: path.to_path_buf(),
            offset: 0,
            reason: format!("not a txn log: bad magic {:02x?}", magic),
        })
    }

    fn read(&mut self, buf: &mut [u8]) -> Result<bool, LogError> {
        match self.rdr.read_exact(buf) {
            Ok(()) => Ok(true),
            // The file shrank under us: whatever was there is not a valid record.
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(false),
            Err(e) => Err(io_err("read", &self.path)(e)),
        }
    }

    fn next(&mut self) -> Result<Item, LogError> {
        let offset = self.offset;
        let remaining = self.len - offset;
        if remaining == 0 {
            return Ok(Item::End);
        }
        let bad = |reason: String| Ok(Item::Bad { offset, reason });
        let mut prefix = [0u8; RECORD_PREFIX_LEN as usize];
        let n = remaining.min(RECORD_PREFIX_LEN) as usize;
        if !self.read(&mut prefix[..n])? {
            return bad("file shrank while being read".into());
        }
        if n < RECORD_PREFIX_LEN as usize {
            return if prefix[..n].iter().all(|&b| b == 0) {
                Ok(Item::End)
            } else {
                bad(format!(
                    "file ends {n} bytes into a record's checksum and length"
                ))
            };
        }
        let crc = i64::from_be_bytes(prefix[..8].try_into().unwrap_or_default());
        let len = i32::from_be_bytes(prefix[8..].try_into().unwrap_or_default());
        if len == 0 {
            return if crc == 0 {
                Ok(Item::End)
            } else {
                bad(format!("zero length after a nonzero checksum {crc:#x}"))
            };
        }
        if len < 0 {
            return bad(format!("negative record length {len}"));
        }
        let len = len as u64;
        if RECORD_PREFIX_LEN + len + 1 > remaining {
            return bad(format!(
                "record of {len} bytes runs past the end of the file ({remaining} bytes left)"
            ));
        }
        let mut bytes = vec![0u8; len as usize + 1];
        if !self.read(&mut bytes)? {
            return bad("file shrank while being read".into());
        }
        let eor = bytes.pop();
        if eor != Some(EOR) {
            return bad(format!(
                "end-of-record byte is {:#04x}, not 0x42",
                eor.unwrap_or_default()
            ));
        }
        let actual = i64::from(adler32(&bytes));
        if actual != crc {
            return bad(format!(
                "checksum mismatch: stored {crc:#x}, computed {actual:#x}"
            ));
        }
        let txn = decode_txn(&bytes).map_err(|reason| LogError::Undecodable {
            path: self.path.clone(),
            offset,
            reason,
        })?;
        self.offset = offset + RECORD_PREFIX_LEN + len + 1;
        Ok(Item::Txn {
            offset,
            end: self.offset,
            txn,
        })
    }
}

/// Reads every valid txn with zxid > `after_zxid`, across all log files in zxid order, and
/// passes each to `f` (an `Err` from `f` stops the scan with [`LogError::Callback`]).
///
/// - Files whose txns all precede `after_zxid + 1` are skipped by name: file *i* is skipped
///   when file *i+1* starts at or before `after_zxid + 1` (as ZooKeeper's `getLogFiles`).
/// - The txns passed to `f` form an unbroken sequence starting right after `after_zxid`: each
///   is the next counter of the previous one's epoch, or counter 1 of a later epoch; anything
///   else is [`LogError::Sequence`]. Each file's first txn must carry the zxid of its name.
/// - A record that is not valid (incomplete, bad length, checksum mismatch, no 0x42) in the
///   last file ends the scan: it is reported as [`ScanReport::torn_tail`]. So is a last file
///   with no header or no txns. In an earlier file it is [`LogError::Corrupt`], unless the next
///   file starts with the txn that follows the last valid one (nothing is missing; see
///   [`ScanReport::earlier_torn_tails`]).
/// - A record whose checksum is right but whose txn cannot be decoded is always an error
///   ([`LogError::Undecodable`]): it is intact data we do not understand, not a torn write, and
///   cutting the log there would throw away the valid txns after it.
pub fn scan(
    dir: &Path,
    after_zxid: i64,
    mut f: impl FnMut(Txn) -> Result<(), String>,
) -> Result<ScanReport, LogError> {
    let files = log_files(dir)?;
    let mut report = ScanReport::default();
    let limit = after_zxid.saturating_add(1);
    let first = files
        .iter()
        .filter(|(start, _)| *start <= limit)
        .count()
        .saturating_sub(1);
    let mut expect_after = after_zxid;
    // A damaged end of an earlier file, and the zxid the next file must follow.
    let mut pending: Option<(TornTail, i64)> = None;
    for (idx, (start, path)) in files.iter().enumerate().skip(first) {
        let (start, is_last) = (*start, idx + 1 == files.len());
        if let Some((tail, base)) = pending.take() {
            if !follows(base, start) {
                return Err(LogError::Corrupt {
                    path: tail.file,
                    offset: tail.valid_len,
                    reason: format!(
                        "{}; the next log file, {}, does not continue right after zxid {base:#x}, \
                         so txns may be lost",
                        tail.reason,
                        path.display()
                    ),
                });
            }
            tracing::warn!(file = %tail.file.display(), offset = tail.valid_len,
                reason = %tail.reason, "accepting a torn tail of an earlier txn log file");
            report.earlier_torn_tails.push(tail);
        }
        let defect = match Records::open(path)? {
            Err(reason) => Some(TornTail {
                file: path.clone(),
                valid_len: 0,
                reason,
            }),
            Ok(mut records) => {
                let mut count = 0u64;
                loop {
                    match records.next()? {
                        Item::Txn { offset, txn, .. } => {
                            let zxid = txn.hdr.zxid;
                            if count == 0 && zxid != start {
                                return Err(LogError::Corrupt {
                                    path: path.clone(),
                                    offset,
                                    reason: format!(
                                        "first txn has zxid {zxid:#x}, but the file name says {start:#x}"
                                    ),
                                });
                            }
                            count += 1;
                            if zxid > after_zxid {
                                if !follows(expect_after, zxid) {
                                    return Err(LogError::Sequence {
                                        path: path.clone(),
                                        offset,
                                        prev: expect_after,
                                        zxid,
                                    });
                                }
                                f(txn).map_err(|message| LogError::Callback { zxid, message })?;
                                expect_after = zxid;
                                report.txn_count += 1;
                            }
                            report.last_zxid = Some(zxid);
                        }
                        Item::End if count == 0 && is_last => {
                            break Some(TornTail {
                                file: path.clone(),
                                valid_len: HEADER_LEN,
                                reason: "log file holds no txns".into(),
                            });
                        }
                        Item::End => break None,
                        Item::Bad { offset, reason } => {
                            break Some(TornTail {
                                file: path.clone(),
                                valid_len: offset,
                                reason,
                            });
                        }
                    }
                }
            }
        };
        if let Some(tail) = defect {
            if is_last {
                report.torn_tail = Some(tail);
            } else {
                let base = report.last_zxid.unwrap_or(start.wrapping_sub(1));
                pending = Some((tail, base));
            }
        }
    }
    Ok(report)
}

fn sync_dir(dir: &Path) -> Result<(), LogError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err("fsync directory", dir))
}

fn sync_dir_of(path: &Path) -> Result<(), LogError> {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => sync_dir(d),
        _ => sync_dir(Path::new(".")),
    }
}

fn remove_log(path: &Path) -> Result<(), LogError> {
    tracing::warn!(file = %path.display(), "removing txn log file");
    std::fs::remove_file(path).map_err(io_err("remove", path))
}

/// Cuts `file` to `valid_len` and zero-fills it back to its old length (so the
/// zero-marks-the-end rule holds for whatever follows), then fsyncs.
fn cut(file: &Path, valid_len: u64) -> Result<(), LogError> {
    let f = OpenOptions::new()
        .write(true)
        .open(file)
        .map_err(io_err("open", file))?;
    let len = f.metadata().map_err(io_err("stat", file))?.len();
    if valid_len >= len {
        return Ok(());
    }
    f.set_len(valid_len).map_err(io_err("truncate", file))?;
    f.set_len(len).map_err(io_err("zero-fill", file))?;
    f.sync_all().map_err(io_err("fsync", file))
}

/// Repairs a torn tail reported by [`scan`]: cuts the file after its last valid record and
/// zeroes the rest, fsynced. A file without a single valid txn is removed instead (so the
/// writer can create a file of that name again), and its directory fsynced.
pub fn truncate_torn_tail(t: &TornTail) -> Result<(), LogError> {
    tracing::warn!(file = %t.file.display(), valid_len = t.valid_len, reason = %t.reason,
        "truncating torn tail of txn log");
    if t.valid_len <= HEADER_LEN {
        remove_log(&t.file)?;
        return sync_dir_of(&t.file);
    }
    cut(&t.file, t.valid_len)
}

/// Removes every txn with zxid > `zxid` (Zab `TRUNC`): deletes the files that start after it
/// (newest first, so a crash midway leaves a prefix of the log), then cuts the file holding
/// `zxid` right after it (and after any damaged tail). A file left without txns is removed.
pub fn truncate_after(dir: &Path, zxid: i64) -> Result<(), LogError> {
    let files = log_files(dir)?;
    let mut removed = false;
    for (start, path) in files.iter().rev() {
        if *start > zxid {
            remove_log(path)?;
            removed = true;
        }
    }
    if removed {
        sync_dir(dir)?;
    }
    let Some((_, path)) = files.iter().rev().find(|(start, _)| *start <= zxid) else {
        return Ok(());
    };
    let mut records = match Records::open(path)? {
        Ok(r) => r,
        Err(_) => {
            remove_log(path)?;
            return sync_dir_of(path);
        }
    };
    let mut keep = HEADER_LEN;
    let dirty_after = loop {
        match records.next()? {
            Item::Txn { end, txn, .. } if txn.hdr.zxid <= zxid => keep = end,
            Item::Txn { .. } | Item::Bad { .. } => break true,
            Item::End => break false,
        }
    };
    if keep <= HEADER_LEN {
        remove_log(path)?;
        return sync_dir_of(path);
    }
    if dirty_after {
        cut(path, keep)?;
    }
    Ok(())
}
