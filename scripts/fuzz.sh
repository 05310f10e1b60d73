#!/usr/bin/env bash
# Builds the decoders with clang, AddressSanitizer and UBSan, runs the unit
# tests and the worker tests (a sanitized tandem-worker, LibTorch included)
# under them, then runs each libFuzzer target (test/fuzz) for SECONDS seconds
# (default 60) from its committed seed corpus. The worker tests need the
# exported fixtures (scripts/ensure-fixtures.sh; $TANDEM_FIXTURE_DIR).
# Fails on any sanitizer report, test failure or fuzzer crash; a crashing
# input is kept in $build/crashes/TARGET/ to reproduce with
#   $build/bin/TARGET $build/crashes/TARGET/crash-...
# Set TANDEM_FUZZ_BUILD_DIR to choose the build folder (default build-fuzz).
# --build-only builds and stops (scripts/test.sh builds while ctest runs).
set -euo pipefail
cd "$(dirname "$0")/.."
build_only=0
if [ "${1:-}" = --build-only ]; then
  build_only=1
  shift
fi
seconds=${1:-60}
case "$seconds" in
  '' | *[!0-9]*) echo "usage: scripts/fuzz.sh [--build-only] [SECONDS per target]" >&2; exit 2 ;;
esac
build=${TANDEM_FUZZ_BUILD_DIR:-build-fuzz}
targets=(fuzz_protocol fuzz_activation fuzz_codec_frame fuzz_npy fuzz_files fuzz_v2_request)
unit_tests=(util_test tensor_test net_test config_test plan_test worker_unit_test worker_test)

if ! command -v clang++-14 >/dev/null; then
  echo "fuzz: clang++-14 is missing (scripts/install-deps.sh installs it)" >&2
  exit 1
fi
CC=clang-14 CXX=clang++-14 cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DTANDEM_BUILD_FUZZERS=ON -DTANDEM_ENABLE_ASAN=ON -DTANDEM_BUILD_TESTS=ON \
  -DTANDEM_BUILD_BENCH=OFF >/dev/null
cmake --build "$build" -j2 --target "${targets[@]}" "${unit_tests[@]}" tandem-worker
[ $build_only -eq 1 ] && exit 0

# LibTorch is not instrumented: its containers cross into ours (container
# overflow checks would misfire) and it keeps allocations for the process's
# life (leak checks would too), so those two checks are off for the binaries
# that link it; every other ASan and UBSan check stays on.
torch_free_asan=detect_leaks=1:abort_on_error=1
torch_asan=detect_leaks=0:detect_container_overflow=0:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
# The planner's large instances ([large]: hundreds of workers, wide random
# sweeps) run the same code as its small ones and take minutes under ASan;
# the default build runs them.
for t in "${unit_tests[@]}"; do
  echo "fuzz: $t under ASan/UBSan"
  case "$t" in worker*) export ASAN_OPTIONS=$torch_asan ;; *) export ASAN_OPTIONS=$torch_free_asan ;; esac
  spec=()
  [ "$t" = plan_test ] && spec=('~[large]')
  "$build/bin/$t" "${spec[@]}" >"$build/$t.log" 2>&1 || { tail -n 80 "$build/$t.log" >&2; echo "fuzz: $t failed" >&2; exit 1; }
  tail -n 2 "$build/$t.log"
done

export ASAN_OPTIONS=$torch_free_asan
status=0
for t in "${targets[@]}"; do
  # The fuzzer adds what it finds to a scratch copy; the committed seeds stay as they are.
  work="$build/corpus/$t"
  crashes="$build/crashes/$t"
  rm -rf "$work" && mkdir -p "$work" "$crashes"
  cp test/fuzz/corpus/"$t"/* "$work"/
  log="$build/$t.log"
  if "$build/bin/$t" -max_total_time="$seconds" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
      -artifact_prefix="$crashes/" -print_final_stats=1 "$work" >"$log" 2>&1; then
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    echo "fuzz: $t: ${runs:-?} inputs in ${seconds}s, no crash ($(ls "$work" | wc -l) in corpus)"
  else
    tail -n 40 "$log" >&2
    echo "fuzz: $t FAILED: input kept in $crashes/" >&2
    status=1
  fi
done
exit $status
