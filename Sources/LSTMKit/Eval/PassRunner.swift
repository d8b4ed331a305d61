import LSTMCore

/// Runs one pass of one layer over the whole batch. All buffers are allocated once, before
/// the time loop; a step allocates nothing.
struct PassRunner<F: EvalScalar> {
    let pass: PreparedPass<F>
    let steps: Int
    let batch: Int
    let lengths: [Int]
    /// Threads the f32 matrix products may use.
    let threads: Int

    init(pass: PreparedPass<F>, steps: Int, batch: Int, lengths: [Int], threads: Int) {
        self.pass = pass
        self.steps = steps
        self.batch = batch
        self.lengths = lengths
        self.threads = threads
    }

    /// x: [T, B, I]; h: [B, P] in/out; c: [B, H] in/out (LSTM); writes h_t into
    /// y[t, b, yOffset ..< yOffset + P] with row stride `yStride`.
    mutating func run(x: [F], h: inout [F], c: inout [F], y: inout [F], yStride: Int, yOffset: Int) {
        let s = pass.spec
        let hs = s.hiddenSize, p = s.outputSize, g = s.gateCount * hs, inSize = s.inputSize
        let tb = steps * batch
        guard tb > 0 else { return }
        // Input projections for every step at once: xw[t·B + b] = W_x x_t[b] + bias.
        // Not zero-filled first: the product overwrites every element (and for long inputs the
        // fill alone costs a pass over tens of MiB).
        var xw = [F](unsafeUninitializedCapacity: tb * g) { _, count in count = tb * g }
        x.withUnsafeBufferPointer { xp in
            pass.wxT.withUnsafeBufferPointer { wp in
                xw.withUnsafeMutableBufferPointer { op in
                    F.gemm(xp.baseAddress!, wp.baseAddress!, op.baseAddress!, m: tb, k: inSize, n: g, threads: threads)
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
        // Per-row work space of the step functions: gate pre-activations and one spare block.
        var scratch = [F](repeating: 0, count: (s.gateCount + 1) * hs)

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
                        F.gemm(hp.baseAddress!, wp.baseAddress!, op.baseAddress!, m: batch, k: p, n: recurrentWidth, threads: threads)
                    }
                }
            }
            switch s.cell {
            case .rnn: rnnStep(xw: xw, hw: hw, h: &h, rows: rows)
            case .gru: gruStep(xw: xw, hw: &hw, scratch: &scratch, rh: &rh, hwn: &hwn, h: &h, rows: rows)
            case .lstm: lstmStep(xw: xw, hw: hw, scratch: &scratch, h: &h, c: &c, m: &m, projected: &projected, rows: rows)
            }
            // Outputs of the rows that moved this step.
            for b in 0..<batch where rows[b] >= 0 {
                let base = (rows[b] * batch + b) * yStride + yOffset
                for k in 0..<p { y[base + k] = h[b * p + k] }
            }
        }
    }

    /// acc[j] += w[j] · v[j]: a peephole term.
    @inline(__always)
    func addProduct(_ acc: UnsafeMutablePointer<F>, _ w: [F], _ v: UnsafeMutablePointer<F>, _ count: Int) {
        w.withUnsafeBufferPointer { wp in
            for j in 0..<count { acc[j] = acc[j] + wp[j] * v[j] }
        }
    }

    /// Clips a run of pre-activations to [-clip, clip] (ONNX `clip`), if the layer has one.
    @inline(__always)
    func clipRun(_ p: UnsafeMutablePointer<F>, _ count: Int) {
        guard let c = pass.spec.activationClip else { return }
        let hi = F.from(c), lo = -hi
        for j in 0..<count { p[j] = Swift.min(Swift.max(p[j], lo), hi) }
    }

    func rnnStep(xw: [F], hw: [F], h: inout [F], rows: [Int]) {
        let hs = pass.spec.hiddenSize
        let act = pass.activations[0]
        xw.withUnsafeBufferPointer { xp in
            hw.withUnsafeBufferPointer { hp in
                h.withUnsafeMutableBufferPointer { hb in
                    for b in 0..<batch where rows[b] >= 0 {
                        let x = xp.baseAddress! + (rows[b] * batch + b) * hs
                        let r = hp.baseAddress! + b * hs
                        let out = hb.baseAddress! + b * hs
                        for j in 0..<hs { out[j] = x[j] + r[j] }
                        clipRun(out, hs)
                        F.activateRun(act, out, hs)
                    }
                }
            }
        }
    }

    func gruStep(xw: [F], hw: inout [F], scratch: inout [F], rh: inout [F], hwn: inout [F], h: inout [F], rows: [Int]) {
        let hs = pass.spec.hiddenSize
        let fAct = pass.activations[0], gAct = pass.activations[1]
        let resetAfter = pass.spec.resetAfter
        let width = resetAfter ? 3 * hs : 2 * hs
        // z and r of every moving row, in place in hw's first two blocks.
        xw.withUnsafeBufferPointer { xp in
            hw.withUnsafeMutableBufferPointer { hp in
                for b in 0..<batch where rows[b] >= 0 {
                    let x = xp.baseAddress! + (rows[b] * batch + b) * 3 * hs
                    let zr = hp.baseAddress! + b * width
                    for j in 0..<(2 * hs) { zr[j] = x[j] + zr[j] }
                    clipRun(zr, 2 * hs)
                    F.activateRun(fAct, zr, 2 * hs)
                }
            }
        }
        if !resetAfter {
            // Reset-before: the recurrent product of the candidate sees r ⊙ h.
            for b in 0..<batch {
                for j in 0..<hs { rh[b * hs + j] = rows[b] >= 0 ? hw[b * width + hs + j] * h[b * hs + j] : 0 }
            }
            rh.withUnsafeBufferPointer { rp in
                pass.whnT.withUnsafeBufferPointer { wp in
                    hwn.withUnsafeMutableBufferPointer { op in
                        F.gemm(rp.baseAddress!, wp.baseAddress!, op.baseAddress!, m: batch, k: hs, n: hs, threads: threads)
                    }
                }
            }
        }
        xw.withUnsafeBufferPointer { xp in
            hw.withUnsafeBufferPointer { hp in
                hwn.withUnsafeBufferPointer { np in
                    pass.recurrentBias.withUnsafeBufferPointer { rb in
                        h.withUnsafeMutableBufferPointer { hb in
                            scratch.withUnsafeMutableBufferPointer { nb in
                                let bhn = rb.baseAddress! + 2 * hs
                                let nv = nb.baseAddress!
                                for b in 0..<batch where rows[b] >= 0 {
                                    let x = xp.baseAddress! + (rows[b] * batch + b) * 3 * hs + 2 * hs
                                    let z = hp.baseAddress! + b * width
                                    let r = z + hs
                                    if resetAfter {
                                        let hn = z + 2 * hs
                                        for j in 0..<hs { nv[j] = x[j] + r[j] * (hn[j] + bhn[j]) }
                                    } else {
                                        let hn = np.baseAddress! + b * hs
                                        for j in 0..<hs { nv[j] = x[j] + (hn[j] + bhn[j]) }
                                    }
                                    clipRun(nv, hs)
                                    F.activateRun(gAct, nv, hs)
                                    let out = hb.baseAddress! + b * hs
                                    for j in 0..<hs { out[j] = (1 - z[j]) * nv[j] + z[j] * out[j] }
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    func lstmStep(xw: [F], hw: [F], scratch: inout [F], h: inout [F], c: inout [F], m: inout [F], projected: inout [F], rows: [Int]) {
        let s = pass.spec
        let hs = s.hiddenSize, p = s.outputSize, g = s.gateCount * hs
        let fAct = pass.activations[0], gAct = pass.activations[1], hAct = pass.activations[2]
        let coupled = s.lstm.coupled
        // Block offsets: IFGO or, coupled, FGO.
        let iOff = 0, fOff = coupled ? 0 : hs, gOff = coupled ? hs : 2 * hs, oOff = coupled ? 2 * hs : 3 * hs
        let cellClip = s.lstm.cellClip.map { F.from($0) }
        let hasProjection = s.lstm.projectionSize != nil
        // Pre-activations of the gates, then h(c_t), in the runner's work space. The loops
        // below have no branches inside, so that the compiler vectorises them.
        let outWidth = hs
        // Borrow h (or m) without copying it: swap it out, write through a pointer, swap back.
        var outBuffer: [F] = []
        if hasProjection { swap(&outBuffer, &m) } else { swap(&outBuffer, &h) }
        scratch.withUnsafeMutableBufferPointer { gb in
            let a = gb.baseAddress!
            let hc = a + g
            xw.withUnsafeBufferPointer { xp in
            hw.withUnsafeBufferPointer { hp in
            c.withUnsafeMutableBufferPointer { cb in
            outBuffer.withUnsafeMutableBufferPointer { ob in
                let peepI = coupled ? nil : pass.peepholeI, peepF = pass.peepholeF, peepO = pass.peepholeO
                for b in 0..<batch where rows[b] >= 0 {
                    let x = xp.baseAddress! + (rows[b] * batch + b) * g
                    let r = hp.baseAddress! + b * g
                    let cv = cb.baseAddress! + b * hs
                    for j in 0..<g { a[j] = x[j] + r[j] }
                    // Input and forget gates see c_{t-1}.
                    if let pf = peepF { addProduct(a + fOff, pf, cv, hs) }
                    if let pi = peepI { addProduct(a + iOff, pi, cv, hs) }
                    clipRun(a, coupled ? 2 * hs : 3 * hs)
                    if coupled {
                        F.activateRun(fAct, a + fOff, hs)
                    } else {
                        F.activateRun(fAct, a + iOff, 2 * hs)  // i and f are adjacent
                    }
                    F.activateRun(gAct, a + gOff, hs)
                    let f = a + fOff, gv = a + gOff
                    if coupled {
                        for j in 0..<hs { cv[j] = f[j] * cv[j] + (1 - f[j]) * gv[j] }
                    } else {
                        let i = a + iOff
                        for j in 0..<hs { cv[j] = f[j] * cv[j] + i[j] * gv[j] }
                    }
                    if let cc = cellClip { for j in 0..<hs { cv[j] = Swift.min(Swift.max(cv[j], -cc), cc) } }
                    // The output gate sees c_t.
                    if let po = peepO { addProduct(a + oOff, po, cv, hs) }
                    clipRun(a + oOff, hs)
                    F.activateRun(fAct, a + oOff, hs)
                    hc.update(from: cv, count: hs)
                    F.activateRun(hAct, hc, hs)
                    let o = a + oOff, out = ob.baseAddress! + b * outWidth
                    for j in 0..<hs { out[j] = o[j] * hc[j] }
                }
            }
            }
            }
            }
        }
        if hasProjection { swap(&outBuffer, &m) } else { swap(&outBuffer, &h) }
        guard hasProjection else { return }
        m.withUnsafeBufferPointer { mp in
            pass.projT.withUnsafeBufferPointer { wp in
                projected.withUnsafeMutableBufferPointer { op in
                    F.gemm(mp.baseAddress!, wp.baseAddress!, op.baseAddress!, m: batch, k: hs, n: p, threads: threads)
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
