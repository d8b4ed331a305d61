#!/usr/bin/env python3
"""Regenerate the golden reference data under fixtures/golden/.

    python3 tools/make_goldens.py            # all cases
    python3 tools/make_goldens.py CASE ...   # only the named cases

Deterministic: every case draws its numbers from its own fixed seed. For each case the
script builds a canonical lstmtool model (docs/JSON_FORM.md), writes it as model.json,
evaluates it with the independent NumPy reference (tools/reference_numpy.py, float64,
reading model.json back from disk) and, where ONNX can express the case, also builds the
equivalent ONNX graph (model.onnx, opset 17, layout 0), runs it in onnxruntime (CPU, float32)
and fails loudly unless NumPy float64 and onnxruntime agree within 1e-5.

Expected outputs: f32 = onnxruntime float32 where ORT can run the case, otherwise the NumPy
float64 result; f64 = NumPy float64 always. See fixtures/golden/README.md.
Requirements: tools/requirements-goldens.txt (numpy, onnx, onnxruntime).
"""
import json
import os
import shutil
import sys
import zlib

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import reference_numpy as ref  # noqa: E402

REPO = os.path.dirname(HERE)
OUT = os.path.join(REPO, "fixtures", "golden")
OPSET = 17
IR_VERSION = 8
CROSS_TOL = 1e-5          # |numpy f64 - onnxruntime f32| allowed inside the generator
F32_TOL = (1e-5, 1e-4)    # atol, rtol for the f32 expectation
F64_TOL = (1e-10, 1e-10)  # atol, rtol for the f64 expectation

VERSIONS = {"numpy": np.__version__, "onnx": onnx.__version__, "onnxruntime": ort.__version__}
REF_ORT = f"onnxruntime {ort.__version__} (CPU, float32)"
REF_NP64 = f"numpy {np.__version__} float64 (tools/reference_numpy.py)"

GATES = {"rnn": 1, "lstm": 4, "gru": 3}
DEFAULT_ACTS = {"lstm": ["sigmoid", "tanh", "tanh"], "gru": ["sigmoid", "tanh"], "rnn": ["tanh"]}
# kind -> (ONNX name, takes alpha, takes beta)   (onnxruntime rnn_helpers.cc NameToArgUsageMap)
ONNX_ACT = {
    "sigmoid": ("Sigmoid", False, False), "tanh": ("Tanh", False, False), "relu": ("Relu", False, False),
    "affine": ("Affine", True, True), "leaky_relu": ("LeakyRelu", True, False),
    "thresholded_relu": ("ThresholdedRelu", True, False), "scaled_tanh": ("ScaledTanh", True, True),
    "hard_sigmoid": ("HardSigmoid", True, True), "elu": ("Elu", True, False),
    "softsign": ("Softsign", False, False), "softplus": ("Softplus", False, False),
}
NP_DT = {"float32": np.float32, "float16": np.float16, "float64": np.float64}


def f32(v):
    return float(np.float32(v))


# --------------------------------------------------------------------------------------
# Canonical model construction
# --------------------------------------------------------------------------------------

# onnxruntime's defaults (rnn_helpers.cc NameToArgDefaultsMap; everything else 0)
ACT_DEFAULTS = {"leaky_relu": (0.01, 0.0), "hard_sigmoid": (0.2, 0.5), "elu": (1.0, 0.0)}


def act(kind, alpha=None, beta=None):
    """An activation as (kind, alpha, beta); parameters are float32 values (as ONNX stores them).
    Parameters a kind does not take are 0 (onnxruntime's value for them)."""
    takes_a, takes_b = ONNX_ACT[kind][1:]
    da, db = ACT_DEFAULTS.get(kind, (0.0, 0.0))
    a = (da if alpha is None else alpha) if takes_a else 0.0
    b = (db if beta is None else beta) if takes_b else 0.0
    return (kind, f32(a), f32(b))


def make_layer(rng, cell, I, H, direction="forward", bias=True, peepholes=(), coupled=False,
               proj=None, acts=None, activation_clip=None, cell_clip=None, projection_clip=None,
               reset_after=None, initial_state=False, dtype="float32",
               sx=1.6, sh=1.0, sb=0.6, sp=0.7, zero_weights=False):
    """Random canonical layer. Gate block k is scaled by (1 + 0.25 k) so that any wrong
    gate permutation changes the result."""
    passes = ["forward", "reverse"] if direction == "bidirectional" else [direction]
    G = GATES[cell] - (1 if coupled else 0)
    P = proj or H
    if acts is None:
        acts = [[act(k) for k in DEFAULT_ACTS[cell]] for _ in passes]
    scale = np.repeat(1.0 + 0.25 * np.arange(G), H)[:, None]
    tensors = {}
    for p in passes:
        t = {}
        t["W_x"] = rng.uniform(-1, 1, (G * H, I)) * sx / np.sqrt(I) * scale
        t["W_h"] = rng.uniform(-1, 1, (G * H, P)) * sh / np.sqrt(P) * scale
        if zero_weights:
            t["W_x"] = np.zeros_like(t["W_x"])
            t["W_h"] = np.zeros_like(t["W_h"])
        if bias:
            t["b_x"] = rng.uniform(-1, 1, G * H) * sb * scale[:, 0]
            t["b_h"] = rng.uniform(-1, 1, G * H) * sb * scale[:, 0]
        for g in ("input", "forget", "output"):
            if g in peepholes:
                t["p_" + g[0]] = rng.uniform(-1, 1, H) * sp
        if proj:
            t["W_proj"] = rng.uniform(-1, 1, (P, H)) * 1.2 / np.sqrt(H)
        if initial_state:
            t["h0"] = rng.uniform(-0.8, 0.8, P)
            if cell == "lstm":
                t["c0"] = rng.uniform(-1.5, 1.5, H)
        tensors[p] = {k: v.astype(NP_DT[dtype]) for k, v in t.items()}
    return {
        "cell": cell, "input_size": I, "hidden_size": H, "direction": direction, "bias": bias,
        "activations": acts, "peepholes": [g for g in ("input", "forget", "output") if g in peepholes],
        "coupled": coupled, "projection_size": proj,
        "activation_clip": None if activation_clip is None else f32(activation_clip),
        "cell_clip": None if cell_clip is None else f32(cell_clip),
        "projection_clip": None if projection_clip is None else f32(projection_clip),
        "reset_after": reset_after, "initial_state": initial_state, "dtype": dtype,
        "passes": passes, "tensors": tensors,
    }


