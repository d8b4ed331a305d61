#!/usr/bin/env python3
"""Builds fixtures/tflite: .tflite files written with LiteRT's own schema bindings
(ai_edge_litert.schema_py_generated, object API + flatbuffers.Builder), and LiteRT's outputs
for them as the golden.

    .venv/bin/python tools/make_tflite_fixtures.py

Each case folder holds model.tflite, x.npy (the input), y.npy (LiteRT's interpreter's output
for x, float32) and case.json (how to read it: batch_first, convert_args, or the word a refusal
must contain). Cases: the 24-input UNIDIRECTIONAL_SEQUENCE_LSTM with every optional input
(peepholes, projection, cell and projection clips), the legacy 20-input form with CIFG and
batch-first input, float16 weights behind DEQUANTIZE, UNIDIRECTIONAL_SEQUENCE_RNN (relu),
BIDIRECTIONAL_SEQUENCE_LSTM (merged outputs), a stack of an LSTM and an RNN of other widths
with an operator after it (left out), and a layer-norm LSTM (refused). Deterministic (seeded).
"""
import json
import os
import shutil

import flatbuffers
import numpy as np
from ai_edge_litert import schema_py_generated as S
from ai_edge_litert.interpreter import Interpreter

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "fixtures", "tflite")
BO = S.BuiltinOperator
rng = np.random.default_rng(20260412)


class Builder:
    def __init__(self):
        self.m = S.ModelT()
        self.m.version = 3
        self.m.buffers = [S.BufferT()]
        self.m.operatorCodes = []
        self.codes = {}
        g = S.SubGraphT()
        g.tensors, g.operators, g.inputs, g.outputs = [], [], [], []
        self.m.subgraphs = [g]
        self.g = g

    def code(self, op):
        if op not in self.codes:
            c = S.OperatorCodeT()
            c.builtinCode = op
            c.deprecatedBuiltinCode = min(op, 127)
            c.version = 1
            self.codes[op] = len(self.m.operatorCodes)
            self.m.operatorCodes.append(c)
        return self.codes[op]

    def tensor(self, shape, name, data=None, typ=S.TensorType.FLOAT32, var=False, sig=None):
        t = S.TensorT()
        t.shape = list(shape)
        t.type = typ
        t.name = name
        t.isVariable = var
        if sig is not None:
            t.shapeSignature = list(sig)
        if data is not None:
            b = S.BufferT()
            b.data = np.frombuffer(np.ascontiguousarray(data).tobytes(), np.uint8)
            t.buffer = len(self.m.buffers)
            self.m.buffers.append(b)
        else:
            t.buffer = 0
        self.g.tensors.append(t)
        return len(self.g.tensors) - 1

    def w(self, shape, name, scale=0.5, f16=False):
        a = rng.uniform(-scale, scale, size=shape).astype(np.float32)
        if not f16:
            return self.tensor(shape, name, a)
        q = self.tensor(shape, name + "_f16", a.astype(np.float16), typ=S.TensorType.FLOAT16)
        out = self.tensor(shape, name)
        self.op(BO.DEQUANTIZE, [q], [out])
        return out

    def op(self, code, ins, outs, opt_type=0, opt=None):
        o = S.OperatorT()
        o.opcodeIndex = self.code(code)
        o.inputs = list(ins)
        o.outputs = list(outs)
        if opt is not None:
            o.builtinOptionsType = opt_type
            o.builtinOptions = opt
        self.g.operators.append(o)

    def bytes(self):
        fb = flatbuffers.Builder(1024)
        fb.Finish(self.m.Pack(fb), file_identifier=b"TFL3")
        return bytes(fb.Output())


def lstm_inputs(b, pre, x, I, H, P=None, cifg=False, peep=(), f16=False, n_inputs=24, B=2):
    W = P or H
    ins = [x]
    gates = ["input", "forget", "cell", "output"]
    for gname in gates:
        ins.append(-1 if cifg and gname == "input" else b.w([H, I], f"{pre}.input_to_{gname}", f16=f16))
    for gname in gates:
        ins.append(-1 if cifg and gname == "input" else b.w([H, W], f"{pre}.recurrent_to_{gname}", f16=f16))
    for gname in ("input", "forget", "output"):
        ins.append(b.w([H], f"{pre}.cell_to_{gname}", 1.0) if gname in peep else -1)
    for gname in gates:
        ins.append(-1 if cifg and gname == "input" else b.w([H], f"{pre}.{gname}_bias"))
    ins.append(b.w([P, H], f"{pre}.projection") if P else -1)
    ins.append(-1)
    ins.append(b.tensor([B, W], f"{pre}.h", var=True))
    ins.append(b.tensor([B, H], f"{pre}.c", var=True))
    if n_inputs == 24:
        ins += [-1, -1, -1, -1]
    return ins


