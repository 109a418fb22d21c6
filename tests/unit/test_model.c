/* test_model.c - model loading and context behaviour through the public API: KV cache sizing
 * (sliding-window rings), context limits, position rules, truncation and cache reuse. */
#include "kaiwu.h"
#include "test.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static kw_model *load(const char *rel) {
    kw_model *m = NULL;
    kw_status st = kw_model_load(test_data_path(rel), NULL, &m);
    CHECK(st == KW_OK, "loading %s succeeds (%s)", rel, kw_last_error());
    return m;
}

static kw_context *make_ctx(kw_model *m, int n_ctx, int n_batch) {
    kw_context_params p = kw_context_default_params();
    p.n_ctx = n_ctx;
    p.n_batch = n_batch;
    p.n_threads = 2;
    kw_context *c = NULL;
    kw_status st = kw_context_create(m, &p, &c);
    CHECK(st == KW_OK, "context of %d tokens is created (%s)", n_ctx, kw_last_error());
    return c;
}

static void test_sliding_window_layers_keep_only_their_window(void) {
    kw_model *m = load("models/tiny-gemma3-f16.gguf");
    if (!m) return;
    /* gemma3: 6 layers, 5 local (window 64), head_dim 64, 1 kv head: keys and values of 64 F16
     * values (the default cache type) per position */
    const uint64_t per_pos = 2 * 64 * 2;
    kw_context *c = make_ctx(m, 4096, 64);
    uint64_t want = per_pos * (5 * (64 + 64) + 1 * 4096);
    CHECK(kw_context_kv_bytes(c) == want,
          "gemma3 KV cache of 4096 tokens is %llu bytes (5 rings of 128 + 1 full), got %llu",
          (unsigned long long)want, (unsigned long long)kw_context_kv_bytes(c));
    kw_context_free(c);
    kw_model_free(m);

    kw_model *q = load("models/tiny-qwen3-f16.gguf");
    if (!q) return;
    c = make_ctx(q, 1024, 64);
    /* qwen3: 2 layers, 2 kv heads of 64: every layer keeps all 1024 positions */
    CHECK(kw_context_kv_bytes(c) == 2ull * 1024 * 2 * 2 * 64 * 2,
          "qwen3 KV cache holds the whole context (%llu)",
          (unsigned long long)kw_context_kv_bytes(c));
    kw_context_free(c);
    kw_model_free(q);
}

static kw_context *make_typed(kw_model *m, int n_ctx, int n_seq, int32_t tk, int32_t tv) {
    kw_context_params p = kw_context_default_params();
    p.n_ctx = n_ctx, p.n_batch = 64, p.n_threads = 2, p.n_seq_max = n_seq;
    p.cache_type_k = tk, p.cache_type_v = tv;
    kw_context *c = NULL;
    kw_status st = kw_context_create(m, &p, &c);
    CHECK(st == KW_OK, "context with a %s/%s cache is created (%s)", kw_cache_type_name(tk),
          kw_cache_type_name(tv), kw_last_error());
    return c;
}

/* Cache element types: the default is F16; each type's size is what it stores (qwen3: 2 layers,
 * 2 KV heads of 64: per position and layer 256 values of keys and values, Q8_0 in 8 blocks of 34
 * bytes); mixed key/value types work; any other type is refused with a message; and copying a
 * sequence's cache (kw_seq_copy) then continuing it gives exactly the logits the source gave. */
