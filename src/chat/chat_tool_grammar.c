/* chat_tool_grammar.c - forced tool calls: a GBNF grammar whose every sentence is one call in a
 * format (chat_tool_parse.c reads it back) naming one of the tools, with arguments valid under
 * the tool's "parameters" schema.
 *
 * The JSON formats take the arguments grammar from kw_json_schema_to_gbnf (public API of the
 * grammar module); each tool's rules are renamed with a prefix ("t3-s0") so several tools
 * compose into one grammar: root ::= call-0 | call-1 | ... The XML-like formats (qwen3-coder,
 * glm4.5) carry one raw value per parameter: a string parameter is raw text without "<" or
 * control characters (so the closing tag cannot occur inside it; length bounds kept), any other
 * parameter is its JSON text from its own schema's grammar. What cannot be expressed that way
 * (a string pattern or format as raw text, a parameter schema that allows strings beside other
 * types) is refused with the tool and parameter named: never a grammar that admits invalid calls.
 *
 * Relies on: kw_json_schema_to_gbnf (kaiwu.h), jansson. Must not: emit a grammar whose sentences
 * the parser would read differently (names are [A-Za-z0-9_.-], raw values exclude "<").
 */
#include "base/base.h"
#include "chat/chat_tools.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- text builder */

typedef struct gb {
    chat_buf b;
    bool oom;
} gb;

static void put(gb *g, const char *s) {
    if (!g->oom && !chat_buf_add(&g->b, s, strlen(s))) g->oom = true;
}

static void putf(gb *g, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void putf(gb *g, const char *fmt, ...) {
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof tmp) {
        g->oom = true; /* only short fixed pieces go through here */
        return;
    }
    put(g, tmp);
}

/* A GBNF literal of s[0..n) (UTF-8 as is; quotes, backslashes and control bytes escaped). */
static void lit(gb *g, const char *s, size_t n) {
    put(g, "\"");
    for (size_t i = 0; i < n && !g->oom; i++) {
        unsigned char c = (unsigned char)s[i];
        char e[8];
        if (c == '"' || c == '\\')
            snprintf(e, sizeof e, "\\%c", c);
        else if (c == '\n')
            snprintf(e, sizeof e, "\\n");
        else if (c < 0x20 || c == 0x7f)
            snprintf(e, sizeof e, "\\x%02X", c);
        else
            e[0] = (char)c, e[1] = 0;
        put(g, e);
    }
    put(g, "\"");
}
static void lits(gb *g, const char *s) { lit(g, s, strlen(s)); }

/* Appends GBNF text with every rule name prefixed ("s0" -> "t2-s0"): names are the runs of
 * [A-Za-z0-9_-] outside literals, classes, repetition bounds and comments. */
static void put_renamed(gb *g, const char *src, const char *prefix) {
    const char *p = src;
    while (*p && !g->oom) {
        const char *q = p;
        if (*p == '"' || *p == '[') {
            char close = *p == '"' ? '"' : ']';
            q++;
            while (*q && *q != close)
                q += (*q == '\\' && q[1]) ? 2 : 1;
            if (*q) q++;
        } else if (*p == '{') {
            while (*q && *q != '}')
                q++;
            if (*q) q++;
        } else if (*p == '#') {
            while (*q && *q != '\n')
                q++;
        } else if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                   (*p >= '0' && *p <= '9') || *p == '_' || *p == '-') {
            while ((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') ||
                   (*q >= '0' && *q <= '9') || *q == '_' || *q == '-')
                q++;
            put(g, prefix);
        } else {
            q++;
        }
        if (!g->oom && !chat_buf_add(&g->b, p, (size_t)(q - p))) g->oom = true;
        p = q;
    }
}

/* ---------------------------------------------------------------- schemas */

/* The JSON-Schema grammar of schema, renamed with prefix, appended to g; its start rule is
 * "<prefix>root". Errors name the tool (and the parameter, when param is not NULL). */
