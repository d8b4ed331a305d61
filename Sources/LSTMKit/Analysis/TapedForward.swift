import Foundation
import LSTMCore

// An f64 forward pass that keeps every intermediate value (a tape) and a reverse-mode pass
// over it: exact derivatives through the recurrence (docs/ANALYZE.md). Written from
// docs/CELLS.md on its own, sharing no code with the Evaluator, so that it doubles as an
// independent check of the evaluator's f64 path.

/// The derivative of an activation at x (the argument after any activation clip). Kinks take
/// the derivative of the branch the value itself uses (relu at 0: 0; leaky_relu and elu at 0: 1).
func activationDerivative(_ a: Activation, _ x: Double) -> Double {
    switch a.kind {
    case .sigmoid:
        let s = a.apply(x)
        return s * (1 - s)
    case .tanh:
        let t = Foundation.tanh(x)
        return 1 - t * t
    case .relu: return x > 0 ? 1 : 0
    case .affine: return a.alpha
    case .leakyRelu: return x >= 0 ? 1 : a.alpha
    case .thresholdedRelu: return x > a.alpha ? 1 : 0
    case .scaledTanh:
        let t = Foundation.tanh(a.beta * x)
        return a.alpha * a.beta * (1 - t * t)
    case .hardSigmoid:
        let v = a.alpha * x + a.beta
        return v > 0 && v < 1 ? a.alpha : 0
    case .elu: return x >= 0 ? 1 : a.alpha * Foundation.exp(x)
    case .softsign:
        let d = 1 + Swift.abs(x)
        return 1 / (d * d)
    case .softplus: return x > 30 ? 1 : 1 / (1 + Foundation.exp(-x))
    }
}

@inline(__always) func clipValue(_ v: Double, _ c: Double?) -> Double {
    guard let c else { return v }
    return Swift.min(Swift.max(v, -c), c)
}

/// 1 where the clip passes the value through (inside the range or on its edge), 0 outside.
@inline(__always) func clipPass(_ v: Double, _ c: Double?) -> Double {
    guard let c else { return 1 }
    return Swift.abs(v) <= c ? 1 : 0
}

/// One pass's weights, widened to Double.
struct PassWeights: Sendable {
    let spec: LayerSpec
    let pass: Pass
    let acts: [Activation]
    let wx: [Double]   // [G·H, I]
    let wh: [Double]   // [G·H, P]
    let bx: [Double]   // [G·H] (zeros without bias)
    let bh: [Double]
    let pi: [Double]?
    let pf: [Double]?
    let po: [Double]?
    let wproj: [Double]?  // [P, H]
    let h0: [Double]?
    let c0: [Double]?

    init(layer: Layer, passIndex d: Int) {
        spec = layer.spec
        pass = layer.spec.direction.passes[d]
        acts = layer.spec.activations[d]
        let t = layer.passes[d]
        let gh = layer.spec.gateCount * layer.spec.hiddenSize
        wx = t[.inputWeights]!.doubles()
        wh = t[.recurrentWeights]!.doubles()
        bx = t[.inputBias]?.doubles() ?? [Double](repeating: 0, count: gh)
        bh = t[.recurrentBias]?.doubles() ?? [Double](repeating: 0, count: gh)
        pi = t[.peepholeInput]?.doubles()
        pf = t[.peepholeForget]?.doubles()
        po = t[.peepholeOutput]?.doubles()
        wproj = t[.projection]?.doubles()
        h0 = t[.initialHidden]?.doubles()
        c0 = t[.initialCell]?.doubles()
    }

    var H: Int { spec.hiddenSize }
    var P: Int { spec.outputSize }
    var I: Int { spec.inputSize }
    var G: Int { spec.gateCount }

    /// Block indices in the stored order (docs/FORMAT.md): LSTM i f g o (coupled f g o),
    /// GRU z r n, RNN one block.
    var blockI: Int? { spec.cell == .lstm && !spec.lstm.coupled ? 0 : nil }
    var blockF: Int { spec.lstm.coupled ? 0 : 1 }
    var blockG: Int { spec.lstm.coupled ? 1 : 2 }
    var blockO: Int { spec.lstm.coupled ? 2 : 3 }

