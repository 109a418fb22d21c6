/* train_backward.c - the backward pass of the model of train_model.c: the forward's steps in
 * reverse, each op's backward from ops_grad.h, gradients added into the model's gradient block.
 *
 * It starts from dh = ∂L/∂hf left by the cross-entropy blocks and keeps dx = ∂L/∂(residual stream)
 * in one buffer: each residual connection passes dx through unchanged, and each branch adds its
 * input gradient onto it. Per layer, in reverse (d-prefixed buffers are train_scratch):
 *   dact = dx Wd,  dWd += dxᵀ act            dgate, dup = SwiGLU backward
 *   dh = dgate Wg + dup Wu, dWg, dWu          dx += RMSNorm backward (dh), d ffn_norm
 *   datt = dx Wo,  dWo += dxᵀ att            dq, dk, dv = attention backward (datt)
 *   dq_pre, dk_pre = RoPE backward            dh = dq_pre Wq + dk_pre Wk + dv Wv, dWq, dWk, dWv
 *   dx += RMSNorm backward (dh), d attn_norm
 * and finally d tok_embd += the rows of dx (the embedding lookup).
 * Norm gains sum their per-chunk partials in chunk order and the embedding's columns are split in
 * fixed blocks: gradients do not depend on the thread count. Buffers a step overwrites are cleared
 * inside the tasks that fill them (rows already in cache), never with a pass of their own.
 * Must not: allocate.
 */
#include "train/train.h"

#include <math.h>
#include <string.h>

typedef struct bwd_task {
    train_model *m;
    int il;
    const int32_t *tokens;
    int64_t n;
    /* RMSNorm backward: which norm */
    const float *x, *g, *rstd, *dy;
} bwd_task;

static void chunk_rows(const bwd_task *t, int64_t c, int64_t *r0, int64_t *r1) {
    *r0 = c * TRAIN_ROWS_PER_CHUNK;
    *r1 = *r0 + TRAIN_ROWS_PER_CHUNK < t->n ? *r0 + TRAIN_ROWS_PER_CHUNK : t->n;
}

static int64_t n_chunks(int64_t n) { return (n + TRAIN_ROWS_PER_CHUNK - 1) / TRAIN_ROWS_PER_CHUNK; }

/* dx += RMSNorm backward of the rows of chunk c; the gain's gradient into this chunk's partial. */
static void task_norm_backward(void *arg, int64_t c, int ith) {
    const bwd_task *t = arg;
    const int64_t E = t->m->cfg.n_embd;
    int64_t r0, r1;
    (void)ith;
    chunk_rows(t, c, &r0, &r1);
    float *part = t->m->s.norm_part + c * E;
    memset(part, 0, sizeof(float) * (size_t)E);
    op_rmsnorm_backward(t->m->s.dx + r0 * E, part, t->dy + r0 * E, t->x + r0 * E, t->g,
                        t->rstd + r0, r1 - r0, E);
}

/* The norm's backward over all rows, then its gain's gradient: partials summed in chunk order. */
static void norm_backward(train_model *m, kw_pool *pool, bwd_task *t, const float *x,
                          const float *g, const float *rstd, const float *dy, float *dg) {
    t->x = x, t->g = g, t->rstd = rstd, t->dy = dy;
    const int64_t nc = n_chunks(t->n), E = m->cfg.n_embd;
    kw_pool_for(pool, nc, task_norm_backward, t);
    for (int64_t c = 0; c < nc; c++) {
        const float *part = m->s.norm_part + c * E;
        for (int64_t i = 0; i < E; i++)
            dg[i] += part[i];
    }
}

static void task_swiglu_backward(void *arg, int64_t c, int ith) {
    const bwd_task *t = arg;
    const train_model *m = t->m;
    const int64_t F = m->cfg.n_ff, off = (int64_t)t->il * t->n * F;
    int64_t r0, r1;
    (void)ith;
    chunk_rows(t, c, &r0, &r1);
    const size_t bytes = sizeof(float) * (size_t)((r1 - r0) * F);
    float *dg = m->s.dgate + r0 * F, *du = m->s.dup + r0 * F;
    memset(dg, 0, bytes);
    memset(du, 0, bytes);
    op_swiglu_backward(dg, du, m->s.dact + r0 * F, m->a.gate + off + r0 * F, m->a.up + off + r0 * F,
                       (r1 - r0) * F);
}

/* Item c: sequence c / n_kv, KV head c % n_kv; clears its share of dq, dk, dv first. */
static void task_attention_backward(void *arg, int64_t c, int ith) {
    const bwd_task *t = arg;
    const train_model *m = t->m;
    const train_config *cf = &m->cfg;
    const int64_t hd = cf->head_dim, Q = (int64_t)cf->n_head * hd, KV = (int64_t)cf->n_head_kv * hd;
    const int64_t seq = c / cf->n_head_kv, g = c % cf->n_head_kv, T = m->seq_len;
    const int64_t group = cf->n_head / cf->n_head_kv, row0 = seq * T, il = t->il;
    const op_attn_shape s = {m->seq_len, cf->n_head, cf->n_head_kv, cf->head_dim,
                             1.0f / sqrtf((float)cf->head_dim)};
    float *dq = m->s.dq + row0 * Q, *dk = m->s.dk + row0 * KV, *dv = m->s.dv + row0 * KV;
    for (int64_t r = 0; r < T; r++) {
        memset(dq + r * Q + g * group * hd, 0, sizeof(float) * (size_t)(group * hd));
        memset(dk + r * KV + g * hd, 0, sizeof(float) * (size_t)hd);
        memset(dv + r * KV + g * hd, 0, sizeof(float) * (size_t)hd);
    }
    const float *probs = m->a.probs + ((il * m->n_seq + seq) * cf->n_head + g * group) * T * T;
    op_attention_backward(dq, dk, dv, m->s.datt + row0 * Q, m->a.q + (il * t->n + row0) * Q,
                          m->a.k + (il * t->n + row0) * KV, m->a.v + (il * t->n + row0) * KV, probs,
                          m->s.attn_tmp + (int64_t)ith * T * T, &s, (int32_t)g);
}

