#!/usr/bin/env bash
# The main job, from a fresh Debian 12 machine: installs what is needed (as
# root), builds tandem, exports a demo model (ResNet-50 with random weights),
# profiles it, and splits it into 4 balanced stages, verified against the
# unsplit model.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
build=${TANDEM_BUILD_DIR:-build}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j2 --target tandem-dispatcher
demo=${TANDEM_DEMO_DIR:-$build/demo}
mkdir -p "$demo"
if [ ! -f "$demo/resnet50.traced.pt" ]; then
  /usr/bin/python3 scripts/export-models.py "$demo" --models resnet50 --variants traced
fi
"$build/bin/tandem-dispatcher" profile -m "$demo/resnet50.traced.pt" -s 1,3,224,224 -o "$demo/profile.json"
"$build/bin/tandem-dispatcher" split -m "$demo/resnet50.traced.pt" -s 1,3,224,224 -k 4 -o "$demo/stages"
echo "demo: profile in $demo/profile.json, stages and manifest in $demo/stages/"
