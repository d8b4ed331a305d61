internal import LSTMCodec
import LSTMCore

/// A kind of model file: its name and the file extensions it is known by.
///
/// A format reads files when it is also a ``ModelImporter`` and writes them when it is also a
/// ``ModelExporter``. Every format lstmtool knows is listed once, in ``ModelFormats/all``;
/// command-line help, extension lists and error messages are made from that list.
public protocol ModelFileFormat: Sendable {
    /// Short name, used in messages and `--help` (`lstm`, `onnx`, `safetensors`, …).
    var name: String { get }
    /// What a person calls it (`ONNX model`, `PyTorch state dict (safetensors)`).
    var displayName: String { get }
    /// Lower-case file extensions without the dot, the first being the one written.
    var extensions: [String] { get }
}

/// A format lstmtool can read.
public protocol ModelImporter: ModelFileFormat {
    /// True when `head` (the first bytes of a file, up to ``ModelFormats/sniffLength``)
    /// can only be this format. Formats that have no signature return false and are
    /// recognised by extension.
    func recognizes(head: [UInt8]) -> Bool
    /// Reads the model in the file at `path`.
    func importModel(at path: String, options: ImportOptions) throws -> ImportResult
    /// True for formats that store lstmtool's own tensor encodings (so `convert` keeps
    /// them rather than choosing one for imported weights).
    var keepsTensorEncodings: Bool { get }
}

/// A format lstmtool can write.
public protocol ModelExporter: ModelFileFormat {
    /// The extensions a written file may have (by default all of ``ModelFileFormat/extensions``;
    /// Keras reads `.h5` but writes only `.keras`).
    var writtenExtensions: [String] { get }
    /// Writes `model` to `path` atomically (a reader never sees a half-written file).
    /// Throws, writing nothing, when the format cannot express the model.
    func export(_ model: Model, to path: String, options: WriteOptions) throws
}

extension ModelExporter {
    /// Every extension of the format.
    public var writtenExtensions: [String] { extensions }
}

extension ModelImporter {
    /// By default a format has no signature and is recognised by its extension only.
    public func recognizes(head: [UInt8]) -> Bool { false }
    /// By default imported weights get the encoding `convert` chooses
    /// (``Encoding/defaultForImports``).
    public var keepsTensorEncodings: Bool { false }
}

/// A model read from a file, with what the importer wants a person to know (what it left
/// out, what it assumed). Notes are information, not errors.
public struct ImportResult: Sendable {
    /// The model, validated.
    public var model: Model
    /// Notes in the order they arose, each one line.
    public var notes: [String]
    /// The format the file was read as.
    public var formatName: String

    /// A result of `formatName` with `notes`.
    public init(model: Model, notes: [String] = [], formatName: String) {
        self.model = model
        self.notes = notes
        self.formatName = formatName
    }
}

/// Options for reading models from other frameworks' files. Each applies to the formats
/// whose files cannot say it themselves, and is ignored by the others.
public struct ImportOptions: Sendable {
    /// Cell family when shapes cannot tell (PyTorch state dicts).
    public var cell: CellFamily?
    /// RNN nonlinearity, which weights cannot tell (PyTorch state dicts).
    public var nonlinearity: ActivationKind?
    /// Key prefix of the recurrent module inside a larger state dict.
    public var prefix: String?
    /// ONNX node to import when a graph holds several recurrent stacks.
    public var node: String?
    /// Keras layer (any layer of the wanted stack) when a model holds several recurrent stacks.
    public var layer: String?
    /// Keras model config (`config.json` or a `model.to_json()` file) for a weights-only `.h5`.
    public var config: String?
    /// The conversion time an import records in `Metadata.created` when the file does not
    /// hold one (RFC 3339, UTC); nil: `SOURCE_DATE_EPOCH` when set, else the current time.
    public var creationTime: String?
    /// Whether an import records a conversion time at all; `inspect` and `diff` turn it off
    /// so that they show only what the file holds.
    public var stampsCreationTime: Bool

