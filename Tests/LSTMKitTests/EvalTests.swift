import Foundation
import XCTest
@testable import LSTMCore
@testable import LSTMKit

/// The evaluator: hand-computed steps, f32 against f64, sequence lengths, initial states,
/// batch-first layout and determinism.
final class EvalTests: XCTestCase {
    func input(_ m: Model, steps: Int, batch: Int, seed: UInt64) -> RunInput {
        var rng = KitTest.RNG(seed)
        return RunInput(x: (0..<(steps * batch * m.inputSize)).map { _ in rng.uniform(1.5) }, steps: steps, batch: batch)
    }

    func randomStates(_ m: Model, batch: Int, cell: Bool, seed: UInt64) -> [[Double]] {
        var rng = KitTest.RNG(seed)
        return m.layers.map { l in
            let w = cell ? l.spec.hiddenSize : l.spec.outputSize
            return (0..<(l.spec.direction.count * batch * w)).map { _ in rng.uniform(0.8) }
        }
    }

    func maxDiff(_ a: [Double], _ b: [Double]) -> Double {
        XCTAssertEqual(a.count, b.count)
        return zip(a, b).map { abs($0 - $1) }.max() ?? 0
    }

    /// Row `r` of a row-major matrix with `w` columns.
    func row(_ a: [Double], _ r: Int, _ w: Int) -> [Double] { Array(a[(r * w)..<((r + 1) * w)]) }

    func run(_ m: Model, _ x: RunInput, _ p: Precision = .f64) throws -> RunOutput {
        try Evaluator(model: m, precision: p).run(x)
    }

    // MARK: hand-computed values

    func testRNNStepsByHand() throws {
        var m = KitTest.model([LayerSpec(cell: .rnn, inputSize: 1, hiddenSize: 1)])
        m.layers[0].passes[0] = [.inputWeights: ModelTensor([0.5], shape: [1, 1], dtype: .float64),
                                 .recurrentWeights: ModelTensor([-0.25], shape: [1, 1], dtype: .float64),
                                 .inputBias: ModelTensor([0.1], shape: [1], dtype: .float64),
                                 .recurrentBias: ModelTensor([0.2], shape: [1], dtype: .float64)]
        let out = try run(m, RunInput(x: [1, 2], steps: 2, batch: 1))
        let h1 = tanh(0.5 * 1 + 0.1 + 0.2)
        let h2 = tanh(0.5 * 2 + 0.1 - 0.25 * h1 + 0.2)
        XCTAssertEqual(out.y[0], h1, accuracy: 1e-15)
        XCTAssertEqual(out.y[1], h2, accuracy: 1e-15)
        XCTAssertEqual(out.finalH[0][0], h2, accuracy: 1e-15)
        // Reverse: the pass starts at the last step, outputs stay at their time index.
        m.layers[0].spec.direction = .reverse
        let r = try run(m, RunInput(x: [1, 2], steps: 2, batch: 1))
        let g1 = tanh(0.5 * 2 + 0.3)
        let g0 = tanh(0.5 * 1 + 0.1 - 0.25 * g1 + 0.2)
        XCTAssertEqual(r.y[1], g1, accuracy: 1e-15)
        XCTAssertEqual(r.y[0], g0, accuracy: 1e-15)
        XCTAssertEqual(r.finalH[0][0], g0, accuracy: 1e-15)
    }

