import CLSTMKernels
import Foundation
import XCTest
@testable import LSTMKit

/// The C kernels of the f32 path (Sources/CLSTMKernels), on every path this CPU supports:
/// the matrix product against a float64 product and against its summation rule, bit for bit
/// independence from the row tile, m and the thread split, and sigmoid/tanh against libm.
final class KernelTests: XCTestCase {
    /// Runs `body` once per path this CPU supports, with that path forced, then goes back to
    /// the automatic choice.
    func forEachPath(_ body: (KernelPath) throws -> Void) rethrows {
        defer { KernelPath.force(nil) }
        let paths = KernelPath.supported
        XCTAssertTrue(paths.contains(.portable))
        for p in paths {
            XCTAssertTrue(KernelPath.force(p), p.name)
            XCTAssertEqual(KernelPath.current, p)
            try body(p)
        }
    }

    func random(_ count: Int, _ rng: inout KitTest.RNG) -> [Float] { (0..<count).map { _ in Float(rng.uniform(1)) } }

    /// C = A · Wᵀ through `fastMatmul` (W row-major [n, k], packed here).
    func product(_ a: [Float], _ w: [Float], m: Int, k: Int, n: Int, threads: Int = 1) -> [Float] {
        let pw = packed(w, rows: n, cols: k)
        var c = [Float](repeating: .nan, count: m * n)
        a.withUnsafeBufferPointer { ap in pw.withUnsafeBufferPointer { bp in c.withUnsafeMutableBufferPointer { cp in
            fastMatmul(ap.baseAddress!, bp.baseAddress!, cp.baseAddress!, m: m, k: k, n: n, threads: threads)
        } } }
        return c
    }

    /// Every path's product against a float64 product, on odd shapes: each element within the
    /// classical bound for a float32 sum of k products, |c − c₆₄| ≤ (k + 2)·2⁻²⁴·Σ_k |a·w|
    /// (in practice far inside it). Some shapes are also checked bit for bit against the
    /// summation rule of the path (docs/CELLS.md §11.2): one chain over ascending k from 0,
    /// each step a fused multiply-add (avx2, avx512, neon) or a multiply then an add (portable).
    func testProductsAgainstFloat64AndTheSummationRule() {
        var rng = KitTest.RNG(11)
        var checked = 0
        for m in [1, 2, 5, 6, 7, 13, 97] {
            for k in [1, 3, 17, 255, 256, 257, 600] {
                for n in [1, 15, 16, 17, 33, 100] {
                    let a = random(m * k, &rng), w = random(n * k, &rng)
                    var ref = [Double](repeating: 0, count: m * n), bound = ref
                    a.withUnsafeBufferPointer { ap in w.withUnsafeBufferPointer { wp in
                        for i in 0..<m {
                            for j in 0..<n {
                                var s = 0.0, t = 0.0
                                for kk in 0..<k {
                                    let p = Double(ap[i * k + kk]) * Double(wp[j * k + kk])
                                    s += p
                                    t += abs(p)
                                }
                                ref[i * n + j] = s
                                bound[i * n + j] = Double(k + 2) * 0x1p-24 * t
                            }
                        }
                    } }
                    let exact = [1, 7, 13].contains(m) && [17, 100].contains(n)
                    forEachPath { path in
                        let c = product(a, w, m: m, k: k, n: n)
                        for e in 0..<(m * n) where !(abs(Double(c[e]) - ref[e]) <= bound[e]) {
                            XCTFail("\(path.name) \(m)×\(k)×\(n) element \(e): \(c[e]) vs \(ref[e]) (bound \(bound[e]))")
                            return
                        }
                        if exact {
                            let rule = summationRule(a, w, m: m, k: k, n: n, fused: path != .portable)
                            XCTAssertEqual(c.map(\.bitPattern), rule.map(\.bitPattern), "\(path.name) \(m)×\(k)×\(n) breaks the summation rule")
                        }
                        checked += 1
                    }
                }
            }
        }
        XCTAssertEqual(checked, 7 * 7 * 6 * KernelPath.supported.count)
    }

    /// The rule every path follows, element by element, in Swift.
    func summationRule(_ a: [Float], _ w: [Float], m: Int, k: Int, n: Int, fused: Bool) -> [Float] {
        var c = [Float](repeating: 0, count: m * n)
        a.withUnsafeBufferPointer { ap in w.withUnsafeBufferPointer { wp in
            for i in 0..<m {
                for j in 0..<n {
                    var s: Float = 0
                    for kk in 0..<k {
                        let x = ap[i * k + kk], y = wp[j * k + kk]
                        s = fused ? s.addingProduct(x, y) : s + x * y
                    }
                    c[i * n + j] = s
                }
            }
        } }
        return c
    }