    /// Time steps in processing order.
    func order(_ steps: Int) -> [Int] { pass == .forward ? Array(0..<steps) : Array((0..<steps).reversed()) }
}

/// Everything one pass computed, per step (time-aligned index t) and batch entry.
struct PassTape: Sendable {
    let w: PassWeights
    let steps: Int
    let batch: Int
    /// State entering step t: h [T, B, P], c [T, B, H] (LSTM).
    var hPrev: [Double]
    var cPrev: [Double]
    /// Raw gate arguments (before the activation clip), [T, B, G·H], block order as stored.
    var pre: [Double]
    /// Activation outputs per block, [T, B, G·H] (coupled LSTM: f, g, o).
    var act: [Double]
    /// LSTM: c before and after the cell clip, h(c), m = o·h(c), h before the projection clip.
    var cRaw: [Double]
    var c: [Double]
    var hc: [Double]
    var m: [Double]
    var hRaw: [Double]
    /// GRU reset-after: W_hn h + b_hn, [T, B, H].
    var hnLin: [Double]
    /// Output h_t, [T, B, P].
    var h: [Double]
}

/// The f64 forward pass of a whole model, with its tape.
struct TapedModel: Sendable {
    let weights: [[PassWeights]]  // [layer][pass]
    var tapes: [[PassTape]] = []
    /// Each layer's input [T, B, I_k] (layer 0: x).
    var inputs: [[Double]] = []
    /// The last layer's output y [T, B, D·P].
    var y: [Double] = []
    let steps: Int
    let batch: Int

    /// `initialH`/`initialC`: per layer `[D, B, W_k]`, as RunIO.readStates returns them.
    init(model: Model, x: [Double], steps: Int, batch: Int, initialH: [[Double]]? = nil, initialC: [[Double]]? = nil) {
        weights = model.layers.map { layer in (0..<layer.spec.direction.count).map { PassWeights(layer: layer, passIndex: $0) } }
        self.steps = steps
        self.batch = batch
        var input = x
        for (k, passes) in weights.enumerated() {
            inputs.append(input)
            let P = passes[0].P, D = passes.count
            var out = [Double](repeating: 0, count: steps * batch * D * P)
            var layerTapes: [PassTape] = []
            for (d, w) in passes.enumerated() {
                let h0 = initialH.map { Array($0[k][(d * batch * w.P)..<((d + 1) * batch * w.P)]) }
                let c0 = w.spec.cell == .lstm ? initialC.map { Array($0[k][(d * batch * w.H)..<((d + 1) * batch * w.H)]) } : nil
                let tape = TapedModel.forward(w, x: input, steps: steps, batch: batch, h0: h0, c0: c0)
                for t in 0..<steps {
                    for b in 0..<batch {
                        for u in 0..<P { out[((t * batch + b) * D + d) * P + u] = tape.h[(t * batch + b) * P + u] }
                    }
                }
                layerTapes.append(tape)
            }
            tapes.append(layerTapes)
            input = out
        }
        y = input
    }

