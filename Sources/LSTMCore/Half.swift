/// IEEE 754 binary16 ("half") conversions on bit patterns.
///
/// Swift's `Float16` type is not available on every platform this package builds for (Intel
/// macOS), so halves are converted here, exactly, on their bits.
package enum Half {
    /// The exact value of the half with bits `h` (every half is exactly a Double).
    package static func toDouble(_ h: UInt16) -> Double {
        let sign: Double = h & 0x8000 != 0 ? -1 : 1
        let exponent = Int((h >> 10) & 0x1F), fraction = Double(h & 0x3FF)
        switch exponent {
        case 0: return sign * fraction * 0x1p-24  // zero and subnormals
        case 0x1F:
            if fraction == 0 { return sign * .infinity }
            // Keep the payload's top bits so a NaN stays the same NaN through a round trip.
            let payload = UInt64(h & 0x3FF) << 42
            return Double(bitPattern: (h & 0x8000 != 0 ? 1 << 63 : 0) | 0x7FF0_0000_0000_0000 | payload | (1 << 51))
        default: return sign * (1 + fraction / 1024) * Double(sign: .plus, exponent: exponent - 15, significand: 1)
        }
    }

    /// The half nearest to `v` (ties to even), as bits; out-of-range values become ±inf and
    /// NaN stays a quiet NaN keeping its payload's top bits.
    package static func bits(_ v: Double) -> UInt16 {
        let signBit: UInt16 = v.sign == .minus ? 0x8000 : 0
        if v.isNaN {
            let payload = UInt16(truncatingIfNeeded: (v.bitPattern >> 42) & 0x3FF)
            return signBit | 0x7C00 | 0x200 | payload
        }
        let a = abs(v)
        if a.isInfinite || a >= 65520 { return signBit | 0x7C00 }  // 65520 rounds up to inf
        if a < 0x1p-14 {
            // Subnormal (or zero): a multiple of 2^-24, rounded to nearest even.
            let q = (a * 0x1p24).rounded(.toNearestOrEven)
            return signBit | UInt16(q)
        }
        let e = a.exponent  // -14...15
        let scaled = (a / Double(sign: .plus, exponent: e, significand: 1) - 1) * 1024
        var fraction = scaled.rounded(.toNearestOrEven)
        var exponent = Int(e) + 15
        if fraction == 1024 {
            fraction = 0
            exponent += 1
            if exponent >= 0x1F { return signBit | 0x7C00 }
        }
        return signBit | UInt16(exponent) << 10 | UInt16(fraction)
    }
}
