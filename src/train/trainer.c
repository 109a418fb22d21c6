/* trainer.c - kw_train: one training run from its settings to the written model.
 *
 *   settings (train_options.c) -> tokenizer and data (token_data.c / sft_tokens.c, cached) ->
 *   model (fresh, --init, or a checkpoint) -> for each step: the global batch (batch_loader.c),
 *   this rank's micro-batches forward + backward, gradients summed over ranks, clipped, AdamW
 *   with warmup + cosine -> progress, evaluation, checkpoints -> the GGUF (train_gguf.c).
 *
 * Every rank draws the whole global batch from the same batch source (cheap: token copies) and
 * keeps its slice, so the data position is the same everywhere and the loss of N ranks is that of
 * one process with the same batch, up to the order of float additions. The loss is the mean over
 * every predicted token of the global batch: each row weighs 1 / (targets in the batch).
 * Only rank 0 reports and writes files. Nothing is allocated per step.
 */
#include "model/model.h"
#include "train/train.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct run {
    const kw_train_params *p;
    train_opts o;
    train_comm comm;
    kw_pool *pool;
    /* tokenizer and data */
    kw_gguf *tok_gguf; /* pretraining: the vocabulary file (its tokenizer.* keys are exported) */
    tok_vocab *vocab;  /* pretraining */
    kw_model *base;    /* SFT: the model fine-tuned (vocabulary, template, weights) */
    token_stream train, val;
    batch_source tb, vb;
    uint64_t vocab_hash, data_hash;
    /* model and optimizer */
    train_model *m;
    float *adam_m, *adam_v;
    int32_t *tokens, *targets; /* (batch, seq): the global batch */
    float *weight;             /* (batch, seq) */
    int64_t step, tokens_seen, start_step;
    double peak, last_loss, last_val;
    char ckpt_dir[3072], ckpt_path[4096];
} run;

/* ---------------------------------------------------------------- reporting */

