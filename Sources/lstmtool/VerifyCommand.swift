import ArgumentParser
import LSTMKit

struct VerifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Check models against golden outputs from an independent implementation.",
        discussion: """
            A golden case is a folder with a golden.json naming the model, the inputs and the \
            expected outputs for f32 and/or f64 runs (docs/VERIFY.md). verify loads the model \
            (checking every CRC and shape), runs it and compares every output element-wise: \
            |got - golden| <= atol + rtol·|golden|. It reports per output the max abs/rel error, \
            where it occurs (step, batch, unit), the first time step out of tolerance and the \
            error profile along the sequence; NaN/Inf mismatches fail on their own.

            Exit codes: 0 all passed, 2 an output is out of tolerance, 1 a case could not \
            run (a file missing, unreadable or invalid; wins over 2), 64 usage error. Every \
            case is run even after failures.

            Examples:
              lstmtool verify fixtures                 # every golden case below it
              lstmtool verify model.lstm --golden fixtures/golden/lstm
              lstmtool verify fixtures --precision f64 --json
              lstmtool verify fixtures --plot plots    # one SVG per case and output
            """)

    @Argument(help: "A model (with --golden), or a folder searched for golden.json files.")
    var target: String

    @Option(help: "A golden case (golden.json or its folder) to check the model <target> against.")
    var golden: String?

    @Option(help: "f32, f64, or all (every precision the golden has outputs for).")
    var precision: PrecisionChoice = .all

    @Option(help: "Absolute tolerance for every output (default: the golden's, else by precision).")
    var atol: Double?

    @Option(help: "Relative tolerance for every output (default: the golden's, else by precision).")
    var rtol: Double?

    @Flag(help: "Print a JSON report (docs/VERIFY.md).")
    var json = false

    @Flag(name: .shortAndLong, help: "Show the error details of passing outputs too.")
    var verbose = false

    @Option(help: "Write one SVG per case and output into this folder: the error along the sequence, f32 and f64 on one plot.")
    var plot: String?

    func validate() throws {
        if let a = atol, !(a >= 0) { throw ValidationError("--atol must be >= 0") }
        if let r = rtol, !(r >= 0) { throw ValidationError("--rtol must be >= 0") }
    }

    func run() throws {
        var results: [CaseResult] = []
        do {
            let tol = ToleranceOverride(atol: atol, rtol: rtol)
            func runCase(_ g: GoldenCase, _ modelPath: String?) {
                for p in Precision.allCases where g.expected[p] != nil && precision.includes(p) {
                    results.append(Verifier.verify(g, precision: p, modelPath: modelPath, tolerance: tol, limits: limitsFromEnvironment()))
                }
            }
            if let g = golden {
                runCase(try GoldenCase(path: g), target)
            } else if isDirectoryPath(target) {
                let files = try GoldenCase.discover(under: target)
                guard !files.isEmpty else { throw LSTMError(.invalidInput, "\(target): no \(GoldenCase.fileName) found below this folder") }
                // A golden.json that cannot be read is an error of its own case; the others still run.
                for file in files {
                    do {
                        runCase(try GoldenCase(path: file), nil)
                    } catch {
                        results.append(CaseResult.unreadable(golden: file, error: error, precision: precision == .f64 ? .f64 : .f32))
                    }
                }
            } else if !pathExists(target) {
                throw LSTMError(.io, "\(target): no such file or folder")
            } else {
                throw LSTMError(.invalidInput, "\(target): give a folder of golden cases, or a model with --golden")
            }
            guard !results.isEmpty else {
                throw LSTMError(.invalidInput, "\(golden ?? target): no golden case has \(precision.rawValue) expectations, nothing was checked")
            }
        } catch {
            throw fail(error)
        }
        if let dir = plot {
            do {
                try VerifyPlots.write(results, to: dir)
            } catch {
                throw fail(error)
            }
        }
        let report = VerifyReport(results: results)
        print(json ? report.json() : report.text(verbose: verbose), terminator: "")
        if report.exitCode != 0 { throw ExitCode(report.exitCode) }
    }
}

/// Which precisions `verify` runs.
enum PrecisionChoice: String, CaseIterable, ExpressibleByArgument {
    case f32, f64, all

    func includes(_ p: Precision) -> Bool { self == .all || rawValue == p.rawValue }
}
