#!/usr/bin/env python3
"""Golden gradients for `lstmtool analyze`, computed with JAX's autodiff (float64).

Writes fixtures/analysis/:
  demo_rnn.json, demo_lstm.json, demo_gru.json, demo_x.npy
      the memory demonstration: a tanh RNN, an LSTM with a large forget-gate bias and a GRU
      with a large update-gate bias, same sizes (I = 4, H = 16), on the same input (T = 400, B = 2)
  <case>/case.json
      for golden cases of fixtures/golden/ (no sequence lengths) and the three demo models:
      the model and inputs used, and JAX's
        input         s_t = ||d h_T / d x_t||_F, batch entry 0, final state of the last layer's
                      first pass (forward; for a reverse-only layer, its final state at t = 0)
        input_reverse the same for the reverse pass of a bidirectional last layer
        cell          per LSTM layer, first pass: ||d c_T / d c_t||_F with h_t held fixed
      with provenance (versions, command).

The cell equations are written here from docs/CELLS.md with jax.numpy; only the JSON model
parsing is shared with tools/reference_numpy.py. JAX is needed only to regenerate the
fixtures, never by the tests:

    python3 -m venv .venv && .venv/bin/pip install jax numpy
    .venv/bin/python tools/make_analysis_goldens.py
"""
import json
import os
import platform
import sys

import numpy as np

import jax
import jax.numpy as jnp

jax.config.update("jax_enable_x64", True)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))
from reference_numpy import load_model  # noqa: E402  (JSON parsing only)

OUT = os.path.join(ROOT, "fixtures", "analysis")

GOLDEN_CASES = [
    "lstm", "lstm_peephole_all", "lstm_peephole_subset", "lstm_coupled", "lstm_projection", "lstm_projection_clip",
    "lstm_cell_clip", "lstm_clip", "lstm_activations", "lstm_2l_bidirectional", "lstm_learned_initial_state",
    "lstm_initial_states", "gru_reset_before", "gru_reset_after", "gru_clip", "gru_activations", "gru_no_bias",
    "gru_2l_bidirectional", "rnn_tanh", "rnn_relu", "rnn_activations", "rnn_reverse", "rnn_elu_thresholded_relu",
]


def act(kind, alpha, beta, x):
    if kind == "sigmoid":
        return 1.0 / (1.0 + jnp.exp(-x))
    if kind == "tanh":
        return jnp.tanh(x)
    if kind == "relu":
        return jnp.where(x > 0, x, 0.0)
    if kind == "affine":
        return alpha * x + beta
    if kind == "leaky_relu":
        return jnp.where(x >= 0, x, alpha * x)
    if kind == "thresholded_relu":
        return jnp.where(x > alpha, x, 0.0)
    if kind == "scaled_tanh":
        return alpha * jnp.tanh(beta * x)
    if kind == "hard_sigmoid":
        return jnp.clip(alpha * x + beta, 0.0, 1.0)
    if kind == "elu":
        return jnp.where(x >= 0, x, alpha * (jnp.exp(jnp.minimum(x, 0.0)) - 1.0))
    if kind == "softsign":
        return x / (1.0 + jnp.abs(x))
    if kind == "softplus":
        return jnp.where(x > 30, x, jnp.log1p(jnp.exp(jnp.minimum(x, 30.0))))
    raise ValueError(kind)


def clip(v, c):
    return v if c is None else jnp.clip(v, -c, c)


