/* panel_k.c - AVX-512 VNNI panel kernel for Q4_K weights (see kernels.h, "panels"), with its
 * repacker, row reader and the k-quant panel activation quantizer.
 *
 * Panel layout per 256-value super-block of the 16 rows (2368 bytes):
 *   0    d[16], dmin[16]        f16 super-block scales of each row
 *   64   sc[8][16]              6-bit scale of sub-block j (32 values) of row r, one byte each
 *   192  mn[4][16][2]           6-bit mins, pairs (sub-blocks 2p, 2p+1) per row: the int16 pair
 *                               layout vpdpwssd wants once widened
 *   320  32 vectors of 64 bytes vector 8k+g, byte 4r+i = Q4_K byte qs[32k + 4g + i] of row r:
 *                               low nibbles are values 64k + 4g + i (sub-block 2k), high nibbles
 *                               the same + 32 (sub-block 2k+1)
 * Per sub-block and token: 8 vpdpbusd (unsigned nibbles x 4 broadcast activation bytes) give the
 * 16 rows' integer sums; they are scaled by d * sc in float. The mins enter once per super-block
 * and token: 4 vpdpwssd of the min pairs with the activation's 32-value sums, times dmin. Integer
 * parts are exact; float order differs from the reference (rounding only).
 * Decode (1-2 tokens) makes each sub-block's weight vectors once per call; prefill (3-6 tokens)
 * goes group by group over two panels (32 rows) per call, each activation broadcast feeding both,
 * as the Q4_0 kernel (panel_q.c).
 * Relies on: ../x86_avx2/avx2_common.h, avx512_quantize_block_q8_K (act_q8k.c). Must not: run
 * without AVX-512 F/BW/VL/DQ/VNNI.
 */
#include "../x86_avx2/avx2_common.h"
#include "panel_common.h"
#include "tensor/quants.h"

#define SB_BYTES 2368

static void repack_q4_K(const void *rows, size_t rb, int nr, int64_t n, void *panel) {
    uint8_t *dst = panel;
    for (int64_t b = 0; b < n / QK_K; b++, dst += SB_BYTES) {
        memset(dst, 0, SB_BYTES);
        for (int r = 0; r < nr; r++) {
            const block_q4_K *w = (const block_q4_K *)((const uint8_t *)rows + (size_t)r * rb) + b;
            memcpy(dst + 2 * r, &w->d, 2);
            memcpy(dst + 32 + 2 * r, &w->dmin, 2);
            for (int j = 0; j < 8; j++) {
                uint8_t sc, mn;
                quant_get_scale_min_k4(j, w->scales, &sc, &mn);
                dst[64 + 16 * j + r] = sc;
                dst[192 + 32 * (j / 2) + 2 * r + (j & 1)] = mn;
            }
            for (int v = 0; v < 32; v++)
                memcpy(dst + 320 + 64 * v + 4 * r, w->qs + 4 * v, 4);
        }
    }
}

static void row_q4_K(const void *panel, int r, int64_t n, float *out) {
    const uint8_t *p = panel;
    for (int64_t b = 0; b < n / QK_K; b++, p += SB_BYTES, out += QK_K) {
        uint16_t dh, mh;
        memcpy(&dh, p + 2 * r, 2);
        memcpy(&mh, p + 32 + 2 * r, 2);
        const float d = kw_f16_to_f32(dh), dmin = kw_f16_to_f32(mh);
        for (int j = 0; j < 8; j++) {
            /* the same float expressions as quant_dequantize_row_q4_K: d * sc * q - dmin * m */
            const float d1 = d * p[64 + 16 * j + r],
                        m1 = dmin * p[192 + 32 * (j / 2) + 2 * r + (j & 1)];
            const int k = j / 2;
            for (int l = 0; l < 32; l++) {
                const uint8_t q = p[320 + 64 * (8 * k + l / 4) + 4 * r + l % 4];
                out[32 * j + l] = d1 * (float)((j & 1) ? q >> 4 : q & 0x0F) - m1;
            }
        }
    }
}

/* Q8_K quants and scales exactly as the reference quantizer makes them (act_q8k.c), and their
 * 32-value sums, laid out as the panel format wants them. */
static void quantize_panel_q8_K(const float *src, void *dst, int64_t n) {
    const int64_t nb = n / QK_K;
    uint8_t *qs = dst;
    uint8_t *dv = qs + n, *bs = qs + n + 4 * nb;
    for (int64_t i = 0; i < nb; i++) {
        float d;
        int16_t s16[16];
        avx512_quantize_block_q8_K(src + i * QK_K, (int8_t *)qs + i * QK_K, &d, s16);
        memcpy(dv + 4 * i, &d, 4);
        for (int j = 0; j < 8; j++) {
            const int16_t s = (int16_t)(s16[2 * j] + s16[2 * j + 1]);
            memcpy(bs + 2 * (8 * i + j), &s, 2);
        }
    }
    const size_t used = (size_t)n + 4 * (size_t)nb + 2 * (size_t)(n / 32);
    memset(qs + used, 0, kernels_act_row_bytes(KERNEL_ACT_PANEL_Q8_K, n) - used);
}

