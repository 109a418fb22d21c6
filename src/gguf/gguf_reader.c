/* gguf_reader.c - reads GGUF v2/v3 headers over an mmapped file.
 *
 * Layout (all little-endian):
 *
 *   offset  size        meaning
 *   0       4           magic "GGUF"
 *   4       4           version (u32): 2 or 3 (1 used u32 counts and is refused)
 *   8       8           n_tensors (u64)
 *   16      8           n_kv (u64)
 *   24      ...         n_kv entries: key (string), value type (u32), value
 *   ...     ...         n_tensors infos: name (string), n_dims (u32), ne[n_dims] (u64 each),
 *                       type (u32), offset (u64, relative to the data section, aligned)
 *   align   ...         data section: starts at the first multiple of general.alignment
 *                       (u32, default 32, a power of two) after the infos
 *
 *   string = u64 length + bytes (no NUL); array = elem type (u32) + count (u64) + elements.
 *
 * Rules: every length or count is checked against the bytes left before anything is allocated
 * or read; arrays nest at most 8 deep; tensor dims are 1..4 positive values whose product fits
 * in int64 and whose row length is a multiple of the type's block; data must lie inside the file,
 * be aligned, and not overlap another tensor. This file never copies tensor data.
 */
#include "gguf/gguf.h"

#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GGUF_MAX_ARRAY_DEPTH   8
#define GGUF_DEFAULT_ALIGNMENT 32

/* ---------------------------------------------------------------- cursor */

typedef struct cursor {
    const uint8_t *base;
    uint64_t size; /* file size */
    uint64_t pos;
    const char *path;
} cursor;

static uint64_t left(const cursor *c) { return c->size - c->pos; }

static kw_status need(const cursor *c, uint64_t n, const char *what) {
    if (n > left(c))
        return kw_error(KW_ERR_FORMAT,
                        "'%s': truncated: %s needs %" PRIu64 " bytes at offset %" PRIu64
                        " but only %" PRIu64 " remain (file size %" PRIu64
                        "): the file is truncated; download or convert it again",
                        c->path, what, n, c->pos, left(c), c->size);
    return KW_OK;
}

static kw_status rd(cursor *c, void *out, uint64_t n, const char *what) {
    kw_status st = need(c, n, what);
    if (st) return st;
    memcpy(out, c->base + c->pos, n);
    c->pos += n;
    return KW_OK;
}

static kw_status rd_u32(cursor *c, uint32_t *v, const char *what) { return rd(c, v, 4, what); }
static kw_status rd_u64(cursor *c, uint64_t *v, const char *what) { return rd(c, v, 8, what); }

static kw_status rd_str(cursor *c, gguf_str *s, const char *what) {
    uint64_t len;
    kw_status st = rd_u64(c, &len, what);
    if (st) return st;
    if (len > left(c))
        return kw_error(KW_ERR_FORMAT,
                        "'%s': %s at offset %" PRIu64 " claims %" PRIu64 " bytes but only %" PRIu64
                        " remain",
                        c->path, what, c->pos - 8, len, left(c));
    s->ptr = (const char *)c->base + c->pos;
    s->len = len;
    c->pos += len;
    return KW_OK;
}

/* ---------------------------------------------------------------- value types */

static const uint32_t vtype_size[GGUF_VT_COUNT] = {
    [GGUF_VT_U8] = 1,  [GGUF_VT_I8] = 1,  [GGUF_VT_U16] = 2, [GGUF_VT_I16] = 2,
    [GGUF_VT_U32] = 4, [GGUF_VT_I32] = 4, [GGUF_VT_F32] = 4, [GGUF_VT_BOOL] = 1,
    [GGUF_VT_U64] = 8, [GGUF_VT_I64] = 8, [GGUF_VT_F64] = 8,
};

const char *gguf_vtype_name(gguf_vtype t) {
    static const char *names[GGUF_VT_COUNT] = {"u8",  "i8",  "u16",  "i16",    "u32",
                                               "i32", "f32", "bool", "string", "array",
                                               "u64", "i64", "f64"};
    return (unsigned)t < GGUF_VT_COUNT ? names[t] : "unknown";
}

