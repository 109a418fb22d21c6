/* engine.c - kw_engine: continuous batching of generations over one context.
 *
 * Each sequence of the context is a slot. The engine remembers the tokens every slot's cache
 * holds, so a new generation goes to the free slot sharing the longest prefix with its prompt
 * (least recently used among equals) and evaluates only the rest. A step builds one kw_batch:
 * first every decoding generation's last token, then prompt chunks of the others in start order
 * while room is left (prompt_chunk each, n_batch in all). Before taking a chunk, a generation
 * looks for a longer evaluated prefix in any other slot and copies it (kw_seq_copy); if another
 * generation is still evaluating that prefix, it waits a step instead of evaluating it twice.
 *
 * Must not: allocate per step (the batch and the slot tables are sized at kw_engine_create).
 */
#include "gen/gen.h"

#include <stdlib.h>
#include <string.h>

kw_status kw_engine_create(kw_context *ctx, kw_engine **out) {
    if (!ctx || !out) return kw_error(KW_ERR_INVALID_ARG, "kw_engine_create: NULL argument");
    kw_engine *e = kw_calloc(1, sizeof *e, "engine");
    if (!e) return KW_ERR_NOMEM;
    e->ctx = ctx;
    e->model = kw_context_model(ctx);
    e->n_seq = kw_context_n_seq(ctx);
    e->n_ctx = kw_context_n_ctx(ctx);
    e->n_batch = kw_context_n_batch(ctx);
    kw_status st = kw_batch_init(&e->batch, e->n_batch);
    e->seq_tokens = kw_calloc((size_t)e->n_seq * (size_t)e->n_ctx, sizeof(kw_token), "slot tokens");
    e->owner = kw_calloc((size_t)e->n_seq, sizeof *e->owner, "slot owners");
    e->last_used = kw_calloc((size_t)e->n_seq, sizeof *e->last_used, "slot ages");
    if (st || !e->seq_tokens || !e->owner || !e->last_used) {
        kw_engine_free(e);
        return st ? st : KW_ERR_NOMEM;
    }
    /* what the context already holds is unknown to the engine: start from empty slots */
    for (int32_t s = 0; s < e->n_seq; s++)
        kw_seq_remove(ctx, s);
    *out = e;
    return KW_OK;
}

void kw_engine_free(kw_engine *e) {
    if (!e) return;
    for (kw_gen *g = e->active; g; g = g->next)
        g->seq = -1, g->state = GEN_DONE; /* generations outliving the engine hold nothing */
    kw_batch_free(&e->batch);
    free(e->seq_tokens);
    free(e->owner);
    free(e->last_used);
    free(e);
}

int32_t kw_engine_n_free(const kw_engine *e) {
    int32_t n = 0;
    for (int32_t s = 0; e && s < e->n_seq; s++)
        n += e->owner[s] == NULL;
    return n;
}

int32_t kw_engine_n_active(const kw_engine *e) {
    int32_t n = 0;
    for (const kw_gen *g = e ? e->active : NULL; g; g = g->next)
        n++;
    return n;
}

static kw_token *slot_tokens(kw_engine *e, int32_t s) {
    return e->seq_tokens + (int64_t)s * e->n_ctx;
}

/* Length of the common prefix of slot s's cache and the prompt. */
static int32_t common_prefix(kw_engine *e, int32_t s, const kw_token *p, int32_t n) {
    const int32_t have = kw_seq_n_past(e->ctx, s);
    const kw_token *t = slot_tokens(e, s);
    int32_t k = 0;
    while (k < have && k < n && t[k] == p[k])
        k++;
    return k;
}

kw_status engine_attach(kw_engine *e, kw_gen *g) {
    int32_t best = -1, best_len = -1;
    for (int32_t s = 0; s < e->n_seq; s++) {
        if (e->owner[s]) continue;
        int32_t l = common_prefix(e, s, g->prompt, g->n_prompt);
        if (l > best_len || (l == best_len && e->last_used[s] < e->last_used[best]))
            best = s, best_len = l;
    }
    if (best < 0)
        return kw_error(KW_ERR_INVALID_ARG,
                        "kw_gen_start: all %d sequences of the context are in use", e->n_seq);
    /* the last prompt token is evaluated again for its logits */
    int32_t keep = best_len < g->n_prompt ? best_len : g->n_prompt - 1;
    kw_seq_truncate(e->ctx, best, keep);
    g->seq = best;
    g->n_cached = kw_seq_n_past(e->ctx, best); /* a sliding window may have dropped more */
    g->state = GEN_PROMPT;
    e->owner[best] = g;
    g->next = NULL;
    kw_gen **tail = &e->active;
    while (*tail)
        tail = &(*tail)->next;
    *tail = g;
    return KW_OK;
}

