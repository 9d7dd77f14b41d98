//! The few requests zk-bench sends, framed straight into a reused buffer (no `Request` values,
//! no allocation per op), and the parts of replies it reads: the reply header, a watch
//! notification's path, the first error inside a multi result.

use zk_proto::codec::WriteExt;
use zk_proto::frame;
use zk_proto::{ErrorCode, OpCode, Perms};

/// xid, zxid, err.
pub const REPLY_HEADER_LEN: usize = 16;
/// Reply xids that are not answers to a numbered request.
pub const NOTIFICATION_XID: i32 = zk_proto::consts::xid::NOTIFICATION;
pub const PING_XID: i32 = zk_proto::consts::xid::PING;

/// Error codes zk-bench reports that are not ZooKeeper's: no watch notification within the
/// timeout, and a reply that did not match the oldest request in flight.
pub const WATCH_TIMEOUT: i32 = -100_001;
pub const PROTOCOL_ERROR: i32 = -100_002;
pub const CONNECTION_LOSS: i32 = ErrorCode::ConnectionLoss as i32;
pub const NODE_EXISTS: i32 = ErrorCode::NodeExists as i32;

/// The name an error code is reported under (`KeeperException.Code`'s, e.g. `NoNode`).
pub fn error_name(code: i32) -> String {
    match code {
        WATCH_TIMEOUT => "WatchTimeout".to_owned(),
        PROTOCOL_ERROR => "ProtocolError".to_owned(),
        c => match ErrorCode::from_i32(c) {
            Some(e) => format!("{e:?}"),
            None => format!("Error{c}"),
        },
    }
}

/// Builds paths into one reused buffer: `<chroot>/zk-bench/...`.
#[derive(Debug, Clone)]
pub struct Paths {
    buf: Vec<u8>,
    root_len: usize,
}

impl Paths {
    /// `chroot` is "" or a path like `/a/b` (no trailing slash).
    pub fn new(chroot: &str) -> Paths {
        let mut buf = Vec::with_capacity(128);
        buf.extend_from_slice(chroot.as_bytes());
        buf.extend_from_slice(b"/zk-bench");
        Paths {
            root_len: buf.len(),
            buf,
        }
    }

