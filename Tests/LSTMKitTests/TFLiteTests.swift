import Foundation
import XCTest
@testable import LSTMCore
@testable import LSTMKit

/// TFLite `.tflite` export and import (docs/CONVERSIONS.md, "TFLite"). The numbers are
/// checked against LiteRT by tools/test_tflite_export.py and, for the files LiteRT's own
/// schema bindings wrote, by `lstmtool verify fixtures` (fixtures/tflite); these tests need
/// no Python except the generator's staleness check.
final class TFLiteTests: XCTestCase {
    func tmp(_ name: String) -> String {
        let dir = NSTemporaryDirectory() + "tflite-tests-\(getpid())"
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir + "/" + name
    }

    /// Sources/LSTMKit/Formats/TFLite/TFLiteSchema.swift is what the generator makes of
    /// schema/tflite_subset.fbs.
    func testGeneratedSchemaIsFresh() throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", KitTest.path("tools/generate_tflite_schema.py"), "--check"]
        try p.run()
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0, "TFLiteSchema.swift is stale: run tools/generate_tflite_schema.py")
    }

    /// A file written by LiteRT's own Python schema bindings reads through the subset: every
    /// option and every optional input lands where TFLite put it.
    func testReadsFilesWrittenByLiteRT() throws {
        let r = try ModelFormats.read(KitTest.path("fixtures/tflite/lstm24_peephole_projection_clips/model.tflite"))
        XCTAssertEqual(r.formatName, "tflite")
        let s = r.model.layers[0].spec
        XCTAssertEqual(s.cell, .lstm)
        XCTAssertEqual(s.inputSize, 3)
        XCTAssertEqual(s.hiddenSize, 5)
        XCTAssertEqual(s.lstm.projectionSize, 4)
        XCTAssertEqual(s.lstm.peepholes, [.input, .forget, .output])
        XCTAssertEqual(s.lstm.cellClip, 1.5)
        XCTAssertEqual(s.lstm.projectionClip.map { Float($0) }, 0.4)
        let cifg = try ModelFormats.read(KitTest.path("fixtures/tflite/lstm20_cifg_batch_first/model.tflite"))
        XCTAssertTrue(cifg.model.layers[0].spec.lstm.coupled)
        XCTAssertEqual(cifg.model.layers[0].spec.lstm.peepholes, [.forget, .output])
        XCTAssertTrue(cifg.notes.contains { $0.contains("--batch-first") })
        let bi = try ModelFormats.read(KitTest.path("fixtures/tflite/bidirectional_lstm/model.tflite"))
        XCTAssertEqual(bi.model.layers[0].spec.direction, .bidirectional)
        let stack = try ModelFormats.read(KitTest.path("fixtures/tflite/stack_lstm_rnn/model.tflite"))
        XCTAssertEqual(stack.model.layers.map(\.spec.cell), [.lstm, .rnn])
        XCTAssertTrue(stack.notes.contains { $0.contains("1 TANH") })
        let f16 = try ModelFormats.read(KitTest.path("fixtures/tflite/lstm_float16_weights/model.tflite"))
        XCTAssertEqual(f16.model.layers[0].passes[0][.inputWeights]?.dtype, .float16)
    }

    /// Every model in fixtures/models exports; LSTM and RNN stacks read back computing the same
    /// function (biases come back summed into b_x), GRU (a WHILE loop) is refused on import.
    func testExportImportRoundTrip() throws {
        let dir = KitTest.path("fixtures/models")
        for f in try FileManager.default.contentsOfDirectory(atPath: dir).sorted() where f.hasSuffix(".lstm") {
            let m = try ModelFormats.read(dir + "/" + f).model
            let out = tmp(f + ".tflite")
            try ModelFormats.write(m, to: out)
            let bytes = try Array(Data(contentsOf: URL(fileURLWithPath: out)))
            XCTAssertEqual(Array(bytes[4..<8]), Array("TFL3".utf8), f)
            if m.layers.contains(where: { $0.spec.cell == .gru }) {
                XCTAssertThrowsError(try ModelFormats.read(out), f) { XCTAssertTrue("\($0)".contains("WHILE"), "\($0)") }
                continue
            }
            let back = try ModelFormats.read(out).model
            XCTAssertEqual(back.layers.count, m.layers.count, f)
            for (a, b) in zip(m.layers, back.layers) {
                XCTAssertEqual(a.spec.lstm, b.spec.lstm, f)
                XCTAssertEqual(a.spec.direction, b.spec.direction, f)
                XCTAssertEqual(a.passes.map { $0[.inputWeights]?.floats() }, b.passes.map { $0[.inputWeights]?.floats() }, f)
                XCTAssertEqual(a.passes.map { $0[.recurrentWeights]?.floats() }, b.passes.map { $0[.recurrentWeights]?.floats() }, f)
            }
        }
    }

    /// What TFLite cannot express is refused, naming the reason, and nothing is written.
    func testRefusals() throws {
        let base = try ModelFormats.read(KitTest.path("fixtures/models/lstm.lstm")).model
        var clip = base
        clip.layers[0].spec.activationClip = 3
        var act = base
        act.layers[0].spec.activations = [[.sigmoid, .tanh, .relu]]
        var h0 = base
        h0.layers[0].spec.hasInitialState = true
        let H = base.layers[0].spec.hiddenSize
        h0.layers[0].passes[0][.initialHidden] = ModelTensor([Float](repeating: 0.5, count: H), shape: [H])
        h0.layers[0].passes[0][.initialCell] = ModelTensor([Float](repeating: 0, count: H), shape: [H])
        for (m, word) in [(clip, "activation_clip"), (act, "one activation"), (h0, "initial state")] {
            let out = tmp("refused.tflite")
            try? FileManager.default.removeItem(atPath: out)
            XCTAssertThrowsError(try ModelFormats.write(m, to: out)) { e in
                XCTAssertEqual((e as? LSTMError)?.kind, .unsupported)
                XCTAssertTrue("\(e)".contains(word), "\(e)")
            }
            XCTAssertFalse(FileManager.default.fileExists(atPath: out))
        }
    }

    /// Damaged files: one `invalidInput` error naming what is wrong, never a crash.
    func testBadInput() throws {
        let m = try ModelFormats.read(KitTest.path("fixtures/models/lstm.lstm")).model
        let good = try TFLiteExporter.encode(m, batchFirst: false, batchSize: 1)
        func expectBad(_ bytes: [UInt8], _ word: String, _ label: String) {
            XCTAssertThrowsError(try TFLiteImporter.load(bytes, options: ImportOptions(), sourceFile: "x", notes: &notes), label) { e in
                XCTAssertTrue("\(e)".contains(word), "\(label): \(e)")
            }
        }
        var notes = ImportNotes()
        expectBad(Array("not a flatbuffer at all".utf8), "identifier", "not a FlatBuffer")
        expectBad(Array(good[0..<6]), "too short", "truncated header")
        var rootOut = good
        rootOut[0] = 0xFF; rootOut[1] = 0xFF; rootOut[2] = 0xFF; rootOut[3] = 0x7F
        expectBad(rootOut, "outside", "root offset out of bounds")
        for cut in stride(from: 9, to: good.count, by: max(1, good.count / 97)) {
            XCTAssertThrowsError(try TFLiteImporter.load(Array(good[0..<cut]), options: ImportOptions(), sourceFile: "x", notes: &notes), "cut at \(cut)")
        }
        // Field by field: a vtable pointing outside, a short buffer, an out-of-range op index,
        // a tensor index out of range, a subgraph cycle.
        let r = FBReader(good)
        let decoded = try TFLModel(r, try r.root(identifier: "TFL3"))
        func encode(_ model: TFLModel) -> [UInt8] {
            var b = FBBuilder()
            let root = model.write(&b)
            return b.finish(root: root, identifier: "TFL3")
        }
        var short = decoded
        let wIndex = short.subgraphs![0].tensors!.firstIndex { ($0.name ?? "").contains("input_to_forget") }!
        let buf = Int(short.subgraphs![0].tensors![wIndex].buffer!)
        short.buffers![buf].data!.removeLast(4)
        expectBad(encode(short), "needs", "buffer shorter than its tensor")
        var badOp = decoded
        badOp.subgraphs![0].operators![0].opcodeIndex = 99
        expectBad(encode(badOp), "opcode index", "operator code out of range")
        var badTensor = decoded
        badTensor.subgraphs![0].operators![0].inputs![2] = 10_000
        expectBad(encode(badTensor), "refers to tensor", "tensor index out of range")
        var cycle = decoded
        var sub = TFLSubGraph()
        sub.tensors = []
        var op = TFLOperator()
        op.opcodeIndex = 0
        var w = TFLWhileOptions()
        w.condSubgraphIndex = 1
        w.bodySubgraphIndex = 1
        op.builtinOptions = .whileOptions(w)
        sub.operators = [op]
        cycle.subgraphs!.append(sub)
        expectBad(encode(cycle), "cycle", "subgraph cycle")
        // A vtable offset that points past the end.
        var vt = good
        let rootPos = Int(UInt32(vt[0]) | UInt32(vt[1]) << 8 | UInt32(vt[2]) << 16 | UInt32(vt[3]) << 24)
        vt[rootPos] = 0x00; vt[rootPos + 1] = 0x00; vt[rootPos + 2] = 0x00; vt[rootPos + 3] = 0x80
        expectBad(vt, "outside", "vtable out of bounds")
    }
}
