//! Round-trip properties: every record, every typed request and every multi result decodes back
//! to exactly what was encoded.

mod common;

use std::collections::BTreeSet;

use proptest::prelude::*;
use zk_proto::data::*;
use zk_proto::proto::*;
use zk_proto::request::{
    decode_multi_results, decode_request, encode_multi_results, encode_request, request_op,
    MultiResult, Request,
};
use zk_proto::txn::*;
use zk_proto::{Decode, Encode, Reader, DEFAULT_MAX_BUFFER};

/// One property per record type: `T::from_bytes(&t.to_bytes()) == t`.
macro_rules! record_roundtrips {
    ($($test:ident : $t:ty => $s:expr),+ $(,)?) => {
        proptest! {
            #![proptest_config(common::config())]
            $(
                #[test]
                fn $test(v in $s) {
                    let bytes = v.to_bytes();
                    prop_assert_eq!(<$t>::from_bytes(&bytes), Ok(v.clone()));
                    // Decoding through a Reader consumes exactly the encoding.
                    let mut r = Reader::new(&bytes);
                    prop_assert_eq!(<$t>::decode(&mut r), Ok(v));
                    prop_assert!(r.is_empty());
                }
            )+
        }
    };
}

common::for_each_record!(record_roundtrips);

fn encode(xid: i32, req: &Request) -> Vec<u8> {
    let mut out = Vec::new();
    encode_request(xid, req, &mut out);
    out
}

fn encode_results(results: &[MultiResult]) -> Vec<u8> {
    let mut out = Vec::new();
    encode_multi_results(results, &mut out);
    out
}

proptest! {
    #![proptest_config(common::config())]

    #[test]
    fn request(xid in any::<i32>(), req in common::request()) {
        let bytes = encode(xid, &req);
        let (header, decoded) = decode_request(&bytes, DEFAULT_MAX_BUFFER).expect("decodes");
        prop_assert_eq!(header, RequestHeader { xid, op_type: request_op(&req) });
        prop_assert_eq!(&decoded, &req);
        // Re-encoding is byte-identical: the encoding is canonical.
        prop_assert_eq!(encode(xid, &decoded), bytes);
    }

    #[test]
    fn multi_request(xid in any::<i32>(), ops in proptest::collection::vec(common::multi_write_op(), 0..8)) {
        let req = Request::Multi(ops);
        let bytes = encode(xid, &req);
        prop_assert_eq!(decode_request(&bytes, DEFAULT_MAX_BUFFER).expect("decodes").1, req);
    }

    #[test]
    fn multi_read_request(xid in any::<i32>(), ops in proptest::collection::vec(common::multi_read_op(), 0..8)) {
        let req = Request::MultiRead(ops);
        let bytes = encode(xid, &req);
        prop_assert_eq!(decode_request(&bytes, DEFAULT_MAX_BUFFER).expect("decodes").1, req);
    }

    #[test]
    fn unknown_request(xid in any::<i32>(), op in common::unknown_op()) {
        let req = Request::Unknown(op);
        let bytes = encode(xid, &req);
        prop_assert_eq!(bytes.len(), 8, "an unknown request is just its header");
        prop_assert_eq!(decode_request(&bytes, DEFAULT_MAX_BUFFER), Ok((RequestHeader { xid, op_type: op }, req)));
    }

    #[test]
    fn delete_container_is_a_bare_string(xid in any::<i32>(), path in common::string()) {
        let bytes = encode(xid, &Request::DeleteContainer(path.clone()));
        prop_assert_eq!(bytes[8..].to_vec(), path.to_bytes());
        prop_assert_eq!(decode_request(&bytes, DEFAULT_MAX_BUFFER).expect("decodes").1, Request::DeleteContainer(path));
    }

    #[test]
    fn multi_results(results in proptest::collection::vec(common::multi_result(), 0..8)) {
        let bytes = encode_results(&results);
        let mut r = Reader::new(&bytes);
        prop_assert_eq!(decode_multi_results(&mut r), Ok(results.clone()));
        prop_assert!(r.is_empty());
        prop_assert_eq!(encode_results(&results), bytes);
    }
}

