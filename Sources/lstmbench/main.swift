// Measurements behind docs/PERFORMANCE.md, driven by tools/bench_eval.py and tools/bench_format.py.
// Each mode prints one JSON line.
//   lstmbench MODEL X.npy [--precision f32|f64] [--repeats N]   time Evaluator.run (no file I/O)
//   lstmbench MODEL X.npy ... [--warmup N]                       (default 1 warm-up run; 0 for very long runs)
//   lstmbench --stream MODEL [--steps N] [--precision f32|f64]   one step per call through RecurrentModel.run
//                                                                (B = 1, the state fed back): µs per call
//   lstmbench --gemm MxKxN [--precision f64 [--float32-weights]]  GFLOP/s of the f32 kernel, or of
//                                                                the f64 one (weights as doubles or float32)
//   lstmbench --load MODEL [--repeats N]                        time a full load (read, inflate, CRC)
//   lstmbench --open MODEL [--repeats N]                        time opening (header only, what inspect does)
//   lstmbench --encode MODEL --encoding E [--level L] [--strategy standard|huffman] [--repeats N]
//                                                                size and speed of encoding its tensors
//   lstmbench --make-large PATH --mib N                          write a raw-encoded LSTM of about N MiB
import Foundation
import LSTMCodec
import LSTMKit

var args = Array(CommandLine.arguments.dropFirst())
@MainActor func option(_ name: String) -> String? {
    guard let i = args.firstIndex(of: name), i + 1 < args.count else { return nil }
    let v = args[i + 1]
    args.removeSubrange(i...(i + 1))
    return v
}
func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }
func timed(_ repeats: Int, _ body: () throws -> Void) rethrows -> [Double] {
    var times: [Double] = []
    for _ in 0..<repeats {
        let t0 = now()
        try body()
        times.append(now() - t0)
    }
    return times.sorted()
}
func fail(_ s: String) -> Never {
    FileHandle.standardError.write("lstmbench: \(s)\n".data(using: .utf8)!)
    exit(1)
}

