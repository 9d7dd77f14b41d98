//! The monitor's values over the pure core on virtual time: latencies move by exactly the time
//! a request took, a write waiting for its txn to be durable is outstanding, a txn whose digest
//! disagrees is counted, and `mntr`, `monitor` and `/metrics` show one set of metrics.

mod harness;

use std::collections::BTreeSet;

use harness::Harness;
use zk_proto::data::Acl;
use zk_proto::proto::*;
use zk_proto::request::{encode_request, Request};
use zk_proto::txn::TxnDigest;
use zk_proto::OpCode;
use zk_server::core::Effect;
use zk_server::runtime::four_letter::FourLetterContext;
use zk_server::runtime::metrics::{self, Metric, Value};
use zk_server::runtime::RuntimeConfig;

fn ctx() -> FourLetterContext {
    let addr = "127.0.0.1:2181".parse().unwrap();
    FourLetterContext::new(&RuntimeConfig::for_tests(addr), addr)
}

fn row(h: &Harness, ctx: &FourLetterContext, key: &str) -> Value {
    metrics::monitor_rows(&metrics::collect(&h.core, ctx, h.now))
        .into_iter()
        .find(|(k, _)| k == key)
        .unwrap_or_else(|| panic!("no {key} in the monitor"))
        .1
}

fn int(h: &Harness, ctx: &FourLetterContext, key: &str) -> i64 {
    match row(h, ctx, key) {
        Value::Int(v) => v,
        other => panic!("{key} is {other:?}"),
    }
}

fn create_req(path: &str) -> Request {
    Request::Create {
        op: OpCode::Create,
        req: CreateRequest {
            path: path.into(),
            data: Some(b"v".to_vec()),
            acl: Acl::open_unsafe(),
            flags: 0,
        },
    }
}

/// The txns among `fx`, in order.
fn persisted(fx: Vec<Effect>) -> Vec<zk_server::core::txn::Txn> {
    fx.into_iter()
        .filter_map(|e| match e {
            Effect::Persist(t) => Some(*t),
            _ => None,
        })
        .collect()
}

fn create_frame(xid: i32, path: &str) -> Vec<u8> {
    let req = Request::Create {
        op: OpCode::Create,
        req: CreateRequest {
            path: path.into(),
            data: Some(b"v".to_vec()),
            acl: Acl::open_unsafe(),
            flags: 0,
        },
    };
    let mut payload = Vec::new();
    encode_request(xid, &req, &mut payload);
    payload
}

#[test]
fn latencies_and_outstanding_requests_follow_virtual_time() {
    let mut h = Harness::new();
    let c = ctx();
    let conn = h.sessions[0];
    assert_eq!(int(&h, &c, "cnt_updatelatency"), 0);
    assert_eq!(int(&h, &c, "max_latency"), 0);

    // A write is outstanding from its arrival until its txn is committed 40 ms later.
    let fx = h.core.handle_frame(conn, &create_frame(1000, "/a"), h.now);
    let persist = persisted(fx);
    assert_eq!(persist.len(), 1);
    assert_eq!(int(&h, &c, "outstanding_requests"), 1);
    h.advance(40);
    let fx = h.core.commit(&persist[0], h.now);
    h.run(fx);
    assert_eq!(int(&h, &c, "outstanding_requests"), 0);
    assert_eq!(int(&h, &c, "cnt_updatelatency"), 1);
    assert_eq!(int(&h, &c, "sum_updatelatency"), 40);
    assert_eq!(int(&h, &c, "max_updatelatency"), 40);
    assert_eq!(int(&h, &c, "p50_updatelatency"), 40);
    assert_eq!(int(&h, &c, "max_latency"), 40);

    // Reads are answered at once: 0 ms, as reads, and the server-wide min drops to 0.
    let before = int(&h, &c, "cnt_readlatency");
    let bytes_before = int(&h, &c, "response_bytes");
    h.call(
        conn,
        &Request::GetData(GetDataRequest {
            path: "/a".into(),
            watch: false,
        }),
    );
    assert_eq!(int(&h, &c, "cnt_readlatency"), before + 1);
    assert_eq!(int(&h, &c, "min_latency"), 0);
    assert_eq!(int(&h, &c, "cnt_updatelatency"), 1);
    match row(&h, &c, "avg_latency") {
        Value::Float(v) => assert!(v > 0.0 && v < 40.0, "avg_latency {v}"),
        other => panic!("avg_latency is {other:?}"),
    }
    // ZooKeeper's BufferStats: the GetData answer is header (16) + data (4 + 1) + stat (68).
    assert_eq!(int(&h, &c, "last_client_response_size"), 89);
    assert_eq!(int(&h, &c, "max_client_response_size"), 89);
    assert_eq!(int(&h, &c, "response_bytes"), bytes_before + 89);
    // The smallest answer so far: the create's (header 16 + path "/a" 4 + 2).
    assert_eq!(int(&h, &c, "min_client_response_size"), 22);
}

