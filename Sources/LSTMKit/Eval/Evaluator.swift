import Foundation
import LSTMCore

/// Arithmetic of a run: `f64` is the reference (every operation in double precision, fixed
/// order, deterministic); `f32` is the fast path.
public enum Precision: String, CaseIterable, Sendable {
    case f32, f64
}

/// The inputs of one run, time-major. States are per layer, `[D, B, P_l]` (h) and `[D, B, H_l]` (c).
public struct RunInput: Sendable {
    public var x: [Double]
    public var steps: Int
    public var batch: Int
    public var initialH: [[Double]]?
    public var initialC: [[Double]]?
    public var lengths: [Int]?

    public init(x: [Double], steps: Int, batch: Int, initialH: [[Double]]? = nil, initialC: [[Double]]? = nil,
                lengths: [Int]? = nil) {
        self.x = x
        self.steps = steps
        self.batch = batch
        self.initialH = initialH
        self.initialC = initialC
        self.lengths = lengths
    }
}

/// Outputs: y `[T, B, D·P]` of the last layer; final states per layer `[D, B, P_l]` / `[D, B, H_l]`.
public struct RunOutput: Sendable {
    public var y: [Double]
    public var finalH: [[Double]]
    /// nil for models without an LSTM layer.
    public var finalC: [[Double]]?
    /// y per layer, kept only when asked for (for error reports per layer).
    public var layerOutputs: [[Double]]?
}

/// Runs a model's forward pass.
public struct Evaluator: Sendable {
    public let model: Model
    public let precision: Precision
    private let f32: [[PreparedPass<Float>]]
    private let f64: [[PreparedPass<Double>]]

    /// Packs the weights once; the model must be valid.
    public init(model: Model, precision: Precision) throws {
        try model.validate()
        self.model = model
        self.precision = precision
        let prepare: (Layer) -> [Int] = { Array(0..<$0.spec.direction.count) }
        if precision == .f32 {
            f32 = model.layers.map { l in prepare(l).map { PreparedPass<Float>(layer: l, passIndex: $0) } }
            f64 = []
        } else {
            f64 = model.layers.map { l in prepare(l).map { PreparedPass<Double>(layer: l, passIndex: $0) } }
            f32 = []
        }
    }

    /// Upper bound on the working memory of one run: 16 GiB, or LSTMTOOL_MAX_MEMORY_MIB.
    public static let maxWorkingBytes: Int = {
        if let v = ProcessInfo.processInfo.environment["LSTMTOOL_MAX_MEMORY_MIB"], let mib = Int(v), mib > 0 { return mib << 20 }
        return 16 << 30
    }()

    public func run(_ input: RunInput) throws -> RunOutput {
        try validate(input)
        switch precision {
        case .f32: return runTyped(f32, input)
        case .f64: return runTyped(f64, input)
        }
    }

    /// Checks sizes against the model; messages state the expected shape.
    public func validate(_ input: RunInput) throws {
        let t = input.steps, b = input.batch, i = model.inputSize
        guard t >= 0, b >= 0, input.x.count == t * b * i else {
            throw LSTMError(.shape, "input has \(input.x.count) values, expected [T, B, \(i)] = [\(t), \(b), \(i)]")
        }
        // The largest buffers a run allocates, checked before any of them exists: the input
        // projections of a layer ([T·B, G·H]) and its outputs ([T·B, D·P]).
        let elementSize = precision == .f32 ? 4 : 8
        var peak = 0
        for layer in model.layers {
            let s = layer.spec
            let (rows, o1) = t.multipliedReportingOverflow(by: b)
            let (proj, o2) = rows.multipliedReportingOverflow(by: s.gateCount * s.hiddenSize + s.direction.count * s.outputSize)
            let (bytes, o3) = proj.multipliedReportingOverflow(by: elementSize)
            guard !o1, !o2, !o3 else { throw LSTMError(.invalidInput, "input of [\(t), \(b), \(i)] is too large for this model") }
            peak = max(peak, bytes)
        }
        guard peak <= Evaluator.maxWorkingBytes else {
            throw LSTMError(.invalidInput, "a run on input [\(t), \(b), \(i)] needs \(peak >> 20) MiB of working memory, more than the \(Evaluator.maxWorkingBytes >> 20) MiB allowed (LSTMTOOL_MAX_MEMORY_MIB); split the sequence or the batch")
        }
        if let lens = input.lengths {
            guard lens.count == b else { throw LSTMError(.shape, "sequence lengths have shape [\(lens.count)], expected [\(b)]") }
            for (k, l) in lens.enumerated() where l < 0 || l > t {
                throw LSTMError(.invalidInput, "sequence length \(l) of batch entry \(k) is outside 0...\(t)")
            }
        }
        for (li, layer) in model.layers.enumerated() {
            let d = layer.spec.direction.count
            if let hs = input.initialH {
                guard hs.count == model.layers.count else { throw LSTMError(.shape, "initial h has \(hs.count) layers, the model has \(model.layers.count)") }
                guard hs[li].count == d * b * layer.spec.outputSize else {
                    throw LSTMError(.shape, "initial h of layer \(li) has \(hs[li].count) values, expected [\(d), \(b), \(layer.spec.outputSize)]")
                }
            }
            if let cs = input.initialC, layer.spec.cell == .lstm {
                guard cs.count == model.layers.count else { throw LSTMError(.shape, "initial c has \(cs.count) layers, the model has \(model.layers.count)") }
                guard cs[li].count == d * b * layer.spec.hiddenSize else {
                    throw LSTMError(.shape, "initial c of layer \(li) has \(cs[li].count) values, expected [\(d), \(b), \(layer.spec.hiddenSize)]")
                }
            }
        }
    }

