#!/usr/bin/env python3
"""Interop suite: `mntr` and the AdminServer of zkrs next to Apache ZooKeeper 3.8's.

Usage: monitoring_suite.py ZKRS_CLIENT ZKRS_ADMIN ZKRS_CONFIG APACHE_CLIENT APACHE_ADMIN APACHE_CONFIG
       monitoring_suite.py --ensemble ZKRS_CLIENTS ZKRS_ADMINS APACHE_CLIENTS APACHE_ADMINS
       (addresses as HOST:PORT, comma-separated for the three servers of an ensemble; the
       configs are the zoo.cfg files the standalone servers were started with)

With --ensemble, two 3-server ensembles (zkrs, Apache) are compared the same way on their
leaders and a follower: the leader-only and quorum keys of `mntr`, and the shapes of `zabstate`,
`leader`, `voting_view`, `observers`, `server_stats` and `stats`.

Both servers are standalone and fresh. kazoo builds the same state on each (a session with an
ephemeral node, a node with data, a data watch, an exists watch on a missing node and a child
watch), then the two servers' outputs are compared key by key:

- `mntr` and the admin `monitor` command: every key zkrs prints is one Apache prints (no
  invented names), every key Apache prints and zkrs does not is in NOT_PROVIDED below (the
  justified list, mirrored in docs/operations.md), and the values that depend only on the
  state (node, watch, session and connection counts, data size) are equal;
- every admin command both offer: the same JSON shape (keys and value types, recursively),
  except the differences in SHAPE_DIFFERENCES, and equal values where the state decides them.

Prints "ok - ..." / "FAIL - ..." per check, "difference: ..." for each documented difference
seen, then "monitoring: N passed, M failed"; exits 1 if any check failed.
"""

import json
import os
import re
import socket
import sys
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True

import kazoo_suite as ks  # noqa: E402  (the counters and check())
from kazoo.client import KazooClient  # noqa: E402

# The pass/fail counters and check() are kazoo_suite's (ks.PASSED, ks.FAILED).
check = ks.check


def check_eq(name, got, want):
    return check(name, got == want, "zkrs %r, Apache %r" % (got, want))


# Apache's monitor keys zkrs does not print, and why (docs/operations.md, "Not provided").
# A summary name stands for its avg_/min_/max_/cnt_/sum_ (and p50_..p999_) keys.
NOT_PROVIDED = {}


def _reason(reason, names):
    for n in names.split():
        NOT_PROVIDED[n] = reason


_reason(
    "Java request-processor pipeline stage (zkrs has one core task, no processor queues)",
    """prep_processor_request_queued outstanding_changes_queued outstanding_changes_removed
    request_commit_queued sync_processor_request_queued requests_not_forwarded_to_commit_processor
    skip_learner_request_to_next_processor_count close_session_prep_time
    commit_commit_proc_req_queued commit_process_time concurrent_request_processing_in_commit_processor
    local_write_committed_time_ms server_write_committed_time_ms prep_process_time
    prep_processor_queue_size prep_processor_queue_time_ms proposal_process_time
    read_commit_proc_issued read_commit_proc_req_queued read_commitproc_time_ms
    read_final_proc_time_ms write_final_proc_time_ms reads_after_write_in_session_queue
    reads_issued_from_session_queue requests_in_session_queue pending_session_queue_size
    session_queues_drained sync_process_time sync_processor_queue_and_flush_time_ms
    sync_processor_queue_flush_time_ms sync_processor_queue_size sync_processor_queue_time_ms
    time_waiting_empty_pool_in_commit_processor_read_ms write_batch_time_in_commit_processor
    write_commit_proc_issued write_commit_proc_req_queued write_commitproc_time_ms
    learner_request_processor_queue_size learner_handler_qp_size
    learner_handler_qp_time_ms""",
)
_reason(
    "request throttling / connection throttling is not implemented",
    """throttled_ops request_throttle_wait_count request_throttle_queue_time_ms
    connection_token_deficit connection_drop_probability connection_drop_count
    large_requests_rejected stale_requests stale_requests_dropped stale_replies""",
)
_reason(
    "no quorum SASL, no HTTPS AdminServer in zkrs",
    """insecure_admin_count ensemble_auth_fail
    ensemble_auth_skip ensemble_auth_success""",
)
_reason(
    "no such mechanism in zkrs (dead-watcher cleaner thread, response cache, Netty, JVM, "
    "observer masters, local sessions, per-packet socket close timing)",
    """add_dead_watcher_stall_time dead_watchers_cleared dead_watchers_queued
    dead_watchers_cleaner_latency response_packet_cache_hits response_packet_cache_misses
    response_packet_get_children_cache_hits response_packet_get_children_cache_misses
    netty_queued_buffer_capacity jvm_pause_time_ms om_commit_process_time_ms
    om_proposal_process_time_ms local_sessions socket_closing_time
    cnxn_closed_without_zk_server_running""",
)
_reason(
    "not counted yet (would need new counters in the core or the listener)",
    """unrecoverable_error_count
    quit_leading_due_to_disloyal_voter""",
)
_reason(
    "non-voting followers exist only during a reconfig, which zkrs answers as standalone",
    "synced_non_voting_followers",
)


