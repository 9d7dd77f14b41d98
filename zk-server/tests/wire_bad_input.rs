//! Hostile and malformed client input. Each test asserts what Apache ZooKeeper 3.8/3.9 does
//! (`NIOServerCnxn`, `ZooKeeperServer.processPacket`/`submitRequestNow`,
//! `PrepRequestProcessor`, `FinalRequestProcessor`, `MultiOperationRecord`), then that a
//! separate well-behaved client is still served.

mod wire;

use std::time::Duration;

use wire::*;
use zk_proto::codec::{Encode, WriteExt};
use zk_proto::data::Acl;
use zk_proto::proto::{
    AuthPacket, CheckVersionRequest, CreateRequest, DeleteRequest, ErrorResponse, ExistsRequest,
    GetChildrenRequest, MultiHeader, SetDataRequest,
};
use zk_proto::request::{MultiOp, Request};
use zk_proto::{CreateMode, OpCode, DEFAULT_MAX_BUFFER};

const MARSHALLING_ERROR: i32 = -5;
const UNIMPLEMENTED: i32 = -6;
const BAD_ARGUMENTS: i32 = -8;
const NO_NODE: i32 = -101;
const BAD_VERSION: i32 = -103;
const NODE_EXISTS: i32 = -110;
const INVALID_ACL: i32 = -114;
const AUTH_FAILED: i32 = -115;
const RUNTIME_INCONSISTENCY: i32 = -2;

const FOUR_LETTER_WORDS: &[&[u8; 4]] = &[
    b"ruok", b"srvr", b"stat", b"conf", b"cons", b"mntr", b"envi", b"wchs", b"wchc", b"wchp",
    b"dump", b"dirs", b"isro", b"crst", b"srst", b"gtmk", b"stmk", b"hash",
];

/// What Apache ZooKeeper does with these bytes as the very first thing on a connection.
#[derive(Debug, PartialEq, Eq)]
enum FirstPacket {
    /// "Len error" or a payload that does not deserialize as a ConnectRequest.
    CloseNow,
    /// A plausible length prefix: the server waits for the rest of the frame.
    NeedMore,
    /// Deserializes as a ConnectRequest (would be answered); the garbage generator avoids it.
    Parses,
}

fn zk_first_packet(bytes: &[u8]) -> FirstPacket {
    if bytes.len() < 4 {
        return FirstPacket::NeedMore;
    }
    assert!(
        !FOUR_LETTER_WORDS.iter().any(|w| &bytes[..4] == *w),
        "garbage spells a four-letter word"
    );
    let len = i32::from_be_bytes(bytes[..4].try_into().unwrap());
    if len < 0 || len as usize > DEFAULT_MAX_BUFFER {
        return FirstPacket::CloseNow;
    }
    let len = len as usize;
    if bytes.len() - 4 < len {
        return FirstPacket::NeedMore;
    }
    let p = &bytes[4..4 + len];
    // protocolVersion, lastZxidSeen, timeOut, sessionId, then passwd (int length + bytes).
    if p.len() < 28 {
        return FirstPacket::CloseNow;
    }
    let plen = i32::from_be_bytes(p[24..28].try_into().unwrap());
    // BinaryInputArchive.readBuffer: -1 is null; otherwise 0 <= len <= maxbuffer + extrasize
    // and the bytes must be there.
    let ok = plen == -1 || (plen >= 0 && plen as usize <= p.len() - 28);
    if ok {
        FirstPacket::Parses
    } else {
        FirstPacket::CloseNow
    }
}

async fn send_garbage_first(addr: std::net::SocketAddr, bytes: &[u8], what: &str) {
    let mut w = Wire::connect(addr).await;
    match zk_first_packet(bytes) {
        FirstPacket::CloseNow => {
            // The server may close (and reset) before taking it all: write errors are fine.
            let _ = w.try_send(bytes).await;
            w.expect_closed(what).await;
        }
        FirstPacket::NeedMore => {
            let _ = w.try_send(bytes).await;
            w.shutdown_write().await;
            w.expect_closed(what).await;
        }
        FirstPacket::Parses => panic!("{what}: seeded garbage parses as a ConnectRequest"),
    }
}

