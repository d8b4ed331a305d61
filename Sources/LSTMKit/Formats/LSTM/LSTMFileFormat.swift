internal import LSTMCodec
import LSTMCore

/// lstmtool's own format (docs/FORMAT.md): recognised by its magic number.
struct LSTMFileFormat: ModelImporter, ModelExporter {
    let name = "lstm"
    let displayName = "lstmtool model"
    let extensions = ["lstm"]
    let keepsTensorEncodings = true

    func recognizes(head: [UInt8]) -> Bool {
        head.count >= Preamble.magic.count && Array(head[0..<Preamble.magic.count]) == Preamble.magic
    }

    func importModel(at path: String, options: ImportOptions) throws -> ImportResult {
        ImportResult(model: try ModelReader(path: path).model(), formatName: name)
    }

    func export(_ model: Model, to path: String, options: WriteOptions) throws {
        try ModelWriter.write(model, to: path, options: options)
    }
}
