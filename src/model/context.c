/* context.c - kw_context: the KV cache, scratch buffers and thread pool of one user of a model,
 * kw_decode / kw_decode_batch, which check a batch and split it into chunks of at most n_batch
 * tokens for forward_batch, and the kw_batch helpers. The cache itself lives in kv_cache.c.
 *
 * All memory is allocated in kw_context_create from the hyperparameters and n_batch; decoding
 * allocates nothing (the logits buffer grows only when a call asks for more rows than any call
 * before it).
 */
#include "model/model.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

kw_context_params kw_context_default_params(void) {
    kw_context_params p = {.n_ctx = 0,
                           .n_batch = 512,
                           .n_threads = 0,
                           .n_seq_max = 1,
                           .cache_type_k = KW_TYPE_F16,
                           .cache_type_v = KW_TYPE_F16};
    return p;
}

static int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }

static kw_status alloc_scratch(kw_context *c) {
    const kw_hparams *hp = &c->model->hp;
    const int64_t B = c->n_batch, E = hp->n_embd;
    const int64_t Q = (int64_t)hp->n_head * hp->head_dim, K = (int64_t)hp->n_head_kv * hp->head_dim;
    const int64_t V = (int64_t)hp->n_head_kv * hp->head_dim_v,
                  O = (int64_t)hp->n_head * hp->head_dim_v;
    const int64_t F = hp->n_ff;
    const int64_t S = B < FFN_SUB_BATCH ? B : FFN_SUB_BATCH; /* FFN rows at a time (forward.c) */
    struct {
        float **p;
        int64_t n;
        const char *what;
    } bufs[] = {
        {&c->x, B * E, "residual stream"},
        {&c->h, B * max64(E, O), "normed activations"},
        {&c->q, B * Q, "queries"},
        {&c->k, B * K, "keys"},
        {&c->v, B * V, "values"},
        {&c->qkv, c->model->desc->fused_qkv ? B * (Q + K + V) : 1, "fused qkv"},
        {&c->attn, B * O, "attention output"},
        {&c->ff, S * 2 * F, "ffn gate/up"},
        {&c->ff2, S * F, "ffn up"},
        {&c->scores, (int64_t)c->n_threads * ATTN_SCRATCH(hp->n_head / hp->n_head_kv),
         "attention tiles"},
        {&c->logits, hp->n_vocab, "logits"},
    };
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) {
        *bufs[i].p = kw_malloc_aligned(sizeof(float) * (size_t)bufs[i].n, bufs[i].what);
        if (!*bufs[i].p) return KW_ERR_NOMEM;
    }
    /* the FFN's n_ff-wide inputs come S rows at a time, the others n_batch rows */
    const size_t act_a = op_matmul_scratch_bytes(B, max64(E, max64(O, Q + K + V))),
                 act_f = op_matmul_scratch_bytes(S, F);
    c->mm.act_cap = act_a > act_f ? act_a : act_f;
    c->mm.act = kw_malloc_aligned(c->mm.act_cap, "quantized activations");
    if (!c->mm.act) return KW_ERR_NOMEM;
    /* room for each thread to expand the panels of one matmul chunk (prefill of Q5_0 weights) */
    const int64_t max_in = max64(max64(E, F), max64(O, Q + K + V));
    c->mm.expand_cap = op_matmul_expand_bytes(max_in);
    c->mm.expand_n_in = max_in;
    c->mm.expand =
        kw_malloc_aligned(c->mm.expand_cap * (size_t)c->n_threads, "expanded weight panels");
    if (!c->mm.expand) return KW_ERR_NOMEM;
    c->logits_cap = 1;
    c->row_of = kw_calloc((size_t)B, sizeof(int32_t), "logit rows");
    c->rows_cap = (int32_t)B;
    c->tok_pos = kw_calloc((size_t)B, sizeof(int32_t), "batch positions");
    c->tok_seq = kw_calloc((size_t)B, sizeof(int32_t), "batch sequences");
    c->blk_start = kw_calloc((size_t)B + 1, sizeof(int32_t), "attention blocks");
    if (!c->row_of || !c->tok_pos || !c->tok_seq || !c->blk_start) return KW_ERR_NOMEM;
    return KW_OK;
}

