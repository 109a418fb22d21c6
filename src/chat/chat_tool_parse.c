/* chat_tool_parse.c - tool calls taken out of a reply, one scanner per format.
 *
 * Each scanner walks one part of the reply (outside reasoning), copies the text between calls to
 * the content and turns every well-formed call into a kw_chat_tool_call. A call counts as begun
 * when the format's opening marker is there (<tool_call>, [TOOL_CALLS], <｜tool▁calls▁begin｜>,
 * a {"name": ... object for Llama 3, a name line and "{" for GLM-4); a begun call that does not
 * parse stays in the content, byte for byte, and is counted with a warning. Arguments come out
 * as compact JSON text, UTF-8 unescaped; the raw values of the XML-like formats are typed by the
 * tool's parameter schema when the tools are known (a "string" parameter stays a string).
 *
 * Formats (what the models emit; checked against the templates in tests/data/chat-templates):
 *   hermes        <tool_call>\n{"name": N, "arguments": {...}}\n</tool_call>
 *   qwen3-coder   <tool_call>\n<function=N>\n<parameter=P>\nvalue\n</parameter>\n</function>\n
 *                 </tool_call>
 *   llama3        [<|python_tag|>]{"name": N, "parameters": {...}}   (several: ";" or space)
 *   mistral       [TOOL_CALLS][{"name": N, "arguments": {...}, "id": I}, ...]
 *   mistral-args  [TOOL_CALLS]N[CALL_ID]I[ARGS]{...}                 ([CALL_ID] optional)
 *   glm4          N\n{...}   at the start of the reply (repeated, or after <|assistant|>)
 *   glm4.5        <tool_call>N<arg_key>K</arg_key><arg_value>V</arg_value>...</tool_call>
 *   deepseek-r1 <｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>N\n```json\n{...}
 *                 \n```<｜tool▁call▁end｜>...<｜tool▁calls▁end｜>
 *   deepseek-v3.1 the same with <｜tool▁call▁begin｜>N<｜tool▁sep｜>{...}<｜tool▁call▁end｜>
 * The two Mistral and the two DeepSeek forms are each read by one scanner that takes both.
 *
 * Must not: read past n (parts need not be NUL-terminated), drop text, or loop without bound
 * (every step advances).
 */
#include "base/base.h"
#include "chat/chat_tools.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------------------------------
 * Helpers
 * ---------------------------------------------------------------------------------------------- */

static bool is_ws(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }

static const char *find(const char *hay, size_t n, const char *needle) {
    size_t k = strlen(needle);
    if (k > n) return NULL;
    for (size_t i = 0; i + k <= n; i++)
        if (hay[i] == needle[0] && memcmp(hay + i, needle, k) == 0) return hay + i;
    return NULL;
}

static bool starts(const char *s, size_t n, const char *lit) {
    size_t k = strlen(lit);
    return n >= k && memcmp(s, lit, k) == 0;
}

static size_t skip_ws(const char *s, size_t n, size_t i) {
    while (i < n && is_ws(s[i]))
        i++;
    return i;
}

/* s[*a..*b) without surrounding whitespace. */
static void trim(const char *s, size_t *a, size_t *b) {
    while (*a < *b && is_ws(s[*a]))
        (*a)++;
    while (*b > *a && is_ws(s[*b - 1]))
        (*b)--;
}

/* A function name as the formats without quotes carry it: [A-Za-z0-9_.-]+ (OpenAI's rule plus
 * "."), so prose is never read as a name. */
static bool is_name(const char *s, size_t n) {
    if (n == 0 || n > 256) return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || c == '.'))
            return false;
    }
    return true;
}

static bool add_text(chat_parse *c, const char *s, size_t n) {
    if (!chat_buf_add(&c->content, s, n)) c->nomem = true;
    return !c->nomem;
}

/* Counts a malformed call at s (inside c->text) and keeps the first warning. */
static void malformed(chat_parse *c, const char *at, const char *why) {
    kw_chat_reply *r = c->r;
    r->n_malformed_calls++;
    if (r->warning) return;
    char buf[256];
    snprintf(buf, sizeof buf, "malformed %s tool call at byte %zu: %s (left in the content)",
             kw_tool_format_name(c->fmt), (size_t)(at - c->text), why);
    r->warning = kw_strdup(buf);
    if (!r->warning) c->nomem = true;
}

