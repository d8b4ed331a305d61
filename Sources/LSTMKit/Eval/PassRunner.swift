import LSTMCore

/// Runs one pass of one layer over the whole batch. All buffers are allocated once, before
/// the time loop; a step allocates nothing.
struct PassRunner<F: EvalScalar> {
    let pass: PreparedPass<F>
    let steps: Int
    let batch: Int
    let lengths: [Int]

    init(pass: PreparedPass<F>, steps: Int, batch: Int, lengths: [Int]) {
        self.pass = pass
        self.steps = steps
        self.batch = batch
        self.lengths = lengths
    }

    /// x: [T, B, I]; h: [B, P] in/out; c: [B, H] in/out (LSTM); writes h_t into
    /// y[t, b, yOffset ..< yOffset + P] with row stride `yStride`.
    mutating func run(x: [F], h: inout [F], c: inout [F], y: inout [F], yStride: Int, yOffset: Int) {
        let s = pass.spec
        let hs = s.hiddenSize, p = s.outputSize, g = s.gateCount * hs, inSize = s.inputSize
        let tb = steps * batch
        guard tb > 0 else { return }
        // Input projections for every step at once: xw[t·B + b] = W_x x_t[b] + bias.
        var xw = [F](repeating: 0, count: tb * g)
        x.withUnsafeBufferPointer { xp in
            pass.wxT.withUnsafeBufferPointer { wp in
                xw.withUnsafeMutableBufferPointer { op in
                    F.gemm(xp.baseAddress!, wp.baseAddress!, op.baseAddress!, m: tb, k: inSize, n: g)
                }
            }
        }
        pass.inputBias.withUnsafeBufferPointer { bp in
            xw.withUnsafeMutableBufferPointer { op in
                for r in 0..<tb {
                    let row = op.baseAddress! + r * g
                    for j in 0..<g { row[j] = row[j] + bp[j] }
                }
            }
        }
        let recurrentWidth = s.cell == .gru && !s.resetAfter ? 2 * hs : g
        var hw = [F](repeating: 0, count: batch * recurrentWidth)
        var rh = [F](repeating: 0, count: s.cell == .gru && !s.resetAfter ? batch * hs : 0)
        var hwn = [F](repeating: 0, count: rh.count)
        var m = [F](repeating: 0, count: s.lstm.projectionSize != nil ? batch * hs : 0)
        var projected = [F](repeating: 0, count: m.isEmpty ? 0 : batch * p)
        var rows = [Int](repeating: -1, count: batch)  // time index of each row at this step, -1 if done

        for step in 0..<steps {
            var anyActive = false
            for b in 0..<batch {
                let len = lengths[b]
                if step < len {
                    rows[b] = pass.reverse ? len - 1 - step : step
                    anyActive = true
                } else {
                    rows[b] = -1
                }
            }
            if !anyActive { break }
            h.withUnsafeBufferPointer { hp in
                pass.whT.withUnsafeBufferPointer { wp in
                    hw.withUnsafeMutableBufferPointer { op in
                        F.gemm(hp.baseAddress!, wp.baseAddress!, op.baseAddress!, m: batch, k: p, n: recurrentWidth)
                    }
                }
            }
            switch s.cell {
            case .rnn: rnnStep(xw: xw, hw: hw, h: &h, rows: rows)
            case .gru: gruStep(xw: xw, hw: &hw, rh: &rh, hwn: &hwn, h: &h, rows: rows)
            case .lstm: lstmStep(xw: xw, hw: hw, h: &h, c: &c, m: &m, projected: &projected, rows: rows)
            }
            // Outputs of the rows that moved this step.
            for b in 0..<batch where rows[b] >= 0 {
                let base = (rows[b] * batch + b) * yStride + yOffset
                for k in 0..<p { y[base + k] = h[b * p + k] }
            }
        }
    }

    @inline(__always)
    func clipped(_ v: F) -> F {
        guard let c = pass.spec.activationClip else { return v }
        let cf = F.from(c)
        return Swift.min(Swift.max(v, -cf), cf)
    }

    func rnnStep(xw: [F], hw: [F], h: inout [F], rows: [Int]) {
        let hs = pass.spec.hiddenSize
        let act = pass.activations[0]
        for b in 0..<batch where rows[b] >= 0 {
            let xo = (rows[b] * batch + b) * hs
            for j in 0..<hs {
                h[b * hs + j] = F.activate(act, clipped(xw[xo + j] + hw[b * hs + j]))
            }
        }
    }

