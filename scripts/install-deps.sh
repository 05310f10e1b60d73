#!/usr/bin/env bash
# Installs the Debian packages tandem needs to build, test and export fixtures,
# and any further packages named as arguments (scripts/build-arm64.sh names
# its cross toolchain). Idempotent: prints nothing and touches nothing when
# everything is present.
set -euo pipefail

PACKAGES=(
  build-essential cmake ccache pkg-config
  cppzmq-dev libzmq3-dev
  libtorch-dev libopenblas0-pthread
  libzfp-dev liblz4-dev
  libcli11-dev nlohmann-json3-dev catch2 libcpp-httplib-dev
  libsodium-dev libxxhash-dev clang-format
  clang-14 libclang-rt-14-dev
  python3-torch python3-torchvision python3-numpy
  systemd
  iptables iproute2 libnetfilter-queue-dev tcpdump curl prometheus python3-zmq openssl chromium
)
PACKAGES+=("$@")

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing packages: ${missing[*]}" >&2
  echo "install-deps: run as root (or: sudo $0)" >&2
  exit 1
fi

echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
