/* oai.c - the OpenAI API mapping: request bodies of /v1/chat/completions and /v1/completions
 * checked and turned into a srv_spec, and the response objects and stream chunks built from
 * generation events.
 *
 * Every field is type-checked; a wrong type or value is a 400 naming the parameter. Fields the
 * structured-output engine will serve (response_format other than text) are refused with a 400
 * that says so: never accepted and ignored. Tools are accepted (the calls are parsed, and forced
 * for tool_choice "required" or a name); the deprecated functions/function_call are refused.
 * Unknown fields are ignored, as OpenAI's own clients send some (user, metadata, ...).
 *
 * Must not: trust any length or type in the body (jansson parses; every access is checked), or
 * hold the request mutex anywhere but inside the functions its callers lock it for.
 */
#include "serve/serve.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

bool srv_buf_add(srv_buf *b, const char *s, size_t n) {
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) return false;
        b->p = p;
        b->cap = cap;
    }
    if (n) memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
    return true;
}

void srv_buf_free(srv_buf *b) {
    free(b->p);
    memset(b, 0, sizeof *b);
}

char *srv_error_json(int status, const char *message, const char *param) {
    const char *type = status == 401   ? "authentication_error"
                       : status == 404 ? "not_found_error"
                       : status == 413 ? "invalid_request_error"
                       : status >= 500 ? "server_error"
                                       : "invalid_request_error";
    json_t *o = json_pack("{s:{s:s, s:s, s:o, s:i}}", "error", "message", message, "type", type,
                          "param", param ? json_string(param) : json_null(), "code", status);
    char *t = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return t;
}

/* ------------------------------------------------------------------------------------------------
 * Requests
 * ---------------------------------------------------------------------------------------------- */

typedef struct parse_ctx {
    char *err;
    size_t cap;
    const char **param;
} parse_ctx;

static int fail(parse_ctx *pc, const char *param, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(parse_ctx *pc, const char *param, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(pc->err, pc->cap, fmt, ap);
    va_end(ap);
    *pc->param = param;
    return 400;
}

/* A number field within [lo, hi]; absent or null leaves *out. */
static int get_num(parse_ctx *pc, json_t *o, const char *key, double lo, double hi, double *out) {
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) return 0;
    if (!json_is_number(v)) return fail(pc, key, "'%s' must be a number", key);
    double d = json_number_value(v);
    if (!(d >= lo && d <= hi))
        return fail(pc, key, "'%s' is %g; it must be between %g and %g", key, d, lo, hi);
    *out = d;
    return 0;
}

static int get_int(parse_ctx *pc, json_t *o, const char *key, long long lo, long long hi,
                   long long *out) {
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) return 0;
    if (!json_is_integer(v)) return fail(pc, key, "'%s' must be an integer", key);
    long long i = json_integer_value(v);
    if (i < lo || i > hi)
        return fail(pc, key, "'%s' is %lld; it must be between %lld and %lld", key, i, lo, hi);
    *out = i;
    return 0;
}

static int get_bool(parse_ctx *pc, json_t *o, const char *key, bool *out) {
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) return 0;
    if (!json_is_boolean(v)) return fail(pc, key, "'%s' must be true or false", key);
    *out = json_is_true(v);
    return 0;
}

/* An assistant message's tool_calls as OpenAI sends them carry the arguments as JSON text;
 * templates read them as a mapping (arguments|items, |tojson), so text holding a JSON object
 * becomes that object. */
static int parse_tool_call_args(parse_ctx *pc, json_t *calls, size_t i) {
    if (!calls || json_is_null(calls)) return 0;
    if (!json_is_array(calls))
        return fail(pc, "messages", "messages[%zu].tool_calls must be an array", i);
    size_t k;
    json_t *tc;
    json_array_foreach(calls, k, tc) {
        json_t *fn = json_object_get(tc, "function");
        json_t *args = json_object_get(fn, "arguments");
        if (!json_is_object(fn) || !json_is_string(json_object_get(fn, "name")))
            return fail(pc, "messages",
                        "messages[%zu].tool_calls[%zu] must be {\"type\": \"function\", "
                        "\"function\": {\"name\": ..., \"arguments\": ...}}",
                        i, k);
        if (json_is_string(args)) {
            json_t *obj = json_loads(json_string_value(args), 0, NULL);
            if (json_is_object(obj))
                json_object_set_new(fn, "arguments", obj);
            else
                json_decref(obj);
        }
    }
    return 0;
}

