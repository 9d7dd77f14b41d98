//! More of ZooKeeper 3.8's metrics on a real server: the start-up load times, the quota gauge
//! sets and the quota-exceeded counter set (labelled by namespace in `/metrics`, prefixed by
//! it in `mntr`), and the client transport's TLS handshakes and plaintext connections.

#[path = "common/certs.rs"]
mod certs;
mod common;
mod monitoring;

use std::net::SocketAddr;
use std::path::Path;

use common::{bounded, Raw};
use monitoring::mntr;
use zk_proto::data::Acl;
use zk_server::runtime::{RuntimeConfig, Server, StorageConfig};
use zookeeper_client as zk;

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

/// What zkCli's `setquota` writes: the quota directory, the limits, then zeroed stats (which
/// the server recounts).
async fn set_quota(c: &zk::Client, path: &str, limits: &str) {
    let mut dir = "/zookeeper/quota".to_owned();
    for part in path.split('/').filter(|p| !p.is_empty()) {
        dir = format!("{dir}/{part}");
        match c.create(&dir, b"", &common::open()).await {
            Ok(_) | Err(zk::Error::NodeExists) => {}
            Err(e) => panic!("create {dir}: {e}"),
        }
    }
    for (node, data) in [
        ("zookeeper_limits", limits),
        ("zookeeper_stats", "count=0,bytes=0"),
    ] {
        c.create(&format!("{dir}/{node}"), data.as_bytes(), &common::open())
            .await
            .unwrap_or_else(|e| panic!("{dir}/{node}: {e}"));
    }
}

#[tokio::test(flavor = "current_thread")]
async fn quota_gauges_and_exceeded_counter_per_namespace() {
    bounded(async {
        let dir = scratch("quota-metrics");
        let mut cfg = stored(&dir, common::config());
        cfg.core.enforce_quota = true;
        cfg.metrics_addr = Some("127.0.0.1:0".parse().unwrap());
        let server = Server::start(cfg).await.expect("server starts");
        let (addr, prom) = (server.local_addr, server.metrics_addr.unwrap());
        let per_ns = |m: &std::collections::BTreeMap<String, String>| {
            m.keys()
                .filter(|k| k.ends_with("_per_namespace"))
                .cloned()
                .collect::<Vec<_>>()
        };
        // No quota yet: the sets have no keys.
        assert!(per_ns(&mntr(addr).await).is_empty());
        let body = monitoring::http_get(prom, "/metrics").await.1;
        assert!(!body.contains("_per_namespace{"), "{body}");

        let c = common::client_at(addr).await;
        c.create("/app", b"hi", &common::open()).await.unwrap();
        set_quota(&c, "/app", "count=-1,bytes=-1=;countHardLimit=3").await;
        // Two quotas in one namespace add up (ZooKeeper sums the leaves, -1 included).
        for p in ["/logs", "/logs/a", "/logs/b"] {
            c.create(p, b"", &common::open()).await.unwrap();
        }
        set_quota(&c, "/logs/a", "count=10,bytes=-1").await;
        set_quota(&c, "/logs/b", "count=5,bytes=200").await;
        c.create("/app/1", b"abc", &common::open()).await.unwrap();

        let m = mntr(addr).await;
        assert_eq!(num(&m, "app_quota_count_limit_per_namespace"), 3.0);
        assert_eq!(num(&m, "app_quota_bytes_limit_per_namespace"), -1.0);
        assert_eq!(num(&m, "app_quota_count_usage_per_namespace"), 2.0);
        assert_eq!(num(&m, "app_quota_bytes_usage_per_namespace"), 5.0);
        assert_eq!(num(&m, "logs_quota_count_limit_per_namespace"), 15.0);
        assert_eq!(num(&m, "logs_quota_bytes_limit_per_namespace"), 199.0);
        assert_eq!(num(&m, "logs_quota_count_usage_per_namespace"), 2.0);
        assert!(!m.contains_key("app_quota_exceeded_error_per_namespace"));

        // Usage follows writes; a write over the hard limit is refused and counted.
        c.create("/app/2", b"", &common::open()).await.unwrap();
        assert_eq!(
            c.create("/app/3", b"", &common::open()).await.unwrap_err(),
            zk::Error::QuotaExceeded
        );
        c.set_data("/app/1", b"abcdefgh", None).await.unwrap();
        let m = mntr(addr).await;
        assert_eq!(num(&m, "app_quota_count_usage_per_namespace"), 3.0);
        assert_eq!(num(&m, "app_quota_bytes_usage_per_namespace"), 10.0);
        assert_eq!(num(&m, "app_quota_exceeded_error_per_namespace"), 1.0);
        assert!(!m.contains_key("logs_quota_exceeded_error_per_namespace"));

        // /metrics: labelled by namespace, with ZooKeeper's types.
        let body = monitoring::http_get(prom, "/metrics").await.1;
        for line in [
            "# TYPE quota_count_usage_per_namespace gauge",
            "quota_count_usage_per_namespace{key=\"app\"} 3",
            "quota_bytes_limit_per_namespace{key=\"logs\"} 199",
            "# TYPE quota_exceeded_error_per_namespace counter",
            "quota_exceeded_error_per_namespace{key=\"app\"} 1",
        ] {
            assert!(body.lines().any(|l| l == line), "{line} not in {body}");
        }

        // srst: the counter set keeps its key, at zero.
        assert!(monitoring::four_letter(addr, "srst")
            .await
            .contains("reset"));
        assert_eq!(
            num(&mntr(addr).await, "app_quota_exceeded_error_per_namespace"),
            0.0
        );
        drop(c);
        assert!(server.shutdown().await);
        let _ = std::fs::remove_dir_all(&dir);
    })
    .await
}

