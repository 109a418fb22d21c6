/* gen.c - one generation (kw_gen): its prompt, sampler, streaming detokenizer, stop strings,
 * reasoning split, log-probabilities, finish reason and usage.
 *
 * The engine (engine.c) decides when the generation's rows are evaluated; once its logits row is
 * ready, gen_after_decode samples, turns the token into text and reports the step's deltas
 * through the on_event callback. Everything a step needs is allocated at kw_gen_create or when
 * the prompt is set; the reply buffers grow by doubling (a few times per reply, not per token).
 *
 * Must not: touch the context except through the public API, or report text that could still
 * turn out to be part of a stop string.
 */
#include "gen/gen.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

kw_gen_params kw_gen_default_params(void) {
    kw_gen_params p;
    memset(&p, 0, sizeof p);
    p.sampler = kw_sampler_default_params();
    p.max_tokens = -1;
    return p;
}

const char *kw_finish_reason_str(kw_finish_reason r) {
    switch (r) {
    case KW_FINISH_STOP: return "stop";
    case KW_FINISH_LENGTH: return "length";
    case KW_FINISH_TOOL_CALL: return "tool_calls";
    case KW_FINISH_CANCELLED: return "cancelled";
    case KW_FINISH_ERROR: return "error";
    default: return "";
    }
}

/* Copies the tool fields and, for a forced call, makes its grammar (*gbnf, owned, or NULL). */
static kw_status gen_tools_init(kw_gen *g, kw_gen_params *p, char **gbnf) {
    *gbnf = NULL;
    if ((unsigned)p->tool_format >= KW_TOOL_FORMAT_COUNT)
        return kw_error(KW_ERR_INVALID_ARG, "kw_gen_create: tool_format %d is out of range",
                        (int)p->tool_format);
    if ((p->tools_json && !(g->tools_json = kw_strdup(p->tools_json))) ||
        (p->tool_choice && !(g->tool_choice = kw_strdup(p->tool_choice))))
        return kw_error(KW_ERR_NOMEM, "kw_gen_create: copying the tools");
    p->tools_json = g->tools_json;
    p->tool_choice = g->tool_choice;
    bool none = g->tool_choice && strcmp(g->tool_choice, "none") == 0;
    g->tool_calls = g->tools_json && !none;
    kw_chat_reply r = {0}; /* a bad tools array fails here, not when the reply is parsed */
    kw_status st = g->tools_json
                       ? kw_chat_parse_tool_reply("", 0, false, p->tool_format, g->tools_json, &r)
                       : KW_OK;
    if (st != KW_OK) return kw_error_wrap(st, "kw_gen_create: tools_json");
    kw_chat_reply_free(&r);
    st = kw_chat_tool_grammar(p->tool_format, g->tools_json, g->tool_choice, gbnf);
    if (st != KW_OK) return kw_error_wrap(st, "kw_gen_create: tool_choice '%s'", g->tool_choice);
    if (*gbnf && p->sampler.grammar) {
        free(*gbnf);
        *gbnf = NULL;
        return kw_error(KW_ERR_INVALID_ARG,
                        "kw_gen_create: tool_choice '%s' forces a call, which cannot be combined "
                        "with another grammar",
                        g->tool_choice);
    }
    return KW_OK;
}

/* ------------------------------------------------------------------------------------------------
 * Structured output: the constraint becomes the sampler's grammar stage, and the final reply is
 * checked again on its text (a stop string may have cut it, and the validator is a second,
 * independent check of the converter), so nothing truncated or invalid is reported as valid.
 * ---------------------------------------------------------------------------------------------- */

/* Replaces json_schema / json_object in *p by a GBNF grammar in p->sampler (the text lives in
 * g->gbnf_tmp until the sampler has compiled it) and prepares the final check. */
