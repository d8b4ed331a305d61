#!/usr/bin/env python3
"""Independent NumPy reference evaluator for lstmtool models (JSON text form).

Written directly from the equations in ../shared/docs/conventions.md §1 and the
canonical model layout (docs/JSON_FORM.md); it shares no code with the Swift
evaluator nor with any framework. It is deliberately simple: one batch row at a
time, one time step at a time, plain matrix-vector products, so that the order
of operations is easy to audit.

Canonical layout per layer and pass (forward / reverse), row layout:
  W_x [G*H, I], W_h [G*H, P], b_x [G*H], b_h [G*H] (if bias)
  gate blocks: RNN one block; LSTM i, f, g, o; coupled LSTM f, g, o (i = 1 - f);
  GRU z, r, n
  p_i, p_f, p_o [H] (peepholes listed in "peepholes"), W_proj [P, H],
  h0 [P], c0 [H] (learned initial state, "initial_state": true)

Run contract:
  x [T, B, I] (or [B, T, I] with batch_first) -> y [T, B, D*P] ([B, T, D*P]),
  hn [L*D, B, P], cn [L*D, B, H] (LSTM only); optional h0 [L*D, B, P],
  c0 [L*D, B, H], lens [B] int32 (0 <= len <= T). Outputs past a sequence's
  length are zero; the final state is the state at the last valid step (the
  reverse pass of each sequence starts at its own last valid element); a
  length-0 sequence keeps its initial state.

Usage as a library:
  model = load_model("model.json")
  y, hn, cn = run_model(model, x, h0=None, c0=None, lens=None,
                        batch_first=False, dtype=np.float64)
Usage from the command line:
  python3 tools/reference_numpy.py model.json x.npy [--h0 F] [--c0 F] [--lens F]
        [--batch-first] [--f32] --out DIR      (writes y.npy, hn.npy[, cn.npy])
  python3 tools/reference_numpy.py --check fixtures/golden/<case> [...]
        (re-evaluates a golden folder against its f64 and f32 expectations)
"""
import argparse
import json
import math
import os
import sys

import numpy as np

# --------------------------------------------------------------------------------------
# Model loading
# --------------------------------------------------------------------------------------

_DTYPES = {"float32": np.float32, "float16": np.float16, "float64": np.float64}

# onnxruntime's defaults for activation parameters (used only when a JSON
# activation omits alpha/beta; lstmtool's JSON writer always writes them).
_ACT_DEFAULTS = {
    "leaky_relu": (0.01, 0.0),
    "hard_sigmoid": (0.2, 0.5),
    "elu": (1.0, 0.0),
}
_ACT_KINDS = {"sigmoid", "tanh", "relu", "affine", "leaky_relu", "thresholded_relu",
              "scaled_tanh", "hard_sigmoid", "elu", "softsign", "softplus"}
_DEFAULT_ACTS = {"lstm": ["sigmoid", "tanh", "tanh"], "gru": ["sigmoid", "tanh"], "rnn": ["tanh"]}
_GATES = {"rnn": 1, "lstm": 4, "gru": 3}


def _bf16_from_float(v):
    """Round a Python float to bfloat16 (round to nearest even), returned as float32."""
    f = np.array([v], dtype=np.float32)
    bits = int(f.view(np.uint32)[0])
    if math.isnan(v):
        bits = 0x7FC00000
    else:
        lsb = (bits >> 16) & 1
        bits = (bits + 0x7FFF + lsb) & 0xFFFF0000
    return np.array([bits], dtype=np.uint32).view(np.float32)[0]


def _parse_number(v):
    if isinstance(v, str):
        return {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}[v]
    return float(v)


