// One instantiation of the kernels for one instruction set; lstm_kernels.c includes this file
// once per path after defining:
//   SFX      name suffix (avx512, avx2, portable, neon)
//   TGT      the function attribute that enables the instruction set (may be empty)
//   VL       float lanes per vector (16, 8 or 4)
//   FMADD(acc, x, y)  acc + x·y: fused on the FMA paths, multiply-then-add on portable
//   MR       rows of the largest register tile
//   NPB      panels per tile when m > 1 (MR·NPB·16/VL accumulators must fit in registers)
//   NP1      panels per tile when m = 1 (independent FMA chains for the matrix–vector case)
//   MRX      rows of the one tile that takes all of a small m (MR < m ≤ MRX), so that one pass
//            over the weights serves every row (the recurrent product at B ≤ 8); MRX ≥ MR
//   NPX      panels per tile of that MRX-row tile (MRX·NPX·16/VL accumulators in registers)
//   KC       depth block
//   MRD, NPDS  rows and panels of the f64 reference tile for m ≤ 8 (MRD ≤ 4)
//   MRDL, NPDM rows and panels of the f64 tile for larger m (MRDL ≤ MRD, NPDS ≤ NPDM ≤ 4; each
//            tile's MR·NP·16 doubles of accumulators fit in registers)
// Written with the compiler's generic vectors (vector_size), so one body serves every path;
// constant loop bounds inside always-inline functions unroll into register tiles.

#define CAT_(a, b) a##_##b
#define CAT(a, b) CAT_(a, b)
#define FN(name) CAT(name, SFX)
#define VF FN(vf)
#define VI FN(vi)
#define AI static inline __attribute__((always_inline)) TGT
#define NV (LSTMK_PANEL / VL)
#define NPMAX (NPB > NP1 ? NPB : NP1)
#define MRMAX (MRX > MR ? MRX : MR)
#define RB 96 // rows per row block (an A block of 96·KC floats stays in L2)

typedef float VF __attribute__((vector_size(VL * 4)));
typedef int VI __attribute__((vector_size(VL * 4)));

AI VF FN(load)(const float *p) { VF v; __builtin_memcpy(&v, p, sizeof v); return v; }
AI void FN(store)(float *p, VF v) { __builtin_memcpy(p, &v, sizeof v); }
// x − (+0) is x for every x (−0 included), so this folds to a plain broadcast.
AI VF FN(splat)(float x) { return x - (VF){0}; }

// The register tile: mr rows × np panels, depth kc. acc_in: continue from the partial sums
// already in C (depth blocks after the first), else start from 0. Each element is one FMADD
// chain in ascending k, whatever mr and np are. bias (the last depth block only; NULL for
// none): the finished sum, rounded, plus bias[column], rounded — the bits of adding the bias
// to C afterwards, without another pass over C.
AI void FN(tile)(const int mr, const int np, const float *a, ptrdiff_t lda, const float *b,
                 ptrdiff_t pstride, ptrdiff_t kc, float *c, ptrdiff_t ldc, int acc_in, const float *bias) {
    VF acc[MRMAX][NPMAX * NV];
    for (int r = 0; r < mr; r++)
        for (int q = 0; q < np * NV; q++)
            acc[r][q] = acc_in ? FN(load)(c + r * ldc + q * VL) : (VF){0};
    for (ptrdiff_t kk = 0; kk < kc; kk++) {
        VF bv[NPMAX * NV];
        for (int q = 0; q < np * NV; q++)
            bv[q] = FN(load)(b + (q / NV) * pstride + kk * LSTMK_PANEL + (q % NV) * VL);
        for (int r = 0; r < mr; r++) {
            VF x = FN(splat)(a[r * lda + kk]);
            for (int q = 0; q < np * NV; q++) acc[r][q] = FMADD(acc[r][q], x, bv[q]);
        }
    }
    if (bias) {
        for (int q = 0; q < np * NV; q++) {
            const VF bq = FN(load)(bias + q * VL);
            for (int r = 0; r < mr; r++) acc[r][q] = acc[r][q] + bq;
        }
    }
    for (int r = 0; r < mr; r++)
        for (int q = 0; q < np * NV; q++) FN(store)(c + r * ldc + q * VL, acc[r][q]);
}

