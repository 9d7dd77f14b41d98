//! Restart scenarios with the real `zk-server` binary on a scratch data directory: a graceful
//! SIGTERM, recovery from snapshot + log tail after many snapshots and log rolls, a corrupted
//! newest snapshot, a torn log tail, missing log files the server must refuse to start with,
//! and `zk-server purge`. After every restart the whole tree (data, full stat, ACL of every
//! node) is compared with a dump taken before the server went down.

mod durability;

use std::collections::BTreeMap;
use std::path::PathBuf;

use durability::*;
use zk_proto::data::Acl;
use zk_proto::request::{MultiOp, MultiResult};
use zk_proto::{CreateMode, ErrorCode, OpCode};

/// Long ticks: sessions (max 40 s) outlive each scenario, so no expiry txn lands in the log
/// behind a test's back.
const TICK: (&str, &str) = ("tickTime", "2000");

/// `n` acknowledged writes, one at a time (so snapshots trigger as often as snapCount says):
/// in every 9, seven creates under `parent` (payloads of 50..800 bytes), a setData of `parent`
/// and a delete of one of its children.
async fn write_burst(c: &mut Client, parent: &str, n: usize, rng: &mut Rng) {
    if matches!(c.exists(parent).await, Ok(Err(ErrorCode::NoNode))) {
        must(
            c.create(parent, Some(b"p"), open_acl(), CreateMode::Persistent)
                .await,
            "create parent",
        );
    }
    for i in 0..n {
        let len = rng.range(50, 800) as usize;
        let data = payload(rng, &format!("{parent} {i}"), len);
        match i % 9 {
            4 => {
                must(c.set_data(parent, &data, -1).await, "setData parent");
            }
            8 => {
                let kids = must(c.children(parent).await, "children");
                if let Some(k) = kids.first() {
                    must(c.delete(&format!("{parent}/{k}"), -1).await, "delete");
                }
            }
            _ => {
                must(
                    c.create(
                        &format!("{parent}/n{i:05}"),
                        Some(&data),
                        open_acl(),
                        CreateMode::Persistent,
                    )
                    .await,
                    "create",
                );
            }
        }
    }
}

