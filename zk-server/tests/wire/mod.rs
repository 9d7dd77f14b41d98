//! A tiny raw jute client for hostile-input tests: frames, handshakes and replies over a plain
//! tokio `TcpStream`, with every wait bounded.
#![allow(dead_code)]

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

use zk_proto::codec::{Decode, Encode, Reader};
use zk_proto::data::{Acl, Stat};
use zk_proto::frame;
use zk_proto::proto::{
    ConnectRequest, ConnectResponse, CreateRequest, GetDataRequest, GetDataResponse, ReplyHeader,
};
use zk_proto::request::{encode_request, Request};
use zk_proto::{CreateMode, OpCode};
use zk_server::runtime::{RuntimeConfig, Server};

/// How long any single wait (connect, read, write) may take before the test fails.
pub const STEP: Duration = Duration::from_secs(5);
/// How long a whole test may take.
pub const WHOLE: Duration = Duration::from_secs(25);

/// Runs a test body, failing it if it takes longer than [`WHOLE`].
pub async fn bounded<F: Future<Output = ()>>(f: F) {
    timeout(WHOLE, f).await.expect("test took too long");
}

/// A config for a standalone test server on an ephemeral 127.0.0.1 port.
pub fn config() -> RuntimeConfig {
    RuntimeConfig::for_tests("127.0.0.1:0".parse().unwrap())
}

pub async fn start(cfg: RuntimeConfig) -> Server {
    timeout(STEP, Server::start(cfg))
        .await
        .expect("server start timed out")
        .expect("server start failed")
}

pub async fn start_default() -> Server {
    start(config()).await
}

/// Bytes of a whole frame (length prefix + payload).
pub fn framed(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 4);
    frame::put(&mut out, payload);
    out
}

/// A ConnectRequest payload (no length prefix).
pub fn connect_payload(
    last_zxid_seen: i64,
    time_out: i32,
    session_id: i64,
    passwd: &[u8],
    read_only: Option<bool>,
) -> Vec<u8> {
    ConnectRequest {
        protocol_version: 0,
        last_zxid_seen,
        time_out,
        session_id,
        passwd: passwd.to_vec(),
        read_only,
    }
    .to_bytes()
}

/// A request payload (header + body, no length prefix).
pub fn request_payload(xid: i32, req: &Request) -> Vec<u8> {
    let mut out = Vec::new();
    encode_request(xid, req, &mut out);
    out
}

/// A request payload for an arbitrary opcode with a raw body.
pub fn raw_request_payload(xid: i32, op: i32, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&xid.to_be_bytes());
    out.extend_from_slice(&op.to_be_bytes());
    out.extend_from_slice(body);
    out
}

pub fn create_req(path: &str, data: &[u8], mode: CreateMode) -> Request {
    Request::Create {
        op: OpCode::Create,
        req: CreateRequest {
            path: path.to_owned(),
            data: Some(data.to_vec()),
            acl: Acl::open_unsafe(),
            flags: mode.code(),
        },
    }
}

pub fn get_data_req(path: &str, watch: bool) -> Request {
    Request::GetData(GetDataRequest {
        path: path.to_owned(),
        watch,
    })
}

/// One raw connection with its own read buffer.
pub struct Wire {
    pub stream: TcpStream,
    buf: Vec<u8>,
}

impl Wire {
    pub async fn connect(addr: SocketAddr) -> Wire {
        let stream = timeout(STEP, TcpStream::connect(addr))
            .await
            .expect("connect timed out")
            .expect("connect failed");
        stream.set_nodelay(true).unwrap();
        Wire {
            stream,
            buf: Vec::new(),
        }
    }

