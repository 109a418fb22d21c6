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

#include "tensor/kernels/x86_avx512/gemm_common.h"

#include <immintrin.h>
#include <string.h>

#define MR 12 /* micro_f32 names its 2 x MR accumulators one by one */
#define NR 32

/* ---------------------------------------------------------------- packing */

/* Lines [0, w) (w <= 16) of a panel whose K values are contiguous per line (line l, value p at
 * x[l * ld + p]) into dst[p * width + l0 + l] for p < k: 16 values of 16 lines at a time through a
 * register transpose; lines w.. of the 16 are zero. */
static void pack_contiguous16(const float *x, int64_t ld, int w, int64_t k, float *dst, int width,
                              int l0) {
    const __mmask16 store = gemm_lane_mask(width - l0);
    /* a panel of 12 lines: full 16-float stores spill 4 floats into the next slot, which the next
     * store rewrites (masked stores are slow on some cores); the panel's last slot is masked */
    const bool spill = width - l0 < 16 && l0 == 0;
    for (int64_t p = 0; p < k; p += 16) {
        const __mmask16 km = gemm_lane_mask(k - p);
        __m512 r[16];
        for (int l = 0; l < 16; l++) {
            r[l] = l < w ? _mm512_maskz_loadu_ps(km, x + l * ld + p) : _mm512_setzero_ps();
            /* 16 short strided streams: ask for each line 4 steps ahead (a hint; never faults) */
            if (l < w && p + 80 < k) _mm_prefetch((const char *)(x + l * ld + p + 64), _MM_HINT_T0);
        }
        gemm_transpose16(r);
        const int64_t nq = k - p < 16 ? k - p : 16;
        for (int64_t q = 0; q < nq; q++) {
            float *d = dst + (p + q) * width + l0;
            if (spill && p + q + 1 < k)
                _mm512_storeu_ps(d, r[q]);
            else
                _mm512_mask_storeu_ps(d, store, r[q]);
        }
    }
}

/* A panel of mr <= MR rows at a (row i, value p at a[i * lda + p]) into dst[p * MR + i], rows
 * mr.. zero. */
static void pack_a_rows(const float *a, int64_t lda, int mr, int64_t k, float *dst) {
    pack_contiguous16(a, lda, mr, k, dst, MR, 0);
}

/* Rows [0, m) of op(A) = Aᵀ (row i, value p at a[p * lda + i]) into ceil(m / MR) panels: each
 * value p is one contiguous run of A's row p, read across all panels in turn (sequential reads;
 * panel by panel would touch each line in 48-byte slivers down the whole block). */
static void pack_a_cols(const float *a, int64_t lda, int64_t m, int64_t k, float *dst) {
    const int64_t np = (m + MR - 1) / MR, full_panels = m / MR;
    const __mmask16 row = (__mmask16)((1u << MR) - 1);
    for (int64_t p = 0; p < k; p++) {
        const float *src = a + p * lda;
        /* full 16-float stores: the 4 extra floats land in slot p + 1, rewritten next (masked
         * stores are slow on some cores); the panel's last slot takes a masked store */
        for (int64_t q = 0; q < np; q++) {
            const __m512 v =
                q < full_panels && q * MR + 16 <= m
                    ? _mm512_loadu_ps(src + q * MR)
                    : _mm512_maskz_loadu_ps(gemm_lane_mask(m - q * MR) & row, src + q * MR);
            float *d = dst + (q * k + p) * MR;
            if (p + 1 < k)
                _mm512_storeu_ps(d, v);
            else
                _mm512_mask_storeu_ps(d, row, v);
        }
    }
}

static void pack_a_f32(bool trans, const float *a, int64_t lda, int64_t m, int64_t k, void *dst) {
    if (trans) {
        pack_a_cols(a, lda, m, k, dst);
        return;
    }
    float *d = dst;
    for (int64_t i0 = 0; i0 < m; i0 += MR, d += k * MR)
        pack_a_rows(a + i0 * lda, lda, m - i0 < MR ? (int)(m - i0) : MR, k, d);
}

