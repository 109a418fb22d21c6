/* loader.c - GGUF file -> kw_model: the architecture description, hyperparameters from
 * `<arch>.*` metadata, weight views with checked shapes and types, the vocabulary. A file without
 * tensors (a vocabulary file, e.g. llama.cpp's ggml-vocab-*.gguf), or any file loaded with
 * kw_model_params.vocab_only, gives a vocabulary-only model: tokenizer, name and chat template,
 * any architecture name, no weights (contexts are refused in context.c).
 *
 * Every required key and tensor is checked here, so the forward pass never meets a missing or
 * misshapen weight: errors name the key or tensor, and the expected and found values.
 * kw_weight.data points into the mapping the kw_gguf owns; the matrices this CPU's kernels have a
 * panel layout for are also copied once into that layout (kw_weight.panel, kw_model.panels).
 */
#include "model/model.h"
#include "tensor/kernels/kernels.h"
#include "tensor/quants.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* ---------------------------------------------------------------- metadata */

typedef struct loader {
    kw_model *m;
    const kw_gguf *g;
    char arch[64]; /* "llama" */
} loader;

static const char *akey(const loader *L, const char *suffix) {
    static _Thread_local char buf[160];
    snprintf(buf, sizeof buf, "%s.%s", L->arch, suffix);
    return buf;
}

static kw_status get_i32(const loader *L, const char *suffix, int32_t *out, bool required,
                         int32_t lo, int32_t hi) {
    const char *key = akey(L, suffix);
    uint32_t v;
    kw_status st;
    if (required) {
        st = gguf_get_u32(L->g, key, &v);
    } else {
        if (gguf_find_key(L->g, key) < 0) return KW_OK;
        st = gguf_get_u32(L->g, key, &v);
    }
    if (st) return st;
    if ((int64_t)v < lo || (int64_t)v > hi)
        return kw_error(KW_ERR_FORMAT, "'%s': %s = %u is out of range [%d, %d]", L->g->file.path,
                        key, v, lo, hi);
    *out = (int32_t)v;
    return KW_OK;
}

static kw_status get_f32(const loader *L, const char *suffix, float *out) {
    return gguf_get_f32_opt(L->g, akey(L, suffix), out);
}

