//! The ConnectRequest/ConnectResponse handshake, byte for byte as Apache ZooKeeper 3.8/3.9
//! (`ZooKeeperServer.processConnectRequest`, `finishSessionInit`, `ProtocolManager`).

mod wire;

use wire::*;
use zk_proto::codec::{Decode, Reader};
use zk_proto::proto::ConnectResponse;
use zk_proto::request::Request;

/// `java.util.Random`, written out independently of the server's copy.
struct JavaRandom {
    seed: u64,
}

impl JavaRandom {
    const MULTIPLIER: u64 = 0x5_DEEC_E66D;
    const ADDEND: u64 = 0xB;
    const MASK: u64 = (1u64 << 48) - 1;

    fn new(seed: i64) -> Self {
        JavaRandom {
            seed: (seed as u64 ^ Self::MULTIPLIER) & Self::MASK,
        }
    }

    fn next_int(&mut self) -> i32 {
        self.seed = self
            .seed
            .wrapping_mul(Self::MULTIPLIER)
            .wrapping_add(Self::ADDEND)
            & Self::MASK;
        (self.seed >> 16) as u32 as i32
    }

    fn next_bytes(&mut self, len: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(len);
        while out.len() < len {
            let rnd = self.next_int() as u32;
            for k in 0..4 {
                if out.len() == len {
                    break;
                }
                out.push((rnd >> (8 * k)) as u8);
            }
        }
        out
    }
}

/// `ZooKeeperServer.generatePasswd`: `new Random(id ^ superSecret).nextBytes(new byte[16])`.
fn expected_password(session_id: i64) -> Vec<u8> {
    JavaRandom::new(session_id ^ 0xB341_5C00).next_bytes(16)
}

#[test]
fn java_random_reference_values() {
    // Known outputs of the JDK: new Random(0).nextInt(), new Random(42).nextInt().
    assert_eq!(JavaRandom::new(0).next_int(), -1_155_484_576);
    assert_eq!(JavaRandom::new(42).next_int(), -1_170_105_035);
}

/// Decodes a ConnectResponse payload by hand: (protocolVersion, timeOut, sessionId, passwd,
/// trailing bytes).
fn split_response(p: &[u8]) -> (i32, i32, i64, Vec<u8>, Vec<u8>) {
    let mut r = Reader::new(p);
    let pv = r.read_i32().unwrap();
    let to = r.read_i32().unwrap();
    let sid = r.read_i64().unwrap();
    let pw = r.read_buffer().unwrap();
    (pv, to, sid, pw, r.rest().to_vec())
}

