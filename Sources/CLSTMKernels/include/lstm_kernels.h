// Kernels of lstmtool's evaluator — products, activations and fused gate steps of the f32 fast
// path and of the f64 reference — chosen at run time from what the CPU has.
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

/// Asks the kernel (Linux) to back the 2 MiB-aligned inside of a large buffer (8 MiB or more)
/// with transparent huge pages, before the buffer is first touched: filling fresh memory then
/// takes one fault per 2 MiB instead of one per 4 KiB (about 1.5 µs each on a virtual machine).
/// Advice only: nothing changes where huge pages are off or unsupported.
void lstmk_prefer_huge_pages(void *buffer, size_t bytes);

/// C[m, n] = A[m, k] · Wᵀ for the column panels [panel_begin, panel_end) of a packed W
/// (C row-major with row stride n, A row-major with row stride k). Only those panels' columns
/// of C are written, so threads may share one product by panel ranges.
void lstmk_gemm_f32(const float *a, const float *packed_w, float *c,
                    ptrdiff_t m, ptrdiff_t k, ptrdiff_t n,
                    ptrdiff_t panel_begin, ptrdiff_t panel_end);
/// lstmk_gemm_f32 over all panels, shared with up to threads − 1 workers of the pool
/// (lstm_threads.h) in blocks of panels taken as they come: the same bits as on one thread.
void lstmk_gemm_f32_threads(const float *a, const float *packed_w, float *c, ptrdiff_t m, ptrdiff_t k, ptrdiff_t n,
                            int threads);
/// lstmk_gemm_f32 and lstmk_gemm_f32_threads that also add bias[n] (NULL: none) to every row as
/// the product is stored: C[i, j] = (Σ_k A[i, k]·W[j, k]) + bias[j], the sum rounded before the
/// add — the bits of adding the bias in a second pass, without that pass over C.
void lstmk_gemm_bias_f32(const float *a, const float *packed_w, const float *bias, float *c,
                         ptrdiff_t m, ptrdiff_t k, ptrdiff_t n,
                         ptrdiff_t panel_begin, ptrdiff_t panel_end);
void lstmk_gemm_bias_f32_threads(const float *a, const float *packed_w, const float *bias, float *c, ptrdiff_t m,
                                 ptrdiff_t k, ptrdiff_t n, int threads);

/// In place, x[i] = 1 / (1 + e^(−x[i])) and x[i] = tanh(x[i]) for i < count: about 1e-7
/// absolute error, never overflow, NaN stays NaN. Every element is computed the same way
/// wherever it falls in the run.
void lstmk_sigmoid_f32(float *x, ptrdiff_t count);
void lstmk_tanh_f32(float *x, ptrdiff_t count);

/// One LSTM time step (sigmoid, tanh, tanh; no peepholes, clips or coupling) over nb batch rows,
/// fused: for row b with t = rows[b] ≥ 0 (rows < 0 are skipped), x = xw + t·xw_step + b·4H and
/// r = hw + b·4H hold the i, f, g, o pre-activation terms; then c[b·H + j] ← f·c + i·g and
/// h[b·ldh + j] ← o·tanh(c), also written to y + t·y_step + b·ldy when y is not NULL. The
/// operations are those of docs/CELLS.md §11 in that order, unfused, with the activations above,
/// so the bits equal the unfused sequence and do not depend on nb or the row slice.
void lstmk_lstm_step_f32(const float *xw, ptrdiff_t xw_step, const float *hw, float *c, float *h, ptrdiff_t ldh,
                         float *y, ptrdiff_t y_step, ptrdiff_t ldy, const ptrdiff_t *rows, ptrdiff_t nb,
                         ptrdiff_t hidden);
/// lstmk_lstm_step_f32 for the units [unit_begin, unit_end) of every row only (the rest of c,
/// h and y untouched): threads may share a step by unit ranges, with the same bits.
void lstmk_lstm_step_units_f32(const float *xw, ptrdiff_t xw_step, const float *hw, float *c, float *h, ptrdiff_t ldh,
                               float *y, ptrdiff_t y_step, ptrdiff_t ldy, const ptrdiff_t *rows, ptrdiff_t nb,
                               ptrdiff_t hidden, ptrdiff_t unit_begin, ptrdiff_t unit_end);
