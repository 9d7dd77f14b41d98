//! The quorum port (learner <-> leader), as Apache ZooKeeper 3.8/3.9 speak it: jute
//! `QuorumPacket` records back to back on the TCP stream with no outer length prefix
//! (`Learner.writePacketNow` / `LearnerHandler.sendPackets` call `BinaryOutputArchive.writeRecord`
//! on a `BufferedOutputStream`), the payloads that specific packet types carry in `data`, and
//! the SNAP stream's trailing signature. Layouts, sources and handshakes: `docs/quorum-wire.md`.
//!
//! Conventions: `zxid`s are plain `i64` as everywhere in zk-proto; payload decoders accept what
//! Apache's reader accepts (they read a prefix with `ByteBuffer`/`DataInputStream` and ignore
//! trailing bytes) and reject what makes Apache's reader throw.

use std::fmt;

use thiserror::Error;

use crate::codec::{Decode, DecodeError, Encode, Reader, WriteExt};
use crate::data::Id;
use crate::record;

/// `Leader.java`'s packet type numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PacketType {
    /// Learner -> leader: a forwarded client write (or sync, createSession, closeSession).
    Request = 1,
    /// Leader -> follower: a txn to log and ACK.
    Proposal = 2,
    /// Learner -> leader: a proposal (or NEWLEADER, or UPTODATE) is logged.
    Ack = 3,
    /// Leader -> follower: apply everything up to `zxid`.
    Commit = 4,
    /// Both ways: liveness; the learner's reply carries its session touches.
    Ping = 5,
    /// Both ways: is a session the learner was asked to reconnect still valid?
    Revalidate = 6,
    /// Leader -> learner: a forwarded `sync` reached the head of the leader's pipeline.
    Sync = 7,
    /// Leader -> observer: a committed txn (proposal and commit in one).
    Inform = 8,
    /// Leader -> follower: COMMIT of a reconfig txn plus the designated leader.
    CommitAndActivate = 9,
    /// Leader -> learner: end of sync data; carries the quorum config (3.5+).
    NewLeader = 10,
    /// Follower -> leader: the first packet, with `LearnerInfo`.
    FollowerInfo = 11,
    /// Leader -> learner: start serving.
    UpToDate = 12,
    /// Leader -> learner: sync by replaying the proposals that follow.
    Diff = 13,
    /// Leader -> learner: truncate the log to `zxid`.
    Trunc = 14,
    /// Leader -> learner: a whole snapshot follows on the stream.
    Snap = 15,
    /// Observer -> leader: the first packet, with `LearnerInfo`.
    ObserverInfo = 16,
    /// Leader -> learner: the new epoch and the leader's protocol version.
    LeaderInfo = 17,
    /// Learner -> leader: the learner's current epoch and last logged zxid.
    AckEpoch = 18,
    /// Leader -> observer: INFORM of a reconfig txn plus the designated leader.
    InformAndActivate = 19,
}

impl PacketType {
    pub const ALL: &'static [PacketType] = &[
        PacketType::Request,
        PacketType::Proposal,
        PacketType::Ack,
        PacketType::Commit,
        PacketType::Ping,
        PacketType::Revalidate,
        PacketType::Sync,
        PacketType::Inform,
        PacketType::CommitAndActivate,
        PacketType::NewLeader,
        PacketType::FollowerInfo,
        PacketType::UpToDate,
        PacketType::Diff,
        PacketType::Trunc,
        PacketType::Snap,
        PacketType::ObserverInfo,
        PacketType::LeaderInfo,
        PacketType::AckEpoch,
        PacketType::InformAndActivate,
    ];

    pub fn from_i32(n: i32) -> Option<Self> {
        Self::ALL.iter().copied().find(|t| t.code() == n)
    }

    pub fn code(self) -> i32 {
        self as i32
    }

    /// The name Apache logs (`LearnerHandler.packetToString`).
    pub fn name(self) -> &'static str {
        match self {
            PacketType::Request => "REQUEST",
            PacketType::Proposal => "PROPOSAL",
            PacketType::Ack => "ACK",
            PacketType::Commit => "COMMIT",
            PacketType::Ping => "PING",
            PacketType::Revalidate => "REVALIDATE",
            PacketType::Sync => "SYNC",
            PacketType::Inform => "INFORM",
            PacketType::CommitAndActivate => "COMMITANDACTIVATE",
            PacketType::NewLeader => "NEWLEADER",
            PacketType::FollowerInfo => "FOLLOWERINFO",
            PacketType::UpToDate => "UPTODATE",
            PacketType::Diff => "DIFF",
            PacketType::Trunc => "TRUNC",
            PacketType::Snap => "SNAP",
            PacketType::ObserverInfo => "OBSERVERINFO",
            PacketType::LeaderInfo => "LEADERINFO",
            PacketType::AckEpoch => "ACKEPOCH",
            PacketType::InformAndActivate => "INFORMANDACTIVATE",
        }
    }
}

