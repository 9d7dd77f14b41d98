#!/usr/bin/env bash
# zkrs vs Apache ZooKeeper 3.8, side by side on this machine: installs Debian's `zookeeper`
# package when missing (as root, with apt-get), builds zk-server and the benchmarks in release
# mode, and runs `compare` (its --help lists the options; they are passed through). The table
# and a JSON copy of every figure go to stdout; the progress to stderr.
#
#   bash benches/compare.sh                              # everything, about 25 minutes
#   bash benches/compare.sh --rounds 1 --duration 3 --populate 100000   # a quick look
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ ! -f /usr/share/java/zookeeper.jar ]]; then
    if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null; then
        echo "compare.sh: Apache ZooKeeper missing: install Debian's 'zookeeper' package" >&2
        exit 2
    fi
    echo "compare.sh: installing Debian's zookeeper package" >&2
    timeout 600 apt-get update -qq </dev/null
    DEBIAN_FRONTEND=noninteractive timeout 1200 apt-get install -y -qq zookeeper </dev/null >/dev/null
fi
command -v java >/dev/null || { echo "compare.sh: java not found" >&2; exit 2; }

cargo build --release -q -p zk-server -p zkrs-benches
exec target/release/compare "$@"