static kw_status gen_constraint_setup(kw_gen *g, kw_gen_params *p) {
    char *gbnf = NULL;
    const char *grammar = p->sampler.grammar, *root = p->sampler.grammar_root;
    if (p->json_schema) {
        kw_status st = kw_json_schema_to_gbnf(p->json_schema, &gbnf);
        if (st) return kw_error_wrap(st, "kw_gen_create: json_schema");
        g->cons_schema = kw_strdup(p->json_schema);
        grammar = gbnf;
        root = NULL;
    } else if (p->json_object) {
        g->cons_schema = kw_strdup("{\"type\":\"object\"}");
        grammar = kw_grammar_json();
        root = NULL;
    }
    if (!grammar) return KW_OK;
    if ((p->json_schema || p->json_object) && !g->cons_schema) {
        free(gbnf);
        return kw_error(KW_ERR_NOMEM, "kw_gen_create: copy of the schema");
    }
    /* The text-only copy (no token table) parses in well under a millisecond. */
    kw_status st = kw_grammar_create(NULL, grammar, root, &g->cons_check);
    if (st) {
        free(gbnf);
        return kw_error_wrap(st, "kw_gen_create");
    }
    p->sampler.grammar = grammar;
    p->sampler.grammar_root = root;
    g->gbnf_tmp = gbnf; /* freed once the sampler has compiled it */
    return KW_OK;
}

static void set_verdict(kw_gen *g, kw_constraint_status c, const char *why) {
    g->cons = c;
    free(g->cons_why);
    g->cons_why = why ? kw_strdup(why) : NULL;
}

/* The verdict on the final text (called by gen_finish before the finish event). */
static void gen_constraint_check(kw_gen *g, kw_finish_reason why) {
    if (!g->cons_check) return;
    size_t n = 0;
    const char *text = kw_gen_text(g, &n);
    char msg[320];
    kw_grammar_state *st = NULL;
    if (kw_grammar_state_create(g->cons_check, &st) != KW_OK) {
        snprintf(msg, sizeof msg, "the reply could not be checked: %s", kw_last_error());
        set_verdict(g, KW_CONSTRAINT_INCOMPLETE, msg);
        return;
    }
    const bool prefix = kw_grammar_state_accept_bytes(st, text, n) == KW_OK;
    const bool complete = prefix && kw_grammar_state_accepting(st);
    kw_grammar_state_free(st);
    if (!complete) {
        if (!prefix) /* only with ignore_eos or a token the mask let through wrongly */
            snprintf(msg, sizeof msg, "the reply (%zu bytes) does not match the constraint", n);
        else
            snprintf(msg, sizeof msg,
                     "the reply stopped (finish '%s', %d tokens, %zu bytes) before the "
                     "constraint was complete",
                     kw_finish_reason_str(why), g->n_gen, n);
        set_verdict(g, prefix ? KW_CONSTRAINT_INCOMPLETE : KW_CONSTRAINT_INVALID, msg);
        return;
    }
    if (g->cons_schema) {
        char *vwhy = NULL;
        kw_status vs = kw_json_schema_validate(g->cons_schema, text, n, &vwhy);
        if (vs != KW_OK) {
            snprintf(msg, sizeof msg, "the reply is complete but fails the schema: %s",
                     vwhy ? vwhy : kw_last_error());
            free(vwhy);
            set_verdict(g, KW_CONSTRAINT_INVALID, msg);
            return;
        }
    }
    set_verdict(g, KW_CONSTRAINT_SATISFIED, NULL);
}

kw_constraint_status kw_gen_constraint(const kw_gen *g, const char **why) {
    if (why) *why = NULL;
    if (!g || !g->cons_check) return KW_CONSTRAINT_NONE;
    if (g->state != GEN_DONE) return KW_CONSTRAINT_PENDING;
    if (why) *why = g->cons_why;
    return g->cons;
}

const char *kw_constraint_status_str(kw_constraint_status c) {
    switch (c) {
    case KW_CONSTRAINT_NONE: return "none";
    case KW_CONSTRAINT_PENDING: return "pending";
    case KW_CONSTRAINT_SATISFIED: return "satisfied";
    case KW_CONSTRAINT_INCOMPLETE: return "incomplete";
    case KW_CONSTRAINT_INVALID: return "invalid";
    }
    return "";
}

