#!/usr/bin/env bash
# Runtime adaptation on an emulated cluster (root): N pi4-ethernet nodes run
# ResNet-50; after STEADY seconds the cluster changes while the stream runs:
#   cpu   one node's CPU share drops 3x (--adapt on)
#   link  one node's uplink drops to 20 Mbit/s (--adapt on)
#   add   the dispatcher starts without the last ADD nodes (default 1) in its
#         config, and they are added to the file (--watch-cluster --adapt off)
#   steady  nothing changes (--adapt on): STEADY seconds of a stream that
#         should make no migration (give REQUESTS enough for them)
# Then a fresh dispatcher (--adapt off) runs FRESH requests (none if 0) on the changed
# cluster: what a new plan achieves there. Prints the dispatcher's events,
# the throughput per 5 s window from results.jsonl (receive times) with the
# change marked, and how long after the change a 5 s window first reached
# 90% of the fresh plan's throughput; writes the same in OUT_DIR/summary.json.
# The build is $TANDEM_BUILD_DIR (default build). Usage:
#   bench/adapt-bench.sh OUT_DIR [cpu|link|add] [NODES] [STEADY_S] [REQUESTS] [FRESH] [ADD]
# e.g. bench/adapt-bench.sh /root/adapt-cpu cpu 6 60 450
# Needs the fixtures (scripts/ensure-fixtures.sh) and a build in build/.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:?usage: bench/adapt-bench.sh OUT_DIR [cpu|link|add] [NODES] [STEADY_S] [REQUESTS] [FRESH] [ADD]}
kind=${2:-cpu}
nodes=${3:-6}
steady=${4:-60}
requests=${5:-450}
fresh=${6:-150}
add=${7:-1}
fixtures=${TANDEM_FIXTURE_DIR:-$HOME/.cache/tandem/fixtures}
build=${TANDEM_BUILD_DIR:-build}
model=$fixtures/resnet50.traced.pt
[ -f "$model" ] || { echo "adapt-bench: $model missing (scripts/ensure-fixtures.sh)" >&2; exit 1; }
flags="--adapt on"
case "$kind" in
  cpu) shape="--cpu 0.05" ;;    # 0.15 -> 0.05 of a CPU: 3x slower
  link) shape="--uplink 20" ;;  # 940 -> 20 Mbit/s out of the node
  add) shape=""; flags="--watch-cluster --adapt off" ;;
  steady) shape="" ;;
  *) echo "adapt-bench: kind is cpu, link, add or steady" >&2; exit 2 ;;
esac
rm -rf "$out"
mkdir -p "$out"
cat >"$out/run.sh" <<SCRIPT
#!/usr/bin/env bash
set -u
config="\$TANDEM_CLUSTER"
if [ $kind = add ]; then
  # Beside the emulator's config (its key paths are relative to its folder), without the last nodes.
  config="\$(dirname "\$TANDEM_CLUSTER")/watched.json"
  /usr/bin/python3 -c 'import json, sys; c = json.load(open(sys.argv[1])); c["workers"] = c["workers"][:-int(sys.argv[3])]; json.dump(c, open(sys.argv[2], "w"), indent=2)' \
    "\$TANDEM_CLUSTER" "\$config" $add
fi
$build/bin/tandem-dispatcher run -m "$model" -c "\$config" --synthetic $requests -s 1,3,224,224 \\
  -o "$out/outputs" $flags --report "$out/report.json" >"$out/dispatcher.log" 2>&1 &
d=\$!
if [ $kind = steady ]; then  # the whole run, nothing changed: the "change" is its end
  wait \$d
  date +%s.%N >"$out/change_unix_s"
  echo none >"$out/victim"
  exit 0
fi
# The change comes STEADY seconds after the first result.
for _ in \$(seq 600); do [ -s "$out/outputs/results.jsonl" ] && break; sleep 0.5; done
sleep $steady
if [ $kind = add ]; then
  date +%s.%N >"$out/change_unix_s"
  /usr/bin/python3 -c 'import json, sys; print(" ".join(w["name"] for w in json.load(open(sys.argv[1]))["workers"][-int(sys.argv[2]):]))' "\$TANDEM_CLUSTER" $add >"$out/victim"
  cp "\$TANDEM_CLUSTER" "\$config.new" && mv "\$config.new" "\$config"
  wait \$d