def uni_lstm(b, pre, x, I, H, T, B, P=None, cifg=False, peep=(), f16=False, n_inputs=24, time_major=True,
             act=S.ActivationFunctionType.TANH, cell_clip=0.0, proj_clip=0.0):
    ins = lstm_inputs(b, pre, x, I, H, P, cifg, peep, f16, n_inputs, B)
    W = P or H
    y = b.tensor([T, B, W] if time_major else [B, T, W], f"{pre}.y", sig=[-1, B, W] if time_major else [B, -1, W])
    o = S.UnidirectionalSequenceLSTMOptionsT()
    o.fusedActivationFunction = act
    o.cellClip = cell_clip
    o.projClip = proj_clip
    o.timeMajor = time_major
    b.op(BO.UNIDIRECTIONAL_SEQUENCE_LSTM, ins, [y], S.BuiltinOptions.UnidirectionalSequenceLSTMOptions, o)
    return y


def case(name, b, x, spec, run=True):
    d = os.path.join(OUT, name)
    os.makedirs(d, exist_ok=True)
    buf = b.bytes()
    with open(os.path.join(d, "model.tflite"), "wb") as f:
        f.write(buf)
    np.save(os.path.join(d, "x.npy"), x)
    if run:
        it = Interpreter(model_content=buf)
        inp = it.get_input_details()[0]["index"]
        it.resize_tensor_input(inp, list(x.shape))
        it.allocate_tensors()
        it.set_tensor(inp, x)
        it.invoke()
        outs = it.get_output_details()
        want = spec.get("y_output")
        idx = next(o["index"] for o in outs if o["name"] == want) if want else outs[0]["index"]
        np.save(os.path.join(d, "y.npy"), it.get_tensor(idx).astype(np.float32))
        golden = {"name": f"tflite/{name}", "description": f"{name}: a .tflite made with LiteRT's schema bindings; y from LiteRT's interpreter.",
                  "model": "model.tflite", "inputs": {"input": "x.npy"}, "batch_first": bool(spec.get("batch_first")),
                  "expected": {"f32": {"outputs": {"y": "y.npy"}, "reference": "ai-edge-litert 2.3.0 interpreter (float32)",
                                       "atol": 1e-05, "rtol": 0.0001}},
                  "generator": "tools/make_tflite_fixtures.py"}
        with open(os.path.join(d, "golden.json"), "w") as f:
            json.dump(golden, f, indent=2)
            f.write("\n")
    spec = dict(spec)
    spec["generator"] = "tools/make_tflite_fixtures.py (LiteRT schema_py_generated; y.npy from LiteRT's interpreter)"
    with open(os.path.join(d, "case.json"), "w") as f:
        json.dump(spec, f, indent=2, sort_keys=True)
        f.write("\n")


