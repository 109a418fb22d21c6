/* batch_loader.c - which tokens each training sequence holds, as a pure function of the seed and
 * a position (epoch, cursor), so a checkpoint that stores the position resumes the same batches.
 *
 * Pretraining: each epoch draws a shift in [0, seq_len) and a permutation of the windows
 * [shift + w seq_len, shift + (w + 1) seq_len] (seq_len + 1 tokens: inputs and next-token
 * targets) from an RNG seeded by (seed, epoch); the cursor walks the permutation. Documents are
 * BOS doc EOS back to back, so windows cross document boundaries as in GPT-style packing.
 * SFT (packed): each epoch permutes the conversations; a sequence takes whole conversations from
 * the cursor while they fit in seq_len + 1 tokens (one longer than that is cut, alone), pads the
 * rest with the pad token, and masks every target that is not an assistant token.
 * Evaluation uses a fixed grid instead: windows at offsets i seq_len, or conversations packed in
 * their file order.
 * Must not: allocate after init (next and eval copy into the caller's buffers).
 */
#include "train/train.h"

#include <stdlib.h>
#include <string.h>

static int64_t n_windows(const token_stream *s, int32_t T, int64_t shift) {
    return s->n - 1 - shift >= T ? (s->n - 1 - shift) / T : 0;
}

static int32_t pack(const batch_source *b, const int64_t *order, int64_t n_units, uint64_t *cursor,
                    int32_t *tokens, int32_t *targets);

/* The order and shift of epoch b->st.epoch. */
static void build_epoch(batch_source *b) {
    train_rng r;
    train_rng_seed(&r, train_hash(b->seed, &b->st.epoch, sizeof b->st.epoch));
    if (b->packed) {
        b->shift = 0;
        b->n_units = b->stream->n_docs;
    } else {
        b->shift = (int64_t)train_rng_below(&r, (uint64_t)b->seq_len);
        b->n_units = n_windows(b->stream, b->seq_len, b->shift);
        if (b->n_units == 0) b->shift = 0, b->n_units = n_windows(b->stream, b->seq_len, 0);
    }
    for (int64_t i = 0; i < b->n_units; i++)
        b->order[i] = i;
    for (int64_t i = b->n_units - 1; i > 0; i--) { /* Fisher-Yates */
        const int64_t j = (int64_t)train_rng_below(&r, (uint64_t)i + 1);
        const int64_t t = b->order[i];
        b->order[i] = b->order[j], b->order[j] = t;
    }
}

kw_status batch_source_init(batch_source *b, const token_stream *s, int32_t seq_len, bool packed,
                            uint64_t seed, int32_t pad) {
    memset(b, 0, sizeof *b);
    if (seq_len < 1) return kw_error(KW_ERR_INVALID_ARG, "sequence length %d", seq_len);
    if (packed ? s->n_docs < 1 : n_windows(s, seq_len, 0) < 1)
        return kw_error(KW_ERR_INVALID_ARG,
                        "the data holds %lld tokens in %lld documents: too few for one sequence "
                        "of %d tokens",
                        (long long)s->n, (long long)s->n_docs, seq_len);
    b->stream = s, b->packed = packed, b->seq_len = seq_len, b->seed = seed, b->pad = pad;
    const int64_t cap = packed ? s->n_docs : n_windows(s, seq_len, 0);
    b->order = kw_malloc(sizeof(int64_t) * (size_t)cap, "batch order");
    if (!b->order) return KW_ERR_NOMEM;
    if (packed) { /* the evaluation grid: where each sequence of the file-order packing starts */
        b->eval_start = kw_malloc(sizeof(int64_t) * (size_t)s->n_docs, "evaluation grid");
        if (!b->eval_start) {
            batch_source_free(b);
            return KW_ERR_NOMEM;
        }
        uint64_t cursor = 0;
        while (cursor < (uint64_t)s->n_docs) {
            const uint64_t at = cursor;
            if (pack(b, NULL, s->n_docs, &cursor, NULL, NULL) > 0)
                b->eval_start[b->n_eval_packed++] = (int64_t)at;
        }
    }
    build_epoch(b);
    return KW_OK;
}

