/* jinja_builtins.c - filters, tests and global functions of the Jinja engine, with the
 * behaviour of @huggingface/jinja 0.5.11: a filter the reference lacks for a value type fails
 * ("Unknown ArrayValue filter: min"), tojson prints ", " / ": " separators (or the reference's
 * indented layout), join uses each item's JavaScript string form, reverse and sort work in place
 * as the reference's Array methods do, selectattr skips items without the attribute.
 * Globals: namespace, range, raise_exception, strftime_now, true/false/none (any case).
 *
 * Relies on: jinja_core, jinja_strings, jinja_eval (jcall for map with a filter name).
 * Must not: build an unbounded result (range is capped; output size is checked by jbuf).
 */
#include "chat/jinja_impl.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_RANGE 1000000

typedef struct fargs {
    jv *pos;
    int npos;
    jobj *kw;
} fargs;

static fargs split_args(jv *args, int nargs) {
    fargs a = {args, nargs, NULL};
    if (nargs > 0 && args[nargs - 1].t == JV_OBJECT && args[nargs - 1].sub == 1) {
        a.kw = args[nargs - 1].obj;
        a.npos--;
    }
    return a;
}

static jv *farg(const fargs *a, int i, const char *name) {
    if (i >= 0 && i < a->npos) return &a->pos[i];
    return a->kw && name ? jobj_get(a->kw, name, strlen(name)) : NULL;
}

static bool eq(const char *s, size_t n, const char *w) {
    return strlen(w) == n && memcmp(s, w, n) == 0;
}

static const char *type_word(jv v) {
    switch (v.t) {
    case JV_ARRAY: return "ArrayValue";
    case JV_STR: return "StringValue";
    case JV_INT:
    case JV_FLOAT: return "NumericValue";
    case JV_OBJECT: return "ObjectValue";
    case JV_BOOL: return "BooleanValue";
    default: return jv_type_name(v);
    }
}

_Noreturn static void unknown_filter(jrun *r, jv v, const char *name, size_t len) {
    jrun_fail(r, KW_ERR_UNSUPPORTED, "Unknown %s filter: %.*s", type_word(v), (int)len, name);
}

/* ---------------------------------------------------------------- tests */

bool japply_test(jrun *r, jv v, const char *name, size_t len, jv *args, int nargs) {
    fargs a = split_args(args, nargs);
    jv *x = farg(&a, 0, NULL);
#define T(w) eq(name, len, w)
    if (T("defined")) return v.t != JV_UNDEF;
    if (T("undefined")) return v.t == JV_UNDEF;
    if (T("none")) return v.t == JV_NULL;
    if (T("string")) return v.t == JV_STR;
    if (T("boolean")) return v.t == JV_BOOL;
    if (T("true")) return v.t == JV_BOOL && v.b;
    if (T("false")) return v.t == JV_BOOL && !v.b;
    if (T("number")) return jv_isnum(v);
    if (T("integer")) return v.t == JV_INT;
    if (T("float")) return v.t == JV_FLOAT;
    if (T("mapping")) return v.t == JV_OBJECT && !v.sub;
    if (T("iterable")) return (v.t == JV_ARRAY && !v.sub) || v.t == JV_STR;
    if (T("sequence")) return v.t == JV_ARRAY || v.t == JV_STR;
    if (T("callable")) return v.t == JV_FUNC;
    if (T("lower") || T("upper")) {
        if (v.t != JV_STR) return false;
        jv m = jstr_map_case(r, v, T("upper"));
        return m.s.len == v.s.len && memcmp(m.s.p, v.s.p, v.s.len) == 0;
    }
    if (T("odd") || T("even")) {
        if (v.t != JV_INT)
            jrun_fail(r, KW_ERR_FORMAT, "cannot %.*s on %s", (int)len, name, jv_type_name(v));
        return (fmod(v.n, 2) != 0) == T("odd");
    }
    if (T("divisibleby")) {
        if (!jv_isnum(v) || !x || !jv_isnum(*x) || x->n == 0)
            jrun_fail(r, KW_ERR_FORMAT, "divisibleby needs two numbers, the divisor not 0");
        return fmod(v.n, x->n) == 0;
    }
    if (!x && (T("equalto") || T("eq") || T("==") || T("ne") || T("sameas") || T("in") || T("gt") ||
               T("ge") || T("lt") || T("le")))
        jrun_fail(r, KW_ERR_FORMAT, "test '%.*s' needs an argument", (int)len, name);
    if (T("equalto") || T("eq") || T("==")) return jv_strict_eq(v, *x);
    if (T("ne")) return !jv_strict_eq(v, *x);
    if (T("sameas")) return jv_strict_eq(v, *x);
    if (T("gt") || T("ge") || T("lt") || T("le")) {
        if (!jv_isnum(v) || !jv_isnum(*x))
            jrun_fail(r, KW_ERR_FORMAT, "test '%.*s' compares numbers only", (int)len, name);
        return T("gt") ? v.n > x->n : T("ge") ? v.n >= x->n : T("lt") ? v.n < x->n : v.n <= x->n;
    }
    if (T("in")) {
        if (x->t == JV_ARRAY) {
            for (size_t i = 0; i < x->arr->n; i++)
                if (jv_strict_eq(x->arr->v[i], v)) return true;
            return false;
        }
        if (x->t == JV_STR && v.t == JV_STR)
            return v.s.len == 0 || memmem(x->s.p, x->s.len, v.s.p, v.s.len);
        if (x->t == JV_OBJECT && v.t == JV_STR) return jobj_get(x->obj, v.s.p, v.s.len) != NULL;
        return false;
    }
#undef T
    jrun_fail(r, KW_ERR_UNSUPPORTED, "Unknown test: %.*s", (int)len, name);
}

