#!/usr/bin/env python3
"""Interop suite: kazoo against a 3-node ZooKeeper ensemble, with kill -9 failover.

Usage: CLUSTER_CTL=FIFO cluster_suite.py HOSTS ID=HOST:PORT[,ID=HOST:PORT...]

HOSTS is the connect string naming every server; the second argument maps each
server id (server.N) to its client address. Run by scripts/interop.sh (suite 5),
which owns the server processes: to kill -9 or restart server N this script
prints "@kill N" / "@start N" on stdout and reads the one-line answer ("ok" or
"error: ...") from the FIFO named by CLUSTER_CTL.

What it checks:
  - kazoo_suite.py's basics, sequential, ephemeral, watches, cross-client watch
    and transactions suites through the 3-server connect string;
  - writes made through each server are read through every other after sync;
    watches, sequence numbers, ephemerals and multi across servers;
  - kill -9 of the server kazoo is connected to: kazoo reconnects elsewhere with
    the same session, its ephemeral is kept, it can write; the server restarts
    and catches up;
  - kill -9 of the leader (found by `srvr`'s Mode): a new leader is elected, the
    kazoo session, its ephemeral and every acknowledged write survive; the old
    leader restarts as a follower and catches up.

Prints one line per check ("ok - ..." / "FAIL - ..."), then a summary line
"kazoo-cluster: N passed, M failed", and exits 1 if any check failed.
"""

import logging
import os
import select
import sys
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True  # no __pycache__ in the source tree for kazoo_suite

import kazoo_suite as ks  # noqa: E402  (the standalone suite's checks and sub-suites)
from kazoo.client import KazooClient  # noqa: E402
from kazoo.protocol.states import EventType, KazooState  # noqa: E402
from kazoo.retry import KazooRetry  # noqa: E402

check, check_eq, section, Recorder = ks.check, ks.check_eq, ks.section, ks.Recorder

STABLE_WAIT = 30.0    # seconds for an election (or a restarted server's join) to settle
RECONNECT_WAIT = 30.0  # seconds for kazoo to reconnect after a kill
CTL_WAIT = 30.0       # seconds for the driving script to answer a control request

SERVERS = {}  # server id -> (host, port)


def info(msg):
    print("    %s" % msg, flush=True)


def four_letter(sid, word):
    """The server's answer to a four-letter word ('' if none)."""
    return ks.four_letter(address(sid), word)


def mode(sid):
    """`Mode:` from srvr: leader / follower / ..., or None while not serving."""
    for line in four_letter(sid, "srvr").splitlines():
        if line.startswith("Mode: "):
            return line[len("Mode: "):].strip()
    return None


def wait_stable(ids, timeout=STABLE_WAIT):
    """Until the servers `ids` all serve with exactly one leader; returns its id
    (None when that does not happen within `timeout`)."""
    deadline = time.monotonic() + timeout
    while True:
        modes = {sid: mode(sid) for sid in ids}
        leaders = [sid for sid, m in modes.items() if m == "leader"]
        if len(leaders) == 1 and all(m is not None for m in modes.values()):
            return leaders[0]
        if time.monotonic() >= deadline:
            info("not stable after %.0fs: %r" % (timeout, modes))
            return None
        time.sleep(0.1)


def control(cmd):
    """Ask the driving script to act on a server ("kill 2", "start 2"); its answer."""
    path = os.environ.get("CLUSTER_CTL")
    if not path:
        return "error: CLUSTER_CTL is not set"
    # Open our (reading) end first, without blocking, so that the script's
    # answer can be written as soon as it is ready.
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        print("@%s" % cmd, flush=True)
        deadline = time.monotonic() + CTL_WAIT
        buf = b""
        while b"\n" not in buf:
            left = deadline - time.monotonic()
            if left <= 0:
                return "error: no answer within %.0fs" % CTL_WAIT
            ready, _, _ = select.select([fd], [], [], left)
            if ready:
                chunk = os.read(fd, 4096)
                if not chunk:
                    time.sleep(0.05)  # the writer came and went; (Linux) keep polling
                buf += chunk
        return buf.split(b"\n", 1)[0].decode()
    finally:
        os.close(fd)


def connected_id(zk):
    """The id of the server kazoo's connection is to (None while disconnected)."""
    try:
        sock = zk._connection._socket
        if sock is None or not zk.connected:
            return None
        host, port = sock.getpeername()[:2]
    except (AttributeError, OSError):
        return None
    for sid, (_, p) in SERVERS.items():
        if p == port:
            return sid
    return None