// Turns run-time (mr, np) into constants so that each shape used is its own unrolled tile;
// the constant conditions keep shapes that are never asked for out of the object code.
#define TILE_NP(mr, lim)                                                                  \
    switch (np) {                                                                         \
    case 8: if (8 <= (lim)) { FN(tile)(mr, 8, a, lda, b, ps, kc, c, ldc, acc_in, bias); return; } break; \
    case 3: if (3 == (lim)) { FN(tile)(mr, 3, a, lda, b, ps, kc, c, ldc, acc_in, bias); return; } break; \
    case 4: if (4 <= (lim)) { FN(tile)(mr, 4, a, lda, b, ps, kc, c, ldc, acc_in, bias); return; } break; \
    case 2: if (2 <= (lim)) { FN(tile)(mr, 2, a, lda, b, ps, kc, c, ldc, acc_in, bias); return; } break; \
    case 1: FN(tile)(mr, 1, a, lda, b, ps, kc, c, ldc, acc_in, bias); return;                 \
    }

static TGT __attribute__((noinline)) void FN(tile_any)(int mr, int np, const float *a, ptrdiff_t lda,
                                                      const float *b, ptrdiff_t ps, ptrdiff_t kc,
                                                      float *c, ptrdiff_t ldc, int acc_in, const float *bias) {
    // np ≤ NP1 when m = 1, np ≤ NPX for the rows above MR (one tile of a small m), np ≤ NPB
    // otherwise: see gemm below.
    switch (mr) {
    case 1: TILE_NP(1, NPMAX) break;
    case 2: if (MR >= 2) { TILE_NP(2, NPB) } break;
    case 3: if (MR >= 3) { TILE_NP(3, NPB) } break;
    case 4: if (MR >= 4) { TILE_NP(4, NPB) } break;
    case 5: if (MR >= 5) { TILE_NP(5, NPB) } break;
    case 6: if (MR >= 6) { TILE_NP(6, NPB) } break;
    case 7: if (MR >= 7) { TILE_NP(7, NPB) } else if (MRX >= 7) { TILE_NP(7, NPX) } break;
    case 8: if (MR >= 8) { TILE_NP(8, NPB) } else if (MRX >= 8) { TILE_NP(8, NPX) } break;
    }
    __builtin_trap(); // unreachable: gemm asks only for the shapes above
}

// Rows of the next tile when `left` rows remain: as few tiles as MR allows, of balanced
// heights (32 rows with MR = 6: 6, 6, 5, 5, 5, 5, not five 6s and a 2 that has too few chains).
AI int FN(rows)(ptrdiff_t left) {
    const ptrdiff_t tiles = (left + MR - 1) / MR;
    return (int)((left + tiles - 1) / tiles);
}