static kw_status read_hparams(loader *L) {
    kw_model *m = L->m;
    kw_hparams *hp = &m->hp;
    kw_status st;
    const int32_t big = 1 << 24;
    if ((st = get_i32(L, "context_length", &hp->n_ctx_train, true, 1, INT32_MAX)) ||
        (st = get_i32(L, "embedding_length", &hp->n_embd, true, 1, big)) ||
        (st = get_i32(L, "block_count", &hp->n_layer, true, 1, 4096)) ||
        (st = get_i32(L, "feed_forward_length", &hp->n_ff, true, 1, big)) ||
        (st = get_i32(L, "attention.head_count", &hp->n_head, true, 1, 4096)))
        return st;
    hp->n_head_kv = hp->n_head;
    if ((st = get_i32(L, "attention.head_count_kv", &hp->n_head_kv, false, 1, 4096))) return st;
    if (hp->n_head % hp->n_head_kv != 0)
        return kw_error(KW_ERR_FORMAT,
                        "'%s': %d query heads are not a multiple of %d key/value heads",
                        L->g->file.path, hp->n_head, hp->n_head_kv);
    hp->head_dim = hp->n_embd / hp->n_head;
    if ((st = get_i32(L, "attention.key_length", &hp->head_dim, false, 1, 65536))) return st;
    hp->head_dim_v = hp->head_dim;
    if ((st = get_i32(L, "attention.value_length", &hp->head_dim_v, false, 1, 65536))) return st;
    if (hp->head_dim < 1 || hp->head_dim % 2 != 0)
        return kw_error(KW_ERR_FORMAT,
                        "'%s': head dimension %d must be even and positive (n_embd %d, %d heads)",
                        L->g->file.path, hp->head_dim, hp->n_embd, hp->n_head);
    hp->norm_eps = 1e-5f;
    if ((st = gguf_get_f32(L->g, akey(L, "attention.layer_norm_rms_epsilon"), &hp->norm_eps)))
        return st;
    hp->n_rot = hp->head_dim;
    if ((st = get_i32(L, "rope.dimension_count", &hp->n_rot, false, 2, hp->head_dim))) return st;
    if (hp->n_rot % 2 != 0)
        return kw_error(KW_ERR_FORMAT, "'%s': rope.dimension_count %d is odd", L->g->file.path,
                        hp->n_rot);
    hp->rope_base = 10000.0f;
    if ((st = get_f32(L, "rope.freq_base", &hp->rope_base))) return st;
    hp->rope_base_swa =
        m->desc->rope_base_swa_default > 0 ? m->desc->rope_base_swa_default : hp->rope_base;
    if ((st = get_f32(L, "rope.freq_base_swa", &hp->rope_base_swa))) return st;
    hp->rope_freq_scale = 1.0f;
    gguf_str scaling = {0};
    if ((st = gguf_get_str_opt(L->g, akey(L, "rope.scaling.type"), &scaling))) return st;
    float factor = 0;
    if ((st = get_f32(L, "rope.scaling.factor", &factor))) return st;
    if (scaling.ptr && gguf_str_eq(scaling, "linear")) {
        if (factor > 0) hp->rope_freq_scale = 1.0f / factor;
    } else if (scaling.ptr && !gguf_str_eq(scaling, "none") && !gguf_str_eq(scaling, "longrope")) {
        return kw_error(KW_ERR_UNSUPPORTED,
                        "'%s': %s = '%.*s' is not supported (kaiwu supports none, linear, longrope "
                        "and rope_freqs factors)",
                        L->g->file.path, akey(L, "rope.scaling.type"), (int)scaling.len,
                        scaling.ptr);
    }
    hp->rope_orig_ctx = hp->n_ctx_train;
    if ((st = get_i32(L, "rope.scaling.original_context_length", &hp->rope_orig_ctx, false, 1,
                      INT32_MAX)))
        return st;
    hp->rope_attn_factor = 1.0f;
    if ((st = get_f32(L, "rope.scaling.attn_factor", &hp->rope_attn_factor))) return st;
    if ((st = get_f32(L, "attn_logit_softcapping", &hp->attn_softcap)) ||
        (st = get_f32(L, "final_logit_softcapping", &hp->final_softcap)))
        return st;
    hp->swa_period = m->desc->swa_period;
    if (hp->swa_period > 0) {
        if ((st = get_i32(L, "attention.sliding_window", &hp->n_swa, false, 0, INT32_MAX)))
            return st;
        if ((st = get_i32(L, "attention.sliding_window_pattern", &hp->swa_period, false, 1, 4096)))
            return st;
    }
    hp->embd_scale = m->desc->embd_scale_sqrt ? sqrtf((float)hp->n_embd) : 1.0f;
    hp->residual_scale = 1.0f;
    hp->logit_scale = 1.0f;
    if (m->desc->has_mup_scales) {
        /* llama.cpp's defaults for MiniCPM files without the keys */
        hp->embd_scale = 12.0f;
        hp->residual_scale = 1.4f / sqrtf((float)hp->n_layer);
        hp->logit_scale = (float)hp->n_embd / 256.0f;
        if ((st = get_f32(L, "embedding_scale", &hp->embd_scale)) ||
            (st = get_f32(L, "residual_scale", &hp->residual_scale)) ||
            (st = get_f32(L, "logit_scale", &hp->logit_scale)))
            return st;
        if (!(hp->logit_scale > 0))
            return kw_error(KW_ERR_FORMAT, "'%s': %s must be positive (found %g)", L->g->file.path,
                            akey(L, "logit_scale"), hp->logit_scale);
    }
    hp->attn_scale = 1.0f / sqrtf((float)hp->head_dim);
    if (!(hp->norm_eps >= 0) || !(hp->rope_base > 0) || !(hp->rope_base_swa > 0))
        return kw_error(KW_ERR_FORMAT, "'%s': invalid norm epsilon %g or RoPE base %g/%g",
                        L->g->file.path, hp->norm_eps, hp->rope_base, hp->rope_base_swa);
    return KW_OK;
}

