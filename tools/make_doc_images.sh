#!/usr/bin/env bash
# Renders the pictures in docs/images/ (README.md, docs/ANALYZE.md) with the debug build:
#   swift build --build-tests && tools/make_doc_images.sh
# Needs rsvg-convert (librsvg2-bin). The SVGs are deterministic; the PNGs depend on the
# fonts of the machine that renders them.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=.build/debug/lstmtool
out=docs/images
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$out"
for m in lstm_peephole_subset lstm_coupled gru_reset_before gru_reset_after lstm_2l_bidirectional; do
  "$bin" draw "fixtures/models/$m.lstm" -o "$out/draw_$m.svg"
done
"$bin" verify fixtures/golden/lstm_peephole_all --plot "$tmp/ok" >/dev/null
cp "$tmp/ok/lstm_peephole_all_y.svg" "$out/verify_plot_pass.svg"
"$bin" verify fixtures/golden/lstm_peephole_all --atol 3e-8 --rtol 0 --plot "$tmp/fail" >/dev/null || true
cp "$tmp/fail/lstm_peephole_all_y.svg" "$out/verify_plot_fail.svg"
"$bin" analyze fixtures/analysis/demo_lstm.json --input fixtures/analysis/demo_x.npy --svg "$out/analyze_demo_lstm.svg" >/dev/null
# The RNN / GRU / LSTM comparison is drawn by the test that checks it.
LSTMTOOL_WRITE_DOC_IMAGES="$PWD/$out" swift test --skip-build --disable-swift-testing \
  --filter AnalysisTests.testMemoryDemoRNNForgetsLSTMRemembers >/dev/null
for f in "$out"/*.svg; do rsvg-convert "$f" -o "${f%.svg}.png"; done
ls -l "$out"