impl fmt::Display for PacketType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The Zab protocol version a 3.4+ learner puts in `LearnerInfo` and a 3.4+ leader in
/// LEADERINFO (`Learner.registerWithLeader`, `LearnerHandler.run`). A learner below it gets the
/// pre-Zab-1.0 handshake (no LEADERINFO/ACKEPOCH, NEWLEADER without config).
pub const ZAB_PROTOCOL_VERSION: i32 = 0x10000;

/// What the leader writes after the snapshot in a SNAP sync, as a jute `ustring`
/// (`LearnerHandler.run`; checked by `Learner.syncWithLeader`).
pub const SNAP_SIGNATURE: &str = "BenWasHere";

/// `QuorumAuth.QUORUM_AUTH_MAGIC_NUMBER`, written in Java as `-0xa0dbcafecafe1234L`. The hex
/// literal is already a negative long, so the negation makes it *positive*
/// (0x5f2435013501edcc), whatever the comment beside it says.
pub const QUORUM_AUTH_MAGIC: i64 = (0xa0db_cafe_cafe_1234_u64 as i64).wrapping_neg();

/// The largest `buffer`/`ustring` length Apache's `BinaryInputArchive` reads on the quorum port
/// by default: `jute.maxbuffer` (0xfffff) plus `zookeeper.jute.maxbuffer.extrasize` (defaults to
/// `jute.maxbuffer`, at least 1024).
pub const DEFAULT_QUORUM_MAX_BUFFER: usize = 2 * crate::DEFAULT_MAX_BUFFER;

record! {
    /// FOLLOWERINFO/OBSERVERINFO `data`: `{long serverid; int protocolVersion; long
    /// configVersion}` (`zookeeper.jute`, module `org.apache.zookeeper.server.quorum`).
    pub struct LearnerInfo {
        pub server_id: i64,
        pub protocol_version: i32,
        pub config_version: i64,
    }
}

record! {
    /// Quorum SASL (`quorum.auth.enableSasl=true` only): exchanged on the quorum and election
    /// ports before anything else, `magic` = [`QUORUM_AUTH_MAGIC`], `status` a
    /// [`QuorumAuthStatus`] code.
    pub struct QuorumAuthPacket {
        pub magic: i64,
        pub status: i32,
        pub token: Option<Vec<u8>>,
    }
}

/// `QuorumAuth.Status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QuorumAuthStatus {
    InProgress = 0,
    Success = 1,
    Error = -1,
}

impl QuorumAuthStatus {
    pub fn from_i32(n: i32) -> Option<Self> {
        match n {
            0 => Some(QuorumAuthStatus::InProgress),
            1 => Some(QuorumAuthStatus::Success),
            -1 => Some(QuorumAuthStatus::Error),
            _ => None,
        }
    }

    pub fn code(self) -> i32 {
        self as i32
    }
}

/// `QuorumPacket{int type; long zxid; buffer data; vector<Id> authinfo}`. `data` and
/// `authinfo` keep jute's null (length -1) apart from empty: Apache writes null for both in
/// nearly every packet, and re-encoding must give the same bytes. `packet_type` stays an `i32`
/// because Apache logs and skips unknown types rather than dropping the connection.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct QuorumPacket {
    pub packet_type: i32,
    pub zxid: i64,
    pub data: Option<Vec<u8>>,
    pub authinfo: Option<Vec<Id>>,
}

