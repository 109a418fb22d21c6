/* chat_tool_format.c - which tool-call format a chat template teaches, and the tools array.
 *
 * The format is read from the template text: the markers it renders for an assistant's calls
 * (or, for Llama 3, the instruction it gives). A model file's name says nothing reliable about
 * its template (fine-tunes keep the base name and change the template), so it is never used.
 * Markers are checked from the most specific to the most general: Qwen3-Coder's templates also
 * contain <tool_call>, GLM-4.5's contain <tool_call> and <|observation|>.
 *
 * Relies on: jansson (the tools array). Must not: guess from anything but the template text.
 */
#include "base/base.h"
#include "chat/chat_tools.h"

#include <stdlib.h>
#include <string.h>

static const char *const names[KW_TOOL_FORMAT_COUNT] = {
    "hermes", "qwen3-coder", "llama3",      "mistral",       "mistral-args",
    "glm4",   "glm4.5",      "deepseek-r1", "deepseek-v3.1",
};

const char *kw_tool_format_name(kw_tool_format format) {
    return (unsigned)format < KW_TOOL_FORMAT_COUNT ? names[format] : "?";
}

kw_status kw_tool_format_from_name(const char *name, kw_tool_format *out) {
    if (!out) return kw_error(KW_ERR_INVALID_ARG, "kw_tool_format_from_name: NULL out");
    for (int i = 0; name && i < KW_TOOL_FORMAT_COUNT; i++)
        if (strcmp(names[i], name) == 0) {
            *out = (kw_tool_format)i;
            return KW_OK;
        }
    return kw_error(KW_ERR_INVALID_ARG,
                    "unknown tool-call format '%s' (formats: hermes, qwen3-coder, llama3, mistral, "
                    "mistral-args, glm4, glm4.5, deepseek-r1, deepseek-v3.1)",
                    name ? name : "(null)");
}

kw_tool_format kw_tool_format_detect(const char *src, const char **why) {
    const char *w = "the template shows no tool-call form (hermes is the default)";
    kw_tool_format f = KW_TOOL_FORMAT_HERMES;
    if (!src) {
        w = "no template (hermes is the default)";
    } else if (strstr(src, "<function=") && strstr(src, "<parameter=")) {
        f = KW_TOOL_FORMAT_QWEN3_CODER, w = "the template renders <function=...><parameter=...>";
    } else if (strstr(src, "<arg_key>")) {
        f = KW_TOOL_FORMAT_GLM45, w = "the template renders <arg_key>/<arg_value>";
    } else if (strstr(src, "tool\xe2\x96\x81"
                           "calls\xe2\x96\x81"
                           "begin")) {
        /* R1 and V3 wrap the arguments in a ```json block after a "function" type; V3.1 not */
        bool fenced = strstr(src, "```json") != NULL;
        f = fenced ? KW_TOOL_FORMAT_DEEPSEEK_R1 : KW_TOOL_FORMAT_DEEPSEEK_V31;
        w = fenced ? "the template renders tool\xe2\x96\x81"
                     "calls\xe2\x96\x81"
                     "begin with ```json"
                   : "the template renders tool\xe2\x96\x81"
                     "calls\xe2\x96\x81"
                     "begin without "
                     "```json";
    } else if (strstr(src, "[TOOL_CALLS]")) {
        bool args = strstr(src, "[ARGS]") != NULL;
        f = args ? KW_TOOL_FORMAT_MISTRAL_ARGS : KW_TOOL_FORMAT_MISTRAL;
        w = args ? "the template renders [TOOL_CALLS]name[ARGS]"
                 : "the template renders [TOOL_CALLS][";
    } else if (strstr(src, "<tool_call>")) {
        f = KW_TOOL_FORMAT_HERMES, w = "the template renders <tool_call>";
    } else if (strstr(src, "<|python_tag|>") ||
               (strstr(src, "\"name\": function name") && strstr(src, "\"parameters\""))) {
        f = KW_TOOL_FORMAT_LLAMA3,
        w = "the template renders <|python_tag|> or asks for {\"name\", \"parameters\"}";
    } else if (strstr(src, "<|observation|>")) {
        f = KW_TOOL_FORMAT_GLM4, w = "the template renders <|observation|> (GLM-4)";
    }
    if (why) *why = w;
    return f;
}

/* ------------------------------------------------------------------------------------------------
 * The tools array
 * ---------------------------------------------------------------------------------------------- */

void chat_tools_free(chat_tools *t) {
    if (!t) return;
    json_decref(t->root);
    free(t->v);
    memset(t, 0, sizeof *t);
}

kw_status chat_tools_load(const char *tools_json, chat_tools *out) {
    memset(out, 0, sizeof *out);
    if (!tools_json) return kw_error(KW_ERR_INVALID_ARG, "tools: NULL tools array");
    json_error_t je;
    json_t *root = json_loads(tools_json, 0, &je);
    if (!root || !json_is_array(root)) {
        kw_status st = kw_error(KW_ERR_INVALID_ARG, "tools must be a JSON array (%s at line %d)",
                                root ? "not an array" : je.text, je.line);
        json_decref(root);
        return st;
    }
    size_t n = json_array_size(root);
    chat_tool *v = kw_calloc(n ? n : 1, sizeof *v, "tools");
    if (!v) {
        json_decref(root);
        return KW_ERR_NOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *item = json_array_get(root, i);
        json_t *fn = json_object_get(item, "function");
        if (!json_is_object(fn)) fn = item;
        json_t *name = json_object_get(fn, "name");
        json_t *params = json_object_get(fn, "parameters");
        if (!json_is_object(fn) || !json_is_string(name) || !*json_string_value(name) ||
            (params && !json_is_object(params) && !json_is_boolean(params))) {
            free(v);
            json_decref(root);
            return kw_error(KW_ERR_INVALID_ARG,
                            "tools[%zu] is not a function: it needs {\"type\": \"function\", "
                            "\"function\": {\"name\": ..., \"parameters\": {...}}}",
                            i);
        }
        v[i] = (chat_tool){json_string_value(name), params};
    }
    *out = (chat_tools){root, v, n};
    return KW_OK;
}

const chat_tool *chat_tools_find(const chat_tools *t, const char *name, size_t n) {
    for (size_t i = 0; t && i < t->n; i++)
        if (strlen(t->v[i].name) == n && memcmp(t->v[i].name, name, n) == 0) return &t->v[i];
    return NULL;
}
