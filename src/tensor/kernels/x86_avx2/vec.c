/* vec.c - AVX2 elementwise kernels of the forward pass (see kernels.h, kernel_attn): softmax of
 * attention scores, SwiGLU, RMSNorm and the scaled residual add.
 *
 * exp is a polynomial (avx2_exp, avx2_common.h): the argument is split as n*ln2 + r with |r| <=
 * ln2/2, e^r is a degree-7 polynomial in r (the Cephes expf coefficients, relative error about 1e-7
 * over the whole float range) and 2^n is built in the exponent bits. Inputs below -87.3 give 0
 * (expf gives a denormal or 0), inputs above 88 are clamped (only ever reached by SiLU of a gate
 * below -88, whose result is then about -1e-37 instead of -0). Sums run in 8 float lanes (softmax)
 * or 4+4 double lanes (RMSNorm), in a different order than the scalar loops: rounding only. Relies
 * on: avx2_common.h (avx2_exp). Must not: be called unless the CPU has AVX2 and FMA.
 */
#include "avx2_common.h"

#include <math.h>

/* The two passes softmax and its tiled form share: x *= scale with the running max (from max0),
 * then x = exp(x - max). Returns the max; *sv gets the lane sums of the first n & ~7 exps (the
 * caller adds the tail x[n8..n) in its own precision). */
static float scale_exp_avx2(float *x, int n, float scale, float max0, __m256 *sv) {
    const __m256 sc = _mm256_set1_ps(scale);
    const int n8 = n & ~7;
    __m256 mv = _mm256_set1_ps(max0);
    for (int i = 0; i < n8; i += 8) {
        const __m256 v = _mm256_mul_ps(_mm256_loadu_ps(x + i), sc);
        _mm256_storeu_ps(x + i, v);
        mv = _mm256_max_ps(mv, v);
    }
    __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(mv), _mm256_extractf128_ps(mv, 1));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
    float max = _mm_cvtss_f32(m4);
    for (int i = n8; i < n; i++) {
        x[i] *= scale;
        if (x[i] > max) max = x[i];
    }
    const __m256 mb = _mm256_set1_ps(max);
    *sv = _mm256_setzero_ps();
    for (int i = 0; i < n8; i += 8) {
        const __m256 e = avx2_exp(_mm256_sub_ps(_mm256_loadu_ps(x + i), mb));
        _mm256_storeu_ps(x + i, e);
        *sv = _mm256_add_ps(*sv, e);
    }
    for (int i = n8; i < n; i++)
        x[i] = expf(x[i] - max);
    return max;
}

static void softmax_avx2(float *x, int n, float scale) {
    const int n8 = n & ~7;
    __m256 sv;
    scale_exp_avx2(x, n, scale, -INFINITY, &sv);
    double sum = avx2_hsum(sv);
    for (int i = n8; i < n; i++)
        sum += x[i];
    const float inv = (float)(1.0 / sum);
    const __m256 iv = _mm256_set1_ps(inv);
    for (int i = 0; i < n8; i += 8)
        _mm256_storeu_ps(x + i, _mm256_mul_ps(_mm256_loadu_ps(x + i), iv));
    for (int i = n8; i < n; i++)
        x[i] *= inv;
}

/* The online-softmax step of attention in tiles (kernel_attn.softmax_tile): softmax's two passes
 * against the running max, without the normalization. */
static float softmax_tile_avx2(float *x, int n, float scale, float *max_io) {
    __m256 sv;
    *max_io = scale_exp_avx2(x, n, scale, *max_io, &sv);
    float sum = avx2_hsum(sv);
    for (int i = n & ~7; i < n; i++)
        sum += x[i];
    return sum;
}

static void swiglu_avx2(float *gate, const float *up, int64_t n) {
    const __m256 one = _mm256_set1_ps(1.0f);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 g = _mm256_loadu_ps(gate + i);
        const __m256 e = avx2_exp(_mm256_sub_ps(_mm256_setzero_ps(), g));
        const __m256 s = _mm256_div_ps(g, _mm256_add_ps(one, e));
        _mm256_storeu_ps(gate + i, _mm256_mul_ps(s, _mm256_loadu_ps(up + i)));
    }
    for (; i < n; i++) {
        float g = gate[i];
        gate[i] = g / (1.0f + expf(-g)) * up[i];
    }
}

static void rmsnorm_avx2(float *y, const float *x, const float *g, int64_t n, float eps) {
    __m256d s0 = _mm256_setzero_pd(), s1 = s0;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 v = _mm256_loadu_ps(x + i);
        const __m256 sq = _mm256_mul_ps(v, v);
        s0 = _mm256_add_pd(s0, _mm256_cvtps_pd(_mm256_castps256_ps128(sq)));
        s1 = _mm256_add_pd(s1, _mm256_cvtps_pd(_mm256_extractf128_ps(sq, 1)));
    }
    double lanes[4];
    _mm256_storeu_pd(lanes, _mm256_add_pd(s0, s1));
    double sum = (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]);
    for (; i < n; i++)
        sum += (double)(x[i] * x[i]);
    const float scale = 1.0f / sqrtf((float)(sum / (double)n) + eps);
    const __m256 sc = _mm256_set1_ps(scale);
    for (i = 0; i + 8 <= n; i += 8) {
        __m256 v = _mm256_mul_ps(_mm256_loadu_ps(x + i), sc);
        if (g) v = _mm256_mul_ps(v, _mm256_loadu_ps(g + i));
        _mm256_storeu_ps(y + i, v);
    }
    for (; i < n; i++)
        y[i] = g ? x[i] * scale * g[i] : x[i] * scale;
}

static void add_scaled_avx2(float *y, const float *x, float s, int64_t n) {
    const __m256 sv = _mm256_set1_ps(s);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_add_ps(_mm256_loadu_ps(y + i),
                                              _mm256_mul_ps(_mm256_loadu_ps(x + i), sv)));
    for (; i < n; i++)
        y[i] += x[i] * s;
}

void kernels_fill_vec_avx2(kernel_attn *a) {
    a->softmax = softmax_avx2;
    a->softmax_tile = softmax_tile_avx2;
    a->swiglu = swiglu_avx2;
    a->rmsnorm = rmsnorm_avx2;
    a->add_scaled = add_scaled_avx2;
}
