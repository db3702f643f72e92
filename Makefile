# galxe-lambda. `make test` is the test command; CI runs it through .ci/run.
GO      ?= go
TOOLS   := -modfile=tools/go.mod
BIN     := bin
# As deployed: static, arm64, no RPC shim, no paths or symbols.
LAMBDA_ENV   := CGO_ENABLED=0 GOOS=linux GOARCH=arm64
LAMBDA_FLAGS := -tags lambda.norpc -trimpath -ldflags="-s -w"

FUNCTIONS := webhook scheduled pusher

.PHONY: real-token help bench bench-update fuzz all build test lint vet staticcheck cfn-lint fmt-check tools demo up artifacts-dir build-WebhookFunction build-ScheduledFunction build-PusherFunction

## all: lint and test
all: lint test

## help: this list
help:
	@awk -F': ' '/^## /{sub(/^## /,""); split($$0,a,": "); printf "  %-24s %s\n", a[1], substr($$0, length(a[1])+3)}' $(MAKEFILE_LIST)

## tools: the Lambda Runtime Interface Emulator, from its Go module at the version pinned in tools/go.mod
tools: $(BIN)/aws-lambda-rie

$(BIN)/aws-lambda-rie: tools/go.mod tools/go.sum
	$(GO) build $(TOOLS) -o $@ github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie

## build: the functions as deployed, in bin/<function>/bootstrap
build: $(foreach f,$(FUNCTIONS),$(BIN)/$(f)/bootstrap)

$(BIN)/%/bootstrap: FORCE
	$(LAMBDA_ENV) $(GO) build $(LAMBDA_FLAGS) -o $@ ./functions/$*

## build-<LogicalId>: what `sam build` calls (BuildMethod: makefile); needs ARTIFACTS_DIR=<folder>
build-WebhookFunction: artifacts-dir
	$(LAMBDA_ENV) $(GO) build $(LAMBDA_FLAGS) -o $(ARTIFACTS_DIR)/bootstrap ./functions/webhook

build-ScheduledFunction: artifacts-dir
	$(LAMBDA_ENV) $(GO) build $(LAMBDA_FLAGS) -o $(ARTIFACTS_DIR)/bootstrap ./functions/scheduled

build-PusherFunction: artifacts-dir
	$(LAMBDA_ENV) $(GO) build $(LAMBDA_FLAGS) -o $(ARTIFACTS_DIR)/bootstrap ./functions/pusher

# Without it the bootstrap would land at /bootstrap, the root of the file system.
artifacts-dir:
	@if [ -z "$(ARTIFACTS_DIR)" ]; then echo "ARTIFACTS_DIR is not set: sam build sets it; by hand, make $(MAKECMDGOALS) ARTIFACTS_DIR=\$$(mktemp -d) (or make build for bin/)" >&2; exit 2; fi

FORCE:

## demo: the whole system on this machine (stand-ins + emulator), every sample event answered
demo: tools
	$(GO) run ./cmd/devstack -rie $(BIN)/aws-lambda-rie

## up: the same stack left running (Ctrl-C stops it); `make up REAL=1` uses the real Galxe with GALXE_ACCESS_TOKEN
up: $(if $(REAL),real-token) tools
	@$(GO) build -o $(BIN)/devstack ./cmd/devstack
	@$(BIN)/devstack -rie $(BIN)/aws-lambda-rie -up $(if $(REAL),-real)

# Refused before anything is built: the real Galxe needs the token.
real-token:
	@if [ -z "$$GALXE_ACCESS_TOKEN" ]; then echo "make up REAL=1 needs GALXE_ACCESS_TOKEN: GALXE_ACCESS_TOKEN=... make up REAL=1" >&2; exit 2; fi

## test: every test, with the race detector; the end-to-end tests run the built functions under the emulator
test: tools
	$(GO) test -count=1 -race ./...

## bench: sizes, cold starts, warm overhead, bulk and queued pushes, handler benchmarks; prints the report
bench:
	$(GO) run ./bench -out -

## bench-update: the same, and rewrites BENCHMARKS.md with it
bench-update:
	$(GO) run ./bench -out BENCHMARKS.md

## fuzz: each fuzz target for FUZZTIME (make test runs their seed corpora in testdata/)
FUZZTIME ?= 60s
FUZZ_TARGETS := shared/apigw:FuzzParse shared/credentials:FuzzNormalize shared/credentials:FuzzItemList \
	shared/galxe:FuzzClassify shared/galxe:FuzzParseRetryAfter shared/jobs:FuzzParse shared/webhook:FuzzServe \
	shared/webhook:FuzzSignatureHeaders
fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; fn=$${t##*:}; echo "== $$pkg $$fn ($(FUZZTIME))"; \
		$(GO) test -run '^$$' -fuzz "^$$fn\$$" -fuzztime $(FUZZTIME) ./$$pkg; \
	done

## fmt-check: gofmt has nothing to change
fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change: $$out"; exit 1; fi

vet:
	$(GO) vet ./...

staticcheck:
	$(GO) tool $(TOOLS) staticcheck ./...

## cfn-lint: the template as AWS builds it (cfn-lint with SAM's translator), when cfn-lint is on the PATH
cfn-lint:
	@if command -v cfn-lint >/dev/null 2>&1; then cfn-lint template.yaml && echo "cfn-lint: template.yaml clean"; \
	else echo "cfn-lint not on the PATH: template.yaml not linted (pip install cfn-lint)"; fi

## lint: gofmt, go vet, staticcheck and cfn-lint
lint: fmt-check vet staticcheck cfn-lint
