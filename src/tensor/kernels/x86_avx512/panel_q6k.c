/* panel_q6k.c - AVX-512 VNNI panel kernel for Q6_K weights (see kernels.h, "panels"), with its
 * repacker, row reader and activation quantizer (KERNEL_ACT_PANEL_Q8_K16).
 *
 * Panel layout per 256-value super-block of the 16 rows (3360 bytes, the same as 16 Q6_K blocks):
 *   0     d[16]                 f16 super-block scale of each row
 *   32    sc[8][16][2]          int8 scales of sub-blocks (2p, 2p+1) of row r (16 values each): the
 *                               pair layout vpdpwssd wants once widened to int16
 *   288   32 vectors ql(h,m,g)  byte 4r+i = Q6_K ql[64h + 32m + 4g + i] of row r (h half, m 0..1,
 *                               g 0..7); low nibbles are values 128h + 32m + 4g + i, high nibbles
 *                               the same + 64
 *   2336  16 vectors qh(h,g)    byte 4r+i = qh[32h + 4g + i] of row r; bits 2j..2j+1 are the high
 *                               bits of value 128h + 32j + 4g + i
 * Per 32 values and token: 8 vpdpbusd of the unsigned 6-bit quants (0..63) with 4 broadcast
 * activation bytes give two 16-value sums per row, multiplied by their int8 scales in int32. The
 * -32 offset enters once per super-block: 8 vpdpwssd of the scale pairs with the activation's
 * 16-value sums, times 32. The super-block's integer total (|total| < 2^29) is exact; it is scaled
 * by d * dx in float (rounding differs from the reference's order only).
 * Relies on: ../x86_avx2/avx2_common.h, avx512_quantize_block_q8_K (act_q8k.c). Must not: run
 * without AVX-512 F/BW/VL/DQ/VNNI.
 */
#include "../x86_avx2/avx2_common.h"
#include "panel_common.h"
#include "tensor/quants.h"

#define SB_BYTES 3360
#define OFF_SC   32
#define OFF_QL   288
#define OFF_QH   2336

static void repack_q6_K(const void *rows, size_t rb, int nr, int64_t n, void *panel) {
    uint8_t *dst = panel;
    for (int64_t b = 0; b < n / QK_K; b++, dst += SB_BYTES) {
        memset(dst, 0, SB_BYTES);
        for (int r = 0; r < nr; r++) {
            const block_q6_K *w = (const block_q6_K *)((const uint8_t *)rows + (size_t)r * rb) + b;
            memcpy(dst + 2 * r, &w->d, 2);
            for (int s = 0; s < 16; s++)
                dst[OFF_SC + 32 * (s / 2) + 2 * r + (s & 1)] = (uint8_t)w->scales[s];
            for (int v = 0; v < 32; v++)
                memcpy(dst + OFF_QL + 64 * v + 4 * r, w->ql + 4 * v, 4);
            for (int v = 0; v < 16; v++)
                memcpy(dst + OFF_QH + 64 * v + 4 * r, w->qh + 4 * v, 4);
        }
    }
}

static void row_q6_K(const void *panel, int r, int64_t n, float *out) {
    const uint8_t *p = panel;
    for (int64_t b = 0; b < n / QK_K; b++, p += SB_BYTES, out += QK_K) {
        uint16_t dh;
        memcpy(&dh, p + 2 * r, 2);
        const float d = kw_f16_to_f32(dh);
        for (int v = 0; v < QK_K; v++) {
            const int h = v / 128, j = (v % 128) / 32, l = v % 32;
            const uint8_t ql = p[OFF_QL + 64 * (16 * h + 8 * (j & 1) + l / 4) + 4 * r + l % 4];
            const uint8_t qh = p[OFF_QH + 64 * (8 * h + l / 4) + 4 * r + l % 4];
            const int q = (((j >= 2) ? ql >> 4 : ql & 0x0F) | (((qh >> (2 * j)) & 3) << 4)) - 32;
            const int s = 8 * h + 2 * j + l / 16;
            /* the same float expression as quant_dequantize_row_q6_K: d * sc * q */
            out[v] = d * (float)(int8_t)p[OFF_SC + 32 * (s / 2) + 2 * r + (s & 1)] * (float)q;
        }
    }
}

/* Q8_K quants, scales and 16-value sums exactly as the reference quantizer makes them (act_q8k.c).
 */
static void quantize_panel_q8_K16(const float *src, void *dst, int64_t n) {
    const int64_t nb = n / QK_K;
    uint8_t *qs = dst;
    uint8_t *dv = qs + n, *bs = qs + n + 4 * nb;
    for (int64_t i = 0; i < nb; i++) {
        float d;
        int16_t s16[16];
        avx512_quantize_block_q8_K(src + i * QK_K, (int8_t *)qs + i * QK_K, &d, s16);
        memcpy(dv + 4 * i, &d, 4);
        memcpy(bs + 32 * i, s16, 32);
    }
    const size_t used = (size_t)n + 4 * (size_t)nb + 2 * (size_t)(n / 16);
    memset(qs + used, 0, kernels_act_row_bytes(KERNEL_ACT_PANEL_Q8_K16, n) - used);
}

