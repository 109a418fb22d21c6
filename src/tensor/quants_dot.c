/* quants_dot.c - integer reference dot products of a quantized weight row with 8-bit quantized
 * activations, computed exactly as ggml's scalar (generic) vec_dot kernels do.
 *
 * Pairings: Q4_0, Q5_0, Q8_0 with Q8_0; Q4_1, Q5_1 with Q8_1; Q2_K..Q6_K with Q8_K. Within a block
 * the products are summed in int (exact); each block's integer sum is scaled in float and
 * accumulated in float, in ggml's order (for Q3_K..Q6_K through 8 float lanes that are added at
 * the end), so a SIMD kernel can be compared with this one to the last bit where it keeps the
 * same order, and to a tight tolerance where it does not.
 * Relies on: blocks.h. Must not: use CPU-specific code.
 */
#include "tensor/quants.h"

#include "tensor/blocks.h"
#include "tensor/quants_i.h"

#include <string.h>

uint32_t quant_vec_dot_type(uint32_t wtype) {
    switch (wtype) {
    case GGML_TYPE_Q4_0:
    case GGML_TYPE_Q5_0:
    case GGML_TYPE_Q8_0: return GGML_TYPE_Q8_0;
    case GGML_TYPE_Q4_1:
    case GGML_TYPE_Q5_1: return GGML_TYPE_Q8_1;
    case GGML_TYPE_Q2_K:
    case GGML_TYPE_Q3_K:
    case GGML_TYPE_Q4_K:
    case GGML_TYPE_Q5_K:
    case GGML_TYPE_Q6_K: return GGML_TYPE_Q8_K;
    case GGML_TYPE_IQ4_NL:
    case GGML_TYPE_MXFP4: return GGML_TYPE_Q8_0;
    default: return quant_type_is_iquant(wtype) ? GGML_TYPE_Q8_K : GGML_TYPE_COUNT;
    }
}

/* ---------------------------------------------------------------- 32-value blocks */

/* The 32 quants of a Q4_0/Q4_1/Q5_0/Q5_1 block in value order, minus `offset` (qh NULL: 4-bit). */
static void unpack_q4(const uint8_t qs[16], const uint8_t *qh_bytes, int offset, int out[32]) {
    uint32_t qh = 0;
    if (qh_bytes)
        qh = (uint32_t)qh_bytes[0] | (uint32_t)qh_bytes[1] << 8 | (uint32_t)qh_bytes[2] << 16 |
             (uint32_t)qh_bytes[3] << 24;
    for (int j = 0; j < 16; j++) {
        out[j] = ((qs[j] & 0x0F) | (int)(((qh >> j) & 1) << 4)) - offset;
        out[j + 16] = ((qs[j] >> 4) | (int)(((qh >> (j + 16)) & 1) << 4)) - offset;
    }
}

static int dot32(const int *a, const int8_t *b) {
    int sum = 0;
    for (int j = 0; j < 32; j++)
        sum += a[j] * b[j];
    return sum;
}

static float vec_dot_q4_0_q8_0(const block_q4_0 *x, const block_q8_0 *y, int64_t nb) {
    float sumf = 0.0f;
    for (int64_t i = 0; i < nb; i++) {
        int q[32];
        unpack_q4(x[i].qs, NULL, 8, q);
        sumf += (float)dot32(q, y[i].qs) * kw_f16_to_f32(x[i].d) * kw_f16_to_f32(y[i].d);
    }
    return sumf;
}

static float vec_dot_q5_0_q8_0(const block_q5_0 *x, const block_q8_0 *y, int64_t nb) {
    float sumf = 0.0f;
    for (int64_t i = 0; i < nb; i++) {
        int q[32];
        unpack_q4(x[i].qs, x[i].qh, 16, q);
        sumf += (kw_f16_to_f32(x[i].d) * kw_f16_to_f32(y[i].d)) * (float)dot32(q, y[i].qs);
    }
    return sumf;
}

static float vec_dot_q8_0_q8_0(const block_q8_0 *x, const block_q8_0 *y, int64_t nb) {
    float sumf = 0.0f;
    for (int64_t i = 0; i < nb; i++) {
        int sumi = 0;
        for (int j = 0; j < QK8_0; j++)
            sumi += x[i].qs[j] * y[i].qs[j];
        sumf += (float)sumi * (kw_f16_to_f32(x[i].d) * kw_f16_to_f32(y[i].d));
    }
    return sumf;
}

/* Q4_1 / Q5_1: sum (d q + m) * (dy qy) = d dy sum(q qy) + m * (dy sum qy), the last factor being
 * the s field of Q8_1. */
