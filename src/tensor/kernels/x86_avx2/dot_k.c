/* dot_k.c - AVX2 dot products of the k-quants (Q2_K..Q6_K, 256-value super-blocks) with Q8_K
 * activations, for 1 or 4 activation rows per weight row.
 *
 * The weight quants are handled unsigned (maddubs needs one unsigned operand): an offset such as
 * Q6_K's -32 or Q3_K's -4 is taken out afterwards through the Q8_K block sums (bsums: sums of 16
 * activation quants), and the min terms of Q2_K/Q4_K/Q5_K the same way. Integer sums per block are
 * exact; the float accumulation order differs from the reference (results agree to rounding).
 * Relies on: avx2_common.h. Must not: be called unless the CPU has AVX2, FMA and F16C.
 */
#include "avx2_common.h"

/* The 8 6-bit scales and mins of a Q4_K/Q5_K block (the layout of quant_get_scale_min_k4). */
AVX2_INLINE void k4_scales(const uint8_t *packed, uint8_t sc[8], uint8_t mn[8]) {
    uint32_t a[3];
    memcpy(a, packed, 12);
    const uint32_t s0 = a[0] & 0x3f3f3f3f, m0 = a[1] & 0x3f3f3f3f;
    const uint32_t s1 = (a[2] & 0x0f0f0f0f) | (((a[0] >> 6) & 0x03030303) << 4);
    const uint32_t m1 = ((a[2] >> 4) & 0x0f0f0f0f) | (((a[1] >> 6) & 0x03030303) << 4);
    memcpy(sc, &s0, 4), memcpy(sc + 4, &s1, 4), memcpy(mn, &m0, 4), memcpy(mn + 4, &m1, 4);
}

/* 16 int16 lanes: the first 8 = a, the last 8 = b (scales of two 16-value groups). */
AVX2_INLINE __m256i pair16(int a, int b) {
    return _mm256_set_m128i(_mm_set1_epi16((short)b), _mm_set1_epi16((short)a));
}

#define Y_K(t) ((const block_q8_K *)(x + (size_t)(t)*xs) + i)

/* Closes one super-block of a k-quant with mins (Q2_K, Q4_K, Q5_K) for NT activation rows:
 * acc[t] += d * d_x * sumi[t] - dmin * d_x * sum_j(mins16[j] * bsums[j]), the min term taken
 * from the Q8_K block's 16-value sums. */
AVX2_INLINE void acc_scale_minus_mins(__m256 *acc, const __m256i *sumi, __m256i mins16, float d,
                                      float dmin, const uint8_t *x, size_t xs, int64_t i,
                                      const int NT) {
    FOR_T(NT) {
        const block_q8_K *y = Y_K(t);
        const __m256i msum =
            _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)y->bsums), mins16);
        acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(d * y->d), _mm256_cvtepi32_ps(sumi[t]), acc[t]);
        acc[t] = _mm256_fnmadd_ps(_mm256_set1_ps(dmin * y->d), _mm256_cvtepi32_ps(msum), acc[t]);
    }
}

/* Q4_K (five = false) and Q5_K: per 64 values, 32 bytes of nibbles (low: first 32, high: next
 * 32) and for Q5_K bits 2k / 2k+1 of qh. */
AVX2_INLINE void k45_body(int64_t nb, const uint8_t *wb, const uint8_t *x, size_t xs, float *s,
                          const int NT, const bool five) {
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(),
                     _mm256_setzero_ps()};
    const __m256i m4 = _mm256_set1_epi8(0x0F), one = _mm256_set1_epi8(1);
    for (int64_t i = 0; i < nb; i++) {
        const uint8_t *packed, *qs, *qhp = NULL;
        uint16_t d16, dmin16;
        if (five) {
            const block_q5_K *b = (const block_q5_K *)wb + i;
            packed = b->scales, qs = b->qs, qhp = b->qh, d16 = b->d, dmin16 = b->dmin;
        } else {
            const block_q4_K *b = (const block_q4_K *)wb + i;
            packed = b->scales, qs = b->qs, d16 = b->d, dmin16 = b->dmin;
        }
        uint8_t sc[8], mn[8];
        k4_scales(packed, sc, mn);
        const __m128i m8 = _mm_loadl_epi64((const __m128i *)mn);
        const __m256i mins16 = _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(m8, m8));
        const __m256i qh = five ? _mm256_loadu_si256((const __m256i *)qhp) : _mm256_setzero_si256();
        __m256i sumi[4] = {_mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256(),
                           _mm256_setzero_si256()};
        for (int k = 0; k < 4; k++) {
            const __m256i raw = _mm256_loadu_si256((const __m256i *)(qs + 32 * k));
            __m256i lo = _mm256_and_si256(raw, m4),
                    hi = _mm256_and_si256(_mm256_srli_epi16(raw, 4), m4);
            if (five) {
                lo = _mm256_or_si256(
                    lo, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2 * k), one), 4));
                hi = _mm256_or_si256(
                    hi,
                    _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2 * k + 1), one), 4));
            }
            const __m256i slo = _mm256_set1_epi16(sc[2 * k]),
                          shi = _mm256_set1_epi16(sc[2 * k + 1]);
            FOR_T(NT) {
                const int8_t *q8 = Y_K(t)->qs + 64 * k;
                const __m256i plo = _mm256_madd_epi16(
                    _mm256_maddubs_epi16(lo, _mm256_loadu_si256((const __m256i *)q8)), slo);
                const __m256i phi = _mm256_madd_epi16(
                    _mm256_maddubs_epi16(hi, _mm256_loadu_si256((const __m256i *)(q8 + 32))), shi);
                sumi[t] = _mm256_add_epi32(sumi[t], _mm256_add_epi32(plo, phi));
            }
        }
        const float d = avx2_h2f(d16), dmin = avx2_h2f(dmin16);
        acc_scale_minus_mins(acc, sumi, mins16, d, dmin, x, xs, i, NT);
    }
    FOR_T(NT) s[t] = avx2_hsum(acc[t]);
}

