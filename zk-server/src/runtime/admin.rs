//! The AdminServer's commands (`/commands/<name>`), answered by the core task with
//! ZooKeeper 3.8's JSON shapes: every answer is an object with `command` (the name asked for)
//! and `error` (null, or a message) beside the command's own keys.
//!
//! As in ZooKeeper 3.8 every answer, errors included, has HTTP status 200: an unknown command
//! answers `"error": "Unknown command: <name>"`, a command that needs a serving server answers
//! `"error": "This ZooKeeper instance is not currently serving requests"` while it is not.
//! Not offered: `get_trace_mask`/`set_trace_mask` (there is no trace mask) and
//! `observer_connection_stat_reset` (followers are never observer masters here); they answer as
//! unknown commands.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value as Json};

use super::four_letter::{self, FourLetterContext};
use super::metrics;
use crate::core::{Core, Now};

/// Every command: primary name, aliases, and whether it needs a serving server.
const COMMANDS: &[(&str, &[&str], bool)] = &[
    ("configuration", &["conf", "config"], true),
    ("connection_stat_reset", &["crst"], true),
    ("connections", &["cons"], true),
    ("dirs", &[], true),
    ("dump", &[], true),
    ("environment", &["env", "envi"], false),
    ("hash", &[], true),
    ("initial_configuration", &["icfg"], true),
    ("is_read_only", &["isro"], true),
    ("last_snapshot", &["lsnp"], true),
    ("leader", &["lead"], true),
    ("monitor", &["mntr"], false),
    ("observers", &["obsr"], true),
    ("ruok", &[], true),
    ("server_stats", &["srvr"], true),
    ("stat_reset", &["srst"], true),
    ("stats", &["stat"], true),
    ("system_properties", &["sysp"], false),
    ("voting_view", &[], true),
    ("watch_summary", &["wchs"], true),
    ("watches", &["wchc"], true),
    ("watches_by_path", &["wchp"], true),
    ("zabstate", &[], false),
];

/// The primary names, sorted (the `/commands` listing).
pub fn primary_names() -> impl Iterator<Item = &'static str> {
    COMMANDS.iter().map(|(n, _, _)| *n)
}

fn lookup(name: &str) -> Option<(&'static str, bool)> {
    COMMANDS
        .iter()
        .find(|(n, aliases, _)| *n == name || aliases.contains(&name))
        .map(|(n, _, serving)| (*n, *serving))
}

/// Runs command `name` (a primary name or an alias) and answers its JSON object.
pub fn run(name: &str, core: &mut Core, ctx: &mut FourLetterContext, now: Now) -> Json {
    let mut out = Map::new();
    let error = match lookup(name) {
        None => Some(format!("Unknown command: {name}")),
        Some((_, true)) if !ctx.serving => {
            Some("This ZooKeeper instance is not currently serving requests".to_owned())
        }
        Some((cmd, _)) => {
            command(cmd, core, ctx, now, &mut out);
            out.remove("error")
                .and_then(|e| e.as_str().map(str::to_owned))
        }
    };
    out.insert("command".into(), name.into());
    out.insert("error".into(), error.map_or(Json::Null, Json::String));
    Json::Object(out)
}

