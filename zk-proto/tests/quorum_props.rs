//! Properties of the quorum-port and election-port codecs: everything round-trips, a stream cut
//! anywhere decodes to the same packets, and hostile bytes (random, truncated, lying lengths)
//! give an error or "need more bytes", never a panic or an allocation past the input.

#[allow(unused_macros, unused_imports)]
mod common;

use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use zk_proto::codec::WriteExt;
use zk_proto::election::{
    check_message, put_message, ConnectionHeader, ElectionAddr, ElectionError, HeaderVersion,
    Notification, ServerState,
};
use zk_proto::quorum::*;
use zk_proto::{Decode, DecodeError, Encode, Reader};

// ---- strategies ----

fn packet_type() -> impl Strategy<Value = i32> {
    prop_oneof![
        3 => prop::sample::select(PacketType::ALL).prop_map(PacketType::code),
        1 => any::<i32>(),
    ]
}

fn quorum_packet() -> impl Strategy<Value = QuorumPacket> {
    (
        packet_type(),
        any::<i64>(),
        option::of(vec(any::<u8>(), 0..48)),
        option::of(vec(common::id(), 0..3)),
    )
        .prop_map(|(packet_type, zxid, data, authinfo)| QuorumPacket {
            packet_type,
            zxid,
            data,
            authinfo,
        })
}

fn learner_info() -> impl Strategy<Value = LearnerInfo> {
    (any::<i64>(), any::<i32>(), any::<i64>()).prop_map(|(s, p, c)| LearnerInfo {
        server_id: s,
        protocol_version: p,
        config_version: c,
    })
}

fn touches() -> impl Strategy<Value = PingTouches> {
    vec((any::<i64>(), any::<i32>()), 0..6).prop_map(|v| PingTouches {
        touches: v
            .into_iter()
            .map(|(session_id, timeout_ms)| SessionTouch {
                session_id,
                timeout_ms,
            })
            .collect(),
    })
}

fn forwarded_request() -> impl Strategy<Value = ForwardedRequest> {
    (
        any::<i64>(),
        any::<i32>(),
        any::<i32>(),
        vec(any::<u8>(), 0..32),
    )
        .prop_map(|(session_id, cxid, op_type, request)| ForwardedRequest {
            session_id,
            cxid,
            op_type,
            request,
        })
}

fn state() -> impl Strategy<Value = ServerState> {
    prop::sample::select(ServerState::ALL)
}

/// Notifications as decode returns them: current (version 2, config) or 40-byte (version 0).
fn notification() -> impl Strategy<Value = Notification> {
    (
        state(),
        any::<i64>(),
        any::<i64>(),
        any::<i64>(),
        any::<i64>(),
        option::of(vec(any::<u8>(), 0..80)),
    )
        .prop_map(
            |(state, leader, zxid, election_epoch, peer_epoch, config)| {
                let version = if config.is_some() { 2 } else { 0 };
                Notification {
                    state,
                    leader,
                    zxid,
                    election_epoch,
                    peer_epoch,
                    version,
                    config,
                }
            },
        )
}

fn election_addr() -> impl Strategy<Value = ElectionAddr> {
    let host = prop_oneof![
        "[a-z0-9.-]{1,16}",
        "[0-9a-f]{1,4}(:[0-9a-f]{0,4}){1,4}", // IPv6-like: bracketed on the wire
    ];
    (host, any::<u16>()).prop_map(|(host, port)| ElectionAddr { host, port })
}

fn connection_header() -> impl Strategy<Value = ConnectionHeader> {
    prop_oneof![
        (any::<i64>(), election_addr()).prop_map(|(sid, a)| ConnectionHeader::v1(sid, a)),
        (any::<i64>(), vec(election_addr(), 1..4)).prop_map(|(sid, addresses)| {
            ConnectionHeader {
                version: HeaderVersion::V2,
                sid,
                addresses,
            }
        }),
        (0..=i64::MAX).prop_map(|sid| ConnectionHeader {
            version: HeaderVersion::Legacy,
            sid,
            addresses: vec![],
        }),
    ]
}

