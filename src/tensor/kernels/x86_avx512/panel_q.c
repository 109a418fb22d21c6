/* panel_q.c - AVX-512 VNNI panel kernels for Q4_0, Q5_0 and Q8_0 weights (see kernels.h,
 * "panels"): the repackers, the panel activation quantizer and the dot products of up to 32 rows
 * (two panels) x 6 tokens per call.
 *
 * Panel layout, per 32-value block of the 16 rows: 16 f16 scales (32 bytes), then the quants as
 * 64-byte vectors whose byte 4r+i is value 4g+i of row r (group g of 4 values):
 *   Q4_0: 4 vectors of nibbles: vector v holds group v in its low nibbles and group v+4 in its high
 *         nibbles (a plain transposition of Q4_0's bytes qs[4v..4v+3]); 288 bytes = 16 x 18.
 *   Q5_0: as Q4_0, then one vector of 5th bits: byte 4r+i holds in bit v the 5th bit of value
 *         4v+i and in bit 4+v that of value 16+4v+i; 352 bytes = 16 x 22.
 *   Q8_0: 8 vectors, group g, each quant stored + 128 (unsigned); 544 bytes = 16 x 34.
 * vpdpbusd(unsigned weight vector, 4 activation bytes broadcast) adds 4 products to each row's
 * int32 lane: 8 of them make one block's 16 row sums for one token, started from the activation
 * format's init = -offset * sum(activation quants) (the weights' unsigned offset: 8, 16 or 128), so
 * the integer sums equal the reference's exactly; they are scaled by d_w * d_x in float and
 * accumulated per row (float order differs from the reference: rounding only).
 * Decode (1-2 tokens): each block is unpacked once and each token's sum runs in two chains.
 * Prefill (3-6 tokens): group by group, each weight vector of the two panels is made once and each
 * token's 4 activation bytes are broadcast once for both panels' 32 rows; the 12 integer sums are
 * independent chains side by side, which hides the vpdpbusd latency.
 * Relies on: ../x86_avx2/avx2_common.h. Must not: run without AVX-512 F/BW/VL/DQ/VNNI.
 */
#include "../x86_avx2/avx2_common.h"
#include "panel_common.h"

#ifndef KERNEL_PREFETCH
#define KERNEL_PREFETCH 1024 /* bytes ahead */
#endif

/* ---------------------------------------------------------------- repack */

static void repack_q4_0(const void *rows, size_t rb, int nr, int64_t n, void *panel) {
    uint8_t *dst = panel;
    for (int64_t b = 0; b < n / QK4_0; b++, dst += 18 * PR) {
        memset(dst, 0, 18 * PR);
        for (int r = 0; r < nr; r++) {
            const block_q4_0 *w = (const block_q4_0 *)((const uint8_t *)rows + (size_t)r * rb) + b;
            memcpy(dst + 2 * r, &w->d, 2);
            for (int v = 0; v < 4; v++)
                memcpy(dst + 32 + 64 * v + 4 * r, w->qs + 4 * v, 4);
        }
    }
}

static void repack_q5_0(const void *rows, size_t rb, int nr, int64_t n, void *panel) {
    uint8_t *dst = panel;
    for (int64_t b = 0; b < n / QK5_0; b++, dst += 22 * PR) {
        memset(dst, 0, 22 * PR);
        for (int r = 0; r < nr; r++) {
            const block_q5_0 *w = (const block_q5_0 *)((const uint8_t *)rows + (size_t)r * rb) + b;
            uint32_t qh;
            memcpy(&qh, w->qh, 4);
            memcpy(dst + 2 * r, &w->d, 2);
            for (int v = 0; v < 4; v++)
                memcpy(dst + 32 + 64 * v + 4 * r, w->qs + 4 * v, 4);
            for (int i = 0; i < 4; i++) {
                uint8_t h = 0;
                for (int v = 0; v < 4; v++)
                    h |= (uint8_t)(((qh >> (4 * v + i)) & 1) << v | ((qh >> (16 + 4 * v + i)) & 1)
                                                                        << (4 + v));
                dst[32 + 256 + 4 * r + i] = h;
            }
        }
    }
}

