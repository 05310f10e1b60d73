#!/usr/bin/env bash
# The amd64 packages that scripts/build-debs.sh makes, installed on this
# machine and purged again:
# - apt installs both (dependencies from the shared libraries resolve);
# - the unit is installed and enabled, passes `systemd-analyze verify` with
#   no warning, the worker's config files are conffiles, and the install made
#   the worker's key pair (secret key mode 0600), which a reinstall keeps;
# - the worker starts as the unit starts it (ExecStartPre then ExecStart from
#   the installed unit, as an unprivileged user owning the state directory,
#   as systemd's DynamicUser= does) and serves a pipeline run by the packaged
#   dispatcher, its key pinned, the dispatcher's key authorized; SIGHUP
#   rereads authorized_keys and SIGTERM stops it cleanly;
# - purge leaves nothing: no binary, unit, enable link, config or key.
# If arm64 packages are there too, their worker runs under qemu (--help).
#
# Usage (as root): package_test.sh DEB_DIR FIXTURE_DIR [ARM64_SYSROOT]
#   ARM64_SYSROOT: scripts/build-arm64.sh's sysroot, for the arm64 check
# Exit 77 (skipped) without root, dpkg or systemd-analyze, or where a
# tandem-worker package is installed already (it is left alone).
set -euo pipefail
debs=$(realpath "$1")
fixtures=$(realpath "$2")
sysroot=$(realpath -m "${3:-build-arm64/sysroot}")

skip() {
  echo "SKIPPED: $*"
  exit 77
}
[ "$(id -u)" -eq 0 ] || skip "installs packages: run as root"
command -v dpkg >/dev/null || skip "no dpkg"
command -v systemd-analyze >/dev/null || skip "systemd-analyze is not installed (Debian package systemd)"
if dpkg-query -W -f='${Status}' tandem-worker 2>/dev/null | grep -q "ok installed\|config-files" ||
  dpkg-query -W -f='${Status}' tandem-dispatcher 2>/dev/null | grep -q "ok installed\|config-files"; then
  skip "a tandem package is installed on this machine; not touching it"
fi
worker_deb=$(ls "$debs"/tandem-worker_*_amd64.deb 2>/dev/null | head -1 || true)
dispatcher_deb=$(ls "$debs"/tandem-dispatcher_*_amd64.deb 2>/dev/null | head -1 || true)
[ -n "$worker_deb" ] && [ -n "$dispatcher_deb" ] || skip "no amd64 packages in $debs (scripts/build-debs.sh)"
if ss -ltn | grep -q ':5550 '; then
  skip "port 5550 (the packaged worker.json's) is in use"
fi

tmp=$(mktemp -d)
worker_pid=
purge() {
  apt-get purge -y -qq tandem-worker tandem-dispatcher >"$tmp/purge.log" 2>&1
}
cleanup() {
  [ -z "$worker_pid" ] || kill "$worker_pid" 2>/dev/null || true
  if dpkg-query -W -f='${Status}' tandem-worker 2>/dev/null | grep -q "ok installed\|config-files"; then
    purge || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*"
  [ ! -f "$tmp/worker.log" ] || tail -20 "$tmp/worker.log"
  exit 1
}

# Install, as a user would.
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$worker_deb" "$dispatcher_deb" >"$tmp/install.log" 2>&1 ||
  { cat "$tmp/install.log"; fail "apt-get install"; }
grep -q "tandem-worker: public key " "$tmp/install.log" || fail "the install did not print the worker's public key"

