//! Exact wire bytes, derived by hand from the jute rules ZooKeeper uses: big-endian `int` (4
//! bytes) and `long` (8), `boolean` as one byte, `buffer`/`ustring` as an `int` length then the
//! bytes (-1 for null), `vector` as an `int` count then the elements, records as their fields in
//! order. Each test checks both directions: encoding gives these bytes, and these bytes decode
//! to the value.

use zk_proto::codec::WriteExt;
use zk_proto::data::*;
use zk_proto::frame;
use zk_proto::proto::*;
use zk_proto::request::{
    decode_multi_results, decode_request, encode_multi_results, encode_request, MultiOp,
    MultiResult, Request,
};
use zk_proto::txn::*;
use zk_proto::{CreateMode, Decode, Encode, ErrorCode, OpCode, Reader, DEFAULT_MAX_BUFFER};

/// Whitespace-separated hex bytes, one string per field.
fn hex(fields: &[&str]) -> Vec<u8> {
    fields
        .iter()
        .flat_map(|f| f.split_whitespace())
        .map(|b| u8::from_str_radix(b, 16).expect("hex byte"))
        .collect()
}

fn request_bytes(xid: i32, req: &Request) -> Vec<u8> {
    let mut out = Vec::new();
    encode_request(xid, req, &mut out);
    out
}

/// Asserts `req` with `xid` encodes to exactly `bytes`, and `bytes` decode back to it.
fn assert_request(xid: i32, req: Request, bytes: &[u8]) {
    assert_eq!(request_bytes(xid, &req), bytes, "encoding of {req:?}");
    let (header, decoded) = decode_request(bytes, DEFAULT_MAX_BUFFER).expect("decodes");
    assert_eq!(header.xid, xid);
    assert_eq!(decoded, req);
}

fn assert_record<T: Encode + Decode + PartialEq + std::fmt::Debug>(v: &T, bytes: &[u8]) {
    assert_eq!(v.to_bytes(), bytes, "encoding of {v:?}");
    assert_eq!(&T::from_bytes(bytes).expect("decodes"), v);
}

fn connect_request(read_only: Option<bool>) -> ConnectRequest {
    ConnectRequest {
        protocol_version: 0,
        last_zxid_seen: 0,
        time_out: 30000,
        session_id: 0,
        passwd: vec![0; 16],
        read_only,
    }
}

const CONNECT_44: &[&str] = &[
    "00 00 00 00",                                     // protocolVersion 0
    "00 00 00 00 00 00 00 00",                         // lastZxidSeen 0
    "00 00 75 30",                                     // timeOut 30000
    "00 00 00 00 00 00 00 00",                         // sessionId 0
    "00 00 00 10",                                     // passwd: 16 bytes
    "00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00", //   of zeros
];

#[test]
fn connect_request_without_read_only_is_44_bytes() {
    let bytes = hex(CONNECT_44);
    assert_eq!(bytes.len(), 44);
    assert_record(&connect_request(None), &bytes);
}

#[test]
fn connect_request_with_read_only_is_45_bytes() {
    let mut fields = CONNECT_44.to_vec();
    fields.push("00"); // readOnly false
    let bytes = hex(&fields);
    assert_eq!(bytes.len(), 45);
    assert_record(&connect_request(Some(false)), &bytes);

    let mut ro = bytes.clone();
    ro[44] = 1;
    assert_record(&connect_request(Some(true)), &ro);

    // As the client sends it: behind a 4-byte frame length.
    let mut framed = Vec::new();
    frame::put(&mut framed, &bytes);
    assert_eq!(framed[..4], [0, 0, 0, 45]);
    assert_eq!(frame::check(&framed, DEFAULT_MAX_BUFFER), Ok(Some(49)));
    assert_eq!(
        ConnectRequest::from_bytes(&framed[4..49]),
        Ok(connect_request(Some(false)))
    );
}

