/* grad_ref.c - the reference kernels of the training ops' backward passes (kernel_grad in
 * kernels.h): plain C loops, sums in order. The SIMD versions are tested against these
 * (tests/unit/test_grad_kernels.c) and the ops against float64 finite differences.
 */
#include "tensor/kernels/kernels.h"

#include <math.h>

static void swiglu_backward_ref(float *dgate, float *dup, const float *dout, const float *gate,
                                const float *up, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        const float g = gate[i], s = 1.0f / (1.0f + expf(-g));
        dgate[i] += dout[i] * up[i] * (s * (1.0f + g * (1.0f - s)));
        dup[i] += dout[i] * (g * s);
    }
}

static void rmsnorm_backward_ref(float *dx, float *dg, const float *dy, const float *x,
                                 const float *g, float rstd, int64_t n) {
    /* the mean over the row of (g⊙dy)·x̂: the part of the gradient along x itself */
    double dot = 0;
    for (int64_t i = 0; i < n; i++)
        dot += (double)(g[i] * dy[i]) * (double)(x[i] * rstd);
    const float m = (float)(dot / (double)n);
    for (int64_t i = 0; i < n; i++) {
        const float xh = x[i] * rstd;
        dx[i] += rstd * (g[i] * dy[i] - xh * m);
        dg[i] += dy[i] * xh;
    }
}

static void softmax_backward_ref(float *d, const float *p, int n, float scale) {
    float D = 0.0f;
    for (int j = 0; j < n; j++)
        D += p[j] * d[j];
    for (int j = 0; j < n; j++)
        d[j] = scale * p[j] * (d[j] - D);
}

static float max_index_ref(const float *x, int64_t n, int64_t *index) {
    float m = x[0];
    int64_t at = 0;
    for (int64_t i = 1; i < n; i++)
        if (x[i] > m) m = x[i], at = i;
    *index = at;
    return m;
}

static void scale_ref(float *x, float s, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        x[i] *= s;
}

static void adamw_ref(float *p, float *m, float *v, const float *g, int64_t n, float lr, float b1,
                      float b2, float eps, float wd, float gscale, float bc1, float bc2) {
    for (int64_t i = 0; i < n; i++) {
        const float gi = g[i] * gscale;
        const float mi = b1 * m[i] + (1.0f - b1) * gi;
        const float vi = b2 * v[i] + (1.0f - b2) * gi * gi;
        m[i] = mi, v[i] = vi;
        p[i] -= lr * ((mi / bc1) / (sqrtf(vi / bc2) + eps) + wd * p[i]);
    }
}

void kernels_fill_grad_ref(kernel_grad *g) {
    g->swiglu_backward = swiglu_backward_ref;
    g->rmsnorm_backward = rmsnorm_backward_ref;
    g->softmax_backward = softmax_backward_ref;
    g->max_index = max_index_ref;
    g->scale = scale_ref;
    g->adamw = adamw_ref;
}
