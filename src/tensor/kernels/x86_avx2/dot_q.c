/* dot_q.c - AVX2 dot products of the 32-value block types (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0) with
 * Q8_0 / Q8_1 activations, for 1 or 4 activation rows per weight row.
 *
 * Per block: the weight quants are unpacked to 32 bytes once, multiplied with each token's 32
 * activation bytes (maddubs: unsigned x signed, so signed weights move their sign onto the
 * activations), summed to 8 int32 lanes and accumulated in float with the two scales. The float
 * accumulation order differs from the reference (8 lanes, summed at the end): results agree with
 * quant_vec_dot_q8_ref to float rounding, not bit for bit.
 * Relies on: avx2_common.h. Must not: be called unless the CPU has AVX2, FMA and F16C.
 */
#include "avx2_common.h"

/* One weight block of 32 signed values q (scale dw) against block i of NT Q8_0 activation rows
 * (row stride xs bytes): acc[t] += dw * d_x * sum(q * x). The sign trick makes the first factor
 * unsigned, as vpmaddubsw needs. Shared by Q4_0, Q5_0 and Q8_0. */
AVX2_INLINE void acc_signed_q8_0(__m256 *acc, __m256i q, float dw, const uint8_t *x, size_t xs,
                                 int64_t i, const int NT) {
    const __m256i aq = _mm256_sign_epi8(q, q);
    FOR_T(NT) {
        const block_q8_0 *y = (const block_q8_0 *)(x + (size_t)t * xs) + i;
        const __m256i yq = _mm256_sign_epi8(_mm256_loadu_si256((const __m256i *)y->qs), q);
        const __m256i p = avx2_dot_u8(aq, yq);
        acc[t] =
            _mm256_fmadd_ps(_mm256_set1_ps(dw * avx2_h2f(y->d)), _mm256_cvtepi32_ps(p), acc[t]);
    }
}

/* One block of 32 unsigned values q (scale dw, min mw) against block i of NT Q8_1 rows: the min
 * enters as mw * s (s = d * sum of the activation quants). Shared by Q4_1 and Q5_1. */
AVX2_INLINE void acc_unsigned_q8_1(__m256 *acc, float *sm, __m256i q, float dw, float mw,
                                   const uint8_t *x, size_t xs, int64_t i, const int NT) {
    FOR_T(NT) {
        const block_q8_1 *y = (const block_q8_1 *)(x + (size_t)t * xs) + i;
        const __m256i p = avx2_dot_u8(q, _mm256_loadu_si256((const __m256i *)y->qs));
        acc[t] =
            _mm256_fmadd_ps(_mm256_set1_ps(dw * avx2_h2f(y->d)), _mm256_cvtepi32_ps(p), acc[t]);
        sm[t] += mw * avx2_h2f(y->s);
    }
}

AVX2_INLINE void q4_0_body(int64_t nb, const block_q4_0 *w, const uint8_t *x, size_t xs, float *s,
                           const int NT) {
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(),
                     _mm256_setzero_ps()};
    for (int64_t i = 0; i < nb; i++) {
        const __m256i q = _mm256_sub_epi8(avx2_nibbles(w[i].qs), _mm256_set1_epi8(8));
        acc_signed_q8_0(acc, q, avx2_h2f(w[i].d), x, xs, i, NT);
    }
    FOR_T(NT) s[t] = avx2_hsum(acc[t]);
}

AVX2_INLINE void q8_0_body(int64_t nb, const block_q8_0 *w, const uint8_t *x, size_t xs, float *s,
                           const int NT) {
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(),
                     _mm256_setzero_ps()};
    for (int64_t i = 0; i < nb; i++) {
        const __m256i q = _mm256_loadu_si256((const __m256i *)w[i].qs);
        acc_signed_q8_0(acc, q, avx2_h2f(w[i].d), x, xs, i, NT);
    }
    FOR_T(NT) s[t] = avx2_hsum(acc[t]);
}

/* Q5_0: value - 16 = nibble | 0xF0 where the 5th bit is clear (two's complement of nibble - 16). */
AVX2_INLINE void q5_0_body(int64_t nb, const block_q5_0 *w, const uint8_t *x, size_t xs, float *s,
                           const int NT) {
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(),
                     _mm256_setzero_ps()};
    for (int64_t i = 0; i < nb; i++) {
        const __m256i hi =
            _mm256_andnot_si256(avx2_bits_to_bytes(w[i].qh), _mm256_set1_epi8((char)0xF0));
        const __m256i q = _mm256_or_si256(avx2_nibbles(w[i].qs), hi);
        acc_signed_q8_0(acc, q, avx2_h2f(w[i].d), x, xs, i, NT);
    }
    FOR_T(NT) s[t] = avx2_hsum(acc[t]);
}

