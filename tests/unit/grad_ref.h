/* grad_ref.h - float64 references of the training ops (written from their definitions, sharing no
 * code with src/tensor/ops_grad.c) and central finite differences over them, for the gradient
 * checks of test_grad.c (each op) and test_train.c (the whole model).
 *
 * The check: a scalar L = Σ w ⊙ f(inputs) with random weights w; its numeric gradient by central
 * differences (L(x + ε) − L(x − ε)) / 2ε in double, ε = GRAD_EPS, against the analytic float32
 * backward. Truncation error is O(ε²) ≈ 1e-8 relative and double rounding ~1e-16/ε ≈ 1e-11, so
 * what remains is the float32 rounding of the analytic side (~1e-6 relative per op): GRAD_RTOL
 * (1e-3 of max(|analytic|, |numeric|)) + GRAD_ATOL (1e-4 of the largest gradient magnitude)
 * leaves 100x headroom for it, while a wrong term (a missed factor, sign or index) is off by
 * O(1) of the value.
 */
#ifndef KAIWU_TEST_GRAD_REF_H
#define KAIWU_TEST_GRAD_REF_H

#include "test.h"

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define GRAD_EPS  1e-4
#define GRAD_RTOL 1e-3
#define GRAD_ATOL 1e-4

/* ---------------------------------------------------------------- random data */

static uint64_t gr_rng = 0x9E3779B97F4A7C15ull;
static inline double gr_uniform(void) { /* [-1, 1) */
    gr_rng ^= gr_rng << 13, gr_rng ^= gr_rng >> 7, gr_rng ^= gr_rng << 17;
    return (double)(gr_rng >> 11) * (2.0 / 9007199254740992.0) - 1.0;
}
/* n random values in [-scale, scale) into f (float) and d (the same values as double). */
static inline void gr_fill(float *f, double *d, int64_t n, double scale) {
    for (int64_t i = 0; i < n; i++) {
        f[i] = (float)(scale * gr_uniform());
        if (d) d[i] = f[i];
    }
}
static inline double *gr_dalloc(int64_t n) {
    return calloc((size_t)(n > 0 ? n : 1), sizeof(double));
}
static inline float *gr_falloc(int64_t n) { return calloc((size_t)(n > 0 ? n : 1), sizeof(float)); }

/* ---------------------------------------------------------------- reference ops (double) */

static inline void ref_rmsnorm(double *y, const double *x, const double *g, int64_t n_rows,
                               int64_t dim, double eps) {
    for (int64_t r = 0; r < n_rows; r++) {
        double ss = 0;
        for (int64_t i = 0; i < dim; i++)
            ss += x[r * dim + i] * x[r * dim + i];
        const double s = 1.0 / sqrt(ss / (double)dim + eps);
        for (int64_t i = 0; i < dim; i++)
            y[r * dim + i] = x[r * dim + i] * s * g[i];
    }
}

/* RoPE of one token at position pos: angle of pair i = pos * base^(-2i / n_rot). */
static inline void ref_rope(double *y, const double *x, int32_t pos, int32_t n_head,
                            int32_t head_dim, int32_t n_rot, bool neox, double base) {
    const int32_t half = n_rot / 2;
    for (int32_t h = 0; h < n_head; h++) {
        const double *xv = x + (int64_t)h * head_dim;
        double *yv = y + (int64_t)h * head_dim;
        for (int32_t i = n_rot; i < head_dim; i++)
            yv[i] = xv[i];
        for (int32_t i = 0; i < half; i++) {
            const double a = pos * pow(base, -2.0 * i / n_rot), c = cos(a), s = sin(a);
            const int32_t ia = neox ? i : 2 * i, ib = neox ? i + half : 2 * i + 1;
            const double x0 = xv[ia], x1 = xv[ib];
            yv[ia] = x0 * c - x1 * s;
            yv[ib] = x0 * s + x1 * c;
        }
    }
}

