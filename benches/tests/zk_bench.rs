//! zk-bench against an in-process zk-server (and a few fake ones): exact op counts checked on
//! the server, error accounting, populate, the JSON report, the plot and the binary itself.
//! No assertion depends on timing; waits are bounded so a bug fails instead of hanging.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use zk_proto::codec::Encode;
use zk_proto::proto::ConnectResponse;
use zk_server::runtime::{RuntimeConfig, Server};
use zkrs_benches::zkbench::conn::Conn;
use zkrs_benches::zkbench::{self, jsonv, plot, wire, Live, Options, Report};

const LIMIT: Duration = Duration::from_secs(120);

async fn bounded<F: Future>(f: F) -> F::Output {
    tokio::time::timeout(LIMIT, f)
        .await
        .expect("the test did not finish within its time limit")
}

async fn server() -> Server {
    let mut cfg = RuntimeConfig::for_tests("127.0.0.1:0".parse().unwrap());
    cfg.max_client_cnxns = 0;
    Server::start(cfg).await.expect("server starts")
}

fn options(addr: &str, args: &[&str]) -> Options {
    let mut all = vec!["--servers", addr, "--quiet"];
    all.extend_from_slice(args);
    Options::from_args(&all).unwrap()
}

async fn run(addr: &str, args: &[&str]) -> Report {
    bounded(zkbench::run(&options(addr, args))).await.unwrap()
}

/// `(version, numChildren)` of `path`.
async fn stat(addr: &str, path: &str) -> (i32, i32) {
    let mut c = Conn::connect(addr, 30_000, Duration::from_secs(10))
        .await
        .unwrap();
    let (err, body) = c
        .call(|out, xid| wire::exists(out, xid, path.as_bytes()))
        .await
        .unwrap();
    assert_eq!(err, 0, "exists {path}");
    c.close().await;
    let version = wire::stat_version(&body, 0).unwrap();
    let (_, children) = wire::stat_cversion_children(&body).unwrap();
    (version, children)
}

/// The sum of the versions of keys `k0..k<n-1>`: the number of setData ops applied to them.
async fn key_versions(addr: &str, n: u64) -> i64 {
    let mut sum = 0;
    for j in 0..n {
        sum += i64::from(stat(addr, &format!("/zk-bench/k{j}")).await.0);
    }
    sum
}

