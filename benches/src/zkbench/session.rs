//! One benchmark session: a TCP connection with a ZooKeeper session on it, keeping up to
//! `--pipeline` requests in flight, for as long as its share of the run lasts.
//!
//! ZooKeeper answers a session's requests in the order they were sent, so the requests in
//! flight are a FIFO queue of `(xid, what, send instant)`: each reply must carry the xid at
//! the head of the queue (anything else is a protocol error, which drops the connection).
//! Watch notifications (xid -1) and ping replies (xid -2) are outside the queue.
//!
//! Architecture invariants:
//! - Every wait is bounded: the oldest request in flight, an outstanding ping and an awaited
//!   watch event each have a deadline `--timeout` after they were sent; when it passes the
//!   connection counts as lost. Reconnecting stops at the end of the run (`--duration`) or
//!   `--timeout` after the first failed attempt (`--count`; the ops not started are then
//!   reported as abandoned).
//! - A lost connection ends every request in flight with `ConnectionLoss` and starts a new
//!   session on the next server; ops are never retried, so `--count N` ends exactly N ops.
//! - Nothing is allocated per op: requests are framed into one reused write buffer, replies
//!   are read in place from one reused read buffer.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use zk_proto::frame;

use super::conn::{self, MAX_FRAME};
use super::histogram::Histogram;
use super::options::OpKind;
use super::progress::Live;
use super::rng::Rng;
use super::wire::{self, Paths, CONNECTION_LOSS, PROTOCOL_ERROR, REPLY_HEADER_LEN, WATCH_TIMEOUT};

/// The op types latencies and errors are reported under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpType {
    Create = 0,
    Get = 1,
    Set = 2,
    Multi = 3,
    /// From sending a setData to the watch notification it triggers (`--op watch`).
    WatchFire = 4,
}

pub const OP_TYPES: usize = 5;

impl OpType {
    pub const ALL: [OpType; OP_TYPES] = [
        OpType::Create,
        OpType::Get,
        OpType::Set,
        OpType::Multi,
        OpType::WatchFire,
    ];

    pub fn name(self) -> &'static str {
        match self {
            OpType::Create => "create",
            OpType::Get => "get",
            OpType::Set => "set",
            OpType::Multi => "multi",
            OpType::WatchFire => "watch-fire",
        }
    }

    /// The types an op kind reports, in report order.
    pub fn of(kind: OpKind) -> &'static [OpType] {
        match kind {
            OpKind::Create | OpKind::Populate => &[OpType::Create],
            OpKind::Set => &[OpType::Set],
            OpKind::Get => &[OpType::Get],
            OpKind::Mixed => &[OpType::Get, OpType::Set],
            OpKind::Multi => &[OpType::Multi],
            OpKind::Watch => &[OpType::Get, OpType::Set, OpType::WatchFire],
        }
    }
}

/// What happened to the measured ops of one type.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OpStats {
    /// Ops that ended: with a reply (success or error), a lost connection, or (watch-fire)
    /// an event, a timeout or an early event.
    pub ops: u64,
    /// Latencies in ns of the ops that got a reply (or, for watch-fire, an event in time).
    pub hist: Histogram,
    /// `(error code, count)`; codes above -100000 are ZooKeeper's.
    pub errors: Vec<(i32, u64)>,
    /// watch-fire only: events that arrived before this session's setData was sent (another
    /// session's setData of the key fired the watch), so no latency could be taken.
    pub early: u64,
}

impl OpStats {
    fn error(&mut self, code: i32, n: u64) {
        match self.errors.iter_mut().find(|(c, _)| *c == code) {
            Some((_, k)) => *k += n,
            None => self.errors.push((code, n)),
        }
    }

    pub fn error_count(&self) -> u64 {
        self.errors.iter().map(|&(_, n)| n).sum()
    }

    pub fn merge(&mut self, o: &OpStats) {
        self.ops += o.ops;
        self.hist.merge(&o.hist);
        for &(c, n) in &o.errors {
            self.error(c, n);
        }
        self.early += o.early;
    }
}

