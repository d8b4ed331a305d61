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
}
