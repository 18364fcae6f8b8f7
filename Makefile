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

## test-deps: Debian packages the tests use, installed with apt-get when
## running as root and missing (otherwise the tests say what is missing):
## the AWS CLI v2 (awscli, at /usr/bin/aws) as an independent client of the
## sandbox; shellcheck for the documents' scripts; iptables, nftables,
## iproute2 and curl for the host tests in network namespaces.
TEST_PKGS := awscli:/usr/bin/aws shellcheck:/usr/bin/shellcheck iptables:/usr/sbin/iptables nftables:/usr/sbin/nft iproute2:/usr/sbin/ip curl:/usr/bin/curl
test-deps:
	@missing=""; for pp in $(TEST_PKGS); do 		[ -x "$${pp#*:}" ] || missing="$$missing $${pp%%:*}"; 	done; 	if [ -n "$$missing" ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then 		echo "installing$$missing with apt-get"; 		DEBIAN_FRONTEND=noninteractive apt-get update -qq && 		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; 	fi

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
