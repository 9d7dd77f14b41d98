//! Snapshots written by `write_snapshot` read back node for node, for random trees.

use proptest::prelude::*;
use zk_proto::consts::ephemeral_owner;
use zk_proto::data::{Acl, StatPersisted};
use zk_proto::Perms;
use zk_server::core::tree::{DataTree, DIGEST_VERSION};
use zk_server::storage::snapshot::{
    check_digest, read_snapshot, write_snapshot, DigestCheck, SnapshotWriteOptions, ZxidDigest,
};

type NodeImage = (String, Option<Vec<u8>>, Vec<Acl>, StatPersisted);

/// Every node: path, data, ACL list, persisted stat (pre-order, siblings sorted).
fn image(t: &DataTree) -> Vec<NodeImage> {
    let mut out = Vec::new();
    t.visit_preorder(|p, n| out.push((p.to_owned(), n.data.clone(), t.acl_of(n), n.stat.clone())));
    out
}

fn acl_choices() -> Vec<Vec<Acl>> {
    vec![
        Acl::open_unsafe(),
        Acl::read_unsafe(),
        vec![Acl::new(
            Perms::ALL,
            "digest",
            "user1:+7K83PhyQ3ijGj0ADmljf0quVwQ=",
        )],
        vec![Acl::new(Perms::READ | Perms::WRITE, "ip", "10.0.0.0/8")],
        vec![
            Acl::new(Perms::ALL, "digest", "admin:x0AhCyLnVpgBz+Ccs2r0AxWfYSE="),
            Acl::new(Perms::READ, "ip", "127.0.0.1"),
            Acl::new(Perms::READ, "world", "anyone"),
        ],
    ]
}

#[derive(Debug, Clone)]
enum Data {
    Null,
    Empty,
    Bytes(Vec<u8>),
}

impl Data {
    fn get(&self) -> Option<Vec<u8>> {
        match self {
            Data::Null => None,
            Data::Empty => Some(Vec::new()),
            Data::Bytes(b) => Some(b.clone()),
        }
    }
}

#[derive(Debug, Clone)]
enum Op {
    Create {
        parent: usize,
        name: String,
        data: Data,
        acl: usize,
        owner: u8,
    },
    SetData {
        node: usize,
        data: Data,
    },
    SetAcl {
        node: usize,
        acl: usize,
    },
    Delete {
        node: usize,
    },
}

fn data_strategy() -> impl Strategy<Value = Data> {
    prop_oneof![
        Just(Data::Null),
        Just(Data::Empty),
        proptest::collection::vec(any::<u8>(), 1..40).prop_map(Data::Bytes),
    ]
}

fn op_strategy() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (any::<usize>(), "[a-z0-9_.é-]{1,4}", data_strategy(), 0..5usize, 0..7u8).prop_map(
            |(parent, name, data, acl, owner)| Op::Create { parent, name, data, acl, owner }
        ),
        2 => (any::<usize>(), data_strategy()).prop_map(|(node, data)| Op::SetData { node, data }),
        1 => (any::<usize>(), 0..5usize).prop_map(|(node, acl)| Op::SetAcl { node, acl }),
        1 => any::<usize>().prop_map(|node| Op::Delete { node }),
    ]
}

/// Sessions 1..=4 own ephemerals; 5 is a container, 6 a TTL node.
fn owner_of(kind: u8) -> i64 {
    match kind {
        0 => 0,
        1..=4 => 0x100_0000_0000_0000 + i64::from(kind),
        5 => ephemeral_owner::CONTAINER,
        _ => ephemeral_owner::ttl(60_000),
    }
}