impl Encode for QuorumPacket {
    fn encode(&self, out: &mut Vec<u8>) {
        out.put_i32(self.packet_type);
        out.put_i64(self.zxid);
        out.put_opt_buffer(self.data.as_deref());
        match &self.authinfo {
            None => out.put_i32(-1),
            Some(ids) => out.put_vec(ids),
        }
    }
}

impl Decode for QuorumPacket {
    const MIN_SIZE: usize = 4 + 8 + 4 + 4;

    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let packet_type = r.read_i32()?;
        let zxid = r.read_i64()?;
        let data = r.read_opt_buffer()?;
        // Peek at the count so that null (-1) survives; read_vec bounds any other count.
        let mut peek = r.clone();
        let authinfo = if peek.read_i32()? == -1 {
            *r = peek;
            None
        } else {
            Some(r.read_vec()?)
        };
        Ok(QuorumPacket {
            packet_type,
            zxid,
            data,
            authinfo,
        })
    }
}

/// Pulls one `QuorumPacket` off the front of a stream buffer. `Ok(None)`: the bytes so far are a
/// valid prefix, read more. `Ok(Some((packet, consumed)))`: drop `consumed` bytes. `Err`: the
/// stream is malformed (a length that is negative or over `max_len`); close the connection, as
/// Apache does on its `IOException`. `max_len` bounds every `buffer`/`ustring`/`vector` length
/// (Apache: [`DEFAULT_QUORUM_MAX_BUFFER`]); nothing is allocated beyond the bytes present.
pub fn decode_packet(
    buf: &[u8],
    max_len: usize,
) -> Result<Option<(QuorumPacket, usize)>, DecodeError> {
    let mut r = Reader::with_max(buf, max_len);
    match QuorumPacket::decode(&mut r) {
        Ok(p) => Ok(Some((p, r.position()))),
        Err(DecodeError::Truncated { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// `(epoch << 32) | (counter & 0xffffffff)` (`ZxidUtils.makeZxid`).
pub fn make_zxid(epoch: i64, counter: i64) -> i64 {
    (epoch << 32) | (counter & 0xffff_ffff)
}

/// `zxid >> 32`, arithmetic like Java's (`ZxidUtils.getEpochFromZxid`).
pub fn epoch_of(zxid: i64) -> i64 {
    zxid >> 32
}

/// Why a packet's `data` is not the payload its type calls for.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PayloadError {
    /// Apache's reader would throw a `NullPointerException` on this.
    #[error("{what} data is null")]
    Missing { what: &'static str },
    /// Apache's reader would hit `BufferUnderflowException`/`EOFException`.
    #[error("{what} data is {len} bytes; at least {min} needed")]
    TooShort {
        what: &'static str,
        len: usize,
        min: usize,
    },
    /// PING touches are whole 12-byte (sessionId, timeout) pairs; Apache's leader reads pairs
    /// while bytes remain and fails on a partial one.
    #[error("PING data is {len} bytes, not a whole number of 12-byte session touches")]
    RaggedTouches { len: usize },
    #[error("SNAP stream signature is {found:?}, expected \"BenWasHere\"")]
    BadSignature { found: String },
    #[error(transparent)]
    Decode(#[from] DecodeError),
}

/// A payload carried in `QuorumPacket.data`.
pub trait Payload: Sized {
    fn to_data(&self) -> Option<Vec<u8>>;
    fn from_data(data: Option<&[u8]>) -> Result<Self, PayloadError>;
}

/// Checks `data` is present and at least `min` bytes long.
fn prefix<'a>(
    what: &'static str,
    data: Option<&'a [u8]>,
    min: usize,
) -> Result<Reader<'a>, PayloadError> {
    let data = data.ok_or(PayloadError::Missing { what })?;
    if data.len() < min {
        return Err(PayloadError::TooShort {
            what,
            len: data.len(),
            min,
        });
    }
    Ok(Reader::new(data))
}

/// FOLLOWERINFO/OBSERVERINFO. Apache's `LearnerHandler` also takes null data (it invents a
/// negative sid) and 8- or 12-byte prefixes from pre-3.5 learners; 3.5+ learners always send
/// all 20 bytes, and so must a peer of a 3.8/3.9 ensemble, so shorter data is an error here.
impl Payload for LearnerInfo {
    fn to_data(&self) -> Option<Vec<u8>> {
        Some(self.to_bytes())
    }

    fn from_data(data: Option<&[u8]>) -> Result<Self, PayloadError> {
        Ok(LearnerInfo::decode(&mut prefix("LearnerInfo", data, 20)?)?)
    }
}

/// LEADERINFO `data`: the leader's protocol version, [`ZAB_PROTOCOL_VERSION`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LeaderInfo {
    pub protocol_version: i32,
}

impl Payload for LeaderInfo {
    fn to_data(&self) -> Option<Vec<u8>> {
        Some(self.protocol_version.to_be_bytes().to_vec())
    }

    fn from_data(data: Option<&[u8]>) -> Result<Self, PayloadError> {
        let protocol_version = prefix("LEADERINFO", data, 4)?.read_i32()?;
        Ok(LeaderInfo { protocol_version })
    }
}

/// ACKEPOCH `data`: the learner's current epoch, truncated to an `int` by Apache
/// (`(int) self.getCurrentEpoch()`), or -1 when the learner had already accepted the proposed
/// epoch (then the leader does not count it as an epoch ack).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AckEpoch {
    pub current_epoch: i32,
}

impl AckEpoch {
    /// The `current_epoch` that says "not an ack for the new epoch".
    pub const ALREADY_ACCEPTED: i32 = -1;

    pub fn counts_as_ack(&self) -> bool {
        self.current_epoch != Self::ALREADY_ACCEPTED
    }
}

impl Payload for AckEpoch {
    fn to_data(&self) -> Option<Vec<u8>> {
        Some(self.current_epoch.to_be_bytes().to_vec())
    }

    fn from_data(data: Option<&[u8]>) -> Result<Self, PayloadError> {
        let current_epoch = prefix("ACKEPOCH", data, 4)?.read_i32()?;
        Ok(AckEpoch { current_epoch })
    }
}

/// NEWLEADER `data`: to a 3.4+ learner, the leader's last-seen quorum verifier as the UTF-8 of
/// `QuorumVerifier.toString()` (`server.N=...` lines, then `version=<hex>`); null to older
/// learners. The learner reads a config only when data is non-null and longer than 1 byte.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NewLeader {
    pub config: Option<Vec<u8>>,
}

