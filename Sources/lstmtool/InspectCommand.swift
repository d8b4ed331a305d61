import ArgumentParser
import LSTMKit

struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Show a model's version, metadata, layers, parameter counts and tensors.",
        discussion: """
            Reads only the header of a .lstm file, so it takes the same time for any model size. \
            --stats also reads every blob: it checks every CRC and prints min/max/mean/std and \
            NaN/Inf counts per tensor (exit 1 on a corrupt blob).

            Examples:
              lstmtool inspect fixtures/models/lstm_peephole_all.lstm
              lstmtool inspect model.lstm --stats
              lstmtool inspect model.lstm --json | jq .total_parameters
            """)

    @Argument(help: "The model (.lstm, .json, .onnx or .safetensors).")
    var file: String

    @Flag(help: "Read every blob: check CRCs and print value statistics.")
    var stats = false

    @Flag(help: "Print JSON (schema in docs/INSPECT_JSON.md).")
    var json = false

    @OptionGroup var importOptions: ImportFlags

    func run() throws {
        do {
            let report: InspectReport
            var notes = ImportNotes()
            if try ModelFormat.detect(file) == .lstm {
                report = try InspectReport(reader: ModelReader(path: file), stats: stats)
            } else {
                let model = try ModelLoader.load(file, options: importOptions.options, notes: &notes)
                report = InspectReport(model: model, path: file, stats: stats)
            }
            print(json ? report.json() : report.text(), terminator: "")
            printNotes(notes)
        } catch {
            throw fail(error)
        }
    }
}

/// Flags for reading other frameworks' files (shared by every command that loads a model).
struct ImportFlags: ParsableArguments {
    @Option(help: "Cell family of a safetensors state dict when shapes cannot tell: lstm, gru or rnn.")
    var cell: String?

    @Option(help: "RNN nonlinearity of a safetensors state dict (weights cannot tell): tanh or relu.")
    var nonlinearity: String?

    @Option(help: "Key prefix of the recurrent module in a larger state dict, e.g. encoder.rnn.")
    var prefix: String?

    @Option(help: "ONNX node (name or output) to import when a graph holds several recurrent stacks.")
    var node: String?

    func validate() throws {
        if let c = cell, CellFamily(rawValue: c) == nil { throw ValidationError("--cell must be lstm, gru or rnn") }
        if let n = nonlinearity, n != "tanh" && n != "relu" { throw ValidationError("--nonlinearity must be tanh or relu") }
    }

    var options: ImportOptions {
        ImportOptions(cell: cell.flatMap(CellFamily.init(rawValue:)), nonlinearity: nonlinearity.flatMap(ActivationKind.init(rawValue:)),
                      prefix: prefix, node: node)
    }
}