/* Appends a call; takes args (owned, compact JSON text). */
static bool add_call(chat_parse *c, const char *name, size_t name_len, char *args, const char *id) {
    kw_chat_reply *r = c->r;
    kw_chat_tool_call *calls =
        kw_realloc(r->tool_calls, (size_t)(r->n_tool_calls + 1) * sizeof *calls, "tool calls");
    char *name_text = kw_strndup(name, name_len);
    char *id_text = kw_strdup(id ? id : "");
    if (calls) r->tool_calls = calls;
    if (!calls || !args || !name_text || !id_text) {
        free(args), free(name_text), free(id_text);
        c->nomem = true;
        return false;
    }
    calls[r->n_tool_calls++] =
        (kw_chat_tool_call){.id = id_text, .name = name_text, .arguments = args};
    return true;
}

/* Compact JSON text of an arguments value (owned; NULL when out of memory): a string is taken as
 * the arguments' text (OpenAI's own form), an absent value as {}. */
static char *args_text(json_t *args) {
    if (!args) return kw_strdup("{}");
    if (json_is_string(args)) return kw_strdup(json_string_value(args));
    return json_dumps(args, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
}

/* One JSON value at s[0..n) (whitespace before it skipped), the rest left: *used gets the bytes
 * it took. NULL when s does not begin with a JSON value. */
static json_t *json_prefix(const char *s, size_t n, size_t *used) {
    json_error_t err;
    json_t *j = json_loadb(s, n, JSON_DISABLE_EOF_CHECK | JSON_DECODE_ANY, &err);
    if (j) *used = (size_t)err.position <= n ? (size_t)err.position : n;
    return j;
}

/* A call from a {"name": N, "arguments"/"parameters": {...}, "id": I} object: true when added;
 * false with *why when the object is not a call (c->nomem tells an allocation failure). */
static bool call_from_object(chat_parse *c, json_t *o, const char **why) {
    json_t *name = json_object_get(o, "name");
    if (!json_is_object(o) || !json_is_string(name) || !*json_string_value(name)) {
        *why = "no \"name\" string";
        return false;
    }
    json_t *args = json_object_get(o, "arguments");
    if (!args) args = json_object_get(o, "parameters");
    if (args && !json_is_object(args) && !json_is_string(args)) {
        *why = "the arguments are not an object";
        return false;
    }
    json_t *id = json_object_get(o, "id");
    const char *nm = json_string_value(name);
    return add_call(c, nm, strlen(nm), args_text(args),
                    json_is_string(id) ? json_string_value(id) : NULL);
}

/* A call from a name and a JSON-object text s[0..n) (the whole of it, whitespace around allowed).
 */
static bool call_from_json_args(chat_parse *c, const char *name, size_t name_len, const char *s,
                                size_t n, const char **why) {
    size_t used = 0;
    json_t *j = json_prefix(s, n, &used);
    bool whole = j && skip_ws(s, n, used) == n;
    if (!j || !json_is_object(j) || !whole) {
        json_decref(j);
        *why = !j       ? "the arguments are not JSON"
               : !whole ? "text follows the JSON arguments"
                        : "the arguments are not a JSON object";
        return false;
    }
    char *args = args_text(j);
    json_decref(j);
    return add_call(c, name, name_len, args, NULL);
}

/* ------------------------------------------------------------------------------------------------
 * Raw values of the XML-like formats
 * ---------------------------------------------------------------------------------------------- */

/* Whether the schema of a parameter allows only strings (type "string"), or strings among other
 * types (*also_string). Unknown: both false. */
static void param_kind(const chat_parse *c, const char *tool, size_t tool_len, const char *p,
                       bool *only_string, bool *also_string) {
    *only_string = *also_string = false;
    const chat_tool *t = chat_tools_find(c->tools, tool, tool_len);
    json_t *props = t && t->params ? json_object_get(t->params, "properties") : NULL;
    json_t *ps = json_is_object(props) ? json_object_get(props, p) : NULL;
    json_t *type = json_is_object(ps) ? json_object_get(ps, "type") : NULL;
    if (json_is_string(type)) {
        *only_string = strcmp(json_string_value(type), "string") == 0;
    } else if (json_is_array(type)) {
        for (size_t i = 0; i < json_array_size(type); i++) {
            json_t *ti = json_array_get(type, i);
            if (json_is_string(ti) && strcmp(json_string_value(ti), "string") == 0)
                *also_string = true;
        }
    }
}

/* Sets obj[key] from a raw value v[0..n): a string when the schema says string (or the text is
 * not JSON), else the JSON value. False when out of memory. */
static bool set_raw_value(chat_parse *c, json_t *obj, const char *tool, size_t tool_len,
                          const char *key, const char *v, size_t n) {
    bool only_string, also_string;
    param_kind(c, tool, tool_len, key, &only_string, &also_string);
    json_t *val = NULL;
    if (!only_string) {
        size_t used = 0;
        val = json_prefix(v, n, &used);
        /* a JSON string in a string-or-other parameter is the text itself, quotes included */
        if (val && (skip_ws(v, n, used) != n || (also_string && json_is_string(val)))) {
            json_decref(val);
            val = NULL;
        }
    }
    if (!val) val = json_stringn(v, n);
    if (!val) { /* not valid UTF-8: the whole call is malformed, reported by the caller */
        return false;
    }
    return json_object_set_new(obj, key, val) == 0;
}

/* ------------------------------------------------------------------------------------------------
 * <tool_call> ... </tool_call> blocks: hermes, qwen3-coder, glm4.5
 * ---------------------------------------------------------------------------------------------- */

static const char CALL_OPEN[] = "<tool_call>", CALL_CLOSE[] = "</tool_call>";

static bool hermes_body(chat_parse *c, const char *s, size_t n, const char **why) {
    size_t used = 0;
    json_t *j = json_prefix(s, n, &used);
    if (!j || skip_ws(s, n, used) != n) {
        json_decref(j);
        *why = "the block is not one JSON object";
        return false;
    }
    bool ok = call_from_object(c, j, why);
    json_decref(j);
    return ok;
}

/* The key of <tag=KEY> at s[*i..n), advancing past ">"; false when absent. */
static bool tag_key(const char *s, size_t n, size_t *i, const char *tag, size_t *ka, size_t *kb) {
    if (!starts(s + *i, n - *i, tag)) return false;
    size_t a = *i + strlen(tag);
    const char *gt = memchr(s + a, '>', n - a);
    if (!gt) return false;
    *ka = a;
    *kb = (size_t)(gt - s);
    *i = *kb + 1;
    return true;
}

/* Reads key/value pairs into a new object; the value of each is s[va..vb). */
static bool coder_body(chat_parse *c, const char *s, size_t n, const char **why) {
    size_t i = skip_ws(s, n, 0), na, nb;
    if (!tag_key(s, n, &i, "<function=", &na, &nb) || !is_name(s + na, nb - na)) {
        *why = "no <function=NAME> (NAME: letters, digits, _ . -)";
        return false;
    }
    json_t *obj = json_object();
    bool ok = obj != NULL;
    while (ok) {
        i = skip_ws(s, n, i);
        size_t ka, kb;
        if (starts(s + i, n - i, "</function>")) {
            i = skip_ws(s, n, i + strlen("</function>"));
            break;
        }
        if (!tag_key(s, n, &i, "<parameter=", &ka, &kb) || ka == kb) {
            *why = "expected <parameter=NAME> or </function>";
            ok = false;
            break;
        }
        const char *end = find(s + i, n - i, "</parameter>");
        if (!end) {
            *why = "a <parameter=...> is not closed";
            ok = false;
            break;
        }
        size_t va = i, vb = (size_t)(end - s);
        /* the template writes "<parameter=P>\nvalue\n</parameter>" */
        if (va < vb && s[va] == '\n') va++;
        if (vb > va && s[vb - 1] == '\n') vb--;
        char *key = kw_strndup(s + ka, kb - ka);
        ok = key && set_raw_value(c, obj, s + na, nb - na, key, s + va, vb - va);
        if (!ok) *why = key ? "a value is not valid UTF-8" : "out of memory";
        if (!key) c->nomem = true;
        free(key);
        i = (size_t)(end - s) + strlen("</parameter>");
    }
    if (ok && i != n) {
        *why = "text follows </function>";
        ok = false;
    }
    if (ok) {
        char *args = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER);
        ok = add_call(c, s + na, nb - na, args, NULL);
    }
    json_decref(obj);
    return ok;
}