void batch_source_free(batch_source *b) {
    free(b->order);
    free(b->eval_start);
    b->order = NULL, b->eval_start = NULL;
}

kw_status batch_source_seek(batch_source *b, batch_state st) {
    b->st.epoch = st.epoch;
    build_epoch(b);
    if (st.cursor > (uint64_t)b->n_units)
        return kw_error(KW_ERR_FORMAT,
                        "data position: cursor %llu is past the %lld units of epoch %llu (was "
                        "the data changed since the checkpoint?)",
                        (unsigned long long)st.cursor, (long long)b->n_units,
                        (unsigned long long)st.epoch);
    b->st.cursor = st.cursor;
    return KW_OK;
}

/* tokens/targets from stream positions [start, start + len] (len + 1 tokens), at out offset
 * at; the rest of the sequence is left to the caller. */
static void copy_span(const token_stream *s, int64_t start, int32_t len, int32_t *tokens,
                      int32_t *targets, int32_t at) {
    for (int32_t i = 0; i < len; i++) {
        tokens[at + i] = s->ids[start + i];
        const int64_t tj = start + i + 1;
        targets[at + i] = (!s->mask || s->mask[tj]) ? s->ids[tj] : -1;
    }
}

/* Packs documents order[*cursor...] (or in file order: order NULL) into one sequence; tokens
 * NULL only advances the cursor (the evaluation grid is laid out that way). Returns the pairs
 * filled. */
static int32_t pack(const batch_source *b, const int64_t *order, int64_t n_units, uint64_t *cursor,
                    int32_t *tokens, int32_t *targets) {
    const token_stream *s = b->stream;
    const int32_t T = b->seq_len;
    int32_t filled = 0;
    while (*cursor < (uint64_t)n_units) {
        const int64_t d = order ? order[*cursor] : (int64_t)*cursor;
        const int64_t len = s->docs[d + 1] - s->docs[d];
        if (len < 2) { /* nothing to predict */
            ++*cursor;
            continue;
        }
        if (filled > 0 && filled + len - 1 > T) break;
        /* a document contributes len - 1 (input, target) pairs; cut at the sequence end */
        const int32_t pairs = (int32_t)(len - 1 < T - filled ? len - 1 : T - filled);
        if (tokens) copy_span(s, s->docs[d], pairs, tokens, targets, filled);
        filled += pairs;
        ++*cursor;
        if (filled == T) break;
    }
    if (tokens)
        for (int32_t i = filled; i < T; i++)
            tokens[i] = b->pad, targets[i] = -1;
    return filled;
}

void batch_source_next(batch_source *b, int32_t *tokens, int32_t *targets) {
    if (b->st.cursor >= (uint64_t)b->n_units) {
        b->st.epoch++;
        b->st.cursor = 0;
        build_epoch(b);
    }
    if (b->packed) {
        pack(b, b->order, b->n_units, &b->st.cursor, tokens, targets);
        return;
    }
    const int64_t start = b->shift + b->order[b->st.cursor++] * b->seq_len;
    copy_span(b->stream, start, b->seq_len, tokens, targets, 0);
}

int64_t batch_source_n_eval(const batch_source *b) {
    return b->packed ? b->n_eval_packed : n_windows(b->stream, b->seq_len, 0);
}

bool batch_source_eval(const batch_source *b, int64_t i, int32_t *tokens, int32_t *targets) {
    if (i < 0 || i >= batch_source_n_eval(b)) return false;
    if (!b->packed) {
        copy_span(b->stream, i * b->seq_len, b->seq_len, tokens, targets, 0);
        return true;
    }
    uint64_t cursor = (uint64_t)b->eval_start[i];
    pack(b, NULL, b->stream->n_docs, &cursor, tokens, targets);
    return true;
}