static void test_cache_types(void) {
    kw_model *q = load("models/tiny-qwen3-f16.gguf");
    if (!q) return;
    kw_context_params d = kw_context_default_params();
    CHECK(d.cache_type_k == KW_TYPE_F16 && d.cache_type_v == KW_TYPE_F16,
          "the default KV cache is F16 (%d/%d)", d.cache_type_k, d.cache_type_v);
    const int32_t types[] = {KW_TYPE_F32, KW_TYPE_F16, KW_TYPE_Q8_0};
    const uint64_t per_layer_pos[] = {256 * 4, 256 * 2, 8 * 34};
    for (int i = 0; i < 3; i++) {
        kw_context *c = make_typed(q, 512, 1, types[i], types[i]);
        if (!c) continue;
        CHECK(kw_context_kv_bytes(c) == 2ull * 512 * per_layer_pos[i] &&
                  kw_context_cache_type_k(c) == types[i] && kw_context_cache_type_v(c) == types[i],
              "a %s cache of 512 positions holds %llu bytes (got %llu)",
              kw_cache_type_name(types[i]), 2ull * 512 * per_layer_pos[i],
              (unsigned long long)kw_context_kv_bytes(c));
        kw_context_free(c);
    }
    kw_context *mix = make_typed(q, 512, 1, KW_TYPE_Q8_0, KW_TYPE_F32);
    if (mix)
        CHECK(kw_context_kv_bytes(mix) == 2ull * 512 * (4 * 34 + 128 * 4),
              "q8_0 keys with f32 values: %llu bytes",
              (unsigned long long)kw_context_kv_bytes(mix));
    kw_context_free(mix);
    const int32_t bad[] = {2, 30, -1, 9};
    for (int i = 0; i < 4; i++) {
        kw_context_params p = kw_context_default_params();
        p.n_ctx = 64;
        p.cache_type_v = bad[i];
        kw_context *c = NULL;
        kw_status st = kw_context_create(q, &p, &c);
        char num[16];
        snprintf(num, sizeof num, "%d", bad[i]);
        CHECK(st == KW_ERR_INVALID_ARG && !c && strstr(kw_last_error(), num) &&
                  strstr(kw_last_error(), "values"),
              "cache type %d for the values is refused, naming it: %s", bad[i], kw_last_error());
    }
    CHECK(kw_cache_type_from_name("Q8_0") == KW_TYPE_Q8_0 && kw_cache_type_from_name("f16") == 1 &&
              kw_cache_type_from_name("q4_0") == -1 && kw_cache_type_from_name(NULL) == -1,
          "cache type names parse (q4_0 is not one)");
    for (int i = 0; i < 3; i++) {
        kw_context *c = make_typed(q, 64, 2, types[i], types[i]);
        if (!c) continue;
        kw_token toks[20];
        for (int t = 0; t < 20; t++)
            toks[t] = (kw_token)(7 + 37 * t % 900);
        float want[2048];
        const int nv = kw_model_n_vocab(q);
        bool ok = nv <= 2048 && kw_decode(c, toks, NULL, 12, NULL) == KW_OK &&
                  kw_decode(c, toks + 12, NULL, 8, NULL) == KW_OK;
        if (ok) memcpy(want, kw_get_logits(c, 7), sizeof(float) * (size_t)nv);
        ok = ok && kw_seq_copy(c, 0, 1, 12) == KW_OK && kw_seq_n_past(c, 1) == 12;
        kw_batch b;
        ok = ok && kw_batch_init(&b, 8) == KW_OK;
        for (int t = 0; ok && t < 8; t++)
            kw_batch_add(&b, toks[12 + t], 12 + t, 1, t == 7);
        ok = ok && kw_decode_batch(c, &b) == KW_OK;
        const float *got = ok ? kw_get_logits(c, 7) : NULL;
        CHECK(got && memcmp(got, want, sizeof(float) * (size_t)nv) == 0,
              "%s cache: a copied prefix of 12 positions continues exactly as the source (%s)",
              kw_cache_type_name(types[i]), kw_last_error());
        if (ok) kw_batch_free(&b);
        kw_context_free(c);
    }
    kw_model_free(q);
}

