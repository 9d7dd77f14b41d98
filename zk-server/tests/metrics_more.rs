//! More of ZooKeeper 3.8's metrics on a real server: the start-up load times, the quota gauge
//! sets and the quota-exceeded counter set (labelled by namespace in `/metrics`, prefixed by
//! it in `mntr`).

mod common;
mod monitoring;

use std::net::SocketAddr;
use std::path::Path;

use common::{bounded, Raw};
use monitoring::mntr;
use zk_proto::data::Acl;
use zk_server::runtime::{RuntimeConfig, Server, StorageConfig};

fn num(m: &std::collections::BTreeMap<String, String>, key: &str) -> f64 {
    m.get(key)
        .unwrap_or_else(|| panic!("no {key} in mntr: {:?}", m.keys()))
        .parse()
        .unwrap_or_else(|_| panic!("{key} is not a number"))
}

fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("zkrs-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn stored(dir: &Path, mut cfg: RuntimeConfig) -> RuntimeConfig {
    cfg.data_dir = dir.to_owned();
    cfg.data_log_dir = dir.to_owned();
    cfg.storage = Some(StorageConfig {
        force_sync: false,
        prealloc_bytes: 64 * 1024,
        ..StorageConfig::new(dir)
    });
    cfg
}

async fn create(addr: SocketAddr, paths: &[&str]) {
    let mut c = Raw::connect(addr).await;
    for p in paths {
        c.create(p, Some(b"v"), Acl::open_unsafe(), 0)
            .await
            .unwrap();
    }
}

#[tokio::test(flavor = "current_thread")]
async fn startup_load_times_are_recorded_as_zookeeper_records_them() {
    bounded(async {
        let dir = scratch("startup-times");
        let server = Server::start(stored(&dir, common::config()))
            .await
            .expect("server starts");
        // A fresh dataDir: the snapshot lookup is timed; with no txns to replay, ZooKeeper's
        // fastForwardFromEdits returns before recording anything.
        let m = mntr(server.local_addr).await;
        assert_eq!(num(&m, "cnt_startup_snap_load_time"), 1.0);
        assert_eq!(num(&m, "cnt_startup_txns_load_time"), 0.0);
        assert_eq!(num(&m, "cnt_startup_txns_loaded"), 0.0);
        create(server.local_addr, &["/a", "/b", "/c"]).await;
        assert!(server.shutdown().await);

        // Restarted: the snapshot is loaded and the txns after it replayed.
        let server = Server::start(stored(&dir, common::config()))
            .await
            .expect("server restarts");
        let m = mntr(server.local_addr).await;
        assert_eq!(num(&m, "cnt_startup_snap_load_time"), 1.0);
        assert_eq!(num(&m, "cnt_startup_txns_load_time"), 1.0);
        assert_eq!(num(&m, "cnt_startup_txns_loaded"), 1.0);
        // createSession, three creates, closeSession.
        assert!(num(&m, "sum_startup_txns_loaded") >= 4.0, "{m:?}");
        assert!(server.shutdown().await);
        let _ = std::fs::remove_dir_all(&dir);
    })
    .await
}
