/* gemm.h - float32 general matrix products for training (and any f32 work): the contract shared by
 * the plain C reference and the per-ISA kernels behind it.
 *
 *     C (M x N) = beta * C + op(A) (M x K) · op(B) (K x N)
 *
 * Row-major; op(X) is X or its transpose as trans_a / trans_b say; lda, ldb, ldc are row strides
 * in elements (of A and B as stored, before op). beta 0 means C is written, never read (it may
 * hold NaN). A training step needs three forms of one linear layer y = x · Wᵀ (x: T x n_in,
 * W: n_out x n_in):
 *   forward   y = x · Wᵀ     (false, true,  T,     n_out, n_in,  x,  n_in,  W, n_in, 0, y)
 *   input    dx += dy · W    (false, false, T,     n_in,  n_out, dy, n_out, W, n_in, 1, dx)
 *   weight   dW += dyᵀ · x   (true,  false, n_out, n_in,  T,     dy, n_out, x, n_in, 1, dW)
 * Results are deterministic for a given thread count and ISA path (each C element is summed in
 * one fixed order); the reference sums k = 0..K-1 in order, in float32.
 * Nothing here allocates per call: the packing buffers are the calling thread's, grown when a
 * call needs more (policy in gemm.c).
 *
 * The bf16 variant has the same contract with every input value rounded to bfloat16 (round to
 * nearest even) before it is multiplied, products summed in float32: half the bytes per value
 * packed and, with AVX512-BF16 (vdpbf16ps), twice the multiply-adds per instruction. Its results
 * differ from the f32 product by the rounding of the inputs (about 2^-9 relative per value);
 * whether a training run keeps its loss curve with it is for the trainer to measure.
 */
#ifndef KAIWU_GEMM_H
#define KAIWU_GEMM_H

#include <stdbool.h>
#include <stdint.h>

#include "base/base.h"

/* The product above, split among pool's threads (pool NULL: the calling thread only), with the
 * fastest kernel this CPU has (KAIWU_ISA=ref forces the reference). */
void tensor_sgemm(kw_pool *pool, bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K,
                  const float *A, int64_t lda, const float *B, int64_t ldb, float beta, float *C,
                  int64_t ldc);

/* The plain C reference of the same contract, one thread: the twin every kernel is tested
 * against (tests/unit/test_gemm.c). */
void tensor_sgemm_ref(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const float *A,
                      int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc);

/* The bf16 variant (above): vdpbf16ps on AVX512-BF16, elsewhere the f32 kernels on inputs rounded
 * to bf16 while packing (KAIWU_ISA=ref: its reference, split by rows). */
void tensor_sgemm_bf16(kw_pool *pool, bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K,
                       const float *A, int64_t lda, const float *B, int64_t ldb, float beta,
                       float *C, int64_t ldc);

/* The bf16 variant's reference: tensor_sgemm_ref with each input value rounded to bf16. Its
 * results are not the kernels' bits (vdpbf16ps sums pairs of products, flushes subnormals). */
void tensor_sgemm_bf16_ref(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K,
                           const float *A, int64_t lda, const float *B, int64_t ldb, float beta,
                           float *C, int64_t ldc);

/* The blocked product with the pieces g (tensor/kernels/kernels.h: kernels_gemm_isa), for tests
 * and benchmarks comparing ISAs; g NULL runs tensor_sgemm_ref by row chunks on the pool. */
struct kernel_gemm;
void tensor_sgemm_with(const struct kernel_gemm *g, kw_pool *pool, bool trans_a, bool trans_b,
                       int64_t M, int64_t N, int64_t K, const float *A, int64_t lda, const float *B,
                       int64_t ldb, float beta, float *C, int64_t ldc);

#endif
