/* test_allocfail.c - allocation-failure injection: every allocation of a small end-to-end run
 * fails once, in turn, and each time the library must fail cleanly.
 *
 * The run: load a model (tests/bad-input/corpus/valid-base.gguf: a 1-layer llama with a
 * 32-token SPM vocabulary), create a context, tokenize, decode, read the logits, render a chat
 * template (Qwen2.5's, with tools) and parse a reply with a tool call, quantize the model to
 * Q8_0. A reference run without injection records each result. Then for k = 1, 2, ... the k-th
 * allocation through base/memory.c fails (kw_test_fail_alloc_at, testing only) until a run
 * completes without reaching it. Each step must either fail with a status and a non-empty message,
 * or succeed with exactly the reference result (an allocation failure absorbed by a fallback must
 * not change output); a step may only fail when the injected failure happened. Crashes and leaks
 * show under `make test SAN=1` (ASan, LeakSanitizer). One thread throughout, so that the k-th
 * allocation is the same one in every run.
 */
#include "base/base.h"
#include "kaiwu.h"
#include "test.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const model_path = "tests/bad-input/corpus/valid-base.gguf";
static char *tmpl_src;
static char out_path[128];

static const char messages[] =
    "[{\"role\": \"system\", \"content\": \"You are kaiwu.\"}, {\"role\": \"user\", \"content\": "
    "\"北京天气怎么样？\"}]";
static const char tools[] = "[{\"type\": \"function\", \"function\": {\"name\": \"weather\", "
                            "\"parameters\": {\"type\": \"object\", \"properties\": {\"city\": "
                            "{\"type\": \"string\"}}}}}]";
static const char reply[] = "<think>查一下</think>好的。<tool_call>\n{\"name\": \"weather\", "
                            "\"arguments\": {\"city\": \"北京\"}}\n</tool_call>";

typedef struct run_result {
    int steps_ok;    /* steps that succeeded, in order; stops at the first failure */
    float logits[4]; /* first logits of the last position */
    char *rendered;  /* owned */
    char *content, *reasoning, *call; /* owned */
    uint8_t *quant;                   /* the quantized file, owned */
    size_t quant_len, rendered_len;
    char error[512]; /* the message of the failing step */
} run_result;

static void result_free(run_result *r) {
    free(r->rendered);
    free(r->content);
    free(r->reasoning);
    free(r->call);
    free(r->quant);
    memset(r, 0, sizeof *r);
}

static bool fail_step(run_result *r, kw_status st) {
    if (st == KW_OK) return false;
    snprintf(r->error, sizeof r->error, "%s", kw_last_error());
    return true;
}

static char *dup_or_null(const char *s) { return s ? strdup(s) : NULL; }

/* The run; returns in r how far it got. */
static void run(run_result *r) {
    memset(r, 0, sizeof *r);
    kw_model *m = NULL;
    kw_context *c = NULL;
    kw_model_params mp = {0};
    if (fail_step(r, kw_model_load(model_path, &mp, &m))) goto done;
    r->steps_ok++;
    kw_context_params cp = kw_context_default_params();
    cp.n_ctx = 32;
    cp.n_batch = 8;
    cp.n_threads = 1;
    if (fail_step(r, kw_context_create(m, &cp, &c))) goto done;
    r->steps_ok++;
    kw_token toks[32];
    int32_t n = 0;
    if (fail_step(r, kw_tokenize(m, "hello world", 11, true, true, toks, 32, &n))) goto done;
    r->steps_ok++;
    if (fail_step(r, kw_decode(c, toks, NULL, n, NULL))) goto done;
    const float *lg = kw_get_logits(c, n - 1);
    if (!lg) {
        snprintf(r->error, sizeof r->error, "no logits (%s)", kw_last_error());
        goto done;
    }
    memcpy(r->logits, lg, sizeof r->logits);
    r->steps_ok++;
    char *text = NULL;
    if (fail_step(r, kw_chat_template_render(tmpl_src, messages, tools, true, NULL, &text)))
        goto done;
    r->rendered = text;
    r->rendered_len = strlen(text);
    r->steps_ok++;
    kw_chat_reply rep;
    if (fail_step(r, kw_chat_parse_reply(reply, sizeof reply - 1, false, &rep))) goto done;
    r->content = dup_or_null(rep.content);
    r->reasoning = dup_or_null(rep.reasoning_content);
    r->call = rep.n_tool_calls == 1 ? dup_or_null(rep.tool_calls[0].arguments) : NULL;
    kw_chat_reply_free(&rep);
    r->steps_ok++;
    kw_context_free(c);
    c = NULL;
    kw_model_free(m);
    m = NULL;
    kw_quantize_params qp = kw_quantize_default_params();
    qp.ftype = KW_FTYPE_Q8_0;
    qp.n_threads = 1;
    unlink(out_path);
    if (fail_step(r, kw_quantize_file(model_path, out_path, &qp))) goto done;
    r->quant = (uint8_t *)test_read_file(out_path, &r->quant_len);
    r->steps_ok++;
done:
    kw_context_free(c);
    kw_model_free(m);
    unlink(out_path);
}

