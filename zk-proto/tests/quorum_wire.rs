//! Exact bytes of the server-to-server ports, derived by hand from Apache ZooKeeper 3.8.6 /
//! 3.9.5's Java (the writer of each byte run is named beside it): jute `BinaryOutputArchive`
//! for `QuorumPacket` (int, long, buffer as int length + bytes with -1 for null, vector as int
//! count + elements with -1 for null), `DataOutputStream`/`ByteBuffer` (big-endian, no lengths)
//! for most payloads inside `data`. Each test checks both directions.

use zk_proto::codec::WriteExt;
use zk_proto::data::{Id, StatPersisted};
use zk_proto::election::{
    check_message, put_message, ConnectionHeader, ElectionAddr, ElectionError, HeaderVersion,
    Notification, ServerState, MAX_MESSAGE_LEN, PROTOCOL_VERSION_V1, PROTOCOL_VERSION_V2,
};
use zk_proto::quorum::*;
use zk_proto::txn::{DeleteTxn, TxnDigest, TxnHeader};
use zk_proto::{Decode, Encode, Reader};

/// Whitespace-separated hex bytes, one string per field.
fn hex(fields: &[&str]) -> Vec<u8> {
    fields
        .iter()
        .flat_map(|f| f.split_whitespace())
        .map(|b| u8::from_str_radix(b, 16).expect("hex byte"))
        .collect()
}

/// `s` as bytes (for readable ASCII runs inside golden byte lists).
fn ascii(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02x} ")).collect()
}

/// `p` encodes to `bytes`; `bytes` decode (whole, and from a stream) back to `p`.
fn assert_packet(p: &QuorumPacket, bytes: &[u8]) {
    assert_eq!(p.to_bytes(), bytes, "encoding of {p:?}");
    assert_eq!(&QuorumPacket::from_bytes(bytes).expect("decodes"), p);
    assert_eq!(
        decode_packet(bytes, DEFAULT_QUORUM_MAX_BUFFER),
        Ok(Some((p.clone(), bytes.len())))
    );
}

const NULL: &str = "ff ff ff ff"; // jute null buffer / vector: length -1

// ---- quorum port: handshake ----

#[test]
fn followerinfo() {
    // Learner.registerWithLeader: QuorumPacket(FOLLOWERINFO, makeZxid(acceptedEpoch, 0),
    // LearnerInfo via BinaryOutputArchive.writeRecord, null authinfo).
    let info = LearnerInfo {
        server_id: 2,
        protocol_version: ZAB_PROTOCOL_VERSION,
        config_version: 0x1_0000_0000,
    };
    let p = QuorumPacket::learner_info(false, 1, &info);
    let bytes = hex(&[
        "00 00 00 0b",             // type FOLLOWERINFO 11
        "00 00 00 01 00 00 00 00", // zxid: acceptedEpoch 1 << 32
        "00 00 00 14",             // data: 20 bytes of LearnerInfo
        "00 00 00 00 00 00 00 02", //   long serverid 2
        "00 01 00 00",             //   int protocolVersion 0x10000
        "00 00 00 01 00 00 00 00", //   long configVersion 0x100000000
        NULL,                      // authinfo null
    ]);
    assert_packet(&p, &bytes);
    assert_eq!(p.kind(), Some(PacketType::FollowerInfo));
    assert_eq!(p.payload::<LearnerInfo>(), Ok(info.clone()));
    // OBSERVERINFO differs only in the type.
    let o = QuorumPacket::learner_info(true, 1, &info);
    assert_eq!(o.to_bytes()[..4], [0, 0, 0, 0x10]);
    assert_eq!(o.to_bytes()[4..], bytes[4..]);
}

#[test]
fn leaderinfo() {
    // LearnerHandler.run: ByteBuffer.wrap(ver).putInt(0x10000);
    // QuorumPacket(LEADERINFO, makeZxid(newEpoch, 0), ver, null).
    let p = QuorumPacket::leader_info(2);
    let bytes = hex(&[
        "00 00 00 11",             // type LEADERINFO 17
        "00 00 00 02 00 00 00 00", // zxid: newEpoch 2 << 32
        "00 00 00 04",             // data: 4 bytes
        "00 01 00 00",             //   int protocol version 0x10000
        NULL,                      // authinfo null
    ]);
    assert_packet(&p, &bytes);
    assert_eq!(
        p.payload::<LeaderInfo>(),
        Ok(LeaderInfo {
            protocol_version: 0x10000
        })
    );
}

