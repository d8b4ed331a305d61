internal import CLSTMKernels
import Dispatch
import Foundation

/// The float32 matrix product of the fast path: C[m, n] = Σ_k A[m, k] · W[n, k], with W packed
/// into 16-column panels (`packed`), computed by the C kernels of `CLSTMKernels` on the path
/// chosen at run time (`KernelPath`).
///
/// Every element is one chain over k in ascending order from 0: fused multiply-adds on the
/// avx2 / avx512 / neon paths, multiply-then-add on the portable path. So its bits depend on
/// the path only — not on m, on the register tile or thread it falls in, or on depth blocking
/// (docs/CELLS.md §11.2). `threads` > 1 splits the column panels of large products.
///
/// `bias` (n values, or nil): added to every row as the product is stored, the sum rounded first:
/// the bits of a second pass `c[i, j] += bias[j]`, without that pass over C.
func fastMatmul(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ c: UnsafeMutablePointer<Float>,
                m: Int, k: Int, n: Int, threads: Int, bias: UnsafePointer<Float>? = nil) {
    let panels = (n + panelWidth - 1) / panelWidth
    // Below ~1 MFLOP (≈ 10 µs of work on one core) sharing costs more than it saves, even with
    // the pool's workers awake (a hand-off and a wait for the last block, each a few hundred
    // ns, plus the cache misses of the other core's columns).
    guard threads > 1, panels >= 2 * threads, 2 * m * k * n >= ParallelTuning.productSplitFlops else {
        lstmk_gemm_bias_f32(a, b, bias, c, m, k, n, 0, panels)
        return
    }
    // Blocks of panels taken as they come: this thread starts at once and never waits for a
    // worker to wake up.
    lstmk_gemm_bias_f32_threads(a, b, bias, c, m, k, n, Int32(Swift.min(threads, 64)))
}

/// Column panels `panels` of the f32 product on this thread; `backwards` computes them in blocks
/// of 8 panels from the last block to the first. A recurrent product that alternates direction
/// from step to step starts each step on the weights the step before read last, which are
/// still in this core's L2: W_h of 4 MiB (LSTM H = 512) at B = 1 on Zen 5, 38.6 µs per step
/// against 46.5 in one direction; no change where W_h is 16 MiB. Each element is the same chain
/// whichever block it falls in, so the bits do not change.
@inline(__always)
func gemmPanels(_ a: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ c: UnsafeMutablePointer<Float>,
                m: Int, k: Int, n: Int, panels: Range<Int>, backwards: Bool) {
    guard backwards else {
        lstmk_gemm_f32(a, w, c, m, k, n, panels.lowerBound, panels.upperBound)
        return
    }
    var hi = panels.upperBound
    while hi > panels.lowerBound {
        let lo = Swift.max(panels.lowerBound, hi - 8)
        lstmk_gemm_f32(a, w, c, m, k, n, lo, hi)
        hi = lo
    }
}

/// The instruction-set path of the f32 kernels. Chosen once, on first use: the environment
/// variable LSTMTOOL_KERNEL (portable, avx2, avx512, neon) when this CPU supports it, else the
/// best path it supports. `force` changes it (tests and benchmarks; not while products run).
package enum KernelPath: Int32, CaseIterable, Sendable {
    case portable = 0, avx2 = 1, avx512 = 2, neon = 3

    /// The path in use.
    package static var current: KernelPath { KernelPath(rawValue: lstmk_path()) ?? .portable }
    /// The paths this CPU can run.
    package static var supported: [KernelPath] { allCases.filter { lstmk_path_supported($0.rawValue) != 0 } }
    /// Uses `path` from now on (nil: the best supported); false, and no change, if unsupported.
    @discardableResult
    package static func force(_ path: KernelPath?) -> Bool { lstmk_force_path(path?.rawValue ?? -1) == 0 }
    /// "portable", "avx2", "avx512" or "neon", as LSTMTOOL_KERNEL spells it.
    package var name: String { String(cString: lstmk_path_name(rawValue)) }
}

/// GFLOP/s of the f32 kernel, on the current path with `threads` threads, on an m×k by k×n
/// product (for tools/bench_eval.py and `lstmbench --gemm`). Best of `repeats`.
package func measureFastGEMM(m: Int, k: Int, n: Int, repeats: Int, threads: Int = 1) -> Double {
    let a = [Float](repeating: 0.5, count: m * k)
    let b = packed([Float](repeating: 0.25, count: k * n), rows: n, cols: k)
    var c = [Float](repeating: 0, count: m * n)
    var best = Double.infinity
    // Small products are timed over enough calls to take about a millisecond.
    let calls = Swift.max(1, 1_000_000 / Swift.max(1, 2 * m * k * n / 10))
    for _ in 0..<repeats {
        let t0 = DispatchTime.now().uptimeNanoseconds
        a.withUnsafeBufferPointer { ap in b.withUnsafeBufferPointer { bp in c.withUnsafeMutableBufferPointer { cp in
            for _ in 0..<calls {
                fastMatmul(ap.baseAddress!, bp.baseAddress!, cp.baseAddress!, m: m, k: k, n: n, threads: threads)
            }
        } } }
        best = Swift.min(best, Double(DispatchTime.now().uptimeNanoseconds - t0) / Double(calls))
    }
    return 2.0 * Double(m * k * n) / best
}

/// GFLOP/s of the f64 reference product on an m×k by k×n product, on the current path, with the
/// weights packed as doubles or (`float32Weights`) as float32 widened in the kernel. Best of
/// `repeats` (for `lstmbench --gemm MxKxN --precision f64 [--float32-weights]`).
package func measureReferenceGEMM(m: Int, k: Int, n: Int, repeats: Int, float32Weights: Bool) -> Double {
    let a = (0..<(m * k)).map { Double($0 % 7) * 0.1 }
    let w = PackedWeights<Double>((0..<(k * n)).map { Double(Float(Double($0 % 5) * 0.1)) }, rows: n, cols: k,
                                  narrow: float32Weights)
    var c = [Double](repeating: 0, count: m * n)
    var best = Double.infinity
    let calls = Swift.max(1, 1_000_000 / Swift.max(1, 2 * m * k * n / 10))
    for _ in 0..<repeats {
        let t0 = DispatchTime.now().uptimeNanoseconds
        a.withUnsafeBufferPointer { ap in c.withUnsafeMutableBufferPointer { cp in
            for _ in 0..<calls { w.multiply(ap.baseAddress!, into: cp.baseAddress!, m: m, k: k, n: n, threads: 1) }
        } }
        best = Swift.min(best, Double(DispatchTime.now().uptimeNanoseconds - t0) / Double(calls))
    }
    return 2.0 * Double(m * k * n) / best
}
