#!/usr/bin/env bash
# The README's first command (make demo): installs redis-server when missing, then runs
# `rmad demo`, which starts a private redis-server, go-imap's in-memory IMAP server and an SMTP
# sink on loopback, runs the real daemon on the sample mails and prints what came of each.
# Extra arguments go to `rmad demo` (e.g. --once).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/services.sh
need_pkg redis-server redis-server
exec go run ./cmd/rmad demo "$@"