def layer_out(layer):
    return len(layer["passes"]) * (layer["projection_size"] or layer["hidden_size"])


# --------------------------------------------------------------------------------------
# JSON writer
# --------------------------------------------------------------------------------------

ROLE_ORDER = ["W_x", "W_h", "b_x", "b_h", "p_i", "p_f", "p_o", "W_proj", "h0", "c0"]


def tensor_json(arr, dtype):
    a = np.asarray(arr).astype(NP_DT[dtype])
    return {"dtype": dtype, "shape": list(a.shape), "values": [float(v) for v in a.ravel()]}


def act_json(a):
    kind, alpha, beta = a
    return {"kind": kind, "alpha": alpha, "beta": beta}   # always explicit


def model_json(name, description, layers, source="synthetic (tools/make_goldens.py)"):
    out = []
    for L in layers:
        j = {"cell": L["cell"], "input_size": L["input_size"], "hidden_size": L["hidden_size"],
             "direction": L["direction"], "bias": L["bias"],
             "activations": [[act_json(a) for a in lst] for lst in L["activations"]]}
        if L["cell"] == "lstm":
            j["peepholes"] = L["peepholes"]
            j["coupled"] = L["coupled"]
            j["projection_size"] = L["projection_size"]
        j["activation_clip"] = L["activation_clip"]
        if L["cell"] == "lstm":
            j["cell_clip"] = L["cell_clip"]
            j["projection_clip"] = L["projection_clip"]
        if L["cell"] == "gru":
            j["reset_after"] = bool(L["reset_after"])
        j["initial_state"] = L["initial_state"]
        j["tensors"] = {p: {r: tensor_json(L["tensors"][p][r], L["dtype"])
                            for r in ROLE_ORDER if r in L["tensors"][p]} for p in L["passes"]}
        out.append(j)
    return {"format": "lstmtool-json", "format_version": "1.0",
            "metadata": {"name": name, "description": description,
                         "producer_name": "tools/make_goldens.py", "source_framework": source},
            "layers": out}


def to_json(obj, indent=0):
    """Indented JSON with lists of numbers/strings and small objects kept on one line."""
    pad, pad1 = " " * indent, " " * (indent + 2)
    if isinstance(obj, dict):
        if not obj:
            return "{}"
        if all(not isinstance(v, (dict, list)) for v in obj.values()) and len(obj) <= 3:
            return json.dumps(obj)
        items = [f"{pad1}{json.dumps(k)}: {to_json(v, indent + 2)}" for k, v in obj.items()]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(obj, list):
        if all(not isinstance(v, (dict, list)) for v in obj) or \
                all(isinstance(v, dict) and all(not isinstance(w, (dict, list)) for w in v.values())
                    and len(v) <= 3 for v in obj):
            return "[" + ", ".join(to_json(v) for v in obj) + "]"
        return "[\n" + ",\n".join(pad1 + to_json(v, indent + 2) for v in obj) + "\n" + pad + "]"
    return json.dumps(obj, allow_nan=False)


def dump_json(obj, path):
    text = to_json(obj)
    if json.loads(text) != obj:
        raise AssertionError(f"JSON writer does not round-trip for {path}")
    with open(path, "w") as f:
        f.write(text + "\n")


# --------------------------------------------------------------------------------------
# ONNX export of a canonical model (one node per layer, PyTorch-style reshapes between)
# --------------------------------------------------------------------------------------

def onnx_node_tensors(L, rng_garbage):
    """Return W, R, B, P (P may be None) for one layer, float32, in ONNX layout and gate order."""
    H = L["hidden_size"]
    Ws, Rs, Bs, Ps = [], [], [], []
    for p in L["passes"]:
        t = {k: v.astype(np.float32) for k, v in L["tensors"][p].items()}
        G = GATES[L["cell"]] - (1 if L["coupled"] else 0)
        bx = t.get("b_x", np.zeros(G * H, np.float32))
        bh = t.get("b_h", np.zeros(G * H, np.float32))
        blk = lambda a, k: a[k * H:(k + 1) * H]
        if L["cell"] == "lstm":
            zero = np.zeros(H, np.float32)
            if L["coupled"]:
                # canonical f, g, o; ONNX input_forget keeps the INPUT gate: i = sigma(-a_f)
                garb = lambda shape: rng_garbage.uniform(-3, 3, shape).astype(np.float32)
                W = np.concatenate([-blk(t["W_x"], 0), blk(t["W_x"], 2), garb((H, L["input_size"])), blk(t["W_x"], 1)])
                R = np.concatenate([-blk(t["W_h"], 0), blk(t["W_h"], 2), garb((H, H)), blk(t["W_h"], 1)])
                Bb = np.concatenate([-blk(bx, 0), blk(bx, 2), garb(H), blk(bx, 1),
                                     -blk(bh, 0), blk(bh, 2), garb(H), blk(bh, 1)])
                Pp = np.concatenate([-t["p_f"] if "p_f" in t else zero, t.get("p_o", zero), garb(H)])
            else:
                order = [0, 3, 1, 2]  # ONNX i, o, f, c  <- canonical i, f, g, o
                W = np.concatenate([blk(t["W_x"], k) for k in order])
                R = np.concatenate([blk(t["W_h"], k) for k in order])
                Bb = np.concatenate([blk(bx, k) for k in order] + [blk(bh, k) for k in order])
                Pp = np.concatenate([t.get("p_i", zero), t.get("p_o", zero), t.get("p_f", zero)])
            Ps.append(Pp)
        else:  # GRU z, r, n == ONNX z, r, h ; RNN one block
            W, R, Bb = t["W_x"], t["W_h"], np.concatenate([bx, bh])
        Ws.append(W)
        Rs.append(R)
        Bs.append(Bb)
    P = np.stack(Ps) if (L["cell"] == "lstm" and (L["peepholes"] or L["coupled"])) else None
    return np.stack(Ws), np.stack(Rs), np.stack(Bs), P


