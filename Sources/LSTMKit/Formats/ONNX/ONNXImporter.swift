internal import LSTMCodec
import LSTMCore

/// Imports the recurrent stack of an ONNX graph (docs/CONVERSIONS.md).
///
/// The graph is searched for RNN/LSTM/GRU nodes; nodes whose X input is another recurrent
/// node's Y, reached through the reshaping exporters put between layers
/// (Squeeze/Transpose/Reshape/Identity), form one stack. That reshaping is followed axis by
/// axis, and a stack is only accepted when it really hands [T, B, D·H] to the next layer.
/// Everything else in the graph is left out and listed in a note.
enum ONNXImporter {
    static let recurrentOps: Set<String> = ["RNN", "LSTM", "GRU"]

    static func load(path: String, options: ImportOptions, notes: inout ImportNotes) throws -> Model {
        let bytes = try readWholeFile(path, limit: ONNXCodec.maxModelBytes)
        let proto = try ONNXCodec.decode(bytes, context: path)
        guard let graph = proto.graph else { throw LSTMError(.invalidInput, "\(path): the ONNX model has no graph") }
        var importer = try GraphImporter(path: path, graph: graph)
        let stack = try importer.selectStack(node: options.node, notes: &notes)
        var layers: [Layer] = []
        for (k, n) in stack.enumerated() {
            layers.append(try importer.layer(nodeIndex: n, index: k, notes: &notes))
        }
        try importer.checkLayerLinks(stack)
        importer.noteLeftOut(stack, notes: &notes)

        var meta = Metadata()
        if let own = ONNXImporter.lstmtoolMetadata(proto.metadataProps) {
            // lstmtool's own export: its metadata_props hold the model's metadata as it was.
            meta = own
            meta.name = proto.metadataProps.first { $0.key == "lstmtool.name" }?.value
            let model = Model(metadata: meta, layers: layers)
            do {
                try model.validate()
            } catch let e as LSTMError {
                throw e.withPath(path)
            }
            return model
        }
        meta.name = graph.name.isEmpty ? nil : graph.name
        meta.producerName = proto.producerName
        meta.producerVersion = proto.producerVersion
        meta.sourceFramework = "onnx"
        meta.sourceFile = ConvertSupport.fileName(path)
        meta.created = ConvertSupport.created(options)
        meta.properties.append(ConvertSupport.convertedBy)
        if let ir = proto.irVersion { meta.properties.append(("onnx.ir_version", String(ir))) }
        if let op = proto.opsetImports.first(where: { $0.domain == "" || $0.domain == "ai.onnx" }) {
            meta.properties.append(("onnx.opset", String(op.version)))
        }
        meta.properties.append(("onnx.nodes", stack.map { importer.describe($0) }.joined(separator: ",")))
        if let first = stack.first, let info = importer.nodeInfo[first] {
            meta.properties.append((RecordedLayout.propertyKey, (info.layout == 1 ? RecordedLayout.batchMajor : .timeMajor).rawValue))
        }
        let model = Model(metadata: meta, layers: layers)
        do {
            try model.validate()
        } catch let e as LSTMError {
            throw e.withPath(path)
        }
        return model
    }
}

extension ONNXImporter {
    /// The metadata lstmtool's ONNX export stored in `metadata_props` (`lstmtool.description`,
    /// `lstmtool.property.KEY`, …), or nil when the file holds none (not lstmtool's export).
    static func lstmtoolMetadata(_ props: [(key: String, value: String)]) -> Metadata? {
        guard props.contains(where: { $0.key == "lstmtool.metadata" }) else { return nil }
        var m = Metadata()
        for (k, v) in props {
            switch k {
            case "lstmtool.description": m.description = v
            case "lstmtool.producer_name": m.producerName = v
            case "lstmtool.producer_version": m.producerVersion = v
            case "lstmtool.source_framework": m.sourceFramework = v
            case "lstmtool.source_file": m.sourceFile = v
            case "lstmtool.created": m.created = v
            default:
                if k.hasPrefix("lstmtool.property."), !m.properties.contains(where: { $0.key == k }) {
                    let key = String(k.dropFirst("lstmtool.property.".count))
                    if !m.properties.contains(where: { $0.key == key }) { m.properties.append((key, v)) }
                }
            }
        }
        return m
    }
}

/// How a state input (initial_h / initial_c) of a recurrent node is fed.
enum StateSource {
    case absent
    /// Computed from a graph input: a value the caller passes at run time.
    case runInput
    /// A constant (or the default of an overridable graph input): a learned initial state.
    case constant(ModelTensor, origin: String)
}

