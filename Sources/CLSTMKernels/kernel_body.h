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
//   MRD      rows of the f64 reference tile (MRD·16 doubles of accumulators fit in registers)
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
// chain in ascending k, whatever mr and np are.
AI void FN(tile)(const int mr, const int np, const float *a, ptrdiff_t lda, const float *b,
                 ptrdiff_t pstride, ptrdiff_t kc, float *c, ptrdiff_t ldc, int acc_in) {
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
    for (int r = 0; r < mr; r++)
        for (int q = 0; q < np * NV; q++) FN(store)(c + r * ldc + q * VL, acc[r][q]);
}

// Turns run-time (mr, np) into constants so that each shape used is its own unrolled tile;
// the constant conditions keep shapes that are never asked for out of the object code.
#define TILE_NP(mr, lim)                                                                  \
    switch (np) {                                                                         \
    case 8: if (8 <= (lim)) { FN(tile)(mr, 8, a, lda, b, ps, kc, c, ldc, acc_in); return; } break; \
    case 3: if (3 == (lim)) { FN(tile)(mr, 3, a, lda, b, ps, kc, c, ldc, acc_in); return; } break; \
    case 4: if (4 <= (lim)) { FN(tile)(mr, 4, a, lda, b, ps, kc, c, ldc, acc_in); return; } break; \
    case 2: if (2 <= (lim)) { FN(tile)(mr, 2, a, lda, b, ps, kc, c, ldc, acc_in); return; } break; \
    case 1: FN(tile)(mr, 1, a, lda, b, ps, kc, c, ldc, acc_in); return;                 \
    }