else
# The worker of the first pipeline's second stage.
victim=\$(sed -n 's/.*pipeline 1 (model generation 1, [0-9]* stage(s) on n[0-9]*, \\(n[0-9]*\\).*/\\1/p' "$out/dispatcher.log" | head -1)
# A one-stage plan: its only worker.
[ -n "\$victim" ] || victim=\$(sed -n 's/.*pipeline 1 (model generation 1, [0-9]* stage(s) on \\(n[0-9]*\\).*/\\1/p' "$out/dispatcher.log" | head -1)
[ -n "\$victim" ] || { echo "adapt-bench: no pipeline in $out/dispatcher.log" >&2; kill \$d; exit 1; }
date +%s.%N >"$out/change_unix_s"
echo "\$victim" >"$out/victim"
scripts/emulate-cluster.py fault --dir "$out/cluster" shape "\$victim" $shape
wait \$d
fi
# A fresh plan on the changed cluster, told of the change (its config gives
# the slowed node a third of its speed, or the link its new rate).
fresh_config="\$(dirname "\$TANDEM_CLUSTER")/fresh.json"
/usr/bin/python3 -c '
import json, sys
c = json.load(open(sys.argv[1]))
for w in c["workers"]:
    if w["name"] in sys.argv[3].split():
        if sys.argv[2] == "cpu": w["speed"] = w.get("speed", 1.0) / 3
        if sys.argv[2] == "link": w["bandwidth_mbps"] = 20
json.dump(c, open(sys.argv[4], "w"), indent=2)' "\$TANDEM_CLUSTER" $kind "\$(cat "$out/victim")" "\$fresh_config"
$build/bin/tandem-dispatcher run -m "$model" -c "\$fresh_config" --synthetic $fresh -s 1,3,224,224 --adapt off \\
  -o "$out/fresh" --report "$out/fresh-report.json" >"$out/fresh.log" 2>&1
SCRIPT
chmod +x "$out/run.sh"
scripts/emulate-cluster.py up --profile configs/emulation/pi4-ethernet.json --nodes "$nodes" --dir "$out/cluster" \
  --build "$build" -- "$out/run.sh"
/usr/bin/python3 - "$out" "$fresh" <<'PY'
import json, os, sys
out, fresh_requests = sys.argv[1], int(sys.argv[2])
change = float(open(f"{out}/change_unix_s").read())
victim = open(f"{out}/victim").read().strip()
rs = [json.loads(l) for l in open(f"{out}/outputs/results.jsonl") if l.strip()]
ok = [r for r in rs if r["ok"]]
idx = sorted(r["index"] for r in rs)
complete = idx == list(range(len(rs)))
print(f"{len(rs)} results, {len(ok)} ok, indexes unique and complete: {complete}")
t0 = min(r["received_unix_s"] for r in rs)
print(f"change: {victim} at {change - t0:.1f} s after the first result")
end = max(r["received_unix_s"] for r in rs)
fresh = None
if fresh_requests > 0:
    fresh = json.load(open(f"{out}/fresh-report.json"))["requests"]["steady_throughput_per_s"]
back = None
t = t0
while t < end:
    n = sum(1 for r in rs if t <= r["received_unix_s"] < t + 5)
    pipes = sorted({r["pipeline"] for r in rs if t <= r["received_unix_s"] < t + 5})
    mark = " <- change" if t <= change < t + 5 and victim != "none" else ""
    print(f"{t - t0:6.0f} s  {n / 5:6.2f}/s  pipeline {pipes}{mark}")
    if fresh is not None and back is None and t >= change and n / 5 >= 0.9 * fresh:
        back = t + 5 - change
    t += 5
if fresh is not None:
    print(f"fresh plan on the changed cluster: {fresh:.2f}/s; a 5 s window at >= 90% of it "
          + (f"{back:.0f} s after the change (window end)" if back is not None else "never came"))
summary = {
    "requests": len(rs), "ok": len(ok), "complete": complete, "victim": victim,
    "change_s": change - t0,
    "pipelines_before": sorted({r["pipeline"] for r in rs if r["received_unix_s"] < change}),
    "pipelines_after": sorted({r["pipeline"] for r in rs if r["received_unix_s"] >= change}),
    "fresh_per_s": fresh, "fresh_requests": fresh_requests, "back_s": back,
}
json.dump(summary, open(f"{out}/summary.json", "w"), indent=2)
PY
grep -A40 '^events' "$out/dispatcher.log" || true
[ ! -f "$out/fresh.log" ] || grep -E '^(throughput|predicted)' "$out/fresh.log" | sed 's/^/fresh run: /' || true
