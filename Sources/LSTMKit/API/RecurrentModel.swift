import Foundation
import LSTMCore

/// A recurrent model ready to run: read from any known format, weights packed once, usable
/// from several threads at the same time.
///
/// ```swift
/// let model = try RecurrentModel(contentsOf: URL(fileURLWithPath: "vad.onnx"))
/// var state = model.initialState(batchSize: 1)
/// for chunk in chunks {                       // Tensor<Float> of shape [T, 1, model.inputSize]
///     let y = try model.run(chunk, state: &state)
/// }
/// ```
///
/// Runs in `Float` take the fast path and runs in `Double` the reference path; values
/// stay in the tensor's type from input to output.
public final class RecurrentModel: @unchecked Sendable {
    /// How a model is read and run.
    public struct Options: Sendable {
        /// What to assume where the source file cannot tell (PyTorch's cell family, …).
        public var importOptions: ImportOptions
        /// Threads and the memory cap of each run (a run can override them).
        public var limits: RunLimits

        /// Defaults: let the file tell; every core; 16 GiB per run.
        public init(importOptions: ImportOptions = ImportOptions(), limits: RunLimits = RunLimits()) {
            self.importOptions = importOptions
            self.limits = limits
        }
    }

    /// The model's description: metadata and layers with their cells, sizes, options and
    /// weights (the types of the `.lstm` format).
    public let definition: Model
    /// What the importer noted (what it left out or assumed), one line each.
    public let importNotes: [String]
    /// The name of the format it was read from (`lstm`, `onnx`, …), or nil when it was made
    /// in memory.
    public let sourceFormat: String?
    /// The options it was made with.
    public let options: Options

    private let lock = NSLock()
    private var f32: StackEngine<Float>?
    private var f64: StackEngine<Double>?

    /// Reads a model of any known format (``ModelFormats``), told by content and extension.
    public convenience init(contentsOf url: URL, options: Options = Options()) throws {
        let result = try ModelFormats.read(url.path, options: options.importOptions)
        // Importers hand out validated models (ImportResult): validated once, on the way in.
        self.init(validated: result.model, notes: result.notes, sourceFormat: result.formatName, options: options)
    }

    /// A model from its description, which is validated.
    public convenience init(_ definition: Model, options: Options = Options()) throws {
        try definition.validate()
        self.init(validated: definition, notes: [], sourceFormat: nil, options: options)
    }

    init(validated definition: Model, notes: [String], sourceFormat: String?, options: Options) {
        self.definition = definition
        self.importNotes = notes
        self.sourceFormat = sourceFormat
        self.options = options
    }

    /// Width of each input vector (I).
    public var inputSize: Int { definition.inputSize }
    /// Width of each output vector: the last layer's directions × its output width.
    public var outputSize: Int { definition.outputSize }
    /// The layers, first first.
    public var layers: [Layer] { definition.layers }
    /// Name, description, source and free properties.
    public var metadata: Metadata { definition.metadata }
    /// True when every layer runs forward in time, so that a sequence can be fed in chunks
    /// with a carried state. A bidirectional or reverse layer starts at the end of the
    /// sequence: such a model takes whole sequences.
    public var canStream: Bool { layers.allSatisfy { $0.spec.direction == .forward } }

    /// Writes the model to `url` in the format its extension names (atomically).
    public func write(to url: URL, options: WriteOptions = WriteOptions()) throws {
        try ModelFormats.write(definition, to: url.path, options: options)
    }

    /// The state a run starts from in `Float`: the model's learned initial states where it
    /// has them, else zeros.
    public func initialState(batchSize: Int) -> RecurrentState<Float> {
        initialState(batchSize: batchSize, as: Float.self)
    }

    /// The state a run starts from, in `Scalar`: learned initial states where the model has
    /// them, else zeros.
    public func initialState<Scalar: RecurrentScalar>(batchSize: Int, as type: Scalar.Type = Scalar.self) -> RecurrentState<Scalar> {
        let b = max(0, batchSize)
        let (h, c) = defaultState(batch: b, Scalar.self)
        return makeState(h: h, c: c, batch: b, steps: 0)
    }

