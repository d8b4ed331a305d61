#!/usr/bin/env python3
"""Makes fixtures/keras/<case>/: Keras models and Keras's own outputs as golden cases.

    .venv/bin/pip install keras 'jax[cpu]' h5py     # only for making fixtures
    .venv/bin/python tools/make_keras_fixtures.py

Each case holds the model (`model.keras`, or `model.h5` for legacy files), `x.npy` (batch-first,
as Keras takes it), Keras's outputs and a golden.json (docs/VERIFY.md) with "batch_first": true.

* f32 goldens: the saved float32 model run by Keras 3 (JAX backend) in float32.
* f64 goldens: numpy in float64 from the Keras layer equations (`np_model`), on exactly the
  stored weights. Not Keras in float64: measured with Keras 3.15.1 / JAX 0.10.2, a float64 LSTM or
  GRU agrees with float64 numpy only to ~7e-8 (some of its arithmetic is not float64), and a
  float64 SimpleRNN in a stack fails in lax.scan (float32 carry). golden.json's cross_check
  records numpy f64 against Keras f32.
* Final states (hn, cn) come from a twin of the layer with return_state=True and the same
  weights (single-layer cases; stacks compare y only).
* Files Keras 3 cannot write (a Keras 2-era .h5 with hard_sigmoid = clip(0.2x + 0.5), CuDNNLSTM
  and CuDNNGRU) are built with h5py following tf-keras's hdf5_format.py layout exactly; their
  goldens come from Keras 3 layers with the equivalent weights (CuDNN: biases summed for LSTM,
  [2, 3H] for GRU, as tf-keras's _convert_rnn_weights does) or, for Keras 2's hard_sigmoid,
  from numpy (float64 equations; the f32 golden is the float64 result, stated as such).
"""
import json
import os
import shutil
import sys

os.environ.setdefault("KERAS_BACKEND", "jax")
os.environ["JAX_ENABLE_X64"] = "1"
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import h5py  # noqa: E402
import jax  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "fixtures", "keras")
VERSIONS = {"keras": keras.__version__, "jax": jax.__version__, "numpy": np.__version__, "h5py": h5py.__version__}
REF32 = f"Keras {keras.__version__} (JAX {jax.__version__}, CPU, float32)"
REF64 = "numpy float64 from the Keras layer equations (tools/make_keras_fixtures.py np_model), on the stored weights"
B, T, I = 3, 7, 4
SELECT = set(sys.argv[1:])  # case names to (re)make; all when empty


def skip(name):
    return bool(SELECT) and name not in SELECT


def rng(seed):
    return np.random.default_rng(seed)


def randomize(model, seed, scale=0.5):
    """Random weights including non-zero biases (Keras initialises biases to zero)."""
    r = rng(seed)
    model.set_weights([(r.standard_normal(w.shape) * scale).astype(w.dtype) for w in model.get_weights()])


def state_twin(layer, dtype):
    """A copy of a single recurrent layer that also returns its final state."""
    cfg = layer.get_config()
    if isinstance(layer, keras.layers.Bidirectional):
        cfg["layer"]["config"]["return_state"] = True
        if "backward_layer" in cfg:
            cfg["backward_layer"]["config"]["return_state"] = True
    else:
        cfg["return_state"] = True
    cfg["dtype"] = dtype
    twin = layer.__class__.from_config(cfg)
    return twin


def states_of(layer, x, mask=None):
    """hn [D, B, H] and cn (or None) of `layer` run on x with the same weights."""
    twin = state_twin(layer, layer.dtype_policy.name)
    twin.build(x.shape)
    twin.set_weights(layer.get_weights())
    out = twin(x, mask=mask) if mask is not None else twin(x)
    out = [np.asarray(o) for o in out[1:]]
    is_lstm = "LSTM" in (layer.forward_layer.__class__.__name__ if isinstance(layer, keras.layers.Bidirectional) else layer.__class__.__name__)
    if isinstance(layer, keras.layers.Bidirectional):
        if is_lstm:
            return np.stack([out[0], out[2]]), np.stack([out[1], out[3]])
        return np.stack([out[0], out[1]]), None
    if is_lstm:
        return out[0][None], out[1][None]
    return out[0][None], None


