import LSTMCore

/// One RNN/LSTM/GRU node of an ONNX graph as a layer, step by step: attributes, weights and
/// their shapes, activations, cell options, learned initial states, then the gate order.
extension GraphImporter {
    /// The weights of one node, checked against each other.
    struct NodeWeights {
        var W: ModelTensor
        var R: ModelTensor
        var B: ModelTensor?
        var P: ModelTensor?
        /// Gate blocks (4 LSTM, 3 GRU, 1 RNN), hidden size, input size.
        var G: Int, H: Int, I: Int
    }

    /// Layer `k` of the imported stack, from node `i`.
    mutating func layer(nodeIndex i: Int, index k: Int, notes: inout ImportNotes) throws -> Layer {
        let node = graph.nodes[i]
        let cell: CellFamily = node.opType == "LSTM" ? .lstm : node.opType == "GRU" ? .gru : .rnn
        try checkKnownAttributes(i, cell)
        let directionName = try stringAttr(i, "direction") ?? "forward"
        guard let direction = Direction(rawValue: directionName) else {
            throw fail(i, "attribute direction is \"\(directionName)\", expected forward, reverse or bidirectional")
        }
        let D = direction.count
        let layout = try intAttr(i, "layout") ?? 0
        guard layout == 0 || layout == 1 else { throw fail(i, "attribute layout is \(layout), expected 0 or 1") }
        if layout == 1 { notes.messages.append("node '\(describe(i))' has layout=1 (batch-major X and Y): run the model with --batch-first") }

        let w = try nodeWeights(i, cell: cell, directions: D)
        let acts = try activations(i, cell: cell, directions: D, notes: &notes)
        let (clip, coupled, resetAfter) = try cellOptions(i, cell: cell, activations: acts, notes: &notes)
        let (h0, c0) = try learnedInitialStates(i, cell: cell, directions: D, hidden: w.H, layout: Int(layout), dtype: w.W.dtype)
        if node.inputs.count > 4, !node.inputs[4].isEmpty, constant(node.inputs[4]) != nil {
            // Lengths baked into the graph change what every run computes; dropping them would
            // import a different function, and a model has no place to store them.
            throw fail(i, "sequence_lens is a constant in the graph; lstmtool cannot store lengths in a model and takes them at run time (--sequence-lengths): make sequence_lens a graph input or remove it")
        }

        // B all +0 is the same function as no B (and is how exporters write bias=False).
        let hasBias = w.B.map { !ConvertSupport.isAllPositiveZero($0) } ?? false
        var peepholes: Set<PeepholeGate> = []
        if w.P != nil { peepholes = coupled ? [.forget, .output] : [.input, .forget, .output] }
        let spec = LayerSpec(cell: cell, inputSize: w.I, hiddenSize: w.H, direction: direction, hasBias: hasBias, activations: acts,
                             lstm: LSTMOptions(peepholes: peepholes, coupled: coupled), activationClip: clip,
                             resetAfter: resetAfter, hasInitialState: h0 != nil)
        var passes = try canonicalPasses(w, cell: cell, coupled: coupled, hasBias: hasBias, directions: D)
        for d in 0..<D {
            if let h0 { passes[d][.initialHidden] = h0[d] }
            if let c0, cell == .lstm { passes[d][.initialCell] = c0[d] }
        }
        if coupled {
            notes.messages.append("node '\(describe(i))': input_forget=1 — stored as a coupled LSTM keeping the forget gate (the ONNX input gate negated); ONNX's forget-gate block\(w.P != nil ? " and P_f" : ""), which onnxruntime ignores, are dropped")
        }
        nodeInfo[i] = (Int(layout), D, w.H)
        let layer = Layer(spec: spec, passes: passes)
        do {
            try layer.validate(index: k)
        } catch let e as LSTMError {
            throw fail(i, e.message, e.kind)
        }
        return layer
    }

