import ArgumentParser
import Foundation
import LSTMKit

struct ConvertCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "convert",
        abstract: "Convert a model between formats (\(readableFormats) in; \(writableFormats) out).",
        discussion: """
            The input's format is told by its content, then by its extension; the output's by \
            its extension. The output is written atomically: on any error the output path is \
            left as it was. Conversions record their source in the model's metadata, and an \
            import records the time of the conversion in `created`: --created, else \
            SOURCE_DATE_EPOCH, else now. With either set, two conversions of the same input \
            give the same bytes.

            The layout the source used (ONNX layout, Keras: batch-major) is recorded in the \
            metadata property `layout`; a PyTorch state dict cannot say, so give --layout \
            batch_major for a module built with batch_first=True. `run` then warns when it is \
            run the other way round.

            Environment:
              SOURCE_DATE_EPOCH   seconds since 1970: the `created` time recorded (and
                                  Keras's date_saved), for reproducible files

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
              lstmtool convert model.pt m.lstm --layout batch_major  # batch_first=True
              SOURCE_DATE_EPOCH=0 lstmtool convert model.onnx model.lstm   # reproducible
              lstmtool convert model.onnx model.lstm --created none
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

    @Option(help: "The conversion time to record in `created`: an RFC 3339 UTC time (2026-01-02T03:04:05Z), or none to record no time (default: SOURCE_DATE_EPOCH, else now; a .lstm or .json input keeps its own).")
    var created: String?

    @Option(help: "Record the input layout the source used: batch_major (X [B, T, I], PyTorch batch_first=True, Keras) or time_major (X [T, B, I]); none removes it. Default: what the source says, if anything.")
    var layout: LayoutChoice?

    @OptionGroup var importOptions: ImportFlags

    @OptionGroup var messages: OutputFlags

    func validate() throws {
        guard (0...9).contains(level) else { throw ValidationError("--level must be 0...9") }
        guard (1...1 << 20).contains(batchSize) else { throw ValidationError("--batch-size must be 1...1048576") }
        if let c = created, c != "none", ISO8601DateFormatter().date(from: c) == nil {
            throw ValidationError("--created must be an RFC 3339 time such as 2026-01-02T03:04:05Z, or none")
        }
        guard (try? ModelFormats.exporter(for: output)) != nil else {
            let ext = URL(fileURLWithPath: output).pathExtension.lowercased()
            if let reader = ModelFormats.importers.first(where: { $0.extensions.contains(ext) }) {
                throw ValidationError("lstmtool reads .\(ext) (\(reader.displayName)) but does not write it; the output must end in \(writableFormats)")
            }
            throw ValidationError("the output must end in \(writableFormats)")
        }
    }

    func run() throws {
        do {
            if let v = ProcessInfo.processInfo.environment["SOURCE_DATE_EPOCH"], created == nil, ConvertSupport.parseSourceDateEpoch(v) == nil {
                throw LSTMError(.invalidInput, "SOURCE_DATE_EPOCH is \"\(v)\", expected a whole number of seconds since 1970-01-01 UTC")
            }
            let importer = try ModelFormats.importer(for: input)
            // Progress on a terminal for inputs large enough to take a while.
            let size = (try? FileManager.default.attributesOfItem(atPath: input)[.size] as? Int) ?? 0
            let progress = Progress(enabled: !messages.quiet && size >= 64 << 20)
            defer { progress.finish() }
            progress.show("reading \(input) (\(size >> 20) MiB)…")
            var importOpts = importOptions.options
            if let c = created {
                importOpts.creationTime = c == "none" ? nil : c
                importOpts.stampsCreationTime = c != "none"
            }
            var result = try importer.importModel(at: input, options: importOpts)
            if let c = created { result.model.metadata.created = c == "none" ? nil : c }
            if let l = layout { result.model = RecordedLayout.setting(l.recorded, in: result.model) }
            var opts = WriteOptions(encoding: encoding, level: level, strategy: strategy)
            opts.batchFirst = batchFirst
            opts.batchSize = batchSize
            if opts.encoding == nil && !importer.keepsTensorEncodings {
                opts.encoding = .defaultForImports
                opts.rawWhenNotSmaller = true
            }
            progress.show("writing \(output)…")
            if progress.enabled {
                opts.progress = { done, total in progress.fraction(done, of: total, "writing \(output)") }
            }
            try ModelFormats.write(result.model, to: output, options: opts)
            progress.finish()
            if !messages.quiet { printNotes(result.notes) }
        } catch {
            throw fail(error)
        }
    }
}

/// `convert --layout`: the layout to record, or none to remove it.
enum LayoutChoice: String, CaseIterable, ExpressibleByArgument {
    case batchMajor = "batch_major", timeMajor = "time_major", none

    var recorded: RecordedLayout? { RecordedLayout(rawValue: rawValue) }
}
