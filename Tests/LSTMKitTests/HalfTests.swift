import XCTest
@testable import LSTMCore

/// The software half-float conversions (LSTMCore/Half.swift, used because `Float16` is not
/// available on every platform) against the hardware `Float16` of this machine, for every one
/// of the 65 536 bit patterns, and rounding of doubles against `Float16(Double)`.
final class HalfTests: XCTestCase {
    #if !(os(macOS) && arch(x86_64))
    func testEveryHalfWidensExactly() {
        for bits in 0...UInt16.max {
            let ours = Half.toDouble(bits), theirs = Double(Float16(bitPattern: bits))
            if theirs.isNaN {
                XCTAssertTrue(ours.isNaN, "\(bits)")
                XCTAssertEqual(Half.bits(ours), bits | 0x0200, "NaN \(bits) keeps sign and payload, made quiet")
            } else {
                XCTAssertEqual(ours.bitPattern, theirs.bitPattern, "bits \(bits)")
                XCTAssertEqual(Half.bits(ours), bits, "round trip of \(bits)")
            }
        }
    }

    func testDoublesRoundToNearestEven() {
        var rng = KitTest.RNG(17)
        var checked = 0
        for _ in 0..<200_000 {
            // Values around every binade of half, ties included (multiples of 2^-25 scaled).
            let e = rng.int(44) - 26
            let v = rng.uniform(2) * Double(sign: .plus, exponent: e, significand: 1)
            XCTAssertEqual(Half.bits(v), Float16(v).bitPattern, "\(v)")
            checked += 1
        }
        for v in [65504.0, 65519.99, 65520.0, 1e10, -1e10, 0x1p-24, 0x1p-25, 0x1.8p-25, -0.0, .infinity, -.infinity] {
            XCTAssertEqual(Half.bits(v), Float16(v).bitPattern, "\(v)")
        }
        XCTAssertEqual(checked, 200_000)
    }
    #endif
}
