import LSTMCore

/// Writes a model as a TFLite flatbuffer that the stock LiteRT runtime runs with builtin ops
/// only (docs/CONVERSIONS.md, TFLite section):
///
/// * LSTM passes → `UNIDIRECTIONAL_SEQUENCE_LSTM` (24 inputs; CIFG for coupled gates, peepholes,
///   projection, cell and projection clips, the cell activation);
/// * RNN passes → `UNIDIRECTIONAL_SEQUENCE_RNN`;
/// * GRU passes → a `WHILE` loop whose body computes one step with `GATHER`, `FULLY_CONNECTED`,
///   `SPLIT`, `LOGISTIC`, `TANH`/`RELU`, `MUL`, `ADD`, `SUB` and writes it with
///   `DYNAMIC_UPDATE_SLICE`;
/// * a reverse pass runs forward between two `REVERSE_V2`s; a bidirectional layer's outputs
///   are joined with `CONCATENATION`.
///
/// Every pass keeps its states in variable tensors named `layers.{k}.{pass}.h` (and `.c`),
/// which carry over from one `invoke()` to the next; the GRU loop's final state is copied
/// back into its variable by a length-1 `UNIDIRECTIONAL_SEQUENCE_RNN` with identity weights
/// (TFLite lets no other builtin op write a variable tensor). float16 weights stay float16,
/// each behind a `DEQUANTIZE`; other dtypes are written as float32.
enum TFLiteExporter {
    static func refuse(_ msg: String) -> LSTMError { LSTMError(.unsupported, "cannot export to TFLite: \(msg)") }

    static func encode(_ model: Model, batchFirst: Bool, batchSize: Int) throws -> [UInt8] {
        try model.validate()
        guard batchSize >= 1, batchSize <= 1 << 20 else { throw refuse("batch size \(batchSize) is not in 1...\(1 << 20)") }
        for (k, layer) in model.layers.enumerated() { try check(layer, k) }
        var e = Emitter(batchFirst: batchFirst, B: batchSize)
        let main = e.b.addSubgraph(name: "main")
        let I = model.inputSize
        let inShape = batchFirst ? [batchSize, 1, I] : [1, batchSize, I]
        let inSig = batchFirst ? [batchSize, -1, I] : [-1, batchSize, I]
        let x = e.b.tensor(main, "x", inShape, signature: inSig)
        var cur = x
        for (k, layer) in model.layers.enumerated() {
            var outs: [Int32] = []
            for (d, pass) in layer.spec.direction.passes.enumerated() {
                let name = "layers.\(k).\(pass.rawValue)"
                var input = cur
                if pass == .reverse { input = e.reverse(main, cur, width: layer.spec.inputSize, name: "\(name).input_reversed") }
                var y: Int32
                switch layer.spec.cell {
                case .lstm: y = try e.lstm(main, layer, d, input, name: name)
                case .rnn: y = try e.rnn(main, layer, d, input, name: name)
                case .gru: y = try e.gru(main, layer, d, input, name: name)
                }
                if pass == .reverse { y = e.reverse(main, y, width: layer.spec.outputSize, name: "\(name).output") }
                outs.append(y)
            }
            if outs.count == 2 {
                let w = 2 * layer.spec.outputSize
                let y = e.b.tensor(main, "layers.\(k).output", e.seqShape(w), signature: e.seqSig(w))
                var o = TFLConcatenationOptions()
                o.axis = 2
                e.b.op(main, TFLBuiltinOperator.concatenation, outs, [y], .concatenationOptions(o))
                cur = y
            } else {
                cur = outs[0]
            }
        }
        e.b.setIO(main, inputs: [x], outputs: [cur])
        // The model's output is named "y" (the last layer's output tensor).
        e.b.renameTensor(main, cur, "y")
        let m = model.metadata
        let description = "lstmtool \(LSTMKitVersion.string)" + (m.name.map { ": \($0)" } ?? "")
        return try e.b.encode(description: description)
    }

