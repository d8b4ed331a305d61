// oneDNN (libdnnl-dev, 2.x C API) anchor for tools/bench_eval.py: times one forward-inference
// RNN primitive — LSTM, GRU or linear-before-reset GRU — of one layer, I = H, over [T, B, I],
// zero initial state, weights in the layout the primitive prefers (filled with small values in
// the plain ldigo layout, then reordered into it: the preferred layout may be oneDNN's opaque
// "packed" GEMM format, which raw floats would corrupt — the GRU's reference implementation
// picks it from B = 32, and the earlier version of this program timed a corrupted primitive
// there). Only the time matters here. Threads: OMP_NUM_THREADS (Debian's libdnnl uses OpenMP).
//   cc -O2 onednn_rnn.c -ldnnl -o onednn_rnn && ./onednn_rnn lstm|gru|lbr_gru T B I H REPEATS
// Prints {"median_ms": ..., "min_ms": ...}.
#include <oneapi/dnnl/dnnl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CHECK(x)                                                                  \
    do {                                                                          \
        dnnl_status_t s_ = (x);                                                   \
        if (s_ != dnnl_success) {                                                 \
            fprintf(stderr, "onednn_rnn: %s failed (%d)\n", #x, (int)s_);        \
            exit(2);                                                              \
        }                                                                         \
    } while (0)

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}
static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static dnnl_memory_t make(dnnl_engine_t eng, const dnnl_memory_desc_t *md, float fill) {
    dnnl_memory_t m;
    CHECK(dnnl_memory_create(&m, md, eng, DNNL_MEMORY_ALLOCATE));
    void *p;
    CHECK(dnnl_memory_get_data_handle(m, &p));
    size_t n = dnnl_memory_desc_get_size(md) / sizeof(float);
    for (size_t i = 0; i < n; i++) ((float *)p)[i] = fill * (float)((i * 2654435761u) % 1000) / 1000.0f;
    return m;
}

// A memory in the primitive's layout `md` holding the values `make` writes in the plain
// layout `plain` (a reorder between the two, so that opaque formats are filled correctly).
static dnnl_memory_t make_reordered(dnnl_engine_t eng, dnnl_stream_t stream, const dnnl_memory_desc_t *plain,
                                    const dnnl_memory_desc_t *md, float fill) {
    dnnl_memory_t from = make(eng, plain, fill), to;
    CHECK(dnnl_memory_create(&to, md, eng, DNNL_MEMORY_ALLOCATE));
    dnnl_primitive_desc_t rpd;
    CHECK(dnnl_reorder_primitive_desc_create(&rpd, plain, eng, md, eng, NULL));
    dnnl_primitive_t r;
    CHECK(dnnl_primitive_create(&r, rpd));
    dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, to}};
    CHECK(dnnl_primitive_execute(r, stream, 2, args));
    CHECK(dnnl_stream_wait(stream));
    dnnl_primitive_destroy(r);
    dnnl_primitive_desc_destroy(rpd);
    dnnl_memory_destroy(from);
    return to;
}

