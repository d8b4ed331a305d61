import ArgumentParser
import Foundation
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

            golden.json keys that verify does not know (and that are not provenance keys such \
            as "provenance", "generator", "seed", "versions") are ignored with a warning that \
            names the closest known key.

            Making a golden case: --make-golden DIR copies the model (--model, or <target>) \
            and the inputs into DIR and writes golden.json. With --expected-y, --expected-hn \
            and --expected-cn (outputs of an independent implementation; say which with \
            --reference) those are the expectation; without them lstmtool's own f64 outputs \
            are recorded, and `reference` says so: a regression baseline, not a proof. The new \
            case is then verified.

            Environment:
              LSTMTOOL_THREADS, LSTMTOOL_MAX_MEMORY_MIB, LSTMTOOL_KERNEL, LSTMTOOL_SPIN_US: as for `run`
            A golden.json may be at most 16 MiB.

            Examples:
              lstmtool verify fixtures                 # every golden case below it
              lstmtool verify model.lstm --golden fixtures/golden/lstm
              lstmtool verify fixtures --precision f64 --json
              lstmtool verify fixtures --plot plots    # one SVG per case and output
              lstmtool verify --make-golden cases/enc --model enc.lstm --input x.npy \\
                  --expected-y y_torch.npy --expected-hn hn_torch.npy \\
                  --reference "PyTorch 2.5, float32"
              lstmtool verify --make-golden cases/base --model enc.lstm --input x.npy
            """)

    @Argument(help: "A model (with --golden or --make-golden), or a folder searched for golden.json files.")
    var target: String?

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

    @OptionGroup(title: "Making a golden case") var make: MakeGoldenOptions

    @OptionGroup var messages: OutputFlags

    func validate() throws {
        if let a = atol, !(a >= 0) { throw ValidationError("--atol must be >= 0") }
        if let r = rtol, !(r >= 0) { throw ValidationError("--rtol must be >= 0") }
        if make.makeGolden != nil {
            guard golden == nil else { throw ValidationError("--make-golden and --golden do not go together") }
            guard make.model != nil || target != nil else { throw ValidationError("--make-golden needs the model: --model M") }
            guard make.model == nil || target == nil else { throw ValidationError("give the model once: --model M or <target>") }
            guard make.input != nil else { throw ValidationError("--make-golden needs the input: --input X.npy") }
        } else {
            guard target != nil else { throw ValidationError("missing <target>: a model with --golden, or a folder of golden cases") }
            let makeOnly: [(String, Bool)] = [("--model", make.model != nil), ("--input", make.input != nil),
                                              ("--initial-h", make.initialH != nil), ("--initial-c", make.initialC != nil),
                                              ("--sequence-lengths", make.sequenceLengths != nil), ("--batch-first", make.batchFirst),
                                              ("--expected-y", make.expectedY != nil), ("--expected-hn", make.expectedHn != nil),
                                              ("--expected-cn", make.expectedCn != nil), ("--reference", make.reference != nil),
                                              ("--masked-output", make.maskedOutput != nil), ("--name", make.name != nil)]
            if let used = makeOnly.first(where: \.1) { throw ValidationError("\(used.0) is an option of --make-golden") }
            let o = make.importOptions.options
            if o.cell != nil || o.nonlinearity != nil || o.prefix != nil || o.node != nil || o.layer != nil || o.config != nil {
                throw ValidationError("import options belong in golden.json's import_options (on the command line they are options of --make-golden)")
            }
        }
    }

    func run() throws {
        if let dir = make.makeGolden {
            try makeGolden(dir)
            return
        }
        let target = self.target!
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
                let progress = Progress(enabled: !messages.quiet && files.count > 1)
                defer { progress.finish() }
                for (k, file) in files.enumerated() {
                    progress.show("[\(k + 1)/\(files.count)] \(file)")
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
        if !messages.quiet {
            var seen = Set<String>()
            for r in results where seen.insert(r.golden).inserted { r.warnings.forEach(printWarning) }
        }
        let report = VerifyReport(results: results)
        print(json ? report.json() : report.text(verbose: verbose), terminator: "")
        if report.exitCode != 0 { throw ExitCode(report.exitCode) }
    }

    /// `--make-golden DIR`: write the case, then verify it.
    func makeGolden(_ dir: String) throws {
        let notes: [String]
        var request = GoldenRequest(directory: dir, model: make.model ?? target!, input: make.input!)
        request.importOptions = make.importOptions.options
        request.initialH = make.initialH
        request.initialC = make.initialC
        request.sequenceLengths = make.sequenceLengths
        request.batchFirst = make.batchFirst
        request.maskedOutput = make.maskedOutput
        request.reference = make.reference
        request.name = make.name
        for (k, v) in [("y", make.expectedY), ("hn", make.expectedHn), ("cn", make.expectedCn)] { if let v { request.expected[k] = v } }
        var results: [CaseResult] = []
        do {
            notes = try GoldenWriter.write(request, limits: limitsFromEnvironment())
            let g = try GoldenCase(path: dir)
            for p in Precision.allCases where g.expected[p] != nil && precision.includes(p) {
                results.append(Verifier.verify(g, precision: p, modelPath: nil, tolerance: ToleranceOverride(atol: atol, rtol: rtol),
                                               limits: limitsFromEnvironment()))
            }
        } catch {
            throw fail(error)
        }
        let report = VerifyReport(results: results)
        print("wrote \(dir)/golden.json")
        print(json ? report.json() : report.text(verbose: verbose), terminator: "")
        if !messages.quiet { printNotes(notes) }
        if report.exitCode != 0 { throw ExitCode(report.exitCode) }
    }
}

/// The options of `verify --make-golden`.
struct MakeGoldenOptions: ParsableArguments {
    @Option(name: .customLong("make-golden"), help: ArgumentHelp("Write a new golden case into this folder (see the discussion), then verify it.", valueName: "dir"))
    var makeGolden: String?

    @Option(help: "The model of the new case (or give it as <target>).")
    var model: String?

    @Option(help: "Input sequence X of the new case (.npy).")
    var input: String?

    @Option(name: .customLong("initial-h"), help: "Initial hidden state of the new case (.npy or .npz).")
    var initialH: String?

    @Option(name: .customLong("initial-c"), help: "Initial cell state of the new case (.npy or .npz).")
    var initialC: String?

    @Option(name: .customLong("sequence-lengths"), help: "Sequence lengths of the new case (.npy, int32 or int64).")
    var sequenceLengths: String?

    @Flag(name: .customLong("batch-first"), help: "X and the expected y are [B, T, …].")
    var batchFirst = false

    @Option(name: .customLong("masked-output"), help: "What the expected y holds past each sequence's length: zero or hold.")
    var maskedOutput: MaskedOutput?

    @Option(name: .customLong("expected-y"), help: "Expected y from an independent implementation (.npy).")
    var expectedY: String?

    @Option(name: .customLong("expected-hn"), help: "Expected final h (.npy).")
    var expectedHn: String?

    @Option(name: .customLong("expected-cn"), help: "Expected final c (.npy).")
    var expectedCn: String?

    @Option(help: "What produced the expected outputs, e.g. \"PyTorch 2.5, float32\".")
    var reference: String?

    @Option(help: "The case's name (default: the folder's name).")
    var name: String?

    @OptionGroup var importOptions: ImportFlags
}

/// Which precisions `verify` runs.
enum PrecisionChoice: String, CaseIterable, ExpressibleByArgument {
    case f32, f64, all

    func includes(_ p: Precision) -> Bool { self == .all || rawValue == p.rawValue }
}
