#!/usr/bin/env python3
"""Checks lstmtool's TFLite export and import against LiteRT (ai-edge-litert, no TensorFlow).

    python3 tools/test_tflite_export.py [PATH/TO/lstmtool]

Export, for every model in fixtures/models and every golden case under fixtures/ (each model
converted to .lstm first, with the case's import_options):
  * `lstmtool convert model.lstm model.tflite --batch-size B [--batch-first]`; a model TFLite
    cannot express (activation_clip, a learned initial state, activations TFLite lacks) must
    be refused with exit 1, one `error:` line naming the reason, and no output file;
  * the file must parse with LiteRT's own schema bindings (schema_py_generated) and hold no
    custom operator; LiteRT's interpreter runs it with the case's input (resized to its T),
    its initial states set into the state variables `layers.{k}.{pass}.h/.c`;
  * y and the final states (read from those variables) must match `lstmtool run` (f32) and,
    where the case has no sequence lengths, the golden's own f32 outputs (atol 1e-5, rtol 1e-4);
  * a second invoke() on a new input must continue from the first: it is compared with
    `lstmtool run` on that input from the first run's final states.
Import: every .tflite under fixtures/tflite (built by tools/make_tflite_fixtures.py with
LiteRT's schema bindings) is converted to .lstm and its `lstmtool run` compared with LiteRT's
outputs for the same file; a round trip export → import keeps every weight.
Prints one line per check and `N passed, M failed`; exits 1 when anything failed.
"""
import glob
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
from ai_edge_litert import schema_py_generated as S
from ai_edge_litert.interpreter import Interpreter

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOOL = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, ".build", "debug", "lstmtool")
ATOL, RTOL = 1e-5, 1e-4
passed = failed = 0
rng = np.random.default_rng(12)


def report(name, ok, why=""):
    global passed, failed
    if ok:
        passed += 1
        print(f"{name}: PASS{(' ' + why) if why else ''}")
    else:
        failed += 1
        print(f"{name}: FAIL {why}")


def run(argv):
    return subprocess.run(argv, capture_output=True, text=True)


def close(a, b):
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    return a.shape == b.shape and bool(np.all(np.abs(a - b) <= ATOL + RTOL * np.abs(b)))


def err(a, b):
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b))) if a.shape == b.shape else float("inf")


def expected_refusal(model_json):
    """The word the refusal must contain, or None when TFLite can express the model."""
    m = json.load(open(model_json))
    for layer in m["layers"]:
        if layer.get("activation_clip") is not None:
            return "activation_clip"
        for acts in layer["activations"]:
            kinds = [a["kind"] for a in acts]
            if layer["cell"] == "lstm" and (kinds[0] != "sigmoid" or acts[1] != acts[2] or kinds[1] not in ("tanh", "relu")):
                return "activation"
            if layer["cell"] == "gru" and (kinds[0] != "sigmoid" or kinds[1] not in ("tanh", "relu")):
                return "activation"
            if layer["cell"] == "rnn" and kinds[0] not in ("tanh", "relu"):
                return "activation"
        for ts in layer["tensors"].values():
            for role in ("h0", "c0"):
                if role in ts and any(float(v) != 0 for v in np.ravel(ts[role]["values"])):
                    return "initial state"
    return None


def layout(model_json):
    """[(k, pass, P, H, has_c)] in state order (layer-major, direction-minor)."""
    m = json.load(open(model_json))
    out = []
    for k, layer in enumerate(m["layers"]):
        passes = ["forward", "reverse"] if layer["direction"] == "bidirectional" else [layer["direction"]]
        H = layer["hidden_size"]
        P = layer.get("projection_size") or H
        for p in passes:
            out.append((k, p, P, H, layer["cell"] == "lstm"))
    return out


def load_state(path, rows, width_of):
    """A state file (.npy [L·D, B, W] or .npz layer0, …) as one array per state row."""
    if path.endswith(".npz"):
        z = np.load(path)
        out = []
        for k in sorted({r[0] for r in rows}):
            a = z[f"layer{k}"]
            out.extend(list(a))
        return out
    return list(np.load(path))


def save_state(path, arrays, rows):
    if path.endswith(".npz"):
        by = {}
        for a, r in zip(arrays, rows):
            by.setdefault(f"layer{r[0]}", []).append(a)
        np.savez(path, **{k: np.stack(v) for k, v in by.items()})
    else:
        np.save(path, np.stack(arrays))