    /// Row i of an m-row product has the same bits as row i computed alone, as any run of rows
    /// computed on their own, and as the same product split over threads or any panel ranges:
    /// what lets a sequence run in chunks give exactly the output of one whole run.
    func testEveryElementIsIndependentOfTileShapeRowCountAndThreadSplit() {
        var rng = KitTest.RNG(12)
        for (m, k, n) in [(97, 600, 100), (13, 257, 33), (32, 1024, 130), (5, 64, 256)] {
            let a = random(m * k, &rng), w = random(n * k, &rng)
            let pw = packed(w, rows: n, cols: k)
            let panels = (n + panelWidth - 1) / panelWidth
            forEachPath { path in
                let whole = product(a, w, m: m, k: k, n: n)
                let what = "\(path.name) \(m)×\(k)×\(n)"
                for i in 0..<m {
                    let alone = product(Array(a[(i * k)..<((i + 1) * k)]), w, m: 1, k: k, n: n)
                    XCTAssertEqual(alone.map(\.bitPattern), whole[(i * n)..<((i + 1) * n)].map(\.bitPattern), "\(what): row \(i) alone")
                }
                for (lo, hi) in [(0, 2), (1, 8), (3, m), (m - 1, m)] where lo < hi && hi <= m {
                    let part = product(Array(a[(lo * k)..<(hi * k)]), w, m: hi - lo, k: k, n: n)
                    XCTAssertEqual(part.map(\.bitPattern), whole[(lo * n)..<(hi * n)].map(\.bitPattern), "\(what): rows \(lo)..<\(hi)")
                }
                for threads in [2, 3, 4] {
                    XCTAssertEqual(product(a, w, m: m, k: k, n: n, threads: threads).map(\.bitPattern), whole.map(\.bitPattern),
                                   "\(what): \(threads) threads")
                }
                // Arbitrary panel ranges, as uneven thread shares would give.
                var split = [Float](repeating: .nan, count: m * n)
                let cuts = [0, 1, Swift.min(4, panels), panels]
                a.withUnsafeBufferPointer { ap in pw.withUnsafeBufferPointer { bp in split.withUnsafeMutableBufferPointer { cp in
                    for r in 0..<(cuts.count - 1) where cuts[r] < cuts[r + 1] {
                        lstmk_gemm_f32(ap.baseAddress!, bp.baseAddress!, cp.baseAddress!, m, k, n, cuts[r], cuts[r + 1])
                    }
                } } }
                XCTAssertEqual(split.map(\.bitPattern), whole.map(\.bitPattern), "\(what): panel ranges \(cuts)")
            }
        }
    }

    /// The product with a bias added as it is stored has the bits of the product followed by a
    /// second pass c[i, j] + bias[j]: every path, depth blocks (k beyond the depth block), a
    /// partial last panel, one row and many, panel ranges, threads, and k = 0 (the bias alone).
    func testBiasAddedAsStoredEqualsASecondPass() {
        var rng = KitTest.RNG(21)
        for (m, k, n) in [(1, 128, 512), (4, 128, 512), (97, 600, 100), (13, 1100, 33), (8, 0, 20)] {
            let a = random(Swift.max(1, m * k), &rng), w = random(Swift.max(1, n * k), &rng), bias = random(n, &rng)
            let pw = packed(Array(w[0..<(n * k)]), rows: n, cols: k)
            let panels = (n + panelWidth - 1) / panelWidth
            forEachPath { path in
                var expected = k == 0 ? [Float](repeating: 0, count: m * n) : product(a, w, m: m, k: k, n: n)
                for i in 0..<m { for j in 0..<n { expected[i * n + j] = expected[i * n + j] + bias[j] } }
                let what = "\(path.name) \(m)×\(k)×\(n)"
                for threads in [1, 3] {
                    var c = [Float](repeating: .nan, count: m * n)
                    a.withUnsafeBufferPointer { ap in pw.withUnsafeBufferPointer { bp in bias.withUnsafeBufferPointer { bb in
                        c.withUnsafeMutableBufferPointer { cp in
                            fastMatmul(ap.baseAddress!, bp.baseAddress ?? ap.baseAddress!, cp.baseAddress!, m: m, k: k, n: n,
                                       threads: threads, bias: bb.baseAddress!)
                        }
                    } } }
                    XCTAssertEqual(c.map(\.bitPattern), expected.map(\.bitPattern), "\(what): \(threads) threads")
                }
                var split = [Float](repeating: .nan, count: m * n)
                let cuts = [0, 1, Swift.min(3, panels), panels]
                a.withUnsafeBufferPointer { ap in pw.withUnsafeBufferPointer { bp in bias.withUnsafeBufferPointer { bb in
                    split.withUnsafeMutableBufferPointer { cp in
                        for r in 0..<(cuts.count - 1) where cuts[r] < cuts[r + 1] {
                            lstmk_gemm_bias_f32(ap.baseAddress!, bp.baseAddress ?? ap.baseAddress!, bb.baseAddress!, cp.baseAddress!,
                                                m, k, n, cuts[r], cuts[r + 1])
                        }
                    }
                } } }
                XCTAssertEqual(split.map(\.bitPattern), expected.map(\.bitPattern), "\(what): panel ranges \(cuts)")
            }
        }
    }

