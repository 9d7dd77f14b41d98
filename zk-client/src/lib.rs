//! An async (tokio) ZooKeeper client.
//!
//! Module map:
//! - [`connect_string`]: `host:port,.../chroot` parsing and chroot path mapping.
//! - [`session`]: the pure session state machine (no I/O, no clocks: time is an argument).
//! - [`client`]: [`Client`], the async API (cheap to clone), errors, multi ops.
//! - [`protected`]: Curator-style protected creates (`_c_<uuid>-name`) that survive a
//!   `ConnectionLoss` without duplicates.
//! - [`tls`]: TLS to a secure client port (rustls), configured like the Java client.
//! - `conn`: the tokio connection task (socket, host rotation, reconnects, watch registry;
//!   `conn::rw_seek`: while connected read-only, looking for a read/write server).

pub mod client;
mod conn;
pub mod connect_string;
pub mod protected;
pub mod recipes;
pub mod session;
pub mod tls;

pub use client::{Client, ClientBuilder, Error, Op, OpResult, ReadOp, Result, Watcher};
pub use conn::WatchedEvent;
pub use connect_string::{Chroot, ConnectString, ConnectStringError, HostPort};
pub use session::SessionState;
pub use zk_proto::data::{Acl, ClientInfo, Id, Stat};
pub use zk_proto::{
    AddWatchMode, CreateMode, ErrorCode, EventType, KeeperState, Perms, WatcherType,
};