def tensor_from_json(t):
    """Return the tensor as float64 (exact widening of its stored dtype) with its shape."""
    dtype = t["dtype"]
    shape = [int(s) for s in t["shape"]]
    n = int(np.prod(shape)) if shape else 1
    if "bits_hex" in t:
        raw = bytes.fromhex(t["bits_hex"])
        if dtype == "bfloat16":
            u = np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16
            arr = u.view(np.float32).astype(np.float64)
        else:
            arr = np.frombuffer(raw, dtype=np.dtype(_DTYPES[dtype]).newbyteorder("<")).astype(np.float64)
    else:
        vals = [_parse_number(v) for v in t["values"]]
        if dtype == "bfloat16":
            arr = np.array([_bf16_from_float(v) for v in vals], dtype=np.float32).astype(np.float64)
        else:
            # NumPy rounds a Python float to the target dtype to nearest.
            arr = np.array(vals, dtype=_DTYPES[dtype]).astype(np.float64)
    if arr.size != n:
        raise ValueError(f"tensor has {arr.size} values, shape {shape} needs {n}")
    return arr.reshape(shape)


def load_model(path_or_doc):
    """Parse a JSON model into a list of layer dicts with float64 tensors."""
    if isinstance(path_or_doc, dict):
        doc = path_or_doc
    else:
        with open(path_or_doc) as f:
            doc = json.load(f)
    if doc.get("format") != "lstmtool-json":
        raise ValueError("not an lstmtool-json document")
    layers = []
    for k, L in enumerate(doc["layers"]):
        cell = L["cell"]
        if cell not in _GATES:
            raise ValueError(f"layer {k}: unknown cell {cell!r}")
        direction = L.get("direction", "forward")
        passes = {"forward": ["forward"], "reverse": ["reverse"],
                  "bidirectional": ["forward", "reverse"]}[direction]
        acts_json = L.get("activations")
        if acts_json is None:
            acts_json = [[{"kind": a} for a in _DEFAULT_ACTS[cell]] for _ in passes]
        if len(acts_json) != len(passes):
            raise ValueError(f"layer {k}: {len(acts_json)} activation lists for {len(passes)} passes")
        acts = []
        for lst in acts_json:
            if len(lst) != len(_DEFAULT_ACTS[cell]):
                raise ValueError(f"layer {k}: wrong number of activations")
            one = []
            for a in lst:
                kind = a["kind"]
                if kind not in _ACT_KINDS:
                    raise ValueError(f"unknown activation {kind!r}")
                da, db = _ACT_DEFAULTS.get(kind, (0.0, 0.0))
                one.append((kind, float(a.get("alpha", da)), float(a.get("beta", db))))
            acts.append(one)
        tensors = {}
        for p in passes:
            tensors[p] = {role: tensor_from_json(t) for role, t in L["tensors"][p].items()}
        layer = {
            "cell": cell,
            "input_size": int(L["input_size"]),
            "hidden_size": int(L["hidden_size"]),
            "passes": passes,
            "bias": bool(L.get("bias", True)),
            "activations": acts,
            "peepholes": list(L.get("peepholes", [])),
            "coupled": bool(L.get("coupled", False)),
            "projection_size": L.get("projection_size"),
            "activation_clip": L.get("activation_clip"),
            "cell_clip": L.get("cell_clip"),
            "projection_clip": L.get("projection_clip"),
            "reset_after": L.get("reset_after"),
            "initial_state": bool(L.get("initial_state", False)),
            "tensors": tensors,
        }
        _check_layer(k, layer)
        layers.append(layer)
    for k in range(1, len(layers)):
        prev = layers[k - 1]
        want = len(prev["passes"]) * _out_size(prev)
        if layers[k]["input_size"] != want:
            raise ValueError(f"layer {k}: input_size {layers[k]['input_size']} != {want}")
    return layers


def _out_size(layer):
    return layer["projection_size"] or layer["hidden_size"]