static void test_every_allocation_failure_is_clean(void) {
    tmpl_src = test_read_file(
        test_data_path("chat-templates/templates/Qwen-Qwen2.5-7B-Instruct.jinja"), NULL);
    CHECK(tmpl_src != NULL, "the Qwen2.5 template is readable");
    if (!tmpl_src) return;
    snprintf(out_path, sizeof out_path, "/tmp/kaiwu-allocfail-%d.gguf", (int)getpid());

    run_result ref;
    kw_test_fail_alloc_at(0);
    uint64_t a0 = kw_alloc_count();
    run(&ref);
    uint64_t n_allocs = kw_alloc_count() - a0;
    CHECK(ref.steps_ok == 7 && ref.quant && ref.call && ref.content,
          "the reference run completes all 7 steps (%d; %s)", ref.steps_ok, ref.error);
    if (ref.steps_ok != 7) {
        result_free(&ref);
        free(tmpl_src);
        return;
    }
    int64_t k = 1, n_failed_clean = 0, n_absorbed = 0, bad_message = 0, bad_result = 0;
    const int64_t limit = (int64_t)n_allocs * 2 + 1000;
    for (; k <= limit; k++) {
        run_result r;
        kw_test_fail_alloc_at((uint64_t)k);
        run(&r);
        bool hit = kw_test_alloc_failed();
        kw_test_fail_alloc_at(0);
        if (!hit) { /* the run had fewer than k allocations: every one has been tried */
            CHECK(r.steps_ok == 7, "a run without injected failure completes (%d steps; %s)",
                  r.steps_ok, r.error);
            result_free(&r);
            break;
        }
        if (r.steps_ok < 7) {
            n_failed_clean++;
            if (!r.error[0] && bad_message++ < 5)
                CHECK(false, "allocation %lld: step %d fails with an empty message", (long long)k,
                      r.steps_ok + 1);
        } else {
            n_absorbed++;
        }
        /* whatever succeeded must equal the reference */
        bool same = true;
        if (r.steps_ok >= 4) same &= memcmp(r.logits, ref.logits, sizeof r.logits) == 0;
        if (r.steps_ok >= 5)
            same &= r.rendered_len == ref.rendered_len && strcmp(r.rendered, ref.rendered) == 0;
        if (r.steps_ok >= 6)
            same &= r.content && strcmp(r.content, ref.content) == 0 && r.call &&
                    strcmp(r.call, ref.call) == 0 && !r.reasoning == !ref.reasoning &&
                    (!r.reasoning || strcmp(r.reasoning, ref.reasoning) == 0);
        if (r.steps_ok >= 7)
            same &= r.quant && r.quant_len == ref.quant_len &&
                    memcmp(r.quant, ref.quant, r.quant_len) == 0;
        if (!same && bad_result++ < 5)
            CHECK(false,
                  "allocation %lld failing: the %d steps that succeeded give the reference "
                  "results",
                  (long long)k, r.steps_ok);
        result_free(&r);
    }
    CHECK(k <= limit, "injection reached a run without failure before k = %lld", (long long)limit);
    CHECK(bad_message == 0, "every failing step sets a message (%lld did not)",
          (long long)bad_message);
    CHECK(bad_result == 0, "every run's successful steps match the reference (%lld differ)",
          (long long)bad_result);
    CHECK(n_failed_clean > 0, "some injected failures make a step fail (%lld)",
          (long long)n_failed_clean);
    fprintf(stderr,
            "allocfail: %llu allocations in the run; %lld injected: %lld failed cleanly, %lld "
            "absorbed with the reference result\n",
            (unsigned long long)n_allocs, (long long)(k - 1), (long long)n_failed_clean,
            (long long)n_absorbed);
    result_free(&ref);
    free(tmpl_src);
}

int main(void) {
    RUN_TEST(test_every_allocation_failure_is_clean);
    return test_report();
}