class Lite:
    def __init__(self, path):
        self.it = Interpreter(model_path=path)
        self.names = {d["name"]: d["index"] for d in self.it.get_tensor_details()}
        self.inp = self.it.get_input_details()[0]["index"]
        self.out = self.it.get_output_details()[0]["index"]

    def start(self, shape):
        self.it.resize_tensor_input(self.inp, list(shape))
        self.it.allocate_tensors()
        self.it.reset_all_variables()

    def set_states(self, rows, h_rows=None, c_rows=None):
        for j, (k, p, P, H, has_c) in enumerate(rows):
            if h_rows is not None:
                self.it.set_tensor(self.names[f"layers.{k}.{p}.h"], np.ascontiguousarray(h_rows[j], dtype=np.float32))
            if c_rows is not None and has_c:
                self.it.set_tensor(self.names[f"layers.{k}.{p}.c"], np.ascontiguousarray(c_rows[j], dtype=np.float32))

    def invoke(self, x, rows):
        self.it.set_tensor(self.inp, np.ascontiguousarray(x, dtype=np.float32))
        self.it.invoke()
        y = self.it.get_tensor(self.out).copy()
        hs = [self.it.get_tensor(self.names[f"layers.{k}.{p}.h"]).copy() for (k, p, *_r) in rows]
        cs = [self.it.get_tensor(self.names[f"layers.{k}.{p}.c"]).copy() for (k, p, _P, _H, has_c) in rows if has_c]
        if not all(r[4] for r in rows):
            cs = []
        return y, hs, cs


def tool_run(model, tmp, x, bf, rows, h0=None, c0=None, lens=None):
    wide = len({r[2] for r in rows}) > 1 or len({r[3] for r in rows}) > 1
    ext = ".npz" if wide else ".npy"
    p = {k: os.path.join(tmp, k) for k in ("x.npy", "y.npy")}
    hn, cn = os.path.join(tmp, "hn" + ext), os.path.join(tmp, "cn" + ext)
    np.save(p["x.npy"], x)
    # lstmtool gives cell states only when every layer is an LSTM.
    has_c = all(r[4] for r in rows)
    argv = [TOOL, "run", model, "--input", p["x.npy"], "--output", p["y.npy"], "--final-h", hn, "--precision", "f32"]
    if has_c:
        argv += ["--final-c", cn]
    if h0 is not None:
        hp = os.path.join(tmp, "h0" + ext)
        save_state(hp, h0, rows)
        argv += ["--initial-h", hp]
    if c0 is not None and has_c:
        cp = os.path.join(tmp, "c0" + ext)
        save_state(cp, c0, [r for r in rows if r[4]])
        argv += ["--initial-c", cp]
    if lens is not None:
        lp = os.path.join(tmp, "lens.npy")
        np.save(lp, lens)
        argv += ["--sequence-lengths", lp]
    if bf:
        argv.append("--batch-first")
    r = run(argv)
    if r.returncode != 0:
        raise RuntimeError("lstmtool run: " + r.stderr.strip())
    hs = load_state(hn, rows, None)
    cs = load_state(cn, [r for r in rows if r[4]], None) if has_c else []
    return np.load(p["y.npy"]), hs, cs


def check_parse(name, path):
    buf = open(path, "rb").read()
    try:
        m = S.ModelT.InitFromObj(S.Model.GetRootAs(buf, 0))
    except Exception as e:  # noqa: BLE001
        report(f"{name} schema bindings", False, str(e)[:200])
        return False
    codes = [max(c.builtinCode, c.deprecatedBuiltinCode) for c in m.operatorCodes]
    custom = [c for c in codes if c == S.BuiltinOperator.CUSTOM]
    ok = S.Model.ModelBufferHasIdentifier(buf, 0) and not custom and m.version == 3
    names = {v: k for k, v in vars(S.BuiltinOperator).items() if not k.startswith("_")}
    report(f"{name} schema bindings", ok, "ops: " + ",".join(sorted({names[c] for c in codes})))
    return ok