def main():
    if os.path.isdir(OUT):
        shutil.rmtree(OUT)
    T, B = 6, 2
    xs = lambda *s: rng.uniform(-1, 1, size=s).astype(np.float32)  # noqa: E731

    # 24-input LSTM with every optional input: peepholes, projection, both clips.
    b = Builder()
    x = b.tensor([T, B, 3], "x", sig=[-1, B, 3])
    y = uni_lstm(b, "lstm", x, 3, 5, T, B, P=4, peep=("input", "forget", "output"), cell_clip=1.5, proj_clip=0.4)
    b.g.inputs, b.g.outputs = [x], [y]
    case("lstm24_peephole_projection_clips", b, xs(T, B, 3), {"batch_first": False})

    # Legacy 20-input form, CIFG, forget and output peepholes, batch-first.
    b = Builder()
    x = b.tensor([B, T, 4], "x", sig=[B, -1, 4])
    y = uni_lstm(b, "lstm", x, 4, 3, T, B, cifg=True, peep=("forget", "output"), n_inputs=20, time_major=False)
    b.g.inputs, b.g.outputs = [x], [y]
    case("lstm20_cifg_batch_first", b, xs(B, T, 4), {"batch_first": True})

    # float16 weights behind DEQUANTIZE.
    b = Builder()
    x = b.tensor([T, B, 3], "x", sig=[-1, B, 3])
    y = uni_lstm(b, "lstm", x, 3, 4, T, B, f16=True)
    b.g.inputs, b.g.outputs = [x], [y]
    case("lstm_float16_weights", b, xs(T, B, 3), {"batch_first": False})

    # UNIDIRECTIONAL_SEQUENCE_RNN, relu.
    b = Builder()
    x = b.tensor([T, B, 3], "x", sig=[-1, B, 3])
    ins = [x, b.w([4, 3], "rnn.w"), b.w([4, 4], "rnn.r"), b.w([4], "rnn.b"), b.tensor([B, 4], "rnn.h", var=True)]
    y = b.tensor([T, B, 4], "y", sig=[-1, B, 4])
    o = S.SequenceRNNOptionsT()
    o.timeMajor = True
    o.fusedActivationFunction = S.ActivationFunctionType.RELU
    b.op(BO.UNIDIRECTIONAL_SEQUENCE_RNN, ins, [y], S.BuiltinOptions.SequenceRNNOptions, o)
    b.g.inputs, b.g.outputs = [x], [y]
    case("rnn_relu", b, xs(T, B, 3), {"batch_first": False})

    # BIDIRECTIONAL_SEQUENCE_LSTM with merged outputs.
    b = Builder()
    x = b.tensor([T, B, 3], "x", sig=[-1, B, 3])
    fw = lstm_inputs(b, "fw", x, 3, 4, n_inputs=20, B=B)
    bw = lstm_inputs(b, "bw", x, 3, 4, n_inputs=20, B=B)
    # 0 input; 1–17 forward weights; 18–34 backward weights; 35–38 states; 39–47 aux (absent).
    ins = [x] + fw[1:18] + bw[1:18] + [fw[18], fw[19], bw[18], bw[19]] + [-1] * 9
    y = b.tensor([T, B, 8], "y", sig=[-1, B, 8])
    o = S.BidirectionalSequenceLSTMOptionsT()
    o.fusedActivationFunction = S.ActivationFunctionType.TANH
    o.mergeOutputs = True
    o.timeMajor = True
    b.op(BO.BIDIRECTIONAL_SEQUENCE_LSTM, ins, [y], S.BuiltinOptions.BidirectionalSequenceLSTMOptions, o)
    b.g.inputs, b.g.outputs = [x], [y]
    case("bidirectional_lstm", b, xs(T, B, 3), {"batch_first": False})

    # A stack: LSTM (H 5) → RNN (H 3) chained through their tensors, then a TANH left out.
    b = Builder()
    x = b.tensor([T, B, 2], "x", sig=[-1, B, 2])
    y0 = uni_lstm(b, "layer0", x, 2, 5, T, B)
    ins = [y0, b.w([3, 5], "layer1.w"), b.w([3, 3], "layer1.r"), b.w([3], "layer1.b"), b.tensor([B, 3], "layer1.h", var=True)]
    y1 = b.tensor([T, B, 3], "stack_out", sig=[-1, B, 3])
    o = S.SequenceRNNOptionsT()
    o.timeMajor = True
    o.fusedActivationFunction = S.ActivationFunctionType.TANH
    b.op(BO.UNIDIRECTIONAL_SEQUENCE_RNN, ins, [y1], S.BuiltinOptions.SequenceRNNOptions, o)
    post = b.tensor([T, B, 3], "post", sig=[-1, B, 3])
    b.op(BO.TANH, [y1], [post])
    b.g.inputs, b.g.outputs = [x], [post, y1]
    case("stack_lstm_rnn", b, xs(T, B, 2), {"batch_first": False, "y_output": "stack_out"})

    # Layer-norm LSTM: refused.
    b = Builder()
    x = b.tensor([T, B, 3], "x", sig=[-1, B, 3])
    ins = lstm_inputs(b, "lstm", x, 3, 4, B=B)
    ins[20:24] = [b.w([4], f"lstm.ln{k}") for k in range(4)]
    y = b.tensor([T, B, 4], "y", sig=[-1, B, 4])
    o = S.UnidirectionalSequenceLSTMOptionsT()
    o.fusedActivationFunction = S.ActivationFunctionType.TANH
    o.timeMajor = True
    b.op(BO.UNIDIRECTIONAL_SEQUENCE_LSTM, ins, [y], S.BuiltinOptions.UnidirectionalSequenceLSTMOptions, o)
    b.g.inputs, b.g.outputs = [x], [y]
    case("lstm_layer_norm", b, xs(T, B, 3), {"refused": "layer-norm"}, run=False)
    print(f"wrote {len(os.listdir(OUT))} cases to {os.path.relpath(OUT, ROOT)}")


if __name__ == "__main__":
    main()
