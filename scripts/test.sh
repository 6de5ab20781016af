#!/usr/bin/env bash
# The README's test command (make test): installs what the tests need when it is missing,
# starts a private redis-server (and Dovecot, for the integration tests) on free loopback
# ports in a temp dir, runs the Go tests with the race detector (benchmarks without it), and
# stops everything after.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/services.sh

need_pkg redis-server redis-server
need_pkg redis-cli redis-tools
need_pkg dovecot dovecot-imapd
need_pkg /usr/lib/dovecot/submission dovecot-submissiond # the courier's SMTP tests (testenv.SubmissionDovecot)
need_pkg chromium chromium # the staff console's browser tests (chromedp)
# The parcel label tests read the PDFs back: text with pdftotext, barcodes with pdftoppm + zbarimg.
need_pkg pdftotext poppler-utils
need_pkg zbarimg zbar-tools

work=$(mktemp -d /tmp/rmad-test.XXXXXX)
trap 'stop_services; rm -rf "$work"' EXIT

# A port free when checked can be taken by another program before the server binds it: each
# server gets three tries, each in a fresh dir.
for try in 1 2 3; do start_redis "$work/redis$try" && break; [ "$try" != 3 ] || exit 1; done
export RMAD_TEST_REDIS="127.0.0.1:$REDIS_PORT"
export RMAD_TEST_REDIS_SERVER="$(command -v redis-server)"
export RMAD_TEST_CHROMIUM="$(command -v chromium)"
if [ -x scripts/dovecot.sh ]; then
  . scripts/dovecot.sh
  for try in 1 2 3; do start_dovecot "$work/dovecot$try" && break; [ "$try" != 3 ] || exit 1; done
fi

echo "test services: redis $RMAD_TEST_REDIS${RMAD_TEST_IMAP:+, dovecot $RMAD_TEST_IMAP}"
# Arguments, when given, replace ./... (e.g. `scripts/test.sh -run TestX ./store/`).
[ $# -gt 0 ] || set -- ./...
# Benchmarks run without the race detector (it slows the code it watches 2-20x, so figures
# taken under it say nothing); tests always run with it. RMAD_TEST_RACE=1 forces it for both.
race=-race
for a in "$@"; do
  case $a in -bench|-bench=*|-test.bench|-test.bench=*) race= ;; esac
done
[ "${RMAD_TEST_RACE:-}" != 1 ] || race=-race
go test $race -count=1 -timeout 30m "$@"
