/* json_schema_validate.c - validates a JSON instance against the JSON Schema subset that
 * json_schema.c converts (an own validator, so that the final output is checked before it is
 * returned: fail closed). Keywords outside the subset are refused, never skipped.
 */
#include "grammar/json_schema.h"

#include "base/base.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 256

typedef struct vctx {
    json_t *root;
    char *why; /* the first mismatch (malloc'd) */
    kw_status st;
} vctx;

static kw_status fail(vctx *v, kw_status st, const char *ipath, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static kw_status fail(vctx *v, kw_status st, const char *ipath, const char *fmt, ...) {
    if (v->st != KW_OK) return v->st;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    char full[768];
    snprintf(full, sizeof full, "at %s: %s", *ipath ? ipath : "/", msg);
    v->why = kw_strdup(full);
    v->st = st;
    return st;
}

static char *child(const char *ptr, const char *tok) {
    size_t n = strlen(ptr), t = strlen(tok);
    char *p = malloc(n + 2 * t + 2);
    if (!p) return NULL;
    memcpy(p, ptr, n);
    size_t k = n;
    p[k++] = '/';
    for (size_t i = 0; i < t; i++) {
        if (tok[i] == '~') {
            p[k++] = '~';
            p[k++] = '0';
        } else if (tok[i] == '/') {
            p[k++] = '~';
            p[k++] = '1';
        } else {
            p[k++] = tok[i];
        }
    }
    p[k] = 0;
    return p;
}
static char *child_i(const char *ptr, size_t i) {
    char tmp[32];
    snprintf(tmp, sizeof tmp, "%zu", i);
    return child(ptr, tmp);
}

static const char *const KNOWN[] = {"type",
                                    "properties",
                                    "required",
                                    "additionalProperties",
                                    "enum",
                                    "const",
                                    "items",
                                    "prefixItems",
                                    "minItems",
                                    "maxItems",
                                    "anyOf",
                                    "oneOf",
                                    "allOf",
                                    "$ref",
                                    "$defs",
                                    "definitions",
                                    "minLength",
                                    "maxLength",
                                    "pattern",
                                    "format",
                                    "minimum",
                                    "maximum",
                                    "exclusiveMinimum",
                                    "exclusiveMaximum",
                                    "title",
                                    "description",
                                    "$schema",
                                    "$id",
                                    "examples",
                                    "default",
                                    "$comment",
                                    NULL};

static json_t *resolve(json_t *root, const char *ref) {
    if (ref[0] != '#') return NULL;
    if (ref[1] == 0) return root;
    if (ref[1] != '/') return NULL;
    json_t *cur = root;
    const char *p = ref + 1;
    char tok[256];
    while (*p == '/') {
        p++;
        size_t k = 0;
        while (*p && *p != '/') {
            if (k + 1 >= sizeof tok) return NULL;
            if (*p == '~' && (p[1] == '0' || p[1] == '1')) {
                tok[k++] = p[1] == '0' ? '~' : '/';
                p += 2;
            } else {
                tok[k++] = *p++;
            }
        }
        tok[k] = 0;
        if (json_is_object(cur))
            cur = json_object_get(cur, tok);
        else if (json_is_array(cur)) {
            char *e = NULL;
            unsigned long i = strtoul(tok, &e, 10);
            cur = (k && e && *e == 0) ? json_array_get(cur, i) : NULL;
        } else
            cur = NULL;
        if (!cur) return NULL;
    }
    return cur;
}

static bool is_integer(json_t *x) {
    if (json_is_integer(x)) return true;
    if (json_is_real(x)) {
        double d = json_real_value(x);
        return isfinite(d) && d == floor(d);
    }
    return false;
}

static bool type_is(json_t *x, const char *t) {
    if (strcmp(t, "object") == 0) return json_is_object(x);
    if (strcmp(t, "array") == 0) return json_is_array(x);
    if (strcmp(t, "string") == 0) return json_is_string(x);
    if (strcmp(t, "number") == 0) return json_is_number(x);
    if (strcmp(t, "integer") == 0) return is_integer(x);
    if (strcmp(t, "boolean") == 0) return json_is_boolean(x);
    if (strcmp(t, "null") == 0) return json_is_null(x);
    return false;
}

static size_t utf8_len(const char *s, size_t n) {
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (((unsigned char)s[i] & 0xC0) != 0x80) k++;
    return k;
}

static bool digits(const char *s, int n) {
    for (int i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9') return false;
    return true;
}
static int num(const char *s, int n) {
    int v = 0;
    for (int i = 0; i < n; i++)
        v = v * 10 + (s[i] - '0');
    return v;
}

static bool valid_date(const char *s, size_t n) {
    if (n != 10 || s[4] != '-' || s[7] != '-' || !digits(s, 4) || !digits(s + 5, 2) ||
        !digits(s + 8, 2))
        return false;
    int y = num(s, 4), m = num(s + 5, 2), d = num(s + 8, 2);
    static const int dim[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m < 1 || m > 12 || d < 1) return false;
    int max = dim[m - 1];
    if (m == 2 && y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)) max = 29;
    return d <= max;
}

/* HH:MM:SS(.frac)?(Z|+HH:MM|-HH:MM), as ajv-formats' full mode (a timezone required). */
static bool valid_time(const char *s, size_t n) {
    if (n < 9 || s[2] != ':' || s[5] != ':' || !digits(s, 2) || !digits(s + 3, 2) ||
        !digits(s + 6, 2))
        return false;
    int h = num(s, 2), mi = num(s + 3, 2), se = num(s + 6, 2);
    if (h > 23 || mi > 59 || se > 60) return false;
    size_t i = 8;
    if (i < n && s[i] == '.') {
        i++;
        size_t st = i;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
        if (i == st) return false;
    }
    if (i < n && (s[i] == 'Z' || s[i] == 'z')) return i + 1 == n;
    if (i < n && (s[i] == '+' || s[i] == '-')) {
        if (n - i != 6 || s[i + 3] != ':' || !digits(s + i + 1, 2) || !digits(s + i + 4, 2))
            return false;
        return num(s + i + 1, 2) <= 23 && num(s + i + 4, 2) <= 59;
    }
    return false;
}

static bool hex(char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static bool valid_uuid(const char *s, size_t n) {
    if (n != 36) return false;
    for (size_t i = 0; i < n; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? s[i] != '-' : !hex(s[i])) return false;
    }
    return true;
}

static bool email_local(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr("!#$%&'*+/=?^_`{|}~-", c));
}