struct GraphImporter {
    let path: String
    let graph: ONNXGraph
    let reader: ONNXTensorReader
    /// Output name → index of the node that produces it.
    var producer: [String: Int] = [:]
    /// Initializers and Constant-node values by name.
    var constants: [String: ONNXTensorProto] = [:]
    let graphInputs: Set<String>
    /// Nodes consumed by the import (recurrent nodes, the glue between them, constants they read).
    var used: Set<Int> = []
    /// Per imported node: its layout attribute and direction count, for the link check.
    var nodeInfo: [Int: (layout: Int, directions: Int, hidden: Int)] = [:]

    init(path: String, graph: ONNXGraph) throws {
        self.path = path
        self.graph = graph
        reader = ONNXTensorReader(modelPath: path)
        graphInputs = Set(graph.inputs.map(\.name))
        for t in graph.initializers where !t.name.isEmpty { constants[t.name] = t }
        for (i, n) in graph.nodes.enumerated() {
            for o in n.outputs where !o.isEmpty { producer[o] = i }
            if n.opType == "Constant", let out = n.outputs.first {
                if let v = try GraphImporter.constantValue(n) { constants[out] = v }
            }
        }
    }

    /// The value of a Constant node (`value`, or the scalar/list forms of opset 12+).
    static func constantValue(_ n: ONNXNode) throws -> ONNXTensorProto? {
        for a in n.attributes {
            switch a.name {
            case "value": if var t = a.t { t.name = n.outputs.first ?? ""; return t }
            case "value_int": if let i = a.i { return ONNXTensorProto(name: "", dims: [], dataType: ONNXDataType.int64, int64Data: [i]) }
            case "value_ints": return ONNXTensorProto(name: "", dims: [Int64(a.ints.count)], dataType: ONNXDataType.int64, int64Data: a.ints)
            case "value_float": if let f = a.f { return ONNXTensorProto(name: "", dims: [], dataType: ONNXDataType.float, floatData: [f]) }
            case "value_floats": return ONNXTensorProto(name: "", dims: [Int64(a.floats.count)], dataType: ONNXDataType.float, floatData: a.floats)
            default: continue
            }
        }
        return nil
    }

    func describe(_ i: Int) -> String {
        let n = graph.nodes[i]
        return n.name.isEmpty ? "#\(i)" : n.name
    }

    func fail(_ i: Int, _ msg: String, _ kind: LSTMError.Kind = .conversion) -> LSTMError {
        LSTMError(kind, "\(path): node '\(describe(i))' (\(graph.nodes[i].opType)): \(msg)")
    }

    /// Follows a name back through Identity nodes.
    func unalias(_ name: String) -> String {
        var n = name
        var steps = 0
        while let p = producer[n], graph.nodes[p].opType == "Identity", let src = graph.nodes[p].inputs.first, steps < graph.nodes.count {
            n = src
            steps += 1
        }
        return n
    }

    func constant(_ name: String) -> ONNXTensorProto? { constants[unalias(name)] }

    func isRecurrent(_ i: Int) -> Bool {
        let n = graph.nodes[i]
        return ONNXImporter.recurrentOps.contains(n.opType) && (n.domain.isEmpty || n.domain == "ai.onnx")
    }

    // MARK: - Finding the stack

    static let glueOps: Set<String> = ["Identity", "Squeeze", "Transpose", "Reshape"]

    /// The recurrent node whose Y reaches node `i`'s X through glue ops, with the glue path
    /// (nearest first), or nil when X comes from anything else.
    func predecessor(_ i: Int) -> (node: Int, glue: [Int])? {
        guard let x = graph.nodes[i].inputs.first, !x.isEmpty else { return nil }
        var name = x
        var glue: [Int] = []
        while let p = producer[name] {
            if isRecurrent(p) {
                return graph.nodes[p].outputs.first == name ? (p, glue) : nil
            }
            guard GraphImporter.glueOps.contains(graph.nodes[p].opType), let src = graph.nodes[p].inputs.first, glue.count < 64 else { return nil }
            glue.append(p)
            name = src
        }
        return nil
    }

