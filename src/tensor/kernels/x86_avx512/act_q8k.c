/* act_q8k.c - the k-quant panel activation quantizer's core in AVX-512: one 256-value block
 * quantized exactly as quant_quantize_row_q8_K does it (same bytes, same scale, same 16-value
 * sums), which panel_k.c and panel_q6k.c lay out in their panel activation formats.
 *
 * Why it is bit-identical: the scale is the reference's (-127 / the first value of largest
 * magnitude, and d = 1 / that), each quant is the float product iscale * x rounded to nearest,
 * ties to even (vcvtps2dq in that mode; the reference's 1.5 * 2^23 trick rounds the same way for
 * |v| < 2^22), then saturated to [-128, 127] (vpmovsdb = the reference's clamp). Sums are exact.
 * Products out of range (a block of subnormals makes -127 / max infinite) are clamped as the
 * reference's quant_nearest_int does. NaN inputs give unspecified (but defined) bytes.
 * Relies on: AVX-512 F/BW. Must not: run without them.
 */
#include "panel_common.h"

#include <immintrin.h>

void avx512_quantize_block_q8_K(const float *x, int8_t *qs, float *d, int16_t *sums16) {
    __m512 v[16];
    __m512 am = _mm512_setzero_ps();
    for (int k = 0; k < 16; k++) {
        v[k] = _mm512_loadu_ps(x + 16 * k);
        am = _mm512_max_ps(am, _mm512_abs_ps(v[k]));
    }
    const float amax = _mm512_reduce_max_ps(am);
    if (amax == 0.0f) {
        memset(qs, 0, 256);
        memset(sums16, 0, 32);
        *d = 0.0f;
        return;
    }
    /* the reference keeps the first value whose magnitude is the largest (its sign matters) */
    const __m512 av = _mm512_set1_ps(amax);
    float max = amax;
    for (int k = 0; k < 16; k++) {
        const __mmask16 m = _mm512_cmp_ps_mask(_mm512_abs_ps(v[k]), av, _CMP_EQ_OQ);
        if (m) {
            max = x[16 * k + __builtin_ctz(m)];
            break;
        }
    }
    const float iscale = -127.0f / max;
    const __m512 is = _mm512_set1_ps(iscale);
    for (int k = 0; k < 16; k++) {
        /* the reference's range guard: NaN (0 x inf, when -127 / max overflows) -> -2^22, inf ->
         * +-2^22 (vmaxps returns its second operand when the first is NaN) */
        __m512 p = _mm512_max_ps(_mm512_mul_ps(v[k], is), _mm512_set1_ps(-4194304.0f));
        p = _mm512_min_ps(p, _mm512_set1_ps(4194304.0f));
        const __m512i q =
            _mm512_cvt_roundps_epi32(p, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        const __m128i b = _mm512_cvtsepi32_epi8(q);
        _mm_storeu_si128((__m128i *)(qs + 16 * k), b);
        /* sum of the saturated bytes, as the reference sums its stored quants */
        sums16[k] = (int16_t)_mm512_reduce_add_epi32(_mm512_cvtepi8_epi32(b));
    }
    *d = 1.0f / iscale;
}
