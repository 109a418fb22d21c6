/* dot_iq.c - AVX2 dot products of IQ4_NL (with Q8_0 activations), IQ4_XS and TQ2_0 (with Q8_K
 * activations), for 1 or 4 activation rows per weight row.
 *
 * IQ4_NL / IQ4_XS: the 4-bit indices become their signed non-linear levels with one byte shuffle
 * (vpshufb over the 16-entry table), then multiply the activation bytes as the Q4_0 kernel does.
 * TQ2_0: the 2-bit values q in 0..2 multiply the activations unsigned; the -1 offset comes off
 * as the block's activation sum (the Q8_K bsums). Integer sums are exact; the float accumulation
 * order differs from quant_vec_dot_q8_ref, so results agree to float rounding.
 * Relies on: avx2_common.h, tensor/quants_i.h. Must not: be called unless the CPU has AVX2, FMA
 * and F16C.
 */
#include "avx2_common.h"

#include "tensor/quants_i.h"

AVX2_INLINE __m256i iq4_table(void) {
    const __m128i t = _mm_loadu_si128((const __m128i *)quant_kvalues_iq4nl);
    return _mm256_set_m128i(t, t);
}

AVX2_INLINE void iq4_nl_body(int64_t nb, const block_iq4_nl *w, const uint8_t *x, size_t xs,
                             float *s, const int NT) {
    const __m256i tbl = iq4_table();
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(),
                     _mm256_setzero_ps()};
    for (int64_t i = 0; i < nb; i++) {
        const __m256i q = _mm256_shuffle_epi8(tbl, avx2_nibbles(w[i].qs));
        const __m256i aq = _mm256_sign_epi8(q, q);
        const float dw = avx2_h2f(w[i].d);
        FOR_T(NT) {
            const block_q8_0 *y = (const block_q8_0 *)(x + (size_t)t * xs) + i;
            const __m256i yq = _mm256_sign_epi8(_mm256_loadu_si256((const __m256i *)y->qs), q);
            acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(dw * avx2_h2f(y->d)),
                                     _mm256_cvtepi32_ps(avx2_dot_u8(aq, yq)), acc[t]);
        }
    }
    FOR_T(NT) s[t] = avx2_hsum(acc[t]);
}

AVX2_INLINE void iq4_xs_body(int64_t nb, const block_iq4_xs *w, const uint8_t *x, size_t xs,
                             float *s, const int NT) {
    const __m256i tbl = iq4_table();
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(),
                     _mm256_setzero_ps()};
    for (int64_t i = 0; i < nb; i++) {
        __m256i sumi[4] = {_mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256(),
                           _mm256_setzero_si256()};
        for (int ib = 0; ib < QK_K / 32; ib++) {
            const int ls = ((w[i].scales_l[ib / 2] >> (4 * (ib % 2))) & 0xF) |
                           (((w[i].scales_h >> (2 * ib)) & 3) << 4);
            const __m256i sc = _mm256_set1_epi32(ls - 32);
            const __m256i q = _mm256_shuffle_epi8(tbl, avx2_nibbles(w[i].qs + 16 * ib));
            const __m256i aq = _mm256_sign_epi8(q, q);
            FOR_T(NT) {
                const block_q8_K *y = (const block_q8_K *)(x + (size_t)t * xs) + i;
                const __m256i yq =
                    _mm256_sign_epi8(_mm256_loadu_si256((const __m256i *)(y->qs + 32 * ib)), q);
                sumi[t] = _mm256_add_epi32(sumi[t], _mm256_mullo_epi32(avx2_dot_u8(aq, yq), sc));
            }
        }
        const float dw = avx2_h2f(w[i].d);
        FOR_T(NT) {
            const block_q8_K *y = (const block_q8_K *)(x + (size_t)t * xs) + i;
            acc[t] =
                _mm256_fmadd_ps(_mm256_set1_ps(dw * y->d), _mm256_cvtepi32_ps(sumi[t]), acc[t]);
        }
    }
    FOR_T(NT) s[t] = avx2_hsum(acc[t]);
}

AVX2_INLINE void tq2_0_body(int64_t nb, const block_tq2_0 *w, const uint8_t *x, size_t xs, float *s,
                            const int NT) {
    const __m256i m3 = _mm256_set1_epi8(3);
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(),
                     _mm256_setzero_ps()};
    for (int64_t i = 0; i < nb; i++) {
        __m256i sumi[4] = {_mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256(),
                           _mm256_setzero_si256()};
        for (int c = 0; c < QK_K / 128; c++) {
            const __m256i raw = _mm256_loadu_si256((const __m256i *)(w[i].qs + 32 * c));
            for (int l = 0; l < 4; l++) {
                const __m256i q = _mm256_and_si256(_mm256_srli_epi16(raw, 2 * l), m3);
                FOR_T(NT) {
                    const block_q8_K *y = (const block_q8_K *)(x + (size_t)t * xs) + i;
                    const __m256i yq =
                        _mm256_loadu_si256((const __m256i *)(y->qs + 128 * c + 32 * l));
                    sumi[t] = _mm256_add_epi32(sumi[t], avx2_dot_u8(q, yq));
                }
            }
        }
        const float dw = avx2_h2f(w[i].d);
        FOR_T(NT) {
            const block_q8_K *y = (const block_q8_K *)(x + (size_t)t * xs) + i;
            /* sum(q - 1) y = sum(q y) - sum(y): the 16 bsums, as int16 pairs summed by madd */
            const __m256i bs = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)y->bsums),
                                                 _mm256_set1_epi16(1));
            acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(dw * y->d),
                                     _mm256_cvtepi32_ps(_mm256_sub_epi32(sumi[t], bs)), acc[t]);
        }
    }
    FOR_T(NT) s[t] = avx2_hsum(acc[t]);
}

AVX2_DOT_NT(dot_iq4_nl, iq4_nl_body, QK4_NL)
AVX2_DOT_NT(dot_iq4_xs, iq4_xs_body, QK_K)
AVX2_DOT_NT(dot_tq2_0, tq2_0_body, QK_K)

void kernels_fill_avx2_iq(kernel_entry *t);
void kernels_fill_avx2_iq(kernel_entry *t) {
    t[GGML_TYPE_IQ4_NL].dot = dot_iq4_nl;
    t[GGML_TYPE_IQ4_NL].quantize = t[GGML_TYPE_Q8_0].quantize; /* the AVX2 Q8_0 quantizer */
    t[GGML_TYPE_IQ4_XS].dot = dot_iq4_xs;
    t[GGML_TYPE_TQ2_0].dot = dot_tq2_0;
    t[GGML_TYPE_IQ4_NL].isa = t[GGML_TYPE_IQ4_XS].isa = t[GGML_TYPE_TQ2_0].isa = "avx2";
}