def onnx_attrs(L):
    at = {"hidden_size": L["hidden_size"], "direction": L["direction"], "layout": 0}
    acts = [a for lst in L["activations"] for a in lst]
    default = all([a[0] for a in lst] == DEFAULT_ACTS[L["cell"]] for lst in L["activations"])
    if not default:
        at["activations"] = [ONNX_ACT[a[0]][0] for a in acts]
        # onnxruntime packs the lists: one value per activation that takes the parameter
        alphas = [a[1] for a in acts if ONNX_ACT[a[0]][1]]
        betas = [a[2] for a in acts if ONNX_ACT[a[0]][2]]
        if alphas:
            at["activation_alpha"] = alphas
        if betas:
            at["activation_beta"] = betas
    if L["activation_clip"] is not None:
        at["clip"] = L["activation_clip"]
    if L["cell"] == "lstm" and L["coupled"]:
        at["input_forget"] = 1
    if L["cell"] == "gru":
        at["linear_before_reset"] = 1 if L["reset_after"] else 0
    return at


def onnx_expressible(layers):
    for L in layers:
        if L["cell"] == "lstm" and (L["projection_size"] or L["cell_clip"] is not None
                                    or L["projection_clip"] is not None):
            return False
        if L["initial_state"]:
            return False
    return True


def build_onnx(layers, T, B, has_h0, has_c0, has_lens, batch_first, seed):
    rng_garbage = np.random.default_rng(seed + 7)
    inits, nodes = [], []
    I = layers[0]["input_size"]
    LD = sum(len(L["passes"]) for L in layers)
    H = layers[0]["hidden_size"]
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, [B, T, I] if batch_first else [T, B, I])]
    if has_lens:
        inputs.append(helper.make_tensor_value_info("sequence_lens", TensorProto.INT32, [B]))
    if has_h0:
        inputs.append(helper.make_tensor_value_info("h0", TensorProto.FLOAT, [LD, B, H]))
    if has_c0:
        inputs.append(helper.make_tensor_value_info("c0", TensorProto.FLOAT, [LD, B, H]))
    cur = "x"
    if batch_first:
        nodes.append(helper.make_node("Transpose", ["x"], ["x_tm"], perm=[1, 0, 2]))
        cur = "x_tm"
    inits.append(numpy_helper.from_array(np.array([0, 0, -1], np.int64), "shape_tb_"))
    yh, yc = [], []
    idx = 0
    for k, L in enumerate(layers):
        D = len(L["passes"])
        W, R, Bb, P = onnx_node_tensors(L, rng_garbage)
        for nm, arr in (("W", W), ("R", R), ("B", Bb), ("P", P)):
            if arr is not None:
                inits.append(numpy_helper.from_array(arr.astype(np.float32), f"{nm}_{k}"))

        def state(name):
            if len(layers) == 1:
                return name
            sl = f"{name}_{k}"
            inits.append(numpy_helper.from_array(np.array([idx], np.int64), f"{sl}_start"))
            inits.append(numpy_helper.from_array(np.array([idx + D], np.int64), f"{sl}_end"))
            inits.append(numpy_helper.from_array(np.array([0], np.int64), f"{sl}_axes"))
            nodes.append(helper.make_node("Slice", [name, f"{sl}_start", f"{sl}_end", f"{sl}_axes"], [sl]))
            return sl

        ins = [cur, f"W_{k}", f"R_{k}", f"B_{k}", "sequence_lens" if has_lens else "",
               state("h0") if has_h0 else ""]
        if L["cell"] == "lstm":
            ins += [state("c0") if has_c0 else "", f"P_{k}" if P is not None else ""]
        while ins[-1] == "":
            ins.pop()
        outs = [f"Y_{k}", f"Yh_{k}"] + ([f"Yc_{k}"] if L["cell"] == "lstm" else [])
        op = {"lstm": "LSTM", "gru": "GRU", "rnn": "RNN"}[L["cell"]]
        nodes.append(helper.make_node(op, ins, outs, name=f"{op.lower()}_{k}", **onnx_attrs(L)))
        # Y [T, D, B, H] -> [T, B, D, H] -> [T, B, D*H]
        nodes.append(helper.make_node("Transpose", [f"Y_{k}"], [f"Yt_{k}"], perm=[0, 2, 1, 3]))
        nodes.append(helper.make_node("Reshape", [f"Yt_{k}", "shape_tb_"], [f"Yr_{k}"]))
        cur = f"Yr_{k}"
        yh.append(f"Yh_{k}")
        yc.append(f"Yc_{k}")
        idx += D
    if batch_first:
        nodes.append(helper.make_node("Transpose", [cur], ["y"], perm=[1, 0, 2]))
    else:
        nodes.append(helper.make_node("Identity", [cur], ["y"]))
    nodes.append(helper.make_node("Concat", yh, ["hn"], axis=0) if len(yh) > 1 else
                 helper.make_node("Identity", yh, ["hn"]))
    DP = layer_out(layers[-1])
    outputs = [helper.make_tensor_value_info("y", TensorProto.FLOAT, [B, T, DP] if batch_first else [T, B, DP]),
               helper.make_tensor_value_info("hn", TensorProto.FLOAT, [LD, B, H])]
    if all(L["cell"] == "lstm" for L in layers):
        nodes.append(helper.make_node("Concat", yc, ["cn"], axis=0) if len(yc) > 1 else
                     helper.make_node("Identity", yc, ["cn"]))
        outputs.append(helper.make_tensor_value_info("cn", TensorProto.FLOAT, [LD, B, H]))
    graph = helper.make_graph(nodes, "lstmtool_golden", inputs, outputs, initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="lstmtool tools/make_goldens.py")
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model, full_check=True)
    return model


