/* test_decode_allocs.c - decoding allocates nothing per token.
 *
 * Loads tests/data/models/tiny-qwen3-f16.gguf, decodes a prompt (which may size buffers once),
 * then counts kw_alloc_count() across 50 single-token kw_decode calls: it must not move. Also
 * checks the logits stay finite, so the loop really ran the model. The same for batched steps of
 * four sequences (kw_decode_batch), as a server runs them.
 */
#include "base/base.h"
#include "kaiwu.h"
#include "test.h"

#include <math.h>

static void test_decode_does_not_allocate(void) {
    kw_model *m = NULL;
    kw_status st = kw_model_load(test_data_path("models/tiny-qwen3-f16.gguf"), NULL, &m);
    CHECK(st == KW_OK, "tiny-qwen3 loads (%s)", st ? kw_last_error() : "ok");
    if (st) return;
    kw_context_params cp = kw_context_default_params();
    cp.n_ctx = 128;
    cp.n_threads = 2;
    kw_context *c = NULL;
    st = kw_context_create(m, &cp, &c);
    CHECK(st == KW_OK, "a 128-token context is created (%s)", st ? kw_last_error() : "ok");
    if (st) {
        kw_model_free(m);
        return;
    }
    const kw_token prompt[] = {11, 22, 33, 44, 55, 66, 77};
    CHECK(kw_decode(c, prompt, NULL, 7, NULL) == KW_OK, "the 7-token prompt decodes");
    kw_token tok = 100;
    CHECK(kw_decode(c, &tok, NULL, 1, NULL) == KW_OK, "a first single token decodes");
    const uint64_t before = kw_alloc_count();
    int ok = 0, finite = 0;
    for (int i = 0; i < 50; i++) {
        tok = (kw_token)((i * 37 + 5) % kw_model_n_vocab(m));
        ok += kw_decode(c, &tok, NULL, 1, NULL) == KW_OK;
        const float *lg = kw_get_logits(c, 0);
        finite += lg && isfinite(lg[0]) && isfinite(lg[kw_model_n_vocab(m) - 1]);
    }
    const uint64_t after = kw_alloc_count();
    CHECK(ok == 50 && finite == 50,
          "50 single-token decodes succeed with finite logits (%d ok, %d finite)", ok, finite);
    CHECK(after == before,
          "50 single-token decodes allocate nothing (%llu allocations before, %llu after)",
          (unsigned long long)before, (unsigned long long)after);
    kw_context_free(c);
    kw_model_free(m);
}

/* A continuous-batching step: 4 sequences, one token each, in one kw_decode_batch. */
static void test_batched_decode_does_not_allocate(void) {
    kw_model *m = NULL;
    kw_status st = kw_model_load(test_data_path("models/tiny-qwen3-f16.gguf"), NULL, &m);
    CHECK(st == KW_OK, "tiny-qwen3 loads (%s)", st ? kw_last_error() : "ok");
    if (st) return;
    kw_context_params cp = kw_context_default_params();
    cp.n_ctx = 128;
    cp.n_threads = 2;
    cp.n_seq_max = 4;
    kw_context *c = NULL;
    kw_batch b;
    st = kw_context_create(m, &cp, &c);
    if (!st) st = kw_batch_init(&b, 16);
    CHECK(st == KW_OK, "a 4-sequence context and a batch are created (%s)",
          st ? kw_last_error() : "ok");
    if (st) {
        kw_context_free(c);
        kw_model_free(m);
        return;
    }
    int ok = 0;
    uint64_t before = 0;
    for (int i = 0; i < 40; i++) {
        if (i == 2) before = kw_alloc_count(); /* the first steps may size the logits buffer */
        kw_batch_clear(&b);
        for (int s = 0; s < 4; s++)
            kw_batch_add(&b, (kw_token)((i * 37 + s * 11 + 5) % kw_model_n_vocab(m)), i, s, true);
        ok += kw_decode_batch(c, &b) == KW_OK && kw_get_logits(c, 3) != NULL;
    }
    const uint64_t after = kw_alloc_count();
    CHECK(ok == 40, "40 batched steps of 4 sequences succeed (%d)", ok);
    CHECK(after == before,
          "38 batched steps allocate nothing (%llu allocations before, %llu after)",
          (unsigned long long)before, (unsigned long long)after);
    kw_batch_free(&b);
    kw_context_free(c);
    kw_model_free(m);
}

int main(void) {
    RUN_TEST(test_batched_decode_does_not_allocate);
    RUN_TEST(test_decode_does_not_allocate);
    return test_report();
}