/* ---------------------------------------------------------------- helpers */

static int cmp_values(jrun *r, jv a, jv b, bool case_sensitive) {
    if (jv_isnum(a) && jv_isnum(b)) return (a.n > b.n) - (a.n < b.n);
    if (a.t == JV_STR && b.t == JV_STR) {
        if (!case_sensitive) {
            jv la = jstr_map_case(r, a, 0), lb = jstr_map_case(r, b, 0);
            size_t n = la.s.len < lb.s.len ? la.s.len : lb.s.len;
            int c = n ? memcmp(la.s.p, lb.s.p, n) : 0;
            if (c || la.s.len != lb.s.len)
                return c ? c : (la.s.len > lb.s.len) - (la.s.len < lb.s.len);
        }
        size_t n = a.s.len < b.s.len ? a.s.len : b.s.len;
        int c = n ? memcmp(a.s.p, b.s.p, n) : 0;
        return c ? c : (a.s.len > b.s.len) - (a.s.len < b.s.len);
    }
    if (a.t == JV_BOOL && b.t == JV_BOOL) return (int)a.b - (int)b.b;
    if (a.t != b.t)
        jrun_fail(r, KW_ERR_FORMAT, "Cannot compare different types: %s and %s", jv_type_name(a),
                  jv_type_name(b));
    jrun_fail(r, KW_ERR_FORMAT, "Cannot compare type: %s", jv_type_name(a));
}

static jv sort_key(jv item, const jv *attr, int by_value) {
    if (by_value >= 0 && item.t == JV_ARRAY && item.arr->n == 2) return item.arr->v[by_value];
    if (attr && attr->t == JV_STR && item.t == JV_OBJECT) {
        jv *v = jobj_get(item.obj, attr->s.p, attr->s.len);
        return v ? *v : jv_undef();
    }
    return item;
}

/* stable insertion sort in place (lists here are short; the step limit bounds the rest) */
static void sort_items(jrun *r, jv *v, size_t n, const jv *attr, int by_value, bool cs, bool rev) {
    for (size_t i = 1; i < n; i++) {
        jv x = v[i];
        size_t j = i;
        while (j > 0) {
            int c =
                cmp_values(r, sort_key(v[j - 1], attr, by_value), sort_key(x, attr, by_value), cs);
            if (rev ? c >= 0 : c <= 0) break;
            v[j] = v[j - 1];
            j--;
        }
        v[j] = x;
        if (++r->steps > 50000000ull) jrun_fail(r, KW_ERR_FORMAT, "sort: too much work");
    }
}

