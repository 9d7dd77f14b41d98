//! Drives a pure `Core` the way the runtime does, with virtual time: effects are carried out in
//! order and every txn is committed as soon as it is proposed.
#![allow(dead_code)]

use std::collections::BTreeMap;

use zk_proto::codec::{Decode, Reader};
use zk_proto::proto::*;
use zk_proto::request::{encode_request, Request};
use zk_proto::{frame, EventType};
use zk_server::core::{Core, CoreConfig, Effect, Now};

/// Drives a `Core` like the runtime does: effects in order, txns committed at once.
pub struct Harness {
    pub core: Core,
    pub now: Now,
    pub inbox: BTreeMap<u64, Vec<Vec<u8>>>,
    pub xid: i32,
    pub sessions: [u64; 2],
    pub next_conn: u64,
    pub closed: Vec<u64>,
}

impl Harness {
    pub fn new() -> Self {
        Self::with_config(CoreConfig::default())
    }

    pub fn with_config(config: CoreConfig) -> Self {
        let now = Now {
            wall_ms: 1_700_000_000_000,
            mono_ms: 0,
        };
        let mut h = Harness {
            core: Core::new(config, now),
            now,
            inbox: BTreeMap::new(),
            xid: 0,
            sessions: [0, 0],
            next_conn: 1,
            closed: Vec::new(),
        };
        h.sessions = [h.connect(), h.connect()];
        h
    }

    pub fn run(&mut self, fx: Vec<Effect>) {
        let mut q: std::collections::VecDeque<Effect> = fx.into();
        while let Some(e) = q.pop_front() {
            match e {
                Effect::Send { conn, frame } => self.inbox.entry(conn).or_default().push(frame),
                Effect::Close { conn } => {
                    self.closed.push(conn);
                    self.core.connection_closed(conn);
                }
                Effect::Persist(txn) => {
                    self.now.wall_ms += 1;
                    for m in self.core.commit(&txn, self.now).into_iter().rev() {
                        q.push_front(m);
                    }
                }
                Effect::Forward { .. } | Effect::Revalidate { .. } => {
                    panic!("a standalone core never forwards: {e:?}")
                }
            }
        }
    }

    pub fn connect(&mut self) -> u64 {
        let conn = self.next_conn;
        self.next_conn += 1;
        self.core
            .connection_opened(conn, "127.0.0.1:1".parse().unwrap(), self.now);
        let req = ConnectRequest {
            time_out: 30_000,
            passwd: vec![0; 16],
            ..Default::default()
        };
        let mut f = Vec::new();
        frame::put(&mut f, &zk_proto::Encode::to_bytes(&req));
        let fx = self.core.handle_frame(conn, &f[4..], self.now);
        self.run(fx);
        let resp = self.inbox.get_mut(&conn).unwrap().remove(0);
        let r = ConnectResponse::from_bytes(&resp[4..]).unwrap();
        assert!(r.session_id != 0 && r.time_out == 30_000);
        conn
    }

    /// Sends one request on `conn` and returns (err, body bytes); watch events stay queued.
    pub fn call(&mut self, conn: u64, req: &Request) -> (i32, Vec<u8>) {
        self.xid += 1;
        let mut payload = Vec::new();
        encode_request(self.xid, req, &mut payload);
        let fx = self.core.handle_frame(conn, &payload, self.now);
        self.run(fx);
        let frames = self.inbox.remove(&conn).unwrap_or_default();
        let mut reply = None;
        let mut rest = Vec::new();
        for f in frames {
            let mut r = Reader::new(&f[4..]);
            let h = ReplyHeader::decode(&mut r).unwrap();
            // Pings are answered with xid -2 whatever xid they carried.
            let want = if matches!(req, Request::Ping) {
                -2
            } else {
                self.xid
            };
            if h.xid == want && reply.is_none() {
                reply = Some((h.err, r.rest().to_vec()));
            } else {
                rest.push(f);
            }
        }
        if !rest.is_empty() {
            self.inbox.insert(conn, rest);
        }
        if let Some(r) = reply {
            return r;
        }
        panic!("no reply for xid {}", self.xid);
    }

    /// Moves virtual time forward and runs the core's periodic work.
    pub fn advance(&mut self, ms: u64) {
        self.now.mono_ms += ms;
        self.now.wall_ms += ms as i64;
        let fx = self.core.tick(self.now);
        self.run(fx);
    }

    /// Watch notifications queued for `conn`, as (type, path); removes them from the inbox.
    pub fn events(&mut self, conn: u64) -> Vec<(EventType, String)> {
        let frames = self.inbox.remove(&conn).unwrap_or_default();
        let mut out = Vec::new();
        for f in frames {
            let mut r = Reader::new(&f[4..]);
            let h = ReplyHeader::decode(&mut r).unwrap();
            if h.xid == -1 {
                let ev = WatcherEvent::decode(&mut r).unwrap();
                out.push((EventType::from_i32(ev.event_type).unwrap(), ev.path));
            }
        }
        out
    }
}
