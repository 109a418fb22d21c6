/* gguf_info.c - the public read-only view of an open GGUF file (kw_gguf_* in kaiwu.h): header
 * facts, metadata keys with printable renderings, and tensor infos. This is what `kaiwu info`
 * prints.
 *
 * Relies on gguf_reader.c having validated the whole header: every array (nested ones included)
 * lies inside the mapping. The nested-array walker below still checks each length against the
 * end of the mapping, so a reader bug cannot turn into an out-of-bounds read here.
 *
 * Must not: modify the kw_gguf, allocate (renderings go into the caller's buffer), or print
 * anything. Invalid indices give NULL / "" / an error status, never a crash.
 */
#include "gguf/gguf.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- header facts */

uint32_t kw_gguf_version(const kw_gguf *g) { return g ? g->version : 0; }
uint64_t kw_gguf_file_size(const kw_gguf *g) { return g ? g->file.size : 0; }
uint64_t kw_gguf_data_offset(const kw_gguf *g) { return g ? g->data_offset : 0; }
uint32_t kw_gguf_alignment(const kw_gguf *g) { return g ? g->alignment : 0; }
int64_t kw_gguf_n_kv(const kw_gguf *g) { return g ? g->n_kv : 0; }
int64_t kw_gguf_n_tensors(const kw_gguf *g) { return g ? g->n_tensors : 0; }

static const gguf_kv *kv_at(const kw_gguf *g, int64_t i) {
    return g && i >= 0 && i < g->n_kv ? &g->kv[i] : NULL;
}

const char *kw_gguf_kv_key(const kw_gguf *g, int64_t i) {
    const gguf_kv *kv = kv_at(g, i);
    return kv ? kv->key : NULL;
}

const char *kw_gguf_kv_type_name(const kw_gguf *g, int64_t i) {
    static const char *array_names[GGUF_VT_COUNT] = {
        "array[u8]",  "array[i8]",  "array[u16]",  "array[i16]",    "array[u32]",
        "array[i32]", "array[f32]", "array[bool]", "array[string]", "array[array]",
        "array[u64]", "array[i64]", "array[f64]"};
    const gguf_kv *kv = kv_at(g, i);
    if (!kv) return "invalid";
    if (kv->type != GGUF_VT_ARRAY) return gguf_vtype_name(kv->type);
    return (unsigned)kv->arr_type < GGUF_VT_COUNT ? array_names[kv->arr_type] : "array[unknown]";
}

kw_status kw_gguf_tensor(const kw_gguf *g, int64_t i, kw_tensor_info *out) {
    kw_error_clear();
    if (!g || !out) return kw_error(KW_ERR_INVALID_ARG, "kw_gguf_tensor: NULL argument");
    if (i < 0 || i >= g->n_tensors)
        return kw_error(KW_ERR_INVALID_ARG,
                        "'%s': tensor index %" PRId64 " is out of range (the file has %" PRId64
                        " tensors)",
                        g->file.path, i, g->n_tensors);
    const gguf_tensor *t = &g->tensors[i];
    const ggml_type_traits *tt = ggml_type_get(t->type);
    out->name = t->name;
    out->type_name = tt->name ? tt->name : "unknown";
    out->type = (int32_t)t->type;
    out->n_dims = (int32_t)t->n_dims;
    for (int d = 0; d < 4; d++)
        out->ne[d] = t->ne[d];
    out->offset = t->offset;
    out->n_bytes = t->n_bytes;
    return KW_OK;
}

/* ---------------------------------------------------------------- rendering buffer */

/* snprintf-like output: counts every byte wanted, stores what fits (always NUL-terminated). */
typedef struct outbuf {
    char *buf;
    size_t cap;
    size_t len; /* bytes wanted so far */
} outbuf;

static void put(outbuf *o, const char *s, size_t n) {
    if (o->cap > 0 && o->len < o->cap - 1) {
        size_t room = o->cap - 1 - o->len;
        memcpy(o->buf + o->len, s, n < room ? n : room);
    }
    o->len += n;
}

static void puts_(outbuf *o, const char *s) { put(o, s, strlen(s)); }

