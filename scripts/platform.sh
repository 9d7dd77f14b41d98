#!/usr/bin/env bash
# The seeds' whole platform on this host, with one command:
#   - a 3-server ZooKeeper pseudo-cluster (zkrs; confs/pseudo-cluster, scripts/cluster.sh),
#   - 3 Mesos masters and 2 agents (confs/mesos, scripts/mesos-cluster.sh),
#   - Marathon on :8080 (confs/marathon/etc/marathon/conf).
#
#   scripts/platform.sh start|stop|status
#
# Then, as in the seeds:
#   curl -X POST http://127.0.0.1:8080/v2/apps -d @confs/marathon/basic-0.json -H "Content-type: application/json"
# and the web UIs are on http://127.0.0.1:5050/ (Mesos) and http://127.0.0.1:8080/ (Marathon).
# Every process's PID is recorded under data/; `stop` signals exactly those PIDs.
set -euo pipefail
cd "$(dirname "$0")/.."

cmd=${1:-}
bin=${MESOS_BIN_DIR:-target/release}
mdata=data/marathon

alive() {
  [[ -f "$1" ]] && kill -0 "$(cat "$1")" 2>/dev/null
}

case "$cmd" in
  start)
    if [[ ! -x "$bin/marathon" || ! -x "$bin/mesos-master" || ! -x "$bin/mesos-agent" || ! -x target/release/zk-server ]]; then
      echo "building the release binaries"
      cargo build --release -p zk-server -p mesos -p marathon
    fi
    scripts/cluster.sh start
    # Give the ensemble a moment to elect before the masters connect (they retry anyway).
    for _ in $(seq 50); do
      scripts/cluster.sh status | grep -q leader && break
      sleep 0.2
    done
    scripts/mesos-cluster.sh start
    mkdir -p "$mdata"
    if alive "$mdata/pid"; then
      echo "marathon already running (pid $(cat "$mdata/pid"))"
    else
      "$bin/marathon" --conf_dir=confs/marathon/etc/marathon/conf >"$mdata/log" 2>&1 &
      echo $! >"$mdata/pid"
      echo "marathon started (pid $!), log $mdata/log"
    fi
    echo "Mesos UI: http://127.0.0.1:5050/   Marathon UI and API: http://127.0.0.1:8080/"
    ;;
  stop)
    if alive "$mdata/pid"; then
      pid=$(cat "$mdata/pid")
      kill "$pid"
      for _ in $(seq 100); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
      done
      kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
      echo "marathon stopped (pid $pid)"
    fi
    rm -f "$mdata/pid"
    scripts/mesos-cluster.sh stop
    scripts/cluster.sh stop
    ;;
  status)
    scripts/cluster.sh status
    scripts/mesos-cluster.sh status
    if alive "$mdata/pid"; then
      leader=$(curl -s 127.0.0.1:8080/v2/leader || true)
      echo "marathon (:8080): running, $leader"
    else
      echo "marathon: not running"
    fi
    ;;
  *)
    echo "usage: $0 start|stop|status" >&2
    exit 2
    ;;
esac
