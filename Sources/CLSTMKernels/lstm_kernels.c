// Run-time dispatch over the kernel paths (see include/lstm_kernels.h). The kernels themselves
// are in kernel_body.h, instantiated here once per instruction set with per-function target
// attributes, so the package needs no compiler flags and runs on any CPU of its architecture.
#include "lstm_kernels.h"

#include <stdlib.h> // getenv; malloc and free in kernel_body.h
#include <string.h>

#include "lstm_threads.h"

// No contraction of a·b + c into fused multiply-adds: the portable path's summation rule is
// multiply, round, add. The FMA paths fuse explicitly (__builtin_elementwise_fma).
#pragma STDC FP_CONTRACT OFF

#define FUSED(acc, x, y) __builtin_elementwise_fma((x), (y), (acc))
#define UNFUSED(acc, x, y) ((acc) + (x) * (y))

// Portable: baseline vectors (SSE2 on x86-64, NEON on aarch64), no FMA.
#define SFX portable
#define TGT
#define VL 4
#define FMADD UNFUSED
#define MR 2
#define NPB 1
#define NP1 2
#define KC 256
#define MRD 1
#define NPDS 1
#define MRDL 1
#define NPDM 1
#define MRX MR
#define NPX NPB
#include "kernel_body.h"

#if defined(__x86_64__)
// AVX2 + FMA: a 6 × 16 tile is twelve ymm accumulators; m = 1 runs four panels (eight chains).
#define SFX avx2
#define TGT __attribute__((target("avx2,fma")))
#define VL 8
#define FMADD FUSED
#define MR 6
#define NPB 1
#define NP1 4
#define KC 256
#define MRD 3
#define NPDS 1
#define MRDL 3
#define NPDM 1
#define MRX MR
#define NPX NPB
#include "kernel_body.h"

// AVX-512: a 6 × 64 tile is 24 of the 32 zmm registers; m = 1 runs four panels (four
// independent FMA chains; eight streams of W_h were 2–7 % slower from L2 and L3 on Zen 4 at
// H ≥ 128, sixteen slower still).
#define SFX avx512
#define TGT __attribute__((target("avx512f,avx512vl,avx512bw,avx512dq,fma")))
#define VL 16
#define FMADD FUSED
#define MR 6
#define NPB 4
#define NP1 4
#define KC 256
// f64: 16 zmm accumulators, as 4 rows × 2 panels (on Zen 5, the 2 × 4 tile used for m > 8
// before read W from L2 faster than L2 delivers it: 32 × 128 × 512 at 110 GFLOP/s against ≈ 60)
#define MRD 4
#define NPDS 2
#define MRDL 4
#define NPDM 2
#define MRX 8 // B ≤ 8: an 8 × 48 tile, 24 accumulators
#define NPX 3
#include "kernel_body.h"
#endif

#if defined(__aarch64__)
// NEON (always present on aarch64) with fused multiply-add: 32 registers allow a 6 × 16 tile.
#define SFX neon
#define TGT
#define VL 4
#define FMADD FUSED
#define MR 6
#define NPB 1
#define NP1 4
#define KC 256
#define MRD 2
#define NPDS 1
#define MRDL 2
#define NPDM 1
#define MRX MR
#define NPX NPB
#include "kernel_body.h"
#endif

static int supported(int path) {
    switch (path) {
    case LSTMK_PATH_PORTABLE: return 1;
#if defined(__x86_64__)
    // __builtin_cpu_supports also checks that the OS saves the wider registers (XGETBV).
    case LSTMK_PATH_AVX2:
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case LSTMK_PATH_AVX512:
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
               __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
               __builtin_cpu_supports("fma");
#endif
#if defined(__aarch64__)
    case LSTMK_PATH_NEON: return 1;
#endif
    default: return 0;
    }
}

static int best(void) {
    static const int order[] = {LSTMK_PATH_AVX512, LSTMK_PATH_AVX2, LSTMK_PATH_NEON};
    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++)
        if (supported(order[i])) return order[i];
    return LSTMK_PATH_PORTABLE;
}

// -1 until chosen. Racing first calls all compute the same value, so relaxed atomics suffice.
static int chosen = -1;

static int initial(void) {
    const char *env = getenv("LSTMTOOL_KERNEL");
    if (env)
        for (int p = LSTMK_PATH_PORTABLE; p <= LSTMK_PATH_NEON; p++)
            if (strcmp(env, lstmk_path_name(p)) == 0 && supported(p)) return p;
    return best(); // unset, unknown or unsupported here: the best this CPU has
}

