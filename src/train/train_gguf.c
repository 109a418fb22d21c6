/* train_gguf.c - the trained model as a standard llama-architecture GGUF (the file kaiwu's loader
 * and llama.cpp run), and a model read back from one to continue training (--init).
 *
 * Written: general.architecture "llama", general.name, general.file_type 0 (all F32), the llama.*
 * hyperparameters, every tokenizer.* key of the tokenizer's file (vocabulary, merges or scores,
 * special ids, tokenizer.chat_template), the provenance under general.training.* (stage, corpus,
 * steps, tokens, final validation loss, command line, kaiwu version; for a fine-tuned model the
 * base model's general.training.* again under general.training.base.*), then the tensors in the
 * layout's order, F32, matrices as ne = [n_in, n_out]. No output.weight: the embedding is the
 * output layer (tied), which llama-architecture loaders accept.
 * Must not: write anything but through gguf_writer (temp file renamed into place).
 */
#include "train/train.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static kw_status add_hparams(gguf_writer *w, const train_config *c) {
    kw_status st;
    if ((st = gguf_writer_add_u32(w, "llama.context_length", (uint32_t)c->n_ctx)) ||
        (st = gguf_writer_add_u32(w, "llama.embedding_length", (uint32_t)c->n_embd)) ||
        (st = gguf_writer_add_u32(w, "llama.block_count", (uint32_t)c->n_layer)) ||
        (st = gguf_writer_add_u32(w, "llama.feed_forward_length", (uint32_t)c->n_ff)) ||
        (st = gguf_writer_add_u32(w, "llama.attention.head_count", (uint32_t)c->n_head)) ||
        (st = gguf_writer_add_u32(w, "llama.attention.head_count_kv", (uint32_t)c->n_head_kv)) ||
        (st = gguf_writer_add_f32(w, "llama.attention.layer_norm_rms_epsilon", c->norm_eps)) ||
        (st = gguf_writer_add_f32(w, "llama.rope.freq_base", c->rope_base)) ||
        (st = gguf_writer_add_u32(w, "llama.rope.dimension_count", (uint32_t)c->head_dim)) ||
        (st = gguf_writer_add_u32(w, "llama.vocab_size", (uint32_t)c->n_vocab)))
        return st;
    if (c->head_dim * c->n_head != c->n_embd &&
        ((st = gguf_writer_add_u32(w, "llama.attention.key_length", (uint32_t)c->head_dim)) ||
         (st = gguf_writer_add_u32(w, "llama.attention.value_length", (uint32_t)c->head_dim))))
        return st;
    return KW_OK;
}

/* Copies every key of src starting with prefix, renamed with rename_to in front when given. */
static kw_status copy_keys(gguf_writer *w, const kw_gguf *src, const char *prefix,
                           const char *rename_to) {
    const size_t pl = strlen(prefix);
    for (int64_t i = 0; i < src->n_kv; i++) {
        const char *key = src->kv[i].key;
        if (strncmp(key, prefix, pl) != 0) continue;
        kw_status st;
        if (!rename_to) {
            st = gguf_writer_copy_kv(w, src, i);
        } else {
            /* only scalar and string provenance is renamed (that is all general.training holds) */
            char name[256];
            snprintf(name, sizeof name, "%s%s", rename_to, key + pl);
            const gguf_kv *kv = &src->kv[i];
            switch (kv->type) {
            case GGUF_VT_STRING: {
                char *s = kw_strndup(kv->v.s.ptr, (size_t)kv->v.s.len);
                if (!s) return KW_ERR_NOMEM;
                st = gguf_writer_add_str(w, name, s);
                free(s);
                break;
            }
            case GGUF_VT_U32: st = gguf_writer_add_u32(w, name, (uint32_t)kv->v.u); break;
            case GGUF_VT_U64: st = gguf_writer_add_u64(w, name, kv->v.u); break;
            case GGUF_VT_F32: st = gguf_writer_add_f32(w, name, (float)kv->v.f); break;
            default: st = KW_OK; break;
            }
        }
        if (st) return st;
    }
    return KW_OK;
}

kw_status train_export_gguf(const char *path, const train_model *m, const kw_gguf *tokenizer,
                            const train_provenance *p) {
    gguf_writer *w = NULL;
    kw_status st = gguf_writer_create(&w);
    if (st) return st;
    const train_config *c = &m->cfg;
    char desc[256];
    snprintf(desc, sizeof desc, "llama-architecture model trained by kaiwu %s (%s)", KW_VERSION,
             p->stage);
    if ((st = gguf_writer_add_str(w, "general.architecture", "llama")) ||
        (st = gguf_writer_add_str(w, "general.name", p->name)) ||
        (st = gguf_writer_add_u32(w, "general.file_type", 0)) ||
        (st = gguf_writer_add_str(w, "general.description", desc)) ||
        (st = gguf_writer_add_str(w, "general.training.stage", p->stage)) ||
        (st = gguf_writer_add_str(w, "general.training.corpus", p->corpus)) ||
        (st = gguf_writer_add_u64(w, "general.training.steps", (uint64_t)p->steps)) ||
        (st = gguf_writer_add_u64(w, "general.training.tokens", (uint64_t)p->tokens)) ||
        (st = gguf_writer_add_f32(w, "general.training.val_loss", (float)p->val_loss)) ||
        (st = gguf_writer_add_str(w, "general.training.command", p->command)) ||
        (st = gguf_writer_add_str(w, "general.training.trainer", "kaiwu " KW_VERSION)))
        goto out;
    if (p->base && (st = copy_keys(w, p->base, "general.training.", "general.training.base.")))
        goto out;
    if ((st = add_hparams(w, c)) || (st = copy_keys(w, tokenizer, "tokenizer.", NULL))) goto out;
    for (int i = 0; i < m->layout.n && !st; i++) {
        const train_tensor *t = &m->layout.t[i];
        const int64_t ne[2] = {t->n_in, t->n_out};
        st = gguf_writer_add_tensor(w, t->name, GGML_TYPE_F32, t->n_out > 1 ? 2 : 1, ne,
                                    m->params + t->offset);
    }
    if (!st) st = gguf_writer_write(w, path);
out:
    gguf_writer_free(w);
    if (st) kw_error_wrap(st, "writing model '%s'", path);
    return st;
}

