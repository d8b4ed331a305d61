#!/usr/bin/env bash
# Fuzzes the readers of untrusted bytes (every model format of the registry, .npy, .npz, a
# .pt's pickle alone, golden.json) with libFuzzer under AddressSanitizer, one campaign per
# reader, seeded with the fixtures. CRC checks are skipped in this build only
# (-DLSTMTOOL_FUZZING) so that mutations reach the code behind them.
#   tools/fuzz.sh [SECONDS] [READER[,READER…]|all]     (default: 60 seconds for every reader)
#   tools/fuzz.sh 600 keras                  one reader for ten minutes
#   FUZZ_RUNS=1000000 tools/fuzz.sh 0 npy    a fixed number of executions instead of a time
# Each campaign keeps its corpus in .fuzz/corpus/READER (ignored by git), so campaigns build
# on each other; crashes land in .fuzz/crashes/READER/ and make the script exit 1. Copy a
# crash into fixtures/fuzz-regressions/READER/ once fixed: FuzzRegressionTests replays them.
# The last line of each campaign, and .fuzz/stats.tsv, give READER, executions, seconds,
# corpus files and coverage (libFuzzer's cov/ft) for docs/SECURITY.md.
set -uo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
only=${2:-all}
# -sanitize-coverage: without it only the fuzz target itself is instrumented and libFuzzer sees
# a few dozen edges; with it every module reports coverage (thousands of edges) and comparisons.
# -c release: optimised code under ASan runs 5–10 times more inputs per second than -Onone.
swift build -c release --product lstmfuzz --sanitize=fuzzer --sanitize=address -Xswiftc -DLSTMTOOL_FUZZING \
  -Xswiftc -sanitize-coverage=edge,inline-8bit-counters,pc-table,trace-cmp \
  --scratch-path .build-fuzz >/tmp/lstmfuzz-build.$$.log 2>&1 || { tail -20 /tmp/lstmfuzz-build.$$.log; exit 1; }
rm -f /tmp/lstmfuzz-build.$$.log
bin=.build-fuzz/release/lstmfuzz
mkdir -p .fuzz
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Seeds: every fixture file of the reader's extensions (small ones), plus a few made here.
seed() {
  local name=$1 exts=$2 dir=$3 f
  case $name in
    npy) for f in $(ls fixtures/golden/lstm/*.npy fixtures/golden/*/lengths*.npy 2>/dev/null | head -n 12); do cp "$f" "$dir/"; done ;;
    npz) python3 - "$dir" <<'EOF' 2>/dev/null || true
import io, sys, zipfile, struct
def npy(shape):
    hdr = "{'descr': '<f4', 'fortran_order': False, 'shape': %s, }" % (repr(tuple(shape)),)
    hdr = hdr + " " * (63 - (10 + len(hdr)) % 64) + "\n"
    n = 1
    for s in shape: n *= s
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(hdr)) + hdr.encode() + b"\0" * (4 * n)
for i, comp in enumerate([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED]):
    with zipfile.ZipFile(f"{sys.argv[1]}/seed{i}.npz", "w", comp) as z:
        z.writestr("layer0.npy", npy((1, 2, 3)))
        z.writestr("layer1.npy", npy((1, 2, 4)))
