//! zk-server: a ZooKeeper-compatible coordination server.
//!
//! - [`config`]: zoo.cfg, myid and JVM-flag parsing (`&str` in, typed config out).
//! - [`core`]: the pure request pipeline: data tree, sessions, watches, ACLs, prep and apply.
//! - [`runtime`]: the tokio shell: listener, connections, disk thread, snapshots, shutdown.
//! - [`storage`]: txn log, snapshots, recovery and purge in Apache ZooKeeper's on-disk format.
//! - [`tools`]: print or check a txn log or snapshot (TxnLogToolkit, SnapshotFormatter).

pub mod config;
pub mod core;
pub mod logging;
pub mod runtime;
pub mod storage;
pub mod tools;
