#!/usr/bin/env bash
# Starts, stops and reports on a pseudo-cluster of zkrs servers on this host, from one of the
# zoo.cfg sets in confs/ (a directory with zkN.cfg files and zkN/myid):
#
#   scripts/cluster.sh start  [SET]   # SET: pseudo-cluster (default), observers, five
#   scripts/cluster.sh status [SET]   # Mode: leader / follower / observer of each server
#   scripts/cluster.sh stop   [SET]
#
# Run it from the repository root (the configs' dataDir paths are relative to it). Each
# server's dataDir gets its myid, and a zk-server.pid and zk-server.log beside the data;
# `stop` signals exactly those PIDs (SIGTERM, then SIGKILL after 10 s) and nothing else.
# The binary is $ZK_SERVER, or target/release/zk-server (built with cargo if missing).
set -euo pipefail

cmd=${1:-}
set_name=${2:-pseudo-cluster}
dir="confs/$set_name"
if [[ -z "$cmd" || ! -d "$dir" ]]; then
  echo "usage: $0 start|stop|status [SET]   (SET is a directory under confs/: $(ls -d confs/*/ | xargs -n1 basename | tr '\n' ' '))" >&2
  exit 2
fi

bin=${ZK_SERVER:-target/release/zk-server}

configs() {
  ls "$dir"/zk*.cfg | sort -V
}

data_dir() {
  local d
  d=$(sed -n 's/^dataDir=//p' "$1" | tail -1)
  if [[ -z "$d" ]]; then
    echo "$1: no dataDir" >&2
    exit 1
  fi
  echo "$d"
}

alive() {
  [[ -f "$1" ]] && kill -0 "$(cat "$1")" 2>/dev/null
}

case "$cmd" in
  start)
    if [[ ! -x "$bin" ]]; then
      echo "building $bin"
      cargo build --release -p zk-server
    fi
    for cfg in $(configs); do
      name=$(basename "$cfg" .cfg)
      data=$(data_dir "$cfg")
      mkdir -p "$data"
      cp "$dir/$name/myid" "$data/myid"
      if alive "$data/zk-server.pid"; then
        echo "$name already running (pid $(cat "$data/zk-server.pid"))"
        continue
      fi
      "$bin" "$cfg" >"$data/zk-server.log" 2>&1 &
      echo $! >"$data/zk-server.pid"
      echo "$name started (pid $!), log $data/zk-server.log"
    done
    ;;
  stop)
    for cfg in $(configs); do
      name=$(basename "$cfg" .cfg)
      pidfile="$(data_dir "$cfg")/zk-server.pid"
      if ! alive "$pidfile"; then
        rm -f "$pidfile"
        continue
      fi
      pid=$(cat "$pidfile")
      kill "$pid"
      for _ in $(seq 100); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
      done
      if kill -0 "$pid" 2>/dev/null; then
        kill -9 "$pid"
      fi
      rm -f "$pidfile"
      echo "$name stopped (pid $pid)"
    done
    ;;
  status)
    [[ -x "$bin" ]] || { echo "$bin is not built" >&2; exit 1; }
    for cfg in $(configs); do
      name=$(basename "$cfg" .cfg)
      pidfile="$(data_dir "$cfg")/zk-server.pid"
      state="not running"
      if alive "$pidfile"; then
        state=$("$bin" status "$cfg" 2>/dev/null | grep '^Mode:' || echo "pid $(cat "$pidfile"), not serving")
      fi
      echo "$name: $state"
    done
    ;;
  *)
    echo "unknown command $cmd (start, stop or status)" >&2
    exit 2
    ;;
esac