int lstmk_path(void) {
    int p = __atomic_load_n(&chosen, __ATOMIC_RELAXED);
    if (p < 0) {
        p = initial();
        __atomic_store_n(&chosen, p, __ATOMIC_RELAXED);
    }
    return p;
}

const char *lstmk_path_name(int path) {
    switch (path) {
    case LSTMK_PATH_PORTABLE: return "portable";
    case LSTMK_PATH_AVX2: return "avx2";
    case LSTMK_PATH_AVX512: return "avx512";
    case LSTMK_PATH_NEON: return "neon";
    default: return "unknown";
    }
}

int lstmk_path_supported(int path) { return supported(path); }

int lstmk_force_path(int path) {
    if (path == LSTMK_PATH_AUTO) path = best();
    if (!supported(path)) return -1;
    __atomic_store_n(&chosen, path, __ATOMIC_RELAXED);
    return 0;
}

// Calls fn_PATH(args...) for the path in use.
#if defined(__x86_64__)
#define DISPATCH(fn, ...)                                                  \
    switch (lstmk_path()) {                                                \
    case LSTMK_PATH_AVX512: fn##_avx512(__VA_ARGS__); return;              \
    case LSTMK_PATH_AVX2: fn##_avx2(__VA_ARGS__); return;                  \
    default: fn##_portable(__VA_ARGS__); return;                           \
    }
#elif defined(__aarch64__)
#define DISPATCH(fn, ...)                                                  \
    switch (lstmk_path()) {                                                \
    case LSTMK_PATH_NEON: fn##_neon(__VA_ARGS__); return;                  \
    default: fn##_portable(__VA_ARGS__); return;                           \
    }
#else
#define DISPATCH(fn, ...) fn##_portable(__VA_ARGS__); return;
#endif

void lstmk_gemm_f32(const float *a, const float *w, float *c, ptrdiff_t m, ptrdiff_t k, ptrdiff_t n,
                    ptrdiff_t p0, ptrdiff_t p1) {
    lstmk_gemm_bias_f32(a, w, 0, c, m, k, n, p0, p1);
}

void lstmk_gemm_bias_f32(const float *a, const float *w, const float *bias, float *c, ptrdiff_t m, ptrdiff_t k,
                         ptrdiff_t n, ptrdiff_t p0, ptrdiff_t p1) {
    if (m <= 0 || n <= 0 || p0 >= p1) return;
    DISPATCH(gemm, a, w, bias, c, m, k, n, p0, p1)
}

void lstmk_sigmoid_f32(float *x, ptrdiff_t count) { if (count > 0) { DISPATCH(sigmoid_f32, x, count) } }
void lstmk_tanh_f32(float *x, ptrdiff_t count) { if (count > 0) { DISPATCH(tanh_f32, x, count) } }
void lstmk_sigmoid_f64(double *x, ptrdiff_t count) { if (count > 0) { DISPATCH(sigmoid_f64, x, count) } }
void lstmk_tanh_f64(double *x, ptrdiff_t count) { if (count > 0) { DISPATCH(tanh_f64, x, count) } }

