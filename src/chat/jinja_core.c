/* jinja_core.c - the memory, error and value layer of the Jinja engine: arena, error unwinding,
 * growable buffers, the value type with JavaScript's equality and string forms, the
 * reference's toJSON, Number.prototype.toString, and import of jansson values.
 *
 * Relies on: base (kw_malloc, kw_error, UTF-8), jansson.
 * Must not: return NULL from an allocation (failures unwind through jfail) or let the arena
 * grow past its limit.
 */
#include "chat/jinja_impl.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- arena, errors */

void jctx_init(jctx *cx, size_t limit) {
    memset(cx, 0, sizeof *cx);
    cx->limit = limit;
}

void jctx_free(jctx *cx) {
    ja_chunk *c = cx->chunks;
    while (c) {
        ja_chunk *next = c->next;
        free(c);
        c = next;
    }
    cx->chunks = NULL;
    cx->total = 0;
}

_Noreturn void jfail(jctx *cx, kw_status st, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cx->msg, sizeof cx->msg, fmt, ap);
    va_end(ap);
    cx->status = st;
    longjmp(cx->jb, 1);
}

void *ja_alloc(jctx *cx, size_t n) {
    n = (n + 15) & ~(size_t)15;
    ja_chunk *c = cx->chunks;
    if (!c || c->cap - c->used < n) {
        bool big = n > 16384; /* a big block gets its own chunk behind the current one */
        size_t cap = big ? n : 65536;
        if (cx->total + cap > cx->limit)
            jfail(cx, KW_ERR_NOMEM, "template memory limit reached (%zu bytes)", cx->limit);
        ja_chunk *nc = kw_malloc(sizeof *nc + cap, "jinja arena chunk");
        if (!nc) jfail(cx, KW_ERR_NOMEM, "out of memory allocating %zu bytes", cap);
        nc->used = 0;
        nc->cap = cap;
        cx->total += cap;
        if (big && c) {
            nc->next = c->next;
            c->next = nc;
        } else {
            nc->next = c;
            cx->chunks = nc;
        }
        c = nc;
    }
    void *p = c->data + c->used;
    c->used += n;
    memset(p, 0, n);
    return p;
}

void *ja_grow(jctx *cx, void *p, size_t old_n, size_t new_n) {
    void *q = ja_alloc(cx, new_n);
    if (p && old_n) memcpy(q, p, old_n < new_n ? old_n : new_n);
    return q;
}

char *ja_strndup(jctx *cx, const char *s, size_t n) {
    char *p = ja_alloc(cx, n + 1);
    if (n) memcpy(p, s, n);
    p[n] = 0;
    return p;
}

void jb_put(jctx *cx, jbuf *b, const char *s, size_t n) {
    if (b->len + n + 1 > b->cap) {
        if (b->max && b->len + n > b->max)
            jfail(cx, KW_ERR_FORMAT, "rendering exceeds the output limit of %zu bytes", b->max);
        size_t cap = b->cap ? b->cap * 2 : 64;
        while (cap < b->len + n + 1)
            cap *= 2;
        b->p = ja_grow(cx, b->p, b->len, cap);
        b->cap = cap;
    }
    if (n) memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
}

void jb_puts(jctx *cx, jbuf *b, const char *s) { jb_put(cx, b, s, strlen(s)); }
void jb_putc(jctx *cx, jbuf *b, char c) { jb_put(cx, b, &c, 1); }

/* ---------------------------------------------------------------- containers */

jv jv_cstr(const char *s) { return jv_str(s, strlen(s)); }

jv jv_new_array(jctx *cx, size_t cap) {
    jv v = {0};
    v.t = JV_ARRAY;
    v.arr = ja_alloc(cx, sizeof *v.arr);
    if (cap) {
        v.arr->v = ja_alloc(cx, cap * sizeof(jv));
        v.arr->cap = cap;
    }
    return v;
}

jv jv_new_object(jctx *cx) {
    jv v = {0};
    v.t = JV_OBJECT;
    v.obj = ja_alloc(cx, sizeof *v.obj);
    return v;
}