fn command(
    cmd: &str,
    core: &mut Core,
    ctx: &mut FourLetterContext,
    now: Now,
    out: &mut Map<String, Json>,
) {
    let mut put = |k: &str, v: Json| {
        out.insert(k.to_owned(), v);
    };
    match cmd {
        "configuration" => {
            put("client_port", ctx.client_port.into());
            put("data_dir", four_letter::abs(&ctx.cfg.data_dir).into());
            put(
                "data_log_dir",
                four_letter::abs(&ctx.cfg.data_log_dir).into(),
            );
            put("tick_time", ctx.cfg.core.tick_time_ms.into());
            put("max_client_cnxns", ctx.cfg.max_client_cnxns.into());
            put(
                "min_session_timeout",
                ctx.cfg.core.min_session_timeout_ms.into(),
            );
            put(
                "max_session_timeout",
                ctx.cfg.core.max_session_timeout_ms.into(),
            );
            put("server_id", ctx.server_id().into());
            put("client_port_listen_backlog", (-1).into());
        }
        "connection_stat_reset" => {
            for c in core.conns.values_mut() {
                c.stats.reset();
            }
        }
        "connections" => {
            put("connections", connections(core, false, now));
            put("secure_connections", json!([]));
        }
        "dirs" => {
            put(
                "datadir_size",
                four_letter::dir_size(&ctx.cfg.data_dir).into(),
            );
            put(
                "logdir_size",
                four_letter::dir_size(&ctx.cfg.data_log_dir).into(),
            );
        }
        "dump" => {
            // Expiry times are in the server's monotonic clock, as ZooKeeper's (elapsed time).
            let mut expiry: BTreeMap<u64, Vec<i64>> = BTreeMap::new();
            for s in core.sessions.iter() {
                expiry.entry(s.expires_at_ms).or_default().push(s.id);
            }
            let expiry: Map<String, Json> = expiry
                .into_iter()
                .map(|(at, mut ids)| {
                    ids.sort_unstable();
                    (at.to_string(), json!(ids))
                })
                .collect();
            let eph: Map<String, Json> = core
                .tree
                .ephemerals_by_session()
                .map(|(sid, paths)| (sid.to_string(), json!(paths)))
                .collect();
            put("expiry_time_to_session_ids", Json::Object(expiry));
            put("session_id_to_ephemeral_paths", Json::Object(eph));
        }
        "environment" => {
            for (k, v) in four_letter::environment() {
                put(k, v.into());
            }
        }
        "hash" => {
            let digests: Vec<Json> = core
                .stats
                .digest_log
                .iter()
                .map(|(zxid, digest)| json!({"zxid": zxid, "digestVersion": 2, "digest": digest}))
                .collect();
            put("digests", Json::Array(digests));
        }
        "initial_configuration" => {
            put(
                "initial_configuration",
                ctx.cfg.initial_config.clone().unwrap_or_default().into(),
            );
        }
        "is_read_only" => put("read_only", core.is_read_only().into()),
        "last_snapshot" => {
            // The newest snapshot on disk (ZooKeeper: the last one written or loaded);
            // its timestamp in seconds.
            let newest = ctx
                .cfg
                .storage
                .as_ref()
                .and_then(|st| crate::storage::snapshot::list(&st.snap_dir).ok())
                .and_then(|l| l.into_iter().max_by_key(|(z, _)| *z));
            let (zxid, ts) = match newest {
                Some((z, path)) => {
                    let secs = std::fs::metadata(&path)
                        .and_then(|m| m.modified())
                        .ok()
                        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                        .map_or(-1, |d| d.as_secs() as i64);
                    (z, secs)
                }
                None => (-1, -1),
            };
            put("zxid", format!("{zxid:x}").into());
            put("timestamp", ts.into());
        }
        "leader" => match (&ctx.zab, &ctx.cfg.quorum) {
            (Some(z), Some(q)) => {
                put("is_leader", (ctx.mode == "leader").into());
                let id = z.leader_id.map_or(-1, |l| l as i64);
                put("leader_id", id.into());
                let ip = z
                    .leader_id
                    .and_then(|l| q.servers.get(&l))
                    .map_or(String::new(), |a| a.host.clone());
                put("leader_ip", ip.into());
            }
            _ => put("error", "server is not initialized".into()),
        },
        "monitor" => {
            for (k, v) in metrics::monitor_rows(&metrics::collect(core, ctx, now)) {
                put(&k, v.to_json());
            }
        }
        "observers" => {
            let observers: Vec<u64> = ctx
                .zab
                .as_ref()
                .and_then(|z| z.leader.as_ref())
                .map(|l| l.observer_ids.clone())
                .unwrap_or_default();
            put("synced_observers", observers.len().into());
            let list: Vec<Json> = observers.iter().map(|id| json!({"sid": id})).collect();
            put("observers", Json::Array(list));
        }
        "ruok" => {}
        "server_stats" => server_stats(core, ctx, now, out),
        "stats" => {
            server_stats(core, ctx, now, out);
            out.insert("connections".into(), connections(core, true, now));
            out.insert("secure_connections".into(), json!([]));
        }
        "stat_reset" => {
            core.stats.reset();
            ctx.metrics.reset();
        }
        "system_properties" => {
            for (k, v) in system_properties(ctx) {
                put(&k, v.into());
            }
        }
        "voting_view" => {
            let mut view = Map::new();
            if let Some(q) = &ctx.cfg.quorum {
                for (id, a) in &q.servers {
                    let client = if *id == q.my_id {
                        format!("{}:{}", ctx.cfg.client_addr.ip(), ctx.client_port)
                    } else {
                        String::new()
                    };
                    view.insert(
                        id.to_string(),
                        json!({
                            "server_addresses": [format!("{}:{}", a.host, a.quorum_port)],
                            "election_addresses": [format!("{}:{}", a.host, a.election_port)],
                            "client_address": client,
                            "learner_type": if a.observer { "observer" } else { "participant" },
                        }),
                    );
                }
            }
            put("current_config", Json::Object(view));
        }
        "watch_summary" => {
            let w = &core.data_watches;
            put("num_connections", w.conn_count().into());
            put("num_paths", w.path_count().into());
            put("num_total_watches", w.watch_count().into());
        }
        "watches" => {
            let w = &core.data_watches;
            let mut by_session: BTreeMap<i64, Vec<String>> = BTreeMap::new();
            for c in w.conns() {
                let sid = core.session_of(*c).unwrap_or(0);
                by_session
                    .entry(sid)
                    .or_default()
                    .extend(w.paths_of(*c).cloned());
            }
            let m: Map<String, Json> = by_session
                .into_iter()
                .map(|(sid, paths)| (sid.to_string(), json!(paths)))
                .collect();
            put("session_id_to_watched_paths", Json::Object(m));
        }
        "watches_by_path" => {
            let w = &core.data_watches;
            let mut m = Map::new();
            for p in w.paths() {
                let mut ids: Vec<i64> = w
                    .conns_of(p)
                    .map(|c| core.session_of(*c).unwrap_or(0))
                    .collect();
                ids.sort_unstable();
                m.insert(p.clone(), json!(ids));
            }
            put("path_to_session_ids", Json::Object(m));
        }
        "zabstate" => match (&ctx.zab, &ctx.cfg.quorum) {
            (Some(z), Some(q)) => {
                let me = q.servers.get(&q.my_id);
                let addr = |port: fn(&super::PeerAddr) -> u16| {
                    me.map_or(Json::Null, |a| multiple_addresses(&a.host, port(a)))
                };
                put("myid", q.my_id.into());
                put("is_leader", (ctx.mode == "leader").into());
                put("quorum_address", addr(|a| a.quorum_port));
                put("election_address", addr(|a| a.election_port));
                put(
                    "client_address",
                    format!("{}:{}", ctx.cfg.client_addr.ip(), ctx.client_port).into(),
                );
                put("voting", me.is_some_and(|a| !a.observer).into());
                let z_last = core.last_zxid();
                put("last_zxid", format!("0x{z_last:x}").into());
                put("zab_epoch", (z_last >> 32).into());
                put("zab_counter", (z_last & 0xffff_ffff).into());
                put("zabstate", z.phase.into());
            }
            _ => {
                put("voting", false.into());
                put("zabstate", "".into());
            }
        },
        _ => unreachable!("every listed command is handled"),
    }
}

