/* gguf_writer.c - writes GGUF v3 files: metadata and tensor infos collected in memory, then the
 * header and the tensor data written in one pass through a kw_outfile (src/base/outfile.c): a
 * temporary file next to path, renamed over it when complete.
 *
 * Layout written (see gguf_reader.c for the table): magic, version 3, n_tensors, n_kv, the kvs in
 * the order added, the tensor infos in the order added, zero padding up to the first multiple of
 * the alignment, then each tensor's data at consecutive offsets, each padded with zero bytes to a
 * multiple of the alignment. This is the layout llama-quantize (ggml's gguf writer) produces, so
 * copying every kv and tensor of such a file in order reproduces it byte for byte.
 *
 * Alignment: 32 unless general.alignment (u32, a power of two) is added or set with
 * gguf_writer_set_alignment; the key and the layout always agree.
 *
 * Relies on: the ggml type table (row sizes), kw_outfile. Must not: write a partial file under path
 * (a failed write leaves path untouched and removes the temporary file), keep tensor data after
 * gguf_writer_write.
 */
#include "gguf/gguf.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GGUF_WRITER_DEFAULT_ALIGNMENT 32
#define GGUF_ALIGNMENT_KEY            "general.alignment"

typedef struct wkv {
    char *key;     /* owned */
    uint32_t type; /* gguf_vtype */
    uint8_t *val;  /* owned: the value exactly as stored in the file (arrays: type, count, elems) */
    size_t val_len;
} wkv;

typedef struct wtensor {
    char *name; /* owned */
    uint32_t type;
    uint32_t n_dims;
    int64_t ne[4];
    uint64_t n_bytes;
    uint64_t rel_offset; /* relative to the data section */
    const void *data;    /* borrowed until gguf_writer_write */
} wtensor;

struct gguf_writer {
    wkv *kv;
    int64_t n_kv, cap_kv;
    wtensor *t;
    int64_t n_t, cap_t;
    uint32_t alignment;
    uint64_t data_size; /* padded bytes of all tensor data so far */
};

static const uint32_t vsize[GGUF_VT_COUNT] = {
    [GGUF_VT_U8] = 1,  [GGUF_VT_I8] = 1,  [GGUF_VT_U16] = 2, [GGUF_VT_I16] = 2,
    [GGUF_VT_U32] = 4, [GGUF_VT_I32] = 4, [GGUF_VT_F32] = 4, [GGUF_VT_BOOL] = 1,
    [GGUF_VT_U64] = 8, [GGUF_VT_I64] = 8, [GGUF_VT_F64] = 8,
};

/* ---------------------------------------------------------------- create / free */

kw_status gguf_writer_create(gguf_writer **out) {
    if (!out) return kw_error(KW_ERR_INVALID_ARG, "gguf_writer_create: NULL argument");
    gguf_writer *w = kw_calloc(1, sizeof *w, "gguf writer");
    if (!w) return KW_ERR_NOMEM;
    w->alignment = GGUF_WRITER_DEFAULT_ALIGNMENT;
    *out = w;
    return KW_OK;
}

void gguf_writer_free(gguf_writer *w) {
    if (!w) return;
    for (int64_t i = 0; i < w->n_kv; i++) {
        free(w->kv[i].key);
        free(w->kv[i].val);
    }
    for (int64_t i = 0; i < w->n_t; i++)
        free(w->t[i].name);
    free(w->kv);
    free(w->t);
    free(w);
}

static uint64_t pad_to(uint64_t n, uint32_t align) { return (n + align - 1) / align * align; }

static bool valid_alignment(uint64_t a) { return a > 0 && a <= (1u << 20) && (a & (a - 1)) == 0; }

static int64_t find_kv(const gguf_writer *w, const char *key) {
    for (int64_t i = 0; i < w->n_kv; i++)
        if (strcmp(w->kv[i].key, key) == 0) return i;
    return -1;
}

