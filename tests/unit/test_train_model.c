/* test_train_model.c - the whole model's gradient (src/train/train_model.c + train_backward.c)
 * against central finite differences of a float64 reference model built from grad_ref.h's ops,
 * on a tiny configuration with odd sizes (2 layers, 3 query heads sharing 1 KV head, 2 sequences
 * of 7 tokens, two masked targets); every parameter is checked. Also: the loss the trainer
 * reports equals the reference's, a step with and without threads gives the same bits, and the
 * initialisation is a function of the seed alone.
 */
#include "grad_ref.h"
#include "test.h"
#include "train/train.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define N_SEQ 2
#define SEQ   7

static train_config tiny_config(void) {
    train_config c = train_config_default();
    c.n_vocab = 19, c.n_embd = 12, c.n_layer = 2, c.n_head = 3, c.n_head_kv = 1, c.head_dim = 4;
    c.n_ff = 20, c.n_ctx = 16, c.init_std = 0.3f; /* large enough that every path matters */
    return c;
}

/* ---------------------------------------------------------------- float64 reference model */

typedef struct ref_model {
    const train_config *c;
    const train_layout *l;
    double *p; /* parameters, in the trainer's layout */
    const int32_t *tokens, *targets;
    const double *weight;
} ref_model;

static const double *tensor(const ref_model *r, const char *name) {
    const train_tensor *t = train_layout_find(r->l, name);
    return r->p + t->offset;
}

static const double *layer_tensor(const ref_model *r, int il, const char *suffix) {
    char name[64];
    snprintf(name, sizeof name, "blk.%d.%s", il, suffix);
    return tensor(r, name);
}

static double ref_model_loss(void *arg) {
    const ref_model *r = arg;
    const train_config *c = r->c;
    const int64_t n = N_SEQ * SEQ, E = c->n_embd, F = c->n_ff;
    const int64_t Q = (int64_t)c->n_head * c->head_dim, KV = (int64_t)c->n_head_kv * c->head_dim;
    double *x = gr_dalloc(n * E), *h = gr_dalloc(n * E), *q = gr_dalloc(n * Q);
    double *k = gr_dalloc(n * KV), *v = gr_dalloc(n * KV), *att = gr_dalloc(n * Q);
    double *o = gr_dalloc(n * E), *gt = gr_dalloc(n * F), *up = gr_dalloc(n * F);
    double *act = gr_dalloc(n * F), *tmp = gr_dalloc(n * Q);
    const double *emb = tensor(r, "token_embd.weight");
    for (int64_t t = 0; t < n; t++)
        memcpy(x + t * E, emb + r->tokens[t] * E, sizeof(double) * E);
    for (int il = 0; il < c->n_layer; il++) {
        ref_rmsnorm(h, x, layer_tensor(r, il, "attn_norm.weight"), n, E, c->norm_eps);
        ref_linear(q, h, layer_tensor(r, il, "attn_q.weight"), n, E, Q);
        ref_linear(k, h, layer_tensor(r, il, "attn_k.weight"), n, E, KV);
        ref_linear(v, h, layer_tensor(r, il, "attn_v.weight"), n, E, KV);
        for (int64_t t = 0; t < n; t++) {
            const int32_t pos = (int32_t)(t % SEQ);
            ref_rope(tmp, q + t * Q, pos, c->n_head, c->head_dim, c->head_dim, false, c->rope_base);
            memcpy(q + t * Q, tmp, sizeof(double) * Q);
            ref_rope(tmp, k + t * KV, pos, c->n_head_kv, c->head_dim, c->head_dim, false,
                     c->rope_base);
            memcpy(k + t * KV, tmp, sizeof(double) * KV);
        }
        for (int s = 0; s < N_SEQ; s++)
            ref_attention(att + s * SEQ * Q, q + s * SEQ * Q, k + s * SEQ * KV, v + s * SEQ * KV,
                          SEQ, c->n_head, c->n_head_kv, c->head_dim, 1.0 / sqrt(c->head_dim));
        ref_linear(o, att, layer_tensor(r, il, "attn_output.weight"), n, Q, E);
        for (int64_t i = 0; i < n * E; i++)
            x[i] += o[i];
        ref_rmsnorm(h, x, layer_tensor(r, il, "ffn_norm.weight"), n, E, c->norm_eps);
        ref_linear(gt, h, layer_tensor(r, il, "ffn_gate.weight"), n, E, F);
        ref_linear(up, h, layer_tensor(r, il, "ffn_up.weight"), n, E, F);
        ref_swiglu(act, gt, up, n * F);
        ref_linear(o, act, layer_tensor(r, il, "ffn_down.weight"), n, F, E);
        for (int64_t i = 0; i < n * E; i++)
            x[i] += o[i];
    }
    ref_rmsnorm(h, x, tensor(r, "output_norm.weight"), n, E, c->norm_eps);
    const double loss = ref_xent(h, emb, r->targets, r->weight, n, E, c->n_vocab);
    free(x), free(h), free(q), free(k), free(v), free(att), free(o), free(gt), free(up);
    free(act), free(tmp);
    return loss;
}

