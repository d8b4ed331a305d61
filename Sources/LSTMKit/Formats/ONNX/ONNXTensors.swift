import Foundation
internal import LSTMCodec
import LSTMCore

/// Reads the values of ONNX TensorProtos (initializers and Constant values): raw_data or
/// the typed fields, and external data files beside the model. Every declared size is
/// checked against the bytes that are actually there before anything is allocated for it.
struct ONNXTensorReader {
    /// The .onnx file (for error messages) and the folder external data is relative to.
    let modelPath: String
    let modelDirectory: String

    init(modelPath: String) {
        self.modelPath = modelPath
        self.modelDirectory = AtomicFile.directoryOf(modelPath)
    }

    func shape(_ t: ONNXTensorProto, _ what: String) throws -> [Int] {
        try t.dims.map { d in
            guard d >= 0, d <= Int64(Int32.max) else {
                throw LSTMError(.shape, "\(modelPath): \(what): dimension \(d) is out of range")
            }
            return Int(d)
        }
    }

    /// A floating-point tensor (float32/float16/bfloat16/float64) as a ModelTensor, bytes exact.
    func floatTensor(_ t: ONNXTensorProto, _ what: String) throws -> ModelTensor {
        let dims = try shape(t, what)
        let dtype: DType
        switch t.dataType {
        case ONNXDataType.float: dtype = .float32
        case ONNXDataType.float16: dtype = .float16
        case ONNXDataType.bfloat16: dtype = .bfloat16
        case ONNXDataType.double: dtype = .float64
        default:
            throw LSTMError(.unsupported, "\(modelPath): \(what): data_type \(t.dataType) is not a float type lstmtool stores (float, float16, bfloat16, double)")
        }
        let count = try checkedProduct(dims, what: "\(modelPath): \(what)")
        let bytes = try elementBytes(t, count: count, elementSize: dtype.size, what: what) { out in
            switch dtype {
            case .float32:
                guard t.floatData.count == count else { return false }
                out.reserveCapacity(count * 4)
                for v in t.floatData { appendLE(v.bitPattern, &out) }
            case .float64:
                guard t.doubleData.count == count else { return false }
                out.reserveCapacity(count * 8)
                for v in t.doubleData { appendLE(v.bitPattern, &out) }
            case .float16, .bfloat16:
                // onnx.proto: 16-bit floats are stored as their bit patterns in int32_data.
                guard t.int32Data.count == count else { return false }
                out.reserveCapacity(count * 2)
                for v in t.int32Data { appendLE(UInt16(truncatingIfNeeded: v), &out) }
            }
            return true
        }
        return try ModelTensor(dtype: dtype, shape: dims, bytes: bytes)
    }

    /// An integer tensor (int32 or int64) as Int64 values, e.g. a Reshape shape or Slice bounds.
    func integers(_ t: ONNXTensorProto, _ what: String) throws -> [Int64] {
        let dims = try shape(t, what)
        let count = try checkedProduct(dims, what: "\(modelPath): \(what)")
        switch t.dataType {
        case ONNXDataType.int64:
            let b = try elementBytes(t, count: count, elementSize: 8, what: what) { out in
                guard t.int64Data.count == count else { return false }
                for v in t.int64Data { appendLE(UInt64(bitPattern: v), &out) }
                return true
            }
            return (0..<count).map { i in Int64(bitPattern: loadLE(UInt64.self, b, at: i * 8)) }
        case ONNXDataType.int32:
            let b = try elementBytes(t, count: count, elementSize: 4, what: what) { out in
                guard t.int32Data.count == count else { return false }
                for v in t.int32Data { appendLE(UInt32(bitPattern: v), &out) }
                return true
            }
            return (0..<count).map { i in Int64(Int32(bitPattern: loadLE(UInt32.self, b, at: i * 4))) }
        default:
            throw LSTMError(.unsupported, "\(modelPath): \(what): data_type \(t.dataType) is not an integer type (int32, int64)")
        }
    }

    /// The little-endian element bytes from raw_data, external data or (via `typed`) a typed field.
    private func elementBytes(_ t: ONNXTensorProto, count: Int, elementSize: Int, what: String,
                              typed: (inout [UInt8]) -> Bool) throws -> [UInt8] {
        let (size, overflow) = count.multipliedReportingOverflow(by: elementSize)
        guard !overflow else { throw LSTMError(.shape, "\(modelPath): \(what): size overflows") }
        if t.isExternal {
            return try externalBytes(t, size: size, what: what)
        }
        if let raw = t.rawData {
            guard raw.count == size else {
                throw LSTMError(.sizeMismatch, "\(modelPath): \(what): raw_data has \(raw.count) bytes, dims \(t.dims) need \(size)")
            }
            return raw
        }
        var out: [UInt8] = []
        guard typed(&out) else {
            throw LSTMError(.sizeMismatch, "\(modelPath): \(what): the typed data field does not hold the \(count) values dims \(t.dims) need")
        }
        return out
    }

    /// Reads external data: `location` relative to the model's folder, never absolute and
    /// never climbing out of it with `..`; `offset`/`length` checked against the file.
    private func externalBytes(_ t: ONNXTensorProto, size: Int, what: String) throws -> [UInt8] {
        var location: String?
        var offset = 0
        var length: Int?
        for (k, v) in t.externalData {
            switch k {
            case "location": location = v
            case "offset":
                guard let o = Int(v), o >= 0 else { throw LSTMError(.invalidInput, "\(modelPath): \(what): external data offset \"\(v)\" is not a byte count") }
                offset = o
            case "length":
                guard let l = Int(v), l >= 0 else { throw LSTMError(.invalidInput, "\(modelPath): \(what): external data length \"\(v)\" is not a byte count") }
                length = l
            default: continue  // checksum and future keys do not change where the bytes are
            }
        }
        guard let location, !location.isEmpty else {
            throw LSTMError(.invalidInput, "\(modelPath): \(what): external data without a location")
        }
        let parts = location.split(separator: "/", omittingEmptySubsequences: false)
        guard !location.hasPrefix("/"), !location.contains("\\"), !location.contains("\0"),
              !parts.contains(where: { $0 == ".." }) else {
            throw LSTMError(.invalidInput, "\(modelPath): \(what): external data location \"\(location)\" must be a relative path inside the model's folder")
        }
        let path = modelDirectory + "/" + location
        // A symbolic link (the file or a folder on the way) must not lead out of the model's
        // folder either (onnx itself refuses symbolic links to external data).
        let folder = URL(fileURLWithPath: modelDirectory).resolvingSymlinksInPath().path
        let target = URL(fileURLWithPath: path).resolvingSymlinksInPath().path
        guard target.hasPrefix(folder.hasSuffix("/") ? folder : folder + "/") else {
            throw LSTMError(.invalidInput, "\(modelPath): \(what): external data location \"\(location)\" leads through a symbolic link out of the model's folder (to \(target))")
        }
        let file = try MappedFile(path: path)
        let n = length ?? (file.size - offset)
        guard n == size else {
            throw LSTMError(.sizeMismatch, "\(modelPath): \(what): external data length \(n) does not match the \(size) bytes dims \(t.dims) need")
        }
        let (end, overflow) = offset.addingReportingOverflow(n)
        guard !overflow, offset <= file.size, end <= file.size else {
            throw LSTMError(.outOfBounds, "\(modelPath): \(what): external data [\(offset), \(offset) + \(n)) lies outside \(location) (\(file.size) bytes)")
        }
        return file.bytes(offset..<end)
    }
}



