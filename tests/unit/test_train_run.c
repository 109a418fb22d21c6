/* test_train_run.c - the pieces of a run around the model: the learning-rate schedule, AdamW
 * against a float64 transcription of the update, checkpoints (bit-exact round trip; a damaged or
 * truncated file is refused), the settings (config file errors, batch splits), and the exported
 * GGUF: kaiwu's loader accepts it and its inference forward pass gives the losses the trainer
 * computed for the same tokens (so training and inference agree on layout, RoPE and norms).
 */
#include "base/base.h"
#include "gguf/gguf.h"
#include "test.h"
#include "tokenizer/tokenizer.h"
#include "train/train.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char g_dir[] = "/tmp/kaiwu-test-run-XXXXXX";

static train_config small_config(int32_t n_vocab) {
    train_config c = train_config_default();
    c.n_vocab = n_vocab, c.n_embd = 24, c.n_layer = 2, c.n_head = 4, c.n_head_kv = 2;
    c.head_dim = 6, c.n_ff = 40, c.n_ctx = 32, c.init_std = 0.15f;
    return c;
}

static void test_learning_rate_schedule(void) {
    const train_optim o = {.lr = 1e-3f, .min_lr = 1e-4f, .warmup = 10, .n_steps = 110};
    CHECK(fabsf(train_lr_at(&o, 0) - 1e-4f) < 1e-9f, "step 0 of warmup is lr / warmup");
    CHECK(fabsf(train_lr_at(&o, 9) - 1e-3f) < 1e-9f, "the last warmup step reaches lr");
    CHECK(fabsf(train_lr_at(&o, 60) - 5.5e-4f) < 1e-7f, "half way down the cosine is the mean");
    CHECK(fabsf(train_lr_at(&o, 110) - 1e-4f) < 1e-9f, "the end is min_lr");
    CHECK(train_lr_at(&o, 30) > train_lr_at(&o, 31), "the decay is monotonic");
}

static void test_adamw_matches_float64(void) {
    train_config c = small_config(11);
    train_layout l;
    CHECK(train_layout_build(&c, &l) == KW_OK, "layout");
    const size_t n = l.n_floats;
    float *p = calloc(n, 4), *g = calloc(n, 4), *m = calloc(n, 4), *v = calloc(n, 4);
    double *pd = calloc(n, 8), *md = calloc(n, 8), *vd = calloc(n, 8);
    for (size_t i = 0; i < n; i++)
        p[i] = (float)sin((double)i), pd[i] = p[i];
    const train_optim o = {
        .lr = 0.01f, .beta1 = 0.9f, .beta2 = 0.95f, .eps = 1e-8f, .weight_decay = 0.1f};
    for (int t = 1; t <= 3; t++) {
        for (size_t i = 0; i < n; i++)
            g[i] = (float)cos((double)(i * t));
        train_adamw_step(NULL, &l, p, g, m, v, &o, o.lr, t, 0.5f);
        for (int k = 0; k < l.n; k++) {
            const train_tensor *tt = &l.t[k];
            for (size_t i = tt->offset; i < tt->offset + (size_t)(tt->n_in * tt->n_out); i++) {
                const double gi = 0.5 * (double)g[i];
                md[i] = 0.9 * md[i] + 0.1 * gi;
                vd[i] = 0.95 * vd[i] + 0.05 * gi * gi;
                const double mh = md[i] / (1 - pow(0.9, t)), vh = vd[i] / (1 - pow(0.95, t));
                pd[i] -= 0.01 * (mh / (sqrt(vh) + 1e-8) + (tt->decay ? 0.1 : 0.0) * pd[i]);
            }
        }
    }
    double worst = 0;
    for (size_t i = 0; i < n; i++)
        worst = fmax(worst, fabs(p[i] - pd[i]));
    CHECK(worst < 1e-5,
          "three AdamW steps (clip scale 0.5, decay on matrices only) match float64 "
          "within 1e-5 (max diff %.3g)",
          worst);
    const train_tensor *norm = train_layout_find(&l, "blk.1.ffn_norm.weight");
    const train_tensor *mat = train_layout_find(&l, "blk.1.ffn_up.weight");
    CHECK(norm && !norm->decay && mat && mat->decay, "norm gains are not decayed, matrices are");
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += (double)g[i] * g[i];
    CHECK(fabs(train_grad_norm(NULL, g, n) - sqrt(s)) < 1e-9 * sqrt(s),
          "the gradient norm is the L2 norm");
    train_layout_free(&l);
    free(p), free(g), free(m), free(v), free(pd), free(md), free(vd);
}

