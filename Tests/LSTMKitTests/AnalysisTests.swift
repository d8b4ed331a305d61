import Foundation
import XCTest
@testable import LSTMCore
@testable import LSTMKit

/// `lstmtool analyze`: its own f64 forward pass against the golden outputs, its reverse-mode
/// gradients against central finite differences and against JAX (fixtures/analysis/), and
/// the RNN/LSTM/GRU memory demonstration.
final class AnalysisTests: XCTestCase {
    func load(_ path: String) throws -> Model {
        try ModelFormats.read(KitTest.path(path)).model
    }

    // MARK: the taped forward pass is an independent f64 evaluator

    func testTapedForwardMatchesFloat64Goldens() throws {
        let cases = ["lstm", "lstm_peephole_all", "lstm_peephole_subset", "lstm_coupled", "lstm_projection", "lstm_projection_clip",
                     "lstm_cell_clip", "lstm_clip", "lstm_activations", "lstm_2l_bidirectional", "lstm_learned_initial_state",
                     "lstm_initial_states", "lstm_float16_weights", "gru_reset_before", "gru_reset_after", "gru_clip",
                     "gru_activations", "gru_no_bias", "gru_2l_bidirectional", "gru_float64_weights", "rnn_tanh", "rnn_relu",
                     "rnn_activations", "rnn_reverse", "rnn_elu_thresholded_relu"]
        var worstAll = 0.0
        for name in cases {
            let dir = "fixtures/golden/\(name)/"
            let g = try GoldenCase(path: KitTest.path(dir))
            let m = try load(dir + g.model!)
            let x = try RunIO.readInput(KitTest.path(dir + g.inputs["input"]!), model: m, batchFirst: false)
            let h0 = try g.inputs["initial_h"].map { try RunIO.readStates(KitTest.path(dir + $0), model: m, batch: x.batch, cell: false) }
            let c0 = try g.inputs["initial_c"].map { try RunIO.readStates(KitTest.path(dir + $0), model: m, batch: x.batch, cell: true) }
            let tm = TapedModel(model: m, x: x.x, steps: x.steps, batch: x.batch, initialH: h0, initialC: c0)
            let want = try RunIO.readArray(KitTest.path(dir + g.expected[.f64]!.outputs["y"]!))
            XCTAssertEqual(want.values.count, tm.y.count, name)
            var worst = 0.0
            for (a, b) in zip(tm.y, want.values) { worst = Swift.max(worst, Swift.abs(a - b) / (1 + Swift.abs(b))) }
            XCTAssertLessThan(worst, 1e-12, "\(name): taped forward pass vs \(g.expected[.f64]!.reference ?? "golden")")
            worstAll = Swift.max(worstAll, worst)
        }
        print("taped forward pass vs float64 goldens: \(cases.count) cases, worst |Δ|/(1+|y|) \(worstAll)")
    }

    // MARK: gradients against central finite differences

    /// Normwise relative error of a gradient against central differences of the forward pass.
    func finiteDifferenceError(_ m: Model, steps: Int, batch: Int, seed: UInt64) -> (input: Double, cell: Double?) {
        var rng = KitTest.RNG(seed)
        let I = m.inputSize
        let x = (0..<(steps * batch * I)).map { _ in rng.uniform(1.2) }
        let tm = TapedModel(model: m, x: x, steps: steps, batch: batch)
        let last = tm.weights.count - 1
        let eps = 1e-6
        var num = 0.0, den = 0.0
        for d in tm.weights[last].indices {
            let P = tm.weights[last][d].P
            var analytic: [[Double]] = []
            for j in 0..<P { analytic.append(tm.inputGradient(lastPass: d, unit: j)) }
            for t in 0..<steps {
                for k in 0..<I {
                    var xp = x, xm = x
                    xp[t * batch * I + k] += eps  // batch entry 0
                    xm[t * batch * I + k] -= eps
                    let hp = TapedModel(model: m, x: xp, steps: steps, batch: batch).finalHidden(lastPass: d)
                    let hm = TapedModel(model: m, x: xm, steps: steps, batch: batch).finalHidden(lastPass: d)
                    for j in 0..<P {
                        let fd = (hp[j] - hm[j]) / (2 * eps)
                        num = Swift.max(num, Swift.abs(fd - analytic[j][t * I + k]))
                        den = Swift.max(den, Swift.abs(fd))
                    }
                }
            }
        }
        // The cell path of a one-layer LSTM, through its initial cell state c_{−1}.
        var cellErr: Double?
        if m.layers.count == 1, m.layers[0].spec.cell == .lstm {
            let spec = m.layers[0].spec
            let H = spec.hiddenSize, P = spec.outputSize, D = spec.direction.count
            let c0 = (0..<(D * batch * H)).map { _ in rng.uniform(0.8) }
            let h0 = (0..<(D * batch * P)).map { _ in rng.uniform(0.8) }
            let base = TapedModel(model: m, x: x, steps: steps, batch: batch, initialH: [h0], initialC: [c0])
            var cn = 0.0, cd = 0.0
            for j in 0..<H {
                var e = [Double](repeating: 0, count: H)
                e[j] = 1
                var dX = [Double](repeating: 0, count: steps * I)
                let r = TapedModel.backward(base.tapes[0][0], b: 0, dY: nil, dhFinal: nil, dcFinal: e, dX: &dX)
                for u in 0..<H {
                    var cp = c0, cm = c0
                    cp[u] += eps  // pass 0, batch entry 0
                    cm[u] -= eps
                    func finalC(_ c: [Double]) -> Double {
                        let t = TapedModel(model: m, x: x, steps: steps, batch: batch, initialH: [h0], initialC: [c])
                        let tape = t.tapes[0][0]
                        let s = TapedModel.finalStep(tape.w.pass, steps: steps)
                        return tape.c[(s * batch) * H + j]
                    }
                    let fd = (finalC(cp) - finalC(cm)) / (2 * eps)
                    cn = Swift.max(cn, Swift.abs(fd - r.dc0[u]))
                    cd = Swift.max(cd, Swift.abs(fd))
                }
            }
            cellErr = cn / Swift.max(cd, 1e-300)
        }
        return (num / Swift.max(den, 1e-300), cellErr)
    }

