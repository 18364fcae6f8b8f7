# fleetdoctor — build, test, lint, demo, bench.
# Every target installs what it needs, so a fresh clone needs only Go.

GO      ?= go
BIN     := bin
PKGS    := ./...
export GOFLAGS := -buildvcs=false

.PHONY: all deps test-deps build test lint demo bench clean

all: build

## deps: download the Go modules (staticcheck is pinned in go.mod as a tool).
deps:
	$(GO) mod download
	$(GO) mod verify

## test-deps: the AWS CLI v2 (Debian's awscli, at /usr/bin/aws) is an
## independent client of the sandbox in the contract tests. Installed with
## apt when running as root; otherwise the tests say what is missing.
test-deps:
	@if [ ! -x /usr/bin/aws ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing awscli (AWS CLI v2) with apt-get"; \
		DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq awscli >/dev/null; \
	fi

## build: compile every package and the CLI into bin/.
build: deps
	$(GO) build $(PKGS)
	$(GO) build -o $(BIN)/fleetdoctor ./cmd/fleetdoctor

## lint: gofmt, go vet and staticcheck must all be clean.
lint: deps
	@unformatted=$$(find . -name '*.go' -not -path '*/node_modules/*' -not -path './cdk.out/*' | xargs gofmt -l); \
	if [ -n "$$unformatted" ]; then echo "gofmt would change:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet $(PKGS)
	$(GO) tool staticcheck $(PKGS)

## test: lint, then every test with the race detector.
test: lint test-deps
	$(GO) test -race -count=1 $(PKGS)

## demo: the main job — an audit of the embedded sandbox fleet.
demo: build
	@./scripts/demo.sh

## bench: the benchmarks whose figures are recorded in BENCHMARKS.md.
bench: deps
	$(GO) test ./pkg/checks -run '^$$' -bench BenchmarkEvaluate100k -benchmem -cpu 1 -count 3
	$(GO) test ./pkg/sandbox -run '^$$' -bench BenchmarkAuditScale -benchtime 1x -timeout 30m -v
	FD_BENCH_INSTANCES=5000 FD_BENCH_ACCOUNT_REGIONS=1 $(GO) test ./pkg/sandbox -run '^$$' -bench BenchmarkAuditScale -benchtime 1x -timeout 30m -v

clean:
	rm -rf $(BIN)