#[test]
fn ackepoch() {
    // Learner.registerWithLeader: epochBytes = putInt((int) currentEpoch) or putInt(-1);
    // QuorumPacket(ACKEPOCH, lastLoggedZxid, epochBytes, null).
    let p = QuorumPacket::ack_epoch(0x1_0000_0005, AckEpoch { current_epoch: 1 });
    let bytes = hex(&[
        "00 00 00 12",             // type ACKEPOCH 18
        "00 00 00 01 00 00 00 05", // zxid: last logged 0x100000005
        "00 00 00 04",             // data: 4 bytes
        "00 00 00 01",             //   int currentEpoch 1
        NULL,                      // authinfo null
    ]);
    assert_packet(&p, &bytes);
    let again = QuorumPacket::ack_epoch(0x1_0000_0005, AckEpoch { current_epoch: -1 });
    let bytes = hex(&[
        "00 00 00 12",
        "00 00 00 01 00 00 00 05",
        "00 00 00 04",
        "ff ff ff ff", // -1: epoch already accepted, not an ack
        NULL,
    ]);
    assert_packet(&again, &bytes);
    assert!(!again.payload::<AckEpoch>().unwrap().counts_as_ack());
}

#[test]
fn diff_trunc_commit_ack_carry_only_a_zxid() {
    // LearnerHandler.queueOpPacket(type, zxid) / Leader.commit / SendAckRequestProcessor:
    // QuorumPacket(type, zxid, null, null).
    for (t, code) in [
        (PacketType::Diff, "0d"),
        (PacketType::Trunc, "0e"),
        (PacketType::Commit, "04"),
        (PacketType::Ack, "03"),
    ] {
        let p = QuorumPacket::op(t, 0x2_0000_0003);
        let bytes = hex(&[
            &format!("00 00 00 {code}"), // type
            "00 00 00 02 00 00 00 03",   // zxid 0x200000003
            NULL,                        // data null
            NULL,                        // authinfo null
        ]);
        assert_packet(&p, &bytes);
    }
}

#[test]
fn snap_then_snapshot_then_signature() {
    // LearnerHandler.run: writeRecord(QuorumPacket(SNAP, lastProcessedZxid, null, null)), then
    // ZKDatabase.serializeSnapshot(oa) = SerializeUtils.serializeSnapshot (sessions, then
    // DataTree.serialize: ACL cache, nodes, "/" end marker) with no FileHeader, checksum or
    // digest, then oa.writeString("BenWasHere").
    let mut stream = hex(&[
        "00 00 00 0f",             // type SNAP 15
        "00 00 00 02 00 00 00 07", // zxid: the leader's lastProcessedZxid
        NULL,                      // data null
        NULL,                      // authinfo null
        // -- snapshot body --
        "00 00 00 01",             // int session count 1
        "00 00 00 00 00 00 01 00", //   long sessionId 0x100
        "00 00 75 30",             //   int timeout 30000
        "00 00 00 00",             // int ACL cache entries 0
        "00 00 00 00",             // ustring path "" (the root)
        "00 00 00 00",             //   DataNode buffer data: empty
        "ff ff ff ff ff ff ff ff", //   long acl -1 (open ACL)
    ]);
    StatPersisted::default().encode(&mut stream); // 68 bytes of zeros
    stream.extend(hex(&[
        "00 00 00 01 2f", // ustring "/": end of nodes
        // -- signature --
        "00 00 00 0a",
        &ascii("BenWasHere"),
    ]));

    let (snap, used) = decode_packet(&stream, DEFAULT_QUORUM_MAX_BUFFER)
        .unwrap()
        .unwrap();
    assert_eq!(snap, QuorumPacket::op(PacketType::Snap, 0x2_0000_0007));
    assert_eq!(used, 20);
    // The body is read by the snapshot code; walk it here to find the signature.
    let mut r = Reader::new(&stream[used..]);
    assert_eq!(r.read_i32(), Ok(1));
    assert_eq!((r.read_i64(), r.read_i32()), (Ok(0x100), Ok(30000)));
    assert_eq!(r.read_i32(), Ok(0));
    assert_eq!(r.read_string().as_deref(), Ok(""));
    assert_eq!(r.read_opt_buffer(), Ok(Some(vec![])));
    assert_eq!(r.read_i64(), Ok(-1));
    assert_eq!(StatPersisted::decode(&mut r), Ok(StatPersisted::default()));
    assert_eq!(r.read_string().as_deref(), Ok("/"));
    let mut sig = Vec::new();
    put_snap_signature(&mut sig);
    assert_eq!(r.rest(), sig.as_slice());
    assert_eq!(read_snap_signature(&mut r), Ok(()));
    assert!(r.is_empty());

    let mut wrong = Vec::new();
    wrong.put_string("BenWasHer");
    assert_eq!(
        read_snap_signature(&mut Reader::new(&wrong)),
        Err(PayloadError::BadSignature {
            found: "BenWasHer".into()
        })
    );
    assert!(matches!(
        read_snap_signature(&mut Reader::new(&sig[..7])),
        Err(PayloadError::Decode(
            zk_proto::DecodeError::Truncated { .. }
        ))
    ));
}

