/* quants.c - tensor storage types: the type dispatch of quants.h, the plain float types and the
 * 32-value block formats (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q8_1) plus the Q8_K activation quantizer.
 *
 * This is the reference every SIMD kernel is tested against, so it is written for clarity and
 * for bit-exactness with ggml: dequantizers reproduce ggml's to_float bit for bit, quantizers its
 * quantize_row_*_ref byte for byte. The float expressions keep ggml's operation order on purpose
 * (the build uses -std=c17, so the compiler does not contract them into FMAs).
 * K-quants live in quants_k.c, the integer dot products in quants_dot.c.
 * Relies on: blocks.h (layouts), base/base.h (half floats). Must not: use CPU-specific code,
 * allocate, or fail (callers pass n a multiple of the block size, checked by assert).
 */
#include "tensor/quants.h"

#include "tensor/blocks.h"
#include "tensor/quants_i.h"

#include <math.h>
#include <string.h>

/* ---------------------------------------------------------------- type properties */

bool quant_type_can_compute(uint32_t type) {
    switch (type) {
    case GGML_TYPE_F32:
    case GGML_TYPE_F16:
    case GGML_TYPE_BF16:
    case GGML_TYPE_Q8_0:
    case GGML_TYPE_Q4_0:
    case GGML_TYPE_Q4_1:
    case GGML_TYPE_Q5_0:
    case GGML_TYPE_Q5_1:
    case GGML_TYPE_Q2_K:
    case GGML_TYPE_Q3_K:
    case GGML_TYPE_Q4_K:
    case GGML_TYPE_Q5_K:
    case GGML_TYPE_Q6_K: return true;
    default: return quant_type_is_iquant(type);
    }
}

bool quant_type_can_quantize(uint32_t type) {
    /* every computable type but the i-quants kaiwu does not write, plus the two activation
     * formats */
    return (quant_type_can_compute(type) && !quant_type_is_iquant(type)) ||
           quant_iquant_can_quantize(type) || type == GGML_TYPE_Q8_1 || type == GGML_TYPE_Q8_K;
}

/* ---------------------------------------------------------------- 32-value blocks: dequantize */

static void dequantize_row_q4_0(const block_q4_0 *x, float *y, int64_t n) {
    for (int64_t i = 0; i < n / QK4_0; i++) {
        const float d = kw_f16_to_f32(x[i].d);
        for (int j = 0; j < QK4_0 / 2; j++) {
            const int x0 = (x[i].qs[j] & 0x0F) - 8;
            const int x1 = (x[i].qs[j] >> 4) - 8;
            y[i * QK4_0 + j] = (float)x0 * d;
            y[i * QK4_0 + j + QK4_0 / 2] = (float)x1 * d;
        }
    }
}

static void dequantize_row_q4_1(const block_q4_1 *x, float *y, int64_t n) {
    for (int64_t i = 0; i < n / QK4_1; i++) {
        const float d = kw_f16_to_f32(x[i].d);
        const float m = kw_f16_to_f32(x[i].m);
        for (int j = 0; j < QK4_1 / 2; j++) {
            const int x0 = x[i].qs[j] & 0x0F;
            const int x1 = x[i].qs[j] >> 4;
            y[i * QK4_1 + j] = (float)x0 * d + m;
            y[i * QK4_1 + j + QK4_1 / 2] = (float)x1 * d + m;
        }
    }
}