/// Waits up to `secs` for the server to close `s` (end of stream, or a reset) before sending
/// anything.
async fn assert_closed_by_server(s: &mut tokio::net::TcpStream, secs: u64, what: &str) {
    use tokio::io::AsyncReadExt;
    let mut buf = [0u8; 1];
    let n = tokio::time::timeout(std::time::Duration::from_secs(secs), s.read(&mut buf))
        .await
        .unwrap_or_else(|_| panic!("{what}: not closed within {secs} s"))
        .unwrap_or(0);
    assert_eq!(n, 0, "{what}: the server sent data instead of closing");
}

/// Polls `mntr` until `pred` holds (bounded).
async fn mntr_until(
    addr: SocketAddr,
    what: &str,
    pred: impl Fn(&std::collections::BTreeMap<String, String>) -> bool,
) -> std::collections::BTreeMap<String, String> {
    for _ in 0..200 {
        let m = mntr(addr).await;
        if pred(&m) {
            return m;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!("{what} never happened");
}

#[tokio::test(flavor = "current_thread")]
async fn tls_handshakes_under_way_and_plaintext_connections_are_counted() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    bounded(async {
        let dir = scratch("tls-metrics");
        let ca = certs::Ca::new(&dir, "ca");
        let mut sc = zk_server::config::ServerConfig::new(&dir);
        sc.tls.client.key_store_location = Some(ca.server(&dir, "server.pem").key_store);
        sc.tls.client.trust_store_location = Some(ca.trust_store.clone());
        let mut cfg = common::config();
        // A plaintext clientPort and a TLS-only secureClientPort.
        cfg.tls = zk_server::runtime::tls::TlsSettings::from_config(
            &sc,
            Some("127.0.0.1:0".parse().unwrap()),
            false,
        )
        .unwrap();
        cfg.admin = Some(zk_server::runtime::AdminSettings {
            addr: "127.0.0.1:0".parse().unwrap(),
            command_url: "/commands".into(),
        });
        let server = Server::start(cfg).await.expect("server starts");
        let (plain, secure) = (server.local_addr, server.secure_addr.unwrap());
        let admin = server.admin_addr.unwrap();

        // Each mntr is a plaintext connection from loopback, counted before it is served.
        let m = mntr(plain).await;
        assert_eq!(num(&m, "unsuccessful_handshake"), 0.0);
        assert_eq!(num(&m, "non_mtls_local_conn_count"), 1.0);
        assert_eq!(num(&m, "non_mtls_remote_conn_count"), 0.0);
        assert_eq!(num(&m, "outstanding_tls_handshake"), 0.0);
        assert_eq!(num(&mntr(plain).await, "non_mtls_local_conn_count"), 2.0);

        // A TLS client that has not sent its ClientHello: a handshake under way.
        let mut silent = tokio::net::TcpStream::connect(secure).await.unwrap();
        let m = mntr_until(plain, "a handshake under way", |m| {
            num(m, "outstanding_tls_handshake") == 1.0
        })
        .await;
        let local = num(&m, "non_mtls_local_conn_count");
        // It gives up: the handshake is over.
        silent.shutdown().await.unwrap();
        drop(silent);
        let m = mntr_until(plain, "the abandoned handshake to end", |m| {
            num(m, "outstanding_tls_handshake") == 0.0
        })
        .await;
        // An unsuccessful handshake, and (as ZooKeeper counts it) a failed authentication.
        assert_eq!(num(&m, "unsuccessful_handshake"), 1.0);
        assert_eq!(num(&m, "auth_failed_count"), 1.0);

        // A full TLS connection (a four-letter word over TLS) is not a plaintext one.
        let id = ca.client(&dir, "c.pem", "c");
        let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(
            certs::client_rustls(&ca.trust_store, &id.key_store),
        ));
        let tcp = tokio::net::TcpStream::connect(secure).await.unwrap();
        let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
        let mut s = connector.connect(name, tcp).await.unwrap();
        s.write_all(b"mntr").await.unwrap();
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out).await;
        let text = String::from_utf8(out).unwrap();
        let over_tls: std::collections::BTreeMap<&str, &str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("zk_")?.split_once('\t'))
            .collect();
        // Answered after its own handshake ended; the plaintext count did not move for it
        // (one more for the mntr that ended the wait above).
        assert_eq!(over_tls["outstanding_tls_handshake"], "0");
        assert_eq!(over_tls["unsuccessful_handshake"], "1");
        assert_eq!(
            over_tls["non_mtls_local_conn_count"]
                .parse::<f64>()
                .unwrap(),
            local + 1.0
        );

        // The admin server's server_stats carries the same counts, under ZooKeeper's names.
        let st = monitoring::command(admin, "server_stats").await;
        assert_eq!(
            st["server_stats"]["non_mtlslocal_conn_count"].as_f64(),
            Some(local + 1.0)
        );
        assert_eq!(st["server_stats"]["non_mtlsremote_conn_count"], 0);
        // srst leaves them, as ZooKeeper's ServerStats.reset does.
        assert!(monitoring::four_letter(plain, "srst")
            .await
            .contains("reset"));
        assert_eq!(
            num(&mntr(plain).await, "non_mtls_local_conn_count"),
            local + 3.0
        );
        assert!(server.shutdown().await);
        let _ = std::fs::remove_dir_all(&dir);
    })
    .await
}