P_INLINE void q6k_body(int64_t n, const uint8_t *p, const uint8_t *x, size_t xs, float *out,
                       size_t os, int nr, const int NT) {
    const int64_t nb = n / QK_K;
    __m512 acc[KERNEL_PANEL_MAX_NT];
    FOR_TT(NT) acc[t] = _mm512_setzero_ps();
    const __m512i m4 = _mm512_set1_epi8(0x0F), m30 = _mm512_set1_epi8(0x30);
    for (int64_t b = 0; b < nb; b++, p += SB_BYTES) {
        if (NT <= 2)
            for (size_t o = 0; o < SB_BYTES; o += 64)
                _mm_prefetch((const char *)p + 1536 + o, _MM_HINT_T0);
        __m512i isum[KERNEL_PANEL_MAX_NT];
        __m512i scw[8];
        _Pragma("GCC unroll 8") for (int q = 0; q < 8; q++) scw[q] =
            _mm512_cvtepi8_epi16(_mm256_loadu_si256((const __m256i *)(p + OFF_SC + 32 * q)));
        /* offset: -32 * sum_s sc_s * bsum_s per row */
        FOR_TT(NT) {
            const uint8_t *bsum = x + (size_t)t * xs + n + 4 * nb + 32 * b;
            __m512i ms = _mm512_setzero_si512();
            _Pragma("GCC unroll 8") for (int q = 0; q < 8; q++) ms =
                _mm512_dpwssd_epi32(ms, scw[q], _mm512_set1_epi32(load_i32(bsum + 4 * q)));
            isum[t] = _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_slli_epi32(ms, 5));
        }
        for (int h = 0; h < 2; h++) {
            for (int j = 0; j < 4; j++) {
                /* scales of sub-blocks s = 8h + 2j (+1): pair q = 4h + j, as int32 per row */
                const __m512i pr = scw[4 * h + j];
                const __m512i sc0 = _mm512_srai_epi32(_mm512_slli_epi32(pr, 16), 16),
                              sc1 = _mm512_srai_epi32(pr, 16);
                const uint8_t *qlv = p + OFF_QL + 64 * (16 * h + 8 * (j & 1));
                const uint8_t *qhv = p + OFF_QH + 64 * (8 * h);
                __m512i w[8];
                _Pragma("GCC unroll 8") for (int g = 0; g < 8; g++) {
                    const __m512i lo = _mm512_loadu_si512(qlv + 64 * g),
                                  hi = _mm512_loadu_si512(qhv + 64 * g);
                    const __m512i nib =
                        _mm512_and_si512(j >= 2 ? _mm512_srli_epi16(lo, 4) : lo, m4);
                    /* bits 2j..2j+1 of each byte to bits 4..5 (the shifts stay within each byte
                     * for the bits kept by the mask) */
                    const __m512i hb =
                        j == 3 ? _mm512_srli_epi16(hi, 2) : _mm512_slli_epi16(hi, 4 - 2 * j);
                    w[g] = _mm512_or_si512(nib, _mm512_and_si512(hb, m30));
                }
                FOR_TT(NT) {
                    const uint8_t *q = x + (size_t)t * xs + QK_K * b + 128 * h + 32 * j;
                    __m512i s0 = _mm512_setzero_si512(), s1 = _mm512_setzero_si512();
                    _Pragma("GCC unroll 4") for (int g = 0; g < 4; g++) {
                        s0 = _mm512_dpbusd_epi32(s0, w[g], _mm512_set1_epi32(load_i32(q + 4 * g)));
                        s1 = _mm512_dpbusd_epi32(s1, w[g + 4],
                                                 _mm512_set1_epi32(load_i32(q + 16 + 4 * g)));
                    }
                    isum[t] =
                        _mm512_add_epi32(isum[t], _mm512_add_epi32(_mm512_mullo_epi32(s0, sc0),
                                                                   _mm512_mullo_epi32(s1, sc1)));
                }
            }
        }
        const __m512 dv = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)p));
        FOR_TT(NT) {
            float dx;
            memcpy(&dx, x + (size_t)t * xs + n + 4 * b, 4);
            acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[t]),
                                     _mm512_mul_ps(dv, _mm512_set1_ps(dx)), acc[t]);
        }
    }
    const __mmask16 mask = (__mmask16)((1u << nr) - 1);
    FOR_TT(NT) _mm512_mask_storeu_ps(out + (size_t)t * os, mask, acc[t]);
}

static void panel_q6_K(int64_t n, const void *panel, const void *x, size_t xs, int nt, float *out,
                       size_t os, int nr) {
    PANEL_DISPATCH_NT(nt, q6k_body, n, panel, x, xs, out, os, nr)
}

void kernels_fill_avx512_panels_q6k(kernel_entry *t);
void kernels_fill_avx512_panels_q6k(kernel_entry *t) {
    t[GGML_TYPE_Q6_K].panel = (kernel_panel){QK_K,
                                             SB_BYTES,
                                             KERNEL_ACT_PANEL_Q8_K16,
                                             quantize_panel_q8_K16,
                                             repack_q6_K,
                                             row_q6_K,
                                             panel_q6_K,
                                             PR,
                                             KERNEL_PANEL_MAX_NT,
                                             NULL,
                                             NULL};
}
