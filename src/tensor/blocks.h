/* blocks.h - the quantized block formats, byte for byte as ggml stores them in GGUF files.
 *
 * Every struct is a packed sequence of little-endian fields with no padding (all fields are bytes
 * or 16-bit halves placed at even offsets, so the natural layout is the file layout; the
 * static_asserts below prove it and must agree with src/gguf/ggml_types.c). Float16 scales are
 * raw uint16_t bit patterns: convert with kw_f16_to_f32 / kw_f32_to_f16 (base/base.h).
 *
 * Also declares the per-family routines quants.c dispatches to (quants_k.c, quants_dot.c); they
 * are internal to src/tensor and take n = values, a multiple of the block size.
 * Relies on: base/base.h. Must not: depend on any CPU feature (this is the portable reference).
 */
#ifndef KAIWU_BLOCKS_H
#define KAIWU_BLOCKS_H

#include "base/base.h"

#include <assert.h>
#include <string.h>

#define QK4_0        32 /* values per Q4_0 block */
#define QK4_1        32
#define QK5_0        32
#define QK5_1        32
#define QK8_0        32
#define QK8_1        32
#define QK_K         256 /* values per k-quant super-block */
#define K_SCALE_SIZE 12  /* bytes of packed 6-bit scales and mins in Q4_K / Q5_K */

/* ---------------------------------------------------------------- 32-value blocks */

/* value = d * (q - 8) */
typedef struct block_q4_0 {
    uint16_t d;            /* f16 scale */
    uint8_t qs[QK4_0 / 2]; /* nibbles: low nibble of qs[j] is value j, high nibble value j+16 */
} block_q4_0;
static_assert(sizeof(block_q4_0) == 18, "block_q4_0 size");

/* value = d * q + m */
typedef struct block_q4_1 {
    uint16_t d;            /* f16 scale */
    uint16_t m;            /* f16 minimum (added) */
    uint8_t qs[QK4_1 / 2]; /* nibbles, as in Q4_0 */
} block_q4_1;
static_assert(sizeof(block_q4_1) == 20, "block_q4_1 size");

/* value = d * (q - 16), q 5 bits */
typedef struct block_q5_0 {
    uint16_t d;            /* f16 scale */
    uint8_t qh[4];         /* bit j (little-endian u32) = 5th bit of value j */
    uint8_t qs[QK5_0 / 2]; /* low 4 bits, nibbles as in Q4_0 */
} block_q5_0;
static_assert(sizeof(block_q5_0) == 22, "block_q5_0 size");

/* value = d * q + m, q 5 bits */
typedef struct block_q5_1 {
    uint16_t d;            /* f16 scale */
    uint16_t m;            /* f16 minimum (added) */
    uint8_t qh[4];         /* bit j = 5th bit of value j */
    uint8_t qs[QK5_1 / 2]; /* low 4 bits, nibbles as in Q4_0 */
} block_q5_1;
static_assert(sizeof(block_q5_1) == 24, "block_q5_1 size");

/* value = d * q */
typedef struct block_q8_0 {
    uint16_t d;       /* f16 scale */
    int8_t qs[QK8_0]; /* quants */
} block_q8_0;
static_assert(sizeof(block_q8_0) == 34, "block_q8_0 size");

/* Activation format paired with Q4_1 / Q5_1: value = d * q; s caches d * sum(q). */
typedef struct block_q8_1 {
    uint16_t d;       /* f16 scale */
    uint16_t s;       /* f16 of d * sum(qs) */
    int8_t qs[QK8_1]; /* quants */
} block_q8_1;
static_assert(sizeof(block_q8_1) == 36, "block_q8_1 size");

/* ---------------------------------------------------------------- 256-value super-blocks */

/* 16 sub-blocks of 16: value = d * (scales[j] & 15) * q - dmin * (scales[j] >> 4), q 2 bits.
 * qs: each 128-value half uses 32 bytes; bits 2k..2k+1 of byte l are value 32k + l of the half. */
typedef struct block_q2_K {
    uint8_t scales[QK_K / 16]; /* low nibble: 4-bit scale, high nibble: 4-bit min */
    uint8_t qs[QK_K / 4];      /* 2-bit quants */
    uint16_t d;                /* f16 super-block scale of the scales */
    uint16_t dmin;             /* f16 super-block scale of the mins */
} block_q2_K;
static_assert(sizeof(block_q2_K) == 84, "block_q2_K size");

/* 16 sub-blocks of 16: value = d * (scale_j - 32) * (q - 4 * !hbit), q 2 low bits + 1 high bit.
 * scales: 16 6-bit values; low 4 bits of scale j in scales[j % 8] (j < 8 low nibble, else high),
 * high 2 bits in scales[8 + j % 4] at bit 2 * (j / 4). */
typedef struct block_q3_K {
    uint8_t hmask[QK_K / 8]; /* high bit of value i at hmask[i % 32], bit i / 32 */
    uint8_t qs[QK_K / 4];    /* low 2 bits, laid out as in Q2_K */
    uint8_t scales[12];      /* packed 6-bit scales */
    uint16_t d;              /* f16 super-block scale */
} block_q3_K;
static_assert(sizeof(block_q3_K) == 110, "block_q3_K size");

