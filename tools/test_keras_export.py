#!/usr/bin/env python3
"""Checks lstmtool's Keras export with Keras 3 itself.

    .venv/bin/python tools/test_keras_export.py [PATH/TO/lstmtool]

* Every Keras fixture (fixtures/keras/*): `convert` to .lstm and back to .keras; Keras's
  `keras.saving.load_model` must load it, its recurrent weights must equal the original file's
  bit for bit, and it must compute the fixture's Keras outputs (f32 golden y, atol 1e-5, rtol
  1e-4) where the fixture's output is a full unmasked sequence. go_backwards layers and
  Keras 2's hard_sigmoid must be refused.
* Every model under fixtures/golden and fixtures/models: exported, or refused with exit 1, an
  `error:` line and no output file when it has what Keras cannot express (projection,
  peepholes, coupled gates, clips, learned initial states, non-Keras activations, reverse
  layers). Exports are loaded by Keras and run on random batch-first input; Keras's y must
  match `lstmtool run --batch-first` on the original model.
Prints one line per check and `N passed, M failed`; exits 1 when anything failed.
Needs numpy, keras and jax (tools/requirements-test.txt).
"""
import glob
import json
import os
import subprocess
import sys
import tempfile

os.environ.setdefault("KERAS_BACKEND", "jax")
os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOOL = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, ".build", "debug", "lstmtool")
ATOL, RTOL = 1e-5, 1e-4
# Keras fixtures whose models the exporter must refuse, with a word the message must contain.
KERAS_REFUSALS = {"go_backwards_last_state": "reverse", "go_backwards_pair": "reverse",
                  "legacy_keras2_hard_sigmoid": "hard_sigmoid"}
passed = failed = 0


def report(name, ok, why=""):
    global passed, failed
    if ok:
        passed += 1
        print(f"{name}: PASS{(' ' + why) if why else ''}")
    else:
        failed += 1
        print(f"{name}: FAIL {why}")


def tool(*args):
    return subprocess.run([TOOL, *args], capture_output=True, text=True)


def recurrent_weights(model):
    """The weights of the recurrent layers, in layer order (Dense etc. left out)."""
    out = []
    for layer in model.layers:
        cls = layer.__class__.__name__
        if cls in ("LSTM", "GRU", "SimpleRNN", "Bidirectional"):
            out += [np.asarray(w) for w in layer.get_weights()]
    return out


def cudnn_weights(path):
    """Keras 3 cannot load CuDNNLSTM/CuDNNGRU; their weights as tf-keras converts them for
    LSTM / GRU(reset_after=True): kernels as they are, the LSTM's two biases summed (float32),
    the GRU's [6H] bias as [2, 3H]."""
    import h5py
    with h5py.File(path, "r") as f:
        cfg = json.loads(f.attrs["model_config"])
        g = f["model_weights"]
        out = []
        for layer in cfg["config"]["layers"]:
            cls, lname = layer["class_name"], layer["config"]["name"]
            if not cls.startswith("CuDNN"):
                continue
            names = [n.decode() if isinstance(n, bytes) else n for n in g[lname].attrs["weight_names"]]
            k, rk, b = (np.asarray(g[lname][n]) for n in names)
            half = b.shape[0] // 2
            out += [k, rk, b[:half] + b[half:] if cls == "CuDNNLSTM" else b.reshape(2, half)]
        return out


def check_refusal(name, src, out, word):
    r = tool("convert", src, out)
    ok = r.returncode == 1 and r.stderr.startswith("error:") and word in r.stderr and not os.path.exists(out) \
        and len(r.stderr.strip().splitlines()) == 1
    report(name, ok, "refused: " + r.stderr.strip() if ok else f"rc={r.returncode} stderr={r.stderr.strip()!r}")


