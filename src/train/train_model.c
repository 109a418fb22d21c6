/* train_model.c - the model being trained: parameters and gradients in two blocks laid out by
 * train_layout, the activation arena planned once per (sequences, sequence length), the
 * deterministic initialisation, and the forward pass with the cross-entropy (whose backward runs
 * here too, block by block, so the n_vocab-wide probabilities never exist for the whole batch).
 * The backward pass through the layers is train_backward.c.
 *
 * Per layer, for n = n_seq * seq_len rows (shapes in train.h, train_acts):
 *   h1 = rmsnorm(x) * attn_norm            q, k, v = h1 Wqᵀ, h1 Wkᵀ, h1 Wvᵀ;  q, k = RoPE
 *   att = causal GQA attention per sequence x_mid = x + att Woᵀ
 *   h2 = rmsnorm(x_mid) * ffn_norm          act = SiLU(h2 Wgᵀ) * (h2 Wuᵀ)
 *   x' = x_mid + act Wdᵀ
 * then hf = rmsnorm(x_L) * output_norm, logits = hf · tok_embdᵀ, cross-entropy.
 * Positions restart at 0 in every sequence. Matrix products go through tensor_sgemm on the pool;
 * the per-row steps run on the pool in chunks of TRAIN_ROWS_PER_CHUNK rows, attention in (sequence,
 * KV head) items: no result depends on which thread ran what.
 * Must not: allocate outside create and plan.
 */
#include "train/train.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- create / plan */

kw_status train_model_create(const train_config *cfg, train_model **out) {
    kw_status st = train_config_validate(cfg);
    if (st) return st;
    train_model *m = kw_calloc(1, sizeof *m, "train model");
    if (!m) return KW_ERR_NOMEM;
    m->cfg = *cfg;
    if ((st = train_layout_build(cfg, &m->layout))) goto fail;
    const size_t bytes = m->layout.n_floats * sizeof(float);
    m->params = kw_malloc_aligned(bytes, "parameters");
    m->grads = kw_malloc_aligned(bytes, "gradients");
    if (!m->params || !m->grads) {
        st = KW_ERR_NOMEM;
        goto fail;
    }
    memset(m->params, 0, bytes);
    memset(m->grads, 0, bytes);
    if ((st = train_view_make(&m->layout, cfg, m->params, &m->w)) ||
        (st = train_view_make(&m->layout, cfg, m->grads, &m->g)))
        goto fail;
    *out = m;
    return KW_OK;
fail:
    train_model_free(m);
    return st;
}

void train_model_free(train_model *m) {
    if (!m) return;
    kw_free_aligned(m->params);
    kw_free_aligned(m->grads);
    kw_free_aligned(m->arena);
    train_view_free(&m->w);
    train_view_free(&m->g);
    train_layout_free(&m->layout);
    free(m);
}

/* One buffer of the arena: where its pointer goes and how many floats it holds. */
typedef struct arena_entry {
    float **ptr;
    uint64_t n;
} arena_entry;

#define ARENA_MAX 40

/* Lists every activation and scratch buffer of a plan; returns their count. m may be a zeroed
 * struct holding only cfg (to size a plan without making it). */