    /// Groups the recurrent nodes into stacks and picks one (the only one, or `--node`).
    mutating func selectStack(node: String?, notes: inout ImportNotes) throws -> [Int] {
        let recurrent = graph.nodes.indices.filter(isRecurrent)
        guard !recurrent.isEmpty else {
            let ops = Set(graph.nodes.map(\.opType)).sorted().joined(separator: ", ")
            throw LSTMError(.unsupported, "\(path): the graph has no RNN, LSTM or GRU node (ops: \(ops.isEmpty ? "none" : ops))")
        }
        var next: [Int: [Int]] = [:]
        var hasPred: Set<Int> = []
        for r in recurrent {
            if let p = predecessor(r) {
                next[p.node, default: []].append(r)
                hasPred.insert(r)
            }
        }
        var stacks: [[Int]] = []
        for r in recurrent where !hasPred.contains(r) || (next[predecessor(r)!.node]?.count ?? 0) > 1 {
            // A node fed by a layer that feeds several recurrent nodes starts a stack of its
            // own: one model is one chain of layers.
            var chain = [r]
            var cur = r
            while let n = next[cur], n.count == 1, let nx = n.first {
                chain.append(nx)
                cur = nx
            }
            stacks.append(chain)
        }
        let me = self
        let names = { (s: [Int]) in s.map { me.describe($0) }.joined(separator: " → ") }
        if let want = node {
            guard let s = stacks.first(where: { $0.contains { graph.nodes[$0].name == want || describe($0) == want || graph.nodes[$0].outputs.contains(want) } }) else {
                throw LSTMError(.invalidInput, "\(path): no recurrent node named '\(want)'; the graph has: \(stacks.map(names).joined(separator: "; "))")
            }
            if stacks.count > 1 { notes.messages.append("imported the stack \(names(s)); left out the other recurrent stack(s): \(stacks.filter { $0 != s }.map(names).joined(separator: "; "))") }
            return s
        }
        guard stacks.count == 1, let only = stacks.first else {
            throw LSTMError(.invalidInput, "\(path): the graph holds \(stacks.count) recurrent stacks (\(stacks.map(names).joined(separator: "; "))); choose one with --node NAME")
        }
        return only
    }

    /// Says which nodes the import did not use.
    func noteLeftOut(_ stack: [Int], notes: inout ImportNotes) {
        var usedNodes = Set(stack)
        for (k, n) in stack.enumerated() where k > 0 {
            if let p = predecessor(n) { usedNodes.formUnion(p.glue) }
        }
        var counts: [String: Int] = [:]
        for (i, n) in graph.nodes.enumerated() where !usedNodes.contains(i) && n.opType != "Constant" {
            counts[n.opType, default: 0] += 1
        }
        guard !counts.isEmpty else { return }
        let list = counts.sorted { $0.key < $1.key }.map { $0.value == 1 ? $0.key : "\($0.key)×\($0.value)" }.joined(separator: ", ")
        notes.messages.append("imported \(stack.count) recurrent layer(s) (\(stack.map { describe($0) }.joined(separator: ", "))); left out \(counts.values.reduce(0, +)) other node(s): \(list)")
        if let first = stack.first, let x = graph.nodes[first].inputs.first, let p = producer[unalias(x)] {
            let n = graph.nodes[p]
            if n.opType == "Transpose", n.attributes.first(where: { $0.name == "perm" })?.ints == [1, 0, 2] {
                notes.messages.append("the graph transposes its input to time-major before layer 0 ('\(describe(p))'): it takes batch-major input (lstmtool run --batch-first)")
            } else {
                notes.messages.append("layer 0's input is computed by node '\(describe(p))' (\(n.opType)), which is not imported: the model's input is that node's output")
            }
        }
    }

    // MARK: - Checking the glue between layers

    /// The axes of a tensor on the way from one layer's Y to the next layer's X.
    enum Axis: Equatable { case t, b, d, h, merged, other }

