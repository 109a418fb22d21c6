/* jinja_strings.c - the string side of the Jinja builtins: Python-style string methods as
 * @huggingface/jinja implements them over JavaScript strings (upper, lower, strip/lstrip/rstrip
 * with optional characters, title, capitalize, startswith/endswith, split with maxsplit, replace
 * with count, count, find), the mapping methods (get, items, keys, values), and slicing of
 * lists and strings (strings are sliced by code point, as the reference's Array.from does).
 *
 * Relies on: jinja_core, utf8proc (case mapping). Must not: split a UTF-8 sequence.
 */
#include "chat/jinja_impl.h"

#include <math.h>
#include <string.h>
#include <utf8proc.h>

enum {
    M_UPPER,
    M_LOWER,
    M_STRIP,
    M_LSTRIP,
    M_RSTRIP,
    M_TITLE,
    M_CAPITALIZE,
    M_STARTSWITH,
    M_ENDSWITH,
    M_SPLIT,
    M_REPLACE,
    M_COUNT,
    M_FIND,
    M_GET,
    M_ITEMS,
    M_KEYS,
    M_VALUES,
};

static const char *const STR_METHODS[] = {
    [M_UPPER] = "upper",
    [M_LOWER] = "lower",
    [M_STRIP] = "strip",
    [M_LSTRIP] = "lstrip",
    [M_RSTRIP] = "rstrip",
    [M_TITLE] = "title",
    [M_CAPITALIZE] = "capitalize",
    [M_STARTSWITH] = "startswith",
    [M_ENDSWITH] = "endswith",
    [M_SPLIT] = "split",
    [M_REPLACE] = "replace",
    [M_COUNT] = "count",
    [M_FIND] = "find",
};

static bool name_is(const char *s, size_t n, const char *w) {
    return strlen(w) == n && memcmp(s, w, n) == 0;
}

static jv bound(jrun *r, jv self, int method) {
    jv f = {0};
    f.t = JV_FUNC;
    f.fn = ja_alloc(r->cx, sizeof *f.fn);
    f.fn->kind = JF_METHOD_BASE + method;
    f.fn->self = self;
    return f;
}

jv jbuiltin_member(jrun *r, jv obj, const char *name, size_t len) {
    if (obj.t == JV_STR) {
        if (name_is(name, len, "length")) return jv_int((double)js_utf16_len(obj.s.p, obj.s.len));
        for (int i = 0; i <= M_FIND; i++)
            if (name_is(name, len, STR_METHODS[i])) return bound(r, obj, i);
    } else if (obj.t == JV_ARRAY) {
        if (name_is(name, len, "length")) return jv_int((double)obj.arr->n);
    } else if (obj.t == JV_OBJECT) {
        if (name_is(name, len, "get")) return bound(r, obj, M_GET);
        if (name_is(name, len, "items")) return bound(r, obj, M_ITEMS);
        if (name_is(name, len, "keys")) return bound(r, obj, M_KEYS);
        if (name_is(name, len, "values")) return bound(r, obj, M_VALUES);
    }
    return jv_undef();
}

/* ---------------------------------------------------------------- case mapping */

jv jstr_map_case(jrun *r, jv s, int mode) /* 0 lower, 1 upper */ {
    jbuf b = {0};
    for (size_t i = 0; i < s.s.len;) {
        uint32_t cp;
        int k = kw_utf8_decode((const uint8_t *)s.s.p + i, s.s.len - i, &cp);
        if (cp == 0xFFFD && k == 1 && (unsigned char)s.s.p[i] != 0xEF) {
            jb_put(r->cx, &b, s.s.p + i, 1); /* keep invalid bytes as they are */
        } else if (mode && cp == 0xDF) {
            jb_put(r->cx, &b, "SS", 2); /* JavaScript's full mapping: "ß".toUpperCase() is "SS" */
        } else {
            char enc[4];
            uint32_t m = (uint32_t)(mode ? utf8proc_toupper((utf8proc_int32_t)cp)
                                         : utf8proc_tolower((utf8proc_int32_t)cp));
            jb_put(r->cx, &b, enc, (size_t)kw_utf8_encode(m, enc));
        }
        i += (size_t)k;
    }
    return jv_str(b.p ? b.p : "", b.len);
}

