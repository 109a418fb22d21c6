/* kernels.h - the matmul kernel table: per weight type, the activation format it is paired with,
 * the activation quantizer and the dot product of one weight row with 1..KERNEL_MAX_NT activation
 * rows. One table per ISA (reference C, AVX2, AVX-512, NEON); kernels_get() returns the best one
 * the CPU has, chosen once at first use.
 *
 * Each ISA lives in its own directory (kernels/<isa>/), compiled with its own -m flags, and only
 * ever reached through this table after run-time feature detection. An ISA fills the entries it
 * has a kernel for on top of the table below it (ref <- avx2 <- avx512), so a type without a SIMD
 * kernel keeps the reference one.
 * Relies on: tensor/quants.h (reference kernels), base/base.h (kw_cpu_get).
 */
#ifndef KAIWU_KERNELS_H
#define KAIWU_KERNELS_H

#include "gguf/gguf.h"

/* Weight rows are dotted with up to this many activation rows per call (prefill reuses each
 * loaded weight block across them). */
#define KERNEL_MAX_NT 4

/* s[t] = weight row w · activation row t, for t < nt (1..KERNEL_MAX_NT); activation row t starts
 * at x + t * x_stride bytes. n = values per row, a multiple of the weight type's block size. */
typedef void (*kernel_dot_fn)(int64_t n, const void *w, const void *x, size_t x_stride, int nt,
                              float *s);
/* Converts n floats into one activation row of the paired format (n a multiple of its block). */
typedef void (*kernel_quantize_fn)(const float *x, void *y, int64_t n);

/* ---- panels: weights repacked at load time, KERNEL_PANEL_ROWS rows interleaved ----
 * A panel holds the same blocks as KERNEL_PANEL_ROWS consecutive rows (same byte count), laid out
 * so one vector load brings the same 4 values of every row: a kernel multiplies it with one
 * token's 4 activation bytes broadcast, and so reuses each weight vector across a tile of tokens
 * and each activation load across the panel's rows. The last panel of a matrix is padded with
 * zero rows. A panel has the same bytes as its rows, except for k-quants, whose scales are
 * stored unpacked (Q4_K: 2368 instead of 2304 bytes per 256 values). Panel kernels pair with their
 * own activation formats (KERNEL_ACT_*, below). */
#define KERNEL_PANEL_ROWS 16
/* The most rows (consecutive panels) and tokens any panel kernel takes per call; each kernel says
 * its own (kernel_panel.rows_per_call, max_nt). */
#define KERNEL_PANEL_MAX_ROWS 32
#define KERNEL_PANEL_MAX_NT   8

/* Panel activation formats (act_type values beyond the ggml types): per row of n values, n int8
 * quants (the Q8_0 quants of each 32-value block, as the reference quantizer makes them), then
 * n/32 floats d (the Q8_0 block scale, f16-rounded), then n/32 int32 "init" = -offset * sum of the
 * block's quants, the weight type's unsigned offset (Q4_0: 8, Q5_0: 16, Q8_0: 128) taken out in
 * advance. The row is padded to a multiple of 64 bytes. */
#define KERNEL_ACT_PANEL_Q4_0 0x100u
#define KERNEL_ACT_PANEL_Q8_0 0x101u
#define KERNEL_ACT_PANEL_Q5_0 0x103u /* as Q4_0's, offset 16 */
/* For k-quant panels: n int8 quants and n/256 float scales exactly as quant_quantize_row_q8_K
 * makes them, then n/32 int16 sums of each 32 quants; padded to a multiple of 64 bytes. */
#define KERNEL_ACT_PANEL_Q8_K 0x102u
/* As KERNEL_ACT_PANEL_Q8_K but with n/16 int16 sums of each 16 quants (the Q8_K bsums; Q6_K
 * panels). */
#define KERNEL_ACT_PANEL_Q8_K16 0x104u

/* Bytes of one panel (KERNEL_PANEL_ROWS rows of n values) in p's layout. */
#define KERNEL_PANEL_BYTES(p, n) ((size_t)((n) / (p)->block) * (p)->block_bytes)

/* Repacks rows [0, nr) (nr <= KERNEL_PANEL_ROWS, rows row_bytes apart) of n values into one panel;
 * rows nr.. of the panel are zero. */
typedef void (*kernel_repack_fn)(const void *rows, size_t row_bytes, int nr, int64_t n,
                                 void *panel);
/* out[t * out_stride + r] = row r · activation row t, for t < nt (1..max_nt) and r < nr (1..
 * rows_per_call): rows 16.. are those of the next panel, which follows the first in memory. */
typedef void (*kernel_panel_fn)(int64_t n, const void *panel, const void *x, size_t x_stride,
                                int nt, float *out, size_t out_stride, int nr);