    func testLSTMWithPeepholesProjectionAndClipsByHand() throws {
        // H = 1, I = 1, gate blocks i, f, g, o.
        let wx = [0.3, -0.2, 0.7, 0.1], wh = [0.5, 0.4, -0.3, 0.2], bx = [0.05, 0.3, -0.1, 0.0], bh = [0.0, 0.1, 0.02, -0.05]
        let pi = 0.25, pf = -0.5, po = 0.75
        var m = KitTest.model([LayerSpec(cell: .lstm, inputSize: 1, hiddenSize: 1, lstm: LSTMOptions(peepholes: [.input, .forget, .output]))])
        m.layers[0].passes[0] = [.inputWeights: ModelTensor(wx, shape: [4, 1], dtype: .float64), .recurrentWeights: ModelTensor(wh, shape: [4, 1], dtype: .float64),
                                 .inputBias: ModelTensor(bx, shape: [4], dtype: .float64), .recurrentBias: ModelTensor(bh, shape: [4], dtype: .float64),
                                 .peepholeInput: ModelTensor([pi], shape: [1], dtype: .float64), .peepholeForget: ModelTensor([pf], shape: [1], dtype: .float64),
                                 .peepholeOutput: ModelTensor([po], shape: [1], dtype: .float64)]
        func sig(_ v: Double) -> Double { 1 / (1 + exp(-v)) }
        let xs = [0.9, -1.2, 0.4]
        var h = 0.2, c = -0.3
        var ys: [Double] = []
        for x in xs {
            func pre(_ k: Int) -> Double { wx[k] * x + bx[k] + wh[k] * h + bh[k] }
            let i = sig(pre(0) + pi * c), f = sig(pre(1) + pf * c), g = tanh(pre(2))
            c = f * c + i * g
            let o = sig(pre(3) + po * c)
            h = o * tanh(c)
            ys.append(h)
        }
        let out = try run(m, RunInput(x: xs, steps: 3, batch: 1, initialH: [[0.2]], initialC: [[-0.3]]))
        for k in 0..<3 { XCTAssertEqual(out.y[k], ys[k], accuracy: 1e-14, "step \(k)") }
        XCTAssertEqual(out.finalC?[0][0] ?? .nan, c, accuracy: 1e-14)

        // Coupled: W has blocks f, g, o and i = 1 - f.
        var cm = KitTest.model([LayerSpec(cell: .lstm, inputSize: 1, hiddenSize: 1, lstm: LSTMOptions(coupled: true))])
        cm.layers[0].passes[0] = [.inputWeights: ModelTensor(Array(wx[1...]), shape: [3, 1], dtype: .float64),
                                  .recurrentWeights: ModelTensor(Array(wh[1...]), shape: [3, 1], dtype: .float64),
                                  .inputBias: ModelTensor(Array(bx[1...]), shape: [3], dtype: .float64),
                                  .recurrentBias: ModelTensor(Array(bh[1...]), shape: [3], dtype: .float64)]
        let f0 = sig(wx[1] * 0.9 + bx[1] + bh[1]), g0 = tanh(wx[2] * 0.9 + bx[2] + bh[2]), o0 = sig(wx[3] * 0.9 + bx[3] + bh[3])
        let c0 = (1 - f0) * g0
        XCTAssertEqual(try run(cm, RunInput(x: [0.9], steps: 1, batch: 1)).y[0], o0 * tanh(c0), accuracy: 1e-15)

        // Cell clip bounds c_t; projection h = clip(W_proj (o * tanh c)).
        var pm = KitTest.model([LayerSpec(cell: .lstm, inputSize: 1, hiddenSize: 1,
                                          lstm: LSTMOptions(projectionSize: 2, cellClip: 0.1, projectionClip: 0.05))])
        pm.layers[0].passes[0] = [.inputWeights: ModelTensor([0, 3, 3, 3], shape: [4, 1], dtype: .float64),
                                  .recurrentWeights: ModelTensor([Double](repeating: 0, count: 8), shape: [4, 2], dtype: .float64),
                                  .inputBias: ModelTensor([10, 0, 0, 0], shape: [4], dtype: .float64),
                                  .recurrentBias: ModelTensor([0, 0, 0, 0], shape: [4], dtype: .float64),
                                  .projection: ModelTensor([1, -0.01], shape: [2, 1], dtype: .float64)]
        let p = try run(pm, RunInput(x: [1], steps: 1, batch: 1))
        let cc = min(sig(10) * tanh(3), 0.1)
        let hh = sig(3) * tanh(cc)
        XCTAssertEqual(p.finalC?[0][0] ?? .nan, 0.1, accuracy: 1e-15, "c is clipped")
        XCTAssertEqual(p.y[0], 0.05, accuracy: 1e-15, "the projection is clipped")
        XCTAssertEqual(p.y[1], -0.01 * hh, accuracy: 1e-15)
    }

