/* probe_avx512.c - AVX-512 probe kernels (see tensor/probe.h): int8 dot products with VNNI
 * (vpdpbusd: 64 u8 x s8 multiply-adds into 16 s32 per instruction), FMA on 16 floats, bf16 dot
 * products (vdpbf16ps: 32 bf16 multiply-adds into 16 floats), and 64-byte streaming reads. 12
 * independent accumulators cover a 5-6 cycle latency on up to two ports, so the loops run at the
 * issue rate, not the latency.
 *
 * Relies on: AVX-512 F/BW and VNNI, AVX512-BF16 for its probe (checked by the caller). Must not: be
 * called before kw_cpu_get() says so.
 */
#include "tensor/probe.h"

#include <immintrin.h>

enum { N_ACC = 12 };

uint64_t probe_int8_avx512vnni(int64_t iters, const uint8_t *seed, int32_t *sink) {
    __m512i a = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)seed));
    const __m512i b = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(seed + 32)));
    /* named accumulators, not an array: GCC -O2 keeps an array in memory (a store per step) */
    /* distinct starting values: identical chains would be merged by the compiler */
    __m512i c0 = _mm512_set1_epi32(0), c1 = _mm512_set1_epi32(1), c2 = _mm512_set1_epi32(2),
            c3 = _mm512_set1_epi32(3), c4 = _mm512_set1_epi32(4), c5 = _mm512_set1_epi32(5),
            c6 = _mm512_set1_epi32(6), c7 = _mm512_set1_epi32(7), c8 = _mm512_set1_epi32(8),
            c9 = _mm512_set1_epi32(9), c10 = _mm512_set1_epi32(10), c11 = _mm512_set1_epi32(11);
    for (int64_t it = 0; it < iters; it++) {
        __asm__("" : "+v"(a));
/* in asm: with the intrinsic, GCC 12 copies every accumulator twice per step (24 vmovdqa per 12
 * vpdpbusd), which share the vector ports and made the probe read ~0.47 instead of ~0.65 Top/s
 * per core on this machine's Ice Lake cores */
#define STEP(c) __asm__("vpdpbusd %2, %1, %0" : "+v"(c) : "v"(a), "v"(b))
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
        STEP(c10);
        STEP(c11);
#undef STEP
    }
    __m512i s =
        _mm512_add_epi32(_mm512_add_epi32(_mm512_add_epi32(c0, c1), _mm512_add_epi32(c2, c3)),
                         _mm512_add_epi32(_mm512_add_epi32(c4, c5), _mm512_add_epi32(c6, c7)));
    s = _mm512_add_epi32(s, _mm512_add_epi32(_mm512_add_epi32(c8, c9), _mm512_add_epi32(c10, c11)));
    *sink = _mm512_reduce_add_epi32(s);
    return (uint64_t)iters * N_ACC * 64 * 2;
}

uint64_t probe_f32_avx512(int64_t iters, const float *seed, float *sink) {
    const __m512 a = _mm512_set1_ps(seed[8]), c = _mm512_set1_ps(seed[9]);
    __m512 c0 = _mm512_set1_ps(seed[0] + 0.0f), c1 = _mm512_set1_ps(seed[0] + 1.0f),
           c2 = _mm512_set1_ps(seed[0] + 2.0f), c3 = _mm512_set1_ps(seed[0] + 3.0f),
           c4 = _mm512_set1_ps(seed[0] + 4.0f), c5 = _mm512_set1_ps(seed[0] + 5.0f),
           c6 = _mm512_set1_ps(seed[0] + 6.0f), c7 = _mm512_set1_ps(seed[0] + 7.0f),
           c8 = _mm512_set1_ps(seed[0] + 8.0f), c9 = _mm512_set1_ps(seed[0] + 9.0f),
           c10 = _mm512_set1_ps(seed[0] + 10.0f), c11 = _mm512_set1_ps(seed[0] + 11.0f);
    for (int64_t it = 0; it < iters; it++) {
#define STEP(x) x = _mm512_fmadd_ps(x, a, c)
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
        STEP(c10);
        STEP(c11);
#undef STEP
    }
    __m512 s = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(c0, c1), _mm512_add_ps(c2, c3)),
                             _mm512_add_ps(_mm512_add_ps(c4, c5), _mm512_add_ps(c6, c7)));
    s = _mm512_add_ps(s, _mm512_add_ps(_mm512_add_ps(c8, c9), _mm512_add_ps(c10, c11)));
    *sink = _mm512_reduce_add_ps(s);
    return (uint64_t)iters * N_ACC * 16 * 2;
}