    /// Options for a file; every field defaults to "let the file tell".
    public init(cell: CellFamily? = nil, nonlinearity: ActivationKind? = nil, prefix: String? = nil, node: String? = nil,
                layer: String? = nil, config: String? = nil, creationTime: String? = nil, stampsCreationTime: Bool = true) {
        self.creationTime = creationTime
        self.stampsCreationTime = stampsCreationTime
        self.cell = cell
        self.nonlinearity = nonlinearity
        self.prefix = prefix
        self.node = node
        self.layer = layer
        self.config = config
    }
}

/// Notes an importer collects while it reads (`ImportResult.notes` hands them out).
struct ImportNotes: Sendable {
    var messages: [String] = []
}

/// Every format lstmtool knows: the one registry. Adding a format is one folder under
/// `Sources/LSTMKit/Formats/` and one line here (docs/ARCHITECTURE.md).
public enum ModelFormats {
    /// Every known format, in the order content sniffing tries them.
    public static let all: [any ModelFileFormat] = [
        LSTMFileFormat(),
        JSONFileFormat(),
        ONNXFileFormat(),
        PyTorchCheckpointFormat(),
        SafetensorsFileFormat(),
        KerasFileFormat(),
        TFLiteFileFormat(),
    ]

    /// The formats that can be read.
    public static var importers: [any ModelImporter] { all.compactMap { $0 as? any ModelImporter } }
    /// The formats that can be written.
    public static var exporters: [any ModelExporter] { all.compactMap { $0 as? any ModelExporter } }

    /// How many leading bytes content sniffing looks at.
    public static let sniffLength = 4096

    /// `.lstm, .json, .onnx or .safetensors`: the extensions of `formats`, for messages.
    public static func extensionList(_ formats: [any ModelFileFormat]) -> String {
        extensionList(formats.flatMap(\.extensions))
    }

    /// `.lstm, .json, .onnx or .safetensors`: the extensions an output may have, for messages.
    public static func writableExtensionList() -> String {
        extensionList(exporters.flatMap(\.writtenExtensions))
    }

    private static func extensionList(_ extensions: [String]) -> String {
        let exts = extensions.map { "." + $0 }
        guard exts.count > 1 else { return exts.first ?? "" }
        return exts.dropLast().joined(separator: ", ") + " or " + exts.last!
    }

    /// The format of the file at `path`: by content first (a file renamed to the wrong
    /// extension is still recognised), then by extension.
    public static func importer(for path: String) throws -> any ModelImporter {
        let head = try LSTMError.about(path) {
            let f = try MappedFile(path: path)
            return f.bytes(0..<min(f.size, sniffLength))
        }
        if let byContent = importers.first(where: { $0.recognizes(head: head) }) { return byContent }
        if let byName = importers.first(where: { $0.extensions.contains(fileExtension(path)) }) { return byName }
        throw LSTMError(.invalidInput, "unknown model format (expected \(extensionList(importers)))", path: path)
    }

    /// The format a file at `path` is written in, from its extension.
    public static func exporter(for path: String) throws -> any ModelExporter {
        if let f = exporters.first(where: { $0.writtenExtensions.contains(fileExtension(path)) }) { return f }
        throw LSTMError(.invalidInput, "unknown output format (use \(writableExtensionList()))", path: path)
    }

    /// Reads a model of any known format.
    public static func read(_ path: String, options: ImportOptions = ImportOptions()) throws -> ImportResult {
        try importer(for: path).importModel(at: path, options: options)
    }

    /// Writes `model` in the format `path`'s extension names.
    public static func write(_ model: Model, to path: String, options: WriteOptions = WriteOptions()) throws {
        try exporter(for: path).export(model, to: path, options: options)
    }

    /// The lower-cased extension of `path`'s last component, without the dot ("" if none).
    static func fileExtension(_ path: String) -> String {
        let name = path.split(separator: "/").last.map(String.init) ?? path
        guard let dot = name.lastIndex(of: "."), dot != name.startIndex else { return "" }
        return String(name[name.index(after: dot)...]).lowercased()
    }
}
