import Foundation
internal import LSTMCodec
import LSTMCore

/// One golden case run at one precision.
package struct CaseResult: Sendable {
    package enum Status: String, Sendable { case pass, fail, error }
    package var name: String
    package var golden: String
    package var model: String
    package var precision: Precision
    package var reference: String?
    package var status: Status
    package var error: String?
    package var outputs: [OutputComparison]
    package var seconds: Double
    /// What in the case's golden.json was not understood (``GoldenCase/warnings``).
    package var warnings: [String] = []

    /// The result of a case whose golden.json could not be read (status `error`).
    package static func unreadable(golden file: String, error: Error, precision: Precision) -> CaseResult {
        let dir = AtomicFile.directoryOf(file)
        let name = dir.split(separator: "/").last.map(String.init) ?? file
        return CaseResult(name: name, golden: file, model: "", precision: precision, reference: nil, status: .error,
                          error: (error as? LSTMError)?.description ?? "\(error)", outputs: [], seconds: 0)
    }
}

/// Tolerances a user forces on every comparison.
package struct ToleranceOverride: Sendable {
    package var atol: Double?
    package var rtol: Double?
    package init(atol: Double? = nil, rtol: Double? = nil) {
        self.atol = atol
        self.rtol = rtol
    }
}

package enum Verifier {
    /// Default tolerances when neither the golden nor the user gives one: tight for an f64 run
    /// against float64 goldens, float32-level otherwise (docs/VERIFY.md).
    package static func defaultTolerance(precision: Precision, goldenIsFloat64: Bool) -> (atol: Double, rtol: Double) {
        precision == .f64 && goldenIsFloat64 ? (1e-9, 1e-9) : (1e-5, 1e-4)
    }

    /// Runs `golden` at `precision`; `modelPath` overrides the golden's own model.
    package static func verify(_ golden: GoldenCase, precision: Precision, modelPath: String?,
                              tolerance: ToleranceOverride = ToleranceOverride(), limits: RunLimits = RunLimits()) -> CaseResult {
        let start = Date()
        let exp = golden.expected[precision]!
        let modelFile = modelPath ?? golden.model.map(golden.resolve) ?? ""
        var result = CaseResult(name: golden.name, golden: golden.file, model: modelFile, precision: precision,
                                reference: exp.reference, status: .error, error: nil, outputs: [], seconds: 0,
                                warnings: golden.warnings)
        defer { }
        do {
            guard !modelFile.isEmpty else { throw LSTMError(.invalidInput, "\(golden.file): no model given") }
            // Loading checks the file's integrity (every CRC, every shape).
            let model = try ModelFormats.read(modelFile, options: golden.importOptions).model
            var input = try RunIO.readInput(golden.resolve(golden.inputs["input"]!), model: model, batchFirst: golden.batchFirst)
            if let h = golden.inputs["initial_h"] {
                input.initialH = try RunIO.readStates(golden.resolve(h), model: model, batch: input.batch, cell: false)
            }
            if let c = golden.inputs["initial_c"] {
                input.initialC = try RunIO.readStates(golden.resolve(c), model: model, batch: input.batch, cell: true)
            }
            if let l = golden.inputs["sequence_lengths"] {
                input.lengths = try RunIO.readLengths(golden.resolve(l), batch: input.batch, steps: input.steps)
            }
            var out = try Evaluator(model: model, precision: precision, limits: limits).run(input)
            let masked = golden.maskedOutput ?? MaskedOutput.recorded(in: model) ?? .zero
            masked.apply(to: &out.y, steps: input.steps, batch: input.batch, width: model.outputSize, lengths: input.lengths)
            let uniform = Set(model.layers.map(\.spec.outputSize)).count == 1
            for key in ["y", "hn", "cn"] {
                guard let file = exp.outputs[key] else { continue }
                let path = golden.resolve(file)
                let want = try readExpected(path, model: model, batch: input.batch, cell: key == "cn")
                let got: NpyArray
                let axes: [String]
                let timeAxis: Int?
                switch key {
                case "y":
                    got = RunIO.outputArray(out, input: input, model: model, precision: precision, batchFirst: golden.batchFirst)
                    axes = golden.batchFirst ? ["batch", "step", "unit"] : ["step", "batch", "unit"]
                    timeAxis = golden.batchFirst ? 1 : 0
                case "hn":
                    got = stackStates(out.finalH, model: model, batch: input.batch, cell: false, uniform: uniform)
                    axes = ["layer·direction", "batch", "unit"]
                    timeAxis = nil
                default:
                    guard let c = out.finalC else { throw LSTMError(.invalidInput, "\(golden.file): cn given but the model has no LSTM layer") }
                    got = stackStates(c, model: model, batch: input.batch, cell: true, uniform: uniform)
                    axes = ["layer·direction", "batch", "unit"]
                    timeAxis = nil
                }
                let def = defaultTolerance(precision: precision, goldenIsFloat64: want.kind == .float64)
                let atol = tolerance.atol ?? exp.atol ?? def.atol
                let rtol = tolerance.rtol ?? exp.rtol ?? def.rtol
                result.outputs.append(OutputComparison(name: key, got: got.values, gotShape: got.shape, want: want.values,
                                                       wantShape: want.shape, axes: axes, timeAxis: timeAxis, atol: atol, rtol: rtol))
            }
            guard !result.outputs.isEmpty else { throw LSTMError(.invalidInput, "\(golden.file): no expected outputs for \(precision.rawValue)") }
            result.status = result.outputs.allSatisfy(\.passed) ? .pass : .fail
        } catch let e as LSTMError {
            result.error = e.description
        } catch {
            result.error = "\(error)"
        }
        result.seconds = Date().timeIntervalSince(start)
        return result
    }

    /// States of every layer as one [L·D, B, W] array when the widths are equal, else all layers
    /// flattened into one vector (the golden's .npz is flattened the same way).
    static func stackStates(_ s: [[Double]], model: Model, batch: Int, cell: Bool, uniform: Bool) -> NpyArray {
        let dirs = model.layers.map { $0.spec.direction.count }.reduce(0, +)
        let widths = model.layers.map { cell ? $0.spec.hiddenSize : $0.spec.outputSize }
        let flat = s.flatMap { $0 }
        if Set(widths).count == 1 && flat.count == dirs * batch * widths[0] {
            return NpyArray(kind: .float64, shape: [dirs, batch, widths[0]], values: flat)
        }
        return NpyArray(kind: .float64, shape: [flat.count], values: flat)
    }

    /// A golden state file: .npy as it is, or .npz (layer0, layer1, …) flattened in layer order.
    static func readExpected(_ path: String, model: Model, batch: Int, cell: Bool) throws -> NpyArray {
        guard path.lowercased().hasSuffix(".npz") else { return try RunIO.readArray(path) }
        let layers = try RunIO.readStates(path, model: model, batch: batch, cell: cell)
        let kind = try Npz.decode(try readWholeFileBytes(path), name: path).first?.1.kind ?? .float64
        let flat = layers.flatMap { $0 }
        return NpyArray(kind: kind, shape: [flat.count], values: flat)
    }
}

