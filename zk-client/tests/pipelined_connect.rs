//! Requests sent right behind the ConnectRequest, before its answer, as the Java client's
//! Netty socket (the one it needs for TLS) sends them: the server answers the ConnectRequest
//! first and then runs them in the new session, on a standalone server with a txn log (where a
//! session exists once its CreateSession txn is durable) and on a follower (whose session is
//! created through the leader). ZooKeeper stops reading a connection until its session is set
//! up; read too early, such a request failed with SessionExpired.

mod common;

use std::net::SocketAddr;

use common::ensemble::{bounded_long, Ensemble, Options};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use zk_proto::codec::{Decode, Encode, Reader};
use zk_proto::data::Acl;
use zk_proto::proto::{
    ConnectRequest, ConnectResponse, CreateRequest, GetDataRequest, GetDataResponse, ReplyHeader,
};
use zk_proto::request::{encode_request, Request};
use zk_proto::OpCode;

async fn read_frame(s: &mut TcpStream, buf: &mut Vec<u8>) -> Vec<u8> {
    loop {
        if buf.len() >= 4 {
            let len = i32::from_be_bytes(buf[..4].try_into().unwrap()) as usize;
            if buf.len() >= 4 + len {
                let f = buf[4..4 + len].to_vec();
                buf.drain(..4 + len);
                return f;
            }
        }
        let mut chunk = [0u8; 4096];
        let n = s.read(&mut chunk).await.unwrap();
        assert!(n > 0, "server closed the connection");
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// One write: ConnectRequest, create /<name>, getData /<name>.
async fn pipelined(addr: SocketAddr, name: &str) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let connect = ConnectRequest {
        protocol_version: 0,
        last_zxid_seen: 0,
        time_out: 10_000,
        session_id: 0,
        passwd: vec![0; 16],
        read_only: Some(false),
    };
    let path = format!("/{name}");
    let create = Request::Create {
        op: OpCode::Create,
        req: CreateRequest {
            path: path.clone(),
            data: Some(b"early".to_vec()),
            acl: Acl::open_unsafe(),
            flags: 0,
        },
    };
    let get = Request::GetData(GetDataRequest { path, watch: false });
    let mut out = Vec::new();
    zk_proto::frame::put(&mut out, &connect.to_bytes());
    for (xid, req) in [(1, &create), (2, &get)] {
        let mut payload = Vec::new();
        encode_request(xid, req, &mut payload);
        zk_proto::frame::put(&mut out, &payload);
    }
    s.write_all(&out).await.unwrap();

    let mut buf = Vec::new();
    let resp =
        ConnectResponse::decode(&mut Reader::new(&read_frame(&mut s, &mut buf).await)).unwrap();
    assert_ne!(resp.session_id, 0, "session refused");
    for (xid, what) in [(1, "create"), (2, "getData")] {
        let f = read_frame(&mut s, &mut buf).await;
        let mut r = Reader::new(&f);
        let h = ReplyHeader::decode(&mut r).unwrap();
        assert_eq!((h.xid, h.err), (xid, 0), "{what} behind the ConnectRequest");
        if xid == 2 {
            let resp = GetDataResponse::decode(&mut r).unwrap();
            assert_eq!(resp.data.as_deref(), Some(&b"early"[..]));
        }
    }
}

#[tokio::test]
async fn requests_behind_the_connect_request_run_in_the_new_session_standalone() {
    common::bounded(async {
        if common::skip_external() {
            return;
        }
        // With a txn log the session exists only once its CreateSession txn is durable.
        let dir = std::env::temp_dir().join(format!("zkrs-pipelined-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let addr = SocketAddr::from(([127, 0, 0, 1], common::ensemble::fixed_port()));
        let server = common::start_durable(addr, &dir).await;
        pipelined(server.local_addr, "standalone").await;
        server.shutdown().await;
        let _ = std::fs::remove_dir_all(&dir);
    })
    .await;
}

#[tokio::test]
async fn requests_behind_the_connect_request_run_in_the_new_session_on_a_follower() {
    bounded_long(async {
        if common::skip_external() {
            return;
        }
        let (e, leader) = Ensemble::start(Options::default()).await;
        let follower = e.ids().into_iter().find(|&id| id != leader).unwrap();
        pipelined(e.client_addr(follower), "follower").await;
        e.shutdown().await;
    })
    .await;
}
