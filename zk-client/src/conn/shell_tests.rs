//! The connection shell under paused tokio time: the client talks to fake servers over
//! in-memory duplex pipes handed out by a test [`Connector`], so every timer (pings, the read
//! timeout, reconnect back-off, expiry) runs on the virtual clock and the times the fake
//! servers observe are exact.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::sync::mpsc;
use tokio::time::Instant;

use zk_proto::codec::{Decode, Encode};
use zk_proto::consts::xid;
use zk_proto::proto::{ConnectRequest, ConnectResponse, ReplyHeader};
use zk_proto::request::{decode_request, Request};
use zk_proto::{frame, ErrorCode};

use super::{BoxStream, Connector};
use crate::connect_string::HostPort;
use crate::{Client, Error, SessionState};

/// The fake network: which hosts refuse connections, and every dial made.
struct Net {
    down: Mutex<HashSet<String>>,
    dials: Mutex<Vec<(String, Instant)>>,
    accepted: mpsc::UnboundedSender<Peer>,
}

impl Net {
    fn new() -> (Arc<Net>, mpsc::UnboundedReceiver<Peer>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let net = Net {
            down: Mutex::new(HashSet::new()),
            dials: Mutex::new(Vec::new()),
            accepted: tx,
        };
        (Arc::new(net), rx)
    }

    fn connector(self: &Arc<Net>) -> Connector {
        let net = self.clone();
        Arc::new(move |h: &HostPort| {
            let net = net.clone();
            let host = h.host.clone();
            Box::pin(async move {
                net.dials
                    .lock()
                    .unwrap()
                    .push((host.clone(), Instant::now()));
                if net.down.lock().unwrap().contains(&host) {
                    return Err(std::io::ErrorKind::ConnectionRefused.into());
                }
                let (client, server) = tokio::io::duplex(1 << 16);
                let _ = net.accepted.send(Peer { host, io: server });
                Ok(Box::new(client) as BoxStream)
            })
        })
    }

    fn set_down(&self, hosts: &[&str]) {
        let mut down = self.down.lock().unwrap();
        down.clear();
        down.extend(hosts.iter().map(|h| h.to_string()));
    }

    fn dials(&self) -> Vec<(String, Instant)> {
        self.dials.lock().unwrap().clone()
    }
}

/// The server end of one connection.
struct Peer {
    host: String,
    io: DuplexStream,
}

impl Peer {
    /// One frame's payload; `None` when the client closed the connection.
    async fn frame(&mut self) -> Option<Vec<u8>> {
        let mut len = [0u8; 4];
        self.io.read_exact(&mut len).await.ok()?;
        let mut body = vec![0; u32::from_be_bytes(len) as usize];
        self.io.read_exact(&mut body).await.ok()?;
        Some(body)
    }

    async fn send(&mut self, payload: &[u8]) {
        let mut out = Vec::new();
        frame::put(&mut out, payload);
        self.io.write_all(&out).await.unwrap();
    }

    /// Reads the ConnectRequest and accepts it as session `id` with `timeout_ms`.
    async fn accept(&mut self, id: i64, timeout_ms: i32) -> ConnectRequest {
        let req = ConnectRequest::from_bytes(&self.frame().await.unwrap()).unwrap();
        let resp = ConnectResponse {
            protocol_version: 0,
            time_out: timeout_ms,
            session_id: id,
            passwd: vec![9; 16],
            read_only: Some(false),
        };
        self.send(&resp.to_bytes()).await;
        req
    }

    /// The next request's xid and body; `None` at end of stream.
    async fn request(&mut self) -> Option<(i32, Request)> {
        let f = self.frame().await?;
        let (h, r) = decode_request(&f, usize::MAX).unwrap();
        Some((h.xid, r))
    }

    async fn reply(&mut self, x: i32, err: i32) {
        let h = ReplyHeader {
            xid: x,
            zxid: 1,
            err,
        };
        self.send(&h.to_bytes()).await;
    }
}