static bool glm45_body(chat_parse *c, const char *s, size_t n, const char **why) {
    const char *k0 = find(s, n, "<arg_key>");
    size_t na = 0, nb = k0 ? (size_t)(k0 - s) : n;
    trim(s, &na, &nb);
    if (!is_name(s + na, nb - na)) {
        *why = "no function name (letters, digits, _ . -) before the arguments";
        return false;
    }
    json_t *obj = json_object();
    bool ok = obj != NULL;
    size_t i = k0 ? (size_t)(k0 - s) : n;
    while (ok && (i = skip_ws(s, n, i)) < n) {
        const char *ke =
            starts(s + i, n - i, "<arg_key>") ? find(s + i, n - i, "</arg_key>") : NULL;
        if (!ke) {
            *why = "expected <arg_key>KEY</arg_key>";
            ok = false;
            break;
        }
        size_t ka = i + strlen("<arg_key>"), kb = (size_t)(ke - s);
        i = skip_ws(s, n, kb + strlen("</arg_key>"));
        const char *ve =
            starts(s + i, n - i, "<arg_value>") ? find(s + i, n - i, "</arg_value>") : NULL;
        if (!ve) {
            *why = "an <arg_key> has no <arg_value>...</arg_value>";
            ok = false;
            break;
        }
        size_t va = i + strlen("<arg_value>"), vb = (size_t)(ve - s);
        trim(s, &ka, &kb);
        char *key = kw_strndup(s + ka, kb - ka);
        ok = key && set_raw_value(c, obj, s + na, nb - na, key, s + va, vb - va);
        if (!ok) *why = key ? "a value is not valid UTF-8" : "out of memory";
        if (!key) c->nomem = true;
        free(key);
        i = vb + strlen("</arg_value>");
    }
    if (ok) {
        char *args = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER);
        ok = add_call(c, s + na, nb - na, args, NULL);
    }
    json_decref(obj);
    return ok;
}

