/* ops_grad.c - forward-with-saved-state and backward of the training ops (see ops_grad.h), except
 * attention (attn_grad.c).
 *
 * Plain C, the reference the gradient checks test. Matrix products go through tensor_sgemm; the
 * forwards reuse the inference ops where inference has them (op_rmsnorm, op_swiglu, op_softmax),
 * so training and inference compute the same numbers. Must not: allocate, keep state, or let a
 * result depend on which thread ran a chunk.
 */
#include "tensor/ops_grad.h"
#include "tensor/gemm.h"
#include "tensor/kernels/kernels.h"

#include <math.h>
#include <string.h>

/* ---------------------------------------------------------------- embedding */

void op_embedding_forward(float *out, const float *table, const int32_t *tokens, int64_t n_tok,
                          int64_t dim) {
    for (int64_t t = 0; t < n_tok; t++)
        memcpy(out + t * dim, table + (int64_t)tokens[t] * dim, sizeof(float) * (size_t)dim);
}

void op_embedding_backward(float *dtable, const float *dout, const int32_t *tokens, int64_t n_tok,
                           int64_t dim, int64_t c0, int64_t c1) {
    for (int64_t t = 0; t < n_tok; t++) {
        float *d = dtable + (int64_t)tokens[t] * dim;
        const float *s = dout + t * dim;
        for (int64_t c = c0; c < c1; c++)
            d[c] += s[c];
    }
}

/* ---------------------------------------------------------------- RMSNorm */

void op_rmsnorm_forward(float *y, float *rstd, const float *x, const float *g, int64_t n_rows,
                        int64_t dim, float eps) {
    for (int64_t r = 0; r < n_rows; r++) {
        const float *xr = x + r * dim;
        op_rmsnorm(y + r * dim, xr, g, dim, eps);
        double sum = 0;
        for (int64_t i = 0; i < dim; i++)
            sum += (double)(xr[i] * xr[i]);
        rstd[r] = 1.0f / sqrtf((float)(sum / (double)dim) + eps);
    }
}

void op_rmsnorm_backward(float *dx, float *dg, const float *dy, const float *x, const float *g,
                         const float *rstd, int64_t n_rows, int64_t dim) {
    const kernel_grad *k = kernels_grad();
    for (int64_t r = 0; r < n_rows; r++)
        k->rmsnorm_backward(dx + r * dim, dg, dy + r * dim, x + r * dim, g, rstd[r], dim);
}

/* ---------------------------------------------------------------- RoPE */

void op_rope_table(float *cs, int32_t p0, int32_t n_pos, const rope_params *p) {
    /* the same float steps as op_rope: theta_i = pos * theta_scale^i by repeated multiplication */
    const float theta_scale = powf(p->base, -2.0f / (float)p->n_rot);
    const int32_t half = p->n_rot / 2;
    for (int32_t k = 0; k < n_pos; k++) {
        float theta = (float)(p0 + k);
        float *row = cs + (int64_t)k * p->n_rot;
        for (int32_t i = 0; i < half; i++) {
            const float ff = p->factors ? p->factors[i] : 1.0f;
            const float angle = p->freq_scale * (theta / ff);
            row[2 * i] = cosf(angle) * p->mscale;
            row[2 * i + 1] = sinf(angle) * p->mscale;
            theta *= theta_scale;
        }
    }
}

/* Rotates pair (a, b) of every head by (c, sn); sign -1 rotates by minus the angle. */
static void rope_rotate(float *y, const float *x, const float *cs, int32_t n_head, int32_t head_dim,
                        int32_t n_rot, bool neox, float sign, bool accumulate) {
    const int32_t half = n_rot / 2;
    for (int32_t h = 0; h < n_head; h++) {
        const float *xv = x + (int64_t)h * head_dim;
        float *yv = y + (int64_t)h * head_dim;
        for (int32_t i = 0; i < half; i++) {
            const float c = cs[2 * i], sn = sign * cs[2 * i + 1];
            const int32_t a = neox ? i : 2 * i, b = neox ? i + half : 2 * i + 1;
            const float x0 = xv[a], x1 = xv[b];
            const float y0 = x0 * c - x1 * sn, y1 = x0 * sn + x1 * c;
            if (accumulate) {
                yv[a] += y0;
                yv[b] += y1;
            } else {
                yv[a] = y0;
                yv[b] = y1;
            }
        }
        for (int32_t i = n_rot; i < head_dim; i++)
            yv[i] = accumulate ? yv[i] + xv[i] : xv[i];
    }
}

void op_rope_forward(float *y, const float *x, const float *cs, int32_t n_head, int32_t head_dim,
                     int32_t n_rot, bool neox) {
    rope_rotate(y, x, cs, n_head, head_dim, n_rot, neox, 1.0f, false);
}

void op_rope_backward(float *dx, const float *dy, const float *cs, int32_t n_head, int32_t head_dim,
                      int32_t n_rot, bool neox) {
    rope_rotate(dx, dy, cs, n_head, head_dim, n_rot, neox, -1.0f, true);
}

