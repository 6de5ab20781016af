#!/usr/bin/env bash
# Every package with tests has a TestMain that calls testenv.Main, which fails the run when code
# under test recovered from a panic no test caused on purpose (see internal/testenv/main.go).
set -euo pipefail
cd "$(dirname "$0")/.."
missing=0
while read -r dir tests xtests; do
  [ $((tests + xtests)) -gt 0 ] || continue
  if ! grep -qs 'testenv.Main(m)' "$dir"/*_test.go; then
    echo "${dir#"$PWD"/}: no TestMain; add main_test.go with: func TestMain(m *testing.M) { testenv.Main(m) }" >&2
    missing=1
  fi
done < <(go list -f '{{.Dir}} {{len .TestGoFiles}} {{len .XTestGoFiles}}' ./...)
exit $missing
