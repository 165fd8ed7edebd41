# ragd - the two commands a user needs are `make run` and `make test`.
# Both run scripts/setup.sh first (installs only what is missing).

BUILD ?= build
DEBUG_BUILD ?= build-debug
JOBS ?= $(shell nproc)
MAKEFLAGS += --no-print-directory
ARGS ?=

FUZZ_SECONDS ?= 300
PREFIX ?= /usr/local
DESTDIR ?=
DEB_OUT ?= $(BUILD)/deb

.PHONY: all setup build debug run test test-unit test-e2e test-tsan test-cluster fuzz install uninstall deb clean

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

# The binary, ragd.1, bash completion, ragd.conf.example (PREFIX/etc/ragd), the
# model fetch script and the docs under $(DESTDIR)$(PREFIX); the list of what was
# installed goes to $(BUILD)/installed_files.txt, which `make uninstall` reads.
install: build
	@DESTDIR="$(DESTDIR)" cmake --install $(BUILD) --prefix "$(PREFIX)"
	@sed 's|^|$(DESTDIR)|' $(BUILD)/install_manifest.txt > $(BUILD)/installed_files.txt

uninstall:
	@test -f $(BUILD)/installed_files.txt || { echo "nothing installed from $(BUILD)"; exit 1; }
	@xargs -d '\n' rm -fv < $(BUILD)/installed_files.txt
	@xargs -d '\n' -n1 dirname < $(BUILD)/installed_files.txt | sort -u | grep '/ragd$$' | \
	    xargs -r -d '\n' rmdir --ignore-fail-on-non-empty
	@rm -f $(BUILD)/installed_files.txt

# The Debian package (debian/), built with dpkg-buildpackage from the release
# build in $(BUILD) (nothing is compiled twice); the .deb lands in $(DEB_OUT).
deb: build
	@scripts/make_deb.sh $(BUILD) $(DEB_OUT)

clean:
	rm -rf $(BUILD) $(DEBUG_BUILD) build-tsan build-fuzz
