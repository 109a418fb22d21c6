/* gemm.c - float32 matrix products (see gemm.h): the plain C references, and the blocked driver
 * that runs an ISA's packing and micro-kernels (kernels.h kernel_gemm) on the pool's threads.
 *
 * The driver: for each block of nc columns of C and each pass of kc values of K,
 *   1. the op(B) block (kc x nc) is packed into panels of nr columns, shared by all threads
 *      (kw_pool_for over groups of panels; each chunk writes its own panels);
 *   2. kw_pool_for over tiles of C (rows x columns of the block): each chunk packs its rows of
 *      op(A) (up to mc x kc) into the running thread's own buffer and runs the micro-kernel on
 *      every mr x nr tile, writing only its own tile of C.
 * The pool call of a step returns only when all its chunks are done, so step 2 reads finished
 * panels, and no two chunks write the same bytes. Every C element is summed in one order fixed by
 * kc alone: ((beta C + pass 0) + pass 1) + ..., each pass summed over k in order in one lane, so
 * results do not depend on the thread count or on which thread ran which chunk.
 *
 * Scratch policy: the packed B block and one packed A block per thread live in one buffer owned
 * by the calling thread (thread-local), grown when a call needs more than it has (the size is
 * bounded by the kernel's kc, mc, nc and the pool's thread count: ~3 MiB for AVX-512 on 2
 * threads) and freed when the thread exits. So a training step allocates nothing after its first
 * one; when the buffer cannot be grown, the call falls back to the reference (same contract) and
 * logs why.
 * Relies on: base (pool, aligned memory), tensor/kernels (the ISA pieces). Must not: allocate per
 * call beyond that growth, or write C outside the m x n corner.
 */
#include "tensor/gemm.h"

#include "tensor/kernels/kernels.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- references */

/* x rounded to bfloat16 and back: kw_f32_to_bf16 (nearest even, NaN stays a quiet NaN), inline
 * because the reference rounds twice per multiply-add. */
static inline float round_bf16(float x) {
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    if ((u & 0x7FFFFFFFu) > 0x7F800000u)
        u = (u | 0x00400000u) & 0xFFFF0000u;
    else
        u = (u + 0x7FFFu + ((u >> 16) & 1u)) & 0xFFFF0000u;
    memcpy(&x, &u, sizeof x);
    return x;
}

static void sgemm_ref_impl(bool bf16, bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K,
                           const float *A, int64_t lda, const float *B, int64_t ldb, float beta,
                           float *C, int64_t ldc) {
    for (int64_t i = 0; i < M; i++) {
        for (int64_t j = 0; j < N; j++) {
            float sum = 0.0f;
            for (int64_t k = 0; k < K; k++) {
                float a = trans_a ? A[k * lda + i] : A[i * lda + k];
                float b = trans_b ? B[j * ldb + k] : B[k * ldb + j];
                if (bf16) a = round_bf16(a), b = round_bf16(b);
                sum += a * b;
            }
            C[i * ldc + j] = beta == 0.0f ? sum : beta * C[i * ldc + j] + sum;
        }
    }
}

void tensor_sgemm_ref(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const float *A,
                      int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc) {
    sgemm_ref_impl(false, trans_a, trans_b, M, N, K, A, lda, B, ldb, beta, C, ldc);
}

void tensor_sgemm_bf16_ref(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K,
                           const float *A, int64_t lda, const float *B, int64_t ldb, float beta,
                           float *C, int64_t ldc) {
    sgemm_ref_impl(true, trans_a, trans_b, M, N, K, A, lda, B, ldb, beta, C, ldc);
}

/* ---------------------------------------------------------------- one job */

typedef struct sgemm_job {
    const kernel_gemm *g; /* NULL: the reference, by row chunks */
    bool bf16;            /* the reference rounds its inputs to bf16 */
    bool trans_a, trans_b;
    int64_t M, N, K, lda, ldb, ldc;
    const float *A, *B;
    float beta;
    float *C;
    /* the current pass: columns [jc, jc + nc) of C, K values [pc, pc + kc) */
    int64_t jc, nc, pc, kc;
    uint8_t *b_pack;                      /* the packed op(B) block */
    uint8_t *a_pack;                      /* n_threads packed op(A) blocks, a_stride bytes apart */
    size_t a_stride;                      /* bytes of one thread's A block */
    size_t b_panel_bytes;                 /* one B panel of kc values */
    size_t a_panel_bytes;                 /* one A panel of kc values */
    int64_t panels_per_b;                 /* B panels per packing chunk */
    int64_t rows_per_tile;                /* C rows per compute chunk (a multiple of mr, <= mc) */
    int64_t panels_per_tile, n_col_tiles; /* B panels per compute chunk; chunks across nc */
    int64_t rows_per_chunk;               /* reference path: C rows per chunk */
} sgemm_job;

static inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }
static inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