#[test]
fn notifications_count_as_watch_bytes() {
    let mut h = Harness::new();
    let c = ctx();
    let [writer, watcher] = h.sessions;
    h.call(
        watcher,
        &Request::Exists(ExistsRequest {
            path: "/n".into(),
            watch: true,
        }),
    );
    assert_eq!(int(&h, &c, "watch_bytes"), 0);
    let fx = h
        .core
        .handle_frame(writer, &create_frame(1000, "/n"), h.now);
    h.run(fx);
    // A NodeCreated event for "/n": header (16) + type, state (4 + 4) + path (4 + 2).
    assert_eq!(int(&h, &c, "watch_bytes"), 30);
}

/// (count, sum) of a summary in the monitor.
fn cnt_sum(h: &Harness, c: &FourLetterContext, name: &str) -> (i64, i64) {
    (
        int(h, c, &format!("cnt_{name}")),
        int(h, c, &format!("sum_{name}")),
    )
}

#[test]
fn watchers_matched_by_each_event_are_summarised_by_type() {
    let mut h = Harness::new();
    let c = ctx();
    let [writer, watcher] = h.sessions;
    let exists = |p: &str| {
        Request::Exists(ExistsRequest {
            path: p.into(),
            watch: true,
        })
    };
    let get_data = |p: &str| {
        Request::GetData(GetDataRequest {
            path: p.into(),
            watch: true,
        })
    };
    let get_children = |p: &str| {
        Request::GetChildren(GetChildrenRequest {
            path: p.into(),
            watch: true,
        })
    };
    let names = [
        "node_created_watch_count",
        "node_deleted_watch_count",
        "node_changed_watch_count",
        "node_children_watch_count",
    ];
    for n in names {
        assert_eq!(cnt_sum(&h, &c, n), (0, 0), "{n}");
    }
    // An event nobody watches is not counted.
    h.call(writer, &create_req("/quiet"));
    for n in names {
        assert_eq!(cnt_sum(&h, &c, n), (0, 0), "{n}");
    }

    // Two sessions wait for /n: one NodeCreated matching two watchers.
    h.call(writer, &exists("/n"));
    h.call(watcher, &exists("/n"));
    h.call(writer, &create_req("/n"));
    assert_eq!(cnt_sum(&h, &c, "node_created_watch_count"), (1, 2));
    assert_eq!(int(&h, &c, "max_node_created_watch_count"), 2);

    // One data watch: NodeDataChanged matching one.
    h.call(watcher, &get_data("/n"));
    h.call(
        writer,
        &Request::SetData(SetDataRequest {
            path: "/n".into(),
            data: Some(b"x".to_vec()),
            version: -1,
        }),
    );
    assert_eq!(cnt_sum(&h, &c, "node_changed_watch_count"), (1, 1));

    // Deleting /n fires the data watch and the child watch on /n (two triggers of
    // NodeDeleted, one watcher each; the session hears it once) and the child watch on /
    // (NodeChildrenChanged).
    h.call(watcher, &get_data("/n"));
    h.call(watcher, &get_children("/n"));
    h.call(writer, &get_children("/"));
    h.events(watcher);
    h.call(
        writer,
        &Request::Delete(DeleteRequest {
            path: "/n".into(),
            version: -1,
        }),
    );
    assert_eq!(cnt_sum(&h, &c, "node_deleted_watch_count"), (2, 2));
    assert_eq!(cnt_sum(&h, &c, "node_children_watch_count"), (1, 1));
    assert_eq!(
        h.events(watcher),
        vec![(zk_proto::EventType::NodeDeleted, "/n".to_owned())]
    );
    // Both standard watches on /n were used up: a new /n/c under a new /n fires nothing.
    h.call(writer, &create_req("/n"));
    h.call(writer, &create_req("/n/c"));
    assert_eq!(cnt_sum(&h, &c, "node_children_watch_count"), (1, 1));
    assert!(h.events(watcher).is_empty());

    // srst forgets them, as ZooKeeper's provider resets its summaries.
    h.core.stats.reset();
    assert_eq!(cnt_sum(&h, &c, "node_created_watch_count"), (0, 0));
}