#define LSTM_STEP(T)                                                                                       \
    void lstmk_lstm_step_##T(const SCALAR_##T *xw, ptrdiff_t xw_step, const SCALAR_##T *hw, SCALAR_##T *c,       \
                             SCALAR_##T *h, ptrdiff_t ldh, SCALAR_##T *y, ptrdiff_t y_step, ptrdiff_t ldy,       \
                             const ptrdiff_t *rows, ptrdiff_t nb, ptrdiff_t hidden) {                        \
        lstmk_lstm_step_units_##T(xw, xw_step, hw, c, h, ldh, y, y_step, ldy, rows, nb, hidden, 0, hidden);  \
    }                                                                                                        \
    void lstmk_lstm_step_units_##T(const SCALAR_##T *xw, ptrdiff_t xw_step, const SCALAR_##T *hw, SCALAR_##T *c, \
                                   SCALAR_##T *h, ptrdiff_t ldh, SCALAR_##T *y, ptrdiff_t y_step, ptrdiff_t ldy, \
                                   const ptrdiff_t *rows, ptrdiff_t nb, ptrdiff_t hidden, ptrdiff_t u0,      \
                                   ptrdiff_t u1) {                                                          \
        if (nb <= 0 || hidden <= 0 || u0 < 0 || u1 > hidden || u0 >= u1) return;                             \
        DISPATCH(lstm_step_##T, xw, xw_step, hw, c, h, ldh, y, y_step, ldy, rows, nb, hidden, u0, u1)        \
    }
#define GRU_STEP(T)                                                                                        \
    void lstmk_gru_step_##T(const SCALAR_##T *xw, ptrdiff_t xw_step, const SCALAR_##T *hw,                       \
                            const SCALAR_##T *bhn, SCALAR_##T *h, SCALAR_##T *y, ptrdiff_t y_step, ptrdiff_t ldy, \
                            const ptrdiff_t *rows, ptrdiff_t nb, ptrdiff_t hidden) {                         \
        lstmk_gru_step_units_##T(xw, xw_step, hw, bhn, h, y, y_step, ldy, rows, nb, hidden, 0, hidden);      \
    }                                                                                                        \
    void lstmk_gru_step_units_##T(const SCALAR_##T *xw, ptrdiff_t xw_step, const SCALAR_##T *hw,                 \
                                  const SCALAR_##T *bhn, SCALAR_##T *h, SCALAR_##T *y, ptrdiff_t y_step,       \
                                  ptrdiff_t ldy, const ptrdiff_t *rows, ptrdiff_t nb, ptrdiff_t hidden,        \
                                  ptrdiff_t u0, ptrdiff_t u1) {                                              \
        if (nb <= 0 || hidden <= 0 || u0 < 0 || u1 > hidden || u0 >= u1) return;                             \
        DISPATCH(gru_step_##T, xw, xw_step, hw, bhn, h, y, y_step, ldy, rows, nb, hidden, u0, u1)            \
    }
#define SCALAR_f32 float
#define SCALAR_f64 double
LSTM_STEP(f32)
LSTM_STEP(f64)
GRU_STEP(f32)
GRU_STEP(f64)

typedef struct {
    const float *a, *w, *bias;
    float *c;
    ptrdiff_t m, k, n, panels, block;
} gemm_job;

static void gemm_item(void *context, long item) {
    const gemm_job *j = context;
    const ptrdiff_t p0 = item * j->block, p1 = p0 + j->block < j->panels ? p0 + j->block : j->panels;
    lstmk_gemm_bias_f32(j->a, j->w, j->bias, j->c, j->m, j->k, j->n, p0, p1);
}

void lstmk_gemm_f32_threads(const float *a, const float *w, float *c, ptrdiff_t m, ptrdiff_t k, ptrdiff_t n,
                            int threads) {
    lstmk_gemm_bias_f32_threads(a, w, 0, c, m, k, n, threads);
}

void lstmk_gemm_bias_f32_threads(const float *a, const float *w, const float *bias, float *c, ptrdiff_t m, ptrdiff_t k,
                                 ptrdiff_t n, int threads) {
    const ptrdiff_t panels = (n + LSTMK_PANEL - 1) / LSTMK_PANEL;
    if (m <= 0 || panels <= 0) return;
    // Blocks of at least four panels (one register tile wide), about four per thread, so that
    // a thread that starts late still finds some.
    ptrdiff_t block = (panels + 4 * (ptrdiff_t)threads - 1) / (4 * (ptrdiff_t)threads);
    if (block < 4) block = 4;
    gemm_job job = {a, w, bias, c, m, k, n, panels, block};
    lstmk_parallel_for(gemm_item, &job, (long)((panels + block - 1) / block), threads);
}

void lstmk_gemm_f64(const double *a, const double *w, double *c, ptrdiff_t m, ptrdiff_t k, ptrdiff_t n) {
    lstmk_gemm_bias_f64(a, w, 0, c, m, k, n);
}

void lstmk_gemm_bias_f64(const double *a, const double *w, const double *bias, double *c, ptrdiff_t m, ptrdiff_t k,
                         ptrdiff_t n) {
    if (m <= 0 || n <= 0) return;
    // No path fuses or reorders anything here, so every path gives the same bits; the choice
    // is only about speed.
    DISPATCH(gemm_f64, a, w, 0, bias, c, m, k, n)
}

void lstmk_gemm_f64_w32(const double *a, const float *w, double *c, ptrdiff_t m, ptrdiff_t k, ptrdiff_t n) {
    if (m <= 0 || n <= 0) return;
    DISPATCH(gemm_f64, a, w, 1, 0, c, m, k, n)
}