static int arena_entries(train_model *m, int32_t n_seq, int32_t T, int32_t n_threads,
                         arena_entry *e) {
    const train_config *c = &m->cfg;
    const uint64_t L = (uint64_t)c->n_layer, n = (uint64_t)n_seq * (uint64_t)T;
    const uint64_t E = (uint64_t)c->n_embd, Q = (uint64_t)c->n_head * (uint64_t)c->head_dim;
    const uint64_t KV = (uint64_t)c->n_head_kv * (uint64_t)c->head_dim, F = (uint64_t)c->n_ff;
    const uint64_t TT = (uint64_t)T * (uint64_t)T, V = (uint64_t)c->n_vocab;
    train_acts *a = &m->a;
    train_scratch *s = &m->s;
    int k = 0;
#define ARENA(p, count) e[k++] = (arena_entry){&(p), (count)}
    ARENA(a->x, (L + 1) * n * E);
    ARENA(a->x_mid, L * n * E);
    ARENA(a->h1, L * n * E);
    ARENA(a->rstd1, L * n);
    ARENA(a->q, L * n * Q);
    ARENA(a->k, L * n * KV);
    ARENA(a->v, L * n * KV);
    ARENA(a->probs, L * (uint64_t)n_seq * (uint64_t)c->n_head * TT);
    ARENA(a->att, L * n * Q);
    ARENA(a->h2, L * n * E);
    ARENA(a->rstd2, L * n);
    ARENA(a->gate, L * n * F);
    ARENA(a->up, L * n * F);
    ARENA(a->act, L * n * F);
    ARENA(a->hf, n * E);
    ARENA(a->rstdf, n);
    ARENA(s->dx, n * E);
    ARENA(s->dh, n * E);
    ARENA(s->dq, n * Q);
    ARENA(s->dq_pre, n * Q);
    ARENA(s->dk, n * KV);
    ARENA(s->dk_pre, n * KV);
    ARENA(s->dv, n * KV);
    ARENA(s->datt, n * Q);
    ARENA(s->dgate, n * F);
    ARENA(s->dup, n * F);
    ARENA(s->dact, n * F);
    ARENA(s->attn_tmp, (uint64_t)n_threads * TT);
    ARENA(s->norm_part, (n / TRAIN_ROWS_PER_CHUNK + 1) * E);
    ARENA(s->probs, (uint64_t)TRAIN_XENT_ROWS * V);
    ARENA(s->loss, TRAIN_XENT_ROWS);
    ARENA(s->weight, n);
    ARENA(m->rope_cs, (uint64_t)T * (uint64_t)c->head_dim);
#undef ARENA
    return k;
}

static uint64_t arena_floats(const arena_entry *e, int k) {
    uint64_t total = 0;
    for (int i = 0; i < k; i++)
        total += (e[i].n + 15) / 16 * 16; /* each buffer on a 64-byte boundary */
    return total;
}

uint64_t train_model_arena_bytes(const train_config *cfg, int32_t n_seq, int32_t seq_len,
                                 int32_t n_threads) {
    train_model tmp = {.cfg = *cfg};
    arena_entry e[ARENA_MAX];
    return arena_floats(e, arena_entries(&tmp, n_seq, seq_len, n_threads, e)) * sizeof(float);
}

kw_status train_model_plan(train_model *m, int32_t n_seq, int32_t seq_len, int32_t n_threads) {
    if (n_seq < 1 || seq_len < 1 || seq_len > m->cfg.n_ctx || n_threads < 1)
        return kw_error(KW_ERR_INVALID_ARG,
                        "training plan: %d sequences of %d tokens on %d threads (the sequence "
                        "must fit the model's context of %d)",
                        n_seq, seq_len, n_threads, m->cfg.n_ctx);
    arena_entry e[ARENA_MAX];
    const int k = arena_entries(m, n_seq, seq_len, n_threads, e);
    const uint64_t total = arena_floats(e, k);
    if (total > SIZE_MAX / sizeof(float))
        return kw_error(KW_ERR_NOMEM, "training plan: %llu floats of activations do not fit",
                        (unsigned long long)total);
    kw_free_aligned(m->arena);
    m->arena = kw_malloc_aligned((size_t)total * sizeof(float), "training activations");
    if (!m->arena) {
        kw_error_wrap(KW_ERR_NOMEM, "%d sequences of %d tokens need %.1f MiB of activations", n_seq,
                      seq_len, (double)total * 4.0 / 1048576.0);
        return KW_ERR_NOMEM;
    }
    float *p = m->arena;
    for (int i = 0; i < k; i++) {
        *e[i].ptr = p;
        p += (e[i].n + 15) / 16 * 16;
    }
    m->arena_floats = (size_t)total;
    m->n_seq = n_seq, m->seq_len = seq_len, m->n_threads = n_threads;
    rope_params rp = {.n_rot = m->cfg.head_dim,
                      .neox = false,
                      .base = m->cfg.rope_base,
                      .freq_scale = 1.0f,
                      .mscale = 1.0f};
    op_rope_table(m->rope_cs, 0, seq_len, &rp);
    return KW_OK;
}