kw_status kw_gen_create(kw_engine *eng, const kw_gen_params *params, kw_gen **out) {
    if (!eng || !out) return kw_error(KW_ERR_INVALID_ARG, "kw_gen_create: NULL argument");
    kw_gen_params p = params ? *params : kw_gen_default_params();
    if (p.n_logprobs < 0 || p.n_logprobs > 20)
        return kw_error(KW_ERR_INVALID_ARG, "kw_gen_create: n_logprobs %d is outside 0..20",
                        p.n_logprobs);
    if (p.n_stops < 0 || (p.n_stops > 0 && !p.stops))
        return kw_error(KW_ERR_INVALID_ARG, "kw_gen_create: %d stop strings, array %p", p.n_stops,
                        (const void *)p.stops);
    if ((p.json_schema != NULL) + p.json_object + (p.sampler.grammar != NULL) > 1)
        return kw_error(KW_ERR_INVALID_ARG, "kw_gen_create: give at most one of json_schema, "
                                            "json_object and sampler.grammar");
    kw_gen *g = kw_calloc(1, sizeof *g, "generation");
    if (!g) return KW_ERR_NOMEM;
    g->eng = eng;
    g->seq = -1;
    g->row = -1;
    atomic_init(&g->cancel, false);
    char *tool_gbnf = NULL;
    kw_status st = gen_tools_init(g, &p, &tool_gbnf);
    if (!st && tool_gbnf && (p.json_schema || p.json_object))
        st = kw_error(KW_ERR_INVALID_ARG,
                      "kw_gen_create: tool_choice '%s' forces a call, which cannot be combined "
                      "with json_schema or json_object",
                      g->tool_choice);
    /* a forced call is the grammar stage, and its verdict is kept like any constraint's */
    if (!st && tool_gbnf) p.sampler.grammar = tool_gbnf, p.sampler.grammar_root = NULL;
    if (!st) st = gen_constraint_setup(g, &p);
    if (!st) st = kw_sampler_create(eng->model, &p.sampler, &g->smp);
    if (tool_gbnf) p.sampler.grammar = NULL; /* the sampler keeps its own copy */
    g->tool_gbnf = tool_gbnf;
    if (!st) st = gen_stops_init(&g->stops, p.stops, p.n_stops);
    p.stops = NULL; /* the copies live in g->stops */
    p.n_stops = g->stops.n;
    p.sampler.grammar = p.sampler.grammar_root = NULL; /* compiled, not kept */
    p.json_schema = g->cons_schema;
    free(g->gbnf_tmp);
    g->gbnf_tmp = NULL;
    g->p = p;
    if (st) {
        kw_gen_free(g);
        return st;
    }
    *out = g;
    return KW_OK;
}

void kw_gen_free(kw_gen *g) {
    if (!g) return;
    if (g->seq >= 0 || g->state == GEN_PROMPT || g->state == GEN_DECODE) engine_detach(g->eng, g);
    kw_sampler_free(g->smp);
    free(g->cons_schema);
    kw_grammar_free(g->cons_check);
    free(g->cons_why);
    free(g->gbnf_tmp);
    free(g->tool_gbnf);
    free(g->tools_json);
    free(g->tool_choice);
    free(g->prompt);
    gen_stops_free(&g->stops);
    gen_split_free(&g->split);
    gen_buf_free(&g->raw);
    gen_buf_free(&g->d_content);
    gen_buf_free(&g->d_reason);
    free(g);
}

kw_status kw_gen_set_prompt(kw_gen *g, const kw_token *tokens, int32_t n) {
    if (!g || (!tokens && n > 0) || n < 0)
        return kw_error(KW_ERR_INVALID_ARG, "kw_gen_set_prompt: NULL argument or n = %d", n);
    if (g->state != GEN_NEW)
        return kw_error(KW_ERR_INVALID_ARG, "kw_gen_set_prompt: the generation has started");
    if (n > g->cap_prompt) {
        kw_token *p = kw_malloc((size_t)n * sizeof *p, "prompt tokens");
        if (!p) return KW_ERR_NOMEM;
        free(g->prompt);
        g->prompt = p;
        g->cap_prompt = n;
    }
    if (n) memcpy(g->prompt, tokens, (size_t)n * sizeof *tokens);
    g->n_prompt = n;
    g->thinking_open = g->p.prompt_opens_thinking;
    return KW_OK;
}