static bool scan_blocks(chat_parse *c, const char *s, size_t n) {
    while (n > 0 && !c->nomem) {
        const char *open = find(s, n, CALL_OPEN);
        if (!open) return add_text(c, s, n);
        const char *body = open + sizeof CALL_OPEN - 1;
        const char *close = find(body, n - (size_t)(body - s), CALL_CLOSE);
        if (!add_text(c, s, (size_t)(open - s))) return false;
        if (!close) {
            malformed(c, open, "<tool_call> is not closed");
            return add_text(c, open, n - (size_t)(open - s));
        }
        size_t end = (size_t)(close - s) + sizeof CALL_CLOSE - 1, bn = (size_t)(close - body);
        const char *why = "";
        bool ok = c->fmt == KW_TOOL_FORMAT_QWEN3_CODER ? coder_body(c, body, bn, &why)
                  : c->fmt == KW_TOOL_FORMAT_GLM45     ? glm45_body(c, body, bn, &why)
                                                       : hermes_body(c, body, bn, &why);
        if (c->nomem) return false;
        if (!ok) {
            malformed(c, open, why);
            if (!add_text(c, open, end - (size_t)(open - s))) return false;
        }
        s += end;
        n -= end;
    }
    return !c->nomem;
}

/* ------------------------------------------------------------------------------------------------
 * Llama 3.x: JSON objects {"name": ..., "parameters": ...}, possibly after <|python_tag|>
 * ---------------------------------------------------------------------------------------------- */

static const char PYTHON_TAG[] = "<|python_tag|>";

