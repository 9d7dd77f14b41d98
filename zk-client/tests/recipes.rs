//! Recipes against a server (in-process, or `ZK_TEST_SERVER`: see common/mod.rs): leader
//! election (one leader, succession without a herd, resign, suspension and expiry), the lock
//! (exclusion, try_acquire) and lowest-child detection.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use zk_client::recipes::{
    lowest_child, watch_lowest_child, LeaderElection, LeaderState, Lock, LockLoss, LockState,
};
use zk_client::{Acl, Client, CreateMode, Error, ErrorCode, SessionState};

const DIR: &str = "/mesos";
const PREFIX: &str = "json.info_";

async fn wait_state(e: &LeaderElection, want: LeaderState) {
    let mut rx = e.states();
    soon(&format!("state {want:?}"), rx.wait_for(|s| *s == want))
        .await
        .expect("state stream open");
}

fn leaders(es: &[Option<LeaderElection>]) -> Vec<usize> {
    es.iter()
        .enumerate()
        .filter(|(_, e)| e.as_ref().is_some_and(|e| e.is_leader()))
        .map(|(i, _)| i)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn election_succession_without_herd_and_resign() {
    bounded(async {
        let server = test_server().await;
        let mut clients = Vec::new();
        let mut es = Vec::new();
        for i in 0..5 {
            let c = connect(server.local_addr).await;
            let data = format!("{{\"id\":\"master{i}\"}}");
            let e = LeaderElection::join(&c, DIR, PREFIX, data.as_bytes())
                .await
                .unwrap();
            clients.push(c);
            es.push(Some(e));
        }
        // Something else under the path that sorts before the prefix must not take part.
        clients[0]
            .create(
                "/mesos/aaa",
                b"",
                &Acl::open_unsafe(),
                CreateMode::Persistent,
            )
            .await
            .unwrap();
        assert_eq!(leaders(&es), vec![0]);
        for e in es.iter().skip(1) {
            assert_eq!(e.as_ref().unwrap().state(), LeaderState::NotLeader);
        }
        let (name, data) = lowest_child(&clients[4], DIR, PREFIX)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            format!("{DIR}/{name}"),
            es[0].as_ref().unwrap().node(),
            "the leader is the lowest child"
        );
        assert_eq!(data, b"{\"id\":\"master0\"}");

        // The leader's session ends: the next in sequence, and only it, is woken and leads.
        clients[0].close().await;
        wait_state(es[0].as_ref().unwrap(), LeaderState::Lost).await;
        assert_eq!(
            soon("a new leader", es[1].as_ref().unwrap().wait_leader()).await,
            LeaderState::Leader
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
        let counts: Vec<u64> = es
            .iter()
            .map(|e| e.as_ref().unwrap().predecessor_notifications())
            .collect();
        assert_eq!(counts, vec![0, 1, 0, 0, 0], "no herd effect");
        es[0] = None;
        assert_eq!(leaders(&es), vec![1]);

        // A waiting contender resigns: only its successor is woken, and it keeps waiting.
        let e3 = es[3].take().unwrap();
        let node3 = e3.node().to_string();
        e3.resign().await.unwrap();
        assert_eq!(clients[3].exists(&node3).await, Ok(None));
        let e4 = es[4].as_ref().unwrap();
        soon("the successor's notification", async {
            while e4.predecessor_notifications() < 1 {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(e4.state(), LeaderState::NotLeader);
        assert_eq!(es[2].as_ref().unwrap().predecessor_notifications(), 0);

        // The leader resigns: its successor (2) leads; 4 now waits behind 2, not woken.
        let e1 = es[1].take().unwrap();
        let mut old = e1.states();
        e1.resign().await.unwrap();
        assert_eq!(*old.borrow_and_update(), LeaderState::NotLeader);
        assert_eq!(
            soon("a new leader", es[2].as_ref().unwrap().wait_leader()).await,
            LeaderState::Leader
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(leaders(&es), vec![2]);
        assert_eq!(es[4].as_ref().unwrap().predecessor_notifications(), 1);
        let left = clients[2].get_children(DIR).await.unwrap();
        assert_eq!(left.len(), 3, "aaa + two contenders: {left:?}");

        drop(es);
        for c in clients {
            c.close().await;
        }
        server.shutdown().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn election_suspended_on_disconnect_and_lost_on_expiry() {
    if skip_external() {
        return;
    }
    bounded(async {
        let server = start().await;
        let proxy = Proxy::start(server.local_addr).await;
        let c = Client::builder()
            .session_timeout(Duration::from_millis(1000))
            .connect(&proxy.addr.to_string())
            .await
            .unwrap();
        let e = LeaderElection::join(&c, "/marathon/leader", "member_", b"a")
            .await
            .unwrap();
        assert!(e.is_leader());
        let other = connect(server.local_addr).await;
        let e2 = LeaderElection::join(&other, "/marathon/leader", "member_", b"b")
            .await
            .unwrap();
        assert_eq!(e2.state(), LeaderState::NotLeader);

        // A short outage: Suspended, then Leader again with the same session.
        proxy.sever();
        wait_state(&e, LeaderState::Suspended).await;
        assert_eq!(
            soon("reconnect", c.wait_for_state(SessionState::Connected)).await,
            SessionState::Connected
        );
        wait_state(&e, LeaderState::Leader).await;
        assert_eq!(e2.state(), LeaderState::NotLeader);

        // A long outage (no server reachable): the old leader's client takes the session as
        // expired once the session timeout has passed since the server last renewed it, which
        // is no later than the server expires it, so it knows before the other contender can
        // take over.
        drop(proxy);
        let mut rx = e.states();
        soon(
            "suspension",
            rx.wait_for(|s| matches!(s, LeaderState::Suspended | LeaderState::Lost)),
        )
        .await
        .unwrap();
        assert_eq!(
            soon("takeover", e2.wait_leader()).await,
            LeaderState::Leader
        );
        assert_eq!(
            c.state(),
            SessionState::Expired,
            "expired before the takeover"
        );
        assert_eq!(e2.predecessor_notifications(), 1);
        wait_state(&e, LeaderState::Lost).await;
        assert!(e2.is_leader());
        drop(e);
        e2.resign().await.unwrap();
        other.close().await;
        server.shutdown().await;
    })
    .await;
}

type Lowest = Option<(String, Vec<u8>)>;

async fn next_lowest(w: &mut tokio::sync::mpsc::UnboundedReceiver<Lowest>) -> Lowest {
    soon("the lowest child", w.recv())
        .await
        .expect("stream open")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lock_excludes() {
    bounded(async {
        let server = test_server().await;
        let setup = connect(server.local_addr).await;
        setup
            .create(
                "/counter",
                b"0",
                &Acl::open_unsafe(),
                CreateMode::Persistent,
            )
            .await
            .unwrap();
        let held = Arc::new(AtomicBool::new(false));
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let c = connect(server.local_addr).await;
            let held = held.clone();
            tasks.push(tokio::spawn(async move {
                let lock = Lock::new(&c, "/locks/counter");
                for _ in 0..20 {
                    let guard = lock.acquire().await.unwrap();
                    assert!(!held.swap(true, Ordering::SeqCst), "two holders at once");
                    let (data, stat) = c.get_data("/counter").await.unwrap();
                    let n: u32 = std::str::from_utf8(&data).unwrap().parse().unwrap();
                    tokio::task::yield_now().await;
                    c.set_data("/counter", (n + 1).to_string().as_bytes(), stat.version)
                        .await
                        .expect("no BadVersion under the lock");
                    held.store(false, Ordering::SeqCst);
                    guard.release().await.unwrap();
                }
                c.close().await;
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let (data, _) = setup.get_data("/counter").await.unwrap();
        assert_eq!(data, b"160");
        assert!(setup
            .get_children("/locks/counter")
            .await
            .unwrap()
            .is_empty());
        setup.close().await;
        server.shutdown().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn try_acquire_times_out_and_cleans_up() {
    bounded(async {
        let server = test_server().await;
        let a = connect(server.local_addr).await;
        let b = connect(server.local_addr).await;
        let la = Lock::new(&a, "/l");
        let lb = Lock::new(&b, "/l");
        let g = la.acquire().await.unwrap();
        let t0 = std::time::Instant::now();
        assert!(lb
            .try_acquire(Duration::from_millis(300))
            .await
            .unwrap()
            .is_none());
        assert!(t0.elapsed() >= Duration::from_millis(300));
        let children = a.get_children("/l").await.unwrap();
        assert_eq!(children.len(), 1, "{children:?}");
        assert_eq!(format!("/l/{}", children[0]), g.node());

        // Released while waiting: acquired.
        let waiter = tokio::spawn({
            let lb = lb.clone();
            async move { lb.try_acquire(Duration::from_secs(5)).await }
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
        g.release().await.unwrap();
        let gb = soon("the lock", waiter).await.unwrap().unwrap().unwrap();
        assert!(la
            .try_acquire(Duration::from_millis(50))
            .await
            .unwrap()
            .is_none());
        // A dropped guard releases in the background.
        drop(gb);
        let ga = soon("the lock", la.acquire()).await.unwrap();
        ga.release().await.unwrap();
        assert!(a.get_children("/l").await.unwrap().is_empty());
        a.close().await;
        b.close().await;
        server.shutdown().await;
    })
    .await;
}

/// The guard follows the session: Suspended while disconnected, Held again after a reconnect,
/// and Lost (with `lost()` resolving) once the session expires; the waiting contender then
/// acquires.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lock_guard_reports_suspension_and_loss_on_expiry() {
    if skip_external() {
        return;
    }
    bounded(async {
        let server = start().await;
        let proxy = Proxy::start(server.local_addr).await;
        let a = Client::builder()
            .session_timeout(Duration::from_millis(1000))
            .connect(&proxy.addr.to_string())
            .await
            .unwrap();
        let b = connect(server.local_addr).await;
        let guard = Lock::new(&a, "/locks/x").acquire().await.unwrap();
        assert_eq!(guard.state(), LockState::Held);
        let waiter = tokio::spawn({
            let b = b.clone();
            async move { Lock::new(&b, "/locks/x").acquire().await }
        });

        // A short outage: Suspended, then Held again; the lock never changed hands.
        proxy.sever();
        assert_eq!(
            soon("suspension", guard.suspended()).await,
            LockState::Suspended
        );
        assert_eq!(
            soon("reconnect", a.wait_for_state(SessionState::Connected)).await,
            SessionState::Connected
        );
        assert_eq!(guard.state(), LockState::Held);
        assert!(!waiter.is_finished());

        // A long outage (no server reachable): the client takes the session as expired after
        // its timeout, no later than the server does; the guard says so and the other
        // contender gets the lock.
        let lost = tokio::spawn({
            let node = guard.node().to_string();
            async move {
                let g = guard;
                let why = g.lost().await;
                let state = g.state();
                // Releasing a lock lost to expiry is an error, not Ok: the release deleted
                // nothing and the lock was not held until it.
                (why, state, node, g.release().await)
            }
        });
        drop(proxy);
        let gb = soon("the other contender", waiter).await.unwrap().unwrap();
        assert_eq!(
            a.state(),
            SessionState::Expired,
            "expired before the takeover"
        );
        let (why, state, node, released) = soon("loss", lost).await.unwrap();
        assert_eq!(why, Error::SessionExpired);
        assert_eq!(state, LockState::Lost);
        assert_eq!(released, Err(Error::LockLost(LockLoss::SessionEnded)));
        assert_eq!(a.state(), SessionState::Expired);
        assert_eq!(
            b.exists(&node).await,
            Ok(None),
            "the old holder's node is gone"
        );
        assert_eq!(b.get_children("/locks/x").await.unwrap().len(), 1);
        gb.release().await.unwrap();
        b.close().await;
        server.shutdown().await;
    })
    .await;
}

/// A release right after the node was deleted behind the guard's back (no `lost()` running):
/// `LockLost(NodeGone)`, and a release of a held lock is `Ok` and deletes the node.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn release_after_loss_is_an_error() {
    bounded(async {
        let server = test_server().await;
        let a = connect(server.local_addr).await;
        let admin = connect(server.local_addr).await;
        let lock = Lock::new(&a, "/l3");
        let g = lock.acquire().await.unwrap();
        admin.delete(g.node(), -1).await.unwrap();
        // The guard has not noticed (nothing watches the node)...
        assert_eq!(g.state(), LockState::Held);
        // ...but the release does.
        assert_eq!(g.release().await, Err(Error::LockLost(LockLoss::NodeGone)));
        let g = lock.acquire().await.unwrap();
        let node = g.node().to_string();
        assert_eq!(g.release().await, Ok(()));
        assert_eq!(admin.exists(&node).await, Ok(None));
        let e = Error::LockLost(LockLoss::NodeGone);
        assert_eq!(
            e.to_string(),
            "lock already lost: the lock node was already gone"
        );
        assert_eq!(e.code(), None);
        a.close().await;
        admin.close().await;
        server.shutdown().await;
    })
    .await;
}

/// Someone deletes the lock node: `lost()` reports NoNode and the state becomes Lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lock_guard_reports_a_deleted_node() {
    bounded(async {
        let server = test_server().await;
        let a = connect(server.local_addr).await;
        let admin = connect(server.local_addr).await;
        let guard = Lock::new(&a, "/l2").acquire().await.unwrap();
        {
            let lost = guard.lost();
            tokio::pin!(lost);
            // Not lost while nothing happens (the watch is set, the future stays pending).
            assert!(tokio::time::timeout(Duration::from_millis(200), &mut lost)
                .await
                .is_err());
            admin.delete(guard.node(), -1).await.unwrap();
            assert_eq!(
                soon("loss", &mut lost).await,
                Error::Server(ErrorCode::NoNode)
            );
        }
        assert_eq!(guard.state(), LockState::Lost);
        // The release finds the node gone: the lock was lost before it, not released by it.
        assert_eq!(
            guard.release().await,
            Err(Error::LockLost(LockLoss::NodeGone))
        );
        // A closed session: Lost at once, and so is a release.
        let g = Lock::new(&a, "/l2").acquire().await.unwrap();
        a.close().await;
        assert_eq!(g.state(), LockState::Lost);
        assert_eq!(soon("loss", g.lost()).await, Error::Closed);
        assert_eq!(soon("suspended", g.suspended()).await, LockState::Lost);
        assert_eq!(
            g.release().await,
            Err(Error::LockLost(LockLoss::SessionEnded))
        );
        admin.close().await;
        server.shutdown().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lowest_child_ignores_other_names() {
    bounded(async {
        let server = test_server().await;
        let c = connect(server.local_addr).await;
        let open = Acl::open_unsafe();
        c.create("/m", b"", &open, CreateMode::Persistent)
            .await
            .unwrap();
        assert_eq!(lowest_child(&c, "/m", PREFIX).await, Ok(None));
        assert_eq!(
            lowest_child(&c, "/nowhere", PREFIX).await,
            Err(Error::Server(ErrorCode::NoNode))
        );
        for (name, data) in [
            ("json.info_0000000003", "three"),
            ("json.info_0000000010", "ten"),
            ("log_replicas", ""),
            ("aaa", ""),
            ("json.info_0000000001", "one"),
            ("json.info_", "bare"),
        ] {
            c.create(
                &format!("/m/{name}"),
                data.as_bytes(),
                &open,
                CreateMode::Persistent,
            )
            .await
            .unwrap();
        }
        let expect = |n: &str, d: &str| Some((n.to_string(), d.as_bytes().to_vec()));
        assert_eq!(
            lowest_child(&c, "/m", PREFIX).await.unwrap(),
            expect("json.info_0000000001", "one")
        );

        let mut w = watch_lowest_child(&c, "/m", PREFIX);
        assert_eq!(
            next_lowest(&mut w).await,
            expect("json.info_0000000001", "one")
        );
        // Changes that do not change the lowest child are not reported.
        c.delete("/m/json.info_0000000010", -1).await.unwrap();
        c.delete("/m/json.info_0000000001", -1).await.unwrap();
        assert_eq!(
            next_lowest(&mut w).await,
            expect("json.info_0000000003", "three")
        );
        c.delete("/m/json.info_0000000003", -1).await.unwrap();
        assert_eq!(next_lowest(&mut w).await, None);
        c.create(
            "/m/json.info_0000000007",
            b"seven",
            &open,
            CreateMode::Persistent,
        )
        .await
        .unwrap();
        assert_eq!(
            next_lowest(&mut w).await,
            expect("json.info_0000000007", "seven")
        );
        c.close().await;
        assert_eq!(soon("the stream to end", w.recv()).await, None);
        server.shutdown().await;
    })
    .await;
}
