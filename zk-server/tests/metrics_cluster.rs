//! The ensemble's metrics, on real `zk-server` processes configured as operators do
//! (`admin.*`, `metricsProvider.*` in zoo.cfg): three voters and an observer. Leader gauges,
//! election and sync timings, proposals, commits and their latencies, DIFF and SNAP syncs,
//! revalidations and pending sync barriers each move with what they count. Faults are SIGSTOP /
//! SIGCONT and SIGKILL of processes this test started, by PID. Every wait is bounded.

mod common;
mod monitoring;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::Raw;
use monitoring::{command, mntr, scrape};
use zk_proto::data::Acl;
use zk_proto::proto::SyncRequest;
use zk_proto::request::Request;

#[path = "common/process.rs"]
mod process;

use process::ServerProc;

struct Node {
    server: ServerProc,
    client: SocketAddr,
    admin: SocketAddr,
    metrics: SocketAddr,
}

struct Cluster {
    root: PathBuf,
    nodes: Vec<Node>,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for n in &mut self.nodes {
            n.server.kill();
        }
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// Upper bound for the whole test.
const TEST_TIMEOUT: Duration = Duration::from_secs(150);

fn local(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

impl Cluster {
    fn new() -> Cluster {
        let root =
            std::env::temp_dir().join(format!("zkrs-metrics-cluster-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).unwrap();
        let ids = [(1, false), (2, false), (3, false), (4, true)];
        let mut servers = String::new();
        for (id, observer) in ids {
            servers.push_str(&format!(
                "server.{id}=127.0.0.1:{}:{}{}\n",
                process::free_port(),
                process::free_port(),
                if observer { ":observer" } else { "" }
            ));
        }
        let mut nodes = Vec::new();
        for (id, observer) in ids {
            let (client, admin, metrics) = (
                process::free_port(),
                process::free_port(),
                process::free_port(),
            );
            let server = ServerProc::new(&root, id, |dir| {
                format!(
                    "tickTime=100\ninitLimit=20\nsyncLimit=50\nmaxSessionTimeout=60000\ndataDir={}\nclientPort={client}\n\
                     clientPortAddress=127.0.0.1\nmaxClientCnxns=0\n4lw.commands.whitelist=*\n\
                     admin.serverAddress=127.0.0.1\nadmin.serverPort={admin}\n\
                     metricsProvider.className=org.apache.zookeeper.metrics.prometheus.PrometheusMetricsProvider\n\
                     metricsProvider.httpHost=127.0.0.1\nmetricsProvider.httpPort={metrics}\n{}{servers}",
                    dir.display(),
                    if observer { "peerType=observer\n" } else { "" }
                )
            });
            nodes.push(Node {
                server,
                client: local(client),
                admin: local(admin),
                metrics: local(metrics),
            });
        }
        Cluster { root, nodes }
    }

    fn node(&self, id: u64) -> &Node {
        self.nodes.iter().find(|n| n.server.id == id).unwrap()
    }

    fn server_mut(&mut self, id: u64) -> &mut ServerProc {
        let n = self.nodes.iter_mut().find(|n| n.server.id == id).unwrap();
        &mut n.server
    }

    fn start(&mut self, id: u64) {
        // A short in-memory history, so that a learner far enough behind needs a SNAP.
        self.server_mut(id)
            .start(&[("SERVER_JVMFLAGS", "-Dzookeeper.commitLogCount=3")]);
    }

    fn kill(&mut self, id: u64) {
        self.server_mut(id).kill();
    }

    /// SIGSTOP or SIGCONT to a server this test started.
    fn signal(&self, id: u64, sig: &str) {
        process::send_signal(self.node(id).server.pid(), &format!("-{sig}"));
    }

    /// `mntr` of every live server once all serve with one leader; the leader's id.
    async fn settled(&self) -> u64 {
        let deadline = Instant::now() + Duration::from_secs(40);
        loop {
            let mut leader = None;
            let mut serving = 0;
            for n in self.nodes.iter().filter(|n| n.server.is_running()) {
                let Ok(Ok(mut s)) = tokio::time::timeout(
                    Duration::from_secs(2),
                    tokio::net::TcpStream::connect(n.client),
                )
                .await
                else {
                    continue;
                };
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                let mut text = String::new();
                let ok = tokio::time::timeout(Duration::from_secs(2), async {
                    s.write_all(b"mntr").await.ok()?;
                    s.read_to_string(&mut text).await.ok()
                })
                .await;
                if !matches!(ok, Ok(Some(_))) {
                    continue;
                }
                if text.contains("zk_peer_state\tleading - broadcast") {
                    leader = Some(n.server.id);
                    serving += 1;
                } else if text.contains(" - broadcast") {
                    serving += 1;
                }
            }
            let live = self.nodes.iter().filter(|n| n.server.is_running()).count();
            if let Some(l) = leader {
                if serving == live {
                    return l;
                }
            }
            assert!(Instant::now() < deadline, "the ensemble did not settle");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

fn num(m: &BTreeMap<String, String>, k: &str) -> f64 {
    m.get(k)
        .unwrap_or_else(|| panic!("no {k} in mntr: {m:?}"))
        .parse()
        .unwrap_or_else(|_| panic!("{k} = {}", m[k]))
}

async fn mntr_of(c: &Cluster, id: u64) -> BTreeMap<String, String> {
    mntr(c.node(id).client).await
}

/// Polls `id`'s mntr until `pred` holds (bounded).
async fn until(
    c: &Cluster,
    id: u64,
    what: &str,
    pred: impl Fn(&BTreeMap<String, String>) -> bool,
) -> BTreeMap<String, String> {
    for _ in 0..300 {
        let m = mntr_of(c, id).await;
        if pred(&m) {
            return m;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("server {id}: {what} never happened");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ensemble_metrics_move_with_elections_syncs_and_writes() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let mut c = Cluster::new();
        for id in 1..=4 {
            c.start(id);
        }
        let leader = c.settled().await;
        let followers: Vec<u64> = (1..=3).filter(|&i| i != leader).collect();
        let (f1, f2, obs) = (followers[0], followers[1], 4);

        // Leader gauges; election and sync timings everywhere.
        let lm = mntr_of(&c, leader).await;
        assert_eq!(lm["server_state"], "leader");
        assert_eq!(num(&lm, "learners"), 3.0);
        assert_eq!(num(&lm, "synced_followers"), 2.0);
        assert_eq!(num(&lm, "synced_observers"), 1.0);
        assert_eq!(num(&lm, "pending_syncs"), 0.0);
        assert_eq!(num(&lm, "quorum_size"), 3.0);
        assert!(num(&lm, "looking_count") >= 1.0);
        assert!(num(&lm, "cnt_election_time") >= 1.0);
        // Unavailable from start-up until broadcast, and that ended by leading.
        assert!(num(&lm, "cnt_unavailable_time") >= 1.0, "{lm:?}");
        assert!(num(&lm, "cnt_leader_unavailable_time") >= 1.0, "{lm:?}");
        // Each learner synced with a DIFF (nothing to send, but a DIFF).
        assert!(num(&lm, "diff_count") >= 3.0, "{lm:?}");
        // Syncs in progress, recorded as each began and as each ended (NEWLEADER acked): the
        // last to end saw none left.
        assert!(num(&lm, "cnt_inflight_diff_count") >= 6.0, "{lm:?}");
        assert!(num(&lm, "max_inflight_diff_count") >= 1.0, "{lm:?}");
        assert_eq!(num(&lm, "min_inflight_diff_count"), 0.0, "{lm:?}");
        for f in [f1, f2] {
            let m = mntr_of(&c, f).await;
            assert_eq!(m["server_state"], "follower");
            assert_eq!(m["peer_state"], "following - broadcast");
            assert!(num(&m, "cnt_election_time") >= 1.0);
            assert!(num(&m, "cnt_follower_sync_time") >= 1.0);
            assert!(num(&m, "cnt_unavailable_time") >= 1.0, "{m:?}");
            assert_eq!(num(&m, "cnt_leader_unavailable_time"), 0.0);
            if num(&m, "cnt_unavailable_time") == 1.0 && num(&m, "cnt_election_time") == 1.0 {
                // Both started at start-up; unavailability lasts through the sync as well.
                assert!(num(&m, "sum_unavailable_time") >= num(&m, "sum_election_time"));
            }
            assert!(
                !m.contains_key("learners"),
                "leader-only gauge on a follower"
            );
        }
        let om = mntr_of(&c, obs).await;
        assert_eq!(om["peer_state"], "observing - broadcast");
        assert!(num(&om, "cnt_observer_sync_time") >= 1.0);
        assert!(num(&om, "cnt_unavailable_time") >= 1.0, "{om:?}");
        assert_eq!(num(&om, "cnt_leader_unavailable_time"), 0.0);

        // The same from /metrics, parsed, and from the admin commands.
        let s = scrape(c.node(leader).metrics).await;
        assert_eq!(s.v("quorum_size"), 3.0);
        assert_eq!(s.v("synced_observers"), 1.0);
        assert_eq!(s.types["looking_count"], "counter");
        assert_eq!(s.types["election_time"], "summary");
        let z = command(c.node(leader).admin, "zabstate").await;
        assert_eq!(z["is_leader"], true);
        assert_eq!(z["myid"], leader);
        assert_eq!(z["voting"], true);
        assert_eq!(z["zabstate"], "broadcast");
        assert_eq!(z["quorum_address"]["all_host_strings"][0], "127.0.0.1");
        assert_eq!(z["election_address"]["empty"], false);
        let l = command(c.node(f1).admin, "leader").await;
        assert_eq!(l["is_leader"], false);
        assert_eq!(l["leader_id"], leader);
        assert_eq!(l["leader_ip"], "127.0.0.1");
        assert_eq!(
            command(c.node(obs).admin, "zabstate").await["voting"],
            false
        );
        let vv = command(c.node(f2).admin, "voting_view").await;
        let view = vv["current_config"].as_object().unwrap();
        assert_eq!(view.len(), 4);
        assert_eq!(view["4"]["learner_type"], "observer");
        let o = command(c.node(leader).admin, "observers").await;
        assert_eq!(o["synced_observers"], 1);
        assert_eq!(o["observers"][0]["sid"], 4);

        // A write through a follower: proposed, acknowledged and committed on the leader,
        // received on the learners (an INFORM on the observer).
        let mut a = Raw::connect(c.node(f1).client).await;
        let before: BTreeMap<u64, BTreeMap<String, String>> = {
            let mut b = BTreeMap::new();
            for id in 1..=4 {
                b.insert(id, mntr_of(&c, id).await);
            }
            b
        };
        a.create("/w", Some(b"x"), Acl::open_unsafe(), 0)
            .await
            .unwrap();
        let lm = until(&c, leader, "the commit", |m| {
            num(m, "commit_count") > num(&before[&leader], "commit_count")
        })
        .await;
        let d = |m: &BTreeMap<String, String>, id: u64, k: &str| num(m, k) - num(&before[&id], k);
        assert_eq!(d(&lm, leader, "proposal_count"), 1.0);
        assert_eq!(d(&lm, leader, "commit_count"), 1.0);
        assert_eq!(d(&lm, leader, "cnt_quorum_ack_latency"), 1.0);
        // The proposal's size, and the leader's uptime, on the leader only.
        // (The last proposal before it was the session's createSession, a smaller txn than a
        // create with a path, data and an ACL.)
        assert!(
            num(&lm, "last_proposal_size") > num(&before[&leader], "last_proposal_size"),
            "{lm:?}"
        );
        assert!(num(&before[&leader], "last_proposal_size") > 0.0);
        assert!(num(&lm, "leader_uptime") > num(&before[&leader], "leader_uptime"));
        let stats = command(c.node(leader).admin, "server_stats").await;
        assert_eq!(
            stats["proposal_stats"]["last_buffer_size"].as_f64(),
            Some(num(&lm, "last_proposal_size"))
        );
        assert!(command(c.node(f1).admin, "server_stats")
            .await
            .get("proposal_stats")
            .is_none());
        let fm = until(&c, f1, "the commit", |m| {
            num(m, "learner_commit_received_count")
                > num(&before[&f1], "learner_commit_received_count")
        })
        .await;
        assert_eq!(d(&fm, f1, "learner_proposal_received_count"), 1.0);
        assert_eq!(d(&fm, f1, "cnt_proposal_latency"), 1.0);
        let om = until(&c, obs, "the INFORM", |m| {
            num(m, "learner_commit_received_count")
                > num(&before[&obs], "learner_commit_received_count")
        })
        .await;
        assert_eq!(d(&om, obs, "learner_proposal_received_count"), 0.0);

        // The session moves to the observer: the leader revalidates it.
        let rev = num(&mntr_of(&c, leader).await, "revalidate_count");
        let moved = Raw::handshake(c.node(obs).client, a.session_id, &a.passwd, 20_000)
            .await
            .expect("the session moves");
        until(&c, leader, "a revalidation", |m| {
            num(m, "revalidate_count") > rev
        })
        .await;
        drop(moved);

        // A sync barrier waits while a proposal has no quorum: both followers stopped, a write
        // on the leader, then a sync through the observer.
        let mut w = Raw::connect(c.node(leader).client).await;
        let mut s = Raw::connect(c.node(obs).client).await;
        c.signal(f1, "STOP");
        c.signal(f2, "STOP");
        let write = tokio::spawn(async move {
            w.create("/pending", None, Acl::open_unsafe(), 0)
                .await
                .unwrap();
        });
        until(&c, leader, "the write to wait", |m| {
            num(m, "outstanding_requests") >= 1.0
        })
        .await;
        let sync = tokio::spawn(async move {
            let r = s
                .call(&Request::Sync(SyncRequest { path: "/".into() }))
                .await;
            assert_eq!(r.err, 0);
        });
        until(&c, leader, "a pending sync", |m| {
            num(m, "pending_syncs") == 1.0
        })
        .await;
        c.signal(f1, "CONT");
        c.signal(f2, "CONT");
        write.await.unwrap();
        sync.await.unwrap();
        // Followers apply the leader's txns: time from the leader's stamp to applying here.
        until(&c, f1, "a txn applied on a follower", |m| {
            num(m, "cnt_propagation_latency") >= 1.0
        })
        .await;
        // A serving follower and the observer heard of commits (COMMIT, INFORM); the leader
        // hears of none.
        for l in [f1, obs] {
            until(&c, l, "a commit heard by a learner", |m| {
                num(m, "cnt_commit_propagation_latency") >= 1.0
            })
            .await;
        }
        assert_eq!(
            num(&mntr_of(&c, leader).await, "cnt_commit_propagation_latency"),
            0.0
        );
        // The leader and followers acknowledge what they logged; observers do not.
        for s in [leader, f1] {
            until(&c, s, "an ACK created", |m| {
                num(m, "cnt_proposal_ack_creation_latency") >= 1.0
            })
            .await;
        }
        assert_eq!(
            num(&mntr_of(&c, obs).await, "cnt_proposal_ack_creation_latency"),
            0.0
        );
        until(&c, leader, "the sync to be answered", |m| {
            num(m, "pending_syncs") == 0.0
        })
        .await;

        // A follower one txn behind syncs with a DIFF; one past the leader's short history
        // (commitLogCount=3) with a SNAP.
        let lm = mntr_of(&c, leader).await;
        let (diffs, snaps) = (num(&lm, "diff_count"), num(&lm, "snap_count"));
        c.kill(f2);
        let mut b = Raw::connect(c.node(leader).client).await;
        b.create("/one", None, Acl::open_unsafe(), 0).await.unwrap();
        c.start(f2);
        let lm = until(&c, leader, "a DIFF sync", |m| num(m, "diff_count") > diffs).await;
        assert_eq!(num(&lm, "snap_count"), snaps);
        // It replayed its log at start-up.
        let fm = mntr_of(&c, f2).await;
        assert_eq!(num(&fm, "cnt_startup_txns_loaded"), 1.0);
        assert!(num(&fm, "sum_startup_txns_loaded") >= 1.0, "{fm:?}");
        c.settled().await;
        c.kill(f2);
        for i in 0..10 {
            b.create(&format!("/many{i}"), None, Acl::open_unsafe(), 0)
                .await
                .unwrap();
        }
        c.start(f2);
        until(&c, leader, "a SNAP sync", |m| num(m, "snap_count") > snaps).await;
        let lm = until(&c, leader, "the SNAP sync to end", |m| {
            num(m, "cnt_inflight_snap_count") >= 2.0
        })
        .await;
        assert_eq!(num(&lm, "max_inflight_snap_count"), 1.0, "{lm:?}");
        assert_eq!(num(&lm, "min_inflight_snap_count"), 0.0, "{lm:?}");
        // The restarted follower entered LOOKING again and timed its election.
        let fm = until(&c, f2, "the follower to serve", |m| {
            m.get("peer_state").map(String::as_str) == Some("following - broadcast")
        })
        .await;
        assert!(num(&fm, "looking_count") >= 1.0 && num(&fm, "cnt_election_time") >= 1.0);
    })
    .await
    .expect("the test finished in time");
}