/* Tokens per call: 6 x 2 panels of integer and float accumulators fit the vector registers. */
#define Q4K_MAX_NT 6

/* acc - dmin * dx * sum_j mn_j * bsum_j for the 16 rows of super-block b (the mins), for one
 * token's activations xt. */
P_INLINE __m512 min_term(const uint8_t *p, const uint8_t *xt, int64_t n, int64_t nb, int64_t b,
                         __m512 dmv, __m512 acc) {
    const uint8_t *bsum = xt + n + 4 * nb + 16 * b;
    float dx;
    memcpy(&dx, xt + n + 4 * b, 4);
    __m512i ms = _mm512_setzero_si512();
    _Pragma("GCC unroll 4") for (int q = 0; q < 4; q++) {
        const __m512i mw =
            _mm512_cvtepu8_epi16(_mm256_loadu_si256((const __m256i *)(p + 192 + 32 * q)));
        ms = _mm512_dpwssd_epi32(ms, mw, _mm512_set1_epi32(load_i32(bsum + 4 * q)));
    }
    return _mm512_fnmadd_ps(_mm512_cvtepi32_ps(ms), _mm512_mul_ps(dmv, _mm512_set1_ps(dx)), acc);
}

/* d * sc_j of the 16 rows (sub-block j's scale). */
P_INLINE __m512 sub_scale(const uint8_t *p, __m512 dv, int j) {
    return _mm512_mul_ps(dv, _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(
                                 _mm_loadu_si128((const __m128i *)(p + 64 + 16 * j)))));
}

/* Few tokens (decode), one panel: each sub-block's 8 weight vectors are made once; each token's
 * sum runs in two chains. */
P_INLINE void q4k_body_few(int64_t n, const uint8_t *p, const uint8_t *x, size_t xs, float *out,
                           size_t os, int nr, const int NT) {
    const int64_t nb = n / QK_K;
    __m512 acc[Q4K_MAX_NT];
    FOR_TT(NT) acc[t] = _mm512_setzero_ps();
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    for (int64_t b = 0; b < nb; b++, p += SB_BYTES) {
        for (size_t o = 0; o < SB_BYTES; o += 64)
            _mm_prefetch((const char *)p + 1024 + o, _MM_HINT_T0);
        const __m512 dv = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)p));
        const __m512 dmv = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(p + 32)));
        FOR_TT(NT) acc[t] = min_term(p, x + (size_t)t * xs, n, nb, b, dmv, acc[t]);
        for (int j = 0; j < 8; j++) {
            const __m512 scf = sub_scale(p, dv, j);
            const uint8_t *qv = p + 320 + 64 * 8 * (j / 2);
            __m512i w[8];
            _Pragma("GCC unroll 8") for (int g = 0; g < 8; g++) {
                const __m512i raw = _mm512_loadu_si512(qv + 64 * g);
                w[g] = _mm512_and_si512((j & 1) ? _mm512_srli_epi16(raw, 4) : raw, m4);
            }
            FOR_TT(NT) {
                const uint8_t *xt = x + (size_t)t * xs;
                const uint8_t *q = xt + QK_K * b + 32 * j;
                float dx;
                memcpy(&dx, xt + n + 4 * b, 4);
                __m512i s0 = _mm512_setzero_si512(), s1 = _mm512_setzero_si512();
                _Pragma("GCC unroll 4") for (int g = 0; g < 8; g += 2) {
                    s0 = _mm512_dpbusd_epi32(s0, w[g], _mm512_set1_epi32(load_i32(q + 4 * g)));
                    s1 = _mm512_dpbusd_epi32(s1, w[g + 1],
                                             _mm512_set1_epi32(load_i32(q + 4 * g + 4)));
                }
                acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(s0, s1)),
                                         _mm512_mul_ps(scf, _mm512_set1_ps(dx)), acc[t]);
            }
        }
    }
    const __mmask16 mask = (__mmask16)((1u << nr) - 1);
    FOR_TT(NT) _mm512_mask_storeu_ps(out + (size_t)t * os, mask, acc[t]);
}

/* Many tokens (prefill), NP (1 or 2) consecutive panels, group by group: each token's 4 activation
 * bytes are broadcast once for the NP x 16 rows, and the NT x NP sums are independent chains (as
 * the Q4_0 kernel, panel_q.c). */