AVX2_INLINE void q4_K_body(int64_t nb, const void *w, const uint8_t *x, size_t xs, float *s,
                           const int NT) {
    k45_body(nb, w, x, xs, s, NT, false);
}
AVX2_INLINE void q5_K_body(int64_t nb, const void *w, const uint8_t *x, size_t xs, float *s,
                           const int NT) {
    k45_body(nb, w, x, xs, s, NT, true);
}

/* Q6_K: 6-bit unsigned quants (value + 32); the -32 comes back as -32 * sum_j scale_j * bsums_j. */
AVX2_INLINE void q6_K_body(int64_t nb, const block_q6_K *w, const uint8_t *x, size_t xs, float *s,
                           const int NT) {
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(),
                     _mm256_setzero_ps()};
    const __m256i m4 = _mm256_set1_epi8(0x0F), m2 = _mm256_set1_epi8(3);
    for (int64_t i = 0; i < nb; i++) {
        const int8_t *sc = w[i].scales;
        __m256i sumi[4] = {_mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256(),
                           _mm256_setzero_si256()};
        for (int h = 0; h < 2; h++) {
            const __m256i ql0 = _mm256_loadu_si256((const __m256i *)(w[i].ql + 64 * h));
            const __m256i ql1 = _mm256_loadu_si256((const __m256i *)(w[i].ql + 64 * h + 32));
            const __m256i qh = _mm256_loadu_si256((const __m256i *)(w[i].qh + 32 * h));
            for (int g = 0; g < 4; g++) {
                const __m256i low = g & 1 ? ql1 : ql0;
                const __m256i nib = _mm256_and_si256(g < 2 ? low : _mm256_srli_epi16(low, 4), m4);
                const __m256i hb = _mm256_and_si256(_mm256_srli_epi16(qh, 2 * g), m2);
                const __m256i v = _mm256_or_si256(nib, _mm256_slli_epi16(hb, 4));
                const __m256i scv = pair16(sc[8 * h + 2 * g], sc[8 * h + 2 * g + 1]);
                FOR_T(NT) {
                    const int8_t *q8 = Y_K(t)->qs + 128 * h + 32 * g;
                    const __m256i p =
                        _mm256_maddubs_epi16(v, _mm256_loadu_si256((const __m256i *)q8));
                    sumi[t] = _mm256_add_epi32(sumi[t], _mm256_madd_epi16(p, scv));
                }
            }
        }
        const __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)sc));
        const float d = avx2_h2f(w[i].d);
        FOR_T(NT) {
            const block_q8_K *y = Y_K(t);
            const __m256i bias =
                _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)y->bsums), sc16);
            const __m256i tot = _mm256_sub_epi32(sumi[t], _mm256_slli_epi32(bias, 5));
            acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(d * y->d), _mm256_cvtepi32_ps(tot), acc[t]);
        }
    }
    FOR_T(NT) s[t] = avx2_hsum(acc[t]);
}

/* Q2_K: 2-bit quants, bits 2j..2j+1 of qs[32h + l] = value 128h + 32j + l; scale low nibble,
 * min high nibble per 16 values. */