fn no_errors(r: &Report) {
    assert_eq!(r.error_count(), 0, "{}", r.table());
    assert_eq!((r.abandoned, r.connection_losses), (0, 0), "{}", r.table());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_count_is_exact_and_runs_do_not_collide() {
    for pipeline in ["1", "8"] {
        let s = server().await;
        let addr = s.local_addr.to_string();
        let r = run(
            &addr,
            &[
                "--op",
                "create",
                "--count",
                "500",
                "--clients",
                "4",
                "--pipeline",
                pipeline,
            ],
        )
        .await;
        no_errors(&r);
        assert_eq!(r.ops, 500);
        let t = r.op_type("create").unwrap();
        assert_eq!((t.stats.ops, t.hist().count(), t.ok()), (500, 500, 500));
        let mut children = 0;
        for c in 0..4 {
            children += stat(&addr, &format!("/zk-bench/c{c}")).await.1;
        }
        assert_eq!(children, 500, "pipeline {pipeline}");
        // A second run continues after the first one's names.
        let r = run(
            &addr,
            &["--op", "create", "--count", "100", "--clients", "4"],
        )
        .await;
        no_errors(&r);
        let mut children = 0;
        for c in 0..4 {
            children += stat(&addr, &format!("/zk-bench/c{c}")).await.1;
        }
        assert_eq!(children, 600);
        s.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_count_is_exact() {
    for pipeline in ["1", "8"] {
        let s = server().await;
        let addr = s.local_addr.to_string();
        let r = run(
            &addr,
            &[
                "--op",
                "set",
                "--count",
                "300",
                "--keys",
                "1",
                "--clients",
                "3",
                "--pipeline",
                pipeline,
            ],
        )
        .await;
        no_errors(&r);
        assert_eq!(r.op_type("set").unwrap().stats.ops, 300);
        assert_eq!(
            stat(&addr, "/zk-bench/k0").await.0,
            300,
            "pipeline {pipeline}"
        );
        s.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_mixed_and_multi_counts_are_exact() {
    for pipeline in ["1", "8"] {
        let s = server().await;
        let addr = s.local_addr.to_string();
        let r = run(
            &addr,
            &[
                "--op",
                "get",
                "--count",
                "400",
                "--keys",
                "20",
                "--pipeline",
                pipeline,
            ],
        )
        .await;
        no_errors(&r);
        assert_eq!(r.op_type("get").unwrap().hist().count(), 400);
        assert_eq!(key_versions(&addr, 20).await, 0);

        let r = run(
            &addr,
            &[
                "--op",
                "mixed",
                "--count",
                "1000",
                "--keys",
                "20",
                "--read-ratio",
                "0.9",
                "--clients",
                "5",
                "--pipeline",
                pipeline,
            ],
        )
        .await;
        no_errors(&r);
        let gets = r.op_type("get").unwrap().stats.ops;
        let sets = r.op_type("set").unwrap().stats.ops;
        assert_eq!(gets + sets, 1000);
        assert!(
            (800..=980).contains(&gets),
            "{gets} gets of 1000 at a read ratio of 0.9"
        );
        assert_eq!(key_versions(&addr, 20).await, sets as i64);

        let r = run(
            &addr,
            &[
                "--op",
                "multi",
                "--count",
                "200",
                "--keys",
                "20",
                "--multi-size",
                "4",
                "--clients",
                "2",
                "--pipeline",
                pipeline,
            ],
        )
        .await;
        no_errors(&r);
        assert_eq!(r.op_type("multi").unwrap().stats.ops, 200);
        assert_eq!(key_versions(&addr, 20).await, sets as i64 + 800);

        // Setup keeps keys of the right size and rewrites the others for reading ops.
        let r = run(&addr, &["--op", "get", "--count", "10", "--keys", "30"]).await;
        assert_eq!((r.keys_created, r.keys_rewritten), (10, 0));
        let r = run(
            &addr,
            &[
                "--op",
                "get",
                "--count",
                "10",
                "--keys",
                "30",
                "--value-size",
                "7",
            ],
        )
        .await;
        assert_eq!((r.keys_created, r.keys_rewritten), (0, 30));
        s.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_cycles_are_exact() {
    for pipeline in ["1", "8"] {
        let s = server().await;
        let addr = s.local_addr.to_string();
        let r = run(
            &addr,
            &[
                "--op",
                "watch",
                "--count",
                "300",
                "--keys",
                "50",
                "--clients",
                "1",
                "--pipeline",
                pipeline,
            ],
        )
        .await;
        no_errors(&r);
        assert_eq!(r.ops, 300);
        for ty in ["get", "set", "watch-fire"] {
            let t = r.op_type(ty).unwrap();
            assert_eq!(
                (t.stats.ops, t.hist().count()),
                (300, 300),
                "{ty}, pipeline {pipeline}"
            );
        }
        assert_eq!(key_versions(&addr, 50).await, 300);
        // Several sessions on few keys: another session's setData may fire a watch first.
        let before = key_versions(&addr, 5).await;
        let r = run(
            &addr,
            &[
                "--op",
                "watch",
                "--count",
                "300",
                "--keys",
                "5",
                "--clients",
                "3",
                "--pipeline",
                pipeline,
            ],
        )
        .await;
        no_errors(&r);
        let fire = r.op_type("watch-fire").unwrap();
        assert_eq!(fire.stats.ops, 300);
        assert_eq!(fire.hist().count() + fire.stats.early, 300);
        assert_eq!(key_versions(&addr, 5).await - before, 300);
        s.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_keys_count_as_no_node() {
    let s = server().await;
    let addr = s.local_addr.to_string();
    let r = run(
        &addr,
        &[
            "--op",
            "get",
            "--count",
            "100",
            "--no-setup",
            "--pipeline",
            "4",
        ],
    )
    .await;
    assert_eq!(r.ops, 100);
    let errors = r.errors();
    assert_eq!(errors.get("NoNode"), Some(&100), "{}", r.table());
    assert_eq!(errors.len(), 1);
    // Error replies are round trips: they have latencies.
    assert_eq!(r.op_type("get").unwrap().hist().count(), 100);
    let j = jsonv::parse(&r.json()).unwrap();
    assert_eq!(
        j.get("errors").unwrap().get("NoNode").unwrap().as_f64(),
        Some(100.0)
    );
    // Watch cycles on missing keys end at the getData (it leaves no watch).
    let r = run(&addr, &["--op", "watch", "--count", "20", "--no-setup"]).await;
    assert_eq!(r.op_type("get").unwrap().errors().get("NoNode"), Some(&20));
    assert_eq!(r.op_type("set").unwrap().stats.ops, 0);
    s.shutdown().await;
}

/// Waits (bounded) until the run has measured `n` ops.
async fn until_measured(live: &Live, n: u64) {
    bounded(async {
        while live.measured() < n {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_shutdown_mid_run_counts_connection_loss() {
    // --duration: the sessions keep trying to reconnect until the end, then stop.
    let s = server().await;
    let addr = s.local_addr.to_string();
    let live = Arc::new(Live::default());
    let opts = options(
        &addr,
        &[
            "--op",
            "set",
            "--duration",
            "2",
            "--warmup",
            "0",
            "--clients",
            "4",
            "--pipeline",
            "8",
            "--keys",
            "10",
        ],
    );
    let run = tokio::spawn({
        let live = Arc::clone(&live);
        async move { zkbench::run_with(&opts, live).await }
    });
    until_measured(&live, 200).await;
    s.shutdown().await;
    let r = bounded(run).await.unwrap().unwrap();
    assert!(r.connection_losses >= 4, "{}", r.table());
    let set = r.op_type("set").unwrap();
    let lost = set.errors().get("ConnectionLoss").copied().unwrap_or(0);
    assert_eq!(set.stats.ops, set.hist().count() + lost);
    assert_eq!(
        r.errors().keys().filter(|k| *k != "ConnectionLoss").count(),
        0
    );

    // --count: sessions give up after --timeout of failed reconnects; every op is accounted.
    let s = server().await;
    let addr = s.local_addr.to_string();
    let live = Arc::new(Live::default());
    let opts = options(
        &addr,
        &[
            "--op",
            "set",
            "--count",
            "10_000_000",
            "--clients",
            "4",
            "--pipeline",
            "8",
            "--keys",
            "10",
            "--timeout",
            "1",
        ],
    );
    let run = tokio::spawn({
        let live = Arc::clone(&live);
        async move { zkbench::run_with(&opts, live).await }
    });
    until_measured(&live, 200).await;
    s.shutdown().await;
    let r = bounded(run).await.unwrap().unwrap();
    assert!(r.abandoned > 0, "{}", r.table());
    assert_eq!(r.ops + r.abandoned, 10_000_000, "{}", r.table());
    assert!(r.connection_losses >= 4);
    assert_eq!(r.notes.len(), 1, "{:?}", r.notes);
}

/// A fake server: completes the handshake (granting `session_ms`), then reads requests and
/// never answers; reports the opcodes it received.
async fn silent_server(session_ms: i32) -> (String, tokio::sync::mpsc::UnboundedReceiver<i32>) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap().to_string();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut handshaken = false;
                loop {
                    while let Ok(Some(end)) = zk_proto::frame::check(&buf, 1 << 20) {
                        if handshaken {
                            let op = i32::from_be_bytes([buf[8], buf[9], buf[10], buf[11]]);
                            let _ = tx.send(op);
                        } else {
                            handshaken = true;
                            let resp = ConnectResponse {
                                protocol_version: 0,
                                time_out: session_ms,
                                session_id: 42,
                                passwd: vec![0; 16],
                                read_only: Some(false),
                            };
                            let mut out = Vec::new();
                            zk_proto::frame::put(&mut out, &resp.to_bytes());
                            if s.write_all(&out).await.is_err() {
                                return;
                            }
                        }
                        buf.drain(..end);
                    }
                    match s.read_buf(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(_) => {}
                    }
                }
            });
        }
    });
    (addr, rx)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_stops_answering_ends_the_run_with_errors() {
    let (addr, mut ops) = silent_server(30).await;
    let r = run(
        &addr,
        &[
            "--op",
            "get",
            "--no-setup",
            "--count",
            "4",
            "--pipeline",
            "4",
            "--clients",
            "1",
            "--timeout",
            "1",
        ],
    )
    .await;
    assert_eq!(r.ops, 4);
    assert_eq!(r.errors().get("ConnectionLoss"), Some(&4), "{}", r.table());
    assert_eq!(r.op_type("get").unwrap().hist().count(), 0);
    // Idle for a third of the (30 ms) session timeout with requests unanswered: pings went out.
    let mut seen = Vec::new();
    while let Ok(op) = ops.try_recv() {
        seen.push(op);
    }
    assert!(seen.contains(&zk_proto::OpCode::GetData.code()), "{seen:?}");
    assert!(seen.contains(&zk_proto::OpCode::Ping.code()), "{seen:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_servers_are_an_error() {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    drop(l);
    let err = bounded(zkbench::run(&options(&addr, &["--count", "10"])))
        .await
        .unwrap_err();
    assert!(
        format!("{err:#}").contains("cannot reach any server"),
        "{err:#}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn populate_creates_exactly_n_znodes() {
    let s = server().await;
    let addr = s.local_addr.to_string();
    let opts = Options::from_args(&[
        "populate",
        "--servers",
        &addr,
        "--count",
        "2500",
        "--value-size",
        "10",
        "--quiet",
    ])
    .unwrap();
    let r = bounded(zkbench::run(&opts)).await.unwrap();
    no_errors(&r);
    assert_eq!((r.ops, r.first_parent, r.parents), (2500, 0, 3));
    assert_eq!(stat(&addr, "/zk-bench/pop").await.1, 3);
    let mut children = Vec::new();
    for p in 0..3 {
        children.push(stat(&addr, &format!("/zk-bench/pop/p{p}")).await.1);
    }
    assert_eq!(children, vec![1000, 1000, 500]);
    let j = jsonv::parse(&r.json()).unwrap();
    assert_eq!(j.get("command").unwrap().as_str(), Some("populate"));
    assert_eq!(j.get("znodes").unwrap().as_f64(), Some(2500.0));
    // Again: new parents after the existing ones.
    let opts =
        Options::from_args(&["populate", "--servers", &addr, "--count", "10", "--quiet"]).unwrap();
    let r = bounded(zkbench::run(&opts)).await.unwrap();
    no_errors(&r);
    assert_eq!((r.first_parent, r.parents), (3, 1));
    assert_eq!(stat(&addr, "/zk-bench/pop/p3").await.1, 10);
    s.shutdown().await;
}

/// Checks that `svg` is well-formed XML as far as tags go: every element closed in order.
fn assert_well_formed(svg: &str) {
    let mut stack: Vec<&str> = Vec::new();
    let mut rest = svg;
    while let Some(i) = rest.find('<') {
        let close = rest[i..].find('>').expect("unterminated tag") + i;
        let tag = &rest[i + 1..close];
        if let Some(name) = tag.strip_prefix('/') {
            assert_eq!(stack.pop(), Some(name.trim()), "mismatched </{name}>");
        } else if !tag.ends_with('/') {
            let name = tag.split_whitespace().next().unwrap();
            stack.push(name);
        }
        assert_eq!(
            tag.matches('"').count() % 2,
            0,
            "unbalanced quotes in <{tag}>"
        );
        rest = &rest[close + 1..];
    }
    assert!(stack.is_empty(), "unclosed {stack:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_and_plot() {
    let s = server().await;
    let addr = s.local_addr.to_string();
    let r = run(
        &addr,
        &[
            "--op",
            "watch",
            "--count",
            "200",
            "--keys",
            "30",
            "--clients",
            "2",
            "--pipeline",
            "2",
        ],
    )
    .await;
    let j = jsonv::parse(&r.json()).unwrap();
    for k in [
        "tool",
        "command",
        "op",
        "servers",
        "clients",
        "pipeline",
        "value_size",
        "keys",
        "seed",
        "secs",
        "ops",
        "ops_per_sec",
        "warmup_ops",
        "abandoned",
        "connection_losses",
        "errors",
        "types",
        "count",
        "duration_secs",
    ] {
        assert!(j.get(k).is_some(), "no {k} in {}", r.json());
    }
    assert_eq!(j.get("op").unwrap().as_str(), Some("watch"));
    assert_eq!(j.get("count").unwrap().as_f64(), Some(200.0));
    let types = j.get("types").unwrap().as_array().unwrap();
    let names: Vec<_> = types
        .iter()
        .map(|t| t.get("type").unwrap().as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["get", "set", "watch-fire"]);
    for t in types {
        let lat = t.get("latency_us").unwrap();
        let p = |k: &str| lat.get(k).unwrap().as_f64().unwrap();
        assert!(p("p50") <= p("p90") && p("p90") <= p("p99") && p("p99") <= p("p999"));
        assert!(p("p999") <= p("max") && p("min") <= p("p50"));
        assert!(t.get("errors").is_some() && t.get("ops_per_sec").is_some());
    }
    assert!(types[2].get("early").is_some());

    let svg = plot::svg(&r);
    assert!(svg.starts_with("<svg"));
    assert_well_formed(&svg);
    assert_eq!(svg.matches("<path class=\"curve\"").count(), 3);
    for name in ["get", "set", "watch-fire"] {
        assert!(svg.contains(&format!("data-type=\"{name}\"")), "{name}");
    }
    for tick in [">50<", ">90<", ">99<", ">99.9<", "latency (ms)"] {
        assert!(svg.contains(tick), "{tick}");
    }
    s.shutdown().await;
}

/// The binary: exit statuses, the table and the JSON line, `--json` and `--plot` files.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary() {
    let s = server().await;
    let addr = s.local_addr.to_string();
    let dir = std::env::temp_dir().join(format!("zk-bench-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bin = env!("CARGO_BIN_EXE_zk-bench");
    let exec = |args: Vec<String>| async move {
        tokio::task::spawn_blocking(move || {
            std::process::Command::new(bin).args(args).output().unwrap()
        })
        .await
        .unwrap()
    };
    let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();

    let out = bounded(exec(args(&[
        "--servers",
        &addr,
        "--op",
        "get",
        "--count",
        "50",
        "--quiet",
    ])))
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(stdout.lines().any(|l| l.starts_with("get ")), "{stdout}");
    let last = stdout.lines().last().unwrap();
    let j = jsonv::parse(last).unwrap();
    assert_eq!(j.get("ops").unwrap().as_f64(), Some(50.0));
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let json = dir.join("r.json");
    let svg = dir.join("r.svg");
    let out = bounded(exec(args(&[
        "--servers",
        &addr,
        "--op",
        "mixed",
        "--count",
        "100",
        "--progress",
        "--json",
        json.to_str().unwrap(),
        "--plot",
        svg.to_str().unwrap(),
    ])))
    .await;
    assert!(out.status.success());
    let j = jsonv::parse(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(j.get("ops").unwrap().as_f64(), Some(100.0));
    assert!(std::fs::read_to_string(&svg).unwrap().starts_with("<svg"));

    let out = bounded(exec(args(&["--help"]))).await;
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("--pipeline K"));
    let out = bounded(exec(args(&["--op", "nope"]))).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown --op"));
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = l.local_addr().unwrap().to_string();
    drop(l);
    let out = bounded(exec(args(&[
        "--servers",
        &dead,
        "--count",
        "5",
        "--timeout",
        "2",
    ])))
    .await;
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot reach any server"));
    let _ = std::fs::remove_dir_all(&dir);
    s.shutdown().await;
}