static kw_status check_vtype(const cursor *c, uint32_t t, uint64_t at, const char *key) {
    if (t >= GGUF_VT_COUNT)
        return kw_error(KW_ERR_FORMAT,
                        "'%s': key '%s': unknown value type %u at offset %" PRIu64
                        " (known: 0..12)",
                        c->path, key, t, at);
    return KW_OK;
}

/* Skips (validates) one array body whose elem type and count were read; used for nesting. */
static kw_status skip_array(cursor *c, uint32_t elem, uint64_t n, int depth, const char *key) {
    if (depth > GGUF_MAX_ARRAY_DEPTH)
        return kw_error(KW_ERR_FORMAT,
                        "'%s': key '%s': arrays nested deeper than %d at offset %" PRIu64, c->path,
                        key, GGUF_MAX_ARRAY_DEPTH, c->pos);
    kw_status st = check_vtype(c, elem, c->pos, key);
    if (st) return st;
    if (elem == GGUF_VT_STRING) {
        if (n > left(c) / 8)
            return kw_error(KW_ERR_FORMAT,
                            "'%s': key '%s': array of %" PRIu64
                            " strings cannot fit in the %" PRIu64 " bytes left at offset %" PRIu64
                            " (the file is truncated or corrupt)",
                            c->path, key, n, left(c), c->pos);
        for (uint64_t i = 0; i < n; i++) {
            gguf_str s;
            if ((st = rd_str(c, &s, "array string"))) return st;
        }
        return KW_OK;
    }
    if (elem == GGUF_VT_ARRAY) {
        if (n > left(c) / 12)
            return kw_error(KW_ERR_FORMAT,
                            "'%s': key '%s': array of %" PRIu64 " arrays cannot fit in the %" PRIu64
                            " bytes left at offset %" PRIu64 " (the file is truncated or corrupt)",
                            c->path, key, n, left(c), c->pos);
        for (uint64_t i = 0; i < n; i++) {
            uint32_t sub;
            uint64_t sub_n;
            if ((st = rd_u32(c, &sub, "nested array type"))) return st;
            if ((st = rd_u64(c, &sub_n, "nested array count"))) return st;
            if ((st = skip_array(c, sub, sub_n, depth + 1, key))) return st;
        }
        return KW_OK;
    }
    uint64_t bytes;
    if (kw_mul_overflows(n, vtype_size[elem], &bytes) || bytes > left(c))
        return kw_error(KW_ERR_FORMAT,
                        "'%s': key '%s': array of %" PRIu64 " %s values at offset %" PRIu64
                        " runs past the end of the file (%" PRIu64
                        " bytes left): the file is truncated or corrupt",
                        c->path, key, n, gguf_vtype_name(elem), c->pos, left(c));
    c->pos += bytes;
    return KW_OK;
}

