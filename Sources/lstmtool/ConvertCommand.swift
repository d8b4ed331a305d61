import ArgumentParser
import LSTMKit

struct ConvertCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "convert",
        abstract: "Convert a model between .lstm, .json, .onnx and .safetensors.",
        discussion: """
            The formats are told by the file extensions. The output is written atomically: on any \
            error the output path is left as it was. Conversions record their source in the \
            model's metadata.

            Examples:
              lstmtool convert model.lstm model.json          # lossless text form
              lstmtool convert model.json model.lstm --encoding shuffle_zlib
              lstmtool convert model.onnx model.lstm
              lstmtool convert model.safetensors model.lstm --cell lstm
              lstmtool convert big.safetensors model.lstm --prefix encoder.rnn.
              lstmtool convert model.lstm model.onnx
            """)

    @Argument(help: "The model to read.")
    var input: String

    @Argument(help: "The file to write (.lstm, .json, .onnx or .safetensors).")
    var output: String

    @Option(help: "Encoding of every tensor in a .lstm output: raw, zlib or shuffle_zlib (default: keep each tensor's, shuffle_zlib for imports).")
    var encoding: String?

    @Option(help: "zlib level 0-9 for compressed tensors (matters with --strategy standard).")
    var level: Int32 = 6

    @Option(help: "Deflate strategy: huffman (Huffman-only; best and fastest on float weights) or standard (LZ77 + Huffman).")
    var strategy: String = "huffman"

    @OptionGroup var importOptions: ImportFlags

    func validate() throws {
        if let e = encoding, Encoding(rawValue: e) == nil { throw ValidationError("--encoding must be raw, zlib or shuffle_zlib") }
        guard (0...9).contains(level) else { throw ValidationError("--level must be 0...9") }
        guard DeflateStrategy(rawValue: strategy) != nil else { throw ValidationError("--strategy must be huffman or standard") }
        guard ModelFormat.forPath(output) != nil else {
            throw ValidationError("the output must end in .lstm, .json, .onnx or .safetensors")
        }
    }

    func run() throws {
        do {
            var notes = ImportNotes()
            let inFormat = try ModelFormat.detect(input)
            let model = try ModelLoader.load(input, options: importOptions.options, notes: &notes)
            var opts = WriteOptions(encoding: encoding.flatMap(Encoding.init(rawValue:)), level: level,
                                    strategy: DeflateStrategy(rawValue: strategy) ?? .huffmanOnly)
            if opts.encoding == nil && (inFormat == .onnx || inFormat == .safetensors) {
                opts.encoding = .defaultForImports
                opts.rawWhenNotSmaller = true
            }
            try ModelLoader.save(model, to: output, writeOptions: opts)
            printNotes(notes)
        } catch {
            throw fail(error)
        }
    }
}
