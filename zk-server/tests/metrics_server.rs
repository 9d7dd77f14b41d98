//! A real server with its Prometheus endpoint and AdminServer on 127.0.0.1:0, driven by a
//! wire-level client: every metric family moves with the event it counts, `/metrics` parses as
//! Prometheus text, and `mntr`, `monitor` and `/metrics` agree. One test in this binary, because
//! it watches the process's file descriptors.

mod common;
mod monitoring;

use common::{bounded, Raw};
use monitoring::{http_get, mntr, monitor, scrape, until};
use tokio::net::TcpStream;
use zk_proto::consts::xid;
use zk_proto::data::Acl;
use zk_proto::proto::AuthPacket;
use zk_proto::request::Request;
use zk_server::runtime::{AdminSettings, Server, StorageConfig};

#[tokio::test(flavor = "current_thread")]
async fn every_metric_family_moves_with_what_it_counts() {
    bounded(async {
        let dir = std::env::temp_dir().join(format!("zkrs-metrics-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut cfg = common::config();
        cfg.data_dir = dir.clone();
        cfg.data_log_dir = dir.clone();
        cfg.storage = Some(StorageConfig {
            // fsynctime is measured only with forceSync, as ZooKeeper's.
            force_sync: true,
            prealloc_bytes: 64 * 1024,
            // A snapshot after every 2 to 4 txns.
            snap_count: 4,
            ..StorageConfig::new(&dir)
        });
        cfg.metrics_addr = Some("127.0.0.1:0".parse().unwrap());
        cfg.admin = Some(AdminSettings {
            addr: "127.0.0.1:0".parse().unwrap(),
            command_url: "/commands".into(),
        });
        let server = Server::start(cfg).await.expect("server starts");
        let (client, prom, admin) = (
            server.local_addr,
            server.metrics_addr.expect("/metrics is on"),
            server.admin_addr.expect("the AdminServer is on"),
        );

        let s0 = scrape(prom).await;
        // Types as ZooKeeper's Prometheus provider declares them.
        for (name, ty) in [
            ("znode_count", "gauge"),
            ("packets_sent", "gauge"),
            ("looking_count", "counter"),
            ("bytes_received_count", "counter"),
            ("readlatency", "summary"),
            ("fsynctime", "summary"),
        ] {
            assert_eq!(s0.types.get(name).map(String::as_str), Some(ty), "{name}");
        }
        // The start-up: the database load and the snapshot ZooKeeper always takes.
        assert_eq!(s0.v("dbinittime_count"), 1.0);
        assert_eq!(s0.v("snapshottime_count"), 1.0);
        assert!(s0.values.contains_key("readlatency{0.99}"));
        assert!(s0.values.contains_key("fsynctime{0.5}"));
        assert!(
            !s0.values.contains_key("fsynctime{0.9}"),
            "basic summaries: median only"
        );
        assert_eq!(s0.v("num_alive_connections"), 0.0);
        assert_eq!(s0.v("global_sessions"), 0.0);
        let limit: f64 = std::fs::read_to_string("/proc/self/limits")
            .unwrap()
            .lines()
            .find(|l| l.starts_with("Max open files"))
            .and_then(|l| {
                l["Max open files".len()..]
                    .split_whitespace()
                    .next()?
                    .parse()
                    .ok()
            })
            .unwrap_or(-1.0);
        assert_eq!(s0.v("max_file_descriptor_count"), limit);

        // A session: a connection, a session, bytes and packets in and out.
        let mut a = Raw::connect(client).await;
        let s1 = scrape(prom).await;
        assert_eq!(s1.v("num_alive_connections"), 1.0);
        assert_eq!(s1.v("global_sessions"), 1.0);
        assert_eq!(
            s1.v("connection_request_count"),
            s0.v("connection_request_count") + 1.0
        );
        assert!(s1.v("bytes_received_count") > s0.v("bytes_received_count"));
        assert!(s1.v("packets_received") > s0.v("packets_received"));
        assert!(s1.v("open_file_descriptor_count") > s0.v("open_file_descriptor_count"));
        assert!(s1.v("uptime") > 0.0);

        // Writes: nodes, data size, update latency, fsyncs, answers.
        a.create("/m", Some(&[7u8; 100]), Acl::open_unsafe(), 0)
            .await
            .unwrap();
        a.create("/m/eph", Some(b"e"), Acl::open_unsafe(), 1)
            .await
            .unwrap();
        let s2 = scrape(prom).await;
        assert_eq!(s2.v("znode_count"), s1.v("znode_count") + 2.0);
        assert!(s2.v("approximate_data_size") >= s1.v("approximate_data_size") + 101.0);
        assert_eq!(s2.v("ephemerals_count"), 1.0);
        assert_eq!(
            s2.v("updatelatency_count"),
            s1.v("updatelatency_count") + 2.0
        );
        assert!(s2.v("fsynctime_count") >= 1.0);
        // The two creates went through group commits.
        assert!(s2.v("sync_processor_batch_size_count") >= 1.0);
        assert_eq!(
            s2.v("sync_processor_batch_size_sum") - s1.v("sync_processor_batch_size_sum"),
            2.0
        );
        assert!(s2.v("packets_sent") > s1.v("packets_sent"));
        assert!(s2.v("last_client_response_size") > 0.0);

        // A read that leaves a watch: read latency and the watch count.
        a.get_data("/m", true).await.unwrap();
        let s3 = scrape(prom).await;
        assert_eq!(s3.v("readlatency_count"), s2.v("readlatency_count") + 1.0);
        assert_eq!(s3.v("watch_count"), s2.v("watch_count") + 1.0);
        assert!(!s3.v("readlatency{0.5}").is_nan());

        // Enough txns for background snapshots.
        for i in 0..6 {
            a.create(&format!("/m/{i}"), None, Acl::open_unsafe(), 0)
                .await
                .unwrap();
        }
        until(prom, "a background snapshot", |s| {
            s.v("snapshottime_count") >= 2.0
        })
        .await;

        // A refused authentication.
        let mut b = Raw::connect(client).await;
        let r = b
            .call_xid(
                xid::AUTH,
                &Request::Auth(AuthPacket {
                    auth_type: 0,
                    scheme: "no-such-scheme".into(),
                    auth: b"x".to_vec(),
                }),
            )
            .await;
        assert_ne!(r.err, 0);
        let s4 = scrape(prom).await;
        assert_eq!(s4.v("auth_failed_count"), s3.v("auth_failed_count") + 1.0);

        // One source: mntr and monitor print the same keys, and agree with /metrics.
        let m = mntr(client).await;
        let j = monitor(admin).await;
        let mkeys: Vec<&String> = m.keys().collect();
        let mut jkeys: Vec<&String> = j
            .keys()
            .filter(|k| *k != "command" && *k != "error")
            .collect();
        jkeys.sort();
        assert_eq!(mkeys, jkeys);
        for k in [
            "znode_count",
            "ephemerals_count",
            "global_sessions",
            "cnt_updatelatency",
        ] {
            assert_eq!(m[k], j[k].to_string(), "{k}");
        }
        assert_eq!(m["server_state"], "standalone");
        let s5 = scrape(prom).await;
        assert_eq!(
            m["znode_count"].parse::<f64>().unwrap(),
            s5.v("znode_count")
        );
        assert_eq!(
            m["cnt_fsynctime"].parse::<f64>().unwrap(),
            s5.v("fsynctime_count")
        );
        assert_eq!(
            m["sum_updatelatency"].parse::<f64>().unwrap(),
            s5.v("updatelatency_sum")
        );

        // stat_reset (srst) starts the counts afresh.
        let (status, _) = http_get(admin, "/commands/stat_reset").await;
        assert_eq!(status, 200);
        let s6 = scrape(prom).await;
        assert_eq!(s6.v("readlatency_count"), 0.0);
        assert_eq!(s6.v("connection_request_count"), 0.0);
        assert!(s6.v("packets_received") < s5.v("packets_received"));
        // ... but not what is: the nodes are still there.
        assert_eq!(s6.v("znode_count"), s5.v("znode_count"));

        // Closing a session: gone from the gauges.
        a.close_session().await;
        drop(a);
        until(prom, "the closed session to go", |s| {
            s.v("global_sessions") == 1.0
        })
        .await;

        // Unknown paths on either server: 404.
        assert_eq!(http_get(prom, "/nope").await.0, 404);
        assert_eq!(http_get(admin, "/nope").await.0, 404);

        drop(b);
        assert!(server.shutdown().await);
        // Both HTTP servers ended with the server.
        assert!(
            TcpStream::connect(prom).await.is_err(),
            "/metrics still listening"
        );
        assert!(
            TcpStream::connect(admin).await.is_err(),
            "AdminServer still listening"
        );
        let _ = std::fs::remove_dir_all(&dir);
    })
    .await;
}
