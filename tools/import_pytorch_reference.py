#!/usr/bin/env python3
"""Copy the PyTorch reference data into fixtures/pytorch/ and add lstmtool inputs for it.

    python3 tools/import_pytorch_reference.py [SOURCE_DIR]

SOURCE_DIR defaults to ../shared/reference/pytorch (relative to the repository root). For
every case folder listed in its manifest.json the script
  * copies every file of the folder unchanged (model.safetensors, x/h0/c0.npy, PyTorch's
    float32 outputs y/hn/cn.npy, its float64 outputs y64/hn64/cn64.npy, model.onnx, ...);
  * writes model.json: the canonical lstmtool model (docs/JSON_FORM.md) built from
    model.safetensors, which it parses itself (8-byte little-endian header length, JSON
    header, raw little-endian tensor bytes). PyTorch LSTM gate order i,f,g,o is canonical;
    PyTorch GRU r,z,n is permuted to z,r,n (reset-after); RNN nonlinearity from the manifest;
    weight_hr -> W_proj;
  * writes golden.json (f32 expectations = PyTorch float32, f64 = PyTorch float64);
  * re-evaluates model.json with tools/reference_numpy.py and fails unless it reproduces
    PyTorch's float64 outputs within 1e-9 and its float32 outputs within 1e-5 (this catches
    mapping mistakes).
It also copies manifest.json and README.md, and writes fixtures/pytorch/PROVENANCE.md.
"""
import json
import os
import shutil
import struct
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import reference_numpy as ref  # noqa: E402
from make_goldens import dump_json, model_json  # noqa: E402

REPO = os.path.dirname(HERE)
DEFAULT_SRC = os.path.normpath(os.path.join(REPO, "..", "shared", "reference", "pytorch"))
OUT = os.path.join(REPO, "fixtures", "pytorch")
TORCH = "PyTorch 2.11.0"
ST_DTYPES = {"F32": np.float32, "F64": np.float64, "F16": np.float16}
GATES = {"LSTM": 4, "GRU": 3, "RNN": 1}


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 8:
        raise ValueError(f"{path}: too short")
    (n,) = struct.unpack("<Q", data[:8])
    if n > len(data) - 8:
        raise ValueError(f"{path}: header length {n} beyond the file")
    header = json.loads(data[8:8 + n].decode("utf-8"))
    body = data[8 + n:]
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dt = np.dtype(ST_DTYPES[info["dtype"]]).newbyteorder("<")
        a, b = info["data_offsets"]
        shape = info["shape"]
        arr = np.frombuffer(body[a:b], dtype=dt)
        if arr.size != int(np.prod(shape)):
            raise ValueError(f"{path}: {name} size mismatch")
        out[name] = arr.reshape(shape).astype(dt.newbyteorder("="))
    return out


def canonical_layers(case, sd):
    mod = case["module"]
    kw = case["kwargs"]
    I, H = kw["input_size"], kw["hidden_size"]
    L = kw.get("num_layers", 1)
    bidir = kw.get("bidirectional", False)
    bias = kw.get("bias", True)
    proj = kw.get("proj_size", 0) or None
    cell = mod.lower()
    passes = ["forward", "reverse"] if bidir else ["forward"]
    D = len(passes)
    P = proj or H
    if mod == "RNN":
        acts = [[("tanh" if kw.get("nonlinearity", "tanh") == "tanh" else "relu", 0.0, 0.0)]] * D
    elif mod == "LSTM":
        acts = [[("sigmoid", 0.0, 0.0), ("tanh", 0.0, 0.0), ("tanh", 0.0, 0.0)]] * D
    else:
        acts = [[("sigmoid", 0.0, 0.0), ("tanh", 0.0, 0.0)]] * D
    used = set()
    layers = []
    for k in range(L):
        tens = {}
        for p in passes:
            sfx = f"_l{k}" + ("_reverse" if p == "reverse" else "")

            def take(n):
                used.add(n + sfx)
                return sd[n + sfx]
            t = {"W_x": take("weight_ih"), "W_h": take("weight_hh")}
            if bias:
                t["b_x"] = take("bias_ih")
                t["b_h"] = take("bias_hh")
            if mod == "GRU":  # PyTorch r, z, n -> canonical z, r, n
                perm = lambda a: np.concatenate([a[H:2 * H], a[0:H], a[2 * H:3 * H]])
                t = {r: perm(v) for r, v in t.items()}
            if proj:
                t["W_proj"] = take("weight_hr")
            tens[p] = t
        layers.append({
            "cell": cell, "input_size": I if k == 0 else D * P, "hidden_size": H,
            "direction": "bidirectional" if bidir else "forward", "bias": bias,
            "activations": acts, "peepholes": [], "coupled": False, "projection_size": proj,
            "activation_clip": None, "cell_clip": None, "projection_clip": None,
            "reset_after": True if mod == "GRU" else None, "initial_state": False,
            "dtype": "float32", "passes": passes, "tensors": tens,
        })
    extra = set(sd) - used
    if extra:
        raise ValueError(f"{case['name']}: unused tensors {sorted(extra)}")
    return layers