static void test_decode_refuses_more_tokens_than_the_context(void) {
    kw_model *m = load("models/tiny-qwen3-f16.gguf");
    if (!m) return;
    kw_context *c = make_ctx(m, 8, 8);
    kw_token toks[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
    kw_status st = kw_decode(c, toks, NULL, 12, NULL);
    CHECK(st == KW_ERR_CONTEXT_FULL,
          "12 tokens into a context of 8 fail with context full (status %d)", st);
    CHECK(strstr(kw_last_error(), "12") && strstr(kw_last_error(), "8"),
          "the message names both numbers: %s", kw_last_error());
    CHECK(kw_context_n_past(c) == 0, "a refused batch leaves the cache empty (n_past %d)",
          kw_context_n_past(c));
    st = kw_decode(c, toks, NULL, 8, NULL);
    CHECK(st == KW_OK && kw_context_n_past(c) == 8, "exactly 8 tokens fit (%s)", kw_last_error());
    st = kw_decode(c, toks, NULL, 1, NULL);
    CHECK(st == KW_ERR_CONTEXT_FULL, "one more token after a full context fails (status %d)", st);
    kw_context_free(c);
    kw_model_free(m);
}

static void test_decode_checks_tokens_and_positions(void) {
    kw_model *m = load("models/tiny-qwen3-f16.gguf");
    if (!m) return;
    kw_context *c = make_ctx(m, 64, 16);
    kw_token bad = kw_model_n_vocab(m);
    CHECK(kw_decode(c, &bad, NULL, 1, NULL) == KW_ERR_INVALID_ARG,
          "a token id past the vocabulary is refused");
    CHECK(strstr(kw_last_error(), "vocabulary") != NULL, "the message says why: %s",
          kw_last_error());
    kw_token t = 5;
    int32_t pos = 3;
    CHECK(kw_decode(c, &t, &pos, 1, NULL) == KW_ERR_INVALID_ARG,
          "a position that skips ahead is refused");
    CHECK(kw_get_logits(c, 0) == NULL, "no logits after a refused call");
    kw_context_free(c);
    kw_model_free(m);
}

static float max_abs_diff(const float *a, const float *b, int n) {
    float d = 0;
    for (int i = 0; i < n; i++)
        d = fmaxf(d, fabsf(a[i] - b[i]));
    return d;
}

/* Truncating and re-evaluating must give what a fresh evaluation gives (the chat reuses the cache).
 */
static void check_truncate_reuse(const char *rel, int n_batch, int32_t want_resume) {
    kw_model *m = load(rel);
    if (!m) return;
    const int n = 150, keep = 120, n_vocab = kw_model_n_vocab(m);
    kw_token toks[150];
    for (int i = 0; i < n; i++)
        toks[i] = (kw_token)((i * 37 + 11) % n_vocab);
    kw_context *fresh = make_ctx(m, 256, n_batch), *reused = make_ctx(m, 256, n_batch);
    CHECK(kw_decode(fresh, toks, NULL, n, NULL) == KW_OK, "%s: fresh decode", rel);
    /* reused: a different tail first, then truncate back and evaluate the real tail */
    kw_token other[150];
    memcpy(other, toks, sizeof other);
    for (int i = keep; i < n; i++)
        other[i] = (kw_token)((i * 13 + 5) % n_vocab);
    CHECK(kw_decode(reused, other, NULL, n, NULL) == KW_OK, "%s: decode with another tail", rel);
    kw_context_truncate(reused, keep);
    int32_t resume = kw_context_n_past(reused);
    CHECK(resume == want_resume, "%s (n_batch %d): truncation to %d resumes at %d (at %d)", rel,
          n_batch, keep, want_resume, resume);
    CHECK(kw_decode(reused, toks + resume, NULL, n - resume, NULL) == KW_OK,
          "%s: re-decode from %d", rel, resume);
    const float *a = kw_get_logits(fresh, n - 1), *b = kw_get_logits(reused, n - 1 - resume);
    CHECK(a && b && max_abs_diff(a, b, n_vocab) < 1e-3f,
          "%s: logits after truncate + re-decode equal a fresh run (max diff %g)", rel,
          a && b ? max_abs_diff(a, b, n_vocab) : -1.0f);
    kw_context_free(fresh);
    kw_context_free(reused);
    kw_model_free(m);
}

static void test_truncate_then_redecode_matches_fresh(void) {
    check_truncate_reuse("models/tiny-qwen3-f16.gguf", 64, 120);
    /* gemma3, n_batch 8: local layers are rings of 64 + 8 slots holding positions 78..149 after 150
     * tokens; position 120 needs keys back to 57, which are gone, so the cache restarts at 0 */
    check_truncate_reuse("models/tiny-gemma3-f16.gguf", 8, 0);
    /* n_batch 512: window + batch exceeds the 256-token context, so no ring: truncation keeps 120
     */
    check_truncate_reuse("models/tiny-gemma3-f16.gguf", 512, 120);
}

static void test_unknown_architecture_lists_the_known_ones(void) {
    const char *list = kw_supported_architectures();
    const char *want[] = {"llama",  "qwen2",  "qwen3", "glm4",   "chatglm",
                          "gemma2", "gemma3", "phi3",  "minicpm"};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        CHECK(strstr(list, want[i]) != NULL, "supported architectures include %s (%s)", want[i],
              list);
}

/* One thread limit for library and CLI: KW_MAX_THREADS. */
static void test_context_thread_limit(void) {
    kw_model *m = load("models/tiny-llama3-f16.gguf");
    if (!m) return;
    kw_context_params p = kw_context_default_params();
    p.n_ctx = 16;
    p.n_threads = KW_MAX_THREADS + 1;
    kw_context *c = NULL;
    CHECK(kw_context_create(m, &p, &c) == KW_ERR_INVALID_ARG && c == NULL &&
              strstr(kw_last_error(), "above the limit of 256"),
          "%d threads are refused naming the limit: %s", p.n_threads, kw_last_error());
    CHECK(KW_MAX_THREADS == 256, "the limit is 256");
    kw_quantize_params qp = kw_quantize_default_params();
    qp.n_threads = KW_MAX_THREADS + 1;
    CHECK(kw_quantize_file(test_data_path("models/tiny-llama3-f16.gguf"), "/nonexistent-kw/x.gguf",
                           &qp) == KW_ERR_INVALID_ARG &&
              strstr(kw_last_error(), "0..256"),
          "quantize refuses the same count: %s", kw_last_error());
    kw_model_free(m);
}

static void test_model_facts(void) {
    kw_model *m = load("models/tiny-gemma3-f16.gguf");
    if (!m) return;
    CHECK(strcmp(kw_model_arch(m), "gemma3") == 0, "arch is gemma3 (%s)", kw_model_arch(m));
    CHECK(strncmp(kw_model_family(m), "gemma3", 6) == 0, "family description is gemma3 (%s)",
          kw_model_family(m));
    CHECK(kw_model_n_layer(m) == 6 && kw_model_n_head_kv(m) == 1 && kw_model_head_dim(m) == 64,
          "gemma3 hyperparameters: 6 layers, 1 kv head, head dim 64 (%d, %d, %d)",
          kw_model_n_layer(m), kw_model_n_head_kv(m), kw_model_head_dim(m));
    char desc[2048];
    kw_model_describe(m, desc, sizeof desc);
    CHECK(strstr(desc, "sliding window") && strstr(desc, "5 of 6"),
          "description mentions the 5 of 6 local layers:\n%s", desc);
    kw_model_free(m);
}

int main(void) {
    RUN_TEST(test_sliding_window_layers_keep_only_their_window);
    RUN_TEST(test_context_thread_limit);
    RUN_TEST(test_cache_types);
    RUN_TEST(test_decode_refuses_more_tokens_than_the_context);
    RUN_TEST(test_decode_checks_tokens_and_positions);
    RUN_TEST(test_truncate_then_redecode_matches_fresh);
    RUN_TEST(test_unknown_architecture_lists_the_known_ones);
    RUN_TEST(test_model_facts);
    return test_report();
}
