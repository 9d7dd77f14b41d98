//! Scenario tests of the pure core on virtual time: each reads like the bug report it guards
//! against. No sockets, no sleeps.

mod harness;

use harness::Harness;
use zk_proto::codec::{Decode, Reader};
use zk_proto::data::Acl;
use zk_proto::proto::*;
use zk_proto::request::Request;
use zk_proto::{CreateMode, ErrorCode, EventType, OpCode};
use zk_server::core::CoreConfig;

fn create(h: &mut Harness, conn: u64, path: &str, mode: CreateMode) -> (i32, String) {
    let req = Request::Create {
        op: OpCode::Create2,
        req: CreateRequest {
            path: path.into(),
            data: Some(b"v".to_vec()),
            acl: Acl::open_unsafe(),
            flags: mode.code(),
        },
    };
    let (err, body) = h.call(conn, &req);
    let path = if err == 0 {
        Create2Response::from_bytes(&body).unwrap().path
    } else {
        String::new()
    };
    (err, path)
}

fn exists(h: &mut Harness, conn: u64, path: &str, watch: bool) -> Option<Stat> {
    let (err, body) = h.call(
        conn,
        &Request::Exists(ExistsRequest {
            path: path.into(),
            watch,
        }),
    );
    (err == 0).then(|| ExistsResponse::from_bytes(&body).unwrap().stat)
}

use zk_proto::data::Stat;

fn fast_config() -> CoreConfig {
    CoreConfig {
        tick_time_ms: 100,
        min_session_timeout_ms: 200,
        max_session_timeout_ms: 30_000,
        container_check_interval_ms: 1_000,
        extended_types_enabled: true,
        ..CoreConfig::default()
    }
}

#[test]
fn an_expired_sessions_ephemerals_vanish_and_watchers_hear_it() {
    let mut h = Harness::with_config(fast_config());
    let [owner, watcher] = h.sessions;
    assert_eq!(create(&mut h, owner, "/lock", CreateMode::Ephemeral).0, 0);
    assert!(exists(&mut h, watcher, "/lock", true).is_some());
    // The watcher keeps pinging; the owner goes silent past its 30 s timeout.
    for _ in 0..31 {
        h.call(watcher, &Request::Ping);
        h.advance(1_000);
    }
    assert!(
        h.closed.contains(&owner),
        "the expired session's connection is closed"
    );
    assert_eq!(
        h.events(watcher),
        vec![(EventType::NodeDeleted, "/lock".to_owned())]
    );
    assert!(exists(&mut h, watcher, "/lock", false).is_none());
}

#[test]
fn a_session_kept_alive_by_pings_does_not_expire() {
    let mut h = Harness::with_config(fast_config());
    let conn = h.sessions[0];
    assert_eq!(create(&mut h, conn, "/alive", CreateMode::Ephemeral).0, 0);
    for _ in 0..100 {
        let (err, _) = h.call(conn, &Request::Ping);
        assert_eq!(err, 0);
        h.advance(1_000);
    }
    assert!(!h.closed.contains(&conn));
    assert!(exists(&mut h, conn, "/alive", false).is_some());
}

#[test]
fn containers_are_swept_only_after_their_last_child_goes() {
    let mut h = Harness::with_config(fast_config());
    let c = h.sessions[0];
    let req = Request::Create {
        op: OpCode::CreateContainer,
        req: CreateRequest {
            path: "/c".into(),
            data: None,
            acl: Acl::open_unsafe(),
            flags: CreateMode::Container.code(),
        },
    };
    assert_eq!(h.call(c, &req).0, 0);
    h.advance(5_000);
    assert!(
        exists(&mut h, c, "/c", false).is_some(),
        "a never-used container stays"
    );
    assert_eq!(create(&mut h, c, "/c/child", CreateMode::Persistent).0, 0);
    let stat = exists(&mut h, c, "/c", false).unwrap();
    assert_eq!(
        stat.ephemeral_owner, 0,
        "containers show no owner to clients"
    );
    let (err, _) = h.call(
        c,
        &Request::Delete(DeleteRequest {
            path: "/c/child".into(),
            version: -1,
        }),
    );
    assert_eq!(err, 0);
    h.call(c, &Request::Ping);
    h.advance(1_000);
    assert!(
        exists(&mut h, c, "/c", false).is_none(),
        "an emptied container is deleted by the sweep"
    );
}