fn connections(core: &Core, brief: bool, now: Now) -> Json {
    let list: Vec<Json> = core
        .conns
        .iter()
        .map(|(id, c)| {
            let st = &c.stats;
            let mut m = Map::new();
            m.insert(
                "remote_socket_address".into(),
                format!("{}:{}", c.peer.ip(), c.peer.port()).into(),
            );
            m.insert(
                "interest_ops".into(),
                if st.four_letter { 0 } else { 1 }.into(),
            );
            m.insert(
                "outstanding_requests".into(),
                core.outstanding_of(*id).into(),
            );
            m.insert("packets_received".into(), st.packets_received.into());
            m.insert("packets_sent".into(), st.packets_sent.into());
            if !brief {
                let l = &st.latency;
                let est = now.wall_ms - (now.mono_ms as i64 - st.established_mono_ms as i64);
                m.insert("session_id".into(), c.session.unwrap_or(0).into());
                m.insert("last_operation".into(), st.last_op.into());
                m.insert("established".into(), est.into());
                m.insert(
                    "session_timeout".into(),
                    c.session
                        .and_then(|s| core.sessions.get(s))
                        .map_or(0, |s| s.timeout_ms)
                        .into(),
                );
                m.insert("last_cxid".into(), st.last_cxid.into());
                m.insert("last_zxid".into(), st.last_zxid.into());
                m.insert("last_response_time".into(), st.last_response_mono_ms.into());
                m.insert("last_latency".into(), l.last_ms.into());
                m.insert("min_latency".into(), l.min_ms.unwrap_or(0).into());
                m.insert(
                    "avg_latency".into(),
                    l.total_ms.checked_div(l.count).unwrap_or(0).into(),
                );
                m.insert("max_latency".into(), l.max_ms.into());
            }
            Json::Object(m)
        })
        .collect();
    Json::Array(list)
}

