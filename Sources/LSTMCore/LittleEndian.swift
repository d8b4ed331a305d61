/// Little-endian integers in byte arrays: every file format lstmtool reads or writes stores
/// its integers little-endian, and every reader and writer goes through these four.

/// The `T` stored little-endian at `offset` from the start of `bytes`; the caller has checked
/// that `MemoryLayout<T>.size` bytes are there.
@inline(__always)
package func loadLE<T: FixedWidthInteger, C: RandomAccessCollection>(_: T.Type, _ bytes: C, at offset: Int) -> T where C.Element == UInt8 {
    var v: T = 0
    var i = bytes.index(bytes.startIndex, offsetBy: offset)
    for k in 0..<MemoryLayout<T>.size {
        v |= T(truncatingIfNeeded: bytes[i]) << (8 * k)
        i = bytes.index(after: i)
    }
    return v
}

/// `value` as its little-endian bytes.
@inline(__always)
package func leBytes<T: FixedWidthInteger>(_ value: T) -> [UInt8] {
    (0..<MemoryLayout<T>.size).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) }
}

/// Writes `value` little-endian into `bytes` at `offset` (which must have room).
@inline(__always)
package func storeLE<T: FixedWidthInteger>(_ value: T, into bytes: inout [UInt8], at offset: Int) {
    for k in 0..<MemoryLayout<T>.size { bytes[offset + k] = UInt8(truncatingIfNeeded: value >> (8 * k)) }
}

/// Appends `value`'s little-endian bytes to `out`.
@inline(__always)
package func appendLE<T: FixedWidthInteger>(_ value: T, _ out: inout [UInt8]) {
    for k in 0..<MemoryLayout<T>.size { out.append(UInt8(truncatingIfNeeded: value >> (8 * k))) }
}