#[test]
fn connect_response() {
    let resp = ConnectResponse {
        protocol_version: 0,
        time_out: 30000,
        session_id: 0x0100_0a3c_5f00_0001,
        passwd: (1..=16).collect(),
        read_only: Some(false),
    };
    let bytes = hex(&[
        "00 00 00 00",                                     // protocolVersion
        "00 00 75 30",                                     // timeOut
        "01 00 0a 3c 5f 00 00 01",                         // sessionId
        "00 00 00 10",                                     // passwd length
        "01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f 10", // passwd
        "00",                                              // readOnly
    ]);
    assert_eq!(bytes.len(), 37);
    assert_record(&resp, &bytes);
    let old = ConnectResponse {
        read_only: None,
        ..resp
    };
    assert_record(&old, &bytes[..36]);
}

#[test]
fn get_data_with_watch() {
    let bytes = hex(&[
        "00 00 00 01",       // xid 1
        "00 00 00 04",       // type getData
        "00 00 00 02 2f 61", // path "/a"
        "01",                // watch true
    ]);
    assert_request(
        1,
        Request::GetData(GetDataRequest {
            path: "/a".into(),
            watch: true,
        }),
        &bytes,
    );

    let mut framed = Vec::new();
    frame::put(&mut framed, &bytes);
    assert_eq!(framed[..4], [0, 0, 0, 15]);

    // Java's readBoolean: any non-zero byte is true.
    let mut two = bytes.clone();
    two[14] = 2;
    let (_, req) = decode_request(&two, DEFAULT_MAX_BUFFER).unwrap();
    assert_eq!(
        req,
        Request::GetData(GetDataRequest {
            path: "/a".into(),
            watch: true
        })
    );
}

#[test]
fn reply_header() {
    let h = ReplyHeader {
        xid: 1,
        zxid: 0x1_0000_0002,
        err: ErrorCode::NoNode.code(),
    };
    let bytes = hex(&[
        "00 00 00 01",             // xid 1
        "00 00 00 01 00 00 00 02", // zxid 0x100000002
        "ff ff ff 9b",             // err -101 (NoNode)
    ]);
    assert_record(&h, &bytes);

    // A ping reply: xid -2.
    let ping = ReplyHeader {
        xid: -2,
        zxid: 0x1_0000_0002,
        err: 0,
    };
    assert_record(
        &ping,
        &hex(&["ff ff ff fe", "00 00 00 01 00 00 00 02", "00 00 00 00"]),
    );
}

#[test]
fn watch_notification() {
    let mut bytes = ReplyHeader {
        xid: -1,
        zxid: -1,
        err: 0,
    }
    .to_bytes();
    WatcherEvent {
        event_type: 3,
        state: 3,
        path: "/a".into(),
    }
    .encode(&mut bytes);
    assert_eq!(
        bytes,
        hex(&[
            "ff ff ff ff",             // xid -1 (notification)
            "ff ff ff ff ff ff ff ff", // zxid -1
            "00 00 00 00",             // err 0
            "00 00 00 03",             // type NodeDataChanged
            "00 00 00 03",             // state SyncConnected
            "00 00 00 02 2f 61",       // path "/a"
        ])
    );
}

#[test]
fn multi_create_and_check() {
    let req = Request::Multi(vec![
        MultiOp::Create {
            op: OpCode::Create,
            req: CreateRequest {
                path: "/x".into(),
                data: Some(b"d".to_vec()),
                acl: Acl::open_unsafe(),
                flags: CreateMode::Persistent.code(),
            },
        },
        MultiOp::Check(CheckVersionRequest {
            path: "/x".into(),
            version: 0,
        }),
    ]);
    let bytes = hex(&[
        "00 00 00 02",                   // xid 2
        "00 00 00 0e",                   // type multi (14)
        "00 00 00 01 00 ff ff ff ff",    // MultiHeader{create, done=false, err=-1}
        "00 00 00 02 2f 78",             //   path "/x"
        "00 00 00 01 64",                //   data "d"
        "00 00 00 01",                   //   acl: 1 entry
        "00 00 00 1f",                   //     perms ALL
        "00 00 00 05 77 6f 72 6c 64",    //     scheme "world"
        "00 00 00 06 61 6e 79 6f 6e 65", //     id "anyone"
        "00 00 00 00",                   //   flags 0 (persistent)
        "00 00 00 0d 00 ff ff ff ff",    // MultiHeader{check, done=false, err=-1}
        "00 00 00 02 2f 78",             //   path "/x"
        "00 00 00 00",                   //   version 0
        "ff ff ff ff 01 ff ff ff ff",    // MultiHeader{-1, done=true, err=-1}
    ]);
    assert_request(2, req, &bytes);
}