/// ZooKeeper's `MultipleAddresses` as Jackson writes its bean properties, for one address
/// (zkrs has one address per server; it is taken as reachable, being this server's own).
fn multiple_addresses(host: &str, port: u16) -> Json {
    let a = format!("{host}:{port}");
    json!({
        "empty": false,
        "all_addresses": [a],
        "all_reachable_addresses": [a],
        "one": a,
        "reachable_address": a,
        "wildcard_addresses": [format!("0.0.0.0:{port}")],
        "all_ports": [port],
        "all_host_strings": [host],
        "all_reachable_addresses_or_all": [a],
        "reachable_or_one": a,
    })
}

fn buffer_stats(b: &crate::core::stats::BufferStats) -> Json {
    json!({"last_buffer_size": b.last, "min_buffer_size": b.min, "max_buffer_size": b.max})
}

fn server_stats(core: &Core, ctx: &FourLetterContext, now: Now, out: &mut Map<String, Json>) {
    let s = &core.stats;
    let client = buffer_stats(&s.client_response);
    let stats = json!({
        "packets_sent": s.packets_sent,
        "packets_received": s.packets_received,
        "client_response_stats": client,
        "provider_null": false,
        "data_dir_size": four_letter::dir_size(&ctx.cfg.data_dir),
        "log_dir_size": four_letter::dir_size(&ctx.cfg.data_log_dir),
        "server_state": ctx.mode,
        "last_processed_zxid": core.last_zxid(),
        "outstanding_requests": core.outstanding_requests(),
        "avg_latency": four_letter::round4(s.latency.avg_ms()),
        "max_latency": s.latency.max_ms,
        "min_latency": s.latency.min_ms.unwrap_or(0),
        "num_alive_client_connections": core.conns.len(),
        "uptime": now.wall_ms - ctx.started_wall_ms,
        "auth_failed_count": s.auth_failed,
        "non_mtlsremote_conn_count": ctx.metrics.non_mtls_remote_conns,
        "non_mtlslocal_conn_count": ctx.metrics.non_mtls_local_conns,
    });
    out.insert("version".into(), four_letter::ZK_VERSION_BUILT.into());
    out.insert("read_only".into(), core.is_read_only().into());
    out.insert("server_stats".into(), stats);
    out.insert("client_response".into(), client);
    if ctx.mode == "leader" {
        out.insert(
            "proposal_stats".into(),
            buffer_stats(&ctx.metrics.proposal_stats),
        );
    }
    // ZooKeeper's node map holds the root twice ("" and "/"), and its count shows it.
    out.insert("node_count".into(), (core.tree.node_count() + 1).into());
}