/* Causal GQA attention over one sequence (layouts as op_attn_shape). */
static inline void ref_attention(double *out, const double *q, const double *k, const double *v,
                                 int32_t T, int32_t n_head, int32_t n_kv, int32_t hd,
                                 double scale) {
    const int32_t group = n_head / n_kv;
    const int64_t Q = (int64_t)n_head * hd, KV = (int64_t)n_kv * hd;
    double *s = gr_dalloc(T);
    for (int32_t h = 0; h < n_head; h++) {
        const int32_t g = h / group;
        for (int32_t i = 0; i < T; i++) {
            double max = -INFINITY;
            for (int32_t j = 0; j <= i; j++) {
                double d = 0;
                for (int32_t c = 0; c < hd; c++)
                    d += q[i * Q + h * hd + c] * k[j * KV + g * hd + c];
                s[j] = d * scale;
                if (s[j] > max) max = s[j];
            }
            double sum = 0;
            for (int32_t j = 0; j <= i; j++)
                sum += (s[j] = exp(s[j] - max));
            for (int32_t c = 0; c < hd; c++) {
                double o = 0;
                for (int32_t j = 0; j <= i; j++)
                    o += s[j] / sum * v[j * KV + g * hd + c];
                out[i * Q + h * hd + c] = o;
            }
        }
    }
    free(s);
}

static inline void ref_swiglu(double *out, const double *gate, const double *up, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        out[i] = gate[i] / (1.0 + exp(-gate[i])) * up[i];
}

/* y = x · Wᵀ */
static inline void ref_linear(double *y, const double *x, const double *w, int64_t n_tok,
                              int64_t n_in, int64_t n_out) {
    for (int64_t t = 0; t < n_tok; t++)
        for (int64_t o = 0; o < n_out; o++) {
            double s = 0;
            for (int64_t i = 0; i < n_in; i++)
                s += x[t * n_in + i] * w[o * n_in + i];
            y[t * n_out + o] = s;
        }
}

/* Σ_r weight[r] · (−log softmax(h_r · embᵀ)[targets[r]]) over rows with a target >= 0. */
static inline double ref_xent(const double *h, const double *emb, const int32_t *targets,
                              const double *weight, int64_t n, int64_t dim, int64_t n_vocab) {
    double total = 0;
    double *z = gr_dalloc(n_vocab);
    for (int64_t r = 0; r < n; r++) {
        if (targets[r] < 0) continue;
        ref_linear(z, h + r * dim, emb, 1, dim, n_vocab);
        double max = -INFINITY, sum = 0;
        for (int64_t i = 0; i < n_vocab; i++)
            if (z[i] > max) max = z[i];
        for (int64_t i = 0; i < n_vocab; i++)
            sum += exp(z[i] - max);
        total += weight[r] * (max + log(sum) - z[targets[r]]);
    }
    free(z);
    return total;
}

/* ---------------------------------------------------------------- finite differences */

typedef double (*gr_loss_fn)(void *ctx);

/* grad[i] = (L(x_i + ε) − L(x_i − ε)) / 2ε for the n doubles at x (restored afterwards). */
static inline void gr_numeric_grad(double *grad, double *x, int64_t n, gr_loss_fn loss, void *ctx) {
    for (int64_t i = 0; i < n; i++) {
        const double x0 = x[i];
        x[i] = x0 + GRAD_EPS;
        const double lp = loss(ctx);
        x[i] = x0 - GRAD_EPS;
        const double lm = loss(ctx);
        x[i] = x0;
        grad[i] = (lp - lm) / (2.0 * GRAD_EPS);
    }
}

/* Checks analytic against numeric within GRAD_RTOL / GRAD_ATOL (see the file comment); one CHECK
 * per array, naming the worst element. Returns the largest error relative to the tolerance. */
static inline double gr_check(const char *what, const float *analytic, const double *numeric,
                              int64_t n) {
    double gmax = 0;
    for (int64_t i = 0; i < n; i++)
        if (fabs(numeric[i]) > gmax) gmax = fabs(numeric[i]);
    double worst = 0;
    int64_t at = 0;
    for (int64_t i = 0; i < n; i++) {
        const double a = analytic[i], b = numeric[i];
        const double tol = GRAD_RTOL * fmax(fabs(a), fabs(b)) + GRAD_ATOL * gmax + 1e-12;
        const double e = fabs(a - b) / tol;
        if (e > worst || i == 0) worst = e, at = i;
    }
    CHECK(worst <= 1.0,
          "%s: analytic gradient matches central differences of the float64 reference (worst "
          "element %lld: analytic %.9g, numeric %.9g, %.2f x tolerance; largest |grad| %.3g)",
          what, (long long)at, n ? analytic[at] : 0.0, n ? numeric[at] : 0.0, worst, gmax);
    return worst;
}

#endif
