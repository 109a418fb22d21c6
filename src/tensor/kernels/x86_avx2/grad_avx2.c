/* grad_avx2.c - AVX2 kernels of the training ops' backward passes (kernel_grad in kernels.h):
 * 8 float lanes, FMA, exp through avx2_exp. Sums (RMSNorm's row mean, softmax's Σ p d) run in
 * 8 lanes added at the end, another order than the reference's: results differ by rounding only.
 * Tails (n % 8) use the reference formulas.
 * Relies on: avx2_common.h. Must not: be called unless the CPU has AVX2 and FMA.
 */
#include "avx2_common.h"

#include <math.h>

static void swiglu_backward_avx2(float *dgate, float *dup, const float *dout, const float *gate,
                                 const float *up, int64_t n) {
    const __m256 one = _mm256_set1_ps(1.0f);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 g = _mm256_loadu_ps(gate + i), d = _mm256_loadu_ps(dout + i);
        const __m256 s =
            _mm256_div_ps(one, _mm256_add_ps(one, avx2_exp(_mm256_sub_ps(_mm256_setzero_ps(), g))));
        const __m256 gs = _mm256_mul_ps(g, s);
        /* σ(g)(1 + g(1 − σ(g))) = s + gs (1 − s) */
        const __m256 dsilu = _mm256_fmadd_ps(gs, _mm256_sub_ps(one, s), s);
        _mm256_storeu_ps(dgate + i, _mm256_fmadd_ps(_mm256_mul_ps(d, _mm256_loadu_ps(up + i)),
                                                    dsilu, _mm256_loadu_ps(dgate + i)));
        _mm256_storeu_ps(dup + i, _mm256_fmadd_ps(d, gs, _mm256_loadu_ps(dup + i)));
    }
    for (; i < n; i++) {
        const float g = gate[i], s = 1.0f / (1.0f + expf(-g));
        dgate[i] += dout[i] * up[i] * (s * (1.0f + g * (1.0f - s)));
        dup[i] += dout[i] * (g * s);
    }
}

static void rmsnorm_backward_avx2(float *dx, float *dg, const float *dy, const float *x,
                                  const float *g, float rstd, int64_t n) {
    __m256 a0 = _mm256_setzero_ps(), a1 = a0;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        a0 = _mm256_fmadd_ps(_mm256_mul_ps(_mm256_loadu_ps(g + i), _mm256_loadu_ps(dy + i)),
                             _mm256_loadu_ps(x + i), a0);
        a1 = _mm256_fmadd_ps(_mm256_mul_ps(_mm256_loadu_ps(g + i + 8), _mm256_loadu_ps(dy + i + 8)),
                             _mm256_loadu_ps(x + i + 8), a1);
    }
    float dot = avx2_hsum(_mm256_add_ps(a0, a1));
    for (; i < n; i++)
        dot += g[i] * dy[i] * x[i];
    const float m = dot * rstd / (float)n; /* mean of (g⊙dy)·x̂ */
    const __m256 rs = _mm256_set1_ps(rstd), mv = _mm256_set1_ps(m);
    for (i = 0; i + 8 <= n; i += 8) {
        const __m256 xh = _mm256_mul_ps(_mm256_loadu_ps(x + i), rs);
        const __m256 d = _mm256_loadu_ps(dy + i);
        const __m256 gd = _mm256_mul_ps(_mm256_loadu_ps(g + i), d);
        _mm256_storeu_ps(
            dx + i, _mm256_fmadd_ps(rs, _mm256_fnmadd_ps(xh, mv, gd), _mm256_loadu_ps(dx + i)));
        _mm256_storeu_ps(dg + i, _mm256_fmadd_ps(d, xh, _mm256_loadu_ps(dg + i)));
    }
    for (; i < n; i++) {
        const float xh = x[i] * rstd;
        dx[i] += rstd * (g[i] * dy[i] - xh * m);
        dg[i] += dy[i] * xh;
    }
}

