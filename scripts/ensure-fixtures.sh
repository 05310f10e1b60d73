#!/usr/bin/env bash
# ensure-fixtures.sh DIR: makes DIR hold the exported test fixtures.
#
# Exporting takes a while (vgg16 alone is 0.5 GB), so DIR is a cache: the
# export runs again only when scripts/export-models.py has changed since the
# fixtures in DIR were written (its SHA-256 is kept in DIR/.stamp).
set -euo pipefail
dir=${1:?usage: ensure-fixtures.sh DIR}
here=$(cd "$(dirname "$0")" && pwd)
script="$here/export-models.py"
want=$(sha256sum "$script" | cut -d' ' -f1)
if [ -f "$dir/.stamp" ] && [ "$(cat "$dir/.stamp")" = "$want" ] && [ -f "$dir/fixtures.json" ]; then
  exit 0
fi
echo "ensure-fixtures: exporting test models into $dir" >&2
rm -rf "$dir.partial"
mkdir -p "$dir.partial"
/usr/bin/python3 "$script" "$dir.partial"
echo "$want" > "$dir.partial/.stamp"
rm -rf "$dir"
mv "$dir.partial" "$dir"