#[test]
fn ttl_nodes_expire_when_childless_and_need_extended_types() {
    let mut h = Harness::with_config(fast_config());
    let c = h.sessions[0];
    let ttl = |path: &str, ms: i64| {
        Request::CreateTtl(CreateTtlRequest {
            path: path.into(),
            data: None,
            acl: Acl::open_unsafe(),
            flags: CreateMode::PersistentWithTtl.code(),
            ttl: ms,
        })
    };
    assert_eq!(h.call(c, &ttl("/t", 2_000)).0, 0);
    assert_eq!(h.call(c, &ttl("/bad", 0)).0, ErrorCode::BadArguments.code());
    // A TTL mode through plain create carries no TTL: BadArguments.
    assert_eq!(
        create(&mut h, c, "/t2", CreateMode::PersistentWithTtl).0,
        ErrorCode::BadArguments.code()
    );
    h.call(c, &Request::Ping);
    h.advance(1_000);
    assert!(exists(&mut h, c, "/t", false).is_some());
    for _ in 0..3 {
        h.call(c, &Request::Ping);
        h.advance(1_000);
    }
    assert!(exists(&mut h, c, "/t", false).is_none());

    let mut off = Harness::new();
    let c = off.sessions[0];
    assert_eq!(
        off.call(c, &ttl("/t", 2_000)).0,
        ErrorCode::Unimplemented.code()
    );
}

#[test]
fn sequence_numbers_count_creates_while_cversion_counts_creates_and_deletes() {
    let mut h = Harness::new();
    let c = h.sessions[0];
    create(&mut h, c, "/q", CreateMode::Persistent);
    for i in 0..4 {
        let (err, p) = create(&mut h, c, "/q/n-", CreateMode::PersistentSequential);
        assert_eq!((err, p), (0, format!("/q/n-{i:010}")));
    }
    h.call(
        c,
        &Request::Delete(DeleteRequest {
            path: "/q/n-0000000000".into(),
            version: -1,
        }),
    );
    let stat = exists(&mut h, c, "/q", false).unwrap();
    assert_eq!((stat.cversion, stat.num_children), (5, 3));
    assert_eq!(
        create(&mut h, c, "/q/n-", CreateMode::PersistentSequential).1,
        "/q/n-0000000004"
    );
    // A sequential create may end in '/': the server appends the number.
    assert_eq!(
        create(&mut h, c, "/q/", CreateMode::PersistentSequential).1,
        "/q/0000000005"
    );
}

#[test]
fn failed_writes_consume_a_zxid_like_zookeepers_error_txns() {
    let mut h = Harness::new();
    let c = h.sessions[0];
    create(&mut h, c, "/x", CreateMode::Persistent);
    let before = h.core.last_zxid();
    assert_eq!(
        create(&mut h, c, "/x", CreateMode::Persistent).0,
        ErrorCode::NodeExists.code()
    );
    assert_eq!(h.core.last_zxid(), before + 1);
    let (err, _) = h.call(
        c,
        &Request::GetData(GetDataRequest {
            path: "/x".into(),
            watch: false,
        }),
    );
    assert_eq!(err, 0);
    assert_eq!(h.core.last_zxid(), before + 1, "reads do not");
}

#[test]
fn set_watches_fires_what_changed_while_the_client_was_away() {
    let mut h = Harness::new();
    let c = h.sessions[0];
    create(&mut h, c, "/d", CreateMode::Persistent);
    create(&mut h, c, "/gone", CreateMode::Persistent);
    let seen = h.core.last_zxid();
    let set = Request::SetData(SetDataRequest {
        path: "/d".into(),
        data: Some(b"new".to_vec()),
        version: -1,
    });
    h.call(c, &set);
    h.call(
        c,
        &Request::Delete(DeleteRequest {
            path: "/gone".into(),
            version: -1,
        }),
    );
    let fresh = h.connect();
    let req = Request::SetWatches2(SetWatches2 {
        relative_zxid: seen,
        data_watches: vec!["/d".into(), "/gone".into()],
        exist_watches: vec!["/d".into(), "/absent".into()],
        child_watches: vec!["/".into()],
        persistent_watches: vec![],
        persistent_recursive_watches: vec![],
    });
    let (err, _) = h.call(fresh, &req);
    assert_eq!(err, 0);
    assert_eq!(
        h.events(fresh),
        vec![
            (EventType::NodeDataChanged, "/d".to_owned()),
            (EventType::NodeDeleted, "/gone".to_owned()),
            (EventType::NodeCreated, "/d".to_owned()),
            (EventType::NodeChildrenChanged, "/".to_owned()),
        ]
    );
    // "/absent" stayed armed: creating it fires NodeCreated.
    create(&mut h, c, "/absent", CreateMode::Persistent);
    assert_eq!(
        h.events(fresh),
        vec![(EventType::NodeCreated, "/absent".to_owned())]
    );
}