#[tokio::test]
async fn random_bytes_as_first_packet_close_the_connection() {
    bounded(async {
        let server = start_default().await;
        let addr = server.local_addr;
        let mut rng = Rng::new(0x5eed_0001);
        let mut close_now = 0;
        for size in [
            0usize, 1, 3, 4, 5, 8, 16, 27, 28, 29, 36, 37, 64, 100, 1000, 4096, 65_536,
        ] {
            // Garbage with a truthful length prefix: the payload is not a ConnectRequest.
            let payload = rng.bytes(size);
            let bytes = framed(&payload);
            if zk_first_packet(&bytes) == FirstPacket::CloseNow {
                close_now += 1;
            }
            send_garbage_first(addr, &bytes, &format!("framed garbage of {size} bytes")).await;

            // Raw garbage: its first four bytes are the length prefix.
            let raw = rng.bytes(size.max(1));
            send_garbage_first(addr, &raw, &format!("raw garbage of {size} bytes")).await;
        }
        // Nearly every framed payload is rejected on sight (the empty one and tiny ones too).
        assert!(close_now >= 15, "only {close_now} closed at once");
        assert_healthy(addr).await;
        server.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn length_prefix_over_jute_maxbuffer_closes() {
    bounded(async {
        let server = start_default().await;
        let addr = server.local_addr;
        let prefixes: [i32; 6] = [
            DEFAULT_MAX_BUFFER as i32 + 1,
            0x0100_0000,
            i32::MAX,
            -1,
            -100,
            i32::MIN,
        ];
        for len in prefixes {
            // Before the handshake.
            let mut w = Wire::connect(addr).await;
            let mut bytes = len.to_be_bytes().to_vec();
            bytes.extend_from_slice(&[0u8; 16]);
            let _ = w.try_send(&bytes).await;
            w.expect_closed(&format!("first frame with length {len}"))
                .await;

            // After the handshake: the connection goes, the session stays.
            let s = Session::connect(addr).await;
            let (id, pw) = (s.id, s.passwd.clone());
            let mut w = s.wire;
            let _ = w.try_send(&len.to_be_bytes()).await;
            w.expect_closed(&format!("request frame with length {len}"))
                .await;
            let mut again = Wire::connect(addr).await;
            let p = again
                .handshake_raw(&connect_payload(0, 30_000, id, &pw, Some(false)))
                .await
                .expect("session should survive its connection's Len error");
            let mut s = Session::from_response(again, &p);
            assert_eq!((s.id, &s.passwd), (id, &pw));
            s.ping().await;
            s.close().await;
        }
        assert_healthy(addr).await;
        server.shutdown().await;
    })
    .await;
}

/// A create whose frame payload is exactly `payload_len` bytes.
fn create_of_payload_len(xid: i32, path: &str, payload_len: usize) -> Vec<u8> {
    let base = request_payload(xid, &create_req(path, b"", CreateMode::Persistent)).len();
    let data = vec![b'd'; payload_len - base];
    let p = request_payload(xid, &create_req(path, &data, CreateMode::Persistent));
    assert_eq!(p.len(), payload_len);
    p
}

#[tokio::test]
async fn request_at_jute_maxbuffer_is_served_and_one_byte_more_closes() {
    bounded(async {
        let server = start_default().await;
        let addr = server.local_addr;
        let mut s = Session::connect(addr).await;
        // Exactly jute.maxbuffer: accepted.
        let xid = s.xid();
        s.wire
            .send_frame(&create_of_payload_len(xid, "/big", DEFAULT_MAX_BUFFER))
            .await;
        let r = s.recv().await;
        assert_eq!((r.xid, r.err), (xid, 0), "{r:?}");
        assert_eq!(r.string(), "/big");

        // One byte over: the connection is closed ("Len error").
        let xid = s.xid();
        let bytes = framed(&create_of_payload_len(
            xid,
            "/bigger",
            DEFAULT_MAX_BUFFER + 1,
        ));
        let _ = s.wire.try_send(&bytes).await;
        s.wire.expect_closed("oversized create").await;

        let mut t = Session::connect(addr).await;
        assert_eq!(t.get_data("/bigger").await.err, NO_NODE);
        let big = t
            .call(&Request::Exists(ExistsRequest {
                path: "/big".into(),
                watch: false,
            }))
            .await
            .stat();
        let base = request_payload(0, &create_req("/big", b"", CreateMode::Persistent)).len();
        assert_eq!(big.data_length as usize, DEFAULT_MAX_BUFFER - base);
        t.close().await;
        assert_healthy(addr).await;
        server.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn smaller_configured_max_buffer_is_enforced() {
    bounded(async {
        let mut cfg = config();
        cfg.core.max_buffer = 4096;
        let server = start(cfg).await;
        let addr = server.local_addr;
        let mut s = Session::connect(addr).await;
        let xid = s.xid();
        s.wire
            .send_frame(&create_of_payload_len(xid, "/fits", 4096))
            .await;
        assert_eq!(s.recv().await.err, 0);
        let xid = s.xid();
        let _ = s
            .wire
            .try_send(&framed(&create_of_payload_len(xid, "/nofit", 4097)))
            .await;
        s.wire.expect_closed("create over max_buffer").await;
        assert_healthy(addr).await;
        server.shutdown().await;
    })
    .await;
}

/// Polls `mntr` until `zk_num_alive_connections` is `n` (the mntr connection included).
async fn await_alive_connections(addr: std::net::SocketAddr, n: usize) {
    let want = format!("zk_num_alive_connections\t{n}\n");
    let deadline = tokio::time::Instant::now() + STEP;
    loop {
        let m = four_letter(addr, "mntr").await;
        if m.contains(&want) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "connections never dropped to {n}:\n{m}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn truncated_frame_then_eof_is_cleaned_up() {
    bounded(async {
        let server = start_default().await;
        let addr = server.local_addr;

        // Mid-ConnectRequest.
        let mut w = Wire::connect(addr).await;
        let full = framed(&connect_payload(0, 30_000, 0, &[0; 16], Some(false)));
        w.send(&full[..20]).await;
        w.shutdown_write().await;
        w.expect_closed("EOF inside the ConnectRequest").await;

        // Mid-length-prefix, on a session.
        let mut s = Session::connect(addr).await;
        s.wire.send(&[0, 0]).await;
        s.wire.shutdown_write().await;
        s.wire.expect_closed("EOF inside a length prefix").await;

        // Mid-request, on a session.
        let mut s = Session::connect(addr).await;
        let p = framed(&request_payload(1, &get_data_req("/zookeeper", false)));
        s.wire.send(&p[..p.len() - 3]).await;
        s.wire.shutdown_write().await;
        s.wire.expect_closed("EOF inside a request").await;

        // All three are gone from the server's connection table.
        await_alive_connections(addr, 1).await;
        assert_healthy(addr).await;
        server.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn body_shorter_than_its_opcode_needs_is_a_marshalling_error() {
    bounded(async {
        let server = start_default().await;
        let addr = server.local_addr;
        let mut s = Session::connect(addr).await;
        s.create_ok("/a", b"a").await;
        let zxid = s.ping().await.zxid;

        let mut huge_path = Vec::new();
        huge_path.put_i32(i32::MAX);
        let mut short_path = Vec::new();
        short_path.put_i32(100);
        short_path.extend_from_slice(b"/abc");
        let cases: Vec<(i32, Vec<u8>, &str)> = vec![
            (
                OpCode::GetData.code(),
                vec![0],
                "getData with a 1-byte body",
            ),
            (OpCode::GetData.code(), Vec::new(), "getData with no body"),
            (
                OpCode::GetData.code(),
                huge_path.clone(),
                "getData, path over maxbuffer",
            ),
            (
                OpCode::GetData.code(),
                short_path.clone(),
                "getData, path cut short",
            ),
            (
                OpCode::Exists.code(),
                vec![0, 0],
                "exists with a 2-byte body",
            ),
            (
                OpCode::GetChildren2.code(),
                vec![0; 3],
                "getChildren2, 3 bytes",
            ),
            (OpCode::Create.code(), vec![0], "create with a 1-byte body"),
            (
                OpCode::Create.code(),
                short_path.clone(),
                "create, path cut short",
            ),
            (
                OpCode::SetData.code(),
                vec![0, 0, 0],
                "setData with 3 bytes",
            ),
            (
                OpCode::Delete.code(),
                huge_path.clone(),
                "delete, path over maxbuffer",
            ),
            (OpCode::SetAcl.code(), vec![0], "setACL with a 1-byte body"),
        ];
        // A write is stamped with a zxid before its body is read, so a write whose body does
        // not decode still consumes one (checked against Apache ZooKeeper 3.8.0: create, setData
        // and delete with short bodies answer -5 with zxids 2, 3, 4; a read does not consume).
        let mut zxid = zxid;
        for (i, (op, body, what)) in cases.into_iter().enumerate() {
            let xid = 100 + i as i32;
            if [
                OpCode::Create,
                OpCode::SetData,
                OpCode::Delete,
                OpCode::SetAcl,
            ]
            .iter()
            .any(|w| w.code() == op)
            {
                zxid += 1;
            }
            s.wire
                .send_frame(&raw_request_payload(xid, op, &body))
                .await;
            let r = s.recv().await;
            assert_eq!(
                (r.xid, r.zxid, r.err),
                (xid, zxid, MARSHALLING_ERROR),
                "{what}: {r:?}"
            );
            assert!(r.body.is_empty(), "{what}: error reply has a body");
            // The connection stays usable.
            let p = s.ping().await;
            assert_eq!(p.zxid, zxid, "{what}: a marshalling error is no txn");
        }
        // Nothing was created, and the next write gets the next zxid.
        let r = s.create_ok("/after", b"").await;
        assert_eq!(r.zxid, zxid + 1);
        assert_eq!(
            s.get_data("/a").await.get_data().data.as_deref(),
            Some(&b"a"[..])
        );
        s.close().await;
        assert_healthy(addr).await;
        server.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn frame_shorter_than_request_header_closes() {
    bounded(async {
        let server = start_default().await;
        let addr = server.local_addr;
        for n in [0usize, 3, 4, 7] {
            let mut s = Session::connect(addr).await;
            s.wire.send_frame(&vec![0u8; n]).await;
            s.wire
                .expect_closed(&format!("{n}-byte request frame"))
                .await;
        }
        assert_healthy(addr).await;
        server.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn unknown_opcode_is_unimplemented_and_closes() {
    // ZooKeeperServer.submitRequestNow: a type Request.isValid rejects goes to
    // UnimplementedRequestProcessor, which answers ReplyHeader(xid, -1, -6) (request.zxid is
    // still -1) and then sendCloseSession()s the connection. `check` (13) outside a multi and
    // `notification` (0) and `error` (-1) are such types too.
    bounded(async {
        let server = start_default().await;
        let addr = server.local_addr;
        let mut check_body = Vec::new();
        CheckVersionRequest {
            path: "/".into(),
            version: -1,
        }
        .encode(&mut check_body);
        let cases: Vec<(i32, Vec<u8>)> = vec![
            (999, Vec::new()),
            (10, vec![1, 2, 3]),
            (23, Vec::new()),
            (OpCode::Check.code(), check_body),
            (OpCode::Notification.code(), Vec::new()),
            (OpCode::Error.code(), Vec::new()),
            (i32::MIN, Vec::new()),
        ];
        let mut wrong = Vec::new();
        for (op, body) in cases {
            let mut s = Session::connect(addr).await;
            s.create_ok(&format!("/before-{}", op as u32), b"").await;
            s.wire.send_frame(&raw_request_payload(42, op, &body)).await;
            let Some(r) = s.recv_any().await else {
                wrong.push(format!("op {op}: closed without an Unimplemented reply"));
                continue;
            };
            if (r.xid, r.zxid, r.err) != (42, -1, UNIMPLEMENTED) || !r.body.is_empty() {
                wrong.push(format!("op {op}: got {r:?}, want (42, -1, -6)"));
            }
            if !s.closed_rather_than_pinged().await {
                wrong.push(format!("op {op}: connection kept open after Unimplemented"));
            }
        }
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
        assert_healthy(addr).await;
        server.shutdown().await;
    })
    .await;
}

fn create_with(path: &str, acl: Vec<Acl>, flags: i32) -> Request {
    Request::Create {
        op: OpCode::Create,
        req: CreateRequest {
            path: path.to_owned(),
            data: Some(b"x".to_vec()),
            acl,
            flags,
        },
    }
}

#[tokio::test]
async fn invalid_create_paths_get_zookeepers_codes() {
    // PrepRequestProcessor.pRequest2TxnCreate: CreateMode.fromFlag; split at the last '/'
    // (none, or a NUL anywhere: BadArguments); fixupACL (InvalidACL); the parent must exist
    // (NoNode); CREATE permission on it; validatePath(full path): BadArguments; NodeExists.
    // Every failure is an error txn that still consumes a zxid.
    bounded(async {
        let server = start_default().await;
        let addr = server.local_addr;
        let mut s = Session::connect(addr).await;
        s.create_ok("/a", b"").await;
        let open = Acl::open_unsafe;
        let persistent = CreateMode::Persistent.code();
        let cases: Vec<(&str, Vec<Acl>, i32, i32)> = vec![
            ("//a", open(), persistent, BAD_ARGUMENTS),
            ("/a/", open(), persistent, BAD_ARGUMENTS),
            ("/nope/", open(), persistent, NO_NODE),
            ("a", open(), persistent, BAD_ARGUMENTS),
            ("", open(), persistent, BAD_ARGUMENTS),
            ("/a/./b", open(), persistent, NO_NODE),
            ("/a//b", open(), persistent, NO_NODE),
            ("/a\0b", open(), persistent, BAD_ARGUMENTS),
            ("/\0", open(), persistent, BAD_ARGUMENTS),
            ("/a/..", open(), persistent, BAD_ARGUMENTS),
            ("/a/.", open(), persistent, BAD_ARGUMENTS),
            ("/.", open(), persistent, BAD_ARGUMENTS),
            ("/..", open(), persistent, BAD_ARGUMENTS),
            ("/a/\u{1}", open(), persistent, BAD_ARGUMENTS),
            ("/a/\u{fffe}", open(), persistent, BAD_ARGUMENTS),
            ("/", open(), persistent, NODE_EXISTS),
            ("/a", open(), persistent, NODE_EXISTS),
            ("/zookeeper", open(), persistent, NODE_EXISTS),
            // fixupACL runs before the parent lookup, the path split before fixupACL.
            ("/nope/x", Vec::new(), persistent, INVALID_ACL),
            ("a", Vec::new(), persistent, BAD_ARGUMENTS),
            // An unknown create mode is BadArguments before anything else.
            ("/nope/x", Vec::new(), 99, BAD_ARGUMENTS),
            ("/a/ok", open(), -1, BAD_ARGUMENTS),
        ];
        let mut zxid = s.ping().await.zxid;
        for (path, acl, flags, code) in cases {
            let r = s.call(&create_with(path, acl, flags)).await;
            assert_eq!(r.err, code, "create {path:?} (flags {flags}): {r:?}");
            assert!(r.body.is_empty());
            assert_eq!(
                r.zxid,
                zxid + 1,
                "create {path:?}: the error txn takes a zxid"
            );
            zxid = r.zxid;
        }
        // A sequential create may end in '/': the sequence number is appended first.
        let r = s
            .call(&create_with(
                "/a/",
                Acl::open_unsafe(),
                CreateMode::PersistentSequential.code(),
            ))
            .await;
        assert_eq!(r.string(), "/a/0000000000");
        // Nothing invalid got in.
        let kids = s
            .call(&Request::GetChildren(GetChildrenRequest {
                path: "/a".into(),
                watch: false,
            }))
            .await;
        let mut rd = zk_proto::codec::Reader::new(&kids.body);
        assert_eq!(
            rd.read_vec::<String>().unwrap(),
            vec!["0000000000".to_string()]
        );
        s.close().await;
        assert_healthy(addr).await;
        server.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn reads_of_invalid_paths_are_no_node() {
    // FinalRequestProcessor never validates read paths: getNode(path) is simply null.
    bounded(async {
        let server = start_default().await;
        let addr = server.local_addr;
        let mut s = Session::connect(addr).await;
        s.create_ok("/a", b"").await;
        let zxid = s.ping().await.zxid;
        for path in [
            "//a",
            "a",
            "/a/",
            "/a/./b",
            "/a/..",
            "/.",
            "/a\0b",
            "/\u{1}",
            "/zookeeper/",
        ] {
            let r = s.get_data(path).await;
            assert_eq!((r.err, r.zxid), (NO_NODE, zxid), "getData {path:?}: {r:?}");
            let r = s
                .call(&Request::Exists(ExistsRequest {
                    path: path.into(),
                    watch: false,
                }))
                .await;
            // Since 3.8.4/3.9.2 exists rejects a NUL in the path before looking it up.
            let want = if path.contains('\0') {
                BAD_ARGUMENTS
            } else {
                NO_NODE
            };
            assert_eq!(r.err, want, "exists {path:?}: {r:?}");
            let r = s
                .call(&Request::GetChildren(GetChildrenRequest {
                    path: path.into(),
                    watch: false,
                }))
                .await;
            assert_eq!(r.err, NO_NODE, "getChildren {path:?}: {r:?}");
        }
        s.close().await;
        assert_healthy(addr).await;
        server.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn empty_path_reads_name_the_root() {
    // DataTree's node map holds the root under "" as well as "/", and reads look paths up
    // verbatim, so getData("") and exists("") answer with the root.
    bounded(async {
        let server = start_default().await;
        let addr = server.local_addr;
        let mut s = Session::connect(addr).await;
        let root = s.get_data("/").await.get_data();
        let r = s.get_data("").await;
        assert_eq!(r.err, 0, "getData(\"\"): {r:?}");
        assert_eq!(r.get_data().stat, root.stat);
        let r = s
            .call(&Request::Exists(ExistsRequest {
                path: String::new(),
                watch: false,
            }))
            .await;
        assert_eq!(r.stat(), root.stat);
        s.close().await;
        assert_healthy(addr).await;
        server.shutdown().await;
    })
    .await;
}

fn mcreate(path: &str) -> MultiOp {
    MultiOp::Create {
        op: OpCode::Create,
        req: CreateRequest {
            path: path.into(),
            data: Some(Vec::new()),
            acl: Acl::open_unsafe(),
            flags: 0,
        },
    }
}

fn mget(path: &str) -> MultiOp {
    MultiOp::GetData(zk_proto::proto::GetDataRequest {
        path: path.into(),
        watch: false,
    })
}

/// A multi payload with a raw op type in the middle: `MultiHeader{op,false,-1}` + `body`.
fn multi_with_raw_op(xid: i32, first: &MultiOp, op: i32, body: &[u8]) -> Vec<u8> {
    let mut p = request_payload(xid, &Request::Multi(vec![first.clone()]));
    // Drop the closing MultiHeader (9 bytes), add the raw op, close again.
    p.truncate(p.len() - 9);
    MultiHeader {
        op_type: op,
        done: false,
        err: -1,
    }
    .encode(&mut p);
    p.extend_from_slice(body);
    MultiHeader {
        op_type: -1,
        done: true,
        err: -1,
    }
    .encode(&mut p);
    p
}

#[tokio::test]
async fn multi_with_ops_of_the_wrong_kind_is_a_marshalling_error() {
    // MultiOperationRecord.deserialize throws IOException for an op type it does not know and
    // for read and write ops mixed; multiRead's FinalRequestProcessor throws for a write op.
    bounded(async {
        let server = start_default().await;
        let addr = server.local_addr;
        let mut s = Session::connect(addr).await;

        let r = s
            .call(&Request::Multi(vec![mcreate("/m1"), mget("/m1")]))
            .await;
        assert_eq!(r.err, MARSHALLING_ERROR, "getData inside multi: {r:?}");
        assert!(r.body.is_empty());

        let xid = s.xid();
        s.wire
            .send_frame(&multi_with_raw_op(xid, &mcreate("/m2"), 999, &[]))
            .await;
        let r = s.recv().await;
        assert_eq!((r.xid, r.err), (xid, MARSHALLING_ERROR), "op 999 in multi");

        let mut body = Vec::new();
        ExistsRequest {
            path: "/".into(),
            watch: false,
        }
        .encode(&mut body);
        let xid = s.xid();
        s.wire
            .send_frame(&multi_with_raw_op(
                xid,
                &mcreate("/m3"),
                OpCode::Exists.code(),
                &body,
            ))
            .await;
        let r = s.recv().await;
        assert_eq!((r.xid, r.err), (xid, MARSHALLING_ERROR), "exists in multi");

        let zxid = s.ping().await.zxid;
        let r = s
            .call(&Request::MultiRead(vec![mget("/"), mcreate("/m4")]))
            .await;
        assert_eq!(
            (r.err, r.zxid),
            (MARSHALLING_ERROR, zxid),
            "create inside multiRead: {r:?}"
        );
        let r = s.call(&Request::MultiRead(vec![mcreate("/m5")])).await;
        assert_eq!(r.err, MARSHALLING_ERROR, "multiRead of a create: {r:?}");

        // Nothing was created and the connection is fine.
        for p in ["/m1", "/m2", "/m3", "/m4", "/m5"] {
            assert_eq!(s.get_data(p).await.err, NO_NODE, "{p}");
        }
        s.ping().await;
        s.close().await;
        assert_healthy(addr).await;
        server.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn multi_marshalling_error_still_consumes_a_zxid() {
    // PrepRequestProcessor, case multi: when MultiOperationRecord fails to deserialize it sets
    // a TxnHeader with zks.getNextZxid() before rethrowing; the request then becomes an
    // ErrorTxn(MarshallingError) that is logged and applied, so the reply (and every later
    // reply) carries the new zxid.
    bounded(async {
        let server = start_default().await;
        let addr = server.local_addr;
        let mut s = Session::connect(addr).await;
        let zxid = s.ping().await.zxid;
        let r = s
            .call(&Request::Multi(vec![mcreate("/m1"), mget("/m1")]))
            .await;
        assert_eq!(r.err, MARSHALLING_ERROR);
        assert_eq!(
            r.zxid,
            zxid + 1,
            "reply zxid of a multi that failed to decode"
        );
        assert_eq!(s.ping().await.zxid, zxid + 1);
        let r = s.create_ok("/next", b"").await;
        assert_eq!(r.zxid, zxid + 2);
        s.close().await;
        assert_healthy(addr).await;
        server.shutdown().await;
    })
    .await;
}

/// `MultiHeader{-1,false,e}` + `ErrorResponse{e}` per result, then `MultiHeader{-1,true,-1}`.
fn failed_multi_body(errs: &[i32]) -> Vec<u8> {
    let mut out = Vec::new();
    for &e in errs {
        MultiHeader {
            op_type: -1,
            done: false,
            err: e,
        }
        .encode(&mut out);
        ErrorResponse { err: e }.encode(&mut out);
    }
    MultiHeader {
        op_type: -1,
        done: true,
        err: -1,
    }
    .encode(&mut out);
    out
}

#[tokio::test]
async fn failed_multi_result_encoding_is_exact() {
    bounded(async {
        let server = start_default().await;
        let addr = server.local_addr;
        let mut s = Session::connect(addr).await;
        s.create_ok("/m", b"v0").await;
        let zxid = s.ping().await.zxid;

        let ops = vec![
            mcreate("/m/x"),
            MultiOp::SetData(SetDataRequest {
                path: "/m".into(),
                data: Some(b"v1".to_vec()),
                version: 0,
            }),
            MultiOp::Delete(DeleteRequest {
                path: "/nope".into(),
                version: -1,
            }),
            mcreate("/m/y"),
            MultiOp::Check(CheckVersionRequest {
                path: "/m".into(),
                version: 0,
            }),
        ];
        let r = s.call(&Request::Multi(ops)).await;
        assert_eq!(r.err, 0, "a failed multi's reply header carries err 0");
        assert_eq!(r.zxid, zxid + 1, "a failed multi is still a txn");
        assert_eq!(
            r.body,
            failed_multi_body(&[0, 0, NO_NODE, RUNTIME_INCONSISTENCY, RUNTIME_INCONSISTENCY])
        );

        // First op failing.
        let ops = vec![
            MultiOp::Check(CheckVersionRequest {
                path: "/m".into(),
                version: 5,
            }),
            mcreate("/m/z"),
        ];
        let r = s.call(&Request::Multi(ops)).await;
        assert_eq!(r.err, 0);
        assert_eq!(
            r.body,
            failed_multi_body(&[BAD_VERSION, RUNTIME_INCONSISTENCY])
        );

        // Last op failing on an invalid path.
        let ops = vec![mcreate("/m/w"), mcreate("/m//w")];
        let r = s.call(&Request::Multi(ops)).await;
        assert_eq!(r.body, failed_multi_body(&[0, NO_NODE]));
        let ops = vec![mcreate("/m/w"), mcreate("/m/w/")];
        let r = s.call(&Request::Multi(ops)).await;
        assert_eq!(r.body, failed_multi_body(&[0, BAD_ARGUMENTS]));

        // Nothing took effect.
        for p in ["/m/x", "/m/y", "/m/z", "/m/w"] {
            assert_eq!(s.get_data(p).await.err, NO_NODE, "{p}");
        }
        let m = s.get_data("/m").await.get_data();
        assert_eq!((m.stat.version, m.data.as_deref()), (0, Some(&b"v0"[..])));
        s.close().await;
        assert_healthy(addr).await;
        server.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn pipelined_requests_are_answered_in_order() {
    bounded(async {
        let server = start_default().await;
        let addr = server.local_addr;
        let mut s = Session::connect(addr).await;
        // 200 requests in one go: create /p{k}, getData /p{k}, setData /p{k}, ...
        let mut bytes = Vec::new();
        for i in 0..200i32 {
            let k = i / 3;
            let path = format!("/p{k}");
            let req = match i % 3 {
                0 => create_req(&path, format!("c{k}").as_bytes(), CreateMode::Persistent),
                1 => get_data_req(&path, false),
                _ => Request::SetData(SetDataRequest {
                    path: path.clone(),
                    data: Some(format!("s{k}").into_bytes()),
                    version: 0,
                }),
            };
            bytes.extend_from_slice(&framed(&request_payload(1000 + i, &req)));
        }
        s.wire.send(&bytes).await;
        let mut last_zxid = 0;
        for i in 0..200i32 {
            let k = i / 3;
            let r = s.recv().await;
            assert_eq!(r.xid, 1000 + i, "reply {i} out of order");
            assert_eq!(r.err, 0, "request {i}: {r:?}");
            assert!(r.zxid >= last_zxid, "zxids went backwards at {i}");
            last_zxid = r.zxid;
            match i % 3 {
                0 => assert_eq!(r.string(), format!("/p{k}")),
                1 => {
                    // The read sees the create pipelined just before it.
                    let g = r.get_data();
                    assert_eq!(g.data, Some(format!("c{k}").into_bytes()), "get {i}");
                    assert_eq!(g.stat.version, 0);
                }
                _ => assert_eq!(r.stat().version, 1, "set {i}"),
            }
        }
        s.close().await;
        assert_healthy(addr).await;
        server.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn ping_is_answered_with_xid_minus_2_and_last_zxid() {
    bounded(async {
        let server = start_default().await;
        let addr = server.local_addr;
        let mut s = Session::connect(addr).await;
        let c = s.create_ok("/pinged", b"").await;
        let mut frame = Vec::new();
        frame.put_i32(-2);
        frame.put_i32(OpCode::Ping.code());
        s.wire.send_frame(&frame).await;
        let r = s.recv().await;
        assert_eq!((r.xid, r.zxid, r.err), (-2, c.zxid, 0));
        assert!(r.body.is_empty());
        assert_healthy(addr).await;
        // Another session's write moves lastZxid on; our next ping reports it.
        let after = s.ping().await;
        assert!(after.zxid > c.zxid);
        s.close().await;
        server.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn ping_reply_carries_xid_minus_2_whatever_xid_was_sent() {
    // FinalRequestProcessor answers ping with new ReplyHeader(ClientCnxn.PING_XID, ...).
    bounded(async {
        let server = start_default().await;
        let addr = server.local_addr;
        let mut s = Session::connect(addr).await;
        let zxid = s.ping().await.zxid;
        s.send(77, &Request::Ping).await;
        let r = s.recv().await;
        assert_eq!((r.xid, r.zxid, r.err), (-2, zxid, 0), "{r:?}");
        s.close().await;
        assert_healthy(addr).await;
        server.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn auth_with_unknown_scheme_fails_and_closes() {
    bounded(async {
        let server = start_default().await;
        let addr = server.local_addr;
        for scheme in ["nosuchscheme", "", "world", "super"] {
            let mut s = Session::connect(addr).await;
            s.send(
                -4,
                &Request::Auth(AuthPacket {
                    auth_type: 0,
                    scheme: scheme.into(),
                    auth: b"whatever".to_vec(),
                }),
            )
            .await;
            let r = s
                .recv_any()
                .await
                .expect("closed without an AuthFailed reply");
            assert_eq!((r.xid, r.zxid, r.err), (-4, 0, AUTH_FAILED), "{scheme:?}");
            assert!(r.body.is_empty());
            s.wire.expect_closed("after AuthFailed").await;
        }
        assert_healthy(addr).await;
        server.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn malformed_auth_packet_closes_the_connection() {
    // ZooKeeperServer.processPacket reads the AuthPacket itself; its IOException propagates to
    // NIOServerCnxn.doIO, which closes the connection without a reply.
    bounded(async {
        let server = start_default().await;
        let addr = server.local_addr;
        let mut s = Session::connect(addr).await;
        s.wire
            .send_frame(&raw_request_payload(-4, OpCode::Auth.code(), &[0, 0]))
            .await;
        let r = s.recv_any().await;
        assert!(r.is_none(), "truncated AuthPacket answered: {r:?}");
        assert_healthy(addr).await;
        server.shutdown().await;
    })
    .await;
}

/// Handshakes until the server accepts a session (it frees a slot asynchronously).
async fn connect_when_slot_frees(addr: std::net::SocketAddr) -> Session {
    let deadline = tokio::time::Instant::now() + STEP;
    loop {
        let mut w = Wire::connect(addr).await;
        let _ = w
            .try_send(&framed(&connect_payload(
                0,
                30_000,
                0,
                &[0; 16],
                Some(false),
            )))
            .await;
        if let Some(p) = w.read_frame().await {
            return Session::from_response(w, &p);
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no connection slot freed up"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn max_client_cnxns_per_ip_is_enforced() {
    bounded(async {
        let mut cfg = config();
        cfg.max_client_cnxns = 3;
        let server = start(cfg).await;
        let addr = server.local_addr;
        let a = Session::connect(addr).await;
        let mut b = Session::connect(addr).await;
        let c = Session::connect(addr).await;

        // The 4th is closed at once, handshake or not, four-letter word or not.
        let mut w = Wire::connect(addr).await;
        let _ = w
            .try_send(&framed(&connect_payload(
                0,
                30_000,
                0,
                &[0; 16],
                Some(false),
            )))
            .await;
        w.expect_closed("4th connection").await;
        let mut w = Wire::connect(addr).await;
        w.expect_closed("4th connection, silent client").await;
        let mut w = Wire::connect(addr).await;
        let _ = w.try_send(b"ruok").await;
        w.expect_closed("4th connection, ruok").await;

        // The three are unaffected.
        b.create_ok("/b", b"").await;

        // One goes; a new one gets its slot.
        a.close().await;
        let mut d = connect_when_slot_frees(addr).await;
        d.ping().await;
        let mut w = Wire::connect(addr).await;
        w.expect_closed("4th connection again").await;

        b.close().await;
        c.close().await;
        d.close().await;
        assert_healthy(addr).await;
        server.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn slowloris_client_still_gets_its_answers() {
    bounded(async {
        let server = start_default().await;
        let addr = server.local_addr;
        let mut w = Wire::connect(addr).await;
        let hello = framed(&connect_payload(0, 30_000, 0, &[0; 16], Some(false)));
        for (i, b) in hello.iter().enumerate() {
            w.send(&[*b]).await;
            tokio::time::sleep(Duration::from_millis(10)).await;
            if i == hello.len() / 2 {
                // Others are served meanwhile.
                assert_healthy(addr).await;
            }
        }
        let p = w.read_frame().await.expect("no ConnectResponse");
        let mut s = Session::from_response(w, &p);
        let req = framed(&request_payload(9, &get_data_req("/zookeeper", false)));
        for (i, b) in req.iter().enumerate() {
            s.wire.send(&[*b]).await;
            tokio::time::sleep(Duration::from_millis(10)).await;
            if i == req.len() / 2 {
                assert_healthy(addr).await;
            }
        }
        let r = s.recv().await;
        assert_eq!((r.xid, r.err), (9, 0));
        r.get_data();
        s.close().await;
        assert_healthy(addr).await;
        server.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn silent_connection_is_dropped_after_the_sessionless_timeout() {
    // NIOServerCnxnFactory expires a connection that has not completed a handshake after
    // zookeeper.nio.sessionlessCnxnTimeout (10 s by default), freeing its maxClientCnxns slot.
    timeout_whole(Duration::from_secs(28), async {
        let mut cfg = config();
        cfg.max_client_cnxns = 2;
        let server = start(cfg).await;
        let addr = server.local_addr;
        let started = tokio::time::Instant::now();
        let silent = tokio::spawn(async move {
            let mut w = Wire::connect(addr).await;
            let mut buf = [0u8; 16];
            let r = tokio::time::timeout(
                // ExpiryQueue rounds the deadline up to the next 10 s interval: 10-20 s.
                Duration::from_secs(22),
                tokio::io::AsyncReadExt::read(&mut w.stream, &mut buf),
            )
            .await
            .expect("a silent connection was never dropped");
            assert!(matches!(r, Ok(0) | Err(_)), "silent connection got {r:?}");
        });
        // Meanwhile the other slot serves as usual.
        assert_healthy(addr).await;
        silent.await.unwrap();
        let waited = started.elapsed();
        assert!(
            waited >= Duration::from_secs(9),
            "dropped after only {waited:?}"
        );
        assert_healthy(addr).await;
        server.shutdown().await;
    })
    .await;
}

async fn timeout_whole<F: std::future::Future<Output = ()>>(d: Duration, f: F) {
    tokio::time::timeout(d, f)
        .await
        .expect("test took too long");
}