    private func runTyped<F: EvalScalar>(_ layers: [[PreparedPass<F>]], _ input: RunInput) -> RunOutput {
        let t = input.steps, b = input.batch
        let lengths = input.lengths ?? Array(repeating: t, count: b)
        var x = input.x.map { F.from($0) }
        var finalH: [[Double]] = []
        var finalC: [[Double]] = []
        let anyLSTM = model.layers.contains { $0.spec.cell == .lstm }
        for (li, passes) in layers.enumerated() {
            let spec = model.layers[li].spec
            let d = passes.count, p = spec.outputSize, h = spec.hiddenSize
            var y: [F]
            var hn = [Double](repeating: 0, count: d * b * p)
            var cn = [Double](repeating: 0, count: d * b * h)
            // One pass: its own states and its own output columns [T, B, P].
            let layerInput = x
            let runPass = { @Sendable (di: Int, pass: PreparedPass<F>) -> (y: [F], h: [F], c: [F]) in
                var h0 = [F](repeating: 0, count: b * p)
                var c0 = [F](repeating: 0, count: b * h)
                if let given = input.initialH?[li] {
                    for k in 0..<(b * p) { h0[k] = F.from(given[di * b * p + k]) }
                } else if let learned = pass.learnedH0 {
                    for r in 0..<b { for k in 0..<p { h0[r * p + k] = learned[k] } }
                }
                if let given = input.initialC?[li], spec.cell == .lstm {
                    for k in 0..<(b * h) { c0[k] = F.from(given[di * b * h + k]) }
                } else if let learned = pass.learnedC0 {
                    for r in 0..<b { for k in 0..<h { c0[r * h + k] = learned[k] } }
                }
                var yPass = [F](repeating: 0, count: t * b * p)
                var runner = PassRunner(pass: pass, steps: t, batch: b, lengths: lengths)
                runner.run(x: layerInput, h: &h0, c: &c0, y: &yPass, yStride: p, yOffset: 0)
                return (yPass, h0, c0)
            }
            // The two passes of a bidirectional layer are independent: the fast path runs them
            // on two threads (the reference path stays single-threaded).
            let results: [(y: [F], h: [F], c: [F])]
            if d == 2 && F.self == Float.self && EvaluatorThreads.count > 1 && t * b * spec.gateCount * h >= 1 << 16 {
                let slots = PassSlots<F>()
                DispatchQueue.concurrentPerform(iterations: 2) { di in slots.set(di, runPass(di, passes[di])) }
                results = [slots.get(0), slots.get(1)]
            } else {
                results = passes.enumerated().map { runPass($0.offset, $0.element) }
            }
            if d == 1 {
                y = results[0].y
            } else {
                // Interleave the passes' outputs into [T, B, D·P] (forward | reverse).
                y = [F](repeating: 0, count: t * b * d * p)
                y.withUnsafeMutableBufferPointer { yb in
                    for (di, r) in results.enumerated() {
                        r.y.withUnsafeBufferPointer { rb in
                            for row in 0..<(t * b) {
                                let dst = yb.baseAddress! + row * d * p + di * p, src = rb.baseAddress! + row * p
                                dst.update(from: src, count: p)
                            }
                        }
                    }
                }
            }
            for (di, r) in results.enumerated() {
                for k in 0..<(b * p) { hn[di * b * p + k] = r.h[k].asDouble }
                for k in 0..<(b * h) { cn[di * b * h + k] = r.c[k].asDouble }
            }
            finalH.append(hn)
            finalC.append(spec.cell == .lstm ? cn : [])
            x = y
        }
        return RunOutput(y: x.map { $0.asDouble }, finalH: finalH, finalC: anyLSTM ? finalC : nil, layerOutputs: nil)
    }
}

/// Results of the two passes of a bidirectional layer run on two threads.
private final class PassSlots<F: EvalScalar>: @unchecked Sendable {
    private let lock = NSLock()
    private var slots: [Int: (y: [F], h: [F], c: [F])] = [:]
    func set(_ i: Int, _ v: (y: [F], h: [F], c: [F])) {
        lock.lock()
        slots[i] = v
        lock.unlock()
    }
    func get(_ i: Int) -> (y: [F], h: [F], c: [F]) {
        lock.lock()
        defer { lock.unlock() }
        return slots[i]!
    }
}