    /// Refuses what TFLite's builtin ops cannot compute.
    static func check(_ layer: Layer, _ k: Int) throws {
        let s = layer.spec
        if s.activationClip != nil {
            throw refuse("layer \(k) clips every gate pre-activation (activation_clip); TFLite's recurrent ops have no such clip (only cell_clip and proj_clip)")
        }
        for (d, acts) in s.activations.enumerated() {
            let passName = s.direction.passes[d].rawValue
            switch s.cell {
            case .lstm:
                if acts[0].kind != .sigmoid {
                    throw refuse("layer \(k) (\(passName)) has gate activation \(acts[0].summary); UNIDIRECTIONAL_SEQUENCE_LSTM's gates are always sigmoid")
                }
                if acts[1] != acts[2] {
                    throw refuse("layer \(k) (\(passName)) has candidate activation \(acts[1].summary) and output activation \(acts[2].summary); TFLite's LSTM applies one activation to both")
                }
                if activationCode(acts[1]) == nil {
                    throw refuse("layer \(k) (\(passName)) has cell activation \(acts[1].summary); TFLite's LSTM offers tanh and relu")
                }
            case .rnn:
                if activationCode(acts[0]) == nil {
                    throw refuse("layer \(k) (\(passName)) has activation \(acts[0].summary); TFLite's RNN offers tanh and relu")
                }
            case .gru:
                if acts[0].kind != .sigmoid {
                    throw refuse("layer \(k) (\(passName)) has gate activation \(acts[0].summary); the exported GRU uses LOGISTIC (sigmoid) gates")
                }
                if activationCode(acts[1]) == nil {
                    throw refuse("layer \(k) (\(passName)) has candidate activation \(acts[1].summary); the exported GRU offers tanh and relu")
                }
            }
            for role in [TensorRole.initialHidden, .initialCell] {
                if let t = layer.passes[d][role], t.doubles().contains(where: { $0 != 0 }) {
                    throw refuse("layer \(k) (\(passName)) has a learned initial state (\(role.rawValue)); TFLite's state tensors start at, and reset to, zero")
                }
            }
        }
    }

    /// TFLite's fused activation for an lstmtool activation, when there is one.
    static func activationCode(_ a: Activation) -> Int8? {
        switch a.kind {
        case .tanh: return TFLActivationFunctionType.tanh
        case .relu: return TFLActivationFunctionType.relu
        default: return nil
        }
    }

    /// Emits the operators of one model.
    struct Emitter {
        var b = TFLiteGraphBuilder()
        let batchFirst: Bool
        let B: Int

        var timeAxis: Int32 { batchFirst ? 1 : 0 }
        func seqShape(_ w: Int) -> [Int] { batchFirst ? [B, 1, w] : [1, B, w] }
        func seqSig(_ w: Int) -> [Int] { batchFirst ? [B, -1, w] : [-1, B, w] }

        /// REVERSE_V2 along the time axis.
        mutating func reverse(_ g: Int, _ t: Int32, width: Int, name: String) -> Int32 {
            let axis = b.ints(g, "\(name).axis", [timeAxis])
            let out = b.tensor(g, name, seqShape(width), signature: seqSig(width))
            b.op(g, TFLBuiltinOperator.reverseV2, [t, axis], [out], .reverseV2Options(TFLReverseV2Options()))
            return out
        }

        /// A constant weight: float16 stays float16 behind a DEQUANTIZE, anything else is float32.
        mutating func weight(_ g: Int, _ t: ModelTensor, _ name: String, shape: [Int]? = nil) -> Int32 {
            let shape = shape ?? t.shape
            if t.dtype == .float16 {
                let q = b.tensor(g, "\(name).float16", shape, type: TFLTensorType.float16, data: t.bytes)
                let out = b.tensor(g, name, shape)
                b.op(g, TFLBuiltinOperator.dequantize, [q], [out], .dequantizeOptions(TFLDequantizeOptions()))
                return out
            }
            return b.tensor(g, name, shape, data: t.converted(to: .float32).bytes)
        }

        /// A float32 constant from values.
        mutating func constant(_ g: Int, _ v: [Float], _ shape: [Int], _ name: String) -> Int32 {
            b.floats(g, name, v, shape)
        }

        func tensor(_ layer: Layer, _ d: Int, _ role: TensorRole) throws -> ModelTensor {
            guard let t = layer.passes[d][role] else { throw LSTMError(.missingTensor, "missing \(role.rawValue)") }
            return t
        }

