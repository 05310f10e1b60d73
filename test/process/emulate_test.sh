#!/usr/bin/env bash
# Brings up 3 emulated nodes (network namespaces on a private bridge, tc
# bandwidth limits, an NFQUEUE delay, cgroup CPU shares), measures its links
# (measure-links must see the limits and the delay), runs a pipeline
# across them, checks the outputs against the model's reference output, that
# each bandwidth-bound hop's measured transfer time is what the limit and the
# delay give (within 25%), that the nodes were throttled to their CPU share,
# that a 0.15-CPU node takes VGG-16's 500 MB stage without missing
# heartbeats, and that nothing (namespace, interface, cgroup) is left behind.
# Needs root: exits 77 (skipped) otherwise.
# usage: emulate_test.sh SOURCE_DIR BUILD_DIR FIXTURE_DIR
set -euo pipefail
src=$1 build=$2 fixtures=$3
. "$src/test/process/emulation_preflight.sh"

work=$(mktemp -d /tmp/tandem-emulate-XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/in" "$work/out"
for i in 0 1 2 3 4 5 6 7; do cp "$fixtures/small_cnn.input.npy" "$work/in/in-$i.npy"; done
cat > "$work/profile.json" <<'JSON'
{"name": "test", "node": {"cpu_share": 0.3, "io_cpu_share": 0.2, "threads": 1, "memory_mb": 512,
 "uplink_mbps": 50, "downlink_mbps": 80, "latency_ms": 5, "loss": 0}}
JSON
cat > "$work/check.sh" <<CHECK
set -e
python3 "$src/scripts/emulate-cluster.py" stats --dir "$work/emu" > "$work/stats-before.json"
# A TCP connect is a SYN into the node and a SYN-ACK back: two delayed hops.
python3 -c "
import json, socket, time
c = json.load(open('\$TANDEM_CLUSTER'))
host, port = c['workers'][0]['endpoint'][6:].rsplit(':', 1)
t = time.time(); socket.create_connection((host, int(port)), 5).close(); print(time.time() - t)
" > "$work/connect_s"
"$build/bin/tandem-dispatcher" measure-links -c "\$TANDEM_CLUSTER" -o "$work/links.json" --probe-mb 1 --rounds 2
"$build/bin/tandem-dispatcher" run -m "$fixtures/small_cnn.traced.pt" -c "\$TANDEM_CLUSTER" -i "$work/in" \
  -o "$work/out" -k 3 --warmup 0 --repeats 1 --codec raw --window 1 --report "$work/report.json"
python3 "$src/scripts/emulate-cluster.py" stats --dir "$work/emu" > "$work/stats.json"
ip netns list > "$work/netns-during"
# The I/O thread's own group: which threads, what quota.
io=/sys/fs/cgroup/cpu/\$(python3 -c "import json;print(json.load(open('$work/emu/state.json'))['tag'])")/n0-io
for t in \$(cat \$io/tasks); do cat /proc/\$t/comm; done > "$work/io-threads"
echo \$(cat \$io/cpu.cfs_quota_us) \$(cat \$io/cpu.cfs_period_us) > "$work/io-quota"
CHECK
python3 "$src/scripts/emulate-cluster.py" up --profile "$work/profile.json" --nodes 3 --dir "$work/emu" \
  --build "$build" -- sh "$work/check.sh"

# Outputs equal the reference.
/usr/bin/python3 - "$work" "$fixtures" <<'PY'
import json, sys, numpy as np
work, fixtures = sys.argv[1], sys.argv[2]
ref = np.load(f"{fixtures}/small_cnn.traced.out.npy")
for i in range(8):
    got = np.load(f"{work}/out/in-{i}.out.npy")
    assert got.shape == ref.shape, (got.shape, ref.shape)
    diff = float(np.max(np.abs(got - ref)))
    assert diff <= 1e-4 * max(1.0, float(np.max(np.abs(ref)))), f"in-{i}: max |diff| {diff}"
connect = float(open(f"{work}/connect_s").read())
assert 0.008 <= connect < 1.0, f"TCP connect took {connect:.4f} s; two 5 ms delays expected"
print(f"TCP connect across the emulated network: {connect * 1000:.1f} ms (two 5 ms delays)")
# Per-hop transfer time, one request at a time: bytes over the narrowest
# limit on the way (the sender's uplink, 50 Mbit/s, or the receiver's
# downlink, 80) plus the receiver's 5 ms delay. Checked where the bandwidth
# term dominates; the others are printed.
rep = json.load(open(f"{work}/report.json"))
checked = 0
for h in rep["hops"]:
    mbps = 80 if h["from"] == "dispatcher" else 50
    expect_ms = h["bytes_per_request"] * 8 / (mbps * 1e6) * 1e3 + 5
    got_ms = h["transfer_ms"]["p50"]
    line = f"hop {h['from']} -> {h['to']}: {h['bytes_per_request'] / 1e3:.0f} kB, {got_ms:.1f} ms, limit and delay give {expect_ms:.1f} ms"
    print(line)
    if h["bytes_per_request"] >= 100e3:
        assert abs(got_ms - expect_ms) <= 0.25 * expect_ms, "off by more than 25%: " + line
        checked += 1
assert checked >= 2, f"only {checked} bandwidth-bound hops: {rep['hops']}"
# measure-links sees the same limits: into a node 80 Mbit/s (its downlink),
# out of a node 50 (its uplink), each way 5 ms (the receiver's delay).
links = json.load(open(f"{work}/links.json"))["links"]
assert len(links) == 12, links  # 3 dispatcher links and 3 worker pairs, both ways
for l in links:
    mbps = 80 if l["from"] == "dispatcher" else 50
    line = f"link {l['from']} -> {l['to']}: {l['bandwidth_mbps']:.1f} Mbit/s, {l['latency_ms']:.2f} ms; limit {mbps}, delay 5"
    print(line)
    assert abs(l["bandwidth_mbps"] - mbps) <= 0.25 * mbps, "bandwidth off by more than 25%: " + line
    assert 4.5 <= l["latency_ms"] <= 7.0, "latency not the 5 ms delay: " + line
stats = json.load(open(f"{work}/stats.json"))["nodes"]
assert set(stats) == {"n0", "n1", "n2"}, stats
for name, s in stats.items():
    assert s.get("nr_periods", 0) > 0, f"{name}: no cgroup periods: {s}"
    assert s.get("nr_throttled", 0) > 0, f"{name}: never throttled at a 0.3 CPU share: {s}"
threads = open(f"{work}/io-threads").read().split()
assert threads and all(t.startswith("ZMQbg/IO") for t in threads), f"n0's I/O group holds {threads}"
quota, period = map(int, open(f"{work}/io-quota").read().split())
assert abs(quota / period - 0.2) < 0.01, f"n0's I/O quota {quota}/{period}, 0.2 expected"
print(f"outputs match; every node was throttled to its CPU share; n0's I/O group: {threads}, {quota}/{period}")
PY
tag=$(python3 -c "import json;print(json.load(open('$work/emu/state.json'))['tag'])")
grep -q "$tag-n0" "$work/netns-during"
# Nothing left behind.
if ip netns list | grep -q "$tag"; then echo "FAIL: namespaces left: $(ip netns list | grep "$tag")"; exit 1; fi
if ip -o link | grep -q "$tag"; then echo "FAIL: interfaces left"; exit 1; fi
if [ -e "/sys/fs/cgroup/cpu/$tag" ]; then echo "FAIL: cgroup left"; exit 1; fi
echo "emulated cluster: pipeline ran, nothing left behind"

# A large stage to a slow node: VGG-16's fully connected layers (494 MB) in a
# stage to a 0.15-CPU node, with the default 1 s heartbeat timeout. The worker
# must go on answering heartbeats while it receives, checks and loads the
# stage (about 50 s there). A 32x32 image (VGG-16 pools adaptively) keeps
# the compute small; the weights are what this is about.
cat > "$work/slow.json" <<'JSON'
{"name": "slow", "node": {"cpu_share": 0.15, "threads": 1, "memory_mb": 3000,
 "uplink_mbps": 940, "downlink_mbps": 940, "latency_ms": 0, "loss": 0}}
JSON
python3 "$src/scripts/emulate-cluster.py" up --profile "$work/slow.json" --nodes 2 --dir "$work/emu-slow" \
  --build "$build" -- sh -c "\"$build/bin/tandem-dispatcher\" run -m \"$fixtures/vgg16.traced.pt\" \
  -c \"\$TANDEM_CLUSTER\" --synthetic 1 -s 1,3,32,32 -k 2 --warmup 0 --repeats 1 --codec raw \
  > \"$work/slow.out\" 2>&1" || { echo "FAIL: VGG-16 on a slow node:"; cat "$work/slow.out"; exit 1; }
grep -q "1 completed, 0 failed" "$work/slow.out" || { echo "FAIL: VGG-16 on a slow node:"; cat "$work/slow.out"; exit 1; }
grep -Eq "deployed stage 1 \((49[0-9]|5[0-9][0-9])\.[0-9]+ MB" "$work/slow.out" ||
  { echo "FAIL: VGG-16's second stage does not hold its linear layers:"; cat "$work/slow.out"; exit 1; }
echo "VGG-16's stage of 494+ MB deployed to a 0.15-CPU node within the 1 s heartbeat timeout"

# Held until Ctrl-C, with a worker killed first: still torn down completely.
python3 "$src/scripts/emulate-cluster.py" up --profile "$work/profile.json" --nodes 2 --dir "$work/emu2" \
  --build "$build" &
holder=$!
for _ in $(seq 300); do [ -f "$work/emu2/cluster.json" ] && break; sleep 0.1; done
[ -f "$work/emu2/cluster.json" ] || { echo "FAIL: the held cluster did not come up"; kill $holder; exit 1; }
sleep 1
python3 "$src/scripts/emulate-cluster.py" fault --dir "$work/emu2" kill n1
kill -INT $holder
wait $holder || true
tag2=$(python3 -c "import json;print(json.load(open('$work/emu2/state.json'))['tag'])")
if ip netns list | grep -q "$tag2" || ip -o link | grep -q "$tag2" || [ -e "/sys/fs/cgroup/cpu/$tag2" ]; then
  echo "FAIL: Ctrl-C after a worker crash left $tag2 behind"; exit 1
fi
echo "Ctrl-C after a worker crash: nothing left behind"

# Not root: a clear refusal.
if command -v setpriv >/dev/null; then
  set +e
  msg=$(setpriv --reuid 65534 --regid 65534 --clear-groups /usr/bin/python3 "$src/scripts/emulate-cluster.py" up \
        --profile "$work/profile.json" --nodes 1 --dir /tmp/tandem-emulate-nobody-$$ 2>&1)
  rc=$?
  set -e
  [ $rc -eq 2 ] && echo "$msg" | grep -q "needs root" || { echo "FAIL: non-root run: rc $rc: $msg"; exit 1; }
  echo "not root: refused with '$msg'"
fi
