import Dispatch
import Foundation

/// The float32 matrix product of the fast path: C[m, n] = Σ_k A[m, k] · W[n, k], with W packed
/// into 16-column panels (`packed`).
///
/// Blocked as in GotoBLAS: rows of A in blocks of `rowBlock` (kept in L2), k in blocks of
/// `depthBlock` (a panel's slice, 16 KiB, stays in L1), and a register tile of 6 rows × 16
/// columns (twelve SIMD8 accumulators, enough independent chains to keep both FMA pipes
/// busy). The summation order is not the reference's: each depth block of 256 terms is summed
/// from zero and its partial sum added to C, a single row keeps even and odd k apart, and
/// with fused multiply-add (built for a CPU that has it, see Package.swift) each term is
/// fused. Results therefore differ from the reference path by float32 rounding; they do not
/// depend on the thread count.
func fastMatmul(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ c: UnsafeMutablePointer<Float>,
                m: Int, k: Int, n: Int, threads: Int) {
    let panels = (n + panelWidth - 1) / panelWidth
    // Threads share the column panels; every element is still computed by one thread in the
    // same order, so the result does not depend on the thread count. Below ~4 MFLOP the
    // hand-off costs more than it saves (batch 1 with small H).
    guard threads > 1, panels >= 2 * threads, 2 * m * k * n >= 4_000_000 else {
        matmulPanels(a, b, c, m: m, k: k, n: n, panels: 0..<panels)
        return
    }
    let share = (panels + threads - 1) / threads
    let ap = UnsafeSendablePointer(a), bp = UnsafeSendablePointer(b), cp = UnsafeSendableMutablePointer(c)
    DispatchQueue.concurrentPerform(iterations: threads) { t in
        let lo = t * share, hi = Swift.min(panels, lo + share)
        if lo < hi { matmulPanels(ap.p, bp.p, cp.p, m: m, k: k, n: n, panels: lo..<hi) }
    }
}

/// Pointers handed to the worker threads of one product; each thread writes its own columns.
private struct UnsafeSendablePointer: @unchecked Sendable { let p: UnsafePointer<Float>; init(_ p: UnsafePointer<Float>) { self.p = p } }
private struct UnsafeSendableMutablePointer: @unchecked Sendable {
    let p: UnsafeMutablePointer<Float>
    init(_ p: UnsafeMutablePointer<Float>) { self.p = p }
}

private func matmulPanels(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ c: UnsafeMutablePointer<Float>,
                          m: Int, k: Int, n: Int, panels: Range<Int>) {
    let rowBlock = 96, depthBlock = 256
    var i0 = 0
    while i0 < m {
        let i1 = Swift.min(m, i0 + rowBlock)
        var k0 = 0
        repeat {
            let kc = Swift.min(depthBlock, k - k0)
            let accumulate = k0 > 0
            for p in panels {
                let panel = b + (p * k + k0) * panelWidth
                let cols = Swift.min(panelWidth, n - p * panelWidth)
                var i = i0
                // Six-row tiles, but 8 leftover rows go as two four-row tiles rather than 6 + 1 + 1.
                while i1 - i >= 6 && i1 - i != 8 {
                    tile6(a + i * k + k0, k, panel, kc, c + i * n + p * panelWidth, n, cols, accumulate)
                    i += 6
                }
                while i1 - i >= 4 {
                    tile4(a + i * k + k0, k, panel, kc, c + i * n + p * panelWidth, n, cols, accumulate)
                    i += 4
                }
                while i < i1 {
                    tile1(a + i * k + k0, panel, kc, c + i * n + p * panelWidth, cols, accumulate)
                    i += 1
                }
            }
            k0 += kc
        } while k0 < k
        i0 = i1
    }
}

