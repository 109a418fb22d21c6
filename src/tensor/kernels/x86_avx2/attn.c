/* attn.c - AVX2 float kernels of attention (see kernels.h, kernel_attn): scores q·k_p for a run
 * of cached keys, and the weighted sum of cached values.
 *
 * qk takes 4 keys at a time (4 accumulators sharing each load of q, reduced together with
 * hadd); av keeps 64 output values in 8 registers while it walks the positions. Sums are in a
 * different order than a scalar loop (rounding only).
 * Relies on: avx2_common.h. Must not: be called unless the CPU has AVX2 and FMA.
 */
#include "avx2_common.h"

static void qk_avx2(const float *q, const float *k, size_t ks, int n, int np, float *scores) {
    const int n8 = n & ~7;
    int p = 0;
    for (; p + 4 <= np; p += 4) {
        const float *k0 = k + (size_t)p * ks, *k1 = k0 + ks, *k2 = k1 + ks, *k3 = k2 + ks;
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        for (int i = 0; i < n8; i += 8) {
            const __m256 qv = _mm256_loadu_ps(q + i);
            a0 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(k0 + i), a0);
            a1 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(k1 + i), a1);
            a2 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(k2 + i), a2);
            a3 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(k3 + i), a3);
        }
        const __m256 h = _mm256_hadd_ps(_mm256_hadd_ps(a0, a1), _mm256_hadd_ps(a2, a3));
        __m128 s = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
        float r[4];
        _mm_storeu_ps(r, s);
        for (int i = n8; i < n; i++) {
            r[0] += q[i] * k0[i], r[1] += q[i] * k1[i];
            r[2] += q[i] * k2[i], r[3] += q[i] * k3[i];
        }
        memcpy(scores + p, r, sizeof r);
    }
    for (; p < np; p++) {
        const float *kp = k + (size_t)p * ks;
        __m256 a = _mm256_setzero_ps();
        for (int i = 0; i < n8; i += 8) a = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), _mm256_loadu_ps(kp + i), a);
        float s = avx2_hsum(a);
        for (int i = n8; i < n; i++) s += q[i] * kp[i];
        scores[p] = s;
    }
}

static void av_avx2(const float *w, const float *v, size_t vs, int n, int np, float *out) {
    int i0 = 0;
    for (; i0 + 64 <= n; i0 += 64) {
        __m256 a[8];
        for (int j = 0; j < 8; j++) a[j] = _mm256_loadu_ps(out + i0 + 8 * j);
        for (int p = 0; p < np; p++) {
            const __m256 wp = _mm256_set1_ps(w[p]);
            const float *vp = v + (size_t)p * vs + i0;
            _Pragma("GCC unroll 8") for (int j = 0; j < 8; j++) a[j] = _mm256_fmadd_ps(wp, _mm256_loadu_ps(vp + 8 * j), a[j]);
        }
        for (int j = 0; j < 8; j++) _mm256_storeu_ps(out + i0 + 8 * j, a[j]);
    }
    for (; i0 + 8 <= n; i0 += 8) {
        __m256 a = _mm256_loadu_ps(out + i0);
        for (int p = 0; p < np; p++) a = _mm256_fmadd_ps(_mm256_set1_ps(w[p]), _mm256_loadu_ps(v + (size_t)p * vs + i0), a);
        _mm256_storeu_ps(out + i0, a);
    }
    for (; i0 < n; i0++)
        for (int p = 0; p < np; p++) out[i0] += w[p] * v[(size_t)p * vs + i0];
}

void kernels_fill_attn_avx2(kernel_attn *a);
void kernels_fill_attn_avx2(kernel_attn *a) {
    a->qk = qk_avx2;
    a->av = av_avx2;
}