#[test]
fn newleader_carries_the_config_string() {
    // LearnerHandler.run (learner version >= 0x10000): QuorumPacket(NEWLEADER,
    // makeZxid(newEpoch, 0), getQuorumVerifierBytes(), null), the bytes being
    // QuorumMaj.toString(): "server.N=" + QuorumServer.toString() + "\n" each, then
    // "version=" + hex.
    let config = "server.1=127.0.0.1:2888:3888:participant\nversion=0";
    let p = QuorumPacket::new_leader(2, Some(config.as_bytes().to_vec()));
    let bytes = hex(&[
        "00 00 00 0a",             // type NEWLEADER 10
        "00 00 00 02 00 00 00 00", // zxid: newEpoch 2 << 32
        "00 00 00 32",             // data: 50 bytes
        &ascii(config),            //   the config, UTF-8, no terminator
        NULL,                      // authinfo null
    ]);
    assert_eq!(config.len(), 0x32);
    assert_packet(&p, &bytes);
    assert_eq!(
        p.payload::<NewLeader>(),
        Ok(NewLeader {
            config: Some(config.as_bytes().to_vec())
        })
    );
    // Learner.syncWithLeader reads a config only from non-null data longer than 1 byte.
    assert_eq!(NewLeader::from_data(None), Ok(NewLeader { config: None }));
    assert_eq!(
        NewLeader::from_data(Some(b"x")),
        Ok(NewLeader { config: None })
    );
}

#[test]
fn uptodate() {
    // LearnerHandler.run: QuorumPacket(UPTODATE, -1, null, null).
    let bytes = hex(&["00 00 00 0c", "ff ff ff ff ff ff ff ff", NULL, NULL]);
    assert_packet(&QuorumPacket::up_to_date(), &bytes);
}

// ---- quorum port: broadcast ----

/// TxnHeader{clientId 0x1, cxid 1, zxid 0x200000001, time 0, type delete 2} + DeleteTxn{"/a"} +
/// TxnDigest{2, 0}: Util.marshallTxnEntry, the same bytes as a txn log entry's body.
const TXN: &[&str] = &[
    "00 00 00 00 00 00 00 01", // long clientId
    "00 00 00 01",             // int cxid
    "00 00 00 02 00 00 00 01", // long zxid
    "00 00 00 00 00 00 00 00", // long time
    "00 00 00 02",             // int type (delete)
    "00 00 00 02 2f 61",       // DeleteTxn ustring path "/a"
    "00 00 00 02",             // TxnDigest int version 2
    "00 00 00 00 00 00 00 00", //   long treeDigest
];