def write_case(name, description, model_file, x, outs32, outs64, lengths=None, extra=None, ref32=REF32, ref64=REF64,
               tol64=(1e-10, 1e-10)):
    d = os.path.join(OUT, name)
    np.save(os.path.join(d, "x.npy"), x.astype(np.float32))
    inputs = {"input": "x.npy"}
    if lengths is not None:
        np.save(os.path.join(d, "lens.npy"), np.asarray(lengths, dtype=np.int64))
        inputs["sequence_lengths"] = "lens.npy"
    exp = {}
    for key, outs, suffix, ref, tol in (("f32", outs32, "", ref32, (1e-5, 1e-4)), ("f64", outs64, "64", ref64, tol64)):
        files = {}
        for k, v in outs.items():
            if v is None:
                continue
            fn = f"{k}{suffix}.npy"
            np.save(os.path.join(d, fn), np.asarray(v, dtype=np.float32 if key == "f32" else np.float64))
            files[k] = fn
        exp[key] = {"outputs": files, "reference": ref, "atol": tol[0], "rtol": tol[1]}
    g = {"name": f"keras_{name}", "description": description, "model": model_file, "inputs": inputs,
         "batch_first": True, "expected": exp, "generator": "tools/make_keras_fixtures.py", "versions": VERSIONS}
    if extra:
        g.update(extra)
    with open(os.path.join(d, "golden.json"), "w") as f:
        json.dump(g, f, indent=2)
        f.write("\n")
    print(f"{name}: {', '.join(sorted(os.listdir(d)))}")