static void task_rope_backward(void *arg, int64_t c, int ith) {
    const bwd_task *t = arg;
    const train_model *m = t->m;
    const train_config *cf = &m->cfg;
    const int64_t Q = (int64_t)cf->n_head * cf->head_dim,
                  KV = (int64_t)cf->n_head_kv * cf->head_dim;
    int64_t r0, r1;
    (void)ith;
    chunk_rows(t, c, &r0, &r1);
    memset(m->s.dq_pre + r0 * Q, 0, sizeof(float) * (size_t)((r1 - r0) * Q));
    memset(m->s.dk_pre + r0 * KV, 0, sizeof(float) * (size_t)((r1 - r0) * KV));
    for (int64_t r = r0; r < r1; r++) {
        const float *cs = m->rope_cs + (r % m->seq_len) * cf->head_dim;
        op_rope_backward(m->s.dq_pre + r * Q, m->s.dq + r * Q, cs, cf->n_head, cf->head_dim,
                         cf->head_dim, false);
        op_rope_backward(m->s.dk_pre + r * KV, m->s.dk + r * KV, cs, cf->n_head_kv, cf->head_dim,
                         cf->head_dim, false);
    }
}

/* Columns per block of the embedding backward (fixed: any thread count sums the same way). */
#define EMBD_COLS_PER_CHUNK 16

static void task_embed_backward(void *arg, int64_t c, int ith) {
    const bwd_task *t = arg;
    const int64_t E = t->m->cfg.n_embd, c0 = c * EMBD_COLS_PER_CHUNK;
    const int64_t c1 = c0 + EMBD_COLS_PER_CHUNK < E ? c0 + EMBD_COLS_PER_CHUNK : E;
    (void)ith;
    op_embedding_backward(t->m->g.tok_embd, t->m->s.dx, t->tokens, t->n, E, c0, c1);
}

static void backward_layer(train_model *m, kw_pool *pool, bwd_task *t) {
    const train_config *c = &m->cfg;
    const int il = t->il;
    const int64_t n = t->n, E = c->n_embd, F = c->n_ff;
    const int64_t Q = (int64_t)c->n_head * c->head_dim, KV = (int64_t)c->n_head_kv * c->head_dim;
    const train_layer_view *w = &m->w.layer[il], *g = &m->g.layer[il];
    const train_acts *a = &m->a;
    const train_scratch *s = &m->s;

    /* FFN: x' = x_mid + act Wdᵀ, act = SiLU(h2 Wgᵀ) (h2 Wuᵀ), h2 = norm(x_mid) */
    op_linear_backward(pool, s->dact, g->w_down, s->dx, a->act + il * n * F, w->w_down, n, F, E,
                       true);
    kw_pool_for(pool, n_chunks(n), task_swiglu_backward, t);
    op_linear_backward(pool, s->dh, g->w_gate, s->dgate, a->h2 + il * n * E, w->w_gate, n, E, F,
                       true);
    op_linear_backward(pool, s->dh, g->w_up, s->dup, a->h2 + il * n * E, w->w_up, n, E, F, false);
    norm_backward(m, pool, t, a->x_mid + il * n * E, w->ffn_norm, a->rstd2 + il * n, s->dh,
                  g->ffn_norm);

    /* attention: x_mid = x + att Woᵀ, h1 = norm(x) */
    op_linear_backward(pool, s->datt, g->wo, s->dx, a->att + il * n * Q, w->wo, n, Q, E, true);
    kw_pool_for(pool, (int64_t)m->n_seq * c->n_head_kv, task_attention_backward, t);
    kw_pool_for(pool, n_chunks(n), task_rope_backward, t);
    const float *h1 = a->h1 + il * n * E;
    op_linear_backward(pool, s->dh, g->wq, s->dq_pre, h1, w->wq, n, E, Q, true);
    op_linear_backward(pool, s->dh, g->wk, s->dk_pre, h1, w->wk, n, E, KV, false);
    op_linear_backward(pool, s->dh, g->wv, s->dv, h1, w->wv, n, E, KV, false);
    norm_backward(m, pool, t, a->x + il * n * E, w->attn_norm, a->rstd1 + il * n, s->dh,
                  g->attn_norm);
}

void train_model_backward(train_model *m, kw_pool *pool, const int32_t *tokens) {
    const train_config *c = &m->cfg;
    const int64_t n = (int64_t)m->n_seq * m->seq_len, E = c->n_embd;
    bwd_task t = {.m = m, .tokens = tokens, .n = n};
    /* final norm: hf = norm(x_L) * output_norm, dh = ∂L/∂hf from the cross-entropy */
    memset(m->s.dx, 0, sizeof(float) * (size_t)(n * E));
    norm_backward(m, pool, &t, m->a.x + (int64_t)c->n_layer * n * E, m->w.output_norm, m->a.rstdf,
                  m->s.dh, m->g.output_norm);
    for (int il = c->n_layer - 1; il >= 0; il--) {
        t.il = il;
        backward_layer(m, pool, &t);
    }
    kw_pool_for(pool, (E + EMBD_COLS_PER_CHUNK - 1) / EMBD_COLS_PER_CHUNK, task_embed_backward, &t);
}
