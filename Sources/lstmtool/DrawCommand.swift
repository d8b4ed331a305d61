import ArgumentParser
import Foundation
import LSTMKit

/// The one place where `draw` and `analyze` read a model (to be swapped for the format registry).
func loadModelForPictures(_ path: String, _ flags: ImportFlags, notes: inout [String]) throws -> Model {
    let result = try ModelFormats.read(path, options: flags.options)
    notes = result.notes
    return result.model
}

struct DrawCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "draw",
        abstract: "Draw a model: its stack of layers and each distinct cell, as an SVG file.",
        discussion: """
            The picture shows the stack (layers bottom to top, directions, widths, learned \
            initial states) and, for each distinct layer, its cell drawn the way LSTMs are \
            usually taught: the cell-state line along the top with its × (forget) and + (write) \
            junctions, σ and tanh boxes for gates and candidate, pointwise operations in circles. \
            Peepholes (dashed) are drawn only for the gates that have them; a coupled gate is \
            drawn as 1 − f; a GRU's reset gate sits before W_hn (reset-before) or after it \
            (reset-after); projections, clips and non-default activations are labelled. The SVG \
            is self-contained (generic fonts, no scripts) and the same model always gives the \
            same bytes (docs/ANALYZE.md).

            Examples:
              lstmtool draw model.lstm -o model.svg
              lstmtool draw fixtures/models/lstm_peephole_subset.lstm -o peep.svg
              lstmtool draw model.onnx -o model.svg && rsvg-convert model.svg -o model.png
            """)

    @Argument(help: "The model (\(readableFormats)).")
    var model: String

    @Option(name: .shortAndLong, help: "Where to write the SVG.")
    var output: String

    @OptionGroup var importOptions: ImportFlags

    @OptionGroup var messages: OutputFlags

    func run() throws {
        do {
            var notes: [String] = []
            let m = try loadModelForPictures(model, importOptions, notes: &notes)
            let title = URL(fileURLWithPath: model).deletingPathExtension().lastPathComponent
            try AtomicFileWrite.bytes(Array(ModelDiagram.svg(m, title: title).utf8), to: output)
            if !messages.quiet { printNotes(notes) }
        } catch {
            throw fail(error)
        }
    }
}

/// `verify --plot DIR`: one SVG per case and output, every precision on the same plot.
enum VerifyPlots {
    static func write(_ results: [CaseResult], to dir: String) throws {
        do {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        } catch {
            throw LSTMError(.io, "\(dir): cannot create the plot folder (\(error.localizedDescription))")
        }
        var order: [String] = []
        var byCase: [String: [CaseResult]] = [:]
        for r in results where r.error == nil || !r.outputs.isEmpty {
            if byCase[r.golden] == nil { order.append(r.golden) }
            byCase[r.golden, default: []].append(r)
        }
        var used = Set<String>()
        for golden in order {
            let runs = byCase[golden]!
            let name = runs[0].name
            var base = String(name.unicodeScalars.map { ch -> Character in
                let ok = (ch >= "a" && ch <= "z") || (ch >= "A" && ch <= "Z") || (ch >= "0" && ch <= "9") || ch == "-" || ch == "_" || ch == "."
                return ok ? Character(ch) : "_"
            }.prefix(100))
            if base.isEmpty || base.hasPrefix(".") { base = "case" + base }
            var unique = base
            var k = 2
            while used.contains(unique) { unique = "\(base)_\(k)"; k += 1 }
            used.insert(unique)
            var outputs: [String] = []
            for r in runs { for o in r.outputs where !outputs.contains(o.name) { outputs.append(o.name) } }
            for out in outputs {
                let series = runs.compactMap { r in r.outputs.first { $0.name == out }.map { (precision: r.precision.rawValue, comparison: $0) } }
                let svg = AnalysisPlots.errorPlotSVG(caseName: name, output: out, runs: series)
                try AtomicFileWrite.bytes(Array(svg.utf8), to: dir + "/" + unique + "_" + out + ".svg")
            }
        }
    }
}