    /// One pass over the sequence (docs/CELLS.md §2–§7, §10).
    static func forward(_ w: PassWeights, x: [Double], steps T: Int, batch B: Int, h0: [Double]?, c0: [Double]?) -> PassTape {
        let H = w.H, P = w.P, I = w.I, GH = w.G * H
        let isLSTM = w.spec.cell == .lstm, isGRU = w.spec.cell == .gru
        let A = w.spec.activationClip, C = w.spec.lstm.cellClip, Q = w.spec.lstm.projectionClip
        let lstmT = isLSTM ? T * B * H : 0
        var tape = PassTape(w: w, steps: T, batch: B,
                            hPrev: [Double](repeating: 0, count: T * B * P), cPrev: [Double](repeating: 0, count: lstmT),
                            pre: [Double](repeating: 0, count: T * B * GH), act: [Double](repeating: 0, count: T * B * GH),
                            cRaw: [Double](repeating: 0, count: lstmT), c: [Double](repeating: 0, count: lstmT),
                            hc: [Double](repeating: 0, count: lstmT), m: [Double](repeating: 0, count: lstmT),
                            hRaw: [Double](repeating: 0, count: isLSTM ? T * B * P : 0),
                            hnLin: [Double](repeating: 0, count: isGRU && w.spec.resetAfter ? T * B * H : 0),
                            h: [Double](repeating: 0, count: T * B * P))
        let fAct = w.acts[0]
        let gAct = w.acts.count > 1 ? w.acts[1] : w.acts[0]
        let hAct = w.acts.count > 2 ? w.acts[2] : w.acts[0]
        for b in 0..<B {
            var h = h0.map { Array($0[(b * P)..<((b + 1) * P)]) } ?? w.h0 ?? [Double](repeating: 0, count: P)
            var c = isLSTM ? (c0.map { Array($0[(b * H)..<((b + 1) * H)]) } ?? w.c0 ?? [Double](repeating: 0, count: H)) : []
            var xw = [Double](repeating: 0, count: GH)
            var hw = [Double](repeating: 0, count: GH)
            for t in w.order(T) {
                let tb = t * B + b
                let xo = tb * I
                for u in 0..<P { tape.hPrev[tb * P + u] = h[u] }
                if isLSTM { for u in 0..<H { tape.cPrev[tb * H + u] = c[u] } }
                // Input term with its bias (docs/CELLS.md §11.1); recurrent term.
                for j in 0..<GH {
                    var s = 0.0
                    for k in 0..<I { s += w.wx[j * I + k] * x[xo + k] }
                    let gruN = isGRU && j >= 2 * H
                    xw[j] = s + (gruN ? w.bx[j] : w.bx[j] + w.bh[j])
                    var r = 0.0
                    for k in 0..<P { r += w.wh[j * P + k] * h[k] }
                    hw[j] = r
                }
                let po = tb * GH
                switch w.spec.cell {
                case .rnn:
                    for u in 0..<H {
                        let a = xw[u] + hw[u]
                        tape.pre[po + u] = a
                        let v = w.acts[0].apply(clipValue(a, A))
                        tape.act[po + u] = v
                        h[u] = v
                    }
                case .lstm:
                    let bi = w.blockI, bf = w.blockF, bg = w.blockG, bo = w.blockO
                    var cNew = [Double](repeating: 0, count: H)
                    for u in 0..<H {
                        var af = xw[bf * H + u] + hw[bf * H + u]
                        if let p = w.pf { af += p[u] * c[u] }
                        let f = fAct.apply(clipValue(af, A))
                        var i: Double
                        if let bi {
                            var ai = xw[bi * H + u] + hw[bi * H + u]
                            if let p = w.pi { ai += p[u] * c[u] }
                            tape.pre[po + bi * H + u] = ai
                            i = fAct.apply(clipValue(ai, A))
                            tape.act[po + bi * H + u] = i
                        } else {
                            i = 1 - f
                        }
                        let ag = xw[bg * H + u] + hw[bg * H + u]
                        let g = gAct.apply(clipValue(ag, A))
                        tape.pre[po + bf * H + u] = af
                        tape.act[po + bf * H + u] = f
                        tape.pre[po + bg * H + u] = ag
                        tape.act[po + bg * H + u] = g
                        let raw = f * c[u] + i * g
                        tape.cRaw[tb * H + u] = raw
                        cNew[u] = clipValue(raw, C)
                    }
                    var mv = [Double](repeating: 0, count: H)
                    for u in 0..<H {
                        var ao = xw[bo * H + u] + hw[bo * H + u]
                        if let p = w.po { ao += p[u] * cNew[u] }
                        let o = fAct.apply(clipValue(ao, A))
                        tape.pre[po + bo * H + u] = ao
                        tape.act[po + bo * H + u] = o
                        let hcv = hAct.apply(cNew[u])
                        tape.c[tb * H + u] = cNew[u]
                        tape.hc[tb * H + u] = hcv
                        mv[u] = o * hcv
                        tape.m[tb * H + u] = mv[u]
                    }
                    c = cNew
                    if let wp = w.wproj {
                        for j in 0..<P {
                            var s = 0.0
                            for k in 0..<H { s += wp[j * H + k] * mv[k] }
                            tape.hRaw[tb * P + j] = s
                            h[j] = clipValue(s, Q)
                        }
                    } else {
                        for u in 0..<H { tape.hRaw[tb * P + u] = mv[u]; h[u] = mv[u] }
                    }
                case .gru:
                    var z = [Double](repeating: 0, count: H), r = [Double](repeating: 0, count: H)
                    for u in 0..<H {
                        let az = xw[u] + hw[u], ar = xw[H + u] + hw[H + u]
                        tape.pre[po + u] = az
                        tape.pre[po + H + u] = ar
                        z[u] = fAct.apply(clipValue(az, A))
                        r[u] = fAct.apply(clipValue(ar, A))
                        tape.act[po + u] = z[u]
                        tape.act[po + H + u] = r[u]
                    }
                    var an = [Double](repeating: 0, count: H)
                    if w.spec.resetAfter {
                        for u in 0..<H {
                            let lin = hw[2 * H + u] + w.bh[2 * H + u]
                            tape.hnLin[tb * H + u] = lin
                            an[u] = xw[2 * H + u] + r[u] * lin
                        }
                    } else {
                        for u in 0..<H {
                            var s = 0.0
                            for k in 0..<H { s += w.wh[(2 * H + u) * P + k] * (r[k] * h[k]) }
                            an[u] = xw[2 * H + u] + (s + w.bh[2 * H + u])
                        }
                    }
                    for u in 0..<H {
                        tape.pre[po + 2 * H + u] = an[u]
                        let n = gAct.apply(clipValue(an[u], A))
                        tape.act[po + 2 * H + u] = n
                        h[u] = (1 - z[u]) * n + z[u] * h[u]
                    }
                }
                for u in 0..<P { tape.h[tb * P + u] = h[u] }
            }
        }
        return tape
    }

