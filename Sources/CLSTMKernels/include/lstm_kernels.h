// f32 kernels of lstmtool's fast evaluator path, chosen at run time from what the CPU has.
//
// Paths: portable (plain C, auto-vectorised, no fused multiply-add), avx2 (AVX2 + FMA),
// avx512 (AVX-512 F/VL/BW/DQ + FMA), neon (aarch64, with FMA). The path is chosen once, on
// first use: LSTMTOOL_KERNEL=portable|avx2|avx512|neon if set and the CPU supports it, else
// the best the CPU supports; lstmk_force_path changes it afterwards (tests, benchmarks).
//
// Determinism: every element of a product is one chain over k in ascending order, starting
// from 0. On the avx2, avx512 and neon paths each step is a fused multiply-add; on the portable
// path it is a rounded multiply, then an add. So an element's bits depend only on the path, its
// row of A and its column of W: not on m, the tile it falls in, the panel range (thread split)
// or depth blocking. Different paths may give different bits.
#ifndef LSTM_KERNELS_H
#define LSTM_KERNELS_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Columns per packed weight panel: W [n, k] is stored as ceil(n / 16) panels, each [k, 16]
/// (k-major, contiguous), the last one padded with zeros.
#define LSTMK_PANEL 16

enum {
    LSTMK_PATH_AUTO = -1,
    LSTMK_PATH_PORTABLE = 0,
    LSTMK_PATH_AVX2 = 1,
    LSTMK_PATH_AVX512 = 2,
    LSTMK_PATH_NEON = 3,
};

/// The path in use (chosen on the first call of any function here).
int lstmk_path(void);
/// "portable", "avx2", "avx512", "neon"; "unknown" for anything else.
const char *lstmk_path_name(int path);
/// 1 when this CPU (and OS) can run `path`, else 0.
int lstmk_path_supported(int path);
/// Uses `path` from now on (LSTMK_PATH_AUTO: the best supported). Returns 0, or -1 (and changes
/// nothing) when the path is not supported here. Not meant to be called while products run.
int lstmk_force_path(int path);

/// C[m, n] = A[m, k] · Wᵀ for the column panels [panel_begin, panel_end) of a packed W
/// (C row-major with row stride n, A row-major with row stride k). Only those panels' columns
/// of C are written, so threads may share one product by panel ranges.
void lstmk_gemm_f32(const float *a, const float *packed_w, float *c,
                    ptrdiff_t m, ptrdiff_t k, ptrdiff_t n,
                    ptrdiff_t panel_begin, ptrdiff_t panel_end);

/// In place, x[i] = 1 / (1 + e^(−x[i])) and x[i] = tanh(x[i]) for i < count: about 1e-7
/// absolute error, never overflow, NaN stays NaN. Every element is computed the same way
/// wherever it falls in the run.
void lstmk_sigmoid_f32(float *x, ptrdiff_t count);
void lstmk_tanh_f32(float *x, ptrdiff_t count);

#ifdef __cplusplus
}
#endif
#endif
