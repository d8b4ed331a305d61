internal import LSTMCodec

/// How LSTMKit reads HDF5 files (Keras `.h5`, and the weights inside `.keras`): in this
/// process by default, or in worker processes with memory and time limits, which is what the
/// command-line tool does (libhdf5 can hang or crash on crafted files; docs/SECURITY.md).
public enum HDF5Reading {
    /// The hidden first argument that makes an executable run as an HDF5 worker.
    public static var workerArgument: String { HDF5Isolation.workerArgument }

    /// Runs the worker loop (call it first thing when `workerArgument` is the first argument,
    /// passing the arguments after it); never returns.
    public static func runWorker(arguments: [String]) -> Never {
        HDF5Isolation.runWorker(arguments: arguments)
    }

    /// Reads every HDF5 file from now on in a worker process: `executable` run with
    /// `workerArgument` (and the limits). Call once at start-up, before any file is read.
    /// - Parameters:
    ///   - executable: a program whose `main` calls `runWorker` for `workerArgument`.
    ///   - timeoutSeconds: wall-clock (and, rounded up, CPU) limit per file (default 120).
    ///   - memoryMiB: the worker's fixed address-space allowance, to which eight times the
    ///     file's size is added (default 1024).
    ///   - reuse: keep a worker that read a file cleanly for the next file (for programs that
    ///     read many files, such as the fuzzer); a worker that failed is never reused.
    public static func useWorkerProcesses(executable: String, timeoutSeconds: Double? = nil, memoryMiB: Int? = nil,
                                          reuse: Bool = false) {
        HDF5Isolation.workerCommand = [executable, HDF5Isolation.workerArgument]
        if let s = timeoutSeconds { HDF5Isolation.timeoutSeconds = s }
        if let m = memoryMiB { HDF5Isolation.baseMemoryBytes = m << 20 }
        HDF5Isolation.reuseWorkers = reuse
    }

    /// Reads HDF5 in this process again (the default).
    public static func useThisProcess() {
        HDF5Isolation.workerCommand = nil
    }
}