/// One reset-after GRU step (sigmoid, tanh): z, r = σ(xw + hw), n = tanh(xw_n + r·(hw_n + bhn)),
/// h[b·H + j] ← (1 − z)·n + z·h; rows, strides and y as for lstmk_lstm_step_f32 (3H per row).
void lstmk_gru_step_f32(const float *xw, ptrdiff_t xw_step, const float *hw, const float *bhn, float *h,
                        float *y, ptrdiff_t y_step, ptrdiff_t ldy, const ptrdiff_t *rows, ptrdiff_t nb,
                        ptrdiff_t hidden);

/// lstmk_gru_step_f32 for the units [unit_begin, unit_end) of every row only.
void lstmk_gru_step_units_f32(const float *xw, ptrdiff_t xw_step, const float *hw, const float *bhn, float *h,
                              float *y, ptrdiff_t y_step, ptrdiff_t ldy, const ptrdiff_t *rows, ptrdiff_t nb,
                              ptrdiff_t hidden, ptrdiff_t unit_begin, ptrdiff_t unit_end);

/// The f64 reference path's sigmoid and tanh, in place (docs/CELLS.md §8): our own exp and
/// expm1 from correctly rounded +, −, ×, ÷ only (no fused multiply-add, no libm), so the same
/// bits on every path, compiler and platform; within 2 ulp of the true values (measured against
/// libm in KernelTests). NaN stays NaN.
void lstmk_sigmoid_f64(double *x, ptrdiff_t count);
void lstmk_tanh_f64(double *x, ptrdiff_t count);

/// The f64 forms of lstmk_lstm_step_f32 and lstmk_gru_step_f32: the same operations in the same
/// order, with the f64 sigmoid and tanh above; the same bits on every path.
void lstmk_lstm_step_f64(const double *xw, ptrdiff_t xw_step, const double *hw, double *c, double *h, ptrdiff_t ldh,
                         double *y, ptrdiff_t y_step, ptrdiff_t ldy, const ptrdiff_t *rows, ptrdiff_t nb,
                         ptrdiff_t hidden);
void lstmk_gru_step_f64(const double *xw, ptrdiff_t xw_step, const double *hw, const double *bhn, double *h,
                        double *y, ptrdiff_t y_step, ptrdiff_t ldy, const ptrdiff_t *rows, ptrdiff_t nb,
                        ptrdiff_t hidden);
void lstmk_lstm_step_units_f64(const double *xw, ptrdiff_t xw_step, const double *hw, double *c, double *h,
                               ptrdiff_t ldh, double *y, ptrdiff_t y_step, ptrdiff_t ldy, const ptrdiff_t *rows,
                               ptrdiff_t nb, ptrdiff_t hidden, ptrdiff_t unit_begin, ptrdiff_t unit_end);
void lstmk_gru_step_units_f64(const double *xw, ptrdiff_t xw_step, const double *hw, const double *bhn, double *h,
                              double *y, ptrdiff_t y_step, ptrdiff_t ldy, const ptrdiff_t *rows, ptrdiff_t nb,
                              ptrdiff_t hidden, ptrdiff_t unit_begin, ptrdiff_t unit_end);

/// The f64 reference product C[m, n] = A[m, k] · Wᵀ over a packed W (all panels): each element
/// summed in ascending k from 0, every product rounded before it is added, never fused. The
/// same bits on every path (docs/CELLS.md §11.1).
void lstmk_gemm_f64(const double *a, const double *packed_w, double *c, ptrdiff_t m, ptrdiff_t k, ptrdiff_t n);
/// lstmk_gemm_f64 that also adds bias[n] (NULL: none) to every row, each sum rounded first: the
/// bits of a second pass C[i, j] + bias[j], while the rows are still in cache.
void lstmk_gemm_bias_f64(const double *a, const double *packed_w, const double *bias, double *c, ptrdiff_t m,
                         ptrdiff_t k, ptrdiff_t n);
/// lstmk_gemm_f64 over a packed W stored as float32 (weights that are exactly float32), each
/// weight widened exactly to double as it is used: the bits of lstmk_gemm_f64 over the widened
/// W, reading half the bytes. May allocate a buffer of at most 128 KiB (when m is more than one
/// row tile); without it (allocation failed), it still works, widening in every tile.
void lstmk_gemm_f64_w32(const double *a, const float *packed_w, double *c, ptrdiff_t m, ptrdiff_t k, ptrdiff_t n);

#ifdef __cplusplus
}
#endif
#endif
