import LSTMCore

/// An n-dimensional array as read from or written to a .npy file.
package struct NpyArray: Equatable, Sendable {
    package enum Kind: String, Sendable { case float16, float32, float64, int32, int64 }
    package var kind: Kind
    package var shape: [Int]
    /// Values widened to Double (exact for every supported kind; int64 beyond 2^53 is refused).
    package var values: [Double]

    package init(kind: Kind, shape: [Int], values: [Double]) {
        precondition(shape.reduce(1, *) == values.count, "shape does not match the values")
        self.kind = kind
        self.shape = shape
        self.values = values
    }

    package var isFloat: Bool { kind == .float16 || kind == .float32 || kind == .float64 }
}

/// NumPy's .npy format, versions 1.0, 2.0 and 3.0, little- or big-endian, C order only.
package enum Npy {
    static let magic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]  // \x93NUMPY
    static let maxHeader = 1 << 20

    /// What a .npy header says, checked against the file's size.
    struct Layout {
        var kind: NpyArray.Kind
        var elementSize: Int
        var bigEndian: Bool
        var shape: [Int]
        var count: Int
        var dataStart: Int
    }

    static func layout<C: RandomAccessCollection>(_ b: C, name: String) throws -> Layout where C.Element == UInt8, C.Index == Int {
        func fail(_ s: String) -> LSTMError { LSTMError(.invalidInput, "\(name): \(s)") }
        guard b.count >= 10, Array(b[0..<6]) == magic else { throw fail("not a .npy file (bad magic)") }
        let major = b[6]
        let headerLen: Int, start: Int
        switch major {
        case 1:
            headerLen = Int(loadLE(UInt16.self, b, at: 8))
            start = 10
        case 2, 3:
            guard b.count >= 12 else { throw fail("truncated .npy header") }
            headerLen = Int(loadLE(UInt32.self, b, at: 8))
            start = 12
        default:
            throw fail(".npy version \(major).\(b[7]) is not supported (1.0, 2.0, 3.0 are)")
        }
        guard headerLen <= maxHeader, start + headerLen <= b.count else { throw fail("truncated .npy header") }
        guard let header = String(bytes: b[start..<(start + headerLen)], encoding: .utf8) else { throw fail("header is not text") }
        let dict = try parseHeader(header, fail)
        guard !dict.fortran else { throw fail("Fortran-order arrays are not supported; save with numpy.ascontiguousarray") }
        var descr = dict.descr
        var bigEndian = false
        if let first = descr.first, "<>|=".contains(first) {
            bigEndian = first == ">"
            descr.removeFirst()
        }
        let kind: NpyArray.Kind, size: Int
        switch descr {
        case "f2": kind = .float16; size = 2
        case "f4": kind = .float32; size = 4
        case "f8": kind = .float64; size = 8
        case "i4": kind = .int32; size = 4
        case "i8": kind = .int64; size = 8
        default: throw fail("dtype '\(dict.descr)' is not supported (float16/32/64, int32/64)")
        }
        let count = try checkedProduct(dict.shape, what: "\(name) shape")
        let dataStart = start + headerLen
        let (need, overflow) = count.multipliedReportingOverflow(by: size)
        guard !overflow, b.count - dataStart == need else {
            throw fail("holds \(b.count - dataStart) data bytes, shape \(dict.shape) of \(descr) needs \(need)")
        }
        return Layout(kind: kind, elementSize: size, bigEndian: bigEndian, shape: dict.shape, count: count, dataStart: dataStart)
    }

    package static func decode(_ b: [UInt8], name: String) throws -> NpyArray {
        func fail(_ s: String) -> LSTMError { LSTMError(.invalidInput, "\(name): \(s)") }
        let l = try layout(b, name: name)
        let kind = l.kind, size = l.elementSize, bigEndian = l.bigEndian, count = l.count, dataStart = l.dataStart
        var values = [Double](repeating: 0, count: count)
        for i in 0..<count {
            var bits: UInt64 = 0
            let o = dataStart + i * size
            for k in 0..<size {
                let byte = UInt64(b[o + (bigEndian ? size - 1 - k : k)])
                bits |= byte << (8 * UInt64(k))
            }
            switch kind {
            case .float16: values[i] = Half.toDouble(UInt16(bits))
            case .float32: values[i] = Double(Float(bitPattern: UInt32(bits)))
            case .float64: values[i] = Double(bitPattern: bits)
            case .int32: values[i] = Double(Int32(bitPattern: UInt32(bits)))
            case .int64:
                let v = Int64(bitPattern: bits)
                guard v > -(1 << 53) && v < 1 << 53 else { throw fail("int64 value \(v) at index \(i) is outside ±2^53 (not exact as a double)") }
                values[i] = Double(v)
            }
        }
        return NpyArray(kind: kind, shape: l.shape, values: values)
    }

    /// Parses the Python-literal header: {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
    static func parseHeader(_ h: String, _ fail: (String) -> LSTMError) throws -> (descr: String, fortran: Bool, shape: [Int]) {
        func value(of key: String) throws -> Substring {
            guard let r = h.range(of: "'\(key)'") ?? h.range(of: "\"\(key)\"") else { throw fail("header has no '\(key)'") }
            var rest = h[r.upperBound...].drop { $0 == " " }
            guard rest.first == ":" else { throw fail("malformed header near '\(key)'") }
            rest = rest.dropFirst().drop { $0 == " " }
            return rest
        }
        let d = try value(of: "descr")
        guard let q = d.first, q == "'" || q == "\"", let end = d.dropFirst().firstIndex(of: q) else { throw fail("malformed 'descr'") }
        let descr = String(d[d.index(after: d.startIndex)..<end])
        let f = try value(of: "fortran_order")
        let fortran: Bool
        if f.hasPrefix("True") { fortran = true } else if f.hasPrefix("False") { fortran = false } else { throw fail("malformed 'fortran_order'") }
        let s = try value(of: "shape")
        guard s.first == "(", let close = s.firstIndex(of: ")") else { throw fail("malformed 'shape'") }
        let inner = s[s.index(after: s.startIndex)..<close]
        var shape: [Int] = []
        for part in inner.split(separator: ",") {
            let t = part.trimmingCharacters(in: " L")
            if t.isEmpty { continue }
            guard let v = Int(t), v >= 0 else { throw fail("malformed dimension '\(t)' in 'shape'") }
            shape.append(v)
        }
        guard shape.count <= 32 else { throw fail("rank \(shape.count) is too large") }
        return (descr, fortran, shape)
    }

    /// A version 1.0 .npy file (C order, little-endian).
    package static func encode(_ a: NpyArray) -> [UInt8] {
        let descr: String, size: Int
        switch a.kind {
        case .float16: descr = "<f2"; size = 2
        case .float32: descr = "<f4"; size = 4
        case .float64: descr = "<f8"; size = 8
        case .int32: descr = "<i4"; size = 4
        case .int64: descr = "<i8"; size = 8
        }
        let shapeText = a.shape.count == 1 ? "(\(a.shape[0]),)" : "(" + a.shape.map(String.init).joined(separator: ", ") + ")"
        var header = "{'descr': '\(descr)', 'fortran_order': False, 'shape': \(shapeText), }"
        let total = 10 + header.utf8.count + 1
        header += String(repeating: " ", count: (64 - total % 64) % 64) + "\n"
        var out = magic + [1, 0, UInt8(header.utf8.count & 0xFF), UInt8(header.utf8.count >> 8)] + Array(header.utf8)
        let dataStart = out.count
        out += [UInt8](repeating: 0, count: a.values.count * size)
        for (i, v) in a.values.enumerated() {
            let o = dataStart + i * size
            switch a.kind {
            case .float16: storeLE(Half.bits(v), into: &out, at: o)
            case .float32: storeLE(Float(v).bitPattern, into: &out, at: o)
            case .float64: storeLE(v.bitPattern, into: &out, at: o)
            case .int32: storeLE(Int32(v), into: &out, at: o)
            case .int64: storeLE(Int64(v), into: &out, at: o)
            }
        }
        return out
    }
}

extension Substring {
    func trimmingCharacters(in set: String) -> String {
        var s = self
        while let f = s.first, set.contains(f) { s = s.dropFirst() }
        while let l = s.last, set.contains(l) { s = s.dropLast() }
        return String(s)
    }
}