    func gruStep(xw: [F], hw: inout [F], rh: inout [F], hwn: inout [F], h: inout [F], rows: [Int]) {
        let hs = pass.spec.hiddenSize
        let fAct = pass.activations[0], gAct = pass.activations[1]
        let width = pass.spec.resetAfter ? 3 * hs : 2 * hs
        // z and r for every moving row; keep r in hw's r block.
        for b in 0..<batch where rows[b] >= 0 {
            let xo = (rows[b] * batch + b) * 3 * hs
            let ho = b * width
            for j in 0..<(2 * hs) {
                hw[ho + j] = F.activate(fAct, clipped(xw[xo + j] + hw[ho + j]))
            }
        }
        if !pass.spec.resetAfter {
            for b in 0..<batch {
                for j in 0..<hs { rh[b * hs + j] = rows[b] >= 0 ? hw[b * width + hs + j] * h[b * hs + j] : 0 }
            }
            rh.withUnsafeBufferPointer { rp in
                pass.whnT.withUnsafeBufferPointer { wp in
                    hwn.withUnsafeMutableBufferPointer { op in
                        F.gemm(rp.baseAddress!, wp.baseAddress!, op.baseAddress!, m: batch, k: hs, n: hs)
                    }
                }
            }
        }
        for b in 0..<batch where rows[b] >= 0 {
            let xo = (rows[b] * batch + b) * 3 * hs
            let ho = b * width
            for j in 0..<hs {
                let z = hw[ho + j]
                let r = hw[ho + hs + j]
                let bhn = pass.recurrentBias[2 * hs + j]
                let pre: F
                if pass.spec.resetAfter {
                    pre = xw[xo + 2 * hs + j] + r * (hw[ho + 2 * hs + j] + bhn)
                } else {
                    pre = xw[xo + 2 * hs + j] + (hwn[b * hs + j] + bhn)
                }
                let n = F.activate(gAct, clipped(pre))
                let prev = h[b * hs + j]
                h[b * hs + j] = (1 - z) * n + z * prev
            }
        }
    }

    func lstmStep(xw: [F], hw: [F], h: inout [F], c: inout [F], m: inout [F], projected: inout [F], rows: [Int]) {
        let s = pass.spec
        let hs = s.hiddenSize, p = s.outputSize, g = s.gateCount * hs
        let fAct = pass.activations[0], gAct = pass.activations[1], hAct = pass.activations[2]
        let coupled = s.lstm.coupled
        // Block offsets: IFGO or, coupled, FGO.
        let iOff = 0, fOff = coupled ? 0 : hs, gOff = coupled ? hs : 2 * hs, oOff = coupled ? 2 * hs : 3 * hs
        let cellClip = s.lstm.cellClip.map { F.from($0) }
        let hasProjection = s.lstm.projectionSize != nil
        for b in 0..<batch where rows[b] >= 0 {
            let xo = (rows[b] * batch + b) * g
            let ho = b * g
            for j in 0..<hs {
                let cPrev = c[b * hs + j]
                var aF = xw[xo + fOff + j] + hw[ho + fOff + j]
                if let pf = pass.peepholeF { aF = aF + pf[j] * cPrev }
                let f = F.activate(fAct, clipped(aF))
                let i: F
                if coupled {
                    i = 1 - f
                } else {
                    var aI = xw[xo + iOff + j] + hw[ho + iOff + j]
                    if let pi = pass.peepholeI { aI = aI + pi[j] * cPrev }
                    i = F.activate(fAct, clipped(aI))
                }
                let gv = F.activate(gAct, clipped(xw[xo + gOff + j] + hw[ho + gOff + j]))
                var cNew = f * cPrev + i * gv
                if let cc = cellClip { cNew = Swift.min(Swift.max(cNew, -cc), cc) }
                var aO = xw[xo + oOff + j] + hw[ho + oOff + j]
                if let po = pass.peepholeO { aO = aO + po[j] * cNew }
                let o = F.activate(fAct, clipped(aO))
                c[b * hs + j] = cNew
                let out = o * F.activate(hAct, cNew)
                if hasProjection { m[b * hs + j] = out } else { h[b * hs + j] = out }
            }
        }
        guard hasProjection else { return }
        m.withUnsafeBufferPointer { mp in
            pass.projT.withUnsafeBufferPointer { wp in
                projected.withUnsafeMutableBufferPointer { op in
                    F.gemm(mp.baseAddress!, wp.baseAddress!, op.baseAddress!, m: batch, k: hs, n: p)
                }
            }
        }
        let projClip = s.lstm.projectionClip.map { F.from($0) }
        for b in 0..<batch where rows[b] >= 0 {
            for k in 0..<p {
                var v = projected[b * p + k]
                if let pc = projClip { v = Swift.min(Swift.max(v, -pc), pc) }
                h[b * p + k] = v
            }
        }
    }
}
