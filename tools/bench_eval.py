#!/usr/bin/env python3
"""Evaluator benchmark: lstmtool's f32 path next to onnxruntime, PyTorch and oneDNN (CPU), in one run.

    python3 tools/bench_eval.py [--bin .build/release] [--hidden 32,128,256,512,1024] [--batch 1,8,32,128,4096]
        [--cells lstm,gru] [--threads 1,2] [--kernels auto,portable] [--repeats 5] [--budget-s 4]
        [--rounds 3] [--long-rounds 2] [--statistic median|min] [--no-cli] [--no-torch]
        [--torch-max-gflop X] [--no-onednn] [--skip-over-gflop X] [--json out.json] [--quick]
    python3 tools/bench_eval.py --extras      # the single cases of docs/PERFORMANCE.md (see below)
    python3 tools/bench_eval.py --f64 [--hidden …] [--batch …]   # f64 against f32 on the grid's shapes

Grid: for each cell (LSTM; GRU in the reset-after form, ONNX linear_before_reset = 1), H, B: one
layer, forward, I = H, T = 100, weights U(±1/√H), inputs N(0, 1). One random model is written as
lstmtool JSON → .lstm (raw) and as an ONNX LSTM/GRU node with the same weights. Timed, each
with 1 and 2 threads (--threads):

* lstmtool in process: `lstmbench` (RecurrentModel.run on a Tensor<Float>, no file I/O),
  LSTMTOOL_THREADS=n; once per kernel path in --kernels ("auto" leaves LSTMTOOL_KERNEL unset);
* lstmtool through the CLI (1 thread, auto path): wall time of `lstmtool run` at T = 100
  minus the same at T = 1 (process start, model load and .npy I/O of one step cancel out);
* onnxruntime: session.run, intra_op_num_threads = n;
* PyTorch (if importable): torch.nn.LSTM / GRU under torch.inference_mode(), torch.set_num_threads(n);
* oneDNN (if tools/bench_c/onednn_rnn.c compiles against libdnnl-dev): its LSTM / lbr_gru primitive,
  OMP_NUM_THREADS = n.

Each time is the median (--statistic min: the fastest) of up to --repeats runs after one
warm-up, with fewer repeats for long cases so that one measurement takes about --budget-s
seconds (a case estimated to take over 60 s per run is run once, without warm-up).

Every row is measured in rounds: in each round onnxruntime and lstmtool run back to back at
each thread count, onnxruntime first in odd rounds and lstmtool first in even ones; rows whose
measurement takes under a second get --rounds rounds (default 3), longer ones --long-rounds
(default 2). A row's ratio is the median of its rounds' ratios (two times taken seconds apart:
the host's speed drifts within minutes, and a slowed spell that spoils one round does not
decide the row); its times are each runtime's median over the rounds. PyTorch, oneDNN (the
anchors) and the forced kernel paths are measured once, after the rounds. Cases above
--skip-over-gflop GFLOP are skipped; PyTorch sits out cases above --torch-max-gflop (default
2000: LSTM and GRU at H = 1024, B = 4096, where its process outgrows a 24 GiB machine). Those
two rows alone take about 20 GB (onnxruntime's buffers): on a 24 GiB machine run them in their
own invocation (--hidden 1024 --batch 4096) and the rest with --skip-over-gflop 2000.

The CLI column is the fastest of 3–5 runs at T = 100 minus the fastest at T = 1 (one of each
for cases over a minute); where that is not above the spread of the T = 1 runs (cli1_noise in
the JSON), the table says it is within start-up noise instead of printing it. The max abs diff
compares the CLI's output with onnxruntime's.
The ratio columns are (other runtime's time) / (lstmtool's time): above 1 means lstmtool is faster.

--extras runs the single cases: the OpenBLAS sgemm anchor for input projections against
`lstmbench --gemm`; B = 1 weight-streaming rates; the CLI case I = H = 512, B = 32, T = 200
against onnxruntime; f64 against f32; streaming latency on Silero VAD's LSTM; H = 20, T = 100,
B = 8192; a long sequence (LSTM H = 128, B = 8, T = 1000), one and two threads.

Needs numpy, onnx, onnxruntime and a release build (`swift build -c release`); PyTorch and
oneDNN (`apt-get install libdnnl-dev libopenblas-dev`) are optional and only ever used here.
"""
import argparse, json, os, platform, shutil, statistics, subprocess, sys, tempfile, time

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper

try:
    import torch
