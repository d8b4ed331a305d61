import LSTMCore

/// Reads the recurrent layers of a `.tflite` model (docs/CONVERSIONS.md): in the main
/// subgraph, `UNIDIRECTIONAL_SEQUENCE_LSTM` (24-input and legacy 20-input forms),
/// `BIDIRECTIONAL_SEQUENCE_LSTM` and `UNIDIRECTIONAL_SEQUENCE_RNN`; a pass between two
/// `REVERSE_V2`s along the time axis is a reverse pass, a forward and a reverse pass over the
/// same input joined by `CONCATENATION` a bidirectional layer, and layers chain through their
/// tensors into a stack. `--node` (an output tensor's name, or `#k` for operator k) picks a
/// stack when the graph holds several; every other operator is listed as left out.
enum TFLiteImporter {
    static func bad(_ msg: String) -> LSTMError { LSTMError(.invalidInput, "invalid TFLite model: \(msg)") }
    static func refuse(_ msg: String) -> LSTMError { LSTMError(.unsupported, "cannot import from TFLite: \(msg)") }

    static let uniLSTM = TFLBuiltinOperator.unidirectionalSequenceLstm
    static let biLSTM = TFLBuiltinOperator.bidirectionalSequenceLstm
    static let uniRNN = TFLBuiltinOperator.unidirectionalSequenceRnn

    /// The decoded model and the main subgraph, checked: every index in range, buffers as long
    /// as their tensors, no subgraph that loops back into itself.
    struct Graph {
        let model: TFLModel
        let tensors: [TFLTensor]
        let ops: [TFLOperator]
        let opCodes: [Int32]
        let graphInputs: [Int32]
        let graphOutputs: [Int32]
        var producer: [Int32: Int] = [:]
        var consumers: [Int32: [Int]] = [:]

        func code(_ op: Int) -> Int32 { opCodes[Int(ops[op].opcodeIndex ?? 0)] }
        func inputs(_ op: Int) -> [Int32] { ops[op].inputs ?? [] }
        func outputs(_ op: Int) -> [Int32] { ops[op].outputs ?? [] }
        /// The operator's first input, nil when it has none or it is the absent marker (−1).
        func input0(_ op: Int) -> Int32? {
            guard let t = inputs(op).first, t >= 0, Int(t) < tensors.count else { return nil }
            return t
        }
        func name(_ t: Int32) -> String { tensors[Int(t)].name ?? "#\(t)" }
        func producerCode(_ t: Int32) -> (op: Int, code: Int32)? { producer[t].map { ($0, code($0)) } }
    }

