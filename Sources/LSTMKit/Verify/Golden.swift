import Foundation
internal import LSTMCodec
import LSTMCore

/// A golden case: a model, its inputs and the outputs an independent implementation
/// computed, described by a `golden.json` (docs/VERIFY.md).
package struct GoldenCase: Sendable {
    package struct Expectation: Sendable {
        package var outputs: [String: String]  // y / hn / cn → file
        package var reference: String?
        package var atol: Double?
        package var rtol: Double?
    }

    package var name: String
    package var directory: String
    package var file: String
    package var model: String?
    package var inputs: [String: String]
    package var batchFirst: Bool
    package var expected: [Precision: Expectation]
    package var importOptions: ImportOptions
    /// What the expected `y` holds past each sequence's length (`masked_output`); nil: the
    /// model's own `keras.masking` property, else zeros.
    package var maskedOutput: MaskedOutput?

    /// What in golden.json was not understood (unknown keys, with the closest known key),
    /// one line each; the case still runs.
    package var warnings: [String] = []

    package static let fileName = "golden.json"
    /// The top-level keys `verify` reads (docs/VERIFY.md §1).
    package static let schemaKeys = ["name", "description", "model", "inputs", "batch_first", "expected", "import_options", "masked_output"]
    /// Top-level keys where generators record provenance; never warned about.
    package static let provenanceKeys = ["provenance", "generator", "seed", "versions", "cross_check", "onnx_model",
                                         "source_weights", "source", "notes", "comment", "created"]
    static let importOptionKeys = ["cell", "nonlinearity", "prefix", "node", "layer", "config"]
    static let expectationKeys = ["outputs", "reference", "atol", "rtol"]

    /// A warning about `key`, unknown in `scope`, naming the closest of `known`.
    static func unknownKeyWarning(_ key: String, scope: String, known: [String]) -> String {
        let norm = { (s: String) in s.lowercased().filter { $0 != "_" && $0 != "-" } }
        let ranked = known.map { ($0, editDistance(norm(key), norm($0))) }.sorted { $0.1 < $1.1 }
        var w = "unknown key \"\(safe(key))\"\(scope.isEmpty ? "" : " in \(scope)") is ignored"
        if let best = ranked.first, best.1 <= Swift.max(2, key.count / 3) { w += " (did you mean \"\(best.0)\"?)" }
        else { w += " (known: \(known.joined(separator: ", ")); provenance belongs under \"provenance\")" }
        return w
    }

    /// Levenshtein distance.
    static func editDistance(_ a: String, _ b: String) -> Int {
        let x = Array(a), y = Array(b)
        if x.isEmpty { return y.count }
        if y.isEmpty { return x.count }
        var prev = Array(0...y.count)
        for i in 1...x.count {
            var cur = [i] + [Int](repeating: 0, count: y.count)
            for j in 1...y.count {
                cur[j] = Swift.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (x[i - 1] == y[j - 1] ? 0 : 1))
            }
            prev = cur
        }
        return prev[y.count]
    }

    /// Reads `path` (a golden.json, or a folder holding one).
    package init(path: String) throws {
        let file = isDirectory(path) ? (path.hasSuffix("/") ? path : path + "/") + GoldenCase.fileName : path
        let any: Any
        do {
            any = try StrictJSON.parse(try readWholeFile(file, limit: 1 << 24)).foundationValue
        } catch let e as LSTMError {
            throw e
        } catch {
            throw LSTMError(.invalidInput, "\(file): not valid JSON (\(error))")
        }
        let r = JSONReader(path: file)
        let o = try r.object(any, "golden")
        self.file = file
        for k in o.keys.sorted() where !GoldenCase.schemaKeys.contains(k) && !GoldenCase.provenanceKeys.contains(k) {
            warnings.append("\(file): " + GoldenCase.unknownKeyWarning(k, scope: "", known: GoldenCase.schemaKeys))
        }
        directory = AtomicFile.directoryOf(file)
        name = try r.optionalString(o["name"], "name") ?? directory.split(separator: "/").last.map(String.init) ?? file
        model = try r.optionalString(o["model"], "model")
        inputs = [:]
        for (k, v) in try r.object(o["inputs"], "inputs") {
            guard ["input", "initial_h", "initial_c", "sequence_lengths"].contains(k) else { throw r.fail("inputs: unknown input \"\(k)\"") }
            inputs[k] = try r.string(v, "inputs.\(k)")
        }
        guard inputs["input"] != nil else { throw r.fail("inputs.input is required") }
        batchFirst = try r.optionalBool(o["batch_first"], "batch_first") ?? false
        expected = [:]
        for (k, v) in try r.object(o["expected"], "expected") {
            guard let p = Precision(rawValue: k) else { throw r.fail("expected: \"\(k)\" is not f32 or f64") }
            let eo = try r.object(v, "expected.\(k)")
            for key in eo.keys.sorted() where !GoldenCase.expectationKeys.contains(key) {
                warnings.append("\(file): " + GoldenCase.unknownKeyWarning(key, scope: "expected.\(k)", known: GoldenCase.expectationKeys))
            }
            var outs: [String: String] = [:]
            for (ok, ov) in try r.object(eo["outputs"], "expected.\(k).outputs") {
                guard ["y", "hn", "cn"].contains(ok) else { throw r.fail("expected.\(k).outputs: unknown output \"\(ok)\"") }
                outs[ok] = try r.string(ov, "expected.\(k).outputs.\(ok)")
            }
            expected[p] = Expectation(outputs: outs, reference: try r.optionalString(eo["reference"], "reference"),
                                      atol: try r.optionalDouble(eo["atol"], "atol"), rtol: try r.optionalDouble(eo["rtol"], "rtol"))
        }
        guard !expected.isEmpty else { throw r.fail("expected must name f32 and/or f64 outputs") }
        if let m = try r.optionalString(o["masked_output"], "masked_output") {
            guard let mode = MaskedOutput(rawValue: m) else { throw r.fail("masked_output \"\(safe(m))\" is not zero or hold") }
            maskedOutput = mode
        } else {
            maskedOutput = nil
        }
        var opts = ImportOptions()
        if let io = o["import_options"] {
            let oo = try r.object(io, "import_options")
            for key in oo.keys.sorted() where !GoldenCase.importOptionKeys.contains(key) {
                warnings.append("\(file): " + GoldenCase.unknownKeyWarning(key, scope: "import_options", known: GoldenCase.importOptionKeys))
            }
            if let c = try r.optionalString(oo["cell"], "import_options.cell") {
                guard let cell = CellFamily(rawValue: c) else { throw r.fail("import_options.cell \"\(safe(c))\" is not lstm, gru or rnn") }
                opts.cell = cell
            }
            if let n = try r.optionalString(oo["nonlinearity"], "import_options.nonlinearity") {
                guard n == "tanh" || n == "relu", let kind = ActivationKind(rawValue: n) else {
                    throw r.fail("import_options.nonlinearity \"\(safe(n))\" is not tanh or relu")
                }
                opts.nonlinearity = kind
            }
            opts.prefix = try r.optionalString(oo["prefix"], "prefix")
            opts.node = try r.optionalString(oo["node"], "node")
            opts.layer = try r.optionalString(oo["layer"], "layer")
            if let c = try r.optionalString(oo["config"], "config") { opts.config = c.hasPrefix("/") ? c : directory + "/" + c }
        }
        importOptions = opts
    }

    package func resolve(_ relative: String) -> String {
        relative.hasPrefix("/") ? relative : directory + "/" + relative
    }

    /// Every golden.json below `root`, sorted by path.
    package static func discover(under root: String) throws -> [String] {
        guard let e = FileManager.default.enumerator(atPath: root) else { throw LSTMError(.io, "\(root): cannot list the folder") }
        var found: [String] = []
        while let rel = e.nextObject() as? String {
            if rel.split(separator: "/").last == Substring(fileName) {
                found.append((root.hasSuffix("/") ? root : root + "/") + rel)
            }
        }
        return found.sorted()
    }
}