static TGT void FN(gemm)(const float *a, const float *w, const float *bias, float *c, ptrdiff_t m, ptrdiff_t k,
                         ptrdiff_t n, ptrdiff_t p0, ptrdiff_t p1) {
    const ptrdiff_t ps = k * LSTMK_PANEL, full = n / LSTMK_PANEL;
    // A small m (at most MRX rows) is one tile: one pass over the weights serves every row.
    // Then nothing reuses a depth slice, so there is no depth blocking either (a block of a
    // row tile would continue from the partial sums in C: the same chain, the same bits).
    const int one = m <= MRMAX;
    const int group = m == 1 ? NP1 : one && m > MR ? NPX : NPB;
    const ptrdiff_t kcmax = one ? k : KC;
    if (k == 0) {
        for (ptrdiff_t i = 0; i < m; i++)
            for (ptrdiff_t j = p0 * LSTMK_PANEL; j < n && j < p1 * LSTMK_PANEL; j++) c[i * n + j] = bias ? 0.0f + bias[j] : 0;
        return;
    }
    for (ptrdiff_t i0 = 0; i0 < m; i0 += RB) {
        const ptrdiff_t i1 = m - i0 < RB ? m : i0 + RB;
        for (ptrdiff_t k0 = 0; k0 < k; k0 += kcmax) {
            const ptrdiff_t kc = k - k0 < kcmax ? k - k0 : kcmax;
            const int acc_in = k0 > 0;
            const int last = k0 + kc == k;
            const ptrdiff_t pend = p1 < full ? p1 : full; // panels with 16 valid columns
            // Panel groups outside, row tiles inside: a group's depth slice is reused by every
            // row tile of the block. Leftover panels go in halving groups.
            for (ptrdiff_t p = p0; p < pend;) {
                int np = group;
                while (np > 1 && pend - p < np) np /= 2;
                const float *b = w + p * ps + k0 * LSTMK_PANEL;
                for (ptrdiff_t i = i0; i < i1;) {
                    const int mr = one ? (int)(i1 - i) : FN(rows)(i1 - i);
                    FN(tile_any)(mr, np, a + i * k + k0, k, b, ps, kc, c + i * n + p * LSTMK_PANEL, n, acc_in,
                                 bias && last ? bias + p * LSTMK_PANEL : 0);
                    i += mr;
                }
                p += np;
            }
            // The last, partial panel: through a 16-column buffer (the padding computes zeros).
            if (p1 > full && full < (n + LSTMK_PANEL - 1) / LSTMK_PANEL) {
                const ptrdiff_t cols = n - full * LSTMK_PANEL;
                const float *b = w + full * ps + k0 * LSTMK_PANEL;
                float buf[MRMAX * LSTMK_PANEL], bbuf[LSTMK_PANEL];
                for (int j = 0; j < LSTMK_PANEL; j++) bbuf[j] = bias && j < cols ? bias[full * LSTMK_PANEL + j] : 0;
                for (ptrdiff_t i = i0; i < i1;) {
                    const int mr = one ? (int)(i1 - i) : FN(rows)(i1 - i);
                    float *ci = c + i * n + full * LSTMK_PANEL;
                    for (int r = 0; r < mr; r++)
                        for (int j = 0; j < LSTMK_PANEL; j++) buf[r * LSTMK_PANEL + j] = j < cols ? ci[r * n + j] : 0;
                    FN(tile_any)(mr, 1, a + i * k + k0, k, b, ps, kc, buf, LSTMK_PANEL, acc_in, bias && last ? bbuf : 0);
                    for (int r = 0; r < mr; r++)
                        for (int j = 0; j < cols; j++) ci[r * n + j] = buf[r * LSTMK_PANEL + j];
                    i += mr;
                }
            }
        }
    }
}

// e^x: x = n·ln2 + r, |r| ≤ ln2/2 (Cody–Waite split of ln2), e^r by its Taylor series to r^7
// (truncation < 3e-9 relative), 2^n built in the exponent bits. x is clamped to [−87, 88], so
// the result is finite and never denormal; NaN is given back as NaN.
AI VF FN(exp)(VF x) {
    VF xc = __builtin_elementwise_max(x, FN(splat)(-87.0f)); // max/min give the bound for NaN
    xc = __builtin_elementwise_min(xc, FN(splat)(88.0f));
    const VF magic = FN(splat)(12582912.0f); // 1.5·2^23: adding it rounds to an integer
    VF shifted = xc * 1.44269504f + magic;
    VF nn = shifted - magic;
    VF r = (xc - nn * 0.693359375f) - nn * -2.12194440e-4f;
    VF poly = FN(splat)(1.0f / 5040);
    poly = FMADD(FN(splat)(1.0f / 720), poly, r);
    poly = FMADD(FN(splat)(1.0f / 120), poly, r);
    poly = FMADD(FN(splat)(1.0f / 24), poly, r);
    poly = FMADD(FN(splat)(1.0f / 6), poly, r);
    poly = FMADD(FN(splat)(0.5f), poly, r);
    poly = FMADD(FN(splat)(1.0f), poly, r);
    poly = FMADD(FN(splat)(1.0f), poly, r);
    VI bits = ((VI)shifted - 0x4B400000 + 127) << 23;
    VF y = poly * (VF)bits;
    VI nan = x != x;
    return (VF)(((VI)y & ~nan) | ((VI)x & nan));
}

AI VF FN(sigmoid1)(VF x) { return 1.0f / (1.0f + FN(exp)(-x)); }

// tanh(x) = sign(x)·(1 − e)/(1 + e), e = e^(−2|x|): no overflow; absolute error ~1e-7.
AI VF FN(tanh1)(VF x) {
    VI sb = (VI)FN(splat)(-0.0f);
    VF ax = (VF)((VI)x & ~sb);
    VF e = FN(exp)(-2.0f * ax);
    VF t = (1.0f - e) / (1.0f + e);
    return (VF)((VI)t | ((VI)x & sb));
}

