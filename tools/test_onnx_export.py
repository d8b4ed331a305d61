#!/usr/bin/env python3
"""Checks lstmtool's ONNX export (and the layout=1 import) against onnxruntime.

    python3 tools/test_onnx_export.py [PATH/TO/lstmtool]

For every golden case under fixtures/golden and fixtures/pytorch:
  * `lstmtool convert model.json /tmp/…/model.onnx`; a model one ONNX node per layer cannot
    express must be refused with exit 1, an `error:` line that says why, and no output file;
  * otherwise `onnx.checker.check_model(full_check=True)`, then onnxruntime runs the export
    with the golden inputs, and its y/hn/cn are compared with `lstmtool run` on the same
    model and inputs (atol 1e-5, rtol 1e-4); the same again without the optional inputs
    (initial_h, initial_c, sequence_lens), which exercises the exported defaults;
  * the export is imported back and must hold the same weights (`lstmtool convert x.onnx
    x.json` compared with the original's JSON on every tensor the export kept).
Then a layout=1 model (onnxruntime refuses layout=1, so its expected outputs come from the
equivalent time-major model) is imported and run with --batch-first.
Prints one line per check and `N passed, M failed`; exits 1 when anything failed.
Needs numpy, onnx and onnxruntime.
"""
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import onnx
import onnxruntime as ort
from onnx import helper, numpy_helper

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOOL = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, ".build", "debug", "lstmtool")
ATOL, RTOL = 1e-5, 1e-4
# Refusals the exporter must make, by golden case, with a word the message must contain.
EXPECTED_REFUSALS = {
    "lstm_projection": "projection",
    "lstm_projection_clip": "projection",
    "lstm_cell_clip": "cell",
    "lstm_proj": "projection",
    "lstm_proj_2l_bi": "projection",
}
passed = failed = 0


def report(name, ok, why=""):
    global passed, failed
    if ok:
        passed += 1
        print(f"{name}: PASS{(' ' + why) if why else ''}")
    else:
        failed += 1
        print(f"{name}: FAIL {why}")


def as_float32(m):
    for t in m.graph.initializer:
        if t.data_type == onnx.TensorProto.DOUBLE:
            t.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(t).astype(np.float32), t.name))
    for v in list(m.graph.input) + list(m.graph.output):
        if v.type.tensor_type.elem_type == onnx.TensorProto.DOUBLE:
            v.type.tensor_type.elem_type = onnx.TensorProto.FLOAT
    return m


def quiet():
    # The exported optional inputs are initializers that are also graph inputs, which is
    # what makes them optional; onnxruntime warns about every one of them.
    o = ort.SessionOptions()
    o.log_severity_level = 3
    return o


def run(argv):
    return subprocess.run(argv, capture_output=True, text=True)


def close(a, b):
    return a.shape == b.shape and bool(np.all(np.abs(a.astype(np.float64) - b.astype(np.float64)) <= ATOL + RTOL * np.abs(b.astype(np.float64))))


def tool_run(model, tmp, x, h0=None, c0=None, lens=None, batch_first=False, has_c=True):
    paths = {k: os.path.join(tmp, k + ".npy") for k in ("x", "h0", "c0", "lens", "y", "hn", "cn")}
    np.save(paths["x"], x)
    argv = [TOOL, "run", model, "--input", paths["x"], "--output", paths["y"], "--final-h", paths["hn"]]
    if has_c:
        argv += ["--final-c", paths["cn"]]
    if h0 is not None:
        np.save(paths["h0"], h0)
        argv += ["--initial-h", paths["h0"]]
    if c0 is not None:
        np.save(paths["c0"], c0)
        argv += ["--initial-c", paths["c0"]]
    if lens is not None:
        np.save(paths["lens"], lens)
        argv += ["--sequence-lengths", paths["lens"]]
    if batch_first:
        argv += ["--batch-first"]
    r = run(argv)
    if r.returncode != 0:
        raise RuntimeError("lstmtool run: " + r.stderr.strip().splitlines()[-1])
    out = {"y": np.load(paths["y"]), "hn": np.load(paths["hn"])}
    if has_c:
        out["cn"] = np.load(paths["cn"])
    return out


