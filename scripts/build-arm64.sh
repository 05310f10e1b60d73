#!/usr/bin/env bash
# Cross-builds tandem-worker and tandem-dispatcher for arm64 (Raspberry Pi 3/4/5
# with a 64-bit OS, other aarch64 boards) on an amd64 Debian 12 machine, with
# Debian's cross toolchain against Debian's own arm64 libraries.
#
# Usage: scripts/build-arm64.sh [--sysroot-only] [BUILD_DIR]
#   BUILD_DIR: default build-arm64; a relative path is taken from the source tree
#   --sysroot-only: make the sysroot and stop (scripts/build-debs.sh builds
#   the arm64 packages against it)
#
# As root it installs what it needs (crossbuild-essential-arm64,
# qemu-user-static, the native build's packages, and the arm64 architecture in
# dpkg); each step is skipped when already done. The arm64 libraries are
# unpacked into BUILD_DIR/sysroot (apt-get download + dpkg -x), not installed:
# libtorch-dev is not multi-arch, and installing libtorch1.13:arm64 beside the
# amd64 one that the native build uses makes apt remove the amd64 one. The
# sysroot holds the -dev packages tandem builds against and, found by following
# every shared library's DT_NEEDED, each library they load at run time, so
# that qemu-aarch64-static -L BUILD_DIR/sysroot runs the binaries here.
#
# Output: BUILD_DIR/bin/tandem-worker and BUILD_DIR/bin/tandem-dispatcher.
set -euo pipefail
cd "$(dirname "$0")/.."
src=$(pwd)
sysroot_only=0
if [ "${1:-}" = "--sysroot-only" ]; then
  sysroot_only=1
  shift
fi
build=$(realpath -m "${1:-build-arm64}")
sysroot=$build/sysroot
debs=$build/debs
start=$(date +%s)

log() { echo "build-arm64: $*" >&2; }

scripts/install-deps.sh crossbuild-essential-arm64 qemu-user-static binutils-aarch64-linux-gnu file

# The packages tandem builds against (their arm64 builds) and the C/C++
# runtime the binaries need under qemu. Architecture: all packages (headers
# only) are named without :arm64.
seeds=(
  libtorch-dev:arm64 libtorch1.13:arm64 libopenblas0-pthread:arm64
  libzmq3-dev:arm64 libzmq5:arm64 liblz4-dev:arm64 liblz4-1:arm64
  libsodium-dev:arm64 libsodium23:arm64 libxxhash-dev:arm64 libxxhash0:arm64
  libzfp-dev:arm64 libzfp1:arm64
  libcpp-httplib-dev:arm64 libcpp-httplib0.11:arm64 libssl-dev:arm64 zlib1g-dev:arm64 libbrotli-dev:arm64
  libc6:arm64 libstdc++6:arm64 libgcc-s1:arm64
  nlohmann-json3-dev libcli11-dev
  # LibTorch's CMake package looks for these (libtorch-dev depends on them).
  libgflags-dev:arm64 libgoogle-glog-dev:arm64 libprotobuf-dev:arm64
)

scripts/cross-sysroot.sh arm64 "$sysroot" "$debs" "${seeds[@]}"
[ $sysroot_only -eq 0 ] || exit 0

log "building in $build"
cmake -S "$src" -B "$build" -DCMAKE_TOOLCHAIN_FILE="$src/cmake/cross-toolchain.cmake" -DTANDEM_CROSS_ARCH=arm64 \
  -DTANDEM_SYSROOT="$sysroot" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DTANDEM_BUILD_TESTS=OFF -DTANDEM_BUILD_BENCH=OFF >/dev/null
cmake --build "$build" -j"${TANDEM_JOBS:-2}" --target tandem-worker tandem-dispatcher
for b in tandem-worker tandem-dispatcher; do
  file -b "$build/bin/$b" | grep -q 'ARM aarch64' || { log "$build/bin/$b is not an arm64 executable"; exit 1; }
done
log "done in $(($(date +%s) - start)) s: $build/bin/tandem-worker, $build/bin/tandem-dispatcher"
log "run here with: qemu-aarch64-static -L $sysroot $build/bin/tandem-worker --help"