/* Tensor offsets depend on the alignment; recompute them after it changes. */
static void relayout(gguf_writer *w) {
    uint64_t off = 0;
    for (int64_t i = 0; i < w->n_t; i++) {
        w->t[i].rel_offset = off;
        off += pad_to(w->t[i].n_bytes, w->alignment);
    }
    w->data_size = off;
}

void gguf_writer_set_alignment(gguf_writer *w, uint32_t alignment) {
    if (!w || !valid_alignment(alignment)) return;
    w->alignment = alignment;
    int64_t i = find_kv(w, GGUF_ALIGNMENT_KEY);
    if (i >= 0 && w->kv[i].type == GGUF_VT_U32)
        memcpy(w->kv[i].val, &alignment, 4);
    else if (i < 0 && alignment != GGUF_WRITER_DEFAULT_ALIGNMENT)
        gguf_writer_add_u32(w, GGUF_ALIGNMENT_KEY, alignment);
    relayout(w);
}

/* ---------------------------------------------------------------- metadata */

/* Appends key with a value given as its file bytes (copied). */
static kw_status add_raw(gguf_writer *w, const char *key, uint32_t type, const void *a,
                         size_t a_len, const void *b, size_t b_len) {
    if (!w || !key) return kw_error(KW_ERR_INVALID_ARG, "gguf writer: NULL argument");
    if (!key[0]) return kw_error(KW_ERR_INVALID_ARG, "gguf writer: empty metadata key");
    if (find_kv(w, key) >= 0)
        return kw_error(KW_ERR_INVALID_ARG, "gguf writer: duplicate metadata key '%s'", key);
    if (strcmp(key, GGUF_ALIGNMENT_KEY) == 0) {
        uint32_t v = 0;
        if (type != GGUF_VT_U32 || a_len != 4 || (memcpy(&v, a, 4), !valid_alignment(v)))
            return kw_error(KW_ERR_INVALID_ARG,
                            "gguf writer: general.alignment must be a u32 power of two up to 1 MiB "
                            "(got type %s, value %" PRIu32 ")",
                            gguf_vtype_name((gguf_vtype)type), v);
    }
    if (w->n_kv == w->cap_kv) {
        int64_t cap = w->cap_kv ? w->cap_kv * 2 : 32;
        wkv *kv = kw_realloc(w->kv, (size_t)cap * sizeof *kv, "gguf writer keys");
        if (!kv)
            return kw_error(KW_ERR_NOMEM, "gguf writer: out of memory for %" PRId64 " keys", cap);
        w->kv = kv;
        w->cap_kv = cap;
    }
    wkv *kv = &w->kv[w->n_kv];
    kv->key = kw_strdup(key);
    kv->val = kw_malloc(a_len + b_len + 1, "gguf writer value");
    if (!kv->key || !kv->val) {
        free(kv->key);
        free(kv->val);
        return KW_ERR_NOMEM;
    }
    kv->type = type;
    if (a_len) memcpy(kv->val, a, a_len);
    if (b_len) memcpy(kv->val + a_len, b, b_len);
    kv->val_len = a_len + b_len;
    w->n_kv++;
    if (strcmp(key, GGUF_ALIGNMENT_KEY) == 0) {
        memcpy(&w->alignment, a, 4);
        relayout(w);
    }
    return KW_OK;
}

