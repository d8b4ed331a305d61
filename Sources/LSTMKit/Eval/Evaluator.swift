import Foundation
import LSTMCore

/// Arithmetic of a run: `f64` is the reference (every operation in double precision, fixed
/// order, no fused multiply-add, deterministic); `f32` is the fast path.
public enum Precision: String, CaseIterable, Sendable {
    /// Single precision: packed SIMD kernels, optionally threaded.
    case f32
    /// Double precision: the reference path of docs/CELLS.md.
    case f64
}

/// Limits and threads of a run, set per model (``RecurrentModel/Options``) or per run.
public struct RunLimits: Sendable, Equatable {
    /// Threads the f32 path may use (1 = the calling thread only); nil = every core.
    /// The f64 reference path always runs on one thread. Results never depend on it.
    ///
    /// Threads beyond the calling one are persistent workers shared by the whole process; after
    /// a task they keep spinning for `LSTMTOOL_SPIN_US` µs (default 1000) before they sleep, so
    /// that a call that follows soon — a streaming loop's next step — starts at once. Set it to
    /// 0, or use one thread, where cores are shared with other work.
    public var threads: Int?
    /// The most working memory one run may allocate, in bytes; a larger run throws before
    /// allocating anything. Default 16 GiB.
    public var maxWorkingBytes: Int

    /// Every core, at most 16 GiB of working memory.
    public init(threads: Int? = nil, maxWorkingBytes: Int = 16 << 30) {
        self.threads = threads
        self.maxWorkingBytes = maxWorkingBytes
    }

    /// The thread count to use: `threads`, else the active processor count, within 1...64.
    package var resolvedThreads: Int {
        Swift.min(64, Swift.max(1, threads ?? activeProcessors))
    }
}

/// The active processor count, read once per process: on Linux, Foundation reads it from the
/// cgroup and /proc files on every call (≈ 18 µs, twice the rest of a streaming B = 1 call).
private let activeProcessors = ProcessInfo.processInfo.activeProcessorCount

/// The inputs of one run, time-major, as doubles (the verifier's and the tests' form).
/// States are per layer, `[D, B, P_l]` (h) and `[D, B, H_l]` (c).
package struct RunInput: Sendable {
    package var x: [Double]
    package var steps: Int
    package var batch: Int
    package var initialH: [[Double]]?
    package var initialC: [[Double]]?
    package var lengths: [Int]?

    package init(x: [Double], steps: Int, batch: Int, initialH: [[Double]]? = nil, initialC: [[Double]]? = nil,
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
package struct RunOutput: Sendable {
    package var y: [Double]
    package var finalH: [[Double]]
    /// nil for models without an LSTM layer.
    package var finalC: [[Double]]?
    /// y per layer, kept only when asked for (for error reports per layer).
    package var layerOutputs: [[Double]]?
}

/// Runs a model on double-precision inputs in either precision: what `verify` and the tests
/// use. Apps use ``RecurrentModel``, which keeps its values in one precision throughout.
package struct Evaluator: Sendable {
    package let model: Model
    package let precision: Precision
    package let limits: RunLimits
    private let f32: StackEngine<Float>?
    private let f64: StackEngine<Double>?

    /// Packs the weights once; the model is validated first.
    package init(model: Model, precision: Precision, limits: RunLimits = RunLimits()) throws {
        try model.validate()
        self.model = model
        self.precision = precision
        self.limits = limits
        f32 = precision == .f32 ? StackEngine(model: model) : nil
        f64 = precision == .f64 ? StackEngine(model: model) : nil
    }

    package func run(_ input: RunInput, keepLayerOutputs: Bool = false) throws -> RunOutput {
        try validate(input)
        if let f32 { return runTyped(f32, input, keepLayerOutputs) }
        return runTyped(f64!, input, keepLayerOutputs)
    }

    /// Checks sizes against the model; messages state the expected shape.
    package func validate(_ input: RunInput) throws {
        let t = input.steps, b = input.batch, i = model.inputSize
        guard t >= 0, b >= 0, input.x.count == t * b * i else {
            throw LSTMError(.shape, "input has \(input.x.count) values, expected [T, B, \(i)] = [\(t), \(b), \(i)]")
        }
        try RunChecks.workingMemory(model: model, steps: t, batch: b, elementSize: precision == .f32 ? 4 : 8, limits: limits)
        if let lens = input.lengths { try RunChecks.lengths(lens, steps: t, batch: b) }
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

    private func runTyped<F: EvalScalar>(_ engine: StackEngine<F>, _ input: RunInput, _ keep: Bool) -> RunOutput {
        var (h, c) = engine.defaultState(batch: input.batch)
        if let given = input.initialH { h = given.map { $0.map(F.from) } }
        if let given = input.initialC {
            for (li, layer) in model.layers.enumerated() where layer.spec.cell == .lstm { c[li] = given[li].map(F.from) }
        }
        var perLayer: [[F]] = []
        let y = withUnsafeMutablePointer(to: &perLayer) { layers in
            engine.run(x: input.x.map(F.from), steps: input.steps, batch: input.batch, h: &h, c: &c,
                       lengths: input.lengths, threads: limits.resolvedThreads, layerOutputs: keep ? layers : nil)
        }
        let anyLSTM = model.layers.contains { $0.spec.cell == .lstm }
        func widened(_ v: [F]) -> [Double] { v.map { $0.asDouble } }
        return RunOutput(y: widened(y), finalH: h.map(widened), finalC: anyLSTM ? c.map(widened) : nil,
                         layerOutputs: keep ? perLayer.map(widened) : nil)
    }
}

/// Checks shared by every way of starting a run.
enum RunChecks {
    /// Throws when a run on `[steps, batch, ·]` would need more working memory than allowed.
    static func workingMemory(model: Model, steps t: Int, batch b: Int, elementSize: Int, limits: RunLimits) throws {
        var peak = 0
        for layer in model.layers {
            let s = layer.spec
            let (rows, o1) = t.multipliedReportingOverflow(by: b)
            let (values, o2) = rows.multipliedReportingOverflow(by: s.gateCount * s.hiddenSize + s.direction.count * s.outputSize)
            let (bytes, o3) = values.multipliedReportingOverflow(by: elementSize)
            guard !o1, !o2, !o3 else { throw LSTMError(.invalidInput, "input of [\(t), \(b), \(model.inputSize)] is too large for this model") }
            peak = max(peak, bytes)
        }
        guard peak <= limits.maxWorkingBytes else {
            throw LSTMError(.invalidInput, "a run on input [\(t), \(b), \(model.inputSize)] needs \(peak >> 20) MiB of working memory, more than the \(limits.maxWorkingBytes >> 20) MiB allowed (LSTMTOOL_MAX_MEMORY_MIB); split the sequence or the batch")
        }
    }

    /// Each sequence length must lie in 0...steps, one per batch entry.
    static func lengths(_ lens: [Int], steps t: Int, batch b: Int) throws {
        guard lens.count == b else { throw LSTMError(.shape, "sequence lengths have shape [\(lens.count)], expected [\(b)]") }
        for (k, l) in lens.enumerated() where l < 0 || l > t {
            throw LSTMError(.invalidInput, "sequence length \(l) of batch entry \(k) is outside 0...\(t)")
        }
    }
}
