/* test_gemm.c - the float32 (and bf16) matrix products of every ISA this CPU runs, against the
 * plain C references (tensor/gemm.h).
 *
 * Paths: the reference split by rows on a pool, then each kernel_gemm this CPU has (AVX2, AVX-512
 * f32; AVX2 bf16 emulation, AVX512-BF16), each run on a 2-thread pool; ISAs the CPU lacks are
 * named as skipped. Data: seeded random values (roughly normal, a few 4x outliers), all four
 * transpose forms, beta 0 (C starts as NaN, which must not leak) and beta 1, row strides larger
 * than the widths (the gaps of A and B hold NaN, which must not be read; the gaps of C hold a
 * sentinel, which must not be written). Sizes: every combination of 1, 7, 31, 33; one dimension
 * at 4097 with the others small; shapes that cross every cache block (kc, mc, nc) of the kernels.
 *
 * Tolerance: |C - C_ref| <= (8 sqrt(K) + 16) u (|beta C0| + sum_k |a_ik b_kj|), u = 2^-24. Both
 * sides sum in float in different orders; the worst-case bound (K u of that magnitude) is too
 * loose at K = 4097 to notice one dropped or doubled term (about magnitude / K), while the errors
 * of random-sign data grow like sqrt(K) u: this bound sits ~100x above the largest error seen
 * here (printed with KAIWU_TEST_VERBOSE) and 8x below a single dropped term at K = 4097. The bf16
 * paths are held to the same bound against the bf16 reference (products of bf16 values are exact
 * in float, so only the order differs), which is far below what unrounded inputs would give.
 *
 * Then: thread counts 1, 2 and 3 give the same bits (the summation order depends only on kc);
 * the public entry points are the best ISA's; a repeated call allocates nothing (the packing
 * buffer is kept); K = 0 scales C.
 */
#include "base/base.h"
#include "tensor/gemm.h"
#include "tensor/kernels/kernels.h"
#include "test.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define SENTINEL 12345.0f

static uint64_t g_rng = 0x9E3779B97F4A7C15ull;
static float rand_uniform(void) { /* in [-1, 1) */
    g_rng ^= g_rng << 13, g_rng ^= g_rng >> 7, g_rng ^= g_rng << 17;
    return (float)((g_rng >> 40) * (1.0 / 8388608.0)) - 1.0f;
}
static float rand_value(void) {
    float v = rand_uniform() + rand_uniform() + rand_uniform();
    return rand_uniform() > 0.98f ? 4.0f * v : v;
}

typedef struct path {
    const char *name;
    const kernel_gemm *g; /* NULL: the reference by row chunks */
    bool bf16;
} path;

static path paths[8];
static int n_paths;
static kw_pool *pool2;
static double worst_ratio[8]; /* per path: largest |error| / tolerance seen */

static void add_paths(void) {
    paths[n_paths++] = (path){"ref (row chunks)", NULL, false};
    static const struct {
        kernel_isa isa;
        bool bf16;
        const char *name;
    } want[] = {{KERNEL_ISA_AVX2, false, "avx2"},
                {KERNEL_ISA_AVX512, false, "avx512"},
                {KERNEL_ISA_AVX2, true, "avx2 bf16 emulation"},
                {KERNEL_ISA_AVX512, true, "avx512bf16"}};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const kernel_gemm *g = kernels_gemm_isa(want[i].isa, want[i].bf16);
        if (g)
            paths[n_paths++] = (path){g->isa, g, want[i].bf16};
        else
            fprintf(stderr, "test_gemm: %s skipped (this CPU or build does not have it)\n",
                    want[i].name);
    }
}

typedef struct mats {
    bool ta, tb;
    int64_t M, N, K, lda, ldb, ldc;
    float *A, *B, *C0;
    float beta;
} mats;