/* ---------------------------------------------------------------- SwiGLU */

void op_swiglu_forward(float *out, const float *gate, const float *up, int64_t n) {
    if (out != gate) memcpy(out, gate, sizeof(float) * (size_t)n);
    op_swiglu(out, up, n);
}

void op_swiglu_backward(float *dgate, float *dup, const float *dout, const float *gate,
                        const float *up, int64_t n) {
    kernels_grad()->swiglu_backward(dgate, dup, dout, gate, up, n);
}

/* ---------------------------------------------------------------- linear */

void op_linear_forward(kw_pool *pool, float *y, const float *x, const float *w, int64_t n_tok,
                       int64_t n_in, int64_t n_out, bool add) {
    tensor_sgemm(pool, false, true, n_tok, n_out, n_in, x, n_in, w, n_in, add ? 1.0f : 0.0f, y,
                 n_out);
}

void op_linear_backward(kw_pool *pool, float *dx, float *dw, const float *dy, const float *x,
                        const float *w, int64_t n_tok, int64_t n_in, int64_t n_out,
                        bool dx_overwrite) {
    if (dx)
        tensor_sgemm(pool, false, false, n_tok, n_in, n_out, dy, n_out, w, n_in,
                     dx_overwrite ? 0.0f : 1.0f, dx, n_in);
    tensor_sgemm(pool, true, false, n_out, n_in, n_tok, dy, n_out, x, n_in, 1.0f, dw, n_in);
}

/* ---------------------------------------------------------------- cross-entropy */

/* Rows per chunk of the per-row softmax work (any fixed number: rows are independent). */
#define XENT_ROWS_PER_CHUNK 4

typedef struct xent_task {
    float *loss, *probs;
    const int32_t *targets;
    const float *weight;
    int64_t n, n_vocab;
} xent_task;

static void xent_forward_chunk(void *arg, int64_t c, int ith) {
    const xent_task *t = arg;
    (void)ith;
    const int64_t r0 = c * XENT_ROWS_PER_CHUNK;
    const int64_t r1 = r0 + XENT_ROWS_PER_CHUNK < t->n ? r0 + XENT_ROWS_PER_CHUNK : t->n;
    for (int64_t r = r0; r < r1; r++) {
        float *p = t->probs + r * t->n_vocab;
        const int32_t tg = t->targets[r];
        if (tg < 0) {
            t->loss[r] = 0.0f;
            continue;
        }
        /* −log p = max + log Σ exp(x − max) − x_t; the softmax gives Σ back as 1 / p[argmax]
         * (exp(0) is exactly 1), so the loss stays exact when p[target] underflows */
        const float logit_t = p[tg];
        int64_t amax;
        const float max = kernels_grad()->max_index(p, t->n_vocab, &amax);
        op_softmax(p, (int)t->n_vocab, 1.0f);
        t->loss[r] = (max - logit_t) - logf(p[amax]);
    }
}

void op_cross_entropy_forward(kw_pool *pool, float *loss, float *probs, const float *h,
                              const float *emb, const int32_t *targets, int64_t n, int64_t dim,
                              int64_t n_vocab) {
    tensor_sgemm(pool, false, true, n, n_vocab, dim, h, dim, emb, dim, 0.0f, probs, n_vocab);
    xent_task t = {loss, probs, targets, NULL, n, n_vocab};
    kw_pool_for(pool, (n + XENT_ROWS_PER_CHUNK - 1) / XENT_ROWS_PER_CHUNK, xent_forward_chunk, &t);
}

static void xent_backward_chunk(void *arg, int64_t c, int ith) {
    const xent_task *t = arg;
    (void)ith;
    const int64_t r0 = c * XENT_ROWS_PER_CHUNK;
    const int64_t r1 = r0 + XENT_ROWS_PER_CHUNK < t->n ? r0 + XENT_ROWS_PER_CHUNK : t->n;
    for (int64_t r = r0; r < r1; r++) {
        float *p = t->probs + r * t->n_vocab;
        const int32_t tg = t->targets[r];
        const float w = tg < 0 ? 0.0f : t->weight[r];
        if (w == 0.0f) {
            memset(p, 0, sizeof(float) * (size_t)t->n_vocab);
            continue;
        }
        kernels_grad()->scale(p, w, t->n_vocab);
        p[tg] -= w;
    }
}

void op_cross_entropy_backward(kw_pool *pool, float *dh, float *demb, float *probs, const float *h,
                               const float *emb, const int32_t *targets, const float *weight,
                               int64_t n, int64_t dim, int64_t n_vocab) {
    xent_task t = {NULL, probs, targets, weight, n, n_vocab};
    kw_pool_for(pool, (n + XENT_ROWS_PER_CHUNK - 1) / XENT_ROWS_PER_CHUNK, xent_backward_chunk, &t);
    tensor_sgemm(pool, false, false, n, dim, n_vocab, probs, n_vocab, emb, dim, 1.0f, dh, dim);
    tensor_sgemm(pool, true, false, n_vocab, dim, n, probs, n_vocab, h, dim, 1.0f, demb, dim);
}
