/* dot_q.c - ARM NEON (dotprod) dot products for Q4_0 and Q8_0 weights with Q8_0 activations, 1 or
 * 4 activation rows per weight row, and the NEON table filler.
 *
 * sdot (vdotq_s32) sums groups of 4 signed byte products into int32 lanes; Q4_0 nibbles are made
 * signed (minus 8) first. Per block the int32 sum is scaled in float into 4 accumulator lanes
 * per token (summed at the end): exact integers, float order differs from the reference.
 * The whole file is empty on other architectures (the Makefile compiles every src/ file).
 * Relies on: a compiler flag enabling dotprod (-march=armv8.2-a+dotprod). Must not: run on a CPU
 * without dotprod (kernels.c checks HWCAP_ASIMDDP first).
 */
#include "tensor/kernels/kernels.h"

#if defined(__aarch64__)
#include "tensor/blocks.h"

#include <arm_neon.h>
#include <string.h>

#define NEON_INLINE static inline __attribute__((always_inline))
#define FOR_T(NT)   _Pragma("GCC unroll 4") for (int t = 0; t < (NT); t++)

NEON_INLINE float h2f(uint16_t h) {
    __fp16 f;
    memcpy(&f, &h, sizeof f);
    return (float)f;
}

/* q4 = true: Q4_0 weights, else Q8_0. */
NEON_INLINE void q_body(int64_t nb, const void *wv, const uint8_t *x, size_t xs, float *s,
                        const int NT, const bool q4) {
    float32x4_t acc[4];
    FOR_T(NT) acc[t] = vdupq_n_f32(0.0f);
    for (int64_t i = 0; i < nb; i++) {
        int8x16_t w0, w1;
        float dw;
        if (q4) {
            const block_q4_0 *w = (const block_q4_0 *)wv + i;
            const uint8x16_t v = vld1q_u8(w->qs);
            w0 = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(v, vdupq_n_u8(0x0F))), vdupq_n_s8(8));
            w1 = vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(v, 4)), vdupq_n_s8(8));
            dw = h2f(w->d);
        } else {
            const block_q8_0 *w = (const block_q8_0 *)wv + i;
            w0 = vld1q_s8(w->qs), w1 = vld1q_s8(w->qs + 16);
            dw = h2f(w->d);
        }
        FOR_T(NT) {
            const block_q8_0 *y = (const block_q8_0 *)(x + (size_t)t * xs) + i;
            int32x4_t p = vdotq_s32(vdupq_n_s32(0), w0, vld1q_s8(y->qs));
            p = vdotq_s32(p, w1, vld1q_s8(y->qs + 16));
            acc[t] = vfmaq_n_f32(acc[t], vcvtq_f32_s32(p), dw * h2f(y->d));
        }
    }
    FOR_T(NT) s[t] = vaddvq_f32(acc[t]);
}

NEON_INLINE void q4_0_body(int64_t nb, const void *w, const uint8_t *x, size_t xs, float *s,
                           const int NT) {
    q_body(nb, w, x, xs, s, NT, true);
}
NEON_INLINE void q8_0_body(int64_t nb, const void *w, const uint8_t *x, size_t xs, float *s,
                           const int NT) {
    q_body(nb, w, x, xs, s, NT, false);
}

#define NEON_DOT_NT(name, body, block)                                                             \
    static void name(int64_t n, const void *w, const void *x, size_t xs, int nt, float *s) {       \
        const int64_t nb = n / (block);                                                            \
        if (nt == 4) {                                                                             \
            body(nb, w, (const uint8_t *)x, xs, s, 4);                                             \
            return;                                                                                \
        }                                                                                          \
        for (int t = 0; t < nt; t++)                                                               \
            body(nb, w, (const uint8_t *)x + (size_t)t * xs, xs, s + t, 1);                        \
    }

NEON_DOT_NT(dot_q4_0, q4_0_body, QK4_0)
NEON_DOT_NT(dot_q8_0, q8_0_body, QK8_0)

void kernels_fill_neon(kernel_entry *t) {
    t[GGML_TYPE_Q4_0].dot = dot_q4_0;
    t[GGML_TYPE_Q8_0].dot = dot_q8_0;
    t[GGML_TYPE_Q4_0].isa = t[GGML_TYPE_Q8_0].isa = "neon";
}
#endif