/* The shape of ajv-formats' email: dot-atoms '@' labels of [a-z0-9-] (not starting or ending in
 * '-') with at least one dot. */
static bool valid_email(const char *s, size_t n) {
    const char *at = memchr(s, '@', n);
    if (!at || at == s) return false;
    size_t ln = (size_t)(at - s);
    if (s[0] == '.' || s[ln - 1] == '.') return false;
    for (size_t i = 0; i < ln; i++) {
        if (s[i] == '.') {
            if (s[i + 1] == '.') return false;
        } else if (!email_local(s[i]))
            return false;
    }
    const char *d = at + 1;
    size_t dn = n - ln - 1;
    int labels = 0;
    size_t i = 0;
    while (i <= dn) {
        size_t st = i;
        while (i < dn && d[i] != '.')
            i++;
        size_t len = i - st;
        if (len == 0) return false;
        for (size_t k = st; k < i; k++) {
            char c = d[k];
            bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '-';
            if (!ok) return false;
        }
        if (d[st] == '-' || d[i - 1] == '-') return false;
        labels++;
        i++;
    }
    return labels >= 2;
}

static bool pattern_matches(vctx *v, const char *pat, const char *s, size_t n, const char *ipath) {
    int err;
    PCRE2_SIZE off;
    pcre2_code *re =
        pcre2_compile((PCRE2_SPTR)pat, PCRE2_ZERO_TERMINATED, PCRE2_UTF, &err, &off, NULL);
    if (!re) {
        fail(v, KW_ERR_UNSUPPORTED, ipath, "pattern '%s' does not compile (offset %zu)", pat,
             (size_t)off);
        return false;
    }
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
    int rc = md ? pcre2_match(re, (PCRE2_SPTR)s, n, 0, 0, md, NULL) : -1;
    pcre2_match_data_free(md);
    pcre2_code_free(re);
    return rc >= 0;
}

