/* attn.c - AVX2 float kernels of attention (see kernels.h, kernel_attn): scores q·k_p for a run
 * of cached keys, and the weighted sum of cached values.
 *
 * qk reads the keys transposed (the cache layout): 16 keys run along two vectors and up to 4
 * queries share each key load, with no horizontal sums; av keeps 64 output values in 8 registers
 * while it walks the positions. The same over an F16 cache (each value widened with F16C as it is
 * loaded) and a Q8_0 cache (keys and values as rows of blocks: per block the quants widened to
 * float, products summed in float lanes, times the block scale; the query stays float). Sums are
 * in a different order than a scalar loop (rounding only).
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

/* ---------------------------------------------------------------- F16 cache */

/* 8 halves from p as floats; fewer than 8 (cnt < 8) go through a zero-padded copy, so nothing
 * past the run is read. */
AVX2_INLINE __m256 load_h8(const uint16_t *p, int cnt) {
    if (cnt >= 8) return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
    uint16_t t[8] = {0};
    if (cnt > 0) memcpy(t, p, sizeof(uint16_t) * (size_t)cnt);
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)t));
}

/* qk_tile over F16 keys: each key vector widened once, then shared by up to 4 queries. */
static inline __attribute__((always_inline)) void qk_h_tile(const float *q, size_t qs,
                                                            const uint16_t *kt, size_t ks, int n,
                                                            int np, float *scores, size_t ss,
                                                            const int JB) {
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256i m0 = _mm256_cmpgt_epi32(_mm256_set1_epi32(np), lane);
    const __m256i m1 = _mm256_cmpgt_epi32(_mm256_set1_epi32(np - 8), lane);
    __m256 a[4][2];
    _Pragma("GCC unroll 4") for (int j = 0; j < JB; j++) a[j][0] = a[j][1] = _mm256_setzero_ps();
    for (int i = 0; i < n; i++) {
        const uint16_t *kr = kt + (size_t)i * ks;
        const __m256 k0 = load_h8(kr, np);
        const __m256 k1 = np > 8 ? load_h8(kr + 8, np - 8) : _mm256_setzero_ps();
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

static void qk_f16_avx2(const float *q, size_t qs, int nq, const uint16_t *kt, size_t ks, int n,
                        int np, float *scores, size_t ss) {
#define QK_TILE(j, JB)                                                                             \
    qk_h_tile(q + (size_t)(j)*qs, qs, kt + p, ks, n, cnt, scores + (size_t)(j)*ss + p, ss, JB)
    for (int p = 0; p < np; p += 16) {
        const int cnt = np - p < 16 ? np - p : 16;
        KERNEL_HEAD_TILES(nq, QK_TILE);
    }
#undef QK_TILE
}

static void av_h_one(const float *w, const uint16_t *v, size_t vs, int n, int np, float *out) {
    int i0 = 0;
    for (; i0 + 64 <= n; i0 += 64) {
        __m256 a[8];
        for (int j = 0; j < 8; j++)
            a[j] = _mm256_loadu_ps(out + i0 + 8 * j);
        for (int p = 0; p < np; p++) {
            const __m256 wp = _mm256_set1_ps(w[p]);
            const uint16_t *vp = v + (size_t)p * vs + i0;
            _Pragma("GCC unroll 8") for (int j = 0; j < 8; j++) a[j] = _mm256_fmadd_ps(
                wp, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(vp + 8 * j))), a[j]);
        }
        for (int j = 0; j < 8; j++)
            _mm256_storeu_ps(out + i0 + 8 * j, a[j]);
    }
    for (; i0 + 8 <= n; i0 += 8) {
        __m256 a = _mm256_loadu_ps(out + i0);
        for (int p = 0; p < np; p++)
            a = _mm256_fmadd_ps(
                _mm256_set1_ps(w[p]),
                _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(v + (size_t)p * vs + i0))), a);
        _mm256_storeu_ps(out + i0, a);
    }
    for (; i0 < n; i0++)
        for (int p = 0; p < np; p++)
            out[i0] += w[p] * avx2_h2f(v[(size_t)p * vs + i0]);
}

static void av_f16_avx2(const float *w, size_t ws, int nq, const uint16_t *v, size_t vs, int n,
                        int np, float *out, size_t os) {
    for (int j = 0; j < nq; j++)
        av_h_one(w + (size_t)j * ws, v, vs, n, np, out + (size_t)j * os);
}

/* ---------------------------------------------------------------- Q8_0 cache */

/* 8 int8 quants as floats. */
AVX2_INLINE __m256 i8x8(const int8_t *p) {
    return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)p)));
}

/* Up to JB queries against one key row: per block the 32 products in float lanes, times the
 * block scale; one horizontal sum per query at the end. */
