import Foundation
import XCTest
@testable import LSTMCodec
@testable import LSTMCore
@testable import LSTMKit

/// Keras `.keras` / `.h5` import and export (docs/CONVERSIONS.md, "Keras"). The numbers are
/// checked against Keras by `lstmtool verify fixtures` (fixtures/keras) and
/// tools/test_keras_export.py; these tests need no Python.
final class KerasTests: XCTestCase {
    static let exportable = ["lstm", "gru_reset_after", "gru_reset_before", "simple_rnn_softsign", "lstm_no_bias_last_state",
                             "bidirectional_lstm", "hard_sigmoid", "masked_lstm", "masked_bidirectional_gru", "stack_widths"]

    func tmp(_ name: String) -> String {
        let dir = NSTemporaryDirectory() + "keras-tests-\(getpid())"
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir + "/" + name
    }

    /// The datasets under `layers/` of a .keras file's weights, by path.
    func kerasDatasets(_ path: String) throws -> [String: HDF5Dataset] {
        let zip = try ZipArchive(path: path)
        let h5 = try HDF5File(image: try zip.data(zip.entry("model.weights.h5")!, limit: 1 << 30), name: path)
        var out: [String: HDF5Dataset] = [:]
        func walk(_ p: String, depth: Int) throws {
            guard depth < 8 else { return }
            for c in try h5.children(of: p) {
                let q = p + "/" + c
                switch try h5.kind(of: q) {
                case .group?: try walk(q, depth: depth + 1)
                case .dataset?: out[q] = try h5.dataset(q, limit: 1 << 30)
                default: break
                }
            }
        }
        try walk("/layers", depth: 0)
        return out
    }

    /// `.keras → .lstm → .keras` gives back Keras's weight datasets bit for bit.
    func testKerasRoundTripThroughLSTMIsBitExact() throws {
        for name in KerasTests.exportable {
            let src = KitTest.path("fixtures/keras/\(name)/model.keras")
            let imported = try ModelFormats.read(src)
            let lstm = tmp("\(name).lstm"), back = tmp("\(name).keras")
            try ModelFormats.write(imported.model, to: lstm)
            let reread = try ModelFormats.read(lstm).model
            try ModelFormats.write(reread, to: back)
            let a = try kerasDatasets(src), b = try kerasDatasets(back)
            XCTAssertEqual(Set(a.keys), Set(b.keys), name)
            for (k, v) in a {
                XCTAssertEqual(v.shape, b[k]?.shape, "\(name) \(k)")
                XCTAssertEqual(v.dtype, b[k]?.dtype, "\(name) \(k)")
                XCTAssertTrue(v.bytes == b[k]?.bytes, "\(name) \(k) differs")
            }
            // And the model read back from the export holds the same tensors.
            let again = try ModelFormats.read(back).model
            XCTAssertEqual(again.layers, imported.model.layers, name)
        }
    }

    func testImportRecordsKerasFacts() throws {
        let masked = try ModelFormats.read(KitTest.path("fixtures/keras/masked_lstm/model.keras"))
        XCTAssertEqual(MaskedOutput.recorded(in: masked.model), .hold)
        XCTAssertTrue(masked.model.metadata.properties.contains { $0 == ("layout", "batch_major") })
        let bi = try ModelFormats.read(KitTest.path("fixtures/keras/masked_bidirectional_gru/model.keras"))
        XCTAssertEqual(MaskedOutput.recorded(in: bi.model), .zero)
        let hs = try ModelFormats.read(KitTest.path("fixtures/keras/hard_sigmoid/model.keras")).model
        XCTAssertEqual(hs.layers[0].spec.activations[0][0], Activation(.hardSigmoid, alpha: 1.0 / 6.0, beta: 0.5))
        let hs2 = try ModelFormats.read(KitTest.path("fixtures/keras/legacy_keras2_hard_sigmoid/model.h5")).model
        XCTAssertEqual(hs2.layers[0].spec.activations[0][0], Activation(.hardSigmoid, alpha: 0.2, beta: 0.5))
        let pair = try ModelFormats.read(KitTest.path("fixtures/keras/go_backwards_pair/model.keras")).model
        XCTAssertEqual(pair.layers.map(\.spec.direction), [.reverse, .forward])
        let gru = try ModelFormats.read(KitTest.path("fixtures/keras/gru_reset_before/model.keras")).model
        XCTAssertFalse(gru.layers[0].spec.resetAfter)
        let stack = try ModelFormats.read(KitTest.path("fixtures/keras/stack_widths/model.keras"))
        XCTAssertEqual(stack.model.layers.map(\.spec.hiddenSize), [6, 3])
        XCTAssertTrue(stack.notes.contains { $0.contains("left out") && $0.contains("Dropout") })
    }

    func testHoldRepeatsTheLastValidOutput() {
        // T = 3, B = 2, W = 1; lengths 1 and 0.
        var y: [Double] = [1, 0, 0, 0, 0, 0]
        MaskedOutput.hold.apply(to: &y, steps: 3, batch: 2, width: 1, lengths: [1, 0])
        XCTAssertEqual(y, [1, 0, 1, 0, 1, 0])
        var z: [Double] = [1, 0, 0, 0, 0, 0]
        MaskedOutput.zero.apply(to: &z, steps: 3, batch: 2, width: 1, lengths: [1, 0])
        XCTAssertEqual(z, [1, 0, 0, 0, 0, 0])
    }