        /// b_x + b_h of one gate block in float32 (zeros without biases).
        func bias(_ layer: Layer, _ d: Int, _ gate: Gate, order: [Gate]) throws -> [Float] {
            let H = layer.spec.hiddenSize
            guard layer.spec.hasBias else { return [Float](repeating: 0, count: H) }
            let bx = try GateConventions.block(try tensor(layer, d, .inputBias), gate, of: order).floats()
            let bh = try GateConventions.block(try tensor(layer, d, .recurrentBias), gate, of: order).floats()
            return zip(bx, bh).map { $0 + $1 }
        }

        mutating func lstm(_ g: Int, _ layer: Layer, _ d: Int, _ x: Int32, name: String) throws -> Int32 {
            let s = layer.spec
            let H = s.hiddenSize, P = s.outputSize
            let order = GateConventions.order(.lstmtool, .lstm, coupled: s.lstm.coupled)
            let wx = try tensor(layer, d, .inputWeights), wh = try tensor(layer, d, .recurrentWeights)
            var inputs = [Int32](repeating: -1, count: 24)
            inputs[0] = x
            let gates: [(Gate, String)] = [(.input, "input"), (.forget, "forget"), (.candidate, "cell"), (.output, "output")]
            for (j, (gate, gname)) in gates.enumerated() where order.contains(gate) {
                inputs[1 + j] = weight(g, try GateConventions.block(wx, gate, of: order), "\(name).input_to_\(gname)_weights")
                inputs[5 + j] = weight(g, try GateConventions.block(wh, gate, of: order), "\(name).recurrent_to_\(gname)_weights")
                inputs[12 + j] = constant(g, try bias(layer, d, gate, order: order), [H], "\(name).\(gname)_gate_bias")
            }
            // TFLite wants peepholes all or none (the input one may be absent under CIFG): a
            // gate without one gets zeros, which adds nothing.
            if !s.lstm.peepholes.isEmpty {
                let peep: [(PeepholeGate, String)] = [(.input, "input"), (.forget, "forget"), (.output, "output")]
                for (j, (gate, gname)) in peep.enumerated() {
                    if gate == .input && s.lstm.coupled { continue }
                    if let t = layer.passes[d][gate.tensorRole] {
                        inputs[9 + j] = weight(g, t, "\(name).cell_to_\(gname)_weights")
                    } else {
                        inputs[9 + j] = constant(g, [Float](repeating: 0, count: H), [H], "\(name).cell_to_\(gname)_weights")
                    }
                }
            }
            if s.lstm.projectionSize != nil {
                inputs[16] = weight(g, try tensor(layer, d, .projection), "\(name).projection_weights")
            }
            inputs[18] = b.tensor(g, "\(name).h", [B, P], variable: true)
            inputs[19] = b.tensor(g, "\(name).c", [B, H], variable: true)
            let y = b.tensor(g, "\(name).y", seqShape(P), signature: seqSig(P))
            var o = TFLUnidirectionalSequenceLSTMOptions()
            o.fusedActivationFunction = activationCode(s.activations[d][1])
            o.cellClip = Float(s.lstm.cellClip ?? 0)
            o.projClip = Float(s.lstm.projectionClip ?? 0)
            o.timeMajor = !batchFirst
            b.op(g, TFLBuiltinOperator.unidirectionalSequenceLstm, inputs, [y], .unidirectionalSequenceLSTMOptions(o))
            return y
        }

        mutating func rnn(_ g: Int, _ layer: Layer, _ d: Int, _ x: Int32, name: String) throws -> Int32 {
            let s = layer.spec
            let H = s.hiddenSize
            let w = weight(g, try tensor(layer, d, .inputWeights), "\(name).input_weights")
            let r = weight(g, try tensor(layer, d, .recurrentWeights), "\(name).recurrent_weights")
            let bias = constant(g, try self.bias(layer, d, .single, order: [.single]), [H], "\(name).bias")
            let h = b.tensor(g, "\(name).h", [B, H], variable: true)
            let y = b.tensor(g, "\(name).y", seqShape(H), signature: seqSig(H))
            var o = TFLSequenceRNNOptions()
            o.timeMajor = !batchFirst
            o.fusedActivationFunction = activationCode(s.activations[d][0])
            b.op(g, TFLBuiltinOperator.unidirectionalSequenceRnn, [x, w, r, bias, h], [y], .sequenceRNNOptions(o))
            return y
        }

