internal import LSTMCodec
import LSTMCore

/// Writes a model as an ONNX graph (opset 17, IR 8) with one RNN/LSTM/GRU node per layer
/// (docs/CONVERSIONS.md).
///
/// Graph inputs: `x` [T, B, I] (required); `initial_h` [S, B, H], `initial_c` (LSTM) and
/// `sequence_lens` [B] int32, all three optional: each has an initializer of the same name
/// that onnxruntime uses when the caller does not feed it (ONNX IR ≥ 4). The state defaults
/// are [S, 1, H] — zeros, or the model's learned initial states — and are broadcast to the
/// batch with Expand; the length default is INT32_MAX, taken `Min` with T. S is the total
/// number of directions over all layers. Outputs: `y` [T, B, D·H], `hn`, `cn` (LSTM).
enum ONNXExporter {
    static let opset: Int64 = 17
    static let irVersion: Int64 = 8

    static func encode(_ model: Model) throws -> [UInt8] {
        try ONNXCodec.encode(try build(model))
    }

    static func refuse(_ msg: String) -> LSTMError { LSTMError(.unsupported, "cannot export to ONNX: \(msg)") }

    static func build(_ model: Model) throws -> ONNXModelProto {
        try model.validate()
        guard let first = model.layers.first?.spec else { throw refuse("the model has no layers") }
        for (k, layer) in model.layers.enumerated() {
            let s = layer.spec
            if s.lstm.projectionSize != nil {
                throw refuse("layer \(k) has a projection (W_proj); the ONNX LSTM operator has none")
            }
            if s.lstm.cellClip != nil {
                throw refuse("layer \(k) clips the cell state (cell_clip); ONNX's clip bounds gate pre-activations, a different function")
            }
            if s.lstm.projectionClip != nil { throw refuse("layer \(k) has a projection clip; the ONNX LSTM operator has no projection") }
            if s.cell == .lstm && s.lstm.coupled {
                for (d, acts) in s.activations.enumerated() where acts[0].kind != .sigmoid {
                    throw refuse("layer \(k) is a coupled LSTM with gate activation \(acts[0].kind.rawValue) (pass \(d)); input_forget=1 "
                                 + "keeps the input gate, and 1 − f(a) = f(−a) needs a sigmoid")
                }
            }
            if s.cell != first.cell {
                throw refuse("layer \(k) is \(s.cell.rawValue) but layer 0 is \(first.cell.rawValue); the exported state inputs stack every layer's states")
            }
            if s.hiddenSize != first.hiddenSize {
                throw refuse("layer \(k) has hidden_size \(s.hiddenSize) but layer 0 has \(first.hiddenSize); initial_h/hn stack every layer's states into one tensor")
            }
        }
        let cell = first.cell
        let H = first.hiddenSize
        let hasC = cell == .lstm
        // One element type for the whole graph (ONNX's T): float64 when any tensor is
        // float64, else float32. float16/bfloat16 widen to float32 exactly.
        let anyF64 = model.layers.contains { $0.passes.contains { $0.values.contains { $0.dtype == .float64 } } }
        let dtype: DType = anyF64 ? .float64 : .float32
        let elem = anyF64 ? ONNXDataType.double : ONNXDataType.float
        let S = model.layers.map(\.spec.direction.count).reduce(0, +)

        var inits: [ONNXTensorProto] = []
        var nodes: [ONNXNode] = []
        func initializer(_ name: String, _ t: ModelTensor) {
            let c = t.converted(to: dtype)
            inits.append(ONNXTensorProto(name: name, dims: c.shape.map(Int64.init), dataType: elem, rawData: c.bytes))
        }
        func ints(_ name: String, _ v: [Int64]) -> String {
            var raw: [UInt8] = []
            for x in v { appendLE(UInt64(bitPattern: x), &raw) }
            inits.append(ONNXTensorProto(name: name, dims: [Int64(v.count)], dataType: ONNXDataType.int64, rawData: raw))
            return name
        }
        func node(_ op: String, _ name: String, _ inputs: [String], _ outputs: [String], _ attrs: [ONNXAttribute] = []) {
            nodes.append(ONNXNode(name: name, opType: op, inputs: inputs, outputs: outputs, attributes: attrs))
        }

        // State defaults: learned initial states where a layer has them, zeros elsewhere.
        var hRows: [ModelTensor] = []
        var cRows: [ModelTensor] = []
        for layer in model.layers {
            for pass in layer.passes {
                hRows.append(try pass[.initialHidden]?.converted(to: dtype) ?? ConvertSupport.zeros(dtype, [H]))
                if hasC { cRows.append(try pass[.initialCell]?.converted(to: dtype) ?? ConvertSupport.zeros(dtype, [H])) }
            }
        }
        initializer("initial_h", try GateConventions.stack(hRows.map { $0.reshaped([1, H]) }).reshaped([S, 1, H]))
        if hasC { initializer("initial_c", try GateConventions.stack(cRows.map { $0.reshaped([1, H]) }).reshaped([S, 1, H])) }
        var maxLen: [UInt8] = []
        appendLE(UInt32(Int32.max), &maxLen)
        inits.append(ONNXTensorProto(name: "sequence_lens", dims: [1], dataType: ONNXDataType.int32, rawData: maxLen))

        node("Shape", "batch_size", ["x"], ["batch_size"], [.int("start", 1), .int("end", 2)])
        node("Shape", "steps", ["x"], ["steps"], [.int("start", 0), .int("end", 1)])
        node("Cast", "steps_int32", ["steps"], ["steps_int32"], [.int("to", Int64(ONNXDataType.int32))])
        node("Expand", "lengths_batch", ["sequence_lens", "batch_size"], ["lengths_batch"])
        node("Min", "lengths", ["lengths_batch", "steps_int32"], ["lengths"])
        node("Concat", "state_shape", [ints("state_rows", [Int64(S)]), "batch_size", ints("state_width", [Int64(H)])], ["state_shape"], [.int("axis", 0)])
        node("Expand", "initial_h_batch", ["initial_h", "state_shape"], ["initial_h_batch"])
        if hasC { node("Expand", "initial_c_batch", ["initial_c", "state_shape"], ["initial_c_batch"]) }
        let flatShape = ints("y_shape", [0, 0, -1])

        var x = "x"
        var row = 0
        var hOuts: [String] = []
        var cOuts: [String] = []
        for (k, layer) in model.layers.enumerated() {
            let s = layer.spec
            let D = s.direction.count
            let G = cell == .lstm ? 4 : cell == .gru ? 3 : 1
            let onnxOrder = GateConventions.order(.onnx, cell)
            let ours = GateConventions.order(.lstmtool, cell, coupled: s.lstm.coupled)
            /// Canonical stacked tensor → ONNX order. A coupled LSTM's forget gate, negated,
            /// becomes ONNX's input gate; ONNX's forget block (ignored with input_forget=1) is zero.
            func toONNX(_ t: ModelTensor) throws -> ModelTensor {
                let c = t.converted(to: dtype)
                guard s.lstm.coupled else { return try GateConventions.reorder(c, from: ours, to: onnxOrder) }
                let blocks = try onnxOrder.map { g -> ModelTensor in
                    switch g {
                    case .input: return GateConventions.negated(try GateConventions.block(c, .forget, of: ours))
                    case .forget: return try ConvertSupport.zeros(dtype, [c.shape[0] / ours.count] + c.shape.dropFirst())
                    default: return try GateConventions.block(c, g, of: ours)
                    }
                }
                return try GateConventions.stack(blocks)
            }
            func stacked(_ role: TensorRole, cols: Int) throws -> ModelTensor {
                let parts = try layer.passes.map { p -> ModelTensor in
                    guard let t = p[role] else { throw LSTMError(.missingTensor, "layer \(k): missing \(role.rawValue)") }
                    return try toONNX(t)
                }
                return try GateConventions.stack(parts).reshaped([D, G * s.hiddenSize, cols])
            }
            let prefix = "layers.\(k)"
            initializer("\(prefix).W", try stacked(.inputWeights, cols: s.inputSize))
            initializer("\(prefix).R", try stacked(.recurrentWeights, cols: s.hiddenSize))
            var bias: [ModelTensor] = []
            for p in layer.passes {
                if s.hasBias, let bx = p[.inputBias], let bh = p[.recurrentBias] {
                    bias.append(try GateConventions.stack([try toONNX(bx), try toONNX(bh)]))
                } else {
                    bias.append(try ConvertSupport.zeros(dtype, [2 * G * s.hiddenSize]))
                }
            }
            initializer("\(prefix).B", try GateConventions.stack(bias).reshaped([D, 2 * G * s.hiddenSize]))
            var inputs = [x, "\(prefix).W", "\(prefix).R", "\(prefix).B", "lengths"]
            let hSlice = "\(prefix).initial_h"
            node("Slice", hSlice, ["initial_h_batch", ints("\(prefix).state_start", [Int64(row)]), ints("\(prefix).state_end", [Int64(row + D)]),
                                   ints("\(prefix).state_axes", [0])], [hSlice])
            inputs.append(hSlice)
            if hasC {
                let cSlice = "\(prefix).initial_c"
                node("Slice", cSlice, ["initial_c_batch", "\(prefix).state_start", "\(prefix).state_end", "\(prefix).state_axes"], [cSlice])
                inputs.append(cSlice)
            }
            if cell == .lstm && !s.lstm.peepholes.isEmpty {
                var rows: [ModelTensor] = []
                for p in layer.passes {
                    func vec(_ r: TensorRole) throws -> ModelTensor { try p[r]?.converted(to: dtype) ?? ConvertSupport.zeros(dtype, [s.hiddenSize]) }
                    let blocks = try GateConventions.peepholeOrder(.onnx).map { g -> ModelTensor in
                        switch g {
                        case .input: return s.lstm.coupled ? GateConventions.negated(try vec(.peepholeForget)) : try vec(.peepholeInput)
                        case .forget: return s.lstm.coupled ? try ConvertSupport.zeros(dtype, [s.hiddenSize]) : try vec(.peepholeForget)
                        default: return try vec(.peepholeOutput)
                        }
                    }
                    rows.append(try GateConventions.stack(blocks))
                }
                initializer("\(prefix).P", try GateConventions.stack(rows).reshaped([D, 3 * s.hiddenSize]))
                inputs.append("\(prefix).P")
            }
            var attrs: [ONNXAttribute] = [.int("hidden_size", Int64(s.hiddenSize)), .string("direction", s.direction.rawValue), .int("layout", 0)]
            let acts = s.activations.flatMap { $0 }
            attrs.append(.strings("activations", acts.map(\.kind.onnxName)))
            // onnxruntime reads these packed: one value per listed activation that takes it.
            let alphas = acts.filter(\.kind.usesAlpha).map { Float($0.alpha) }
            let betas = acts.filter(\.kind.usesBeta).map { Float($0.beta) }
            if !alphas.isEmpty { attrs.append(.floats("activation_alpha", alphas)) }
            if !betas.isEmpty { attrs.append(.floats("activation_beta", betas)) }
            if let c = s.activationClip { attrs.append(.float("clip", Float(c))) }
            if cell == .lstm && s.lstm.coupled { attrs.append(.int("input_forget", 1)) }
            if cell == .gru { attrs.append(.int("linear_before_reset", s.resetAfter ? 1 : 0)) }
            let op = cell == .lstm ? "LSTM" : cell == .gru ? "GRU" : "RNN"
            let outs = ["\(prefix).Y", "\(prefix).Y_h"] + (hasC ? ["\(prefix).Y_c"] : [])
            node(op, "\(prefix).\(op.lowercased())", inputs, outs, attrs)
            hOuts.append("\(prefix).Y_h")
            if hasC { cOuts.append("\(prefix).Y_c") }
            // Y [T, D, B, H] → [T, B, D, H] → [T, B, D·H], as PyTorch's exporter does.
            node("Transpose", "\(prefix).Y_time_batch", ["\(prefix).Y"], ["\(prefix).Y_time_batch"], [.ints("perm", [0, 2, 1, 3])])
            let out = k == model.layers.count - 1 ? "y" : "\(prefix).output"
            node("Reshape", out, ["\(prefix).Y_time_batch", flatShape], [out])
            x = out
            row += D
        }
        node(hOuts.count == 1 ? "Identity" : "Concat", "hn", hOuts, ["hn"], hOuts.count == 1 ? [] : [.int("axis", 0)])
        if hasC { node(cOuts.count == 1 ? "Identity" : "Concat", "cn", cOuts, ["cn"], cOuts.count == 1 ? [] : [.int("axis", 0)]) }

        let last = model.layers[model.layers.count - 1].spec
        var inputs = [ONNXValueInfo(name: "x", elemType: elem, shape: [.param("T"), .param("B"), .value(Int64(first.inputSize))]),
                      ONNXValueInfo(name: "initial_h", elemType: elem, shape: [.value(Int64(S)), .param("B"), .value(Int64(H))])]
        if hasC { inputs.append(ONNXValueInfo(name: "initial_c", elemType: elem, shape: [.value(Int64(S)), .param("B"), .value(Int64(H))])) }
        inputs.append(ONNXValueInfo(name: "sequence_lens", elemType: ONNXDataType.int32, shape: [.param("B")]))
        var outputs = [ONNXValueInfo(name: "y", elemType: elem, shape: [.param("T"), .param("B"), .value(Int64(last.direction.count * H))]),
                       ONNXValueInfo(name: "hn", elemType: elem, shape: [.value(Int64(S)), .param("B"), .value(Int64(H))])]
        if hasC { outputs.append(ONNXValueInfo(name: "cn", elemType: elem, shape: [.value(Int64(S)), .param("B"), .value(Int64(H))])) }

        let m = model.metadata
        var props: [(key: String, value: String)] = []
        for (k, v) in [("source_framework", m.sourceFramework), ("source_file", m.sourceFile), ("description", m.description),
                       ("producer_name", m.producerName), ("producer_version", m.producerVersion), ("created", m.created)] {
            if let v { props.append(("lstmtool.\(k)", v)) }
        }
        // Enough for lstmtool's import to restore the metadata exactly (docs/CONVERSIONS.md).
        if let n = m.name { props.append(("lstmtool.name", n)) }
        for p in m.properties { props.append(("lstmtool.property.\(p.key)", p.value)) }
        props.append(("lstmtool.metadata", "1"))
        return ONNXModelProto(irVersion: irVersion, producerName: "lstmtool", producerVersion: LSTMKitVersion.string,
                              docString: m.description, opsetImports: [("", opset)], metadataProps: props,
                              graph: ONNXGraph(name: m.name ?? "lstmtool", nodes: nodes, initializers: inits, inputs: inputs, outputs: outputs))
    }
}