    /// Follows every glue node between consecutive layers and refuses any that does not
    /// turn Y into the [T, B, D·H] (or [B, T, D·H] for layout 1) input of the next layer.
    func checkLayerLinks(_ stack: [Int]) throws {
        // Static T and B, when layer 0 reads a graph input with a fixed shape.
        var known: [Axis: Int] = [:]
        if let first = stack.first, let x = graph.nodes[first].inputs.first,
           let info = graph.inputs.first(where: { $0.name == unalias(x) }), let dims = info.shape, dims.count == 3,
           case .value(let d0) = dims[0], case .value(let d1) = dims[1], d0 > 0, d1 > 0 {
            let batchMajor = (nodeInfo[first]?.layout ?? 0) == 1
            known[.t] = Int(batchMajor ? d1 : d0)
            known[.b] = Int(batchMajor ? d0 : d1)
        }
        for k in 1..<max(stack.count, 1) {
            let cur = stack[k]
            guard let link = predecessor(cur), let prev = nodeInfo[link.node], let mine = nodeInfo[cur] else { continue }
            var axes: [Axis] = prev.layout == 0 ? [.t, .d, .b, .h] : [.b, .t, .d, .h]
            let D = prev.directions
            for g in link.glue.reversed() {
                let n = graph.nodes[g]
                let bad = { (why: String) in self.fail(g, "between layers '\(self.describe(link.node))' and '\(self.describe(cur))': \(why); lstmtool only folds reshaping that hands the next layer [T, B, directions·hidden]") }
                switch n.opType {
                case "Identity": continue
                case "Transpose":
                    let perm = n.attributes.first(where: { $0.name == "perm" })?.ints ?? (0..<axes.count).reversed().map { Int64($0) }
                    guard perm.count == axes.count, Set(perm) == Set((0..<Int64(axes.count))) else { throw bad("perm \(perm) does not fit a rank-\(axes.count) tensor") }
                    axes = perm.map { axes[Int($0)] }
                case "Squeeze":
                    var list = n.attributes.first(where: { $0.name == "axes" })?.ints
                    if list == nil, n.inputs.count > 1, let c = constant(n.inputs[1]) { list = try reader.integers(c, "Squeeze axes") }
                    guard let list, !list.isEmpty else { throw bad("Squeeze without constant axes") }
                    let norm = list.map { $0 < 0 ? $0 + Int64(axes.count) : $0 }
                    guard norm.allSatisfy({ $0 >= 0 && $0 < Int64(axes.count) && axes[Int($0)] == .d && D == 1 }) else {
                        throw bad("Squeeze axes \(list) remove an axis that is not a single direction")
                    }
                    axes = axes.enumerated().filter { !norm.contains(Int64($0.offset)) }.map(\.element)
                case "Reshape":
                    guard n.inputs.count > 1, let c = constant(n.inputs[1]) else { throw bad("Reshape to a shape that is not a constant") }
                    let shape = try reader.integers(c, "Reshape shape")
                    axes = try reshape(axes, shape, directions: D, hidden: prev.hidden, known: known, bad)
                default:
                    throw bad("\(n.opType) is not a reshaping lstmtool knows")
                }
            }
            // A single direction axis that is still there is harmless only where it is merged.
            let want: [Axis] = mine.layout == 0 ? [.t, .b, .merged] : [.b, .t, .merged]
            let got = axes.map { $0 == .h && D == 1 && !axes.contains(.d) ? .merged : $0 }
            guard got == want else {
                throw fail(cur, "its input X is layer '\(describe(link.node))''s output rearranged to axes \(axes), not the \(mine.layout == 0 ? "[T, B, D·H]" : "[B, T, D·H]") a stacked layer needs", .conversion)
            }
        }
    }

    private func reshape(_ axes: [Axis], _ shape: [Int64], directions D: Int, hidden H: Int, known: [Axis: Int],
                         _ bad: (String) -> LSTMError) throws -> [Axis] {
        guard shape.count == 3, axes.count >= 3 else { throw bad("Reshape to \(shape) is not a [T, B, features] reshape") }
        let rest = Array(axes.dropFirst(2))
        let merged: Axis
        if rest == [.d, .h] || (rest == [.h] && D == 1) { merged = .merged } else { merged = .other }
        let last = shape[2]
        guard last == -1 || (merged == .merged && last == Int64(D * H)) else { throw bad("Reshape's last dimension \(last) is not -1 or \(D * H)") }
        // 0 copies the input's own axis. A fixed size or -1 is only safe where it cannot
        // regroup T·B differently: a fixed size must equal the axis' static length (from the
        // graph input), or the other leading entry must pin its axis (0 or a verified size).
        // [B, T, -1] on a [T, B, …] tensor would otherwise import as the identity although it
        // scrambles the steps and batch entries whenever T ≠ B.
        for s in shape.prefix(2) where !(s == 0 || s > 0 || (s == -1 && last != -1)) {
            throw bad("Reshape shape \(shape) is ambiguous")
        }
        let pinned = (0..<2).map { k in shape[k] == 0 || (shape[k] > 0 && known[axes[k]].map { Int64($0) == shape[k] } == true) }
        for k in 0..<2 where shape[k] > 0 && !pinned[k] && known[axes[k]] != nil {
            throw bad("Reshape shape \(shape) sets axis \(k) to \(shape[k]) but that axis (\(axes[k])) has length \(known[axes[k]]!)")
        }
        guard pinned[0] || pinned[1] else {
            throw bad("Reshape shape \(shape) could regroup steps and batch entries (neither leading entry is 0 nor a size the graph input's static shape confirms)")
        }
        return [axes[0], axes[1], merged]
    }