def maxabs(a, b):
    return float(np.max(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))))


def main(argv):
    src = argv[0] if argv else DEFAULT_SRC
    with open(os.path.join(src, "manifest.json")) as f:
        manifest = json.load(f)
    os.makedirs(OUT, exist_ok=True)
    for fn in ("manifest.json", "README.md"):
        shutil.copyfile(os.path.join(src, fn), os.path.join(OUT, fn))
    rows = []
    for case in manifest["cases"]:
        name = case["name"]
        sdir = os.path.join(src, name)
        d = os.path.join(OUT, name)
        if os.path.isdir(d):
            shutil.rmtree(d)
        os.makedirs(d)
        for fn in sorted(os.listdir(sdir)):
            shutil.copyfile(os.path.join(sdir, fn), os.path.join(d, fn))
        sd = read_safetensors(os.path.join(d, "model.safetensors"))
        layers = canonical_layers(case, sd)
        desc = (f"torch.nn.{case['module']}({', '.join(f'{k}={v}' for k, v in case['kwargs'].items())}), "
                f"T={case['seq']}, B={case['batch']}, initial states "
                f"{'given' if case['initial_state'] else 'absent'}; from the PyTorch reference data.")
        mj = model_json(name, desc, layers, source="pytorch")
        mj["metadata"]["source_file"] = "model.safetensors"
        dump_json(mj, os.path.join(d, "model.json"))

        inputs = {"input": "x.npy"}
        for key, fn in (("initial_h", "h0.npy"), ("initial_c", "c0.npy")):
            if os.path.exists(os.path.join(d, fn)):
                inputs[key] = fn
        has_c = case["module"] == "LSTM"
        outs32 = {"y": "y.npy", "hn": "hn.npy"}
        outs64 = {"y": "y64.npy", "hn": "hn64.npy"}
        if has_c:
            outs32["cn"] = "cn.npy"
            outs64["cn"] = "cn64.npy"

        # verify the mapping with the independent NumPy reference
        ld = lambda fn: np.load(os.path.join(d, fn))
        model = ref.load_model(os.path.join(d, "model.json"))
        h0 = ld("h0.npy") if "initial_h" in inputs else None
        c0 = ld("c0.npy") if "initial_c" in inputs else None
        y64, hn64, cn64 = ref.run_model(model, ld("x.npy"), h0, c0, None, False, np.float64)
        y32, hn32, cn32 = ref.run_model(model, ld("x.npy"), h0, c0, None, False, np.float32)
        got64 = {"y": y64, "hn": hn64, "cn": cn64}
        got32 = {"y": y32, "hn": hn32, "cn": cn32}
        d64 = max(maxabs(got64[k], ld(v)) for k, v in outs64.items())
        d32 = max(maxabs(got64[k], ld(v)) for k, v in outs32.items())
        d32n = max(maxabs(got32[k], ld(v)) for k, v in outs32.items())
        for k, v in outs64.items():
            if got64[k].shape != ld(v).shape:
                raise SystemExit(f"{name}: shape of {k} {got64[k].shape} != {ld(v).shape}")
        if d64 > 1e-9 or d32 > 1e-5 or d32n > 1e-5:
            raise SystemExit(f"{name}: numpy reference does not reproduce PyTorch: f64 {d64:.3g}, "
                             f"f32 {d32:.3g}, numpy-f32 {d32n:.3g}")
        g = {
            "name": name, "description": desc, "model": "model.json", "inputs": inputs,
            "batch_first": False,
            "expected": {
                "f32": {"outputs": outs32, "reference": f"{TORCH} float32", "atol": 1e-5, "rtol": 1e-4},
                "f64": {"outputs": outs64, "reference": f"{TORCH} float64", "atol": 1e-9, "rtol": 1e-9},
            },
            "generator": "tools/import_pytorch_reference.py",
            "source_weights": "model.safetensors",
            "versions": {"torch": "2.11.0", "numpy": np.__version__},
            "cross_check": {"numpy_f64_vs_torch_f64_max_abs": d64, "numpy_f64_vs_torch_f32_max_abs": d32,
                            "numpy_f32_vs_torch_f32_max_abs": d32n},
        }
        if os.path.exists(os.path.join(d, "model.onnx")):
            g["onnx_model"] = "model.onnx"
        dump_json(g, os.path.join(d, "golden.json"))
        rows.append((name, d64, d32, d32n))
    write_provenance(src, manifest, rows)
    for name, d64, d32, d32n in rows:
        print(f"{name:18s} numpy f64 vs torch f64 {d64:.3g}   numpy f64 vs torch f32 {d32:.3g}   "
              f"numpy f32 vs torch f32 {d32n:.3g}")