kw_status kw_gen_set_chat_prompt(kw_gen *g, const kw_chat *chat, const char *messages_json,
                                 const char *tools_json, const char *extra_vars_json) {
    if (!g || !chat || !messages_json)
        return kw_error(KW_ERR_INVALID_ARG, "kw_gen_set_chat_prompt: NULL argument");
    char *text = NULL;
    kw_token *ids = NULL;
    int32_t n = 0;
    kw_status st = kw_chat_render(chat, messages_json, tools_json, true, extra_vars_json, &text);
    if (!st) st = kw_chat_tokenize(chat, text, &ids, &n);
    if (!st) st = kw_gen_set_prompt(g, ids, n);
    if (!st) g->thinking_open = kw_chat_prompt_opens_thinking(text);
    free(text);
    free(ids);
    return st;
}

/* A forced call after a prompt that opened a reasoning block: the grammar first closes the block
 * ("</think>\n\n"), so that the call is the reply, not reasoning. The tool grammar's first line
 * is its start rule ("root ::= call-0 | ..."), renamed here. */
static kw_status gen_tools_close_thinking(kw_gen *g) {
    static const char ROOT[] = "root ::= ", WRAP[] = "root ::= \"</think>\\n\\n\" tool-call\n";
    const size_t n = strlen(g->tool_gbnf);
    if (strncmp(g->tool_gbnf, ROOT, sizeof ROOT - 1) != 0)
        return kw_error(KW_ERR_INTERNAL, "tool grammar: no start rule in front");
    char *text = kw_malloc(sizeof WRAP + n + 16, "tool grammar");
    if (!text) return KW_ERR_NOMEM;
    snprintf(text, sizeof WRAP + n + 16, "%stool-call ::= %s", WRAP,
             g->tool_gbnf + sizeof ROOT - 1);
    kw_sampler_params sp = g->p.sampler;
    sp.grammar = text;
    sp.grammar_root = NULL;
    kw_sampler *smp = NULL;
    kw_grammar *check = NULL; /* the final verdict checks the same language */
    kw_status st = kw_sampler_create(g->eng->model, &sp, &smp);
    if (st == KW_OK) st = kw_grammar_create(NULL, text, NULL, &check);
    free(text);
    if (st != KW_OK) {
        kw_sampler_free(smp);
        return st;
    }
    kw_sampler_free(g->smp);
    g->smp = smp;
    kw_grammar_free(g->cons_check);
    g->cons_check = check;
    return KW_OK;
}

kw_status kw_gen_start(kw_gen *g) {
    if (!g) return kw_error(KW_ERR_INVALID_ARG, "kw_gen_start: NULL generation");
    if (g->state != GEN_NEW)
        return kw_error(KW_ERR_INVALID_ARG, "kw_gen_start: the generation was started already");
    if (g->n_prompt <= 0)
        return kw_error(KW_ERR_INVALID_ARG, "kw_gen_start: the prompt is empty (0 tokens)");
    if (g->n_prompt > g->eng->n_ctx)
        return kw_error(KW_ERR_CONTEXT_FULL,
                        "the prompt is %d tokens, longer than the context of %d tokens",
                        g->n_prompt, g->eng->n_ctx);
    /* with tools, special tokens are text: [TOOL_CALLS], <｜tool▁calls▁begin｜>, <|python_tag|> */
    kw_detok_stream_init(&g->ds, g->eng->model, g->p.render_special || g->tool_calls, false);
    if (g->tool_gbnf && g->thinking_open) {
        kw_status st = gen_tools_close_thinking(g);
        if (st != KW_OK) return st;
    }
    gen_split_init(&g->split, g->p.split_thinking, g->thinking_open);
    kw_sampler_reset(g->smp);
    for (int32_t i = 0; i < g->n_prompt; i++)
        kw_sampler_accept(g->smp, g->prompt[i]);
    /* room for a few hundred tokens of text before the first doubling */
    if (!gen_buf_reserve(&g->raw, 4096) || !gen_buf_reserve(&g->d_content, 1024) ||
        !gen_buf_reserve(&g->d_reason, 1024))
        return kw_error(KW_ERR_NOMEM, "kw_gen_start: reply buffers");
    g->t_start = kw_time_seconds();
    if (atomic_load(&g->cancel)) {
        g->state = GEN_DONE;
        g->finish = KW_FINISH_CANCELLED;
        g->t_first = g->t_end = g->t_start;
        gen_constraint_check(g, KW_FINISH_CANCELLED);
        return KW_OK;
    }
    return engine_attach(g->eng, g);
}