async fn client(net: &Arc<Net>, hosts: &str, timeout_ms: u64) -> Client {
    Client::builder()
        .session_timeout(Duration::from_millis(timeout_ms))
        .connect_via(hosts, net.connector())
        .await
        .unwrap()
}

/// Milliseconds from `t0` to `t`.
fn ms(t0: Instant, t: Instant) -> u128 {
    t.duration_since(t0).as_millis()
}

/// Every state change with the virtual time it was seen at.
fn record_states(c: &Client) -> Arc<Mutex<Vec<(SessionState, Instant)>>> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let mut rx = c.state_events();
    let s = seen.clone();
    tokio::spawn(async move {
        while let Some(st) = rx.recv().await {
            s.lock().unwrap().push((st, Instant::now()));
        }
    });
    seen
}

/// The server negotiates 3000 ms (the client asked for 9000): pings go out after 1000 ms of
/// idleness on the client's side, and a request resets that clock.
#[tokio::test(start_paused = true)]
async fn pings_go_out_at_a_third_of_the_negotiated_timeout() {
    let (net, mut accepted) = Net::new();
    let t0 = Instant::now();
    let server = tokio::spawn(async move {
        let mut p = accepted.recv().await.unwrap();
        let req = p.accept(0x11, 3000).await;
        assert_eq!(req.time_out, 9000);
        let mut seen = Vec::new();
        while seen.len() < 4 {
            let (x, r) = p.request().await.unwrap();
            seen.push((r.clone(), ms(t0, Instant::now())));
            match r {
                Request::Ping => p.reply(xid::PING, 0).await,
                _ => p.reply(x, ErrorCode::NoNode.code()).await,
            }
        }
        (seen, p)
    });
    let c = client(&net, "a:2181", 9000).await;
    tokio::time::sleep_until(t0 + Duration::from_millis(1500)).await;
    assert_eq!(c.exists("/x").await, Ok(None));
    let (seen, _still_open) = server.await.unwrap();
    let kinds: Vec<&str> = seen
        .iter()
        .map(|(r, _)| {
            if *r == Request::Ping {
                "ping"
            } else {
                "exists"
            }
        })
        .collect();
    assert_eq!(kinds, ["ping", "exists", "ping", "ping"]);
    let times: Vec<u128> = seen.iter().map(|(_, t)| *t).collect();
    assert_eq!(times, [1000, 1500, 2500, 3500]);
    assert_eq!(c.state(), SessionState::Connected);
}

/// A server that accepts the session and then never answers: the connection is dropped at
/// 2/3 of the negotiated timeout after the last frame, the request in flight fails with
/// ConnectionLoss, and the client resumes the same session on the other host.
#[tokio::test(start_paused = true)]
async fn a_silent_server_is_dropped_and_the_next_host_tried() {
    let (net, mut accepted) = Net::new();
    let t0 = Instant::now();
    let first = tokio::spawn(async move {
        let mut p = accepted.recv().await.unwrap();
        p.accept(0x55, 3000).await;
        (p, accepted)
    });
    let c = client(&net, "a:2181,b:2181", 3000).await;
    let (mut silent, mut accepted) = first.await.unwrap();
    let states = record_states(&c);
    // Keep reading (and never answering) until the client hangs up; note when.
    let silent_host = silent.host.clone();
    assert_eq!(c.connected_host(), Some(format!("{silent_host}:2181")));
    let hung_up = tokio::spawn(async move {
        let mut got = Vec::new();
        while let Some((_, r)) = silent.request().await {
            got.push(r);
        }
        (got, Instant::now())
    });
    tokio::time::sleep_until(t0 + Duration::from_millis(100)).await;
    let in_flight = tokio::spawn({
        let c = c.clone();
        async move { (c.get_data("/x").await.map(|_| ()), Instant::now()) }
    });
    let next = tokio::spawn(async move {
        let mut p = accepted.recv().await.unwrap();
        let at = Instant::now();
        let req = p.accept(0x55, 3000).await;
        (p, req, at)
    });
    let (got, hung_up_at) = hung_up.await.unwrap();
    assert_eq!(ms(t0, hung_up_at), 2000, "read timeout: 2/3 of 3000 ms");
    // The request, then a ping 1000 ms after it (at 1100), both unanswered.
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[1], Request::Ping);
    let (r, failed_at) = in_flight.await.unwrap();
    assert_eq!(r, Err(Error::ConnectionLoss));
    assert_eq!(ms(t0, failed_at), 2000);
    let (p2, req, reconnect_at) = next.await.unwrap();
    assert_ne!(p2.host, silent_host, "the other host is tried next");
    assert_eq!(ms(t0, reconnect_at), 2000, "at once, without back-off");
    assert_eq!((req.session_id, req.passwd), (0x55, vec![9; 16]));
    assert_eq!(
        c.wait_for_state(SessionState::Connected).await,
        SessionState::Connected
    );
    let seen: Vec<SessionState> = states.lock().unwrap().iter().map(|(s, _)| *s).collect();
    assert_eq!(
        seen,
        [
            SessionState::Connected,
            SessionState::Disconnected,
            SessionState::Connected
        ]
    );
    assert_eq!(c.session_id(), 0x55);
    assert_eq!(c.connected_host(), Some(format!("{}:2181", p2.host)));
    // A closed session is connected nowhere (the fake server does not answer closeSession,
    // so the client gives up on it after the read timeout).
    c.close().await;
    assert_eq!(c.state(), SessionState::Closed);
    assert_eq!(c.connected_host(), None);
}