@inline(__always)
private func tile6(_ a: UnsafePointer<Float>, _ lda: Int, _ panel: UnsafePointer<Float>, _ kc: Int,
                   _ c: UnsafeMutablePointer<Float>, _ ldc: Int, _ cols: Int, _ accumulate: Bool) {
    let a0 = a, a1 = a0 + lda, a2 = a1 + lda, a3 = a2 + lda, a4 = a3 + lda, a5 = a4 + lda
    var c00 = SIMD8<Float>(), c01 = SIMD8<Float>(), c10 = SIMD8<Float>(), c11 = SIMD8<Float>()
    var c20 = SIMD8<Float>(), c21 = SIMD8<Float>(), c30 = SIMD8<Float>(), c31 = SIMD8<Float>()
    var c40 = SIMD8<Float>(), c41 = SIMD8<Float>(), c50 = SIMD8<Float>(), c51 = SIMD8<Float>()
    var bp = panel
    for kk in 0..<kc {
        let b0 = UnsafeRawPointer(bp).loadUnaligned(as: SIMD8<Float>.self)
        let b1 = UnsafeRawPointer(bp + 8).loadUnaligned(as: SIMD8<Float>.self)
        var x = SIMD8<Float>(repeating: a0[kk]); c00 = fma8(c00, x, b0); c01 = fma8(c01, x, b1)
        x = SIMD8<Float>(repeating: a1[kk]); c10 = fma8(c10, x, b0); c11 = fma8(c11, x, b1)
        x = SIMD8<Float>(repeating: a2[kk]); c20 = fma8(c20, x, b0); c21 = fma8(c21, x, b1)
        x = SIMD8<Float>(repeating: a3[kk]); c30 = fma8(c30, x, b0); c31 = fma8(c31, x, b1)
        x = SIMD8<Float>(repeating: a4[kk]); c40 = fma8(c40, x, b0); c41 = fma8(c41, x, b1)
        x = SIMD8<Float>(repeating: a5[kk]); c50 = fma8(c50, x, b0); c51 = fma8(c51, x, b1)
        bp += panelWidth
    }
    store16(c00, c01, c, cols, accumulate)
    store16(c10, c11, c + ldc, cols, accumulate)
    store16(c20, c21, c + 2 * ldc, cols, accumulate)
    store16(c30, c31, c + 3 * ldc, cols, accumulate)
    store16(c40, c41, c + 4 * ldc, cols, accumulate)
    store16(c50, c51, c + 5 * ldc, cols, accumulate)
}

@inline(__always)
private func tile4(_ a: UnsafePointer<Float>, _ lda: Int, _ panel: UnsafePointer<Float>, _ kc: Int,
                   _ c: UnsafeMutablePointer<Float>, _ ldc: Int, _ cols: Int, _ accumulate: Bool) {
    let a0 = a, a1 = a0 + lda, a2 = a1 + lda, a3 = a2 + lda
    var c00 = SIMD8<Float>(), c01 = SIMD8<Float>(), c10 = SIMD8<Float>(), c11 = SIMD8<Float>()
    var c20 = SIMD8<Float>(), c21 = SIMD8<Float>(), c30 = SIMD8<Float>(), c31 = SIMD8<Float>()
    var bp = panel
    for kk in 0..<kc {
        let b0 = UnsafeRawPointer(bp).loadUnaligned(as: SIMD8<Float>.self)
        let b1 = UnsafeRawPointer(bp + 8).loadUnaligned(as: SIMD8<Float>.self)
        var x = SIMD8<Float>(repeating: a0[kk]); c00 = fma8(c00, x, b0); c01 = fma8(c01, x, b1)
        x = SIMD8<Float>(repeating: a1[kk]); c10 = fma8(c10, x, b0); c11 = fma8(c11, x, b1)
        x = SIMD8<Float>(repeating: a2[kk]); c20 = fma8(c20, x, b0); c21 = fma8(c21, x, b1)
        x = SIMD8<Float>(repeating: a3[kk]); c30 = fma8(c30, x, b0); c31 = fma8(c31, x, b1)
        bp += panelWidth
    }
    store16(c00, c01, c, cols, accumulate)
    store16(c10, c11, c + ldc, cols, accumulate)
    store16(c20, c21, c + 2 * ldc, cols, accumulate)
    store16(c30, c31, c + 3 * ldc, cols, accumulate)
}