    /// k = 0 gives zeros; a panel range writes only its own columns.
    func testEmptyDepthAndColumnOwnership() {
        forEachPath { path in
            var empty = [Float](repeating: 9, count: 15)
            let dummy: [Float] = [1]
            dummy.withUnsafeBufferPointer { p in empty.withUnsafeMutableBufferPointer { cp in
                lstmk_gemm_f32(p.baseAddress!, p.baseAddress!, cp.baseAddress!, 3, 0, 5, 0, 1)
            } }
            XCTAssertEqual(empty, [Float](repeating: 0, count: 15), path.name)
            let m = 3, k = 4, n = 40
            let w = packed([Float](repeating: 1, count: n * k), rows: n, cols: k)
            let a = [Float](repeating: 1, count: m * k)
            var c = [Float](repeating: -7, count: m * n)
            a.withUnsafeBufferPointer { ap in w.withUnsafeBufferPointer { bp in c.withUnsafeMutableBufferPointer { cp in
                lstmk_gemm_f32(ap.baseAddress!, bp.baseAddress!, cp.baseAddress!, m, k, n, 1, 2)
            } } }
            for i in 0..<m {
                for j in 0..<n { XCTAssertEqual(c[i * n + j], (16..<32).contains(j) ? 4 : -7, "\(path.name) [\(i), \(j)]") }
            }
        }
    }

    /// sigmoid and tanh against libm's float64 functions: at most 2e-7 absolute error on
    /// [−30, 30] (every 1/1024) and at the extremes; sigmoid also within 8 ulps relative on
    /// [−80, 30]; exact values at 0 and at ±large/±inf; NaN stays NaN; and an element's bits do
    /// not depend on where it falls in a run.
    func testActivationsAgainstLibm() {
        var xs = (-30 * 1024...30 * 1024).map { Float($0) / 1024 }
        xs += (0..<2000).map { Float(-80 + 0.05 * Double($0)) }
        xs += [0, -0, 1e-30, -1e-30, 1e-7, -1e-7, 87, -87, 88, -88, 89, -89, 100, -100, 1e30, -1e30,
               .greatestFiniteMagnitude, -.greatestFiniteMagnitude, .infinity, -.infinity]
        forEachPath { path in
            var s = xs, t = xs
            s.withUnsafeMutableBufferPointer { lstmk_sigmoid_f32($0.baseAddress!, $0.count) }
            t.withUnsafeMutableBufferPointer { lstmk_tanh_f32($0.baseAddress!, $0.count) }
            var worstS = 0.0, worstT = 0.0, worstRel = 0.0
            for (e, x) in xs.enumerated() {
                let d = Double(x)
                let sRef = 1 / (1 + Foundation.exp(-d)), tRef = Foundation.tanh(d)
                worstS = Swift.max(worstS, abs(Double(s[e]) - sRef))
                worstT = Swift.max(worstT, abs(Double(t[e]) - tRef))
                if d >= -80 && d <= 30 { worstRel = Swift.max(worstRel, abs(Double(s[e]) - sRef) / (sRef * 0x1p-24)) }
                XCTAssertTrue(s[e] >= 0 && s[e] <= 1 && t[e] >= -1 && t[e] <= 1, "\(path.name) range at \(x)")
            }
            XCTAssertLessThanOrEqual(worstS, 2e-7, "\(path.name) sigmoid")
            XCTAssertLessThanOrEqual(worstT, 2e-7, "\(path.name) tanh")
            XCTAssertLessThanOrEqual(worstRel, 8, "\(path.name) sigmoid, ulps of the result")

            var special: [Float] = [0, 100, -100, .infinity, -.infinity, .nan, -.nan, 3]
            var tspecial = special
            special.withUnsafeMutableBufferPointer { lstmk_sigmoid_f32($0.baseAddress!, $0.count) }
            tspecial.withUnsafeMutableBufferPointer { lstmk_tanh_f32($0.baseAddress!, $0.count) }
            XCTAssertEqual(Array(special[0..<2]), [0.5, 1], path.name)
            XCTAssertLessThan(special[2], 1e-37)
            XCTAssertEqual(special[3], 1, path.name)
            XCTAssertLessThan(special[4], 1e-37)
            XCTAssertTrue(special[5].isNaN && special[6].isNaN, path.name)
            XCTAssertEqual(Array(tspecial[0..<5]), [0, 1, -1, 1, -1], path.name)
            XCTAssertTrue(tspecial[5].isNaN && tspecial[6].isNaN, path.name)

            // Position independence: whole run, one at a time, and runs of 13.
            for f in [lstmk_sigmoid_f32, lstmk_tanh_f32] as [(UnsafeMutablePointer<Float>?, Int) -> Void] {
                let sample = Array(xs[0..<1000].enumerated().map { xs[($0.offset * 61) % xs.count] })
                var whole = sample, ones = sample, thirteens = sample
                whole.withUnsafeMutableBufferPointer { f($0.baseAddress!, $0.count) }
                ones.withUnsafeMutableBufferPointer { p in for e in 0..<p.count { f(p.baseAddress! + e, 1) } }
                thirteens.withUnsafeMutableBufferPointer { p in
                    var e = 0
                    while e < p.count { f(p.baseAddress! + e, Swift.min(13, p.count - e)); e += 13 }
                }
                XCTAssertEqual(ones.map(\.bitPattern), whole.map(\.bitPattern), path.name)
                XCTAssertEqual(thirteens.map(\.bitPattern), whole.map(\.bitPattern), path.name)
            }
        }
    }

