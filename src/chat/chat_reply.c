/* chat_reply.c - splits a generated reply into content, reasoning and tool calls.
 *
 * Reasoning: the <think>…</think> block. Reasoning models whose generation prompt already opened
 * the block (DeepSeek-R1 distills, QwQ) only emit the closing tag, so text before a "</think>"
 * with no "<think>" in front of it is reasoning too. Tool calls: the rest is handed to the
 * scanner of the reply's format (chat_tool_parse.c); kw_chat_parse_reply is the Qwen/Hermes form
 * <tool_call>{"name": ..., "arguments": {...}}</tool_call>.
 *
 * Relies on: jansson (tool-call JSON, the tools array). Must not: drop text it does not
 * understand (a malformed tool call stays in the content, counted) or read past len (the reply
 * need not be NUL-terminated).
 */
#include "base/base.h"
#include "chat/chat_tools.h"
#include "kaiwu.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static const char THINK_OPEN[] = "<think>", THINK_CLOSE[] = "</think>";

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

bool chat_buf_add(chat_buf *b, const char *s, size_t n) {
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = kw_realloc(b->p, cap, "chat reply text");
        if (!p) return false;
        b->p = p;
        b->cap = cap;
    }
    if (n) memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
    return true;
}

kw_status kw_chat_parse_reply(const char *text, size_t len, bool thinking_open,
                              kw_chat_reply *out) {
    return kw_chat_parse_tool_reply(text, len, thinking_open, KW_TOOL_FORMAT_HERMES, NULL, out);
}

kw_status kw_chat_parse_tool_reply(const char *text, size_t len, bool thinking_open,
                                   kw_tool_format format, const char *tools_json,
                                   kw_chat_reply *out) {
    kw_error_clear();
    if (!out) return kw_error(KW_ERR_INVALID_ARG, "kw_chat_parse_tool_reply: NULL out");
    memset(out, 0, sizeof *out);
    if (!text && len) return kw_error(KW_ERR_INVALID_ARG, "kw_chat_parse_tool_reply: NULL text");
    if ((unsigned)format >= KW_TOOL_FORMAT_COUNT)
        return kw_error(KW_ERR_INVALID_ARG, "kw_chat_parse_tool_reply: format %d is out of range",
                        (int)format);
    if (!text) text = "";
    chat_tools tools = {0};
    if (tools_json) {
        kw_status st = chat_tools_load(tools_json, &tools);
        if (st != KW_OK) return st;
    }
    kw_chat_reply r = {0};
    chat_parse c = {.r = &r, .fmt = format, .tools = tools_json ? &tools : NULL, .text = text};
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
    ok = ok && chat_tool_scan(&c, text, (size_t)(before_end - text));
    ok = ok && chat_tool_scan(&c, after, len - (size_t)(after - text));
    ok = ok && !c.nomem &&
         (r.content = trimmed(c.content.p ? c.content.p : "", c.content.len)) != NULL;
    free(c.content.p);
    chat_tools_free(&tools);
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
    free(reply->warning);
    memset(reply, 0, sizeof *reply);
}
