//! Interop with Apache ZooKeeper's snapshots.
//!
//! - `apache_fixture_*`: a snapshot written by Apache ZooKeeper 3.8.0 (see
//!   `tests/fixtures/apache-3.8/README.md`) reads back with the expected nodes, ACLs and
//!   sessions, and its digest section equals the digest zkrs computes for the tree.
//! - `interop_snapshot_for_apache`: writes the snapshot that `scripts/interop.sh`-style checks
//!   feed to Apache ZooKeeper; with `ZKRS_SNAPSHOT_INTEROP_DIR=<dataDir>/version-2` it saves it
//!   there. `ZKRS_SNAPSHOT_READ=<file>[:<file>...]` reads snapshots written by Apache (e.g. the
//!   one Apache takes after loading ours) and checks their digests. Nothing here needs Java.

use std::path::Path;

use zk_proto::consts::ephemeral_owner;
use zk_proto::data::{Acl, StatPersisted};
use zk_proto::Perms;
use zk_server::core::tree::{DataTree, DIGEST_VERSION};
use zk_server::storage::snapshot::{
    check_digest, read_snapshot, save, write_snapshot, zxid_from_name, DigestCheck,
    SnapshotWriteOptions, ZxidDigest,
};

const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/apache-3.8/snap/snapshot.1c"
);
const SESSION_A: i64 = 0x1000023e8d50001;
const SESSION_B: i64 = 0x1000023e8d50002;
/// What Apache ZooKeeper stored in the digest section (and logged as the tree digest).
const APACHE_DIGEST: i64 = 35_106_020_909;
const USER1_DIGEST: &str = "user1:+7K83PhyQ3ijGj0ADmljf0quVwQ=";

/// (czxid, mzxid, pzxid, version, cversion, aversion, ephemeralOwner)
type StatTuple = (i64, i64, i64, i32, i32, i32, i64);
/// (path, data, ACL, stat)
type Row<'a> = (&'a str, Option<&'a [u8]>, Vec<Acl>, StatTuple);

fn fixture() -> Vec<u8> {
    std::fs::read(FIXTURE).unwrap()
}

fn stat(
    czxid: i64,
    mzxid: i64,
    pzxid: i64,
    version: i32,
    cversion: i32,
    aversion: i32,
    owner: i64,
) -> StatTuple {
    (czxid, mzxid, pzxid, version, cversion, aversion, owner)
}

fn stat_of(s: &StatPersisted) -> StatTuple {
    (
        s.czxid,
        s.mzxid,
        s.pzxid,
        s.version,
        s.cversion,
        s.aversion,
        s.ephemeral_owner,
    )
}

