/* jinja_template.c - the Jinja engine's entry points: parse a template once (tokens -> AST in
 * the template's own arena), render it many times (each render has its own arena, freed
 * before returning; the text is copied out with malloc).
 *
 * Relies on: jinja_lexer, jinja_parser, jinja_eval, jinja_builtins, jansson.
 * Must not: leak on any failure path (errors unwind with longjmp to the setjmp here, and
 * everything made in between lives in the arena).
 */
#include "chat/jinja_impl.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#define PARSE_ARENA_LIMIT  ((size_t)256 << 20)
#define RENDER_ARENA_LIMIT ((size_t)256 << 20)
#define DEFAULT_MAX_OUTPUT ((size_t)64 << 20)

struct jinja_template {
    jctx cx;     /* holds the tokens and the AST */
    jnode *root; /* root->list / root->n: the program's statements */
};

kw_status jinja_template_parse(const char *src, size_t len, jinja_template **out) {
    if (!src || !out)
        return kw_error(KW_ERR_INVALID_ARG, "jinja_template_parse: NULL %s",
                        !src ? "source" : "out");
    if (len > (size_t)INT32_MAX)
        return kw_error(KW_ERR_INVALID_ARG, "template of %zu bytes is too large", len);
    jinja_template *t = kw_calloc(1, sizeof *t, "jinja template");
    if (!t) return KW_ERR_NOMEM;
    jctx_init(&t->cx, PARSE_ARENA_LIMIT);
    if (setjmp(t->cx.jb)) {
        kw_status st = t->cx.status;
        kw_error(st, "%s", t->cx.msg);
        jctx_free(&t->cx);
        free(t);
        return st;
    }
    jtoks toks = {0};
    jinja_lex(&t->cx, src, len, &toks);
    t->root = jinja_parse_tokens(&t->cx, &toks);
    *out = t;
    return KW_OK;
}

void jinja_template_free(jinja_template *t) {
    if (!t) return;
    jctx_free(&t->cx);
    free(t);
}

kw_status jinja_template_render_json(const jinja_template *t, const void *context,
                                     const jinja_render_opts *opts, char **out, size_t *out_len) {
    if (!t || !out)
        return kw_error(KW_ERR_INVALID_ARG, "jinja_template_render: NULL %s",
                        !t ? "template" : "out");
    const json_t *ctx = context;
    if (ctx && !json_is_object(ctx))
        return kw_error(KW_ERR_INVALID_ARG, "template context must be a JSON object");
    jctx *cx = kw_malloc(sizeof *cx, "jinja render context");
    if (!cx) return KW_ERR_NOMEM;
    jctx_init(cx, RENDER_ARENA_LIMIT);
    if (setjmp(cx->jb)) {
        kw_status st = cx->status;
        kw_error(st, "%s", cx->msg);
        jctx_free(cx);
        free(cx);
        return st;
    }
    jrun r = {.cx = cx, .now = -1};
    if (opts) {
        r.now = opts->now;
        r.now_utc = opts->now_utc;
        r.max_output = opts->max_output;
    }
    if (!r.max_output) r.max_output = DEFAULT_MAX_OUTPUT;
    jenv *g = jenv_new(cx, NULL);
    jinja_setup_globals(&r, g);
    if (ctx) {
        const char *key;
        json_t *val;
        json_object_foreach((json_t *)ctx, key, val) {
            size_t kl = strlen(key);
            jenv_set(cx, g, ja_strndup(cx, key, kl), kl, jv_from_json(cx, val, 0));
        }
    }
    r.globals = g;
    jbuf b = {.max = r.max_output};
    jexec_block(&r, t->root->list, t->root->n, g, &b);
    if (r.ctrl)
        jfail(cx, KW_ERR_FORMAT,
              "template error: {%% break %%} or {%% continue %%} outside a loop");
    char *text = kw_malloc(b.len + 1, "jinja rendering");
    if (!text) jfail(cx, KW_ERR_NOMEM, "out of memory copying a rendering of %zu bytes", b.len);
    if (b.len) memcpy(text, b.p, b.len);
    text[b.len] = 0;
    *out = text;
    if (out_len) *out_len = b.len;
    jctx_free(cx);
    free(cx);
    return KW_OK;
}

kw_status jinja_template_render(const jinja_template *t, const char *context_json,
                                const jinja_render_opts *opts, char **out, size_t *out_len) {
    json_t *ctx = NULL;
    if (context_json) {
        json_error_t err;
        ctx = json_loads(context_json, JSON_ALLOW_NUL, &err);
        if (!ctx)
            return kw_error(KW_ERR_FORMAT, "template context JSON: %s at line %d column %d",
                            err.text, err.line, err.column);
    }
    kw_status st = jinja_template_render_json(t, ctx, opts, out, out_len);
    json_decref(ctx);
    return st;
}
