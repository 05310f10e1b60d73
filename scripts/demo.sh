#!/usr/bin/env bash
# The main job, end to end, from a fresh Debian 12 machine: installs what is
# needed (as root), builds tandem, exports a demo model (ResNet-50 with
# random weights), starts a local cluster of 3 workers, splits the model into
# 3 balanced stages, deploys them, streams 48 inputs through the pipeline,
# prints throughput, latency and per-hop figures, and stops the workers.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
build=${TANDEM_BUILD_DIR:-build}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j2 --target tandem-dispatcher tandem-worker
demo=${TANDEM_DEMO_DIR:-$build/demo}
mkdir -p "$demo"
if [ ! -f "$demo/resnet50.traced.pt" ]; then
  /usr/bin/python3 scripts/export-models.py "$demo" --models resnet50 --variants traced
fi
export TANDEM_RUN_DIR="$demo/cluster"
trap 'scripts/local-cluster.sh stop' EXIT INT TERM
scripts/local-cluster.sh start 3 "$build"
"$build/bin/tandem-dispatcher" run -m "$demo/resnet50.traced.pt" --synthetic 48 -s 1,3,224,224 -o "$demo/outputs"
echo "demo: 48 outputs in $demo/outputs/, worker logs in $TANDEM_RUN_DIR/"
