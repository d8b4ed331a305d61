#!/usr/bin/env bash
# ThreadSanitizer over the tests that run threads: the threaded f32 evaluator (EvalTests,
# APITests with RunLimits(threads: 2)), the GEMM kernels' thread split (KernelTests), and the
# parallel tensor decode of large compressed models (FormatRoundTripTests), and the worker pool
# and barrier under contention (WorkerPoolTests). Not part of
# `make test` (a separate build of its own, several minutes); run it after touching threads.
#   tools/tsan.sh
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
nice -n 10 swift build --build-tests --sanitize=thread --scratch-path .build-tsan >/tmp/lstmtool-tsan-build.$$.log 2>&1 ||
  { tail -20 /tmp/lstmtool-tsan-build.$$.log; exit 1; }
built=$(date +%s)
TSAN_OPTIONS=halt_on_error=1 SWIFT_BACKTRACE=enable=no \
  swift test --skip-build --sanitize=thread --scratch-path .build-tsan --disable-swift-testing \
  --filter 'EvalTests|APITests|KernelTests|FormatRoundTripTests|WorkerPoolTests' 2>&1 | tail -n 3
echo "tsan: build $((built - start)) s, tests $(( $(date +%s) - built )) s"