static kw_status schema_rules(gb *g, json_t *schema, const char *prefix, const char *tool,
                              const char *param) {
    char *text = json_dumps(schema, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
    if (!text) return kw_error(KW_ERR_NOMEM, "tool grammar: out of memory");
    char *gbnf = NULL;
    kw_status st = kw_json_schema_to_gbnf(text, &gbnf);
    free(text);
    if (st != KW_OK) {
        if (param) return kw_error_wrap(st, "tool '%s', parameter '%s'", tool, param);
        return kw_error_wrap(st, "tool '%s' parameters", tool);
    }
    put_renamed(g, gbnf, prefix);
    free(gbnf);
    return KW_OK;
}

/* The arguments object schema of a tool for the JSON formats: "parameters" (type "object" added
 * when it names no type), {} with no properties when absent. New reference in *out. */
static kw_status object_schema(const chat_tool *t, json_t **out) {
    json_t *p = t->params;
    if (!p || json_is_false(p)) {
        *out = json_pack("{s:s, s:{}, s:b}", "type", "object", "properties", "additionalProperties",
                         0);
    } else if (json_is_true(p)) {
        *out = json_pack("{s:s}", "type", "object");
    } else {
        json_t *type = json_object_get(p, "type");
        if (type && !(json_is_string(type) && strcmp(json_string_value(type), "object") == 0))
            return kw_error(KW_ERR_UNSUPPORTED,
                            "tool '%s': \"parameters\" must be an object schema (type \"object\")",
                            t->name);
        *out = json_deep_copy(p);
        if (*out && !type) json_object_set_new(*out, "type", json_string("object"));
    }
    return *out ? KW_OK : kw_error(KW_ERR_NOMEM, "tool grammar: out of memory");
}

/* ---------------------------------------------------------------- XML-like formats */

static const char *const RAW_STRING_KEYS[] = {"type",      "description", "title", "minLength",
                                              "maxLength", "enum",        "const", "default",
                                              "examples",  "$comment",    NULL};

static bool is_raw_key(const char *k) {
    for (int i = 0; RAW_STRING_KEYS[i]; i++)
        if (strcmp(RAW_STRING_KEYS[i], k) == 0) return true;
    return false;
}

/* Whether a parameter schema allows only non-string JSON (an explicit type, or a type list
 * without "string"). */
static bool non_string_typed(json_t *ps) {
    json_t *type = json_object_get(ps, "type");
    if (json_is_string(type)) return strcmp(json_string_value(type), "string") != 0;
    if (!json_is_array(type) || json_array_size(type) == 0) return false;
    for (size_t i = 0; i < json_array_size(type); i++) {
        json_t *ti = json_array_get(type, i);
        if (!json_is_string(ti) || strcmp(json_string_value(ti), "string") == 0) return false;
    }
    return true;
}

/* A string literal list (enum / const of strings) as raw alternatives. */
static kw_status raw_enum(gb *g, json_t *ps, const char *tool, const char *param) {
    json_t *e = json_object_get(ps, "enum");
    json_t *cst = json_object_get(ps, "const");
    size_t n = cst ? 1 : json_is_array(e) ? json_array_size(e) : 0;
    if (n == 0)
        return kw_error(KW_ERR_UNSUPPORTED, "tool '%s', parameter '%s': an empty enum", tool,
                        param);
    put(g, "(");
    for (size_t i = 0; i < n; i++) {
        json_t *v = cst ? cst : json_array_get(e, i);
        const char *s = json_string_value(v);
        if (!s || strpbrk(s, "<") || strpbrk(s, "\n\r\t"))
            return kw_error(KW_ERR_UNSUPPORTED,
                            "tool '%s', parameter '%s': enum values must be strings without '<' "
                            "or control characters in this format",
                            tool, param);
        if (i) put(g, " | ");
        lits(g, s);
    }
    put(g, ")");
    return KW_OK;
}

/* The value rule body of one parameter of an XML-like format, into g; the rules a JSON value's
 * grammar needs go to rules. */
static kw_status raw_value(gb *g, gb *rules, json_t *root, json_t *ps, const char *prefix,
                           const char *tool, const char *param) {
    if (!json_is_object(ps))
        return kw_error(KW_ERR_UNSUPPORTED,
                        "tool '%s', parameter '%s': the schema is not an object", tool, param);
    json_t *type = json_object_get(ps, "type");
    bool is_string = json_is_string(type) && strcmp(json_string_value(type), "string") == 0;
    if (is_string || (!type && (json_object_get(ps, "enum") || json_object_get(ps, "const")))) {
        const char *k;
        json_t *v;
        json_object_foreach(ps, k, v) {
            if (!is_raw_key(k))
                return kw_error(KW_ERR_UNSUPPORTED,
                                "tool '%s', parameter '%s': '%s' cannot be enforced on the raw "
                                "text of this format",
                                tool, param, k);
        }
        if (json_object_get(ps, "enum") || json_object_get(ps, "const"))
            return raw_enum(g, ps, tool, param);
        json_t *mn = json_object_get(ps, "minLength"), *mx = json_object_get(ps, "maxLength");
        long long lo = json_is_integer(mn) ? json_integer_value(mn) : 0;
        long long hi = json_is_integer(mx) ? json_integer_value(mx) : -1;
        if (lo < 0 || lo > 1000 || (mx && hi < lo) || (mn && !json_is_integer(mn)) ||
            (mx && !json_is_integer(mx)))
            return kw_error(KW_ERR_UNSUPPORTED,
                            "tool '%s', parameter '%s': minLength/maxLength must be integers "
                            "with 0 <= minLength <= 1000 and minLength <= maxLength",
                            tool, param);
        if (hi > 1000) hi = 1000; /* a subset: never longer than allowed */
        if (hi < 0)
            putf(g, "rawchar{%lld,}", lo);
        else
            putf(g, "rawchar{%lld,%lld}", lo, hi);
        return KW_OK;
    }
    if (!non_string_typed(ps))
        return kw_error(KW_ERR_UNSUPPORTED,
                        "tool '%s', parameter '%s': in this format a parameter must be a string "
                        "or have a non-string \"type\" (a schema that allows strings beside "
                        "other values cannot be told apart from raw text)",
                        tool, param);
    /* its own schema document, with the definitions its $refs may point to */
    json_t *doc = json_deep_copy(ps);
    const char *defs[] = {"$defs", "definitions"};
    for (int i = 0; doc && i < 2; i++) {
        json_t *d = json_object_get(root, defs[i]);
        if (d && !json_object_get(doc, defs[i])) json_object_set(doc, defs[i], d);
    }
    if (!doc) return kw_error(KW_ERR_NOMEM, "tool grammar: out of memory");
    put(g, prefix);
    put(g, "root");
    kw_status st = schema_rules(rules, doc, prefix, tool, param);
    json_decref(doc);
    return st;
}

/* The parameters of a tool, one rule per parameter (prefix "t<i>-p<k>-"). */
static kw_status xml_params(gb *g, const chat_tool *t, int ti, kw_tool_format f, chat_buf *seq) {
    json_t *p = t->params && json_is_object(t->params) ? t->params : NULL;
    json_t *props = p ? json_object_get(p, "properties") : NULL;
    json_t *req = p ? json_object_get(p, "required") : NULL;
    json_t *type = p ? json_object_get(p, "type") : NULL;
    if (t->params && !json_is_boolean(t->params) &&
        ((type && !(json_is_string(type) && !strcmp(json_string_value(type), "object"))) ||
         (props && !json_is_object(props)) || (req && !json_is_array(req))))
        return kw_error(KW_ERR_UNSUPPORTED,
                        "tool '%s': \"parameters\" must be an object schema with \"properties\" "
                        "in the %s format",
                        t->name, kw_tool_format_name(f));
    if (p) {
        const char *k;
        json_t *v;
        json_object_foreach(p, k, v) {
            if (strcmp(k, "type") && strcmp(k, "properties") && strcmp(k, "required") &&
                strcmp(k, "additionalProperties") && strcmp(k, "description") &&
                strcmp(k, "title") && strcmp(k, "$defs") && strcmp(k, "definitions") &&
                strcmp(k, "$schema"))
                return kw_error(KW_ERR_UNSUPPORTED,
                                "tool '%s': '%s' on \"parameters\" cannot be enforced in the %s "
                                "format",
                                t->name, k, kw_tool_format_name(f));
        }
    }
    for (size_t i = 0; req && i < json_array_size(req); i++) {
        const char *r = json_string_value(json_array_get(req, i));
        if (!r || !props || !json_object_get(props, r))
            return kw_error(KW_ERR_UNSUPPORTED,
                            "tool '%s': required parameter '%s' has no schema in \"properties\"",
                            t->name, r ? r : "?");
    }
    const char *k;
    json_t *ps;
    int pi = 0;
    json_object_foreach(props, k, ps) {
        if (!*k || strpbrk(k, "<>\"\n\r\t") || strlen(k) > 256)
            return kw_error(KW_ERR_UNSUPPORTED,
                            "tool '%s': parameter name '%s' cannot be written in the %s format",
                            t->name, k, kw_tool_format_name(f));
        bool required = false;
        for (size_t i = 0; req && i < json_array_size(req); i++)
            if (!strcmp(json_string_value(json_array_get(req, i)), k)) required = true;
        char prefix[48];
        snprintf(prefix, sizeof prefix, "t%d-p%d-", ti, pi);
        putf(g, "t%d-p%d ::= ", ti, pi);
        if (f == KW_TOOL_FORMAT_QWEN3_CODER) {
            put(g, "\"<parameter=\" ");
            lits(g, k);
            put(g, " \">\\n\" t");
            putf(g, "%d-p%d-v \"\\n</parameter>\\n\"\n", ti, pi);
        } else {
            put(g, "\"<arg_key>\" ");
            lits(g, k);
            putf(g, " \"</arg_key><arg_value>\" t%d-p%d-v \"</arg_value>\"\n", ti, pi);
        }
        putf(g, "t%d-p%d-v ::= ", ti, pi);
        gb rules = {0};
        kw_status st = raw_value(g, &rules, p, ps, prefix, t->name, k);
        put(g, "\n");
        if (rules.b.p) put(g, rules.b.p);
        if (rules.oom) g->oom = true;
        free(rules.b.p);
        if (st != KW_OK) return st;
        char ref[40];
        snprintf(ref, sizeof ref, " t%d-p%d%s", ti, pi, required ? "" : "?");
        if (!chat_buf_add(seq, ref, strlen(ref))) g->oom = true;
        pi++;
    }
    return KW_OK;
}

/* ---------------------------------------------------------------- calls */

#define DS_BAR         "\xef\xbd\x9c"
#define DS_SP          "\xe2\x96\x81"
#define DS_CALLS_BEGIN "<" DS_BAR "tool" DS_SP "calls" DS_SP "begin" DS_BAR ">"
#define DS_CALLS_END   "<" DS_BAR "tool" DS_SP "calls" DS_SP "end" DS_BAR ">"
#define DS_CALL_BEGIN  "<" DS_BAR "tool" DS_SP "call" DS_SP "begin" DS_BAR ">"
#define DS_CALL_END    "<" DS_BAR "tool" DS_SP "call" DS_SP "end" DS_BAR ">"
#define DS_SEP         "<" DS_BAR "tool" DS_SP "sep" DS_BAR ">"

/* The call rule "call-<i>" of tool t, and the rules it uses. */
static kw_status call_rules(gb *g, const chat_tool *t, int i, kw_tool_format f) {
    const char *nm = t->name;
    size_t nl = strlen(nm);
    char prefix[32];
    snprintf(prefix, sizeof prefix, "t%d-", i);
    if (f == KW_TOOL_FORMAT_QWEN3_CODER || f == KW_TOOL_FORMAT_GLM45) {
        chat_buf seq = {0};
        gb params = {0};
        kw_status st = xml_params(&params, t, i, f, &seq);
        if (st == KW_OK && !params.oom) {
            putf(g, "call-%d ::= ", i);
            if (f == KW_TOOL_FORMAT_QWEN3_CODER) {
                put(g, "\"<tool_call>\\n<function=\" ");
                lit(g, nm, nl);
                put(g, " \">\\n\"");
                put(g, seq.p ? seq.p : "");
                put(g, " \"</function>\\n</tool_call>\"\n");
            } else {
                put(g, "\"<tool_call>\" ");
                lit(g, nm, nl);
                put(g, seq.p ? seq.p : "");
                put(g, " \"</tool_call>\"\n");
            }
            put(g, params.b.p ? params.b.p : "");
        }
        if (params.oom) g->oom = true;
        free(seq.p);
        free(params.b.p);
        return st;
    }
    json_t *schema = NULL;
    kw_status st = object_schema(t, &schema);
    if (st != KW_OK) return st;
    putf(g, "call-%d ::= ", i);
    const char *args = " t";
    switch (f) {
    case KW_TOOL_FORMAT_LLAMA3: put(g, "\"{\\\"name\\\": \\\"\" "); break;
    case KW_TOOL_FORMAT_MISTRAL: put(g, "\"[TOOL_CALLS][{\\\"name\\\": \\\"\" "); break;
    case KW_TOOL_FORMAT_MISTRAL_ARGS: put(g, "\"[TOOL_CALLS]\" "); break;
    case KW_TOOL_FORMAT_GLM4: break;
    case KW_TOOL_FORMAT_DEEPSEEK_R1:
        lits(g, DS_CALLS_BEGIN DS_CALL_BEGIN "function" DS_SEP);
        put(g, " ");
        break;
    case KW_TOOL_FORMAT_DEEPSEEK_V31:
        lits(g, DS_CALLS_BEGIN DS_CALL_BEGIN);
        put(g, " ");
        break;
    default: put(g, "\"<tool_call>\\n{\\\"name\\\": \\\"\" "); break;
    }
    lit(g, nm, nl);
    switch (f) {
    case KW_TOOL_FORMAT_LLAMA3: put(g, " \"\\\", \\\"parameters\\\": \""); break;
    case KW_TOOL_FORMAT_MISTRAL_ARGS: put(g, " \"[ARGS]\""); break;
    case KW_TOOL_FORMAT_GLM4: put(g, " \"\\n\""); break;
    case KW_TOOL_FORMAT_DEEPSEEK_R1: put(g, " \"\\n```json\\n\""); break;
    case KW_TOOL_FORMAT_DEEPSEEK_V31:
        put(g, " ");
        lits(g, DS_SEP);
        break;
    default: put(g, " \"\\\", \\\"arguments\\\": \""); break;
    }
    putf(g, "%s%d-root ", args, i);
    switch (f) {
    case KW_TOOL_FORMAT_MISTRAL: put(g, "\"}]\""); break;
    case KW_TOOL_FORMAT_MISTRAL_ARGS:
    case KW_TOOL_FORMAT_GLM4: break;
    case KW_TOOL_FORMAT_DEEPSEEK_R1: lits(g, "\n```" DS_CALL_END DS_CALLS_END); break;
    case KW_TOOL_FORMAT_DEEPSEEK_V31: lits(g, DS_CALL_END DS_CALLS_END); break;
    case KW_TOOL_FORMAT_LLAMA3: put(g, "\"}\""); break;
    default: put(g, "\"}\\n</tool_call>\""); break;
    }
    put(g, "\n");
    st = schema_rules(g, schema, prefix, nm, NULL);
    json_decref(schema);
    return st;
}

/* The tool tool_choice names: a plain name or {"type": "function", "function": {"name": N}}. */
static kw_status chosen_name(const char *tool_choice, char *name, size_t cap) {
    const char *nm = tool_choice;
    json_t *j = NULL;
    if (*tool_choice == '{') {
        json_error_t je;
        j = json_loads(tool_choice, 0, &je);
        nm = json_string_value(json_object_get(json_object_get(j, "function"), "name"));
        if (!nm) {
            json_decref(j);
            return kw_error(KW_ERR_INVALID_ARG,
                            "tool_choice: expected {\"type\": \"function\", \"function\": "
                            "{\"name\": ...}}");
        }
    }
    snprintf(name, cap, "%s", nm);
    bool fits = strlen(nm) < cap;
    json_decref(j);
    return fits ? KW_OK : kw_error(KW_ERR_INVALID_ARG, "tool_choice: the name is too long");
}

static bool valid_name(const char *s) {
    size_t n = strlen(s);
    if (n == 0 || n > 64) return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || c == '.'))
            return false;
    }
    return true;
}

