internal import LSTMCodec
import LSTMCore

/// TensorFlow Lite / LiteRT flatbuffers (`.tflite`): recurrent models written with builtin
/// ops only, and the recurrent ops read back (docs/CONVERSIONS.md). Recognised by the
/// FlatBuffer file identifier `TFL3` at bytes 4–7.
struct TFLiteFileFormat: ModelImporter, ModelExporter {
    let name = "tflite"
    let displayName = "TFLite / LiteRT model"
    let extensions = ["tflite"]

    func recognizes(head: [UInt8]) -> Bool {
        head.count >= 8 && head[4..<8].elementsEqual("TFL3".utf8)
    }

    func importModel(at path: String, options: ImportOptions) throws -> ImportResult {
        var notes = ImportNotes()
        let bytes = try LSTMError.about(path) {
            let f = try MappedFile(path: path)
            return f.bytes(0..<f.size)
        }
        let model = try LSTMError.about(path) { try TFLiteImporter.load(bytes, options: options, sourceFile: ConvertSupport.fileName(path), notes: &notes) }
        return ImportResult(model: model, notes: notes.messages, formatName: name)
    }

    func export(_ model: Model, to path: String, options: WriteOptions) throws {
        try AtomicFile.write(path, chunks: [try TFLiteExporter.encode(model, batchFirst: options.batchFirst, batchSize: options.batchSize)])
    }
}
