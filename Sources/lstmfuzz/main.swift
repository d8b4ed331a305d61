// libFuzzer entry point: every reader of untrusted bytes must answer with a value or an
// LSTMError, never a crash, a hang or an unbounded allocation. Build and run (tools/fuzz.sh):
//   swift build --product lstmfuzz --sanitize=fuzzer --sanitize=address \
//       -Xswiftc -DLSTMTOOL_FUZZING --scratch-path .build-fuzz
//   SWIFT_BACKTRACE=enable=no .build-fuzz/debug/lstmfuzz -max_total_time=60 -rss_limit_mb=4096 CORPUS/
// The first input byte picks the reader (.lstm, .json, .npy, .npz, .safetensors, .onnx, .keras,
// Keras .h5);
// the rest is its input.
import Foundation
import LSTMKit

/// The ONNX, safetensors and Keras importers read files (ONNX may name external data beside the
/// model), so their inputs go through a file in memory-backed /dev/shm.
let scratch = "/dev/shm/lstmfuzz-\(getpid())"

func loadThroughFile(_ bytes: [UInt8], ext: String) {
    let path = scratch + ext
    guard FileManager.default.createFile(atPath: path, contents: Data(bytes)) else { return }
    _ = try? ModelFormats.read(path).model
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    guard size > 0 else { return 0 }
    let bytes = Array(UnsafeBufferPointer(start: data + 1, count: size - 1))
    switch data[0] % 8 {
    case 0:
        if let reader = try? ModelReader(bytes: bytes, name: "fuzz.lstm") {
            _ = try? reader.model()
        }
    case 1: _ = try? JSONForm.decode(bytes, path: "fuzz.json")
    case 2: _ = try? Npy.decode(bytes, name: "fuzz.npy")
    case 3: _ = try? Npz.decode(bytes, name: "fuzz.npz")
    case 4: loadThroughFile(bytes, ext: ".safetensors")
    case 5: loadThroughFile(bytes, ext: ".onnx")
    case 6: loadThroughFile(bytes, ext: ".keras")
    default: loadThroughFile(bytes, ext: ".h5")
    }
    return 0
}
