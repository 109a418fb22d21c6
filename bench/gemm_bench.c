/* gemm_bench.c - microbenchmark of the training matrix products (tensor/gemm.h; not a test): for
 * the linear layers of a training step, the three forms y = x·Wᵀ (forward), dx += dy·W (input
 * gradient) and dW += dyᵀ·x (weight gradient), on 1 and 2 threads, prints GFLOP/s (2 M N K / s)
 * as the median of several repetitions with their range, beside the f32 FMA peak (or the bf16
 * dot peak with --bf16) measured by the probes in the same run.
 *
 * Two rates per row: "wall" is what a caller sees (the machine is shared, so it is noisy: compare
 * medians, read the range); "CPU-time" is 2 M N K / (process CPU seconds / threads), the rate had
 * every thread kept its core throughout (time descheduled does not count; time spent waiting for
 * the other thread does), the kernels' own efficiency. Both are compared with the peak of the
 * same thread count.
 *
 * Build: make build/bench/gemm_bench (also built by make bench)
 * Run:   build/bench/gemm_bench [-r REPS] [-t 1,2] [-T TOKENS] [--bf16] [--peak-seconds S]
 *                               [--shape NAME:IN:OUT ...]
 * KAIWU_ISA=avx2 (or ref) lowers both the kernels and the probes, so the percentages stay those of
 * the ISA measured.
 */
#include "base/base.h"
#include "tensor/gemm.h"
#include "tensor/kernels/kernels.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double cpu_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_d(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

typedef struct shape {
    char name[32];
    int64_t in, out;
} shape;

static void fill(float *x, int64_t n, uint64_t seed) {
    for (int64_t i = 0; i < n; i++) {
        seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
        x[i] = (float)((seed >> 40) * (1.0 / 8388608.0)) - 1.0f;
    }
}

static void usage(void) {
    fprintf(
        stderr,
        "usage: gemm_bench [-r REPS] [-t 1,2] [-T TOKENS] [--bf16] [--peak-seconds S]\n"
        "                  [--shape NAME:IN:OUT ...]\n"
        "  -r REPS          timed repetitions per row (default 5; median and range printed)\n"
        "  -t LIST          thread counts (default 1,2)\n"
        "  -T TOKENS        rows of x (batch x sequence; default 4096)\n"
        "  --bf16           the bf16 product (tensor_sgemm_bf16) against the bf16 dot peak\n"
        "  --peak-seconds S probe time per thread count (default 0.5)\n"
        "  --shape N:I:O    a linear layer of I inputs and O outputs (repeatable; default:\n"
        "                   a 768-wide model: attention 768x768, FFN 768x2048 / 2048x768,\n"
        "                   tied output 768x8000, and the same of a 512-wide one)\n"
        "KAIWU_ISA=avx2 or KAIWU_ISA=ref in the environment lowers kernels and probes alike.\n");
}

