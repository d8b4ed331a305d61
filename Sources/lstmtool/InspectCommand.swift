import ArgumentParser
import LSTMKit

struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Show a model's version, metadata, layers, parameter counts and tensors.",
        discussion: """
            Reads only the header of a .lstm file, so it takes the same time for any model size. \
            --stats also reads every blob: it checks every CRC and prints min/max/mean/std and \
            NaN/Inf counts per tensor (exit 1 on a corrupt blob). Another format is read whole \
            and named as what it is; its metadata is what the file holds (no conversion time). \
            The `run:` line gives the shapes `lstmtool run` takes and gives, batch-first when \
            the model records layout batch_major (docs/FORMAT.md §3.1).

            Examples:
              lstmtool inspect fixtures/models/lstm_peephole_all.lstm
              lstmtool inspect model.lstm --stats
              lstmtool inspect model.lstm --json | jq .total_parameters
            """)

    @Argument(help: "The model (\(readableFormats)).")
    var file: String

    @Flag(help: "Read every blob: check CRCs and print value statistics.")
    var stats = false

    @Flag(help: "Print JSON (schema in docs/INSPECT_JSON.md).")
    var json = false

    @OptionGroup var importOptions: ImportFlags

    @OptionGroup var messages: OutputFlags

    func run() throws {
        do {
            let report: InspectReport
            var notes: [String] = []
            let importer = try ModelFormats.importer(for: file)
            if importer.name == "lstm" {
                report = try InspectReport(reader: ModelReader(path: file), stats: stats)
            } else {
                var opts = importOptions.options
                opts.stampsCreationTime = false  // show what the file holds, not the time of this read
                let result = try importer.importModel(at: file, options: opts)
                notes = result.notes
                report = InspectReport(model: result.model, path: file, stats: stats, format: importer)
            }
            print(json ? report.json() : report.text(), terminator: "")
            if !messages.quiet { printNotes(notes) }
        } catch {
            throw fail(error)
        }
    }
}
