import LSTMCodec
import LSTMCore

/// Options for reading models from other frameworks' files.
public struct ImportOptions: Sendable {
    /// Cell family when shapes cannot tell (safetensors).
    public var cell: CellFamily?
    /// RNN nonlinearity, which weights cannot tell (safetensors).
    public var nonlinearity: ActivationKind?
    /// Key prefix of the recurrent module inside a larger state dict.
    public var prefix: String?
    /// ONNX node to import when a graph holds several recurrent stacks.
    public var node: String?

    public init(cell: CellFamily? = nil, nonlinearity: ActivationKind? = nil, prefix: String? = nil, node: String? = nil) {
        self.cell = cell
        self.nonlinearity = nonlinearity
        self.prefix = prefix
        self.node = node
    }
}

/// The kinds of model file lstmtool reads and writes, told apart by content and extension.
public enum ModelFormat: String, Sendable {
    case lstm, json, onnx, safetensors

    public static func forPath(_ path: String) -> ModelFormat? {
        let lower = path.lowercased()
        if lower.hasSuffix(".lstm") { return .lstm }
        if lower.hasSuffix(".json") { return .json }
        if lower.hasSuffix(".onnx") { return .onnx }
        if lower.hasSuffix(".safetensors") { return .safetensors }
        return nil
    }

    /// Sniffs the first bytes; falls back to the extension.
    public static func detect(_ path: String) throws -> ModelFormat {
        let f = try MappedFile(path: path)
        let head = f.bytes(0..<min(f.size, 16))
        if head.count >= 8 && Array(head[0..<8]) == Preamble.magic { return .lstm }
        if let ext = forPath(path) { return ext }
        if let first = head.first(where: { $0 != 0x20 && $0 != 0x0A && $0 != 0x0D && $0 != 0x09 }), first == UInt8(ascii: "{") { return .json }
        throw LSTMError(.invalidInput, "\(path): unknown model format (expected .lstm, .json, .onnx or .safetensors)")
    }
}

/// Notes a converter wants the user to see (on stderr), e.g. what an import left out.
public struct ImportNotes: Sendable {
    public var messages: [String] = []
    public init() {}
}

public enum ModelLoader {
    /// Reads a model of any supported format.
    public static func load(_ path: String, options: ImportOptions = ImportOptions(), notes: inout ImportNotes) throws -> Model {
        switch try ModelFormat.detect(path) {
        case .lstm: return try ModelReader(path: path).model()
        case .json: return try JSONForm.decode(try readWholeFile(path, limit: 1 << 31), path: path)
        case .onnx: return try ONNXImporter.load(path: path, options: options, notes: &notes)
        case .safetensors: return try SafetensorsImporter.load(path: path, options: options, notes: &notes)
        }
    }

    public static func load(_ path: String, options: ImportOptions = ImportOptions()) throws -> Model {
        var notes = ImportNotes()
        return try load(path, options: options, notes: &notes)
    }

    /// Writes a model in the format its path's extension names.
    public static func save(_ model: Model, to path: String, writeOptions: WriteOptions = WriteOptions()) throws {
        switch ModelFormat.forPath(path) {
        case .lstm: try ModelWriter.write(model, to: path, options: writeOptions)
        case .json: try AtomicFile.write(path, chunks: [Array(try JSONForm.encode(model).utf8)])
        case .onnx: try AtomicFile.write(path, chunks: [try ONNXExporter.encode(model)])
        case .safetensors: try AtomicFile.write(path, chunks: [try SafetensorsExporter.encode(model)])
        case nil:
            throw LSTMError(.invalidInput, "\(path): unknown output format (use .lstm, .json, .onnx or .safetensors)")
        }
    }
}