void kw_gen_cancel(kw_gen *g) {
    if (g) atomic_store(&g->cancel, true);
}

kw_finish_reason kw_gen_finish_reason(const kw_gen *g) { return g ? g->finish : KW_FINISH_NONE; }

const char *kw_gen_stop_string(const kw_gen *g) {
    return g && g->stops.hit ? g->stops.s[g->stops.which] : NULL;
}

const char *kw_gen_text(const kw_gen *g, size_t *len) {
    if (len) *len = g && g->raw.p ? g->raw.n : 0;
    return g && g->raw.p ? g->raw.p : "";
}

kw_status kw_gen_reply(const kw_gen *g, kw_chat_reply *out) {
    if (!g) return kw_error(KW_ERR_INVALID_ARG, "kw_gen_reply: NULL generation");
    size_t n = 0;
    const char *t = kw_gen_text(g, &n);
    if (!g->tools_json) return kw_chat_parse_reply(t, n, g->thinking_open, out);
    return kw_chat_parse_tool_reply(t, n, g->thinking_open, g->p.tool_format, g->tools_json, out);
}

kw_gen_usage kw_gen_get_usage(const kw_gen *g) {
    kw_gen_usage u = {0};
    if (!g) return u;
    u.prompt_tokens = g->n_prompt;
    u.cached_tokens = g->n_cached;
    u.completion_tokens = g->n_gen;
    double now = g->state == GEN_DONE ? g->t_end : kw_time_seconds();
    if (g->t_first > 0) {
        u.t_prompt = g->t_first - g->t_start;
        u.t_generate = now - g->t_first;
    } else if (g->t_start > 0) {
        u.t_prompt = now - g->t_start;
    }
    return u;
}

kw_seq_id kw_gen_seq(const kw_gen *g) { return g ? g->seq : -1; }

/* ------------------------------------------------------------------------------------------------
 * Steps
 * ---------------------------------------------------------------------------------------------- */

/* Natural-log probabilities under softmax(logits): the chosen token's, and the top n. */
static float log_probs(kw_gen *g, const float *logits, kw_token chosen) {
    const int32_t nv = kw_model_n_vocab(g->eng->model), k = g->p.n_logprobs;
    float mx = -INFINITY;
    for (int32_t i = 0; i < nv; i++)
        if (logits[i] > mx) mx = logits[i];
    double sum = 0;
    for (int32_t i = 0; i < nv; i++)
        sum += exp((double)(logits[i] - mx));
    const float lse = mx + (float)log(sum);
    int32_t n = 0; /* insertion into a sorted top-k list: k <= 20 */
    for (int32_t i = 0; i < nv; i++) {
        const float v = logits[i];
        if (n == k && v <= g->top_lp[k - 1]) continue;
        int32_t j = n < k ? n++ : k - 1;
        while (j > 0 && g->top_lp[j - 1] < v) {
            g->top_lp[j] = g->top_lp[j - 1];
            g->top_ids[j] = g->top_ids[j - 1];
            j--;
        }
        g->top_lp[j] = v;
        g->top_ids[j] = i;
    }
    for (int32_t j = 0; j < n; j++)
        g->top_lp[j] -= lse;
    return logits[chosen] - lse;
}

static void emit_event(kw_gen *g, kw_token tok, float lp, bool with_top) {
    if (g->p.on_event) {
        kw_gen_event ev = {
            .content = g->d_content.p ? g->d_content.p : "",
            .content_len = (int32_t)g->d_content.n,
            .reasoning = g->d_reason.p ? g->d_reason.p : "",
            .reasoning_len = (int32_t)g->d_reason.n,
            .token = tok,
            .logprob = lp,
            .n_top = with_top ? g->p.n_logprobs : 0,
            .top_tokens = g->top_ids,
            .top_logprobs = g->top_lp,
            .finish = g->finish,
        };
        g->p.on_event(g->p.user, &ev);
    }
    g->d_content.n = g->d_reason.n = 0;
}

