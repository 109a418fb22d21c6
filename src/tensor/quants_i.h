/* quants_i.h - the i-quant, ternary and MXFP4 block formats (IQ4_NL, IQ4_XS, IQ3_XXS, IQ3_S,
 * IQ2_XXS, IQ2_XS, IQ2_S, IQ1_S, IQ1_M, TQ1_0, TQ2_0, MXFP4), byte for byte as ggml stores them
 * in GGUF files, their dequantizers (bit-exact with ggml's to_float) and a plain C reference dot
 * product against the activation format ggml pairs each with (Q8_0 for IQ4_NL / MXFP4, Q8_K for
 * the others).
 *
 * The codebooks (grids) are data of the formats, generated into quants_i_grids.c by
 * scripts/gen-iq-grids.py. Internal to src/tensor; n = values, a multiple of the block size.
 * Relies on: blocks.h, base/base.h. Must not: depend on any CPU feature; only the one-time
 * tables of quant_iquant_prepare allocate.
 */
#ifndef KAIWU_QUANTS_I_H
#define KAIWU_QUANTS_I_H

#include "tensor/blocks.h"

#define QK4_NL   32 /* values per IQ4_NL block */
#define QK_MXFP4 32 /* values per MXFP4 block */

/* value = d * kvalues_iq4nl[q], q 4 bits, nibbles as in Q4_0 */
typedef struct block_iq4_nl {
    uint16_t d; /* f16 scale */
    uint8_t qs[QK4_NL / 2];
} block_iq4_nl;
static_assert(sizeof(block_iq4_nl) == 18, "block_iq4_nl size");

/* 8 sub-blocks of 32: value = d * (ls_j - 32) * kvalues_iq4nl[q]; ls_j 6 bits: low 4 in nibble
 * j % 2 of scales_l[j / 2], high 2 at bits 2j of scales_h. qs: 16 bytes per sub-block, nibbles as
 * in Q4_0. */
typedef struct block_iq4_xs {
    uint16_t d;        /* f16 super-block scale */
    uint16_t scales_h; /* high 2 bits of the 8 sub-block scales */
    uint8_t scales_l[QK_K / 64];
    uint8_t qs[QK_K / 2];
} block_iq4_xs;
static_assert(sizeof(block_iq4_xs) == 136, "block_iq4_xs size");

/* 8 groups of 32: qs[8 g .. 8 g + 4) four grid indices (iq2xxs_grid, 8 values each), the u32 at
 * qs[8 g + 4] holds 4 x 7 sign bits (ksigns) and a 4-bit scale in its top bits:
 * value = d * (0.5 + s) * 0.25 * grid * sign. */
typedef struct block_iq2_xxs {
    uint16_t d;
    uint16_t qs[QK_K / 8];
} block_iq2_xxs;
static_assert(sizeof(block_iq2_xxs) == 66, "block_iq2_xxs size");

/* qs[k]: 9-bit index into iq2xs_grid, 7 sign bits above; scales: two 4-bit scales per 32. */
typedef struct block_iq2_xs {
    uint16_t d;
    uint16_t qs[QK_K / 8];
    uint8_t scales[QK_K / 32];
} block_iq2_xs;
static_assert(sizeof(block_iq2_xs) == 74, "block_iq2_xs size");

/* qs: 32 low index bytes then 32 sign bytes; qh: 2 high index bits per group of 8 (10-bit index
 * into iq2s_grid); scales as IQ2_XS. */
typedef struct block_iq2_s {
    uint16_t d;
    uint8_t qs[QK_K / 4];
    uint8_t qh[QK_K / 32];
    uint8_t scales[QK_K / 32];
} block_iq2_s;
static_assert(sizeof(block_iq2_s) == 82, "block_iq2_s size");

/* qs: 64 grid indices (iq3xxs_grid, 4 values each), then 8 u32 of 4 x 7 sign bits + 4-bit scale:
 * value = d * (0.5 + s) * 0.5 * grid * sign. */
typedef struct block_iq3_xxs {
    uint16_t d;
    uint8_t qs[3 * QK_K / 8];
} block_iq3_xxs;
static_assert(sizeof(block_iq3_xxs) == 98, "block_iq3_xxs size");

/* 9-bit indices into iq3s_grid (low 8 in qs, 9th in qh), explicit sign bits, 4-bit scales
 * (value = d * (1 + 2 s) * grid * sign). */
typedef struct block_iq3_s {
    uint16_t d;
    uint8_t qs[QK_K / 4];
    uint8_t qh[QK_K / 32];
    uint8_t signs[QK_K / 8];
    uint8_t scales[QK_K / 64];
} block_iq3_s;
static_assert(sizeof(block_iq3_s) == 110, "block_iq3_s size");