SUMMARY = re.compile(r"^(avg|min|max|cnt|sum|p50|p95|p99|p999)_(.+)$")

# Ensemble members only: Apache keys zkrs does not print, exactly, and why. (None now: both
# write /zookeeper/config, which counts in `*_zookeeper_write_per_namespace`.)
ENSEMBLE_DIFFERENCES = {}

# Values that depend only on the state both servers were given.
STATE_KEYS = [
    "server_state",
    "znode_count",
    "ephemerals_count",
    "watch_count",
    "global_sessions",
    "num_alive_connections",
    "outstanding_requests",
    "approximate_data_size",
]

# Admin commands' shape differences: (command, path) -> why. A path names a key inside the
# answer ("server_stats.fsync_threshold_exceed_count"); "*" stands for a whole command.
SHAPE_DIFFERENCES = {
    ("get_trace_mask", "*"): "zkrs has no trace mask",
    ("set_trace_mask", "*"): "zkrs has no trace mask",
    ("observer_connection_stat_reset", "*"): "zkrs followers are never observer masters",
    ("server_stats", "server_stats.fsync_threshold_exceed_count"): "not counted",
    ("stats", "server_stats.fsync_threshold_exceed_count"): "not counted",
    ("environment", "java.*"): "not a JVM: no java.* entries",
    ("environment", "os.memory.*"): "not a JVM: no JVM heap figures",
    ("system_properties", "*"): "not a JVM: the JVM's own properties do not exist; zkrs "
    "answers the os.*/user.* facts and separators under the same names, plus the "
    "properties its configuration set",
}


def mntr(addr):
    host, port = addr.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=5) as s:
        s.sendall(b"mntr")
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    out = {}
    for line in data.decode().splitlines():
        k, v = line.split("\t", 1)
        out[k[len("zk_"):]] = v
    return out


def admin(addr, cmd):
    with urllib.request.urlopen("http://%s/commands/%s" % (addr, cmd), timeout=5) as r:
        return r.status, json.loads(r.read().decode())


def admin_list(addr):
    with urllib.request.urlopen("http://%s/commands" % addr, timeout=5) as r:
        return set(re.findall(r'href="/commands/([a-z_]+)"', r.read().decode()))


def base_name(key):
    m = SUMMARY.match(key)
    name = m.group(2) if m else key
    # Summary sets are keyed by a label: <avg..>_<label>_<set name>.
    for s in ("read_per_namespace", "write_per_namespace", "learner_handler_qp_size",
              "learner_handler_qp_time_ms"):
        if m and name.endswith("_" + s):
            return s
    return name


def build_state(addr):
    zk = KazooClient(hosts=addr, timeout=10)
    zk.start(timeout=10)
    zk.create("/mon", b"data12345")
    zk.create("/mon/eph", b"e", ephemeral=True)
    zk.get("/mon", watch=lambda e: None)
    zk.exists("/missing", watch=lambda e: None)
    zk.get_children("/mon", watch=lambda e: None)
    return zk


def shape(v):
    if isinstance(v, dict):
        return {k: shape(x) for k, x in v.items()}
    if isinstance(v, list):
        return [shape(v[0])] if v else []
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, (int, float)):
        return "number"
    if v is None:
        return "null"
    return type(v).__name__


