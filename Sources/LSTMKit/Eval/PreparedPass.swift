import LSTMCore

/// One pass (direction) of one layer with its weights packed for the evaluator:
/// matrices packed into 16-column panels (see `packed`) once, so every step streams them linearly.
struct PreparedPass<F: EvalScalar>: Sendable {
    let spec: LayerSpec
    let reverse: Bool
    let activations: [Activation]
    /// W_x packed: G·H outputs, I inputs.
    let wxT: [F]
    /// W_h packed over the blocks computed before the reset gate is known: G·H outputs, or for
    /// a reset-before GRU only the z and r blocks (2H outputs); P inputs.
    let whT: PackedWeights<F>
    /// Reset-before GRU: W_hn packed (H outputs, H inputs), applied to r ⊙ h.
    let whnT: PackedWeights<F>
    /// Bias added to the input projection: b_x, plus b_h wherever the two can be summed.
    let inputBias: [F]
    /// Bias added inside the recurrent term (reset-after GRU n block: b_hn; else zeros).
    let recurrentBias: [F]
    let peepholeI: [F]?
    let peepholeF: [F]?
    let peepholeO: [F]?
    /// W_proj packed: P outputs, H inputs.
    let projT: PackedWeights<F>
    let learnedH0: [F]?
    let learnedC0: [F]?

    init(layer: Layer, passIndex d: Int) {
        let s = layer.spec
        let t = layer.passes[d]
        spec = s
        reverse = s.direction.passes[d] == .reverse
        activations = s.activations[d]
        let h = s.hiddenSize, g = s.gateCount * h, p = s.outputSize
        wxT = packed(F.tensorValues(t[.inputWeights]!), rows: g, cols: s.inputSize)
        let wh = F.tensorValues(t[.recurrentWeights]!)
        let bx = t[.inputBias].map { F.tensorValues($0) } ?? [F](repeating: 0, count: g)
        let bh = t[.recurrentBias].map { F.tensorValues($0) } ?? [F](repeating: 0, count: g)
        var inB = [F](repeating: 0, count: g)
        var recB = [F](repeating: 0, count: g)
        for r in 0..<g {
            // A GRU's b_hn stays apart: reset-after multiplies it by r, and reset-before adds it
            // after the recurrent product (kept apart so both forms follow CELLS.md literally).
            if s.cell == .gru && r >= 2 * h {
                inB[r] = bx[r]
                recB[r] = bh[r]
            } else {
                inB[r] = bx[r] + bh[r]
            }
        }
        inputBias = inB
        recurrentBias = recB
        if s.cell == .gru && !s.resetAfter {
            whT = PackedWeights(Array(wh[0..<(2 * h * p)]), rows: 2 * h, cols: p)
            whnT = PackedWeights(Array(wh[(2 * h * p)...]), rows: h, cols: p)
        } else {
            whT = PackedWeights(wh, rows: g, cols: p)
            whnT = PackedWeights([], rows: 0, cols: p)
        }
        peepholeI = t[.peepholeInput].map { F.tensorValues($0) }
        peepholeF = t[.peepholeForget].map { F.tensorValues($0) }
        peepholeO = t[.peepholeOutput].map { F.tensorValues($0) }
        projT = PackedWeights(t[.projection].map { F.tensorValues($0) } ?? [], rows: t[.projection] == nil ? 0 : p, cols: h)
        learnedH0 = t[.initialHidden].map { F.tensorValues($0) }
        learnedC0 = t[.initialCell].map { F.tensorValues($0) }
    }
}