    /// Refuses attributes the operator does not define (a typo would otherwise change nothing).
    func checkKnownAttributes(_ i: Int, _ cell: CellFamily) throws {
        var known: Set<String> = ["activations", "activation_alpha", "activation_beta", "clip", "direction", "hidden_size", "layout", "output_sequence"]
        if cell == .lstm { known.insert("input_forget") }
        if cell == .gru { known.insert("linear_before_reset") }
        for a in graph.nodes[i].attributes where !known.contains(a.name) {
            throw fail(i, "unknown attribute \(a.name)")
        }
    }

    /// W, R, B and P as constants, with shapes that agree with each other and `hidden_size`.
    func nodeWeights(_ i: Int, cell: CellFamily, directions D: Int) throws -> NodeWeights {
        guard let W = try constantInput(i, 1, "W") else { throw fail(i, "input W is missing") }
        guard let R = try constantInput(i, 2, "R") else { throw fail(i, "input R is missing") }
        let G = cell == .lstm ? 4 : cell == .gru ? 3 : 1
        guard W.shape.count == 3, W.shape[0] == D, W.shape[1] % G == 0, W.shape[1] > 0, W.shape[2] > 0 else {
            throw fail(i, "input W has shape \(W.shape), expected [\(D), \(G)·hidden_size, input_size]", .shape)
        }
        let H = W.shape[1] / G
        if let h = try intAttr(i, "hidden_size"), h != Int64(H) {
            throw fail(i, "attribute hidden_size is \(h) but W has \(W.shape[1]) rows (\(G) gates × \(H))", .shape)
        }
        guard R.shape == [D, G * H, H] else { throw fail(i, "input R has shape \(R.shape), expected [\(D), \(G * H), \(H)]", .shape) }
        let B = try constantInput(i, 3, "B")
        if let B, B.shape != [D, 2 * G * H] { throw fail(i, "input B has shape \(B.shape), expected [\(D), \(2 * G * H)]", .shape) }
        let P = cell == .lstm ? try constantInput(i, 7, "P") : nil
        if let P, P.shape != [D, 3 * H] { throw fail(i, "input P has shape \(P.shape), expected [\(D), \(3 * H)]", .shape) }
        for (label, t) in [("R", R), ("B", B), ("P", P)] as [(String, ModelTensor?)] {
            if let t, t.dtype != W.dtype { throw fail(i, "input \(label) is \(t.dtype.rawValue) but W is \(W.dtype.rawValue)") }
        }
        return NodeWeights(W: W, R: R, B: B, P: P, G: G, H: H, I: W.shape[2])
    }