/// Values that make interesting lengths and counts.
const INTERESTING: &[i32] = &[
    -2,
    -1,
    0,
    1,
    4,
    8,
    12,
    20,
    28,
    40,
    44,
    2048,
    2049,
    0xfffff,
    0x1ffffe,
    0x1fffff,
    512 * 1024,
    512 * 1024 + 1,
    i32::MAX,
    i32::MIN,
];

/// Random bytes, half the time built from length-shaped big-endian ints.
fn hostile_bytes() -> impl Strategy<Value = Vec<u8>> {
    let token = prop_oneof![
        any::<u8>().prop_map(|b| vec![b]),
        prop::sample::select(INTERESTING).prop_map(|v| v.to_be_bytes().to_vec()),
        prop::sample::select(PacketType::ALL).prop_map(|t| t.code().to_be_bytes().to_vec()),
        Just((-65536i64).to_be_bytes().to_vec()),
        any::<i64>().prop_map(|v| v.to_be_bytes().to_vec()),
    ];
    prop_oneof![
        vec(any::<u8>(), 0..160),
        vec(token, 0..24).prop_map(|t| t.concat())
    ]
}

fn any_max() -> impl Strategy<Value = usize> {
    prop_oneof![0..64usize, Just(DEFAULT_QUORUM_MAX_BUFFER), any::<usize>()]
}

/// Runs every payload decoder over `data`; none may panic.
fn decode_every_payload(data: Option<&[u8]>) {
    let _ = LearnerInfo::from_data(data);
    let _ = LeaderInfo::from_data(data);
    let _ = AckEpoch::from_data(data);
    let _ = NewLeader::from_data(data);
    let _ = PingTouches::from_data(data);
    let _ = ForwardedRequest::from_data(data);
    let _ = RevalidateRequest::from_data(data);
    let _ = RevalidateResponse::from_data(data);
    let _ = CommitAndActivate::from_data(data);
    let _ = InformAndActivate::from_data(data);
    if let Some(d) = data {
        let _ = read_snap_signature(&mut Reader::new(d));
    }
}

/// `v` round-trips through `data`, ignores trailing bytes, and refuses every shorter prefix.
fn check_fixed_payload<P: Payload + PartialEq + std::fmt::Debug>(
    v: &P,
    len: usize,
    junk: &[u8],
) -> Result<(), TestCaseError> {
    let data = v.to_data().expect("non-null");
    prop_assert_eq!(data.len(), len);
    prop_assert_eq!(&P::from_data(Some(&data)).unwrap(), v);
    let mut longer = data.clone();
    longer.extend_from_slice(junk);
    prop_assert_eq!(&P::from_data(Some(&longer)).unwrap(), v);
    for cut in 0..len {
        let short = P::from_data(Some(&data[..cut]));
        prop_assert!(
            matches!(short, Err(PayloadError::TooShort { .. })),
            "{:?}",
            short
        );
    }
    let missing = P::from_data(None);
    prop_assert!(
        matches!(missing, Err(PayloadError::Missing { .. })),
        "{:?}",
        missing
    );
    Ok(())
}

