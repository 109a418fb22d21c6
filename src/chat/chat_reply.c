/* chat_reply.c - splits a generated reply into content, reasoning and tool calls.
 *
 * Reasoning: the <think>…</think> block. Reasoning models whose generation prompt already opened
 * the block (DeepSeek-R1 distills, QwQ) only emit the closing tag, so text before a "</think>"
 * with no "<think>" in front of it is reasoning too. Tool calls: the Qwen/Hermes form
 * <tool_call>{"name": ..., "arguments": {...}}</tool_call>, one JSON object per block.
 *
 * Relies on: jansson (tool-call JSON). Must not: drop text it does not understand (a malformed
 * tool-call block stays in the content) or read past len (the reply need not be NUL-terminated).
 */
#include "base/base.h"
#include "kaiwu.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static const char THINK_OPEN[] = "<think>", THINK_CLOSE[] = "</think>";
static const char CALL_OPEN[] = "<tool_call>", CALL_CLOSE[] = "</tool_call>";

/* First occurrence of needle in hay[0..n), or NULL. */
static const char *find(const char *hay, size_t n, const char *needle) {
    size_t k = strlen(needle);
    if (k > n) return NULL;
    for (size_t i = 0; i + k <= n; i++)
        if (hay[i] == needle[0] && memcmp(hay + i, needle, k) == 0) return hay + i;
    return NULL;
}

static bool is_space(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }

/* A trimmed copy of s[0..n) (owned by the caller), or NULL when out of memory. */
static char *trimmed(const char *s, size_t n) {
    while (n > 0 && is_space(*s))
        s++, n--;
    while (n > 0 && is_space(s[n - 1]))
        n--;
    return kw_strndup(s, n);
}

/* A growing byte buffer for the content outside reasoning and tool calls. */
typedef struct sbuf {
    char *p;
    size_t len, cap;
} sbuf;

static bool sbuf_add(sbuf *b, const char *s, size_t n) {
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = kw_realloc(b->p, cap, "chat reply text");
        if (!p) return false;
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
    return true;
}

/* Parses one tool-call body; false (and nothing added) when it is not {"name": "...", ...}. */
static bool parse_call(const char *s, size_t n, kw_chat_reply *r, bool *nomem) {
    json_error_t err;
    json_t *j = json_loadb(s, n, 0, &err);
    json_t *name = j ? json_object_get(j, "name") : NULL;
    if (!j || !json_is_object(j) || !json_is_string(name)) {
        json_decref(j);
        return false;
    }
    json_t *args = json_object_get(j, "arguments");
    if (!args) args = json_object_get(j, "parameters");
    json_t *id = json_object_get(j, "id");
    char *args_text = !args ? kw_strdup("{}")
                      : json_is_string(args)
                          ? kw_strdup(json_string_value(args))
                          : json_dumps(args, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
    kw_chat_tool_call *calls =
        kw_realloc(r->tool_calls, (size_t)(r->n_tool_calls + 1) * sizeof *calls, "tool calls");
    char *name_text = kw_strdup(json_string_value(name));
    char *id_text = kw_strdup(json_is_string(id) ? json_string_value(id) : "");
    json_decref(j);
    if (calls) r->tool_calls = calls;
    if (!calls || !args_text || !name_text || !id_text) {
        free(args_text), free(name_text), free(id_text);
        *nomem = true;
        return false;
    }
    calls[r->n_tool_calls++] =
        (kw_chat_tool_call){.id = id_text, .name = name_text, .arguments = args_text};
    return true;
}

/* Moves s[0..n) into content, taking out each well-formed tool-call block. */
static bool split_tool_calls(const char *s, size_t n, kw_chat_reply *r, sbuf *content) {
    bool nomem = false;
    while (n > 0) {
        const char *open = find(s, n, CALL_OPEN);
        const char *body = open ? open + sizeof CALL_OPEN - 1 : NULL;
        const char *close = body ? find(body, n - (size_t)(body - s), CALL_CLOSE) : NULL;
        if (!close) return sbuf_add(content, s, n);
        size_t end = (size_t)(close - s) + sizeof CALL_CLOSE - 1;
        if (!sbuf_add(content, s, (size_t)(open - s))) return false;
        if (!parse_call(body, (size_t)(close - body), r, &nomem)) {
            if (nomem || !sbuf_add(content, open, end - (size_t)(open - s))) return false;
        }
        s += end;
        n -= end;
    }
    return true;
}

kw_status kw_chat_parse_reply(const char *text, size_t len, bool thinking_open,
                              kw_chat_reply *out) {
    kw_error_clear();
    if (!out) return kw_error(KW_ERR_INVALID_ARG, "kw_chat_parse_reply: NULL out");
    memset(out, 0, sizeof *out);
    if (!text && len) return kw_error(KW_ERR_INVALID_ARG, "kw_chat_parse_reply: NULL text");
    if (!text) text = "";
    kw_chat_reply r = {0};
    sbuf content = {0};
    const char *open = find(text, len, THINK_OPEN);
    const char *close = find(text, len, THINK_CLOSE);
    const char *rs = NULL, *re = NULL; /* the reasoning text */
    const char *before_end = text, *after = text;
    if (thinking_open || (close && (!open || open > close))) {
        rs = text;
        re = close ? close : text + len;
        after = close ? close + sizeof THINK_CLOSE - 1 : text + len;
    } else if (open) {
        before_end = open;
        rs = open + sizeof THINK_OPEN - 1;
        const char *c2 = find(rs, len - (size_t)(rs - text), THINK_CLOSE);
        re = c2 ? c2 : text + len;
        after = c2 ? c2 + sizeof THINK_CLOSE - 1 : text + len;
    }
    bool ok = true;
    if (rs) {
        r.reasoning_content = trimmed(rs, (size_t)(re - rs));
        ok = r.reasoning_content != NULL;
        if (ok && !*r.reasoning_content) {
            free(r.reasoning_content);
            r.reasoning_content = NULL;
        }
    }
    ok = ok && split_tool_calls(text, (size_t)(before_end - text), &r, &content);
    ok = ok && split_tool_calls(after, len - (size_t)(after - text), &r, &content);
    ok = ok && (r.content = trimmed(content.p ? content.p : "", content.len)) != NULL;
    free(content.p);
    if (!ok) {
        kw_chat_reply_free(&r);
        return kw_error(KW_ERR_NOMEM, "chat reply: out of memory splitting %zu bytes", len);
    }
    *out = r;
    return KW_OK;
}

void kw_chat_reply_free(kw_chat_reply *reply) {
    if (!reply) return;
    free(reply->content);
    free(reply->reasoning_content);
    for (int32_t i = 0; i < reply->n_tool_calls; i++) {
        free(reply->tool_calls[i].id);
        free(reply->tool_calls[i].name);
        free(reply->tool_calls[i].arguments);
    }
    free(reply->tool_calls);
    memset(reply, 0, sizeof *reply);
}
