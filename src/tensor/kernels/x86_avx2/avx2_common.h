/* avx2_common.h - small AVX2 helpers shared by the AVX2 kernel files (included only by files
 * compiled with -mavx2 -mfma -mf16c).
 */
#ifndef KAIWU_AVX2_COMMON_H
#define KAIWU_AVX2_COMMON_H

#include "tensor/blocks.h"
#include "tensor/kernels/kernels.h"

#include <immintrin.h>
#include <string.h>

#define AVX2_INLINE static inline __attribute__((always_inline))

/* Loop over the NT tokens of a kernel body, fully unrolled so the per-token accumulators stay in
 * registers (NT is a compile-time 1 or 4 after inlining). */
#define FOR_T(NT) _Pragma("GCC unroll 4") for (int t = 0; t < (NT); t++)

/* f16 bits to float with the F16C instruction (exact, like kw_f16_to_f32). */
AVX2_INLINE float avx2_h2f(uint16_t h) { return _cvtsh_ss(h); }

/* 16 bytes of packed nibbles -> 32 bytes: low nibbles are values 0..15, high nibbles 16..31. */
AVX2_INLINE __m256i avx2_nibbles(const uint8_t *qs) {
    const __m128i v = _mm_loadu_si128((const __m128i *)qs);
    return _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(v, 4), v), _mm256_set1_epi8(0x0F));
}

/* 32 bits (little-endian at p) -> 32 bytes, 0xFF where bit j is set. */
AVX2_INLINE __m256i avx2_bits_to_bytes(const uint8_t *p) {
    uint32_t x;
    memcpy(&x, p, 4);
    const __m256i shuf = _mm256_setr_epi64x(0x0000000000000000, 0x0101010101010101,
                                            0x0202020202020202, 0x0303030303030303);
    const __m256i bit = _mm256_set1_epi64x((long long)0x8040201008040201ULL);
    const __m256i b = _mm256_shuffle_epi8(_mm256_set1_epi32((int)x), shuf);
    return _mm256_cmpeq_epi8(_mm256_and_si256(b, bit), bit);
}

/* Sums of 4 adjacent products of unsigned bytes a and signed bytes b, as 8 int32 (pairs of
 * products must fit in int16: true for a <= 127 or |b| <= 127 with a <= 128). */
AVX2_INLINE __m256i avx2_dot_u8(__m256i a, __m256i b) {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(a, b), _mm256_set1_epi16(1));
}

/* The same for two signed byte vectors (|a| moves the sign onto b). */
AVX2_INLINE __m256i avx2_dot_i8(__m256i a, __m256i b) {
    return avx2_dot_u8(_mm256_sign_epi8(a, a), _mm256_sign_epi8(b, a));
}

AVX2_INLINE float avx2_hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* roundf (half away from zero) of each lane, exactly: t = trunc(v); t +/- 1 when |v - t| >= 0.5. */
AVX2_INLINE __m256 avx2_round_away(__m256 v) {
    const __m256 t = _mm256_round_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    const __m256 sign = _mm256_and_ps(v, _mm256_set1_ps(-0.0f));
    const __m256 frac = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), _mm256_sub_ps(v, t));
    const __m256 step = _mm256_and_ps(_mm256_cmp_ps(frac, _mm256_set1_ps(0.5f), _CMP_GE_OQ),
                                      _mm256_or_ps(sign, _mm256_set1_ps(1.0f)));
    return _mm256_add_ps(t, step);
}

/* Defines the kernel_dot_fn `name` from an always-inline body fn(nb, w, x, x_stride, s, NT): the
 * 4-token form when nt == 4 (each weight block unpacked once for 4 tokens), else one token at a
 * time. */
#define AVX2_DOT_NT(name, body, block)                                                             \
    static void name(int64_t n, const void *w, const void *x, size_t xs, int nt, float *s) {       \
        const int64_t nb = n / (block);                                                            \
        if (nt == 4) {                                                                             \
            body(nb, w, (const uint8_t *)x, xs, s, 4);                                             \
            return;                                                                                \
        }                                                                                          \
        for (int t = 0; t < nt; t++)                                                               \
            body(nb, w, (const uint8_t *)x + (size_t)t * xs, xs, s + t, 1);                        \
    }

/* e^x in 8 lanes: x = n ln2 + r with |r| <= ln2/2, e^r a degree-7 polynomial (the Cephes expf
 * coefficients, relative error about 1e-7), 2^n built in the exponent bits; inputs below -87.3
 * give 0, above 88 are clamped (shared by vec.c and grad_avx2.c). */
AVX2_INLINE __m256 avx2_exp(__m256 x) {
    const __m256 lo = _mm256_set1_ps(-87.3f), hi = _mm256_set1_ps(88.0f);
    const __m256 xc = _mm256_min_ps(_mm256_max_ps(x, lo), hi);
    const __m256 n = _mm256_round_ps(_mm256_mul_ps(xc, _mm256_set1_ps(1.44269504088896341f)),
                                     _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), xc);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    const __m256 y =
        _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    const __m256i e =
        _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    const __m256 v = _mm256_mul_ps(y, _mm256_castsi256_ps(e));
    return _mm256_andnot_ps(_mm256_cmp_ps(x, lo, _CMP_LT_OQ), v);
}

#endif
