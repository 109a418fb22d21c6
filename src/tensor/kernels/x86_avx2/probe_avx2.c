/* probe_avx2.c - AVX2 probe kernels (see tensor/probe.h): int8 dot products the way AVX2 kernels
 * compute them (vpmaddubsw u8 x s8 -> s16 pairs, vpmaddwd by ones -> s32, vpaddd), FMA on 8
 * floats, and 32-byte streaming reads. Enough independent accumulators to cover the latency of
 * two issue ports (latency 4-5 cycles x 2 ports).
 *
 * Relies on: AVX2 + FMA (checked by the caller). Must not: be called before kw_cpu_get() says so.
 */
#include "tensor/probe.h"

#include <immintrin.h>

enum { N_ACC = 10 };

uint64_t probe_int8_avx2(int64_t iters, const uint8_t *seed, int32_t *sink) {
    __m256i a = _mm256_loadu_si256((const __m256i *)seed);
    __m256i b = _mm256_loadu_si256((const __m256i *)(seed + 32));
    const __m256i ones = _mm256_set1_epi16(1);
    /* named accumulators, not an array: GCC -O2 keeps an array in memory (a store per step) */
    /* distinct starting values: identical chains would be merged by the compiler */
    __m256i c0 = _mm256_set1_epi32(0), c1 = _mm256_set1_epi32(1), c2 = _mm256_set1_epi32(2),
            c3 = _mm256_set1_epi32(3), c4 = _mm256_set1_epi32(4), c5 = _mm256_set1_epi32(5),
            c6 = _mm256_set1_epi32(6), c7 = _mm256_set1_epi32(7), c8 = _mm256_set1_epi32(8),
            c9 = _mm256_set1_epi32(9);
    for (int64_t it = 0; it < iters; it++) {
        __asm__("" : "+x"(a)); /* a "changes": the products are not loop-invariant */
/* in asm: written with intrinsics, GCC computes the (identical) product once per iteration and
 * only the adds remain, which overstated the peak */
#define STEP(acc)                                                                                  \
    do {                                                                                           \
        __m256i t_;                                                                                \
        __asm__ volatile("vpmaddubsw %[b], %[a], %[t]\n\tvpmaddwd %[one], %[t], %[t]\n\tvpaddd "   \
                         "%[t], %[c], %[c]"                                                        \
                         : [c] "+x"(acc), [t] "=&x"(t_)                                            \
                         : [a] "x"(a), [b] "x"(b), [one] "x"(ones));                               \
    } while (0)
        STEP(c0);
        STEP(c1);
        STEP(c2);
        STEP(c3);
        STEP(c4);
        STEP(c5);
        STEP(c6);
        STEP(c7);
        STEP(c8);
        STEP(c9);
#undef STEP
    }
    __m256i s =
        _mm256_add_epi32(_mm256_add_epi32(_mm256_add_epi32(c0, c1), _mm256_add_epi32(c2, c3)),
                         _mm256_add_epi32(_mm256_add_epi32(c4, c5), _mm256_add_epi32(c6, c7)));
    s = _mm256_add_epi32(s, _mm256_add_epi32(c8, c9));
    *sink = _mm256_extract_epi32(s, 0) + _mm256_extract_epi32(s, 7);
    return (uint64_t)iters * N_ACC * 32 * 2;
}

uint64_t probe_f32_avx2(int64_t iters, const float *seed, float *sink) {
    const __m256 a = _mm256_set1_ps(seed[8]), c = _mm256_set1_ps(seed[9]);
    __m256 c0 = _mm256_set1_ps(seed[0] + 0.0f), c1 = _mm256_set1_ps(seed[0] + 1.0f),
           c2 = _mm256_set1_ps(seed[0] + 2.0f), c3 = _mm256_set1_ps(seed[0] + 3.0f),
           c4 = _mm256_set1_ps(seed[0] + 4.0f), c5 = _mm256_set1_ps(seed[0] + 5.0f),
           c6 = _mm256_set1_ps(seed[0] + 6.0f), c7 = _mm256_set1_ps(seed[0] + 7.0f),
           c8 = _mm256_set1_ps(seed[0] + 8.0f), c9 = _mm256_set1_ps(seed[0] + 9.0f);
    for (int64_t it = 0; it < iters; it++) {
#define STEP(x) x = _mm256_fmadd_ps(x, a, c)
        STEP(c0);
        STEP(c1);
        STEP(c2);
        STEP(c3);
        STEP(c4);
        STEP(c5);
        STEP(c6);
        STEP(c7);
        STEP(c8);
        STEP(c9);
#undef STEP
    }
    __m256 s = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(c0, c1), _mm256_add_ps(c2, c3)),
                             _mm256_add_ps(_mm256_add_ps(c4, c5), _mm256_add_ps(c6, c7)));
    s = _mm256_add_ps(s, _mm256_add_ps(c8, c9));
    *sink = _mm256_cvtss_f32(s);
    return (uint64_t)iters * N_ACC * 8 * 2;
}

uint64_t probe_read_avx2(const void *buf, size_t bytes) {
    const __m256i *p = buf;
    __m256i s0 = _mm256_setzero_si256(), s1 = s0, s2 = s0, s3 = s0;
    for (size_t i = 0; i < bytes / 32; i += 4) {
        s0 = _mm256_add_epi64(s0, _mm256_load_si256(p + i));
        s1 = _mm256_add_epi64(s1, _mm256_load_si256(p + i + 1));
        s2 = _mm256_add_epi64(s2, _mm256_load_si256(p + i + 2));
        s3 = _mm256_add_epi64(s3, _mm256_load_si256(p + i + 3));
    }
    __m256i s = _mm256_add_epi64(_mm256_add_epi64(s0, s1), _mm256_add_epi64(s2, s3));
    return (uint64_t)_mm256_extract_epi64(s, 0) + (uint64_t)_mm256_extract_epi64(s, 3);
}