#[test]
fn proposal_and_inform_carry_the_txn() {
    // Leader.propose: QuorumPacket(PROPOSAL, zxid, request.getSerializeData(), null);
    // Leader.inform: QuorumPacket(INFORM, zxid, proposal data, null).
    let txn = hex(TXN);
    let mut built = Vec::new();
    TxnHeader {
        client_id: 1,
        cxid: 1,
        zxid: 0x2_0000_0001,
        time: 0,
        txn_type: 2,
    }
    .encode(&mut built);
    DeleteTxn { path: "/a".into() }.encode(&mut built);
    TxnDigest {
        version: 2,
        tree_digest: 0,
    }
    .encode(&mut built);
    assert_eq!(built, txn);
    for (t, code) in [(PacketType::Proposal, "02"), (PacketType::Inform, "08")] {
        let p = QuorumPacket::txn(t, 0x2_0000_0001, txn.clone());
        let mut fields = vec![
            format!("00 00 00 {code}"),
            "00 00 00 02 00 00 00 01".into(),
            format!("00 00 00 {:02x}", txn.len()), // data length 50
        ];
        fields.extend(TXN.iter().map(|s| s.to_string()));
        fields.push(NULL.into());
        let fields: Vec<&str> = fields.iter().map(String::as_str).collect();
        assert_packet(&p, &hex(&fields));
    }
}

#[test]
fn commitandactivate_and_informandactivate() {
    // Leader.commitAndActivate: 8-byte ByteBuffer putLong(designatedLeader).
    let p = QuorumPacket::commit_and_activate(0x2_0000_0001, 3);
    let bytes = hex(&[
        "00 00 00 09",             // type COMMITANDACTIVATE 9
        "00 00 00 02 00 00 00 01", // zxid
        "00 00 00 08",             // data: 8 bytes
        "00 00 00 00 00 00 00 03", //   long designatedLeader 3
        NULL,
    ]);
    assert_packet(&p, &bytes);
    assert_eq!(
        p.payload::<CommitAndActivate>(),
        Ok(CommitAndActivate {
            designated_leader: 3
        })
    );
    // Leader.buildInformAndActivePacket: putLong(designatedLeader), put(proposal data).
    let txn = hex(TXN);
    let p = QuorumPacket::inform_and_activate(0x2_0000_0001, 3, txn.clone());
    let mut expected = hex(&[
        "00 00 00 13",             // type INFORMANDACTIVATE 19
        "00 00 00 02 00 00 00 01", // zxid
        "00 00 00 3a",             // data: 8 + 50 bytes
        "00 00 00 00 00 00 00 03", //   long designatedLeader 3
    ]);
    expected.extend(&txn); //        the txn, no length
    expected.extend(hex(&[NULL]));
    assert_packet(&p, &expected);
    assert_eq!(
        p.payload::<InformAndActivate>(),
        Ok(InformAndActivate {
            designated_leader: 3,
            txn
        })
    );
}

#[test]
fn ping_both_ways() {
    // LearnerHandler.ping: QuorumPacket(PING, learnerMaster.getLastProposed(), null, null).
    let ping = QuorumPacket::leader_ping(0x2_0000_0009);
    let bytes = hex(&["00 00 00 05", "00 00 00 02 00 00 00 09", NULL, NULL]);
    assert_packet(&ping, &bytes);
    // Learner.ping: DataOutputStream writeLong(sessionId), writeInt(timeout) per touched
    // session, no count; QuorumPacket(qp.getType(), qp.getZxid(), bytes, qp.getAuthinfo()).
    let touches = PingTouches {
        touches: vec![
            SessionTouch {
                session_id: 0x0100_0000_0000_0001,
                timeout_ms: 30000,
            },
            SessionTouch {
                session_id: 0x0200_0000_0000_0002,
                timeout_ms: 4000,
            },
        ],
    };
    let reply = QuorumPacket::ping_reply(&ping, &touches);
    let bytes = hex(&[
        "00 00 00 05",             // type PING 5
        "00 00 00 02 00 00 00 09", // zxid: echoed
        "00 00 00 18",             // data: 24 bytes = 2 touches
        "01 00 00 00 00 00 00 01", //   long sessionId
        "00 00 75 30",             //   int timeout 30000
        "02 00 00 00 00 00 00 02", //   long sessionId
        "00 00 0f a0",             //   int timeout 4000
        NULL,                      // authinfo: echoed (null)
    ]);
    assert_packet(&reply, &bytes);
    assert_eq!(reply.payload::<PingTouches>(), Ok(touches));
    // No sessions touched: an empty, non-null buffer.
    let empty = QuorumPacket::ping_reply(&ping, &PingTouches::default());
    assert_packet(
        &empty,
        &hex(&[
            "00 00 00 05",
            "00 00 00 02 00 00 00 09",
            "00 00 00 00",
            NULL,
        ]),
    );
    // LearnerHandler reads pairs while bytes remain: a partial pair is an EOFException.
    assert_eq!(
        PingTouches::from_data(Some(&[0; 13])),
        Err(PayloadError::RaggedTouches { len: 13 })
    );
    assert_eq!(
        PingTouches::from_data(None),
        Err(PayloadError::Missing { what: "PING" })
    );
}

