//! One-shot, persistent and persistent-recursive watches against a real server (in-process,
//! or `ZK_TEST_SERVER`: see common/mod.rs).

mod common;

use common::*;
use zk_client::{
    Acl, AddWatchMode, CreateMode, Error, ErrorCode, EventType, SessionState, WatcherType,
};

fn open() -> Vec<Acl> {
    Acl::open_unsafe()
}

#[tokio::test]
async fn one_shot_watches() {
    bounded(async {
        let server = test_server().await;
        let c = connect(server.local_addr).await;
        let other = connect(server.local_addr).await;

        // exists on a missing node: NodeCreated.
        let (stat, mut w) = c.exists_w("/n").await.unwrap();
        assert_eq!(stat, None);
        other
            .create("/n", b"", &open(), CreateMode::Persistent)
            .await
            .unwrap();
        let e = next_event(&mut w).await;
        assert_eq!(
            (e.event_type, e.path.as_str()),
            (EventType::NodeCreated, "/n")
        );
        if server_is_3_8_0() {
            // ZOOKEEPER-4655 (3.9.0): before it, notifications carry no zxid (-1 in the header).
            assert_eq!(e.zxid, -1);
        } else {
            assert_eq!(e.zxid, c.exists("/n").await.unwrap().unwrap().czxid);
        }
        // One-shot: the stream ends after its event.
        assert_eq!(w.recv().await, None);

        // getData: NodeDataChanged once.
        let (_, _, mut w) = c.get_data_w("/n").await.unwrap();
        other.set_data("/n", b"1", -1).await.unwrap();
        other.set_data("/n", b"2", -1).await.unwrap();
        let e = next_event(&mut w).await;
        assert_eq!(e.event_type, EventType::NodeDataChanged);
        assert_eq!(w.recv().await, None);

        // getChildren: NodeChildrenChanged, then the node's deletion to an exists watch.
        let (kids, mut cw) = c.get_children_w("/n").await.unwrap();
        assert!(kids.is_empty());
        let (_, mut ew) = c.exists_w("/n").await.unwrap();
        other
            .create("/n/k", b"", &open(), CreateMode::Persistent)
            .await
            .unwrap();
        let e = next_event(&mut cw).await;
        assert_eq!(
            (e.event_type, e.path.as_str()),
            (EventType::NodeChildrenChanged, "/n")
        );
        other.delete("/n/k", -1).await.unwrap();
        other.delete("/n", -1).await.unwrap();
        let e = next_event(&mut ew).await;
        assert_eq!(e.event_type, EventType::NodeDeleted);

        // A failed getData leaves no watch.
        assert_eq!(
            c.get_data_w("/n").await.map(|_| ()),
            Err(Error::Server(ErrorCode::NoNode))
        );
        c.close().await;
        other.close().await;
        server.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn persistent_and_recursive_watches() {
    bounded(async {
        let server = test_server().await;
        let c = connect(server.local_addr).await;
        let other = connect(server.local_addr).await;
        other
            .create("/w", b"", &open(), CreateMode::Persistent)
            .await
            .unwrap();
        let mut pw = c.add_watch("/w", AddWatchMode::Persistent).await.unwrap();
        let mut rw = c
            .add_watch("/w", AddWatchMode::PersistentRecursive)
            .await
            .unwrap();
        other.set_data("/w", b"1", -1).await.unwrap();
        other
            .create("/w/a", b"", &open(), CreateMode::Persistent)
            .await
            .unwrap();
        other
            .create("/w/a/b", b"", &open(), CreateMode::Persistent)
            .await
            .unwrap();
        other.set_data("/w", b"2", -1).await.unwrap();

        if server_is_3_8_0() {
            // ZOOKEEPER-4466 (3.9.0): before it, a session holds one watch mode per path, so
            // the recursive watch added second replaces the persistent one on the server, and
            // recursive watches get no NodeChildrenChanged: the persistent stream sees only the
            // data changes.
            let got: Vec<_> = [next_event(&mut pw).await, next_event(&mut pw).await]
                .into_iter()
                .map(|e| (e.event_type, e.path))
                .collect();
            assert_eq!(
                got,
                vec![
                    (EventType::NodeDataChanged, "/w".to_owned()),
                    (EventType::NodeDataChanged, "/w".to_owned()),
                ]
            );
        } else {
            let got: Vec<_> = [
                next_event(&mut pw).await,
                next_event(&mut pw).await,
                next_event(&mut pw).await,
            ]
            .into_iter()
            .map(|e| (e.event_type, e.path))
            .collect();
            assert_eq!(
                got,
                vec![
                    (EventType::NodeDataChanged, "/w".to_owned()),
                    (EventType::NodeChildrenChanged, "/w".to_owned()),
                    (EventType::NodeDataChanged, "/w".to_owned()),
                ]
            );
        }
        let got: Vec<_> = [
            next_event(&mut rw).await,
            next_event(&mut rw).await,
            next_event(&mut rw).await,
            next_event(&mut rw).await,
        ]
        .into_iter()
        .map(|e| (e.event_type, e.path))
        .collect();
        assert_eq!(
            got,
            vec![
                (EventType::NodeDataChanged, "/w".to_owned()),
                (EventType::NodeCreated, "/w/a".to_owned()),
                (EventType::NodeCreated, "/w/a/b".to_owned()),
                (EventType::NodeDataChanged, "/w".to_owned()),
            ]
        );

        if server_is_3_8_0() {
            // ZOOKEEPER-4472 (3.9.0) added the Persistent and PersistentRecursive watcher types
            // to removeWatches; 3.8 fails to decode them and answers MarshallingError.
            assert_eq!(
                c.remove_watches("/w", WatcherType::Persistent).await,
                Err(Error::Server(ErrorCode::MarshallingError))
            );
        } else {
            c.remove_watches("/w", WatcherType::Persistent)
                .await
                .unwrap();
            assert_eq!(pw.recv().await, None, "a removed watch's stream ends");
            assert_eq!(
                c.remove_watches("/w", WatcherType::Persistent).await,
                Err(Error::Server(ErrorCode::NoWatcher))
            );
        }
        other.delete("/w/a/b", -1).await.unwrap();
        let e = next_event(&mut rw).await;
        assert_eq!(
            (e.event_type, e.path.as_str()),
            (EventType::NodeDeleted, "/w/a/b")
        );
        c.close().await;
        other.close().await;
        server.shutdown().await;
    })
    .await;
}

/// `remove_watches_local` (zkCli's `removewatches -l`): asks the server when it can; when it
/// cannot, removes the client's watches anyway, so they are not re-set after the reconnect.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remove_watches_local_without_a_server() {
    if skip_external() {
        return;
    }
    bounded(async {
        let server = start().await;
        let proxy = Proxy::start(server.local_addr).await;
        let c = connect(proxy.addr).await;
        c.create("/a", b"", &Acl::open_unsafe(), CreateMode::Persistent)
            .await
            .unwrap();
        let (_, _, mut data) = c.get_data_w("/a").await.unwrap();
        let (_, mut kids) = c.get_children_w("/a").await.unwrap();
        // Connected: the server removes it.
        assert_eq!(
            c.remove_watches_local("/a", WatcherType::Children).await,
            Ok(None)
        );
        assert_eq!(kids.recv().await, None, "the stream ends");
        // No server reachable: removed on the client only.
        proxy.set_open(false);
        proxy.sever();
        assert_eq!(
            soon("disconnect", c.wait_for_state(SessionState::Disconnected)).await,
            SessionState::Disconnected
        );
        assert_eq!(
            c.remove_watches_local("/a", WatcherType::Data).await,
            Ok(Some(Error::ConnectionLoss))
        );
        assert_eq!(data.recv().await, None, "the stream ends");
        assert_eq!(
            c.remove_watches_local("/a", WatcherType::Data).await,
            Err(Error::Server(ErrorCode::NoWatcher))
        );
        // Back: setWatches2 did not re-set it, so the server holds none either.
        proxy.set_open(true);
        assert_eq!(
            soon("reconnect", c.wait_for_state(SessionState::Connected)).await,
            SessionState::Connected
        );
        assert_eq!(
            c.remove_watches("/a", WatcherType::Data).await,
            Err(Error::Server(ErrorCode::NoWatcher))
        );
        c.close().await;
        server.shutdown().await;
    })
    .await;
}