static void repack_q8_0(const void *rows, size_t rb, int nr, int64_t n, void *panel) {
    uint8_t *dst = panel;
    for (int64_t b = 0; b < n / QK8_0; b++, dst += 34 * PR) {
        memset(dst, 0, 34 * PR);
        memset(dst + 32, 0x80, 32 * PR); /* zero rows: quants 0 stored as 128 */
        for (int r = 0; r < nr; r++) {
            const block_q8_0 *w = (const block_q8_0 *)((const uint8_t *)rows + (size_t)r * rb) + b;
            memcpy(dst + 2 * r, &w->d, 2);
            for (int g = 0; g < 8; g++)
                for (int i = 0; i < 4; i++)
                    dst[32 + 64 * g + 4 * r + i] = (uint8_t)(w->qs[4 * g + i] ^ 0x80);
        }
    }
}

/* Row r back out of a panel, as floats (what quant_dequantize_row gives for the original row). */
static void row_q4_0(const void *panel, int r, int64_t n, float *out) {
    const uint8_t *p = panel;
    for (int64_t b = 0; b < n / QK4_0; b++, p += 18 * PR, out += QK4_0) {
        uint16_t dh;
        memcpy(&dh, p + 2 * r, 2);
        const float d = kw_f16_to_f32(dh);
        for (int v = 0; v < 4; v++)
            for (int i = 0; i < 4; i++) {
                const uint8_t q = p[32 + 64 * v + 4 * r + i];
                out[4 * v + i] = (float)((q & 0x0F) - 8) * d;
                out[16 + 4 * v + i] = (float)((q >> 4) - 8) * d;
            }
    }
}

static void row_q5_0(const void *panel, int r, int64_t n, float *out) {
    const uint8_t *p = panel;
    for (int64_t b = 0; b < n / QK5_0; b++, p += 22 * PR, out += QK5_0) {
        uint16_t dh;
        memcpy(&dh, p + 2 * r, 2);
        const float d = kw_f16_to_f32(dh);
        for (int v = 0; v < 4; v++)
            for (int i = 0; i < 4; i++) {
                const uint8_t q = p[32 + 64 * v + 4 * r + i], h = p[32 + 256 + 4 * r + i];
                out[4 * v + i] = (float)(((q & 0x0F) | ((h >> v) & 1) << 4) - 16) * d;
                out[16 + 4 * v + i] = (float)(((q >> 4) | ((h >> (4 + v)) & 1) << 4) - 16) * d;
            }
    }
}

static void row_q8_0(const void *panel, int r, int64_t n, float *out) {
    const uint8_t *p = panel;
    for (int64_t b = 0; b < n / QK8_0; b++, p += 34 * PR, out += QK8_0) {
        uint16_t dh;
        memcpy(&dh, p + 2 * r, 2);
        const float d = kw_f16_to_f32(dh);
        for (int g = 0; g < 8; g++)
            for (int i = 0; i < 4; i++)
                out[4 * g + i] = (float)(int8_t)(p[32 + 64 * g + 4 * r + i] ^ 0x80) * d;
    }
}

/* ---------------------------------------------------------------- activations */

/* Quants and scale exactly as quant_quantize_row_q8_0 makes them, plus d as float (of its f16)
 * and init = -offset * sum of the quants. */
P_INLINE void quantize_panel(const float *src, void *dst, int64_t n, int offset) {
    const int64_t nb = n / 32;
    int8_t *qs = dst;
    float *dv = (float *)((uint8_t *)dst + n);
    int32_t *init = (int32_t *)((uint8_t *)dst + n + 4 * nb);
    for (int64_t i = 0; i < nb; i++, src += 32) {
        const __m512 v0 = _mm512_loadu_ps(src), v1 = _mm512_loadu_ps(src + 16);
        const float amax =
            _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(v0), _mm512_abs_ps(v1)));
        const float d = amax / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        const uint16_t dh = (uint16_t)_cvtss_sh(d, _MM_FROUND_TO_NEAREST_INT);
        __m256i r[4];
        for (int k = 0; k < 4; k++)
            r[k] = _mm256_cvttps_epi32(
                avx2_round_away(_mm256_mul_ps(_mm256_loadu_ps(src + 8 * k), _mm256_set1_ps(id))));
        const __m256i a = _mm256_packs_epi32(r[0], r[1]), b = _mm256_packs_epi32(r[2], r[3]);
        __m256i q = _mm256_packs_epi16(a, b);
        q = _mm256_permutevar8x32_epi32(q, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
        _mm256_storeu_si256((__m256i *)(qs + 32 * i), q);
        const __m256i s16 =
            _mm256_maddubs_epi16(_mm256_set1_epi8(1), q); /* 1 x signed: pair sums */
        const __m256i s32 = _mm256_madd_epi16(s16, _mm256_set1_epi16(1));
        __m128i h = _mm_add_epi32(_mm256_castsi256_si128(s32), _mm256_extracti128_si256(s32, 1));
        h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0x4E));
        h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0xB1));
        const float df = _cvtsh_ss(dh);
        memcpy(dv + i, &df, 4);
        const int32_t in = -offset * _mm_cvtsi128_si32(h);
        memcpy(init + i, &in, 4);
    }
    const size_t used = (size_t)n + 8 * (size_t)nb,
                 total = kernels_act_row_bytes(KERNEL_ACT_PANEL_Q4_0, n);
    memset((uint8_t *)dst + used, 0, total - used);
}