void jarr_push(jctx *cx, jarr *a, jv v) {
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 4;
        a->v = ja_grow(cx, a->v, a->n * sizeof(jv), cap * sizeof(jv));
        a->cap = cap;
    }
    a->v[a->n++] = v;
}

jv *jobj_get(const jobj *o, const char *k, size_t klen) {
    for (size_t i = 0; i < o->n; i++)
        if (o->e[i].klen == klen && memcmp(o->e[i].k, k, klen) == 0) return &o->e[i].v;
    return NULL;
}

void jobj_set(jctx *cx, jobj *o, const char *k, size_t klen, jv v) {
    jv *old = jobj_get(o, k, klen);
    if (old) {
        *old = v; /* a Map keeps the first position of a key */
        return;
    }
    if (o->n == o->cap) {
        size_t cap = o->cap ? o->cap * 2 : 4;
        o->e = ja_grow(cx, o->e, o->n * sizeof(jentry), cap * sizeof(jentry));
        o->cap = cap;
    }
    o->e[o->n].k = k;
    o->e[o->n].klen = klen;
    o->e[o->n].v = v;
    o->n++;
}

/* ---------------------------------------------------------------- semantics */

const char *jv_type_name(jv v) {
    switch (v.t) {
    case JV_UNDEF: return "UndefinedValue";
    case JV_NULL: return "NullValue";
    case JV_BOOL: return "BooleanValue";
    case JV_INT: return "IntegerValue";
    case JV_FLOAT: return "FloatValue";
    case JV_STR: return "StringValue";
    case JV_ARRAY: return v.sub ? "TupleValue" : "ArrayValue";
    case JV_OBJECT: return v.sub ? "KeywordArgumentsValue" : "ObjectValue";
    case JV_FUNC: return "FunctionValue";
    }
    return "?";
}

bool jv_truthy(jv v) {
    switch (v.t) {
    case JV_UNDEF:
    case JV_NULL: return false;
    case JV_BOOL: return v.b;
    case JV_INT:
    case JV_FLOAT: return v.n != 0 && !isnan(v.n);
    case JV_STR: return v.s.len > 0;
    case JV_ARRAY: return v.arr->n > 0;
    case JV_OBJECT: return v.obj->n > 0;
    case JV_FUNC: return true;
    }
    return false;
}

/* JavaScript Number(string): surrounding whitespace ignored, "" is 0, otherwise a decimal
 * (or 0x hex / Infinity) literal, else NaN. */
static double js_str_to_number(const char *s, size_t n) {
    size_t i = 0, k;
    while (i < n && (k = js_space_len(s, n, i)))
        i += k;
    while (n > i && (k = js_space_len_before(s, n)) && n - k >= i)
        n -= k;
    if (i == n) return 0;
    char buf[64];
    if (n - i >= sizeof buf) return NAN;
    memcpy(buf, s + i, n - i);
    buf[n - i] = 0;
    if (strcmp(buf, "Infinity") == 0 || strcmp(buf, "+Infinity") == 0) return INFINITY;
    if (strcmp(buf, "-Infinity") == 0) return -INFINITY;
    for (size_t j = 0; buf[j]; j++)
        if (!strchr("0123456789+-.eExXabcdefABCDEF", buf[j])) return NAN;
    if ((buf[0] == '0' && (buf[1] == 'x' || buf[1] == 'X'))) {
        char *end;
        unsigned long long x = strtoull(buf + 2, &end, 16);
        return *end || !buf[2] ? NAN : (double)x;
    }
    for (size_t j = 0; buf[j]; j++)
        if (strchr("xXabcdfABCDF", buf[j])) return NAN;
    char *end;
    double d = strtod(buf, &end);
    return *end ? NAN : d;
}

