/* kv_cache.c - the KV cache of a context: one region per layer and sequence, the table of what
 * each sequence holds, and the sequence operations of the public API (truncate, remove, copy).
 *
 * Every sequence's region has the same layout a single-sequence cache had (keys transposed,
 * sliding-window layers a ring of n_swa + n_batch slots), so attention over one sequence does not
 * know there are others. A sequence's rings remember the oldest position they still hold: going
 * back (truncate) or copying a prefix further than that empties the sequence instead of reading
 * positions that were overwritten.
 *
 * Element types (kw_context_params.cache_type_k/v): F32 and F16 keys are stored transposed (value i
 * of every position in one row, so attention's score loop runs along vectors); Q8_0 keys and all
 * values as one row per position (Q8_0: blocks of 32 values of one head with an F16 scale, as
 * ggml's, quantized once when written). Attention reads each in its stored type (forward.c,
 * kernels.h).
 *
 * Must not: allocate outside kv_cache_alloc, or let anything but kv_write / kv_key_run /
 * kv_value_run / the sequence operations here know the layout inside a region.
 */
#include "model/model.h"
#include "tensor/blocks.h"
#include "tensor/quants.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

const char *kw_cache_type_name(int32_t type) {
    switch (type) {
    case KW_TYPE_F32: return "f32";
    case KW_TYPE_F16: return "f16";
    case KW_TYPE_Q8_0: return "q8_0";
    default: return NULL;
    }
}

int32_t kw_cache_type_from_name(const char *name) {
    static const int32_t types[] = {KW_TYPE_F32, KW_TYPE_F16, KW_TYPE_Q8_0};
    for (size_t i = 0; name && i < sizeof types / sizeof types[0]; i++)
        if (strcasecmp(name, kw_cache_type_name(types[i])) == 0) return types[i];
    return -1;
}

kw_status kv_format_init(const kw_model *m, int32_t type_k, int32_t type_v, kv_format *f) {
    const kw_hparams *hp = &m->hp;
    const int32_t types[2] = {type_k, type_v}, dims[2] = {hp->head_dim, hp->head_dim_v};
    static const char *const what[2] = {"keys", "values"};
    for (int i = 0; i < 2; i++) {
        if (!kw_cache_type_name(types[i]))
            return kw_error(KW_ERR_INVALID_ARG,
                            "context: KV cache type %d for the %s is not one kaiwu stores (f32 "
                            "= %d, f16 = %d, q8_0 = %d)",
                            types[i], what[i], KW_TYPE_F32, KW_TYPE_F16, KW_TYPE_Q8_0);
        if (types[i] == KW_TYPE_Q8_0 && dims[i] % QK8_0 != 0)
            return kw_error(KW_ERR_INVALID_ARG,
                            "context: a q8_0 KV cache needs a head size that is a multiple of %d; "
                            "this model's %s have %d values per head (use f16 or f32)",
                            QK8_0, what[i], dims[i]);
    }
    const int64_t K = (int64_t)hp->n_head_kv * hp->head_dim,
                  V = (int64_t)hp->n_head_kv * hp->head_dim_v;
    f->type_k = type_k;
    f->type_v = type_v;
    f->k_elem = type_k == KW_TYPE_F32 ? 4 : type_k == KW_TYPE_F16 ? 2 : 0;
    f->k_row = type_k == KW_TYPE_Q8_0 ? (size_t)(K / QK8_0) * sizeof(block_q8_0) : 0;
    f->v_row = type_v == KW_TYPE_Q8_0 ? (size_t)(V / QK8_0) * sizeof(block_q8_0)
                                      : (size_t)V * (type_v == KW_TYPE_F32 ? 4 : 2);
    return KW_OK;
}

