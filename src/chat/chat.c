/* chat.c - kw_chat: a conversation rendered for one model. Picks the template (the model's own
 * tokenizer.chat_template, or a built-in format the caller names), supplies bos_token/eos_token
 * from the model's vocabulary, and tokenizes renderings with special tokens parsed and BOS never
 * doubled.
 *
 * With format "auto", a model without a template gets the built-in format its vocabulary's special
 * tokens point to (llama3 for <|start_header_id|>, ...; chatml when none), and a note saying so.
 *
 * Relies on: the chat-template API (kw_chat_template_*), the model and tokenizer API of kaiwu.h,
 * jansson (merging the caller's extra variables). Must not: fall back to a built-in format unless
 * asked ("auto"), or without a note saying which and why.
 */
#include "base/base.h"
#include "kaiwu.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

struct kw_chat {
    const kw_model *model;      /* borrowed */
    kw_chat_template *tmpl;     /* owned */
    const char *format;         /* "model template" or a built-in name (static storage) */
    char *bos_text;             /* owned; NULL when the model has no BOS token */
    char *eos_text;             /* owned; NULL when the model has no EOS token */
    char *note;                 /* owned; why a built-in format was chosen ("auto"), or NULL */
    kw_tool_format tool_format; /* the tool-call form the template teaches */
};

/* The text of a special token as the template expects it ("<s>", "<|im_end|>"), or NULL. */
static char *token_text(const kw_model *model, kw_token tok) {
    if (tok == KW_TOKEN_NONE) return NULL;
    char buf[256];
    int32_t n = kw_token_to_piece(model, tok, buf, (int32_t)sizeof buf - 1, true);
    if (n <= 0 || n >= (int32_t)sizeof buf) return NULL;
    return kw_strndup(buf, (size_t)n);
}

/* The built-in format's static name for a user-given name. */
static const char *static_format_name(const char *name) {
    static const char *const names[] = {"chatml", "llama3",   "llama2",   "gemma",  "phi3",
                                        "glm4",   "chatglm4", "deepseek", "minicpm"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(names[i], name) == 0) return names[i];
    return NULL;
}

/* True when text is one special token of the model's vocabulary. */
static bool has_special(const kw_model *model, const char *text) {
    kw_token t[2];
    int32_t n = 0;
    return kw_tokenize(model, text, strlen(text), false, true, t, 2, &n) == KW_OK && n == 1 &&
           kw_token_is_special(model, t[0]);
}

/* The built-in format a model without a template most likely wants, from the special tokens its
 * vocabulary has (the markers each format uses); *why names the token. chatml when none matches. */
static const char *guess_format(const kw_model *model, const char **why) {
    static const struct {
        const char *token, *format;
    } marks[] = {
        {"<|start_header_id|>", "llama3"},
        {"<start_of_turn>", "gemma"},
        {"<|im_start|>", "chatml"},
        {"[gMASK]", "glm4"},
        {"<|assistant|>", "phi3"},
        {"<\xef\xbd\x9cUser\xef\xbd\x9c>", "deepseek"},
        {"<\xe7\x94\xa8\xe6\x88\xb7>", "minicpm"},
    };
    for (size_t i = 0; i < sizeof marks / sizeof marks[0]; i++)
        if (has_special(model, marks[i].token)) {
            *why = marks[i].token;
            return marks[i].format;
        }
    if (strcmp(kw_model_tokenizer_kind(model), "spm") == 0 && kw_token_bos(model) >= 0) {
        *why = "a SentencePiece vocabulary with BOS/EOS and none of the other formats' markers";
        return "llama2";
    }
    *why = NULL;
    return "chatml";
}

/* A caller's template text rather than a format name: it has Jinja tags. */
static bool is_template_text(const char *format) {
    return strstr(format, "{{") || strstr(format, "{%");
}

/* Picks the template source and the name kw_chat_format_used reports; *note (owned) explains a
 * fallback. */
