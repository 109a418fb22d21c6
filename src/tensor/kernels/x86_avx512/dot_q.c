/* dot_q.c - AVX-512 VNNI dot products for Q4_0 and Q8_0 weights with Q8_0 activations (1 or 4
 * activation rows per weight row), and the AVX-512 table filler.
 *
 * Two 32-value blocks per 512-bit register; vpdpbusd multiplies unsigned weight bytes by signed
 * activation bytes and sums groups of 4 into int32 in one instruction. Q4_0 uses its nibbles
 * unsigned (0..15) and subtracts 8 * sum(activations) (a second vpdpbusd against 8s); Q8_0 moves
 * the weight signs onto the activations. An odd last block goes through the 256-bit forms.
 * Integer sums are exact; float accumulation order differs from the reference (rounding only).
 * Relies on: ../x86_avx2/avx2_common.h helpers. Must not: run without AVX-512 F/BW/VL/DQ/VNNI.
 */
#include "../x86_avx2/avx2_common.h"

#define AVX512_INLINE static inline __attribute__((always_inline))

AVX512_INLINE __m512i join256(__m256i lo, __m256i hi) {
    return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
}

AVX512_INLINE __m512 scale2(float a, float b) {
    return _mm512_insertf32x8(_mm512_set1_ps(a), _mm256_set1_ps(b), 1);
}

AVX512_INLINE float hsum512(__m512 v, __m256 tail) {
    return avx2_hsum(_mm256_add_ps(
        _mm256_add_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps(v, 1)), tail));
}

/* q4 = true: Q4_0 weights, else Q8_0. */
AVX512_INLINE void q_body(int64_t nb, const void *wv, const uint8_t *x, size_t xs, float *s,
                          const int NT, const bool q4) {
    __m512 acc[4];
    __m256 tail[4];
    FOR_T(NT) acc[t] = _mm512_setzero_ps(), tail[t] = _mm256_setzero_ps();
    const __m512i eight = _mm512_set1_epi8(8);
    int64_t i = 0;
    for (; i + 2 <= nb; i += 2) {
        __m512i q;
        float d0, d1;
        __mmask64 neg = 0;
        if (q4) {
            const block_q4_0 *w = (const block_q4_0 *)wv + i;
            q = join256(avx2_nibbles(w[0].qs), avx2_nibbles(w[1].qs));
            d0 = avx2_h2f(w[0].d), d1 = avx2_h2f(w[1].d);
        } else {
            const block_q8_0 *w = (const block_q8_0 *)wv + i;
            const __m512i sq = join256(_mm256_loadu_si256((const __m256i *)w[0].qs),
                                       _mm256_loadu_si256((const __m256i *)w[1].qs));
            neg = _mm512_movepi8_mask(sq);
            q = _mm512_abs_epi8(sq);
            d0 = avx2_h2f(w[0].d), d1 = avx2_h2f(w[1].d);
        }
        FOR_T(NT) {
            const block_q8_0 *y = (const block_q8_0 *)(x + (size_t)t * xs) + i;
            __m512i yq = join256(_mm256_loadu_si256((const __m256i *)y[0].qs),
                                 _mm256_loadu_si256((const __m256i *)y[1].qs));
            __m512i p;
            if (q4) {
                p = _mm512_sub_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), q, yq),
                                     _mm512_dpbusd_epi32(_mm512_setzero_si512(), eight, yq));
            } else {
                yq = _mm512_mask_sub_epi8(yq, neg, _mm512_setzero_si512(), yq);
                p = _mm512_dpbusd_epi32(_mm512_setzero_si512(), q, yq);
            }
            acc[t] = _mm512_fmadd_ps(scale2(d0 * avx2_h2f(y[0].d), d1 * avx2_h2f(y[1].d)),
                                     _mm512_cvtepi32_ps(p), acc[t]);
        }
    }
    if (i < nb) {
        __m256i q;
        float d0;
        if (q4) {
            const block_q4_0 *w = (const block_q4_0 *)wv + i;
            q = _mm256_sub_epi8(avx2_nibbles(w->qs), _mm256_set1_epi8(8));
            d0 = avx2_h2f(w->d);
        } else {
            const block_q8_0 *w = (const block_q8_0 *)wv + i;
            q = _mm256_loadu_si256((const __m256i *)w->qs);
            d0 = avx2_h2f(w->d);
        }
        const __m256i aq = _mm256_sign_epi8(q, q);
        FOR_T(NT) {
            const block_q8_0 *y = (const block_q8_0 *)(x + (size_t)t * xs) + i;
            const __m256i yq = _mm256_sign_epi8(_mm256_loadu_si256((const __m256i *)y->qs), q);
            const __m256i p = _mm256_dpbusd_epi32(_mm256_setzero_si256(), aq, yq);
            tail[t] = _mm256_fmadd_ps(_mm256_set1_ps(d0 * avx2_h2f(y->d)), _mm256_cvtepi32_ps(p),
                                      tail[t]);
        }
    }
    FOR_T(NT) s[t] = hsum512(acc[t], tail[t]);
}

AVX512_INLINE void q4_0_body(int64_t nb, const void *w, const uint8_t *x, size_t xs, float *s,
                             const int NT) {
    q_body(nb, w, x, xs, s, NT, true);
}
AVX512_INLINE void q8_0_body(int64_t nb, const void *w, const uint8_t *x, size_t xs, float *s,
                             const int NT) {
    q_body(nb, w, x, xs, s, NT, false);
}

AVX2_DOT_NT(dot_q4_0, q4_0_body, QK4_0)
AVX2_DOT_NT(dot_q8_0, q8_0_body, QK8_0)

void kernels_fill_avx512_panels(kernel_entry *t);
void kernels_fill_avx512(kernel_entry *t) {
    kernels_fill_avx512_panels(t);
    t[GGML_TYPE_Q4_0].dot = dot_q4_0;
    t[GGML_TYPE_Q8_0].dot = dot_q8_0;
    t[GGML_TYPE_Q4_0].isa = t[GGML_TYPE_Q8_0].isa = "avx512";
}
