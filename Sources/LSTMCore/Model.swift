/// Descriptive metadata of a model. Strings are untrusted when read from a file.
public struct Metadata: Equatable, Sendable {
    /// The model's name.
    public var name: String?
    /// Free text about the model.
    public var description: String?
    /// The program that produced the model; lstmtool writes the metadata it is given and
    /// does not stamp its own name here.
    public var producerName: String?
    /// The version of ``producerName``.
    public var producerVersion: String?
    /// The framework the model came from (`pytorch`, `onnx`, …).
    public var sourceFramework: String?
    /// The file the model was converted from. Informative only: nothing ever opens it.
    public var sourceFile: String?
    /// RFC 3339, UTC.
    public var created: String?
    /// Free key/value pairs, in file order (keys are unique).
    public var properties: [(key: String, value: String)]
    /// Fields of the header's `Metadata` message that this version does not know, kept so
    /// that a read → write round trip does not lose them.
    public var unknownFields: [UnknownField]

    /// Metadata with the given fields; every field is absent (nil or empty) by default.
    public init(name: String? = nil, description: String? = nil, producerName: String? = nil,
                producerVersion: String? = nil, sourceFramework: String? = nil, sourceFile: String? = nil,
                created: String? = nil, properties: [(key: String, value: String)] = [],
                unknownFields: [UnknownField] = []) {
        self.name = name
        self.description = description
        self.producerName = producerName
        self.producerVersion = producerVersion
        self.sourceFramework = sourceFramework
        self.sourceFile = sourceFile
        self.created = created
        self.properties = properties
        self.unknownFields = unknownFields
    }

    /// Field-by-field equality; `properties` are equal when they hold the same pairs in the
    /// same order (written out because tuples are not `Equatable`).
    public static func == (a: Metadata, b: Metadata) -> Bool {
        a.name == b.name && a.description == b.description && a.producerName == b.producerName
            && a.producerVersion == b.producerVersion && a.sourceFramework == b.sourceFramework
            && a.sourceFile == b.sourceFile && a.created == b.created
            && a.properties.map(\.key) == b.properties.map(\.key)
            && a.properties.map(\.value) == b.properties.map(\.value) && a.unknownFields == b.unknownFields
    }
}

/// LSTM-only options. Defaults describe a plain LSTM.
public struct LSTMOptions: Equatable, Sendable {
    /// Gates with a peephole connection (input and forget see c_{t-1}, output sees c_t).
    public var peepholes: Set<PeepholeGate>
    /// Coupled input and forget gates: only the forget gate has parameters, i = 1 - f.
    public var coupled: Bool
    /// Size P of the projection h_t = W_proj (o ⊙ tanh c_t); nil when there is none.
    public var projectionSize: Int?
    /// c_t is clipped to [-clip, clip] after its update (TensorFlow `cell_clip`).
    public var cellClip: Double?
    /// The projected h_t is clipped to [-clip, clip] (TensorFlow `proj_clip`).
    public var projectionClip: Double?

    /// LSTM options; the defaults are a plain LSTM (no peepholes, an input gate of its own,
    /// no projection, no clips). Nothing is checked here: ``LayerSpec/validate(at:)`` refuses
    /// combinations that make no sense.
    public init(peepholes: Set<PeepholeGate> = [], coupled: Bool = false, projectionSize: Int? = nil,
                cellClip: Double? = nil, projectionClip: Double? = nil) {
        self.peepholes = peepholes
        self.coupled = coupled
        self.projectionSize = projectionSize
        self.cellClip = cellClip
        self.projectionClip = projectionClip
    }
}

/// What one layer computes: its cell, sizes and variant options (no weights).
public struct LayerSpec: Equatable, Sendable {
    /// The cell family; it fixes the number of gate blocks and of activations per pass.
    public var cell: CellFamily
    /// I, the width of one input step; above the first layer it must equal the layer
    /// below's `direction.count × outputSize`.
    public var inputSize: Int
    /// H, the number of units: the height of each gate block and the width of the LSTM cell
    /// state c (in 1...2^24).
    public var hiddenSize: Int
    /// Which way the layer runs over the sequence, and so how many passes (weight sets) it has.
    public var direction: Direction
    /// Whether the biases `b_x` and `b_h` exist (both or neither); absent biases are zero.
    public var hasBias: Bool
    /// One list per pass (forward first): RNN [act], LSTM [f, g, h], GRU [f, g].
    public var activations: [[Activation]]
    /// LSTM-only options; they must keep their defaults in RNN and GRU layers.
    public var lstm: LSTMOptions
    /// ONNX `clip`: every gate pre-activation (bias and peephole included) is clipped to
    /// [-clip, clip] before its activation; any cell family.
    public var activationClip: Double?
    /// GRU: true for the reset-after form (PyTorch, cuDNN, ONNX linear_before_reset=1).
    public var resetAfter: Bool
    /// Whether learned initial states (h0, and c0 for LSTM) are stored per pass.
    public var hasInitialState: Bool
    /// Fields of the header's `Layer` message that this version does not know, kept for the
    /// round trip.
    public var unknownFields: [UnknownField]