def case_dir(name):
    d = os.path.join(OUT, name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    return d


def single_layer_case(name, description, make_layer, seed, scale=0.5, legacy=False, lengths=None):
    """A Sequential [Input, layer] (with Masking when lengths are given)."""
    if skip(name):
        return
    d = case_dir(name)
    layers = [keras.Input((None, I))]
    if lengths is not None:
        layers.append(keras.layers.Masking(0.0))
    layers.append(make_layer("float32"))
    m = keras.Sequential(layers)
    randomize(m, seed, scale)
    x = rng(seed + 100).standard_normal((B, T, I)).astype(np.float32)
    mask = None
    if lengths is not None:
        for b, length in enumerate(lengths):
            x[b, length:] = 0.0
        mask = np.arange(T)[None, :] < np.asarray(lengths)[:, None]
    model_file = "model.h5" if legacy else "model.keras"
    m.save(os.path.join(d, model_file))
    layer = m.layers[-1]
    y = np.asarray(m(x))
    hn, cn = states_of(layer, x, mask=mask)
    returns_seq = (layer.forward_layer.return_sequences if isinstance(layer, keras.layers.Bidirectional) else layer.return_sequences)
    y64, hn64, cn64 = np_model(m, x, lengths)
    outs32 = {"y": y if returns_seq else None, "hn": hn, "cn": cn}
    outs64 = {"y": y64 if returns_seq else None, "hn": hn64, "cn": cn64 if cn is not None else None}
    write_case(name, description, model_file, x, outs32, outs64, lengths=lengths,
               extra={"cross_check": cross_check(outs32, outs64)})


def cross_check(outs32, outs64):
    return {f"numpy_f64_vs_keras_f32_max_abs_{k}": float(np.abs(np.asarray(outs32[k], np.float64) - outs64[k]).max())
            for k in outs32 if outs32[k] is not None and outs64.get(k) is not None}


def stack_case(name, description, make, seed, legacy=False, stop=None):
    """A whole model; `stop` cuts the layers after the recurrent stack (Dense, …) off the golden."""
    if skip(name):
        return
    d = case_dir(name)
    m = make("float32")
    randomize(m, seed)
    x = rng(seed + 100).standard_normal((B, T, I)).astype(np.float32)
    model_file = "model.h5" if legacy else "model.keras"
    m.save(os.path.join(d, model_file))
    sub = m if stop is None else keras.Model(m.inputs, m.layers[stop - 1].output)
    outs32 = {"y": np.asarray(sub(x))}
    outs64 = {"y": np_model(m, x, stop=stop)[0]}
    write_case(name, description, model_file, x, outs32, outs64, extra={"cross_check": cross_check(outs32, outs64)})
    return m


# ---------------------------------------------------------------------------------------------
# Files Keras 3 cannot write: built with h5py in tf-keras's legacy layout.

def legacy_h5(path, model_config, layers, keras_version, backend="tensorflow"):
    """tf-keras hdf5_format.save_model_to_hdf5: root attrs, model_weights/<layer>/<weight names>."""
    with h5py.File(path, "w") as f:
        f.attrs["keras_version"] = keras_version.encode("utf8")
        f.attrs["backend"] = backend.encode("utf8")
        f.attrs["model_config"] = json.dumps(model_config).encode("utf8")
        g = f.create_group("model_weights")
        g.attrs["layer_names"] = [n.encode("utf8") for n, _ in layers]
        g.attrs["backend"] = backend.encode("utf8")
        g.attrs["keras_version"] = keras_version.encode("utf8")
        for lname, weights in layers:
            lg = g.create_group(lname)
            lg.attrs["weight_names"] = [wn.encode("utf8") for wn, _ in weights]
            for wn, v in weights:
                lg.create_dataset(wn, data=v)


def keras2_sequential(layer_class, layer_config):
    return {"class_name": "Sequential", "config": {"name": "sequential", "layers": [
        {"class_name": "InputLayer", "config": {"batch_input_shape": [None, None, I], "dtype": "float32", "name": "input_1"}},
        {"class_name": layer_class, "config": layer_config}]}, "keras_version": "2.4.0", "backend": "tensorflow"}


ACTS = {
    "tanh": np.tanh,
    "sigmoid": lambda v: 1.0 / (1.0 + np.exp(-v)),
    "softsign": lambda v: v / (1.0 + np.abs(v)),
    "relu": lambda v: np.maximum(v, 0.0),
    "hard_sigmoid": lambda v: np.clip(v / 6.0 + 0.5, 0.0, 1.0),  # Keras 3
}


def np_cell_run(kind, cfg, weights, x, mask):
    """One Keras recurrent layer (no go_backwards) over x [B, T, I] in float64, from the Keras
    equations (keras/src/layers/rnn/{lstm,gru,simple_rnn}.py). Masked steps keep the state and
    output the previous output (zero_output_for_mask=False) or zeros. Returns y [B, T, H], h, c."""
    k, rk = weights[0].astype(np.float64), weights[1].astype(np.float64)
    b = weights[2].astype(np.float64) if len(weights) > 2 else None
    units = rk.shape[0]
    act = ACTS[cfg.get("activation", "tanh")]
    rec = ACTS[cfg.get("recurrent_activation", "sigmoid")]
    bsz, steps, _ = x.shape
    h = np.zeros((bsz, units))
    c = np.zeros((bsz, units))
    prev_out = np.zeros((bsz, units))
    ys = []
    for t in range(steps):
        xt = x[:, t]
        if kind == "LSTM":
            z = xt @ k + h @ rk + (b if b is not None else 0.0)
            i, f, g, o = (z[:, n * units:(n + 1) * units] for n in range(4))
            c_new = rec(f) * c + rec(i) * act(g)
            h_new = rec(o) * act(c_new)
        elif kind == "GRU":
            if cfg.get("reset_after", True):
                bx, bh = (b[0], b[1]) if b is not None else (0.0, 0.0)
                xz = xt @ k + bx
                hz = h @ rk + bh
                zg = rec(xz[:, :units] + hz[:, :units])
                rg = rec(xz[:, units:2 * units] + hz[:, units:2 * units])
                hh = act(xz[:, 2 * units:] + rg * hz[:, 2 * units:])
            else:
                bx = b if b is not None else np.zeros(3 * units)
                xz = xt @ k + bx
                zg = rec(xz[:, :units] + h @ rk[:, :units])
                rg = rec(xz[:, units:2 * units] + h @ rk[:, units:2 * units])
                hh = act(xz[:, 2 * units:] + (rg * h) @ rk[:, 2 * units:])
            h_new = zg * h + (1 - zg) * hh
            c_new = c
        else:
            h_new = act(xt @ k + (b if b is not None else 0.0) + h @ rk)
            c_new = c
        m = np.ones((bsz, 1), dtype=bool) if mask is None else mask[:, t:t + 1]
        h = np.where(m, h_new, h)
        c = np.where(m, c_new, c)
        out = np.where(m, h_new, 0.0 if cfg.get("zero_output_for_mask") else prev_out)
        prev_out = out
        ys.append(out)
    return np.stack(ys, axis=1), h, c


def np_layer(layer, x, mask):
    """A Keras layer of the stack in float64: (y, [h per pass], [c per pass])."""
    cls = layer.__class__.__name__
    if cls == "Bidirectional":
        fw, bw = layer.forward_layer, layer.backward_layer
        yf, hf, cf = np_cell_run(fw.__class__.__name__, fw.get_config(), fw.get_weights(), x, mask)
        yb, hb, cb = np_cell_run(bw.__class__.__name__, bw.get_config(), bw.get_weights(), x[:, ::-1],
                                 None if mask is None else mask[:, ::-1])
        y = np.concatenate([yf, yb[:, ::-1]], axis=-1) if fw.return_sequences else np.concatenate([hf, hb], axis=-1)
        return y, [hf, hb], [cf, cb]
    cfg = layer.get_config()
    if cfg.get("go_backwards"):
        assert mask is None
        x = x[:, ::-1]
    y, h, c = np_cell_run(cls, cfg, layer.get_weights(), x, mask)
    return (y if cfg["return_sequences"] else h), [h], [c]


def np_model(model, x, lengths=None, stop=None):
    """The model's layers up to `stop` (exclusive) in float64: y and the last layer's states."""
    mask = None
    if lengths is not None:
        mask = np.arange(x.shape[1])[None, :] < np.asarray(lengths)[:, None]
    y = x.astype(np.float64)
    hs = cs = None
    for layer in model.layers[:stop]:
        cls = layer.__class__.__name__
        if cls in ("InputLayer", "Masking", "Dropout"):
            continue
        y, hs, cs = np_layer(layer, y, mask)
    return y, np.stack(hs), np.stack(cs)


def numpy_lstm(x, k, rk, b, rec_act, act):
    """Keras LSTM equations in float64: gates i, f, c, o; returns y [B, T, H], h, c."""
    bsz, steps, _ = x.shape
    units = rk.shape[0]
    h = np.zeros((bsz, units))
    c = np.zeros((bsz, units))
    ys = []
    for t in range(steps):
        z = x[:, t] @ k + h @ rk + b
        i, f, g, o = (z[:, n * units:(n + 1) * units] for n in range(4))
        c = rec_act(f) * c + rec_act(i) * act(g)
        h = rec_act(o) * act(c)
        ys.append(h)
    return np.stack(ys, axis=1), h, c


def keras2_hard_sigmoid_case():
    name = "legacy_keras2_hard_sigmoid"
    if skip(name):
        return
    d = case_dir(name)
    units = 5
    r = rng(71)
    k = (r.standard_normal((I, 4 * units)) * 0.7).astype(np.float32)
    rk = (r.standard_normal((units, 4 * units)) * 0.7).astype(np.float32)
    b = (r.standard_normal(4 * units) * 0.7).astype(np.float32)
    cfg = {"name": "lstm", "trainable": True, "dtype": "float32", "return_sequences": True, "return_state": False,
           "go_backwards": False, "stateful": False, "unroll": False, "time_major": False, "units": units,
           "activation": "tanh", "recurrent_activation": "hard_sigmoid", "use_bias": True, "unit_forget_bias": True,
           "dropout": 0.0, "recurrent_dropout": 0.0, "implementation": 2}
    legacy_h5(os.path.join(d, "model.h5"), keras2_sequential("LSTM", cfg),
              [("input_1", []), ("lstm", [("lstm/lstm_cell/kernel:0", k), ("lstm/lstm_cell/recurrent_kernel:0", rk),
                                          ("lstm/lstm_cell/bias:0", b)])], "2.4.0")
    x = rng(171).standard_normal((B, T, I)).astype(np.float32)

    def hs2(v):  # Keras 2 / tf.keras hard_sigmoid
        return np.clip(0.2 * v + 0.5, 0.0, 1.0)
    y, h, c = numpy_lstm(x.astype(np.float64), k.astype(np.float64), rk.astype(np.float64), b.astype(np.float64), hs2, np.tanh)
    ref = "numpy float64 (Keras 2 LSTM equations, hard_sigmoid = clip(0.2x + 0.5, 0, 1))"
    write_case(name, "tf.keras 2.4-layout .h5 (built with h5py): LSTM with Keras 2's hard_sigmoid", "model.h5", x,
               {"y": y, "hn": h[None], "cn": c[None]}, {"y": y, "hn": h[None], "cn": c[None]},
               ref32=ref + "; the f32 golden is the float64 result", ref64=ref)


def cudnn_case(kind):
    name = f"legacy_cudnn_{kind.lower()}"
    if skip(name):
        return
    d = case_dir(name)
    units = 4
    g = 4 if kind == "LSTM" else 3
    r = rng(81 if kind == "LSTM" else 82)
    k = (r.standard_normal((I, g * units)) * 0.6).astype(np.float32)
    rk = (r.standard_normal((units, g * units)) * 0.6).astype(np.float32)
    b = (r.standard_normal(2 * g * units) * 0.6).astype(np.float32)
    cfg = {"name": f"cu_dnn{kind.lower()}", "trainable": True, "dtype": "float32", "return_sequences": True,
           "return_state": False, "go_backwards": False, "stateful": False, "units": units}
    lname = cfg["name"]
    # Keras 2.2.4's CuDNN layers store their weights directly under the layer: "<name>/kernel:0".
    legacy_h5(os.path.join(d, "model.h5"), keras2_sequential("CuDNN" + kind, cfg),
              [("input_1", []), (lname, [(f"{lname}/kernel:0", k), (f"{lname}/recurrent_kernel:0", rk), (f"{lname}/bias:0", b)])],
              "2.2.4")
    x = rng(181).standard_normal((B, T, I)).astype(np.float32)
    if kind == "LSTM":
        layer = keras.layers.LSTM(units, return_sequences=True, return_state=True)
        # tf-keras _convert_rnn_weights sums the two biases (in float32 here; lstmtool keeps
        # them apart and adds them in the run's precision; the f64 golden sums in float64).
        weights, w64 = [k, rk, b[:g * units] + b[g * units:]], [k, rk, b[:g * units].astype(np.float64) + b[g * units:]]
    else:
        layer = keras.layers.GRU(units, return_sequences=True, return_state=True, reset_after=True)
        weights = w64 = [k, rk, b.reshape(2, g * units)]
    layer.build((None, T, I))
    layer.set_weights(weights)
    out = [np.asarray(o) for o in layer(x)]
    y64, h64, c64 = np_cell_run(kind, layer.get_config(), w64, x.astype(np.float64), None)
    outs = {"float32": {"y": out[0], "hn": out[1][None], "cn": out[2][None] if kind == "LSTM" else None},
            "float64": {"y": y64, "hn": h64[None], "cn": c64[None] if kind == "LSTM" else None}}
    tol64 = (1e-10, 1e-10)
    write_case(name, f"Keras 2.2.4-layout .h5 (built with h5py): CuDNN{kind}, bias [{2 * g}H]", "model.h5", x,
               outs["float32"], outs["float64"], tol64=tol64,
               ref32=REF32 + f" (a Keras 3 {kind} with the converted weights)",
               extra={"cross_check": cross_check(outs["float32"], outs["float64"])})


def bad_files():
    """fixtures/keras_bad/: files the reader must refuse with one error line (Tests/LSTMKitTests/KerasTests.swift)."""
    d = os.path.join(ROOT, "fixtures", "keras_bad")
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    units = 3
    r = rng(91)
    cfg = {"name": "lstm", "return_sequences": True, "units": units, "activation": "tanh", "recurrent_activation": "sigmoid", "use_bias": True}
    k = r.standard_normal((I, 4 * units)).astype(np.float32)
    rk = r.standard_normal((units, 4 * units)).astype(np.float32)
    b = r.standard_normal(4 * units).astype(np.float32)
    # A hard-link cycle: model_weights/lstm/lstm is model_weights/lstm itself; weight_names lead
    # round the loop to a dataset that does not exist.
    with h5py.File(os.path.join(d, "cycle.h5"), "w") as f:
        f.attrs["keras_version"] = b"2.4.0"
        f.attrs["model_config"] = json.dumps(keras2_sequential("LSTM", cfg)).encode()
        g = f.create_group("model_weights")
        g.attrs["layer_names"] = [b"lstm"]
        lg = g.create_group("lstm")
        lg["lstm"] = lg  # hard link to itself
        lg.attrs["weight_names"] = [b"lstm/lstm/lstm/lstm_cell/kernel:0", b"lstm/lstm/lstm_cell/recurrent_kernel:0", b"lstm/lstm_cell/bias:0"]
    # The same model with correct weights, then truncated to half its bytes.
    full = os.path.join(d, "good.h5")
    legacy_h5(full, keras2_sequential("LSTM", cfg), [("input_1", []), ("lstm", [("lstm/lstm_cell/kernel:0", k), ("lstm/lstm_cell/recurrent_kernel:0", rk), ("lstm/lstm_cell/bias:0", b)])], "2.4.0")
    data = open(full, "rb").read()
    open(os.path.join(d, "truncated.h5"), "wb").write(data[:len(data) // 2])
    # A config naming a layer that has no weights, and one whose units disagree with the weights.
    cfg2 = keras2_sequential("LSTM", cfg)
    cfg2["config"]["layers"].append({"class_name": "GRU", "config": {"name": "gru", "return_sequences": True, "units": 2}})
    legacy_h5(os.path.join(d, "layer_without_weights.h5"), cfg2, [("input_1", []), ("lstm", [("lstm/lstm_cell/kernel:0", k), ("lstm/lstm_cell/recurrent_kernel:0", rk), ("lstm/lstm_cell/bias:0", b)])], "2.4.0")
    cfg3 = keras2_sequential("LSTM", dict(cfg, units=units + 1))
    legacy_h5(os.path.join(d, "shape_mismatch.h5"), cfg3, [("input_1", []), ("lstm", [("lstm/lstm_cell/kernel:0", k), ("lstm/lstm_cell/recurrent_kernel:0", rk), ("lstm/lstm_cell/bias:0", b)])], "2.4.0")
    print("keras_bad:", ", ".join(sorted(os.listdir(d))))


def main():
    if not SELECT or "bad" in SELECT:
        bad_files()
    keras.utils.set_random_seed(1234)
    os.makedirs(OUT, exist_ok=True)
    L = keras.layers
    single_layer_case("lstm", "Keras LSTM(5), return_sequences", lambda dt: L.LSTM(5, return_sequences=True, dtype=dt), 1)
    single_layer_case("gru_reset_after", "Keras GRU(5, reset_after=True)", lambda dt: L.GRU(5, return_sequences=True, reset_after=True, dtype=dt), 2)
    single_layer_case("gru_reset_before", "Keras GRU(5, reset_after=False)", lambda dt: L.GRU(5, return_sequences=True, reset_after=False, dtype=dt), 3)
    single_layer_case("simple_rnn_softsign", "Keras SimpleRNN(5, activation='softsign')",
                      lambda dt: L.SimpleRNN(5, activation="softsign", return_sequences=True, dtype=dt), 4)
    single_layer_case("lstm_no_bias_last_state", "Keras LSTM(4, use_bias=False), return_sequences=False (hn, cn only)",
                      lambda dt: L.LSTM(4, use_bias=False, dtype=dt), 5)
    single_layer_case("bidirectional_lstm", "Keras Bidirectional(LSTM(4)), merge_mode concat",
                      lambda dt: L.Bidirectional(L.LSTM(4, return_sequences=True, dtype=dt), dtype=dt), 6)
    single_layer_case("hard_sigmoid", "Keras 3 LSTM(4, recurrent_activation='hard_sigmoid') = clip(x/6 + 1/2)",
                      lambda dt: L.LSTM(4, recurrent_activation="hard_sigmoid", return_sequences=True, dtype=dt), 7, scale=1.5)
    single_layer_case("masked_lstm", "Masking(0) + Keras LSTM(4): masked steps repeat the last valid output",
                      lambda dt: L.LSTM(4, return_sequences=True, dtype=dt), 8, lengths=[7, 3, 5])
    single_layer_case("masked_bidirectional_gru", "Masking(0) + Bidirectional(GRU(3)): masked steps output zeros",
                      lambda dt: L.Bidirectional(L.GRU(3, return_sequences=True, dtype=dt), dtype=dt), 9, lengths=[2, 7, 4])
    single_layer_case("go_backwards_last_state", "Keras LSTM(4, go_backwards=True), return_sequences=False (hn, cn)",
                      lambda dt: L.LSTM(4, go_backwards=True, dtype=dt), 10)
    single_layer_case("legacy_h5_gru", "Keras 3 model.save('model.h5'): GRU(4)", lambda dt: L.GRU(4, return_sequences=True, dtype=dt), 11, legacy=True)

    def stack(dt):
        inp = keras.Input((None, I), dtype=dt)
        h = L.LSTM(6, return_sequences=True, name="encoder", dtype=dt)(inp)
        h = L.Dropout(0.3, dtype=dt)(h)
        h = L.GRU(3, return_sequences=True, name="decoder", dtype=dt)(h)
        return keras.Model(inp, h)
    stack_case("stack_widths", "functional LSTM(6) -> Dropout -> GRU(3)", stack, 12)

    def backwards(dt):
        return keras.Sequential([keras.Input((None, I), dtype=dt), L.LSTM(4, go_backwards=True, return_sequences=True, dtype=dt),
                                 L.GRU(3, go_backwards=True, return_sequences=True, dtype=dt)])
    stack_case("go_backwards_pair", "LSTM(go_backwards) -> GRU(go_backwards): the second reads the first's reversed output, so the stack's output is in time order again", backwards, 13)

    def legacy_stack(dt):
        return keras.Sequential([keras.Input((None, I), dtype=dt), L.Bidirectional(L.GRU(3, return_sequences=True, reset_after=False, dtype=dt), dtype=dt),
                                 L.LSTM(4, return_sequences=True, dtype=dt), L.Dense(2, dtype=dt)])
    stack_case("legacy_h5_stack", "Keras 3 model.save('model.h5'): Bidirectional(GRU reset_before) -> LSTM -> Dense (the golden is the LSTM's output)", legacy_stack, 14, legacy=True, stop=2)

    # A weights-only file with its config beside it.
    if not skip("weights_only"):
        weights_only_case()

    keras2_hard_sigmoid_case()
    cudnn_case("LSTM")
    cudnn_case("GRU")


def weights_only_case():
    L = keras.layers
    d = case_dir("weights_only")
    m = keras.Sequential([keras.Input((None, I)), L.GRU(4, return_sequences=True)])
    randomize(m, 15)
    m.save_weights(os.path.join(d, "model.weights.h5"))
    with open(os.path.join(d, "config.json"), "w") as f:
        f.write(m.to_json())
    x = rng(115).standard_normal((B, T, I)).astype(np.float32)
    outs32, outs64 = {"y": np.asarray(m(x))}, {"y": np_model(m, x)[0]}
    write_case("weights_only", "model.save_weights() + model.to_json(): read with --config", "model.weights.h5", x,
               outs32, outs64, extra={"import_options": {"config": "config.json"}, "cross_check": cross_check(outs32, outs64)})


if __name__ == "__main__":
    sys.exit(main())
