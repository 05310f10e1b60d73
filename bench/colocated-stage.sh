#!/usr/bin/env bash
# How much co-located emulated nodes slow one stage down. Profiles STAGE (a
# stage module from `tandem-dispatcher split`) in a cgroup with a CPU share
# (as emulate-cluster.py gives a node), alone and then while N other cgroups
# of the same share each run MODEL's profile in a loop (N busy co-located
# nodes), and prints the sum of the stage's segment times in both cases.
# Root (cgroup v1 cpu controller).
#
#   bench/colocated-stage.sh BUILD STAGE.pt STAGE_INPUT_SHAPE MODEL.pt MODEL_INPUT_SHAPE [N=7] [SHARE=0.15]
set -euo pipefail
[ $# -ge 5 ] || { sed -n 2,9p "$0"; exit 2; }
build=$1 stage=$2 stage_shape=$3 model=$4 model_shape=$5 n=${6:-7} share=${7:-0.15}
[ "$(id -u)" -eq 0 ] || { echo "colocated-stage: needs root (cgroups)" >&2; exit 1; }
cg=/sys/fs/cgroup/cpu
[ -w "$cg" ] || { echo "colocated-stage: no writable cgroup v1 cpu controller at $cg" >&2; exit 1; }
disp="$build/bin/tandem-dispatcher"
period=$(python3 -c "print(max(4000, int(1000 / $share) + 1))")
quota=$(python3 -c "print(int($period * $share))")
work=$(mktemp -d /tmp/colocated-XXXXXX)
pids=()
groups=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  for g in "${groups[@]}"; do rmdir "$cg/$g" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
# Makes cgroup NAME; sets $made to its path below $cg.
group() {
  made="tandem-colocated-$$-$1"
  mkdir -p "$cg/$made"
  groups+=("$made")
  echo "$period" > "$cg/$made/cpu.cfs_period_us"
  echo "$quota" > "$cg/$made/cpu.cfs_quota_us"
}
in_group() {
  local g=$1
  shift
  sh -c "echo \$\$ > $cg/$g/cgroup.procs && exec \"\$0\" \"\$@\"" "$@"
}
# In the background: the job's pid is the profiler's own (exec), so cleanup
# can kill it.
in_group_exec() {
  local g=$1
  shift
  exec sh -c "echo \$\$ > $cg/$g/cgroup.procs && exec \"\$0\" \"\$@\"" "$@"
}
profile_stage() {
  in_group "$main" "$disp" profile -m "$stage" -s "$stage_shape" -t 1 --warmup 1 --repeats 3 --mean --min-time 0.25 \
    --move-codec none -o "$work/$1.json" > /dev/null 2>&1
}
group main
main=$made
profile_stage alone
for i in $(seq "$n"); do
  group "load$i"
  in_group_exec "$made" "$disp" profile -m "$model" -s "$model_shape" -t 1 --warmup 1 --repeats 3 --mean --min-time 3600 \
    --move-codec none > /dev/null 2>&1 &
  pids+=($!)
done
sleep 10  # the co-runners load their model and start
profile_stage loaded
/usr/bin/python3 - "$work" "$n" "$share" <<'PY'
import json, sys
work, n, share = sys.argv[1], sys.argv[2], sys.argv[3]
t = {k: sum(s["compute_s"] for s in json.load(open(f"{work}/{k}.json"))["segments"]) for k in ("alone", "loaded")}
print(f"stage on a {share}-CPU cgroup: {t['alone'] * 1e3:.1f} ms alone, {t['loaded'] * 1e3:.1f} ms beside {n} busy "
      f"co-located nodes ({t['loaded'] / t['alone']:.2f}x)")
PY