static kw_status read_value(cursor *c, gguf_kv *kv) {
    kw_status st;
    kv->offset = c->pos;
    const uint8_t *p = c->base + c->pos;
    switch (kv->type) {
    case GGUF_VT_U8:
    case GGUF_VT_BOOL:
        if ((st = need(c, 1, "value"))) return st;
        kv->v.u = p[0];
        if (kv->type == GGUF_VT_BOOL && p[0] > 1)
            return kw_error(KW_ERR_FORMAT,
                            "'%s': key '%s': bool value %u at offset %" PRIu64 " is not 0 or 1",
                            c->path, kv->key, p[0], c->pos);
        c->pos += 1;
        return KW_OK;
    case GGUF_VT_I8: {
        int8_t v;
        if ((st = rd(c, &v, 1, "value"))) return st;
        kv->v.i = v;
        return KW_OK;
    }
    case GGUF_VT_U16: {
        uint16_t v;
        if ((st = rd(c, &v, 2, "value"))) return st;
        kv->v.u = v;
        return KW_OK;
    }
    case GGUF_VT_I16: {
        int16_t v;
        if ((st = rd(c, &v, 2, "value"))) return st;
        kv->v.i = v;
        return KW_OK;
    }
    case GGUF_VT_U32: {
        uint32_t v;
        if ((st = rd(c, &v, 4, "value"))) return st;
        kv->v.u = v;
        return KW_OK;
    }
    case GGUF_VT_I32: {
        int32_t v;
        if ((st = rd(c, &v, 4, "value"))) return st;
        kv->v.i = v;
        return KW_OK;
    }
    case GGUF_VT_F32: {
        float v;
        if ((st = rd(c, &v, 4, "value"))) return st;
        kv->v.f = v;
        return KW_OK;
    }
    case GGUF_VT_U64: return rd(c, &kv->v.u, 8, "value");
    case GGUF_VT_I64: return rd(c, &kv->v.i, 8, "value");
    case GGUF_VT_F64: return rd(c, &kv->v.f, 8, "value");
    case GGUF_VT_STRING: return rd_str(c, &kv->v.s, "string value");
    case GGUF_VT_ARRAY: {
        uint32_t elem;
        if ((st = rd_u32(c, &elem, "array element type"))) return st;
        if ((st = check_vtype(c, elem, c->pos - 4, kv->key))) return st;
        if ((st = rd_u64(c, &kv->arr_n, "array count"))) return st;
        kv->arr_type = (gguf_vtype)elem;
        uint64_t start = c->pos;
        kv->arr_data = c->base + start;
        if (elem == GGUF_VT_STRING) {
            if (kv->arr_n > left(c) / 8)
                return kw_error(
                    KW_ERR_FORMAT,
                    "'%s': key '%s': array of %" PRIu64 " strings cannot fit in the %" PRIu64
                    " bytes left at offset %" PRIu64 " (the file is truncated or corrupt)",
                    c->path, kv->key, kv->arr_n, left(c), c->pos);
            kv->arr_strs = kw_malloc(kv->arr_n * sizeof(gguf_str) + 1, "array of strings");
            if (!kv->arr_strs) return KW_ERR_NOMEM;
            for (uint64_t i = 0; i < kv->arr_n; i++)
                if ((st = rd_str(c, &kv->arr_strs[i], "array string"))) return st;
        } else {
            if ((st = skip_array(c, elem, kv->arr_n, 1, kv->key))) return st;
        }
        kv->arr_bytes = c->pos - start;
        return KW_OK;
    }
    default: break;
    }
    return kw_error(KW_ERR_INTERNAL, "unhandled value type %d", kv->type);
}

/* ---------------------------------------------------------------- header sections */

typedef struct named {
    const char *name;
    int64_t index;
} named;

static int cmp_named(const void *x, const void *y) {
    const named *a = x, *b = y;
    int c = strcmp(a->name, b->name);
    return c ? c : (a->index > b->index) - (a->index < b->index);
}

/* Finds two entries of an array of structs whose char* member at name_off is equal; sets *first
 * and *second to their indices (first < second), or both to -1. */
static kw_status find_duplicate(const void *items, int64_t n, size_t stride, size_t name_off,
                                int64_t *first, int64_t *second) {
    *first = *second = -1;
    if (n < 2) return KW_OK;
    named *v = kw_malloc((size_t)n * sizeof *v, "duplicate check");
    if (!v) return KW_ERR_NOMEM;
    for (int64_t i = 0; i < n; i++) {
        memcpy(&v[i].name, (const char *)items + (size_t)i * stride + name_off, sizeof(char *));
        v[i].index = i;
    }
    qsort(v, (size_t)n, sizeof *v, cmp_named);
    for (int64_t i = 1; i < n; i++)
        if (strcmp(v[i - 1].name, v[i].name) == 0 && (*first < 0 || v[i - 1].index < *first)) {
            *first = v[i - 1].index;
            *second = v[i].index;
        }
    free(v);
    return KW_OK;
}