/* Random A, B and C0 for one case; gaps of A and B hold NaN, gaps of C the sentinel. */
static mats make_mats(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float beta, int64_t pad) {
    mats m = {ta, tb, M, N, K, 0, 0, 0, NULL, NULL, NULL, beta};
    const int64_t a_rows = ta ? K : M, a_cols = ta ? M : K;
    const int64_t b_rows = tb ? N : K, b_cols = tb ? K : N;
    m.lda = a_cols + pad, m.ldb = b_cols + pad, m.ldc = N + pad;
    m.A = malloc(sizeof(float) * (size_t)(a_rows * m.lda + 1));
    m.B = malloc(sizeof(float) * (size_t)(b_rows * m.ldb + 1));
    m.C0 = malloc(sizeof(float) * (size_t)(M * m.ldc));
    if (!m.A || !m.B || !m.C0) {
        fprintf(stderr, "test_gemm: out of memory\n");
        exit(1);
    }
    for (int64_t i = 0; i < a_rows * m.lda; i++)
        m.A[i] = i % m.lda < a_cols ? rand_value() : NAN;
    for (int64_t i = 0; i < b_rows * m.ldb; i++)
        m.B[i] = i % m.ldb < b_cols ? rand_value() : NAN;
    for (int64_t i = 0; i < M * m.ldc; i++)
        m.C0[i] = i % m.ldc >= N ? SENTINEL : beta == 0.0f ? NAN : rand_value();
    return m;
}

static void free_mats(mats *m) {
    free(m->A);
    free(m->B);
    free(m->C0);
}

static float a_at(const mats *m, int64_t i, int64_t k) {
    return m->ta ? m->A[k * m->lda + i] : m->A[i * m->lda + k];
}
static float b_at(const mats *m, int64_t k, int64_t j) {
    return m->tb ? m->B[j * m->ldb + k] : m->B[k * m->ldb + j];
}

/* The tolerance of every element of C (see the header), row-major M x N. */
static double *tolerances(const mats *m) {
    const double u = 1.0 / 16777216.0, scale = (8.0 * sqrt((double)m->K) + 16.0) * u;
    double *tol = malloc(sizeof(double) * (size_t)(m->M * m->N));
    for (int64_t i = 0; i < m->M; i++) {
        for (int64_t j = 0; j < m->N; j++) {
            double mag = m->beta == 0.0f ? 0.0 : fabs((double)m->beta * m->C0[i * m->ldc + j]);
            for (int64_t k = 0; k < m->K; k++)
                mag += fabs((double)a_at(m, i, k) * b_at(m, k, j));
            tol[i * m->N + j] = scale * mag + 1e-30;
        }
    }
    return tol;
}

/* Compares C (one path's result) with the reference's Cr element by element. */
static void compare(const mats *m, const double *tols, const float *C, const float *Cr,
                    const char *what, double *worst) {
    int64_t bad = 0, gap_bad = 0;
    double first_err = 0, first_tol = 0;
    int64_t first_i = -1, first_j = -1;
    for (int64_t i = 0; i < m->M; i++) {
        for (int64_t j = 0; j < m->ldc; j++) {
            const float c = C[i * m->ldc + j];
            if (j >= m->N) {
                gap_bad += memcmp(&c, &(float){SENTINEL}, sizeof c) != 0;
                continue;
            }
            const double err = fabs((double)c - Cr[i * m->ldc + j]), tol = tols[i * m->N + j];
            if (err / tol > *worst && isfinite(err)) *worst = err / tol;
            if (!(err <= tol)) {
                if (bad++ == 0) first_err = err, first_tol = tol, first_i = i, first_j = j;
            }
        }
    }
    CHECK(bad == 0,
          "%s %c%c M=%lld N=%lld K=%lld beta=%g: %lld elements off, first C[%lld][%lld] = %g "
          "(ref %g, |diff| %.3g > tolerance %.3g)",
          what, m->ta ? 'T' : 'N', m->tb ? 'T' : 'N', (long long)m->M, (long long)m->N,
          (long long)m->K, m->beta, (long long)bad, (long long)first_i, (long long)first_j,
          first_i >= 0 ? C[first_i * m->ldc + first_j] : 0.0,
          first_i >= 0 ? Cr[first_i * m->ldc + first_j] : 0.0, first_err, first_tol);
    CHECK(gap_bad == 0, "%s %c%c M=%lld N=%lld K=%lld: %lld values written in C's row gaps", what,
          m->ta ? 'T' : 'N', m->tb ? 'T' : 'N', (long long)m->M, (long long)m->N, (long long)m->K,
          (long long)gap_bad);
}