fn names(files: &[(i64, PathBuf)]) -> Vec<String> {
    files
        .iter()
        .map(|(_, p)| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect()
}

async fn dump(addr: std::net::SocketAddr) -> BTreeMap<String, NodeState> {
    let mut c = super_client(addr).await;
    let tree = dump_tree(&mut c).await;
    let _ = c.close_session().await;
    tree
}

#[tokio::test]
async fn sigterm_then_restart_keeps_data_versions_acls_and_sequences() {
    let mut dir = ZkDir::new("graceful", true, &[TICK, ("preAllocSize", "64")]);
    let mut server = dir.start().await;
    let addr = server.addr;
    let mut c = Client::connect(addr, 30_000).await;
    let mut rng = Rng::new(7);
    let create = |path: &str| {
        create_req(
            path,
            Some(path.as_bytes()),
            open_acl(),
            CreateMode::Persistent,
        )
    };

    // Data and versions.
    for r in c
        .call_all(&[create("/app"), create("/app/cfg"), create("/app/kids")])
        .await
        .unwrap()
    {
        r.ok().expect("create");
    }
    for v in 0..3 {
        must(
            c.set_data("/app/cfg", format!("cfg v{}", v + 1).as_bytes(), v)
                .await,
            "setData",
        );
    }
    must(
        c.create("/app/null", None, open_acl(), CreateMode::Persistent)
            .await,
        "null data",
    );
    must(
        c.create("/app/empty", Some(b""), open_acl(), CreateMode::Persistent)
            .await,
        "empty data",
    );
    let big = payload(&mut rng, "big", 200 * 1024);
    must(
        c.create("/app/big", Some(&big), open_acl(), CreateMode::Persistent)
            .await,
        "big data",
    );
    // Children and cversion: 5 creates, 2 deletes.
    for k in 0..5 {
        must(
            c.create(
                &format!("/app/kids/k{k}"),
                Some(b"k"),
                open_acl(),
                CreateMode::Persistent,
            )
            .await,
            "kid",
        );
    }
    must(c.delete("/app/kids/k1", 0).await, "delete k1");
    must(c.delete("/app/kids/k3", -1).await, "delete k3");
    // ACLs: a changed ACL (aversion), digest ACLs, an `auth` ACL, an ip ACL.
    let rwa = zk_proto::Perms::READ | zk_proto::Perms::WRITE | zk_proto::Perms::ADMIN;
    must(
        c.set_acl("/app/cfg", acl(rwa, "world", "anyone"), 0).await,
        "setACL",
    );
    let alice = digest("alice:pw-a");
    must(
        c.create(
            "/secure",
            Some(b"alice only"),
            acl(ALL, "digest", &alice),
            CreateMode::Persistent,
        )
        .await,
        "digest acl",
    );
    let mut mixed = acl(zk_proto::Perms::READ, "world", "anyone");
    mixed.push(Acl::new(ALL, "digest", &digest("bob:pw-b")));
    must(
        c.create("/mixed", Some(b"bob writes"), mixed, CreateMode::Persistent)
            .await,
        "mixed acl",
    );
    assert_eq!(c.auth("digest", "carol:pw-c").await.unwrap(), ErrorCode::Ok);
    must(
        c.create(
            "/carol",
            Some(b"carol only"),
            acl(ALL, "auth", ""),
            CreateMode::Persistent,
        )
        .await,
        "auth acl",
    );
    must(
        c.create(
            "/ip",
            Some(b"local"),
            acl(ALL, "ip", "127.0.0.1"),
            CreateMode::Persistent,
        )
        .await,
        "ip acl",
    );
    // Sequential nodes: 5 created, one deleted. ZooKeeper numbers them by the parent's stored
    // cversion, which counts creations (5); clients are shown 2 * 5 - numChildren = 6.
    must(
        c.create("/s", None, open_acl(), CreateMode::Persistent)
            .await,
        "/s",
    );
    for i in 0..5 {
        let (name, _) = must(
            c.create(
                "/s/q-",
                Some(b"q"),
                open_acl(),
                CreateMode::PersistentSequential,
            )
            .await,
            "seq",
        );
        assert_eq!(name, format!("/s/q-{i:010}"));
    }
    must(c.delete("/s/q-0000000002", -1).await, "delete seq");
    // A multi.
    let res = must(
        c.multi(vec![
            MultiOp::Create {
                op: OpCode::Create,
                req: zk_proto::proto::CreateRequest {
                    path: "/app/m1".into(),
                    data: Some(b"m1".to_vec()),
                    acl: open_acl(),
                    flags: 0,
                },
            },
            MultiOp::SetData(zk_proto::proto::SetDataRequest {
                path: "/app".into(),
                data: Some(b"app v1".to_vec()),
                version: 0,
            }),
            MultiOp::Delete(zk_proto::proto::DeleteRequest {
                path: "/app/kids/k4".into(),
                version: 0,
            }),
        ])
        .await,
        "multi",
    );
    assert!(
        !res.iter().any(|r| matches!(r, MultiResult::Error(_))),
        "{res:?}"
    );
    c.close_session().await.unwrap();

    let before = dump(addr).await;
    assert_eq!(before["/app/cfg"].stat.version, 3);
    assert_eq!(before["/app/cfg"].stat.aversion, 1);
    assert_eq!(before["/app/kids"].stat.cversion, 8);
    assert_eq!(before["/s"].stat.cversion, 6);
    assert_eq!(
        before["/carol"].acl,
        acl(ALL, "digest", &digest("carol:pw-c"))
    );
    assert_eq!(before["/app/null"].data, None);
    assert_eq!(before["/app/empty"].data, Some(Vec::new()));

    let st = server.sigterm().await;
    assert!(st.success(), "exit status after SIGTERM: {st}");
    // dataDir holds the snapshots, dataLogDir the logs.
    assert!(
        !dir.snapshots().is_empty(),
        "no snapshot in {}",
        dir.snap_dir().display()
    );
    assert!(
        !dir.logs().is_empty(),
        "no txn log in {}",
        dir.txn_dir().display()
    );
    assert!(
        zxid_files(&dir.snap_dir(), "log").is_empty(),
        "a txn log in dataDir"
    );
    assert!(
        zxid_files(&dir.txn_dir(), "snapshot").is_empty(),
        "a snapshot in dataLogDir"
    );

    let mut server = dir.start().await;
    let addr = server.addr;
    let after = dump(addr).await;
    assert_same_tree(&before, &after, "after SIGTERM and restart");

    // ACLs are still enforced, digest identities still match.
    let mut anon = Client::connect(addr, 30_000).await;
    must_fail(
        anon.get_data("/secure").await,
        ErrorCode::NoAuth,
        "read /secure unauthenticated",
    );
    must_fail(
        anon.get_data("/carol").await,
        ErrorCode::NoAuth,
        "read /carol unauthenticated",
    );
    must(anon.get_data("/mixed").await, "world may read /mixed");
    must_fail(
        anon.set_data("/mixed", b"x", -1).await,
        ErrorCode::NoAuth,
        "world may not write /mixed",
    );
    assert_eq!(
        anon.auth("digest", "alice:pw-a").await.unwrap(),
        ErrorCode::Ok
    );
    let (data, _) = must(anon.get_data("/secure").await, "alice reads /secure");
    assert_eq!(data.as_deref(), Some(&b"alice only"[..]));
    must_fail(
        anon.get_data("/carol").await,
        ErrorCode::NoAuth,
        "alice may not read /carol",
    );
    assert_eq!(
        anon.auth("digest", "bob:pw-b").await.unwrap(),
        ErrorCode::Ok
    );
    must(
        anon.set_data("/mixed", b"bob was here", 0).await,
        "bob writes /mixed",
    );
    assert_eq!(
        anon.auth("digest", "carol:pw-c").await.unwrap(),
        ErrorCode::Ok
    );
    must(anon.get_data("/carol").await, "carol reads /carol");

    // Sequence numbers continue where they were (the 6th creation is number 5: no reset, no
    // reuse); zxids continue too.
    let (name, stat) = must(
        anon.create(
            "/s/q-",
            Some(b"q"),
            open_acl(),
            CreateMode::PersistentSequential,
        )
        .await,
        "seq after restart",
    );
    assert_eq!(name, "/s/q-0000000005");
    assert!(
        stat.czxid > max_zxid(&before),
        "new zxid {:#x} does not continue after {:#x}",
        stat.czxid,
        max_zxid(&before)
    );
    anon.close_session().await.unwrap();
    let st = server.sigterm().await;
    assert!(st.success());
}

#[tokio::test]
async fn many_snapshots_and_log_rolls_then_kill_recovers_exactly() {
    let mut dir = ZkDir::new(
        "rolls",
        false,
        &[TICK, ("snapCount", "20"), ("preAllocSize", "16")],
    );
    // 1. Many writes (snapshots every 10..20 txns, each rolling the log), then SIGKILL,
    // possibly in the middle of writing a snapshot.
    let mut server = dir.start().await;
    let mut c = super_client(server.addr).await;
    let mut rng = Rng::new(11);
    write_burst(&mut c, "/r", 400, &mut rng).await;
    let before = dump_tree(&mut c).await;
    let last = c.last_zxid;
    server.kill9();
    let (snaps, logs) = (dir.snapshots(), dir.logs());
    assert!(
        snaps.len() >= 10,
        "expected many snapshots, got {:?}",
        names(&snaps)
    );
    assert!(
        logs.len() >= 10,
        "expected many log files, got {:?}",
        names(&logs)
    );
    // Preallocation: log files are the 16-byte header plus whole 16 KiB chunks.
    for (_, p) in &logs {
        let len = std::fs::metadata(p).unwrap().len();
        assert_eq!(
            (len - 16) % (16 * 1024),
            0,
            "{} is {len} bytes",
            p.display()
        );
    }
    let mut server = dir.start().await;
    assert_same_tree(&before, &dump(server.addr).await, "after many snapshots");
    // The start-up snapshot is at exactly the last acknowledged zxid.
    assert!(
        dir.snapshots().iter().any(|(z, _)| *z == last),
        "no start-up snapshot at {last:#x}: {:?}",
        names(&dir.snapshots())
    );

    // 2. A short log tail after that snapshot (fewer txns than snapCount/2, so no snapshot can
    // cover them), then SIGKILL: recovery is the snapshot plus the replayed tail.
    let mut c = super_client(server.addr).await;
    for i in 0..5 {
        must(
            c.set_data("/r", format!("tail {i}").as_bytes(), -1).await,
            "tail write",
        );
    }
    let before = dump_tree(&mut c).await;
    let tail_end = c.last_zxid;
    server.kill9();
    let newest = dir.snapshots().last().unwrap().0;
    assert_eq!(newest, last, "the newest snapshot is the start-up one");
    let (_, log) = dir.logs().last().cloned().unwrap();
    let records = log_layout(&log).records;
    assert_eq!(
        records.first().map(|r| r.zxid),
        Some(last + 1),
        "the tail log starts right after the snapshot"
    );
    assert_eq!(records.last().map(|r| r.zxid), Some(tail_end));
    let server = dir.start().await;
    assert_same_tree(&before, &dump(server.addr).await, "snapshot + log tail");
    assert!(
        dir.snapshots().iter().any(|(z, _)| *z == tail_end),
        "no start-up snapshot at {tail_end:#x}: the tail was not replayed to its end"
    );
}

#[tokio::test]
async fn corrupt_newest_snapshots_fall_back_to_older_ones_plus_logs() {
    let mut dir = ZkDir::new(
        "corrupt",
        false,
        &[TICK, ("snapCount", "20"), ("preAllocSize", "16")],
    );
    let mut server = dir.start().await;
    let mut c = super_client(server.addr).await;
    let mut rng = Rng::new(13);
    write_burst(&mut c, "/c", 300, &mut rng).await;
    must(c.set_data("/c", b"tail", -1).await, "tail write");
    let before = dump_tree(&mut c).await;
    let _ = c.close_session().await;
    let st = server.sigterm().await;
    assert!(st.success());
    let snaps = dir.snapshots();
    assert!(snaps.len() >= 4, "{:?}", names(&snaps));

    // 1. The newest snapshot has a flipped byte in the middle.
    let (z1, newest) = snaps.last().unwrap().clone();
    let len = std::fs::metadata(&newest).unwrap().len();
    flip_byte(&newest, len / 2);
    let mut server = dir.start().await;
    let after = dump(server.addr).await;
    assert_same_tree(&before, &after, "newest snapshot corrupt");
    server.kill9();

    // 2. Now the two newest are corrupt (the start-up snapshot just written, and the one
    // corrupted above if it is a different file): fall back further.
    let snaps = dir.snapshots();
    let n = snaps.len();
    let (z_new, p_new) = snaps[n - 1].clone();
    flip_byte(&p_new, std::fs::metadata(&p_new).unwrap().len() / 2);
    if z_new == z1 {
        // The start-up snapshot replaced the corrupt file (same zxid): corrupt the next one.
        let p = &snaps[n - 2].1;
        flip_byte(p, std::fs::metadata(p).unwrap().len() / 2);
    }
    let server = dir.start().await;
    let after = dump(server.addr).await;
    assert_same_tree(&before, &after, "two newest snapshots corrupt");
}

/// The 16-byte log header, then records; returns the last log file and its layout.
fn last_log(dir: &ZkDir) -> (PathBuf, LogLayout) {
    let (_, p) = dir.logs().last().cloned().expect("a log file");
    let l = log_layout(&p);
    (p, l)
}

#[tokio::test]
async fn torn_log_tails_are_cut_and_the_prefix_survives() {
    let mut dir = ZkDir::new("torn", false, &[TICK, ("preAllocSize", "64")]);
    let mut server = dir.start().await;
    let mut c = super_client(server.addr).await;
    let mut rng = Rng::new(17);
    write_burst(&mut c, "/t", 60, &mut rng).await;
    let before = dump_tree(&mut c).await;
    c.close_session().await.unwrap();
    let last = c.last_zxid;
    server.kill9();

    // 1. Garbage after the last record, where the next record would have gone: a record
    // header promising more bytes than were written (a write cut short by the crash).
    let (log, layout) = last_log(&dir);
    assert_eq!(layout.records.last().map(|r| r.zxid), Some(last));
    assert!(
        layout.data_end < layout.file_len,
        "the file is preallocated"
    );
    let mut junk = Vec::new();
    junk.extend_from_slice(&0x1234_5678i64.to_be_bytes());
    junk.extend_from_slice(&300i32.to_be_bytes());
    junk.extend(rng.bytes(100));
    write_at(&log, layout.data_end, &junk);
    let mut server = dir.start().await;
    assert_same_tree(
        &before,
        &dump(server.addr).await,
        "junk after the last record",
    );
    // The junk was cut off (zeroed), so the file reads cleanly as an earlier log file now.
    let bytes = std::fs::read(&log).unwrap();
    let end = layout.data_end as usize;
    assert!(
        bytes[end..end + junk.len()].iter().all(|&b| b == 0),
        "the torn bytes after offset {end} are still there"
    );
    assert_eq!(log_layout(&log).data_end, layout.data_end);

    // 2. More writes into a new log file, then another crash: the repaired file is now an
    // earlier file, and recovery reads through it.
    let mut c = super_client(server.addr).await;
    write_burst(&mut c, "/t2", 20, &mut rng).await;
    let before = dump_tree(&mut c).await;
    c.close_session().await.unwrap();
    server.kill9();
    let mut server = dir.start().await;
    assert_same_tree(&before, &dump(server.addr).await, "after the repaired file");

    // 3. The last record itself is cut short (the crash hit while it was written): it is
    // lost and the server starts with everything before it.
    let mut c = super_client(server.addr).await;
    let before = dump_tree(&mut c).await;
    let (_, st) = must(
        c.create("/t/last", Some(b"torn"), open_acl(), CreateMode::Persistent)
            .await,
        "last write",
    );
    server.kill9();
    let (log, layout) = last_log(&dir);
    let rec = *layout.records.last().unwrap();
    assert_eq!(rec.zxid, st.czxid, "the last record is the last write");
    truncate(&log, rec.end - 3);
    let mut server = dir.start().await;
    assert_same_tree(&before, &dump(server.addr).await, "last record torn");
    // And it takes writes again.
    let mut c = Client::connect(server.addr, 30_000).await;
    must(
        c.create("/t/again", Some(b"ok"), open_acl(), CreateMode::Persistent)
            .await,
        "write after repair",
    );
    c.close_session().await.unwrap();
    let st = server.sigterm().await;
    assert!(st.success());
}

/// Three server runs: snapshot.0, log.1, snapshot.N, log.N+1, snapshot.M, log.M+1.
async fn three_runs(dir: &mut ZkDir) -> (i64, i64, BTreeMap<String, NodeState>) {
    let mut rng = Rng::new(19);
    let mut starts = Vec::new();
    let mut tree = BTreeMap::new();
    for run in 0..3 {
        let mut server = dir.start().await;
        let mut c = super_client(server.addr).await;
        write_burst(&mut c, &format!("/run{run}"), 12, &mut rng).await;
        tree = dump_tree(&mut c).await;
        c.close_session().await.unwrap();
        let st = server.sigterm().await;
        assert!(st.success());
        starts.push(dir.logs().last().unwrap().0);
    }
    let logs: Vec<i64> = dir.logs().iter().map(|(z, _)| *z).collect();
    let snaps: Vec<i64> = dir.snapshots().iter().map(|(z, _)| *z).collect();
    let (n, m) = (starts[1] - 1, starts[2] - 1);
    assert_eq!(logs, vec![1, n + 1, m + 1], "log files");
    assert_eq!(snaps, vec![0, n, m], "snapshots");
    (n, m, tree)
}

fn backup(dir: &ZkDir) -> Vec<(PathBuf, Vec<u8>)> {
    dir.contents()
        .keys()
        .map(|p| (p.clone(), std::fs::read(p).unwrap()))
        .collect()
}

fn restore(dir: &ZkDir, saved: &[(PathBuf, Vec<u8>)]) {
    for p in dir.contents().keys() {
        std::fs::remove_file(p).unwrap();
    }
    for (p, bytes) in saved {
        std::fs::write(p, bytes).unwrap();
    }
}

#[tokio::test]
async fn missing_log_files_not_covered_by_a_snapshot_refuse_to_start() {
    let mut dir = ZkDir::new("gap", false, &[TICK, ("preAllocSize", "16")]);
    let (n, m, full) = three_runs(&mut dir).await;
    let saved = backup(&dir);
    let (txn_dir, snap_dir) = (dir.txn_dir(), dir.snap_dir());
    let log = |z: i64| txn_dir.join(format!("log.{z:x}"));
    let snap = |z: i64| snap_dir.join(format!("snapshot.{z:x}"));

    // (what, files to delete, file to corrupt, last zxid before the gap, first one after it)
    type Case<'a> = (&'a str, Vec<PathBuf>, Option<PathBuf>, i64, i64);
    let cases: [Case; 3] = [
        // The log after snapshot N is gone and so is snapshot M, which covered it.
        (
            "log and covering snapshot deleted",
            vec![log(n + 1), snap(m)],
            None,
            n,
            m + 1,
        ),
        // The same with snapshot M unreadable instead of deleted.
        (
            "log deleted, covering snapshot corrupt",
            vec![log(n + 1)],
            Some(snap(m)),
            n,
            m + 1,
        ),
        // No snapshot at all, and the first log file is gone.
        (
            "no snapshot, first log deleted",
            vec![log(1), snap(0), snap(n), snap(m)],
            None,
            0,
            n + 1,
        ),
    ];
    for (what, delete, corrupt, prev, next) in cases {
        restore(&dir, &saved);
        for p in &delete {
            std::fs::remove_file(p).unwrap();
        }
        if let Some(p) = &corrupt {
            let len = std::fs::metadata(p).unwrap().len();
            flip_byte(p, len / 2);
        }
        let files = dir.contents();
        let (status, stderr) = dir.start_expecting_failure().await;
        assert!(!status.success(), "{what}: the server exited with {status}");
        // The error names where the history breaks: the txn found and the one it should follow.
        let next_hex = format!("{next:#x}");
        let prev_hex = [format!("{prev:#x}"), format!("{:#x}", prev + 1)];
        assert!(
            stderr.contains(&next_hex) && prev_hex.iter().any(|h| stderr.contains(h.as_str())),
            "{what}: stderr does not name the gap between {prev:#x} and {next:#x}:\n{stderr}"
        );
        assert_eq!(dir.contents(), files, "{what}: files changed");
    }

    // A missing log file that a snapshot covers is fine: snapshot M plus log M+1 is everything.
    restore(&dir, &saved);
    std::fs::remove_file(log(n + 1)).unwrap();
    let server = dir.start().await;
    assert_same_tree(&full, &dump(server.addr).await, "covered gap");
}

