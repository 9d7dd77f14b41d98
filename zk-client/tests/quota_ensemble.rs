//! Quotas in an ensemble: every replica keeps the same `zookeeper_stats` while applying the
//! same txns (writes sent through any server), a restarted follower has them right again, and
//! a hard limit refuses a write forwarded by a follower (the leader preps it).

mod common;

use common::ensemble::*;
use common::*;
use zk_client::{Acl, Client, CreateMode, Error, ErrorCode};

const LIMITS: &str = "/zookeeper/quota/app/zookeeper_limits";
const STATS: &str = "/zookeeper/quota/app/zookeeper_stats";

async fn create(c: &Client, path: &str, data: &[u8]) -> zk_client::Result<()> {
    c.create(path, data, &Acl::open_unsafe(), CreateMode::Persistent)
        .await
        .map(|_| ())
}

/// The stats node as server `id` has it, after a sync.
async fn stats_on(ens: &Ensemble, id: u64) -> String {
    let c = connect(ens.client_addr(id)).await;
    c.sync("/").await.unwrap();
    let (data, _) = c.get_data(STATS).await.unwrap();
    c.close().await;
    String::from_utf8(data).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_replica_keeps_the_same_usage_and_the_leader_enforces_it() {
    if skip_external() {
        return;
    }
    bounded_long(async {
        let (mut ens, leader) = Ensemble::start(Options {
            enforce_quota: true,
            ..Options::default()
        })
        .await;
        let followers: Vec<u64> = ens.ids().into_iter().filter(|id| *id != leader).collect();
        let a = connect(ens.client_addr(followers[0])).await;
        let b = connect(ens.client_addr(followers[1])).await;
        create(&a, "/app", b"12").await.unwrap();
        for p in ["/zookeeper/quota", "/zookeeper/quota/app"] {
            match create(&a, p, b"").await {
                Ok(()) | Err(Error::Server(ErrorCode::NodeExists)) => {}
                Err(e) => panic!("{p}: {e:?}"),
            }
        }
        create(
            &a,
            LIMITS,
            b"count=-1,bytes=-1=;byteHardLimit=-1;countHardLimit=4",
        )
        .await
        .unwrap();
        create(&a, STATS, b"count=0,bytes=0").await.unwrap();
        create(&b, "/app/x", b"345").await.unwrap();
        create(&a, "/app/y", b"").await.unwrap();
        b.set_data("/app/x", b"3456", -1).await.unwrap();
        for id in ens.ids() {
            assert_eq!(stats_on(&ens, id).await, "count=3,bytes=6", "server {id}");
        }
        // A follower restarts from its own log and snapshot.
        ens.stop(followers[1]).await;
        create(&a, "/app/z", b"9").await.unwrap();
        ens.restart(followers[1]).await;
        ens.wait_stable().await;
        for id in ens.ids() {
            assert_eq!(stats_on(&ens, id).await, "count=4,bytes=7", "server {id}");
        }
        // The fifth node would pass countHardLimit=4: refused, whichever server took it.
        let c = connect(ens.client_addr(followers[1])).await;
        assert_eq!(
            create(&c, "/app/over", b"").await.unwrap_err(),
            Error::Server(ErrorCode::QuotaExceeded)
        );
        c.delete("/app/z", -1).await.unwrap();
        create(&c, "/app/fits", b"").await.unwrap();
        for id in ens.ids() {
            assert_eq!(stats_on(&ens, id).await, "count=4,bytes=6", "server {id}");
        }
        ens.shutdown().await;
    })
    .await
}
