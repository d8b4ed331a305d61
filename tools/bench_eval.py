#!/usr/bin/env python3
"""Evaluator benchmark: lstmtool's f32 path next to onnxruntime (CPU) in the same run.

    python3 tools/bench_eval.py [--bin .build/release] [--repeats 5] [--quick] [--kernels auto,portable,avx2,avx512]

For LSTM and GRU (reset-after), H in {256, 1024}, I = H, T = 100, B in {1, 32}: builds one
random model, writes it as lstmtool JSON (bits_hex tensors) and as an ONNX LSTM/GRU node with
the same weights, times lstmtool (lstmbench: evaluator only, no file I/O; LSTMTOOL_THREADS=1
and all cores) and onnxruntime with one thread and with all threads (session.run only),
checks the two agree, and prints a Markdown table. --kernels runs lstmtool once per kernel path
(LSTMTOOL_KERNEL; "auto" leaves it unset, and the table names the path the CPU flags select);
onnxruntime is timed once per case. Needs numpy, onnx, onnxruntime and a release build
(`swift build -c release`).
"""
import argparse, json, os, platform, subprocess, sys, tempfile, time

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper


def canonical_to_onnx_lstm(a):
    # canonical i,f,g,o -> ONNX i,o,f,c (blocks along axis 0)
    i, f, g, o = np.split(a, 4, axis=0)
    return np.concatenate([i, o, f, g], axis=0)


def make_model(cell, H, I, rng):
    G = 4 if cell == "lstm" else 3
    s = 1.0 / np.sqrt(H)
    t = {
        "W_x": rng.uniform(-s, s, (G * H, I)).astype(np.float32),
        "W_h": rng.uniform(-s, s, (G * H, H)).astype(np.float32),
        "b_x": rng.uniform(-s, s, (G * H,)).astype(np.float32),
        "b_h": rng.uniform(-s, s, (G * H,)).astype(np.float32),
    }
    return t


def write_json(path, cell, H, I, t):
    def tensor(a):
        return {"dtype": "float32", "shape": list(a.shape), "bits_hex": a.astype("<f4").tobytes().hex()}
    layer = {"cell": cell, "input_size": I, "hidden_size": H, "direction": "forward", "bias": True,
             "tensors": {"forward": {k: tensor(v) for k, v in t.items()}}}
    if cell == "gru":
        layer["reset_after"] = True
    doc = {"format": "lstmtool-json", "format_version": "1.0", "metadata": {"name": f"bench-{cell}-{H}"}, "layers": [layer]}
    with open(path, "w") as f:
        json.dump(doc, f)


def write_onnx(path, cell, H, I, t):
    if cell == "lstm":
        W = canonical_to_onnx_lstm(t["W_x"])[None]
        R = canonical_to_onnx_lstm(t["W_h"])[None]
        B = np.concatenate([canonical_to_onnx_lstm(t["b_x"]), canonical_to_onnx_lstm(t["b_h"])])[None]
        attrs = {}
    else:  # GRU z,r,n is ONNX's z,r,h
        W, R = t["W_x"][None], t["W_h"][None]
        B = np.concatenate([t["b_x"], t["b_h"]])[None]
        attrs = {"linear_before_reset": 1}
    op = "LSTM" if cell == "lstm" else "GRU"
    node = helper.make_node(op, ["x", "W", "R", "B"], ["Y", "Y_h"], hidden_size=H, **attrs)
    graph = helper.make_graph(
        [node], "bench",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["T", "B", I])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, None), helper.make_tensor_value_info("Y_h", TensorProto.FLOAT, None)],
        [onnx.numpy_helper.from_array(W.astype(np.float32), "W"), onnx.numpy_helper.from_array(R.astype(np.float32), "R"),
         onnx.numpy_helper.from_array(B.astype(np.float32), "B")])
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    onnx.save(m, path)


