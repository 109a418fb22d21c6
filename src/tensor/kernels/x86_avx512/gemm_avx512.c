/* gemm_avx512.c - the AVX-512 pieces of the float32 matrix product (kernels.h kernel_gemm,
 * driven by tensor/gemm.c): packing of op(A) into panels of MR rows and of op(B) into panels of
 * NR = 32 columns, and an MR x 32 register-blocked micro-kernel: per k, two vector loads of the B
 * panel and MR broadcasts of the A panel feed 2 x MR independent FMA chains (24 of the 32 zmm
 * registers), enough to cover the FMA latency on two pipes.
 *
 * Each C element is one accumulator lane summed over k in order, so results do not depend on how
 * the driver splits the work among threads.
 * Relies on: AVX-512 F (the file is compiled with the Makefile's ISA_AVX512 flags). Must not: be
 * reached before kernels.c has checked the CPU.
 */
#include "tensor/kernels/kernels.h"

#include <immintrin.h>
#include <string.h>

#define MR 12 /* micro_f32 names its 2 x MR accumulators one by one */
#define NR 32

/* ---------------------------------------------------------------- packing */

/* A panel of mr <= MR rows at a (row i, value p at a[i * lda + p]), transposed into
 * dst[p * MR + i], rows mr.. zero: 16 values of each row at a time through a 16x16 transpose. */
static void pack_a_rows(const float *a, int64_t lda, int mr, int64_t k, float *dst) {
    int64_t p = 0;
    if (mr == MR) {
        for (; p + 16 <= k; p += 16) {
            __m512 r[MR];
            for (int i = 0; i < MR; i++)
                r[i] = _mm512_loadu_ps(a + i * lda + p);
            float t[16 * MR] __attribute__((aligned(64)));
            for (int i = 0; i < MR; i++)
                _mm512_store_ps(t + 16 * i, r[i]);
            for (int q = 0; q < 16; q++)
                for (int i = 0; i < MR; i++)
                    dst[(p + q) * MR + i] = t[16 * i + q];
        }
    }
    for (; p < k; p++)
        for (int i = 0; i < MR; i++)
            dst[p * MR + i] = i < mr ? a[i * lda + p] : 0.0f;
}

/* A panel of mr <= MR rows of op(A) = Aᵀ: the MR values of one k are contiguous in memory. */
static void pack_a_cols(const float *a, int64_t lda, int mr, int64_t k, float *dst) {
    const __mmask16 m = (__mmask16)((1u << mr) - 1);
    for (int64_t p = 0; p < k; p++) {
        __m512 v = _mm512_maskz_loadu_ps(m, a + p * lda);
        _mm512_mask_storeu_ps(dst + p * MR, (__mmask16)((1u << MR) - 1), v);
    }
}

static void pack_a_f32(bool trans, const float *a, int64_t lda, int64_t m, int64_t k, void *dst) {
    float *d = dst;
    for (int64_t i0 = 0; i0 < m; i0 += MR, d += k * MR) {
        const int mr = m - i0 < MR ? (int)(m - i0) : MR;
        if (trans)
            pack_a_cols(a + i0, lda, mr, k, d);
        else
            pack_a_rows(a + i0 * lda, lda, mr, k, d);
    }
}

static inline __mmask16 lane_mask(int n) { /* the first n (0..16) lanes */
    return n >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n > 0 ? n : 0)) - 1);
}

/* A panel of nr <= NR columns of op(B) = B: the NR values of one k are contiguous. */
static void pack_b_rows(const float *b, int64_t ldb, int nr, int64_t k, float *dst) {
    const __mmask16 m0 = lane_mask(nr), m1 = lane_mask(nr - 16);
    for (int64_t p = 0; p < k; p++) {
        _mm512_store_ps(dst + p * NR, _mm512_maskz_loadu_ps(m0, b + p * ldb));
        _mm512_store_ps(dst + p * NR + 16, _mm512_maskz_loadu_ps(m1, b + p * ldb + 16));
    }
}