proptest! {
    #![proptest_config(common::config())]

    // ---- round trips ----

    #[test]
    fn quorum_packets_round_trip(p in quorum_packet()) {
        let bytes = p.to_bytes();
        prop_assert_eq!(QuorumPacket::from_bytes(&bytes), Ok(p.clone()));
        prop_assert_eq!(
            decode_packet(&bytes, DEFAULT_QUORUM_MAX_BUFFER),
            Ok(Some((p.clone(), bytes.len())))
        );
        for cut in 0..bytes.len() {
            prop_assert_eq!(decode_packet(&bytes[..cut], DEFAULT_QUORUM_MAX_BUFFER), Ok(None));
        }
    }

    #[test]
    fn a_stream_cut_anywhere_gives_the_same_packets(
        packets in vec(quorum_packet(), 1..6),
        chunks in vec(1usize..40, 1..64),
    ) {
        let mut stream = Vec::new();
        for p in &packets {
            p.encode(&mut stream);
        }
        // Feed the stream in chunks, pulling whole packets off the front as they complete.
        let mut buf: Vec<u8> = Vec::new();
        let mut got = Vec::new();
        let mut fed = 0;
        let mut sizes = chunks.iter().cycle();
        while fed < stream.len() {
            let n = (*sizes.next().unwrap()).min(stream.len() - fed);
            buf.extend_from_slice(&stream[fed..fed + n]);
            fed += n;
            while let Some((p, used)) = decode_packet(&buf, DEFAULT_QUORUM_MAX_BUFFER).unwrap() {
                got.push(p);
                buf.drain(..used);
            }
        }
        prop_assert!(buf.is_empty());
        prop_assert_eq!(got, packets);
    }

    #[test]
    fn fixed_payloads_round_trip(
        info in learner_info(),
        version in any::<i32>(),
        epoch in any::<i32>(),
        session_id in any::<i64>(),
        timeout_ms in any::<i32>(),
        valid in any::<bool>(),
        leader in any::<i64>(),
        junk in vec(any::<u8>(), 1..8),
    ) {
        check_fixed_payload(&info, 20, &junk)?;
        check_fixed_payload(&LeaderInfo { protocol_version: version }, 4, &junk)?;
        check_fixed_payload(&AckEpoch { current_epoch: epoch }, 4, &junk)?;
        check_fixed_payload(&RevalidateRequest { session_id, timeout_ms }, 12, &junk)?;
        check_fixed_payload(&RevalidateResponse { session_id, valid }, 9, &junk)?;
        check_fixed_payload(&CommitAndActivate { designated_leader: leader }, 8, &junk)?;
    }

    #[test]
    fn variable_payloads_round_trip(
        t in touches(),
        req in forwarded_request(),
        leader in any::<i64>(),
        txn in vec(any::<u8>(), 0..40),
        config in option::of(vec(any::<u8>(), 2..40)),
    ) {
        prop_assert_eq!(PingTouches::from_data(t.to_data().as_deref()), Ok(t.clone()));
        prop_assert_eq!(ForwardedRequest::from_data(req.to_data().as_deref()), Ok(req));
        let ia = InformAndActivate { designated_leader: leader, txn };
        prop_assert_eq!(InformAndActivate::from_data(ia.to_data().as_deref()), Ok(ia));
        let nl = NewLeader { config };
        prop_assert_eq!(NewLeader::from_data(nl.to_data().as_deref()), Ok(nl));
    }

    #[test]
    fn notifications_round_trip_framed(n in notification()) {
        let payload = n.to_bytes();
        prop_assert_eq!(Notification::decode(&payload), Ok(n.clone()));
        let mut framed = Vec::new();
        put_message(&mut framed, &payload);
        let end = check_message(&framed).unwrap().unwrap();
        prop_assert_eq!(end, framed.len());
        prop_assert_eq!(Notification::decode(&framed[4..end]), Ok(n.clone()));
        // Only the 28- and 40-byte legacy lengths are whole messages among the prefixes.
        for cut in 0..payload.len() {
            let got = Notification::decode(&payload[..cut]);
            if cut == 28 || cut == 40 {
                prop_assert!(got.is_ok(), "{cut}: {got:?}");
            } else {
                prop_assert!(got.is_err(), "{cut}: {got:?}");
            }
        }
    }

    #[test]
    fn connection_headers_round_trip(h in connection_header(), tail in vec(any::<u8>(), 0..8)) {
        let bytes = h.to_bytes();
        let mut stream = bytes.clone();
        stream.extend_from_slice(&tail);
        prop_assert_eq!(ConnectionHeader::decode(&stream), Ok(Some((h, bytes.len()))));
        for cut in 0..bytes.len() {
            prop_assert_eq!(ConnectionHeader::decode(&bytes[..cut]), Ok(None));
        }
    }

    // ---- hostile input ----

    #[test]
    fn random_bytes_never_panic(bytes in hostile_bytes(), max in any_max()) {
        if let Ok(Some((p, used))) = decode_packet(&bytes, max) {
            prop_assert!((20..=bytes.len()).contains(&used));
            decode_every_payload(p.data());
        }
        let _ = QuorumPacket::from_bytes(&bytes);
        let _ = QuorumAuthPacket::from_bytes(&bytes);
        let _ = LearnerInfo::from_bytes(&bytes);
        decode_every_payload(Some(&bytes));
        if let Ok(Some((_, used))) = ConnectionHeader::decode(&bytes) {
            prop_assert!(used <= bytes.len());
        }
        if let Ok(Some(end)) = check_message(&bytes) {
            prop_assert!(end <= bytes.len());
            let _ = Notification::decode(&bytes[4..end]);
        }
        let _ = Notification::decode(&bytes);
    }

    #[test]
    fn random_payloads_behind_a_valid_header_never_panic(
        t in packet_type(),
        zxid in any::<i64>(),
        data in hostile_bytes(),
        authinfo in hostile_bytes(),
    ) {
        let mut bytes = Vec::new();
        bytes.put_i32(t);
        bytes.put_i64(zxid);
        bytes.put_buffer(&data);
        bytes.extend_from_slice(&authinfo);
        match decode_packet(&bytes, DEFAULT_QUORUM_MAX_BUFFER) {
            Ok(Some((p, _))) => {
                prop_assert_eq!((p.packet_type, p.zxid), (t, zxid));
                prop_assert_eq!(p.data(), Some(data.as_slice()));
            }
            Ok(None) => {}
            Err(e) => prop_assert!(matches!(e, DecodeError::BadLength { .. }), "{e:?}"),
        }
        decode_every_payload(Some(&data));
    }

    #[test]
    fn lying_lengths_are_refused_or_awaited(
        t in packet_type(),
        len in prop::sample::select(INTERESTING),
        max in prop::sample::select(&[0usize, 16, 0xfffff, DEFAULT_QUORUM_MAX_BUFFER][..]),
        present in vec(any::<u8>(), 0..16),
    ) {
        // A data length: -1 is null; otherwise over the limit is malformed, and within the
        // limit but past the bytes present means "need more", with nothing allocated.
        let mut bytes = Vec::new();
        bytes.put_i32(t);
        bytes.put_i64(0);
        bytes.put_i32(len);
        bytes.extend_from_slice(&present);
        let got = decode_packet(&bytes, max);
        if len < -1 || (len >= 0 && len as usize > max) {
            prop_assert!(matches!(got, Err(DecodeError::BadLength { .. })), "{got:?}");
        } else if len >= 0 && len as usize + 4 > present.len() {
            prop_assert_eq!(got, Ok(None));
        }
        // The same lie in the authinfo count.
        let mut bytes = Vec::new();
        bytes.put_i32(t);
        bytes.put_i64(0);
        bytes.put_i32(-1);
        bytes.put_i32(len);
        bytes.extend_from_slice(&present);
        let got = decode_packet(&bytes, max);
        if len < -1 || (len >= 0 && len as usize > max) {
            prop_assert!(matches!(got, Err(DecodeError::BadLength { .. })), "{got:?}");
        } else if len >= 0 && (len as usize).saturating_mul(8) > present.len() {
            // Each Id takes at least 8 bytes (two empty strings).
            prop_assert_eq!(got, Ok(None));
        }
    }

    #[test]
    fn election_lengths_are_bounded(len in prop::sample::select(INTERESTING), sid in any::<i64>()) {
        let mut bytes = Vec::new();
        bytes.put_i64(-65536);
        bytes.put_i64(sid);
        bytes.put_i32(len);
        let got = ConnectionHeader::decode(&bytes);
        if len <= 0 || len > 2048 {
            prop_assert_eq!(got, Err(ElectionError::BadAddressLength(len)));
        } else {
            prop_assert_eq!(got, Ok(None));
        }
        let got = check_message(&len.to_be_bytes());
        if len <= 0 || len > 512 * 1024 {
            prop_assert_eq!(got, Err(ElectionError::BadMessageLength(len)));
        } else {
            prop_assert_eq!(got, Ok(None));
        }
    }

    #[test]
    fn notification_config_lengths_are_bounded(
        n in notification(),
        config_len in prop::sample::select(INTERESTING),
    ) {
        let mut bytes = Notification { version: 2, config: Some(vec![]), ..n }.to_bytes();
        bytes.truncate(40);
        bytes.put_i32(config_len);
        let got = Notification::decode(&bytes);
        if config_len == 0 {
            prop_assert!(got.is_ok());
        } else if !(0..=44).contains(&config_len) {
            prop_assert_eq!(got, Err(ElectionError::BadConfigLength { config_len, len: 44 }));
        } else {
            prop_assert_eq!(got, Err(ElectionError::PartialNotification { len: 44, version: 2 }));
        }
    }
}