let repeats = Int(option("--repeats") ?? "5") ?? 5
let warmups = Int(option("--warmup") ?? "1") ?? 1
/// LSTMTOOL_THREADS, as the CLI reads it (nil: every core).
let threadsFromEnvironment: Int? = ProcessInfo.processInfo.environment["LSTMTOOL_THREADS"].flatMap(Int.init).flatMap { $0 >= 1 ? $0 : nil }
do {
    if let shape = option("--gemm") {
        let d = shape.split(separator: "x").compactMap { Int($0) }
        guard d.count == 3 else { fail("--gemm takes MxKxN") }
        let threads = RunLimits(threads: threadsFromEnvironment).resolvedThreads
        let gflops = option("--precision") == "f64"
            ? measureReferenceGEMM(m: d[0], k: d[1], n: d[2], repeats: 10, float32Weights: args.contains("--float32-weights"))
            : measureFastGEMM(m: d[0], k: d[1], n: d[2], repeats: 10, threads: threads)
        print("{\"gemm_gflops\": \(gflops), \"kernel\": \"\(KernelPath.current.name)\"}")
    } else if let path = option("--stream") {
        // Streaming latency: one time step per call, B = 1, the state fed back (what a voice
        // activity detector does per audio frame). Inputs are fixed random values.
        let steps = Int(option("--steps") ?? "2000") ?? 2000
        let limits = RunLimits(threads: threadsFromEnvironment)
        let model = try RecurrentModel(contentsOf: URL(fileURLWithPath: path), options: .init(limits: limits))
        let i = model.inputSize
        var rng = SystemRandomNumberGenerator()
        let frames = (0..<64).map { _ in try! Tensor<Float>(shape: [1, 1, i], scalars: (0..<i).map { _ in Float.random(in: -1...1, using: &rng) }) }
        var state = model.initialState(batchSize: 1)
        for k in 0..<200 { _ = try model.run(frames[k % 64], state: &state) }  // warm-up
        var perCall: [Double] = []
        for _ in 0..<repeats {
            let t0 = now()
            for k in 0..<steps { _ = try model.run(frames[k % 64], state: &state) }
            perCall.append((now() - t0) / Double(steps))
        }
        perCall.sort()
        print("{\"median_us_per_step\": \(perCall[perCall.count / 2] * 1e6), \"min_us_per_step\": \(perCall[0] * 1e6), \"kernel\": \"\(KernelPath.current.name)\"}")
    } else if args.first == "--activations" {
        let r = measureActivations()
        print("{\"sigmoid_ns\": \(r.sigmoid), \"tanh_ns\": \(r.tanh), \"sigmoid_f64_ns\": \(r.sigmoid64), \"tanh_f64_ns\": \(r.tanh64)}")
    } else if let path = option("--open") {
        let t = try timed(repeats) { _ = try ModelReader(path: path) }
        print("{\"open_median_s\": \(t[t.count / 2]), \"open_min_s\": \(t[0])}")
    } else if let path = option("--load-parts") {
        // Where a full load spends its time: inflate, unshuffle, CRC (from a copy in memory).
        let reader = try ModelReader(path: path)
        let bytes = try readWholeFile(path)
        var inflate = 0.0, unshuffle = 0.0, crc = 0.0, raw = 0
        for e in reader.header.tensors where e.encoding != .raw {
            let start = reader.blobOffset + e.offset
            let stored = Array(bytes[start..<(start + e.storedSize)])
            var t0 = now()
            let plain = try Zlib.decompress(stored, expectedSize: e.rawSize, what: e.name)
            inflate += now() - t0
            t0 = now()
            let un = byteUnshuffleForBenchmark(plain, elementSize: e.dtype.size)
            unshuffle += now() - t0
            t0 = now()
            _ = Zlib.crc32(un)
            crc += now() - t0
            raw += e.rawSize
        }
        let mb = Double(raw) / 1e6
        print("{\"inflate_mb_per_s\": \(mb / inflate), \"unshuffle_mb_per_s\": \(mb / unshuffle), \"crc_mb_per_s\": \(mb / crc)}")
    } else if let path = option("--load") {
        let reader = try ModelReader(path: path)
        let raw = reader.header.tensors.map(\.rawSize).reduce(0, +)
        let stored = reader.header.tensors.map(\.storedSize).reduce(0, +)
        let t = try timed(repeats) { _ = try ModelReader(path: path).model() }
        print("{\"load_median_s\": \(t[t.count / 2]), \"raw_bytes\": \(raw), \"stored_bytes\": \(stored), \"raw_mb_per_s\": \(Double(raw) / t[t.count / 2] / 1e6)}")
    } else if let path = option("--encode") {
        guard let e = option("--encoding"), let enc = Encoding(rawValue: e) else { fail("--encoding raw|zlib|shuffle_zlib") }
        let level = Int32(option("--level") ?? "6") ?? 6
        let strategy = DeflateStrategy(rawValue: option("--strategy") ?? "standard") ?? .standard
        let model = try ModelFormats.read(path).model
        let opts = WriteOptions(encoding: enc, level: level, strategy: strategy)
        var size = 0
        let t = try timed(repeats) { size = try ModelWriter.encode(model, options: opts).map(\.count).reduce(0, +) }
        let raw = model.namedTensors.map(\.tensor.bytes.count).reduce(0, +)
        // Decode speed of the encoded file.
        let tmp = NSTemporaryDirectory() + "lstmbench-\(getpid()).lstm"
        defer { unlink(tmp) }
        try ModelWriter.write(model, to: tmp, options: opts)
        let d = try timed(repeats) { _ = try ModelReader(path: tmp).model() }
        let blobs = try ModelReader(path: tmp).header.tensors.map(\.storedSize).reduce(0, +)
        print("{\"file_bytes\": \(size), \"blob_bytes\": \(blobs), \"raw_bytes\": \(raw), \"encode_mb_per_s\": \(Double(raw) / t[t.count / 2] / 1e6), \"decode_mb_per_s\": \(Double(raw) / d[d.count / 2] / 1e6)}")
    } else if let path = option("--make-large") {
        let mib = Int(option("--mib") ?? "1024") ?? 1024
        // An LSTM with I = H: 8·H² floats ≈ mib MiB.
        let h = max(8, Int((Double(mib) * 1_048_576 / 32).squareRoot()))
        var rng = SystemRandomNumberGenerator()
        func random(_ n: Int) -> ModelTensor {
            var bytes = [UInt8](repeating: 0, count: n * 4)
            bytes.withUnsafeMutableBytes { raw in
                let words = raw.bindMemory(to: UInt64.self)
                for i in 0..<words.count { words[i] = rng.next() & 0x3FFF_FFFF_3FFF_FFFF }  // finite floats
            }
            return try! ModelTensor(dtype: .float32, shape: [n], bytes: bytes)
        }
        let spec = LayerSpec(cell: .lstm, inputSize: h, hiddenSize: h, hasBias: false)
        let passes: [[TensorRole: ModelTensor]] = [[.inputWeights: random(4 * h * h).reshaped([4 * h, h]),
                                               .recurrentWeights: random(4 * h * h).reshaped([4 * h, h])]]
        let model = Model(metadata: Metadata(name: "large-\(mib)MiB"), layers: [Layer(spec: spec, passes: passes)])
        try ModelWriter.write(model, to: path, options: WriteOptions(encoding: .raw))
        print("{\"hidden_size\": \(h), \"path\": \"\(path)\"}")
    } else {
        let precision = Precision(rawValue: option("--precision") ?? "f32") ?? .f32
        guard args.count == 2 else { fail("usage: lstmbench MODEL X.npy [--precision f32|f64] [--repeats N] (or see the header)") }
        // The library path an app takes: RecurrentModel.run on a typed tensor.
        let limits = RunLimits(threads: threadsFromEnvironment)
        let model = try RecurrentModel(contentsOf: URL(fileURLWithPath: args[0]), options: .init(limits: limits))
        func measure<S: RecurrentScalar>(_: S.Type) throws -> [Double] {
            let x: Tensor<S> = try TypedRunIO.readInput(args[1], model: model, batchFirst: false)
            let fresh: RecurrentState<S> = model.initialState(batchSize: x.shape[1], as: S.self)
            var state = fresh
            for _ in 0..<warmups { _ = try model.run(x, state: &state) }  // warm-up (packs the weights)
            return try timed(repeats) {
                state = fresh
                _ = try model.run(x, state: &state)
            }
        }
        let t = precision == .f32 ? try measure(Float.self) : try measure(Double.self)
        print("{\"median_ms\": \(t[t.count / 2] * 1e3), \"min_ms\": \(t[0] * 1e3), \"repeats\": \(repeats), \"kernel\": \"\(KernelPath.current.name)\"}")
    }
} catch {
    fail("\(error)")
}
