/// Bytes that live outside Swift's arrays: a range of a memory-mapped file, kept mapped for
/// as long as a tensor refers to it (the conformer owns the mapping).
public protocol ExternalBytes: Sendable {
    /// How many bytes there are.
    var count: Int { get }
    /// Calls `body` with the bytes; the pointer is valid only inside `body`.
    func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R
    /// Tells the system the bytes will not be read again soon, so their pages need not stay
    /// resident (they are read back from the file if they are). Bytes stay valid.
    func releaseResidentPages()
}

/// A dense tensor: little-endian element bytes with their type and shape.
///
/// The bytes are the raw (decoded) values; `encoding` is only how the tensor prefers to be
/// stored when the model is written, so that a read → write round trip keeps it. A raw
/// tensor read from a `.lstm` file refers to the file's memory map instead of copying it;
/// `withUnsafeBytes` reads either kind without a copy, `bytes` makes an array of them.
public struct ModelTensor: Equatable, Sendable {
    /// Where the bytes live.
    enum Storage: Sendable {
        case owned([UInt8])
        case external(any ExternalBytes)
    }

    /// The element type of ``bytes``; independent of other tensors and of the precision a
    /// model runs in.
    public var dtype: DType
    /// The size of each dimension, row-major (C order); its product times `dtype.size` is
    /// `byteCount`.
    public var shape: [Int]
    var storage: Storage
    /// How the tensor is stored when the model is written (`WriteOptions` may override it).
    public var encoding: Encoding
    /// Protobuf fields of this tensor's header entry that this version does not know.
    public var unknownFields: [UnknownField]

    /// A tensor from its decoded element bytes. Throws ``LSTMError`` `.shape` when a
    /// dimension is negative or the element count overflows, and `.sizeMismatch` when
    /// `bytes.count` is not the element count × `dtype.size`.
    public init(dtype: DType, shape: [Int], bytes: [UInt8], encoding: Encoding = .raw,
                unknownFields: [UnknownField] = []) throws {
        let count = try checkedProduct(shape, what: "tensor shape \(shape)")
        let (size, overflow) = count.multipliedReportingOverflow(by: dtype.size)
        guard !overflow, size == bytes.count else {
            throw LSTMError(.sizeMismatch, "tensor of shape \(shape) and dtype \(dtype.rawValue) needs "
                            + "\(count) × \(dtype.size) bytes, got \(bytes.count)")
        }
        self.dtype = dtype
        self.shape = shape
        self.storage = .owned(bytes)
        self.encoding = encoding
        self.unknownFields = unknownFields
    }

    /// A tensor whose bytes stay where they are (a memory-mapped file's range), checked
    /// against the shape like the array form.
    public init(dtype: DType, shape: [Int], external: any ExternalBytes, encoding: Encoding = .raw,
                unknownFields: [UnknownField] = []) throws {
        let count = try checkedProduct(shape, what: "tensor shape \(shape)")
        let (size, overflow) = count.multipliedReportingOverflow(by: dtype.size)
        guard !overflow, size == external.count else {
            throw LSTMError(.sizeMismatch, "tensor of shape \(shape) and dtype \(dtype.rawValue) needs "
                            + "\(count) × \(dtype.size) bytes, got \(external.count)")
        }
        self.dtype = dtype
        self.shape = shape
        self.storage = .external(external)
        self.encoding = encoding
        self.unknownFields = unknownFields
    }

    /// The element bytes, little-endian. Reading makes an array (a copy, when the tensor
    /// refers to a mapped file); changing them moves the tensor into an array of its own.
    public var bytes: [UInt8] {
        get {
            switch storage {
            case .owned(let a): return a
            case .external(let e): return e.withUnsafeBytes { Array($0) }
            }
        }
        _modify {
            var a: [UInt8]
            switch storage {
            case .owned(let owned): a = owned
            case .external(let e): a = e.withUnsafeBytes { Array($0) }
            }
            storage = .owned([])  // so that `a` is the only reference and changes in place
            defer { storage = .owned(a) }
            yield &a
        }
        set { storage = .owned(newValue) }
    }

    /// The number of element bytes.
    public var byteCount: Int {
        switch storage {
        case .owned(let a): return a.count
        case .external(let e): return e.count
        }
    }

    /// Lets the pages of a mapped tensor leave memory until they are read again (after a
    /// check or after the evaluator has packed its own copy); does nothing for an array.
    public func releaseResidentPages() {
        if case .external(let e) = storage { e.releaseResidentPages() }
    }

    /// True when the bytes are read from a memory map rather than held in an array.
    public var isMapped: Bool {
        if case .external = storage { return true }
        return false
    }

