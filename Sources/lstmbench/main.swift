// Times lstmtool's evaluator on one model and input, for tools/bench_eval.py.
//   lstmbench MODEL X.npy [--precision f32|f64] [--repeats N]
// Prints one JSON line: {"median_ms": …, "min_ms": …, "repeats": N}. The model is loaded and
// packed once; only Evaluator.run is timed (no file I/O).
import Foundation
import LSTMKit

var args = Array(CommandLine.arguments.dropFirst())
func option(_ name: String) -> String? {
    guard let i = args.firstIndex(of: name), i + 1 < args.count else { return nil }
    let v = args[i + 1]
    args.removeSubrange(i...(i + 1))
    return v
}
if let shape = option("--gemm") {
    let d = shape.split(separator: "x").compactMap { Int($0) }
    print("{\"gemm_gflops\": \(measureFastGEMM(m: d[0], k: d[1], n: d[2], repeats: 10))}")
    exit(0)
}
let precision = Precision(rawValue: option("--precision") ?? "f32") ?? .f32
let repeats = Int(option("--repeats") ?? "5") ?? 5
guard args.count == 2 else {
    FileHandle.standardError.write("usage: lstmbench MODEL X.npy [--precision f32|f64] [--repeats N]\n".data(using: .utf8)!)
    exit(64)
}
do {
    let model = try ModelLoader.load(args[0])
    let input = try RunIO.readInput(args[1], model: model, batchFirst: false)
    let evaluator = try Evaluator(model: model, precision: precision)
    _ = try evaluator.run(input)  // warm-up
    var times: [Double] = []
    for _ in 0..<repeats {
        let start = DispatchTime.now().uptimeNanoseconds
        _ = try evaluator.run(input)
        times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
    }
    times.sort()
    print("{\"median_ms\": \(times[times.count / 2]), \"min_ms\": \(times[0]), \"repeats\": \(repeats)}")
} catch {
    FileHandle.standardError.write("error: \(error)\n".data(using: .utf8)!)
    exit(1)
}