int main(int argc, char **argv) {
    if (argc != 7) {
        fprintf(stderr, "usage: onednn_rnn lstm|gru|lbr_gru T B I H REPEATS\n");
        return 1;
    }
    const char *cell = argv[1];
    dnnl_dim_t T = atol(argv[2]), B = atol(argv[3]), I = atol(argv[4]), H = atol(argv[5]);
    int repeats = atoi(argv[6]);
    int lstm = !strcmp(cell, "lstm"), lbr = !strcmp(cell, "lbr_gru");
    dnnl_dim_t G = lstm ? 4 : 3, GB = lbr ? 4 : G;
    dnnl_engine_t eng;
    dnnl_stream_t stream;
    CHECK(dnnl_engine_create(&eng, dnnl_cpu, 0));
    CHECK(dnnl_stream_create(&stream, eng, dnnl_stream_default_flags));

    dnnl_memory_desc_t src, wl, wi, bias, dst;
    dnnl_dims_t dsrc = {T, B, I}, dwl = {1, 1, I, G, H}, dwi = {1, 1, H, G, H}, db = {1, 1, GB, H}, ddst = {T, B, H};
    CHECK(dnnl_memory_desc_init_by_tag(&src, 3, dsrc, dnnl_f32, dnnl_tnc));
    CHECK(dnnl_memory_desc_init_by_tag(&wl, 5, dwl, dnnl_f32, dnnl_format_tag_any));
    CHECK(dnnl_memory_desc_init_by_tag(&wi, 5, dwi, dnnl_f32, dnnl_format_tag_any));
    CHECK(dnnl_memory_desc_init_by_tag(&bias, 4, db, dnnl_f32, dnnl_ldgo));
    CHECK(dnnl_memory_desc_init_by_tag(&dst, 3, ddst, dnnl_f32, dnnl_tnc));
    dnnl_rnn_desc_t rd;
    dnnl_rnn_direction_t dir = dnnl_unidirectional_left2right;
    if (lstm)
        CHECK(dnnl_lstm_forward_desc_init(&rd, dnnl_forward_inference, dir, &src, NULL, NULL, &wl, &wi, &bias, &dst,
                                          NULL, NULL, 0));
    else if (lbr)
        CHECK(dnnl_lbr_gru_forward_desc_init(&rd, dnnl_forward_inference, dir, &src, NULL, &wl, &wi, &bias, &dst, NULL, 0));
    else
        CHECK(dnnl_gru_forward_desc_init(&rd, dnnl_forward_inference, dir, &src, NULL, &wl, &wi, &bias, &dst, NULL, 0));
    dnnl_primitive_desc_t pd;
    CHECK(dnnl_primitive_desc_create(&pd, &rd, NULL, eng, NULL));
    const char *impl = "?";
    dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl);
    dnnl_primitive_t prim;
    CHECK(dnnl_primitive_create(&prim, pd));

    dnnl_memory_t msrc = make(eng, &src, 1.0f);
    dnnl_memory_desc_t wl_plain, wi_plain;
    CHECK(dnnl_memory_desc_init_by_tag(&wl_plain, 5, dwl, dnnl_f32, dnnl_ldigo));
    CHECK(dnnl_memory_desc_init_by_tag(&wi_plain, 5, dwi, dnnl_f32, dnnl_ldigo));
    dnnl_memory_t mwl = make_reordered(eng, stream, &wl_plain, dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0), 0.05f);
    dnnl_memory_t mwi = make_reordered(eng, stream, &wi_plain, dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 1), 0.05f);
    dnnl_memory_t mb = make(eng, &bias, 0.1f);
    dnnl_memory_t mdst = make(eng, &dst, 0.0f);
    const dnnl_memory_desc_t *scr = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    dnnl_memory_t mscr = NULL;
    int nargs = 5;
    dnnl_exec_arg_t args[6] = {{DNNL_ARG_SRC_LAYER, msrc}, {DNNL_ARG_WEIGHTS_LAYER, mwl}, {DNNL_ARG_WEIGHTS_ITER, mwi},
                               {DNNL_ARG_BIAS, mb}, {DNNL_ARG_DST_LAYER, mdst}};
    if (scr && dnnl_memory_desc_get_size(scr) > 0) {
        CHECK(dnnl_memory_create(&mscr, scr, eng, DNNL_MEMORY_ALLOCATE));
        args[nargs].arg = DNNL_ARG_SCRATCHPAD;
        args[nargs++].memory = mscr;
    }
    double *t = malloc(sizeof(double) * (size_t)repeats);
    CHECK(dnnl_primitive_execute(prim, stream, nargs, args)); // warm-up
    CHECK(dnnl_stream_wait(stream));
    for (int r = 0; r < repeats; r++) {
        double t0 = now();
        CHECK(dnnl_primitive_execute(prim, stream, nargs, args));
        CHECK(dnnl_stream_wait(stream));
        t[r] = (now() - t0) * 1e3;
    }
    qsort(t, (size_t)repeats, sizeof(double), cmp);
    printf("{\"median_ms\": %.4f, \"min_ms\": %.4f, \"impl\": \"%s\"}\n", t[repeats / 2], t[0], impl);
    return 0;
}