    /// The activations per direction, with alpha/beta read the way onnxruntime reads them:
    /// one value per listed activation that takes the parameter, in list order.
    func activations(_ i: Int, cell: CellFamily, directions D: Int, notes: inout ImportNotes) throws -> [[Activation]] {
        let perDir = LayerSpec.activationCount(cell)
        let names = try stringsAttr(i, "activations") ?? []
        guard !names.isEmpty else {
            if attribute(i, "activation_alpha") != nil || attribute(i, "activation_beta") != nil {
                let alphas = try floatsAttr(i, "activation_alpha") ?? []
                let betas = try floatsAttr(i, "activation_beta") ?? []
                if !alphas.isEmpty || !betas.isEmpty {
                    throw fail(i, "attributes activation_alpha/activation_beta are given without activations")
                }
            }
            return Array(repeating: LayerSpec.defaultActivations(cell), count: D)
        }
        if cell == .rnn && D == 1 && names.count == 2 {
            // The spec's RNN default is ["Tanh", "Tanh"]; onnxruntime takes the first.
            notes.messages.append("node '\(describe(i))': a forward RNN lists 2 activations; the first is used, as onnxruntime does")
        } else if names.count != perDir * D {
            throw fail(i, "attribute activations has \(names.count) entries, a \(try stringAttr(i, "direction") ?? "forward") \(graph.nodes[i].opType) takes \(perDir * D)")
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
        return (0..<D).map { Array(list[($0 * perDir)..<(($0 + 1) * perDir)]) }
    }

    /// `clip`, `input_forget` (coupled gates) and `linear_before_reset` (GRU form).
    func cellOptions(_ i: Int, cell: CellFamily, activations acts: [[Activation]], notes: inout ImportNotes) throws
        -> (clip: Double?, coupled: Bool, resetAfter: Bool) {
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
        return (clip, coupled, resetAfter)
    }

    /// Constant initial_h / initial_c are learned states (one per direction; every batch entry
    /// must hold the same); graph inputs are run inputs. Both or neither are stored.
    func learnedInitialStates(_ i: Int, cell: CellFamily, directions D: Int, hidden H: Int, layout: Int, dtype: DType) throws
        -> (h0: [ModelTensor]?, c0: [ModelTensor]?) {
        let node = graph.nodes[i]
        let stateH = try stateSource(node.inputs.count > 5 ? node.inputs[5] : "")
        let stateC = cell == .lstm ? try stateSource(node.inputs.count > 6 ? node.inputs[6] : "") : .absent
        func learned(_ s: StateSource, _ label: String) throws -> [ModelTensor]? {
            guard case .constant(let t, let origin) = s else { return nil }
            if ConvertSupport.isAllPositiveZero(t) { return nil }  // zeros: the same as no initial state
            let expected = layout == 0 ? "[\(D), batch, \(H)]" : "[batch, \(D), \(H)]"
            guard t.shape.count == 3, t.shape[2] == H else {
                throw fail(i, "constant \(label) '\(origin)' has shape \(t.shape), expected \(expected)", .shape)
            }
            let (dAxis, bAxis) = layout == 0 ? (0, 1) : (1, 0)
            guard t.shape[dAxis] == D, t.shape[bAxis] >= 1 else {
                throw fail(i, "constant \(label) '\(origin)' has shape \(t.shape), expected \(expected)", .shape)
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
            if h0 == nil { h0 = try (0..<D).map { _ in try ConvertSupport.zeros(dtype, [H]) } }
            if cell == .lstm && c0 == nil { c0 = try (0..<D).map { _ in try ConvertSupport.zeros(dtype, [H]) } }
        }
        return (h0, c0)
    }

    /// Each direction's weights in lstmtool's gate order (docs/FORMAT.md). For a coupled LSTM
    /// the ONNX input gate, negated, becomes our forget gate and ONNX's own forget block is dropped.
    func canonicalPasses(_ w: NodeWeights, cell: CellFamily, coupled: Bool, hasBias: Bool, directions D: Int) throws -> [[TensorRole: ModelTensor]] {
        let onnxOrder = GateConventions.order(.onnx, cell)
        let ours = GateConventions.order(.lstmtool, cell, coupled: coupled)
        func canonical(_ t: ModelTensor) throws -> ModelTensor {
            guard coupled else { return try GateConventions.reorder(t, from: onnxOrder, to: ours) }
            let inputBlock = GateConventions.negated(try GateConventions.block(t, .input, of: onnxOrder))
            let rest = try GateConventions.reorder(t, from: onnxOrder, to: [.candidate, .output])
            return try GateConventions.stack([inputBlock, rest])
        }
        let G = w.G, H = w.H
        let Wd = try GateConventions.split(w.W, into: D)
        let Rd = try GateConventions.split(w.R, into: D)
        let Bd = try w.B.map { try GateConventions.split($0, into: D) }
        let Pd = try w.P.map { try GateConventions.split($0, into: D) }
        var passes: [[TensorRole: ModelTensor]] = []
        for d in 0..<D {
            var pass: [TensorRole: ModelTensor] = [:]
            pass[.inputWeights] = try canonical(Wd[d].reshaped([G * H, w.I]))
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
            passes.append(pass)
        }
        return passes
    }
}