/* One case on every path (each against the reference of its own precision). */
static void run_case(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float beta, int64_t pad) {
    mats m = make_mats(ta, tb, M, N, K, beta, pad);
    const size_t cbytes = sizeof(float) * (size_t)(M * m.ldc);
    float *ref32 = malloc(cbytes), *ref16 = malloc(cbytes), *C = malloc(cbytes);
    memcpy(ref32, m.C0, cbytes);
    tensor_sgemm_ref(ta, tb, M, N, K, m.A, m.lda, m.B, m.ldb, beta, ref32, m.ldc);
    bool have_bf16 = false;
    for (int p = 0; p < n_paths; p++)
        have_bf16 |= paths[p].bf16;
    if (have_bf16) {
        memcpy(ref16, m.C0, cbytes);
        tensor_sgemm_bf16_ref(ta, tb, M, N, K, m.A, m.lda, m.B, m.ldb, beta, ref16, m.ldc);
    }
    double *tols = tolerances(&m);
    for (int p = 0; p < n_paths; p++) {
        if (!paths[p].g && M * N * K > 1000000) continue; /* the reference again: small cases do */
        memcpy(C, m.C0, cbytes);
        tensor_sgemm_with(paths[p].g, pool2, ta, tb, M, N, K, m.A, m.lda, m.B, m.ldb, beta, C,
                          m.ldc);
        compare(&m, tols, C, paths[p].bf16 ? ref16 : ref32, paths[p].name, &worst_ratio[p]);
    }
    free(tols);
    free(ref32);
    free(ref16);
    free(C);
    free_mats(&m);
}

static void test_small_sizes(void) {
    static const int64_t sizes[] = {1, 7, 31, 33};
    for (int t = 0; t < 4; t++)
        for (int im = 0; im < 4; im++)
            for (int in = 0; in < 4; in++)
                for (int ik = 0; ik < 4; ik++)
                    for (int b = 0; b < 2; b++)
                        run_case(t & 1, t & 2, sizes[im], sizes[in], sizes[ik], b ? 1.0f : 0.0f,
                                 (im + in + ik) % 3 * 3);
}

/* One dimension at 4097 (past every block size), the others small. */
static void test_long_dimension(void) {
    static const int64_t shapes[][3] = {{4097, 33, 7}, {4097, 7, 33}, {33, 4097, 7},
                                        {7, 4097, 33}, {33, 7, 4097}, {7, 33, 4097}};
    for (int t = 0; t < 4; t++)
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
            for (int b = 0; b < 2; b++)
                run_case(t & 1, t & 2, shapes[s][0], shapes[s][1], shapes[s][2], b ? 1.0f : 0.0f,
                         1 + (int64_t)s);
}

/* Shapes crossing the cache blocks (kc 512, mc 96 or 192, nc 1024 for every kernel now): N past
 * two column blocks, K past one and two passes (odd, so bf16 pads a pair), M past mc with several
 * row tiles per thread; and the double-buffered B blocks switching between passes and blocks. */
static void test_blocks(void) {
    static const int64_t shapes[][3] = {{13, 2083, 531}, {400, 70, 531}, {203, 41, 1030}};
    for (int t = 0; t < 4; t++)
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
            run_case(t & 1, t & 2, shapes[s][0], shapes[s][1], shapes[s][2], s == 2 ? 0.5f : 1.0f,
                     5);
}

