#!/usr/bin/env bash
# Fuzzes every reader of untrusted bytes (.lstm, .json, .npy, .npz, .safetensors, .onnx) with libFuzzer under
# AddressSanitizer, seeded with the fixtures. CRC checks are skipped in this build only
# (-DLSTMTOOL_FUZZING) so that mutations reach the code behind them.
#   tools/fuzz.sh [SECONDS]      (default 60)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
# -sanitize-coverage: without it only the fuzz target itself is instrumented and libFuzzer sees
# a few dozen edges; with it every module reports coverage (thousands of edges) and comparisons.
swift build --product lstmfuzz --sanitize=fuzzer --sanitize=address -Xswiftc -DLSTMTOOL_FUZZING \
  -Xswiftc -sanitize-coverage=edge,inline-8bit-counters,pc-table,trace-cmp \
  --scratch-path .build-fuzz >/tmp/lstmfuzz-build.log 2>&1 || { tail -20 /tmp/lstmfuzz-build.log; exit 1; }
corpus=$(mktemp -d)
trap 'rm -rf "$corpus"' EXIT
i=0
prefix() { printf "\\x$(printf %02x "$1")" ; }
for f in fixtures/format/v1.0/*.lstm; do { prefix 0; cat "$f"; } >"$corpus/lstm$((i++))"; done
for f in fixtures/golden/lstm/model.json fixtures/golden/gru_reset_before/model.json; do { prefix 1; cat "$f"; } >"$corpus/json$((i++))"; done
for f in fixtures/golden/lstm/*.npy; do { prefix 2; cat "$f"; } >"$corpus/npy$((i++))"; done
python3 -c "import numpy as np, sys; np.savez(sys.argv[1], layer0=np.zeros((1,2,3),np.float32))" "$corpus/seed.npz" 2>/dev/null \
  && { prefix 3; cat "$corpus/seed.npz"; } >"$corpus/npz$((i++))" && rm "$corpus/seed.npz"
for f in fixtures/pytorch/gru_1l/model.safetensors fixtures/pytorch/lstm_proj/model.safetensors; do { prefix 4; cat "$f"; } >"$corpus/st$((i++))"; done
for f in fixtures/pytorch/lstm_1l/model.onnx fixtures/golden/lstm_peephole_all/model.onnx fixtures/golden/gru_reset_before/model.onnx; do { prefix 5; cat "$f"; } >"$corpus/onnx$((i++))"; done
for f in fixtures/keras/lstm/model.keras fixtures/keras/bidirectional_lstm/model.keras; do { prefix 6; cat "$f"; } >"$corpus/keras$((i++))"; done
for f in fixtures/keras/legacy_h5_gru/model.h5 fixtures/keras_bad/good.h5; do { prefix 7; cat "$f"; } >"$corpus/h5$((i++))"; done
SWIFT_BACKTRACE=enable=no .build-fuzz/debug/lstmfuzz -max_total_time="$seconds" -rss_limit_mb=4096 \
  -max_len=65536 -print_final_stats=1 "$corpus"; status=$?
rm -f /dev/shm/lstmfuzz-*
exit $status