bool jv_strict_eq(jv a, jv b) {
    if (jv_isnum(a) && jv_isnum(b)) return a.n == b.n;
    if (a.t != b.t) return false;
    switch (a.t) {
    case JV_UNDEF:
    case JV_NULL: return true;
    case JV_BOOL: return a.b == b.b;
    case JV_STR: return a.s.len == b.s.len && memcmp(a.s.p, b.s.p, a.s.len) == 0;
    case JV_ARRAY: return a.arr == b.arr;
    case JV_OBJECT: return a.obj == b.obj;
    case JV_FUNC: return a.fn == b.fn;
    default: return false;
    }
}

bool jv_loose_eq(jv a, jv b) {
    bool an = a.t == JV_UNDEF || a.t == JV_NULL, bn = b.t == JV_UNDEF || b.t == JV_NULL;
    if (an || bn) return an && bn;
    if (a.t == JV_BOOL) return jv_loose_eq(jv_int(a.b), b);
    if (b.t == JV_BOOL) return jv_loose_eq(a, jv_int(b.b));
    if (jv_isnum(a) && b.t == JV_STR) return a.n == js_str_to_number(b.s.p, b.s.len);
    if (a.t == JV_STR && jv_isnum(b)) return js_str_to_number(a.s.p, a.s.len) == b.n;
    return jv_strict_eq(a, b);
}

/* ---------------------------------------------------------------- numbers */

/* Number.prototype.toString(): the shortest digits that read back as n (ECMA-262
 * Number::toString), fixed notation for exponents in [-7, 21), otherwise "d.ddde+x". */
void js_number_str(double n, char out[40]) {
    if (isnan(n)) {
        strcpy(out, "NaN");
        return;
    }
    if (isinf(n)) {
        strcpy(out, n < 0 ? "-Infinity" : "Infinity");
        return;
    }
    if (n == 0) {
        strcpy(out, "0");
        return;
    }
    char tmp[40];
    int p;
    for (p = 1; p <= 17; p++) {
        snprintf(tmp, sizeof tmp, "%.*e", p - 1, n);
        if (strtod(tmp, NULL) == n) break;
    }
    /* tmp: [-]d[.ddd]e[+-]xx */
    char digits[24];
    int nd = 0;
    const char *q = tmp;
    bool neg = *q == '-';
    if (neg) q++;
    for (; *q && *q != 'e'; q++)
        if (*q >= '0' && *q <= '9') digits[nd++] = *q;
    while (nd > 1 && digits[nd - 1] == '0')
        nd--;
    int e = atoi(q + 1); /* value = 0.d1d2.. * 10^(e+1) */
    int k = nd, npos = e + 1;
    char *o = out;
    if (neg) *o++ = '-';
    if (k <= npos && npos <= 21) {
        memcpy(o, digits, k);
        o += k;
        for (int i = 0; i < npos - k; i++)
            *o++ = '0';
    } else if (0 < npos && npos <= 21) {
        memcpy(o, digits, npos);
        o += npos;
        *o++ = '.';
        memcpy(o, digits + npos, k - npos);
        o += k - npos;
    } else if (-6 < npos && npos <= 0) {
        *o++ = '0';
        *o++ = '.';
        for (int i = 0; i < -npos; i++)
            *o++ = '0';
        memcpy(o, digits, k);
        o += k;
    } else {
        *o++ = digits[0];
        if (k > 1) {
            *o++ = '.';
            memcpy(o, digits + 1, k - 1);
            o += k - 1;
        }
        o += sprintf(o, "e%c%d", npos - 1 >= 0 ? '+' : '-', abs(npos - 1));
    }
    *o = 0;
}

/* ---------------------------------------------------------------- strings */

void js_json_string(jctx *cx, jbuf *b, const char *s, size_t n) {
    jb_putc(cx, b, '"');
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        const char *esc = NULL;
        char u[8];
        switch (c) {
        case '"': esc = "\\\""; break;
        case '\\': esc = "\\\\"; break;
        case '\b': esc = "\\b"; break;
        case '\f': esc = "\\f"; break;
        case '\n': esc = "\\n"; break;
        case '\r': esc = "\\r"; break;
        case '\t': esc = "\\t"; break;
        default:
            if (c < 0x20) {
                snprintf(u, sizeof u, "\\u%04x", c);
                esc = u;
            }
        }
        if (esc) {
            jb_put(cx, b, s + i - run, run);
            run = 0;
            jb_puts(cx, b, esc);
        } else {
            run++;
        }
    }
    jb_put(cx, b, s + n - run, run);
    jb_putc(cx, b, '"');
}

