import Foundation
internal import LSTMCodec
import LSTMCore

/// What `verify --make-golden` is asked to write: a model, its inputs, and optionally the
/// outputs another implementation produced (docs/VERIFY.md §6).
package struct GoldenRequest: Sendable {
    package var directory: String
    package var model: String
    package var importOptions: ImportOptions = ImportOptions()
    package var input: String
    package var initialH: String?
    package var initialC: String?
    package var sequenceLengths: String?
    package var batchFirst = false
    package var maskedOutput: MaskedOutput?
    /// `y`, `hn`, `cn` → `.npy` files computed by an independent implementation.
    package var expected: [String: String] = [:]
    /// What produced `expected` (package and version).
    package var reference: String?
    package var name: String?
    package var description: String?

    package init(directory: String, model: String, input: String) {
        self.directory = directory
        self.model = model
        self.input = input
    }
}

/// Writes a complete golden case folder (docs/VERIFY.md §1) from a model and its inputs.
package enum GoldenWriter {
    /// The reference recorded when no expected outputs are given.
    package static var selfReference: String {
        "lstmtool \(LSTMKitVersion.string) f64 evaluator (recorded by verify --make-golden: a regression baseline, not an independent implementation)"
    }

    /// Copies the model and inputs into `request.directory` (created if needed; a folder
    /// that already holds a golden.json is refused), writes the expected outputs — the given
    /// files, or lstmtool's own f64 results — and golden.json. Returns notes for the user.
    package static func write(_ request: GoldenRequest, limits: RunLimits = RunLimits()) throws -> [String] {
        let dir = request.directory.hasSuffix("/") && request.directory.count > 1 ? String(request.directory.dropLast()) : request.directory
        let goldenFile = dir + "/" + GoldenCase.fileName
        guard !fileExists(goldenFile) else {
            throw LSTMError(.invalidInput, "\(goldenFile) already exists; choose a new folder (nothing was written)")
        }
        var notes: [String] = []
        var readOptions = request.importOptions
        readOptions.stampsCreationTime = false
        let model = try ModelFormats.read(request.model, options: readOptions).model
        // Read and check every input before anything is written.
        var input = try RunIO.readInput(request.input, model: model, batchFirst: request.batchFirst)
        if let h = request.initialH { input.initialH = try RunIO.readStates(h, model: model, batch: input.batch, cell: false) }
        if let c = request.initialC { input.initialC = try RunIO.readStates(c, model: model, batch: input.batch, cell: true) }
        if let l = request.sequenceLengths { input.lengths = try RunIO.readLengths(l, batch: input.batch, steps: input.steps) }
        for (k, path) in request.expected {
            guard ["y", "hn", "cn"].contains(k) else { throw LSTMError(.invalidInput, "expected output \"\(k)\" is not y, hn or cn") }
            _ = try RunIO.readArray(path)
        }

        do {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        } catch {
            throw LSTMError(.io, "\(dir): cannot create the folder (\(error.localizedDescription))")
        }
        var files: [(path: String, bytes: [UInt8])] = []
        func copy(_ source: String, as base: String) throws -> String {
            let ext = ModelFormats.fileExtension(source)
            let name = ext.isEmpty ? base : base + "." + ext
            files.append((dir + "/" + name, try readWholeFile(source)))
            return name
        }
        let modelName = try copy(request.model, as: "model")
        var inputs: [(String, JSONValue)] = [("input", .string(try copy(request.input, as: "x")))]
        if let h = request.initialH { inputs.append(("initial_h", .string(try copy(h, as: "h0")))) }
        if let c = request.initialC { inputs.append(("initial_c", .string(try copy(c, as: "c0")))) }
        if let l = request.sequenceLengths { inputs.append(("sequence_lengths", .string(try copy(l, as: "lens")))) }
        var importOptions: [(String, JSONValue)] = []
        let o = request.importOptions
        if let c = o.cell { importOptions.append(("cell", .string(c.rawValue))) }
        if let n = o.nonlinearity { importOptions.append(("nonlinearity", .string(n.rawValue))) }
        if let p = o.prefix { importOptions.append(("prefix", .string(p))) }
        if let n = o.node { importOptions.append(("node", .string(n))) }
        if let l = o.layer { importOptions.append(("layer", .string(l))) }
        if let c = o.config { importOptions.append(("config", .string(try copy(c, as: "config")))) }

        var expected: [(String, JSONValue)] = []
        var selfRecorded = false
        if request.expected.isEmpty {
            // lstmtool's own f64 outputs: a regression baseline, and said so.
            selfRecorded = true
            var out = try Evaluator(model: model, precision: .f64, limits: limits).run(input)
            let masked = request.maskedOutput ?? MaskedOutput.recorded(in: model) ?? .zero
            masked.apply(to: &out.y, steps: input.steps, batch: input.batch, width: model.outputSize, lengths: input.lengths)
            let uniform = Set(model.layers.map(\.spec.outputSize)).count == 1
            var outs: [(String, JSONValue)] = []
            files.append((dir + "/y.npy", Npy.encode(RunIO.outputArray(out, input: input, model: model, precision: .f64, batchFirst: request.batchFirst))))
            outs.append(("y", .string("y.npy")))
            files.append((dir + "/hn.npy", Npy.encode(Verifier.stackStates(out.finalH, model: model, batch: input.batch, cell: false, uniform: uniform))))
            outs.append(("hn", .string("hn.npy")))
            if let c = out.finalC {
                files.append((dir + "/cn.npy", Npy.encode(Verifier.stackStates(c, model: model, batch: input.batch, cell: true, uniform: uniform))))
                outs.append(("cn", .string("cn.npy")))
            }
            let reference = request.reference ?? selfReference
            expected.append(("f32", .object([("outputs", .object(outs)), ("reference", .string(reference))])))
            expected.append(("f64", .object([("outputs", .object(outs)), ("reference", .string(reference))])))
            notes.append("no expected outputs given: recorded lstmtool's own f64 outputs (reference: \"\(reference)\"); "
                         + "the case catches regressions, it does not prove correctness")
        } else {
            var outs: [(String, JSONValue)] = []
            var allFloat64 = true
            for k in ["y", "hn", "cn"] {
                guard let path = request.expected[k] else { continue }
                if try RunIO.readArray(path).kind != .float64 { allFloat64 = false }
                outs.append((k, .string(try copy(path, as: k))))
            }
            var entry: [(String, JSONValue)] = [("outputs", .object(outs))]
            if let r = request.reference { entry.append(("reference", .string(r))) }
            expected.append(("f32", .object(entry)))
            // An f64 expectation must come from a float64 implementation (docs/VERIFY.md §1).
            if allFloat64 { expected.append(("f64", .object(entry))) }
            if request.reference == nil { notes.append("no --reference given: say what produced the expected outputs (package and version)") }
        }

        var top: [(String, JSONValue)] = [
            ("name", .string(request.name ?? (dir.split(separator: "/").last.map(String.init) ?? "case"))),
        ]
        if let d = request.description { top.append(("description", .string(d))) }
        top.append(("model", .string(modelName)))
        top.append(("inputs", .object(inputs)))
        top.append(("batch_first", .bool(request.batchFirst)))
        if let m = request.maskedOutput { top.append(("masked_output", .string(m.rawValue))) }
        if !importOptions.isEmpty { top.append(("import_options", .object(importOptions))) }
        top.append(("provenance", .object([
            ("generator", .string("lstmtool \(LSTMKitVersion.string) verify --make-golden")),
            ("model_file", .string(ConvertSupport.fileName(request.model))),
            ("expected_outputs", .string(selfRecorded ? "lstmtool f64 (self-recorded)" : "given files")),
        ])))
        func goldenJSON(_ expected: [(String, JSONValue)]) -> [UInt8] {
            Array(JSONValue.object(top + [("expected", .object(expected))]).render().utf8) + [0x0A]
        }
        try AtomicFile.writeAll((files + [(goldenFile, goldenJSON(expected))]).map { (path: $0.path, chunks: [$0.bytes]) })

        if selfRecorded {
            // The f32 run must meet the default tolerances against the f64 outputs; a model
            // whose float32 run drifts further (a chaotic recurrence) keeps f64 only.
            let g = try GoldenCase(path: goldenFile)
            let r = Verifier.verify(g, precision: .f32, modelPath: nil, limits: limits)
            if r.status != .pass {
                let worst = r.outputs.map(\.maxAbsError).max() ?? .nan
                try AtomicFile.write(goldenFile, chunks: [goldenJSON(expected.filter { $0.0 == "f64" })])
                notes.append("an f32 run differs from the f64 outputs by up to \(sci(worst)), more than the default f32 tolerance: the case checks f64 only")
            }
        }
        return notes
    }
}