def _check_layer(k, layer):
    cell, I, H = layer["cell"], layer["input_size"], layer["hidden_size"]
    P = _out_size(layer)
    G = _GATES[cell] - (1 if layer["coupled"] else 0)
    if cell == "gru" and layer["reset_after"] is None:
        raise ValueError(f"layer {k}: GRU needs reset_after")
    for p, t in layer["tensors"].items():
        want = {"W_x": [G * H, I], "W_h": [G * H, P]}
        if layer["bias"]:
            want["b_x"] = [G * H]
            want["b_h"] = [G * H]
        for g in layer["peepholes"]:
            want["p_" + g[0]] = [H]
        if layer["projection_size"]:
            want["W_proj"] = [P, H]
        if layer["initial_state"]:
            want["h0"] = [P]
            if cell == "lstm":
                want["c0"] = [H]
        if set(t) != set(want):
            raise ValueError(f"layer {k} {p}: tensors {sorted(t)} expected {sorted(want)}")
        for role, shape in want.items():
            if list(t[role].shape) != shape:
                raise ValueError(f"layer {k} {p} {role}: shape {list(t[role].shape)} expected {shape}")
    if layer["coupled"] and "input" in layer["peepholes"]:
        raise ValueError(f"layer {k}: coupled LSTM cannot have an input peephole")


# --------------------------------------------------------------------------------------
# Activations
# --------------------------------------------------------------------------------------

def activation(kind, alpha, beta, x):
    """Apply an activation elementwise; x is a float32 or float64 array, result same dtype."""
    dt = x.dtype.type
    a, b = dt(alpha), dt(beta)
    one, zero = dt(1), dt(0)
    with np.errstate(over="ignore"):
        if kind == "sigmoid":
            return one / (one + np.exp(-x))          # stable: exp overflow gives 0, not NaN
        if kind == "tanh":
            return np.tanh(x)
        if kind == "relu":
            return np.maximum(x, zero)
        if kind == "affine":
            return a * x + b
        if kind == "leaky_relu":
            return np.where(x >= zero, x, a * x)
        if kind == "thresholded_relu":
            return np.where(x > a, x, zero)
        if kind == "scaled_tanh":
            return a * np.tanh(b * x)
        if kind == "hard_sigmoid":
            return np.minimum(one, np.maximum(zero, a * x + b))
        if kind == "elu":
            return np.where(x >= zero, x, a * np.expm1(np.minimum(x, zero)))
        if kind == "softsign":
            return x / (one + np.abs(x))
        if kind == "softplus":
            return np.logaddexp(zero, x)               # log(1 + exp(x)) without overflow
    raise ValueError(kind)


# --------------------------------------------------------------------------------------
# Cells (one batch row, one step; all vectors 1-D)
# --------------------------------------------------------------------------------------

def _clip(v, c):
    if c is None:
        return v
    c = v.dtype.type(c)
    return np.minimum(np.maximum(v, -c), c)


def _lstm_step(layer, t, acts, x, h, c):
    H = layer["hidden_size"]
    (fk, fa, fb), (gk, ga, gb), (hk, ha, hb) = acts
    clipv = layer["activation_clip"]
    a = t["W_x"] @ x
    if layer["bias"]:
        a = a + t["b_x"]
    r = t["W_h"] @ h
    if layer["bias"]:
        r = r + t["b_h"]
    a = a + r
    if layer["coupled"]:
        a_f, a_g, a_o = a[0:H], a[H:2 * H], a[2 * H:3 * H]
        if "p_f" in t:
            a_f = a_f + t["p_f"] * c
        f = activation(fk, fa, fb, _clip(a_f, clipv))
        i = f.dtype.type(1) - f
    else:
        a_i, a_f, a_g, a_o = a[0:H], a[H:2 * H], a[2 * H:3 * H], a[3 * H:4 * H]
        if "p_i" in t:
            a_i = a_i + t["p_i"] * c
        if "p_f" in t:
            a_f = a_f + t["p_f"] * c
        i = activation(fk, fa, fb, _clip(a_i, clipv))
        f = activation(fk, fa, fb, _clip(a_f, clipv))
    g = activation(gk, ga, gb, _clip(a_g, clipv))
    c_new = f * c + i * g
    if layer["cell_clip"] is not None:
        c_new = _clip(c_new, layer["cell_clip"])
    if "p_o" in t:
        a_o = a_o + t["p_o"] * c_new               # output peephole sees the NEW cell
    o = activation(fk, fa, fb, _clip(a_o, clipv))
    m = o * activation(hk, ha, hb, c_new)
    h_new = t["W_proj"] @ m if layer["projection_size"] else m
    if layer["projection_clip"] is not None:
        h_new = _clip(h_new, layer["projection_clip"])
    return h_new, c_new