/// What a session returns.
#[derive(Debug, Clone, Default)]
pub struct SessionResult {
    pub stats: [OpStats; OP_TYPES],
    /// Workload ops (a watch cycle is one) that ended in the measured phase.
    pub measured_ops: u64,
    pub warmup_ops: u64,
    /// `--count` ops never started because the session could not reconnect.
    pub abandoned: u64,
    /// When the last measured op ended.
    pub last_done: Option<Instant>,
    pub connection_losses: u64,
    pub reconnects: u64,
    /// Why the session stopped early, if it did.
    pub gave_up: Option<String>,
}

/// The parameters every session of a run shares.
#[derive(Debug)]
pub struct Shared {
    pub op: OpKind,
    pub servers: Vec<String>,
    pub chroot: String,
    pub keys: u64,
    pub read_ratio: f64,
    pub multi_size: usize,
    pub pipeline: usize,
    pub timeout: Duration,
    pub session_timeout_ms: i32,
    pub seed: u64,
    pub value: Vec<u8>,
    /// Ops started from here on are measured.
    pub warm_end: Instant,
    /// `--duration`: no op starts after this.
    pub end: Option<Instant>,
    pub live: Arc<Live>,
}

/// One session's share of the run.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    pub client: u64,
    /// `--count`: measured ops this session does.
    pub quota: Option<u64>,
    /// create: the first `n<k>` number; populate: the first global node index.
    pub first: u64,
    /// populate: the number of the first parent `p<k>` of this run.
    pub first_parent: u64,
}

/// Children per populate parent.
pub const POP_FANOUT: u64 = 1000;

#[derive(Debug, Clone, Copy)]
enum Sent {
    Create,
    Get,
    Set,
    Multi,
    /// The getData(watch) of the watch cycle in this slot.
    WatchGet(usize),
    /// The setData of the watch cycle in this slot.
    WatchSet(usize),
}

#[derive(Debug, Clone, Copy)]
struct Pending {
    xid: i32,
    sent: Sent,
    at: Instant,
    measured: bool,
}