/* ---------------------------------------------------------------- reading back (--init) */

static kw_status get_u32(const kw_gguf *g, const char *key, int32_t *out) {
    uint32_t v;
    kw_status st = gguf_get_u32(g, key, &v);
    if (st) return st;
    if (v > (1u << 24))
        return kw_error(KW_ERR_FORMAT, "'%s': %s = %u is out of range", g->file.path, key, v);
    *out = (int32_t)v;
    return KW_OK;
}

kw_status train_config_from_gguf(const kw_gguf *g, train_config *out) {
    gguf_str arch;
    kw_status st = gguf_get_str(g, "general.architecture", &arch);
    if (st) return st;
    if (!gguf_str_eq(arch, "llama"))
        return kw_error(KW_ERR_UNSUPPORTED,
                        "'%s': architecture '%.*s': kaiwu trains llama-architecture models only",
                        g->file.path, (int)arch.len, arch.ptr);
    train_config c = train_config_default();
    if ((st = get_u32(g, "llama.context_length", &c.n_ctx)) ||
        (st = get_u32(g, "llama.embedding_length", &c.n_embd)) ||
        (st = get_u32(g, "llama.block_count", &c.n_layer)) ||
        (st = get_u32(g, "llama.feed_forward_length", &c.n_ff)) ||
        (st = get_u32(g, "llama.attention.head_count", &c.n_head)))
        return st;
    c.n_head_kv = c.n_head;
    uint32_t v = 0;
    if ((st = gguf_get_u32_opt(g, "llama.attention.head_count_kv", &v))) return st;
    if (v) c.n_head_kv = (int32_t)v;
    c.head_dim = c.n_head > 0 ? c.n_embd / c.n_head : 0;
    v = 0;
    if ((st = gguf_get_u32_opt(g, "llama.attention.key_length", &v))) return st;
    if (v) c.head_dim = (int32_t)v;
    if ((st = gguf_get_f32(g, "llama.attention.layer_norm_rms_epsilon", &c.norm_eps)) ||
        (st = gguf_get_f32_opt(g, "llama.rope.freq_base", &c.rope_base)))
        return st;
    const gguf_tensor *te = gguf_find_tensor(g, "token_embd.weight");
    if (!te) return kw_error(KW_ERR_FORMAT, "'%s': no token_embd.weight", g->file.path);
    c.n_vocab = (int32_t)te->ne[1];
    if (gguf_find_tensor(g, "output.weight"))
        return kw_error(KW_ERR_UNSUPPORTED,
                        "'%s' has a separate output.weight: kaiwu trains models whose output layer "
                        "is the token embedding (tied)",
                        g->file.path);
    if ((st = train_config_validate(&c))) return kw_error_wrap(st, "'%s'", g->file.path);
    *out = c;
    return KW_OK;
}

kw_status train_params_from_gguf(const kw_gguf *g, train_model *m) {
    for (int i = 0; i < m->layout.n; i++) {
        const train_tensor *t = &m->layout.t[i];
        const gguf_tensor *gt = gguf_find_tensor(g, t->name);
        if (!gt)
            return kw_error(KW_ERR_FORMAT, "'%s': tensor '%s' is missing", g->file.path, t->name);
        if (gt->ne[0] != t->n_in || gt->ne[1] != t->n_out || gt->ne[2] != 1 || gt->ne[3] != 1)
            return kw_error(
                KW_ERR_FORMAT,
                "'%s': tensor '%s' has shape [%lld, %lld], the model needs [%lld, %lld]",
                g->file.path, t->name, (long long)gt->ne[0], (long long)gt->ne[1],
                (long long)t->n_in, (long long)t->n_out);
        float *dst = m->params + t->offset;
        const int64_t n = t->n_in * t->n_out;
        if (gt->type == GGML_TYPE_F32) {
            memcpy(dst, gt->data, sizeof(float) * (size_t)n);
        } else if (gt->type == GGML_TYPE_F16 || gt->type == GGML_TYPE_BF16) {
            const uint16_t *src = gt->data;
            for (int64_t j = 0; j < n; j++) {
                uint16_t h;
                memcpy(&h, src + j, 2);
                dst[j] = gt->type == GGML_TYPE_F16 ? kw_f16_to_f32(h) : kw_bf16_to_f32(h);
            }
        } else {
            return kw_error(KW_ERR_UNSUPPORTED,
                            "'%s': tensor '%s' is %s: training continues from F32, F16 or BF16 "
                            "weights only (not a quantized file)",
                            g->file.path, t->name, ggml_type_get(gt->type)->name);
        }
    }
    return KW_OK;
}