kw_status kv_cache_alloc(kw_context *c) {
    const kw_hparams *hp = &c->model->hp;
    const kv_format *f = &c->kvf;
    const int64_t K = (int64_t)hp->n_head_kv * hp->head_dim;
    c->kv = kw_calloc((size_t)hp->n_layer, sizeof(kw_kv_layer), "kv cache");
    c->seqs = kw_calloc((size_t)c->n_seq, sizeof(kv_seq), "kv sequences");
    c->seq_next = kw_calloc((size_t)c->n_seq, sizeof(int32_t), "kv sequence positions");
    if (!c->kv || !c->seqs || !c->seq_next) return KW_ERR_NOMEM;
    for (int il = 0; il < hp->n_layer; il++) {
        kw_kv_layer *kv = &c->kv[il];
        /* a sliding-window layer keeps only the window plus one batch (ring buffer) */
        kv->n_slots = c->n_ctx;
        if (c->model->layers[il].is_swa && (int64_t)hp->n_swa + c->n_batch < c->n_ctx) {
            kv->n_slots = hp->n_swa + c->n_batch;
            c->ring_slots = kv->n_slots;
        }
        /* regions start on 64-byte boundaries (each sequence's rows begin aligned) */
        kv->k_seq =
            ((f->k_elem ? (size_t)K * f->k_elem : f->k_row) * (size_t)kv->n_slots + 63) / 64 * 64;
        kv->v_seq = (f->v_row * (size_t)kv->n_slots + 63) / 64 * 64;
        const size_t k_bytes = kv->k_seq * (size_t)c->n_seq, v_bytes = kv->v_seq * (size_t)c->n_seq;
        kv->k = kw_malloc_aligned(k_bytes, "kv cache keys");
        kv->v = kw_malloc_aligned(v_bytes, "kv cache values");
        if (!kv->k || !kv->v) return KW_ERR_NOMEM;
        c->kv_bytes += k_bytes + v_bytes;
    }
    return KW_OK;
}

void kv_write(const kw_context *c, const kw_kv_layer *kv, int32_t seq, int32_t slot, const float *k,
              const float *v) {
    const kw_hparams *hp = &c->model->hp;
    const kv_format *f = &c->kvf;
    const int64_t K = (int64_t)hp->n_head_kv * hp->head_dim,
                  V = (int64_t)hp->n_head_kv * hp->head_dim_v;
    uint8_t *keys = kv->k + (size_t)seq * kv->k_seq, *vals = kv->v + (size_t)seq * kv->v_seq;
    const size_t ns = (size_t)kv->n_slots;
    switch (f->type_k) { /* F32/F16 keys transposed: value i of this key in row i */
    case KW_TYPE_F32:
        for (int64_t i = 0; i < K; i++)
            ((float *)keys)[(size_t)i * ns + (size_t)slot] = k[i];
        break;
    case KW_TYPE_F16:
        for (int64_t i = 0; i < K; i++)
            ((uint16_t *)keys)[(size_t)i * ns + (size_t)slot] = kw_f32_to_f16(k[i]);
        break;
    default: quant_quantize_row_q8_0(k, keys + (size_t)slot * f->k_row, K); break;
    }
    uint8_t *vr = vals + (size_t)slot * f->v_row;
    switch (f->type_v) {
    case KW_TYPE_F32: memcpy(vr, v, sizeof(float) * (size_t)V); break;
    case KW_TYPE_F16:
        for (int64_t i = 0; i < V; i++)
            ((uint16_t *)vr)[i] = kw_f32_to_f16(v[i]);
        break;
    default: quant_quantize_row_q8_0(v, vr, V); break;
    }
}

const void *kv_key_run(const kw_context *c, const kw_kv_layer *kv, int32_t seq, int32_t g,
                       int32_t slot, size_t *stride) {
    const kv_format *f = &c->kvf;
    const uint8_t *keys = kv->k + (size_t)seq * kv->k_seq;
    const size_t hd = (size_t)c->model->hp.head_dim;
    if (f->k_elem) {
        *stride = (size_t)kv->n_slots;
        return keys + ((size_t)g * hd * (size_t)kv->n_slots + (size_t)slot) * f->k_elem;
    }
    *stride = f->k_row;
    return keys + (size_t)slot * f->k_row + (size_t)g * (hd / QK8_0) * sizeof(block_q8_0);
}

const void *kv_value_run(const kw_context *c, const kw_kv_layer *kv, int32_t seq, int32_t g,
                         int32_t slot, size_t *stride) {
    const kv_format *f = &c->kvf;
    const uint8_t *row = kv->v + (size_t)seq * kv->v_seq + (size_t)slot * f->v_row;
    const size_t hdv = (size_t)c->model->hp.head_dim_v;
    switch (f->type_v) {
    case KW_TYPE_F32:
        *stride = f->v_row / sizeof(float);
        return row + (size_t)g * hdv * sizeof(float);
    case KW_TYPE_F16:
        *stride = f->v_row / sizeof(uint16_t);
        return row + (size_t)g * hdv * sizeof(uint16_t);
    default: *stride = f->v_row; return row + (size_t)g * (hdv / QK8_0) * sizeof(block_q8_0);
    }
}

uint64_t kw_context_kv_bytes_read(const kw_context *c, int32_t n_past) {
    if (!c || n_past < 0) return 0;
    const kw_hparams *hp = &c->model->hp;
    const kv_format *f = &c->kvf;
    const uint64_t k_pos =
        f->k_elem ? (uint64_t)hp->n_head_kv * (uint64_t)hp->head_dim * f->k_elem : f->k_row;
    uint64_t bytes = 0;
    for (int il = 0; il < hp->n_layer; il++) {
        uint64_t n = (uint64_t)n_past + 1; /* the cached positions and the token's own */
        if (c->model->layers[il].is_swa && n > (uint64_t)hp->n_swa) n = (uint64_t)hp->n_swa;
        bytes += n * (k_pos + f->v_row);
    }
    return bytes;
}

