# accel: make builds, make test runs every test, make bench measures.
# Tests and benchmarks make their own network namespaces: they need root.

GO      ?= go
GOFLAGS ?=
BIN     := bin
# The Go part runs inside other programs with async preemption off: its
# runtime then sends no SIGURG to their threads (preload/lib/accel.c,
# install). tests/artifacts builds with the same flag.
GOLIBLDFLAGS := -X=runtime.godebugDefault=asyncpreemptoff=1
# Debian packages the tests and benchmarks need, by the command each gives.
NEEDS   := ip:iproute2 ethtool:ethtool ping:iputils-ping gcc:gcc python3:python3 \
           sockperf:sockperf socat:socat nc:netcat-openbsd iperf3:iperf3 nginx:nginx \
           redis-server:redis-server redis-cli:redis-tools curl:curl \
           memcached:memcached

.PHONY: all build test bench deps generate vet clean

all: build

build:
	$(GO) build $(GOFLAGS) -o $(BIN)/accel ./cmd/accel
	CGO_ENABLED=1 $(GO) build $(GOFLAGS) -tags netgo,osusergo -buildmode=c-shared -ldflags=$(GOLIBLDFLAGS) -o $(BIN)/libaccel-go.so ./preload
	$(CC) $(CFLAGS) -O2 -g -fPIC -shared -fvisibility=hidden -Wall -Wextra -Wno-unused-parameter \
		-o $(BIN)/libaccel.so preload/lib/accel.c -ldl -lpthread

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

# Fuzz targets run briefly in every test run, as package:target:executions.
# Counts, not durations: a duration-based -fuzztime can fail at its deadline
# with no crasher under CPU contention (golang/go#75804, unfixed in Go 1.26).
# FUZZSCALE multiplies the counts for a longer run.
FUZZSCALE ?= 1
FUZZ      := stack/wire:FuzzParse:200000 stack/wire:FuzzEthernet:200000 stack/wire:FuzzIPv4:200000 \
             stack/wire:FuzzUDP:200000 stack/wire:FuzzARP:200000 stack/wire:FuzzICMP:200000 stack/wire:FuzzTCP:200000 \
             stack:FuzzInput:100000 tcp:FuzzInput:50000 tcp:FuzzListener:50000

test: deps vet build
	$(GO) test $(GOFLAGS) -count=1 -timeout 20m ./...
	$(GO) test $(GOFLAGS) -race -count=1 -timeout 10m ./stack/... ./vi/... ./udp/... ./shim/... ./tests/ ./tests/netns/... ./tests/pingpong/...
	@for f in $(FUZZ); do \
		pkg=$${f%%:*}; rest=$${f#*:}; target=$${rest%%:*}; n=$$(( $${rest#*:} * $(FUZZSCALE) )); \
		echo "fuzz $$target, $$n executions"; \
		$(GO) test $(GOFLAGS) -run '^$$' -fuzz "^$$target$$" -fuzztime $${n}x ./$$pkg || exit 1; \
	done

# The latency comparison: sockperf and iperf3 on kernel sockets and under
# the preload, next to the raw VI floor, in alternating rounds. It prints a
# table and writes JSON and plots to bench-results/. BENCHFLAGS passes
# flags to accel bench (e.g. BENCHFLAGS="--quick" or "--sizes 64,1400").
BENCHFLAGS ?=
bench: deps build
	$(BIN)/accel bench $(BENCHFLAGS)

# Regenerate the XDP filter program's object and Go bindings (needs clang
# and libbpf-dev; the results are committed so that builds need neither).
generate:
	$(GO) generate ./vi/xdp

clean:
	rm -rf $(BIN)
