#!/usr/bin/env bash
# Runtime adaptation on 6 emulated pi4-ethernet nodes running ResNet-50
# (bench/adapt-bench.sh), as a test: KIND is cpu (one node's CPU share drops
# 3x mid-stream), link (one node's uplink drops to 20 Mbit/s), add (a node is
# added to the cluster config) or steady (nothing changes for 5 minutes).
# Checks: every request answered exactly once, with the outputs a fresh
# plan's run gives for the same inputs; no migration before the change and
# at most one after it (none at all when steady); and within 60 s of the
# change a 5 s window at >= 90% of the throughput of a fresh plan on the
# changed cluster (measured in the same run). Long (about 5 minutes each):
# label `long`, run by scripts/test.sh --all or -L long. With
# TANDEM_ADAPT_KEEP=DIR the run's files are kept in DIR/KIND (for
# bench/plot-timeline.py). Needs root: exits 77 (skipped) otherwise.
# usage: adapt_emulated_test.sh SOURCE_DIR BUILD_DIR FIXTURE_DIR KIND
set -euo pipefail
src=$1 build=$2 fixtures=$3 kind=$4
. "$src/test/process/emulation_preflight.sh"

work=$(mktemp -d /tmp/tandem-adapt-XXXXXX)
keep=${TANDEM_ADAPT_KEEP:-}
trap 'if [ -n "$keep" ]; then mkdir -p "$keep" && rm -rf "${keep:?}/$kind" && cp -r "$work/run" "$keep/$kind"; fi; rm -rf "$work"' EXIT
case "$kind" in
  steady) args=(steady 6 300 1300 0) ;;  # 5 minutes at about 4/s
  *) args=("$kind" 6 60 450 150) ;;
esac
TANDEM_BUILD_DIR=$build TANDEM_FIXTURE_DIR=$fixtures "$src/bench/adapt-bench.sh" "$work/run" "${args[@]}"
/usr/bin/python3 - "$work/run" "$kind" <<'PY'
import json, sys, numpy as np
out, kind = sys.argv[1], sys.argv[2]
s = json.load(open(f"{out}/summary.json"))
print(json.dumps(s, indent=2))
assert s["complete"] and s["ok"] == s["requests"], "not every request answered exactly once and well"
assert s["pipelines_before"] == [1], f"migrated while nothing changed: pipelines {s['pipelines_before']}"
if kind != "steady":  # (a steady run's "change" is its end)
    assert len(set(s["pipelines_after"]) - {1}) <= 1, f"more than one migration: pipelines {s['pipelines_after']}"
    assert s["back_s"] is not None and s["back_s"] <= 60, \
        f"not back to 90% of a fresh plan ({s['fresh_per_s']:.2f}/s) within 60 s: {s['back_s']}"
    # Outputs: the same inputs through the fresh plan's pipeline.
    for i in range(s["fresh_requests"]):
        a = np.load(f"{out}/outputs/request-{i:06d}.out.npy")
        b = np.load(f"{out}/fresh/request-{i:06d}.out.npy")
        assert a.shape == b.shape, (i, a.shape, b.shape)
        diff = float(np.max(np.abs(a - b)))
        assert diff <= 1e-4 * max(1.0, float(np.max(np.abs(b)))), f"request {i}: max |diff| {diff}"
print("ok")
PY
