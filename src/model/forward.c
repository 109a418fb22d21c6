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
 * Work runs on the context's pool as chunks (kw_pool_for): output rows of each matmul (ops.c),
 * (block of tokens, KV head) pairs of attention, groups of tokens for the per-token steps between
 * matmuls. The tokens of a chunk may belong to different sequences (kw_decode_batch): the matmuls
 * and per-token steps do not care; RoPE, the cache write and attention use each token's own
 * position and its sequence's cache region. The FFN goes FFN_SUB_BATCH tokens at a time (its
 * n_ff-wide scratch holds only that many rows). Nothing here allocates: every buffer was sized in
 * kw_context_create.
 */
#include "model/model.h"
#include "tensor/kernels/kernels.h"
#include "tensor/quants.h"

#include <assert.h>
#include <math.h>
#include <string.h>

/* x · Wᵀ for n tokens; shows the inputs to an observer first (importance-matrix statistics).
 * same_input: x has not changed since the previous matmul (its quantized copy is reused). */
static void matmul_x(kw_context *ctx, float *out, const kw_weight *w, const float *x, int32_t n,
                     bool same_input) {
    if (ctx->observer) ctx->observer(ctx->observer_user, w->name, x, w->n_in, n);
    op_matmul(ctx->pool, out, w, x, n, &ctx->mm, same_input);
}

static void matmul(kw_context *ctx, float *out, const kw_weight *w, const float *x, int32_t n) {
    matmul_x(ctx, out, w, x, n, false);
}

/* A vector weight (norm, bias, RoPE factors): the loader keeps them as F32. */
static const float *vec(const kw_weight *w) {
    assert(!w->data || w->type == GGML_TYPE_F32);
    return w->data;
}

/* ---------------------------------------------------------------- per-token steps */

/* The steps between matmuls work on each token's rows alone; they run on the pool in chunks of
 * TOKENS_PER_CHUNK tokens (a single chunk, on the calling thread, when decoding). */
#define TOKENS_PER_CHUNK 4

typedef struct layer_step {
    kw_context *ctx;
    const kw_layer *ly;
    const kw_layer
        *next; /* the next layer (its attention norm is fused into this one's end), or NULL */
    const kw_kv_layer *kv;
    rope_params rp;
    int32_t n;
    int32_t n_blocks;         /* attention blocks of the chunk (ctx->blk_start) */
    const int32_t *pos, *seq; /* each token's position and sequence (ctx->tok_pos / tok_seq) */
    /* FFN activation: gate/up rows of one sub-batch, and where the product goes */
    const float *gate, *up;
    float *act_out;
    int64_t gu_stride;
} layer_step;

static void for_tokens(kw_context *ctx, int32_t n, kw_pool_chunk_fn fn, layer_step *st) {
    kw_pool_for(ctx->pool, (n + TOKENS_PER_CHUNK - 1) / TOKENS_PER_CHUNK, fn, st);
}

static void token_range(const layer_step *st, int64_t c, int32_t *t0, int32_t *t1) {
    *t0 = (int32_t)(c * TOKENS_PER_CHUNK);
    *t1 = *t0 + TOKENS_PER_CHUNK < st->n ? *t0 + TOKENS_PER_CHUNK : st->n;
}

/* h = norm(x) * attn_norm of the first layer (later layers get theirs from step_ffn_out). */
static void step_attn_norm(void *arg, int64_t c, int ith) {
    const layer_step *st = arg;
    const kw_hparams *hp = &st->ctx->model->hp;
    const int64_t E = hp->n_embd;
    int32_t t0, t1;
    token_range(st, c, &t0, &t1);
    (void)ith;
    for (int32_t t = t0; t < t1; t++)
        op_rmsnorm(st->ctx->h + t * E, st->ctx->x + t * E, vec(&st->ly->attn_norm), E,
                   hp->norm_eps);
}

/* After the q/k/v projections: split a fused qkv, biases, per-head q/k norm, RoPE, then k and v
 * into the cache. */