def run_ort(model, x, h0, c0, lens):
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    feed = {"x": x.astype(np.float32)}
    if lens is not None:
        feed["sequence_lens"] = lens.astype(np.int32)
    if h0 is not None:
        feed["h0"] = h0.astype(np.float32)
    if c0 is not None:
        feed["c0"] = c0.astype(np.float32)
    names = [o.name for o in sess.get_outputs()]
    res = sess.run(names, feed)
    return dict(zip(names, res))


# --------------------------------------------------------------------------------------
# Cases
# --------------------------------------------------------------------------------------

CASES = []


def case(fn):
    CASES.append(fn)
    return fn


def seed_of(name):
    return zlib.crc32(name.encode()) & 0x7FFFFFFF


def inputs(rng, T, B, I, layers=None, h0=False, c0=False, lens=None, xs=1.2):
    x = (rng.standard_normal((T, B, I)) * xs).astype(np.float32)
    d = {"x": x, "lens": None if lens is None else np.asarray(lens, np.int32)}
    if layers is not None:
        LD = sum(len(L["passes"]) for L in layers)
        P = layers[0]["projection_size"] or layers[0]["hidden_size"]
        H = layers[0]["hidden_size"]
        d["h0"] = rng.uniform(-0.9, 0.9, (LD, B, P)).astype(np.float32) if h0 else None
        d["c0"] = rng.uniform(-1.5, 1.5, (LD, B, H)).astype(np.float32) if c0 else None
    else:
        d["h0"] = d["c0"] = None
    return d


def spec(desc, layers, inp, batch_first=False, clip_check=None):
    return {"description": desc, "layers": layers, "inputs": inp, "batch_first": batch_first,
            "clip_check": clip_check}


@case
def rnn_tanh(rng):
    T, B, I, H = 7, 3, 5, 4
    L = [make_layer(rng, "rnn", I, H, sx=2.4, sh=0.9)]
    return spec("Elman RNN, tanh, forward, biases, no initial state (zeros).", L,
                inputs(rng, T, B, I, L))


@case
def rnn_relu(rng):
    T, B, I, H = 8, 3, 4, 6
    L = [make_layer(rng, "rnn", I, H, acts=[[act("relu")]], sh=0.8)]
    return spec("Elman RNN, relu, forward, initial h given.", L, inputs(rng, T, B, I, L, h0=True))


@case
def rnn_reverse(rng):
    T, B, I, H = 6, 4, 3, 5
    L = [make_layer(rng, "rnn", I, H, direction="reverse", sh=0.9)]
    return spec("Elman RNN, tanh, direction reverse (D=1; Y time-aligned, hn = state after x_0), "
                "initial h given.", L, inputs(rng, T, B, I, L, h0=True))


@case
def lstm(rng):
    T, B, I, H = 7, 3, 5, 4
    L = [make_layer(rng, "lstm", I, H)]
    return spec("Plain LSTM (gate blocks i,f,g,o scaled differently), forward, biases, "
                "no initial state.", L, inputs(rng, T, B, I, L))


@case
def lstm_peephole_all(rng):
    T, B, I, H = 8, 3, 4, 6
    L = [make_layer(rng, "lstm", I, H, peepholes=("input", "forget", "output"), sp=1.0)]
    return spec("LSTM with three distinct peephole vectors p_i, p_f (see c_{t-1}) and p_o (sees c_t); "
                "initial h and c given so the first step's peepholes matter.", L,
                inputs(rng, T, B, I, L, h0=True, c0=True))


@case
def lstm_peephole_subset(rng):
    T, B, I, H = 6, 4, 5, 3
    L = [make_layer(rng, "lstm", I, H, peepholes=("forget", "output"), sp=1.0)]
    return spec("LSTM with forget and output peepholes only (no p_i tensor; ONNX P_i entries zero).", L,
                inputs(rng, T, B, I, L, h0=True, c0=True))


@case
def lstm_coupled(rng):
    T, B, I, H = 7, 3, 4, 5
    L = [make_layer(rng, "lstm", I, H, coupled=True, peepholes=("forget", "output"), sp=1.0)]
    return spec("Coupled LSTM (forget gate kept, i = 1 - f; blocks f, g, o) with forget and output "
                "peepholes. ONNX: input_forget=1 with the input-gate block = canonical forget block "
                "negated (W, R, both biases, P_i = -p_f) and a garbage forget block in W/R/B/P that "
                "onnxruntime must ignore.", L, inputs(rng, T, B, I, L, h0=True, c0=True))


@case
def lstm_projection(rng):
    T, B, I, H, P = 6, 3, 4, 7, 5
    L = [make_layer(rng, "lstm", I, H, direction="bidirectional", proj=P,
                    peepholes=("input", "forget", "output"))]
    return spec("LSTMP: bidirectional LSTM with a projection (H=7 -> P=5, h_t = W_proj (o * tanh c_t), "
                "W_h is [4H, P]) and all three peepholes; initial states given. NumPy only "
                "(ONNX cannot express projections).", L, inputs(rng, T, B, I, L, h0=True, c0=True))


@case
def lstm_cell_clip(rng):
    T, B, I, H = 9, 3, 5, 4
    L = [make_layer(rng, "lstm", I, H, peepholes=("input", "forget", "output"), cell_clip=0.75,
                    sb=1.2)]
    return spec("LSTM with cell-state clip 0.75 (c_t clipped right after the update; the clipped "
                "value is the state, and feeds the output peephole and tanh) and all peepholes. "
                "NumPy only (ONNX clip is a different function).", L,
                inputs(rng, T, B, I, L, h0=True, c0=True), clip_check=["cell_clip"])


@case
def lstm_projection_clip(rng):
    T, B, I, H, P = 7, 4, 3, 6, 2
    L = [make_layer(rng, "lstm", I, H, proj=P, projection_clip=0.25)]
    return spec("LSTM with projection (H=6 -> P=2) and projection clip 0.25 (clips h_t after the "
                "projection; the clipped value is fed back). NumPy only.", L,
                inputs(rng, T, B, I, L), clip_check=["projection_clip"])


