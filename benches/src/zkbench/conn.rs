//! Opening a session (TCP connect and the ConnectRequest handshake), and [`Conn`]: a plain
//! session for the setup phase and for tests, which runs a sequence of requests with a window
//! of them in flight. Every wait is bounded by the timeout it is given.

use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

use zk_proto::codec::{Decode, Encode};
use zk_proto::frame;
use zk_proto::proto::{ConnectRequest, ConnectResponse};

use super::wire::{self, REPLY_HEADER_LEN};

/// The largest frame we accept from a server (a getData of a 1 MiB value fits easily).
pub const MAX_FRAME: usize = 64 << 20;

/// A new TCP connection to `addr` with a new session established on it. Bytes the server sent
/// after the ConnectResponse are left in `rbuf`.
pub async fn open(
    addr: &str,
    session_timeout_ms: i32,
    wait: Duration,
    rbuf: &mut Vec<u8>,
) -> Result<(TcpStream, ConnectResponse)> {
    let mut stream = timeout(wait, TcpStream::connect(addr))
        .await
        .map_err(|_| anyhow!("connecting to {addr} timed out"))?
        .with_context(|| format!("connecting to {addr}"))?;
    stream.set_nodelay(true)?;
    let req = ConnectRequest {
        protocol_version: 0,
        last_zxid_seen: 0,
        time_out: session_timeout_ms,
        session_id: 0,
        passwd: vec![0; 16],
        read_only: Some(false),
    };
    let mut out = Vec::with_capacity(64);
    frame::put(&mut out, &req.to_bytes());
    rbuf.clear();
    let resp = timeout(wait, async {
        stream.write_all(&out).await?;
        let end = read_frame(&mut stream, rbuf).await?;
        let resp = ConnectResponse::from_bytes(&rbuf[4..end])
            .map_err(|e| anyhow!("bad ConnectResponse: {e}"))?;
        rbuf.drain(..end);
        anyhow::Ok(resp)
    })
    .await
    .map_err(|_| anyhow!("handshake with {addr} timed out"))?
    .with_context(|| format!("handshake with {addr}"))?;
    if resp.session_id == 0 || resp.time_out <= 0 {
        bail!("{addr} refused the session (is it serving?)");
    }
    Ok((stream, resp))
}

/// Reads until `rbuf` starts with a whole frame; returns the frame's end.
async fn read_frame(stream: &mut TcpStream, rbuf: &mut Vec<u8>) -> Result<usize> {
    loop {
        if let Some(end) = frame::check(rbuf, MAX_FRAME)? {
            return Ok(end);
        }
        rbuf.reserve(16 * 1024);
        if stream.read_buf(rbuf).await? == 0 {
            bail!("the server closed the connection");
        }
    }
}

/// A session with requests run in order, up to a window of them in flight.
pub struct Conn {
    stream: TcpStream,
    pub session_id: i64,
    /// The session timeout the server granted.
    pub session_timeout_ms: i32,
    /// The server this session is on (`host:port`).
    pub addr: String,
    rbuf: Vec<u8>,
    wbuf: Vec<u8>,
    next_xid: i32,
    wait: Duration,
}

impl Conn {
    /// A session on `addr`; `wait` bounds the connect, the handshake and each later reply.
    pub async fn connect(addr: &str, session_timeout_ms: i32, wait: Duration) -> Result<Conn> {
        let mut rbuf = Vec::with_capacity(16 * 1024);
        let (stream, resp) = open(addr, session_timeout_ms, wait, &mut rbuf).await?;
        Ok(Conn {
            stream,
            session_id: resp.session_id,
            session_timeout_ms: resp.time_out,
            addr: addr.to_owned(),
            rbuf,
            wbuf: Vec::with_capacity(16 * 1024),
            next_xid: 1,
            wait,
        })
    }

    /// A session on the first of `servers` that accepts one; the error names every failure.
    pub async fn connect_any(
        servers: &[String],
        session_timeout_ms: i32,
        wait: Duration,
    ) -> Result<Conn> {
        let mut why = Vec::new();
        for s in servers {
            match Conn::connect(s, session_timeout_ms, wait).await {
                Ok(c) => return Ok(c),
                Err(e) => why.push(format!("{e:#}")),
            }
        }
        bail!("cannot reach any server: {}", why.join("; "))
    }

    fn xid(&mut self) -> i32 {
        let x = self.next_xid;
        self.next_xid = self.next_xid.checked_add(1).unwrap_or(1);
        x
    }

    /// One request (written by `encode(out, xid)`); returns its error code and reply body.
    pub async fn call(&mut self, encode: impl FnOnce(&mut Vec<u8>, i32)) -> Result<(i32, Vec<u8>)> {
        let mut encode = Some(encode);
        let mut out = None;
        self.batch(
            1,
            1,
            |_, buf, xid| {
                if let Some(f) = encode.take() {
                    f(buf, xid)
                }
            },
            |_, err, body| {
                out = Some((err, body.to_vec()));
                Ok(())
            },
        )
        .await?;
        out.ok_or_else(|| anyhow!("no reply"))
    }

    /// Runs requests `0..n` (request `i` written by `encode(i, out, xid)`) with up to `window`
    /// in flight, handing each reply to `on_reply(i, err, body)` in order. Watch
    /// notifications and ping replies are skipped.
    pub async fn batch(
        &mut self,
        n: u64,
        window: usize,
        mut encode: impl FnMut(u64, &mut Vec<u8>, i32),
        mut on_reply: impl FnMut(u64, i32, &[u8]) -> Result<()>,
    ) -> Result<()> {
        let mut xids = std::collections::VecDeque::with_capacity(window);
        let mut sent = 0u64;
        let mut done = 0u64;
        while done < n {
            self.wbuf.clear();
            while sent < n && xids.len() < window.max(1) {
                let xid = self.xid();
                encode(sent, &mut self.wbuf, xid);
                xids.push_back(xid);
                sent += 1;
            }
            if !self.wbuf.is_empty() {
                timeout(self.wait, self.stream.write_all(&self.wbuf))
                    .await
                    .map_err(|_| anyhow!("writing to {} timed out", self.addr))??;
            }
            // At least one reply, then every whole one already buffered.
            let end = timeout(self.wait, read_frame(&mut self.stream, &mut self.rbuf))
                .await
                .map_err(|_| anyhow!("no reply from {} within {:?}", self.addr, self.wait))??;
            let mut at = 0;
            let mut end = Some(end);
            while let Some(e) = end {
                let payload = &self.rbuf[at + 4..at + e];
                let h = wire::reply_header(payload)
                    .ok_or_else(|| anyhow!("short reply from {}", self.addr))?;
                if h.xid != wire::NOTIFICATION_XID && h.xid != wire::PING_XID {
                    let want = xids
                        .pop_front()
                        .ok_or_else(|| anyhow!("reply xid {} with nothing in flight", h.xid))?;
                    if h.xid != want {
                        bail!(
                            "reply xid {} for request xid {want} (protocol error)",
                            h.xid
                        );
                    }
                    on_reply(done, h.err, &payload[REPLY_HEADER_LEN..])?;
                    done += 1;
                }
                at += e;
                end = frame::check(&self.rbuf[at..], MAX_FRAME)?;
            }
            self.rbuf.drain(..at);
        }
        Ok(())
    }

    /// Closes the session (closeSession, bounded wait) and the connection.
    pub async fn close(mut self) {
        let _ = self.call(wire::close_session).await;
    }
}