except Exception:  # not installed, or a wheel that cannot load here
    torch = None

HERE = os.path.dirname(os.path.abspath(__file__))


def canonical_to_onnx_lstm(a):
    # canonical i,f,g,o -> ONNX i,o,f,c (blocks along axis 0)
    i, f, g, o = np.split(a, 4, axis=0)
    return np.concatenate([i, o, f, g], axis=0)


def make_model(cell, H, I, rng):
    G = 4 if cell == "lstm" else 3
    s = 1.0 / np.sqrt(H)
    return {
        "W_x": rng.uniform(-s, s, (G * H, I)).astype(np.float32),
        "W_h": rng.uniform(-s, s, (G * H, H)).astype(np.float32),
        "b_x": rng.uniform(-s, s, (G * H,)).astype(np.float32),
        "b_h": rng.uniform(-s, s, (G * H,)).astype(np.float32),
    }


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


def plan(est_ms, opts):
    """(warm-up runs, timed runs) for a measurement whose one run is estimated at est_ms."""
    if est_ms > 60_000:
        return 0, 1
    return 1, max(1, min(opts.repeats, int(opts.budget_s * 1e3 / max(est_ms, 1e-3))))


# What one measurement reports of its timed runs: "median" (default) or "min" (--statistic).
STATISTIC = "median"


def timed(fn, warm, reps):
    for _ in range(warm):
        fn()
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        ts.append((time.perf_counter() - t0) * 1e3)
    return min(ts) if STATISTIC == "min" else statistics.median(ts)


def ort_session(path, threads):
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])


def time_ort(path, x, threads, warm, reps, keep=True):
    """(ms, Y); Y is None unless keep (at H = 1024, B = 4096 each Y is 1.6 GB)."""
    sess = ort_session(path, threads)
    y = None
    def run():
        nonlocal y
        y = None # the previous run's Y is freed before the next is made
        y = sess.run(None, {"x": x})[0]
    ms = timed(run, warm, reps)
    del sess
    return ms, (y if keep else None)


def time_torch(cell, t, x, threads, warm, reps):
    torch.set_num_threads(threads)
    H = t["W_h"].shape[1]
    I = t["W_x"].shape[1]
    mod = (torch.nn.LSTM if cell == "lstm" else torch.nn.GRU)(I, H)
    with torch.no_grad():  # PyTorch's gate order is i,f,g,o (LSTM) and r,z,n (GRU)
        if cell == "lstm":
            perm = lambda a: a
        else:
            perm = lambda a: np.concatenate([np.split(a, 3, axis=0)[k] for k in (1, 0, 2)], axis=0)
        mod.weight_ih_l0.copy_(torch.from_numpy(perm(t["W_x"])))
        mod.weight_hh_l0.copy_(torch.from_numpy(perm(t["W_h"])))
        mod.bias_ih_l0.copy_(torch.from_numpy(perm(t["b_x"])))
        mod.bias_hh_l0.copy_(torch.from_numpy(perm(t["b_h"])))
    xt = torch.from_numpy(x)
    out = None
    def run():
        nonlocal out
        with torch.inference_mode():
            out = mod(xt)[0]
    ms = timed(run, warm, reps)
    return ms, out.numpy()


def build_c(name, lib, tmp):
    exe = os.path.join(tmp, name)
    src = os.path.join(HERE, "bench_c", name + ".c")
    r = subprocess.run(["cc", "-O2", src, lib, "-o", exe], capture_output=True, text=True)
    return exe if r.returncode == 0 else None


def ours(bench, model, xp, threads, kernel, warm, reps):
    env = dict(os.environ, LSTMTOOL_THREADS=str(threads))
    env.pop("LSTMTOOL_KERNEL", None)
    if kernel != "auto":
        env["LSTMTOOL_KERNEL"] = kernel
    out = subprocess.run([bench, model, xp, "--repeats", str(reps), "--warmup", str(warm)], check=True,
                         capture_output=True, text=True, env=env)
    return json.loads(out.stdout)["min_ms" if STATISTIC == "min" else "median_ms"]


