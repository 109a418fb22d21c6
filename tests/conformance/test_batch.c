/* test_batch.c - batched decoding (kw_decode_batch over many sequences) gives the same greedy
 * tokens as decoding each sequence alone, on every golden model.
 *
 * Per model: four prompts of different lengths are decoded greedily one sequence at a time in a
 * single-sequence context (the reference: prompt as one kw_decode, then one token per call). Then
 * the same four run in one context of four sequences, in three schedules:
 *   together  - all prompts in one mixed batch, then one batch per step with a token of each;
 *   staggered - each prompt joins a few steps after the previous one, its prompt fed in chunks
 *               next to the running sequences' tokens (as a server's continuous batching does);
 *   shared    - a common prefix evaluated once in sequence 0 and copied (kw_seq_copy) into the
 *               others, which then evaluate only their own suffix.
 * Every schedule must reproduce the reference tokens exactly. Sequence removal and reuse is
 * checked too: a removed sequence's slot serves a new prompt with the reference tokens.
 * The sliding-window model (gemma3) runs with prompts longer than its window and a small n_batch,
 * so the per-sequence rings wrap.
 */
#include "kaiwu.h"
#include "test.h"

#include <stdlib.h>
#include <string.h>

#define N_SEQ   4
#define N_GEN   24
#define MAX_TOK 256

typedef struct prompt {
    kw_token t[MAX_TOK];
    int32_t n;
} prompt;