def run_pass(layer, d, x, h, c, deltas=None):
    """One pass over x [T, I] (batch entry 0). deltas [T, H] are added to c_t at the end of each
    step, after h_t (zero: the derivative with respect to them is d/dc_t with h_t held fixed). Returns outputs
    [T, P] (time-aligned) and the final (h, c)."""
    t_ = layer["tensors"][layer["passes"][d]]
    acts = layer["activations"][d]
    H = layer["hidden_size"]
    cell = layer["cell"]
    A = layer["activation_clip"]
    Wx, Wh = jnp.asarray(t_["W_x"]), jnp.asarray(t_["W_h"])
    G = Wx.shape[0] // H
    bx = jnp.asarray(t_["b_x"]) if "b_x" in t_ else jnp.zeros(G * H)
    bh = jnp.asarray(t_["b_h"]) if "b_h" in t_ else jnp.zeros(G * H)
    f_, g_ = acts[0], acts[1] if len(acts) > 1 else acts[0]
    F = lambda v: act(*f_, clip(v, A))  # noqa: E731
    Gf = lambda v: act(*g_, clip(v, A))  # noqa: E731
    T = x.shape[0]
    steps = range(T) if layer["passes"][d] == "forward" else range(T - 1, -1, -1)
    outs = [None] * T
    for t in steps:
        xt = x[t]
        if cell == "rnn":
            h = act(*acts[0], clip(Wx @ xt + bx + Wh @ h + bh, A))
        elif cell == "gru":
            z = F(Wx[:H] @ xt + bx[:H] + Wh[:H] @ h + bh[:H])
            r = F(Wx[H:2 * H] @ xt + bx[H:2 * H] + Wh[H:2 * H] @ h + bh[H:2 * H])
            if layer["reset_after"]:
                a_n = Wx[2 * H:] @ xt + bx[2 * H:] + r * (Wh[2 * H:] @ h + bh[2 * H:])
            else:
                a_n = Wx[2 * H:] @ xt + bx[2 * H:] + Wh[2 * H:] @ (r * h) + bh[2 * H:]
            n = Gf(a_n)
            h = (1 - z) * n + z * h
        else:
            a = Wx @ xt + bx + Wh @ h + bh
            peep = layer["peepholes"]
            pi = jnp.asarray(t_["p_i"]) if "p_i" in t_ else 0.0
            pf = jnp.asarray(t_["p_f"]) if "p_f" in t_ else 0.0
            po = jnp.asarray(t_["p_o"]) if "p_o" in t_ else 0.0
            if layer["coupled"]:
                a_f, a_g, a_o = a[:H], a[H:2 * H], a[2 * H:]
                f = F(a_f + (pf * c if "forget" in peep else 0.0))
                i = 1 - f
            else:
                a_i, a_f, a_g, a_o = a[:H], a[H:2 * H], a[2 * H:3 * H], a[3 * H:]
                i = F(a_i + (pi * c if "input" in peep else 0.0))
                f = F(a_f + (pf * c if "forget" in peep else 0.0))
            g = Gf(a_g)
            c = clip(f * c + i * g, layer["cell_clip"])
            o = F(a_o + (po * c if "output" in peep else 0.0))
            m = o * act(*acts[2], c)
            if "W_proj" in t_:
                h = clip(jnp.asarray(t_["W_proj"]) @ m, layer["projection_clip"])
            else:
                h = m
            if deltas is not None:
                c = c + deltas[t]  # after h_t: the derivative holds h_t fixed
        outs[t] = h
    return jnp.stack(outs), h, c


def initial(layer, d, k, states, which):
    """The initial state of layer k, pass d, batch 0: given, learned, or zeros (CELLS.md §10)."""
    H = layer["hidden_size"]
    P = layer["projection_size"] or H
    width = P if which == "h" else H
    if states is not None:
        return jnp.asarray(states[k][d])
    t_ = layer["tensors"][layer["passes"][d]]
    key = "h0" if which == "h" else "c0"
    if key in t_:
        return jnp.asarray(t_[key])
    return jnp.zeros(width)


def split_states(layers, arr, which):
    """[L·D, B, W] golden state → per layer, per pass, batch entry 0."""
    if arr is None:
        return None
    out, row = [], 0
    for L in layers:
        out.append([arr[row + d, 0] for d in range(len(L["passes"]))])
        row += len(L["passes"])
    return out


def model_final(layers, x, h0s, c0s, last_pass):
    inp = x
    for k, L in enumerate(layers):
        outs = []
        for d in range(len(L["passes"])):
            y, h, _ = run_pass(L, d, inp, initial(L, d, k, h0s, "h"), initial(L, d, k, c0s, "c") if L["cell"] == "lstm" else None)
            outs.append((y, h))
        if k == len(layers) - 1:
            return outs[last_pass][1]
        inp = jnp.concatenate([o[0] for o in outs], axis=1)


def cell_sensitivity(layers, x, h0s, c0s, k):
    inp = x
    for j in range(k):
        L = layers[j]
        inp = jnp.concatenate([run_pass(L, d, inp, initial(L, d, j, h0s, "h"),
                                        initial(L, d, j, c0s, "c") if L["cell"] == "lstm" else None)[0]
                               for d in range(len(L["passes"]))], axis=1)
    L = layers[k]
    H = L["hidden_size"]
    T = x.shape[0]

    def final_c(deltas):
        return run_pass(L, 0, inp, initial(L, 0, k, h0s, "h"), initial(L, 0, k, c0s, "c"), deltas)[2]

    J = jax.jacrev(final_c)(jnp.zeros((T, H)))  # [H, T, H]
    return np.sqrt((np.asarray(J) ** 2).sum(axis=(0, 2)))


def golden_case(name, model_path, x, h0, c0, rel):
    layers = load_model(model_path)
    x0 = jnp.asarray(np.asarray(x[:, 0, :], dtype=np.float64))
    h0 = None if h0 is None else np.asarray(h0, dtype=np.float64)
    c0 = None if c0 is None else np.asarray(c0, dtype=np.float64)
    h0s, c0s = split_states(layers, h0, "h"), split_states(layers, c0, "c")
    res = {}
    last = layers[-1]
    for d, key in [(0, "input"), (1, "input_reverse")]:
        if d >= len(last["passes"]):
            continue
        J = jax.jacrev(lambda xx: model_final(layers, xx, h0s, c0s, d))(x0)  # [P, T, I]
        res[key] = np.sqrt((np.asarray(J) ** 2).sum(axis=(0, 2))).tolist()
    res["cell"] = [{"layer": k, "values": cell_sensitivity(layers, x0, h0s, c0s, k).tolist()}
                   for k, L in enumerate(layers) if L["cell"] == "lstm"]
    res["final_h"] = np.asarray(model_final(layers, x0, h0s, c0s, 0)).tolist()
    doc = {"name": name, **rel, "expected": res,
           "reference": f"jax {jax.__version__} autodiff (jacrev), float64, tools/make_analysis_goldens.py",
           "versions": {"jax": jax.__version__, "jaxlib": jax.lib.__version__ if hasattr(jax.lib, "__version__") else "",
                        "numpy": np.__version__, "python": platform.python_version()},
           "command": ".venv/bin/python tools/make_analysis_goldens.py"}
    os.makedirs(os.path.join(OUT, name), exist_ok=True)
    with open(os.path.join(OUT, name, "case.json"), "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")


