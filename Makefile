# fleetdoctor — build, test, lint, demo, bench.
# Every target installs what it needs, so a fresh clone needs only Go.

GO      ?= go
BIN     := bin
PKGS    := ./...
export GOFLAGS := -buildvcs=false

.PHONY: all deps test-deps e2e-deps build test lint demo bench clean

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
TEST_PKGS := awscli:/usr/bin/aws shellcheck:/usr/bin/shellcheck iptables:/usr/sbin/iptables nftables:/usr/sbin/nft iproute2:/usr/sbin/ip curl:/usr/bin/curl chromium:/usr/bin/chromium
test-deps:
	@missing=""; for pp in $(TEST_PKGS); do 		[ -x "$${pp#*:}" ] || missing="$$missing $${pp%%:*}"; 	done; 	if [ -n "$$missing" ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then 		echo "installing$$missing with apt-get"; 		DEBIAN_FRONTEND=noninteractive apt-get update -qq && 		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; 	fi

## e2e-deps: the e2e test's npm packages (aws-local-stepfunctions,
## asl-validator, pinned in test/e2e/package-lock.json), installed with
## npm ci when node_modules is missing or older than the lockfile. Without
## npm the e2e test skips, except under CI=true where both fail.
E2E_STAMP := test/e2e/node_modules/.fleetdoctor-npm-ci
e2e-deps: $(E2E_STAMP)
$(E2E_STAMP): test/e2e/package.json test/e2e/package-lock.json
	@if ! command -v npm >/dev/null 2>&1; then \
		if [ "$$CI" = true ]; then echo "e2e-deps: npm is required under CI (apt-get install nodejs npm)"; exit 1; fi; \
		echo "e2e-deps: npm not found: skipping (the e2e test will skip)"; exit 0; \
	fi; \
	JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=20 npm ci --prefix test/e2e --no-audit --no-fund && touch $@

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

## test: lint, then every test with the race detector — except the CDK app's
## (infra/), which is single-threaded Go driving jsii: instrumenting the CDK's
## very large generated bindings for -race costs minutes of compile on a
## fresh machine and checks none of our code, so it runs without.
test: lint test-deps e2e-deps
	$(GO) test -race -count=1 $$($(GO) list $(PKGS) | grep -v '^github.com/fleetdoctor/fleetdoctor/infra')
	$(GO) test -count=1 ./infra/...

## demo: the main job — an audit of the embedded sandbox fleet.
demo: build
	@./scripts/demo.sh

## bench: the benchmarks whose figures are recorded in BENCHMARKS.md.
bench: deps
	$(GO) test ./pkg/checks -run '^$$' -bench BenchmarkEvaluate100k -benchmem -cpu 1 -count 3
	$(GO) test ./pkg/sandbox -run '^$$' -bench BenchmarkAuditScale -benchtime 1x -timeout 30m -v
	FD_BENCH_INSTANCES=5000 FD_BENCH_ACCOUNT_REGIONS=1 $(GO) test ./pkg/sandbox -run '^$$' -bench BenchmarkAuditScale -benchtime 1x -timeout 30m -v
	$(GO) test ./pkg/report -run '^$$' -bench 'BenchmarkReportSet100k|BenchmarkSlack100k|BenchmarkHTML100k' -benchmem -count 1

## lambdas: the Lambda bootstraps (provided.al2023), one per lambdas/<name>,
## into bin/lambda/<name>/bootstrap; LAMBDA_ARCH=amd64 for x86_64 functions.
LAMBDA_ARCH ?= arm64
LAMBDAS     := targets discover diagnose remediate report
.PHONY: lambdas
lambdas: deps
	@for n in $(LAMBDAS); do \
		CGO_ENABLED=0 GOOS=linux GOARCH=$(LAMBDA_ARCH) $(GO) build -tags lambda.norpc -trimpath -ldflags='-s -w' \
			-o $(BIN)/lambda/$$n/bootstrap ./lambdas/$$n || exit 1; \
	done

## synth / deploy: the CDK app (infra/, see docs/deploy.md) with the CDK CLI
## pinned by infra/_cli/package-lock.json. Context comes from these variables
## (empty ones are not passed): HUB_ACCOUNT HUB_REGION ACCOUNTS ORG_OU
## REGIONS SCHEDULE TIMEZONE MODE SLACK_SECRET EXTERNAL_ID MEMBER_ROLE
## REMEDIATIONS DRIFT_THRESHOLD EMAIL. synth needs no AWS credentials: it
## uses placeholder account/region/external id when they are unset.
CDK          := infra/_cli/node_modules/.bin/cdk
CDK_ENV      := JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=20 JSII_DEPRECATED=quiet CDK_DISABLE_CLI_TELEMETRY=true
CDK_CTX_VARS := hubAccount=HUB_ACCOUNT region=HUB_REGION accounts=ACCOUNTS orgOu=ORG_OU regions=REGIONS \
	schedule=SCHEDULE timeZone=TIMEZONE mode=MODE slackSecretName=SLACK_SECRET externalId=EXTERNAL_ID \
	memberRoleName=MEMBER_ROLE enabledRemediations=REMEDIATIONS driftThreshold=DRIFT_THRESHOLD notificationEmail=EMAIL
cdk_key       = $(word 1,$(subst =, ,$(1)))
cdk_var       = $(word 2,$(subst =, ,$(1)))
CDK_CONTEXT   = $(foreach kv,$(CDK_CTX_VARS),$(if $($(call cdk_var,$(kv))),-c '$(call cdk_key,$(kv))=$($(call cdk_var,$(kv)))'))
.PHONY: synth deploy
$(CDK): infra/_cli/package.json infra/_cli/package-lock.json
	cd infra/_cli && npm ci --no-audit --no-fund
	@touch $@
synth: lambdas $(CDK)
	$(CDK_ENV) CDK_DEFAULT_ACCOUNT=$${CDK_DEFAULT_ACCOUNT:-111111111111} CDK_DEFAULT_REGION=$${CDK_DEFAULT_REGION:-us-east-1} \
		$(CDK) synth --quiet --no-notices $(CDK_CONTEXT) $(if $(EXTERNAL_ID),,-c externalId=synth-only-placeholder)
deploy: lambdas $(CDK)
	@[ -n "$(EXTERNAL_ID)" ] || { echo "deploy: set EXTERNAL_ID=... (the member role's sts:ExternalId, see docs/deploy.md)"; exit 2; }
	$(CDK_ENV) $(CDK) deploy FleetDoctorHub --require-approval broadening --no-notices $(CDK_CONTEXT)

clean:
	rm -rf $(BIN)