static kw_status read_kvs(kw_gguf *g, cursor *c, uint64_t n_kv) {
    /* smallest entry: 8 (key length) + 4 (type) + 1 (u8 value) */
    if (n_kv > left(c) / 13)
        return kw_error(KW_ERR_FORMAT,
                        "'%s': header claims %" PRIu64 " metadata entries, but %" PRIu64
                        " bytes cannot hold that many (the file is truncated or corrupt)",
                        c->path, n_kv, left(c));
    g->kv = kw_calloc(n_kv + 1, sizeof(gguf_kv), "metadata entries");
    if (!g->kv) return KW_ERR_NOMEM;
    for (uint64_t i = 0; i < n_kv; i++) {
        gguf_kv *kv = &g->kv[i];
        gguf_str key;
        uint64_t key_at = c->pos;
        kw_status st = rd_str(c, &key, "metadata key");
        if (st) return kw_error_wrap(st, "metadata entry %" PRIu64 " of %" PRIu64, i, n_kv);
        if (key.len == 0 || memchr(key.ptr, 0, key.len))
            return kw_error(KW_ERR_FORMAT,
                            "'%s': metadata entry %" PRIu64 " at offset %" PRIu64
                            " has an empty key or one containing NUL",
                            c->path, i, key_at);
        if (!(kv->key = kw_strndup(key.ptr, key.len))) return KW_ERR_NOMEM;
        g->n_kv = (int64_t)i + 1;
        uint32_t type;
        if ((st = rd_u32(c, &type, "value type")))
            return kw_error_wrap(st, "metadata key '%s'", kv->key);
        if ((st = check_vtype(c, type, c->pos - 4, kv->key))) return st;
        kv->type = (gguf_vtype)type;
        if ((st = read_value(c, kv))) return kw_error_wrap(st, "metadata key '%s'", kv->key);
    }
    /* duplicates are found by sorting (not pairwise) so a header with millions of keys cannot
     * make opening quadratic */
    int64_t a, b;
    kw_status st =
        find_duplicate(g->kv, (int64_t)n_kv, sizeof(gguf_kv), offsetof(gguf_kv, key), &a, &b);
    if (st) return st;
    if (a >= 0)
        return kw_error(KW_ERR_FORMAT,
                        "'%s': duplicate metadata key '%s' (entries %" PRId64 " and %" PRId64 ")",
                        c->path, g->kv[a].key, a, b);
    return KW_OK;
}

static kw_status read_tensor_info(kw_gguf *g, cursor *c, gguf_tensor *t, uint64_t idx) {
    gguf_str name;
    t->info_offset = c->pos;
    kw_status st = rd_str(c, &name, "tensor name");
    if (st) return kw_error_wrap(st, "tensor info %" PRIu64, idx);
    if (name.len == 0 || name.len > 255 || memchr(name.ptr, 0, name.len))
        return kw_error(KW_ERR_FORMAT,
                        "'%s': tensor info %" PRIu64 " at offset %" PRIu64 ": name length %" PRIu64
                        " (must be 1..255, no NUL)",
                        c->path, idx, t->info_offset, name.len);
    if (!(t->name = kw_strndup(name.ptr, name.len))) return KW_ERR_NOMEM;
    if ((st = rd_u32(c, &t->n_dims, "tensor n_dims")))
        return kw_error_wrap(st, "tensor '%s'", t->name);
    if (t->n_dims < 1 || t->n_dims > 4)
        return kw_error(KW_ERR_FORMAT, "'%s': tensor '%s': %u dimensions (must be 1..4)", c->path,
                        t->name, t->n_dims);
    int64_t n_elem = 1;
    for (uint32_t d = 0; d < 4; d++)
        t->ne[d] = 1;
    for (uint32_t d = 0; d < t->n_dims; d++) {
        uint64_t ne;
        if ((st = rd_u64(c, &ne, "tensor dimension")))
            return kw_error_wrap(st, "tensor '%s'", t->name);
        if (ne == 0 || ne > (uint64_t)INT64_MAX)
            return kw_error(KW_ERR_FORMAT,
                            "'%s': tensor '%s': dimension %u is %" PRIu64 " (must be >= 1)",
                            c->path, t->name, d, ne);
        if (__builtin_mul_overflow(n_elem, (int64_t)ne, &n_elem))
            return kw_error(KW_ERR_FORMAT,
                            "'%s': tensor '%s': the product of its dimensions overflows 64 bits "
                            "(dimension %u = %" PRIu64 ")",
                            c->path, t->name, d, ne);
        t->ne[d] = (int64_t)ne;
    }
    if ((st = rd_u32(c, &t->type, "tensor type"))) return kw_error_wrap(st, "tensor '%s'", t->name);
    const ggml_type_traits *tt = ggml_type_get(t->type);
    if (!tt->name)
        return kw_error(KW_ERR_FORMAT, "'%s': tensor '%s': unknown tensor type id %u", c->path,
                        t->name, t->type);
    if (t->ne[0] % tt->block_size != 0)
        return kw_error(KW_ERR_FORMAT,
                        "'%s': tensor '%s': row length %" PRId64
                        " is not a multiple of the %s block size %u",
                        c->path, t->name, t->ne[0], tt->name, tt->block_size);
    uint64_t rel;
    if ((st = rd_u64(c, &rel, "tensor data offset")))
        return kw_error_wrap(st, "tensor '%s'", t->name);
    t->offset = rel; /* made absolute once the data section start is known */
    uint64_t n_blocks = (uint64_t)n_elem / tt->block_size;
    if (kw_mul_overflows(n_blocks, tt->type_size, &t->n_bytes))
        return kw_error(KW_ERR_FORMAT, "'%s': tensor '%s': byte size overflows 64 bits", c->path,
                        t->name);
    return KW_OK;
}