static void ref_chunk(void *arg, int64_t chunk, int ith) {
    (void)ith;
    const sgemm_job *j = arg;
    int64_t i0 = chunk * j->rows_per_chunk, m = min64(j->rows_per_chunk, j->M - i0);
    const float *a = j->trans_a ? j->A + i0 : j->A + i0 * j->lda;
    sgemm_ref_impl(j->bf16, j->trans_a, j->trans_b, m, j->N, j->K, a, j->lda, j->B, j->ldb, j->beta,
                   j->C + i0 * j->ldc, j->ldc);
}

/* Step 1: panels [chunk * panels_per_b, ...) of the op(B) block. */
static void pack_b_chunk(void *arg, int64_t chunk, int ith) {
    (void)ith;
    const sgemm_job *j = arg;
    const int nr = j->g->nr;
    const int64_t j0 = chunk * j->panels_per_b * nr, n = min64(j->panels_per_b * nr, j->nc - j0);
    const int64_t col = j->jc + j0;
    const float *b = j->trans_b ? j->B + col * j->ldb + j->pc : j->B + j->pc * j->ldb + col;
    j->g->pack_b(j->trans_b, b, j->ldb, j->kc, n,
                 j->b_pack + chunk * j->panels_per_b * (int64_t)j->b_panel_bytes);
}

/* Step 2: one tile of C (rows_per_tile rows x panels_per_tile panels of the block). */
static void compute_chunk(void *arg, int64_t chunk, int ith) {
    const sgemm_job *j = arg;
    const kernel_gemm *g = j->g;
    const int64_t ti = chunk / j->n_col_tiles, tj = chunk % j->n_col_tiles;
    const int64_t i0 = ti * j->rows_per_tile, m = min64(j->rows_per_tile, j->M - i0);
    const int64_t q0 = tj * j->panels_per_tile,
                  q1 = min64(q0 + j->panels_per_tile, ceil_div(j->nc, g->nr));
    uint8_t *a_pack = j->a_pack + (size_t)ith * j->a_stride;
    const float *a = j->trans_a ? j->A + j->pc * j->lda + i0 : j->A + i0 * j->lda + j->pc;
    g->pack_a(j->trans_a, a, j->lda, m, j->kc, a_pack);
    const bool first = j->pc == 0;
    const bool load_c = !first || j->beta != 0.0f;
    const float beta = first ? j->beta : 1.0f;
    /* each B panel stays in L1 while the A panels of the tile stream from L2 past it */
    for (int64_t q = q0; q < q1; q++) {
        const int64_t col = q * g->nr, n = min64(g->nr, j->nc - col);
        const uint8_t *b = j->b_pack + q * (int64_t)j->b_panel_bytes;
        float *c = j->C + i0 * j->ldc + j->jc + col;
        for (int64_t r = 0; r < m; r += g->mr)
            g->micro(j->kc, a_pack + r / g->mr * (int64_t)j->a_panel_bytes, b, c + r * j->ldc,
                     j->ldc, (int)min64(g->mr, m - r), (int)n, beta, load_c);
    }
}

/* ---------------------------------------------------------------- scratch */

typedef struct gemm_scratch {
    void *p;
    size_t cap;
} gemm_scratch;

static _Thread_local gemm_scratch *tls_scratch; /* this thread's buffer (also keeps it reachable) */
static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;
static bool scratch_key_ok;

static void scratch_free(void *p) {
    gemm_scratch *s = p;
    kw_free_aligned(s->p);
    free(s);
}

static void scratch_key_create(void) {
    scratch_key_ok = pthread_key_create(&scratch_key, scratch_free) == 0;
}

/* The calling thread's buffer of at least `bytes`, 64-byte aligned; NULL when it cannot grow. */
static void *scratch_get(size_t bytes) {
    gemm_scratch *s = tls_scratch;
    if (s && s->cap >= bytes) return s->p;
    pthread_once(&scratch_once, scratch_key_create);
    if (!s) {
        s = kw_calloc(1, sizeof *s, "matrix product scratch");
        if (!s) return NULL;
        tls_scratch = s;
        if (scratch_key_ok) pthread_setspecific(scratch_key, s);
    }
    void *p = kw_malloc_aligned(bytes, "matrix product packing buffer");
    if (!p) return NULL;
    kw_free_aligned(s->p);
    s->p = p;
    s->cap = bytes;
    return p;
}

/* ---------------------------------------------------------------- driver */

static void run_ref(sgemm_job *job, kw_pool *pool) {
    job->rows_per_chunk = 16;
    kw_pool_for(pool, ceil_div(job->M, job->rows_per_chunk), ref_chunk, job);
}

/* C = beta C for K = 0 (beta 0: C = 0, never read). */
static void scale_c(int64_t M, int64_t N, float beta, float *C, int64_t ldc) {
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < N; j++)
            C[i * ldc + j] = beta == 0.0f ? 0.0f : beta * C[i * ldc + j];
}

