#!/usr/bin/env bash
# make deb: builds rmad_<version>_<arch>.deb for each architecture given (default amd64 arm64)
# into $DIST (default dist/), with nfpm (pinned in packaging/tools/go.mod). Static binaries
# (CGO_ENABLED=0); the version from scripts/version.sh unless $VERSION is set; the man page and
# bash completion from the binary's own help (rmad man, rmad completion bash).
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -gt 0 ] || set -- amd64 arm64
export VERSION=${VERSION:-$(bash scripts/version.sh)}
export MAINTAINER=${DEB_MAINTAINER:-"rmad maintainers <maintainers@rmad.invalid>"}
DIST=${DIST:-dist}
export BUILD=$DIST/build
mkdir -p "$BUILD" bin
# The commit's time, for the man page and changelog dates and nfpm's file times.
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}

go build -C packaging/tools -o "$PWD/bin/nfpm" github.com/goreleaser/nfpm/v2/cmd/nfpm

for arch; do
  CGO_ENABLED=0 GOOS=linux GOARCH=$arch go build -trimpath -ldflags "-s -w -X main.version=$VERSION" \
    -o "$BUILD/$arch/rmad" ./cmd/rmad
done

# Generated files come from a binary of this machine's architecture (the same help text).
host="$BUILD/$(go env GOHOSTARCH)/rmad"
if [ ! -x "$host" ]; then
  host="$BUILD/host/rmad"
  CGO_ENABLED=0 go build -trimpath -ldflags "-X main.version=$VERSION" -o "$host" ./cmd/rmad
fi
env -u RMAD_CONFIG "$host" man | gzip -9n >"$BUILD/rmad.8.gz"
"$host" completion bash >"$BUILD/rmad.bash-completion"
# The packaged binary is /usr/bin/rmad; the repo's unit names /usr/local/bin/rmad for a
# hand install.
sed '/^Exec/s,/usr/local/bin/rmad,/usr/bin/rmad,' rmad.service >"$BUILD/rmad.service"
bash packaging/copyright.sh >"$BUILD/copyright"
{
  echo "rmad ($VERSION) unstable; urgency=medium"
  echo
  echo "  * Built from git commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown); the changes are in the"
  echo "    project's git history."
  echo
  echo " -- $MAINTAINER  $(date -u -R -d "@$SOURCE_DATE_EPOCH")"
} | gzip -9n >"$BUILD/changelog.gz"

for arch; do
  ARCH=$arch bin/nfpm package --config packaging/nfpm.yaml --packager deb \
    --target "$DIST/rmad_${VERSION}_${arch}.deb" >/dev/null
  echo "$DIST/rmad_${VERSION}_${arch}.deb"
done
