//! Quotas end to end (ZooKeeper 3.7+): a real client sets a quota the way zkCli's `setquota`
//! does (znodes under `/zookeeper/quota`), the server keeps `zookeeper_stats` up to date, logs
//! writes over a soft limit, and refuses writes over a hard limit with QuotaExceeded when
//! `zookeeper.enforceQuota=true`.

mod common;

use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

use common::*;
use zk_server::runtime::{RuntimeConfig, Server, StorageConfig};
use zookeeper_client as zk;

/// Every log line of this test binary, so a test can look for the quota warnings.
fn log_lines() -> &'static Arc<Mutex<Vec<u8>>> {
    static LOG: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOG.get_or_init(|| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let sink = buf.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_max_level(tracing::Level::INFO)
            .with_writer(move || Sink(sink.clone()))
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("one subscriber");
        buf
    })
}

struct Sink(Arc<Mutex<Vec<u8>>>);

impl Write for Sink {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn logged(needle: &str) -> bool {
    String::from_utf8_lossy(&log_lines().lock().unwrap()).contains(needle)
}

/// What `setquota` writes: the quota directory, the limits, then zeroed stats.
async fn set_quota(c: &zk::Client, path: &str, limits: &str) {
    let mut dir = "/zookeeper/quota".to_owned();
    for part in path.split('/').filter(|p| !p.is_empty()) {
        dir = format!("{dir}/{part}");
        match c.create(&dir, b"", &open()).await {
            Ok(_) | Err(zk::Error::NodeExists) => {}
            Err(e) => panic!("create {dir}: {e}"),
        }
    }
    c.create(
        &format!("{dir}/zookeeper_limits"),
        limits.as_bytes(),
        &open(),
    )
    .await
    .expect("limits");
    c.create(
        &format!("{dir}/zookeeper_stats"),
        b"count=0,bytes=0",
        &open(),
    )
    .await
    .expect("stats");
}

async fn stats(c: &zk::Client, path: &str) -> String {
    let (data, _) = c
        .get_data(&format!("/zookeeper/quota{path}/zookeeper_stats"))
        .await
        .expect("stats node");
    String::from_utf8(data).expect("utf8")
}

fn enforcing(on: bool) -> RuntimeConfig {
    let mut cfg = config();
    cfg.core.enforce_quota = on;
    cfg
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_follow_creates_set_data_and_deletes_of_the_nearest_quota() {
    bounded(async {
        let s = TestServer::start().await;
        let c = s.client().await;
        c.create("/app", b"abc", &open()).await.unwrap();
        c.create("/app/x", b"12", &open()).await.unwrap();
        set_quota(&c, "/app", "count=100,bytes=1000").await;
        // The stats node is recounted when it is created: /app and /app/x.
        assert_eq!(stats(&c, "/app").await, "count=2,bytes=5");
        c.create("/app/y", b"hello", &open()).await.unwrap();
        c.create("/app/y/z", b"", &open()).await.unwrap();
        assert_eq!(stats(&c, "/app").await, "count=4,bytes=10");
        c.set_data("/app/y", b"hi", None).await.unwrap();
        assert_eq!(stats(&c, "/app").await, "count=4,bytes=7");
        c.delete("/app/y/z", None).await.unwrap();
        c.delete("/app/x", None).await.unwrap();
        assert_eq!(stats(&c, "/app").await, "count=2,bytes=5");
        // A nested quota takes its subtree's changes; the outer one no longer sees them.
        set_quota(&c, "/app/y", "count=10,bytes=-1").await;
        assert_eq!(stats(&c, "/app/y").await, "count=1,bytes=2");
        c.create("/app/y/n", b"1234", &open()).await.unwrap();
        assert_eq!(stats(&c, "/app/y").await, "count=2,bytes=6");
        assert_eq!(stats(&c, "/app").await, "count=2,bytes=5");
        // Writes outside any quota change nothing; a multi counts each of its ops.
        c.create("/other", b"zzz", &open()).await.unwrap();
        let mut m = c.new_multi_writer();
        m.add_create("/app/m1", b"a", &open()).unwrap();
        m.add_create("/app/m2", b"bc", &open()).unwrap();
        m.add_set_data("/app", b"", None).unwrap();
        m.commit().await.unwrap();
        assert_eq!(stats(&c, "/app").await, "count=4,bytes=5");
        // delquota: once the limits node is gone, nothing is counted.
        c.delete("/zookeeper/quota/app/zookeeper_limits", None)
            .await
            .unwrap();
        c.create("/app/after", b"xxxx", &open()).await.unwrap();
        assert_eq!(stats(&c, "/app").await, "count=4,bytes=5");
        s.stop().await;
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hard_limits_refuse_with_quota_exceeded_when_enforced() {
    log_lines();
    bounded(async {
        let s = TestServer::start_with(enforcing(true)).await;
        let c = s.client().await;
        c.create("/h", b"", &open()).await.unwrap();
        set_quota(
            &c,
            "/h",
            "count=-1,bytes=-1=;byteHardLimit=10;countHardLimit=3",
        )
        .await;
        c.create("/h/a", b"12345", &open()).await.unwrap();
        c.create("/h/b", b"", &open()).await.unwrap();
        // A fourth node would pass countHardLimit=3.
        assert_eq!(
            c.create("/h/c", b"", &open()).await.unwrap_err(),
            zk::Error::QuotaExceeded
        );
        // Growing /h/a past byteHardLimit=10 is refused; staying at the limit is not.
        assert_eq!(
            c.set_data("/h/a", b"12345678901", None).await.unwrap_err(),
            zk::Error::QuotaExceeded
        );
        c.set_data("/h/a", b"1234567890", None).await.unwrap();
        // A refused op fails its whole multi.
        c.delete("/h/b", None).await.unwrap();
        let mut m = c.new_multi_writer();
        m.add_set_data("/h/a", b"1", None).unwrap();
        m.add_create("/h/big", b"0123456789", &open()).unwrap();
        let err = m.commit().await.unwrap_err();
        assert!(
            matches!(
                err,
                zk::MultiWriteError::OperationFailed {
                    index: 1,
                    source: zk::Error::QuotaExceeded
                }
            ),
            "{err:?}"
        );
        assert_eq!(c.get_data("/h/a").await.unwrap().0, b"1234567890");
        assert_eq!(stats(&c, "/h").await, "count=2,bytes=10");
        // Outside the quota nothing is limited.
        c.create("/free", &[7; 100], &open()).await.unwrap();
        assert!(logged(
            "Quota exceeded: /h [current count=4, hardCountLimit=3]: refused"
        ));
        s.stop().await;
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soft_limits_and_unenforced_hard_limits_log_and_allow() {
    log_lines();
    bounded(async {
        let s = TestServer::start_with(enforcing(false)).await;
        let c = s.client().await;
        c.create("/s", b"", &open()).await.unwrap();
        set_quota(&c, "/s", "count=2,bytes=-1=;byteHardLimit=4").await;
        c.create("/s/a", b"", &open()).await.unwrap();
        // Over the soft count limit: logged, done.
        c.create("/s/b", b"", &open()).await.unwrap();
        assert!(logged(
            "Quota exceeded: /s [current count=3, softCountLimit=2]"
        ));
        // Over the hard byte limit, but enforceQuota is off: logged, done.
        c.set_data("/s/a", b"12345", None).await.unwrap();
        assert_eq!(stats(&c, "/s").await, "count=3,bytes=5");
        s.stop().await;

        // With enforcement a soft limit still only logs.
        let s = TestServer::start_with(enforcing(true)).await;
        let c = s.client().await;
        c.create("/t", b"", &open()).await.unwrap();
        set_quota(&c, "/t", "count=1,bytes=2").await;
        c.create("/t/a", b"xyz", &open()).await.unwrap();
        assert_eq!(stats(&c, "/t").await, "count=2,bytes=3");
        assert!(logged(
            "Quota exceeded: /t [current count=2, softCountLimit=1]"
        ));
        s.stop().await;
    })
    .await
}

/// A server on a data directory this test keeps across restarts.
async fn start_in(dir: &std::path::Path) -> Server {
    let mut cfg = enforcing(true);
    cfg.data_dir = dir.to_path_buf();
    cfg.data_log_dir = dir.to_path_buf();
    cfg.storage = Some(StorageConfig {
        force_sync: false,
        prealloc_bytes: 64 * 1024,
        // Snapshot often, so the restart loads one and recounts the quota from it.
        snap_count: 4,
        ..StorageConfig::new(dir)
    });
    Server::start(cfg).await.expect("server starts")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_and_enforcement_survive_a_restart() {
    let dir: PathBuf = std::env::temp_dir().join(format!("zkrs-quota-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    bounded(async {
        let server = start_in(&dir).await;
        let c = client_at(server.local_addr).await;
        c.create("/r", b"", &open()).await.unwrap();
        set_quota(&c, "/r", "count=-1,bytes=-1=;countHardLimit=12").await;
        for i in 0..10 {
            c.create(&format!("/r/n{i}"), b"ab", &open()).await.unwrap();
        }
        assert_eq!(stats(&c, "/r").await, "count=11,bytes=20");
        drop(c);
        server.shutdown().await;
        let snaps = std::fs::read_dir(dir.join("version-2"))
            .unwrap()
            .filter(|e| {
                let name = e.as_ref().unwrap().file_name();
                name.to_string_lossy().starts_with("snapshot.")
            })
            .count();
        assert!(snaps > 0, "the restart should load a snapshot");

        let server = start_in(&dir).await;
        let c = client_at(server.local_addr).await;
        assert_eq!(stats(&c, "/r").await, "count=11,bytes=20");
        c.create("/r/last", b"", &open()).await.unwrap();
        assert_eq!(
            c.create("/r/over", b"", &open()).await.unwrap_err(),
            zk::Error::QuotaExceeded
        );
        c.delete("/r/n0", None).await.unwrap();
        assert_eq!(stats(&c, "/r").await, "count=11,bytes=18");
        drop(c);
        server.shutdown().await;
    })
    .await;
    // Shutdown waits for a snapshot being written, so the directory stays gone.
    std::fs::remove_dir_all(&dir).unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(
        !dir.exists(),
        "something wrote into {} after shutdown",
        dir.display()
    );
}
