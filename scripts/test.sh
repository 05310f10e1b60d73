#!/usr/bin/env bash
# Builds tandem and runs its whole test suite, from a fresh Debian 12 machine:
# installs the packages it needs (as root), configures, builds with -j2 and
# runs ctest. Extra arguments go to ctest (e.g. -L unit, -LE sweep).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
build=${TANDEM_BUILD_DIR:-build}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTANDEM_BUILD_TESTS=ON >/dev/null
cmake --build "$build" -j2
cd "$build"
ctest --output-on-failure --timeout 900 "$@"
