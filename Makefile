# vpgw — two commands do everything on a fresh Debian 12 machine, as root:
#   make demo   build, bring up the netns lab with a strongSwan customer gateway,
#               show the tunnel UP and a ping through it, clean up
#   make test   everything CI runs (make fuzz: every fuzz target for 10 min)
export PATH := /usr/local/go/bin:$(PATH)
export GOFLAGS := -mod=readonly
GO       ?= go
FUZZTIME ?= 50000x
BIN      := bin/vpgw
# Root-only suites that build netns labs run one package at a time.
LABPKGS  := ./lab/... ./e2e/...

.PHONY: all build deps test unit e2e fuzz-smoke fuzz lint bench microbench demo clean

all: build

deps:
	@bash lab/install-deps.sh
	@$(GO) mod download

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-s -w -X main.version=$$(git describe --always --dirty 2>/dev/null || echo dev)" -o $(BIN) ./cmd/vpgw
	CGO_ENABLED=0 $(GO) build -trimpath -o bin/vpgw-lab ./lab/cmd/vpgw-lab

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

unit:
	$(GO) test -count=1 $$($(GO) list ./... | grep -v -e /lab -e /e2e)

e2e: build
	$(GO) test -count=1 -p 1 -timeout 20m $(LABPKGS)

fuzz-smoke:
	@FUZZTIME=$(FUZZTIME) bash scripts/fuzz-smoke.sh

# Every fuzz target for 10 minutes each (outside CI; crashers land in the
# package's testdata/fuzz and must be fixed and committed).
fuzz:
	@FUZZTIME=10m bash scripts/fuzz-smoke.sh

test: deps lint unit fuzz-smoke e2e

# Lab benchmark: vpgw vs strongSwan vs wireguard-go, table in bench/results.md.
bench: build
	@bash bench/run.sh

# Go micro-benchmarks of the packet path and the handshake code.
microbench:
	$(GO) test -run '^$$' -bench . -benchmem ./esp/... ./ike/...

demo: deps build
	./bin/vpgw-lab demo --vpgw $(BIN)

clean:
	rm -rf bin
	-./bin/vpgw-lab down 2>/dev/null