static void say(const run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(const run *r, const char *fmt, ...) {
    if (r->comm.rank != 0 || !r->p->on_log) return;
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    r->p->on_log(r->p->user, buf);
}

static uint64_t hash_file(const char *path, kw_status *st) {
    kw_mapped_file f;
    *st = kw_file_map(path, &f);
    if (*st) return 0;
    const uint64_t h = train_hash(TRAIN_HASH_SEED, f.data, (size_t)f.size);
    kw_file_unmap(&f);
    return h;
}

static bool file_exists(const char *path) { return access(path, R_OK) == 0; }

/* CPU time of this process (all its threads), seconds. */
static double cpu_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Ranks wait for rank 0 (a broadcast of its status: when it failed, all fail). */
static kw_status sync_status(const run *r, kw_status st) {
    int32_t s = (int32_t)st;
    kw_status cs = train_comm_broadcast(&r->comm, &s, sizeof s);
    if (cs) return cs;
    if (s != KW_OK && st == KW_OK) return kw_error((kw_status)s, "rank 0 failed (see its message)");
    return (kw_status)s;
}

/* ---------------------------------------------------------------- data */

static kw_status load_text_data(run *r) {
    const kw_train_params *p = r->p;
    char path[4096], tok[4096];
    snprintf(tok, sizeof tok, "%s/vocab.gguf", p->data);
    const char *tok_path = p->tokenizer ? p->tokenizer : tok;
    kw_status st = kw_gguf_open(tok_path, &r->tok_gguf);
    if (st) return kw_error_wrap(st, "tokenizer (give it with --tokenizer VOCAB.gguf)");
    if ((st = tok_vocab_load(r->tok_gguf, &r->vocab))) return kw_error_wrap(st, "'%s'", tok_path);
    r->vocab_hash = hash_file(tok_path, &st);
    if (st) return st;
    /* rank 0 tokenizes and writes the cache; the others read it after */
    for (int pass = 0; pass < 2; pass++) {
        const bool mine = (pass == 0) == (r->comm.rank == 0);
        kw_status s = KW_OK;
        if (mine) {
            snprintf(path, sizeof path, "%s/train.txt", p->data);
            const double t0 = kw_time_seconds();
            s = token_stream_from_text(r->vocab, r->vocab_hash, path, r->ckpt_dir, r->pool,
                                       &r->train);
            snprintf(path, sizeof path, "%s/val.txt", p->data);
            if (!s && file_exists(path))
                s = token_stream_from_text(r->vocab, r->vocab_hash, path, r->ckpt_dir, r->pool,
                                           &r->val);
            if (!s)
                say(r,
                    "data: %lld training tokens in %lld documents, %lld validation tokens (%.1f s)",
                    (long long)r->train.n, (long long)r->train.n_docs, (long long)r->val.n,
                    kw_time_seconds() - t0);
        }
        if (pass == 0 && (s = sync_status(r, s))) return s;
        if (s) return s;
    }
    if (!r->val.n) say(r, "data: no %s/val.txt: no validation loss", p->data);
    return KW_OK;
}

static kw_status load_sft_data(run *r) {
    const kw_train_params *p = r->p;
    if (!p->init)
        return kw_error(KW_ERR_INVALID_ARG,
                        "--sft needs the model to start from: --init MODEL.gguf");
    kw_status st = kw_model_load(p->init, NULL, &r->base);
    if (st) return st;
    r->vocab_hash = hash_file(p->init, &st);
    if (st) return st;
    int64_t n_long = 0;
    const double t0 = kw_time_seconds();
    st = sft_streams_from_jsonl(r->base, p->data, 100, &r->train, &r->val, &n_long, r->o.seq + 1);
    if (st) return st;
    say(r,
        "data: %lld conversations for training (%lld tokens), %lld held out for validation "
        "(%.1f s)",
        (long long)r->train.n_docs, (long long)r->train.n, (long long)r->val.n_docs,
        kw_time_seconds() - t0);
    if (n_long)
        say(r, "data: %lld conversations are longer than %d tokens and are cut", (long long)n_long,
            r->o.seq + 1);
    return KW_OK;
}

/* ---------------------------------------------------------------- model, resume */

static kw_status resume_meta(run *r, train_ckpt_meta *meta, bool *resuming) {
    const char *res = r->p->resume;
    *resuming = false;
    if (!res) return KW_OK;
    if (strcmp(res, "auto") == 0) {
        if (!file_exists(r->ckpt_path)) {
            say(r, "resume: no checkpoint at %s yet: starting fresh", r->ckpt_path);
            return KW_OK;
        }
        res = r->ckpt_path;
    }
    size_t n_floats;
    kw_status st = train_checkpoint_read_meta(res, meta, &n_floats);
    if (st) return st;
    if (res != r->ckpt_path) snprintf(r->ckpt_path, sizeof r->ckpt_path, "%s", res);
    *resuming = true;
    return KW_OK;
}

/* The checkpoint's run settings win over the command line (it continues that run); --steps may
 * lengthen it. Data and tokenizer must be the ones it was trained on. */
static kw_status apply_meta(run *r, const train_ckpt_meta *meta) {
    if (meta->sft != r->p->sft)
        return kw_error(KW_ERR_INVALID_ARG, "checkpoint '%s' is from a %s run, this is %s",
                        r->ckpt_path, meta->sft ? "SFT" : "pretraining",
                        r->p->sft ? "SFT" : "pretraining");
    if (meta->vocab_hash != r->vocab_hash || meta->data_hash != r->data_hash)
        return kw_error(
            KW_ERR_INVALID_ARG,
            "checkpoint '%s' was trained on other %s (hash %016llx, now %016llx): "
            "resume with the data and tokenizer it started with",
            r->ckpt_path, meta->vocab_hash != r->vocab_hash ? "tokenizer" : "data",
            (unsigned long long)(meta->vocab_hash != r->vocab_hash ? meta->vocab_hash
                                                                   : meta->data_hash),
            (unsigned long long)(meta->vocab_hash != r->vocab_hash ? r->vocab_hash : r->data_hash));
    const int32_t steps = r->p->steps >= 0 ? r->p->steps : meta->opt.n_steps;
    r->o.cfg = meta->cfg;
    r->o.opt = meta->opt;
    r->o.opt.n_steps = steps;
    r->o.batch = meta->batch, r->o.micro_batch = meta->micro_batch, r->o.seq = meta->seq_len;
    r->o.seed = meta->seed;
    if (meta->batch % (r->comm.size * meta->micro_batch) != 0)
        return kw_error(KW_ERR_INVALID_ARG,
                        "checkpoint batch %d does not split over %d ranks of %d sequences",
                        meta->batch, r->comm.size, meta->micro_batch);
    if (meta->n_ranks != r->comm.size)
        say(r,
            "resume: the checkpoint ran on %d ranks, this run on %d: gradients are summed in "
            "another order, so losses match to rounding, not bit for bit",
            meta->n_ranks, r->comm.size);
    r->step = r->start_step = meta->step;
    r->tokens_seen = meta->tokens_seen;
    r->last_val = meta->last_val_loss < 0 ? NAN : meta->last_val_loss;
    return KW_OK;
}

static kw_status build_model(run *r) {
    train_ckpt_meta meta;
    bool resuming = false;
    kw_status st = resume_meta(r, &meta, &resuming);
    if (st) return st;
    r->data_hash = train_hash(TRAIN_HASH_SEED, r->train.ids, sizeof(int32_t) * (size_t)r->train.n);
    if (r->train.mask) r->data_hash = train_hash(r->data_hash, r->train.mask, (size_t)r->train.n);
    for (int k = 0; k < 2; k++) { /* ids from a cache file are outside data: check them */
        const token_stream *ts = k ? &r->val : &r->train;
        const int32_t nv = r->base ? kw_model_n_vocab(r->base) : tok_n_vocab(r->vocab);
        for (int64_t i = 0; i < ts->n; i++)
            if (ts->ids[i] < 0 || ts->ids[i] >= nv)
                return kw_error(KW_ERR_FORMAT,
                                "%s token %lld is id %d, outside the vocabulary of %d (a damaged "
                                "token cache in %s? delete it)",
                                k ? "validation" : "training", (long long)i, ts->ids[i], nv,
                                r->ckpt_dir);
    }
    if (r->base) {
        if ((st = train_config_from_gguf(r->base->gguf, &r->o.cfg))) return st;
        if (r->o.seq > r->o.cfg.n_ctx)
            return kw_error(KW_ERR_INVALID_ARG, "--seq %d is longer than the model's context %d",
                            r->o.seq, r->o.cfg.n_ctx);
    } else {
        r->o.cfg.n_vocab = tok_n_vocab(r->vocab);
    }
    if (resuming && (st = apply_meta(r, &meta))) return st;
    if ((st = batch_source_init(&r->tb, &r->train, r->o.seq, r->p->sft, r->o.seed,
                                r->base ? kw_token_eos(r->base) : tok_eos(r->vocab))))
        return kw_error_wrap(st, "training data");
    if (resuming && (st = batch_source_seek(&r->tb, meta.data))) return st;
    if (r->val.n &&
        (st = batch_source_init(&r->vb, &r->val, r->o.seq, r->p->sft, r->o.seed, r->tb.pad)))
        return kw_error_wrap(st, "validation data");
    if ((st = train_model_create(&r->o.cfg, &r->m))) return st;
    if ((st = train_model_plan(r->m, r->o.micro_batch, r->o.seq, r->o.n_threads))) return st;
    const size_t n = r->m->layout.n_floats, B = (size_t)r->o.batch * (size_t)r->o.seq;
    r->adam_m = kw_malloc_aligned(n * sizeof(float), "AdamW first moments");
    r->adam_v = kw_malloc_aligned(n * sizeof(float), "AdamW second moments");
    r->tokens = kw_malloc(B * sizeof(int32_t), "batch tokens");
    r->targets = kw_malloc(B * sizeof(int32_t), "batch targets");
    r->weight = kw_malloc(B * sizeof(float), "batch weights");
    if (!r->adam_m || !r->adam_v || !r->tokens || !r->targets || !r->weight) return KW_ERR_NOMEM;
    memset(r->adam_m, 0, n * sizeof(float));
    memset(r->adam_v, 0, n * sizeof(float));
    char desc[256];
    train_config_describe(&r->o.cfg, desc, sizeof desc);
    say(r, "model: %s", desc);
    if (resuming) {
        if ((st = train_checkpoint_read_state(r->ckpt_path, r->m->params, r->adam_m, r->adam_v, n)))
            return st;
        say(r, "resume: %s at step %lld of %d", r->ckpt_path, (long long)r->step, r->o.opt.n_steps);
    } else if (r->base) {
        if ((st = train_params_from_gguf(r->base->gguf, r->m))) return st;
        say(r, "init: weights of %s", r->p->init);
    } else {
        train_model_init(r->m, r->o.seed);
    }
    snprintf(r->ckpt_path, sizeof r->ckpt_path, "%s/latest.ckpt", r->ckpt_dir);
    say(r,
        "plan: %d x %d tokens per pass, %d passes per step on each of %d rank(s), %d threads; "
        "%.0f MiB of activations",
        r->o.micro_batch, r->o.seq, r->o.batch / (r->comm.size * r->o.micro_batch), r->comm.size,
        r->o.n_threads, (double)r->m->arena_floats * 4.0 / 1048576.0);
    return KW_OK;
}

/* ---------------------------------------------------------------- steps */

/* Training FLOPs per token: 6 per parameter (forward 2, backward 4) plus causal attention,
 * 6 head_dim (T + 1) per head and layer (the q·k and p·v products, averaged over positions). */
static double flops_per_token(const run *r) {
    const train_config *c = &r->o.cfg;
    return 6.0 * (double)r->m->layout.n_params +
           6.0 * c->n_layer * c->n_head * (double)c->head_dim * (r->o.seq + 1);
}

/* The next global batch into tokens/targets/weight; returns the targets it holds. */
static int64_t next_batch(run *r) {
    const int64_t T = r->o.seq;
    int64_t count = 0;
    for (int32_t i = 0; i < r->o.batch; i++) {
        batch_source_next(&r->tb, r->tokens + i * T, r->targets + i * T);
        for (int64_t t = 0; t < T; t++)
            count += r->targets[i * T + t] >= 0;
    }
    const float w = count > 0 ? 1.0f / (float)count : 0.0f;
    for (int64_t i = 0; i < (int64_t)r->o.batch * T; i++)
        r->weight[i] = r->targets[i] >= 0 ? w : 0.0f;
    return count;
}

/* One optimizer step; *loss gets the batch's mean loss, *gnorm the norm before clipping. */
static kw_status train_step(run *r, double *loss, double *gnorm, float *lr) {
    const int64_t T = r->o.seq, per_rank = r->o.batch / r->comm.size;
    const int64_t count = next_batch(r);
    train_model_zero_grad(r->m);
    double sum = 0;
    for (int64_t s0 = 0; s0 < per_rank; s0 += r->o.micro_batch) {
        const int64_t off = ((int64_t)r->comm.rank * per_rank + s0) * T;
        sum += train_model_step(r->m, r->pool, r->tokens + off, r->targets + off, r->weight + off,
                                true, NULL);
    }
    kw_status st;
    if ((st = train_comm_allreduce_sum(&r->comm, r->m->grads, r->m->layout.n_floats)) ||
        (st = train_comm_allreduce_sum_f64(&r->comm, &sum, 1)))
        return st;
    *gnorm = train_grad_norm(r->pool, r->m->grads, r->m->layout.n_floats);
    const float clip = r->o.opt.grad_clip;
    const float scale = clip > 0 && *gnorm > clip ? (float)(clip / *gnorm) : 1.0f;
    *lr = train_lr_at(&r->o.opt, r->step);
    train_adamw_step(r->pool, &r->m->layout, r->m->params, r->m->grads, r->adam_m, r->adam_v,
                     &r->o.opt, *lr, r->step + 1, scale);
    r->step++;
    r->tokens_seen += (int64_t)r->o.batch * T;
    *loss = count > 0 ? sum / (double)count : 0.0;
    return KW_OK;
}

/* Mean loss over the first eval_batches x batch sequences of the validation grid, split over
 * ranks by micro-batches.
 * NaN without validation data. */
static kw_status evaluate(run *r, double *out) {
    *out = NAN;
    if (!r->val.n) return KW_OK;
    /* eval_batches global batches of sequences: the same set for any rank count or micro-batch */
    const int64_t T = r->o.seq, mb = r->o.micro_batch;
    const int64_t avail = batch_source_n_eval(&r->vb),
                  want = (int64_t)r->o.eval_batches * r->o.batch;
    const int64_t n_seq = avail < want ? avail : want;
    double acc[2] = {0, 0}; /* loss sum, targets */
    for (int64_t b = r->comm.rank; b * mb < n_seq; b += r->comm.size) {
        for (int64_t i = 0; i < mb; i++) {
            int32_t *tk = r->tokens + i * T, *tg = r->targets + i * T;
            if (b * mb + i >= n_seq || !batch_source_eval(&r->vb, b * mb + i, tk, tg))
                for (int64_t t = 0; t < T; t++)
                    tk[t] = r->tb.pad, tg[t] = -1;
        }
        int64_t cnt = 0;
        acc[0] += train_model_step(r->m, r->pool, r->tokens, r->targets, r->weight, false, &cnt);
        acc[1] += (double)cnt;
    }
    kw_status st = train_comm_allreduce_sum_f64(&r->comm, acc, 2);
    if (st) return st;
    if (acc[1] > 0) *out = acc[0] / acc[1];
    return KW_OK;
}

static kw_status save_checkpoint(run *r) {
    if (r->comm.rank != 0) return KW_OK;
    const train_ckpt_meta meta = {.cfg = r->o.cfg,
                                  .opt = r->o.opt,
                                  .seed = r->o.seed,
                                  .step = r->step,
                                  .tokens_seen = r->tokens_seen,
                                  .data = r->tb.st,
                                  .data_hash = r->data_hash,
                                  .vocab_hash = r->vocab_hash,
                                  .batch = r->o.batch,
                                  .micro_batch = r->o.micro_batch,
                                  .seq_len = r->o.seq,
                                  .n_ranks = r->comm.size,
                                  .sft = r->p->sft,
                                  .last_loss = r->last_loss,
                                  .last_val_loss = isnan(r->last_val) ? -1.0 : r->last_val};
    const double t0 = kw_time_seconds();
    kw_status st = train_checkpoint_save(r->ckpt_path, &meta, r->m->params, r->adam_m, r->adam_v,
                                         r->m->layout.n_floats);
    if (!st)
        say(r, "checkpoint: %s (step %lld, %.1f s)", r->ckpt_path, (long long)r->step,
            kw_time_seconds() - t0);
    return st;
}

static kw_status export_model(run *r) {
    if (r->comm.rank != 0) return KW_OK;
    const train_provenance prov = {
        .name = r->p->name ? r->p->name : "kaiwu-model",
        .stage = r->p->sft ? "sft" : "pretrain",
        .corpus = r->p->corpus ? r->p->corpus : r->p->data,
        .command = r->p->command_line ? r->p->command_line : "",
        .steps = r->step,
        .tokens = r->tokens_seen,
        .val_loss = isnan(r->last_val) ? -1.0 : r->last_val,
        .base = r->base ? r->base->gguf : NULL,
    };
    kw_status st = train_export_gguf(r->p->out, r->m, r->base ? r->base->gguf : r->tok_gguf, &prov);
    if (!st)
        say(r, "model: %s written (%lld steps, %lld tokens, val loss %.4f)", r->p->out,
            (long long)r->step, (long long)r->tokens_seen, prov.val_loss);
    return st;
}

static kw_status loop(run *r) {
    const double fpt = flops_per_token(r);
    const double t_start = kw_time_seconds();
    int64_t done = 0;
    kw_status st = KW_OK;
    while (r->step < r->o.opt.n_steps) {
        const double t0 = kw_time_seconds(), c0 = cpu_seconds();
        double loss, gnorm;
        float lr;
        if ((st = train_step(r, &loss, &gnorm, &lr))) return st;
        const double dt = kw_time_seconds() - t0;
        double cpu = cpu_seconds() - c0; /* all ranks' CPU time of the step */
        if ((st = train_comm_allreduce_sum_f64(&r->comm, &cpu, 1))) return st;
        r->last_loss = loss;
        done++;
        const bool last = r->step == r->o.opt.n_steps;
        double val = NAN;
        if (last || (r->o.eval_every > 0 && r->step % r->o.eval_every == 0)) {
            if ((st = evaluate(r, &val))) return st;
            r->last_val = val;
        }
        if (r->comm.rank == 0 && r->p->on_progress) {
            const double tps = (double)r->o.batch * r->o.seq / dt;
            const double pace = (kw_time_seconds() - t_start) / (double)done;
            const kw_train_progress pr = {
                .step = r->step,
                .n_steps = r->o.opt.n_steps,
                .loss = loss,
                .val_loss = val,
                .lr = lr,
                .grad_norm = gnorm,
                .tokens_per_s = tps,
                .mfu = r->peak > 0 ? fpt * tps / r->peak : 0,
                .mfu_cpu = r->peak > 0 && cpu > 0
                               ? fpt * (double)r->o.batch * r->o.seq /
                                     (cpu / (r->o.n_threads * r->comm.size)) / r->peak
                               : 0,
                .eta_s = pace * (double)(r->o.opt.n_steps - r->step),
                .tokens_seen = r->tokens_seen};
            r->p->on_progress(r->p->user, &pr);
        }
        const bool stop =
            (r->o.stop_after > 0 && done >= r->o.stop_after) || (r->p->stop && *r->p->stop);
        if (last || stop || (r->o.checkpoint_every > 0 && r->step % r->o.checkpoint_every == 0))
            if ((st = save_checkpoint(r))) return st;
        if (stop && !last) {
            say(r, "stopped at step %lld of %d: continue with --resume %s", (long long)r->step,
                r->o.opt.n_steps, r->ckpt_path);
            return KW_OK;
        }
    }
    if (done == 0) { /* resumed a finished run: evaluate for the model's provenance */
        double val;
        if ((st = evaluate(r, &val))) return st;
        r->last_val = val;
    }
    return export_model(r);
}

/* ---------------------------------------------------------------- kw_train */

static void run_free(run *r) {
    kw_free_aligned(r->adam_m);
    kw_free_aligned(r->adam_v);
    free(r->tokens);
    free(r->targets);
    free(r->weight);
    train_model_free(r->m);
    batch_source_free(&r->tb);
    batch_source_free(&r->vb);
    token_stream_free(&r->train);
    token_stream_free(&r->val);
    tok_vocab_free(r->vocab);
    kw_gguf_close(r->tok_gguf);
    kw_model_free(r->base);
    kw_pool_free(r->pool);
    train_comm_finish(&r->comm);
}

kw_status kw_train(const kw_train_params *p) {
    if (!p || !p->data || !p->out)
        return kw_error(KW_ERR_INVALID_ARG, "kw_train: the data (--data) and the output (--out) "
                                            "are required");
    run r = {.p = p, .last_val = NAN};
    kw_status st = train_comm_init(&r.comm);
    if (st) return st;
    if ((st = train_opts_resolve(p, r.comm.size, &r.o))) goto out;
    const int dl = p->checkpoint_dir
                       ? snprintf(r.ckpt_dir, sizeof r.ckpt_dir, "%s", p->checkpoint_dir)
                       : snprintf(r.ckpt_dir, sizeof r.ckpt_dir, "%s.ckpt", p->out);
    if (dl < 0 || (size_t)dl >= sizeof r.ckpt_dir) {
        st = kw_error(KW_ERR_INVALID_ARG, "checkpoint directory path is too long");
        goto out;
    }
    snprintf(r.ckpt_path, sizeof r.ckpt_path, "%s/latest.ckpt", r.ckpt_dir);
    if ((st = train_mkdirs(r.ckpt_dir))) goto out;
    if ((st = kw_pool_create(r.o.n_threads, &r.pool))) goto out;
    if ((st = p->sft ? load_sft_data(&r) : load_text_data(&r))) goto out;
    if ((st = build_model(&r))) goto out;
    r.peak = p->peak_flops > 0 ? p->peak_flops : 0;
    if (r.peak <= 0) {
        const char *isa = "";
        double peak = kw_probe_f32_peak(r.o.n_threads, 0.5, &isa);
        if ((st = train_comm_allreduce_sum_f64(&r.comm, &peak, 1))) goto out;
        r.peak = peak;
        say(&r, "peak: %.1f GFLOP/s f32 (%s FMA, %d threads x %d ranks), measured now",
            r.peak / 1e9, isa, r.o.n_threads, r.comm.size);
    }
    const double t0 = kw_time_seconds();
    st = loop(&r);
    if (!st) say(&r, "finished in %.1f s", kw_time_seconds() - t0);
out:
    run_free(&r);
    return st;
}
