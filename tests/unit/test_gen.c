/* test_gen.c - the generation layer: stop strings held back, the reasoning split against
 * kw_chat_parse_reply, and kw_gen / kw_engine on a real tiny model (greedy text equal to a plain
 * decode loop, many generations at once equal to each alone, stop strings and which one matched,
 * max_tokens (0: the prompt only), cancel (also mid-pass), prefix sharing, log-probabilities, a
 * prompt longer than the context, special tokens' text on request).
 */
#include "gen/gen.h"
#include "kaiwu.h"
#include "test.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------------------------------
 * Text
 * ---------------------------------------------------------------------------------------------- */

/* Feeds text in pieces of `step` bytes through the stop filter; returns what was released. */
static char *stop_run(const char *text, const char *const *stops, int n_stops, size_t step,
                      bool *hit) {
    gen_stops st;
    gen_buf out = {0};
    gen_stops_init(&st, stops, n_stops);
    size_t n = strlen(text);
    for (size_t i = 0; i < n; i += step) {
        size_t k = n - i < step ? n - i : step;
        gen_stops_push(&st, text + i, k, false, &out);
    }
    gen_stops_push(&st, "", 0, true, &out);
    *hit = st.hit;
    gen_stops_free(&st);
    char *r = strdup(out.p ? out.p : "");
    gen_buf_free(&out);
    return r;
}

static void test_stop_strings_are_held_back_and_cut(void) {
    const char *stops[] = {"###", "\nUser:"};
    for (size_t step = 1; step <= 7; step++) {
        bool hit;
        char *r = stop_run("Hello there.\nUser: more", stops, 2, step, &hit);
        CHECK(hit && strcmp(r, "Hello there.") == 0,
              "pieces of %zu: text before the stop string only ('%s')", step, r);
        free(r);
        r = stop_run("a ## b #", stops, 2, step, &hit);
        CHECK(!hit && strcmp(r, "a ## b #") == 0,
              "pieces of %zu: a partial stop string is released at the end ('%s')", step, r);
        free(r);
    }
    /* the hold-back itself: while "##" might still become "###", it is not released */
    gen_stops st;
    gen_buf out = {0};
    gen_stops_init(&st, stops, 2);
    gen_stops_push(&st, "ab##", 4, false, &out);
    CHECK(out.n == 2 && memcmp(out.p, "ab", 2) == 0, "'##' is held back (released %zu bytes)",
          out.n);
    gen_stops_push(&st, "c", 1, false, &out);
    CHECK(out.n == 5 && memcmp(out.p, "ab##c", 5) == 0, "and released once it cannot match");
    gen_stops_free(&st);
    gen_buf_free(&out);
}

static void split_run(const char *text, bool open, size_t step, gen_buf *c, gen_buf *r) {
    gen_split sp;
    gen_split_init(&sp, true, open);
    size_t n = strlen(text);
    for (size_t i = 0; i < n; i += step) {
        size_t k = n - i < step ? n - i : step;
        gen_split_push(&sp, text + i, k, false, c, r);
    }
    gen_split_push(&sp, "", 0, true, c, r);
    gen_split_free(&sp);
}

