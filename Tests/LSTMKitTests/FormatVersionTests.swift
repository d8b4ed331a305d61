import Foundation
import XCTest
@testable import LSTMCodec
@testable import LSTMCore
@testable import LSTMKit

/// The version policy: every released version's fixtures read for ever; a newer minor reads;
/// another major is refused with a message naming both versions.
final class FormatVersionTests: XCTestCase {
    static let kinds = ["rnn_tanh", "rnn_relu", "lstm", "lstm_peephole_all", "lstm_peephole_subset", "lstm_coupled",
                        "lstm_projection", "gru_reset_before", "gru_reset_after", "lstm_2l_bidirectional", "lstm_stack_widths"]

    func versionFolders() throws -> [(FormatVersion, String)] {
        let base = KitTest.path("fixtures/format")
        return try FileManager.default.contentsOfDirectory(atPath: base).sorted().compactMap { name in
            guard name.hasPrefix("v"), KitTest.isDir(base + "/" + name) else { return nil }
            return (try FormatVersion(parsing: String(name.dropFirst())), base + "/" + name)
        }
    }

    func testEveryVersionFixtureReadsAndValidates() throws {
        let folders = try versionFolders()
        XCTAssertFalse(folders.isEmpty, "fixtures/format holds no version folder")
        for released in FormatVersion.released {
            XCTAssertTrue(folders.contains { $0.0 == released }, "no fixtures for released version \(released)")
        }
        var files = 0
        for (version, folder) in folders {
            let names = try FileManager.default.contentsOfDirectory(atPath: folder).filter { $0.hasSuffix(".lstm") }.sorted()
            XCTAssertFalse(names.isEmpty, "\(folder) holds no .lstm file")
            if version == FormatVersion(1, 0) {
                XCTAssertEqual(Set(names), Set(Self.kinds.map { $0 + ".lstm" }), "v1.0 holds one model of each kind")
            }
            for name in names {
                let path = folder + "/" + name
                let reader = try ModelReader(path: path)
                XCTAssertEqual(reader.version, version, "\(path): the preamble's version is its folder's")
                let model = try reader.model()
                XCTAssertNoThrow(try model.validate(), path)
                XCTAssertGreaterThan(model.parameterCount, 0)
                let report = try InspectReport(reader: reader, stats: true)
                XCTAssertEqual(report.totalParameters, model.parameterCount)
                // Whatever version wrote it, this version can evaluate it and write it again.
                _ = try Evaluator(model: model, precision: .f64).run(RunInput(x: Array(repeating: 0.25, count: 2 * model.inputSize), steps: 2, batch: 1))
                let back = try ModelReader(path: path).model()
                XCTAssertEqual(try KitTest.encode(back), try KitTest.encode(model))
                files += 1
            }
        }
        XCTAssertGreaterThanOrEqual(files, Self.kinds.count)
    }

    /// The v1.0 fixtures hold the golden cases' weights exactly where no dtype was changed.
    func testVersionFixturesHoldTheGoldenWeights() throws {
        let unchanged = ["rnn_tanh", "rnn_relu", "lstm", "lstm_peephole_subset", "lstm_coupled", "gru_reset_after", "lstm_2l_bidirectional"]
        for name in unchanged {
            let fixture = try ModelReader(path: KitTest.path("fixtures/format/v1.0/\(name).lstm")).model()
            let golden = try ModelFormats.read(KitTest.path("fixtures/golden/\(name)/model.json")).model
            XCTAssertEqual(fixture.layers.map(\.spec), golden.layers.map(\.spec), name)
            XCTAssertEqual(fixture.namedTensors.map(\.name), golden.namedTensors.map(\.name), name)
            for (a, b) in zip(fixture.namedTensors, golden.namedTensors) {
                XCTAssertEqual(a.tensor.dtype, b.tensor.dtype, "\(name) \(a.name)")
                XCTAssertEqual(a.tensor.shape, b.tensor.shape, "\(name) \(a.name)")
                XCTAssertEqual(a.tensor.bytes, b.tensor.bytes, "\(name) \(a.name)")
            }
        }
        // Mixed dtypes are where the README says.
        let proj = try ModelReader(path: KitTest.path("fixtures/format/v1.0/lstm_projection.lstm")).model()
        XCTAssertEqual(proj.layers[0].passes[0][.projection]?.dtype, .float64)
        XCTAssertEqual(proj.layers[0].passes[0][.inputWeights]?.dtype, .float32)
        let gru = try ModelReader(path: KitTest.path("fixtures/format/v1.0/gru_reset_before.lstm")).model()
        XCTAssertEqual(gru.layers[0].passes[0][.recurrentWeights]?.dtype, .bfloat16)
        let peep = try ModelReader(path: KitTest.path("fixtures/format/v1.0/lstm_peephole_all.lstm")).model()
        XCTAssertEqual(peep.layers[0].passes[0][.peepholeInput]?.dtype, .float16)
        let encodings = try Set(Self.kinds.flatMap { k in
            try ModelReader(path: KitTest.path("fixtures/format/v1.0/\(k).lstm")).header.tensors.map(\.encoding)
        })
        XCTAssertEqual(encodings, Set(Encoding.allCases))
    }