impl Payload for NewLeader {
    fn to_data(&self) -> Option<Vec<u8>> {
        self.config.clone()
    }

    fn from_data(data: Option<&[u8]>) -> Result<Self, PayloadError> {
        Ok(NewLeader {
            config: data.filter(|d| d.len() > 1).map(<[u8]>::to_vec),
        })
    }
}

/// One entry of a learner's PING reply: a session it has seen activity on, with its timeout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SessionTouch {
    pub session_id: i64,
    pub timeout_ms: i32,
}

/// A learner's PING reply `data`: `(long sessionId, int timeout)` pairs back to back, no count
/// (`Learner.ping`; read by `LearnerHandler.run` until no bytes remain). The leader's own PING
/// carries null data.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct PingTouches {
    pub touches: Vec<SessionTouch>,
}

impl Payload for PingTouches {
    fn to_data(&self) -> Option<Vec<u8>> {
        let mut out = Vec::with_capacity(self.touches.len() * 12);
        for t in &self.touches {
            out.put_i64(t.session_id);
            out.put_i32(t.timeout_ms);
        }
        Some(out)
    }

    fn from_data(data: Option<&[u8]>) -> Result<Self, PayloadError> {
        let data = data.ok_or(PayloadError::Missing { what: "PING" })?;
        if data.len() % 12 != 0 {
            return Err(PayloadError::RaggedTouches { len: data.len() });
        }
        let mut r = Reader::new(data);
        let mut touches = Vec::with_capacity(data.len() / 12);
        while !r.is_empty() {
            touches.push(SessionTouch {
                session_id: r.read_i64()?,
                timeout_ms: r.read_i32()?,
            });
        }
        Ok(PingTouches { touches })
    }
}

