/* checkpoint.c - everything a run needs to continue exactly where it stopped: the configuration,
 * the optimizer settings, the seed and the data position (the batches are a function of them),
 * the step, and the parameters with both AdamW moments, bit for bit.
 *
 * File layout (little-endian):
 *   offset  size      meaning
 *   0       8         magic "KWCKPT01"
 *   8       8         h, bytes of the JSON header
 *   16      h         JSON header (train_ckpt_meta, keys below)
 *   A       8         n, floats per array (A = 16 + h rounded up to 64)
 *   A + 8   4 n       parameters
 *           4 n       first moments (m)
 *           4 n       second moments (v)
 *   end-8   8         FNV-1a 64 of the three arrays
 * Written through a temporary renamed into place; read with every size checked against the file.
 * Must not: accept a file whose checksum or sizes disagree.
 */
#include "train/train.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CKPT_MAGIC "KWCKPT01"

static void put_u64(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_u64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static json_t *hex64(uint64_t v) {
    char buf[24];
    snprintf(buf, sizeof buf, "%016llx", (unsigned long long)v);
    return json_string(buf);
}

static char *meta_to_json(const train_ckpt_meta *m) {
    const train_config *c = &m->cfg;
    const train_optim *o = &m->opt;
    json_t *j = json_pack(
        "{s:i, s:{s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:f, s:f, s:f},"
        " s:{s:f, s:f, s:i, s:i, s:f, s:f, s:f, s:f, s:f},"
        " s:o, s:I, s:I, s:{s:I, s:I}, s:o, s:o, s:i, s:i, s:i, s:i, s:b, s:f, s:f}",
        "version", 1, "config", "n_vocab", c->n_vocab, "n_embd", c->n_embd, "n_layer", c->n_layer,
        "n_head", c->n_head, "n_head_kv", c->n_head_kv, "head_dim", c->head_dim, "n_ff", c->n_ff,
        "n_ctx", c->n_ctx, "norm_eps", (double)c->norm_eps, "rope_base", (double)c->rope_base,
        "init_std", (double)c->init_std, "optimizer", "lr", (double)o->lr, "min_lr",
        (double)o->min_lr, "warmup", o->warmup, "steps", o->n_steps, "beta1", (double)o->beta1,
        "beta2", (double)o->beta2, "eps", (double)o->eps, "weight_decay", (double)o->weight_decay,
        "grad_clip", (double)o->grad_clip, "seed", hex64(m->seed), "step", (json_int_t)m->step,
        "tokens_seen", (json_int_t)m->tokens_seen, "data", "epoch", (json_int_t)m->data.epoch,
        "cursor", (json_int_t)m->data.cursor, "data_hash", hex64(m->data_hash), "vocab_hash",
        hex64(m->vocab_hash), "batch", m->batch, "micro_batch", m->micro_batch, "seq", m->seq_len,
        "ranks", m->n_ranks, "sft", m->sft, "loss", m->last_loss, "val_loss", m->last_val_loss);
    if (!j) return NULL;
    char *s = json_dumps(j, JSON_INDENT(1) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17));
    json_decref(j);
    return s;
}

kw_status train_checkpoint_save(const char *path, const train_ckpt_meta *meta, const float *params,
                                const float *m, const float *v, size_t n) {
    char *js = meta_to_json(meta);
    if (!js) return kw_error(KW_ERR_NOMEM, "checkpoint: out of memory writing the header");
    const size_t h = strlen(js), a = (16 + h + 63) / 64 * 64;
    uint8_t *head = kw_calloc(a + 8, 1, "checkpoint header");
    if (!head) {
        free(js);
        return KW_ERR_NOMEM;
    }
    memcpy(head, CKPT_MAGIC, 8);
    put_u64(head + 8, h);
    memcpy(head + 16, js, h);
    put_u64(head + a, n);
    free(js);
    uint64_t sum = train_hash(TRAIN_HASH_SEED, params, n * sizeof(float));
    sum = train_hash(sum, m, n * sizeof(float));
    sum = train_hash(sum, v, n * sizeof(float));
    uint8_t tail[8];
    put_u64(tail, sum);
    const void *parts[5] = {head, params, m, v, tail};
    const size_t lens[5] = {a + 8, n * 4, n * 4, n * 4, 8};
    kw_status st = train_file_write(path, parts, lens, 5);
    free(head);
    return st;
}

static uint64_t unhex(json_t *j) {
    const char *s = json_string_value(j);
    return s ? strtoull(s, NULL, 16) : 0;
}

