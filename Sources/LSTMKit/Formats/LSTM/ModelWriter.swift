internal import LSTMCodec
import LSTMCore

/// How the deflate streams of compressed tensors are produced; every choice is a standard
/// zlib stream that any inflater reads.
public enum DeflateStrategy: String, CaseIterable, Sendable {
    /// LZ77 matching and Huffman coding (zlib's default).
    case standard
    /// Huffman coding only: on byte-shuffled float weights it compresses best and fastest.
    case huffmanOnly = "huffman"

    var zlib: Zlib.Strategy { self == .standard ? .standard : .huffmanOnly }
}

/// How tensors are encoded when a model is written.
public struct WriteOptions: Sendable {
    /// nil keeps each tensor's own `encoding`; otherwise every tensor gets this one.
    public var encoding: Encoding?
    /// zlib level 0–9 of compressed tensors.
    public var level: Int32
    /// How deflate streams are produced.
    public var strategy: DeflateStrategy
    /// Store a tensor raw when compressing it saves nothing (small or incompressible tensors).
    public var rawWhenNotSmaller: Bool
    /// Formats whose files fix the input layout (TFLite): inputs `[B, T, I]` rather than `[T, B, I]`.
    public var batchFirst: Bool = false
    /// Formats whose files fix the batch size (TFLite's state tensors): the batch the file is made for.
    public var batchSize: Int = 1

    /// Called as a `.lstm` file is written with the bytes written so far and the total
    /// (a command line shows it on a terminal); nil: no reports.
    public var progress: (@Sendable (_ written: Int, _ total: Int) -> Void)?

    /// The default (see docs/PERFORMANCE.md for the measurements behind it): keep each
    /// tensor's encoding; zlib streams Huffman-only (on byte-shuffled floats it compresses
    /// best and fastest: LZ77 matches are rare in weights, entropy coding is what pays).
    public init(encoding: Encoding? = nil, level: Int32 = 6, strategy: DeflateStrategy = .huffmanOnly,
                rawWhenNotSmaller: Bool = false) {
        self.rawWhenNotSmaller = rawWhenNotSmaller
        self.encoding = encoding
        self.level = level
        self.strategy = strategy
    }
}

/// Writes .lstm files atomically: a crash or error mid-write leaves any old file untouched.
public enum ModelWriter {
    /// One blob of the file: bytes made for it (compressed, or copied), or a raw tensor
    /// whose bytes are written straight from where they are (a memory map).
    enum Blob {
        case bytes([UInt8])
        case tensor(ModelTensor)

        var count: Int {
            switch self {
            case .bytes(let b): return b.count
            case .tensor(let t): return t.byteCount
            }
        }
    }

    /// The preamble, header and blobs of a .lstm file holding `model`, in file order, with
    /// the alignment gaps between them.
    static func layout(_ model: Model, options: WriteOptions, path: String?) throws -> (head: [UInt8], blobs: [(gap: Int, blob: Blob)]) {
        try model.validate()
        try checkHeaderStrings(model.metadata, path: path)
        var entries: [TensorEntry] = []
        var blobs: [Blob] = []
        var offset = 0
        for (name, tensor) in model.namedTensors {
            var enc = options.encoding ?? tensor.encoding
            let crc = tensor.withUnsafeBytes { Zlib.crc32(0, $0) }
            var blob = Blob.tensor(tensor)
            if enc != .raw {
                // Compression needs the bytes as an array (a copy when the tensor is mapped).
                let raw = tensor.bytes
                let stored = enc == .zlib
                    ? try Zlib.compress(raw, level: options.level, strategy: options.strategy.zlib)
                    : try Zlib.compress(byteShuffle(raw, elementSize: tensor.dtype.size), level: options.level, strategy: options.strategy.zlib)
                if options.rawWhenNotSmaller && stored.count >= raw.count {
                    enc = .raw
                } else {
                    blob = .bytes(stored)
                }
                tensor.releaseResidentPages()
            }
            entries.append(TensorEntry(name: name, dtype: tensor.dtype, shape: tensor.shape, encoding: enc, offset: offset,
                                       storedSize: blob.count, rawSize: tensor.byteCount,
                                       crc32: crc, unknownFields: tensor.unknownFields))
            blobs.append(blob)
            offset = align(offset + blob.count)
        }
        let header = try HeaderCodec.encode(HeaderRecord(metadata: model.metadata, layers: model.layers.map(\.spec),
                                                         tensors: entries, unknownFields: model.unknownFields))
        let blobOffset = align(Preamble.size + header.count)
        let blobLength = blobs.isEmpty ? 0 : entries.last!.offset + blobs.last!.count
        let pre = Preamble(version: .current, flags: 0, headerOffset: Preamble.size, headerLength: header.count,
                           headerCRC: Zlib.crc32(header), alignment: Preamble.alignment,
                           blobOffset: blobOffset, blobLength: blobLength)
        let head = pre.encoded() + header + zeros(blobOffset - Preamble.size - header.count)
        var position = 0
        var out: [(gap: Int, blob: Blob)] = []
        for (entry, blob) in zip(entries, blobs) {
            out.append((entry.offset - position, blob))
            position = entry.offset + blob.count
        }
        return (head, out)
    }

