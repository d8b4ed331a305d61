import LSTMCore

/// Reading values out of a parsed Keras config (`config.json`, a legacy `model_config`).
extension StrictJSON.Value {
    subscript(_ key: String) -> StrictJSON.Value? {
        if case .object(let members) = self { return members.first { $0.0 == key }?.1 }
        return nil
    }
    var string: String? { if case .string(let s) = self { return s }; return nil }
    var bool: Bool? { if case .bool(let b) = self { return b }; return nil }
    var int: Int? {
        switch self {
        case .integer(let i): return Int(exactly: i)
        case .number(let d): return d == d.rounded() && abs(d) < 1e15 ? Int(d) : nil
        default: return nil
        }
    }
    var double: Double? {
        switch self {
        case .integer(let i): return Double(i)
        case .number(let d): return d
        default: return nil
        }
    }
    var array: [StrictJSON.Value]? { if case .array(let a) = self { return a }; return nil }
    var isNull: Bool { if case .null = self { return true }; return false }
}

/// One layer of a Keras model config: its class, name, settings and the layers it reads from.
struct KerasLayer {
    var className: String
    var name: String
    var config: StrictJSON.Value
    /// Names of the layers whose outputs are its positional inputs (functional models), or
    /// the previous layer (Sequential).
    var inputs: [String]
    /// True when a mask tensor is passed to it explicitly (Keras 3 functional `kwargs.mask`).
    var receivesMask: Bool

    static let recurrentClasses: Set<String> = ["LSTM", "GRU", "SimpleRNN", "CuDNNLSTM", "CuDNNGRU", "Bidirectional"]
    /// Layers that compute the identity at inference, allowed between recurrent layers.
    static let inferenceIdentity: Set<String> = ["Dropout", "SpatialDropout1D", "GaussianNoise", "GaussianDropout",
                                                 "AlphaDropout", "ActivityRegularization"]

    var isRecurrent: Bool { KerasLayer.recurrentClasses.contains(className) }
    var isIdentity: Bool { KerasLayer.inferenceIdentity.contains(className) }
}

/// A Keras model config: its kind and layers in order.
struct KerasModelConfig {
    var modelClass: String
    var name: String?
    var layers: [KerasLayer]

    /// Parses `{"class_name": "Sequential" | "Functional" | "Model", "config": {...}}`.
    init(json: StrictJSON.Value, fail: (String) -> LSTMError) throws {
        guard let cls = json["class_name"]?.string else { throw fail("the model config has no class_name") }
        modelClass = cls
        guard let config = json["config"] else { throw fail("the model config has no config") }
        // Keras ≤ 2.2 wrote a Sequential's config as the list of layers itself.
        let list = config.array ?? config["layers"]?.array
        name = config["name"]?.string
        guard let list else { throw fail("the \(cls) config has no list of layers") }
        guard list.count <= 100_000 else { throw fail("\(list.count) layers is more than the 100000 allowed") }
        var layers: [KerasLayer] = []
        switch cls {
        case "Sequential":
            var previous: String?
            for (k, l) in list.enumerated() {
                guard let lc = l["class_name"]?.string else { throw fail("layer \(k) of the Sequential config has no class_name") }
                let lname = l["config"]?["name"]?.string ?? "\(lc.lowercased())_\(k)"
                layers.append(KerasLayer(className: lc, name: lname, config: l["config"] ?? .object([]),
                                         inputs: previous.map { [$0] } ?? [], receivesMask: false))
                previous = lname
            }
        case "Functional", "Model":
            for (k, l) in list.enumerated() {
                guard let lc = l["class_name"]?.string else { throw fail("layer \(k) of the \(cls) config has no class_name") }
                guard let lname = l["name"]?.string ?? l["config"]?["name"]?.string else { throw fail("layer \(k) (\(lc)) has no name") }
                var inputs: [String] = []
                var mask = false
                for node in l["inbound_nodes"]?.array ?? [] {
                    if let args = node["args"] {
                        // Keras 3: {"args": [tensors], "kwargs": {"mask": tensor, …}}.
                        KerasModelConfig.collectHistory(args, into: &inputs)
                        if let m = node["kwargs"]?["mask"], !m.isNull { mask = true }
                    } else if let calls = node.array {
                        // Keras 2: [[layer_name, node_index, tensor_index, kwargs], …].
                        for c in calls {
                            if let a = c.array, let n = a.first?.string { inputs.append(n) }
                        }
                    }
                }
                layers.append(KerasLayer(className: lc, name: lname, config: l["config"] ?? .object([]), inputs: inputs, receivesMask: mask))
            }
        default:
            throw fail("the model is a \(cls); lstmtool reads Sequential and functional models")
        }
        var seen = Set<String>()
        for l in layers where !seen.insert(l.name).inserted { throw fail("two layers are named \(l.name)") }
        self.layers = layers
    }

    /// The layer names in every `keras_history` below `v` (depth-bounded by the parser).
    static func collectHistory(_ v: StrictJSON.Value, into out: inout [String]) {
        switch v {
        case .object(let members):
            if let h = v["config"]?["keras_history"]?.array, let n = h.first?.string { out.append(n); return }
            for (_, m) in members { collectHistory(m, into: &out) }
        case .array(let items):
            for i in items { collectHistory(i, into: &out) }
        default: return
        }
    }

    func layer(named n: String) -> KerasLayer? { layers.first { $0.name == n } }

    /// The layer feeding `l`'s first input, skipping layers that are the identity at
    /// inference (Dropout, …); nil for an input layer.
    func source(of l: KerasLayer) -> KerasLayer? {
        var cur = l
        var hops = 0
        while let first = cur.inputs.first, let src = layer(named: first), hops < layers.count {
            if !src.isIdentity { return src }
            cur = src
            hops += 1
        }
        return nil
    }

    /// The recurrent stacks: chains of recurrent layers each reading the previous one's
    /// output sequence, in layer order.
    func stacks() -> [[KerasLayer]] {
        let rec = layers.filter(\.isRecurrent)
        var successors: [String: [KerasLayer]] = [:]
        for r in rec {
            if let s = source(of: r), s.isRecurrent { successors[s.name, default: []].append(r) }
        }
        var out: [[KerasLayer]] = []
        for r in rec {
            let s = source(of: r)
            let continues = s.map { $0.isRecurrent && successors[$0.name]?.count == 1 } ?? false
            guard !continues else { continue }
            var chain = [r]
            while let next = successors[chain.last!.name], next.count == 1, chain.count <= rec.count {
                chain.append(next[0])
            }
            out.append(chain)
        }
        return out
    }
}
