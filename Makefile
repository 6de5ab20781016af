.PHONY: test lint demo build

# The README's two commands.
test:
	bash scripts/test.sh

demo:
	bash scripts/demo.sh $(ARGS)

# What CI checks besides the tests: formatting, a tidy go.mod, go vet and staticcheck (pinned
# by the tool directive in go.mod).
lint:
	@files=$$(gofmt -l .); if [ -n "$$files" ]; then echo "gofmt -l: not formatted:"; echo "$$files"; exit 1; fi
	go mod tidy -diff
	go vet ./...
	go tool staticcheck ./...

build:
	go build -o bin/rmad ./cmd/rmad