static float vec_dot_q4_1_q8_1(const block_q4_1 *x, const block_q8_1 *y, int64_t nb) {
    float sumf = 0.0f;
    for (int64_t i = 0; i < nb; i++) {
        int q[32];
        unpack_q4(x[i].qs, NULL, 0, q);
        sumf += (kw_f16_to_f32(x[i].d) * kw_f16_to_f32(y[i].d)) * (float)dot32(q, y[i].qs) +
                kw_f16_to_f32(x[i].m) * kw_f16_to_f32(y[i].s);
    }
    return sumf;
}

static float vec_dot_q5_1_q8_1(const block_q5_1 *x, const block_q8_1 *y, int64_t nb) {
    float sumf = 0.0f;
    for (int64_t i = 0; i < nb; i++) {
        int q[32];
        unpack_q4(x[i].qs, x[i].qh, 0, q);
        sumf += (kw_f16_to_f32(x[i].d) * kw_f16_to_f32(y[i].d)) * (float)dot32(q, y[i].qs) +
                kw_f16_to_f32(x[i].m) * kw_f16_to_f32(y[i].s);
    }
    return sumf;
}

/* ---------------------------------------------------------------- k-quants */

/* Q2_K: per sub-block of 16, scale * sum(q * q8); the mins go through the Q8_K block sums. */
static float vec_dot_q2_K_q8_K(const block_q2_K *x, const block_q8_K *y, int64_t nb) {
    float sumf = 0.0f;
    for (int64_t i = 0; i < nb; i++) {
        const uint8_t *q2 = x[i].qs;
        const int8_t *q8 = y[i].qs;
        int summs = 0;
        for (int j = 0; j < 16; j++)
            summs += y[i].bsums[j] * (x[i].scales[j] >> 4);
        const float dall = y[i].d * kw_f16_to_f32(x[i].d);
        const float dmin = y[i].d * kw_f16_to_f32(x[i].dmin);
        int isum = 0, is = 0;
        for (int half = 0; half < 2; half++, q2 += 32) {
            for (int shift = 0; shift < 8; shift += 2, q8 += 32) {
                for (int k = 0; k < 2; k++) {
                    const int d = x[i].scales[is++] & 0xF;
                    int isuml = 0;
                    for (int l = 16 * k; l < 16 * k + 16; l++)
                        isuml += q8[l] * ((q2[l] >> shift) & 3);
                    isum += d * isuml;
                }
            }
        }
        sumf += dall * (float)isum - dmin * (float)summs;
    }
    return sumf;
}

/* The generic Q3_K..Q6_K kernels: q[256] are the weight quants (signed, offsets applied) and
 * scale[j] the integer scale of the j-th group of `group` values; products are accumulated into 8
 * int lanes, which are scaled by d and added into the 8 float lanes `sums`. */
static void accumulate_lanes(const int8_t *q, const int8_t *q8, const int *scale, int group,
                             float d, float sums[8]) {
    int aux32[8] = {0};
    for (int j = 0; j < QK_K / group; j++) {
        for (int k = 0; k < group; k += 8, q += 8, q8 += 8)
            for (int l = 0; l < 8; l++)
                aux32[l] += scale[j] * (q8[l] * q[l]);
    }
    for (int l = 0; l < 8; l++)
        sums[l] += d * (float)aux32[l];
}

static float sum_lanes(const float sums[8], float sumf) {
    for (int l = 0; l < 8; l++)
        sumf += sums[l];
    return sumf;
}

static float vec_dot_q3_K_q8_K(const block_q3_K *x, const block_q8_K *y, int64_t nb) {
    float sums[8] = {0};
    for (int64_t i = 0; i < nb; i++) {
        /* value 128*half + 32*k + l: bits 2k..2k+1 of qs[32*half + l], minus 4 unless its high
         * bit (bit 4*half + k of hmask[l]) is set */
        int8_t q[QK_K];
        for (int half = 0; half < 2; half++) {
            for (int k = 0; k < 4; k++) {
                for (int l = 0; l < 32; l++) {
                    const int low = (x[i].qs[32 * half + l] >> (2 * k)) & 3;
                    const int high = (x[i].hmask[l] >> (4 * half + k)) & 1;
                    q[128 * half + 32 * k + l] = (int8_t)(low - (high ? 0 : 4));
                }
            }
        }
        int scale[16];
        for (int j = 0; j < 16; j++)
            scale[j] = quant_q3_K_scale(x[i].scales, j);
        accumulate_lanes(q, y[i].qs, scale, 16, kw_f16_to_f32(x[i].d) * y[i].d, sums);
    }
    return sum_lanes(sums, 0.0f);
}