    func testGRUResetBeforeAndAfterByHand() throws {
        let wx = [0.4, -0.6, 0.8], wh = [0.3, 0.9, -0.7], bx = [0.1, 0.2, -0.3], bh = [-0.2, 0.05, 0.4]
        func sig(_ v: Double) -> Double { 1 / (1 + exp(-v)) }
        let xs = [1.1, -0.4]
        for after in [false, true] {
            var m = KitTest.model([LayerSpec(cell: .gru, inputSize: 1, hiddenSize: 1, resetAfter: after)])
            m.layers[0].passes[0] = [.inputWeights: ModelTensor(wx, shape: [3, 1], dtype: .float64), .recurrentWeights: ModelTensor(wh, shape: [3, 1], dtype: .float64),
                                     .inputBias: ModelTensor(bx, shape: [3], dtype: .float64), .recurrentBias: ModelTensor(bh, shape: [3], dtype: .float64)]
            var h = 0.6
            var ys: [Double] = []
            for x in xs {
                let z = sig(wx[0] * x + bx[0] + wh[0] * h + bh[0])
                let r = sig(wx[1] * x + bx[1] + wh[1] * h + bh[1])
                let n = after ? tanh(wx[2] * x + bx[2] + r * (wh[2] * h + bh[2]))
                              : tanh(wx[2] * x + bx[2] + wh[2] * (r * h) + bh[2])
                h = (1 - z) * n + z * h
                ys.append(h)
            }
            let out = try run(m, RunInput(x: xs, steps: 2, batch: 1, initialH: [[0.6]]))
            XCTAssertEqual(out.y[0], ys[0], accuracy: 1e-14, "reset_after \(after)")
            XCTAssertEqual(out.y[1], ys[1], accuracy: 1e-14, "reset_after \(after)")
        }
    }

    // MARK: properties on random models

    /// The f32 path against the independent NumPy float64 reference (tools/reference_numpy.py,
    /// written from the equations, sharing no code with the evaluator) on every golden case:
    /// a bug in the equations the two Swift paths share would show here.
    func testF32MatchesTheIndependentF64ReferenceOnEveryGoldenCase() throws {
        XCTAssertGreaterThanOrEqual(try checkF32AgainstTheNumpyReference(label: "auto"), 28,
                                    "every numpy-referenced golden case was checked")
    }

    /// The same on every kernel path this CPU has, forced in turn (LSTMTOOL_KERNEL's switch):
    /// a machine without AVX-512, or without AVX2 and FMA, runs the avx2 or portable path end to
    /// end, gate steps and threads included, so each must pass on its own.
    func testEveryKernelPathMatchesTheIndependentF64Reference() throws {
        defer { KernelPath.force(nil) }
        XCTAssertTrue(KernelPath.supported.contains(.portable))
        for path in KernelPath.supported {
            XCTAssertTrue(KernelPath.force(path), path.name)
            XCTAssertGreaterThanOrEqual(try checkF32AgainstTheNumpyReference(label: path.name), 28,
                                        "\(path.name): every numpy-referenced golden case was checked")
        }
    }

    /// Verifies f32 against each golden case's numpy float64 outputs; returns how many ran.
    private func checkF32AgainstTheNumpyReference(label: String) throws -> Int {
        var ran = 0
        for file in try GoldenCase.discover(under: KitTest.path("fixtures/golden")) {
            var g = try GoldenCase(path: file)
            guard var reference = g.expected[.f64], reference.reference?.contains("numpy") == true else { continue }
            // float32 rounding through T steps; the f32 goldens themselves use 1e-5 / 1e-4.
            reference.atol = 3e-5
            reference.rtol = 1e-4
            g.expected[.f32] = reference
            let r = Verifier.verify(g, precision: .f32, modelPath: nil)
            XCTAssertEqual(r.status, .pass, "\(label) \(g.name): \(r.error ?? r.outputs.filter { !$0.passed }.map(\.name).joined(separator: ", "))")
            ran += 1
        }
        return ran
    }

    /// Half-precision weights evaluate the same values widened exactly.
    func testHalfPrecisionWeightsAreWidenedExactly() throws {
        for (vi, variant) in KitTest.variants.enumerated() {
            var x = input(KitTest.model(variant.specs), steps: 9, batch: 3, seed: UInt64(vi))
            x.lengths = [9, 5, 1]
            for dtype in [DType.bfloat16, .float16] {
                let half = KitTest.model(variant.specs, dtype: dtype, seed: UInt64(100 + vi))
                var widened = half
                for (li, layer) in half.layers.enumerated() {
                    for (d, pass) in layer.passes.enumerated() { widened.layers[li].passes[d] = pass.mapValues { $0.converted(to: .float64) } }
                }
                XCTAssertNotEqual(half.layers[0].passes[0][.inputWeights]!.bytes, widened.layers[0].passes[0][.inputWeights]!.bytes)
                XCTAssertEqual(try run(half, x).y, try run(widened, x).y, "\(variant.name) \(dtype)")
            }
        }
    }

