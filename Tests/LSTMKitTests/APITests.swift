import Foundation
import XCTest
@testable import LSTMKit

/// The library API an app uses: RecurrentModel, Tensor, RecurrentState, streaming.
final class APITests: XCTestCase {
    /// Stacks whose every layer runs forward (the ones that can stream), one per cell
    /// family and option, plus a stack whose layers differ in width and cell.
    static let streamable: [(name: String, specs: [LayerSpec])] =
        KitTest.variants.filter { v in v.specs.allSatisfy { $0.direction == .forward } } + [
            ("lstm_projection_forward", [LayerSpec(cell: .lstm, inputSize: 3, hiddenSize: 5,
                                                   lstm: LSTMOptions(peepholes: [.input, .output], projectionSize: 2, cellClip: 0.75, projectionClip: 0.5),
                                                   activationClip: 0.9, hasInitialState: true)]),
            ("gru_reset_after_learned_state", [LayerSpec(cell: .gru, inputSize: 3, hiddenSize: 4, resetAfter: true, hasInitialState: true)]),
            ("forward_stack_mixed", [LayerSpec(cell: .gru, inputSize: 3, hiddenSize: 5),
                                     LayerSpec(cell: .lstm, inputSize: 5, hiddenSize: 3, lstm: LSTMOptions(projectionSize: 2)),
                                     LayerSpec(cell: .rnn, inputSize: 2, hiddenSize: 6)]),
        ]

    func randomInput<S: RecurrentScalar>(_ m: RecurrentModel, steps: Int, batch: Int, seed: UInt64, as _: S.Type) throws -> Tensor<S> {
        var rng = KitTest.RNG(seed)
        return try Tensor(shape: [steps, batch, m.inputSize], scalars: (0..<(steps * batch * m.inputSize)).map { _ in S(rng.uniform(1.5)) })
    }

    /// Feeding a sequence in chunks of 1, 7 or all T steps gives bitwise the outputs and the
    /// final state of one whole run, for every cell family and option, in f32 and in f64.
    func testChunkedRunsEqualTheWholeRunBitwise() throws {
        for (vi, v) in APITests.streamable.enumerated() {
            let model = try RecurrentModel(KitTest.model(v.specs, seed: UInt64(300 + vi)), options: .init(limits: RunLimits(threads: 2)))
            XCTAssertTrue(model.canStream, v.name)
            try checkChunking(model, Float.self, name: v.name)
            try checkChunking(model, Double.self, name: v.name)
        }
    }

    /// Threads sharing each step of a small batch (`PassRunner.recurTogether`, forced to form
    /// here) give bitwise the outputs and final states of one thread: LSTM and GRU, forward and
    /// reverse, unequal lengths (one of them 0), two and three threads, chunks of 5 steps, a
    /// team that stops after 6 steps (the rest run on one thread, as when waits cost too much),
    /// and teams that fewer workers joined than asked (none, or one of two, as when workers do
    /// not start in time on a busy machine: the CI failure of 2026-12-02, where a team of one
    /// computed nothing after its first step).
    func testStepsSharedByThreadsEqualOneThreadBitwise() throws {
        let saved = ParallelTuning.joinTimeoutNanoseconds
        ParallelTuning.joinTimeoutNanoseconds = 10_000_000_000
        ParallelTuning.holdTeamsOffWhenSlow = false
        defer {
            ParallelTuning.joinTimeoutNanoseconds = saved
            ParallelTuning.teamStopsAfterSteps = nil
            ParallelTuning.holdTeamsOffWhenSlow = true
            ParallelTuning.workersThatJoin = nil
        }
        for (stopAfter, workersThatJoin) in [(nil, nil), (6, nil), (nil, 0), (nil, 1)] as [(Int?, Int?)] {
            ParallelTuning.teamStopsAfterSteps = stopAfter
            ParallelTuning.workersThatJoin = workersThatJoin
            for (cell, direction) in [(CellFamily.lstm, Direction.forward), (.gru, .reverse), (.lstm, .reverse), (.gru, .forward)] {
                var spec = LayerSpec(cell: cell, inputSize: 24, hiddenSize: 96, direction: direction)
                spec.resetAfter = true
                let model = try RecurrentModel(KitTest.model([spec], seed: 77))
                let t = 19, b = 5
                let x = try randomInput(model, steps: t, batch: b, seed: 8, as: Float.self)
                let lengths = [19, 11, 0, 19, 3]
                var one = model.initialState(batchSize: b, as: Float.self)
                let y1 = try model.run(x, state: &one, sequenceLengths: lengths, limits: RunLimits(threads: 1))
                XCTAssertGreaterThan(y1.scalars.map { abs($0) }.max() ?? 0, 0.01)
                for threads in [2, 3] {
                    let label = "\(cell) \(direction), \(threads) threads, stop after \(stopAfter.map(String.init) ?? "none")"
                        + (workersThatJoin.map { ", \($0) workers join" } ?? "")
                    var many = model.initialState(batchSize: b, as: Float.self)
                    let y2 = try model.run(x, state: &many, sequenceLengths: lengths, limits: RunLimits(threads: threads))
                    XCTAssertEqual(y2.scalars.map(\.bitPattern), y1.scalars.map(\.bitPattern), label)
                    XCTAssertTrue(one == many, "\(label): final states")
                }
                if direction == .forward {
                    var chunked = model.initialState(batchSize: b, as: Float.self)
                    var pieces: [Float] = []
                    for start in stride(from: 0, to: t, by: 5) {
                        let end = min(t, start + 5)
                        pieces += try model.run(try x.slice(steps: start..<end), state: &chunked, limits: RunLimits(threads: 2)).scalars
                    }
                    var whole = model.initialState(batchSize: b, as: Float.self)
                    let yw = try model.run(x, state: &whole, limits: RunLimits(threads: 1))
                    XCTAssertEqual(pieces.map(\.bitPattern), yw.scalars.map(\.bitPattern), "\(cell) chunks of 5 on two threads")
                }
            }
        }
    }