/* ---------------------------------------------------------------- tensors */

/* Finds a tensor and checks its shape (ne0 = n_in, ne1 = n_out; n_out 0 = a vector).
 * A missing optional tensor leaves w zeroed and returns KW_OK. */
static kw_status weight(const loader *L, kw_weight *w, const char *name, int64_t n_in,
                        int64_t n_out, bool required) {
    const gguf_tensor *t = gguf_find_tensor(L->g, name);
    memset(w, 0, sizeof *w);
    if (!t) {
        if (!required) return KW_OK;
        return kw_error(KW_ERR_FORMAT, "'%s': required tensor '%s' is missing (architecture %s)",
                        L->g->file.path, name, L->arch);
    }
    bool vector = n_out == 0;
    int64_t want1 = vector ? 1 : n_out;
    if (t->ne[0] != n_in || t->ne[1] != want1 || t->ne[2] != 1 || t->ne[3] != 1) {
        char want[64];
        if (vector)
            snprintf(want, sizeof want, "[%" PRId64 "]", n_in);
        else
            snprintf(want, sizeof want, "[%" PRId64 ", %" PRId64 "]", n_in, n_out);
        return kw_error(KW_ERR_FORMAT,
                        "'%s': tensor '%s' has shape [%" PRId64 ", %" PRId64 ", %" PRId64
                        ", %" PRId64 "], expected %s",
                        L->g->file.path, name, t->ne[0], t->ne[1], t->ne[2], t->ne[3], want);
    }
    bool ok_type =
        vector ? (t->type == GGML_TYPE_F32 || t->type == GGML_TYPE_F16 || t->type == GGML_TYPE_BF16)
               : quant_type_can_compute(t->type);
    if (!ok_type)
        return kw_error(KW_ERR_UNSUPPORTED,
                        "'%s': tensor '%s' has type %s, which kaiwu cannot compute with%s",
                        L->g->file.path, name,
                        ggml_type_get(t->type)->name ? ggml_type_get(t->type)->name : "?",
                        vector ? " for a vector (expected F32, F16 or BF16)"
                               : " (supported: F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, "
                                 "Q2_K..Q6_K, IQ1_S..IQ4_XS, "
                                 "TQ1_0, TQ2_0, MXFP4)");
    w->name = t->name;
    w->type = t->type;
    w->n_in = t->ne[0];
    w->n_out = t->ne[1];
    w->row_bytes = ggml_row_bytes(t->type, t->ne[0]);
    w->data = t->data;
    return KW_OK;
}

static kw_status layer_weight(const loader *L, kw_weight *w, int il, const char *suffix,
                              int64_t n_in, int64_t n_out, bool required) {
    char name[96];
    snprintf(name, sizeof name, "blk.%d.%s", il, suffix);
    return weight(L, w, name, n_in, n_out, required);
}

