/* forward.c - the one forward pass every family runs, driven by its arch_desc.
 *
 * Per layer, as the reference models do it (shapes for a chunk of n tokens):
 *   h = norm(x) * attn_norm                          (n, n_embd)
 *   q, k, v = projections of h (+ biases)            (n, n_head*hd), (n, n_kv*hd), (n, n_kv*hd_v)
 *   q, k = per-head norm (qk_norm), then RoPE at each token's position
 *   k, v -> KV cache; a = attention over the cache  (n, n_head*hd_v)
 *   a = Wo a; post norm (post_attn_norm); x += a * residual_scale
 *   m = norm(x) * ffn_norm; f = Wdown act(Wgate m) * (Wup m); post norm; x += f * residual_scale
 * then logits = Woutput (norm(x) * output_norm / logit_scale), soft-capped (final_softcap).
 * A description flag appears as an `if` at its step; there is no branch on a family's name.
 * Nothing here allocates: every buffer was sized in kw_context_create.
 */
#include "model/model.h"
#include "tensor/kernels/kernels.h"
#include "tensor/quants.h"

#include <math.h>
#include <string.h>

/* x · Wᵀ for n tokens; shows the inputs to an observer first (importance-matrix statistics).
 * same_input: x has not changed since the previous matmul (its quantized copy is reused). */
static void matmul_x(kw_context *ctx, float *out, const kw_weight *w, const float *x, int32_t n, bool same_input) {
    if (ctx->observer) ctx->observer(ctx->observer_user, w->name, x, w->n_in, n);
    op_matmul(ctx->pool, out, w, x, n, &ctx->mm, same_input);
}

static void matmul(kw_context *ctx, float *out, const kw_weight *w, const float *x, int32_t n) {
    matmul_x(ctx, out, w, x, n, false);
}

/* A vector weight as float: F32 data is used in place, others are converted into tmp. */
static const float *vec(const kw_weight *w, float *tmp) {
    if (!w->data) return NULL;
    if (w->type == GGML_TYPE_F32) return w->data;
    op_weight_vector(tmp, w);
    return tmp;
}

static void norm_rows(float *y, const float *x, const kw_weight *g, int32_t n, int64_t width, float eps,
                      float *tmp) {
    const float *gv = vec(g, tmp);
    for (int32_t t = 0; t < n; t++) op_rmsnorm(y + t * width, x + t * width, gv, width, eps);
}

/* ---------------------------------------------------------------- attention */

typedef struct attn_task {
    kw_context *ctx;
    const kw_kv_layer *kv;
    bool swa;
    int32_t n, p0;
} attn_task;

/* One (token, head) pair: softmax(q·Kᵀ * scale [soft-capped]) V over the visible positions. The
 * cache is a ring (position p in slot p % n_slots): the kernels see it as at most two runs of
 * consecutive slots. */
static void attend_one(const attn_task *a, int32_t t, int32_t h, float *scores) {
    const kw_context *ctx = a->ctx;
    const kw_hparams *hp = &ctx->model->hp;
    const kernel_attn *ka = kernels_attn();
    const int32_t hd = hp->head_dim, hdv = hp->head_dim_v, group = hp->n_head / hp->n_head_kv;
    const int32_t g = h / group;
    const int64_t k_stride = (int64_t)hp->n_head_kv * hd, v_stride = (int64_t)hp->n_head_kv * hdv;
    const float *q = ctx->q + (int64_t)t * hp->n_head * hd + (int64_t)h * hd;
    const int32_t pos = a->p0 + t;
    int32_t lo = 0;
    if (a->swa && pos - hp->n_swa + 1 > 0) lo = pos - hp->n_swa + 1;
    const int32_t n_slots = a->kv->n_slots;
    for (int32_t p = lo; p <= pos;) {
        const int32_t slot = p % n_slots, cnt = pos - p + 1 < n_slots - slot ? pos - p + 1 : n_slots - slot;
        ka->qk(q, a->kv->k + (int64_t)slot * k_stride + (int64_t)g * hd, (size_t)k_stride, hd, cnt, scores + (p - lo));
        p += cnt;
    }
    if (hp->attn_softcap > 0) {
        for (int32_t p = lo; p <= pos; p++)
            scores[p - lo] = hp->attn_softcap * tanhf(scores[p - lo] * hp->attn_scale / hp->attn_softcap);
        op_softmax(scores, pos - lo + 1, 1.0f);
    } else {
        op_softmax(scores, pos - lo + 1, hp->attn_scale);
    }
    float *out = ctx->attn + (int64_t)t * hp->n_head * hdv + (int64_t)h * hdv;
    memset(out, 0, sizeof(float) * (size_t)hdv);
    for (int32_t p = lo; p <= pos;) {
        const int32_t slot = p % n_slots, cnt = pos - p + 1 < n_slots - slot ? pos - p + 1 : n_slots - slot;
        ka->av(scores + (p - lo), a->kv->v + (int64_t)slot * v_stride + (int64_t)g * hdv, (size_t)v_stride, hdv, cnt,
               out);
        p += cnt;
    }
}

