import CZlib
import LSTMCore

/// zlib compression and CRC-32: the only place lstmtool calls zlib.
public enum Zlib {
    /// How the deflate stream is produced; every choice is a standard zlib stream.
    public enum Strategy: String, Sendable, CaseIterable {
        case standard, huffmanOnly = "huffman"
    }

    public static var version: String { String(cString: zlibVersion()) }

    public static func crc32(_ bytes: [UInt8]) -> UInt32 {
        bytes.withUnsafeBufferPointer { buf in
            UInt32(truncatingIfNeeded: crc32_z(0, buf.baseAddress, buf.count))
        }
    }

    /// Continues a CRC-32 over more bytes (for streaming checks).
    public static func crc32(_ crc: UInt32, _ buf: UnsafeRawBufferPointer) -> UInt32 {
        UInt32(truncatingIfNeeded: crc32_z(UInt(crc), buf.baseAddress?.assumingMemoryBound(to: UInt8.self), buf.count))
    }

    /// A zlib stream (RFC 1950) of `bytes`.
    public static func compress(_ bytes: [UInt8], level: Int32 = 6, strategy: Strategy = .standard) throws -> [UInt8] {
        var stream = z_stream()
        let zStrategy = strategy == .huffmanOnly ? Z_HUFFMAN_ONLY : Z_DEFAULT_STRATEGY
        guard deflateInit2_(&stream, level, Z_DEFLATED, 15, 8, zStrategy, ZLIB_VERSION,
                            Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw LSTMError(.io, "zlib: deflateInit2 failed")
        }
        defer { deflateEnd(&stream) }
        let bound = Int(deflateBound(&stream, UInt(bytes.count)))
        var out = [UInt8](repeating: 0, count: bound)
        var input = bytes
        let produced: Int = try input.withUnsafeMutableBufferPointer { inBuf in
            try out.withUnsafeMutableBufferPointer { outBuf in
                var remainingIn = inBuf.count
                var inPtr = inBuf.baseAddress
                stream.next_out = outBuf.baseAddress
                stream.avail_out = 0
                var outLeft = outBuf.count
                var status: Int32 = Z_OK
                // avail_in/avail_out are 32-bit: feed in chunks so > 4 GiB tensors work.
                while status != Z_STREAM_END {
                    if stream.avail_in == 0 && remainingIn > 0 {
                        let n = min(remainingIn, Int(UInt32.max / 2))
                        stream.next_in = inPtr
                        stream.avail_in = UInt32(n)
                        inPtr = inPtr! + n
                        remainingIn -= n
                    }
                    if stream.avail_out == 0 {
                        let n = min(outLeft, Int(UInt32.max / 2))
                        stream.avail_out = UInt32(n)
                        outLeft -= n
                    }
                    status = deflate(&stream, remainingIn == 0 ? Z_FINISH : Z_NO_FLUSH)
                    if status != Z_OK && status != Z_STREAM_END && status != Z_BUF_ERROR {
                        throw LSTMError(.io, "zlib: deflate failed (\(status))")
                    }
                }
                return Int(stream.total_out)
            }
        }
        out.removeSubrange(produced...)
        return out
    }