static kw_status load_layer(const loader *L, int il) {
    const kw_model *m = L->m;
    const arch_desc *d = m->desc;
    const kw_hparams *hp = &m->hp;
    kw_layer *ly = &m->layers[il];
    int64_t E = hp->n_embd, Q = (int64_t)hp->n_head * hp->head_dim;
    int64_t K = (int64_t)hp->n_head_kv * hp->head_dim, V = (int64_t)hp->n_head_kv * hp->head_dim_v;
    int64_t O = (int64_t)hp->n_head * hp->head_dim_v, F = hp->n_ff;
    kw_status st;
#define W(field, suffix, nin, nout, req)                                                           \
    if ((st = layer_weight(L, &ly->field, il, suffix, nin, nout, req))) return st
    W(attn_norm, "attn_norm.weight", E, 0, true);
    if (d->fused_qkv) {
        W(wqkv, "attn_qkv.weight", E, Q + K + V, true);
        W(bqkv, "attn_qkv.bias", Q + K + V, 0, false);
    } else {
        W(wq, "attn_q.weight", E, Q, true);
        W(wk, "attn_k.weight", E, K, true);
        W(wv, "attn_v.weight", E, V, true);
        W(bq, "attn_q.bias", Q, 0, false);
        W(bk, "attn_k.bias", K, 0, false);
        W(bv, "attn_v.bias", V, 0, false);
    }
    if (d->qk_norm) {
        W(q_norm, "attn_q_norm.weight", hp->head_dim, 0, true);
        W(k_norm, "attn_k_norm.weight", hp->head_dim, 0, true);
    }
    W(wo, "attn_output.weight", O, E, true);
    W(bo, "attn_output.bias", E, 0, false);
    if (d->post_attn_norm) W(post_attn_norm, "post_attention_norm.weight", E, 0, true);
    W(ffn_norm, "ffn_norm.weight", E, 0, true);
    if (d->fused_gate_up) {
        W(w_up, "ffn_up.weight", E, 2 * F, true);
    } else {
        W(w_gate, "ffn_gate.weight", E, F, true);
        W(w_up, "ffn_up.weight", E, F, true);
    }
    W(w_down, "ffn_down.weight", F, E, true);
    if (d->post_ffn_norm) W(post_ffn_norm, "post_ffw_norm.weight", E, 0, true);
#undef W
    ly->is_swa = hp->swa_period > 1 && hp->n_swa > 0 && (il % hp->swa_period) < hp->swa_period - 1;
    return KW_OK;
}

static kw_status load_weights(loader *L) {
    kw_model *m = L->m;
    kw_hparams *hp = &m->hp;
    kw_status st;
    const gguf_tensor *te = gguf_find_tensor(L->g, "token_embd.weight");
    if (!te)
        return kw_error(KW_ERR_FORMAT, "'%s': required tensor 'token_embd.weight' is missing",
                        L->g->file.path);
    hp->n_vocab = (int32_t)te->ne[1];
    if (te->ne[1] > INT32_MAX || hp->n_vocab != tok_n_vocab(m->vocab))
        return kw_error(KW_ERR_FORMAT,
                        "'%s': token_embd.weight has %" PRId64
                        " rows but the vocabulary has %d tokens",
                        L->g->file.path, te->ne[1], tok_n_vocab(m->vocab));
    if ((st = weight(L, &m->tok_embd, "token_embd.weight", hp->n_embd, hp->n_vocab, true)))
        return st;
    if ((st = weight(L, &m->output_norm, "output_norm.weight", hp->n_embd, 0, true))) return st;
    if ((st = weight(L, &m->output, "output.weight", hp->n_embd, hp->n_vocab, false))) return st;
    if (!m->output.data) m->output = m->tok_embd; /* tied LM head */
    int32_t half_rot = hp->n_rot / 2;
    if ((st = weight(L, &m->rope_freqs, "rope_freqs.weight", half_rot, 0, false)) ||
        (st = weight(L, &m->rope_long, "rope_factors_long.weight", half_rot, 0, false)) ||
        (st = weight(L, &m->rope_short, "rope_factors_short.weight", half_rot, 0, false)))
        return st;
    const kw_weight *factors[] = {&m->rope_freqs, &m->rope_long, &m->rope_short};
    for (int i = 0; i < 3; i++)
        if (factors[i]->data && factors[i]->type != GGML_TYPE_F32)
            return kw_error(KW_ERR_UNSUPPORTED, "'%s': RoPE factor tensor '%s' must be F32",
                            L->g->file.path, factors[i]->name);
    m->layers = kw_calloc((size_t)hp->n_layer, sizeof(kw_layer), "layers");
    if (!m->layers) return KW_ERR_NOMEM;
    for (int il = 0; il < hp->n_layer; il++)
        if ((st = load_layer(L, il))) return st;
    for (int64_t i = 0; i < L->g->n_tensors; i++) {
        const gguf_tensor *t = &L->g->tensors[i];
        uint64_t n =
            (uint64_t)t->ne[0] * (uint64_t)t->ne[1] * (uint64_t)t->ne[2] * (uint64_t)t->ne[3];
        m->n_params += n;
        m->weight_bytes += t->n_bytes;
    }
    return KW_OK;
}

/* ---------------------------------------------------------------- repacking */

