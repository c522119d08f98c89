#!/usr/bin/env bash
# The whole test suite, as the README's quick start and CI run it: installs what the
# tests need, type-checks, runs vitest, and prints a plain 'N passed, N failed' line.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-deps.sh --test
node_modules/.bin/tsc -p tsconfig.test.json --noEmit
report=$(mktemp /tmp/dsmip6-vitest.XXXXXX.json)
trap 'rm -f "$report"' EXIT
status=0
node_modules/.bin/vitest run --reporter=default --reporter=json --outputFile="$report" "$@" || status=$?
node -e '
  const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  console.log(`tests: ${r.numPassedTests} passed, ${r.numFailedTests} failed, ${r.numPendingTests + r.numTodoTests} skipped`);
' "$report" || true
exit $status
