# What a person types. The build itself is CMake (CMakeLists.txt); this file
# only names the usual commands.
#
#   make demo    install what is missing, build, run the main job on a sample
#   make test    install what is missing, build, run every test (incl. sanitizers);
#                the time of each phase and the skipped tests at the end
#   make test-repeat N=5   the normal build's suite N times in a row; fails on any failure
#   make build   build into build/ (the program is build/sluice)
#   make bench   run the benchmarks (bench/run.sh; results in docs/benchmarks.md)
#   make fuzz    fuzz the CSV parser, schema loader and value conversion for
#                FUZZ_SECONDS in all (clang + libFuzzer)
#   make install install the program, its man page and bash completion under
#                PREFIX (default /usr/local), below DESTDIR when set. BUILD
#                names another, already built, build directory (e.g. for tests):
#                then nothing is configured or built

JOBS        ?= $(shell nproc)
FUZZ_SECONDS ?= 60
SHARED      ?= $(abspath $(CURDIR)/../shared)
CMAKE_FLAGS := -DSLUICE_SHARED_CORPUS=$(SHARED)/corpus
PREFIX      ?= /usr/local
DESTDIR     ?=
BUILD       ?= build

N           ?= 5

.PHONY: all deps build build-asan build-tsan test test-fast test-repeat demo bench fuzz fuzz-run fuzz-one format clean install

all: build

deps:
	@scripts/deps.sh
	@test tests/js/node_modules/.package-lock.json -nt tests/js/package-lock.json || (cd tests/js && npm ci --no-audit --no-fund --loglevel=error)

build: deps
	@cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_FLAGS) >/dev/null
	@cmake --build build -j $(JOBS)

build-asan: deps
	@cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DSLUICE_SANITIZE=address,undefined $(CMAKE_FLAGS) >/dev/null
	@cmake --build build-asan -j $(JOBS)

build-tsan: deps
	@cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSLUICE_SANITIZE=thread $(CMAKE_FLAGS) >/dev/null
	@cmake --build build-tsan -j $(JOBS)

build-fuzz: deps
	@CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSLUICE_FUZZ=ON -DSLUICE_SANITIZE=address,undefined $(CMAKE_FLAGS) >/dev/null
	@cmake --build build-fuzz -j $(JOBS) --target fuzz_csv fuzz_schema fuzz_value fuzz_source

# Every test (scripts/test-all.sh): the four builds, every test under
# ASan+UBSan, the `threads` tests under TSan, a short fuzzing run, every test
# of the normal build; then the time of each phase and the skipped tests.
test:
	@JOBS=$(JOBS) FUZZ_SECONDS=$(FUZZ_SECONDS) MAKE="$(MAKE)" scripts/test-all.sh

# The normal build's suite N times in a row: a test that fails one run in a
# few (a race, a timing assumption) shows up here.
test-repeat: build
	@for i in $$(seq 1 $(N)); do \
	    echo "== run $$i of $(N) =="; \
	    (cd build && ctest --output-on-failure -j $(JOBS)) || { echo "== run $$i of $(N) FAILED =="; exit 1; }; \
	done; echo "== $(N) runs without a failure =="

test-fast: build
	@cd build && ctest --output-on-failure -j $(JOBS)

fuzz: build-fuzz fuzz-run

# FUZZ_SECONDS is the whole fuzzing budget: three eighths to the CSV engine
# (the biggest surface), an eighth to the decoders (src/source/), a quarter
# each to the schema loader and value conversion.
# Each harness fuzzes a copy of its corpus in build-fuzz/ and logs there.
# The schema run suppresses a leak inside libfyaml (fuzz/lsan.supp says which).
# (At least 1 s each: libFuzzer reads -max_total_time=0 as "no limit".)
atleast1 = $(shell n=$$(($(1))); [ $$n -ge 1 ] && echo $$n || echo 1)
FUZZ_CSV_S    = $(call atleast1,$(FUZZ_SECONDS) / 2 - $(FUZZ_SECONDS) / 8)
FUZZ_SOURCE_S = $(call atleast1,$(FUZZ_SECONDS) / 8)
FUZZ_SCHEMA_S = $(call atleast1,$(FUZZ_SECONDS) / 4)
FUZZ_VALUE_S  = $(call atleast1,$(FUZZ_SECONDS) - $(FUZZ_SECONDS) / 2 - $(FUZZ_SECONDS) / 4)

fuzz-run:
	@$(MAKE) --no-print-directory fuzz-one H=csv CORPUS=corpus DICT=csv.dict SECS=$(FUZZ_CSV_S) LEN=4096
	@ASAN_OPTIONS=fast_unwind_on_malloc=0 LSAN_OPTIONS=suppressions=$(CURDIR)/fuzz/lsan.supp \
	    $(MAKE) --no-print-directory fuzz-one H=schema CORPUS=corpus_schema DICT=schema.dict SECS=$(FUZZ_SCHEMA_S) LEN=4096
	@$(MAKE) --no-print-directory fuzz-one H=value CORPUS=corpus_value DICT=value.dict SECS=$(FUZZ_VALUE_S) LEN=128
	@$(MAKE) --no-print-directory fuzz-one H=source CORPUS=corpus_source DICT=source.dict SECS=$(FUZZ_SOURCE_S) LEN=65536

fuzz-one:
	@mkdir -p build-fuzz/$(CORPUS) && cp -n fuzz/$(CORPUS)/* build-fuzz/$(CORPUS)/ 2>/dev/null || true
	@build-fuzz/fuzz_$(H) -max_total_time=$(SECS) -max_len=$(LEN) -timeout=10 \
	    -dict=fuzz/$(DICT) build-fuzz/$(CORPUS) >build-fuzz/fuzz_$(H).log 2>&1 \
	    || (tail -40 build-fuzz/fuzz_$(H).log; exit 1)
	@printf 'fuzz_%s: ' $(H); grep -E '^(#[0-9]+[[:space:]]+DONE|Done)' build-fuzz/fuzz_$(H).log | tail -1

install: $(if $(filter build,$(BUILD)),build)
	@DESTDIR="$(DESTDIR)" cmake --install "$(BUILD)" --prefix "$(PREFIX)"

demo: build
	@scripts/demo.sh

bench: build
	@bench/run.sh

format:
	@clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf build build-asan build-tsan build-fuzz