AVX2_INLINE void q2_K_body(int64_t nb, const block_q2_K *w, const uint8_t *x, size_t xs, float *s,
                           const int NT) {
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(),
                     _mm256_setzero_ps()};
    const __m256i m2 = _mm256_set1_epi8(3);
    for (int64_t i = 0; i < nb; i++) {
        const uint8_t *sc = w[i].scales;
        __m256i sumi[4] = {_mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256(),
                           _mm256_setzero_si256()};
        for (int h = 0; h < 2; h++) {
            const __m256i raw = _mm256_loadu_si256((const __m256i *)(w[i].qs + 32 * h));
            for (int j = 0; j < 4; j++) {
                const __m256i v = _mm256_and_si256(_mm256_srli_epi16(raw, 2 * j), m2);
                const __m256i scv = pair16(sc[8 * h + 2 * j] & 0xF, sc[8 * h + 2 * j + 1] & 0xF);
                FOR_T(NT) {
                    const int8_t *q8 = Y_K(t)->qs + 128 * h + 32 * j;
                    const __m256i p =
                        _mm256_maddubs_epi16(v, _mm256_loadu_si256((const __m256i *)q8));
                    sumi[t] = _mm256_add_epi32(sumi[t], _mm256_madd_epi16(p, scv));
                }
            }
        }
        const __m128i sc8 = _mm_loadu_si128((const __m128i *)sc);
        const __m256i mins16 =
            _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(sc8, 4), _mm_set1_epi8(0x0F)));
        const float d = avx2_h2f(w[i].d), dmin = avx2_h2f(w[i].dmin);
        acc_scale_minus_mins(acc, sumi, mins16, d, dmin, x, xs, i, NT);
    }
    FOR_T(NT) s[t] = avx2_hsum(acc[t]);
}

/* Q3_K: u = low 2 bits | high bit << 2 in 0..7, value = u - 4; the -4 goes through the bsums. */
AVX2_INLINE void q3_K_body(int64_t nb, const block_q3_K *w, const uint8_t *x, size_t xs, float *s,
                           const int NT) {
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(),
                     _mm256_setzero_ps()};
    const __m256i m2 = _mm256_set1_epi8(3), one = _mm256_set1_epi8(1);
    for (int64_t i = 0; i < nb; i++) {
        int16_t sc[16];
        for (int j = 0; j < 16; j++)
            sc[j] = (int16_t)quant_q3_K_scale(w[i].scales, j);
        const __m256i hm = _mm256_loadu_si256((const __m256i *)w[i].hmask);
        __m256i sumi[4] = {_mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256(),
                           _mm256_setzero_si256()};
        for (int h = 0; h < 2; h++) {
            const __m256i raw = _mm256_loadu_si256((const __m256i *)(w[i].qs + 32 * h));
            for (int k = 0; k < 4; k++) {
                const __m256i lo = _mm256_and_si256(_mm256_srli_epi16(raw, 2 * k), m2);
                const __m256i hb = _mm256_and_si256(_mm256_srli_epi16(hm, 4 * h + k), one);
                const __m256i v = _mm256_or_si256(lo, _mm256_slli_epi16(hb, 2));
                const __m256i scv = pair16(sc[8 * h + 2 * k], sc[8 * h + 2 * k + 1]);
                FOR_T(NT) {
                    const int8_t *q8 = Y_K(t)->qs + 128 * h + 32 * k;
                    const __m256i p =
                        _mm256_maddubs_epi16(v, _mm256_loadu_si256((const __m256i *)q8));
                    sumi[t] = _mm256_add_epi32(sumi[t], _mm256_madd_epi16(p, scv));
                }
            }
        }
        const __m256i sc16 = _mm256_loadu_si256((const __m256i *)sc);
        const float d = avx2_h2f(w[i].d);
        FOR_T(NT) {
            const block_q8_K *y = Y_K(t);
            const __m256i bias =
                _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)y->bsums), sc16);
            const __m256i tot = _mm256_sub_epi32(sumi[t], _mm256_slli_epi32(bias, 2));
            acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(d * y->d), _mm256_cvtepi32_ps(tot), acc[t]);
        }
    }
    FOR_T(NT) s[t] = avx2_hsum(acc[t]);
}

AVX2_DOT_NT(dot_q2_K, q2_K_body, QK_K)
AVX2_DOT_NT(dot_q3_K, q3_K_body, QK_K)
AVX2_DOT_NT(dot_q4_K, q4_K_body, QK_K)
AVX2_DOT_NT(dot_q5_K, q5_K_body, QK_K)
AVX2_DOT_NT(dot_q6_K, q6_K_body, QK_K)

void kernels_fill_avx2_k(kernel_entry *t);
void kernels_fill_avx2_k(kernel_entry *t) {
    t[GGML_TYPE_Q2_K].dot = dot_q2_K;
    t[GGML_TYPE_Q3_K].dot = dot_q3_K;
    t[GGML_TYPE_Q4_K].dot = dot_q4_K;
    t[GGML_TYPE_Q5_K].dot = dot_q5_K;
    t[GGML_TYPE_Q6_K].dot = dot_q6_K;
    const uint32_t types[] = {GGML_TYPE_Q2_K, GGML_TYPE_Q3_K, GGML_TYPE_Q4_K, GGML_TYPE_Q5_K,
                              GGML_TYPE_Q6_K};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        t[types[i]].isa = "avx2";
}