def check_cons(zk, what):
    """`cons` lists kazoo's session on the server getpeername() names, and only there."""
    conn = connected_id(zk)
    tag = "sid=0x%x," % zk.client_id[0]
    holders = [i for i in sorted(SERVERS) if tag in four_letter(i, "cons")]
    check_eq("%s: cons lists kazoo's session on (only) the server it is connected to" % what,
             holders, [conn])


def address(sid):
    return "%s:%d" % SERVERS[sid]


def single_client(sid):
    """A client bound to server `sid` only."""
    return ks.new_client(address(sid))


def retry_policy():
    # Reconnect quickly and for as long as the checks' own deadlines allow.
    return KazooRetry(max_tries=-1, delay=0.1, backoff=1.5, max_delay=0.5, max_jitter=0.2)


# ----------------------------------------------------------------------------


def suite_cross_server(base):
    section("writes through one server, reads through another")
    ids = sorted(SERVERS)
    clients = {sid: single_client(sid) for sid in ids}
    try:
        for sid in ids:
            clients[sid].create("%s/via-%d" % (base, sid), b"written-through-%d" % sid)
        for reader in ids:
            c = clients[reader]
            check_eq("server %d: sync returns the path" % reader, c.sync(base), base)
            got = {}
            for writer in ids:
                try:
                    got[writer] = c.get("%s/via-%d" % (base, writer))[0]
                except Exception as e:  # noqa: BLE001
                    got[writer] = repr(e)
            check_eq("server %d reads what was written through every server (after sync)" % reader,
                     got, {w: b"written-through-%d" % w for w in ids})

        a, b = ids[0], ids[1]
        target = "%s/via-%d" % (base, a)
        rec = Recorder()
        clients[a].get(target, watch=rec)
        clients[b].set(target, b"changed-through-%d" % b)
        check("a watch set through server %d fires on a write through server %d" % (a, b),
              rec.wait())
        check_eq("... type CHANGED", rec.events and rec.events[0].type, EventType.CHANGED)
        check_eq("... and server %d then reads the new value" % a,
                 clients[a].get(target)[0], b"changed-through-%d" % b)

        seqp = base + "/xseq"
        clients[ids[0]].create(seqp)
        for sid in ids:
            clients[sid].sync(seqp)
        names = [clients[sid].create(seqp + "/n-", sequence=True) for sid in ids]
        check_eq("sequential creates through each server get consecutive numbers", names,
                 ["%s/n-%010d" % (seqp, i) for i in range(len(ids))])

        owner, watcher = ids[1], ids[2]
        eph = base + "/xeph"
        osid = clients[owner].client_id[0]
        clients[owner].create(eph, b"e", ephemeral=True)
        clients[watcher].sync(eph)
        st = clients[watcher].exists(eph)
        check_eq("server %d sees server %d's session's ephemeral, owned by that session"
                 % (watcher, owner), st and st.ephemeralOwner, osid)
        ks.stop_client(clients.pop(owner))
        clients[watcher].sync(eph)
        check("... and sees it removed once that session is closed",
              clients[watcher].exists(eph) is None)

        t = clients[watcher].transaction()
        t.create(base + "/xtxn", b"a")
        t.set_data(base + "/xtxn", b"b")
        t.create(base + "/xtxn/child")
        res = t.commit()
        check("a multi through server %d commits" % watcher,
              len(res) == 3 and res[0] == base + "/xtxn", repr(res))
        reader = ids[0]
        clients[reader].sync(base)
        data, st = clients[reader].get(base + "/xtxn")
        check("... and server %d reads all of its effects" % reader,
              data == b"b" and st.version == 1 and st.numChildren == 1,
              "data=%r stat=%r" % (data, st))
    finally:
        for c in clients.values():
            ks.stop_client(c)


def wait_reconnected(zk, states, avoid, timeout=RECONNECT_WAIT):
    """Until kazoo is connected again, to a server other than `avoid`; seconds taken or None."""
    t0 = time.monotonic()
    ok = ks.wait_until(lambda: KazooState.SUSPENDED in states
                       and connected_id(zk) not in (None, avoid), timeout)
    return time.monotonic() - t0 if ok else None