@case
def gru_reset_before(rng):
    T, B, I, H = 7, 3, 5, 4
    L = [make_layer(rng, "gru", I, H, reset_after=False, sb=0.9)]
    return spec("GRU reset-before (Cho et al.; ONNX linear_before_reset=0): n = tanh(W_n x + b_xn + "
                "W_hn (r*h) + b_hn); non-zero b_hn and non-zero initial h.", L,
                inputs(rng, T, B, I, L, h0=True))


@case
def gru_reset_after(rng):
    T, B, I, H = 6, 4, 3, 5
    L = [make_layer(rng, "gru", I, H, reset_after=True, sb=0.9)]
    return spec("GRU reset-after (cuDNN/PyTorch; ONNX linear_before_reset=1): n = tanh(W_n x + b_xn + "
                "r*(W_hn h + b_hn)); non-zero b_hn and initial h.", L, inputs(rng, T, B, I, L, h0=True))


@case
def lstm_2l_bidirectional(rng):
    T, B, I, H = 6, 3, 5, 4
    L = [make_layer(rng, "lstm", I, H, direction="bidirectional"),
         make_layer(rng, "lstm", 2 * H, H, direction="bidirectional")]
    return spec("Two stacked bidirectional LSTM layers (layer 1 input = layer 0's [forward|reverse] "
                "output); initial states [L*D, B, H] layer-major direction-minor.", L,
                inputs(rng, T, B, I, L, h0=True, c0=True))


@case
def gru_2l_bidirectional(rng):
    T, B, I, H = 7, 4, 3, 5
    L = [make_layer(rng, "gru", I, H, direction="bidirectional", reset_after=True),
         make_layer(rng, "gru", 2 * H, H, direction="bidirectional", reset_after=True)]
    return spec("Two stacked bidirectional reset-after GRU layers, initial h given.", L,
                inputs(rng, T, B, I, L, h0=True))


@case
def lstm_sequence_lengths(rng):
    T, B, I, H = 8, 4, 3, 5
    L = [make_layer(rng, "lstm", I, H, direction="bidirectional")]
    return spec("Bidirectional LSTM with sequence lengths [8, 1, 5, 3] (T and 1 included): Y zero past "
                "each length, hn/cn at each sequence's last valid step; the reverse pass starts at each "
                "sequence's own last element. Initial states given.", L,
                inputs(rng, T, B, I, L, h0=True, c0=True, lens=[8, 1, 5, 3]))


@case
def lstm_sequence_length_zero(rng):
    T, B, I, H = 5, 3, 4, 6
    L = [make_layer(rng, "lstm", I, H, direction="bidirectional"),
         make_layer(rng, "lstm", 2 * H, H, direction="bidirectional")]
    return spec("Two-layer bidirectional LSTM with lengths [5, 0, 2]: the length-0 sequence gives Y = 0 "
                "and final states = the given initial states (lstmtool decision; onnxruntime would "
                "return zeros, so NumPy only - the other rows and all of Y were cross-checked with "
                "onnxruntime).", L, inputs(rng, T, B, I, L, h0=True, c0=True, lens=[5, 0, 2]))


@case
def lstm_initial_states(rng):
    T, B, I, H = 5, 4, 6, 3
    L = [make_layer(rng, "lstm", I, H)]
    return spec("LSTM with initial h and c given by the run.", L, inputs(rng, T, B, I, L, h0=True, c0=True))


@case
def lstm_learned_initial_state(rng):
    T, B, I, H = 6, 3, 4, 5
    L = [make_layer(rng, "lstm", I, H, direction="bidirectional", initial_state=True)]
    return spec("Bidirectional LSTM whose model carries learned h0 [H] and c0 [H] per pass "
                "(initial_state: true); the run gets no initial state, so they are broadcast over the "
                "batch. NumPy only (cross-checked with onnxruntime fed the broadcast states).", L,
                inputs(rng, T, B, I))


@case
def lstm_activations(rng):
    T, B, I, H = 6, 3, 5, 4
    acts = [[act("hard_sigmoid", 0.25, 0.45), act("scaled_tanh", 1.3, 0.8), act("affine", 0.7, 0.1)],
            [act("hard_sigmoid", 0.18, 0.52), act("affine", 0.9, -0.05), act("scaled_tanh", 1.1, 0.6)]]
    L = [make_layer(rng, "lstm", I, H, direction="bidirectional", acts=acts)]
    return spec("Bidirectional LSTM with different non-default activations per direction: forward "
                "f=HardSigmoid(0.25,0.45) g=ScaledTanh(1.3,0.8) h=Affine(0.7,0.1); reverse "
                "f=HardSigmoid(0.18,0.52) g=Affine(0.9,-0.05) h=ScaledTanh(1.1,0.6). Every activation "
                "takes alpha and beta, so ONNX's packed (onnxruntime) and positional readings agree.", L,
                inputs(rng, T, B, I, L, h0=True, c0=True))


@case
def gru_activations(rng):
    T, B, I, H = 7, 3, 4, 6
    acts = [[act("hard_sigmoid", 0.22, 0.48), act("softsign")],
            [act("sigmoid"), act("softplus")]]
    L = [make_layer(rng, "gru", I, H, direction="bidirectional", acts=acts, reset_after=True, sh=0.8)]
    return spec("Bidirectional reset-after GRU, forward f=HardSigmoid(0.22,0.48) g=Softsign, reverse "
                "f=Sigmoid g=Softplus (only the first activation takes parameters: unambiguous).", L,
                inputs(rng, T, B, I, L, h0=True))


@case
def rnn_activations(rng):
    T, B, I, H = 6, 4, 5, 3
    acts = [[act("leaky_relu", 0.1)], [act("softsign")]]
    L = [make_layer(rng, "rnn", I, H, direction="bidirectional", acts=acts, sh=0.7)]
    return spec("Bidirectional RNN, forward LeakyRelu(alpha=0.1), reverse Softsign.", L,
                inputs(rng, T, B, I, L, h0=True))