    /// A layer description. `activations` nil gives every pass the cell's defaults
    /// (``defaultActivations(_:)``). `resetAfter` matters only for GRU layers. Nothing is
    /// checked here: call ``validate(at:)``.
    public init(cell: CellFamily, inputSize: Int, hiddenSize: Int, direction: Direction = .forward,
                hasBias: Bool = true, activations: [[Activation]]? = nil, lstm: LSTMOptions = LSTMOptions(),
                activationClip: Double? = nil, resetAfter: Bool = true, hasInitialState: Bool = false, unknownFields: [UnknownField] = []) {
        self.cell = cell
        self.inputSize = inputSize
        self.hiddenSize = hiddenSize
        self.direction = direction
        self.hasBias = hasBias
        self.activations = activations ?? Array(repeating: LayerSpec.defaultActivations(cell), count: direction.count)
        self.lstm = lstm
        self.activationClip = activationClip
        self.resetAfter = resetAfter
        self.hasInitialState = hasInitialState
        self.unknownFields = unknownFields
    }

    /// The activations one pass of `cell` uses when a source does not say: RNN `[tanh]`,
    /// LSTM `[sigmoid, tanh, tanh]` (gates, candidate, output), GRU `[sigmoid, tanh]` (gates,
    /// candidate); docs/CELLS.md §1.
    public static func defaultActivations(_ cell: CellFamily) -> [Activation] {
        switch cell {
        case .rnn: return [.tanh]
        case .lstm: return [.sigmoid, .tanh, .tanh]
        case .gru: return [.sigmoid, .tanh]
        }
    }

    /// How many activations one pass of `cell` takes: 1 for RNN, 3 for LSTM, 2 for GRU.
    public static func activationCount(_ cell: CellFamily) -> Int { defaultActivations(cell).count }

    /// Width of h (P with a projection, else H).
    public var outputSize: Int { lstm.projectionSize ?? hiddenSize }

    /// Number of H-row gate blocks in W_x, W_h, b_x and b_h.
    public var gateCount: Int {
        switch cell {
        case .rnn: return 1
        case .lstm: return lstm.coupled ? 3 : 4
        case .gru: return 3
        }
    }

    /// The gate order of the stacked tensors (docs/FORMAT.md).
    public var gateLayout: GateLayout {
        switch cell {
        case .rnn: return .rnn
        case .lstm: return lstm.coupled ? .lstmFGO : .lstmIFGO
        case .gru: return .gruZRN
        }
    }

    /// The shape a tensor of this role must have, or nil when the layer has no such tensor.
    public func expectedShape(_ role: TensorRole) -> [Int]? {
        let g = gateCount * hiddenSize
        switch role {
        case .inputWeights: return [g, inputSize]
        case .recurrentWeights: return [g, outputSize]
        case .inputBias, .recurrentBias: return hasBias ? [g] : nil
        case .peepholeInput: return cell == .lstm && lstm.peepholes.contains(.input) ? [hiddenSize] : nil
        case .peepholeForget: return cell == .lstm && lstm.peepholes.contains(.forget) ? [hiddenSize] : nil
        case .peepholeOutput: return cell == .lstm && lstm.peepholes.contains(.output) ? [hiddenSize] : nil
        case .projection: return cell == .lstm && lstm.projectionSize != nil ? [outputSize, hiddenSize] : nil
        case .initialHidden: return hasInitialState ? [outputSize] : nil
        case .initialCell: return hasInitialState && cell == .lstm ? [hiddenSize] : nil
        }
    }

    /// The tensor roles every pass of this layer has, in file order (the order of
    /// `TensorRole.allCases`).
    public var expectedRoles: [TensorRole] { TensorRole.allCases.filter { expectedShape($0) != nil } }

    /// Learned parameters of one pass (initial states not counted).
    public var parametersPerPass: Int {
        expectedRoles.filter { $0 != .initialHidden && $0 != .initialCell }
            .map { expectedShape($0)!.reduce(1, *) }.reduce(0, +)
    }

    /// Learned parameters of the whole layer: ``parametersPerPass`` times the number of
    /// passes (initial states not counted).
    public var parameterCount: Int { parametersPerPass * direction.count }