/* Q4_1 / Q5_1: unsigned quants; the min enters as m * s (s = d * sum of the activation quants). */
AVX2_INLINE void q4_1_body(int64_t nb, const block_q4_1 *w, const uint8_t *x, size_t xs, float *s,
                           const int NT) {
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(),
                     _mm256_setzero_ps()};
    float sm[4] = {0, 0, 0, 0};
    for (int64_t i = 0; i < nb; i++) {
        const __m256i q = avx2_nibbles(w[i].qs);
        acc_unsigned_q8_1(acc, sm, q, avx2_h2f(w[i].d), avx2_h2f(w[i].m), x, xs, i, NT);
    }
    FOR_T(NT) s[t] = avx2_hsum(acc[t]) + sm[t];
}

AVX2_INLINE void q5_1_body(int64_t nb, const block_q5_1 *w, const uint8_t *x, size_t xs, float *s,
                           const int NT) {
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(),
                     _mm256_setzero_ps()};
    float sm[4] = {0, 0, 0, 0};
    for (int64_t i = 0; i < nb; i++) {
        const __m256i hi = _mm256_and_si256(avx2_bits_to_bytes(w[i].qh), _mm256_set1_epi8(0x10));
        const __m256i q = _mm256_or_si256(avx2_nibbles(w[i].qs), hi);
        acc_unsigned_q8_1(acc, sm, q, avx2_h2f(w[i].d), avx2_h2f(w[i].m), x, xs, i, NT);
    }
    FOR_T(NT) s[t] = avx2_hsum(acc[t]) + sm[t];
}

AVX2_DOT_NT(dot_q4_0, q4_0_body, QK4_0)
AVX2_DOT_NT(dot_q4_1, q4_1_body, QK4_1)
AVX2_DOT_NT(dot_q5_0, q5_0_body, QK5_0)
AVX2_DOT_NT(dot_q5_1, q5_1_body, QK5_1)
AVX2_DOT_NT(dot_q8_0, q8_0_body, QK8_0)

/* ---------------------------------------------------------------- activation quantizer */

/* Byte for byte quant_quantize_row_q8_0 (d = amax / 127, q = roundf(x / d)), for finite x. */
static void quantize_q8_0(const float *src, void *dst, int64_t n) {
    block_q8_0 *y = dst;
    for (int64_t i = 0; i < n / QK8_0; i++, src += QK8_0) {
        __m256 v[4], m = _mm256_setzero_ps();
        for (int k = 0; k < 4; k++) {
            v[k] = _mm256_loadu_ps(src + 8 * k);
            m = _mm256_max_ps(m, _mm256_andnot_ps(_mm256_set1_ps(-0.0f), v[k]));
        }
        __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
        h = _mm_max_ps(h, _mm_movehl_ps(h, h));
        h = _mm_max_ss(h, _mm_movehdup_ps(h));
        const float d = _mm_cvtss_f32(h) / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[i].d = (uint16_t)_cvtss_sh(d, _MM_FROUND_TO_NEAREST_INT);
        __m256i r[4];
        for (int k = 0; k < 4; k++)
            r[k] = _mm256_cvttps_epi32(avx2_round_away(_mm256_mul_ps(v[k], _mm256_set1_ps(id))));
        /* pack 32 int32 -> 32 int8 in order (packs interleave 128-bit lanes: fix with a permute) */
        const __m256i a = _mm256_packs_epi32(r[0], r[1]), b = _mm256_packs_epi32(r[2], r[3]);
        __m256i q = _mm256_packs_epi16(a, b);
        q = _mm256_permutevar8x32_epi32(q, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
        _mm256_storeu_si256((__m256i *)y[i].qs, q);
    }
}

void kernels_fill_avx2_q(kernel_entry *t);
void kernels_fill_avx2_q(kernel_entry *t) {
    t[GGML_TYPE_Q4_0].dot = dot_q4_0;
    t[GGML_TYPE_Q4_1].dot = dot_q4_1;
    t[GGML_TYPE_Q5_0].dot = dot_q5_0;
    t[GGML_TYPE_Q5_1].dot = dot_q5_1;
    t[GGML_TYPE_Q8_0].dot = dot_q8_0;
    const uint32_t types[] = {GGML_TYPE_Q4_0, GGML_TYPE_Q4_1, GGML_TYPE_Q5_0, GGML_TYPE_Q5_1,
                              GGML_TYPE_Q8_0};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        t[types[i]].isa = "avx2";
    t[GGML_TYPE_Q4_0].quantize = t[GGML_TYPE_Q5_0].quantize = t[GGML_TYPE_Q8_0].quantize =
        quantize_q8_0;
}