/* Whether s[0..n) begins like a call: { ["type": "function",] "name": */
static bool llama_call_start(const char *s, size_t n) {
    size_t i = 0;
    if (i >= n || s[i] != '{') return false;
    i = skip_ws(s, n, i + 1);
    if (starts(s + i, n - i, "\"type\"")) {
        i = skip_ws(s, n, i + 6);
        if (i >= n || s[i] != ':') return false;
        i = skip_ws(s, n, i + 1);
        if (!starts(s + i, n - i, "\"function\"")) return false;
        i = skip_ws(s, n, i + 10);
        if (i >= n || s[i] != ',') return false;
        i = skip_ws(s, n, i + 1);
    }
    if (!starts(s + i, n - i, "\"name\"")) return false;
    i = skip_ws(s, n, i + 6);
    return i < n && s[i] == ':';
}

static bool scan_llama3(chat_parse *c, const char *s, size_t n) {
    size_t last = 0, i = 0;
    while (i < n && !c->nomem) {
        bool tag = starts(s + i, n - i, PYTHON_TAG);
        if (!tag && !(s[i] == '{' && llama_call_start(s + i, n - i))) {
            i++;
            continue;
        }
        size_t j = tag ? skip_ws(s, n, i + sizeof PYTHON_TAG - 1) : i, used = 0;
        json_t *o = j < n && s[j] == '{' ? json_prefix(s + j, n - j, &used) : NULL;
        const char *why = tag ? "no JSON object follows <|python_tag|> (built-in tool calls are "
                                "not parsed)"
                              : "the call is not valid JSON";
        bool ok = o && call_from_object(c, o, &why);
        json_decref(o);
        if (c->nomem) return false;
        if (!ok) {
            malformed(c, s + i, why);
            i += tag ? sizeof PYTHON_TAG - 1 : 1;
            continue;
        }
        if (!add_text(c, s + last, i - last)) return false;
        i = j + used;
        while (i < n && (is_ws(s[i]) || s[i] == ';')) /* separators between calls */
            i++;
        last = i;
    }
    return add_text(c, s + last, n - last);
}

/* ------------------------------------------------------------------------------------------------
 * Mistral: [TOOL_CALLS][{...}, ...] and [TOOL_CALLS]name[CALL_ID]id[ARGS]{...}
 * ---------------------------------------------------------------------------------------------- */

static const char TOOL_CALLS[] = "[TOOL_CALLS]";

/* One [TOOL_CALLS] group at s (the marker included); *end gets where it stops. */
static bool mistral_group(chat_parse *c, const char *s, size_t n, size_t *end, const char **why) {
    size_t i = skip_ws(s, n, sizeof TOOL_CALLS - 1), used = 0;
    if (i < n && s[i] == '[') {
        json_t *a = json_prefix(s + i, n - i, &used);
        bool ok = json_is_array(a) && json_array_size(a) > 0;
        *why = "[TOOL_CALLS] is not followed by a JSON array of calls";
        for (size_t k = 0; ok && k < json_array_size(a); k++) {
            json_t *o = json_array_get(a, k);
            json_t *nm = json_object_get(o, "name");
            json_t *args = json_object_get(o, "arguments");
            ok = json_is_string(nm) && *json_string_value(nm) &&
                 (!args || json_is_object(args) || json_is_string(args));
        }
        for (size_t k = 0; ok && k < json_array_size(a); k++)
            ok = call_from_object(c, json_array_get(a, k), why);
        json_decref(a);
        *end = i + used;
        return ok;
    }
    const char *args_mark = find(s + i, n - i, "[ARGS]");
    if (!args_mark) {
        *why = "[TOOL_CALLS] has neither a JSON array nor NAME[ARGS]";
        return false;
    }
    size_t na = i, nb = (size_t)(args_mark - s);
    const char *id_mark = find(s + na, nb - na, "[CALL_ID]");
    char id[64] = "";
    if (id_mark) {
        size_t ia = (size_t)(id_mark - s) + strlen("[CALL_ID]"), ib = nb;
        trim(s, &ia, &ib);
        if (ib - ia >= sizeof id || !is_name(s + ia, ib - ia)) {
            *why = "a bad [CALL_ID]";
            return false;
        }
        memcpy(id, s + ia, ib - ia);
        id[ib - ia] = 0;
        nb = (size_t)(id_mark - s);
    }
    trim(s, &na, &nb);
    if (!is_name(s + na, nb - na)) {
        *why = "no function name (letters, digits, _ . -) before [ARGS]";
        return false;
    }
    size_t a0 = (size_t)(args_mark - s) + strlen("[ARGS]");
    json_t *o = json_prefix(s + a0, n - a0, &used);
    if (!json_is_object(o)) {
        json_decref(o);
        *why = "[ARGS] is not followed by a JSON object";
        return false;
    }
    char *args = args_text(o);
    json_decref(o);
    *end = a0 + used;
    return add_call(c, s + na, nb - na, args, id);
}

