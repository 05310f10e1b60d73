#!/usr/bin/env bash
# Cross-builds tandem-worker and tandem-dispatcher for arm64 (Raspberry Pi 3/4/5
# with a 64-bit OS, other aarch64 boards) on an amd64 Debian 12 machine, with
# Debian's cross toolchain against Debian's own arm64 libraries.
#
# Usage: scripts/build-arm64.sh [--sysroot-only] [BUILD_DIR]   (default: build-arm64)
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

if ! dpkg --print-foreign-architectures | grep -qx arm64; then
  [ "$(id -u)" -eq 0 ] || { log "run as root once: dpkg --add-architecture arm64 && apt-get update"; exit 1; }
  log "adding the arm64 architecture to dpkg"
  dpkg --add-architecture arm64
  apt-get update -qq
fi
scripts/install-deps.sh crossbuild-essential-arm64 qemu-user-static binutils-aarch64-linux-gnu file

# The packages tandem builds against (their arm64 builds) and the C/C++
# runtime the binaries need under qemu. Architecture: all packages (headers
# only) are named without :arm64.
seeds=(
  libtorch-dev:arm64 libtorch1.13:arm64 libopenblas0-pthread:arm64
  libzmq3-dev:arm64 libzmq5:arm64 liblz4-dev:arm64 liblz4-1:arm64
  libsodium-dev:arm64 libsodium23:arm64 libxxhash-dev:arm64 libxxhash0:arm64
  libzfp-dev:arm64 libzfp1:arm64
  libc6:arm64 libstdc++6:arm64 libgcc-s1:arm64
  nlohmann-json3-dev libcli11-dev
  # LibTorch's CMake package looks for these (libtorch-dev depends on them).
  libgflags-dev:arm64 libgoogle-glog-dev:arm64 libprotobuf-dev:arm64
)

mkdir -p "$sysroot" "$debs"
declare -A unpacked=()
if [ -f "$sysroot/.packages" ]; then
  while read -r p; do unpacked[$p]=1; done <"$sysroot/.packages"
fi

# The .deb of PKG already downloaded, if any.
deb_of() {
  ls "$debs"/"${1%%:*}"_*.deb 2>/dev/null | grep -E "_(arm64|all)\.deb$" | head -1 || true
}