    /// Reverse mode through one pass for batch entry `b`.
    ///
    /// - dY: gradient arriving on this pass's output h_t from outside the recurrence, [T, P]
    ///   (time-aligned), or nil for none.
    /// - dhFinal, dcFinal: gradient on the pass's final state (after its last processed step).
    /// - dX: accumulates the gradient with respect to the pass's input, [T, I].
    /// - Returns the gradient on the initial state (h, c) and, when `recordCell`, for each step t
    ///   the gradient on c_t with h_t held fixed (the state after step t), [T, H].
    static func backward(_ tape: PassTape, b: Int, dY: [Double]?, dhFinal: [Double]?, dcFinal: [Double]?,
                         dX: inout [Double], recordCell: Bool = false) -> (dh0: [Double], dc0: [Double], cellGrad: [Double]) {
        let w = tape.w
        let H = w.H, P = w.P, I = w.I, GH = w.G * H, B = tape.batch, T = tape.steps
        let A = w.spec.activationClip, C = w.spec.lstm.cellClip, Q = w.spec.lstm.projectionClip
        let fAct = w.acts[0]
        let gAct = w.acts.count > 1 ? w.acts[1] : w.acts[0]
        let hAct = w.acts.count > 2 ? w.acts[2] : w.acts[0]
        var dh = dhFinal ?? [Double](repeating: 0, count: P)
        var dc = w.spec.cell == .lstm ? (dcFinal ?? [Double](repeating: 0, count: H)) : []
        var cellGrad = [Double](repeating: 0, count: recordCell ? T * H : 0)
        var da = [Double](repeating: 0, count: GH)
        for t in w.order(T).reversed() {
            let tb = t * B + b
            let po = tb * GH
            if recordCell { for u in 0..<H { cellGrad[t * H + u] = dc[u] } }
            if let dY { for u in 0..<P { dh[u] += dY[t * P + u] } }
            var dhPrev = [Double](repeating: 0, count: P)
            switch w.spec.cell {
            case .rnn:
                for u in 0..<H {
                    let a = tape.pre[po + u]
                    da[u] = dh[u] * activationDerivative(w.acts[0], clipValue(a, A)) * clipPass(a, A)
                }
            case .lstm:
                let bi = w.blockI, bf = w.blockF, bg = w.blockG, bo = w.blockO
                var dm = [Double](repeating: 0, count: H)
                if let wp = w.wproj {
                    for j in 0..<P {
                        let g = dh[j] * clipPass(tape.hRaw[tb * P + j], Q)
                        if g != 0 { for k in 0..<H { dm[k] += wp[j * H + k] * g } }
                    }
                } else {
                    for u in 0..<H { dm[u] = dh[u] }
                }
                var dcPrev = [Double](repeating: 0, count: H)
                for u in 0..<H {
                    let o = tape.act[po + bo * H + u]
                    let cv = tape.c[tb * H + u]
                    let dO = dm[u] * tape.hc[tb * H + u]
                    var dcu = dc[u] + dm[u] * o * activationDerivative(hAct, cv)
                    let ao = tape.pre[po + bo * H + u]
                    let dao = dO * activationDerivative(fAct, clipValue(ao, A)) * clipPass(ao, A)
                    da[bo * H + u] = dao
                    if let p = w.po { dcu += p[u] * dao }
                    let dRaw = dcu * clipPass(tape.cRaw[tb * H + u], C)
                    let f = tape.act[po + bf * H + u], g = tape.act[po + bg * H + u]
                    let i = bi.map { tape.act[po + $0 * H + u] } ?? (1 - f)
                    let cp = tape.cPrev[tb * H + u]
                    var df = dRaw * cp
                    let di = dRaw * g
                    let dg = dRaw * i
                    dcPrev[u] = dRaw * f
                    if bi == nil { df -= di }
                    let af = tape.pre[po + bf * H + u], ag = tape.pre[po + bg * H + u]
                    da[bf * H + u] = df * activationDerivative(fAct, clipValue(af, A)) * clipPass(af, A)
                    da[bg * H + u] = dg * activationDerivative(gAct, clipValue(ag, A)) * clipPass(ag, A)
                    if let bi {
                        let ai = tape.pre[po + bi * H + u]
                        da[bi * H + u] = di * activationDerivative(fAct, clipValue(ai, A)) * clipPass(ai, A)
                        if let p = w.pi { dcPrev[u] += p[u] * da[bi * H + u] }
                    }
                    if let p = w.pf { dcPrev[u] += p[u] * da[bf * H + u] }
                }
                dc = dcPrev
            case .gru:
                for u in 0..<H {
                    let z = tape.act[po + u], n = tape.act[po + 2 * H + u]
                    let hp = tape.hPrev[tb * P + u]
                    let dn = dh[u] * (1 - z)
                    da[u] = dh[u] * (hp - n)  // dz, times the derivative below
                    dhPrev[u] = dh[u] * z
                    let an = tape.pre[po + 2 * H + u]
                    da[2 * H + u] = dn * activationDerivative(gAct, clipValue(an, A)) * clipPass(an, A)
                }
                var dr = [Double](repeating: 0, count: H)
                if w.spec.resetAfter {
                    for u in 0..<H {
                        let r = tape.act[po + H + u]
                        dr[u] = da[2 * H + u] * tape.hnLin[tb * H + u]
                        let dlin = da[2 * H + u] * r
                        if dlin != 0 { for k in 0..<P { dhPrev[k] += w.wh[(2 * H + u) * P + k] * dlin } }
                    }
                } else {
                    var drh = [Double](repeating: 0, count: H)
                    for u in 0..<H where da[2 * H + u] != 0 {
                        for k in 0..<H { drh[k] += w.wh[(2 * H + u) * P + k] * da[2 * H + u] }
                    }
                    for k in 0..<H {
                        dr[k] = drh[k] * tape.hPrev[tb * P + k]
                        dhPrev[k] += drh[k] * tape.act[po + H + k]
                    }
                }
                for u in 0..<H {
                    let az = tape.pre[po + u], ar = tape.pre[po + H + u]
                    da[u] *= activationDerivative(fAct, clipValue(az, A)) * clipPass(az, A)
                    da[H + u] = dr[u] * activationDerivative(fAct, clipValue(ar, A)) * clipPass(ar, A)
                }
            }
            // W_h^T da over the blocks that use h directly; W_x^T da over every block.
            let recurrentRows = w.spec.cell == .gru ? 2 * H : GH
            for j in 0..<recurrentRows where da[j] != 0 {
                let g = da[j]
                for k in 0..<P { dhPrev[k] += w.wh[j * P + k] * g }
            }
            let xo = t * I
            for j in 0..<GH where da[j] != 0 {
                let g = da[j]
                for k in 0..<I { dX[xo + k] += w.wx[j * I + k] * g }
            }
            dh = dhPrev
        }
        return (dh, dc, cellGrad)
    }