kw_status gguf_writer_add_u32(gguf_writer *w, const char *key, uint32_t v) {
    return add_raw(w, key, GGUF_VT_U32, &v, 4, NULL, 0);
}
kw_status gguf_writer_add_u64(gguf_writer *w, const char *key, uint64_t v) {
    return add_raw(w, key, GGUF_VT_U64, &v, 8, NULL, 0);
}
kw_status gguf_writer_add_i32(gguf_writer *w, const char *key, int32_t v) {
    return add_raw(w, key, GGUF_VT_I32, &v, 4, NULL, 0);
}
kw_status gguf_writer_add_f32(gguf_writer *w, const char *key, float v) {
    return add_raw(w, key, GGUF_VT_F32, &v, 4, NULL, 0);
}
kw_status gguf_writer_add_bool(gguf_writer *w, const char *key, bool v) {
    uint8_t b = v ? 1 : 0;
    return add_raw(w, key, GGUF_VT_BOOL, &b, 1, NULL, 0);
}
kw_status gguf_writer_add_str(gguf_writer *w, const char *key, const char *v) {
    if (!v)
        return kw_error(KW_ERR_INVALID_ARG, "gguf writer: key '%s': NULL string", key ? key : "");
    uint64_t len = strlen(v);
    return add_raw(w, key, GGUF_VT_STRING, &len, 8, v, (size_t)len);
}

kw_status gguf_writer_add_arr(gguf_writer *w, const char *key, gguf_vtype elem_type,
                              const void *data, uint64_t n) {
    if ((unsigned)elem_type >= GGUF_VT_COUNT || elem_type == GGUF_VT_STRING ||
        elem_type == GGUF_VT_ARRAY)
        return kw_error(KW_ERR_INVALID_ARG,
                        "gguf writer: key '%s': array element type %d is not a fixed-size type",
                        key ? key : "", (int)elem_type);
    uint64_t bytes;
    if (kw_mul_overflows(n, vsize[elem_type], &bytes) || bytes > SIZE_MAX / 2 || (n && !data))
        return kw_error(KW_ERR_INVALID_ARG,
                        "gguf writer: key '%s': bad array of %" PRIu64 " elements", key ? key : "",
                        n);
    uint8_t head[12];
    uint32_t et = (uint32_t)elem_type;
    memcpy(head, &et, 4);
    memcpy(head + 4, &n, 8);
    return add_raw(w, key, GGUF_VT_ARRAY, head, 12, data, (size_t)bytes);
}

kw_status gguf_writer_add_arr_str(gguf_writer *w, const char *key, const char *const *strs,
                                  uint64_t n) {
    if (n && !strs)
        return kw_error(KW_ERR_INVALID_ARG, "gguf writer: key '%s': NULL strings", key ? key : "");
    uint64_t total = 12;
    for (uint64_t i = 0; i < n; i++) {
        if (!strs[i])
            return kw_error(KW_ERR_INVALID_ARG, "gguf writer: key '%s': string %" PRIu64 " is NULL",
                            key ? key : "", i);
        total += 8 + strlen(strs[i]);
    }
    uint8_t *buf = kw_malloc((size_t)total, "gguf writer string array");
    if (!buf) return KW_ERR_NOMEM;
    uint32_t et = GGUF_VT_STRING;
    memcpy(buf, &et, 4);
    memcpy(buf + 4, &n, 8);
    size_t pos = 12;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t len = strlen(strs[i]);
        memcpy(buf + pos, &len, 8);
        memcpy(buf + pos + 8, strs[i], (size_t)len);
        pos += 8 + (size_t)len;
    }
    kw_status st = add_raw(w, key, GGUF_VT_ARRAY, buf, pos, NULL, 0);
    free(buf);
    return st;
}