static void test_split_equals_parse_reply(void) {
    static const struct {
        const char *text;
        bool open;
    } cases[] = {
        {"<think>\nLet me see.\n</think>\n\nThe answer is 4.\n", false},
        {"  plain answer  \n", false},
        {"reasoning first\n</think>\nanswer", true},
        {"<think></think>answer", false},
        {"<think>unclosed reasoning ", false},
        {"a <thin b", false},
        {"中文<think>思考\n</think>\n回答。", false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        kw_chat_reply want;
        kw_chat_parse_reply(cases[i].text, strlen(cases[i].text), cases[i].open, &want);
        for (size_t step = 1; step <= 9; step += 4) {
            gen_buf c = {0}, r = {0};
            split_run(cases[i].text, cases[i].open, step, &c, &r);
            const char *got_c = c.p ? c.p : "", *got_r = r.p ? r.p : "";
            const char *want_r = want.reasoning_content ? want.reasoning_content : "";
            CHECK(strcmp(got_c, want.content) == 0 && strcmp(got_r, want_r) == 0,
                  "case %zu, pieces of %zu: streamed content '%s' / reasoning '%s' equal the "
                  "parsed '%s' / '%s'",
                  i, step, got_c, got_r, want.content, want_r);
            gen_buf_free(&c);
            gen_buf_free(&r);
        }
        kw_chat_reply_free(&want);
    }
}

/* ------------------------------------------------------------------------------------------------
 * Generations on a model
 * ---------------------------------------------------------------------------------------------- */

static kw_model *model;

static kw_context *make_ctx(int n_seq, int n_ctx) {
    kw_context_params p = kw_context_default_params();
    p.n_ctx = n_ctx;
    p.n_batch = 64;
    p.n_threads = 2;
    p.n_seq_max = n_seq;
    kw_context *c = NULL;
    CHECK(kw_context_create(model, &p, &c) == KW_OK, "context (%s)", kw_last_error());
    return c;
}

typedef struct collected {
    gen_buf content;
    int n_events, n_tokens, cancel_after;
    kw_gen *self;
    kw_gen *cancel_other; /* cancelled instead of self at cancel_after, when set */
    kw_finish_reason finish;
    bool top_ok;
} collected;

static void on_event(void *user, const kw_gen_event *ev) {
    collected *c = user;
    c->n_events++;
    gen_buf_add(&c->content, ev->content, (size_t)ev->content_len);
    if (ev->token != KW_TOKEN_NONE) c->n_tokens++;
    if (ev->n_top > 0) {
        bool ok =
            ev->top_tokens[0] == ev->token && fabsf(ev->top_logprobs[0] - ev->logprob) < 1e-5f;
        double sum = 0;
        for (int i = 0; i < ev->n_top; i++) {
            sum += exp(ev->top_logprobs[i]);
            if (i > 0 && ev->top_logprobs[i] > ev->top_logprobs[i - 1]) ok = false;
        }
        c->top_ok = c->top_ok && ok && sum <= 1.0001 && ev->logprob <= 0;
    }
    if (ev->finish) c->finish = ev->finish;
    if (c->cancel_after && c->n_tokens == c->cancel_after)
        kw_gen_cancel(c->cancel_other ? c->cancel_other : c->self);
}

static void prompt_tokens(int which, kw_token *t, int32_t *n) {
    const char *texts[] = {"Once upon a time", "人工智能大模型", "The quick brown fox jumps",
                           "1, 2, 3, 4,"};
    kw_tokenize(model, texts[which], strlen(texts[which]), true, true, t, 64, n);
}

/* The plain loop every front end used to write: greedy, one token per kw_decode. */
static void plain_greedy(const kw_token *p, int32_t n, int n_gen, char *out, size_t cap) {
    kw_context *c = make_ctx(1, 256);
    kw_token toks[128];
    kw_decode(c, p, NULL, n, NULL);
    int k = 0;
    for (; k < n_gen; k++) {
        const float *lg = kw_get_logits(c, k == 0 ? n - 1 : 0);
        int32_t best = 0;
        for (int32_t i = 1; i < kw_model_n_vocab(model); i++)
            if (lg[i] > lg[best]) best = i;
        if (kw_token_is_eog(model, best)) break;
        toks[k] = best;
        kw_decode(c, &toks[k], NULL, 1, NULL);
    }
    /* the generation's text is the tokens' pieces after the prompt */
    kw_detok_stream ds;
    kw_detok_stream_init(&ds, model, false, false);
    size_t len = 0;
    for (int i = 0; i < k; i++)
        len += (size_t)kw_detok_stream_push(&ds, toks[i], out + len, (int32_t)(cap - len));
    len += (size_t)kw_detok_stream_flush(&ds, out + len, (int32_t)(cap - len));
    out[len] = 0;
    kw_context_free(c);
}

static kw_gen *new_gen(kw_engine *e, collected *col, int max_tokens, int n_logprobs) {
    kw_gen_params gp = kw_gen_default_params();
    gp.sampler.temperature = 0;
    gp.max_tokens = max_tokens;
    gp.n_logprobs = n_logprobs;
    gp.on_event = on_event;
    gp.user = col;
    kw_gen *g = NULL;
    CHECK(kw_gen_create(e, &gp, &g) == KW_OK, "kw_gen_create (%s)", kw_last_error());
    col->self = g;
    col->top_ok = true;
    return g;
}

static void test_generations_match_plain_decoding(void) {
    char want[4][2048];
    kw_token p[4][64];
    int32_t n[4];
    for (int i = 0; i < 4; i++) {
        prompt_tokens(i, p[i], &n[i]);
        plain_greedy(p[i], n[i], 30, want[i], sizeof want[i]);
    }
    kw_context *c = make_ctx(4, 256);
    kw_engine *e = NULL;
    CHECK(kw_engine_create(c, &e) == KW_OK, "engine (%s)", kw_last_error());
    /* one at a time */
    collected col = {0};
    kw_gen *g = new_gen(e, &col, 30, 0);
    kw_gen_set_prompt(g, p[0], n[0]);
    CHECK(kw_generate(g) == KW_OK, "kw_generate runs (%s)", kw_last_error());
    CHECK(strcmp(col.content.p ? col.content.p : "", want[0]) == 0,
          "streamed text equals the plain loop's: '%s' vs '%s'", col.content.p, want[0]);
    size_t tl;
    CHECK(strcmp(kw_gen_text(g, &tl), want[0]) == 0, "kw_gen_text is the same text");
    kw_gen_usage u = kw_gen_get_usage(g);
    CHECK(u.prompt_tokens == n[0] && u.completion_tokens == col.n_tokens,
          "usage: %d prompt, %d completion tokens (%d events with tokens)", u.prompt_tokens,
          u.completion_tokens, col.n_tokens);
    CHECK(kw_gen_finish_reason(g) == col.finish && col.finish != KW_FINISH_NONE,
          "the last event carries the finish reason (%s)", kw_finish_reason_str(col.finish));
    kw_gen_free(g);
    gen_buf_free(&col.content);

    /* four at once, the same texts; logprobs on for the checks of their shape */
    collected cs[4] = {0};
    kw_gen *gs[4];
    for (int i = 0; i < 4; i++) {
        gs[i] = new_gen(e, &cs[i], 30, 5);
        kw_gen_set_prompt(gs[i], p[i], n[i]);
        CHECK(kw_gen_start(gs[i]) == KW_OK, "start %d (%s)", i, kw_last_error());
    }
    CHECK(kw_engine_n_free(e) == 0 && kw_engine_n_active(e) == 4, "four slots in use");
    int steps = 0;
    while (kw_engine_n_active(e) > 0 && steps++ < 200)
        kw_engine_step(e);
    for (int i = 0; i < 4; i++) {
        CHECK(strcmp(cs[i].content.p ? cs[i].content.p : "", want[i]) == 0,
              "batched generation %d equals its plain loop: '%s' vs '%s'", i, cs[i].content.p,
              want[i]);
        CHECK(cs[i].top_ok, "generation %d: greedy token is the top logprob, sorted, sum <= 1", i);
        kw_gen_free(gs[i]);
        gen_buf_free(&cs[i].content);
    }
    CHECK(kw_engine_n_free(e) == 4, "finished generations give their slots back");

    /* the same prompt again reuses its cached prefix */
    g = new_gen(e, &col, 5, 0);
    kw_gen_set_prompt(g, p[2], n[2]);
    kw_generate(g);
    u = kw_gen_get_usage(g);
    CHECK(u.cached_tokens == n[2] - 1, "a repeated prompt is taken from the cache (%d of %d)",
          u.cached_tokens, n[2]);
    CHECK(u.completion_tokens == 5 && kw_gen_finish_reason(g) == KW_FINISH_LENGTH,
          "max_tokens 5: 5 tokens, finish length (%d, %s)", u.completion_tokens,
          kw_finish_reason_str(kw_gen_finish_reason(g)));
    kw_gen_free(g);
    gen_buf_free(&col.content);
    kw_engine_free(e);
    kw_context_free(c);
}

static void test_stop_cancel_share_and_limits(void) {
    kw_token p[64];
    int32_t n;
    prompt_tokens(0, p, &n);
    char want[2048];
    plain_greedy(p, n, 30, want, sizeof want);
    kw_context *c = make_ctx(3, 128);
    kw_engine *e = NULL;
    kw_engine_create(c, &e);
    /* a stop string taken from the middle of the known output */
    size_t wl = strlen(want);
    if (wl >= 8) {
        char stop[8];
        memcpy(stop, want + wl / 2, 3);
        stop[3] = 0;
        const char *first = strstr(want, stop);
        kw_gen_params gp = kw_gen_default_params();
        gp.sampler.temperature = 0;
        gp.max_tokens = 30;
        const char *stops[] = {"", "\x01never", stop}; /* the empty one is ignored */
        gp.stops = stops;
        gp.n_stops = 3;
        collected col = {0};
        gp.on_event = on_event;
        gp.user = &col;
        kw_gen *g;
        kw_gen_create(e, &gp, &g);
        kw_gen_set_prompt(g, p, n);
        kw_generate(g);
        CHECK(col.content.n == (size_t)(first - want) &&
                  memcmp(col.content.p ? col.content.p : "", want, col.content.n) == 0,
              "stop '%s': the text before its first occurrence (%zu bytes, want %zu)", stop,
              col.content.n, (size_t)(first - want));
        CHECK(kw_gen_finish_reason(g) == KW_FINISH_STOP, "finish reason stop");
        const char *hit = kw_gen_stop_string(g);
        CHECK(hit && strcmp(hit, stop) == 0, "kw_gen_stop_string names '%s' (got '%s')", stop,
              hit ? hit : "(null)");
        kw_gen_free(g);
        gen_buf_free(&col.content);
    }
    /* cancel after 3 tokens */
    collected col = {0};
    kw_gen *g = new_gen(e, &col, 30, 0);
    col.cancel_after = 3;
    kw_gen_set_prompt(g, p, n);
    kw_generate(g);
    CHECK(kw_gen_finish_reason(g) == KW_FINISH_CANCELLED && col.n_tokens == 3,
          "cancelled after 3 tokens (%s, %d)", kw_finish_reason_str(kw_gen_finish_reason(g)),
          col.n_tokens);
    CHECK(kw_gen_stop_string(g) == NULL, "no stop string after a cancel");
    kw_gen_free(g);
    gen_buf_free(&col.content);

    /* a cancel that arrives while a pass runs (here: from another generation's event in the same
     * step, as a signal handler might) takes effect before this generation samples again */
    collected ca = {0}, cb = {0};
    kw_gen *ga = new_gen(e, &ca, 10, 0), *gb = new_gen(e, &cb, 10, 0);
    ca.cancel_after = 3;
    ca.cancel_other = gb;
    kw_gen_set_prompt(ga, p, n);
    kw_gen_set_prompt(gb, p, n);
    kw_gen_start(ga);
    kw_gen_start(gb);
    while (kw_engine_n_active(e) > 0)
        kw_engine_step(e);
    CHECK(kw_gen_finish_reason(gb) == KW_FINISH_CANCELLED && cb.n_tokens == 2 && ca.n_tokens == 10,
          "cancelled mid-pass: 2 tokens, not a third (%s, %d; the other ran on: %d)",
          kw_finish_reason_str(kw_gen_finish_reason(gb)), cb.n_tokens, ca.n_tokens);
    kw_gen_free(ga);
    kw_gen_free(gb);
    gen_buf_free(&ca.content);
    gen_buf_free(&cb.content);

    /* three generations with one long shared prompt, started together: it is evaluated once */
    kw_token longp[100];
    for (int i = 0; i < 100; i++)
        longp[i] = (kw_token)(100 + i * 17 % 900);
    collected cs[3] = {0};
    kw_gen *gs[3];
    for (int i = 0; i < 3; i++) {
        gs[i] = new_gen(e, &cs[i], 4, 0);
        longp[99] = (kw_token)(50 + i); /* the last token differs */
        kw_gen_set_prompt(gs[i], longp, 100);
        kw_gen_start(gs[i]);
    }
    while (kw_engine_n_active(e) > 0)
        kw_engine_step(e);
    int shared = 0;
    for (int i = 0; i < 3; i++) {
        shared += kw_gen_get_usage(gs[i]).cached_tokens >= 99;
        kw_gen_free(gs[i]);
        gen_buf_free(&cs[i].content);
    }
    CHECK(shared >= 2,
          "two of three concurrent generations copied the shared 99-token prefix "
          "(%d did)",
          shared);

    /* a prompt longer than a sequence's context */
    kw_token big[200] = {0};
    g = new_gen(e, &col, 4, 0);
    kw_gen_set_prompt(g, big, 200);
    CHECK(kw_gen_start(g) == KW_ERR_CONTEXT_FULL && strstr(kw_last_error(), "200") &&
              strstr(kw_last_error(), "128"),
          "a 200-token prompt in a 128-token context is refused naming both (%s)", kw_last_error());
    kw_gen_free(g);
    kw_engine_free(e);
    kw_context_free(c);
}

/* What `kaiwu run` needs: max_tokens 0 evaluates the prompt only; render_special shows the text of
 * special tokens sampled past the end (greedy "The cat" on tiny-qwen3 meets <|endoftext|>). */
static void test_prompt_only_and_special_text(void) {
    kw_context *c = make_ctx(1, 512);
    kw_engine *e = NULL;
    kw_engine_create(c, &e);
    kw_token p[64];
    int32_t n = 0;
    kw_tokenize(model, "The cat", 7, true, true, p, 64, &n);
    collected col = {0};
    kw_gen *g = new_gen(e, &col, 0, 0);
    kw_gen_set_prompt(g, p, n);
    CHECK(kw_generate(g) == KW_OK, "max_tokens 0 runs (%s)", kw_last_error());
    kw_gen_usage u = kw_gen_get_usage(g);
    CHECK(kw_gen_finish_reason(g) == KW_FINISH_LENGTH && u.completion_tokens == 0 &&
              col.n_tokens == 0 && col.content.n == 0,
          "max_tokens 0: finish length, nothing generated (%s, %d tokens, %zu bytes)",
          kw_finish_reason_str(kw_gen_finish_reason(g)), u.completion_tokens, col.content.n);
    CHECK(kw_context_n_past(c) == n, "max_tokens 0: the %d-token prompt is in the cache (%d)", n,
          kw_context_n_past(c));
    kw_gen_free(g);
    gen_buf_free(&col.content);
    int found[2] = {0, 0};
    for (int special = 0; special < 2; special++) {
        kw_gen_params gp = kw_gen_default_params();
        gp.sampler.temperature = 0;
        gp.max_tokens = 300;
        gp.ignore_eos = true;
        gp.render_special = special;
        gp.on_event = on_event;
        collected cs = {0};
        gp.user = &cs;
        kw_gen_create(e, &gp, &g);
        kw_gen_set_prompt(g, p, n);
        kw_generate(g);
        CHECK(cs.n_tokens == 300, "ignore_eos: 300 tokens (%d)", cs.n_tokens);
        found[special] = cs.content.p && strstr(cs.content.p, "<|endoftext|>") != NULL;
        kw_gen_free(g);
        gen_buf_free(&cs.content);
    }
    CHECK(!found[0] && found[1],
          "<|endoftext|> appears with render_special only (without: %d, with: %d)", found[0],
          found[1]);
    kw_engine_free(e);
    kw_context_free(c);
}

int main(void) {
    RUN_TEST(test_stop_strings_are_held_back_and_cut);
    RUN_TEST(test_split_equals_parse_reply);
    if (kw_model_load(test_data_path("models/tiny-qwen3-f16.gguf"), NULL, &model) != KW_OK) {
        CHECK(false, "tiny-qwen3 loads (%s)", kw_last_error());
        return test_report();
    }
    RUN_TEST(test_generations_match_plain_decoding);
    RUN_TEST(test_stop_cancel_share_and_limits);
    RUN_TEST(test_prompt_only_and_special_text);
    kw_model_free(model);
    return test_report();
}