def shape_diffs(a, b, path=""):
    """Paths where shapes a (zkrs) and b (Apache) differ: (path, what)."""
    out = []
    if isinstance(a, dict) and isinstance(b, dict) and a and b and all(
        re.match(r"^-?\d+$", k) for k in list(a) + list(b)
    ):
        # A map keyed by ids or times (sessions, expiry times, server ids): the values' shape.
        out.extend(shape_diffs(next(iter(a.values())), next(iter(b.values())), path + "{}"))
    elif isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            p = path + "." + k if path else k
            if k not in a:
                out.append((p, "missing in zkrs"))
            elif k not in b:
                out.append((p, "only in zkrs"))
            else:
                out.extend(shape_diffs(a[k], b[k], p))
    elif isinstance(a, list) and isinstance(b, list):
        if a and b:
            out.extend(shape_diffs(a[0], b[0], path + "[]"))
    elif a != b:
        out.append((path, "zkrs %s, Apache %s" % (a, b)))
    return out


def check_shape(label, cmd, zj, aj):
    """One check: zkrs's JSON answer to `cmd` has Apache's shape, except documented differences
    (printed as "difference: ...")."""
    bad = []
    for path, what in shape_diffs(shape(zj), shape(aj)):
        why = documented(cmd, path)
        if why:
            print("difference: %s %s (%s): %s" % (label, path, what, why))
        else:
            bad.append("%s: %s" % (path, what))
    check("%s: same JSON shape as Apache's" % label, not bad, "; ".join(bad))


def documented(cmd, path):
    for (c, p), why in SHAPE_DIFFERENCES.items():
        if c != cmd:
            continue
        if p == "*" or p == path or (p.endswith(".*") and path.startswith(p[:-1])):
            return why
    return None