    fn num(&mut self, mut n: u64) {
        let mut digits = [0u8; 20];
        let mut i = digits.len();
        loop {
            i -= 1;
            digits[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        self.buf.extend_from_slice(&digits[i..]);
    }

    fn at(&mut self, rest: &[u8]) -> &mut Self {
        self.buf.truncate(self.root_len);
        self.buf.extend_from_slice(rest);
        self
    }

    /// `<chroot>/zk-bench`.
    pub fn base(&mut self) -> &[u8] {
        self.at(b"");
        &self.buf
    }

    /// A `--keys` key: `/zk-bench/k<j>`.
    pub fn key(&mut self, j: u64) -> &[u8] {
        self.at(b"/k").num(j);
        &self.buf
    }

    /// The parent of client `c`'s creates: `/zk-bench/c<c>`.
    pub fn client_dir(&mut self, c: u64) -> &[u8] {
        self.at(b"/c").num(c);
        &self.buf
    }

    /// Client `c`'s `k`-th create: `/zk-bench/c<c>/n<k>`.
    pub fn client_node(&mut self, c: u64, k: u64) -> &[u8] {
        self.at(b"/c").num(c);
        self.buf.extend_from_slice(b"/n");
        self.num(k);
        &self.buf
    }

    /// The parent of populate's parents: `/zk-bench/pop`.
    pub fn pop_dir(&mut self) -> &[u8] {
        self.at(b"/pop");
        &self.buf
    }

    /// Populate's parent `p`: `/zk-bench/pop/p<p>`.
    pub fn pop_parent(&mut self, p: u64) -> &[u8] {
        self.at(b"/pop/p").num(p);
        &self.buf
    }

    /// Populate's node `i` under parent `p`: `/zk-bench/pop/p<p>/n<i>`.
    pub fn pop_node(&mut self, p: u64, i: u64) -> &[u8] {
        self.at(b"/pop/p").num(p);
        self.buf.extend_from_slice(b"/n");
        self.num(i);
        &self.buf
    }

    /// The key number of a `/zk-bench/k<j>` path (as a notification names it).
    pub fn parse_key(&self, path: &[u8]) -> Option<u64> {
        let rest = path.strip_prefix(&self.buf[..self.root_len])?;
        let digits = rest.strip_prefix(b"/k")?;
        if digits.is_empty() || digits.len() > 19 || !digits.iter().all(u8::is_ascii_digit) {
            return None;
        }
        Some(
            digits
                .iter()
                .fold(0u64, |n, d| n * 10 + u64::from(d - b'0')),
        )
    }
}

fn begin(out: &mut Vec<u8>, xid: i32, op: OpCode) -> usize {
    let at = frame::begin(out);
    out.put_i32(xid);
    out.put_i32(op.code());
    at
}

fn put_set_data_body(out: &mut Vec<u8>, path: &[u8], data: &[u8]) {
    out.put_buffer(path);
    out.put_buffer(data);
    out.put_i32(-1);
}

/// `getData(path, watch)`.
pub fn get_data(out: &mut Vec<u8>, xid: i32, path: &[u8], watch: bool) {
    let at = begin(out, xid, OpCode::GetData);
    out.put_buffer(path);
    out.put_bool(watch);
    frame::finish(out, at);
}

/// `setData(path, data, version -1)`.
pub fn set_data(out: &mut Vec<u8>, xid: i32, path: &[u8], data: &[u8]) {
    let at = begin(out, xid, OpCode::SetData);
    put_set_data_body(out, path, data);
    frame::finish(out, at);
}

/// `exists(path, no watch)`: the reply body is the node's `Stat`.
pub fn exists(out: &mut Vec<u8>, xid: i32, path: &[u8]) {
    let at = begin(out, xid, OpCode::Exists);
    out.put_buffer(path);
    out.put_bool(false);
    frame::finish(out, at);
}

/// `getChildren(path, no watch)`.
pub fn get_children(out: &mut Vec<u8>, xid: i32, path: &[u8]) {
    let at = begin(out, xid, OpCode::GetChildren);
    out.put_buffer(path);
    out.put_bool(false);
    frame::finish(out, at);
}

/// `create(path, data, OPEN_ACL_UNSAFE, PERSISTENT)`.
pub fn create(out: &mut Vec<u8>, xid: i32, path: &[u8], data: &[u8]) {
    let at = begin(out, xid, OpCode::Create);
    out.put_buffer(path);
    out.put_buffer(data);
    out.put_i32(1); // one ACL entry: world:anyone, all permissions
    out.put_i32(Perms::ALL);
    out.put_string("world");
    out.put_string("anyone");
    out.put_i32(0); // CreateMode.PERSISTENT
    frame::finish(out, at);
}

/// A `multi` of `setData` ops on `keys` (`/zk-bench/k<j>`), without allocating.
pub fn multi_set_keys(out: &mut Vec<u8>, xid: i32, paths: &mut Paths, keys: &[u64], data: &[u8]) {
    let at = begin(out, xid, OpCode::Multi);
    for &j in keys {
        put_multi_header(out, OpCode::SetData.code(), false);
        put_set_data_body(out, paths.key(j), data);
    }
    put_multi_header(out, -1, true);
    frame::finish(out, at);
}

fn put_multi_header(out: &mut Vec<u8>, op: i32, done: bool) {
    out.put_i32(op);
    out.put_bool(done);
    out.put_i32(-1);
}

/// A ping (xid -2).
pub fn ping(out: &mut Vec<u8>) {
    let at = begin(out, PING_XID, OpCode::Ping);
    frame::finish(out, at);
}

/// `closeSession`.
pub fn close_session(out: &mut Vec<u8>, xid: i32) {
    let at = begin(out, xid, OpCode::CloseSession);
    frame::finish(out, at);
}

/// A reply's header; `None` if the payload is too short to hold one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reply {
    pub xid: i32,
    pub zxid: i64,
    pub err: i32,
}

pub fn reply_header(payload: &[u8]) -> Option<Reply> {
    let h = payload.get(..REPLY_HEADER_LEN)?;
    Some(Reply {
        xid: i32::from_be_bytes([h[0], h[1], h[2], h[3]]),
        zxid: i64::from_be_bytes([h[4], h[5], h[6], h[7], h[8], h[9], h[10], h[11]]),
        err: i32::from_be_bytes([h[12], h[13], h[14], h[15]]),
    })
}

fn be_i32(b: &[u8], at: usize) -> Option<i32> {
    let s = b.get(at..at + 4)?;
    Some(i32::from_be_bytes([s[0], s[1], s[2], s[3]]))
}

/// A watch notification's event type and path (the body after the reply header).
pub fn notification(body: &[u8]) -> Option<(i32, &[u8])> {
    let event_type = be_i32(body, 0)?;
    let len = be_i32(body, 8)?;
    let path = body.get(12..12 + usize::try_from(len).ok()?)?;
    Some((event_type, path))
}

/// `Stat`'s size on the wire: 6 longs and 5 ints.
const STAT_LEN: usize = 6 * 8 + 5 * 4;

/// The outcome of a multi of setData ops from its result body: 0, or the failing op's error
/// (ZooKeeper answers a failed multi with err 0 in the header, the failing op's code in its
/// `ErrorResult`, 0 for the ops before it and `RuntimeInconsistency` for those after).
pub fn multi_error(body: &[u8]) -> i32 {
    let mut at = 0;
    let mut fallback = 0;
    loop {
        let (Some(op), Some(&done)) = (be_i32(body, at), body.get(at + 4)) else {
            return PROTOCOL_ERROR;
        };
        at += 9;
        if done != 0 {
            return fallback;
        }
        if op == OpCode::SetData.code() {
            at += STAT_LEN;
        } else if op == OpCode::Error.code() {
            let Some(e) = be_i32(body, at) else {
                return PROTOCOL_ERROR;
            };
            at += 4;
            if e == ErrorCode::RuntimeInconsistency.code() {
                fallback = e;
            } else if e != 0 {
                return e;
            }
        } else {
            return PROTOCOL_ERROR;
        }
    }
}

/// `Stat.cversion` and `Stat.numChildren` from an `exists` reply body.
pub fn stat_cversion_children(body: &[u8]) -> Option<(i32, i32)> {
    // czxid, mzxid, ctime, mtime (longs), version (int), then cversion.
    let cversion = be_i32(body, 4 * 8 + 4)?;
    // aversion (int), ephemeralOwner (long), dataLength (int), then numChildren.
    let num_children = be_i32(body, 4 * 8 + 4 + 4 + 4 + 8 + 4)?;
    Some((cversion, num_children))
}

/// `Stat.dataLength` from an `exists` reply body.
pub fn stat_data_length(body: &[u8]) -> Option<i32> {
    // 4 longs, 3 ints, ephemeralOwner (long), then dataLength.
    be_i32(body, 4 * 8 + 3 * 4 + 8)
}

/// `Stat.version` from a `getData`/`exists` stat at `body[at..]`.
pub fn stat_version(body: &[u8], at: usize) -> Option<i32> {
    be_i32(body, at + 4 * 8)
}

#[cfg(test)]
mod tests {
    use super::*;
    use zk_proto::codec::{Decode, Encode, Reader};
    use zk_proto::data::Stat;
    use zk_proto::proto::WatcherEvent;
    use zk_proto::request::{decode_request, encode_multi_results, MultiOp, MultiResult, Request};

