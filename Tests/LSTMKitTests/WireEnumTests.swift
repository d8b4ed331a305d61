import XCTest
@testable import LSTMCodec
@testable import LSTMCore

/// Every Swift enum case has exactly one schema value, and unknown values are refused: the
/// wire numbers come from schema/lstmtool.proto by name, never from declaration order.
final class WireEnumTests: XCTestCase {
    func check<V: Equatable & CaseIterable, W>(_ table: WireTable<V, W>, _ name: String) {
        var numbers = Set<UInt32>()
        for c in V.allCases {
            let w = table.wire(c)
            XCTAssertEqual(table.value(w), c, name)
            XCTAssertTrue(numbers.insert(w.rawValue).inserted, "\(name): two cases share \(w.rawValue)")
            XCTAssertNotEqual(w.rawValue, 0, "\(name): 0 is UNSPECIFIED in the schema")
        }
        XCTAssertNil(table.value(W(rawValue: 0)!), name)
        XCTAssertNil(table.value(W(rawValue: 999)!), name)
    }

    func testEveryCaseMapsToOneSchemaValue() {
        check(WireEnums.cell, "cell")
        check(WireEnums.direction, "direction")
        check(WireEnums.activation, "activation")
        check(WireEnums.dtype, "dtype")
        check(WireEnums.encoding, "encoding")
        check(WireEnums.gateLayout, "gate layout")
        // The schema's numbers, as released in format 1.0 (fixtures/format/v1.0 depends on them).
        XCTAssertEqual(WireEnums.cell.wire(.lstm).rawValue, 2)
        XCTAssertEqual(WireEnums.activation.wire(.softplus).rawValue, 11)
        XCTAssertEqual(WireEnums.encoding.wire(.shuffleZlib).rawValue, 3)
        XCTAssertEqual(WireEnums.gateLayout.wire(.gruZRN).rawValue, 4)
    }
}
