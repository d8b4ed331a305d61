import Dispatch
import Foundation
import LSTMCore

/// Runs a whole stack in one precision: the engine behind ``RecurrentModel`` and the
/// verifier. Weights are packed once, at creation; a run allocates its buffers up front and
/// nothing per step. Every value stays in `F` from input to output.
struct StackEngine<F: EvalScalar>: Sendable {
    let model: Model
    let layers: [[PreparedPass<F>]]

    /// Packs the weights; the model must be valid.
    init(model: Model) {
        self.model = model
        layers = model.layers.map { l in (0..<l.spec.direction.count).map { PreparedPass<F>(layer: l, passIndex: $0) } }
    }

    /// Per layer, the state a run starts from when none is given: the learned initial
    /// states where the layer has them, else zeros. h is `[D, B, P]`, c `[D, B, H]` (empty
    /// for layers that are not LSTMs).
    func defaultState(batch: Int) -> (h: [[F]], c: [[F]]) {
        var hs: [[F]] = [], cs: [[F]] = []
        for (li, passes) in layers.enumerated() {
            let spec = model.layers[li].spec
            let p = spec.outputSize, hsz = spec.hiddenSize
            var h = [F](repeating: 0, count: passes.count * batch * p)
            var c = [F](repeating: 0, count: spec.cell == .lstm ? passes.count * batch * hsz : 0)
            for (d, pass) in passes.enumerated() {
                if let learned = pass.learnedH0 {
                    for b in 0..<batch { for k in 0..<p { h[(d * batch + b) * p + k] = learned[k] } }
                }
                if let learned = pass.learnedC0, spec.cell == .lstm {
                    for b in 0..<batch { for k in 0..<hsz { c[(d * batch + b) * hsz + k] = learned[k] } }
                }
            }
            hs.append(h)
            cs.append(c)
        }
        return (hs, cs)
    }

    /// Runs the stack over `x` (`[T, B, I]`, time-major). `h` and `c` hold the state per
    /// layer on entry and the state after the last step on return. With `lengths`, batch
    /// entry b runs only its first `lengths[b]` steps: its outputs past them are zero and its
    /// state stays where that step left it. `layerOutputs`, when given, receives every
    /// layer's output. Sizes must have been checked (`RecurrentModel` and `Evaluator` do).
    func run(x: [F], steps t: Int, batch b: Int, h: inout [[F]], c: inout [[F]], lengths: [Int]?,
             threads: Int, layerOutputs: UnsafeMutablePointer<[[F]]>? = nil) -> [F] {
        // Callers that are themselves generic over the scalar (RecurrentModel) would run this
        // unspecialised, through witness tables (several times slower per step): hand over to
        // code compiled for the concrete type. F is that type, so the casts change nothing.
        if F.self == Float.self {
            return Self.retyped(self, x: x, h: &h, c: &c, layerOutputs: layerOutputs) { (e: StackEngine<Float>, x, h, c, lo) in
                runFloatEngine(e, x: x, steps: t, batch: b, h: &h, c: &c, lengths: lengths, threads: threads, layerOutputs: lo)
            }
        }
        if F.self == Double.self {
            return Self.retyped(self, x: x, h: &h, c: &c, layerOutputs: layerOutputs) { (e: StackEngine<Double>, x, h, c, lo) in
                runDoubleEngine(e, x: x, steps: t, batch: b, h: &h, c: &c, lengths: lengths, threads: threads, layerOutputs: lo)
            }
        }
        return runBody(x: x, steps: t, batch: b, h: &h, c: &c, lengths: lengths, threads: threads, layerOutputs: layerOutputs)
    }

    /// Calls `body` with this engine and its buffers viewed as `G`, which must be `F` itself.
    @inline(__always)
    private static func retyped<G: EvalScalar>(_ engine: StackEngine<F>, x: [F], h: inout [[F]], c: inout [[F]],
                                               layerOutputs: UnsafeMutablePointer<[[F]]>?,
                                               _ body: (StackEngine<G>, [G], inout [[G]], inout [[G]], UnsafeMutablePointer<[[G]]>?) -> [G]) -> [F] {
        precondition(G.self == F.self)
        var hG = unsafeBitCast(h, to: [[G]].self), cG = unsafeBitCast(c, to: [[G]].self)
        h = []
        c = []
        let lo = layerOutputs.map { UnsafeMutableRawPointer($0).assumingMemoryBound(to: [[G]].self) }
        let y = body(unsafeBitCast(engine, to: StackEngine<G>.self), unsafeBitCast(x, to: [G].self), &hG, &cG, lo)
        h = unsafeBitCast(hG, to: [[F]].self)
        c = unsafeBitCast(cG, to: [[F]].self)
        return unsafeBitCast(y, to: [F].self)
    }