    func checkChunking<S: RecurrentScalar>(_ model: RecurrentModel, _ type: S.Type, name: String) throws {
        let t = 23, b = 3
        let x = try randomInput(model, steps: t, batch: b, seed: 7, as: S.self)
        var whole = model.initialState(batchSize: b, as: S.self)
        let y = try model.run(x, state: &whole)
        XCTAssertEqual(y.shape, [t, b, model.outputSize])
        XCTAssertGreaterThan(y.scalars.map { abs(Double($0)) }.max() ?? 0, 0.01, "\(name): outputs are not trivial")
        for chunk in [1, 7, t] {
            var state = model.initialState(batchSize: b, as: S.self)
            var pieces: [S] = []
            var start = 0
            while start < t {
                let end = min(t, start + chunk)
                pieces += try model.run(try x.slice(steps: start..<end), state: &state).scalars
                start = end
            }
            // Bitwise: compare the bit patterns, so that -0.0 vs 0.0 or NaN payloads would show.
            let differing = zip(pieces, y.scalars).filter { bitPattern($0) != bitPattern($1) }.count
            XCTAssertEqual(pieces.count, y.scalars.count)
            XCTAssertEqual(differing, 0, "\(name) \(S.self) chunks of \(chunk): \(differing) outputs differ in their bits")
            XCTAssertTrue(state == whole, "\(name) \(S.self) chunks of \(chunk): the final states differ")
            XCTAssertEqual(state.steps, t)
        }
    }

    /// Bidirectional and reverse layers need whole sequences: a second run from a carried
    /// state is refused, a run from a fresh state is not.
    func testWholeSequenceModelsRefuseAChunkedRun() throws {
        for v in KitTest.variants where v.specs.contains(where: { $0.direction != .forward }) {
            let model = try RecurrentModel(KitTest.model(v.specs))
            XCTAssertFalse(model.canStream, v.name)
            let x = try randomInput(model, steps: 5, batch: 2, seed: 1, as: Float.self)
            var state = model.initialState(batchSize: 2)
            _ = try model.run(x, state: &state)
            XCTAssertThrowsError(try model.run(x, state: &state), v.name) { e in
                XCTAssertTrue("\(e)".contains("whole sequences"), "\(e)")
            }
        }
    }

    /// The typed API and the evaluator the verifier uses compute the same values (f64: the
    /// same code and order, so bitwise).
    func testTypedRunMatchesTheReferenceEvaluator() throws {
        for (vi, v) in KitTest.variants.enumerated() {
            let def = KitTest.model(v.specs, seed: UInt64(500 + vi))
            let model = try RecurrentModel(def)
            let x = try randomInput(model, steps: 6, batch: 2, seed: 9, as: Double.self)
            var state = model.initialState(batchSize: 2, as: Double.self)
            let y = try model.run(x, state: &state)
            let ref = try Evaluator(model: def, precision: .f64).run(RunInput(x: x.scalars, steps: 6, batch: 2))
            XCTAssertEqual(y.scalars.map(\.bitPattern), ref.y.map(\.bitPattern), v.name)
            XCTAssertEqual(state.layers.map(\.h.scalars), ref.finalH, v.name)
        }
    }