static void attn_worker(void *arg, int ith, int nth) {
    const attn_task *a = arg;
    const int32_t n_head = a->ctx->model->hp.n_head;
    float *scores = a->ctx->scores + (int64_t)ith * a->ctx->n_ctx;
    int64_t j0, j1;
    kw_split_range((int64_t)a->n * n_head, ith, nth, &j0, &j1);
    for (int64_t j = j0; j < j1; j++) attend_one(a, (int32_t)(j / n_head), (int32_t)(j % n_head), scores);
}

/* ---------------------------------------------------------------- one layer */

static void rope_for_layer(const kw_context *ctx, const kw_layer *ly, rope_params *rp) {
    const kw_hparams *hp = &ctx->model->hp;
    rp->n_rot = hp->n_rot;
    rp->neox = ctx->model->desc->rope == ROPE_NEOX;
    rp->base = ly->is_swa ? hp->rope_base_swa : hp->rope_base;
    rp->freq_scale = ly->is_swa ? 1.0f : hp->rope_freq_scale;
    rp->mscale = hp->rope_attn_factor;
    rp->factors = ctx->rope_factors;
}

static void attention_block(kw_context *ctx, int il, int32_t n, int32_t p0, float *tmp) {
    const kw_model *m = ctx->model;
    const arch_desc *d = m->desc;
    const kw_hparams *hp = &m->hp;
    const kw_layer *ly = &m->layers[il];
    const int64_t E = hp->n_embd, Q = (int64_t)hp->n_head * hp->head_dim;
    const int64_t K = (int64_t)hp->n_head_kv * hp->head_dim, V = (int64_t)hp->n_head_kv * hp->head_dim_v;
    const int64_t O = (int64_t)hp->n_head * hp->head_dim_v;

    /* norm */
    norm_rows(ctx->h, ctx->x, &ly->attn_norm, n, E, hp->norm_eps, tmp);
    /* q, k, v projections */
    if (d->fused_qkv) {
        matmul(ctx, ctx->qkv, &ly->wqkv, ctx->h, n);
        if (ly->bqkv.data) op_add_bias(ctx->qkv, vec(&ly->bqkv, tmp), n, Q + K + V);
        for (int32_t t = 0; t < n; t++) {
            const float *src = ctx->qkv + t * (Q + K + V);
            memcpy(ctx->q + t * Q, src, sizeof(float) * (size_t)Q);
            memcpy(ctx->k + t * K, src + Q, sizeof(float) * (size_t)K);
            memcpy(ctx->v + t * V, src + Q + K, sizeof(float) * (size_t)V);
        }
    } else {
        matmul(ctx, ctx->q, &ly->wq, ctx->h, n);
        matmul_x(ctx, ctx->k, &ly->wk, ctx->h, n, true);
        matmul_x(ctx, ctx->v, &ly->wv, ctx->h, n, true);
        if (ly->bq.data) op_add_bias(ctx->q, vec(&ly->bq, tmp), n, Q);
        if (ly->bk.data) op_add_bias(ctx->k, vec(&ly->bk, tmp), n, K);
        if (ly->bv.data) op_add_bias(ctx->v, vec(&ly->bv, tmp), n, V);
    }
    /* per-head q/k norm, before RoPE */
    if (d->qk_norm) {
        const float *qn = vec(&ly->q_norm, tmp);
        for (int64_t r = 0; r < (int64_t)n * hp->n_head; r++)
            op_rmsnorm(ctx->q + r * hp->head_dim, ctx->q + r * hp->head_dim, qn, hp->head_dim, hp->norm_eps);
        const float *kn = vec(&ly->k_norm, tmp);
        for (int64_t r = 0; r < (int64_t)n * hp->n_head_kv; r++)
            op_rmsnorm(ctx->k + r * hp->head_dim, ctx->k + r * hp->head_dim, kn, hp->head_dim, hp->norm_eps);
    }
    /* RoPE, then k and v into the cache */
    rope_params rp;
    rope_for_layer(ctx, ly, &rp);
    const kw_kv_layer *kv = &ctx->kv[il];
    for (int32_t t = 0; t < n; t++) {
        op_rope(ctx->q + t * Q, hp->n_head, hp->head_dim, p0 + t, &rp);
        op_rope(ctx->k + t * K, hp->n_head_kv, hp->head_dim, p0 + t, &rp);
        int64_t slot = (p0 + t) % kv->n_slots;
        memcpy(kv->k + slot * K, ctx->k + t * K, sizeof(float) * (size_t)K);
        memcpy(kv->v + slot * V, ctx->v + t * V, sizeof(float) * (size_t)V);
    }
    /* attention */
    attn_task at = {ctx, kv, ly->is_swa, n, p0};
    kw_pool_run(ctx->pool, attn_worker, &at);
    /* output projection */
    matmul(ctx, ctx->h, &ly->wo, ctx->attn, n);
    (void)O;
    if (ly->bo.data) op_add_bias(ctx->h, vec(&ly->bo, tmp), n, E);
    if (d->post_attn_norm) norm_rows(ctx->h, ctx->h, &ly->post_attn_norm, n, E, hp->norm_eps, tmp);
    /* residual */
    op_add_scaled(ctx->x, ctx->h, hp->residual_scale, (int64_t)n * E);
}

