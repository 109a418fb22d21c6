/* train_options.c - the settings of a training run, resolved once: the defaults, overridden by the
 * config file (JSON, keys below), overridden by what the caller gave in kw_train_params; then
 * checked together (the batch must split over ranks and micro-batches, the sequence must fit the
 * context, ...). The defaults are documented in docs/training.md; keep the two in step.
 *
 * Config file keys (all optional; unknown keys are an error, so a typo is never ignored):
 *   model:    n_embd n_layer n_head n_head_kv head_dim n_ff n_ctx norm_eps rope_base init_std
 *   training: steps batch micro_batch seq lr min_lr warmup weight_decay grad_clip eval_every
 *             eval_batches checkpoint_every seed
 * Must not: read anything but the config file.
 */
#include "train/train.h"

#include <jansson.h>
#include <math.h>
#include <string.h>

kw_train_params kw_train_default_params(void) {
    return (kw_train_params){.steps = -1,
                             .batch = -1,
                             .micro_batch = -1,
                             .seq = -1,
                             .lr = -1,
                             .min_lr = -1,
                             .warmup = -1,
                             .weight_decay = -1,
                             .grad_clip = -1,
                             .eval_every = -1,
                             .eval_batches = -1,
                             .checkpoint_every = -1,
                             .stop_after = -1,
                             .n_threads = -1,
                             .seed = -1,
                             .peak_flops = -1};
}

bool kw_train_has_mpi(void) { return train_comm_available(); }

static void set_defaults(train_opts *o, bool sft) {
    o->cfg = train_config_default();
    o->cfg.n_ctx = -1; /* = seq unless the config says */
    o->opt = (train_optim){.lr = sft ? 3e-4f : 1e-3f,
                           .min_lr = -1,
                           .warmup = -1,
                           .n_steps = sft ? 300 : 1000,
                           .beta1 = 0.9f,
                           .beta2 = 0.95f,
                           .eps = 1e-8f,
                           .weight_decay = 0.1f,
                           .grad_clip = 1.0f};
    o->batch = 32, o->micro_batch = -1, o->seq = 256;
    o->eval_every = 100, o->eval_batches = 8, o->checkpoint_every = 200, o->stop_after = 0;
    o->n_threads = 0, o->seed = 1234;
}

/* ---------------------------------------------------------------- the config file */

typedef enum opt_kind { K_I32, K_F32, K_I64 } opt_kind;

typedef struct key_entry {
    const char *key;
    opt_kind kind;
    size_t offset; /* into train_opts */
    double min, max;
} key_entry;

#define OFF(f) offsetof(train_opts, f)
static const key_entry keys[] = {
    {"n_embd", K_I32, OFF(cfg.n_embd), 1, 1 << 20},
    {"n_layer", K_I32, OFF(cfg.n_layer), 1, 4096},
    {"n_head", K_I32, OFF(cfg.n_head), 1, 4096},
    {"n_head_kv", K_I32, OFF(cfg.n_head_kv), 1, 4096},
    {"head_dim", K_I32, OFF(cfg.head_dim), 2, 4096},
    {"n_ff", K_I32, OFF(cfg.n_ff), 1, 1 << 20},
    {"n_ctx", K_I32, OFF(cfg.n_ctx), 1, 1 << 20},
    {"norm_eps", K_F32, OFF(cfg.norm_eps), 1e-12, 1},
    {"rope_base", K_F32, OFF(cfg.rope_base), 1.0001, 1e9},
    {"init_std", K_F32, OFF(cfg.init_std), 1e-6, 1},
    {"steps", K_I32, OFF(opt.n_steps), 1, 1e9},
    {"batch", K_I32, OFF(batch), 1, 1 << 20},
    {"micro_batch", K_I32, OFF(micro_batch), 1, 1 << 20},
    {"seq", K_I32, OFF(seq), 2, 1 << 20},
    {"lr", K_F32, OFF(opt.lr), 0, 10},
    {"min_lr", K_F32, OFF(opt.min_lr), 0, 10},
    {"warmup", K_I32, OFF(opt.warmup), 0, 1e9},
    {"weight_decay", K_F32, OFF(opt.weight_decay), 0, 10},
    {"grad_clip", K_F32, OFF(opt.grad_clip), 0, 1e9},
    {"eval_every", K_I32, OFF(eval_every), 0, 1e9},
    {"eval_batches", K_I32, OFF(eval_batches), 1, 1e9},
    {"checkpoint_every", K_I32, OFF(checkpoint_every), 0, 1e9},
    {"seed", K_I64, OFF(seed), 0, 9e18},
};
#undef OFF

