import Foundation
internal import LSTMCodec
import LSTMCore

/// The named tensors of a framework's state dict, read on demand: what a safetensors file or
/// a `torch.save` checkpoint holds, whatever the container.
struct StateDictSource {
    /// Every tensor's name, in file order.
    var names: [String]
    /// Reads one tensor (called only for the names the module uses).
    var load: (String) throws -> ModelTensor
    /// The container's string metadata (safetensors `__metadata__`), if any.
    var metadata: [String: String] = [:]
}

/// Maps the state dict of a torch.nn.RNN/LSTM/GRU onto a model (docs/CONVERSIONS.md):
/// `{prefix}weight_ih_l{k}[_reverse]`, `weight_hh_l{k}`, `bias_ih_l{k}`, `bias_hh_l{k}` and, for
/// projections, `weight_hr_l{k}`. The container (safetensors, `.pt`) is read elsewhere.
enum StateDictImporter {
    static let roles = ["weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_hr"]

    /// Splits `encoder.rnn.weight_ih_l0_reverse` into ("encoder.rnn.", "weight_ih", 0, true).
    static func parseName(_ name: String) -> (prefix: String, role: String, layer: Int, reverse: Bool)? {
        for role in roles {
            guard let r = name.range(of: role + "_l", options: .backwards) else { continue }
            let prefix = String(name[..<r.lowerBound])
            guard prefix.isEmpty || prefix.hasSuffix(".") else { continue }
            var rest = String(name[r.upperBound...])
            var reverse = false
            if rest.hasSuffix("_reverse") {
                reverse = true
                rest.removeLast("_reverse".count)
            }
            guard let k = Int(rest), k >= 0, String(k) == rest else { continue }
            return (prefix, role, k, reverse)
        }
        return nil
    }

    /// The model of the one recurrent module in `source` (or the one under `options.prefix`).
    /// `path` names the file in errors.
    static func model(from source: StateDictSource, path: String, options: ImportOptions,
                      notes: inout ImportNotes) throws -> Model {
        let module = try StateDictModule(source: source, path: path, options: options, notes: &notes)
        let shape = try module.moduleShape(options: options, notes: &notes)
        let layers = try module.layers(shape)
        var metadata = Metadata()
        metadata.sourceFramework = "pytorch"
        metadata.sourceFile = ConvertSupport.fileName(path)
        metadata.created = ConvertSupport.created(options)
        metadata.description = "torch.nn.\(shape.cell == .rnn ? "RNN" : shape.cell.rawValue.uppercased()) state dict"
        metadata.properties.append(ConvertSupport.convertedBy)
        if !module.prefix.isEmpty { metadata.properties.append(("pytorch.prefix", module.prefix)) }
        let model = Model(metadata: metadata, layers: layers)
        try LSTMError.about(path) { try model.validate() }
        return model
    }
}

/// What a torch.nn.RNN/LSTM/GRU module is, as its layer-0 tensors and options tell.
struct StateDictShape {
    var cell: CellFamily
    var layerCount: Int
    var bidirectional: Bool
    var inputSize: Int
    var hiddenSize: Int
    var projectionSize: Int?
    var hasBias: Bool
    var activations: [Activation]
}

/// One recurrent module of a state dict: its prefix and tensor names, read step by step.
struct StateDictModule {
    let source: StateDictSource
    let path: String
    let prefix: String
    let names: Set<String>

    /// Picks the module: the one under `options.prefix`, else the only one there is.
    init(source: StateDictSource, path: String, options: ImportOptions, notes: inout ImportNotes) throws {
        self.source = source
        self.path = path
        var modules: [String: Set<String>] = [:]
        for name in source.names {
            if let p = StateDictImporter.parseName(name) { modules[p.prefix, default: []].insert(name) }
        }
        let candidates = modules.filter { m in m.value.contains(m.key + "weight_ih_l0") }.keys.sorted()
        let listed = candidates.map { $0.isEmpty ? "(top level)" : $0 }.joined(separator: ", ")
        if var want = options.prefix {
            if !want.isEmpty && !want.hasSuffix(".") { want += "." }
            guard candidates.contains(want) else {
                throw LSTMError(.invalidInput, "no recurrent module under prefix '\(want)'; found: \(listed)", path: path)
            }
            prefix = want
        } else {
            guard !candidates.isEmpty else {
                throw LSTMError(.invalidInput, "no torch.nn.RNN/LSTM/GRU weights (weight_ih_l0 …) among its \(source.names.count) tensors", path: path)
            }
            guard candidates.count == 1, let only = candidates.first else {
                throw LSTMError(.invalidInput, "\(candidates.count) recurrent modules (\(listed)); choose one with --prefix", path: path)
            }
            prefix = only
            if !prefix.isEmpty { notes.messages.append("took the recurrent module under prefix '\(prefix)'") }
        }
        guard let entries = modules[prefix] else { throw LSTMError(.invalidInput, "no module '\(prefix)'", path: path) }
        names = entries
        let leftOut = source.names.filter { !entries.contains($0) }
        if !leftOut.isEmpty {
            notes.messages.append("left out \(leftOut.count) tensor(s) that are not part of the module\(prefix.isEmpty ? "" : " '\(prefix)'"): \(ConvertSupport.nameList(leftOut))")
        }
    }

