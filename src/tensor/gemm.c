/* gemm.c - float32 matrix products (see gemm.h): the plain C references, and the blocked driver
 * that runs an ISA's packing and micro-kernels (kernels.h kernel_gemm) on the pool's threads.
 *
 * The driver cuts the product into passes, columns outer, K inner: pass (jc, pc) adds the kc
 * values of K from pc on into the nc columns of C from jc on. A pass needs its op(B) block
 * (kc x nc) packed into panels of nr columns, shared by all threads. One kw_pool_for per pass
 * runs its chunks: first the tiles of C (up to mc rows x the block's panels; each packs its rows
 * of op(A) into the running thread's own buffer and runs the micro-kernel on every mr x nr tile),
 * then the packing of the next pass's B block into the other of two buffers, taken by whichever
 * thread runs out of tiles first. (The first block is packed by a call of its own.) A pool call
 * returns only when all its chunks are done, so a pass reads finished panels and accumulates onto
 * the previous pass's C; within a call no two chunks write the same bytes.
 *
 * Every C element is summed in one order fixed by kc alone: ((beta C + pass 0) + pass 1) + ...,
 * each pass summed over k in order in one accumulator lane, so results do not depend on the
 * thread count or on which thread ran which chunk.
 *
 * Scratch policy: the two packed B blocks and one packed A block per thread live in one buffer
 * owned by the calling thread (thread-local), grown when a call needs more than it has (bounded
 * by the kernel's kc, mc, nc and the pool's thread count: 4.4 MiB for AVX-512 f32 on 2 threads)
 * and freed when the thread exits. So a training step allocates nothing after its first one; when
 * the buffer cannot be grown, the call falls back to the reference (same contract) and logs why.
 * Relies on: base (pool, aligned memory), tensor/kernels (the ISA pieces). Must not: allocate per
 * call beyond that growth, or write C outside the M x N corner.
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

/* One pass of the blocked product: columns [jc, jc + nc) of C, K values [pc, pc + kc). */
typedef struct sgemm_pass {
    int64_t jc, nc, pc, kc;
    uint8_t *b_pack;      /* its packed op(B) block */
    size_t b_panel_bytes; /* one B panel of kc values */
    size_t a_panel_bytes; /* one A panel of kc values */
    int64_t n_panels;     /* B panels of the block */
    int64_t n_col_tiles;  /* compute chunks across the block's columns */
    int64_t panels_per_tile;
    int64_t n_pack_chunks, panels_per_pack; /* the block's packing chunks */
} sgemm_pass;

