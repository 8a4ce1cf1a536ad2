#!/usr/bin/env bash
# A Redis Cluster (three masters) and a Sentinel group (a master, a
# replica, one sentinel) on 127.0.0.1, for tests: the store, the
# history, the rate limits and the pipeline run on each. The sentinel
# waits 10 s before it calls the master down, so that a loaded test
# machine does not fail it over by surprise (the failover test asks for
# one).
#
#   deploy/local/redis.sh start|stop|env
#
# REDIS_BASE_PORT (default 27000): the cluster's nodes listen on it and the
# next two ports; the Sentinel group's master, replica and sentinel on the
# three after; the cluster's nodes talk to each other on the three after
# those (their bus, by default 10000 above each node's port, could fall
# among the ports the kernel hands out to connections). "env" prints the
# variables the tests read.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
base=${REDIS_BASE_PORT:-27000}
run=${HOOKSTREAM_REDIS_RUN:-$root/.cache/redis-$base}
master=hsmaster

ping() { redis-cli -p "$1" ping >/dev/null 2>&1; }

wait_for() { # up to 30 s: a loaded machine starts redis-server slowly
  for _ in $(seq 1 300); do
    eval "$1" && return 0
    sleep 0.1
  done
  echo "redis.sh: timed out waiting for: $1" >&2
  return 1
}

server() { # port, extra args…
  local port=$1
  shift
  mkdir -p "$run/$port"
  redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$run/$port" \
    --logfile "$run/$port/redis.log" --pidfile "$run/$port/redis.pid" --daemonize yes "$@"
  wait_for "ping $port" || { tail -n 20 "$run/$port/redis.log" >&2; return 1; }
}

start() {
  command -v redis-server >/dev/null || { echo "redis.sh: redis-server is required" >&2; exit 1; }
  if ping "$base"; then
    echo "redis cluster and sentinel already running from port $base"
    return
  fi
  rm -rf "$run"
  for i in 0 1 2; do
    local p=$((base + i))
    server "$p" --cluster-enabled yes --cluster-port $((base + 6 + i)) \
      --cluster-config-file "$run/$p/nodes.conf" --cluster-node-timeout 2000
  done
  redis-cli --cluster create "127.0.0.1:$base" "127.0.0.1:$((base + 1))" "127.0.0.1:$((base + 2))" \
    --cluster-replicas 0 --cluster-yes >/dev/null
  wait_for "redis-cli -p $base cluster info | grep -q 'cluster_state:ok'"

  server $((base + 3))
  server $((base + 4)) --replicaof 127.0.0.1 $((base + 3))
  local s=$((base + 5))
  mkdir -p "$run/$s"
  cat > "$run/$s/sentinel.conf" <<CONF
port $s
bind 127.0.0.1
daemonize yes
pidfile $run/$s/redis.pid
logfile $run/$s/redis.log
dir $run/$s
sentinel monitor $master 127.0.0.1 $((base + 3)) 1
sentinel down-after-milliseconds $master 10000
sentinel failover-timeout $master 5000
CONF
  redis-server "$run/$s/sentinel.conf" --sentinel
  wait_for "redis-cli -p $s sentinel get-master-addr-by-name $master | grep -q 127.0.0.1"
  wait_for "redis-cli -p $((base + 4)) info replication | grep -q 'master_link_status:up'"
  echo "redis cluster on 127.0.0.1:$base-$((base + 2)), sentinel on 127.0.0.1:$s (master $master)"
}

stop() {
  local pids=()
  for pidfile in "$run"/*/redis.pid; do
    [ -f "$pidfile" ] && pids+=("$(cat "$pidfile")")
  done
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do
    for _ in $(seq 1 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
  done
  rm -rf "$run"
  echo "redis cluster and sentinel from port $base stopped"
}

env_vars() {
  echo "HOOKSTREAM_TEST_REDIS_CLUSTER=127.0.0.1:$base,127.0.0.1:$((base + 1)),127.0.0.1:$((base + 2))"
  echo "HOOKSTREAM_TEST_REDIS_SENTINEL=127.0.0.1:$((base + 5))"
  echo "HOOKSTREAM_TEST_REDIS_SENTINEL_MASTER=$master"
}

case "${1:-}" in
start) start ;;
stop) stop ;;
env) env_vars ;;
*)
  echo "usage: $0 start|stop|env" >&2
  exit 2
  ;;
esac