// ---- f64 sigmoid and tanh of the reference path (docs/CELLS.md §8) -------------------------
// Built from correctly rounded additions, multiplications and divisions only (no fused
// multiply-add, no libm), lanes independent: the same bits on every path, compiler and platform.
#define VDL (VL / 2)
#define VD FN(vd)
#define VDI FN(vdi)
typedef double VD __attribute__((vector_size(VL * 4)));
typedef long long VDI __attribute__((vector_size(VL * 4)));
AI VD FN(loadd)(const double *p) { VD v; __builtin_memcpy(&v, p, sizeof v); return v; }
AI void FN(stored)(double *p, VD v) { __builtin_memcpy(p, &v, sizeof v); }
AI VD FN(splatd)(double x) { return x - (VD){0}; }

// e^r − 1 for |r| ≤ ln2/2 (a little more is harmless): r + r²·q(r), q(r) = 1/2! + r/3! + … +
// r¹²/14!, the Taylor series through r¹⁴ (the first term left out is below 2⁻⁵⁸ of the result).
// q is evaluated by Estrin's scheme in exactly this order (pairs, then r², r⁴ and r⁸ steps):
// shorter dependency chains than Horner, and the order is part of the definition of the bits.
AI VD FN(em1poly)(VD r) {
    const VD r2 = r * r, r4 = r2 * r2, r8 = r4 * r4;
    const VD c0 = 1.0 / 2.0 + r * (1.0 / 6.0);
    const VD c1 = 1.0 / 24.0 + r * (1.0 / 120.0);
    const VD c2 = 1.0 / 720.0 + r * (1.0 / 5040.0);
    const VD c3 = 1.0 / 40320.0 + r * (1.0 / 362880.0);
    const VD c4 = 1.0 / 3628800.0 + r * (1.0 / 39916800.0);
    const VD c5 = 1.0 / 479001600.0 + r * (1.0 / 6227020800.0);
    const VD d0 = c0 + r2 * c1, d1 = c2 + r2 * c3, d2 = c4 + r2 * c5;
    const VD e0 = d0 + r4 * d1, e1 = d2 + r4 * (1.0 / 87178291200.0);
    const VD q = e0 + r8 * e1;
    return r + r2 * q;
}

// n = round-to-nearest-even(x · log2 e) as a double and as an integer, and
// r = (x − n·LN2_HI) − n·LN2_LO (LN2_HI has 21 trailing zero bits: n·LN2_HI and the first
// subtraction are exact for |n| < 2²¹).
#define LSTMK_LN2_HI 6.93147180369123816490e-01 /* 0x3FE62E42FEE00000 */
#define LSTMK_LN2_LO 1.90821492927058770002e-10 /* 0x3DEA39EF35793C76 */
AI VD FN(reduced)(VD x, VDI *ni) {
    const VD magic = FN(splatd)(6755399441055744.0); // 1.5·2⁵²: adding it rounds to an integer
    const VD shifted = x * 1.4426950408889634 + magic;
    const VD n = shifted - magic;
    *ni = (VDI)shifted - (VDI)magic;
    return (x - n * LSTMK_LN2_HI) - n * LSTMK_LN2_LO;
}

// 2ⁿ for −1022 ≤ n ≤ 1023.
AI VD FN(pow2d)(VDI n) { return (VD)((n + 1023) << 52); }

// e^x: x clamped to [−746, 710] (beyond, the result is 0 or +∞ either way), x = n·ln2 + r,
// e^x = ((1 + (e^r − 1))·2^⌊n/2⌋)·2^(n − ⌊n/2⌋): the scaling in two exact-or-once-rounded
// steps, so subnormal results and overflow to +∞ come out right. NaN is given back.
AI VD FN(expd)(VD x) {
    VD xc = __builtin_elementwise_max(x, FN(splatd)(-746.0));
    xc = __builtin_elementwise_min(xc, FN(splatd)(710.0));
    VDI n;
    const VD r = FN(reduced)(xc, &n);
    const VDI n1 = n >> 1;
    const VD y = (1.0 + FN(em1poly)(r)) * FN(pow2d)(n1) * FN(pow2d)(n - n1);
    const VDI nan = (VDI)(x != x);
    return (VD)(((VDI)y & ~nan) | ((VDI)x & nan));
}