#[test]
fn propagation_latency_runs_from_the_txn_time_to_its_application() {
    let mut h = Harness::new();
    let c = ctx();
    let conn = h.sessions[0];
    let before = cnt_sum(&h, &c, "propagation_latency");
    // The txn is stamped now; the disk makes it durable 40 ms later and it is applied.
    let fx = h.core.handle_frame(conn, &create_frame(1000, "/p"), h.now);
    let persist = persisted(fx);
    h.advance(40);
    let fx = h.core.commit(&persist[0], h.now);
    h.run(fx);
    assert_eq!(
        cnt_sum(&h, &c, "propagation_latency"),
        (before.0 + 1, before.1 + 40)
    );
    assert_eq!(int(&h, &c, "max_propagation_latency"), 40);
    // A detailed summary: percentiles in mntr.
    assert_eq!(int(&h, &c, "p999_propagation_latency"), 40);
}

#[test]
fn connects_resuming_a_session_are_counted_as_revalidations() {
    let mut h = Harness::new();
    let c = ctx();
    // The harness's two new sessions are not revalidations.
    assert_eq!(int(&h, &c, "connection_revalidate_count"), 0);
    let session = h.core.conns[&h.sessions[0]].session.unwrap();
    let resume = |h: &mut Harness, passwd: Vec<u8>| {
        let conn = h.next_conn;
        h.next_conn += 1;
        h.core
            .connection_opened(conn, "127.0.0.1:2".parse().unwrap(), h.now);
        let req = ConnectRequest {
            time_out: 30_000,
            session_id: session,
            passwd,
            ..Default::default()
        };
        let fx = h
            .core
            .handle_frame(conn, &zk_proto::Encode::to_bytes(&req), h.now);
        h.run(fx);
    };
    resume(
        &mut h,
        zk_server::core::sessions::password(session).to_vec(),
    );
    assert_eq!(int(&h, &c, "connection_revalidate_count"), 1);
    // A wrong password is refused, and counted too (ZooKeeper counts every attempt).
    resume(&mut h, vec![7; 16]);
    assert_eq!(int(&h, &c, "connection_revalidate_count"), 2);
    h.connect();
    assert_eq!(int(&h, &c, "connection_revalidate_count"), 2);
}

#[test]
fn reads_and_writes_are_summarised_per_namespace_in_bytes() {
    let mut h = Harness::new();
    let c = ctx();
    let conn = h.sessions[0];
    let (read, write) = ("app_read_per_namespace", "app_write_per_namespace");
    // Writes: the path and the data written.
    h.call(conn, &create_req("/app")); // "/app" + "v"
    assert_eq!(cnt_sum(&h, &c, write), (1, 5));
    h.call(conn, &create_req("/app/c1")); // "/app/c1" + "v"
    h.call(
        conn,
        &Request::SetData(SetDataRequest {
            path: "/app".into(),
            data: Some(b"abc".to_vec()),
            version: -1,
        }),
    ); // "/app" + "abc"
    h.call(
        conn,
        &Request::Delete(DeleteRequest {
            path: "/app/c1".into(),
            version: -1,
        }),
    ); // "/app/c1"
    assert_eq!(cnt_sum(&h, &c, write), (4, 5 + 8 + 7 + 7));
    assert_eq!(int(&h, &c, "max_app_write_per_namespace"), 8);

    // Reads: the path, the data or child names, and a stat's 68 bytes.
    h.call(
        conn,
        &Request::GetData(GetDataRequest {
            path: "/app".into(),
            watch: false,
        }),
    );
    assert_eq!(cnt_sum(&h, &c, read), (1, 4 + 3 + 68));
    h.call(
        conn,
        &Request::Exists(ExistsRequest {
            path: "/app".into(),
            watch: false,
        }),
    );
    h.call(conn, &create_req("/app/xy"));
    h.call(
        conn,
        &Request::GetChildren(GetChildrenRequest {
            path: "/app".into(),
            watch: false,
        }),
    );
    assert_eq!(cnt_sum(&h, &c, read), (3, 75 + 72 + (4 + 2 + 68)));
    // A missing node is no read; the root has no namespace.
    for p in ["/nope", "/"] {
        h.call(
            conn,
            &Request::Exists(ExistsRequest {
                path: p.into(),
                watch: false,
            }),
        );
    }
    assert_eq!(cnt_sum(&h, &c, read).0, 3);
    assert!(
        !metrics::monitor_rows(&metrics::collect(&h.core, &c, h.now))
            .iter()
            .any(|(k, _)| k.ends_with("_read_per_namespace") && !k.contains("_app_"))
    );
    // /metrics: a summary labelled by namespace, median only (a basic summary).
    let prom = metrics::prometheus_text(&metrics::collect(&h.core, &c, h.now));
    assert!(
        prom.contains("# TYPE read_per_namespace summary\n"),
        "{prom}"
    );
    assert!(
        prom.contains("read_per_namespace_count{key=\"app\"} 3\n"),
        "{prom}"
    );
    assert!(prom.contains("read_per_namespace{key=\"app\",quantile=\"0.5\"} "));
    assert!(!prom.contains("read_per_namespace{key=\"app\",quantile=\"0.9\"}"));
    // srst: zeroed, the namespace kept.
    h.core.stats.reset();
    assert_eq!(cnt_sum(&h, &c, read), (0, 0));
}

