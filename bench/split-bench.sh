#!/usr/bin/env bash
# Per fixture model: valid cut points (one tensor / several), time to profile,
# time to split into 4 balanced stages (which profiles again, then writes and
# verifies the stages). Prints a Markdown table.
# Usage: bench/split-bench.sh [BUILD_DIR] [FIXTURE_DIR]
set -euo pipefail
build=${1:-build}
fixtures=${2:-$HOME/.cache/tandem/fixtures}
disp="$build/bin/tandem-dispatcher"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "| model | nodes | cuts | one tensor | several | profile (s) | split -k 4 (s) | whole model (ms) |"
echo "|---|---|---|---|---|---|---|---|"
for m in small_cnn.traced small_cnn.scripted irregular.scripted resnet18.traced resnet18.scripted \
         resnet50.traced resnet50.scripted mobilenet_v2.traced mobilenet_v2.scripted \
         googlenet.traced googlenet.scripted vgg16.traced vgg16.scripted; do
  t0=$(date +%s.%N)
  "$disp" profile -m "$fixtures/$m.pt" -s 1,3,224,224 -o "$tmp/p.json" >/dev/null 2>&1
  t1=$(date +%s.%N)
  "$disp" split -m "$fixtures/$m.pt" -s 1,3,224,224 -k 4 -o "$tmp/s" >/dev/null 2>&1
  t2=$(date +%s.%N)
  /usr/bin/python3 - "$tmp/p.json" "$m" "$t0" "$t1" "$t2" <<'PY'
import json, sys
p = json.load(open(sys.argv[1]))
cuts = p["cuts"]
one = sum(1 for c in cuts if len(c["tensors"]) == 1)
t0, t1, t2 = map(float, sys.argv[3:6])
print("| %s | %d | %d | %d | %d | %.1f | %.1f | %.1f |" % (sys.argv[2], p["model"]["num_nodes"], len(cuts), one,
      len(cuts) - one, t1 - t0, t2 - t1, p["model_compute_s"] * 1e3))
PY
  rm -rf "$tmp/s"
done
echo
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores; defaults (--warmup 3 --repeats 10, threads = cores)"