def main():
    (z_client, z_admin, z_cfg, a_client, a_admin, a_cfg) = sys.argv[1:7]
    sessions = {}
    for name, addr in (("zkrs", z_client), ("Apache", a_client)):
        sessions[name] = build_state(addr)

    # mntr and monitor: names, and state values.
    z, a = mntr(z_client), mntr(a_client)
    invented = sorted(k for k in z if k not in a)
    check("mntr: every key zkrs prints is one Apache 3.8 prints", not invented, invented)
    undocumented = sorted(k for k in a if k not in z and base_name(k) not in NOT_PROVIDED)
    check(
        "mntr: every Apache key zkrs does not print is documented",
        not undocumented,
        undocumented,
    )
    left_out = sorted({base_name(k) for k in a if k not in z})
    print("difference: mntr keys not provided by zkrs: %d (%d metrics): %s"
          % (sum(1 for k in a if k not in z), len(left_out), " ".join(left_out)))
    for k in STATE_KEYS:
        check_eq("mntr: %s" % k, z.get(k), a.get(k))
    for name, m in (("zkrs", z), ("Apache", a)):
        check("mntr %s: zk_version first, then zk_server_state" % name,
              list(m)[:2] == ["version", "server_state"], list(m)[:2])

    zs, zm = admin(z_admin, "monitor")
    as_, am = admin(a_admin, "monitor")
    check_eq("monitor: HTTP status", zs, as_)
    check_eq("monitor: same keys as mntr (zkrs)",
             sorted(k for k in zm if k not in ("command", "error")), sorted(z))
    for k in STATE_KEYS:
        check_eq("monitor: %s" % k, zm.get(k), am.get(k))
    for k in ("cnt_readlatency", "cnt_updatelatency"):
        check("monitor: %s counted (zkrs %s, Apache %s)" % (k, zm.get(k), am.get(k)),
              isinstance(zm.get(k), int) and zm[k] > 0)

    # The command lists.
    zl, al = admin_list(z_admin), admin_list(a_admin)
    check("admin: every zkrs command is one Apache has", zl <= al, sorted(zl - al))
    for cmd in sorted(al - zl):
        why = documented(cmd, "*")
        check("admin: %s left out for a documented reason" % cmd, why is not None)
        if why:
            print("difference: admin command %s: %s" % (cmd, why))

    # Every command: shapes, and the state's values.
    answers = {}
    for cmd in sorted(zl & al):
        if cmd in ("stat_reset", "connection_stat_reset"):
            continue  # run last: they reset what the others show
        (zs, zj), (as_, aj) = admin(z_admin, cmd), admin(a_admin, cmd)
        answers[cmd] = (zj, aj)
        check_eq("%s: HTTP status" % cmd, zs, as_)
        check_eq("%s: command and error" % cmd, (zj.get("command"), zj.get("error")),
                 (aj.get("command"), aj.get("error")))
        if cmd == "monitor":
            continue  # compared above
        check_shape(cmd, cmd, zj, aj)
    for cmd in ("stat_reset", "connection_stat_reset"):
        (zs, zj), (as_, aj) = admin(z_admin, cmd), admin(a_admin, cmd)
        check_eq("%s: answer" % cmd, zj, aj)

    zsid, asid = sessions["zkrs"].client_id[0], sessions["Apache"].client_id[0]

    def both(cmd):
        return answers[cmd]

    zj, aj = both("watch_summary")
    check_eq("watch_summary: counts",
             [zj[k] for k in ("num_connections", "num_paths", "num_total_watches")],
             [aj[k] for k in ("num_connections", "num_paths", "num_total_watches")])
    zj, aj = both("watches")
    check_eq("watches: paths of the session",
             sorted(zj["session_id_to_watched_paths"].get(str(zsid), [])),
             sorted(aj["session_id_to_watched_paths"].get(str(asid), [])))
    zj, aj = both("watches_by_path")
    check_eq("watches_by_path: paths", sorted(zj["path_to_session_ids"]),
             sorted(aj["path_to_session_ids"]))
    zj, aj = both("dump")
    check_eq("dump: ephemerals of the session",
             zj["session_id_to_ephemeral_paths"].get(str(zsid)),
             aj["session_id_to_ephemeral_paths"].get(str(asid)))
    check_eq("dump: sessions by expiry",
             sorted(sum(zj["expiry_time_to_session_ids"].values(), [])) == [zsid],
             sorted(sum(aj["expiry_time_to_session_ids"].values(), [])) == [asid])
    zj, aj = both("connections")
    zc = [c for c in zj["connections"] if c.get("session_id") == zsid]
    ac = [c for c in aj["connections"] if c.get("session_id") == asid]
    check_eq("connections: the session's connection", len(zc), len(ac))
    if zc and ac:
        for k in ("last_operation", "session_timeout", "interest_ops", "outstanding_requests"):
            check_eq("connections: %s" % k, zc[0][k], ac[0][k])
    for cmd in ("stats", "server_stats"):
        zj, aj = both(cmd)
        check_eq("%s: node_count" % cmd, zj["node_count"], aj["node_count"])
        check_eq("%s: read_only" % cmd, zj["read_only"], aj["read_only"])
        for k in ("server_state", "num_alive_client_connections", "outstanding_requests",
                  "last_processed_zxid", "auth_failed_count"):
            check_eq("%s: server_stats.%s" % (cmd, k), zj["server_stats"][k],
                     aj["server_stats"][k])
    zj, aj = both("configuration")
    for k in ("tick_time", "max_client_cnxns", "min_session_timeout", "max_session_timeout",
              "server_id", "client_port_listen_backlog"):
        check_eq("configuration: %s" % k, zj[k], aj[k])
    for cmd in ("is_read_only", "leader", "zabstate", "voting_view", "observers", "hash", "ruok"):
        zj, aj = both(cmd)
        check_eq("%s: answer" % cmd, zj, aj)
    zj, aj = both("initial_configuration")
    for name, j, path in (("zkrs", zj, z_cfg), ("Apache", aj, a_cfg)):
        with open(path) as f:
            check_eq("initial_configuration (%s): the file as read" % name,
                     j["initial_configuration"], f.read())
    zj, aj = both("last_snapshot")
    check_eq("last_snapshot: zxid", zj["zxid"], aj["zxid"])
    zj, aj = both("environment")
    for k in ("os.name", "os.arch", "os.version", "user.name", "user.home", "host.name"):
        check_eq("environment: %s" % k, zj.get(k), aj.get(k))
    zj, aj = both("system_properties")
    for k in ("os.name", "os.arch", "os.version", "user.name", "user.home", "file.separator",
              "line.separator", "path.separator"):
        check_eq("system_properties: %s" % k, zj.get(k), aj.get(k))
    # zkrs' version string is ZooKeeper's format with its own version.
    zj, aj = both("server_stats")
    check("server_stats: version in ZooKeeper's format",
          re.match(r"^\d+\.\d+\.\d+-.*, built on .* UTC$", zj["version"]) is not None,
          zj["version"])

    for s in sessions.values():
        ks.stop_client(s)
    print("monitoring: %d passed, %d failed" % (ks.PASSED, ks.FAILED), flush=True)
    return 1 if ks.FAILED else 0


