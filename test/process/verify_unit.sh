#!/usr/bin/env bash
# Checks configs/tandem-worker.service and configs/tandem-dispatcher.service
# with `systemd-analyze verify`, treating any warning as a failure (it exits 0
# on warnings), and that each has the settings the documentation promises.
# ExecStart is pointed at the binaries built here, since verify checks that
# they exist.
# Usage: verify_unit.sh CONFIG_DIR BIN_DIR
set -euo pipefail
configs=$1
bin=$2
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
# Both: verified clean, restarted on failure, an unprivileged user, hardened
# alike (MemoryDenyWriteExecute off: LibTorch's oneDNN writes code), a file
# descriptor limit.
for name in tandem-worker tandem-dispatcher; do
  unit=$configs/$name.service
  sed "s|/usr/local/bin/$name|$bin/$name|" "$unit" >"$tmp/$name.service"
  check "$tmp/$name.service"
  for setting in '^Restart=on-failure' '^DynamicUser=yes' '^NoNewPrivileges=yes' '^ProtectSystem=strict' \
      '^SystemCallFilter=@system-service' '^CapabilityBoundingSet=$' '^LimitNOFILE=' '^KillSignal=SIGTERM'; do
    grep -q "$setting" "$unit" || { echo "$name.service lacks $setting"; exit 1; }
  done
  if grep -q '^MemoryDenyWriteExecute=yes' "$unit"; then echo "$name.service: MemoryDenyWriteExecute breaks LibTorch"; exit 1; fi
  echo "$name.service: systemd-analyze verify clean"
done
# The worker's key pair is made on first start, kept after, and reload rereads authorized_keys.
unit=$configs/tandem-worker.service
grep -q '^StateDirectory=tandem' "$unit"
grep -q '^ExecStartPre=.*tandem-worker keygen --if-missing' "$unit"
grep -q '^ExecReload=.*-HUP' "$unit"
grep -q '^MemoryHigh=' "$unit"
grep -q '^MemoryMax=' "$unit"
# The dispatcher runs serve with the example environment's arguments, gets
# its key as a credential, and has longer to stop than serve's drain timeout.
unit=$configs/tandem-dispatcher.service
grep -q '^ExecStart=.*tandem-dispatcher serve \$TANDEM_SERVE_ARGS' "$unit"
grep -q '^LoadCredential=dispatcher.key:' "$unit"
grep -q '^TimeoutStopSec=90' "$unit"
grep -q '^TANDEM_SERVE_ARGS=--model ' "$configs/serve.example.env"
# Every flag the example gives is one of serve's.
help=$("$bin/tandem-dispatcher" serve --help)
for flag in $(sed -n 's/^TANDEM_SERVE_ARGS=//p' "$configs/serve.example.env" | grep -o -- '--[a-z-]*'); do
  grep -q -- "$flag" <<<"$help" || { echo "serve.example.env: serve has no flag $flag"; exit 1; }
done
# The check itself must catch a warning: a unit with a misspelt key fails.
sed 's/^Restart=on-failure/Restrat=on-failure/' "$tmp/tandem-worker.service" >"$tmp/bad.service"
if check "$tmp/bad.service" >/dev/null; then
  echo "verify did not report a misspelt key"
  exit 1
fi