    /// LSTMTOOL_KERNEL names and forcing: names round-trip, an unsupported path is refused.
    func testPathNamesAndForcing() {
        XCTAssertEqual(KernelPath.allCases.map(\.name), ["portable", "avx2", "avx512", "neon"])
        for p in KernelPath.allCases where !KernelPath.supported.contains(p) {
            let before = KernelPath.current
            XCTAssertFalse(KernelPath.force(p))
            XCTAssertEqual(KernelPath.current, before)
        }
        #if arch(x86_64)
        XCTAssertFalse(KernelPath.supported.contains(.neon))
        #endif
        KernelPath.force(nil)
        XCTAssertEqual(KernelPath.current, KernelPath.supported.last)
    }

    /// The f64 reference product in C (vectorised across columns, depth and row blocks) gives
    /// the bits of the plain Swift loop `matmul` — ascending k, multiply then add — on every path.
    func testF64ProductIsTheReferenceLoopBitForBit() {
        var rng = KitTest.RNG(13)
        for (m, k, n) in [(1, 1, 1), (1, 128, 512), (3, 300, 17), (97, 257, 33), (100, 600, 64), (7, 0, 5), (1, 2100, 40), (9, 1100, 40)] {
            let a = (0..<(m * k)).map { _ in rng.uniform(1) * (rng.uniform(1) > 0.9 ? 1e-300 : 1) }
            let w = packed((0..<(n * k)).map { _ in rng.uniform(1) }, rows: n, cols: k)
            var ref = [Double](repeating: .nan, count: m * n)
            a.withUnsafeBufferPointer { ap in w.withUnsafeBufferPointer { bp in ref.withUnsafeMutableBufferPointer { cp in
                matmul(ap.baseAddress ?? UnsafePointer(bitPattern: 8)!, bp.baseAddress ?? UnsafePointer(bitPattern: 8)!, cp.baseAddress!,
                       m: m, k: k, n: n)
            } } }
            forEachPath { path in
                var c = [Double](repeating: .nan, count: m * n)
                a.withUnsafeBufferPointer { ap in w.withUnsafeBufferPointer { bp in c.withUnsafeMutableBufferPointer { cp in
                    lstmk_gemm_f64(ap.baseAddress, bp.baseAddress, cp.baseAddress!, m, k, n)
                } } }
                XCTAssertEqual(c.map(\.bitPattern), ref.map(\.bitPattern), "\(path.name) \(m)×\(k)×\(n)")
                // With a bias added as the rows are finished: the reference loop, then + bias[j].
                let bias = (0..<n).map { _ in rng.uniform(1) }
                var withBias = [Double](repeating: .nan, count: m * n)
                a.withUnsafeBufferPointer { ap in w.withUnsafeBufferPointer { bp in bias.withUnsafeBufferPointer { bb in
                    withBias.withUnsafeMutableBufferPointer { cp in
                        lstmk_gemm_bias_f64(ap.baseAddress, bp.baseAddress, bb.baseAddress, cp.baseAddress!, m, k, n)
                    }
                } } }
                let expected = (0..<(m * n)).map { ref[$0] + bias[$0 % n] }
                XCTAssertEqual(withBias.map(\.bitPattern), expected.map(\.bitPattern), "\(path.name) \(m)×\(k)×\(n) with a bias")
            }
        }
    }