def leader_of(clients, what):
    """The index of the ensemble's leader once every server serves (bounded wait)."""
    import time

    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            states = [mntr(c).get("server_state") for c in clients]
        except OSError:
            states = []
        if states.count("leader") == 1 and all(st in ("leader", "follower") for st in states):
            return states.index("leader")
        time.sleep(0.3)
    raise RuntimeError("%s: no leader with every server serving within 60 s" % what)


def ensemble_main():
    """Three voters of each, side by side: the quorum-only keys and commands."""
    z_clients, z_admins, a_clients, a_admins = (a.split(",") for a in sys.argv[2:6])
    zl, al = leader_of(z_clients, "zkrs"), leader_of(a_clients, "Apache")
    # Reads are counted by the server that answers them (read_per_namespace): both sessions
    # on the leader, so the same server of each ensemble answers them.
    sessions = [build_state(z_clients[zl]), build_state(a_clients[al])]
    zf, af = (zl + 1) % 3, (al + 1) % 3
    for role, zi, ai in (("leader", zl, al), ("follower", zf, af)):
        z, a = mntr(z_clients[zi]), mntr(a_clients[ai])
        invented = sorted(k for k in z if k not in a)
        check("%s mntr: every key zkrs prints is one Apache prints" % role, not invented,
              invented)
        for k in sorted(k for k in a if k not in z and k in ENSEMBLE_DIFFERENCES):
            print("difference: %s mntr: %s: %s" % (role, k, ENSEMBLE_DIFFERENCES[k]))
        undocumented = sorted(k for k in a if k not in z and base_name(k) not in NOT_PROVIDED
                              and k not in ENSEMBLE_DIFFERENCES)
        check("%s mntr: every Apache key zkrs does not print is documented" % role,
              not undocumented, undocumented)
        keys = ["server_state", "peer_state", "quorum_size", "znode_count", "ephemerals_count"]
        if role == "leader":
            keys += ["learners", "synced_followers", "synced_observers", "pending_syncs"]
        for k in keys:
            check_eq("%s mntr: %s" % (role, k), z.get(k), a.get(k))
        for cmd in ("zabstate", "leader", "voting_view", "observers", "server_stats", "stats",
                    "monitor"):
            (zs, zj), (as_, aj) = admin(z_admins[zi], cmd), admin(a_admins[ai], cmd)
            check_eq("%s %s: HTTP status and error" % (role, cmd), (zs, zj.get("error")),
                     (as_, aj.get("error")))
            if cmd == "monitor":
                continue
            check_shape("%s %s" % (role, cmd), cmd, zj, aj)
            if cmd in ("zabstate", "leader"):
                for k in ("is_leader", "voting", "zabstate"):
                    if k in aj:
                        check_eq("%s %s: %s" % (role, cmd, k), zj.get(k), aj[k])
            if cmd == "voting_view":
                check_eq("%s voting_view: learner types" % role,
                         sorted(v["learner_type"] for v in zj["current_config"].values()),
                         sorted(v["learner_type"] for v in aj["current_config"].values()))
    for s in sessions:
        ks.stop_client(s)
    print("monitoring: %d passed, %d failed" % (ks.PASSED, ks.FAILED), flush=True)
    return 1 if ks.FAILED else 0


if __name__ == "__main__":
    try:
        if sys.argv[1:2] == ["--ensemble"]:
            sys.exit(ensemble_main())
        sys.exit(main())
    except Exception as e:  # a crash is a failure, with the summary line the runner reads
        import traceback

        traceback.print_exc()
        print("monitoring: %d passed, %d failed" % (ks.PASSED, ks.FAILED + 1), flush=True)
        sys.exit(1)