    /// Runs `x` (`[T, B, inputSize]`, time-major) from `state` and returns the outputs
    /// `[T, B, outputSize]`; `state` becomes the state after step T.
    ///
    /// Call it again with the next chunk of the same sequences to stream: the outputs and the
    /// state are bitwise the same as one run over the whole sequence.
    ///
    /// A model with a bidirectional or reverse layer needs whole sequences (its reverse pass
    /// starts at the end): it accepts only a state at step 0 (``canStream`` is false), and
    /// throws otherwise.
    ///
    /// - Parameters:
    ///   - x: the inputs, `[T, B, inputSize]`, time-major.
    ///   - state: the state to start from, for B sequences; on return, the state after the
    ///     last step (unchanged when the run throws).
    ///   - sequenceLengths: per batch entry, how many of this call's steps are valid (each in
    ///     0...T); entry b's outputs past its length are zero and its state stays at its last
    ///     valid step. nil means all T.
    ///   - limits: threads and memory cap for this run (default: the model's).
    public func run<Scalar: RecurrentScalar>(_ x: Tensor<Scalar>, state: inout RecurrentState<Scalar>,
                                             sequenceLengths: [Int]? = nil, limits: RunLimits? = nil) throws -> Tensor<Scalar> {
        let limits = limits ?? options.limits
        guard x.rank == 3, x.shape[2] == inputSize else {
            throw LSTMError(.shape, "input has shape \(x.shape), expected [T, B, \(inputSize)] (time-major; the model's input size is \(inputSize))")
        }
        let t = x.shape[0], b = x.shape[1]
        guard b == state.batchSize else {
            throw LSTMError(.shape, "input has batch size \(b) but the state holds \(state.batchSize) sequences")
        }
        if !canStream && state.steps > 0 {
            throw LSTMError(.invalidInput, "this model has a bidirectional or reverse layer, so it runs whole sequences only: start each sequence from initialState(batchSize:) (this state has already run \(state.steps) steps)")
        }
        try RunChecks.workingMemory(model: definition, steps: t, batch: b, elementSize: MemoryLayout<Scalar>.size, limits: limits)
        if let lens = sequenceLengths { try RunChecks.lengths(lens, steps: t, batch: b) }
        var (h, c) = try unpack(state)
        let y = runEngine(x.scalars, steps: t, batch: b, h: &h, c: &c, lengths: sequenceLengths, threads: limits.resolvedThreads)
        state = makeState(h: h, c: c, batch: b, steps: state.steps + t)
        return Tensor(checkedShape: [t, b, outputSize], scalars: y)
    }

    /// The engine of `precision`, packing its weights on first use.
    private func engine32() -> StackEngine<Float> {
        lock.lock()
        defer { lock.unlock() }
        if let e = f32 { return e }
        let e = StackEngine<Float>(model: definition)
        f32 = e
        releaseMappedWeights()
        return e
    }

    private func engine64() -> StackEngine<Double> {
        lock.lock()
        defer { lock.unlock() }
        if let e = f64 { return e }
        let e = StackEngine<Double>(model: definition)
        f64 = e
        releaseMappedWeights()
        return e
    }

    /// The engine holds its own packed copy of the weights: the pages of a memory-mapped
    /// file's tensors may leave memory (they are read again if `definition` is used).
    private func releaseMappedWeights() {
        for layer in definition.layers { for pass in layer.passes { for t in pass.values { t.releaseResidentPages() } } }
    }

    /// The default state in `Scalar`, from the engine of its precision.
    private func defaultState<Scalar: RecurrentScalar>(batch: Int, _: Scalar.Type) -> (h: [[Scalar]], c: [[Scalar]]) {
        switch Scalar.precision {
        case .f32: let (h, c) = engine32().defaultState(batch: batch); return (same(h), same(c))
        case .f64: let (h, c) = engine64().defaultState(batch: batch); return (same(h), same(c))
        }
    }

