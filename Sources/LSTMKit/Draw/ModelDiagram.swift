import Foundation
import LSTMCore

/// `lstmtool draw`: the stack of a model and, for each distinct layer, its cell in the style
/// these cells are usually taught with (the cell-state line along the top, σ/tanh boxes for
/// gates and candidate, pointwise operations in circles). Deterministic: the same model gives
/// the same bytes.
package enum ModelDiagram {
    static let width = 820.0
    static let gateFill = "#ffd966"
    static let opFill = "#f6c1cc"
    static let cellFill = "#eef5ec"
    static let peepColor = "#c0392b"
    static let noteColor = "#1f5fa8"

    package static func svg(_ model: Model, title: String) -> String {
        // Distinct cells, in order of first appearance: (key, [(layer, pass)]).
        var groups: [(spec: LayerSpec, acts: [Activation], members: [(Int, Pass)])] = []
        for (k, layer) in model.layers.enumerated() {
            for (d, pass) in layer.spec.direction.passes.enumerated() {
                let acts = layer.spec.activations[d]
                if let g = groups.firstIndex(where: { sameCell($0.spec, layer.spec) && $0.acts == acts }) {
                    groups[g].members.append((k, pass))
                } else {
                    groups.append((layer.spec, acts, [(k, pass)]))
                }
            }
        }
        let stackH = stackHeight(model)
        var cellHeights: [Double] = []
        for g in groups { cellHeights.append(cellHeight(g.spec, g.acts)) }
        let total = 60 + stackH + cellHeights.reduce(0, +) + 10
        var svg = SVGDocument(width: width, height: total)
        let name = model.metadata.name.map { String($0.prefix(60)) } ?? title
        svg.text(name, 20, 30, size: 18, weight: "bold")
        svg.text("\(model.layers.count) layer\(model.layers.count == 1 ? "" : "s"), \(model.parameterCount) parameters; input \(model.inputSize), output \(model.outputSize) per step",
                 20, 50, size: 12, fill: "#555")
        drawStack(&svg, model, top: 60)
        var y = 60 + stackH
        for (g, h) in zip(groups, cellHeights) {
            drawCell(&svg, spec: g.spec, acts: g.acts, members: g.members, top: y)
            y += h
        }
        return svg.render(title: "lstmtool draw: \(name)")
    }

    /// Two layers draw the same cell when everything but their input width agrees.
    static func sameCell(_ a: LayerSpec, _ b: LayerSpec) -> Bool {
        a.cell == b.cell && a.hiddenSize == b.hiddenSize && a.hasBias == b.hasBias && a.lstm == b.lstm
            && a.activationClip == b.activationClip && a.resetAfter == b.resetAfter && a.hasInitialState == b.hasInitialState
            && a.inputSize == b.inputSize
    }

    // MARK: the stack

    static let rowH = 54.0
    static let rowGap = 34.0

    static func stackHeight(_ model: Model) -> Double {
        46 + Double(model.layers.count) * (rowH + rowGap) + 44
    }

    static func cellName(_ s: LayerSpec) -> String {
        switch s.cell {
        case .rnn: return "RNN"
        case .gru: return "GRU"
        case .lstm: return "LSTM"
        }
    }

    static func drawStack(_ svg: inout SVGDocument, _ model: Model, top: Double) {
        let left = 150.0, right = 670.0, mid = 410.0
        let L = model.layers.count
        /// Box centres of a row.
        func centres(_ s: LayerSpec) -> [Double] {
            s.direction.count == 2 ? [left + (right - left - 20) / 4, right - (right - left - 20) / 4] : [mid]
        }
        /// The connection in a gap: the lower row's boxes merge at (mid, y), the upper row's split from it.
        func connect(lower: [Double], lowerTop: Double, upper: [Double], upperBottom: Double) {
            let y = (lowerTop + upperBottom) / 2
            for c in lower { svg.path([(c, lowerTop), (c, y), (mid, y)]) }
            for c in upper { svg.path([(mid, y), (c, y), (c, upperBottom)], arrow: true) }
            if lower.count > 1 || upper.count > 1 { svg.circle(mid, y, 3.5, fill: "#333") }
        }
        // Output at the top, layer 0 at the bottom.
        svg.subText("y", "t", mid, top + 12, anchor: .middle)
        svg.text("[\(model.outputSize)]", mid + 14, top + 12, size: 11, fill: "#555")
        var rowTop = top + 46
        var above: [Double] = [mid]
        var aboveBottom = top + 20
        for k in stride(from: L - 1, through: 0, by: -1) {
            let s = model.layers[k].spec
            let passes = s.direction.passes
            connect(lower: centres(s), lowerTop: rowTop, upper: above, upperBottom: aboveBottom)
            let boxW = passes.count == 2 ? (right - left - 20) / 2 : right - left
            for (d, pass) in passes.enumerated() {
                let x = left + Double(d) * (boxW + 20)
                svg.rect(x, rowTop, boxW, rowH, fill: cellFill, stroke: "#4a7a45", strokeWidth: 1.5, radius: 8)
                let arrow = pass == .forward ? "→" : "←"
                var line1 = "\(cellName(s)) \(arrow) \(pass.rawValue)"
                if s.cell == .gru { line1 += s.resetAfter ? ", reset-after" : ", reset-before" }
                svg.text(line1, x + boxW / 2, rowTop + 21, size: 13, anchor: .middle, weight: "bold")
                var dims = "in \(s.inputSize), hidden \(s.hiddenSize)"
                if let p = s.lstm.projectionSize { dims += ", projection \(p)" }
                if s.hasInitialState { dims += s.cell == .lstm ? "; learned h0, c0" : "; learned h0" }
                svg.text(dims, x + boxW / 2, rowTop + 40, size: 11, anchor: .middle, fill: "#333")
            }
            svg.text("layer \(k)", left - 14, rowTop + rowH / 2 + 4, size: 12, anchor: .end, weight: "bold")
            let width = s.direction.count * s.outputSize
            svg.text(s.direction.count == 2 ? "out \(width) = 2 × \(s.outputSize)" : "out \(width)", right + 12, rowTop + rowH / 2 + 4,
                     size: 11, fill: "#555")
            above = centres(s)
            aboveBottom = rowTop + rowH
            rowTop += rowH + rowGap
        }
        connect(lower: [mid], lowerTop: rowTop + 2, upper: above, upperBottom: aboveBottom)
        svg.subText("x", "t", mid, rowTop + 16, anchor: .middle)
        svg.text("[\(model.inputSize)]", mid + 14, rowTop + 16, size: 11, fill: "#555")
    }

    // MARK: cells

    static func shortName(_ a: Activation) -> String {
        switch a.kind {
        case .sigmoid: return "σ"
        case .tanh: return "tanh"
        case .relu: return "ReLU"
        case .affine: return "affine"
        case .leakyRelu: return "leaky"
        case .thresholdedRelu: return "thr.ReLU"
        case .scaledTanh: return "s·tanh"
        case .hardSigmoid: return "hard σ"
        case .elu: return "ELU"
        case .softsign: return "softsign"
        case .softplus: return "softplus"
        }
    }

    static func captionLines(_ s: LayerSpec, _ acts: [Activation]) -> [String] {
        var l: [String] = []
        switch s.cell {
        case .lstm:
            var eq = s.lstm.coupled ? "c_t = f ⊙ c_{t−1} + (1 − f) ⊙ g" : "c_t = f ⊙ c_{t−1} + i ⊙ g"
            if let c = s.lstm.cellClip { eq = "c_t = clip(" + eq.dropFirst(6) + ", ±\(disp(c)))" }
            eq += ";  h_t = " + (s.lstm.projectionSize != nil ? "W_proj (o ⊙ \(acts[2].kind.rawValue)(c_t))" : "o ⊙ \(acts[2].kind.rawValue)(c_t)")
            if let q = s.lstm.projectionClip { eq += ", clipped to ±\(disp(q))" }
            l.append(eq)
            let peeps = s.lstm.peepholes.sorted().map { "p_\($0.rawValue.prefix(1))" }
            l.append(peeps.isEmpty ? "no peepholes" : "peepholes: " + peeps.joined(separator: ", ") + " (dashed; i and f see c_{t−1}, o sees c_t)")
            if s.lstm.coupled { l.append("coupled input and forget gates: i = 1 − f (only f has weights)") }
        case .gru:
            l.append(s.resetAfter ? "reset-after: n = g(W_xn x + b_xn + r ⊙ (W_hn h_{t−1} + b_hn))"
                                  : "reset-before: n = g(W_xn x + b_xn + W_hn (r ⊙ h_{t−1}) + b_hn)")
            l.append("h_t = (1 − z) ⊙ n + z ⊙ h_{t−1}   (z keeps the old state)")
        case .rnn:
            l.append("h_t = φ(W_x x_t + b_x + W_h h_{t−1} + b_h)")
        }
        let defaults = LayerSpec.defaultActivations(s.cell)
        if acts != defaults {
            let names = s.cell == .lstm ? ["f (gates)", "g (candidate)", "h (output)"] : s.cell == .gru ? ["f (gates)", "g (candidate)"] : ["φ"]
            l.append("activations: " + zip(names, acts).map { "\($0) = \(actSummary($1))" }.joined(separator: ", "))
        }
        if let a = s.activationClip { l.append("activation clip: every gate argument clipped to ±\(disp(a)) before its activation") }
        if !s.hasBias { l.append("no biases") }
        return l
    }

    static func cellHeight(_ s: LayerSpec, _ acts: [Activation]) -> Double {
        let body: Double = s.cell == .rnn ? 317 : s.cell == .gru ? 447 : 402
        return body + Double(captionLines(s, acts).count) * 18 + 20
    }

    static func drawCell(_ svg: inout SVGDocument, spec s: LayerSpec, acts: [Activation], members: [(Int, Pass)], top: Double) {
        let who = members.map { "layer \($0.0) \($0.1.rawValue)" }.joined(separator: ", ")
        var head = "\(cellName(s)) cell — \(who)"
        if head.count > 72 { head = String(head.prefix(71)) + "…" }
        svg.line(20, top + 4, width - 20, top + 4, stroke: "#bbb", width: 1)
        svg.text(head, 20, top + 26, size: 14, weight: "bold")
        var dims = "x_t: \(s.inputSize), h: \(s.outputSize)"
        if s.cell == .lstm { dims += ", c: \(s.hiddenSize)" }
        svg.text(dims, 700, top + 26, size: 12, anchor: .end, fill: "#555")
        let oy = top + 30
        let bodyH: Double
        switch s.cell {
        case .lstm: bodyH = drawLSTM(&svg, s, acts, oy)
        case .gru: bodyH = drawGRU(&svg, s, acts, oy)
        case .rnn: bodyH = drawRNN(&svg, s, acts, oy)
        }
        var y = oy + bodyH + 8
        for line in captionLines(s, acts) {
            svg.text(line, 30, y, size: 12, fill: "#333")
            y += 18
        }
    }

    static func gateBox(_ svg: inout SVGDocument, _ cx: Double, _ cy: Double, _ label: String, name: String, clip: Double?) {
        svg.rect(cx - 32, cy - 17, 64, 34, fill: gateFill, stroke: "#7a6100", strokeWidth: 1.5, radius: 3)
        svg.text(label, cx, cy + 5, size: label.count > 5 ? 12 : 15, anchor: .middle)
        svg.text(name, cx + 36, cy - 19, size: 13, fill: "#7a6100", italic: true, family: "serif")
        if let c = clip { svg.text("±\(disp(c))", cx + 6, cy + 30, size: 10, fill: noteColor) }
    }

    static func op(_ svg: inout SVGDocument, _ cx: Double, _ cy: Double, _ symbol: String, r: Double = 11) {
        svg.circle(cx, cy, r, fill: opFill, stroke: "#8a3b4b")
        svg.text(symbol, cx, cy + 5, size: symbol.count > 1 ? 11 : 15, anchor: .middle, weight: "bold")
    }

    /// A vertical line that crosses a horizontal one with a small white gap in the latter.
    static func bridgeUp(_ svg: inout SVGDocument, x: Double, from y1: Double, to y2: Double, crossing yc: Double) {
        svg.line(x, yc - 7, x, yc + 7, stroke: "#ffffff", width: 8)
        svg.line(x, y1, x, y2, arrow: true)
    }

    static func drawLSTM(_ svg: inout SVGDocument, _ s: LayerSpec, _ acts: [Activation], _ oy: Double) -> Double {
        let cY = oy + 60, bus = oy + 285, gateY = oy + 225
        let fx = 200.0, ix = 290.0, gx = 380.0, ox = 560.0
        let A = s.activationClip
        svg.rect(100, oy + 20, 600, 295, fill: cellFill, stroke: "#4a7a45", strokeWidth: 1.5, radius: 14)
        // Cell-state line.
        svg.line(30, cY, 790, cY, width: 2.5, arrow: true)
        svg.subText("c", "t−1", 30, cY - 10)
        svg.subText("c", "t", 770, cY - 10)
        op(&svg, fx, cY, "×")
        op(&svg, gx, cY, "+")
        if let c = s.lstm.cellClip {
            svg.rect(425, cY - 12, 76, 24, fill: "#ffffff", stroke: noteColor, strokeWidth: 1.5, radius: 4)
            svg.text("clip ±\(disp(c))", 463, cY + 4, size: 11, anchor: .middle, fill: noteColor)
        }
        // Input bus: h_{t−1} from the left, x_t from below.
        svg.line(30, bus, ox, bus)
        svg.subText("h", "t−1", 30, bus - 8)
        svg.line(140, oy + 345, 140, bus, arrow: false)
        svg.circle(140, bus, 3.5, fill: "#333")
        svg.subText("x", "t", 146, oy + 352)
        // Gates.
        let gateLabel = shortName(acts[0])
        var gates: [(Double, String, String)] = [(fx, gateLabel, "f"), (gx, shortName(acts[1]), "g"), (ox, gateLabel, "o")]
        if !s.lstm.coupled { gates.insert((ix, gateLabel, "i"), at: 1) }
        for (x, label, name) in gates {
            svg.line(x, bus, x, gateY + 17, arrow: true)
            gateBox(&svg, x, gateY, label, name: name, clip: A)
        }
        // f → × on the cell line.
        svg.line(fx, gateY - 17, fx, cY + 11, arrow: true)
        // i (or 1 − f) and g → × → +.
        let mulY = oy + 150
        if s.lstm.coupled {
            svg.circle(fx, mulY, 3.5, fill: "#333")
            svg.line(fx, mulY, ix - 16, mulY, arrow: true)
            op(&svg, ix, mulY, "1−", r: 16)
            svg.text("i = 1 − f", ix, mulY - 22, size: 11, anchor: .middle, fill: "#7a6100")
            svg.line(ix + 16, mulY, gx - 11, mulY, arrow: true)
        } else {
            svg.path([(ix, gateY - 17), (ix, mulY), (gx - 11, mulY)], arrow: true)
        }
        svg.line(gx, gateY - 17, gx, mulY + 11, arrow: true)
        op(&svg, gx, mulY, "×")
        svg.line(gx, mulY - 11, gx, cY + 11, arrow: true)
        // Output: h(c_t) × o.
        let tanhY = oy + 112, outY = oy + 165
        svg.line(ox, cY, ox, tanhY - 14, arrow: true)
        svg.raw("<ellipse cx=\"\(SVGDocument.n(ox))\" cy=\"\(SVGDocument.n(tanhY))\" rx=\"32\" ry=\"14\" fill=\"\(opFill)\" stroke=\"#8a3b4b\" stroke-width=\"1.5\"/>")
        svg.text(shortName(acts[2]), ox, tanhY + 5, size: 12, anchor: .middle)
        svg.line(ox, tanhY + 14, ox, outY - 11, arrow: true)
        svg.line(ox, gateY - 17, ox, outY + 11, arrow: true)
        op(&svg, ox, outY, "×")
        // m → (projection) → h_t, out to the right and up.
        let hx = 652.0
        svg.path([(ox + 11, outY), (hx, outY), (hx, bus), (790, bus)], arrow: true)
        svg.subText("h", "t", 772, bus - 8)
        if let p = s.lstm.projectionSize {
            let clipLine = s.lstm.projectionClip.map { "clip ±\(disp($0))" }
            let h = clipLine == nil ? 36.0 : 48.0
            svg.rect(hx - 40, oy + 200 - h / 2, 80, h, fill: gateFill, stroke: "#7a6100", strokeWidth: 1.5, radius: 3)
            svg.text("W_proj", hx, oy + 200 - h / 2 + 15, size: 12, anchor: .middle, weight: "bold")
            svg.text("\(s.hiddenSize) → \(p)", hx, oy + 200 - h / 2 + 29, size: 11, anchor: .middle)
            if let c = clipLine { svg.text(c, hx, oy + 200 - h / 2 + 42, size: 10, anchor: .middle, fill: noteColor) }
        }
        svg.circle(730, bus, 3.5, fill: "#333")
        bridgeUp(&svg, x: 730, from: bus, to: oy + 4, crossing: cY)
        svg.subText("h", "t", 738, oy + 16)
        // Peepholes, only for the gates that have them.
        let pp = s.lstm.peepholes
        if pp.contains(.forget) {
            svg.path([(fx - 40, cY), (fx - 40, gateY), (fx - 32, gateY)], stroke: peepColor, width: 1.5, dash: "5 3", arrow: true)
            svg.circle(fx - 40, cY, 3, fill: peepColor, stroke: peepColor)
            svg.subText("p", "f", fx - 64, oy + 150, size: 12, fill: peepColor)
        }
        if pp.contains(.input) {
            svg.path([(ix - 18, cY), (ix - 18, gateY - 17)], stroke: peepColor, width: 1.5, dash: "5 3", arrow: true)
            svg.circle(ix - 18, cY, 3, fill: peepColor, stroke: peepColor)
            svg.subText("p", "i", ix - 40, oy + 125, size: 12, fill: peepColor)
        }
        if pp.contains(.output) {
            let px = ox - 50
            svg.path([(px, cY), (px, gateY), (ox - 32, gateY)], stroke: peepColor, width: 1.5, dash: "5 3", arrow: true)
            svg.circle(px, cY, 3, fill: peepColor, stroke: peepColor)
            svg.subText("p", "o", px - 24, oy + 150, size: 12, fill: peepColor)
        }
        return 372
    }

    static func drawGRU(_ svg: inout SVGDocument, _ s: LayerSpec, _ acts: [Activation], _ oy: Double) -> Double {
        let hY = oy + 60, bus = oy + 330, gateY = oy + 210
        let zx = 200.0, rx = 300.0, nx = 440.0, keepX = 500.0, addX = 620.0
        let A = s.activationClip
        svg.rect(100, oy + 20, 600, 340, fill: cellFill, stroke: "#4a7a45", strokeWidth: 1.5, radius: 14)
        svg.line(30, hY, 790, hY, width: 2.5, arrow: true)
        svg.subText("h", "t−1", 30, hY - 10)
        svg.subText("h", "t", 770, hY - 10)
        op(&svg, keepX, hY, "×")
        op(&svg, addX, hY, "+")
        // h_{t−1} down to the bus, x_t from below.
        svg.circle(70, hY, 3.5, fill: "#333")
        svg.path([(70, hY), (70, bus), (nx, bus)])
        svg.line(140, oy + 390, 140, bus)
        svg.circle(140, bus, 3.5, fill: "#333")
        svg.subText("x", "t", 146, oy + 397)
        // z: keeps h_{t−1} (×) and, through 1 − z, weighs n.
        let zLine = oy + 140
        svg.line(zx, bus, zx, gateY + 17, arrow: true)
        gateBox(&svg, zx, gateY, shortName(acts[0]), name: "z", clip: A)
        svg.path([(zx, gateY - 17), (zx, zLine), (keepX, zLine), (keepX, hY + 11)], arrow: true)
        svg.circle(keepX, zLine, 3.5, fill: "#333")
        svg.line(keepX, zLine, 560 - 16, zLine, arrow: true)
        op(&svg, 560, zLine, "1−", r: 16)
        svg.line(576, zLine, addX - 11, zLine, arrow: true)
        op(&svg, addX, zLine, "×")
        svg.line(addX, zLine - 11, addX, hY + 11, arrow: true)
        // n → × (with 1 − z).
        gateBox(&svg, nx, gateY, shortName(acts[1]), name: "n", clip: A)
        svg.path([(nx, gateY - 17), (nx, oy + 175), (addX, oy + 175), (addX, zLine + 11)], arrow: true)
        // The reset gate: on h_{t−1} before W_hn (reset-before) or on W_hn h + b_hn (reset-after).
        let lowY = oy + 292, highY = oy + 256
        if s.resetAfter {
            svg.line(nx, bus, nx, lowY + 12, arrow: true)
            svg.rect(nx - 58, lowY - 12, 116, 24, fill: "#ffffff", stroke: "#333", strokeWidth: 1.2, radius: 3)
            svg.text("W_hn h + b_hn", nx, lowY + 4, size: 11, anchor: .middle)
            svg.line(nx, lowY - 12, nx, highY + 11, arrow: true)
            op(&svg, nx, highY, "×")
            svg.line(nx, highY - 11, nx, gateY + 17, arrow: true)
            svg.line(rx, bus, rx, highY + 17, arrow: true)
            gateBox(&svg, rx, highY, shortName(acts[0]), name: "r", clip: A)
            svg.line(rx + 32, highY, nx - 11, highY, arrow: true)
            svg.text("reset-after", nx + 66, lowY + 4, size: 11, fill: noteColor)
        } else {
            svg.line(nx, bus, nx, lowY + 11, arrow: true)
            op(&svg, nx, lowY, "×")
            svg.line(nx, lowY - 11, nx, highY + 12, arrow: true)
            svg.rect(nx - 30, highY - 12, 60, 24, fill: "#ffffff", stroke: "#333", strokeWidth: 1.2, radius: 3)
            svg.text("W_hn", nx, highY + 4, size: 11, anchor: .middle)
            svg.line(nx, highY - 12, nx, gateY + 17, arrow: true)
            svg.line(rx, bus, rx, lowY + 17, arrow: true)
            gateBox(&svg, rx, lowY, shortName(acts[0]), name: "r", clip: A)
            svg.line(rx + 32, lowY, nx - 11, lowY, arrow: true)
            svg.text("reset-before", nx + 18, lowY + 4, size: 11, fill: noteColor)
        }
        svg.circle(730, hY, 3.5, fill: "#333")
        svg.line(730, hY, 730, oy + 4, arrow: true)
        svg.subText("h", "t", 738, oy + 16)
        return 417
    }

    static func drawRNN(_ svg: inout SVGDocument, _ s: LayerSpec, _ acts: [Activation], _ oy: Double) -> Double {
        let hY = oy + 60, bus = oy + 200, boxY = oy + 130, bx = 400.0
        svg.rect(100, oy + 20, 600, 215, fill: cellFill, stroke: "#4a7a45", strokeWidth: 1.5, radius: 14)
        svg.line(30, bus, bx, bus)
        svg.subText("h", "t−1", 30, bus - 8)
        svg.line(140, oy + 260, 140, bus)
        svg.circle(140, bus, 3.5, fill: "#333")
        svg.subText("x", "t", 146, oy + 267)
        svg.line(bx, bus, bx, boxY + 17, arrow: true)
        gateBox(&svg, bx, boxY, shortName(acts[0]), name: "φ", clip: s.activationClip)
        svg.path([(bx, boxY - 17), (bx, hY), (790, hY)], arrow: true)
        svg.subText("h", "t", 772, hY - 8)
        svg.circle(730, hY, 3.5, fill: "#333")
        svg.line(730, hY, 730, oy + 4, arrow: true)
        svg.subText("h", "t", 738, oy + 16)
        return 287
    }
}

/// A parameter for a label: 6 significant digits (a float32 0.9 reads 0.9, not 0.8999999761581421).
func disp(_ v: Double) -> String {
    var s = String(format: "%.6g", v)
    if s.contains("e") { s = s.replacingOccurrences(of: "e+0", with: "e").replacingOccurrences(of: "e-0", with: "e-") }
    return s
}

/// `hard_sigmoid(alpha=0.2, beta=0.5)`, parameters to 6 digits.
func actSummary(_ a: Activation) -> String {
    var parts: [String] = []
    if a.kind.usesAlpha { parts.append("alpha=\(disp(a.alpha))") }
    if a.kind.usesBeta { parts.append("beta=\(disp(a.beta))") }
    return parts.isEmpty ? a.kind.rawValue : "\(a.kind.rawValue)(\(parts.joined(separator: ", ")))"
}