static kw_status check(vctx *v, json_t *s, json_t *x, const char *ipath, int depth);

static kw_status check_list(vctx *v, json_t *list, json_t *x, const char *ipath, int depth,
                            const char *kw) {
    if (!json_is_array(list) || json_array_size(list) == 0)
        return fail(v, KW_ERR_FORMAT, ipath, "'%s' must be a non-empty array", kw);
    size_t ok = 0;
    for (size_t i = 0; i < json_array_size(list); i++) {
        vctx sub = {.root = v->root};
        check(&sub, json_array_get(list, i), x, ipath, depth + 1);
        if (sub.st == KW_ERR_UNSUPPORTED || sub.st == KW_ERR_NOMEM) {
            fail(v, sub.st, ipath, "%s", sub.why ? sub.why : "?");
            free(sub.why);
            return v->st;
        }
        free(sub.why);
        if (sub.st == KW_OK) {
            ok++;
            if (strcmp(kw, "anyOf") == 0) return KW_OK;
        } else if (strcmp(kw, "allOf") == 0) {
            return fail(v, KW_ERR_FORMAT, ipath, "allOf branch %zu does not match", i);
        }
    }
    if (strcmp(kw, "allOf") == 0) return KW_OK;
    if (strcmp(kw, "oneOf") == 0 && ok == 1) return KW_OK;
    if (strcmp(kw, "oneOf") == 0)
        return fail(v, KW_ERR_FORMAT, ipath, "oneOf: %zu branches match, not exactly one", ok);
    return fail(v, KW_ERR_FORMAT, ipath, "anyOf: no branch matches");
}