static void put_float_str(jctx *cx, jbuf *b, double n) {
    char tmp[40];
    js_number_str(n, tmp);
    jb_puts(cx, b, tmp);
    /* FloatValue.toString(): an integral float keeps one decimal (toFixed(1)) */
    if (isfinite(n) && n == floor(n) && fabs(n) < 1e21) jb_puts(cx, b, ".0");
}

void jv_to_json(jctx *cx, jbuf *b, jv v, int indent, int depth) {
    char tmp[40];
    if (depth > 200) jfail(cx, KW_ERR_FORMAT, "tojson: value nested deeper than 200 levels");
    switch (v.t) {
    case JV_UNDEF:
    case JV_NULL: jb_puts(cx, b, "null"); return;
    case JV_BOOL: jb_puts(cx, b, v.b ? "true" : "false"); return;
    case JV_INT:
    case JV_FLOAT:
        if (!isfinite(v.n)) {
            jb_puts(cx, b, "null");
            return;
        }
        js_number_str(v.n, tmp);
        jb_puts(cx, b, tmp);
        return;
    case JV_STR: js_json_string(cx, b, v.s.p, v.s.len); return;
    case JV_FUNC: jfail(cx, KW_ERR_FORMAT, "Cannot convert to JSON: FunctionValue");
    case JV_ARRAY:
    case JV_OBJECT: break;
    }
    bool is_arr = v.t == JV_ARRAY;
    size_t count = is_arr ? v.arr->n : v.obj->n;
    jb_putc(cx, b, is_arr ? '[' : '{');
    for (size_t i = 0; i < count; i++) {
        if (i) jb_puts(cx, b, indent > 0 ? "," : ", ");
        if (indent > 0) {
            jb_putc(cx, b, '\n');
            for (int j = 0; j < indent * (depth + 1); j++)
                jb_putc(cx, b, ' ');
        }
        if (is_arr) {
            jv_to_json(cx, b, v.arr->v[i], indent, depth + 1);
        } else {
            js_json_string(cx, b, v.obj->e[i].k, v.obj->e[i].klen);
            jb_puts(cx, b, ": ");
            jv_to_json(cx, b, v.obj->e[i].v, indent, depth + 1);
        }
    }
    if (indent > 0) {
        /* the reference pads even an empty list: "[" + child padding + base padding + "]" */
        if (!count && is_arr) {
            jb_putc(cx, b, '\n');
            for (int j = 0; j < indent * (depth + 1); j++)
                jb_putc(cx, b, ' ');
        }
        jb_putc(cx, b, '\n');
        for (int j = 0; j < indent * depth; j++)
            jb_putc(cx, b, ' ');
    }
    jb_putc(cx, b, is_arr ? ']' : '}');
}

void jv_to_str(jctx *cx, jbuf *b, jv v) {
    char tmp[40];
    switch (v.t) {
    case JV_UNDEF: jb_puts(cx, b, "undefined"); return;
    case JV_NULL: jb_puts(cx, b, "null"); return;
    case JV_BOOL: jb_puts(cx, b, v.b ? "true" : "false"); return;
    case JV_INT:
        js_number_str(v.n, tmp);
        jb_puts(cx, b, tmp);
        return;
    case JV_FLOAT: put_float_str(cx, b, v.n); return;
    case JV_STR: jb_put(cx, b, v.s.p, v.s.len); return;
    case JV_ARRAY:
    case JV_OBJECT: jv_to_json(cx, b, v, -1, 0); return;
    case JV_FUNC: jb_puts(cx, b, "[function]"); return;
    }
}

