internal import CLSTMKernels
import Foundation
import LSTMCore

/// The element types the evaluator runs in: Double (the reference) and Float (fast path).
protocol EvalScalar: BinaryFloatingPoint, SIMDScalar, Codable, Sendable {
    static func activate(_ a: Activation, _ x: Self) -> Self
    static func from(_ d: Double) -> Self
    var asDouble: Double { get }
    static func tensorValues(_ t: ModelTensor) -> [Self]
    /// C[m, n] = A[m, k] · B[k, n] in this precision's kernel.
    static func gemm(_ a: UnsafePointer<Self>, _ b: UnsafePointer<Self>, _ c: UnsafeMutablePointer<Self>, m: Int, k: Int, n: Int, threads: Int)
    /// C[m, n] = A[m, k] · B[k, n] + bias[n]: each sum rounded, then the bias added (the bits of
    /// `gemm` followed by `c[i, j] += bias[j]`).
    static func gemm(_ a: UnsafePointer<Self>, _ b: UnsafePointer<Self>, _ c: UnsafeMutablePointer<Self>, m: Int, k: Int, n: Int,
                     threads: Int, bias: UnsafePointer<Self>)
}

extension Double: EvalScalar {
    @inline(__always) static func activate(_ a: Activation, _ x: Double) -> Double { a.apply(x) }
    @inline(__always) static func from(_ d: Double) -> Double { d }
    @inline(__always) var asDouble: Double { self }
    static func tensorValues(_ t: ModelTensor) -> [Double] {
        // The engine keeps its own packed copy: a memory-mapped tensor's pages may go.
        defer { t.releaseResidentPages() }
        return t.doubles()
    }
    /// The reference kernel: plain multiply-then-add in ascending k, never fused (C,
    /// vectorised across columns only, so its bits are those of `matmul`), one thread.
    static func gemm(_ a: UnsafePointer<Double>, _ b: UnsafePointer<Double>, _ c: UnsafeMutablePointer<Double>, m: Int, k: Int, n: Int, threads: Int) {
        lstmk_gemm_f64(a, b, c, m, k, n)
    }
    static func gemm(_ a: UnsafePointer<Double>, _ b: UnsafePointer<Double>, _ c: UnsafeMutablePointer<Double>, m: Int, k: Int, n: Int,
                     threads: Int, bias: UnsafePointer<Double>) {
        lstmk_gemm_bias_f64(a, b, bias, c, m, k, n)
    }
}

extension Float: EvalScalar {
    @inline(__always) static func activate(_ a: Activation, _ x: Float) -> Float { a.apply(x) }
    @inline(__always) static func from(_ d: Double) -> Float { Float(d) }
    @inline(__always) var asDouble: Double { Double(self) }
    static func tensorValues(_ t: ModelTensor) -> [Float] {
        defer { t.releaseResidentPages() }
        return t.floats()
    }
    static func gemm(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ c: UnsafeMutablePointer<Float>, m: Int, k: Int, n: Int, threads: Int) {
        fastMatmul(a, b, c, m: m, k: k, n: n, threads: threads)
    }
    static func gemm(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ c: UnsafeMutablePointer<Float>, m: Int, k: Int, n: Int,
                     threads: Int, bias: UnsafePointer<Float>) {
        fastMatmul(a, b, c, m: m, k: k, n: n, threads: threads, bias: bias)
    }
}

/// A weight matrix packed for the recurrent products (see `packed`). In the f64 reference path,
/// a large matrix (16 MiB or more as doubles: W_h of an LSTM from H ≈ 724) whose weights are all
/// exactly float32 — every model stored in float32, float16 or bfloat16 — is kept as float32
/// and widened exactly inside the kernel (`lstmk_gemm_f64_w32`): the same values, so the same
/// bits, at half the memory and half the bytes streamed per step. That pays where the product
/// is bound by reading W_h from L3 or memory (small batches, measured on Zen 4: 1 × 1024 × 4096
/// at 14.8 GFLOP/s against 6.8 as doubles); for matrices that stay in cache, and for W_x (products
/// of T·B rows), widening costs more than the bytes save (8 × 256 × 1024: 34 against 43).
struct PackedWeights<F: EvalScalar>: Sendable {
    /// The size as doubles from which an exactly-float32 matrix is kept as float32 only.
    static var narrowFromBytes: Int { 16 << 20 }

    /// The packed values in F; empty when only `narrow` holds them.
    let values: [F]
    /// The packed values as float32 (F = Double and every value exactly a float32), else empty.
    /// A smaller such matrix is kept both ways: the matrix–vector product of a batch of one
    /// (m = 1) streams the weights once per step from wherever they are, and half the bytes
    /// pay there (1 × 256 × 1024 from L3 on Zen 5: 0.011 ms against 0.021 as doubles), while
    /// from m = 8 on the doubles are faster (0.041 ms against 0.050 at 8 × 256 × 1024).
    let narrow: [Float]

