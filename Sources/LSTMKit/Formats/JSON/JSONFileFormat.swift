internal import LSTMCodec
import LSTMCore

/// The lossless JSON text form (docs/JSON_FORM.md): a JSON object, told by its extension or
/// by a leading `{`.
struct JSONFileFormat: ModelImporter, ModelExporter {
    let name = "json"
    let displayName = "lstmtool JSON form"
    let extensions = ["json"]
    let keepsTensorEncodings = true
    /// The largest JSON form read (the text of a 1 GiB model is about 2 GiB).
    static let maxBytes = 1 << 31

    /// A JSON object whose first key is the form's `format_version`.
    func recognizes(head: [UInt8]) -> Bool {
        guard head.first(where: { ![0x20, 0x0A, 0x0D, 0x09].contains($0) }) == UInt8(ascii: "{") else { return false }
        return String(decoding: head.prefix(256), as: UTF8.self).contains("\"format_version\"")
    }

    func importModel(at path: String, options: ImportOptions) throws -> ImportResult {
        let bytes = try readWholeFile(path, limit: JSONFileFormat.maxBytes)
        guard bytes.first(where: { ![0x20, 0x0A, 0x0D, 0x09].contains($0) }) == UInt8(ascii: "{") else {
            throw LSTMError(.malformedHeader, "not a JSON object (the JSON form starts with '{')", path: path)
        }
        return ImportResult(model: try JSONForm.decode(bytes, path: path), formatName: name)
    }

    func export(_ model: Model, to path: String, options: WriteOptions) throws {
        try AtomicFile.write(path, chunks: [Array(try JSONForm.encode(model).utf8)])
    }
}
