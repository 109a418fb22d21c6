/* attn_avx512.c - AVX-512 attention kernels (kernel_attn.qk and av, see kernels.h), for the query
 * heads that share one KV head. qk: keys stored transposed, 64 keys (4 vectors, a whole 256-byte
 * run of each cached dimension) x up to 4 queries per tile, so each key load feeds 4 FMAs and no
 * horizontal sums are needed. av: 64 output values x up to 4 heads per tile, each value-row load
 * feeding 4 FMAs. Tails are loaded and stored with masks.
 * The F16-cache versions are the same tiles with each 16 halves widened as they are loaded; the
 * Q8_0-cache versions take rows of blocks (per block 2 vectors of widened quants, times the
 * block's scale).
 * Relies on: AVX-512 F, BW and VL (masked 16-bit loads). Must not: be called unless the CPU has it.
 * Sums run over the dimensions in order, as the reference does (the FMA rounds once per step:
 * rounding only).
 */
#include "tensor/blocks.h"
#include "tensor/kernels/kernels.h"

#include <immintrin.h>

/* Masks of the 4 vectors of a 64-float tile of which the first `count` lanes are used. */
static inline __attribute__((always_inline)) void lane_masks(int count, __mmask16 m[4]) {
    _Pragma("GCC unroll 4") for (int v = 0; v < 4; v++) {
        const int left = count - 16 * v;
        m[v] = left >= 16 ? (__mmask16)0xFFFF : left > 0 ? (__mmask16)((1u << left) - 1) : 0;
    }
}

static inline __attribute__((always_inline)) void qk_tile(const float *q, size_t qs,
                                                          const float *kt, size_t ks, int n, int np,
                                                          float *scores, size_t ss, const int JB) {
    __mmask16 m[4];
    lane_masks(np, m);
    __m512 a[4][4];
    _Pragma("GCC unroll 4") for (int j = 0; j < JB; j++)
        _Pragma("GCC unroll 4") for (int v = 0; v < 4; v++) a[j][v] = _mm512_setzero_ps();
    for (int i = 0; i < n; i++) {
        const float *kr = kt + (size_t)i * ks;
        __m512 k[4];
        _Pragma("GCC unroll 4") for (int v = 0; v < 4; v++) k[v] =
            _mm512_maskz_loadu_ps(m[v], kr + 16 * v);
        _Pragma("GCC unroll 4") for (int j = 0; j < JB; j++) {
            const __m512 qv = _mm512_set1_ps(q[(size_t)j * qs + i]);
            _Pragma("GCC unroll 4") for (int v = 0; v < 4; v++) a[j][v] =
                _mm512_fmadd_ps(qv, k[v], a[j][v]);
        }
    }
    _Pragma("GCC unroll 4") for (int j = 0; j < JB; j++)
        _Pragma("GCC unroll 4") for (int v = 0; v < 4; v++)
            _mm512_mask_storeu_ps(scores + (size_t)j * ss + 16 * v, m[v], a[j][v]);
}

static void qk_avx512(const float *q, size_t qs, int nq, const float *kt, size_t ks, int n, int np,
                      float *scores, size_t ss) {
#define QK_TILE(j, JB)                                                                             \
    qk_tile(q + (size_t)(j)*qs, qs, kt + p, ks, n, cnt, scores + (size_t)(j)*ss + p, ss, JB)
    for (int p = 0; p < np; p += 64) {
        const int cnt = np - p < 64 ? np - p : 64;
        KERNEL_HEAD_TILES(nq, QK_TILE);
    }
#undef QK_TILE
}

/* Up to JB outputs x 64 values (4 vectors; fewer are masked) over np value rows: each row load
 * feeds JB FMAs. */
static inline __attribute__((always_inline)) void av_tile(const float *w, size_t ws, const float *v,
                                                          size_t vs, int n, int np, float *out,
                                                          size_t os, const int JB) {
    __mmask16 m[4];
    lane_masks(n, m);
    __m512 a[4][4];
    _Pragma("GCC unroll 4") for (int j = 0; j < JB; j++)
        _Pragma("GCC unroll 4") for (int u = 0; u < 4; u++) a[j][u] =
            _mm512_maskz_loadu_ps(m[u], out + (size_t)j * os + 16 * u);
    for (int p = 0; p < np; p++) {
        const float *vr = v + (size_t)p * vs;
        __m512 x[4];
        _Pragma("GCC unroll 4") for (int u = 0; u < 4; u++) x[u] =
            _mm512_maskz_loadu_ps(m[u], vr + 16 * u);
        _Pragma("GCC unroll 4") for (int j = 0; j < JB; j++) {
            const __m512 wv = _mm512_set1_ps(w[(size_t)j * ws + p]);
            _Pragma("GCC unroll 4") for (int u = 0; u < 4; u++) a[j][u] =
                _mm512_fmadd_ps(wv, x[u], a[j][u]);
        }
    }
    _Pragma("GCC unroll 4") for (int j = 0; j < JB; j++)
        _Pragma("GCC unroll 4") for (int u = 0; u < 4; u++)
            _mm512_mask_storeu_ps(out + (size_t)j * os + 16 * u, m[u], a[j][u]);
}