kw_status kw_context_create(kw_model *model, const kw_context_params *params, kw_context **out) {
    kw_error_clear();
    if (!model || !out) return kw_error(KW_ERR_INVALID_ARG, "kw_context_create: NULL argument");
    if (model->vocab_only)
        return kw_error(KW_ERR_INVALID_ARG,
                        "'%s' holds only a vocabulary (no weights): it can tokenize and "
                        "detokenize, but a context to evaluate it cannot be made (load a model "
                        "file with weights)",
                        model->gguf->file.path);
    kw_context_params p = params ? *params : kw_context_default_params();
    const kw_hparams *hp = &model->hp;
    if (p.n_ctx < 0 || p.n_batch < 0 || p.n_threads < 0 || p.n_seq_max < 0)
        return kw_error(KW_ERR_INVALID_ARG,
                        "context: negative size (n_ctx %d, n_batch %d, n_threads %d, n_seq_max %d)",
                        p.n_ctx, p.n_batch, p.n_threads, p.n_seq_max);
    if (p.n_seq_max == 0) p.n_seq_max = 1;
    if (p.n_threads > KW_MAX_THREADS)
        return kw_error(KW_ERR_INVALID_ARG, "context: %d threads is above the limit of %d",
                        p.n_threads, KW_MAX_THREADS);
    if (p.n_ctx == 0) p.n_ctx = hp->n_ctx_train;
    if (p.n_batch == 0) p.n_batch = 512;
    if (p.n_batch > p.n_ctx) p.n_batch = p.n_ctx;
    if (p.n_threads == 0)
        p.n_threads =
            kw_cpu_get()->n_cores < KW_MAX_THREADS ? kw_cpu_get()->n_cores : KW_MAX_THREADS;
    if (p.n_ctx > hp->n_ctx_train)
        kw_log(0,
               "warning: a context of %d tokens is above the %d the model was trained on: past %d "
               "tokens the output may degrade\n",
               p.n_ctx, hp->n_ctx_train, hp->n_ctx_train);
    kv_format kvf;
    kw_status st = kv_format_init(model, p.cache_type_k, p.cache_type_v, &kvf);
    if (st) return st;
    kw_context *c = kw_calloc(1, sizeof *c, "context");
    if (!c) return KW_ERR_NOMEM;
    c->kvf = kvf;
    c->model = model;
    c->n_ctx = p.n_ctx;
    c->n_batch = p.n_batch;
    c->n_threads = p.n_threads;
    c->n_seq = p.n_seq_max;
    /* LongRoPE: llama.cpp picks the long factors when the context exceeds the original one */
    c->rope_factors = model->rope_freqs.data;
    if (model->rope_long.data && model->rope_short.data)
        c->rope_factors =
            c->n_ctx > hp->rope_orig_ctx ? model->rope_long.data : model->rope_short.data;
    st = kw_pool_create(p.n_threads, &c->pool);
    if (!st) st = kv_cache_alloc(c);
    if (!st) st = alloc_scratch(c);
    if (st) {
        kw_context_free(c);
        return kw_error_wrap(st, "creating a context of %d tokens", p.n_ctx);
    }
    *out = c;
    return KW_OK;
}

void kw_context_free(kw_context *c) {
    if (!c) return;
    kw_pool_free(c->pool);
    kv_cache_free(c);
    float *bufs[] = {c->x,    c->h,  c->q,   c->k,      c->v,     c->qkv,
                     c->attn, c->ff, c->ff2, c->scores, c->logits};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        kw_free_aligned(bufs[i]);
    kw_free_aligned(c->mm.act);
    kw_free_aligned(c->mm.expand);
    free(c->row_of);
    free(c->tok_pos);
    free(c->tok_seq);
    free(c->blk_start);
    free(c);
}