def check_export(name, model_lstm, tmp, x, bf, h0=None, c0=None, golden=None, lens=None):
    """Export, run in LiteRT twice, compare with lstmtool (and the golden)."""
    json_path = os.path.join(tmp, "model.json")
    run([TOOL, "convert", model_lstm, json_path])
    rows = layout(json_path)
    B = x.shape[0] if bf else x.shape[1]
    out = os.path.join(tmp, "model.tflite")
    if os.path.exists(out):
        os.remove(out)
    argv = [TOOL, "convert", model_lstm, out, "--batch-size", str(B)] + (["--batch-first"] if bf else [])
    r = run(argv)
    want_refusal = expected_refusal(json_path)
    if r.returncode != 0 or want_refusal:
        lines = [ln for ln in r.stderr.strip().splitlines() if ln.startswith("error:")]
        ok = (want_refusal is not None and r.returncode == 1 and len(lines) == 1 and want_refusal in lines[0]
              and "TFLite" in lines[0] and not os.path.exists(out))
        report(f"{name} refused", ok, (lines[-1] if lines else r.stderr.strip()) + ("" if want_refusal else " (unexpected)"))
        return None
    if not check_parse(name, out):
        return None
    lite = Lite(out)
    lite.start(x.shape)
    h_rows = list(h0) if h0 is not None else None
    c_rows = list(c0) if c0 is not None else None
    lite.set_states(rows, h_rows, c_rows)
    y, hs, cs = lite.invoke(x, rows)
    want = tool_run(model_lstm, tmp, x, bf, rows, h_rows, c_rows)
    pairs = {"y": (y, want[0])}
    for j, (a, b) in enumerate(zip(hs, want[1])):
        pairs[f"h{j}"] = (a, b)
    for j, (a, b) in enumerate(zip(cs, want[2])):
        pairs[f"c{j}"] = (a, b)
    bad = [k for k, (a, b) in pairs.items() if not close(a, b)]
    report(f"{name} LiteRT vs lstmtool", not bad, f"max|err| {max(err(a, b) for a, b in pairs.values()):.2g}" + (f" in {bad}" if bad else ""))
    if golden is not None and lens is None:
        gy, ghn, gcn = golden
        # A Keras case without return_sequences keeps only the last output: compare the states.
        gp = {"y": (y, gy)} if gy is not None and gy.shape == y.shape else {}
        if ghn is not None and len(ghn) == len(hs):
            gp["hn"] = (np.stack(hs), ghn)
        if gcn is not None and len(gcn) == len(cs) and cs:
            gp["cn"] = (np.stack(cs), gcn)
        bad = [k for k, (a, b) in gp.items() if not close(a, b)]
        if gp:
            report(f"{name} LiteRT vs golden", not bad, f"max|err| {max(err(a, b) for a, b in gp.values()):.2g} ({', '.join(gp)})" + (f" in {bad}" if bad else ""))
    # A second invoke() continues from the first one's states.
    x2 = rng.uniform(-1, 1, size=x.shape).astype(np.float32)
    y2, hs2, cs2 = lite.invoke(x2, rows)
    mixed = not all(r[4] for r in rows) and any(r[4] for r in rows)
    if mixed:
        # lstmtool run takes no cell state for a stack that mixes LSTM with other cells; a
        # forward-only stack continues exactly as one run over both inputs back to back.
        if any(r[1] != "forward" for r in rows):
            print(f"{name} second invoke continues: SKIP (mixed stack with a reverse pass)")
            return out
        ax = 1 if bf else 0
        both = tool_run(model_lstm, tmp, np.concatenate([x, x2], axis=ax), bf, rows, h_rows, c_rows)
        T = x.shape[ax]
        want2 = (both[0][:, T:] if bf else both[0][T:], both[1], [])
    else:
        want2 = tool_run(model_lstm, tmp, x2, bf, rows, want[1], want[2] if want[2] else None)
    pairs = {"y": (y2, want2[0])}
    for j, (a, b) in enumerate(zip(hs2, want2[1])):
        pairs[f"h{j}"] = (a, b)
    for j, (a, b) in enumerate(zip(cs2, want2[2])):
        pairs[f"c{j}"] = (a, b)
    bad = [k for k, (a, b) in pairs.items() if not close(a, b)]
    report(f"{name} second invoke continues", not bad, f"max|err| {max(err(a, b) for a, b in pairs.values()):.2g}" + (f" in {bad}" if bad else ""))
    # reset_all_variables() starts again from zero states.
    lite.it.reset_all_variables()
    y3, _, _ = lite.invoke(x, rows)
    want3 = tool_run(model_lstm, tmp, x, bf, rows) if h0 is not None or c0 is not None else want
    report(f"{name} reset_all_variables", close(y3, want3[0]), f"max|err| {err(y3, want3[0]):.2g}")
    return out


def golden_cases():
    for g in sorted(glob.glob(os.path.join(ROOT, "fixtures", "**", "golden.json"), recursive=True)):
        yield os.path.dirname(g)


