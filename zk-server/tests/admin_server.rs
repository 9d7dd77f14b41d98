//! The AdminServer of a standalone server: every command answers ZooKeeper 3.8's JSON shape
//! with values that follow the server's state; errors answer as ZooKeeper does (HTTP 200 with
//! an `error` message).

mod common;
mod monitoring;

use std::net::SocketAddr;

use common::{bounded, Raw};
use monitoring::{command, http_get};
use serde_json::{json, Value};
use zk_proto::data::Acl;
use zk_server::runtime::{AdminSettings, Server, StorageConfig};

struct Admin {
    server: Server,
    client: SocketAddr,
    admin: SocketAddr,
    dir: std::path::PathBuf,
}

async fn start(name: &str) -> Admin {
    let dir = std::env::temp_dir().join(format!("zkrs-admin-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut cfg = common::config();
    cfg.data_dir = dir.clone();
    cfg.data_log_dir = dir.clone();
    cfg.storage = Some(StorageConfig {
        force_sync: false,
        prealloc_bytes: 64 * 1024,
        ..StorageConfig::new(&dir)
    });
    cfg.admin = Some(AdminSettings {
        addr: "127.0.0.1:0".parse().unwrap(),
        command_url: "/commands".into(),
    });
    cfg.initial_config = Some("tickTime=100\nclientPort=0\n".into());
    cfg.system_properties
        .insert("zookeeper.snapCount".into(), "4".into());
    let server = Server::start(cfg).await.expect("server starts");
    Admin {
        client: server.local_addr,
        admin: server.admin_addr.expect("the AdminServer is on"),
        server,
        dir,
    }
}

impl Admin {
    async fn stop(self) {
        assert!(self.server.shutdown().await);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn keys(m: &serde_json::Map<String, Value>) -> Vec<&str> {
    let mut k: Vec<&str> = m.keys().map(String::as_str).collect();
    k.sort_unstable();
    k
}

#[tokio::test]
async fn commands_list_errors_and_aliases() {
    bounded(async {
        let a = start("list").await;
        let (status, body) = http_get(a.admin, "/commands").await;
        assert_eq!(status, 200);
        for name in [
            "configuration",
            "monitor",
            "stats",
            "zabstate",
            "watches_by_path",
        ] {
            assert!(
                body.contains(&format!("<a href=\"/commands/{name}\">{name}</a>")),
                "{name} not listed in {body}"
            );
        }
        assert_eq!(
            Value::Object(command(a.admin, "ruok").await),
            json!({"command": "ruok", "error": null})
        );
        // Unknown commands: HTTP 200 and ZooKeeper's message.
        assert_eq!(
            Value::Object(command(a.admin, "nosuch").await),
            json!({"command": "nosuch", "error": "Unknown command: nosuch"})
        );
        // Aliases run the same command and name it as asked.
        let m = command(a.admin, "mntr").await;
        assert_eq!(m["command"], "mntr");
        assert_eq!(m["server_state"], "standalone");
        let isro = command(a.admin, "isro").await;
        assert_eq!(
            Value::Object(isro),
            json!({"command": "isro", "error": null, "read_only": false})
        );
        // Standalone: no leader, no Zab.
        let l = command(a.admin, "leader").await;
        assert_eq!(l["error"], "server is not initialized");
        let z = command(a.admin, "zabstate").await;
        assert_eq!(
            Value::Object(z),
            json!({"command": "zabstate", "error": null, "voting": false, "zabstate": ""})
        );
        let v = command(a.admin, "voting_view").await;
        assert_eq!(v["current_config"], json!({}));
        let o = command(a.admin, "observers").await;
        assert_eq!(
            (&o["synced_observers"], &o["observers"]),
            (&json!(0), &json!([]))
        );
        a.stop().await;
    })
    .await;
}

#[tokio::test]
async fn session_watch_and_node_commands_follow_the_state() {
    bounded(async {
        let a = start("state").await;
        let mut c = Raw::connect(a.client).await;
        c.create("/e", Some(b"x"), Acl::open_unsafe(), 1)
            .await
            .unwrap();
        c.create("/w", Some(b"abc"), Acl::open_unsafe(), 0)
            .await
            .unwrap();
        c.get_data("/w", true).await.unwrap();
        c.exists("/nope", true).await.unwrap_err();
        let sid = c.session_id;

        let cons = command(a.admin, "connections").await;
        assert_eq!(cons["secure_connections"], json!([]));
        let list = cons["connections"].as_array().unwrap();
        assert_eq!(list.len(), 1);
        let conn = list[0].as_object().unwrap();
        assert_eq!(
            keys(conn),
            [
                "avg_latency",
                "established",
                "interest_ops",
                "last_cxid",
                "last_latency",
                "last_operation",
                "last_response_time",
                "last_zxid",
                "max_latency",
                "min_latency",
                "outstanding_requests",
                "packets_received",
                "packets_sent",
                "remote_socket_address",
                "session_id",
                "session_timeout"
            ]
        );
        assert_eq!(conn["session_id"], sid);
        assert_eq!(conn["last_operation"], "EXIS");
        // 30 s asked, capped at maxSessionTimeout.
        assert_eq!(conn["session_timeout"], 20_000);
        assert_eq!(conn["packets_received"], 5);
        assert!(conn["remote_socket_address"]
            .as_str()
            .unwrap()
            .starts_with("127.0.0.1:"));

        let stats = command(a.admin, "stats").await;
        let brief = stats["connections"].as_array().unwrap()[0]
            .as_object()
            .unwrap();
        assert_eq!(
            keys(brief),
            [
                "interest_ops",
                "outstanding_requests",
                "packets_received",
                "packets_sent",
                "remote_socket_address"
            ]
        );
        assert_eq!(stats["node_count"], 7);
        assert_eq!(stats["read_only"], false);
        let ss = stats["server_stats"].as_object().unwrap();
        assert_eq!(ss["server_state"], "standalone");
        assert_eq!(ss["num_alive_client_connections"], 1);
        assert_eq!(ss["packets_received"], 5);
        assert_eq!(ss["client_response_stats"]["last_buffer_size"], 16);
        assert_eq!(stats["client_response"], ss["client_response_stats"]);
        let srvr = command(a.admin, "server_stats").await;
        assert!(srvr.get("connections").is_none());
        assert_eq!(srvr["node_count"], 7);

        let dump = command(a.admin, "dump").await;
        assert_eq!(
            dump["session_id_to_ephemeral_paths"],
            json!({ sid.to_string(): ["/e"] })
        );
        let expiry = dump["expiry_time_to_session_ids"].as_object().unwrap();
        assert_eq!(
            expiry.values().cloned().collect::<Vec<_>>(),
            vec![json!([sid])]
        );

        let w = command(a.admin, "watches").await;
        assert_eq!(
            w["session_id_to_watched_paths"][sid.to_string()]
                .as_array()
                .unwrap()
                .len(),
            2
        );
        let wp = command(a.admin, "watches_by_path").await;
        assert_eq!(
            wp["path_to_session_ids"],
            json!({"/w": [sid], "/nope": [sid]})
        );
        let ws = command(a.admin, "watch_summary").await;
        assert_eq!(
            (
                &ws["num_connections"],
                &ws["num_paths"],
                &ws["num_total_watches"]
            ),
            (&json!(1), &json!(2), &json!(2))
        );

        // Resets: per connection, then server-wide.
        command(a.admin, "connection_stat_reset").await;
        let cons = command(a.admin, "cons").await;
        assert_eq!(cons["connections"][0]["packets_received"], 0);
        assert_eq!(cons["connections"][0]["last_operation"], "NA");
        command(a.admin, "stat_reset").await;
        let ss = command(a.admin, "srvr").await;
        assert_eq!(ss["server_stats"]["packets_received"], 0);
        c.close_session().await;
        a.stop().await;
    })
    .await;
}

#[tokio::test]
async fn configuration_files_and_digest_commands() {
    bounded(async {
        let a = start("conf").await;
        let conf = command(a.admin, "configuration").await;
        assert_eq!(conf["client_port"], a.client.port());
        assert_eq!(conf["tick_time"], 100);
        assert_eq!(conf["max_session_timeout"], 20_000);
        assert!(conf["data_dir"].as_str().unwrap().ends_with("version-2"));
        let icfg = command(a.admin, "initial_configuration").await;
        assert_eq!(
            icfg["initial_configuration"],
            "tickTime=100\nclientPort=0\n"
        );
        let sysp = command(a.admin, "system_properties").await;
        assert_eq!(sysp["zookeeper.snapCount"], "4");
        assert_eq!(sysp["os.name"], "Linux");
        let env = command(a.admin, "environment").await;
        assert!(env["zookeeper.version"]
            .as_str()
            .unwrap()
            .starts_with("3.9"));
        assert!(env.contains_key("user.dir"));

        // The start-up snapshot is the newest: zxid 0.
        let snap = command(a.admin, "last_snapshot").await;
        assert_eq!(snap["zxid"], "0");
        assert!(snap["timestamp"].as_i64().unwrap() > 1_600_000_000);
        let dirs = command(a.admin, "dirs").await;
        let before = dirs["logdir_size"].as_u64().unwrap();
        assert!(dirs["datadir_size"].as_u64().unwrap() > 0);

        // The digest log keeps the tree digest of every 128th zxid.
        assert_eq!(command(a.admin, "hash").await["digests"], json!([]));
        let mut c = Raw::connect(a.client).await;
        // zxid 1 is the session; 127 creates bring the last zxid to 0x80.
        for i in 0..127 {
            c.create(&format!("/n{i}"), None, Acl::open_unsafe(), 0)
                .await
                .unwrap();
        }
        let h = command(a.admin, "hash").await;
        let digests = h["digests"].as_array().unwrap();
        assert_eq!(digests.len(), 1, "{h:?}");
        assert_eq!(digests[0]["zxid"], 128);
        assert_eq!(digests[0]["digestVersion"], 2);
        assert!(digests[0]["digest"].as_i64().unwrap() != 0);
        let dirs = command(a.admin, "dirs").await;
        assert!(dirs["logdir_size"].as_u64().unwrap() >= before);
        c.close_session().await;
        a.stop().await;
    })
    .await;
}

#[tokio::test]
async fn ports_in_use_as_zookeeper_takes_them() {
    bounded(async {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = taken.local_addr().unwrap();
        // A /metrics port in use fails the start.
        let mut cfg = common::config();
        cfg.metrics_addr = Some(port);
        let err = match Server::start(cfg).await {
            Ok(_) => panic!("the server started without its /metrics port"),
            Err(e) => e,
        };
        assert!(err.to_string().contains("cannot start /metrics"), "{err}");
        // An AdminServer port in use: the server serves without it.
        let mut cfg = common::config();
        cfg.admin = Some(AdminSettings {
            addr: port,
            command_url: "/commands".into(),
        });
        let server = Server::start(cfg)
            .await
            .expect("serves without the AdminServer");
        assert_eq!(server.admin_addr, None);
        let mut c = Raw::connect(server.local_addr).await;
        c.ping().await;
        drop(c);
        assert!(server.shutdown().await);
    })
    .await;
}

#[tokio::test]
async fn refused_connections_are_counted() {
    bounded(async {
        // One connection per IP allowed.
        let mut cfg = common::config();
        cfg.max_client_cnxns = 1;
        cfg.admin = Some(AdminSettings {
            addr: "127.0.0.1:0".parse().unwrap(),
            command_url: "/commands".into(),
        });
        let server = Server::start(cfg).await.expect("server starts");
        let admin = server.admin_addr.unwrap();
        assert_eq!(command(admin, "monitor").await["connection_rejected"], 0);
        let c = Raw::connect(server.local_addr).await;
        // The second connection from 127.0.0.1 is closed at once.
        let mut refused = tokio::net::TcpStream::connect(server.local_addr)
            .await
            .unwrap();
        let mut buf = [0u8; 1];
        let n = tokio::io::AsyncReadExt::read(&mut refused, &mut buf)
            .await
            .unwrap_or(0);
        assert_eq!(n, 0);
        let m = command(admin, "monitor").await;
        assert_eq!(m["connection_rejected"], 1);
        assert_eq!(m["connection_request_count"], 1);
        drop(c);
        assert!(server.shutdown().await);
    })
    .await;
}
