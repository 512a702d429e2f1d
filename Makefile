# What a person types. The build itself is CMake (CMakeLists.txt); this file
# only names the usual commands.
#
#   make demo    install what is missing, build, run the main job on a sample
#   make test    install what is missing, build, run every test (incl. sanitizers);
#                the time of each phase and the skipped tests at the end
#   make test-repeat N=5   the normal build's suite N times in a row; fails on any failure
#   make build   build into build/ (the program is build/sluice)
#   make bench   run the benchmarks (bench/run.sh; results in docs/benchmarks.md)
#   make fuzz    fuzz the CSV parser for FUZZ_SECONDS (clang + libFuzzer)
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

.PHONY: all deps build build-asan build-tsan test test-fast test-repeat demo bench fuzz format clean install

all: build

deps:
	@scripts/deps.sh
	@test -d tests/js/node_modules || (cd tests/js && npm ci --no-audit --no-fund --loglevel=error)

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
	@cmake --build build-fuzz -j $(JOBS) --target fuzz_csv

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

fuzz-run:
	@mkdir -p build-fuzz/corpus && cp -n fuzz/corpus/* build-fuzz/corpus/ 2>/dev/null || true
	@build-fuzz/fuzz_csv -max_total_time=$(FUZZ_SECONDS) -max_len=4096 -timeout=10 \
	    -dict=fuzz/csv.dict build-fuzz/corpus >build-fuzz/fuzz.log 2>&1 \
	    || (tail -40 build-fuzz/fuzz.log; exit 1)
	@grep -E '^(#[0-9]+[[:space:]]+DONE|Done)' build-fuzz/fuzz.log | tail -1

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