    static func decode(_ bytes: [UInt8]) throws -> Graph {
        let r = FBReader(bytes)
        let root = try r.root(identifier: "TFL3")
        let model = try TFLModel(r, root)
        guard model.version == 3 else { throw refuse("schema version \(model.version.map(String.init) ?? "absent"), expected 3") }
        let codes = (model.operatorCodes ?? []).map { c -> Int32 in max(c.builtinCode ?? 0, Int32(c.deprecatedBuiltinCode ?? 0)) }
        let subgraphs = model.subgraphs ?? []
        guard let main = subgraphs.first else { throw bad("the model has no subgraph") }
        let nBuffers = model.buffers?.count ?? 0
        // Every subgraph: tensor, operator code, buffer and subgraph indices in range.
        var edges: [[Int]] = Array(repeating: [], count: subgraphs.count)
        for (gi, g) in subgraphs.enumerated() {
            let nt = g.tensors?.count ?? 0
            for (ti, t) in (g.tensors ?? []).enumerated() {
                guard Int(t.buffer ?? 0) < max(nBuffers, 1) else { throw bad("subgraph \(gi) tensor \(ti) refers to buffer \(t.buffer ?? 0) of \(nBuffers)") }
                for d in t.shape ?? [] where d < 0 { throw bad("subgraph \(gi) tensor \(ti) has a negative dimension \(d)") }
            }
            for i in (g.inputs ?? []) + (g.outputs ?? []) where i < 0 || Int(i) >= nt {
                throw bad("subgraph \(gi) lists tensor \(i) as an input or output; it has \(nt) tensors")
            }
            for (oi, op) in (g.operators ?? []).enumerated() {
                guard Int(op.opcodeIndex ?? 0) < codes.count else {
                    throw bad("subgraph \(gi) operator \(oi) has opcode index \(op.opcodeIndex ?? 0); the model has \(codes.count) operator codes")
                }
                for i in (op.inputs ?? []) + (op.outputs ?? []) where i < -1 || Int(i) >= nt {
                    throw bad("subgraph \(gi) operator \(oi) refers to tensor \(i); the subgraph has \(nt) tensors")
                }
                if case .whileOptions(let w)? = op.builtinOptions {
                    for s in [w.condSubgraphIndex ?? 0, w.bodySubgraphIndex ?? 0] {
                        guard s >= 0, Int(s) < subgraphs.count else { throw bad("subgraph \(gi) operator \(oi) calls subgraph \(s) of \(subgraphs.count)") }
                        edges[gi].append(Int(s))
                    }
                }
            }
        }
        // Subgraphs that call themselves, directly or not, would never finish.
        var state = [Int](repeating: 0, count: subgraphs.count)  // 0 new, 1 on the path, 2 done
        func visit(_ g: Int) throws {
            state[g] = 1
            for n in edges[g] {
                if state[n] == 1 { throw bad("subgraph \(g) calls subgraph \(n), which calls back into it (a cycle)") }
                if state[n] == 0 { try visit(n) }
            }
            state[g] = 2
        }
        for g in 0..<subgraphs.count where state[g] == 0 { try visit(g) }

        var graph = Graph(model: model, tensors: main.tensors ?? [], ops: main.operators ?? [], opCodes: codes,
                          graphInputs: main.inputs ?? [], graphOutputs: main.outputs ?? [])
        for (oi, op) in graph.ops.enumerated() {
            for o in op.outputs ?? [] where o >= 0 { graph.producer[o] = oi }
            for i in op.inputs ?? [] where i >= 0 { graph.consumers[i, default: []].append(oi) }
        }
        return graph
    }

    /// One recognised layer: its passes' operators and where its input and output are.
    struct Found {
        var ops: [Int]                      // the recurrent operator(s), forward first
        var passes: [(op: Int, pass: Pass, bi: Int?)]   // bi: 0/1 = half of a BIDIRECTIONAL_SEQUENCE_LSTM
        var input: Int32
        var output: Int32
        var extra: [Int]                    // REVERSE_V2 / CONCATENATION operators it includes
    }

    static func isRecurrent(_ code: Int32) -> Bool { code == uniLSTM || code == biLSTM || code == uniRNN }