static void test_checkpoint_round_trip_and_damage(void) {
    train_config c = small_config(13);
    train_ckpt_meta meta = {.cfg = c,
                            .opt = {.lr = 3e-4f,
                                    .min_lr = 3e-5f,
                                    .warmup = 7,
                                    .n_steps = 99,
                                    .beta1 = 0.9f,
                                    .beta2 = 0.95f,
                                    .eps = 1e-8f,
                                    .weight_decay = 0.1f,
                                    .grad_clip = 1.0f},
                            .seed = 0xFEDCBA9876543210ull,
                            .step = 42,
                            .tokens_seen = 1234567,
                            .data = {3, 17},
                            .data_hash = 0x8000000000000001ull,
                            .vocab_hash = 5,
                            .batch = 8,
                            .micro_batch = 4,
                            .seq_len = 32,
                            .n_ranks = 2,
                            .sft = true,
                            .last_loss = 3.25,
                            .last_val_loss = -1};
    const size_t n = 1000;
    float *a = malloc(4 * n * 3), *b = malloc(4 * n * 3);
    for (size_t i = 0; i < 3 * n; i++)
        a[i] = (float)(i * 0.001 - 1.0) / 3.0f;
    char path[256];
    snprintf(path, sizeof path, "%s/x.ckpt", g_dir);
    CHECK(train_checkpoint_save(path, &meta, a, a + n, a + 2 * n, n) == KW_OK,
          "a checkpoint is written: %s", kw_last_error());
    char tmp[300];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    CHECK(access(tmp, F_OK) != 0, "no temporary file is left behind");
    train_ckpt_meta r;
    size_t rn = 0;
    CHECK(train_checkpoint_read_meta(path, &r, &rn) == KW_OK && rn == n,
          "its header reads back: %s", kw_last_error());
    CHECK(memcmp(&r.cfg, &meta.cfg, sizeof meta.cfg) == 0 &&
              memcmp(&r.opt, &meta.opt, sizeof meta.opt) == 0 && r.seed == meta.seed &&
              r.step == 42 && r.tokens_seen == 1234567 && r.data.epoch == 3 &&
              r.data.cursor == 17 && r.data_hash == meta.data_hash && r.batch == 8 &&
              r.micro_batch == 4 && r.seq_len == 32 && r.n_ranks == 2 && r.sft &&
              r.last_loss == 3.25,
          "every header field comes back exactly (floats bit for bit, 64-bit seeds whole)");
    CHECK(train_checkpoint_read_state(path, b, b + n, b + 2 * n, n) == KW_OK &&
              memcmp(a, b, 12 * n) == 0,
          "parameters and both moments come back bit for bit");
    CHECK(train_checkpoint_read_state(path, b, b + n, b + 2 * n, n - 1) == KW_ERR_FORMAT,
          "a model of another size is refused");
    /* flip one byte of the second moments: the checksum catches it */
    FILE *f = fopen(path, "r+b");
    fseek(f, -20, SEEK_END);
    int ch = fgetc(f);
    fseek(f, -20, SEEK_END);
    fputc(ch ^ 1, f);
    fclose(f);
    CHECK(train_checkpoint_read_state(path, b, b + n, b + 2 * n, n) == KW_ERR_FORMAT &&
              strstr(kw_last_error(), "checksum"),
          "a damaged checkpoint is refused (%s)", kw_last_error());
    CHECK(truncate(path, 5000) == 0, "truncate");
    CHECK(train_checkpoint_read_meta(path, &r, &rn) == KW_ERR_FORMAT,
          "a truncated checkpoint is refused (%s)", kw_last_error());
    f = fopen(path, "wb");
    fputs("not a checkpoint at all", f);
    fclose(f);
    CHECK(train_checkpoint_read_meta(path, &r, &rn) == KW_ERR_FORMAT, "a foreign file is refused");
    free(a), free(b);
}