/* 11-bit indices into iq1s_grid (values -1, 0, 1): low 8 in qs, 3 high bits per group of 8 in
 * qh[j] bits 3l..3l+2; qh bits 12..14 a 3-bit scale, bit 15 the sign of the delta:
 * value = d * (2 s + 1) * (grid ± 0.125). */
typedef struct block_iq1_s {
    uint16_t d;
    uint8_t qs[QK_K / 8];
    uint16_t qh[QK_K / 32];
} block_iq1_s;
static_assert(sizeof(block_iq1_s) == 50, "block_iq1_s size");

/* As IQ1_S with 3-bit scales per 16 values and the f16 super-block scale spread over the top
 * nibbles of the four u16 of scales; qh: 3 high index bits + delta sign per group of 8. */
typedef struct block_iq1_m {
    uint8_t qs[QK_K / 8];
    uint8_t qh[QK_K / 16];
    uint8_t scales[QK_K / 32];
} block_iq1_m;
static_assert(sizeof(block_iq1_m) == 56, "block_iq1_m size");

/* Ternary, 1.6875 bpw: 5 trits per byte in qs (48 bytes, 240 values), 4 per byte in qh (16
 * values), as base-3 fixed point digits: value = d * (trit - 1). */
typedef struct block_tq1_0 {
    uint8_t qs[(QK_K - 4 * QK_K / 64) / 5];
    uint8_t qh[QK_K / 64];
    uint16_t d;
} block_tq1_0;
static_assert(sizeof(block_tq1_0) == 54, "block_tq1_0 size");

/* Ternary, 2.0625 bpw: 2 bits per value (bits 2l of qs[32 c + m] is value 128 c + 32 l + m):
 * value = d * (q - 1). */
typedef struct block_tq2_0 {
    uint8_t qs[QK_K / 4];
    uint16_t d;
} block_tq2_0;
static_assert(sizeof(block_tq2_0) == 66, "block_tq2_0 size");

/* OCP microscaling FP4: e = E8M0 shared exponent, 32 E2M1 values as nibbles (as in Q4_0):
 * value = 2^(e - 127) * fp4(q). */
typedef struct block_mxfp4 {
    uint8_t e;
    uint8_t qs[QK_MXFP4 / 2];
} block_mxfp4;
static_assert(sizeof(block_mxfp4) == 17, "block_mxfp4 size");

/* The grids (quants_i_grids.c): byte k of an entry is value k of its group. */
extern const uint64_t quant_iq2xxs_grid[256];
extern const uint64_t quant_iq2xs_grid[512];
extern const uint64_t quant_iq2s_grid[1024];
extern const uint32_t quant_iq3xxs_grid[256];
extern const uint32_t quant_iq3s_grid[512];
extern const uint64_t quant_iq1s_grid[2048]; /* bytes are int8 -1, 0, 1 */
/* The 16 non-linear 4-bit levels of IQ4_NL / IQ4_XS and the doubled E2M1 values of MXFP4. */
extern const int8_t quant_kvalues_iq4nl[16];
extern const int8_t quant_kvalues_mxfp4[16];

/* True for the twelve types of this file. */
bool quant_type_is_iquant(uint32_t type);
/* Dequantizes n values of one of those types. */
void quant_dequantize_row_iquant(uint32_t type, const void *src, float *dst, int64_t n);
/* Reference dot product of a weight row of one of those types with activations already quantized
 * to quant_vec_dot_type(type): per block, the dequantized weights times the activation quants,
 * summed in float, times the activation scale, accumulated in float block by block. */
float quant_vec_dot_iquant_ref(uint32_t type, const void *wrow, const void *xq, int64_t n);

/* ---------------------------------------------------------------- quantizers (quants_i_quant.c) */

/* True for the i-quants kaiwu can quantize to: IQ4_NL, IQ4_XS, IQ3_S, IQ2_XS. */
bool quant_iquant_can_quantize(uint32_t type);
/* True for the types llama.cpp will not write without an importance matrix (IQ2_XXS, IQ2_XS,
 * IQ2_S, IQ3_XXS, IQ1_S, IQ1_M): their results without one are poor. */
bool quant_iquant_needs_imatrix(uint32_t type);
/* Builds the codebook neighbour tables IQ3_S / IQ2_XS quantization needs (once per process,
 * thread-safe; a no-op for other types). KW_ERR_NOMEM (kw_last_error set) if they cannot be
 * allocated; call before quantizing so that failure is reported. */
kw_status quant_iquant_prepare(uint32_t type);
/* Quantizes n floats (a multiple of the block size) of a quant_iquant_can_quantize type;
 * imatrix: n importance weights or NULL (IQ2_XS then uses uniform importance). Without the tables
 * of quant_iquant_prepare the blocks are zeros. Deterministic; safe to call from many threads. */
void quant_quantize_row_iquant(uint32_t type, const float *src, void *dst, int64_t n,
                               const float *imatrix);

#endif