#[test]
fn multi_read() {
    let req = Request::MultiRead(vec![
        MultiOp::GetData(GetDataRequest {
            path: "/a".into(),
            watch: false,
        }),
        MultiOp::GetChildren(GetChildrenRequest {
            path: "/".into(),
            watch: true,
        }),
    ]);
    let bytes = hex(&[
        "00 00 00 05 00 00 00 16",    // xid 5, type multiRead (22)
        "00 00 00 04 00 ff ff ff ff", // MultiHeader{getData}
        "00 00 00 02 2f 61 00",       //   "/a", watch false
        "00 00 00 08 00 ff ff ff ff", // MultiHeader{getChildren}
        "00 00 00 01 2f 01",          //   "/", watch true
        "ff ff ff ff 01 ff ff ff ff", // done
    ]);
    assert_request(5, req, &bytes);
}

#[test]
fn multi_error_results() {
    // A rolled-back multi of three ops where the second failed with NoNode: the ops before it
    // report 0 (OK), the ones after it RuntimeInconsistency (-2).
    let results = vec![
        MultiResult::Error(0),
        MultiResult::Error(-101),
        MultiResult::Error(-2),
    ];
    let bytes = hex(&[
        "ff ff ff ff 00 00 00 00 00", // MultiHeader{error, false, 0}
        "00 00 00 00",                //   ErrorResponse{0}
        "ff ff ff ff 00 ff ff ff 9b", // MultiHeader{error, false, -101}
        "ff ff ff 9b",                //   ErrorResponse{-101}
        "ff ff ff ff 00 ff ff ff fe", // MultiHeader{error, false, -2}
        "ff ff ff fe",                //   ErrorResponse{-2}
        "ff ff ff ff 01 ff ff ff ff", // done
    ]);
    let mut out = Vec::new();
    encode_multi_results(&results, &mut out);
    assert_eq!(out, bytes);
    assert_eq!(decode_multi_results(&mut Reader::new(&bytes)), Ok(results));
}

#[test]
fn multi_success_results() {
    let stat = Stat {
        czxid: 7,
        mzxid: 7,
        pzxid: 7,
        ..Stat::default()
    };
    let results = vec![
        MultiResult::Create("/x".into()),
        MultiResult::Create2 {
            op: OpCode::Create2,
            path: "/y".into(),
            stat: stat.clone(),
        },
        MultiResult::Check,
        MultiResult::Delete,
        MultiResult::GetChildren(vec!["c".into()]),
    ];
    let mut expected = hex(&[
        "00 00 00 01 00 00 00 00 00", // MultiHeader{create, false, 0}
        "00 00 00 02 2f 78",          //   CreateResponse "/x"
        "00 00 00 0f 00 00 00 00 00", // MultiHeader{create2, false, 0}
        "00 00 00 02 2f 79",          //   Create2Response path "/y"
    ]);
    expected.extend_from_slice(&stat.to_bytes()); //   and its stat
    expected.extend(hex(&[
        "00 00 00 0d 00 00 00 00 00", // MultiHeader{check, false, 0}
        "00 00 00 02 00 00 00 00 00", // MultiHeader{delete, false, 0}
        "00 00 00 08 00 00 00 00 00", // MultiHeader{getChildren, false, 0}
        "00 00 00 01 00 00 00 01 63", //   ["c"]
        "ff ff ff ff 01 ff ff ff ff", // done
    ]));
    let mut out = Vec::new();
    encode_multi_results(&results, &mut out);
    assert_eq!(out, expected);
    assert_eq!(
        decode_multi_results(&mut Reader::new(&expected)),
        Ok(results)
    );
}

