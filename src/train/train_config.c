/* train_config.c - the model configuration (defaults, checks), the parameter layout that places
 * every tensor in one contiguous block (GGUF names, shapes, how each starts), views of a block,
 * and the trainer's random numbers and hashes.
 *
 * The layout order is the GGUF order the exporter writes: token_embd, output_norm, then per layer
 * attn_norm, attn_q, attn_k, attn_v, attn_output, ffn_norm, ffn_gate, ffn_up, ffn_down. Every
 * tensor starts on a 64-byte boundary (16 floats) so kernels see aligned rows.
 * Must not: depend on anything but the configuration (the layout is the checkpoint format).
 */
#include "train/train.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- configuration */

train_config train_config_default(void) {
    return (train_config){.n_vocab = 0,
                          .n_embd = 256,
                          .n_layer = 8,
                          .n_head = 8,
                          .n_head_kv = 4,
                          .head_dim = 0,
                          .n_ff = 704,
                          .n_ctx = 256,
                          .norm_eps = 1e-5f,
                          .rope_base = 10000.0f,
                          .init_std = 0.02f};
}

kw_status train_config_validate(const train_config *c) {
    const int big = 1 << 20;
    if (c->n_vocab < 1 || c->n_vocab > (1 << 24))
        return kw_error(KW_ERR_INVALID_ARG, "model config: n_vocab %d is outside [1, %d]",
                        c->n_vocab, 1 << 24);
    if (c->n_embd < 1 || c->n_embd > big || c->n_layer < 1 || c->n_layer > 4096 || c->n_ff < 1 ||
        c->n_ff > big || c->n_ctx < 1 || c->n_ctx > big)
        return kw_error(KW_ERR_INVALID_ARG,
                        "model config: n_embd %d, n_layer %d, n_ff %d, n_ctx %d: each must be "
                        "positive (n_layer <= 4096, the others <= %d)",
                        c->n_embd, c->n_layer, c->n_ff, c->n_ctx, big);
    if (c->n_head < 1 || c->n_head_kv < 1 || c->n_head % c->n_head_kv != 0)
        return kw_error(KW_ERR_INVALID_ARG,
                        "model config: %d query heads must be a positive multiple of %d key/value "
                        "heads",
                        c->n_head, c->n_head_kv);
    if (c->head_dim < 2 || c->head_dim % 2 != 0 || c->head_dim > 4096)
        return kw_error(KW_ERR_INVALID_ARG,
                        "model config: head_dim %d must be even and in [2, 4096] (n_embd %d / "
                        "n_head %d unless given)",
                        c->head_dim, c->n_embd, c->n_head);
    if (!(c->norm_eps > 0) || !(c->rope_base > 1) || !(c->init_std > 0) || c->init_std > 1)
        return kw_error(KW_ERR_INVALID_ARG,
                        "model config: norm_eps %g must be > 0, rope_base %g > 1, init_std %g in "
                        "(0, 1]",
                        c->norm_eps, c->rope_base, c->init_std);
    return KW_OK;
}

void train_config_describe(const train_config *c, char *buf, size_t cap) {
    train_layout l;
    double m = 0;
    if (train_layout_build(c, &l) == KW_OK) {
        m = (double)l.n_params / 1e6;
        train_layout_free(&l);
    }
    snprintf(buf, cap,
             "%d layers, %d wide, %d heads (%d kv) of %d, ffn %d, ctx %d, vocab %d: %.2f M "
             "parameters",
             c->n_layer, c->n_embd, c->n_head, c->n_head_kv, c->head_dim, c->n_ff, c->n_ctx,
             c->n_vocab, m);
}

/* ---------------------------------------------------------------- layout */

static void add_tensor(train_layout *l, const char *name, int64_t n_in, int64_t n_out,
                       train_init init) {
    train_tensor *t = &l->t[l->n++];
    snprintf(t->name, sizeof t->name, "%s", name);
    t->n_in = n_in;
    t->n_out = n_out;
    t->offset = l->n_floats;
    t->init = init;
    t->decay = n_out > 1;
    const size_t n = (size_t)(n_in * n_out);
    l->n_floats += (n + 15) / 16 * 16;
    l->n_params += n;
}

