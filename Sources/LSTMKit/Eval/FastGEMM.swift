import Dispatch
/// The float32 matrix product of the fast path: C[m, n] = A[m, k] · B[k, n].
///
/// Register tiles of 6 rows × 16 columns (twelve SIMD8 accumulators) walk down k, so each
/// load of B feeds six rows and each broadcast of A feeds sixteen columns. Each element is
/// still summed in ascending k, so results do not depend on the tiling; with fused
/// multiply-add (built for a CPU that has it, see Package.swift) they differ from the
/// reference path by float32 rounding only.
@inline(__always)
func fastMatmul(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ c: UnsafeMutablePointer<Float>,
                m: Int, k: Int, n: Int) {
    let n16 = n / 16 * 16
    var i = 0
    // 6 × 16 tiles: twelve accumulators, enough independent chains to keep both FMA pipes busy.
    while i + 6 <= m {
        let a0 = a + i * k, a1 = a0 + k, a2 = a1 + k, a3 = a2 + k, a4 = a3 + k, a5 = a4 + k
        var j = 0
        while j < n16 {
            var c00 = SIMD8<Float>(), c01 = SIMD8<Float>(), c10 = SIMD8<Float>(), c11 = SIMD8<Float>()
            var c20 = SIMD8<Float>(), c21 = SIMD8<Float>(), c30 = SIMD8<Float>(), c31 = SIMD8<Float>()
            var c40 = SIMD8<Float>(), c41 = SIMD8<Float>(), c50 = SIMD8<Float>(), c51 = SIMD8<Float>()
            var bp = b + j
            for kk in 0..<k {
                let b0 = UnsafeRawPointer(bp).loadUnaligned(as: SIMD8<Float>.self)
                let b1 = UnsafeRawPointer(bp + 8).loadUnaligned(as: SIMD8<Float>.self)
                var x = SIMD8<Float>(repeating: a0[kk]); c00 = fma8(c00, x, b0); c01 = fma8(c01, x, b1)
                x = SIMD8<Float>(repeating: a1[kk]); c10 = fma8(c10, x, b0); c11 = fma8(c11, x, b1)
                x = SIMD8<Float>(repeating: a2[kk]); c20 = fma8(c20, x, b0); c21 = fma8(c21, x, b1)
                x = SIMD8<Float>(repeating: a3[kk]); c30 = fma8(c30, x, b0); c31 = fma8(c31, x, b1)
                x = SIMD8<Float>(repeating: a4[kk]); c40 = fma8(c40, x, b0); c41 = fma8(c41, x, b1)
                x = SIMD8<Float>(repeating: a5[kk]); c50 = fma8(c50, x, b0); c51 = fma8(c51, x, b1)
                bp += n
            }
            let o = c + i * n + j
            store8(c00, o); store8(c01, o + 8); store8(c10, o + n); store8(c11, o + n + 8)
            store8(c20, o + 2 * n); store8(c21, o + 2 * n + 8); store8(c30, o + 3 * n); store8(c31, o + 3 * n + 8)
            store8(c40, o + 4 * n); store8(c41, o + 4 * n + 8); store8(c50, o + 5 * n); store8(c51, o + 5 * n + 8)
            j += 16
        }
        if j < n { edgeColumns(a + i * k, b, c + i * n, rows: 6, k: k, n: n, from: j) }
        i += 6
    }
    while i + 4 <= m {
        let a0 = a + i * k, a1 = a0 + k, a2 = a1 + k, a3 = a2 + k
        var j = 0
        while j < n16 {
            var c00 = SIMD8<Float>(), c01 = SIMD8<Float>()
            var c10 = SIMD8<Float>(), c11 = SIMD8<Float>()
            var c20 = SIMD8<Float>(), c21 = SIMD8<Float>()
            var c30 = SIMD8<Float>(), c31 = SIMD8<Float>()
            var bp = b + j
            for kk in 0..<k {
                let b0 = UnsafeRawPointer(bp).loadUnaligned(as: SIMD8<Float>.self)
                let b1 = UnsafeRawPointer(bp + 8).loadUnaligned(as: SIMD8<Float>.self)
                let x0 = SIMD8<Float>(repeating: a0[kk]), x1 = SIMD8<Float>(repeating: a1[kk])
                let x2 = SIMD8<Float>(repeating: a2[kk]), x3 = SIMD8<Float>(repeating: a3[kk])
                c00 = fma8(c00, x0, b0); c01 = fma8(c01, x0, b1)
                c10 = fma8(c10, x1, b0); c11 = fma8(c11, x1, b1)
                c20 = fma8(c20, x2, b0); c21 = fma8(c21, x2, b1)
                c30 = fma8(c30, x3, b0); c31 = fma8(c31, x3, b1)
                bp += n
            }
            store8(c00, c + i * n + j); store8(c01, c + i * n + j + 8)
            store8(c10, c + (i + 1) * n + j); store8(c11, c + (i + 1) * n + j + 8)
            store8(c20, c + (i + 2) * n + j); store8(c21, c + (i + 2) * n + j + 8)
            store8(c30, c + (i + 3) * n + j); store8(c31, c + (i + 3) * n + j + 8)
            j += 16
        }
        if j < n { edgeColumns(a + i * k, b, c + i * n, rows: 4, k: k, n: n, from: j) }
        i += 4
    }
    // Leftover rows (batch 1 lands here): one row at a time, 64 or 32 columns per pass, so
    // that enough independent accumulators hide the latency of the fused multiply-add.
    while i < m {
        let ai = a + i * k
        var j = 0
        while j + 64 <= n {
            var s0 = SIMD8<Float>(), s1 = SIMD8<Float>(), s2 = SIMD8<Float>(), s3 = SIMD8<Float>()
            var s4 = SIMD8<Float>(), s5 = SIMD8<Float>(), s6 = SIMD8<Float>(), s7 = SIMD8<Float>()
            var bp = b + j
            for kk in 0..<k {
                let x = SIMD8<Float>(repeating: ai[kk])
                s0 = fma8(s0, x, UnsafeRawPointer(bp).loadUnaligned(as: SIMD8<Float>.self))
                s1 = fma8(s1, x, UnsafeRawPointer(bp + 8).loadUnaligned(as: SIMD8<Float>.self))
                s2 = fma8(s2, x, UnsafeRawPointer(bp + 16).loadUnaligned(as: SIMD8<Float>.self))
                s3 = fma8(s3, x, UnsafeRawPointer(bp + 24).loadUnaligned(as: SIMD8<Float>.self))
                s4 = fma8(s4, x, UnsafeRawPointer(bp + 32).loadUnaligned(as: SIMD8<Float>.self))
                s5 = fma8(s5, x, UnsafeRawPointer(bp + 40).loadUnaligned(as: SIMD8<Float>.self))
                s6 = fma8(s6, x, UnsafeRawPointer(bp + 48).loadUnaligned(as: SIMD8<Float>.self))
                s7 = fma8(s7, x, UnsafeRawPointer(bp + 56).loadUnaligned(as: SIMD8<Float>.self))
                bp += n
            }
            let o = c + i * n + j
            store8(s0, o); store8(s1, o + 8); store8(s2, o + 16); store8(s3, o + 24)
            store8(s4, o + 32); store8(s5, o + 40); store8(s6, o + 48); store8(s7, o + 56)
            j += 64
        }
        while j + 32 <= n {
            var s0 = SIMD8<Float>(), s1 = SIMD8<Float>(), s2 = SIMD8<Float>(), s3 = SIMD8<Float>()
            var bp = b + j
            for kk in 0..<k {
                let x = SIMD8<Float>(repeating: ai[kk])
                s0 = fma8(s0, x, UnsafeRawPointer(bp).loadUnaligned(as: SIMD8<Float>.self))
                s1 = fma8(s1, x, UnsafeRawPointer(bp + 8).loadUnaligned(as: SIMD8<Float>.self))
                s2 = fma8(s2, x, UnsafeRawPointer(bp + 16).loadUnaligned(as: SIMD8<Float>.self))
                s3 = fma8(s3, x, UnsafeRawPointer(bp + 24).loadUnaligned(as: SIMD8<Float>.self))
                bp += n
            }
            store8(s0, c + i * n + j); store8(s1, c + i * n + j + 8)
            store8(s2, c + i * n + j + 16); store8(s3, c + i * n + j + 24)
            j += 32
        }
        if j < n { edgeColumns(ai, b, c + i * n, rows: 1, k: k, n: n, from: j) }
        i += 1
    }
}

