import LSTMCore

// A small FlatBuffers runtime for the accessors that tools/generate_tflite_schema.py generates
// from schema/tflite_subset.fbs (TFLiteSchema.swift). Everything a file says about where
// something is — the root offset, every uoffset, vtable soffset, vtable and table size, field
// offset and vector length — is checked against the buffer before it is used; a bad one is an
// `LSTMError(.invalidInput)` naming what was wrong. Safe Swift over `[UInt8]`: no raw memory.

/// A scalar that FlatBuffers stores inline, little-endian.
protocol FBScalar: Sendable {
    static var size: Int { get }
    static func load(_ b: [UInt8], _ at: Int) -> Self
    func store(_ out: inout [UInt8])
}

extension FBScalar where Self: FixedWidthInteger {
    static var size: Int { MemoryLayout<Self>.size }
    static func load(_ b: [UInt8], _ at: Int) -> Self {
        var v: Self = 0
        for k in 0..<size { v |= Self(truncatingIfNeeded: b[at + k]) << (8 * k) }
        return v
    }
    func store(_ out: inout [UInt8]) {
        for k in 0..<Self.size { out.append(UInt8(truncatingIfNeeded: self >> (8 * k))) }
    }
}

extension Int8: FBScalar {}
extension UInt8: FBScalar {}
extension Int16: FBScalar {}
extension UInt16: FBScalar {}
extension Int32: FBScalar {}
extension UInt32: FBScalar {}
extension Int64: FBScalar {}
extension UInt64: FBScalar {}

extension Bool: FBScalar {
    static var size: Int { 1 }
    static func load(_ b: [UInt8], _ at: Int) -> Bool { b[at] != 0 }
    func store(_ out: inout [UInt8]) { out.append(self ? 1 : 0) }
}

extension Float: FBScalar {
    static var size: Int { 4 }
    static func load(_ b: [UInt8], _ at: Int) -> Float { Float(bitPattern: UInt32.load(b, at)) }
    func store(_ out: inout [UInt8]) { bitPattern.store(&out) }
}

extension Double: FBScalar {
    static var size: Int { 8 }
    static func load(_ b: [UInt8], _ at: Int) -> Double { Double(bitPattern: UInt64.load(b, at)) }
    func store(_ out: inout [UInt8]) { bitPattern.store(&out) }
}

/// A table found in a buffer: where it starts and its (checked) vtable.
struct FBTable {
    let pos: Int
    let vtable: Int
    let vtableSize: Int
    let objectSize: Int
}

/// Bounds-checked reading of a FlatBuffer.
struct FBReader {
    let bytes: [UInt8]

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    func bad(_ what: String) -> LSTMError { LSTMError(.invalidInput, "not a valid FlatBuffer: \(what)") }

    /// Checks that `count` bytes at `at` are inside the buffer (no overflow).
    func check(_ at: Int, _ count: Int, _ what: @autoclosure () -> String) throws {
        guard at >= 0, count >= 0, at <= bytes.count, count <= bytes.count - at else {
            throw bad("\(what()) at byte \(at) (+\(count)) is outside the \(bytes.count)-byte buffer")
        }
    }

    func load<T: FBScalar>(_ at: Int, _ what: @autoclosure () -> String) throws -> T {
        try check(at, T.size, what())
        return T.load(bytes, at)
    }

    /// The table that the uoffset stored at `at` points to.
    func table(indirectAt at: Int, _ what: String) throws -> FBTable {
        let off: UInt32 = try load(at, "offset to \(what)")
        return try table(at: at + Int(off), what)
    }

    /// The table at `pos`, its vtable checked.
    func table(at pos: Int, _ what: String) throws -> FBTable {
        let soff: Int32 = try load(pos, "\(what)'s vtable offset")
        let vt = pos - Int(soff)
        let vtSize: UInt16 = try load(vt, "\(what)'s vtable")
        let objSize: UInt16 = try load(vt + 2, "\(what)'s vtable")
        guard vtSize >= 4, vtSize % 2 == 0 else { throw bad("\(what)'s vtable has size \(vtSize)") }
        try check(vt, Int(vtSize), "\(what)'s vtable")
        guard objSize >= 4 else { throw bad("\(what) has size \(objSize)") }
        try check(pos, Int(objSize), what)
        return FBTable(pos: pos, vtable: vt, vtableSize: Int(vtSize), objectSize: Int(objSize))
    }