uint64_t probe_bf16_avx512(int64_t iters, const float *seed, float *sink) {
    /* pairs (x, -x) times (y, y): every step adds x y - x y = 0, so the sums stay put (no
     * overflow, no subnormals) while the unit does the full work */
    const __m512 x = _mm512_set1_ps(seed[8]), y = _mm512_set1_ps(seed[9]);
    const __m512 alt = _mm512_mask_blend_ps(0xAAAA, x, _mm512_sub_ps(_mm512_setzero_ps(), x));
    const __m512bh a = _mm512_cvtne2ps_pbh(alt, alt), b = _mm512_cvtne2ps_pbh(y, y);
    __m512 c0 = _mm512_set1_ps(seed[0] + 0.0f), c1 = _mm512_set1_ps(seed[0] + 1.0f),
           c2 = _mm512_set1_ps(seed[0] + 2.0f), c3 = _mm512_set1_ps(seed[0] + 3.0f),
           c4 = _mm512_set1_ps(seed[0] + 4.0f), c5 = _mm512_set1_ps(seed[0] + 5.0f),
           c6 = _mm512_set1_ps(seed[0] + 6.0f), c7 = _mm512_set1_ps(seed[0] + 7.0f),
           c8 = _mm512_set1_ps(seed[0] + 8.0f), c9 = _mm512_set1_ps(seed[0] + 9.0f),
           c10 = _mm512_set1_ps(seed[0] + 10.0f), c11 = _mm512_set1_ps(seed[0] + 11.0f);
    for (int64_t it = 0; it < iters; it++) {
/* in asm, as the int8 loop, so the compiler adds no register copies between the steps */
#define STEP(c) __asm__("vdpbf16ps %2, %1, %0" : "+v"(c) : "v"(a), "v"(b))
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
        STEP(c10);
        STEP(c11);
#undef STEP
    }
    __m512 s = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(c0, c1), _mm512_add_ps(c2, c3)),
                             _mm512_add_ps(_mm512_add_ps(c4, c5), _mm512_add_ps(c6, c7)));
    s = _mm512_add_ps(s, _mm512_add_ps(_mm512_add_ps(c8, c9), _mm512_add_ps(c10, c11)));
    *sink = _mm512_reduce_add_ps(s);
    return (uint64_t)iters * N_ACC * 32 * 2;
}

uint64_t probe_read_avx512(const void *buf, size_t bytes) {
    const __m512i *p = buf;
    __m512i s0 = _mm512_setzero_si512(), s1 = s0, s2 = s0, s3 = s0;
    for (size_t i = 0; i < bytes / 64; i += 4) {
        s0 = _mm512_add_epi64(s0, _mm512_load_si512(p + i));
        s1 = _mm512_add_epi64(s1, _mm512_load_si512(p + i + 1));
        s2 = _mm512_add_epi64(s2, _mm512_load_si512(p + i + 2));
        s3 = _mm512_add_epi64(s3, _mm512_load_si512(p + i + 3));
    }
    __m512i s = _mm512_add_epi64(_mm512_add_epi64(s0, s1), _mm512_add_epi64(s2, s3));
    return (uint64_t)_mm512_reduce_add_epi64(s);
}