void kv_cache_free(kw_context *c) {
    if (c->kv)
        for (int il = 0; il < c->model->hp.n_layer; il++) {
            kw_free_aligned(c->kv[il].k);
            kw_free_aligned(c->kv[il].v);
        }
    free(c->kv);
    free(c->seqs);
    free(c->seq_next);
}

void kv_seq_advance(kw_context *c, int32_t seq, int32_t pos) {
    kv_seq *s = &c->seqs[seq];
    if (pos + 1 > s->n_past) s->n_past = pos + 1;
    if (c->ring_slots && pos + 1 - c->ring_slots > s->ring_oldest)
        s->ring_oldest = pos + 1 - c->ring_slots;
}

/* Sets a sequence's length to pos (<= its n_past); if its rings no longer hold the window the
 * position after pos must see, the sequence is emptied. */
static void seq_cut(kw_context *c, kv_seq *s, int32_t pos) {
    if (pos < 0) pos = 0;
    if (pos > s->n_past) pos = s->n_past;
    if (c->ring_slots && s->ring_oldest > 0 && pos - c->model->hp.n_swa + 1 < s->ring_oldest)
        pos = 0;
    s->n_past = pos;
    if (pos == 0) s->ring_oldest = 0;
}

int32_t kw_context_n_seq(const kw_context *c) { return c->n_seq; }

kw_model *kw_context_model(const kw_context *c) { return c ? c->model : NULL; }

int32_t kw_seq_n_past(const kw_context *c, kw_seq_id seq) {
    if (!c || seq < 0 || seq >= c->n_seq) return 0;
    return c->seqs[seq].n_past;
}

int32_t kw_context_n_past(const kw_context *c) { return c->seqs[0].n_past; }

void kw_seq_truncate(kw_context *c, kw_seq_id seq, int32_t pos) {
    if (!c || seq < 0 || seq >= c->n_seq) return;
    if (pos < c->seqs[seq].n_past) seq_cut(c, &c->seqs[seq], pos);
}

void kw_context_truncate(kw_context *c, int32_t pos) { kw_seq_truncate(c, 0, pos); }

void kw_seq_remove(kw_context *c, kw_seq_id seq) { kw_seq_truncate(c, seq, 0); }

kw_status kw_seq_copy(kw_context *c, kw_seq_id src, kw_seq_id dst, int32_t n_pos) {
    if (!c || src < 0 || src >= c->n_seq || dst < 0 || dst >= c->n_seq)
        return kw_error(KW_ERR_INVALID_ARG, "kw_seq_copy: sequence %d -> %d, the context has %d",
                        src, dst, c ? c->n_seq : 0);
    const kv_seq *s = &c->seqs[src];
    if (n_pos < 0 || n_pos > s->n_past) n_pos = s->n_past;
    if (src == dst) {
        kw_seq_truncate(c, src, n_pos);
        return KW_OK;
    }
    const kw_hparams *hp = &c->model->hp;
    const kv_format *f = &c->kvf;
    const int64_t K = (int64_t)hp->n_head_kv * hp->head_dim;
    for (int il = 0; il < hp->n_layer; il++) {
        const kw_kv_layer *kv = &c->kv[il];
        uint8_t *kd = kv->k + (size_t)dst * kv->k_seq, *vd = kv->v + (size_t)dst * kv->v_seq;
        const uint8_t *ks = kv->k + (size_t)src * kv->k_seq, *vs = kv->v + (size_t)src * kv->v_seq;
        if (kv->n_slots < c->n_ctx) { /* a ring: positions sit modulo n_slots, copy it whole */
            memcpy(kd, ks, kv->k_seq);
            memcpy(vd, vs, kv->v_seq);
            continue;
        }
        if (f->k_elem) { /* transposed: the first n_pos values of each row */
            const size_t row = (size_t)kv->n_slots * f->k_elem;
            for (int64_t i = 0; i < K; i++)
                memcpy(kd + (size_t)i * row, ks + (size_t)i * row, f->k_elem * (size_t)n_pos);
        } else {
            memcpy(kd, ks, f->k_row * (size_t)n_pos);
        }
        memcpy(vd, vs, f->v_row * (size_t)n_pos);
    }
    kv_seq *d = &c->seqs[dst];
    *d = *s;
    seq_cut(c, d, n_pos);
    return KW_OK;
}