# Downloads (one apt-get call) and unpacks into the sysroot the packages named,
# each once.
unpack() {
  local pkg todo=() deb
  for pkg in "$@"; do
    [ -n "${unpacked[$pkg]:-}" ] || [ -n "$(deb_of "$pkg")" ] || todo+=("$pkg")
  done
  if [ ${#todo[@]} -gt 0 ]; then
    (cd "$debs" && apt-get download -qq -o APT::Sandbox::User=root "${todo[@]}" >/dev/null) ||
      { log "cannot download: ${todo[*]}"; exit 1; }
  fi
  for pkg in "$@"; do
    [ -z "${unpacked[$pkg]:-}" ] || continue
    deb=$(deb_of "$pkg")
    [ -n "$deb" ] || { log "no .deb for $pkg in $debs"; exit 1; }
    dpkg-deb -x "$deb" "$sysroot"
    unpacked[$pkg]=1
    echo "$pkg" >>"$sysroot/.packages"
  done
}

# Where the libraries are (a few Debian packages put theirs in /usr/lib).
libdirs=("$sysroot/lib/aarch64-linux-gnu" "$sysroot/usr/lib/aarch64-linux-gnu"
  "$sysroot/usr/lib/aarch64-linux-gnu/openblas-pthread" "$sysroot/usr/lib")

# The Debian package that holds the library SONAME: the package holding the
# same library on this (amd64) machine, where libtorch and its dependencies
# are installed for the native build; arm64 packages have the same names.
package_of() {
  local soname=$1 path real p
  path=$(ldconfig -p | awk -v s="$soname" '$1 == s && /x86-64/ {print $NF; exit}')
  [ -n "$path" ] || return 1
  real=$(realpath "$path")
  # dpkg knows a file by the path its package ships it under: /lib or /usr/lib
  # (merged /usr), through a link or not.
  for p in "$path" "$real" "${real#/usr}" "/usr$real"; do
    if dpkg -S "$p" >/dev/null 2>&1; then
      dpkg -S "$p" | head -1 | cut -d: -f1
      return 0
    fi
  done
  return 1
}

missing_sonames() {
  local f soname
  find "${libdirs[@]}" -maxdepth 1 -name '*.so*' -type f 2>/dev/null | while read -r f; do
    aarch64-linux-gnu-readelf -d "$f" 2>/dev/null | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'
  done | sort -u | while read -r soname; do
    local found=0 d
    for d in "${libdirs[@]}"; do
      if [ -e "$d/$soname" ]; then found=1; break; fi
    done
    [ $found -eq 1 ] || echo "$soname"
  done
}

# The sysroot is complete for this list of seeds (a new seed reopens it).
stamp=$(printf '%s\n' "${seeds[@]}")
if [ ! -f "$sysroot/.complete" ] || [ "$(cat "$sysroot/.complete")" != "$stamp" ]; then
  rm -f "$sysroot/.complete" "$sysroot/shlibs.local"
  log "unpacking Debian's arm64 libraries into $sysroot (downloads once, into $debs)"
  unpack "${seeds[@]}"
  for round in 1 2 3 4 5 6 7 8 9 10; do
    mapfile -t need < <(missing_sonames)
    [ ${#need[@]} -eq 0 ] && break
    log "round $round: ${#need[@]} libraries to find"
    pkgs=()
    for soname in "${need[@]}"; do
      pkg=$(package_of "$soname") || { log "no package found for $soname (needed by an arm64 library)"; exit 1; }
      pkgs+=("$pkg:arm64")
    done
    mapfile -t pkgs < <(printf '%s\n' "${pkgs[@]}" | sort -u)
    unpack "${pkgs[@]}"
  done
  mapfile -t need < <(missing_sonames)
  [ ${#need[@]} -eq 0 ] || { log "libraries still missing: ${need[*]}"; exit 1; }
  # Absolute symbolic links point into this machine's /; make them relative
  # so that they resolve inside the sysroot (the loader's own link among them).
  find "$sysroot" -type l -lname '/*' | while read -r l; do
    target=$(readlink "$l")
    ln -sfn "$(realpath -m --relative-to="$(dirname "$l")" "$sysroot$target")" "$l"
  done
  # tandem links shared libraries: what a static link would add
  # (Requires.private, which pkg-config insists exist: libzmq's name Kerberos,
  # OpenPGM, NORM and their own) is dropped rather than unpacked.
  find "$sysroot/usr/lib/aarch64-linux-gnu/pkgconfig" "$sysroot/usr/share/pkgconfig" -name '*.pc' -type f \
    -exec sed -i '/^Requires.private:/d' {} +
  echo "$stamp" >"$sysroot/.complete"
  log "sysroot: $(wc -l <"$sysroot/.packages") packages, $(du -sh "$sysroot" | cut -f1)"
fi

# libblas.so.3, liblapack.so.3 and libopenblas.so.0 are alternatives that dpkg
# sets up on a device; here, links to OpenBLAS's.
ob=$sysroot/usr/lib/aarch64-linux-gnu/openblas-pthread
for l in libblas.so.3 liblapack.so.3 libopenblas.so.0; do
  [ -e "$ob/$l" ] || { log "$ob/$l is missing"; exit 1; }
  ln -sfn "openblas-pthread/$l" "$sysroot/usr/lib/aarch64-linux-gnu/$l"
done

# What each library package says its users depend on (its shlibs file), for
# dpkg-shlibdeps when debian/rules builds the arm64 packages: these libraries
# are unpacked here, not installed, so dpkg's database does not know them.
if [ ! -f "$sysroot/shlibs.local" ]; then
  for deb in "$debs"/*.deb; do
    dpkg-deb --info "$deb" shlibs 2>/dev/null || true
  done | grep -v '^#' | sort -u >"$sysroot/shlibs.local.tmp"
  mv "$sysroot/shlibs.local.tmp" "$sysroot/shlibs.local"
fi
[ $sysroot_only -eq 0 ] || exit 0

log "building in $build"
cmake -S "$src" -B "$build" -DCMAKE_TOOLCHAIN_FILE="$src/cmake/arm64-toolchain.cmake" \
  -DTANDEM_SYSROOT="$sysroot" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DTANDEM_BUILD_TESTS=OFF -DTANDEM_BUILD_BENCH=OFF >/dev/null
cmake --build "$build" -j"${TANDEM_JOBS:-2}" --target tandem-worker tandem-dispatcher
for b in tandem-worker tandem-dispatcher; do
  file -b "$build/bin/$b" | grep -q 'ARM aarch64' || { log "$build/bin/$b is not an arm64 executable"; exit 1; }
done
log "done in $(($(date +%s) - start)) s: $build/bin/tandem-worker, $build/bin/tandem-dispatcher"
log "run here with: qemu-aarch64-static -L $sysroot $build/bin/tandem-worker --help"