static void step_qkv(void *arg, int64_t c, int ith) {
    const layer_step *st = arg;
    kw_context *ctx = st->ctx;
    const kw_layer *ly = st->ly;
    const arch_desc *d = ctx->model->desc;
    const kw_hparams *hp = &ctx->model->hp;
    const int64_t Q = (int64_t)hp->n_head * hp->head_dim, K = (int64_t)hp->n_head_kv * hp->head_dim;
    const int64_t V = (int64_t)hp->n_head_kv * hp->head_dim_v;
    int32_t t0, t1;
    token_range(st, c, &t0, &t1);
    (void)ith;
    for (int32_t t = t0; t < t1; t++) {
        float *q = ctx->q + t * Q, *k = ctx->k + t * K, *v = ctx->v + t * V;
        if (d->fused_qkv) {
            const float *src = ctx->qkv + t * (Q + K + V);
            memcpy(q, src, sizeof(float) * (size_t)Q);
            memcpy(k, src + Q, sizeof(float) * (size_t)K);
            memcpy(v, src + Q + K, sizeof(float) * (size_t)V);
            if (ly->bqkv.data) {
                const float *b = vec(&ly->bqkv);
                op_add_bias(q, b, 1, Q);
                op_add_bias(k, b + Q, 1, K);
                op_add_bias(v, b + Q + K, 1, V);
            }
        } else {
            if (ly->bq.data) op_add_bias(q, vec(&ly->bq), 1, Q);
            if (ly->bk.data) op_add_bias(k, vec(&ly->bk), 1, K);
            if (ly->bv.data) op_add_bias(v, vec(&ly->bv), 1, V);
        }
        if (d->qk_norm) {
            for (int32_t h = 0; h < hp->n_head; h++)
                op_rmsnorm(q + h * hp->head_dim, q + h * hp->head_dim, vec(&ly->q_norm),
                           hp->head_dim, hp->norm_eps);
            for (int32_t h = 0; h < hp->n_head_kv; h++)
                op_rmsnorm(k + h * hp->head_dim, k + h * hp->head_dim, vec(&ly->k_norm),
                           hp->head_dim, hp->norm_eps);
        }
        op_rope(q, hp->n_head, hp->head_dim, st->pos[t], &st->rp);
        op_rope(k, hp->n_head_kv, hp->head_dim, st->pos[t], &st->rp);
        kv_write(ctx, st->kv, st->seq[t], st->pos[t] % st->kv->n_slots, k, v);
    }
}

/* Keys (and values) per block of the attention loops: the block stays in L1 while every query
 * head of the group goes over it (64 rows of 128 floats = 32 KB). */
#define ATTN_KEY_BLOCK 64

/* The run of consecutive cache slots from position p (in slot p % n_slots: the cache is a ring)
 * up to pos, at most ATTN_KEY_BLOCK long: its length, and its first slot in *slot. */
static inline int32_t key_run(int32_t p, int32_t pos, int32_t n_slots, int32_t *slot) {
    *slot = p % n_slots;
    const int32_t cnt = pos - p + 1 < n_slots - *slot ? pos - p + 1 : n_slots - *slot;
    return cnt < ATTN_KEY_BLOCK ? cnt : ATTN_KEY_BLOCK;
}

/* Scores of nq queries against a run of cnt keys from `slot` on, read in the cache's key type. */
static void qk_run(const layer_step *st, const kernel_attn *ka, const float *q, int nq, int32_t seq,
                   int32_t g, int32_t slot, int cnt, float *scores) {
    const kw_context *ctx = st->ctx;
    const int hd = ctx->model->hp.head_dim;
    size_t ks;
    const void *k = kv_key_run(ctx, st->kv, seq, g, slot, &ks);
    switch (ctx->kvf.type_k) {
    case KW_TYPE_F32: ka->qk(q, (size_t)hd, nq, k, ks, hd, cnt, scores, ATTN_TILE); break;
    case KW_TYPE_F16: ka->qk_f16(q, (size_t)hd, nq, k, ks, hd, cnt, scores, ATTN_TILE); break;
    default: ka->qk_q8_0(q, (size_t)hd, nq, k, ks, hd, cnt, scores, ATTN_TILE); break;
    }
}

