import Foundation
import XCTest
@testable import LSTMCodec
@testable import LSTMKit

/// Inputs the fuzzers found (fixtures/fuzz-regressions/READER/, one folder per reader of
/// tools/fuzz.sh): each is read again by its reader and must end in a value or one clear error,
/// never a crash or a hang. Keras files go through the command-line tool, which reads HDF5 in a
/// worker process with limits (libhdf5 itself hangs on some of them; docs/SECURITY.md).
final class FuzzRegressionTests: XCTestCase {
    func testEveryRegressionFileEndsInAValueOrOneError() throws {
        let root = KitTest.path("fixtures/fuzz-regressions")
        let dir = KitTest.tempDir(self)
        var replayed = 0
        for reader in try FileManager.default.contentsOfDirectory(atPath: root).sorted() {
            for name in try FileManager.default.contentsOfDirectory(atPath: root + "/" + reader).sorted() {
                let path = root + "/" + reader + "/" + name
                let bytes = KitTest.read(path)
                replayed += 1
                switch reader {
                case "keras":
                    let r = try KitTest.run(["inspect", path], environment: ["LSTMTOOL_HDF5_TIMEOUT": "2"])
                    XCTAssertEqual(r.status, 1, "\(name): \(r.stderr)")
                    XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, "\(name): one line: \(r.stderr)")
                case "npy": _ = try? Npy.decode(bytes, name: name)
                case "npz": _ = try? Npz.decode(bytes, name: name)
                case "pickle": _ = try? TorchPickle.decode(bytes)
                case "golden":
                    try FileManager.default.createDirectory(atPath: dir + "/g", withIntermediateDirectories: true)
                    KitTest.write(bytes, to: dir + "/g/golden.json")
                    _ = try? GoldenCase(path: dir + "/g")
                default:
                    guard let format = ModelFormats.importers.first(where: { $0.name == reader }) else {
                        XCTFail("fixtures/fuzz-regressions/\(reader): no reader of that name")
                        continue
                    }
                    let file = dir + "/input." + (format.extensions.first ?? reader)
                    KitTest.write(bytes, to: file)
                    _ = try? format.importModel(at: file, options: ImportOptions())
                }
            }
        }
        XCTAssertGreaterThan(replayed, 0)
    }
}