typedef struct sgemm_job {
    const kernel_gemm *g; /* NULL: the reference, by row chunks */
    bool bf16;            /* the reference rounds its inputs to bf16 */
    bool trans_a, trans_b;
    int64_t M, N, K, lda, ldb, ldc;
    const float *A, *B;
    float beta;
    float *C;
    uint8_t *a_pack;       /* n_threads packed op(A) blocks, a_stride bytes apart */
    size_t a_stride;       /* bytes of one thread's A block */
    int64_t rows_per_tile; /* C rows per compute chunk (a multiple of mr, <= mc) */
    int64_t n_row_tiles;
    int64_t n_compute;      /* compute chunks of the current pass (0 before the first) */
    sgemm_pass cur;         /* the pass being computed */
    sgemm_pass next;        /* the pass being packed meanwhile (n_pack_chunks 0: none) */
    int64_t rows_per_chunk; /* reference path: C rows per chunk */
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

/* Panels [chunk * panels_per_pack, ...) of pass p's op(B) block. */
static void pack_b_chunk(const sgemm_job *j, const sgemm_pass *p, int64_t chunk) {
    const int nr = j->g->nr;
    const int64_t q0 = chunk * p->panels_per_pack;
    const int64_t j0 = q0 * nr, n = min64(p->panels_per_pack * nr, p->nc - j0);
    const int64_t col = p->jc + j0;
    const float *b = j->trans_b ? j->B + col * j->ldb + p->pc : j->B + p->pc * j->ldb + col;
    j->g->pack_b(j->trans_b, b, j->ldb, p->kc, n, p->b_pack + q0 * (int64_t)p->b_panel_bytes);
}

/* One tile of C in the current pass (rows_per_tile rows x panels_per_tile panels). */
static void compute_chunk(const sgemm_job *j, int64_t chunk, int ith) {
    const kernel_gemm *g = j->g;
    const sgemm_pass *p = &j->cur;
    const int64_t ti = chunk / p->n_col_tiles, tj = chunk % p->n_col_tiles;
    const int64_t i0 = ti * j->rows_per_tile, m = min64(j->rows_per_tile, j->M - i0);
    const int64_t q0 = tj * p->panels_per_tile, q1 = min64(q0 + p->panels_per_tile, p->n_panels);
    uint8_t *a_pack = j->a_pack + (size_t)ith * j->a_stride;
    const float *a = j->trans_a ? j->A + p->pc * j->lda + i0 : j->A + i0 * j->lda + p->pc;
    g->pack_a(j->trans_a, a, j->lda, m, p->kc, a_pack);
    const bool first = p->pc == 0;
    const bool load_c = !first || j->beta != 0.0f;
    const float beta = first ? j->beta : 1.0f;
    /* each B panel stays in L1 while the A panels of the tile stream from L2 past it */
    for (int64_t q = q0; q < q1; q++) {
        const int64_t col = q * g->nr, n = min64(g->nr, p->nc - col);
        const uint8_t *b = p->b_pack + q * (int64_t)p->b_panel_bytes;
        float *c = j->C + i0 * j->ldc + p->jc + col;
        for (int64_t r = 0; r < m; r += g->mr)
            g->micro(p->kc, a_pack + r / g->mr * (int64_t)p->a_panel_bytes, b, c + r * j->ldc,
                     j->ldc, (int)min64(g->mr, m - r), (int)n, beta, load_c);
    }
}

/* The chunks of one pool call: the current pass's tiles, then the next pass's packing (taken by
 * whichever thread runs out of tiles first). */
static void pass_chunk(void *arg, int64_t chunk, int ith) {
    const sgemm_job *j = arg;
    if (chunk < j->n_compute)
        compute_chunk(j, chunk, ith);
    else
        pack_b_chunk(j, &j->next, chunk - j->n_compute);
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

/* Pass (jc, pc) of the job: its block, strides and chunking. */
static void plan_pass(const sgemm_job *job, int nth, int64_t jc, int64_t pc, uint8_t *b_pack,
                      sgemm_pass *p) {
    const kernel_gemm *g = job->g;
    const int64_t want = 4 * (int64_t)nth;
    p->jc = jc, p->nc = min64(g->nc, job->N - jc);
    p->pc = pc, p->kc = min64(g->kc, job->K - pc);
    p->b_pack = b_pack;
    /* panel strides follow this pass's kc (the last pass may be shorter) */
    p->a_panel_bytes = KERNEL_GEMM_PANEL_BYTES(g, p->kc, g->mr);
    p->b_panel_bytes = KERNEL_GEMM_PANEL_BYTES(g, p->kc, g->nr);
    p->n_panels = ceil_div(p->nc, g->nr);
    /* too few row tiles for the threads: split the block's columns too */
    p->n_col_tiles = nth > 1 && job->n_row_tiles < want
                         ? min64(p->n_panels, ceil_div(want, job->n_row_tiles))
                         : 1;
    p->panels_per_tile = ceil_div(p->n_panels, p->n_col_tiles);
    p->n_col_tiles = ceil_div(p->n_panels, p->panels_per_tile);
    /* about 64 Ki values per packing chunk */
    p->panels_per_pack = ceil_div(65536, p->kc * g->nr);
    p->n_pack_chunks = ceil_div(p->n_panels, p->panels_per_pack);
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
    job->n_row_tiles = ceil_div(job->M, rows);
    job->a_stride =
        (ceil_div(rows, g->mr) * KERNEL_GEMM_PANEL_BYTES(g, kc_max, g->mr) + 63) / 64 * 64;
    /* two B blocks: one computed with while the next is packed */
    const size_t b_bytes =
        (size_t)ceil_div(nc_max, g->nr) * KERNEL_GEMM_PANEL_BYTES(g, kc_max, g->nr);
    uint8_t *buf = scratch_get(2 * b_bytes + (size_t)nth * job->a_stride);
    if (!buf) {
        kw_log(1, "matrix product %lldx%lldx%lld: no packing buffer (%s); using the reference",
               (long long)job->M, (long long)job->N, (long long)job->K, kw_last_error());
        run_ref(job, pool);
        return;
    }
    job->a_pack = buf + 2 * b_bytes;
    /* passes in order: columns blocks outer, K inner; pass s uses B block s % 2 */
    int64_t s = 0;
    plan_pass(job, nth, 0, 0, buf, &job->next);
    job->n_compute = 0;
    kw_pool_for(pool, job->next.n_pack_chunks, pass_chunk, job); /* the first block alone */
    for (int64_t jc = 0; jc < job->N; jc += g->nc) {
        for (int64_t pc = 0; pc < job->K; pc += g->kc, s++) {
            job->cur = job->next;
            job->n_compute = job->n_row_tiles * job->cur.n_col_tiles;
            int64_t njc = jc, npc = pc + g->kc;
            if (npc >= job->K) njc += g->nc, npc = 0;
            if (njc < job->N)
                plan_pass(job, nth, njc, npc, buf + (size_t)((s + 1) % 2) * b_bytes, &job->next);
            else
                job->next.n_pack_chunks = 0;
            kw_pool_for(pool, job->n_compute + job->next.n_pack_chunks, pass_chunk, job);
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
    /* a product this small costs less than waking the pool (the bits are the same either way) */
    if ((double)M * (double)N * (double)K < 262144.0) pool = NULL;
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