/* out_j += weights_j · the run of cnt values from `slot` on, read in the cache's value type. */
static void av_run(const layer_step *st, const kernel_attn *ka, const float *w, int nq, int32_t seq,
                   int32_t g, int32_t slot, int cnt, float *out) {
    const kw_context *ctx = st->ctx;
    const int hdv = ctx->model->hp.head_dim_v;
    size_t vs;
    const void *v = kv_value_run(ctx, st->kv, seq, g, slot, &vs);
    switch (ctx->kvf.type_v) {
    case KW_TYPE_F32: ka->av(w, ATTN_TILE, nq, v, vs, hdv, cnt, out, (size_t)hdv); break;
    case KW_TYPE_F16: ka->av_f16(w, ATTN_TILE, nq, v, vs, hdv, cnt, out, (size_t)hdv); break;
    default: ka->av_q8_0(w, ATTN_TILE, nq, v, vs, hdv, cnt, out, (size_t)hdv); break;
    }
}

/* The first position token t attends (0, or the start of its sliding window). */
static inline int32_t attn_lo(const layer_step *st, int32_t t) {
    const int32_t n_swa = st->ctx->model->hp.n_swa, pos = st->pos[t];
    return st->ly->is_swa && pos - n_swa + 1 > 0 ? pos - n_swa + 1 : 0;
}

/* A block of tokens [ta, tb) (one sequence, consecutive positions: ctx->blk_start) and one KV
 * head: for each query head sharing that KV head (grouped-query attention) and each token,
 * softmax(q·Kᵀ * scale [soft-capped]) V over the positions it sees. The cache goes in tiles of
 * ATTN_TILE positions, aligned to multiples of ATTN_TILE; every token of the block runs over a
 * tile while it is in cache, so a tile is fetched once per block, not once per token. Per token
 * and head an online softmax (flash-attention style) keeps a running max m and sum l: a tile's
 * scores become exp(s - m') with m' the new max, the output and l so far are scaled by
 * exp(m - m'), and the output is divided by l at the end. So no score row longer than a tile
 * exists, and a token's result does not depend on the block it is in (its tiles are the same). */
