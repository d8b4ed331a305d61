internal import CLSTMKernels
import Dispatch
import Foundation
import LSTMCore

/// Activations over contiguous runs of values. The f32 path evaluates sigmoid and tanh with
/// the vector kernels of `CLSTMKernels` (our own float32 exp, on the path chosen at run time);
/// everything else, and the whole f64 reference path, goes element by element through
/// `Activation.apply` (libm).
extension EvalScalar {
    @inline(__always)
    static func activateRun(_ a: Activation, _ p: UnsafeMutablePointer<Self>, _ count: Int) {
        if Self.self == Float.self {
            activateFloatRun(a, UnsafeMutableRawPointer(p).assumingMemoryBound(to: Float.self), count)
            return
        }
        if Self.self == Double.self {
            activateDoubleRun(a, UnsafeMutableRawPointer(p).assumingMemoryBound(to: Double.self), count)
            return
        }
        for j in 0..<count { p[j] = activate(a, p[j]) }
    }
}

@inline(__always)
func activateFloatRun(_ a: Activation, _ p: UnsafeMutablePointer<Float>, _ count: Int) {
    switch a.kind {
    case .sigmoid:
        lstmk_sigmoid_f32(p, count)
    case .tanh:
        lstmk_tanh_f32(p, count)
    default:
        for j in 0..<count { p[j] = a.apply(p[j]) }
    }
}

/// Nanoseconds per value of the f32 sigmoid and tanh runs, on the current path (for
/// tools/bench_eval.py diagnostics).
/// The f64 path's sigmoid and tanh: the same libm functions and the same operations, in the
/// same order, as `Activation.apply` (so the same bits: the pinned f64 results), compiled here
/// for Double. `apply` is generic over `Real` and not inlinable across modules, so calling it
/// per element went through witness tables — about a third of an f64 run's time.
@inline(__always)
func activateDoubleRun(_ a: Activation, _ p: UnsafeMutablePointer<Double>, _ count: Int) {
    switch a.kind {
    case .sigmoid:
        for j in 0..<count { p[j] = 1 / (1 + exp(-p[j])) }
    case .tanh:
        for j in 0..<count { p[j] = tanh(p[j]) }
    default:
        for j in 0..<count { p[j] = a.apply(p[j]) }
    }
}

package func measureActivations(count: Int = 4096, repeats: Int = 2000) -> (sigmoid: Double, tanh: Double) {
    var v = (0..<count).map { Float($0 % 97) / 97 * 8 - 4 }
    func run(_ a: Activation) -> Double {
        let t0 = DispatchTime.now().uptimeNanoseconds
        v.withUnsafeMutableBufferPointer { p in
            for _ in 0..<repeats { Float.activateRun(a, p.baseAddress!, count) }
        }
        return Double(DispatchTime.now().uptimeNanoseconds - t0) / Double(count * repeats)
    }
    return (run(.sigmoid), run(.tanh))
}