    /// Each sequence of a batch computes what it computes alone, truncated to its length; past
    /// its length its outputs are zero; its final state is the state at its last valid step;
    /// a sequence of length 0 gets zeros and keeps its initial state. Reverse passes start at
    /// each sequence's own last step.
    func testSequenceLengths() throws {
        let specs: [[LayerSpec]] = [KitTest.variants[12].specs, KitTest.variants[13].specs, KitTest.variants[10].specs,
                                    KitTest.variants[7].specs, KitTest.variants[1].specs]
        for (si, s) in specs.enumerated() {
            let m = KitTest.model(s, seed: UInt64(si + 1))
            let t = 6, b = 4, lengths = [6, 3, 0, 1]
            var x = input(m, steps: t, batch: b, seed: 9)
            x.lengths = lengths
            x.initialH = randomStates(m, batch: b, cell: false, seed: 3)
            let anyLSTM = m.layers.contains { $0.spec.cell == .lstm }
            if anyLSTM { x.initialC = randomStates(m, batch: b, cell: true, seed: 4) }
            for precision in Precision.allCases {
                let tol = precision == .f64 ? 1e-13 : 1e-6
                let out = try run(m, x, precision)
                let w = m.outputSize, i = m.inputSize
                for (bi, len) in lengths.enumerated() {
                    func slice(_ states: [[Double]]?, cell: Bool) -> [[Double]]? {
                        guard let states else { return nil }
                        var result: [[Double]] = []
                        for (li, v) in states.enumerated() {
                            let spec = m.layers[li].spec
                            let width = cell ? spec.hiddenSize : spec.outputSize
                            var part: [Double] = []
                            if !v.isEmpty {  // no cell state in a non-LSTM layer
                                for d in 0..<spec.direction.count { part += row(v, d * b + bi, width) }
                            }
                            result.append(part)
                        }
                        return result
                    }
                    for ti in len..<t {
                        XCTAssertEqual(row(out.y, ti * b + bi, w), [Double](repeating: 0, count: w),
                                       "model \(si) \(precision): zeros past length \(len) at step \(ti)")
                    }
                    let hn = slice(out.finalH, cell: false)!
                    let cn = slice(out.finalC, cell: true)
                    if len == 0 {
                        // (f32 keeps the initial state rounded to float32.)
                        for (li, h) in hn.enumerated() {
                            XCTAssertLessThan(maxDiff(h, slice(x.initialH, cell: false)![li]), tol / 10, "length 0 keeps its initial h")
                        }
                        for (li, layer) in m.layers.enumerated() where layer.spec.cell == .lstm {
                            XCTAssertLessThan(maxDiff(cn![li], slice(x.initialC, cell: true)![li]), tol / 10, "length 0 keeps its initial c")
                        }
                        continue
                    }
                    var xs: [Double] = []
                    for ti in 0..<len { xs += row(x.x, ti * b + bi, i) }
                    var alone = RunInput(x: xs, steps: len, batch: 1)
                    alone.initialH = slice(x.initialH, cell: false)
                    alone.initialC = slice(x.initialC, cell: true)
                    let single = try run(m, alone, precision)
                    for ti in 0..<len {
                        XCTAssertLessThan(maxDiff(row(out.y, ti * b + bi, w), row(single.y, ti, w)),
                                          tol, "model \(si) \(precision) batch \(bi) step \(ti)")
                    }
                    for (li, h) in hn.enumerated() { XCTAssertLessThan(maxDiff(h, single.finalH[li]), tol, "model \(si) final h layer \(li)") }
                    if let cn, let sc = single.finalC {
                        for (li, c) in cn.enumerated() { XCTAssertLessThan(maxDiff(c, sc[li]), tol, "model \(si) final c layer \(li)") }
                    }
                }
            }
        }
    }