static int32_t argmax(const float *x, int32_t n) {
    int32_t best = 0;
    for (int32_t i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

static kw_context *make_ctx(kw_model *m, int32_t n_seq, int32_t n_batch) {
    kw_context_params p = kw_context_default_params();
    p.n_ctx = 320;
    p.n_batch = n_batch;
    p.n_threads = 2;
    p.n_seq_max = n_seq;
    kw_context *c = NULL;
    kw_status st = kw_context_create(m, &p, &c);
    CHECK(st == KW_OK, "a context of %d sequences is created (%s)", n_seq, kw_last_error());
    return c;
}

/* The reference: one sequence alone, the prompt in one call, then a token per call. */
static bool reference(kw_model *m, int32_t n_batch, const prompt *p, kw_token *out) {
    kw_context *c = make_ctx(m, 1, n_batch);
    if (!c) return false;
    bool ok = kw_decode(c, p->t, NULL, p->n, NULL) == KW_OK;
    const int32_t nv = kw_model_n_vocab(m);
    for (int i = 0; ok && i < N_GEN; i++) {
        out[i] = argmax(kw_get_logits(c, i == 0 ? p->n - 1 : 0), nv);
        ok = i + 1 == N_GEN || kw_decode(c, &out[i], NULL, 1, NULL) == KW_OK;
    }
    CHECK(ok, "reference decoding runs (%s)", kw_last_error());
    kw_context_free(c);
    return ok;
}

/* Per-sequence progress of a batched run. */
typedef struct run_seq {
    const prompt *p;
    int32_t fed;   /* prompt tokens evaluated */
    int32_t n_out; /* tokens generated */
    kw_token out[N_GEN];
    int32_t row; /* batch row whose logits give the next token, -1 none */
    int start_step;
} run_seq;

/* Runs sequences to N_GEN tokens: each step feeds every sequence that has started either its next
 * prompt chunk (at most `chunk` tokens) or its last generated token, all in one batch. */
static bool run_batched(kw_context *c, int32_t n_vocab, run_seq *rs, int n, int32_t chunk) {
    kw_batch b;
    if (kw_batch_init(&b, N_SEQ * MAX_TOK) != KW_OK) return false;
    bool ok = false;
    for (int step = 0; step < 1000; step++) {
        kw_batch_clear(&b);
        for (int s = 0; s < n; s++) {
            run_seq *r = &rs[s];
            r->row = -1;
            if (step < r->start_step || r->n_out == N_GEN) continue;
            if (r->fed < r->p->n) {
                int32_t take = r->p->n - r->fed < chunk ? r->p->n - r->fed : chunk;
                for (int32_t i = 0; i < take; i++) {
                    bool last = r->fed + i == r->p->n - 1;
                    if (last) r->row = b.n_tokens;
                    kw_batch_add(&b, r->p->t[r->fed + i], r->fed + i, s, last);
                }
                r->fed += take;
            } else {
                r->row = b.n_tokens;
                kw_batch_add(&b, r->out[r->n_out - 1], r->p->n + r->n_out - 1, s, true);
            }
        }
        if (b.n_tokens == 0) {
            ok = true;
            break;
        }
        if (kw_decode_batch(c, &b) != KW_OK) {
            CHECK(false, "kw_decode_batch at step %d: %s", step, kw_last_error());
            break;
        }
        for (int s = 0; s < n; s++)
            if (rs[s].row >= 0) {
                const float *lg = kw_get_logits(c, rs[s].row);
                if (!lg) break;
                rs[s].out[rs[s].n_out++] = argmax(lg, n_vocab);
            }
    }
    kw_batch_free(&b);
    return ok;
}

static int first_diff(const kw_token *a, const kw_token *b, int n) {
    for (int i = 0; i < n; i++)
        if (a[i] != b[i]) return i;
    return -1;
}

static void check_same(const char *model, const char *schedule, run_seq *rs, int n,
                       kw_token ref[][N_GEN]) {
    for (int s = 0; s < n; s++) {
        int d = first_diff(rs[s].out, ref[s], N_GEN);
        CHECK(rs[s].n_out == N_GEN && d < 0,
              "%s, %s: sequence %d (prompt of %d tokens) gives the single-sequence tokens "
              "(%d generated; first difference at %d: %d vs %d)",
              model, schedule, s, rs[s].p->n, rs[s].n_out, d, d >= 0 ? rs[s].out[d] : 0,
              d >= 0 ? ref[s][d] : 0);
    }
}

static void make_prompts(const kw_model *m, prompt *ps, int32_t prefix_len) {
    /* a shared prefix, then a suffix of its own for each sequence (lengths 1, 7, 40, 90) */
    const int32_t nv = kw_model_n_vocab(m), suffix[N_SEQ] = {1, 7, 40, 90};
    const kw_token bos = kw_token_bos(m);
    for (int s = 0; s < N_SEQ; s++) {
        prompt *p = &ps[s];
        p->n = 0;
        for (int32_t i = 0; i < prefix_len; i++)
            p->t[p->n++] = (i == 0 && bos >= 0) ? bos : (kw_token)((i * 7919 + 13) % nv);
        for (int32_t i = 0; i < suffix[s]; i++)
            p->t[p->n++] = (kw_token)(((i + 1) * 104729 + s * 31337) % nv);
    }
}

static void check_model(const char *rel, int32_t n_batch) {
    kw_model *m = NULL;
    if (kw_model_load(test_data_path(rel), NULL, &m) != KW_OK) {
        CHECK(false, "loading %s (%s)", rel, kw_last_error());
        return;
    }
    const int32_t nv = kw_model_n_vocab(m), prefix_len = 70;
    static prompt ps[N_SEQ];
    make_prompts(m, ps, prefix_len);
    kw_token ref[N_SEQ][N_GEN];
    bool ok = true;
    for (int s = 0; s < N_SEQ && ok; s++)
        ok = reference(m, n_batch, &ps[s], ref[s]);
    kw_context *c = ok ? make_ctx(m, N_SEQ, n_batch) : NULL;
    if (!c) {
        kw_model_free(m);
        return;
    }
    run_seq rs[N_SEQ];

    /* together: every prompt in the first batch */
    memset(rs, 0, sizeof rs);
    for (int s = 0; s < N_SEQ; s++)
        rs[s].p = &ps[s];
    CHECK(run_batched(c, nv, rs, N_SEQ, MAX_TOK), "%s: together runs", rel);
    check_same(rel, "together", rs, N_SEQ, ref);

    /* staggered: removed sequences are reused; prompts join late, in chunks of 16 */
    for (int s = 0; s < N_SEQ; s++) {
        kw_seq_remove(c, s);
        CHECK(kw_seq_n_past(c, s) == 0, "%s: a removed sequence is empty", rel);
    }
    memset(rs, 0, sizeof rs);
    for (int s = 0; s < N_SEQ; s++)
        rs[s].p = &ps[(s + 1) % N_SEQ], rs[s].start_step = 3 * s;
    kw_token ref_rot[N_SEQ][N_GEN];
    for (int s = 0; s < N_SEQ; s++)
        memcpy(ref_rot[s], ref[(s + 1) % N_SEQ], sizeof ref_rot[s]);
    CHECK(run_batched(c, nv, rs, N_SEQ, 16), "%s: staggered runs", rel);
    check_same(rel, "staggered", rs, N_SEQ, ref_rot);

    /* shared: the prefix once in sequence 0, copied to the others */
    for (int s = 0; s < N_SEQ; s++)
        kw_seq_remove(c, s);
    CHECK(kw_decode(c, ps[0].t, NULL, prefix_len, NULL) == KW_OK, "%s: the prefix decodes", rel);
    memset(rs, 0, sizeof rs);
    for (int s = 0; s < N_SEQ; s++) {
        rs[s].p = &ps[s];
        if (s > 0) {
            CHECK(kw_seq_copy(c, 0, s, prefix_len) == KW_OK, "%s: copy to %d", rel, s);
            CHECK(kw_seq_n_past(c, s) == prefix_len, "%s: sequence %d holds the prefix (%d)", rel,
                  s, kw_seq_n_past(c, s));
        }
        rs[s].fed = kw_seq_n_past(c, s);
    }
    CHECK(run_batched(c, nv, rs, N_SEQ, 32), "%s: shared runs", rel);
    check_same(rel, "shared prefix", rs, N_SEQ, ref);

    kw_context_free(c);
    kw_model_free(m);
}

static void test_batched_equals_sequential_on_golden_models(void) {
    static const char *models[] = {
        "models/tiny-llama2-f32.gguf", "models/tiny-llama3-f16.gguf",
        "models/tiny-qwen2-f16.gguf",  "models/tiny-qwen3-f16.gguf",
        "models/tiny-phi3-f16.gguf",   "models/tiny-phi3-longrope-f16.gguf",
        "models/tiny-gemma2-f16.gguf", "models/tiny-gemma3-f16.gguf",
        "models/tiny-glm4-f16.gguf",   "models/tiny-chatglm-f16.gguf",
        "models/tiny-minicpm-f16.gguf"};
    for (size_t i = 0; i < sizeof models / sizeof models[0]; i++)
        check_model(models[i], strstr(models[i], "gemma") ? 16 : 64);
}

static void test_batch_errors_leave_the_cache_unchanged(void) {
    kw_model *m = NULL;
    if (kw_model_load(test_data_path("models/tiny-qwen3-f16.gguf"), NULL, &m) != KW_OK) {
        CHECK(false, "loading tiny-qwen3 (%s)", kw_last_error());
        return;
    }
    kw_context *c = make_ctx(m, 2, 64);
    kw_batch b;
    CHECK(kw_batch_init(&b, 4) == KW_OK, "a batch of 4 rows");
    kw_batch_add(&b, 5, 0, 0, false);
    kw_batch_add(&b, 6, 0, 1, true);
    CHECK(kw_decode_batch(c, &b) == KW_OK, "two sequences at position 0 decode (%s)",
          kw_last_error());
    CHECK(kw_seq_n_past(c, 0) == 1 && kw_seq_n_past(c, 1) == 1, "each holds one position");
    CHECK(kw_get_logits(c, 0) == NULL && kw_get_logits(c, 1) != NULL, "logits only where asked");
    kw_batch_clear(&b);
    kw_batch_add(&b, 5, 1, 0, true);
    kw_batch_add(&b, 6, 1, 2, true); /* no sequence 2 */
    CHECK(kw_decode_batch(c, &b) == KW_ERR_INVALID_ARG, "a sequence id past n_seq_max is refused");
    CHECK(strstr(kw_last_error(), "sequence 2") != NULL, "the message names it: %s",
          kw_last_error());
    kw_batch_clear(&b);
    kw_batch_add(&b, 5, 1, 0, true);
    kw_batch_add(&b, 6, 3, 1, true); /* sequence 1 holds 1 position: 3 skips ahead */
    CHECK(kw_decode_batch(c, &b) == KW_ERR_INVALID_ARG, "a position that skips ahead is refused");
    CHECK(kw_seq_n_past(c, 0) == 1 && kw_seq_n_past(c, 1) == 1,
          "refused batches change no sequence (%d, %d)", kw_seq_n_past(c, 0), kw_seq_n_past(c, 1));
    kw_batch_add(&b, 7, 4, 1, true);
    kw_batch_add(&b, 8, 5, 1, true);
    CHECK(kw_batch_add(&b, 9, 6, 1, true) == KW_ERR_BUFFER_SMALL, "a full batch refuses a row");
    CHECK(kw_seq_copy(c, 0, 5, -1) == KW_ERR_INVALID_ARG, "copying to a missing sequence fails");
    kw_batch_free(&b);
    kw_context_free(c);
    kw_model_free(m);
}

int main(void) {
    RUN_TEST(test_batch_errors_leave_the_cache_unchanged);
    RUN_TEST(test_batched_equals_sequential_on_golden_models);
    return test_report();
}