#[test]
fn the_watch_event_is_queued_before_the_reply_that_reflects_the_change() {
    let mut h = Harness::new();
    let c = h.sessions[0];
    create(&mut h, c, "/w", CreateMode::Persistent);
    exists(&mut h, c, "/w", true);
    let set = Request::SetData(SetDataRequest {
        path: "/w".into(),
        data: None,
        version: -1,
    });
    h.xid += 1;
    let mut payload = Vec::new();
    zk_proto::request::encode_request(h.xid, &set, &mut payload);
    let fx = h.core.handle_frame(c, &payload, h.now);
    h.run(fx);
    let frames = h.inbox.remove(&c).unwrap();
    let xids: Vec<i32> = frames
        .iter()
        .map(|f| ReplyHeader::decode(&mut Reader::new(&f[4..])).unwrap().xid)
        .collect();
    assert_eq!(xids, vec![-1, h.xid]);
}

#[test]
fn resuming_a_session_moves_it_and_closes_the_old_connection() {
    let mut h = Harness::new();
    let old = h.sessions[0];
    let sid = h.core.session_of(old).unwrap();
    let conn = h.next_conn;
    h.next_conn += 1;
    h.core
        .connection_opened(conn, "127.0.0.1:2".parse().unwrap(), h.now);
    let req = ConnectRequest {
        time_out: 10_000,
        session_id: sid,
        passwd: zk_server::core::sessions::password(sid).to_vec(),
        read_only: Some(false),
        ..Default::default()
    };
    let fx = h
        .core
        .handle_frame(conn, &zk_proto::Encode::to_bytes(&req), h.now);
    h.run(fx);
    let resp = ConnectResponse::from_bytes(&h.inbox.remove(&conn).unwrap()[0][4..]).unwrap();
    assert_eq!(
        (resp.session_id, resp.time_out, resp.read_only),
        (sid, 10_000, Some(false))
    );
    assert!(h.closed.contains(&old));
    assert_eq!(h.core.session_of(conn), Some(sid));
}

#[test]
fn a_recursive_watcher_hears_nothing_about_nodes_it_cannot_read() {
    let mut h = Harness::new();
    let [writer, watcher] = h.sessions;
    create(&mut h, writer, "/r", CreateMode::Persistent);
    let add = Request::AddWatch(AddWatchRequest {
        path: "/r".into(),
        mode: 1,
    });
    assert_eq!(h.call(watcher, &add).0, 0);
    let secret = vec![Acl::new(zk_proto::Perms::ALL, "digest", "someone:hash")];
    let req = |p: &str, acl: Vec<Acl>| Request::Create {
        op: OpCode::Create,
        req: CreateRequest {
            path: p.into(),
            data: None,
            acl,
            flags: 0,
        },
    };
    assert_eq!(h.call(writer, &req("/r/open", Acl::open_unsafe())).0, 0);
    assert_eq!(h.call(writer, &req("/r/secret", secret)).0, 0);
    assert_eq!(
        h.events(watcher),
        vec![(EventType::NodeCreated, "/r/open".to_owned())]
    );
}

#[test]
fn a_response_over_jute_maxbuffer_closes_the_connection() {
    let mut h = Harness::with_config(CoreConfig {
        max_buffer: 200,
        ..CoreConfig::default()
    });
    let c = h.sessions[0];
    let req = Request::Create {
        op: OpCode::Create,
        req: CreateRequest {
            path: "/big".into(),
            data: Some(vec![1; 150]),
            acl: Acl::open_unsafe(),
            flags: 0,
        },
    };
    assert_eq!(h.call(c, &req).0, 0);
    h.xid += 1;
    let mut payload = Vec::new();
    let get = Request::GetData(GetDataRequest {
        path: "/big".into(),
        watch: false,
    });
    zk_proto::request::encode_request(h.xid, &get, &mut payload);
    let fx = h.core.handle_frame(c, &payload, h.now);
    h.run(fx);
    assert!(h.closed.contains(&c));
    assert!(h.inbox.get(&c).is_none_or(|f| f.is_empty()));
}