    /// Weights that are exactly float32 may be kept as float32 by the f64 path
    /// (`lstmk_gemm_f64_w32`, widened in the kernel): the bits of `lstmk_gemm_f64` over the widened
    /// weights, for one row, a few (widened as loaded) and many (widened slice by slice).
    func testF64ProductOverFloat32WeightsIsTheSameBits() {
        var rng = KitTest.RNG(16)
        for (m, k, n) in [(1, 1, 1), (1, 130, 520), (3, 300, 17), (8, 257, 64), (16, 64, 80), (97, 257, 33), (200, 600, 72), (5, 0, 9),
                          (1, 2100, 40), (8, 1100, 40), (20, 1100, 40)] {
            let a = (0..<(m * k)).map { _ in rng.uniform(1) }
            let wf = (0..<(n * k)).map { _ in Float(rng.uniform(1)) }
            let pf = packed(wf, rows: n, cols: k), pd = packed(wf.map(Double.init), rows: n, cols: k)
            forEachPath { path in
                var ref = [Double](repeating: .nan, count: m * n), c = ref
                a.withUnsafeBufferPointer { ap in
                    pd.withUnsafeBufferPointer { bp in ref.withUnsafeMutableBufferPointer { lstmk_gemm_f64(ap.baseAddress, bp.baseAddress, $0.baseAddress!, m, k, n) } }
                    pf.withUnsafeBufferPointer { bp in c.withUnsafeMutableBufferPointer { lstmk_gemm_f64_w32(ap.baseAddress, bp.baseAddress, $0.baseAddress!, m, k, n) } }
                }
                XCTAssertEqual(c.map(\.bitPattern), ref.map(\.bitPattern), "\(path.name) \(m)×\(k)×\(n)")
            }
        }
        // The evaluator keeps large exactly-float32 recurrent matrices as float32 only, smaller
        // ones both ways (float32 for m = 1), others as doubles only.
        let big = PackedWeights<Double>.narrowFromBytes / 8
        let exact = (0..<big).map { Double(Float(sin(Double($0)))) }
        let large = PackedWeights<Double>(exact, rows: big / 64, cols: 64)
        XCTAssertFalse(large.narrow.isEmpty)
        XCTAssertTrue(large.values.isEmpty)
        let inexact = PackedWeights<Double>(exact + [0.1] + Array(exact[1..<64]), rows: big / 64 + 1, cols: 64)
        XCTAssertTrue(inexact.narrow.isEmpty)
        XCTAssertFalse(inexact.values.isEmpty)
        let smaller = PackedWeights<Double>(Array(exact[0..<(big - 64)]), rows: big / 64 - 1, cols: 64)
        XCTAssertFalse(smaller.narrow.isEmpty)
        XCTAssertFalse(smaller.values.isEmpty)
        XCTAssertTrue(PackedWeights<Double>(Array(exact[0..<(big - 64)]), rows: big / 64 - 1, cols: 64, narrow: false).narrow.isEmpty)
        XCTAssertTrue(PackedWeights<Float>(exact.map { Float($0) }, rows: big / 64, cols: 64).narrow.isEmpty)
        // Either copy gives the same bits, whichever m picks.
        let (k, n) = (96, 40)
        let w = Array(exact[0..<(k * n)])
        let both = PackedWeights<Double>(w, rows: n, cols: k), doublesOnly = PackedWeights<Double>(w, rows: n, cols: k, narrow: false)
        XCTAssertFalse(both.narrow.isEmpty)
        for m in [1, 2, 9] {
            let a = (0..<(m * k)).map { _ in rng.uniform(1) }
            var c1 = [Double](repeating: .nan, count: m * n), c2 = c1
            a.withUnsafeBufferPointer { ap in
                c1.withUnsafeMutableBufferPointer { both.multiply(ap.baseAddress!, into: $0.baseAddress!, m: m, k: k, n: n, threads: 1) }
                c2.withUnsafeMutableBufferPointer { doublesOnly.multiply(ap.baseAddress!, into: $0.baseAddress!, m: m, k: k, n: n, threads: 1) }
            }
            XCTAssertEqual(c1.map(\.bitPattern), c2.map(\.bitPattern), "m = \(m)")
        }
    }