static void softmax_backward_avx2(float *d, const float *p, int n, float scale) {
    __m256 a = _mm256_setzero_ps();
    int i = 0;
    for (; i + 8 <= n; i += 8)
        a = _mm256_fmadd_ps(_mm256_loadu_ps(p + i), _mm256_loadu_ps(d + i), a);
    float D = avx2_hsum(a);
    for (; i < n; i++)
        D += p[i] * d[i];
    const __m256 Dv = _mm256_set1_ps(D), sv = _mm256_set1_ps(scale);
    for (i = 0; i + 8 <= n; i += 8) {
        const __m256 sp = _mm256_mul_ps(sv, _mm256_loadu_ps(p + i));
        _mm256_storeu_ps(d + i, _mm256_mul_ps(sp, _mm256_sub_ps(_mm256_loadu_ps(d + i), Dv)));
    }
    for (; i < n; i++)
        d[i] = scale * p[i] * (d[i] - D);
}

static float max_index_avx2(const float *x, int64_t n, int64_t *index) {
    __m256 mv = _mm256_set1_ps(x[0]);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        mv = _mm256_max_ps(mv, _mm256_loadu_ps(x + i));
    __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(mv), _mm256_extractf128_ps(mv, 1));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
    float m = _mm_cvtss_f32(m4);
    for (; i < n; i++)
        if (x[i] > m) m = x[i];
    /* the first index holding it, as the reference finds */
    const __m256 mb = _mm256_set1_ps(m);
    for (i = 0; i + 8 <= n; i += 8) {
        const int mask = _mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(x + i), mb, _CMP_EQ_OQ));
        if (mask) {
            *index = i + __builtin_ctz((unsigned)mask);
            return m;
        }
    }
    for (; i < n; i++)
        if (x[i] == m) {
            *index = i;
            return m;
        }
    *index = 0; /* only with NaN inputs */
    return m;
}

static void scale_avx2(float *x, float s, int64_t n) {
    const __m256 sv = _mm256_set1_ps(s);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(x + i, _mm256_mul_ps(_mm256_loadu_ps(x + i), sv));
    for (; i < n; i++)
        x[i] *= s;
}

static void adamw_avx2(float *p, float *m, float *v, const float *g, int64_t n, float lr, float b1,
                       float b2, float eps, float wd, float gscale, float bc1, float bc2) {
    const __m256 vb1 = _mm256_set1_ps(b1), vb2 = _mm256_set1_ps(b2);
    const __m256 nb1 = _mm256_set1_ps(1.0f - b1), nb2 = _mm256_set1_ps(1.0f - b2);
    const __m256 vlr = _mm256_set1_ps(lr), veps = _mm256_set1_ps(eps), vwd = _mm256_set1_ps(wd);
    const __m256 vgs = _mm256_set1_ps(gscale), vbc1 = _mm256_set1_ps(bc1),
                 vbc2 = _mm256_set1_ps(bc2);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 gi = _mm256_mul_ps(_mm256_loadu_ps(g + i), vgs);
        const __m256 mi =
            _mm256_add_ps(_mm256_mul_ps(vb1, _mm256_loadu_ps(m + i)), _mm256_mul_ps(nb1, gi));
        const __m256 vi = _mm256_add_ps(_mm256_mul_ps(vb2, _mm256_loadu_ps(v + i)),
                                        _mm256_mul_ps(_mm256_mul_ps(nb2, gi), gi));
        _mm256_storeu_ps(m + i, mi);
        _mm256_storeu_ps(v + i, vi);
        const __m256 pi = _mm256_loadu_ps(p + i);
        const __m256 den = _mm256_add_ps(_mm256_sqrt_ps(_mm256_div_ps(vi, vbc2)), veps);
        const __m256 upd =
            _mm256_add_ps(_mm256_div_ps(_mm256_div_ps(mi, vbc1), den), _mm256_mul_ps(vwd, pi));
        _mm256_storeu_ps(p + i, _mm256_sub_ps(pi, _mm256_mul_ps(vlr, upd)));
    }
    for (; i < n; i++) {
        const float gi = g[i] * gscale;
        const float mi = b1 * m[i] + (1.0f - b1) * gi;
        const float vi = b2 * v[i] + (1.0f - b2) * gi * gi;
        m[i] = mi, v[i] = vi;
        p[i] -= lr * ((mi / bc1) / (sqrtf(vi / bc2) + eps) + wd * p[i]);
    }
}

void kernels_fill_grad_avx2(kernel_grad *g) {
    g->swiglu_backward = swiglu_backward_avx2;
    g->rmsnorm_backward = rmsnorm_backward_avx2;
    g->softmax_backward = softmax_backward_avx2;
    g->max_index = max_index_avx2;
    g->scale = scale_avx2;
    g->adamw = adamw_avx2;
}