    /// The layer whose output is tensor `t`, if `t` is one.
    static func layer(producing t: Int32, _ g: Graph) -> Found? {
        guard let (p, code) = g.producerCode(t) else { return nil }
        // A crafted file may give an operator no inputs (found by fuzzing): no layer then.
        guard let x = g.input0(p) else { return nil }
        if code == uniLSTM || code == uniRNN {
            if let (rv, rc) = g.producerCode(x), rc == TFLBuiltinOperator.reverseV2 {
                // A forward-running op on reversed input whose output is not reversed back is
                // not a layer lstmtool has; only the full reverse pattern below is.
                _ = rv
                return nil
            }
            return Found(ops: [p], passes: [(p, .forward, nil)], input: x, output: t, extra: [])
        }
        if code == biLSTM {
            guard case .bidirectionalSequenceLSTMOptions(let o)? = g.ops[p].builtinOptions, o.mergeOutputs == true, g.outputs(p).first == t else { return nil }
            return Found(ops: [p], passes: [(p, .forward, 0), (p, .reverse, 1)], input: x, output: t, extra: [])
        }
        if code == TFLBuiltinOperator.reverseV2 {
            // REVERSE_V2(op(REVERSE_V2(x))): a reverse pass over x.
            guard let (q, qc) = g.producerCode(x), qc == uniLSTM || qc == uniRNN,
                  let qx = g.input0(q), let (rv, rc) = g.producerCode(qx), rc == TFLBuiltinOperator.reverseV2,
                  let rx = g.input0(rv) else { return nil }
            return Found(ops: [q], passes: [(q, .reverse, nil)], input: rx, output: t, extra: [rv, p])
        }
        if code == TFLBuiltinOperator.concatenation {
            let ins = g.inputs(p)
            guard ins.count == 2 else { return nil }
            // The two outputs of one BIDIRECTIONAL_SEQUENCE_LSTM without merge_outputs.
            if let (a, ac) = g.producerCode(ins[0]), ac == biLSTM, let (b, _) = g.producerCode(ins[1]), a == b,
               g.outputs(a).count >= 2, g.outputs(a)[0] == ins[0], g.outputs(a)[1] == ins[1], let ax = g.input0(a) {
                return Found(ops: [a], passes: [(a, .forward, 0), (a, .reverse, 1)], input: ax, output: t, extra: [p])
            }
            guard let f = layer(producing: ins[0], g), let r = layer(producing: ins[1], g), f.passes.count == 1, r.passes.count == 1,
                  f.passes[0].pass == .forward, r.passes[0].pass == .reverse, f.input == r.input,
                  g.code(f.ops[0]) == g.code(r.ops[0]) else { return nil }
            return Found(ops: f.ops + r.ops, passes: f.passes + r.passes, input: f.input, output: t, extra: r.extra + [p])
        }
        return nil
    }

    /// The stack (bottom layer first) whose top layer outputs `t`.
    static func stack(top t: Int32, _ g: Graph) -> [Found] {
        var layers: [Found] = []
        var cur = t
        var seen = Set<Int32>()
        while let f = layer(producing: cur, g), !seen.contains(cur) {
            seen.insert(cur)
            layers.insert(f, at: 0)
            cur = f.input
        }
        return layers
    }