int main(int argc, char **argv) {
    int reps = 5, threads[8] = {1, 2}, n_threads = 2;
    int64_t T = 4096;
    bool bf16 = false;
    double peak_seconds = 0.5;
    shape shapes[32];
    int n_shapes = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-r") && v) {
            reps = atoi(v), i++;
        } else if (!strcmp(a, "-T") && v) {
            T = atoll(v), i++;
        } else if (!strcmp(a, "-t") && v) {
            n_threads = 0;
            for (const char *p = v; *p && n_threads < 8;) {
                threads[n_threads++] = atoi(p);
                p = strchr(p, ',');
                if (!p) break;
                p++;
            }
            i++;
        } else if (!strcmp(a, "--bf16")) {
            bf16 = true;
        } else if (!strcmp(a, "--peak-seconds") && v) {
            peak_seconds = atof(v), i++;
        } else if (!strcmp(a, "--shape") && v && n_shapes < 32) {
            shape s = {{0}, 0, 0};
            if (sscanf(v, "%31[^:]:%lld:%lld", s.name, (long long *)&s.in, (long long *)&s.out) !=
                    3 ||
                s.in <= 0 || s.out <= 0) {
                fprintf(stderr, "gemm_bench: --shape wants NAME:IN:OUT, got '%s'\n", v);
                return 2;
            }
            shapes[n_shapes++] = s, i++;
        } else {
            usage();
            return !strcmp(a, "-h") || !strcmp(a, "--help") ? 0 : 2;
        }
    }
    if (reps < 1 || T < 1) {
        usage();
        return 2;
    }
    if (n_shapes == 0) {
        static const shape def[] = {{"attn 768", 768, 768},      {"ffn-up 768", 768, 2048},
                                    {"ffn-down 768", 2048, 768}, {"logits 768", 768, 8000},
                                    {"attn 512", 512, 512},      {"ffn-up 512", 512, 1408},
                                    {"ffn-down 512", 1408, 512}, {"logits 512", 512, 8000}};
        n_shapes = (int)(sizeof def / sizeof def[0]);
        memcpy(shapes, def, sizeof def);
    }
    const kernel_gemm *g = bf16 ? kernels_gemm_bf16() : kernels_gemm_f32();
    printf("command:");
    for (int i = 0; i < argc; i++)
        printf(" %s", argv[i]);
    printf("\nkernels: %s (%s), T = %lld rows, %d repetitions per row\n", g ? g->isa : "ref",
           bf16 ? "bf16 inputs, f32 sums" : "f32", (long long)T, reps);
    double peak[8];
    for (int t = 0; t < n_threads; t++) {
        const char *pisa = "?";
        peak[t] = bf16 ? kw_probe_bf16_peak(threads[t], peak_seconds, &pisa)
                       : kw_probe_f32_peak(threads[t], peak_seconds, &pisa);
        printf("%s peak, %d thread%s: %.1f GFLOP/s (%s)\n", bf16 ? "bf16 dot" : "f32 FMA",
               threads[t], threads[t] > 1 ? "s" : "", peak[t] * 1e-9, pisa);
    }
    printf("\n| layer | form | M x N x K | threads | wall GFLOP/s median (min-max) | %% of peak | "
           "CPU-time GFLOP/s median (min-max) | %% of peak |\n|---|---|---|---|---|---|---|---|\n");
    for (int s = 0; s < n_shapes; s++) {
        const int64_t in = shapes[s].in, out = shapes[s].out;
        float *x = kw_malloc_aligned(sizeof(float) * (size_t)(T * in), "x");
        float *w = kw_malloc_aligned(sizeof(float) * (size_t)(out * in), "W");
        float *y = kw_malloc_aligned(sizeof(float) * (size_t)(T * out), "y");
        float *dw = kw_malloc_aligned(sizeof(float) * (size_t)(out * in), "dW");
        float *dx = kw_malloc_aligned(sizeof(float) * (size_t)(T * in), "dx");
        if (!x || !w || !y || !dw || !dx) {
            fprintf(stderr, "gemm_bench: out of memory for %s\n", shapes[s].name);
            return 1;
        }
        fill(x, T * in, 1), fill(w, out * in, 2), fill(y, T * out, 3);
        memset(dw, 0, sizeof(float) * (size_t)(out * in));
        memset(dx, 0, sizeof(float) * (size_t)(T * in));
        for (int form = 0; form < 3; form++) {
            /* forward y = x Wᵀ; input gradient dx += dy W (dy in y); weight gradient dW += dyᵀ x */
            static const char *names[] = {"fwd x·Wᵀ", "dx += dy·W", "dW += dyᵀ·x"};
            const bool ta = form == 2, tb = form == 0;
            const int64_t M = form == 2 ? out : T, N = form == 0 ? out : in,
                          K = form == 0   ? in
                              : form == 1 ? out
                                          : T;
            const float *A = form == 0 ? x : y, *B = form == 2 ? x : w;
            const int64_t lda = form == 0 ? in : out, ldb = in;
            float *C = form == 0 ? y : form == 1 ? dx : dw;
            const float beta = form == 0 ? 0.0f : 1.0f;
            const double flops = 2.0 * (double)M * (double)N * (double)K;
            for (int t = 0; t < n_threads; t++) {
                kw_pool *pool = NULL;
                if (threads[t] > 1 && kw_pool_create(threads[t], &pool) != KW_OK) return 1;
                double wall[64], core[64];
                const int nr = reps < 64 ? reps : 64;
                for (int r = -1; r < nr; r++) { /* r = -1: warm-up (buffers, caches, clocks) */
                    const double t0 = kw_time_seconds(), c0 = cpu_seconds();
                    if (g || !bf16) /* g NULL: the reference of the f32 product */
                        tensor_sgemm_with(g, pool, ta, tb, M, N, K, A, lda, B, ldb, beta, C, N);
                    else
                        tensor_sgemm_bf16(pool, ta, tb, M, N, K, A, lda, B, ldb, beta, C, N);
                    const double dt = kw_time_seconds() - t0, dc = cpu_seconds() - c0;
                    if (r >= 0) {
                        wall[r] = flops / dt * 1e-9;
                        core[r] = flops / (dc / threads[t]) * 1e-9;
                    }
                }
                kw_pool_free(pool);
                qsort(wall, (size_t)nr, sizeof(double), cmp_d);
                qsort(core, (size_t)nr, sizeof(double), cmp_d);
                const double med = wall[nr / 2], cmed = core[nr / 2];
                printf("| %s | %s | %lld x %lld x %lld | %d | %.1f (%.1f-%.1f) | %.0f%% | %.1f "
                       "(%.1f-%.1f) | %.0f%% |\n",
                       shapes[s].name, names[form], (long long)M, (long long)N, (long long)K,
                       threads[t], med, wall[0], wall[nr - 1], 100.0 * med * 1e9 / peak[t], cmed,
                       core[0], core[nr - 1], 100.0 * cmed * 1e9 / peak[t]);
                fflush(stdout);
            }
        }
        kw_free_aligned(x), kw_free_aligned(w), kw_free_aligned(y), kw_free_aligned(dw),
            kw_free_aligned(dx);
    }
    return 0;
}