static uint32_t load_u32_le(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void dequantize_row_q5_0(const block_q5_0 *x, float *y, int64_t n) {
    for (int64_t i = 0; i < n / QK5_0; i++) {
        const float d = kw_f16_to_f32(x[i].d);
        const uint32_t qh = load_u32_le(x[i].qh);
        for (int j = 0; j < QK5_0 / 2; j++) {
            const int h0 = (int)((qh >> j) & 1) << 4;
            const int h1 = (int)((qh >> (j + 16)) & 1) << 4;
            const int x0 = ((x[i].qs[j] & 0x0F) | h0) - 16;
            const int x1 = ((x[i].qs[j] >> 4) | h1) - 16;
            y[i * QK5_0 + j] = (float)x0 * d;
            y[i * QK5_0 + j + QK5_0 / 2] = (float)x1 * d;
        }
    }
}

static void dequantize_row_q5_1(const block_q5_1 *x, float *y, int64_t n) {
    for (int64_t i = 0; i < n / QK5_1; i++) {
        const float d = kw_f16_to_f32(x[i].d);
        const float m = kw_f16_to_f32(x[i].m);
        const uint32_t qh = load_u32_le(x[i].qh);
        for (int j = 0; j < QK5_1 / 2; j++) {
            const int h0 = (int)((qh >> j) & 1) << 4;
            const int h1 = (int)((qh >> (j + 16)) & 1) << 4;
            const int x0 = (x[i].qs[j] & 0x0F) | h0;
            const int x1 = (x[i].qs[j] >> 4) | h1;
            y[i * QK5_1 + j] = (float)x0 * d + m;
            y[i * QK5_1 + j + QK5_1 / 2] = (float)x1 * d + m;
        }
    }
}

static void dequantize_row_q8_0(const block_q8_0 *x, float *y, int64_t n) {
    for (int64_t i = 0; i < n / QK8_0; i++) {
        const float d = kw_f16_to_f32(x[i].d);
        for (int j = 0; j < QK8_0; j++)
            y[i * QK8_0 + j] = (float)x[i].qs[j] * d;
    }
}

static void dequantize_row_q8_1(const block_q8_1 *x, float *y, int64_t n) {
    for (int64_t i = 0; i < n / QK8_1; i++) {
        const float d = kw_f16_to_f32(x[i].d);
        for (int j = 0; j < QK8_1; j++)
            y[i * QK8_1 + j] = (float)x[i].qs[j] * d;
    }
}

static void dequantize_row_q8_K(const block_q8_K *x, float *y, int64_t n) {
    for (int64_t i = 0; i < n / QK_K; i++)
        for (int j = 0; j < QK_K; j++)
            y[i * QK_K + j] = x[i].d * (float)x[i].qs[j];
}

/* ---------------------------------------------------------------- 32-value blocks: quantize */

/* (int)v truncated toward zero, clamped to [lo, hi]; NaN gives lo. For the in-range values that
 * finite weights produce this is exactly ggml's (int8_t)v cast; the clamp only keeps inf/NaN in
 * a user's file from becoming undefined behaviour. */
static inline int trunc_clamp(float v, int lo, int hi) {
    if (!(v >= (float)lo)) return lo;
    if (v >= (float)hi + 1.0f) return hi;
    return (int)v;
}

/* roundf (half away from zero), clamped to int8 the same way. */
static inline int8_t round_i8(float v) {
    if (!(v >= -128.0f)) return -128;
    if (v > 127.0f) return 127;
    return (int8_t)roundf(v);
}

/* The value of largest magnitude in x[0..n) (the first one on ties), and its magnitude. */
static float signed_absmax(const float *x, int n, float *amax_out) {
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < n; j++) {
        if (amax < fabsf(x[j])) {
            amax = fabsf(x[j]);
            max = x[j];
        }
    }
    *amax_out = amax;
    return max;
}

static void minmax(const float *x, int n, float *min_out, float *max_out) {
    float min = x[0], max = x[0];
    for (int j = 1; j < n; j++) {
        if (x[j] < min) min = x[j];
        if (x[j] > max) max = x[j];
    }
    *min_out = min;
    *max_out = max;
}

/* Symmetric 4-bit: the largest-magnitude value maps to -8 exactly, so its sign picks which end
 * of the asymmetric range [-8, 7] is used. */
static void quantize_row_q4_0(const float *x, block_q4_0 *y, int64_t n) {
    for (int64_t i = 0; i < n / QK4_0; i++, x += QK4_0) {
        float amax;
        const float max = signed_absmax(x, QK4_0, &amax);
        const float d = max / -8.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[i].d = kw_f32_to_f16(d);
        for (int j = 0; j < QK4_0 / 2; j++) {
            /* +8.5 then truncation = round half up of x*id + 8 (the operand is >= 0) */
            const int q0 = trunc_clamp(x[j] * id + 8.5f, 0, 15);
            const int q1 = trunc_clamp(x[j + QK4_0 / 2] * id + 8.5f, 0, 15);
            y[i].qs[j] = (uint8_t)(q0 | (q1 << 4));
        }
    }
}

static void quantize_row_q4_1(const float *x, block_q4_1 *y, int64_t n) {
    for (int64_t i = 0; i < n / QK4_1; i++, x += QK4_1) {
        float min, max;
        minmax(x, QK4_1, &min, &max);
        const float d = (max - min) / 15.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[i].d = kw_f32_to_f16(d);
        y[i].m = kw_f32_to_f16(min);
        for (int j = 0; j < QK4_1 / 2; j++) {
            const int q0 = trunc_clamp((x[j] - min) * id + 0.5f, 0, 15);
            const int q1 = trunc_clamp((x[j + QK4_1 / 2] - min) * id + 0.5f, 0, 15);
            y[i].qs[j] = (uint8_t)(q0 | (q1 << 4));
        }
    }
}

/* Stores the 5th bits of the 32 quants of a Q5 block (bit j of qh = bit 4 of value j). */
static void store_qh(uint8_t qh_out[4], const int q[32]) {
    uint32_t qh = 0;
    for (int j = 0; j < 32; j++)
        qh |= (uint32_t)((q[j] >> 4) & 1) << j;
    for (int b = 0; b < 4; b++)
        qh_out[b] = (uint8_t)(qh >> (8 * b));
}

