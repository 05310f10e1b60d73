#!/usr/bin/env bash
# Builds the Debian packages tandem-worker and tandem-dispatcher (debhelper,
# debian/ in the tree) for amd64 and, cross-compiled, for arm64, and checks
# each with lintian (an error fails the script; its full output is kept).
#
# Usage: scripts/build-debs.sh [OUT_DIR] [ARCH...]
#   OUT_DIR: where the .deb files and lintian-ARCH.txt go (default build-debs)
#   ARCH:    amd64 and/or arm64 (default both)
#
# As root it installs what it needs (debhelper, lintian; for arm64 what
# scripts/build-arm64.sh installs, and that script's sysroot of Debian's arm64
# libraries, in build-arm64/sysroot). The source is copied (the files git
# tracks, and new ones it does not ignore) so that the tree is left as it is.
set -euo pipefail
cd "$(dirname "$0")/.."
src=$(pwd)
out=$(realpath -m "${1:-build-debs}")
shift || true
archs=("$@")
[ ${#archs[@]} -gt 0 ] || archs=(amd64 arm64)

log() { echo "build-debs: $*" >&2; }

scripts/install-deps.sh debhelper lintian dpkg-dev fakeroot
version=$(dpkg-parsechangelog -l debian/changelog -S Version)
mkdir -p "$out"

for arch in "${archs[@]}"; do
  start=$(date +%s)
  work=$out/work-$arch
  rm -rf "$work"
  mkdir -p "$work/tandem-$version"
  git ls-files -co --exclude-standard | tar -cf - -T - | tar -xf - -C "$work/tandem-$version"
  case $arch in
    amd64)
      (cd "$work/tandem-$version" && DEB_BUILD_OPTIONS="parallel=2 nocheck" \
        dpkg-buildpackage -b -us -uc >"$out/build-$arch.log" 2>&1) ||
        { tail -40 "$out/build-$arch.log"; log "amd64 build failed (log: $out/build-$arch.log)"; exit 1; }
      ;;
    arm64)
      scripts/build-arm64.sh --sysroot-only
      (cd "$work/tandem-$version" && TANDEM_SYSROOT="$src/build-arm64/sysroot" \
        CC=aarch64-linux-gnu-gcc CXX=aarch64-linux-gnu-g++ \
        DEB_BUILD_OPTIONS="parallel=2 nocheck" \
        dpkg-buildpackage -a arm64 -d -b -us -uc >"$out/build-$arch.log" 2>&1) ||
        { tail -40 "$out/build-$arch.log"; log "arm64 build failed (log: $out/build-$arch.log)"; exit 1; }
      ;;
    *)
      log "unknown architecture $arch (amd64 or arm64)"
      exit 1
      ;;
  esac
  mv "$work"/*_"$arch".deb "$out"/
  rm -rf "$work"
  log "$arch: built in $(($(date +%s) - start)) s"
  debs=("$out"/tandem-worker_"${version}"_"$arch".deb "$out"/tandem-dispatcher_"${version}"_"$arch".deb)
  status=0
  lintian --fail-on error --tag-display-limit 0 "${debs[@]}" >"$out/lintian-$arch.txt" 2>&1 || status=$?
  for d in "${debs[@]}"; do log "$(basename "$d"): $(du -k "$d" | cut -f1) KiB"; done
  if [ -s "$out/lintian-$arch.txt" ]; then
    log "lintian ($arch):"
    sed 's/^/  /' "$out/lintian-$arch.txt" >&2
  else
    log "lintian ($arch): nothing to report"
  fi
  [ $status -eq 0 ] || { log "lintian reports errors for $arch"; exit 1; }
done
