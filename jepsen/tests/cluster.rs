//! The cluster layer against real `zk-server` processes: every server link and client link goes
//! through a proxy the test controls. The binary is `$ZK_SERVER_BIN`, or this workspace's
//! `target/debug/zk-server`, built first with `cargo build -p zk-server`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use jepsen::cluster::{
    fresh_run_dir, locate_zk_server, tree_digest, walker, Ensemble, EnsembleOptions, FaultKind,
    Mode, Nemesis, NemesisOptions,
};
use zk_client::{Acl, Client, CreateMode};

fn zk_server() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    match locate_zk_server(&exe, "debug") {
        Ok(bin) => bin,
        Err(e) => panic!("cannot find or build the zk-server binary: {e:#}"),
    }
}

async fn ensemble(name: &str) -> Ensemble {
    let dir = fresh_run_dir(&std::env::temp_dir(), name).unwrap();
    Ensemble::start(EnsembleOptions::new(zk_server(), dir))
        .await
        .expect("ensemble starts")
}

async fn create(e: &Ensemble, path: &str) {
    let c = Client::builder()
        .session_timeout(Duration::from_secs(4))
        .connect(&e.connect_string(e.nodes()))
        .await
        .expect("client connects through the client proxies");
    c.create(path, b"x", &Acl::open_unsafe(), CreateMode::Persistent)
        .await
        .expect("create");
    c.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partitions_pauses_and_kills_through_proxies() {
    let t0 = Instant::now();
    let e = ensemble("jepsen-cluster").await;
    let leader = e.wait_stable(Duration::from_secs(20)).await.unwrap();
    create(&e, "/before").await;
    let base = e.wait_converged(Duration::from_secs(10)).await.unwrap();

    // The leader cut off from both followers: the two elect one of themselves.
    let others: Vec<u64> = e.nodes().iter().copied().filter(|&n| n != leader).collect();
    for &o in &others {
        e.net().block(leader, o);
    }
    let t = Instant::now();
    let new_leader = e
        .wait_leader_among(&others, Duration::from_secs(15))
        .await
        .unwrap();
    assert_ne!(new_leader, leader);
    eprintln!("new leader {new_leader} after {:?}", t.elapsed());
    // The isolated old leader stops leading once it misses its quorum for syncLimit.
    let deadline = Instant::now() + Duration::from_secs(10);
    while e
        .status(leader)
        .await
        .is_some_and(|s| s.mode == Mode::Leader)
    {
        assert!(Instant::now() < deadline, "isolated leader still leads");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Heal: all three together again, and they agree on the tree after a new write.
    e.net().heal();
    e.wait_stable(Duration::from_secs(15)).await.unwrap();
    create(&e, "/healed").await;
    let s = e.wait_converged(Duration::from_secs(10)).await.unwrap();
    assert_eq!(s.znode_count, base.znode_count + 1, "{s:?}");
    assert!(s.last_zxid > base.last_zxid);

    // A client partition: the proxy stops answering, then answers again.
    let victim = e.nodes()[0];
    e.net().block_client(victim);
    let addr = e.client_addr(victim);
    let probe = async {
        let mut s = tokio::net::TcpStream::connect(addr).await.ok()?;
        tokio::io::AsyncWriteExt::write_all(&mut s, b"ruok")
            .await
            .ok()?;
        let mut out = Vec::new();
        tokio::io::AsyncReadExt::read_to_end(&mut s, &mut out)
            .await
            .ok()?;
        Some(out)
    };
    assert!(tokio::time::timeout(Duration::from_millis(500), probe)
        .await
        .is_err());
    e.net().heal_client(victim);

    // A follower paused for longer than syncLimit, then resumed.
    let leader = e.wait_stable(Duration::from_secs(15)).await.unwrap();
    let follower = *e.nodes().iter().find(|&&n| n != leader).unwrap();
    e.pause(follower).unwrap();
    assert!(
        e.status(follower).await.is_none(),
        "a paused server answers"
    );
    tokio::time::sleep(e.sync_window() + Duration::from_millis(500)).await;
    e.resume(follower).unwrap();
    e.wait_stable(Duration::from_secs(15)).await.unwrap();

    // A follower killed and restarted; then the leader.
    assert!(e.kill(follower));
    let rest: Vec<u64> = e
        .nodes()
        .iter()
        .copied()
        .filter(|&n| n != follower)
        .collect();
    e.wait_stable_among(&rest, Duration::from_secs(15))
        .await
        .unwrap();
    e.restart(follower).unwrap();
    let leader = e.wait_stable(Duration::from_secs(15)).await.unwrap();
    assert!(e.kill(leader));
    e.start_node(leader).unwrap();
    e.wait_stable(Duration::from_secs(20)).await.unwrap();
    // The tree walk sees a change: one znode more, and the root's stat (cversion, pzxid).
    let w = walker(e.direct_client_addr(leader), Duration::from_secs(10))
        .await
        .unwrap();
    let before = tree_digest(&w, Duration::from_secs(10)).await.unwrap();
    create(&e, "/after").await;
    let s = e.wait_converged(Duration::from_secs(10)).await.unwrap();
    assert_eq!(s.znode_count, base.znode_count + 2, "{s:?}");
    let after = tree_digest(&w, Duration::from_secs(10)).await.unwrap();
    w.close().await;
    assert_ne!(before.digest, after.digest);
    assert_eq!(after.nodes, before.nodes + 1);
    assert_eq!(
        before.differences(&after, 10),
        ["/ differs", "/after only in the second"]
    );
    // Every server holds that same tree: /, /before, /healed, /after (not /zookeeper).
    let (agreed, tree) = e.same_tree(Duration::from_secs(20)).await.unwrap();
    // Later only by the walkers' session transactions.
    assert_eq!(agreed.znode_count, s.znode_count);
    assert!(agreed.last_zxid > s.last_zxid);
    assert_eq!(tree, after);
    assert_eq!(
        tree.by_path.keys().collect::<Vec<_>>(),
        ["/", "/after", "/before", "/healed"]
    );
    assert!(e.reap_exited().is_empty(), "a server crashed");

    let pids: Vec<u32> = e.nodes().iter().filter_map(|&n| e.pid(n)).collect();
    e.stop_all(Duration::from_secs(3)).await;
    for p in pids {
        assert!(
            !std::path::Path::new(&format!("/proc/{p}")).exists()
                || std::fs::read_to_string(format!("/proc/{p}/stat"))
                    .is_ok_and(|s| s.contains(") Z ")),
            "process {p} still runs"
        );
    }
    eprintln!("took {:?}", t0.elapsed());
    let _ = std::fs::remove_dir_all(e.run_dir());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_nemesis_schedule_heals_and_the_servers_agree() {
    // Every kind of fault, the full disk included: each data directory is a tmpfs of its own.
    let dir = fresh_run_dir(&std::env::temp_dir(), "jepsen-nemesis").unwrap();
    let mut opts = EnsembleOptions::new(zk_server(), dir);
    opts.disk_bytes = Some(64 << 20);
    let e = Arc::new(Ensemble::start(opts).await.expect("ensemble starts"));
    e.wait_stable(Duration::from_secs(20)).await.unwrap();
    let origin = Instant::now();
    let mut opts = NemesisOptions::new(FaultKind::ALL.to_vec(), 7);
    opts.fault_min = Duration::from_millis(800);
    opts.fault_max = Duration::from_millis(1500);
    opts.heal_min = Duration::from_millis(300);
    opts.heal_max = Duration::from_millis(600);
    opts.session_timeout = Duration::from_secs(2);
    let mut nemesis = Nemesis::new(e.clone(), opts, origin);
    nemesis
        .run(origin + Duration::from_secs(10))
        .await
        .expect("schedule ran and the ensemble is stable after healing");
    let periods = nemesis.into_periods();
    for p in &periods {
        eprintln!(
            "{:>6.2}..{:>6.2} {:<16} {}",
            p.start_ns as f64 / 1e9,
            p.end_ns as f64 / 1e9,
            p.kind,
            p.description
        );
        assert!(p.start_ns <= p.end_ns);
    }
    assert!(periods.len() >= 3, "{periods:?}");
    assert!(e.net().grudge().is_empty() && e.net().blocked_clients().is_empty());
    create(&e, "/after-nemesis").await;
    let (_, tree) = e.same_tree(Duration::from_secs(20)).await.unwrap();
    assert!(tree.by_path.contains_key("/after-nemesis"), "{tree:?}");
    e.stop_all(Duration::from_secs(3)).await;
    let _ = std::fs::remove_dir_all(e.run_dir());
}
