# accel: make builds, make test runs every test, make bench measures.
# Tests and benchmarks make their own network namespaces: they need root.

GO      ?= go
GOFLAGS ?=
BIN     := bin
# Debian packages the tests and benchmarks need, by the command each gives.
NEEDS   := ip:iproute2 ethtool:ethtool ping:iputils-ping

.PHONY: all build test bench deps generate vet clean

all: build

build:
	$(GO) build $(GOFLAGS) -o $(BIN)/accel ./cmd/accel
	@if [ -d preload ]; then \
		CGO_ENABLED=1 $(GO) build $(GOFLAGS) -tags netgo,osusergo -buildmode=c-shared -o $(BIN)/libaccel.so ./preload; \
	fi

# deps installs what is missing when run as root, and otherwise says what.
deps:
	@missing=""; for n in $(NEEDS); do \
		command -v $${n%%:*} >/dev/null 2>&1 || missing="$$missing $${n#*:}"; \
	done; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ]; then \
			echo "installing:$$missing"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
		else \
			echo "missing Debian packages (install as root):$$missing"; \
		fi; \
	fi

vet:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt would change: $$unformatted"; exit 1; fi
	$(GO) vet ./...

# Fuzz targets run briefly in every test run; longer with FUZZTIME=5m.
FUZZTIME ?= 5s
FUZZ     := stack/wire:FuzzParse stack/wire:FuzzEthernet stack/wire:FuzzIPv4 stack/wire:FuzzUDP \
            stack/wire:FuzzARP stack/wire:FuzzICMP stack:FuzzInput

test: deps vet build
	$(GO) test $(GOFLAGS) -count=1 -timeout 20m ./...
	@for f in $(FUZZ); do \
		echo "fuzz $${f#*:} for $(FUZZTIME)"; \
		$(GO) test $(GOFLAGS) -run '^$$' -fuzz "^$${f#*:}$$" -fuzztime $(FUZZTIME) ./$${f%%:*} || exit 1; \
	done

# The VI floor against kernel sockets, several rounds in one run.
bench: deps build
	$(GO) test $(GOFLAGS) -run '^$$' -bench Floor -benchtime 20000x -count 5 ./tests/

# Regenerate the XDP filter program's object and Go bindings (needs clang
# and libbpf-dev; the results are committed so that builds need neither).
generate:
	$(GO) generate ./vi/xdp

clean:
	rm -rf $(BIN)
