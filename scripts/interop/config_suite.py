#!/usr/bin/env python3
"""Interop suite: `/zookeeper/config` on zkrs and on Apache ZooKeeper 3.8, side by side.

Usage: config_suite.py SHAPE ZKRS_CLIENTS APACHE_CLIENTS
       (SHAPE names the configuration, for the messages; CLIENTS are HOST:PORT, comma-separated
       in server id order, one for a standalone server)

Both are fresh and started from equivalent zoo.cfg files (scripts/interop.sh, suite 9): the
same shape, their own ports. For each server id, kazoo reads `/zookeeper/config` from the zkrs
server and from the Apache server and compares:

- the bytes, with every port number replaced by PORT (the members' lines in the same order,
  the role spelled out, `;host:port` only where the server line had one, `version=<hex>`);
- the Stat (czxid, mzxid, pzxid, ctime, version, cversion, aversion, ephemeralOwner,
  numChildren, dataLength = the data's length; mtime is each server's clock: only "set or 0"
  is compared) and the ACL;
- the answers to writing it: setData, delete, a child create, setACL, and reconfig
  (reconfigEnabled=false).

Prints "ok - ..." / "FAIL - ..." per check, "apache: ..." with what Apache served, then
"config: N passed, M failed"; exits 1 if any check failed.
"""

import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True

import kazoo_suite as ks  # noqa: E402  (the counters and check())
from kazoo.client import KazooClient  # noqa: E402

CONFIG = "/zookeeper/config"


# The pass/fail counters and check() are kazoo_suite's (ks.PASSED, ks.FAILED).
check = ks.check


def check_eq(name, got, want):
    return check(name, got == want, "zkrs %r, Apache %r" % (got, want))


def modes(clients):
    out = []
    for c in clients:
        m = re.search(r"^Mode: (\S+)", ks.four_letter(c, "srvr"), re.M)
        out.append(m.group(1) if m else None)
    return out


def wait_ready(clients, what):
    """Until every server serves: one standalone, or exactly one leader (60 s at most)."""
    deadline = time.time() + 60
    while time.time() < deadline:
        ms = modes(clients)
        if ms == ["standalone"] or (ms.count("leader") == 1 and None not in ms):
            return ms
        time.sleep(0.3)
    raise RuntimeError("%s: not every server serving within 60 s: %r" % (what, modes(clients)))


def normalise(data):
    return re.sub(r":\d+", ":PORT", data.decode("utf-8", errors="replace"))


def stat_view(data, st):
    return {
        "czxid": st.czxid,
        "mzxid": st.mzxid,
        "pzxid": st.pzxid,
        "ctime": st.ctime,
        "mtime set": st.mtime > 0,
        "version": st.version,
        "cversion": st.cversion,
        "aversion": st.aversion,
        "ephemeralOwner": st.ephemeralOwner,
        "numChildren": st.numChildren,
        "dataLength is the data's": st.dataLength == len(data),
    }


def outcome(f):
    try:
        f()
        return "ok"
    except Exception as e:  # the exception's class names the ZooKeeper error
        return type(e).__name__


def writes(c):
    return {
        "setData": outcome(lambda: c.set(CONFIG, b"x")),
        "delete": outcome(lambda: c.delete(CONFIG)),
        "create child": outcome(lambda: c.create(CONFIG + "/x", b"")),
        "setACL": outcome(lambda: c.set_acls(CONFIG, [])),
        "reconfig": outcome(lambda: c.reconfig(joining=None, leaving="1", new_members=None)),
    }


def read(hostport):
    c = KazooClient(hosts=hostport, timeout=10)
    c.start(timeout=20)
    try:
        data, st = c.get(CONFIG)
        acl, _ = c.get_acls(CONFIG)
        return data, st, [(a.perms, a.id.scheme, a.id.id) for a in acl], writes(c)
    finally:
        c.stop()
        c.close()


def main():
    shape = sys.argv[1]
    zkrs, apache = (a.split(",") for a in sys.argv[2:4])
    if len(zkrs) != len(apache):
        raise RuntimeError("different numbers of servers")
    zm, am = wait_ready(zkrs, "zkrs"), wait_ready(apache, "Apache")
    # Which server leads depends on start order: compare the roles, not who has which.
    check_eq("%s: the same roles (srvr Mode)" % shape, sorted(zm), sorted(am))
    for i, (z, a) in enumerate(zip(zkrs, apache)):
        name = "%s server %d (zkrs %s, Apache %s)" % (shape, i + 1, zm[i], am[i])
        zd, zs, zacl, zw = read(z)
        ad, as_, aacl, aw = read(a)
        if i == 0:
            for line in ad.decode("utf-8", errors="replace").split("\n"):
                print("apache: %s: %s" % (name, line), flush=True)
        check_eq("%s: /zookeeper/config's bytes, ports aside" % name, normalise(zd), normalise(ad))
        check_eq("%s: its version line" % name, zd.decode().rsplit("\n", 1)[-1],
                 ad.decode().rsplit("\n", 1)[-1])
        zv, av = stat_view(zd, zs), stat_view(ad, as_)
        for k in av:
            check_eq("%s: stat %s" % (name, k), zv[k], av[k])
        check_eq("%s: ACL" % name, zacl, aacl)
        for k in aw:
            check_eq("%s: %s on it answers" % (name, k), zw[k], aw[k])
    print("config: %d passed, %d failed" % (ks.PASSED, ks.FAILED), flush=True)
    return 1 if ks.FAILED else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception as e:  # report, and count as a failure, rather than a bare traceback
        print("FAIL - config suite aborted: %r" % e, flush=True)
        print("config: %d passed, %d failed" % (ks.PASSED, ks.FAILED + 1), flush=True)
        sys.exit(1)
