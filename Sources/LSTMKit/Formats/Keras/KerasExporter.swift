internal import LSTMCodec
import LSTMCore

/// Writes a model as a Keras 3 `.keras` file: a Sequential of an InputLayer and one LSTM, GRU,
/// SimpleRNN or Bidirectional layer per layer (docs/CONVERSIONS.md, "Keras export").
enum KerasExporter {
    /// The Keras version whose file layout is written (checked with it by tools/test_keras_export.py).
    static let kerasVersion = "3.15.1"

    static func refuse(_ msg: String) -> LSTMError { LSTMError(.unsupported, "cannot export to Keras: \(msg)") }

    static func className(_ cell: CellFamily) -> String {
        switch cell {
        case .lstm: return "LSTM"
        case .gru: return "GRU"
        case .rnn: return "SimpleRNN"
        }
    }

    /// The Keras name of an activation, or nil when Keras has no built-in equal to it.
    static func kerasActivation(_ a: Activation) -> String? {
        switch a.kind {
        case .tanh: return "tanh"
        case .sigmoid: return "sigmoid"
        case .relu: return "relu"
        case .softsign: return "softsign"
        case .softplus: return "softplus"
        case .affine: return a.alpha == 1 && a.beta == 0 ? "linear" : nil
        case .elu: return a.alpha == 1 ? "elu" : nil
        case .leakyRelu: return a.alpha == 0.2 || a.alpha == Double(Float(0.2)) ? "leaky_relu" : nil
        case .hardSigmoid:
            // Keras 3: clip(x/6 + 1/2, 0, 1).
            return (a.alpha == 1.0 / 6.0 || a.alpha == Double(Float(1.0 / 6.0))) && a.beta == 0.5 ? "hard_sigmoid" : nil
        default: return nil
        }
    }