static void attend_block(const layer_step *st, int32_t ta, int32_t tb, int32_t g, float *scratch) {
    const kw_context *ctx = st->ctx;
    const kw_hparams *hp = &ctx->model->hp;
    const kernel_attn *ka = kernels_attn();
    const int32_t hd = hp->head_dim, hdv = hp->head_dim_v, group = hp->n_head / hp->n_head_kv;
    const int32_t n_slots = st->kv->n_slots;
    float *scores = scratch, *run_max = scratch + (int64_t)group * ATTN_TILE,
          *run_sum = run_max + (int64_t)group * ATTN_QBLOCK;
    int32_t first = INT32_MAX, last_pos = 0;
    for (int32_t t = ta; t < tb; t++) {
        float *out = ctx->attn + (int64_t)t * hp->n_head * hdv + (int64_t)g * group * hdv;
        memset(out, 0, sizeof(float) * (size_t)hdv * (size_t)group);
        for (int32_t j = 0; j < group; j++)
            run_max[(t - ta) * group + j] = -INFINITY, run_sum[(t - ta) * group + j] = 0;
        if (attn_lo(st, t) < first) first = attn_lo(st, t);
        if (st->pos[t] > last_pos) last_pos = st->pos[t];
    }
    for (int32_t t0 = first / ATTN_TILE * ATTN_TILE; t0 <= last_pos; t0 += ATTN_TILE)
        for (int32_t t = ta; t < tb; t++) {
            const int32_t a = attn_lo(st, t) > t0 ? attn_lo(st, t) : t0,
                          b = st->pos[t] < t0 + ATTN_TILE - 1 ? st->pos[t] : t0 + ATTN_TILE - 1;
            if (a > b) continue;
            const int32_t nt = b - a + 1, seq = st->seq[t];
            const float *q = ctx->q + (int64_t)t * hp->n_head * hd + (int64_t)g * group * hd;
            float *out = ctx->attn + (int64_t)t * hp->n_head * hdv + (int64_t)g * group * hdv;
            float *mx = run_max + (t - ta) * group, *sum = run_sum + (t - ta) * group;
            for (int32_t p = a, slot, cnt; p <= b; p += cnt) {
                cnt = key_run(p, b, n_slots, &slot);
                qk_run(st, ka, q, group, seq, g, slot, cnt, scores + (p - a));
            }
            for (int32_t j = 0; j < group; j++) {
                float *sj = scores + (int64_t)j * ATTN_TILE, scale = hp->attn_scale;
                if (hp->attn_softcap > 0) {
                    for (int32_t i = 0; i < nt; i++)
                        sj[i] = hp->attn_softcap * tanhf(sj[i] * scale / hp->attn_softcap);
                    scale = 1.0f;
                }
                const float old_max = mx[j];
                const float tile_sum = ka->softmax_tile(sj, nt, scale, &mx[j]);
                if (sum[j] > 0 && mx[j] > old_max) { /* rescale what came before */
                    const float corr = expf(old_max - mx[j]);
                    sum[j] *= corr;
                    for (int32_t i = 0; i < hdv; i++)
                        out[(int64_t)j * hdv + i] *= corr;
                }
                sum[j] += tile_sum;
            }
            for (int32_t p = a, slot, cnt; p <= b; p += cnt) {
                cnt = key_run(p, b, n_slots, &slot);
                av_run(st, ka, scores + (p - a), group, seq, g, slot, cnt, out);
            }
        }
    for (int32_t t = ta; t < tb; t++) {
        float *out = ctx->attn + (int64_t)t * hp->n_head * hdv + (int64_t)g * group * hdv;
        for (int32_t j = 0; j < group; j++) {
            const float inv = 1.0f / run_sum[(t - ta) * group + j];
            for (int32_t i = 0; i < hdv; i++)
                out[(int64_t)j * hdv + i] *= inv;
        }
    }
}

/* Cuts the chunk's tokens into attention blocks (ctx->blk_start): runs of one sequence at
 * consecutive positions, at most ATTN_QBLOCK long. Returns the number of blocks. */
static int32_t attention_blocks(kw_context *ctx, int32_t n) {
    int32_t nb = 0;
    for (int32_t t = 0; t < n; t++)
        if (t == 0 || t - ctx->blk_start[nb - 1] == ATTN_QBLOCK ||
            ctx->tok_seq[t] != ctx->tok_seq[t - 1] || ctx->tok_pos[t] != ctx->tok_pos[t - 1] + 1)
            ctx->blk_start[nb++] = t;
    ctx->blk_start[nb] = n;
    return nb;
}

/* Chunk c is one (block, KV head) pair, the last block first: later tokens see more positions,
 * so the long items go out first and the short ones fill the end evenly. */
static void step_attention(void *arg, int64_t c, int ith) {
    const layer_step *st = arg;
    const kw_hparams *hp = &st->ctx->model->hp;
    const int32_t n_kv = hp->n_head_kv, group = hp->n_head / n_kv;
    const int32_t b = st->n_blocks - 1 - (int32_t)(c / n_kv), g = (int32_t)(c % n_kv);
    attend_block(st, st->ctx->blk_start[b], st->ctx->blk_start[b + 1], g,
                 st->ctx->scores + (int64_t)ith * ATTN_SCRATCH(group));
}

