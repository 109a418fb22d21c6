/* gemm_bf16.c - the AVX512-BF16 pieces of the bf16 matrix product (tensor/gemm.h
 * tensor_sgemm_bf16; kernels.h kernel_gemm): float inputs rounded to bfloat16 while packing
 * (vcvtne2ps2bf16: nearest even), products summed in float32 by vdpbf16ps, which multiplies 16
 * pairs of bf16 values and adds both products into 16 float lanes: twice the multiply-adds of an
 * FMA per instruction.
 *
 * Packed layout: K in pairs; one 32-bit unit holds the bf16 values of k = 2p (low half) and
 * 2p + 1 (high half) of one row of op(A) or one column of op(B). An A panel is, per pair, MR = 12
 * units (one per row: broadcast by the kernel); a B panel, per pair, NR = 32 units (two vectors).
 * An odd K is padded with a zero value. The micro-kernel is the f32 one's shape: 12 x 32, 24
 * accumulators, each C element one lane summed over the pairs in order.
 * Relies on: AVX-512 F/BW and AVX512-BF16 (kernels.c checks the CPU; the Makefile's ISA_AVX512
 * flags). Must not: be reached without AVX512-BF16.
 */
#include "tensor/kernels/kernels.h"

#include "tensor/kernels/x86_avx512/gemm_common.h"

#include <immintrin.h>
#include <string.h>

#define MR 12 /* micro_bf16 names its 2 x MR accumulators one by one */
#define NR 32

/* 16 units from two rows of 16 floats: lo (k even) in the low halves, hi in the high halves. */
static inline __m512i units_of_rows(__m512 lo, __m512 hi) {
    const __m512i l = _mm512_cvtepu16_epi32((__m256i)_mm512_cvtneps_pbh(lo));
    const __m512i h = _mm512_cvtepu16_epi32((__m256i)_mm512_cvtneps_pbh(hi));
    return _mm512_or_si512(l, _mm512_slli_epi32(h, 16));
}

/* 16 units from 32 consecutive values x[0..n) (n <= 32, zero after): unit q = (x[2q], x[2q+1]). */
static inline __m512i units_of_run(const float *x, int64_t n) {
    const __m512 lo = _mm512_maskz_loadu_ps(gemm_lane_mask(n), x);
    const __m512 hi = _mm512_maskz_loadu_ps(gemm_lane_mask(n - 16), x + 16);
    return (__m512i)_mm512_cvtne2ps_pbh(hi, lo);
}

/* Lines [0, w) (w <= width) of a panel whose K values are contiguous per line (line l, value p at
 * x[l * ld + p]; op(A) rows, or op(B) = Bᵀ columns), into dst[pair * width + l], lines w.. zero:
 * 16 pairs of 16 lines at a time through a register transpose of the 32-bit units. */
static void pack_lines_contiguous(const float *x, int64_t ld, int w, int width, int64_t k,
                                  uint32_t *dst) {
    const int64_t pairs = (k + 1) / 2;
    for (int64_t p0 = 0; p0 < pairs; p0 += 16) {
        const int64_t np = pairs - p0 < 16 ? pairs - p0 : 16;
        for (int l0 = 0; l0 < width; l0 += 16) {
            __m512 r[16];
            for (int l = 0; l < 16; l++) {
                const float *line = x + (l0 + l) * ld + 2 * p0;
                r[l] = l0 + l < w ? _mm512_castsi512_ps(units_of_run(line, k - 2 * p0))
                                  : _mm512_setzero_ps();
                if (l0 + l < w && 2 * p0 + 96 < k)
                    _mm_prefetch((const char *)(line + 64), _MM_HINT_T0);
            }
            gemm_transpose16(r);
            const __mmask16 store = gemm_lane_mask(width - l0);
            for (int64_t q = 0; q < np; q++)
                _mm512_mask_storeu_epi32(dst + (p0 + q) * width + l0, store,
                                         _mm512_castps_si512(r[q]));
        }
    }
}

/* Lines [0, total) of panels of `width` lines whose lines are contiguous per K value (line l,
 * value p at x[p * ld + l]; op(A) = Aᵀ rows, or op(B) = B columns): each pair of K values is two
 * runs of x's rows p and p + 1, read across all panels in turn (sequential reads). */