    /// The `.keras` archive's bytes.
    static func encode(_ model: Model) throws -> [UInt8] {
        try model.validate()
        var names = model.layers.enumerated().map { k, _ in "" }
        // Group names are Keras's: snake_case(class) with _1, _2, … by class, in order.
        var groups: [String] = []
        var perClass: [String: Int] = [:]
        for l in model.layers {
            let cls = l.spec.direction == .bidirectional ? "Bidirectional" : className(l.spec.cell)
            let n = perClass[cls, default: 0]
            perClass[cls] = n + 1
            let base = KerasImporter.snakeCase(cls)
            groups.append(n == 0 ? base : "\(base)_\(n)")
        }
        // Layer names: those the model was imported with, when they fit; else the group names.
        let imported = model.metadata.properties.first { $0.key == "keras.layers" }?.value.split(separator: ",").map(String.init) ?? []
        if imported.count == model.layers.count, Set(imported).count == imported.count,
           imported.allSatisfy({ !$0.isEmpty && $0.count < 200 && $0.allSatisfy { $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" } }),
           !imported.contains("input_layer") {
            names = imported
        } else {
            names = groups
        }

        let h5 = try HDF5Builder()
        try h5.createGroup("layers")
        try h5.createGroup("vars")
        try h5.setStringAttribute("name", "sequential", on: "vars")
        var layerConfigs: [JSONValue] = []
        let firstDType = dtypeName(model.layers[0])
        layerConfigs.append(.object([
            ("module", .string("keras.layers")), ("class_name", .string("InputLayer")),
            ("config", .object([("batch_shape", .array([.null, .null, .int(model.inputSize)])), ("dtype", .string(firstDType)),
                                ("sparse", .bool(false)), ("ragged", .bool(false)), ("name", .string("input_layer")), ("optional", .bool(false))])),
            ("registered_name", .null),
        ]))
        for (k, layer) in model.layers.enumerated() {
            let s = layer.spec
            let at = "layer \(k)"
            if s.direction == .reverse {
                throw refuse("\(at) runs in reverse only; Keras's go_backwards returns its output sequence reversed in time, not aligned like lstmtool's (a Bidirectional layer is fine)")
            }
            if s.lstm.coupled { throw refuse("\(at) couples the input and forget gates; Keras's LSTM has separate gates") }
            if !s.lstm.peepholes.isEmpty { throw refuse("\(at) has peepholes; Keras's LSTM has none") }
            if s.lstm.projectionSize != nil { throw refuse("\(at) has a projection; Keras's LSTM has none") }
            if s.activationClip != nil { throw refuse("\(at) clips gate pre-activations; Keras's layers do not") }
            if s.lstm.cellClip != nil || s.lstm.projectionClip != nil { throw refuse("\(at) clips the cell or projection; Keras's LSTM does not") }
            if s.hasInitialState { throw refuse("\(at) has learned initial states; a Keras layer has no place for them") }
            let dtype = dtypeName(layer)
            let cls = className(s.cell)
            var passConfigs: [[(String, JSONValue)]] = []
            for (d, acts) in s.activations.enumerated() {
                var fields: [(String, JSONValue)] = []
                let isBackward = s.direction == .bidirectional && d == 1
                let name = s.direction == .bidirectional ? (isBackward ? "backward_" : "forward_") + names[k] : names[k]
                fields.append(("name", .string(name)))
                fields.append(("trainable", .bool(true)))
                fields.append(("dtype", policy(dtype)))
                fields.append(("return_sequences", .bool(true)))
                fields.append(("return_state", .bool(false)))
                fields.append(("go_backwards", .bool(isBackward)))
                fields.append(("stateful", .bool(false)))
                fields.append(("unroll", .bool(false)))
                fields.append(("zero_output_for_mask", .bool(s.direction == .bidirectional)))
                fields.append(("units", .int(s.hiddenSize)))
                func kname(_ a: Activation, _ role: String) throws -> String {
                    guard let n = kerasActivation(a) else {
                        throw refuse("\(at) uses \(a.summary) as its \(role); Keras has no built-in activation that computes it\(a.kind == .hardSigmoid ? " (Keras 3's hard_sigmoid is clip(x/6 + 1/2, 0, 1))" : "")")
                    }
                    return n
                }
                switch s.cell {
                case .rnn:
                    fields.append(("activation", .string(try kname(acts[0], "activation"))))
                case .lstm:
                    guard acts[1] == acts[2] else {
                        throw refuse("\(at) uses \(acts[1].summary) for the candidate and \(acts[2].summary) for the output; Keras's LSTM uses one activation for both")
                    }
                    fields.append(("activation", .string(try kname(acts[1], "activation"))))
                    fields.append(("recurrent_activation", .string(try kname(acts[0], "recurrent activation"))))
                case .gru:
                    fields.append(("activation", .string(try kname(acts[1], "activation"))))
                    fields.append(("recurrent_activation", .string(try kname(acts[0], "recurrent activation"))))
                    fields.append(("reset_after", .bool(s.resetAfter)))
                }
                fields.append(("use_bias", .bool(s.hasBias)))
                fields.append(("dropout", .double(0)))
                fields.append(("recurrent_dropout", .double(0)))
                fields.append(("seed", .null))
                passConfigs.append(fields)
            }
            let build: JSONValue = .object([("input_shape", .array([.null, .null, .int(s.inputSize)]))])
            func layerJSON(_ cfg: [(String, JSONValue)]) -> JSONValue {
                .object([("module", .string("keras.layers")), ("class_name", .string(cls)), ("config", .object(cfg)),
                         ("registered_name", .null), ("build_config", build)])
            }
            if s.direction == .bidirectional {
                layerConfigs.append(.object([
                    ("module", .string("keras.layers")), ("class_name", .string("Bidirectional")),
                    ("config", .object([("name", .string(names[k])), ("trainable", .bool(true)), ("dtype", policy(dtype)),
                                        ("merge_mode", .string("concat")), ("layer", layerJSON(passConfigs[0])),
                                        ("backward_layer", layerJSON(passConfigs[1]))])),
                    ("registered_name", .null), ("build_config", build),
                ]))
            } else {
                layerConfigs.append(layerJSON(passConfigs[0]))
            }
            // Weights.
            let g = "layers/\(groups[k])"
            try h5.createGroup("\(g)/vars")
            try h5.setStringAttribute("name", names[k], on: "\(g)/vars")
            let cellName = KerasImporter.snakeCase(cls) + "_cell"
            for (d, pass) in layer.passes.enumerated() {
                let base = s.direction == .bidirectional ? "\(g)/\(d == 0 ? "forward_layer" : "backward_layer")" : g
                if s.direction == .bidirectional {
                    try h5.createGroup("\(base)/vars")
                    try h5.setStringAttribute("name", (d == 0 ? "forward_" : "backward_") + names[k], on: "\(base)/vars")
                }
                let vars = "\(base)/cell/vars"
                try h5.createGroup(vars)
                try h5.setStringAttribute("name", cellName, on: vars)
                let tensors = try kerasWeights(pass, spec: s, at: at)
                for (i, t) in tensors.enumerated() {
                    let out = dtype == "float64" ? t.converted(to: .float64) : t.converted(to: .float32)
                    try h5.writeDataset("\(vars)/\(i)", dtype: out.dtype, shape: out.shape, bytes: out.bytes)
                }
            }
        }
        let weights = try h5.finish()
        let config: JSONValue = .object([
            ("module", .string("keras")), ("class_name", .string("Sequential")),
            ("config", .object([("name", .string("sequential")), ("trainable", .bool(true)), ("dtype", policy(firstDType)),
                                ("layers", .array(layerConfigs))])),
            ("registered_name", .null),
            ("build_config", .object([("input_shape", .array([.null, .null, .int(model.inputSize)]))])),
            ("compile_config", .null),
        ])
        let metadata: JSONValue = .object([
            ("keras_version", .string(kerasVersion)),
            ("date_saved", .string(ConvertSupport.now())),
            ("producer", .string("lstmtool \(LSTMKitVersion.string)")),
        ])
        return ZipWriter.stored([
            ("metadata.json", Array(metadata.render().utf8)),
            ("config.json", Array(config.render().utf8)),
            ("model.weights.h5", weights),
        ])
    }

    static func policy(_ dtype: String) -> JSONValue {
        .object([("module", .string("keras")), ("class_name", .string("DTypePolicy")),
                 ("config", .object([("name", .string(dtype))])), ("registered_name", .null)])
    }

    /// float64 when any of the layer's tensors is float64, else float32 (float16 and bfloat16
    /// widen exactly).
    static func dtypeName(_ layer: Layer) -> String {
        layer.passes.contains { $0.values.contains { $0.dtype == .float64 } } ? "float64" : "float32"
    }

    /// Kernel `[I, G·H]`, recurrent kernel `[H, G·H]` and, with biases, the Keras bias of one pass.
    static func kerasWeights(_ pass: [TensorRole: ModelTensor], spec s: LayerSpec, at: String) throws -> [ModelTensor] {
        let keras = GateConventions.order(.keras, s.cell)
        let ours = GateConventions.order(.lstmtool, s.cell)
        func get(_ r: TensorRole) throws -> ModelTensor {
            guard let t = pass[r] else { throw LSTMError(.missingTensor, "\(at): missing \(r.rawValue)") }
            return try GateConventions.reorder(t, from: ours, to: keras)
        }
        var out = [try transposed(try get(.inputWeights)), try transposed(try get(.recurrentWeights))]
        guard s.hasBias else { return out }
        let bx = try get(.inputBias), bh = try get(.recurrentBias)
        if s.cell == .gru && s.resetAfter {
            // [2, 3H]: row 0 the input bias, row 1 the recurrent bias (kept apart, exact).
            let dtype: DType = bx.dtype == .float64 || bh.dtype == .float64 ? .float64 : .float32
            let stacked = try GateConventions.stack([bx.converted(to: dtype), bh.converted(to: dtype)])
            out.append(stacked.reshaped([2, bx.shape[0]]))
            return out
        }
        // One bias: b_x + b_h. When b_h is zero (an import from Keras) b_x is kept bit for bit.
        let h = bh.doubles()
        if h.allSatisfy({ $0 == 0 }) {
            out.append(bx)
        } else {
            let x = bx.doubles()
            let dtype: DType = bx.dtype == .float64 || bh.dtype == .float64 ? .float64 : .float32
            let sum = zip(x, h).map { dtype == .float64 ? $0 + $1 : Double(Float($0) + Float($1)) }
            out.append(ModelTensor(sum, shape: bx.shape, dtype: dtype))
        }
        return out
    }
}