#[tokio::test]
async fn response_without_read_only_byte_is_36_bytes() {
    bounded(async {
        let server = start_default().await;
        let mut w = Wire::connect(server.local_addr).await;
        let p = w
            .handshake_raw(&connect_payload(0, 10_000, 0, &[0; 16], None))
            .await
            .expect("server closed instead of answering");
        assert_eq!(
            p.len(),
            36,
            "old-style ConnectResponse must have no readOnly byte"
        );
        let (pv, to, sid, pw, rest) = split_response(&p);
        assert_eq!(pv, 0);
        assert_eq!(to, 10_000);
        assert_ne!(sid, 0);
        assert_eq!(pw.len(), 16);
        assert!(rest.is_empty());
        assert_eq!(
            (sid >> 56) & 0xff,
            1,
            "top byte of the session id is the server id"
        );
        assert_eq!(pw, expected_password(sid), "password of session {sid:#x}");

        // The session works.
        let mut s = Session::from_wire(w, sid, pw, to);
        s.create_ok("/old-style", b"x").await;
        s.close().await;
        assert_healthy(server.local_addr).await;
        server.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn response_with_read_only_byte_has_trailing_false() {
    bounded(async {
        let server = start_default().await;
        let mut w = Wire::connect(server.local_addr).await;
        let p = w
            .handshake_raw(&connect_payload(0, 10_000, 0, &[0; 16], Some(false)))
            .await
            .expect("server closed instead of answering");
        assert_eq!(p.len(), 37);
        let (pv, to, sid, pw, rest) = split_response(&p);
        assert_eq!((pv, to), (0, 10_000));
        assert_eq!((sid >> 56) & 0xff, 1);
        assert_eq!(pw, expected_password(sid));
        assert_eq!(rest, vec![0u8], "readOnly=false");
        let resp = ConnectResponse::from_bytes(&p).unwrap();
        assert_eq!(resp.read_only, Some(false));

        // Consecutive sessions get consecutive ids and their own passwords.
        let s2 = Session::connect(server.local_addr).await;
        assert_eq!(s2.id, sid + 1);
        assert_eq!(s2.passwd, expected_password(s2.id));
        s2.close().await;
        assert_healthy(server.local_addr).await;
        server.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn session_timeout_is_clamped_to_min_and_max() {
    bounded(async {
        let server = start_default().await;
        // Defaults: tickTime 2000, so minSessionTimeout 4000 and maxSessionTimeout 40000.
        for (asked, got) in [
            (0, 4000),
            (-1, 4000),
            (i32::MIN, 4000),
            (3999, 4000),
            (4000, 4000),
            (12_345, 12_345),
            (40_000, 40_000),
            (40_001, 40_000),
            (i32::MAX, 40_000),
        ] {
            let mut w = Wire::connect(server.local_addr).await;
            let p = w
                .handshake_raw(&connect_payload(0, asked, 0, &[0; 16], Some(false)))
                .await
                .expect("closed");
            let (_, to, sid, _, _) = split_response(&p);
            assert_ne!(sid, 0);
            assert_eq!(to, got, "timeout asked {asked}");
        }

        let mut cfg = config();
        cfg.core.min_session_timeout_ms = 1500;
        cfg.core.max_session_timeout_ms = 2500;
        let other = start(cfg).await;
        for (asked, got) in [(1000, 1500), (2000, 2000), (30_000, 2500)] {
            let mut w = Wire::connect(other.local_addr).await;
            let p = w
                .handshake_raw(&connect_payload(0, asked, 0, &[0; 16], None))
                .await
                .expect("closed");
            assert_eq!(split_response(&p).1, got, "timeout asked {asked}");
        }
        other.shutdown().await;
        assert_healthy(server.local_addr).await;
        server.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn client_ahead_of_server_zxid_is_closed_without_response() {
    bounded(async {
        let server = start_default().await;
        let mut s = Session::connect(server.local_addr).await;
        s.create_ok("/z", b"").await;
        let zxid = s.ping().await.zxid;
        assert!(zxid > 0);

        // Equal to the server's last zxid: fine.
        let mut w = Wire::connect(server.local_addr).await;
        let p = w
            .handshake_raw(&connect_payload(zxid, 10_000, 0, &[0; 16], Some(false)))
            .await
            .expect("lastZxidSeen == server zxid must be accepted");
        assert_ne!(split_response(&p).2, 0);
        // That session's createSession txn moved the server on by one.
        let zxid = s.ping().await.zxid;

        // Ahead by one, and far ahead: closed with no ConnectResponse at all.
        for seen in [zxid + 100, zxid + 1, i64::MAX] {
            let mut w = Wire::connect(server.local_addr).await;
            w.send_frame(&connect_payload(seen, 10_000, 0, &[0; 16], Some(false)))
                .await;
            w.expect_closed(&format!("lastZxidSeen {seen:#x}")).await;
            // Also when reattaching an existing session.
            let mut w = Wire::connect(server.local_addr).await;
            w.send_frame(&connect_payload(seen, 10_000, s.id, &s.passwd, Some(false)))
                .await;
            w.expect_closed(&format!("reattach with lastZxidSeen {seen:#x}"))
                .await;
        }
        // The session was not disturbed by the refused reattach attempts.
        s.ping().await;
        s.close().await;
        assert_healthy(server.local_addr).await;
        server.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn reconnect_with_wrong_password_is_refused_then_closed() {
    bounded(async {
        let server = start_default().await;
        let s = Session::connect(server.local_addr).await;
        let mut bad = s.passwd.clone();
        bad[0] ^= 0x55;
        // A session closed by its client cannot be resumed, even with its password.
        let gone = Session::connect(server.local_addr).await;
        let (gone_id, gone_pw) = (gone.id, gone.passwd.clone());
        gone.close().await;

        for (read_only, len) in [(Some(false), 37usize), (None, 36usize)] {
            for (sid, pw) in [
                (s.id, bad.clone()),
                (s.id, Vec::new()),
                (s.id, vec![0; 16]),
                // A session that does not exist, with the password it would have had.
                (s.id + 1000, expected_password(s.id + 1000)),
                (gone_id, gone_pw.clone()),
            ] {
                let mut w = Wire::connect(server.local_addr).await;
                let p = w
                    .handshake_raw(&connect_payload(0, 10_000, sid, &pw, read_only))
                    .await
                    .expect("expected a refusing ConnectResponse before the close");
                assert_eq!(p.len(), len, "readOnly {read_only:?}");
                let (pv, to, got_sid, got_pw, rest) = split_response(&p);
                assert_eq!((pv, to, got_sid), (0, 0, 0));
                assert_eq!(got_pw, vec![0u8; 16]);
                if read_only.is_some() {
                    assert_eq!(rest, vec![0u8]);
                }
                w.expect_closed("after a refused reattach").await;
            }
        }
        // (Apache ZooKeeper also closes the connection `s` holds on each attempt, since it
        // calls closeSession(sessionId) before checking the password; not asserted here.)
        drop(s);
        assert_healthy(server.local_addr).await;
        server.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn reconnect_with_right_password_moves_the_session_and_closes_old_connection() {
    bounded(async {
        let server = start_default().await;
        let mut old = Session::connect(server.local_addr).await;
        let r = old
            .create("/eph", b"e", zk_proto::CreateMode::Ephemeral)
            .await;
        assert_eq!(r.err, 0, "{r:?}");

        let mut w = Wire::connect(server.local_addr).await;
        let p = w
            .handshake_raw(&connect_payload(
                0,
                15_000,
                old.id,
                &old.passwd,
                Some(false),
            ))
            .await
            .expect("reattach refused");
        let (pv, to, sid, pw, rest) = split_response(&p);
        assert_eq!((pv, to, sid), (0, 15_000, old.id));
        assert_eq!(pw, old.passwd);
        assert_eq!(rest, vec![0u8]);

        // The server closes the connection the session had.
        old.wire
            .expect_closed("old connection after reattach")
            .await;

        // The new connection carries the session: its ephemeral is still there, and it can
        // make changes of its own.
        let mut moved = Session::from_wire(w, sid, pw, to);
        let r = moved.get_data("/eph").await.get_data();
        assert_eq!(r.stat.ephemeral_owner, sid);
        moved.create_ok("/after-move", b"").await;
        moved.close().await;
        assert_healthy(server.local_addr).await;
        server.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn request_before_connect_request_closes() {
    bounded(async {
        let server = start_default().await;
        // A getData header+body is 14 bytes: too short to be a ConnectRequest.
        let mut w = Wire::connect(server.local_addr).await;
        w.send_frame(&request_payload(1, &get_data_req("/", false)))
            .await;
        w.expect_closed("getData as first frame").await;

        // A ping (8 bytes) and a closeSession likewise.
        for req in [Request::Ping, Request::CloseSession] {
            let mut w = Wire::connect(server.local_addr).await;
            w.send_frame(&request_payload(5, &req)).await;
            w.expect_closed("request as first frame").await;
        }
        // A ConnectRequest cut short inside the password.
        let mut w = Wire::connect(server.local_addr).await;
        let full = connect_payload(0, 10_000, 0, &[0; 16], None);
        w.send_frame(&full[..30]).await;
        w.expect_closed("truncated ConnectRequest").await;

        assert_healthy(server.local_addr).await;
        server.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn many_sessions_get_distinct_ids_with_matching_passwords() {
    bounded(async {
        let server = start_default().await;
        let mut seen = std::collections::HashSet::new();
        for _ in 0..20 {
            let s = Session::connect(server.local_addr).await;
            assert_eq!((s.id >> 56) & 0xff, 1);
            assert_eq!(s.passwd, expected_password(s.id));
            assert!(seen.insert(s.id), "duplicate session id {:#x}", s.id);
            s.close().await;
        }
        assert_healthy(server.local_addr).await;
        server.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn session_ids_differ_across_server_restarts() {
    // ZooKeeper seeds the session id counter with the elapsed-time clock
    // (`(currentElapsedTime() << 24) >>> 8 | serverId << 56`), so a restarted server does not
    // hand out the ids of its previous incarnation (whose sessions it may still restore).
    bounded(async {
        let first = start_default().await;
        let a = Session::connect(first.local_addr).await;
        let a_id = a.id;
        a.close().await;
        first.shutdown().await;
        // Let the millisecond clock move on.
        tokio::time::sleep(std::time::Duration::from_millis(3)).await;
        let second = start_default().await;
        let b = Session::connect(second.local_addr).await;
        assert_eq!((b.id >> 56) & 0xff, 1);
        assert_ne!(
            a_id, b.id,
            "a restarted server handed out session id {:#x} again",
            b.id
        );
        b.close().await;
        assert_healthy(second.local_addr).await;
        second.shutdown().await;
    })
    .await;
}