    /// `{prefix}{role}_l{k}[_reverse]`, read if the module has it.
    func tensor(_ role: String, _ k: Int, _ reverse: Bool) throws -> ModelTensor? {
        let name = "\(prefix)\(role)_l\(k)\(reverse ? "_reverse" : "")"
        guard names.contains(name) else { return nil }
        return try source.load(name)
    }

    /// Family, sizes and options from layer 0's shapes, `options` and stored metadata.
    func moduleShape(options: ImportOptions, notes: inout ImportNotes) throws -> StateDictShape {
        var layerCount = 0
        while names.contains("\(prefix)weight_ih_l\(layerCount)") { layerCount += 1 }
        for name in names.sorted() {
            guard let p = StateDictImporter.parseName(name), p.layer < layerCount else {
                throw LSTMError(.invalidInput, "tensor \(name) belongs to no layer 0..<\(layerCount) of the module", path: path)
            }
        }
        guard let wih0 = try tensor("weight_ih", 0, false), let whh0 = try tensor("weight_hh", 0, false) else {
            throw LSTMError(.missingTensor, "\(prefix)weight_hh_l0 is missing", path: path)
        }
        let whr0 = try tensor("weight_hr", 0, false)
        guard wih0.shape.count == 2, whh0.shape.count == 2, whh0.shape[0] == wih0.shape[0], whh0.shape[0] > 0 else {
            throw LSTMError(.shape, "\(prefix)weight_ih_l0 \(wih0.shape) and weight_hh_l0 \(whh0.shape) are not [gates·hidden, input] and [gates·hidden, hidden]", path: path)
        }
        let rows = wih0.shape[0]
        let H: Int
        var P: Int?
        if let whr0 {
            guard whr0.shape.count == 2, whr0.shape[1] > 0, whr0.shape[0] == whh0.shape[1] else {
                throw LSTMError(.shape, "\(prefix)weight_hr_l0 has shape \(whr0.shape), expected [proj_size, hidden_size] with proj_size = weight_hh_l0's \(whh0.shape[1]) columns", path: path)
            }
            H = whr0.shape[1]
            P = whr0.shape[0]
        } else {
            H = whh0.shape[1]
        }
        guard H > 0, rows % H == 0 else {
            throw LSTMError(.shape, "\(prefix)weight_ih_l0 has \(rows) rows, not a multiple of hidden size \(H) (from \(prefix)\(whr0 == nil ? "weight_hh_l0's columns" : "weight_hr_l0's columns"))", path: path)
        }
        let cell = try family(rows: rows, hidden: H, options: options)
        if P != nil && cell != .lstm { throw LSTMError(.conversion, "\(prefix)weight_hr_l0 (a projection) exists only in an LSTM", path: path) }
        return StateDictShape(cell: cell, layerCount: layerCount, bidirectional: names.contains("\(prefix)weight_ih_l0_reverse"),
                              inputSize: wih0.shape[1], hiddenSize: H, projectionSize: P,
                              hasBias: names.contains("\(prefix)bias_ih_l0"),
                              activations: try activations(cell, options: options, notes: &notes))
    }

    /// The cell family: `--cell`, else the row count (4H, 3H, H), else what lstmtool stored.
    func family(rows: Int, hidden H: Int, options: ImportOptions) throws -> CellFamily {
        let inferred: CellFamily?
        switch rows / H {
        case 4: inferred = .lstm
        case 3: inferred = .gru
        case 1: inferred = .rnn
        default: inferred = nil
        }
        let stored = source.metadata["lstmtool.cell"].flatMap(CellFamily.init(rawValue:))
        guard let cell = options.cell ?? inferred ?? stored else {
            throw LSTMError(.shape, "\(prefix)weight_ih_l0 has \(rows) rows for hidden size \(H): not 4H (LSTM), 3H (GRU) or H (RNN); say --cell", path: path)
        }
        if let inferred, cell != inferred {
            throw LSTMError(.conversion, "--cell \(cell.rawValue) contradicts the shapes: \(prefix)weight_ih_l0 has \(rows) rows = \(rows / H) × hidden size \(H), a \(inferred.rawValue)", path: path)
        }
        return cell
    }

