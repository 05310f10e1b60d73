#!/usr/bin/env bash
# Checks configs/tandem-worker.service with `systemd-analyze verify`, treating
# any warning as a failure (it exits 0 on warnings). ExecStart is pointed at
# the worker built here, since verify checks that the binary exists.
# Usage: verify_unit.sh UNIT WORKER_BINARY
set -euo pipefail
unit=$1
worker=$2
if ! command -v systemd-analyze >/dev/null; then
  echo "SKIPPED: systemd-analyze is not installed (Debian package systemd)"
  exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
check() {
  local out
  out=$(systemd-analyze verify "$1" 2>&1) || { echo "$out"; return 1; }
  [ -z "$out" ] || { echo "$out"; return 1; }
}
sed "s|/usr/local/bin/tandem-worker|$worker|" "$unit" >"$tmp/tandem-worker.service"
check "$tmp/tandem-worker.service"
grep -q '^Restart=on-failure' "$unit"
grep -q '^DynamicUser=yes\|^User=' "$unit"
# The worker's key pair is made on first start, kept after, and reload rereads authorized_keys.
grep -q '^StateDirectory=tandem' "$unit"
grep -q '^ExecStartPre=.*tandem-worker keygen --if-missing' "$unit"
grep -q '^ExecReload=.*-HUP' "$unit"
grep -q '^LimitNOFILE=' "$unit"
grep -q '^MemoryHigh=' "$unit"
grep -q '^MemoryMax=' "$unit"
# The check itself must catch a warning: a unit with a misspelt key fails.
sed 's/^Restart=on-failure/Restrat=on-failure/' "$tmp/tandem-worker.service" >"$tmp/bad.service"
if check "$tmp/bad.service" >/dev/null; then
  echo "verify did not report a misspelt key"
  exit 1
fi
echo "tandem-worker.service: systemd-analyze verify clean"
