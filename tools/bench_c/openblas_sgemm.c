// OpenBLAS (libopenblas-dev) anchor for tools/bench_eval.py: times the input projection of a
// layer as one sgemm, C[M, N] = A[M, K] · W[N, K]ᵀ (M = T·B rows, K = I, N = G·H), the product
// lstmtool computes with its own packed kernel (`lstmbench --gemm MxKxN`).
//   cc -O2 openblas_sgemm.c -lopenblas -o openblas_sgemm && ./openblas_sgemm M K N THREADS REPEATS
// Prints {"median_ms": ..., "min_ms": ..., "gflops": ...} (GFLOP/s of the best run).
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

void openblas_set_num_threads(int);

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}
static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    if (argc != 6) {
        fprintf(stderr, "usage: openblas_sgemm M K N THREADS REPEATS\n");
        return 1;
    }
    long m = atol(argv[1]), k = atol(argv[2]), n = atol(argv[3]);
    int repeats = atoi(argv[5]);
    openblas_set_num_threads(atoi(argv[4]));
    float *a = malloc(sizeof(float) * (size_t)(m * k)), *w = malloc(sizeof(float) * (size_t)(n * k));
    float *c = malloc(sizeof(float) * (size_t)(m * n));
    for (long i = 0; i < m * k; i++) a[i] = 0.5f;
    for (long i = 0; i < n * k; i++) w[i] = 0.25f;
    double *t = malloc(sizeof(double) * (size_t)repeats);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)m, (int)n, (int)k, 1.0f, a, (int)k, w, (int)k, 0.0f, c, (int)n);
    for (int r = 0; r < repeats; r++) {
        double t0 = now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)m, (int)n, (int)k, 1.0f, a, (int)k, w, (int)k, 0.0f, c,
                    (int)n);
        t[r] = (now() - t0) * 1e3;
    }
    qsort(t, (size_t)repeats, sizeof(double), cmp);
    printf("{\"median_ms\": %.4f, \"min_ms\": %.4f, \"gflops\": %.2f}\n", t[repeats / 2], t[0], 2.0 * m * k * n / t[0] * 1e-6);
    return 0;
}
