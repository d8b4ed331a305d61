internal import LSTMCodec
import LSTMCore

extension Npy {
    /// A float array read straight into `S`: float16 and float32 widen exactly; float64
    /// read as Float rounds to nearest (the run's precision is the one asked for). A
    /// little-endian array already in `S` is copied, not converted.
    package static func decodeScalars<S: RecurrentScalar>(_ b: [UInt8], name: String, as _: S.Type = S.self) throws -> (shape: [Int], scalars: [S]) {
        try b.withUnsafeBytes { try decodeScalars($0, name: name, as: S.self) }
    }

    /// `decodeScalars` from bytes in memory, such as a mapped file's (no copy of the file first).
    package static func decodeScalars<S: RecurrentScalar>(_ raw: UnsafeRawBufferPointer, name: String, as _: S.Type = S.self) throws -> (shape: [Int], scalars: [S]) {
        let l = try layout(raw, name: name)
        guard l.kind == .float16 || l.kind == .float32 || l.kind == .float64 else {
            throw LSTMError(.invalidInput, "\(name): must be float16, float32 or float64, got \(l.kind.rawValue)")
        }
        guard l.count > 0 else { return (l.shape, []) }
        return (l.shape, [S](unsafeUninitializedCapacity: l.count) { out, n in
            let base = raw.baseAddress! + l.dataStart
            let native = !l.bigEndian && l.elementSize == MemoryLayout<S>.size
                && ((S.self == Float.self && l.kind == .float32) || (S.self == Double.self && l.kind == .float64))
            n = l.count
            preferHugePages(out)
            if native {
                UnsafeMutableRawBufferPointer(out).copyMemory(from: UnsafeRawBufferPointer(start: base, count: l.count * l.elementSize))
                return
            }
            for i in 0..<l.count {
                let p = base + i * l.elementSize
                switch l.kind {
                case .float16:
                    let v = p.loadUnaligned(as: UInt16.self)
                    out.initializeElement(at: i, to: S(Half.toDouble(l.bigEndian ? v.byteSwapped : v)))
                case .float32:
                    let v = p.loadUnaligned(as: UInt32.self)
                    out.initializeElement(at: i, to: S(Float(bitPattern: l.bigEndian ? v.byteSwapped : v)))
                default:
                    let v = p.loadUnaligned(as: UInt64.self)
                    out.initializeElement(at: i, to: S(Double(bitPattern: l.bigEndian ? v.byteSwapped : v)))
                }
            }
        })
    }

    /// The header of a version 1.0 .npy file of `S` (float32 for Float, float64 for Double),
    /// little-endian: magic, version, length and the padded dictionary (data starts 64-aligned).
    package static func header<S: RecurrentScalar>(shape: [Int], as _: S.Type) -> [UInt8] {
        let descr = S.self == Float.self ? "<f4" : "<f8"
        let shapeText = shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
        var header = "{'descr': '\(descr)', 'fortran_order': False, 'shape': \(shapeText), }"
        let total = 10 + header.utf8.count + 1
        header += String(repeating: " ", count: (64 - total % 64) % 64) + "\n"
        return magic + [1, 0, UInt8(header.utf8.count & 0xFF), UInt8(header.utf8.count >> 8)] + Array(header.utf8)
    }

    /// The file `encode` makes, handed to `emit` as its header and then the scalars' own memory
    /// (no copy of the data on a little-endian machine).
    package static func writer<S: RecurrentScalar>(shape: [Int], scalars: [S]) -> OutputProducer {
        #if _endian(big)
        let bytes = encode(shape: shape, scalars: scalars)
        return { emit in try bytes.withUnsafeBytes { try emit($0) } }
        #else
        let head = header(shape: shape, as: S.self)
        return { emit in
            try head.withUnsafeBytes { try emit($0) }
            try scalars.withUnsafeBytes { try emit($0) }
        }
        #endif
    }

    /// A version 1.0 .npy file of `S` (float32 for Float, float64 for Double), little-endian.
    package static func encode<S: RecurrentScalar>(shape: [Int], scalars: [S]) -> [UInt8] {
        let prefix = header(shape: shape, as: S.self)
        let dataBytes = scalars.count * MemoryLayout<S>.size
        return [UInt8](unsafeUninitializedCapacity: prefix.count + dataBytes) { buf, n in
            _ = buf.initialize(from: prefix)
            scalars.withUnsafeBytes { src in
                let dst = UnsafeMutableRawBufferPointer(UnsafeMutableBufferPointer(rebasing: buf[prefix.count...]))
                dst.copyMemory(from: src)
                #if _endian(big)
                // .npy data is written little-endian.
                let size = MemoryLayout<S>.size
                for i in 0..<scalars.count { dst[(i * size)..<((i + 1) * size)].reverse() }
                #endif
            }
            n = prefix.count + dataBytes
        }
    }
}

