.PHONY: test demo build

# The README's two commands.
test:
	bash scripts/test.sh

demo:
	bash scripts/demo.sh $(ARGS)

build:
	go build -o bin/rmad ./cmd/rmad