type ZxidFiles = Vec<(i64, PathBuf)>;

/// What `purge -n 3` must leave: the newest 3 snapshots, and the logs with txns after the
/// oldest of them (every log starting above it, plus the last one starting at or below it).
fn expected_after_purge(
    snaps: &[(i64, PathBuf)],
    logs: &[(i64, PathBuf)],
) -> (ZxidFiles, ZxidFiles) {
    let keep_snaps = snaps[snaps.len().saturating_sub(3)..].to_vec();
    let oldest = keep_snaps[0].0;
    let first = logs.iter().rposition(|(z, _)| *z <= oldest).unwrap_or(0);
    (keep_snaps, logs[first..].to_vec())
}

#[tokio::test]
async fn purge_keeps_three_snapshots_and_the_logs_they_need() {
    let mut dir = ZkDir::new(
        "purge",
        false,
        &[TICK, ("snapCount", "10"), ("preAllocSize", "16")],
    );
    let mut server = dir.start().await;
    let mut c = super_client(server.addr).await;
    let mut rng = Rng::new(23);
    write_burst(&mut c, "/p", 150, &mut rng).await;
    let before = dump_tree(&mut c).await;
    c.close_session().await.unwrap();
    let st = server.sigterm().await;
    assert!(st.success());

    // Offline purge.
    let (snaps, logs) = (dir.snapshots(), dir.logs());
    assert!(snaps.len() >= 6, "{:?}", names(&snaps));
    let out = dir.purge(3);
    assert!(
        out.status.success(),
        "purge: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (want_snaps, want_logs) = expected_after_purge(&snaps, &logs);
    assert_eq!(
        names(&dir.snapshots()),
        names(&want_snaps),
        "snapshots kept"
    );
    assert_eq!(names(&dir.logs()), names(&want_logs), "logs kept");
    assert!(
        dir.logs().len() < logs.len(),
        "no log was purged: {:?}",
        names(&logs)
    );
    // The kept logs are enough for the oldest kept snapshot: without the two newer ones the
    // server still recovers everything.
    for (_, p) in &want_snaps[1..] {
        std::fs::remove_file(p).unwrap();
    }
    let mut server = dir.start().await;
    assert_same_tree(
        &before,
        &dump(server.addr).await,
        "from the oldest kept snapshot",
    );

    // Purge while the server runs (no snapshot can be in progress: fewer than snapCount/2
    // txns since its start-up snapshot), then crash and recover.
    let mut c = super_client(server.addr).await;
    write_burst(&mut c, "/p2", 100, &mut rng).await;
    c.close_session().await.unwrap();
    let st = server.sigterm().await;
    assert!(st.success());
    let mut server = dir.start().await;
    let mut c = super_client(server.addr).await;
    for i in 0..3 {
        must(
            c.set_data("/p2", format!("before purge {i}").as_bytes(), -1)
                .await,
            "write",
        );
    }
    let (snaps, logs) = (dir.snapshots(), dir.logs());
    assert!(snaps.len() > 3, "{:?}", names(&snaps));
    let out = dir.purge(3);
    assert!(
        out.status.success(),
        "purge: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (want_snaps, want_logs) = expected_after_purge(&snaps, &logs);
    assert_eq!(
        names(&dir.snapshots()),
        names(&want_snaps),
        "snapshots kept (running)"
    );
    assert_eq!(names(&dir.logs()), names(&want_logs), "logs kept (running)");
    must(
        c.set_data("/p2", b"after purge", -1).await,
        "write after purge",
    );
    let before = dump_tree(&mut c).await;
    server.kill9();
    let server = dir.start().await;
    assert_same_tree(
        &before,
        &dump(server.addr).await,
        "after purge while running + kill",
    );
}

/// ZooKeeper's purge keeps the newest N snapshots that look complete
/// (`FileTxnSnapLog.findNValidSnapshots`: `SnapStream.isValidSnapshot` wants the file to end
/// with its final seal) and deletes only what is older than the oldest of them; a damaged
/// newer snapshot does not count (and is left alone). With the newest snapshot cut short,
/// `purge -n 3` must still leave 3 loadable snapshots and the logs they need.
#[tokio::test]
async fn purge_counts_only_complete_snapshots() {
    let mut dir = ZkDir::new(
        "purge-damaged",
        false,
        &[TICK, ("snapCount", "10"), ("preAllocSize", "16")],
    );
    let mut server = dir.start().await;
    let mut c = super_client(server.addr).await;
    let mut rng = Rng::new(37);
    write_burst(&mut c, "/d", 120, &mut rng).await;
    let before = dump_tree(&mut c).await;
    c.close_session().await.unwrap();
    let st = server.sigterm().await;
    assert!(st.success());
    let (snaps, logs) = (dir.snapshots(), dir.logs());
    assert!(snaps.len() >= 6, "{:?}", names(&snaps));
    let (_, newest) = snaps.last().unwrap();
    truncate(newest, std::fs::metadata(newest).unwrap().len() / 2);

    let out = dir.purge(3);
    assert!(
        out.status.success(),
        "purge: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let complete = &snaps[..snaps.len() - 1];
    let (mut want_snaps, want_logs) = expected_after_purge(complete, &logs);
    want_snaps.push(snaps.last().unwrap().clone());
    assert_eq!(
        names(&dir.snapshots()),
        names(&want_snaps),
        "snapshots kept: the 3 newest complete ones and the damaged newer one"
    );
    assert_eq!(names(&dir.logs()), names(&want_logs), "logs kept");
    let server = dir.start().await;
    assert_same_tree(&before, &dump(server.addr).await, "after purge");
}

/// ZooKeeper's `DatadirCleanupManager` schedules its purge task with no initial delay
/// (`timer.scheduleAtFixedRate(task, 0, purgeInterval hours)`, started by `QuorumPeerMain`
/// before the server), so with `autopurge.purgeInterval` set a purge runs as the server starts,
/// then every interval. The hourly repeats cannot be tested here; the first purge can.
#[tokio::test]
async fn autopurge_runs_once_at_startup_as_zookeeper_does() {
    let mut dir = ZkDir::new(
        "autopurge",
        false,
        &[TICK, ("snapCount", "10"), ("preAllocSize", "16")],
    );
    let mut server = dir.start().await;
    let mut c = super_client(server.addr).await;
    let mut rng = Rng::new(29);
    write_burst(&mut c, "/a", 120, &mut rng).await;
    let before = dump_tree(&mut c).await;
    c.close_session().await.unwrap();
    let st = server.sigterm().await;
    assert!(st.success());
    let snaps = dir.snapshots();
    assert!(snaps.len() >= 6, "{:?}", names(&snaps));
    let (want_snaps, _) = expected_after_purge(&snaps, &dir.logs());
    let oldest_kept = want_snaps[0].0;

    dir.set("autopurge.snapRetainCount", "3");
    dir.set("autopurge.purgeInterval", "1");
    let server = dir.start().await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let old = dir
            .snapshots()
            .iter()
            .filter(|(z, _)| *z < oldest_kept)
            .count();
        if old == 0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "autopurge (purgeInterval=1, snapRetainCount=3) did not purge at start-up: {old} \
             snapshots older than the newest 3 are still there after 10 s: {:?}",
            names(&dir.snapshots())
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_same_tree(&before, &dump(server.addr).await, "after autopurge");
}