/// The typed side of `lstmtool run`: files in, `Tensor`/`RecurrentState` out, and back,
/// without widening to another precision on the way.
package enum TypedRunIO {
    /// X as a time-major tensor (`[B, T, I]` files are transposed when `batchFirst`).
    package static func readInput<S: RecurrentScalar>(_ path: String, model: RecurrentModel, batchFirst: Bool) throws -> Tensor<S> {
        // Decoded from the mapped file: the input is copied once, into the tensor.
        let file = try MappedFile(path: path)
        guard file.size <= inputFileLimit else {
            throw LSTMError(.io, "\(path): the file is \(byteSizeText(file.size)), more than the \(byteSizeText(inputFileLimit)) lstmtool reads as an input (a fixed limit: no setting raises it; docs/CLI.md, Settings and limits)")
        }
        let (shape, scalars): ([Int], [S]) = try file.withBytes(0..<file.size) { try Npy.decodeScalars($0, name: path) }
        let i = model.inputSize
        guard shape.count == 3, shape[2] == i else {
            let layout = batchFirst ? "[B, T, \(i)]" : "[T, B, \(i)]"
            throw LSTMError(.shape, "input has shape \(shape), expected \(layout) (the model's input size is \(i))", path: path)
        }
        let x = try Tensor(shape: shape, scalars: scalars)
        return batchFirst ? try x.swappingFirstTwoAxes() : x
    }

    /// The state a run starts from: the model's own, with h and/or c replaced by files
    /// (`.npy` `[L·D, B, W]` when every layer has the same width, else `.npz` of `layerK`).
    package static func readState<S: RecurrentScalar>(h hPath: String?, c cPath: String?, model: RecurrentModel, batch: Int) throws -> RecurrentState<S> {
        var state: RecurrentState<S> = model.initialState(batchSize: batch, as: S.self)
        let m = model.definition
        if let hPath {
            let layers = try RunIO.readStates(hPath, model: m, batch: batch, cell: false)
            for (li, v) in layers.enumerated() { state.layers[li].h = Tensor(checkedShape: state.layers[li].h.shape, scalars: v.map { S($0) }) }
        }
        if let cPath {
            let layers = try RunIO.readStates(cPath, model: m, batch: batch, cell: true)
            for (li, v) in layers.enumerated() {
                guard let old = state.layers[li].c else { continue }
                state.layers[li].c = Tensor(checkedShape: old.shape, scalars: v.map { S($0) })
            }
        }
        return state
    }

    /// The largest input file `readInput` reads (as `readWholeFile`'s limit).
    static let inputFileLimit = 1 << 34

    /// Y as .npy bytes, `[T, B, W]` or `[B, T, W]` when `batchFirst`.
    package static func encodeOutput<S: RecurrentScalar>(_ y: Tensor<S>, batchFirst: Bool) throws -> [UInt8] {
        let out = batchFirst ? try y.swappingFirstTwoAxes() : y
        return Npy.encode(shape: out.shape, scalars: out.scalars)
    }

    /// `encodeOutput` as a producer for `AtomicFile.writeAll(producing:)`: the header, then the
    /// tensor's own memory, with no copy of the outputs on the way to the file.
    package static func outputWriter<S: RecurrentScalar>(_ y: Tensor<S>, batchFirst: Bool) throws -> OutputProducer {
        let out = batchFirst ? try y.swappingFirstTwoAxes() : y
        return Npy.writer(shape: out.shape, scalars: out.scalars)
    }

    /// Final h (or c) as the bytes `--final-h`/`--final-c` write (same layout rules as inputs).
    package static func encodeState<S: RecurrentScalar>(_ state: RecurrentState<S>, cell: Bool, path: String, model: RecurrentModel) throws -> [UInt8] {
        let m = model.definition
        if cell { try RunIO.requireAllLSTM(m, path) }
        let tensors = state.layers.map { cell ? $0.c! : $0.h }
        if path.lowercased().hasSuffix(".npz") {
            return Npz.encode(tensors.enumerated().map { k, t in
                ("layer\(k)", NpyArray(kind: S.self == Float.self ? .float32 : .float64, shape: t.shape, values: t.scalars.map { Double($0) }))
            })
        }
        let widths = Set(tensors.map { $0.shape[2] })
        guard widths.count == 1 else {
            throw LSTMError(.invalidInput, "the layers differ in width (\(tensors.map { $0.shape[2] })); write the final states to a .npz file", path: path)
        }
        let rows = tensors.map { $0.shape[0] }.reduce(0, +)
        return Npy.encode(shape: [rows, state.batchSize, tensors[0].shape[2]], scalars: tensors.flatMap(\.scalars))
    }
}