    func testGradientsMatchFiniteDifferencesForEveryVariant() throws {
        var report: [String] = []
        for (i, v) in KitTest.variants.enumerated() {
            let m = KitTest.model(v.specs, dtype: .float64, scale: 0.6, seed: UInt64(100 + i))
            let e = finiteDifferenceError(m, steps: 5, batch: 2, seed: UInt64(7 + i))
            report.append("\(v.name) \(e.input) \(e.cell.map { "\($0)" } ?? "-")")
            XCTAssertLessThan(e.input, 1e-6, "\(v.name): ∂h_T/∂x vs central differences")
            if let c = e.cell { XCTAssertLessThan(c, 1e-6, "\(v.name): ∂c_T/∂c_0 vs central differences") }
        }
        print("finite differences (input, cell):\n" + report.joined(separator: "\n"))
    }

    // MARK: gradients against JAX

    func testSensitivitiesMatchJAXGoldens() throws {
        let root = KitTest.path("fixtures/analysis")
        let names = try FileManager.default.contentsOfDirectory(atPath: root).filter {
            FileManager.default.fileExists(atPath: root + "/" + $0 + "/case.json")
        }.sorted()
        XCTAssertGreaterThanOrEqual(names.count, 20, "fixtures/analysis/*/case.json (tools/make_analysis_goldens.py)")
        var worstAll = 0.0
        for name in names {
            let dir = root + "/" + name + "/"
            let doc = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "case.json"))) as? [String: Any])
            let m = try ModelFormats.read(dir + (doc["model"] as! String)).model
            let x = try RunIO.readInput(dir + (doc["input"] as! String), model: m, batchFirst: false)
            let h0 = try (doc["initial_h"] as? String).map { try RunIO.readStates(dir + $0, model: m, batch: x.batch, cell: false) }
            let c0 = try (doc["initial_c"] as? String).map { try RunIO.readStates(dir + $0, model: m, batch: x.batch, cell: true) }
            let r = try Analyzer.analyze(model: m, x: x.x, steps: x.steps, batch: x.batch, initialH: h0, initialC: c0)
            let exp = try XCTUnwrap(doc["expected"] as? [String: Any])
            func check(_ got: [Double], _ want: [Double], _ what: String) {
                XCTAssertEqual(got.count, want.count, "\(name) \(what)")
                let scale = want.map(Swift.abs).max() ?? 1
                var worst = 0.0
                for (a, b) in zip(got, want) { worst = Swift.max(worst, Swift.abs(a - b) / Swift.max(Swift.abs(b), 1e-12 * scale)) }
                worstAll = Swift.max(worstAll, worst)
                XCTAssertLessThan(worst, 1e-9, "\(name) \(what): relative error against JAX")
            }
            check(r.inputSensitivity, exp["input"] as! [Double], "input")
            if let rev = exp["input_reverse"] as? [Double] {
                check(try XCTUnwrap(r.inputSensitivityReverse, name), rev, "input_reverse")
            } else {
                XCTAssertNil(r.inputSensitivityReverse, name)
            }
            let cells = exp["cell"] as! [[String: Any]]
            XCTAssertEqual(cells.count, r.cellSensitivity.count, name)
            for (c, mine) in zip(cells, r.cellSensitivity) {
                XCTAssertEqual(c["layer"] as? Int, mine.layer)
                check(mine.values, c["values"] as! [Double], "cell layer \(mine.layer)")
            }
        }
        print("JAX goldens: \(names.count) cases, worst relative error \(worstAll)")
    }

    // MARK: the memory demonstration

    func testMemoryDemoRNNForgetsLSTMRemembers() throws {
        let root = "fixtures/analysis/"
        var results: [String: AnalysisReport] = [:]
        for name in ["demo_rnn", "demo_lstm", "demo_gru"] {
            let m = try load(root + name + ".json")
            let x = try RunIO.readInput(KitTest.path(root + "demo_x.npy"), model: m, batchFirst: false)
            XCTAssertEqual(x.steps, 400)
            results[name] = try Analyzer.analyze(model: m, x: x.x, steps: x.steps, batch: x.batch)
        }
        let rnn = results["demo_rnn"]!, lstm = results["demo_lstm"]!, gru = results["demo_gru"]!
        // RNN: geometric decay — the log of s_t falls along a straight line until it hits the
        // floor of double precision; a log-linear fit over the first 40 steps back has a rate
        // below 0.9 per step and explains the decay well.
        let s = rnn.inputSensitivity
        let back = (0..<40).map { Foundation.log(s[399 - $0]) }
        let meanK = 19.5, meanY = back.reduce(0, +) / 40
        var sxy = 0.0, sxx = 0.0
        for (k, y) in back.enumerated() { sxy += (Double(k) - meanK) * (y - meanY); sxx += (Double(k) - meanK) * (Double(k) - meanK) }
        let rate = Foundation.exp(sxy / sxx)
        XCTAssertLessThan(rate, 0.9, "RNN sensitivity decays geometrically")
        XCTAssertLessThan(rnn.effectiveMemoryLength, 60)
        // LSTM with forget bias 5: the cell keeps the input for hundreds of steps.
        XCTAssertGreaterThan(lstm.effectiveMemoryLength, 300)
        XCTAssertGreaterThan(lstm.inputSensitivity[399 - 200] / lstm.inputSensitivity.max()!, 1e-2, "200 steps back")
        XCTAssertGreaterThan(lstm.allTimeConstants.min()!, 50)
        // GRU with update bias 3: in between.
        XCTAssertGreaterThan(gru.effectiveMemoryLength, rnn.effectiveMemoryLength)
        XCTAssertLessThan(gru.effectiveMemoryLength, lstm.effectiveMemoryLength)
        print("demo: effective memory length RNN \(rnn.effectiveMemoryLength), GRU \(gru.effectiveMemoryLength), LSTM \(lstm.effectiveMemoryLength); RNN rate \(rate)")
        // The picture in the README: written when asked (LSTMTOOL_WRITE_DOC_IMAGES=DIR).
        let svg = AnalysisPlots.sensitivityComparisonSVG([("tanh RNN (recurrent gain 0.8)", rnn), ("GRU, update-gate bias 3", gru),
                                                          ("LSTM, forget-gate bias 5", lstm)])
        try DrawTests.checkSVG(svg, name: "memory_demo", test: self)
        if let dir = ProcessInfo.processInfo.environment["LSTMTOOL_WRITE_DOC_IMAGES"] {
            try svg.write(toFile: dir + "/memory_demo.svg", atomically: true, encoding: .utf8)
        }
    }

    // MARK: statistics

    func testGateStatisticsAndTimeConstants() throws {
        XCTAssertEqual(Analyzer.timeConstant(Foundation.exp(-1)), 1, accuracy: 1e-12)
        XCTAssertEqual(Analyzer.timeConstant(1), .infinity)
        XCTAssertEqual(Analyzer.timeConstant(0), 0)
        let d = Distribution((0...100).map(Double.init))
        XCTAssertEqual(d.p05, 5)
        XCTAssertEqual(d.p50, 50)
        XCTAssertEqual(d.p95, 95)
        XCTAssertEqual(d.mean, 50)
        XCTAssertEqual(Analyzer.effectiveMemoryLength([1e-5, 0.5, 1], from: .forward), 2)
        XCTAssertEqual(Analyzer.effectiveMemoryLength([1, 1, 1], from: .forward), 3)
        XCTAssertEqual(Analyzer.effectiveMemoryLength([1, 0.5, 1e-5], from: .reverse), 2)
        // A coupled LSTM reports i = 1 − f; saturation fractions are per unit and in [0, 1].
        let m = KitTest.model([LayerSpec(cell: .lstm, inputSize: 3, hiddenSize: 4, lstm: LSTMOptions(coupled: true))], seed: 3)
        var rng = KitTest.RNG(1)
        let x = (0..<(8 * 2 * 3)).map { _ in rng.uniform(1) }
        let r = try Analyzer.analyze(model: m, x: x, steps: 8, batch: 2)
        let p = r.passes[0]
        XCTAssertEqual(p.gates.map(\.name), ["i", "f", "o"])
        XCTAssertEqual(p.gates[0].distribution.mean, 1 - p.gates[1].distribution.mean, accuracy: 1e-12)
        for s in p.saturatedFraction { XCTAssertEqual(s.perUnit.count, 4); XCTAssertTrue(s.perUnit.allSatisfy { $0 >= 0 && $0 <= 1 }) }
        XCTAssertEqual(p.timeConstant!.count, 4)
        // A relu RNN with weights that keep every pre-activation negative: all units dead.
        var dead = KitTest.model([LayerSpec(cell: .rnn, inputSize: 2, hiddenSize: 3, activations: [[.relu]])], seed: 4)
        dead.layers[0].passes[0][.inputBias] = ModelTensor([Double](repeating: -10, count: 3), shape: [3])
        let rd = try Analyzer.analyze(model: dead, x: (0..<(5 * 2)).map { _ in rng.uniform(1) }, steps: 5, batch: 1)
        XCTAssertEqual(rd.passes[0].deadUnits, [0, 1, 2])
        XCTAssertEqual(rd.passes[0].saturatedFraction[0].perUnit, [1, 1, 1])
    }

    // MARK: the command line

    func testAnalyzeCommandJSONKeys() throws {
        let dir = KitTest.tempDir(self)
        let r = try KitTest.run(["analyze", "fixtures/golden/lstm_2l_bidirectional/model.json", "--input", "fixtures/golden/lstm_2l_bidirectional/x.npy",
                                 "--initial-h", "fixtures/golden/lstm_2l_bidirectional/h0.npy", "--initial-c", "fixtures/golden/lstm_2l_bidirectional/c0.npy",
                                 "--json", "--svg", dir + "/report.svg"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let j = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        let layers = try XCTUnwrap(j["layers"] as? [[String: Any]])
        XCTAssertEqual(layers.count, 4)
        let gates = try XCTUnwrap(layers[0]["gates"] as? [String: [String: Any]])
        XCTAssertEqual(Set(gates.keys), ["i", "f", "o"])
        for k in ["mean", "p05", "p50", "p95"] { XCTAssertNotNil(gates["f"]?[k] as? Double, k) }
        XCTAssertEqual(((layers[0]["saturated_fraction"] as? [String: Any])?["f"] as? [Double])?.count, 4)
        XCTAssertEqual((layers[0]["forget_time_constant"] as? [Any])?.count, 4)
        let sens = try XCTUnwrap(j["sensitivity"] as? [String: Any])
        let steps = try XCTUnwrap(j["steps"] as? Int)
        XCTAssertEqual((sens["input"] as? [Double])?.count, steps)
        XCTAssertEqual((sens["input_reverse"] as? [Double])?.count, steps)
        XCTAssertEqual((sens["cell"] as? [Any])?.count, 2)
        XCTAssertNotNil(j["effective_memory_length"] as? Int)
        try DrawTests.checkSVGFile(dir + "/report.svg", test: self)
        // Text output, errors and usage.
        let t = try KitTest.run(["analyze", "fixtures/golden/gru_reset_after/model.json", "--input", "fixtures/golden/gru_reset_after/x.npy"])
        XCTAssertEqual(t.status, 0, t.stderr)
        XCTAssertTrue(t.stdout.contains("effective memory length"), t.stdout)
        let bad = try KitTest.run(["analyze", "fixtures/models/lstm.lstm", "--input", "fixtures/golden/gru_reset_after/x.npy"])
        XCTAssertEqual(bad.status, 1)
        XCTAssertTrue(bad.stderr.hasPrefix("error: "), bad.stderr)
        XCTAssertEqual(bad.stderr.split(separator: "\n").count, 1)
        XCTAssertEqual(try KitTest.run(["analyze", "fixtures/models/lstm.lstm"]).status, 64)
        let h = try KitTest.run(["analyze", "--help"])
        XCTAssertTrue(h.stdout.contains("Examples:") && h.stdout.contains("--svg") && h.stdout.contains("--batch-first"), h.stdout)
    }
}