/* Chat messages: each {"role": string, "content": string | [parts] | null, ...}; text parts are
 * joined, other part types refused. The result is a messages array with string contents. */
static int parse_messages(parse_ctx *pc, json_t *msgs, srv_spec *s) {
    if (!json_is_array(msgs) || json_array_size(msgs) == 0)
        return fail(pc, "messages", "'messages' must be a non-empty array of messages");
    json_t *out = json_array();
    size_t i;
    json_t *m;
    int rc = 0;
    json_array_foreach(msgs, i, m) {
        if (!json_is_object(m)) {
            rc = fail(pc, "messages", "messages[%zu] must be an object", i);
            break;
        }
        json_t *role = json_object_get(m, "role"), *content = json_object_get(m, "content");
        if (!json_is_string(role)) {
            rc = fail(pc, "messages", "messages[%zu].role must be a string", i);
            break;
        }
        const char *r = json_string_value(role);
        if (strcmp(r, "system") && strcmp(r, "user") && strcmp(r, "assistant") &&
            strcmp(r, "developer") && strcmp(r, "tool")) {
            rc = fail(pc, "messages",
                      "messages[%zu].role '%s' is not one of system, developer, user, "
                      "assistant, tool",
                      i, r);
            break;
        }
        json_t *copy = json_deep_copy(m);
        if (!strcmp(r, "developer")) json_object_set_new(copy, "role", json_string("system"));
        if ((rc = parse_tool_call_args(pc, json_object_get(copy, "tool_calls"), i))) {
            json_decref(copy);
            break;
        }
        if (json_is_array(content)) {
            srv_buf text = {0};
            size_t k;
            json_t *part;
            json_array_foreach(content, k, part) {
                json_t *type = json_object_get(part, "type"), *t = json_object_get(part, "text");
                if (!json_is_string(type) || strcmp(json_string_value(type), "text") ||
                    !json_is_string(t)) {
                    rc = fail(pc, "messages",
                              "messages[%zu].content[%zu]: only {\"type\": \"text\", \"text\": "
                              "...} parts are supported (this model reads text)",
                              i, k);
                    break;
                }
                srv_buf_add(&text, json_string_value(t), json_string_length(t));
            }
            if (!rc) json_object_set_new(copy, "content", json_string(text.p ? text.p : ""));
            srv_buf_free(&text);
        } else if (content && !json_is_null(content) && !json_is_string(content)) {
            rc = fail(pc, "messages", "messages[%zu].content must be a string or an array of parts",
                      i);
        } else if (!content || json_is_null(content)) {
            json_object_set_new(copy, "content", json_string(""));
        }
        json_array_append_new(out, copy);
        if (rc) break;
    }
    if (!rc) s->messages_json = json_dumps(out, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(out);
    if (!rc && !s->messages_json) rc = fail(pc, "messages", "out of memory");
    return rc;
}

static int parse_stop(parse_ctx *pc, json_t *stop, srv_spec *s) {
    if (!stop || json_is_null(stop)) return 0;
    if (json_is_string(stop)) {
        if (json_string_length(stop) > 0) s->stops[s->n_stops++] = strdup(json_string_value(stop));
        return 0;
    }
    if (!json_is_array(stop) || json_array_size(stop) > SRV_MAX_STOPS)
        return fail(pc, "stop", "'stop' must be a string or an array of at most %d strings",
                    SRV_MAX_STOPS);
    size_t i;
    json_t *v;
    json_array_foreach(stop, i, v) {
        if (!json_is_string(v)) return fail(pc, "stop", "stop[%zu] must be a string", i);
        if (json_string_length(v) > 0) s->stops[s->n_stops++] = strdup(json_string_value(v));
    }
    return 0;
}

static int parse_prompt(parse_ctx *pc, json_t *prompt, srv_spec *s) {
    if (json_is_string(prompt)) {
        s->prompt = strdup(json_string_value(prompt));
        return 0;
    }
    if (json_is_array(prompt) && json_array_size(prompt) == 1 &&
        json_is_string(json_array_get(prompt, 0))) {
        s->prompt = strdup(json_string_value(json_array_get(prompt, 0)));
        return 0;
    }
    if (json_is_array(prompt) && json_array_size(prompt) > 0 &&
        json_is_integer(json_array_get(prompt, 0))) {
        size_t n = json_array_size(prompt);
        if (n > (1u << 20)) return fail(pc, "prompt", "the prompt has %zu token ids", n);
        s->prompt_ids = malloc(n * sizeof *s->prompt_ids);
        if (!s->prompt_ids) return fail(pc, "prompt", "out of memory");
        for (size_t i = 0; i < n; i++) {
            json_t *v = json_array_get(prompt, i);
            if (!json_is_integer(v) || json_integer_value(v) < 0 ||
                json_integer_value(v) > INT32_MAX)
                return fail(pc, "prompt", "prompt[%zu] must be a token id (an integer >= 0)", i);
            s->prompt_ids[i] = (kw_token)json_integer_value(v);
        }
        s->n_prompt_ids = (int32_t)n;
        return 0;
    }
    return fail(pc, "prompt",
                "'prompt' must be a string, an array of one string, or an array of token ids "
                "(batches of prompts are not supported: send one request each)");
}

bool srv_spec_tools_on(const srv_spec *s) {
    return s->tools_json && !(s->tool_choice && strcmp(s->tool_choice, "none") == 0);
}

/* tools: [{"type": "function", "function": {"name", "description", "parameters"}}] (chat only);
 * tool_choice: "none", "auto", "required" or {"type": "function", "function": {"name": N}}. Whether
 * the schemas can be enforced in the model's format is checked when the prompt is made. */
static int parse_tools(parse_ctx *pc, srv_kind kind, json_t *tools, json_t *choice, srv_spec *s) {
    bool has_tools =
        tools && !json_is_null(tools) && !(json_is_array(tools) && json_array_size(tools) == 0);
    if (has_tools && kind != SRV_CHAT)
        return fail(pc, "tools", "'tools' needs /v1/chat/completions");
    if (has_tools) {
        if (!json_is_array(tools)) return fail(pc, "tools", "'tools' must be an array");
        size_t i;
        json_t *t;
        json_array_foreach(tools, i, t) {
            json_t *type = json_object_get(t, "type"), *fn = json_object_get(t, "function");
            json_t *name = json_object_get(fn, "name"), *params = json_object_get(fn, "parameters");
            if (!json_is_string(type) || strcmp(json_string_value(type), "function") ||
                !json_is_object(fn) || !json_is_string(name) || (params && !json_is_object(params)))
                return fail(pc, "tools",
                            "tools[%zu] must be {\"type\": \"function\", \"function\": {\"name\": "
                            "string, \"parameters\": object}}",
                            i);
        }
        s->tools_json = json_dumps(tools, JSON_COMPACT | JSON_PRESERVE_ORDER);
        if (!s->tools_json) return fail(pc, "tools", "out of memory");
    }
    if (!choice || json_is_null(choice)) return 0;
    const char *c = NULL;
    if (json_is_string(choice)) {
        c = json_string_value(choice);
        if (strcmp(c, "none") && strcmp(c, "auto") && strcmp(c, "required"))
            return fail(pc, "tool_choice",
                        "'tool_choice' must be \"none\", \"auto\", \"required\" or {\"type\": "
                        "\"function\", \"function\": {\"name\": ...}}, not \"%s\"",
                        c);
    } else {
        json_t *type = json_object_get(choice, "type");
        json_t *name = json_object_get(json_object_get(choice, "function"), "name");
        if (!json_is_string(type) || strcmp(json_string_value(type), "function") ||
            !json_is_string(name))
            return fail(pc, "tool_choice",
                        "'tool_choice' must be a string or {\"type\": \"function\", \"function\": "
                        "{\"name\": ...}}");
        c = json_string_value(name);
    }
    if (!has_tools && strcmp(c, "none") && strcmp(c, "auto"))
        return fail(pc, "tool_choice", "'tool_choice' \"%s\" needs 'tools'", c);
    if (!(s->tool_choice = strdup(c))) return fail(pc, "tool_choice", "out of memory");
    return 0;
}

int srv_parse_request(srv_kind kind, const char *body, size_t len, srv_spec *s, char *err,
                      size_t err_cap, const char **param) {
    parse_ctx pc = {err, err_cap, param};
    memset(s, 0, sizeof *s);
    *param = NULL;
    s->kind = kind;
    s->n = 1;
    s->max_tokens = -1;
    s->sp = kw_sampler_default_params();
    json_error_t je;
    json_t *o = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
    if (!o)
        return fail(&pc, NULL, "the body is not valid JSON: %s (line %d, column %d)", je.text,
                    je.line, je.column);
    int rc = 0;
    if (!json_is_object(o)) {
        rc = fail(&pc, NULL, "the body must be a JSON object");
        goto done;
    }
    json_t *model = json_object_get(o, "model");
    if (model && !json_is_null(model) && !json_is_string(model)) {
        rc = fail(&pc, "model", "'model' must be a string");
        goto done;
    }
    if (json_is_string(model)) s->model = strdup(json_string_value(model));
    /* what the structured-output engine will serve: refused until then, never ignored */
    json_t *rf = json_object_get(o, "response_format");
    if (rf && !json_is_null(rf)) {
        json_t *type = json_object_get(rf, "type");
        if (!json_is_object(rf) || !json_is_string(type)) {
            rc = fail(&pc, "response_format", "'response_format' must be an object with a type");
            goto done;
        }
        if (strcmp(json_string_value(type), "text") != 0) {
            rc = fail(&pc, "response_format",
                      "response_format '%s' is not supported yet: structured output (JSON mode, "
                      "JSON Schema) needs kaiwu's grammar engine, which is not in this build",
                      json_string_value(type));
            goto done;
        }
    }
    static const char *legacy_keys[] = {"functions", "function_call"};
    for (size_t i = 0; i < sizeof legacy_keys / sizeof legacy_keys[0]; i++) {
        json_t *v = json_object_get(o, legacy_keys[i]);
        if (v && !json_is_null(v) && !(json_is_array(v) && json_array_size(v) == 0) &&
            !(json_is_string(v) && strcmp(json_string_value(v), "none") == 0)) {
            rc = fail(&pc, legacy_keys[i],
                      "'%s' (the deprecated function-calling API) is not supported: use 'tools' "
                      "and 'tool_choice'",
                      legacy_keys[i]);
            goto done;
        }
    }
    if ((rc = parse_tools(&pc, kind, json_object_get(o, "tools"), json_object_get(o, "tool_choice"),
                          s)))
        goto done;
    if (kind == SRV_CHAT) {
        if ((rc = parse_messages(&pc, json_object_get(o, "messages"), s))) goto done;
    } else {
        json_t *prompt = json_object_get(o, "prompt");
        if (!prompt) {
            rc = fail(&pc, "prompt", "'prompt' is required");
            goto done;
        }
        if ((rc = parse_prompt(&pc, prompt, s))) goto done;
        json_t *echo = json_object_get(o, "echo"), *suffix = json_object_get(o, "suffix");
        if (json_is_true(echo) || (suffix && !json_is_null(suffix))) {
            rc = fail(&pc, json_is_true(echo) ? "echo" : "suffix", "'%s' is not supported",
                      json_is_true(echo) ? "echo" : "suffix");
            goto done;
        }
    }
    long long li = -1;
    const char *mt = kind == SRV_CHAT && json_object_get(o, "max_completion_tokens")
                         ? "max_completion_tokens"
                         : "max_tokens";
    if ((rc = get_int(&pc, o, mt, 1, INT32_MAX, &li))) goto done;
    s->max_tokens = (int32_t)li;
    double d = 1.0;
    if ((rc = get_num(&pc, o, "temperature", 0, 2, &d))) goto done;
    s->sp.temperature = (float)d;
    d = s->sp.top_p;
    if ((rc = get_num(&pc, o, "top_p", 0, 1, &d))) goto done;
    s->sp.top_p = (float)d;
    d = 0;
    if ((rc = get_num(&pc, o, "presence_penalty", -2, 2, &d))) goto done;
    s->sp.presence_penalty = (float)d;
    d = 0;
    if ((rc = get_num(&pc, o, "frequency_penalty", -2, 2, &d))) goto done;
    s->sp.frequency_penalty = (float)d;
    li = -1;
    json_t *seed = json_object_get(o, "seed");
    if (seed && !json_is_null(seed)) {
        if (!json_is_integer(seed)) {
            rc = fail(&pc, "seed", "'seed' must be an integer");
            goto done;
        }
        s->sp.seed = (uint64_t)json_integer_value(seed);
        s->seed_given = true;
    }
    li = 1;
    if ((rc = get_int(&pc, o, "n", 1, SRV_MAX_CHOICES, &li))) goto done;
    s->n = (int32_t)li;
    if ((rc = get_bool(&pc, o, "stream", &s->stream))) goto done;
    json_t *so = json_object_get(o, "stream_options");
    if (so && !json_is_null(so)) {
        if (!json_is_object(so)) {
            rc = fail(&pc, "stream_options", "'stream_options' must be an object");
            goto done;
        }
        if ((rc = get_bool(&pc, so, "include_usage", &s->include_usage))) goto done;
    }
    if (kind == SRV_CHAT) {
        if ((rc = get_bool(&pc, o, "logprobs", &s->logprobs))) goto done;
        li = 0;
        if ((rc = get_int(&pc, o, "top_logprobs", 0, 20, &li))) goto done;
        s->top_logprobs = (int32_t)li;
        if (s->top_logprobs > 0 && !s->logprobs) {
            rc = fail(&pc, "top_logprobs", "'top_logprobs' needs 'logprobs': true");
            goto done;
        }
    } else {
        li = -1;
        if ((rc = get_int(&pc, o, "logprobs", 0, 5, &li))) goto done;
        s->logprobs = li >= 0;
        s->top_logprobs = li > 0 ? (int32_t)li : 0;
    }
    rc = parse_stop(&pc, json_object_get(o, "stop"), s);
done:
    json_decref(o);
    if (rc) srv_spec_free(s);
    return rc;
}

void srv_spec_free(srv_spec *s) {
    free(s->model);
    free(s->messages_json);
    free(s->prompt);
    free(s->prompt_ids);
    free(s->tools_json);
    free(s->tool_choice);
    for (int32_t i = 0; i < s->n_stops; i++)
        free(s->stops[i]);
    memset(s, 0, sizeof *s);
}

/* ------------------------------------------------------------------------------------------------
 * Responses
 * ---------------------------------------------------------------------------------------------- */

static json_t *token_json(const kw_model *m, kw_token t, float lp, bool with_bytes) {
    char piece[256];
    int32_t n = kw_token_to_piece(m, t, piece, (int32_t)sizeof piece, false);
    if (n < 0) n = 0;
    if (n > (int32_t)sizeof piece) n = (int32_t)sizeof piece;
    json_t *bytes = json_array();
    for (int32_t i = 0; i < n; i++)
        json_array_append_new(bytes, json_integer((unsigned char)piece[i]));
    /* a piece may be part of a character: then the token text is empty and bytes say all */
    json_t *tok = json_stringn(piece, (size_t)n);
    if (!tok) tok = json_string("");
    json_t *o = json_pack("{s:o, s:f}", "token", tok, "logprob", (double)lp);
    if (with_bytes)
        json_object_set_new(o, "bytes", bytes);
    else
        json_decref(bytes);
    return o;
}

void oai_add_logprobs(srv_req *r, srv_choice *c, const kw_gen_event *ev) {
    if (!r->spec.logprobs || ev->token == KW_TOKEN_NONE) return;
    const kw_model *m = r->srv->model;
    if (!c->logprobs) c->logprobs = json_array();
    json_t *e = token_json(m, ev->token, ev->logprob, true);
    json_t *top = json_array();
    for (int32_t i = 0; i < ev->n_top && i < r->spec.top_logprobs; i++)
        json_array_append_new(top, token_json(m, ev->top_tokens[i], ev->top_logprobs[i], true));
    json_object_set_new(e, "top_logprobs", top);
    json_array_append_new(c->logprobs, e);
}

/* The legacy completions logprobs object from the chat-style entries. */
static json_t *completion_logprobs(json_t *entries) {
    json_t *tokens = json_array(), *lps = json_array(), *tops = json_array(), *offs = json_array();
    size_t i, off = 0;
    json_t *e;
    json_array_foreach(entries, i, e) {
        json_t *t = json_object_get(e, "token");
        json_array_append(tokens, t);
        json_array_append(lps, json_object_get(e, "logprob"));
        json_t *m = json_object();
        size_t k;
        json_t *te;
        json_array_foreach(json_object_get(e, "top_logprobs"), k, te) json_object_set(
            m, json_string_value(json_object_get(te, "token")), json_object_get(te, "logprob"));
        json_array_append_new(tops, m);
        json_array_append_new(offs, json_integer((json_int_t)off));
        off += json_string_length(t);
    }
    return json_pack("{s:o, s:o, s:o, s:o}", "tokens", tokens, "token_logprobs", lps,
                     "top_logprobs", tops, "text_offset", offs);
}

static json_t *usage_json(const srv_req *r) {
    int64_t out = 0, cached = 0;
    for (int32_t i = 0; i < r->spec.n; i++) {
        out += r->choices[i].usage.completion_tokens;
        if (r->choices[i].usage.cached_tokens > cached) cached = r->choices[i].usage.cached_tokens;
    }
    return json_pack("{s:i, s:I, s:I, s:{s:I}}", "prompt_tokens", r->n_prompt, "completion_tokens",
                     (json_int_t)out, "total_tokens", (json_int_t)(r->n_prompt + out),
                     "prompt_tokens_details", "cached_tokens", (json_int_t)cached);
}

static const char *finish_str(kw_finish_reason f) {
    return f == KW_FINISH_NONE ? NULL : kw_finish_reason_str(f);
}

static json_t *chunk_base(const srv_req *r) {
    return json_pack("{s:s, s:s, s:I, s:s}", "id", r->id, "object",
                     r->spec.kind == SRV_CHAT ? "chat.completion.chunk" : "text_completion",
                     "created", (json_int_t)r->created, "model", r->srv->alias);
}

static void sse_add(srv_req *r, json_t *chunk) {
    char *t = json_dumps(chunk, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (t) {
        srv_buf_add(&r->sse, "data: ", 6);
        srv_buf_add(&r->sse, t, strlen(t));
        srv_buf_add(&r->sse, "\n\n", 2);
    }
    free(t);
    json_decref(chunk);
}

void oai_finish_tools(srv_req *r, srv_choice *c) {
    kw_chat_reply rep;
    if (!c->gen || kw_gen_reply(c->gen, &rep) != KW_OK) return;
    json_t *calls = json_array();
    for (int32_t i = 0; calls && i < rep.n_tool_calls; i++) {
        char id[96];
        if (*rep.tool_calls[i].id)
            snprintf(id, sizeof id, "%s", rep.tool_calls[i].id);
        else
            snprintf(id, sizeof id, "call_%s_%d_%d", r->id, c->index, i);
        json_array_append_new(calls,
                              json_pack("{s:s, s:s, s:{s:s, s:s}}", "id", id, "type", "function",
                                        "function", "name", rep.tool_calls[i].name, "arguments",
                                        rep.tool_calls[i].arguments));
    }
    if (rep.n_tool_calls > 0) {
        c->content.n = 0;
        srv_buf_add(&c->content, rep.content, strlen(rep.content));
        json_decref(c->tool_calls);
        c->tool_calls = calls;
    } else {
        json_decref(calls);
    }
    kw_chat_reply_free(&rep);
}

/* With tools, content is held back until the reply is parsed and goes out with the calls. */
static void tool_delta(srv_choice *c, json_t *delta) {
    if (c->content.n > 0) json_object_set_new(delta, "content", json_string(c->content.p));
    size_t n = c->tool_calls ? json_array_size(c->tool_calls) : 0;
    if (n == 0) return;
    json_t *calls = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *tc = json_deep_copy(json_array_get(c->tool_calls, i));
        json_object_set_new(tc, "index", json_integer((json_int_t)i));
        json_array_append_new(calls, tc);
    }
    json_object_set_new(delta, "tool_calls", calls);
}

void oai_stream_event(srv_req *r, srv_choice *c, const kw_gen_event *ev) {
    const bool tools = srv_spec_tools_on(&r->spec);
    if (tools && ev->finish == KW_FINISH_NONE && ev->reasoning_len == 0) return;
    const bool has_text = (!tools && ev->content_len > 0) || ev->reasoning_len > 0;
    if (!has_text && ev->finish == KW_FINISH_NONE && !(r->spec.logprobs && c->logprobs)) return;
    json_t *chunk = chunk_base(r), *choice = json_object();
    json_object_set_new(choice, "index", json_integer(c->index));
    const char *fin = finish_str(ev->finish);
    if (r->spec.kind == SRV_CHAT) {
        json_t *delta = json_object();
        if (!c->sent_role) {
            json_object_set_new(delta, "role", json_string("assistant"));
            c->sent_role = true;
        }
        if (tools && fin)
            tool_delta(c, delta);
        else if (ev->content_len > 0 && !tools)
            json_object_set_new(delta, "content",
                                json_stringn(ev->content, (size_t)ev->content_len));
        else if (!fin)
            json_object_set_new(delta, "content", json_string(""));
        if (ev->reasoning_len > 0)
            json_object_set_new(delta, "reasoning_content",
                                json_stringn(ev->reasoning, (size_t)ev->reasoning_len));
        json_object_set_new(choice, "delta", delta);
        if (r->spec.logprobs && c->logprobs && json_array_size(c->logprobs) > 0) {
            json_object_set_new(choice, "logprobs", json_pack("{s:o}", "content", c->logprobs));
            c->logprobs = json_array(); /* the sent entries went with the chunk */
        } else {
            json_object_set_new(choice, "logprobs", json_null());
        }
    } else {
        json_object_set_new(choice, "text", json_stringn(ev->content, (size_t)ev->content_len));
        if (r->spec.logprobs && c->logprobs && json_array_size(c->logprobs) > 0) {
            json_object_set_new(choice, "logprobs", completion_logprobs(c->logprobs));
            json_array_clear(c->logprobs);
        } else {
            json_object_set_new(choice, "logprobs", json_null());
        }
    }
    json_object_set_new(choice, "finish_reason", fin ? json_string(fin) : json_null());
    json_object_set_new(chunk, "choices", json_pack("[o]", choice));
    sse_add(r, chunk);
}

void oai_stream_final(srv_req *r) {
    if (r->spec.include_usage) {
        json_t *chunk = chunk_base(r);
        json_object_set_new(chunk, "choices", json_array());
        json_object_set_new(chunk, "usage", usage_json(r));
        sse_add(r, chunk);
    }
    srv_buf_add(&r->sse, "data: [DONE]\n\n", 14);
}

char *oai_response_json(const srv_req *r) {
    json_t *o = json_pack("{s:s, s:s, s:I, s:s}", "id", r->id, "object",
                          r->spec.kind == SRV_CHAT ? "chat.completion" : "text_completion",
                          "created", (json_int_t)r->created, "model", r->srv->alias);
    json_t *choices = json_array();
    for (int32_t i = 0; i < r->spec.n; i++) {
        const srv_choice *c = &r->choices[i];
        json_t *ch = json_object();
        json_object_set_new(ch, "index", json_integer(i));
        const char *content = c->content.p ? c->content.p : "";
        if (r->spec.kind == SRV_CHAT) {
            bool calls = c->tool_calls && json_array_size(c->tool_calls) > 0;
            json_t *msg = json_pack("{s:s, s:o}", "role", "assistant", "content",
                                    calls && !*content ? json_null() : json_string(content));
            if (c->reasoning.n > 0)
                json_object_set_new(msg, "reasoning_content", json_string(c->reasoning.p));
            if (calls) json_object_set(msg, "tool_calls", c->tool_calls);
            json_object_set_new(ch, "message", msg);
            json_object_set_new(ch, "logprobs",
                                r->spec.logprobs && c->logprobs
                                    ? json_pack("{s:O}", "content", c->logprobs)
                                    : json_null());
        } else {
            json_object_set_new(ch, "text", json_string(content));
            json_object_set_new(ch, "logprobs",
                                r->spec.logprobs && c->logprobs ? completion_logprobs(c->logprobs)
                                                                : json_null());
        }
        const char *fin = finish_str(c->finish);
        json_object_set_new(ch, "finish_reason", json_string(fin ? fin : "stop"));
        json_array_append_new(choices, ch);
    }
    json_object_set_new(o, "choices", choices);
    json_object_set_new(o, "usage", usage_json(r));
    char *t = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    return t;
}
