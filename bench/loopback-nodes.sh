#!/usr/bin/env bash
# Runs MODEL on N local workers on loopback, each in a cgroup with a CPU
# share (as emulate-cluster.py gives a node) but without the emulated
# network, and prints measured and predicted throughput and per-stage
# compute. Separates what the nodes' CPU does from what the links do. Root
# (cgroup v1 cpu controller). NODE_PROFILE: the model profiled on such a
# node (emulation-bench.py writes MODEL.node-profile.json); HOST_PROFILE: the
# model profiled here (MODEL.profile.json).
#
#   bench/loopback-nodes.sh BUILD MODEL.pt NODE_PROFILE HOST_PROFILE N OUT_DIR [SHARE=0.15] [REQUESTS=24]
set -euo pipefail
[ $# -ge 6 ] || { sed -n 2,11p "$0"; exit 2; }
build=$1 model=$2 node_prof=$3 host_prof=$4 n=$5 out=$6 share=${7:-0.15} requests=${8:-24}
[ "$(id -u)" -eq 0 ] || { echo "loopback-nodes: needs root (cgroups)" >&2; exit 1; }
cg=/sys/fs/cgroup/cpu
[ -w "$cg" ] || { echo "loopback-nodes: no writable cgroup v1 cpu controller at $cg" >&2; exit 1; }
period=$(python3 -c "print(max(4000, int(1000 / $share) + 1))")
quota=$(python3 -c "print(int($period * $share))")
mkdir -p "$out"
pids=()
groups=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  for g in "${groups[@]}"; do rmdir "$cg/$g" 2>/dev/null || true; done
}
trap cleanup EXIT
/usr/bin/python3 - "$out/cluster.json" "$n" "$share" "$node_prof" <<'PY'
import json, sys
path, n, share, prof = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
json.dump({"dispatcher": {"results_bind": "tcp://127.0.0.1:*"},
           "timeouts": {"connect_s": 20, "deploy_s": 300, "result_s": 120},
           "workers": [{"name": f"n{i}", "endpoint": f"tcp://127.0.0.1:{5750 + 10 * i}", "memory_mb": 3000,
                        "speed": share, "bandwidth_mbps": 940, "latency_ms": 0.15, "profile": prof}
                       for i in range(n)],
           "network": {"dispatcher_latency_ms": 0.15}}, open(path, "w"), indent=1)
PY
for i in $(seq 0 $((n - 1))); do
  g="tandem-loopback-$$-$i"
  mkdir -p "$cg/$g"
  groups+=("$g")
  echo "$period" > "$cg/$g/cpu.cfs_period_us"
  echo "$quota" > "$cg/$g/cpu.cfs_quota_us"
  sh -c "echo \$\$ > $cg/$g/cgroup.procs && exec \"\$0\" \"\$@\"" "$build/bin/tandem-worker" \
    --listen "tcp://127.0.0.1:$((5750 + 10 * i))" --threads 1 --name "n$i" --memory-mb 3000 > "$out/worker-$i.log" 2>&1 &
  pids+=($!)
done
sleep 2
shape=$(/usr/bin/python3 -c "import json, sys; print(','.join(map(str, json.load(open(sys.argv[1]))['input_shape'])))" "$host_prof")
timeout 900 "$build/bin/tandem-dispatcher" run -m "$model" -c "$out/cluster.json" --profile "$host_prof" --threads 1 \
  --heartbeat-timeout 5 --report "$out/report.json" --synthetic "$requests" -s "$shape" --window $((n + 2)) --codec raw \
  > "$out/dispatcher.out" 2> "$out/dispatcher.err" || { echo "loopback-nodes: the run failed; see $out/dispatcher.err" >&2; exit 1; }
/usr/bin/python3 - "$out/report.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
tp, pred = r["requests"]["steady_throughput_per_s"], r["predicted"]["throughput_per_s"]
print(f"cuts {r['pipeline']['cuts']}: {tp:.3f}/s measured, {pred:.3f}/s predicted ({tp / pred * 100:.0f}%)")
for i, s in enumerate(r["stages"]):
    print(f"stage {i} on {s['worker']}: compute {s['compute_ms']:.0f} ms, predicted {r['predicted']['compute_s'][i] * 1e3:.0f} ms")
PY