    static func load(_ bytes: [UInt8], options: ImportOptions, sourceFile: String, notes: inout ImportNotes) throws -> Model {
        let g = try decode(bytes)
        // Every tensor that is some layer's output, then the tops: those no other layer reads.
        var outputsOfLayers: [Int32: [Found]] = [:]
        for t in Set(g.producer.keys) {
            let s = stack(top: t, g)
            if !s.isEmpty { outputsOfLayers[t] = s }
        }
        // Tops: layer outputs that no other layer reads and that are not a part inside a
        // bigger layer (the raw output of a reversed pass, one pass of a bidirectional layer).
        let found = outputsOfLayers.values.flatMap { $0 }
        var inner = Set(found.map(\.input))
        for f in found {
            for p in f.passes { for o in g.outputs(p.op) where o != f.output { inner.insert(o) } }
            for e in f.extra { for o in g.outputs(e) where o != f.output { inner.insert(o) } }
        }
        var tops = outputsOfLayers.keys.filter { !inner.contains($0) }
        // The GRU that lstmtool exports is a WHILE loop; its state copy is a one-step RNN
        // reading a RESHAPE of the loop's result: not a layer.
        tops = tops.filter { t in
            guard let s = outputsOfLayers[t], s.count == 1, s[0].ops.count == 1, g.code(s[0].ops[0]) == uniRNN,
                  let (rs, rc) = g.producerCode(s[0].input), rc == TFLBuiltinOperator.reshape,
                  let rsx = g.input0(rs), let (_, wc) = g.producerCode(rsx), wc == TFLBuiltinOperator.while else { return true }
            return false
        }
        tops.sort()
        func describe(_ t: Int32) -> String { "'\(g.name(t))'" }
        var chosen: Int32
        if let node = options.node {
            if node.hasPrefix("#"), let k = Int(node.dropFirst()), k >= 0, k < g.ops.count, let out = g.outputs(k).first,
               let t = tops.first(where: { t in outputsOfLayers[t]!.contains { $0.ops.contains(k) || $0.output == out } }) {
                chosen = t
            } else if let t = tops.first(where: { t in g.name(t) == node || outputsOfLayers[t]!.contains { f in f.ops.contains { g.outputs($0).contains { g.name($0) == node } } } }) {
                chosen = t
            } else {
                throw LSTMError(.invalidInput, "--node \(node): no recurrent stack has an operator #k or output tensor of that name (stacks end in \(tops.map(describe).joined(separator: ", ")))")
            }
        } else {
            guard !tops.isEmpty else {
                let whiles = g.ops.indices.filter { g.code($0) == TFLBuiltinOperator.while }.count
                let lstm1 = g.ops.indices.filter { g.code($0) == TFLBuiltinOperator.lstm }.count
                var why = "no UNIDIRECTIONAL_SEQUENCE_LSTM, BIDIRECTIONAL_SEQUENCE_LSTM or UNIDIRECTIONAL_SEQUENCE_RNN operator in the main subgraph"
                if whiles > 0 { why += " (a WHILE loop, such as lstmtool's own GRU export, is not read back)" }
                if lstm1 > 0 { why += " (the single-step LSTM operator is not read)" }
                throw refuse(why)
            }
            guard tops.count == 1 else {
                throw LSTMError(.invalidInput, "the graph holds \(tops.count) recurrent stacks, ending in \(tops.map(describe).joined(separator: ", ")); choose one with --node")
            }
            chosen = tops[0]
        }
        let chosenStack = outputsOfLayers[chosen]!
        var layers: [Layer] = []
        var used = Set<Int>()
        for (k, f) in chosenStack.enumerated() {
            layers.append(try makeLayer(f, k, g, notes: &notes))
            used.formUnion(f.ops)
            used.formUnion(f.extra)
        }
        // The DEQUANTIZEs that feed only imported layers are part of them (float16 weights).
        for o in g.ops.indices where g.code(o) == TFLBuiltinOperator.dequantize
            && g.outputs(o).allSatisfy({ (g.consumers[$0] ?? []).allSatisfy(used.contains) }) { used.insert(o) }
        let left = g.ops.indices.filter { !used.contains($0) }
        if !left.isEmpty {
            var counts: [String: Int] = [:]
            for o in left { counts[opName(g.code(o)), default: 0] += 1 }
            let list = counts.keys.sorted().map { "\(counts[$0]!) \($0)" }.joined(separator: ", ")
            notes.messages.append("imported \(layers.count) recurrent layer(s); left out \(left.count) other operator(s): \(list)")
        }
        if chosenStack[0].input != g.graphInputs.first ?? -1 {
            notes.messages.append("layer 0 reads \(describe(chosenStack[0].input)), which is not the graph's first input: operators before it are not imported")
        }
        var meta = Metadata()
        meta.description = g.model.description
        meta.sourceFramework = "tflite"
        meta.sourceFile = sourceFile
        meta.created = ConvertSupport.created(options)
        meta.properties = [ConvertSupport.convertedBy]
        let model = Model(metadata: meta, layers: layers)
        try model.validate()
        return model
    }

    static func opName(_ code: Int32) -> String { TFLBuiltinOperator.names[code] ?? "builtin op \(code)" }