#[test]
fn apache_fixture_reads_with_the_expected_tree() {
    let snap = read_snapshot(&fixture()).unwrap();
    let t = &snap.tree;

    let mut sessions = snap.sessions.clone();
    sessions.sort();
    assert_eq!(sessions, vec![(SESSION_A, 30_000), (SESSION_B, 20_000)]);

    assert_eq!(
        t.paths_preorder(),
        vec![
            "/",
            "/app",
            "/app/bin",
            "/app/empty",
            "/app/eph",
            "/app/ephB",
            "/app/null",
            "/app/seq-0000000003",
            "/app/seq-0000000004",
            "/cont",
            "/cont/child",
            "/counter",
            "/multi",
            "/ro",
            "/secure",
            "/ttl",
            "/zookeeper",
            "/zookeeper/config",
            "/zookeeper/quota",
        ]
    );

    let open = Acl::open_unsafe();
    // (path, data, ACL, (czxid, mzxid, pzxid, version, cversion, aversion, ephemeralOwner))
    let expected: Vec<Row> = vec![
        ("/", Some(b""), open.clone(), stat(0, 0, 0x17, 0, 8, 0, 0)),
        (
            "/app",
            Some(b"hello2"),
            open.clone(),
            stat(8, 0x15, 0xf, 1, 7, 0, 0),
        ),
        (
            "/app/bin",
            Some(&[0, 1, 2, 0x7f, 0x80, 0xfe, 0xff]),
            vec![Acl::new(
                Perms::READ | Perms::WRITE | Perms::CREATE,
                "world",
                "anyone",
            )],
            stat(0xb, 0xb, 0xb, 0, 0, 1, 0),
        ),
        (
            "/app/empty",
            Some(b""),
            open.clone(),
            stat(9, 9, 9, 0, 0, 0, 0),
        ),
        (
            "/app/eph",
            Some(b"ephemeral of A"),
            open.clone(),
            stat(0xe, 0xe, 0xe, 0, 0, 0, SESSION_A),
        ),
        (
            "/app/ephB",
            Some(b"ephemeral of B"),
            open.clone(),
            stat(0xf, 0xf, 0xf, 0, 0, 0, SESSION_B),
        ),
        (
            "/app/null",
            None,
            open.clone(),
            stat(0xa, 0xa, 0xa, 0, 0, 0, 0),
        ),
        (
            "/app/seq-0000000003",
            Some(b"s"),
            open.clone(),
            stat(0xc, 0xc, 0xc, 0, 0, 0, 0),
        ),
        (
            "/app/seq-0000000004",
            Some(b"s"),
            open.clone(),
            stat(0xd, 0xd, 0xd, 0, 0, 0, 0),
        ),
        (
            "/cont",
            None,
            open.clone(),
            stat(2, 2, 3, 0, 1, 0, ephemeral_owner::CONTAINER),
        ),
        (
            "/cont/child",
            Some(b"c"),
            open.clone(),
            stat(3, 3, 3, 0, 0, 0, 0),
        ),
        (
            "/counter",
            Some(b"5"),
            open.clone(),
            stat(0x17, 0x1c, 0x17, 5, 0, 0, 0),
        ),
        (
            "/multi",
            Some(b"m"),
            vec![
                Acl::new(Perms::READ | Perms::WRITE, "ip", "127.0.0.1"),
                Acl::new(Perms::READ, "world", "anyone"),
            ],
            stat(0x11, 0x11, 0x11, 0, 0, 0, 0),
        ),
        (
            "/ro",
            Some(b"read only"),
            Acl::read_unsafe(),
            stat(0x12, 0x12, 0x12, 0, 0, 0, 0),
        ),
        (
            "/secure",
            Some(b"secret"),
            vec![Acl::new(Perms::ALL, "digest", USER1_DIGEST)],
            stat(0x10, 0x10, 0x10, 0, 0, 0, 0),
        ),
        (
            "/ttl",
            Some(b"t"),
            open.clone(),
            stat(4, 4, 4, 0, 0, 0, ephemeral_owner::ttl(3_600_000)),
        ),
        (
            "/zookeeper",
            Some(b""),
            open.clone(),
            stat(0, 0, 0, 0, 0, 0, 0),
        ),
        (
            "/zookeeper/config",
            Some(b""),
            Acl::read_unsafe(),
            stat(0, 0, 0, 0, 0, -1, 0),
        ),
        (
            "/zookeeper/quota",
            Some(b""),
            open.clone(),
            stat(0, 0, 0, 0, 0, 0, 0),
        ),
    ];
    for (path, data, acl, st) in expected {
        let n = t.get(path).unwrap_or_else(|| panic!("{path} missing"));
        assert_eq!(n.data.as_deref(), data, "{path} data");
        assert_eq!(t.acl_of(n), acl, "{path} ACL");
        assert_eq!(stat_of(&n.stat), st, "{path} stat");
    }
    // Apache interns the open ACL as a real ref (only a null ACL list gets -1): both read back.
    assert_eq!(t.get("/").unwrap().acl_ref, -1);
    assert_ne!(t.get("/app").unwrap().acl_ref, -1);
    assert_eq!(t.acls.len(), 5);

    // Times: the root and /zookeeper nodes have 0; the rest were written on 2026-11-22.
    assert_eq!(t.get("/app").unwrap().stat.ctime, 1_795_306_023_232);
    assert_eq!(t.get("/counter").unwrap().stat.mtime, 1_795_306_024_484);

    // Client view: cversion counts creations and deletions; the container shows owner 0.
    let app = t.get("/app").unwrap().client_stat();
    assert_eq!((app.num_children, app.cversion, app.data_length), (7, 7, 6));
    let root = t.get("/").unwrap().client_stat();
    assert_eq!((root.num_children, root.cversion), (8, 8));
    assert_eq!(t.get("/cont").unwrap().client_stat().ephemeral_owner, 0);

    assert_eq!(
        t.ephemerals_of(SESSION_A).collect::<Vec<_>>(),
        vec!["/app/eph"]
    );
    assert_eq!(
        t.ephemerals_of(SESSION_B).collect::<Vec<_>>(),
        vec!["/app/ephB"]
    );
    assert_eq!(t.containers().collect::<Vec<_>>(), vec!["/cont"]);
    assert_eq!(t.ttls().collect::<Vec<_>>(), vec!["/ttl"]);
}