static jv chars_of(jrun *r, jv s) {
    jv out = jv_new_array(r->cx, s.s.len);
    for (size_t i = 0; i < s.s.len;) {
        uint32_t cp;
        int k = kw_utf8_decode((const uint8_t *)s.s.p + i, s.s.len - i, &cp);
        jarr_push(r->cx, out.arr, jv_str(s.s.p + i, (size_t)k));
        i += (size_t)k;
    }
    return out;
}

static jv join_items(jrun *r, jv arr, jv sep) {
    jbuf b = {.max = r->max_output};
    for (size_t i = 0; i < arr.arr->n; i++) {
        if (i) jb_put(r->cx, &b, sep.s.p, sep.s.len);
        jv x = arr.arr->v[i];
        if (x.t != JV_NULL && x.t != JV_UNDEF) /* Array.join prints null/undefined as "" */
            jv_to_raw(r->cx, &b, x);
    }
    return jv_str(b.p ? b.p : "", b.len);
}

static jv indent_str(jrun *r, jv s, const fargs *a) {
    jv *w = farg(a, 0, "width"), *first = farg(a, 1, "first"), *blank = farg(a, 2, "blank");
    jbuf pad = {0};
    if (!w || w->t == JV_INT) {
        for (double i = 0; i < (w ? w->n : 4) && i < 1000; i++)
            jb_putc(r->cx, &pad, ' ');
    } else if (w->t == JV_STR) {
        jb_put(r->cx, &pad, w->s.p, w->s.len);
    } else {
        jrun_fail(r, KW_ERR_FORMAT, "indent: width must be a number");
    }
    bool f = first && jv_truthy(*first), bl = blank && jv_truthy(*blank);
    jbuf b = {.max = r->max_output};
    size_t i = 0, line = 0;
    for (;;) {
        const char *nl = memchr(s.s.p + i, '\n', s.s.len - i);
        size_t end = nl ? (size_t)(nl - s.s.p) : s.s.len;
        if ((f || line > 0) && (bl || end > i)) jb_put(r->cx, &b, pad.p ? pad.p : "", pad.len);
        jb_put(r->cx, &b, s.s.p + i, end - i);
        if (!nl) break;
        jb_putc(r->cx, &b, '\n');
        i = end + 1;
        line++;
    }
    return jv_str(b.p ? b.p : "", b.len);
}

