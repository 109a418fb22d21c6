/* attn.c - AVX2 float kernels of attention (see kernels.h, kernel_attn): scores q·k_p for a run
 * of cached keys, and the weighted sum of cached values.
 *
 * qk reads the keys transposed (the cache layout): 16 keys run along two vectors and up to 4
 * queries share each key load, with no horizontal sums; av keeps 64 output values in 8 registers
 * while it walks the positions. Sums are in a
 * different order than a scalar loop (rounding only).
 * Relies on: avx2_common.h. Must not: be called unless the CPU has AVX2 and FMA.
 */
#include "avx2_common.h"

/* Up to JB queries x 16 keys (two vectors; a tail of fewer keys is loaded masked). */
static inline __attribute__((always_inline)) void qk_tile(const float *q, size_t qs,
                                                          const float *kt, size_t ks, int n, int np,
                                                          float *scores, size_t ss, const int JB) {
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256i m0 = _mm256_cmpgt_epi32(_mm256_set1_epi32(np), lane);
    const __m256i m1 = _mm256_cmpgt_epi32(_mm256_set1_epi32(np - 8), lane);
    __m256 a[4][2];
    _Pragma("GCC unroll 4") for (int j = 0; j < JB; j++) a[j][0] = a[j][1] = _mm256_setzero_ps();
    for (int i = 0; i < n; i++) {
        const float *kr = kt + (size_t)i * ks;
        const __m256 k0 = np >= 8 ? _mm256_loadu_ps(kr) : _mm256_maskload_ps(kr, m0);
        const __m256 k1 = np >= 16 ? _mm256_loadu_ps(kr + 8)
                          : np > 8 ? _mm256_maskload_ps(kr + 8, m1)
                                   : _mm256_setzero_ps();
        _Pragma("GCC unroll 4") for (int j = 0; j < JB; j++) {
            const __m256 qv = _mm256_broadcast_ss(q + (size_t)j * qs + i);
            a[j][0] = _mm256_fmadd_ps(qv, k0, a[j][0]);
            a[j][1] = _mm256_fmadd_ps(qv, k1, a[j][1]);
        }
    }
    _Pragma("GCC unroll 4") for (int j = 0; j < JB; j++) {
        float *o = scores + (size_t)j * ss;
        if (np >= 16) {
            _mm256_storeu_ps(o, a[j][0]);
            _mm256_storeu_ps(o + 8, a[j][1]);
        } else {
            _mm256_maskstore_ps(o, m0, a[j][0]);
            if (np > 8) _mm256_maskstore_ps(o + 8, m1, a[j][1]);
        }
    }
}

static void qk_avx2(const float *q, size_t qs, int nq, const float *kt, size_t ks, int n, int np,
                    float *scores, size_t ss) {
#define QK_TILE(j, JB)                                                                             \
    qk_tile(q + (size_t)(j)*qs, qs, kt + p, ks, n, cnt, scores + (size_t)(j)*ss + p, ss, JB)
    for (int p = 0; p < np; p += 16) {
        const int cnt = np - p < 16 ? np - p : 16;
        KERNEL_HEAD_TILES(nq, QK_TILE);
    }
#undef QK_TILE
}

static void av_one(const float *w, const float *v, size_t vs, int n, int np, float *out) {
    int i0 = 0;
    for (; i0 + 64 <= n; i0 += 64) {
        __m256 a[8];
        for (int j = 0; j < 8; j++)
            a[j] = _mm256_loadu_ps(out + i0 + 8 * j);
        for (int p = 0; p < np; p++) {
            const __m256 wp = _mm256_set1_ps(w[p]);
            const float *vp = v + (size_t)p * vs + i0;
            _Pragma("GCC unroll 8") for (int j = 0; j < 8; j++) a[j] =
                _mm256_fmadd_ps(wp, _mm256_loadu_ps(vp + 8 * j), a[j]);
        }
        for (int j = 0; j < 8; j++)
            _mm256_storeu_ps(out + i0 + 8 * j, a[j]);
    }
    for (; i0 + 8 <= n; i0 += 8) {
        __m256 a = _mm256_loadu_ps(out + i0);
        for (int p = 0; p < np; p++)
            a = _mm256_fmadd_ps(_mm256_set1_ps(w[p]), _mm256_loadu_ps(v + (size_t)p * vs + i0), a);
        _mm256_storeu_ps(out + i0, a);
    }
    for (; i0 < n; i0++)
        for (int p = 0; p < np; p++)
            out[i0] += w[p] * v[(size_t)p * vs + i0];
}

static void av_avx2(const float *w, size_t ws, int nq, const float *v, size_t vs, int n, int np,
                    float *out, size_t os) {
    for (int j = 0; j < nq; j++)
        av_one(w + (size_t)j * ws, v, vs, n, np, out + (size_t)j * os);
}

void kernels_fill_attn_avx2(kernel_attn *a);
void kernels_fill_attn_avx2(kernel_attn *a) {
    a->qk = qk_avx2;
    a->av = av_avx2;
}
