// One core's read bandwidth at sizes from L1 to memory (AVX2 loads, best of 7).
// clang -O2 tools/bench_c/read_bandwidth.c -o /tmp/bw && /tmp/bw   (docs/PERFORMANCE.md)
#include <immintrin.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec * 1e-9; }
__attribute__((target("avx2"), noinline)) static float sum(const float *p, size_t n) {
    __m256 a[8];
    for (int j = 0; j < 8; j++) a[j] = _mm256_setzero_ps();
    for (size_t i = 0; i < n; i += 64)
        for (int j = 0; j < 8; j++) a[j] = _mm256_add_ps(a[j], _mm256_loadu_ps(p + i + 8 * j));
    for (int j = 1; j < 8; j++) a[0] = _mm256_add_ps(a[0], a[j]);
    float o[8]; _mm256_storeu_ps(o, a[0]); return o[0] + o[7];
}
int main(void) {
    size_t sizes[] = {16 << 10, 512 << 10, 8 << 20, 16 << 20, 256 << 20};
    for (int s = 0; s < 5; s++) {
        size_t n = sizes[s] / 4, passes = (1 << 30) / sizes[s] + 1;
        float *p = aligned_alloc(64, sizes[s]);
        for (size_t i = 0; i < n; i++) p[i] = 1;
        double best = 1e9; volatile float sink = 0;
        for (int r = 0; r < 7; r++) {
            double t0 = now();
            for (size_t q = 0; q < passes; q++) { __asm__ volatile("" ::: "memory"); sink += sum(p, n); }
            double t = (now() - t0) / passes; if (t < best) best = t;
        }
        printf("%8zu KiB: %.1f GB/s\n", sizes[s] >> 10, sizes[s] / best * 1e-9);
        free(p);
    }
}