#[test]
fn request_forwards_a_sync() {
    // Learner.request: DataOutputStream writeLong(sessionId), writeInt(cxid), writeInt(type),
    // write(request bytes); QuorumPacket(REQUEST, -1, bytes, request.authInfo).
    let req = ForwardedRequest {
        session_id: 0x0100_0000_0000_0001,
        cxid: 5,
        op_type: 9, // sync
        request: hex(&["00 00 00 02 2f 61"]),
    };
    let p = QuorumPacket::request(&req, Some(vec![Id::new("ip", "127.0.0.1")]));
    let bytes = hex(&[
        "00 00 00 01",             // type REQUEST 1
        "ff ff ff ff ff ff ff ff", // zxid -1
        "00 00 00 16",             // data: 22 bytes
        "01 00 00 00 00 00 00 01", //   long sessionId
        "00 00 00 05",             //   int cxid 5
        "00 00 00 09",             //   int type 9 (sync)
        "00 00 00 02 2f 61",       //   SyncRequest{path "/a"}, no outer length
        "00 00 00 01",             // authinfo: 1 Id
        "00 00 00 02 69 70",       //   scheme "ip"
        "00 00 00 09",             //   id: 9 bytes
        &ascii("127.0.0.1"),
    ]);
    assert_packet(&p, &bytes);
    assert_eq!(p.payload::<ForwardedRequest>(), Ok(req));
    // data[8..] is a client RequestHeader{xid = cxid, type} + body.
    let (header, decoded) =
        zk_proto::request::decode_request(&p.data().unwrap()[8..], zk_proto::DEFAULT_MAX_BUFFER)
            .unwrap();
    assert_eq!((header.xid, header.op_type), (5, 9));
    assert_eq!(
        decoded,
        zk_proto::request::Request::Sync(zk_proto::proto::SyncRequest { path: "/a".into() })
    );
    // ZooKeeperServer.close: closeSession (-11) has no request bytes.
    let close = ForwardedRequest {
        session_id: 1,
        cxid: 0,
        op_type: -11,
        request: vec![],
    };
    assert_eq!(
        close.to_data().unwrap(),
        hex(&["00 00 00 00 00 00 00 01", "00 00 00 00", "ff ff ff f5"])
    );
    assert_eq!(
        ForwardedRequest::from_data(Some(&[0; 15])),
        Err(PayloadError::TooShort {
            what: "REQUEST",
            len: 15,
            min: 16
        })
    );
}

#[test]
fn revalidate_both_ways() {
    // Learner.validateSession: DataOutputStream writeLong(clientId), writeInt(timeout);
    // QuorumPacket(REVALIDATE, -1, bytes, null).
    let p = QuorumPacket::revalidate(RevalidateRequest {
        session_id: 0x0100_0000_0000_0001,
        timeout_ms: 30000,
    });
    let bytes = hex(&[
        "00 00 00 06",             // type REVALIDATE 6
        "ff ff ff ff ff ff ff ff", // zxid -1
        "00 00 00 0c",             // data: 12 bytes
        "01 00 00 00 00 00 00 01", //   long sessionId
        "00 00 75 30",             //   int timeout 30000
        NULL,                      // authinfo null
    ]);
    assert_packet(&p, &bytes);
    // Leader.revalidateSession: writeLong(id), writeBoolean(valid) into the same packet.
    let reply = QuorumPacket::revalidate_reply(
        &p,
        RevalidateResponse {
            session_id: 0x0100_0000_0000_0001,
            valid: true,
        },
    );
    let bytes = hex(&[
        "00 00 00 06",             // type REVALIDATE 6
        "ff ff ff ff ff ff ff ff", // zxid -1 (the learner's)
        "00 00 00 09",             // data: 9 bytes
        "01 00 00 00 00 00 00 01", //   long sessionId
        "01",                      //   boolean valid
        NULL,                      // authinfo null
    ]);
    assert_packet(&reply, &bytes);
    // readBoolean: any non-zero byte is true.
    let mut data = bytes[16..25].to_vec();
    data[8] = 7;
    assert!(RevalidateResponse::from_data(Some(&data)).unwrap().valid);
}

