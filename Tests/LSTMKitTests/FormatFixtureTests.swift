import Foundation
import XCTest
@testable import LSTMKit

/// fixtures/models: the README's hand-computed parameter counts are what inspect --json says.
final class FormatFixtureTests: XCTestCase {
    func testReadmeParameterCountsMatchInspect() throws {
        let readme = try String(contentsOfFile: KitTest.path("fixtures/models/README.md"), encoding: .utf8)
        var rows: [(file: String, count: Int)] = []
        for line in readme.split(separator: "\n") where line.hasPrefix("| `") {
            let cells = line.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
            let file = cells[0].trimmingCharacters(in: CharacterSet(charactersIn: "`"))
            rows.append((file, try XCTUnwrap(Int(cells.last!), "last column of \(line)")))
        }
        let files = try FileManager.default.contentsOfDirectory(atPath: KitTest.path("fixtures/models")).filter { $0.hasSuffix(".lstm") }
        XCTAssertEqual(Set(rows.map(\.file)), Set(files), "the README lists every model")
        XCTAssertEqual(rows.count, 11)
        for (file, count) in rows {
            let r = try KitTest.run(["inspect", "fixtures/models/" + file, "--json"])
            XCTAssertEqual(r.status, 0, r.stderr)
            let j = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
            XCTAssertEqual(j["total_parameters"] as? Int, count, file)
            let perLayer = (j["layers"] as? [[String: Any]])?.compactMap { $0["parameters"] as? Int } ?? []
            XCTAssertEqual(perLayer.reduce(0, +), count, "\(file): layer counts add up")
        }
    }
}