/* A panel of nr <= NR columns of op(B) = Bᵀ (column j, value p at b[j * ldb + p]). */
static void pack_b_cols(const float *b, int64_t ldb, int nr, int64_t k, float *dst) {
    for (int64_t p = 0; p < k; p++)
        for (int j = 0; j < NR; j++)
            dst[p * NR + j] = j < nr ? b[j * ldb + p] : 0.0f;
}

static void pack_b_f32(bool trans, const float *b, int64_t ldb, int64_t k, int64_t n, void *dst) {
    float *d = dst;
    for (int64_t j0 = 0; j0 < n; j0 += NR, d += k * NR) {
        const int nr = n - j0 < NR ? (int)(n - j0) : NR;
        if (trans)
            pack_b_cols(b + j0 * ldb, ldb, nr, k, d);
        else
            pack_b_rows(b + j0, ldb, nr, k, d);
    }
}

/* ---------------------------------------------------------------- micro-kernel */

/* Writes acc rows into C: c = acc, or beta * c + acc; rows < m, columns < n. */
#define STORE_ROW(i, acc0, acc1)                                                                   \
    do {                                                                                           \
        if ((i) < m) {                                                                             \
            float *cr = c + (i)*ldc;                                                               \
            __m512 o0 = acc0, o1 = acc1;                                                           \
            if (load_c) {                                                                          \
                o0 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m0, cr), o0);                       \
                o1 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m1, cr + 16), o1);                  \
            }                                                                                      \
            _mm512_mask_storeu_ps(cr, m0, o0);                                                     \
            _mm512_mask_storeu_ps(cr + 16, m1, o1);                                                \
        }                                                                                          \
    } while (0)

static void micro_f32(int64_t k, const void *ap, const void *bp, float *c, int64_t ldc, int m,
                      int n, float beta, bool load_c) {
    const float *a = ap, *b = bp;
    __m512 c00 = _mm512_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00,
           c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00, c60 = c00, c61 = c00,
           c70 = c00, c71 = c00, c80 = c00, c81 = c00, c90 = c00, c91 = c00, ca0 = c00, ca1 = c00,
           cb0 = c00, cb1 = c00;
    for (int64_t p = 0; p < k; p++, a += MR, b += NR) {
        const __m512 b0 = _mm512_load_ps(b), b1 = _mm512_load_ps(b + 16);
#define FMA_ROW(i, x0, x1)                                                                         \
    do {                                                                                           \
        const __m512 av = _mm512_set1_ps(a[i]);                                                    \
        x0 = _mm512_fmadd_ps(av, b0, x0);                                                          \
        x1 = _mm512_fmadd_ps(av, b1, x1);                                                          \
    } while (0)
        FMA_ROW(0, c00, c01);
        FMA_ROW(1, c10, c11);
        FMA_ROW(2, c20, c21);
        FMA_ROW(3, c30, c31);
        FMA_ROW(4, c40, c41);
        FMA_ROW(5, c50, c51);
        FMA_ROW(6, c60, c61);
        FMA_ROW(7, c70, c71);
        FMA_ROW(8, c80, c81);
        FMA_ROW(9, c90, c91);
        FMA_ROW(10, ca0, ca1);
        FMA_ROW(11, cb0, cb1);
#undef FMA_ROW
    }
    const __mmask16 m0 = lane_mask(n), m1 = lane_mask(n - 16);
    const __m512 vb = _mm512_set1_ps(beta);
    STORE_ROW(0, c00, c01);
    STORE_ROW(1, c10, c11);
    STORE_ROW(2, c20, c21);
    STORE_ROW(3, c30, c31);
    STORE_ROW(4, c40, c41);
    STORE_ROW(5, c50, c51);
    STORE_ROW(6, c60, c61);
    STORE_ROW(7, c70, c71);
    STORE_ROW(8, c80, c81);
    STORE_ROW(9, c90, c91);
    STORE_ROW(10, ca0, ca1);
    STORE_ROW(11, cb0, cb1);
}

const kernel_gemm kernel_gemm_avx512_f32 = {
    .isa = "avx512",
    .mr = MR,
    .nr = NR,
    .kc = 256,
    .mc = 192,
    .nc = 2048,
    .k_step = 1,
    .elem_bytes = 4,
    .pack_a = pack_a_f32,
    .pack_b = pack_b_f32,
    .micro = micro_f32,
};
