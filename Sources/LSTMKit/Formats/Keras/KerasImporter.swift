internal import LSTMCodec
import LSTMCore

/// Where a Keras file keeps a layer's weights: Keras 3's `model.weights.h5`
/// (`layers/<group>/cell/vars/0…2`) or a legacy HDF5 file (`model_weights/<layer>/…` listed
/// by `weight_names`).
enum KerasWeightLayout {
    case keras3
    /// `root` is `model_weights` in a whole-model file, `` (the root) in a weights-only file.
    case legacy(root: String)
}

/// The weights of one pass in Keras's layout: kernel `[I, G·H]`, recurrent kernel `[H, G·H]`,
/// bias (`[G·H]`, `[2, 3H]` for a reset-after GRU, `[8H]`/`[6H]` for CuDNN), nil without bias.
struct KerasPassWeights {
    var kernel: ModelTensor
    var recurrent: ModelTensor
    var bias: ModelTensor?
    /// Where they were read, for messages.
    var location: String
}

/// Maps a Keras model config and its HDF5 weights onto a model (docs/CONVERSIONS.md, "Keras").
struct KerasImporter {
    let path: String
    let h5: HDF5File
    let layout: KerasWeightLayout
    let config: KerasModelConfig
    /// `keras_version` of the file ("" when it does not say).
    let kerasVersion: String
    let options: ImportOptions

    static let maxTensorBytes = 1 << 33

    func fail(_ s: String, _ kind: LSTMError.Kind = .invalidInput) -> LSTMError { LSTMError(kind, s, path: path) }

    /// Keras 3 changed `hard_sigmoid` from `clip(0.2x + 0.5)` to `clip(x/6 + 1/2)`.
    var isKeras3: Bool { (Int(kerasVersion.split(separator: ".").first ?? "") ?? 0) >= 3 }