/// What stands for the JVM's system properties: the process's own facts under the JVM's names,
/// and the `zookeeper.*` (and other) properties the server was configured with (zoo.cfg keys
/// ZooKeeper takes as system properties, and `-D` options in `SERVER_JVMFLAGS`/`JVMFLAGS`).
fn system_properties(ctx: &FourLetterContext) -> BTreeMap<String, String> {
    let mut m: BTreeMap<String, String> = BTreeMap::new();
    for (k, v) in four_letter::environment() {
        if k != "zookeeper.version" && k != "host.name" {
            m.insert(k.to_owned(), v);
        }
    }
    m.insert("file.separator".into(), "/".into());
    m.insert("line.separator".into(), "\n".into());
    m.insert("path.separator".into(), ":".into());
    for (k, v) in &ctx.cfg.system_properties {
        m.insert(k.clone(), v.clone());
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_that_need_a_serving_server_say_so() {
        let addr = "127.0.0.1:2181".parse().unwrap();
        let now = Now {
            wall_ms: 1,
            mono_ms: 1,
        };
        let mut core = Core::new(crate::core::CoreConfig::default(), now);
        let mut ctx = FourLetterContext::new(&super::super::RuntimeConfig::for_tests(addr), addr);
        ctx.serving = false;
        let not_serving = "This ZooKeeper instance is not currently serving requests";
        for cmd in ["stats", "cons", "dump", "ruok", "leader"] {
            let j = run(cmd, &mut core, &mut ctx, now);
            assert_eq!(j, json!({"command": cmd, "error": not_serving}), "{cmd}");
        }
        // The four-letter mntr says so too; the admin monitor command still answers.
        assert_eq!(
            super::four_letter::answer("mntr", &mut core, &mut ctx, now),
            format!("{not_serving}\n")
        );
        // Those ZooKeeper runs without a server still answer.
        for cmd in ["monitor", "environment", "zabstate", "system_properties"] {
            assert_eq!(
                run(cmd, &mut core, &mut ctx, now)["error"],
                Json::Null,
                "{cmd}"
            );
        }
        assert_eq!(
            run("nope", &mut core, &mut ctx, now)["error"],
            "Unknown command: nope"
        );
    }

    #[test]
    fn a_connections_pending_write_is_outstanding() {
        use zk_proto::codec::Encode as _;
        let addr = "127.0.0.1:2181".parse().unwrap();
        let now = Now {
            wall_ms: 1,
            mono_ms: 1,
        };
        let mut core = Core::new(crate::core::CoreConfig::default(), now);
        let mut ctx = FourLetterContext::new(&super::super::RuntimeConfig::for_tests(addr), addr);
        core.connection_opened(7, "127.0.0.1:5000".parse().unwrap(), now);
        let connect = zk_proto::proto::ConnectRequest {
            time_out: 30_000,
            passwd: vec![0; 16],
            ..Default::default()
        };
        // A createSession txn is not one of the connection's requests.
        let fx = core.handle_frame(7, &connect.to_bytes(), now);
        let cons = |core: &mut Core, ctx: &mut FourLetterContext| {
            run("cons", core, ctx, now)["connections"][0]["outstanding_requests"].clone()
        };
        assert_eq!(cons(&mut core, &mut ctx), json!(0));
        for e in fx {
            if let crate::core::Effect::Persist(t) = e {
                core.commit(&t, now);
            }
        }
        let mut payload = Vec::new();
        zk_proto::request::encode_request(
            1,
            &zk_proto::request::Request::Create {
                op: zk_proto::OpCode::Create,
                req: zk_proto::proto::CreateRequest {
                    path: "/a".into(),
                    data: None,
                    acl: zk_proto::data::Acl::open_unsafe(),
                    flags: 0,
                },
            },
            &mut payload,
        );
        let fx = core.handle_frame(7, &payload, now);
        assert_eq!(cons(&mut core, &mut ctx), json!(1));
        for e in fx {
            if let crate::core::Effect::Persist(t) = e {
                core.commit(&t, now);
            }
        }
        assert_eq!(cons(&mut core, &mut ctx), json!(0));
    }

    #[test]
    fn names_and_aliases_resolve() {
        assert_eq!(lookup("mntr"), Some(("monitor", false)));
        assert_eq!(lookup("stats"), Some(("stats", true)));
        assert_eq!(lookup("stat"), Some(("stats", true)));
        assert_eq!(lookup("get_trace_mask"), None);
        let names: Vec<_> = primary_names().collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        assert_eq!(names, sorted);
    }
}
