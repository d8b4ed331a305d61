#!/usr/bin/env python3
"""Where each row of a bench_eval.py grid stands against the machine's physical limits.

    python3 tools/grid_limits.py grid.json --peak-gflops 236 --l2-gbs 157 --l3-gbs 99 [--l2-kib 1024]

grid.json is what `tools/bench_eval.py --json` writes. The limits are one core's, measured on the
same machine (docs/PERFORMANCE.md): the f32 FMA peak from `tools/bench_c/peak_flops.c`, read
bandwidths from `tools/bench_c/read_bandwidth.c` (L2: a buffer half the L2; L3: 8–16 MiB).

For each row and thread count n:
* B ≥ 8: lstmtool's GFLOP/s over the whole run (the grid's GFLOP over its time) against n × the
  FMA peak. The run includes the gate steps, which are not multiply-adds, so 100 % is out of reach.
* B = 1: the rate at which the run streams W_h (T steps × G·H·H·4 bytes over the run's time)
  against the bandwidth of the cache that holds W_h (L2 when it fits in --l2-kib, else L3; with
  two threads each core streams half, from its own L2 when the half fits). A lower bound: the
  time also holds the input projections and the gate steps.
Prints a Markdown table, then the range of shares for each kind of row.
"""
import argparse, json

T = 100


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("grid")
    ap.add_argument("--peak-gflops", type=float, required=True, help="one core's f32 FMA peak")
    ap.add_argument("--l2-gbs", type=float, required=True, help="one core's read bandwidth from L2")
    ap.add_argument("--l3-gbs", type=float, required=True, help="one core's read bandwidth from L3")
    ap.add_argument("--l2-kib", type=float, default=1024, help="L2 per core (KiB)")
    ap.add_argument("--threads", default="1,2")
    opts = ap.parse_args()
    rows = [r for r in json.load(open(opts.grid)) if not r.get("skipped")]
    threads = [int(v) for v in opts.threads.split(",")]
    head = ["cell", "H", "B"]
    for n in threads:
        head += [f"{n}T achieved", f"{n}T limit", f"{n}T share"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    shares = {}
    for r in rows:
        G = 4 if r["cell"] == "LSTM" else 3
        H, B = r["H"], r["B"]
        cells = [r["cell"], str(H), str(B)]
        for n in threads:
            ms = r.get(f"ours{n}_auto")
            if not ms:
                cells += ["—"] * 3
                continue
            if B == 1:
                wh = G * H * H * 4
                per_core = wh / n
                where = "L2" if per_core <= opts.l2_kib * 1024 else "L3"
                limit = n * (opts.l2_gbs if where == "L2" else opts.l3_gbs)
                got = T * wh / (ms * 1e-3) / 1e9
                cells += [f"{got:.0f} GB/s", f"{limit:.0f} GB/s ({where})", f"{got / limit:.0%}"]
                shares.setdefault(f"B = 1, {n} thread(s), W_h from {where}", []).append(got / limit)
            else:
                got = r["gflop"] / (ms * 1e-3)
                limit = n * opts.peak_gflops
                cells += [f"{got:.0f} GFLOP/s", f"{limit:.0f} GFLOP/s", f"{got / limit:.0%}"]
                shares.setdefault(f"B ≥ 8, {n} thread(s)", []).append(got / limit)
        print("| " + " | ".join(cells) + " |")
    print()
    for k, v in shares.items():
        print(f"{k}: {min(v):.0%}–{max(v):.0%} of the limit ({len(v)} rows)")


if __name__ == "__main__":
    main()