/// The real test of the tree digest: Apache's value for this tree, from its digest section,
/// equals the digest zkrs computes from the nodes it read.
#[test]
fn apache_fixture_digest_matches_ours() {
    let snap = read_snapshot(&fixture()).unwrap();
    assert_eq!(
        snap.zxid_digest,
        Some(ZxidDigest {
            zxid: 0x1c,
            version: DIGEST_VERSION,
            digest: APACHE_DIGEST
        })
    );
    assert_eq!(
        snap.last_processed_zxid, None,
        "3.8 writes no lastProcessedZxid"
    );
    assert_eq!(snap.tree.digest(), APACHE_DIGEST);
    let zxid = zxid_from_name("snapshot.1c").unwrap();
    assert_eq!(check_digest(&snap, zxid), DigestCheck::Match);
}

#[test]
fn apache_fixture_rewritten_by_us_reads_back_equal() {
    let snap = read_snapshot(&fixture()).unwrap();
    let mut bytes = Vec::new();
    write_snapshot(
        &mut bytes,
        &snap.tree.view(),
        &snap.sessions,
        0x1c,
        &SnapshotWriteOptions::default(),
    )
    .unwrap();
    let back = read_snapshot(&bytes).unwrap();
    let image = |t: &DataTree| {
        let mut v = Vec::new();
        t.visit_preorder(|p, n| {
            v.push((p.to_owned(), n.data.clone(), t.acl_of(n), n.stat.clone()))
        });
        v
    };
    assert_eq!(image(&back.tree), image(&snap.tree));
    assert_eq!(back.sessions, snap.sessions);
    assert_eq!(back.tree.digest(), APACHE_DIGEST);
    assert_eq!(check_digest(&back, 0x1c), DigestCheck::Match);
}

#[test]
fn apache_fixture_damage_is_detected() {
    let good = fixture();
    for i in 0..good.len() {
        let mut bad = good.clone();
        bad[i] ^= 0x01;
        assert!(
            read_snapshot(&bad).is_err(),
            "flip at byte {i} went undetected"
        );
    }
    // Cuts: only the end of the body (before the optional digest section) reads as valid.
    let ok: Vec<usize> = (0..good.len())
        .filter(|&n| read_snapshot(&good[..n]).is_ok())
        .collect();
    assert_eq!(ok, vec![good.len() - 33]);
}

/// The tree fed to Apache ZooKeeper by the interop check (see the fixtures README).
fn interop_tree() -> (DataTree, Vec<(i64, i32)>, i64) {
    let mut t = DataTree::new();
    let mut tr = Vec::new();
    let epoch = 0x3_0000_0000i64;
    let mut z = epoch;
    let mut next = || {
        z += 1;
        z
    };
    let session = 0x2000_0000_0000_00a1i64;
    let acl_digest = vec![Acl::new(Perms::ALL, "digest", USER1_DIGEST)];
    let acl_ip = vec![
        Acl::new(Perms::READ | Perms::WRITE, "ip", "127.0.0.1"),
        Acl::new(Perms::READ, "world", "anyone"),
    ];
    let open = Acl::open_unsafe();
    let mut create = |t: &mut DataTree, p: &str, d: Option<&[u8]>, acl: &[Acl], owner: i64| {
        let zx = next();
        t.create_node(
            p,
            d.map(<[u8]>::to_vec),
            acl,
            owner,
            -1,
            zx,
            1_700_000_000_000 + (zx - epoch) * 1000,
            &mut tr,
        )
        .unwrap();
        zx
    };
    create(&mut t, "/zkrs", Some(b"made by zkrs"), &open, 0);
    create(&mut t, "/zkrs/null", None, &open, 0);
    create(&mut t, "/zkrs/empty", Some(b""), &open, 0);
    create(&mut t, "/zkrs/bin", Some(&[0, 1, 0xfe, 0xff]), &open, 0);
    create(&mut t, "/zkrs/secure", Some(b"secret"), &acl_digest, 0);
    create(&mut t, "/zkrs/ip", Some(b"ip"), &acl_ip, 0);
    create(&mut t, "/zkrs/ro", Some(b"ro"), &Acl::read_unsafe(), 0);
    create(&mut t, "/zkrs/seq-0000000007", Some(b"seq"), &open, 0);
    create(&mut t, "/zkrs/eph", Some(b"ephemeral"), &open, session);
    create(
        &mut t,
        "/zkrs/cont",
        None,
        &open,
        ephemeral_owner::CONTAINER,
    );
    create(&mut t, "/zkrs/cont/child", Some(b"c"), &open, 0);
    create(
        &mut t,
        "/zkrs/ttl",
        Some(b"t"),
        &open,
        ephemeral_owner::ttl(3_600_000),
    );
    create(&mut t, "/zkrs/gone", None, &open, 0);
    let mut tr = Vec::new();
    let zx = next();
    t.set_data(
        "/zkrs",
        Some(b"made by zkrs, v2".to_vec()),
        1,
        zx,
        1_700_000_100_000,
        &mut tr,
    )
    .unwrap();
    let zx2 = next();
    t.set_data(
        "/zkrs",
        Some(b"made by zkrs, v3".to_vec()),
        2,
        zx2,
        1_700_000_200_000,
        &mut tr,
    )
    .unwrap();
    t.set_acl(
        "/zkrs/ro",
        &[Acl::new(Perms::READ | Perms::ADMIN, "world", "anyone")],
        1,
    )
    .unwrap();
    let last = next();
    t.delete_node("/zkrs/gone", last, &mut tr).unwrap();
    (t, vec![(session, 40_000)], last)
}

