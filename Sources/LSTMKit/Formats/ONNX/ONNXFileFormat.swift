internal import LSTMCodec
import LSTMCore

/// ONNX models: RNN, LSTM and GRU nodes and the stacks exporters build around them
/// (docs/CONVERSIONS.md). A protobuf has no signature, so ONNX is told by its extension.
struct ONNXFileFormat: ModelImporter, ModelExporter {
    let name = "onnx"
    let displayName = "ONNX model"
    let extensions = ["onnx"]

    func importModel(at path: String, options: ImportOptions) throws -> ImportResult {
        var notes = ImportNotes()
        let model = try ONNXImporter.load(path: path, options: options, notes: &notes)
        return ImportResult(model: model, notes: notes.messages, formatName: name)
    }

    func export(_ model: Model, to path: String, options: WriteOptions) throws {
        try AtomicFile.write(path, chunks: [try ONNXExporter.encode(model)])
    }
}