    /// The f64 reference sigmoid and tanh (docs/CELLS.md §8): the same bits on every path, for
    /// every element wherever it falls in a run; within 2 ulp of the true values (float80's
    /// expl/tanhl on x86-64, else 3 ulp of libm's double results); exact at 0 (signed), ±∞ and NaN.
    func testF64ActivationsAreTheSameBitsOnEveryPathAndWithin2Ulp() {
        var rng = KitTest.RNG(15)
        var xs = (-40 * 256...40 * 256).map { Double($0) / 256 }
        xs += (0..<20000).map { _ in rng.uniform(2) }
        xs += (0..<20000).map { _ in rng.uniform(1) * 0x1p-20 }
        xs += (0..<4000).map { _ in rng.uniform(700) }
        xs += (0..<2000).map { i in Double(sign: i % 2 == 0 ? .plus : .minus, exponent: -1074 + i / 2, significand: 1.5) }
        xs += [0.34657359027997264, -0.34657359027997264, 19.06, -19.06, 20, -20, 708, -708, 709.8, -709.8, 745, -745,
               800, -800, .greatestFiniteMagnitude, -.greatestFiniteMagnitude]
        let special: [Double] = [0, -0.0, .infinity, -.infinity, .nan, .leastNonzeroMagnitude]
        var first: [UInt64]?
        forEachPath { path in
            var s = xs + special, t = xs + special
            s.withUnsafeMutableBufferPointer { lstmk_sigmoid_f64($0.baseAddress!, $0.count) }
            t.withUnsafeMutableBufferPointer { lstmk_tanh_f64($0.baseAddress!, $0.count) }
            let bits = (s + t).map(\.bitPattern)
            if let f = first { XCTAssertEqual(bits, f, "\(path.name): f64 activations differ from \(KernelPath.supported[0].name)") }
            first = first ?? bits
            var worstS = 0.0, worstT = 0.0
            for (e, x) in xs.enumerated() {
                #if arch(x86_64) && !os(Windows)
                let sRef = Double(1 / (1 + Foundation.exp(-Float80(x)))), tRef = Double(Foundation.tanh(Float80(x)))
                #else
                let sRef = 1 / (1 + Foundation.exp(-x)), tRef = Foundation.tanh(x)
                #endif
                // Subnormal sigmoids (x < −708.4): e^−x overflows from x < −709.78 on, giving 0, as
                // 1/(1 + exp(−x)) does with libm; so these are only within the least normal number.
                if sRef >= Double.leastNormalMagnitude { worstS = Swift.max(worstS, abs(s[e] - sRef) / sRef.ulp) }
                else { XCTAssertLessThanOrEqual(abs(s[e] - sRef), Double.leastNormalMagnitude, "\(x)") }
                if tRef != 0 { worstT = Swift.max(worstT, abs(t[e] - tRef) / abs(tRef).ulp) }
                XCTAssertTrue(s[e] >= 0 && s[e] <= 1 && t[e] >= -1 && t[e] <= 1, "\(path.name) range at \(x)")
            }
            let bound: Double
            #if arch(x86_64) && !os(Windows)
            bound = 2
            #else
            bound = 3
            #endif
            XCTAssertLessThanOrEqual(worstS, bound, "\(path.name) sigmoid, ulps")
            XCTAssertLessThanOrEqual(worstT, bound, "\(path.name) tanh, ulps")
            let ss = Array(s.suffix(special.count)), ts = Array(t.suffix(special.count))
            XCTAssertEqual(ss[0], 0.5); XCTAssertEqual(ss[1], 0.5); XCTAssertEqual(ss[2], 1); XCTAssertEqual(ss[3], 0)
            XCTAssertEqual(ts[0].bitPattern, (0.0).bitPattern); XCTAssertEqual(ts[1].bitPattern, (-0.0).bitPattern)
            XCTAssertEqual(ts[2], 1); XCTAssertEqual(ts[3], -1); XCTAssertEqual(ts[5], .leastNonzeroMagnitude)
            XCTAssertTrue(ss[4].isNaN && ts[4].isNaN)
            // Position independence: one at a time and runs of 13 give the bits of the whole run.
            for f in [lstmk_sigmoid_f64, lstmk_tanh_f64] as [(UnsafeMutablePointer<Double>?, Int) -> Void] {
                let sample = (0..<1000).map { xs[($0 * 61) % xs.count] }
                var whole = sample, ones = sample, thirteens = sample
                whole.withUnsafeMutableBufferPointer { f($0.baseAddress!, $0.count) }
                ones.withUnsafeMutableBufferPointer { p in for e in 0..<p.count { f(p.baseAddress! + e, 1) } }
                thirteens.withUnsafeMutableBufferPointer { p in
                    var e = 0
                    while e < p.count { f(p.baseAddress! + e, Swift.min(13, p.count - e)); e += 13 }
                }
                XCTAssertEqual(ones.map(\.bitPattern), whole.map(\.bitPattern), path.name)
                XCTAssertEqual(thirteens.map(\.bitPattern), whole.map(\.bitPattern), path.name)
            }
        }
    }