@case
def rnn_elu_thresholded_relu(rng):
    T, B, I, H = 7, 3, 4, 5
    acts = [[act("elu", 0.8)], [act("thresholded_relu", 0.15)]]
    L = [make_layer(rng, "rnn", I, H, direction="bidirectional", acts=acts, sh=0.7)]
    return spec("Bidirectional RNN, forward Elu(alpha=0.8), reverse ThresholdedRelu(alpha=0.15) (both "
                "take alpha only: packed and positional readings agree).", L,
                inputs(rng, T, B, I, L, h0=True))


@case
def lstm_clip(rng):
    T, B, I, H = 7, 3, 5, 4
    L = [make_layer(rng, "lstm", I, H, peepholes=("input", "forget", "output"), activation_clip=0.9)]
    return spec("LSTM with ONNX clip 0.9 (onnxruntime semantics: every gate pre-activation i, f, g, o, "
                "after bias and peephole, clipped to [-0.9, 0.9]; the cell state is not clipped) and "
                "all peepholes.", L, inputs(rng, T, B, I, L, h0=True, c0=True),
                clip_check=["activation_clip"])


@case
def gru_clip(rng):
    T, B, I, H = 6, 3, 4, 5
    L = [make_layer(rng, "gru", I, H, reset_after=True, activation_clip=0.6)]
    return spec("Reset-after GRU with ONNX clip 0.6 on the z, r, n pre-activations.", L,
                inputs(rng, T, B, I, L, h0=True), clip_check=["activation_clip"])


@case
def lstm_batch_first(rng):
    T, B, I, H = 6, 3, 4, 5
    L = [make_layer(rng, "lstm", I, H, direction="bidirectional")]
    inp = inputs(rng, T, B, I, L, h0=True, c0=True, lens=[6, 2, 4])
    inp["x"] = np.ascontiguousarray(np.transpose(inp["x"], (1, 0, 2)))  # [B, T, I]
    return spec("Bidirectional LSTM run batch-first: x [B, T, I], y [B, T, D*H]; states stay "
                "[L*D, B, H]; sequence lengths [6, 2, 4]. The ONNX graph wraps a layout-0 LSTM "
                "in Transposes.", L, inp, batch_first=True)


@case
def lstm_float16_weights(rng):
    T, B, I, H = 6, 3, 5, 4
    L = [make_layer(rng, "lstm", I, H, peepholes=("input", "forget", "output"), dtype="float16")]
    return spec("LSTM whose tensors are stored as float16; the expected outputs are those of the "
                "float16 values widened exactly (ONNX model carries the same values as float32).", L,
                inputs(rng, T, B, I, L, h0=True, c0=True))


@case
def gru_float64_weights(rng):
    T, B, I, H = 7, 3, 4, 5
    L = [make_layer(rng, "gru", I, H, reset_after=False, dtype="float64")]
    return spec("Reset-before GRU whose tensors are stored as float64 (values not representable in "
                "float32). f64 expectation uses the exact float64 weights; onnxruntime has no double "
                "kernel, so the f32 expectation is the NumPy float64 result too (cross-checked with "
                "onnxruntime on the weights rounded to float32).", L, inputs(rng, T, B, I, L, h0=True))


@case
def gru_sequence_lengths(rng):
    T, B, I, H = 7, 4, 3, 5
    L = [make_layer(rng, "gru", I, H, direction="reverse", reset_after=True)]
    return spec("Reverse-direction GRU with sequence lengths [3, 7, 1, 5] and initial h: each sequence "
                "is processed from its own last valid element down to t = 0.", L,
                inputs(rng, T, B, I, L, h0=True, lens=[3, 7, 1, 5]))


@case
def gru_no_bias(rng):
    T, B, I, H = 6, 4, 5, 3
    L = [make_layer(rng, "gru", I, H, reset_after=True, bias=False)]
    return spec("Reset-after GRU without biases (bias: false; ONNX B written as zeros), batch 4 "
                "(onnxruntime#3797 regression shape).", L, inputs(rng, T, B, I, L, h0=True))


@case
def gru_zero_weights(rng):
    T, B, I, H = 5, 3, 4, 6
    L = [make_layer(rng, "gru", I, H, reset_after=True, zero_weights=True, sb=1.5)]
    return spec("Reset-after GRU with all-zero W_x and W_h and non-zero biases and initial h: "
                "n = tanh(b_xn + r * b_hn) tells reset-after from reset-before.", L,
                inputs(rng, T, B, I, L, h0=True))


# --------------------------------------------------------------------------------------
# Driver
# --------------------------------------------------------------------------------------

def maxabs(a, b):
    return float(np.max(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))))


def fail(msg):
    raise SystemExit(f"make_goldens: FAILED: {msg}")


