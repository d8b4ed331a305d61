// libFuzzer entry point: every reader of untrusted bytes must answer with a value or an
// LSTMError, never a crash, a hang or an unbounded allocation. Build and run (tools/fuzz.sh):
//   swift build --product lstmfuzz --sanitize=fuzzer --sanitize=address \
//       -Xswiftc -DLSTMTOOL_FUZZING --scratch-path .build-fuzz
//   SWIFT_BACKTRACE=enable=no .build-fuzz/debug/lstmfuzz -max_total_time=60 -rss_limit_mb=4096 CORPUS/
// The first input byte picks the reader; the rest is its input.
import LSTMKit

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    guard size > 0 else { return 0 }
    let bytes = Array(UnsafeBufferPointer(start: data + 1, count: size - 1))
    switch data[0] % 4 {
    case 0:
        if let reader = try? ModelReader(bytes: bytes, name: "fuzz.lstm") {
            _ = try? reader.model()
        }
    case 1: _ = try? JSONForm.decode(bytes, path: "fuzz.json")
    case 2: _ = try? Npy.decode(bytes, name: "fuzz.npy")
    default: _ = try? Npz.decode(bytes, name: "fuzz.npz")
    }
    return 0
}