def _gru_step(layer, t, acts, x, h):
    H = layer["hidden_size"]
    (fk, fa, fb), (gk, ga, gb) = acts
    clipv = layer["activation_clip"]
    ax = t["W_x"] @ x
    if layer["bias"]:
        ax = ax + t["b_x"]
    Wh = t["W_h"]
    bh = t["b_h"] if layer["bias"] else None

    def rec(k, v):
        r_ = Wh[k * H:(k + 1) * H] @ v
        if bh is not None:
            r_ = r_ + bh[k * H:(k + 1) * H]
        return r_

    z = activation(fk, fa, fb, _clip(ax[0:H] + rec(0, h), clipv))
    r = activation(fk, fa, fb, _clip(ax[H:2 * H] + rec(1, h), clipv))
    if layer["reset_after"]:
        a_n = ax[2 * H:3 * H] + r * rec(2, h)
    else:
        a_n = ax[2 * H:3 * H] + rec(2, r * h)
    n = activation(gk, ga, gb, _clip(a_n, clipv))
    one = n.dtype.type(1)
    return (one - z) * n + z * h


def _rnn_step(layer, t, acts, x, h):
    (k, a_, b_), = acts
    a = t["W_x"] @ x
    if layer["bias"]:
        a = a + t["b_x"]
    r = t["W_h"] @ h
    if layer["bias"]:
        r = r + t["b_h"]
    return activation(k, a_, b_, _clip(a + r, layer["activation_clip"]))


# --------------------------------------------------------------------------------------
# Runner
# --------------------------------------------------------------------------------------

def run_model(layers, x, h0=None, c0=None, lens=None, batch_first=False, dtype=np.float64):
    """Evaluate the model. Returns (y, hn, cn); cn is None unless every layer is an LSTM."""
    if isinstance(layers, (str, dict)):
        layers = load_model(layers)
    x = np.asarray(x)
    if x.ndim != 3:
        raise ValueError("x must be rank 3")
    if batch_first:
        x = np.transpose(x, (1, 0, 2))
    x = x.astype(dtype)
    T, B, _ = x.shape
    if lens is None:
        lens = np.full(B, T, dtype=np.int64)
    lens = np.asarray(lens).astype(np.int64).reshape(-1)
    if lens.shape[0] != B or (lens < 0).any() or (lens > T).any():
        raise ValueError(f"sequence lengths {lens.tolist()} invalid for T={T}, B={B}")
    has_c = all(L["cell"] == "lstm" for L in layers)
    hn_list, cn_list = [], []
    cur = x
    idx = 0
    for L in layers:
        H, P = L["hidden_size"], _out_size(L)
        if cur.shape[2] != L["input_size"]:
            raise ValueError(f"input size {cur.shape[2]} != {L['input_size']}")
        outs = []
        for d, pname in enumerate(L["passes"]):
            t = {k: v.astype(dtype) for k, v in L["tensors"][pname].items()}
            acts = L["activations"][d]
            # initial states [B, P] / [B, H]
            if h0 is not None:
                hi = np.asarray(h0)[idx].astype(dtype)
            elif L["initial_state"]:
                hi = np.broadcast_to(t["h0"], (B, P)).astype(dtype)
            else:
                hi = np.zeros((B, P), dtype=dtype)
            if L["cell"] == "lstm":
                if c0 is not None:
                    ci = np.asarray(c0)[idx].astype(dtype)
                elif L["initial_state"]:
                    ci = np.broadcast_to(t["c0"], (B, H)).astype(dtype)
                else:
                    ci = np.zeros((B, H), dtype=dtype)
            y = np.zeros((T, B, P), dtype=dtype)
            hf = np.zeros((B, P), dtype=dtype)
            cf = np.zeros((B, H), dtype=dtype)
            for b in range(B):
                n = int(lens[b])
                steps = range(n - 1, -1, -1) if pname == "reverse" else range(n)
                h = hi[b].copy()
                c = ci[b].copy() if L["cell"] == "lstm" else None
                for s in steps:
                    xt = cur[s, b]
                    if L["cell"] == "lstm":
                        h, c = _lstm_step(L, t, acts, xt, h, c)
                    elif L["cell"] == "gru":
                        h = _gru_step(L, t, acts, xt, h)
                    else:
                        h = _rnn_step(L, t, acts, xt, h)
                    y[s, b] = h
                hf[b] = h
                if c is not None:
                    cf[b] = c
            outs.append(y)
            hn_list.append(hf)
            if has_c:
                cn_list.append(cf)
            idx += 1
        cur = np.concatenate(outs, axis=2)
    y = np.transpose(cur, (1, 0, 2)) if batch_first else cur
    hn = np.stack(hn_list)
    cn = np.stack(cn_list) if has_c else None
    return y, hn, cn


