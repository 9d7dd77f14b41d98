#!/usr/bin/env bash
# Regenerates the *.apache.raw golden files (raw transcripts; the Rust test normalises) by running Apache's real zkCli.sh
# (Debian's zookeeper 3.8 package) against an Apache ZooKeeper 3.8 server.
# Usage: zk-client/tests/golden/gen-apache.sh [NAME...]   (default: every *.zk here)
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ZKCLI="${ZKCLI:-/usr/share/zookeeper/bin/zkCli.sh}"
WORK="$(mktemp -d)"
PID=""
cleanup() { [[ -n "$PID" ]] && kill "$PID" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
names=("$@")
if [[ ${#names[@]} == 0 ]]; then
    for f in "$HERE"/*.zk; do names+=("$(basename "$f" .zk)"); done
fi
for name in "${names[@]}"; do
    # a fresh server (empty data dir) per script, as the Rust test uses
    rm -rf "$WORK/data"; mkdir -p "$WORK/data"
    cat >"$WORK/zoo.cfg" <<CFG
tickTime=2000
dataDir=$WORK/data
clientPort=$port
clientPortAddress=127.0.0.1
4lw.commands.whitelist=*
admin.enableServer=false
extendedTypesEnabled=true
CFG
    cp="/etc/zookeeper/conf:/usr/share/java/zookeeper.jar"
    [[ -f /usr/share/java/slf4j-simple.jar ]] && cp="$cp:/usr/share/java/slf4j-simple.jar"
    # NAME.jvmflags: extra -D flags for this script's server (e.g. -Dzookeeper.enforceQuota=true)
    flags=()
    if [[ -f "$HERE/$name.jvmflags" ]]; then read -r -a flags <"$HERE/$name.jvmflags"; fi
    java -Xmx256m "${flags[@]}" -Dzookeeper.log.dir="$WORK" -cp "$cp" \
        org.apache.zookeeper.server.quorum.QuorumPeerMain "$WORK/zoo.cfg" >"$WORK/server.log" 2>&1 </dev/null &
    PID=$!
    for _ in $(seq 150); do
        r="$(timeout 2 bash -c 'exec 3<>/dev/tcp/127.0.0.1/'"$port"'; printf srvr >&3; cat <&3' 2>/dev/null || true)"
        [[ "$r" == *Zookeeper\ version* ]] && break
        sleep 0.2
    done
    # stdout and stderr merged, SLF4J noise dropped, like scripts/interop.sh
    # @SERVER@ in a script stands for the server's address
    { sed "s/@SERVER@/127.0.0.1:$port/g" "$HERE/$name.zk"; printf 'quit\n'; } \
        | timeout 60 "$ZKCLI" -server "127.0.0.1:$port" 2>&1 | grep -v '^SLF4J:' \
        >"$WORK/$name.raw" || true
    cp "$WORK/$name.raw" "$HERE/$name.apache.raw"
    kill "$PID"; wait "$PID" 2>/dev/null || true; PID=""
done