#[test]
fn sync() {
    // Leader.sendSync: QuorumPacket(SYNC, 0, null, null).
    let bytes = hex(&["00 00 00 07", "00 00 00 00 00 00 00 00", NULL, NULL]);
    assert_packet(&QuorumPacket::sync(), &bytes);
}

#[test]
fn quorum_auth_packet() {
    // QuorumAuth.createPacket: QuorumAuthPacket{long magic; int status; buffer token}.
    let p = QuorumAuthPacket {
        magic: QUORUM_AUTH_MAGIC,
        status: QuorumAuthStatus::InProgress.code(),
        token: Some(b"abc".to_vec()),
    };
    let bytes = hex(&[
        "5f 24 35 01 35 01 ed cc", // -0xa0dbcafecafe1234L: positive
        "00 00 00 00",             // status IN_PROGRESS 0
        "00 00 00 03 61 62 63",    // token "abc"
    ]);
    assert_eq!(p.to_bytes(), bytes);
    assert_eq!(QuorumAuthPacket::from_bytes(&bytes), Ok(p));
}

#[test]
fn packets_back_to_back_with_no_outer_length() {
    let a = QuorumPacket::leader_info(2);
    let b = QuorumPacket::up_to_date();
    let mut stream = a.to_bytes();
    b.encode(&mut stream);
    let (first, n) = decode_packet(&stream, DEFAULT_QUORUM_MAX_BUFFER)
        .unwrap()
        .unwrap();
    assert_eq!((first, n), (a, 24));
    let (second, m) = decode_packet(&stream[n..], DEFAULT_QUORUM_MAX_BUFFER)
        .unwrap()
        .unwrap();
    assert_eq!((second, n + m), (b, stream.len()));
    assert_eq!(decode_packet(&stream[..23], 100), Ok(None));
}

// ---- election port ----

#[test]
fn connection_header_v1() {
    // QuorumCnxManager.startConnection: writeLong(PROTOCOL_VERSION_V1), writeLong(myId),
    // writeInt(addr bytes length), write(NetUtils.formatInetAddr(electionAddr) as UTF-8).
    let h = ConnectionHeader::v1(
        3,
        ElectionAddr {
            host: "127.0.0.1".into(),
            port: 3888,
        },
    );
    let bytes = hex(&[
        "ff ff ff ff ff ff 00 00", // long -65536
        "00 00 00 00 00 00 00 03", // long sid 3
        "00 00 00 0e",             // int 14
        &ascii("127.0.0.1:3888"),
    ]);
    assert_eq!(PROTOCOL_VERSION_V1.to_be_bytes().to_vec(), bytes[..8]);
    assert_eq!(h.to_bytes(), bytes);
    assert_eq!(ConnectionHeader::decode(&bytes), Ok(Some((h, bytes.len()))));
    for cut in 0..bytes.len() {
        assert_eq!(ConnectionHeader::decode(&bytes[..cut]), Ok(None), "{cut}");
    }
}