static TGT __attribute__((noinline)) void FN(tile_any)(int mr, int np, const float *a, ptrdiff_t lda,
                                                      const float *b, ptrdiff_t ps, ptrdiff_t kc,
                                                      float *c, ptrdiff_t ldc, int acc_in) {
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

static TGT void FN(gemm)(const float *a, const float *w, float *c, ptrdiff_t m, ptrdiff_t k,
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
            for (ptrdiff_t j = p0 * LSTMK_PANEL; j < n && j < p1 * LSTMK_PANEL; j++) c[i * n + j] = 0;
        return;
    }
    for (ptrdiff_t i0 = 0; i0 < m; i0 += RB) {
        const ptrdiff_t i1 = m - i0 < RB ? m : i0 + RB;
        for (ptrdiff_t k0 = 0; k0 < k; k0 += kcmax) {
            const ptrdiff_t kc = k - k0 < kcmax ? k - k0 : kcmax;
            const int acc_in = k0 > 0;
            const ptrdiff_t pend = p1 < full ? p1 : full; // panels with 16 valid columns
            // Panel groups outside, row tiles inside: a group's depth slice is reused by every
            // row tile of the block. Leftover panels go in halving groups.
            for (ptrdiff_t p = p0; p < pend;) {
                int np = group;
                while (np > 1 && pend - p < np) np /= 2;
                const float *b = w + p * ps + k0 * LSTMK_PANEL;
                for (ptrdiff_t i = i0; i < i1;) {
                    const int mr = one ? (int)(i1 - i) : FN(rows)(i1 - i);
                    FN(tile_any)(mr, np, a + i * k + k0, k, b, ps, kc, c + i * n + p * LSTMK_PANEL, n, acc_in);
                    i += mr;
                }
                p += np;
            }
            // The last, partial panel: through a 16-column buffer (the padding computes zeros).
            if (p1 > full && full < (n + LSTMK_PANEL - 1) / LSTMK_PANEL) {
                const ptrdiff_t cols = n - full * LSTMK_PANEL;
                const float *b = w + full * ps + k0 * LSTMK_PANEL;
                float buf[MRMAX * LSTMK_PANEL];
                for (ptrdiff_t i = i0; i < i1;) {
                    const int mr = one ? (int)(i1 - i) : FN(rows)(i1 - i);
                    float *ci = c + i * n + full * LSTMK_PANEL;
                    for (int r = 0; r < mr; r++)
                        for (int j = 0; j < LSTMK_PANEL; j++) buf[r * LSTMK_PANEL + j] = j < cols ? ci[r * n + j] : 0;
                    FN(tile_any)(mr, 1, a + i * k + k0, k, b, ps, kc, buf, LSTMK_PANEL, acc_in);
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

// Runs: full vectors, then the tail through a padded vector, so that an element's result does
// not depend on where it falls in the run.
#define RUN(name, f)                                                              \
    static TGT void FN(name)(float *x, ptrdiff_t count) {                         \
        ptrdiff_t j = 0;                                                          \
        for (; j + VL <= count; j += VL) FN(store)(x + j, f(FN(load)(x + j)));    \
        if (j < count) {                                                          \
            float buf[VL] = {0};                                                  \
            __builtin_memcpy(buf, x + j, (size_t)(count - j) * sizeof(float));    \
            FN(store)(buf, f(FN(load)(buf)));                                     \
            __builtin_memcpy(x + j, buf, (size_t)(count - j) * sizeof(float));    \
        }                                                                         \
    }
RUN(sigmoid, FN(sigmoid1))
RUN(tanh, FN(tanh1))


// ---- Fused gate steps (one call per time step over a slice of batch rows) -----------------
// Tails of a row go through a zero-padded vector, so an element's bits never depend on where
// it falls in the row; the arithmetic is exactly the unfused sequence of docs/CELLS.md §11:
// a = xw + hw (rounded), the activation, then c' = f·c + i·g and h' = o·tanh(c') with every
// product rounded before the add (this file is compiled with FP_CONTRACT OFF).
AI VF FN(loadn)(const float *p, ptrdiff_t n) {
    float buf[VL] = {0};
    __builtin_memcpy(buf, p, (size_t)n * sizeof(float));
    return FN(load)(buf);
}
AI void FN(storen)(float *p, VF v, ptrdiff_t n) {
    float buf[VL];
    FN(store)(buf, v);
    __builtin_memcpy(p, buf, (size_t)n * sizeof(float));
}

// One vector of units of one LSTM row: x and r point at the i block of the row's xw and hw
// (f, g, o follow at +H, +2H, +3H); cv is c (in/out), hv the new h, yv a copy of it or NULL.
AI void FN(lstm_units)(const float *x, const float *r, ptrdiff_t H, float *cv, float *hv, float *yv,
                       ptrdiff_t n) {
    VF ai, af, ag, ao, c;
    if (n == VL) {
        ai = FN(load)(x) + FN(load)(r);
        af = FN(load)(x + H) + FN(load)(r + H);
        ag = FN(load)(x + 2 * H) + FN(load)(r + 2 * H);
        ao = FN(load)(x + 3 * H) + FN(load)(r + 3 * H);
        c = FN(load)(cv);
    } else {
        ai = FN(loadn)(x, n) + FN(loadn)(r, n);
        af = FN(loadn)(x + H, n) + FN(loadn)(r + H, n);
        ag = FN(loadn)(x + 2 * H, n) + FN(loadn)(r + 2 * H, n);
        ao = FN(loadn)(x + 3 * H, n) + FN(loadn)(r + 3 * H, n);
        c = FN(loadn)(cv, n);
    }
    const VF i = FN(sigmoid1)(ai), f = FN(sigmoid1)(af), g = FN(tanh1)(ag), o = FN(sigmoid1)(ao);
    const VF fc = f * c, ig = i * g;
    const VF cn = fc + ig;
    const VF hn = o * FN(tanh1)(cn);
    if (n == VL) {
        FN(store)(cv, cn);
        FN(store)(hv, hn);
        if (yv) FN(store)(yv, hn);
    } else {
        FN(storen)(cv, cn, n);
        FN(storen)(hv, hn, n);
        if (yv) FN(storen)(yv, hn, n);
    }
}

static TGT void FN(lstm_step)(const float *xw, ptrdiff_t xw_step, const float *hw, float *c, float *h,
                              ptrdiff_t ldh, float *y, ptrdiff_t y_step, ptrdiff_t ldy,
                              const ptrdiff_t *rows, ptrdiff_t nb, ptrdiff_t H) {
    for (ptrdiff_t b = 0; b < nb; b++) {
        const ptrdiff_t t = rows[b];
        if (t < 0) continue;
        const float *x = xw + t * xw_step + b * 4 * H, *r = hw + b * 4 * H;
        float *cv = c + b * H, *hv = h + b * ldh, *yv = y ? y + t * y_step + b * ldy : 0;
        ptrdiff_t j = 0;
        for (; j + VL <= H; j += VL) FN(lstm_units)(x + j, r + j, H, cv + j, hv + j, yv ? yv + j : 0, VL);
        if (j < H) FN(lstm_units)(x + j, r + j, H, cv + j, hv + j, yv ? yv + j : 0, H - j);
    }
}

// One vector of units of one reset-after GRU row: x and r point at the z block of the row's
// xw and hw (r at +H, n at +2H); bhn is b_hn; hv is h (in/out).
AI void FN(gru_units)(const float *x, const float *r, const float *bhn, ptrdiff_t H, float *hv, float *yv,
                      ptrdiff_t n) {
    VF az, ar, xn, hn, bn, h;
    if (n == VL) {
        az = FN(load)(x) + FN(load)(r);
        ar = FN(load)(x + H) + FN(load)(r + H);
        xn = FN(load)(x + 2 * H);
        hn = FN(load)(r + 2 * H);
        bn = FN(load)(bhn);
        h = FN(load)(hv);
    } else {
        az = FN(loadn)(x, n) + FN(loadn)(r, n);
        ar = FN(loadn)(x + H, n) + FN(loadn)(r + H, n);
        xn = FN(loadn)(x + 2 * H, n);
        hn = FN(loadn)(r + 2 * H, n);
        bn = FN(loadn)(bhn, n);
        h = FN(loadn)(hv, n);
    }
    const VF z = FN(sigmoid1)(az), rg = FN(sigmoid1)(ar);
    const VF hb = hn + bn;
    const VF rh = rg * hb;
    const VF nn = FN(tanh1)(xn + rh);
    const VF zc = 1.0f - z;
    const VF a = zc * nn, bz = z * h;
    const VF out = a + bz;
    if (n == VL) {
        FN(store)(hv, out);
        if (yv) FN(store)(yv, out);
    } else {
        FN(storen)(hv, out, n);
        if (yv) FN(storen)(yv, out, n);
    }
}

static TGT void FN(gru_step)(const float *xw, ptrdiff_t xw_step, const float *hw, const float *bhn, float *h,
                             float *y, ptrdiff_t y_step, ptrdiff_t ldy, const ptrdiff_t *rows, ptrdiff_t nb,
                             ptrdiff_t H) {
    for (ptrdiff_t b = 0; b < nb; b++) {
        const ptrdiff_t t = rows[b];
        if (t < 0) continue;
        const float *x = xw + t * xw_step + b * 3 * H, *r = hw + b * 3 * H;
        float *hv = h + b * H, *yv = y ? y + t * y_step + b * ldy : 0;
        ptrdiff_t j = 0;
        for (; j + VL <= H; j += VL) FN(gru_units)(x + j, r + j, bhn + j, H, hv + j, yv ? yv + j : 0, VL);
        if (j < H) FN(gru_units)(x + j, r + j, bhn + j, H, hv + j, yv ? yv + j : 0, H - j);
    }
}

// ---- f64 reference product: the order of docs/CELLS.md §11.1, vectorised across columns ------
// Each element is one chain over k in ascending order from 0, every product rounded, then
// added (never fused: FP_CONTRACT OFF, and the vectors only put independent elements side by
// side). A depth block continues from the partial sum stored in C, which is exact, so the bits
// are those of the plain scalar loop on every path.
#define VDL (VL / 2)
#define NVD (LSTMK_PANEL / VDL)
#define VD FN(vd)
typedef double VD __attribute__((vector_size(VL * 4)));
AI VD FN(loadd)(const double *p) { VD v; __builtin_memcpy(&v, p, sizeof v); return v; }
AI void FN(stored)(double *p, VD v) { __builtin_memcpy(p, &v, sizeof v); }

AI void FN(tiled)(const int mr, const double *a, ptrdiff_t lda, const double *b, ptrdiff_t kc, double *c,
                  ptrdiff_t ldc, int acc_in) {
    VD acc[MRD][NVD];
    for (int r = 0; r < mr; r++)
        for (int q = 0; q < NVD; q++) acc[r][q] = acc_in ? FN(loadd)(c + r * ldc + q * VDL) : (VD){0};
    for (ptrdiff_t kk = 0; kk < kc; kk++) {
        VD bv[NVD];
        for (int q = 0; q < NVD; q++) bv[q] = FN(loadd)(b + kk * LSTMK_PANEL + q * VDL);
        for (int r = 0; r < mr; r++) {
            const VD x = a[r * lda + kk] - (VD){0};
            for (int q = 0; q < NVD; q++) {
                const VD p = x * bv[q];
                acc[r][q] = acc[r][q] + p;
            }
        }
    }
    for (int r = 0; r < mr; r++)
        for (int q = 0; q < NVD; q++) FN(stored)(c + r * ldc + q * VDL, acc[r][q]);
}

// m = 1: NPD panels side by side (more independent add chains for the matrix–vector case).
#define NPD (NVD >= 8 ? 1 : 8 / NVD)
AI void FN(tiled1)(const double *a, const double *b, ptrdiff_t ps, ptrdiff_t kc, double *c, int acc_in) {
    VD acc[NPD][NVD];
    for (int q = 0; q < NPD; q++)
        for (int v = 0; v < NVD; v++) acc[q][v] = acc_in ? FN(loadd)(c + q * LSTMK_PANEL + v * VDL) : (VD){0};
    for (ptrdiff_t kk = 0; kk < kc; kk++) {
        const VD x = a[kk] - (VD){0};
        for (int q = 0; q < NPD; q++)
            for (int v = 0; v < NVD; v++) {
                const VD p = x * FN(loadd)(b + q * ps + kk * LSTMK_PANEL + v * VDL);
                acc[q][v] = acc[q][v] + p;
            }
    }
    for (int q = 0; q < NPD; q++)
        for (int v = 0; v < NVD; v++) FN(stored)(c + q * LSTMK_PANEL + v * VDL, acc[q][v]);
}

static TGT __attribute__((noinline)) void FN(tiled_any)(int mr, const double *a, ptrdiff_t lda, const double *b,
                                                       ptrdiff_t kc, double *c, ptrdiff_t ldc, int acc_in) {
    switch (mr) {
    case 1: FN(tiled)(1, a, lda, b, kc, c, ldc, acc_in); return;
    case 2: if (MRD >= 2) { FN(tiled)(2, a, lda, b, kc, c, ldc, acc_in); return; } break;
    case 3: if (MRD >= 3) { FN(tiled)(3, a, lda, b, kc, c, ldc, acc_in); return; } break;
    case 4: if (MRD >= 4) { FN(tiled)(4, a, lda, b, kc, c, ldc, acc_in); return; } break;
    case 5: if (MRD >= 5) { FN(tiled)(5, a, lda, b, kc, c, ldc, acc_in); return; } break;
    case 6: if (MRD >= 6) { FN(tiled)(6, a, lda, b, kc, c, ldc, acc_in); return; } break;
    case 7: if (MRD >= 7) { FN(tiled)(7, a, lda, b, kc, c, ldc, acc_in); return; } break;
    case 8: if (MRD >= 8) { FN(tiled)(8, a, lda, b, kc, c, ldc, acc_in); return; } break;
    }
    __builtin_trap();
}

static TGT void FN(gemm_f64)(const double *a, const double *w, double *c, ptrdiff_t m, ptrdiff_t k, ptrdiff_t n) {
    const ptrdiff_t ps = k * LSTMK_PANEL, full = n / LSTMK_PANEL, panels = (n + LSTMK_PANEL - 1) / LSTMK_PANEL;
    if (k == 0) {
        for (ptrdiff_t i = 0; i < m * n; i++) c[i] = 0;
        return;
    }
    for (ptrdiff_t i0 = 0; i0 < m; i0 += RB) {
        const ptrdiff_t i1 = m - i0 < RB ? m : i0 + RB;
        for (ptrdiff_t k0 = 0; k0 < k; k0 += KC) {
            const ptrdiff_t kc = k - k0 < KC ? k - k0 : KC;
            const int acc_in = k0 > 0;
            ptrdiff_t p = 0;
            if (m == 1)
                for (; p + NPD <= full; p += NPD)
                    FN(tiled1)(a + k0, w + p * ps + k0 * LSTMK_PANEL, ps, kc, c + p * LSTMK_PANEL, acc_in);
            for (; p < panels; p++) {
                const double *b = w + p * ps + k0 * LSTMK_PANEL;
                for (ptrdiff_t i = i0; i < i1;) {
                    const ptrdiff_t left = i1 - i, tiles = (left + MRD - 1) / MRD;
                    const int mr = (int)((left + tiles - 1) / tiles);
                    if (p < full) {
                        FN(tiled_any)(mr, a + i * k + k0, k, b, kc, c + i * n + p * LSTMK_PANEL, n, acc_in);
                    } else { // the last, partial panel through a 16-column buffer
                        const ptrdiff_t cols = n - full * LSTMK_PANEL;
                        double buf[MRD * LSTMK_PANEL];
                        double *ci = c + i * n + full * LSTMK_PANEL;
                        for (int r = 0; r < mr; r++)
                            for (int j = 0; j < LSTMK_PANEL; j++) buf[r * LSTMK_PANEL + j] = j < cols ? ci[r * n + j] : 0;
                        FN(tiled_any)(mr, a + i * k + k0, k, b, kc, buf, LSTMK_PANEL, acc_in);
                        for (int r = 0; r < mr; r++)
                            for (int j = 0; j < cols; j++) ci[r * n + j] = buf[r * LSTMK_PANEL + j];
                    }
                    i += mr;
                }
            }
        }
    }
}
#undef NPD
#undef VD
#undef NVD
#undef VDL

#undef RUN
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