static void test_settings_are_checked(void) {
    char path[256];
    snprintf(path, sizeof path, "%s/cfg.json", g_dir);
    FILE *f = fopen(path, "wb");
    fputs("{\"n_embd\": 64, \"n_layers\": 2}", f);
    fclose(f);
    kw_train_params p = kw_train_default_params();
    p.config = path;
    train_opts o;
    CHECK(train_opts_resolve(&p, 1, &o) == KW_ERR_FORMAT && strstr(kw_last_error(), "n_layers"),
          "an unknown config key is an error naming it (%s)", kw_last_error());
    f = fopen(path, "wb");
    fputs("{\"n_embd\": 64, \"batch\": 12, \"steps\": 50, \"lr\": 0.002}", f);
    fclose(f);
    p.steps = 70;
    CHECK(train_opts_resolve(&p, 1, &o) == KW_OK && o.cfg.n_embd == 64 && o.batch == 12 &&
              o.opt.n_steps == 70 && fabsf(o.opt.lr - 0.002f) < 1e-9f && o.micro_batch == 12 &&
              o.opt.warmup == 7,
          "config values apply, flags override them, derived defaults follow (warmup %d)",
          o.opt.warmup);
    CHECK(train_opts_resolve(&p, 5, &o) == KW_ERR_INVALID_ARG &&
              strstr(kw_last_error(), "multiple"),
          "a batch of 12 does not split over 5 ranks (%s)", kw_last_error());
    p.micro_batch = 5;
    CHECK(train_opts_resolve(&p, 1, &o) == KW_ERR_INVALID_ARG, "nor into micro-batches of 5");
}

/* −log softmax(logits)[target] in double. */
static double nll(const float *logits, int32_t n, int32_t target) {
    double max = -INFINITY, sum = 0;
    for (int32_t i = 0; i < n; i++)
        max = fmax(max, logits[i]);
    for (int32_t i = 0; i < n; i++)
        sum += exp(logits[i] - max);
    return max + log(sum) - logits[target];
}