static void ffn_block(kw_context *ctx, int il, int32_t n, float *tmp) {
    const kw_model *m = ctx->model;
    const arch_desc *d = m->desc;
    const kw_hparams *hp = &m->hp;
    const kw_layer *ly = &m->layers[il];
    const int64_t E = hp->n_embd, F = hp->n_ff;

    norm_rows(ctx->h, ctx->x, &ly->ffn_norm, n, E, hp->norm_eps, tmp);
    /* gate and up: ff holds (n, F) gate then ff2 holds (n, F) up */
    if (d->fused_gate_up) {
        matmul(ctx, ctx->ff, &ly->w_up, ctx->h, n); /* (n, 2F): [gate | up] */
        /* compact in place, first token first: token t's halves only move down over tokens < t */
        for (int32_t t = 0; t < n; t++) {
            memcpy(ctx->ff2 + t * F, ctx->ff + t * 2 * F + F, sizeof(float) * (size_t)F);
            memmove(ctx->ff + t * F, ctx->ff + t * 2 * F, sizeof(float) * (size_t)F);
        }
    } else {
        matmul(ctx, ctx->ff, &ly->w_gate, ctx->h, n);
        matmul_x(ctx, ctx->ff2, &ly->w_up, ctx->h, n, true);
    }
    if (d->act == FFN_GELU_TANH)
        op_geglu_tanh(ctx->ff, ctx->ff2, (int64_t)n * F);
    else
        op_swiglu(ctx->ff, ctx->ff2, (int64_t)n * F);
    matmul(ctx, ctx->h, &ly->w_down, ctx->ff, n);
    if (d->post_ffn_norm) norm_rows(ctx->h, ctx->h, &ly->post_ffn_norm, n, E, hp->norm_eps, tmp);
    op_add_scaled(ctx->x, ctx->h, hp->residual_scale, (int64_t)n * E);
}

/* ---------------------------------------------------------------- the pass */

kw_status forward_batch(kw_context *ctx, const kw_token *tokens, int32_t n, const int32_t *row_of) {
    const kw_model *m = ctx->model;
    const kw_hparams *hp = &m->hp;
    const int64_t E = hp->n_embd;
    const int32_t p0 = ctx->n_past;
    float *tmp = ctx->vecbuf;

    /* embeddings */
    for (int32_t t = 0; t < n; t++) {
        op_weight_row(ctx->x + t * E, &m->tok_embd, tokens[t]);
        if (hp->embd_scale != 1.0f)
            for (int64_t i = 0; i < E; i++) ctx->x[t * E + i] *= hp->embd_scale;
    }
    for (int il = 0; il < hp->n_layer; il++) {
        attention_block(ctx, il, n, p0, tmp);
        ffn_block(ctx, il, n, tmp);
    }
    ctx->n_past = p0 + n;

    /* final norm and logits for the rows that want them */
    int32_t n_out = 0, first_row = -1;
    const float *on = vec(&m->output_norm, tmp);
    for (int32_t t = 0; t < n; t++) {
        if (row_of[t] < 0) continue;
        if (first_row < 0) first_row = row_of[t];
        op_rmsnorm(ctx->out_h + n_out * E, ctx->x + t * E, on, E, hp->norm_eps);
        if (hp->logit_scale != 1.0f)
            for (int64_t i = 0; i < E; i++) ctx->out_h[n_out * E + i] /= hp->logit_scale;
        n_out++;
    }
    if (n_out == 0) return KW_OK;
    float *logits = ctx->logits + (int64_t)first_row * hp->n_vocab;
    matmul(ctx, logits, &m->output, ctx->out_h, n_out);
    if (hp->final_softcap > 0) op_softcap(logits, (int64_t)n_out * hp->n_vocab, hp->final_softcap);
    return KW_OK;
}