    func model(notes: inout ImportNotes) throws -> Model {
        let stacks = config.stacks()
        guard !stacks.isEmpty else {
            let classes = config.layers.map { "\($0.name) (\($0.className))" }.joined(separator: ", ")
            throw fail("no recurrent layer (LSTM, GRU, SimpleRNN, Bidirectional) in the model; its layers: \(classes)")
        }
        let stack: [KerasLayer]
        if let want = options.layer {
            guard let s = stacks.first(where: { $0.contains { $0.name == want } }) else {
                throw fail("no recurrent layer named \(want); recurrent layers: \(stacks.flatMap { $0 }.map(\.name).joined(separator: ", "))")
            }
            stack = s
        } else {
            guard stacks.count == 1 else {
                let list = stacks.enumerated().map { "stack \($0.offset + 1): \($0.element.map(\.name).joined(separator: ", "))" }
                throw fail("\(stacks.count) recurrent stacks (\(list.joined(separator: "; "))); choose one with --layer NAME")
            }
            stack = stacks[0]
        }
        let names = Set(stack.map(\.name))
        let leftOut = config.layers.filter { !names.contains($0.name) }
        if !leftOut.isEmpty {
            notes.messages.append("left out \(leftOut.count) layer(s) outside the recurrent stack: "
                                  + leftOut.map { "\($0.name) (\($0.className))" }.joined(separator: ", "))
        }

        // Masking: a Masking layer (or an Embedding with mask_zero) feeding the stack.
        let feeder = config.source(of: stack[0])
        var masked = stack[0].receivesMask
        var maskValue: Double?
        if let f = feeder, f.className == "Masking" {
            masked = true
            maskValue = f.config["mask_value"]?.double ?? 0
        }
        if let f = feeder, f.className == "Embedding", f.config["mask_zero"]?.bool == true { masked = true }

        var layers: [Layer] = []
        var flipped = false  // Keras's sequence at this point runs backwards in time.
        var inputWidth: Int?
        var stateful = false
        for (k, kl) in stack.enumerated() {
            let isLast = k == stack.count - 1
            let c = kl.config
            if !isLast && c["return_sequences"]?.bool != true && !(kl.className == "Bidirectional" && c["layer"]?["config"]?["return_sequences"]?.bool == true) {
                throw fail("layer \(kl.name) feeds \(stack[k + 1].name) but does not return sequences")
            }
            if c["time_major"]?.bool == true { throw fail("layer \(kl.name) is time_major; lstmtool reads batch-major Keras layers only") }
            let (layer, goBackwards, isStateful) = try importLayer(kl, inputWidth: inputWidth, flippedInput: flipped, masked: masked, notes: &notes)
            if isStateful { stateful = true }
            if goBackwards != flipped && kl.className != "Bidirectional" {
                // The layer processes our time axis backwards: a reverse pass. Keras returns its
                // outputs in processing order, i.e. reversed in time.
                flipped = true
            } else if kl.className != "Bidirectional" {
                flipped = false
            }
            if flipped && isLast && returnsSequences(kl) {
                throw fail("layer \(kl.name) uses go_backwards and returns sequences: Keras returns that output sequence reversed in time, lstmtool's reverse layers write each output at its own time step, so no imported model can reproduce it (set return_sequences=False or reverse the output yourself)", .unsupported)
            }
            inputWidth = layer.spec.direction.count * layer.spec.outputSize
            layers.append(layer)
        }

        var metadata = Metadata()
        metadata.name = config.name
        metadata.sourceFramework = "keras"
        metadata.sourceFile = ConvertSupport.fileName(path)
        metadata.created = ConvertSupport.created(options)
        metadata.producerName = "keras"
        if !kerasVersion.isEmpty { metadata.producerVersion = kerasVersion }
        metadata.description = "Keras \(config.modelClass) model, layers \(stack.map(\.name).joined(separator: ", "))"
        metadata.properties.append(ConvertSupport.convertedBy)
        metadata.properties.append((RecordedLayout.propertyKey, RecordedLayout.batchMajor.rawValue))
        metadata.properties.append(("keras.layers", stack.map(\.name).joined(separator: ",")))
        if masked {
            let last = stack[stack.count - 1]
            let zero = last.className == "Bidirectional" || last.config["zero_output_for_mask"]?.bool == true
            let mode = zero ? MaskedOutput.zero : MaskedOutput.hold
            metadata.properties.append((MaskedOutput.propertyKey, mode.rawValue))
            if let maskValue { metadata.properties.append(("keras.mask_value", shortDecimal(maskValue))) }
            notes.messages.append("the stack reads a masked input\(maskValue.map { " (Masking, mask_value \(shortDecimal($0)))" } ?? ""): give each sequence's length with --sequence-lengths (a mask with gaps inside a sequence cannot be expressed); "
                                  + (mode == .hold ? "Keras repeats the last valid output past a sequence's end, which `run` reproduces (keras.masking=hold)" : "Keras outputs zeros past a sequence's end, as lstmtool does"))
        }
        if stateful {
            metadata.properties.append(("keras.stateful", "true"))
            notes.messages.append("the Keras layers are stateful (state carried across batches): lstmtool runs each call from the given or zero state; pass --initial-h/--initial-c to continue a sequence")
        }
        if !returnsSequences(stack[stack.count - 1]) {
            notes.messages.append("layer \(stack[stack.count - 1].name) returns only its last output (return_sequences=False): that is the final state hn (--final-h)")
        }
        notes.messages.append("Keras models are batch-major: run with --batch-first to feed [B, T, I] as Keras does")
        let model = Model(metadata: metadata, layers: layers)
        try LSTMError.about(path) { try model.validate() }
        return model
    }

    func returnsSequences(_ l: KerasLayer) -> Bool {
        if l.className == "Bidirectional" { return l.config["layer"]?["config"]?["return_sequences"]?.bool ?? false }
        return l.config["return_sequences"]?.bool ?? false
    }