void engine_detach(kw_engine *e, kw_gen *g) {
    for (kw_gen **p = &e->active; *p; p = &(*p)->next)
        if (*p == g) {
            *p = g->next;
            break;
        }
    g->next = NULL;
    if (g->seq >= 0 && g->seq < e->n_seq && e->owner[g->seq] == g) {
        e->owner[g->seq] = NULL;
        e->last_used[g->seq] = ++e->tick;
    }
    g->seq = -1;
    if (g->state != GEN_DONE) g->state = GEN_DONE;
}

/* Waiting for another generation pays off only when it saves at least this many tokens. */
#define SHARE_MIN_TOKENS 16

static int32_t shared_len(const kw_token *a, int32_t na, const kw_token *b, int32_t nb) {
    int32_t k = 0;
    while (k < na && k < nb && a[k] == b[k])
        k++;
    return k;
}

/* Copies in a longer evaluated prefix held by another slot; returns false when this generation
 * should wait because an earlier one is still evaluating a longer prefix of the same prompt. */
static bool take_shared_prefix(kw_engine *e, kw_gen *g) {
    const int32_t have = kw_seq_n_past(e->ctx, g->seq), limit = g->n_prompt - 1;
    for (kw_gen *o = e->active; o && o != g; o = o->next) {
        if (o->state != GEN_PROMPT) continue;
        int32_t k = shared_len(o->prompt, o->n_prompt, g->prompt, g->n_prompt);
        if (k > limit) k = limit;
        if (k >= have + SHARE_MIN_TOKENS && kw_seq_n_past(e->ctx, o->seq) < k) return false;
    }
    int32_t donor = -1, donor_len = have;
    for (int32_t s = 0; s < e->n_seq; s++) {
        if (s == g->seq) continue;
        int32_t l = common_prefix(e, s, g->prompt, g->n_prompt);
        if (l > limit) l = limit;
        if (l > donor_len) donor = s, donor_len = l;
    }
    if (donor >= 0 && kw_seq_copy(e->ctx, donor, g->seq, donor_len) == KW_OK) {
        const int32_t got = kw_seq_n_past(e->ctx, g->seq);
        memcpy(slot_tokens(e, g->seq), slot_tokens(e, donor), (size_t)got * sizeof(kw_token));
        if (got > g->n_cached) g->n_cached = got;
    }
    return true;
}

kw_status kw_engine_step(kw_engine *e) {
    if (!e) return kw_error(KW_ERR_INVALID_ARG, "kw_engine_step: NULL engine");
    for (kw_gen *g = e->active, *next; g; g = next) {
        next = g->next;
        if (atomic_load(&g->cancel)) gen_finish(g, KW_FINISH_CANCELLED);
    }
    kw_batch *b = &e->batch;
    kw_batch_clear(b);
    for (kw_gen *g = e->active; g && b->n_tokens < e->n_batch; g = g->next) {
        if (g->state != GEN_DECODE) continue;
        const int32_t pos = kw_seq_n_past(e->ctx, g->seq);
        g->row = b->n_tokens;
        kw_batch_add(b, g->last, pos, g->seq, true);
    }
    for (kw_gen *g = e->active; g && b->n_tokens < e->n_batch; g = g->next) {
        if (g->state != GEN_PROMPT || g->row >= 0) continue;
        if (!take_shared_prefix(e, g)) continue;
        const int32_t from = kw_seq_n_past(e->ctx, g->seq);
        int32_t take = g->n_prompt - from, room = e->n_batch - b->n_tokens;
        const int32_t chunk = g->p.prompt_chunk > 0 ? g->p.prompt_chunk : e->n_batch;
        if (take > chunk) take = chunk;
        if (take > room) take = room;
        for (int32_t i = 0; i < take; i++) {
            const bool last = from + i == g->n_prompt - 1;
            if (last) g->row = b->n_tokens;
            kw_batch_add(b, g->prompt[from + i], from + i, g->seq, last);
        }
    }
    if (b->n_tokens == 0) return KW_OK;
    kw_status st = kw_decode_batch(e->ctx, b);
    if (st != KW_OK) {
        for (kw_gen *g = e->active, *next; g; g = next) {
            next = g->next;
            if (g->row >= 0 || g->state == GEN_DECODE) gen_finish(g, KW_FINISH_ERROR);
        }
        return st;
    }
    for (int32_t i = 0; i < b->n_tokens; i++)
        slot_tokens(e, b->seq_id[i])[b->pos[i]] = b->token[i];
    for (kw_gen *g = e->active, *next; g; g = next) {
        next = g->next;
        if (g->row >= 0) gen_after_decode(g, kw_get_logits(e->ctx, g->row));
    }
    return KW_OK;
}

kw_status kw_generate(kw_gen *g) {
    kw_status st = kw_gen_start(g);
    while (st == KW_OK && g->state != GEN_DONE)
        st = kw_engine_step(g->eng);
    return st;
}
