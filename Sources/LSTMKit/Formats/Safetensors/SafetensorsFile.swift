import Foundation
internal import LSTMCodec
import LSTMCore

/// A safetensors file: an 8-byte little-endian header length, a JSON header and the raw
/// tensor bytes. Validated as strictly as the safetensors project does it: bounded header,
/// UTF-8 JSON object, known dtypes, shape × dtype size equal to the byte span (checked
/// arithmetic), offsets sorted, contiguous and covering the data section exactly, no
/// duplicate names, `__metadata__` only string → string.
struct SafetensorsFile {
    struct Entry {
        var name: String
        var dtype: String
        var shape: [Int]
        var begin: Int
        var end: Int
    }

    /// Element sizes of the dtypes the safetensors project defines.
    static let dtypeSizes: [String: Int] = [
        "BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1, "F8_E8M0": 1, "I16": 2, "U16": 2, "F16": 2,
        "BF16": 2, "I32": 4, "U32": 4, "F32": 4, "I64": 8, "U64": 8, "F64": 8,
    ]
    static let maxHeaderBytes = 100_000_000

    let path: String
    let file: MappedFile
    let dataStart: Int
    /// In header order as written (sorted by offset after validation).
    let entries: [Entry]
    let metadata: [(key: String, value: String)]

    init(path: String) throws {
        self.path = path
        file = try MappedFile(path: path)
        func fail(_ kind: LSTMError.Kind, _ s: String) -> LSTMError { LSTMError(kind, "\(path): \(s)") }
        guard file.size >= 8 else { throw fail(.truncated, "\(file.size) bytes is too short for a safetensors file (8-byte header length)") }
        let lenBytes = file.bytes(0..<8)
        let declared = loadLE(UInt64.self, lenBytes, at: 0)
        guard declared <= UInt64(SafetensorsFile.maxHeaderBytes) else {
            throw fail(.malformedHeader, "header length \(declared) is more than the 100 MB safetensors allows")
        }
        let n = Int(declared)
        guard n <= file.size - 8 else {
            throw fail(.truncated, "header length \(n) overruns the file (\(file.size - 8) bytes after the length)")
        }
        guard n >= 2 else { throw fail(.malformedHeader, "header of \(n) bytes cannot be a JSON object") }
        let headerBytes = file.bytes(8..<(8 + n))
        guard headerBytes.first == UInt8(ascii: "{") else { throw fail(.malformedHeader, "header does not start with '{'") }
        guard let text = String(validating: headerBytes, as: UTF8.self) else { throw fail(.malformedHeader, "header is not valid UTF-8") }
        let json: StrictJSON.Value
        do {
            json = try StrictJSON.parse(text)
        } catch let StrictJSON.ParseError.message(m) {
            throw fail(.malformedHeader, "header is not valid JSON: \(m)")
        }
        guard case .object(let members) = json else { throw fail(.malformedHeader, "header is not a JSON object") }
        dataStart = 8 + n
        let dataSize = file.size - dataStart
        var entries: [Entry] = []
        var meta: [(String, String)] = []
        for (name, value) in members {
            if name == "__metadata__" {
                guard case .object(let kv) = value else { throw fail(.malformedHeader, "__metadata__ is not an object") }
                for (k, v) in kv {
                    guard case .string(let s) = v else { throw fail(.malformedHeader, "__metadata__.\(k) is not a string") }
                    meta.append((k, s))
                }
                continue
            }
            guard case .object(let info) = value else { throw fail(.malformedHeader, "tensor \(name): entry is not an object") }
            var dtype: String?
            var shape: [Int]?
            var offsets: [Int]?
            for (k, v) in info {
                switch (k, v) {
                case ("dtype", .string(let s)): dtype = s
                case ("shape", .array(let a)):
                    shape = try a.map { d in
                        guard case .integer(let x) = d, x >= 0, x <= Int64(Int32.max) else { throw fail(.malformedHeader, "tensor \(name): shape \(a) is not a list of sizes") }
                        return Int(x)
                    }
                case ("data_offsets", .array(let a)):
                    offsets = try a.map { d in
                        guard case .integer(let x) = d, x >= 0, x <= Int64(Int.max / 2) else { throw fail(.malformedHeader, "tensor \(name): data_offsets is not a pair of byte offsets") }
                        return Int(x)
                    }
                default:
                    throw fail(.malformedHeader, "tensor \(name): unexpected or mistyped field \"\(k)\"")
                }
            }
            guard let dtype else { throw fail(.malformedHeader, "tensor \(name): no dtype") }
            guard let size = SafetensorsFile.dtypeSizes[dtype] else { throw fail(.malformedHeader, "tensor \(name): unknown dtype \"\(dtype)\"") }
            guard let shape else { throw fail(.malformedHeader, "tensor \(name): no shape") }
            guard let offsets, offsets.count == 2 else { throw fail(.malformedHeader, "tensor \(name): data_offsets must be [begin, end]") }
            guard offsets[0] <= offsets[1] else { throw fail(.malformedHeader, "tensor \(name): data_offsets \(offsets) end before they begin") }
            let bytes = try checkedProduct(shape + [size], what: "\(path): tensor \(name)")
            guard bytes == offsets[1] - offsets[0] else {
                throw fail(.sizeMismatch, "tensor \(name): shape \(shape) of \(dtype) needs \(bytes) bytes but data_offsets \(offsets) span \(offsets[1] - offsets[0])")
            }
            guard offsets[1] <= dataSize else {
                throw fail(.outOfBounds, "tensor \(name): data_offsets \(offsets) lie outside the \(dataSize)-byte data section")
            }
            entries.append(Entry(name: name, dtype: dtype, shape: shape, begin: offsets[0], end: offsets[1]))
        }
        // Sorted by offset, each tensor must start where the previous one ended, and the last
        // must end at the end of the file: no overlap, no gap, no trailing bytes.
        let sorted = entries.sorted { ($0.begin, $0.end) < ($1.begin, $1.end) }
        var cursor = 0
        for e in sorted {
            guard e.begin == cursor else {
                if e.begin < cursor { throw fail(.overlap, "tensor \(e.name): data_offsets [\(e.begin), \(e.end)] overlap the tensor before it (which ends at \(cursor))") }
                throw fail(.malformedHeader, "tensor \(e.name): a gap of \(e.begin - cursor) bytes before its data_offsets [\(e.begin), \(e.end)]")
            }
            cursor = e.end
        }
        guard cursor == dataSize else {
            throw fail(.sizeMismatch, "the tensors cover \(cursor) bytes but the data section has \(dataSize)")
        }
        self.entries = sorted
        metadata = meta
    }

