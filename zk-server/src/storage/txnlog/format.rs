//! The bytes of a txn log file, as Apache ZooKeeper's `FileTxnLog`, `Util` and `FilePadding`
//! define them.

use zk_proto::codec::{Decode, DecodeError, Encode, Reader};
use zk_proto::txn::{CloseSessionTxn, CreateTxn, CreateTxnV0, TxnDigest, TxnHeader};
use zk_proto::OpCode;

use crate::core::txn::{Txn, TxnBody};

/// `FileTxnLog.TXNLOG_MAGIC`: "ZKLG" as a big-endian int.
pub const TXNLOG_MAGIC: i32 = 0x5A4B_4C47;
/// `FileTxnLog.VERSION`.
pub const TXNLOG_VERSION: i32 = 2;
/// The jute `FileHeader{int magic; int version; long dbid}`.
pub const HEADER_LEN: u64 = 16;
/// The end-of-record byte after each record (`'B'`).
pub const EOR: u8 = 0x42;
/// `long checksum` + `int length` in front of each record's txn bytes.
pub const RECORD_PREFIX_LEN: u64 = 12;
/// `FilePadding`'s default `preAllocSize` (`zookeeper.preAllocSize` is in KiB): 64 MiB.
pub const DEFAULT_PREALLOC: u64 = 64 * 1024 * 1024;
/// `FilePadding` extends the file when the write position comes this close to its end.
pub const PAD_SLACK: u64 = 4096;

/// `Util.makeLogName`: `log.` + `Long.toHexString(zxid)` (lowercase, no padding).
pub fn log_name(zxid: i64) -> String {
    format!("log.{zxid:x}")
}

/// The start zxid of a file named `log.<hex>`; `None` for any other name. Unlike ZooKeeper's
/// `getZxidFromName`, names with a further suffix (`log.1.fixed` from `TxnLogToolkit -r`,
/// `log.1.chopped5` from its chop mode) are not log files.
pub fn parse_log_name(name: &str) -> Option<i64> {
    let hex = name.strip_prefix("log.")?;
    if hex.is_empty() || hex.len() > 16 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u64::from_str_radix(hex, 16).ok().map(|z| z as i64)
}

/// `FilePadding.calculateFileSizeWithPadding`: the file size after padding, given the write
/// position and the current (padded) size. Grows by a whole chunk when `position` is within
/// 4 KiB of the end; if `position` already passed the end, to the next multiple of the chunk
/// above `position`. Because the first pad happens at position 16 (right after the header), a
/// file is normally `16 + k * prealloc` bytes long (67108880 with the default).
pub fn padded_size(position: u64, size: u64, prealloc: u64) -> u64 {
    if prealloc == 0 || position + PAD_SLACK < size {
        return size;
    }
    if position > size {
        let s = position + prealloc;
        s - s % prealloc
    } else {
        size + prealloc
    }
}

/// Whether `next` may directly follow `prev` in a log: the next counter in the same epoch, or
/// the first txn (counter 1) of a later epoch.
pub fn follows(prev: i64, next: i64) -> bool {
    if prev.checked_add(1) == Some(next) {
        return true;
    }
    (next >> 32) > (prev >> 32) && (next & 0xffff_ffff) == 1
}

/// The txn bytes of one record: jute `TxnHeader`, the txn record, then the `TxnDigest` if any
/// (`Util.marshallTxnEntry`).
pub fn encode_txn(txn: &Txn, out: &mut Vec<u8>) {
    txn.hdr.encode(out);
    txn.body.encode(out);
    if let Some(d) = &txn.digest {
        d.encode(out);
    }
}

const DIGEST_LEN: usize = 12;