    /// An RNN's nonlinearity (weights cannot tell it): `--nonlinearity`, else stored, else tanh.
    func activations(_ cell: CellFamily, options: ImportOptions, notes: inout ImportNotes) throws -> [Activation] {
        guard cell == .rnn else {
            if options.nonlinearity != nil {
                notes.messages.append("--nonlinearity applies to RNN modules only; ignored for this \(cell.rawValue)")
            }
            return LayerSpec.defaultActivations(cell)
        }
        let kind: ActivationKind
        if let n = options.nonlinearity {
            kind = n
        } else if let s = source.metadata["lstmtool.nonlinearity"], let k = ActivationKind(rawValue: s) {
            kind = k
        } else {
            kind = .tanh
            notes.messages.append("an RNN's nonlinearity cannot be read from its weights; assumed tanh (say --nonlinearity relu otherwise)")
        }
        guard kind == .tanh || kind == .relu else { throw LSTMError(.invalidInput, "torch.nn.RNN's nonlinearity is tanh or relu, not \(kind.rawValue)", path: path) }
        return [Activation(kind)]
    }

    /// Every layer's tensors, checked against the shape and reordered to lstmtool's gates.
    func layers(_ shape: StateDictShape) throws -> [Layer] {
        let cell = shape.cell, H = shape.hiddenSize, P = shape.projectionSize
        let directions = shape.bidirectional ? [false, true] : [false]
        let torchOrder = GateConventions.order(.pytorch, cell)
        let ours = GateConventions.order(.lstmtool, cell)
        let G = ours.count
        var layers: [Layer] = []
        var inputSize = shape.inputSize
        var dtype: DType?
        for k in 0..<shape.layerCount {
            let spec = LayerSpec(cell: cell, inputSize: inputSize, hiddenSize: H, direction: shape.bidirectional ? .bidirectional : .forward,
                                 hasBias: shape.hasBias, activations: Array(repeating: shape.activations, count: directions.count),
                                 lstm: LSTMOptions(projectionSize: P), resetAfter: true)
            var passes: [[TensorRole: ModelTensor]] = []
            for rev in directions {
                var pass: [TensorRole: ModelTensor] = [:]
                func need(_ role: String, _ expected: [Int]) throws -> ModelTensor {
                    let name = "\(prefix)\(role)_l\(k)\(rev ? "_reverse" : "")"
                    guard let t = try tensor(role, k, rev) else { throw LSTMError(.missingTensor, "tensor \(name) of shape \(expected) is missing", path: path) }
                    guard t.shape == expected else { throw LSTMError(.shape, "tensor \(name) has shape \(t.shape), expected \(expected)", path: path) }
                    if let d = dtype, d != t.dtype { throw LSTMError(.conversion, "tensor \(name) is \(t.dtype.rawValue), the module's other weights \(d.rawValue)", path: path) }
                    dtype = t.dtype
                    return t
                }
                pass[.inputWeights] = try GateConventions.reorder(try need("weight_ih", [G * H, inputSize]), from: torchOrder, to: ours)
                pass[.recurrentWeights] = try GateConventions.reorder(try need("weight_hh", [G * H, P ?? H]), from: torchOrder, to: ours)
                if shape.hasBias {
                    pass[.inputBias] = try GateConventions.reorder(try need("bias_ih", [G * H]), from: torchOrder, to: ours)
                    pass[.recurrentBias] = try GateConventions.reorder(try need("bias_hh", [G * H]), from: torchOrder, to: ours)
                } else {
                    for role in ["bias_ih", "bias_hh"] where try tensor(role, k, rev) != nil {
                        throw LSTMError(.conversion, "tensor \(prefix)\(role)_l\(k)\(rev ? "_reverse" : "") exists but layer 0 has no biases", path: path)
                    }
                }
                if let P { pass[.projection] = try need("weight_hr", [P, H]) }
                passes.append(pass)
            }
            if !shape.bidirectional, names.contains(where: { $0.hasPrefix(prefix) && $0.hasSuffix("_l\(k)_reverse") }) {
                throw LSTMError(.conversion, "layer \(k) has _reverse tensors but layer 0 is unidirectional", path: path)
            }
            layers.append(Layer(spec: spec, passes: passes))
            inputSize = directions.count * (P ?? H)
        }
        return layers
    }
}

/// The state dict torch.nn.RNN/LSTM/GRU would have for a model, so that `load_state_dict`
/// accepts it; refuses what those modules cannot compute.
enum StateDictExporter {
    static func refuse(_ msg: String) -> LSTMError { LSTMError(.unsupported, "cannot export to PyTorch: \(msg)") }