        /// A GRU pass: WHILE (t < T) over a body subgraph that computes one step.
        mutating func gru(_ main: Int, _ layer: Layer, _ d: Int, _ x: Int32, name: String) throws -> Int32 {
            let s = layer.spec
            let H = s.hiddenSize, I = s.inputSize
            let i32 = TFLTensorType.int32
            // Main graph: T from x's shape, y0 = zeros of [T, B, H] (or [B, T, H]).
            let shape = b.tensor(main, "\(name).x_shape", [3], type: i32)
            var so = TFLShapeOptions()
            so.outType = i32
            b.op(main, TFLBuiltinOperator.shape, [x], [shape], .shapeOptions(so))
            let steps = b.tensor(main, "\(name).steps", [], type: i32)
            var go = TFLGatherOptions()
            go.axis = 0
            b.op(main, TFLBuiltinOperator.gather, [shape, b.ints(main, "\(name).time_axis", [timeAxis], [])], [steps], .gatherOptions(go))
            let lead = b.tensor(main, "\(name).lead_dims", [2], type: i32)
            b.op(main, TFLBuiltinOperator.slice, [shape, b.ints(main, "\(name).slice_begin", [0]), b.ints(main, "\(name).slice_size", [2])],
                 [lead], .sliceOptions(TFLSliceOptions()))
            let yShape = b.tensor(main, "\(name).y_shape", [3], type: i32)
            var co = TFLConcatenationOptions()
            co.axis = 0
            b.op(main, TFLBuiltinOperator.concatenation, [lead, b.ints(main, "\(name).width", [Int32(H)])], [yShape], .concatenationOptions(co))
            let y0 = b.tensor(main, "\(name).y_init", seqShape(H), signature: seqSig(H))
            b.op(main, TFLBuiltinOperator.fill, [yShape, b.floats(main, "\(name).zero", [0], [])], [y0], .fillOptions(TFLFillOptions()))
            let t0 = b.ints(main, "\(name).t0", [0], [])
            let h = b.tensor(main, "\(name).h", [B, H], variable: true)

            // The loop's subgraphs take and give (t, T, h, y, x).
            func loopTensors(_ sg: Int) -> [Int32] {
                [b.tensor(sg, "t", [], type: i32), b.tensor(sg, "steps", [], type: i32), b.tensor(sg, "h", [B, H]),
                 b.tensor(sg, "y", seqShape(H), signature: seqSig(H)), b.tensor(sg, "x", seqShape(I), signature: seqSig(I))]
            }
            let cond = b.addSubgraph(name: "\(name).cond")
            let ci = loopTensors(cond)
            let more = b.tensor(cond, "more", [], type: TFLTensorType.bool)
            b.op(cond, TFLBuiltinOperator.less, [ci[0], ci[1]], [more], .lessOptions(TFLLessOptions()))
            b.setIO(cond, inputs: ci, outputs: [more])

            let body = b.addSubgraph(name: "\(name).body")
            let bi = loopTensors(body)
            let (t, hb, yb, xb) = (bi[0], bi[2], bi[3], bi[4])
            let h1 = try gruStep(body, layer, d, t: t, h: hb, x: xb)
            // y[t] = h1: DYNAMIC_UPDATE_SLICE at [t, 0, 0] (or [0, t, 0]).
            let h1r = b.tensor(body, "h_step", batchFirst ? [B, 1, H] : [1, B, H])
            var ro = TFLReshapeOptions()
            ro.newShape = (batchFirst ? [B, 1, H] : [1, B, H]).map { Int32($0) }
            b.op(body, TFLBuiltinOperator.reshape, [h1, b.ints(body, "step_shape", ro.newShape!)], [h1r], .reshapeOptions(ro))
            let tv = b.tensor(body, "t_vector", [1], type: i32)
            var ro1 = TFLReshapeOptions()
            ro1.newShape = [1]
            b.op(body, TFLBuiltinOperator.reshape, [t, b.ints(body, "one_shape", [1])], [tv], .reshapeOptions(ro1))
            let start = b.tensor(body, "start", [3], type: i32)
            let startParts = batchFirst ? [b.ints(body, "zero_lead", [0]), tv, b.ints(body, "zero_tail", [0])] : [tv, b.ints(body, "zero_tail", [0, 0])]
            b.op(body, TFLBuiltinOperator.concatenation, startParts, [start], .concatenationOptions(co))
            let y1 = b.tensor(body, "y_next", seqShape(H), signature: seqSig(H))
            b.op(body, TFLBuiltinOperator.dynamicUpdateSlice, [yb, h1r, start], [y1], .dynamicUpdateSliceOptions(TFLDynamicUpdateSliceOptions()))
            let t1 = b.tensor(body, "t_next", [], type: i32)
            b.op(body, TFLBuiltinOperator.add, [t, b.ints(body, "one", [1], [])], [t1], .addOptions(TFLAddOptions()))
            b.setIO(body, inputs: bi, outputs: [t1, bi[1], h1, y1, xb])

            let outs = [b.tensor(main, "\(name).t_final", [], type: i32), b.tensor(main, "\(name).steps_final", [], type: i32),
                        b.tensor(main, "\(name).h_final", [B, H]), b.tensor(main, "\(name).y", seqShape(H), signature: seqSig(H)),
                        b.tensor(main, "\(name).x_final", seqShape(I), signature: seqSig(I))]
            var wo = TFLWhileOptions()
            wo.condSubgraphIndex = Int32(cond)
            wo.bodySubgraphIndex = Int32(body)
            b.op(main, TFLBuiltinOperator.while, [t0, steps, h, y0, x], outs, .whileOptions(wo))
            // Copy h_final into the state variable: h = 1·h_final + 0·h, one RNN step, no activation.
            let hf = b.tensor(main, "\(name).h_final_step", [1, B, H])
            var ro2 = TFLReshapeOptions()
            ro2.newShape = [1, Int32(B), Int32(H)]
            b.op(main, TFLBuiltinOperator.reshape, [outs[2], b.ints(main, "\(name).h_final_shape", ro2.newShape!)], [hf], .reshapeOptions(ro2))
            var eye = [Float](repeating: 0, count: H * H)
            for j in 0..<H { eye[j * H + j] = 1 }
            let copyOut = b.tensor(main, "\(name).h_copy", [1, B, H])
            var rn = TFLSequenceRNNOptions()
            rn.timeMajor = true
            rn.fusedActivationFunction = TFLActivationFunctionType.none
            b.op(main, TFLBuiltinOperator.unidirectionalSequenceRnn,
                 [hf, b.floats(main, "\(name).copy_identity", eye, [H, H]), b.floats(main, "\(name).copy_zero_recurrent", [Float](repeating: 0, count: H * H), [H, H]),
                  b.floats(main, "\(name).copy_zero_bias", [Float](repeating: 0, count: H), [H]), h],
                 [copyOut], .sequenceRNNOptions(rn))
            return outs[3]
        }

