/* chat_template.c - the public chat-template API of kaiwu.h: builds the render context the way
 * transformers' apply_chat_template does (messages, add_generation_prompt, tools, documents,
 * then the caller's extra variables) and renders with the Jinja engine.
 *
 * Relies on: chat/jinja (engine), jansson (parsing the caller's JSON).
 * Must not: keep any reference to the caller's strings after returning.
 */
#include "chat/jinja.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

struct kw_chat_template {
    jinja_template *t;
};

kw_status kw_chat_template_parse(const char *template_src, kw_chat_template **out) {
    kw_error_clear();
    if (!template_src || !out)
        return kw_error(KW_ERR_INVALID_ARG, "kw_chat_template_parse: NULL %s",
                        !template_src ? "template_src" : "out");
    kw_chat_template *ct = kw_calloc(1, sizeof *ct, "chat template");
    if (!ct) return KW_ERR_NOMEM;
    kw_status st = jinja_template_parse(template_src, strlen(template_src), &ct->t);
    if (st != KW_OK) {
        free(ct);
        return st;
    }
    *out = ct;
    return KW_OK;
}

void kw_chat_template_free(kw_chat_template *tmpl) {
    if (!tmpl) return;
    jinja_template_free(tmpl->t);
    free(tmpl);
}

static kw_status parse_arg(const char *text, const char *what, json_type want, json_t **out) {
    json_error_t err;
    json_t *j = json_loads(text, JSON_ALLOW_NUL, &err);
    if (!j)
        return kw_error(KW_ERR_INVALID_ARG,
                        "chat template %s: invalid JSON: %s at line %d column %d", what, err.text,
                        err.line, err.column);
    if (json_typeof(j) != want) {
        json_decref(j);
        return kw_error(KW_ERR_INVALID_ARG, "chat template %s must be a JSON %s", what,
                        want == JSON_ARRAY ? "array" : "object");
    }
    *out = j;
    return KW_OK;
}

kw_status kw_chat_template_apply(const kw_chat_template *tmpl, const char *messages_json,
                                 const char *tools_json, bool add_generation_prompt,
                                 const char *extra_vars_json, char **out) {
    kw_error_clear();
    if (!tmpl || !messages_json || !out)
        return kw_error(KW_ERR_INVALID_ARG, "kw_chat_template_apply: NULL %s",
                        !tmpl            ? "template"
                        : !messages_json ? "messages_json"
                                         : "out");
    json_t *messages = NULL, *tools = NULL, *extra = NULL, *ctx = NULL;
    kw_status st = parse_arg(messages_json, "messages", JSON_ARRAY, &messages);
    if (st == KW_OK && tools_json) st = parse_arg(tools_json, "tools", JSON_ARRAY, &tools);
    if (st == KW_OK && extra_vars_json)
        st = parse_arg(extra_vars_json, "extra variables", JSON_OBJECT, &extra);
    if (st != KW_OK) goto out_free;
    ctx = json_object();
    json_object_set_new(ctx, "messages", messages);
    messages = NULL;
    json_object_set_new(ctx, "add_generation_prompt", json_boolean(add_generation_prompt));
    json_object_set_new(ctx, "tools", tools ? tools : json_null());
    tools = NULL;
    json_object_set_new(ctx, "documents", json_null());
    if (extra) json_object_update(ctx, extra);
    jinja_render_opts opts = {.now = -1};
    st = jinja_template_render_json(tmpl->t, ctx, &opts, out, NULL);
out_free:
    json_decref(ctx);
    json_decref(messages);
    json_decref(tools);
    json_decref(extra);
    return st;
}

kw_status kw_chat_template_render(const char *template_src, const char *messages_json,
                                  const char *tools_json, bool add_generation_prompt,
                                  const char *extra_vars_json, char **out) {
    kw_error_clear();
    kw_chat_template *t;
    kw_status st = kw_chat_template_parse(template_src, &t);
    if (st != KW_OK) return st;
    st = kw_chat_template_apply(t, messages_json, tools_json, add_generation_prompt,
                                extra_vars_json, out);
    kw_chat_template_free(t);
    return st;
}