    /// The index of the step that holds a pass's final state: T−1 forward, 0 reverse.
    static func finalStep(_ pass: Pass, steps: Int) -> Int { pass == .forward ? steps - 1 : 0 }

    /// ∂h_final[j] / ∂x for batch entry `b`, where h_final is the final state of pass `d` of the
    /// last layer: the gradient [T, I] of one output unit, back through every layer.
    func inputGradient(lastPass d: Int, unit j: Int, b: Int = 0) -> [Double] {
        let L = weights.count
        let last = weights[L - 1]
        let P = last[d].P
        var dY = [Double](repeating: 0, count: steps * P)
        dY[TapedModel.finalStep(last[d].pass, steps: steps) * P + j] = 1
        // Gradient on each pass's own output, per layer, top down.
        var dOut: [[Double]] = last.indices.map { $0 == d ? dY : [Double](repeating: 0, count: steps * last[$0].P) }
        for k in stride(from: L - 1, through: 0, by: -1) {
            let I = weights[k][0].I
            var dX = [Double](repeating: 0, count: steps * I)
            for (p, tape) in tapes[k].enumerated() {
                _ = TapedModel.backward(tape, b: b, dY: dOut[p], dhFinal: nil, dcFinal: nil, dX: &dX)
            }
            if k == 0 { return dX }
            // Split the gradient on layer k's input [T, D·P] into the passes of layer k − 1.
            let below = weights[k - 1]
            let Pb = below[0].P, Db = below.count
            dOut = (0..<Db).map { p in
                var g = [Double](repeating: 0, count: steps * Pb)
                for t in 0..<steps { for u in 0..<Pb { g[t * Pb + u] = dX[t * I + p * Pb + u] } }
                return g
            }
        }
        return []
    }