/* Dequantizes row r (< KERNEL_PANEL_ROWS) of a panel of n values into out. */
typedef void (*kernel_panel_row_fn)(const void *panel, int r, int64_t n, float *out);

typedef struct kernel_panel {
    uint32_t block;              /* values per block of the layout */
    uint32_t block_bytes;        /* bytes of one block of all KERNEL_PANEL_ROWS rows */
    uint32_t act_type;           /* a KERNEL_ACT_PANEL_* format */
    kernel_quantize_fn quantize; /* float -> act_type */
    kernel_repack_fn repack;
    kernel_panel_row_fn row;
    kernel_panel_fn dot; /* NULL: no panel layout for this type on this ISA */
    /* dot takes up to this many rows: KERNEL_PANEL_ROWS, or 2x (two consecutive panels: each
     * activation load then feeds twice the rows) */
    uint32_t rows_per_call;
    uint32_t max_nt; /* dot takes up to this many tokens (<= KERNEL_PANEL_MAX_NT) */
    /* Optional (NULL when the type's own dot is as fast): expand rewrites one panel of n values as
     * unsigned 8-bit weights in the Q8_0 panel layout (same scales, KERNEL_PANEL_EXPANDED_BYTES),
     * and expanded_dot (a dot of the same contract, taking this type's activations) multiplies
     * them: prefill then unpacks each panel once per chunk instead of once per token tile. */
    void (*expand)(const void *panel, int64_t n, void *out);
    kernel_panel_fn expanded_dot;
} kernel_panel;

/* Bytes of one panel of n values expanded by kernel_panel.expand. */
#define KERNEL_PANEL_EXPANDED_BYTES(n) ((size_t)((n) / 32) * 34 * KERNEL_PANEL_ROWS)

typedef struct kernel_entry {
    uint32_t act_type;           /* activation format: GGML_TYPE_Q8_0/Q8_1/Q8_K, or F32 (float) */
    kernel_quantize_fn quantize; /* float -> act_type; NULL when act_type is F32 */
    kernel_dot_fn dot;           /* NULL: the type cannot be multiplied */
    const char *isa;             /* which table the dot kernel came from ("ref", "avx2", ...) */
    kernel_panel panel;          /* repacked-weight kernels (only where they pay) */
} kernel_entry;

typedef enum kernel_isa {
    KERNEL_ISA_REF,
    KERNEL_ISA_AVX2,
    KERNEL_ISA_AVX512,
    KERNEL_ISA_NEON,
    KERNEL_ISA_COUNT
} kernel_isa;

/* Float kernels of attention over the KV cache (keys/values of one head, rows `stride` floats
 * apart). av adds into out (the caller zeroes it). */
typedef struct kernel_attn {
    /* scores[j * s_stride + p] = q_j · key p for nq queries q_j = q + j * q_stride of n values,
     * the keys stored transposed (value i of key p at kt[i * kt_stride + p]: the cache layout, so
     * keys run along vectors and no horizontal sums are needed), p < np */
    void (*qk)(const float *q, size_t q_stride, int nq, const float *kt, size_t kt_stride, int n,
               int np, float *scores, size_t s_stride);
    /* out_j[i] += sum_p w_j[p] * v_p[i] for nq weight rows w_j = w + j * w_stride and outputs
     * out_j = out + j * out_stride, v_p = v + p * v_stride, i < n, p < np */
    void (*av)(const float *w, size_t w_stride, int nq, const float *v, size_t v_stride, int n,
               int np, float *out, size_t out_stride);
    /* x[i] = exp(x[i] * scale - max(x * scale)) / sum, over n values (softmax of scaled scores;
     * the sum is accumulated in double by the reference, in float lanes by SIMD versions) */
    void (*softmax)(float *x, int n, float scale);
    /* ---- the same products over caches of other element types (model/kv_cache.c) */
    /* qk and av over an F16 cache: keys transposed and value rows as above, strides in elements;
     * each value is widened to float, products and sums in float */
    void (*qk_f16)(const float *q, size_t q_stride, int nq, const uint16_t *kt, size_t kt_stride,
                   int n, int np, float *scores, size_t s_stride);
    void (*av_f16)(const float *w, size_t w_stride, int nq, const uint16_t *v, size_t v_stride,
                   int n, int np, float *out, size_t out_stride);
    /* qk and av over a Q8_0 cache (n a multiple of 32): key p is n/32 block_q8_0 at k + p *
     * k_stride bytes, value row p likewise at v + p * v_stride bytes. Per block: the float sum of
     * q_i * quant_i, times the block scale (q stays float: no activation rounding) */
    void (*qk_q8_0)(const float *q, size_t q_stride, int nq, const void *k, size_t k_stride, int n,
                    int np, float *scores, size_t s_stride);
    void (*av_q8_0)(const float *w, size_t w_stride, int nq, const void *v, size_t v_stride, int n,
                    int np, float *out, size_t out_stride);
    /* One tile of an online softmax (attention in tiles, model/forward.c): with m = max(*max,
     * max_i x[i] * scale), x[i] = exp(x[i] * scale - m) for i < n; *max = m; returns the sum of the
     * new x (in double by the reference, float lanes by SIMD versions). n >= 1. */
    float (*softmax_tile)(float *x, int n, float scale, float *max);
    /* ---- elementwise kernels of the forward pass (not attention-specific, share the table) */
    /* gate[i] = SiLU(gate[i]) * up[i] */
    void (*swiglu)(float *gate, const float *up, int64_t n);
    /* y = x / sqrt(mean(x²) + eps) * g (g may be NULL); squares summed in double */
    void (*rmsnorm)(float *y, const float *x, const float *g, int64_t n, float eps);
    /* y[i] += x[i] * s (the product rounded to float before the add, as the scalar loop does) */
    void (*add_scaled)(float *y, const float *x, float s, int64_t n);
} kernel_attn;

