import Foundation
import XCTest

/// The protobuf-c code in Sources/CLSTMProto is generated from schema/*.proto and committed;
/// this test fails when someone edits a schema without regenerating (or edits generated code).
final class GeneratedCodeTests: XCTestCase {
    func testGeneratedCodeMatchesSchema() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("lstmtool-gen-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: out) }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/bash")
        p.arguments = [root.appendingPathComponent("tools/generate_proto.sh").path, out.path]
        try p.run()
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0, "tools/generate_proto.sh failed (is protoc-c installed?)")
        let committed = root.appendingPathComponent("Sources/CLSTMProto")
        var compared = 0
        for rel in ["lstmtool.pb-c.c", "onnx_subset.pb-c.c", "include/lstmtool.pb-c.h", "include/onnx_subset.pb-c.h"] {
            let fresh = try Data(contentsOf: out.appendingPathComponent(rel))
            let kept = try Data(contentsOf: committed.appendingPathComponent(rel))
            XCTAssertEqual(fresh, kept, "Sources/CLSTMProto/\(rel) is stale: run tools/generate_proto.sh")
            compared += 1
        }
        XCTAssertEqual(compared, 4)
    }
}