def write_provenance(src, manifest, rows):
    lines = [
        "# Provenance of fixtures/pytorch",
        "",
        "Copied from `../shared/reference/pytorch` (the shared reference folder next to this repository)",
        f"by `tools/import_pytorch_reference.py`. The data were produced with torch 2.11.0 (CPU; manifest "
        f"generator `{manifest.get('generator')}`) and checked with onnxruntime {manifest.get('onnxruntime')} "
        "by whoever made the shared folder; see `README.md` (copied unchanged) and `manifest.json` (copied "
        "unchanged) for the module arguments of each case.",
        "",
        "## Copied unchanged",
        "",
        "Every file of every case folder: `model.safetensors` (PyTorch `state_dict()`), `x.npy`, `h0.npy`/`c0.npy`",
        "where the case has initial states, PyTorch's float32 outputs `y.npy`, `hn.npy`, `cn.npy`, its float64",
        "outputs (`module.double()`) `y64.npy`, `hn64.npy`, `cn64.npy`, `model.onnx` (legacy TorchScript exporter,",
        "opset 17; absent for projection LSTMs, which PyTorch cannot export) and, for `lstm_2l_bi`,",
        "`model_in_module.safetensors` (the same LSTM under the prefix `encoder.rnn.` beside unrelated tensors).",
        "",
        "## Added here",
        "",
        "* `model.json` — the canonical lstmtool model (docs/JSON_FORM.md) written from `model.safetensors` by",
        "  our own safetensors parser: `weight_ih_l{k}[_reverse]` -> `W_x`, `weight_hh` -> `W_h`, `bias_ih` -> `b_x`,",
        "  `bias_hh` -> `b_h`, `weight_hr` -> `W_proj`. LSTM gate order i, f, g, o is kept (it is canonical); GRU",
        "  blocks r, z, n are permuted to z, r, n and the layer is `reset_after: true`; the RNN activation comes",
        "  from the manifest's `nonlinearity` (default tanh). All tensors float32, copied bit for bit.",
        "* `golden.json` — the case description for lstmtool's tests: inputs, expected outputs (`f32`: PyTorch",
        "  float32, atol 1e-5 rtol 1e-4; `f64`: PyTorch float64, atol 1e-9 rtol 1e-9).",
        "* The mapping was verified by re-evaluating each `model.json` with the independent NumPy reference",
        "  (`tools/reference_numpy.py`); largest differences:",
        "",
        "| case | numpy f64 vs torch f64 | numpy f64 vs torch f32 | numpy f32 vs torch f32 |",
        "|---|---|---|---|",
    ]
    for name, d64, d32, d32n in rows:
        lines.append(f"| {name} | {d64:.2g} | {d32:.2g} | {d32n:.2g} |")
    lines += ["", "Regenerate with `python3 tools/import_pytorch_reference.py` (needs only numpy).", ""]
    with open(os.path.join(OUT, "PROVENANCE.md"), "w") as f:
        f.write("\n".join(lines))


if __name__ == "__main__":
    main(sys.argv[1:])