/// Applies the ops to a fresh tree; returns it and the last zxid used.
fn build(ops: &[Op]) -> (DataTree, i64) {
    let mut t = DataTree::new();
    let acls = acl_choices();
    let mut zxid = 0x1_0000_0000i64;
    let mut tr = Vec::new();
    let mutable = |t: &DataTree| -> Vec<String> {
        t.paths_preorder()
            .into_iter()
            .filter(|p| p != "/" && !p.starts_with("/zookeeper"))
            .collect()
    };
    for op in ops {
        zxid += 1;
        let time = 1_700_000_000_000 + zxid;
        match op {
            Op::Create {
                parent,
                name,
                data,
                acl,
                owner,
            } => {
                let mut parents = mutable(&t);
                parents.retain(|p| t.get(p).unwrap().stat.ephemeral_owner == 0);
                parents.push("/".to_owned());
                let parent = &parents[parent % parents.len()];
                let path = if parent == "/" {
                    format!("/{name}")
                } else {
                    format!("{parent}/{name}")
                };
                let _ = t.create_node(
                    &path,
                    data.get(),
                    &acls[*acl],
                    owner_of(*owner),
                    -1,
                    zxid,
                    time,
                    &mut tr,
                );
            }
            Op::SetData { node, data } => {
                let nodes = mutable(&t);
                if !nodes.is_empty() {
                    let p = &nodes[node % nodes.len()];
                    let v = t.get(p).unwrap().stat.version + 1;
                    t.set_data(p, data.get(), v, zxid, time, &mut tr).unwrap();
                }
            }
            Op::SetAcl { node, acl } => {
                let nodes = mutable(&t);
                if !nodes.is_empty() {
                    let p = &nodes[node % nodes.len()];
                    let v = t.get(p).unwrap().stat.aversion + 1;
                    t.set_acl(p, &acls[*acl], v).unwrap();
                }
            }
            Op::Delete { node } => {
                let nodes = mutable(&t);
                if !nodes.is_empty() {
                    let p = &nodes[node % nodes.len()];
                    if t.get(p).unwrap().children.is_empty() {
                        t.delete_node(p, zxid, &mut tr).unwrap();
                    }
                }
            }
        }
    }
    (t, zxid)
}

fn assert_same_tree(a: &DataTree, b: &DataTree) {
    assert_eq!(image(a), image(b));
    assert_eq!(a.digest(), b.digest());
    assert_eq!(a.node_count(), b.node_count());
    assert_eq!(a.approximate_data_size(), b.approximate_data_size());
    let mut ea: Vec<_> = a
        .ephemerals_by_session()
        .map(|(s, p)| (*s, p.clone()))
        .collect();
    let mut eb: Vec<_> = b
        .ephemerals_by_session()
        .map(|(s, p)| (*s, p.clone()))
        .collect();
    ea.sort();
    eb.sort();
    assert_eq!(ea, eb);
    assert!(a.containers().eq(b.containers()));
    assert!(a.ttls().eq(b.ttls()));
}

fn round_trip(t: &DataTree, sessions: &[(i64, i32)], zxid: i64, digest_enabled: bool) {
    let opts = SnapshotWriteOptions { digest_enabled };
    let mut bytes = Vec::new();
    write_snapshot(&mut bytes, &t.view(), sessions, zxid, &opts).unwrap();
    let back = read_snapshot(&bytes).unwrap();
    assert_same_tree(t, &back.tree);
    assert_eq!(back.sessions, sessions);
    assert_eq!(back.last_processed_zxid, Some(zxid));
    if digest_enabled {
        assert_eq!(
            back.zxid_digest,
            Some(ZxidDigest {
                zxid,
                version: DIGEST_VERSION,
                digest: t.digest()
            })
        );
        let want = if zxid > 0 {
            DigestCheck::Match
        } else {
            // ZooKeeper treats a digest section for zxid 0 as empty.
            DigestCheck::Skipped("the digest section is empty")
        };
        assert_eq!(check_digest(&back, zxid), want);
    } else {
        assert_eq!(back.zxid_digest, None);
    }
    // Writing what was read gives the same bytes: nothing is lost or reordered.
    let mut again = Vec::new();
    write_snapshot(&mut again, &back.tree.view(), &back.sessions, zxid, &opts).unwrap();
    assert_eq!(bytes, again);
}