/// The results of a `verify` run and their text and JSON forms.
package struct VerifyReport: Sendable {
    package var results: [CaseResult]
    package init(results: [CaseResult]) { self.results = results }

    package var passed: Int { results.filter { $0.status == .pass }.count }
    package var failed: Int { results.filter { $0.status == .fail }.count }
    package var errors: Int { results.filter { $0.status == .error }.count }

    /// 0 all passed, 2 some output out of tolerance, 1 something could not be read or run.
    package var exitCode: Int32 { errors > 0 ? 1 : failed > 0 ? 2 : 0 }

    package func text(verbose: Bool) -> String {
        var lines: [String] = []
        for r in results {
            let head = "\(r.status.rawValue.uppercased()) \(safe(r.name)) [\(r.precision.rawValue)]"
            if let e = r.error {
                lines.append("\(head): \(safe(e))")
                continue
            }
            let worst = r.outputs.map { $0.shapeMismatch != nil ? "\($0.name) wrong shape" : "\($0.name) \(sci($0.maxAbsError))" }
                .joined(separator: ", ")
            lines.append("\(head) max|err| \(worst)" + (r.reference.map { "  (vs \(safe($0)))" } ?? ""))
            for o in r.outputs where !o.passed || verbose {
                if let s = o.shapeMismatch {
                    lines.append("    \(o.name): \(s)")
                    continue
                }
                var l = "    \(o.name): max abs \(sci(o.maxAbsError)), max rel \(sci(o.maxRelError)), mean abs \(sci(o.meanAbsError)); "
                    + "atol \(sci(o.atol)) rtol \(sci(o.rtol)): \(o.failingElements) element(s) out of tolerance"
                if o.nonFiniteMismatches > 0 { l += ", \(o.nonFiniteMismatches) NaN/Inf mismatch(es)" }
                lines.append(l)
                lines.append("      worst at \(o.location): got \(digits9(o.worstGot)), golden \(digits9(o.worstWant)); passes with atol ≥ \(sci(o.atolNeeded))")
                if let steps = o.perStepMaxAbs, !steps.isEmpty {
                    if let f = o.firstFailingStep { lines.append("      first step out of tolerance: \(f)") }
                    lines.append("      max abs error per step: " + stepProfile(steps))
                }
                if let perLayer = o.perLayerDirectionMaxAbs {
                    lines.append("      max abs error per layer·direction: "
                                 + perLayer.enumerated().map { "\($0)=\(sci($1))" }.joined(separator: " "))
                }
            }
        }
        lines.append("verify: \(passed) passed, \(failed + errors) failed" + (errors > 0 ? " (\(errors) could not run)" : ""))
        return lines.joined(separator: "\n") + "\n"
    }

    /// At most 12 steps, evenly spread, so long sequences stay on one line.
    func stepProfile(_ s: [Double]) -> String {
        let idx = s.count <= 12 ? Array(s.indices) : (0..<12).map { $0 * (s.count - 1) / 11 }
        return idx.map { "t\($0)=\(sci(s[$0]))" }.joined(separator: " ")
    }

    package func json() -> String {
        let cases: [JSONValue] = results.map { r in
            var f: [(String, JSONValue)] = [
                ("name", .string(r.name)), ("golden", .string(r.golden)), ("model", .string(r.model)),
                ("precision", .string(r.precision.rawValue)), ("reference", .optionalString(r.reference)),
                ("status", .string(r.status.rawValue)), ("error", .optionalString(r.error)), ("seconds", .double(r.seconds)),
            ]
            f.append(("outputs", .array(r.outputs.map { o in
                .object([
                    ("name", .string(o.name)), ("shape", .array(o.shape.map { .int($0) })), ("passed", .bool(o.passed)),
                    ("shape_mismatch", .optionalString(o.shapeMismatch)),
                    ("atol", .double(o.atol)), ("rtol", .double(o.rtol)),
                    ("max_abs_error", .double(o.maxAbsError)), ("mean_abs_error", .double(o.meanAbsError)),
                    ("max_rel_error", .double(o.maxRelError)), ("failing_elements", .int(o.failingElements)),
                    ("nonfinite_mismatches", .int(o.nonFiniteMismatches)),
                    ("worst", .object([("index", .array(o.worstIndex.map { .int($0) })), ("axes", .array(o.axes.map { .string($0) })),
                                       ("got", .double(o.worstGot)), ("golden", .double(o.worstWant))])),
                    ("atol_needed", .double(o.atolNeeded)),
                    ("first_failing_step", .optionalInt(o.firstFailingStep)),
                    ("max_abs_error_per_step", o.perStepMaxAbs.map { .array($0.map { .double($0) }) } ?? .null),
                    ("max_abs_error_per_layer_direction", o.perLayerDirectionMaxAbs.map { .array($0.map { .double($0) }) } ?? .null),
                ])
            })))
            f.append(("warnings", .array(r.warnings.map { .string($0) })))
            return .object(f)
        }
        return JSONValue.object([("verify_schema_version", .int(1)), ("passed", .int(passed)), ("failed", .int(failed)),
                                 ("errors", .int(errors)), ("cases", .array(cases))]).render() + "\n"
    }
}

/// Enough digits to tell two float32 values apart.
func digits9(_ v: Double) -> String { v.isNaN ? "nan" : String(format: "%.9g", v) }

func sci(_ v: Double) -> String { v.isNaN ? "nan" : String(format: "%.3g", v) }