#[tokio::test(flavor = "current_thread")]
async fn connections_that_never_start_a_session_are_expired_and_counted() {
    bounded(async {
        let server = Server::start(common::config())
            .await
            .expect("server starts");
        let addr = server.local_addr;
        assert_eq!(
            num(&mntr(addr).await, "sessionless_connections_expired"),
            0.0
        );
        // Connected, silent: closed after ZooKeeper's sessionlessCnxnTimeout (10 s).
        let mut idle = tokio::net::TcpStream::connect(addr).await.unwrap();
        assert_closed_by_server(&mut idle, 15, "the silent connection").await;
        let m = mntr_until(addr, "the expiry to be counted", |m| {
            num(m, "sessionless_connections_expired") == 1.0
        })
        .await;
        assert_eq!(num(&m, "sessionless_connections_expired"), 1.0);
        assert!(server.shutdown().await);
    })
    .await
}

#[tokio::test(flavor = "current_thread")]
async fn tls_handshakes_beyond_the_limit_are_refused_and_counted() {
    bounded(async {
        let dir = scratch("tls-limit");
        let ca = certs::Ca::new(&dir, "ca");
        let mut sc = zk_server::config::ServerConfig::new(&dir);
        sc.tls.client.key_store_location = Some(ca.server(&dir, "server.pem").key_store);
        sc.tls.client.trust_store_location = Some(ca.trust_store.clone());
        // zookeeper.netty.server.outstandingHandshake.limit=1
        sc.tls.outstanding_handshake_limit = 1;
        let mut cfg = common::config();
        cfg.tls = zk_server::runtime::tls::TlsSettings::from_config(
            &sc,
            Some("127.0.0.1:0".parse().unwrap()),
            false,
        )
        .unwrap();
        let server = Server::start(cfg).await.expect("server starts");
        let (plain, secure) = (server.local_addr, server.secure_addr.unwrap());
        assert_eq!(num(&mntr(plain).await, "tls_handshake_exceeded"), 0.0);

        // One handshake under way (a client that has not sent its ClientHello)...
        let first = tokio::net::TcpStream::connect(secure).await.unwrap();
        mntr_until(plain, "a handshake under way", |m| {
            num(m, "outstanding_tls_handshake") == 1.0
        })
        .await;
        // ...so a second TLS client is closed before its handshake, and counted.
        let mut second = tokio::net::TcpStream::connect(secure).await.unwrap();
        assert_closed_by_server(&mut second, 5, "the second client").await;
        let m = mntr_until(plain, "the refusal to be counted", |m| {
            num(m, "tls_handshake_exceeded") == 1.0
        })
        .await;
        assert_eq!(num(&m, "outstanding_tls_handshake"), 1.0);
        // The first gives up; a new TLS client is served again.
        drop(first);
        mntr_until(plain, "the first handshake to end", |m| {
            num(m, "outstanding_tls_handshake") == 0.0
        })
        .await;
        let id = ca.client(&dir, "c.pem", "c");
        let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(
            certs::client_rustls(&ca.trust_store, &id.key_store),
        ));
        let tcp = tokio::net::TcpStream::connect(secure).await.unwrap();
        let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
        connector.connect(name, tcp).await.expect("a TLS handshake");
        assert_eq!(num(&mntr(plain).await, "tls_handshake_exceeded"), 1.0);
        assert!(server.shutdown().await);
        let _ = std::fs::remove_dir_all(&dir);
    })
    .await
}
