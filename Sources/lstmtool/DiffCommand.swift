import ArgumentParser
import LSTMKit

struct DiffCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "diff",
        abstract: "Show what differs between two models: structure, metadata, and each tensor and gate block.",
        discussion: """
            A and B may be in any readable format (\(readableFormats)); both are compared \
            after import, in lstmtool's canonical gate order (LSTM i f g o, coupled f g o, GRU \
            z r n), so a difference is named by layer, direction, tensor and gate whatever \
            order the source used. For every tensor: identical (bit for bit), within --atol, \
            or the max and mean absolute difference, the element where the largest is and the \
            count above --atol, per gate block; gate blocks found at each other's place are \
            reported as permuted. Structure (cells, sizes, options, activations) is compared \
            layer by layer; metadata differences are listed but do not make models different.

            Exit codes: 0 equal within --atol, 2 different, 1 a model could not be read, \
            64 usage error.

            Examples:
              lstmtool diff model.lstm model.onnx      # did the export keep it all?
              lstmtool diff base.lstm finetuned.lstm --atol 1e-6
              lstmtool diff model.safetensors model.lstm --cell lstm --json | jq .tensors
            """)

    @Argument(help: "Model A.")
    var a: String

    @Argument(help: "Model B.")
    var b: String

    @Option(help: "Absolute tolerance: elements differing by at most this much count as equal (default 0: exact).")
    var atol: Double = 0

    @Flag(help: "Print the report as JSON.")
    var json = false

    @OptionGroup var importOptions: ImportFlags

    @OptionGroup var messages: OutputFlags

    func validate() throws {
        guard atol >= 0, atol.isFinite else { throw ValidationError("--atol must be a finite number >= 0") }
    }

    func run() throws {
        let diff: ModelDiff
        var notes: [String] = []
        do {
            var opts = importOptions.options
            opts.stampsCreationTime = false
            let ra = try ModelFormats.read(a, options: opts)
            let rb = try ModelFormats.read(b, options: opts)
            notes = ra.notes.map { "A: " + $0 } + rb.notes.map { "B: " + $0 }
            diff = ModelDiff(ra.model, rb.model, atol: atol)
        } catch {
            throw fail(error)
        }
        print(json ? diff.json(nameA: a, nameB: b) : diff.text(nameA: a, nameB: b), terminator: "")
        if !messages.quiet { printNotes(notes) }
        if !diff.equal { throw ExitCode(2) }
    }
}