static void av_avx512(const float *w, size_t ws, int nq, const float *v, size_t vs, int n, int np,
                      float *out, size_t os) {
#define AV_TILE(j, JB)                                                                             \
    av_tile(w + (size_t)(j)*ws, ws, v + i, vs, cnt, np, out + (size_t)(j)*os + i, os, JB)
    for (int i = 0; i < n; i += 64) {
        const int cnt = n - i < 64 ? n - i : 64;
        KERNEL_HEAD_TILES(nq, AV_TILE);
    }
#undef AV_TILE
}

/* ---------------------------------------------------------------- F16 cache: the same tiles,
 * each 16 halves widened with vcvtph2ps as they are loaded (masked loads for tails) */

static inline __attribute__((always_inline)) __m512 load_h16(__mmask16 m, const uint16_t *p) {
    return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, p));
}

static inline __attribute__((always_inline)) void qk_h_tile(const float *q, size_t qs,
                                                            const uint16_t *kt, size_t ks, int n,
                                                            int np, float *scores, size_t ss,
                                                            const int JB) {
    __mmask16 m[4];
    lane_masks(np, m);
    __m512 a[4][4];
    _Pragma("GCC unroll 4") for (int j = 0; j < JB; j++)
        _Pragma("GCC unroll 4") for (int v = 0; v < 4; v++) a[j][v] = _mm512_setzero_ps();
    for (int i = 0; i < n; i++) {
        const uint16_t *kr = kt + (size_t)i * ks;
        __m512 k[4];
        _Pragma("GCC unroll 4") for (int v = 0; v < 4; v++) k[v] = load_h16(m[v], kr + 16 * v);
        _Pragma("GCC unroll 4") for (int j = 0; j < JB; j++) {
            const __m512 qv = _mm512_set1_ps(q[(size_t)j * qs + i]);
            _Pragma("GCC unroll 4") for (int v = 0; v < 4; v++) a[j][v] =
                _mm512_fmadd_ps(qv, k[v], a[j][v]);
        }
    }
    _Pragma("GCC unroll 4") for (int j = 0; j < JB; j++)
        _Pragma("GCC unroll 4") for (int v = 0; v < 4; v++)
            _mm512_mask_storeu_ps(scores + (size_t)j * ss + 16 * v, m[v], a[j][v]);
}

static void qk_f16_avx512(const float *q, size_t qs, int nq, const uint16_t *kt, size_t ks, int n,
                          int np, float *scores, size_t ss) {
#define QK_TILE(j, JB)                                                                             \
    qk_h_tile(q + (size_t)(j)*qs, qs, kt + p, ks, n, cnt, scores + (size_t)(j)*ss + p, ss, JB)
    for (int p = 0; p < np; p += 64) {
        const int cnt = np - p < 64 ? np - p : 64;
        KERNEL_HEAD_TILES(nq, QK_TILE);
    }
#undef QK_TILE
}

static inline __attribute__((always_inline)) void av_h_tile(const float *w, size_t ws,
                                                            const uint16_t *v, size_t vs, int n,
                                                            int np, float *out, size_t os,
                                                            const int JB) {
    __mmask16 m[4];
    lane_masks(n, m);
    __m512 a[4][4];
    _Pragma("GCC unroll 4") for (int j = 0; j < JB; j++)
        _Pragma("GCC unroll 4") for (int u = 0; u < 4; u++) a[j][u] =
            _mm512_maskz_loadu_ps(m[u], out + (size_t)j * os + 16 * u);
    for (int p = 0; p < np; p++) {
        const uint16_t *vr = v + (size_t)p * vs;
        __m512 x[4];
        _Pragma("GCC unroll 4") for (int u = 0; u < 4; u++) x[u] = load_h16(m[u], vr + 16 * u);
        _Pragma("GCC unroll 4") for (int j = 0; j < JB; j++) {
            const __m512 wv = _mm512_set1_ps(w[(size_t)j * ws + p]);
            _Pragma("GCC unroll 4") for (int u = 0; u < 4; u++) a[j][u] =
                _mm512_fmadd_ps(wv, x[u], a[j][u]);
        }
    }
    _Pragma("GCC unroll 4") for (int j = 0; j < JB; j++)
        _Pragma("GCC unroll 4") for (int u = 0; u < 4; u++)
            _mm512_mask_storeu_ps(out + (size_t)j * os + 16 * u, m[u], a[j][u]);
}

