/* panel_common.h - what the AVX-512 panel kernels (panel_q.c, panel_k.c, panel_q6k.c) share: a
 * panel holds KERNEL_PANEL_ROWS weight rows interleaved block by block (kernels.h); each kernel
 * body is specialised for a compile-time token count NT up to the kernel's max_nt, chosen at run
 * time by a switch (PANEL_DISPATCH_NT for 1..8). Only for files compiled with the AVX-512 flags. */
#ifndef KAIWU_PANEL_COMMON_H
#define KAIWU_PANEL_COMMON_H

#include <stdint.h>
#include <string.h>

#define P_INLINE   static inline __attribute__((always_inline))
#define PR         KERNEL_PANEL_ROWS
#define FOR_TT(NT) _Pragma("GCC unroll 8") for (int t = 0; t < (NT); t++)

/* An unaligned little-endian int32 from a panel. */
static inline int32_t load_i32(const uint8_t *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* One 256-value block quantized exactly as quant_quantize_row_q8_K does (act_q8k.c): 256 quants,
 * the scale d and the 16 sums of 16 quants (the reference's bsums). */
void avx512_quantize_block_q8_K(const float *x, int8_t *qs, float *d, int16_t *sums16);

/* Calls BODY(args..., NT) with NT the compile-time constant equal to nt (1..8; larger nt runs 8,
 * which callers never pass: the matmul hands at most the kernel's max_nt tokens per call). */
#define PANEL_DISPATCH_NT(nt, BODY, ...)                                                           \
    switch (nt) {                                                                                  \
    case 1: BODY(__VA_ARGS__, 1); break;                                                           \
    case 2: BODY(__VA_ARGS__, 2); break;                                                           \
    case 3: BODY(__VA_ARGS__, 3); break;                                                           \
    case 4: BODY(__VA_ARGS__, 4); break;                                                           \
    case 5: BODY(__VA_ARGS__, 5); break;                                                           \
    case 6: BODY(__VA_ARGS__, 6); break;                                                           \
    case 7: BODY(__VA_ARGS__, 7); break;                                                           \
    default: BODY(__VA_ARGS__, 8); break;                                                          \
    }

#endif
