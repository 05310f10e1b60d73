#!/usr/bin/env bash
# ResNet-50 through 1..4 local tandem-worker processes on loopback, per codec:
# throughput, p50 latency and bytes per hop, as the dispatcher reports them.
# All workers share this machine's cores: with more workers than cores the
# figures show contention, not what separate devices would give.
# Usage: bench/pipeline-bench.sh [BUILD_DIR] [FIXTURE_DIR] [REQUESTS]
set -euo pipefail
build=${1:-build}
fixtures=${2:-$HOME/.cache/tandem/fixtures}
requests=${3:-64}
model="$fixtures/resnet50.traced.pt"
cores=$(nproc)
tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT
echo "| workers | codec | threads/worker | inferences/s | p50 latency (ms) | bytes per hop (dispatcher -> ... -> dispatcher) |"
echo "|---|---|---|---|---|---|"
for n in 1 2 3 4; do
  threads=$(( cores / n )); [ "$threads" -ge 1 ] || threads=1
  pids=()
  workers=""
  for i in $(seq 0 $((n - 1))); do
    port=$((5650 + 10 * i))
    "$build/bin/tandem-worker" --listen "tcp://127.0.0.1:$port" --name "w$i" --threads "$threads" >"$tmp/w$i.log" 2>&1 &
    pids+=($!)
    workers+="${workers:+, }{\"name\": \"w$i\", \"endpoint\": \"tcp://127.0.0.1:$port\"}"
  done
  echo "{\"workers\": [$workers]}" >"$tmp/cluster.json"
  sleep 1
  for codec in raw zfp+lz4; do
    out=$("$build/bin/tandem-dispatcher" run -m "$model" -c "$tmp/cluster.json" --synthetic "$requests" \
          -s 1,3,224,224 -k "$n" --codec "$codec" 2>/dev/null)
    tput=$(echo "$out" | sed -n 's/.*s: \([0-9.]*\) inferences\/s/\1/p')
    p50=$(echo "$out" | sed -n 's/latency *p50 \([0-9.]*\) ms.*/\1/p')
    hops=$(echo "$out" | awk '/ -> / {printf "%s%s %s", sep, $(NF-5), $(NF-4); sep=", "}')
    echo "| $n | $codec | $threads | $tput | $p50 | $hops |"
  done
  for p in "${pids[@]}"; do kill "$p"; done
  wait 2>/dev/null || true
done
echo
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $cores cores; $requests synthetic 1x3x224x224 requests, window 8"