static bool scan_mistral(chat_parse *c, const char *s, size_t n) {
    while (n > 0 && !c->nomem) {
        const char *m = find(s, n, TOOL_CALLS);
        if (!m) return add_text(c, s, n);
        if (!add_text(c, s, (size_t)(m - s))) return false;
        size_t rest = n - (size_t)(m - s), end = 0;
        const char *why = "";
        bool ok = mistral_group(c, m, rest, &end, &why); /* an array: whole or nothing */
        if (c->nomem) return false;
        if (!ok) {
            malformed(c, m, why);
            end = sizeof TOOL_CALLS - 1;
            if (!add_text(c, m, end)) return false;
        }
        s = m + end;
        n = rest - end;
    }
    return !c->nomem;
}

/* ------------------------------------------------------------------------------------------------
 * GLM-4: NAME\n{...} at the start of the reply
 * ---------------------------------------------------------------------------------------------- */

static bool scan_glm4(chat_parse *c, const char *s, size_t n) {
    static const char ASSISTANT[] = "<|assistant|>";
    size_t i = 0;
    while (!c->nomem) {
        size_t j = skip_ws(s, n, i);
        if (starts(s + j, n - j, ASSISTANT)) j = skip_ws(s, n, j + sizeof ASSISTANT - 1);
        const char *nl = memchr(s + j, '\n', n - j);
        size_t nb = nl ? (size_t)(nl - s) : j, a0 = nl ? skip_ws(s, n, nb + 1) : n;
        while (nb > j && (s[nb - 1] == ' ' || s[nb - 1] == '\r'))
            nb--;
        /* a name line and a "{": a begun call (with tools: only their names count) */
        if (!nl || !is_name(s + j, nb - j) || a0 >= n || s[a0] != '{' ||
            (c->tools && !chat_tools_find(c->tools, s + j, nb - j)))
            break;
        size_t used = 0;
        json_t *o = json_prefix(s + a0, n - a0, &used);
        if (!json_is_object(o)) {
            json_decref(o);
            malformed(c, s + j, "the arguments after the name line are not a JSON object");
            break;
        }
        char *args = args_text(o);
        json_decref(o);
        if (!add_call(c, s + j, nb - j, args, NULL)) return false;
        i = a0 + used;
    }
    return !c->nomem && add_text(c, s + i, n - i);
}

/* ------------------------------------------------------------------------------------------------
 * DeepSeek V3 / R1 / V3.1: special-token delimited calls
 * ---------------------------------------------------------------------------------------------- */

#define DS_BAR "\xef\xbd\x9c" /* ｜ */
#define DS_SP  "\xe2\x96\x81" /* ▁ */
static const char DS_CALLS_BEGIN[] = "<" DS_BAR "tool" DS_SP "calls" DS_SP "begin" DS_BAR ">";
static const char DS_CALLS_END[] = "<" DS_BAR "tool" DS_SP "calls" DS_SP "end" DS_BAR ">";
static const char DS_CALL_BEGIN[] = "<" DS_BAR "tool" DS_SP "call" DS_SP "begin" DS_BAR ">";
static const char DS_CALL_END[] = "<" DS_BAR "tool" DS_SP "call" DS_SP "end" DS_BAR ">";
static const char DS_SEP[] = "<" DS_BAR "tool" DS_SP "sep" DS_BAR ">";

/* One call body s[0..n) between call-begin and call-end: TYPE<sep>NAME\n```json\n{..}\n``` (R1)
 * or NAME<sep>{...} (V3.1). */
