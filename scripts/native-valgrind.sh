#!/usr/bin/env bash
# Runs the native addon's entry points (preprocess, sd_notify, stand-in TensorRT engine) under valgrind
# and fails on any definite leak or memory error from our code (node's own leaks are suppressed).
# Usage: scripts/native-valgrind.sh   (needs valgrind and a built addon: npm rebuild)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if ! command -v valgrind >/dev/null 2>&1; then
  echo "native-valgrind: valgrind is not installed (apt-get install valgrind)" >&2
  exit 2
fi
log="$(mktemp -t inspectd-valgrind.XXXXXX)"
trap 'rm -f "$log"' EXIT
set +e
valgrind --leak-check=full --errors-for-leak-kinds=definite --show-leak-kinds=definite \
  --error-exitcode=1 --suppressions="$here/native-valgrind.supp" --num-callers=30 \
  --log-file="$log" \
  node --jitless --expose-gc "$here/native-valgrind-driver.mjs"
rc=$?
set -e
# Print valgrind's summary and any error records (they name our frames when the fault is ours).
grep -E "ERROR SUMMARY|definitely lost|Invalid|uninitialised|inspectd" "$log" | head -80 || true
if [ "$rc" -ne 0 ]; then
  echo "native-valgrind: FAILED (exit $rc); full log:" >&2
  head -c 200000 "$log" >&2
fi
exit "$rc"