    /// Runs the engine of `Scalar`'s precision; `Scalar` is then that engine's own type, so
    /// the arrays pass through without a copy.
    private func runEngine<Scalar: RecurrentScalar>(_ x: [Scalar], steps t: Int, batch b: Int, h: inout [[Scalar]], c: inout [[Scalar]],
                                                    lengths: [Int]?, threads: Int) -> [Scalar] {
        switch Scalar.precision {
        case .f32: return runTyped(engine32(), x, steps: t, batch: b, h: &h, c: &c, lengths: lengths, threads: threads)
        case .f64: return runTyped(engine64(), x, steps: t, batch: b, h: &h, c: &c, lengths: lengths, threads: threads)
        }
    }

    private func runTyped<F: EvalScalar, Scalar: RecurrentScalar>(_ engine: StackEngine<F>, _ x: [Scalar], steps t: Int, batch b: Int,
                                                                 h: inout [[Scalar]], c: inout [[Scalar]], lengths: [Int]?, threads: Int) -> [Scalar] {
        var hF: [[F]] = same(h), cF: [[F]] = same(c)
        h = []
        c = []
        let y = engine.run(x: same(x), steps: t, batch: b, h: &hF, c: &cF, lengths: lengths, threads: threads)
        h = same(hF)
        c = same(cF)
        return same(y)
    }

    /// The state as the engine's per-layer arrays, after checking it fits the model.
    private func unpack<Scalar: RecurrentScalar>(_ state: RecurrentState<Scalar>) throws -> (h: [[Scalar]], c: [[Scalar]]) {
        guard state.layers.count == layers.count else {
            throw LSTMError(.shape, "the state has \(state.layers.count) layers, the model \(layers.count)")
        }
        var hs: [[Scalar]] = [], cs: [[Scalar]] = []
        for (li, layer) in layers.enumerated() {
            let s = layer.spec, d = s.direction.count, b = state.batchSize
            let ls = state.layers[li]
            guard ls.h.shape == [d, b, s.outputSize] else {
                throw LSTMError(.shape, "state h of layer \(li) has shape \(ls.h.shape), expected [\(d), \(b), \(s.outputSize)]")
            }
            hs.append(ls.h.scalars)
            if s.cell == .lstm {
                guard let c = ls.c, c.shape == [d, b, s.hiddenSize] else {
                    throw LSTMError(.shape, "state c of LSTM layer \(li) has shape \(ls.c.map { "\($0.shape)" } ?? "nil"), expected [\(d), \(b), \(s.hiddenSize)]")
                }
                cs.append(c.scalars)
            } else {
                guard ls.c == nil else { throw LSTMError(.shape, "state of layer \(li) has a cell state, but it is a \(s.cell.rawValue) layer") }
                cs.append([])
            }
        }
        return (hs, cs)
    }

    private func makeState<Scalar: RecurrentScalar>(h: [[Scalar]], c: [[Scalar]], batch b: Int, steps: Int) -> RecurrentState<Scalar> {
        var out: [RecurrentState<Scalar>.LayerState] = []
        for (li, layer) in layers.enumerated() {
            let s = layer.spec, d = s.direction.count
            out.append(.init(h: Tensor(checkedShape: [d, b, s.outputSize], scalars: h[li]),
                             c: s.cell == .lstm ? Tensor(checkedShape: [d, b, s.hiddenSize], scalars: c[li]) : nil))
        }
        return RecurrentState(layers: out, batchSize: b, steps: steps)
    }
}

/// `value` as type `U`, which must be its own type: Float and Double arrays pass between the
/// public `RecurrentScalar` generics and the evaluator's `EvalScalar` ones without a copy
/// (`as!` on an array would cast element by element).
@inline(__always)
private func same<T, U>(_ value: T) -> U {
    precondition(T.self == U.self, "\(T.self) is not \(U.self)")
    return unsafeBitCast(value, to: U.self)
}