    func testLayerOptionPicksAStack() throws {
        // Two recurrent layers in a stack: --layer naming either picks it; an unknown name is refused.
        let path = KitTest.path("fixtures/keras/stack_widths/model.keras")
        XCTAssertEqual(try ModelFormats.read(path, options: ImportOptions(layer: "decoder")).model.layers.count, 2)
        XCTAssertThrowsError(try ModelFormats.read(path, options: ImportOptions(layer: "nope"))) { e in
            XCTAssertTrue("\(e)".contains("no recurrent layer named nope"), "\(e)")
        }
    }

    func testWeightsOnlyNeedsConfig() throws {
        let path = KitTest.path("fixtures/keras/weights_only/model.weights.h5")
        XCTAssertThrowsError(try ModelFormats.read(path)) { e in XCTAssertTrue("\(e)".contains("--config"), "\(e)") }
        let m = try ModelFormats.read(path, options: ImportOptions(config: KitTest.path("fixtures/keras/weights_only/config.json")))
        XCTAssertEqual(m.model.layers[0].spec.cell, .gru)
    }

    // MARK: bad input: one error line, exit 1, output untouched

    func assertRefused(_ input: String, contains word: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let out = tmp("out-\(UUID().uuidString).lstm")
        try Data("keep".utf8).write(to: URL(fileURLWithPath: out))
        let r = try KitTest.run(["convert", input, out])
        XCTAssertEqual(r.status, 1, r.stderr, file: file, line: line)
        let lines = r.stderr.split(separator: "\n")
        XCTAssertEqual(lines.count, 1, r.stderr, file: file, line: line)
        XCTAssertTrue(r.stderr.hasPrefix("error: ") && r.stderr.contains(word), r.stderr, file: file, line: line)
        XCTAssertEqual(try String(contentsOfFile: out, encoding: .utf8), "keep", "output touched", file: file, line: line)
    }

    func testNotAZip() throws {
        let p = tmp("text.keras")
        try Data("this is not a zip archive".utf8).write(to: URL(fileURLWithPath: p))
        try assertRefused(p, contains: "neither a .keras zip archive nor HDF5")
    }

    func testZipWithoutTheEntries() throws {
        let p = tmp("empty.keras")
        try Data(ZipWriter.stored([("metadata.json", Array("{\"keras_version\": \"3.15.1\"}".utf8))])).write(to: URL(fileURLWithPath: p))
        try assertRefused(p, contains: "no config.json")
        let q = tmp("noweights.keras")
        let config = try readWholeFile(KitTest.path("fixtures/keras/lstm/model.keras"))
        let zip = try ZipArchive(bytes: config, name: "lstm.keras")
        try Data(ZipWriter.stored([("config.json", try zip.data(zip.entry("config.json")!, limit: 1 << 20))])).write(to: URL(fileURLWithPath: q))
        try assertRefused(q, contains: "no model.weights.h5")
    }

    func testWeightsMemberNotHDF5() throws {
        let src = try ZipArchive(path: KitTest.path("fixtures/keras/lstm/model.keras"))
        let p = tmp("badweights.keras")
        try Data(ZipWriter.stored([("config.json", try src.data(src.entry("config.json")!, limit: 1 << 20)),
                                   ("model.weights.h5", Array("garbage".utf8))])).write(to: URL(fileURLWithPath: p))
        try assertRefused(p, contains: "not an HDF5 file")
    }

    func testLayerWithoutWeights() throws {
        try assertRefused(KitTest.path("fixtures/keras_bad/layer_without_weights.h5"), contains: "layer gru has no weights")
    }

    func testShapeMismatch() throws {
        try assertRefused(KitTest.path("fixtures/keras_bad/shape_mismatch.h5"), contains: "has shape [4, 12]")
    }

    func testTruncatedHDF5() throws {
        try assertRefused(KitTest.path("fixtures/keras_bad/truncated.h5"), contains: "damaged or truncated")
        // Every shorter prefix of a good file is refused too, never a crash.
        let good = try readWholeFile(KitTest.path("fixtures/keras_bad/good.h5"))
        for n in stride(from: 0, to: good.count, by: max(1, good.count / 40)) {
            let p = tmp("prefix.h5")
            try Data(good.prefix(n)).write(to: URL(fileURLWithPath: p))
            XCTAssertThrowsError(try ModelFormats.read(p), "prefix of \(n) bytes")
        }
    }

    func testHardLinkCycle() throws {
        try assertRefused(KitTest.path("fixtures/keras_bad/cycle.h5"), contains: "no dataset")
    }

    func testExportRefusals() throws {
        let peep = try ModelFormats.read(KitTest.path("fixtures/models/lstm_peephole_all.lstm")).model
        XCTAssertThrowsError(try ModelFormats.write(peep, to: tmp("peep.keras"))) { e in XCTAssertTrue("\(e)".contains("peepholes"), "\(e)") }
        XCTAssertFalse(FileManager.default.fileExists(atPath: tmp("peep.keras")))
        let lstm = try ModelFormats.read(KitTest.path("fixtures/models/lstm.lstm")).model
        XCTAssertThrowsError(try ModelFormats.write(lstm, to: tmp("x.h5"))) { e in XCTAssertTrue("\(e)".contains(".keras"), "\(e)") }
    }
}
