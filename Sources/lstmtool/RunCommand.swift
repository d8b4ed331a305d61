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
                                  each sequence's length
              H0/HN  [L·D, B, P], layer-major, direction-minor
              C0/CN  [L·D, B, H], layer-major, direction-minor
              L      [B], int32 or int64, each in 0...T
            When the layers differ in width, give and get states as .npz with layer0, layer1, … \
            of shape [D, B, P_k] ([D, B, H_k] for c). A model's learned initial states are used \
            when no --initial-* is given. f32 writes float32 outputs, f64 writes float64.

            Examples:
              lstmtool run model.lstm --input x.npy --output y.npy
              lstmtool run model.lstm --input x.npy --output y.npy \\
                  --final-h hn.npy --final-c cn.npy --precision f64
              lstmtool run model.lstm --input x.npy --output y.npy \\
                  --sequence-lengths lens.npy --batch-first
              lstmtool run stack.lstm --input x.npy --output y.npy \\
                  --initial-h h0.npz --final-h hn.npz      # widths differ
            """)

    @Argument(help: "The model (.lstm, .json, .onnx or .safetensors).")
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
    var precision: String = "f32"

    @OptionGroup var importOptions: ImportFlags

    func validate() throws {
        guard Precision(rawValue: precision) != nil else { throw ValidationError("--precision must be f32 or f64") }
        // Compared as absolute, normalised paths: `y.npy` and `./y.npy` are the same file.
        let outputs = [output, finalH, finalC].compactMap { $0 }.map {
            URL(fileURLWithPath: $0).standardizedFileURL.resolvingSymlinksInPath().path
        }
        guard Set(outputs).count == outputs.count else { throw ValidationError("--output, --final-h and --final-c must be different files") }
    }

    func run() throws {
        do {
            var notes = ImportNotes()
            let m = try ModelLoader.load(model, options: importOptions.options, notes: &notes)
            let p = Precision(rawValue: precision)!
            if finalC != nil && !m.layers.contains(where: { $0.spec.cell == .lstm }) {
                throw LSTMError(.invalidInput, "--final-c: the model has no LSTM layer, so no cell state")
            }
            var x = try RunIO.readInput(input, model: m, batchFirst: batchFirst)
            if let h = initialH { x.initialH = try RunIO.readStates(h, model: m, batch: x.batch, cell: false) }
            if let c = initialC { x.initialC = try RunIO.readStates(c, model: m, batch: x.batch, cell: true) }
            if let l = sequenceLengths { x.lengths = try RunIO.readLengths(l, batch: x.batch, steps: x.steps) }
            let out = try Evaluator(model: m, precision: p).run(x)
            // Every output is encoded before the first is written, so that a shape problem
            // leaves no partial set of files behind.
            var files: [(String, [UInt8])] = [(output, Npy.encode(RunIO.outputArray(out, input: x, model: m, precision: p, batchFirst: batchFirst)))]
            if let h = finalH { files.append((h, try RunIO.encodeStates(out.finalH, path: h, model: m, batch: x.batch, cell: false, precision: p))) }
            if let c = finalC, let cs = out.finalC {
                files.append((c, try RunIO.encodeStates(cs, path: c, model: m, batch: x.batch, cell: true, precision: p)))
            }
            try AtomicFileWrite.all(files.map { (path: $0.0, bytes: $0.1) })
            printNotes(notes)
        } catch {
            throw fail(error)
        }
    }
}