/// The request strategy reaches every `Request` variant, every multi op kind and every multi
/// result kind (so the properties above really cover them all).
#[test]
fn strategies_cover_every_variant() {
    let reqs = common::samples(common::request(), 2000);
    let kinds: BTreeSet<_> = reqs.iter().map(common::request_kind).collect();
    assert_eq!(
        kinds.len(),
        common::REQUEST_KINDS,
        "request kinds seen: {kinds:?}"
    );

    let ops: BTreeSet<_> = reqs
        .iter()
        .flat_map(|r| match r {
            Request::Multi(ops) | Request::MultiRead(ops) => ops.as_slice(),
            _ => &[],
        })
        .map(common::multi_op_kind)
        .collect();
    assert_eq!(
        ops.len(),
        common::MULTI_OP_KINDS,
        "multi op kinds seen: {ops:?}"
    );

    let create_ops: BTreeSet<_> = reqs
        .iter()
        .filter_map(|r| match r {
            Request::Create { op, .. } => Some(*op),
            _ => None,
        })
        .collect();
    assert_eq!(create_ops.len(), 3, "{create_ops:?}");

    let results = common::samples(common::multi_result(), 500);
    let kinds: BTreeSet<_> = results.iter().map(common::multi_result_kind).collect();
    assert_eq!(
        kinds.len(),
        common::MULTI_RESULT_KINDS,
        "result kinds seen: {kinds:?}"
    );
}

/// Null and empty buffers stay distinct where jute keeps them distinct, and merge where the
/// field is a plain `buffer`.
#[test]
fn null_versus_empty_buffers() {
    let null = SetDataRequest {
        path: "/a".into(),
        data: None,
        version: -1,
    };
    let empty = SetDataRequest {
        data: Some(Vec::new()),
        ..null.clone()
    };
    assert_ne!(null.to_bytes(), empty.to_bytes());
    assert_eq!(SetDataRequest::from_bytes(&null.to_bytes()), Ok(null));
    assert_eq!(SetDataRequest::from_bytes(&empty.to_bytes()), Ok(empty));

    // AuthPacket.auth is a plain buffer: a null one reads as empty.
    let mut bytes = AuthPacket {
        auth_type: 0,
        scheme: "digest".into(),
        auth: Vec::new(),
    }
    .to_bytes();
    let n = bytes.len();
    bytes[n - 4..].copy_from_slice(&(-1i32).to_be_bytes());
    assert_eq!(
        AuthPacket::from_bytes(&bytes).unwrap().auth,
        Vec::<u8>::new()
    );
}

/// Every string round-trips exactly, including NUL, surrogate-free astral characters and
/// multi-byte sequences.
#[test]
fn unusual_strings_round_trip() {
    for s in [
        "",
        "/",
        "\0",
        "/a\0b",
        "/\u{fffd}",
        "/日本語",
        "/😀/🦀",
        "\u{10ffff}",
        "a\u{7f}\u{80}\u{7ff}\u{800}",
    ] {
        let rec = CreateResponse { path: s.to_owned() };
        assert_eq!(CreateResponse::from_bytes(&rec.to_bytes()), Ok(rec));
    }
}

/// Vectors of records nest: an ACL vector inside a txn inside a multi txn.
#[test]
fn nested_vectors() {
    let create = CreateTxn {
        path: "/n".into(),
        data: Some(b"x".to_vec()),
        acl: Acl::open_unsafe(),
        ephemeral: false,
        parent_cversion: 3,
    };
    let multi = MultiTxn {
        txns: vec![
            Txn {
                txn_type: 1,
                data: create.to_bytes(),
            },
            Txn {
                txn_type: 2,
                data: DeleteTxn { path: "/m".into() }.to_bytes(),
            },
        ],
    };
    let back = MultiTxn::from_bytes(&multi.to_bytes()).unwrap();
    assert_eq!(back, multi);
    assert_eq!(CreateTxn::from_bytes(&back.txns[0].data), Ok(create));
    let who = WhoAmIResponse {
        client_info: vec![ClientInfo {
            auth_scheme: "ip".into(),
            user: "127.0.0.1".into(),
        }],
    };
    assert_eq!(WhoAmIResponse::from_bytes(&who.to_bytes()), Ok(who));
}