        /// One GRU step in subgraph `g`: h1 = (1 − z)·n + z·h (docs/CELLS.md §6).
        mutating func gruStep(_ g: Int, _ layer: Layer, _ d: Int, t: Int32, h: Int32, x: Int32) throws -> Int32 {
            let s = layer.spec
            let H = s.hiddenSize, I = s.inputSize
            let order = GateConventions.order(.lstmtool, .gru)
            let acts = s.activations[d]
            let xt = b.tensor(g, "x_t", [B, I])
            var go = TFLGatherOptions()
            go.axis = timeAxis
            b.op(g, TFLBuiltinOperator.gather, [x, t], [xt], .gatherOptions(go))
            func fc(_ input: Int32, _ w: Int32, _ bias: Int32, _ rows: Int, _ name: String) -> Int32 {
                let out = b.tensor(g, name, [B, rows])
                b.op(g, TFLBuiltinOperator.fullyConnected, [input, w, bias], [out], .fullyConnectedOptions(TFLFullyConnectedOptions()))
                return out
            }
            func split(_ v: Int32, _ n: Int, _ name: String) -> [Int32] {
                let outs = (0..<n).map { b.tensor(g, "\(name)_\($0)", [B, H]) }
                var o = TFLSplitOptions()
                o.numSplits = Int32(n)
                b.op(g, TFLBuiltinOperator.split, [b.ints(g, "\(name)_axis", [1], []), v], outs, .splitOptions(o))
                return outs
            }
            func binary(_ code: Int32, _ a: Int32, _ c: Int32, _ name: String) -> Int32 {
                let out = b.tensor(g, name, [B, H])
                let opts: TFLBuiltinOptions = code == TFLBuiltinOperator.add ? .addOptions(TFLAddOptions())
                    : code == TFLBuiltinOperator.mul ? .mulOptions(TFLMulOptions()) : .subOptions(TFLSubOptions())
                b.op(g, code, [a, c], [out], opts)
                return out
            }
            func unary(_ code: Int32, _ a: Int32, _ name: String) -> Int32 {
                let out = b.tensor(g, name, [B, H])
                b.op(g, code, [a], [out])
                return out
            }
            let candidateOp = acts[1].kind == .tanh ? TFLBuiltinOperator.tanh : TFLBuiltinOperator.relu
            let wx = try tensor(layer, d, .inputWeights), wh = try tensor(layer, d, .recurrentWeights)
            let zero = [Float](repeating: 0, count: 3 * H)
            let bx = s.hasBias ? try tensor(layer, d, .inputBias).floats() : zero
            let bh = s.hasBias ? try tensor(layer, d, .recurrentBias).floats() : zero
            let gx = fc(xt, weight(g, wx, "W_x"), constant(g, bx, [3 * H], "b_x"), 3 * H, "x_gates")
            let xs = split(gx, 3, "x_gate")
            let z, r, n: Int32
            if s.resetAfter {
                let gh = fc(h, weight(g, wh, "W_h"), constant(g, bh, [3 * H], "b_h"), 3 * H, "h_gates")
                let hs = split(gh, 3, "h_gate")
                z = unary(TFLBuiltinOperator.logistic, binary(TFLBuiltinOperator.add, xs[0], hs[0], "z_pre"), "z")
                r = unary(TFLBuiltinOperator.logistic, binary(TFLBuiltinOperator.add, xs[1], hs[1], "r_pre"), "r")
                let rh = binary(TFLBuiltinOperator.mul, r, hs[2], "r_times_hn")
                n = unary(candidateOp, binary(TFLBuiltinOperator.add, xs[2], rh, "n_pre"), "n")
            } else {
                let whZR = try GateConventions.reorder(wh, from: order, to: [.update, .reset])
                let whN = try GateConventions.block(wh, .new, of: order)
                let gh = fc(h, weight(g, whZR, "W_h_zr"), constant(g, Array(bh[0..<2 * H]), [2 * H], "b_h_zr"), 2 * H, "h_gates")
                let hs = split(gh, 2, "h_gate")
                z = unary(TFLBuiltinOperator.logistic, binary(TFLBuiltinOperator.add, xs[0], hs[0], "z_pre"), "z")
                r = unary(TFLBuiltinOperator.logistic, binary(TFLBuiltinOperator.add, xs[1], hs[1], "r_pre"), "r")
                let rh = binary(TFLBuiltinOperator.mul, r, h, "r_times_h")
                let hn = fc(rh, weight(g, whN, "W_hn"), constant(g, Array(bh[2 * H..<3 * H]), [H], "b_hn"), H, "hn")
                n = unary(candidateOp, binary(TFLBuiltinOperator.add, xs[2], hn, "n_pre"), "n")
            }
            let one = constant(g, [1], [], "one_f")
            let keep = binary(TFLBuiltinOperator.sub, one, z, "one_minus_z")
            let a = binary(TFLBuiltinOperator.mul, keep, n, "new_part")
            let c = binary(TFLBuiltinOperator.mul, z, h, "old_part")
            return binary(TFLBuiltinOperator.add, a, c, "h_next")
        }
    }
}

extension TFLiteGraphBuilder {
    mutating func renameTensor(_ g: Int, _ t: Int32, _ name: String) {
        subgraphs[g].tensors![Int(t)].name = name
    }
}
