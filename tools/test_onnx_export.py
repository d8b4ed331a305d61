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
equivalent time-major model) is imported and run with --batch-first, and the review matrix
(`review_matrix`, conventions.md §14.7) runs: gate-scaled weights, peepholes, coupled gates with
a garbage forget block, GRU variants with h0, packed alpha/beta, clip, sequence_lens as a graph
input, float16/bfloat16/double/typed/external initializers (and escaping locations), graphs with
other operators around the stack, several stacks (--node), 3-layer and tf2onnx-like stacks,
Reshapes between layers, every import exported again, and hand-written safetensors files.
Prints one line per check and `N passed, M failed`; exits 1 when anything failed.
Needs numpy, onnx and onnxruntime.
"""
import json
import os
import struct
import subprocess
import sys
import tempfile

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

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


# ---------------------------------------------------------------------------------------------
# Conversion review matrix (../shared/docs/conventions.md §12, §14.7): ONNX models built with
# onnx.helper, run by onnxruntime, imported and run by lstmtool; the import exported again
# (check_model + onnxruntime + initializers bit for bit); hand-written safetensors files.
# Gate blocks are scaled differently (block k × (k+1)) so that any wrong permutation fails.
RV = {"tmp": None}
rng = np.random.default_rng(7)


def err(a, b):
    return float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64)))) if a.shape == b.shape else float("inf")


def rv_tool_run(model, x, h0=None, c0=None, lens=None, batch_first=False, has_c=False, extra=()):
    p = {k: os.path.join(RV["tmp"], k + ".npy") for k in ("x", "h0", "c0", "lens", "y", "hn", "cn")}
    np.save(p["x"], x)
    argv = [TOOL, "run", model, "--input", p["x"], "--output", p["y"], "--final-h", p["hn"]] + list(extra)
    if has_c:
        argv += ["--final-c", p["cn"]]
    if h0 is not None:
        np.save(p["h0"], h0); argv += ["--initial-h", p["h0"]]
    if c0 is not None:
        np.save(p["c0"], c0); argv += ["--initial-c", p["c0"]]
    if lens is not None:
        np.save(p["lens"], np.asarray(lens)); argv += ["--sequence-lengths", p["lens"]]
    if batch_first:
        argv += ["--batch-first"]
    r = run(argv)
    if r.returncode != 0:
        raise RuntimeError("lstmtool run: " + r.stderr.strip())
    out = {"y": np.load(p["y"]), "hn": np.load(p["hn"])}
    if has_c:
        out["cn"] = np.load(p["cn"])
    return out


def gate_scaled(shape, G, scale=0.5):
    """Random weights whose gate block k is multiplied by (k+1): any permutation error shows."""
    a = rng.uniform(-scale, scale, size=shape).astype(np.float32)
    H = shape[-2] // G if len(shape) == 3 else shape[-1] // G
    if len(shape) == 3:
        for k in range(G):
            a[:, k * H:(k + 1) * H, :] *= (k + 1)
    else:
        for k in range(shape[-1] // H):
            a[:, k * H:(k + 1) * H] *= ((k % G) + 1)
    return a


def make_node_model(op, T, B, I, H, D=1, attrs=None, bias=True, peep=False, init_h=None, init_c=None,
                    lens_input=False, h0_input=False, c0_input=False, scale=0.5, opset=17):
    G = {"LSTM": 4, "GRU": 3, "RNN": 1}[op]
    W = gate_scaled((D, G * H, I), G, scale)
    R = gate_scaled((D, G * H, H), G, scale)
    inits = [numpy_helper.from_array(W, "W"), numpy_helper.from_array(R, "R")]
    inputs = ["x", "W", "R"]
    ginputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, [T, B, I])]
    if bias:
        Bb = gate_scaled((D, 2 * G * H), G, scale)
        inits.append(numpy_helper.from_array(Bb, "B")); inputs.append("B")
    else:
        inputs.append("")
    if lens_input:
        inputs.append("lens"); ginputs.append(helper.make_tensor_value_info("lens", TensorProto.INT32, [B]))
    else:
        inputs.append("")
    if h0_input:
        inputs.append("h0"); ginputs.append(helper.make_tensor_value_info("h0", TensorProto.FLOAT, [D, B, H]))
    elif init_h is not None:
        inits.append(numpy_helper.from_array(init_h, "h0c")); inputs.append("h0c")
    else:
        inputs.append("")
    if op == "LSTM":
        if c0_input:
            inputs.append("c0"); ginputs.append(helper.make_tensor_value_info("c0", TensorProto.FLOAT, [D, B, H]))
        elif init_c is not None:
            inits.append(numpy_helper.from_array(init_c, "c0c")); inputs.append("c0c")
        else:
            inputs.append("")
        if peep:
            P = np.concatenate([rng.uniform(-1, 1, size=(D, H)) * s for s in (0.5, 1.5, 3.0)], axis=1).astype(np.float32)
            inits.append(numpy_helper.from_array(P, "P")); inputs.append("P")
    while inputs and inputs[-1] == "":
        inputs.pop()
    outs = ["Y", "Y_h"] + (["Y_c"] if op == "LSTM" else [])
    node = helper.make_node(op, inputs, outs, name="rec", hidden_size=H, **(attrs or {}))
    gouts = [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in outs]
    g = helper.make_graph([node], "g", ginputs, gouts, inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    return m


def ort_outputs(m, feed):
    s = ort.InferenceSession(m.SerializeToString(), sess_options=quiet(), providers=["CPUExecutionProvider"])
    return dict(zip([o.name for o in s.get_outputs()], s.run(None, feed)))


def check_single(name, m, T, B, I, H, D, op, lens=None, h0=None, c0=None, convert_args=(), want_note=None, ort_model=None):
    """ORT on m (or ort_model) vs lstmtool run on the import of m."""
    x = rng.uniform(-1, 1, size=(T, B, I)).astype(np.float32)
    feed = {"x": x}
    names = {i.name for i in m.graph.input}
    if "lens" in names: feed["lens"] = np.asarray(lens, dtype=np.int32)
    if "h0" in names: feed["h0"] = h0
    if "c0" in names: feed["c0"] = c0
    try:
        got = ort_outputs(ort_model or m, feed)
    except Exception as e:
        report(name, False, "onnxruntime: " + str(e)[:200]); return None
    path = os.path.join(RV["tmp"], name.replace(" ", "_").replace("/", "_") + ".onnx")
    onnx.save(m, path)
    out = path[:-5] + ".lstm"
    r = run([TOOL, "convert", path, out] + list(convert_args))
    if r.returncode != 0:
        report(name, False, "convert: " + r.stderr.strip()); return None
    if want_note and want_note not in r.stderr:
        report(name + " note", False, r.stderr.strip())
    has_c = op == "LSTM"
    try:
        t = rv_tool_run(out, x, h0=h0 if "h0" in names else None, c0=c0 if "c0" in names else None,
                     lens=lens if "lens" in names else None, has_c=has_c)
    except Exception as e:
        report(name, False, str(e)); return None
    Y = got["Y"]
    y = np.transpose(Y, (0, 2, 1, 3)).reshape(T, B, D * H)
    pairs = {"y": (t["y"], y), "hn": (t["hn"], got["Y_h"])}
    if has_c: pairs["cn"] = (t["cn"], got["Y_c"])
    bad = [k for k, (a, b) in pairs.items() if not close(a, b)]
    report(name, not bad, f"max|err| {max(err(a, b) for a, b in pairs.values()):.2g} {bad if bad else ''}")
    node = next(n for n in m.graph.node if n.op_type == op)
    coupled = any(a.name == "input_forget" and a.i == 1 for a in node.attribute)
    if len(m.graph.node) == 1:
        export_roundtrip(name, m, out, x, h0 if "h0" in names else None, c0 if "c0" in names else None,
                         lens if "lens" in names else None, op=op, coupled=coupled)
    return out, x, got


def review_matrix(tmp):
    RV["tmp"] = tmp
    # 1. gate-scaled LSTM, GRU, RNN, bidirectional T,B,D,H all different
    for op in ("LSTM", "GRU", "RNN"):
        T, B, I, H = 5, 3, 4, 7
        m = make_node_model(op, T, B, I, H, D=2, attrs={"direction": "bidirectional"} | ({"linear_before_reset": 1} if op == "GRU" else {}))
        check_single(f"{op} bidirectional gate-scaled", m, T, B, I, H, 2, op)
    # 2. peepholes, three distinct vectors, with nonzero initial states from graph inputs
    T, B, I, H = 6, 4, 3, 5
    m = make_node_model("LSTM", T, B, I, H, D=2, attrs={"direction": "bidirectional"}, peep=True, h0_input=True, c0_input=True)
    check_single("LSTM peepholes bidi h0/c0 inputs", m, T, B, I, H, 2, "LSTM",
                 h0=rng.uniform(-1, 1, (2, B, H)).astype(np.float32), c0=rng.uniform(-2, 2, (2, B, H)).astype(np.float32))
    # 3. coupled with garbage forget block
    m = make_node_model("LSTM", T, B, I, H, D=2, attrs={"direction": "bidirectional", "input_forget": 1}, peep=True, h0_input=True, c0_input=True)
    for t in m.graph.initializer:
        a = numpy_helper.to_array(t).copy()
        if t.name in ("W", "R"):
            a[:, 2 * H:3 * H, :] = 1e3 * rng.standard_normal(a[:, 2 * H:3 * H, :].shape)
        elif t.name == "B":
            a[:, 2 * H:3 * H] = 1e3; a[:, 6 * H:7 * H] = -1e3
        elif t.name == "P":
            a[:, 2 * H:3 * H] = 77.0
        t.CopyFrom(numpy_helper.from_array(a.astype(np.float32), t.name))
    check_single("LSTM coupled garbage forget", m, T, B, I, H, 2, "LSTM",
                 h0=rng.uniform(-1, 1, (2, B, H)).astype(np.float32), c0=rng.uniform(-2, 2, (2, B, H)).astype(np.float32))
    # 4. GRU both lbr, non-zero h0, B absent batch >=3
    for lbr in (0, 1):
        for bias in (True, False):
            T, B, I, H = 4, 5, 3, 6
            m = make_node_model("GRU", T, B, I, H, D=1, attrs={"linear_before_reset": lbr}, bias=bias, h0_input=True)
            check_single(f"GRU lbr={lbr} bias={bias} h0", m, T, B, I, H, 1, "GRU", h0=rng.uniform(-1, 1, (1, B, H)).astype(np.float32))
    # GRU with a constant (learned) non-zero h0, same for every batch entry
    T, B, I, H = 4, 3, 3, 6
    h0 = np.repeat(rng.uniform(-1, 1, (2, 1, H)).astype(np.float32), B, axis=1)
    m = make_node_model("GRU", T, B, I, H, D=2, attrs={"linear_before_reset": 1, "direction": "bidirectional"}, init_h=h0)
    check_single("GRU learned h0 constant bidi", m, T, B, I, H, 2, "GRU")
    # 5. activations with packed alpha/beta
    T, B, I, H = 5, 3, 4, 6
    m = make_node_model("LSTM", T, B, I, H, attrs={"activations": ["HardSigmoid", "Tanh", "Tanh"], "activation_alpha": [0.3], "activation_beta": [0.6]})
    check_single("LSTM HardSigmoid alpha .3 beta .6", m, T, B, I, H, 1, "LSTM")
    m = make_node_model("LSTM", T, B, I, H, D=2, attrs={"direction": "bidirectional",
                        "activations": ["Sigmoid", "Tanh", "Tanh", "HardSigmoid", "ScaledTanh", "LeakyRelu"],
                        "activation_alpha": [0.25, 1.3, 0.07], "activation_beta": [0.45, 0.8]})
    check_single("LSTM bidi per-direction activations", m, T, B, I, H, 2, "LSTM")
    m = make_node_model("GRU", T, B, I, H, D=2, attrs={"direction": "bidirectional", "linear_before_reset": 1,
                        "activations": ["Sigmoid", "Softsign", "HardSigmoid", "Elu"], "activation_alpha": [0.15, 0.9], "activation_beta": [0.55]})
    check_single("GRU bidi per-direction activations", m, T, B, I, H, 2, "GRU")
    m = make_node_model("RNN", T, B, I, H, D=2, attrs={"direction": "bidirectional", "activations": ["Affine", "ThresholdedRelu"],
                        "activation_alpha": [0.7, 0.1], "activation_beta": [0.2]})
    check_single("RNN bidi Affine/ThresholdedRelu", m, T, B, I, H, 2, "RNN")
    m = make_node_model("RNN", T, B, I, H, attrs={"activations": ["Softplus"]})
    check_single("RNN Softplus", m, T, B, I, H, 1, "RNN")
    m = make_node_model("LSTM", T, B, I, H, attrs={"activations": ["Sigmoid", "Elu", "Affine"]})
    check_single("LSTM Elu/Affine defaults", m, T, B, I, H, 1, "LSTM")
    # 6. clip
    for op in ("LSTM", "GRU", "RNN"):
        m = make_node_model(op, T, B, I, H, D=2, attrs={"direction": "bidirectional", "clip": 0.6} | ({"linear_before_reset": 0} if op == "GRU" else {}), scale=2.0, peep=(op == "LSTM"))
        check_single(f"{op} clip 0.6", m, T, B, I, H, 2, op)
    # 7. sequence_lens graph input, reverse/bidi, lengths T,1,mixed
    T, B, I, H = 6, 4, 3, 5
    for op in ("LSTM", "GRU", "RNN"):
        for dirn, D in (("reverse", 1), ("bidirectional", 2)):
            m = make_node_model(op, T, B, I, H, D=D, attrs={"direction": dirn} | ({"linear_before_reset": 1} if op == "GRU" else {}), lens_input=True,
                                h0_input=True)
            check_single(f"{op} {dirn} sequence_lens input", m, T, B, I, H, D, op, lens=[T, 1, 3, 5], h0=rng.uniform(-1, 1, (D, B, H)).astype(np.float32))
    review_graphs()
    review_reshape_and_links()
    review_safetensors()


def convert(src, dst, *args, keep=False):
    if os.path.exists(dst) and not keep:
        os.remove(dst)
    return run([TOOL, "convert", src, dst] + list(args))


def export_roundtrip(name, onnx_src_model, lstm_path, x, h0=None, c0=None, lens=None, op="LSTM", coupled=False):
    out = lstm_path[:-5] + ".export.onnx"
    r = convert(lstm_path, out)
    if r.returncode != 0:
        report(name + " export", False, r.stderr.strip()); return
    m = onnx.load(out)
    try:
        onnx.checker.check_model(m, full_check=True)
    except Exception as e:
        report(name + " export check_model", False, str(e).splitlines()[0]); return
    if m.graph.input[0].type.tensor_type.elem_type == TensorProto.DOUBLE:
        m = onnx.ModelProto(); m.CopyFrom(onnx.load(out))
        for t in m.graph.initializer:
            if t.data_type == TensorProto.DOUBLE:
                t.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(t).astype(np.float32), t.name))
        for v in list(m.graph.input) + list(m.graph.output):
            if v.type.tensor_type.elem_type == TensorProto.DOUBLE:
                v.type.tensor_type.elem_type = TensorProto.FLOAT
    feed = {"x": x}
    if h0 is not None: feed["initial_h"] = h0
    if c0 is not None: feed["initial_c"] = c0
    if lens is not None: feed["sequence_lens"] = np.asarray(lens, dtype=np.int32)
    got = ort_outputs(m, feed)
    want = rv_tool_run(lstm_path, x, h0, c0, lens, has_c=op == "LSTM")
    pairs = [(got[k], want[k]) for k in want]
    ok = all(close(a, b) for a, b in pairs)
    report(name + " export→onnxruntime", ok, f"max|err| {max(err(a, b) for a, b in pairs):.2g}")
    # initializers after mapping: the export's W/R/B/P equal the source's, bit for bit
    src = {t.name: numpy_helper.to_array(t) for t in onnx_src_model.graph.initializer}
    exp = {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}
    bad = []
    for k in ("W", "R", "B", "P"):
        if k not in src:
            if k == "B" and np.any(exp["layers.0.B"] != 0): bad.append("B not zero")
            continue
        a, b = src[k].astype(np.float32), exp.get("layers.0." + k)
        if b is None: bad.append(k + " missing"); continue
        if coupled:
            H = a.shape[1] // (3 if k == "P" else 4) if k != "B" else a.shape[1] // 8
            fblocks = [2] if k != "B" else [2, 6]
            if k == "P": fblocks = [2]
            mask = np.ones(a.shape, bool)
            for f in fblocks:
                mask[:, f * H:(f + 1) * H] = False
            if not (np.array_equal(a[mask].view(np.uint32), b[mask].view(np.uint32)) and not np.any(b[~mask])):
                bad.append(k)
        elif not np.array_equal(a.view(np.uint32), b.astype(np.float32).view(np.uint32)):
            bad.append(k)
    report(name + " onnx→lstm→onnx initializers", not bad, ",".join(bad))


def encode_variant(m, how):
    """A copy of m with W/R/B/P stored another way; returns (model, float32 reference model)."""
    m2 = onnx.ModelProto(); m2.CopyFrom(m)
    ref = onnx.ModelProto(); ref.CopyFrom(m)
    for t, tr in zip(m2.graph.initializer, ref.graph.initializer):
        a = numpy_helper.to_array(t)
        if how.startswith("f16"):
            v = a.astype(np.float16)
            nt = helper.make_tensor(t.name, TensorProto.FLOAT16, a.shape, v.tobytes() if how == "f16raw" else v, raw=how == "f16raw")
            tr.CopyFrom(numpy_helper.from_array(v.astype(np.float32), t.name))
        elif how.startswith("bf16"):
            bits = (a.astype(np.float32).view(np.uint32) >> 16).astype(np.uint16)
            vals = (bits.astype(np.uint32) << 16).view(np.float32)
            if how == "bf16raw":
                nt = helper.make_tensor(t.name, TensorProto.BFLOAT16, a.shape, bits.tobytes(), raw=True)
            else:
                nt = TensorProto(); nt.name = t.name; nt.data_type = TensorProto.BFLOAT16; nt.dims.extend(a.shape)
                nt.int32_data.extend(int(b) for b in bits.ravel())
            tr.CopyFrom(numpy_helper.from_array(vals, t.name))
        elif how == "f64raw":
            nt = numpy_helper.from_array(a.astype(np.float64), t.name)
        elif how == "f64typed":
            nt = helper.make_tensor(t.name, TensorProto.DOUBLE, a.shape, a.astype(np.float64).ravel().tolist())
        elif how == "f32typed":
            nt = helper.make_tensor(t.name, TensorProto.FLOAT, a.shape, a.ravel().tolist())
        else:
            raise ValueError(how)
        t.CopyFrom(nt)
    return m2, ref


def graph_model(nodes, inputs, outputs, inits, opset=17):
    g = helper.make_graph(nodes, "g", inputs, [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in outputs], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    return m


def rnn_inits(prefix, op, D, I, H, scale=0.5):
    G = {"LSTM": 4, "GRU": 3, "RNN": 1}[op]
    return [numpy_helper.from_array(gate_scaled((D, G * H, I), G, scale), prefix + "W"),
            numpy_helper.from_array(gate_scaled((D, G * H, H), G, scale), prefix + "R"),
            numpy_helper.from_array(gate_scaled((D, 2 * G * H), G, scale), prefix + "B")]


def review_graphs():
    T, B, I, H, D = 5, 3, 4, 6, 2
    base = make_node_model("LSTM", T, B, I, H, D=2, attrs={"direction": "bidirectional"}, peep=True)
    for how in ("f16raw", "f16typed", "bf16raw", "bf16typed", "f64raw", "f64typed", "f32typed"):
        m2, ref = encode_variant(base, how)
        check_single(f"initializers {how}", m2, T, B, I, H, D, "LSTM", ort_model=ref)
    # external data
    for layout in ("one", "many", "escape", "absolute", "short"):
        d = os.path.join(RV["tmp"], "ext_" + layout); os.makedirs(os.path.join(d, "sub"), exist_ok=True)
        m = onnx.ModelProto(); m.CopyFrom(base)
        path = os.path.join(d, "sub", "model.onnx")
        onnx.save_model(m, path, save_as_external_data=True, all_tensors_to_one_file=(layout != "many"),
                        location="weights.bin" if layout != "many" else None, size_threshold=0)
        if layout in ("escape", "absolute", "short"):
            mm = onnx.load(path, load_external_data=False)
            for t in mm.graph.initializer:
                for e in t.external_data:
                    if e.key == "location":
                        if layout == "escape":
                            os.replace(os.path.join(d, "sub", "weights.bin"), os.path.join(d, "weights.bin")) if os.path.exists(os.path.join(d, "sub", "weights.bin")) else None
                            e.value = "../weights.bin"
                        elif layout == "absolute":
                            e.value = os.path.join(d, "sub", "weights.bin")
                    if e.key == "length" and layout == "short":
                        e.value = str(int(e.value) + 4)
            onnx.save_model(mm, path)
            r = convert(path, os.path.join(d, "m.lstm"))
            lines = r.stderr.strip().splitlines()
            report(f"external data {layout} refused", r.returncode == 1 and len(lines) == 1 and not os.path.exists(os.path.join(d, "m.lstm")), r.stderr.strip())
            continue
        r = convert(path, os.path.join(d, "m.lstm"))
        if r.returncode != 0:
            report(f"external data {layout}", False, r.stderr.strip()); continue
        x = rng.uniform(-1, 1, (T, B, I)).astype(np.float32)
        got = ort_outputs(base, {"x": x})
        t = rv_tool_run(os.path.join(d, "m.lstm"), x, has_c=True)
        y = np.transpose(got["Y"], (0, 2, 1, 3)).reshape(T, B, D * H)
        report(f"external data {layout}", close(t["y"], y) and close(t["hn"], got["Y_h"]), f"{err(t['y'], y):.2g}")

    # MatMul before, Gemm after; Conv before
    F = 5
    Wm = rng.uniform(-1, 1, (F, I)).astype(np.float32)
    Wg = rng.uniform(-1, 1, (H, 3)).astype(np.float32)
    inits = rnn_inits("", "LSTM", 1, I, H) + [numpy_helper.from_array(Wm, "Wm"), numpy_helper.from_array(Wg, "Wg"),
                                               numpy_helper.from_array(np.array([1], np.int64), "ax1"),
                                               numpy_helper.from_array(np.array([-1, H], np.int64), "flat")]
    nodes = [helper.make_node("MatMul", ["xin", "Wm"], ["x"], name="pre"),
             helper.make_node("LSTM", ["x", "W", "R", "B"], ["Y", "Y_h"], name="lstm", hidden_size=H),
             helper.make_node("Squeeze", ["Y", "ax1"], ["Ys"], name="sq"),
             helper.make_node("Reshape", ["Ys", "flat"], ["Yf"], name="rs"),
             helper.make_node("Gemm", ["Yf", "Wg"], ["logits"], name="cls")]
    m = graph_model(nodes, [helper.make_tensor_value_info("xin", TensorProto.FLOAT, [T, B, F])], ["logits", "x", "Y", "Y_h"], inits, opset=13)
    path = os.path.join(RV["tmp"], "matmul_gemm.onnx"); onnx.save(m, path)
    r = convert(path, path + ".lstm")
    xin = rng.uniform(-1, 1, (T, B, F)).astype(np.float32)
    got = ort_outputs(m, {"xin": xin})
    if r.returncode != 0:
        report("MatMul→LSTM→Gemm import", False, r.stderr.strip())
    else:
        t = rv_tool_run(path + ".lstm", got["x"], has_c=True)
        y = np.transpose(got["Y"], (0, 2, 1, 3)).reshape(T, B, H)
        report("MatMul→LSTM→Gemm import", close(t["y"], y) and "MatMul" in r.stderr and "Gemm" in r.stderr, r.stderr.strip().replace("\n", " | "))

    # Conv1d before: xin [B, C, T] → Conv → [B, I, T] → Transpose [2,0,1] → LSTM
    C = 2
    Wc = rng.uniform(-1, 1, (I, C, 3)).astype(np.float32)
    inits = rnn_inits("", "GRU", 1, I, H) + [numpy_helper.from_array(Wc, "Wc")]
    nodes = [helper.make_node("Conv", ["xin", "Wc"], ["c"], name="conv", pads=[1, 1]),
             helper.make_node("Transpose", ["c"], ["x"], name="tr", perm=[2, 0, 1]),
             helper.make_node("GRU", ["x", "W", "R", "B"], ["Y", "Y_h"], name="gru", hidden_size=H, linear_before_reset=1)]
    m = graph_model(nodes, [helper.make_tensor_value_info("xin", TensorProto.FLOAT, [B, C, T])], ["Y_h", "x", "Y"], inits)
    path = os.path.join(RV["tmp"], "conv_gru.onnx"); onnx.save(m, path)
    r = convert(path, path + ".lstm")
    got = ort_outputs(m, {"xin": rng.uniform(-1, 1, (B, C, T)).astype(np.float32)})
    if r.returncode != 0:
        report("Conv→GRU import", False, r.stderr.strip())
    else:
        t = rv_tool_run(path + ".lstm", got["x"])
        report("Conv→GRU import", close(t["hn"], got["Y_h"]) and "Conv" in r.stderr, r.stderr.strip().replace("\n", " | "))

    # two independent LSTMs: --node needed
    inits = rnn_inits("a", "LSTM", 1, I, H) + rnn_inits("b", "LSTM", 2, I, H)
    nodes = [helper.make_node("LSTM", ["x", "aW", "aR", "aB"], ["aY", "aY_h"], name="left", hidden_size=H),
             helper.make_node("LSTM", ["x", "bW", "bR", "bB"], ["bY", "bY_h"], name="right", hidden_size=H, direction="bidirectional")]
    m = graph_model(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [T, B, I])], ["aY", "bY", "aY_h", "bY_h"], inits)
    path = os.path.join(RV["tmp"], "two.onnx"); onnx.save(m, path)
    r = convert(path, path + ".lstm")
    report("two LSTMs need --node", r.returncode == 1 and "left" in r.stderr and "right" in r.stderr and "--node" in r.stderr, r.stderr.strip())
    x = rng.uniform(-1, 1, (T, B, I)).astype(np.float32)
    got = ort_outputs(m, {"x": x})
    for nm, pre, DD in (("left", "a", 1), ("right", "b", 2)):
        r = convert(path, path + ".lstm", "--node", nm)
        if r.returncode != 0:
            report(f"two LSTMs --node {nm}", False, r.stderr); continue
        t = rv_tool_run(path + ".lstm", x, has_c=True)
        y = np.transpose(got[pre + "Y"], (0, 2, 1, 3)).reshape(T, B, DD * H)
        report(f"two LSTMs --node {nm}", close(t["y"], y) and close(t["hn"], got[pre + "Y_h"]), r.stderr.strip().replace("\n", " | "))

    # 3-layer stack (bidi → forward → bidi), PyTorch glue; GRU
    for op in ("LSTM", "GRU", "RNN"):
        dirs = [("bidirectional", 2), ("forward", 1), ("bidirectional", 2)]
        inits, nodes, x_name, hs, cs = [], [], "x", [], []
        inits.append(numpy_helper.from_array(np.array([0, 0, -1], np.int64), "shp"))
        inits.append(numpy_helper.from_array(np.array([1], np.int64), "ax1"))
        in_size = I
        extra = {"linear_before_reset": 1} if op == "GRU" else {}
        for k, (dn, DD) in enumerate(dirs):
            inits += rnn_inits(f"l{k}", op, DD, in_size, H)
            outs = [f"l{k}Y", f"l{k}Yh"] + ([f"l{k}Yc"] if op == "LSTM" else [])
            nodes.append(helper.make_node(op, [x_name, f"l{k}W", f"l{k}R", f"l{k}B"], outs, name=f"layer{k}", hidden_size=H, direction=dn, **extra))
            if DD == 2:
                nodes.append(helper.make_node("Transpose", [f"l{k}Y"], [f"l{k}T"], perm=[0, 2, 1, 3], name=f"tr{k}"))
                nodes.append(helper.make_node("Reshape", [f"l{k}T", "shp"], [f"l{k}out"], name=f"rs{k}"))
            else:
                nodes.append(helper.make_node("Squeeze", [f"l{k}Y", "ax1"], [f"l{k}out"], name=f"sq{k}"))
            x_name = f"l{k}out"; hs.append(f"l{k}Yh"); in_size = DD * H
            if op == "LSTM": cs.append(f"l{k}Yc")
        nodes.append(helper.make_node("Concat", hs, ["hn"], axis=0, name="cat_h"))
        m = graph_model(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [T, B, I])], [x_name, "hn"], inits)
        path = os.path.join(RV["tmp"], f"stack3_{op}.onnx"); onnx.save(m, path)
        r = convert(path, path + ".lstm")
        got = ort_outputs(m, {"x": x})
        if r.returncode != 0:
            report(f"3-layer {op} stack", False, r.stderr.strip()); continue
        t = rv_tool_run(path + ".lstm", x, has_c=op == "LSTM")
        report(f"3-layer {op} stack", close(t["y"], got[x_name]) and close(t["hn"], got["hn"]), f"{err(t['y'], got[x_name]):.2g} {err(t['hn'], got['hn']):.2g}")

    # tf2onnx-like: batch-major input, Transpose [1,0,2] → LSTM → Squeeze(axes input) → Transpose [1,0,2] → Transpose [1,0,2] → LSTM → ...
    inits = rnn_inits("a", "LSTM", 1, I, H) + rnn_inits("b", "LSTM", 1, H, H) + [numpy_helper.from_array(np.array([1], np.int64), "ax1")]
    nodes = [helper.make_node("Transpose", ["xb"], ["x"], perm=[1, 0, 2], name="in_tr"),
             helper.make_node("LSTM", ["x", "aW", "aR", "aB"], ["aY", "aYh", "aYc"], name="lstm_a", hidden_size=H),
             helper.make_node("Squeeze", ["aY", "ax1"], ["aS"], name="sq_a"),
             helper.make_node("Transpose", ["aS"], ["aBM"], perm=[1, 0, 2], name="to_bm_a"),
             helper.make_node("Identity", ["aBM"], ["aId"], name="id"),
             helper.make_node("Transpose", ["aId"], ["bIn"], perm=[1, 0, 2], name="to_tm_b"),
             helper.make_node("LSTM", ["bIn", "bW", "bR", "bB"], ["bY", "bYh", "bYc"], name="lstm_b", hidden_size=H),
             helper.make_node("Squeeze", ["bY", "ax1"], ["bS"], name="sq_b"),
             helper.make_node("Transpose", ["bS"], ["out"], perm=[1, 0, 2], name="to_bm_b")]
    m = graph_model(nodes, [helper.make_tensor_value_info("xb", TensorProto.FLOAT, [B, T, I])], ["out", "bYh", "aYh"], inits, opset=13)
    path = os.path.join(RV["tmp"], "tf2onnx_like.onnx"); onnx.save(m, path)
    r = convert(path, path + ".lstm")
    xb = rng.uniform(-1, 1, (B, T, I)).astype(np.float32)
    got = ort_outputs(m, {"xb": xb})
    if r.returncode != 0:
        report("tf2onnx-like stack", False, r.stderr.strip())
    else:
        t = rv_tool_run(path + ".lstm", xb, batch_first=True, has_c=True)
        report("tf2onnx-like stack", close(t["y"], got["out"]) and close(t["hn"], np.concatenate([got["aYh"], got["bYh"]])) and "batch-major" in r.stderr,
               r.stderr.strip().replace("\n", " | "))

    # A Reshape between layers with fixed sizes that swap T and B (scrambles the data): must not import silently
    inits = rnn_inits("a", "LSTM", 2, I, H) + rnn_inits("b", "LSTM", 1, 2 * H, H) + [numpy_helper.from_array(np.array([B, T, 2 * H], np.int64), "bad_shape")]
    nodes = [helper.make_node("LSTM", ["x", "aW", "aR", "aB"], ["aY"], name="lstm_a", hidden_size=H, direction="bidirectional"),
             helper.make_node("Transpose", ["aY"], ["aT"], perm=[0, 2, 1, 3], name="tr"),
             helper.make_node("Reshape", ["aT", "bad_shape"], ["bIn"], name="rs_fixed"),
             helper.make_node("LSTM", ["bIn", "bW", "bR", "bB"], ["bY", "bYh"], name="lstm_b", hidden_size=H)]
    m = graph_model(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [T, B, I])], ["bY"], inits)
    path = os.path.join(RV["tmp"], "fixed_reshape.onnx"); onnx.save(m, path)
    r = convert(path, path + ".lstm")
    got = ort_outputs(m, {"x": x})
    if r.returncode != 0:
        report("fixed-size Reshape [B,T,2H] between layers refused", "rs_fixed" in r.stderr, r.stderr.strip())
    else:
        try:
            t = rv_tool_run(path + ".lstm", x, has_c=True)
            yy = np.transpose(got["bY"], (0, 2, 1, 3)).reshape(got["bY"].shape[0], got["bY"].shape[2], H)
            report("fixed-size Reshape [B,T,2H] between layers", close(t["y"], yy), f"imported; shapes tool {t['y'].shape} ort {yy.shape}")
        except Exception as e:
            report("fixed-size Reshape [B,T,2H] between layers", False, str(e)[:200])


def review_reshape_and_links():
    """Reshape between layers: fixed sizes are accepted only where they provably keep T and B."""
    T, B, I, H = 5, 3, 4, 6
    x = rng.uniform(-1, 1, (T, B, I)).astype(np.float32)
    for label, shape, static, ok_expected in (("[T,B,2H] static", [T, B, 2 * H], True, True),
                                              ("[0,B,-1]", [0, B, -1], False, True),
                                              ("[T,-1,2H] static", [T, -1, 2 * H], True, True),
                                              ("[B,T,-1] dynamic", [B, T, -1], False, False),
                                              ("[-1,T,2H] dynamic", [-1, T, 2 * H], False, False)):
        inits = rnn_inits("a", "GRU", 2, I, H) + rnn_inits("b", "GRU", 1, 2 * H, H) + [numpy_helper.from_array(np.array(shape, np.int64), "shape")]
        nodes = [helper.make_node("GRU", ["x", "aW", "aR", "aB"], ["aY"], name="gru_a", hidden_size=H, direction="bidirectional", linear_before_reset=1),
                 helper.make_node("Transpose", ["aY"], ["aT"], perm=[0, 2, 1, 3], name="tr"),
                 helper.make_node("Reshape", ["aT", "shape"], ["bIn"], name="rs"),
                 helper.make_node("GRU", ["bIn", "bW", "bR", "bB"], ["bY", "bYh"], name="gru_b", hidden_size=H, linear_before_reset=1)]
        m = graph_model(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [T, B, I] if static else ["T", "B", I])], ["bY"], inits)
        path = os.path.join(RV["tmp"], "reshape.onnx"); onnx.save(m, path)
        r = convert(path, path + ".lstm")
        if not ok_expected:
            report(f"Reshape {label} between layers refused", r.returncode == 1 and "'rs'" in r.stderr, r.stderr.strip())
            continue
        if r.returncode != 0:
            report(f"Reshape {label} between layers", False, r.stderr.strip()); continue
        got = ort_outputs(m, {"x": x})
        t = rv_tool_run(path + ".lstm", x)
        report(f"Reshape {label} between layers", close(t["y"], got["bY"][:, 0]), f"{err(t['y'], got['bY'][:, 0]):.2g}")
    # external data behind a symbolic link that leads out of the model's folder
    d = os.path.join(RV["tmp"], "ext_link"); os.makedirs(os.path.join(d, "sub"), exist_ok=True)
    base = make_node_model("RNN", T, B, I, H)
    path = os.path.join(d, "sub", "model.onnx")
    onnx.save_model(base, path, save_as_external_data=True, all_tensors_to_one_file=True, location="w.bin", size_threshold=0)
    os.replace(os.path.join(d, "sub", "w.bin"), os.path.join(d, "w.bin"))
    os.symlink(os.path.join("..", "w.bin"), os.path.join(d, "sub", "w.bin"))
    r = convert(path, os.path.join(d, "m.lstm"))
    report("external data symlink out of the folder refused", r.returncode == 1 and "symbolic link" in r.stderr and not os.path.exists(os.path.join(d, "m.lstm")), r.stderr.strip())
    # sequence_lens baked into the graph as a constant: importing without it would compute
    # something else, so it is refused (lengths are a run-time input in lstmtool).
    d = os.path.join(RV["tmp"], "const_lens"); os.makedirs(d, exist_ok=True)
    m = make_node_model("LSTM", T, B, I, H)
    m.graph.initializer.append(numpy_helper.from_array(np.full(B, 2, np.int32), "lens_c"))
    node = m.graph.node[0]
    ins = list(node.input) + [""] * (5 - len(node.input))
    ins[4] = "lens_c"
    del node.input[:]
    node.input.extend(ins)
    path = os.path.join(d, "model.onnx")
    onnx.save(m, path)
    r = convert(path, os.path.join(d, "m.lstm"))
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    report("constant sequence_lens refused", r.returncode == 1 and len(lines) == 1 and "sequence_lens" in r.stderr
           and not os.path.exists(os.path.join(d, "m.lstm")), r.stderr.strip())


ST_DT = {np.dtype(np.float32): "F32", np.dtype(np.float16): "F16", np.dtype(np.float64): "F64"}


def write_st(path, tensors, metadata=None, header=None, tail=b""):
    if header is None:
        h, off, blobs = {}, 0, []
        if metadata:
            h["__metadata__"] = metadata
        for k, a in tensors.items():
            b = np.ascontiguousarray(a).tobytes()
            h[k] = {"dtype": ST_DT[a.dtype], "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
            off += len(b); blobs.append(b)
        header = json.dumps(h).encode()
        data = b"".join(blobs)
    else:
        data = b"".join(np.ascontiguousarray(a).tobytes() for a in tensors.values())
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(header)) + header + data + tail)


def read_st(path):
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    h = json.loads(raw[8:8 + n])
    out = {}
    for k, v in h.items():
        if k == "__metadata__":
            continue
        b, e = v["data_offsets"]
        out[k] = (v["dtype"], v["shape"], raw[8 + n + b:8 + n + e])
    return out, h.get("__metadata__")


def torch_state(cell, L, I, H, bidi, bias=True, proj=0, prefix="", dtype=np.float32):
    G = {"lstm": 4, "gru": 3, "rnn": 1}[cell]
    sd = {}
    Hout = proj or H
    for k in range(L):
        for suf in ([""] + (["_reverse"] if bidi else [])):
            inp = I if k == 0 else (2 if bidi else 1) * Hout
            sd[f"{prefix}weight_ih_l{k}{suf}"] = (rng.uniform(-.5, .5, (G * H, inp)) * np.repeat(np.arange(1, G + 1), H)[:, None]).astype(dtype)
            sd[f"{prefix}weight_hh_l{k}{suf}"] = (rng.uniform(-.5, .5, (G * H, Hout)) * np.repeat(np.arange(1, G + 1), H)[:, None]).astype(dtype)
            if bias:
                sd[f"{prefix}bias_ih_l{k}{suf}"] = (rng.uniform(-.5, .5, G * H) * np.repeat(np.arange(1, G + 1), H)).astype(dtype)
                sd[f"{prefix}bias_hh_l{k}{suf}"] = (rng.uniform(-.5, .5, G * H) * np.repeat(np.arange(1, G + 1), H)).astype(dtype)
            if proj:
                sd[f"{prefix}weight_hr_l{k}{suf}"] = rng.uniform(-.5, .5, (proj, H)).astype(dtype)
    return sd


def torch_to_onnx_graph(sd, cell, L, I, H, bidi, prefix="", nonlin="tanh"):
    """The same network as an ONNX graph, gate blocks moved by hand (independent of lstmtool)."""
    op = {"lstm": "LSTM", "gru": "GRU", "rnn": "RNN"}[cell]
    perm = {"lstm": [0, 3, 1, 2], "gru": [1, 0, 2], "rnn": [0]}[cell]
    G = len(perm)
    def re(a):
        blocks = np.split(a, G, axis=0)
        return np.concatenate([blocks[p] for p in perm], axis=0)
    nodes, inits, x_name, hs = [], [numpy_helper.from_array(np.array([0, 0, -1], np.int64), "shp")], "x", []
    D = 2 if bidi else 1
    for k in range(L):
        sufs = [""] + (["_reverse"] if bidi else [])
        W = np.stack([re(sd[f"{prefix}weight_ih_l{k}{s}"]) for s in sufs]).astype(np.float32)
        R = np.stack([re(sd[f"{prefix}weight_hh_l{k}{s}"]) for s in sufs]).astype(np.float32)
        ins = [x_name, f"W{k}", f"R{k}"]
        inits += [numpy_helper.from_array(W, f"W{k}"), numpy_helper.from_array(R, f"R{k}")]
        if f"{prefix}bias_ih_l{k}" in sd:
            Bb = np.stack([np.concatenate([re(sd[f"{prefix}bias_ih_l{k}{s}"]), re(sd[f"{prefix}bias_hh_l{k}{s}"])]) for s in sufs]).astype(np.float32)
            inits.append(numpy_helper.from_array(Bb, f"B{k}")); ins.append(f"B{k}")
        attrs = {"hidden_size": H, "direction": "bidirectional" if bidi else "forward"}
        if cell == "gru": attrs["linear_before_reset"] = 1
        if cell == "rnn": attrs["activations"] = ["Relu" if nonlin == "relu" else "Tanh"] * D
        nodes.append(helper.make_node(op, ins, [f"Y{k}", f"Yh{k}"], name=f"n{k}", **attrs))
        nodes.append(helper.make_node("Transpose", [f"Y{k}"], [f"T{k}"], perm=[0, 2, 1, 3]))
        nodes.append(helper.make_node("Reshape", [f"T{k}", "shp"], [f"out{k}"]))
        x_name = f"out{k}"; hs.append(f"Yh{k}")
    nodes.append(helper.make_node("Concat", hs, ["hn"], axis=0))
    return graph_model(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, None, I])], [x_name, "hn"], inits)


def one_error(r, path_untouched=None, before=None, words=()):
    lines = [ln for ln in r.stderr.strip().splitlines() if ln.startswith("error:")]
    ok = r.returncode == 1 and len(lines) == 1 and lines[0].startswith("error:") and all(w in lines[0] for w in words)
    if path_untouched is not None:
        ok = ok and open(path_untouched, "rb").read() == before
    return ok, (lines[0] if lines else "")


def review_safetensors():
    T, B, I, H = 5, 3, 4, 6
    d = os.path.join(RV["tmp"], "st"); os.makedirs(d, exist_ok=True)
    x = rng.uniform(-1, 1, (T, B, I)).astype(np.float32)
    for cell, L, bidi, bias, nonlin in (("lstm", 2, True, True, None), ("gru", 3, True, True, None), ("gru", 1, False, False, None),
                                        ("rnn", 2, True, True, "relu"), ("lstm", 1, False, False, None)):
        sd = torch_state(cell, L, I, H, bidi, bias=bias)
        src = os.path.join(d, f"{cell}_{L}_{bidi}_{bias}.safetensors")
        write_st(src, sd)
        args = ["--nonlinearity", nonlin] if nonlin else []
        r = convert(src, src + ".lstm", *args)
        name = f"safetensors {cell} L={L} bidi={bidi} bias={bias}"
        if r.returncode != 0:
            report(name, False, r.stderr.strip()); continue
        m = torch_to_onnx_graph(sd, cell, L, I, H, bidi, nonlin=nonlin or "tanh")
        got = ort_outputs(m, {"x": x})
        t = rv_tool_run(src + ".lstm", x, has_c=cell == "lstm")
        report(name + " vs onnxruntime", close(t["y"], got[f"out{L-1}"]) and close(t["hn"], got["hn"]), f"{err(t['y'], got[f'out{L-1}']):.2g}")
        back = src + ".back.safetensors"
        r = convert(src + ".lstm", back)
        if r.returncode != 0:
            report(name + " round trip", False, r.stderr.strip()); continue
        a, _ = read_st(src); b, meta = read_st(back)
        report(name + " round trip bit-exact", list(a) == list(b) and all(a[k] == b[k] for k in a), f"meta {meta}")
    # proj_size, with prefix and a second module
    sd = torch_state("lstm", 2, I, H, True, proj=3, prefix="encoder.rnn.")
    sd2 = torch_state("gru", 1, I, H, False, prefix="decoder.gru.")
    other = {"classifier.weight": rng.uniform(-1, 1, (2, 6)).astype(np.float32)}
    src = os.path.join(d, "multi.safetensors")
    write_st(src, {**sd, **sd2, **other})
    out = os.path.join(d, "multi.lstm")
    open(out, "wb").write(b"keep me")
    r = convert(src, out, keep=True)
    ok, line = one_error(r, out, b"keep me", ("encoder.rnn.", "decoder.gru.", "--prefix"))
    report("safetensors two modules no prefix: error lists both", ok, line)
    r = convert(src, out, "--prefix", "encoder.rnn")
    ok = r.returncode == 0
    if ok:
        r2 = convert(out, out + ".back.safetensors")
        a, _ = read_st(src); b, _ = read_st(out + ".back.safetensors")
        ok = r2.returncode == 0 and set(b) == {k[len("encoder.rnn."):] for k in sd} and all(a["encoder.rnn." + k] == b[k] for k in b)
    report("safetensors --prefix encoder.rnn proj_size round trip", ok, r.stderr.strip().replace("\n", " | "))
    r = convert(src, out, "--prefix", "decoder.gru.")
    report("safetensors --prefix decoder.gru.", r.returncode == 0, r.stderr.strip().replace("\n", " | "))
    r = convert(src, out + ".onnx", "--prefix", "encoder.rnn.")
    ok, line = one_error(r, words=("projection",))
    report("safetensors proj → onnx refused", ok and not os.path.exists(out + ".onnx"), line)
    # bad files
    good = torch_state("lstm", 1, I, H, False)
    bad_cases = []
    p = os.path.join(d, "overrun.safetensors"); write_st(p, good)
    raw = bytearray(open(p, "rb").read()); raw[0:8] = struct.pack("<Q", len(raw)); open(p, "wb").write(raw)
    bad_cases.append(("header overruns the file", p, ("overruns",)))
    hdr = {}
    off = 0
    for k, a in good.items():
        hdr[k] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [off, off + a.nbytes]}; off += a.nbytes
    k0, k1 = list(good)[:2]
    # overlapping: second tensor starts 4 bytes before the first ends (shapes unchanged)
    h2 = json.loads(json.dumps(hdr))
    s0, e0 = h2[k1]["data_offsets"]; h2[k1]["data_offsets"] = [s0 - 4, e0 - 4]
    p = os.path.join(d, "overlap.safetensors"); write_st(p, good, header=json.dumps(h2).encode(), tail=b"")
    bad_cases.append(("overlapping data_offsets", p, ("data_offsets",)))
    text = json.dumps(hdr)
    dup = text[:-1] + ", " + json.dumps(k0) + ": " + json.dumps(hdr[k0]) + "}"
    p = os.path.join(d, "dup.safetensors"); write_st(p, good, header=dup.encode())
    bad_cases.append(("duplicate key", p, (k0,)))
    p = os.path.join(d, "nonutf8.safetensors")
    h3 = json.loads(text); h3["__metadata__"] = {"x": "\u00e9"}
    write_st(p, good, header=json.dumps(h3, ensure_ascii=False).encode().replace("\u00e9".encode(), b"\xe9"))
    bad_cases.append(("non-UTF-8 header", p, ("UTF-8",)))
    p = os.path.join(d, "trunc.safetensors"); write_st(p, good); raw = open(p, "rb").read(); open(p, "wb").write(raw[:-5])
    bad_cases.append(("truncated data", p, ()))
    p = os.path.join(d, "shape.safetensors"); g2 = dict(good); g2["weight_hh_l0"] = good["weight_hh_l0"][:, :-1].copy(); write_st(p, g2)
    bad_cases.append(("wrong shape", p, ("weight_hh_l0",)))
    p = os.path.join(d, "shape2.safetensors"); g2 = dict(good); g2["bias_hh_l0"] = good["bias_hh_l0"][:-1].copy(); write_st(p, g2)
    bad_cases.append(("wrong bias shape", p, ("bias_hh_l0",)))
    for label, p, words in bad_cases:
        out = os.path.join(d, "out.lstm"); open(out, "wb").write(b"untouched")
        r = convert(p, out, keep=True)
        ok, line = one_error(r, out, b"untouched", words)
        report(f"safetensors {label}", ok, line)


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
        review_matrix(tmp)
    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