    func testLearnedInitialStatesAreUsedOnlyWhenNoneIsGiven() throws {
        for spec in [KitTest.variants[8].specs, KitTest.variants[10].specs] {
            let m = KitTest.model(spec, seed: 5)
            let b = 2
            let x = input(m, steps: 4, batch: b, seed: 6)
            let learned = try run(m, x)
            // The learned states given explicitly (broadcast over the batch) give the same outputs.
            var explicit = x
            explicit.initialH = m.layers.map { l in l.passes.flatMap { p in (0..<b).flatMap { _ in p[.initialHidden]!.doubles() } } }
            if m.layers[0].spec.cell == .lstm {
                explicit.initialC = m.layers.map { l in l.passes.flatMap { p in (0..<b).flatMap { _ in p[.initialCell]!.doubles() } } }
            }
            XCTAssertEqual(try run(m, explicit).y, learned.y)
            // Given states win over the learned ones: zeros give what a model without learned states gives.
            var zeros = x
            zeros.initialH = randomStates(m, batch: b, cell: false, seed: 1).map { $0.map { _ in 0 } }
            if m.layers[0].spec.cell == .lstm { zeros.initialC = randomStates(m, batch: b, cell: true, seed: 1).map { $0.map { _ in 0 } } }
            var plain = m
            for li in plain.layers.indices {
                plain.layers[li].spec.hasInitialState = false
                for d in plain.layers[li].passes.indices {
                    plain.layers[li].passes[d][.initialHidden] = nil
                    plain.layers[li].passes[d][.initialCell] = nil
                }
            }
            let withZeros = try run(m, zeros).y
            XCTAssertEqual(withZeros, try run(plain, x).y)
            XCTAssertGreaterThan(maxDiff(withZeros, learned.y), 1e-3, "the learned states matter")
        }
    }

    func testBatchFirstLayoutIsATranspose() throws {
        let dir = KitTest.tempDir(self)
        let m = KitTest.model(KitTest.variants[12].specs)
        let t = 5, b = 3, i = m.inputSize
        let x = input(m, steps: t, batch: b, seed: 2)
        var bf = [Double](repeating: 0, count: x.x.count)
        for ti in 0..<t { for bi in 0..<b { for k in 0..<i { bf[(bi * t + ti) * i + k] = x.x[(ti * b + bi) * i + k] } } }
        KitTest.write(Npy.encode(NpyArray(kind: .float64, shape: [t, b, i], values: x.x)), to: dir + "/tm.npy")
        KitTest.write(Npy.encode(NpyArray(kind: .float64, shape: [b, t, i], values: bf)), to: dir + "/bf.npy")
        let tm = try RunIO.readInput(dir + "/tm.npy", model: m, batchFirst: false)
        let fb = try RunIO.readInput(dir + "/bf.npy", model: m, batchFirst: true)
        XCTAssertEqual(tm.x, fb.x)
        XCTAssertEqual([fb.steps, fb.batch], [t, b])
        let out = try run(m, fb)
        let ytm = RunIO.outputArray(out, input: fb, model: m, precision: .f64, batchFirst: false)
        let ybf = RunIO.outputArray(out, input: fb, model: m, precision: .f64, batchFirst: true)
        let w = m.outputSize
        XCTAssertEqual(ybf.shape, [b, t, w])
        XCTAssertEqual(ytm.shape, [t, b, w])
        for ti in 0..<t { for bi in 0..<b { for k in 0..<w {
            XCTAssertEqual(ybf.values[(bi * t + ti) * w + k], ytm.values[(ti * b + bi) * w + k])
        } } }
        // A batch-first input read as time-major is refused or differs: the flag matters.
        XCTAssertThrowsError(try RunIO.readInput(dir + "/bf.npy", model: KitTest.model([LayerSpec(cell: .rnn, inputSize: 4, hiddenSize: 2)]), batchFirst: true))
    }