static kw_status meta_from_json(const char *path, const char *text, size_t len,
                                train_ckpt_meta *m) {
    json_error_t err;
    json_t *j = json_loadb(text, len, 0, &err);
    if (!j) return kw_error(KW_ERR_FORMAT, "checkpoint '%s': header: %s", path, err.text);
    json_t *seed = NULL, *dh = NULL, *vh = NULL;
    double norm_eps, rope_base, init_std, lr, min_lr, b1, b2, eps, wd, clip;
    json_int_t step, tokens, epoch, cursor;
    int version, sft;
    train_config *c = &m->cfg;
    train_optim *o = &m->opt;
    const int r = json_unpack_ex(
        j, &err, 0,
        "{s:i, s:{s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:F, s:F, s:F},"
        " s:{s:F, s:F, s:i, s:i, s:F, s:F, s:F, s:F, s:F},"
        " s:o, s:I, s:I, s:{s:I, s:I}, s:o, s:o, s:i, s:i, s:i, s:i, s:b, s:F, s:F}",
        "version", &version, "config", "n_vocab", &c->n_vocab, "n_embd", &c->n_embd, "n_layer",
        &c->n_layer, "n_head", &c->n_head, "n_head_kv", &c->n_head_kv, "head_dim", &c->head_dim,
        "n_ff", &c->n_ff, "n_ctx", &c->n_ctx, "norm_eps", &norm_eps, "rope_base", &rope_base,
        "init_std", &init_std, "optimizer", "lr", &lr, "min_lr", &min_lr, "warmup", &o->warmup,
        "steps", &o->n_steps, "beta1", &b1, "beta2", &b2, "eps", &eps, "weight_decay", &wd,
        "grad_clip", &clip, "seed", &seed, "step", &step, "tokens_seen", &tokens, "data", "epoch",
        &epoch, "cursor", &cursor, "data_hash", &dh, "vocab_hash", &vh, "batch", &m->batch,
        "micro_batch", &m->micro_batch, "seq", &m->seq_len, "ranks", &m->n_ranks, "sft", &sft,
        "loss", &m->last_loss, "val_loss", &m->last_val_loss);
    if (r != 0) {
        json_decref(j);
        return kw_error(KW_ERR_FORMAT, "checkpoint '%s': header: %s", path, err.text);
    }
    if (version != 1) {
        json_decref(j);
        return kw_error(KW_ERR_UNSUPPORTED, "checkpoint '%s': version %d (this kaiwu reads 1)",
                        path, version);
    }
    c->norm_eps = (float)norm_eps, c->rope_base = (float)rope_base, c->init_std = (float)init_std;
    o->lr = (float)lr, o->min_lr = (float)min_lr, o->beta1 = (float)b1, o->beta2 = (float)b2;
    o->eps = (float)eps, o->weight_decay = (float)wd, o->grad_clip = (float)clip;
    m->seed = unhex(seed), m->data_hash = unhex(dh), m->vocab_hash = unhex(vh);
    m->step = step, m->tokens_seen = tokens, m->sft = sft;
    m->data.epoch = (uint64_t)epoch, m->data.cursor = (uint64_t)cursor;
    json_decref(j);
    return train_config_validate(c) == KW_OK
               ? KW_OK
               : kw_error_wrap(KW_ERR_FORMAT, "checkpoint '%s'", path);
}

/* Maps the file and checks the framing; *arrays_at gets the offset of the float count. */
static kw_status open_checked(const char *path, kw_mapped_file *f, uint64_t *h, uint64_t *at,
                              uint64_t *n) {
    kw_status st = kw_file_map(path, f);
    if (st) return st;
    const uint8_t *p = f->data;
    if (f->size < 24 || memcmp(p, CKPT_MAGIC, 8) != 0) {
        kw_file_unmap(f);
        return kw_error(KW_ERR_FORMAT, "'%s' is not a kaiwu checkpoint (no KWCKPT01 magic)", path);
    }
    *h = get_u64(p + 8);
    if (*h > f->size - 16) goto bad;
    *at = (16 + *h + 63) / 64 * 64;
    if (*at + 16 > f->size) goto bad;
    *n = get_u64(p + *at);
    if (*n > (f->size - *at - 16) / 12 || *at + 8 + 12 * *n + 8 != f->size) goto bad;
    return KW_OK;
bad:
    kw_file_unmap(f);
    return kw_error(KW_ERR_FORMAT,
                    "checkpoint '%s': sizes in the file (%llu bytes) do not add up: truncated or "
                    "damaged",
                    path, (unsigned long long)f->size);
}

kw_status train_checkpoint_read_meta(const char *path, train_ckpt_meta *meta, size_t *n_floats) {
    kw_mapped_file f;
    uint64_t h, at, n;
    kw_status st = open_checked(path, &f, &h, &at, &n);
    if (st) return st;
    st = meta_from_json(path, (const char *)f.data + 16, (size_t)h, meta);
    if (!st) *n_floats = (size_t)n;
    kw_file_unmap(&f);
    return st;
}

kw_status train_checkpoint_read_state(const char *path, float *params, float *m, float *v,
                                      size_t n_floats) {
    kw_mapped_file f;
    uint64_t h, at, n;
    kw_status st = open_checked(path, &f, &h, &at, &n);
    if (st) return st;
    if (n != n_floats) {
        kw_file_unmap(&f);
        return kw_error(KW_ERR_FORMAT, "checkpoint '%s' holds %llu floats per array, the model %zu",
                        path, (unsigned long long)n, n_floats);
    }
    const uint8_t *p = f.data + at + 8;
    const size_t bytes = n_floats * sizeof(float);
    uint64_t sum = train_hash(TRAIN_HASH_SEED, p, bytes);
    sum = train_hash(sum, p + bytes, bytes);
    sum = train_hash(sum, p + 2 * bytes, bytes);
    if (sum != get_u64(p + 3 * bytes)) {
        kw_file_unmap(&f);
        return kw_error(KW_ERR_FORMAT, "checkpoint '%s': checksum mismatch (damaged file)", path);
    }
    memcpy(params, p, bytes);
    memcpy(m, p + bytes, bytes);
    memcpy(v, p + 2 * bytes, bytes);
    kw_file_unmap(&f);
    return KW_OK;
}
