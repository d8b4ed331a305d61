#!/usr/bin/env bash
# Fuzzes every reader of untrusted bytes (every model format of the registry, .npy, .npz) with libFuzzer under
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
# Selector bytes come from the harness itself (the registry's order), so a new format is
# fuzzed without editing this script; seeds are every fixture file of that format's extensions.
i=0
prefix() { printf "\\x$(printf %02x "$1")" ; }
while read -r index name exts; do
  case $name in
    npy) files=$(ls fixtures/golden/lstm/*.npy) ;;
    npz) python3 -c "import numpy as np, sys; np.savez(sys.argv[1], layer0=np.zeros((1,2,3),np.float32))" "$corpus/seed.npz" 2>/dev/null || continue
         { prefix "$index"; cat "$corpus/seed.npz"; } >"$corpus/npz$((i++))"; rm -f "$corpus/seed.npz"; continue ;;
    pickle) for f in $(find fixtures -type f -name "*.pt" -size -256k | sort | head -n 6); do
              python3 -c "import zipfile, sys; z = zipfile.ZipFile(sys.argv[1]); n = [m for m in z.namelist() if m.endswith('/data.pkl')][0]; sys.stdout.buffer.write(z.read(n))" "$f" \
                > "$corpus/seed.pkl" 2>/dev/null || continue
              { prefix "$index"; cat "$corpus/seed.pkl"; } >"$corpus/pickle$((i++))"
            done; rm -f "$corpus/seed.pkl"; continue ;;
    *) files=$(for e in ${exts//,/ }; do find fixtures -type f -name "*.$e" -size -256k; done | sort | head -n 12) ;;
  esac
  for f in $files; do { prefix "$index"; cat "$f"; } >"$corpus/$name$((i++))"; done
done < <(LSTMFUZZ_LIST=1 SWIFT_BACKTRACE=enable=no .build-fuzz/debug/lstmfuzz)
echo "seeded $(ls "$corpus" | wc -l) inputs"
SWIFT_BACKTRACE=enable=no .build-fuzz/debug/lstmfuzz -max_total_time="$seconds" -rss_limit_mb=4096 \
  -max_len=65536 -print_final_stats=1 "$corpus"; status=$?
rm -f /dev/shm/lstmfuzz-*
exit $status
