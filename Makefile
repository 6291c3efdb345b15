# Thin front for meson + ninja (STYLE.md "Build"). Every target installs what is missing
# first (Debian 12 packages, through scripts/install-deps.sh), so a fresh machine needs
# nothing else.

BUILD ?= build
PY := /usr/bin/python3
SECONDS ?= 60
TARGETS ?=
MESON_OPTS := $(if $(filter true,$(CI)),-Dci=true,)
ARGS ?=

.PHONY: all deps build run test unit e2e asan asan-build asan-unit fuzz bench format clean

all: build

deps:
	@scripts/install-deps.sh test

$(BUILD)/build.ninja:
	meson setup $(BUILD) $(MESON_OPTS)

build: deps $(BUILD)/build.ninja
	ninja -C $(BUILD)

# Starts a node with its embedded defaults: DNS on 127.0.0.1:5300, API on 127.0.0.1:8053.
run: build
	./$(BUILD)/swarmdns serve $(ARGS)

unit: build
	meson test -C $(BUILD) --print-errorlogs

e2e: build
	SWARMDNS_BIN=$(CURDIR)/$(BUILD)/swarmdns $(PY) -m pytest -q tests/e2e

# Unit tests and fuzz corpora (meson test), then the end-to-end suite (pytest).
test: build
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

bench: build
	scripts/install-deps.sh bench
	SWARMDNS_BIN=$(CURDIR)/$(BUILD)/swarmdns bench/run.sh $(ARGS)

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD) build-asan build-fuzz
