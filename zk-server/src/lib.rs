//! zk-server: a ZooKeeper-compatible coordination server.
//!
//! - [`config`]: zoo.cfg, myid and JVM-flag parsing (`&str` in, typed config out).
//! - [`core`]: the pure request pipeline: data tree, sessions, watches, ACLs, prep and apply.
//! - [`runtime`]: the tokio shell: listener, connections, timers, shutdown.

pub mod config;
pub mod core;
pub mod runtime;
pub mod storage;
