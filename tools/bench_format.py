#!/usr/bin/env python3
"""Format benchmark: inspect time against file size, full-load speed against plain zlib, and
the size/speed of every encoding on real weights. Prints Markdown for docs/PERFORMANCE.md.

    python3 tools/bench_format.py [--bin .build/release] [--large-mib 1024] [--repeats 5]

Needs a release build (`swift build -c release`) and numpy. Writes temporary files (about
--large-mib MiB) under $TMPDIR and removes them.
"""
import argparse, glob, json, os, platform, shutil, subprocess, sys, tempfile, time, zlib


def run_json(argv):
    out = subprocess.run(argv, check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def wall(argv, repeats):
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - t0)
    times.sort()
    return times[len(times) // 2]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin", default=".build/release")
    ap.add_argument("--large-mib", type=int, default=1024)
    ap.add_argument("--repeats", type=int, default=5)
    o = ap.parse_args()
    tool, bench = os.path.join(o.bin, "lstmtool"), os.path.join(o.bin, "lstmbench")
    for b in (tool, bench):
        if not os.access(b, os.X_OK):
            sys.exit(f"{b} not found: run `swift build -c release` first")
    tmp = tempfile.mkdtemp(prefix="lstm-format-bench-")
    try:
        print(f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, {cpu_model()}; zlib {zlib.ZLIB_RUNTIME_VERSION}; "
              f"median of {o.repeats} runs.\n")

        # 1. inspect does not read blobs: 1 MiB vs large file.
        print("### inspect time against file size\n")
        print("| file | size | `lstmtool inspect` (process, wall) | `inspect --json` (process, wall) | open + validate header (in process) |")
        print("|---|---|---|---|---|")
        for mib in (1, o.large_mib):
            path = os.path.join(tmp, f"large{mib}.lstm")
            run_json([bench, "--make-large", path, "--mib", str(mib)])
            size = os.path.getsize(path)
            subprocess.run(["sync"])
            t_text = wall([tool, "inspect", path], o.repeats)
            t_json = wall([tool, "inspect", path, "--json"], o.repeats)
            t_open = run_json([bench, "--open", path, "--repeats", str(o.repeats)])["open_median_s"]
            print(f"| {mib} MiB model | {size / 2**20:.1f} MiB | {t_text * 1e3:.1f} ms | {t_json * 1e3:.1f} ms | {t_open * 1e6:.0f} µs |")
            if mib != 1:
                large = path
            else:
                os.remove(path)

        # 2. Full load (read + inflate + CRC) vs plain zlib inflate of the same stored bytes.
        print("\n### Full load against plain zlib inflate (64 MiB of float32 weights)\n")
        print("| encoding | file / raw | lstmtool load (read + inflate + unshuffle + CRC) | zlib.decompress of the same streams (C zlib via Python) |")
        print("|---|---|---|---|")
        mid = os.path.join(tmp, "mid.lstm")
        run_json([bench, "--make-large", mid, "--mib", "64"])
        # Trained-like values (the random bit patterns of --make-large are incompressible): N(0, 0.1).
        import numpy as np
        rng = np.random.default_rng(0)
        info = run_json([tool, "inspect", mid, "--json"])
        H = info["layers"][0]["hidden_size"]
        doc = {"format": "lstmtool-json", "format_version": "1.0", "metadata": {"name": "normal-64MiB"}, "layers": [{
            "cell": "lstm", "input_size": H, "hidden_size": H, "bias": False, "tensors": {"forward": {
                k: {"dtype": "float32", "shape": [4 * H, H], "bits_hex": rng.normal(0, 0.1, (4 * H, H)).astype("<f4").tobytes().hex()}
                for k in ("W_x", "W_h")}}}]}
        normal_json = os.path.join(tmp, "normal.json")
        with open(normal_json, "w") as f:
            json.dump(doc, f)
        for enc in ("raw", "zlib", "shuffle_zlib"):
            path = os.path.join(tmp, f"normal-{enc}.lstm")
            subprocess.run([tool, "convert", normal_json, path, "--encoding", enc], check=True)
            r = run_json([bench, "--load", path, "--repeats", str(o.repeats)])
            rep = run_json([tool, "inspect", path, "--json"])
            blobs = []
            with open(path, "rb") as f:
                data = f.read()
            for layer in rep["layers"]:
                for t in layer["tensors"]:
                    blobs.append(data[t["file_offset"]:t["file_offset"] + t["stored_bytes"]])
            if enc == "raw":
                base = "n/a (no inflate)"
            else:
                times = []
                for _ in range(o.repeats):
                    t0 = time.perf_counter()
                    for b in blobs:
                        zlib.decompress(b)
                    times.append(time.perf_counter() - t0)
                times.sort()
                base = f"{r['raw_bytes'] / times[len(times) // 2] / 1e6:.0f} MB/s"
            print(f"| {enc} | {r['stored_bytes'] / r['raw_bytes']:.3f} | {r['raw_mb_per_s']:.0f} MB/s | {base} |")

        # 3. Encodings on real weights.
        print("\n### Encodings on real weights\n")
        models = sorted(glob.glob("fixtures/pytorch/*/model.json")) + sorted(glob.glob("fixtures/golden/*/model.json"))
        print(f"{len(models)} models from fixtures/pytorch (PyTorch-initialised, scaled ×1.7) and fixtures/golden; "
              "stored blob bytes over raw bytes summed over all of them (headers excluded: these models are a few KiB); "
              "speeds on the 64 MiB N(0, 0.1) model above.\n")
        trained = "fixtures/real/silero_vad_lstm/model.onnx"
        print(f"Trained: the LSTM of Silero VAD ({trained}: W_x, W_h 512×128 and biases, 514 KiB of float32).\n")
        print("| encoding | blobs / raw (trained) | blobs / raw (fixtures) | file / raw (N(0,0.1)) | encode MB/s | decode MB/s |")
        print("|---|---|---|---|---|---|")
        variants = [("raw", "raw", "6", "standard"), ("zlib level 1", "zlib", "1", "standard"), ("zlib level 6", "zlib", "6", "standard"),
                    ("zlib level 9", "zlib", "9", "standard"), ("shuffle + zlib level 1", "shuffle_zlib", "1", "standard"),
                    ("shuffle + zlib level 6", "shuffle_zlib", "6", "standard"), ("shuffle + zlib level 9", "shuffle_zlib", "9", "standard"),
                    ("shuffle + Huffman-only deflate", "shuffle_zlib", "6", "huffman")]
        for name, enc, level, strat in variants:
            fsum = rsum = 0
            for m in models:
                r = run_json([bench, "--encode", m, "--encoding", enc, "--level", level, "--strategy", strat, "--repeats", "1"])
                fsum += r["blob_bytes"]
                rsum += r["raw_bytes"]
            big = run_json([bench, "--encode", normal_json, "--encoding", enc, "--level", level, "--strategy", strat, "--repeats", "1"])
            tr = run_json([bench, "--encode", trained, "--encoding", enc, "--level", level, "--strategy", strat, "--repeats", "1"])
            print(f"| {name} | {tr['blob_bytes'] / tr['raw_bytes']:.3f} | {fsum / rsum:.3f} | {big['file_bytes'] / big['raw_bytes']:.3f} | "
                  f"{big['encode_mb_per_s']:.0f} | {big['decode_mb_per_s']:.0f} |")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def cpu_model():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


if __name__ == "__main__":
    main()