int32_t kw_context_n_ctx(const kw_context *c) { return c->n_ctx; }
int32_t kw_context_n_batch(const kw_context *c) { return c->n_batch; }
uint64_t kw_context_kv_bytes(const kw_context *c) { return c->kv_bytes; }
int32_t kw_context_cache_type_k(const kw_context *c) { return c->kvf.type_k; }
int32_t kw_context_cache_type_v(const kw_context *c) { return c->kvf.type_v; }
static kw_status ensure_rows(kw_context *c, int32_t n_rows, int32_t n) {
    const int32_t n_vocab = c->model->hp.n_vocab;
    if (n_rows > c->logits_cap) {
        float *p = kw_malloc_aligned(sizeof(float) * (size_t)n_rows * (size_t)n_vocab, "logits");
        if (!p) return KW_ERR_NOMEM;
        kw_free_aligned(c->logits);
        c->logits = p;
        c->logits_cap = n_rows;
    }
    if (n > c->rows_cap) {
        int32_t *r = kw_calloc((size_t)n, sizeof(int32_t), "logit rows");
        if (!r) return KW_ERR_NOMEM;
        free(c->row_of);
        c->row_of = r;
        c->rows_cap = n;
    }
    return KW_OK;
}

/* Checks a batch (tokens, sequence ids, positions; seq NULL = all sequence 0, pos NULL = each
 * continuing its sequence) and evaluates it chunk by chunk. Nothing changes when a check fails. */
static kw_status decode_rows(kw_context *c, const kw_token *tokens, const int32_t *pos,
                             const int32_t *seq, int32_t n, const bool *want_logits) {
    kw_error_clear();
    if (!c || !tokens || n <= 0)
        return kw_error(KW_ERR_INVALID_ARG, "kw_decode: no tokens (n = %d)", n);
    const int32_t n_vocab = c->model->hp.n_vocab;
    for (int32_t s = 0; s < c->n_seq; s++)
        c->seq_next[s] = c->seqs[s].n_past;
    for (int32_t i = 0; i < n; i++) {
        if (tokens[i] < 0 || tokens[i] >= n_vocab)
            return kw_error(
                KW_ERR_INVALID_ARG,
                "kw_decode: token %d at batch index %d is outside the vocabulary (0..%d)",
                tokens[i], i, n_vocab - 1);
        const int32_t s = seq ? seq[i] : 0;
        if (s < 0 || s >= c->n_seq)
            return kw_error(KW_ERR_INVALID_ARG,
                            "kw_decode: row %d names sequence %d, the context has %d (0..%d)", i, s,
                            c->n_seq, c->n_seq - 1);
        if (pos && pos[i] != c->seq_next[s])
            return kw_error(KW_ERR_INVALID_ARG,
                            "kw_decode: token %d has position %d, but sequence %d holds %d "
                            "positions (positions must continue it: expected %d)",
                            i, pos[i], s, c->seqs[s].n_past, c->seq_next[s]);
        c->seq_next[s]++;
    }
    for (int32_t s = 0; s < c->n_seq; s++)
        if (c->seq_next[s] > c->n_ctx) {
            if (c->n_seq == 1)
                return kw_error(
                    KW_ERR_CONTEXT_FULL,
                    "the context is full: %d cached + %d new tokens exceed the context size %d",
                    c->seqs[s].n_past, c->seq_next[s] - c->seqs[s].n_past, c->n_ctx);
            return kw_error(KW_ERR_CONTEXT_FULL,
                            "sequence %d is full: %d cached + %d new tokens exceed its context "
                            "size %d",
                            s, c->seqs[s].n_past, c->seq_next[s] - c->seqs[s].n_past, c->n_ctx);
        }
    int32_t n_rows = 0;
    for (int32_t i = 0; i < n; i++)
        n_rows += want_logits ? want_logits[i] : (i == n - 1);
    kw_status st = ensure_rows(c, n_rows > 0 ? n_rows : 1, n);
    if (st) return st;
    int32_t row = 0;
    for (int32_t i = 0; i < n; i++) {
        bool w = want_logits ? want_logits[i] : (i == n - 1);
        c->row_of[i] = w ? row++ : -1;
    }
    c->n_rows_last = n;
    for (int32_t s = 0; s < c->n_seq; s++)
        c->seq_next[s] = c->seqs[s].n_past;
    for (int32_t start = 0; start < n; start += c->n_batch) {
        int32_t len = n - start < c->n_batch ? n - start : c->n_batch;
        for (int32_t t = 0; t < len; t++) {
            const int32_t s = seq ? seq[start + t] : 0;
            c->tok_seq[t] = s;
            c->tok_pos[t] = c->seq_next[s]++;
        }
        if ((st = forward_batch(c, tokens + start, len, c->row_of + start))) {
            c->n_rows_last = 0;
            return st;
        }
    }
    return KW_OK;
}

