//! The txn log: `dataLogDir/version-2/log.<zxid>` files in Apache ZooKeeper's format
//! (`FileTxnLog`), so ZooKeeper 3.8 and zkrs read each other's logs.
//!
//! # Layout
//!
//! A file is named `log.` + the zxid of its first txn in lowercase hex without padding
//! (`log.100000001`). It holds, big-endian (jute):
//!
//! ```text
//! FileHeader   int magic = 0x5A4B4C47 ("ZKLG"), int version = 2, long dbid = 0
//! record*      long checksum      Adler-32 of txnBytes (0..2^32-1 in a long)
//!              int  length        of txnBytes (> 0)
//!              byte txnBytes[length] = TxnHeader{long clientId, int cxid, long zxid,
//!                                 long time, int type} + txn record for `type`
//!                                 + optional TxnDigest{int version, long treeDigest}
//!              byte 0x42          end of record ('B')
//! zeros        preallocated space up to the file size
//! ```
//!
//! The data ends at end of file or where `checksum` and `length` are both zero. Files grow in
//! `preAllocSize` chunks (64 MiB) exactly as `FilePadding` does: the first chunk is added at
//! offset 16, so files are normally `16 + k * 64 MiB` long. A new file is started on every
//! server start and after every snapshot ([`TxnLog::roll`]).
//!
//! # Crash safety
//!
//! [`TxnLog::commit`] returns only when everything appended before it is on disk (one
//! `fdatasync`, plus a directory fsync for a new file's name: ZooKeeper skips that one).
//! A crash mid-write leaves an incomplete or garbled last record, which [`scan`] reports as a
//! [`TornTail`] and [`truncate_torn_tail`] cuts off. Recovery is: `scan` from the snapshot's
//! zxid, `truncate_torn_tail` if needed, then [`TxnLog::open`] (see [`recover`]).

pub mod fault;
mod format;
mod fs;
mod reader;
mod writer;

use std::path::{Path, PathBuf};

pub use self::format::{
    decode_txn, encode_txn, follows, log_name, padded_size, parse_log_name, DEFAULT_PREALLOC, EOR,
    HEADER_LEN, TXNLOG_MAGIC, TXNLOG_VERSION,
};
pub use self::fs::{LogFile, LogFs, RealFs};
pub use self::reader::{log_files, scan, truncate_after, truncate_torn_tail, ScanReport, TornTail};
pub use self::writer::{LogOptions, TxnLog};
pub use super::adler32::{adler32, Adler32};

use crate::core::txn::Txn;

/// Txn log errors. Any error from the writer is fatal for it (it refuses further calls).
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("{op} {}: {source}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    /// Damaged data that is not a torn tail of the last file.
    #[error("corrupt txn log {} at offset {offset}: {reason}", path.display())]
    Corrupt {
        path: PathBuf,
        offset: u64,
        reason: String,
    },
    /// A record with a valid checksum whose txn cannot be decoded.
    #[error("txn log {} at offset {offset}: intact record with an undecodable txn: {reason}", path.display())]
    Undecodable {
        path: PathBuf,
        offset: u64,
        reason: String,
    },
    /// A txn whose zxid does not follow the previous one (a gap, a repeat, or going back).
    #[error("txn log {} at offset {offset}: zxid {zxid:#x} does not follow {prev:#x}", path.display())]
    Sequence {
        path: PathBuf,
        offset: u64,
        prev: i64,
        zxid: i64,
    },
    /// The scan callback refused a txn.
    #[error("replaying txn {zxid:#x}: {message}")]
    Callback { zxid: i64, message: String },
    /// `append` of a zxid that cannot follow the file's last one; nothing was written.
    #[error("cannot append zxid {zxid:#x} after {prev:#x}")]
    OutOfOrder { prev: i64, zxid: i64 },
    #[error("txn {zxid:#x} is {len} bytes, too large for a log record")]
    TooLarge { zxid: i64, len: usize },
    /// An earlier write or fsync failed; the writer does nothing more.
    #[error("the txn log writer failed earlier and accepts no more calls")]
    Failed,
}

/// The usual recovery sequence: [`scan`] from `after_zxid` (the snapshot's zxid), cut a torn
/// tail of the last file if there is one, and open a writer. Returns the scan report (its
/// `torn_tail` says what was cut).
pub fn recover(
    dir: &Path,
    after_zxid: i64,
    opts: LogOptions,
    f: impl FnMut(Txn) -> Result<(), String>,
) -> Result<(ScanReport, TxnLog), LogError> {
    let report = scan(dir, after_zxid, f)?;
    if let Some(t) = &report.torn_tail {
        truncate_torn_tail(t)?;
    }
    let log = TxnLog::open(dir, opts)?;
    Ok((report, log))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writer_can_move_to_the_disk_thread() {
        fn assert_send<T: Send + 'static>() {}
        assert_send::<TxnLog>();
        assert_send::<LogError>();
        assert_send::<fault::FaultFs>();
    }
}