#[test]
fn pipelined_writes_are_prepped_against_changes_not_yet_applied() {
    // The storage layer makes txns durable before they are applied, so prep must see the
    // effects of earlier, still-pending txns: versions, parents, sequence numbers, digests.
    let mut h = Harness::new();
    let c = h.sessions[0];
    let reqs = vec![
        Request::Create {
            op: OpCode::Create,
            req: CreateRequest {
                path: "/p".into(),
                data: Some(b"0".to_vec()),
                acl: Acl::open_unsafe(),
                flags: 0,
            },
        },
        Request::Create {
            op: OpCode::Create,
            req: CreateRequest {
                path: "/p/s-".into(),
                data: None,
                acl: Acl::open_unsafe(),
                flags: 2,
            },
        },
        Request::Create {
            op: OpCode::Create,
            req: CreateRequest {
                path: "/p/s-".into(),
                data: None,
                acl: Acl::open_unsafe(),
                flags: 2,
            },
        },
        Request::SetData(SetDataRequest {
            path: "/p".into(),
            data: Some(b"1".to_vec()),
            version: 0,
        }),
        Request::SetData(SetDataRequest {
            path: "/p".into(),
            data: Some(b"2".to_vec()),
            version: 1,
        }),
        Request::SetData(SetDataRequest {
            path: "/p".into(),
            data: Some(b"x".to_vec()),
            version: 1,
        }),
        Request::Delete(DeleteRequest {
            path: "/p/s-0000000000".into(),
            version: -1,
        }),
        Request::Delete(DeleteRequest {
            path: "/p".into(),
            version: -1,
        }),
    ];
    let mut persisted = Vec::new();
    let mut xids = Vec::new();
    for req in &reqs {
        h.xid += 1;
        xids.push(h.xid);
        let mut payload = Vec::new();
        zk_proto::request::encode_request(h.xid, req, &mut payload);
        for e in h.core.handle_frame(c, &payload, h.now) {
            match e {
                zk_server::core::Effect::Persist(t) => persisted.push(t),
                other => panic!("nothing but txns before commit: {other:?}"),
            }
        }
    }
    assert_eq!(persisted.len(), reqs.len());
    for t in persisted {
        let fx = h.core.commit(&t, h.now);
        h.run(fx);
    }
    let frames = h.inbox.remove(&c).unwrap();
    let replies: Vec<(i32, i32)> = frames
        .iter()
        .map(|f| {
            let r = ReplyHeader::decode(&mut Reader::new(&f[4..])).unwrap();
            (r.xid, r.err)
        })
        .collect();
    let expect_err = [
        0,
        0,
        0,
        0,
        0,
        ErrorCode::BadVersion.code(),
        0,
        ErrorCode::NotEmpty.code(),
    ];
    let want: Vec<(i32, i32)> = xids.iter().copied().zip(expect_err).collect();
    assert_eq!(replies, want);
    let (err, body) = h.call(
        c,
        &Request::GetData(GetDataRequest {
            path: "/p".into(),
            watch: false,
        }),
    );
    assert_eq!(err, 0);
    let got = GetDataResponse::from_bytes(&body).unwrap();
    assert_eq!(
        (got.data.as_deref(), got.stat.version),
        (Some(&b"2"[..]), 2)
    );
    let (err, body) = h.call(
        c,
        &Request::GetChildren(GetChildrenRequest {
            path: "/p".into(),
            watch: false,
        }),
    );
    assert_eq!(err, 0);
    assert_eq!(
        GetChildrenResponse::from_bytes(&body).unwrap().children,
        vec!["s-0000000001"]
    );
    assert_eq!(h.core.stats.digest_mismatches, 0);
}

#[test]
fn a_read_after_a_pending_write_waits_for_it_and_replies_stay_in_order() {
    // Writes are answered only once durable; a read the same session sent afterwards must not
    // overtake them (clients match replies to requests by order), and must see its own write.
    let mut h = Harness::new();
    let [c, other] = h.sessions;
    create(&mut h, c, "/o", CreateMode::Persistent);
    let w1 = Request::SetData(SetDataRequest {
        path: "/o".into(),
        data: Some(b"1".to_vec()),
        version: -1,
    });
    let r1 = Request::GetData(GetDataRequest {
        path: "/o".into(),
        watch: false,
    });
    let w2 = Request::SetData(SetDataRequest {
        path: "/o".into(),
        data: Some(b"2".to_vec()),
        version: -1,
    });
    let mut persisted = Vec::new();
    let mut xids = Vec::new();
    for req in [&w1, &r1, &Request::Ping, &w2] {
        h.xid += 1;
        xids.push(if matches!(req, Request::Ping) {
            -2
        } else {
            h.xid
        });
        let mut payload = Vec::new();
        zk_proto::request::encode_request(h.xid, req, &mut payload);
        for e in h.core.handle_frame(c, &payload, h.now) {
            match e {
                zk_server::core::Effect::Persist(t) => persisted.push(t),
                other => panic!("the read and ping must wait, got {other:?}"),
            }
        }
    }
    // Another session is not held up by c's pending writes.
    let (err, _) = h.call(other, &r1);
    assert_eq!(err, 0);
    assert_eq!(persisted.len(), 2);
    for t in persisted {
        let fx = h.core.commit(&t, h.now);
        h.run(fx);
    }
    let frames = h.inbox.remove(&c).unwrap();
    let got: Vec<i32> = frames
        .iter()
        .map(|f| ReplyHeader::decode(&mut Reader::new(&f[4..])).unwrap().xid)
        .collect();
    assert_eq!(got, xids);
    let mut r = Reader::new(&frames[1][4..]);
    ReplyHeader::decode(&mut r).unwrap();
    let read = GetDataResponse::decode(&mut r).unwrap();
    assert_eq!(
        (read.data.as_deref(), read.stat.version),
        (Some(&b"1"[..]), 1),
        "the read sees w1, not w2"
    );
}
