//! End-to-end ACL enforcement: digest, auth, world, ip and super identities; which permission
//! each operation needs (CREATE/DELETE on the parent, READ/WRITE/ADMIN on the node); setACL
//! versions; getACL masking; and (ZooKeeper 3.8.4+/3.9.2+) READ checks on exists and on
//! watch delivery.

mod common;

use common::*;
use zk_proto::{AddWatchMode as RawMode, EventType as E};
use zookeeper_client::{Acl, Acls, CreateMode, Error, MultiReadResult, Permission};

const ALICE: &str = "alice:pw";

fn digest_acl(perms: Permission, user_password: &str) -> Acl {
    acl(perms, "digest", &digest(user_password))
}

fn triple(scheme: &str, id: &str, perms: Permission) -> (String, String, Permission) {
    (scheme.to_owned(), id.to_owned(), perms)
}

#[test]
fn digest_matches_zookeeper_vector() {
    // DigestAuthenticationProvider.generateDigest("super:test").
    assert_eq!(digest("super:test"), "super:D/InIHSb7yEEbrWz8b9l71RjZJU=");
    assert_eq!(
        zk_server::core::acl::generate_digest(ALICE),
        digest(ALICE),
        "the server's digest agrees"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn digest_acl_admits_only_the_matching_identity() {
    bounded(async {
        let s = TestServer::start().await;
        let alice = s.client().await;
        alice.auth("digest", ALICE.as_bytes()).await.unwrap();
        let only_alice = [digest_acl(Permission::ALL, ALICE)];
        alice
            .create(
                "/d",
                b"secret",
                &CreateMode::Persistent.with_acls(Acls::new(&only_alice)),
            )
            .await
            .unwrap();
        alice.create("/d/child", b"", &open()).await.unwrap();
        assert_eq!(alice.get_data("/d").await.unwrap().0, b"secret");

        let anon = s.client().await;
        assert_eq!(anon.get_data("/d").await.unwrap_err(), Error::NoAuth);
        assert_eq!(anon.list_children("/d").await.unwrap_err(), Error::NoAuth);
        assert_eq!(anon.get_children("/d").await.unwrap_err(), Error::NoAuth);
        assert_eq!(
            anon.count_descendants_number("/d").await.unwrap_err(),
            Error::NoAuth
        );
        assert_eq!(
            anon.set_data("/d", b"x", None).await.unwrap_err(),
            Error::NoAuth
        );
        assert_eq!(anon.get_acl("/d").await.unwrap_err(), Error::NoAuth);
        assert_eq!(
            anon.create("/d/x", b"", &open()).await.unwrap_err(),
            Error::NoAuth
        );
        assert_eq!(
            anon.delete("/d/child", None).await.unwrap_err(),
            Error::NoAuth
        );
        let mut r = anon.new_multi_reader();
        r.add_get_data("/d").unwrap();
        r.add_get_data("/d/child").unwrap();
        let res = r.commit().await.unwrap();
        assert!(
            matches!(&res[0], MultiReadResult::Error { err: Error::NoAuth }),
            "{:?}",
            res[0]
        );
        assert!(
            matches!(&res[1], MultiReadResult::Data { .. }),
            "{:?}",
            res[1]
        );

        // Another user, and alice with a wrong password, are strangers too.
        let bob = s.client().await;
        bob.auth("digest", b"bob:pw").await.unwrap();
        assert_eq!(bob.get_data("/d").await.unwrap_err(), Error::NoAuth);
        let wrong = s.client().await;
        wrong.auth("digest", b"alice:wrong").await.unwrap();
        assert_eq!(wrong.get_data("/d").await.unwrap_err(), Error::NoAuth);

        // The same credentials in another session work.
        let again = s.client().await;
        again.auth("digest", ALICE.as_bytes()).await.unwrap();
        assert_eq!(again.get_data("/d").await.unwrap().0, b"secret");
        again.set_data("/d", b"new", Some(0)).await.unwrap();
        s.stop().await;
    })
    .await
}

/// ZOOKEEPER-2590 (3.8.4, 3.9.2): exists checks READ on an existing node; a missing node
/// needs no permission.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exists_needs_read_on_existing_nodes() {
    bounded(async {
        let s = TestServer::start().await;
        let alice = s.client().await;
        alice.auth("digest", ALICE.as_bytes()).await.unwrap();
        let only_alice = [digest_acl(Permission::ALL, ALICE)];
        alice
            .create(
                "/hidden",
                b"",
                &CreateMode::Persistent.with_acls(Acls::new(&only_alice)),
            )
            .await
            .unwrap();
        let write_only = [acl(Permission::WRITE, "world", "anyone")];
        alice
            .create(
                "/wo",
                b"",
                &CreateMode::Persistent.with_acls(Acls::new(&write_only)),
            )
            .await
            .unwrap();
        assert!(alice.check_stat("/hidden").await.unwrap().is_some());

        let anon = s.client().await;
        assert_eq!(anon.check_stat("/hidden").await.unwrap_err(), Error::NoAuth);
        assert_eq!(anon.check_stat("/wo").await.unwrap_err(), Error::NoAuth);
        assert_eq!(anon.check_stat("/hidden/none").await.unwrap(), None);
        assert_eq!(anon.check_stat("/none").await.unwrap(), None);
        // And the refused exists left no watch behind.
        assert_eq!(
            anon.check_and_watch_stat("/hidden").await.unwrap_err(),
            Error::NoAuth
        );
        assert_eq!(total_watches(s.addr).await, 0);
        s.stop().await;
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_scheme_expands_to_the_session_digest_identities() {
    bounded(async {
        let s = TestServer::start().await;
        let c = s.client().await;
        // Without any digest identity (only ip), `auth` cannot be expanded.
        assert_eq!(
            c.create(
                "/a",
                b"",
                &CreateMode::Persistent.with_acls(Acls::creator_all())
            )
            .await
            .unwrap_err(),
            Error::InvalidAcl
        );
        assert_eq!(c.check_stat("/a").await.unwrap(), None);

        c.auth("digest", ALICE.as_bytes()).await.unwrap();
        let (st, _) = c
            .create(
                "/a",
                b"",
                &CreateMode::Persistent.with_acls(Acls::creator_all()),
            )
            .await
            .unwrap();
        let (acls, st2) = c.get_acl("/a").await.unwrap();
        assert_eq!(st2, st);
        assert_eq!(
            acl_triples(&acls),
            [triple("digest", &digest(ALICE), Permission::ALL)]
        );

        // Every digest identity of the session is added, with the entry's permissions.
        c.auth("digest", b"bob:pw").await.unwrap();
        let creator_read = [acl(Permission::READ | Permission::ADMIN, "auth", "")];
        c.create(
            "/b",
            b"",
            &CreateMode::Persistent.with_acls(Acls::new(&creator_read)),
        )
        .await
        .unwrap();
        let rw = Permission::READ | Permission::ADMIN;
        assert_eq!(
            acl_triples(&c.get_acl("/b").await.unwrap().0),
            [
                triple("digest", &digest(ALICE), rw),
                triple("digest", &digest("bob:pw"), rw)
            ]
        );

        let anon = s.client().await;
        assert_eq!(anon.get_data("/a").await.unwrap_err(), Error::NoAuth);
        s.stop().await;
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn world_read_only_node() {
    bounded(async {
        let s = TestServer::start().await;
        let c = s.client().await;
        c.create(
            "/ro",
            b"r",
            &CreateMode::Persistent.with_acls(Acls::anyone_read()),
        )
        .await
        .unwrap();
        assert_eq!(c.get_data("/ro").await.unwrap().0, b"r");
        assert!(c.list_children("/ro").await.unwrap().is_empty());
        assert_eq!(
            c.set_data("/ro", b"w", None).await.unwrap_err(),
            Error::NoAuth
        );
        assert_eq!(
            c.create("/ro/child", b"", &open()).await.unwrap_err(),
            Error::NoAuth
        );
        assert_eq!(
            c.set_acl("/ro", &Acls::anyone_all(), None)
                .await
                .unwrap_err(),
            Error::NoAuth
        );
        // getACL needs READ or ADMIN: READ is enough.
        let (acl, _) = c.get_acl("/ro").await.unwrap();
        assert_eq!(
            acl_triples(&acl),
            [triple("world", "anyone", Permission::READ)]
        );
        // Deleting it is a matter of the parent's ACL.
        c.delete("/ro", None).await.unwrap();
        s.stop().await;
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_acl_masks_digests_without_admin() {
    bounded(async {
        let s = TestServer::start().await;
        let alice = s.client().await;
        alice.auth("digest", ALICE.as_bytes()).await.unwrap();
        let mixed = [
            acl(Permission::READ, "world", "anyone"),
            digest_acl(Permission::ALL, ALICE),
        ];
        alice
            .create(
                "/m",
                b"",
                &CreateMode::Persistent.with_acls(Acls::new(&mixed)),
            )
            .await
            .unwrap();
        let admin = [
            acl(Permission::READ | Permission::ADMIN, "world", "anyone"),
            digest_acl(Permission::ALL, ALICE),
        ];
        alice
            .create(
                "/a",
                b"",
                &CreateMode::Persistent.with_acls(Acls::new(&admin)),
            )
            .await
            .unwrap();

        let full = acl_triples(&alice.get_acl("/m").await.unwrap().0);
        assert_eq!(
            full,
            [
                triple("digest", &digest(ALICE), Permission::ALL),
                triple("world", "anyone", Permission::READ)
            ]
        );
        let anon = s.client().await;
        let (masked, st) = anon.get_acl("/m").await.unwrap();
        assert_eq!(
            acl_triples(&masked),
            [
                triple("digest", "alice:x", Permission::ALL),
                triple("world", "anyone", Permission::READ)
            ]
        );
        assert_eq!(st, alice.get_data("/m").await.unwrap().1);
        // With ADMIN (here through world:anyone) the hashes are shown.
        assert_eq!(
            acl_triples(&anon.get_acl("/a").await.unwrap().0),
            [
                triple("digest", &digest(ALICE), Permission::ALL),
                triple("world", "anyone", Permission::READ | Permission::ADMIN)
            ]
        );
        s.stop().await;
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ip_acls() {
    bounded(async {
        let s = TestServer::start().await;
        let c = s.client().await;
        for (path, id) in [
            ("/local", "127.0.0.1"),
            ("/local8", "127.0.0.0/8"),
            ("/ten", "10.0.0.0/8"),
            ("/other", "192.168.1.1"),
        ] {
            let a = [acl(Permission::ALL, "ip", id)];
            c.create(path, b"d", &CreateMode::Persistent.with_acls(Acls::new(&a)))
                .await
                .unwrap();
        }
        for p in ["/local", "/local8"] {
            assert_eq!(c.get_data(p).await.unwrap().0, b"d", "{p}");
            c.set_data(p, b"e", None).await.unwrap();
            c.create(&format!("{p}/kid"), b"", &open()).await.unwrap();
        }
        for p in ["/ten", "/other"] {
            assert_eq!(c.get_data(p).await.unwrap_err(), Error::NoAuth, "{p}");
            assert_eq!(
                c.create(&format!("{p}/kid"), b"", &open())
                    .await
                    .unwrap_err(),
                Error::NoAuth
            );
        }
        // Malformed ip ACLs are rejected.
        for id in ["999.1.1.1", "127.0.0.1/33", "not-an-ip"] {
            let a = [acl(Permission::ALL, "ip", id)];
            assert_eq!(
                c.create(
                    "/bad",
                    b"",
                    &CreateMode::Persistent.with_acls(Acls::new(&a))
                )
                .await
                .unwrap_err(),
                Error::InvalidAcl,
                "{id}"
            );
        }
        // So are unknown schemes, world ids other than anyone, and digests without a hash.
        for (scheme, id) in [("nosuch", "x"), ("world", "nobody"), ("digest", "alice")] {
            let a = [acl(Permission::ALL, scheme, id)];
            assert_eq!(
                c.create(
                    "/bad",
                    b"",
                    &CreateMode::Persistent.with_acls(Acls::new(&a))
                )
                .await
                .unwrap_err(),
                Error::InvalidAcl,
                "{scheme}:{id}"
            );
        }
        s.stop().await;
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn super_digest_bypasses_every_check() {
    bounded(async {
        let s = TestServer::start().await;
        let alice = s.client().await;
        alice.auth("digest", ALICE.as_bytes()).await.unwrap();
        let only_alice = [digest_acl(Permission::ALL, ALICE)];
        alice
            .create(
                "/locked",
                b"l",
                &CreateMode::Persistent.with_acls(Acls::new(&only_alice)),
            )
            .await
            .unwrap();
        alice
            .create(
                "/locked/kid",
                b"",
                &CreateMode::Persistent.with_acls(Acls::new(&only_alice)),
            )
            .await
            .unwrap();
        let nothing = [acl(Permission::NONE, "world", "anyone")];
        alice
            .create(
                "/none",
                b"n",
                &CreateMode::Persistent.with_acls(Acls::new(&nothing)),
            )
            .await
            .unwrap();

        let su = s.client().await;
        su.auth("digest", SUPER_AUTH.as_bytes()).await.unwrap();
        assert_eq!(su.get_data("/locked").await.unwrap().0, b"l");
        assert_eq!(su.get_data("/none").await.unwrap().0, b"n");
        assert!(su.check_stat("/none").await.unwrap().is_some());
        su.set_data("/locked", b"s", None).await.unwrap();
        su.create("/none/kid", b"", &open()).await.unwrap();
        su.delete("/none/kid", None).await.unwrap();
        // Unmasked, as with ADMIN.
        assert_eq!(
            acl_triples(&su.get_acl("/locked").await.unwrap().0),
            [triple("digest", &digest(ALICE), Permission::ALL)]
        );
        su.delete("/locked/kid", None).await.unwrap();
        su.set_acl("/locked", &Acls::anyone_read(), None)
            .await
            .unwrap();

        let anon = s.client().await;
        assert_eq!(anon.get_data("/locked").await.unwrap().0, b"s");
        assert_eq!(
            anon.get_data("/none").await.unwrap_err(),
            Error::NoAuth,
            "no permission at all"
        );
        s.stop().await;
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_and_delete_are_checked_on_the_parent() {
    bounded(async {
        let s = TestServer::start().await;
        let c = s.client().await;
        let no_create = [acl(
            Permission::READ | Permission::WRITE | Permission::DELETE | Permission::ADMIN,
            "world",
            "anyone",
        )];
        c.create(
            "/nc",
            b"",
            &CreateMode::Persistent.with_acls(Acls::new(&no_create)),
        )
        .await
        .unwrap();
        assert_eq!(
            c.create("/nc/kid", b"", &open()).await.unwrap_err(),
            Error::NoAuth
        );
        assert_eq!(
            c.create("/nc/e", b"", &mode(CreateMode::Ephemeral))
                .await
                .unwrap_err(),
            Error::NoAuth
        );

        // CREATE alone on the parent is enough, whatever ACL the child gets.
        let create_only = [acl(Permission::CREATE, "world", "anyone")];
        c.create(
            "/co",
            b"",
            &CreateMode::Persistent.with_acls(Acls::new(&create_only)),
        )
        .await
        .unwrap();
        c.create(
            "/co/kid",
            b"",
            &CreateMode::Persistent.with_acls(Acls::anyone_read()),
        )
        .await
        .unwrap();
        // ...but deleting needs DELETE on the parent: the child's own ALL does not help.
        c.create("/co/open", b"", &open()).await.unwrap();
        assert_eq!(c.delete("/co/open", None).await.unwrap_err(), Error::NoAuth);
        // Without READ on /co its children cannot be listed either.
        assert_eq!(c.list_children("/co").await.unwrap_err(), Error::NoAuth);

        // DELETE on the parent suffices even for a child that grants nothing.
        let create_delete = [acl(
            Permission::CREATE | Permission::DELETE,
            "world",
            "anyone",
        )];
        c.create(
            "/cd",
            b"",
            &CreateMode::Persistent.with_acls(Acls::new(&create_delete)),
        )
        .await
        .unwrap();
        let nothing = [acl(Permission::NONE, "world", "anyone")];
        c.create(
            "/cd/kid",
            b"",
            &CreateMode::Persistent.with_acls(Acls::new(&nothing)),
        )
        .await
        .unwrap();
        assert_eq!(c.get_data("/cd/kid").await.unwrap_err(), Error::NoAuth);
        c.delete("/cd/kid", None).await.unwrap();
        s.stop().await;
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_acl_versions_and_validation() {
    bounded(async {
        let s = TestServer::start().await;
        let c = s.client().await;
        let (st0, _) = c.create("/v", b"v", &open()).await.unwrap();

        let read_write = [acl(
            Permission::READ | Permission::WRITE | Permission::ADMIN,
            "world",
            "anyone",
        )];
        let st1 = c.set_acl("/v", &read_write, Some(0)).await.unwrap();
        assert_eq!(st1.aversion, 1);
        // setACL changes neither data version nor mzxid.
        assert_eq!(
            (st1.version, st1.mzxid, st1.czxid, st1.mtime, st1.cversion),
            (0, st0.mzxid, st0.czxid, st0.mtime, 0)
        );
        assert_eq!(
            c.set_acl("/v", &read_write, Some(0)).await.unwrap_err(),
            Error::BadVersion
        );
        let st2 = c.set_acl("/v", &Acls::anyone_all(), None).await.unwrap();
        assert_eq!(st2.aversion, 2);
        let (acl, st) = c.get_acl("/v").await.unwrap();
        assert_eq!(
            acl_triples(&acl),
            [triple("world", "anyone", Permission::ALL)]
        );
        assert_eq!(st, st2);
        assert_eq!(c.get_data("/v").await.unwrap().1, st2);

        assert_eq!(
            c.set_acl("/missing", &Acls::anyone_all(), None)
                .await
                .unwrap_err(),
            Error::NoNode
        );
        // An empty list is InvalidACL (checked before the node is even looked up).
        assert_eq!(
            c.set_acl("/v", &[], None).await.unwrap_err(),
            Error::InvalidAcl
        );
        assert_eq!(
            c.set_acl("/missing", &[], None).await.unwrap_err(),
            Error::InvalidAcl
        );
        assert_eq!(
            c.set_acl("/v", &Acls::creator_all(), None)
                .await
                .unwrap_err(),
            Error::InvalidAcl,
            "auth without a digest identity"
        );
        assert_eq!(c.get_acl("/v").await.unwrap().1.aversion, 2);

        // Once ADMIN is gone, setACL is refused.
        c.set_acl("/v", &Acls::anyone_read(), Some(2))
            .await
            .unwrap();
        assert_eq!(
            c.set_acl("/v", &Acls::anyone_all(), Some(3))
                .await
                .unwrap_err(),
            Error::NoAuth
        );
        s.stop().await;
    })
    .await
}

/// CVE-2024-23944 (3.8.4, 3.9.2): a notification is delivered only to connections that may
/// READ the node it is about (`ServerCnxn.process(event, acl)`); here, persistent-recursive
/// watchers hearing about descendants.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recursive_notifications_require_read_permission() {
    bounded(async {
        let s = TestServer::start().await;
        let alice = s.client().await;
        alice.auth("digest", ALICE.as_bytes()).await.unwrap();
        alice.create("/sec", b"", &open()).await.unwrap();

        let mut anon = s.raw().await;
        anon.add_watch("/sec", RawMode::PersistentRecursive).await;
        let mut friend = s.raw().await;
        friend.auth_digest(ALICE).await;
        friend.add_watch("/sec", RawMode::PersistentRecursive).await;

        let only_alice = [digest_acl(Permission::ALL, ALICE)];
        let (open_st, _) = alice.create("/sec/open", b"", &open()).await.unwrap();
        let (secret_st, _) = alice
            .create(
                "/sec/secret",
                b"",
                &CreateMode::Persistent.with_acls(Acls::new(&only_alice)),
            )
            .await
            .unwrap();
        let set_secret = alice.set_data("/sec/secret", b"x", None).await.unwrap();
        let set_open = alice.set_data("/sec/open", b"y", None).await.unwrap();
        alice.delete("/sec/secret", None).await.unwrap();
        let (_, sec) = alice.get_data("/sec").await.unwrap();

        assert_eq!(
            anon.drain_events().await,
            [
                ev(E::NodeCreated, "/sec/open", open_st.czxid),
                ev(E::NodeDataChanged, "/sec/open", set_open.mzxid)
            ]
        );
        assert_eq!(
            friend.drain_events().await,
            [
                ev(E::NodeCreated, "/sec/open", open_st.czxid),
                ev(E::NodeCreated, "/sec/secret", secret_st.czxid),
                ev(E::NodeDataChanged, "/sec/secret", set_secret.mzxid),
                ev(E::NodeDataChanged, "/sec/open", set_open.mzxid),
                ev(E::NodeDeleted, "/sec/secret", sec.pzxid)
            ]
        );
        s.stop().await;
    })
    .await
}

/// The same check applies to every watch, not only recursive ones (ZooKeeper passes the
/// node's ACL, or the parent's for NodeChildrenChanged, with every trigger). A standard watch
/// whose event is withheld is still used up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standard_notifications_require_read_permission() {
    bounded(async {
        let s = TestServer::start().await;
        let alice = s.client().await;
        alice.auth("digest", ALICE.as_bytes()).await.unwrap();
        let only_alice = [digest_acl(Permission::ALL, ALICE)];
        alice.create("/w", b"", &open()).await.unwrap();

        let mut anon = s.raw().await;
        // An exists watch on a missing node that is then created unreadable.
        assert!(anon.exists("/w/secret", true).await.is_err());
        // Child and data watches on a node whose READ is then taken away.
        anon.get_children("/w", true).await.unwrap();
        anon.get_data("/w", true).await.unwrap();
        assert_eq!(total_watches(s.addr).await, 2);

        alice.set_acl("/w", &only_alice, None).await.unwrap();
        alice
            .create(
                "/w/secret",
                b"",
                &CreateMode::Persistent.with_acls(Acls::new(&only_alice)),
            )
            .await
            .unwrap();
        alice.set_data("/w", b"x", None).await.unwrap();
        assert_eq!(anon.drain_events().await, []);
        // The withheld events used the watches up.
        assert_eq!(total_watches(s.addr).await, 0);
        alice
            .set_acl("/w", &Acls::anyone_all(), None)
            .await
            .unwrap();
        alice.set_data("/w", b"y", None).await.unwrap();
        alice.create("/w/more", b"", &open()).await.unwrap();
        assert_eq!(anon.drain_events().await, []);
        s.stop().await;
    })
    .await
}