kw_status kw_chat_tool_grammar(kw_tool_format format, const char *tools_json,
                               const char *tool_choice, char **gbnf_out) {
    kw_error_clear();
    if (!gbnf_out) return kw_error(KW_ERR_INVALID_ARG, "kw_chat_tool_grammar: NULL gbnf_out");
    *gbnf_out = NULL;
    if ((unsigned)format >= KW_TOOL_FORMAT_COUNT)
        return kw_error(KW_ERR_INVALID_ARG, "kw_chat_tool_grammar: format %d is out of range",
                        (int)format);
    if (!tool_choice || !strcmp(tool_choice, "auto") || !strcmp(tool_choice, "none")) return KW_OK;
    if (!tools_json)
        return kw_error(KW_ERR_INVALID_ARG, "tool_choice '%s' needs tools", tool_choice);
    chat_tools tools;
    kw_status st = chat_tools_load(tools_json, &tools);
    if (st != KW_OK) return st;
    char want[128] = "";
    bool all = !strcmp(tool_choice, "required");
    if (!all) st = chosen_name(tool_choice, want, sizeof want);
    if (st == KW_OK && tools.n == 0)
        st = kw_error(KW_ERR_INVALID_ARG, "tool_choice '%s' with no tools", tool_choice);
    for (size_t i = 0; st == KW_OK && i < tools.n; i++)
        if (!valid_name(tools.v[i].name))
            st = kw_error(KW_ERR_INVALID_ARG,
                          "tools[%zu]: the name '%s' is not 1 to 64 of [A-Za-z0-9_.-]", i,
                          tools.v[i].name);
    if (st == KW_OK && !all && !chat_tools_find(&tools, want, strlen(want)))
        st = kw_error(KW_ERR_INVALID_ARG, "tool_choice names '%s', which is not one of the tools",
                      want);
    gb g = {0};
    if (st == KW_OK) {
        put(&g, "root ::= ");
        int n = 0;
        for (size_t i = 0; i < tools.n; i++)
            if (all || !strcmp(tools.v[i].name, want)) putf(&g, "%scall-%zu", n++ ? " | " : "", i);
        put(&g, "\nrawchar ::= [^<\\x00-\\x1F\\x7F]\n");
    }
    for (size_t i = 0; st == KW_OK && i < tools.n; i++)
        if (all || !strcmp(tools.v[i].name, want)) st = call_rules(&g, &tools.v[i], (int)i, format);
    chat_tools_free(&tools);
    if (st == KW_OK && g.oom) st = kw_error(KW_ERR_NOMEM, "tool grammar: out of memory");
    if (st != KW_OK) {
        free(g.b.p);
        return st;
    }
    *gbnf_out = g.b.p;
    return KW_OK;
}
