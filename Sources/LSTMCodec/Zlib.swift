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
        let z = try ZStream(deflateLevel: level, strategy: strategy == .huffmanOnly ? Z_HUFFMAN_ONLY : Z_DEFAULT_STRATEGY)
        let bound = Int(deflateBound(z.stream, UInt(bytes.count)))
        var out = [UInt8](repeating: 0, count: bound)
        let produced: Int = try bytes.withUnsafeBufferPointer { inBuf in
            try out.withUnsafeMutableBufferPointer { outBuf in
                let s = z.stream
                var inPtr = inBuf.baseAddress
                var remainingIn = inBuf.count
                s.pointee.next_out = outBuf.baseAddress
                s.pointee.avail_out = 0
                var outLeft = outBuf.count
                var status: Int32 = Z_OK
                // avail_in/avail_out are 32-bit: feed in chunks so > 4 GiB tensors work.
                while status != Z_STREAM_END {
                    if s.pointee.avail_in == 0 && remainingIn > 0 {
                        let n = min(remainingIn, Int(UInt32.max / 2))
                        // zlib never writes through next_in (it is `z_const` in zlib.h).
                        s.pointee.next_in = UnsafeMutablePointer(mutating: inPtr)
                        s.pointee.avail_in = UInt32(n)
                        inPtr = inPtr! + n
                        remainingIn -= n
                    }
                    if s.pointee.avail_out == 0 {
                        let n = min(outLeft, Int(UInt32.max / 2))
                        s.pointee.avail_out = UInt32(n)
                        outLeft -= n
                    }
                    status = deflate(s, remainingIn == 0 ? Z_FINISH : Z_NO_FLUSH)
                    if status != Z_OK && status != Z_STREAM_END && status != Z_BUF_ERROR {
                        throw LSTMError(.io, "zlib: deflate failed (\(status))")
                    }
                }
                return Int(s.pointee.total_out)
            }
        }
        out.removeSubrange(produced...)
        return out
    }

    /// Inflates a zlib stream into exactly `expectedSize` bytes. A stream that ends early,
    /// runs longer, is corrupt, or is followed by trailing bytes is an error; memory never
    /// exceeds `expectedSize` + 1.
    public static func decompress(_ src: UnsafeRawBufferPointer, expectedSize: Int, what: String) throws -> [UInt8] {
        let z = try ZStream(inflateWindowBits: 15, what: what)
        // One spare byte past the declared size tells "exactly full" from "longer than declared".
        var out = [UInt8](repeating: 0, count: expectedSize + 1)
        try out.withUnsafeMutableBufferPointer { outBuf in
            let s = z.stream
            var inPtr = src.baseAddress?.assumingMemoryBound(to: UInt8.self)
            var inLeft = src.count
            var outPtr = outBuf.baseAddress
            var outLeft = expectedSize
            var usingSpare = false
            while true {
                if s.pointee.avail_in == 0 && inLeft > 0 {
                    let n = min(inLeft, Int(UInt32.max / 2))
                    s.pointee.next_in = UnsafeMutablePointer(mutating: inPtr)
                    s.pointee.avail_in = UInt32(n)
                    inPtr = inPtr! + n
                    inLeft -= n
                }
                if s.pointee.avail_out == 0 {
                    if outLeft > 0 {
                        let n = min(outLeft, Int(UInt32.max / 2))
                        s.pointee.next_out = outPtr
                        s.pointee.avail_out = UInt32(n)
                        outPtr = outPtr! + n
                        outLeft -= n
                    } else if !usingSpare {
                        usingSpare = true
                        s.pointee.next_out = outBuf.baseAddress! + expectedSize
                        s.pointee.avail_out = 1
                    }
                }
                let status = inflate(s, Z_NO_FLUSH)
                if usingSpare && s.pointee.avail_out == 0 {
                    throw LSTMError(.sizeMismatch, "\(what): inflates to more than the declared \(expectedSize) bytes")
                }
                if status == Z_STREAM_END { break }
                if status == Z_BUF_ERROR && s.pointee.avail_in == 0 && inLeft == 0 {
                    // A truncated stream, whether in its deflate data or in its Adler-32 (B2).
                    if Int(s.pointee.total_out) == expectedSize {
                        throw LSTMError(.sizeMismatch, "\(what): zlib stream ends early: it stops before its Adler-32 checksum (truncated)")
                    }
                    throw LSTMError(.sizeMismatch, "\(what): zlib stream ends early: inflated \(s.pointee.total_out) of the declared \(expectedSize) bytes")
                }
                if status == Z_NEED_DICT {
                    throw LSTMError(.checksum, "\(what): CRC mismatch: the compressed blob is corrupt (its zlib stream asks for a preset dictionary)")
                }
                if status != Z_OK && status != Z_BUF_ERROR {
                    let msg = s.pointee.msg.map { String(cString: $0) } ?? "error \(status)"
                    // Named as a CRC mismatch like any other corrupt blob: the stored bytes fail
                    // zlib's own checks before the raw bytes' CRC-32 can even be computed.
                    throw LSTMError(.checksum, "\(what): CRC mismatch: the compressed blob is corrupt (zlib: \(msg))")
                }
            }
            if Int(s.pointee.total_out) != expectedSize {
                throw LSTMError(.sizeMismatch, "\(what): inflated \(s.pointee.total_out) bytes, the header declares \(expectedSize)")
            }
            if s.pointee.avail_in != 0 || inLeft != 0 {
                throw LSTMError(.sizeMismatch, "\(what): \(Int(s.pointee.avail_in) + inLeft) trailing bytes after the zlib stream")
            }
        }
        out.removeLast()
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
        let z = try ZStream(inflateWindowBits: -15, what: what)
        var out = [UInt8](repeating: 0, count: expectedSize + 1)
        let status: Int32 = bytes.withUnsafeBufferPointer { inBuf in
            out.withUnsafeMutableBufferPointer { outBuf in
                let s = z.stream
                s.pointee.next_in = UnsafeMutablePointer(mutating: inBuf.baseAddress)
                s.pointee.avail_in = UInt32(inBuf.count)
                s.pointee.next_out = outBuf.baseAddress
                s.pointee.avail_out = UInt32(outBuf.count)
                return inflate(s, Z_FINISH)
            }
        }
        guard status == Z_STREAM_END, Int(z.stream.pointee.total_out) == expectedSize else {
            throw LSTMError(.invalidInput, "\(what): corrupt deflate data or wrong size")
        }
        out.removeLast()
        return out
    }
}

