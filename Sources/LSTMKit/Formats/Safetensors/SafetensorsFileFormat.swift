internal import LSTMCodec
import LSTMCore

/// PyTorch state dicts saved as safetensors (`safetensors.torch.save_file`): the tensors of a
/// torch.nn.RNN/LSTM/GRU, mapped by ``StateDictImporter``.
struct SafetensorsFileFormat: ModelImporter, ModelExporter {
    let name = "safetensors"
    let displayName = "PyTorch state dict (safetensors)"
    let extensions = ["safetensors"]

    /// An 8-byte little-endian header length below the format's 100 MB cap, then `{"`.
    func recognizes(head: [UInt8]) -> Bool {
        guard head.count >= 10 else { return false }
        let n = loadLE(UInt64.self, head, at: 0)
        return n >= 2 && n <= UInt64(SafetensorsFile.maxHeaderBytes) && head[8] == UInt8(ascii: "{")
            && (head[9] == UInt8(ascii: "\"") || head[9] == UInt8(ascii: "}") || head[9] == 0x20 || head[9] == 0x0A)
    }

    func importModel(at path: String, options: ImportOptions) throws -> ImportResult {
        let file = try SafetensorsFile(path: path)
        let byName = Dictionary(file.entries.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        let source = StateDictSource(
            names: file.entries.map(\.name),
            load: { try file.tensor(byName[$0]!) },
            metadata: Dictionary(file.metadata.map { ($0.key, $0.value) }, uniquingKeysWith: { a, _ in a }))
        var notes = ImportNotes()
        let model = try StateDictImporter.model(from: source, path: path, options: options, notes: &notes)
        return ImportResult(model: model, notes: notes.messages, formatName: name)
    }

    func export(_ model: Model, to path: String, options: WriteOptions) throws {
        let dict = try StateDictExporter.stateDict(model)
        try AtomicFile.write(path, chunks: [SafetensorsFile.encode(dict.tensors, metadata: dict.metadata)])
    }
}
