# Runnel — build, run, test.
#
#   make run     build and start `runnel dev` (the all-in-one default)
#   make test    install what the tests need, then run every test
#   make bench   run the benchmarks
#   make lint    gofmt + go vet

GO        ?= go
SUDO      := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
BIN       := bin/runnel
# What `runnel version` prints: stamped here, since GOFLAGS may turn off Go's
# own VCS stamping (-buildvcs=false).
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
COMMIT    ?= $(shell git rev-parse HEAD 2>/dev/null)$(shell git diff --quiet HEAD 2>/dev/null || echo +dirty)
LDFLAGS   := -X main.version=$(VERSION) -X main.commit=$(COMMIT)
FUZZTIME  ?= 10000x
# Packages whose fuzz targets run briefly in `make test`, as package:Target.
FUZZ_TARGETS := $(shell grep -rl --include='*_test.go' '^func Fuzz' . 2>/dev/null | \
	xargs -r grep -H '^func Fuzz' | \
	sed -E 's|^\./(.*)/[^/]+_test\.go:func (Fuzz[A-Za-z0-9_]*).*|\1:\2|' | sort -u)

.PHONY: all build run test test-deps unit unit-volume fuzz bench lint clean

all: build

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/runnel

run: build
	./$(BIN) dev

## test-deps: everything the tests need, installed idempotently: Go modules,
## kcat (a real librdkafka client) and chromium (browser tests) from Debian's
## packages, and versitygw (the S3 server of the tiering tests) built through
## the Go module proxy into $(GOPATH)/bin, where tiering/s3test finds it
## (about 3.5 min on 2 cores).
VERSITYGW_VERSION ?= v1.8.0
GOBIN_DIR := $(shell $(GO) env GOPATH)/bin
test-deps:
	$(GO) mod download
	@$(GOBIN_DIR)/versitygw --version 2>/dev/null | grep -q 'Version *: $(VERSITYGW_VERSION)$$' || { \
		echo "building versitygw $(VERSITYGW_VERSION) into $(GOBIN_DIR)"; \
		GOBIN=$(GOBIN_DIR) $(GO) install -ldflags "-X main.Version=$(VERSITYGW_VERSION)" github.com/versity/versitygw/cmd/versitygw@$(VERSITYGW_VERSION); }
	@command -v kcat >/dev/null 2>&1 || { \
		echo "installing kcat from Debian's packages"; \
		$(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq kcat >/dev/null; }
	@command -v chromium >/dev/null 2>&1 || { \
		echo "installing chromium (for the browser tests) from Debian's packages"; \
		$(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null; }

test: test-deps lint lint-openapi unit unit-volume fuzz sdk-test browser-test

unit:
	$(GO) test -race -count=1 -timeout 15m ./...

## unit-volume: the tests that move too much data to run under -race (they
## skip themselves there): 1 GiB through tiered storage and four readers.
unit-volume:
	$(GO) test -count=1 -timeout 10m -run 'TestDevTiersGiB' ./cmd/runnel/

## fuzz: each fuzz target runs $(FUZZTIME) inputs beyond its checked-in seed corpus.
fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; name=$${t##*:}; \
		echo "fuzz ./$$pkg $$name"; \
		$(GO) test -run='^$$' -fuzz="^$$name\$$" -fuzztime=$(FUZZTIME) ./$$pkg; \
	done

bench:
	$(GO) test -run='^$$' -bench=. -benchmem -timeout 30m ./...

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

clean:
	rm -rf bin

## lint-openapi: lint openapi.yaml with Redocly CLI, fetched from the npm
## registry by npx (needs Node.js >= 20.19). Every finding fails except those
## named in gateway/openapispec/.redocly.lint-ignore.yaml.
REDOCLY_CLI ?= @redocly/cli@2.77.0
.PHONY: lint-openapi
lint-openapi:
	@command -v npx >/dev/null 2>&1 || { echo "lint-openapi needs Node.js >= 20.19 with npx"; exit 1; }
	npx --yes $(REDOCLY_CLI) lint --config gateway/openapispec/redocly.yaml --format=stylish openapi.yaml

## sdk-test: the TypeScript SDK (sdk-js): a clean npm ci, the build, unit tests
## and integration tests against a real `runnel dev` (needs Node.js >= 20).
.PHONY: sdk-test
sdk-test:
	@command -v npm >/dev/null 2>&1 || { echo "sdk-test needs Node.js >= 20 with npm"; exit 1; }
	cd sdk-js && npm ci --no-audit --no-fund && npm test

## console-assets: rebuild the web console's copy of the SDK bundle
## (gateway/console/assets, committed so that `go build` needs no Node.js) and
## record the SDK sources it came from (TestBundleMatchesSDKSources checks it).
.PHONY: console-assets
console-assets:
	cd sdk-js && npm ci --no-audit --no-fund && npm run build
	cp sdk-js/dist/runnel-client.min.js gateway/console/assets/runnel-client.js
	find sdk-js/package.json sdk-js/package-lock.json sdk-js/tsconfig.json sdk-js/src -path sdk-js/src/generated -prune -o -type f -print | \
		LC_ALL=C sort | xargs sha256sum > gateway/console/assets/SDK-SOURCES.sha256

## browser-test: the SDK and the web console in Debian's Chromium, driven by
## playwright-core (which downloads no browser), against a real `runnel dev`.
## Screenshots go to sdk-js/browser-test/artifacts/.
.PHONY: browser-test
browser-test: build
	@command -v chromium >/dev/null 2>&1 || { echo "browser-test needs chromium: run make test-deps"; exit 1; }
	cd sdk-js && npm ci --no-audit --no-fund && npm run build && npm run build:test
	cd sdk-js/browser-test && npm ci --no-audit --no-fund && RUNNEL_BIN=$(CURDIR)/$(BIN) npm test