def tensors_of(json_path):
    m = json.load(open(json_path))
    out = {}
    for k, layer in enumerate(m["layers"]):
        for p, ts in layer["tensors"].items():
            for role, t in ts.items():
                # Values are decimal text that reads back exactly in the tensor's own dtype.
                dt = {"float32": np.float32, "float16": np.float16, "float64": np.float64}.get(t["dtype"], np.float32)
                out[f"layers.{k}.{p}.{role}"] = np.array(t["values"], dtype=dt).astype(np.float64).reshape(t["shape"])
    return out, m


def check_case(case_dir, tmp):
    g = json.load(open(os.path.join(case_dir, "golden.json")))
    name = os.path.relpath(case_dir, ROOT)
    model = os.path.join(case_dir, g["model"])
    if not model.endswith(".json"):
        return
    out = os.path.join(tmp, "model.onnx")
    if os.path.exists(out):
        os.remove(out)
    r = run([TOOL, "convert", model, out])
    base = os.path.basename(case_dir.rstrip("/"))
    if r.returncode != 0:
        word = EXPECTED_REFUSALS.get(base)
        lines = [ln for ln in r.stderr.strip().splitlines() if ln.startswith("error:")]
        ok = word is not None and r.returncode == 1 and len(lines) == 1 and word in lines[0] and not os.path.exists(out)
        report(f"{name} refused", ok, lines[-1] if lines else r.stderr.strip())
        return
    if base in EXPECTED_REFUSALS:
        report(f"{name} refused", False, "exported although ONNX cannot express it")
        return
    try:
        onnx.checker.check_model(onnx.load(out), full_check=True)
    except Exception as e:  # noqa: BLE001 - report any checker failure
        report(f"{name} check_model", False, str(e).splitlines()[0])
        return
    report(f"{name} check_model", True)

    inputs = g["inputs"]
    x = np.load(os.path.join(case_dir, inputs["input"]))
    bf = g.get("batch_first", False)
    x_tm = np.transpose(x, (1, 0, 2)) if bf else x
    h0 = np.load(os.path.join(case_dir, inputs["initial_h"])) if "initial_h" in inputs else None
    c0 = np.load(os.path.join(case_dir, inputs["initial_c"])) if "initial_c" in inputs else None
    lens = np.load(os.path.join(case_dir, inputs["sequence_lengths"])) if "sequence_lengths" in inputs else None
    exported = onnx.load(out)
    if exported.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.DOUBLE:
        # onnxruntime's RNN/LSTM/GRU kernels are float32 only ("does not support double
        # yet"): run a float32 copy of the float64 export instead.
        exported = as_float32(exported)
        report(f"{name} float64 export (run as a float32 copy)", True)
    sess = ort.InferenceSession(exported.SerializeToString(), sess_options=quiet(), providers=["CPUExecutionProvider"])
    feed_names = {i.name for i in sess.get_inputs()}
    has_c = "initial_c" in feed_names
    dtype = np.float64 if sess.get_inputs()[0].type == "tensor(double)" else np.float32
    for label, use_optional in (("with inputs", True), ("defaults", False)):
        feed = {"x": x_tm.astype(dtype)}
        if use_optional:
            if h0 is not None:
                feed["initial_h"] = h0.astype(dtype)
            if c0 is not None and has_c:
                feed["initial_c"] = c0.astype(dtype)
            if lens is not None:
                feed["sequence_lens"] = lens.astype(np.int32)
        try:
            got = dict(zip([o.name for o in sess.get_outputs()], sess.run(None, feed)))
            want = tool_run(model, tmp, x, h0 if use_optional else None, c0 if use_optional and has_c else None,
                            lens if use_optional else None, bf, has_c)
        except Exception as e:  # noqa: BLE001
            report(f"{name} onnxruntime {label}", False, str(e).splitlines()[0][:300])
            continue
        y = np.transpose(got["y"], (1, 0, 2)) if bf else got["y"]
        errs = {"y": (y, want["y"]), "hn": (got["hn"], want["hn"])}
        if has_c:
            errs["cn"] = (got["cn"], want["cn"])
        bad = [k for k, (a, b) in errs.items() if not close(a, b)]
        if base == "lstm_sequence_length_zero" and use_optional and bad in (["hn"], ["hn", "cn"]):
            # A zero-length sequence: lstmtool returns the initial state as the final
            # state, onnxruntime returns zeros (fixtures/golden/lstm_sequence_length_zero).
            report(f"{name} onnxruntime {label}", True, "known difference: final state of a length-0 sequence")
            continue
        worst = max(float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64)))) if a.shape == b.shape else np.inf for a, b in errs.values())
        report(f"{name} onnxruntime {label}", not bad, f"max|err| {worst:.2g}" + (f" in {bad}" if bad else ""))

    # Re-import: every weight the export kept comes back with the same value.
    back = os.path.join(tmp, "back.json")
    r = run([TOOL, "convert", out, back])
    if r.returncode != 0:
        report(f"{name} re-import", False, r.stderr.strip().splitlines()[-1])
        return
    # The original goes through lstmtool's own JSON reader too, so that both sides are
    # compared after the same decimal parsing.
    orig_json = os.path.join(tmp, "orig.json")
    run([TOOL, "convert", model, orig_json])
    orig, _ = tensors_of(orig_json)
    again, _ = tensors_of(back)
    bad = []
    for k, v in orig.items():
        w = again.get(k)
        if w is None:
            if np.any(v != 0):
                bad.append(k + " missing")
        elif w.shape != v.shape or not np.array_equal(w, v):
            bad.append(k)
    for k, w in again.items():
        if k not in orig and np.any(w != 0):
            bad.append(k + " extra")
    report(f"{name} re-import", not bad, ", ".join(bad[:4]))