def keras_fixtures(tmp):
    for golden in sorted(glob.glob(os.path.join(ROOT, "fixtures", "keras", "*", "golden.json"))):
        case = os.path.dirname(golden)
        name = os.path.basename(case)
        g = json.load(open(golden))
        src = os.path.join(case, g["model"])
        lstm = os.path.join(tmp, name + ".lstm")
        args = ["convert", src, lstm]
        if "config" in g.get("import_options", {}):
            args += ["--config", os.path.join(case, g["import_options"]["config"])]
        r = tool(*args)
        if r.returncode != 0:
            report(f"keras/{name} import", False, r.stderr.strip())
            continue
        out = os.path.join(tmp, name + ".keras")
        if name in KERAS_REFUSALS:
            check_refusal(f"keras/{name} export", lstm, out, KERAS_REFUSALS[name])
            continue
        r = tool("convert", lstm, out)
        if r.returncode != 0:
            report(f"keras/{name} export", False, r.stderr.strip())
            continue
        try:
            exported = keras.saving.load_model(out)
        except Exception as e:  # noqa: BLE001
            report(f"keras/{name} load_model", False, repr(e)[:300])
            continue
        # The original's weights, as Keras reads them.
        if src.endswith(".weights.h5"):
            with open(os.path.join(case, g["import_options"]["config"])) as f:
                original = keras.models.model_from_json(f.read())
            original.load_weights(src)
            a = recurrent_weights(original)
        elif "cudnn" in name:
            a = cudnn_weights(src)
        else:
            a = recurrent_weights(keras.saving.load_model(src))
        b = recurrent_weights(exported)
        same = len(a) == len(b) and all(x.dtype == y.dtype and x.shape == y.shape and x.tobytes() == y.tobytes() for x, y in zip(a, b))
        report(f"keras/{name} weights bit for bit", same, f"{len(b)} arrays")
        y_file = g["expected"]["f32"]["outputs"].get("y")
        if y_file and "sequence_lengths" not in g["inputs"]:
            x = np.load(os.path.join(case, g["inputs"]["input"]))
            want = np.load(os.path.join(case, y_file))
            got = np.asarray(exported(x))
            err = float(np.abs(got - want).max())
            report(f"keras/{name} Keras runs the export", got.shape == want.shape and np.allclose(got, want, atol=ATOL, rtol=RTOL),
                   f"max|err| {err:.3g}")


def generic_models(tmp):
    models = sorted(glob.glob(os.path.join(ROOT, "fixtures", "models", "*.lstm")))
    for golden in sorted(glob.glob(os.path.join(ROOT, "fixtures", "golden", "*", "golden.json"))):
        g = json.load(open(golden))
        models.append(os.path.join(os.path.dirname(golden), g["model"]))
    rng = np.random.default_rng(5)
    for src in models:
        name = os.path.relpath(src, ROOT)
        out = os.path.join(tmp, name.replace("/", "_") + ".keras")
        r = tool("convert", src, out)
        if r.returncode != 0:
            ok = r.returncode == 1 and r.stderr.startswith("error:") and "cannot export to Keras" in r.stderr \
                and not os.path.exists(out) and len(r.stderr.strip().splitlines()) == 1
            report(f"{name} refused", ok, r.stderr.strip())
            continue
        info = json.loads(tool("inspect", src, "--json").stdout)
        isize = info["layers"][0]["input_size"]
        x = rng.standard_normal((2, 6, isize)).astype(np.float32)
        xf = os.path.join(tmp, "x.npy")
        yf = os.path.join(tmp, "y.npy")
        np.save(xf, x)
        r = tool("run", src, "--input", xf, "--output", yf, "--batch-first")
        if r.returncode != 0:
            report(f"{name} run", False, r.stderr.strip())
            continue
        try:
            got = np.asarray(keras.saving.load_model(out)(x))
        except Exception as e:  # noqa: BLE001
            report(f"{name} Keras loads and runs the export", False, repr(e)[:300])
            continue
        want = np.load(yf)
        err = float(np.abs(got - want).max()) if got.shape == want.shape else float("inf")
        report(f"{name} Keras runs the export", got.shape == want.shape and np.allclose(got, want, atol=ATOL, rtol=RTOL),
               f"max|err| {err:.3g}")


def main():
    with tempfile.TemporaryDirectory() as tmp:
        keras_fixtures(tmp)
        generic_models(tmp)
        # Legacy .h5 output is a usage error (exit 64) saying .h5 is read, not written.
        out = os.path.join(tmp, "x.h5")
        r = tool("convert", os.path.join(ROOT, "fixtures", "models", "lstm.lstm"), out)
        ok = r.returncode == 64 and "reads .h5" in r.stderr and ".keras" in r.stderr and not os.path.exists(out)
        report("export to .h5 refused", ok, "usage error: " + r.stderr.strip().splitlines()[0] if ok else f"rc={r.returncode} stderr={r.stderr.strip()!r}")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
