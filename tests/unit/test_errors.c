/* test_errors.c - the error message (src/base/error.c): the root cause of a failure survives what
 * the callers on the way up report, a public call never carries an earlier failure's message, and
 * kw_log is safe from several threads (its threshold is read once, under pthread_once: run this
 * binary under ThreadSanitizer to see the race the lazy read had).
 */
#include "../test.h"
#include "base/base.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void test_error_keeps_the_root_cause(void) {
    kw_error_clear();
    kw_status st = kw_error(KW_ERR_NOMEM, "out of memory allocating 4096 bytes for bpe word");
    st = kw_error(st, "bpe: out of memory for a 4000-byte word");
    st = kw_error_wrap(st, "tokenizing");
    CHECK(st == KW_ERR_NOMEM, "the status goes through");
    CHECK(strcmp(kw_last_error(), "tokenizing: bpe: out of memory for a 4000-byte word: out of "
                                  "memory allocating 4096 bytes for bpe word") == 0,
          "the first message stays, the later ones go in front: '%s'", kw_last_error());
    kw_error(KW_ERR_IO, "out of memory allocating 4096 bytes for bpe word");
    CHECK(strstr(kw_last_error(), "word: out of memory allocating 4096 bytes for bpe word") &&
              !strstr(kw_last_error(), "for bpe word: out of"),
          "a message already there is not repeated: '%s'", kw_last_error());
    kw_error_clear();
    CHECK(kw_last_error()[0] == 0, "kw_error_clear empties it");
    kw_error(KW_ERR_FORMAT, "first");
    CHECK(strcmp(kw_last_error(), "first") == 0, "after a clear the next error is the root cause");
}

static void test_a_public_call_starts_afresh(void) {
    kw_gguf *g = NULL;
    CHECK(kw_gguf_open("/nonexistent-kw/a.gguf", &g) != KW_OK, "a missing file A fails");
    CHECK(strstr(kw_last_error(), "a.gguf") != NULL, "the message names A: %s", kw_last_error());
    CHECK(kw_gguf_open("/nonexistent-kw/b.gguf", &g) != KW_OK, "a missing file B fails");
    CHECK(strstr(kw_last_error(), "b.gguf") && !strstr(kw_last_error(), "a.gguf"),
          "B's message does not carry A's: %s", kw_last_error());
    kw_model *m = NULL;
    CHECK(kw_model_load(test_data_path("models/tiny-qwen3-f16.gguf"), NULL, &m) == KW_OK,
          "a model loads after the failures");
    kw_context_params cp = kw_context_default_params();
    cp.n_ctx = 16;
    cp.n_threads = 1;
    kw_context *ctx = NULL;
    if (m && kw_context_create(m, &cp, &ctx) == KW_OK) {
        kw_token t[20] = {0};
        CHECK(kw_decode(ctx, t, NULL, 20, NULL) == KW_ERR_CONTEXT_FULL, "20 tokens overflow 16");
        CHECK(!strstr(kw_last_error(), "b.gguf"), "the context error is its own: %s",
              kw_last_error());
    }
    kw_context_free(ctx);
    kw_model_free(m);
}

static void *log_from_thread(void *arg) {
    (void)arg;
    for (int i = 0; i < 100; i++)
        kw_log(5, "never shown (level 5)\n");
    return (void *)(intptr_t)kw_log_level();
}

static void test_log_threshold_from_threads(void) {
    pthread_t th[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&th[i], NULL, log_from_thread, NULL);
    int same = 0;
    for (int i = 0; i < 4; i++) {
        void *r = NULL;
        pthread_join(th[i], &r);
        same += (int)(intptr_t)r == kw_log_level();
    }
    const char *e = getenv("KAIWU_LOG");
    CHECK(same == 4 && kw_log_level() == (e && *e ? atoi(e) : 0),
          "every thread sees the one threshold from KAIWU_LOG (%d)", kw_log_level());
    setenv("KAIWU_LOG", "2", 1);
    CHECK(kw_log_level() == (e && *e ? atoi(e) : 0), "it is read once, not on every call");
}

int main(void) {
    RUN_TEST(test_error_keeps_the_root_cause);
    RUN_TEST(test_a_public_call_starts_afresh);
    RUN_TEST(test_log_threshold_from_threads);
    return test_report();
}