def check_session_kept(zk, states, sid, eph, what):
    check_eq("%s: same session id after reconnecting" % what, zk.client_id[0], sid)
    check("%s: the session was never LOST (expired)" % what, KazooState.LOST not in states,
          repr(states))
    st = zk.exists(eph)
    check_eq("%s: the session's ephemeral is still there, owned by it" % what,
             st and st.ephemeralOwner, sid)


def check_acked(zk, parent, n, what):
    zk.sync(parent)
    kids = zk.get_children(parent)
    check_eq("%s: every acknowledged write survived (%d nodes)" % (what, n), len(kids), n)


def write_acked(zk, parent, n):
    zk.ensure_path(parent)
    for i in range(n):
        zk.create("%s/a-%03d" % (parent, i), str(i).encode())


def restart_and_rejoin(sid, base, must_see, what):
    """Restarts server `sid`; checks it rejoins as a follower and serves `must_see`."""
    check_eq("%s: server %d restarted" % (what, sid), control("start %d" % sid), "ok")
    t0 = time.monotonic()
    leader = wait_stable(sorted(SERVERS))
    check("%s: server %d rejoins the ensemble as a follower" % (what, sid),
          leader is not None and leader != sid and mode(sid) == "follower",
          "leader=%r mode=%r" % (leader, mode(sid)))
    if leader is None:
        return
    info("server %d serving again after %.1fs" % (sid, time.monotonic() - t0))
    c = single_client(sid)
    try:
        c.sync(base)
        check("%s: server %d caught up (reads %s, written while it was down)" % (what, sid, must_see),
              c.exists(must_see) is not None)
    finally:
        ks.stop_client(c)


def suite_kill_connected(zk, states, base, eph):
    section("kill -9 the server kazoo is connected to")
    ids = sorted(SERVERS)
    leader = wait_stable(ids)
    victim = connected_id(zk)
    sid = zk.client_id[0]
    if not check("kazoo's connection is to one of the servers", victim is not None):
        return
    info("kazoo session 0x%x is connected to server %d (%s); kill -9 it"
         % (sid, victim, "leader" if victim == leader else "follower"))
    check_cons(zk, "before the kill")
    write_acked(zk, base + "/acked1", 20)
    del states[:]
    check_eq("server %d killed" % victim, control("kill %d" % victim), "ok")
    took = wait_reconnected(zk, states, victim)
    check("kazoo reconnects to another server within %.0fs" % RECONNECT_WAIT, took is not None,
          "states=%r" % states)
    if took is None:
        return
    info("reconnected to server %d after %.1fs" % (connected_id(zk), took))
    what = "after killing server %d" % victim
    check_session_kept(zk, states, sid, eph, what)
    check_cons(zk, what)
    after = base + "/after-kill-%d" % victim
    check_eq("%s: kazoo can write" % what, zk.create(after, b"x"), after)
    check_acked(zk, base + "/acked1", 20, what)
    rest = [i for i in ids if i != victim]
    now = wait_stable(rest)
    if victim == leader:
        check("%s (the leader): a new leader is elected" % what,
              now is not None and now != victim, "leader=%r" % now)
    else:
        check_eq("%s (a follower): the leader is unchanged" % what, now, leader)
    restart_and_rejoin(victim, base, after, what)


def suite_kill_leader(zk, states, base, eph):
    section("kill -9 the leader")
    ids = sorted(SERVERS)
    leader = wait_stable(ids)
    if not check("the ensemble has a leader", leader is not None):
        return
    sid = zk.client_id[0]
    conn = connected_id(zk)
    info("leader is server %d; kazoo session 0x%x is connected to server %s"
         % (leader, sid, conn))
    write_acked(zk, base + "/acked2", 20)
    del states[:]
    t0 = time.monotonic()
    check_eq("leader (server %d) killed" % leader, control("kill %d" % leader), "ok")
    rest = [i for i in ids if i != leader]
    new = wait_stable(rest)
    elected = time.monotonic() - t0
    check("a new leader is elected among servers %s within %.0fs" % (rest, STABLE_WAIT),
          new is not None and new != leader, "leader=%r" % new)
    if new is not None:
        info("server %d leads after %.1fs" % (new, elected))
    what = "after killing the leader"
    if conn == leader:
        ok = wait_reconnected(zk, states, leader) is not None
    else:
        # a follower drops its clients while it looks for the new leader; kazoo may or may
        # not have noticed yet (its connection can also survive): wait for a live connection
        ok = ks.wait_until(lambda: connected_id(zk) in rest, RECONNECT_WAIT)
    took = time.monotonic() - t0 if ok else None
    check("%s: kazoo is connected (to a live server) within %.0fs" % (what, RECONNECT_WAIT),
          took is not None, "states=%r" % states)
    if took is None:
        return
    info("kazoo connected to server %d, %.1fs after the kill (states seen: %s)"
         % (connected_id(zk), took, ", ".join(states) or "none"))
    check_session_kept(zk, states, sid, eph, what)
    check_cons(zk, what)
    check_acked(zk, base + "/acked2", 20, what)
    after = base + "/after-leader-kill"
    check_eq("%s: kazoo can write" % what, zk.create(after, b"y"), after)
    other = [i for i in rest if i != connected_id(zk)]
    if other:
        c = single_client(other[0])
        try:
            c.sync(after)
            check_eq("%s: the write is read through server %d" % (what, other[0]),
                     c.get(after)[0], b"y")
        finally:
            ks.stop_client(c)
    restart_and_rejoin(leader, base, after, what)