kw_status kw_decode(kw_context *c, const kw_token *tokens, const int32_t *pos, int32_t n,
                    const bool *want_logits) {
    return decode_rows(c, tokens, pos, NULL, n, want_logits);
}

kw_status kw_decode_batch(kw_context *c, const kw_batch *b) {
    if (!b || !b->token || !b->pos || !b->seq_id || !b->logits)
        return kw_error(KW_ERR_INVALID_ARG, "kw_decode_batch: NULL batch or batch array");
    return decode_rows(c, b->token, b->pos, b->seq_id, b->n_tokens, b->logits);
}

kw_status kw_batch_init(kw_batch *b, int32_t cap) {
    if (!b || cap <= 0) return kw_error(KW_ERR_INVALID_ARG, "kw_batch_init: capacity %d", cap);
    memset(b, 0, sizeof *b);
    b->cap = cap; /* so kw_batch_free below frees what was had */
    b->token = kw_calloc((size_t)cap, sizeof *b->token, "batch tokens");
    b->pos = kw_calloc((size_t)cap, sizeof *b->pos, "batch positions");
    b->seq_id = kw_calloc((size_t)cap, sizeof *b->seq_id, "batch sequences");
    b->logits = kw_calloc((size_t)cap, sizeof *b->logits, "batch logit flags");
    if (!b->token || !b->pos || !b->seq_id || !b->logits) {
        kw_batch_free(b);
        return KW_ERR_NOMEM;
    }
    return KW_OK;
}

void kw_batch_free(kw_batch *b) {
    if (!b) return;
    if (b->cap > 0) {
        free(b->token);
        free(b->pos);
        free(b->seq_id);
        free(b->logits);
    }
    memset(b, 0, sizeof *b);
}

void kw_batch_clear(kw_batch *b) {
    if (b) b->n_tokens = 0;
}

kw_status kw_batch_add(kw_batch *b, kw_token token, int32_t pos, kw_seq_id seq, bool logits) {
    if (!b || b->n_tokens >= b->cap)
        return kw_error(KW_ERR_BUFFER_SMALL, "kw_batch_add: the batch is full (%d rows)",
                        b ? b->cap : 0);
    const int32_t i = b->n_tokens++;
    b->token[i] = token;
    b->pos[i] = pos;
    b->seq_id[i] = seq;
    b->logits[i] = logits;
    return KW_OK;
}

const float *kw_get_logits(kw_context *c, int32_t i) {
    if (!c || i < 0 || i >= c->n_rows_last || c->row_of[i] < 0) return NULL;
    return c->logits + (int64_t)c->row_of[i] * c->model->hp.n_vocab;
}

void kw_context_set_observer(kw_context *c, kw_matmul_observer fn, void *user) {
    c->observer = fn;
    c->observer_user = user;
}
