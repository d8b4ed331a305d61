internal import LSTMCodec
import LSTMCore

/// PyTorch checkpoints written by `torch.save` (`.pt`, `.pth`): a state dict, or a training
/// checkpoint dict holding one (`{"model": …, "optimizer": …}`, Lightning's `{"state_dict": …}`),
/// read without Python by ``TorchCheckpoint`` and mapped by ``StateDictImporter``.
struct PyTorchCheckpointFormat: ModelImporter {
    let name = "pytorch"
    let displayName = "PyTorch checkpoint (torch.save)"
    let extensions = ["pt", "pth"]

    /// A zip whose first member is `…/data.pkl`, or the legacy format's magic number.
    func recognizes(head: [UInt8]) -> Bool { TorchCheckpoint.recognizes(head) }

    func importModel(at path: String, options: ImportOptions) throws -> ImportResult {
        let checkpoint = try TorchCheckpoint(path: path)
        let byName = Dictionary(checkpoint.entries.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        let cache = StorageCache()
        let source = StateDictSource(names: checkpoint.entries.map(\.name), load: { try checkpoint.load(byName[$0]!, cache: cache) })
        var notes = ImportNotes()
        if checkpoint.nonFloatTensors > 0 {
            notes.messages.append("left out \(checkpoint.nonFloatTensors) tensor(s) that are not floating point (optimizer steps, counters): \(ConvertSupport.nameList(checkpoint.nonFloatNames))")
        }
        let model = try StateDictImporter.model(from: source, path: path, options: options, notes: &notes)
        return ImportResult(model: model, notes: notes.messages, formatName: name)
    }
}

/// The unpickler on its own, for the fuzz harness (Sources/lstmfuzz).
package enum TorchPickle {
    /// Unpickles a `data.pkl` and flattens it as an import would, without any storages: the
    /// fuzz harness's way into the unpickler (Sources/lstmfuzz). Returns the tensor names.
    package static func decode(_ bytes: [UInt8]) throws -> [String] {
        var entries: [TorchCheckpoint.Entry] = []
        var nonFloat: [String] = []
        try TorchCheckpoint.flatten(try Unpickler.load(bytes), path: "data.pkl", into: &entries, nonFloat: &nonFloat)
        return entries.map(\.name)
    }
}
