import LSTMCore

/// What differs between two models (`lstmtool diff`, docs/CLI.md): metadata, structure (cells,
/// sizes, options, activations) and, per tensor and per gate block in lstmtool's canonical
/// layout, how far the values are apart.
///
/// Both models are compared after import, so the gate blocks of an ONNX, PyTorch or Keras file
/// are already in lstmtool's order (LSTM i f g o, coupled f g o, GRU z r n): a block that
/// differs names the gate that differs, whatever the source order was.
package struct ModelDiff: Sendable {
    /// One field that differs: where (`metadata`, `layer 0`, `layer 1 reverse`), which field,
    /// and its value in A and in B (`nil`: absent).
    package struct FieldDifference: Sendable, Equatable {
        package var scope: String
        package var field: String
        package var a: String?
        package var b: String?
    }

    /// The comparison of one gate block (or of a whole tensor that has no gate blocks).
    package struct BlockDifference: Sendable {
        /// The gate's letter (`i`, `f`, `g`, `o`, `z`, `r`, `n`; `h` for an RNN's one block),
        /// or nil for a tensor without gate blocks.
        package var gate: String?
        /// Rows `[start, end)` of the tensor's first axis that the block covers.
        package var rows: Range<Int>
        package var maxAbs: Double
        package var meanAbs: Double
        /// Index (one per axis of the whole tensor) of the largest difference.
        package var worstIndex: [Int]
        package var worstA: Double
        package var worstB: Double
        /// Elements whose difference is above the tolerance (NaN/Inf mismatches included).
        package var aboveTolerance: Int
        /// Every element has the same bits in A and B (after widening to the same dtype).
        package var bitIdentical: Bool
    }

    /// The comparison of one tensor by its canonical name.
    package struct TensorDifference: Sendable {
        package enum Status: String, Sendable {
            case identical, withinTolerance = "within_tolerance", different
            /// A bias that differs while `b_x + b_h` does not: the same function, the bias split
            /// differently (Keras and ONNX-from-Keras keep one bias).
            case sameSum = "same_sum"
            case onlyInA = "only_in_a", onlyInB = "only_in_b", shapeDiffers = "shape_differs"
        }
        package var name: String
        package var status: Status
        package var shapeA: [Int]?
        package var shapeB: [Int]?
        package var dtypeA: DType?
        package var dtypeB: DType?
        /// The whole tensor (values compared as doubles); nil unless both exist with one shape.
        package var whole: BlockDifference?
        /// Per gate block, for `W_x`, `W_h`, `b_x`, `b_h` (empty otherwise).
        package var blocks: [BlockDifference]
        /// Gate blocks of A found unchanged at another gate's place in B (`"i↔f"`): a
        /// permutation, the classic conversion bug.
        package var swaps: [String]
    }

    package var atol: Double
    package var metadata: [FieldDifference]
    package var structure: [FieldDifference]
    package var tensors: [TensorDifference]

    /// True when the models compute the same function within `atol`: no structural
    /// difference and every tensor identical or within tolerance. Metadata is not counted.
    package var equal: Bool {
        structure.isEmpty && tensors.allSatisfy { [.identical, .withinTolerance, .sameSum].contains($0.status) }
    }

    /// Compares `a` with `b`; an element differs when `|a − b| > atol` (or exactly one side
    /// is NaN, or the infinities differ).
    package init(_ a: Model, _ b: Model, atol: Double = 0) {
        self.atol = atol
        metadata = ModelDiff.metadataDifferences(a.metadata, b.metadata)
        structure = []
        tensors = []
        if a.layers.count != b.layers.count {
            structure.append(FieldDifference(scope: "model", field: "layers", a: String(a.layers.count), b: String(b.layers.count)))
        }
        for k in 0..<min(a.layers.count, b.layers.count) {
            structure += ModelDiff.specDifferences(a.layers[k].spec, b.layers[k].spec, scope: "layer \(k)")
        }
        let namedA = ModelDiff.tensorTable(a), namedB = ModelDiff.tensorTable(b)
        var names = namedA.map(\.name)
        for n in namedB.map(\.name) where !names.contains(n) { names.append(n) }
        let dictA = Dictionary(namedA.map { ($0.name, $0) }, uniquingKeysWith: { x, _ in x })
        let dictB = Dictionary(namedB.map { ($0.name, $0) }, uniquingKeysWith: { x, _ in x })
        for name in names {
            tensors.append(ModelDiff.compare(name: name, dictA[name], dictB[name], atol: atol))
        }
        markSameBiasSums(a, b)
    }

    /// Where `b_x` and `b_h` differ but their sum does not (per gate block that the cell
    /// adds them in; a reset-after GRU's n block must match on its own), marks both `sameSum`.
    /// The sums are compared in the coarser of the two dtypes, as an exporter that folds the
    /// biases rounds them.
    mutating func markSameBiasSums(_ a: Model, _ b: Model) {
        for k in 0..<min(a.layers.count, b.layers.count) {
            let sa = a.layers[k].spec, sb = b.layers[k].spec
            guard sa.cell == sb.cell, sa.gateLayout == sb.gateLayout, sa.hiddenSize == sb.hiddenSize, sa.direction == sb.direction else { continue }
            for (d, pass) in sa.direction.passes.enumerated() {
                guard let ax = a.layers[k].passes[d][.inputBias], let ah = a.layers[k].passes[d][.recurrentBias],
                      let bx = b.layers[k].passes[d][.inputBias], let bh = b.layers[k].passes[d][.recurrentBias],
                      ax.shape == bx.shape, ah.shape == bh.shape, ax.shape == ah.shape else { continue }
                let nx = tensorName(layer: k, pass: pass, role: .inputBias), nh = tensorName(layer: k, pass: pass, role: .recurrentBias)
                guard let ix = tensors.firstIndex(where: { $0.name == nx }), let ih = tensors.firstIndex(where: { $0.name == nh }),
                      tensors[ix].status == .different || tensors[ih].status == .different else { continue }
                let coarse = [ax.dtype, ah.dtype, bx.dtype, bh.dtype].contains { $0 != .float64 }
                let vax = ax.doubles(), vah = ah.doubles(), vbx = bx.doubles(), vbh = bh.doubles()
                let h = sa.hiddenSize
                let separate: Range<Int>? = sa.cell == .gru && sa.resetAfter ? (2 * h)..<(3 * h) : nil
                var same = true
                for i in vax.indices {
                    if let r = separate, r.contains(i) {
                        if !(ModelDiff.sameWithin(vax[i], vbx[i], atol) && ModelDiff.sameWithin(vah[i], vbh[i], atol)) { same = false; break }
                        continue
                    }
                    var x = vax[i] + vah[i], y = vbx[i] + vbh[i]
                    if coarse { x = Double(Float(x)); y = Double(Float(y)) }
                    if !ModelDiff.sameWithin(x, y, atol) { same = false; break }
                }
                if same {
                    for i in [ix, ih] where tensors[i].status == .different { tensors[i].status = .sameSum }
                }
            }
        }
    }

    /// A tensor with what is needed to split it into gate blocks.
    struct Entry {
        var name: String
        var tensor: ModelTensor
        /// Gate letters of its row blocks (empty: no gate blocks) and the block height.
        var gates: [String]
        var blockRows: Int
    }

    static func tensorTable(_ m: Model) -> [Entry] {
        var out: [Entry] = []
        for (k, layer) in m.layers.enumerated() {
            let s = layer.spec
            let letters = gateLetters(s)
            for (d, pass) in layer.passes.enumerated() {
                for role in TensorRole.allCases {
                    guard let t = pass[role] else { continue }
                    let stacked = [.inputWeights, .recurrentWeights, .inputBias, .recurrentBias].contains(role)
                    let name = tensorName(layer: k, pass: s.direction.passes[min(d, s.direction.passes.count - 1)], role: role)
                    out.append(Entry(name: name, tensor: t, gates: stacked ? letters : [], blockRows: s.hiddenSize))
                }
            }
        }
        return out
    }

    /// The letters of a layer's gate blocks in lstmtool's order (docs/FORMAT.md §4.3).
    package static func gateLetters(_ s: LayerSpec) -> [String] {
        switch s.gateLayout {
        case .rnn: return ["h"]
        case .lstmIFGO: return ["i", "f", "g", "o"]
        case .lstmFGO: return ["f", "g", "o"]
        case .gruZRN: return ["z", "r", "n"]
        }
    }

    static func compare(name: String, _ a: Entry?, _ b: Entry?, atol: Double) -> TensorDifference {
        var d = TensorDifference(name: name, status: .identical, shapeA: a?.tensor.shape, shapeB: b?.tensor.shape,
                                 dtypeA: a?.tensor.dtype, dtypeB: b?.tensor.dtype, whole: nil, blocks: [], swaps: [])
        guard let a else { d.status = .onlyInB; return d }
        guard let b else { d.status = .onlyInA; return d }
        guard a.tensor.shape == b.tensor.shape else { d.status = .shapeDiffers; return d }
        let va = a.tensor.doubles(), vb = b.tensor.doubles()
        let shape = a.tensor.shape
        let rowLength = shape.count > 1 ? shape.dropFirst().reduce(1, *) : 1
        let rows = shape.first ?? 1
        let whole = block(va, vb, rows: 0..<rows, rowLength: rowLength, shape: shape, gate: nil, atol: atol)
        d.whole = whole
        let gates = a.gates == b.gates ? a.gates : []
        if !gates.isEmpty, a.blockRows * gates.count == rows {
            let h = a.blockRows
            d.blocks = gates.enumerated().map { j, g in
                block(va, vb, rows: (j * h)..<((j + 1) * h), rowLength: rowLength, shape: shape, gate: g, atol: atol)
            }
            // A block of A that sits unchanged at another gate's place in B.
            let differing = d.blocks.indices.filter { d.blocks[$0].aboveTolerance > 0 }
            if differing.count >= 2 {
                for j in differing {
                    for k in differing where k != j {
                        let ra = (j * h * rowLength)..<((j + 1) * h * rowLength)
                        let rb = (k * h * rowLength)..<((k + 1) * h * rowLength)
                        if zip(va[ra], vb[rb]).allSatisfy({ x, y in sameWithin(x, y, atol) }) {
                            d.swaps.append("\(gates[j])→\(gates[k])")
                        }
                    }
                }
            }
        }
        if whole.bitIdentical && a.tensor.dtype == b.tensor.dtype {
            d.status = .identical
        } else if whole.aboveTolerance == 0 {
            d.status = .withinTolerance
        } else {
            d.status = .different
        }
        return d
    }

    static func sameWithin(_ x: Double, _ y: Double, _ atol: Double) -> Bool {
        if x.isNaN || y.isNaN { return x.isNaN && y.isNaN }
        if !x.isFinite || !y.isFinite { return x == y }
        return Swift.abs(x - y) <= atol
    }

    static func block(_ va: [Double], _ vb: [Double], rows: Range<Int>, rowLength: Int, shape: [Int], gate: String?,
                      atol: Double) -> BlockDifference {
        var maxAbs = 0.0, sum = 0.0, above = 0, worst = rows.lowerBound * rowLength, identical = true
        var worstScore = -1.0
        let range = (rows.lowerBound * rowLength)..<(rows.upperBound * rowLength)
        for i in range {
            let x = va[i], y = vb[i]
            if x.bitPattern != y.bitPattern { identical = false }
            let diff: Double
            if x.isNaN || y.isNaN || !x.isFinite || !y.isFinite {
                diff = sameWithin(x, y, atol) ? 0 : .infinity
            } else {
                diff = Swift.abs(x - y)
            }
            if diff.isFinite { sum += diff }
            if diff > atol { above += 1 }
            if diff > worstScore { worstScore = diff; worst = i }
            maxAbs = Swift.max(maxAbs, diff)
        }
        var strides = [Int](repeating: 1, count: shape.count)
        for k in stride(from: shape.count - 2, through: 0, by: -1) { strides[k] = strides[k + 1] * shape[k + 1] }
        let index = shape.indices.map { (worst / strides[$0]) % Swift.max(shape[$0], 1) }
        let n = range.count
        return BlockDifference(gate: gate, rows: rows, maxAbs: maxAbs, meanAbs: n > 0 ? sum / Double(n) : 0, worstIndex: n > 0 ? index : [],
                               worstA: n > 0 ? va[worst] : 0, worstB: n > 0 ? vb[worst] : 0, aboveTolerance: above, bitIdentical: identical)
    }

    static func metadataDifferences(_ a: Metadata, _ b: Metadata) -> [FieldDifference] {
        var out: [FieldDifference] = []
        let fields: [(String, String?, String?)] = [
            ("name", a.name, b.name), ("description", a.description, b.description),
            ("producer_name", a.producerName, b.producerName), ("producer_version", a.producerVersion, b.producerVersion),
            ("source_framework", a.sourceFramework, b.sourceFramework), ("source_file", a.sourceFile, b.sourceFile),
            ("created", a.created, b.created),
        ]
        for (f, x, y) in fields where x != y { out.append(FieldDifference(scope: "metadata", field: f, a: x, b: y)) }
        let pa = Dictionary(a.properties.map { ($0.key, $0.value) }, uniquingKeysWith: { x, _ in x })
        let pb = Dictionary(b.properties.map { ($0.key, $0.value) }, uniquingKeysWith: { x, _ in x })
        var keys = a.properties.map(\.key)
        for k in b.properties.map(\.key) where !keys.contains(k) { keys.append(k) }
        for k in keys where pa[k] != pb[k] {
            out.append(FieldDifference(scope: "metadata", field: "property \(k)", a: pa[k], b: pb[k]))
        }
        return out
    }

    static func specDifferences(_ a: LayerSpec, _ b: LayerSpec, scope: String) -> [FieldDifference] {
        var out: [FieldDifference] = []
        func check(_ field: String, _ x: String, _ y: String) {
            if x != y { out.append(FieldDifference(scope: scope, field: field, a: x, b: y)) }
        }
        func opt(_ v: Double?) -> String { v.map { "\($0)" } ?? "none" }
        check("cell", a.cell.rawValue, b.cell.rawValue)
        check("input_size", String(a.inputSize), String(b.inputSize))
        check("hidden_size", String(a.hiddenSize), String(b.hiddenSize))
        check("direction", a.direction.rawValue, b.direction.rawValue)
        check("bias", String(a.hasBias), String(b.hasBias))
        if a.cell == .lstm || b.cell == .lstm {
            check("peepholes", a.lstm.peepholes.sorted().map(\.rawValue).joined(separator: ","),
                  b.lstm.peepholes.sorted().map(\.rawValue).joined(separator: ","))
            check("coupled", String(a.lstm.coupled), String(b.lstm.coupled))
            check("projection_size", a.lstm.projectionSize.map(String.init) ?? "none", b.lstm.projectionSize.map(String.init) ?? "none")
            check("cell_clip", opt(a.lstm.cellClip), opt(b.lstm.cellClip))
            check("projection_clip", opt(a.lstm.projectionClip), opt(b.lstm.projectionClip))
        }
        if a.cell == .gru && b.cell == .gru { check("reset_after", String(a.resetAfter), String(b.resetAfter)) }
        check("activation_clip", opt(a.activationClip), opt(b.activationClip))
        check("initial_state", String(a.hasInitialState), String(b.hasInitialState))
        if a.direction == b.direction {
            for (d, pass) in a.direction.passes.enumerated() where d < a.activations.count && d < b.activations.count {
                let x = a.activations[d].map(\.summary).joined(separator: ", ")
                let y = b.activations[d].map(\.summary).joined(separator: ", ")
                check(a.direction.count > 1 ? "activations (\(pass.rawValue))" : "activations", x, y)
            }
        }
        return out
    }
}