    fn decode(frame_bytes: &[u8]) -> (i32, Request) {
        let end = frame::check(frame_bytes, 1 << 20).unwrap().unwrap();
        assert_eq!(end, frame_bytes.len());
        let (h, r) = decode_request(&frame_bytes[4..end], 1 << 20).unwrap();
        (h.xid, r)
    }

    #[test]
    fn paths() {
        let mut p = Paths::new("");
        assert_eq!(p.key(0), b"/zk-bench/k0");
        assert_eq!(p.key(1234), b"/zk-bench/k1234");
        assert_eq!(p.client_node(3, 10), b"/zk-bench/c3/n10");
        assert_eq!(p.client_dir(3), b"/zk-bench/c3");
        assert_eq!(p.pop_node(7, 999), b"/zk-bench/pop/p7/n999");
        assert_eq!(p.pop_parent(7), b"/zk-bench/pop/p7");
        assert_eq!(p.pop_dir(), b"/zk-bench/pop");
        assert_eq!(p.base(), b"/zk-bench");
        assert_eq!(p.parse_key(b"/zk-bench/k42"), Some(42));
        assert_eq!(p.parse_key(b"/zk-bench/k"), None);
        assert_eq!(p.parse_key(b"/zk-bench/c1"), None);
        let mut p = Paths::new("/root");
        assert_eq!(p.key(u64::MAX), b"/root/zk-bench/k18446744073709551615");
        assert_eq!(p.parse_key(b"/root/zk-bench/k5"), Some(5));
        assert_eq!(p.parse_key(b"/zk-bench/k5"), None);
    }

