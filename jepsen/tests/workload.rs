//! The workloads against an in-process standalone `zk-server` (a test convenience only: the
//! harness runs real server processes). Each run is short; the histories must be well formed
//! and plausible. Checking them is the checkers' job.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use jepsen::history::{pairs, Op, Type, Value, F};
use jepsen::report;
use jepsen::workload::{self, ids, lock, register, set, Config, Recorder, Stop};
use zk_server::runtime::{RuntimeConfig, Server};

async fn server() -> Server {
    let mut cfg = RuntimeConfig::for_tests("127.0.0.1:0".parse().unwrap());
    cfg.core.tick_time_ms = 100;
    cfg.core.min_session_timeout_ms = 200;
    cfg.core.max_session_timeout_ms = 20_000;
    Server::start(cfg).await.expect("server starts")
}

fn config(s: &Server, concurrency: usize, run: Duration) -> Config {
    let mut cfg = Config::new(vec![s.local_addr.to_string()], concurrency, 7);
    cfg.op_timeout = Duration::from_secs(2);
    cfg.session_timeout = Duration::from_secs(4);
    cfg.think = Duration::from_millis(2);
    cfg.stop = Stop::after(run);
    cfg
}

/// Completed ops: (invocation, completion).
fn completed(h: &[Op]) -> Vec<(&Op, &Op)> {
    pairs(h)
        .into_iter()
        .filter_map(|(i, c)| Some((&h[i], &h[c?])))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn register_history_is_well_formed() {
    let s = server().await;
    let cfg = config(&s, 5, Duration::from_millis(1500));
    let rec = Recorder::new();
    let opts = register::Options {
        keys: 3,
        values: 4,
        ops_per_key: Some(50),
        weights: [1, 1, 1],
    };
    tokio::time::timeout(Duration::from_secs(30), register::run(&cfg, &opts, &rec))
        .await
        .expect("run ends")
        .unwrap();
    rec.close_open();
    let h = rec.history();
    let done = completed(&h);
    let mut by = HashMap::<(F, Type), usize>::new();
    for (inv, c) in &done {
        *by.entry((inv.f, c.typ)).or_default() += 1;
    }
    println!("{} events, {by:?}", h.len());
    assert!(by.get(&(F::Read, Type::Ok)).copied().unwrap_or(0) > 20);
    assert!(by.get(&(F::Write, Type::Ok)).copied().unwrap_or(0) > 20);
    assert!(by.get(&(F::Cas, Type::Ok)).copied().unwrap_or(0) > 5);
    // Against one healthy server nothing is indeterminate.
    assert!(h.iter().all(|o| o.typ != Type::Info), "no info");
    // Keys moved on (3 live keys, 50 ops each per generation).
    let keys: BTreeSet<u64> = h.iter().map(|o| o.key).collect();
    assert!(keys.len() > 3, "keys {keys:?}");
    // A single server is linearizable in the simplest sense: a cas's expected value was read
    // by the same process just before, and reads return written values or nil.
    for (i, (inv, c)) in done.iter().enumerate() {
        match (inv.f, &c.value, c.typ) {
            (F::Cas, Value::Pair(a, _), _) => {
                let (prev_inv, prev) = done[..i]
                    .iter()
                    .rev()
                    .find(|(p, _)| p.process == inv.process)
                    .expect("a read before the cas");
                assert_eq!(prev_inv.f, F::Read);
                assert_eq!(prev_inv.key, inv.key);
                assert_eq!(prev.value, Value::Int(*a));
            }
            (F::Read, Value::Int(v), Type::Ok) => assert!((0..4).contains(v)),
            (F::Read, Value::None, Type::Ok) => {}
            (F::Write, Value::Int(_), Type::Ok | Type::Fail) => {}
            (F::Cas, _, _) | (F::Read, _, _) | (F::Write, _, _) => {
                panic!("unexpected completion {c:?}")
            }
            _ => panic!("not a register op: {inv:?}"),
        }
    }
    // Everyone had one session per process.
    assert!(rec.sessions().len() >= 5);
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn set_ids_and_lock() {
    let s = server().await;
    let addrs = vec![s.local_addr.to_string()];

    // Set: every acknowledged add is in the final read.
    let rec = Recorder::new();
    set::run(&config(&s, 4, Duration::from_millis(800)), &rec)
        .await
        .unwrap();
    let fin = set::read_all(&addrs, &rec, Duration::from_secs(5)).await;
    assert_eq!((fin.typ, fin.f), (Type::Ok, F::ReadAll));
    let Value::List(read) = &fin.value else {
        panic!("{fin:?}")
    };
    let h = rec.history();
    let added: BTreeSet<i64> = completed(&h)
        .iter()
        .filter(|(i, c)| i.f == F::Add && c.typ == Type::Ok)
        .map(|(i, _)| match i.value {
            Value::Int(n) => n,
            _ => unreachable!(),
        })
        .collect();
    assert!(added.len() > 20, "{} adds", added.len());
    assert_eq!(
        added,
        read.iter().copied().collect(),
        "final read = acknowledged adds"
    );

    // Ids: unique.
    let rec = Recorder::new();
    ids::run(&config(&s, 4, Duration::from_millis(800)), &rec)
        .await
        .unwrap();
    let h = rec.history();
    let got: Vec<i64> = completed(&h)
        .iter()
        .filter(|(_, c)| c.typ == Type::Ok)
        .map(|(_, c)| match c.value {
            Value::Int(n) => n,
            _ => unreachable!(),
        })
        .collect();
    assert!(got.len() > 20);
    assert_eq!(
        got.iter().collect::<BTreeSet<_>>().len(),
        got.len(),
        "unique"
    );

    // Lock: tokens increase and holds do not overlap.
    let rec = Recorder::new();
    let opts = lock::Options {
        acquire_wait: Duration::from_secs(2),
        hold: Duration::from_millis(5),
    };
    lock::run(&config(&s, 3, Duration::from_millis(1000)), &opts, &rec)
        .await
        .unwrap();
    let h = rec.history();
    let mut holds: Vec<(u64, u64, i64)> = Vec::new(); // (acquired, released, token)
    let done = completed(&h);
    for (inv, c) in &done {
        if inv.f == F::Acquire && c.typ == Type::Ok {
            let Value::Int(t) = c.value else {
                unreachable!()
            };
            let rel = done
                .iter()
                .find(|(ri, _)| ri.f == F::Release && ri.value == Value::Int(t))
                .expect("released");
            assert_eq!(rel.1.typ, Type::Ok);
            holds.push((c.time_ns, rel.0.time_ns, t));
        }
    }
    assert!(holds.len() > 5, "{} holds", holds.len());
    holds.sort_unstable();
    for w in holds.windows(2) {
        assert!(w[0].1 <= w[1].0, "holds overlap: {w:?}");
        assert!(w[0].2 < w[1].2, "tokens increase: {w:?}");
    }
    s.shutdown().await;
}

/// The server goes away mid-run: operations in flight become `Info` (never ok or fail), their
/// processes never invoke again, and the history stays well formed.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn losing_the_server_yields_info() {
    let s = server().await;
    let mut cfg = config(&s, 4, Duration::from_secs(3));
    cfg.op_timeout = Duration::from_millis(500);
    cfg.think = Duration::from_millis(20);
    let rec = Recorder::new();
    let run = {
        let (cfg, rec) = (cfg.clone(), rec.clone());
        tokio::spawn(async move {
            workload::Workload::parse("register")
                .unwrap()
                .run(&cfg, &rec)
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(800)).await;
    s.shutdown().await;
    tokio::time::timeout(Duration::from_secs(30), run)
        .await
        .expect("run ends")
        .unwrap()
        .unwrap();
    rec.close_open();
    let h = rec.history();
    let infos: Vec<&Op> = h.iter().filter(|o| o.typ == Type::Info).collect();
    assert!(!infos.is_empty(), "in-flight ops became info");
    for i in &infos {
        assert!(
            !h[i.index + 1..]
                .iter()
                .any(|o| o.process == i.process && o.typ == Type::Invoke),
            "process {} invoked after info",
            i.process
        );
    }
    let _ = pairs(&h);

    // The results directory of this run (kept when JEPSEN_KEEP_REPORT is set).
    let dir = std::env::temp_dir().join(format!("jepsen-workload-test-{}", std::process::id()));
    let faults = [report::Fault::new(
        800_000_000,
        rec.now_ns(),
        "server shut down",
    )];
    report::write(&dir, &h, &faults, &report::Summary::default()).unwrap();
    let svg = std::fs::read_to_string(dir.join("latency.svg")).unwrap();
    assert_eq!(svg.matches("class=\"fault\"").count(), 1);
    // Infos at the same pixel share a circle; the legend counts every one.
    assert!(svg.contains("class=\"info\""));
    assert!(
        svg.contains(&format!(">info ({})</text>", infos.len())),
        "the legend counts {} info ops",
        infos.len()
    );
    if std::env::var_os("JEPSEN_KEEP_REPORT").is_some() {
        println!("report in {}", dir.display());
    } else {
        std::fs::remove_dir_all(&dir).unwrap();
    }
    println!(
        "{} events, {} info: {:?}",
        h.len(),
        infos.len(),
        infos
            .iter()
            .map(|o| o.error.clone())
            .collect::<BTreeSet<_>>()
    );
}