# --------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------

def _check_folder(folder):
    with open(os.path.join(folder, "golden.json")) as f:
        g = json.load(f)
    model = load_model(os.path.join(folder, g["model"]))
    ins = {k: np.load(os.path.join(folder, v)) for k, v in g["inputs"].items()}
    ok = True
    for mode, dt in (("f64", np.float64), ("f32", np.float32)):
        exp = g["expected"].get(mode)
        if exp is None:
            continue
        y, hn, cn = run_model(model, ins["input"], ins.get("initial_h"), ins.get("initial_c"),
                              ins.get("sequence_lengths"), g.get("batch_first", False), dt)
        got = {"y": y, "hn": hn, "cn": cn}
        for k, fn in exp["outputs"].items():
            ref = np.load(os.path.join(folder, fn)).astype(np.float64)
            v = got[k].astype(np.float64)
            err = np.abs(v - ref)
            good = bool(v.shape == ref.shape and (err <= exp["atol"] + exp["rtol"] * np.abs(ref)).all())
            ok &= good
            print(f"{folder} {mode} {k}: max|d|={err.max():.3g} {'OK' if good else 'FAIL'}")
    return ok


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", nargs="?")
    ap.add_argument("x", nargs="?")
    ap.add_argument("--h0")
    ap.add_argument("--c0")
    ap.add_argument("--lens")
    ap.add_argument("--batch-first", action="store_true")
    ap.add_argument("--f32", action="store_true", help="compute in float32 instead of float64")
    ap.add_argument("--out")
    ap.add_argument("--check", nargs="+", metavar="DIR", help="check golden folders")
    a = ap.parse_args(argv)
    if a.check:
        dirs = [d for d in a.check if os.path.isfile(os.path.join(d, "golden.json"))]
        if not dirs:
            ap.error("no folder with a golden.json given")
        ok = all([_check_folder(d) for d in dirs])
        return 0 if ok else 2
    if not (a.model and a.x and a.out):
        ap.error("model, x and --out are required")
    ld = lambda p: None if p is None else np.load(p)
    y, hn, cn = run_model(load_model(a.model), np.load(a.x), ld(a.h0), ld(a.c0), ld(a.lens),
                          a.batch_first, np.float32 if a.f32 else np.float64)
    os.makedirs(a.out, exist_ok=True)
    np.save(os.path.join(a.out, "y.npy"), y)
    np.save(os.path.join(a.out, "hn.npy"), hn)
    if cn is not None:
        np.save(os.path.join(a.out, "cn.npy"), cn)
    return 0


if __name__ == "__main__":
    sys.exit(main())
