/* kv_cache.c - the KV cache of a context: one region per layer and sequence, the table of what
 * each sequence holds, and the sequence operations of the public API (truncate, remove, copy).
 *
 * Every sequence's region has the same layout a single-sequence cache had (keys transposed,
 * sliding-window layers a ring of n_swa + n_batch slots), so attention over one sequence does not
 * know there are others. A sequence's rings remember the oldest position they still hold: going
 * back (truncate) or copying a prefix further than that empties the sequence instead of reading
 * positions that were overwritten.
 *
 * Must not: allocate outside kv_cache_alloc, or reach into a region except through
 * kv_keys()/kv_values() (model.h), so the element type can change in one place.
 */
#include "model/model.h"

#include <stdlib.h>
#include <string.h>

kw_status kv_cache_alloc(kw_context *c) {
    const kw_hparams *hp = &c->model->hp;
    const int64_t K = (int64_t)hp->n_head_kv * hp->head_dim,
                  V = (int64_t)hp->n_head_kv * hp->head_dim_v;
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
        kv->k_seq = kv->n_slots * K;
        kv->v_seq = kv->n_slots * V;
        const size_t k_bytes = sizeof(float) * (size_t)(kv->k_seq * c->n_seq),
                     v_bytes = sizeof(float) * (size_t)(kv->v_seq * c->n_seq);
        kv->k = kw_malloc_aligned(k_bytes, "kv cache keys");
        kv->v = kw_malloc_aligned(v_bytes, "kv cache values");
        if (!kv->k || !kv->v) return KW_ERR_NOMEM;
        c->kv_bytes += k_bytes + v_bytes;
    }
    return KW_OK;
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
    const int64_t K = (int64_t)hp->n_head_kv * hp->head_dim,
                  V = (int64_t)hp->n_head_kv * hp->head_dim_v;
    for (int il = 0; il < hp->n_layer; il++) {
        const kw_kv_layer *kv = &c->kv[il];
        float *kd = kv_keys(kv, dst), *vd = kv_values(kv, dst);
        const float *ks = kv_keys(kv, src), *vs = kv_values(kv, src);
        if (kv->n_slots < c->n_ctx) { /* a ring: positions sit modulo n_slots, copy it whole */
            memcpy(kd, ks, sizeof(float) * (size_t)kv->k_seq);
            memcpy(vd, vs, sizeof(float) * (size_t)kv->v_seq);
            continue;
        }
        for (int64_t i = 0; i < K; i++)
            memcpy(kd + i * kv->n_slots, ks + i * kv->n_slots, sizeof(float) * (size_t)n_pos);
        memcpy(vd, vs, sizeof(float) * (size_t)n_pos * (size_t)V);
    }
    kv_seq *d = &c->seqs[dst];
    *d = *s;
    seq_cut(c, d, n_pos);
    return KW_OK;
}