#[test]
fn connection_header_v2_and_legacy() {
    // V2 (multiAddress.enabled): the addresses joined with '|', IPv6 literals in brackets.
    let h = ConnectionHeader {
        version: HeaderVersion::V2,
        sid: 1,
        addresses: vec![
            ElectionAddr {
                host: "10.0.0.1".into(),
                port: 3888,
            },
            ElectionAddr {
                host: "::1".into(),
                port: 3888,
            },
        ],
    };
    let bytes = hex(&[
        "ff ff ff ff ff ff 00 01", // long -65535
        "00 00 00 00 00 00 00 01", // long sid 1
        "00 00 00 18",             // int 24
        &ascii("10.0.0.1:3888|[::1]:3888"),
    ]);
    assert_eq!(PROTOCOL_VERSION_V2.to_be_bytes().to_vec(), bytes[..8]);
    assert_eq!(h.to_bytes(), bytes);
    assert_eq!(ConnectionHeader::decode(&bytes), Ok(Some((h, bytes.len()))));
    // handleConnection: a first long >= 0 is a pre-3.5 peer's bare sid.
    let legacy = hex(&["00 00 00 00 00 00 00 05", "de ad"]);
    assert_eq!(
        ConnectionHeader::decode(&legacy),
        Ok(Some((
            ConnectionHeader {
                version: HeaderVersion::Legacy,
                sid: 5,
                addresses: vec![]
            },
            8
        )))
    );
}

#[test]
fn connection_header_refusals() {
    let with = |version: &str, len: &str, addr: &str| {
        let mut b = hex(&[version, "00 00 00 00 00 00 00 01", len]);
        b.extend(addr.as_bytes());
        b
    };
    let v1 = "ff ff ff ff ff ff 00 00";
    assert_eq!(
        ConnectionHeader::decode(&with("ff ff ff ff ff ff 00 02", "00 00 00 00", "")),
        Err(ElectionError::UnknownProtocolVersion(-65534))
    );
    // InitialMessage.parse: remaining <= 0 || remaining > maxBuffer (2048).
    for len in ["00 00 00 00", "ff ff ff ff", "00 00 08 01", "7f ff ff ff"] {
        assert!(matches!(
            ConnectionHeader::decode(&with(v1, len, "")),
            Err(ElectionError::BadAddressLength(_))
        ));
    }
    // 2048 is allowed: with fewer bytes present the decoder waits.
    assert_eq!(
        ConnectionHeader::decode(&with(v1, "00 00 08 00", "a:1")),
        Ok(None)
    );
    assert_eq!(
        ConnectionHeader::decode(&with(v1, "00 00 00 04", "zk1:")),
        Err(ElectionError::BadAddress("zk1:".into()))
    );
    assert_eq!(
        ConnectionHeader::decode(&with(v1, "00 00 00 06", "zk1:ab")),
        Err(ElectionError::BadPort("ab".into()))
    );
}

#[test]
fn election_message_framing() {
    // SendWorker.send: writeInt(capacity), write(array). RecvWorker: 0 < length <= 512 KiB.
    let mut out = Vec::new();
    put_message(&mut out, b"abc");
    assert_eq!(out, hex(&["00 00 00 03 61 62 63"]));
    assert_eq!(check_message(&out), Ok(Some(7)));
    assert_eq!(check_message(&out[..6]), Ok(None));
    assert_eq!(check_message(&out[..2]), Ok(None));
    assert_eq!(
        check_message(&hex(&["00 00 00 00"])),
        Err(ElectionError::BadMessageLength(0))
    );
    assert_eq!(
        check_message(&hex(&["00 08 00 01"])),
        Err(ElectionError::BadMessageLength(MAX_MESSAGE_LEN as i32 + 1))
    );
    assert_eq!(check_message(&hex(&["00 08 00 00"])), Ok(None));
}

#[test]
fn notification_v2() {
    // FastLeaderElection.buildMsg (6 args): a 44 + configLength byte ByteBuffer.
    let config = "server.1=127.0.0.1:2888:3888:participant\nversion=0";
    let n = Notification::new(
        ServerState::Looking,
        3,
        0x1_0000_0005,
        2,
        1,
        config.as_bytes().to_vec(),
    );
    let bytes = hex(&[
        "00 00 00 00",             // int state LOOKING 0
        "00 00 00 00 00 00 00 03", // long leader 3
        "00 00 00 01 00 00 00 05", // long zxid
        "00 00 00 00 00 00 00 02", // long electionEpoch 2
        "00 00 00 00 00 00 00 01", // long peerEpoch 1
        "00 00 00 02",             // int version 2
        "00 00 00 32",             // int configLength 50
        &ascii(config),
    ]);
    assert_eq!(bytes.len(), 44 + 50);
    assert_eq!(n.to_bytes(), bytes);
    assert_eq!(Notification::decode(&bytes), Ok(n.clone()));
    // Bytes after the config are ignored.
    let mut longer = bytes.clone();
    longer.extend([9, 9]);
    assert_eq!(Notification::decode(&longer), Ok(n));
}