    /// Inflates a zlib stream into exactly `expectedSize` bytes. A stream that ends early,
    /// runs longer, is corrupt, or is followed by trailing bytes is an error; memory never
    /// exceeds `expectedSize`.
    public static func decompress(_ src: UnsafeRawBufferPointer, expectedSize: Int, what: String) throws -> [UInt8] {
        var stream = z_stream()
        guard inflateInit_(&stream, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw LSTMError(.io, "\(what): zlib inflateInit failed")
        }
        defer { inflateEnd(&stream) }
        var out = [UInt8](repeating: 0, count: expectedSize)
        var extra: UInt8 = 0
        try out.withUnsafeMutableBufferPointer { outBuf in
            var inPtr = src.baseAddress?.assumingMemoryBound(to: UInt8.self)
            var inLeft = src.count
            var outPtr = outBuf.baseAddress
            var outLeft = outBuf.count
            var usingExtra = false
            while true {
                if stream.avail_in == 0 && inLeft > 0 {
                    let n = min(inLeft, Int(UInt32.max / 2))
                    stream.next_in = UnsafeMutablePointer(mutating: inPtr)
                    stream.avail_in = UInt32(n)
                    inPtr = inPtr! + n
                    inLeft -= n
                }
                if stream.avail_out == 0 {
                    if outLeft > 0 {
                        let n = min(outLeft, Int(UInt32.max / 2))
                        stream.next_out = outPtr
                        stream.avail_out = UInt32(n)
                        outPtr = outPtr! + n
                        outLeft -= n
                    } else if !usingExtra {
                        // One spare byte tells "exactly full" from "longer than declared".
                        usingExtra = true
                        withUnsafeMutablePointer(to: &extra) { stream.next_out = $0 }
                        stream.avail_out = 1
                    }
                }
                let status = inflate(&stream, Z_NO_FLUSH)
                if usingExtra && stream.avail_out == 0 {
                    throw LSTMError(.sizeMismatch, "\(what): inflates to more than the declared \(expectedSize) bytes")
                }
                if status == Z_STREAM_END { break }
                if status == Z_BUF_ERROR && stream.avail_in == 0 && inLeft == 0 {
                    throw LSTMError(.sizeMismatch, "\(what): zlib stream ends early: inflated \(stream.total_out) of the declared \(expectedSize) bytes")
                }
                if status != Z_OK && status != Z_BUF_ERROR {
                    let msg = stream.msg.map { String(cString: $0) } ?? "error \(status)"
                    // Named as a CRC mismatch like any other corrupt blob: the stored bytes fail
                    // zlib's own checks before the raw bytes' CRC-32 can even be computed.
                    throw LSTMError(.checksum, "\(what): CRC mismatch: the compressed blob is corrupt (zlib: \(msg))")
                }
            }
            if Int(stream.total_out) != expectedSize {
                throw LSTMError(.sizeMismatch, "\(what): inflated \(stream.total_out) bytes, the header declares \(expectedSize)")
            }
            if stream.avail_in != 0 || inLeft != 0 {
                throw LSTMError(.sizeMismatch, "\(what): \(Int(stream.avail_in) + inLeft) trailing bytes after the zlib stream")
            }
        }
        return out
    }

    public static func decompress(_ bytes: [UInt8], expectedSize: Int, what: String) throws -> [UInt8] {
        try bytes.withUnsafeBytes { try decompress($0, expectedSize: expectedSize, what: what) }
    }
}

extension Zlib {
    /// Inflates a raw deflate stream (no zlib header), as zip members store them, into
    /// exactly `expectedSize` bytes.
    public static func inflateRaw(_ bytes: [UInt8], expectedSize: Int, what: String) throws -> [UInt8] {
        guard bytes.count < Int(UInt32.max / 2), expectedSize < Int(UInt32.max / 2) else {
            throw LSTMError(.unsupported, "\(what): deflate member larger than 2 GiB")
        }
        var stream = z_stream()
        guard inflateInit2_(&stream, -15, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw LSTMError(.io, "\(what): zlib inflateInit2 failed")
        }
        defer { inflateEnd(&stream) }
        var out = [UInt8](repeating: 0, count: expectedSize + 1)
        var input = bytes
        let status: Int32 = input.withUnsafeMutableBufferPointer { inBuf in
            out.withUnsafeMutableBufferPointer { outBuf in
                stream.next_in = inBuf.baseAddress
                stream.avail_in = UInt32(inBuf.count)
                stream.next_out = outBuf.baseAddress
                stream.avail_out = UInt32(outBuf.count)
                return inflate(&stream, Z_FINISH)
            }
        }
        guard status == Z_STREAM_END, Int(stream.total_out) == expectedSize else {
            throw LSTMError(.invalidInput, "\(what): corrupt deflate data or wrong size")
        }
        out.removeLast()
        return out
    }
}
