# ragd - the two commands a user needs are `make run` and `make test`.
# Both run scripts/setup.sh first (installs only what is missing).

BUILD ?= build
DEBUG_BUILD ?= build-debug
JOBS ?= $(shell nproc)
MAKEFLAGS += --no-print-directory
ARGS ?=

FUZZ_SECONDS ?= 300

.PHONY: all setup build debug run test test-unit test-e2e test-tsan test-cluster fuzz clean

all: build

setup:
	@scripts/setup.sh

build:
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

debug:
	@cmake -S . -B $(DEBUG_BUILD) -DCMAKE_BUILD_TYPE=Debug -DRAGD_SANITIZE=ON >/dev/null
	@cmake --build $(DEBUG_BUILD) -j $(JOBS)

run: setup build
	$(BUILD)/ragd serve $(ARGS)

test: setup build debug
	@scripts/test.sh

test-unit: debug
	@scripts/test.sh unit

test-e2e: build
	@scripts/test.sh e2e

test-tsan:
	@scripts/test.sh tsan

# The Redis Cluster matrix: every feature's e2e suite on a 3-master cluster.
test-cluster: build
	@scripts/test.sh cluster

# Every fuzz harness for FUZZ_SECONDS each (make fuzz FUZZ_SECONDS=60).
fuzz:
	@scripts/fuzz.sh build
	@scripts/fuzz.sh run $(FUZZ_SECONDS)

clean:
	rm -rf $(BUILD) $(DEBUG_BUILD) build-tsan build-fuzz