#[test]
fn stat_is_68_bytes() {
    let stat = Stat {
        czxid: 1,
        mzxid: 2,
        ctime: 3,
        mtime: 4,
        version: 5,
        cversion: 6,
        aversion: 7,
        ephemeral_owner: 8,
        data_length: 9,
        num_children: 10,
        pzxid: 11,
    };
    let bytes = hex(&[
        "00 00 00 00 00 00 00 01", // czxid
        "00 00 00 00 00 00 00 02", // mzxid
        "00 00 00 00 00 00 00 03", // ctime
        "00 00 00 00 00 00 00 04", // mtime
        "00 00 00 05",             // version
        "00 00 00 06",             // cversion
        "00 00 00 07",             // aversion
        "00 00 00 00 00 00 00 08", // ephemeralOwner
        "00 00 00 09",             // dataLength
        "00 00 00 0a",             // numChildren
        "00 00 00 00 00 00 00 0b", // pzxid
    ]);
    assert_eq!(bytes.len(), 68);
    assert_record(&stat, &bytes);

    let persisted = StatPersisted {
        czxid: 1,
        mzxid: 2,
        ctime: 3,
        mtime: 4,
        version: 5,
        cversion: 6,
        aversion: 7,
        ephemeral_owner: 8,
        pzxid: 11,
    };
    let without_derived = [&bytes[..52], &bytes[60..]].concat();
    assert_eq!(without_derived.len(), 60);
    assert_record(&persisted, &without_derived);
}

#[test]
fn null_versus_empty_data() {
    let null = SetDataRequest {
        path: "/a".into(),
        data: None,
        version: -1,
    };
    assert_record(
        &null,
        &hex(&["00 00 00 02 2f 61", "ff ff ff ff", "ff ff ff ff"]),
    );
    let empty = SetDataRequest {
        data: Some(vec![]),
        ..null
    };
    assert_record(
        &empty,
        &hex(&["00 00 00 02 2f 61", "00 00 00 00", "ff ff ff ff"]),
    );

    let resp = GetDataResponse {
        data: None,
        stat: Stat::default(),
    };
    let mut bytes = hex(&["ff ff ff ff"]);
    bytes.extend_from_slice(&[0; 68]);
    assert_record(&resp, &bytes);

    // A null vector reads as empty, and is written back as count 0.
    let got = GetChildrenResponse::from_bytes(&hex(&["ff ff ff ff"])).unwrap();
    assert_eq!(got, GetChildrenResponse { children: vec![] });
    assert_eq!(got.to_bytes(), hex(&["00 00 00 00"]));
}

#[test]
fn create_request_flags_and_acl() {
    let req = Request::Create {
        op: OpCode::Create2,
        req: CreateRequest {
            path: "/e-".into(),
            data: None,
            acl: vec![Acl::new(zk_proto::Perms::READ, "digest", "u:h")],
            flags: CreateMode::EphemeralSequential.code(),
        },
    };
    let bytes = hex(&[
        "00 00 00 09 00 00 00 0f",       // xid 9, type create2 (15)
        "00 00 00 03 2f 65 2d",          // path "/e-"
        "ff ff ff ff",                   // data null
        "00 00 00 01",                   // acl: 1 entry
        "00 00 00 01",                   //   perms READ
        "00 00 00 06 64 69 67 65 73 74", //   scheme "digest"
        "00 00 00 03 75 3a 68",          //   id "u:h"
        "00 00 00 03",                   // flags EPHEMERAL_SEQUENTIAL
    ]);
    assert_request(9, req, &bytes);
}

#[test]
fn special_xid_requests() {
    assert_request(-2, Request::Ping, &hex(&["ff ff ff fe", "00 00 00 0b"]));
    assert_request(
        4,
        Request::CloseSession,
        &hex(&["00 00 00 04", "ff ff ff f5"]),
    );
    assert_request(6, Request::WhoAmI, &hex(&["00 00 00 06", "00 00 00 6b"]));
    assert_request(
        -4,
        Request::Auth(AuthPacket {
            auth_type: 0,
            scheme: "digest".into(),
            auth: b"u:p".to_vec(),
        }),
        &hex(&[
            "ff ff ff fc 00 00 00 64",       // xid -4, type auth (100)
            "00 00 00 00",                   // type 0
            "00 00 00 06 64 69 67 65 73 74", // scheme "digest"
            "00 00 00 03 75 3a 70",          // auth "u:p"
        ]),
    );
    assert_request(
        -8,
        Request::SetWatches(SetWatches {
            relative_zxid: 5,
            data_watches: vec!["/a".into()],
            exist_watches: vec![],
            child_watches: vec!["/b".into()],
        }),
        &hex(&[
            "ff ff ff f8 00 00 00 65",       // xid -8, type setWatches (101)
            "00 00 00 00 00 00 00 05",       // relativeZxid
            "00 00 00 01 00 00 00 02 2f 61", // dataWatches ["/a"]
            "00 00 00 00",                   // existWatches []
            "00 00 00 01 00 00 00 02 2f 62", // childWatches ["/b"]
        ]),
    );
}