    /// Writes raw bytes; a write error (the server already closed) is returned, not a panic.
    pub async fn try_send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        timeout(STEP, self.stream.write_all(bytes))
            .await
            .expect("write timed out")
    }

    pub async fn send(&mut self, bytes: &[u8]) {
        self.try_send(bytes).await.expect("write failed");
    }

    pub async fn send_frame(&mut self, payload: &[u8]) {
        self.send(&framed(payload)).await;
    }

    /// Closes our sending side (the server reads EOF).
    pub async fn shutdown_write(&mut self) {
        let _ = timeout(STEP, self.stream.shutdown()).await;
    }

    /// Reads more bytes; `false` when the server closed (EOF or reset).
    async fn fill(&mut self) -> bool {
        let mut chunk = [0u8; 16 * 1024];
        match timeout(STEP, self.stream.read(&mut chunk))
            .await
            .expect("read timed out: server neither answered nor closed")
        {
            Ok(0) | Err(_) => false,
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                true
            }
        }
    }

    /// The next frame's payload, or `None` if the connection closed first. Panics on timeout
    /// or on a partial frame followed by close.
    pub async fn read_frame(&mut self) -> Option<Vec<u8>> {
        loop {
            if self.buf.len() >= 4 {
                let len = i32::from_be_bytes(self.buf[..4].try_into().unwrap());
                assert!(len >= 0, "server sent a negative frame length {len}");
                let end = 4 + len as usize;
                if self.buf.len() >= end {
                    let payload = self.buf[4..end].to_vec();
                    self.buf.drain(..end);
                    return Some(payload);
                }
            }
            if !self.fill().await {
                assert!(
                    self.buf.is_empty(),
                    "connection closed mid-frame after {:?}",
                    self.buf
                );
                return None;
            }
        }
    }

    /// Everything the server sends until it closes the connection.
    pub async fn read_to_close(&mut self) -> Vec<u8> {
        while self.fill().await {}
        std::mem::take(&mut self.buf)
    }

    /// Asserts the server closes the connection without sending anything (more).
    pub async fn expect_closed(&mut self, what: &str) {
        let rest = self.read_to_close().await;
        assert!(
            rest.is_empty(),
            "{what}: expected a silent close, got {} bytes: {:?}",
            rest.len(),
            &rest[..rest.len().min(64)]
        );
    }

    /// Sends a ConnectRequest and returns the raw ConnectResponse payload, or `None` if the
    /// server closed instead.
    pub async fn handshake_raw(&mut self, payload: &[u8]) -> Option<Vec<u8>> {
        self.send_frame(payload).await;
        self.read_frame().await
    }
}

/// A decoded reply: header plus raw body.
#[derive(Debug, Clone)]
pub struct Reply {
    pub xid: i32,
    pub zxid: i64,
    pub err: i32,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn parse(payload: &[u8]) -> Reply {
        let mut r = Reader::new(payload);
        let h = ReplyHeader::decode(&mut r).expect("reply header");
        Reply {
            xid: h.xid,
            zxid: h.zxid,
            err: h.err,
            body: r.rest().to_vec(),
        }
    }

    pub fn get_data(&self) -> GetDataResponse {
        assert_eq!(self.err, 0, "getData failed: {self:?}");
        GetDataResponse::from_bytes(&self.body).expect("GetDataResponse")
    }

    pub fn stat(&self) -> Stat {
        assert_eq!(self.err, 0, "request failed: {self:?}");
        Stat::from_bytes(&self.body).expect("Stat")
    }

    pub fn string(&self) -> String {
        assert_eq!(self.err, 0, "request failed: {self:?}");
        Reader::new(&self.body).read_string().expect("string body")
    }
}

/// An established session on one connection.
pub struct Session {
    pub wire: Wire,
    pub id: i64,
    pub passwd: Vec<u8>,
    pub timeout: i32,
    next_xid: i32,
}

impl Session {
    /// Connects with a 30 s timeout request and the readOnly byte, as current clients do.
    pub async fn connect(addr: SocketAddr) -> Session {
        let mut wire = Wire::connect(addr).await;
        let resp = wire
            .handshake_raw(&connect_payload(0, 30_000, 0, &[0; 16], Some(false)))
            .await
            .expect("server closed during handshake");
        let resp = ConnectResponse::from_bytes(&resp).expect("ConnectResponse");
        assert_ne!(resp.session_id, 0, "handshake refused: {resp:?}");
        Session {
            wire,
            id: resp.session_id,
            passwd: resp.passwd,
            timeout: resp.time_out,
            next_xid: 1,
        }
    }

    /// A session on a connection whose handshake the caller did by hand.
    pub fn from_wire(wire: Wire, id: i64, passwd: Vec<u8>, timeout: i32) -> Session {
        Session {
            wire,
            id,
            passwd,
            timeout,
            next_xid: 1,
        }
    }