    /// The fused LSTM and GRU steps, f32 and f64, give the bits of the unfused sequence of
    /// docs/CELLS.md §11 (add, activation runs, then the state update, every product rounded),
    /// skip rows < 0, and write y only where asked.
    func testFusedStepsEqualTheUnfusedSequence() {
        fusedStepsEqualTheUnfusedSequence(Float.self)
        fusedStepsEqualTheUnfusedSequence(Double.self)
    }

    private func fusedStepsEqualTheUnfusedSequence<T: StepKernels>(_: T.Type) {
        var rng = KitTest.RNG(14)
        for hs in [1, 5, 16, 20, 37] {
            let nb = 3, steps = 2, batch = nb
            for cell in ["lstm", "gru"] {
                let gates = cell == "lstm" ? 4 : 3, g = gates * hs
                let xw = (0..<(steps * batch * g)).map { _ in T(rng.uniform(4)) }
                let hw = (0..<(nb * g)).map { _ in T(rng.uniform(4)) }
                let bhn = (0..<hs).map { _ in T(rng.uniform(1)) }
                let c0 = (0..<(nb * hs)).map { _ in T(rng.uniform(2)) }
                let h0 = (0..<(nb * hs)).map { _ in T(rng.uniform(1)) }
                let rows = [1, -1, 0]
                forEachPath { path in
                    // Expected, unfused.
                    var c = c0, h = h0
                    for b in 0..<nb where rows[b] >= 0 {
                        let x = Array(xw[((rows[b] * batch + b) * g)..<((rows[b] * batch + b + 1) * g)])
                        var a = (0..<g).map { x[$0] + hw[b * g + $0] }
                        if cell == "lstm" {
                            a.withUnsafeMutableBufferPointer { p in
                                T.sigmoid(p.baseAddress!, 2 * hs)
                                T.tanh(p.baseAddress! + 2 * hs, hs)
                                T.sigmoid(p.baseAddress! + 3 * hs, hs)
                            }
                            var t = [T](repeating: 0, count: hs)
                            for j in 0..<hs {
                                let fc = a[hs + j] * c[b * hs + j], ig = a[j] * a[2 * hs + j]
                                c[b * hs + j] = fc + ig
                                t[j] = c[b * hs + j]
                            }
                            t.withUnsafeMutableBufferPointer { T.tanh($0.baseAddress!, hs) }
                            for j in 0..<hs { h[b * hs + j] = a[3 * hs + j] * t[j] }
                        } else {
                            a.withUnsafeMutableBufferPointer { T.sigmoid($0.baseAddress!, 2 * hs) }
                            var n = (0..<hs).map { x[2 * hs + $0] + a[hs + $0] * (hw[b * g + 2 * hs + $0] + bhn[$0]) }
                            n.withUnsafeMutableBufferPointer { T.tanh($0.baseAddress!, hs) }
                            for j in 0..<hs {
                                let p = (1 - a[j]) * n[j], q = a[j] * h[b * hs + j]
                                h[b * hs + j] = p + q
                            }
                        }
                    }
                    var gotC = c0, gotH = h0, y = [T](repeating: -9, count: steps * batch * hs)
                    xw.withUnsafeBufferPointer { xp in hw.withUnsafeBufferPointer { hp in rows.withUnsafeBufferPointer { rp in
                        gotC.withUnsafeMutableBufferPointer { cp in gotH.withUnsafeMutableBufferPointer { hb in y.withUnsafeMutableBufferPointer { yp in
                            if cell == "lstm" {
                                T.lstmStep(xp.baseAddress!, batch * g, hp.baseAddress!, cp.baseAddress!, hb.baseAddress!, hs,
                                                    yp.baseAddress!, batch * hs, hs, rp.baseAddress!, nb, hs)
                            } else {
                                bhn.withUnsafeBufferPointer { bp in
                                    T.gruStep(xp.baseAddress!, batch * g, hp.baseAddress!, bp.baseAddress!, hb.baseAddress!,
                                                       yp.baseAddress!, batch * hs, hs, rp.baseAddress!, nb, hs)
                                }
                            }
                        } } }
                    } } }
                    let what = "\(path.name) \(T.self) \(cell) H=\(hs)"
                    XCTAssertEqual(gotH.map(\.bits), h.map(\.bits), what)
                    if cell == "lstm" { XCTAssertEqual(gotC.map(\.bits), c.map(\.bits), what) }
                    for b in 0..<nb {
                        for t in 0..<steps {
                            let row = Array(y[((t * batch + b) * hs)..<((t * batch + b + 1) * hs)])
                            let expected = t == rows[b] ? Array(h[(b * hs)..<((b + 1) * hs)]) : [T](repeating: -9, count: hs)
                            XCTAssertEqual(row.map(\.bits), expected.map(\.bits), "\(what) y[\(t), \(b)]")
                        }
                    }
                }
            }
        }
    }
}