static void quantize_row_q5_0(const float *x, block_q5_0 *y, int64_t n) {
    for (int64_t i = 0; i < n / QK5_0; i++, x += QK5_0) {
        float amax;
        const float max = signed_absmax(x, QK5_0, &amax);
        const float d = max / -16.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[i].d = kw_f32_to_f16(d);
        int q[QK5_0];
        for (int j = 0; j < QK5_0; j++)
            q[j] = trunc_clamp(x[j] * id + 16.5f, 0, 31);
        for (int j = 0; j < QK5_0 / 2; j++)
            y[i].qs[j] = (uint8_t)((q[j] & 0x0F) | ((q[j + QK5_0 / 2] & 0x0F) << 4));
        store_qh(y[i].qh, q);
    }
}

static void quantize_row_q5_1(const float *x, block_q5_1 *y, int64_t n) {
    for (int64_t i = 0; i < n / QK5_1; i++, x += QK5_1) {
        float min, max;
        minmax(x, QK5_1, &min, &max);
        const float d = (max - min) / 31.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[i].d = kw_f32_to_f16(d);
        y[i].m = kw_f32_to_f16(min);
        int q[QK5_1];
        for (int j = 0; j < QK5_1; j++)
            q[j] = trunc_clamp((x[j] - min) * id + 0.5f, 0, 31);
        for (int j = 0; j < QK5_1 / 2; j++)
            y[i].qs[j] = (uint8_t)((q[j] & 0x0F) | ((q[j + QK5_1 / 2] & 0x0F) << 4));
        store_qh(y[i].qh, q);
    }
}

void quant_quantize_row_q8_0(const float *src, void *dst, int64_t n) {
    assert(n % QK8_0 == 0);
    block_q8_0 *y = dst;
    for (int64_t i = 0; i < n / QK8_0; i++, src += QK8_0) {
        float amax;
        signed_absmax(src, QK8_0, &amax);
        const float d = amax / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[i].d = kw_f32_to_f16(d);
        for (int j = 0; j < QK8_0; j++)
            y[i].qs[j] = round_i8(src[j] * id);
    }
}

/* As Q8_0, plus s = d * (sum of the quants) for the min term of Q4_1 / Q5_1 dot products. */
void quant_quantize_row_q8_1(const float *src, void *dst, int64_t n) {
    assert(n % QK8_1 == 0);
    block_q8_1 *y = dst;
    for (int64_t i = 0; i < n / QK8_1; i++, src += QK8_1) {
        float amax;
        signed_absmax(src, QK8_1, &amax);
        const float d = amax / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[i].d = kw_f32_to_f16(d);
        int sum = 0;
        for (int j = 0; j < QK8_1; j++) {
            y[i].qs[j] = round_i8(src[j] * id);
            sum += y[i].qs[j];
        }
        y[i].s = kw_f32_to_f16((float)sum * d);
    }
}

/* Q8_K: float32 scale chosen so the largest-magnitude value maps to -127 (clamped to 127 on the
 * other side), with per-16 sums of the quants for the k-quant min terms. */
void quant_quantize_row_q8_K(const float *src, void *dst, int64_t n) {
    assert(n % QK_K == 0);
    block_q8_K *y = dst;
    for (int64_t i = 0; i < n / QK_K; i++, src += QK_K) {
        float amax;
        const float max = signed_absmax(src, QK_K, &amax);
        memset(&y[i], 0, sizeof y[i]);
        if (amax == 0.0f) continue;
        const float iscale = -127.0f / max;
        for (int j = 0; j < QK_K; j++) {
            const int v = quant_nearest_int(iscale * src[j]);
            y[i].qs[j] = (int8_t)(v > 127 ? 127 : v < -128 ? -128 : v);
        }
        for (int j = 0; j < QK_K / 16; j++) {
            int sum = 0;
            for (int l = 0; l < 16; l++)
                sum += y[i].qs[16 * j + l];
            y[i].bsums[j] = (int16_t)sum;
        }
        y[i].d = 1.0f / iscale;
    }
}

/* ---------------------------------------------------------------- dispatch */