#[test]
fn delete_container_is_a_bare_string() {
    assert_request(
        3,
        Request::DeleteContainer("/c".into()),
        &hex(&["00 00 00 03", "00 00 00 14", "00 00 00 02 2f 63"]),
    );
}

#[test]
fn requests_clients_may_not_send_are_unknown() {
    // createSession (-10) is a known opcode but never a client request.
    let bytes = hex(&["00 00 00 01", "ff ff ff f6"]);
    assert_request(1, Request::Unknown(OpCode::CreateSession.code()), &bytes);
    assert_request(
        1,
        Request::Unknown(999),
        &hex(&["00 00 00 01", "00 00 03 e7"]),
    );
}

#[test]
fn who_am_i_response() {
    let resp = WhoAmIResponse {
        client_info: vec![ClientInfo {
            auth_scheme: "ip".into(),
            user: "127.0.0.1".into(),
        }],
    };
    assert_record(
        &resp,
        &hex(&[
            "00 00 00 01",                            // one ClientInfo
            "00 00 00 02 69 70",                      // authScheme "ip"
            "00 00 00 09 31 32 37 2e 30 2e 30 2e 31", // user "127.0.0.1"
        ]),
    );
}

#[test]
fn persistence_headers() {
    let log = FileHeader {
        magic: 0x5a4b_4c47,
        version: 2,
        dbid: 0,
    };
    assert_record(
        &log,
        &hex(&["5a 4b 4c 47", "00 00 00 02", "00 00 00 00 00 00 00 00"]),
    );
    assert_eq!(&log.to_bytes()[..4], b"ZKLG");
    let snap = FileHeader {
        magic: 0x5a4b_534e,
        version: 2,
        dbid: -1,
    };
    assert_eq!(&snap.to_bytes()[..4], b"ZKSN");

    let hdr = TxnHeader {
        client_id: 0x0100_0000_0000_0001,
        cxid: 1,
        zxid: 0x1_0000_0001,
        time: 0x0000_0190_0000_0000,
        txn_type: OpCode::Create.code(),
    };
    let bytes = hex(&[
        "01 00 00 00 00 00 00 01", // clientId
        "00 00 00 01",             // cxid
        "00 00 00 01 00 00 00 01", // zxid
        "00 00 01 90 00 00 00 00", // time
        "00 00 00 01",             // type create
    ]);
    assert_eq!(bytes.len(), 32);
    assert_record(&hdr, &bytes);

    assert_record(
        &TxnDigest {
            version: 2,
            tree_digest: -2,
        },
        &hex(&["00 00 00 02", "ff ff ff ff ff ff ff fe"]),
    );

    let create = CreateTxn {
        path: "/a".into(),
        data: Some(vec![0xab]),
        acl: vec![],
        ephemeral: true,
        parent_cversion: 4,
    };
    assert_record(
        &create,
        &hex(&[
            "00 00 00 02 2f 61",
            "00 00 00 01 ab",
            "00 00 00 00",
            "01",
            "00 00 00 04",
        ]),
    );

    let multi = MultiTxn {
        txns: vec![Txn {
            txn_type: 2,
            data: DeleteTxn { path: "/a".into() }.to_bytes(),
        }],
    };
    assert_record(
        &multi,
        &hex(&[
            "00 00 00 01",       // one Txn
            "00 00 00 02",       //   type delete
            "00 00 00 06",       //   data: 6 bytes,
            "00 00 00 02 2f 61", //   a DeleteTxn "/a"
        ]),
    );
}

#[test]
fn frames() {
    let mut out = Vec::new();
    let at = frame::begin(&mut out);
    out.put_i32(-2);
    out.put_i32(OpCode::Ping.code());
    assert_eq!(frame::finish(&mut out, at), 8);
    assert_eq!(out, hex(&["00 00 00 08", "ff ff ff fe", "00 00 00 0b"]));
    assert_eq!(frame::check(&out, DEFAULT_MAX_BUFFER), Ok(Some(12)));
}