    /// Checks that the options make sense together; `at` names the layer in errors.
    public func validate(at where_: String) throws {
        func fail(_ s: String) -> LSTMError { LSTMError(.invalidModel, "\(where_): \(s)") }
        let cap = 1 << 24
        guard inputSize > 0, inputSize <= cap else { throw fail("input_size \(inputSize) is not in 1...\(cap)") }
        guard hiddenSize > 0, hiddenSize <= cap else { throw fail("hidden_size \(hiddenSize) is not in 1...\(cap)") }
        guard activations.count == direction.count else {
            throw fail("\(activations.count) activation lists for \(direction.count) direction(s)")
        }
        let n = LayerSpec.activationCount(cell)
        for (d, list) in activations.enumerated() where list.count != n {
            throw fail("direction \(d) has \(list.count) activations, a \(cell.rawValue) cell takes \(n)")
        }
        for list in activations {
            for a in list where !a.alpha.isFinite || !a.beta.isFinite {
                throw fail("activation \(a.kind.rawValue) has a non-finite alpha or beta")
            }
        }
        for (name, v) in [("activation_clip", activationClip), ("cell_clip", lstm.cellClip),
                          ("projection_clip", lstm.projectionClip)] {
            if let v, !(v > 0 && v.isFinite) { throw fail("\(name) must be a positive finite number, got \(v)") }
        }
        if cell != .lstm {
            if !lstm.peepholes.isEmpty { throw fail("peepholes are an LSTM option, this is a \(cell.rawValue) layer") }
            if lstm.coupled { throw fail("coupled gates are an LSTM option, this is a \(cell.rawValue) layer") }
            if lstm.projectionSize != nil { throw fail("a projection is an LSTM option, this is a \(cell.rawValue) layer") }
            if lstm.cellClip != nil || lstm.projectionClip != nil {
                throw fail("cell and projection clips are LSTM options, this is a \(cell.rawValue) layer")
            }
        }
        if lstm.coupled && lstm.peepholes.contains(.input) {
            throw fail("a coupled LSTM has no input gate parameters, so no input peephole (use forget/output)")
        }
        if let p = lstm.projectionSize, !(p > 0 && p <= cap) { throw fail("projection_size \(p) is not in 1...\(cap)") }
        if lstm.projectionClip != nil && lstm.projectionSize == nil {
            throw fail("projection_clip is set but the layer has no projection")
        }
    }
}

/// The order of the gate blocks along the rows of `W_x`, `W_h`, `b_x` and `b_h`
/// (docs/FORMAT.md §4.3): block j is rows `[j·H, (j+1)·H)`. A file stores it and a reader
/// checks that it is the one the cell implies (``LayerSpec/gateLayout``); raw values are the
/// JSON form's names.
public enum GateLayout: String, CaseIterable, Sendable {
    case rnn, lstmIFGO = "lstm_ifgo", lstmFGO = "lstm_fgo", gruZRN = "gru_zrn"
}

/// One layer: what it computes and its tensors, one dictionary per pass (forward first).
public struct Layer: Equatable, Sendable {
    /// What the layer computes.
    public var spec: LayerSpec
    /// The tensors of each pass by role, in the order of ``Direction/passes``: one
    /// dictionary for a forward or reverse layer, two (forward, reverse) for a bidirectional
    /// one.
    public var passes: [[TensorRole: ModelTensor]]

    /// A layer from its description and tensors; nothing is checked here: call
    /// ``validate(index:)``.
    public init(spec: LayerSpec, passes: [[TensorRole: ModelTensor]]) {
        self.spec = spec
        self.passes = passes
    }

    /// Checks every tensor against the spec: no missing, no extra, exact shapes.
    public func validate(index: Int) throws {
        try spec.validate(at: "layer \(index)")
        try spec.validateTensorShapes(passes.map { $0.mapValues(\.shape) }, index: index)
    }
}

extension LayerSpec {
    /// Checks a layer's tensor table (role → shape, one per pass) against what the layer
    /// computes: nothing missing, nothing extra, every shape exact.
    public func validateTensorShapes(_ passes: [[TensorRole: [Int]]], index: Int) throws {
        let here = "layer \(index)"
        guard passes.count == direction.count else {
            throw LSTMError(.invalidModel, "\(here): \(passes.count) weight sets for a \(direction.rawValue) layer")
        }
        for (d, pass) in passes.enumerated() {
            let passName = direction.passes[d].rawValue
            for role in TensorRole.allCases {
                let name = tensorName(layer: index, pass: direction.passes[d], role: role)
                switch (expectedShape(role), pass[role]) {
                case (nil, nil): continue
                case (let shape?, nil):
                    throw LSTMError(.missingTensor, "\(here) \(passName): missing tensor \(name) of shape \(shape)")
                case (nil, _?):
                    throw LSTMError(.extraTensor, "\(here) \(passName): unexpected tensor \(name) (the layer's options do not use it)")
                case (let shape?, let got?):
                    if got != shape {
                        throw LSTMError(.shape, "\(name): shape \(got), expected \(shape) for a \(describeShapeRule(role))")
                    }
                }
            }
        }
    }

