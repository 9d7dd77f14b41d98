#!/usr/bin/env python3
"""Interop suite: kazoo over TLS to a server's secureClientPort.

Usage: tls_suite.py SECURE_HOST:PORT PLAIN_HOST:PORT CERT_DIR

CERT_DIR holds scripts/gen-certs.sh's files. The server (zkrs or Apache ZooKeeper, run by
scripts/interop.sh suite 7) trusts ca.pem, needs client certificates (ssl.clientAuth=need)
and has X509AuthenticationProvider.superUser=CN=admin,OU=ops,O=zkrs.

What it checks:
  - kazoo with client.pem (use_ssl, certfile/keyfile, ca) gets a session over TLS;
  - an ACL for x509:CN=client,OU=dev,O=zkrs (the certificate's subject DN as Java's
    X500Principal.getName() prints it) lets that client read and write; the `auth` scheme
    expands to that id;
  - the x509 super user (admin.pem) may read and change it; a plaintext client on the
    plain port may not (NoAuth);
  - refused: a certificate from another CA (rogue.pem), no certificate at all, and plaintext
    on the TLS port;
  - four-letter words answer over TLS (ruok, srvr).

Prints one line per check ("ok - ..." / "FAIL - ..."), then "tls: N passed, M failed", and
exits 1 if any check failed.
"""

import logging
import os
import socket
import ssl
import sys
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True

import kazoo_suite as ks  # noqa: E402
from kazoo.client import KazooClient  # noqa: E402
from kazoo.exceptions import NoAuthError  # noqa: E402
from kazoo.security import ACL, Id, Permissions  # noqa: E402

check, check_eq, check_raises, section = ks.check, ks.check_eq, ks.check_raises, ks.section

CLIENT_DN = "CN=client,OU=dev,O=zkrs"
ROOT = "/interop-tls"


def tls_client(hosts, certs, name, timeout=15):
    """A started kazoo client presenting <name>-cert.pem (None: no certificate)."""
    kw = {"use_ssl": True, "verify_certs": True, "ca": os.path.join(certs, "ca.pem")}
    if name:
        kw["certfile"] = os.path.join(certs, name + "-cert.pem")
        kw["keyfile"] = os.path.join(certs, name + "-key.pem")
    c = KazooClient(hosts=hosts, timeout=10.0, connection_retry={"max_tries": 1}, **kw)
    c.start(timeout=timeout)
    return c


def refused(hosts, certs, name):
    """True when a TLS session with this certificate cannot be had."""
    try:
        c = tls_client(hosts, certs, name, timeout=6)
    except Exception:  # noqa: BLE001 - a timeout or handshake error is the refusal
        return True
    try:
        c.stop()
        c.close()
    except Exception:  # noqa: BLE001
        pass
    return False


def tls_four_letter(hostport, certs, word):
    host, port = hostport.rsplit(":", 1)
    ctx = ssl.create_default_context(cafile=os.path.join(certs, "ca.pem"))
    ctx.load_cert_chain(os.path.join(certs, "client-cert.pem"), os.path.join(certs, "client-key.pem"))
    with socket.create_connection((host, int(port)), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname=host) as s:
            s.sendall(word.encode())
            out = b""
            while True:
                try:
                    b = s.recv(4096)
                except (ssl.SSLError, OSError):
                    break
                if not b:
                    break
                out += b
    return out.decode()


def main():
    logging.basicConfig(level=logging.CRITICAL)
    secure, plain, certs = sys.argv[1], sys.argv[2], sys.argv[3]

    section("a TLS session with a client certificate")
    client = tls_client(secure, certs, "client")
    check("kazoo connects over TLS with client.pem", client.connected)
    admin = tls_client(secure, certs, "admin")
    for c in (admin,):
        if c.exists(ROOT):
            c.delete(ROOT, recursive=True)
    x509_acl = [ACL(Permissions.ALL, Id("x509", CLIENT_DN))]
    client.create(ROOT, b"secret", acl=x509_acl)
    check_eq("the owner reads its x509-protected node", client.get(ROOT)[0], b"secret")
    acls, _ = client.get_acls(ROOT)
    check_eq("getACL shows the x509 id", [(a.id.scheme, a.id.id, a.perms) for a in acls],
             [("x509", CLIENT_DN, Permissions.ALL)])
    client.create(ROOT + "/auth", b"", acl=[ACL(Permissions.ALL, Id("auth", ""))])
    acls, _ = client.get_acls(ROOT + "/auth")
    check_eq("the auth scheme expands to the certificate's x509 id",
             [(a.id.scheme, a.id.id) for a in acls], [("x509", CLIENT_DN)])
    client.set(ROOT, b"changed")
    check_eq("the owner writes", client.get(ROOT)[0], b"changed")

    section("x509 super user and other clients")
    check_eq("the x509 super user reads any node", admin.get(ROOT)[0], b"changed")
    admin.set(ROOT, b"by admin")
    check_eq("the x509 super user writes any node", client.get(ROOT)[0], b"by admin")
    other = KazooClient(hosts=plain, timeout=10.0)
    other.start(timeout=15)
    check_raises("a plaintext client may not read it", NoAuthError, other.get, ROOT)
    check_raises("a plaintext client may not write it", NoAuthError, other.set, ROOT, b"x")
    other.stop()
    other.close()

    section("refused connections")
    check("a certificate from another CA is refused", refused(secure, certs, "rogue"))
    check("a client without a certificate is refused (clientAuth=need)", refused(secure, certs, None))
    plain_on_tls = KazooClient(hosts=secure, timeout=4.0, connection_retry={"max_tries": 1})
    try:
        plain_on_tls.start(timeout=6)
        ok = False
        plain_on_tls.stop()
    except Exception:  # noqa: BLE001
        ok = True
    check("plaintext on the TLS port gets no session", ok)
    check_eq("the server still serves the TLS client", client.get(ROOT)[0], b"by admin")

    section("four-letter words over TLS")
    check_eq("ruok over TLS", tls_four_letter(secure, certs, "ruok"), "imok")
    srvr = tls_four_letter(secure, certs, "srvr")
    check("srvr over TLS reports a Mode", "Mode: " in srvr, srvr)

    admin.delete(ROOT, recursive=True)
    for c in (client, admin):
        c.stop()
        c.close()


if __name__ == "__main__":
    try:
        main()
    except Exception:  # noqa: BLE001 - an unexpected error is a failed check, not a crash
        check("suite ran to the end", False, traceback.format_exc())
    print("tls: %d passed, %d failed" % (ks.PASSED, ks.FAILED), flush=True)
    sys.exit(1 if ks.FAILED else 0)
