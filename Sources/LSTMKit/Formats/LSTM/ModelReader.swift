import Foundation
package import LSTMCodec
import LSTMCore

/// Opens a .lstm file. Creating a reader reads and validates the preamble and the header
/// only (never a blob), so it costs the same for a 1 KiB and a 10 GiB model.
package final class ModelReader: Sendable {
    package let path: String
    package let version: FormatVersion
    package let header: HeaderRecord
    package let fileSize: Int
    /// Where the blob section starts in the file, and its alignment.
    package let blobOffset: Int
    package let alignment: Int
    private let file: MappedFile

    /// Longest a single blob may inflate to: deflate cannot exceed ~1032:1.
    static let maxInflateRatio = 1032

    package convenience init(path: String) throws {
        try self.init(file: MappedFile(path: path))
    }

    /// Reads a model held in memory (`name` appears in errors).
    package convenience init(bytes: [UInt8], name: String) throws {
        try self.init(file: MappedFile(bytes: bytes, name: name))
    }

    init(file: MappedFile) throws {
        let path = file.path
        self.path = path
        self.file = file
        fileSize = file.size
        let pre = try Preamble(parsing: file.bytes(0..<min(file.size, Preamble.size)), fileSize: file.size, path: path)
        version = pre.version
        blobOffset = pre.blobOffset
        alignment = pre.alignment
        let headerRange = pre.headerOffset..<(pre.headerOffset + pre.headerLength)
        let crc = file.withBytes(headerRange) { Zlib.crc32(0, $0) }
        guard crc == pre.headerCRC || skipChecksums else {
            throw LSTMError(.checksum, "\(path): header CRC mismatch (stored \(hex(pre.headerCRC)), computed \(hex(crc)))")
        }
        do {
            header = try file.withBytes(headerRange) { try HeaderCodec.decode($0) }
        } catch let e as LSTMError {
            throw e.withPath(path)
        }
        try ModelReader.validateTable(header, blobLength: pre.blobLength, alignment: pre.alignment, path: path)
    }

    /// Checks the tensor table before any blob is trusted: names, sizes, bounds, overlaps,
    /// and that the tensors are exactly the ones the layers need.
    static func validateTable(_ h: HeaderRecord, blobLength: Int, alignment: Int, path: String) throws {
        func fail(_ k: LSTMError.Kind, _ s: String) -> LSTMError { LSTMError(k, "\(path): \(s)") }
        guard h.layers.count <= 4096 else { throw fail(.invalidModel, "\(h.layers.count) layers is more than the 4096 allowed") }
        var seen = Set<String>()
        var tables = h.layers.map { Array(repeating: [TensorRole: [Int]](), count: $0.direction.count) }
        for t in h.tensors {
            guard seen.insert(t.name).inserted else { throw fail(.invalidModel, "tensor \(t.name) appears twice") }
            let count: Int
            do { count = try checkedProduct(t.shape, what: t.name) } catch { throw fail(.shape, "\(t.name): shape \(t.shape) overflows") }
            let (raw, overflow) = count.multipliedReportingOverflow(by: t.dtype.size)
            guard !overflow, raw == t.rawSize else {
                throw fail(.sizeMismatch, "\(t.name): raw_size \(t.rawSize) but shape \(t.shape) of \(t.dtype.rawValue) needs \(overflow ? "more than 2^63" : String(raw)) bytes")
            }
            guard t.offset <= blobLength, t.storedSize <= blobLength - t.offset else {
                throw fail(.outOfBounds, "\(t.name): blob \(t.offset)..<\(t.offset + t.storedSize) is outside the blob section of \(blobLength) bytes")
            }
            guard t.offset % alignment == 0 else { throw fail(.outOfBounds, "\(t.name): blob offset \(t.offset) is not aligned to \(alignment)") }
            switch t.encoding {
            case .raw:
                guard t.storedSize == t.rawSize else {
                    throw fail(.sizeMismatch, "\(t.name): raw tensor stores \(t.storedSize) bytes, its shape needs \(t.rawSize)")
                }
            case .zlib, .shuffleZlib:
                guard t.rawSize <= t.storedSize * maxInflateRatio + 64 else {
                    throw fail(.sizeMismatch, "\(t.name): declares \(t.rawSize) raw bytes, more than \(t.storedSize) compressed bytes can hold")
                }
            }
            guard let (layer, pass, role) = parseTensorName(t.name) else {
                throw fail(.extraTensor, "tensor \(t.name) is not named layers.K.PASS.ROLE")
            }
            guard layer < h.layers.count else { throw fail(.extraTensor, "tensor \(t.name) names layer \(layer), the model has \(h.layers.count)") }
            guard let d = h.layers[layer].direction.passes.firstIndex(of: pass) else {
                throw fail(.extraTensor, "tensor \(t.name): layer \(layer) is \(h.layers[layer].direction.rawValue), it has no \(pass.rawValue) pass")
            }
            tables[layer][d][role] = t.shape
        }
        let sorted = h.tensors.filter { $0.storedSize > 0 }.sorted { $0.offset < $1.offset }
        for (a, b) in zip(sorted, sorted.dropFirst()) where a.offset + a.storedSize > b.offset {
            throw fail(.overlap, "blobs of \(a.name) (\(a.offset)..<\(a.offset + a.storedSize)) and \(b.name) (from \(b.offset)) overlap")
        }
        guard !h.layers.isEmpty else { throw fail(.invalidModel, "the model has no layers") }
        for (i, spec) in h.layers.enumerated() {
            do {
                try spec.validate(at: "layer \(i)")
                try spec.validateTensorShapes(tables[i], index: i)
            } catch let e as LSTMError {
                throw fail(e.kind, e.message)
            }
            if i > 0 {
                let prev = h.layers[i - 1]
                let width = prev.direction.count * prev.outputSize
                guard spec.inputSize == width else {
                    throw fail(.invalidModel, "layer \(i): input_size \(spec.inputSize) but layer \(i - 1) outputs \(width) values per step")
                }
            }
        }
    }

    /// Decodes one tensor: bounds were checked at open; a raw blob is checked against its CRC
    /// and then read from the map without a copy; a compressed one is inflated into exactly
    /// the declared size and checked.
    package func tensor(_ entry: TensorEntry) throws -> ModelTensor {
        let start = blobOffset + entry.offset
        let range = start..<(start + entry.storedSize)
        let what = "\(path): tensor \(entry.name)"
        func checkCRC(_ crc: UInt32) throws {
            guard crc == entry.crc32 || skipChecksums else {
                throw LSTMError(.checksum, "\(what): CRC mismatch (stored \(hex(entry.crc32)), computed \(hex(crc))): the weights are corrupt")
            }
        }
        switch entry.encoding {
        case .raw:
            try checkCRC(file.withBytes(range) { Zlib.crc32(0, $0) })
            // The check read every page; let them go until the tensor is used.
            file.releasePages(range)
            return try ModelTensor(dtype: entry.dtype, shape: entry.shape, external: MappedRange(file: file, range: range),
                                   encoding: entry.encoding, unknownFields: entry.unknownFields)
        case .zlib, .shuffleZlib:
            var raw = try file.withBytes(range) { try Zlib.decompress($0, expectedSize: entry.rawSize, what: what) }
            if entry.encoding == .shuffleZlib { raw = byteUnshuffle(raw, elementSize: entry.dtype.size) }
            try checkCRC(Zlib.crc32(raw))
            return try ModelTensor(dtype: entry.dtype, shape: entry.shape, bytes: raw, encoding: entry.encoding,
                                   unknownFields: entry.unknownFields)
        }
    }

    /// Reads every tensor and assembles the model.
    package func model() throws -> Model {
        var layers = header.layers.map { Layer(spec: $0, passes: Array(repeating: [:], count: $0.direction.count)) }
        let decoded = try decodeAll(header.tensors)
        for (entry, t) in zip(header.tensors, decoded) {
            let (k, pass, role) = parseTensorName(entry.name)!
            let d = layers[k].spec.direction.passes.firstIndex(of: pass)!
            layers[k].passes[d][role] = t
        }
        // validateTable checked every spec, shape and the chaining of widths at open, and
        // every tensor now has its checked shape: the model is valid without a second pass.
        return Model(metadata: header.metadata, layers: layers, unknownFields: header.unknownFields)
    }
}

