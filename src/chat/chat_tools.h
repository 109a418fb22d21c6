/* chat_tools.h - internals shared by the tool-call files of src/chat: the OpenAI tools array read
 * into (name, parameters) pairs, used by the reply parser (to type raw XML values) and by the
 * forced-call grammar.
 *
 * Layer: chat (uses base and jansson).
 */
#ifndef KAIWU_CHAT_TOOLS_H
#define KAIWU_CHAT_TOOLS_H

#include "kaiwu.h"

#include <jansson.h>

typedef struct chat_tool {
    const char *name; /* borrowed from the chat_tools' JSON */
    json_t *params;   /* borrowed: the "parameters" schema, or NULL when the tool has none */
} chat_tool;

typedef struct chat_tools {
    json_t *root; /* owned: the parsed tools array */
    chat_tool *v; /* owned: n entries */
    size_t n;
} chat_tools;

/* Reads tools_json: [{"type": "function", "function": {"name", "parameters"}}] or bare
 * {"name", "parameters"} items. KW_ERR_INVALID_ARG naming the item when it is not that; on
 * failure *out is zeroed. Free with chat_tools_free. */
kw_status chat_tools_load(const char *tools_json, chat_tools *out);
void chat_tools_free(chat_tools *t);
/* The tool named name[0..n), or NULL. */
const chat_tool *chat_tools_find(const chat_tools *t, const char *name, size_t n);

/* ---- reply parsing (chat_tool_parse.c), driven by chat_reply.c */

/* A growing byte buffer, NUL-terminated once it holds anything. */
typedef struct chat_buf {
    char *p;
    size_t len, cap;
} chat_buf;
bool chat_buf_add(chat_buf *b, const char *s, size_t n); /* false when out of memory */

/* What one reply's parse accumulates. */
typedef struct chat_parse {
    kw_chat_reply *r;        /* calls, malformed count and warning go here */
    chat_buf content;        /* the text outside reasoning and calls */
    kw_tool_format fmt;      /* the format looked for */
    const chat_tools *tools; /* NULL, or the tools (types raw XML values, names GLM-4 calls) */
    const char *text;        /* the whole reply: warnings give byte offsets into it */
    bool nomem;              /* an allocation failed: the parse fails */
} chat_parse;

/* Moves s[0..n) (a part of c->text outside reasoning) into content, taking out every call of
 * c->fmt; a malformed call stays in content and is counted. False when out of memory. */
bool chat_tool_scan(chat_parse *c, const char *s, size_t n);

#endif