    /// The float data of constant tensor `t`: its own buffer (float32 or float16), or a
    /// DEQUANTIZE of a float16 constant. nil for an absent optional input (-1).
    static func constant(_ t: Int32, _ g: Graph, _ what: String, shape expected: [Int]? = nil) throws -> ModelTensor? {
        guard t >= 0 else { return nil }
        var src = t
        if let (p, c) = g.producerCode(t) {
            guard c == TFLBuiltinOperator.dequantize, let q = g.inputs(p).first, q >= 0 else {
                throw refuse("\(what) ('\(g.name(t))') is computed by a \(opName(c)) operator; lstmtool reads constant weights only")
            }
            src = q
        }
        let tensor = g.tensors[Int(src)]
        let shape = (tensor.shape ?? []).map(Int.init)
        if let expected, shape != expected {
            throw bad("\(what) ('\(g.name(src))') has shape \(shape), expected \(expected)")
        }
        let dtype: DType
        switch tensor.type ?? 0 {
        case TFLTensorType.float32: dtype = .float32
        case TFLTensorType.float16: dtype = .float16
        case let ty: throw refuse("\(what) ('\(g.name(src))') is \(TFLTensorType.names[ty] ?? "type \(ty)"); lstmtool reads float32 and float16 weights (not quantized ones)")
        }
        let buf = g.model.buffers?[Int(tensor.buffer ?? 0)]
        if let off = buf?.offset, off > 1 {
            throw refuse("\(what) ('\(g.name(src))') is stored outside the FlatBuffer (a model over 2 GB)")
        }
        let data = buf?.data ?? []
        let need = try checkedProduct(shape + [dtype.size], what: "\(what) shape")
        guard data.count == need else {
            throw bad("\(what) ('\(g.name(src))') of shape \(shape) needs \(need) bytes; its buffer has \(data.count)")
        }
        return try ModelTensor(dtype: dtype, shape: shape, bytes: data)
    }

    static func activation(_ code: Int8?, _ what: String) throws -> Activation {
        switch code ?? 0 {
        case TFLActivationFunctionType.tanh: return .tanh
        case TFLActivationFunctionType.relu: return .relu
        case TFLActivationFunctionType.none: return Activation(.affine, alpha: 1, beta: 0)
        case let c: throw refuse("\(what) uses activation \(TFLActivationFunctionType.names[c] ?? "\(c)"), which lstmtool's cells do not have")
        }
    }

    /// Stacks gate blocks, converted to one dtype (float32 unless all are float16).
    static func stackBlocks(_ parts: [ModelTensor]) throws -> ModelTensor {
        let dtype: DType = parts.allSatisfy { $0.dtype == .float16 } ? .float16 : .float32
        return try GateConventions.stack(parts.map { $0.converted(to: dtype) })
    }