    /// Calls `body` with the element bytes, without a copy.
    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        switch storage {
        case .owned(let a): return try a.withUnsafeBytes(body)
        case .external(let e): return try e.withUnsafeBytes(body)
        }
    }

    /// Equal when dtype, shape, encoding, unknown fields and every byte are equal, wherever
    /// the bytes live.
    public static func == (a: ModelTensor, b: ModelTensor) -> Bool {
        guard a.dtype == b.dtype, a.shape == b.shape, a.encoding == b.encoding, a.unknownFields == b.unknownFields,
              a.byteCount == b.byteCount else { return false }
        return a.withUnsafeBytes { x in b.withUnsafeBytes { y in x.elementsEqual(y) } }
    }

    /// A float32 tensor of `values`, row-major. The product of `shape` must be
    /// `values.count` (a precondition: this initializer is for code, not for file input).
    public init(_ values: [Float], shape: [Int], encoding: Encoding = .raw) {
        precondition(shape.reduce(1, *) == values.count, "shape does not match the values")
        var bytes = [UInt8](repeating: 0, count: values.count * 4)
        for (i, v) in values.enumerated() { storeLE(v.bitPattern, into: &bytes, at: i * 4) }
        self.dtype = .float32
        self.shape = shape
        self.storage = .owned(bytes)
        self.encoding = encoding
        self.unknownFields = []
    }

    /// A tensor of `values`, row-major, each rounded to nearest in `dtype` (exact for
    /// float64; bfloat16 rounds through float32). The product of `shape` must be
    /// `values.count` (a precondition).
    public init(_ values: [Double], shape: [Int], dtype: DType = .float64, encoding: Encoding = .raw) {
        precondition(shape.reduce(1, *) == values.count, "shape does not match the values")
        self.dtype = dtype
        self.shape = shape
        self.encoding = encoding
        self.unknownFields = []
        var bytes = [UInt8](repeating: 0, count: values.count * dtype.size)
        for (i, v) in values.enumerated() {
            switch dtype {
            case .float64: storeLE(v.bitPattern, into: &bytes, at: i * 8)
            case .float32: storeLE(Float(v).bitPattern, into: &bytes, at: i * 4)
            case .float16: storeLE(Half.bits(v), into: &bytes, at: i * 2)
            case .bfloat16: storeLE(bfloat16Bits(Float(v)), into: &bytes, at: i * 2)
            }
        }
        self.storage = .owned(bytes)
    }

    /// The number of elements: the product of ``shape``.
    public var elementCount: Int { byteCount / dtype.size }

    /// Every element widened exactly to Double.
    public func doubles() -> [Double] {
        let n = elementCount
        var out = [Double](repeating: 0, count: n)
        withUnsafeBytes { raw in
            switch dtype {
            case .float64:
                for i in 0..<n { out[i] = Double(bitPattern: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self))) }
            case .float32:
                for i in 0..<n { out[i] = Double(Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: i * 4, as: UInt32.self)))) }
            case .float16:
                for i in 0..<n { out[i] = Half.toDouble(UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self))) }
            case .bfloat16:
                for i in 0..<n { out[i] = Double(Float(bitPattern: UInt32(UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self))) << 16)) }
            }
        }
        return out
    }

    /// Every element as Float (float64 tensors are rounded to nearest).
    public func floats() -> [Float] {
        if dtype == .float32 {
            let n = elementCount
            var out = [Float](repeating: 0, count: n)
            withUnsafeBytes { raw in
                for i in 0..<n { out[i] = Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: i * 4, as: UInt32.self))) }
            }
            return out
        }
        return doubles().map { Float($0) }
    }

    /// This tensor with each element rounded to `dtype` (exact when widening).
    public func converted(to target: DType) -> ModelTensor {
        if target == dtype { return self }
        var t = ModelTensor(doubles(), shape: shape, dtype: target, encoding: encoding)
        t.unknownFields = unknownFields
        return t
    }

    /// The same elements under another shape with the same element count.
    public func reshaped(_ newShape: [Int]) -> ModelTensor {
        precondition(newShape.reduce(1, *) == elementCount, "reshape changes the element count")
        var t = self
        t.shape = newShape
        return t
    }
}

/// A protobuf field an older or newer schema put in a header message, kept so that a
/// read → write round trip does not lose it.
public struct UnknownField: Equatable, Sendable {
    /// The protobuf field number (never 0).
    public var tag: UInt32
    /// The protobuf wire type: 0 varint, 1 64-bit, 2 length-delimited, 5 32-bit.
    public var wireType: UInt8
    /// The field's bytes as they were on the wire after its tag, written back unchanged.
    public var data: [UInt8]

    /// A field as it was read; the writer emits it as it is.
    public init(tag: UInt32, wireType: UInt8, data: [UInt8]) {
        self.tag = tag
        self.wireType = wireType
        self.data = data
    }
}

/// float32 → bfloat16 with round-to-nearest-even; NaN stays a quiet NaN.
package func bfloat16Bits(_ f: Float) -> UInt16 {
    let bits = f.bitPattern
    if f.isNaN { return UInt16(truncatingIfNeeded: bits >> 16) | 0x0040 }
    let rounding = UInt32(0x7FFF) + ((bits >> 16) & 1)
    return UInt16(truncatingIfNeeded: (bits &+ rounding) >> 16)
}