AI VD FN(sigmoidd1)(VD x) { return 1.0 / (1.0 + FN(expd)(-x)); }

// tanh(x) = sign(x)·(−t/(t + 2)), t = e^y − 1 with y = −2|x| clamped to [−40, 0] (tanh is 1
// to double precision beyond |x| = 20): y = n·ln2 + r, t = 2ⁿ·(e^r − 1) + (2ⁿ − 1), which
// is the polynomial alone when n = 0 (|y| < ln2/2, so small |x| keeps its relative accuracy).
AI VD FN(tanhd1)(VD x) {
    const VDI sb = (VDI)FN(splatd)(-0.0);
    const VD y = __builtin_elementwise_max(-2.0 * (VD)((VDI)x & ~sb), FN(splatd)(-40.0));
    VDI n;
    const VD r = FN(reduced)(y, &n);
    const VD s = FN(pow2d)(n);
    const VD t = s * FN(em1poly)(r) + (s - 1.0);
    const VD m = -t / (t + 2.0);
    const VD out = (VD)(((VDI)m & ~sb) | ((VDI)x & sb));
    const VDI nan = (VDI)(x != x);
    return (VD)(((VDI)out & ~nan) | ((VDI)x & nan));
}

// Activation runs and the fused gate steps, once for float32 and once for float64.
#define ST float
#define SV VF
#define SN VL
#define SNAME f32
#define SSIG FN(sigmoid1)
#define STANH FN(tanh1)
#include "kernel_steps.h"

#define ST double
#define SV VD
#define SN VDL
#define SNAME f64
#define SSIG FN(sigmoidd1)
#define STANH FN(tanhd1)
#include "kernel_steps.h"

// ---- f64 reference product: the order of docs/CELLS.md §11.1, vectorised across columns ------
// Each element is one chain over k in ascending order from 0, every product rounded, then
// added (never fused: FP_CONTRACT OFF, and the vectors only put independent elements side by
// side). A depth block continues from the partial sum stored in C, which is exact, so the bits
// are those of the plain scalar loop on every path.
#define NVD (LSTMK_PANEL / VDL)
// Depth block of the f64 product: deeper than the f32 one. A group's slice of W (NPDM panels ×
// KCD doubles) then stays in L2 (256 KiB at NPDM = 2) while every row tile reads it, and the
// partial sums in C are stored and reloaded 4 times less often: on Zen 5, 800 × 1024 × 3072 at
// 95 GFLOP/s against 83 with KC, 8 × 1024 × 3072 (float32 weights) at 0.67 ms against 0.80.
#define KCD (4 * KC)

// Weights are read as doubles, or (wf = 1) as floats widened exactly in the register: the same
// values, so the same bits, from half the bytes (docs/CELLS.md §11.1).
typedef float FN(vhf) __attribute__((vector_size(VL * 2)));
AI VD FN(loadw)(const float *p) {
    FN(vhf) v;
    __builtin_memcpy(&v, p, sizeof v);
    return __builtin_convertvector(v, VD);
}
#define BLOAD(wf, b, off) ((wf) ? FN(loadw)((const float *)(b) + (off)) : FN(loadd)((const double *)(b) + (off)))

// mr rows × np panels: each row's x[k] is broadcast once per k and multiplies np·NVD vectors of
// weights. Wider tiles need fewer broadcasts per product, taller ones fewer weight loads: on
// Zen 4 (half-rate 512-bit units), 2 × 4 ran 3200 × 256 × 1024 at 48 GFLOP/s against 40 for
// 8 × 1, of an unfused peak of ≈ 54; on Zen 5 (full rate), 2 × 4 waits for W from L2 and 4 × 2
// wins (lstm_kernels.c).
AI void FN(tiled)(const int mr, const int np, const int wf, const double *a, ptrdiff_t lda, const void *b,
                  ptrdiff_t ps, ptrdiff_t kc, double *c, ptrdiff_t ldc, int acc_in) {
    VD acc[MRD][NPDM * NVD];
    for (int r = 0; r < mr; r++)
        for (int q = 0; q < np * NVD; q++) acc[r][q] = acc_in ? FN(loadd)(c + r * ldc + q * VDL) : (VD){0};
    for (ptrdiff_t kk = 0; kk < kc; kk++) {
        VD bv[NPDM * NVD];
        for (int q = 0; q < np * NVD; q++) bv[q] = BLOAD(wf, b, (q / NVD) * ps + kk * LSTMK_PANEL + (q % NVD) * VDL);
        for (int r = 0; r < mr; r++) {
            const VD x = a[r * lda + kk] - (VD){0};
            for (int q = 0; q < np * NVD; q++) {
                const VD p = x * bv[q];
                acc[r][q] = acc[r][q] + p;
            }
        }
    }
    for (int r = 0; r < mr; r++)
        for (int q = 0; q < np * NVD; q++) FN(stored)(c + r * ldc + q * VDL, acc[r][q]);
}

