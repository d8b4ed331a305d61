import LSTMCodec
import LSTMCore

/// NumPy's .npz: a zip archive of .npy members (stored or deflated, zip64 sizes accepted).
package enum Npz {
    package static func decode(_ b: [UInt8], name: String) throws -> [(String, NpyArray)] {
        func fail(_ s: String) -> LSTMError { LSTMError(.invalidInput, "\(name): \(s)") }
        func u16(_ o: Int) throws -> Int {
            guard o >= 0, o + 2 <= b.count else { throw fail("truncated zip structure at byte \(o)") }
            return Int(b[o]) | Int(b[o + 1]) << 8
        }
        func u32(_ o: Int) throws -> Int { let lo = try u16(o); let hi = try u16(o + 2); return lo | hi << 16 }
        func u64(_ o: Int) throws -> Int {
            let lo = try u32(o), hi = try u32(o + 4)
            guard hi < 1 << 30 else { throw fail("zip64 size too large") }
            return lo | hi << 32
        }
        guard b.count >= 22 else { throw fail("not a .npz file (too short for a zip archive)") }
        var eocd = -1
        var i = b.count - 22
        while i >= max(0, b.count - 22 - 65535) {
            if b[i] == 0x50 && b[i + 1] == 0x4B && b[i + 2] == 0x05 && b[i + 3] == 0x06 { eocd = i; break }
            i -= 1
        }
        guard eocd >= 0 else { throw fail("not a .npz file (no zip end record)") }
        var entries = try u16(eocd + 10)
        var cdOffset = try u32(eocd + 16)
        if entries == 0xFFFF || cdOffset == 0xFFFF_FFFF {
            // zip64 end-of-central-directory locator sits just before the end record.
            let loc = eocd - 20
            guard loc >= 0, try u32(loc) == 0x0706_4B50 else { throw fail("zip64 archive without its locator") }
            let rec = try u64(loc + 8)
            guard try u32(rec) == 0x0606_4B50 else { throw fail("bad zip64 end record") }
            entries = try u64(rec + 32)
            cdOffset = try u64(rec + 48)
        }
        guard entries <= 10_000 else { throw fail("\(entries) members is too many") }
        var out: [(String, NpyArray)] = []
        var p = cdOffset
        for _ in 0..<entries {
            guard try u32(p) == 0x0201_4B50 else { throw fail("bad zip central directory at byte \(p)") }
            let method = try u16(p + 10)
            let crc = UInt32(try u32(p + 16))
            var csize = try u32(p + 20), usize = try u32(p + 24)
            let nlen = try u16(p + 28), xlen = try u16(p + 30), clen = try u16(p + 32)
            var local = try u32(p + 42)
            guard p + 46 + nlen + xlen <= b.count else { throw fail("truncated zip central directory") }
            let member = String(decoding: b[(p + 46)..<(p + 46 + nlen)], as: UTF8.self)
            // zip64 extra field: the 0xFFFFFFFF sizes and offset follow in this order.
            var x = p + 46 + nlen
            let xend = x + xlen
            while x + 4 <= xend {
                let id = try u16(x), len = try u16(x + 2)
                if id == 1 {
                    var q = x + 4
                    if usize == 0xFFFF_FFFF { usize = try u64(q); q += 8 }
                    if csize == 0xFFFF_FFFF { csize = try u64(q); q += 8 }
                    if local == 0xFFFF_FFFF { local = try u64(q); q += 8 }
                }
                x += 4 + len
            }
            p += 46 + nlen + xlen + clen
            guard try u32(local) == 0x0403_4B50 else { throw fail("bad zip local header for \(member)") }
            let nl = try u16(local + 26), xl = try u16(local + 28)
            let start = local + 30 + nl + xl
            guard csize >= 0, start + csize <= b.count else { throw fail("member \(member) runs past the end of the file") }
            let stored = Array(b[start..<(start + csize)])
            let data: [UInt8]
            switch method {
            case 0: data = stored
            case 8:
                guard usize <= 1 << 32 else { throw fail("member \(member) too large") }
                data = try Zlib.inflateRaw(stored, expectedSize: usize, what: "\(name): \(member)")
            default: throw fail("member \(member) uses zip compression method \(method); only stored and deflate are supported")
            }
            guard Zlib.crc32(data) == crc else { throw fail("CRC mismatch in member \(member)") }
            let key = member.hasSuffix(".npy") ? String(member.dropLast(4)) : member
            out.append((key, try Npy.decode(data, name: "\(name):\(member)")))
        }
        return out
    }

    /// A stored (uncompressed) zip of .npy members, readable by numpy.load.
    package static func encode(_ arrays: [(String, NpyArray)]) -> [UInt8] {
        var out: [UInt8] = []
        var central: [UInt8] = []
        func le16(_ v: Int) -> [UInt8] { [UInt8(v & 0xFF), UInt8(v >> 8 & 0xFF)] }
        func le32(_ v: Int) -> [UInt8] { le16(v & 0xFFFF) + le16(v >> 16 & 0xFFFF) }
        for (key, a) in arrays {
            let data = Npy.encode(a)
            let name = Array("\(key).npy".utf8)
            let crc = Int(Zlib.crc32(data))
            let offset = out.count
            out += le32(0x0403_4B50) + le16(20) + le16(0) + le16(0) + le16(0) + le16(0x21)
                + le32(crc) + le32(data.count) + le32(data.count) + le16(name.count) + le16(0) + name + data
            central += le32(0x0201_4B50) + le16(20) + le16(20) + le16(0) + le16(0) + le16(0) + le16(0x21)
                + le32(crc) + le32(data.count) + le32(data.count) + le16(name.count) + le16(0) + le16(0)
                + le16(0) + le16(0) + le32(0) + le32(offset) + name
        }
        let cdOffset = out.count
        out += central
        out += le32(0x0605_4B50) + le16(0) + le16(0) + le16(arrays.count) + le16(arrays.count)
            + le32(central.count) + le32(cdOffset) + le16(0)
        return out
    }
}
