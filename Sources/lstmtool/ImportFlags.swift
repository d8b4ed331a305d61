import ArgumentParser
import LSTMKit

extension CellFamily: ExpressibleByArgument {}
extension Encoding: ExpressibleByArgument {}
extension DeflateStrategy: ExpressibleByArgument {}
extension Precision: ExpressibleByArgument {}
extension MaskedOutput: ExpressibleByArgument {}

/// An RNN's nonlinearity as PyTorch names it (the only two torch.nn.RNN has).
enum TorchNonlinearity: String, CaseIterable, ExpressibleByArgument {
    case tanh, relu
    var kind: ActivationKind { self == .tanh ? .tanh : .relu }
}

/// Flags for reading other frameworks' files (shared by every command that loads a model).
struct ImportFlags: ParsableArguments {
    @Option(help: "Cell family of a PyTorch state dict when shapes cannot tell.")
    var cell: CellFamily?

    @Option(help: "RNN nonlinearity of a PyTorch state dict (weights cannot tell).")
    var nonlinearity: TorchNonlinearity?

    @Option(help: "Key prefix of the recurrent module in a larger state dict, e.g. encoder.rnn. (nested .pt dicts are joined with '.': state_dict.model.lstm.)")
    var prefix: String?

    @Option(help: "ONNX node (name or output) to import when a graph holds several recurrent stacks.")
    var node: String?

    @Option(help: "Keras layer (any layer of the wanted stack) to import when a model holds several recurrent stacks.")
    var layer: String?

    @Option(help: "Keras model config (config.json or model.to_json() output) for a weights-only .weights.h5 file.")
    var config: String?

    var options: ImportOptions {
        ImportOptions(cell: cell, nonlinearity: nonlinearity?.kind, prefix: prefix, node: node, layer: layer, config: config)
    }
}

/// "`.lstm`, `.json`, `.onnx`, `.pt`, `.pth` or `.safetensors`": what the registry reads, for help texts.
let readableFormats = ModelFormats.extensionList(ModelFormats.importers)
/// What the registry writes.
let writableFormats = ModelFormats.writableExtensionList()

/// `--quiet`: no notes or warnings on stderr (errors are still printed).
struct OutputFlags: ParsableArguments {
    @Flag(name: [.customShort("q"), .long], help: "Print no notes or warnings on stderr (errors still are).")
    var quiet = false
}
