# Thin front for meson + ninja (STYLE.md "Build"). Every target installs what is missing
# first (Debian 12 packages, through scripts/install-deps.sh), so a fresh machine needs
# nothing else: building and running (`make`, `make run`, `make install`, `make deb`) only
# the set `run`; the tests the set `test`.

BUILD ?= build
PY := /usr/bin/python3
SECONDS ?= 60
TARGETS ?=
MESON_OPTS := $(if $(filter true,$(CI)),-Dci=true,)
ARGS ?=
# make install: PREFIX=/usr puts the configuration in /etc, any other prefix in PREFIX/etc.
PREFIX ?= /usr/local
SYSCONFDIR ?= $(if $(filter /usr,$(PREFIX)),/etc,$(PREFIX)/etc)
DESTDIR ?=

.PHONY: all deps deps-run build build-test run install deb test unit e2e asan asan-build \
	asan-unit fuzz bench format clean

all: build

deps:
	@scripts/install-deps.sh test

deps-run:
	@scripts/install-deps.sh run

$(BUILD)/build.ninja:
	meson setup $(BUILD) $(MESON_OPTS)

build: deps-run $(BUILD)/build.ninja
	ninja -C $(BUILD)

# The build with its unit tests: a build directory set up before cmocka was installed (by
# `make run` on a fresh machine) is configured again, so that meson finds it now.
build-test: deps $(BUILD)/build.ninja
	@grep -q 'test_common' $(BUILD)/build.ninja || meson setup --reconfigure $(BUILD) $(MESON_OPTS)
	ninja -C $(BUILD)

# The binary, swarmdns(8), swarmdns.conf(5), the sample configuration (kept if one is there)
# and swarmdns.service, under DESTDIR/PREFIX (docs/service.md).
install: build
	meson configure $(BUILD) --prefix=$(PREFIX) --sysconfdir=$(SYSCONFDIR)
	meson install -C $(BUILD) $(if $(DESTDIR),--destdir $(abspath $(DESTDIR)),)

# A Debian package of the same files: $(BUILD)/swarmdns_<version>_<arch>.deb.
deb: build
	scripts/make-deb.sh $(BUILD)

# Starts a node with its embedded defaults: DNS on 127.0.0.1:5300, API on 127.0.0.1:8053.
run: build
	./$(BUILD)/swarmdns serve $(ARGS)

unit: build-test
	meson test -C $(BUILD) --print-errorlogs

e2e: build-test
	SWARMDNS_BIN=$(CURDIR)/$(BUILD)/swarmdns $(PY) -m pytest -q tests/e2e

# Unit tests and fuzz corpora (meson test), then the end-to-end suite (pytest).
test: build-test
	meson test -C $(BUILD) --print-errorlogs
	SWARMDNS_BIN=$(CURDIR)/$(BUILD)/swarmdns $(PY) -m pytest -q -p no:cacheprovider tests/e2e

# AddressSanitizer and UndefinedBehaviorSanitizer: asan-unit runs the unit tests, the DHT
# simulation and the fuzz corpora (CI runs it after `make test`); asan adds the end-to-end
# suite against the sanitized binary.
ASAN_ENV := ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
asan-build: deps
	[ -f build-asan/build.ninja ] || CC=clang meson setup build-asan $(MESON_OPTS) \
		-Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debug
	ninja -C build-asan

asan-unit: asan-build
	$(ASAN_ENV) meson test -C build-asan --print-errorlogs

asan: asan-unit
	$(ASAN_ENV) SWARMDNS_BIN=$(CURDIR)/build-asan/swarmdns \
		$(PY) -m pytest -q -p no:cacheprovider tests/e2e

# libFuzzer targets, built with clang; each runs SECONDS seconds (make fuzz SECONDS=600).
fuzz: deps
	[ -f build-fuzz/build.ninja ] || CC=clang meson setup build-fuzz -Dfuzz=true \
		-Db_sanitize=address,undefined -Db_lundef=false
	ninja -C build-fuzz
	fuzz/run.sh build-fuzz $(SECONDS) $(TARGETS)

bench: build-test
	scripts/install-deps.sh bench
	SWARMDNS_BIN=$(CURDIR)/$(BUILD)/swarmdns bench/run.sh $(ARGS)

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD) build-asan build-fuzz