/* The matrices a forward pass multiplies with, and the token embeddings (op_weight_row reads a
 * repacked matrix's rows from its panels). */
static int matrices(kw_model *m, kw_weight **out, int cap) {
    int n = 0;
    for (int il = 0; il < m->hp.n_layer; il++) {
        kw_layer *ly = &m->layers[il];
        kw_weight *ws[] = {&ly->wq, &ly->wk,     &ly->wv,   &ly->wqkv,
                           &ly->wo, &ly->w_gate, &ly->w_up, &ly->w_down};
        for (size_t i = 0; i < sizeof ws / sizeof ws[0]; i++)
            if (ws[i]->data && n < cap) out[n++] = ws[i];
    }
    if (m->output.data && m->output.data != m->tok_embd.data && n < cap) out[n++] = &m->output;
    if (n < cap) out[n++] = &m->tok_embd;
    return n;
}

/* Panels repacked between two releases of the file pages they came from (1-2 MB of weights). */
#define REPACK_SLICE_PANELS 128

/* Drops the whole pages inside [a, e) of the (private, never written) file mapping from memory;
 * they would be read back from the file if touched again. */
static void release_pages(uintptr_t a, uintptr_t e, long page) {
    if (page <= 0) return;
    const uintptr_t a1 = (a + (uintptr_t)page - 1) / (uintptr_t)page * (uintptr_t)page;
    const uintptr_t e1 = e / (uintptr_t)page * (uintptr_t)page;
    if (e1 > a1) madvise((void *)a1, e1 - a1, MADV_DONTNEED);
}

/* Copies the 1-row weights (norms, biases, RoPE factors: a few hundred KB) out of the mapping,
 * as F32 (what the forward pass reads them as, on every thread, with no per-use conversion).
 * This also lets repack_weights drop the whole tensor-data section of the file: otherwise the
 * pages at tensor edges stay resident, since the file may be mapped in 2 MB folios and touching
 * a norm maps its whole folio again (60 MB for a 1B model). */
static kw_status own_vectors(kw_model *m) {
    enum { PER_LAYER = 11 };
    const int cap = PER_LAYER * m->hp.n_layer + 4;
    kw_weight **vs = kw_calloc((size_t)cap, sizeof *vs, "vector list");
    if (!vs) return KW_ERR_NOMEM;
    int n = 0;
    for (int il = 0; il < m->hp.n_layer; il++) {
        kw_layer *ly = &m->layers[il];
        kw_weight *ws[PER_LAYER] = {&ly->attn_norm,      &ly->bq,       &ly->bk,           &ly->bv,
                                    &ly->bqkv,           &ly->q_norm,   &ly->k_norm,       &ly->bo,
                                    &ly->post_attn_norm, &ly->ffn_norm, &ly->post_ffn_norm};
        for (int i = 0; i < PER_LAYER; i++)
            vs[n++] = ws[i];
    }
    vs[n++] = &m->output_norm, vs[n++] = &m->rope_freqs, vs[n++] = &m->rope_long,
    vs[n++] = &m->rope_short;
    uint64_t total = 0;
    for (int i = 0; i < n; i++)
        if (vs[i]->data)
            total +=
                (sizeof(float) * (uint64_t)vs[i]->n_in * (uint64_t)vs[i]->n_out + 63) / 64 * 64;
    if (total > 0 && !(m->vectors = kw_malloc_aligned((size_t)total, "vector weights"))) {
        free(vs);
        return KW_ERR_NOMEM;
    }
    uint8_t *dst = m->vectors;
    for (int i = 0; i < n; i++) {
        kw_weight *w = vs[i];
        if (!w->data) continue;
        float *f = (float *)dst;
        for (int64_t r = 0; r < w->n_out; r++)
            op_weight_row(f + r * w->n_in, w, r);
        w->data = f;
        w->type = GGML_TYPE_F32;
        w->row_bytes = sizeof(float) * (uint64_t)w->n_in;
        dst += (sizeof(float) * (uint64_t)w->n_in * (uint64_t)w->n_out + 63) / 64 * 64;
    }
    free(vs);
    return KW_OK;
}