    /// s_t = ‖∂h_final / ∂x_t‖_F for batch entry b, t = 0 … T−1 (final state of pass d of the
    /// last layer).
    func inputSensitivity(lastPass d: Int, b: Int = 0) -> [Double] {
        let w = weights[weights.count - 1][d]
        let I = weights[0][0].I
        var s2 = [Double](repeating: 0, count: steps)
        for j in 0..<w.P {
            let g = inputGradient(lastPass: d, unit: j, b: b)
            for t in 0..<steps { for k in 0..<I { s2[t] += g[t * I + k] * g[t * I + k] } }
        }
        return s2.map { $0.squareRoot() }
    }

    /// For an LSTM layer's pass: ‖∂c_final / ∂c_t‖_F for t = 0 … T−1 (c_t the state after step t,
    /// h_t held fixed), and the same for the initial state as `initial`.
    func cellSensitivity(layer k: Int, pass d: Int, b: Int = 0) -> (steps: [Double], initial: Double) {
        let tape = tapes[k][d]
        let H = tape.w.H
        var s2 = [Double](repeating: 0, count: steps)
        var s0 = 0.0
        var dX = [Double](repeating: 0, count: steps * tape.w.I)
        for j in 0..<H {
            var e = [Double](repeating: 0, count: H)
            e[j] = 1
            let r = TapedModel.backward(tape, b: b, dY: nil, dhFinal: nil, dcFinal: e, dX: &dX, recordCell: true)
            for t in 0..<steps { for u in 0..<H { s2[t] += r.cellGrad[t * H + u] * r.cellGrad[t * H + u] } }
            for u in 0..<H { s0 += r.dc0[u] * r.dc0[u] }
        }
        return (s2.map { $0.squareRoot() }, s0.squareRoot())
    }

    /// The final state of pass d of the last layer, batch entry b.
    func finalHidden(lastPass d: Int, b: Int = 0) -> [Double] {
        let tape = tapes[tapes.count - 1][d]
        let t = TapedModel.finalStep(tape.w.pass, steps: steps)
        let P = tape.w.P
        return Array(tape.h[((t * batch + b) * P)..<((t * batch + b + 1) * P)])
    }
}
