/* jinja.h - the chat-template engine: a Jinja2 dialect that renders byte for byte like
 * @huggingface/jinja 0.5.11 (the interpreter transformers.js uses for chat templates).
 *
 * Usage: parse once, render many times with a context given as a JSON object.
 *
 *     jinja_template *t;
 *     if (jinja_template_parse(src, strlen(src), &t) != KW_OK) puts(kw_last_error());
 *     char *text; size_t len;
 *     jinja_template_render(t, "{\"messages\": [...], \"add_generation_prompt\": true}", NULL,
 *                           &text, &len);
 *     free(text); jinja_template_free(t);
 *
 * Relies on: base (errors, memory, UTF-8), jansson (context JSON), utf8proc (case mapping).
 * Must not: crash, loop forever or recurse without bound on any template or context; every
 * failure is a kw_status with a message naming the construct and its template line:column.
 */
#ifndef KAIWU_CHAT_JINJA_H
#define KAIWU_CHAT_JINJA_H

#include "base/base.h"

typedef struct jinja_template jinja_template;

/* Parses len bytes of template source (UTF-8) with the options transformers uses
 * (trim_blocks, lstrip_blocks, one trailing newline dropped). On success *out is owned by the
 * caller: free with jinja_template_free(). A template is immutable after parsing and may be
 * rendered from several threads at once. Fails with KW_ERR_FORMAT (syntax) or
 * KW_ERR_UNSUPPORTED (a construct this engine does not implement), naming line:column. */
kw_status jinja_template_parse(const char *src, size_t len, jinja_template **out);
void jinja_template_free(jinja_template *t); /* NULL is allowed */

typedef struct jinja_render_opts {
    int64_t now;       /* seconds since the epoch that strftime_now() formats; -1: the clock */
    bool now_utc;      /* format "now" in UTC (the fixtures) rather than local time */
    size_t max_output; /* bytes; 0: 64 MiB. Larger renderings fail, they are not cut */
} jinja_render_opts;

/* Renders with the variables of context_json (a JSON object; key order is kept, as JSON.parse
 * does). opts may be NULL for the defaults. On success *out (NUL-terminated, owned by the caller:
 * free()) holds the text and *out_len its length (out_len may be NULL). A template that calls
 * raise_exception() fails with KW_ERR_FORMAT and the message "raise_exception: <text>"; an
 * operation the reference interpreter refuses fails with KW_ERR_FORMAT or KW_ERR_UNSUPPORTED.
 * On failure *out is untouched. */
kw_status jinja_template_render(const jinja_template *t, const char *context_json,
                                const jinja_render_opts *opts, char **out, size_t *out_len);

/* The same with the context as a jansson object (json_t *, borrowed). */
kw_status jinja_template_render_json(const jinja_template *t, const void *context,
                                     const jinja_render_opts *opts, char **out, size_t *out_len);

#endif