void jv_to_raw(jctx *cx, jbuf *b, jv v) {
    char tmp[40];
    switch (v.t) {
    case JV_INT:
    case JV_FLOAT:
        js_number_str(v.n, tmp);
        jb_puts(cx, b, tmp);
        return;
    case JV_OBJECT: jb_puts(cx, b, "[object Map]"); return;
    case JV_ARRAY:
        for (size_t i = 0; i < v.arr->n; i++) {
            if (i) jb_putc(cx, b, ',');
            jv_to_str(cx, b, v.arr->v[i]);
        }
        return;
    default: jv_to_str(cx, b, v); return;
    }
}

jv jv_stringify(jctx *cx, jv v) {
    if (v.t == JV_STR) return v;
    jbuf b = {0};
    jv_to_str(cx, &b, v);
    return jv_str(b.p ? b.p : "", b.len);
}

/* ---------------------------------------------------------------- JSON import */

jv jv_from_json(jctx *cx, const void *json, int depth) {
    const json_t *j = json;
    if (depth > 256) jfail(cx, KW_ERR_FORMAT, "context JSON nested deeper than 256 levels");
    switch (json_typeof(j)) {
    case JSON_NULL: return jv_null();
    case JSON_TRUE: return jv_bool(true);
    case JSON_FALSE: return jv_bool(false);
    case JSON_INTEGER: return jv_int((double)json_integer_value(j));
    case JSON_REAL: {
        double d = json_real_value(j);
        /* JSON.parse("3.0") is the number 3, an IntegerValue in the reference */
        return d == floor(d) && isfinite(d) ? jv_int(d) : jv_float(d);
    }
    case JSON_STRING:
        return jv_str(ja_strndup(cx, json_string_value(j), json_string_length(j)),
                      json_string_length(j));
    case JSON_ARRAY: {
        size_t n = json_array_size(j);
        jv a = jv_new_array(cx, n);
        for (size_t i = 0; i < n; i++)
            jarr_push(cx, a.arr, jv_from_json(cx, json_array_get(j, i), depth + 1));
        return a;
    }
    case JSON_OBJECT: {
        jv o = jv_new_object(cx);
        const char *key;
        json_t *val;
        json_object_foreach((json_t *)j, key, val) {
            size_t kl = strlen(key);
            jobj_set(cx, o.obj, ja_strndup(cx, key, kl), kl, jv_from_json(cx, val, depth + 1));
        }
        return o;
    }
    }
    return jv_undef();
}

/* ---------------------------------------------------------------- JavaScript whitespace */

static bool js_space_cp(uint32_t c) {
    return c == 9 || c == 10 || c == 11 || c == 12 || c == 13 || c == 32 || c == 0xA0 ||
           c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 ||
           c == 0x202F || c == 0x205F || c == 0x3000 || c == 0xFEFF;
}

size_t js_space_len(const char *s, size_t n, size_t i) {
    if (i >= n) return 0;
    unsigned char c = (unsigned char)s[i];
    if (c < 0x80) return js_space_cp(c) ? 1 : 0;
    uint32_t cp;
    int k = kw_utf8_decode((const uint8_t *)s + i, n - i, &cp);
    return (k > 1 && js_space_cp(cp)) ? (size_t)k : 0;
}

size_t js_space_len_before(const char *s, size_t i) {
    if (i == 0) return 0;
    unsigned char c = (unsigned char)s[i - 1];
    if (c < 0x80) return js_space_cp(c) ? 1 : 0;
    size_t j = i - 1;
    while (j > 0 && i - j < 4 && ((unsigned char)s[j] & 0xC0) == 0x80)
        j--;
    size_t k = js_space_len(s, i, j);
    return k == i - j ? k : 0;
}

size_t js_utf16_len(const char *s, size_t n) {
    size_t units = 0;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        int k = kw_utf8_decode((const uint8_t *)s + i, n - i, &cp);
        units += cp > 0xFFFF ? 2 : 1;
        i += (size_t)k;
    }
    return units;
}