    /// The bytes of a .lstm file holding `model`, as chunks in file order.
    public static func encode(_ model: Model, options: WriteOptions = WriteOptions(), path: String? = nil) throws -> [[UInt8]] {
        let (head, blobs) = try layout(model, options: options, path: path)
        var chunks: [[UInt8]] = [head]
        for (gap, blob) in blobs {
            chunks.append(zeros(gap))
            switch blob {
            case .bytes(let b): chunks.append(b)
            case .tensor(let t): chunks.append(t.bytes)
            }
        }
        return chunks
    }

    /// Writes `model` to `path` as a `.lstm` file, atomically: the bytes go to a temporary
    /// file in the same folder that then replaces `path`. Raw tensors are written from where
    /// their bytes are (a memory-mapped input is not copied). Throws `LSTMError` when the
    /// model is invalid (`Model.validate()`), when a metadata string holds U+0000 (a `.lstm`
    /// header cannot), or when writing fails; any old file at `path` is then left untouched.
    public static func write(_ model: Model, to path: String, options: WriteOptions = WriteOptions()) throws {
        let (head, blobs) = try layout(model, options: options, path: path)
        let total = head.count + blobs.map { $0.gap + $0.blob.count }.reduce(0, +)
        var written = 0
        try AtomicFile.writeBuffers(path) { emit in
            try head.withUnsafeBytes { try emit($0) }
            written += head.count
            for (gap, blob) in blobs {
                try zeros(gap).withUnsafeBytes { try emit($0) }
                switch blob {
                case .bytes(let b): try b.withUnsafeBytes { try emit($0) }
                case .tensor(let t):
                    try t.withUnsafeBytes { try emit($0) }
                    t.releaseResidentPages()
                }
                written += gap + blob.count
                options.progress?(written, total)
            }
        }
    }

    /// The header's strings are C strings (protobuf-c): one holding U+0000 would be cut short
    /// silently, so it is refused (the JSON form can hold it, a .lstm cannot).
    static func checkHeaderStrings(_ m: Metadata, path: String?) throws {
        var fields: [(String, String?)] = [("name", m.name), ("description", m.description), ("producer_name", m.producerName),
                                           ("producer_version", m.producerVersion), ("source_framework", m.sourceFramework),
                                           ("source_file", m.sourceFile), ("created", m.created)]
        for (i, kv) in m.properties.enumerated() {
            fields.append(("properties[\(i)].key", kv.key))
            fields.append(("properties[\(i)].value", kv.value))
        }
        for case let (field, value?) in fields where value.unicodeScalars.contains("\u{0}") {
            throw LSTMError(.invalidInput, "\(path ?? "model"): metadata \(field) contains a NUL character (U+0000), which a .lstm header cannot hold")
        }
    }

    static func align(_ n: Int) -> Int { (n + Preamble.alignment - 1) / Preamble.alignment * Preamble.alignment }
    static func zeros(_ n: Int) -> [UInt8] { [UInt8](repeating: 0, count: n) }
}

extension Encoding {
    /// What `convert` uses for models imported from other frameworks (docs/PERFORMANCE.md).
    public static let defaultForImports: Encoding = .shuffleZlib
}
