//! End-to-end watch semantics. The `zookeeper-client` crate filters and routes events on its
//! side, so every behaviour is also checked on the wire with [`common::Raw`], which sees each
//! notification the server sends, in order, with its zxid (3.9 puts the change's zxid in the
//! notification header; events produced by setWatches carry -1).

mod common;

use std::time::Duration;

use common::*;
use zk_proto::proto::{SetWatches, SetWatches2};
use zk_proto::request::Request;
use zk_proto::{consts::xid, AddWatchMode as RawMode, EventType as E, WatcherType};
use zookeeper_client::{AddWatchMode, EventType, PersistentWatcher, SessionState};

/// The next node event of a persistent watcher, skipping session-state events.
async fn next_node_event(w: &mut PersistentWatcher) -> zookeeper_client::WatchedEvent {
    soon("a node event", async {
        loop {
            let e = w.changed().await;
            if e.event_type != EventType::Session {
                return e;
            }
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_watch_fires_once() {
    bounded(async {
        let s = TestServer::start().await;
        let a = s.client().await;
        let b = s.client().await;
        a.create("/w", b"0", &open()).await.unwrap();

        let (_, _, w) = a.get_and_watch_data("/w").await.unwrap();
        let st1 = b.set_data("/w", b"1", None).await.unwrap();
        let e = soon("NodeDataChanged", w.changed()).await;
        assert_eq!(e.event_type, EventType::NodeDataChanged);
        assert_eq!(e.path, "/w");
        assert_eq!(e.zxid, st1.mzxid);
        assert_eq!(total_watches(s.addr).await, 0, "a fired watch is gone");

        // On the wire: two changes, one notification.
        let mut r = s.raw().await;
        r.get_data("/w", true).await.unwrap();
        let st2 = b.set_data("/w", b"2", None).await.unwrap();
        b.set_data("/w", b"3", None).await.unwrap();
        assert_eq!(
            r.drain_events().await,
            [ev(E::NodeDataChanged, "/w", st2.mzxid)]
        );
        s.stop().await;
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exists_watch_on_missing_node_fires_created() {
    bounded(async {
        let s = TestServer::start().await;
        let a = s.client().await;
        let b = s.client().await;
        let (st, w) = a.check_and_watch_stat("/new").await.unwrap();
        assert_eq!(st, None);
        let (created, _) = b.create("/new", b"", &open()).await.unwrap();
        let e = soon("NodeCreated", w.changed()).await;
        assert_eq!(
            (e.event_type, e.path.as_str(), e.zxid),
            (EventType::NodeCreated, "/new", created.czxid)
        );

        // On the wire: an exists watch on an existing node fires on data change, once.
        let mut r = s.raw().await;
        assert_eq!(
            r.exists("/new2", true).await.unwrap_err(),
            zk_proto::ErrorCode::NoNode
        );
        let (c2, _) = b.create("/new2", b"", &open()).await.unwrap();
        b.set_data("/new2", b"x", None).await.unwrap();
        assert_eq!(
            r.drain_events().await,
            [ev(E::NodeCreated, "/new2", c2.czxid)]
        );
        r.exists("/new2", true).await.unwrap();
        let st = b.set_data("/new2", b"y", None).await.unwrap();
        b.delete("/new2", None).await.unwrap();
        assert_eq!(
            r.drain_events().await,
            [ev(E::NodeDataChanged, "/new2", st.mzxid)]
        );
        s.stop().await;
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn child_watch_fires_children_changed() {
    bounded(async {
        let s = TestServer::start().await;
        let a = s.client().await;
        let b = s.client().await;
        a.create("/p", b"", &open()).await.unwrap();

        let (children, _, w) = a.get_and_watch_children("/p").await.unwrap();
        assert!(children.is_empty());
        let (c, _) = b.create("/p/c", b"", &open()).await.unwrap();
        let e = soon("NodeChildrenChanged", w.changed()).await;
        assert_eq!(
            (e.event_type, e.path.as_str(), e.zxid),
            (EventType::NodeChildrenChanged, "/p", c.czxid)
        );
        let (children, w) = a.list_and_watch_children("/p").await.unwrap();
        assert_eq!(children, ["c"]);
        b.delete("/p/c", None).await.unwrap();
        let e = soon("NodeChildrenChanged", w.changed()).await;
        let (_, p) = a.get_data("/p").await.unwrap();
        assert_eq!(
            (e.event_type, e.path.as_str(), e.zxid),
            (EventType::NodeChildrenChanged, "/p", p.pzxid)
        );

        // On the wire: a data change does not fire a child watch; two creates fire it once.
        let mut r = s.raw().await;
        r.get_children("/p", true).await.unwrap();
        b.set_data("/p", b"data", None).await.unwrap();
        let (d, _) = b.create("/p/d", b"", &open()).await.unwrap();
        b.create("/p/e", b"", &open()).await.unwrap();
        assert_eq!(
            r.drain_events().await,
            [ev(E::NodeChildrenChanged, "/p", d.czxid)]
        );
        s.stop().await;
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_fires_node_deleted_to_data_and_child_watchers() {
    bounded(async {
        let s = TestServer::start().await;
        let a = s.client().await;
        let b = s.client().await;
        a.create("/dp", b"", &open()).await.unwrap();
        a.create("/dp/d", b"", &open()).await.unwrap();

        let (_, _, wd) = a.get_and_watch_data("/dp/d").await.unwrap();
        let (_, _, wc) = a.get_and_watch_children("/dp/d").await.unwrap();
        let (_, we) = a.check_and_watch_stat("/dp/d").await.unwrap();
        let (_, _, wp) = a.get_and_watch_children("/dp").await.unwrap();
        b.delete("/dp/d", None).await.unwrap();
        let (_, dp) = a.get_data("/dp").await.unwrap();
        let z = dp.pzxid;
        for w in [wd, wc, we] {
            let e = soon("NodeDeleted", w.changed()).await;
            assert_eq!(
                (e.event_type, e.path.as_str(), e.zxid),
                (EventType::NodeDeleted, "/dp/d", z)
            );
        }
        let e = soon("NodeChildrenChanged", wp.changed()).await;
        assert_eq!(
            (e.event_type, e.path.as_str(), e.zxid),
            (EventType::NodeChildrenChanged, "/dp", z)
        );

        // On the wire: a connection watching the node as data and child watcher hears about
        // the deletion once, then its parent's child watch fires.
        a.create("/dp/x", b"", &open()).await.unwrap();
        let mut r = s.raw().await;
        r.get_data("/dp/x", true).await.unwrap();
        r.get_children("/dp/x", true).await.unwrap();
        r.get_children("/dp", true).await.unwrap();
        b.delete("/dp/x", None).await.unwrap();
        let (_, dp) = a.get_data("/dp").await.unwrap();
        assert_eq!(
            r.drain_events().await,
            [
                ev(E::NodeDeleted, "/dp/x", dp.pzxid),
                ev(E::NodeChildrenChanged, "/dp", dp.pzxid)
            ]
        );
        s.stop().await;
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn persistent_watch_fires_repeatedly() {
    bounded(async {
        let s = TestServer::start().await;
        let b = s.client().await;
        let mut r = s.raw().await;
        r.add_watch("/pw", RawMode::Persistent).await;
        let a = s.client().await;
        let mut w = a.watch("/pw", AddWatchMode::Persistent).await.unwrap();

        let (c1, _) = b.create("/pw", b"", &open()).await.unwrap();
        b.set_data("/pw", b"1", None).await.unwrap();
        b.set_data("/pw", b"2", None).await.unwrap();
        b.create("/pw/c", b"", &open()).await.unwrap();
        b.set_data("/pw/c", b"x", None).await.unwrap();
        b.delete("/pw/c", None).await.unwrap();
        b.delete("/pw", None).await.unwrap();
        let (c8, _) = b.create("/pw", b"", &open()).await.unwrap();
        // b's writes are the only txns: consecutive zxids from c1.
        let z = c1.czxid;
        assert_eq!(c8.czxid, z + 7);
        let expected = [
            ev(E::NodeCreated, "/pw", z),
            ev(E::NodeDataChanged, "/pw", z + 1),
            ev(E::NodeDataChanged, "/pw", z + 2),
            ev(E::NodeChildrenChanged, "/pw", z + 3),
            // z + 4 changed /pw/c's data: not watched by a non-recursive watch.
            ev(E::NodeChildrenChanged, "/pw", z + 5),
            ev(E::NodeDeleted, "/pw", z + 6),
            ev(E::NodeCreated, "/pw", z + 7),
        ];
        assert_eq!(r.drain_events().await, expected);

        let kinds = [
            EventType::NodeCreated,
            EventType::NodeDataChanged,
            EventType::NodeDataChanged,
            EventType::NodeChildrenChanged,
            EventType::NodeChildrenChanged,
            EventType::NodeDeleted,
            EventType::NodeCreated,
        ];
        for (k, x) in kinds.into_iter().zip(&expected) {
            let e = next_node_event(&mut w).await;
            assert_eq!((e.event_type, e.path.as_str(), e.zxid), (k, "/pw", x.zxid));
        }
        s.stop().await;
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn persistent_recursive_watch_covers_descendants() {
    bounded(async {
        let s = TestServer::start().await;
        let b = s.client().await;
        let mut r = s.raw().await;
        r.add_watch("/rw", RawMode::PersistentRecursive).await;
        let a = s.client().await;
        let mut w = a
            .watch("/rw", AddWatchMode::PersistentRecursive)
            .await
            .unwrap();

        let (c1, _) = b.create("/rw", b"", &open()).await.unwrap();
        b.create("/rw/a", b"", &open()).await.unwrap();
        b.set_data("/rw/a", b"1", None).await.unwrap();
        b.create("/rw/a/b", b"", &open()).await.unwrap();
        b.delete("/rw/a/b", None).await.unwrap();
        b.create("/rwx", b"", &open()).await.unwrap();
        b.set_data("/rw", b"2", None).await.unwrap();
        b.delete("/rw/a", None).await.unwrap();
        let z = c1.czxid;
        let expected = [
            ev(E::NodeCreated, "/rw", z),
            ev(E::NodeCreated, "/rw/a", z + 1),
            ev(E::NodeDataChanged, "/rw/a", z + 2),
            ev(E::NodeCreated, "/rw/a/b", z + 3),
            ev(E::NodeDeleted, "/rw/a/b", z + 4),
            // z + 5 created /rwx: a sibling sharing the prefix, not a descendant.
            ev(E::NodeDataChanged, "/rw", z + 6),
            ev(E::NodeDeleted, "/rw/a", z + 7),
        ];
        // Never NodeChildrenChanged.
        assert_eq!(r.drain_events().await, expected);

        for x in &expected {
            let e = next_node_event(&mut w).await;
            assert_eq!(
                (e.path.as_str(), e.zxid),
                (x.path.as_str(), x.zxid),
                "{e:?}"
            );
        }
        s.stop().await;
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removed_watches_stop_firing() {
    bounded(async {
        let s = TestServer::start().await;
        let b = s.client().await;
        b.create("/rm", b"", &open()).await.unwrap();
        let mut r = s.raw().await;

        // A data watch: removed once, then there is nothing to remove.
        r.get_data("/rm", true).await.unwrap();
        assert_eq!(total_watches(s.addr).await, 1);
        r.remove_watches("/rm", WatcherType::Data).await.unwrap();
        assert_eq!(
            r.remove_watches("/rm", WatcherType::Data)
                .await
                .unwrap_err(),
            zk_proto::ErrorCode::NoWatcher
        );
        b.set_data("/rm", b"1", None).await.unwrap();
        assert_eq!(r.drain_events().await, []);

        // A child watch is not a data watch.
        r.get_children("/rm", true).await.unwrap();
        assert_eq!(
            r.remove_watches("/rm", WatcherType::Data)
                .await
                .unwrap_err(),
            zk_proto::ErrorCode::NoWatcher
        );
        r.remove_watches("/rm", WatcherType::Children)
            .await
            .unwrap();
        b.create("/rm/c", b"", &open()).await.unwrap();
        assert_eq!(r.drain_events().await, []);

        // Persistent: a recursive removal does not match it, a persistent one does.
        r.add_watch("/rm", RawMode::Persistent).await;
        assert_eq!(
            r.remove_watches("/rm", WatcherType::PersistentRecursive)
                .await
                .unwrap_err(),
            zk_proto::ErrorCode::NoWatcher
        );
        r.remove_watches("/rm", WatcherType::Persistent)
            .await
            .unwrap();
        b.set_data("/rm", b"2", None).await.unwrap();
        b.delete("/rm/c", None).await.unwrap();
        assert_eq!(r.drain_events().await, []);

        // Persistent-recursive, removed with Any.
        r.add_watch("/rm", RawMode::PersistentRecursive).await;
        r.remove_watches("/rm", WatcherType::Any).await.unwrap();
        b.create("/rm/d", b"", &open()).await.unwrap();
        b.set_data("/rm", b"3", None).await.unwrap();
        assert_eq!(r.drain_events().await, []);
        assert_eq!(total_watches(s.addr).await, 0);

        // The crate's remove() for a oneshot and a persistent watcher.
        let a = s.client().await;
        let (_, _, w) = a.get_and_watch_data("/rm").await.unwrap();
        assert_eq!(total_watches(s.addr).await, 1);
        #[allow(deprecated)]
        w.remove().await.unwrap();
        assert_eq!(total_watches(s.addr).await, 0);
        let pw = a.watch("/rm", AddWatchMode::Persistent).await.unwrap();
        assert_eq!(total_watches(s.addr).await, 1);
        #[allow(deprecated)]
        pw.remove().await.unwrap();
        assert_eq!(total_watches(s.addr).await, 0);
        s.stop().await;
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_event_precedes_later_read_response() {
    bounded(async {
        let s = TestServer::start().await;
        let a = s.client().await;
        let b = s.client().await;
        a.create("/o", b"0", &open()).await.unwrap();

        // Another client's change, then a read: the event is delivered before the read returns.
        let (_, _, w) = a.get_and_watch_data("/o").await.unwrap();
        let st = b.set_data("/o", b"1", None).await.unwrap();
        assert_eq!(a.get_data("/o").await.unwrap().0, b"1");
        let e = tokio::time::timeout(Duration::ZERO, w.changed())
            .await
            .expect("the notification must precede the read's response");
        assert_eq!(
            (e.event_type, e.zxid),
            (EventType::NodeDataChanged, st.mzxid)
        );

        // The client's own change: the event comes before the setData response.
        let (_, _, w) = a.get_and_watch_data("/o").await.unwrap();
        let st = a.set_data("/o", b"2", None).await.unwrap();
        let e = tokio::time::timeout(Duration::ZERO, w.changed())
            .await
            .expect("the notification must precede the write's response");
        assert_eq!(e.zxid, st.mzxid);

        // On the wire: the notification is already queued when the read's reply arrives.
        let mut r = s.raw().await;
        r.get_data("/o", true).await.unwrap();
        let st = b.set_data("/o", b"3", None).await.unwrap();
        let (data, _) = r.get_data("/o", false).await.unwrap();
        assert_eq!(data.as_deref(), Some(&b"3"[..]));
        assert_eq!(
            r.events.drain(..).collect::<Vec<_>>(),
            [ev(E::NodeDataChanged, "/o", st.mzxid)]
        );
        s.stop().await;
    })
    .await
}

/// setWatches, as a reconnecting client sends it: watches on nodes changed since
/// `relativeZxid` fire at once (zxid -1), the others are re-armed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_watches_fires_missed_changes_and_rearms_the_rest() {
    bounded(async {
        let s = TestServer::start().await;
        let b = s.client().await;
        for p in [
            "/sw",
            "/sw/changed",
            "/sw/same",
            "/sw/gone",
            "/sw/kids",
            "/sw/quiet",
        ] {
            b.create(p, b"", &open()).await.unwrap();
        }
        let (_, last) = b.get_data("/sw/quiet").await.unwrap();
        let rel = last.czxid;
        b.set_data("/sw/changed", b"x", None).await.unwrap();
        b.create("/sw/created", b"", &open()).await.unwrap();
        b.create("/sw/kids/k", b"", &open()).await.unwrap();
        b.delete("/sw/gone", None).await.unwrap();

        let mut r = s.raw().await;
        let reply = r
            .call_xid(
                xid::SET_WATCHES,
                &Request::SetWatches(SetWatches {
                    relative_zxid: rel,
                    data_watches: vec!["/sw/changed".into(), "/sw/same".into(), "/sw/gone".into()],
                    exist_watches: vec!["/sw/created".into(), "/sw/absent".into()],
                    child_watches: vec!["/sw/kids".into(), "/sw/quiet".into()],
                }),
            )
            .await;
        assert_eq!(reply.err, 0);
        // Sent before the reply, in list order.
        assert_eq!(
            r.events.drain(..).collect::<Vec<_>>(),
            [
                ev(E::NodeDataChanged, "/sw/changed", -1),
                ev(E::NodeDeleted, "/sw/gone", -1),
                ev(E::NodeCreated, "/sw/created", -1),
                ev(E::NodeChildrenChanged, "/sw/kids", -1),
            ]
        );
        let st = b.set_data("/sw/same", b"y", None).await.unwrap();
        let (absent, _) = b.create("/sw/absent", b"", &open()).await.unwrap();
        let (q, _) = b.create("/sw/quiet/q", b"", &open()).await.unwrap();
        assert_eq!(
            r.drain_events().await,
            [
                ev(E::NodeDataChanged, "/sw/same", st.mzxid),
                ev(E::NodeCreated, "/sw/absent", absent.czxid),
                ev(E::NodeChildrenChanged, "/sw/quiet", q.czxid),
            ]
        );
        s.stop().await;
    })
    .await
}

/// setWatches2 re-arms persistent and persistent-recursive watches too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_watches2_rearms_persistent_watches() {
    bounded(async {
        let s = TestServer::start().await;
        let b = s.client().await;
        let (base, _) = b.create("/base", b"", &open()).await.unwrap();
        let mut r = s.raw().await;
        let reply = r
            .call_xid(
                xid::SET_WATCHES,
                &Request::SetWatches2(SetWatches2 {
                    relative_zxid: base.czxid,
                    data_watches: vec![],
                    exist_watches: vec!["/e".into()],
                    child_watches: vec![],
                    persistent_watches: vec!["/p".into()],
                    persistent_recursive_watches: vec!["/r".into()],
                }),
            )
            .await;
        assert_eq!(reply.err, 0);
        assert!(r.events.is_empty());
        let z = b.create("/p", b"", &open()).await.unwrap().0.czxid;
        b.create("/p/c", b"", &open()).await.unwrap();
        b.create("/r", b"", &open()).await.unwrap();
        b.create("/r/x", b"", &open()).await.unwrap();
        b.create("/r/x/y", b"", &open()).await.unwrap();
        b.create("/e", b"", &open()).await.unwrap();
        b.set_data("/p", b"1", None).await.unwrap();
        assert_eq!(
            r.drain_events().await,
            [
                ev(E::NodeCreated, "/p", z),
                ev(E::NodeChildrenChanged, "/p", z + 1),
                ev(E::NodeCreated, "/r", z + 2),
                ev(E::NodeCreated, "/r/x", z + 3),
                ev(E::NodeCreated, "/r/x/y", z + 4),
                ev(E::NodeCreated, "/e", z + 5),
                ev(E::NodeDataChanged, "/p", z + 6),
            ]
        );
        s.stop().await;
    })
    .await
}

async fn wait_state(w: &mut zookeeper_client::StateWatcher, want: SessionState) {
    soon("a session state", async {
        loop {
            if w.changed().await == want {
                return;
            }
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watches_survive_reconnection() {
    bounded(async {
        let s = TestServer::start().await;
        let proxy = Proxy::start(s.addr).await;
        let a = client_at(proxy.addr).await;
        let b = s.client().await;
        a.create("/r1", b"", &open()).await.unwrap();
        a.create("/rp", b"", &open()).await.unwrap();
        let sid = a.session_id();

        let (_, _, wd) = a.get_and_watch_data("/r1").await.unwrap();
        let (_, we) = a.check_and_watch_stat("/r2").await.unwrap();
        let (_, _, wc) = a.get_and_watch_children("/rp").await.unwrap();
        // (Persistent watches are left out: zookeeper-client 0.11.2 never re-sends them, its
        // `resend_watches` always picks SetWatches over SetWatches2. The server side of
        // SetWatches2 is covered on the wire below.)

        let mut state = a.state_watcher();
        proxy.sever();
        // The state watcher keeps only the latest state: a reconnection quicker than this task
        // shows up as one change, straight to SyncConnected. Any change proves the drop.
        let first = soon("the dropped connection", state.changed()).await;
        if first != SessionState::SyncConnected {
            wait_state(&mut state, SessionState::SyncConnected).await;
        }
        assert_eq!(a.session_id(), sid);
        assert_eq!(
            total_watches(s.addr).await,
            2,
            "the reconnected session re-registered its data and exist watches"
        );

        let st = b.set_data("/r1", b"x", None).await.unwrap();
        let e = soon("NodeDataChanged", wd.changed()).await;
        assert_eq!(
            (e.event_type, e.zxid),
            (EventType::NodeDataChanged, st.mzxid)
        );
        let (c2, _) = b.create("/r2", b"", &open()).await.unwrap();
        let e = soon("NodeCreated", we.changed()).await;
        assert_eq!((e.event_type, e.zxid), (EventType::NodeCreated, c2.czxid));
        let (cc, _) = b.create("/rp/c", b"", &open()).await.unwrap();
        let e = soon("NodeChildrenChanged", wc.changed()).await;
        assert_eq!(
            (e.event_type, e.path.as_str(), e.zxid),
            (EventType::NodeChildrenChanged, "/rp", cc.czxid)
        );
        s.stop().await;
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_missed_while_disconnected_fire_on_reconnect() {
    bounded(async {
        let s = TestServer::start().await;
        let proxy = Proxy::start(s.addr).await;
        let a = client_at(proxy.addr).await;
        let b = s.client().await;
        a.create("/d1", b"", &open()).await.unwrap();
        a.create("/dp", b"", &open()).await.unwrap();
        let (_, _, wd) = a.get_and_watch_data("/d1").await.unwrap();
        let (_, we) = a.check_and_watch_stat("/d2").await.unwrap();
        let (_, _, wc) = a.get_and_watch_children("/dp").await.unwrap();
        let (_, _, wgone) = a.get_and_watch_data("/dp").await.unwrap();

        let mut state = a.state_watcher();
        proxy.set_refusing(true);
        proxy.sever();
        wait_state(&mut state, SessionState::Disconnected).await;
        b.set_data("/d1", b"x", None).await.unwrap();
        b.create("/d2", b"", &open()).await.unwrap();
        b.create("/dp/c", b"", &open()).await.unwrap();
        b.set_data("/dp", b"y", None).await.unwrap();
        proxy.set_refusing(false);
        wait_state(&mut state, SessionState::SyncConnected).await;

        for (w, kind, path) in [
            (wd, EventType::NodeDataChanged, "/d1"),
            (we, EventType::NodeCreated, "/d2"),
            (wc, EventType::NodeChildrenChanged, "/dp"),
            (wgone, EventType::NodeDataChanged, "/dp"),
        ] {
            let e = soon("a missed change", w.changed()).await;
            assert_eq!((e.event_type, e.path.as_str()), (kind, path));
        }
        // Nothing is left armed: every watch fired.
        assert_eq!(total_watches(s.addr).await, 0);
        s.stop().await;
    })
    .await
}
