# lstmtool: every entry point installs what it needs on a fresh Debian machine.
#   make demo   build and run the tool on the bundled fixtures
#   make test   build and run every test (CI runs it, then test-asan and fuzz-smoke: .ci/run)
#   make bench  performance numbers for docs/PERFORMANCE.md
SHELL := /bin/bash
SWIFT ?= swift
APT_PACKAGES := libprotobuf-c-dev protobuf-c-compiler zlib1g-dev libhdf5-dev pkg-config python3-venv libxml2-utils librsvg2-bin
VENV := .venv
PY := $(VENV)/bin/python
SHARED_CHECK := ../shared/tools/check_cli.py
DEBUG_BIN := .build/debug/lstmtool
RELEASE_BIN := .build/release/lstmtool

.PHONY: deps pydeps build release test check test-asan fuzz-smoke test-tsan demo bench clean

## System packages (apt), installed only when missing.
deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  sudo=""; [ "$$(id -u)" -eq 0 ] || sudo=sudo; \
	  $$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq $$missing >/dev/null; \
	fi

## Python packages for the cross-checks against onnx/onnxruntime (a local virtualenv).
pydeps: deps
	@[ -x $(PY) ] || python3 -m venv $(VENV)
	@$(PY) -c "import numpy, onnx, onnxruntime, keras, jax, h5py, ai_edge_litert" 2>/dev/null || $(PY) -m pip install -q -r tools/requirements-test.txt

build: deps
	$(SWIFT) build

release: deps
	$(SWIFT) build -c release

## Everything CI runs: the suite, then the suite under sanitizers and a short fuzz of every reader.
test: check test-asan fuzz-smoke

## The test suite and every cross-check, without the sanitizer build and the fuzzer (quicker).
check: deps pydeps
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build --disable-swift-testing
	$(DEBUG_BIN) verify fixtures
	$(PY) tools/test_onnx_export.py $(DEBUG_BIN)
	$(PY) tools/test_keras_export.py $(DEBUG_BIN)
	$(PY) tools/check_tflite_schema.py
	$(PY) tools/test_tflite_export.py $(DEBUG_BIN)
	tools/test_examples.sh
	python3 tools/check_doc_comments.py
	tools/check_docs.sh
	python3 tools/test_bombs.py $(DEBUG_BIN)
	python3 tools/test_kill_write.py $(DEBUG_BIN) 300 16
	@if [ -f $(SHARED_CHECK) ]; then $(PY) $(SHARED_CHECK) $(DEBUG_BIN); else echo "($(SHARED_CHECK) not present: PyTorch contract check skipped)"; fi

## The XCTest suite again under AddressSanitizer (Swift and C targets) with
## UndefinedBehaviorSanitizer on the C targets (docs/SECURITY.md), in a build folder of its own.
ASAN_FLAGS := --sanitize=address -Xcc -fsanitize=undefined -Xcc -fno-sanitize=function -Xcc -fno-sanitize-recover=undefined
test-asan: deps
	$(SWIFT) build --build-tests $(ASAN_FLAGS) --scratch-path .build-asan
	LSAN_OPTIONS=suppressions=$(CURDIR)/tools/lsan.supp UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 SWIFT_BACKTRACE=enable=no \
	  $(SWIFT) test --skip-build $(ASAN_FLAGS) --scratch-path .build-asan --disable-swift-testing

## A few seconds of libFuzzer + AddressSanitizer on every reader (tools/fuzz.sh READER for more).
fuzz-smoke: deps
	tools/fuzz.sh 5 all

## ThreadSanitizer over the threaded tests (not in CI: tools/tsan.sh).
test-tsan: deps
	tools/tsan.sh

demo: release
	@set -e; out=$$(mktemp -d); \
	echo "== inspect a peephole LSTM"; $(RELEASE_BIN) inspect fixtures/format/v1.0/lstm_peephole_all.lstm; \
	echo; echo "== inspect --json of a 2-layer bidirectional LSTM (excerpt)"; \
	$(RELEASE_BIN) inspect fixtures/format/v1.0/lstm_2l_bidirectional.lstm --json | grep -E '"(format_version|cell|direction|parameters|total_parameters)"'; \
	echo; echo "== convert PyTorch's safetensors to .lstm, and to the JSON text form"; \
	$(RELEASE_BIN) convert fixtures/pytorch/lstm_2l_bi/model.safetensors $$out/lstm_2l_bi.lstm --cell lstm; \
	$(RELEASE_BIN) convert $$out/lstm_2l_bi.lstm $$out/lstm_2l_bi.json; \
	echo "wrote $$out/lstm_2l_bi.lstm ($$(stat -c %s $$out/lstm_2l_bi.lstm) bytes) and $$out/lstm_2l_bi.json"; \
	echo; echo "== run it on PyTorch's inputs (f64)"; \
	$(RELEASE_BIN) run $$out/lstm_2l_bi.lstm --input fixtures/pytorch/lstm_2l_bi/x.npy \
	  --initial-h fixtures/pytorch/lstm_2l_bi/h0.npy --initial-c fixtures/pytorch/lstm_2l_bi/c0.npy \
	  --output $$out/y.npy --final-h $$out/hn.npy --final-c $$out/cn.npy --precision f64; \
	echo "wrote $$out/y.npy, $$out/hn.npy, $$out/cn.npy"; \
	echo; echo "== verify the converted model against PyTorch's own outputs"; \
	$(RELEASE_BIN) verify $$out/lstm_2l_bi.lstm --golden fixtures/pytorch/lstm_2l_bi --verbose; \
	echo; echo "== verify every golden fixture (f32 and f64)"; \
	$(RELEASE_BIN) verify fixtures | tail -n 5

bench: release pydeps
	$(PY) tools/bench_format.py --bin .build/release
	$(PY) tools/bench_eval.py --bin .build/release

clean:
	rm -rf .build $(VENV)