/* Columns [0, n) of op(B) = B (value p of column j at b[p * ldb + j]) into ceil(n / NR) panels,
 * each row p of B read across all panels in turn (as pack_a_cols). */
static void pack_b_rows(const float *b, int64_t ldb, int64_t n, int64_t k, float *dst) {
    const int64_t np = (n + NR - 1) / NR;
    for (int64_t p = 0; p < k; p++)
        for (int64_t q = 0; q < np; q++) {
            const float *src = b + p * ldb + q * NR;
            float *d = dst + (q * k + p) * NR;
            const int64_t w = n - q * NR; /* columns of this panel inside B */
            _mm512_store_ps(d, _mm512_maskz_loadu_ps(gemm_lane_mask(w), src));
            _mm512_store_ps(d + 16, w > 16 ? _mm512_maskz_loadu_ps(gemm_lane_mask(w - 16), src + 16)
                                           : _mm512_setzero_ps());
        }
}

/* A panel of nr <= NR columns of op(B) = Bᵀ (column j, value p at b[j * ldb + p]): two register
 * transposes of 16 columns. */
static void pack_b_cols(const float *b, int64_t ldb, int nr, int64_t k, float *dst) {
    pack_contiguous16(b, ldb, nr < 16 ? nr : 16, k, dst, NR, 0);
    pack_contiguous16(nr > 16 ? b + 16 * ldb : b, ldb, nr - 16, k, dst, NR, 16);
}

static void pack_b_f32(bool trans, const float *b, int64_t ldb, int64_t k, int64_t n, void *dst) {
    if (!trans) {
        pack_b_rows(b, ldb, n, k, dst);
        return;
    }
    float *d = dst;
    for (int64_t j0 = 0; j0 < n; j0 += NR, d += k * NR)
        pack_b_cols(b + j0 * ldb, ldb, n - j0 < NR ? (int)(n - j0) : NR, k, d);
}

/* ---------------------------------------------------------------- micro-kernel */

/* Writes acc rows into C: c = acc, or beta * c + acc; rows < m, columns < n. */
#define STORE_ROW(i, acc0, acc1)                                                                   \
    do {                                                                                           \
        if ((i) < m) {                                                                             \
            float *cr = c + (i)*ldc;                                                               \
            __m512 o0 = acc0, o1 = acc1;                                                           \
            if (n == NR) { /* plain stores: masked ones are slow on some cores */                  \
                if (load_c) {                                                                      \
                    o0 = _mm512_fmadd_ps(vb, _mm512_loadu_ps(cr), o0);                             \
                    o1 = _mm512_fmadd_ps(vb, _mm512_loadu_ps(cr + 16), o1);                        \
                }                                                                                  \
                _mm512_storeu_ps(cr, o0);                                                          \
                _mm512_storeu_ps(cr + 16, o1);                                                     \
            } else {                                                                               \
                if (load_c) {                                                                      \
                    o0 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m0, cr), o0);                   \
                    o1 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m1, cr + 16), o1);              \
                }                                                                                  \
                _mm512_mask_storeu_ps(cr, m0, o0);                                                 \
                _mm512_mask_storeu_ps(cr + 16, m1, o1);                                            \
            }                                                                                      \
        }                                                                                          \
    } while (0)

static void micro_f32(int64_t k, const void *ap, const void *bp, float *c, int64_t ldc, int m,
                      int n, float beta, bool load_c) {
    const float *a = ap, *b = bp;
    /* the tile's C lines are read or written only after the k loop: fetch them now (12 rows
     * ldc apart are no pattern the hardware prefetcher follows) */
    for (int i = 0; i < m; i++) {
        _mm_prefetch((const char *)(c + i * ldc), _MM_HINT_T0);
        if (n > 16) _mm_prefetch((const char *)(c + i * ldc + 16), _MM_HINT_T0);
    }
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
    const __mmask16 m0 = gemm_lane_mask(n), m1 = gemm_lane_mask(n - 16);
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
    .kc = 512,
    .mc = 96,
    .nc = 1024,
    .k_step = 1,
    .elem_bytes = 4,
    .pack_a = pack_a_f32,
    .pack_b = pack_b_f32,
    .micro = micro_f32,
};
