#!/usr/bin/env python3
"""Interop suite: kazoo's read-only sessions against a 3-node ensemble in read-only mode.

Usage: CLUSTER_CTL=FIFO readonly_suite.py HOSTS ID=HOST:PORT[,ID=HOST:PORT...]

Arguments and the control protocol ("@kill N" / "@start N", answered on the FIFO)
are cluster_suite.py's. The servers run with readonlymode.enabled=true (and
localSessionsEnabled=true, which Apache ZooKeeper 3.6+ needs for read-only
sessions). Run by scripts/interop.sh (suite 6).

What it checks:
  - a follower whose two peers are killed answers `isro` with `ro` and `srvr`
    with `Mode: read-only`;
  - kazoo with read_only=True connects to it (state CONNECTED_RO), reads what
    was written before the partition, and gets NotReadOnlyCallError for create,
    set, delete and a transaction;
  - kazoo without read_only cannot connect to it;
  - once the peers are back, the follower serves read/write again (`isro` rw) and
    the read-only client ends up CONNECTED and can write.

Prints one line per check ("ok - ..." / "FAIL - ..."), then a summary line
"kazoo-readonly: N passed, M failed", and exits 1 if any check failed.
"""

import logging
import os
import sys
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True

import cluster_suite as cs  # noqa: E402  (servers, four-letter words, control FIFO)
import kazoo_suite as ks  # noqa: E402
from kazoo.client import KazooClient  # noqa: E402
from kazoo.exceptions import NotReadOnlyCallError  # noqa: E402
from kazoo.handlers.threading import KazooTimeoutError  # noqa: E402
from kazoo.protocol.states import KeeperState  # noqa: E402

check, check_eq, check_raises = ks.check, ks.check_eq, ks.check_raises

RO_WAIT = 30.0  # seconds for a server without a quorum to turn read-only (2 s in both)


def isro(sid):
    return cs.four_letter(sid, "isro").strip()


def run(hosts):
    base = "/interop-ro-%d-%d" % (os.getpid(), int(time.time()))
    leader = cs.wait_stable(sorted(cs.SERVERS))
    if not check("the ensemble is stable (all serving, one leader)", leader is not None):
        return
    follower = [sid for sid in sorted(cs.SERVERS) if sid != leader][0]
    others = [sid for sid in sorted(cs.SERVERS) if sid != follower]
    check_eq("isro on a follower with its quorum", isro(follower), "rw")

    rw = KazooClient(hosts=cs.address(follower), timeout=10.0)
    rw.start(timeout=15)
    rw.create(base, b"before the partition")
    rw.sync(base)
    rw.stop()
    rw.close()

    for sid in others:
        check_eq("kill -9 server %d" % sid, cs.control("kill %d" % sid), "ok")
    check("the follower turns read-only (isro answers ro)",
          ks.wait_until(lambda: isro(follower) == "ro", timeout=RO_WAIT),
          "isro: %r" % isro(follower))
    check_eq("srvr Mode of the read-only server", cs.mode(follower), "read-only")

    states = []
    ro = KazooClient(hosts=cs.address(follower), timeout=10.0, read_only=True,
                     connection_retry=cs.retry_policy())
    ro.add_listener(states.append)
    ro.start(timeout=15)
    try:
        check_eq("kazoo read_only=True: state CONNECTED_RO", ro.client_state,
                 KeeperState.CONNECTED_RO)
        data, _ = ro.get(base)
        check_eq("a read-only session reads what was written before", data,
                 b"before the partition")
        check("a read-only session lists children", base[1:] in ro.get_children("/"))
        check_raises("create: NotReadOnlyCallError", NotReadOnlyCallError,
                     ro.create, base + "/new", b"x")
        check_raises("set: NotReadOnlyCallError", NotReadOnlyCallError, ro.set, base, b"x")
        check_raises("delete: NotReadOnlyCallError", NotReadOnlyCallError, ro.delete, base)

        def txn():
            t = ro.transaction()
            t.create(base + "/t", b"")
            return t.commit()

        check_raises("transaction: NotReadOnlyCallError", NotReadOnlyCallError, txn)
        check_eq("the data is unchanged after the refused writes", ro.get(base)[0],
                 b"before the partition")

        plain = KazooClient(hosts=cs.address(follower), timeout=4.0,
                            connection_retry={"max_tries": 1})
        try:
            check_raises("a client without read_only cannot connect", KazooTimeoutError,
                         plain.start, timeout=4)
        finally:
            plain.stop()
            plain.close()

        for sid in others:
            check_eq("restart server %d" % sid, cs.control("start %d" % sid), "ok")
        check("the ensemble is stable again", cs.wait_stable(sorted(cs.SERVERS)) is not None)
        check("the follower serves read/write again (isro answers rw)",
              ks.wait_until(lambda: isro(follower) == "rw", timeout=RO_WAIT),
              "isro: %r" % isro(follower))
        check("the read-only client gets a read/write connection",
              ks.wait_until(lambda: ro.client_state == KeeperState.CONNECTED, timeout=RO_WAIT),
              "state %r" % ro.client_state)
        ok = ks.wait_until(lambda: _try_create(ro, base + "/after"), timeout=RO_WAIT, step=0.2)
        check("the client writes once read/write", ok)
        ro.delete(base, recursive=True)
    finally:
        ro.stop()
        ro.close()


def _try_create(zk, path):
    try:
        zk.create(path, b"")
        return True
    except Exception:  # noqa: BLE001 - connection loss / expired while it moves
        return zk.exists(path) is not None if zk.connected else False


def main():
    if len(sys.argv) != 3:
        print("usage: readonly_suite.py HOSTS ID=HOST:PORT[,ID=HOST:PORT...]", file=sys.stderr)
        return 2
    for item in sys.argv[2].split(","):
        sid, addr = item.split("=", 1)
        host, port = addr.rsplit(":", 1)
        cs.SERVERS[int(sid)] = (host, int(port))
    logging.basicConfig(level=logging.CRITICAL)
    try:
        run(sys.argv[1])
    except Exception as e:  # noqa: BLE001
        traceback.print_exc(file=sys.stdout)
        check("the read-only suite ran to completion", False, "aborted by %r" % e)
    print("kazoo-readonly: %d passed, %d failed" % (ks.PASSED, ks.FAILED), flush=True)
    return 1 if ks.FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