def npy_save(path, a):
    np.save(path, np.ascontiguousarray(a))


def tensor(a):
    return {"dtype": "float64", "shape": list(a.shape), "values": [float(v) for v in a.reshape(-1)]}


def demo_models():
    """Three cells of the same size: I = 4, H = 16, small random weights (seed 7)."""
    rng = np.random.default_rng(7)
    I, H = 4, 16

    def layer(cell, G, biases, acts, extra=None, recurrent=1.0):
        Wx = rng.normal(0, 0.5 / np.sqrt(I), (G * H, I))
        Wh = rng.normal(0, recurrent / np.sqrt(H), (G * H, H))
        bx = np.concatenate(biases)
        L = {"cell": cell, "input_size": I, "hidden_size": H, "direction": "forward", "bias": True,
             "activations": [[{"kind": a, "alpha": 0.0, "beta": 0.0} for a in acts]], "peepholes": [], "coupled": False,
             "projection_size": None, "activation_clip": None, "cell_clip": None, "projection_clip": None,
             "initial_state": False,
             "tensors": {"forward": {"W_x": tensor(Wx), "W_h": tensor(Wh), "b_x": tensor(bx), "b_h": tensor(np.zeros(G * H))}}}
        if extra:
            L.update(extra)
        return L

    z = np.zeros(H)
    # tanh RNN with recurrent gain about 0.8: contracting, so its memory fades geometrically.
    rnn = layer("rnn", 1, [z], ["tanh"])
    Wh = np.array(rnn["tensors"]["forward"]["W_h"]["values"]).reshape(H, H)
    Wh *= 0.8 / max(abs(np.linalg.eigvals(Wh)))
    rnn["tensors"]["forward"]["W_h"] = tensor(Wh)
    # LSTM with forget-gate bias 5 (f ≈ 0.993): the cell keeps its contents for hundreds of steps.
    # Its recurrent weights are smaller (std 0.5/√H), so that the cell path, not an expanding
    # h → gates loop, carries the memory.
    lstm = layer("lstm", 4, [z, np.full(H, 5.0), z, z], ["sigmoid", "tanh", "tanh"], recurrent=0.5)
    # GRU with update-gate bias 3 (z ≈ 0.95): in between.
    gru = layer("gru", 3, [np.full(H, 3.0), z, z], ["sigmoid", "tanh"], {"reset_after": True})
    out = {}
    for name, L in [("demo_rnn", rnn), ("demo_lstm", lstm), ("demo_gru", gru)]:
        doc = {"format": "lstmtool-json", "format_version": "1.0",
               "metadata": {"name": name, "description": "memory demonstration for lstmtool analyze (docs/ANALYZE.md)",
                            "producer_name": "tools/make_analysis_goldens.py"},
               "layers": [L]}
        path = os.path.join(OUT, name + ".json")
        with open(path, "w") as f:
            json.dump(doc, f, indent=1)
            f.write("\n")
        out[name] = path
    x = rng.normal(0, 1, (400, 2, I))
    npy_save(os.path.join(OUT, "demo_x.npy"), x)
    return out, x


def main():
    os.makedirs(OUT, exist_ok=True)
    only = set(sys.argv[1:])
    for name in GOLDEN_CASES:
        if only and name not in only:
            continue
        g = os.path.join(ROOT, "fixtures", "golden", name)
        meta = json.load(open(os.path.join(g, "golden.json")))
        inp = meta["inputs"]
        x = np.load(os.path.join(g, inp["input"]))
        h0 = np.load(os.path.join(g, inp["initial_h"])) if "initial_h" in inp else None
        c0 = np.load(os.path.join(g, inp["initial_c"])) if "initial_c" in inp else None
        rel = {"model": f"../../golden/{name}/{meta['model']}", "input": f"../../golden/{name}/{inp['input']}"}
        if h0 is not None:
            rel["initial_h"] = f"../../golden/{name}/{inp['initial_h']}"
        if c0 is not None:
            rel["initial_c"] = f"../../golden/{name}/{inp['initial_c']}"
        golden_case(name, os.path.join(g, meta["model"]), x, h0, c0, rel)
        print("wrote", name)
    if not only or "demo" in only:
        paths, x = demo_models()
        for name, path in paths.items():
            golden_case(name, path, x, None, None, {"model": f"../{name}.json", "input": "../demo_x.npy"})
            print("wrote", name)


if __name__ == "__main__":
    main()