static void pack_lines_strided(const float *x, int64_t ld, int64_t total, int width, int64_t k,
                               uint32_t *dst) {
    const int64_t pairs = (k + 1) / 2, np = (total + width - 1) / width;
    for (int64_t p = 0; p < k; p += 2) {
        const bool odd = p + 1 >= k; /* the last value of an odd K pairs with a zero */
        for (int64_t q = 0; q < np; q++) {
            uint32_t *d = dst + (q * pairs + p / 2) * width;
            for (int l0 = 0; l0 < width; l0 += 16) {
                const int64_t line = q * width + l0, w = total - line;
                __m512 lo = _mm512_setzero_ps(), hi = lo;
                if (w > 0) {
                    const __mmask16 m = gemm_lane_mask(w);
                    lo = _mm512_maskz_loadu_ps(m, x + p * ld + line);
                    if (!odd) hi = _mm512_maskz_loadu_ps(m, x + (p + 1) * ld + line);
                }
                _mm512_mask_storeu_epi32(d + l0, gemm_lane_mask(width - l0), units_of_rows(lo, hi));
            }
        }
    }
}

static void pack_a_bf16(bool trans, const float *a, int64_t lda, int64_t m, int64_t k, void *dst) {
    if (trans) {
        pack_lines_strided(a, lda, m, MR, k, dst);
        return;
    }
    uint32_t *d = dst;
    for (int64_t i0 = 0; i0 < m; i0 += MR, d += (k + 1) / 2 * MR)
        pack_lines_contiguous(a + i0 * lda, lda, m - i0 < MR ? (int)(m - i0) : MR, MR, k, d);
}

static void pack_b_bf16(bool trans, const float *b, int64_t ldb, int64_t k, int64_t n, void *dst) {
    if (!trans) {
        pack_lines_strided(b, ldb, n, NR, k, dst);
        return;
    }
    uint32_t *d = dst;
    for (int64_t j0 = 0; j0 < n; j0 += NR, d += (k + 1) / 2 * NR)
        pack_lines_contiguous(b + j0 * ldb, ldb, n - j0 < NR ? (int)(n - j0) : NR, NR, k, d);
}

/* Writes one row of acc into C: c = acc, or beta * c + acc; columns < n. */
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

static void micro_bf16(int64_t k, const void *ap, const void *bp, float *c, int64_t ldc, int m,
                       int n, float beta, bool load_c) {
    const uint32_t *a = ap;
    const __m512i *b = bp;
    /* the tile's C lines are used only after the k loop: fetch them now (gemm_avx512.c) */
    for (int i = 0; i < m; i++) {
        _mm_prefetch((const char *)(c + i * ldc), _MM_HINT_T0);
        if (n > 16) _mm_prefetch((const char *)(c + i * ldc + 16), _MM_HINT_T0);
    }
    __m512 c00 = _mm512_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00,
           c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00, c60 = c00, c61 = c00,
           c70 = c00, c71 = c00, c80 = c00, c81 = c00, c90 = c00, c91 = c00, ca0 = c00, ca1 = c00,
           cb0 = c00, cb1 = c00;
    const int64_t pairs = (k + 1) / 2;
    for (int64_t p = 0; p < pairs; p++, a += MR, b += 2) {
        const __m512bh b0 = (__m512bh)_mm512_load_si512(b), b1 = (__m512bh)_mm512_load_si512(b + 1);
#define DP_ROW(i, x0, x1)                                                                          \
    do {                                                                                           \
        const __m512bh av = (__m512bh)_mm512_set1_epi32((int)a[i]);                                \
        x0 = _mm512_dpbf16_ps(x0, av, b0);                                                         \
        x1 = _mm512_dpbf16_ps(x1, av, b1);                                                         \
    } while (0)
        DP_ROW(0, c00, c01);
        DP_ROW(1, c10, c11);
        DP_ROW(2, c20, c21);
        DP_ROW(3, c30, c31);
        DP_ROW(4, c40, c41);
        DP_ROW(5, c50, c51);
        DP_ROW(6, c60, c61);
        DP_ROW(7, c70, c71);
        DP_ROW(8, c80, c81);
        DP_ROW(9, c90, c91);
        DP_ROW(10, ca0, ca1);
        DP_ROW(11, cb0, cb1);
#undef DP_ROW
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

const kernel_gemm kernel_gemm_avx512_bf16 = {
    .isa = "avx512bf16",
    .mr = MR,
    .nr = NR,
    .kc = 512,
    .mc = 192,
    .nc = 1024,
    .k_step = 2,
    .elem_bytes = 2,
    .pack_a = pack_a_bf16,
    .pack_b = pack_b_bf16,
    .micro = micro_bf16,
};