kw_status gguf_writer_copy_kv(gguf_writer *w, const kw_gguf *src, int64_t kv_index) {
    if (!w || !src || kv_index < 0 || kv_index >= src->n_kv)
        return kw_error(KW_ERR_INVALID_ARG,
                        "gguf writer: copy of metadata entry %" PRId64 " out of range", kv_index);
    const gguf_kv *kv = &src->kv[kv_index];
    switch (kv->type) {
    case GGUF_VT_STRING: {
        uint64_t len = kv->v.s.len;
        return add_raw(w, kv->key, kv->type, &len, 8, kv->v.s.ptr, (size_t)len);
    }
    case GGUF_VT_ARRAY: {
        /* the elements are copied as stored, so nested arrays and strings come along unchanged */
        uint8_t head[12];
        uint32_t et = (uint32_t)kv->arr_type;
        memcpy(head, &et, 4);
        memcpy(head + 4, &kv->arr_n, 8);
        return add_raw(w, kv->key, kv->type, head, 12, kv->arr_data, (size_t)kv->arr_bytes);
    }
    case GGUF_VT_I8:
    case GGUF_VT_I16:
    case GGUF_VT_I32:
    case GGUF_VT_I64: {
        int64_t v = kv->v.i; /* little-endian: the low bytes are the narrower value */
        return add_raw(w, kv->key, kv->type, &v, vsize[kv->type], NULL, 0);
    }
    case GGUF_VT_F32: {
        float v = (float)kv->v.f;
        return add_raw(w, kv->key, kv->type, &v, 4, NULL, 0);
    }
    case GGUF_VT_F64: return add_raw(w, kv->key, kv->type, &kv->v.f, 8, NULL, 0);
    default:
        if ((unsigned)kv->type >= GGUF_VT_COUNT) break;
        return add_raw(w, kv->key, kv->type, &kv->v.u, vsize[kv->type], NULL, 0);
    }
    return kw_error(KW_ERR_INTERNAL, "gguf writer: key '%s' has unknown type %d", kv->key,
                    (int)kv->type);
}

/* ---------------------------------------------------------------- tensors */

kw_status gguf_writer_add_tensor(gguf_writer *w, const char *name, uint32_t type, uint32_t n_dims,
                                 const int64_t *ne, const void *data) {
    if (!w || !name || !ne) return kw_error(KW_ERR_INVALID_ARG, "gguf writer: NULL argument");
    size_t name_len = strlen(name);
    if (name_len == 0 || name_len > 255)
        return kw_error(KW_ERR_INVALID_ARG, "gguf writer: tensor name length %zu (must be 1..255)",
                        name_len);
    const ggml_type_traits *tt = ggml_type_get(type);
    if (!tt->name)
        return kw_error(KW_ERR_INVALID_ARG, "gguf writer: tensor '%s': unknown type id %u", name,
                        type);
    if (n_dims < 1 || n_dims > 4)
        return kw_error(KW_ERR_INVALID_ARG,
                        "gguf writer: tensor '%s': %u dimensions (must be 1..4)", name, n_dims);
    uint64_t rows = 1;
    for (uint32_t d = 0; d < n_dims; d++) {
        if (ne[d] < 1 || (d > 0 && kw_mul_overflows(rows, (uint64_t)ne[d], &rows)))
            return kw_error(KW_ERR_INVALID_ARG,
                            "gguf writer: tensor '%s': bad dimension %u = %" PRId64, name, d,
                            ne[d]);
    }
    if (ne[0] % tt->block_size != 0)
        return kw_error(KW_ERR_INVALID_ARG,
                        "gguf writer: tensor '%s': row length %" PRId64
                        " is not a multiple of the %s block size %u",
                        name, ne[0], tt->name, tt->block_size);
    uint64_t n_bytes, padded_end;
    if (kw_mul_overflows(ggml_row_bytes(type, ne[0]), rows, &n_bytes) ||
        kw_add_overflows(w->data_size, pad_to(n_bytes, w->alignment), &padded_end) ||
        (n_bytes && !data))
        return kw_error(KW_ERR_INVALID_ARG, "gguf writer: tensor '%s': size overflows or no data",
                        name);
    for (int64_t i = 0; i < w->n_t; i++)
        if (strcmp(w->t[i].name, name) == 0)
            return kw_error(KW_ERR_INVALID_ARG, "gguf writer: duplicate tensor name '%s'", name);
    if (w->n_t == w->cap_t) {
        int64_t cap = w->cap_t ? w->cap_t * 2 : 64;
        wtensor *t = kw_realloc(w->t, (size_t)cap * sizeof *t, "gguf writer tensors");
        if (!t)
            return kw_error(KW_ERR_NOMEM, "gguf writer: out of memory for %" PRId64 " tensors",
                            cap);
        w->t = t;
        w->cap_t = cap;
    }
    wtensor *t = &w->t[w->n_t];
    if (!(t->name = kw_strdup(name))) return KW_ERR_NOMEM;
    t->type = type;
    t->n_dims = n_dims;
    for (uint32_t d = 0; d < 4; d++)
        t->ne[d] = d < n_dims ? ne[d] : 1;
    t->n_bytes = n_bytes;
    t->rel_offset = w->data_size;
    t->data = data;
    w->data_size = padded_end;
    w->n_t++;
    return KW_OK;
}