static kw_status read_config(const char *path, train_opts *o) {
    json_error_t err;
    json_t *j = json_load_file(path, 0, &err);
    if (!j)
        return kw_error(KW_ERR_FORMAT, "config '%s': %s (line %d, column %d)", path, err.text,
                        err.line, err.column);
    kw_status st = KW_OK;
    if (!json_is_object(j)) st = kw_error(KW_ERR_FORMAT, "config '%s': not a JSON object", path);
    const char *key;
    json_t *val;
    json_object_foreach(j, key, val) {
        if (st) break;
        if (key[0] == '_') continue; /* "_comment" and the like */
        const key_entry *e = NULL;
        for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
            if (strcmp(keys[i].key, key) == 0) e = &keys[i];
        if (!e) {
            st = kw_error(KW_ERR_FORMAT,
                          "config '%s': unknown key \"%s\" (model keys: n_embd n_layer n_head "
                          "n_head_kv head_dim n_ff n_ctx norm_eps rope_base init_std; training "
                          "keys: steps batch micro_batch seq lr min_lr warmup weight_decay "
                          "grad_clip eval_every eval_batches checkpoint_every seed)",
                          path, key);
            break;
        }
        const double v = json_number_value(val);
        if (!json_is_number(val) || !(v >= e->min && v <= e->max) ||
            (e->kind != K_F32 && v != floor(v))) {
            st = kw_error(KW_ERR_FORMAT, "config '%s': \"%s\" must be %s in [%g, %g]", path, key,
                          e->kind == K_F32 ? "a number" : "an integer", e->min, e->max);
            break;
        }
        char *dst = (char *)o + e->offset;
        if (e->kind == K_I32)
            *(int32_t *)dst = (int32_t)v;
        else if (e->kind == K_F32)
            *(float *)dst = (float)v;
        else
            *(uint64_t *)dst = (uint64_t)v;
    }
    json_decref(j);
    return st;
}

/* ---------------------------------------------------------------- resolving */

kw_status train_opts_resolve(const kw_train_params *p, int n_ranks, train_opts *o) {
    set_defaults(o, p->sft);
    kw_status st;
    if (p->config && (st = read_config(p->config, o))) return st;
    /* the caller's values win */
    if (p->steps >= 0) o->opt.n_steps = p->steps;
    if (p->batch >= 0) o->batch = p->batch;
    if (p->micro_batch >= 0) o->micro_batch = p->micro_batch;
    if (p->seq >= 0) o->seq = p->seq;
    if (p->lr >= 0) o->opt.lr = p->lr;
    if (p->min_lr >= 0) o->opt.min_lr = p->min_lr;
    if (p->warmup >= 0) o->opt.warmup = p->warmup;
    if (p->weight_decay >= 0) o->opt.weight_decay = p->weight_decay;
    if (p->grad_clip >= 0) o->opt.grad_clip = p->grad_clip;
    if (p->eval_every >= 0) o->eval_every = p->eval_every;
    if (p->eval_batches >= 0) o->eval_batches = p->eval_batches;
    if (p->checkpoint_every >= 0) o->checkpoint_every = p->checkpoint_every;
    if (p->stop_after >= 0) o->stop_after = p->stop_after;
    if (p->n_threads > 0) o->n_threads = p->n_threads;
    if (p->seed >= 0) o->seed = (uint64_t)p->seed;
    /* derived defaults */
    if (o->opt.min_lr < 0) o->opt.min_lr = o->opt.lr / 10;
    if (o->opt.warmup < 0) o->opt.warmup = o->opt.n_steps / 10 < 100 ? o->opt.n_steps / 10 : 100;
    if (o->cfg.n_ctx < 0) o->cfg.n_ctx = o->seq;
    if (o->cfg.head_dim <= 0 && o->cfg.n_head > 0) o->cfg.head_dim = o->cfg.n_embd / o->cfg.n_head;
    if (o->n_threads <= 0) o->n_threads = kw_cpu_get()->n_cores > 0 ? kw_cpu_get()->n_cores : 1;
    if (o->micro_batch < 0) o->micro_batch = o->batch / (n_ranks > 0 ? n_ranks : 1);
    /* checks */
    if (o->opt.n_steps < 1 || o->batch < 1 || o->seq < 2)
        return kw_error(KW_ERR_INVALID_ARG, "steps %d, batch %d and seq %d must be >= 1, 1, 2",
                        o->opt.n_steps, o->batch, o->seq);
    if (o->micro_batch < 1 || o->batch % ((int64_t)n_ranks * o->micro_batch) != 0)
        return kw_error(KW_ERR_INVALID_ARG,
                        "batch %d must be a multiple of ranks (%d) x micro-batch (%d): each rank "
                        "runs the same number of micro-batches",
                        o->batch, n_ranks, o->micro_batch);
    if (o->opt.warmup > o->opt.n_steps)
        return kw_error(KW_ERR_INVALID_ARG, "warmup %d is longer than the run (%d steps)",
                        o->opt.warmup, o->opt.n_steps);
    if (!(o->opt.lr > 0) || o->opt.min_lr > o->opt.lr)
        return kw_error(KW_ERR_INVALID_ARG, "lr %g must be > 0 and min_lr %g must not exceed it",
                        o->opt.lr, o->opt.min_lr);
    if (o->n_threads > 256)
        return kw_error(KW_ERR_INVALID_ARG, "%d threads (at most 256)", o->n_threads);
    return KW_OK;
}