static void putf(outbuf *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void putf(outbuf *o, const char *fmt, ...) {
    char tmp[64];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n > 0) put(o, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

/* Quoted string: printable ASCII and valid UTF-8 as is; quotes, backslashes and control bytes
 * escaped; bytes that are not valid UTF-8 as \xNN, so the result is always safe to print. */
static void put_string(outbuf *o, const char *s, uint64_t len) {
    put(o, "\"", 1);
    const uint8_t *p = (const uint8_t *)s;
    uint64_t i = 0;
    while (i < len) {
        uint8_t c = p[i];
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            put(o, e, 2);
            i++;
        } else if (c == '\n') {
            put(o, "\\n", 2), i++;
        } else if (c == '\t') {
            put(o, "\\t", 2), i++;
        } else if (c == '\r') {
            put(o, "\\r", 2), i++;
        } else if (c < 0x20 || c == 0x7f) {
            putf(o, "\\x%02x", c), i++;
        } else if (c < 0x80) {
            put(o, (const char *)p + i, 1), i++;
        } else {
            uint32_t cp;
            int n = kw_utf8_decode(p + i, (size_t)(len - i), &cp);
            bool bad =
                n <= 1 ||
                (cp == 0xFFFD && !(n == 3 && p[i] == 0xEF && p[i + 1] == 0xBF && p[i + 2] == 0xBD));
            if (bad) {
                putf(o, "\\x%02x", c), i++;
            } else {
                put(o, (const char *)p + i, (size_t)n);
                i += (uint64_t)n;
            }
        }
    }
    put(o, "\"", 1);
}

/* Shortest decimal that reads back as the same float (or double). */
static void put_float(outbuf *o, double v, bool is_f32) {
    if (isnan(v)) return puts_(o, "nan");
    if (isinf(v)) return puts_(o, v < 0 ? "-inf" : "inf");
    char tmp[40];
    /* whole numbers print plainly ("10000", not "1e+04") while they stay exact */
    if (v == floor(v) && fabs(v) < 1e15) {
        snprintf(tmp, sizeof tmp, "%.0f", v);
        return puts_(o, tmp);
    }
    int max_prec = is_f32 ? 9 : 17;
    for (int prec = 1; prec <= max_prec; prec++) {
        snprintf(tmp, sizeof tmp, "%.*g", prec, v);
        if (is_f32 ? strtof(tmp, NULL) == (float)v : strtod(tmp, NULL) == v) break;
    }
    puts_(o, tmp);
}

/* ---------------------------------------------------------------- values */

static const uint32_t elem_size[GGUF_VT_COUNT] = {
    [GGUF_VT_U8] = 1,  [GGUF_VT_I8] = 1,  [GGUF_VT_U16] = 2, [GGUF_VT_I16] = 2,
    [GGUF_VT_U32] = 4, [GGUF_VT_I32] = 4, [GGUF_VT_F32] = 4, [GGUF_VT_BOOL] = 1,
    [GGUF_VT_U64] = 8, [GGUF_VT_I64] = 8, [GGUF_VT_F64] = 8,
};

/* One fixed-size element at p (elem_size[t] bytes available). */
static void put_scalar(outbuf *o, gguf_vtype t, const uint8_t *p) {
    switch (t) {
    case GGUF_VT_U8: putf(o, "%u", p[0]); break;
    case GGUF_VT_I8: putf(o, "%d", (int8_t)p[0]); break;
    case GGUF_VT_BOOL: puts_(o, p[0] ? "true" : "false"); break;
    case GGUF_VT_U16: {
        uint16_t v;
        memcpy(&v, p, 2);
        putf(o, "%u", v);
        break;
    }
    case GGUF_VT_I16: {
        int16_t v;
        memcpy(&v, p, 2);
        putf(o, "%d", v);
        break;
    }
    case GGUF_VT_U32: {
        uint32_t v;
        memcpy(&v, p, 4);
        putf(o, "%" PRIu32, v);
        break;
    }
    case GGUF_VT_I32: {
        int32_t v;
        memcpy(&v, p, 4);
        putf(o, "%" PRId32, v);
        break;
    }
    case GGUF_VT_U64: {
        uint64_t v;
        memcpy(&v, p, 8);
        putf(o, "%" PRIu64, v);
        break;
    }
    case GGUF_VT_I64: {
        int64_t v;
        memcpy(&v, p, 8);
        putf(o, "%" PRId64, v);
        break;
    }
    case GGUF_VT_F32: {
        float v;
        memcpy(&v, p, 4);
        put_float(o, v, true);
        break;
    }
    case GGUF_VT_F64: {
        double v;
        memcpy(&v, p, 8);
        put_float(o, v, false);
        break;
    }
    default: puts_(o, "?"); break;
    }
}

/* A bounded reader over the mapping for walking (nested) array bodies. */
typedef struct walker {
    const uint8_t *p, *end;
    bool bad; /* set when a length would pass the end (cannot happen after validation) */
} walker;

static bool take(walker *w, uint64_t n, const uint8_t **at) {
    if (w->bad || n > (uint64_t)(w->end - w->p)) {
        w->bad = true;
        return false;
    }
    *at = w->p;
    w->p += n;
    return true;
}

static bool take_u64(walker *w, uint64_t *v) {
    const uint8_t *at;
    if (!take(w, 8, &at)) return false;
    memcpy(v, at, 8);
    return true;
}

static void put_array(outbuf *o, walker *w, uint32_t elem, uint64_t n, int max_items, int depth);

/* Renders (or, when o is NULL, just skips) element i of an array of elem. */
static void put_elem(outbuf *o, walker *w, uint32_t elem, int max_items, int depth) {
    const uint8_t *at;
    if (elem == GGUF_VT_STRING) {
        uint64_t len;
        if (take_u64(w, &len) && take(w, len, &at) && o) put_string(o, (const char *)at, len);
    } else if (elem == GGUF_VT_ARRAY) {
        uint32_t sub;
        uint64_t sub_n;
        if (!take(w, 4, &at)) return;
        memcpy(&sub, at, 4);
        if (!take_u64(w, &sub_n)) return;
        put_array(o, w, sub, sub_n, max_items, depth + 1);
    } else if (elem < GGUF_VT_COUNT) {
        if (take(w, elem_size[elem], &at) && o) put_scalar(o, (gguf_vtype)elem, at);
    } else {
        w->bad = true;
    }
}

static void put_array(outbuf *o, walker *w, uint32_t elem, uint64_t n, int max_items, int depth) {
    if (depth > 16 || elem >= GGUF_VT_COUNT) {
        w->bad = true;
        return;
    }
    uint64_t shown = max_items < 0 || (uint64_t)max_items >= n ? n : (uint64_t)max_items;
    if (o) put(o, "[", 1);
    for (uint64_t i = 0; i < shown && !w->bad; i++) {
        if (o && i > 0) put(o, ", ", 2);
        put_elem(o, w, elem, max_items, depth);
    }
    if (shown < n && !w->bad) {
        if (o) putf(o, "%s... (%" PRIu64 " items)", shown > 0 ? ", " : "", n);
        /* skip the rest so an enclosing array finds its next element */
        if (elem == GGUF_VT_STRING || elem == GGUF_VT_ARRAY) {
            for (uint64_t i = shown; i < n && !w->bad; i++)
                put_elem(NULL, w, elem, max_items, depth);
        } else {
            const uint8_t *at;
            uint64_t bytes;
            if (kw_mul_overflows(n - shown, elem_size[elem], &bytes))
                w->bad = true;
            else
                take(w, bytes, &at);
        }
    }
    if (o) put(o, "]", 1);
}

size_t kw_gguf_kv_format(const kw_gguf *g, int64_t i, char *buf, size_t cap, int max_items) {
    outbuf o = {buf, cap, 0};
    const gguf_kv *kv = kv_at(g, i);
    if (!kv) {
        if (cap > 0) buf[0] = 0;
        return 0;
    }
    switch (kv->type) {
    case GGUF_VT_STRING: put_string(&o, kv->v.s.ptr, kv->v.s.len); break;
    case GGUF_VT_ARRAY: {
        walker w = {kv->arr_data, g->file.data + g->file.size, false};
        put_array(&o, &w, kv->arr_type, kv->arr_n, max_items, 1);
        if (w.bad) puts_(&o, " <malformed>");
        break;
    }
    case GGUF_VT_U8:
    case GGUF_VT_U16:
    case GGUF_VT_U32:
    case GGUF_VT_U64: putf(&o, "%" PRIu64, kv->v.u); break;
    case GGUF_VT_BOOL: puts_(&o, kv->v.u ? "true" : "false"); break;
    case GGUF_VT_I8:
    case GGUF_VT_I16:
    case GGUF_VT_I32:
    case GGUF_VT_I64: putf(&o, "%" PRId64, kv->v.i); break;
    case GGUF_VT_F32: put_float(&o, kv->v.f, true); break;
    case GGUF_VT_F64: put_float(&o, kv->v.f, false); break;
    default: puts_(&o, "?"); break;
    }
    if (cap > 0) buf[o.len < cap ? o.len : cap - 1] = 0;
    return o.len;
}