EOF
    ;;
    pickle) for f in $(find fixtures -type f -name "*.pt" -size -256k | sort | head -n 6); do
              python3 -c "import zipfile, sys; z = zipfile.ZipFile(sys.argv[1]); n = [m for m in z.namelist() if m.endswith('/data.pkl')][0]; sys.stdout.buffer.write(z.read(n))" "$f" \
                > "$dir/$(echo "$f" | tr / _).pkl" 2>/dev/null || rm -f "$dir/$(echo "$f" | tr / _).pkl"
            done ;;
    golden) for f in $(find fixtures -name golden.json | sort | head -n 24); do cp "$f" "$dir/$(echo "$f" | tr / _)"; done ;;
    *) for e in ${exts//,/ }; do find fixtures -type f -name "*.$e" -size -64k; done | sort | head -n 16 |
         while read -r f; do cp "$f" "$dir/$(echo "$f" | tr / _)"; done ;;
  esac
  # Regression files found earlier seed the campaign too.
  [ -d "fixtures/fuzz-regressions/$name" ] && cp fixtures/fuzz-regressions/"$name"/* "$dir/" 2>/dev/null
  return 0
}

status=0
while read -r index name exts; do
  [ "$only" = all ] || [[ ",$only," == *",$name,"* ]] || continue
  corpus=.fuzz/corpus/$name crashes=.fuzz/crashes/$name
  mkdir -p "$corpus" "$crashes" "$tmp/seeds-$name"
  seed "$name" "$exts" "$tmp/seeds-$name"
  limit=(-max_total_time="$seconds")
  [ -n "${FUZZ_RUNS:-}" ] && limit=(-runs="$FUZZ_RUNS")
  # -timeout: one input may take at most 10 s (a hang is a finding); -rss_limit_mb: 2 GiB.
  opts=(-timeout=10)
  # Text formats: parsing cost grows with length and short inputs reach the same code.
  case $name in json|golden) opts+=(-max_len=16384) ;; *) opts+=(-max_len=65536) ;; esac
  # libhdf5 hangs and crashes on some crafted files (docs/SECURITY.md, "HDF5"). By default the
  # harness reads HDF5 as lstmtool does, in a worker process with limits (reused from input to
  # input), so a crash here is lstmtool's. FUZZ_HDF5_IN_PROCESS=1 fuzzes libhdf5 in process
  # instead, in fork mode, going on past its hangs and crashes, which are then checked below
  # against the isolated tool.
  inproc=
  if [ "$name" = keras ] && [ -n "${FUZZ_HDF5_IN_PROCESS:-}" ]; then
    inproc=1
    opts=(-max_len=65536 -timeout=1 -fork=1 -ignore_timeouts=1 -ignore_crashes=1 -ignore_ooms=1)
    [ -n "${FUZZ_RUNS:-}" ] && limit=(-max_total_time=$(( FUZZ_RUNS / 300 )))
  fi
  start=$(date +%s)
  env LSTMFUZZ_READER=$name ${inproc:+LSTMFUZZ_HDF5_IN_PROCESS=1} SWIFT_BACKTRACE=enable=no ASAN_OPTIONS=detect_leaks=1 LSAN_OPTIONS=suppressions=$PWD/tools/lsan-fuzz.supp \
    "$bin" "${limit[@]}" "${opts[@]}" -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$crashes/" "$corpus" "$tmp/seeds-$name" >"$tmp/$name.log" 2>&1
  rc=$?
  end=$(date +%s)
  execs=$(grep -m1 'stat::number_of_executed_units' "$tmp/$name.log" | awk '{print $2}')
  # Fork mode prints running totals instead: "#EXECS: cov: … ft: … corp: …".
  [ -z "$execs" ] && execs=$(grep -oE '^#[0-9]+:' "$tmp/$name.log" | tail -1 | tr -d '#:')
  if [ -n "$inproc" ] && [ $rc -eq 0 ]; then
    found=$(ls "$crashes" | wc -l)
    if [ "$found" -gt 0 ]; then
      if [ -x .build/debug/lstmtool ]; then
        for f in "$crashes"/*; do
          out=$(LSTMTOOL_HDF5_TIMEOUT=2 SWIFT_BACKTRACE=enable=no timeout 60 .build/debug/lstmtool inspect "$f" 2>&1 >/dev/null); r=$?
          if [ $r -ne 1 ] || [ "$(printf '%s\n' "$out" | wc -l)" -ne 1 ]; then
            echo "== keras: $f is not refused in one line by the isolated tool (exit $r): $out"; rc=1
          fi
        done
        echo "keras: $found inputs on which libhdf5 hangs or crashes in process; each is refused in one line by lstmtool, which reads HDF5 in a limited worker"
      else
        echo "keras: $found inputs on which libhdf5 hangs or crashes in process (build .build/debug/lstmtool to check them against the isolated reader)"
      fi
    fi
  fi
  cov=$(grep -E '^#[0-9]+.*cov: ' "$tmp/$name.log" | tail -1 | sed -nE 's/.*cov: ([0-9]+) ft: ([0-9]+).*/\1 \2/p')
  files=$(ls "$corpus" | wc -l)
  if [ $rc -ne 0 ]; then
    status=1
    echo "== $name: FAILED (exit $rc); log tail:"; grep -E 'ERROR|SUMMARY|Test unit written|==[0-9]+==' "$tmp/$name.log" | head -20
  fi
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "${execs:-0}" "$((end - start))" "$files" "${cov:-? ?}" "$(date -u +%FT%TZ)" | tee -a .fuzz/stats.tsv |
    awk -F'\t' '{printf "fuzz %-12s %10s executions in %5s s, corpus %5s files, cov/ft %s\n", $1, $2, $3, $4, $5}'
  rm -rf /dev/shm/lstmfuzz-*
done < <(LSTMFUZZ_LIST=1 SWIFT_BACKTRACE=enable=no ASAN_OPTIONS=detect_leaks=0 "$bin")
exit $status