def time_ort(path, x, threads, repeats):
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    y = sess.run(None, {"x": x})[0]
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        sess.run(None, {"x": x})
        times.append((time.perf_counter() - t0) * 1e3)
    return float(np.median(times)), y


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin", default=".build/release")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="H = 256 only")
    ap.add_argument("--kernels", default="auto",
                    help="comma-separated kernel paths for lstmtool: auto, portable, avx2, avx512, neon (default auto)")
    opts = ap.parse_args()
    bench = os.path.join(opts.bin, "lstmbench")
    tool = os.path.join(opts.bin, "lstmtool")
    for b in (bench, tool):
        if not os.access(b, os.X_OK):
            sys.exit(f"{b} not found: run `swift build -c release` first")
    kernels = [k.strip() for k in opts.kernels.split(",") if k.strip()]
    for k in kernels:
        if k != "auto" and k not in supported_paths():
            # lstmtool would quietly fall back to the best path: refuse rather than mislabel.
            sys.exit(f"kernel path {k!r} is not one this CPU supports ({', '.join(supported_paths())})")
    rng = np.random.default_rng(0)
    T = 100
    rows = []
    tmp = tempfile.mkdtemp(prefix="lstmbench-")
    cpus = os.cpu_count()
    for cell in ("lstm", "gru"):
        for H in ((256,) if opts.quick else (256, 1024)):
            I = H
            t = make_model(cell, H, I, rng)
            mj = os.path.join(tmp, f"{cell}{H}.json")
            ml = os.path.join(tmp, f"{cell}{H}.lstm")
            mo = os.path.join(tmp, f"{cell}{H}.onnx")
            write_json(mj, cell, H, I, t)
            subprocess.run([tool, "convert", mj, ml, "--encoding", "raw"], check=True)
            write_onnx(mo, cell, H, I, t)
            for B in (1, 32):
                x = rng.standard_normal((T, B, I)).astype(np.float32)
                xp = os.path.join(tmp, "x.npy")
                np.save(xp, x)
                def ours_ms(threads, kernel):
                    env = dict(os.environ, LSTMTOOL_THREADS=str(threads))
                    env.pop("LSTMTOOL_KERNEL", None)
                    if kernel != "auto":
                        env["LSTMTOOL_KERNEL"] = kernel
                    out = subprocess.run([bench, ml, xp, "--repeats", str(opts.repeats)], check=True, capture_output=True,
                                         text=True, env=env)
                    return json.loads(out.stdout)["median_ms"]
                ort1, y_ort = time_ort(mo, x, 1, opts.repeats)
                ortn, _ = time_ort(mo, x, 0, opts.repeats)
                flops = 2.0 * T * B * (4 if cell == "lstm" else 3) * H * (I + H)
                for kernel in kernels:
                    ours = ours_ms(1, kernel)
                    oursn = ours_ms(cpus, kernel)
                    yp = os.path.join(tmp, "y.npy")
                    env = dict(os.environ)
                    env.pop("LSTMTOOL_KERNEL", None)
                    if kernel != "auto":
                        env["LSTMTOOL_KERNEL"] = kernel
                    subprocess.run([tool, "run", ml, "--input", xp, "--output", yp], check=True, env=env)
                    y = np.load(yp)
                    err = float(np.abs(y - y_ort[:, 0]).max())
                    path = f"{auto_path()} (auto)" if kernel == "auto" else kernel
                    rows.append((cell.upper(), H, B, path, ours, ort1, ort1 / ours, oursn, ortn, ortn / oursn, flops / ours / 1e6, err))
                    print(f"{cell} H={H} B={B} [{path}]: lstmtool {ours:.1f} / {oursn:.1f} ms, ort {ort1:.1f} / {ortn:.1f} ms "
                          f"(1 / {cpus} threads), max|dy| {err:.2g}", file=sys.stderr, flush=True)
    print(f"Machine: {platform.processor() or platform.machine()}, {cpus} CPUs, {cpu_model()}; onnxruntime {ort.__version__}; "
          f"T = {T}, I = H, median of {opts.repeats} runs.\n")
    print(f"| cell | H | B | kernel path | lstmtool 1 thread (ms) | onnxruntime 1 thread (ms) | lstmtool speed vs ORT, 1 thread | "
          f"lstmtool {cpus} threads (ms) | onnxruntime {cpus} threads (ms) | lstmtool speed vs ORT, {cpus} threads | lstmtool GFLOP/s (1 thread) | max abs diff |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r[0]} | {r[1]} | {r[2]} | {r[3]} | {r[4]:.1f} | {r[5]:.1f} | {r[6]:.2f}× | {r[7]:.1f} | {r[8]:.1f} | {r[9]:.2f}× | {r[10]:.1f} | {r[11]:.1e} |")


def supported_paths():
    """The kernel paths CLSTMKernels can run here, best last (the same test on the CPU flags)."""
    if platform.machine() in ("aarch64", "arm64"):
        return ["portable", "neon"]
    flags = set()
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                break
    except OSError:
        pass
    paths = ["portable"]
    if {"avx2", "fma"} <= flags:
        paths.append("avx2")
    if {"avx512f", "avx512vl", "avx512bw", "avx512dq", "fma"} <= flags:
        paths.append("avx512")
    return paths


def auto_path():
    """The path CLSTMKernels picks with LSTMTOOL_KERNEL unset."""
    return supported_paths()[-1]


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
