# Vigil: the two commands a fresh Debian 12 machine needs are `make demo` and `make test`.
# Both install the Debian packages they need when missing (non-interactive).

SWIFT ?= swift
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# Build-time C libraries (system-library targets) and the pieces tests talk to for real.
# BUILD_DEBS serve `build`, `test` (test-deps depends on deps) and `demo`; libvirt-dev alone (no daemon) carries
# libvirt's in-process test:/// driver that the libvirt collector's tests and the demo read.
BUILD_DEBS := libsqlite3-dev libsnappy-dev libopenblas-dev libvirt-dev libncurses-dev pkg-config
TEST_DEBS := prometheus prometheus-node-exporter victoria-metrics python3-venv curl tmux

.PHONY: all build release test deps test-deps demo bench clean fuzz sanitize

all: build

deps:
	@./scripts/apt-ensure.sh $(BUILD_DEBS)

test-deps: deps
	@./scripts/apt-ensure.sh $(TEST_DEBS)

build: deps
	$(SWIFT) build

release: deps
	$(SWIFT) build -c release

# OPENBLAS_NUM_THREADS=1: the suite runs many tests in parallel, each calling BLAS from its own thread; OpenBLAS's
# threaded routines called from several threads at once can spin on each other (a dpotrf livelock was seen). The
# product keeps all BLAS on one thread per process (BLASWorker.shared) instead.
test: test-deps
	$(SWIFT) build --build-tests
	OPENBLAS_NUM_THREADS=1 $(SWIFT) test

# `make demo`: the whole loop in vigil top; `make demo HEADLESS=1`: two simulated days in about two minutes, then
# the run's summary (DEMO_ARGS passes more `vigil demo` flags, e.g. DEMO_ARGS='--seed 2').
demo: deps
	@HEADLESS=$(HEADLESS) ./scripts/demo.sh

bench: release
	.build/release/vigil bench store

# Fuzzing (docs/fuzzing.md): every decoder and parser under libFuzzer + AddressSanitizer, FUZZ_SECONDS each,
# from the seeds in Fuzz/corpus/<target>; non-zero exit on any finding. Builds into .build-fuzz only.
FUZZ_SECONDS ?= 60
fuzz: deps
	FUZZ_SECONDS=$(FUZZ_SECONDS) SWIFT=$(SWIFT) ./Fuzz/run.sh $(FUZZ_TARGETS)

# The core, chunk, store, ingest and query suites under AddressSanitizer (leak checking on, platform-library leaks
# suppressed by Fuzz/lsan-suppressions.txt), then ThreadSanitizer, in .build-asan and .build-tsan.
# SANITIZE_FILTER='.' runs every suite.
SANITIZE_FILTER ?= VigilCoreTests|VigilChunkTests|VigilStoreTests|VigilIngestTests|VigilQueryTests
sanitize: test-deps
	$(SWIFT) build --build-tests --sanitize=address --scratch-path .build-asan
	LSAN_OPTIONS=suppressions=$(CURDIR)/Fuzz/lsan-suppressions.txt:print_suppressions=0 \
	    $(SWIFT) test --skip-build --sanitize=address --scratch-path .build-asan --filter '$(SANITIZE_FILTER)'
	$(SWIFT) build --build-tests --sanitize=thread --scratch-path .build-tsan
	TSAN_OPTIONS=halt_on_error=1 \
	    $(SWIFT) test --skip-build --sanitize=thread --scratch-path .build-tsan --filter '$(SANITIZE_FILTER)'

clean:
	rm -rf .build
