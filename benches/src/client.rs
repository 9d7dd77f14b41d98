//! A minimal raw jute client (as `zk-server/tests/wire`): one session on one connection, one
//! request in flight, every wait bounded so a stuck server fails the run instead of hanging it.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

use zk_proto::codec::{Decode, Encode, Reader};
use zk_proto::data::Acl;
use zk_proto::frame;
use zk_proto::proto::{
    ConnectRequest, ConnectResponse, CreateRequest, ReplyHeader, SetDataRequest,
};
use zk_proto::request::{encode_request, Request};
use zk_proto::{CreateMode, OpCode};

/// How long one request (or the handshake) may take before the run is abandoned.
pub const STEP: Duration = Duration::from_secs(60);

pub struct Client {
    stream: TcpStream,
    rbuf: Vec<u8>,
    wbuf: Vec<u8>,
    next_xid: i32,
    pub session_id: i64,
}

impl Client {
    /// Connects and establishes a new session (30 s timeout requested).
    pub async fn connect(addr: SocketAddr) -> Result<Client> {
        let stream = timeout(STEP, TcpStream::connect(addr))
            .await
            .context("connect timed out")?
            .with_context(|| format!("connect to {addr}"))?;
        stream.set_nodelay(true)?;
        let mut c = Client {
            stream,
            rbuf: Vec::with_capacity(16 * 1024),
            wbuf: Vec::with_capacity(1024),
            next_xid: 1,
            session_id: 0,
        };
        let req = ConnectRequest {
            protocol_version: 0,
            last_zxid_seen: 0,
            time_out: 30_000,
            session_id: 0,
            passwd: vec![0; 16],
            read_only: Some(false),
        };
        c.wbuf.clear();
        frame::put(&mut c.wbuf, &req.to_bytes());
        let resp = timeout(STEP, async {
            c.stream.write_all(&c.wbuf).await?;
            let len = c.next_frame().await?;
            let r = ConnectResponse::from_bytes(&c.rbuf[4..4 + len]);
            c.rbuf.drain(..4 + len);
            anyhow::Ok(r?)
        })
        .await
        .context("handshake timed out")??;
        if resp.session_id == 0 {
            bail!("the server refused the session");
        }
        c.session_id = resp.session_id;
        Ok(c)
    }

    /// Sends one request and waits for its reply; returns the reply's error code (0 = ok).
    /// Watch notifications (xid -1) are skipped.
    pub async fn call(&mut self, req: &Request) -> Result<i32> {
        let xid = self.next_xid;
        self.next_xid = self.next_xid.wrapping_add(1).max(1);
        self.wbuf.clear();
        let at = frame::begin(&mut self.wbuf);
        encode_request(xid, req, &mut self.wbuf);
        frame::finish(&mut self.wbuf, at);
        timeout(STEP, async {
            self.stream.write_all(&self.wbuf).await?;
            loop {
                let len = self.next_frame().await?;
                let hdr = ReplyHeader::decode(&mut Reader::new(&self.rbuf[4..4 + len]));
                self.rbuf.drain(..4 + len);
                let hdr = hdr?;
                if hdr.xid == -1 {
                    continue;
                }
                if hdr.xid != xid {
                    bail!("reply xid {} for request xid {xid}", hdr.xid);
                }
                return Ok(hdr.err);
            }
        })
        .await
        .context("request timed out")?
    }

    /// Reads until a whole frame is buffered at the start of `rbuf`; returns its payload length.
    async fn next_frame(&mut self) -> Result<usize> {
        loop {
            if self.rbuf.len() >= 4 {
                let len =
                    i32::from_be_bytes([self.rbuf[0], self.rbuf[1], self.rbuf[2], self.rbuf[3]]);
                if len < 0 {
                    bail!("negative frame length {len}");
                }
                let len = len as usize;
                if self.rbuf.len() >= 4 + len {
                    return Ok(len);
                }
            }
            if self.stream.read_buf(&mut self.rbuf).await? == 0 {
                bail!("the server closed the connection");
            }
        }
    }
}

/// A `create` of a persistent node with an open ACL.
pub fn create_req(path: String, data: Vec<u8>) -> Request {
    Request::Create {
        op: OpCode::Create,
        req: CreateRequest {
            path,
            data: Some(data),
            acl: Acl::open_unsafe(),
            flags: CreateMode::Persistent.code(),
        },
    }
}

/// An unconditional `setData` (version -1).
pub fn set_data_req(path: String, data: Vec<u8>) -> Request {
    Request::SetData(SetDataRequest {
        path,
        data: Some(data),
        version: -1,
    })
}

/// Opens a session on one of `addrs` (the next one on each attempt) and creates `path`, again
/// every 10 ms until it works or the deadline passes; returns when the create was
/// acknowledged. A NodeExists on a retry means an earlier attempt's create went through.
pub async fn write_until_ok(
    addrs: &[std::net::SocketAddr],
    path: String,
    deadline: std::time::Instant,
) -> Result<std::time::Instant> {
    let mut attempts = 0;
    loop {
        let addr = addrs[attempts % addrs.len()];
        attempts += 1;
        let attempt = async {
            let mut c = Client::connect(addr).await?;
            c.call(&create_req(path.clone(), b"x".to_vec())).await
        };
        let last = match tokio::time::timeout_at(deadline.into(), attempt).await {
            Ok(Ok(0)) => return Ok(std::time::Instant::now()),
            Ok(Ok(-110)) if attempts > 1 => return Ok(std::time::Instant::now()),
            Ok(Ok(err)) => bail!("create {path}: error {err}"),
            Ok(Err(e)) => e,
            Err(_) => bail!("no acknowledged write by the deadline ({attempts} attempts)"),
        };
        if std::time::Instant::now() >= deadline {
            return Err(last.context(format!("no acknowledged write ({attempts} attempts)")));
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