extension ModelDiff {
    /// The report as text: what differs first, then one line per tensor (per gate block for
    /// those that differ), then a summary line.
    package func text(nameA: String, nameB: String) -> String {
        var lines: [String] = ["--- A: \(safe(nameA))", "+++ B: \(safe(nameB))"]
        func v(_ s: String?) -> String { s.map { "\"\(safe($0))\"" } ?? "(absent)" }
        if !metadata.isEmpty {
            lines.append("metadata (does not change what the model computes):")
            for m in metadata { lines.append("  \(safe(m.field)): \(v(m.a)) → \(v(m.b))") }
        }
        if !structure.isEmpty {
            lines.append("structure:")
            for s in structure { lines.append("  \(s.scope): \(s.field) \(s.a ?? "(absent)") → \(s.b ?? "(absent)")") }
        }
        lines.append("tensors (atol \(sci(atol))):")
        for t in tensors {
            let head = "  \(pad(t.name, 28))"
            switch t.status {
            case .onlyInA: lines.append("\(head) only in A \(shapeText(t.shapeA ?? []))")
            case .onlyInB: lines.append("\(head) only in B \(shapeText(t.shapeB ?? []))")
            case .shapeDiffers: lines.append("\(head) shape \(shapeText(t.shapeA ?? [])) → \(shapeText(t.shapeB ?? [])): not compared")
            case .identical: lines.append("\(head) identical (bit for bit)")
            case .sameSum:
                lines.append("\(head) split differently between b_x and b_h, b_x + b_h the same: the same function"
                             + (t.whole.map { " (this tensor: max abs \(sci($0.maxAbs)))" } ?? ""))
            case .withinTolerance, .different:
                guard let w = t.whole else { continue }
                var l = "\(head) " + (t.status == .different ? "DIFFERS" : "within atol")
                l += ": max abs \(sci(w.maxAbs)) at \(shapeText(w.worstIndex)) (A \(digits9(w.worstA)), B \(digits9(w.worstB)))"
                l += ", mean abs \(sci(w.meanAbs)), \(w.aboveTolerance) above atol"
                if t.dtypeA != t.dtypeB { l += "; dtype \(t.dtypeA?.rawValue ?? "?") → \(t.dtypeB?.rawValue ?? "?")" }
                if w.bitIdentical && t.dtypeA != t.dtypeB { l += "; same values" }
                lines.append(l)
                if t.status == .different {
                    for blk in t.blocks {
                        let g = blk.gate ?? "?"
                        let rowsText = "rows \(blk.rows.lowerBound)..<\(blk.rows.upperBound)"
                        if blk.bitIdentical {
                            lines.append("      gate \(g) (\(rowsText)): identical")
                        } else if blk.aboveTolerance == 0 {
                            lines.append("      gate \(g) (\(rowsText)): within atol, max abs \(sci(blk.maxAbs))")
                        } else {
                            let unit = blk.worstIndex.first.map { $0 - blk.rows.lowerBound }
                            lines.append("      gate \(g) (\(rowsText)): max abs \(sci(blk.maxAbs)) at \(shapeText(blk.worstIndex))"
                                         + (unit.map { " (unit \($0))" } ?? "")
                                         + ", mean abs \(sci(blk.meanAbs)), \(blk.aboveTolerance) above atol")
                        }
                    }
                    for s in t.swaps {
                        let parts = s.components(separatedBy: "→")
                        lines.append("      A's gate \(parts[0]) block is B's gate \(parts.count > 1 ? parts[1] : "?") block: the gate blocks are permuted")
                    }
                }
            }
        }
        let differing = tensors.filter { ![.identical, .withinTolerance, .sameSum].contains($0.status) }.count
        var summary = "diff: " + (equal ? "equal" : "different")
        summary += " (\(structure.count) structural difference(s), \(differing) of \(tensors.count) tensor(s) differ"
        summary += metadata.isEmpty ? ")" : "; metadata differs in \(metadata.count) field(s))"
        lines.append(summary)
        return lines.joined(separator: "\n") + "\n"
    }

