//! End-to-end node operations through the `zookeeper-client` crate (and, where the crate hides
//! what the server sent, through the wire-level [`common::Raw`] client), asserting exactly what
//! Apache ZooKeeper 3.8/3.9 answers: stats field by field, zxids, sequence names, error codes.

mod common;

use std::time::{Duration, Instant};

use common::*;
use zookeeper_client::{
    Acls, Client, CreateMode, Error, MultiReadResult, MultiWriteError, MultiWriteResult, Permission,
};

fn is_bad_arguments(e: &Error) -> bool {
    matches!(e, Error::BadArguments(_))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_persistent_and_read_back_stat() {
    bounded(async {
        let s = TestServer::start().await;
        let c = s.client().await;

        let before = now_ms();
        let (a, seq) = c.create("/a", b"hello", &open()).await.unwrap();
        let after = now_ms();
        assert_eq!(seq.into_i64(), -1, "non-sequential create has no sequence");
        assert!(a.czxid > 0);
        assert_created_stat(&a, a.czxid, 5, 0, before, after);

        let (data, stat) = c.get_data("/a").await.unwrap();
        assert_eq!(data, b"hello");
        assert_eq!(stat, a);
        assert_eq!(c.check_stat("/a").await.unwrap(), Some(a));

        // A child: the next zxid; the parent's pzxid/cversion/numChildren move, nothing else.
        let (b, _) = c.create("/a/b", b"", &open()).await.unwrap();
        assert_eq!(b.czxid, a.czxid + 1);
        assert_created_stat(&b, b.czxid, 0, 0, before, now_ms());
        let (_, a2) = c.get_data("/a").await.unwrap();
        assert_eq!(a2.pzxid, b.czxid);
        assert_eq!(a2.cversion, 1);
        assert_eq!(a2.num_children, 1);
        assert_eq!(
            (
                a2.czxid,
                a2.mzxid,
                a2.ctime,
                a2.mtime,
                a2.version,
                a2.aversion
            ),
            (a.czxid, a.mzxid, a.ctime, a.mtime, 0, 0)
        );
        assert_eq!(a2.data_length, 5);

        // A failed write still consumes a zxid (it becomes an error txn).
        assert_eq!(
            c.create("/a/b", b"x", &open()).await.unwrap_err(),
            Error::NodeExists
        );
        let (c2, _) = c.create("/a/c", b"", &open()).await.unwrap();
        assert_eq!(c2.czxid, b.czxid + 2);

        // The pre-3.5 `create` opcode answers with the path only.
        let old = Client::connector()
            .with_server_version(3, 4, 0)
            .connect(&s.connect_string())
            .await
            .unwrap();
        let (st, _) = old.create("/a/old", b"o", &open()).await.unwrap();
        assert!(st.is_invalid(), "create (opcode 1) carries no stat");
        let (_, st) = c.get_data("/a/old").await.unwrap();
        assert_eq!(st.data_length, 1);
        s.stop().await;
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ephemeral_owner_and_no_children_for_ephemerals() {
    bounded(async {
        let s = TestServer::start().await;
        let c = s.client().await;
        let sid = c.session_id().0;
        let before = now_ms();
        let (st, _) = c
            .create("/e", b"x", &mode(CreateMode::Ephemeral))
            .await
            .unwrap();
        assert_created_stat(&st, st.czxid, 1, sid, before, now_ms());
        assert_eq!(c.get_data("/e").await.unwrap().1.ephemeral_owner, sid);

        for m in [
            CreateMode::Persistent,
            CreateMode::Ephemeral,
            CreateMode::PersistentSequential,
            CreateMode::EphemeralSequential,
            CreateMode::Container,
        ] {
            assert_eq!(
                c.create("/e/child", b"", &mode(m)).await.unwrap_err(),
                Error::NoChildrenForEphemerals,
                "{m:?} under an ephemeral"
            );
        }
        // The failed creates left the ephemeral untouched.
        let (_, st2) = c.get_data("/e").await.unwrap();
        assert_eq!(
            (st2.cversion, st2.num_children, st2.pzxid),
            (0, 0, st.pzxid)
        );
        s.stop().await;
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sequential_names_come_from_parent_cversion() {
    bounded(async {
        let s = TestServer::start().await;
        let c = s.client().await;
        let sid = c.session_id().0;
        c.create("/seq", b"", &open()).await.unwrap();

        let seq = mode(CreateMode::PersistentSequential);
        let (st0, s0) = c.create("/seq/n-", b"", &seq).await.unwrap();
        let (_, s1) = c.create("/seq/n-", b"", &seq).await.unwrap();
        let (e2, s2) = c
            .create("/seq/e-", b"", &mode(CreateMode::EphemeralSequential))
            .await
            .unwrap();
        assert_eq!((s0.into_i64(), s1.into_i64(), s2.into_i64()), (0, 1, 2));
        assert_eq!(s2.to_string(), "0000000002");
        assert_eq!(st0.ephemeral_owner, 0);
        assert_eq!(e2.ephemeral_owner, sid);
        c.create("/seq/plain", b"", &open()).await.unwrap();
        c.delete("/seq/n-0000000000", None).await.unwrap();

        // 4 creates + 1 delete: clients see cversion 5, but the next suffix counts creates only.
        let (_, p) = c.get_data("/seq").await.unwrap();
        assert_eq!((p.cversion, p.num_children), (5, 3));
        let (_, s4) = c.create("/seq/n-", b"", &seq).await.unwrap();
        assert_eq!(s4.into_i64(), 4);
        assert_eq!(
            sorted(c.list_children("/seq").await.unwrap()),
            ["e-0000000002", "n-0000000001", "n-0000000004", "plain"]
        );

        // A trailing slash names the child by its sequence number alone.
        c.create("/seq2", b"", &open()).await.unwrap();
        let (_, n) = c.create("/seq2/", b"", &seq).await.unwrap();
        assert_eq!(n.into_i64(), 0);
        assert_eq!(c.list_children("/seq2").await.unwrap(), ["0000000000"]);
        s.stop().await;
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_errors() {
    bounded(async {
        let s = TestServer::start().await;
        let c = s.client().await;
        c.create("/x", b"", &open()).await.unwrap();
        assert_eq!(
            c.create("/x", b"", &open()).await.unwrap_err(),
            Error::NodeExists
        );
        assert_eq!(
            c.create("/zookeeper", b"", &open()).await.unwrap_err(),
            Error::NodeExists
        );
        assert_eq!(
            c.create("/missing/child", b"", &open()).await.unwrap_err(),
            Error::NoNode
        );
        assert_eq!(
            c.create("/missing/s-", b"", &mode(CreateMode::PersistentSequential))
                .await
                .unwrap_err(),
            Error::NoNode
        );
        // Invalid paths the client lets through: the server answers BadArguments.
        for p in ["/.", "/..", "/x/.", "/x/.."] {
            let e = c.create(p, b"", &open()).await.unwrap_err();
            assert!(is_bad_arguments(&e), "{p}: {e:?}");
        }
        // The crate rejects these itself, before sending anything.
        for p in ["x", "/x/", "//x", "/x/./y", "/x/../y", "/"] {
            let e = c.create(p, b"", &open()).await.unwrap_err();
            assert!(is_bad_arguments(&e), "{p}: {e:?}");
        }
        // Nothing was created by any of the failures.
        assert_eq!(
            sorted(c.list_children("/").await.unwrap()),
            ["x", "zookeeper"]
        );
        assert!(c.list_children("/x").await.unwrap().is_empty());
        s.stop().await;
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_data_with_versions() {
    bounded(async {
        let s = TestServer::start().await;
        let c = s.client().await;
        let (st0, _) = c.create("/v", b"v0", &open()).await.unwrap();

        let before = now_ms();
        let st1 = c.set_data("/v", b"v1-longer", Some(0)).await.unwrap();
        let after = now_ms();
        assert_eq!(st1.version, 1);
        assert_eq!(st1.mzxid, st0.czxid + 1);
        assert_eq!(
            (st1.czxid, st1.ctime, st1.pzxid, st1.cversion, st1.aversion),
            (st0.czxid, st0.ctime, st0.pzxid, 0, 0)
        );
        assert!(before <= st1.mtime && st1.mtime <= after);
        assert!(st1.mtime >= st1.ctime);
        assert_eq!(st1.data_length, 9);

        assert_eq!(
            c.set_data("/v", b"x", Some(0)).await.unwrap_err(),
            Error::BadVersion
        );
        assert_eq!(
            c.set_data("/v", b"x", Some(7)).await.unwrap_err(),
            Error::BadVersion
        );
        // Unconditional; the two failures above used up two zxids.
        let st2 = c.set_data("/v", b"", None).await.unwrap();
        assert_eq!(st2.version, 2);
        assert_eq!(st2.mzxid, st1.mzxid + 3);
        assert_eq!(st2.data_length, 0);
        assert_eq!(c.get_data("/v").await.unwrap(), (Vec::new(), st2));

        assert_eq!(
            c.set_data("/nope", b"", None).await.unwrap_err(),
            Error::NoNode
        );
        assert_eq!(
            c.set_data("/nope", b"", Some(0)).await.unwrap_err(),
            Error::NoNode
        );
        s.stop().await;
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_with_versions_and_not_empty() {
    bounded(async {
        let s = TestServer::start().await;
        let c = s.client().await;
        c.create("/d", b"", &open()).await.unwrap();
        c.create("/d/c1", b"", &open()).await.unwrap();
        c.create("/d/c2", b"", &open()).await.unwrap();

        assert_eq!(c.delete("/d", None).await.unwrap_err(), Error::NotEmpty);
        assert_eq!(
            c.delete("/d/c1", Some(3)).await.unwrap_err(),
            Error::BadVersion
        );
        c.set_data("/d/c1", b"1", Some(0)).await.unwrap();
        assert_eq!(
            c.delete("/d/c1", Some(0)).await.unwrap_err(),
            Error::BadVersion
        );
        c.delete("/d/c1", Some(1)).await.unwrap();
        assert_eq!(c.delete("/d/c1", None).await.unwrap_err(), Error::NoNode);
        assert_eq!(c.check_stat("/d/c1").await.unwrap(), None);

        let (_, d) = c.get_data("/d").await.unwrap();
        assert_eq!((d.num_children, d.cversion), (1, 3));

        // The delete's zxid becomes the parent's pzxid: the next write gets the next zxid.
        c.delete("/d/c2", Some(0)).await.unwrap();
        let (_, d) = c.get_data("/d").await.unwrap();
        let (n, _) = c.create("/next", b"", &open()).await.unwrap();
        assert_eq!(n.czxid, d.pzxid + 1);
        assert_eq!((d.num_children, d.cversion), (0, 4));

        c.delete("/d", Some(0)).await.unwrap();
        assert_eq!(c.check_stat("/d").await.unwrap(), None);
        assert_eq!(c.delete("/nope", Some(0)).await.unwrap_err(), Error::NoNode);
        s.stop().await;
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn children_listing_and_descendant_counts() {
    bounded(async {
        let s = TestServer::start().await;
        let c = s.client().await;
        for p in ["/p", "/p/a", "/p/a/x", "/p/a/y", "/p/b"] {
            c.create(p, b"", &open()).await.unwrap();
        }
        assert_eq!(sorted(c.list_children("/p").await.unwrap()), ["a", "b"]);
        let (children, stat) = c.get_children("/p").await.unwrap();
        assert_eq!(sorted(children), ["a", "b"]);
        assert_eq!(stat, c.get_data("/p").await.unwrap().1);
        assert_eq!((stat.num_children, stat.cversion), (2, 2));
        assert!(c.list_children("/p/b").await.unwrap().is_empty());
        assert_eq!(c.list_children("/nope").await.unwrap_err(), Error::NoNode);
        assert_eq!(c.get_children("/nope").await.unwrap_err(), Error::NoNode);

        // getAllChildrenNumber counts every descendant.
        assert_eq!(c.count_descendants_number("/p").await.unwrap(), 4);
        assert_eq!(c.count_descendants_number("/p/a").await.unwrap(), 2);
        assert_eq!(c.count_descendants_number("/p/b").await.unwrap(), 0);
        assert_eq!(
            c.count_descendants_number("/nope").await.unwrap_err(),
            Error::NoNode
        );
        // For "/" ZooKeeper answers `nodes.size() - 2`: every node but the root, i.e. the three
        // /zookeeper nodes plus the five created here.
        assert_eq!(c.count_descendants_number("/").await.unwrap(), 8);
        assert_eq!(
            sorted(c.list_children("/").await.unwrap()),
            ["p", "zookeeper"]
        );
        s.stop().await;
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fresh_tree_root_count() {
    bounded(async {
        let s = TestServer::start().await;
        let c = s.client().await;
        // /zookeeper, /zookeeper/quota, /zookeeper/config.
        assert_eq!(c.count_descendants_number("/").await.unwrap(), 3);
        assert_eq!(c.count_descendants_number("/zookeeper").await.unwrap(), 2);
        s.stop().await;
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_ephemerals_by_prefix() {
    bounded(async {
        let s = TestServer::start().await;
        let c = s.client().await;
        let other = s.client().await;
        let eph = mode(CreateMode::Ephemeral);
        c.create("/eph", b"", &open()).await.unwrap();
        c.create("/other", b"", &open()).await.unwrap();
        for p in ["/eph/a", "/eph/b", "/other/c", "/ephx"] {
            c.create(p, b"", &eph).await.unwrap();
        }
        other.create("/eph/theirs", b"", &eph).await.unwrap();

        assert_eq!(
            sorted(c.list_ephemerals("/").await.unwrap()),
            ["/eph/a", "/eph/b", "/ephx", "/other/c"]
        );
        // A plain string prefix, not a subtree: /ephx matches /eph.
        assert_eq!(
            sorted(c.list_ephemerals("/eph").await.unwrap()),
            ["/eph/a", "/eph/b", "/ephx"]
        );
        assert_eq!(c.list_ephemerals("/eph/a").await.unwrap(), ["/eph/a"]);
        assert_eq!(c.list_ephemerals("/other").await.unwrap(), ["/other/c"]);
        assert!(c.list_ephemerals("/none").await.unwrap().is_empty());
        assert_eq!(other.list_ephemerals("/").await.unwrap(), ["/eph/theirs"]);
        s.stop().await;
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_answers_for_any_path() {
    bounded(async {
        let s = TestServer::start().await;
        let a = s.client().await;
        let b = s.client().await;
        a.sync("/").await.unwrap();
        // sync does not look the path up.
        a.sync("/missing").await.unwrap();
        b.create("/s", b"after", &open()).await.unwrap();
        a.sync("/s").await.unwrap();
        assert_eq!(a.get_data("/s").await.unwrap().0, b"after");
        s.stop().await;
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_applies_all_ops_in_one_txn() {
    bounded(async {
        let s = TestServer::start().await;
        let c = s.client().await;
        let mut w = c.new_multi_writer();
        w.add_create("/m", b"1", &open()).unwrap();
        w.add_create("/m/a", b"", &open()).unwrap();
        w.add_set_data("/m", b"22", Some(0)).unwrap();
        // Later ops see earlier ones: the version is already 1 here.
        w.add_check_version("/m", 1).unwrap();
        w.add_delete("/m/a", Some(0)).unwrap();
        w.add_create("/m/s-", b"", &mode(CreateMode::PersistentSequential))
            .unwrap();
        let before = now_ms();
        let r = w.commit().await.unwrap();
        let after = now_ms();
        assert_eq!(r.len(), 6);

        let MultiWriteResult::Create { path, stat: m } = &r[0] else {
            panic!("{:?}", r[0])
        };
        assert_eq!(path, "/m");
        let z = m.czxid;
        assert_created_stat(m, z, 1, 0, before, after);
        let MultiWriteResult::Create { path, stat: a } = &r[1] else {
            panic!("{:?}", r[1])
        };
        assert_eq!(path, "/m/a");
        assert_created_stat(a, z, 0, 0, before, after);
        let MultiWriteResult::SetData { stat: set } = &r[2] else {
            panic!("{:?}", r[2])
        };
        assert_eq!(
            (set.czxid, set.mzxid, set.version, set.data_length),
            (z, z, 1, 2)
        );
        assert_eq!((set.num_children, set.cversion, set.pzxid), (1, 1, z));
        assert_eq!(r[3], MultiWriteResult::Check);
        assert_eq!(r[4], MultiWriteResult::Delete);
        // One create and one delete before it: the next suffix is 1 (creates only).
        let MultiWriteResult::Create { path, stat: sq } = &r[5] else {
            panic!("{:?}", r[5])
        };
        assert_eq!(path, "/m/s-0000000001");
        assert_eq!(sq.czxid, z);

        let (data, m) = c.get_data("/m").await.unwrap();
        assert_eq!(data, b"22");
        assert_eq!((m.czxid, m.mzxid, m.pzxid, m.version), (z, z, z, 1));
        // Two creates, one delete, one child left: 2*2-1.
        assert_eq!((m.num_children, m.cversion), (1, 3));
        assert_eq!(c.list_children("/m").await.unwrap(), ["s-0000000001"]);

        // An empty multi is answered locally.
        assert!(c.new_multi_writer().commit().await.unwrap().is_empty());
        s.stop().await;
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_failure_rolls_everything_back() {
    bounded(async {
        let s = TestServer::start().await;
        let c = s.client().await;
        let (rb, _) = c.create("/rb", b"", &open()).await.unwrap();

        let mut w = c.new_multi_writer();
        w.add_create("/rb/x-", b"", &mode(CreateMode::PersistentSequential))
            .unwrap();
        w.add_create("/rb/y", b"", &open()).unwrap();
        w.add_check_version("/rb", 7).unwrap();
        w.add_create("/rb/z", b"", &open()).unwrap();
        assert_eq!(
            w.commit().await.unwrap_err(),
            MultiWriteError::OperationFailed {
                index: 2,
                source: Error::BadVersion
            }
        );
        assert!(c.list_children("/rb").await.unwrap().is_empty());
        let (_, st) = c.get_data("/rb").await.unwrap();
        assert_eq!(st, rb, "parent untouched");
        // The rolled-back create did not use up a sequence number.
        let (_, n) = c
            .create("/rb/x-", b"", &mode(CreateMode::PersistentSequential))
            .await
            .unwrap();
        assert_eq!(n.into_i64(), 0);

        // Failing first op.
        let mut w = c.new_multi_writer();
        w.add_check_version("/missing", -1).unwrap();
        w.add_create("/q", b"", &open()).unwrap();
        assert_eq!(
            w.commit().await.unwrap_err(),
            MultiWriteError::OperationFailed {
                index: 0,
                source: Error::NoNode
            }
        );
        assert_eq!(c.check_stat("/q").await.unwrap(), None);

        // A failure in the middle, with a delete after it; the whole multi costs one zxid.
        let (z1, _) = c.create("/z1", b"", &open()).await.unwrap();
        let mut w = c.new_multi_writer();
        w.add_create("/n1", b"", &open()).unwrap();
        w.add_create("/rb", b"", &open()).unwrap();
        w.add_delete("/rb/x-0000000000", None).unwrap();
        assert_eq!(
            w.commit().await.unwrap_err(),
            MultiWriteError::OperationFailed {
                index: 1,
                source: Error::NodeExists
            }
        );
        assert_eq!(c.check_stat("/n1").await.unwrap(), None);
        assert!(c.check_stat("/rb/x-0000000000").await.unwrap().is_some());
        let (z2, _) = c.create("/z2", b"", &open()).await.unwrap();
        assert_eq!(z2.czxid, z1.czxid + 2);
        s.stop().await;
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_read_results_are_independent() {
    bounded(async {
        let s = TestServer::start().await;
        let c = s.client().await;
        c.create("/mr", b"d", &open()).await.unwrap();
        c.create("/mr/c1", b"", &open()).await.unwrap();
        let (_, mr) = c.get_data("/mr").await.unwrap();

        let mut r = c.new_multi_reader();
        r.add_get_data("/mr").unwrap();
        r.add_get_data("/missing").unwrap();
        r.add_get_children("/mr").unwrap();
        r.add_get_children("/missing").unwrap();
        r.add_get_children("/mr/c1").unwrap();
        let res = r.commit().await.unwrap();
        assert_eq!(res.len(), 5);
        match &res[0] {
            MultiReadResult::Data { data, stat } => {
                assert_eq!(data, b"d");
                assert_eq!(*stat, mr);
            }
            other => panic!("{other:?}"),
        }
        assert!(
            matches!(&res[1], MultiReadResult::Error { err: Error::NoNode }),
            "{:?}",
            res[1]
        );
        assert!(
            matches!(&res[2], MultiReadResult::Children { children } if children == &["c1"]),
            "{:?}",
            res[2]
        );
        assert!(
            matches!(&res[3], MultiReadResult::Error { err: Error::NoNode }),
            "{:?}",
            res[3]
        );
        assert!(
            matches!(&res[4], MultiReadResult::Children { children } if children.is_empty()),
            "{:?}",
            res[4]
        );
        s.stop().await;
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn special_nodes() {
    bounded(async {
        let s = TestServer::start().await;
        let c = s.client().await;

        // A fresh root: all zero, one child it never counted a create for (cversion 0*2-1).
        let (data, root) = c.get_data("/").await.unwrap();
        assert!(data.is_empty());
        assert_eq!(
            (root.czxid, root.mzxid, root.pzxid, root.ctime, root.mtime),
            (0, 0, 0, 0, 0)
        );
        assert_eq!(
            (
                root.version,
                root.cversion,
                root.aversion,
                root.num_children
            ),
            (0, -1, 0, 1)
        );
        let (_, zk) = c.get_data("/zookeeper").await.unwrap();
        assert_eq!((zk.num_children, zk.cversion), (2, -2));
        for p in ["/zookeeper/quota", "/zookeeper/config"] {
            let st = c.check_stat(p).await.unwrap().expect(p);
            assert_eq!((st.num_children, st.ephemeral_owner), (0, 0));
        }
        assert_eq!(c.list_children("/").await.unwrap(), ["zookeeper"]);
        assert_eq!(
            sorted(c.list_children("/zookeeper").await.unwrap()),
            ["config", "quota"]
        );

        // /zookeeper/config is world-readable only, and its ACL was set with version -1.
        let (acl, st) = c.get_acl("/zookeeper/config").await.unwrap();
        assert_eq!(
            acl_triples(&acl),
            [("world".into(), "anyone".into(), Permission::READ)]
        );
        assert_eq!(st.aversion, -1);
        let (acl, _) = c.get_acl("/zookeeper").await.unwrap();
        assert_eq!(
            acl_triples(&acl),
            [("world".into(), "anyone".into(), Permission::ALL)]
        );
        assert_eq!(
            c.set_data("/zookeeper/config", b"x", None)
                .await
                .unwrap_err(),
            Error::NoAuth
        );
        let (cfg, _) = c.get_config().await.unwrap();
        assert!(cfg.is_empty());

        // The special nodes cannot be deleted.
        for p in ["/zookeeper", "/zookeeper/quota", "/zookeeper/config"] {
            let e = c.delete(p, None).await.unwrap_err();
            assert!(is_bad_arguments(&e), "{p}: {e:?}");
        }
        assert_eq!(c.count_descendants_number("/").await.unwrap(), 3);
        s.stop().await;
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn containers_are_swept_once_emptied() {
    bounded(async {
        let s = TestServer::start().await;
        let c = s.client().await;
        let container = mode(CreateMode::Container);
        let before = now_ms();
        let (st, _) = c.create("/c_used", b"cu", &container).await.unwrap();
        // Containers show ephemeralOwner 0 to clients.
        assert_created_stat(&st, st.czxid, 2, 0, before, now_ms());
        c.create("/c_never", b"", &container).await.unwrap();
        c.create("/c_full", b"", &container).await.unwrap();
        c.create("/c_full/keep", b"", &open()).await.unwrap();

        c.create("/c_used/child", b"", &open()).await.unwrap();
        let (_, gone) = c.check_and_watch_stat("/c_used").await.unwrap();
        c.delete("/c_used/child", None).await.unwrap();
        let e = soon("the emptied container's deletion", gone.changed()).await;
        assert_eq!(e.event_type, zookeeper_client::EventType::NodeDeleted);
        assert_eq!(e.path, "/c_used");

        // A write orders us after every txn of the sweep that deleted /c_used: the container
        // that never had a child and the one that still has one were not deleted by it.
        c.create("/marker", b"", &open()).await.unwrap();
        assert!(c.check_stat("/c_never").await.unwrap().is_some());
        assert!(c.check_stat("/c_full").await.unwrap().is_some());

        let (_, gone) = c.check_and_watch_stat("/c_full").await.unwrap();
        c.delete("/c_full/keep", None).await.unwrap();
        let e = soon("the second container's deletion", gone.changed()).await;
        assert_eq!(e.path, "/c_full");
        c.create("/marker2", b"", &open()).await.unwrap();
        assert!(c.check_stat("/c_never").await.unwrap().is_some());
        s.stop().await;
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ttl_nodes_expire_when_childless() {
    bounded(async {
        let s = TestServer::start().await;
        let c = s.client().await;
        let ttl = Duration::from_millis(300);
        let started = Instant::now();
        let before = now_ms();
        let (st, _) = c.create("/ttl", b"t", &open().with_ttl(ttl)).await.unwrap();
        // TTL nodes show ephemeralOwner 0 to clients.
        assert_created_stat(&st, st.czxid, 1, 0, before, now_ms());
        let (_, seq) = c
            .create(
                "/ttl-s-",
                b"",
                &mode(CreateMode::PersistentSequential).with_ttl(ttl),
            )
            .await
            .unwrap();
        let seq_path = format!("/ttl-s-{seq}");
        c.create("/ttl_parent", b"", &open().with_ttl(ttl))
            .await
            .unwrap();
        c.create("/ttl_parent/keep", b"", &open()).await.unwrap();

        let (_, w1) = c.check_and_watch_stat("/ttl").await.unwrap();
        let (_, w2) = c.check_and_watch_stat(&seq_path).await.unwrap();
        assert_eq!(soon("TTL expiry", w1.changed()).await.path, "/ttl");
        assert_eq!(soon("TTL expiry", w2.changed()).await.path, seq_path);
        assert!(
            started.elapsed() >= ttl,
            "deleted after {:?}, before its TTL",
            started.elapsed()
        );
        c.create("/marker", b"", &open()).await.unwrap();
        assert!(
            c.check_stat("/ttl_parent").await.unwrap().is_some(),
            "a TTL node with children stays"
        );

        // Client-side checks of the crate.
        for opts in [
            mode(CreateMode::Ephemeral).with_ttl(ttl),
            open().with_ttl(Duration::ZERO),
        ] {
            let e = c.create("/bad", b"", &opts).await.unwrap_err();
            assert!(is_bad_arguments(&e), "{e:?}");
        }
        s.stop().await;
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ttl_unimplemented_without_extended_types() {
    bounded(async {
        let mut cfg = config();
        cfg.core.extended_types_enabled = false;
        let s = TestServer::start_with(cfg).await;
        let c = s.client().await;
        assert_eq!(
            c.create("/t", b"", &open().with_ttl(Duration::from_secs(1)))
                .await
                .unwrap_err(),
            Error::Unimplemented
        );
        assert_eq!(c.check_stat("/t").await.unwrap(), None);
        // Containers do not need extended types.
        c.create("/c", b"", &mode(CreateMode::Container))
            .await
            .unwrap();
        s.stop().await;
    })
    .await
}

/// The crate always sends data and reads null back as empty; the wire protocol tells them
/// apart, and ZooKeeper keeps null as null.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn null_and_empty_data_are_distinct_on_the_wire() {
    bounded(async {
        let s = TestServer::start().await;
        let mut r = s.raw().await;
        let open_acl = zk_proto::data::Acl::open_unsafe();
        let (p, st) = r.create("/null", None, open_acl.clone(), 0).await.unwrap();
        assert_eq!((p.as_str(), st.data_length), ("/null", 0));
        assert_eq!(r.get_data("/null", false).await.unwrap().0, None);
        r.create("/empty", Some(b""), open_acl, 0).await.unwrap();
        assert_eq!(
            r.get_data("/empty", false).await.unwrap().0,
            Some(Vec::new())
        );
        r.set_data("/empty", None).await.unwrap();
        assert_eq!(r.get_data("/empty", false).await.unwrap().0, None);
        r.set_data("/null", Some(b"")).await.unwrap();
        assert_eq!(
            r.get_data("/null", false).await.unwrap().0,
            Some(Vec::new())
        );

        let c = s.client().await;
        assert!(c.get_data("/empty").await.unwrap().0.is_empty());
        s.stop().await;
    })
    .await
}

/// The crate refuses an empty ACL list itself; on the wire, ZooKeeper answers InvalidACL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_with_empty_acl_is_invalid() {
    bounded(async {
        let s = TestServer::start().await;
        let c = s.client().await;
        assert_eq!(
            c.create("/n", b"", &CreateMode::Persistent.with_acls(Acls::new(&[])))
                .await
                .unwrap_err(),
            Error::InvalidAcl
        );
        let mut r = s.raw().await;
        assert_eq!(
            r.create("/n", None, Vec::new(), 0).await.unwrap_err(),
            zk_proto::ErrorCode::InvalidAcl
        );
        assert_eq!(c.check_stat("/n").await.unwrap(), None);
        s.stop().await;
    })
    .await
}
