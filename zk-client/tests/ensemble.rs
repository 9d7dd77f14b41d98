//! The client against a replicated ensemble of three in-process servers (tests/common/
//! ensemble.rs): a session moving off a stopped follower, leader failover without losing a
//! session or an acknowledged write, the election recipe across a failover, and a session
//! that will not attach to a server whose view is older than what it has seen.
//!
//! Every client reaches the servers through gates of its own, so a test chooses the server a
//! session starts on; the connect string names all three servers. Stops are clean
//! (`Server::shutdown`), which for the client is a server closing every connection.

mod common;

use std::time::Duration;

use common::ensemble::*;
use common::*;
use zk_client::recipes::{LeaderElection, LeaderState};
use zk_client::{Acl, Client, CreateMode, Error, ErrorCode, EventType, SessionState};

const SESSION: Duration = Duration::from_secs(10);

async fn wait_connected(c: &Client, what: &str) {
    assert_eq!(
        soon(what, c.wait_for_state(SessionState::Connected)).await,
        SessionState::Connected
    );
}

/// A create through `c`, retried while the connection is lost (a lost reply may hide a create
/// that was applied: `NodeExists` then counts as done).
async fn create_retrying(c: &Client, path: &str, data: &[u8]) {
    let mut lost = false;
    for _ in 0..100 {
        match c
            .create(path, data, &Acl::open_unsafe(), CreateMode::Persistent)
            .await
        {
            Ok(_) => return,
            Err(Error::Server(ErrorCode::NodeExists)) if lost => return,
            Err(Error::ConnectionLoss) => {
                lost = true;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("create {path}: {e:?}"),
        }
    }
    panic!("create {path}: connection lost 100 times");
}

/// `path`'s data as server `id` has it after a sync, through a fresh session on `id` only.
async fn read_on(ens: &Ensemble, id: u64, paths: &[String]) -> Vec<Option<Vec<u8>>> {
    let c = connect(ens.client_addr(id)).await;
    c.sync("/").await.unwrap();
    let mut out = Vec::new();
    for p in paths {
        out.push(match c.get_data(p).await {
            Ok((d, _)) => Some(d),
            Err(Error::Server(ErrorCode::NoNode)) => None,
            Err(e) => panic!("get {p} on server {id}: {e:?}"),
        });
    }
    c.close().await;
    out
}

/// 1. A session on a follower that stops moves to another server with its id, its ephemeral
///    node and its watches: watches set before the move fire for changes made after it, and a
///    watch re-set on reconnecting fires for a change made while the client was cut off.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_moves_off_a_stopped_follower_with_ephemerals_and_watches() {
    if skip_external() {
        return;
    }
    bounded_long(async {
        let (mut ens, leader) = Ensemble::start(Options::default()).await;
        let follower = ens.ids().into_iter().find(|id| *id != leader).unwrap();
        let (c, gates) = ens.client_on(follower, SESSION).await;
        let sid = c.session_id();
        assert_eq!(ens.server_of(sid).await, Some(follower));
        let mut states = c.state_events();
        assert_eq!(states.recv().await, Some(SessionState::Connected));

        let open = Acl::open_unsafe();
        c.create("/e", b"", &open, CreateMode::Ephemeral)
            .await
            .unwrap();
        c.create("/d", b"0", &open, CreateMode::Persistent)
            .await
            .unwrap();
        let (_, _, mut data_w) = c.get_data_w("/d").await.unwrap();
        let (_, mut exist_w) = c.exists_w("/later").await.unwrap();
        let (_, mut child_w) = c.get_children_w("/").await.unwrap();

        ens.stop(follower).await;
        assert_eq!(
            soon("disconnect", states.recv()).await,
            Some(SessionState::Disconnected)
        );
        assert_eq!(
            soon("the move to another server", states.recv()).await,
            Some(SessionState::Connected)
        );
        assert_eq!(c.session_id(), sid, "same session after the move");
        let now_on = ens.server_of(sid).await.expect("attached somewhere");
        assert_ne!(now_on, follower);

        // Changes after the move, by another session on the other live server.
        let third = ens.running().into_iter().find(|id| *id != now_on).unwrap();
        let (other, _g2) = ens.client_on(third, SESSION).await;
        other.set_data("/d", b"1", -1).await.unwrap();
        other
            .create("/later", b"", &open, CreateMode::Persistent)
            .await
            .unwrap();
        let e = next_event(&mut data_w).await;
        assert_eq!(
            (e.event_type, e.path.as_str()),
            (EventType::NodeDataChanged, "/d")
        );
        let e = next_event(&mut exist_w).await;
        assert_eq!(
            (e.event_type, e.path.as_str()),
            (EventType::NodeCreated, "/later")
        );
        let e = next_event(&mut child_w).await;
        assert_eq!(
            (e.event_type, e.path.as_str()),
            (EventType::NodeChildrenChanged, "/")
        );

        // The ephemeral is still the session's, on every live server.
        assert_eq!(c.get_ephemerals("/").await.unwrap(), vec!["/e"]);
        let stat = other.exists("/e").await.unwrap().expect("ephemeral kept");
        assert_eq!(stat.ephemeral_owner, sid);
        // Our own write is visible to us on the new server.
        assert_eq!(c.get_data("/d").await.unwrap().0, b"1");

        // Cut off from every server, the client misses a change; back, on whichever server
        // it reaches, its watches are re-set (setWatches2, relative to the last zxid it saw)
        // and fire for the change it missed.
        let (_, _, mut data_w) = c.get_data_w("/d").await.unwrap();
        let mut states = c.state_events();
        assert_eq!(states.recv().await, Some(SessionState::Connected));
        gates.isolate();
        assert_eq!(
            soon("disconnect", states.recv()).await,
            Some(SessionState::Disconnected)
        );
        other.set_data("/d", b"2", -1).await.unwrap();
        gates.open_all();
        assert_eq!(
            soon("reconnect", states.recv()).await,
            Some(SessionState::Connected)
        );
        let e = next_event(&mut data_w).await;
        assert_eq!(
            (e.event_type, e.path.as_str()),
            (EventType::NodeDataChanged, "/d")
        );
        assert_eq!(c.get_data("/d").await.unwrap().0, b"2");
        assert_eq!(c.session_id(), sid);

        c.close().await;
        other.sync("/").await.unwrap();
        assert_eq!(other.exists("/e").await, Ok(None), "closed session's node");
        other.close().await;
        ens.shutdown().await;
    })
    .await;
}