static kw_status check(vctx *v, json_t *s, json_t *x, const char *ipath, int depth) {
    if (v->st != KW_OK) return v->st;
    if (depth > MAX_DEPTH)
        return fail(v, KW_ERR_UNSUPPORTED, ipath, "schema nesting deeper than %d (a $ref loop?)",
                    MAX_DEPTH);
    if (json_is_true(s)) return KW_OK;
    if (json_is_false(s)) return fail(v, KW_ERR_FORMAT, ipath, "schema false matches nothing");
    if (!json_is_object(s))
        return fail(v, KW_ERR_FORMAT, ipath, "the schema is not an object or boolean");
    const char *k;
    json_t *kv;
    json_object_foreach(s, k, kv) {
        bool known = false;
        for (int i = 0; KNOWN[i]; i++)
            known |= strcmp(KNOWN[i], k) == 0;
        if (!known) return fail(v, KW_ERR_UNSUPPORTED, ipath, "unsupported keyword '%s'", k);
    }
    json_t *j;
    if ((j = json_object_get(s, "$ref"))) {
        json_t *t = json_is_string(j) ? resolve(v->root, json_string_value(j)) : NULL;
        if (!t) return fail(v, KW_ERR_UNSUPPORTED, ipath, "'$ref' does not resolve");
        if (check(v, t, x, ipath, depth + 1) != KW_OK) return v->st;
    }
    if ((j = json_object_get(s, "type"))) {
        bool ok = false;
        if (json_is_string(j))
            ok = type_is(x, json_string_value(j));
        else if (json_is_array(j))
            for (size_t i = 0; i < json_array_size(j); i++)
                ok |= json_is_string(json_array_get(j, i)) &&
                      type_is(x, json_string_value(json_array_get(j, i)));
        if (!ok) return fail(v, KW_ERR_FORMAT, ipath, "type does not match");
    }
    if ((j = json_object_get(s, "const")) && !json_equal(j, x))
        return fail(v, KW_ERR_FORMAT, ipath, "not the const value");
    if ((j = json_object_get(s, "enum"))) {
        bool ok = false;
        for (size_t i = 0; json_is_array(j) && i < json_array_size(j); i++)
            ok |= json_equal(json_array_get(j, i), x);
        if (!ok) return fail(v, KW_ERR_FORMAT, ipath, "not one of the enum values");
    }
    if ((j = json_object_get(s, "anyOf")) && check_list(v, j, x, ipath, depth, "anyOf") != KW_OK)
        return v->st;
    if ((j = json_object_get(s, "oneOf")) && check_list(v, j, x, ipath, depth, "oneOf") != KW_OK)
        return v->st;
    if ((j = json_object_get(s, "allOf")) && check_list(v, j, x, ipath, depth, "allOf") != KW_OK)
        return v->st;
    if (json_is_number(x)) {
        double d = json_number_value(x);
        json_t *b;
        if ((b = json_object_get(s, "minimum")) && json_is_number(b) && d < json_number_value(b))
            return fail(v, KW_ERR_FORMAT, ipath, "%g < minimum %g", d, json_number_value(b));
        if ((b = json_object_get(s, "maximum")) && json_is_number(b) && d > json_number_value(b))
            return fail(v, KW_ERR_FORMAT, ipath, "%g > maximum %g", d, json_number_value(b));
        if ((b = json_object_get(s, "exclusiveMinimum")) && json_is_number(b) &&
            d <= json_number_value(b))
            return fail(v, KW_ERR_FORMAT, ipath, "%g <= exclusiveMinimum %g", d,
                        json_number_value(b));
        if ((b = json_object_get(s, "exclusiveMaximum")) && json_is_number(b) &&
            d >= json_number_value(b))
            return fail(v, KW_ERR_FORMAT, ipath, "%g >= exclusiveMaximum %g", d,
                        json_number_value(b));
        const char *bk[] = {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"};
        for (int i = 0; i < 4; i++)
            if ((b = json_object_get(s, bk[i])) && !json_is_number(b))
                return fail(v, KW_ERR_UNSUPPORTED, ipath, "'%s' is not a number", bk[i]);
    }
    if (json_is_string(x)) {
        const char *str = json_string_value(x);
        size_t n = json_string_length(x);
        size_t len = utf8_len(str, n);
        json_t *b;
        if ((b = json_object_get(s, "minLength")) && json_is_integer(b) &&
            (json_int_t)len < json_integer_value(b))
            return fail(v, KW_ERR_FORMAT, ipath, "length %zu < minLength %lld", len,
                        (long long)json_integer_value(b));
        if ((b = json_object_get(s, "maxLength")) && json_is_integer(b) &&
            (json_int_t)len > json_integer_value(b))
            return fail(v, KW_ERR_FORMAT, ipath, "length %zu > maxLength %lld", len,
                        (long long)json_integer_value(b));
        if ((b = json_object_get(s, "pattern"))) {
            if (!json_is_string(b))
                return fail(v, KW_ERR_FORMAT, ipath, "'pattern' is not a string");
            bool m = pattern_matches(v, json_string_value(b), str, n, ipath);
            if (v->st != KW_OK) return v->st;
            if (!m)
                return fail(v, KW_ERR_FORMAT, ipath, "does not match pattern '%s'",
                            json_string_value(b));
        }
        if ((b = json_object_get(s, "format"))) {
            const char *f = json_is_string(b) ? json_string_value(b) : "";
            bool ok;
            if (strcmp(f, "date") == 0)
                ok = valid_date(str, n);
            else if (strcmp(f, "time") == 0)
                ok = valid_time(str, n);
            else if (strcmp(f, "date-time") == 0)
                ok = n > 11 && (str[10] == 'T' || str[10] == 't') && valid_date(str, 10) &&
                     valid_time(str + 11, n - 11);
            else if (strcmp(f, "uuid") == 0)
                ok = valid_uuid(str, n);
            else if (strcmp(f, "email") == 0)
                ok = valid_email(str, n);
            else
                return fail(v, KW_ERR_UNSUPPORTED, ipath, "unsupported format '%s'", f);
            if (!ok) return fail(v, KW_ERR_FORMAT, ipath, "not a valid %s", f);
        }
    }
    if (json_is_array(x)) {
        size_t n = json_array_size(x);
        json_t *b;
        if ((b = json_object_get(s, "minItems")) && json_is_integer(b) &&
            (json_int_t)n < json_integer_value(b))
            return fail(v, KW_ERR_FORMAT, ipath, "%zu items < minItems %lld", n,
                        (long long)json_integer_value(b));
        if ((b = json_object_get(s, "maxItems")) && json_is_integer(b) &&
            (json_int_t)n > json_integer_value(b))
            return fail(v, KW_ERR_FORMAT, ipath, "%zu items > maxItems %lld", n,
                        (long long)json_integer_value(b));
        json_t *pre = json_object_get(s, "prefixItems");
        size_t np = json_is_array(pre) ? json_array_size(pre) : 0;
        json_t *items = json_object_get(s, "items");
        for (size_t i = 0; i < n; i++) {
            json_t *sub = i < np ? json_array_get(pre, i) : items;
            if (!sub) continue;
            char *ip = child_i(ipath, i);
            if (!ip) return fail(v, KW_ERR_NOMEM, ipath, "out of memory");
            check(v, sub, json_array_get(x, i), ip, depth + 1);
            free(ip);
            if (v->st != KW_OK) return v->st;
        }
    }
    if (json_is_object(x)) {
        json_t *props = json_object_get(s, "properties");
        json_t *req = json_object_get(s, "required");
        json_t *addl = json_object_get(s, "additionalProperties");
        for (size_t i = 0; json_is_array(req) && i < json_array_size(req); i++) {
            const char *name = json_string_value(json_array_get(req, i));
            if (name && !json_object_get(x, name))
                return fail(v, KW_ERR_FORMAT, ipath, "required property '%s' missing", name);
        }
        const char *key;
        json_t *val;
        json_object_foreach(x, key, val) {
            json_t *sub = json_is_object(props) ? json_object_get(props, key) : NULL;
            if (!sub && addl && json_is_false(addl))
                return fail(v, KW_ERR_FORMAT, ipath, "property '%s' not allowed", key);
            if (!sub) sub = addl;
            if (!sub) continue;
            char *ip = child(ipath, key);
            if (!ip) return fail(v, KW_ERR_NOMEM, ipath, "out of memory");
            check(v, sub, val, ip, depth + 1);
            free(ip);
            if (v->st != KW_OK) return v->st;
        }
    }
    return KW_OK;
}

kw_status kw_json_schema_validate_value(json_t *root, json_t *schema, json_t *instance,
                                        char **why) {
    vctx v = {.root = root};
    check(&v, schema, instance, "", 0);
    if (v.st != KW_OK) {
        kw_error(v.st, "json schema validation: %s", v.why ? v.why : "?");
        if (why)
            *why = v.why;
        else
            free(v.why);
        return v.st;
    }
    if (why) *why = NULL;
    return KW_OK;
}

kw_status kw_json_schema_validate(const char *schema_json, const char *instance, size_t len,
                                  char **why) {
    kw_error_clear();
    if (why) *why = NULL;
    if (!schema_json || !instance)
        return kw_error(KW_ERR_INVALID_ARG, "kw_json_schema_validate: NULL argument");
    json_error_t je;
    json_t *schema = json_loads(schema_json, JSON_DECODE_ANY, &je);
    if (!schema)
        return kw_error(KW_ERR_INVALID_ARG, "json schema: %s at line %d column %d", je.text,
                        je.line, je.column);
    /* "\u0000" is valid JSON (and the grammars may produce it): jansson needs ALLOW_NUL for it */
    json_t *x = json_loadb(instance, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
    if (!x) {
        json_decref(schema);
        char msg[300];
        snprintf(msg, sizeof msg, "not JSON: %s at line %d column %d", je.text, je.line, je.column);
        if (why) *why = kw_strdup(msg);
        return kw_error(KW_ERR_FORMAT, "json schema validation: %s", msg);
    }
    kw_status st = kw_json_schema_validate_value(schema, schema, x, why);
    json_decref(x);
    json_decref(schema);
    return st;
}