unit=/lib/systemd/system/tandem-worker.service
[ -x /usr/bin/tandem-worker ] && [ -x /usr/bin/tandem-dispatcher ] || fail "binaries not in /usr/bin"
[ -f "$unit" ] || fail "no $unit"
[ -L /etc/systemd/system/multi-user.target.wants/tandem-worker.service ] || fail "the unit is not enabled"
verify=$(systemd-analyze verify "$unit" 2>&1) || fail "systemd-analyze verify: $verify"
[ -z "$verify" ] || fail "systemd-analyze verify warns: $verify"
conffiles=$(dpkg-query -W -f='${Conffiles}' tandem-worker)
for f in /etc/tandem/worker.json /etc/tandem/authorized_keys; do
  echo "$conffiles" | grep -q " $f " || fail "$f is not a conffile"
done
[ "$(stat -c %a /var/lib/tandem/worker.key)" = 600 ] || fail "worker.key mode $(stat -c %a /var/lib/tandem/worker.key)"
[ -s /var/lib/tandem/worker.key.pub ] || fail "no worker.key.pub"
ldd /usr/bin/tandem-worker | grep -q "not found" && fail "unresolved libraries: $(ldd /usr/bin/tandem-worker | grep 'not found')"
# The dispatcher's serve unit: installed, verified, not enabled (it waits for
# its model and /etc/tandem/serve.env); the example settings and the client.
serve_unit=/lib/systemd/system/tandem-dispatcher.service
[ -f "$serve_unit" ] || fail "no $serve_unit"
[ ! -e /etc/systemd/system/multi-user.target.wants/tandem-dispatcher.service ] || fail "the serve unit is enabled"
verify=$(systemd-analyze verify "$serve_unit" 2>&1) || fail "systemd-analyze verify on the serve unit: $verify"
[ -z "$verify" ] || fail "systemd-analyze verify on the serve unit warns: $verify"
grep -q "^ExecStart=/usr/bin/tandem-dispatcher serve" "$serve_unit" || fail "the serve unit does not run /usr/bin/tandem-dispatcher"
[ -f /usr/share/doc/tandem-dispatcher/examples/serve.example.env ] || fail "no serve.example.env"
[ -f /usr/share/doc/tandem-dispatcher/serving.md ] || fail "no serving.md (the unit's documentation)"
[ -x /usr/bin/tandem-infer ] || fail "no /usr/bin/tandem-infer"

# A reinstall keeps the key pair (and writes a missing public file again).
key_sum=$(sha256sum </var/lib/tandem/worker.key)
pub=$(cat /var/lib/tandem/worker.key.pub)
rm /var/lib/tandem/worker.key.pub
dpkg -i "$worker_deb" >"$tmp/reinstall.log" 2>&1 || { cat "$tmp/reinstall.log"; fail "reinstall"; }
[ "$(sha256sum </var/lib/tandem/worker.key)" = "$key_sum" ] || fail "a reinstall replaced the secret key"
[ "$(cat /var/lib/tandem/worker.key.pub 2>/dev/null)" = "$pub" ] || fail "a reinstall did not write the public key again"

# A dispatcher key, authorized as the README says.
cd "$tmp"
tandem-dispatcher keygen --secret dispatcher.key >/dev/null 2>&1
cat dispatcher.key.pub >>/etc/tandem/authorized_keys

# Start the worker as the unit does: the commands of its ExecStartPre and
# ExecStart lines, as an unprivileged user that owns the state directory.
pre=$(sed -n 's/^ExecStartPre=//p' "$unit")
start=$(sed -n 's/^ExecStart=//p' "$unit")
[ -n "$pre" ] && [ -n "$start" ] || fail "the unit has no ExecStartPre/ExecStart"
chown -R nobody:nogroup /var/lib/tandem
as_unit() { setpriv --reuid=nobody --regid=nogroup --clear-groups --no-new-privs -- "$@"; }
# shellcheck disable=SC2086
as_unit $pre >"$tmp/pre.log" 2>&1 || { cat "$tmp/pre.log"; fail "ExecStartPre failed"; }
# shellcheck disable=SC2086
setpriv --reuid=nobody --regid=nogroup --clear-groups --no-new-privs -- $start >"$tmp/worker.log" 2>&1 &
worker_pid=$!
for _ in $(seq 1 150); do
  grep -q "listening on" "$tmp/worker.log" && break
  kill -0 "$worker_pid" 2>/dev/null || fail "the worker exited"
  sleep 0.2