/* JavaScript parseInt(s, 10) / parseFloat(s); NaN when no number starts the string */
static double parse_number(jv s, bool integer) {
    char buf[64];
    size_t i = 0, k, n = s.s.len;
    while (i < n && (k = js_space_len(s.s.p, n, i)))
        i += k;
    size_t m = 0;
    while (i < n && m < sizeof buf - 1) {
        char c = s.s.p[i];
        if (!((c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E'))
            break;
        buf[m++] = c;
        i++;
    }
    buf[m] = 0;
    char *end;
    double d = integer ? (double)strtoll(buf, &end, 10) : strtod(buf, &end);
    return end == buf ? NAN : d;
}

/* ---------------------------------------------------------------- filters by value type */

static jv select_items(jrun *r, jv v, const char *name, size_t len, const fargs *a) {
    bool attr = name[len - 4] == 'a' && len > 6; /* selectattr / rejectattr */
    bool sel = name[0] == 's';
    jv out = jv_new_array(r->cx, v.arr->n);
    jv *key = attr ? farg(a, 0, NULL) : NULL;
    jv *test = farg(a, attr ? 1 : 0, NULL);
    if (attr && (!key || key->t != JV_STR))
        jrun_fail(r, KW_ERR_FORMAT, "arguments of `%.*s` must be strings", (int)len, name);
    if (test && test->t != JV_STR)
        jrun_fail(r, KW_ERR_FORMAT, "%.*s: the test name must be a string", (int)len, name);
    int first_extra = attr ? 2 : 1;
    jv *extra = a->npos > first_extra ? a->pos + first_extra : NULL;
    int n_extra = a->npos > first_extra ? a->npos - first_extra : 0;
    for (size_t i = 0; i < v.arr->n; i++) {
        jv item = v.arr->v[i], x = item;
        if (attr) {
            if (item.t != JV_OBJECT)
                jrun_fail(r, KW_ERR_FORMAT, "`%.*s` can only be applied to array of objects",
                          (int)len, name);
            jv *p = jobj_get(item.obj, key->s.p, key->s.len);
            if (!p) { /* the reference tests only attributes that exist */
                if (!sel) jarr_push(r->cx, out.arr, item);
                continue;
            }
            x = *p;
        }
        bool res = test ? japply_test(r, x, test->s.p, test->s.len, extra, n_extra) : jv_truthy(x);
        if (res == sel) jarr_push(r->cx, out.arr, item);
    }
    return out;
}

static jv map_items(jrun *r, jv v, const fargs *a, jenv *env) {
    jv out = jv_new_array(r->cx, v.arr->n);
    jv *attr = farg(a, -1, "attribute");
    if (attr) {
        if (attr->t != JV_STR) jrun_fail(r, KW_ERR_FORMAT, "map: attribute must be a string");
        jv *def = farg(a, -1, "default");
        for (size_t i = 0; i < v.arr->n; i++) {
            jv item = v.arr->v[i];
            if (item.t != JV_OBJECT) jrun_fail(r, KW_ERR_FORMAT, "items in map must be an object");
            jv *p = jobj_get(item.obj, attr->s.p, attr->s.len);
            jarr_push(r->cx, out.arr, p ? *p : def ? *def : jv_undef());
        }
        return out;
    }
    jv *f = farg(a, 0, NULL);
    if (!f || f->t != JV_STR) jrun_fail(r, KW_ERR_FORMAT, "map needs attribute= or a filter name");
    for (size_t i = 0; i < v.arr->n; i++)
        jarr_push(r->cx, out.arr,
                  japply_filter(r, v.arr->v[i], f->s.p, f->s.len, a->pos + 1, a->npos - 1, env));
    return out;
}

static jv array_filter(jrun *r, jv v, const char *name, size_t len, const fargs *a, jenv *env) {
#define F(w) eq(name, len, w)
    if (F("list")) return v;
    if (F("first")) return v.arr->n ? v.arr->v[0] : jv_undef();
    if (F("last")) return v.arr->n ? v.arr->v[v.arr->n - 1] : jv_undef();
    if (F("length") || F("count")) return jv_int((double)v.arr->n);
    if (F("reverse")) { /* in place, as Array.prototype.reverse */
        for (size_t i = 0, j = v.arr->n; i + 1 < j; i++, j--) {
            jv t = v.arr->v[i];
            v.arr->v[i] = v.arr->v[j - 1];
            v.arr->v[j - 1] = t;
        }
        v.sub = 0;
        return v;
    }
    if (F("sort")) {
        jv *rev = farg(a, 0, "reverse"), *cs = farg(a, 1, "case_sensitive"),
           *attr = farg(a, 2, "attribute");
        sort_items(r, v.arr->v, v.arr->n, attr, -1, cs && jv_truthy(*cs), rev && jv_truthy(*rev));
        v.sub = 0;
        return v;
    }
    if (F("join")) {
        jv *sep = farg(a, 0, "d");
        if (!sep) sep = farg(a, -1, "separator");
        jv s = sep ? *sep : jv_str("", 0);
        if (s.t != JV_STR) jrun_fail(r, KW_ERR_FORMAT, "join: separator must be a string");
        jv *attr = farg(a, 1, "attribute");
        if (attr) {
            fargs ma = {NULL, 0, NULL};
            ma.kw = jv_new_object(r->cx).obj;
            jobj_set(r->cx, ma.kw, "attribute", 9, *attr);
            v = map_items(r, v, &ma, env);
        }
        return join_items(r, v, s);
    }
    if (F("string")) return jv_stringify(r->cx, v);
    if (F("unique")) {
        jv out = jv_new_array(r->cx, v.arr->n);
        for (size_t i = 0; i < v.arr->n; i++) {
            bool seen = false;
            for (size_t j = 0; j < out.arr->n && !seen; j++)
                seen = jv_strict_eq(out.arr->v[j], v.arr->v[i]);
            if (!seen) jarr_push(r->cx, out.arr, v.arr->v[i]);
        }
        return out;
    }
    if (F("selectattr") || F("rejectattr") || F("select") || F("reject"))
        return select_items(r, v, name, len, a);
    if (F("map")) return map_items(r, v, a, env);
    if (F("batch")) {
        jv *size = farg(a, 0, "linecount"), *fill = farg(a, 1, "fill_with");
        if (!size || size->t != JV_INT || size->n < 1)
            jrun_fail(r, KW_ERR_FORMAT, "batch needs a positive size");
        jv out = jv_new_array(r->cx, 0);
        jv cur = {0};
        for (size_t i = 0; i < v.arr->n; i++) {
            if (i % (size_t)size->n == 0) {
                cur = jv_new_array(r->cx, (size_t)size->n);
                jarr_push(r->cx, out.arr, cur);
            }
            jarr_push(r->cx, cur.arr, v.arr->v[i]);
        }
        if (fill && cur.t == JV_ARRAY)
            while (cur.arr->n < (size_t)size->n)
                jarr_push(r->cx, cur.arr, *fill);
        return out;
    }
#undef F
    unknown_filter(r, v, name, len);
}

static jv string_filter(jrun *r, jv v, const char *name, size_t len, const fargs *a) {
#define F(w) eq(name, len, w)
    if (F("length") || F("count")) return jv_int((double)js_utf16_len(v.s.p, v.s.len));
    if (F("upper")) return jstr_map_case(r, v, 1);
    if (F("lower")) return jstr_map_case(r, v, 0);
    if (F("title") || F("capitalize")) {
        jv f = jbuiltin_member(r, v, name, len);
        return jmethod_call(r, f.fn->kind - JF_METHOD_BASE, v, NULL, 0);
    }
    if (F("trim")) return jstr_strip(r, v, 3, farg(a, 0, "chars"));
    if (F("indent")) return indent_str(r, v, a);
    if (F("string") || F("safe")) return v;
    if (F("join")) {
        jv *sep = farg(a, 0, "d");
        return sep && sep->t == JV_STR ? join_items(r, chars_of(r, v), *sep) : v;
    }
    if (F("list")) return chars_of(r, v);
    if (F("first") || F("last")) {
        jv c = chars_of(r, v);
        return c.arr->n ? c.arr->v[F("first") ? 0 : c.arr->n - 1] : jv_undef();
    }
    if (F("replace")) {
        jv *o = farg(a, 0, "old"), *n = farg(a, 1, "new"), *c = farg(a, 2, "count");
        if (!o || !n || o->t != JV_STR || n->t != JV_STR)
            jrun_fail(r, KW_ERR_FORMAT, "replace() arguments must be strings");
        return jstr_replace(r, v, *o, *n, c && c->t == JV_INT ? c->n : -1);
    }
    if (F("int") || F("float")) {
        double d = parse_number(v, F("int"));
        jv *def = farg(a, 0, "default");
        if (isnan(d)) return def ? *def : F("int") ? jv_int(0) : jv_float(0);
        return F("int") ? jv_int(d) : jv_float(d);
    }
#undef F
    unknown_filter(r, v, name, len);
}

static jv number_filter(jrun *r, jv v, const char *name, size_t len, const fargs *a) {
#define F(w) eq(name, len, w)
    if (F("abs")) {
        v.n = fabs(v.n);
        return v;
    }
    if (F("int")) return jv_int(v.t == JV_INT ? v.n : floor(v.n));
    if (F("float")) return jv_float(v.n);
    if (F("string")) return jv_stringify(r->cx, v);
    if (F("round")) {
        jv *prec = farg(a, 0, "precision"), *method = farg(a, 1, "method");
        double p = prec && jv_isnum(*prec) ? pow(10, prec->n) : 1, x = v.n * p;
        if (method && method->t == JV_STR && eq(method->s.p, method->s.len, "floor"))
            x = floor(x);
        else if (method && method->t == JV_STR && eq(method->s.p, method->s.len, "ceil"))
            x = ceil(x);
        else
            x = round(x);
        return jv_float(x / p);
    }
#undef F
    unknown_filter(r, v, name, len);
}

static jv object_filter(jrun *r, jv v, const char *name, size_t len, const fargs *a) {
#define F(w) eq(name, len, w)
    if (F("items")) return jobj_items(r, v);
    if (F("length") || F("count")) return jv_int((double)v.obj->n);
    if (F("string")) return jv_stringify(r->cx, v);
    if (F("list")) {
        jv keys = jv_new_array(r->cx, v.obj->n);
        for (size_t i = 0; i < v.obj->n; i++)
            jarr_push(r->cx, keys.arr, jv_str(v.obj->e[i].k, v.obj->e[i].klen));
        return keys;
    }
    if (F("dictsort")) {
        jv *cs = farg(a, 0, "case_sensitive"), *by = farg(a, 1, "by"), *rev = farg(a, 2, "reverse");
        int by_value = by && by->t == JV_STR && eq(by->s.p, by->s.len, "value");
        jv items = jobj_items(r, v);
        sort_items(r, items.arr->v, items.arr->n, NULL, by_value, cs && jv_truthy(*cs),
                   rev && jv_truthy(*rev));
        return items;
    }
#undef F
    unknown_filter(r, v, name, len);
}

jv japply_filter(jrun *r, jv v, const char *name, size_t len, jv *args, int nargs, jenv *env) {
    fargs a = split_args(args, nargs);
#define F(w) eq(name, len, w)
    if (F("tojson")) {
        jv *ind = farg(&a, 0, "indent");
        if (ind && ind->t != JV_INT && ind->t != JV_NULL)
            jrun_fail(r, KW_ERR_FORMAT, "tojson: if set, indent must be a number");
        jbuf b = {.max = r->max_output};
        jv_to_json(r->cx, &b, v, ind && ind->t == JV_INT ? (int)fmin(ind->n, 100) : -1, 0);
        return jv_str(b.p ? b.p : "", b.len);
    }
    if (F("default") || F("d")) {
        jv *def = farg(&a, 0, "default_value"), *boolean = farg(&a, 1, "boolean");
        if (v.t == JV_UNDEF || (boolean && jv_truthy(*boolean) && !jv_truthy(v)))
            return def ? *def : jv_str("", 0);
        return v;
    }
    if (F("safe") && v.t != JV_STR) return jv_stringify(r->cx, v);
    if (F("string") && (v.t == JV_UNDEF || v.t == JV_NULL))
        return v.t == JV_NULL ? jv_str("None", 4) : jv_str("", 0);
    if (F("length") && v.t == JV_STR) return string_filter(r, v, name, len, &a);
    switch (v.t) {
    case JV_ARRAY: return array_filter(r, v, name, len, &a, env);
    case JV_STR: return string_filter(r, v, name, len, &a);
    case JV_INT:
    case JV_FLOAT: return number_filter(r, v, name, len, &a);
    case JV_OBJECT: return object_filter(r, v, name, len, &a);
    case JV_BOOL:
        if (F("bool")) return v;
        if (F("int")) return jv_int(v.b);
        if (F("float")) return jv_float(v.b);
        if (F("string")) return jv_cstr(v.b ? "true" : "false");
        unknown_filter(r, v, name, len);
    default: break;
    }
#undef F
    jrun_fail(r, KW_ERR_FORMAT, "Cannot apply filter \"%.*s\" to type: %s", (int)len, name,
              jv_type_name(v));
}

/* ---------------------------------------------------------------- globals */

static jv fn_range(jrun *r, const fargs *a) {
    double start = 0, stop, step = 1;
    for (int i = 0; i < a->npos && i < 3; i++)
        if (a->pos[i].t != JV_INT)
            jrun_fail(r, KW_ERR_FORMAT, "range() arguments must be integers, got %s",
                      jv_type_name(a->pos[i]));
    if (a->npos == 1) {
        stop = a->pos[0].n;
    } else if (a->npos >= 2) {
        start = a->pos[0].n;
        stop = a->pos[1].n;
        if (a->npos >= 3) step = a->pos[2].n;
    } else {
        jrun_fail(r, KW_ERR_FORMAT, "range() needs 1 to 3 arguments");
    }
    if (step == 0) jrun_fail(r, KW_ERR_FORMAT, "range() step must not be zero");
    double count = ceil((stop - start) / step);
    if (count > MAX_RANGE)
        jrun_fail(r, KW_ERR_FORMAT, "range() of %.0f items exceeds the limit of %d", count,
                  MAX_RANGE);
    jv out = jv_new_array(r->cx, count > 0 ? (size_t)count : 0);
    for (double x = start; step > 0 ? x < stop : x > stop; x += step)
        jarr_push(r->cx, out.arr, jv_int(x));
    return out;
}

static jv fn_strftime(jrun *r, const fargs *a) {
    static const char *const months[] = {"January",   "February", "March",    "April",
                                         "May",       "June",     "July",     "August",
                                         "September", "October",  "November", "December"};
    if (a->npos < 1 || a->pos[0].t != JV_STR)
        jrun_fail(r, KW_ERR_FORMAT, "strftime_now() needs a format string");
    time_t t = r->now >= 0 ? (time_t)r->now : time(NULL);
    struct tm tm;
    if (r->now_utc)
        gmtime_r(&t, &tm);
    else
        localtime_r(&t, &tm);
    jv f = a->pos[0];
    jbuf b = {0};
    char tmp[16];
    for (size_t i = 0; i < f.s.len; i++) {
        char c = f.s.p[i];
        if (c != '%' || i + 1 >= f.s.len) {
            jb_putc(r->cx, &b, c);
            continue;
        }
        char d = f.s.p[++i];
        switch (d) {
        case 'Y': snprintf(tmp, sizeof tmp, "%d", tm.tm_year + 1900); break;
        case 'm': snprintf(tmp, sizeof tmp, "%02d", tm.tm_mon + 1); break;
        case 'd': snprintf(tmp, sizeof tmp, "%02d", tm.tm_mday); break;
        case 'H': snprintf(tmp, sizeof tmp, "%02d", tm.tm_hour); break;
        case 'M': snprintf(tmp, sizeof tmp, "%02d", tm.tm_min); break;
        case 'b': snprintf(tmp, sizeof tmp, "%.3s", months[tm.tm_mon]); break;
        case 'B': snprintf(tmp, sizeof tmp, "%s", months[tm.tm_mon]); break;
        case '%': snprintf(tmp, sizeof tmp, "%%"); break;
        default:
            tmp[0] = '%';
            tmp[1] = d;
            tmp[2] = 0; /* left as it is, as the reference does */
        }
        jb_puts(r->cx, &b, tmp);
    }
    return jv_str(b.p ? b.p : "", b.len);
}

jv jbuiltin_call(jrun *r, const jfunc *f, jv *args, int nargs, jenv *env) {
    (void)env;
    if (f->kind >= JF_METHOD_BASE)
        return jmethod_call(r, f->kind - JF_METHOD_BASE, f->self, args, nargs);
    fargs a = split_args(args, nargs);
    switch (f->kind) {
    case JF_RANGE: return fn_range(r, &a);
    case JF_STRFTIME: return fn_strftime(r, &a);
    case JF_NAMESPACE:
        if (nargs == 0) {
            jv o = jv_new_object(r->cx);
            return o;
        }
        if (nargs != 1 || args[0].t != JV_OBJECT)
            jrun_fail(r, KW_ERR_FORMAT,
                      "`namespace` expects either zero arguments or a single object argument");
        return args[0];
    case JF_RAISE: {
        jbuf b = {0};
        if (nargs > 0) jv_to_raw(r->cx, &b, args[0]);
        jrun_fail(r, KW_ERR_FORMAT, "raise_exception: %s", b.p ? b.p : "");
    }
    }
    jrun_fail(r, KW_ERR_INTERNAL, "function kind %d", f->kind);
}

static void set_fn(jrun *r, jenv *g, const char *name, int kind) {
    jv f = {0};
    f.t = JV_FUNC;
    f.fn = ja_alloc(r->cx, sizeof *f.fn);
    f.fn->kind = kind;
    jenv_set(r->cx, g, name, strlen(name), f);
}

void jinja_setup_globals(jrun *r, jenv *g) {
    jenv_set(r->cx, g, "true", 4, jv_bool(true));
    jenv_set(r->cx, g, "false", 5, jv_bool(false));
    jenv_set(r->cx, g, "none", 4, jv_null());
    jenv_set(r->cx, g, "True", 4, jv_bool(true));
    jenv_set(r->cx, g, "False", 5, jv_bool(false));
    jenv_set(r->cx, g, "None", 4, jv_null());
    set_fn(r, g, "namespace", JF_NAMESPACE);
    set_fn(r, g, "range", JF_RANGE);
    set_fn(r, g, "raise_exception", JF_RAISE);
    set_fn(r, g, "strftime_now", JF_STRFTIME);
}