    func testLearnedInitialStatesStartARun() throws {
        let def = KitTest.model([LayerSpec(cell: .lstm, inputSize: 2, hiddenSize: 3, hasInitialState: true)], seed: 4)
        let model = try RecurrentModel(def)
        let s = model.initialState(batchSize: 2)
        let h0 = def.layers[0].passes[0][.initialHidden]!.floats()
        let c0 = def.layers[0].passes[0][.initialCell]!.floats()
        XCTAssertEqual(s.layers[0].h.shape, [1, 2, 3])
        XCTAssertEqual(s.layers[0].h.scalars, h0 + h0)
        XCTAssertEqual(s.layers[0].c?.scalars, c0 + c0)
        // A model without learned states starts from zeros; GRU layers have no c.
        let gru = try RecurrentModel(KitTest.model([LayerSpec(cell: .gru, inputSize: 2, hiddenSize: 3)]))
        let g = gru.initialState(batchSize: 1, as: Double.self)
        XCTAssertEqual(g.layers[0].h.scalars, [0, 0, 0])
        XCTAssertNil(g.layers[0].c)
    }

    func testBadShapesAreRefusedWithTheExpectedShape() throws {
        XCTAssertThrowsError(try Tensor<Float>(shape: [2, 3], scalars: [1, 2, 3])) { XCTAssertTrue("\($0)".contains("6")) }
        XCTAssertThrowsError(try Tensor<Float>(shape: [-1], scalars: []))
        let x = try Tensor<Float>(shape: [4, 1, 2], scalars: Array(repeating: 0.5, count: 8))
        XCTAssertThrowsError(try x.slice(steps: 2..<5))
        XCTAssertEqual(try x.slice(steps: 1..<3).shape, [2, 1, 2])
        let model = try RecurrentModel(KitTest.model([LayerSpec(cell: .lstm, inputSize: 3, hiddenSize: 2)]))
        var state = model.initialState(batchSize: 1)
        XCTAssertThrowsError(try model.run(x, state: &state)) { XCTAssertTrue("\($0)".contains("[T, B, 3]"), "\($0)") }
        let x3 = try Tensor<Float>(shape: [4, 2, 3], scalars: Array(repeating: 0.5, count: 24))
        XCTAssertThrowsError(try model.run(x3, state: &state)) { XCTAssertTrue("\($0)".contains("batch size 2"), "\($0)") }
        var bad = model.initialState(batchSize: 2)
        bad.layers[0].c = nil
        XCTAssertThrowsError(try model.run(x3, state: &bad)) { XCTAssertTrue("\($0)".contains("state c"), "\($0)") }
        // The memory cap is checked before anything is allocated.
        var small = model.initialState(batchSize: 2)
        XCTAssertThrowsError(try model.run(x3, state: &small, limits: RunLimits(maxWorkingBytes: 64))) { XCTAssertTrue("\($0)".contains("MiB"), "\($0)") }
    }

    /// Sequence lengths in a chunk: rows past their length keep their state and output zeros.
    func testSequenceLengthsFreezeTheirRows() throws {
        let model = try RecurrentModel(KitTest.model([LayerSpec(cell: .gru, inputSize: 2, hiddenSize: 3)], seed: 8))
        let x = try randomInput(model, steps: 5, batch: 2, seed: 3, as: Double.self)
        var a = model.initialState(batchSize: 2, as: Double.self)
        let y = try model.run(x, state: &a, sequenceLengths: [5, 2])
        var b = model.initialState(batchSize: 2, as: Double.self)
        _ = try model.run(try x.slice(steps: 0..<2), state: &b)
        XCTAssertEqual(Array(a.layers[0].h.scalars[3..<6]), Array(b.layers[0].h.scalars[3..<6]))
        XCTAssertEqual(Array(y.scalars[(2 * 6 + 3)..<(2 * 6 + 6)]), [0, 0, 0])
    }

    /// Any registered format loads; `write(to:)` uses the extension.
    func testLoadAndWriteThroughTheRegistry() throws {
        let dir = KitTest.tempDir(self)
        let onnx = try RecurrentModel(contentsOf: URL(fileURLWithPath: KitTest.path("fixtures/real/silero_vad_lstm/model.onnx")))
        XCTAssertEqual(onnx.sourceFormat, "onnx")
        try onnx.write(to: URL(fileURLWithPath: dir + "/vad.lstm"))
        let lstm = try RecurrentModel(contentsOf: URL(fileURLWithPath: dir + "/vad.lstm"))
        XCTAssertEqual(lstm.sourceFormat, "lstm")
        XCTAssertEqual(lstm.definition.layers, onnx.definition.layers)
        XCTAssertThrowsError(try onnx.write(to: URL(fileURLWithPath: dir + "/vad.txt"))) { XCTAssertTrue("\($0)".contains(".safetensors"), "\($0)") }
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/vad.txt"))
    }
}

/// The bit pattern of a Float or Double, widened, for bitwise comparisons.
func bitPattern<S: RecurrentScalar>(_ v: S) -> UInt64 {
    if let f = v as? Float { return UInt64(f.bitPattern) }
    return (v as! Double).bitPattern
}