static void av_f16_avx512(const float *w, size_t ws, int nq, const uint16_t *v, size_t vs, int n,
                          int np, float *out, size_t os) {
#define AV_TILE(j, JB)                                                                             \
    av_h_tile(w + (size_t)(j)*ws, ws, v + i, vs, cnt, np, out + (size_t)(j)*os + i, os, JB)
    for (int i = 0; i < n; i += 64) {
        const int cnt = n - i < 64 ? n - i : 64;
        KERNEL_HEAD_TILES(nq, AV_TILE);
    }
#undef AV_TILE
}

/* ---------------------------------------------------------------- Q8_0 cache: rows of blocks; per
 * block the 32 quants widened to 2 float vectors, each feeding up to 4 heads */

static inline __attribute__((always_inline)) __m512 i8x16(const int8_t *p) {
    return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)p)));
}

static inline __attribute__((always_inline)) void qk_q8_row(const float *q, size_t qs,
                                                            const block_q8_0 *b, int nb,
                                                            float *scores, size_t ss,
                                                            const int JB) {
    __m512 acc[4];
    _Pragma("GCC unroll 4") for (int j = 0; j < JB; j++) acc[j] = _mm512_setzero_ps();
    for (int ib = 0; ib < nb; ib++) {
        const __m512 d = _mm512_set1_ps(_cvtsh_ss(b[ib].d));
        const __m512 k0 = i8x16(b[ib].qs), k1 = i8x16(b[ib].qs + 16);
        _Pragma("GCC unroll 4") for (int j = 0; j < JB; j++) {
            const float *qj = q + (size_t)j * qs + (size_t)ib * QK8_0;
            const __m512 s = _mm512_fmadd_ps(_mm512_loadu_ps(qj + 16), k1,
                                             _mm512_mul_ps(_mm512_loadu_ps(qj), k0));
            acc[j] = _mm512_fmadd_ps(s, d, acc[j]);
        }
    }
    _Pragma("GCC unroll 4") for (int j = 0; j < JB; j++) scores[(size_t)j * ss] =
        _mm512_reduce_add_ps(acc[j]);
}

static void qk_q8_0_avx512(const float *q, size_t qs, int nq, const void *k, size_t ks, int n,
                           int np, float *scores, size_t ss) {
    const int nb = n / QK8_0;
    for (int p = 0; p < np; p++) {
        const block_q8_0 *b = (const block_q8_0 *)((const uint8_t *)k + (size_t)p * ks);
#define QK_ROW(j, JB) qk_q8_row(q + (size_t)(j)*qs, qs, b, nb, scores + (size_t)(j)*ss + p, ss, JB)
        KERNEL_HEAD_TILES(nq, QK_ROW);
#undef QK_ROW
    }
}

static inline __attribute__((always_inline)) void av_q8_block(const float *w, size_t ws,
                                                              const uint8_t *v, size_t vs, int np,
                                                              float *out, size_t os, const int JB) {
    __m512 a[4][2];
    _Pragma("GCC unroll 4") for (int j = 0; j < JB; j++) {
        a[j][0] = _mm512_loadu_ps(out + (size_t)j * os);
        a[j][1] = _mm512_loadu_ps(out + (size_t)j * os + 16);
    }
    for (int p = 0; p < np; p++) {
        const block_q8_0 *b = (const block_q8_0 *)(v + (size_t)p * vs);
        const float d = _cvtsh_ss(b->d);
        const __m512 x0 = i8x16(b->qs), x1 = i8x16(b->qs + 16);
        _Pragma("GCC unroll 4") for (int j = 0; j < JB; j++) {
            const __m512 wd = _mm512_set1_ps(w[(size_t)j * ws + p] * d);
            a[j][0] = _mm512_fmadd_ps(wd, x0, a[j][0]);
            a[j][1] = _mm512_fmadd_ps(wd, x1, a[j][1]);
        }
    }
    _Pragma("GCC unroll 4") for (int j = 0; j < JB; j++) {
        _mm512_storeu_ps(out + (size_t)j * os, a[j][0]);
        _mm512_storeu_ps(out + (size_t)j * os + 16, a[j][1]);
    }
}

static void av_q8_0_avx512(const float *w, size_t ws, int nq, const void *v, size_t vs, int n,
                           int np, float *out, size_t os) {
    for (int ib = 0; ib < n / QK8_0; ib++) {
        const uint8_t *vb = (const uint8_t *)v + (size_t)ib * sizeof(block_q8_0);
        float *ob = out + (size_t)ib * QK8_0;
#define AV_TILE(j, JB) av_q8_block(w + (size_t)(j)*ws, ws, vb, vs, np, ob + (size_t)(j)*os, os, JB)
        KERNEL_HEAD_TILES(nq, AV_TILE);
#undef AV_TILE
    }
}

void kernels_fill_attn_avx512(kernel_attn *a) {
    a->qk = qk_avx512;
    a->av = av_avx512;
    a->qk_f16 = qk_f16_avx512;
    a->av_f16 = av_f16_avx512;
    a->qk_q8_0 = qk_q8_0_avx512;
    a->av_q8_0 = av_q8_0_avx512;
}
