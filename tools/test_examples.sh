#!/usr/bin/env bash
# Builds the example app in Examples/StreamingVAD (a separate package that depends on this one
# by path, as an app would) and runs it: the library issue's acceptance program on an ONNX
# file, a .lstm file, a GRU and an RNN, then the streaming voice-activity example.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
example=Examples/StreamingVAD
swift build --package-path "$example"
bin=$(swift build --package-path "$example" --show-bin-path)
fail=0
check() {  # model expected-output
  local got
  got=$("$bin/acceptance" "$1")
  if [ "$got" = "$2" ]; then echo "PASS acceptance $1: $got"; else echo "FAIL acceptance $1: got '$got', want '$2'"; fail=1; fi
}
check "$root/fixtures/real/silero_vad_lstm/model.onnx" "[50, 1, 128] true true"
check "$root/$example/Sources/stream-vad/Resources/silero_vad_lstm.lstm" "[50, 1, 128] true true"
check "$root/fixtures/models/gru_reset_after.lstm" "[50, 1, 5] true true"
check "$root/fixtures/models/gru_reset_before.lstm" "[50, 1, 4] true true"
check "$root/fixtures/models/rnn_tanh.lstm" "[50, 1, 4] true true"
check "$root/fixtures/models/lstm_peephole_all.lstm" "[50, 1, 6] true true"
if "$bin/stream-vad" | tail -n 1 | grep -q "identical to one whole run: true"; then echo "PASS stream-vad"; else echo "FAIL stream-vad"; fail=1; fi
exit $fail
