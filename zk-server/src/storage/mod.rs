//! Durable storage in Apache ZooKeeper's own on-disk format (`dataDir/version-2`), so a data
//! directory moves between Apache ZooKeeper and zkrs in both directions.
//!
//! - [`adler32`]: the checksum both file formats use (`java.util.zip.Adler32`).
//! - [`txnlog`]: `log.<zxid>` files: append, group commit, scan, torn-tail truncation.
//! - [`snapshot`]: `snapshot.<zxid>` files: write a consistent tree image, read one back.
//! - [`recovery`]: the newest valid snapshot plus the log after it, refusing gaps.
//! - [`purge`]: old snapshots and the logs only they need.

pub mod adler32;
pub mod purge;
pub mod recovery;
pub mod snapshot;
pub mod txnlog;