/* ---------------------------------------------------------------- init */

void train_model_init(train_model *m, uint64_t seed) {
    const train_config *c = &m->cfg;
    for (int i = 0; i < m->layout.n; i++) {
        const train_tensor *t = &m->layout.t[i];
        float *p = m->params + t->offset;
        const int64_t n = t->n_in * t->n_out;
        if (t->init == TRAIN_INIT_ONES) {
            for (int64_t j = 0; j < n; j++)
                p[j] = 1.0f;
            continue;
        }
        /* one stream per tensor, from the seed and its name: independent of the layout order */
        train_rng r;
        train_rng_seed(&r, train_hash(seed ^ TRAIN_HASH_SEED, t->name, strlen(t->name)));
        double std = c->init_std;
        if (t->init == TRAIN_INIT_RESIDUAL) std /= sqrt(2.0 * c->n_layer);
        for (int64_t j = 0; j < n; j++)
            p[j] = (float)(std * train_rng_normal(&r));
    }
}

void train_model_zero_grad(train_model *m) {
    memset(m->grads, 0, m->layout.n_floats * sizeof(float));
}

/* ---------------------------------------------------------------- per-row steps */

typedef struct fwd_task {
    train_model *m;
    int il;
    const int32_t *tokens;
    int64_t n; /* rows */
} fwd_task;

static void chunk_rows(const fwd_task *t, int64_t c, int64_t *r0, int64_t *r1) {
    *r0 = c * TRAIN_ROWS_PER_CHUNK;
    *r1 = *r0 + TRAIN_ROWS_PER_CHUNK < t->n ? *r0 + TRAIN_ROWS_PER_CHUNK : t->n;
}

static int64_t n_chunks(int64_t n) { return (n + TRAIN_ROWS_PER_CHUNK - 1) / TRAIN_ROWS_PER_CHUNK; }

static void task_embed(void *arg, int64_t c, int ith) {
    const fwd_task *t = arg;
    const int64_t E = t->m->cfg.n_embd;
    int64_t r0, r1;
    (void)ith;
    chunk_rows(t, c, &r0, &r1);
    op_embedding_forward(t->m->a.x + r0 * E, t->m->w.tok_embd, t->tokens + r0, r1 - r0, E);
}

/* h1 = norm(x) * attn_norm; x_mid starts as x (the attention output is added onto it). */
static void task_attn_norm(void *arg, int64_t c, int ith) {
    const fwd_task *t = arg;
    const train_model *m = t->m;
    const int64_t E = m->cfg.n_embd, off = (int64_t)t->il * t->n * E;
    int64_t r0, r1;
    (void)ith;
    chunk_rows(t, c, &r0, &r1);
    const float *x = m->a.x + off + r0 * E;
    op_rmsnorm_forward(m->a.h1 + off + r0 * E, m->a.rstd1 + (int64_t)t->il * t->n + r0, x,
                       m->w.layer[t->il].attn_norm, r1 - r0, E, m->cfg.norm_eps);
    memcpy(m->a.x_mid + off + r0 * E, x, sizeof(float) * (size_t)((r1 - r0) * E));
}

/* RoPE on q and k in place, at each row's position within its sequence. */
static void task_rope(void *arg, int64_t c, int ith) {
    const fwd_task *t = arg;
    const train_model *m = t->m;
    const train_config *cf = &m->cfg;
    const int64_t Q = (int64_t)cf->n_head * cf->head_dim,
                  KV = (int64_t)cf->n_head_kv * cf->head_dim;
    float *q = m->a.q + (int64_t)t->il * t->n * Q, *k = m->a.k + (int64_t)t->il * t->n * KV;
    int64_t r0, r1;
    (void)ith;
    chunk_rows(t, c, &r0, &r1);
    for (int64_t r = r0; r < r1; r++) {
        const float *cs = m->rope_cs + (r % m->seq_len) * cf->head_dim;
        op_rope_forward(q + r * Q, q + r * Q, cs, cf->n_head, cf->head_dim, cf->head_dim, false);
        op_rope_forward(k + r * KV, k + r * KV, cs, cf->n_head_kv, cf->head_dim, cf->head_dim,
                        false);
    }
}

