internal import LSTMCodec
import LSTMCore

/// The fixed-size preamble at the start of every .lstm file (docs/FORMAT.md).
struct Preamble {
    static let size = 64
    static let magic: [UInt8] = [0x89, 0x4C, 0x53, 0x54, 0x4D, 0x0D, 0x0A, 0x1A]  // \x89 L S T M \r \n \x1a
    static let alignment = 64

    var version: FormatVersion
    var flags: UInt32
    var headerOffset: Int
    var headerLength: Int
    var headerCRC: UInt32
    var alignment: Int
    var blobOffset: Int
    var blobLength: Int

    init(version: FormatVersion, flags: UInt32, headerOffset: Int, headerLength: Int, headerCRC: UInt32,
         alignment: Int, blobOffset: Int, blobLength: Int) {
        self.version = version
        self.flags = flags
        self.headerOffset = headerOffset
        self.headerLength = headerLength
        self.headerCRC = headerCRC
        self.alignment = alignment
        self.blobOffset = blobOffset
        self.blobLength = blobLength
    }

    func encoded() -> [UInt8] {
        var b = [UInt8](repeating: 0, count: Preamble.size)
        for (i, m) in Preamble.magic.enumerated() { b[i] = m }
        storeLE(UInt16(version.major), into: &b, at: 8)
        storeLE(UInt16(version.minor), into: &b, at: 10)
        storeLE(flags, into: &b, at: 12)
        storeLE(UInt64(headerOffset), into: &b, at: 16)
        storeLE(UInt64(headerLength), into: &b, at: 24)
        storeLE(headerCRC, into: &b, at: 32)
        storeLE(UInt32(alignment), into: &b, at: 36)
        storeLE(UInt64(blobOffset), into: &b, at: 40)
        storeLE(UInt64(blobLength), into: &b, at: 48)
        return b
    }

    /// Parses and bounds-checks the preamble against the file size.
    init(parsing b: [UInt8], fileSize: Int, path: String) throws {
        if b.count < 8, !b.isEmpty, Array(Preamble.magic[0..<b.count]) == b {
            throw LSTMError(.truncated, "\(path): truncated: \(fileSize) bytes, the preamble alone needs \(Preamble.size)")
        }
        guard b.count >= 8, Array(b[0..<8]) == Preamble.magic else {
            throw LSTMError(.badMagic, "\(path): not an lstmtool model (bad magic bytes at offset 0)")
        }
        guard b.count >= Preamble.size else {
            throw LSTMError(.truncated, "\(path): truncated: \(fileSize) bytes, the preamble alone needs \(Preamble.size)")
        }
        func u16(_ o: Int) -> Int { Int(loadLE(UInt16.self, b, at: o)) }
        func u32(_ o: Int) -> UInt32 { loadLE(UInt32.self, b, at: o) }
        func u64(_ o: Int) -> UInt64 { loadLE(UInt64.self, b, at: o) }
        version = FormatVersion(u16(8), u16(10))
        try version.checkReadable(path)
        flags = u32(12)
        let limit = UInt64(Int64.max / 4)
        let fields = [u64(16), u64(24), u64(40), u64(48)]
        guard fields.allSatisfy({ $0 < limit }) else {
            throw LSTMError(.outOfBounds, "\(path): preamble offsets beyond any possible file size")
        }
        headerOffset = Int(fields[0])
        headerLength = Int(fields[1])
        headerCRC = u32(32)
        alignment = Int(u32(36))
        blobOffset = Int(fields[2])
        blobLength = Int(fields[3])
        guard headerOffset >= Preamble.size else {
            throw LSTMError(.outOfBounds, "\(path): header offset \(headerOffset) lies inside the \(Preamble.size)-byte preamble")
        }
        guard headerLength <= HeaderCodec.maxHeaderBytes else {
            throw LSTMError(.malformedHeader, "\(path): header length \(headerLength) is more than the \(HeaderCodec.maxHeaderBytes) allowed")
        }
        guard headerOffset + headerLength <= fileSize else {
            throw LSTMError(.truncated, "\(path): truncated: the header ends at byte \(headerOffset + headerLength) but the file has \(fileSize)")
        }
        guard alignment >= 1, alignment <= 1 << 20, alignment & (alignment - 1) == 0 else {
            throw LSTMError(.malformedHeader, "\(path): blob alignment \(alignment) is not a power of two up to 1 MiB")
        }
        guard blobOffset >= headerOffset + headerLength else {
            throw LSTMError(.overlap, "\(path): blob section at \(blobOffset) overlaps the header (\(headerOffset)..<\(headerOffset + headerLength))")
        }
        guard blobOffset % alignment == 0 else {
            throw LSTMError(.malformedHeader, "\(path): blob section offset \(blobOffset) is not aligned to \(alignment)")
        }
        let end = blobOffset + blobLength
        guard end <= fileSize else {
            throw LSTMError(.truncated, "\(path): truncated: the blob section ends at byte \(end) but the file has \(fileSize)")
        }
        guard end == fileSize else {
            throw LSTMError(.outOfBounds, "\(path): \(fileSize - end) unexpected bytes after the blob section (ends at \(end))")
        }
    }
}

/// Byte-shuffle: all first bytes of the elements, then all second bytes, and so on.
/// Groups the slowly varying sign/exponent bytes of floats, which zlib then compresses well.
func byteShuffle(_ src: [UInt8], elementSize: Int) -> [UInt8] {
    guard elementSize > 1 else { return src }
    let n = src.count / elementSize
    var out = [UInt8](repeating: 0, count: src.count)
    src.withUnsafeBufferPointer { s in
        out.withUnsafeMutableBufferPointer { o in
            for k in 0..<elementSize {
                let base = k * n
                for i in 0..<n { o[base + i] = s[i * elementSize + k] }
            }
        }
    }
    return out
}

func byteUnshuffle(_ src: [UInt8], elementSize: Int) -> [UInt8] {
    guard elementSize > 1 else { return src }
    let n = src.count / elementSize
    var out = [UInt8](repeating: 0, count: src.count)
    src.withUnsafeBufferPointer { s in
        out.withUnsafeMutableBytes { o in
            let sp = s.baseAddress!
            // Assemble whole little-endian words from the byte planes (4 and 2 byte elements
            // are the hot cases); other sizes take the byte loop.
            switch elementSize {
            case 4:
                let p0 = sp, p1 = sp + n, p2 = sp + 2 * n, p3 = sp + 3 * n
                for i in 0..<n {
                    let w = UInt32(p0[i]) | UInt32(p1[i]) << 8 | UInt32(p2[i]) << 16 | UInt32(p3[i]) << 24
                    o.storeBytes(of: w.littleEndian, toByteOffset: i * 4, as: UInt32.self)
                }
            case 2:
                let p0 = sp, p1 = sp + n
                for i in 0..<n {
                    o.storeBytes(of: (UInt16(p0[i]) | UInt16(p1[i]) << 8).littleEndian, toByteOffset: i * 2, as: UInt16.self)
                }
            default:
                for k in 0..<elementSize {
                    let base = k * n
                    for i in 0..<n { o[i * elementSize + k] = sp[base + i] }
                }
            }
        }
    }
    return out
}

/// `byteUnshuffle`, exposed for the load benchmark (lstmbench --load-parts).
package func byteUnshuffleForBenchmark(_ src: [UInt8], elementSize: Int) -> [UInt8] {
    byteUnshuffle(src, elementSize: elementSize)
}