static void run_blocked(sgemm_job *job, kw_pool *pool) {
    const kernel_gemm *g = job->g;
    const int nth = kw_pool_n_threads(pool);
    const int64_t kc_max = min64(g->kc, job->K), nc_max = min64(g->nc, job->N);
    /* Rows per compute chunk: up to mc, fewer when that leaves too few chunks to share. */
    const int64_t want = 4 * (int64_t)nth;
    int64_t rows = min64(g->mc, ceil_div(job->M, g->mr) * g->mr);
    if (nth > 1 && ceil_div(job->M, rows) < want)
        rows = ceil_div(ceil_div(job->M, want), g->mr) * g->mr;
    job->rows_per_tile = rows;
    job->a_panel_bytes = KERNEL_GEMM_PANEL_BYTES(g, kc_max, g->mr);
    job->b_panel_bytes = KERNEL_GEMM_PANEL_BYTES(g, kc_max, g->nr);
    job->a_stride = (ceil_div(rows, g->mr) * job->a_panel_bytes + 63) / 64 * 64;
    const int64_t b_panels_max = ceil_div(nc_max, g->nr);
    const size_t b_bytes = (size_t)b_panels_max * job->b_panel_bytes;
    uint8_t *buf = scratch_get(b_bytes + (size_t)nth * job->a_stride);
    if (!buf) {
        kw_log(1, "matrix product %lldx%lldx%lld: no packing buffer (%s); using the reference",
               (long long)job->M, (long long)job->N, (long long)job->K, kw_last_error());
        run_ref(job, pool);
        return;
    }
    job->b_pack = buf;
    job->a_pack = buf + b_bytes;
    for (job->jc = 0; job->jc < job->N; job->jc += g->nc) {
        job->nc = min64(g->nc, job->N - job->jc);
        const int64_t n_panels = ceil_div(job->nc, g->nr);
        const int64_t n_row_tiles = ceil_div(job->M, rows);
        /* too few row tiles for the threads: split the block's columns too */
        job->n_col_tiles =
            nth > 1 && n_row_tiles < want ? min64(n_panels, ceil_div(want, n_row_tiles)) : 1;
        job->panels_per_tile = ceil_div(n_panels, job->n_col_tiles);
        job->n_col_tiles = ceil_div(n_panels, job->panels_per_tile);
        for (job->pc = 0; job->pc < job->K; job->pc += g->kc) {
            job->kc = min64(g->kc, job->K - job->pc);
            /* panel strides follow this pass's kc (the last pass may be shorter) */
            job->a_panel_bytes = KERNEL_GEMM_PANEL_BYTES(g, job->kc, g->mr);
            job->b_panel_bytes = KERNEL_GEMM_PANEL_BYTES(g, job->kc, g->nr);
            /* about 64 Ki values per packing chunk */
            job->panels_per_b = ceil_div(65536, job->kc * g->nr);
            if (job->panels_per_b < 1) job->panels_per_b = 1;
            kw_pool_for(pool, ceil_div(n_panels, job->panels_per_b), pack_b_chunk, job);
            kw_pool_for(pool, n_row_tiles * job->n_col_tiles, compute_chunk, job);
        }
    }
}

static void sgemm_run(const kernel_gemm *g, bool bf16, kw_pool *pool, bool trans_a, bool trans_b,
                      int64_t M, int64_t N, int64_t K, const float *A, int64_t lda, const float *B,
                      int64_t ldb, float beta, float *C, int64_t ldc) {
    if (M <= 0 || N <= 0) return;
    if (K <= 0) {
        scale_c(M, N, beta, C, ldc);
        return;
    }
    sgemm_job job = {.g = g,
                     .bf16 = bf16,
                     .trans_a = trans_a,
                     .trans_b = trans_b,
                     .M = M,
                     .N = N,
                     .K = K,
                     .lda = lda,
                     .ldb = ldb,
                     .ldc = ldc,
                     .A = A,
                     .B = B,
                     .beta = beta,
                     .C = C};
    if (g)
        run_blocked(&job, pool);
    else
        run_ref(&job, pool);
}

void tensor_sgemm_with(const kernel_gemm *g, kw_pool *pool, bool trans_a, bool trans_b, int64_t M,
                       int64_t N, int64_t K, const float *A, int64_t lda, const float *B,
                       int64_t ldb, float beta, float *C, int64_t ldc) {
    sgemm_run(g, false, pool, trans_a, trans_b, M, N, K, A, lda, B, ldb, beta, C, ldc);
}

void tensor_sgemm_bf16(kw_pool *pool, bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K,
                       const float *A, int64_t lda, const float *B, int64_t ldb, float beta,
                       float *C, int64_t ldc) {
    sgemm_run(kernels_gemm_bf16(), true, pool, trans_a, trans_b, M, N, K, A, lda, B, ldb, beta, C,
              ldc);
}

void tensor_sgemm(kw_pool *pool, bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K,
                  const float *A, int64_t lda, const float *B, int64_t ldb, float beta, float *C,
                  int64_t ldc) {
    tensor_sgemm_with(kernels_gemm_f32(), pool, trans_a, trans_b, M, N, K, A, lda, B, ldb, beta, C,
                      ldc);
}
