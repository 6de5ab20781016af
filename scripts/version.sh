#!/usr/bin/env bash
# Prints rmad's version from git describe, in a form that is both a Debian version and SemVer:
#   tag v1.2.0 exactly          → 1.2.0
#   5 commits after v1.2.0      → 1.2.0+5.gabc1234
#   no v* tag yet (130 commits) → 0.0.0+130.gabc1234
#   uncommitted changes         → ....dirty
#   tag v1.3.0-rc1              → 1.3.0~rc1 (sorts before 1.3.0 for dpkg)
# `make build` and `make deb` put it in the binary (rmad version) and the package's Version.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! git rev-parse --git-dir >/dev/null 2>&1; then
  echo "0.0.0+unknown"; exit 0
fi
if d=$(git describe --tags --match 'v[0-9]*' --dirty 2>/dev/null); then
  d=${d#v}
else
  d="0.0.0-$(git rev-list --count HEAD)-g$(git describe --always --dirty)"
fi
# TAG-5-gabc1234-dirty → TAG+5.gabc1234.dirty; TAG-dirty → TAG+dirty.
extra=""
[[ $d == *-dirty ]] && { d=${d%-dirty}; extra=dirty; }
if [[ $d =~ ^(.*)-([0-9]+)-(g[0-9a-f]+)$ ]]; then
  d=${BASH_REMATCH[1]}; extra="${BASH_REMATCH[2]}.${BASH_REMATCH[3]}${extra:+.$extra}"
fi
d=${d//-/\~}   # a hyphen in the tag is a pre-release
echo "$d${extra:++$extra}"