def cli_ms(tool, model, xp, x1p, yp, threads, reps):
    """Wall time of `lstmtool run` on xp minus on x1p (one step): the fastest of reps runs of
    each (process start-up only ever adds time, so the minimum is its floor), and the spread
    (max − min) of the one-step runs, below which a difference is start-up noise."""
    env = dict(os.environ, LSTMTOOL_THREADS=str(threads))
    env.pop("LSTMTOOL_KERNEL", None)
    def wall(inp):
        t0 = time.perf_counter()
        subprocess.run([tool, "run", model, "--input", inp, "--output", yp], check=True, env=env)
        return (time.perf_counter() - t0) * 1e3
    wall(x1p)
    full, one = [], []
    for _ in range(reps):
        one.append(wall(x1p))
        full.append(wall(xp)) # last: yp holds the whole run's output afterwards
    return min(full) - min(one), max(one) - min(one)


def cpu_model():
    """The CPU's name, with its family and model numbers (a virtual machine may name only the
    vendor, "AMD EPYC", for Zen 4 and Zen 5 alike) and its cache sizes."""
    fields = {}
    try:
        for line in open("/proc/cpuinfo"):
            k, _, v = line.partition(":")
            fields.setdefault(k.strip(), v.strip())
    except OSError:
        return platform.processor() or platform.machine()
    name = fields.get("model name", platform.machine())
    if "cpu family" in fields and "model" in fields:
        name += f" (family {fields['cpu family']}, model {fields['model']})"
    caches = []
    for level, kind in (("L2", "2"), ("L3", "3")):
        try:
            with open(f"/sys/devices/system/cpu/cpu0/cache/index{kind}/size") as f:
                caches.append(f"{level} {f.read().strip()}")
        except OSError:
            pass
    return name + (", " + ", ".join(caches) if caches else "")


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
    return supported_paths()[-1]


def fmt(v, spec=".1f"):
    return "—" if v is None else format(v, spec)


def ratio(other, mine):
    return "—" if other is None or mine is None else f"{other / mine:.2f}×"