/* Copies every matrix the CPU's kernels have a panel layout for into one 64-byte aligned buffer
 * in that layout (the file's bytes, up to 15 padding rows per matrix; k-quant scales unpacked),
 * dropping the file pages of each slice once copied and, at the end, the whole tensor-data
 * section (MAP_PRIVATE and never written: pages are read back from the file if touched again;
 * the 1-row weights were copied out by own_vectors). Costs one pass over those weights at load. */
static kw_status repack_weights(kw_model *m) {
    const int cap = 8 * m->hp.n_layer + 2;
    const bool tied = m->output.data == m->tok_embd.data;
    kw_weight **ws = kw_calloc((size_t)cap, sizeof *ws, "weight list");
    if (!ws) return KW_ERR_NOMEM;
    const int n = matrices(m, ws, cap);
    uint64_t total = 0;
    for (int i = 0; i < n; i++)
        total += (op_weight_panel_bytes(ws[i]) + 63) / 64 * 64;
    if (total == 0) {
        free(ws);
        return KW_OK;
    }
    m->panels = kw_malloc_aligned((size_t)total, "repacked weights");
    if (!m->panels) {
        free(ws);
        return KW_ERR_NOMEM;
    }
    m->panel_bytes = total;
    uint8_t *dst = m->panels;
    const long page = sysconf(_SC_PAGESIZE);
    for (int i = 0; i < n; i++) {
        const size_t bytes = op_weight_panel_bytes(ws[i]);
        if (!bytes) continue;
        /* in slices, each slice's file pages dropped once copied: the peak holds one slice twice,
         * not the largest matrix (the token embeddings: 280 MB in a 1B Q8_0 file) */
        const int64_t n_panels = op_weight_n_panels(ws[i]);
        for (int64_t p0 = 0; p0 < n_panels; p0 += REPACK_SLICE_PANELS) {
            const int64_t p1 =
                p0 + REPACK_SLICE_PANELS < n_panels ? p0 + REPACK_SLICE_PANELS : n_panels;
            op_weight_repack_panels(ws[i], dst, p0, p1);
            const int64_t r1 =
                p1 * KERNEL_PANEL_ROWS < ws[i]->n_out ? p1 * KERNEL_PANEL_ROWS : ws[i]->n_out;
            const uintptr_t base = (uintptr_t)ws[i]->data;
            release_pages(base + (uintptr_t)((uint64_t)p0 * KERNEL_PANEL_ROWS * ws[i]->row_bytes),
                          base + (uintptr_t)((uint64_t)r1 * ws[i]->row_bytes), page);
        }
        ws[i]->panel = dst;
        dst += (bytes + 63) / 64 * 64;
    }
    if (tied) m->output.panel = m->tok_embd.panel;
    free(ws);
    /* the per-slice releases leave the pages at tensor edges: drop the whole data section (the
     * vectors were copied out by own_vectors; matrices without panels are read back on use) */
    const kw_mapped_file *f = &m->gguf->file;
    if (m->gguf->data_offset < f->size)
        release_pages((uintptr_t)f->data + (uintptr_t)m->gguf->data_offset,
                      (uintptr_t)f->data + (uintptr_t)f->size, page);
    return KW_OK;
}

/* ---------------------------------------------------------------- public */

/* general.architecture into L->arch (and m->arch). */
static kw_status read_arch(loader *L, const char *path) {
    gguf_str arch;
    kw_status st = gguf_get_str(L->g, "general.architecture", &arch);
    if (st) return st;
    if (arch.len == 0 || arch.len >= sizeof L->arch || memchr(arch.ptr, 0, arch.len))
        return kw_error(KW_ERR_FORMAT,
                        "'%s': general.architecture has an invalid value (%" PRIu64 " bytes)", path,
                        arch.len);
    memcpy(L->arch, arch.ptr, arch.len);
    L->arch[arch.len] = 0;
    memcpy(L->m->arch, L->arch, arch.len + 1);
    return KW_OK;
}

