/* panel_bench.c - microbenchmark of one panel matmul (not a test): a random weight matrix of a
 * given type and shape, repacked into panels, times N tokens of activations, run on one thread
 * the way tensor/ops.c's matmul_panel_chunk tiles it (chunks of 2 panels, token tiles of
 * the kernel's max_nt, rows_per_call rows per call). Prints the kernel's Gop/s (2 x rows x cols x
 * tokens / s) next to the AVX-512 VNNI int8 probe's. x86-64 with AVX-512 VNNI only.
 *
 * Build: make build/bench/panel_bench (also built by make bench)
 * Run:   build/bench/panel_bench [q4_0|q8_0|q4_k|q6_k|q5_0] [rows] [cols] [tokens] [reps]
 */
#include "tensor/kernels/kernels.h"
#include "tensor/probe.h"
#include "tensor/quants.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_d(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    const char *tn = argc > 1 ? argv[1] : "q4_0";
    const int64_t rows = argc > 2 ? atoll(argv[2]) : 4864, cols = argc > 3 ? atoll(argv[3]) : 896;
    const int64_t ntok = argc > 4 ? atoll(argv[4]) : 512;
    const int reps = argc > 5 ? atoi(argv[5]) : 5;
    uint32_t type = GGML_TYPE_Q4_0;
    if (!strcmp(tn, "q8_0"))
        type = GGML_TYPE_Q8_0;
    else if (!strcmp(tn, "q4_k"))
        type = GGML_TYPE_Q4_K;
    else if (!strcmp(tn, "q6_k"))
        type = GGML_TYPE_Q6_K;
    else if (!strcmp(tn, "q5_0"))
        type = GGML_TYPE_Q5_0;
    const kernel_entry *k = kernels_get(type);
    if (!k || !k->panel.dot) {
        fprintf(stderr, "no panel kernel for %s on %s\n", tn, kernels_isa_name());
        return 1;
    }
    const kernel_panel *kp = &k->panel;
    const size_t rb = ggml_row_bytes(type, cols);
    uint8_t *w = malloc(rb * (size_t)rows);
    float *f = malloc(sizeof(float) * (size_t)cols);
    srand(1);
    for (int64_t r = 0; r < rows; r++) {
        for (int64_t i = 0; i < cols; i++)
            f[i] = (float)rand() / RAND_MAX * 2.0f - 1.0f;
        quant_quantize_row(type, f, w + (size_t)r * rb, cols, NULL);
    }
    const int64_t np = (rows + KERNEL_PANEL_ROWS - 1) / KERNEL_PANEL_ROWS;
    const size_t pb = KERNEL_PANEL_BYTES(kp, cols);
    uint8_t *panels = aligned_alloc(64, pb * (size_t)np);
    for (int64_t p = 0; p < np; p++) {
        const int64_t r0 = p * KERNEL_PANEL_ROWS;
        const int nr = (int)(rows - r0 < KERNEL_PANEL_ROWS ? rows - r0 : KERNEL_PANEL_ROWS);
        kp->repack(w + (size_t)r0 * rb, rb, nr, cols, panels + (size_t)p * pb);
    }
    const size_t as = kernels_act_row_bytes(kp->act_type, cols);
    uint8_t *act = aligned_alloc(64, as * (size_t)ntok);
    float *fx = malloc(sizeof(float) * (size_t)cols * (size_t)ntok);
    for (int64_t i = 0; i < cols * ntok; i++)
        fx[i] = (float)rand() / RAND_MAX * 2.0f - 1.0f;
    float *out = malloc(sizeof(float) * (size_t)rows * (size_t)ntok);
    double tq[64], tm[64];
    for (int rep = 0; rep < reps + 1 && rep < 64; rep++) {
        double ts = now_s();
        for (int64_t t = 0; t < ntok; t++) /* activation quantizer (as ops.c runs it per token) */
            kp->quantize(fx + (size_t)t * (size_t)cols, act + (size_t)t * as, cols);
        double t1 = now_s();
        /* as tensor/ops.c's matmul_panel_chunk: chunks of 2 panels, tiles of max_nt tokens, calls
         * of rows_per_call rows */
        const int64_t step = kp->rows_per_call / KERNEL_PANEL_ROWS, mt = kp->max_nt;
        for (int64_t c = 0; c < np; c += 2) {
            const int64_t p1 = c + 2 < np ? c + 2 : np;
            for (int64_t t0 = 0; t0 < ntok; t0 += mt) {
                const int nt = (int)(ntok - t0 < mt ? ntok - t0 : mt);
                for (int64_t p = c; p < p1; p += step) {
                    const int64_t r0 = p * KERNEL_PANEL_ROWS;
                    int64_t nr = (p + step < p1 ? step : p1 - p) * KERNEL_PANEL_ROWS;
                    if (nr > rows - r0) nr = rows - r0;
                    kp->dot(cols, panels + (size_t)p * pb, act + (size_t)t0 * as, as, nt,
                            out + t0 * rows + r0, (size_t)rows, (int)nr);
                }
            }
        }
        double t2 = now_s();
        tq[rep] = t1 - ts, tm[rep] = t2 - t1;
    }
    const int nrep = reps < 63 ? reps : 63;
    qsort(tq + 1, (size_t)nrep, sizeof(double), cmp_d);
    qsort(tm + 1, (size_t)nrep, sizeof(double), cmp_d);
    const double ops = 2.0 * (double)rows * (double)cols * (double)ntok;
    uint8_t seed[64];
    for (int i = 0; i < 64; i++)
        seed[i] = (uint8_t)(i * 7 + 1);
    int32_t sink;
    double peak = 0; /* best of 5 short runs: the machine is shared */
    for (int i = 0; i < 5; i++) {
        const double p0 = now_s();
        const uint64_t pops = probe_int8_avx512vnni(10000000, seed, &sink);
        const double g = (double)pops / (now_s() - p0);
        if (g > peak) peak = g;
    }
    const double med = tm[1], medq = tq[1]; /* best run: the machine is shared */
    printf("%s %lldx%lld x %lld tokens, NT<=%d: matmul %.2f ms = %.1f Gop/s (%.1f%% of int8 probe "
           "%.1f Gop/s); "
           "quantize %.3f ms (%.1f ns/token)\n",
           tn, (long long)rows, (long long)cols, (long long)ntok, (int)kp->max_nt, med * 1e3,
           ops / med * 1e-9, 100.0 * ops / med / peak, peak * 1e-9, medq * 1e3,
           medq / (double)ntok * 1e9);
    (void)sink;
    free(w), free(f), free(panels), free(act), free(out), free(fx);
    return 0;
}