/* Thread counts 1, 2, 3 (and no pool) give the same bits, per path and transpose form. */
static void test_thread_determinism(void) {
    kw_pool *pools[3] = {NULL, NULL, NULL};
    for (int i = 0; i < 3; i++)
        if (kw_pool_create(i + 1, &pools[i]) != KW_OK) pools[i] = NULL;
    CHECK(pools[0] && pools[1] && pools[2], "pools of 1, 2, 3 threads created");
    const int64_t M = 301, N = 263, K = 700;
    for (int t = 0; t < 4; t++) {
        mats m = make_mats(t & 1, t & 2, M, N, K, 1.0f, 3);
        const size_t cbytes = sizeof(float) * (size_t)(M * m.ldc);
        float *c[4];
        for (int p = 0; p < n_paths; p++) {
            for (int i = 0; i < 4; i++) {
                c[i] = malloc(cbytes);
                memcpy(c[i], m.C0, cbytes);
                tensor_sgemm_with(paths[p].g, i < 3 ? pools[i] : NULL, m.ta, m.tb, M, N, K, m.A,
                                  m.lda, m.B, m.ldb, m.beta, c[i], m.ldc);
            }
            CHECK(memcmp(c[0], c[1], cbytes) == 0 && memcmp(c[0], c[2], cbytes) == 0 &&
                      memcmp(c[0], c[3], cbytes) == 0,
                  "%s %c%c: 1, 2, 3 threads and no pool give the same bits", paths[p].name,
                  m.ta ? 'T' : 'N', m.tb ? 'T' : 'N');
            for (int i = 0; i < 4; i++)
                free(c[i]);
        }
        free_mats(&m);
    }
    for (int i = 0; i < 3; i++)
        kw_pool_free(pools[i]);
}

/* tensor_sgemm and tensor_sgemm_bf16 run the best pieces; a second call allocates nothing. */
static void test_public_entry(void) {
    const int64_t M = 97, N = 131, K = 300;
    mats m = make_mats(false, true, M, N, K, 1.0f, 0);
    const size_t cbytes = sizeof(float) * (size_t)(M * m.ldc);
    float *c1 = malloc(cbytes), *c2 = malloc(cbytes);
    for (int bf = 0; bf < 2; bf++) {
        const kernel_gemm *g = bf ? kernels_gemm_bf16() : kernels_gemm_f32();
        memcpy(c1, m.C0, cbytes);
        memcpy(c2, m.C0, cbytes);
        if (bf)
            tensor_sgemm_bf16(pool2, false, true, M, N, K, m.A, m.lda, m.B, m.ldb, 1.0f, c1, m.ldc);
        else
            tensor_sgemm(pool2, false, true, M, N, K, m.A, m.lda, m.B, m.ldb, 1.0f, c1, m.ldc);
        if (g) {
            tensor_sgemm_with(g, pool2, false, true, M, N, K, m.A, m.lda, m.B, m.ldb, 1.0f, c2,
                              m.ldc);
        } else if (bf) {
            tensor_sgemm_bf16_ref(false, true, M, N, K, m.A, m.lda, m.B, m.ldb, 1.0f, c2, m.ldc);
        } else {
            tensor_sgemm_ref(false, true, M, N, K, m.A, m.lda, m.B, m.ldb, 1.0f, c2, m.ldc);
        }
        CHECK(memcmp(c1, c2, cbytes) == 0, "%s entry point gives the bits of %s",
              bf ? "tensor_sgemm_bf16" : "tensor_sgemm", g ? g->isa : "the reference");
        const uint64_t before = kw_alloc_count();
        if (bf)
            tensor_sgemm_bf16(pool2, false, true, M, N, K, m.A, m.lda, m.B, m.ldb, 1.0f, c1, m.ldc);
        else
            tensor_sgemm(pool2, false, true, M, N, K, m.A, m.lda, m.B, m.ldb, 1.0f, c1, m.ldc);
        CHECK(kw_alloc_count() == before, "a repeated %s call allocates nothing (%llu allocations)",
              bf ? "bf16" : "f32", (unsigned long long)(kw_alloc_count() - before));
    }
    free(c1);
    free(c2);
    free_mats(&m);
}