// m = 1: NPD panels side by side (more independent add chains for the matrix–vector case).
#define NPD (NVD >= 8 ? 1 : 8 / NVD)
AI void FN(tiled1)(const int wf, const double *a, const void *b, ptrdiff_t ps, ptrdiff_t kc, double *c, int acc_in) {
    VD acc[NPD][NVD];
    for (int q = 0; q < NPD; q++)
        for (int v = 0; v < NVD; v++) acc[q][v] = acc_in ? FN(loadd)(c + q * LSTMK_PANEL + v * VDL) : (VD){0};
    for (ptrdiff_t kk = 0; kk < kc; kk++) {
        const VD x = a[kk] - (VD){0};
        for (int q = 0; q < NPD; q++)
            for (int v = 0; v < NVD; v++) {
                const VD p = x * BLOAD(wf, b, q * ps + kk * LSTMK_PANEL + v * VDL);
                acc[q][v] = acc[q][v] + p;
            }
    }
    for (int q = 0; q < NPD; q++)
        for (int v = 0; v < NVD; v++) FN(stored)(c + q * LSTMK_PANEL + v * VDL, acc[q][v]);
}

#define TILED_NP(mr, wf)                                                                                 \
    switch (np) {                                                                                        \
    case 4: if (NPDM >= 4) { FN(tiled)(mr, 4, wf, a, lda, b, ps, kc, c, ldc, acc_in); return; } break;   \
    case 2: if (NPDM >= 2) { FN(tiled)(mr, 2, wf, a, lda, b, ps, kc, c, ldc, acc_in); return; } break;   \
    case 1: FN(tiled)(mr, 1, wf, a, lda, b, ps, kc, c, ldc, acc_in); return;                             \
    }
#define TILED_MR(wf)                                   \
    switch (mr) {                                      \
    case 1: TILED_NP(1, wf) break;                     \
    case 2: if (MRD >= 2) { TILED_NP(2, wf) } break;   \
    case 3: if (MRD >= 3) { TILED_NP(3, wf) } break;   \
    case 4: if (MRD >= 4) { TILED_NP(4, wf) } break;   \
    }
static TGT __attribute__((noinline)) void FN(tiled_any)(int mr, int np, int wf, const double *a, ptrdiff_t lda,
                                                       const void *b, ptrdiff_t ps, ptrdiff_t kc, double *c,
                                                       ptrdiff_t ldc, int acc_in) {
    if (wf) { TILED_MR(1) } else { TILED_MR(0) }
    __builtin_trap();
}
#undef TILED_MR
#undef TILED_NP