/// Decodes a record's txn bytes as `SerializeUtils.deserializeTxn` (3.8) does: header, the body
/// for the header's type, then an optional `TxnDigest`. Two older forms are accepted as Java
/// accepts them: a `closeSession` without a body (before 3.6, or with
/// `zookeeper.closeSessionTxn.enabled=false`) and a `create` in the pre-3.3 `CreateTxnV0` form
/// (read with `parentCVersion` -1). Bytes left after the digest are an error.
pub fn decode_txn(bytes: &[u8]) -> Result<Txn, String> {
    let mut r = Reader::with_max(bytes, bytes.len());
    let hdr = TxnHeader::decode(&mut r).map_err(|e| format!("txn header: {e}"))?;
    let body_start = r.clone();
    let body = if hdr.txn_type == OpCode::CloseSession.code() {
        decode_close_session(&mut r)?
    } else {
        match TxnBody::decode(hdr.txn_type, &mut r) {
            Ok(body) => body,
            Err(DecodeError::Truncated { .. }) if hdr.txn_type == OpCode::Create.code() => {
                r = body_start;
                let v0 =
                    CreateTxnV0::decode(&mut r).map_err(|e| format!("create (v0) txn: {e}"))?;
                TxnBody::Create(CreateTxn {
                    path: v0.path,
                    data: v0.data,
                    acl: v0.acl,
                    ephemeral: v0.ephemeral,
                    parent_cversion: -1,
                })
            }
            Err(e) => return Err(format!("txn of type {}: {e}", hdr.txn_type)),
        }
    };
    let digest = match r.remaining() {
        0 => None,
        DIGEST_LEN => Some(TxnDigest::decode(&mut r).map_err(|e| format!("txn digest: {e}"))?),
        n => return Err(format!("{n} unexpected bytes after the txn")),
    };
    Ok(Txn { hdr, body, digest })
}

/// A `closeSession` body: a `CloseSessionTxn` (3.6+), or nothing at all (older servers, or
/// `closeSessionTxn.enabled=false`), possibly followed by a digest.
fn decode_close_session(r: &mut Reader<'_>) -> Result<TxnBody, String> {
    let rest = r.remaining();
    if rest == 0 {
        return Ok(TxnBody::CloseSession(CloseSessionTxn::default()));
    }
    let mut attempt = r.clone();
    match CloseSessionTxn::decode(&mut attempt) {
        Ok(t) if attempt.remaining() == 0 || attempt.remaining() == DIGEST_LEN => {
            *r = attempt;
            Ok(TxnBody::CloseSession(t))
        }
        // No body; the 12 bytes are the digest.
        _ if rest == DIGEST_LEN => Ok(TxnBody::CloseSession(CloseSessionTxn::default())),
        Ok(_) => Err("unexpected bytes after the closeSession txn".to_string()),
        Err(e) => Err(format!("closeSession txn: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(log_name(1), "log.1");
        assert_eq!(log_name(0x1_0000_002a), "log.10000002a");
        assert_eq!(parse_log_name("log.10000002a"), Some(0x1_0000_002a));
        assert_eq!(parse_log_name("log.ABC"), Some(0xabc));
        assert_eq!(parse_log_name("log."), None);
        assert_eq!(parse_log_name("log.1.fixed"), None);
        assert_eq!(parse_log_name("log.xyz"), None);
        assert_eq!(parse_log_name("snapshot.1"), None);
        assert_eq!(parse_log_name("log.12345678901234567"), None);
    }

    #[test]
    fn padding_matches_file_padding() {
        const P: u64 = 64 * 1024 * 1024;
        // First pad right after the 16-byte header.
        assert_eq!(padded_size(16, 16, P), 16 + P);
        // Far from the end: unchanged.
        assert_eq!(padded_size(1000, 16 + P, P), 16 + P);
        assert_eq!(padded_size(16 + P - 4097, 16 + P, P), 16 + P);
        // Within 4 KiB of the end: one more chunk.
        assert_eq!(padded_size(16 + P - 4096, 16 + P, P), 16 + 2 * P);
        // Past the end: next multiple of the chunk.
        assert_eq!(padded_size(16 + P + 5, 16 + P, P), 2 * P);
        // Disabled.
        assert_eq!(padded_size(1 << 40, 16, 0), 16);
    }

    #[test]
    fn zxid_succession() {
        assert!(follows(0, 1));
        assert!(follows(0x1_0000_0005, 0x1_0000_0006));
        assert!(follows(0, 0x1_0000_0001));
        assert!(follows(0x1_0000_0005, 0x3_0000_0001));
        assert!(!follows(0x1_0000_0005, 0x1_0000_0007));
        assert!(!follows(0x1_0000_0005, 0x1_0000_0005));
        assert!(!follows(0x1_0000_0005, 0x1_0000_0004));
        assert!(!follows(0x1_0000_0005, 0x2_0000_0002));
        assert!(!follows(0x2_0000_0005, 0x1_0000_0001));
    }
}
