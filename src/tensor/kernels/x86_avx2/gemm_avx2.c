/* gemm_avx2.c - the AVX2/FMA pieces of the float32 matrix product (kernels.h kernel_gemm, driven
 * by tensor/gemm.c): packing of op(A) into panels of MR = 6 rows and of op(B) into panels of
 * NR = 16 columns, and a 6 x 16 micro-kernel (12 ymm accumulators, 2 B vectors, 1 broadcast: 15
 * of the 16 registers). Also the bf16 variant for CPUs without AVX512-BF16: the same kernel on
 * panels whose values are rounded to bfloat16 while packing (products of bf16 values are exact in
 * float32, so this is the bf16 reference's arithmetic with the kernel's summation order).
 *
 * Each C element is one accumulator lane summed over k in order, so results do not depend on how
 * the driver splits the work among threads.
 * Relies on: AVX2 and FMA (the file is compiled with ISA_AVX2). Must not: be reached before
 * kernels.c has checked the CPU.
 */
#include "tensor/kernels/kernels.h"

#include <immintrin.h>

#define MR 6 /* micro_f32 names its 2 x MR accumulators one by one */
#define NR 16

/* ---------------------------------------------------------------- packing */

/* The integer lane mask of the first n (<= 8; n <= 0: none) lanes. */
static inline __m256i lane_mask(int n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

/* Transposes the 8 x 8 floats of r in place (r[i] lane q -> r[q] lane i). */
static inline void transpose8(__m256 r[8]) {
    __m256 t[8];
    for (int i = 0; i < 8; i += 2) {
        t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int i = 0; i < 8; i += 4) {
        r[i] = _mm256_shuffle_ps(t[i], t[i + 2], 0x44);
        r[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], 0xEE);
        r[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0x44);
        r[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
    }
    for (int i = 0; i < 4; i++) {
        t[i] = _mm256_permute2f128_ps(r[i], r[i + 4], 0x20);
        t[i + 4] = _mm256_permute2f128_ps(r[i], r[i + 4], 0x31);
    }
    for (int i = 0; i < 8; i++)
        r[i] = t[i];
}

/* Lines [0, w) (w <= 8) of a panel whose K values are contiguous per line (line l, value p at
 * x[l * ld + p]) into dst[p * width + l0 + l] for p < k (width - l0 >= 8 or the panel's last
 * lines: only min(8, width - l0) are stored): 8 values of 8 lines at a time through a register
 * transpose; lines w.. of the 8 are zero. */
static void pack_contiguous8(const float *x, int64_t ld, int w, int64_t k, float *dst, int width,
                             int l0) {
    const int ns = width - l0 < 8 ? width - l0 : 8;
    const __m256i store = lane_mask(ns);
    const bool spill = ns < 8 && l0 == 0;
    for (int64_t p = 0; p < k; p += 8) {
        const __m256i km = lane_mask(k - p < 8 ? (int)(k - p) : 8);
        __m256 r[8];
        for (int l = 0; l < 8; l++) {
            r[l] = l < w ? _mm256_maskload_ps(x + l * ld + p, km) : _mm256_setzero_ps();
            if (l < w && p + 40 < k) _mm_prefetch((const char *)(x + l * ld + p + 32), _MM_HINT_T0);
        }
        transpose8(r);
        const int64_t nq = k - p < 8 ? k - p : 8;
        for (int64_t q = 0; q < nq; q++) {
            float *d = dst + (p + q) * width + l0;
            /* a 6-line panel: a full 8-float store spills into the next slot, which the next store
             * rewrites (vmaskmovps stores are slow); the panel's last slot is masked */
            if (spill && p + q + 1 < k)
                _mm256_storeu_ps(d, r[q]);
            else
                _mm256_maskstore_ps(d, store, r[q]);
        }
    }
}

/* A panel of mr <= MR rows at a (row i, value p at a[i * lda + p]) into dst[p * MR + i], rows
 * mr.. zero: the register transpose stores 6 of its 8 lanes. */
static void pack_a_rows(const float *a, int64_t lda, int mr, int64_t k, float *dst) {
    pack_contiguous8(a, lda, mr, k, dst, MR, 0);
}

/* Rows [0, m) of op(A) = Aᵀ (row i, value p at a[p * lda + i]) into ceil(m / MR) panels, each
 * row p of A read across all panels in turn (sequential reads); full 8-float stores spill into
 * the next slot, rewritten next, except a panel's last slot. */
static void pack_a_cols(const float *a, int64_t lda, int64_t m, int64_t k, float *dst) {
    const int64_t np = (m + MR - 1) / MR;
    const __m256i row = lane_mask(MR);
    for (int64_t p = 0; p < k; p++) {
        const float *src = a + p * lda;
        for (int64_t q = 0; q < np; q++) {
            const int64_t w = m - q * MR;
            const __m256 v =
                w >= 8 ? _mm256_loadu_ps(src + q * MR)
                       : _mm256_maskload_ps(src + q * MR, lane_mask((int)(w < MR ? w : MR)));
            float *d = dst + (q * k + p) * MR;
            if (p + 1 < k)
                _mm256_storeu_ps(d, v);
            else
                _mm256_maskstore_ps(d, row, v);
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
            if (w >= NR) {
                _mm256_store_ps(d, _mm256_loadu_ps(src));
                _mm256_store_ps(d + 8, _mm256_loadu_ps(src + 8));
            } else {
                _mm256_store_ps(d, _mm256_maskload_ps(src, lane_mask((int)w)));
                _mm256_store_ps(d + 8, w > 8 ? _mm256_maskload_ps(src + 8, lane_mask((int)w - 8))
                                             : _mm256_setzero_ps());
            }
        }
}

/* A panel of nr <= NR columns of op(B) = Bᵀ (column j, value p at b[j * ldb + p]): two register
 * transposes of 8 columns. */
static void pack_b_cols(const float *b, int64_t ldb, int nr, int64_t k, float *dst) {
    pack_contiguous8(b, ldb, nr < 8 ? nr : 8, k, dst, NR, 0);
    pack_contiguous8(nr > 8 ? b + 8 * ldb : b, ldb, nr - 8, k, dst, NR, 8);
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

/* x rounded to bfloat16 and back, 8 at a time, as kw_f32_to_bf16 rounds (nearest even; a NaN
 * stays a quiet NaN). */
static inline __m256 round_bf16(__m256 x) {
    const __m256i u = _mm256_castps_si256(x);
    const __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(1));
    const __m256i r = _mm256_add_epi32(u, _mm256_add_epi32(lsb, _mm256_set1_epi32(0x7FFF)));
    const __m256i nan = _mm256_cmpgt_epi32(_mm256_and_si256(u, _mm256_set1_epi32(0x7FFFFFFF)),
                                           _mm256_set1_epi32(0x7F800000));
    const __m256i q = _mm256_or_si256(u, _mm256_set1_epi32(0x00400000));
    return _mm256_castsi256_ps(
        _mm256_and_si256(_mm256_blendv_epi8(r, q, nan), _mm256_set1_epi32((int)0xFFFF0000u)));
}

/* Rounds n packed floats in place (n a multiple of 8: whole panels of k x MR or k x NR, k x 6 is
 * a multiple of 8 only for even k, so the last 1..7 go one by one). */
static void round_panels(float *p, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(p + i, round_bf16(_mm256_loadu_ps(p + i)));
    if (i < n) {
        float t[8] __attribute__((aligned(32))) = {0};
        for (int64_t j = i; j < n; j++)
            t[j - i] = p[j];
        _mm256_store_ps(t, round_bf16(_mm256_load_ps(t)));
        for (int64_t j = i; j < n; j++)
            p[j] = t[j - i];
    }
}

static void pack_a_bf16(bool trans, const float *a, int64_t lda, int64_t m, int64_t k, void *dst) {
    pack_a_f32(trans, a, lda, m, k, dst);
    round_panels(dst, (m + MR - 1) / MR * MR * k);
}

static void pack_b_bf16(bool trans, const float *b, int64_t ldb, int64_t k, int64_t n, void *dst) {
    pack_b_f32(trans, b, ldb, k, n, dst);
    round_panels(dst, (n + NR - 1) / NR * NR * k);
}

/* ---------------------------------------------------------------- micro-kernel */

/* Writes one row of acc into C: c = acc, or beta * c + acc; columns < n. */
#define STORE_ROW(i, acc0, acc1)                                                                   \
    do {                                                                                           \
        if ((i) < m) {                                                                             \
            float *cr = c + (i)*ldc;                                                               \
            __m256 o0 = acc0, o1 = acc1;                                                           \
            if (n == NR) { /* plain stores: vmaskmovps stores are slow on some cores */            \
                if (load_c) {                                                                      \
                    o0 = _mm256_fmadd_ps(vb, _mm256_loadu_ps(cr), o0);                             \
                    o1 = _mm256_fmadd_ps(vb, _mm256_loadu_ps(cr + 8), o1);                         \
                }                                                                                  \
                _mm256_storeu_ps(cr, o0);                                                          \
                _mm256_storeu_ps(cr + 8, o1);                                                      \
            } else {                                                                               \
                if (load_c) {                                                                      \
                    o0 = _mm256_fmadd_ps(vb, _mm256_maskload_ps(cr, m0), o0);                      \
                    o1 = _mm256_fmadd_ps(vb, _mm256_maskload_ps(cr + 8, m1), o1);                  \
                }                                                                                  \
                _mm256_maskstore_ps(cr, m0, o0);                                                   \
                _mm256_maskstore_ps(cr + 8, m1, o1);                                               \
            }                                                                                      \
        }                                                                                          \
    } while (0)

static void micro_f32(int64_t k, const void *ap, const void *bp, float *c, int64_t ldc, int m,
                      int n, float beta, bool load_c) {
    const float *a = ap, *b = bp;
    /* the tile's C lines are used only after the k loop: fetch them now (rows ldc apart are no
     * pattern the hardware prefetcher follows) */
    for (int i = 0; i < m; i++)
        _mm_prefetch((const char *)(c + i * ldc), _MM_HINT_T0);
    __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00,
           c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
    for (int64_t p = 0; p < k; p++, a += MR, b += NR) {
        const __m256 b0 = _mm256_load_ps(b), b1 = _mm256_load_ps(b + 8);
#define FMA_ROW(i, x0, x1)                                                                         \
    do {                                                                                           \
        const __m256 av = _mm256_broadcast_ss(a + (i));                                            \
        x0 = _mm256_fmadd_ps(av, b0, x0);                                                          \
        x1 = _mm256_fmadd_ps(av, b1, x1);                                                          \
    } while (0)
        FMA_ROW(0, c00, c01);
        FMA_ROW(1, c10, c11);
        FMA_ROW(2, c20, c21);
        FMA_ROW(3, c30, c31);
        FMA_ROW(4, c40, c41);
        FMA_ROW(5, c50, c51);
#undef FMA_ROW
    }
    const __m256i m0 = lane_mask(n), m1 = lane_mask(n - 8);
    const __m256 vb = _mm256_set1_ps(beta);
    STORE_ROW(0, c00, c01);
    STORE_ROW(1, c10, c11);
    STORE_ROW(2, c20, c21);
    STORE_ROW(3, c30, c31);
    STORE_ROW(4, c40, c41);
    STORE_ROW(5, c50, c51);
}

const kernel_gemm kernel_gemm_avx2_f32 = {
    .isa = "avx2",
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

const kernel_gemm kernel_gemm_avx2_bf16 = {
    .isa = "avx2-bf16emu",
    .mr = MR,
    .nr = NR,
    .kc = 512,
    .mc = 96,
    .nc = 1024,
    .k_step = 1,
    .elem_bytes = 4,
    .pack_a = pack_a_bf16,
    .pack_b = pack_b_bf16,
    .micro = micro_f32,
};
