//! `forceSync=no`: the server skips fsync (ZooKeeper's `zookeeper.forceSync`), which only
//! matters if the machine loses power. Functionally nothing changes: writes are acknowledged,
//! survive a graceful restart, and (as the log is still written before the answer) even a
//! killed process loses nothing it acknowledged, since the kernel keeps the written pages.

mod durability;

use durability::*;
use zk_proto::CreateMode;

#[tokio::test]
async fn force_sync_off_still_keeps_acknowledged_writes() {
    let mut dir = ZkDir::new(
        "nosync",
        false,
        &[
            ("tickTime", "2000"),
            ("forceSync", "no"),
            ("snapCount", "30"),
            ("preAllocSize", "16"),
        ],
    );
    let mut server = dir.start().await;
    let mut c = super_client(server.addr).await;
    let mut rng = Rng::new(31);
    must(
        c.create("/f", Some(b"f"), open_acl(), CreateMode::Persistent)
            .await,
        "create /f",
    );
    for i in 0..120 {
        let len = rng.range(10, 2000) as usize;
        let data = payload(&mut rng, &format!("f{i}"), len);
        must(
            c.create(
                &format!("/f/n{i:04}"),
                Some(&data),
                open_acl(),
                CreateMode::Persistent,
            )
            .await,
            "create",
        );
        if i % 3 == 0 {
            must(c.set_data("/f", &data, -1).await, "setData");
        }
    }
    let (name, _) = must(
        c.create(
            "/f/seq-",
            None,
            open_acl(),
            CreateMode::PersistentSequential,
        )
        .await,
        "sequential",
    );
    assert_eq!(name, "/f/seq-0000000120");
    let before = dump_tree(&mut c).await;
    c.close_session().await.unwrap();
    let st = server.sigterm().await;
    assert!(st.success(), "exit status after SIGTERM: {st}");
    // The start-up snapshot and at least the first one rolled during the writes (later ones
    // may be skipped while one is still being written, "too busy to snapshot").
    assert!(dir.snapshots().len() >= 2, "snapshots were taken");

    let mut server = dir.start().await;
    let mut c = super_client(server.addr).await;
    assert_same_tree(&before, &dump_tree(&mut c).await, "forceSync=no, SIGTERM");
    for i in 0..40 {
        must(
            c.set_data("/f", format!("after {i}").as_bytes(), -1).await,
            "setData",
        );
    }
    let before = dump_tree(&mut c).await;
    server.kill9();

    let server = dir.start().await;
    let mut c = super_client(server.addr).await;
    assert_same_tree(&before, &dump_tree(&mut c).await, "forceSync=no, SIGKILL");
}

/// A persistent server shuts down cleanly from a current-thread runtime (a plain
/// `#[tokio::test]`): the disk thread is joined without blocking the runtime, so no task panics
/// and the final flush is not skipped.
#[tokio::test]
async fn shutdown_on_a_current_thread_runtime_is_clean() {
    use zk_server::runtime::{RuntimeConfig, Server, StorageConfig};
    let dir = std::env::temp_dir().join(format!("zkrs-ct-shutdown-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let mut cfg = RuntimeConfig::for_tests("127.0.0.1:0".parse().unwrap());
    cfg.storage = Some(StorageConfig {
        prealloc_bytes: 64 * 1024,
        ..StorageConfig::new(&dir)
    });
    let server = Server::start(cfg).await.unwrap();
    assert!(
        server.shutdown().await,
        "every server task ended without panicking"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