#[test]
fn interop_snapshot_for_apache() {
    let (t, sessions, last) = interop_tree();
    let mut bytes = Vec::new();
    write_snapshot(
        &mut bytes,
        &t.view(),
        &sessions,
        last,
        &SnapshotWriteOptions::default(),
    )
    .unwrap();
    let back = read_snapshot(&bytes).unwrap();
    assert_eq!(check_digest(&back, last), DigestCheck::Match);
    assert_eq!(last, 0x3_0000_0010);
    if let Some(dir) = std::env::var_os("ZKRS_SNAPSHOT_INTEROP_DIR") {
        let dir = Path::new(&dir);
        std::fs::create_dir_all(dir).unwrap();
        let p = save(
            dir,
            &t.view(),
            &sessions,
            last,
            &SnapshotWriteOptions::default(),
        )
        .unwrap();
        println!(
            "wrote {} ({} nodes, digest {}, last zxid {last:#x})",
            p.display(),
            t.node_count(),
            t.digest()
        );
    }
}

#[test]
fn read_snapshots_named_in_env() {
    let Some(files) = std::env::var_os("ZKRS_SNAPSHOT_READ") else {
        return;
    };
    for f in std::env::split_paths(&files) {
        let bytes = std::fs::read(&f).unwrap();
        let snap = read_snapshot(&bytes).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        let name = f.file_name().unwrap().to_str().unwrap();
        let check = zxid_from_name(name).map(|z| check_digest(&snap, z));
        println!(
            "{}: {} nodes, {} sessions, digest section {:?}, lastProcessedZxid {:?}, tree digest {}, check {:?}",
            f.display(),
            snap.tree.node_count(),
            snap.sessions.len(),
            snap.zxid_digest,
            snap.last_processed_zxid,
            snap.tree.digest(),
            check
        );
        assert!(
            !matches!(check, Some(DigestCheck::Mismatch { .. })),
            "{}: digest mismatch",
            f.display()
        );
    }
}

/// Non-ASCII paths: Apache's `DigestCalculator` hashes `path.getBytes()`, the JVM's default
/// charset. With a UTF-8 locale (and on every JDK 18+, JEP 400) that is UTF-8, as zkrs does.
#[test]
fn apache_digest_of_non_ascii_paths_under_a_utf8_locale() {
    let bytes = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/apache-3.8/snap-utf8-locale/snapshot.5"
    ))
    .unwrap();
    let snap = read_snapshot(&bytes).unwrap();
    assert_eq!(
        snap.tree.paths_preorder(),
        vec![
            "/",
            "/c",
            "/zookeeper",
            "/zookeeper/config",
            "/zookeeper/quota",
            "/über",
            "/über/日本",
        ]
    );
    assert_eq!(
        snap.tree.get("/über").unwrap().data.as_deref(),
        Some("grüß".as_bytes())
    );
    assert_eq!(snap.zxid_digest.map(|d| d.digest), Some(7_614_980_057));
    assert_eq!(check_digest(&snap, 5), DigestCheck::Match);
}