/* Q4_K / Q5_K: q in [0, 31]; the mins enter as dmin * sum_j(bsums_j * m_(j/2)), subtracted. */
static float vec_dot_k4_like(const void *xv, const block_q8_K *y, int64_t nb, bool five_bit) {
    float sums[8] = {0};
    float sumf = 0.0f;
    for (int64_t i = 0; i < nb; i++) {
        const uint8_t *packed, *qs, *qh = NULL;
        uint16_t d16, dmin16;
        if (five_bit) {
            const block_q5_K *x = (const block_q5_K *)xv + i;
            packed = x->scales, qs = x->qs, qh = x->qh, d16 = x->d, dmin16 = x->dmin;
        } else {
            const block_q4_K *x = (const block_q4_K *)xv + i;
            packed = x->scales, qs = x->qs, d16 = x->d, dmin16 = x->dmin;
        }
        int8_t q[QK_K];
        for (int j = 0; j < QK_K; j += 64, qs += 32) {
            const int shift = j / 32; /* qh bits 2k, 2k+1 for the k-th 64 values */
            for (int l = 0; l < 32; l++) {
                q[j + l] = (int8_t)((qs[l] & 0xF) + (qh && (qh[l] >> shift) & 1 ? 16 : 0));
                q[j + l + 32] =
                    (int8_t)((qs[l] >> 4) + (qh && (qh[l] >> (shift + 1)) & 1 ? 16 : 0));
            }
        }
        int scale[8], sumi = 0;
        uint8_t mins[8];
        for (int j = 0; j < 8; j++) {
            uint8_t sc;
            quant_get_scale_min_k4(j, packed, &sc, &mins[j]);
            scale[j] = sc;
        }
        for (int j = 0; j < 16; j++)
            sumi += y[i].bsums[j] * mins[j / 2];
        accumulate_lanes(q, y[i].qs, scale, 32, kw_f16_to_f32(d16) * y[i].d, sums);
        sumf -= kw_f16_to_f32(dmin16) * y[i].d * (float)sumi;
    }
    return sum_lanes(sums, sumf);
}

static float vec_dot_q6_K_q8_K(const block_q6_K *x, const block_q8_K *y, int64_t nb) {
    float sums[8] = {0};
    for (int64_t i = 0; i < nb; i++) {
        int8_t q[QK_K];
        const uint8_t *ql = x[i].ql, *qh = x[i].qh;
        for (int j = 0; j < QK_K; j += 128, ql += 64, qh += 32) {
            for (int l = 0; l < 32; l++) {
                q[j + l + 0] = (int8_t)(((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32);
                q[j + l + 32] = (int8_t)(((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32);
                q[j + l + 64] = (int8_t)(((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32);
                q[j + l + 96] = (int8_t)(((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32);
            }
        }
        int scale[16];
        for (int j = 0; j < 16; j++)
            scale[j] = x[i].scales[j];
        accumulate_lanes(q, y[i].qs, scale, 16, kw_f16_to_f32(x[i].d) * y[i].d, sums);
    }
    return sum_lanes(sums, 0.0f);
}

float quant_vec_dot_q8_ref(uint32_t wtype, const void *wrow, const void *xq, int64_t n) {
    assert(n % ggml_type_get(wtype)->block_size == 0);
    switch (wtype) {
    case GGML_TYPE_Q4_0: return vec_dot_q4_0_q8_0(wrow, xq, n / QK4_0);
    case GGML_TYPE_Q5_0: return vec_dot_q5_0_q8_0(wrow, xq, n / QK5_0);
    case GGML_TYPE_Q8_0: return vec_dot_q8_0_q8_0(wrow, xq, n / QK8_0);
    case GGML_TYPE_Q4_1: return vec_dot_q4_1_q8_1(wrow, xq, n / QK4_1);
    case GGML_TYPE_Q5_1: return vec_dot_q5_1_q8_1(wrow, xq, n / QK5_1);
    case GGML_TYPE_Q2_K: return vec_dot_q2_K_q8_K(wrow, xq, n / QK_K);
    case GGML_TYPE_Q3_K: return vec_dot_q3_K_q8_K(wrow, xq, n / QK_K);
    case GGML_TYPE_Q4_K: return vec_dot_k4_like(wrow, xq, n / QK_K, false);
    case GGML_TYPE_Q5_K: return vec_dot_k4_like(wrow, xq, n / QK_K, true);
    case GGML_TYPE_Q6_K: return vec_dot_q6_K_q8_K(wrow, xq, n / QK_K);
    default:
        return quant_type_is_iquant(wtype) ? quant_vec_dot_iquant_ref(wtype, wrow, xq, n) : 0.0f;
    }
}
