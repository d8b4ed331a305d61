// libFuzzer entry point: every reader of untrusted bytes must answer with a value or an
// LSTMError, never a crash, a hang or an unbounded allocation. Build and run (tools/fuzz.sh):
//   swift build -c release --product lstmfuzz --sanitize=fuzzer --sanitize=address \
//       -Xswiftc -DLSTMTOOL_FUZZING --scratch-path .build-fuzz      (tools/fuzz.sh adds coverage flags)
//   LSTMFUZZ_READER=npy SWIFT_BACKTRACE=enable=no .build-fuzz/release/lstmfuzz -max_total_time=60 CORPUS/
// Two modes:
// - `LSTMFUZZ_READER=NAME`: one reader gets the whole input (one campaign per reader, so that
//   libFuzzer's execution count is that reader's own; what tools/fuzz.sh runs).
// - otherwise the first input byte picks the reader: every model format of the registry
//   (`ModelFormats.importers`, in order), then the .npy and .npz readers, the restricted
//   unpickler alone (a .pt's data.pkl) and golden.json; the rest is its input.
// `LSTMFUZZ_LIST=1 lstmfuzz` prints the readers with their selector bytes and exits.
import Foundation
import LSTMKit

/// Importers read files (ONNX may name external data beside the model), so their inputs go
/// through a file in memory-backed /dev/shm, named with the format's extension.
let scratch = "/dev/shm/lstmfuzz-\(getpid())"

/// Every reader: the registry's formats, then the array readers `run` and `verify` use.
// libFuzzer calls in on one thread; the table is built once and never changed.
nonisolated(unsafe) let readers: [(name: String, extensions: [String], read: ([UInt8]) -> Void)] =
    ModelFormats.importers.map { format -> (name: String, extensions: [String], read: ([UInt8]) -> Void) in
        (format.name, format.extensions, { bytes in importThroughFile(format, bytes) })
    } + [
        ("npy", ["npy"], { _ = try? Npy.decode($0, name: "fuzz.npy") }),
        ("npz", ["npz"], { _ = try? Npz.decode($0, name: "fuzz.npz") }),
        ("pickle", ["pkl"], { _ = try? TorchPickle.decode($0) }),
        ("golden", ["json"], { readGolden($0) }),
    ]

/// The reader `LSTMFUZZ_READER` names, when set (nil: the selector byte picks).
nonisolated(unsafe) var fixedReader: Int?

func importThroughFile(_ format: any ModelImporter, _ bytes: [UInt8]) {
    let path = scratch + "." + (format.extensions.first ?? format.name)
    guard FileManager.default.createFile(atPath: path, contents: Data(bytes)) else { return }
    _ = try? format.importModel(at: path, options: ImportOptions())
}

/// golden.json is read from a folder of its own (it names files relative to it).
func readGolden(_ bytes: [UInt8]) {
    let dir = scratch + "-golden"
    try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    guard FileManager.default.createFile(atPath: dir + "/golden.json", contents: Data(bytes)) else { return }
    _ = try? GoldenCase(path: dir)
}

@_cdecl("LLVMFuzzerInitialize")
public func initialize(_ argc: UnsafeMutablePointer<Int32>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>) -> Int32 {
    // Run as an HDF5 worker when re-executed for one (see below).
    if argc.pointee > 1, let a = argv.pointee?[1], String(cString: a) == HDF5Reading.workerArgument {
        let rest = (2..<Int(argc.pointee)).compactMap { argv.pointee?[$0].map { String(cString: $0) } }
        HDF5Reading.runWorker(arguments: rest)
    }
    // HDF5 is read as the command-line tool reads it: in a worker process with limits, since
    // libhdf5 itself hangs and crashes on some inputs (docs/SECURITY.md). The worker is kept
    // from one input to the next, and a hang costs 0.2 s instead of a fuzzer restart.
    // LSTMFUZZ_HDF5_IN_PROCESS=1 reads HDF5 in this process instead (to fuzz libhdf5's faults).
    if getenv("LSTMFUZZ_HDF5_IN_PROCESS") == nil {
        HDF5Reading.useWorkerProcesses(executable: "/proc/self/exe", timeoutSeconds: 0.2, reuse: true)
    }
    // getenv, not ProcessInfo: what Foundation caches here outlives the fork-mode parent's
    // leak check and would be reported as a leak.
    if getenv("LSTMFUZZ_LIST") != nil {
        for (i, r) in readers.enumerated() { print(i, r.name, r.extensions.joined(separator: ",")) }
        exit(0)
    }
    if let value = getenv("LSTMFUZZ_READER") {
        let name = String(cString: value)
        guard let i = readers.firstIndex(where: { $0.name == name }) else {
            FileHandle.standardError.write(Data("lstmfuzz: no reader named \(name) (LSTMFUZZ_LIST=1 lists them)\n".utf8))
            exit(64)
        }
        fixedReader = i
    }
    return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    if let i = fixedReader {
        readers[i].read(Array(UnsafeBufferPointer(start: data, count: size)))
        return 0
    }
    guard size > 0 else { return 0 }
    let bytes = Array(UnsafeBufferPointer(start: data + 1, count: size - 1))
    readers[Int(data[0]) % readers.count].read(bytes)
    return 0
}
