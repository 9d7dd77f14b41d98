#!/usr/bin/env bash
# Interop tests: drive a ZooKeeper server with real ZooKeeper clients.
#
#   scripts/interop.sh                    build zk-server, start it, run the suites
#   scripts/interop.sh --apache           run the same suites against Apache
#                                         ZooKeeper 3.8 (Debian's `zookeeper`):
#                                         1, 2, 5 and 6 with Apache ensembles, and 7
#   scripts/interop.sh --server HOST:PORT only run the suites against a running server
#   scripts/interop.sh --client-tests     only suite 4 (zk-client's tests on Apache)
#   scripts/interop.sh --cluster          only suite 5 (the 3-node zkrs pseudo-cluster)
#   scripts/interop.sh --readonly         only suite 6 (read-only mode; add --apache
#                                         to run it against Apache)
#   scripts/interop.sh --tls              only suite 7 (TLS; with --apache: against Apache)
#   scripts/interop.sh --monitoring       only suite 8 (mntr and AdminServer next to Apache)
#   scripts/interop.sh --config-node      only suite 9 (/zookeeper/config next to Apache)
#
# Suites:
#   1. zkcli - Apache's Java command-line client (zkCli.sh from Debian's package)
#   2. kazoo - the Python client (scripts/interop/kazoo_suite.py)
#   3. datadir - one data directory served by zkrs, then Apache, then zkrs (default mode)
#   4. client tests - zk-client's api/watches/recipes tests against Apache ZooKeeper
#      3.8 (ZK_TEST_SERVER, see zk-client/tests/common/mod.rs) (default mode, or alone)
#   5. cluster - a 3-node zkrs pseudo-cluster (zkN.cfg with server.N lines, myid):
#      zkCli and kazoo (scripts/interop/cluster_suite.py) with a connect string naming
#      all three, writes through one server read through another, kill -9 of the
#      server kazoo is connected to and of the leader (default mode, --apache, or alone)
#   6. readonly - a 3-node pseudo-cluster with readonlymode.enabled: a follower whose
#      peers are killed serves kazoo's read-only sessions (scripts/interop/
#      readonly_suite.py), refuses their writes, and serves read/write again once
#      they are back (default mode, --apache, or alone)
#   7. tls - a secureClientPort with client certificates: kazoo (scripts/interop/tls_suite.py:
#      x509 ACLs, super user, refused certificates, 4lw over TLS), Apache zkCli over TLS
#      (Netty), zkcli -client-configuration (default mode, --apache, or alone with --tls)
#   8. monitoring - zkrs and Apache ZooKeeper 3.8 side by side, given the same state by kazoo:
#      mntr and every AdminServer command compared key by key, the differences listed
#      (scripts/interop/monitoring_suite.py, docs/operations.md) (default mode, or alone)
#   9. config node - /zookeeper/config of zkrs and Apache ZooKeeper 3.8 started from equivalent
#      configs (3 voters + an observer; server lines with client addresses, in zoo.cfg and
#      in a dynamic config file; hierarchical groups and weights; standalone): the
#      bytes (ports aside), Stat, ACL and the answers to writing it
#      (scripts/interop/config_suite.py) (default mode, or alone with --config-node)
#
# The expectations were validated against Apache ZooKeeper 3.8.0 (Debian
# bookworm) with --apache: they are Apache's real behaviour.
#
# Installs what it needs when missing: Debian's `zookeeper` package via apt-get
# (only as root) and kazoo into a venv under ${XDG_CACHE_HOME:-~/.cache}/zkrs-interop.
#
# Environment knobs:
#   ZKCLI=/path/to/zkCli.sh   use this zkCli instead of searching for one
#   ZKRS_BIN, ZKRS_ZKCLI      use these zk-server / zkcli binaries instead of building them
#   KAZOO_SPEC=kazoo==X.Y.Z   kazoo requirement to install (default below)
#   INTEROP_KEEP=1            keep the temp dir (config, data, server log)
#   INTEROP_VERBOSE=1         print every zkCli transcript, not only failing ones
#
# Ends with a line "N passed, M failed" and exits 1 if M > 0.

set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SCRIPT_DIR/.." && pwd)"
INTEROP_DIR="$SCRIPT_DIR/interop"
CACHE_DIR="${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/zkrs-interop"
VENV_DIR="$CACHE_DIR/venv"
KAZOO_SPEC="${KAZOO_SPEC:-kazoo==2.11.0}"

START_TIMEOUT=30      # seconds for a server to start accepting clients
ZKCLI_TIMEOUT=30      # seconds for one zkCli invocation
KAZOO_TIMEOUT=300     # seconds for the whole kazoo suite
BUILD_TIMEOUT=1800    # seconds for cargo build
CLIENT_TESTS_TIMEOUT="${CLIENT_TESTS_TIMEOUT:-$BUILD_TIMEOUT}" # seconds for suite 4's cargo test

MODE=zkrs
TLS_ONLY=0            # --tls: only suite 7
# Whether exists/stat of an existing node needs READ: true from ZooKeeper 3.8.4/3.9.2 on
# (ZOOKEEPER-2590) and in zkrs; Debian's Apache ZooKeeper 3.8.0 predates it.
EXISTS_NEEDS_READ="${EXISTS_NEEDS_READ:-1}"
SERVER=""             # HOST:PORT the suites talk to
SERVER_PID=""         # set only for a server this script started
ZKRS_BIN="${ZKRS_BIN:-}"  # the zk-server binary, once built (or given)
ZKRS_ZKCLI="${ZKRS_ZKCLI:-}"  # our zkcli binary for suite 7 (built when not given)
APACHE_CMD=()         # set by apache_cmd
EXTRA_CONFIG=""       # extra zoo.cfg lines for the next server started
WORK_DIR=""
ZKCLI="${ZKCLI:-}"
PYTHON=""

PASSED=0
FAILED=0

# ----------------------------------------------------------------------------
# output and assertions

header() { printf '\n=== %s ===\n' "$*"; }
info() { printf '    %s\n' "$*"; }
die() { printf 'interop: error: %s\n' "$*" >&2; exit 2; }

pass() { PASSED=$((PASSED + 1)); printf 'ok - %s\n' "$1"; }
fail() {
    FAILED=$((FAILED + 1))
    printf 'FAIL - %s\n' "$1"
    if [[ -n "${2:-}" ]]; then printf '%s\n' "$2" | sed 's/^/      | /'; fi
}

# expect_line DESC OUTPUT LINE: OUTPUT has a line exactly equal to LINE.
expect_line() {
    if grep -Fxq -- "$3" <<<"$2"; then pass "$1"; else fail "$1: no line '$3'" "$2"; fi
}

# expect_no_line DESC OUTPUT LINE: no line of OUTPUT is exactly LINE.
expect_no_line() {
    if grep -Fxq -- "$3" <<<"$2"; then fail "$1: unexpected line '$3'" "$2"; else pass "$1"; fi
}

# expect_match DESC OUTPUT ERE: some line of OUTPUT matches the extended regex.
expect_match() {
    if grep -Eq -- "$3" <<<"$2"; then pass "$1"; else fail "$1: no line matching /$3/" "$2"; fi
}

