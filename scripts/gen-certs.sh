#!/usr/bin/env bash
# Self-signed certificates for trying TLS with zkrs (and Apache ZooKeeper), made with the
# openssl CLI. Usage: scripts/gen-certs.sh [OUT_DIR]   (default: data/tls-certs)
#
# Writes PEM files, the format ZooKeeper's ssl.keyStore.type/ssl.trustStore.type=PEM reads:
#   ca.pem                 the CA certificate: the trust store of servers and clients
#   server.pem             key + certificate of the servers (CN=server,O=zkrs; SAN 127.0.0.1,
#                          localhost): ssl.keyStore.location and ssl.quorum.keyStore.location
#   client.pem             key + certificate of a client, subject CN=client,OU=dev,O=zkrs
#   admin.pem              key + certificate of a client, subject CN=admin,OU=ops,O=zkrs
#   other-ca.pem, rogue.pem  a second CA and a client certificate it signed (CN=client,...):
#                          a certificate every server here must refuse
#   *-cert.pem, *-key.pem  the same certificates and keys as separate files (kazoo, curl)
# RSA 2048 keys in PKCS#8, unencrypted (zkrs does not read encrypted keys), valid 825 days.
set -euo pipefail

out=${1:-data/tls-certs}
days=825
mkdir -p "$out"
cd "$out"
umask 077

ca() { # name subject
  openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days "$days" \
    -keyout "$1-key.pem" -out "$1.pem" -subj "$2" \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
}

leaf() { # name subject ca extendedKeyUsage [subjectAltName]
  local name=$1 subj=$2 issuer=$3 eku=$4 san=${5:-}
  openssl req -newkey rsa:2048 -nodes -sha256 -keyout "$name-key.pem" -out "$name.csr" \
    -subj "$subj" 2>/dev/null
  {
    echo "basicConstraints=CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    echo "extendedKeyUsage=$eku"
    if [ -n "$san" ]; then echo "subjectAltName=$san"; fi
  } > "$name.ext"
  openssl x509 -req -in "$name.csr" -CA "$issuer.pem" -CAkey "$issuer-key.pem" \
    -CAcreateserial -days "$days" -sha256 -extfile "$name.ext" -out "$name-cert.pem" 2>/dev/null
  cat "$name-key.pem" "$name-cert.pem" > "$name.pem"
  rm -f "$name.csr" "$name.ext"
}

ca ca "/O=zkrs/CN=zkrs test CA"
ca other-ca "/O=elsewhere/CN=another CA"
# Servers present this certificate to clients and, with sslQuorum, to each other (both ways).
leaf server "/O=zkrs/CN=server" ca "serverAuth,clientAuth" "IP:127.0.0.1,DNS:localhost"
leaf client "/O=zkrs/OU=dev/CN=client" ca "clientAuth"
leaf admin "/O=zkrs/OU=ops/CN=admin" ca "clientAuth"
leaf rogue "/O=zkrs/OU=dev/CN=client" other-ca "clientAuth"
cp ca.pem ca-cert.pem
rm -f ./*.srl
chmod 600 ./*
echo "certificates in $(pwd)"
