import Foundation
import XCTest
@testable import LSTMCodec
@testable import LSTMCore
@testable import LSTMKit

/// Regressions found in the converter review (../shared/docs/conventions.md §12, §14.7); the
/// numeric matrix against onnxruntime is `review_matrix` in tools/test_onnx_export.py.
final class ConvertReviewTests: XCTestCase {
    func tempDir() throws -> String {
        let dir = NSTemporaryDirectory() + "lstmtool-review-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: dir) }
        return dir
    }

    func mutated(_ dir: String, _ name: String, from source: String, _ edit: (inout ONNXModelProto) -> Void) throws -> String {
        var m = try ONNXCodec.decode(try readWholeFile(ConvertTests.path(source)), context: source)
        edit(&m)
        let p = dir + "/" + name + ".onnx"
        try Data(try ONNXCodec.encode(m)).write(to: URL(fileURLWithPath: p))
        return p
    }

    func assertRefused(_ input: String, _ fragments: [String], file: StaticString = #filePath, line: UInt = #line) throws {
        let out = AtomicFile.directoryOf(input) + "/out.lstm"
        try Data("keep".utf8).write(to: URL(fileURLWithPath: out))
        let r = try KitTest.run(["convert", input, out])
        XCTAssertEqual(r.status, 1, r.stderr, file: file, line: line)
        let lines = r.stderr.split(separator: "\n").filter { !$0.hasPrefix("note: ") }
        XCTAssertEqual(lines.count, 1, r.stderr, file: file, line: line)
        for f in fragments { XCTAssertTrue(r.stderr.contains(f), "\"\(r.stderr)\" does not mention \"\(f)\"", file: file, line: line) }
        XCTAssertEqual(try String(contentsOfFile: out, encoding: .utf8), "keep", "output touched", file: file, line: line)
    }

    /// A Reshape between layers with fixed leading sizes could regroup T·B (e.g. [B, T, -1] on a
    /// [T, B, D·H] tensor scrambles steps and batch entries when T ≠ B, yet the next layer still
    /// runs). It used to import as if it were [0, 0, -1]; now fixed sizes must match the graph
    /// input's static T and B, or one leading entry must copy its axis (0).
    func testAmbiguousReshapeBetweenLayersIsRefused() throws {
        let dir = try tempDir()
        let src = "fixtures/golden/gru_2l_bidirectional/model.onnx"  // x is [7, 4, 3]: T = 7, B = 4
        func withShape(_ name: String, _ shape: [Int64], dynamicInput: Bool = false) throws -> String {
            try mutated(dir, name, from: src) { m in
                guard var g = m.graph, let i = g.initializers.firstIndex(where: { $0.name == "shape_tb_" }) else { return }
                var raw: [UInt8] = []
                for v in shape { appendLE(UInt64(bitPattern: v), &raw) }
                g.initializers[i] = ONNXTensorProto(name: "shape_tb_", dims: [3], dataType: ONNXDataType.int64, rawData: raw)
                if dynamicInput, let x = g.inputs.firstIndex(where: { $0.name == "x" }) {
                    g.inputs[x].shape = [.param("T"), .param("B"), .value(3)]
                }
                m.graph = g
            }
        }
        try assertRefused(try withShape("swapped", [4, 7, -1]), ["Reshape", "[4, 7, -1]", "gru_0", "gru_1"])
        try assertRefused(try withShape("swapped_dynamic", [4, 7, -1], dynamicInput: true), ["Reshape", "[4, 7, -1]", "regroup"])
        try assertRefused(try withShape("minus_one_dynamic", [-1, 7, 10], dynamicInput: true), ["Reshape", "[-1, 7, 10]"])
        // The same function as [0, 0, -1]: accepted, same weights as the original.
        let original = try ModelFormats.read(ConvertTests.path(src)).model
        for (name, shape, dynamic) in [("static", [Int64(7), 4, -1], false), ("pinned", [0, 4, -1], true), ("copy", [7, 0, 10], true)] {
            let m = try ModelFormats.read(try withShape(name, shape, dynamicInput: dynamic)).model
            XCTAssertEqual(m.layers.map(\.passes), original.layers.map(\.passes), name)
        }
    }

    /// External data may not leave the model's folder through a symbolic link either
    /// (onnx refuses symbolic links to external data altogether).
    func testExternalDataThroughASymlinkOutOfTheFolderIsRefused() throws {
        let dir = try tempDir()
        try FileManager.default.createDirectory(atPath: dir + "/model", withIntermediateDirectories: true)
        var blob: [UInt8] = []
        let path = try mutated(dir + "/model", "m", from: "fixtures/golden/rnn_tanh/model.onnx") { m in
            guard var g = m.graph, let i = g.initializers.firstIndex(where: { $0.name == "W_0" }), let raw = g.initializers[i].rawData else { return }
            blob = raw
            g.initializers[i].rawData = nil
            g.initializers[i].isExternal = true
            g.initializers[i].externalData = [("location", "w.bin")]
            m.graph = g
        }
        try Data(blob).write(to: URL(fileURLWithPath: dir + "/outside.bin"))
        try FileManager.default.createSymbolicLink(atPath: dir + "/model/w.bin", withDestinationPath: "../outside.bin")
        try assertRefused(path, ["W_0", "w.bin", "symbolic link"])
        // A real file in the folder is read.
        try FileManager.default.removeItem(atPath: dir + "/model/w.bin")
        try Data(blob).write(to: URL(fileURLWithPath: dir + "/model/w.bin"))
        XCTAssertEqual(try ModelFormats.read(path).model.layers.map(\.passes),
                       try ModelFormats.read(ConvertTests.path("fixtures/golden/rnn_tanh/model.onnx")).model.layers.map(\.passes))
    }
}