def export_checks(tmp):
    for m in sorted(glob.glob(os.path.join(ROOT, "fixtures", "models", "*.lstm"))):
        name = os.path.relpath(m, ROOT)
        x = rng.uniform(-1, 1, size=(7, 2, json_input_size(m, tmp))).astype(np.float32)
        for bf in (False, True):
            xx = np.transpose(x, (1, 0, 2)).copy() if bf else x
            check_export(name + (" batch-first" if bf else ""), m, tmp, xx, bf)
    for d in golden_cases():
        g = json.load(open(os.path.join(d, "golden.json")))
        name = os.path.relpath(d, ROOT)
        model = os.path.normpath(os.path.join(d, g["model"]))
        lstm = os.path.join(tmp, "case.lstm")
        argv = [TOOL, "convert", model, lstm]
        for k, v in (g.get("import_options") or {}).items():
            argv += [f"--{k}", os.path.join(d, v) if k == "config" else v]
        r = run(argv)
        if r.returncode != 0:
            report(f"{name} import", False, r.stderr.strip())
            continue
        inputs = g["inputs"]
        x = np.load(os.path.normpath(os.path.join(d, inputs["input"]))).astype(np.float32)
        bf = g.get("batch_first", False)
        ld = lambda k: np.load(os.path.normpath(os.path.join(d, inputs[k]))) if k in inputs else None  # noqa: E731
        h0, c0, lens = ld("initial_h"), ld("initial_c"), ld("sequence_lengths")
        exp = g["expected"]["f32"]["outputs"]
        gl = lambda k: np.load(os.path.normpath(os.path.join(d, exp[k]))) if k in exp else None  # noqa: E731
        golden = None if g.get("masked_output") else (gl("y"), gl("hn"), gl("cn"))
        if isinstance(h0, np.lib.npyio.NpzFile) or (h0 is not None and h0.ndim != 3):
            h0 = None
        check_export(name, lstm, tmp, x, bf, h0, c0, golden, lens)


def json_input_size(m, tmp):
    p = os.path.join(tmp, "in.json")
    run([TOOL, "convert", m, p])
    return json.load(open(p))["layers"][0]["input_size"]


def import_checks(tmp):
    """fixtures/tflite: files made by LiteRT's schema bindings, LiteRT's outputs the golden."""
    for path in sorted(glob.glob(os.path.join(ROOT, "fixtures", "tflite", "*", "model.tflite"))):
        d = os.path.dirname(path)
        name = os.path.relpath(d, ROOT)
        spec = json.load(open(os.path.join(d, "case.json")))
        out = os.path.join(tmp, "imported.lstm")
        argv = [TOOL, "convert", path, out] + spec.get("convert_args", [])
        r = run(argv)
        if spec.get("refused"):
            lines = [ln for ln in r.stderr.strip().splitlines() if ln.startswith("error:")]
            report(f"{name} refused", r.returncode == 1 and len(lines) == 1 and spec["refused"] in lines[0], lines[-1] if lines else r.stderr.strip())
            continue
        if r.returncode != 0:
            report(f"{name} import", False, r.stderr.strip())
            continue
        x = np.load(os.path.join(d, "x.npy"))
        bf = spec.get("batch_first", False)
        lite = Interpreter(model_path=path)
        inp = lite.get_input_details()[0]["index"]
        lite.resize_tensor_input(inp, list(x.shape))
        lite.allocate_tensors()
        lite.set_tensor(inp, x)
        lite.invoke()
        y = lite.get_tensor(lite.get_output_details()[0]["index"])
        if "y_output" in spec:
            y = lite.get_tensor(next(o["index"] for o in lite.get_output_details() if o["name"] == spec["y_output"]))
        jp = os.path.join(tmp, "imported.json")
        run([TOOL, "convert", out, jp])
        rows = layout(jp)
        got = tool_run(out, tmp, x, bf, rows)
        report(f"{name} lstmtool vs LiteRT", close(got[0], y), f"max|err| {err(got[0], y):.2g}")


def roundtrip_checks(tmp):
    """Export → import: the imported model computes what the original does (GRU is not read back)."""
    for m in sorted(glob.glob(os.path.join(ROOT, "fixtures", "models", "*.lstm"))):
        name = os.path.relpath(m, ROOT)
        out = os.path.join(tmp, "rt.tflite")
        back = os.path.join(tmp, "rt.lstm")
        run([TOOL, "convert", m, out, "--batch-size", "2"])
        r = run([TOOL, "convert", out, back])
        if "gru" in os.path.basename(m):
            lines = [ln for ln in r.stderr.strip().splitlines() if ln.startswith("error:")]
            report(f"{name} re-import refused", r.returncode == 1 and len(lines) == 1 and "WHILE" in lines[0], lines[-1] if lines else "")
            continue
        if r.returncode != 0:
            report(f"{name} re-import", False, r.stderr.strip())
            continue
        jp = os.path.join(tmp, "rt.json")
        run([TOOL, "convert", m, jp])
        rows = layout(jp)
        x = rng.uniform(-1, 1, size=(5, 2, json.load(open(jp))["layers"][0]["input_size"])).astype(np.float32)
        a = tool_run(m, tmp, x, False, rows)
        b = tool_run(back, tmp, x, False, rows)
        report(f"{name} re-import", close(b[0], a[0]), f"max|err| {err(b[0], a[0]):.2g}")


def main():
    with tempfile.TemporaryDirectory() as tmp:
        export_checks(tmp)
        import_checks(tmp)
        roundtrip_checks(tmp)
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
