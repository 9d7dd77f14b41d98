#!/usr/bin/env python3
"""A data directory moving between zkrs and Apache ZooKeeper, in both directions.

  datadir_suite.py write1 HOST:PORT   first server: build a tree; leave a live session's ephemeral
  datadir_suite.py check1 HOST:PORT   second server (same dataDir): everything is there; then
                                      write more
  datadir_suite.py check2 HOST:PORT   first server again: the second server's writes are there

Prints "ok - ..." / "FAIL - ..." per check and exits 1 on any failure.
"""
import os
import sys

from kazoo.client import KazooClient
from kazoo.exceptions import NoAuthError
from kazoo.security import make_digest_acl

ROOT = "/dd"
FAILED = 0


def check(what, cond, detail=""):
    global FAILED
    if cond:
        print(f"ok - {what}")
    else:
        FAILED += 1
        print(f"FAIL - {what} {detail}")


def client(server, auth=False):
    z = KazooClient(hosts=server, timeout=15)
    z.start(timeout=15)
    if auth:
        z.add_auth("digest", "alice:secret")
    return z


def write1(server):
    z = client(server, auth=True)
    z.create(ROOT, b"root")
    z.create(ROOT + "/data", b"v0")
    z.set(ROOT + "/data", b"v1")
    z.set(ROOT + "/data", b"v2")
    z.create(ROOT + "/secret", b"s", acl=[make_digest_acl("alice", "secret", all=True)])
    for _ in range(3):
        z.create(ROOT + "/seq-", b"", sequence=True)
    z.create(ROOT + "/gone", b"")
    z.delete(ROOT + "/gone")
    z.create(ROOT + "/big", b"x" * 50000)
    z.create(ROOT + "/null")  # kazoo sends b"" for no data
    # A live session's ephemeral: leave without closing the session.
    live = client(server)
    live.create(ROOT + "/eph", b"e", ephemeral=True)
    with open(os.environ["DD_STATE"], "w") as f:
        f.write(hex(live.client_id[0]))
    print("ok - tree written")
    sys.stdout.flush()
    os._exit(0)


def check_first_tree(z, server, owner):
    data, st = z.get(ROOT + "/data")
    check("data and version carried over", data == b"v2" and st.version == 2, repr((data, st)))
    check("big value carried over", z.get(ROOT + "/big")[0] == b"x" * 50000)
    kids = sorted(z.get_children(ROOT))
    # Sequence suffixes count every create under /dd so far: data and secret came first.
    check("children carried over", kids == ["big", "data", "eph", "null", "secret",
                                            "seq-0000000002", "seq-0000000003", "seq-0000000004"],
          repr(kids))
    _, rst = z.get(ROOT)
    # 9 creates and 1 delete: clients see cversion 10 and 8 children.
    check("cversion and numChildren carried over", (rst.cversion, rst.numChildren) == (10, 8), repr(rst))
    try:
        z.get(ROOT + "/secret")
        check("digest ACL enforced without auth", False)
    except NoAuthError:
        check("digest ACL enforced without auth", True)
    a = client(server, auth=True)
    check("digest ACL readable with auth", a.get(ROOT + "/secret")[0] == b"s")
    acl, _ = a.get_acls(ROOT + "/secret")
    check("digest ACL carried over", acl and acl[0].id.scheme == "digest" and acl[0].id.id.startswith("alice:"),
          repr(acl))
    a.stop()
    est = z.exists(ROOT + "/eph")
    check("the live session's ephemeral is there", est is not None and hex(est.ephemeralOwner) == owner,
          repr((est, owner)))


def check1(server):
    owner = open(os.environ["DD_STATE"]).read().strip()
    z = client(server)
    check_first_tree(z, server, owner)
    p = z.create(ROOT + "/seq-", b"", sequence=True)
    # Nine creates so far (gone, big, null and eph after the three sequential ones).
    check("sequence numbers continue", p == ROOT + "/seq-0000000009", p)
    z.set(ROOT + "/data", b"v3")
    z.create(ROOT + "/stay", b"from the second server")
    z.delete(ROOT + "/null")
    z.stop()
    z.close()


def check2(server):
    owner = open(os.environ["DD_STATE"]).read().strip()
    z = client(server)
    data, st = z.get(ROOT + "/data")
    check("the second server's setData is there", data == b"v3" and st.version == 3, repr((data, st)))
    check("the second server's create is there", z.get(ROOT + "/stay")[0] == b"from the second server")
    check("the second server's delete is there", z.exists(ROOT + "/null") is None)
    p = z.create(ROOT + "/seq-", b"", sequence=True)
    # Plus seq-0000000009 and stay on the second server.
    check("sequence numbers still continue", p == ROOT + "/seq-0000000011", p)
    est = z.exists(ROOT + "/eph")
    check("the ephemeral's session is still known", est is not None and hex(est.ephemeralOwner) == owner,
          repr((est, owner)))
    z.stop()
    z.close()


if __name__ == "__main__":
    phase, server = sys.argv[1], sys.argv[2]
    {"write1": write1, "check1": check1, "check2": check2}[phase](server)
    sys.exit(1 if FAILED else 0)