    /// One Keras layer as one of ours. Returns whether it runs backwards (go_backwards) and is stateful.
    func importLayer(_ kl: KerasLayer, inputWidth: Int?, flippedInput: Bool, masked: Bool,
                     notes: inout ImportNotes) throws -> (Layer, Bool, Bool) {
        var passConfigs: [(cls: String, config: StrictJSON.Value)]
        if kl.className == "Bidirectional" {
            let merge = kl.config["merge_mode"]?.string ?? "concat"
            guard merge == "concat" else {
                throw fail("Bidirectional layer \(kl.name) merges its directions with '\(merge)'; lstmtool's bidirectional layers concatenate them (merge_mode='concat')", .unsupported)
            }
            guard let inner = kl.config["layer"], let cls = inner["class_name"]?.string, let ic = inner["config"] else {
                throw fail("Bidirectional layer \(kl.name) has no wrapped layer")
            }
            var back = (cls: cls, config: ic)
            if let b = kl.config["backward_layer"], let bcls = b["class_name"]?.string, let bc = b["config"] {
                back = (bcls, bc)
            }
            guard ic["go_backwards"]?.bool != true else {
                throw fail("Bidirectional layer \(kl.name) wraps a go_backwards layer; not supported", .unsupported)
            }
            guard !flippedInput else {
                throw fail("Bidirectional layer \(kl.name) reads the reversed output of a go_backwards layer; not supported", .unsupported)
            }
            passConfigs = [(cls, ic), back]
        } else {
            passConfigs = [(kl.className, kl.config)]
        }
        let goBackwards = kl.className != "Bidirectional" && kl.config["go_backwards"]?.bool == true
        if goBackwards && masked {
            throw fail("layer \(kl.name) uses go_backwards on a masked input: Keras then reverses the data but not the mask it passes on, which lstmtool cannot reproduce", .unsupported)
        }
        let stateful = kl.config["stateful"]?.bool == true
        let cls = passConfigs[0].cls
        for p in passConfigs where p.cls != cls {
            throw fail("Bidirectional layer \(kl.name) has a \(cls) forward and a \(p.cls) backward layer", .unsupported)
        }
        let cell: CellFamily
        switch cls {
        case "LSTM", "CuDNNLSTM": cell = .lstm
        case "GRU", "CuDNNGRU": cell = .gru
        case "SimpleRNN": cell = .rnn
        default: throw fail("layer \(kl.name): \(cls) is not a recurrent layer lstmtool reads (LSTM, GRU, SimpleRNN)", .unsupported)
        }
        let cudnn = cls.hasPrefix("CuDNN")
        let weights = try passWeights(kl, count: passConfigs.count)
        guard let units = passConfigs[0].config["units"]?.int, units > 0 else { throw fail("layer \(kl.name) has no positive units") }
        let G = GateConventions.order(.keras, cell).count
        let first = weights[0]
        guard first.kernel.shape.count == 2, first.kernel.shape[1] == G * units else {
            throw fail("layer \(kl.name): kernel \(first.location) has shape \(first.kernel.shape), expected [input, \(G)·\(units)] for a \(cls) of \(units) units", .shape)
        }
        let inputSize = first.kernel.shape[0]
        if let w = inputWidth, w != inputSize {
            throw fail("layer \(kl.name): kernel \(first.location) takes \(inputSize) inputs but the layer below outputs \(w)", .shape)
        }
        var resetAfter = true
        var hasBias = true
        var activations: [[Activation]] = []
        var passes: [[TensorRole: ModelTensor]] = []
        for (d, pc) in passConfigs.enumerated() {
            let c = pc.config
            let w = weights[d]
            let u = c["units"]?.int ?? units
            guard u == units else { throw fail("Bidirectional layer \(kl.name): its directions have \(units) and \(u) units", .unsupported) }
            let useBias = cudnn ? true : (c["use_bias"]?.bool ?? true)
            if d == 0 { hasBias = useBias } else if useBias != hasBias { throw fail("Bidirectional layer \(kl.name): one direction has a bias, the other not", .unsupported) }
            guard w.kernel.shape == [inputSize, G * units] else {
                throw fail("layer \(kl.name): kernel \(w.location) has shape \(w.kernel.shape), expected [\(inputSize), \(G * units)]", .shape)
            }
            guard w.recurrent.shape == [units, G * units] else {
                throw fail("layer \(kl.name): recurrent kernel \(w.location) has shape \(w.recurrent.shape), expected [\(units), \(G * units)]", .shape)
            }
            // Activations.
            var acts: [Activation]
            if cudnn {
                acts = LayerSpec.defaultActivations(cell)
            } else {
                let a = try activation(c["activation"], default: "tanh", layer: kl.name, notes: &notes)
                switch cell {
                case .rnn: acts = [a]
                case .lstm: acts = [try activation(c["recurrent_activation"], default: "sigmoid", layer: kl.name, notes: &notes), a, a]
                case .gru: acts = [try activation(c["recurrent_activation"], default: "sigmoid", layer: kl.name, notes: &notes), a]
                }
            }
            activations.append(acts)
            // Biases.
            var pass: [TensorRole: ModelTensor] = [:]
            let keras = GateConventions.order(.keras, cell)
            let ours = GateConventions.order(.lstmtool, cell)
            pass[.inputWeights] = try GateConventions.reorder(transposed(w.kernel), from: keras, to: ours)
            pass[.recurrentWeights] = try GateConventions.reorder(transposed(w.recurrent), from: keras, to: ours)
            let gh = G * units
            if hasBias {
                guard let b = w.bias else { throw fail("layer \(kl.name) has use_bias but no bias among \(w.location)", .missingTensor) }
                var bx: ModelTensor, bh: ModelTensor
                var rAfter: Bool
                if b.shape == [gh] && !cudnn {
                    bx = b
                    bh = try ConvertSupport.zeros(b.dtype, [gh])
                    rAfter = false
                } else if cell == .gru && (b.shape == [2, gh] || (cudnn && b.shape == [2 * gh])) {
                    let halves = try GateConventions.split(b.reshaped([2 * gh]), into: 2)
                    (bx, bh) = (halves[0], halves[1])
                    rAfter = true
                } else if cell == .lstm && cudnn && b.shape == [2 * gh] {
                    let halves = try GateConventions.split(b, into: 2)
                    (bx, bh) = (halves[0], halves[1])
                    rAfter = true
                } else {
                    let want = cudnn ? "[\(2 * gh)]" : (cell == .gru ? "[\(gh)] or [2, \(gh)]" : "[\(gh)]")
                    throw fail("layer \(kl.name): bias \(w.location) has shape \(b.shape), expected \(want)", .shape)
                }
                if cell == .gru {
                    let declared = cudnn ? true : c["reset_after"]?.bool
                    if let declared, declared != rAfter {
                        throw fail("layer \(kl.name): reset_after is \(declared) but its bias has shape \(b.shape)", .shape)
                    }
                    if d == 0 { resetAfter = rAfter } else if rAfter != resetAfter { throw fail("Bidirectional layer \(kl.name): its directions differ in reset_after", .unsupported) }
                }
                pass[.inputBias] = try GateConventions.reorder(bx, from: keras, to: ours)
                pass[.recurrentBias] = try GateConventions.reorder(bh, from: keras, to: ours)
            } else {
                if w.bias != nil { throw fail("layer \(kl.name) has use_bias=False but a bias among \(w.location)", .extraTensor) }
                if cell == .gru {
                    // Without biases the two forms differ only in where r multiplies: the config says.
                    let declared = c["reset_after"]?.bool ?? isKeras3
                    if d == 0 { resetAfter = declared }
                }
            }
            passes.append(pass)
        }
        // Direction: a go_backwards layer reading a sequence in our time order, or a plain layer
        // reading a reversed one, processes our time axis backwards.
        let direction: Direction
        if kl.className == "Bidirectional" {
            direction = .bidirectional
        } else {
            direction = goBackwards != flippedInput ? .reverse : .forward
            if goBackwards || flippedInput {
                notes.messages.append("layer \(kl.name)\(goBackwards ? " (go_backwards)" : " (reading a go_backwards layer's reversed output)") is stored as a \(direction.rawValue) layer whose outputs are aligned in time")
            }
        }
        let spec = LayerSpec(cell: cell, inputSize: inputSize, hiddenSize: units, direction: direction, hasBias: hasBias,
                             activations: activations, resetAfter: resetAfter)
        return (Layer(spec: spec, passes: passes), goBackwards, stateful)
    }

    /// A Keras activation (a name, or Keras 3's `{"class_name": "function", "config": name}`).
    func activation(_ v: StrictJSON.Value?, default def: String, layer: String, notes: inout ImportNotes) throws -> Activation {
        var name = def
        if let v, !v.isNull {
            if let s = v.string { name = s } else if let s = v["config"]?.string { name = s } else if let s = v["config"]?["name"]?.string { name = s } else {
                throw fail("layer \(layer): cannot read its activation", .unsupported)
            }
        }
        switch name {
        case "tanh": return .tanh
        case "sigmoid": return .sigmoid
        case "relu": return .relu
        case "linear": return Activation(.affine, alpha: 1, beta: 0)
        case "softsign": return Activation(.softsign)
        case "softplus": return Activation(.softplus)
        case "elu": return Activation(.elu, alpha: 1)
        case "leaky_relu": return Activation(.leakyRelu, alpha: 0.2)
        case "hard_sigmoid":
            if isKeras3 { return Activation(.hardSigmoid, alpha: 1.0 / 6.0, beta: 0.5) }
            if kerasVersion.isEmpty {
                notes.messages.append("layer \(layer): the file does not say its Keras version; hard_sigmoid read as Keras 2's clip(0.2·x + 0.5)")
            }
            return Activation(.hardSigmoid, alpha: 0.2, beta: 0.5)
        default:
            throw fail("layer \(layer): activation '\(name)' has no lstmtool equivalent (tanh, sigmoid, relu, linear, softsign, softplus, elu, leaky_relu, hard_sigmoid)", .unsupported)
        }
    }

    /// The weights of each pass of `kl` (one, or two for Bidirectional).
    func passWeights(_ kl: KerasLayer, count: Int) throws -> [KerasPassWeights] {
        switch layout {
        case .keras3:
            let group = try keras3Group(kl)
            let subs = kl.className == "Bidirectional" ? ["forward_layer/", "backward_layer/"] : [""]
            return try subs.map { sub in
                let vars = "layers/\(group)/\(sub)cell/vars"
                guard try h5.kind(of: vars) == .group else {
                    throw fail("layer \(kl.name) has no weights (no group \(vars) in model.weights.h5)", .missingTensor)
                }
                let names = try h5.children(of: vars)
                let want = ["0", "1", "2"].prefix(names.count)
                guard names.count == 2 || names.count == 3, names == Array(want) else {
                    throw fail("layer \(kl.name): \(vars) holds \(names.prefix(8).joined(separator: ", ")); expected 0, 1 and 2 (kernel, recurrent kernel, bias)", .missingTensor)
                }
                return KerasPassWeights(kernel: try tensor("\(vars)/0"), recurrent: try tensor("\(vars)/1"),
                                        bias: names.count == 3 ? try tensor("\(vars)/2") : nil, location: vars)
            }
        case .legacy(let root):
            let group = root.isEmpty ? kl.name : "\(root)/\(kl.name)"
            guard try h5.kind(of: group) == .group else {
                throw fail("layer \(kl.name) has no weights (no group \(group))", .missingTensor)
            }
            guard let names = try h5.strings(attribute: "weight_names", of: group) else {
                throw fail("layer \(kl.name): group \(group) has no weight_names attribute", .missingTensor)
            }
            var perPass: [[String]] = Array(repeating: [], count: count)
            for n in names {
                let parts = n.split(separator: "/").map(String.init)
                let d = count == 2 && parts.contains(where: { $0.hasPrefix("backward") }) ? 1 : 0
                perPass[d].append(n)
            }
            return try perPass.enumerated().map { d, list in
                func find(_ role: String) -> String? {
                    list.first { n in
                        let last = n.split(separator: "/").last.map(String.init) ?? n
                        let bare = last.hasSuffix(":0") ? String(last.dropLast(2)) : last
                        return bare == role
                    }
                }
                let label = count == 2 ? (d == 0 ? "forward " : "backward ") : ""
                guard let k = find("kernel"), let r = find("recurrent_kernel") else {
                    throw fail("layer \(kl.name): the \(label)weights \(list.isEmpty ? "are missing" : "(\(list.joined(separator: ", "))) lack a kernel or recurrent_kernel")", .missingTensor)
                }
                let b = find("bias")
                guard list.count == (b == nil ? 2 : 3) else {
                    throw fail("layer \(kl.name): unexpected \(label)weights \(list.joined(separator: ", "))", .extraTensor)
                }
                return KerasPassWeights(kernel: try tensor("\(group)/\(k)"), recurrent: try tensor("\(group)/\(r)"),
                                        bias: try b.map { try tensor("\(group)/\($0)") }, location: group)
            }
        }
    }

    /// The group under `layers/` that holds `kl`'s weights in a Keras 3 file: the one whose
    /// `vars` names the layer, else the class-based name Keras gives by creation order.
    func keras3Group(_ kl: KerasLayer) throws -> String {
        guard try h5.kind(of: "layers") == .group else { throw fail("model.weights.h5 has no layers group", .missingTensor) }
        let groups = try h5.children(of: "layers")
        for g in groups where try h5.kind(of: "layers/\(g)/vars") == .group {
            if try h5.strings(attribute: "name", of: "layers/\(g)/vars")?.first == kl.name { return g }
        }
        let base = KerasImporter.snakeCase(kl.className)
        let earlier = config.layers.prefix { $0.name != kl.name }.filter { $0.className == kl.className }.count
        return earlier == 0 ? base : "\(base)_\(earlier)"
    }

    /// Keras's `to_snake_case`: `SimpleRNN` → `simple_rnn`, `LSTM` → `lstm`.
    static func snakeCase(_ s: String) -> String {
        var out = ""
        let chars = Array(s)
        for (i, ch) in chars.enumerated() {
            if ch.isUppercase && i > 0 {
                let prevLower = chars[i - 1].isLowercase || chars[i - 1].isNumber
                let nextLower = i + 1 < chars.count && chars[i + 1].isLowercase
                if prevLower || (nextLower && chars[i - 1].isUppercase) { out += "_" }
            }
            out += ch.lowercased()
        }
        return out
    }

    func tensor(_ p: String) throws -> ModelTensor {
        guard try h5.kind(of: p) == .dataset else { throw fail("no dataset \(p)", .missingTensor) }
        let d = try h5.dataset(p, limit: KerasImporter.maxTensorBytes)
        return try ModelTensor(dtype: d.dtype, shape: d.shape, bytes: d.bytes)
    }
}

/// The transpose of a 2-D tensor (bytes moved, so exact).
func transposed(_ t: ModelTensor) throws -> ModelTensor {
    guard t.shape.count == 2 else { throw LSTMError(.shape, "expected a matrix, got shape \(t.shape)") }
    let r = t.shape[0], c = t.shape[1], s = t.dtype.size
    var out = [UInt8](repeating: 0, count: t.bytes.count)
    t.bytes.withUnsafeBytes { src in
        out.withUnsafeMutableBytes { dst in
            for i in 0..<r {
                for j in 0..<c {
                    let from = (i * c + j) * s, to = (j * r + i) * s
                    for b in 0..<s { dst[to + b] = src[from + b] }
                }
            }
        }
    }
    return try ModelTensor(dtype: t.dtype, shape: [c, r], bytes: out, encoding: t.encoding)
}
