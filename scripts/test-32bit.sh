#!/usr/bin/env bash
# The layers that do not need LibTorch (util, tensor, net, config, plan: every
# decoder of bytes from outside, the JSON loaders, the planner) built for
# 32-bit ARM (armhf: Raspberry Pi OS 32-bit, the first Pis) with Debian's
# cross toolchain, and their unit tests run under qemu-arm-static. size_t is
# 32 bits there, so the bounds on sizes that peers and files give are checked
# where they can overflow. Debian has no LibTorch for armhf, so
# tandem-worker and tandem-dispatcher themselves cannot be built for it.
#
# Usage: scripts/test-32bit.sh [BUILD_DIR] [-- CTEST_ARGS...]
#   BUILD_DIR: default build-armhf; a relative path is taken from the source tree
# As root it installs what it needs (crossbuild-essential-armhf,
# qemu-user-static, the armhf architecture in dpkg); the armhf libraries are
# unpacked into BUILD_DIR/sysroot (scripts/cross-sysroot.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
src=$(pwd)
build=build-armhf
if [ $# -gt 0 ] && [ "$1" != "--" ]; then
  build=$1
  shift
fi
[ "${1:-}" != "--" ] || shift
build=$(realpath -m "$build")
start=$(date +%s)
log() { echo "test-32bit: $*" >&2; }

scripts/install-deps.sh crossbuild-essential-armhf qemu-user-static file

seeds=(
  libzmq3-dev:armhf libzmq5:armhf liblz4-dev:armhf liblz4-1:armhf
  libsodium-dev:armhf libsodium23:armhf libxxhash-dev:armhf libxxhash0:armhf
  libzfp-dev:armhf libzfp1:armhf
  libc6:armhf libstdc++6:armhf libgcc-s1:armhf
  nlohmann-json3-dev libcli11-dev catch2:armhf
)
scripts/cross-sysroot.sh armhf "$build/sysroot" "$build/debs" "${seeds[@]}"

cmake -S "$src" -B "$build" -DCMAKE_TOOLCHAIN_FILE="$src/cmake/cross-toolchain.cmake" -DTANDEM_CROSS_ARCH=armhf \
  -DTANDEM_SYSROOT="$build/sysroot" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTANDEM_CORE_ONLY=ON \
  -DTANDEM_BUILD_TESTS=ON -DTANDEM_BUILD_BENCH=OFF >/dev/null
cmake --build "$build" -j"${TANDEM_JOBS:-2}"
file -b "$build/bin/net_test" | grep -q '32-bit.*ARM' || { log "$build/bin/net_test is not a 32-bit ARM executable"; exit 1; }
(cd "$build" && ctest --output-on-failure --timeout 600 "$@")
log "done in $(($(date +%s) - start)) s"