static kw_status pick_template(const kw_model *model, const char *format, const char **src,
                               const char **name, char **note) {
    *note = NULL;
    bool is_auto = format && strcmp(format, "auto") == 0;
    if (format && *format && !is_auto) {
        if (is_template_text(format)) {
            *src = format;
            *name = "custom template";
            return KW_OK;
        }
        *src = kw_chat_format_source(format);
        *name = *src ? static_format_name(format) : NULL;
        if (!*src || !*name)
            return kw_error(KW_ERR_INVALID_ARG, "unknown chat format '%s' (built-in formats: %s)",
                            format, kw_chat_format_names());
        return KW_OK;
    }
    *src = kw_model_chat_template(model);
    *name = "model template";
    if (*src && **src) return KW_OK;
    if (!is_auto)
        return kw_error(KW_ERR_INVALID_ARG,
                        "model '%s' has no chat template (tokenizer.chat_template); choose a "
                        "built-in format: %s",
                        kw_model_name(model), kw_chat_format_names());
    const char *why = NULL;
    *name = guess_format(model, &why);
    *src = kw_chat_format_source(*name);
    char buf[512];
    if (why)
        snprintf(buf, sizeof buf,
                 "the model has no chat template: using the built-in '%s' format (its vocabulary "
                 "has %s)",
                 *name, why);
    else
        snprintf(buf, sizeof buf,
                 "the model has no chat template: using the built-in '%s' format (the default; "
                 "its vocabulary has no other format's markers)",
                 *name);
    *note = kw_strdup(buf);
    return *note ? KW_OK : KW_ERR_NOMEM;
}

/* The tool-call format of the template: read from its text, or for a built-in format (whose small
 * templates render no tools) the form its model family is trained on. */
static kw_tool_format builtin_tool_format(const char *name, const char *src) {
    if (strcmp(name, "llama3") == 0) return KW_TOOL_FORMAT_LLAMA3;
    if (strcmp(name, "glm4") == 0 || strcmp(name, "chatglm4") == 0) return KW_TOOL_FORMAT_GLM4;
    if (strcmp(name, "deepseek") == 0) return KW_TOOL_FORMAT_DEEPSEEK_R1;
    if (static_format_name(name)) return KW_TOOL_FORMAT_HERMES;
    return kw_tool_format_detect(src, NULL);
}

kw_status kw_chat_create(const kw_model *model, const char *format, kw_chat **out) {
    kw_error_clear();
    if (!model || !out)
        return kw_error(KW_ERR_INVALID_ARG, "kw_chat_create: NULL %s", !model ? "model" : "out");
    const char *src, *name;
    char *note = NULL;
    kw_status st = pick_template(model, format, &src, &name, &note);
    if (st != KW_OK) return st;
    kw_chat *c = kw_calloc(1, sizeof *c, "chat");
    if (!c) {
        free(note);
        return KW_ERR_NOMEM;
    }
    c->model = model;
    c->format = name;
    c->note = note;
    st = kw_chat_template_parse(src, &c->tmpl);
    if (st != KW_OK) {
        kw_error_wrap(st, "chat template (%s)", name);
        free(c->note);
        free(c);
        return st;
    }
    c->tool_format = builtin_tool_format(name, src);
    c->bos_text = token_text(model, kw_token_bos(model));
    c->eos_text = token_text(model, kw_token_eos(model));
    *out = c;
    return KW_OK;
}

void kw_chat_free(kw_chat *chat) {
    if (!chat) return;
    kw_chat_template_free(chat->tmpl);
    free(chat->bos_text);
    free(chat->eos_text);
    free(chat->note);
    free(chat);
}

const char *kw_chat_format_used(const kw_chat *chat) { return chat ? chat->format : ""; }
const char *kw_chat_format_note(const kw_chat *chat) { return chat ? chat->note : NULL; }
kw_tool_format kw_chat_tool_format(const kw_chat *chat) {
    return chat ? chat->tool_format : KW_TOOL_FORMAT_HERMES;
}