    /// `narrow`: true keeps exactly-float32 weights as float32 only, false as F only; nil (the
    /// evaluator's choice) as float32 only when the matrix is large, else both ways.
    init(_ w: [F], rows n: Int, cols k: Int, narrow wantNarrow: Bool? = nil) {
        let exact = F.self == Double.self && wantNarrow != false && w.allSatisfy { Double(Float($0.asDouble)) == $0.asDouble }
        let narrowOnly = exact && (wantNarrow ?? (w.count * 8 >= Self.narrowFromBytes))
        narrow = exact ? packed(w.map { Float($0.asDouble) }, rows: n, cols: k) : []
        values = narrowOnly ? [] : packed(w, rows: n, cols: k)
    }

    var isEmpty: Bool { values.isEmpty && narrow.isEmpty }

    /// C[m, n] = A[m, k] · Wᵀ (C overwritten). `backwards` (f32, one thread): the column panels
    /// from the last to the first (see `gemmPanels`); the same bits either way.
    func multiply(_ a: UnsafePointer<F>, into c: UnsafeMutablePointer<F>, m: Int, k: Int, n: Int, threads: Int,
                  backwards: Bool = false) {
        guard m > 0, n > 0 else { return }
        guard k > 0 else { c.update(repeating: 0, count: m * n); return }
        if backwards, threads <= 1, F.self == Float.self {
            values.withUnsafeBufferPointer { wp in
                gemmPanels(UnsafeRawPointer(a).assumingMemoryBound(to: Float.self), UnsafeRawPointer(wp.baseAddress!).assumingMemoryBound(to: Float.self),
                           UnsafeMutableRawPointer(c).assumingMemoryBound(to: Float.self), m: m, k: k, n: n,
                           panels: 0..<((n + panelWidth - 1) / panelWidth), backwards: true)
            }
        } else if narrow.isEmpty || (!values.isEmpty && m > 1) {
            values.withUnsafeBufferPointer { F.gemm(a, $0.baseAddress!, c, m: m, k: k, n: n, threads: threads) }
        } else {
            narrow.withUnsafeBufferPointer { wp in
                lstmk_gemm_f64_w32(UnsafeRawPointer(a).assumingMemoryBound(to: Double.self), wp.baseAddress!,
                                   UnsafeMutableRawPointer(c).assumingMemoryBound(to: Double.self), m, k, n)
            }
        }
    }
}

/// Width of a column panel of a packed weight matrix.
let panelWidth = 16

/// Packs a row-major weight matrix W [n, k] (n outputs, k inputs) for C = A · Wᵀ: panels of
/// 16 outputs, each stored k-major ([k, 16], contiguous), the last one padded with zeros.
/// Done once per model at load time so that the kernels stream each panel linearly.
func packed<F: EvalScalar>(_ w: [F], rows n: Int, cols k: Int) -> [F] {
    precondition(w.count == n * k)
    let panels = (n + panelWidth - 1) / panelWidth
    var out = [F](repeating: 0, count: panels * k * panelWidth)
    for p in 0..<panels {
        for jj in 0..<panelWidth where p * panelWidth + jj < n {
            let row = (p * panelWidth + jj) * k
            for kk in 0..<k { out[(p * k + kk) * panelWidth + jj] = w[row + kk] }
        }
    }
    return out
}

/// The reference product C[m, n] = Σ_k A[m, k] · W[n, k] over a packed W (C is overwritten),
/// written out in Swift: the specification `lstmk_gemm_f64` must match bit for bit (tests).
/// Each element is summed in ascending k, one term at a time, multiply then add, never fused:
/// the same result on every run and every machine, which the f64 reference relies on.
@inline(__always)
func matmul<F: EvalScalar>(_ a: UnsafePointer<F>, _ b: UnsafePointer<F>, _ c: UnsafeMutablePointer<F>,
                           m: Int, k: Int, n: Int) {
    let panels = (n + panelWidth - 1) / panelWidth
    for i in 0..<m {
        let ai = a + i * k
        for p in 0..<panels {
            let panel = b + p * k * panelWidth
            withUnsafeTemporaryAllocation(of: F.self, capacity: panelWidth) { s in
                for jj in 0..<panelWidth { s[jj] = 0 }
                for kk in 0..<k {
                    let x = ai[kk]
                    let row = panel + kk * panelWidth
                    for jj in 0..<panelWidth { s[jj] = s[jj] + x * row[jj] }
                }
                for jj in 0..<Swift.min(panelWidth, n - p * panelWidth) { c[i * n + p * panelWidth + jj] = s[jj] }
            }
        }
    }
}