    /// The position of field `slot` of `t` when present, checked to hold `size` bytes inside the table.
    func field(_ t: FBTable, _ slot: Int, size: Int) throws -> Int? {
        let vo = 4 + 2 * slot
        guard vo + 2 <= t.vtableSize else { return nil }
        let off = Int(UInt16.load(bytes, t.vtable + vo))
        guard off != 0 else { return nil }
        guard off >= 4, off + size <= t.objectSize else { throw bad("field \(slot) at offset \(off) overruns its \(t.objectSize)-byte table") }
        return t.pos + off
    }

    func scalar<T: FBScalar>(_ t: FBTable, _ slot: Int, _: T.Type) throws -> T? {
        guard let p = try field(t, slot, size: T.size) else { return nil }
        return T.load(bytes, p)
    }

    /// Where the object a uoffset field points to starts.
    func indirect(_ t: FBTable, _ slot: Int) throws -> Int? {
        guard let p = try field(t, slot, size: 4) else { return nil }
        let off = Int(UInt32.load(bytes, p))
        let target = p + off
        try check(target, 4, "object of field \(slot)")
        return target
    }

    /// A vector's first element and length, checked to fit.
    func vector(at p: Int, elementSize: Int, _ what: String) throws -> (start: Int, count: Int) {
        let n = Int(UInt32.load(bytes, p))
        guard n <= (bytes.count - p - 4) / elementSize else {
            throw bad("\(what) claims \(n) elements of \(elementSize) bytes, past the end of the buffer")
        }
        return (p + 4, n)
    }

    func scalarVector<T: FBScalar>(_ t: FBTable, _ slot: Int, _: T.Type) throws -> [T]? {
        guard let p = try indirect(t, slot) else { return nil }
        let (start, n) = try vector(at: p, elementSize: T.size, "vector field \(slot)")
        return (0..<n).map { T.load(bytes, start + $0 * T.size) }
    }

    func byteVector(_ t: FBTable, _ slot: Int) throws -> [UInt8]? {
        guard let p = try indirect(t, slot) else { return nil }
        let (start, n) = try vector(at: p, elementSize: 1, "byte vector field \(slot)")
        return Array(bytes[start..<start + n])
    }

    func string(_ t: FBTable, _ slot: Int) throws -> String? {
        guard let p = try indirect(t, slot) else { return nil }
        let (start, n) = try vector(at: p, elementSize: 1, "string field \(slot)")
        return String(decoding: bytes[start..<start + n], as: UTF8.self)
    }

    func table(_ t: FBTable, _ slot: Int, _ what: String) throws -> FBTable? {
        guard let p = try field(t, slot, size: 4) else { return nil }
        return try table(indirectAt: p, what)
    }

    func tableVector(_ t: FBTable, _ slot: Int, _ what: String) throws -> [FBTable]? {
        guard let p = try indirect(t, slot) else { return nil }
        let (start, n) = try vector(at: p, elementSize: 4, "\(what) vector")
        return try (0..<n).map { try table(indirectAt: start + 4 * $0, "\(what) \($0)") }
    }

    /// The root table, after checking the file identifier when one is given.
    func root(identifier: String?) throws -> FBTable {
        guard bytes.count >= 8 else { throw bad("\(bytes.count) bytes is too short") }
        if let identifier {
            let id = String(decoding: bytes[4..<8], as: UTF8.self)
            guard id == identifier else { throw bad("file identifier is \(id.debugDescription), expected \(identifier.debugDescription)") }
        }
        return try table(indirectAt: 0, "root table")
    }
}

/// A written object: its distance from the end of the buffer (FlatBuffers are built back to front).
struct FBRef: Sendable { let d: Int }

/// A field of a table being written.
enum FBField {
    case scalar(slot: Int, bytes: [UInt8])
    case offset(slot: Int, FBRef)
}

/// Builds a FlatBuffer back to front, as FlatBuffers' own builders do: children first, each
/// object aligned for its largest scalar, tables with their vtables, then the root.
struct FBBuilder {
    /// The buffer so far, reversed: `rev[i]` is the byte `i + 1` bytes from the end.
    private var rev: [UInt8] = []
    private var maxAlign = 4

    init(capacity: Int = 1024) { rev.reserveCapacity(capacity) }

    var size: Int { rev.count }