static bool ascii_word(char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

/* titleCase: /\b\w/g upper-cased (ASCII word characters, as JavaScript's \w) */
static jv str_title(jrun *r, jv s) {
    char *p = ja_strndup(r->cx, s.s.p, s.s.len);
    for (size_t i = 0; i < s.s.len; i++)
        if (ascii_word(p[i]) && (i == 0 || !ascii_word(p[i - 1])) && p[i] >= 'a' && p[i] <= 'z')
            p[i] = (char)(p[i] - 32);
    return jv_str(p, s.s.len);
}

static jv str_capitalize(jrun *r, jv s) {
    if (!s.s.len) return s;
    uint32_t cp;
    int k = kw_utf8_decode((const uint8_t *)s.s.p, s.s.len, &cp);
    jv first = jstr_map_case(r, jv_str(s.s.p, (size_t)k), 1);
    jbuf b = {0};
    jb_put(r->cx, &b, first.s.p, first.s.len);
    jb_put(r->cx, &b, s.s.p + k, s.s.len - (size_t)k);
    return jv_str(b.p, b.len);
}

/* ---------------------------------------------------------------- strip */

static bool in_chars(jv chars, const char *s, size_t n, size_t i, size_t *k_out) {
    uint32_t cp;
    int k = kw_utf8_decode((const uint8_t *)s + i, n - i, &cp);
    *k_out = (size_t)k;
    for (size_t j = 0; j < chars.s.len;) {
        uint32_t c2;
        int k2 = kw_utf8_decode((const uint8_t *)chars.s.p + j, chars.s.len - j, &c2);
        if (c2 == cp && (size_t)k2 == (size_t)k && memcmp(chars.s.p + j, s + i, (size_t)k) == 0)
            return true;
        j += (size_t)k2;
    }
    return false;
}

static size_t char_len_before(const char *s, size_t end) {
    size_t j = end - 1;
    while (j > 0 && end - j < 4 && ((unsigned char)s[j] & 0xC0) == 0x80)
        j--;
    return end - j;
}

/* which: 1 left, 2 right, 3 both. chars NULL or none: JavaScript whitespace. */
jv jstr_strip(jrun *r, jv s, int which, const jv *chars) {
    (void)r;
    size_t a = 0, e = s.s.len, k;
    bool ws = !chars || chars->t == JV_NULL || chars->t == JV_UNDEF;
    if (which & 1)
        while (a < e) {
            if (ws) {
                if (!(k = js_space_len(s.s.p, e, a))) break;
            } else if (!in_chars(*chars, s.s.p, e, a, &k)) {
                break;
            }
            a += k;
        }
    if (which & 2)
        while (e > a) {
            if (ws) {
                if (!(k = js_space_len_before(s.s.p, e))) break;
            } else {
                /* The character ending at e: a whole UTF-8 sequence that starts at or after a,
                 * else the lone last byte (a stray continuation byte such as 'x\x9d' must not
                 * pull e back past a). */
                size_t cl = char_len_before(s.s.p, e), k2;
                uint32_t cp;
                if (cl > e - a ||
                    (size_t)kw_utf8_decode((const uint8_t *)s.s.p + e - cl, cl, &cp) != cl)
                    cl = 1;
                if (!in_chars(*chars, s.s.p, e, e - cl, &k2) || k2 != cl) break;
                k = cl;
            }
            if (k > e - a) break;
            e -= k;
        }
    return jv_str(s.s.p + a, e - a);
}

/* ---------------------------------------------------------------- split, replace, find */

static jv str_split(jrun *r, jv s, jv *sep, jv *maxsplit) {
    double max = -1;
    if (maxsplit) {
        if (maxsplit->t != JV_INT)
            jrun_fail(r, KW_ERR_FORMAT, "split(): maxsplit argument must be a number");
        max = maxsplit->n;
    }
    jv out = jv_new_array(r->cx, 4);
    if (!sep || sep->t == JV_NULL || sep->t == JV_UNDEF) {
        jv t = jstr_strip(r, s, 1, NULL);
        const char *p = t.s.p;
        size_t n = t.s.len, i = 0, k;
        while (i < n) {
            size_t start = i;
            while (i < n && !js_space_len(p, n, i))
                i++;
            if (max >= 0 && (double)out.arr->n >= max) {
                jarr_push(r->cx, out.arr, jv_str(p + start, n - start));
                return out;
            }
            jarr_push(r->cx, out.arr, jv_str(p + start, i - start));
            while (i < n && (k = js_space_len(p, n, i)))
                i += k;
        }
        return out;
    }
    if (sep->t != JV_STR)
        jrun_fail(r, KW_ERR_FORMAT, "split(): sep argument must be a string or null");
    if (sep->s.len == 0) jrun_fail(r, KW_ERR_FORMAT, "split(): empty separator");
    size_t i = 0;
    for (;;) {
        const char *hit = (max < 0 || (double)out.arr->n < max)
                              ? memmem(s.s.p + i, s.s.len - i, sep->s.p, sep->s.len)
                              : NULL;
        if (!hit) {
            jarr_push(r->cx, out.arr, jv_str(s.s.p + i, s.s.len - i));
            return out;
        }
        size_t at = (size_t)(hit - s.s.p);
        jarr_push(r->cx, out.arr, jv_str(s.s.p + i, at - i));
        i = at + sep->s.len;
    }
}

jv jstr_replace(jrun *r, jv s, jv old, jv new_, double count) {
    jbuf b = {.max = r->max_output};
    double done = 0;
    if (old.s.len == 0) { /* Python: insert between every character, and at both ends */
        size_t i = 0;
        while (i <= s.s.len) {
            if (count < 0 || done < count) {
                jb_put(r->cx, &b, new_.s.p, new_.s.len);
                done++;
            }
            if (i == s.s.len) break;
            uint32_t cp;
            int k = kw_utf8_decode((const uint8_t *)s.s.p + i, s.s.len - i, &cp);
            jb_put(r->cx, &b, s.s.p + i, (size_t)k);
            i += (size_t)k;
        }
        return jv_str(b.p ? b.p : "", b.len);
    }
    size_t i = 0;
    for (;;) {
        const char *hit =
            (count < 0 || done < count) ? memmem(s.s.p + i, s.s.len - i, old.s.p, old.s.len) : NULL;
        if (!hit) {
            jb_put(r->cx, &b, s.s.p + i, s.s.len - i);
            break;
        }
        size_t at = (size_t)(hit - s.s.p);
        jb_put(r->cx, &b, s.s.p + i, at - i);
        jb_put(r->cx, &b, new_.s.p, new_.s.len);
        i = at + old.s.len;
        done++;
    }
    return jv_str(b.p ? b.p : "", b.len);
}

static size_t cp_count(const char *s, size_t n) {
    size_t c = 0;
    for (size_t i = 0; i < n; i++)
        c += ((unsigned char)s[i] & 0xC0) != 0x80;
    return c;
}

static bool starts_or_ends(jrun *r, jv s, jv *pat, bool ends, const char *name) {
    if (!pat) jrun_fail(r, KW_ERR_FORMAT, "%s() requires at least one argument", name);
    if (pat->t == JV_STR) {
        if (pat->s.len > s.s.len) return false;
        return memcmp(ends ? s.s.p + s.s.len - pat->s.len : s.s.p, pat->s.p, pat->s.len) == 0;
    }
    if (pat->t == JV_ARRAY) {
        for (size_t i = 0; i < pat->arr->n; i++) {
            if (pat->arr->v[i].t != JV_STR)
                jrun_fail(r, KW_ERR_FORMAT, "%s() tuple elements must be strings", name);
            if (starts_or_ends(r, s, &pat->arr->v[i], ends, name)) return true;
        }
        return false;
    }
    jrun_fail(r, KW_ERR_FORMAT, "%s() argument must be a string or tuple of strings", name);
}

static jv *arg_at(jv *args, int npos, jobj *kw, int i, const char *name) {
    if (i < npos) return &args[i];
    return kw && name ? jobj_get(kw, name, strlen(name)) : NULL;
}

static jv str_method(jrun *r, int m, jv s, jv *args, int npos, jobj *kw) {
    jv *a0 = arg_at(args, npos, kw, 0, NULL), *a1 = arg_at(args, npos, kw, 1, NULL);
    switch (m) {
    case M_UPPER: return jstr_map_case(r, s, 1);
    case M_LOWER: return jstr_map_case(r, s, 0);
    case M_STRIP: return jstr_strip(r, s, 3, a0);
    case M_LSTRIP: return jstr_strip(r, s, 1, a0);
    case M_RSTRIP: return jstr_strip(r, s, 2, a0);
    case M_TITLE: return str_title(r, s);
    case M_CAPITALIZE: return str_capitalize(r, s);
    case M_STARTSWITH: return jv_bool(starts_or_ends(r, s, a0, false, "startswith"));
    case M_ENDSWITH: return jv_bool(starts_or_ends(r, s, a0, true, "endswith"));
    case M_SPLIT:
        return str_split(r, s, arg_at(args, npos, kw, 0, "sep"),
                         arg_at(args, npos, kw, 1, "maxsplit"));
    case M_REPLACE: {
        jv *c = arg_at(args, npos, kw, 2, "count");
        if (!a0 || !a1) jrun_fail(r, KW_ERR_FORMAT, "replace() requires at least two arguments");
        if (a0->t != JV_STR || a1->t != JV_STR)
            jrun_fail(r, KW_ERR_FORMAT, "replace() arguments must be strings");
        if (c && c->t != JV_INT && c->t != JV_NULL)
            jrun_fail(r, KW_ERR_FORMAT, "replace() count argument must be a number or null");
        return jstr_replace(r, s, *a0, *a1, c && c->t == JV_INT ? c->n : -1);
    }
    case M_COUNT:
    case M_FIND: {
        if (!a0 || a0->t != JV_STR)
            jrun_fail(r, KW_ERR_FORMAT, "%s() needs a string argument", STR_METHODS[m]);
        if (m == M_FIND) {
            const char *hit = a0->s.len ? memmem(s.s.p, s.s.len, a0->s.p, a0->s.len) : s.s.p;
            return jv_int(hit ? (double)cp_count(s.s.p, (size_t)(hit - s.s.p)) : -1);
        }
        if (!a0->s.len) return jv_int((double)cp_count(s.s.p, s.s.len) + 1);
        double n = 0;
        for (size_t i = 0; i < s.s.len;) {
            const char *hit = memmem(s.s.p + i, s.s.len - i, a0->s.p, a0->s.len);
            if (!hit) break;
            n++;
            i = (size_t)(hit - s.s.p) + a0->s.len;
        }
        return jv_int(n);
    }
    }
    jrun_fail(r, KW_ERR_INTERNAL, "string method %d", m);
}

jv jobj_items(jrun *r, jv o) {
    jv out = jv_new_array(r->cx, o.obj->n);
    for (size_t i = 0; i < o.obj->n; i++) {
        jv pair = jv_new_array(r->cx, 2);
        jarr_push(r->cx, pair.arr, jv_str(o.obj->e[i].k, o.obj->e[i].klen));
        jarr_push(r->cx, pair.arr, o.obj->e[i].v);
        jarr_push(r->cx, out.arr, pair);
    }
    return out;
}

jv jmethod_call(jrun *r, int m, jv self, jv *args, int nargs) {
    jobj *kw = NULL;
    if (nargs > 0 && args[nargs - 1].t == JV_OBJECT && args[nargs - 1].sub == 1)
        kw = args[--nargs].obj;
    if (self.t == JV_STR) return str_method(r, m, self, args, nargs, kw);
    switch (m) {
    case M_GET: {
        if (nargs < 1 || args[0].t != JV_STR)
            jrun_fail(r, KW_ERR_FORMAT, "Object key must be a string: got %s",
                      nargs < 1 ? "UndefinedValue" : jv_type_name(args[0]));
        jv *v = jobj_get(self.obj, args[0].s.p, args[0].s.len);
        return v ? *v : nargs > 1 ? args[1] : jv_null();
    }
    case M_ITEMS: return jobj_items(r, self);
    case M_KEYS:
    case M_VALUES: {
        jv out = jv_new_array(r->cx, self.obj->n);
        for (size_t i = 0; i < self.obj->n; i++)
            jarr_push(r->cx, out.arr,
                      m == M_KEYS ? jv_str(self.obj->e[i].k, self.obj->e[i].klen)
                                  : self.obj->e[i].v);
        return out;
    }
    }
    jrun_fail(r, KW_ERR_INTERNAL, "mapping method %d", m);
}

/* ---------------------------------------------------------------- slicing */

static void slice_bounds(double len, jv start, jv stop, double step, double *a, double *b) {
    if (step > 0) {
        double s = start.t == JV_INT ? start.n : 0, e = stop.t == JV_INT ? stop.n : len;
        *a = s < 0 ? fmax(len + s, 0) : fmin(s, len);
        *b = e < 0 ? fmax(len + e, 0) : fmin(e, len);
    } else {
        double s = start.t == JV_INT ? start.n : len - 1, e = stop.t == JV_INT ? stop.n : -1;
        *a = s < 0 ? fmax(len + s, -1) : fmin(s, len - 1);
        *b = e < -1 ? fmax(len + e, -1) : fmin(e, len - 1);
    }
}

jv jslice(jrun *r, jv obj, jv start, jv stop, jv step) {
    if (obj.t != JV_ARRAY && obj.t != JV_STR)
        jrun_fail(r, KW_ERR_FORMAT, "Slice object must be an array or string, got %s",
                  jv_type_name(obj));
    jv *parts[3] = {&start, &stop, &step};
    static const char *const names[3] = {"start", "stop", "step"};
    for (int i = 0; i < 3; i++) {
        if (parts[i]->t == JV_NULL) *parts[i] = jv_undef();
        if (parts[i]->t != JV_INT && parts[i]->t != JV_UNDEF)
            jrun_fail(r, KW_ERR_FORMAT, "Slice %s must be numeric or undefined", names[i]);
    }
    double st = step.t == JV_INT ? step.n : 1;
    if (st == 0) jrun_fail(r, KW_ERR_FORMAT, "slice step cannot be zero");
    if (obj.t == JV_ARRAY) {
        double a, b;
        slice_bounds((double)obj.arr->n, start, stop, st, &a, &b);
        jv out = jv_new_array(r->cx, 0);
        for (double i = a; st > 0 ? i < b : i > b; i += st)
            jarr_push(r->cx, out.arr, obj.arr->v[(size_t)i]);
        return out;
    }
    /* strings: by code point (Array.from) */
    size_t n = cp_count(obj.s.p, obj.s.len);
    size_t *off = ja_alloc(r->cx, (n + 1) * sizeof(size_t));
    size_t c = 0;
    for (size_t i = 0; i < obj.s.len; i++)
        if (((unsigned char)obj.s.p[i] & 0xC0) != 0x80) off[c++] = i;
    off[n] = obj.s.len;
    double a, b;
    slice_bounds((double)n, start, stop, st, &a, &b);
    if (st == 1)
        return a < b ? jv_str(obj.s.p + off[(size_t)a], off[(size_t)b] - off[(size_t)a])
                     : jv_str("", 0);
    jbuf out = {0};
    for (double i = a; st > 0 ? i < b : i > b; i += st)
        jb_put(r->cx, &out, obj.s.p + off[(size_t)i], off[(size_t)i + 1] - off[(size_t)i]);
    return jv_str(out.p ? out.p : "", out.len);
}
