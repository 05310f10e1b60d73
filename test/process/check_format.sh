#!/usr/bin/env bash
# check_format.sh SRC_DIR: every C++ file of the tree follows .clang-format.
# Exit 77 (skipped) when clang-format is not installed.
set -euo pipefail
cd "${1:?usage: check_format.sh SRC_DIR}"
command -v clang-format >/dev/null || { echo "skipped: clang-format is not installed"; exit 77; }
mapfile -t files < <(git ls-files '*.h' '*.cpp' '*.h.in' 2>/dev/null || find src test bench -name '*.h' -o -name '*.cpp')
bad=()
for f in "${files[@]}"; do
  [ -f "$f" ] || continue
  if ! clang-format --style=file --dry-run -Werror "$f" >/dev/null 2>&1; then bad+=("$f"); fi
done
if [ ${#bad[@]} -gt 0 ]; then
  echo "not formatted as .clang-format says (run: clang-format -i FILE):"
  printf '  %s\n' "${bad[@]}"
  exit 1
fi
echo "${#files[@]} files follow .clang-format"