def grid(opts, bench, tool, tmp):
    rng = np.random.default_rng(0)
    T = 100
    onednn = None if opts.no_onednn else build_c("onednn_rnn", "-ldnnl", tmp)
    use_torch = torch is not None and not opts.no_torch
    threads = [int(v) for v in opts.threads.split(",")]
    kernels = [k.strip() for k in opts.kernels.split(",") if k.strip()]
    for k in kernels:
        if k != "auto" and k not in supported_paths():
            sys.exit(f"kernel path {k!r} is not one this CPU supports ({', '.join(supported_paths())})")
    rows = []
    for cell in opts.cells.split(","):
        for H in [int(v) for v in opts.hidden.split(",")]:
            I = H
            t = make_model(cell, H, I, rng)
            mj, ml, mo = (os.path.join(tmp, f"{cell}{H}.{e}") for e in ("json", "lstm", "onnx"))
            write_json(mj, cell, H, I, t)
            subprocess.run([tool, "convert", mj, ml, "--encoding", "raw"], check=True, capture_output=True)
            write_onnx(mo, cell, H, I, t)
            for B in [int(v) for v in opts.batch.split(",")]:
                G = 4 if cell == "lstm" else 3
                flops = 2.0 * T * B * G * H * (I + H)
                if flops / 1e9 > opts.skip_over_gflop:
                    print(f"{cell} H={H} B={B}: skipped ({flops / 1e9:.0f} GFLOP > --skip-over-gflop)", file=sys.stderr)
                    rows.append({"cell": cell.upper(), "H": H, "B": B, "skipped": True, "gflop": flops / 1e9})
                    continue
                x = rng.standard_normal((T, B, I)).astype(np.float32)
                xp, x1p, yp = (os.path.join(tmp, n) for n in ("x.npy", "x1.npy", "y.npy"))
                np.save(xp, x)
                np.save(x1p, x[:1])
                # Estimated ms of one run at ~40 GFLOP/s (B = 1 is bound by the weight stream).
                est = flops / 40e6
                warm, reps = plan(est, opts)
                # Every row is measured in rounds; in each round onnxruntime and lstmtool run back
                # to back at each thread count, in turns (onnxruntime first in odd rounds, lstmtool
                # first in even ones), and the row's ratio is the median of the rounds' ratios.
                # This host's speed drifts by up to 20 % within minutes: a ratio of two times taken
                # seconds apart is what a slowed spell disturbs least, and a spell that spoils one
                # round does not decide the row. Rows under a second get --rounds rounds, longer
                # ones --long-rounds (the two orders once each).
                rounds = opts.rounds if est * (warm + reps) < 1000 else opts.long_rounds
                r = {"cell": cell.upper(), "H": H, "B": B, "gflop": flops / 1e9, "repeats": reps, "rounds": rounds}
                y_ort = None
                for rnd in range(rounds):
                    for n in threads:
                        order = ("ort", "ours") if rnd % 2 == 0 else ("ours", "ort")
                        for who in order:
                            if who == "ort":
                                ms, y = time_ort(mo, x, n, warm, reps, keep=y_ort is None)
                                y_ort = y if y_ort is None else y_ort
                                y = None
                                r.setdefault(f"ort{n}_rounds", []).append(ms)
                            else:
                                r.setdefault(f"ours{n}_auto_rounds", []).append(ours(bench, ml, xp, n, "auto", warm, reps))
                        r.setdefault(f"ratio{n}_rounds", []).append(r[f"ort{n}_rounds"][-1] / r[f"ours{n}_auto_rounds"][-1])
                for n in threads:
                    r[f"ort{n}"] = statistics.median(r[f"ort{n}_rounds"])
                    r[f"ours{n}_auto"] = statistics.median(r[f"ours{n}_auto_rounds"])
                    r[f"ratio{n}"] = statistics.median(r[f"ratio{n}_rounds"])
                # The anchors (PyTorch, oneDNN) and the forced kernel paths: once each, after the rounds.
                for n in threads:
                    if use_torch and flops / 1e9 <= opts.torch_max_gflop:
                        ms, y_t = time_torch(cell, t, x, n, warm, reps)
                        r[f"torch{n}"] = ms
                        r["torch_diff"] = float(np.abs(y_t - y_ort[:, 0]).max())
                        y_t = None
                    if onednn:
                        env = dict(os.environ, OMP_NUM_THREADS=str(n))
                        out = subprocess.run([onednn, "lstm" if cell == "lstm" else "lbr_gru", str(T), str(B), str(I), str(H),
                                              str(reps)], capture_output=True, text=True, env=env)
                        if out.returncode == 0:
                            d = json.loads(out.stdout)
                            r[f"onednn{n}"] = d["median_ms"]
                            r["onednn_impl"] = d["impl"]
                for k in kernels:
                    if k != "auto":
                        for n in threads:
                            r[f"ours{n}_{k}"] = ours(bench, ml, xp, n, k, warm, reps)
                if not opts.no_cli:
                    # Cases run once without warm-up (over a minute per run) get one CLI pair.
                    r["cli1"], r["cli1_noise"] = cli_ms(tool, ml, xp, x1p, yp, 1, 1 if warm == 0 else max(3, min(5, reps)))
                else:
                    subprocess.run([tool, "run", ml, "--input", xp, "--output", yp], check=True)
                y = np.load(yp)
                r["diff"] = float(np.abs(y - y_ort[:, 0]).max())
                rows.append(r)
                print(json.dumps(r), file=sys.stderr, flush=True)
                # The largest rows hold gigabytes (X, onnxruntime's Y, ours); give them back
                # before the next row, or the process outgrows a 24 GiB machine.
                del x, y, y_ort
                release_memory()
    return rows, threads, kernels, onednn is not None, use_torch