static void quantize_panel_q4_0(const float *src, void *dst, int64_t n) {
    quantize_panel(src, dst, n, 8);
}
static void quantize_panel_q8_0(const float *src, void *dst, int64_t n) {
    quantize_panel(src, dst, n, 128);
}
static void quantize_panel_q5_0(const float *src, void *dst, int64_t n) {
    quantize_panel(src, dst, n, 16);
}

/* ---------------------------------------------------------------- dot */

enum { K_Q4_0, K_Q8_0, K_Q5_0 };

/* Bytes of one 32-value block of a panel's 16 rows. */
#define BLOCK_BYTES(kind)                                                                          \
    ((size_t)((kind) == K_Q4_0 ? 18 * PR : (kind) == K_Q5_0 ? 22 * PR : 34 * PR))
/* Tokens per call: 6 x 2 panels = 12 integer + 12 float accumulators, with the weight vectors,
 * fit the 32 vector registers. */
#define PANEL_Q_MAX_NT 6

/* Weight vector g (values 4g..4g+3 of each row, as unsigned bytes) of the block at p. */
P_INLINE __m512i weight_group(const uint8_t *p, __m512i h, int g, const int kind) {
    if (kind == K_Q8_0) return _mm512_loadu_si512(p + 32 + 64 * g);
    const __m512i m4 = _mm512_set1_epi8(0x0F), raw = _mm512_loadu_si512(p + 32 + 64 * (g & 3));
    __m512i w = _mm512_and_si512(g < 4 ? raw : _mm512_srli_epi16(raw, 4), m4);
    if (kind ==
        K_Q5_0) { /* 5th bits: bit v (group v) / 4+v (group v+4) of each byte of h -> bit 4 */
        const __m512i m10 = _mm512_set1_epi8(0x10);
        const int v = g & 3;
        const __m512i hb = g < 4 ? _mm512_slli_epi16(h, 4 - v) : v ? _mm512_srli_epi16(h, v) : h;
        w = _mm512_ternarylogic_epi32(w, hb, m10, 0xF8);
    }
    return w;
}

/* Few tokens (decode), one panel: the block's 8 weight vectors are made once, then each token's
 * sum runs in two chains so the vpdpbusd latency does not serialise. */