/// REQUEST `data` (`Learner.request`): `long sessionId; int cxid; int type;` then the request
/// record's bytes with no length (`SyncRequest` for sync, `int timeout` for createSession,
/// nothing for closeSession). Bytes `8..` are exactly a client `RequestHeader{xid = cxid, type}`
/// plus body, so `request::decode_request(&data[8..], ..)` reads them.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct ForwardedRequest {
    pub session_id: i64,
    pub cxid: i32,
    pub op_type: i32,
    pub request: Vec<u8>,
}

impl Payload for ForwardedRequest {
    fn to_data(&self) -> Option<Vec<u8>> {
        let mut out = Vec::with_capacity(16 + self.request.len());
        out.put_i64(self.session_id);
        out.put_i32(self.cxid);
        out.put_i32(self.op_type);
        out.extend_from_slice(&self.request);
        Some(out)
    }

    fn from_data(data: Option<&[u8]>) -> Result<Self, PayloadError> {
        let mut r = prefix("REQUEST", data, 16)?;
        Ok(ForwardedRequest {
            session_id: r.read_i64()?,
            cxid: r.read_i32()?,
            op_type: r.read_i32()?,
            request: r.rest().to_vec(),
        })
    }
}

/// Learner -> leader REVALIDATE `data` (`Learner.validateSession`): `long sessionId; int timeout`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RevalidateRequest {
    pub session_id: i64,
    pub timeout_ms: i32,
}

impl Payload for RevalidateRequest {
    fn to_data(&self) -> Option<Vec<u8>> {
        let mut out = Vec::with_capacity(12);
        out.put_i64(self.session_id);
        out.put_i32(self.timeout_ms);
        Some(out)
    }

    fn from_data(data: Option<&[u8]>) -> Result<Self, PayloadError> {
        let mut r = prefix("REVALIDATE", data, 12)?;
        Ok(RevalidateRequest {
            session_id: r.read_i64()?,
            timeout_ms: r.read_i32()?,
        })
    }
}

/// Leader -> learner REVALIDATE `data` (`Leader.revalidateSession`): `long sessionId; boolean
/// valid` (one byte; any non-zero byte reads as true, as `DataInputStream.readBoolean` does).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RevalidateResponse {
    pub session_id: i64,
    pub valid: bool,
}

impl Payload for RevalidateResponse {
    fn to_data(&self) -> Option<Vec<u8>> {
        let mut out = Vec::with_capacity(9);
        out.put_i64(self.session_id);
        out.put_bool(self.valid);
        Some(out)
    }

    fn from_data(data: Option<&[u8]>) -> Result<Self, PayloadError> {
        let mut r = prefix("REVALIDATE", data, 9)?;
        Ok(RevalidateResponse {
            session_id: r.read_i64()?,
            valid: r.read_bool()?,
        })
    }
}

/// COMMITANDACTIVATE `data` (`Leader.commitAndActivate`): `long designatedLeader`. Dynamic
/// reconfig only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CommitAndActivate {
    pub designated_leader: i64,
}

impl Payload for CommitAndActivate {
    fn to_data(&self) -> Option<Vec<u8>> {
        Some(self.designated_leader.to_be_bytes().to_vec())
    }

    fn from_data(data: Option<&[u8]>) -> Result<Self, PayloadError> {
        let designated_leader = prefix("COMMITANDACTIVATE", data, 8)?.read_i64()?;
        Ok(CommitAndActivate { designated_leader })
    }
}

/// INFORMANDACTIVATE `data` (`Leader.buildInformAndActivePacket`): `long designatedLeader`,
/// then the proposal's txn bytes (as in PROPOSAL/INFORM) with no length. Dynamic reconfig only.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct InformAndActivate {
    pub designated_leader: i64,
    pub txn: Vec<u8>,
}

impl Payload for InformAndActivate {
    fn to_data(&self) -> Option<Vec<u8>> {
        let mut out = Vec::with_capacity(8 + self.txn.len());
        out.put_i64(self.designated_leader);
        out.extend_from_slice(&self.txn);
        Some(out)
    }