/// 2. The leader stops: a new one is elected among the two others; sessions on the old
///    leader and on a follower keep their ids and ephemerals; every write acknowledged before
///    (and while) the leader went away is on both remaining servers; writes succeed under the
///    new leader; the old leader comes back as a follower with everything.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leader_failover_keeps_sessions_and_acknowledged_writes() {
    if skip_external() {
        return;
    }
    bounded_long(async {
        let (mut ens, leader) = Ensemble::start(Options::default()).await;
        let follower = ens.ids().into_iter().find(|id| *id != leader).unwrap();
        let (on_leader, _g1) = ens.client_on(leader, SESSION).await;
        let (on_follower, _g2) = ens.client_on(follower, SESSION).await;
        let (sid_l, sid_f) = (on_leader.session_id(), on_follower.session_id());
        let open = Acl::open_unsafe();
        on_leader
            .create("/eph-l", b"", &open, CreateMode::Ephemeral)
            .await
            .unwrap();
        on_follower
            .create("/eph-f", b"", &open, CreateMode::Ephemeral)
            .await
            .unwrap();
        on_leader
            .create("/w", b"", &open, CreateMode::Persistent)
            .await
            .unwrap();

        // N acknowledged writes through both servers before the failover.
        let mut acked = Vec::new();
        for i in 0..40 {
            let (c, who) = if i % 2 == 0 {
                (&on_leader, "l")
            } else {
                (&on_follower, "f")
            };
            let p = format!("/w/before-{who}-{i:03}");
            c.create(&p, i.to_string().as_bytes(), &open, CreateMode::Persistent)
                .await
                .unwrap();
            acked.push(p);
        }

        // A writer that keeps going through the failover; only what it got an answer for
        // counts as acknowledged.
        let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
        let writer = tokio::spawn({
            let c = on_follower.clone();
            async move {
                let mut acked = Vec::new();
                let mut lost = 0u32;
                let mut i = 0u32;
                while !*stop_rx.borrow_and_update() {
                    let p = format!("/w/during-{i:05}");
                    i += 1;
                    match c
                        .create(&p, b"x", &Acl::open_unsafe(), CreateMode::Persistent)
                        .await
                    {
                        Ok(_) => acked.push(p),
                        Err(Error::ConnectionLoss) => {
                            lost += 1;
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                        Err(e) => panic!("writer: {e:?}"),
                    }
                }
                (acked, lost)
            }
        });
        soon("the writer to get going", async {
            while on_follower
                .exists("/w/during-00005")
                .await
                .unwrap()
                .is_none()
            {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await;

        ens.stop(leader).await;
        let new_leader = ens.wait_stable().await;
        assert_ne!(new_leader, leader);

        wait_connected(&on_leader, "the old leader's session to move").await;
        wait_connected(&on_follower, "the follower's session to come back").await;
        assert_eq!(on_leader.session_id(), sid_l);
        assert_eq!(on_follower.session_id(), sid_f);
        assert_ne!(ens.server_of(sid_l).await, Some(leader));

        // Writes succeed under the new leader, from both sessions.
        create_retrying(&on_leader, "/after-l", b"l").await;
        create_retrying(&on_follower, "/after-f", b"f").await;
        // Let the writer make progress under the new leader too, then stop it.
        let before = on_follower.get_children("/w").await.unwrap().len();
        soon("writes under the new leader", async {
            while on_follower.get_children("/w").await.unwrap().len() < before + 5 {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await;
        stop_tx.send_replace(true);
        let (during, lost) = soon("the writer", writer).await.unwrap();
        println!(
            "writer: {} acknowledged, {lost} lost with the connection",
            during.len()
        );
        acked.extend(during);
        acked.push("/after-l".into());
        acked.push("/after-f".into());

        // No acknowledged write is lost, on either remaining server; the ephemerals are
        // still there and still their sessions'.
        for id in ens.running() {
            let got = read_on(&ens, id, &acked).await;
            let missing: Vec<&String> = acked
                .iter()
                .zip(&got)
                .filter(|(_, g)| g.is_none())
                .map(|(p, _)| p)
                .collect();
            assert!(missing.is_empty(), "lost on server {id}: {missing:?}");
            let c = connect(ens.client_addr(id)).await;
            c.sync("/").await.unwrap();
            let l = c.exists("/eph-l").await.unwrap().expect("/eph-l kept");
            let f = c.exists("/eph-f").await.unwrap().expect("/eph-f kept");
            assert_eq!((l.ephemeral_owner, f.ephemeral_owner), (sid_l, sid_f));
            c.close().await;
        }
        let mut eph = on_leader.get_ephemerals("/").await.unwrap();
        eph.sort();
        assert_eq!(eph, vec!["/eph-l"]);

        // The old leader comes back as a follower and has everything.
        ens.restart(leader).await;
        assert_eq!(ens.wait_stable().await, new_leader);
        assert_eq!(ens.mode(leader).await.as_deref(), Some("follower"));
        let got = read_on(&ens, leader, &acked).await;
        assert!(got.iter().all(Option::is_some), "old leader caught up");

        on_leader.close().await;
        on_follower.close().await;
        ens.shutdown().await;
    })
    .await;
}

/// 3. The election recipe across a leader failover: three contenders on three servers; the
///    recipe leader's session is on the ensemble's leader, which stops. Its session survives
///    (it reconnects well within the timeout), so leadership does not change hands: it is
///    Suspended and then Leader again, the others never lead and are never woken (no
///    predecessor notification: no herd). Then the leader's client is cut off for longer
///    than its session timeout: the session expires (the client says so first) and exactly
///    one contender, the next in line, takes over, woken by exactly one notification.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn election_recipe_across_leader_failover_and_expiry() {
    if skip_external() {
        return;
    }
    bounded_long(async {
        let (mut ens, leader) = Ensemble::start(Options::default()).await;
        let mut order = vec![leader];
        order.extend(ens.ids().into_iter().filter(|id| *id != leader));
        let mut clients = Vec::new();
        let mut es = Vec::new();
        for (i, id) in order.iter().enumerate() {
            let (c, gates) = ens.client_on(*id, Duration::from_secs(6)).await;
            let e = LeaderElection::join(&c, "/election", "member_", format!("{i}").as_bytes())
                .await
                .unwrap();
            clients.push((c, gates));
            es.push(e);
        }
        assert_eq!(
            es.iter().map(|e| e.state()).collect::<Vec<_>>(),
            vec![
                LeaderState::Leader,
                LeaderState::NotLeader,
                LeaderState::NotLeader
            ]
        );
        let nodes = {
            let mut v = clients[1].0.get_children("/election").await.unwrap();
            v.sort();
            v
        };
        assert_eq!(nodes.len(), 3);

        // Every state each contender publishes, in order, from now on.
        let seen: Vec<_> = es
            .iter()
            .map(|e| {
                let mut rx = e.states();
                tokio::spawn(async move {
                    let mut v = vec![*rx.borrow_and_update()];
                    while rx.changed().await.is_ok() {
                        v.push(*rx.borrow_and_update());
                    }
                    v
                })
            })
            .collect();

        let sid0 = clients[0].0.session_id();
        ens.stop(leader).await;
        let mut rx0 = es[0].states();
        soon(
            "the recipe leader's suspension",
            rx0.wait_for(|s| *s == LeaderState::Suspended),
        )
        .await
        .unwrap();
        ens.wait_stable().await;
        for (c, _) in &clients {
            wait_connected(c, "the contenders' sessions").await;
        }
        assert_eq!(clients[0].0.session_id(), sid0, "session survived");
        assert_eq!(
            soon("leadership back", es[0].wait_leader()).await,
            LeaderState::Leader
        );
        for e in &es[1..] {
            let mut rx = e.states();
            soon(
                "the others to settle",
                rx.wait_for(|s| *s == LeaderState::NotLeader),
            )
            .await
            .unwrap();
        }
        // Give a spurious wake-up time to show.
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(
            es.iter()
                .map(|e| e.predecessor_notifications())
                .collect::<Vec<_>>(),
            vec![0, 0, 0],
            "nobody was woken"
        );
        assert_eq!(
            es.iter().map(|e| e.state()).collect::<Vec<_>>(),
            vec![
                LeaderState::Leader,
                LeaderState::NotLeader,
                LeaderState::NotLeader
            ]
        );
        let mut now = clients[1].0.get_children("/election").await.unwrap();
        now.sort();
        assert_eq!(now, nodes, "no contender's node changed");

        // The recipe leader's client is cut off from every server: its session expires.
        clients[0].1.isolate();
        assert_eq!(
            soon("the new recipe leader", es[1].wait_leader()).await,
            LeaderState::Leader
        );
        assert_eq!(
            clients[0].0.state(),
            SessionState::Expired,
            "the old leader's client knew its session was gone before the takeover"
        );
        let mut rx0 = es[0].states();
        soon("Lost", rx0.wait_for(|s| *s == LeaderState::Lost))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(es[1].predecessor_notifications(), 1);
        assert_eq!(es[2].predecessor_notifications(), 0, "no herd");
        assert_eq!(es[2].state(), LeaderState::NotLeader);
        let leaders: Vec<usize> = (0..3).filter(|i| es[*i].is_leader()).collect();
        assert_eq!(leaders, vec![1], "exactly one leader");

        let (c1, c2) = (clients[1].0.clone(), clients[2].0.clone());
        drop(es);
        let histories: Vec<Vec<LeaderState>> = {
            let mut v = Vec::new();
            for h in seen {
                v.push(soon("state histories", h).await.unwrap());
            }
            v
        };
        println!("state histories: {histories:?}");
        assert!(
            !histories[2].contains(&LeaderState::Leader),
            "contender 2 never led: {:?}",
            histories[2]
        );
        // Contender 1 led once, at the end: not during the failover.
        assert_eq!(
            histories[1]
                .iter()
                .filter(|s| **s == LeaderState::Leader)
                .count(),
            1,
            "{histories:?}"
        );
        assert_eq!(histories[1].last(), Some(&LeaderState::Leader));
        assert!(
            histories[0].ends_with(&[LeaderState::Lost]),
            "{:?}",
            histories[0]
        );
        c1.close().await;
        c2.close().await;
        ens.shutdown().await;
    })
    .await;
}

/// 4. "Never reconnect to a server whose view is older than what the client has seen." A
///    follower's quorum links are paused (it keeps serving, but stops hearing from its
///    leader); the client writes elsewhere, then may only reach that follower: the follower
///    refuses it (the client's lastZxidSeen is ahead of it), again and again, and the client
///    stays Disconnected rather than read an older state. With the leader reachable too, it
///    skips the follower and attaches to the leader. Once the links resume the follower
///    catches up, the client attaches to it with the same session, and reads its own write
///    without a sync.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn never_attaches_to_a_server_behind_what_it_has_seen() {
    if skip_external() {
        return;
    }
    bounded_long(async {
        // A follower may go 30 ticks (6 s) without hearing from its leader before it gives
        // up: long enough for the lagging one to keep serving while it is paused.
        let (ens, leader) = Ensemble::start(Options {
            sync_limit: 30,
            ..Options::default()
        })
        .await;
        let followers: Vec<u64> = ens.ids().into_iter().filter(|id| *id != leader).collect();
        let (home, lagging) = (followers[0], followers[1]);
        let (c, gates) = ens.client_on(home, SESSION).await;
        let sid = c.session_id();
        let open = Acl::open_unsafe();
        c.create("/v", b"0", &open, CreateMode::Persistent)
            .await
            .unwrap();
        c.create("/e", b"", &open, CreateMode::Ephemeral)
            .await
            .unwrap();
        // The lagging follower has everything so far.
        soon("the follower to have /v", async {
            while read_on(&ens, lagging, &["/v".to_string()]).await[0].is_none() {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await;

        ens.pause_links_of(lagging, true);
        let stat = c.set_data("/v", b"1", -1).await.unwrap();
        let seen = stat.mzxid;
        let lag_srvr = ens
            .srvr(lagging)
            .await
            .expect("the lagging follower serves");
        let lag_zxid = srvr_zxid(&lag_srvr).unwrap();
        assert!(
            lag_zxid < seen,
            "follower at {lag_zxid:#x}, client has seen {seen:#x}"
        );

        // Only the lagging follower can be reached now.
        let mut states = c.state_events();
        assert_eq!(states.recv().await, Some(SessionState::Connected));
        gates.open_only(lagging);
        gates.gate(home).sever();
        assert_eq!(
            soon("disconnect", states.recv()).await,
            Some(SessionState::Disconnected)
        );
        let tried = gates.gate(lagging).relayed();
        soon("attempts at the lagging follower", async {
            while gates.gate(lagging).relayed() < tried + 3 {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await;
        assert_eq!(c.state(), SessionState::Disconnected, "refused every time");
        // It was refused for being behind, not for not serving.
        let lag_srvr = ens.srvr(lagging).await.expect("still serving");
        assert_eq!(srvr_zxid(&lag_srvr), Some(lag_zxid), "still behind");
        assert_eq!(ens.server_of(sid).await, None);

        // The leader becomes reachable too: the client skips the lagging follower and
        // attaches there.
        gates.gate(leader).set_open(true);
        assert_eq!(
            soon("the session on the leader", states.recv()).await,
            Some(SessionState::Connected),
            "no state change between the refusals"
        );
        assert_eq!(c.session_id(), sid);
        assert_eq!(ens.server_of(sid).await, Some(leader));
        assert_eq!(c.get_data("/v").await.unwrap().0, b"1");
        let lag_srvr = ens.srvr(lagging).await.expect("still serving");
        assert_eq!(srvr_zxid(&lag_srvr), Some(lag_zxid), "still behind");

        // The follower catches up once its links resume (to everything the client may have
        // seen on the leader); then it takes the session.
        let target = srvr_zxid(&ens.srvr(leader).await.unwrap())
            .unwrap()
            .max(seen);
        ens.pause_links_of(lagging, false);
        soon("the follower to catch up", async {
            loop {
                let z = ens.srvr(lagging).await.as_deref().and_then(srvr_zxid);
                if z.is_some_and(|z| z >= target) {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await;
        gates.open_only(lagging);
        gates.gate(leader).sever();
        assert_eq!(
            soon("disconnect", states.recv()).await,
            Some(SessionState::Disconnected)
        );
        assert_eq!(
            soon("the session on the caught-up follower", states.recv()).await,
            Some(SessionState::Connected)
        );
        assert_eq!(c.session_id(), sid);
        assert_eq!(ens.server_of(sid).await, Some(lagging));
        assert_eq!(c.get_data("/v").await.unwrap().0, b"1", "read your write");
        assert!(c.exists("/e").await.unwrap().is_some());
        let srvr = ens.srvr(lagging).await.unwrap();
        assert!(srvr_zxid(&srvr).unwrap() >= seen);

        c.close().await;
        ens.shutdown().await;
    })
    .await;
}