P_INLINE void panel_body_few(int64_t n, const uint8_t *p, const uint8_t *x, size_t xs, float *out,
                             size_t os, int nr, const int kind, const int NT) {
    const int64_t nb = n / 32;
    const size_t blk = BLOCK_BYTES(kind);
    __m512 acc[PANEL_Q_MAX_NT];
    FOR_TT(NT) acc[t] = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; b++, p += blk) {
        /* decode streams the weights once: fetch ahead (past the panel's end too) */
        for (size_t o = 0; o < blk; o += 64)
            _mm_prefetch((const char *)p + KERNEL_PREFETCH + o, _MM_HINT_T0);
        const __m512 dw = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)p));
        const __m512i h =
            kind == K_Q5_0 ? _mm512_loadu_si512(p + 32 + 256) : _mm512_setzero_si512();
        __m512i w[8];
        _Pragma("GCC unroll 8") for (int g = 0; g < 8; g++) w[g] = weight_group(p, h, g, kind);
        FOR_TT(NT) {
            const uint8_t *xt = x + (size_t)t * xs;
            const uint8_t *q = xt + 32 * b;
            float dx;
            memcpy(&dx, xt + n + 4 * b, 4);
            __m512i s0 = _mm512_set1_epi32(load_i32(xt + n + 4 * nb + 4 * b)),
                    s1 = _mm512_setzero_si512();
            _Pragma("GCC unroll 4") for (int g = 0; g < 8; g += 2) {
                s0 = _mm512_dpbusd_epi32(s0, w[g], _mm512_set1_epi32(load_i32(q + 4 * g)));
                s1 = _mm512_dpbusd_epi32(s1, w[g + 1], _mm512_set1_epi32(load_i32(q + 4 * g + 4)));
            }
            acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(s0, s1)),
                                     _mm512_mul_ps(dw, _mm512_set1_ps(dx)), acc[t]);
        }
    }
    const __mmask16 mask = (__mmask16)((1u << nr) - 1);
    FOR_TT(NT) _mm512_mask_storeu_ps(out + (size_t)t * os, mask, acc[t]);
}

/* Many tokens (prefill), NP (1 or 2) consecutive panels: group by group, the NP weight vectors of
 * group g are made and every token's 4 activation bytes are broadcast once for all NP x 16 rows.
 * The NT x NP integer sums are independent vpdpbusd chains side by side. Measured on Ice Lake-SP
 * (bench/panel_bench.c): one activation broadcast per vpdpbusd kept the kernel near 30% of the
 * int8 peak whatever the token order; two panels per broadcast are what pays. */
P_INLINE void panel_body_many(int64_t n, const uint8_t *p, const uint8_t *x, size_t xs, float *out,
                              size_t os, int nr, const int kind, const int NP, const int NT) {
    const int64_t nb = n / 32;
    const size_t blk = BLOCK_BYTES(kind), pb = (size_t)nb * blk;
    __m512 acc[PANEL_Q_MAX_NT][2];
    FOR_TT(NT) acc[t][0] = acc[t][1] = _mm512_setzero_ps();
    const size_t sc_off = (size_t)n, init_off = (size_t)n + 4 * (size_t)nb;
    for (int64_t b = 0; b < nb; b++, p += blk) {
        __m512i h[2];
        _Pragma("GCC unroll 2") for (int k = 0; k < NP; k++) h[k] =
            kind == K_Q5_0 ? _mm512_loadu_si512(p + k * pb + 32 + 256) : _mm512_setzero_si512();
        __m512i s[PANEL_Q_MAX_NT][2];
        FOR_TT(NT)
        s[t][0] = s[t][1] = _mm512_set1_epi32(load_i32(x + (size_t)t * xs + init_off + 4 * b));
        _Pragma("GCC unroll 8") for (int g = 0; g < 8; g++) {
            __m512i w[2];
            _Pragma("GCC unroll 2") for (int k = 0; k < NP; k++) w[k] =
                weight_group(p + k * pb, h[k], g, kind);
            FOR_TT(NT) {
                const __m512i a = _mm512_set1_epi32(load_i32(x + (size_t)t * xs + 32 * b + 4 * g));
                _Pragma("GCC unroll 2") for (int k = 0; k < NP; k++) s[t][k] =
                    _mm512_dpbusd_epi32(s[t][k], w[k], a);
            }
        }
        _Pragma("GCC unroll 2") for (int k = 0; k < NP; k++) {
            const __m512 dw = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(p + k * pb)));
            FOR_TT(NT) {
                float dx;
                memcpy(&dx, x + (size_t)t * xs + sc_off + 4 * b, 4);
                acc[t][k] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s[t][k]),
                                            _mm512_mul_ps(dw, _mm512_set1_ps(dx)), acc[t][k]);
            }
        }
    }
    _Pragma("GCC unroll 2") for (int k = 0; k < NP; k++) {
        const int rows = nr - PR * k < PR ? nr - PR * k : PR;
        const __mmask16 mask = (__mmask16)((1u << rows) - 1);
        FOR_TT(NT) _mm512_mask_storeu_ps(out + (size_t)t * os + PR * k, mask, acc[t][k]);
    }
}