/* {"bos_token": ..., "eos_token": ...} merged with the caller's extra variables (which win), as
 * JSON text (owned by the caller: free()). A token the model lacks is not passed, as
 * transformers leaves a null special token out of the context. */
static kw_status build_extra(const kw_chat *chat, const char *extra_vars_json, char **out) {
    json_t *vars = json_object();
    if (!vars) return kw_error(KW_ERR_NOMEM, "chat: out of memory building the template variables");
    if (chat->bos_text) json_object_set_new(vars, "bos_token", json_string(chat->bos_text));
    if (chat->eos_text) json_object_set_new(vars, "eos_token", json_string(chat->eos_text));
    if (extra_vars_json) {
        json_error_t err;
        json_t *extra = json_loads(extra_vars_json, 0, &err);
        if (!extra || !json_is_object(extra)) {
            json_decref(extra);
            json_decref(vars);
            return kw_error(KW_ERR_INVALID_ARG,
                            "chat extra variables must be a JSON object (%s at line %d column %d)",
                            extra ? "not an object" : err.text, err.line, err.column);
        }
        json_object_update(vars, extra);
        json_decref(extra);
    }
    *out = json_dumps(vars, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(vars);
    return *out ? KW_OK : kw_error(KW_ERR_NOMEM, "chat: out of memory building the variables");
}

kw_status kw_chat_render(const kw_chat *chat, const char *messages_json, const char *tools_json,
                         bool add_generation_prompt, const char *extra_vars_json, char **out) {
    kw_error_clear();
    if (!chat || !messages_json || !out)
        return kw_error(KW_ERR_INVALID_ARG, "kw_chat_render: NULL %s",
                        !chat            ? "chat"
                        : !messages_json ? "messages_json"
                                         : "out");
    char *vars = NULL;
    kw_status st = build_extra(chat, extra_vars_json, &vars);
    if (st != KW_OK) return st;
    st = kw_chat_template_apply(chat->tmpl, messages_json, tools_json, add_generation_prompt, vars,
                                out);
    free(vars);
    return st;
}

kw_status kw_chat_tokenize(const kw_chat *chat, const char *text, kw_token **out, int32_t *n_out) {
    kw_error_clear();
    if (!chat || !text || !out || !n_out)
        return kw_error(KW_ERR_INVALID_ARG, "kw_chat_tokenize: NULL argument");
    size_t len = strlen(text);
    /* The template may already have written BOS (most do, through bos_token); then the
     * tokenizer must not add another. */
    bool has_bos = chat->bos_text && *chat->bos_text &&
                   strncmp(text, chat->bos_text, strlen(chat->bos_text)) == 0;
    bool add_special = !has_bos;
    int32_t n = 0;
    kw_status st = kw_tokenize(chat->model, text, len, add_special, true, NULL, 0, &n);
    if (st != KW_OK && st != KW_ERR_BUFFER_SMALL) return st;
    kw_token *ids = kw_malloc((size_t)(n > 0 ? n : 1) * sizeof *ids, "chat tokens");
    if (!ids) return KW_ERR_NOMEM;
    int32_t got = 0;
    st = kw_tokenize(chat->model, text, len, add_special, true, ids, n, &got);
    if (st != KW_OK) {
        free(ids);
        return st;
    }
    *out = ids;
    *n_out = got;
    return KW_OK;
}

bool kw_chat_prompt_opens_thinking(const char *rendered) {
    if (!rendered) return false;
    size_t n = strlen(rendered);
    while (n > 0 && (rendered[n - 1] == '\n' || rendered[n - 1] == ' ' || rendered[n - 1] == '\r'))
        n--;
    static const char open[] = "<think>";
    size_t k = sizeof open - 1;
    return n >= k && memcmp(rendered + n - k, open, k) == 0;
}