    /// The body of `run`, compiled once per concrete scalar through the two functions below.
    func runBody(x: [F], steps t: Int, batch b: Int, h: inout [[F]], c: inout [[F]], lengths: [Int]?,
                 threads: Int, layerOutputs: UnsafeMutablePointer<[[F]]>?) -> [F] {
        let lengths = lengths ?? Array(repeating: t, count: b)
        var x = x
        for (li, passes) in layers.enumerated() {
            let spec = model.layers[li].spec
            let d = passes.count, p = spec.outputSize, hsz = spec.hiddenSize
            let layerInput = x
            let hIn = h[li], cIn = c[li]
            // The two passes of a bidirectional layer are independent: the fast path runs them
            // on two threads (the reference path stays single-threaded), each pass with half of
            // the threads.
            let parallelPasses = d == 2 && F.self == Float.self && threads > 1 && t * b * spec.gateCount * hsz >= 1 << 16
            let passThreads = parallelPasses ? Swift.max(1, threads / 2) : threads
            // One pass: its own slice of the states and its own output columns [T, B, P].
            let runPass = { @Sendable (di: Int) -> (y: [F], h: [F], c: [F]) in
                var hp = Array(hIn[(di * b * p)..<((di + 1) * b * p)])
                var cp = spec.cell == .lstm ? Array(cIn[(di * b * hsz)..<((di + 1) * b * hsz)]) : [F](repeating: 0, count: b * hsz)
                var yPass = largeArray(repeating: F(0), count: t * b * p)
                let runner = PassRunner(pass: passes[di], steps: t, batch: b, lengths: lengths, threads: passThreads)
                runner.run(x: layerInput, h: &hp, c: &cp, y: &yPass, yStride: p, yOffset: 0)
                return (yPass, hp, cp)
            }
            let results: [(y: [F], h: [F], c: [F])]
            if parallelPasses {
                let slots = PassSlots<F>()
                DispatchQueue.concurrentPerform(iterations: 2) { di in slots.set(di, runPass(di)) }
                results = [slots.get(0), slots.get(1)]
            } else {
                results = (0..<d).map { runPass($0) }
            }
            var y: [F]
            if d == 1 {
                y = results[0].y
            } else {
                // Interleave the passes' outputs into [T, B, D·P] (forward | reverse).
                y = largeArray(repeating: F(0), count: t * b * d * p)
                y.withUnsafeMutableBufferPointer { yb in
                    for (di, r) in results.enumerated() {
                        r.y.withUnsafeBufferPointer { rb in
                            for row in 0..<(t * b) {
                                (yb.baseAddress! + row * d * p + di * p).update(from: rb.baseAddress! + row * p, count: p)
                            }
                        }
                    }
                }
            }
            h[li] = results.flatMap(\.h)
            if spec.cell == .lstm { c[li] = results.flatMap(\.c) }
            layerOutputs?.pointee.append(y)
            x = y
        }
        return x
    }
}

/// `StackEngine.run` for Float, compiled for Float (not through the generic entry point).
@inline(never)
func runFloatEngine(_ e: StackEngine<Float>, x: [Float], steps t: Int, batch b: Int, h: inout [[Float]], c: inout [[Float]],
                    lengths: [Int]?, threads: Int, layerOutputs: UnsafeMutablePointer<[[Float]]>?) -> [Float] {
    e.runBody(x: x, steps: t, batch: b, h: &h, c: &c, lengths: lengths, threads: threads, layerOutputs: layerOutputs)
}

/// `StackEngine.run` for Double, compiled for Double.
@inline(never)
func runDoubleEngine(_ e: StackEngine<Double>, x: [Double], steps t: Int, batch b: Int, h: inout [[Double]], c: inout [[Double]],
                     lengths: [Int]?, threads: Int, layerOutputs: UnsafeMutablePointer<[[Double]]>?) -> [Double] {
    e.runBody(x: x, steps: t, batch: b, h: &h, c: &c, lengths: lengths, threads: threads, layerOutputs: layerOutputs)
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
