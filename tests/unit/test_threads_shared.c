/* test_threads_shared.c - what kaiwu.h promises about threads: a kw_model is immutable after
 * loading and may be shared by many contexts and threads; a parsed kw_chat_template may be
 * rendered from several threads at once.
 *
 * Four threads share one model (tiny-qwen3): each tokenizes the same text, creates its own
 * context (2 worker threads each, so pools run concurrently too), decodes and greedily extends
 * 8 tokens; every thread must get the tokens and the last logits of a run made alone first.
 * Four threads render one parsed template (Qwen2.5's, with tools) 20 times each; every text must
 * equal the one rendered alone. `make test-tsan` runs this under ThreadSanitizer, which reports
 * any data race on the shared objects even when the results happen to agree.
 */
#include "kaiwu.h"
#include "test.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define N_THREADS 4
#define N_GEN     8

static kw_model *model;
static kw_chat_template *tmpl;
static const char text[] = "人工智能大模型 hello world";
static const char messages[] =
    "[{\"role\": \"system\", \"content\": \"You are kaiwu.\"}, {\"role\": \"user\", \"content\": "
    "\"北京天气怎么样？\"}]";
static const char tools[] = "[{\"type\": \"function\", \"function\": {\"name\": \"weather\", "
                            "\"parameters\": {\"type\": \"object\"}}}]";

typedef struct gen_result {
    kw_token toks[64];
    int32_t n_prompt, n;
    float last[8]; /* first logits of the last step */
    kw_status st;
    char error[256];
} gen_result;

static void *generate(void *arg) {
    gen_result *r = arg;
    r->st = kw_tokenize(model, text, strlen(text), true, false, r->toks, 64 - N_GEN, &r->n_prompt);
    kw_context *c = NULL;
    if (r->st == KW_OK) {
        kw_context_params cp = kw_context_default_params();
        cp.n_ctx = 64;
        cp.n_threads = 2;
        r->st = kw_context_create(model, &cp, &c);
    }
    r->n = r->n_prompt;
    if (r->st == KW_OK) r->st = kw_decode(c, r->toks, NULL, r->n_prompt, NULL);
    for (int g = 0; g < N_GEN && r->st == KW_OK; g++) {
        const float *lg = kw_get_logits(c, g == 0 ? r->n_prompt - 1 : 0);
        int32_t nv = kw_model_n_vocab(model), best = 0;
        for (int32_t i = 1; i < nv; i++)
            if (lg[i] > lg[best]) best = i;
        memcpy(r->last, lg, sizeof r->last);
        r->toks[r->n++] = best;
        r->st = kw_decode(c, &r->toks[r->n - 1], NULL, 1, NULL);
    }
    if (r->st != KW_OK) snprintf(r->error, sizeof r->error, "%s", kw_last_error());
    kw_context_free(c);
    return NULL;
}

static void test_threads_share_one_model(void) {
    gen_result alone, res[N_THREADS];
    memset(&alone, 0, sizeof alone);
    memset(res, 0, sizeof res);
    generate(&alone);
    CHECK(alone.st == KW_OK && alone.n == alone.n_prompt + N_GEN,
          "one thread alone tokenizes, decodes and generates %d tokens (%s)", N_GEN, alone.error);
    pthread_t th[N_THREADS];
    for (int i = 0; i < N_THREADS; i++)
        CHECK(pthread_create(&th[i], NULL, generate, &res[i]) == 0, "thread %d starts", i);
    for (int i = 0; i < N_THREADS; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < N_THREADS; i++) {
        CHECK(res[i].st == KW_OK, "thread %d generates (%s)", i, res[i].error);
        CHECK(res[i].n == alone.n &&
                  memcmp(res[i].toks, alone.toks, sizeof(kw_token) * alone.n) == 0,
              "thread %d gets the same %d tokens as the run alone", i, alone.n);
        CHECK(memcmp(res[i].last, alone.last, sizeof alone.last) == 0,
              "thread %d gets the same last logits as the run alone (%g vs %g)", i,
              (double)res[i].last[0], (double)alone.last[0]);
    }
}

typedef struct render_result {
    const char *want;
    int same, n;
    char error[256];
} render_result;

static void *render(void *arg) {
    render_result *r = arg;
    for (int k = 0; k < 20; k++) {
        char *out = NULL;
        kw_status st = kw_chat_template_apply(tmpl, messages, tools, true, NULL, &out);
        if (st != KW_OK) snprintf(r->error, sizeof r->error, "%s", kw_last_error());
        r->same += st == KW_OK && strcmp(out, r->want) == 0;
        r->n++;
        free(out);
    }
    return NULL;
}

static void test_threads_render_one_template(void) {
    char *src = test_read_file(
        test_data_path("chat-templates/templates/Qwen-Qwen2.5-7B-Instruct.jinja"), NULL);
    CHECK(src && kw_chat_template_parse(src, &tmpl) == KW_OK, "the Qwen2.5 template parses (%s)",
          src ? kw_last_error() : "unreadable");
    free(src);
    if (!tmpl) return;
    char *want = NULL;
    CHECK(kw_chat_template_apply(tmpl, messages, tools, true, NULL, &want) == KW_OK,
          "the template renders alone (%s)", kw_last_error());
    if (!want) {
        kw_chat_template_free(tmpl);
        return;
    }
    render_result res[N_THREADS];
    pthread_t th[N_THREADS];
    for (int i = 0; i < N_THREADS; i++) {
        res[i] = (render_result){.want = want};
        CHECK(pthread_create(&th[i], NULL, render, &res[i]) == 0, "render thread %d starts", i);
    }
    for (int i = 0; i < N_THREADS; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < N_THREADS; i++)
        CHECK(res[i].same == 20, "thread %d: %d of %d renderings equal the one alone (%s)", i,
              res[i].same, res[i].n, res[i].error);
    free(want);
    kw_chat_template_free(tmpl);
}

int main(void) {
    kw_status st = kw_model_load(test_data_path("models/tiny-qwen3-f16.gguf"), NULL, &model);
    CHECK(st == KW_OK, "tiny-qwen3 loads (%s)", st ? kw_last_error() : "ok");
    if (st == KW_OK) RUN_TEST(test_threads_share_one_model);
    RUN_TEST(test_threads_render_one_template);
    kw_model_free(model);
    return test_report();
}
