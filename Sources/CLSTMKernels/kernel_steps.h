// Activation runs and fused gate steps for one element type on one path; kernel_body.h
// includes this file once for float32 and once for float64 after defining:
//   ST       the element type (float, double)
//   SV       its vector type on this path, SN lanes
//   SNAME    the type's name in function names (f32, f64)
//   SSIG, STANH  the vector sigmoid and tanh of that type (f32: our float32 exp; f64: the
//            reference path's own exp and expm1, every operation correctly rounded)
// Tails of a row go through a zero-padded vector, so an element's bits never depend on where it
// falls in a run or a row; the arithmetic is exactly the unfused sequence of docs/CELLS.md §11:
// a = xw + hw (rounded), the activation, then c' = f·c + i·g and h' = o·tanh(c') with every
// product rounded before the add (the including file is compiled with FP_CONTRACT OFF).

#define SFN(name) FN(CAT(name, SNAME))

AI SV SFN(ld)(const ST *p) { SV v; __builtin_memcpy(&v, p, sizeof v); return v; }
AI void SFN(st)(ST *p, SV v) { __builtin_memcpy(p, &v, sizeof v); }
AI SV SFN(ldn)(const ST *p, ptrdiff_t n) {
    ST buf[SN] = {0};
    __builtin_memcpy(buf, p, (size_t)n * sizeof(ST));
    return SFN(ld)(buf);
}
AI void SFN(stn)(ST *p, SV v, ptrdiff_t n) {
    ST buf[SN];
    SFN(st)(buf, v);
    __builtin_memcpy(p, buf, (size_t)n * sizeof(ST));
}
// A whole vector or the first n lanes of one.
#define SLOAD(p, n) ((n) == SN ? SFN(ld)(p) : SFN(ldn)((p), (n)))
#define SSTORE(p, v, n) do { if ((n) == SN) SFN(st)((p), (v)); else SFN(stn)((p), (v), (n)); } while (0)

// Runs in place: full vectors, then the tail through a padded vector.
static TGT void SFN(sigmoid)(ST *x, ptrdiff_t count) {
    ptrdiff_t j = 0;
    for (; j + SN <= count; j += SN) SFN(st)(x + j, SSIG(SFN(ld)(x + j)));
    if (j < count) SFN(stn)(x + j, SSIG(SFN(ldn)(x + j, count - j)), count - j);
}
static TGT void SFN(tanh)(ST *x, ptrdiff_t count) {
    ptrdiff_t j = 0;
    for (; j + SN <= count; j += SN) SFN(st)(x + j, STANH(SFN(ld)(x + j)));
    if (j < count) SFN(stn)(x + j, STANH(SFN(ldn)(x + j, count - j)), count - j);
}

// One vector of units of one LSTM row: x and r point at the i block of the row's xw and hw
// (f, g, o follow at +H, +2H, +3H); cv is c (in/out), hv the new h, yv a copy of it or NULL.
AI void SFN(lstm_units)(const ST *x, const ST *r, ptrdiff_t H, ST *cv, ST *hv, ST *yv, ptrdiff_t n) {
    const SV ai = SLOAD(x, n) + SLOAD(r, n);
    const SV af = SLOAD(x + H, n) + SLOAD(r + H, n);
    const SV ag = SLOAD(x + 2 * H, n) + SLOAD(r + 2 * H, n);
    const SV ao = SLOAD(x + 3 * H, n) + SLOAD(r + 3 * H, n);
    const SV c = SLOAD(cv, n);
    const SV i = SSIG(ai), f = SSIG(af), g = STANH(ag), o = SSIG(ao);
    const SV fc = f * c, ig = i * g;
    const SV cn = fc + ig;
    const SV hn = o * STANH(cn);
    SSTORE(cv, cn, n);
    SSTORE(hv, hn, n);
    if (yv) SSTORE(yv, hn, n);
}

// Units [u0, u1) of every row (threads may share a step by unit ranges).
static TGT void SFN(lstm_step)(const ST *xw, ptrdiff_t xw_step, const ST *hw, ST *c, ST *h, ptrdiff_t ldh, ST *y,
                               ptrdiff_t y_step, ptrdiff_t ldy, const ptrdiff_t *rows, ptrdiff_t nb, ptrdiff_t H,
                               ptrdiff_t u0, ptrdiff_t u1) {
    for (ptrdiff_t b = 0; b < nb; b++) {
        const ptrdiff_t t = rows[b];
        if (t < 0) continue;
        const ST *x = xw + t * xw_step + b * 4 * H, *r = hw + b * 4 * H;
        ST *cv = c + b * H, *hv = h + b * ldh, *yv = y ? y + t * y_step + b * ldy : 0;
        // Full vectors (n = SN, a constant once inlined: no tail branches), then the tail.
        ptrdiff_t j = u0;
        for (; j + SN <= u1; j += SN) SFN(lstm_units)(x + j, r + j, H, cv + j, hv + j, yv ? yv + j : 0, SN);
        if (j < u1) SFN(lstm_units)(x + j, r + j, H, cv + j, hv + j, yv ? yv + j : 0, u1 - j);
    }
}

// One vector of units of one reset-after GRU row: x and r point at the z block of the row's
// xw and hw (r at +H, n at +2H); bhn is b_hn; hv is h (in/out).
AI void SFN(gru_units)(const ST *x, const ST *r, const ST *bhn, ptrdiff_t H, ST *hv, ST *yv, ptrdiff_t n) {
    const SV az = SLOAD(x, n) + SLOAD(r, n);
    const SV ar = SLOAD(x + H, n) + SLOAD(r + H, n);
    const SV xn = SLOAD(x + 2 * H, n), hn = SLOAD(r + 2 * H, n), bn = SLOAD(bhn, n), h = SLOAD(hv, n);
    const SV z = SSIG(az), rg = SSIG(ar);
    const SV hb = hn + bn;
    const SV rh = rg * hb;
    const SV nn = STANH(xn + rh);
    const SV zc = (ST)1 - z;
    const SV a = zc * nn, bz = z * h;
    const SV out = a + bz;
    SSTORE(hv, out, n);
    if (yv) SSTORE(yv, out, n);
}

static TGT void SFN(gru_step)(const ST *xw, ptrdiff_t xw_step, const ST *hw, const ST *bhn, ST *h, ST *y,
                              ptrdiff_t y_step, ptrdiff_t ldy, const ptrdiff_t *rows, ptrdiff_t nb, ptrdiff_t H,
                              ptrdiff_t u0, ptrdiff_t u1) {
    for (ptrdiff_t b = 0; b < nb; b++) {
        const ptrdiff_t t = rows[b];
        if (t < 0) continue;
        const ST *x = xw + t * xw_step + b * 3 * H, *r = hw + b * 3 * H;
        ST *hv = h + b * H, *yv = y ? y + t * y_step + b * ldy : 0;
        ptrdiff_t j = u0;
        for (; j + SN <= u1; j += SN) SFN(gru_units)(x + j, r + j, bhn + j, H, hv + j, yv ? yv + j : 0, SN);
        if (j < u1) SFN(gru_units)(x + j, r + j, bhn + j, H, hv + j, yv ? yv + j : 0, u1 - j);
    }
}

#undef SLOAD
#undef SSTORE
#undef SFN
#undef ST
#undef SV
#undef SN
#undef SNAME
#undef SSIG
#undef STANH