kw_status train_layout_build(const train_config *c, train_layout *out) {
    train_layout l = {0};
    l.t = kw_calloc((size_t)(2 + 9 * c->n_layer), sizeof *l.t, "parameter layout");
    if (!l.t) return KW_ERR_NOMEM;
    const int64_t E = c->n_embd, Q = (int64_t)c->n_head * c->head_dim;
    const int64_t KV = (int64_t)c->n_head_kv * c->head_dim, F = c->n_ff;
    add_tensor(&l, "token_embd.weight", E, c->n_vocab, TRAIN_INIT_NORMAL);
    add_tensor(&l, "output_norm.weight", E, 1, TRAIN_INIT_ONES);
    char name[48];
#define LAYER_TENSOR(suffix, nin, nout, init)                                                      \
    snprintf(name, sizeof name, "blk.%d.%s", il, suffix);                                          \
    add_tensor(&l, name, nin, nout, init)
    for (int il = 0; il < c->n_layer; il++) {
        LAYER_TENSOR("attn_norm.weight", E, 1, TRAIN_INIT_ONES);
        LAYER_TENSOR("attn_q.weight", E, Q, TRAIN_INIT_NORMAL);
        LAYER_TENSOR("attn_k.weight", E, KV, TRAIN_INIT_NORMAL);
        LAYER_TENSOR("attn_v.weight", E, KV, TRAIN_INIT_NORMAL);
        LAYER_TENSOR("attn_output.weight", Q, E, TRAIN_INIT_RESIDUAL);
        LAYER_TENSOR("ffn_norm.weight", E, 1, TRAIN_INIT_ONES);
        LAYER_TENSOR("ffn_gate.weight", E, F, TRAIN_INIT_NORMAL);
        LAYER_TENSOR("ffn_up.weight", E, F, TRAIN_INIT_NORMAL);
        LAYER_TENSOR("ffn_down.weight", F, E, TRAIN_INIT_RESIDUAL);
    }
#undef LAYER_TENSOR
    *out = l;
    return KW_OK;
}

void train_layout_free(train_layout *l) {
    free(l->t);
    memset(l, 0, sizeof *l);
}

const train_tensor *train_layout_find(const train_layout *l, const char *name) {
    for (int i = 0; i < l->n; i++)
        if (strcmp(l->t[i].name, name) == 0) return &l->t[i];
    return NULL;
}

kw_status train_view_make(const train_layout *l, const train_config *c, float *block,
                          train_view *out) {
    train_view v = {0};
    v.layer = kw_calloc((size_t)c->n_layer, sizeof *v.layer, "layer views");
    if (!v.layer) return KW_ERR_NOMEM;
    v.tok_embd = block + l->t[0].offset;
    v.output_norm = block + l->t[1].offset;
    for (int il = 0; il < c->n_layer; il++) {
        const train_tensor *t = &l->t[2 + 9 * il];
        train_layer_view *lv = &v.layer[il];
        lv->attn_norm = block + t[0].offset;
        lv->wq = block + t[1].offset;
        lv->wk = block + t[2].offset;
        lv->wv = block + t[3].offset;
        lv->wo = block + t[4].offset;
        lv->ffn_norm = block + t[5].offset;
        lv->w_gate = block + t[6].offset;
        lv->w_up = block + t[7].offset;
        lv->w_down = block + t[8].offset;
    }
    *out = v;
    return KW_OK;
}

void train_view_free(train_view *v) {
    free(v->layer);
    v->layer = NULL;
}

/* ---------------------------------------------------------------- random numbers */

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void train_rng_seed(train_rng *r, uint64_t seed) {
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&seed);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t train_rng_next(train_rng *r) {
    uint64_t *s = r->s;
    const uint64_t result = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

uint64_t train_rng_below(train_rng *r, uint64_t n) {
    /* rejection of the top partial range: uniform for any n */
    const uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do
        x = train_rng_next(r);
    while (x >= limit);
    return x % n;
}

double train_rng_normal(train_rng *r) {
    /* u1 in (0, 1]: log never sees 0 */
    const double u1 = ((double)(train_rng_next(r) >> 11) + 1.0) * (1.0 / 9007199254740992.0);
    const double u2 = (double)(train_rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

uint64_t train_hash(uint64_t h, const void *data, size_t n) {
    const uint8_t *p = data;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}
