import ArgumentParser
import LSTMKit

struct ConvertCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "convert",
        abstract: "Convert a model between formats (\(readableFormats) in; \(writableFormats) out).",
        discussion: """
            The input's format is told by its content, then by its extension; the output's by \
            its extension. The output is written atomically: on any error the output path is \
            left as it was. Conversions record their source in the model's metadata.

            Examples:
              lstmtool convert model.lstm model.json          # lossless text form
              lstmtool convert model.json model.lstm --encoding shuffle_zlib
              lstmtool convert model.onnx model.lstm
              lstmtool convert model.safetensors model.lstm --cell lstm
              lstmtool convert big.safetensors model.lstm --prefix encoder.rnn.
              lstmtool convert checkpoint.pt model.lstm       # torch.save, no Python
              lstmtool convert last.ckpt.pt model.lstm --prefix state_dict.model.lstm.
              lstmtool convert model.lstm model.onnx
              lstmtool convert model.lstm model.tflite --batch-size 4
            """)

    @Argument(help: "The model to read (\(readableFormats)).")
    var input: String

    @Argument(help: "The file to write (\(writableFormats)).")
    var output: String

    @Option(help: "Encoding of every tensor in a .lstm output (default: keep each tensor's; shuffle_zlib for imports).")
    var encoding: Encoding?

    @Option(help: "zlib level 0-9 for compressed tensors (matters with --strategy standard).")
    var level: Int32 = 6

    @Option(help: "Deflate strategy: huffman (Huffman-only; best and fastest on float weights) or standard (LZ77 + Huffman).")
    var strategy: DeflateStrategy = .huffmanOnly

    @Flag(help: "A .tflite output takes batch-first input [B, T, I] (time_major = false); default time-major [T, B, I].")
    var batchFirst = false

    @Option(help: "The batch size a .tflite output's state tensors are made for.")
    var batchSize: Int = 1

    @OptionGroup var importOptions: ImportFlags

    func validate() throws {
        guard (0...9).contains(level) else { throw ValidationError("--level must be 0...9") }
        guard (try? ModelFormats.exporter(for: output)) != nil else {
            throw ValidationError("the output must end in \(writableFormats)")
        }
    }

    func run() throws {
        do {
            let importer = try ModelFormats.importer(for: input)
            let result = try importer.importModel(at: input, options: importOptions.options)
            var opts = WriteOptions(encoding: encoding, level: level, strategy: strategy)
            opts.batchFirst = batchFirst
            opts.batchSize = batchSize
            if opts.encoding == nil && !importer.keepsTensorEncodings {
                opts.encoding = .defaultForImports
                opts.rawWhenNotSmaller = true
            }
            try ModelFormats.write(result.model, to: output, options: opts)
            printNotes(result.notes)
        } catch {
            throw fail(error)
        }
    }
}
