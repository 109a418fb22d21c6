/* test_grad_kernels.c - every SIMD kernel of the training backward passes (kernel_grad,
 * tensor/kernels) against its reference on seeded random data, sizes 1, 7, 31, 33 and 4097
 * (tails of the 8- and 16-lane loops).
 *
 * Tolerances: max_index, scale and AdamW use the same IEEE operations in the same order per value
 * (sqrt and division are correctly rounded), so they must match bit for bit. SwiGLU's backward
 * differs by the exp polynomial (relative error ~1e-7) and a fused multiply-add: 1e-5 relative,
 * floored at 0.1 (the inputs are O(1); where σ(g)(1 + g(1 − σ(g))) cancels near g = −1.28 only
 * the absolute error is small).
 * RMSNorm's and softmax's backward differ by the order of one row sum (8 lanes vs in order, float
 * vs double): bounded by n float roundings of the sum of |terms|, so 1e-5 of that magnitude per
 * value; a wrong term is off by O(1) of it.
 */
#include "base/base.h"
#include "tensor/kernels/kernels.h"
#include "test.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng = 0x853C49E6748FEA9Bull;
static float urand(void) { /* [-1, 1) */
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (float)((rng >> 40) * (1.0 / 8388608.0)) - 1.0f;
}
static void fill(float *x, int64_t n, float scale) {
    for (int64_t i = 0; i < n; i++)
        x[i] = scale * urand();
}

static const int64_t sizes[] = {1, 7, 31, 33, 4097};

/* Largest |a − b| / (tol_scale[i] or |b|, floored at floor). */
static double rel_err(const float *a, const float *b, int64_t n, double floor) {
    double w = 0;
    for (int64_t i = 0; i < n; i++)
        w = fmax(w, fabs((double)a[i] - b[i]) / fmax(fabs(b[i]), floor));
    return w;
}

static void compare_isa(const char *name, const kernel_grad *k, const kernel_grad *r) {
    for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
        const int64_t n = sizes[si];
        float *a = malloc(4 * n), *b = malloc(4 * n), *c = malloc(4 * n), *d = malloc(4 * n);
        float *e = malloc(4 * n), *x1 = malloc(4 * n), *x2 = malloc(4 * n), *y1 = malloc(4 * n);
        float *y2 = malloc(4 * n), *z1 = malloc(4 * n), *z2 = malloc(4 * n);
        /* SwiGLU backward */
        fill(a, n, 6), fill(b, n, 2), fill(c, n, 1), fill(x1, n, 1), fill(y1, n, 1);
        memcpy(x2, x1, 4 * n), memcpy(y2, y1, 4 * n);
        k->swiglu_backward(x1, y1, c, a, b, n);
        r->swiglu_backward(x2, y2, c, a, b, n);
        double w = fmax(rel_err(x1, x2, n, 0.1), rel_err(y1, y2, n, 0.1));
        CHECK(w < 1e-5, "%s swiglu_backward n=%lld: within 1e-5 of the reference (%.3g)", name,
              (long long)n, w);
        /* RMSNorm backward: tolerance relative to the row's magnitude */
        fill(a, n, 2), fill(b, n, 1.5f), fill(c, n, 1), fill(x1, n, 1), fill(y1, n, 1);
        memcpy(x2, x1, 4 * n), memcpy(y2, y1, 4 * n);
        k->rmsnorm_backward(x1, y1, c, a, b, 0.7f, n);
        r->rmsnorm_backward(x2, y2, c, a, b, 0.7f, n);
        w = fmax(rel_err(x1, x2, n, 1.0), rel_err(y1, y2, n, 1.0));
        CHECK(w < 1e-5, "%s rmsnorm_backward n=%lld: within 1e-5 of the reference (%.3g)", name,
              (long long)n, w);
        /* softmax backward over a probability row */
        double s = 0;
        for (int64_t i = 0; i < n; i++)
            e[i] = expf(3 * urand()), s += e[i];
        for (int64_t i = 0; i < n; i++)
            e[i] = (float)(e[i] / s);
        fill(z1, n, 1);
        memcpy(z2, z1, 4 * n);
        k->softmax_backward(z1, e, (int)n, 0.125f);
        r->softmax_backward(z2, e, (int)n, 0.125f);
        double mag = 0;
        for (int64_t i = 0; i < n; i++)
            mag = fmax(mag, fabs(z2[i]));
        w = rel_err(z1, z2, n, mag > 0 ? mag : 1);
        CHECK(w < 1e-5, "%s softmax_backward n=%lld: within 1e-5 of the row's largest value (%.3g)",
              name, (long long)n, w);
        /* max_index: with a repeated maximum the first index wins */
        fill(a, n, 10);
        if (n > 5) a[n / 2] = 20, a[n - 1] = 20;
        int64_t i1 = -1, i2 = -2;
        const float m1 = k->max_index(a, n, &i1), m2 = r->max_index(a, n, &i2);
        CHECK(m1 == m2 && i1 == i2, "%s max_index n=%lld: %g at %lld, reference %g at %lld", name,
              (long long)n, m1, (long long)i1, m2, (long long)i2);
        /* scale */
        fill(a, n, 3);
        memcpy(b, a, 4 * n);
        k->scale(a, 0.37f, n);
        r->scale(b, 0.37f, n);
        CHECK(memcmp(a, b, 4 * n) == 0, "%s scale n=%lld: bit for bit", name, (long long)n);
        /* AdamW */
        fill(a, n, 1), fill(c, n, 0.1f), fill(x1, n, 0.01f), fill(y1, n, 1e-4f);
        for (int64_t i = 0; i < n; i++)
            y1[i] = fabsf(y1[i]);
        memcpy(b, a, 4 * n), memcpy(x2, x1, 4 * n), memcpy(y2, y1, 4 * n);
        k->adamw(a, x1, y1, c, n, 1e-3f, 0.9f, 0.95f, 1e-8f, 0.1f, 0.5f, 0.19f, 0.0975f);
        r->adamw(b, x2, y2, c, n, 1e-3f, 0.9f, 0.95f, 1e-8f, 0.1f, 0.5f, 0.19f, 0.0975f);
        CHECK(memcmp(a, b, 4 * n) == 0 && memcmp(x1, x2, 4 * n) == 0 && memcmp(y1, y2, 4 * n) == 0,
              "%s adamw n=%lld: parameters and moments bit for bit", name, (long long)n);
        free(a), free(b), free(c), free(d), free(e), free(x1), free(x2), free(y1), free(y2);
        free(z1), free(z2);
    }
}

static void test_simd_kernels_match_reference(void) {
    kernel_grad ref, k;
    kernels_fill_grad_ref(&ref);
    const char *names[KERNEL_ISA_COUNT] = {"ref", "avx2", "avx512", "neon"};
    int tested = 0;
    for (int isa = KERNEL_ISA_AVX2; isa < KERNEL_ISA_COUNT; isa++) {
        if (!kernels_grad_isa((kernel_isa)isa, &k)) {
            printf("note: %s not available on this CPU or build: skipped\n", names[isa]);
            continue;
        }
        compare_isa(names[isa], &k, &ref);
        tested++;
    }
    kernels_grad_isa(KERNEL_ISA_REF, &k);
    CHECK(k.swiglu_backward == ref.swiglu_backward && k.adamw == ref.adamw,
          "the ref table is the reference");
    printf("%d SIMD table(s) compared\n", tested);
}

int main(void) {
    RUN_TEST(test_simd_kernels_match_reference);
    return test_report();
}
