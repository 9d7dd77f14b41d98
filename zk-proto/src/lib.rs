//! ZooKeeper's client, disk and peer protocols, as Apache ZooKeeper 3.8/3.9 speak them.
//!
//! Module map:
//! - [`codec`]: the jute binary encoding (`Encode`/`Decode`) over a bounded [`codec::Reader`].
//! - [`data`], [`proto`], [`txn`]: records mirroring `zookeeper.jute`, field for field.
//! - [`consts`]: opcodes, error codes, watcher event types and states, create modes, perms.
//! - [`request`]: typed requests (`decode_request`), multi ops and multi results.
//! - [`path`]: ZooKeeper's path validation rules.
//! - [`frame`]: the 4-byte length-prefixed framing used on the client port.
//! - [`quorum`]: the quorum port (learner <-> leader): `QuorumPacket`, packet types, payloads.
//! - [`election`]: the election port: connection header, message framing, FLE notifications.
//!
//! Nothing here does I/O, and decoding never panics on any input: every length is checked
//! against the remaining bytes and against `jute.maxbuffer` before anything is allocated.

pub mod codec;
pub mod consts;
pub mod data;
pub mod election;
pub mod frame;
pub mod path;
pub mod proto;
pub mod quorum;
pub mod quota;
pub mod request;
pub mod txn;

pub use codec::{Decode, DecodeError, Encode, Reader};
pub use consts::{
    AddWatchMode, CreateMode, ErrorCode, EventType, KeeperState, OpCode, Perms, WatcherType,
};

/// ZooKeeper's default `jute.maxbuffer`: the largest length any single field or packet may have.
pub const DEFAULT_MAX_BUFFER: usize = 0xfffff;
