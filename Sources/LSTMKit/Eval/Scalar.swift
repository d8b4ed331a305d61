import Foundation
import LSTMCore

/// The element types the evaluator runs in: Double (the reference) and Float (fast path).
public protocol EvalScalar: BinaryFloatingPoint, SIMDScalar, Sendable {
    static func activate(_ a: Activation, _ x: Self) -> Self
    static func from(_ d: Double) -> Self
    var asDouble: Double { get }
    static func tensorValues(_ t: Tensor) -> [Self]
    /// C[m, n] = A[m, k] · B[k, n] in this precision's kernel.
    static func gemm(_ a: UnsafePointer<Self>, _ b: UnsafePointer<Self>, _ c: UnsafeMutablePointer<Self>, m: Int, k: Int, n: Int)
}

extension Double: EvalScalar {
    @inline(__always) public static func activate(_ a: Activation, _ x: Double) -> Double { a.apply(x) }
    @inline(__always) public static func from(_ d: Double) -> Double { d }
    @inline(__always) public var asDouble: Double { self }
    public static func tensorValues(_ t: Tensor) -> [Double] { t.doubles() }
    /// The reference kernel: plain multiply-then-add in ascending k, never fused.
    public static func gemm(_ a: UnsafePointer<Double>, _ b: UnsafePointer<Double>, _ c: UnsafeMutablePointer<Double>, m: Int, k: Int, n: Int) {
        matmul(a, b, c, m: m, k: k, n: n)
    }
}

extension Float: EvalScalar {
    @inline(__always) public static func activate(_ a: Activation, _ x: Float) -> Float { a.apply(x) }
    @inline(__always) public static func from(_ d: Double) -> Float { Float(d) }
    @inline(__always) public var asDouble: Double { Double(self) }
    public static func tensorValues(_ t: Tensor) -> [Float] { t.floats() }
    public static func gemm(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ c: UnsafeMutablePointer<Float>, m: Int, k: Int, n: Int) {
        fastMatmul(a, b, c, m: m, k: k, n: n)
    }
}

/// C[m, n] = Σ_k A[m, k] · B[k, n] (C is overwritten). Each output element is summed in
/// ascending k, one term at a time, without fused multiply-add: the result is the same on
/// every run and every machine, which the f64 reference relies on. Four rows of A share each
/// load of B's row, and the inner loop over n is vectorised by the compiler.
@inline(__always)
func matmul<F: EvalScalar>(_ a: UnsafePointer<F>, _ b: UnsafePointer<F>, _ c: UnsafeMutablePointer<F>,
                           m: Int, k: Int, n: Int) {
    var i = 0
    while i + 4 <= m {
        let c0 = c + i * n, c1 = c0 + n, c2 = c1 + n, c3 = c2 + n
        let a0 = a + i * k, a1 = a0 + k, a2 = a1 + k, a3 = a2 + k
        for j in 0..<n { c0[j] = 0; c1[j] = 0; c2[j] = 0; c3[j] = 0 }
        for kk in 0..<k {
            let brow = b + kk * n
            let x0 = a0[kk], x1 = a1[kk], x2 = a2[kk], x3 = a3[kk]
            for j in 0..<n {
                let bv = brow[j]
                c0[j] = c0[j] + x0 * bv
                c1[j] = c1[j] + x1 * bv
                c2[j] = c2[j] + x2 * bv
                c3[j] = c3[j] + x3 * bv
            }
        }
        i += 4
    }
    while i < m {
        let ci = c + i * n
        let ai = a + i * k
        for j in 0..<n { ci[j] = 0 }
        for kk in 0..<k {
            let brow = b + kk * n
            let x = ai[kk]
            for j in 0..<n { ci[j] = ci[j] + x * brow[j] }
        }
        i += 1
    }
}

/// Transposes a row-major [rows, cols] matrix into [cols, rows].
func transposed<F>(_ v: [F], rows: Int, cols: Int) -> [F] {
    precondition(v.count == rows * cols)
    if v.isEmpty { return v }
    var out = v
    for r in 0..<rows {
        for c in 0..<cols { out[c * rows + r] = v[r * cols + c] }
    }
    return out
}