/* For the attention kernels' SIMD versions: runs TILE(j, JB) over nq query heads in tiles of 4
 * and one last tile of the 1-3 left (JB a compile-time constant in each call). */
#define KERNEL_HEAD_TILES(nq, TILE)                                                                \
    do {                                                                                           \
        int j_ = 0;                                                                                \
        for (; j_ + 4 <= (nq); j_ += 4)                                                            \
            TILE(j_, 4);                                                                           \
        switch ((nq)-j_) {                                                                         \
        case 3: TILE(j_, 3); break;                                                                \
        case 2: TILE(j_, 2); break;                                                                \
        case 1: TILE(j_, 1); break;                                                                \
        default: break;                                                                            \
        }                                                                                          \
    } while (0)

/* ---- float matrix products (tensor/gemm.h): the pieces of one ISA's blocked product ----
 * The driver (tensor/gemm.c) cuts C = beta C + op(A) op(B) into passes of kc values of K and nc
 * columns of N; per pass it packs the op(B) block (kc x nc) into micro-panels of nr columns, then
 * each chunk of up to mc rows packs its op(A) block (mc x kc) into micro-panels of mr rows and
 * runs the micro-kernel on every (mr x nr) tile. Packed panels are zero-padded to mr rows / nr
 * columns (and K to a multiple of k_step), so the micro-kernel never reads past a panel; it stores
 * only the m x n corner of its tile that lies inside C. A descriptor is immutable. */
typedef struct kernel_gemm {
    const char *isa; /* "avx2", "avx512", "avx512bf16", ... (for tests and the benchmark) */
    int mr, nr;      /* micro-tile rows (of A) and columns (of B) */
    int kc, mc, nc;  /* cache blocks: K values per pass, A rows per chunk, B columns per pass */
    int k_step;      /* K is packed in groups of this many (1: f32; 2: bf16 pairs) */
    int elem_bytes;  /* bytes per packed value (4: f32; 2: bf16) */
    /* Packs rows [0, m) (m <= mc) and K values [0, k) (k <= kc) of op(A) into ceil(m / mr)
     * micro-panels, one after the other, each KERNEL_GEMM_PANEL_BYTES(g, k, mr) bytes. a points
     * at op(A)[0][0]: element (i, p) is a[p * lda + i] when trans, a[i * lda + p] otherwise. */
    void (*pack_a)(bool trans, const float *a, int64_t lda, int64_t m, int64_t k, void *dst);
    /* The same for columns [0, n) of op(B) in panels of nr columns: element (p, j) is
     * b[j * ldb + p] when trans, b[p * ldb + j] otherwise. */
    void (*pack_b)(bool trans, const float *b, int64_t ldb, int64_t k, int64_t n, void *dst);
    /* acc = (one A panel) x (one B panel) over k packed values, summed in order of k; then
     * c[i * ldc + j] = acc (load_c false: c is not read) or beta * c + acc, for i < m <= mr,
     * j < n <= nr. */
    void (*micro)(int64_t k, const void *a, const void *b, float *c, int64_t ldc, int m, int n,
                  float beta, bool load_c);
} kernel_gemm;

/* Bytes of one packed micro-panel of `width` (mr or nr) lines over k values. */
#define KERNEL_GEMM_PANEL_BYTES(g, k, width)                                                       \
    ((size_t)(((k) + (g)->k_step - 1) / (g)->k_step * (g)->k_step) * (size_t)(width) *             \
     (size_t)(g)->elem_bytes)

/* The float32 product pieces of the best ISA this CPU runs, or NULL when that is the reference
 * (KAIWU_ISA=ref, or no SIMD path): tensor/gemm.c then runs tensor_sgemm_ref per row chunk. */