/* Released raw text goes to the reply and through the split into this step's deltas. */
static bool push_text(kw_gen *g, const char *t, size_t n, bool at_end) {
    const size_t before = g->raw.n;
    if (!gen_stops_push(&g->stops, t, n, at_end, &g->raw)) return false;
    return gen_split_push(&g->split, g->raw.p + before, g->raw.n - before, at_end, &g->d_content,
                          &g->d_reason);
}

void gen_finish(kw_gen *g, kw_finish_reason why) {
    if (g->state == GEN_DONE) return;
    if (!g->stops.hit) {
        char piece[64];
        int32_t np = kw_detok_stream_flush(&g->ds, piece, (int32_t)sizeof piece);
        push_text(g, piece, np > 0 ? (size_t)np : 0, true);
        if (g->stops.hit && why == KW_FINISH_LENGTH) why = KW_FINISH_STOP;
    } else {
        push_text(g, "", 0, true);
    }
    if (why == KW_FINISH_STOP && (g->p.parse_tool_calls || g->tool_calls)) {
        kw_chat_reply r;
        if (kw_gen_reply(g, &r) == KW_OK) {
            if (r.n_tool_calls > 0) why = KW_FINISH_TOOL_CALL;
            kw_chat_reply_free(&r);
        }
    }
    g->finish = why;
    g->state = GEN_DONE;
    gen_constraint_check(g, why);
    g->t_end = kw_time_seconds();
    if (g->t_first == 0) g->t_first = g->t_end;
    engine_detach(g->eng, g);
    emit_event(g, KW_TOKEN_NONE, 0, false);
}

void gen_after_decode(kw_gen *g, const float *logits) {
    g->row = -1;
    if (!logits) {
        gen_finish(g, KW_FINISH_ERROR);
        return;
    }
    if (g->t_first == 0) g->t_first = kw_time_seconds();
    if (atomic_load(&g->cancel)) { /* asked during this step's pass: nothing more is sampled */
        gen_finish(g, KW_FINISH_CANCELLED);
        return;
    }
    if (g->p.max_tokens == 0) { /* the prompt only */
        gen_finish(g, KW_FINISH_LENGTH);
        return;
    }
    kw_token tok = kw_sampler_sample(g->smp, logits);
    if (tok == KW_TOKEN_NONE) { /* a grammar dead end: the message is set */
        gen_finish(g, KW_FINISH_ERROR);
        return;
    }
    float lp = g->p.n_logprobs > 0 ? log_probs(g, logits, tok) : 0;
    if (!g->p.ignore_eos && kw_token_is_eog(g->eng->model, tok)) {
        gen_finish(g, KW_FINISH_STOP);
        return;
    }
    kw_sampler_accept(g->smp, tok);
    g->n_gen++;
    g->last = tok;
    g->state = GEN_DECODE;
    char piece[128];
    int32_t np = kw_detok_stream_push(&g->ds, tok, piece, (int32_t)sizeof piece);
    if (!push_text(g, piece, np > 0 ? (size_t)np : 0, false)) {
        kw_error(KW_ERR_NOMEM, "generation: out of memory for the reply (%zu bytes)", g->raw.n);
        gen_finish(g, KW_FINISH_ERROR);
        return;
    }
    if (g->stops.hit) {
        /* the deltas before the stop string go out with the token that completed it */
        emit_event(g, tok, lp, g->p.n_logprobs > 0);
        gen_finish(g, KW_FINISH_STOP);
        return;
    }
    const bool at_max = g->p.max_tokens >= 0 && g->n_gen >= g->p.max_tokens;
    const bool full = kw_seq_n_past(g->eng->ctx, g->seq) >= g->eng->n_ctx;
    emit_event(g, tok, lp, g->p.n_logprobs > 0);
    if (at_max || full) gen_finish(g, KW_FINISH_LENGTH);
}