#[test]
fn notification_legacy_forms() {
    // WorkerReceiver: exactly 28 bytes (before ZOOKEEPER-107): no peerEpoch, taken from zxid.
    let short = hex(&[
        "00 00 00 02",             // state LEADING
        "00 00 00 00 00 00 00 01", // leader 1
        "00 00 00 04 00 00 00 09", // zxid 0x400000009
        "00 00 00 00 00 00 00 07", // electionEpoch 7
    ]);
    let n = Notification::decode(&short).unwrap();
    assert_eq!(
        n,
        Notification {
            state: ServerState::Leading,
            leader: 1,
            zxid: 0x4_0000_0009,
            election_epoch: 7,
            peer_epoch: 4,
            version: 0,
            config: None,
        }
    );
    // Exactly 40 bytes (buildMsg with 5 args): peerEpoch read, the version int never is.
    let mut forty = short.clone();
    forty.extend(hex(&["00 00 00 00 00 00 00 05", "00 00 00 01"]));
    let n40 = Notification::decode(&forty).unwrap();
    assert_eq!((n40.peer_epoch, n40.version, &n40.config), (5, 0, &None));
    let zero = Notification {
        version: 0,
        ..n40.clone()
    };
    assert_eq!(zero.to_bytes()[..36], forty[..36]);
    assert_eq!(zero.to_bytes().len(), 40);
    // 29..=39 bytes underflow; under 28 is refused up front.
    for len in 29..40 {
        let mut b = forty[..len.min(40)].to_vec();
        b.resize(len, 0);
        assert!(
            matches!(
                Notification::decode(&b),
                Err(ElectionError::PartialNotification { .. })
            ),
            "{len}"
        );
    }
    assert_eq!(
        Notification::decode(&short[..27]),
        Err(ElectionError::ShortNotification(27))
    );
    // 41+ bytes with version <= 1: read, the rest ignored.
    let mut v1 = forty.clone();
    v1.extend([0xaa; 4]);
    let n = Notification::decode(&v1).unwrap();
    assert_eq!((n.version, &n.config), (1, &None));
}

#[test]
fn notification_refusals() {
    let head = |state: &str, version: &str| {
        hex(&[
            state,
            "00 00 00 00 00 00 00 01",
            "00 00 00 00 00 00 00 01",
            "00 00 00 00 00 00 00 01",
            "00 00 00 00 00 00 00 01",
            version,
        ])
    };
    // configLength < 0 or > capacity: IOException, message skipped.
    let mut b = head("00 00 00 00", "00 00 00 02");
    b.extend(hex(&["ff ff ff ff"]));
    assert_eq!(
        Notification::decode(&b),
        Err(ElectionError::BadConfigLength {
            config_len: -1,
            len: 44
        })
    );
    let mut b = head("00 00 00 00", "00 00 00 02");
    b.extend(hex(&["00 00 00 2d"]));
    assert_eq!(
        Notification::decode(&b),
        Err(ElectionError::BadConfigLength {
            config_len: 45,
            len: 44
        })
    );
    // A config shorter than its length: BufferUnderflowException.
    let mut b = head("00 00 00 00", "00 00 00 02");
    b.extend(hex(&["00 00 00 05", "61 62"]));
    assert_eq!(
        Notification::decode(&b),
        Err(ElectionError::PartialNotification {
            len: 46,
            version: 2
        })
    );
    // An unknown state: skipped (from a voter).
    let mut b = head("00 00 00 04", "00 00 00 02");
    b.extend(hex(&["00 00 00 00"]));
    assert_eq!(
        Notification::decode(&b),
        Err(ElectionError::UnknownState(4))
    );
}