const kernel_gemm *kernels_gemm_f32(void);
/* Pieces of the bf16 product (inputs rounded to bfloat16, float32 sums): vdpbf16ps where the CPU
 * has AVX512-BF16, otherwise the f32 micro-kernel on panels rounded to bf16; NULL: reference. */
const kernel_gemm *kernels_gemm_bf16(void);
/* The f32 (bf16 false) or bf16 pieces of exactly `isa`, for tests and benchmarks; NULL when this
 * CPU or build lacks it (or it has none: KERNEL_ISA_REF). bf16 on KERNEL_ISA_AVX512 is the
 * vdpbf16ps kernel (NULL without AVX512-BF16); on KERNEL_ISA_AVX2 the rounded-f32 emulation. */
const kernel_gemm *kernels_gemm_isa(kernel_isa isa, bool bf16);
extern const kernel_gemm kernel_gemm_avx2_f32, kernel_gemm_avx2_bf16;
extern const kernel_gemm kernel_gemm_avx512_f32, kernel_gemm_avx512_bf16;

/* The attention kernels of the ISA kernels_get uses. */
const kernel_attn *kernels_attn(void);
void kernels_fill_attn_ref(kernel_attn *a);
void kernels_fill_attn_avx2(kernel_attn *a);
void kernels_fill_attn_avx512(kernel_attn *a); /* the qk and av entries, over the AVX2 table */
/* The softmax and elementwise entries of kernel_attn (x86_avx2/vec.c). */
void kernels_fill_vec_avx2(kernel_attn *a);

/* ---- elementwise kernels of the training ops' backward passes (tensor/ops_grad.c) ----
 * Reference in kernels/ref/grad_ref.c, AVX2 in x86_avx2/grad_avx2.c (8 lanes: the sums run in
 * another order than the reference, so results differ by rounding; each ISA is deterministic). */
typedef struct kernel_grad {
    /* dgate[i] += dout[i] up[i] σ(g)(1 + g(1 − σ(g))), dup[i] += dout[i] SiLU(g), g = gate[i] */
    void (*swiglu_backward)(float *dgate, float *dup, const float *dout, const float *gate,
                            const float *up, int64_t n);
    /* One RMSNorm row with x̂ = x rstd: dx += rstd (g⊙dy − x̂ mean(g⊙dy⊙x̂)), dg += dy⊙x̂ */
    void (*rmsnorm_backward)(float *dx, float *dg, const float *dy, const float *x, const float *g,
                             float rstd, int64_t n);
    /* One softmax row: d[j] = scale p[j] (d[j] − Σ_k p[k] d[k]) over j < n */
    void (*softmax_backward)(float *d, const float *p, int n, float scale);
    /* The largest of n >= 1 values and the first index holding it */
    float (*max_index)(const float *x, int64_t n, int64_t *index);
    /* x[i] *= s over n values */
    void (*scale)(float *x, float s, int64_t n);
    /* AdamW over n values (see train/optimizer.c): g' = g gscale; m = b1 m + (1−b1) g';
     * v = b2 v + (1−b2) g'²; p −= lr ((m / bc1) / (sqrt(v / bc2) + eps) + wd p) */
    void (*adamw)(float *p, float *m, float *v, const float *g, int64_t n, float lr, float b1,
                  float b2, float eps, float wd, float gscale, float bc1, float bc2);
} kernel_grad;

/* The training kernels of the best ISA this CPU runs (KAIWU_ISA lowers it). */
const kernel_grad *kernels_grad(void);
/* The reference table and the AVX2 one (false when the CPU lacks AVX2/FMA), for tests. */
void kernels_fill_grad_ref(kernel_grad *g);
bool kernels_grad_isa(kernel_isa isa, kernel_grad *g);
void kernels_fill_grad_avx2(kernel_grad *g);

/* The kernel for weight type `type` of the best ISA this CPU runs (KAIWU_ISA may lower it). */
const kernel_entry *kernels_get(uint32_t type);
/* Name of the ISA kernels_get uses. */
const char *kernels_isa_name(void);

/* Fills table[GGML_TYPE_COUNT] with the kernels of exactly `isa` on top of the ones below it;
 * false when this CPU (or build) cannot run that ISA. For tests comparing ISAs. */
bool kernels_build_table(kernel_isa isa, kernel_entry *table);

/* Bytes of one activation row of n values in the format act_type (ggml or KERNEL_ACT_PANEL_*). */
size_t kernels_act_row_bytes(uint32_t act_type, int64_t n);

/* Per-ISA fillers (each defined in its directory; a filler only sets the types it implements). */
void kernels_fill_ref(kernel_entry *table);
void kernels_fill_avx2(kernel_entry *table);
void kernels_fill_avx512(kernel_entry *table);
void kernels_fill_neon(kernel_entry *table);

#endif