static bool deepseek_call(chat_parse *c, const char *s, size_t n, const char **why) {
    const char *sep = find(s, n, DS_SEP);
    if (!sep) {
        *why = "no tool" DS_SP "sep";
        return false;
    }
    size_t xa = 0, xb = (size_t)(sep - s), y = xb + sizeof DS_SEP - 1;
    trim(s, &xa, &xb);
    const char *fence = find(s + y, n - y, "```");
    if (fence) { /* R1: the name, then a fenced JSON block */
        size_t na = y, nb = (size_t)(fence - s), ja = nb + 3;
        trim(s, &na, &nb);
        if (starts(s + ja, n - ja, "json")) ja += 4;
        const char *close = find(s + ja, n - ja, "```");
        size_t after = close ? skip_ws(s, n, (size_t)(close - s) + 3) : 0;
        if (!close || after != n) {
            *why = "the ```json block is not closed";
            return false;
        }
        if (!is_name(s + na, nb - na)) {
            *why = "no function name before the ```json block";
            return false;
        }
        return call_from_json_args(c, s + na, nb - na, s + ja, (size_t)(close - s) - ja, why);
    }
    if (!is_name(s + xa, xb - xa)) {
        *why = "no function name before tool" DS_SP "sep";
        return false;
    }
    return call_from_json_args(c, s + xa, xb - xa, s + y, n - y, why);
}

static bool scan_deepseek(chat_parse *c, const char *s, size_t n) {
    while (n > 0 && !c->nomem) {
        const char *m = find(s, n, DS_CALLS_BEGIN);
        if (!m) return add_text(c, s, n);
        if (!add_text(c, s, (size_t)(m - s))) return false;
        const char *r = m + sizeof DS_CALLS_BEGIN - 1, *end = s + n;
        size_t content0 = c->content.len;
        int32_t bad0 = c->r->n_malformed_calls;
        const char *close = find(r, (size_t)(end - r), DS_CALLS_END);
        const char *stop = close ? close : end; /* a missing calls-end is forgiven */
        while (r < stop && !c->nomem) {
            const char *b = find(r, (size_t)(stop - r), DS_CALL_BEGIN);
            const char *ce = b ? find(b, (size_t)(stop - b), DS_CALL_END) : NULL;
            size_t gap = (size_t)((b ? b : stop) - r), ga = 0, gb = gap;
            trim(r, &ga, &gb);
            if (ga < gb && !add_text(c, r, gap)) return false; /* text between calls stays */
            if (!b) break;
            if (!ce) {
                malformed(c, b, "a tool" DS_SP "call" DS_SP "begin is not closed");
                if (!add_text(c, b, (size_t)(stop - b))) return false;
                break;
            }
            const char *body = b + sizeof DS_CALL_BEGIN - 1, *why = "";
            if (!deepseek_call(c, body, (size_t)(ce - body), &why)) {
                if (c->nomem) return false;
                malformed(c, b, why);
                if (!add_text(c, b, (size_t)(ce - b) + sizeof DS_CALL_END - 1)) return false;
            }
            r = ce + sizeof DS_CALL_END - 1;
        }
        if (c->r->n_malformed_calls > bad0) { /* a malformed call keeps the region's markers */
            if (!add_text(c, m, sizeof DS_CALLS_BEGIN - 1)) return false; /* room, then move */
            chat_buf *b = &c->content;
            size_t k = sizeof DS_CALLS_BEGIN - 1;
            memmove(b->p + content0 + k, b->p + content0, b->len - k - content0);
            memcpy(b->p + content0, m, k);
            if (close && !add_text(c, close, sizeof DS_CALLS_END - 1)) return false;
        }
        const char *next = close ? close + sizeof DS_CALLS_END - 1 : end;
        n -= (size_t)(next - s);
        s = next;
    }
    return !c->nomem;
}

bool chat_tool_scan(chat_parse *c, const char *s, size_t n) {
    if (c->nomem) return false;
    switch (c->fmt) {
    case KW_TOOL_FORMAT_LLAMA3: return scan_llama3(c, s, n);
    case KW_TOOL_FORMAT_MISTRAL:
    case KW_TOOL_FORMAT_MISTRAL_ARGS: return scan_mistral(c, s, n);
    case KW_TOOL_FORMAT_GLM4: return scan_glm4(c, s, n);
    case KW_TOOL_FORMAT_DEEPSEEK_R1:
    case KW_TOOL_FORMAT_DEEPSEEK_V31: return scan_deepseek(c, s, n);
    default: return scan_blocks(c, s, n);
    }
}