static op_attn_shape attn_shape(const train_model *m) {
    const train_config *c = &m->cfg;
    return (op_attn_shape){m->seq_len, c->n_head, c->n_head_kv, c->head_dim,
                           1.0f / sqrtf((float)c->head_dim)};
}

/* Item c: sequence c / n_kv, KV head c % n_kv. */
static void task_attention(void *arg, int64_t c, int ith) {
    const fwd_task *t = arg;
    const train_model *m = t->m;
    const train_config *cf = &m->cfg;
    const op_attn_shape s = attn_shape(m);
    const int64_t Q = (int64_t)cf->n_head * cf->head_dim,
                  KV = (int64_t)cf->n_head_kv * cf->head_dim;
    const int64_t seq = c / cf->n_head_kv, g = c % cf->n_head_kv, T = m->seq_len;
    const int64_t row0 = seq * T, il = t->il, group = cf->n_head / cf->n_head_kv;
    (void)ith;
    float *probs = m->a.probs + ((il * m->n_seq + seq) * cf->n_head + g * group) * T * T;
    op_attention_forward(m->a.att + (il * t->n + row0) * Q, probs, m->a.q + (il * t->n + row0) * Q,
                         m->a.k + (il * t->n + row0) * KV, m->a.v + (il * t->n + row0) * KV, &s,
                         (int32_t)g);
}

/* h2 = norm(x_mid) * ffn_norm; the next layer's stream starts as x_mid. */
static void task_ffn_norm(void *arg, int64_t c, int ith) {
    const fwd_task *t = arg;
    const train_model *m = t->m;
    const int64_t E = m->cfg.n_embd, off = (int64_t)t->il * t->n * E;
    int64_t r0, r1;
    (void)ith;
    chunk_rows(t, c, &r0, &r1);
    const float *xm = m->a.x_mid + off + r0 * E;
    op_rmsnorm_forward(m->a.h2 + off + r0 * E, m->a.rstd2 + (int64_t)t->il * t->n + r0, xm,
                       m->w.layer[t->il].ffn_norm, r1 - r0, E, m->cfg.norm_eps);
    memcpy(m->a.x + off + t->n * E + r0 * E, xm, sizeof(float) * (size_t)((r1 - r0) * E));
}

static void task_swiglu(void *arg, int64_t c, int ith) {
    const fwd_task *t = arg;
    const train_model *m = t->m;
    const int64_t F = m->cfg.n_ff, off = (int64_t)t->il * t->n * F;
    int64_t r0, r1;
    (void)ith;
    chunk_rows(t, c, &r0, &r1);
    op_swiglu_forward(m->a.act + off + r0 * F, m->a.gate + off + r0 * F, m->a.up + off + r0 * F,
                      (r1 - r0) * F);
}

static void task_final_norm(void *arg, int64_t c, int ith) {
    const fwd_task *t = arg;
    const train_model *m = t->m;
    const int64_t E = m->cfg.n_embd;
    int64_t r0, r1;
    (void)ith;
    chunk_rows(t, c, &r0, &r1);
    op_rmsnorm_forward(m->a.hf + r0 * E, m->a.rstdf + r0,
                       m->a.x + (int64_t)m->cfg.n_layer * t->n * E + r0 * E, m->w.output_norm,
                       r1 - r0, E, m->cfg.norm_eps);
}

/* ---------------------------------------------------------------- forward */