/* ---------------------------------------------------------------- tests */

static void make_batch(int32_t *tokens, int32_t *targets, float *wf, double *wd, int32_t n_vocab) {
    for (int i = 0; i < N_SEQ * SEQ; i++) {
        tokens[i] = (int32_t)((i * 7 + 3) % n_vocab);
        targets[i] = (i == 4 || i == 9) ? -1 : (int32_t)((i * 5 + 1) % n_vocab);
    }
    int n_t = 0;
    for (int i = 0; i < N_SEQ * SEQ; i++)
        n_t += targets[i] >= 0;
    for (int i = 0; i < N_SEQ * SEQ; i++)
        wf[i] = targets[i] >= 0 ? 1.0f / (float)n_t : 0.0f, wd[i] = wf[i];
}

static void test_model_gradient_matches_finite_differences(void) {
    const train_config c = tiny_config();
    train_model *m = NULL;
    CHECK(train_model_create(&c, &m) == KW_OK, "the tiny model is created: %s", kw_last_error());
    if (!m) return;
    CHECK(train_model_plan(m, N_SEQ, SEQ, 1) == KW_OK, "the plan is made: %s", kw_last_error());
    train_model_init(m, 42);
    int32_t tokens[N_SEQ * SEQ], targets[N_SEQ * SEQ];
    float wf[N_SEQ * SEQ];
    double wd[N_SEQ * SEQ];
    make_batch(tokens, targets, wf, wd, c.n_vocab);
    int64_t n_t = 0;
    train_model_zero_grad(m);
    const double loss = train_model_step(m, NULL, tokens, targets, wf, true, &n_t);
    CHECK(n_t == N_SEQ * SEQ - 2, "the step counts %lld targets (2 masked)", (long long)n_t);

    const size_t nf = m->layout.n_floats;
    double *p = gr_dalloc((int64_t)nf), *num = gr_dalloc((int64_t)nf);
    for (size_t i = 0; i < nf; i++)
        p[i] = m->params[i];
    ref_model r = {&c, &m->layout, p, tokens, targets, wd};
    const double ref_loss = ref_model_loss(&r);
    CHECK(fabs(loss / (double)n_t - ref_loss) < 1e-5,
          "mean loss %.8f equals the float64 model's %.8f", loss / (double)n_t, ref_loss);
    for (int i = 0; i < m->layout.n; i++) {
        const train_tensor *t = &m->layout.t[i];
        const int64_t cnt = t->n_in * t->n_out;
        gr_numeric_grad(num + t->offset, p + t->offset, cnt, ref_model_loss, &r);
        gr_check(t->name, m->grads + t->offset, num + t->offset, cnt);
    }
    free(p), free(num);
    train_model_free(m);
}

static void test_step_is_the_same_on_any_thread_count(void) {
    const train_config c = tiny_config();
    train_model *a = NULL, *b = NULL;
    kw_pool *pool = NULL;
    CHECK(train_model_create(&c, &a) == KW_OK && train_model_create(&c, &b) == KW_OK &&
              kw_pool_create(3, &pool) == KW_OK,
          "two models and a pool of 3 threads");
    if (!a || !b || !pool) return;
    train_model_plan(a, N_SEQ, SEQ, 1);
    train_model_plan(b, N_SEQ, SEQ, 3);
    train_model_init(a, 7);
    train_model_init(b, 7);
    CHECK(memcmp(a->params, b->params, a->layout.n_floats * sizeof(float)) == 0,
          "the same seed gives the same initial parameters");
    int32_t tokens[N_SEQ * SEQ], targets[N_SEQ * SEQ];
    float wf[N_SEQ * SEQ];
    double wd[N_SEQ * SEQ];
    make_batch(tokens, targets, wf, wd, c.n_vocab);
    train_model_zero_grad(a);
    train_model_zero_grad(b);
    const double la = train_model_step(a, NULL, tokens, targets, wf, true, NULL);
    const double lb = train_model_step(b, pool, tokens, targets, wf, true, NULL);
    CHECK(la == lb, "the loss is the same on 1 and 3 threads (%.9g, %.9g)", la, lb);
    CHECK(memcmp(a->grads, b->grads, a->layout.n_floats * sizeof(float)) == 0,
          "every gradient is the same bits on 1 and 3 threads");
    train_model_init(b, 8);
    CHECK(memcmp(a->params, b->params, a->layout.n_floats * sizeof(float)) != 0,
          "another seed gives other parameters");
    kw_pool_free(pool);
    train_model_free(a);
    train_model_free(b);
}

int main(void) {
    RUN_TEST(test_model_gradient_matches_finite_differences);
    RUN_TEST(test_step_is_the_same_on_any_thread_count);
    return test_report();
}