/// A fuzzing build (-DLSTMTOOL_FUZZING) skips CRC checks so that the fuzzer reaches the code
/// behind them, as libpng's fuzz build does; normal builds never skip them.
#if LSTMTOOL_FUZZING
let skipChecksums = true
#else
let skipChecksums = false
#endif

extension ModelReader {
    /// Decodes tensors on every core when there is enough compressed data to pay for it
    /// (inflate, unshuffle and CRC of different tensors are independent). Errors are reported
    /// for the first failing tensor in file order, as a sequential read would.
    func decodeAll(_ entries: [TensorEntry]) throws -> [ModelTensor] {
        let work = entries.filter { $0.encoding != .raw }.map(\.rawSize).reduce(0, +)
        guard entries.count > 1, work >= 4 << 20 else { return try entries.map { try tensor($0) } }
        let results = ResultSlots(count: entries.count)
        DispatchQueue.concurrentPerform(iterations: entries.count) { i in
            results.set(i, Result { try self.tensor(entries[i]) })
        }
        return try results.values.map { try $0!.get() }
    }
}

/// One slot per concurrent task; each index is written by exactly one task.
private final class ResultSlots: @unchecked Sendable {
    private let lock = NSLock()
    private(set) var values: [Result<ModelTensor, Error>?]
    init(count: Int) { values = Array(repeating: nil, count: count) }
    func set(_ i: Int, _ r: Result<ModelTensor, Error>) {
        lock.lock()
        values[i] = r
        lock.unlock()
    }
}

func hex(_ v: UInt32) -> String {
    let s = String(v, radix: 16)
    return "0x" + String(repeating: "0", count: max(0, 8 - s.count)) + s
}
