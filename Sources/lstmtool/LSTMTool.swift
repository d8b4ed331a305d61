import ArgumentParser
import Foundation
import LSTMKit

@main
struct LSTMTool: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lstmtool",
        abstract: "Inspect, convert, run, verify, compare, draw and analyze recurrent neural network models (RNN, LSTM, GRU).",
        discussion: """
            Models are stored in the .lstm format (docs/FORMAT.md); every command reads \
            \(readableFormats) (told by content first, then by extension) and convert \
            writes \(writableFormats). Nothing in a model file is ever executed.

            The f32 kernels are chosen when the program starts from what the CPU has \
            (LSTMTOOL_KERNEL=portable|avx2|avx512 forces one); settings: docs/CLI.md.

            Exit codes: 0 success, 1 invalid input or failure (one line on stderr), \
            2 verification mismatch (verify), 64 usage error.
            """,
        version: LSTMKitVersion.string,
        subcommands: [InspectCommand.self, ConvertCommand.self, RunCommand.self, VerifyCommand.self,
                      DiffCommand.self, DrawCommand.self, AnalyzeCommand.self])

    /// Runs as an HDF5 worker when re-executed for one (docs/SECURITY.md, "HDF5"); otherwise
    /// reads HDF5 through such workers and parses the command line.
    static func main() {
        let args = CommandLine.arguments
        if args.count > 1 && args[1] == HDF5Reading.workerArgument {
            HDF5Reading.runWorker(arguments: Array(args.dropFirst(2)))
        }
        let env = ProcessInfo.processInfo.environment
        if env["LSTMTOOL_HDF5_IN_PROCESS"] != "1" {
            let timeout = env["LSTMTOOL_HDF5_TIMEOUT"].flatMap { Int($0) }.flatMap { $0 > 0 && $0 < 1 << 20 ? $0 : nil }
            let memory = env["LSTMTOOL_HDF5_MEMORY_MIB"].flatMap { Int($0) }.flatMap { $0 > 0 && $0 < 1 << 30 ? $0 : nil }
            #if os(Linux)
            let me = "/proc/self/exe"
            #else
            let me = CommandLine.arguments[0]
            #endif
            HDF5Reading.useWorkerProcesses(executable: me, timeoutSeconds: timeout.map(Double.init), memoryMiB: memory)
        }
        main(nil)
    }
}

/// Prints one line on stderr and exits 1: what went wrong and where.
func fail(_ error: Error) -> ExitCode {
    let message = (error as? LSTMError)?.description ?? "\(error)"
    let oneLine = escapingControlCharacters(message.split(whereSeparator: \.isNewline).joined(separator: " "))
    FileHandleStderr.write("error: \(oneLine)\n")
    return ExitCode(1)
}

/// What an import left out or assumed, printed on stderr only once the command has succeeded:
/// a failing command prints exactly one line.
func printNotes(_ notes: [String]) {
    for n in notes { FileHandleStderr.write("note: \(escapingControlCharacters(n))\n") }
}

/// One warning line on stderr (`warning: …`).
func printWarning(_ w: String) {
    FileHandleStderr.write("warning: \(escapingControlCharacters(w))\n")
}

enum FileHandleStderr {
    static func write(_ s: String) {
        FileHandle.standardError.write(Data(s.utf8))
    }
}

/// Run limits from the environment: LSTMTOOL_THREADS (threads of the f32 path) and
/// LSTMTOOL_MAX_MEMORY_MIB (working memory of one run).
func limitsFromEnvironment() -> RunLimits {
    let env = ProcessInfo.processInfo.environment
    var limits = RunLimits()
    if let v = env["LSTMTOOL_THREADS"], let n = Int(v), n >= 1 { limits.threads = n }
    if let v = env["LSTMTOOL_MAX_MEMORY_MIB"], let mib = Int(v), mib > 0, mib < Int.max >> 20 { limits.maxWorkingBytes = mib << 20 }
    return limits
}
