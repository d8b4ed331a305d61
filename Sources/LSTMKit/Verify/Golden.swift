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

    package static let fileName = "golden.json"

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
