internal import CLSTMKernels
import Dispatch
import Foundation
import LSTMCore

/// Activations over contiguous runs of values. The f32 path evaluates sigmoid and tanh with
/// the vector kernels of `CLSTMKernels` (our own float32 exp, on the path chosen at run time),
/// the f64 path with the reference sigmoid and tanh of `CLSTMKernels`; everything else goes
/// element by element through `Activation.apply` (libm).
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

/// The f64 path's sigmoid and tanh: the reference path's own functions (`CLSTMKernels`,
/// docs/CELLS.md §8), built from correctly rounded +, −, ×, ÷ only, so their bits are the same
/// on every CPU path and platform (libm's may differ between platforms in the last bit).
/// Everything else goes through `Activation.apply` (libm).
@inline(__always)
func activateDoubleRun(_ a: Activation, _ p: UnsafeMutablePointer<Double>, _ count: Int) {
    switch a.kind {
    case .sigmoid:
        lstmk_sigmoid_f64(p, count)
    case .tanh:
        lstmk_tanh_f64(p, count)
    default:
        for j in 0..<count { p[j] = a.apply(p[j]) }
    }
}

/// Nanoseconds per value of the f32 and f64 sigmoid and tanh runs, on the current path (for
/// `lstmbench --activations`).
package func measureActivations(count: Int = 4096, repeats: Int = 2000) -> (sigmoid: Double, tanh: Double, sigmoid64: Double, tanh64: Double) {
    var v = (0..<count).map { Float($0 % 97) / 97 * 8 - 4 }
    var d = v.map(Double.init)
    func run<F: EvalScalar>(_ a: Activation, _ v: inout [F]) -> Double {
        let t0 = DispatchTime.now().uptimeNanoseconds
        v.withUnsafeMutableBufferPointer { p in
            for _ in 0..<repeats { F.activateRun(a, p.baseAddress!, count) }
        }
        return Double(DispatchTime.now().uptimeNanoseconds - t0) / Double(count * repeats)
    }
    return (run(.sigmoid, &v), run(.tanh, &v), run(.sigmoid, &d), run(.tanh, &d))
}