void quant_dequantize_row(uint32_t type, const void *src, float *dst, int64_t n) {
    assert(n % ggml_type_get(type)->block_size == 0);
    switch (type) {
    case GGML_TYPE_F32: memcpy(dst, src, (size_t)n * sizeof(float)); break;
    case GGML_TYPE_F16: {
        const uint16_t *h = src;
        for (int64_t i = 0; i < n; i++)
            dst[i] = kw_f16_to_f32(h[i]);
        break;
    }
    case GGML_TYPE_BF16: {
        const uint16_t *h = src;
        for (int64_t i = 0; i < n; i++)
            dst[i] = kw_bf16_to_f32(h[i]);
        break;
    }
    case GGML_TYPE_Q4_0: dequantize_row_q4_0(src, dst, n); break;
    case GGML_TYPE_Q4_1: dequantize_row_q4_1(src, dst, n); break;
    case GGML_TYPE_Q5_0: dequantize_row_q5_0(src, dst, n); break;
    case GGML_TYPE_Q5_1: dequantize_row_q5_1(src, dst, n); break;
    case GGML_TYPE_Q8_0: dequantize_row_q8_0(src, dst, n); break;
    case GGML_TYPE_Q8_1: dequantize_row_q8_1(src, dst, n); break;
    case GGML_TYPE_Q2_K: quant_dequantize_row_q2_K(src, dst, n); break;
    case GGML_TYPE_Q3_K: quant_dequantize_row_q3_K(src, dst, n); break;
    case GGML_TYPE_Q4_K: quant_dequantize_row_q4_K(src, dst, n); break;
    case GGML_TYPE_Q5_K: quant_dequantize_row_q5_K(src, dst, n); break;
    case GGML_TYPE_Q6_K: quant_dequantize_row_q6_K(src, dst, n); break;
    case GGML_TYPE_Q8_K: dequantize_row_q8_K(src, dst, n); break;
    default:
        if (quant_type_is_iquant(type)) {
            quant_dequantize_row_iquant(type, src, dst, n);
            break;
        }
        assert(!"quant_dequantize_row: unsupported type");
        break;
    }
}

size_t quant_quantize_row(uint32_t type, const float *src, void *dst, int64_t n,
                          const float *imatrix) {
    assert(quant_type_can_quantize(type) && n % ggml_type_get(type)->block_size == 0);
    switch (type) {
    case GGML_TYPE_F32: memcpy(dst, src, (size_t)n * sizeof(float)); break;
    case GGML_TYPE_F16: {
        uint16_t *h = dst;
        for (int64_t i = 0; i < n; i++)
            h[i] = kw_f32_to_f16(src[i]);
        break;
    }
    case GGML_TYPE_BF16: {
        uint16_t *h = dst;
        for (int64_t i = 0; i < n; i++)
            h[i] = kw_f32_to_bf16(src[i]);
        break;
    }
    case GGML_TYPE_Q4_0: quantize_row_q4_0(src, dst, n); break;
    case GGML_TYPE_Q4_1: quantize_row_q4_1(src, dst, n); break;
    case GGML_TYPE_Q5_0: quantize_row_q5_0(src, dst, n); break;
    case GGML_TYPE_Q5_1: quantize_row_q5_1(src, dst, n); break;
    case GGML_TYPE_Q8_0: quant_quantize_row_q8_0(src, dst, n); break;
    case GGML_TYPE_Q8_1: quant_quantize_row_q8_1(src, dst, n); break;
    case GGML_TYPE_Q8_K: quant_quantize_row_q8_K(src, dst, n); break;
    case GGML_TYPE_Q2_K: quant_quantize_row_q2_K(src, dst, n, imatrix); break;
    case GGML_TYPE_Q3_K: quant_quantize_row_q3_K(src, dst, n, imatrix); break;
    case GGML_TYPE_Q4_K: quant_quantize_row_q4_K(src, dst, n, imatrix); break;
    case GGML_TYPE_Q5_K: quant_quantize_row_q5_K(src, dst, n, imatrix); break;
    case GGML_TYPE_Q6_K: quant_quantize_row_q6_K(src, dst, n, imatrix); break;
    case GGML_TYPE_IQ4_NL:
    case GGML_TYPE_IQ4_XS:
    case GGML_TYPE_IQ3_S:
    case GGML_TYPE_IQ2_XS: quant_quantize_row_iquant(type, src, dst, n, imatrix); break;
    default: return 0;
    }
    return (size_t)ggml_row_bytes(type, n);
}

/* ---------------------------------------------------------------- float reference dot product */

float quant_vec_dot_f32_ref(uint32_t type, const void *row, const float *x, int64_t n) {
    const ggml_type_traits *t = ggml_type_get(type);
    assert((quant_type_can_quantize(type) || quant_type_can_compute(type)) &&
           n % t->block_size == 0);
    /* one chunk = one block (256 values for the plain types), dequantized on the stack */
    const int64_t chunk = t->block_size > 1 ? t->block_size : (n % QK_K == 0 ? QK_K : 1);
    const size_t chunk_bytes = (size_t)ggml_row_bytes(type, chunk);
    const uint8_t *p = row;
    float buf[QK_K];
    float sum = 0.0f;
    for (int64_t i = 0; i < n; i += chunk, p += chunk_bytes) {
        quant_dequantize_row(type, p, buf, chunk);
        for (int64_t j = 0; j < chunk; j++)
            sum += buf[j] * x[i + j];
    }
    return sum;
}
