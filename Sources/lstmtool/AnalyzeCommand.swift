import ArgumentParser
import Foundation
import LSTMKit

struct AnalyzeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "analyze",
        abstract: "Measure gate statistics, memory horizon and gradient flow of a model on an input.",
        discussion: """
            Runs the model in f64 on X with a tape of every intermediate value and reports \
            (docs/ANALYZE.md):
              gates     per layer and direction: mean and 5/50/95th percentile of each gate
                        (LSTM i, f, o; GRU z, r; RNN the pre-activation), the fraction of
                        steps each unit is saturated (< 0.05 or > 0.95), dead units
              memory    per unit: τ = −1/ln(mean forget gate) (GRU: mean update gate z),
                        and the share of units whose τ is longer than the input
              gradients s_t = ‖∂h_T/∂x_t‖ for batch entry 0 (exact, reverse mode),
                        the effective memory length (steps back until s_t < 1e-3 of
                        its peak), and ‖∂c_T/∂c_t‖ along each LSTM layer's cell path
            X is [T, B, I] ([B, T, I] with --batch-first); states as for `lstmtool run`, \
            with the same warning when --batch-first disagrees with the model's recorded layout.

            Environment:
              none: analyze reads no setting (LSTMTOOL_MAX_MEMORY_MIB does not apply;
              the taped f64 pass keeps every step's intermediate values in memory)

            Examples:
              lstmtool analyze model.lstm --input x.npy
              lstmtool analyze model.lstm --input x.npy --json > analysis.json
              lstmtool analyze model.lstm --input x.npy --svg report.svg
              lstmtool analyze model.lstm --input x.npy --initial-h h0.npy \\
                  --initial-c c0.npy
            """)

    @Argument(help: "The model (\(readableFormats)).")
    var model: String

    @Option(help: "Input sequence X (.npy, float16/32/64).")
    var input: String

    @Option(name: .customLong("initial-h"), help: "Initial hidden state (.npy or .npz), as for run.")
    var initialH: String?

    @Option(name: .customLong("initial-c"), help: "Initial cell state of LSTM layers (.npy or .npz), as for run.")
    var initialC: String?

    @Flag(name: .customLong("batch-first"), help: "X is [B, T, I].")
    var batchFirst = false

    @Flag(help: "Print the report as JSON (docs/ANALYZE.md).")
    var json = false

    @Option(help: "Also write a one-page SVG report: gate histograms, τ distribution, s_t against t.")
    var svg: String?

    @OptionGroup var importOptions: ImportFlags

    @OptionGroup var messages: OutputFlags

    func run() throws {
        do {
            var notes: [String] = []
            let m = try loadModelForPictures(model, importOptions, notes: &notes)
            let x = try RunIO.readInput(input, model: m, batchFirst: batchFirst)
            let given = batchFirst ? [x.batch, x.steps, m.inputSize] : [x.steps, x.batch, m.inputSize]
            if !messages.quiet, let w = RecordedLayout.mismatchWarning(model: m, inputShape: given, batchFirst: batchFirst, path: model) {
                printWarning(w)
            }
            let h0 = try initialH.map { try RunIO.readStates($0, model: m, batch: x.batch, cell: false) }
            let c0 = try initialC.map { try RunIO.readStates($0, model: m, batch: x.batch, cell: true) }
            // Progress on a terminal for inputs long enough to take a while.
            let progress = Progress(enabled: !messages.quiet && x.steps * x.batch * m.inputSize >= 1 << 20)
            let report = try Analyzer.analyze(model: m, x: x.x, steps: x.steps, batch: x.batch, initialH: h0, initialC: c0,
                                              progress: { progress.show($0) })
            progress.finish()
            if let path = svg {
                try AtomicFileWrite.bytes(Array(AnalysisPlots.reportSVG(report, model: m, title: model).utf8), to: path)
            }
            print(json ? report.json(model: model) : report.text(model: model), terminator: "")
            if !messages.quiet { printNotes(notes) }
        } catch {
            throw fail(error)
        }
    }
}