/// The same tree made by a JDK 17 under LANG=C (default charset US-ASCII): Apache hashed every
/// non-ASCII char of a path as '?', so its digest differs from zkrs's (and from any Apache
/// running under a UTF-8 locale). The snapshot's bytes are fine (jute writes UTF-8); only the
/// digest section disagrees, which ZooKeeper (and zkrs) merely log.
#[test]
fn apache_digest_of_non_ascii_paths_under_the_c_locale() {
    let bytes = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/apache-3.8/snap-c-locale/snapshot.5"
    ))
    .unwrap();
    let snap = read_snapshot(&bytes).unwrap();
    assert!(snap.tree.get("/über/日本").is_some());
    const STORED: i64 = 8_824_775_456;
    assert_eq!(
        check_digest(&snap, 5),
        DigestCheck::Mismatch {
            stored: STORED,
            computed: 8_405_864_107
        }
    );
    // Recomputing with non-ASCII chars replaced by '?' gives exactly Apache's value.
    let mut sum = 0u64;
    snap.tree.visit_preorder(|p, n| {
        if p.starts_with("/zookeeper/") {
            return;
        }
        let p = if p == "/" { "" } else { p };
        let ascii: String = p
            .chars()
            .map(|c| if c.is_ascii() { c } else { '?' })
            .collect();
        let s = &n.stat;
        let mut h = crc32fast::Hasher::new();
        h.update(ascii.as_bytes());
        if let Some(d) = &n.data {
            h.update(d);
        }
        for v in [s.czxid, s.mzxid, s.pzxid, s.ctime, s.mtime] {
            h.update(&v.to_be_bytes());
        }
        for v in [s.version, s.cversion, s.aversion] {
            h.update(&v.to_be_bytes());
        }
        h.update(&s.ephemeral_owner.to_be_bytes());
        sum = sum.wrapping_add(u64::from(h.finalize()));
    });
    assert_eq!(sum as i64, STORED);
}

/// A snapshot Apache ZooKeeper 3.8.0 wrote as a member of a 3-server ensemble (see the fixtures'
/// README): `/zookeeper/config` is in it like any node, with the ensemble's configuration.
const ENSEMBLE_FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/apache-3.8/snap-ensemble/snapshot.10000000e"
);
/// What that ensemble served as `/zookeeper/config` (read with kazoo and zkCli `get -s`).
const ENSEMBLE_CONFIG: &str = "server.1=127.0.0.1:37485:46041:participant\n\
                               server.2=127.0.0.1:44589:60919:participant\n\
                               server.3=127.0.0.1:37395:41309:participant\nversion=0";

#[test]
fn an_ensemble_members_snapshot_holds_zookeeper_config_and_we_keep_it() {
    let bytes = std::fs::read(ENSEMBLE_FIXTURE).unwrap();
    let snap = read_snapshot(&bytes).unwrap();
    let node = snap.tree.get("/zookeeper/config").unwrap();
    assert_eq!(node.data.as_deref(), Some(ENSEMBLE_CONFIG.as_bytes()));
    let s = &node.stat;
    assert_eq!(stat_of(s), stat(0, 0, 0, -1, 0, -1, 0));
    assert_eq!(s.ctime, 0);
    assert!(
        s.mtime > 0,
        "the server's wall clock when it wrote the node"
    );
    assert_eq!(snap.tree.acl_of(node), Acl::read_unsafe());
    // The node is outside the tree digest: Apache's digest section still equals ours.
    let zxid = zxid_from_name("snapshot.10000000e").unwrap();
    assert_eq!(check_digest(&snap, zxid), DigestCheck::Match);

    // zkrs writes the node back as it read it (data and stat).
    let mut out = Vec::new();
    write_snapshot(
        &mut out,
        &snap.tree.view(),
        &snap.sessions,
        zxid,
        &SnapshotWriteOptions::default(),
    )
    .unwrap();
    let back = read_snapshot(&out).unwrap();
    let again = back.tree.get("/zookeeper/config").unwrap();
    assert_eq!(again.data, node.data);
    assert_eq!(again.stat, node.stat);
    assert_eq!(check_digest(&back, zxid), DigestCheck::Match);
}
