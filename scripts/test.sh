#!/usr/bin/env bash
# Runs every test once and closes with a single "N passed, N failed" line
# summed over all test binaries, so the result is one number, not many.
set -uo pipefail
log=$(mktemp)
trap 'rm -f "$log"' EXIT
cargo test --locked --all-targets --no-fail-fast 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
cargo test --locked --doc 2>&1 | tee -a "$log" || rc=1
read -r passed failed < <(awk '/^test result:/ {
  for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i }
} END { print p + 0, f + 0 }' "$log")
echo
echo "total: ${passed} passed, ${failed} failed"
if [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ]; then
  echo "cargo test exited $rc (build error or crashed test binary; see above)" >&2
fi
exit "$rc"