/// A watch cycle: getData(watch) of a key, then setData of it, then its notification.
#[derive(Debug, Clone, Copy)]
struct Cycle {
    key: u64,
    measured: bool,
    stage: Stage,
    fire: Fire,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    GetInFlight,
    /// The getData succeeded; the setData goes out with the next batch.
    NeedSet,
    SetInFlight {
        at: Instant,
    },
    /// The setData succeeded; waiting for the notification.
    AwaitFire {
        at: Instant,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fire {
    Pending,
    /// Fired before our setData was sent.
    Early,
    /// Fired after it (latency recorded).
    Done,
}

/// Random keys a watch cycle tries before waiting for a busy one to free up.
const WATCH_KEY_TRIES: usize = 8;

enum Event {
    Wrote(std::io::Result<usize>),
    Read(std::io::Result<usize>),
    Timer,
}

struct Session {
    sh: Arc<Shared>,
    plan: Plan,
    rng: Rng,
    paths: Paths,
    server: usize,
    stream: Option<TcpStream>,
    ever_connected: bool,
    ping_every: Duration,
    rbuf: Vec<u8>,
    wbuf: Vec<u8>,
    wpos: usize,
    inflight: VecDeque<Pending>,
    next_xid: i32,
    last_write: Instant,
    ping_sent: Option<Instant>,
    cycles: Vec<Option<Cycle>>,
    active_cycles: usize,
    /// Watch cycles whose setData is due.
    need_set: Vec<usize>,
    /// Measured ops started.
    started: u64,
    /// create: ops started in all phases (the next `n<k>` is `plan.first + creates`).
    creates: u64,
    multi_keys: Vec<u64>,
    last_error: Option<String>,
    res: SessionResult,
}

/// Runs one session's share of the run.
pub async fn run(sh: Arc<Shared>, plan: Plan) -> SessionResult {
    let k = sh.pipeline;
    let now = Instant::now();
    let mut s = Session {
        rng: Rng::new(sh.seed, plan.client),
        paths: Paths::new(&sh.chroot),
        server: plan.client as usize % sh.servers.len(),
        stream: None,
        ever_connected: false,
        ping_every: Duration::from_secs(10),
        rbuf: Vec::with_capacity(64 * 1024),
        wbuf: Vec::with_capacity(16 * 1024),
        wpos: 0,
        inflight: VecDeque::with_capacity(k),
        next_xid: 1,
        last_write: now,
        ping_sent: None,
        cycles: if sh.op == OpKind::Watch {
            vec![None; k]
        } else {
            Vec::new()
        },
        active_cycles: 0,
        need_set: Vec::with_capacity(k),
        started: 0,
        creates: 0,
        multi_keys: Vec::with_capacity(sh.multi_size),
        last_error: None,
        res: SessionResult::default(),
        plan,
        sh,
    };
    s.run().await;
    s.res
}

impl Session {
    async fn run(&mut self) {
        let sleep = tokio::time::sleep(self.sh.timeout);
        tokio::pin!(sleep);
        loop {
            if self.stream.is_none() && !self.reconnect().await {
                self.give_up();
                return;
            }
            let now = Instant::now();
            if !self.check_timers(now) {
                self.lose(now);
                continue;
            }
            self.fill(now);
            if self.finished(now) {
                self.close().await;
                return;
            }
            if let Err(e) = self.try_flush() {
                self.last_error = Some(e.to_string());
                self.lose(now);
                continue;
            }
            let deadline = tokio::time::Instant::from_std(self.deadline(now));
            if sleep.is_elapsed() || deadline < sleep.deadline() {
                sleep.as_mut().reset(deadline);
            }
            if self.rbuf.capacity() - self.rbuf.len() < 16 * 1024 {
                self.rbuf.reserve(64 * 1024);
            }
            let event = {
                let Some(stream) = self.stream.as_mut() else {
                    continue;
                };
                let (mut rd, mut wr) = stream.split();
                let pending = &self.wbuf[self.wpos..];
                let rbuf = &mut self.rbuf;
                tokio::select! {
                    biased;
                    r = wr.write(pending), if !pending.is_empty() => Event::Wrote(r),
                    r = rd.read_buf(rbuf) => Event::Read(r),
                    () = &mut sleep => Event::Timer,
                }
            };
            match event {
                Event::Wrote(Ok(n)) if n > 0 => self.wrote(n),
                Event::Read(Ok(n)) if n > 0 => {
                    if !self.on_readable(Instant::now()) {
                        self.lose(Instant::now());
                    }
                }
                Event::Timer => {}
                Event::Wrote(r) | Event::Read(r) => {
                    self.last_error = Some(match r {
                        Ok(_) => "the server closed the connection".to_owned(),
                        Err(e) => e.to_string(),
                    });
                    self.lose(Instant::now());
                }
            }
        }
    }

    fn wrote(&mut self, n: usize) {
        self.wpos += n;
        if self.wpos == self.wbuf.len() {
            self.wbuf.clear();
            self.wpos = 0;
        }
    }

    /// Writes what the socket takes without waiting (most batches go out here).
    fn try_flush(&mut self) -> std::io::Result<()> {
        let Some(stream) = self.stream.as_ref() else {
            return Ok(());
        };
        while self.wpos < self.wbuf.len() {
            match stream.try_write(&self.wbuf[self.wpos..]) {
                Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    self.wpos += n;
                    if self.wpos == self.wbuf.len() {
                        self.wbuf.clear();
                        self.wpos = 0;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    fn xid(&mut self) -> i32 {
        let x = self.next_xid;
        self.next_xid = self.next_xid.checked_add(1).unwrap_or(1);
        x
    }

    /// Whether new ops may start now (ignoring the window).
    fn wants_more(&self, now: Instant) -> bool {
        if now < self.sh.warm_end {
            return true;
        }
        match (self.plan.quota, self.sh.end) {
            (Some(q), _) => self.started < q,
            (None, Some(end)) => now < end,
            (None, None) => false,
        }
    }

    fn finished(&self, now: Instant) -> bool {
        !self.wants_more(now) && self.inflight.is_empty() && self.active_cycles == 0
    }

    fn window_free(&self) -> bool {
        if self.sh.op == OpKind::Watch {
            self.active_cycles < self.sh.pipeline
        } else {
            self.inflight.len() < self.sh.pipeline
        }
    }

    /// Sends due watch setData ops, then starts ops while the window allows.
    fn fill(&mut self, now: Instant) {
        while let Some(slot) = self.need_set.pop() {
            let Some(c) = self.cycles[slot].as_mut() else {
                continue;
            };
            c.stage = Stage::SetInFlight { at: now };
            let (key, measured) = (c.key, c.measured);
            let xid = self.xid();
            wire::set_data(&mut self.wbuf, xid, self.paths.key(key), &self.sh.value);
            self.push(xid, Sent::WatchSet(slot), now, measured);
        }
        while self.window_free() && self.wants_more(now) {
            if !self.start(now) {
                break;
            }
        }
    }

    fn push(&mut self, xid: i32, sent: Sent, at: Instant, measured: bool) {
        self.inflight.push_back(Pending {
            xid,
            sent,
            at,
            measured,
        });
        self.last_write = at;
    }

    /// Starts one op; false if none could start (watch: every key tried is busy).
    fn start(&mut self, now: Instant) -> bool {
        let measured = now >= self.sh.warm_end;
        let xid = self.xid();
        let value = &self.sh.value[..];
        let out = &mut self.wbuf;
        let sent = match self.sh.op {
            OpKind::Create => {
                let k = self.plan.first + self.creates;
                self.creates += 1;
                wire::create(out, xid, self.paths.client_node(self.plan.client, k), value);
                Sent::Create
            }
            OpKind::Populate => {
                let i = self.plan.first + self.started;
                let parent = self.plan.first_parent + i / POP_FANOUT;
                wire::create(out, xid, self.paths.pop_node(parent, i % POP_FANOUT), value);
                Sent::Create
            }
            OpKind::Set => {
                let key = self.rng.below(self.sh.keys);
                wire::set_data(out, xid, self.paths.key(key), value);
                Sent::Set
            }
            OpKind::Get => {
                let key = self.rng.below(self.sh.keys);
                wire::get_data(out, xid, self.paths.key(key), false);
                Sent::Get
            }
            OpKind::Mixed => {
                let read = self.rng.unit() < self.sh.read_ratio;
                let key = self.rng.below(self.sh.keys);
                if read {
                    wire::get_data(out, xid, self.paths.key(key), false);
                    Sent::Get
                } else {
                    wire::set_data(out, xid, self.paths.key(key), value);
                    Sent::Set
                }
            }
            OpKind::Multi => {
                self.multi_keys.clear();
                for _ in 0..self.sh.multi_size {
                    self.multi_keys.push(self.rng.below(self.sh.keys));
                }
                wire::multi_set_keys(out, xid, &mut self.paths, &self.multi_keys, value);
                Sent::Multi
            }
            OpKind::Watch => {
                let Some(slot) = self.cycles.iter().position(Option::is_none) else {
                    return false;
                };
                let mut key = None;
                for _ in 0..WATCH_KEY_TRIES {
                    let k = self.rng.below(self.sh.keys);
                    if !self.cycles.iter().flatten().any(|c| c.key == k) {
                        key = Some(k);
                        break;
                    }
                }
                let Some(key) = key else {
                    return false;
                };
                self.cycles[slot] = Some(Cycle {
                    key,
                    measured,
                    stage: Stage::GetInFlight,
                    fire: Fire::Pending,
                });
                self.active_cycles += 1;
                wire::get_data(out, xid, self.paths.key(key), true);
                Sent::WatchGet(slot)
            }
        };
        if measured {
            self.started += 1;
        }
        self.push(xid, sent, now, measured);
        true
    }

    fn record(&mut self, ty: OpType, measured: bool, err: i32, latency: Option<Duration>) {
        if !measured {
            return;
        }
        let st = &mut self.res.stats[ty as usize];
        st.ops += 1;
        if let Some(l) = latency {
            st.hist
                .record(u64::try_from(l.as_nanos()).unwrap_or(u64::MAX));
        }
        if err != 0 {
            st.error(err, 1);
        }
    }

    /// A workload op (a watch cycle is one) ended.
    fn end_op(&mut self, measured: bool, now: Instant) {
        self.sh.live.ended.fetch_add(1, Ordering::Relaxed);
        if measured {
            self.res.measured_ops += 1;
            self.res.last_done = Some(now);
            self.sh.live.measured.fetch_add(1, Ordering::Relaxed);
        } else {
            self.res.warmup_ops += 1;
        }
    }

    fn end_cycle(&mut self, slot: usize, now: Instant) {
        if let Some(c) = self.cycles[slot].take() {
            self.active_cycles -= 1;
            self.end_op(c.measured, now);
        }
    }

    /// Handles every whole frame in the read buffer; false if the connection must go.
    fn on_readable(&mut self, now: Instant) -> bool {
        let rbuf = std::mem::take(&mut self.rbuf);
        let mut at = 0;
        let mut ok = true;
        loop {
            match frame::check(&rbuf[at..], MAX_FRAME) {
                Ok(Some(end)) => {
                    if !self.on_frame(&rbuf[at + 4..at + end], now) {
                        ok = false;
                        break;
                    }
                    at += end;
                }
                Ok(None) => break,
                Err(e) => {
                    self.last_error = Some(e.to_string());
                    ok = false;
                    break;
                }
            }
        }
        self.rbuf = rbuf;
        if ok {
            self.rbuf.drain(..at);
        }
        ok
    }

    fn on_frame(&mut self, payload: &[u8], now: Instant) -> bool {
        let Some(h) = wire::reply_header(payload) else {
            self.last_error = Some("a reply shorter than its header".into());
            return false;
        };
        let body = &payload[REPLY_HEADER_LEN..];
        match h.xid {
            wire::NOTIFICATION_XID => {
                self.on_notification(body, now);
                true
            }
            wire::PING_XID => {
                self.ping_sent = None;
                true
            }
            xid => {
                let Some(p) = self.inflight.pop_front() else {
                    self.last_error = Some(format!("reply xid {xid} with nothing in flight"));
                    return false;
                };
                if p.xid != xid {
                    self.last_error = Some(format!("reply xid {xid} for request xid {}", p.xid));
                    self.on_reply(p, PROTOCOL_ERROR, None, now);
                    return false;
                }
                let err = if matches!(p.sent, Sent::Multi) && h.err == 0 {
                    wire::multi_error(body)
                } else {
                    h.err
                };
                self.on_reply(p, err, Some(now.saturating_duration_since(p.at)), now);
                true
            }
        }
    }

    /// The end of request `p`: a reply (`latency` is `Some`) or a lost connection.
    fn on_reply(&mut self, p: Pending, err: i32, latency: Option<Duration>, now: Instant) {
        let ty = match p.sent {
            Sent::Create => OpType::Create,
            Sent::Get | Sent::WatchGet(_) => OpType::Get,
            Sent::Set | Sent::WatchSet(_) => OpType::Set,
            Sent::Multi => OpType::Multi,
        };
        self.record(ty, p.measured, err, latency);
        match p.sent {
            Sent::Create | Sent::Get | Sent::Set | Sent::Multi => self.end_op(p.measured, now),
            Sent::WatchGet(slot) => {
                let Some(c) = self.cycles[slot].as_mut() else {
                    return;
                };
                if err == 0 {
                    c.stage = Stage::NeedSet;
                    self.need_set.push(slot);
                } else {
                    // No watch was left (getData of a missing node sets none), or the
                    // session is gone with it.
                    self.end_cycle(slot, now);
                }
            }
            Sent::WatchSet(slot) => {
                let Some(c) = self.cycles[slot].as_mut() else {
                    return;
                };
                let (measured, fire) = (c.measured, c.fire);
                match (err, fire) {
                    (_, Fire::Done) => self.end_cycle(slot, now),
                    (_, Fire::Early) => {
                        if measured {
                            let st = &mut self.res.stats[OpType::WatchFire as usize];
                            st.ops += 1;
                            st.early += 1;
                        }
                        self.end_cycle(slot, now);
                    }
                    (0, Fire::Pending) => {
                        if let Stage::SetInFlight { at } = c.stage {
                            c.stage = Stage::AwaitFire { at };
                        }
                    }
                    (e, Fire::Pending) => {
                        // Our setData failed: it fires nothing.
                        self.record(OpType::WatchFire, measured, e, None);
                        self.end_cycle(slot, now);
                    }
                }
            }
        }
    }

    fn on_notification(&mut self, body: &[u8], now: Instant) {
        if self.sh.op != OpKind::Watch {
            return;
        }
        let Some((event_type, path)) = wire::notification(body) else {
            return;
        };
        if event_type == zk_proto::EventType::None.code() {
            return;
        }
        let Some(key) = self.paths.parse_key(path) else {
            return;
        };
        let Some(slot) = self
            .cycles
            .iter()
            .position(|c| c.is_some_and(|c| c.key == key))
        else {
            return;
        };
        let Some(c) = self.cycles[slot].as_mut() else {
            return;
        };
        if c.fire != Fire::Pending {
            return;
        }
        match c.stage {
            Stage::GetInFlight | Stage::NeedSet => c.fire = Fire::Early,
            Stage::SetInFlight { at } => {
                c.fire = Fire::Done;
                let measured = c.measured;
                self.record(
                    OpType::WatchFire,
                    measured,
                    0,
                    Some(now.saturating_duration_since(at)),
                );
            }
            Stage::AwaitFire { at } => {
                let measured = c.measured;
                self.record(
                    OpType::WatchFire,
                    measured,
                    0,
                    Some(now.saturating_duration_since(at)),
                );
                self.end_cycle(slot, now);
            }
        }
    }

    /// Expires overdue watch events and sends a ping when idle; false if the connection
    /// timed out (no reply to the oldest request or to a ping within the timeout).
    fn check_timers(&mut self, now: Instant) -> bool {
        let t = self.sh.timeout;
        if self.inflight.front().is_some_and(|p| now >= p.at + t)
            || self.ping_sent.is_some_and(|at| now >= at + t)
        {
            self.last_error = Some(format!("no reply within {t:?}"));
            return false;
        }
        for slot in 0..self.cycles.len() {
            if let Some(Cycle {
                stage: Stage::AwaitFire { at },
                measured,
                ..
            }) = self.cycles[slot]
            {
                if now >= at + t {
                    self.record(OpType::WatchFire, measured, WATCH_TIMEOUT, None);
                    self.end_cycle(slot, now);
                }
            }
        }
        if self.ping_sent.is_none() && now >= self.last_write + self.ping_every {
            wire::ping(&mut self.wbuf);
            self.ping_sent = Some(now);
            self.last_write = now;
        }
        true
    }

    /// When the session next has something to check, unless a reply comes first.
    fn deadline(&self, now: Instant) -> Instant {
        let t = self.sh.timeout;
        let mut d = now + t;
        if let Some(p) = self.inflight.front() {
            d = d.min(p.at + t);
        }
        match self.ping_sent {
            Some(at) => d = d.min(at + t),
            None => d = d.min(self.last_write + self.ping_every),
        }
        for c in self.cycles.iter().flatten() {
            if let Stage::AwaitFire { at } = c.stage {
                d = d.min(at + t);
            }
        }
        if now < self.sh.warm_end {
            d = d.min(self.sh.warm_end);
        }
        if let Some(end) = self.sh.end.filter(|&e| now < e) {
            d = d.min(end);
        }
        d
    }

    /// Drops the connection: every request in flight and every watch cycle ends with
    /// ConnectionLoss; the next session goes to the next server.
    fn lose(&mut self, now: Instant) {
        self.stream = None;
        self.res.connection_losses += 1;
        while let Some(p) = self.inflight.pop_front() {
            self.on_reply(p, CONNECTION_LOSS, None, now);
        }
        for slot in 0..self.cycles.len() {
            let Some(c) = self.cycles[slot] else {
                continue;
            };
            if matches!(c.stage, Stage::SetInFlight { .. } | Stage::AwaitFire { .. }) {
                match c.fire {
                    Fire::Pending => {
                        self.record(OpType::WatchFire, c.measured, CONNECTION_LOSS, None)
                    }
                    Fire::Early if c.measured => {
                        let st = &mut self.res.stats[OpType::WatchFire as usize];
                        st.ops += 1;
                        st.early += 1;
                    }
                    _ => {}
                }
            }
            self.end_cycle(slot, now);
        }
        self.need_set.clear();
        self.wbuf.clear();
        self.wpos = 0;
        self.rbuf.clear();
        self.ping_sent = None;
        self.server = (self.server + 1) % self.sh.servers.len();
    }

    /// Opens a new session, trying the servers in turn with a growing pause between rounds;
    /// false when the session should stop instead (see the module docs).
    async fn reconnect(&mut self) -> bool {
        let n = self.sh.servers.len();
        let mut first_failure = None;
        let mut attempt = 0u32;
        loop {
            if !self.wants_more(Instant::now()) {
                return false;
            }
            let idx = (self.server + attempt as usize) % n;
            let addr = &self.sh.servers[idx];
            match conn::open(
                addr,
                self.sh.session_timeout_ms,
                self.sh.timeout,
                &mut self.rbuf,
            )
            .await
            {
                Ok((stream, resp)) => {
                    self.stream = Some(stream);
                    self.server = idx;
                    let session_ms = u64::try_from(resp.time_out).unwrap_or(30_000).max(3);
                    self.ping_every = Duration::from_millis(session_ms / 3);
                    self.last_write = Instant::now();
                    self.ping_sent = None;
                    if self.ever_connected {
                        self.res.reconnects += 1;
                    }
                    self.ever_connected = true;
                    return true;
                }
                Err(e) => self.last_error = Some(format!("{e:#}")),
            }
            attempt += 1;
            let now = Instant::now();
            let first = *first_failure.get_or_insert(now);
            let stop = match (self.plan.quota, self.sh.end) {
                (Some(_), _) => now >= first + self.sh.timeout,
                (None, Some(end)) => now >= end,
                (None, None) => true,
            };
            if stop {
                return false;
            }
            let mut pause =
                Duration::from_millis(10u64 << attempt.min(6)).min(Duration::from_millis(500));
            if let Some(end) = self.sh.end {
                pause = pause.min(end.saturating_duration_since(now));
            }
            tokio::time::sleep(pause).await;
        }
    }

    /// The session stops for good: ops it was to start are abandoned.
    fn give_up(&mut self) {
        if let Some(q) = self.plan.quota {
            self.res.abandoned = q.saturating_sub(self.started);
        }
        if self.res.abandoned > 0 || !self.ever_connected {
            self.res.gave_up = Some(
                self.last_error
                    .clone()
                    .unwrap_or_else(|| "could not connect".to_owned()),
            );
        }
    }

    /// Closes the session politely (closeSession, then the connection), waiting a bounded
    /// time for the server's answer.
    async fn close(&mut self) {
        let Some(mut stream) = self.stream.take() else {
            return;
        };
        let xid = self.xid();
        self.wbuf.drain(..self.wpos);
        self.wpos = 0;
        wire::close_session(&mut self.wbuf, xid);
        let wbuf = &self.wbuf;
        let rbuf = &mut self.rbuf;
        let wait = self.sh.timeout.min(Duration::from_secs(2));
        let _: Result<std::io::Result<()>, _> = tokio::time::timeout(wait, async {
            stream.write_all(wbuf).await?;
            loop {
                while let Some(end) = frame::check(rbuf, MAX_FRAME).ok().flatten() {
                    if wire::reply_header(&rbuf[4..end]).is_some_and(|h| h.xid == xid) {
                        return Ok(());
                    }
                    rbuf.drain(..end);
                }
                if stream.read_buf(rbuf).await? == 0 {
                    return Ok(());
                }
            }
        })
        .await;
        self.wbuf.clear();
    }
}
