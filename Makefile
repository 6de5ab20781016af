.PHONY: test lint demo build deb deb-test

# The version rmad version prints and the .deb carries (scripts/version.sh, from git describe).
VERSION ?= $(shell bash scripts/version.sh)

# The README's two commands.
test:
	bash scripts/test.sh

demo:
	bash scripts/demo.sh $(ARGS)

# What CI checks besides the tests: formatting, a tidy go.mod, go vet, staticcheck (pinned by
# the tool directive in go.mod), and a TestMain calling testenv.Main in every tested package.
lint:
	@files=$$(gofmt -l .); if [ -n "$$files" ]; then echo "gofmt -l: not formatted:"; echo "$$files"; exit 1; fi
	go mod tidy -diff
	go vet ./...
	go tool staticcheck ./...
	bash scripts/lint-testmain.sh

build:
	go build -ldflags "-X main.version=$(VERSION)" -o bin/rmad ./cmd/rmad

# dist/rmad_<version>_amd64.deb and _arm64.deb (see "Install on Debian/Ubuntu" in the README).
deb:
	VERSION=$(VERSION) bash packaging/build-deb.sh amd64 arm64

# Build, inspect, lintian, install, upgrade and purge the .deb on this machine (root only).
deb-test:
	bash scripts/deb-test.sh