/// The C activation runs and fused steps of one precision, for tests written once for both.
protocol StepKernels: BinaryFloatingPoint {
    static func sigmoid(_ p: UnsafeMutablePointer<Self>, _ n: Int)
    static func tanh(_ p: UnsafeMutablePointer<Self>, _ n: Int)
    static func lstmStep(_ xw: UnsafePointer<Self>, _ xwStep: Int, _ hw: UnsafePointer<Self>, _ c: UnsafeMutablePointer<Self>,
                         _ h: UnsafeMutablePointer<Self>, _ ldh: Int, _ y: UnsafeMutablePointer<Self>?, _ yStep: Int, _ ldy: Int,
                         _ rows: UnsafePointer<Int>, _ nb: Int, _ hidden: Int)
    static func gruStep(_ xw: UnsafePointer<Self>, _ xwStep: Int, _ hw: UnsafePointer<Self>, _ bhn: UnsafePointer<Self>,
                        _ h: UnsafeMutablePointer<Self>, _ y: UnsafeMutablePointer<Self>?, _ yStep: Int, _ ldy: Int,
                        _ rows: UnsafePointer<Int>, _ nb: Int, _ hidden: Int)
    var bits: UInt64 { get }
}

extension Float: StepKernels {
    var bits: UInt64 { UInt64(bitPattern) }
    static func sigmoid(_ p: UnsafeMutablePointer<Float>, _ n: Int) { lstmk_sigmoid_f32(p, n) }
    static func tanh(_ p: UnsafeMutablePointer<Float>, _ n: Int) { lstmk_tanh_f32(p, n) }
    static func lstmStep(_ xw: UnsafePointer<Float>, _ xwStep: Int, _ hw: UnsafePointer<Float>, _ c: UnsafeMutablePointer<Float>,
                         _ h: UnsafeMutablePointer<Float>, _ ldh: Int, _ y: UnsafeMutablePointer<Float>?, _ yStep: Int, _ ldy: Int,
                         _ rows: UnsafePointer<Int>, _ nb: Int, _ hidden: Int) {
        lstmk_lstm_step_f32(xw, xwStep, hw, c, h, ldh, y, yStep, ldy, rows, nb, hidden)
    }
    static func gruStep(_ xw: UnsafePointer<Float>, _ xwStep: Int, _ hw: UnsafePointer<Float>, _ bhn: UnsafePointer<Float>,
                        _ h: UnsafeMutablePointer<Float>, _ y: UnsafeMutablePointer<Float>?, _ yStep: Int, _ ldy: Int,
                        _ rows: UnsafePointer<Int>, _ nb: Int, _ hidden: Int) {
        lstmk_gru_step_f32(xw, xwStep, hw, bhn, h, y, yStep, ldy, rows, nb, hidden)
    }
}

extension Double: StepKernels {
    var bits: UInt64 { bitPattern }
    static func sigmoid(_ p: UnsafeMutablePointer<Double>, _ n: Int) { lstmk_sigmoid_f64(p, n) }
    static func tanh(_ p: UnsafeMutablePointer<Double>, _ n: Int) { lstmk_tanh_f64(p, n) }
    static func lstmStep(_ xw: UnsafePointer<Double>, _ xwStep: Int, _ hw: UnsafePointer<Double>, _ c: UnsafeMutablePointer<Double>,
                         _ h: UnsafeMutablePointer<Double>, _ ldh: Int, _ y: UnsafeMutablePointer<Double>?, _ yStep: Int, _ ldy: Int,
                         _ rows: UnsafePointer<Int>, _ nb: Int, _ hidden: Int) {
        lstmk_lstm_step_f64(xw, xwStep, hw, c, h, ldh, y, yStep, ldy, rows, nb, hidden)
    }
    static func gruStep(_ xw: UnsafePointer<Double>, _ xwStep: Int, _ hw: UnsafePointer<Double>, _ bhn: UnsafePointer<Double>,
                        _ h: UnsafeMutablePointer<Double>, _ y: UnsafeMutablePointer<Double>?, _ yStep: Int, _ ldy: Int,
                        _ rows: UnsafePointer<Int>, _ nb: Int, _ hidden: Int) {
        lstmk_gru_step_f64(xw, xwStep, hw, bhn, h, y, yStep, ldy, rows, nb, hidden)
    }
}