/// Every server gone: the client keeps dialling, and reports `Expired` once the session
/// timeout has passed since the server last renewed the session (the send time of the last
/// answered ping), failing queued requests; then it stops dialling.
#[tokio::test(start_paused = true)]
async fn unreachable_for_the_session_timeout_means_expired() {
    let (net, mut accepted) = Net::new();
    let t0 = Instant::now();
    let server_net = net.clone();
    let server = tokio::spawn(async move {
        let mut p = accepted.recv().await.unwrap();
        p.accept(0x66, 3000).await;
        // Answer the first ping (sent at 1000), then the whole cluster dies at 1200.
        let (_, r) = p.request().await.unwrap();
        assert_eq!(r, Request::Ping);
        p.reply(xid::PING, 0).await;
        tokio::time::sleep_until(t0 + Duration::from_millis(1200)).await;
        server_net.set_down(&["a", "b"]);
        drop(p);
        accepted
    });
    let c = client(&net, "a:2181,b:2181", 3000).await;
    let states = record_states(&c);
    let host = c.connected_host().expect("connected");
    assert!(host == "a:2181" || host == "b:2181", "{host}");
    let _accepted = server.await.unwrap();
    assert_eq!(
        c.wait_for_state(SessionState::Disconnected).await,
        SessionState::Disconnected
    );
    // Disconnected (and dialling): connected to no server.
    assert_eq!(c.connected_host(), None);
    let queued = tokio::spawn({
        let c = c.clone();
        async move { c.exists("/x").await }
    });
    // Bounded in virtual time: without expiry the client would dial forever.
    let reached = tokio::time::timeout(
        Duration::from_secs(60),
        c.wait_for_state(SessionState::Expired),
    )
    .await;
    assert_eq!(reached, Ok(SessionState::Expired));
    assert_eq!(queued.await.unwrap(), Err(Error::SessionExpired));
    let seen: Vec<(SessionState, u128)> = states
        .lock()
        .unwrap()
        .iter()
        .map(|(s, t)| (*s, ms(t0, *t)))
        .collect();
    assert_eq!(
        seen,
        [
            (SessionState::Connected, 0),
            (SessionState::Disconnected, 1200),
            (SessionState::Expired, 4000),
        ]
    );
    let dials = net.dials();
    let retries = dials
        .iter()
        .filter(|(_, t)| ms(t0, *t) > 1200 && ms(t0, *t) <= 4000)
        .count();
    assert!(retries > 10, "kept dialling while disconnected: {retries}");
    // Terminal: no more dials, however long we wait.
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(net.dials().len(), dials.len());
    assert_eq!(c.state(), SessionState::Expired);
    assert_eq!(c.connected_host(), None);
}