static inline __attribute__((always_inline)) void qk_q8_row(const float *q, size_t qs,
                                                            const block_q8_0 *b, int nb,
                                                            float *scores, size_t ss,
                                                            const int JB) {
    __m256 acc[4];
    _Pragma("GCC unroll 4") for (int j = 0; j < JB; j++) acc[j] = _mm256_setzero_ps();
    for (int ib = 0; ib < nb; ib++) {
        const __m256 d = _mm256_set1_ps(avx2_h2f(b[ib].d));
        __m256 k[4];
        _Pragma("GCC unroll 4") for (int u = 0; u < 4; u++) k[u] = i8x8(b[ib].qs + 8 * u);
        _Pragma("GCC unroll 4") for (int j = 0; j < JB; j++) {
            const float *qj = q + (size_t)j * qs + (size_t)ib * QK8_0;
            __m256 s = _mm256_mul_ps(_mm256_loadu_ps(qj), k[0]);
            s = _mm256_fmadd_ps(_mm256_loadu_ps(qj + 8), k[1], s);
            s = _mm256_fmadd_ps(_mm256_loadu_ps(qj + 16), k[2], s);
            s = _mm256_fmadd_ps(_mm256_loadu_ps(qj + 24), k[3], s);
            acc[j] = _mm256_fmadd_ps(s, d, acc[j]);
        }
    }
    _Pragma("GCC unroll 4") for (int j = 0; j < JB; j++) scores[(size_t)j * ss] = avx2_hsum(acc[j]);
}

static void qk_q8_0_avx2(const float *q, size_t qs, int nq, const void *k, size_t ks, int n, int np,
                         float *scores, size_t ss) {
    const int nb = n / QK8_0;
    for (int p = 0; p < np; p++) {
        const block_q8_0 *b = (const block_q8_0 *)((const uint8_t *)k + (size_t)p * ks);
#define QK_ROW(j, JB) qk_q8_row(q + (size_t)(j)*qs, qs, b, nb, scores + (size_t)(j)*ss + p, ss, JB)
        KERNEL_HEAD_TILES(nq, QK_ROW);
#undef QK_ROW
    }
}

/* Up to 2 outputs x one block of 32 values over np value rows (8 accumulators; the row's quants
 * widened once for both). */
static inline __attribute__((always_inline)) void av_q8_block(const float *w, size_t ws,
                                                              const uint8_t *v, size_t vs, int np,
                                                              float *out, size_t os, const int JB) {
    __m256 a[2][4];
    _Pragma("GCC unroll 2") for (int j = 0; j < JB; j++)
        _Pragma("GCC unroll 4") for (int u = 0; u < 4; u++) a[j][u] =
            _mm256_loadu_ps(out + (size_t)j * os + 8 * u);
    for (int p = 0; p < np; p++) {
        const block_q8_0 *b = (const block_q8_0 *)(v + (size_t)p * vs);
        const float d = avx2_h2f(b->d);
        __m256 x[4];
        _Pragma("GCC unroll 4") for (int u = 0; u < 4; u++) x[u] = i8x8(b->qs + 8 * u);
        _Pragma("GCC unroll 2") for (int j = 0; j < JB; j++) {
            const __m256 wd = _mm256_set1_ps(w[(size_t)j * ws + p] * d);
            _Pragma("GCC unroll 4") for (int u = 0; u < 4; u++) a[j][u] =
                _mm256_fmadd_ps(wd, x[u], a[j][u]);
        }
    }
    _Pragma("GCC unroll 2") for (int j = 0; j < JB; j++)
        _Pragma("GCC unroll 4") for (int u = 0; u < 4; u++)
            _mm256_storeu_ps(out + (size_t)j * os + 8 * u, a[j][u]);
}

static void av_q8_0_avx2(const float *w, size_t ws, int nq, const void *v, size_t vs, int n, int np,
                         float *out, size_t os) {
    for (int ib = 0; ib < n / QK8_0; ib++) {
        const uint8_t *vb = (const uint8_t *)v + (size_t)ib * sizeof(block_q8_0);
        float *ob = out + (size_t)ib * QK8_0;
        int j = 0;
        for (; j + 2 <= nq; j += 2)
            av_q8_block(w + (size_t)j * ws, ws, vb, vs, np, ob + (size_t)j * os, os, 2);
        if (j < nq) av_q8_block(w + (size_t)j * ws, ws, vb, vs, np, ob + (size_t)j * os, os, 1);
    }
}

void kernels_fill_attn_avx2(kernel_attn *a);
void kernels_fill_attn_avx2(kernel_attn *a) {
    a->qk = qk_avx2;
    a->av = av_avx2;
    a->qk_f16 = qk_f16_avx2;
    a->av_f16 = av_f16_avx2;
    a->qk_q8_0 = qk_q8_0_avx2;
    a->av_q8_0 = av_q8_0_avx2;
}