    /// The named tensors, and string metadata that lets lstmtool read back what weights
    /// cannot tell (the cell family, an RNN's nonlinearity).
    static func stateDict(_ model: Model) throws -> (tensors: [(name: String, tensor: ModelTensor)], metadata: [(key: String, value: String)]) {
        try model.validate()
        guard let first = model.layers.first?.spec else { throw refuse("the model has no layers") }
        let cell = first.cell
        let moduleName = cell == .rnn ? "RNN" : cell.rawValue.uppercased()
        var tensors: [(name: String, tensor: ModelTensor)] = []
        var dtype: DType?
        for (k, layer) in model.layers.enumerated() {
            let s = layer.spec
            let at = "layer \(k)"
            if s.cell != cell { throw refuse("\(at) is \(s.cell.rawValue) but layer 0 is \(cell.rawValue); one torch module has one cell type") }
            if s.direction == .reverse { throw refuse("\(at) runs in reverse only; torch modules run forward or bidirectional") }
            if s.direction != first.direction { throw refuse("\(at) is \(s.direction.rawValue) but layer 0 is \(first.direction.rawValue)") }
            if s.hiddenSize != first.hiddenSize { throw refuse("\(at) has hidden_size \(s.hiddenSize) but layer 0 has \(first.hiddenSize)") }
            if s.hasBias != first.hasBias { throw refuse("\(at) \(s.hasBias ? "has" : "has no") biases unlike layer 0") }
            if s.lstm.projectionSize != first.lstm.projectionSize { throw refuse("\(at) has a different projection size from layer 0") }
            if s.lstm.coupled { throw refuse("\(at) couples the input and forget gates; torch.nn.LSTM has separate gates") }
            if !s.lstm.peepholes.isEmpty { throw refuse("\(at) has peepholes; torch.nn.LSTM has none") }
            if s.cell == .gru && !s.resetAfter { throw refuse("\(at) is a reset-before GRU (linear_before_reset=0); torch.nn.GRU is reset-after") }
            if s.activationClip != nil { throw refuse("\(at) clips gate pre-activations; torch modules do not") }
            if s.lstm.cellClip != nil || s.lstm.projectionClip != nil { throw refuse("\(at) clips the cell or projection; torch.nn.LSTM does not") }
            if s.hasInitialState { throw refuse("\(at) has learned initial states; a torch module's state dict has no place for them") }
            for acts in s.activations {
                let ok: Bool
                if cell == .rnn {
                    ok = acts == [Activation(.tanh)] || acts == [Activation(.relu)]
                } else {
                    ok = acts == LayerSpec.defaultActivations(cell)
                }
                if !ok {
                    throw refuse("\(at) uses activations \(acts.map(\.summary).joined(separator: ", ")); torch.nn.\(moduleName) computes \(cell == .rnn ? "tanh or relu" : LayerSpec.defaultActivations(cell).map(\.summary).joined(separator: ", "))")
                }
            }
            if cell == .rnn && s.activations != first.activations { throw refuse("\(at) has a different nonlinearity from layer 0") }
            let torchOrder = GateConventions.order(.pytorch, cell)
            let ours = GateConventions.order(.lstmtool, cell)
            for (d, pass) in layer.passes.enumerated() {
                let suffix = "_l\(k)\(s.direction.passes[d] == .reverse ? "_reverse" : "")"
                func put(_ name: String, _ role: TensorRole, reorder: Bool) throws {
                    guard let t = pass[role] else { throw LSTMError(.missingTensor, "\(at): missing \(role.rawValue)") }
                    if let d = dtype, d != t.dtype { throw refuse("\(at) \(role.rawValue) is \(t.dtype.rawValue) but other weights are \(d.rawValue); a torch module has one dtype") }
                    dtype = t.dtype
                    tensors.append((name + suffix, reorder ? try GateConventions.reorder(t, from: ours, to: torchOrder) : t))
                }
                try put("weight_ih", .inputWeights, reorder: true)
                try put("weight_hh", .recurrentWeights, reorder: true)
                if s.hasBias {
                    try put("bias_ih", .inputBias, reorder: true)
                    try put("bias_hh", .recurrentBias, reorder: true)
                }
                if s.lstm.projectionSize != nil { try put("weight_hr", .projection, reorder: false) }
            }
        }
        var meta: [(key: String, value: String)] = [("format", "pt"), ("lstmtool.cell", cell.rawValue)]
        if cell == .rnn, let a = first.activations.first?.first { meta.append(("lstmtool.nonlinearity", a.kind.rawValue)) }
        return (tensors, meta)
    }
}