P_INLINE void q4k_body_many(int64_t n, const uint8_t *p, const uint8_t *x, size_t xs, float *out,
                            size_t os, int nr, const int NP, const int NT) {
    const int64_t nb = n / QK_K;
    const size_t pb = (size_t)nb * SB_BYTES;
    __m512 acc[Q4K_MAX_NT][2];
    FOR_TT(NT) acc[t][0] = acc[t][1] = _mm512_setzero_ps();
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    for (int64_t b = 0; b < nb; b++, p += SB_BYTES) {
        _Pragma("GCC unroll 2") for (int k = 0; k < NP; k++) {
            const __m512 dmv =
                _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(p + k * pb + 32)));
            FOR_TT(NT)
            acc[t][k] = min_term(p + k * pb, x + (size_t)t * xs, n, nb, b, dmv, acc[t][k]);
        }
        for (int j = 0; j < 8; j++) {
            __m512i s[Q4K_MAX_NT][2];
            FOR_TT(NT) s[t][0] = s[t][1] = _mm512_setzero_si512();
            _Pragma("GCC unroll 8") for (int g = 0; g < 8; g++) {
                __m512i w[2];
                _Pragma("GCC unroll 2") for (int k = 0; k < NP; k++) {
                    const __m512i raw =
                        _mm512_loadu_si512(p + k * pb + 320 + 64 * 8 * (j / 2) + 64 * g);
                    w[k] = _mm512_and_si512((j & 1) ? _mm512_srli_epi16(raw, 4) : raw, m4);
                }
                FOR_TT(NT) {
                    const __m512i a =
                        _mm512_set1_epi32(load_i32(x + (size_t)t * xs + QK_K * b + 32 * j + 4 * g));
                    _Pragma("GCC unroll 2") for (int k = 0; k < NP; k++) s[t][k] =
                        _mm512_dpbusd_epi32(s[t][k], w[k], a);
                }
            }
            _Pragma("GCC unroll 2") for (int k = 0; k < NP; k++) {
                const __m512 dv =
                    _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(p + k * pb)));
                const __m512 scf = sub_scale(p + k * pb, dv, j);
                FOR_TT(NT) {
                    float dx;
                    memcpy(&dx, x + (size_t)t * xs + n + 4 * b, 4);
                    acc[t][k] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s[t][k]),
                                                _mm512_mul_ps(scf, _mm512_set1_ps(dx)), acc[t][k]);
                }
            }
        }
    }
    _Pragma("GCC unroll 2") for (int k = 0; k < NP; k++) {
        const int rows = nr - PR * k < PR ? nr - PR * k : PR;
        const __mmask16 mask = (__mmask16)((1u << rows) - 1);
        FOR_TT(NT) _mm512_mask_storeu_ps(out + (size_t)t * os + PR * k, mask, acc[t][k]);
    }
}

P_INLINE void q4k_body(int64_t n, const uint8_t *p, const uint8_t *x, size_t xs, float *out,
                       size_t os, int nr, const int NT) {
    if (NT <= 2) {
        q4k_body_few(n, p, x, xs, out, os, nr < PR ? nr : PR, NT);
        if (nr > PR)
            q4k_body_few(n, p + (size_t)(n / QK_K) * SB_BYTES, x, xs, out + PR, os, nr - PR, NT);
    } else if (nr > PR) {
        q4k_body_many(n, p, x, xs, out, os, nr, 2, NT);
    } else {
        q4k_body_many(n, p, x, xs, out, os, nr, 1, NT);
    }
}

static void panel_q4_K(int64_t n, const void *panel, const void *x, size_t xs, int nt, float *out,
                       size_t os, int nr) {
    switch (nt) {
    case 1: q4k_body(n, panel, x, xs, out, os, nr, 1); break;
    case 2: q4k_body(n, panel, x, xs, out, os, nr, 2); break;
    case 3: q4k_body(n, panel, x, xs, out, os, nr, 3); break;
    case 4: q4k_body(n, panel, x, xs, out, os, nr, 4); break;
    case 5: q4k_body(n, panel, x, xs, out, os, nr, 5); break;
    default: q4k_body(n, panel, x, xs, out, os, nr, 6); break;
    }
}

void kernels_fill_avx512_panels_k(kernel_entry *t);
void kernels_fill_avx512_panels_k(kernel_entry *t) {
    t[GGML_TYPE_Q4_K].panel = (kernel_panel){QK_K,
                                             SB_BYTES,
                                             KERNEL_ACT_PANEL_Q8_K,
                                             quantize_panel_q8_K,
                                             repack_q4_K,
                                             row_q4_K,
                                             panel_q4_K,
                                             2 * PR,
                                             Q4K_MAX_NT,
                                             NULL,
                                             NULL};
}
