import Dispatch
import LSTMCore

/// Activations over contiguous runs of values. The f32 path evaluates sigmoid and tanh eight
/// lanes at a time with its own exp (below); everything else, and the whole f64 reference
/// path, goes element by element through `Activation.apply` (libm).
extension EvalScalar {
    @inline(__always)
    static func activateRun(_ a: Activation, _ p: UnsafeMutablePointer<Self>, _ count: Int) {
        if Self.self == Float.self {
            activateFloatRun(a, UnsafeMutableRawPointer(p).assumingMemoryBound(to: Float.self), count)
            return
        }
        for j in 0..<count { p[j] = activate(a, p[j]) }
    }
}

@inline(__always)
func activateFloatRun(_ a: Activation, _ p: UnsafeMutablePointer<Float>, _ count: Int) {
    var j = 0
    switch a.kind {
    case .sigmoid:
        while j + 8 <= count {
            let x = UnsafeRawPointer(p + j).loadUnaligned(as: SIMD8<Float>.self)
            let y = 1 / (1 + exp8(-x))
            UnsafeMutableRawPointer(p + j).storeBytes(of: y, as: SIMD8<Float>.self)
            j += 8
        }
    case .tanh:
        while j + 8 <= count {
            let x = UnsafeRawPointer(p + j).loadUnaligned(as: SIMD8<Float>.self)
            UnsafeMutableRawPointer(p + j).storeBytes(of: tanh8(x), as: SIMD8<Float>.self)
            j += 8
        }
    default:
        break
    }
    while j < count {
        p[j] = a.apply(p[j])
        j += 1
    }
}

/// e^x for eight floats: x = n·ln2 + r with |r| ≤ ln2/2 (Cody–Waite split of ln2), e^r by its
/// Taylor series to r^7 (truncation error < 3e-9 relative), 2^n built in the exponent bits.
/// Inputs are clamped to [-87, 88], so the result is finite and never denormal (NaN stays NaN).
@inline(__always)
func exp8(_ x: SIMD8<Float>) -> SIMD8<Float> {
    // Clamp with compares and blends: SIMD's clamped/pointwiseMin compile to per-lane calls.
    var xc = x.replacing(with: -87, where: x .< -87)
    xc = xc.replacing(with: 88, where: xc .> 88)
    // Adding 1.5·2^23 rounds x·log2(e) to an integer held in the low mantissa bits.
    let magic = SIMD8<Float>(repeating: 12_582_912)
    let shifted = xc * 1.442_695_04 + magic
    let n = shifted - magic
    let r = (xc - n * 0.693_359_375) - n * -2.121_944_4e-4
    var poly = SIMD8<Float>(repeating: 1.0 / 5040)
    poly = madd8(poly, r, 1.0 / 720)
    poly = madd8(poly, r, 1.0 / 120)
    poly = madd8(poly, r, 1.0 / 24)
    poly = madd8(poly, r, 1.0 / 6)
    poly = madd8(poly, r, 0.5)
    poly = madd8(poly, r, 1)
    poly = madd8(poly, r, 1)
    let bits = unsafeBitCast(shifted, to: SIMD8<Int32>.self) &- 0x4B40_0000 &+ 127
    let scale = unsafeBitCast(bits &<< 23, to: SIMD8<Float>.self)
    // The clamp turns NaN into a bound: give NaN back, so that NaN weights or inputs show in
    // the outputs as they do in the f64 path (verify counts them as their own failure).
    return (poly * scale).replacing(with: x, where: x .!= x)
}

/// tanh(x) = sign(x)·(1 − e)/(1 + e) with e = e^(−2|x|): no overflow for any x; the absolute
/// error stays at float32 rounding level (about 1e-7) everywhere.
@inline(__always)
func tanh8(_ x: SIMD8<Float>) -> SIMD8<Float> {
    let ax = abs8(x)
    let e = exp8(-2 * ax)
    let t = (1 - e) / (1 + e)
    return t.replacing(with: -t, where: x .< 0)
}

/// a·b + c, fused where the build targets a CPU with FMA.
@inline(__always)
func madd8(_ a: SIMD8<Float>, _ b: SIMD8<Float>, _ c: Float) -> SIMD8<Float> {
    #if LSTMTOOL_FMA
    return SIMD8<Float>(repeating: c).addingProduct(a, b)
    #else
    return a * b + c
    #endif
}

@inline(__always)
func abs8(_ x: SIMD8<Float>) -> SIMD8<Float> {
    unsafeBitCast(unsafeBitCast(x, to: SIMD8<UInt32>.self) & 0x7FFF_FFFF, to: SIMD8<Float>.self)
}

/// Nanoseconds per value of the f32 sigmoid and tanh runs (for tools/bench_eval.py diagnostics).
public func measureActivations(count: Int = 4096, repeats: Int = 2000) -> (sigmoid: Double, tanh: Double) {
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
