#!/usr/bin/env bash
# Starts or stops a local cluster of tandem-worker processes on loopback: the
# cluster the dispatcher uses when no --cluster is given (3 workers on
# tcp://127.0.0.1:5550, 5560, 5570).
#   scripts/local-cluster.sh start [N] [BUILD_DIR]   N workers (default 3), 1 compute thread each
#   scripts/local-cluster.sh stop                    SIGTERM, then wait for them
# Logs and pid files go to $TANDEM_RUN_DIR (default /tmp/tandem-local-cluster).
set -euo pipefail
cmd=${1:-}
run=${TANDEM_RUN_DIR:-/tmp/tandem-local-cluster}
case "$cmd" in
  start)
    n=${2:-3}
    build=${3:-build}
    worker="$build/bin/tandem-worker"
    [ -x "$worker" ] || { echo "local-cluster: $worker not found; build first" >&2; exit 1; }
    mkdir -p "$run"
    for i in $(seq 0 $((n - 1))); do
      port=$((5550 + 10 * i))
      "$worker" --listen "tcp://127.0.0.1:$port" --name "local-$i" --threads 1 >"$run/local-$i.log" 2>&1 &
      echo $! >"$run/local-$i.pid"
    done
    sleep 1
    for i in $(seq 0 $((n - 1))); do
      if ! kill -0 "$(cat "$run/local-$i.pid")" 2>/dev/null; then
        echo "local-cluster: worker local-$i did not start:" >&2
        cat "$run/local-$i.log" >&2
        "$0" stop
        exit 1
      fi
    done
    echo "local-cluster: $n workers on tcp://127.0.0.1:5550.. (logs in $run)" >&2
    ;;
  stop)
    shopt -s nullglob
    pids=()
    for f in "$run"/*.pid; do
      pid=$(cat "$f")
      kill -TERM "$pid" 2>/dev/null && pids+=("$pid")
      rm -f "$f"
    done
    for pid in "${pids[@]}"; do
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -KILL "$pid" 2>/dev/null || true
    done
    ;;
  *)
    echo "usage: $0 start [N] [BUILD_DIR] | stop" >&2
    exit 2
    ;;
esac