# expect_in_order DESC OUTPUT LINE...: the exact LINEs appear in this order.
expect_in_order() {
    local desc="$1" out="$2"
    shift 2
    local want=("$@") i=0 line
    while IFS= read -r line; do
        if (( i < ${#want[@]} )) && [[ "$line" == "${want[$i]}" ]]; then i=$((i + 1)); fi
    done <<<"$out"
    if (( i == ${#want[@]} )); then
        pass "$desc"
    else
        fail "$desc: line '${want[$i]}' missing or out of order" "$out"
    fi
}

expect_eq() {
    if [[ "$2" == "$3" ]]; then pass "$1"; else fail "$1: got '$2', want '$3'"; fi
}

# ----------------------------------------------------------------------------
# installing the clients

find_zkcli() {
    local c
    for c in "$ZKCLI" "$(command -v zkCli.sh || true)" "$(command -v zkCli || true)" \
        /usr/share/zookeeper/bin/zkCli.sh; do
        if [[ -n "$c" && -x "$c" ]]; then ZKCLI="$c"; return 0; fi
    done
    return 1
}

ensure_zookeeper_package() {
    if find_zkcli && { [[ "$MODE" != apache && "$MODE" != client-tests ]] \
        || [[ -f /usr/share/java/zookeeper.jar ]]; }; then
        return 0
    fi
    if [[ "$(id -u)" != 0 ]]; then
        die "zkCli not found and not root: install Debian's 'zookeeper' package (apt-get install zookeeper)"
    fi
    command -v apt-get >/dev/null || die "zkCli not found and no apt-get to install the 'zookeeper' package"
    header "installing Debian package: zookeeper"
    export DEBIAN_FRONTEND=noninteractive
    timeout 600 apt-get update -qq </dev/null
    timeout 1200 apt-get install -y -qq zookeeper </dev/null >/dev/null
    find_zkcli || die "zookeeper installed but zkCli.sh still not found"
}

ensure_kazoo() {
    # reuse the cached venv if it holds exactly $KAZOO_SPEC
    if [[ -x "$VENV_DIR/bin/python" && "$(cat "$VENV_DIR/.kazoo-spec" 2>/dev/null)" == "$KAZOO_SPEC" ]] \
        && "$VENV_DIR/bin/python" -c 'import kazoo' 2>/dev/null; then
        PYTHON="$VENV_DIR/bin/python"
        return 0
    fi
    command -v python3 >/dev/null || die "python3 is required for the kazoo suite"
    header "installing $KAZOO_SPEC"
    rm -rf "$VENV_DIR"
    if mkdir -p "$CACHE_DIR" && timeout 120 python3 -m venv "$VENV_DIR" </dev/null \
        && timeout 600 "$VENV_DIR/bin/python" -m pip install -q --disable-pip-version-check \
            "$KAZOO_SPEC" </dev/null; then
        PYTHON="$VENV_DIR/bin/python"
        printf '%s\n' "$KAZOO_SPEC" >"$VENV_DIR/.kazoo-spec"
    else
        info "venv not usable; falling back to pip install --user"
        rm -rf "$VENV_DIR" 2>/dev/null || true
        timeout 600 python3 -m pip install -q --user "$KAZOO_SPEC" </dev/null \
            || timeout 600 python3 -m pip install -q --user --break-system-packages \
                "$KAZOO_SPEC" </dev/null \
            || die "could not install $KAZOO_SPEC"
        PYTHON="$(command -v python3)"
    fi
    "$PYTHON" -c 'import kazoo' || die "kazoo still not importable"
}

# ----------------------------------------------------------------------------
# servers

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# four_letter HOST PORT WORD: print the server's answer (empty if none).
four_letter() {
    # shellcheck disable=SC2016 # expanded by the inner bash
    timeout 3 bash -c 'exec 3<>"/dev/tcp/$1/$2" || exit 1; printf "%s" "$3" >&3; cat <&3' \
        _ "$1" "$2" "$3" 2>/dev/null || true
}

tcp_open() {
    # shellcheck disable=SC2016 # expanded by the inner bash
    timeout 3 bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$1" "$2" 2>/dev/null
}

write_config() {
    local port="$1" data="${2:-$WORK_DIR/data}"
    mkdir -p "$data"
    cat >"$WORK_DIR/zoo.cfg" <<EOF
tickTime=2000
dataDir=$data
clientPort=$port
clientPortAddress=127.0.0.1
4lw.commands.whitelist=*
admin.enableServer=false
EOF
    if [[ -n "$EXTRA_CONFIG" ]]; then printf '%s\n' "$EXTRA_CONFIG" >>"$WORK_DIR/zoo.cfg"; fi
}

# wait_for_server PORT: until `srvr` answers (or, for a server without 4lw
# support, until it accepts TCP connections); bounded by START_TIMEOUT.
wait_for_server() {
    local port="$1" t0=$SECONDS deadline=$((SECONDS + START_TIMEOUT)) reply
    while (( SECONDS < deadline )); do
        if ! kill -0 "$SERVER_PID" 2>/dev/null; then
            fail "server process exited during startup" "$(tail -n 40 "$WORK_DIR/server.log" 2>/dev/null)"
            return 1
        fi
        if tcp_open 127.0.0.1 "$port"; then
            reply="$(four_letter 127.0.0.1 "$port" srvr)"
            if [[ "$reply" == *"not currently serving"* ]]; then
                sleep 0.2
                continue
            fi
            info "server is up on 127.0.0.1:$port after $((SECONDS - t0))s"
            [[ -n "$reply" ]] && printf '%s\n' "$reply" | sed 's/^/      srvr| /'
            return 0
        fi
        sleep 0.2
    done
    fail "server did not accept connections within ${START_TIMEOUT}s" \
        "$(tail -n 40 "$WORK_DIR/server.log" 2>/dev/null)"
    return 1
}

# build_zkrs: cargo build --release (once per run); sets ZKRS_BIN.
build_zkrs() {
    [[ -n "$ZKRS_BIN" ]] && return 0
    header "building zk-server"
    (cd "$REPO_ROOT" && timeout "$BUILD_TIMEOUT" cargo build --release -p zk-server --bin zk-server) \
        || die "cargo build failed"
    local bin="${CARGO_TARGET_DIR:-$REPO_ROOT/target}/release/zk-server"
    [[ -x "$bin" ]] || die "built binary not found at $bin"
    ZKRS_BIN="$bin"
}

start_zkrs() {
    build_zkrs
    local bin="$ZKRS_BIN" port
    port="$(free_port)"
    write_config "$port" "${1:-}"
    header "starting zk-server on 127.0.0.1:$port"
    info "$bin $WORK_DIR/zoo.cfg"
    "$bin" "$WORK_DIR/zoo.cfg" >"$WORK_DIR/server.log" 2>&1 </dev/null &
    SERVER_PID=$!
    SERVER="127.0.0.1:$port"
    wait_for_server "$port"
}

# Apache ZooKeeper from Debian's package, in the foreground (as Debian's
# `zkServer.sh start-foreground` does: java -cp /etc/zookeeper/conf:zookeeper.jar
# QuorumPeerMain CONFIG, the jar's manifest supplying the rest of the classpath),
# without JMX, logging through slf4j-simple (Debian ships no slf4j binding on the
# server's classpath, so it would log nothing) into the temp dir.
# apache_cmd CONFIG LOGDIR: sets APACHE_CMD to the command line that runs it.
apache_cmd() {
    command -v java >/dev/null || die "java not found (Debian's zookeeper package depends on a JRE)"
    [[ -f /usr/share/java/zookeeper.jar ]] || die "/usr/share/java/zookeeper.jar missing"
    local cp="/etc/zookeeper/conf:/usr/share/java/zookeeper.jar"
    [[ -f /usr/share/java/slf4j-simple.jar ]] && cp="$cp:/usr/share/java/slf4j-simple.jar"
    # NettyServerCnxnFactory (TLS, suite 7) needs these; Debian's jar manifest omits them.
    local jar
    for jar in netty-codec netty-resolver; do
        [[ -f "/usr/share/java/$jar.jar" ]] && cp="$cp:/usr/share/java/$jar.jar"
    done
    APACHE_CMD=(java -Xmx512m
        "-Dzookeeper.log.dir=$2" -Dzookeeper.log.file=zookeeper.log
        -Dorg.slf4j.simpleLogger.defaultLogLevel=info
        -cp "$cp" org.apache.zookeeper.server.quorum.QuorumPeerMain "$1")
}

start_apache() {
    local port
    port="$(free_port)"
    write_config "$port" "${1:-}"
    apache_cmd "$WORK_DIR/zoo.cfg" "$WORK_DIR"
    local cmd=("${APACHE_CMD[@]}")
    header "starting Apache ZooKeeper on 127.0.0.1:$port"
    info "${cmd[*]}"
    "${cmd[@]}" >"$WORK_DIR/server.log" 2>&1 </dev/null &
    SERVER_PID=$!
    SERVER="127.0.0.1:$port"
    wait_for_server "$port"
}

# shellcheck disable=SC2317 # reached through the EXIT trap
stop_server() {
    [[ -n "$SERVER_PID" ]] || return 0
    local pid="$SERVER_PID" i
    SERVER_PID=""
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        for ((i = 0; i < 100; i++)); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$pid" 2>/dev/null; then
            info "server $pid ignored SIGTERM for 10s; sending SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    wait "$pid" 2>/dev/null || true
}

# shellcheck disable=SC2317 # reached through the EXIT trap
cleanup() {
    stop_server
    stop_cluster
    stop_monitoring
    if [[ -n "$WORK_DIR" && -d "$WORK_DIR" ]]; then
        if [[ "${INTEROP_KEEP:-}" == 1 ]]; then
            printf 'interop: kept %s\n' "$WORK_DIR" >&2
        else
            rm -rf "$WORK_DIR"
        fi
    fi
}

# ----------------------------------------------------------------------------
# Suite 1: zkCli

# zkcli CMD...: one zkCli session that runs each CMD (fed on stdin, so they
# share one session) and then `quit`s, which closes the session cleanly.  Prints
# the transcript, stdout and stderr merged (zkCli prints "Created ..." and all
# error messages on stderr), without slf4j's startup noise.
zkcli() {
    local out
    if [[ -n "$SERVER_PID" ]] && ! kill -0 "$SERVER_PID" 2>/dev/null; then
        printf '(server process is gone; zkCli not run)\n'
        return 0
    fi
    out="$( { printf '%s\n' "$@"; printf 'quit\n'; } \
        | timeout "$ZKCLI_TIMEOUT" "$ZKCLI" -server "$SERVER" 2>&1 | grep -v '^SLF4J:' || true)"
    if [[ "${INTEROP_VERBOSE:-}" == 1 ]]; then printf '%s\n' "$out" | sed 's/^/      zkCli| /' >&2; fi
    printf '%s\n' "$out"
}

# zkcli_cmd CMD ARGS...: one command as zkCli's trailing arguments (its
# non-interactive mode); sets ZKCLI_RC and ZKCLI_OUT.  Note: this mode exits
# without closing the session, so ephemerals made here linger ~30s.
zkcli_cmd() {
    set +e
    ZKCLI_OUT="$(timeout "$ZKCLI_TIMEOUT" "$ZKCLI" -server "$SERVER" "$@" 2>&1)"
    ZKCLI_RC=$?
    set -e
    ZKCLI_OUT="$(grep -v '^SLF4J:' <<<"$ZKCLI_OUT" || true)"
}

readonly CLI_ROOT=/interop-cli
readonly CLI_USER=user1 CLI_PASS=pass1
# base64(sha1("user1:pass1")), as Apache's DigestAuthenticationProvider makes it
readonly CLI_DIGEST='user1:+7K83PhyQ3ijGj0ADmljf0quVwQ='

suite_zkcli() {
    header "Suite 1: Apache zkCli ($ZKCLI) against $SERVER"
    local out

    # leftovers from an earlier run against the same server (--server mode)
    zkcli "addauth digest $CLI_USER:$CLI_PASS" "deleteall $CLI_ROOT" >/dev/null

    info "session 1: create / get / set / stat / version errors"
    out="$(zkcli \
        "create $CLI_ROOT data1" \
        "get $CLI_ROOT" \
        "set $CLI_ROOT data2" \
        "get $CLI_ROOT" \
        "stat $CLI_ROOT" \
        "set -v 0 $CLI_ROOT x" \
        "create $CLI_ROOT again" \
        "get $CLI_ROOT/missing" \
        "sync $CLI_ROOT" \
        "create -t 1000 $CLI_ROOT/ttl")"
    if ! grep -Fxq "WatchedEvent state:SyncConnected type:None path:null" <<<"$out"; then
        fail "zkCli gets a session (SyncConnected event); skipping the rest of the zkCli suite" "$out"
        return 0
    fi
    pass "zkCli connects (SyncConnected event)"
    expect_line "create prints the path" "$out" "Created $CLI_ROOT"
    expect_in_order "get shows data1, then data2 after set" "$out" "data1" "data2"
    expect_line "stat: dataVersion = 1" "$out" "dataVersion = 1"
    expect_line "stat: cversion = 0" "$out" "cversion = 0"
    expect_line "stat: aclVersion = 0" "$out" "aclVersion = 0"
    expect_line "stat: ephemeralOwner = 0x0" "$out" "ephemeralOwner = 0x0"
    expect_line "stat: dataLength = 5" "$out" "dataLength = 5"
    expect_line "stat: numChildren = 0" "$out" "numChildren = 0"
    expect_match "stat: cZxid in hex" "$out" '^cZxid = 0x[0-9a-f]+$'
    expect_match "stat: mZxid in hex" "$out" '^mZxid = 0x[0-9a-f]+$'
    expect_match "stat: ctime is a date" "$out" '^ctime = [A-Z][a-z]{2} [A-Z][a-z]{2} [ 0-9]{2} [0-9:]{8} [A-Z]+ [0-9]{4}$'
    expect_line "set -v with stale version: BadVersion" "$out" "version No is not valid : $CLI_ROOT"
    expect_line "create of existing node: NodeExists" "$out" "Node already exists: $CLI_ROOT"
    expect_line "get of missing node: NoNode" "$out" "Node does not exist: $CLI_ROOT/missing"
    expect_line "sync" "$out" "Sync is OK"
    expect_line "TTL node refused (extended types disabled)" "$out" \
        "KeeperErrorCode = Unimplemented for $CLI_ROOT/ttl"
    expect_line "quit closes the session" "$out" "WatchedEvent state:Closed type:None path:null"

    info "single-command mode: exit codes"
    zkcli_cmd get "$CLI_ROOT"
    expect_eq "zkCli get (argument mode) exits 0" "$ZKCLI_RC" 0
    expect_line "zkCli get (argument mode) prints the data" "$ZKCLI_OUT" "data2"
    zkcli_cmd get "$CLI_ROOT/missing"
    expect_eq "zkCli get of a missing node (argument mode) exits 1" "$ZKCLI_RC" 1
    expect_line "... and prints NoNode" "$ZKCLI_OUT" "Node does not exist: $CLI_ROOT/missing"

    info "session 2: sequential, ephemeral, children"
    out="$(zkcli \
        "create -s $CLI_ROOT/seq-" \
        "create -s $CLI_ROOT/seq-" \
        "create -e $CLI_ROOT/eph e" \
        "stat $CLI_ROOT/eph" \
        "create $CLI_ROOT/eph/child" \
        "ls $CLI_ROOT" \
        "ls -R $CLI_ROOT" \
        "getEphemerals $CLI_ROOT" \
        "getAllChildrenNumber $CLI_ROOT" \
        "delete $CLI_ROOT")"
    expect_line "first sequential node" "$out" "Created $CLI_ROOT/seq-0000000000"
    expect_line "second sequential node" "$out" "Created $CLI_ROOT/seq-0000000001"
    expect_line "ephemeral created" "$out" "Created $CLI_ROOT/eph"
    expect_match "ephemeral: ephemeralOwner is the session id" "$out" '^ephemeralOwner = 0x[0-9a-f]*[1-9a-f][0-9a-f]*$'
    expect_line "ephemeral cannot have children" "$out" \
        "Ephemerals cannot have children: $CLI_ROOT/eph/child"
    expect_line "ls lists children sorted" "$out" "[eph, seq-0000000000, seq-0000000001]"
    expect_in_order "ls -R lists the subtree" "$out" \
        "$CLI_ROOT" "$CLI_ROOT/eph" "$CLI_ROOT/seq-0000000000" "$CLI_ROOT/seq-0000000001"
    expect_line "getEphemerals lists the session's ephemerals" "$out" "[$CLI_ROOT/eph]"
    expect_line "getAllChildrenNumber" "$out" "3"
    expect_line "delete of non-empty node: NotEmpty" "$out" "Node not empty: $CLI_ROOT"

    info "session 3: the ephemeral is gone after session 2 quit"
    out="$(zkcli "ls $CLI_ROOT" "stat $CLI_ROOT")"
    expect_line "ls no longer lists eph" "$out" "[seq-0000000000, seq-0000000001]"
    expect_line "parent stat: numChildren = 2" "$out" "numChildren = 2"
    expect_line "parent stat: cversion = 4 (3 creates + 1 delete)" "$out" "cversion = 4"

    info "session 4: digest ACLs (authenticated)"
    out="$(zkcli \
        "addauth digest $CLI_USER:$CLI_PASS" \
        "create $CLI_ROOT/secret s digest:$CLI_DIGEST:cdrwa" \
        "create $CLI_ROOT/mine m auth::cdrwa" \
        "create $CLI_ROOT/ro r" \
        "setAcl $CLI_ROOT/ro world:anyone:r" \
        "get $CLI_ROOT/secret" \
        "getAcl $CLI_ROOT/secret" \
        "getAcl $CLI_ROOT/mine" \
        "getAcl $CLI_ROOT/ro" \
        "whoami")"
    expect_line "create with digest ACL" "$out" "Created $CLI_ROOT/secret"
    expect_line "create with auth:: ACL" "$out" "Created $CLI_ROOT/mine"
    expect_line "authenticated get reads the data" "$out" "s"
    expect_line "getAcl shows the digest id" "$out" "'digest,'$CLI_DIGEST"
    expect_line "getAcl shows the permissions" "$out" ": cdrwa"
    expect_no_line "auth:: is never stored literally" "$out" "'auth,'"
    expect_line "setAcl world:anyone:r is shown back" "$out" "'world,'anyone"
    expect_line "... with perms r" "$out" ": r"
    expect_line "whoami lists the digest identity" "$out" "digest: $CLI_USER"
    expect_line "whoami lists the ip identity" "$out" "ip: 127.0.0.1"

    info "session 5: digest ACLs (no auth / wrong password)"
    out="$(zkcli \
        "get $CLI_ROOT/secret" \
        "set $CLI_ROOT/secret x" \
        "getAcl $CLI_ROOT/secret" \
        "stat $CLI_ROOT/secret" \
        "get $CLI_ROOT/ro" \
        "set $CLI_ROOT/ro x" \
        "addauth digest $CLI_USER:wrong" \
        "get $CLI_ROOT/mine")"
    expect_line "unauthenticated get: NoAuth" "$out" "Insufficient permission : $CLI_ROOT/secret"
    local noauth_count
    noauth_count="$(grep -Fxc "Insufficient permission : $CLI_ROOT/secret" <<<"$out" || true)"
    if (( EXISTS_NEEDS_READ )); then
        # ZooKeeper 3.8.4+/3.9.2+ (ZOOKEEPER-2590): stat/exists of an existing node needs READ.
        expect_eq "get, set, getAcl and stat all refused (4x NoAuth)" "$noauth_count" 4
    else
        expect_eq "get, set and getAcl all refused (3x NoAuth)" "$noauth_count" 3
        expect_line "stat needs no permission" "$out" "dataLength = 1"
    fi
    expect_line "world:anyone:r node is readable" "$out" "r"
    expect_line "world:anyone:r node is not writable" "$out" "Insufficient permission : $CLI_ROOT/ro"
    expect_line "wrong password: NoAuth" "$out" "Insufficient permission : $CLI_ROOT/mine"

    info "session 6: watches"
    out="$(zkcli \
        "get -w $CLI_ROOT" \
        "set $CLI_ROOT data3" \
        "ls -w $CLI_ROOT" \
        "create $CLI_ROOT/w1" \
        "stat -w $CLI_ROOT/born" \
        "create $CLI_ROOT/born" \
        "get -w $CLI_ROOT/born" \
        "delete $CLI_ROOT/born" \
        "sync $CLI_ROOT")"
    expect_line "get -w then set: NodeDataChanged" "$out" \
        "WatchedEvent state:SyncConnected type:NodeDataChanged path:$CLI_ROOT"
    expect_line "ls -w then create: NodeChildrenChanged" "$out" \
        "WatchedEvent state:SyncConnected type:NodeChildrenChanged path:$CLI_ROOT"
    expect_line "stat -w on missing node prints NoNode" "$out" "Node does not exist: $CLI_ROOT/born"
    expect_line "stat -w then create: NodeCreated" "$out" \
        "WatchedEvent state:SyncConnected type:NodeCreated path:$CLI_ROOT/born"
    expect_line "get -w then delete: NodeDeleted" "$out" \
        "WatchedEvent state:SyncConnected type:NodeDeleted path:$CLI_ROOT/born"
    local changed
    changed="$(grep -c 'type:NodeDataChanged' <<<"$out" || true)"
    expect_eq "one-shot: exactly one NodeDataChanged" "$changed" 1

    info "session 7: persistent recursive watch (addWatch)"
    out="$(zkcli \
        "addWatch $CLI_ROOT" \
        "create $CLI_ROOT/pw" \
        "set $CLI_ROOT/pw 2" \
        "set $CLI_ROOT/pw 3" \
        "delete $CLI_ROOT/pw" \
        "sync $CLI_ROOT")"
    expect_in_order "addWatch: created, changed x2, deleted, in order" "$out" \
        "WatchedEvent state:SyncConnected type:NodeCreated path:$CLI_ROOT/pw" \
        "WatchedEvent state:SyncConnected type:NodeDataChanged path:$CLI_ROOT/pw" \
        "WatchedEvent state:SyncConnected type:NodeDataChanged path:$CLI_ROOT/pw" \
        "WatchedEvent state:SyncConnected type:NodeDeleted path:$CLI_ROOT/pw"
    expect_no_line "persistent recursive watch sends no NodeChildrenChanged" "$out" \
        "WatchedEvent state:SyncConnected type:NodeChildrenChanged path:$CLI_ROOT"

    info "session 8: deleteall"
    out="$(zkcli "deleteall $CLI_ROOT" "ls $CLI_ROOT")"
    # mine/secret lack world read, so deleteall (which first lists the whole
    # subtree) fails at whichever of them it visits first, deleting nothing
    expect_match "deleteall without auth stops at a protected node" "$out" \
        "^Insufficient permission : $CLI_ROOT/(mine|secret)\$"
    expect_line "... and deletes nothing" "$out" \
        "[mine, ro, secret, seq-0000000000, seq-0000000001, w1]"
    out="$(zkcli "addauth digest $CLI_USER:$CLI_PASS" "deleteall $CLI_ROOT" "stat $CLI_ROOT")"
    expect_line "deleteall with auth removes the whole tree" "$out" "Node does not exist: $CLI_ROOT"
}

# ----------------------------------------------------------------------------
# Suite 2: kazoo

suite_kazoo() {
    header "Suite 2: kazoo ($("$PYTHON" -c 'import importlib.metadata as m; print("kazoo", m.version("kazoo"))')) against $SERVER"
    local out rc
    set +e
    out="$(EXISTS_NEEDS_READ="$EXISTS_NEEDS_READ" timeout "$KAZOO_TIMEOUT" "$PYTHON" "$INTEROP_DIR/kazoo_suite.py" "$SERVER" 2>&1)"
    rc=$?
    set -e
    suite_summary kazoo "kazoo suite" "$out" "$rc" "; 124 = timed out after ${KAZOO_TIMEOUT}s"
}

# suite_summary NAME WHAT OUTPUT RC [NOTE]: prints a python suite's output without its summary
# line ("NAME: N passed, M failed"), adds the counts, and fails WHAT when the summary is
# missing or the suite exited non-zero with nothing failed (NOTE goes into the exit message).
suite_summary() {
    local name="$1" what="$2" out="$3" rc="$4" note="${5:-}" summary n m
    local pattern="^$name: ([0-9]+) passed, ([0-9]+) failed\$"
    printf '%s\n' "$out" | grep -Ev "$pattern" || true
    summary="$(grep -E "$pattern" <<<"$out" | tail -n 1 || true)"
    if [[ -z "$summary" ]]; then
        fail "$what ended without a summary (exit $rc$note)"
        return 0
    fi
    n="$(sed -E "s/$pattern/\\1/" <<<"$summary")"
    m="$(sed -E "s/$pattern/\\2/" <<<"$summary")"
    info "$name: $n passed, $m failed"
    PASSED=$((PASSED + n))
    FAILED=$((FAILED + m))
    if (( m == 0 && rc != 0 )); then fail "$what exited $rc with no failed checks"; fi
}

# ----------------------------------------------------------------------------

# ----------------------------------------------------------------------------
# suite 3: one data directory, both servers

datadir_phase() {
    local phase="$1" out
    out="$(DD_STATE="$WORK_DIR/dd-state" timeout 120 "$PYTHON" "$INTEROP_DIR/datadir_suite.py" "$phase" "$SERVER" 2>&1)" || true
    while IFS= read -r line; do
        case "$line" in
            "ok - "*) pass "${line#ok - }" ;;
            "FAIL - "*) fail "${line#FAIL - }" ;;
        esac
    done <<<"$out"
    grep -qE '^(ok|FAIL) - ' <<<"$out" || fail "datadir $phase produced no checks" "$out"
}

suite_datadir() {
    header "Suite 3: a dataDir written by zkrs, served by Apache ZooKeeper, and back"
    local dd="$WORK_DIR/shared-data" f out
    start_zkrs "$dd" || return 0
    datadir_phase write1
    stop_server
    # Apache's own tools read what we wrote.
    for f in "$dd"/version-2/log.*; do
        out="$(timeout 60 java -cp /usr/share/java/zookeeper.jar \
            org.apache.zookeeper.server.persistence.TxnLogToolkit "$f" 2>&1 | tr -d '\000')"
        if grep -aq "CRC ERROR" <<<"$out"; then fail "TxnLogToolkit reads $(basename "$f")" "$out"
        else expect_match "TxnLogToolkit reads $(basename "$f")" "$out" '^EOF reached after [0-9]+ txns'; fi
    done
    for f in "$dd"/version-2/snapshot.*; do
        out="$(timeout 60 java -cp '/usr/share/java/*:/etc/zookeeper/conf' \
            org.apache.zookeeper.server.SnapshotFormatter "$f" 2>&1)"
        expect_match "SnapshotFormatter reads $(basename "$f")" "$out" '^Last zxid: 0x'
    done
    start_apache "$dd" || return 0
    datadir_phase check1
    stop_server
    start_zkrs "$dd" || return 0
    datadir_phase check2
    stop_server
}

# ----------------------------------------------------------------------------
# Suite 4: zk-client's own end-to-end tests against Apache ZooKeeper 3.8

# The tests in zk-client/tests/{api,watches,recipes}.rs, pointed at Apache by
# ZK_TEST_SERVER (each test under its own chroot); ZK_TEST_SERVER_VERSION=3.8.0
# selects the documented 3.8.0-specific assertions. Tests that must control the
# server print "skipped: needs an in-process server" and are counted as skipped,
# not passed. Each passing test is one pass, each failing test one failure.
suite_client_tests() {
    header "Suite 4: zk-client tests (api, watches, recipes) against Apache ZooKeeper 3.8"
    # TTL nodes are tested too: Apache needs zookeeper.extendedTypesEnabled for them.
    EXTRA_CONFIG="extendedTypesEnabled=true"
    if ! start_apache "$WORK_DIR/apache-client-data"; then
        EXTRA_CONFIG=""
        stop_server
        return 0
    fi
    EXTRA_CONFIG=""
    local out rc=0 results n m skipped total_n=0 total_m=0 line
    out="$(cd "$REPO_ROOT" && ZK_TEST_SERVER="$SERVER" ZK_TEST_SERVER_VERSION=3.8.0 \
        timeout "$CLIENT_TESTS_TIMEOUT" cargo test -q --no-fail-fast -p zk-client \
        --test api --test watches --test recipes -- --show-output 2>&1)" || rc=$?
    results="$(grep -E '^test result: (ok|FAILED)\. [0-9]+ passed; [0-9]+ failed' <<<"$out" || true)"
    skipped="$(grep -c '^skipped: needs an in-process server' <<<"$out" || true)"
    while IFS= read -r line; do
        [[ -n "$line" ]] || continue
        n="$(sed -E 's/^test result: [A-Za-z]+\. ([0-9]+) passed; ([0-9]+) failed.*/\1/' <<<"$line")"
        m="$(sed -E 's/^test result: [A-Za-z]+\. ([0-9]+) passed; ([0-9]+) failed.*/\2/' <<<"$line")"
        total_n=$((total_n + n))
        total_m=$((total_m + m))
    done <<<"$results"
    if (( total_m > 0 )); then
        printf '%s\n' "$out" | grep -vE '^(\.+|running [0-9]+ tests?)$' | tail -n 80 | sed 's/^/      | /'
    fi
    info "cargo test: $total_n passed (of which $skipped skipped), $total_m failed, exit $rc"
    if (( total_n - skipped > 0 )); then
        PASSED=$((PASSED + total_n - skipped))
        printf 'ok - %d zk-client tests pass against Apache ZooKeeper 3.8\n' "$((total_n - skipped))"
    fi
    if (( total_m > 0 )); then
        FAILED=$((FAILED + total_m))
        printf 'FAIL - %d zk-client tests fail against Apache ZooKeeper 3.8\n' "$total_m"
    fi
    if [[ "$(grep -c . <<<"$results")" != 3 ]]; then
        fail "zk-client tests: expected 3 test binaries' results (exit $rc; 124 = timed out)" \
            "$(tail -n 40 <<<"$out")"
    elif (( total_m == 0 && rc != 0 )); then
        fail "zk-client tests exited $rc with no failed tests" "$(tail -n 40 <<<"$out")"
    fi
    stop_server
}

# ----------------------------------------------------------------------------
# Suite 5: a 3-node zkrs pseudo-cluster (Zab) with Apache zkCli and kazoo

# Servers 1..3 on 127.0.0.1 with free client/quorum/election ports, configured
# as operators do (zkN.cfg with server.N lines, dataDir/myid), tickTime=200 as
# zk-server/tests/cluster.rs uses. Each server's PID is kept in CLUSTER_PIDS and
# in $CLUSTER_DIR/zkN.pid; they are stopped by PID (also from the EXIT trap).
CLUSTER_DIR=""
CLUSTER_IDS=(1 2 3)
declare -A CLUSTER_PIDS=() CLUSTER_PORTS=()
CLUSTER_CONNECT=""    # 127.0.0.1:P1,127.0.0.1:P2,127.0.0.1:P3
CLUSTER_LEADER=""     # set by wait_cluster_stable
CLUSTER_KAZOO_PID=""  # the kazoo cluster script's `timeout` while it runs
CLUSTER_STABLE_TIMEOUT=30  # seconds for an election to settle
CLUSTER_KAZOO_TIMEOUT=240  # seconds for the whole kazoo cluster script

# cluster_ports N: N distinct free ports, one a line.
cluster_ports() {
    python3 -c '
import socket, sys
socks = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in socks:
    s.bind(("127.0.0.1", 0))
print("\n".join(str(s.getsockname()[1]) for s in socks))
for s in socks:
    s.close()' "$1"
}

write_cluster_configs() {
    local id servers="" hosts=() ports=() i=0
    mapfile -t ports < <(cluster_ports $((3 * ${#CLUSTER_IDS[@]})))
    (( ${#ports[@]} == 3 * ${#CLUSTER_IDS[@]} )) || die "could not find free ports"
    for id in "${CLUSTER_IDS[@]}"; do
        servers+="server.$id=127.0.0.1:${ports[i]}:${ports[i + 1]}"$'\n'
        CLUSTER_PORTS[$id]="${ports[i + 2]}"
        hosts+=("127.0.0.1:${ports[i + 2]}")
        i=$((i + 3))
    done
    CLUSTER_CONNECT="$(IFS=,; printf '%s' "${hosts[*]}")"
    for id in "${CLUSTER_IDS[@]}"; do
        mkdir -p "$CLUSTER_DIR/zk$id"
        printf '%s\n' "$id" >"$CLUSTER_DIR/zk$id/myid"
        cat >"$CLUSTER_DIR/zk$id.cfg" <<CFG
tickTime=200
initLimit=10
syncLimit=5
dataDir=$CLUSTER_DIR/zk$id
clientPort=${CLUSTER_PORTS[$id]}
clientPortAddress=127.0.0.1
4lw.commands.whitelist=*
admin.enableServer=false
CFG
        printf '%s' "$servers" >>"$CLUSTER_DIR/zk$id.cfg"
    done
}

# start_cluster_node ID: start server ID in the background (log appended).
start_cluster_node() {
    local id="$1"
    local cmd=("$ZKRS_BIN" "$CLUSTER_DIR/zk$id.cfg")
    if [[ "$MODE" == apache ]]; then
        apache_cmd "$CLUSTER_DIR/zk$id.cfg" "$CLUSTER_DIR/zk$id"
        cmd=("${APACHE_CMD[@]}")
    fi
    "${cmd[@]}" >>"$CLUSTER_DIR/zk$id.log" 2>&1 </dev/null &
    CLUSTER_PIDS[$id]=$!
    printf '%s\n' "$!" >"$CLUSTER_DIR/zk$id.pid"
}

# kill9_cluster_node ID: SIGKILL by the recorded PID (no shutdown path runs), reaped.
kill9_cluster_node() {
    local id="$1" pid="${CLUSTER_PIDS[$1]:-}"
    [[ -n "$pid" ]] || return 1
    CLUSTER_PIDS[$id]=""
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

# shellcheck disable=SC2317 # also reached through the EXIT trap
stop_cluster() {
    local id pid i
    if [[ -n "$CLUSTER_KAZOO_PID" ]]; then
        # interrupted while the kazoo script runs: timeout passes SIGTERM on to python
        kill -TERM "$CLUSTER_KAZOO_PID" 2>/dev/null || true
        wait "$CLUSTER_KAZOO_PID" 2>/dev/null || true
        CLUSTER_KAZOO_PID=""
    fi
    for id in "${!CLUSTER_PIDS[@]}"; do
        pid="${CLUSTER_PIDS[$id]}"
        if [[ -n "$pid" ]]; then kill -TERM "$pid" 2>/dev/null || true; fi
    done
    for id in "${!CLUSTER_PIDS[@]}"; do
        pid="${CLUSTER_PIDS[$id]}"
        [[ -n "$pid" ]] || continue
        CLUSTER_PIDS[$id]=""
        for ((i = 0; i < 100; i++)); do
            kill -0 "$pid" 2>/dev/null || break
            # a SIGTERMed child that exited is a zombie until waited for
            [[ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" == Z ]] && break
            sleep 0.1
        done
        if kill -0 "$pid" 2>/dev/null && [[ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" != Z ]]; then
            info "cluster server $id (pid $pid) ignored SIGTERM for 10s; sending SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
        fi
        wait "$pid" 2>/dev/null || true
    done
}

# cluster_mode ID: the `Mode:` line of server ID's srvr (empty while not serving).
cluster_mode() {
    four_letter 127.0.0.1 "${CLUSTER_PORTS[$1]}" srvr | sed -n 's/^Mode: //p'
}

# wait_cluster_stable ID...: until these servers all serve and exactly one of
# them is the leader (bounded by CLUSTER_STABLE_TIMEOUT); sets CLUSTER_LEADER.
wait_cluster_stable() {
    local ids=("$@") t0=$SECONDS deadline=$((SECONDS + CLUSTER_STABLE_TIMEOUT))
    local id mode leader_ids serving modes
    while :; do
        leader_ids=() serving=0 modes=""
        for id in "${ids[@]}"; do
            mode="$(cluster_mode "$id")"
            modes+=" $id=${mode:-none}"
            if [[ -n "$mode" ]]; then serving=$((serving + 1)); fi
            if [[ "$mode" == leader ]]; then leader_ids+=("$id"); fi
        done
        if (( serving == ${#ids[@]} && ${#leader_ids[@]} == 1 )); then
            CLUSTER_LEADER="${leader_ids[0]}"
            info "ensemble stable after $((SECONDS - t0))s:$modes"
            return 0
        fi
        if (( SECONDS >= deadline )); then
            CLUSTER_LEADER=""
            info "no stable ensemble within ${CLUSTER_STABLE_TIMEOUT}s:$modes"
            return 1
        fi
        sleep 0.2
    done
}

cluster_logs() {
    local id
    for id in "${CLUSTER_IDS[@]}"; do
        printf -- '--- zk%s.log (last 15 lines)\n' "$id"
        tail -n 15 "$CLUSTER_DIR/zk$id.log" 2>/dev/null || true
    done
}

# cluster_zkcli ID|all CMD...: a zkCli session (see zkcli) against one server
# or the three-server connect string.
cluster_zkcli() {
    local target="$1" server
    shift
    if [[ "$target" == all ]]; then server="$CLUSTER_CONNECT"; else server="127.0.0.1:${CLUSTER_PORTS[$target]}"; fi
    SERVER="$server" zkcli "$@"
}

readonly CLUSTER_CLI_ROOT=/interop-cluster-cli

suite_cluster_zkcli() {
    info "zkCli -server $CLUSTER_CONNECT"
    local out id prev
    out="$(cluster_zkcli all \
        "create $CLUSTER_CLI_ROOT data1" \
        "get $CLUSTER_CLI_ROOT" \
        "set $CLUSTER_CLI_ROOT data2" \
        "get $CLUSTER_CLI_ROOT" \
        "stat $CLUSTER_CLI_ROOT" \
        "set -v 0 $CLUSTER_CLI_ROOT x" \
        "create $CLUSTER_CLI_ROOT again" \
        "create -s $CLUSTER_CLI_ROOT/seq-" \
        "create -s $CLUSTER_CLI_ROOT/seq-" \
        "create -e $CLUSTER_CLI_ROOT/eph e" \
        "stat $CLUSTER_CLI_ROOT/eph" \
        "ls $CLUSTER_CLI_ROOT" \
        "getEphemerals $CLUSTER_CLI_ROOT" \
        "sync $CLUSTER_CLI_ROOT")"
    if ! grep -Fxq "WatchedEvent state:SyncConnected type:None path:null" <<<"$out"; then
        fail "cluster: zkCli gets a session through the 3-server connect string; skipping the zkCli part" "$out"
        return 0
    fi
    pass "cluster: zkCli connects with the 3-server connect string"
    expect_line "cluster: create prints the path" "$out" "Created $CLUSTER_CLI_ROOT"
    expect_in_order "cluster: get shows data1, then data2 after set" "$out" "data1" "data2"
    expect_line "cluster: stat: dataVersion = 1" "$out" "dataVersion = 1"
    expect_line "cluster: set -v with stale version: BadVersion" "$out" \
        "version No is not valid : $CLUSTER_CLI_ROOT"
    expect_line "cluster: create of existing node: NodeExists" "$out" \
        "Node already exists: $CLUSTER_CLI_ROOT"
    expect_line "cluster: first sequential node" "$out" "Created $CLUSTER_CLI_ROOT/seq-0000000000"
    expect_line "cluster: second sequential node" "$out" "Created $CLUSTER_CLI_ROOT/seq-0000000001"
    expect_line "cluster: ephemeral created" "$out" "Created $CLUSTER_CLI_ROOT/eph"
    expect_match "cluster: ephemeralOwner is the session id" "$out" \
        '^ephemeralOwner = 0x[0-9a-f]*[1-9a-f][0-9a-f]*$'
    expect_line "cluster: ls lists children sorted" "$out" "[eph, seq-0000000000, seq-0000000001]"
    expect_line "cluster: getEphemerals lists the session's ephemeral" "$out" "[$CLUSTER_CLI_ROOT/eph]"
    expect_line "cluster: sync" "$out" "Sync is OK"
    expect_line "cluster: quit closes the session" "$out" "WatchedEvent state:Closed type:None path:null"

    # Write through each server, read through the next (after sync): every
    # server serves the others' writes, and sees session 1's ephemeral gone.
    # Sequence suffixes count the parent's child creates ensemble-wide: seq-0,
    # seq-1 and eph above, then per server via-N and seq-(2N+2).
    prev=""
    for id in "${CLUSTER_IDS[@]}"; do
        out="$(cluster_zkcli "$id" \
            "sync $CLUSTER_CLI_ROOT" \
            "ls $CLUSTER_CLI_ROOT" \
            ${prev:+"get $CLUSTER_CLI_ROOT/via-$prev"} \
            "create $CLUSTER_CLI_ROOT/via-$id written-through-$id" \
            "create -s $CLUSTER_CLI_ROOT/seq-" \
            "get $CLUSTER_CLI_ROOT")"
        expect_line "cluster: server $id: sync" "$out" "Sync is OK"
        if [[ -z "$prev" ]]; then
            expect_line "cluster: server $id: the first session's ephemeral is gone after its quit" "$out" \
                "[seq-0000000000, seq-0000000001]"
        else
            expect_line "cluster: server $id reads the node created through server $prev" "$out" \
                "written-through-$prev"
        fi
        expect_line "cluster: server $id: create" "$out" "Created $CLUSTER_CLI_ROOT/via-$id"
        expect_line "cluster: server $id: sequence number continues the ensemble-wide counter" "$out" \
            "Created $CLUSTER_CLI_ROOT/seq-$(printf '%010d' $((2 * id + 2)))"
        expect_line "cluster: server $id: data set through the connect string" "$out" "data2"
        prev="$id"
    done
    out="$(cluster_zkcli "${CLUSTER_IDS[0]}" "sync $CLUSTER_CLI_ROOT" \
        "get $CLUSTER_CLI_ROOT/via-$prev" "ls $CLUSTER_CLI_ROOT")"
    expect_line "cluster: server ${CLUSTER_IDS[0]} reads the node created through server $prev" "$out" \
        "written-through-$prev"
    expect_line "cluster: every server's writes listed" "$out" \
        "[seq-0000000000, seq-0000000001, seq-0000000004, seq-0000000006, seq-0000000008, via-1, via-2, via-3]"
    out="$(cluster_zkcli all "deleteall $CLUSTER_CLI_ROOT" "stat $CLUSTER_CLI_ROOT")"
    expect_line "cluster: deleteall removes the tree" "$out" "Node does not exist: $CLUSTER_CLI_ROOT"
}

# The kazoo part runs scripts/interop/cluster_suite.py, which asks this shell to
# kill -9 / restart servers by printing "@kill ID" / "@start ID" and reading the
# answer from a FIFO, so that every server stays this script's child, by PID.
# (The FIFO is opened by python before it asks, so the write below does not block
# unless python is gone; `timeout` bounds it then.)
# run_cluster_kazoo LABEL SCRIPT TIMEOUT START_FN: runs SCRIPT (under scripts/interop/) against
# the cluster in CLUSTER_DIR; its "@start ID" requests restart a server with START_FN; its
# checks count as "LABEL kazoo: ..." and its summary line is "kazoo-LABEL: N passed, M failed".
# shellcheck disable=SC2016 # $1/$2 are expanded by the inner bash
run_cluster_kazoo() {
    local label="$1" script="$2" limit="$3" start_fn="$4"
    local ctl="$CLUSTER_DIR/ctl" servers="" id line rc="" answer summary=""
    mkfifo "$ctl"
    for id in "${CLUSTER_IDS[@]}"; do servers+="${servers:+,}$id=127.0.0.1:${CLUSTER_PORTS[$id]}"; done
    CLUSTER_KAZOO_PID=""
    while IFS= read -r line; do
        # $! is the process substitution's (timeout's) PID until a server is restarted below
        [[ -n "$CLUSTER_KAZOO_PID" ]] || CLUSTER_KAZOO_PID=$!
        case "$line" in
            "@kill "*)
                id="${line#@kill }"
                if kill9_cluster_node "$id"; then answer="ok"; else answer="error: server $id not running"; fi
                info "kill -9 server $id: $answer"
                timeout 10 bash -c 'printf "%s\n" "$2" >"$1"' _ "$ctl" "$answer" || true
                ;;
            "@start "*)
                id="${line#@start }"
                if [[ -n "${CLUSTER_PIDS[$id]:-}" ]]; then
                    answer="error: server $id already running"
                else
                    "$start_fn" "$id"
                    answer="ok"
                fi
                info "restart server $id (pid ${CLUSTER_PIDS[$id]}): $answer"
                timeout 10 bash -c 'printf "%s\n" "$2" >"$1"' _ "$ctl" "$answer" || true
                ;;
            "ok - "*) pass "$label kazoo: ${line#ok - }" ;;
            "FAIL - "*) fail "$label kazoo: ${line#FAIL - }" ;;
            "kazoo-$label: "*" passed, "*" failed") summary="$line"; info "$line" ;;
            *) printf '%s\n' "$line" ;;
        esac
    done < <(exec env CLUSTER_CTL="$ctl" timeout "$limit" "$PYTHON" -u \
        "$INTEROP_DIR/$script" "$CLUSTER_CONNECT" "$servers" 2>&1)
    [[ -n "$CLUSTER_KAZOO_PID" ]] || CLUSTER_KAZOO_PID=$!
    rc=0
    wait "$CLUSTER_KAZOO_PID" || rc=$?
    CLUSTER_KAZOO_PID=""
    if [[ -z "$summary" ]]; then
        fail "kazoo $label script ended without a summary (exit $rc; 124 = timed out after ${limit}s)"
    elif [[ "$rc" != 0 && "$summary" == *" 0 failed" ]]; then
        fail "kazoo $label script exited $rc with no failed checks"
    fi
}

suite_cluster_kazoo() {
    run_cluster_kazoo cluster cluster_suite.py "$CLUSTER_KAZOO_TIMEOUT" start_cluster_node
}

suite_cluster() {
    local what="zkrs"
    if [[ "$MODE" == apache ]]; then what="Apache ZooKeeper"; else build_zkrs; fi
    header "Suite 5: a 3-node $what pseudo-cluster: Apache zkCli, kazoo, kill -9 failover"
    CLUSTER_DIR="$WORK_DIR/cluster"
    mkdir -p "$CLUSTER_DIR"
    write_cluster_configs
    local id mode leaders=0 followers=0 saved_server="$SERVER" saved_pid="$SERVER_PID" failed0=$FAILED
    local t0=$SECONDS pids=""
    for id in "${CLUSTER_IDS[@]}"; do
        start_cluster_node "$id"
        pids+=" ${CLUSTER_PIDS[$id]}"
    done
    info "servers ${CLUSTER_IDS[*]} (pids$pids), connect string $CLUSTER_CONNECT, files in $CLUSTER_DIR"
    if ! wait_cluster_stable "${CLUSTER_IDS[@]}"; then
        fail "cluster: 3 servers elect exactly one leader within ${CLUSTER_STABLE_TIMEOUT}s" "$(cluster_logs)"
        stop_cluster
        return 0
    fi
    pass "cluster: 3 servers elect exactly one leader (server $CLUSTER_LEADER)"
    for id in "${CLUSTER_IDS[@]}"; do
        mode="$(cluster_mode "$id")"
        [[ "$mode" == leader ]] && leaders=$((leaders + 1))
        [[ "$mode" == follower ]] && followers=$((followers + 1))
        if [[ "$MODE" != apache ]]; then
            expect_line "cluster: zk-server status zk$id.cfg agrees with srvr" \
                "$(timeout 10 "$ZKRS_BIN" status "$CLUSTER_DIR/zk$id.cfg" 2>&1 || true)" "Mode: $mode"
        fi
    done
    expect_eq "cluster: srvr Mode: one leader and two followers" "$leaders/$followers" "1/2"

    SERVER_PID="" # zkcli's liveness check is for a single server
    suite_cluster_zkcli
    suite_cluster_kazoo
    SERVER="$saved_server" SERVER_PID="$saved_pid"

    local alive=0
    for id in "${CLUSTER_IDS[@]}"; do
        [[ -n "${CLUSTER_PIDS[$id]:-}" ]] && kill -0 "${CLUSTER_PIDS[$id]}" 2>/dev/null && alive=$((alive + 1))
    done
    expect_eq "cluster: all 3 server processes alive at the end" "$alive" 3
    if wait_cluster_stable "${CLUSTER_IDS[@]}"; then
        pass "cluster: still exactly one leader at the end (server $CLUSTER_LEADER)"
    else
        fail "cluster: still exactly one leader at the end" "$(cluster_logs)"
    fi
    if (( FAILED > failed0 )); then
        header "cluster server logs"
        cluster_logs
    fi
    stop_cluster
    info "suite 5 took $((SECONDS - t0))s"
}

# ----------------------------------------------------------------------------
# Suite 6: read-only mode (readonlymode.enabled=true) on a 3-node pseudo-cluster

# The cluster of suite 5 (its configs, PIDs and stop_cluster), each server also
# with -Dreadonlymode.enabled=true (a JVM flag: Apache reads no such zoo.cfg key)
# and localSessionsEnabled=true (Apache 3.6+ refuses read-only sessions without).
READONLY_KAZOO_TIMEOUT=240  # seconds for the whole kazoo read-only script

start_readonly_node() {
    local id="$1"
    local cmd=(env SERVER_JVMFLAGS=-Dreadonlymode.enabled=true "$ZKRS_BIN" "$CLUSTER_DIR/zk$id.cfg")
    if [[ "$MODE" == apache ]]; then
        apache_cmd "$CLUSTER_DIR/zk$id.cfg" "$CLUSTER_DIR/zk$id"
        cmd=("${APACHE_CMD[0]}" -Dreadonlymode.enabled=true "${APACHE_CMD[@]:1}")
    fi
    "${cmd[@]}" >>"$CLUSTER_DIR/zk$id.log" 2>&1 </dev/null &
    CLUSTER_PIDS[$id]=$!
}

# As suite_cluster_kazoo, restarting servers in read-only mode.
suite_readonly_kazoo() {
    run_cluster_kazoo readonly readonly_suite.py "$READONLY_KAZOO_TIMEOUT" start_readonly_node
}

suite_readonly() {
    local what="zkrs" id t0=$SECONDS failed0=$FAILED
    if [[ "$MODE" == apache ]]; then what="Apache ZooKeeper"; else build_zkrs; fi
    header "Suite 6: read-only mode on a 3-node $what pseudo-cluster, with kazoo"
    CLUSTER_DIR="$WORK_DIR/readonly"
    mkdir -p "$CLUSTER_DIR"
    write_cluster_configs
    for id in "${CLUSTER_IDS[@]}"; do
        printf 'localSessionsEnabled=true\n' >>"$CLUSTER_DIR/zk$id.cfg"
        start_readonly_node "$id"
    done
    info "connect string $CLUSTER_CONNECT, files in $CLUSTER_DIR"
    if wait_cluster_stable "${CLUSTER_IDS[@]}"; then
        suite_readonly_kazoo
    else
        fail "readonly: 3 servers elect exactly one leader within ${CLUSTER_STABLE_TIMEOUT}s" "$(cluster_logs)"
    fi
    if (( FAILED > failed0 )); then
        header "read-only cluster server logs"
        cluster_logs
    fi
    stop_cluster
    info "suite 6 took $((SECONDS - t0))s"
}

# Suite 7: TLS (secureClientPort) with kazoo, Apache zkCli and zkcli

# A standalone server (zkrs, or Apache with --apache) with a plaintext clientPort and a
# secureClientPort, certificates from scripts/gen-certs.sh, ssl.clientAuth=need and an x509
# super user. Apache serves TLS only with Netty (serverCnxnFactory); zkrs ignores that key.
# Apache's zkCli speaks TLS only with ClientCnxnSocketNetty, and Debian's zookeeper.jar
# manifest lists netty-handler/-transport/-buffer/-common but not netty-resolver and
# netty-codec, which that socket also needs: they are added to zkCli's classpath here.
# ensure_openssl: the openssl CLI for scripts/gen-certs.sh (Debian's `openssl` package).
ensure_openssl() {
    command -v openssl >/dev/null && return 0
    [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null || return 1
    export DEBIAN_FRONTEND=noninteractive
    timeout 600 apt-get update -qq </dev/null && timeout 600 apt-get install -y -qq openssl </dev/null >/dev/null
}

suite_tls() {
    local what="zkrs"
    [[ "$MODE" == apache ]] && what="Apache ZooKeeper"
    header "Suite 7: TLS to a $what secureClientPort: kazoo, Apache zkCli, zkcli"
    local certs="$WORK_DIR/certs" sport out rc
    if ! ensure_openssl || ! "$REPO_ROOT/scripts/gen-certs.sh" "$certs" >/dev/null; then
        fail "tls: scripts/gen-certs.sh makes the certificates"
        return 0
    fi
    sport="$(free_port)"
    EXTRA_CONFIG="secureClientPort=$sport
secureClientPortAddress=127.0.0.1
serverCnxnFactory=org.apache.zookeeper.server.NettyServerCnxnFactory
ssl.keyStore.location=$certs/server.pem
ssl.trustStore.location=$certs/ca.pem
ssl.clientAuth=need
authProvider.x509=org.apache.zookeeper.server.auth.X509AuthenticationProvider
X509AuthenticationProvider.superUser=CN=admin,OU=ops,O=zkrs"
    local started=0
    if [[ "$MODE" == apache ]]; then
        start_apache "$WORK_DIR/tls-data" && started=1
    else
        start_zkrs "$WORK_DIR/tls-data" && started=1
    fi
    EXTRA_CONFIG=""
    if (( ! started )); then stop_server; return 0; fi
    local secure="127.0.0.1:$sport"

    set +e
    out="$(timeout "$KAZOO_TIMEOUT" "$PYTHON" "$INTEROP_DIR/tls_suite.py" "$secure" "$SERVER" "$certs" 2>&1)"
    rc=$?
    set -e
    suite_summary tls "tls kazoo suite" "$out" "$rc"

    local cp="/etc/zookeeper/conf:/usr/share/java/zookeeper.jar:/usr/share/java/netty-resolver.jar:/usr/share/java/netty-codec.jar"
    local flags="-cp $cp -Dzookeeper.client.secure=true -Dzookeeper.clientCnxnSocket=org.apache.zookeeper.ClientCnxnSocketNetty"
    flags+=" -Dzookeeper.ssl.keyStore.location=$certs/client.pem -Dzookeeper.ssl.trustStore.location=$certs/ca.pem"
    out="$( { printf 'create /interop-tls-cli over-tls\n'; printf 'get /interop-tls-cli\n'; printf 'whoami\n'; printf 'delete /interop-tls-cli\n'; printf 'quit\n'; } \
        | CLIENT_JVMFLAGS="$flags" timeout "$ZKCLI_TIMEOUT" "$ZKCLI" -server "$secure" 2>&1 | grep -v '^SLF4J:' || true)"
    expect_line "tls: Apache zkCli (Netty, client certificate) creates over TLS" "$out" "Created /interop-tls-cli"
    expect_line "tls: Apache zkCli reads over TLS" "$out" "over-tls"
    expect_line "tls: Apache zkCli's whoami shows the x509 identity" "$out" "x509: CN=client,OU=dev,O=zkrs"
    flags="${flags//client.pem/rogue.pem}"
    out="$(CLIENT_JVMFLAGS="$flags" timeout "$ZKCLI_TIMEOUT" "$ZKCLI" -server "$secure" -timeout 3000 ls / 2>&1 | grep -v '^SLF4J:' || true)"
    expect_no_line "tls: Apache zkCli with a certificate from another CA gets no session" "$out" "[zookeeper]"

    if [[ "$MODE" != apache ]]; then
        local zkcli_bin="$ZKRS_ZKCLI"
        if [[ -n "$zkcli_bin" ]] || (cd "$REPO_ROOT" && timeout "$BUILD_TIMEOUT" cargo build -q --release -p zk-client --bin zkcli); then
            zkcli_bin="${zkcli_bin:-${CARGO_TARGET_DIR:-$REPO_ROOT/target}/release/zkcli}"
            printf 'zookeeper.client.secure=true\nzookeeper.ssl.keyStore.location=%s\nzookeeper.ssl.trustStore.location=%s\n' \
                "$certs/admin.pem" "$certs/ca.pem" >"$WORK_DIR/tls-client.properties"
            out="$(timeout "$ZKCLI_TIMEOUT" "$zkcli_bin" -server "$secure" -client-configuration "$WORK_DIR/tls-client.properties" whoami 2>&1 || true)"
            expect_line "tls: zkcli -client-configuration shows the x509 identity" "$out" "x509: CN=admin,OU=ops,O=zkrs"
        else
            fail "tls: cargo build of zkcli"
        fi
    fi
    stop_server
}

# Suite 8: mntr and the AdminServer, zkrs next to Apache ZooKeeper 3.8

MON_PIDS=()

# shellcheck disable=SC2317 # also reached through the EXIT trap
stop_monitoring() {
    local pid i
    for pid in "${MON_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${MON_PIDS[@]}"; do
        for ((i = 0; i < 100; i++)); do
            kill -0 "$pid" 2>/dev/null || break
            [[ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" == Z ]] && break
            sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    MON_PIDS=()
}

# Apache's AdminServer (Jetty) needs the servlet API, which Debian's zookeeper package does
# not pull in: libservlet-api-java.
ensure_servlet_api() {
    [[ -f /usr/share/java/servlet-api.jar ]] && return 0
    [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null || return 1
    header "installing Debian package: libservlet-api-java (Apache's AdminServer)"
    export DEBIAN_FRONTEND=noninteractive
    timeout 600 apt-get update -qq </dev/null
    timeout 1200 apt-get install -y -qq libservlet-api-java </dev/null >/dev/null
    [[ -f /usr/share/java/servlet-api.jar ]]
}

# mon_wait CLIENT_PORT ADMIN_PORT NAME LOG: until ruok answers imok and the AdminServer answers.
mon_wait() {
    local deadline=$((SECONDS + START_TIMEOUT))
    while (( SECONDS < deadline )); do
        if [[ "$(four_letter 127.0.0.1 "$1" ruok)" == imok ]] && "$PYTHON" -c '
import sys, urllib.request
urllib.request.urlopen("http://127.0.0.1:%s/commands/ruok" % sys.argv[1], timeout=2).read()' \
            "$2" 2>/dev/null; then
            info "$3 is up (client $1, admin $2)"
            return 0
        fi
        sleep 0.2
    done
    fail "$3 did not start with its AdminServer within ${START_TIMEOUT}s" "$(tail -n 30 "$4" 2>/dev/null)"
    return 1
}

# mon_start KIND CONFIG LOG: start zkrs or Apache (with its AdminServer) in the background.
mon_start() {
    local cmd=("$ZKRS_BIN" "$2") i
    if [[ "$1" == apache ]]; then
        apache_cmd "$2" "$(dirname "$3")"
        cmd=("${APACHE_CMD[@]}")
        for i in "${!cmd[@]}"; do
            if [[ "${cmd[$i]}" == -cp ]]; then
                cmd[i + 1]="${cmd[i + 1]}:/usr/share/java/servlet-api.jar"
            fi
        done
    fi
    "${cmd[@]}" >>"$3" 2>&1 </dev/null &
    MON_PIDS+=($!)
}

# Two 3-voter ensembles, zkrs and Apache, side by side: the quorum keys and commands.
mon_ensembles() {
    local dir="$1" ports=() kind id base servers out rc
    local -A clients=() admins=()
    mapfile -t ports < <(cluster_ports 24)
    for kind in zkrs apache; do
        servers=""
        for id in 1 2 3; do
            base=$(( (id - 1) * 4 ))
            [[ "$kind" == apache ]] && base=$((base + 12))
            servers+="server.$id=127.0.0.1:${ports[base + 2]}:${ports[base + 3]}"$'\n'
        done
        for id in 1 2 3; do
            base=$(( (id - 1) * 4 ))
            [[ "$kind" == apache ]] && base=$((base + 12))
            mkdir -p "$dir/$kind$id"
            printf '%s\n' "$id" >"$dir/$kind$id/myid"
            cat >"$dir/$kind$id.cfg" <<CFG
tickTime=200
initLimit=10
syncLimit=5
dataDir=$dir/$kind$id
clientPort=${ports[base]}
clientPortAddress=127.0.0.1
4lw.commands.whitelist=*
admin.serverAddress=127.0.0.1
admin.serverPort=${ports[base + 1]}
CFG
            printf '%s' "$servers" >>"$dir/$kind$id.cfg"
            clients[$kind]+="${clients[$kind]:+,}127.0.0.1:${ports[base]}"
            admins[$kind]+="${admins[$kind]:+,}127.0.0.1:${ports[base + 1]}"
            mon_start "$kind" "$dir/$kind$id.cfg" "$dir/$kind$id/server.log"
        done
    done
    for kind in zkrs apache; do
        for id in 1 2 3; do
            base=$(( (id - 1) * 4 ))
            [[ "$kind" == apache ]] && base=$((base + 12))
            mon_wait "${ports[base]}" "${ports[base + 1]}" "$kind server $id" \
                "$dir/$kind$id/server.log" || return 0
        done
    done
    set +e
    out="$(timeout "$KAZOO_TIMEOUT" "$PYTHON" "$INTEROP_DIR/monitoring_suite.py" --ensemble \
        "${clients[zkrs]}" "${admins[zkrs]}" "${clients[apache]}" "${admins[apache]}" 2>&1)"
    rc=$?
    set -e
    suite_summary monitoring "monitoring suite" "$out" "$rc"
}

suite_monitoring() {
    header "Suite 8: mntr and the AdminServer, zkrs next to Apache ZooKeeper 3.8"
    local t0=$SECONDS dir="$WORK_DIR/monitoring" ports=() out rc
    build_zkrs
    if ! ensure_servlet_api; then
        fail "Apache's AdminServer needs /usr/share/java/servlet-api.jar (apt-get install libservlet-api-java)"
        return 0
    fi
    mapfile -t ports < <(cluster_ports 5)
    mkdir -p "$dir/zkrs" "$dir/apache"
    cat >"$dir/zkrs.cfg" <<CFG
tickTime=2000
dataDir=$dir/zkrs
clientPort=${ports[0]}
clientPortAddress=127.0.0.1
4lw.commands.whitelist=*
admin.serverAddress=127.0.0.1
admin.serverPort=${ports[1]}
metricsProvider.className=org.apache.zookeeper.metrics.prometheus.PrometheusMetricsProvider
metricsProvider.httpHost=127.0.0.1
metricsProvider.httpPort=${ports[4]}
CFG
    cat >"$dir/apache.cfg" <<CFG
tickTime=2000
dataDir=$dir/apache
clientPort=${ports[2]}
clientPortAddress=127.0.0.1
4lw.commands.whitelist=*
admin.serverAddress=127.0.0.1
admin.serverPort=${ports[3]}
CFG
    mon_start zkrs "$dir/zkrs.cfg" "$dir/zkrs.log"
    mon_start apache "$dir/apache.cfg" "$dir/apache/server.log"
    if mon_wait "${ports[0]}" "${ports[1]}" zkrs "$dir/zkrs.log" \
        && mon_wait "${ports[2]}" "${ports[3]}" "Apache ZooKeeper" "$dir/apache/server.log"; then
        set +e
        out="$(timeout "$KAZOO_TIMEOUT" "$PYTHON" "$INTEROP_DIR/monitoring_suite.py" \
            "127.0.0.1:${ports[0]}" "127.0.0.1:${ports[1]}" "$dir/zkrs.cfg" \
            "127.0.0.1:${ports[2]}" "127.0.0.1:${ports[3]}" "$dir/apache.cfg" 2>&1)"
        rc=$?
        set -e
        suite_summary monitoring "monitoring suite" "$out" "$rc"
    fi
    stop_monitoring
    mon_ensembles "$dir"
    stop_monitoring
    info "suite 8 took $((SECONDS - t0))s"
}

# ----------------------------------------------------------------------------
# Suite 9: /zookeeper/config, zkrs next to Apache ZooKeeper 3.8

# cfgnode_phase SHAPE VOTERS OBSERVERS DYNAMIC [LINES]: a zkrs and an Apache ensemble of that
# shape (DYNAMIC=1: each server line carries ";127.0.0.1:clientPort"; DYNAMIC=2: so do they,
# in a dynamic config file zoo.cfg.dynamic.100000000 that zoo.cfg names; VOTERS=1: one
# standalone server each; LINES: more membership lines, e.g. group.N/weight.N), compared by
# scripts/interop/config_suite.py, then stopped (by PID).
cfgnode_phase() {
    local shape="$1" voters="$2" dynamic="$4" lines="${5:-}" dir="$WORK_DIR/config/${1//[^a-z0-9]/-}"
    local n=$(($2 + $3)) ports=() kind id base servers out rc summary line
    local -A clients=()
    mapfile -t ports < <(cluster_ports $((6 * n)))
    mkdir -p "$dir"
    for kind in zkrs apache; do
        servers=""
        for ((id = 1; id <= n; id++)); do
            base=$(( (id - 1) * 3 ))
            [[ "$kind" == apache ]] && base=$((base + 3 * n))
            (( n == 1 )) && continue
            servers+="server.$id=127.0.0.1:${ports[base + 1]}:${ports[base + 2]}"
            (( id > voters )) && servers+=":observer"
            (( dynamic )) && servers+=";127.0.0.1:${ports[base]}"
            servers+=$'\n'
        done
        servers+="$lines"
        if (( dynamic == 2 )); then
            printf '%s' "$servers" >"$dir/$kind.cfg.dynamic.100000000"
            servers="dynamicConfigFile=$dir/$kind.cfg.dynamic.100000000"$'\n'
        fi
        for ((id = 1; id <= n; id++)); do
            base=$(( (id - 1) * 3 ))
            [[ "$kind" == apache ]] && base=$((base + 3 * n))
            mkdir -p "$dir/$kind$id"
            printf '%s\n' "$id" >"$dir/$kind$id/myid"
            {
                printf 'tickTime=200\ninitLimit=10\nsyncLimit=5\ndataDir=%s\n' "$dir/$kind$id"
                (( dynamic == 2 )) || printf 'clientPort=%s\nclientPortAddress=127.0.0.1\n' "${ports[base]}"
                printf '4lw.commands.whitelist=*\nadmin.enableServer=false\n'
                (( id > voters )) && printf 'peerType=observer\n'
                printf '%s' "$servers"
            } >"$dir/$kind$id.cfg"
            clients[$kind]+="${clients[$kind]:+,}127.0.0.1:${ports[base]}"
            mon_start "$kind" "$dir/$kind$id.cfg" "$dir/$kind$id/server.log"
        done
    done
    info "$shape: zkrs ${clients[zkrs]}, Apache ${clients[apache]}"
    set +e
    out="$(timeout "$KAZOO_TIMEOUT" "$PYTHON" "$INTEROP_DIR/config_suite.py" "$shape" \
        "${clients[zkrs]}" "${clients[apache]}" 2>&1)"
    rc=$?
    set -e
    stop_monitoring
    summary=""
    while IFS= read -r line; do
        case "$line" in
            "ok - "*) pass "config: ${line#ok - }" ;;
            "FAIL - "*) fail "config: ${line#FAIL - }" ;;
            "config: "*" passed, "*" failed") summary="$line" ;;
            *) info "$line" ;;
        esac
    done <<<"$out"
    if [[ -z "$summary" ]]; then
        fail "config suite ($shape) ended without a summary (exit $rc)" \
            "$(tail -n 20 "$dir"/*/server.log 2>/dev/null)"
    elif (( rc != 0 )) && [[ "$summary" == *" 0 failed" ]]; then
        fail "config suite ($shape) exited $rc with no failed checks"
    fi
}

suite_config_node() {
    header "Suite 9: /zookeeper/config, zkrs next to Apache ZooKeeper 3.8"
    local t0=$SECONDS
    build_zkrs
    cfgnode_phase "3 voters + 1 observer, static zoo.cfg" 3 1 0
    cfgnode_phase "3 voters, client address on each server line" 3 0 1
    cfgnode_phase "3 voters in a dynamic config file zoo.cfg.dynamic.100000000" 3 0 2
    cfgnode_phase "hierarchical: 2 groups of 2 voters, weights, an observer" 4 1 0 \
        $'group.1=1:2\ngroup.2=3:4\nweight.1=3\nweight.2=1\nweight.3=1\nweight.4=1\n'
    cfgnode_phase "standalone" 1 0 0
    info "suite 9 took $((SECONDS - t0))s"
}

usage() {
    sed -n '2,50p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
    exit 2
}

main() {
    while (($#)); do
        case "$1" in
            --apache) MODE=apache; EXISTS_NEEDS_READ=0 ;;
            --client-tests) MODE=client-tests ;;
            --cluster) MODE=cluster ;;
            --readonly) ONLY_READONLY=1 ;;
            --tls) TLS_ONLY=1 ;;
            --monitoring) MODE=monitoring ;;
            --config-node) MODE=config-node ;;
            --server)
                [[ $# -ge 2 ]] || usage
                MODE=server
                SERVER="$2"
                shift
                ;;
            -h | --help) usage ;;
            *) usage ;;
        esac
        shift
    done

    local t0=$SECONDS
    header "zkrs interop tests (mode: $MODE)"
    ensure_zookeeper_package
    if [[ "$MODE" != client-tests ]]; then
        ensure_kazoo
        info "python: $PYTHON"
    fi
    info "zkCli: $ZKCLI"

    trap cleanup EXIT
    trap 'exit 130' INT TERM
    WORK_DIR="$(mktemp -d "${TMPDIR:-/tmp}/zkrs-interop.XXXXXX")"

    if [[ -n "${ONLY_READONLY:-}" ]]; then
        suite_readonly
        header "done in $((SECONDS - t0))s against $MODE (suite 6 only)"
        printf '%d passed, %d failed\n' "$PASSED" "$FAILED"
        if (( FAILED > 0 )); then exit 1; fi
        exit 0
    fi
    if (( TLS_ONLY )); then
        suite_tls
        header "done in $((SECONDS - t0))s: TLS against $MODE"
        printf '%d passed, %d failed\n' "$PASSED" "$FAILED"
        (( FAILED == 0 )) || exit 1
        exit 0
    fi
    local up=1
    case "$MODE" in
        zkrs) start_zkrs || up=0 ;;
        apache) start_apache || up=0 ;;
        server) info "using the running server at $SERVER" ;;
        client-tests | cluster | monitoring | config-node) up=0 ;;
    esac

    if (( up )) && [[ "$MODE" == server ]] && ! tcp_open "${SERVER%:*}" "${SERVER##*:}"; then
        fail "server $SERVER is not accepting connections"
        up=0
    fi
    if (( up )); then
        suite_zkcli
        suite_kazoo
        if [[ -n "$SERVER_PID" ]] && ! kill -0 "$SERVER_PID" 2>/dev/null; then
            fail "server process died during the suites"
        fi
    fi
    if [[ "$MODE" == zkrs ]]; then
        stop_server
        suite_datadir
    fi
    if [[ "$MODE" == zkrs || "$MODE" == client-tests ]]; then
        suite_client_tests
    fi
    if [[ "$MODE" == zkrs || "$MODE" == cluster || "$MODE" == apache ]]; then
        stop_server
        suite_cluster
        suite_readonly
    fi
    if [[ "$MODE" == zkrs || "$MODE" == apache ]]; then
        stop_server
        suite_tls
    fi
    if [[ "$MODE" == zkrs || "$MODE" == monitoring ]]; then
        suite_monitoring
    fi
    if [[ "$MODE" == zkrs || "$MODE" == config-node ]]; then
        suite_config_node
    fi
    if (( FAILED > 0 )) && [[ -f "$WORK_DIR/server.log" ]]; then
        header "server log (last 40 lines)"
        tail -n 40 "$WORK_DIR/server.log" || true
    fi

    header "done in $((SECONDS - t0))s against $MODE"
    printf '%d passed, %d failed\n' "$PASSED" "$FAILED"
    if (( FAILED > 0 )); then exit 1; fi
    exit 0
}

main "$@"