def check_layout1(tmp):
    """A layout=1 LSTM: its expected outputs come from the time-major golden model."""
    src = onnx.load(os.path.join(ROOT, "fixtures/golden/lstm_sequence_lengths/model.onnx"))
    inits = {t.name: t for t in src.graph.initializer}
    lstm = next(n for n in src.graph.node if n.op_type == "LSTM")
    d = os.path.join(ROOT, "fixtures/golden/lstm_sequence_lengths")
    x = np.load(os.path.join(d, "x.npy"))
    h0 = np.load(os.path.join(d, "h0.npy"))
    c0 = np.load(os.path.join(d, "c0.npy"))
    T, B, I = x.shape
    H = next(a.i for a in lstm.attribute if a.name == "hidden_size")
    node = helper.make_node("LSTM", ["xb", "W_0", "R_0", "B_0"], ["Y", "Y_h", "Y_c"], name="lstm_bm",
                            hidden_size=H, direction="bidirectional", layout=1)
    graph = helper.make_graph([node], "layout1", [helper.make_tensor_value_info("xb", onnx.TensorProto.FLOAT, [B, T, I])],
                              [helper.make_tensor_value_info("Y", onnx.TensorProto.FLOAT, None)],
                              [inits["W_0"], inits["R_0"], inits["B_0"]])
    path = os.path.join(tmp, "layout1.onnx")
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    # The equivalent time-major model, run by onnxruntime.
    node0 = helper.make_node("LSTM", ["x", "W_0", "R_0", "B_0"], ["Y", "Y_h", "Y_c"], hidden_size=H, direction="bidirectional")
    g0 = helper.make_graph([node0], "layout0", [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [T, B, I])],
                           [helper.make_tensor_value_info("Y", onnx.TensorProto.FLOAT, None)],
                           [inits["W_0"], inits["R_0"], inits["B_0"]])
    m0 = helper.make_model(g0, opset_imports=[helper.make_opsetid("", 17)])
    m0.ir_version = 8
    sess = ort.InferenceSession(m0.SerializeToString(), sess_options=quiet(), providers=["CPUExecutionProvider"])
    Y = sess.run(["Y"], {"x": x})[0]  # [T, D, B, H]
    want = np.transpose(Y, (2, 0, 1, 3)).reshape(B, T, -1)
    lstm_model = os.path.join(tmp, "layout1.lstm")
    r = run([TOOL, "convert", path, lstm_model])
    if r.returncode != 0:
        report("layout=1 import", False, r.stderr.strip().splitlines()[-1])
        return
    got = tool_run(lstm_model, tmp, np.transpose(x, (1, 0, 2)).copy(), batch_first=True)
    report("layout=1 import", close(got["y"], want), f"max|err| {float(np.max(np.abs(got['y'] - want))):.2g}")
    _ = (h0, c0)


def main():
    if not os.path.exists(TOOL):
        print(f"lstmtool not found at {TOOL}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        for suite in ("golden", "pytorch"):
            base = os.path.join(ROOT, "fixtures", suite)
            for case in sorted(os.listdir(base)):
                d = os.path.join(base, case)
                if os.path.isfile(os.path.join(d, "golden.json")):
                    check_case(d, tmp)
        check_layout1(tmp)
    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