    /// Says where an expected shape comes from, for error messages.
    func describeShapeRule(_ role: TensorRole) -> String {
        let g = gateCount
        let cellName = cell == .lstm && lstm.coupled ? "coupled lstm" : cell.rawValue
        switch role {
        case .inputWeights: return "\(cellName) layer: [\(g)·hidden_size, input_size]"
        case .recurrentWeights: return "\(cellName) layer: [\(g)·hidden_size, \(lstm.projectionSize != nil ? "projection_size" : "hidden_size")]"
        case .inputBias, .recurrentBias: return "\(cellName) layer: [\(g)·hidden_size]"
        case .peepholeInput, .peepholeForget, .peepholeOutput, .initialCell: return "layer of hidden_size \(hiddenSize)"
        case .projection: return "projection: [projection_size, hidden_size]"
        case .initialHidden: return "layer whose h has \(outputSize) units"
        }
    }
}

/// A whole model: metadata and a stack of layers.
public struct Model: Equatable, Sendable {
    /// Descriptive fields; they never change what the model computes.
    public var metadata: Metadata
    /// The stack, bottom (input side) first; a valid model has 1 to 4096 layers.
    public var layers: [Layer]
    /// Header fields this version does not know, kept for the round trip.
    public var unknownFields: [UnknownField]

    /// A model from its parts; nothing is checked here: call ``validate()`` (the writers
    /// and `RecurrentModel` do).
    public init(metadata: Metadata = Metadata(), layers: [Layer], unknownFields: [UnknownField] = []) {
        self.metadata = metadata
        self.layers = layers
        self.unknownFields = unknownFields
    }

    /// Learned parameters of every layer (initial states not counted).
    public var parameterCount: Int { layers.map(\.spec.parameterCount).reduce(0, +) }

    /// Width of one input step: the first layer's I (0 without layers).
    public var inputSize: Int { layers.first?.spec.inputSize ?? 0 }
    /// Width of one output step: the last layer's number of passes × its output width
    /// (`D·P`; 0 without layers).
    public var outputSize: Int { layers.last.map { $0.spec.direction.count * $0.spec.outputSize } ?? 0 }

    /// Validates every layer and the chaining of layer widths.
    public func validate() throws {
        guard !layers.isEmpty else { throw LSTMError(.invalidModel, "the model has no layers") }
        guard layers.count <= 4096 else { throw LSTMError(.invalidModel, "\(layers.count) layers is more than the 4096 allowed") }
        for (i, layer) in layers.enumerated() {
            try layer.validate(index: i)
            if i > 0 {
                let prev = layers[i - 1].spec
                let width = prev.direction.count * prev.outputSize
                guard layer.spec.inputSize == width else {
                    throw LSTMError(.invalidModel, "layer \(i): input_size \(layer.spec.inputSize) but layer \(i - 1) outputs \(width) values per step")
                }
            }
        }
    }

    /// The tensors in file order with their canonical names.
    public var namedTensors: [(name: String, tensor: ModelTensor)] {
        var out: [(String, ModelTensor)] = []
        for (i, layer) in layers.enumerated() {
            for (d, pass) in layer.passes.enumerated() {
                for role in TensorRole.allCases {
                    if let t = pass[role] {
                        out.append((tensorName(layer: i, pass: layer.spec.direction.passes[d], role: role), t))
                    }
                }
            }
        }
        return out
    }
}

/// `layers.{k}.{forward|reverse}.{role}`: the name a tensor has in the file.
public func tensorName(layer: Int, pass: Pass, role: TensorRole) -> String {
    "layers.\(layer).\(pass.rawValue).\(role.rawValue)"
}

/// Parses a canonical tensor name; nil when it is not of that form.
public func parseTensorName(_ name: String) -> (layer: Int, pass: Pass, role: TensorRole)? {
    let parts = name.split(separator: ".", omittingEmptySubsequences: false)
    guard parts.count == 4, parts[0] == "layers", let k = Int(parts[1]), k >= 0, String(k) == parts[1],
          let pass = Pass(rawValue: String(parts[2])), let role = TensorRole(rawValue: String(parts[3]))
    else { return nil }
    return (k, pass, role)
}