/* After the output projection (in h): bias, post norm, residual; then h = norm(x) * ffn_norm. */
static void step_attn_out(void *arg, int64_t c, int ith) {
    const layer_step *st = arg;
    kw_context *ctx = st->ctx;
    const kw_layer *ly = st->ly;
    const kw_hparams *hp = &ctx->model->hp;
    const int64_t E = hp->n_embd;
    int32_t t0, t1;
    token_range(st, c, &t0, &t1);
    (void)ith;
    for (int32_t t = t0; t < t1; t++) {
        float *h = ctx->h + t * E, *x = ctx->x + t * E;
        if (ly->bo.data) op_add_bias(h, vec(&ly->bo), 1, E);
        if (ctx->model->desc->post_attn_norm)
            op_rmsnorm(h, h, vec(&ly->post_attn_norm), E, hp->norm_eps);
        op_add_scaled(x, h, hp->residual_scale, E);
        op_rmsnorm(h, x, vec(&ly->ffn_norm), E, hp->norm_eps);
    }
}

/* act(gate) * up for the tokens of one FFN sub-batch. */
static void step_ffn_act(void *arg, int64_t c, int ith) {
    const layer_step *st = arg;
    const kw_hparams *hp = &st->ctx->model->hp;
    const int64_t F = hp->n_ff;
    int32_t t0, t1;
    token_range(st, c, &t0, &t1);
    (void)ith;
    for (int32_t t = t0; t < t1; t++) {
        float *out = st->act_out + t * F;
        if (out != st->gate + t * st->gu_stride)
            memcpy(out, st->gate + t * st->gu_stride, sizeof(float) * (size_t)F);
        if (st->ctx->model->desc->act == FFN_GELU_TANH)
            op_geglu_tanh(out, st->up + t * st->gu_stride, F);
        else
            op_swiglu(out, st->up + t * st->gu_stride, F);
    }
}