    func bytes(_ e: Entry) -> [UInt8] { file.bytes((dataStart + e.begin)..<(dataStart + e.end)) }

    /// A weight tensor (F32/F16/BF16/F64) as a ModelTensor.
    func tensor(_ e: Entry) throws -> ModelTensor {
        let dtype: DType
        switch e.dtype {
        case "F32": dtype = .float32
        case "F16": dtype = .float16
        case "BF16": dtype = .bfloat16
        case "F64": dtype = .float64
        default: throw LSTMError(.unsupported, "\(path): tensor \(e.name) is \(e.dtype); weights must be F32, F16, BF16 or F64")
        }
        return try ModelTensor(dtype: dtype, shape: e.shape, bytes: bytes(e))
    }

    static func dtypeName(_ d: DType) -> String {
        switch d {
        case .float32: return "F32"
        case .float16: return "F16"
        case .bfloat16: return "BF16"
        case .float64: return "F64"
        }
    }

    /// Serializes tensors (in the given order) and string metadata; the header is padded
    /// with spaces to a multiple of 8 bytes, as the safetensors project writes it.
    static func encode(_ tensors: [(name: String, tensor: ModelTensor)], metadata: [(key: String, value: String)]) -> [UInt8] {
        var header = "{"
        var parts: [String] = []
        if !metadata.isEmpty {
            parts.append("\"__metadata__\":{" + metadata.map { "\(JSONText.quote($0.key)):\(JSONText.quote($0.value))" }.joined(separator: ",") + "}")
        }
        var offset = 0
        for (name, t) in tensors {
            let end = offset + t.bytes.count
            parts.append("\(JSONText.quote(name)):{\"dtype\":\"\(dtypeName(t.dtype))\",\"shape\":[\(t.shape.map(String.init).joined(separator: ","))],\"data_offsets\":[\(offset),\(end)]}")
            offset = end
        }
        header += parts.joined(separator: ",") + "}"
        var h = Array(header.utf8)
        while (8 + h.count) % 8 != 0 { h.append(UInt8(ascii: " ")) }
        var out: [UInt8] = []
        out.reserveCapacity(8 + h.count + offset)
        appendLE(UInt64(h.count), &out)
        out.append(contentsOf: h)
        for (_, t) in tensors { out.append(contentsOf: t.bytes) }
        return out
    }
}
