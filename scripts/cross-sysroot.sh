#!/usr/bin/env bash
# Makes a sysroot of Debian's libraries for another architecture, for a cross
# build and for running its binaries under qemu-user-static: each package named
# is downloaded once (apt-get download, into DEBS_DIR) and unpacked (dpkg-deb
# -x), not installed, and so is every package holding a shared library that an
# unpacked library loads (DT_NEEDED, followed until nothing is missing; the
# package is the one holding the same library on this amd64 machine). Then:
# links for the alternatives dpkg would set up (OpenBLAS), absolute links made
# relative, pkg-config files without Requires.private (tandem links shared
# libraries), and SYSROOT/shlibs.local for dpkg-shlibdeps. Idempotent: a
# sysroot complete for the same packages is left as it is.
#
# Usage: scripts/cross-sysroot.sh ARCH SYSROOT DEBS_DIR PACKAGE...
#   ARCH: arm64 or armhf; PACKAGE: name:ARCH, or a name alone for
#   Architecture: all packages. As root, it adds ARCH to dpkg's
#   architectures (and updates apt's lists) if it is not there yet.
set -euo pipefail
arch=$1
sysroot=$(realpath -m "$2")
debs=$(realpath -m "$3")
shift 3
seeds=("$@")
case $arch in
  arm64) triplet=aarch64-linux-gnu ;;
  armhf) triplet=arm-linux-gnueabihf ;;
  *)
    echo "cross-sysroot: unknown architecture $arch (arm64 or armhf)" >&2
    exit 1
    ;;
esac
log() { echo "cross-sysroot: $*" >&2; }

if ! dpkg --print-foreign-architectures | grep -qx "$arch"; then
  [ "$(id -u)" -eq 0 ] || { log "run as root once: dpkg --add-architecture $arch && apt-get update"; exit 1; }
  log "adding the $arch architecture to dpkg"
  dpkg --add-architecture "$arch"
  apt-get update -qq
fi

mkdir -p "$sysroot" "$debs"
declare -A unpacked=()
if [ -f "$sysroot/.packages" ]; then
  while read -r p; do unpacked[$p]=1; done <"$sysroot/.packages"
fi

# The .deb of PKG already downloaded, if any.
deb_of() {
  ls "$debs"/"${1%%:*}"_*.deb 2>/dev/null | grep -E "_($arch|all)\.deb$" | head -1 || true
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
libdirs=("$sysroot/lib/$triplet" "$sysroot/usr/lib/$triplet"
  "$sysroot/usr/lib/$triplet/openblas-pthread" "$sysroot/usr/lib")

# The Debian package that holds the library SONAME: the package holding the
# same library on this (amd64) machine, where libtorch and its dependencies
# are installed for the native build; $arch packages have the same names.
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
    readelf -d "$f" 2>/dev/null | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'
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
  log "unpacking Debian's $arch libraries into $sysroot (downloads once, into $debs)"
  unpack "${seeds[@]}"
  for round in 1 2 3 4 5 6 7 8 9 10; do
    mapfile -t need < <(missing_sonames)
    [ ${#need[@]} -eq 0 ] && break
    log "round $round: ${#need[@]} libraries to find"
    pkgs=()
    for soname in "${need[@]}"; do
      pkg=$(package_of "$soname") || { log "no package found for $soname (needed by an $arch library)"; exit 1; }
      pkgs+=("$pkg:$arch")
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
  for d in "$sysroot/usr/lib/$triplet/pkgconfig" "$sysroot/usr/share/pkgconfig"; do
    [ ! -d "$d" ] || find "$d" -name '*.pc' -type f -exec sed -i '/^Requires.private:/d' {} +
  done
  echo "$stamp" >"$sysroot/.complete"
  log "sysroot: $(wc -l <"$sysroot/.packages") packages, $(du -sh "$sysroot" | cut -f1)"
fi

# libblas.so.3, liblapack.so.3 and libopenblas.so.0 are alternatives that dpkg
# sets up on a device; here, links to OpenBLAS's.
ob=$sysroot/usr/lib/$triplet/openblas-pthread
if [ -d "$ob" ]; then
  for l in libblas.so.3 liblapack.so.3 libopenblas.so.0; do
    [ -e "$ob/$l" ] || { log "$ob/$l is missing"; exit 1; }
    ln -sfn "openblas-pthread/$l" "$sysroot/usr/lib/$triplet/$l"
  done
fi

# What each library package says its users depend on (its shlibs file), for
# dpkg-shlibdeps when debian/rules builds the arm64 packages: these libraries
# are unpacked here, not installed, so dpkg's database does not know them.
if [ ! -f "$sysroot/shlibs.local" ]; then
  for deb in "$debs"/*.deb; do
    dpkg-deb --info "$deb" shlibs 2>/dev/null || true
  done | grep -v '^#' | sort -u >"$sysroot/shlibs.local.tmp"
  mv "$sysroot/shlibs.local.tmp" "$sysroot/shlibs.local"
fi