    // MARK: - One node → one layer

    func attribute(_ i: Int, _ name: String) -> ONNXAttribute? { graph.nodes[i].attributes.first { $0.name == name } }

    func intAttr(_ i: Int, _ name: String) throws -> Int64? {
        guard let a = attribute(i, name) else { return nil }
        guard a.kind == .int || (a.kind == .undefined && a.i != nil), let v = a.i else { throw fail(i, "attribute \(name) must be an INT") }
        return v
    }

    func floatAttr(_ i: Int, _ name: String) throws -> Float? {
        guard let a = attribute(i, name) else { return nil }
        guard a.kind == .float || (a.kind == .undefined && a.f != nil), let v = a.f else { throw fail(i, "attribute \(name) must be a FLOAT") }
        return v
    }

    func stringAttr(_ i: Int, _ name: String) throws -> String? {
        guard let a = attribute(i, name) else { return nil }
        guard a.kind == .string || (a.kind == .undefined && a.s != nil), let v = a.s, let s = String(validating: v, as: UTF8.self) else {
            throw fail(i, "attribute \(name) must be a STRING")
        }
        return s
    }

    func floatsAttr(_ i: Int, _ name: String) throws -> [Float]? {
        guard let a = attribute(i, name) else { return nil }
        guard a.kind == .floats || a.kind == .undefined else { throw fail(i, "attribute \(name) must be FLOATS") }
        return a.floats
    }

    func stringsAttr(_ i: Int, _ name: String) throws -> [String]? {
        guard let a = attribute(i, name) else { return nil }
        guard a.kind == .strings || a.kind == .undefined else { throw fail(i, "attribute \(name) must be STRINGS") }
        return try a.strings.map { s in
            guard let v = String(validating: s, as: UTF8.self) else { throw fail(i, "attribute \(name) holds a string that is not UTF-8") }
            return v
        }
    }

    /// The constant bound to input `k` of node `i` (nil when the input is absent).
    func constantInput(_ i: Int, _ k: Int, _ label: String) throws -> ModelTensor? {
        let n = graph.nodes[i]
        guard k < n.inputs.count, !n.inputs[k].isEmpty else { return nil }
        guard let c = constant(n.inputs[k]) else {
            throw fail(i, "input \(label) ('\(n.inputs[k])') is not a constant (an initializer or Constant): lstmtool stores weights, it cannot take them at run time")
        }
        return try reader.floatTensor(c, "node '\(describe(i))' input \(label) ('\(n.inputs[k])')")
    }

    /// Where a state input comes from: follows Identity, Expand (a batch broadcast) and
    /// Slice along axis 0 (PyTorch's per-layer slice of h0) back to a constant or a graph input.
    func stateSource(_ name: String, depth: Int = 0) throws -> StateSource {
        guard !name.isEmpty else { return .absent }
        let n = unalias(name)
        if let c = constants[n] {
            return .constant(try reader.floatTensor(c, "'\(n)'"), origin: n)
        }
        if graphInputs.contains(n) { return .runInput }
        guard let p = producer[n], depth < 32 else { return .runInput }
        let node = graph.nodes[p]
        switch node.opType {
        case "Expand":
            return try stateSource(node.inputs.first ?? "", depth: depth + 1)
        case "Slice":
            let src = try stateSource(node.inputs.first ?? "", depth: depth + 1)
            guard case .constant(let t, let origin) = src else { return src }
            func ints(_ k: Int) throws -> [Int64]? {
                guard k < node.inputs.count, !node.inputs[k].isEmpty else { return nil }
                guard let c = constant(node.inputs[k]) else { throw fail(p, "Slice input \(k) is not a constant") }
                return try reader.integers(c, "Slice input \(k)")
            }
            guard let starts = try ints(1), let ends = try ints(2), starts.count == 1, ends.count == 1,
                  (try ints(3)) ?? [0] == [0], (try ints(4)) ?? [1] == [1], let rows = t.shape.first else {
                throw fail(p, "a slice of the constant initial state '\(origin)' that is not a plain slice along axis 0")
            }
            let lo = Int(clamping: max(0, min(starts[0] < 0 ? starts[0] + Int64(rows) : starts[0], Int64(rows))))
            let hi = Int(clamping: max(Int64(lo), min(ends[0] < 0 ? ends[0] + Int64(rows) : ends[0], Int64(rows))))
            let parts = try GateConventions.split(t, into: rows)
            let kept = Array(parts[lo..<hi])
            guard !kept.isEmpty else { throw fail(p, "an empty slice of the initial state '\(origin)'") }
            return .constant(try GateConventions.stack(kept), origin: origin)
        default:
            return .runInput
        }
    }

