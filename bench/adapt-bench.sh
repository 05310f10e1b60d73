#!/usr/bin/env bash
# Runtime adaptation on an emulated cluster (root): N pi4-ethernet nodes run
# ResNet-50 with --adapt on; after STEADY seconds one node's CPU share (or
# uplink) changes without restarting it. Prints the dispatcher's events and
# the throughput per 5 s window from results.jsonl (receive times), marking
# the change. Usage:
#   bench/adapt-bench.sh OUT_DIR [cpu|link] [NODES] [STEADY_S] [REQUESTS]
# e.g. bench/adapt-bench.sh /root/adapt-cpu cpu 6 60 450
# Needs the fixtures (scripts/ensure-fixtures.sh) and a build in build/.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:?usage: bench/adapt-bench.sh OUT_DIR [cpu|link] [NODES] [STEADY_S] [REQUESTS]}
kind=${2:-cpu}
nodes=${3:-6}
steady=${4:-60}
requests=${5:-450}
fixtures=${TANDEM_FIXTURE_DIR:-$HOME/.cache/tandem/fixtures}
model=$fixtures/resnet50.traced.pt
[ -f "$model" ] || { echo "adapt-bench: $model missing (scripts/ensure-fixtures.sh)" >&2; exit 1; }
case "$kind" in
  cpu) shape="--cpu 0.05" ;;    # 0.15 -> 0.05 of a CPU: 3x slower
  link) shape="--uplink 20" ;;  # 940 -> 20 Mbit/s out of the node
  *) echo "adapt-bench: kind is cpu or link" >&2; exit 2 ;;
esac
rm -rf "$out"
mkdir -p "$out"
cat >"$out/run.sh" <<SCRIPT
#!/usr/bin/env bash
set -u
build/bin/tandem-dispatcher run -m "$model" -c "\$TANDEM_CLUSTER" --synthetic $requests -s 1,3,224,224 \\
  -o "$out/outputs" --adapt on --report "$out/report.json" >"$out/dispatcher.log" 2>&1 &
d=\$!
# The change comes STEADY seconds after the first result.
for _ in \$(seq 600); do [ -s "$out/outputs/results.jsonl" ] && break; sleep 0.5; done
sleep $steady
# The worker of the first pipeline's second stage.
victim=\$(sed -n 's/.*pipeline 1 (model generation 1, [0-9]* stage(s) on n[0-9]*, \\(n[0-9]*\\).*/\\1/p' "$out/dispatcher.log" | head -1)
# A one-stage plan: its only worker.
[ -n "\$victim" ] || victim=\$(sed -n 's/.*pipeline 1 (model generation 1, [0-9]* stage(s) on \\(n[0-9]*\\).*/\\1/p' "$out/dispatcher.log" | head -1)
[ -n "\$victim" ] || { echo "adapt-bench: no pipeline in $out/dispatcher.log" >&2; kill \$d; exit 1; }
date +%s.%N >"$out/change_unix_s"
echo "\$victim" >"$out/victim"
scripts/emulate-cluster.py fault --dir "$out/cluster" shape "\$victim" $shape
wait \$d
SCRIPT
chmod +x "$out/run.sh"
scripts/emulate-cluster.py up --profile configs/emulation/pi4-ethernet.json --nodes "$nodes" --dir "$out/cluster" \
  -- "$out/run.sh"
/usr/bin/python3 - "$out" <<'PY'
import json, sys
out = sys.argv[1]
change = float(open(f"{out}/change_unix_s").read())
victim = open(f"{out}/victim").read().strip()
rs = [json.loads(l) for l in open(f"{out}/outputs/results.jsonl") if l.strip()]
ok = [r for r in rs if r["ok"]]
idx = sorted(r["index"] for r in rs)
print(f"{len(rs)} results, {len(ok)} ok, indexes unique and complete: {idx == list(range(len(rs)))}")
t0 = min(r["received_unix_s"] for r in rs)
print(f"change: {victim} at {change - t0:.1f} s after the first result")
end = max(r["received_unix_s"] for r in rs)
t = t0
while t < end:
    n = sum(1 for r in rs if t <= r["received_unix_s"] < t + 5)
    pipes = sorted({r["pipeline"] for r in rs if t <= r["received_unix_s"] < t + 5})
    mark = " <- change" if t <= change < t + 5 else ""
    print(f"{t - t0:6.0f} s  {n / 5:6.2f}/s  pipeline {pipes}{mark}")
    t += 5
PY
grep -A40 '^events' "$out/dispatcher.log" || true