static void forward_layer(train_model *m, kw_pool *pool, fwd_task *t) {
    const train_config *c = &m->cfg;
    const int il = t->il;
    const int64_t n = t->n, E = c->n_embd, F = c->n_ff;
    const int64_t Q = (int64_t)c->n_head * c->head_dim, KV = (int64_t)c->n_head_kv * c->head_dim;
    const train_layer_view *w = &m->w.layer[il];
    const train_acts *a = &m->a;
    float *h1 = a->h1 + il * n * E, *q = a->q + il * n * Q, *k = a->k + il * n * KV;
    float *v = a->v + il * n * KV, *att = a->att + il * n * Q, *xm = a->x_mid + il * n * E;
    float *h2 = a->h2 + il * n * E, *gate = a->gate + il * n * F, *up = a->up + il * n * F;
    float *act = a->act + il * n * F, *xn = a->x + (il + 1) * n * E;

    kw_pool_for(pool, n_chunks(n), task_attn_norm, t);      /* h1 = norm(x), x_mid = x */
    op_linear_forward(pool, q, h1, w->wq, n, E, Q, false);  /* q = h1 Wqᵀ */
    op_linear_forward(pool, k, h1, w->wk, n, E, KV, false); /* k = h1 Wkᵀ */
    op_linear_forward(pool, v, h1, w->wv, n, E, KV, false); /* v = h1 Wvᵀ */
    kw_pool_for(pool, n_chunks(n), task_rope, t);           /* q, k = RoPE */
    kw_pool_for(pool, (int64_t)m->n_seq * c->n_head_kv, task_attention, t); /* att */
    op_linear_forward(pool, xm, att, w->wo, n, Q, E, true);                 /* x_mid += att Woᵀ */
    kw_pool_for(pool, n_chunks(n), task_ffn_norm, t);             /* h2 = norm(x_mid), x' = x_mid */
    op_linear_forward(pool, gate, h2, w->w_gate, n, E, F, false); /* gate = h2 Wgᵀ */
    op_linear_forward(pool, up, h2, w->w_up, n, E, F, false);     /* up = h2 Wuᵀ */
    kw_pool_for(pool, n_chunks(n), task_swiglu, t);               /* act = SiLU(gate) up */
    op_linear_forward(pool, xn, act, w->w_down, n, F, E, true);   /* x' += act Wdᵀ */
}

double train_model_step(train_model *m, kw_pool *pool, const int32_t *tokens,
                        const int32_t *targets, const float *weight, bool backward,
                        int64_t *n_targets) {
    const train_config *c = &m->cfg;
    const int64_t n = (int64_t)m->n_seq * m->seq_len, E = c->n_embd, V = c->n_vocab;
    fwd_task t = {.m = m, .tokens = tokens, .n = n};
    kw_pool_for(pool, n_chunks(n), task_embed, &t);
    for (int il = 0; il < c->n_layer; il++) {
        t.il = il;
        forward_layer(m, pool, &t);
    }
    kw_pool_for(pool, n_chunks(n), task_final_norm, &t);

    /* cross-entropy block by block; with backward, each block's gradient goes into dh (the final
     * norm's output gradient) and the tied embedding right away */
    if (backward) memset(m->s.dh, 0, sizeof(float) * (size_t)(n * E));
    double total = 0;
    int64_t count = 0;
    for (int64_t r0 = 0; r0 < n; r0 += TRAIN_XENT_ROWS) {
        const int64_t nb = n - r0 < TRAIN_XENT_ROWS ? n - r0 : TRAIN_XENT_ROWS;
        bool any = false;
        for (int64_t r = r0; r < r0 + nb && !any; r++)
            any = targets[r] >= 0;
        if (!any) continue; /* a block of padding or prompt rows costs nothing */
        op_cross_entropy_forward(pool, m->s.loss, m->s.probs, m->a.hf + r0 * E, m->w.tok_embd,
                                 targets + r0, nb, E, V);
        for (int64_t r = 0; r < nb; r++)
            if (targets[r0 + r] >= 0) total += m->s.loss[r], count++;
        if (backward)
            op_cross_entropy_backward(pool, m->s.dh + r0 * E, m->g.tok_embd, m->s.probs,
                                      m->a.hf + r0 * E, m->w.tok_embd, targets + r0, weight + r0,
                                      nb, E, V);
    }
    if (backward) train_model_backward(m, pool, tokens);
    if (n_targets) *n_targets = count;
    return total;
}
