//! Zab, ZooKeeper's atomic broadcast, with fast leader election, as a pure state machine.
//!
//! No sockets, files, clocks or threads: a driver passes in time ([`Millis`]), messages and
//! "durable up to here" reports, and carries out the [`Action`]s the machine emits. The same
//! machine runs under the tokio runtime of `zk-server` and under the seeded simulator in this
//! crate's tests. Proposals are opaque bytes; Zab never sees znodes, sessions or jute.
//!
//! Vocabulary and rules follow Apache ZooKeeper (FastLeaderElection, Leader, Learner,
//! LearnerHandler) and the Zab papers: epochs, `acceptedEpoch`/`currentEpoch`, discovery
//! (FOLLOWERINFO, LEADERINFO, ACKEPOCH), synchronisation (DIFF, TRUNC, SNAP, NEWLEADER,
//! UPTODATE) and broadcast (PROPOSAL, ACK, COMMIT, INFORM).

mod history;
mod message;
mod peer;
mod quorum;
mod types;

pub use message::{Entry, Message, Notification, ServerState, Vote};
pub use peer::{Action, Config, NotServing, Peer, Persisted, ProposeError, Role, ZabPhase};
pub use quorum::QuorumVerifier;
pub use types::{Epoch, Millis, PeerId, Zxid};