    /// The f64 reference path computes in a fixed order without fused multiply-add, so its
    /// results are the same bits on every run, build and machine. The pins in
    /// fixtures/regression/f64 were written by `lstmtool run --precision f64`
    /// (tools/make_f64_pins.sh); a change of operation order, of libm, or an FMA contracted
    /// by the compiler changes bits and fails here. They are also checked against the
    /// independent NumPy reference, so the pins are known to be right, not only stable.
    func testF64ResultsAreThePinnedBits() throws {
        let pins = KitTest.path("fixtures/regression/f64")
        let cases = try FileManager.default.contentsOfDirectory(atPath: pins).filter { $0.hasSuffix(".y.npy") }.sorted()
        XCTAssertGreaterThanOrEqual(cases.count, 6)
        for file in cases {
            let name = String(file.dropLast(".y.npy".count))
            let g = try GoldenCase(path: KitTest.path("fixtures/golden/\(name)"))
            let model = try ModelFormats.read(g.resolve(g.model!)).model
            var x = try RunIO.readInput(g.resolve(g.inputs["input"]!), model: model, batchFirst: g.batchFirst)
            if let l = g.inputs["sequence_lengths"] { x.lengths = try RunIO.readLengths(g.resolve(l), batch: x.batch, steps: x.steps) }
            if let h = g.inputs["initial_h"] { x.initialH = try RunIO.readStates(g.resolve(h), model: model, batch: x.batch, cell: false) }
            if let c = g.inputs["initial_c"] { x.initialC = try RunIO.readStates(g.resolve(c), model: model, batch: x.batch, cell: true) }
            let out = try run(model, x, .f64)
            let y = RunIO.outputArray(out, input: x, model: model, precision: .f64, batchFirst: g.batchFirst)
            let pinned = try Npy.decode(KitTest.read(pins + "/" + file), name: file)
            XCTAssertEqual(y.shape, pinned.shape, name)
            XCTAssertEqual(y.values.map(\.bitPattern), pinned.values.map(\.bitPattern), "\(name): f64 bits changed")
            let numpy = try Npy.decode(KitTest.read(g.resolve(g.expected[.f64]!.outputs["y"]!)), name: "y64")
            XCTAssertLessThan(maxDiff(pinned.values, numpy.values), 1e-12, "\(name): the pin agrees with numpy")
        }
    }

    func testWrongInputShapesAreRefusedWithTheExpectedShape() throws {
        let m = KitTest.model(KitTest.variants[12].specs)
        XCTAssertThrowsError(try run(m, RunInput(x: [1, 2], steps: 1, batch: 1))) {
            XCTAssertTrue(($0 as? LSTMError)?.message.contains("[1, 1, 3]") ?? false, "\($0)")
        }
        var x = input(m, steps: 2, batch: 2, seed: 1)
        x.lengths = [3, 1]
        XCTAssertThrowsError(try run(m, x)) { XCTAssertTrue(($0 as? LSTMError)?.message.contains("outside 0...2") ?? false, "\($0)") }
        x.lengths = nil
        x.initialH = [[0]]
        XCTAssertThrowsError(try run(m, x)) { XCTAssertEqual(($0 as? LSTMError)?.kind, .shape) }
        x.initialH = randomStates(m, batch: 2, cell: false, seed: 1)
        x.initialH![1].removeLast()
        XCTAssertThrowsError(try run(m, x)) { XCTAssertTrue(($0 as? LSTMError)?.message.contains("expected [2, 2, 4]") ?? false, "\($0)") }
    }

    func testGoldenFixturesPassAtBothPrecisions() throws {
        var ran = 0
        for root in ["fixtures/golden", "fixtures/pytorch"] {
            for file in try GoldenCase.discover(under: KitTest.path(root)) {
                let g = try GoldenCase(path: file)
                for p in Precision.allCases where g.expected[p] != nil {
                    let r = Verifier.verify(g, precision: p, modelPath: nil)
                    XCTAssertEqual(r.status, .pass, "\(g.name) \(p): \(r.error ?? r.outputs.filter { !$0.passed }.map(\.name).joined())")
                    ran += 1
                }
            }
        }
        XCTAssertGreaterThanOrEqual(ran, 70)
    }

    /// The f32 matrix products split their columns over threads when the work is large; every
    /// element is still summed by one thread in the same order, so the outputs must be
    /// bitwise identical for any thread count.
    /// B = 7 reaches the split of each step's product by column panels; B = 40 the split of
    /// the batch rows over threads (from 16 rows per thread).
    /// Bidirectional LSTMs at B = 7 (per-step panel split, passes on two threads) and B = 40 (the
    /// batch split); unidirectional LSTM and GRU at B = 3 with unequal lengths (threads sharing
    /// each step by unit ranges, `PassRunner.recurTogether`); LSTM at B = 9 and reverse GRU at
    /// B = 13 with unequal lengths (slices of a few rows after input projections shared by panels).
    func testF32OutputsDoNotDependOnTheThreadCount() throws {
        for b in [7, 40] { try checkThreadIndependence(batch: b) }
        try checkThreadIndependence(batch: 3, cell: .lstm, direction: .forward, lengths: [30, 17, 0])
        try checkThreadIndependence(batch: 3, cell: .gru, direction: .reverse, lengths: [9, 30, 30])
        // B = 9 and 13: slices of a few rows (W_h of 144 KiB), the input projections shared first.
        try checkThreadIndependence(batch: 9, cell: .lstm, direction: .forward)
        try checkThreadIndependence(batch: 13, cell: .gru, direction: .reverse, lengths: (0..<13).map { ($0 * 11) % 31 })
        // B = 170: the batch split again, with unequal lengths (some rows end at step 0).
        try checkThreadIndependence(batch: 170, cell: .lstm, direction: .forward, lengths: (0..<170).map { ($0 * 7) % 31 })
    }