/* Up to 2 panels (nr <= 32 rows) x NT tokens. */
P_INLINE void panel_body(int64_t n, const uint8_t *p, const uint8_t *x, size_t xs, float *out,
                         size_t os, int nr, const int kind, const int NT) {
    if (NT <= 2) {
        const size_t pb = (size_t)(n / 32) * BLOCK_BYTES(kind);
        panel_body_few(n, p, x, xs, out, os, nr < PR ? nr : PR, kind, NT);
        if (nr > PR) panel_body_few(n, p + pb, x, xs, out + PR, os, nr - PR, kind, NT);
    } else if (nr > PR) {
        panel_body_many(n, p, x, xs, out, os, nr, kind, 2, NT);
    } else {
        panel_body_many(n, p, x, xs, out, os, nr, kind, 1, NT);
    }
}

#define PANEL_FN(name, kind)                                                                       \
    static void name(int64_t n, const void *panel, const void *x, size_t xs, int nt, float *out,   \
                     size_t os, int nr) {                                                          \
        switch (nt) {                                                                              \
        case 1: panel_body(n, panel, x, xs, out, os, nr, kind, 1); break;                          \
        case 2: panel_body(n, panel, x, xs, out, os, nr, kind, 2); break;                          \
        case 3: panel_body(n, panel, x, xs, out, os, nr, kind, 3); break;                          \
        case 4: panel_body(n, panel, x, xs, out, os, nr, kind, 4); break;                          \
        case 5: panel_body(n, panel, x, xs, out, os, nr, kind, 5); break;                          \
        default: panel_body(n, panel, x, xs, out, os, nr, kind, 6); break;                         \
        }                                                                                          \
    }

PANEL_FN(panel_q4_0, K_Q4_0)
PANEL_FN(panel_q8_0, K_Q8_0)
PANEL_FN(panel_q5_0, K_Q5_0)

/* A Q5_0 panel as 8-bit weights 0..31 in the Q8_0 panel layout (the 5th bits merged once): the
 * Q8_0 kernel then runs on it with the Q5_0 activations (offset 16 in their init). */
static void expand_q5_0(const void *panel, int64_t n, void *out) {
    const uint8_t *p = panel;
    uint8_t *o = out;
    for (int64_t b = 0; b < n / 32; b++, p += BLOCK_BYTES(K_Q5_0), o += BLOCK_BYTES(K_Q8_0)) {
        memcpy(o, p, 32);
        const __m512i h = _mm512_loadu_si512(p + 32 + 256);
        _Pragma("GCC unroll 8") for (int g = 0; g < 8; g++)
            _mm512_storeu_si512(o + 32 + 64 * g, weight_group(p, h, g, K_Q5_0));
    }
}

void kernels_fill_avx512_panels(kernel_entry *t);
void kernels_fill_avx512_panels_k(kernel_entry *t);
void kernels_fill_avx512_panels_q6k(kernel_entry *t);
void kernels_fill_avx512_panels(kernel_entry *t) {
    kernels_fill_avx512_panels_k(t);
    kernels_fill_avx512_panels_q6k(t);
    t[GGML_TYPE_Q4_0].panel = (kernel_panel){QK4_0,
                                             18 * PR,
                                             KERNEL_ACT_PANEL_Q4_0,
                                             quantize_panel_q4_0,
                                             repack_q4_0,
                                             row_q4_0,
                                             panel_q4_0,
                                             2 * PR,
                                             PANEL_Q_MAX_NT,
                                             NULL,
                                             NULL};
    t[GGML_TYPE_Q5_0].panel = (kernel_panel){
        QK5_0,      22 * PR, KERNEL_ACT_PANEL_Q5_0, quantize_panel_q5_0, repack_q5_0, row_q5_0,
        panel_q5_0, 2 * PR,  PANEL_Q_MAX_NT,        expand_q5_0,         panel_q8_0};
    t[GGML_TYPE_Q8_0].panel = (kernel_panel){QK8_0,
                                             34 * PR,
                                             KERNEL_ACT_PANEL_Q8_0,
                                             quantize_panel_q8_0,
                                             repack_q8_0,
                                             row_q8_0,
                                             panel_q8_0,
                                             2 * PR,
                                             PANEL_Q_MAX_NT,
                                             NULL,
                                             NULL};
}
