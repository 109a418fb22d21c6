/* quants.h - tensor storage types: block formats, dequantization, reference quantizers and the
 * plain C dot products every SIMD kernel is tested against.
 *
 * Types are the ggml ids of gguf/gguf.h. "Computable" types are those kaiwu can run a matmul over:
 * F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K.
 * All functions take n = number of values, a multiple of the type's block size (ggml_type_get).
 * Bit-exactness: dequantization reproduces ggml's to_float bit for bit; quantizers for F16, BF16,
 * Q8_0, Q4_0, Q4_1, Q5_0, Q5_1 reproduce ggml's quantize_row_*_ref byte for byte; the k-quant
 * quantizers follow ggml's reference algorithms (matched by RMSE).
 */
#ifndef KAIWU_QUANTS_H
#define KAIWU_QUANTS_H

#include "gguf/gguf.h"

/* True when kaiwu can compute with weights of this type. */
bool quant_type_can_compute(uint32_t type);
/* True when kaiwu can quantize float data to this type (quant_quantize_row). */
bool quant_type_can_quantize(uint32_t type);

/* Dequantizes n values of `type` at src into dst. */
void quant_dequantize_row(uint32_t type, const void *src, float *dst, int64_t n);

/* Quantizes n floats into `type` blocks at dst with the reference quantizer; imatrix (n weights,
 * may be NULL) weights the error the k-quant searches minimise. Returns bytes written. */
size_t quant_quantize_row(uint32_t type, const float *src, void *dst, int64_t n,
                          const float *imatrix);

/* Reference dot product: sum_i dequant(row)[i] * x[i], accumulated in float (block by block). */
float quant_vec_dot_f32_ref(uint32_t type, const void *row, const float *x, int64_t n);

/* ---------------------------------------------------------------- integer dot products
 *
 * ggml computes quantized matmuls by quantizing the activations to an 8-bit format first and
 * summing integer products block by block. These are the activation quantizers (identical to
 * quant_quantize_row with the same type) and the plain C integer dot product the SIMD kernels
 * must reproduce. */

/* Activation type a weight type is paired with: Q8_0 for Q4_0/Q5_0/Q8_0, Q8_1 for Q4_1/Q5_1,
 * Q8_K for Q2_K..Q6_K; GGML_TYPE_COUNT for any other type. */
uint32_t quant_vec_dot_type(uint32_t wtype);

/* Activation quantizers: n floats (multiple of 32, or 256 for Q8_K) into blocks at dst. */
void quant_quantize_row_q8_0(const float *src, void *dst, int64_t n);
void quant_quantize_row_q8_1(const float *src, void *dst, int64_t n);
void quant_quantize_row_q8_K(const float *src, void *dst, int64_t n);

/* Dot product of one weight row of wtype with activations xq already quantized to
 * quant_vec_dot_type(wtype), computed as ggml's scalar vec_dot does (integer sums per block,
 * times the scales, accumulated in float in the same order). 0 for types without a pairing. */
float quant_vec_dot_q8_ref(uint32_t wtype, const void *wrow, const void *xq, int64_t n);

#endif