static void test_exported_model_runs_in_kaiwu(void) {
    kw_gguf *vg = NULL;
    tok_vocab *v = NULL;
    CHECK(kw_gguf_open(test_data_path("train/vocab.gguf"), &vg) == KW_OK &&
              tok_vocab_load(vg, &v) == KW_OK,
          "the test vocabulary loads");
    if (!v) return;
    const train_config c = small_config(tok_n_vocab(v));
    const char *text = "床前明月光，疑是地上霜。举头望明月，低头思故乡。";
    int32_t ids[64], n = 0;
    tok_tokenize(v, text, strlen(text), true, false, ids, 64, &n);
    CHECK(n == 25, "the line is BOS and 24 characters (%d tokens)", n);
    train_model *m = NULL;
    CHECK(train_model_create(&c, &m) == KW_OK && train_model_plan(m, 1, n, 1) == KW_OK, "model");
    train_model_init(m, 3);
    int32_t targets[64];
    float w[64];
    for (int i = 0; i < n; i++)
        targets[i] = i + 1 < n ? ids[i + 1] : -1, w[i] = 0;
    int64_t cnt = 0;
    train_model_step(m, NULL, ids, targets, w, false, &cnt);
    char path[256];
    snprintf(path, sizeof path, "%s/m.gguf", g_dir);
    const train_provenance prov = {"kaiwu-test", "pretrain", "唐诗三百首", "kaiwu train --test", 7,
                                   700,          2.5,        NULL};
    CHECK(train_export_gguf(path, m, vg, &prov) == KW_OK, "the model is written: %s",
          kw_last_error());
    kw_model *km = NULL;
    kw_context *ctx = NULL;
    CHECK(kw_model_load(path, NULL, &km) == KW_OK, "kaiwu's loader accepts it: %s",
          kw_last_error());
    if (!km) return;
    CHECK(strcmp(kw_model_arch(km), "llama") == 0 && kw_model_n_layer(km) == 2 &&
              kw_model_n_head_kv(km) == 2 && kw_model_head_dim(km) == 6 &&
              kw_model_n_params(km) == m->layout.n_params && kw_model_chat_template(km),
          "as a llama model with its shape, every parameter and the chat template");
    kw_context_params cp = kw_context_default_params();
    cp.n_ctx = 32, cp.n_threads = 1;
    /* the trainer's losses are float32 arithmetic: compare with a float32 KV cache (the default
     * F16 one moves them by ~4e-4 nats) */
    cp.cache_type_k = cp.cache_type_v = KW_TYPE_F32;
    CHECK(kw_context_create(km, &cp, &ctx) == KW_OK, "a context");
    bool want[64];
    for (int i = 0; i < n; i++)
        want[i] = true;
    const int32_t np = n;
    CHECK(kw_decode(ctx, ids, NULL, np, want) == KW_OK, "it decodes: %s", kw_last_error());
    double worst = 0;
    for (int32_t i = 0; i + 1 < np; i++)
        worst = fmax(worst, fabs(nll(kw_get_logits(ctx, i), c.n_vocab, targets[i]) - m->s.loss[i]));
    CHECK(worst < 2e-4,
          "inference gives the trainer's per-token losses within 2e-4 nats (max diff "
          "%.3g over %d tokens)",
          worst, np - 1);
    kw_gguf *g = NULL;
    CHECK(kw_gguf_open(path, &g) == KW_OK, "reopened");
    gguf_str s = {0};
    CHECK(g && gguf_get_str(g, "general.training.corpus", &s) == KW_OK &&
              gguf_str_eq(s, "唐诗三百首") && gguf_find_key(g, "general.training.command") >= 0 &&
              gguf_find_key(g, "general.training.val_loss") >= 0 &&
              gguf_find_key(g, "tokenizer.ggml.tokens") >= 0 &&
              !gguf_find_tensor(g, "output.weight"),
          "provenance and tokenizer keys are there; the output layer is the embedding");
    train_config back;
    CHECK(g && train_config_from_gguf(g, &back) == KW_OK && back.n_embd == c.n_embd &&
              back.head_dim == c.head_dim && back.n_vocab == c.n_vocab && back.n_ctx == c.n_ctx,
          "the configuration reads back from the file");
    train_model *m2 = NULL;
    CHECK(g && train_model_create(&back, &m2) == KW_OK && train_params_from_gguf(g, m2) == KW_OK &&
              memcmp(m2->params, m->params, 4 * m->layout.n_floats) == 0,
          "and so do the parameters, bit for bit");
    train_model_free(m2);
    kw_gguf_close(g);
    kw_context_free(ctx);
    kw_model_free(km);
    train_model_free(m);
    tok_vocab_free(v);
    kw_gguf_close(vg);
}

int main(void) {
    if (!mkdtemp(g_dir)) {
        printf("cannot make a temporary directory\n0 passed, 1 failed\n");
        return 1;
    }
    RUN_TEST(test_learning_rate_schedule);
    RUN_TEST(test_adamw_matches_float64);
    RUN_TEST(test_checkpoint_round_trip_and_damage);
    RUN_TEST(test_settings_are_checked);
    RUN_TEST(test_exported_model_runs_in_kaiwu);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    if (system(cmd) != 0) printf("note: could not remove %s\n", g_dir);
    return test_report();
}