def release_memory():
    """Frees what Python no longer references and hands glibc's free heap back to the system."""
    import gc, ctypes
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def table(rows, threads, kernels, have_onednn, have_torch):
    out = []
    head = ["cell", "H", "B"]
    for n in threads:
        head += [f"lstmtool {n}T (ms)", f"ORT {n}T (ms)", f"ORT / lstmtool {n}T"]
        if have_torch:
            head += [f"PyTorch {n}T (ms)"]
        if have_onednn:
            head += [f"oneDNN {n}T (ms)"]
    head += ["lstmtool CLI 1T (ms)", "CLI / ORT 1T"]
    for k in kernels:
        if k != "auto":
            head += [f"{k} 1T (ms)", f"{k} 2T (ms)" if 2 in threads else ""]
    head += ["GFLOP/s 1T", "max abs diff"]
    head = [h for h in head if h]
    out.append("| " + " | ".join(head) + " |")
    out.append("|" + "---|" * len(head))
    for r in rows:
        if r.get("skipped"):
            out.append(f"| {r['cell']} | {r['H']} | {r['B']} | " + " | ".join(["not run"] * (len(head) - 3)) + " |")
            continue
        c = [r["cell"], str(r["H"]), str(r["B"])]
        for n in threads:
            mine = r.get(f"ours{n}_auto")
            paired = r.get(f"ratio{n}")
            c += [fmt(mine, ".2f" if mine and mine < 10 else ".1f"), fmt(r.get(f"ort{n}"), ".2f" if r.get(f"ort{n}", 99) < 10 else ".1f"),
                  f"{paired:.2f}×" if paired is not None else ratio(r.get(f"ort{n}"), mine)]
            if have_torch:
                c += [fmt(r.get(f"torch{n}"))]
            if have_onednn:
                c += [fmt(r.get(f"onednn{n}"))]
        cli, noise = r.get("cli1"), r.get("cli1_noise", 0.0)
        if cli is not None and cli <= noise:
            c += [f"within start-up noise (±{noise:.0f})", "—"]
        else:
            c += [fmt(cli), ratio(r.get("ort1"), cli)]
        for k in kernels:
            if k != "auto":
                c += [fmt(r.get(f"ours1_{k}"))] + ([fmt(r.get(f"ours2_{k}"))] if 2 in threads else [])
        mine = r.get("ours1_auto")
        c += [fmt(r["gflop"] / mine * 1e3 if mine else None), f"{r['diff']:.1e}"]
        out.append("| " + " | ".join(c) + " |")
    # The done-when count: rows where lstmtool is at least as fast as onnxruntime, per thread count.
    out.append("")
    for n in threads:
        measured = [r for r in rows if not r.get("skipped") and r.get(f"ort{n}") and r.get(f"ours{n}_auto")]
        behind = [r for r in measured if r.get(f"ratio{n}", r[f"ort{n}"] / r[f"ours{n}_auto"]) < 1]
        out.append(f"{n} thread{'s' if n > 1 else ''}: lstmtool at least as fast as onnxruntime in "
                   f"{len(measured) - len(behind)} of {len(measured)} rows" +
                   ("; behind: " + ", ".join(f"{r['cell']} H = {r['H']}, B = {r['B']} "
                                             f"(rounds {' / '.join(f'{v:.2f}' for v in r.get(f'ratio{n}_rounds', []))})"
                                             for r in behind) if behind else ""))
    return "\n".join(out)