// W packed as doubles (wf = 0) or floats (wf = 1). With float weights and more rows than one
// tile holds, each depth slice of a group of panels is widened once into a buffer (per row
// block) and then read as doubles by every row tile, so the conversion is not repeated per
// tile; a single row tile widens as it loads.
// bias (NULL for none): added to each row block's finished sums while they are still in cache,
// each sum rounded first (the bits of a second pass over C).
static TGT void FN(gemm_f64)(const double *a, const void *w, int wf, const double *bias, double *c, ptrdiff_t m,
                             ptrdiff_t k, ptrdiff_t n) {
    const ptrdiff_t ps = k * LSTMK_PANEL, full = n / LSTMK_PANEL, panels = (n + LSTMK_PANEL - 1) / LSTMK_PANEL;
    const size_t esize = wf ? sizeof(float) : sizeof(double);
    if (k == 0) {
        for (ptrdiff_t i = 0; i < m * n; i++) c[i] = bias ? 0.0 + bias[i % n] : 0;
        return;
    }
    // Up to 8 rows (the recurrent product of a small batch): taller, narrower tiles (MRD rows ×
    // NPDS panels), so the weights are read fewer times; more rows: MRDL × NPDM tiles.
    const int small = m <= 8, tr = small ? MRD : MRDL, gnp = small ? NPDS : NPDM;
    double *buf = wf && !small ? malloc(sizeof(double) * NPDM * KCD * LSTMK_PANEL) : NULL;
    for (ptrdiff_t i0 = 0; i0 < m; i0 += RB) {
        const ptrdiff_t i1 = m - i0 < RB ? m : i0 + RB;
        for (ptrdiff_t k0 = 0; k0 < k; k0 += KCD) {
            const ptrdiff_t kc = k - k0 < KCD ? k - k0 : KCD;
            const int acc_in = k0 > 0;
            ptrdiff_t p = 0;
            if (m == 1)
                for (; p + NPD <= full; p += NPD) {
                    const char *b = (const char *)w + (size_t)(p * ps + k0 * LSTMK_PANEL) * esize;
                    if (wf) FN(tiled1)(1, a + k0, b, ps, kc, c + p * LSTMK_PANEL, acc_in);
                    else FN(tiled1)(0, a + k0, b, ps, kc, c + p * LSTMK_PANEL, acc_in);
                }
            // Full panels in groups of NPDM (leftovers in halving groups), row tiles inside: a
            // group's depth slice is reused by every row tile of the block.
            while (p < full) {
                int np = gnp;
                while (np > 1 && full - p < np) np /= 2;
                const void *b = (const char *)w + (size_t)(p * ps + k0 * LSTMK_PANEL) * esize;
                ptrdiff_t bps = ps;
                int bwf = wf;
                if (buf) {
                    const float *src = b;
                    for (int q = 0; q < np; q++)
                        for (ptrdiff_t e = 0; e < kc * LSTMK_PANEL; e++) buf[q * kc * LSTMK_PANEL + e] = src[q * ps + e];
                    b = buf, bps = kc * LSTMK_PANEL, bwf = 0;
                }
                for (ptrdiff_t i = i0; i < i1;) {
                    const ptrdiff_t left = i1 - i, tiles = (left + tr - 1) / tr;
                    const int mr = (int)((left + tiles - 1) / tiles);
                    FN(tiled_any)(mr, np, bwf, a + i * k + k0, k, b, bps, kc, c + i * n + p * LSTMK_PANEL, n, acc_in);
                    i += mr;
                }
                p += np;
            }
            if (full < panels) { // the last, partial panel through a 16-column buffer
                const ptrdiff_t cols = n - full * LSTMK_PANEL;
                const void *b = (const char *)w + (size_t)(full * ps + k0 * LSTMK_PANEL) * esize;
                for (ptrdiff_t i = i0; i < i1;) {
                    const ptrdiff_t left = i1 - i, tiles = (left + tr - 1) / tr;
                    const int mr = (int)((left + tiles - 1) / tiles);
                    double cb[MRD * LSTMK_PANEL];
                    double *ci = c + i * n + full * LSTMK_PANEL;
                    for (int r = 0; r < mr; r++)
                        for (int j = 0; j < LSTMK_PANEL; j++) cb[r * LSTMK_PANEL + j] = j < cols ? ci[r * n + j] : 0;
                    FN(tiled_any)(mr, 1, wf, a + i * k + k0, k, b, ps, kc, cb, LSTMK_PANEL, acc_in);
                    for (int r = 0; r < mr; r++)
                        for (int j = 0; j < cols; j++) ci[r * n + j] = cb[r * LSTMK_PANEL + j];
                    i += mr;
                }
            }
        }
        if (bias)
            for (ptrdiff_t i = i0; i < i1; i++)
                for (ptrdiff_t j = 0; j < n; j++) c[i * n + j] = c[i * n + j] + bias[j];
    }
    free(buf);
}
#undef BLOAD
#undef NPD
#undef VD
#undef VDI
#undef NVD
#undef KCD
#undef VDL

#undef TILE_NP
#undef NPMAX
#undef MRMAX
#undef RB
#undef NV
#undef AI
#undef VI
#undef VF
#undef FN
#undef CAT
#undef CAT_
#undef SFX
#undef TGT
#undef VL
#undef FMADD
#undef MR
#undef NPB
#undef MRX
#undef NPX
#undef NP1
#undef KC
#undef MRD
#undef NPDM
#undef NPDS
#undef MRDL
