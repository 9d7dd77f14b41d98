//! Every API call against a real server (in-process, or `ZK_TEST_SERVER`: see common/mod.rs),
//! with exact results and error codes.

mod common;

use common::*;
use zk_client::{
    Acl, Client, CreateMode, Error, ErrorCode, Op, OpResult, Perms, ReadOp, SessionState,
};

fn open() -> Vec<Acl> {
    Acl::open_unsafe()
}

/// `connected_host` names the server the session is on (as the connect string spells it),
/// and nothing once the session is closed.
#[tokio::test]
async fn connected_host_names_the_server() {
    bounded(async {
        let server = test_server().await;
        let c = connect(server.local_addr).await;
        // (An external server's connect string may end with a chroot.)
        let host = server.local_addr.split('/').next().unwrap();
        assert_eq!(c.connected_host().as_deref(), Some(host));
        c.close().await;
        assert_eq!(c.connected_host(), None);
    })
    .await;
}

#[tokio::test]
async fn create_get_set_delete() {
    bounded(async {
        let server = test_server().await;
        let c = connect(server.local_addr).await;
        assert_eq!(c.state(), SessionState::Connected);

        assert_eq!(
            c.create("/a", b"1", &open(), CreateMode::Persistent).await,
            Ok("/a".to_owned())
        );
        assert_eq!(
            c.create("/a", b"1", &open(), CreateMode::Persistent).await,
            Err(Error::Server(ErrorCode::NodeExists))
        );
        assert_eq!(
            c.create("/x/y", b"", &open(), CreateMode::Persistent).await,
            Err(Error::Server(ErrorCode::NoNode))
        );
        assert!(matches!(
            c.create("bad", b"", &open(), CreateMode::Persistent).await,
            Err(Error::BadArguments(_))
        ));
        let (p, stat) = c
            .create2("/b", b"xyz", &open(), CreateMode::Persistent)
            .await
            .unwrap();
        assert_eq!(p, "/b");
        assert_eq!(
            (stat.version, stat.data_length, stat.num_children),
            (0, 3, 0)
        );
        assert_eq!(stat.czxid, stat.mzxid);

        let (data, st) = c.get_data("/a").await.unwrap();
        assert_eq!(data, b"1");
        assert_eq!(st.version, 0);
        let st = c.set_data("/a", b"22", 0).await.unwrap();
        assert_eq!((st.version, st.data_length), (1, 2));
        assert_eq!(
            c.set_data("/a", b"3", 0).await,
            Err(Error::Server(ErrorCode::BadVersion))
        );
        assert_eq!(c.set_data("/a", b"3", -1).await.unwrap().version, 2);
        assert_eq!(
            c.get_data("/nope").await,
            Err(Error::Server(ErrorCode::NoNode))
        );

        assert_eq!(c.exists("/nope").await, Ok(None));
        assert_eq!(c.exists("/a").await.unwrap().unwrap().version, 2);

        c.create("/a/c1", b"", &open(), CreateMode::Persistent)
            .await
            .unwrap();
        c.create("/a/c2", b"", &open(), CreateMode::Persistent)
            .await
            .unwrap();
        c.create("/a/c1/g", b"", &open(), CreateMode::Persistent)
            .await
            .unwrap();
        let mut kids = c.get_children("/a").await.unwrap();
        kids.sort();
        assert_eq!(kids, vec!["c1", "c2"]);
        let (mut kids, st) = c.get_children2("/a").await.unwrap();
        kids.sort();
        assert_eq!(kids, vec!["c1", "c2"]);
        assert_eq!(st.num_children, 2);
        assert_eq!(c.get_all_children_number("/a").await, Ok(3));
        assert_eq!(
            c.get_children("/nope").await,
            Err(Error::Server(ErrorCode::NoNode))
        );

        assert_eq!(
            c.delete("/a/c1", -1).await,
            Err(Error::Server(ErrorCode::NotEmpty))
        );
        assert_eq!(
            c.delete("/a/c2", 5).await,
            Err(Error::Server(ErrorCode::BadVersion))
        );
        assert_eq!(c.delete("/a/c2", 0).await, Ok(()));
        assert_eq!(
            c.delete("/a/c2", -1).await,
            Err(Error::Server(ErrorCode::NoNode))
        );
        assert_eq!(c.sync("/a").await, Ok(()));
        c.close().await;
        assert_eq!(c.state(), SessionState::Closed);
        assert_eq!(c.get_data("/a").await, Err(Error::Closed));
        server.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn create_modes() {
    bounded(async {
        let server = test_server().await;
        let c = connect(server.local_addr).await;
        c.create("/s", b"", &open(), CreateMode::Persistent)
            .await
            .unwrap();
        assert_eq!(
            c.create("/s/n-", b"", &open(), CreateMode::PersistentSequential)
                .await,
            Ok("/s/n-0000000000".to_owned())
        );
        assert_eq!(
            c.create("/s/n-", b"", &open(), CreateMode::EphemeralSequential)
                .await,
            Ok("/s/n-0000000001".to_owned())
        );
        c.create("/s/e", b"", &open(), CreateMode::Ephemeral)
            .await
            .unwrap();
        let owner = c.exists("/s/e").await.unwrap().unwrap().ephemeral_owner;
        assert_ne!(owner, 0);
        assert_eq!(
            c.create("/s/e/child", b"", &open(), CreateMode::Persistent)
                .await,
            Err(Error::Server(ErrorCode::NoChildrenForEphemerals))
        );
        let mut eph = c.get_ephemerals("/").await.unwrap();
        eph.sort();
        assert_eq!(eph, vec!["/s/e", "/s/n-0000000001"]);
        assert_eq!(c.get_ephemerals("/s/e").await.unwrap(), vec!["/s/e"]);

        let (p, st) = c
            .create2("/ctr", b"", &open(), CreateMode::Container)
            .await
            .unwrap();
        assert_eq!(p, "/ctr");
        // Clients see 0 as the owner of containers and TTL nodes (DataNode.copyStat).
        assert_eq!(st.ephemeral_owner, 0);
        let (p, st) = c
            .create_ttl("/ttl", b"", &open(), CreateMode::PersistentWithTtl, 60_000)
            .await
            .unwrap();
        assert_eq!(p, "/ttl");
        assert_eq!(st.ephemeral_owner, 0);
        let (p, _) = c
            .create_ttl(
                "/ttl-",
                b"",
                &open(),
                CreateMode::PersistentSequentialWithTtl,
                60_000,
            )
            .await
            .unwrap();
        assert!(p.starts_with("/ttl-00000"), "{p}");
        assert!(matches!(
            c.create2("/t2", b"", &open(), CreateMode::PersistentWithTtl)
                .await,
            Err(Error::BadArguments(_))
        ));
        assert!(matches!(
            c.create_ttl("/t3", b"", &open(), CreateMode::Persistent, 5)
                .await,
            Err(Error::BadArguments(_))
        ));
        assert_eq!(
            c.create_ttl("/t4", b"", &open(), CreateMode::PersistentWithTtl, 0)
                .await
                .map(|r| r.0),
            Err(Error::Server(ErrorCode::BadArguments))
        );

        // The ephemerals go with the session.
        c.close().await;
        let c2 = connect(server.local_addr).await;
        assert_eq!(c2.get_children("/s").await.unwrap(), vec!["n-0000000000"]);
        c2.close().await;
        server.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn acls_and_auth() {
    bounded(async {
        let server = test_server().await;
        let c = connect(server.local_addr).await;
        assert_eq!(
            c.whoami()
                .await
                .unwrap()
                .iter()
                .map(|i| i.auth_scheme.as_str())
                .collect::<Vec<_>>(),
            vec!["ip"]
        );
        c.add_auth("digest", b"alice:secret").await.unwrap();
        let who = c.whoami().await.unwrap();
        assert!(who
            .iter()
            .any(|i| i.auth_scheme == "digest" && i.user == "alice"));
        let creator = vec![Acl::new(Perms::ALL, "auth", "")];
        c.create("/private", b"p", &creator, CreateMode::Persistent)
            .await
            .unwrap();
        let (acl, st) = c.get_acl("/private").await.unwrap();
        assert_eq!(acl.len(), 1);
        assert_eq!(acl[0].id.scheme, "digest");
        assert!(acl[0].id.id.starts_with("alice:"));
        assert_eq!(st.aversion, 0);

        let other = connect(server.local_addr).await;
        assert_eq!(
            other.get_data("/private").await,
            Err(Error::Server(ErrorCode::NoAuth))
        );
        assert_eq!(
            c.set_acl("/private", &Acl::read_unsafe(), 1).await,
            Err(Error::Server(ErrorCode::BadVersion))
        );
        let st = c.set_acl("/private", &Acl::read_unsafe(), 0).await.unwrap();
        assert_eq!(st.aversion, 1);
        assert_eq!(other.get_data("/private").await.unwrap().0, b"p");
        assert_eq!(
            other.set_data("/private", b"q", -1).await,
            Err(Error::Server(ErrorCode::NoAuth))
        );
        assert_eq!(
            c.set_acl("/private", &[], -1).await,
            Err(Error::Server(ErrorCode::InvalidAcl))
        );
        other.close().await;
        c.close().await;
        server.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn multi_and_multi_read() {
    bounded(async {
        let server = test_server().await;
        let c = connect(server.local_addr).await;
        let res = c
            .multi(&[
                Op::create("/m", b"0", open(), CreateMode::Persistent),
                Op::create("/m/k", b"", open(), CreateMode::Persistent),
                Op::set_data("/m", b"1", 0),
                Op::check("/m", 1),
            ])
            .await
            .unwrap();
        assert_eq!(res.len(), 4);
        if server_is_3_8_0() {
            // ZOOKEEPER-4026 (fixed in 3.8.2/3.9.0): before it, a create inside a multi is
            // answered as a plain create, without the stat a create2 carries.
            assert!(matches!(&res[0], OpResult::Create { path, stat: None } if path == "/m"));
        } else {
            assert!(matches!(&res[0], OpResult::Create { path, stat: Some(_) } if path == "/m"));
        }
        assert!(matches!(&res[2], OpResult::SetData(st) if st.version == 1));
        assert_eq!(res[3], OpResult::Check);

        // All or nothing: the failing check undoes the create before it.
        let ops = [
            Op::create("/m/new", b"", open(), CreateMode::Persistent),
            Op::check("/m", 7),
            Op::delete("/m/k", -1),
        ];
        assert_eq!(
            c.multi(&ops).await,
            Err(Error::Server(ErrorCode::BadVersion))
        );
        assert_eq!(
            c.try_multi(&ops).await.unwrap(),
            vec![
                OpResult::Error(ErrorCode::Ok),
                OpResult::Error(ErrorCode::BadVersion),
                OpResult::Error(ErrorCode::RuntimeInconsistency),
            ]
        );
        assert_eq!(c.exists("/m/new").await, Ok(None));
        assert_eq!(
            c.multi(&[Op::delete("/m/k", -1), Op::delete("/m", -1)])
                .await
                .unwrap(),
            vec![OpResult::Delete, OpResult::Delete]
        );

        c.create("/r", b"d", &open(), CreateMode::Persistent)
            .await
            .unwrap();
        c.create("/r/x", b"", &open(), CreateMode::Persistent)
            .await
            .unwrap();
        let res = c
            .multi_read(&[
                ReadOp::GetData("/r".into()),
                ReadOp::GetChildren("/r".into()),
                ReadOp::GetData("/missing".into()),
            ])
            .await
            .unwrap();
        assert!(matches!(&res[0], OpResult::GetData { data, .. } if data == b"d"));
        assert_eq!(res[1], OpResult::GetChildren(vec!["x".into()]));
        assert_eq!(res[2], OpResult::Error(ErrorCode::NoNode));
        c.close().await;
        server.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn chroot() {
    bounded(async {
        let server = test_server().await;
        let root = connect(server.local_addr).await;
        root.create("/app", b"", &open(), CreateMode::Persistent)
            .await
            .unwrap();
        let c = Client::connect(&format!("{}/app", server.local_addr))
            .await
            .unwrap();
        assert_eq!(
            c.create("/a", b"1", &open(), CreateMode::Persistent).await,
            Ok("/a".to_owned())
        );
        assert_eq!(
            c.create2("/s-", b"", &open(), CreateMode::EphemeralSequential)
                .await
                .unwrap()
                .0,
            "/s-0000000001"
        );
        assert_eq!(root.get_data("/app/a").await.unwrap().0, b"1");
        let mut kids = c.get_children("/").await.unwrap();
        kids.sort();
        assert_eq!(kids, vec!["a", "s-0000000001"]);
        assert_eq!(c.get_ephemerals("/").await.unwrap(), vec!["/s-0000000001"]);
        let res = c
            .multi(&[Op::create("/b", b"", open(), CreateMode::Persistent)])
            .await
            .unwrap();
        assert!(matches!(&res[0], OpResult::Create { path, .. } if path == "/b"));
        let (_, _, mut w) = c.get_data_w("/a").await.unwrap();
        root.set_data("/app/a", b"2", -1).await.unwrap();
        let e = next_event(&mut w).await;
        assert_eq!(e.path, "/a");
        assert_eq!(e.event_type, zk_client::EventType::NodeDataChanged);
        c.close().await;
        root.close().await;
        server.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn pipelining_keeps_order() {
    bounded(async {
        let server = test_server().await;
        let c = connect(server.local_addr).await;
        c.create("/p", b"", &open(), CreateMode::Persistent)
            .await
            .unwrap();
        // 1000 sequential creates in flight at once: they complete in the order sent, so the
        // sequence numbers come back ascending.
        let futs: Vec<_> = (0..1000)
            .map(|_| {
                let c = c.clone();
                tokio::spawn(async move {
                    c.create(
                        "/p/n-",
                        b"",
                        &Acl::open_unsafe(),
                        CreateMode::PersistentSequential,
                    )
                    .await
                })
            })
            .collect();
        let mut paths = Vec::new();
        for f in futs {
            paths.push(f.await.unwrap().unwrap());
        }
        let mut sorted = paths.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), 1000);
        assert_eq!(c.get_all_children_number("/p").await, Ok(1000));

        // Issued from one task without awaiting in between: strict order.
        let calls: Vec<_> = (0..1000)
            .map(|i| {
                let c = c.clone();
                async move { c.set_data("/p", format!("{i}").as_bytes(), -1).await }
            })
            .collect();
        let stats = join_in_order(calls).await;
        for (i, st) in stats.iter().enumerate() {
            assert_eq!(st.as_ref().unwrap().version, i as i32 + 1);
        }
        c.close().await;
        server.shutdown().await;
    })
    .await;
}

/// Polls every future once in order (so their requests are sent in that order), then awaits all.
async fn join_in_order<F: std::future::Future>(futs: Vec<F>) -> Vec<F::Output> {
    let mut pinned: Vec<_> = futs.into_iter().map(Box::pin).collect();
    let mut out: Vec<Option<F::Output>> = pinned.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut done = true;
        for (f, o) in pinned.iter_mut().zip(out.iter_mut()) {
            if o.is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => *o = Some(v),
                    std::task::Poll::Pending => done = false,
                }
            }
        }
        if done {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
    out.into_iter().map(Option::unwrap).collect()
}

#[tokio::test]
async fn unknown_auth_scheme_fails_the_session() {
    bounded(async {
        let server = test_server().await;
        let c = connect(server.local_addr).await;
        assert_ne!(c.session_id(), 0);
        assert_eq!(c.session_password().len(), 16);
        assert_eq!(c.add_auth("nosuch", b"x").await, Err(Error::AuthFailed));
        assert_eq!(c.state(), SessionState::AuthFailed);
        assert_eq!(c.exists("/").await, Err(Error::AuthFailed));
        server.shutdown().await;
    })
    .await;
}

/// A reply larger than the client's `jute.maxbuffer` (default 0xfffff) costs the connection,
/// as in the Java client; `ClientBuilder::max_buffer` raises the limit.
#[tokio::test]
async fn replies_over_the_clients_max_buffer_need_it_raised() {
    if skip_external() {
        return;
    }
    bounded(async {
        let mut cfg = config("127.0.0.1:0".parse().unwrap());
        cfg.core.max_buffer = 4 << 20;
        let server = zk_server::runtime::Server::start(cfg).await.unwrap();
        let addr = server.local_addr.to_string();
        let big = vec![7u8; 2 << 20];
        let raised = Client::builder()
            .max_buffer(4 << 20)
            .connect(&addr)
            .await
            .unwrap();
        raised
            .create("/big", &big, &open(), CreateMode::Persistent)
            .await
            .unwrap();
        assert_eq!(raised.get_data("/big").await.unwrap().0, big);

        let default = Client::connect(&addr).await.unwrap();
        assert!(matches!(
            default.get_data("/big").await,
            Err(Error::ConnectionLoss)
        ));
        // The small reads of the same session still work once it reconnects.
        soon("reconnect", async {
            loop {
                if let Ok(s) = default.exists("/big").await {
                    break s;
                }
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        })
        .await
        .expect("/big exists");
        default.close().await;
        raised.close().await;
        server.shutdown().await;
    })
    .await;
}