/* What a vocabulary-only model has too: the tokenizer, the name, the chat template. */
static kw_status load_vocab_and_texts(loader *L, const char *path) {
    kw_model *m = L->m;
    kw_status st = tok_vocab_load(L->g, &m->vocab);
    if (st) return kw_error_wrap(st, "'%s': vocabulary", path);
    gguf_str s = {0};
    if ((st = gguf_get_str_opt(L->g, "general.name", &s))) return st;
    m->name = kw_strndup(s.ptr ? s.ptr : "", s.ptr ? s.len : 0);
    if (!m->name) return KW_ERR_NOMEM;
    s = (gguf_str){0};
    if ((st = gguf_get_str_opt(L->g, "tokenizer.chat_template", &s))) return st;
    if (s.ptr && !(m->chat_template = kw_strndup(s.ptr, s.len))) return KW_ERR_NOMEM;
    return KW_OK;
}

/* A file without tensors (llama.cpp's ggml-vocab-*.gguf, tokenizer fixtures), or a model asked for
 * its vocabulary only: any architecture name, no hyperparameters beyond the vocabulary size. */
static kw_status load_vocab_only(loader *L, const char *path) {
    kw_model *m = L->m;
    m->vocab_only = true;
    kw_status st = load_vocab_and_texts(L, path);
    if (st) return st;
    m->hp.n_vocab = tok_n_vocab(m->vocab);
    m->desc = NULL;
    return KW_OK;
}

static kw_status load(kw_model *m, const char *path, bool vocab_only) {
    kw_status st = kw_gguf_open(path, &m->gguf);
    if (st) return st;
    loader L = {.m = m, .g = m->gguf};
    if ((st = read_arch(&L, path))) return st;
    if (vocab_only || m->gguf->n_tensors == 0) return load_vocab_only(&L, path);
    m->desc = arch_find(L.arch, strlen(L.arch));
    if (!m->desc)
        return kw_error(KW_ERR_UNSUPPORTED,
                        "'%s': architecture '%s' is not supported (kaiwu runs: %s)", path, L.arch,
                        kw_supported_architectures());
    if ((st = read_hparams(&L))) return st;
    if ((st = load_vocab_and_texts(&L, path))) return st;
    if ((st = load_weights(&L))) return st;
    if ((st = own_vectors(m))) return st;
    return repack_weights(m);
}

/* --verbose: what was loaded, how big, how long it took (stderr). */
static void report_load(const kw_model *m, const char *path, double secs) {
    if (m->vocab_only) {
        fprintf(stderr,
                "loaded '%s': vocabulary only (%s, %d tokens; architecture '%s') in %.3f s\n", path,
                kw_model_tokenizer_kind(m), m->hp.n_vocab, m->arch, secs);
        return;
    }
    fprintf(stderr,
            "loaded '%s': %s (%s), %" PRId64 " tensors, %.1f MiB of weights (%.1f MiB repacked for "
            "this CPU's kernels), %d layers, vocabulary %d, in %.3f s\n",
            path, m->arch, m->desc->family, m->gguf->n_tensors,
            (double)m->weight_bytes / (1024.0 * 1024.0), (double)m->panel_bytes / (1024.0 * 1024.0),
            m->hp.n_layer, m->hp.n_vocab, secs);
}

kw_status kw_model_load(const char *path, const kw_model_params *params, kw_model **out) {
    kw_error_clear();
    if (!path || !out) return kw_error(KW_ERR_INVALID_ARG, "kw_model_load: NULL argument");
    kw_model_params p = params ? *params : (kw_model_params){0};
    double t0 = kw_time_seconds();
    kw_model *m = kw_calloc(1, sizeof *m, "model");
    if (!m) return KW_ERR_NOMEM;
    kw_status st = load(m, path, p.vocab_only);
    if (st) {
        kw_model_free(m);
        return st;
    }
    if (p.verbose) report_load(m, path, kw_time_seconds() - t0);
    *out = m;
    return KW_OK;
}

void kw_model_free(kw_model *m) {
    if (!m) return;
    tok_vocab_free(m->vocab);
    kw_gguf_close(m->gguf);
    free(m->layers);
    kw_free_aligned(m->panels);
    kw_free_aligned(m->vectors);
    free(m->name);
    free(m->chat_template);
    free(m);
}