@inline(__always)
private func edgeColumns(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ c: UnsafeMutablePointer<Float>,
                         rows: Int, k: Int, n: Int, from j0: Int) {
    for r in 0..<rows {
        let ar = a + r * k, cr = c + r * n
        for j in j0..<n { cr[j] = 0 }
        for kk in 0..<k {
            let x = ar[kk]
            let br = b + kk * n
            for j in j0..<n { cr[j] = fma1(cr[j], x, br[j]) }
        }
    }
}

@inline(__always)
private func store8(_ v: SIMD8<Float>, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD8<Float>.self)
}

#if LSTMTOOL_FMA
@inline(__always) private func fma8(_ acc: SIMD8<Float>, _ x: SIMD8<Float>, _ y: SIMD8<Float>) -> SIMD8<Float> {
    acc.addingProduct(x, y)
}
@inline(__always) private func fma1(_ acc: Float, _ x: Float, _ y: Float) -> Float { acc.addingProduct(x, y) }
#else
// Without hardware FMA a fused product would call libm per lane; multiply and add instead.
@inline(__always) private func fma8(_ acc: SIMD8<Float>, _ x: SIMD8<Float>, _ y: SIMD8<Float>) -> SIMD8<Float> { acc + x * y }
@inline(__always) private func fma1(_ acc: Float, _ x: Float, _ y: Float) -> Float { acc + x * y }
#endif

/// GFLOP/s of the f32 kernel on an m×k by k×n product (for tools/bench_eval.py diagnostics).
public func measureFastGEMM(m: Int, k: Int, n: Int, repeats: Int) -> Double {
    let a = [Float](repeating: 0.5, count: m * k), b = [Float](repeating: 0.25, count: k * n)
    var c = [Float](repeating: 0, count: m * n)
    var best = Double.infinity
    for _ in 0..<repeats {
        let t0 = DispatchTime.now().uptimeNanoseconds
        a.withUnsafeBufferPointer { ap in b.withUnsafeBufferPointer { bp in c.withUnsafeMutableBufferPointer { cp in
            fastMatmul(ap.baseAddress!, bp.baseAddress!, cp.baseAddress!, m: m, k: k, n: n)
        } } }
        best = Swift.min(best, Double(DispatchTime.now().uptimeNanoseconds - t0))
    }
    return 2.0 * Double(m * k * n) / best
}
