internal import LSTMCodec
import LSTMCore

/// A zip archive read through its central directory (PKWARE APPNOTE): what `.npz`, `torch.save`
/// checkpoints and `.keras` files are.
///
/// Only what those writers use is accepted: stored and deflated members, zip64 sizes, no
/// encryption, no multi-disk archives. Every offset and size is checked against the file
/// before it is used, member data must lie inside the file and not overlap the central
/// directory, and a member is inflated into exactly its declared size (bounded by the caller's
/// limit) with its CRC-32 checked. Member names are data, never paths to write to.
package struct ZipArchive: Sendable {
    /// One member, as the central directory describes it.
    package struct Entry: Sendable {
        /// The member's name as stored (UTF-8, `/`-separated).
        package var name: String
        /// 0 stored, 8 deflate.
        package var method: Int
        package var crc32: UInt32
        package var compressedSize: Int
        package var size: Int
        /// Where its (possibly compressed) bytes start in the file.
        package var dataOffset: Int
    }

    /// The most members an archive may have.
    package static let maxEntries = 100_000
    /// The most a deflated member may expand (deflate's own limit is about 1032:1).
    package static let maxInflateRatio = 1032
    /// The file's path or name, for messages.
    package let name: String
    /// Members in central-directory order.
    package let entries: [Entry]
    private let file: MappedFile

    /// Opens the archive at `path`.
    package init(path: String) throws {
        try self.init(file: try MappedFile(path: path))
    }

    /// Opens an archive held in memory (`name` appears in messages).
    package init(bytes: [UInt8], name: String) throws {
        try self.init(file: MappedFile(bytes: bytes, name: name))
    }

    init(file: MappedFile) throws {
        self.file = file
        name = file.path
        entries = try ZipArchive.readDirectory(file)
    }

    /// True when `head` starts like a zip archive (a local file header or an empty archive).
    package static func looksLikeZip(_ head: [UInt8]) -> Bool {
        head.count >= 4 && head[0] == 0x50 && head[1] == 0x4B && ((head[2] == 3 && head[3] == 4) || (head[2] == 5 && head[3] == 6))
    }

    /// The name of the first member, read from the local header at the start of `head` (what
    /// content sniffing looks at: `.keras` and `torch.save` zips are told by it); nil when
    /// `head` does not start with a local header holding the whole name.
    package static func firstMemberName(_ head: [UInt8]) -> String? {
        guard head.count >= 30, head[0] == 0x50, head[1] == 0x4B, head[2] == 3, head[3] == 4 else { return nil }
        let n = Int(loadLE(UInt16.self, head, at: 26))
        guard 30 + n <= head.count else { return nil }
        return String(decoding: head[30..<(30 + n)], as: UTF8.self)
    }

    /// The member named `name`, if there is exactly one.
    package func entry(_ name: String) -> Entry? { entries.first { $0.name == name } }

    /// A member's bytes, inflated and CRC-checked; refuses members larger than `limit`.
    package func data(_ e: Entry, limit: Int) throws -> [UInt8] {
        guard e.size <= limit else {
            throw LSTMError(.invalidInput, "member \(e.name) declares \(e.size) bytes, more than the \(limit) allowed", path: name)
        }
        let stored = file.bytes(e.dataOffset..<(e.dataOffset + e.compressedSize))
        let data: [UInt8]
        switch e.method {
        case 0:
            guard e.compressedSize == e.size else {
                throw LSTMError(.sizeMismatch, "stored member \(e.name) has \(e.compressedSize) bytes but declares \(e.size)", path: name)
            }
            data = stored
        case 8:
            // Deflate cannot expand more than about 1032:1: a member declaring more is refused
            // before its buffer is allocated (a zip bomb's declared size is checked, never trusted).
            guard e.size <= e.compressedSize * ZipArchive.maxInflateRatio + 64 else {
                throw LSTMError(.sizeMismatch, "member \(e.name) declares \(e.size) bytes, more than its \(e.compressedSize) deflated bytes can hold", path: name)
            }
            data = try Zlib.inflateRaw(stored, expectedSize: e.size, what: "\(name): \(e.name)")
        default:
            throw LSTMError(.unsupported, "member \(e.name) uses zip compression method \(e.method); only stored and deflate are supported", path: name)
        }
        guard skipZipChecksums || Zlib.crc32(data) == e.crc32 else {
            throw LSTMError(.checksum, "CRC mismatch in member \(e.name): the archive is corrupt", path: name)
        }
        return data
    }

    private static func readDirectory(_ file: MappedFile) throws -> [Entry] {
        let size = file.size
        func fail(_ s: String) -> LSTMError { LSTMError(.malformedHeader, s, path: file.path) }
        func bytes(_ o: Int, _ n: Int) throws -> [UInt8] {
            guard o >= 0, n >= 0, o <= size, n <= size - o else { throw fail("truncated zip structure at byte \(o)") }
            return file.bytes(o..<(o + n))
        }
        func u16(_ o: Int) throws -> Int { Int(loadLE(UInt16.self, try bytes(o, 2), at: 0)) }
        func u32(_ o: Int) throws -> Int { Int(loadLE(UInt32.self, try bytes(o, 4), at: 0)) }
        func u64(_ o: Int) throws -> Int {
            let lo = try u32(o), hi = try u32(o + 4)
            guard hi < 1 << 30 else { throw fail("zip64 value at byte \(o) is too large") }
            return lo | hi << 32
        }
        guard size >= 22 else { throw fail("not a zip archive (\(size) bytes is too short)") }
        // The end record is in the last 22 + 65535 bytes (its comment is at most 64 KiB).
        let tailStart = max(0, size - 22 - 65535)
        let tail = file.bytes(tailStart..<size)
        var eocd = -1
        var i = tail.count - 22
        while i >= 0 {
            if tail[i] == 0x50 && tail[i + 1] == 0x4B && tail[i + 2] == 0x05 && tail[i + 3] == 0x06 { eocd = tailStart + i; break }
            i -= 1
        }
        guard eocd >= 0 else { throw fail("not a zip archive (no end-of-central-directory record)") }
        var count = try u16(eocd + 10)
        var cdSize = try u32(eocd + 12)
        var cdOffset = try u32(eocd + 16)
        if count == 0xFFFF || cdOffset == 0xFFFF_FFFF || cdSize == 0xFFFF_FFFF {
            // The zip64 locator sits just before the end record.
            let loc = eocd - 20
            guard loc >= 0, try u32(loc) == 0x0706_4B50 else { throw fail("zip64 archive without its locator") }
            let rec = try u64(loc + 8)
            guard try u32(rec) == 0x0606_4B50 else { throw fail("bad zip64 end record") }
            count = try u64(rec + 32)
            cdSize = try u64(rec + 40)
            cdOffset = try u64(rec + 48)
        }
        guard count <= maxEntries else { throw fail("\(count) members is more than the \(maxEntries) allowed") }
        guard cdOffset <= size, cdSize <= size - cdOffset else { throw fail("central directory \(cdOffset)+\(cdSize) lies outside the file") }
        var out: [Entry] = []
        out.reserveCapacity(count)
        var p = cdOffset
        for _ in 0..<count {
            guard try u32(p) == 0x0201_4B50 else { throw fail("bad central directory entry at byte \(p)") }
            let flags = try u16(p + 8)
            let method = try u16(p + 10)
            let crc = UInt32(try u32(p + 16))
            var csize = try u32(p + 20), usize = try u32(p + 24)
            let nlen = try u16(p + 28), xlen = try u16(p + 30), clen = try u16(p + 32)
            var local = try u32(p + 42)
            let nameBytes = try bytes(p + 46, nlen)
            guard let member = String(validating: nameBytes, as: UTF8.self) else { throw fail("a member name at byte \(p + 46) is not UTF-8") }
            guard flags & 1 == 0 else { throw fail("member \(member) is encrypted") }
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
            guard try u32(local) == 0x0403_4B50 else { throw fail("bad local header for member \(member)") }
            let nl = try u16(local + 26), xl = try u16(local + 28)
            let start = local + 30 + nl + xl
            guard start <= size, csize <= size - start else { throw fail("member \(member) runs past the end of the file") }
            guard start + csize <= cdOffset || start >= cdOffset + cdSize else { throw fail("member \(member) overlaps the central directory") }
            out.append(Entry(name: member, method: method, crc32: crc, compressedSize: csize, size: usize, dataOffset: start))
        }
        return out
    }
}