def main():
    if len(sys.argv) != 3:
        print("usage: cluster_suite.py HOSTS ID=HOST:PORT[,ID=HOST:PORT...]", file=sys.stderr)
        return 2
    hosts = sys.argv[1]
    for item in sys.argv[2].split(","):
        sid, addr = item.split("=", 1)
        host, port = addr.rsplit(":", 1)
        SERVERS[int(sid)] = (host, int(port))
    # kazoo logs the expected connection drops at WARNING; keep the output to checks
    logging.basicConfig(level=logging.ERROR)
    base = "/interop-cluster-kz-%d-%d" % (os.getpid(), int(time.time()))

    check("the ensemble is stable (all serving, one leader)",
          wait_stable(sorted(SERVERS)) is not None)
    states = []
    zk = KazooClient(hosts=hosts, timeout=10.0, connection_retry=retry_policy())
    zk.add_listener(states.append)
    try:
        zk.start(timeout=15)
    except Exception as e:  # noqa: BLE001
        check("kazoo connects with %s" % hosts, False, repr(e))
        print("kazoo-cluster: %d passed, %d failed" % (ks.PASSED, ks.FAILED), flush=True)
        return 1
    try:
        conn = connected_id(zk)
        check("kazoo connects with the 3-server connect string", conn is not None)
        info("kazoo session 0x%x on server %s" % (zk.client_id[0], conn))
        zk.create(base)
        # Other clients of the reused suites talk to the same server as `zk`, as
        # their expectations (reads without sync) assume; the cross-client watch
        # uses another server on purpose.
        same = address(conn)
        another = address([i for i in sorted(SERVERS) if i != conn][0])
        suites = [
            ("basics", lambda: ks.suite_basics(zk, base)),
            ("sequential", lambda: ks.suite_sequential(zk, base)),
            ("ephemeral", lambda: ks.suite_ephemeral(zk, same, base)),
            ("watches", lambda: ks.suite_watches(zk, base)),
            ("cross-client watch", lambda: ks.suite_cross_client_watch(zk, another, base)),
            ("transactions", lambda: ks.suite_transactions(zk, base)),
            ("cross-server", lambda: suite_cross_server(base)),
        ]
        for name, run in suites:
            try:
                run()
            except Exception as e:  # noqa: BLE001
                traceback.print_exc(file=sys.stdout)
                check("suite '%s' ran to completion" % name, False, "aborted by %r" % e)

        eph = base + "/failover-eph"
        zk.create(eph, b"mine", ephemeral=True)
        for name, run in [("kill connected", suite_kill_connected),
                          ("kill leader", suite_kill_leader)]:
            try:
                run(zk, states, base, eph)
            except Exception as e:  # noqa: BLE001
                traceback.print_exc(file=sys.stdout)
                check("suite '%s' ran to completion" % name, False, "aborted by %r" % e)

        zk.delete(base, recursive=True)
        ks.stop_client(zk)
        c = single_client(sorted(SERVERS)[0])
        try:
            c.sync("/")
            check("cleanup: the suite's tree is gone", c.exists(base) is None)
        finally:
            ks.stop_client(c)
    except Exception as e:  # noqa: BLE001
        traceback.print_exc(file=sys.stdout)
        check("suite ran to completion", False, "aborted by %r" % e)
    finally:
        try:
            ks.stop_client(zk)
        except Exception:  # noqa: BLE001
            pass
    print("kazoo-cluster: %d passed, %d failed" % (ks.PASSED, ks.FAILED), flush=True)
    return 1 if ks.FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