/* 8 sub-blocks of 32: value = d * sc_j * q - dmin * m_j, q 4 bits; sc_j, m_j 6 bits packed in
 * scales (j < 4: scales[j], scales[j+4] low 6 bits; j >= 4: nibbles of scales[j+4] with the top
 * two bits in the top bits of scales[j-4] / scales[j]). qs: each 64 values use 32 bytes, low
 * nibbles the first 32, high nibbles the next 32. */
typedef struct block_q4_K {
    uint16_t d;                   /* f16 super-block scale of the scales */
    uint16_t dmin;                /* f16 super-block scale of the mins */
    uint8_t scales[K_SCALE_SIZE]; /* packed 6-bit scales and mins */
    uint8_t qs[QK_K / 2];         /* 4-bit quants */
} block_q4_K;
static_assert(sizeof(block_q4_K) == 144, "block_q4_K size");

/* As Q4_K with a 5th bit: bit 2k (first 32) / 2k+1 (next 32) of qh[l] for the k-th 64 values. */
typedef struct block_q5_K {
    uint16_t d;                   /* f16 super-block scale of the scales */
    uint16_t dmin;                /* f16 super-block scale of the mins */
    uint8_t scales[K_SCALE_SIZE]; /* packed 6-bit scales and mins, as in Q4_K */
    uint8_t qh[QK_K / 8];         /* 5th bits */
    uint8_t qs[QK_K / 2];         /* low 4 bits */
} block_q5_K;
static_assert(sizeof(block_q5_K) == 176, "block_q5_K size");

/* 16 sub-blocks of 16: value = d * scales[j] * (q - 32), q 6 bits. Per 128 values: ql 64 bytes
 * (low nibbles: values 0..31 and 32..63; high nibbles: 64..95 and 96..127), qh 32 bytes (2 bits
 * each for values l, l+32, l+64, l+96). */
typedef struct block_q6_K {
    uint8_t ql[QK_K / 2];     /* low 4 bits */
    uint8_t qh[QK_K / 4];     /* high 2 bits */
    int8_t scales[QK_K / 16]; /* 8-bit signed scales */
    uint16_t d;               /* f16 super-block scale */
} block_q6_K;
static_assert(sizeof(block_q6_K) == 210, "block_q6_K size");

/* Activation format paired with the k-quants: value = d * q (d is float32, not f16). */
typedef struct block_q8_K {
    float d;                  /* scale */
    int8_t qs[QK_K];          /* quants */
    int16_t bsums[QK_K / 16]; /* sum of each 16 quants (for the min terms) */
} block_q8_K;
static_assert(sizeof(block_q8_K) == 292, "block_q8_K size");

/* ---------------------------------------------------------------- internal routines */

/* Round to nearest, ties to even (what ggml's nearest_int computes for |x| < 2^22). */
static inline int quant_nearest_int(float x) {
    if (!(x > -4194304.0f)) return -4194304; /* also NaN: never reached with finite inputs */
    if (x > 4194304.0f) return 4194304;
    float v = x + 12582912.0f; /* 1.5 * 2^23: the float add rounds x to an integer, ties even */
    int32_t i;
    memcpy(&i, &v, sizeof i);
    return (i & 0x007FFFFF) - 0x00400000;
}

/* 6-bit scale and min of sub-block j (0..7) of Q4_K / Q5_K. */
static inline void quant_get_scale_min_k4(int j, const uint8_t *q, uint8_t *sc, uint8_t *m) {
    if (j < 4) {
        *sc = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *sc = (uint8_t)((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
        *m = (uint8_t)((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
    }
}

/* Signed 6-bit scale j (0..15) of Q3_K, already minus 32. */
static inline int quant_q3_K_scale(const uint8_t *scales, int j) {
    int lo = j < 8 ? scales[j] & 0xF : scales[j - 8] >> 4;
    int hi = (scales[8 + j % 4] >> (2 * (j / 4))) & 3;
    return (lo | (hi << 4)) - 32;
}

/* quants_k.c: k-quant dequantizers and reference quantizers (imatrix may be NULL). */
void quant_dequantize_row_q2_K(const block_q2_K *x, float *y, int64_t n);
void quant_dequantize_row_q3_K(const block_q3_K *x, float *y, int64_t n);
void quant_dequantize_row_q4_K(const block_q4_K *x, float *y, int64_t n);
void quant_dequantize_row_q5_K(const block_q5_K *x, float *y, int64_t n);
void quant_dequantize_row_q6_K(const block_q6_K *x, float *y, int64_t n);
void quant_quantize_row_q2_K(const float *x, block_q2_K *y, int64_t n, const float *imatrix);
void quant_quantize_row_q3_K(const float *x, block_q3_K *y, int64_t n, const float *imatrix);
void quant_quantize_row_q4_K(const float *x, block_q4_K *y, int64_t n, const float *imatrix);
void quant_quantize_row_q5_K(const float *x, block_q5_K *y, int64_t n, const float *imatrix);
void quant_quantize_row_q6_K(const float *x, block_q6_K *y, int64_t n, const float *imatrix);

#endif
