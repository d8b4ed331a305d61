#!/usr/bin/env python3
"""Golden case from a real trained model: Silero VAD (MIT licence), whose ONNX graph is a
convolutional front end, an LSTM (I = H = 128) and a classifier, exported by PyTorch 2.11.

    pip download --no-deps silero-vad==6.2.3 -d /tmp/sv && (cd /tmp/sv && unzip -o -q *.whl)
    python3 tools/make_real_goldens.py /tmp/sv

Writes fixtures/real/silero_vad_lstm/: the untouched model file (model.onnx) and its licence,
the LSTM's input as the trained front end computes it for a synthetic audio signal (x.npy),
non-zero initial states, and the LSTM's outputs
  - f32: from onnxruntime, running the whole graph with the LSTM's outputs exposed;
  - f64: from tools/reference_numpy.py on the LSTM weights read here with the onnx package
    (ONNX gate order i, o, f, c mapped to i, f, g, o by this script, independently of lstmtool).
The two are checked against each other before anything is written. `lstmtool verify` then
imports model.onnx itself (the front end and classifier are left out with a note).
"""
import hashlib, json, os, shutil, sys

import numpy as np
import onnx
import onnxruntime as ort
from onnx import numpy_helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reference_numpy  # noqa: E402

WHEEL_VERSION = "6.2.3"
MODEL = "silero_vad/data/silero_vad_16k_sequence.onnx"
OUT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "fixtures", "real", "silero_vad_lstm")


def audio(chunks, rng):
    """16 kHz test signal: silence, a voiced-like harmonic burst, noise, another burst."""
    n = chunks * 576
    t = np.arange(n) / 16000.0
    s = 0.01 * rng.standard_normal(n)
    for start, stop, f0 in ((0.25, 0.9, 140.0), (1.2, 1.55, 210.0)):
        m = (t >= start) & (t < stop)
        for k in range(1, 6):
            s[m] += 0.3 / k * np.sin(2 * np.pi * f0 * k * t[m])
    return s.astype(np.float32).reshape(chunks, 576)


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    src = os.path.join(sys.argv[1], MODEL)
    m = onnx.load(src)
    lstm = [n for n in m.graph.node if n.op_type == "LSTM"]
    assert len(lstm) == 1, "expected one LSTM node"
    node = lstm[0]
    attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
    H = attrs["hidden_size"]
    assert attrs.get("direction", b"forward") in (b"forward", "forward") and "activations" not in attrs and "clip" not in attrs
    init = {i.name: numpy_helper.to_array(i) for i in m.graph.initializer}
    W, R, B = (init[node.input[k]].astype(np.float32) for k in (1, 2, 3))
    I = W.shape[2]

    # Expose the LSTM's input and outputs, then run the whole graph in onnxruntime.
    exposed = onnx.ModelProto()
    exposed.CopyFrom(m)
    for name in (node.input[0], node.output[0]):
        exposed.graph.output.append(onnx.helper.make_empty_tensor_value_info(name))
    sess = ort.InferenceSession(exposed.SerializeToString(), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(20261128)
    chunks = 40
    h0 = (0.3 * rng.standard_normal((1, 1, H))).astype(np.float32)
    c0 = (0.3 * rng.standard_normal((1, 1, H))).astype(np.float32)
    outs = sess.run(None, {"input": audio(chunks, rng), "h": h0, "c": c0})
    names = [o.name for o in exposed.graph.output]
    got = dict(zip(names, outs))
    x = got[node.input[0]]                       # [T, 1, I]
    y = got[node.output[0]][:, 0]                # Y [T, D, B, H] -> [T, B, H]
    hn, cn = got[node.output[1]], got[node.output[2]]
    assert x.shape == (chunks, 1, I), x.shape

    # Independent float64 reference from the same weights: ONNX i,o,f,c -> canonical i,f,g,o.
    def ifgo(a):
        i, o, f, c = np.split(a, 4, axis=0)
        return np.concatenate([i, f, c, o], axis=0)
    tensors = {"W_x": ifgo(W[0]), "W_h": ifgo(R[0]), "b_x": ifgo(B[0][:4 * H]), "b_h": ifgo(B[0][4 * H:])}
    doc = {"format": "lstmtool-json", "format_version": "1.0", "layers": [{
        "cell": "lstm", "input_size": int(I), "hidden_size": int(H),
        "tensors": {"forward": {k: {"dtype": "float32", "shape": list(v.shape),
                                    "bits_hex": v.astype("<f4").tobytes().hex()} for k, v in tensors.items()}}}]}
    y64, hn64, cn64 = reference_numpy.run_model(doc, x, h0=h0, c0=c0)
    err = max(float(np.abs(y64 - y).max()), float(np.abs(hn64 - hn).max()), float(np.abs(cn64 - cn).max()))
    assert err < 1e-5, f"numpy float64 and onnxruntime disagree by {err}"

    os.makedirs(OUT, exist_ok=True)
    shutil.copyfile(src, os.path.join(OUT, "model.onnx"))
    lic = [p for p in ("LICENSE", f"silero_vad-{WHEEL_VERSION}.dist-info/licenses/LICENSE") if os.path.exists(os.path.join(sys.argv[1], p))]
    if lic:
        shutil.copyfile(os.path.join(sys.argv[1], lic[0]), os.path.join(OUT, "LICENSE"))
    for name, arr in (("x", x), ("h0", h0), ("c0", c0), ("y", y), ("hn", hn), ("cn", cn),
                      ("y64", y64), ("hn64", hn64), ("cn64", cn64)):
        np.save(os.path.join(OUT, f"{name}.npy"), arr)
    sha = hashlib.sha256(open(src, "rb").read()).hexdigest()
    golden = {
        "name": "silero_vad_lstm",
        "description": "The LSTM of Silero VAD 6.2.3 (a real trained model, MIT licence), imported from the "
                       "untouched ONNX graph; its input is the trained convolutional front end's output for a "
                       "synthetic speech-like signal; non-zero initial states.",
        "model": "model.onnx",
        "inputs": {"input": "x.npy", "initial_h": "h0.npy", "initial_c": "c0.npy"},
        "batch_first": False,
        "expected": {
            "f32": {"outputs": {"y": "y.npy", "hn": "hn.npy", "cn": "cn.npy"},
                    "reference": f"onnxruntime {ort.__version__} (CPU, float32), whole graph", "atol": 1e-5, "rtol": 1e-4},
            "f64": {"outputs": {"y": "y64.npy", "hn": "hn64.npy", "cn": "cn64.npy"},
                    "reference": f"numpy {np.__version__} float64 (tools/reference_numpy.py)", "atol": 1e-10, "rtol": 1e-10},
        },
        "generator": "tools/make_real_goldens.py",
        "source": {"package": f"silero-vad=={WHEEL_VERSION} (PyPI)", "file": MODEL, "sha256": sha, "licence": "MIT"},
        "versions": {"numpy": np.__version__, "onnx": onnx.__version__, "onnxruntime": ort.__version__},
        "cross_check": {"numpy_f64_vs_onnxruntime_max_abs": err},
    }
    with open(os.path.join(OUT, "golden.json"), "w") as f:
        json.dump(golden, f, indent=2)
        f.write("\n")
    print(f"wrote {OUT}: T={chunks}, I={I}, H={H}; numpy f64 vs onnxruntime max |diff| {err:.2g}")


if __name__ == "__main__":
    main()