def build_case(fn):
    name = fn.__name__
    seed = seed_of(name)
    rng = np.random.default_rng(seed)
    s = fn(rng)
    layers, inp = s["layers"], s["inputs"]
    final = os.path.join(OUT, name)
    d = final + ".tmp"  # written here, renamed into place only when every check passed
    if os.path.isdir(d):
        shutil.rmtree(d)
    os.makedirs(d)
    mj = model_json(name, s["description"], layers)
    dump_json(mj, os.path.join(d, "model.json"))

    # --- inputs
    files = {"input": "x.npy"}
    np.save(os.path.join(d, "x.npy"), inp["x"])
    if inp["h0"] is not None:
        np.save(os.path.join(d, "h0.npy"), inp["h0"])
        files["initial_h"] = "h0.npy"
    if inp["c0"] is not None:
        np.save(os.path.join(d, "c0.npy"), inp["c0"])
        files["initial_c"] = "c0.npy"
    if inp["lens"] is not None:
        np.save(os.path.join(d, "lens.npy"), inp["lens"])
        files["sequence_lengths"] = "lens.npy"

    # --- NumPy float64 reference, from model.json as written
    model = ref.load_model(os.path.join(d, "model.json"))
    bf = s["batch_first"]
    run = lambda m, dt: ref.run_model(m, inp["x"], inp["h0"], inp["c0"], inp["lens"], bf, dt)
    y64, hn64, cn64 = run(model, np.float64)
    y32n, hn32n, cn32n = run(model, np.float32)
    has_c = cn64 is not None
    for k, a in (("y", y64), ("hn", hn64), ("cn", cn64)):
        if a is not None and not np.isfinite(a).all():
            fail(f"{name}: non-finite {k}")

    # sanity: the NumPy float32 path meets the f32 tolerance against float64
    for k, a, b in (("y", y32n, y64), ("hn", hn32n, hn64), ("cn", cn32n, cn64)):
        if a is not None and not np.all(np.abs(a - b) <= F32_TOL[0] + F32_TOL[1] * np.abs(b)):
            fail(f"{name}: numpy float32 vs float64 outside the f32 tolerance on {k}: {maxabs(a, b)}")

    # clip cases: make sure the clip actually changes the result
    for field in s["clip_check"] or []:
        m2 = [dict(L) for L in model]
        for L in m2:
            L[field] = None
        y2, _, _ = run(m2, np.float64)
        if maxabs(y2, y64) < 1e-3:
            fail(f"{name}: {field} has no effect ({maxabs(y2, y64)})")

    # --- onnxruntime
    T = inp["x"].shape[1] if bf else inp["x"].shape[0]
    B = inp["x"].shape[0] if bf else inp["x"].shape[1]
    cross = None
    f32_from_ort = False
    ort_out = None
    if onnx_expressible(layers):
        exp_layers = layers
        if any(L["dtype"] == "float64" for L in layers):
            exp_layers = layers  # rounded to float32 inside onnx_node_tensors
        om = build_onnx(exp_layers, T, B, inp["h0"] is not None, inp["c0"] is not None,
                        inp["lens"] is not None, bf, seed)
        ort_out = run_ort(om, inp["x"], inp["h0"], inp["c0"], inp["lens"])
        if inp["lens"] is not None and (inp["lens"] == 0).any():
            # ORT returns zero final states for length 0: compare the other rows only
            ok_rows = inp["lens"] != 0
            cross = max(maxabs(ort_out["y"], y64), maxabs(ort_out["hn"][:, ok_rows], hn64[:, ok_rows]),
                        maxabs(ort_out["cn"][:, ok_rows], cn64[:, ok_rows]) if has_c else 0.0)
            if not np.all(ort_out["hn"][:, ~ok_rows] == 0):
                fail(f"{name}: expected onnxruntime to return zero states for length 0")
        else:
            cross = max(maxabs(ort_out["y"], y64), maxabs(ort_out["hn"], hn64),
                        maxabs(ort_out["cn"], cn64) if has_c else 0.0)
            f32_from_ort = all(L["dtype"] != "float64" for L in layers)
        if cross > CROSS_TOL:
            fail(f"{name}: numpy float64 vs onnxruntime max |d| = {cross:.3g} > {CROSS_TOL}")
        if f32_from_ort:
            onnx.save(om, os.path.join(d, "model.onnx"))
    elif any(L["initial_state"] for L in layers) and not any(
            L["cell"] == "lstm" and (L["projection_size"] or L["cell_clip"] is not None
                                     or L["projection_clip"] is not None) for L in layers):
        # learned initial state: feed the broadcast learned states to onnxruntime explicitly
        h0b = np.stack([np.broadcast_to(L["tensors"][p]["h0"].astype(np.float32),
                                        (B, L["projection_size"] or L["hidden_size"]))
                        for L in layers for p in L["passes"]])
        c0b = np.stack([np.broadcast_to(L["tensors"][p]["c0"].astype(np.float32), (B, L["hidden_size"]))
                        for L in layers for p in L["passes"]]) if has_c else None
        stripped = []
        for L in layers:
            L2 = dict(L)
            L2["initial_state"] = False
            stripped.append(L2)
        om = build_onnx(stripped, T, B, True, has_c, inp["lens"] is not None, bf, seed)
        ort_out = run_ort(om, inp["x"], h0b, c0b, inp["lens"])
        cross = max(maxabs(ort_out["y"], y64), maxabs(ort_out["hn"], hn64),
                    maxabs(ort_out["cn"], cn64) if has_c else 0.0)
        if cross > CROSS_TOL:
            fail(f"{name}: numpy float64 vs onnxruntime (broadcast learned states) {cross:.3g}")

    # --- expected outputs
    np.save(os.path.join(d, "y64.npy"), y64)
    np.save(os.path.join(d, "hn64.npy"), hn64)
    out64 = {"y": "y64.npy", "hn": "hn64.npy"}
    if has_c:
        np.save(os.path.join(d, "cn64.npy"), cn64)
        out64["cn"] = "cn64.npy"
    if f32_from_ort:
        y32, hn32, cn32 = ort_out["y"], ort_out["hn"], ort_out.get("cn")
        ref32 = REF_ORT
    else:
        y32, hn32, cn32 = y64.astype(np.float32), hn64.astype(np.float32), \
            None if cn64 is None else cn64.astype(np.float32)
        ref32 = REF_NP64 + ", rounded to float32 (onnxruntime cannot run this case)"
    np.save(os.path.join(d, "y.npy"), np.asarray(y32, np.float32))
    np.save(os.path.join(d, "hn.npy"), np.asarray(hn32, np.float32))
    out32 = {"y": "y.npy", "hn": "hn.npy"}
    if has_c:
        np.save(os.path.join(d, "cn.npy"), np.asarray(cn32, np.float32))
        out32["cn"] = "cn.npy"
    g = {
        "name": name, "description": s["description"], "model": "model.json", "inputs": files,
        "batch_first": bf,
        "expected": {
            "f32": {"outputs": out32, "reference": ref32, "atol": F32_TOL[0], "rtol": F32_TOL[1]},
            "f64": {"outputs": out64, "reference": REF_NP64, "atol": F64_TOL[0], "rtol": F64_TOL[1]},
        },
        "generator": "tools/make_goldens.py", "seed": seed, "versions": VERSIONS,
    }
    if f32_from_ort:
        g["onnx_model"] = "model.onnx"
    if cross is not None:
        g["cross_check"] = {"numpy_f64_vs_onnxruntime_max_abs": cross}
    dump_json(g, os.path.join(d, "golden.json"))
    if os.path.isdir(final):
        shutil.rmtree(final)
    os.rename(d, final)
    return name, cross, f32_from_ort


