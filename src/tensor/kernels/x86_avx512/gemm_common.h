/* gemm_common.h - what the AVX-512 matrix product files (gemm_avx512.c, gemm_bf16.c) share: lane
 * masks and a 16 x 16 register transpose of 32-bit lanes. Only for files compiled with the
 * AVX-512 flags. */
#ifndef KAIWU_GEMM_COMMON_H
#define KAIWU_GEMM_COMMON_H

#include <immintrin.h>
#include <stdint.h>

/* The first n (<= 0: none, >= 16: all) of 16 lanes. */
static inline __mmask16 gemm_lane_mask(int64_t n) {
    return n >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n > 0 ? n : 0)) - 1);
}

/* Transposes the 16 x 16 32-bit lanes of r in place (r[i] lane q -> r[q] lane i): unpacks pair
 * rows, shuffles gather 4 x 4 blocks, two 128-bit lane shuffles place them. */
static inline void gemm_transpose16(__m512 r[16]) {
    __m512 t[16];
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int i = 0; i < 16; i += 4) {
        r[i] = _mm512_shuffle_ps(t[i], t[i + 2], 0x44);
        r[i + 1] = _mm512_shuffle_ps(t[i], t[i + 2], 0xEE);
        r[i + 2] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0x44);
        r[i + 3] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
    }
    for (int i = 0; i < 4; i++) {
        t[i] = _mm512_shuffle_f32x4(r[i], r[i + 4], 0x88);
        t[i + 4] = _mm512_shuffle_f32x4(r[i], r[i + 4], 0xDD);
        t[i + 8] = _mm512_shuffle_f32x4(r[i + 8], r[i + 12], 0x88);
        t[i + 12] = _mm512_shuffle_f32x4(r[i + 8], r[i + 12], 0xDD);
    }
    for (int i = 0; i < 8; i++) {
        r[i] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0x88);
        r[i + 8] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0xDD);
    }
}

#endif