/// One z_stream, owned: allocated on the heap because zlib keeps a pointer back to it
/// between calls (a Swift local's address is only valid inside one `&` call), and ended in
/// `deinit` whatever path the caller leaves by.
private final class ZStream {
    let stream: UnsafeMutablePointer<z_stream>
    private let inflating: Bool

    /// A deflate stream (zlib header, window 15, memory level 8).
    init(deflateLevel level: Int32, strategy: Int32) throws {
        stream = .allocate(capacity: 1)
        stream.initialize(to: z_stream())
        inflating = false
        guard deflateInit2_(stream, level, Z_DEFLATED, 15, 8, strategy, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw LSTMError(.io, "zlib: deflateInit2 failed")  // deinit frees the stream
        }
    }

    /// An inflate stream; `windowBits` 15 for zlib streams, -15 for raw deflate.
    init(inflateWindowBits windowBits: Int32, what: String) throws {
        stream = .allocate(capacity: 1)
        stream.initialize(to: z_stream())
        inflating = true
        guard inflateInit2_(stream, windowBits, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw LSTMError(.io, "\(what): zlib inflateInit failed")  // deinit frees the stream
        }
    }

    deinit {
        if inflating { inflateEnd(stream) } else { deflateEnd(stream) }
        stream.deallocate()
    }
}
