import ArgumentParser
import Foundation
import LSTMKit

struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a model's forward pass on .npy inputs.",
        discussion: """
            Shapes (L layers, D directions, H hidden, P projection size or H):
              X      [T, B, I]    ([B, T, I] with --batch-first)
              Y      [T, B, D·P]  ([B, T, D·P] with --batch-first), zero past
                                  each sequence's length (--masked-output hold:
                                  the last valid output repeated, as Keras does)
              H0/HN  [L·D, B, P], layer-major, direction-minor
              C0/CN  [L·D, B, H], layer-major, direction-minor
              L      [B], int32 or int64, each in 0...T
            When the layers differ in width, give and get states as .npz with layer0, layer1, … \
            of shape [D, B, P_k] ([D, B, H_k] for c). A model's learned initial states are used \
            when no --initial-* is given. f32 writes float32 outputs, f64 writes float64.

            Layout: when the model records the layout its source used (metadata property \
            `layout`: ONNX layout, Keras, convert --layout; `lstmtool inspect` shows it) and \
            --batch-first disagrees with it, a warning says how X was read (once, on stderr): \
            a [B, T, I] input run without --batch-first still fits whenever its first two \
            axes could be either way round, and gives wrong numbers silently.

            Environment:
              LSTMTOOL_THREADS          threads of the f32 path (default: every core)
              LSTMTOOL_MAX_MEMORY_MIB   working memory one run may use, in MiB (default
                                        16384); a run needing more is refused, naming it
              LSTMTOOL_KERNEL           f32 kernel: portable, avx2, avx512 or neon (default:
                                        the best this CPU has)
              LSTMTOOL_SPIN_US          how long idle worker threads keep spinning before
                                        they sleep, in µs (default 1000; 0 on a shared core)

            Examples:
              lstmtool run model.lstm --input x.npy --output y.npy
              lstmtool run model.lstm --input x.npy --output y.npy \\
                  --final-h hn.npy --final-c cn.npy --precision f64
              lstmtool run model.lstm --input x.npy --output y.npy \\
                  --sequence-lengths lens.npy --batch-first
              lstmtool run stack.lstm --input x.npy --output y.npy \\
                  --initial-h h0.npz --final-h hn.npz      # widths differ
            """)

    @Argument(help: "The model (\(readableFormats)).")
    var model: String

    @Option(help: "Input sequence X (.npy, float16/32/64).")
    var input: String

    @Option(help: "Where to write Y (.npy).")
    var output: String

    @Option(name: .customLong("initial-h"), help: "Initial hidden state (.npy or .npz).")
    var initialH: String?

    @Option(name: .customLong("initial-c"), help: "Initial cell state of LSTM layers (.npy or .npz).")
    var initialC: String?

    @Option(name: .customLong("sequence-lengths"), help: "Valid length of each sequence (.npy, int32 or int64).")
    var sequenceLengths: String?

    @Option(name: .customLong("final-h"), help: "Where to write the final hidden state (.npy or .npz).")
    var finalH: String?

    @Option(name: .customLong("final-c"), help: "Where to write the final cell state (.npy or .npz).")
    var finalC: String?

    @Flag(name: .customLong("batch-first"), help: "X and Y are [B, T, …] (states keep their layout).")
    var batchFirst = false

    @Option(help: "f32 (fast) or f64 (reference).")
    var precision: Precision = .f32

    @Option(name: .customLong("masked-output"),
            help: "What Y holds past a sequence's length: zero (onnxruntime, PyTorch) or hold (Keras masking: the last valid output repeated). Default: the model's keras.masking property, else zero.")
    var maskedOutput: MaskedOutput?

    @OptionGroup var importOptions: ImportFlags

    @OptionGroup var messages: OutputFlags

    func validate() throws {
        // Compared as absolute, normalised paths: `y.npy` and `./y.npy` are the same file.
        let outputs = [output, finalH, finalC].compactMap { $0 }.map {
            URL(fileURLWithPath: $0).standardizedFileURL.resolvingSymlinksInPath().path
        }
        guard Set(outputs).count == outputs.count else { throw ValidationError("--output, --final-h and --final-c must be different files") }
    }

    func run() throws {
        do {
            let m = try RecurrentModel(contentsOf: URL(fileURLWithPath: model),
                                       options: .init(importOptions: importOptions.options, limits: limitsFromEnvironment()))
            if finalC != nil && !m.layers.contains(where: { $0.spec.cell == .lstm }) {
                throw LSTMError(.invalidInput, "--final-c: the model has no LSTM layer, so no cell state")
            }
            // Every output is encoded before the first is written, so that a shape problem
            // leaves no partial set of files behind.
            let files: [(path: String, produce: OutputProducer)]
            switch precision {
            case .f32: files = try runTyped(m, Float.self)
            case .f64: files = try runTyped(m, Double.self)
            }
            try AtomicFileWrite.all(producing: files)
            if !messages.quiet { printNotes(m.importNotes) }
        } catch {
            throw fail(error)
        }
    }

    /// Runs `x`, showing progress on a terminal for long sequences: a model that can stream is
    /// then fed in chunks of steps with its state carried, which gives bitwise the outputs and
    /// state of one whole run (each row's lengths cut to the chunk), so nothing changes but
    /// the display.
    private func runShowingProgress<S: RecurrentScalar>(_ m: RecurrentModel, _ x: Tensor<S>, state: inout RecurrentState<S>,
                                                         lengths: [Int]?) throws -> Tensor<S> {
        let steps = x.shape[0]
        let progress = Progress(enabled: !messages.quiet && steps >= 4096)
        defer { progress.finish() }
        guard progress.enabled, m.canStream else {
            progress.show("running \(steps) steps…")
            return try m.run(x, state: &state, sequenceLengths: lengths)
        }
        let chunk = max(1024, steps / 100)
        var scalars: [S] = []
        scalars.reserveCapacity(steps * x.shape[1] * m.outputSize)
        var start = 0
        while start < steps {
            let end = min(steps, start + chunk)
            let part = lengths.map { $0.map { min(max($0 - start, 0), end - start) } }
            scalars += try m.run(try x.slice(steps: start..<end), state: &state, sequenceLengths: part).scalars
            start = end
            progress.fraction(start, of: steps, "run: step \(start) of \(steps)")
        }
        return try Tensor(shape: [steps, x.shape[1], m.outputSize], scalars: scalars)
    }

    /// Reads the inputs in `S`, runs, and encodes the outputs in `S`: no other precision on the way.
    private func runTyped<S: RecurrentScalar>(_ m: RecurrentModel, _: S.Type) throws -> [(path: String, produce: OutputProducer)] {
        let x: Tensor<S> = try TypedRunIO.readInput(input, model: m, batchFirst: batchFirst)
        let batch = x.shape[1], steps = x.shape[0]
        let given = batchFirst ? [batch, steps, x.shape[2]] : [steps, batch, x.shape[2]]
        if !messages.quiet, let w = RecordedLayout.mismatchWarning(model: m.definition, inputShape: given, batchFirst: batchFirst, path: model) {
            printWarning(w)
        }
        var state: RecurrentState<S> = try TypedRunIO.readState(h: initialH, c: initialC, model: m, batch: batch)
        let lengths = try sequenceLengths.map { try RunIO.readLengths($0, batch: batch, steps: steps) }
        var y = try runShowingProgress(m, x, state: &state, lengths: lengths)
        let mode = maskedOutput ?? MaskedOutput.recorded(in: m.definition) ?? .zero
        if mode == .hold, lengths != nil {
            var scalars = y.scalars
            mode.apply(to: &scalars, steps: y.shape[0], batch: y.shape[1], width: y.shape[2], lengths: lengths)
            y = try Tensor(shape: y.shape, scalars: scalars)
        }
        // The output goes from the tensor's memory to the file (no encoded copy of it).
        var files = [(path: output, produce: try TypedRunIO.outputWriter(y, batchFirst: batchFirst))]
        for (path, cell) in [(finalH, false), (finalC, true)] {
            guard let path else { continue }
            let bytes = try TypedRunIO.encodeState(state, cell: cell, path: path, model: m)
            files.append((path, { emit in try bytes.withUnsafeBytes { try emit($0) } }))
        }
        return files
    }
}
