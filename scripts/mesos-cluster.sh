#!/usr/bin/env bash
# Starts, stops and reports on a Mesos pseudo-cluster on this host: 3 masters and 2 agents
# (127.0.0.1:5051 and 127.0.0.2:5051),
# configured from confs/mesos/etc (see confs/mesos/README.md), on top of the ZooKeeper
# pseudo-cluster of scripts/cluster.sh.
#
#   scripts/mesos-cluster.sh start|stop|status
#
# Run it from the repository root. Each process's pid and log go under data/mesos/<name>/;
# `stop` signals exactly those PIDs (SIGTERM, then SIGKILL after 10 s), then the tasks the
# agents started (their checkpointed PIDs).
set -euo pipefail

cmd=${1:-}
conf=confs/mesos/etc
bin=${MESOS_BIN_DIR:-target/release}
data=data/mesos
masters=(master1:5050 master2:5052 master3:5054)
# Two agents on their own loopback addresses (so `hostname` constraints see two hosts), each
# on Mesos' default agent port.
agents=(agent1:127.0.0.1:5051:31000-31499 agent2:127.0.0.2:5051:31500-31999)

alive() {
  [[ -f "$1" ]] && kill -0 "$(cat "$1")" 2>/dev/null
}

start_one() { # name, then the command
  local name=$1
  shift
  mkdir -p "$data/$name"
  if alive "$data/$name/pid"; then
    echo "$name already running (pid $(cat "$data/$name/pid"))"
    return
  fi
  "$@" >"$data/$name/log" 2>&1 &
  echo $! >"$data/$name/pid"
  echo "$name started (pid $!), log $data/$name/log"
}

case "$cmd" in
  start)
    if [[ ! -x "$bin/mesos-master" || ! -x "$bin/mesos-agent" ]]; then
      echo "building the mesos binaries"
      cargo build --release -p mesos
    fi
    for m in "${masters[@]}"; do
      name=${m%%:*} port=${m##*:}
      start_one "$name" "$bin/mesos-master" --conf_dir="$conf/mesos" --conf_dir="$conf/mesos-master" \
        --port="$port" --work_dir="$data/$name/work"
    done
    for a in "${agents[@]}"; do
      IFS=: read -r name ip port ports <<<"$a"
      start_one "$name" "$bin/mesos-agent" --conf_dir="$conf/mesos" --conf_dir="$conf/mesos-slave" \
        --ip="$ip" --hostname="$ip" --port="$port" --work_dir="$PWD/$data/$name/work" \
        --resources="cpus:2;mem:2048;disk:10000;ports:[$ports]"
    done
    ;;
  stop)
    for m in "${masters[@]}" "${agents[@]}"; do
      name=${m%%:*}
      pidfile="$data/$name/pid"
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
      kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
      rm -f "$pidfile"
      echo "$name stopped (pid $pid)"
    done
    # Tasks outlive their agent by design (a restarted agent re-adopts them). Stopping the
    # pseudo-cluster stops them too: every process (group) an agent checkpointed, by PID.
    for a in "${agents[@]}"; do
      name=${a%%:*}
      [[ -d "$data/$name/work/meta" ]] || continue
      find "$data/$name/work/meta" -name '*.pid' | while read -r f; do
        pid=$(cat "$f" 2>/dev/null || true)
        [[ "$pid" =~ ^[0-9]+$ && "$pid" -gt 1 ]] || continue
        kill -0 "$pid" 2>/dev/null || continue
        kill -9 -- "-$pid" 2>/dev/null || true
        kill -9 "$pid" 2>/dev/null || true
      done
    done
    ;;
  status)
    for m in "${masters[@]}"; do
      name=${m%%:*} port=${m##*:}
      if ! alive "$data/$name/pid"; then
        echo "$name: not running"
        continue
      fi
      elected=$(curl -s "127.0.0.1:$port/metrics/snapshot" | grep -o '"master/elected":[0-9.]*' | cut -d: -f2)
      case "$elected" in
        1|1.0) echo "$name (:$port): leading" ;;
        0|0.0) echo "$name (:$port): standby" ;;
        *) echo "$name (:$port): not answering" ;;
      esac
    done
    for a in "${agents[@]}"; do
      IFS=: read -r name ip port _ <<<"$a"
      if ! alive "$data/$name/pid"; then
        echo "$name: not running"
        continue
      fi
      registered=$(curl -s "$ip:$port/metrics/snapshot" | grep -o '"slave/registered":[0-9.]*' | cut -d: -f2)
      case "$registered" in
        1|1.0) echo "$name ($ip:$port): registered" ;;
        *) echo "$name ($ip:$port): not registered" ;;
      esac
    done
    ;;
  *)
    echo "usage: $0 start|stop|status" >&2
    exit 2
    ;;
esac
