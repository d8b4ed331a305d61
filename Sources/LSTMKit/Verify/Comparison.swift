import LSTMCore

/// The comparison of one output with its golden: Polygraphy's vocabulary (max/mean absolute
/// and relative error, where the worst one is), plus what no peer reports: the error per time
/// step and the first step that leaves tolerance.
package struct OutputComparison: Sendable {
    package var name: String
    package var shape: [Int]
    package var atol: Double
    package var rtol: Double
    package var passed: Bool
    package var shapeMismatch: String?
    package var maxAbsError: Double
    package var meanAbsError: Double
    package var maxRelError: Double
    package var failingElements: Int
    /// NaN or Inf in our output where the golden is finite (or the other way round).
    package var nonFiniteMismatches: Int
    /// Index of the element furthest outside tolerance (or of the largest error).
    package var worstIndex: [Int]
    package var worstGot: Double
    package var worstWant: Double
    /// Names of the axes of `worstIndex` ("step", "batch", "unit", …).
    package var axes: [String]
    /// Largest absolute error at each time step (outputs with a time axis only).
    package var perStepMaxAbs: [Double]?
    package var firstFailingStep: Int?
    /// The smallest atol that would pass with this rtol.
    package var atolNeeded: Double
    /// Error profile along the time axis (or, for states, the first axis) for plots: per index,
    /// the largest finite |got − golden|, the tolerance atol + rtol·|golden| of that element,
    /// and the first index holding a failing element.
    package var profileAxis: String = ""
    package var profileMaxAbs: [Double] = []
    package var profileAllowance: [Double] = []
    package var profileFirstFailing: Int?

    package init(name: String, got: [Double], gotShape: [Int], want: [Double], wantShape: [Int], axes: [String],
                timeAxis: Int?, atol: Double, rtol: Double) {
        self.name = name
        shape = wantShape
        self.atol = atol
        self.rtol = rtol
        self.axes = axes
        maxAbsError = 0
        meanAbsError = 0
        maxRelError = 0
        failingElements = 0
        nonFiniteMismatches = 0
        worstIndex = []
        worstGot = 0
        worstWant = 0
        atolNeeded = 0
        guard gotShape == wantShape, got.count == want.count else {
            shapeMismatch = "shape \(gotShape), golden \(wantShape)"
            passed = false
            return
        }
        var strides = [Int](repeating: 1, count: wantShape.count)
        for k in stride(from: wantShape.count - 2, through: 0, by: -1) { strides[k] = strides[k + 1] * wantShape[k + 1] }
        let steps = timeAxis.map { wantShape[$0] } ?? 0
        var perStep = [Double](repeating: 0, count: steps)
        let profAxis = timeAxis ?? 0
        let profCount = wantShape.isEmpty ? 0 : wantShape[profAxis]
        var profMax = [Double](repeating: -1, count: profCount)
        var profAllow = [Double](repeating: atol, count: profCount)
        var profFail: Int?
        var firstFail: Int?
        var worstScore = -1.0
        var worstErr = -1.0
        var worst = 0
        var sum = 0.0
        for i in 0..<want.count {
            let g = got[i], w = want[i]
            let step = timeAxis.map { (i / strides[$0]) % wantShape[$0] }
            var fails = false
            var score: Double
            var errHere: Double
            if !g.isFinite || !w.isFinite {
                let same = (g.isNaN && w.isNaN) || g == w
                if !same {
                    nonFiniteMismatches += 1
                    fails = true
                    score = .infinity
                    errHere = .infinity
                } else {
                    score = 0
                    errHere = 0
                }
            } else {
                let err = Swift.abs(g - w)
                errHere = err
                sum += err
                maxAbsError = Swift.max(maxAbsError, err)
                if w != 0 { maxRelError = Swift.max(maxRelError, err / Swift.abs(w)) }
                let allowed = atol + rtol * Swift.abs(w)
                fails = err > allowed
                score = allowed > 0 ? err / allowed : (err > 0 ? .infinity : 0)
                atolNeeded = Swift.max(atolNeeded, err - rtol * Swift.abs(w))
                if let s = step { perStep[s] = Swift.max(perStep[s], err) }
                if profCount > 0 {
                    let pi = (i / strides[profAxis]) % profCount
                    if err > profMax[pi] {
                        profMax[pi] = err
                        profAllow[pi] = allowed
                    }
                }
            }
            if fails {
                failingElements += 1
                if profCount > 0 {
                    let pi = (i / strides[profAxis]) % profCount
                    if profFail == nil || pi < profFail! { profFail = pi }
                }
                if let s = step, firstFail == nil || s < firstFail! { firstFail = s }
            }
            // Ties (every failing element scores infinity when atol = rtol = 0) go to the larger error.
            if score > worstScore || (score == worstScore && errHere > worstErr) {
                worstScore = score
                worstErr = errHere
                worst = i
            }
        }
        meanAbsError = want.isEmpty ? 0 : sum / Double(want.count)
        worstIndex = wantShape.indices.map { (worst / strides[$0]) % Swift.max(wantShape[$0], 1) }
        worstGot = got.isEmpty ? 0 : got[worst]
        worstWant = want.isEmpty ? 0 : want[worst]
        perStepMaxAbs = timeAxis != nil ? perStep : nil
        firstFailingStep = firstFail
        profileAxis = axes.indices.contains(profAxis) ? axes[profAxis] : "index"
        profileMaxAbs = profMax.map { Swift.max($0, 0) }
        profileAllowance = profAllow
        profileFirstFailing = profFail
        passed = failingElements == 0
    }

    /// `hn`/`cn` of shape `[L·D, B, W]`: the largest finite |got − golden| of each layer and
    /// direction (layer-major, direction-minor); nil for `y`, a shape mismatch, or states
    /// flattened because the layers differ in width.
    package var perLayerDirectionMaxAbs: [Double]? {
        guard shapeMismatch == nil, perStepMaxAbs == nil, shape.count == 3, axes.first == "layer·direction" else { return nil }
        return profileMaxAbs
    }

    package var location: String {
        zip(axes, worstIndex).map { "\($0) \($1)" }.joined(separator: ", ")
    }
}