    fn from_data(data: Option<&[u8]>) -> Result<Self, PayloadError> {
        let mut r = prefix("INFORMANDACTIVATE", data, 8)?;
        Ok(InformAndActivate {
            designated_leader: r.read_i64()?,
            txn: r.rest().to_vec(),
        })
    }
}

/// Appends the SNAP stream's closing signature: `ustring "BenWasHere"`.
pub fn put_snap_signature(out: &mut Vec<u8>) {
    out.put_string(SNAP_SIGNATURE);
}

/// Reads the SNAP stream's closing signature. `Truncated` means "read more".
pub fn read_snap_signature(r: &mut Reader<'_>) -> Result<(), PayloadError> {
    let found = r.read_string()?;
    if found == SNAP_SIGNATURE {
        Ok(())
    } else {
        Err(PayloadError::BadSignature { found })
    }
}

/// Builders for every packet with the `zxid`, `data` and `authinfo` Apache puts in it (the
/// source method is named on each). `authinfo` is null unless stated.
impl QuorumPacket {
    /// A packet with null `authinfo`.
    pub fn new(packet_type: PacketType, zxid: i64, data: Option<Vec<u8>>) -> Self {
        QuorumPacket {
            packet_type: packet_type.code(),
            zxid,
            data,
            authinfo: None,
        }
    }

    /// The type, if Apache knows it.
    pub fn kind(&self) -> Option<PacketType> {
        PacketType::from_i32(self.packet_type)
    }

    pub fn data(&self) -> Option<&[u8]> {
        self.data.as_deref()
    }

    /// Decodes `data` as payload `P`.
    pub fn payload<P: Payload>(&self) -> Result<P, PayloadError> {
        P::from_data(self.data())
    }

    /// FOLLOWERINFO, or OBSERVERINFO if `observer` (`Learner.registerWithLeader`): zxid is
    /// `acceptedEpoch << 32`.
    pub fn learner_info(observer: bool, accepted_epoch: i64, info: &LearnerInfo) -> Self {
        let t = if observer {
            PacketType::ObserverInfo
        } else {
            PacketType::FollowerInfo
        };
        Self::new(t, make_zxid(accepted_epoch, 0), info.to_data())
    }

    /// LEADERINFO (`LearnerHandler.run`): zxid is `newEpoch << 32`.
    pub fn leader_info(new_epoch: i64) -> Self {
        let info = LeaderInfo {
            protocol_version: ZAB_PROTOCOL_VERSION,
        };
        Self::new(
            PacketType::LeaderInfo,
            make_zxid(new_epoch, 0),
            info.to_data(),
        )
    }

    /// ACKEPOCH (`Learner.registerWithLeader`): zxid is the learner's last logged zxid.
    pub fn ack_epoch(last_logged_zxid: i64, ack: AckEpoch) -> Self {
        Self::new(PacketType::AckEpoch, last_logged_zxid, ack.to_data())
    }

    /// DIFF, TRUNC, SNAP, COMMIT, ACK: only a zxid (`LearnerHandler.queueOpPacket`,
    /// `Leader.commit`, `SendAckRequestProcessor`).
    pub fn op(packet_type: PacketType, zxid: i64) -> Self {
        Self::new(packet_type, zxid, None)
    }

    /// NEWLEADER (`LearnerHandler.run`): zxid is `newEpoch << 32`.
    pub fn new_leader(new_epoch: i64, config: Option<Vec<u8>>) -> Self {
        Self::new(
            PacketType::NewLeader,
            make_zxid(new_epoch, 0),
            NewLeader { config }.to_data(),
        )
    }

    /// UPTODATE (`LearnerHandler.run`): zxid -1.
    pub fn up_to_date() -> Self {
        Self::new(PacketType::UpToDate, -1, None)
    }

    /// PROPOSAL (`Leader.propose`) or INFORM (`Leader.inform`): data is the txn as the txn log
    /// stores it (`TxnHeader`, txn record, optional `TxnDigest`).
    pub fn txn(packet_type: PacketType, zxid: i64, txn: Vec<u8>) -> Self {
        Self::new(packet_type, zxid, Some(txn))
    }