/// One row against one panel; two interleaved accumulator pairs (even and odd k) give four
/// independent chains, and are added at the end.
@inline(__always)
private func tile1(_ a: UnsafePointer<Float>, _ panel: UnsafePointer<Float>, _ kc: Int,
                   _ c: UnsafeMutablePointer<Float>, _ cols: Int, _ accumulate: Bool) {
    var s0 = SIMD8<Float>(), s1 = SIMD8<Float>(), t0 = SIMD8<Float>(), t1 = SIMD8<Float>()
    var bp = panel
    var kk = 0
    while kk + 2 <= kc {
        let x = SIMD8<Float>(repeating: a[kk]), y = SIMD8<Float>(repeating: a[kk + 1])
        s0 = fma8(s0, x, UnsafeRawPointer(bp).loadUnaligned(as: SIMD8<Float>.self))
        s1 = fma8(s1, x, UnsafeRawPointer(bp + 8).loadUnaligned(as: SIMD8<Float>.self))
        t0 = fma8(t0, y, UnsafeRawPointer(bp + 16).loadUnaligned(as: SIMD8<Float>.self))
        t1 = fma8(t1, y, UnsafeRawPointer(bp + 24).loadUnaligned(as: SIMD8<Float>.self))
        bp += 2 * panelWidth
        kk += 2
    }
    if kk < kc {
        let x = SIMD8<Float>(repeating: a[kk])
        s0 = fma8(s0, x, UnsafeRawPointer(bp).loadUnaligned(as: SIMD8<Float>.self))
        s1 = fma8(s1, x, UnsafeRawPointer(bp + 8).loadUnaligned(as: SIMD8<Float>.self))
    }
    store16(s0 + t0, s1 + t1, c, cols, accumulate)
}

/// Writes (or adds) 16 results; a last, partial panel writes only its valid columns.
@inline(__always)
private func store16(_ lo: SIMD8<Float>, _ hi: SIMD8<Float>, _ c: UnsafeMutablePointer<Float>, _ cols: Int, _ accumulate: Bool) {
    if cols == panelWidth {
        let r = UnsafeMutableRawPointer(c)
        if accumulate {
            r.storeBytes(of: r.loadUnaligned(as: SIMD8<Float>.self) + lo, as: SIMD8<Float>.self)
            r.storeBytes(of: r.loadUnaligned(fromByteOffset: 32, as: SIMD8<Float>.self) + hi, toByteOffset: 32, as: SIMD8<Float>.self)
        } else {
            r.storeBytes(of: lo, as: SIMD8<Float>.self)
            r.storeBytes(of: hi, toByteOffset: 32, as: SIMD8<Float>.self)
        }
        return
    }
    for j in 0..<cols {
        let v = j < 8 ? lo[j] : hi[j - 8]
        c[j] = accumulate ? c[j] + v : v
    }
}

#if LSTMTOOL_FMA
@inline(__always) private func fma8(_ acc: SIMD8<Float>, _ x: SIMD8<Float>, _ y: SIMD8<Float>) -> SIMD8<Float> {
    acc.addingProduct(x, y)
}
#else
// Without hardware FMA a fused product would call libm per lane; multiply and add instead.
@inline(__always) private func fma8(_ acc: SIMD8<Float>, _ x: SIMD8<Float>, _ y: SIMD8<Float>) -> SIMD8<Float> { acc + x * y }
#endif

/// GFLOP/s of the f32 kernel on an m×k by k×n product (for tools/bench_eval.py diagnostics).
package func measureFastGEMM(m: Int, k: Int, n: Int, repeats: Int) -> Double {
    let a = [Float](repeating: 0.5, count: m * k)
    let b = packed([Float](repeating: 0.25, count: k * n), rows: n, cols: k)
    var c = [Float](repeating: 0, count: m * n)
    var best = Double.infinity
    for _ in 0..<repeats {
        let t0 = DispatchTime.now().uptimeNanoseconds
        a.withUnsafeBufferPointer { ap in b.withUnsafeBufferPointer { bp in c.withUnsafeMutableBufferPointer { cp in
            fastMatmul(ap.baseAddress!, bp.baseAddress!, cp.baseAddress!, m: m, k: k, n: n, threads: 1)
        } } }
        best = Swift.min(best, Double(DispatchTime.now().uptimeNanoseconds - t0))
    }
    return 2.0 * Double(m * k * n) / best
}
