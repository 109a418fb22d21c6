/* dot_f.c - AVX2/FMA dot products of float weight rows (F32, F16, BF16) with float activations,
 * and the AVX2 table filler.
 *
 * F16 goes through F16C (vcvtph2ps), BF16 by shifting into the high half of a float. 16 values per
 * step in two accumulators per token; a row length that is not a multiple of 16 finishes in
 * scalar code. The activations stay F32 (more exact than ggml, which rounds them to F16).
 * Relies on: avx2_common.h. Must not: be called unless the CPU has AVX2, FMA and F16C.
 */
#include "avx2_common.h"

AVX2_INLINE __m256 load_w(const void *w, int64_t j, const int kind) {
    if (kind == 0) return _mm256_loadu_ps((const float *)w + j);
    const __m128i h = _mm_loadu_si128((const __m128i *)((const uint16_t *)w + j));
    if (kind == 1) return _mm256_cvtph_ps(h);
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}

AVX2_INLINE float scalar_w(const void *w, int64_t j, const int kind) {
    if (kind == 0) return ((const float *)w)[j];
    uint16_t h = ((const uint16_t *)w)[j];
    if (kind == 1) return avx2_h2f(h);
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* kind: 0 F32, 1 F16, 2 BF16 */
AVX2_INLINE void f_body(int64_t n, const void *w, const uint8_t *x, size_t xs, float *s,
                        const int NT, const int kind) {
    __m256 a0[4], a1[4];
    FOR_T(NT) a0[t] = a1[t] = _mm256_setzero_ps();
    int64_t j = 0;
    for (; j + 16 <= n; j += 16) {
        const __m256 w0 = load_w(w, j, kind), w1 = load_w(w, j + 8, kind);
        FOR_T(NT) {
            const float *xt = (const float *)(x + (size_t)t * xs);
            a0[t] = _mm256_fmadd_ps(w0, _mm256_loadu_ps(xt + j), a0[t]);
            a1[t] = _mm256_fmadd_ps(w1, _mm256_loadu_ps(xt + j + 8), a1[t]);
        }
    }
    FOR_T(NT) {
        const float *xt = (const float *)(x + (size_t)t * xs);
        float r = avx2_hsum(_mm256_add_ps(a0[t], a1[t]));
        for (int64_t k = j; k < n; k++)
            r += scalar_w(w, k, kind) * xt[k];
        s[t] = r;
    }
}

AVX2_INLINE void f32_body(int64_t n, const void *w, const uint8_t *x, size_t xs, float *s,
                          const int NT) {
    f_body(n, w, x, xs, s, NT, 0);
}
AVX2_INLINE void f16_body(int64_t n, const void *w, const uint8_t *x, size_t xs, float *s,
                          const int NT) {
    f_body(n, w, x, xs, s, NT, 1);
}
AVX2_INLINE void bf16_body(int64_t n, const void *w, const uint8_t *x, size_t xs, float *s,
                           const int NT) {
    f_body(n, w, x, xs, s, NT, 2);
}

AVX2_DOT_NT(dot_f32, f32_body, 1)
AVX2_DOT_NT(dot_f16, f16_body, 1)
AVX2_DOT_NT(dot_bf16, bf16_body, 1)

void kernels_fill_avx2_q(kernel_entry *t);
void kernels_fill_avx2_k(kernel_entry *t);
void kernels_fill_avx2_iq(kernel_entry *t);

void kernels_fill_avx2(kernel_entry *t) {
    t[GGML_TYPE_F32].dot = dot_f32;
    t[GGML_TYPE_F16].dot = dot_f16;
    t[GGML_TYPE_BF16].dot = dot_bf16;
    t[GGML_TYPE_F32].isa = t[GGML_TYPE_F16].isa = t[GGML_TYPE_BF16].isa = "avx2";
    kernels_fill_avx2_q(t);
    kernels_fill_avx2_k(t);
    kernels_fill_avx2_iq(t);
}