    /// The report as JSON (docs/CLI.md, `diff --json`).
    package func json(nameA: String, nameB: String) -> String {
        func field(_ f: FieldDifference) -> JSONValue {
            .object([("scope", .string(f.scope)), ("field", .string(f.field)), ("a", .optionalString(f.a)), ("b", .optionalString(f.b))])
        }
        func blockValue(_ b: BlockDifference) -> JSONValue {
            .object([
                ("gate", .optionalString(b.gate)), ("rows", .array([.int(b.rows.lowerBound), .int(b.rows.upperBound)])),
                ("max_abs", .double(b.maxAbs)), ("mean_abs", .double(b.meanAbs)),
                ("worst_index", .array(b.worstIndex.map { .int($0) })), ("worst_a", .double(b.worstA)), ("worst_b", .double(b.worstB)),
                ("above_tolerance", .int(b.aboveTolerance)), ("bit_identical", .bool(b.bitIdentical)),
            ])
        }
        let ts: [JSONValue] = tensors.map { t in
            .object([
                ("name", .string(t.name)), ("status", .string(t.status.rawValue)),
                ("shape_a", t.shapeA.map { .array($0.map { .int($0) }) } ?? .null),
                ("shape_b", t.shapeB.map { .array($0.map { .int($0) }) } ?? .null),
                ("dtype_a", .optionalString(t.dtypeA?.rawValue)), ("dtype_b", .optionalString(t.dtypeB?.rawValue)),
                ("whole", t.whole.map(blockValue) ?? .null),
                ("gates", .array(t.blocks.map(blockValue))),
                ("permuted_gates", .array(t.swaps.map { .string($0) })),
            ])
        }
        return JSONValue.object([
            ("diff_schema_version", .int(1)), ("a", .string(nameA)), ("b", .string(nameB)), ("atol", .double(atol)),
            ("equal", .bool(equal)),
            ("metadata", .array(metadata.map(field))), ("structure", .array(structure.map(field))),
            ("tensors", .array(ts)),
        ]).render() + "\n"
    }
}