done
grep -q "listening on" "$tmp/worker.log" || fail "the worker did not start within 30 s"

model=$(/usr/bin/python3 -c '
import json, os, sys
meta = json.load(open(os.path.join(sys.argv[1], "fixtures.json")))
e = next(e for e in meta["fixtures"] if e["name"] == "small_cnn" and e["variant"] == "traced")
print(os.path.join(sys.argv[1], e["model"]), ",".join(str(d) for d in e["input_shape"]))' "$fixtures")
read -r model_file shape <<<"$model"
cat >cluster.json <<EOF
{
  "dispatcher": {"secret_key": "dispatcher.key"},
  "workers": [{"name": "packaged", "endpoint": "tcp://127.0.0.1:5550", "public_key": "/var/lib/tandem/worker.key.pub"}]
}
EOF
tandem-dispatcher run -m "$model_file" -c cluster.json -k 1 --synthetic 4 -s "$shape" -o out \
  --repeats 1 --warmup 0 >run.log 2>&1 || { cat run.log; fail "the dispatcher's run through the packaged worker"; }
[ "$(ls out/*.npy | wc -l)" -eq 4 ] || fail "$(ls out | wc -l) outputs for 4 requests: $(ls out)"

# Reload rereads authorized_keys; SIGTERM stops the worker cleanly.
kill -HUP "$worker_pid"
sleep 0.5
kill -0 "$worker_pid" || fail "the worker died on SIGHUP"
kill -TERM "$worker_pid"
for _ in $(seq 1 100); do kill -0 "$worker_pid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$worker_pid" 2>/dev/null && fail "the worker did not stop within 10 s of SIGTERM"
status=0
wait "$worker_pid" || status=$?
worker_pid=
[ $status -eq 0 ] || fail "the worker exited $status on SIGTERM"

# Purge leaves nothing behind.
purge || { cat "$tmp/purge.log"; fail "apt-get purge"; }
for p in /usr/bin/tandem-worker /usr/bin/tandem-dispatcher /usr/bin/tandem-infer "$unit" "$serve_unit" \
  /etc/systemd/system/multi-user.target.wants/tandem-worker.service /etc/tandem \
  /var/lib/tandem /var/lib/private/tandem /usr/share/doc/tandem-worker /usr/share/doc/tandem-dispatcher; do
  [ ! -e "$p" ] && [ ! -L "$p" ] || fail "$p is left after purge"
done
if ls /var/lib/systemd/deb-systemd-helper-enabled/ 2>/dev/null | grep -q tandem; then
  fail "deb-systemd-helper state is left after purge"
fi
for p in tandem-worker tandem-dispatcher; do
  if dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed\|config-files"; then
    fail "dpkg still lists $p"
  fi
done

# The arm64 packages, where built: their worker runs under qemu against the
# arm64 sysroot (scripts/build-arm64.sh).
arm_deb=$(ls "$debs"/tandem-worker_*_arm64.deb 2>/dev/null | head -1 || true)
if [ -n "$arm_deb" ] && command -v qemu-aarch64-static >/dev/null && [ -f "$sysroot/.complete" ]; then
  dpkg-deb -x "$arm_deb" "$tmp/arm64"
  qemu-aarch64-static -L "$sysroot" "$tmp/arm64/usr/bin/tandem-worker" --help | grep -q -- --authorized-keys ||
    fail "the arm64 package's worker does not run under qemu"
  echo "arm64 package: its worker runs under qemu"
else
  echo "arm64 package: not checked (needs $debs/tandem-worker_*_arm64.deb, qemu-aarch64-static, $sysroot)"
fi
echo "PASS: packages installed, worker served a run as the unit starts it, purge left nothing"