README_HEAD = """# Golden reference data

Generated by `python3 tools/make_goldens.py` (all cases; or name cases to rebuild only those) with
{versions}. Pinned requirements: `tools/requirements-goldens.txt`
(`pip install -r tools/requirements-goldens.txt`). The generator is deterministic: every case
draws from its own fixed seed (`seed` in its `golden.json`, the CRC-32 of the case name), and a
rerun rewrites byte-identical files. This README is rewritten by the generator too.

The PyTorch reference cases live in `fixtures/pytorch/` (same `golden.json` form; made by
`python3 tools/import_pytorch_reference.py`, see `fixtures/pytorch/PROVENANCE.md`).

## Layout of a case folder

* `model.json` — the model in lstmtool's JSON text form (`docs/JSON_FORM.md`), canonical layout:
  `W_x [G*H, I]`, `W_h [G*H, P]`, separate `b_x`/`b_h`, gate blocks RNN one, LSTM i,f,g,o,
  coupled LSTM f,g,o (i = 1 - f), GRU z,r,n; peepholes `p_i`/`p_f`/`p_o`, `W_proj [P, H]`, learned
  `h0 [P]`/`c0 [H]`. Numbers are written as the exact value of the stored dtype (float32 values as
  `float(np.float32(v))`); activations always carry explicit `alpha` and `beta` (0 where the kind
  takes none).
* inputs: `x.npy` float32 `[T, B, I]` (`[B, T, I]` when `"batch_first": true`), optional `h0.npy`
  `[L*D, B, P]`, `c0.npy` `[L*D, B, H]`, `lens.npy` int32 `[B]`.
* expected outputs: `y [T, B, D*P]` (or `[B, T, D*P]`), `hn [L*D, B, P]`, `cn [L*D, B, H]` (LSTM),
  layer-major direction-minor.
  * `f32` (`y.npy`, `hn.npy`, `cn.npy`): onnxruntime float32 (CPU) where onnxruntime can run the
    case, otherwise the NumPy float64 result rounded to float32 (the `reference` string says
    which); compare with atol 1e-5, rtol 1e-4 (an element fails when
    `|got - ref| > atol + rtol * |ref|`).
  * `f64` (`y64.npy`, `hn64.npy`, `cn64.npy`): the independent NumPy float64 evaluator
    `tools/reference_numpy.py`, run on `model.json` as written; atol 1e-10, rtol 1e-10.
* `model.onnx` (cases whose f32 expectation came from onnxruntime): the equivalent ONNX graph that
  was run — opset 17, IR version 8, one LSTM/GRU/RNN node per layer (layout 0, `hidden_size` and
  `B` always written; ONNX gate orders LSTM i,o,f,c, peepholes i,o,f), `Transpose [0,2,1,3]` +
  `Reshape [0,0,-1]` after each node (PyTorch exporter style), `Slice` of the stacked initial
  states per layer, `Concat` of the final states. Graph inputs `x`, `sequence_lens`, `h0`, `c0`
  (those the case uses), outputs `y`, `hn`, `cn` in the run contract's shapes.
* `golden.json`: names the files above, tolerances, reference, seed and package versions, and
  `cross_check.numpy_f64_vs_onnxruntime_max_abs` where onnxruntime was run.

For every case onnxruntime can express, the generator fails unless NumPy float64 and onnxruntime
agree within 1e-5 (so the NumPy reference is checked against an independent implementation);
it also checks that NumPy's float32 path meets the f32 tolerance and that every clip in a clip
case actually changes the result. `python3 tools/reference_numpy.py --check fixtures/golden/*`
re-evaluates every folder against its expectations.

Deliberate differences from onnxruntime: a length-0 sequence keeps its initial state as final
state (onnxruntime returns zeros) — only in `lstm_sequence_length_zero`, which is NumPy-only.
Projections, cell clip, projection clip and learned initial states cannot be expressed in ONNX
recurrent nodes; those cases are NumPy-only (learned states were still cross-checked by feeding
them to onnxruntime as explicit initial states).

## Cases

| case | f32 expectation | max abs(numpy f64 - ORT) | covers |
|---|---|---|---|
"""


def write_readme():
    rows = []
    for fn in CASES:
        gp = os.path.join(OUT, fn.__name__, "golden.json")
        if not os.path.exists(gp):
            continue
        with open(gp) as f:
            g = json.load(f)
        src = "onnxruntime" if g["expected"]["f32"]["reference"].startswith("onnxruntime") else "numpy f64"
        cc = g.get("cross_check", {}).get("numpy_f64_vs_onnxruntime_max_abs")
        rows.append(f"| `{g['name']}` | {src} | {'-' if cc is None else f'{cc:.2g}'} | {g['description']} |")
    vs = ", ".join(f"{k} {v}" for k, v in VERSIONS.items())
    with open(os.path.join(OUT, "README.md"), "w") as f:
        f.write(README_HEAD.replace("{versions}", vs) + "\n".join(rows) + "\n")


def main(argv):
    os.makedirs(OUT, exist_ok=True)
    wanted = set(argv)
    unknown = wanted - {f.__name__ for f in CASES}
    if unknown:
        fail(f"unknown cases {sorted(unknown)}")
    rows = []
    for fn in CASES:
        if wanted and fn.__name__ not in wanted:
            continue
        rows.append(build_case(fn))
    write_readme()
    for name, cross, from_ort in rows:
        c = "-" if cross is None else f"{cross:.3g}"
        print(f"{name:32s} f32 from {'onnxruntime' if from_ort else 'numpy f64':12s} "
              f"max|numpy f64 - ORT| = {c}")
    print(f"{len(rows)} cases written to {os.path.relpath(OUT, REPO)}")


if __name__ == "__main__":
    main(sys.argv[1:])
