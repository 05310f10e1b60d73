#!/usr/bin/env bash
# Mixed architectures in one pipeline: an arm64 tandem-worker (cross-built by
# scripts/build-arm64.sh, run under qemu-aarch64-static) serves the middle
# stage of a 3-stage pipeline between two native workers, driven by the
# native dispatcher, every link CurveZMQ. Each output must equal the unsplit
# model's (PyTorch on this machine) within float tolerance: the arm64 stage
# runs other kernels (NEON, OpenBLAS for arm64), so bit equality is not
# expected, a wrong or garbled activation is.
#
# Usage: arm64_pipeline_test.sh NATIVE_BIN_DIR ARM64_BUILD_DIR FIXTURE_DIR [FIXTURE] [REQUESTS]
#   FIXTURE: a fixture id from FIXTURE_DIR/fixtures.json (default small_cnn.traced; one output tensor)
# Exit 77 (skipped) when qemu-aarch64-static or the arm64 build is missing.
set -euo pipefail
native=$(realpath "$1")
arm64=$(realpath "$2")
fixtures=$(realpath "$3")
fixture=${4:-small_cnn.traced}
requests=${5:-6}

qemu=$(command -v qemu-aarch64-static || true)
if [ -z "$qemu" ]; then
  echo "SKIPPED: qemu-aarch64-static is not installed (scripts/build-arm64.sh installs it)"
  exit 77
fi
if [ ! -x "$arm64/bin/tandem-worker" ] || [ ! -f "$arm64/sysroot/.complete" ]; then
  echo "SKIPPED: no arm64 build in $arm64 (run scripts/build-arm64.sh)"
  exit 77
fi

tmp=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*"
  for f in "$tmp"/w*.log; do
    echo "--- $f"
    tail -20 "$f"
  done
  exit 1
}

arm() { "$qemu" -L "$arm64/sysroot" "$@"; }

# The arm64 binary itself runs and is arm64.
file -b "$arm64/bin/tandem-worker" | grep -q 'ARM aarch64' || fail "$arm64/bin/tandem-worker is not arm64"
arm "$arm64/bin/tandem-worker" --help | grep -q -- '--authorized-keys' || fail "the arm64 worker's --help"

model=$(/usr/bin/python3 - "$fixtures" "$fixture" <<'EOF'
import json, os, sys
meta = json.load(open(os.path.join(sys.argv[1], "fixtures.json")))
e = next(e for e in meta["fixtures"] if "%s.%s" % (e["name"], e["variant"]) == sys.argv[2])
print(os.path.join(sys.argv[1], e["model"]))
EOF
)
[ -f "$model" ] || fail "no model file for $fixture"

# Keys: the dispatcher's, the native workers' (native keygen), the arm64
# worker's (its own keygen, under qemu).
cd "$tmp"
"$native/tandem-dispatcher" keygen --secret dispatcher.key >/dev/null 2>&1
cp dispatcher.key.pub authorized_keys
"$native/tandem-worker" keygen --secret w0.key >/dev/null 2>&1
arm "$arm64/bin/tandem-worker" keygen --secret w1.key >/dev/null 2>&1
"$native/tandem-worker" keygen --secret w2.key >/dev/null 2>&1
[ "$(stat -c %a w1.key)" = 600 ] || fail "the arm64 keygen left w1.key mode $(stat -c %a w1.key)"

base=$((20000 + RANDOM % 20000))
port() { echo $((base + 10 * $1)); }
start_worker() {
  local i=$1
  shift
  "$@" --listen "tcp://127.0.0.1:$(port "$i")" --name "w$i" --threads 1 \
    --secret-key "w$i.key" --authorized-keys authorized_keys >"w$i.log" 2>&1 &
  pids+=($!)
}
start_worker 0 "$native/tandem-worker"
start_worker 1 "$qemu" -L "$arm64/sysroot" "$arm64/bin/tandem-worker"
start_worker 2 "$native/tandem-worker"
for i in 0 1 2; do
  for _ in $(seq 1 600); do
    grep -q "listening on" "w$i.log" && break
    kill -0 "${pids[$i]}" 2>/dev/null || fail "worker w$i exited"
    sleep 0.2
  done
  grep -q "listening on" "w$i.log" || fail "worker w$i did not start within 120 s"
done

cat >cluster.json <<EOF
{
  "dispatcher": {"secret_key": "dispatcher.key"},
  "timeouts": {"connect_s": 30, "deploy_s": 300, "result_s": 300},
  "workers": [
    {"name": "w0", "endpoint": "tcp://127.0.0.1:$(port 0)", "public_key": "w0.key.pub"},
    {"name": "w1", "endpoint": "tcp://127.0.0.1:$(port 1)", "public_key": "w1.key.pub"},
    {"name": "w2", "endpoint": "tcp://127.0.0.1:$(port 2)", "public_key": "w2.key.pub"}
  ]
}
EOF

# Inputs, and the unsplit model's outputs for them (the reference).
/usr/bin/python3 - "$model" "$fixtures" "$fixture" "$requests" <<'EOF'
import json, os, sys
import numpy as np
import torch
model_path, fixtures, fixture, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
meta = json.load(open(os.path.join(fixtures, "fixtures.json")))
e = next(e for e in meta["fixtures"] if "%s.%s" % (e["name"], e["variant"]) == fixture)
os.makedirs("in"); os.makedirs("ref")
model = torch.jit.load(model_path).eval()
rng = np.random.default_rng(7)
for i in range(n):
    x = rng.standard_normal(e["input_shape"]).astype(np.float32)
    np.save("in/r%03d.npy" % i, x)
    with torch.no_grad():
        y = model(torch.from_numpy(x))
    assert isinstance(y, torch.Tensor), "the test compares one output tensor"
    np.save("ref/r%03d.npy" % i, y.numpy())
EOF

"$native/tandem-dispatcher" run -m "$model" -c cluster.json -k 3 -i in -o out \
  --report report.json --repeats 1 --warmup 0 >run.log 2>&1 || { cat run.log; fail "the dispatcher's run failed"; }

/usr/bin/python3 - "$requests" <<'EOF' || { cat run.log; fail "outputs differ from the unsplit model's"; }
import glob, json, sys
import numpy as np
n = int(sys.argv[1])
report = json.load(open("report.json"))
stages = report["stages"]
assert len(stages) == 3, "3 stages expected, report has %d" % len(stages)
workers = [s["worker"] for s in stages]
assert workers == ["w0", "w1", "w2"], "stages ran on %s" % workers
assert report["requests"]["completed"] == n and report["requests"]["failed"] == 0, report["requests"]
assert all(s["requests"] == n for s in stages), [s["requests"] for s in stages]
worst = 0.0
for i in range(n):
    ref = np.load("ref/r%03d.npy" % i)
    out = np.load("out/r%03d.out.npy" % i)
    assert out.shape == ref.shape and out.dtype == ref.dtype, "r%03d: %s %s against %s %s" % (
        i, out.shape, out.dtype, ref.shape, ref.dtype)
    err = float(np.max(np.abs(out - ref)) / max(1e-6, float(np.max(np.abs(ref)))))
    worst = max(worst, err)
    assert err <= 1e-4, "r%03d: relative error %.3g" % (i, err)
assert len(glob.glob("out/*.npy")) == n, "%d outputs for %d requests" % (len(glob.glob("out/*.npy")), n)
print("%d requests through w0 (amd64) -> w1 (arm64, qemu) -> w2 (amd64): worst relative error %.2g" % (n, worst))
EOF
echo "PASS: arm64 worker served the middle stage of $fixture"