    #[test]
    fn requests_decode_as_zookeeper_reads_them() {
        let mut out = Vec::new();
        create(&mut out, 7, b"/a", b"xyz");
        match decode(&out) {
            (7, Request::Create { req, .. }) => {
                assert_eq!(req.path, "/a");
                assert_eq!(req.data.as_deref(), Some(&b"xyz"[..]));
                assert_eq!(req.acl, zk_proto::data::Acl::open_unsafe());
                assert_eq!(req.flags, 0);
            }
            other => panic!("{other:?}"),
        }
        out.clear();
        set_data(&mut out, 8, b"/b", b"v");
        assert!(
            matches!(decode(&out), (8, Request::SetData(r)) if r.path == "/b" && r.version == -1)
        );
        out.clear();
        get_data(&mut out, 9, b"/c", true);
        assert!(matches!(decode(&out), (9, Request::GetData(r)) if r.path == "/c" && r.watch));
        out.clear();
        exists(&mut out, 10, b"/d");
        assert!(matches!(decode(&out), (10, Request::Exists(r)) if r.path == "/d"));
        out.clear();
        get_children(&mut out, 11, b"/e");
        assert!(matches!(decode(&out), (11, Request::GetChildren(r)) if r.path == "/e"));
        out.clear();
        let mut p = Paths::new("");
        multi_set_keys(&mut out, 12, &mut p, &[1, 2], b"d");
        match decode(&out) {
            (12, Request::Multi(ops)) => {
                assert_eq!(ops.len(), 2);
                assert!(matches!(&ops[1], MultiOp::SetData(r) if r.path == "/zk-bench/k2"));
            }
            other => panic!("{other:?}"),
        }
        out.clear();
        ping(&mut out);
        assert!(matches!(decode(&out), (PING_XID, Request::Ping)));
        out.clear();
        close_session(&mut out, 13);
        assert!(matches!(decode(&out), (13, Request::CloseSession)));
    }

    #[test]
    fn replies() {
        let h = zk_proto::proto::ReplyHeader {
            xid: -1,
            zxid: 5,
            err: -101,
        }
        .to_bytes();
        assert_eq!(
            reply_header(&h),
            Some(Reply {
                xid: -1,
                zxid: 5,
                err: -101
            })
        );
        assert_eq!(reply_header(&h[..15]), None);
        let ev = WatcherEvent {
            event_type: 3,
            state: 3,
            path: "/zk-bench/k1".into(),
        }
        .to_bytes();
        assert_eq!(notification(&ev), Some((3, &b"/zk-bench/k1"[..])));
        assert_eq!(notification(&ev[..ev.len() - 1]), None);
        let stat = Stat {
            data_length: 77,
            version: 300,
            cversion: 12,
            num_children: 11,
            ..Stat::default()
        };
        let sb = stat.to_bytes();
        assert_eq!(sb.len(), STAT_LEN);
        assert_eq!(stat_cversion_children(&sb), Some((12, 11)));
        assert_eq!(stat_version(&sb, 0), Some(300));
        assert_eq!(stat_data_length(&sb), Some(77));
        assert_eq!(Stat::decode(&mut Reader::new(&sb)).unwrap(), stat);
    }

    #[test]
    fn multi_errors() {
        let mut ok = Vec::new();
        encode_multi_results(
            &[
                MultiResult::SetData(Stat::default()),
                MultiResult::SetData(Stat::default()),
            ],
            &mut ok,
        );
        assert_eq!(multi_error(&ok), 0);
        let mut failed = Vec::new();
        encode_multi_results(
            &[
                MultiResult::Error(0),
                MultiResult::Error(-101),
                MultiResult::Error(-2),
            ],
            &mut failed,
        );
        assert_eq!(multi_error(&failed), -101);
        assert_eq!(multi_error(&failed[..5]), PROTOCOL_ERROR);
        assert_eq!(error_name(-101), "NoNode");
        assert_eq!(error_name(CONNECTION_LOSS), "ConnectionLoss");
        assert_eq!(error_name(WATCH_TIMEOUT), "WatchTimeout");
        assert_eq!(error_name(-999), "Error-999");
    }
}