    /// Pads so that, after `size` more bytes, the object start is aligned to `align`.
    private mutating func prep(_ align: Int, _ size: Int) {
        maxAlign = max(maxAlign, align)
        let pad = (align - (rev.count + size) % align) % align
        rev.append(contentsOf: repeatElement(0, count: pad))
    }

    /// Appends `b` (bytes in file order) in front of what is there.
    private mutating func put(_ b: [UInt8]) { rev.append(contentsOf: b.reversed()) }

    private mutating func patchU32(atD d: Int, _ v: UInt32) {
        for j in 0..<4 { rev[d - 1 - j] = UInt8(truncatingIfNeeded: v >> (8 * j)) }
    }

    mutating func string(_ s: String) -> FBRef {
        let u = Array(s.utf8)
        prep(4, u.count + 1 + 4)
        put(u + [0])
        var n: [UInt8] = []
        UInt32(u.count).store(&n)
        put(n)
        return FBRef(d: rev.count)
    }

    mutating func vector<T: FBScalar>(_ v: [T], align: Int = 1) -> FBRef {
        var b: [UInt8] = []
        b.reserveCapacity(v.count * T.size)
        for x in v { x.store(&b) }
        return rawVector(b, count: v.count, align: max(align, T.size))
    }

    /// A vector whose element bytes are `b`; the elements start aligned to `align`.
    mutating func rawVector(_ b: [UInt8], count: Int, align: Int) -> FBRef {
        let a = max(align, 4)
        prep(a, b.count)
        put(b)
        var n: [UInt8] = []
        UInt32(count).store(&n)
        prep(4, 4)
        put(n)
        return FBRef(d: rev.count)
    }

    mutating func vector(_ refs: [FBRef]) -> FBRef {
        prep(4, 4 * refs.count + 4)
        // Element j ends up at distance (start + 4·refs.count) − 4·j from the end.
        let startD = rev.count + 4 * refs.count
        var b: [UInt8] = []
        for (j, r) in refs.enumerated() { UInt32(startD - 4 * j - r.d).store(&b) }
        put(b)
        var n: [UInt8] = []
        UInt32(refs.count).store(&n)
        put(n)
        return FBRef(d: rev.count)
    }

    /// A table of `fields` (any order), with its own vtable written just before it.
    mutating func table(_ fields: [FBField]) -> FBRef {
        // Lay the table out front to back: soffset, then fields, largest first.
        let sized: [(slot: Int, size: Int, field: FBField)] = fields.map {
            switch $0 {
            case .scalar(let s, let b): return (s, b.count, $0)
            case .offset(let s, _): return (s, 4, $0)
            }
        }.sorted { $0.size != $1.size ? $0.size > $1.size : $0.slot < $1.slot }
        var offsets: [Int: Int] = [:]
        var layoutSize = 4
        var align = 4
        for f in sized {
            layoutSize = (layoutSize + f.size - 1) / f.size * f.size
            offsets[f.slot] = layoutSize
            layoutSize += f.size
            align = max(align, f.size)
        }
        prep(align, layoutSize)
        let tableD = rev.count + layoutSize
        var body = [UInt8](repeating: 0, count: layoutSize)
        for f in sized {
            let o = offsets[f.slot]!
            var b: [UInt8] = []
            switch f.field {
            case .scalar(_, let bytes): b = bytes
            case .offset(_, let r): UInt32(tableD - o - r.d).store(&b)
            }
            body.replaceSubrange(o..<o + b.count, with: b)
        }
        put(body)
        // The vtable, in front of the table; the table's soffset points back to it.
        let slots = (fields.map { switch $0 { case .scalar(let s, _), .offset(let s, _): return s } }.max() ?? -1) + 1
        var vt: [UInt8] = []
        UInt16(4 + 2 * slots).store(&vt)
        UInt16(layoutSize).store(&vt)
        for s in 0..<slots { UInt16(offsets[s] ?? 0).store(&vt) }
        prep(2, vt.count)
        put(vt)
        let vtD = rev.count
        patchU32(atD: tableD, UInt32(bitPattern: Int32(vtD - tableD)))
        return FBRef(d: tableD)
    }

    /// The finished buffer: root offset, file identifier, then everything built.
    mutating func finish(root: FBRef, identifier: String) -> [UInt8] {
        prep(maxAlign, 8)
        put(Array(identifier.utf8.prefix(4)))
        var b: [UInt8] = []
        UInt32(rev.count + 4 - root.d).store(&b)
        put(b)
        return rev.reversed()
    }
}
