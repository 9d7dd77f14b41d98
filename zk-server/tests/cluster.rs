//! Real `zk-server` processes on 127.0.0.1 forming ensembles from zoo.cfg `server.N` lines and
//! `myid` files, as operators run them, driven by a real client (the `zookeeper-client` crate).
//! Faults are `kill -9` (SIGKILL) and wiping a data directory. Every wait is bounded.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use zookeeper_client as zk;

#[path = "common/certs.rs"]
mod certs;
#[path = "common/process.rs"]
mod process;

use process::{four_letter, free_port, ServerProc, BIN};

/// How long a four-letter word's answer may take.
const FLW_TIMEOUT: Duration = Duration::from_secs(3);

struct Node {
    server: ServerProc,
    client_port: u16,
}

struct Ensemble {
    root: PathBuf,
    nodes: Vec<Node>,
}

impl Ensemble {
    /// Writes zoo.cfg and myid for every server; `extra` lines go into each zoo.cfg.
    fn new(name: &str, voters: &[u64], observers: &[u64], extra: &str) -> Ensemble {
        let root = std::env::temp_dir().join(format!("zkrs-cluster-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).unwrap();
        let ids: Vec<(u64, bool)> = voters
            .iter()
            .map(|&i| (i, false))
            .chain(observers.iter().map(|&i| (i, true)))
            .collect();
        let mut servers = String::new();
        for (id, observer) in &ids {
            let (q, e) = (free_port(), free_port());
            servers.push_str(&format!(
                "server.{id}=127.0.0.1:{q}:{e}{}\n",
                if *observer { ":observer" } else { "" }
            ));
        }
        let mut nodes = Vec::new();
        for (id, observer) in ids {
            let client_port = free_port();
            nodes.push(Node {
                server: ServerProc::new(&root, id, |dir| {
                format!(
                    "tickTime=200\ninitLimit=10\nsyncLimit=5\ndataDir={}\nclientPort={client_port}\n\
                     4lw.commands.whitelist=*\nadmin.enableServer=false\n{}{extra}\n{servers}",
                    dir.display(),
                    if observer { "peerType=observer\n" } else { "" }
                )
            }),
                client_port,
            });
        }
        Ensemble { root, nodes }
    }

    fn node(&self, id: u64) -> &Node {
        self.nodes.iter().find(|n| n.server.id == id).unwrap()
    }

    fn start(&mut self, id: u64) {
        self.nodes
            .iter_mut()
            .find(|n| n.server.id == id)
            .unwrap()
            .server
            .start(&[]);
    }

    fn start_all(&mut self) {
        let ids: Vec<u64> = self.nodes.iter().map(|n| n.server.id).collect();
        for id in ids {
            self.start(id);
        }
    }

    /// SIGKILL: no shutdown path runs.
    fn kill(&mut self, id: u64) {
        let n = self.nodes.iter_mut().find(|n| n.server.id == id).unwrap();
        n.server.kill();
    }

    /// `Mode:` from `srvr`, or None while the server is not serving.
    fn mode(&self, id: u64) -> Option<String> {
        let text = four_letter(self.node(id).client_port, "srvr", FLW_TIMEOUT)?;
        text.lines()
            .find_map(|l| l.strip_prefix("Mode: "))
            .map(str::to_owned)
    }

    /// Waits until the live servers all serve, with exactly one leader; returns its id.
    fn wait_stable(&self, live: &[u64], within: Duration) -> u64 {
        let deadline = Instant::now() + within;
        loop {
            let modes: Vec<(u64, Option<String>)> =
                live.iter().map(|&id| (id, self.mode(id))).collect();
            let leaders: Vec<u64> = modes
                .iter()
                .filter(|(_, m)| m.as_deref() == Some("leader"))
                .map(|(id, _)| *id)
                .collect();
            if leaders.len() == 1 && modes.iter().all(|(_, m)| m.is_some()) {
                return leaders[0];
            }
            if Instant::now() > deadline {
                panic!(
                    "no stable ensemble within {within:?}: {modes:?}; logs in {}",
                    self.root.display()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn connect_string(&self, ids: &[u64]) -> String {
        ids.iter()
            .map(|&id| format!("127.0.0.1:{}", self.node(id).client_port))
            .collect::<Vec<_>>()
            .join(",")
    }
}

impl Drop for Ensemble {
    fn drop(&mut self) {
        for n in &mut self.nodes {
            n.server.kill();
        }
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.root);
        }
    }
}

async fn client(connect: &str) -> zk::Client {
    tokio::time::timeout(
        Duration::from_secs(20),
        zk::Client::connector()
            .with_session_timeout(Duration::from_secs(10))
            .connect(connect),
    )
    .await
    .expect("connect in time")
    .expect("client connects")
}

fn open() -> zk::CreateOptions<'static> {
    zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all())
}

/// Reads `path` on one server after `sync`, as a client that needs the latest value does.
async fn read_synced(e: &Ensemble, id: u64, path: &str) -> Option<Vec<u8>> {
    let c = client(&e.connect_string(&[id])).await;
    c.sync(path).await.ok()?;
    c.get_data(path).await.ok().map(|(d, _)| d)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_servers_elect_one_leader_and_every_server_sees_every_write() {
    let mut e = Ensemble::new("elect", &[1, 2, 3], &[], "");
    e.start_all();
    let leader = e.wait_stable(&[1, 2, 3], Duration::from_secs(20));
    let followers: Vec<u64> = [1, 2, 3].into_iter().filter(|id| *id != leader).collect();
    for f in &followers {
        assert_eq!(e.mode(*f).as_deref(), Some("follower"));
    }
    // `zk-server status CONFIG` says the same, as zkServer.sh status does.
    let out = Command::new(BIN)
        .arg("status")
        .arg(&e.node(leader).server.cfg)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("Mode: leader"));
    let mntr = four_letter(e.node(leader).client_port, "mntr", FLW_TIMEOUT).unwrap();
    assert!(mntr.contains("zk_server_state\tleader"), "{mntr}");
    assert!(mntr.contains("zk_synced_followers\t2"), "{mntr}");

    // Writes through a follower are forwarded; all servers agree after sync.
    let c = client(&e.connect_string(&[followers[0]])).await;
    c.create("/app", b"v1", &open()).await.unwrap();
    for i in 0..20 {
        c.create(&format!("/app/n{i:02}"), b"x", &open())
            .await
            .unwrap();
    }
    c.set_data("/app", b"v2", None).await.unwrap();
    for id in [1, 2, 3] {
        assert_eq!(
            read_synced(&e, id, "/app").await.as_deref(),
            Some(&b"v2"[..]),
            "server {id}"
        );
        let c = client(&e.connect_string(&[id])).await;
        c.sync("/app").await.unwrap();
        let (kids, stat) = c.get_children("/app").await.unwrap();
        assert_eq!(kids.len(), 20, "server {id}");
        assert_eq!(stat.num_children, 20);
    }
    // Errors come back from the leader's prep with ZooKeeper's codes.
    let err = c.create("/app", b"", &open()).await.unwrap_err();
    assert!(matches!(err, zk::Error::NodeExists), "{err:?}");
    let err = c.set_data("/app", b"v3", Some(7)).await.unwrap_err();
    assert!(matches!(err, zk::Error::BadVersion), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_leader_loses_no_acknowledged_write_and_sessions_survive() {
    let mut e = Ensemble::new("failover", &[1, 2, 3], &[], "");
    e.start_all();
    let leader = e.wait_stable(&[1, 2, 3], Duration::from_secs(20));
    let others: Vec<u64> = [1, 2, 3].into_iter().filter(|id| *id != leader).collect();

    // A session on a follower (knowing all three servers) with an ephemeral node.
    let c = client(&e.connect_string(&[others[0], others[1], leader])).await;
    c.create(
        "/lock",
        b"",
        &zk::CreateMode::Ephemeral.with_acls(zk::Acls::anyone_all()),
    )
    .await
    .unwrap();
    let mut acked = Vec::new();
    for i in 0..50 {
        let p = format!("/w{i:03}");
        c.create(&p, i.to_string().as_bytes(), &open())
            .await
            .unwrap();
        acked.push(p);
    }

    let killed_at = Instant::now();
    e.kill(leader);
    let new_leader = e.wait_stable(&others, Duration::from_secs(20));
    let election = killed_at.elapsed();
    assert_ne!(new_leader, leader);
    eprintln!("new leader {new_leader} after {election:?}");

    // Every acknowledged write survived, on both remaining servers.
    for id in &others {
        let c2 = client(&e.connect_string(&[*id])).await;
        c2.sync("/").await.unwrap();
        for p in &acked {
            assert!(
                c2.check_stat(p).await.unwrap().is_some(),
                "{p} lost on server {id}"
            );
        }
        // The session (and so its ephemeral) is still alive.
        assert!(
            c2.check_stat("/lock").await.unwrap().is_some(),
            "ephemeral lost on {id}"
        );
    }
    // The original client reconnects with its session and keeps writing.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        match c.create("/after", b"", &open()).await {
            Ok(_) => break,
            Err(err) if Instant::now() < deadline => {
                eprintln!("retrying after {err:?}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(err) => panic!("the session did not survive the failover: {err:?}"),
        }
    }
    assert!(c.check_stat("/lock").await.unwrap().is_some());

    // The old leader comes back as a follower and catches up.
    e.start(leader);
    let l2 = e.wait_stable(&[1, 2, 3], Duration::from_secs(20));
    assert_eq!(l2, new_leader);
    assert_eq!(e.mode(leader).as_deref(), Some("follower"));
    assert!(read_synced(&e, leader, "/after").await.is_some());
    assert_eq!(
        read_synced(&e, leader, "/w049").await.as_deref(),
        Some(&b"49"[..])
    );
    // It caught up from its own log plus a DIFF: no full image was needed.
    let log = std::fs::read_to_string(e.root.join(format!("zk{leader}.log"))).unwrap();
    assert!(
        !log.contains("SNAP: installing"),
        "the old leader needed a SNAP"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wiped_follower_catches_up_by_snapshot() {
    // With a history of 5 txns in memory, a follower that lost everything needs a SNAP.
    let mut e = Ensemble::new("snap", &[1, 2, 3], &[], "commitLogCount=5");
    e.start_all();
    let leader = e.wait_stable(&[1, 2, 3], Duration::from_secs(20));
    let victim = [1, 2, 3].into_iter().find(|id| *id != leader).unwrap();
    let c = client(&e.connect_string(&[leader])).await;
    for i in 0..30 {
        c.create(&format!("/s{i:02}"), b"data", &open())
            .await
            .unwrap();
    }
    e.kill(victim);
    let v2 = e.node(victim).server.dir.join("version-2");
    let _ = std::fs::remove_dir_all(&v2);
    let _ = std::fs::remove_file(e.node(victim).server.dir.join("acceptedEpoch"));
    let _ = std::fs::remove_file(e.node(victim).server.dir.join("currentEpoch"));
    c.create("/while-away", b"", &open()).await.unwrap();
    e.start(victim);
    e.wait_stable(&[1, 2, 3], Duration::from_secs(20));
    assert!(read_synced(&e, victim, "/while-away").await.is_some());
    assert_eq!(
        read_synced(&e, victim, "/s29").await.as_deref(),
        Some(&b"data"[..])
    );
    // The SNAP image was written to disk as the follower's snapshot.
    let snaps: Vec<String> = std::fs::read_dir(&v2)
        .unwrap()
        .filter_map(|f| f.ok())
        .map(|f| f.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("snapshot."))
        .collect();
    assert!(
        !snaps.is_empty(),
        "no snapshot after SNAP: {:?}",
        std::fs::read_dir(&v2).unwrap().count()
    );
    let log = std::fs::read_to_string(e.root.join(format!("zk{victim}.log"))).unwrap();
    assert!(
        log.contains("SNAP: installing"),
        "the wiped follower did not sync by SNAP"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_observer_serves_and_forwards_but_never_counts_toward_a_quorum() {
    let mut e = Ensemble::new("observer", &[1, 2], &[3], "");
    e.start_all();
    let leader = e.wait_stable(&[1, 2, 3], Duration::from_secs(20));
    assert_ne!(leader, 3, "an observer was elected");
    assert_eq!(e.mode(3).as_deref(), Some("observer"));
    let c = client(&e.connect_string(&[3])).await;
    c.create("/via-observer", b"o", &open()).await.unwrap();
    assert_eq!(
        read_synced(&e, 3, "/via-observer").await.as_deref(),
        Some(&b"o"[..])
    );
    let other = [1, 2].into_iter().find(|id| *id != leader).unwrap();
    assert_eq!(
        read_synced(&e, other, "/via-observer").await.as_deref(),
        Some(&b"o"[..])
    );

    // One voter of two stops: the observer cannot make a quorum, so nothing is written.
    e.kill(other);
    let deadline = Instant::now() + Duration::from_secs(10);
    while e.mode(leader).as_deref() == Some("leader") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_ne!(
        e.mode(leader).as_deref(),
        Some("leader"),
        "a leader without a quorum of voters"
    );
    let c = client_quick(&e.connect_string(&[leader, 3])).await;
    if let Some(c) = c {
        let r = tokio::time::timeout(Duration::from_secs(3), c.create("/no-quorum", b"", &open()))
            .await;
        assert!(
            !matches!(r, Ok(Ok(_))),
            "a write committed without a quorum of voters"
        );
    }
    e.start(other);
    e.wait_stable(&[1, 2, 3], Duration::from_secs(20));
    let c = client(&e.connect_string(&[3])).await;
    c.create("/quorum-back", b"", &open()).await.unwrap();
    assert!(read_synced(&e, leader, "/no-quorum").await.is_none());
}

/// A client if any server takes the session within a few seconds.
async fn client_quick(connect: &str) -> Option<zk::Client> {
    tokio::time::timeout(
        Duration::from_secs(3),
        zk::Client::connector()
            .with_session_timeout(Duration::from_secs(10))
            .connect(connect),
    )
    .await
    .ok()?
    .ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_with_an_uncommitted_suffix_is_truncated_when_it_rejoins() {
    let mut e = Ensemble::new("trunc", &[1, 2, 3], &[], "");
    e.start_all();
    let old = e.wait_stable(&[1, 2, 3], Duration::from_secs(20));
    let others: Vec<u64> = [1, 2, 3].into_iter().filter(|id| *id != old).collect();
    let c = client(&e.connect_string(&[old])).await;
    c.create("/base", b"", &open()).await.unwrap();

    // Both followers die: the leader still logs what its client sends, but nothing commits.
    e.kill(others[0]);
    e.kill(others[1]);
    let mut pending = Vec::new();
    for i in 0..5 {
        let c = c.clone();
        pending.push(tokio::spawn(async move {
            let p = format!("/lost{i}");
            tokio::time::timeout(Duration::from_secs(2), c.create(&p, b"", &open())).await
        }));
    }
    for p in pending {
        let r = p.await.unwrap();
        assert!(
            !matches!(r, Ok(Ok(_))),
            "a write was acknowledged without a quorum"
        );
    }
    e.kill(old);

    // The followers elect a new leader and move on without those writes.
    e.start(others[0]);
    e.start(others[1]);
    let new = e.wait_stable(&others, Duration::from_secs(20));
    let c2 = client(&e.connect_string(&[new])).await;
    for i in 0..3 {
        c2.create(&format!("/new{i}"), b"", &open()).await.unwrap();
    }

    // The old leader rejoins: its unacknowledged suffix is cut, its state matches the others.
    e.start(old);
    e.wait_stable(&[1, 2, 3], Duration::from_secs(20));
    for id in [1, 2, 3] {
        let c = client(&e.connect_string(&[id])).await;
        c.sync("/").await.unwrap();
        let (mut kids, _) = c.get_children("/").await.unwrap();
        kids.sort();
        assert_eq!(
            kids,
            vec!["base", "new0", "new1", "new2", "zookeeper"],
            "server {id}"
        );
    }
    let log = std::fs::read_to_string(e.root.join(format!("zk{old}.log"))).unwrap();
    assert!(
        log.contains("TRUNC: cutting the txn log"),
        "the old leader was not truncated"
    );
    // And it stays so after a restart from its own disk.
    e.kill(old);
    e.start(old);
    e.wait_stable(&[1, 2, 3], Duration::from_secs(20));
    let c = client(&e.connect_string(&[old])).await;
    c.sync("/").await.unwrap();
    assert!(c.check_stat("/lost0").await.unwrap().is_none());
    assert!(c.check_stat("/new2").await.unwrap().is_some());
}

/// `sslQuorum=true`: the servers elect and replicate over TLS with certificates from one CA;
/// the quorum port refuses a peer whose certificate comes from another CA, or is not for the
/// peer's address.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quorum_tls_elects_and_replicates_and_refuses_a_foreign_certificate() {
    let pki = std::env::temp_dir().join(format!("zkrs-cluster-tls-pki-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&pki);
    std::fs::create_dir_all(&pki).unwrap();
    let ca = certs::Ca::new(&pki, "ca");
    let server = ca.server(&pki, "server.pem");
    let extra = format!(
        "sslQuorum=true\nssl.quorum.keyStore.location={}\nssl.quorum.trustStore.location={}\n",
        server.key_store.display(),
        ca.trust_store.display()
    );
    let mut e = Ensemble::new("tls", &[1, 2, 3], &[], &extra);
    e.start_all();
    let leader = e.wait_stable(&[1, 2, 3], Duration::from_secs(30));
    let c = client(&e.connect_string(&[leader])).await;
    c.create("/over-tls", b"quorum", &open()).await.unwrap();
    for id in [1, 2, 3] {
        assert_eq!(
            read_synced(&e, id, "/over-tls").await.as_deref(),
            Some(&b"quorum"[..]),
            "server {id}"
        );
    }

    // The leader's quorum port speaks TLS and wants a certificate from the ensemble's CA.
    let cfg = std::fs::read_to_string(&e.node(leader).server.cfg).unwrap();
    let line = cfg
        .lines()
        .find(|l| l.starts_with(&format!("server.{leader}=")))
        .unwrap();
    let quorum_port: u16 = line.split(':').nth(1).unwrap().parse().unwrap();
    let other = certs::Ca::new(&pki, "other");
    let rogue = other.server(&pki, "rogue.pem");
    assert!(quorum_handshake(&ca.trust_store, &server.key_store, quorum_port).await);
    assert!(!quorum_handshake(&ca.trust_store, &rogue.key_store, quorum_port).await);
    // ssl.quorum.hostnameVerification (default true): the right CA, but not for 127.0.0.1.
    let misnamed = ca.server_for(&pki, "misnamed.pem", &["elsewhere.invalid"]);
    assert!(!quorum_handshake(&ca.trust_store, &misnamed.key_store, quorum_port).await);
    // Still serving after the refusal.
    assert_eq!(
        read_synced(&e, leader, "/over-tls").await.as_deref(),
        Some(&b"quorum"[..])
    );
    drop(e);
    let _ = std::fs::remove_dir_all(&pki);
}

/// The rolling switch to quorum TLS: with `portUnification=true` every server accepts TLS and
/// plaintext peers, so an ensemble where only some servers dial with TLS (`sslQuorum=true`)
/// still elects and replicates.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn port_unification_lets_tls_and_plaintext_servers_form_one_ensemble() {
    let pki = std::env::temp_dir().join(format!("zkrs-cluster-unify-pki-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&pki);
    std::fs::create_dir_all(&pki).unwrap();
    let ca = certs::Ca::new(&pki, "ca");
    let server = ca.server(&pki, "server.pem");
    let extra = format!(
        "portUnification=true\nssl.quorum.keyStore.location={}\nssl.quorum.trustStore.location={}\n",
        server.key_store.display(),
        ca.trust_store.display()
    );
    let mut e = Ensemble::new("unify", &[1, 2, 3], &[], &extra);
    for id in [2, 3] {
        let cfg = e.node(id).server.cfg.clone();
        let mut text = std::fs::read_to_string(&cfg).unwrap();
        text.push_str("sslQuorum=true\n");
        std::fs::write(&cfg, text).unwrap();
    }
    e.start_all();
    let leader = e.wait_stable(&[1, 2, 3], Duration::from_secs(30));
    let c = client(&e.connect_string(&[leader])).await;
    c.create("/mixed", b"both", &open()).await.unwrap();
    for id in [1, 2, 3] {
        assert_eq!(
            read_synced(&e, id, "/mixed").await.as_deref(),
            Some(&b"both"[..]),
            "server {id}"
        );
    }
    drop(e);
    let _ = std::fs::remove_dir_all(&pki);
}

/// Opens TLS to 127.0.0.1:`port` with `key_store`'s certificate; true when the server accepted
/// it (it then waits for FOLLOWERINFO: a read times out rather than failing).
async fn quorum_handshake(ca: &std::path::Path, key_store: &std::path::Path, port: u16) -> bool {
    use rustls::pki_types::ServerName;
    use std::sync::Arc;
    use tokio::io::AsyncReadExt;
    let config = certs::client_rustls(ca, key_store);
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let name = ServerName::try_from("127.0.0.1").unwrap();
    let Ok(mut s) = connector.connect(name, tcp).await else {
        return false;
    };
    // With TLS 1.3 the server judges the client's certificate after the client finished: a
    // refusal shows as an alert (an error) or a close on the first read.
    let mut b = [0u8; 1];
    match tokio::time::timeout(Duration::from_millis(1500), s.read(&mut b)).await {
        Err(_) => true,
        Ok(Ok(n)) => n > 0,
        Ok(Err(_)) => false,
    }
}

// ---------------------------------------------------------------------------------------------
// /zookeeper/config: every member serves the ensemble's configuration, as ZooKeeper 3.8 does.

impl Ensemble {
    /// Servers whose membership sits in a dynamic config file named `zoo.cfg.dynamic.<version>`,
    /// each `server.N` line carrying the member's client address (`;127.0.0.1:port`).
    fn with_dynamic_file(name: &str, voters: &[u64], version: &str) -> Ensemble {
        let root = std::env::temp_dir().join(format!("zkrs-cluster-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).unwrap();
        let ports: Vec<(u64, u16)> = voters.iter().map(|&id| (id, free_port())).collect();
        let mut servers = String::new();
        for (id, client_port) in &ports {
            let (q, el) = (free_port(), free_port());
            servers.push_str(&format!(
                "server.{id}=127.0.0.1:{q}:{el}:participant;127.0.0.1:{client_port}\n"
            ));
        }
        let dynamic = root.join(format!("zoo.cfg.dynamic.{version}"));
        std::fs::write(&dynamic, &servers).unwrap();
        let mut nodes = Vec::new();
        for (id, client_port) in ports {
            nodes.push(Node {
                server: ServerProc::new(&root, id, |dir| {
                    format!(
                        "tickTime=200\ninitLimit=10\nsyncLimit=5\ndataDir={}\ncommitLogCount=5\n\
                     4lw.commands.whitelist=*\nadmin.enableServer=false\ndynamicConfigFile={}\n",
                        dir.display(),
                        dynamic.display()
                    )
                }),
                client_port,
            });
        }
        Ensemble { root, nodes }
    }

    /// The epoch of the zxid `srvr` reports for a server.
    fn epoch(&self, id: u64) -> u64 {
        let text = four_letter(self.node(id).client_port, "srvr", FLW_TIMEOUT).expect("srvr");
        let zxid = text
            .lines()
            .find_map(|l| l.strip_prefix("Zxid: 0x"))
            .expect("a Zxid line");
        u64::from_str_radix(zxid.trim(), 16).unwrap() >> 32
    }
}

/// What ZooKeeper 3.8 serves as `/zookeeper/config` for these `server.N` lines (as written in a
/// config file): one line per member in id order with the role spelled out, the client address
/// only where the line has one, then `version=<hex>` and no newline. (Apache ZooKeeper 3.8.0,
/// static 3+1 pseudo-cluster: `server.1=127.0.0.1:37485:46041:participant\n...
/// server.4=127.0.0.1:58933:36375:observer\nversion=0`.)
fn expected_config_text(config_file_text: &str, version: &str) -> String {
    let mut lines: Vec<(u64, String)> = config_file_text
        .lines()
        .filter_map(|l| l.strip_prefix("server."))
        .map(|l| {
            let (id, value) = l.split_once('=').unwrap();
            let (server, client) = match value.split_once(';') {
                Some((s, c)) => (s, Some(c)),
                None => (value, None),
            };
            let mut v = server.to_owned();
            if server.split(':').count() == 3 {
                v.push_str(":participant");
            }
            if let Some(c) = client {
                v.push(';');
                v.push_str(c);
            }
            (id.parse().unwrap(), format!("server.{id}={v}\n"))
        })
        .collect();
    lines.sort();
    let mut text: String = lines.into_iter().map(|(_, l)| l).collect();
    text.push_str(&format!("version={version}"));
    text
}

/// Reads `/zookeeper/config` from one server (with getData and with getConfig) and checks its
/// bytes and its Stat as ZooKeeper leaves them: version -1, mzxid the config's version, czxid 0,
/// aversion -1, world:anyone READ only.
async fn check_config_node(e: &Ensemble, id: u64, expected: &str, mzxid: i64) {
    let c = client(&e.connect_string(&[id])).await;
    let (data, st) = c.get_data("/zookeeper/config").await.unwrap();
    assert_eq!(
        String::from_utf8(data).unwrap(),
        expected,
        "/zookeeper/config on server {id}"
    );
    assert_eq!(
        (
            st.czxid,
            st.mzxid,
            st.pzxid,
            st.ctime,
            st.version,
            st.cversion,
            st.aversion
        ),
        (0, mzxid, 0, 0, -1, 0, -1),
        "server {id}: {st:?}"
    );
    assert_eq!(st.data_length as usize, expected.len());
    assert_eq!((st.num_children, st.ephemeral_owner), (0, 0));
    assert!(st.mtime > 0, "mtime is when the server wrote the node");
    let (cfg, cst) = c.get_config().await.unwrap();
    assert_eq!((&cfg[..], cst.mzxid), (expected.as_bytes(), mzxid));
    let (acl, _) = c.get_acl("/zookeeper/config").await.unwrap();
    assert_eq!(acl, zk::Acls::anyone_read().to_vec(), "server {id}");
    // Clients cannot write it: its ACL grants READ only (ZooKeeper answers NoAuth).
    assert_eq!(
        c.set_data("/zookeeper/config", b"x", None)
            .await
            .unwrap_err(),
        zk::Error::NoAuth
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_member_serves_the_ensembles_config_and_its_version_outlives_a_leader_change() {
    let mut e = Ensemble::new("config-node", &[1, 2, 3], &[4], "");
    e.start_all();
    let leader = e.wait_stable(&[1, 2, 3, 4], Duration::from_secs(20));
    assert_eq!(e.mode(4).as_deref(), Some("observer"));
    let cfg_text = std::fs::read_to_string(&e.node(1).server.cfg).unwrap();
    let expected = expected_config_text(&cfg_text, "0");
    assert_eq!(expected.lines().count(), 5);
    assert!(expected.contains(":observer\n"), "{expected}");
    // Leader, a follower and the observer.
    let follower = [1, 2, 3].into_iter().find(|id| *id != leader).unwrap();
    for id in [leader, follower, 4] {
        check_config_node(&e, id, &expected, 0).await;
    }
    let c = client(&e.connect_string(&[leader])).await;
    c.create("/first-epoch", b"", &open()).await.unwrap();
    let first_epoch = e.epoch(leader);
    assert!(first_epoch >= 1);

    // A new leader in a new epoch: with reconfigEnabled=false the version stays 0 (ZooKeeper
    // 3.8 bumps it to the leader's first zxid only with reconfig enabled), on every member.
    e.kill(leader);
    let live: Vec<u64> = [1, 2, 3, 4]
        .into_iter()
        .filter(|id| *id != leader)
        .collect();
    let new_leader = e.wait_stable(&live, Duration::from_secs(20));
    // A write in the new epoch shows it in srvr's Zxid.
    let c = client(&e.connect_string(&[new_leader])).await;
    c.create("/new-epoch", b"", &open()).await.unwrap();
    assert!(e.epoch(new_leader) > first_epoch);
    for &id in &live {
        check_config_node(&e, id, &expected, 0).await;
    }
    // The old leader rejoins as a follower and syncs: the same text.
    e.start(leader);
    e.wait_stable(&[1, 2, 3, 4], Duration::from_secs(20));
    check_config_node(&e, leader, &expected, 0).await;
}

/// Apache ZooKeeper 3.8.0 with the same layout serves `server.1=127.0.0.1:55265:59977:
/// participant;127.0.0.1:36181\n...\nversion=100000000` with mzxid 0x100000000, version -1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dynamic_config_files_version_and_client_addresses_reach_zookeeper_config() {
    let mut e = Ensemble::with_dynamic_file("config-dynamic", &[1, 2, 3], "100000000");
    e.start_all();
    let leader = e.wait_stable(&[1, 2, 3], Duration::from_secs(20));
    let dynamic = std::fs::read_to_string(e.root.join("zoo.cfg.dynamic.100000000")).unwrap();
    let expected = expected_config_text(&dynamic, "100000000");
    assert!(expected.contains(":participant;127.0.0.1:"), "{expected}");
    for id in [1, 2, 3] {
        check_config_node(&e, id, &expected, 0x1_0000_0000).await;
    }
    // A wiped follower gets the leader's image (SNAP: more txns than the 5 kept for DIFF),
    // which holds the leader's copy of the node, and serves its own.
    let c = client(&e.connect_string(&[leader])).await;
    for i in 0..10 {
        c.create(&format!("/c{i}"), b"", &open()).await.unwrap();
    }
    let follower = [1, 2, 3].into_iter().find(|id| *id != leader).unwrap();
    e.kill(follower);
    let dir = e.node(follower).server.dir.clone();
    let _ = std::fs::remove_dir_all(dir.join("version-2"));
    let _ = std::fs::remove_file(dir.join("acceptedEpoch"));
    let _ = std::fs::remove_file(dir.join("currentEpoch"));
    e.start(follower);
    e.wait_stable(&[1, 2, 3], Duration::from_secs(20));
    check_config_node(&e, follower, &expected, 0x1_0000_0000).await;
}
