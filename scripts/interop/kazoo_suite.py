#!/usr/bin/env python3
"""Interop suite: drive a ZooKeeper server with kazoo, the Python client.

Usage: kazoo_suite.py HOST:PORT

Every expectation below was validated against Apache ZooKeeper 3.8 (Debian's
`zookeeper` package) with `scripts/interop.sh --apache`.

Prints one line per check ("ok - ..." / "FAIL - ..."), then a summary line
"kazoo: N passed, M failed", and exits 1 if any check failed.
"""

import logging
import os
import socket
import subprocess
import sys
import threading
import time
import traceback

from kazoo.client import KazooClient
from kazoo.exceptions import (
    BadVersionError,
    InvalidACLError,
    NoAuthError,
    NoChildrenForEphemeralsError,
    NodeExistsError,
    NoNodeError,
    NotEmptyError,
    RolledBackError,
    RuntimeInconsistency,
)
from kazoo.protocol.states import EventType, KazooState, KeeperState
from kazoo.security import (
    CREATOR_ALL_ACL,
    READ_ACL_UNSAFE,
    make_digest_acl,
    make_digest_acl_credential,
)

WAIT = 10.0  # seconds to wait for any single asynchronous event

PASSED = 0
FAILED = 0


def check(name, cond, detail=""):
    global PASSED, FAILED
    if cond:
        PASSED += 1
        print("ok - %s" % name, flush=True)
    else:
        FAILED += 1
        extra = " (%s)" % detail if detail else ""
        print("FAIL - %s%s" % (name, extra), flush=True)
    return cond


def check_eq(name, got, want):
    return check(name, got == want, "got %r, want %r" % (got, want))


def check_raises(name, exc_type, fn, *args, **kwargs):
    try:
        result = fn(*args, **kwargs)
    except exc_type:
        return check(name, True)
    except Exception as e:  # noqa: BLE001 - report anything unexpected
        return check(name, False, "raised %r, want %s" % (e, exc_type.__name__))
    return check(name, False, "returned %r, want %s" % (result, exc_type.__name__))


def section(title):
    print("# --- %s" % title, flush=True)


def new_client(hosts):
    client = KazooClient(hosts=hosts, timeout=10.0, connection_retry={"max_tries": 3})
    client.start(timeout=15)
    return client


def four_letter(hostport, word):
    """The answer of the server at HOST:PORT to a four-letter word ('' if none)."""
    host, port = hostport.rsplit(":", 1)
    try:
        with socket.create_connection((host, int(port)), timeout=3) as s:
            s.sendall(word.encode())
            chunks = []
            while True:
                b = s.recv(65536)
                if not b:
                    break
                chunks.append(b)
            return b"".join(chunks).decode("utf-8", "replace")
    except OSError:
        return ""


def stop_client(client):
    try:
        client.stop()
    finally:
        client.close()


class Recorder:
    """A watcher callback that records events and signals an Event."""

    def __init__(self):
        self.events = []
        self.fired = threading.Event()

    def __call__(self, event):
        self.events.append(event)
        self.fired.set()

    def wait(self, timeout=WAIT):
        return self.fired.wait(timeout)