static int cmp_offset(const void *a, const void *b) {
    const gguf_tensor *x = *(const gguf_tensor *const *)a, *y = *(const gguf_tensor *const *)b;
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

/* Checks alignment, bounds and overlap of the tensor data; fills data pointers. */
static kw_status place_tensors(kw_gguf *g, const cursor *c) {
    if (g->n_tensors == 0) return KW_OK;
    gguf_tensor **sorted = kw_malloc((size_t)g->n_tensors * sizeof *sorted, "tensor order");
    if (!sorted) return KW_ERR_NOMEM;
    kw_status st = KW_OK;
    for (int64_t i = 0; i < g->n_tensors && !st; i++) {
        gguf_tensor *t = &g->tensors[i];
        sorted[i] = t;
        uint64_t rel = t->offset, abs_off, end;
        if (rel % g->alignment != 0)
            st = kw_error(KW_ERR_FORMAT,
                          "'%s': tensor '%s': data offset %" PRIu64
                          " is not a multiple of the alignment %u",
                          c->path, t->name, rel, g->alignment);
        else if (kw_add_overflows(g->data_offset, rel, &abs_off) ||
                 kw_add_overflows(abs_off, t->n_bytes, &end) || end > c->size)
            st = kw_error(KW_ERR_FORMAT,
                          "'%s': tensor '%s': data at offset %" PRIu64 " + %" PRIu64
                          " bytes passes the end of the file (%" PRIu64
                          "): the file is truncated; download or convert it again",
                          c->path, t->name, g->data_offset + rel, t->n_bytes, c->size);
        else {
            t->offset = abs_off;
            t->data = c->base + abs_off;
        }
    }
    if (!st) {
        qsort(sorted, (size_t)g->n_tensors, sizeof *sorted, cmp_offset);
        for (int64_t i = 1; i < g->n_tensors && !st; i++) {
            const gguf_tensor *a = sorted[i - 1], *b = sorted[i];
            if (a->offset + a->n_bytes > b->offset)
                st = kw_error(KW_ERR_FORMAT,
                              "'%s': tensors '%s' (offset %" PRIu64 ", %" PRIu64
                              " bytes) and '%s' (offset %" PRIu64 ") overlap",
                              c->path, a->name, a->offset, a->n_bytes, b->name, b->offset);
        }
    }
    free(sorted);
    return st;
}

static kw_status parse(kw_gguf *g) {
    cursor c = {g->file.data, g->file.size, 0, g->file.path};
    char magic[4];
    kw_status st = rd(&c, magic, 4, "magic");
    if (st)
        return kw_error(KW_ERR_FORMAT,
                        "'%s': not a GGUF file (%" PRIu64 " bytes, too short for the magic)",
                        c.path, c.size);
    if (memcmp(magic, "GGUF", 4) != 0)
        return kw_error(
            KW_ERR_FORMAT, "'%s': not a GGUF file: magic is %02x %02x %02x %02x, expected \"GGUF\"",
            c.path, (uint8_t)magic[0], (uint8_t)magic[1], (uint8_t)magic[2], (uint8_t)magic[3]);
    if ((st = rd_u32(&c, &g->version, "version"))) return st;
    if (g->version != 2 && g->version != 3)
        return kw_error(g->version == 1 ? KW_ERR_UNSUPPORTED : KW_ERR_FORMAT,
                        "'%s': GGUF version %u is not supported (kaiwu reads versions 2 and 3)",
                        c.path, g->version);
    uint64_t n_tensors, n_kv;
    if ((st = rd_u64(&c, &n_tensors, "tensor count"))) return st;
    if ((st = rd_u64(&c, &n_kv, "metadata count"))) return st;
    if ((st = read_kvs(g, &c, n_kv))) return st;

    g->alignment = GGUF_DEFAULT_ALIGNMENT;
    int64_t ai = gguf_find_key(g, "general.alignment");
    if (ai >= 0) {
        const gguf_kv *kv = &g->kv[ai];
        if (kv->type != GGUF_VT_U32)
            return kw_error(KW_ERR_FORMAT, "'%s': general.alignment has type %s, expected u32",
                            c.path, gguf_vtype_name(kv->type));
        if (kv->v.u == 0 || (kv->v.u & (kv->v.u - 1)) != 0 || kv->v.u > (1u << 20))
            return kw_error(KW_ERR_FORMAT,
                            "'%s': general.alignment is %" PRIu64
                            " (must be a power of two up to 1 MiB)",
                            c.path, kv->v.u);
        g->alignment = (uint32_t)kv->v.u;
    }

    /* smallest tensor info: 8 + 1 (name) + 4 (n_dims) + 8 (one dim) + 4 (type) + 8 (offset) */
    if (n_tensors > left(&c) / 33)
        return kw_error(KW_ERR_FORMAT,
                        "'%s': header claims %" PRIu64 " tensors, but the %" PRIu64
                        " bytes left cannot hold that many tensor infos (the file is truncated or "
                        "corrupt)",
                        c.path, n_tensors, left(&c));
    g->tensors = kw_calloc(n_tensors + 1, sizeof(gguf_tensor), "tensor infos");
    if (!g->tensors) return KW_ERR_NOMEM;
    for (uint64_t i = 0; i < n_tensors; i++) {
        g->n_tensors = (int64_t)i + 1;
        if ((st = read_tensor_info(g, &c, &g->tensors[i], i))) return st;
    }
    int64_t da, db;
    if ((st = find_duplicate(g->tensors, (int64_t)n_tensors, sizeof(gguf_tensor),
                             offsetof(gguf_tensor, name), &da, &db)))
        return st;
    if (da >= 0)
        return kw_error(KW_ERR_FORMAT,
                        "'%s': duplicate tensor name '%s' (tensor infos %" PRId64 " and %" PRId64
                        ", the second at offset %" PRIu64 ")",
                        c.path, g->tensors[da].name, da, db, g->tensors[db].info_offset);
    uint64_t data = (c.pos + g->alignment - 1) / g->alignment * g->alignment;
    if (n_tensors > 0 && data > c.size)
        return kw_error(KW_ERR_FORMAT,
                        "'%s': the data section would start at offset %" PRIu64
                        ", past the end of the file (%" PRIu64 ")",
                        c.path, data, c.size);
    g->data_offset = data;
    return place_tensors(g, &c);
}

/* ---------------------------------------------------------------- open / close */

kw_status kw_gguf_open(const char *path, kw_gguf **out) {
    kw_error_clear();
    if (!path || !out) return kw_error(KW_ERR_INVALID_ARG, "kw_gguf_open: NULL argument");
    kw_gguf *g = kw_calloc(1, sizeof *g, "gguf reader");
    if (!g) return KW_ERR_NOMEM;
    kw_status st = kw_file_map(path, &g->file);
    if (st) {
        free(g);
        return st;
    }
    if ((st = parse(g))) {
        kw_gguf_close(g);
        return st;
    }
    *out = g;
    return KW_OK;
}

void kw_gguf_close(kw_gguf *g) {
    if (!g) return;
    for (int64_t i = 0; i < g->n_kv; i++) {
        free(g->kv[i].key);
        free(g->kv[i].arr_strs);
    }
    free(g->kv);
    for (int64_t i = 0; i < g->n_tensors; i++)
        free(g->tensors[i].name);
    free(g->tensors);
    kw_file_unmap(&g->file);
    free(g);
}

/* ---------------------------------------------------------------- lookups */

int64_t gguf_find_key(const kw_gguf *g, const char *key) {
    for (int64_t i = 0; i < g->n_kv; i++)
        if (strcmp(g->kv[i].key, key) == 0) return i;
    return -1;
}

const gguf_tensor *gguf_find_tensor(const kw_gguf *g, const char *name) {
    for (int64_t i = 0; i < g->n_tensors; i++)
        if (strcmp(g->tensors[i].name, name) == 0) return &g->tensors[i];
    return NULL;
}

bool gguf_str_eq(gguf_str s, const char *c) {
    size_t n = strlen(c);
    return s.len == n && memcmp(s.ptr, c, n) == 0;
}

static bool is_uint(gguf_vtype t) {
    return t == GGUF_VT_U8 || t == GGUF_VT_U16 || t == GGUF_VT_U32 || t == GGUF_VT_U64;
}
static bool is_sint(gguf_vtype t) {
    return t == GGUF_VT_I8 || t == GGUF_VT_I16 || t == GGUF_VT_I32 || t == GGUF_VT_I64;
}

static kw_status missing(const kw_gguf *g, const char *key) {
    return kw_error(KW_ERR_FORMAT, "'%s': required metadata key '%s' is missing", g->file.path,
                    key);
}

static kw_status wrong_type(const kw_gguf *g, const gguf_kv *kv, const char *expected) {
    return kw_error(KW_ERR_FORMAT, "'%s': metadata key '%s' has type %s, expected %s", g->file.path,
                    kv->key, gguf_vtype_name(kv->type), expected);
}

static kw_status get_int(const kw_gguf *g, const char *key, int64_t lo, int64_t hi, int64_t *out,
                         bool required) {
    int64_t i = gguf_find_key(g, key);
    if (i < 0) return required ? missing(g, key) : KW_OK;
    const gguf_kv *kv = &g->kv[i];
    int64_t v;
    if (is_uint(kv->type)) {
        if (kv->v.u > (uint64_t)INT64_MAX) goto range;
        v = (int64_t)kv->v.u;
    } else if (is_sint(kv->type)) {
        v = kv->v.i;
    } else {
        return wrong_type(g, kv, "an integer");
    }
    if (v < lo || v > hi) goto range;
    *out = v;
    return KW_OK;
range:
    return kw_error(KW_ERR_FORMAT,
                    "'%s': metadata key '%s' = %" PRId64 " is out of range [%" PRId64 ", %" PRId64
                    "]",
                    g->file.path, key, is_uint(kv->type) ? (int64_t)kv->v.u : kv->v.i, lo, hi);
}

kw_status gguf_get_u32(const kw_gguf *g, const char *key, uint32_t *out) {
    int64_t v;
    kw_status st = get_int(g, key, 0, UINT32_MAX, &v, true);
    if (!st) *out = (uint32_t)v;
    return st;
}

kw_status gguf_get_u32_opt(const kw_gguf *g, const char *key, uint32_t *out) {
    int64_t v = -1;
    kw_status st = get_int(g, key, 0, UINT32_MAX, &v, false);
    if (!st && v >= 0) *out = (uint32_t)v;
    return st;
}

kw_status gguf_get_i32_opt(const kw_gguf *g, const char *key, int32_t *out) {
    int64_t i = gguf_find_key(g, key);
    if (i < 0) return KW_OK;
    int64_t v;
    kw_status st = get_int(g, key, INT32_MIN, INT32_MAX, &v, true);
    if (!st) *out = (int32_t)v;
    return st;
}

static kw_status get_float(const kw_gguf *g, const char *key, float *out, bool required) {
    int64_t i = gguf_find_key(g, key);
    if (i < 0) return required ? missing(g, key) : KW_OK;
    const gguf_kv *kv = &g->kv[i];
    if (kv->type == GGUF_VT_F32 || kv->type == GGUF_VT_F64)
        *out = (float)kv->v.f;
    else if (is_uint(kv->type))
        *out = (float)kv->v.u;
    else if (is_sint(kv->type))
        *out = (float)kv->v.i;
    else
        return wrong_type(g, kv, "a number");
    return KW_OK;
}

kw_status gguf_get_f32(const kw_gguf *g, const char *key, float *out) {
    return get_float(g, key, out, true);
}
kw_status gguf_get_f32_opt(const kw_gguf *g, const char *key, float *out) {
    return get_float(g, key, out, false);
}

kw_status gguf_get_bool_opt(const kw_gguf *g, const char *key, bool *out) {
    int64_t i = gguf_find_key(g, key);
    if (i < 0) return KW_OK;
    const gguf_kv *kv = &g->kv[i];
    if (kv->type != GGUF_VT_BOOL) return wrong_type(g, kv, "bool");
    *out = kv->v.u != 0;
    return KW_OK;
}

static kw_status get_str(const kw_gguf *g, const char *key, gguf_str *out, bool required) {
    int64_t i = gguf_find_key(g, key);
    if (i < 0) return required ? missing(g, key) : KW_OK;
    const gguf_kv *kv = &g->kv[i];
    if (kv->type != GGUF_VT_STRING) return wrong_type(g, kv, "string");
    *out = kv->v.s;
    return KW_OK;
}

kw_status gguf_get_str(const kw_gguf *g, const char *key, gguf_str *out) {
    return get_str(g, key, out, true);
}
kw_status gguf_get_str_opt(const kw_gguf *g, const char *key, gguf_str *out) {
    return get_str(g, key, out, false);
}

static bool is_numeric(gguf_vtype t) {
    return is_uint(t) || is_sint(t) || t == GGUF_VT_F32 || t == GGUF_VT_F64 || t == GGUF_VT_BOOL;
}

const gguf_kv *gguf_get_arr(const kw_gguf *g, const char *key, gguf_vtype elem_type, bool required,
                            kw_status *status) {
    *status = KW_OK;
    int64_t i = gguf_find_key(g, key);
    if (i < 0) {
        if (required) *status = missing(g, key);
        return NULL;
    }
    const gguf_kv *kv = &g->kv[i];
    bool ok =
        kv->type == GGUF_VT_ARRAY &&
        (kv->arr_type == elem_type ||
         (elem_type != GGUF_VT_STRING && elem_type != GGUF_VT_ARRAY && is_numeric(kv->arr_type)));
    if (!ok) {
        char expected[32];
        snprintf(expected, sizeof expected, "array[%s]", gguf_vtype_name(elem_type));
        if (kv->type == GGUF_VT_ARRAY)
            *status = kw_error(KW_ERR_FORMAT, "'%s': metadata key '%s' is array[%s], expected %s",
                               g->file.path, key, gguf_vtype_name(kv->arr_type), expected);
        else
            *status = wrong_type(g, kv, expected);
        return NULL;
    }
    return kv;
}

float gguf_arr_get_f32(const gguf_kv *kv, uint64_t i) {
    const uint8_t *p = kv->arr_data + i * vtype_size[kv->arr_type];
    switch (kv->arr_type) {
    case GGUF_VT_F32: {
        float v;
        memcpy(&v, p, 4);
        return v;
    }
    case GGUF_VT_F64: {
        double v;
        memcpy(&v, p, 8);
        return (float)v;
    }
    default: return (float)gguf_arr_get_i64(kv, i);
    }
}

/* float -> int64 without UB: NaN gives 0, out-of-range values saturate. */
static int64_t f64_to_i64(double v) {
    if (v != v) return 0;
    if (v >= 9223372036854775808.0) return INT64_MAX;
    if (v < -9223372036854775808.0) return INT64_MIN;
    return (int64_t)v;
}

int64_t gguf_arr_get_i64(const gguf_kv *kv, uint64_t i) {
    const uint8_t *p = kv->arr_data + i * vtype_size[kv->arr_type];
    switch (kv->arr_type) {
    case GGUF_VT_U8:
    case GGUF_VT_BOOL: return p[0];
    case GGUF_VT_I8: return (int8_t)p[0];
    case GGUF_VT_U16: {
        uint16_t v;
        memcpy(&v, p, 2);
        return v;
    }
    case GGUF_VT_I16: {
        int16_t v;
        memcpy(&v, p, 2);
        return v;
    }
    case GGUF_VT_U32: {
        uint32_t v;
        memcpy(&v, p, 4);
        return v;
    }
    case GGUF_VT_I32: {
        int32_t v;
        memcpy(&v, p, 4);
        return v;
    }
    case GGUF_VT_U64: {
        uint64_t v;
        memcpy(&v, p, 8);
        return (int64_t)v;
    }
    case GGUF_VT_I64: {
        int64_t v;
        memcpy(&v, p, 8);
        return v;
    }
    case GGUF_VT_F32: {
        float v;
        memcpy(&v, p, 4);
        return f64_to_i64(v);
    }
    case GGUF_VT_F64: {
        double v;
        memcpy(&v, p, 8);
        return f64_to_i64(v);
    }
    default: return 0;
    }
}
