/* gemm.c - float32 matrix products (see gemm.h): the plain C reference, and tensor_sgemm, which
 * splits rows of C among the pool's threads. Fast per-ISA kernels replace the per-chunk reference
 * call here as they land; the reference stays the twin they are tested against. */
#include "tensor/gemm.h"

void tensor_sgemm_ref(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const float *A,
                      int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc) {
    for (int64_t i = 0; i < M; i++) {
        for (int64_t j = 0; j < N; j++) {
            float sum = 0.0f;
            for (int64_t k = 0; k < K; k++) {
                float a = trans_a ? A[k * lda + i] : A[i * lda + k];
                float b = trans_b ? B[j * ldb + k] : B[k * ldb + j];
                sum += a * b;
            }
            C[i * ldc + j] = beta == 0.0f ? sum : beta * C[i * ldc + j] + sum;
        }
    }
}

typedef struct sgemm_job {
    bool trans_a, trans_b;
    int64_t M, N, K, lda, ldb, ldc, rows_per_chunk;
    const float *A, *B;
    float beta;
    float *C;
} sgemm_job;

static void sgemm_chunk(void *arg, int64_t chunk, int ith) {
    (void)ith;
    const sgemm_job *j = arg;
    int64_t i0 = chunk * j->rows_per_chunk;
    int64_t m = j->M - i0 < j->rows_per_chunk ? j->M - i0 : j->rows_per_chunk;
    const float *a = j->trans_a ? j->A + i0 : j->A + i0 * j->lda;
    tensor_sgemm_ref(j->trans_a, j->trans_b, m, j->N, j->K, a, j->lda, j->B, j->ldb, j->beta,
                     j->C + i0 * j->ldc, j->ldc);
}

void tensor_sgemm(kw_pool *pool, bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K,
                  const float *A, int64_t lda, const float *B, int64_t ldb, float beta, float *C,
                  int64_t ldc) {
    if (M <= 0 || N <= 0) return;
    sgemm_job job = {trans_a, trans_b, M, N, K, lda, ldb, ldc, 16, A, B, beta, C};
    int64_t n_chunks = (M + job.rows_per_chunk - 1) / job.rows_per_chunk;
    if (pool == NULL || n_chunks == 1) {
        for (int64_t c = 0; c < n_chunks; c++)
            sgemm_chunk(&job, c, 0);
        return;
    }
    kw_pool_for(pool, n_chunks, sgemm_chunk, &job);
}