    mutating func layer(nodeIndex i: Int, index k: Int, notes: inout ImportNotes) throws -> Layer {
        let node = graph.nodes[i]
        let cell: CellFamily = node.opType == "LSTM" ? .lstm : node.opType == "GRU" ? .gru : .rnn
        let known: Set<String> = {
            var s: Set<String> = ["activations", "activation_alpha", "activation_beta", "clip", "direction", "hidden_size", "layout", "output_sequence"]
            if cell == .lstm { s.insert("input_forget") }
            if cell == .gru { s.insert("linear_before_reset") }
            return s
        }()
        for a in node.attributes where !known.contains(a.name) {
            throw fail(i, "unknown attribute \(a.name)")
        }
        let directionName = try stringAttr(i, "direction") ?? "forward"
        guard let direction = Direction(rawValue: directionName) else {
            throw fail(i, "attribute direction is \"\(directionName)\", expected forward, reverse or bidirectional")
        }
        let D = direction.count
        let layout = try intAttr(i, "layout") ?? 0
        guard layout == 0 || layout == 1 else { throw fail(i, "attribute layout is \(layout), expected 0 or 1") }
        if layout == 1 { notes.messages.append("node '\(describe(i))' has layout=1 (batch-major X and Y): run the model with --batch-first") }

        guard let W = try constantInput(i, 1, "W") else { throw fail(i, "input W is missing") }
        guard let R = try constantInput(i, 2, "R") else { throw fail(i, "input R is missing") }
        let G = cell == .lstm ? 4 : cell == .gru ? 3 : 1
        guard W.shape.count == 3, W.shape[0] == D, W.shape[1] % G == 0, W.shape[1] > 0, W.shape[2] > 0 else {
            throw fail(i, "input W has shape \(W.shape), expected [\(D), \(G)·hidden_size, input_size]", .shape)
        }
        let hiddenAttr = try intAttr(i, "hidden_size")
        let H = W.shape[1] / G
        if let h = hiddenAttr, h != Int64(H) {
            throw fail(i, "attribute hidden_size is \(h) but W has \(W.shape[1]) rows (\(G) gates × \(H))", .shape)
        }
        let I = W.shape[2]
        guard R.shape == [D, G * H, H] else { throw fail(i, "input R has shape \(R.shape), expected [\(D), \(G * H), \(H)]", .shape) }
        let B = try constantInput(i, 3, "B")
        if let B, B.shape != [D, 2 * G * H] { throw fail(i, "input B has shape \(B.shape), expected [\(D), \(2 * G * H)]", .shape) }
        let P = cell == .lstm ? try constantInput(i, 7, "P") : nil
        if let P, P.shape != [D, 3 * H] { throw fail(i, "input P has shape \(P.shape), expected [\(D), \(3 * H)]", .shape) }
        for (label, t) in [("R", R), ("B", B), ("P", P)] as [(String, ModelTensor?)] {
            if let t, t.dtype != W.dtype { throw fail(i, "input \(label) is \(t.dtype.rawValue) but W is \(W.dtype.rawValue)") }
        }

        // Activations, with alpha/beta read the way onnxruntime reads them: one value per
        // listed activation that takes the parameter, in list order.
        let perDir = LayerSpec.activationCount(cell)
        let names = try stringsAttr(i, "activations") ?? []
        var acts: [[Activation]] = Array(repeating: LayerSpec.defaultActivations(cell), count: D)
        if !names.isEmpty {
            if cell == .rnn && D == 1 && names.count == 2 {
                // The spec's RNN default is ["Tanh", "Tanh"]; onnxruntime takes the first.
                notes.messages.append("node '\(describe(i))': a forward RNN lists 2 activations; the first is used, as onnxruntime does")
            } else if names.count != perDir * D {
                throw fail(i, "attribute activations has \(names.count) entries, a \(directionName) \(node.opType) takes \(perDir * D)")
            }
            var kinds: [ActivationKind] = []
            for n in names {
                guard let kind = ActivationKind(onnxName: n) else { throw fail(i, "attribute activations: unknown activation \"\(n)\"") }
                kinds.append(kind)
            }
            let alphas = try floatsAttr(i, "activation_alpha") ?? []
            let betas = try floatsAttr(i, "activation_beta") ?? []
            var ai = 0, bi = 0
            var list: [Activation] = []
            for kind in kinds {
                var alpha: Double?
                var beta: Double?
                if kind.usesAlpha, ai < alphas.count { alpha = Double(alphas[ai]); ai += 1 }
                if kind.usesBeta, bi < betas.count { beta = Double(betas[bi]); bi += 1 }
                list.append(Activation(kind, alpha: alpha, beta: beta))
            }
            guard ai == alphas.count else {
                throw fail(i, "attribute activation_alpha has \(alphas.count) values but only \(kinds.filter(\.usesAlpha).count) listed activation(s) take an alpha")
            }
            guard bi == betas.count else {
                throw fail(i, "attribute activation_beta has \(betas.count) values but only \(kinds.filter(\.usesBeta).count) listed activation(s) take a beta")
            }
            if list.count == 2 && perDir == 1 && D == 1 { list = [list[0]] }
            acts = (0..<D).map { Array(list[($0 * perDir)..<(($0 + 1) * perDir)]) }
        } else if attribute(i, "activation_alpha") != nil || attribute(i, "activation_beta") != nil {
            let alphas = try floatsAttr(i, "activation_alpha") ?? []
            let betas = try floatsAttr(i, "activation_beta") ?? []
            if !alphas.isEmpty || !betas.isEmpty {
                throw fail(i, "attributes activation_alpha/activation_beta are given without activations")
            }
        }

        var clip: Double?
        if let c = try floatAttr(i, "clip") {
            guard c > 0, c.isFinite else { throw fail(i, "attribute clip is \(c), it must be a positive finite number") }
            clip = Double(c)
        }
        let inputForget = try intAttr(i, "input_forget") ?? 0
        let coupled = cell == .lstm && inputForget != 0
        if coupled {
            for (d, list) in acts.enumerated() where list[0].kind != .sigmoid {
                throw fail(i, "attribute input_forget=1 with gate activation \(list[0].kind.onnxName) (direction \(d)): lstmtool keeps the forget gate and uses 1 − f(a) = f(−a), which holds only for Sigmoid")
            }
        }
        var resetAfter = true
        if cell == .gru {
            let lbr = try intAttr(i, "linear_before_reset") ?? 0
            guard lbr == 0 || lbr == 1 else { throw fail(i, "attribute linear_before_reset is \(lbr), expected 0 or 1") }
            resetAfter = lbr == 1
        }
        if let os = try intAttr(i, "output_sequence"), os != 0 {
            notes.messages.append("node '\(describe(i))': output_sequence (opset 1) is ignored; lstmtool always computes Y")
        }

        // Initial states: constants are learned states; graph inputs are run inputs.
        let stateH = try stateSource(node.inputs.count > 5 ? node.inputs[5] : "")
        let stateC = cell == .lstm ? try stateSource(node.inputs.count > 6 ? node.inputs[6] : "") : .absent
        func learned(_ s: StateSource, _ label: String) throws -> [ModelTensor]? {
            guard case .constant(let t, let origin) = s else { return nil }
            if ConvertSupport.isAllPositiveZero(t) { return nil }  // zeros: the same as no initial state
            guard t.shape.count == 3, t.shape[2] == H else {
                throw fail(i, "constant \(label) '\(origin)' has shape \(t.shape), expected \(layout == 0 ? "[\(D), batch, \(H)]" : "[batch, \(D), \(H)]")", .shape)
            }
            let (dAxis, bAxis) = layout == 0 ? (0, 1) : (1, 0)
            guard t.shape[dAxis] == D, t.shape[bAxis] >= 1 else {
                throw fail(i, "constant \(label) '\(origin)' has shape \(t.shape), expected \(layout == 0 ? "[\(D), batch, \(H)]" : "[batch, \(D), \(H)]")", .shape)
            }
            let rows = try GateConventions.split(t.reshaped([t.shape[0] * t.shape[1], H]), into: t.shape[0] * t.shape[1])
            var perPass: [ModelTensor] = []
            for d in 0..<D {
                let first = rows[layout == 0 ? d * t.shape[1] : d]
                for b in 0..<t.shape[bAxis] {
                    let r = rows[layout == 0 ? d * t.shape[1] + b : b * D + d]
                    guard r.bytes == first.bytes else {
                        throw fail(i, "constant \(label) '\(origin)' differs between batch entries; lstmtool stores one learned initial state per direction")
                    }
                }
                perPass.append(first.reshaped([H]))
            }
            return perPass
        }
        var h0 = try learned(stateH, "initial_h")
        var c0 = try learned(stateC, "initial_c")
        if h0 != nil || c0 != nil {
            if case .runInput = stateH { throw fail(i, "initial_c is a constant but initial_h is a run-time input; lstmtool stores learned initial states together") }
            if case .runInput = stateC { throw fail(i, "initial_h is a constant but initial_c is a run-time input; lstmtool stores learned initial states together") }
            if h0 == nil { h0 = try (0..<D).map { _ in try ConvertSupport.zeros(W.dtype, [H]) } }
            if cell == .lstm && c0 == nil { c0 = try (0..<D).map { _ in try ConvertSupport.zeros(W.dtype, [H]) } }
        }
        if node.inputs.count > 4, !node.inputs[4].isEmpty, constant(node.inputs[4]) != nil {
            // Lengths baked into the graph change what every run computes; dropping them would
            // import a different function, and a model has no place to store them.
            throw fail(i, "sequence_lens is a constant in the graph; lstmtool cannot store lengths in a model and takes them at run time (--sequence-lengths): make sequence_lens a graph input or remove it")
        }

        // B all +0 is the same function as no B (and is how exporters write bias=False).
        let hasBias = B.map { !ConvertSupport.isAllPositiveZero($0) } ?? false
        var peepholes: Set<PeepholeGate> = []
        if P != nil { peepholes = coupled ? [.forget, .output] : [.input, .forget, .output] }
        let spec = LayerSpec(cell: cell, inputSize: I, hiddenSize: H, direction: direction, hasBias: hasBias, activations: acts,
                             lstm: LSTMOptions(peepholes: peepholes, coupled: coupled), activationClip: clip,
                             resetAfter: resetAfter, hasInitialState: h0 != nil)

        let onnxOrder = GateConventions.order(.onnx, cell)
        let ours = GateConventions.order(.lstmtool, cell, coupled: coupled)
        /// ONNX-ordered stacked tensor → canonical; for a coupled LSTM the ONNX input gate,
        /// negated, becomes our forget gate and ONNX's own forget block is dropped.
        func canonical(_ t: ModelTensor) throws -> ModelTensor {
            guard coupled else { return try GateConventions.reorder(t, from: onnxOrder, to: ours) }
            let inputBlock = GateConventions.negated(try GateConventions.block(t, .input, of: onnxOrder))
            let rest = try GateConventions.reorder(t, from: onnxOrder, to: [.candidate, .output])
            return try GateConventions.stack([inputBlock, rest])
        }
        let Wd = try GateConventions.split(W, into: D)
        let Rd = try GateConventions.split(R, into: D)
        let Bd = try B.map { try GateConventions.split($0, into: D) }
        let Pd = try P.map { try GateConventions.split($0, into: D) }
        var passes: [[TensorRole: ModelTensor]] = []
        for d in 0..<D {
            var pass: [TensorRole: ModelTensor] = [:]
            pass[.inputWeights] = try canonical(Wd[d].reshaped([G * H, I]))
            pass[.recurrentWeights] = try canonical(Rd[d].reshaped([G * H, H]))
            if hasBias, let Bd {
                let halves = try GateConventions.split(Bd[d].reshaped([2 * G * H]), into: 2)
                pass[.inputBias] = try canonical(halves[0])
                pass[.recurrentBias] = try canonical(halves[1])
            }
            if let Pd {
                let vec = Pd[d].reshaped([3 * H])
                let order = GateConventions.peepholeOrder(.onnx)
                if coupled {
                    pass[.peepholeForget] = GateConventions.negated(try GateConventions.block(vec, .input, of: order))
                } else {
                    pass[.peepholeInput] = try GateConventions.block(vec, .input, of: order)
                    pass[.peepholeForget] = try GateConventions.block(vec, .forget, of: order)
                }
                pass[.peepholeOutput] = try GateConventions.block(vec, .output, of: order)
            }
            if let h0 { pass[.initialHidden] = h0[d] }
            if let c0, cell == .lstm { pass[.initialCell] = c0[d] }
            passes.append(pass)
        }
        if coupled {
            notes.messages.append("node '\(describe(i))': input_forget=1 — stored as a coupled LSTM keeping the forget gate (the ONNX input gate negated); ONNX's forget-gate block\(P != nil ? " and P_f" : ""), which onnxruntime ignores, are dropped")
        }
        nodeInfo[i] = (Int(layout), D, H)
        let layer = Layer(spec: spec, passes: passes)
        do {
            try layer.validate(index: k)
        } catch let e as LSTMError {
            throw fail(i, e.message, e.kind)
        }
        return layer
    }
}