    func checkThreadIndependence(batch b: Int, cell: CellFamily = .lstm, direction: Direction = .bidirectional,
                                 lengths: [Int]? = nil) throws {
        let dir = KitTest.tempDir(self)
        var rng = KitTest.RNG(5)
        let h = 96, i = 64, t = 30, gates = cell == .lstm ? 4 : 3
        func uniform(_ n: Int, _ scale: Double) -> [Float] { (0..<n).map { _ in Float(rng.uniform(scale)) } }
        var spec = LayerSpec(cell: cell, inputSize: i, hiddenSize: h, direction: direction)
        if cell == .gru { spec.resetAfter = true }
        func pass() -> [TensorRole: ModelTensor] {
            [.inputWeights: ModelTensor(uniform(gates * h * i, 0.2), shape: [gates * h, i]),
             .recurrentWeights: ModelTensor(uniform(gates * h * h, 0.2), shape: [gates * h, h]),
             .inputBias: ModelTensor(uniform(gates * h, 0.1), shape: [gates * h]),
             .recurrentBias: ModelTensor(uniform(gates * h, 0.1), shape: [gates * h])]
        }
        let d = direction == .bidirectional ? 2 : 1
        try ModelWriter.write(Model(layers: [Layer(spec: spec, passes: (0..<d).map { _ in pass() })]), to: dir + "/m.lstm")
        KitTest.write(Npy.encode(NpyArray(kind: .float32, shape: [t, b, i], values: uniform(t * b * i, 1).map(Double.init))), to: dir + "/x.npy")
        var extra: [String] = []
        if let l = lengths {
            KitTest.write(Npy.encode(NpyArray(kind: .int64, shape: [b], values: l.map(Double.init))), to: dir + "/len.npy")
            extra = ["--sequence-lengths", dir + "/len.npy"]
        }
        let states = cell == .lstm ? ["y", "h", "c"] : ["y", "h"]
        var outputs: [Data] = []
        for threads in ["1", "2", "3"] {
            var args = ["run", dir + "/m.lstm", "--input", dir + "/x.npy", "--output", dir + "/y\(threads).npy",
                        "--final-h", dir + "/h\(threads).npy"] + extra
            if cell == .lstm { args += ["--final-c", dir + "/c\(threads).npy"] }
            let r = try KitTest.run(args, environment: ["LSTMTOOL_THREADS": threads])
            XCTAssertEqual(r.status, 0, r.stderr)
            for name in states {
                outputs.append(try Data(contentsOf: URL(fileURLWithPath: dir + "/\(name)\(threads).npy")))
            }
        }
        let n = states.count
        XCTAssertEqual(outputs.count, 3 * n)
        XCTAssertEqual(Array(outputs[0..<n]), Array(outputs[n..<(2 * n)]), "\(cell) \(direction) B=\(b): 2 threads")
        XCTAssertEqual(Array(outputs[0..<n]), Array(outputs[(2 * n)..<(3 * n)]), "\(cell) \(direction) B=\(b): 3 threads")
        // And they are the right numbers: the f64 reference agrees to float32 rounding.
        let r64 = try KitTest.run(["run", dir + "/m.lstm", "--input", dir + "/x.npy", "--output", dir + "/y64.npy", "--precision", "f64"] + extra)
        XCTAssertEqual(r64.status, 0, r64.stderr)
        let y32 = try Npy.decode([UInt8](outputs[0]), name: "y1").values
        let y64 = try Npy.decode([UInt8](try Data(contentsOf: URL(fileURLWithPath: dir + "/y64.npy"))), name: "y64").values
        XCTAssertEqual(y32.count, t * b * d * h)
        XCTAssertLessThan(zip(y32, y64).map { abs($0 - $1) }.max()!, 1e-5)
    }
}