#[test]
fn a_txn_whose_digest_disagrees_is_counted() {
    let mut h = Harness::new();
    let c = ctx();
    let conn = h.sessions[0];
    let fx = h.core.handle_frame(conn, &create_frame(1000, "/d"), h.now);
    let mut txn = persisted(fx).into_iter().next().expect("a txn");
    assert_eq!(int(&h, &c, "digest_mismatches_count"), 0);
    txn.digest = Some(TxnDigest {
        version: 2,
        tree_digest: 12345,
    });
    let fx = h.core.commit(&txn, h.now);
    h.run(fx);
    assert_eq!(int(&h, &c, "digest_mismatches_count"), 1);
}

#[test]
fn auth_failures_are_counted() {
    let mut h = Harness::new();
    let c = ctx();
    let conn = h.sessions[1];
    assert_eq!(int(&h, &c, "auth_failed_count"), 0);
    let mut payload = Vec::new();
    encode_request(
        zk_proto::consts::xid::AUTH,
        &Request::Auth(AuthPacket {
            auth_type: 0,
            scheme: "no-such-scheme".into(),
            auth: b"x".to_vec(),
        }),
        &mut payload,
    );
    let fx = h.core.handle_frame(conn, &payload, h.now);
    h.run(fx);
    assert_eq!(int(&h, &c, "auth_failed_count"), 1);
}

#[test]
fn expired_sessions_are_counted() {
    let mut h = Harness::new();
    let c = ctx();
    let [silent, pinging] = h.sessions;
    assert_eq!(int(&h, &c, "stale_sessions_expired"), 0);
    // The silent session's 30 s timeout (expiry rounded up to a 2 s tick) passes; the other
    // keeps pinging.
    for _ in 0..40 {
        h.call(pinging, &Request::Ping);
        h.advance(1_000);
    }
    assert!(h.closed.contains(&silent));
    assert_eq!(int(&h, &c, "stale_sessions_expired"), 1);
    assert_eq!(int(&h, &c, "global_sessions"), 1);
}

#[test]
fn mntr_monitor_and_prometheus_show_one_set_of_metrics() {
    let h = Harness::new();
    let c = ctx();
    let ms = metrics::collect(&h.core, &c, h.now);
    let rows = metrics::monitor_rows(&ms);
    let keys: BTreeSet<&str> = rows.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys.len(), rows.len(), "no key twice");
    let text = metrics::mntr_text(&ms);
    assert_eq!(text.lines().count(), rows.len());
    for (line, (k, v)) in text.lines().zip(&rows) {
        assert_eq!(line, format!("zk_{k}\t{v}"));
    }
    // Every gauge, counter and summary is a Prometheus family of the same name and type.
    let prom = metrics::prometheus_text(&ms);
    for m in &ms {
        let (name, ty) = match m {
            // Keyed sets (quotas, per namespace) are checked in metrics_more.rs.
            Metric::Info(..)
            | Metric::GaugeSet(..)
            | Metric::CounterSet(..)
            | Metric::SummarySet(..) => continue,
            Metric::Gauge(n, _) => (*n, "gauge"),
            Metric::Counter(n, _) => (*n, "counter"),
            Metric::Summary { name, .. } => (*name, "summary"),
        };
        assert!(
            prom.contains(&format!("# TYPE {name} {ty}\n")),
            "{name} is not a {ty} in:\n{prom}"
        );
        if ty == "summary" {
            for k in ["avg", "min", "max", "cnt", "sum"] {
                assert!(keys.contains(format!("{k}_{name}").as_str()));
            }
        } else {
            assert!(keys.contains(name));
        }
    }
    assert!(keys.contains("version") && keys.contains("server_state"));
    assert!(!prom.contains("server_state"));
}