#[test]
fn fixed_tree_with_every_kind_of_node() {
    let acls = acl_choices();
    let mut t = DataTree::new();
    let mut tr = Vec::new();
    let s1 = 0x100_0000_0000_0001;
    let s2 = 0x200_0000_0000_0002;
    let mut create =
        |t: &mut DataTree, p: &str, d: Option<&[u8]>, acl: &[Acl], owner: i64, z: i64| {
            t.create_node(
                p,
                d.map(<[u8]>::to_vec),
                acl,
                owner,
                -1,
                z,
                1000 + z,
                &mut tr,
            )
            .unwrap();
        };
    create(&mut t, "/a", Some(b"top"), &acls[0], 0, 1);
    create(&mut t, "/a/b", None, &acls[2], 0, 2);
    create(&mut t, "/a/b/c", Some(b""), &acls[3], 0, 3);
    create(&mut t, "/a/b/c/d", Some(&[0, 255, 0x80]), &acls[4], 0, 4);
    create(&mut t, "/a/e1", Some(b"x"), &acls[0], s1, 5);
    create(&mut t, "/a/e2", Some(b"y"), &acls[1], s2, 6);
    create(&mut t, "/a/e3", Some(b"z"), &acls[1], s1, 7);
    create(&mut t, "/c", None, &acls[0], ephemeral_owner::CONTAINER, 8);
    create(&mut t, "/c/k", None, &acls[0], 0, 9);
    create(
        &mut t,
        "/t",
        Some(b"ttl"),
        &acls[0],
        ephemeral_owner::ttl(5000),
        10,
    );
    create(&mut t, "/seq-0000000005", Some(b"s"), &acls[4], 0, 11);
    create(&mut t, "/ünï", Some("ü".as_bytes()), &acls[0], 0, 12);
    t.set_data("/a", Some(b"v2".to_vec()), 1, 13, 2000, &mut tr)
        .unwrap();
    t.set_acl("/a/b/c", &acls[4], 1).unwrap();
    t.delete_node("/a/e3", 14, &mut tr).unwrap();
    let sessions = [(s1, 30_000), (s2, 4_000), (0x300_0000_0000_0003, 40_000)];
    round_trip(&t, &sessions, 14, true);
    round_trip(&t, &sessions, 14, false);

    // The open ACL is ref -1 and is not in the ACL section; the others are.
    let mut bytes = Vec::new();
    write_snapshot(
        &mut bytes,
        &t.view(),
        &sessions,
        14,
        &SnapshotWriteOptions::default(),
    )
    .unwrap();
    let back = read_snapshot(&bytes).unwrap();
    assert_eq!(back.tree.get("/a").unwrap().acl_ref, -1);
    // read-only (also /zookeeper/config's), digest, multi; the ip list was replaced.
    assert_eq!(back.tree.acls.len(), 3);
    assert_eq!(
        back.tree.ephemerals_of(s1).cloned().collect::<Vec<_>>(),
        vec!["/a/e1"]
    );
    assert_eq!(back.tree.get("/a/b").unwrap().data, None);
    assert_eq!(back.tree.get("/a/b/c").unwrap().data, Some(Vec::new()));
    assert_eq!(back.tree.containers().collect::<Vec<_>>(), vec!["/c"]);
    assert_eq!(back.tree.ttls().collect::<Vec<_>>(), vec!["/t"]);
}

#[test]
fn empty_tree_and_no_sessions() {
    round_trip(&DataTree::new(), &[], 0, true);
    round_trip(&DataTree::new(), &[], 0, false);
}

#[test]
fn large_tree_crosses_write_chunks() {
    let mut t = DataTree::new();
    let mut tr = Vec::new();
    let mut z = 0;
    for i in 0..40 {
        z += 1;
        let p = format!("/n{i:03}");
        t.create_node(
            &p,
            Some(vec![i as u8; 3000]),
            &Acl::open_unsafe(),
            0,
            -1,
            z,
            z,
            &mut tr,
        )
        .unwrap();
        for j in 0..20 {
            z += 1;
            t.create_node(
                &format!("{p}/c{j}"),
                Some(vec![j as u8; 100]),
                &Acl::read_unsafe(),
                0,
                -1,
                z,
                z,
                &mut tr,
            )
            .unwrap();
        }
    }
    let sessions: Vec<(i64, i32)> = (0..5000).map(|i| (i, 30_000)).collect();
    round_trip(&t, &sessions, z, true);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn random_trees_round_trip(
        ops in proptest::collection::vec(op_strategy(), 0..60),
        sessions in proptest::collection::vec((any::<i64>(), any::<i32>()), 0..6),
        digest_enabled in any::<bool>(),
    ) {
        let (t, zxid) = build(&ops);
        round_trip(&t, &sessions, zxid, digest_enabled);
    }
}
