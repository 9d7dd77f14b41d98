//! What peers say to each other, in Apache ZooKeeper's vocabulary. The byte encodings (election
//! port notifications, quorum-port `QuorumPacket`s) live in the server's runtime; this crate
//! never sees bytes on a wire.

use bytes::Bytes;

use crate::{Epoch, PeerId, Zxid};

/// A server's state as FLE notifications carry it (LOOKING 0, FOLLOWING 1, LEADING 2,
/// OBSERVING 3 on the wire).
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub enum ServerState {
    Looking,
    Following,
    Leading,
    Observing,
}

/// A proposed leader. `leader: None` is an observer's "no candidate" vote (Apache sends
/// `Long.MIN_VALUE` for id, zxid and epoch).
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub struct Vote {
    pub leader: Option<PeerId>,
    pub zxid: Zxid,
    pub peer_epoch: Epoch,
}

/// An FLE notification.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub struct Notification {
    pub state: ServerState,
    pub vote: Vote,
    pub election_epoch: u64,
}

/// One transaction of the replicated log. The payload is opaque to Zab.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Entry {
    pub zxid: Zxid,
    pub data: Bytes,
}

/// A message between two peers. `Notification` travels on the election port, everything else on
/// the quorum port, over one FIFO connection per learner.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Message {
    Notification(Notification),
    /// FOLLOWERINFO / OBSERVERINFO: a learner introduces itself with its acceptedEpoch.
    FollowerInfo {
        accepted_epoch: Epoch,
        observer: bool,
    },
    /// LEADERINFO: the epoch the leader proposes.
    LeaderInfo {
        epoch: Epoch,
    },
    /// ACKEPOCH: the learner accepted the epoch and reports its history's position.
    /// `current_epoch: None` (Apache's `-1`) says the epoch was accepted already, before this
    /// LEADERINFO: such an acknowledgement is not counted towards the epoch's quorum, so two
    /// leaders proposing the same epoch can never both gather one (a peer moves its
    /// acceptedEpoch up to a given epoch only once).
    AckEpoch {
        current_epoch: Option<Epoch>,
        last_zxid: Zxid,
    },
    /// DIFF: the learner's log is a prefix of the leader's; the missing tail follows.
    Diff {
        last_zxid: Zxid,
    },
    /// TRUNC: drop everything after `zxid`, then the tail follows.
    Trunc {
        zxid: Zxid,
    },
    /// SNAP: replace the state with `state`, the image at `zxid`; the tail follows.
    Snap {
        zxid: Zxid,
        state: Bytes,
    },
    Proposal(Entry),
    Commit {
        zxid: Zxid,
    },
    /// INFORM: a committed transaction sent to an observer.
    Inform(Entry),
    /// NEWLEADER: the end of the synchronisation stream.
    NewLeader {
        epoch: Epoch,
    },
    /// ACK of a proposal, or of NEWLEADER (counter 0 of the new epoch).
    Ack {
        zxid: Zxid,
    },
    UpToDate,
    /// PING: the leader's heartbeat, and the learner's answer (which carries session touches,
    /// attached by the server; Zab passes the payload through).
    Ping {
        payload: Bytes,
    },
    /// REQUEST: a write a learner forwards to the leader (opaque).
    Request(Bytes),
    /// REVALIDATE: a session moving to a learner, and the leader's answer (opaque).
    Revalidate(Bytes),
    /// SYNC: the leader's answer to a learner's sync: everything proposed before it is committed.
    Sync,
}

impl Message {
    /// Whether the message travels on the election port.
    pub fn is_election(&self) -> bool {
        matches!(self, Message::Notification(_))
    }
}
