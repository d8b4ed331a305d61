#!/usr/bin/env bash
# Writes the f64 bit pins of EvalTests.testF64ResultsAreThePinnedBits: lstmtool's own f64
# outputs for a few golden cases, as .npy. Run only when the f64 order of operations is
# changed on purpose (docs/CELLS.md must then say what changed); the test also checks
# every pin against the independent NumPy reference.
#   tools/make_f64_pins.sh [path/to/lstmtool]
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-.build/debug/lstmtool}
out=fixtures/regression/f64
mkdir -p "$out"
for name in lstm_peephole_all lstm_projection_clip gru_reset_before gru_sequence_lengths rnn_activations lstm_2l_bidirectional lstm_initial_states; do
  g=fixtures/golden/$name
  args=()
  python3 - "$g" > /tmp/pin-args <<'PY'
import json, sys
g = json.load(open(sys.argv[1] + "/golden.json"))
flags = {"initial_h": "--initial-h", "initial_c": "--initial-c", "sequence_lengths": "--sequence-lengths"}
for k, v in g["inputs"].items():
    if k in flags: print(flags[k], sys.argv[1] + "/" + v)
if g.get("batch_first"): print("--batch-first")
PY
  while read -r a b; do args+=("$a"); [ -n "${b:-}" ] && args+=("$b"); done < /tmp/pin-args
  model=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]+'/golden.json'))['model'])" "$g")
  "$bin" run "$g/$model" --input "$g/x.npy" --output "$out/$name.y.npy" --precision f64 "${args[@]}"
  echo "pinned $name"
done
