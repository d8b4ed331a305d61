// One core's peak: f32 fused multiply-add and unfused f64 multiply + add (AVX-512), 12 chains.
// clang -O2 tools/bench_c/peak_flops.c -o /tmp/peak && /tmp/peak   (docs/PERFORMANCE.md)
#include <immintrin.h>
#include <stdio.h>
#include <time.h>
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec * 1e-9; }
__attribute__((target("avx512f"), noinline)) static float run(long n) {
    __m512 a[12], x = _mm512_set1_ps(0.999999f), y = _mm512_set1_ps(1e-7f);
    for (int j = 0; j < 12; j++) a[j] = _mm512_set1_ps((float)j);
    for (long i = 0; i < n; i++)
        for (int j = 0; j < 12; j++) a[j] = _mm512_fmadd_ps(a[j], x, y);
    for (int j = 1; j < 12; j++) a[0] = _mm512_add_ps(a[0], a[j]);
    return _mm512_reduce_add_ps(a[0]);
}
__attribute__((target("avx512f"), noinline)) static double rund(long n) {
    // f64 without fusing: one multiply and one add per element per step, 12 chains each
    __m512d a[12], x = _mm512_set1_pd(0.999999), y = _mm512_set1_pd(1e-7);
    for (int j = 0; j < 12; j++) a[j] = _mm512_set1_pd((double)j);
    for (long i = 0; i < n; i++)
        for (int j = 0; j < 12; j++) a[j] = _mm512_add_pd(_mm512_mul_pd(a[j], x), y);
    for (int j = 1; j < 12; j++) a[0] = _mm512_add_pd(a[0], a[j]);
    return _mm512_reduce_add_pd(a[0]);
}
int main(void) {
    long n = 100000000;
    double best = 1e9, bestd = 1e9; volatile float s = 0; volatile double sd = 0;
    for (int r = 0; r < 5; r++) {
        double t0 = now(); s += run(n); double t = now() - t0; if (t < best) best = t;
        t0 = now(); sd += rund(n / 2); t = now() - t0; if (t < bestd) bestd = t;
    }
    printf("f32 FMA: %.1f GFLOP/s\n", n * 12.0 * 16 * 2 / best * 1e-9);
    printf("f64 mul+add: %.1f GFLOP/s\n", n / 2 * 12.0 * 8 * 2 / bestd * 1e-9);
}