    /// A session from a ConnectResponse payload the caller read by hand.
    pub fn from_response(wire: Wire, payload: &[u8]) -> Session {
        let resp = ConnectResponse::from_bytes(payload).expect("ConnectResponse");
        assert_ne!(resp.session_id, 0, "handshake refused: {resp:?}");
        Session::from_wire(wire, resp.session_id, resp.passwd, resp.time_out)
    }

    pub fn xid(&mut self) -> i32 {
        let x = self.next_xid;
        self.next_xid += 1;
        x
    }

    pub async fn send(&mut self, xid: i32, req: &Request) {
        self.wire.send_frame(&request_payload(xid, req)).await;
    }

    /// The next reply that is not a watch notification; panics if the server closes.
    pub async fn recv(&mut self) -> Reply {
        loop {
            let p = self
                .wire
                .read_frame()
                .await
                .expect("server closed the connection");
            let r = Reply::parse(&p);
            if r.xid != -1 {
                return r;
            }
        }
    }

    /// The next reply of any kind (notifications included), or `None` on close.
    pub async fn recv_any(&mut self) -> Option<Reply> {
        self.wire.read_frame().await.map(|p| Reply::parse(&p))
    }

    /// Sends a request and returns its reply, checking the xid matches.
    pub async fn call(&mut self, req: &Request) -> Reply {
        let xid = self.xid();
        self.send(xid, req).await;
        let r = self.recv().await;
        assert_eq!(r.xid, xid, "reply out of order: {r:?}");
        r
    }

    pub async fn create(&mut self, path: &str, data: &[u8], mode: CreateMode) -> Reply {
        self.call(&create_req(path, data, mode)).await
    }

    pub async fn create_ok(&mut self, path: &str, data: &[u8]) -> Reply {
        let r = self.create(path, data, CreateMode::Persistent).await;
        assert_eq!(r.err, 0, "create {path} failed: {r:?}");
        assert_eq!(r.string(), path);
        r
    }

    pub async fn get_data(&mut self, path: &str) -> Reply {
        self.call(&get_data_req(path, false)).await
    }

    pub async fn ping(&mut self) -> Reply {
        self.send(-2, &Request::Ping).await;
        let r = self.recv().await;
        assert_eq!(r.xid, -2, "ping reply xid: {r:?}");
        assert_eq!(r.err, 0, "ping reply err: {r:?}");
        assert!(r.body.is_empty(), "ping reply has a body: {r:?}");
        r
    }

    /// After a reply the server should have closed on: sends a ping anyway and reports
    /// whether the connection turned out closed (`true`) or answered the ping (`false`).
    /// Unlike waiting for EOF, this fails fast when the server wrongly keeps the connection.
    pub async fn closed_rather_than_pinged(&mut self) -> bool {
        let _ = self
            .wire
            .try_send(&framed(&request_payload(-2, &Request::Ping)))
            .await;
        loop {
            match self.wire.read_frame().await {
                None => return true,
                Some(p) if Reply::parse(&p).xid == -1 => continue,
                Some(_) => return false,
            }
        }
    }

    /// Sends closeSession and waits for its reply and the server's close.
    pub async fn close(mut self) {
        let xid = self.xid();
        self.send(xid, &Request::CloseSession).await;
        let r = self.recv().await;
        assert_eq!((r.xid, r.err), (xid, 0), "closeSession reply: {r:?}");
        self.wire.expect_closed("after closeSession").await;
    }
}

static HEALTHY: AtomicU32 = AtomicU32::new(0);

/// A separate, well-behaved client can still connect and do a create/get round trip.
pub async fn assert_healthy(addr: SocketAddr) {
    let n = HEALTHY.fetch_add(1, Ordering::Relaxed);
    let path = format!("/healthy-{n}");
    let data = format!("payload {n}").into_bytes();
    let mut s = Session::connect(addr).await;
    s.create_ok(&path, &data).await;
    let got = s.get_data(&path).await.get_data();
    assert_eq!(got.data.as_deref(), Some(&data[..]));
    s.ping().await;
    s.close().await;
}

/// Sends a four-letter word on a fresh connection and returns everything until close.
pub async fn four_letter(addr: SocketAddr, cmd: &str) -> String {
    let mut w = Wire::connect(addr).await;
    w.send(cmd.as_bytes()).await;
    let out = w.read_to_close().await;
    String::from_utf8(out).expect("four-letter answer is not UTF-8")
}

/// A small deterministic PRNG (xorshift64*), for seeded garbage.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next_u64() as u8).collect()
    }
}
