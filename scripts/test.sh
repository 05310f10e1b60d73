#!/usr/bin/env bash
# Builds tandem and runs its test suite, from a fresh Debian 12 machine:
# installs the packages it needs (as root), configures, builds with -j2 and
# runs ctest. Extra arguments go to ctest (e.g. -L unit). With none, every
# test runs but the exhaustive sweeps (label `sweep`: the single-cut sweep and
# the pipeline of every large fixture model), the long emulated runs (label
# `long`: runtime adaptation on 6 emulated nodes, about 25 minutes) and the
# arm64/packaging tests (label `cross`: scripts/test-cross.sh builds what
# they need and runs them); `--all` runs the sweeps and the long runs too,
# and `-L sweep` or `-L long` runs only those. Without
# arguments (or with `--all`) it then runs scripts/fuzz.sh: the unit and
# worker tests under ASan/UBSan and each fuzz target for $TANDEM_FUZZ_SECONDS
# seconds (default 10).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
scripts/install-deps.sh
build=${TANDEM_BUILD_DIR:-build}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTANDEM_BUILD_TESTS=ON >/dev/null
cmake --build "$build" -j2
cd "$build"
fuzz=0
if [ $# -eq 0 ]; then
  set -- -LE 'sweep|cross|long'
  fuzz=1
elif [ "$1" = "--all" ]; then
  shift
  set -- -LE cross "$@"
  fuzz=1
fi
# The sanitizer build goes on beside ctest at the lowest priority: the tests
# leave about half of the two cores idle (waiting on workers, heartbeats and
# timeouts), and niced compilers take only what the tests leave. It gets a
# process group of its own (set -m), stopped with everything it started if
# this script ends first, but stays in this session: with autogroup
# scheduling a new session (setsid) would be a group of its own, given an
# equal share of the CPU whatever its nice value (measured: the pipeline
# tests took twice as long).
fuzz_build=
if [ $fuzz -eq 1 ]; then
  fuzz_log=$(mktemp /tmp/tandem-fuzz-build-XXXXXX.log)
  set -m
  (cd "$root" && exec nice -n 19 scripts/fuzz.sh --build-only) >"$fuzz_log" 2>&1 &
  fuzz_build=$!
  set +m
  trap '[ -z "$fuzz_build" ] || kill -- -"$fuzz_build" 2>/dev/null || true' EXIT
fi
ctest --output-on-failure --timeout 900 "$@"  # a failure ends the script (set -e), and the build with it
cd "$root"
if [ $fuzz -eq 1 ]; then
  if ! wait "$fuzz_build"; then
    fuzz_build=
    cat "$fuzz_log" >&2
    echo "test.sh: the sanitizer build failed" >&2
    exit 1
  fi
  fuzz_build=
  rm -f "$fuzz_log"
  scripts/fuzz.sh "${TANDEM_FUZZ_SECONDS:-10}"
fi
