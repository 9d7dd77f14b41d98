//! Protected creates (`_c_<uuid>-name`, Curator's format) under injected connection loss: the
//! connection drops around the create, before the server sees it or after the server applied
//! it but before the reply arrives; either way exactly one node exists afterwards. The lock and
//! election recipes create their nodes this way.

mod common;

use common::*;
use zk_client::recipes::{LeaderElection, LeaderState, Lock, LockState};
use zk_client::{Acl, Client, CreateMode, Error};

fn open() -> Vec<Acl> {
    Acl::open_unsafe()
}

async fn through(proxy: &CutProxy) -> Client {
    connect(proxy.addr).await
}

fn assert_protected(path: &str, parent: &str, name: &str) {
    let base = path
        .strip_prefix(parent)
        .and_then(|p| p.strip_prefix('/'))
        .unwrap_or_else(|| panic!("{path} is not under {parent}"));
    assert!(base.starts_with("_c_"), "{base}");
    assert_eq!(&base[39..40], "-", "{base}");
    assert!(base[40..].starts_with(name), "{base}");
}

#[tokio::test]
async fn a_lost_reply_is_found_not_repeated() {
    if skip_external() {
        return;
    }
    bounded(async {
        let server = start().await;
        let proxy = CutProxy::start(server.local_addr).await;
        let c = through(&proxy).await;
        c.create("/p", b"", &open(), CreateMode::Persistent)
            .await
            .unwrap();

        // The injection works: a plain create loses its reply yet was applied.
        proxy.arm(Cut::Reply, "/p/plain-");
        assert_eq!(
            c.create("/p/plain-", b"", &open(), CreateMode::EphemeralSequential)
                .await,
            Err(Error::ConnectionLoss)
        );
        assert_eq!(proxy.cuts(), 1);
        assert_eq!(
            c.get_children("/p").await.unwrap(),
            vec!["plain-0000000000"]
        );

        proxy.arm(Cut::Reply, "n-");
        let path = c
            .create_protected_ephemeral_sequential("/p/n-", b"x", &open())
            .await
            .unwrap();
        assert_eq!(proxy.cuts(), 2, "the reply was cut");
        assert_protected(&path, "/p", "n-0000000001");
        let mut kids = c.get_children("/p").await.unwrap();
        kids.sort();
        assert_eq!(kids.len(), 2, "one protected node, not two: {kids:?}");
        assert_eq!(format!("/p/{}", kids[0]), path);
        let (data, stat) = c.get_data(&path).await.unwrap();
        assert_eq!(data, b"x");
        assert_eq!(stat.ephemeral_owner, c.session_id());
        c.close().await;
        server.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn a_lost_request_is_created_again_once() {
    if skip_external() {
        return;
    }
    bounded(async {
        let server = start().await;
        let proxy = CutProxy::start(server.local_addr).await;
        let c = through(&proxy).await;
        proxy.arm(Cut::Request, "_c_");
        // At the root, in a persistent mode: the parent of `/n` is `/`.
        let path = c
            .create_protected("/n", b"", &open(), CreateMode::Persistent)
            .await
            .unwrap();
        assert_eq!(proxy.cuts(), 1, "the request was cut");
        assert_protected(&path, "", "n");
        let ours: Vec<String> = c
            .get_children("/")
            .await
            .unwrap()
            .into_iter()
            .filter(|k| k.starts_with("_c_"))
            .collect();
        assert_eq!(ours.len(), 1, "{ours:?}");
        assert_eq!(format!("/{}", ours[0]), path);
        assert!(matches!(
            c.create_protected("/t", b"", &open(), CreateMode::Container)
                .await,
            Err(Error::BadArguments(_))
        ));
        c.close().await;
        server.shutdown().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recipes_survive_a_lost_create_reply() {
    if skip_external() {
        return;
    }
    bounded(async {
        let server = start().await;
        let proxy = CutProxy::start(server.local_addr).await;
        let c = through(&proxy).await;
        let other = connect(server.local_addr).await;

        proxy.arm(Cut::Reply, "lock-");
        let guard = Lock::new(&c, "/locks/r").acquire().await.unwrap();
        assert_eq!(proxy.cuts(), 1);
        assert_eq!(guard.state(), LockState::Held);
        let kids = other.get_children("/locks/r").await.unwrap();
        assert_eq!(
            kids.len(),
            1,
            "exactly one node for the contender: {kids:?}"
        );
        assert_eq!(format!("/locks/r/{}", kids[0]), guard.node());
        assert_protected(guard.node(), "/locks/r", "lock-");
        // The other client waits behind it, and gets it on release.
        let waiter = tokio::spawn({
            let other = other.clone();
            async move { Lock::new(&other, "/locks/r").acquire().await }
        });
        guard.release().await.unwrap();
        let g2 = soon("the lock", waiter).await.unwrap().unwrap();
        g2.release().await.unwrap();

        proxy.arm(Cut::Reply, "latch-");
        let e = LeaderElection::join(&c, "/leader", "latch-", b"a")
            .await
            .unwrap();
        assert_eq!(proxy.cuts(), 2);
        assert_eq!(e.state(), LeaderState::Leader);
        let e2 = LeaderElection::join(&other, "/leader", "latch-", b"b")
            .await
            .unwrap();
        assert_eq!(e2.state(), LeaderState::NotLeader);
        let kids = other.get_children("/leader").await.unwrap();
        assert_eq!(kids.len(), 2, "one node per contender: {kids:?}");
        assert_protected(e.node(), "/leader", "latch-");

        // Mesos names stay plain.
        let m = LeaderElection::join_unprotected(&other, "/mesos", "json.info_", b"m")
            .await
            .unwrap();
        assert_eq!(m.node(), "/mesos/json.info_0000000000");
        e.resign().await.unwrap();
        assert_eq!(
            soon("succession", e2.wait_leader()).await,
            LeaderState::Leader
        );
        c.close().await;
        other.close().await;
        server.shutdown().await;
    })
    .await;
}