/* After the down projection (in h): post norm, residual; then the next layer's attention norm. */
static void step_ffn_out(void *arg, int64_t c, int ith) {
    const layer_step *st = arg;
    kw_context *ctx = st->ctx;
    const kw_hparams *hp = &ctx->model->hp;
    const int64_t E = hp->n_embd;
    int32_t t0, t1;
    token_range(st, c, &t0, &t1);
    (void)ith;
    for (int32_t t = t0; t < t1; t++) {
        float *h = ctx->h + t * E, *x = ctx->x + t * E;
        if (ctx->model->desc->post_ffn_norm)
            op_rmsnorm(h, h, vec(&st->ly->post_ffn_norm), E, hp->norm_eps);
        op_add_scaled(x, h, hp->residual_scale, E);
        if (st->next) op_rmsnorm(h, x, vec(&st->next->attn_norm), E, hp->norm_eps);
    }
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

/* Expects h = norm(x) * attn_norm; leaves h = norm(x) * ffn_norm after the residual. */
static void attention_block(kw_context *ctx, layer_step *st) {
    const kw_model *m = ctx->model;
    const kw_layer *ly = st->ly;
    const int32_t n = st->n;
    if (m->desc->fused_qkv) {
        matmul(ctx, ctx->qkv, &ly->wqkv, ctx->h, n);
    } else {
        matmul(ctx, ctx->q, &ly->wq, ctx->h, n);
        matmul_x(ctx, ctx->k, &ly->wk, ctx->h, n, true);
        matmul_x(ctx, ctx->v, &ly->wv, ctx->h, n, true);
    }
    for_tokens(ctx, n, step_qkv, st);
    kw_pool_for(ctx->pool, (int64_t)st->n_blocks * m->hp.n_head_kv, step_attention, st);
    matmul(ctx, ctx->h, &ly->wo, ctx->attn, n);
    for_tokens(ctx, n, step_attn_out, st);
}

/* Expects h = norm(x) * ffn_norm; leaves h = the next layer's attention input. The tokens go
 * through gate/up/down FFN_SUB_BATCH at a time; each sub-batch's down projection overwrites its own
 * rows of h, which gate/up no longer need. */
static void ffn_block(kw_context *ctx, layer_step *st) {
    const kw_model *m = ctx->model;
    const kw_layer *ly = st->ly;
    const int64_t E = m->hp.n_embd, F = m->hp.n_ff;
    const int32_t n = st->n;
    for (int32_t s0 = 0; s0 < n; s0 += FFN_SUB_BATCH) {
        const int32_t ns = n - s0 < FFN_SUB_BATCH ? n - s0 : FFN_SUB_BATCH;
        float *hs = ctx->h + (int64_t)s0 * E;
        layer_step sub = *st;
        sub.n = ns;
        if (m->desc->fused_gate_up) {
            matmul(ctx, ctx->ff, &ly->w_up, hs, ns); /* (ns, 2F): [gate | up] */
            sub.gate = ctx->ff, sub.up = ctx->ff + F, sub.gu_stride = 2 * F, sub.act_out = ctx->ff2;
        } else {
            matmul(ctx, ctx->ff, &ly->w_gate, hs, ns);
            matmul_x(ctx, ctx->ff2, &ly->w_up, hs, ns, true);
            sub.gate = ctx->ff, sub.up = ctx->ff2, sub.gu_stride = F, sub.act_out = ctx->ff;
        }
        for_tokens(ctx, ns, step_ffn_act, &sub);
        matmul(ctx, hs, &ly->w_down, sub.act_out, ns);
    }
    for_tokens(ctx, n, step_ffn_out, st);
}

/* ---------------------------------------------------------------- the pass */

kw_status forward_batch(kw_context *ctx, const kw_token *tokens, int32_t n, const int32_t *row_of) {
    const kw_model *m = ctx->model;
    const kw_hparams *hp = &m->hp;
    const int64_t E = hp->n_embd;

    /* embeddings */
    for (int32_t t = 0; t < n; t++) {
        op_weight_row(ctx->x + t * E, &m->tok_embd, tokens[t]);
        if (hp->embd_scale != 1.0f)
            for (int64_t i = 0; i < E; i++)
                ctx->x[t * E + i] *= hp->embd_scale;
    }
    layer_step st = {
        .ctx = ctx, .ly = &m->layers[0], .n = n, .pos = ctx->tok_pos, .seq = ctx->tok_seq};
    st.n_blocks = attention_blocks(ctx, n);
    for_tokens(ctx, n, step_attn_norm, &st);
    for (int il = 0; il < hp->n_layer; il++) {
        st.ly = &m->layers[il];
        st.next = il + 1 < hp->n_layer ? &m->layers[il + 1] : NULL;
        st.kv = &ctx->kv[il];
        rope_for_layer(ctx, st.ly, &st.rp);
        attention_block(ctx, &st);
        ffn_block(ctx, &st);
    }
    for (int32_t t = 0; t < n; t++)
        kv_seq_advance(ctx, ctx->tok_seq[t], ctx->tok_pos[t]);

    /* final norm and logits for the rows that want them; their normed states go to h, which the
     * last layer left free */
    float *out_h = ctx->h;
    int32_t n_out = 0, first_row = -1;
    const float *on = vec(&m->output_norm);
    for (int32_t t = 0; t < n; t++) {
        if (row_of[t] < 0) continue;
        if (first_row < 0) first_row = row_of[t];
        op_rmsnorm(out_h + n_out * E, ctx->x + t * E, on, E, hp->norm_eps);
        if (hp->logit_scale != 1.0f)
            for (int64_t i = 0; i < E; i++)
                out_h[n_out * E + i] /= hp->logit_scale;
        n_out++;
    }
    if (n_out == 0) return KW_OK;
    float *logits = ctx->logits + (int64_t)first_row * hp->n_vocab;
    matmul(ctx, logits, &m->output, out_h, n_out);
    if (hp->final_softcap > 0) op_softcap(logits, (int64_t)n_out * hp->n_vocab, hp->final_softcap);
    return KW_OK;
}
