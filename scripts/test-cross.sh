#!/usr/bin/env bash
# The Raspberry Pi path end to end on an amd64 Debian 12 machine (as root):
# cross-builds tandem for arm64 (scripts/build-arm64.sh), builds the amd64 and
# arm64 packages and checks them with lintian (scripts/build-debs.sh), then
# runs the tests labelled `cross` through scripts/test.sh: an arm64 worker
# under qemu serving the middle stage of a 3-stage pipeline, and the amd64
# packages installed on this machine, serving a run as the unit starts the
# worker, and purged. Not part of the default test command: 52 minutes from
# a fresh clone on 2 cores with ccache off (the arm64 build, both packages
# and the native build each compile tandem again).
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
scripts/build-arm64.sh
scripts/build-debs.sh
scripts/test.sh -L cross
echo "test-cross: done in $(($(date +%s) - start)) s"