    /// The leader's PING (`LearnerHandler.ping`): zxid is the leader's last proposed zxid.
    pub fn leader_ping(last_proposed: i64) -> Self {
        Self::new(PacketType::Ping, last_proposed, None)
    }

    /// A learner's answer to `ping` (`Learner.ping`): same type, zxid and authinfo, data the
    /// touches.
    pub fn ping_reply(ping: &QuorumPacket, touches: &PingTouches) -> Self {
        QuorumPacket {
            packet_type: ping.packet_type,
            zxid: ping.zxid,
            data: touches.to_data(),
            authinfo: ping.authinfo.clone(),
        }
    }

    /// REQUEST (`Learner.request`): zxid -1, authinfo the client connection's auth ids.
    pub fn request(request: &ForwardedRequest, authinfo: Option<Vec<Id>>) -> Self {
        QuorumPacket {
            authinfo,
            ..Self::new(PacketType::Request, -1, request.to_data())
        }
    }

    /// A learner's REVALIDATE (`Learner.validateSession`): zxid -1.
    pub fn revalidate(request: RevalidateRequest) -> Self {
        Self::new(PacketType::Revalidate, -1, request.to_data())
    }

    /// The leader's REVALIDATE answer (`Leader.revalidateSession`): the learner's packet with
    /// only its data replaced.
    pub fn revalidate_reply(request: &QuorumPacket, response: RevalidateResponse) -> Self {
        QuorumPacket {
            data: response.to_data(),
            ..request.clone()
        }
    }

    /// SYNC (`Leader.sendSync`): zxid 0.
    pub fn sync() -> Self {
        Self::new(PacketType::Sync, 0, None)
    }

    /// COMMITANDACTIVATE (`Leader.commitAndActivate`).
    pub fn commit_and_activate(zxid: i64, designated_leader: i64) -> Self {
        Self::new(
            PacketType::CommitAndActivate,
            zxid,
            CommitAndActivate { designated_leader }.to_data(),
        )
    }

    /// INFORMANDACTIVATE (`Leader.buildInformAndActivePacket`).
    pub fn inform_and_activate(zxid: i64, designated_leader: i64, txn: Vec<u8>) -> Self {
        Self::new(
            PacketType::InformAndActivate,
            zxid,
            InformAndActivate {
                designated_leader,
                txn,
            }
            .to_data(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packet_types_match_leader_java() {
        let expected = [
            ("REQUEST", 1),
            ("PROPOSAL", 2),
            ("ACK", 3),
            ("COMMIT", 4),
            ("PING", 5),
            ("REVALIDATE", 6),
            ("SYNC", 7),
            ("INFORM", 8),
            ("COMMITANDACTIVATE", 9),
            ("NEWLEADER", 10),
            ("FOLLOWERINFO", 11),
            ("UPTODATE", 12),
            ("DIFF", 13),
            ("TRUNC", 14),
            ("SNAP", 15),
            ("OBSERVERINFO", 16),
            ("LEADERINFO", 17),
            ("ACKEPOCH", 18),
            ("INFORMANDACTIVATE", 19),
        ];
        assert_eq!(PacketType::ALL.len(), expected.len());
        for (t, (name, code)) in PacketType::ALL.iter().zip(expected) {
            assert_eq!((t.name(), t.code()), (name, code));
            assert_eq!(PacketType::from_i32(code), Some(*t));
        }
        assert_eq!(PacketType::from_i32(0), None);
        assert_eq!(PacketType::from_i32(20), None);
    }

    #[test]
    fn quorum_auth_magic_is_positive() {
        assert_eq!(QUORUM_AUTH_MAGIC, 0x5f24_3501_3501_edcc);
    }

    #[test]
    fn zxids() {
        assert_eq!(make_zxid(5, 7), 0x5_0000_0007);
        assert_eq!(make_zxid(1, -1), 0x1_ffff_ffff);
        assert_eq!(epoch_of(0x5_0000_0007), 5);
        assert_eq!(epoch_of(-1), -1);
    }
}
