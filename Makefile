# rampart — thin wrapper over Meson/Ninja for the two README commands and
# the long-running jobs. Everything real lives in meson.build.

PYTHON      ?= /usr/bin/python3
BUILD       ?= build
ASAN_BUILD  ?= build-asan
FUZZ_BUILD  ?= build-fuzz
FUZZ_SECONDS ?= 300
FUZZ_SMOKE_SECONDS ?= 10
BENCH_SECONDS ?= 3
SOAK_SECONDS ?= 300
MESON_FLAGS ?=

FUZZ_TARGETS := codec aead keywrap pkey jwk vectors blobcred cdc http route

.PHONY: all deps build build-asan build-fuzz run test test-unit test-asan \
	test-integration fuzz fuzz-smoke bench soak format clean

all: build

deps:
	@./scripts/deps.sh

$(BUILD)/build.ninja:
	meson setup $(BUILD) $(MESON_FLAGS)

$(ASAN_BUILD)/build.ninja:
	meson setup $(ASAN_BUILD) -Db_sanitize=address,undefined -Db_lundef=false \
		-Dbuildtype=debug -Dbench=false $(MESON_FLAGS)

$(FUZZ_BUILD)/build.ninja:
	CC=clang meson setup $(FUZZ_BUILD) -Dfuzzing=true -Dtests=false -Dbench=false \
		-Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debugoptimized \
		-Dc_args=-fsanitize=fuzzer-no-link

build: deps $(BUILD)/build.ninja
	ninja -C $(BUILD)

build-asan: deps $(ASAN_BUILD)/build.ninja
	ninja -C $(ASAN_BUILD)

build-fuzz: deps $(FUZZ_BUILD)/build.ninja
	ninja -C $(FUZZ_BUILD)

# The embedded default: ./var (made on first run, admin token printed once)
# served by rampartd on https://127.0.0.1:8443 in the foreground.
run: build
	@./scripts/run.sh $(BUILD)

# The whole suite: unit and integration tests in a normal and an
# ASan+UBSan build, then a short run of every fuzz target.
test: build build-asan
	@echo "== unit tests ($(BUILD)) =="
	meson test -C $(BUILD) --suite unit --print-errorlogs
	@echo "== integration tests ($(BUILD)) =="
	RAMPART_BUILD=$(CURDIR)/$(BUILD) $(PYTHON) -m pytest -q tests/integration
	@echo "== unit tests, ASan+UBSan ($(ASAN_BUILD)) =="
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
		meson test -C $(ASAN_BUILD) --suite unit --print-errorlogs
	@echo "== integration tests, ASan+UBSan ($(ASAN_BUILD)) =="
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
		RAMPART_BUILD=$(CURDIR)/$(ASAN_BUILD) $(PYTHON) -m pytest -q tests/integration
	@$(MAKE) --no-print-directory fuzz-smoke

fuzz-smoke: build-fuzz
	@echo "== fuzz smoke run ($(FUZZ_SMOKE_SECONDS) s per target) =="
	./scripts/fuzz.sh $(FUZZ_BUILD) $(FUZZ_SMOKE_SECONDS) $(FUZZ_TARGETS)

fuzz: build-fuzz
	./scripts/fuzz.sh $(FUZZ_BUILD) $(FUZZ_SECONDS) $(FUZZ_TARGETS)

bench: build
	./bench/run.sh $(BUILD)/bench/bench-crypto $(BENCH_SECONDS)

# The soak test, separate from `make test`: 64 clients against one rampartd
# for SOAK_SECONDS (uploads, downloads, ranges, key operations), RSS
# sampled, then SIGTERM and the offline store and audit checks.
soak: build
	SOAK_SECONDS=$(SOAK_SECONDS) RAMPART_BUILD=$(CURDIR)/$(BUILD) \
		$(PYTHON) tests/soak/soak.py

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