def extras(opts, bench, tool, tmp):
    """The single cases of docs/PERFORMANCE.md; prints one JSON line each."""
    rng = np.random.default_rng(1)
    env1 = dict(os.environ, LSTMTOOL_THREADS="1")
    env1.pop("LSTMTOOL_KERNEL", None)
    blas = build_c("openblas_sgemm", "-lopenblas", tmp)
    # 1. Input projections: OpenBLAS sgemm against lstmtool's kernel, T·B × H × G·H.
    for (m, k, n) in ((3200, 256, 1024), (3200, 1024, 4096), (100, 512, 2048), (409600, 32, 128)):
        ourg = json.loads(subprocess.run([bench, "--gemm", f"{m}x{k}x{n}"], check=True, capture_output=True, text=True,
                                         env=env1).stdout)["gemm_gflops"]
        d = {"case": "sgemm", "m": m, "k": k, "n": n, "lstmtool_gflops": ourg}
        if blas:
            for th in (1, 2):
                b = json.loads(subprocess.run([blas, str(m), str(k), str(n), str(th), "5"], check=True, capture_output=True,
                                              text=True).stdout)
                d[f"openblas{th}_gflops"] = b["gflops"]
            d["lstmtool2_gflops"] = json.loads(subprocess.run([bench, "--gemm", f"{m}x{k}x{n}"], check=True, capture_output=True,
                                                              text=True, env=dict(env1, LSTMTOOL_THREADS="2")).stdout)["gemm_gflops"]
        print(json.dumps(d), flush=True)
    # 2. B = 1 weight streaming: the recurrent product alone (m = 1) per H.
    for H in (128, 256, 512, 1024):
        g = json.loads(subprocess.run([bench, "--gemm", f"1x{H}x{4 * H}"], check=True, capture_output=True, text=True,
                                      env=env1).stdout)["gemm_gflops"]
        print(json.dumps({"case": "m1_stream", "H": H, "weights_kib": 16 * H * H // 1024, "gflops": g, "gb_per_s": 2 * g}),
              flush=True)
    # 3. The CLI case: I = H = 512, B = 32, T = 200 minus T = 1, against onnxruntime one thread.
    H, B = 512, 32
    t = make_model("lstm", H, H, rng)
    mj, ml, mo = (os.path.join(tmp, f"cli.{e}") for e in ("json", "lstm", "onnx"))
    write_json(mj, "lstm", H, H, t)
    subprocess.run([tool, "convert", mj, ml, "--encoding", "raw"], check=True, capture_output=True)
    write_onnx(mo, "lstm", H, H, t)
    x = rng.standard_normal((200, B, H)).astype(np.float32)
    xp, x1p, yp = (os.path.join(tmp, n) for n in ("cx.npy", "cx1.npy", "cy.npy"))
    np.save(xp, x)
    np.save(x1p, x[:1])
    # Rounds: the CLI pair (fastest of 5 at T = 200 minus fastest of 5 at T = 1), then
    # onnxruntime, then lstmtool in process; the verdict is the median of the rounds' ratios.
    ratios = []
    for rep in range(3):
        cli, noise = cli_ms(tool, ml, xp, x1p, yp, 1, 5)
        o, _ = time_ort(mo, x, 1, 1, 5, keep=False)
        inproc = ours(bench, ml, xp, 1, "auto", 1, 5)
        ratios.append(cli / o)
        print(json.dumps({"case": "cli_512_32_200", "round": rep, "cli_ms": cli, "cli_noise_ms": noise, "inprocess_ms": inproc,
                          "ort1_ms": o, "cli_over_ort": cli / o}), flush=True)
    print(json.dumps({"case": "cli_512_32_200", "median_cli_over_ort": statistics.median(ratios)}), flush=True)
    # Peak RSS of that run (/usr/bin/time -v) against its data.
    if os.path.exists("/usr/bin/time"):
        r = subprocess.run(["/usr/bin/time", "-v", tool, "run", ml, "--input", xp, "--output", yp], capture_output=True,
                           text=True, env=env1)
        rss = [int(l.split(":")[1]) for l in r.stderr.splitlines() if "Maximum resident set size" in l][0]
        r1 = subprocess.run(["/usr/bin/time", "-v", tool, "run", ml, "--input", x1p, "--output", yp], capture_output=True,
                            text=True, env=env1)
        rss1 = [int(l.split(":")[1]) for l in r1.stderr.splitlines() if "Maximum resident set size" in l][0]
        data = {"input": x.nbytes, "output": 200 * B * H * 4, "weights": (8 * H * H + 8 * H) * 4, "projections": 200 * B * 4 * H * 4}
        print(json.dumps({"case": "rss_512_32_200", "max_rss_kib": rss, "max_rss_T1_kib": rss1,
                          "data_kib": {k: v // 1024 for k, v in data.items()}, "data_total_kib": sum(data.values()) // 1024}),
              flush=True)
    # 4. f64 against f32 (one thread).
    for cell, H, B in (("lstm", 128, 1), ("lstm", 256, 32), ("gru", 256, 32), ("lstm", 1024, 1), ("lstm", 512, 128)):
        t = make_model(cell, H, H, rng)
        mj, ml = (os.path.join(tmp, f"p.{e}") for e in ("json", "lstm"))
        write_json(mj, cell, H, H, t)
        subprocess.run([tool, "convert", mj, ml, "--encoding", "raw"], check=True, capture_output=True)
        xp = os.path.join(tmp, "px.npy")
        np.save(xp, rng.standard_normal((100, B, H)).astype(np.float32))
        res = {}
        for prec in ("f32", "f64"):
            out = subprocess.run([bench, ml, xp, "--precision", prec, "--repeats", "5"], check=True, capture_output=True,
                                 text=True, env=env1)
            res[prec] = json.loads(out.stdout)["median_ms"]
        print(json.dumps({"case": "f64_vs_f32", "cell": cell, "H": H, "B": B, **res, "ratio": res["f64"] / res["f32"]}), flush=True)
    # 5. Streaming latency on Silero VAD's LSTM: lstmtool per call vs onnxruntime session.run per step.
    onnx_path = os.path.join(HERE, "..", "fixtures", "real", "silero_vad_lstm", "model.onnx")
    sl = os.path.join(tmp, "silero.lstm")
    subprocess.run([tool, "convert", onnx_path, sl], check=True, capture_output=True)
    for n in (1, 2):
        out = subprocess.run([bench, "--stream", sl, "--steps", "3000", "--repeats", "5"], check=True, capture_output=True,
                             text=True, env=dict(env1, LSTMTOOL_THREADS=str(n)))
        d = json.loads(out.stdout)
        sess = ort_session(onnx_path, n)
        ins = sess.get_inputs()
        feat = ins[0].shape[1]
        frame = rng.standard_normal((1, feat)).astype(np.float32)
        h = np.zeros((1, 1, 128), np.float32)
        c = np.zeros((1, 1, 128), np.float32)
        def step():
            nonlocal h, c
            _, h, c = sess.run(None, {"input": frame, "h": h, "c": c})
        for _ in range(200):
            step()
        per = []
        for _ in range(5):
            t0 = time.perf_counter()
            for _ in range(3000):
                step()
            per.append((time.perf_counter() - t0) / 3000 * 1e6)
        print(json.dumps({"case": "stream_silero", "threads": n, "lstmtool_us": d["median_us_per_step"],
                          "ort_us": statistics.median(per)}), flush=True)
    # 6. Many small sequences: H = I = 20, T = 100, B = 8192.
    for cell in ("lstm", "gru"):
        H, B = 20, 8192
        t = make_model(cell, H, H, rng)
        mj, ml, mo = (os.path.join(tmp, f"s.{e}") for e in ("json", "lstm", "onnx"))
        write_json(mj, cell, H, H, t)
        subprocess.run([tool, "convert", mj, ml, "--encoding", "raw"], check=True, capture_output=True)
        write_onnx(mo, cell, H, H, t)
        x = rng.standard_normal((100, B, H)).astype(np.float32)
        xp = os.path.join(tmp, "sx.npy")
        np.save(xp, x)
        d = {"case": "small_many", "cell": cell, "H": H, "B": B}
        for n in (1, 2):
            d[f"lstmtool{n}_ms"] = ours(bench, ml, xp, n, "auto", 1, 5)
            d[f"ort{n}_ms"] = time_ort(mo, x, n, 1, 5)[0]
            if torch is not None and not opts.no_torch:
                d[f"torch{n}_ms"] = time_torch(cell, t, x, n, 1, 5)[0]
        print(json.dumps(d), flush=True)
    # 7. Long sequences: LSTM H = I = 128, B = 8, T = 1000 (the input projections of many steps).
    H, B = 128, 8
    t = make_model("lstm", H, H, rng)
    mj, ml, mo = (os.path.join(tmp, f"l.{e}") for e in ("json", "lstm", "onnx"))
    write_json(mj, "lstm", H, H, t)
    subprocess.run([tool, "convert", mj, ml, "--encoding", "raw"], check=True, capture_output=True)
    write_onnx(mo, "lstm", H, H, t)
    x = rng.standard_normal((1000, B, H)).astype(np.float32)
    xp = os.path.join(tmp, "lx.npy")
    np.save(xp, x)
    d = {"case": "long_sequence", "cell": "lstm", "H": H, "B": B, "T": 1000}
    for n in (1, 2):
        d[f"lstmtool{n}_ms"] = ours(bench, ml, xp, n, "auto", 1, 9)
        d[f"ort{n}_ms"] = time_ort(mo, x, n, 1, 9)[0]
    print(json.dumps(d), flush=True)


def f64_grid(opts, bench, tool, tmp):
    """--f64: the f64 reference path against the f32 path on the grid's shapes, one thread, the
    same model and input for both (lstmbench --precision f32 / f64, median of --repeats), in
    --rounds rounds that alternate which precision goes first. A round's ratio compares two
    runs made seconds apart, so a spell in which the host slows this CPU (tens of seconds on
    the virtual machines measured here) touches both; the table gives the median of each
    precision's times and the median of the rounds' ratios."""
    rng = np.random.default_rng(8)
    print("| cell | H | B | f32 1T (ms) | f64 1T (ms) | f64 / f32 |")
    print("|---|---|---|---|---|---|")
    worst = 0.0
    for cell in opts.cells.split(","):
        for H in map(int, opts.hidden.split(",")):
            for B in map(int, opts.batch.split(",")):
                G = 4 if cell == "lstm" else 3
                gflop = 2 * 100 * B * G * H * 2 * H / 1e9
                if gflop > opts.skip_over_gflop:
                    print(f"| {cell.upper()} | {H} | {B} | skipped ({gflop:.0f} GFLOP) | | |", flush=True)
                    continue
                t = make_model(cell, H, H, rng)
                mj, ml = (os.path.join(tmp, f"f.{e}") for e in ("json", "lstm"))
                write_json(mj, cell, H, H, t)
                subprocess.run([tool, "convert", mj, ml, "--encoding", "raw"], check=True, capture_output=True)
                xp = os.path.join(tmp, "fx.npy")
                np.save(xp, rng.standard_normal((100, B, H)).astype(np.float32))
                env1 = dict(os.environ, LSTMTOOL_THREADS="1")
                env1.pop("LSTMTOOL_KERNEL", None)
                times = {"f32": [], "f64": []}
                ratios = []
                reps = opts.repeats if gflop < 20 else 1
                for rnd in range(opts.rounds):
                    for prec in (("f32", "f64") if rnd % 2 == 0 else ("f64", "f32")):
                        out = subprocess.run([bench, ml, xp, "--precision", prec, "--repeats", str(reps)], check=True,
                                             capture_output=True, text=True, env=env1)
                        times[prec].append(json.loads(out.stdout)["median_ms"])
                    ratios.append(times["f64"][-1] / times["f32"][-1])
                res = {prec: statistics.median(v) for prec, v in times.items()}
                r = statistics.median(ratios)
                worst = max(worst, r)
                print(f"| {cell.upper()} | {H} | {B} | {fmt(res['f32'], '.3g')} | {fmt(res['f64'], '.3g')} | {r:.2f}× |", flush=True)
    print(f"\nLargest f64 / f32: {worst:.2f}×")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin", default=".build/release")
    ap.add_argument("--hidden", default="32,128,256,512,1024")
    ap.add_argument("--batch", default="1,8,32,128,4096")
    ap.add_argument("--cells", default="lstm,gru")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--kernels", default="auto",
                    help="lstmtool kernel paths: auto, portable, avx2, avx512, neon (the table's main columns are auto)")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--budget-s", type=float, default=4.0)
    ap.add_argument("--rounds", type=int, default=3,
                    help="rows that take under a second: measure onnxruntime and lstmtool in this many rounds, "
                         "taking turns; a row's ratio is the median of its rounds' ratios")
    ap.add_argument("--long-rounds", type=int, default=2,
                    help="the same for rows that take longer (default 2: each runtime goes first once)")
    ap.add_argument("--statistic", choices=["median", "min"], default="median",
                    help="what a measurement of lstmtool, onnxruntime or PyTorch reports of its timed runs: "
                         "the median (default) or the fastest (interference only ever adds time)")
    ap.add_argument("--skip-over-gflop", type=float, default=float("inf"))
    # PyTorch keeps every step's gates of a whole batch: LSTM H = 1024, B = 4096 (6900 GFLOP)
    # took its process past 24 GiB and the kernel killed the run.
    ap.add_argument("--torch-max-gflop", type=float, default=2000.0,
                    help="leave PyTorch out of cases above this many GFLOP (default 2000)")
    ap.add_argument("--no-cli", action="store_true")
    ap.add_argument("--no-torch", action="store_true")
    ap.add_argument("--no-onednn", action="store_true")
    ap.add_argument("--quick", action="store_true", help="H = 256, B = 1 and 32 only")
    ap.add_argument("--extras", action="store_true", help="the single cases instead of the grid")
    ap.add_argument("--json", help="also write the grid's rows here")
    ap.add_argument("--f64", action="store_true", help="f64 against f32 on the grid's shapes (one thread) instead of the grid")
    opts = ap.parse_args()
    global STATISTIC
    STATISTIC = opts.statistic
    if "auto" not in opts.kernels.split(","):
        opts.kernels = "auto," + opts.kernels
    if opts.quick:
        opts.hidden, opts.batch = "256", "1,32"
    bench = os.path.join(opts.bin, "lstmbench")
    tool = os.path.join(opts.bin, "lstmtool")
    for b in (bench, tool):
        if not os.access(b, os.X_OK):
            sys.exit(f"{b} not found: run `swift build -c release` first")
    tmp = tempfile.mkdtemp(prefix="lstmbench-")
    try:
        print(f"Machine: {cpu_model()}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at start; "
              f"lstmtool kernel path (auto): {auto_path()}; onnxruntime {ort.__version__}; "
              f"PyTorch {torch.__version__ if torch is not None else 'not installed'}.\n", flush=True)
        if opts.extras:
            extras(opts, bench, tool, tmp)
        elif opts.f64:
            f64_grid(opts, bench, tool, tmp)
        else:
            rows, threads, kernels, have_onednn, have_torch = grid(opts, bench, tool, tmp)
            if opts.json:
                with open(opts.json, "w") as f:
                    json.dump(rows, f, indent=1)
            print(table(rows, threads, kernels, have_onednn, have_torch))
        print(f"\nLoad average at the end: {os.getloadavg()[0]:.2f}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