def wait_until(pred, timeout=WAIT, step=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(step)
    return pred()


# ----------------------------------------------------------------------------


def suite_basics(zk, base):
    section("create / get / set / stat")
    path = base + "/node"
    check_eq("create returns the path", zk.create(path, b"v0"), path)

    data, st = zk.get(path)
    check_eq("get returns the data", data, b"v0")
    check_eq("new node: version 0", st.version, 0)
    check_eq("new node: cversion 0", st.cversion, 0)
    check_eq("new node: aversion 0", st.aversion, 0)
    check_eq("new node: numChildren 0", st.numChildren, 0)
    check_eq("new node: dataLength 2", st.dataLength, 2)
    check_eq("new node: ephemeralOwner 0", st.ephemeralOwner, 0)
    check_eq("new node: czxid == mzxid", st.czxid, st.mzxid)
    check_eq("new node: pzxid == czxid", st.pzxid, st.czxid)
    check("new node: czxid > 0", st.czxid > 0, "czxid=%r" % st.czxid)
    check_eq("new node: ctime == mtime", st.ctime, st.mtime)
    now_ms = time.time() * 1000
    check("new node: ctime is wall-clock ms", abs(st.ctime - now_ms) < 60_000,
          "ctime=%r now=%r" % (st.ctime, now_ms))

    st1 = zk.set(path, b"value-1", version=0)
    check_eq("set with matching version bumps version to 1", st1.version, 1)
    check("set: mzxid advances past czxid", st1.mzxid > st1.czxid,
          "czxid=%r mzxid=%r" % (st1.czxid, st1.mzxid))
    check("set: czxid unchanged", st1.czxid == st.czxid)
    check_eq("set: dataLength updated", st1.dataLength, 7)
    check("set: mtime >= ctime", st1.mtime >= st1.ctime)
    data, st2 = zk.get(path)
    check_eq("get after set returns new data", data, b"value-1")
    check_eq("get after set: stat equals set's stat", st2, st1)

    check_raises("set with stale version -> BadVersionError",
                 BadVersionError, zk.set, path, b"stale", version=0)
    check_raises("delete with wrong version -> BadVersionError",
                 BadVersionError, zk.delete, path, version=5)
    st3 = zk.set(path, b"", version=-1)
    check_eq("set with version -1 is unconditional", st3.version, 2)
    data, _ = zk.get(path)
    check_eq("empty data round-trips as b''", data, b"")

    big = bytes(range(256)) * 400  # 100 KiB of every byte value
    zk.set(path, big)
    data, st4 = zk.get(path)
    check("100 KiB binary value round-trips", data == big, "len=%d" % len(data))
    check_eq("100 KiB value: dataLength", st4.dataLength, len(big))

    check_raises("get of missing node -> NoNodeError",
                 NoNodeError, zk.get, base + "/missing")
    check_raises("set of missing node -> NoNodeError",
                 NoNodeError, zk.set, base + "/missing", b"x")
    check_raises("delete of missing node -> NoNodeError",
                 NoNodeError, zk.delete, base + "/missing")
    check_raises("get_children of missing node -> NoNodeError",
                 NoNodeError, zk.get_children, base + "/missing")
    check_raises("create under missing parent -> NoNodeError",
                 NoNodeError, zk.create, base + "/missing/child")
    check_raises("create existing node -> NodeExistsError",
                 NodeExistsError, zk.create, path, b"again")
    check("exists of missing node returns None", zk.exists(base + "/missing") is None)
    est = zk.exists(path)
    check("exists of present node returns its stat", est is not None and est.version == 3,
          repr(est))

    p, cst = zk.create(base + "/with-stat", b"abc", include_data=True)
    check_eq("create(include_data=True) returns the path", p, base + "/with-stat")
    check("create(include_data=True) returns a stat",
          cst is not None and cst.version == 0 and cst.dataLength == 3 and cst.czxid > 0,
          repr(cst))

    section("children / parent stat")
    parent = base + "/parent"
    pst0 = zk.create(parent, b"p", include_data=True)[1]
    c1 = zk.create(parent + "/c1", b"one", include_data=True)[1]
    zk.create(parent + "/c2", b"two")
    _, pst = zk.get(parent)
    check_eq("parent: numChildren 2", pst.numChildren, 2)
    check_eq("parent: cversion 2 after two creates", pst.cversion, 2)
    check_eq("parent: version unchanged by child creates", pst.version, 0)
    check_eq("parent: mzxid unchanged by child creates", pst.mzxid, pst0.mzxid)
    check("parent: pzxid advanced past c1's czxid", pst.pzxid > c1.czxid,
          "pzxid=%r c1.czxid=%r" % (pst.pzxid, c1.czxid))

    check_eq("get_children lists sorted names",
             sorted(zk.get_children(parent)), ["c1", "c2"])
    children, st = zk.get_children(parent, include_data=True)
    check_eq("get_children(include_data=True) names", sorted(children), ["c1", "c2"])
    check("get_children(include_data=True) returns parent stat",
          st.numChildren == 2 and st.cversion == 2, repr(st))

    check_raises("delete of non-empty node -> NotEmptyError",
                 NotEmptyError, zk.delete, parent)
    zk.delete(parent + "/c2")
    _, pst2 = zk.get(parent)
    check_eq("parent: cversion 3 after a child delete", pst2.cversion, 3)
    check_eq("parent: numChildren 1 after a child delete", pst2.numChildren, 1)
    check("parent: pzxid advanced by the delete", pst2.pzxid > pst.pzxid)

    zk.ensure_path(base + "/deep/a/b/c")
    check("ensure_path creates all ancestors", zk.exists(base + "/deep/a/b/c") is not None)
    zk.ensure_path(base + "/deep/a/b/c")
    check("ensure_path on existing path is a no-op", True)
    zk.create(base + "/deep/a/x/y", b"", makepath=True)
    check("create(makepath=True) creates ancestors", zk.exists(base + "/deep/a/x/y") is not None)
    zk.delete(base + "/deep", recursive=True)
    check("delete(recursive=True) removes the subtree", zk.exists(base + "/deep") is None)

    check_eq("sync returns the path", zk.sync(base), base)


def suite_sequential(zk, base):
    section("sequential nodes")
    seqp = base + "/seq"
    zk.create(seqp)
    names = [zk.create(seqp + "/seq-", b"", sequence=True) for _ in range(3)]
    check_eq("sequential names are parent-cversion based, 10 digits",
             names, [seqp + "/seq-0000000000", seqp + "/seq-0000000001",
                     seqp + "/seq-0000000002"])
    zk.create(seqp + "/plain")
    zk.delete(names[0])
    _, st = zk.get(seqp)
    # Apache stores cversion as the number of child *creates*; the reported
    # cversion is 2*creates - numChildren (= creates + deletes).  The sequence
    # suffix is the stored count of creates, so it skips nothing on deletes.
    check_eq("reported cversion counts creates and deletes", st.cversion, 5)
    n = zk.create(seqp + "/other-", b"", sequence=True)
    check_eq("sequence suffix = number of child creates so far (not reported cversion)",
             n, seqp + "/other-0000000004")
    n2 = zk.create(seqp + "/", b"", sequence=True)
    check_eq("sequential with empty prefix", n2, seqp + "/0000000005")
    _, st = zk.get(seqp)
    check_eq("reported cversion after 6 creates and 1 delete", st.cversion, 7)


def suite_ephemeral(zk, hosts, base):
    section("ephemeral nodes")
    other = new_client(hosts)
    sid = other.client_id[0]
    check("second session has a non-zero session id", sid != 0)
    check("session ids differ between clients", sid != zk.client_id[0])
    eph = base + "/eph"
    other.create(eph, b"e", ephemeral=True)
    st = zk.exists(eph)
    check("other client sees the ephemeral node", st is not None)
    check_eq("ephemeralOwner is the owner's session id", st and st.ephemeralOwner, sid)
    check_raises("child of ephemeral -> NoChildrenForEphemeralsError",
                 NoChildrenForEphemeralsError, other.create, eph + "/child")
    es = other.create(base + "/eseq-", b"", ephemeral=True, sequence=True)
    check("ephemeral+sequential create works", es.startswith(base + "/eseq-") and len(es) == len(base + "/eseq-") + 10, es)

    rec = Recorder()
    zk.exists(eph, watch=rec)
    stop_client(other)
    check("ephemeral removed once its session is closed", zk.exists(eph) is None)
    check("ephemeral+sequential removed too", zk.exists(es) is None)
    check("exists-watch on the ephemeral fires on session close", rec.wait())
    check("... with type DELETED", rec.events and rec.events[0].type == EventType.DELETED,
          repr(rec.events))


def suite_watches(zk, base):
    section("one-shot watches")
    wp = base + "/watched"
    zk.create(wp, b"0")

    rec = Recorder()
    zk.get(wp, watch=rec)
    zk.set(wp, b"1")
    check("data watch fires on set", rec.wait())
    ev = rec.events[0] if rec.events else None
    check_eq("data watch event type CHANGED", ev and ev.type, EventType.CHANGED)
    check_eq("data watch event path", ev and ev.path, wp)
    check_eq("data watch event state CONNECTED", ev and ev.state, KeeperState.CONNECTED)
    zk.set(wp, b"2")
    zk.sync(wp)
    time.sleep(0.3)
    check_eq("data watch is one-shot (no second event)", len(rec.events), 1)

    rec = Recorder()
    zk.get_children(wp, watch=rec)
    zk.create(wp + "/kid")
    check("children watch fires on child create", rec.wait())
    ev = rec.events[0] if rec.events else None
    check_eq("children watch event type CHILD", ev and ev.type, EventType.CHILD)
    check_eq("children watch event path is the parent", ev and ev.path, wp)

    rec = Recorder()
    zk.get_children(wp, watch=rec)
    zk.set(wp, b"3")  # must NOT trigger a child watch
    zk.delete(wp + "/kid")
    check("children watch fires on child delete", rec.wait())
    check_eq("... only once, type CHILD", [e.type for e in rec.events], [EventType.CHILD])

    rec = Recorder()
    newp = base + "/born"
    check("exists-watch on missing node returns None", zk.exists(newp, watch=rec) is None)
    zk.create(newp)
    check("exists-watch fires on create", rec.wait())
    ev = rec.events[0] if rec.events else None
    check_eq("exists-watch event type CREATED", ev and ev.type, EventType.CREATED)
    check_eq("exists-watch event path", ev and ev.path, newp)

    data_rec, child_rec = Recorder(), Recorder()
    zk.get(newp, watch=data_rec)
    zk.get_children(newp, watch=child_rec)
    zk.delete(newp)
    check("data watch fires on delete", data_rec.wait())
    check("child watch fires on delete of the watched node", child_rec.wait())
    check_eq("data watch on delete: type DELETED",
             data_rec.events and data_rec.events[0].type, EventType.DELETED)
    check_eq("child watch on delete: type DELETED",
             child_rec.events and child_rec.events[0].type, EventType.DELETED)


def suite_cross_client_watch(zk, hosts, base):
    section("cross-client watch")
    wp = base + "/cross"
    zk.create(wp, b"0")
    other = new_client(hosts)
    try:
        rec = Recorder()
        zk.get(wp, watch=rec)
        other.set(wp, b"from-other")
        check("watch fires on another client's set", rec.wait())
        check_eq("... type CHANGED", rec.events and rec.events[0].type, EventType.CHANGED)
        data, _ = zk.get(wp)
        check_eq("change is visible after the event", data, b"from-other")
    finally:
        stop_client(other)


def suite_recipes_watch(zk, base):
    section("DataWatch / ChildrenWatch recipes")
    rp = base + "/recipe-watch"
    zk.create(rp, b"a")

    seen_data = []
    data_cond = threading.Condition()

    @zk.DataWatch(rp)
    def _dw(data, stat, event=None):
        with data_cond:
            seen_data.append((data, stat.version if stat else None,
                              event.type if event else None))
            data_cond.notify_all()

    def wait_data(n):
        with data_cond:
            return data_cond.wait_for(lambda: len(seen_data) >= n, WAIT)

    check("DataWatch called with initial value", wait_data(1))
    check_eq("DataWatch initial call", seen_data[:1], [(b"a", 0, None)])
    zk.set(rp, b"b")
    check("DataWatch called after set", wait_data(2))
    check_eq("DataWatch second call", seen_data[1:2], [(b"b", 1, EventType.CHANGED)])
    zk.set(rp, b"c")
    check("DataWatch re-registers and sees the next set", wait_data(3))
    check_eq("DataWatch third call", seen_data[2:3], [(b"c", 2, EventType.CHANGED)])

    seen_children = []
    child_cond = threading.Condition()

    @zk.ChildrenWatch(rp)
    def _cw(children):
        with child_cond:
            seen_children.append(sorted(children))
            child_cond.notify_all()

    def wait_children(n):
        with child_cond:
            return child_cond.wait_for(lambda: len(seen_children) >= n, WAIT)

    check("ChildrenWatch called with initial list", wait_children(1))
    check_eq("ChildrenWatch initial list is empty", seen_children[:1], [[]])
    zk.create(rp + "/x")
    check("ChildrenWatch called after create", wait_children(2))
    check_eq("ChildrenWatch sees [x]", seen_children[1:2], [["x"]])
    zk.create(rp + "/y")
    check("ChildrenWatch called after second create", wait_children(3))
    check_eq("ChildrenWatch sees [x, y]", seen_children[2:3], [["x", "y"]])
    zk.delete(rp + "/x")
    check("ChildrenWatch called after delete", wait_children(4))
    check_eq("ChildrenWatch sees [y]", seen_children[3:4], [["y"]])

    zk.delete(rp, recursive=True)
    check("DataWatch called with None after node delete", wait_data(4))
    check_eq("DataWatch deleted call", seen_data[3:4], [(None, None, EventType.DELETED)])


def suite_transactions(zk, base):
    section("transactions (multi)")
    tp = base + "/txn"
    t = zk.transaction()
    t.create(tp, b"a")
    t.set_data(tp, b"b")
    t.check(tp, 1)
    t.create(tp + "/child", b"c")
    results = t.commit()
    check_eq("committed multi returns 4 results", len(results), 4)
    check_eq("multi result[0]: create -> path", results[0], tp)
    r1 = results[1]
    check("multi result[1]: set_data -> ZnodeStat with version 1",
          hasattr(r1, "version") and r1.version == 1, repr(r1))
    check("multi: every op of one multi shares one zxid",
          hasattr(r1, "czxid") and r1.czxid == r1.mzxid, repr(r1))
    check_eq("multi result[2]: check -> True", results[2], True)
    check_eq("multi result[3]: create child -> path", results[3], tp + "/child")
    data, st = zk.get(tp)
    check_eq("multi effects visible: data", data, b"b")
    check_eq("multi effects visible: version", st.version, 1)
    check_eq("multi effects visible: numChildren", st.numChildren, 1)

    t = zk.transaction()
    t.create(tp + "/never", b"")
    t.check(tp, 99)
    t.set_data(tp, b"nope")
    t.delete(tp + "/child")
    results = t.commit()
    kinds = [type(r) for r in results]
    check_eq("failed multi result shapes",
             kinds, [RolledBackError, BadVersionError, RuntimeInconsistency,
                     RuntimeInconsistency])
    check("failed multi: earlier create rolled back", zk.exists(tp + "/never") is None)
    data, st = zk.get(tp)
    check("failed multi: nothing applied", data == b"b" and st.version == 1 and st.numChildren == 1,
          "data=%r version=%r" % (data, st.version))

    t = zk.transaction()
    t.delete(tp + "/child")
    t.delete(tp)
    results = t.commit()
    check_eq("multi delete child+parent -> [True, True]", results, [True, True])
    check("multi delete applied", zk.exists(tp) is None)

    t = zk.transaction()
    t.create(tp + "2", b"")
    t.create(tp + "2", b"")
    results = t.commit()
    check_eq("multi with duplicate create -> [RolledBack, NodeExists]",
             [type(r) for r in results], [RolledBackError, NodeExistsError])
    check("duplicate-create multi rolled back", zk.exists(tp + "2") is None)

    t = zk.transaction()
    t.check(base + "/no-such", 0)
    results = t.commit()
    check_eq("multi check on missing node -> [NoNodeError]",
             [type(r) for r in results], [NoNodeError])


def suite_acls(zk, hosts, base):
    section("digest ACLs")
    user, pw = "interop-user", "s3cret"
    authed = new_client(hosts)
    anon = new_client(hosts)
    try:
        authed.add_auth("digest", "%s:%s" % (user, pw))
        acl = make_digest_acl(user, pw, all=True)
        check_eq("make_digest_acl id is user:base64(sha1(user:pw))",
                 acl.id.id, make_digest_acl_credential(user, pw))
        sp = base + "/secret"
        authed.create(sp, b"classified", acl=[acl])

        data, _ = authed.get(sp)
        check_eq("authenticated client can read", data, b"classified")
        acls, st = authed.get_acls(sp)
        check_eq("get_acls returns the digest ACL", [(a.perms, a.id.scheme, a.id.id) for a in acls],
                 [(31, "digest", make_digest_acl_credential(user, pw))])
        check_eq("get_acls stat aversion 0", st.aversion, 0)

        check_raises("unauthenticated get -> NoAuthError", NoAuthError, anon.get, sp)
        check_raises("unauthenticated set -> NoAuthError", NoAuthError, anon.set, sp, b"x")
        check_raises("unauthenticated get_acls -> NoAuthError", NoAuthError, anon.get_acls, sp)
        check_raises("unauthenticated create child -> NoAuthError",
                     NoAuthError, anon.create, sp + "/kid")
        if os.environ.get("EXISTS_NEEDS_READ", "1") == "1":
            # ZooKeeper 3.8.4+/3.9.2+ (ZOOKEEPER-2590): exists of an existing node needs READ.
            check_raises("unauthenticated exists -> NoAuthError", NoAuthError, anon.exists, sp)
        else:
            st = anon.exists(sp)
            check("exists needs no permission", st is not None and st.dataLength == 10, repr(st))

        anon.add_auth("digest", "%s:wrong-password" % user)
        check_raises("wrong password still -> NoAuthError", NoAuthError, anon.get, sp)

        # all rights for the user, plus world:anyone:r
        st = authed.set_acls(sp, [acl] + list(READ_ACL_UNSAFE), version=0)
        check_eq("set_acls bumps aversion", st.aversion, 1)
        data, _ = anon.get(sp)
        check_eq("world:anyone:r lets anyone read", data, b"classified")
        check_raises("... but not write", NoAuthError, anon.set, sp, b"x")
        check_raises("set_acls with stale version -> BadVersionError",
                     BadVersionError, authed.set_acls, sp, [acl], version=0)

        # create with 'auth' scheme ACL: kazoo's CREATOR_ALL_ACL
        cp = base + "/creator"
        authed.create(cp, b"mine", acl=CREATOR_ALL_ACL)
        acls, _ = authed.get_acls(cp)
        check_eq("auth:: ACL is stored as the creator's digest identity",
                 [(a.perms, a.id.scheme, a.id.id) for a in acls],
                 [(31, "digest", make_digest_acl_credential(user, pw))])
        # anon holds a digest identity too (with the wrong password): auth:: expands to it
        cp2 = base + "/creator-wrong"
        anon.create(cp2, b"", acl=CREATOR_ALL_ACL)
        acls, _ = anon.get_acls(cp2)
        check_eq("auth:: ACL expands to whatever digest identity the session added",
                 [a.id.id for a in acls], [make_digest_acl_credential(user, "wrong-password")])
        fresh = new_client(hosts)
        try:
            check_raises("auth:: ACL from a session with no auth -> InvalidACLError",
                         InvalidACLError, fresh.create, base + "/creator2", b"",
                         acl=CREATOR_ALL_ACL)
        finally:
            stop_client(fresh)

        authed.delete(sp)
        check("authenticated client can delete", authed.exists(sp) is None)
        # DELETE is checked against the *parent's* ACL (here world:anyone:cdrwa),
        # so a client with no auth at all may delete a protected leaf.
        zk.delete(cp)
        zk.delete(cp2)
        check("unauthenticated client deletes protected leaves (parent ACL governs)",
              zk.exists(cp) is None and zk.exists(cp2) is None)
    finally:
        stop_client(authed)
        stop_client(anon)


def suite_recipes(zk, hosts, base):
    section("Lock / Counter / Election recipes")
    other = new_client(hosts)
    try:
        lp = base + "/lock"
        lock = zk.Lock(lp, "first")
        check("Lock acquire", lock.acquire(timeout=WAIT))
        check("Lock.is_acquired", lock.is_acquired)
        lock2 = other.Lock(lp, "second")
        check("second client's non-blocking acquire fails", lock2.acquire(blocking=False) is False)
        check_eq("Lock contenders", lock.contenders(), ["first"])

        got = threading.Event()

        def waiter():
            if lock2.acquire(timeout=WAIT):
                got.set()

        th = threading.Thread(target=waiter, daemon=True)
        th.start()
        ok = wait_until(lambda: lock.contenders() == ["first", "second"])
        check("blocked contender is queued behind holder", ok, repr(lock.contenders()))
        lock.release()
        check("Lock release hands the lock to the waiter", got.wait(WAIT))
        th.join(WAIT)
        lock2.release()
        check_eq("no contenders after release", lock.contenders(), [])

        cp = base + "/counter"
        counter = zk.Counter(cp)
        counter += 5
        counter2 = other.Counter(cp)
        counter2 += 2
        counter -= 1
        check_eq("Counter value across clients", counter.value, 6)

        ep = base + "/election"
        elected = threading.Event()
        stop_leading = threading.Event()
        election = zk.Election(ep, "leader-1")
        election2 = other.Election(ep, "leader-2")

        def lead():
            elected.set()
            stop_leading.wait(WAIT)

        th = threading.Thread(target=lambda: election.run(lead), daemon=True)
        th.start()
        check("Election: first candidate elected", elected.wait(WAIT))
        second_elected = threading.Event()
        th2 = threading.Thread(target=lambda: election2.run(second_elected.set), daemon=True)
        th2.start()
        ok = wait_until(lambda: election.contenders() == ["leader-1", "leader-2"])
        check("Election contenders in order", ok, repr(election.contenders()))
        stop_leading.set()
        th.join(WAIT)
        check("Election: second candidate elected after first steps down",
              second_elected.wait(WAIT))
        th2.join(WAIT)
    finally:
        stop_client(other)


def suite_misc(zk, hosts):
    section("server info / session")
    check_eq("ruok four-letter word", zk.command(b"ruok"), "imok")
    version = zk.server_version()
    check("server_version() parses to a tuple of ints",
          isinstance(version, tuple) and len(version) >= 3
          and all(isinstance(v, int) for v in version), repr(version))
    srvr = zk.command(b"srvr")
    check("srvr reports Mode: standalone", "Mode: standalone" in srvr, srvr)
    check("client state CONNECTED", zk.state == KazooState.CONNECTED)
    sid, pw = zk.client_id
    check("session password is 16 bytes", isinstance(pw, bytes) and len(pw) == 16, repr(pw))
    children = zk.get_children("/")
    check("/zookeeper is listed under /", "zookeeper" in children, repr(children))
    check("/zookeeper/quota exists", zk.exists("/zookeeper/quota") is not None)



RESUME_CHILD = r"""
import os, sys
from kazoo.client import KazooClient
c = KazooClient(sys.argv[1], timeout=10.0)
c.start(15)
c.create(sys.argv[2], b"", ephemeral=True)
sid, pw = c.client_id
print("%d %s" % (sid, pw.hex()), flush=True)
os._exit(0)  # vanish without closing the session
"""


def suite_session_resume(zk, hosts, base):
    section("session re-attach with (id, password)")
    eph = base + "/orphan"
    out = subprocess.run([sys.executable, "-c", RESUME_CHILD, hosts, eph],
                         capture_output=True, text=True, timeout=60)
    fields = out.stdout.split()
    if not check("child process created a session and an ephemeral", len(fields) == 2,
                 out.stdout + out.stderr[-400:]):
        return
    sid, pw = int(fields[0]), bytes.fromhex(fields[1])
    check("ephemeral survives its client process exiting without close",
          zk.exists(eph) is not None)
    resumed = KazooClient(hosts=hosts, timeout=10.0, client_id=(sid, pw))
    resumed.start(timeout=15)
    try:
        check_eq("re-attached client has the same session id", resumed.client_id[0], sid)
        st = resumed.exists(eph)
        check_eq("re-attached session still owns the ephemeral", st and st.ephemeralOwner, sid)

        bad = KazooClient(hosts=hosts, timeout=10.0, client_id=(sid, b"\0" * 16))
        bad.start(timeout=15)
        try:
            # Apache answers a wrong password as an expired session; kazoo then
            # silently starts a brand-new session.
            check("wrong password does not re-attach (a new session is made)",
                  bad.client_id[0] != sid, "sid=%r" % (bad.client_id,))
        finally:
            stop_client(bad)
        check("owner session unaffected by the bad re-attach", resumed.exists(eph) is not None)
    finally:
        stop_client(resumed)
    check("ephemeral removed when the re-attached session closes", zk.exists(eph) is None)


def main():
    if len(sys.argv) != 2:
        print("usage: kazoo_suite.py HOST:PORT", file=sys.stderr)
        return 2
    hosts = sys.argv[1]
    # kazoo logs expected reconnects/expiries at WARNING; keep the output to checks
    logging.basicConfig(level=logging.ERROR)
    base = "/interop-kz-%d-%d" % (os.getpid(), int(time.time()))
    suites = [
        ("basics", lambda zk: suite_basics(zk, base)),
        ("sequential", lambda zk: suite_sequential(zk, base)),
        ("ephemeral", lambda zk: suite_ephemeral(zk, hosts, base)),
        ("watches", lambda zk: suite_watches(zk, base)),
        ("cross-client watch", lambda zk: suite_cross_client_watch(zk, hosts, base)),
        ("watch recipes", lambda zk: suite_recipes_watch(zk, base)),
        ("transactions", lambda zk: suite_transactions(zk, base)),
        ("acls", lambda zk: suite_acls(zk, hosts, base)),
        ("recipes", lambda zk: suite_recipes(zk, hosts, base)),
        ("misc", lambda zk: suite_misc(zk, hosts)),
        ("session resume", lambda zk: suite_session_resume(zk, hosts, base)),
    ]
    try:
        zk = new_client(hosts)
    except Exception as e:  # noqa: BLE001
        check("connect to %s" % hosts, False, repr(e))
        print("kazoo: %d passed, %d failed" % (PASSED, FAILED), flush=True)
        return 1
    try:
        check("connect", zk.connected)
        zk.create(base)
        for name, run in suites:
            # an unexpected exception aborts one suite (one failed check), not all
            try:
                run(zk)
            except Exception as e:  # noqa: BLE001
                traceback.print_exc(file=sys.stdout)
                check("suite '%s' ran to completion" % name, False, "aborted by %r" % e)
        zk.delete(base, recursive=True)
        check("cleanup: recursive delete of the suite's root", zk.exists(base) is None)
    except Exception as e:  # noqa: BLE001
        traceback.print_exc(file=sys.stdout)
        check("suite ran to completion", False, "aborted by %r" % e)
    finally:
        try:
            stop_client(zk)
        except Exception:  # noqa: BLE001
            pass
    print("kazoo: %d passed, %d failed" % (PASSED, FAILED), flush=True)
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
