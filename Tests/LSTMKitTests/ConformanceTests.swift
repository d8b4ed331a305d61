import Foundation
import XCTest
@testable import LSTMKit

/// The conformance corpus (fixtures/conformance, written by tools/make_conformance.py): every
/// crafted file reaches the verdict, and a refusal the error kind, that its manifest gives
/// (docs/FORMAT.md §7, rules P, H, W, L, T, M, S, B and the order of §7.1).
final class ConformanceTests: XCTestCase {
    func testEveryFileReachesItsVerdict() throws {
        let dir = KitTest.path("fixtures/conformance")
        let manifest = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/manifest.json"))) as! [String: Any]
        let files = manifest["files"] as! [String: [String: Any]]
        let onDisk = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix(".lstm") }
        XCTAssertEqual(Set(onDisk), Set(files.keys), "the manifest lists exactly the files of the folder")
        let base = try ModelReader(path: dir + "/base.lstm").model()
        var accepted = 0, refused = 0
        for (name, entry) in files.sorted(by: { $0.key < $1.key }) {
            let verdict = entry["verdict"] as! String
            do {
                let m = try ModelReader(path: dir + "/" + name).model()
                for layer in m.layers { for pass in layer.passes { for (_, t) in pass { _ = t.bytes } } }
                XCTAssertEqual(verdict, "accept", "\(name) was read, the manifest says \(verdict) (\(entry["kind"] ?? ""), rule \(entry["rule"] ?? ""))")
                if entry["same_as_base"] as? Bool == true {
                    XCTAssertEqual(m.layers, base.layers, "\(name) reads as the base model")
                }
                accepted += 1
            } catch let e as LSTMError {
                XCTAssertEqual(verdict, "refuse", "\(name) was refused (\(e)), the manifest says accept")
                XCTAssertEqual(e.kind.rawValue, entry["kind"] as? String, "\(name) (rule \(entry["rule"] ?? "")): \(e)")
                XCTAssertFalse(e.description.contains("\n"), "one line")
                refused += 1
            }
        }
        print("conformance corpus: \(files.count) files, \(accepted) accepted, \(refused) refused as the manifest says")
    }
}