/* The bf16 paths against the f32 reference: each input rounded to bf16 moves a product by at most
 * 2 * 2^-9 of itself, so |C_bf16 - C_f32| <= (2^-8 + f32 tolerance) * magnitude; and they must
 * differ from it by more than the f32 tolerance somewhere (or they did not round at all). */
static void test_bf16_against_f32(void) {
    const int64_t M = 67, N = 45, K = 301;
    mats m = make_mats(false, true, M, N, K, 1.0f, 2);
    const size_t cbytes = sizeof(float) * (size_t)(M * m.ldc);
    float *ref = malloc(cbytes), *c = malloc(cbytes);
    memcpy(ref, m.C0, cbytes);
    tensor_sgemm_ref(false, true, M, N, K, m.A, m.lda, m.B, m.ldb, 1.0f, ref, m.ldc);
    double *tols = tolerances(&m);
    const double scale = (8.0 * sqrt((double)K) + 16.0) / 16777216.0;
    for (int p = 0; p < n_paths; p++) {
        if (!paths[p].bf16) continue;
        memcpy(c, m.C0, cbytes);
        tensor_sgemm_with(paths[p].g, pool2, false, true, M, N, K, m.A, m.lda, m.B, m.ldb, 1.0f, c,
                          m.ldc);
        int64_t over = 0, rounded = 0;
        for (int64_t i = 0; i < M; i++)
            for (int64_t j = 0; j < N; j++) {
                const double err = fabs((double)c[i * m.ldc + j] - ref[i * m.ldc + j]);
                const double tol = tols[i * N + j];
                over += !(err <= tol / scale * (1.0 / 256.0) + tol);
                rounded += err > tol;
            }
        CHECK(over == 0, "%s stays within bf16 input rounding of the f32 product (%lld off)",
              paths[p].name, (long long)over);
        CHECK(rounded > 0, "%s rounds its inputs (differs from f32 beyond f32 tolerance somewhere)",
              paths[p].name);
    }
    free(tols);
    free(ref);
    free(c);
    free_mats(&m);
}

/* K = 0: C = beta C; beta 0 writes zeros over NaN. */
static void test_empty_k(void) {
    for (int p = 0; p < n_paths; p++) {
        float c[6] = {1, 2, 3, NAN, NAN, NAN};
        tensor_sgemm_with(paths[p].g, pool2, false, false, 1, 3, 0, NULL, 1, NULL, 3, 2.0f, c, 3);
        tensor_sgemm_with(paths[p].g, pool2, false, false, 1, 3, 0, NULL, 1, NULL, 3, 0.0f, c + 3,
                          3);
        CHECK(c[0] == 2 && c[1] == 4 && c[2] == 6 && c[3] == 0 && c[4] == 0 && c[5] == 0,
              "%s with K = 0: C = beta C (got %g %g %g, %g %g %g)", paths[p].name, c[0], c[1], c[2],
              c[3], c[4], c[5]);
    }
}

int main(void) {
    add_paths();
    if (kw_pool_create(2, &pool2) != KW_OK) pool2 = NULL;
    CHECK(pool2 != NULL, "a 2-thread pool");
    RUN_TEST(test_small_sizes);
    RUN_TEST(test_long_dimension);
    RUN_TEST(test_blocks);
    RUN_TEST(test_thread_determinism);
    RUN_TEST(test_public_entry);
    RUN_TEST(test_bf16_against_f32);
    RUN_TEST(test_empty_k);
    if (getenv("KAIWU_TEST_VERBOSE"))
        for (int p = 0; p < n_paths; p++)
            fprintf(stderr, "test_gemm: %s: largest error / tolerance %.3g\n", paths[p].name,
                    worst_ratio[p]);
    kw_pool_free(pool2);
    return test_report();
}