    func withVersion(_ major: UInt16, _ minor: UInt16) throws -> (file: [UInt8], model: Model) {
        let m = KitTest.model(KitTest.variants[3].specs, encoding: .shuffleZlib)
        var file = try KitTest.encode(m)
        file[8] = UInt8(major & 0xFF); file[9] = UInt8(major >> 8)
        file[10] = UInt8(minor & 0xFF); file[11] = UInt8(minor >> 8)
        return (file, m)
    }

    func testNewerMajorIsRefusedNamingBothVersions() throws {
        let dir = KitTest.tempDir(self)
        let (file, _) = try withVersion(2, 0)
        let e = KitTest.loadError(file, in: dir, name: "v2.lstm")
        XCTAssertEqual(e?.kind, .unsupportedVersion)
        XCTAssertTrue(e?.description.contains("2.0") ?? false, e?.description ?? "")
        XCTAssertTrue(e?.description.contains("1.x") ?? false, e?.description ?? "")
        XCTAssertTrue(e?.description.contains("v2.lstm") ?? false, "the message names the file")
        XCTAssertTrue(e?.message.contains("newer") ?? false)
    }

    func testMajorZeroIsRefused() throws {
        let dir = KitTest.tempDir(self)
        let (file, _) = try withVersion(0, 9)
        let e = KitTest.loadError(file, in: dir)
        XCTAssertEqual(e?.kind, .unsupportedVersion)
        XCTAssertTrue(e?.message.contains("0.9") ?? false, e?.message ?? "")
    }

    func testNewerMinorIsRead() throws {
        let dir = KitTest.tempDir(self)
        let (file, m) = try withVersion(1, 7)
        let path = dir + "/v1.7.lstm"
        KitTest.write(file, to: path)
        let reader = try ModelReader(path: path)
        XCTAssertEqual(reader.version, FormatVersion(1, 7))
        XCTAssertEqual(try reader.model(), m)
        XCTAssertEqual(try InspectReport(reader: reader, stats: false).formatVersion, "1.7")
        // Written again by this version, it says the current version.
        try ModelWriter.write(try reader.model(), to: dir + "/again.lstm")
        XCTAssertEqual(try ModelReader(path: dir + "/again.lstm").version, .current)
    }

    func testFormatVersionParsingAndOrder() throws {
        XCTAssertEqual(try FormatVersion(parsing: "1.12"), FormatVersion(1, 12))
        XCTAssertLessThan(FormatVersion(1, 9), FormatVersion(1, 10))
        for bad in ["1", "1.x", "", "1.2.3", "-1.0"] {
            XCTAssertThrowsError(try FormatVersion(parsing: bad), bad)
        }
        XCTAssertEqual(FormatVersion.current.description, "1.0")
        XCTAssertTrue(FormatVersion.released.contains(.current))
    }
}

extension KitTest {
    static func isDir(_ path: String) -> Bool {
        var d: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &d) && d.boolValue
    }
}