    static func makeLayer(_ f: Found, _ k: Int, _ g: Graph, notes: inout ImportNotes) throws -> Layer {
        let code = g.code(f.ops[0])
        let xT = g.tensors[Int(f.input)].shape ?? []
        guard xT.count == 3 else { throw refuse("layer \(k)'s input '\(g.name(f.input))' has shape \(xT); a sequence is [T, B, I] or [B, T, I]") }
        let I = Int(xT[2])
        var passes: [[TensorRole: ModelTensor]] = []
        var specs: [(cell: CellFamily, H: Int, P: Int?, peep: Set<PeepholeGate>, coupled: Bool, act: [Activation], cellClip: Double?, projClip: Double?)] = []
        var timeMajor: [Bool] = []
        for p in f.passes {
            let ins = g.inputs(p.op)
            let here = "layer \(k) (\(p.pass.rawValue), operator #\(p.op))"
            if code == uniRNN {
                guard ins.count >= 5 else { throw bad("\(here): UNIDIRECTIONAL_SEQUENCE_RNN has \(ins.count) inputs, expected 5") }
                guard let w = try constant(ins[1], g, "\(here) input weights") else { throw bad("\(here): no input weights") }
                guard w.shape.count == 2, w.shape[1] == I else { throw bad("\(here): input weights of shape \(w.shape) for input width \(I)") }
                let H = w.shape[0]
                guard let r = try constant(ins[2], g, "\(here) recurrent weights", shape: [H, H]) else { throw bad("\(here): no recurrent weights") }
                let bias = try constant(ins[3], g, "\(here) bias", shape: [H]) ?? ConvertSupport.zeros(.float32, [H])
                guard case .sequenceRNNOptions(let o)? = g.ops[p.op].builtinOptions else { throw bad("\(here): no SequenceRNNOptions") }
                timeMajor.append(o.timeMajor ?? false)
                passes.append([.inputWeights: w, .recurrentWeights: r, .inputBias: bias.converted(to: w.dtype == .float16 ? .float16 : .float32),
                               .recurrentBias: try ConvertSupport.zeros(w.dtype == .float16 ? .float16 : .float32, [H])])
                specs.append((.rnn, H, nil, [], false, [try activation(o.fusedActivationFunction, here)], nil, nil))
                continue
            }
            // LSTM: the 24 (or legacy 20) inputs of one direction.
            var idx: [Int]  // input_to_{i,f,c,o}, recurrent_to_{i,f,c,o}, cell_to_{i,f,o}, bias_{i,f,c,o}, proj W, proj b, h, c
            let fusedAct: Int8?, cellClip: Float?, projClip: Float?
            if code == uniLSTM {
                guard ins.count == 24 || ins.count == 20 else { throw bad("\(here): UNIDIRECTIONAL_SEQUENCE_LSTM has \(ins.count) inputs, expected 24 (or 20)") }
                if ins.count == 24, ins[20...23].contains(where: { $0 >= 0 }) {
                    throw refuse("\(here) is a layer-norm LSTM (layer normalization coefficients); lstmtool's LSTM has no layer normalization")
                }
                idx = Array(1...19)
                guard case .unidirectionalSequenceLSTMOptions(let o)? = g.ops[p.op].builtinOptions else { throw bad("\(here): no UnidirectionalSequenceLSTMOptions") }
                if o.diagonalRecurrentTensors == true { throw refuse("\(here) has diagonal recurrent weights; lstmtool's LSTM has full matrices") }
                fusedAct = o.fusedActivationFunction
                cellClip = o.cellClip
                projClip = o.projClip
                timeMajor.append(o.timeMajor ?? false)
            } else {
                guard ins.count == 48 else { throw bad("\(here): BIDIRECTIONAL_SEQUENCE_LSTM has \(ins.count) inputs, expected 48") }
                if ins[39...47].contains(where: { $0 >= 0 }) { throw refuse("\(here) has an auxiliary input; lstmtool's layers have one input") }
                let fw = Array(1...17) + [35, 36], bw = Array(18...34) + [37, 38]
                idx = p.bi == 0 ? fw : bw
                guard case .bidirectionalSequenceLSTMOptions(let o)? = g.ops[p.op].builtinOptions else { throw bad("\(here): no BidirectionalSequenceLSTMOptions") }
                fusedAct = o.fusedActivationFunction
                cellClip = o.cellClip
                projClip = o.projClip
                timeMajor.append(o.timeMajorValue)
            }
            let t = { (j: Int) -> Int32 in ins[idx[j]] }
            guard let wf = try constant(t(1), g, "\(here) input-to-forget weights"), wf.shape.count == 2, wf.shape[1] == I else {
                throw bad("\(here): input-to-forget weights missing or not [H, \(I)]")
            }
            let H = wf.shape[0]
            let coupled = t(0) < 0
            var P: Int? = nil
            var proj: ModelTensor? = nil
            if let pw = try constant(t(15), g, "\(here) projection weights") {
                guard pw.shape.count == 2, pw.shape[1] == H else { throw bad("\(here): projection weights of shape \(pw.shape) for \(H) cells") }
                P = pw.shape[0]
                proj = pw
                if let pb = try constant(t(16), g, "\(here) projection bias", shape: [pw.shape[0]]), !ConvertSupport.isAllPositiveZero(pb) {
                    throw refuse("\(here) has a projection bias; lstmtool's projection has none")
                }
            }
            let width = P ?? H
            let gates: [Gate] = coupled ? [.forget, .candidate, .output] : [.input, .forget, .candidate, .output]
            let slot: [Gate: Int] = [.input: 0, .forget: 1, .candidate: 2, .output: 3]
            var wx: [ModelTensor] = [], wh: [ModelTensor] = [], bx: [ModelTensor] = []
            for gate in gates {
                let j = slot[gate]!
                guard let a = try constant(t(j), g, "\(here) input weights (\(gate.rawValue))", shape: [H, I]),
                      let r = try constant(t(4 + j), g, "\(here) recurrent weights (\(gate.rawValue))", shape: [H, width]) else {
                    throw bad("\(here): the \(gate.rawValue) gate lacks its input or recurrent weights")
                }
                wx.append(a)
                wh.append(r)
                bx.append(try constant(t(11 + j), g, "\(here) bias (\(gate.rawValue))", shape: [H]) ?? ConvertSupport.zeros(.float32, [H]))
            }
            var tensors: [TensorRole: ModelTensor] = [.inputWeights: try stackBlocks(wx), .recurrentWeights: try stackBlocks(wh)]
            let bias = try GateConventions.stack(bx.map { $0.converted(to: .float32) })
            tensors[.inputBias] = bias
            tensors[.recurrentBias] = try ConvertSupport.zeros(.float32, bias.shape)
            var peep = Set<PeepholeGate>()
            for (j, pg) in [PeepholeGate.input, .forget, .output].enumerated() {
                // All-zero peepholes (TFLite wants all or none) add nothing: they are dropped.
                if let v = try constant(t(8 + j), g, "\(here) peephole (\(pg.rawValue))", shape: [H]), !ConvertSupport.isAllPositiveZero(v) {
                    if pg == .input && coupled { throw bad("\(here): an input peephole without input gate weights") }
                    peep.insert(pg)
                    tensors[pg.tensorRole] = v
                }
            }
            if let proj { tensors[.projection] = proj }
            passes.append(tensors)
            let cell = try activation(fusedAct, here)
            let clipC = (cellClip ?? 0) > 0 ? Double(cellClip!) : nil
            var clipP = (projClip ?? 0) > 0 ? Double(projClip!) : nil
            if clipP != nil && P == nil {
                notes.messages.append("\(here): proj_clip without projection weights is ignored, as TFLite ignores it")
                clipP = nil
            }
            specs.append((.lstm, H, P, peep, coupled, [.sigmoid, cell, cell], clipC, clipP))
        }
        let s0 = specs[0]
        for s in specs.dropFirst() where s.H != s0.H || s.P != s0.P || s.peep != s0.peep || s.coupled != s0.coupled || s.cellClip != s0.cellClip || s.projClip != s0.projClip {
            throw refuse("layer \(k)'s two directions differ in size or options; lstmtool's bidirectional layer shares them")
        }
        if k == 0, timeMajor.contains(false) {
            notes.messages.append("the model is batch-first (time_major = false): run it with --batch-first")
        }
        let direction: Direction = f.passes.count == 2 ? .bidirectional : f.passes[0].pass == .forward ? .forward : .reverse
        let spec = LayerSpec(cell: s0.cell, inputSize: I, hiddenSize: s0.H, direction: direction, hasBias: true,
                             activations: specs.map(\.act),
                             lstm: LSTMOptions(peepholes: s0.peep, coupled: s0.coupled, projectionSize: s0.P, cellClip: s0.cellClip, projectionClip: s0.projClip),
                             resetAfter: true)
        // Every pass has the same tensor roles; bias dtypes follow the weights' for .lstm files.
        var fixed = passes
        for d in fixed.indices {
            for role in [TensorRole.inputBias, .recurrentBias] { fixed[d][role] = fixed[d][role]?.converted(to: .float32) }
        }
        let layer = Layer(spec: spec, passes: fixed)
        try layer.validate(index: k)
        return layer
    }
}