/* ---------------------------------------------------------------- writing */

typedef struct sink {
    FILE *f;
    uint64_t pos;
    bool failed;
} sink;

static void out(sink *s, const void *p, size_t n) {
    if (s->failed || n == 0) return;
    if (fwrite(p, 1, n, s->f) != n) s->failed = true;
    s->pos += n;
}

static void out_zeros(sink *s, uint64_t n) {
    static const uint8_t zeros[256];
    while (n > 0 && !s->failed) {
        size_t k = n < sizeof zeros ? (size_t)n : sizeof zeros;
        out(s, zeros, k);
        n -= k;
    }
}

static void out_u32(sink *s, uint32_t v) { out(s, &v, 4); }
static void out_u64(sink *s, uint64_t v) { out(s, &v, 8); }
static void out_str(sink *s, const char *str) {
    uint64_t len = strlen(str);
    out_u64(s, len);
    out(s, str, (size_t)len);
}

static void write_all(gguf_writer *w, sink *s) {
    out(s, "GGUF", 4);
    out_u32(s, 3);
    out_u64(s, (uint64_t)w->n_t);
    out_u64(s, (uint64_t)w->n_kv);
    for (int64_t i = 0; i < w->n_kv; i++) {
        out_str(s, w->kv[i].key);
        out_u32(s, w->kv[i].type);
        out(s, w->kv[i].val, w->kv[i].val_len);
    }
    for (int64_t i = 0; i < w->n_t; i++) {
        const wtensor *t = &w->t[i];
        out_str(s, t->name);
        out_u32(s, t->n_dims);
        for (uint32_t d = 0; d < t->n_dims; d++)
            out_u64(s, (uint64_t)t->ne[d]);
        out_u32(s, t->type);
        out_u64(s, t->rel_offset);
    }
    out_zeros(s, pad_to(s->pos, w->alignment) - s->pos);
    for (int64_t i = 0; i < w->n_t; i++) {
        const wtensor *t = &w->t[i];
        out(s, t->data, (size_t)t->n_bytes);
        out_zeros(s, pad_to(t->n_bytes, w->alignment) - t->n_bytes);
    }
}

kw_status gguf_writer_write_guarded(gguf_writer *w, const char *path, const char *const *inputs,
                                    int32_t n_inputs) {
    if (!w || !path) return kw_error(KW_ERR_INVALID_ARG, "gguf_writer_write: NULL argument");
    kw_outfile *o = NULL;
    kw_status st = kw_outfile_open(path, inputs, n_inputs, &o);
    if (st != KW_OK) return st;
    sink s = {kw_outfile_stream(o), 0, false};
    write_all(w, &s);
    if (s.failed) {
        int err = errno ? errno : EIO;
        st = kw_error(KW_ERR_IO, "cannot write '%s' (%" PRIu64 " bytes written): %s", path, s.pos,
                      strerror(err));
        kw_outfile_abort(o);
        return st;
    }
    return kw_outfile_commit(o);
}

kw_status gguf_writer_write(gguf_writer *w, const char *path) {
    return gguf_writer_write_guarded(w, path, NULL, 0);
}