/// Writes zip archives of stored (uncompressed) members: what `.npz` and `.keras` files are.
package enum ZipWriter {
    /// The bytes of an archive holding `members` in order, stored, with their CRCs.
    package static func stored(_ members: [(name: String, data: [UInt8])]) -> [UInt8] {
        var out: [UInt8] = []
        var central: [UInt8] = []
        func le16(_ v: Int) -> [UInt8] { leBytes(UInt16(truncatingIfNeeded: v)) }
        func le32(_ v: Int) -> [UInt8] { leBytes(UInt32(truncatingIfNeeded: v)) }
        for (member, data) in members {
            let name = Array(member.utf8)
            let crc = Int(Zlib.crc32(data))
            let offset = out.count
            // Version 2.0, flags 0, stored, DOS time/date of 1980-01-01 00:00 (reproducible).
            out += le32(0x0403_4B50) + le16(20) + le16(0) + le16(0) + le16(0) + le16(0x21)
                + le32(crc) + le32(data.count) + le32(data.count) + le16(name.count) + le16(0) + name + data
            central += le32(0x0201_4B50) + le16(20) + le16(20) + le16(0) + le16(0) + le16(0) + le16(0x21)
                + le32(crc) + le32(data.count) + le32(data.count) + le16(name.count) + le16(0) + le16(0)
                + le16(0) + le16(0) + le32(0) + le32(offset) + name
        }
        let cdOffset = out.count
        out += central
        out += le32(0x0605_4B50) + le16(0) + le16(0) + le16(members.count) + le16(members.count)
            + le32(central.count) + le32(cdOffset) + le16(0)
        return out
    }
}

/// The fuzzing build skips zip CRC checks, as it does the format's (see ModelReader).
#if LSTMTOOL_FUZZING
let skipZipChecksums = true
#else
let skipZipChecksums = false
#endif
