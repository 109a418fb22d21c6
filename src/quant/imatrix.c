/* imatrix.c - the importance matrix: collecting it during evaluation (kw_imatrix_observe, a
 * kw_matmul_observer), saving it as GGUF, and loading it for the quantizer.
 *
 * For every weight matrix W (n_out x n_in) the forward pass multiplies, the collector adds, per
 * input column c, the sum over tokens of x[c]^2, and counts the tokens. The quantizer weights the
 * squared error of column c by mean(x[c]^2) = sum / count: the columns that see large activations
 * matter more to the matmul's output (the importance-matrix method of llama.cpp's imatrix tool).
 *
 * File (GGUF v3, documented in docs/quantization.md):
 *   general.type = "imatrix", imatrix.chunk_count (u32), imatrix.chunk_size (u32),
 *   imatrix.datasets (array[string]); per weight W two tensors:
 *   "<W>.in_sum2" F32 [n_in, 1] sums of x^2, "<W>.counts" F32 [1, 1] tokens seen.
 * This is the layout of llama.cpp's GGUF imatrix files for dense weights.
 *
 * Relies on: gguf reader/writer. Must not: fail inside the observer (it cannot return an
 * error): an allocation failure is remembered and reported by kw_imatrix_save.
 */
#include "quant/quant.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct im_entry {
    char *name;    /* weight name, owned */
    int64_t n_in;  /* columns */
    double *sum2;  /* n_in sums of x^2 (double: millions of tokens are added) */
    int64_t count; /* tokens seen */
} im_entry;

struct kw_imatrix {
    im_entry *e;
    int32_t n, cap;
    int32_t n_chunks;
    int32_t last;  /* index of the last entry hit (the forward pass asks in a fixed order) */
    bool failed;   /* an allocation failed in the observer */
    char bad[200]; /* "" or the first inconsistency (column count change) */
};

kw_status kw_imatrix_create(kw_imatrix **out) {
    kw_error_clear();
    if (!out) return kw_error(KW_ERR_INVALID_ARG, "kw_imatrix_create: NULL argument");
    kw_imatrix *im = kw_calloc(1, sizeof *im, "importance matrix");
    if (!im) return KW_ERR_NOMEM;
    *out = im;
    return KW_OK;
}

void kw_imatrix_free(kw_imatrix *im) {
    if (!im) return;
    for (int32_t i = 0; i < im->n; i++) {
        free(im->e[i].name);
        free(im->e[i].sum2);
    }
    free(im->e);
    free(im);
}

static im_entry *entry(kw_imatrix *im, const char *name, int64_t n_in) {
    for (int32_t k = 0; k < im->n; k++) {
        int32_t i = (im->last + 1 + k) % im->n; /* usually the next one */
        if (strcmp(im->e[i].name, name) == 0) return im->last = i, &im->e[i];
    }
    if (im->n == im->cap) {
        int32_t cap = im->cap ? im->cap * 2 : 64;
        im_entry *e = kw_realloc(im->e, (size_t)cap * sizeof *e, "imatrix entries");
        if (!e) return NULL;
        im->e = e;
        im->cap = cap;
    }
    im_entry *e = &im->e[im->n];
    e->name = kw_strdup(name);
    e->sum2 = kw_calloc((size_t)n_in, sizeof *e->sum2, "importance matrix sums");
    if (!e->name || !e->sum2) {
        free(e->name);
        free(e->sum2);
        return NULL;
    }
    e->n_in = n_in;
    e->count = 0;
    im->last = im->n++;
    return e;
}

void kw_imatrix_observe(void *user, const char *weight_name, const float *x, int64_t n_in,
                        int64_t n_tok) {
    kw_imatrix *im = user;
    if (!im || !weight_name || !x || n_in <= 0 || n_tok <= 0 || im->failed) return;
    im_entry *e = entry(im, weight_name, n_in);
    if (!e) {
        im->failed = true;
        return;
    }
    if (e->n_in != n_in) {
        if (!im->bad[0])
            snprintf(im->bad, sizeof im->bad,
                     "weight '%s' was seen with %" PRId64 " and %" PRId64 " columns", weight_name,
                     e->n_in, n_in);
        return;
    }
    for (int64_t t = 0; t < n_tok; t++) {
        const float *row = x + t * n_in;
        for (int64_t c = 0; c < n_in; c++)
            e->sum2[c] += (double)row[c] * row[c];
    }
    e->count += n_tok;
}

void kw_imatrix_end_chunk(kw_imatrix *im) {
    if (im) im->n_chunks++;
}

int32_t kw_imatrix_n_entries(const kw_imatrix *im) { return im ? im->n : 0; }

/* ---------------------------------------------------------------- saving */

static kw_status add_entry(gguf_writer *w, const im_entry *e, float *sums, float *count) {
    char name[300];
    for (int64_t c = 0; c < e->n_in; c++)
        sums[c] = (float)e->sum2[c];
    *count = (float)e->count;
    int64_t ne_s[2] = {e->n_in, 1}, ne_c[2] = {1, 1};
    if (snprintf(name, sizeof name, "%s.in_sum2", e->name) >= 240)
        return kw_error(KW_ERR_INVALID_ARG, "imatrix: weight name '%s' is too long", e->name);
    kw_status st = gguf_writer_add_tensor(w, name, GGML_TYPE_F32, 2, ne_s, sums);
    snprintf(name, sizeof name, "%s.counts", e->name);
    if (st == KW_OK) st = gguf_writer_add_tensor(w, name, GGML_TYPE_F32, 2, ne_c, count);
    return st;
}

kw_status kw_imatrix_save(const kw_imatrix *im, const char *path, const char *dataset,
                          int32_t chunk_size) {
    kw_error_clear();
    if (!im || !path) return kw_error(KW_ERR_INVALID_ARG, "kw_imatrix_save: NULL argument");
    if (im->failed)
        return kw_error(KW_ERR_NOMEM, "imatrix: out of memory while collecting statistics");
    if (im->bad[0]) return kw_error(KW_ERR_FORMAT, "imatrix: %s", im->bad);
    if (im->n == 0) return kw_error(KW_ERR_INVALID_ARG, "imatrix: no weight matrix was observed");
    /* the writer borrows tensor data until written: one float buffer holds every entry */
    int64_t n_floats = 0;
    for (int32_t i = 0; i < im->n; i++)
        n_floats += im->e[i].n_in + 1;
    float *buf = kw_malloc((size_t)n_floats * sizeof(float), "imatrix output");
    gguf_writer *w = NULL;
    kw_status st = buf ? gguf_writer_create(&w) : KW_ERR_NOMEM;
    const char *ds = dataset ? dataset : "";
    if (st == KW_OK) st = gguf_writer_add_str(w, "general.type", "imatrix");
    if (st == KW_OK) st = gguf_writer_add_arr_str(w, "imatrix.datasets", &ds, 1);
    if (st == KW_OK) st = gguf_writer_add_u32(w, "imatrix.chunk_count", (uint32_t)im->n_chunks);
    if (st == KW_OK)
        st = gguf_writer_add_u32(w, "imatrix.chunk_size",
                                 (uint32_t)(chunk_size > 0 ? chunk_size : 0));
    float *p = buf;
    for (int32_t i = 0; i < im->n && st == KW_OK; i++) {
        st = add_entry(w, &im->e[i], p, p + im->e[i].n_in);
        p += im->e[i].n_in + 1;
    }
    if (st == KW_OK) st = gguf_writer_write(w, path);
    gguf_writer_free(w);
    free(buf);
    return st;
}

/* ---------------------------------------------------------------- loading */

static bool suffix_of(const char *name, const char *suffix, size_t *stem_len) {
    size_t n = strlen(name), m = strlen(suffix);
    if (n <= m || strcmp(name + n - m, suffix) != 0) return false;
    *stem_len = n - m;
    return true;
}

/* One "<W>.in_sum2" tensor and its "<W>.counts" partner into an entry of means. */
static kw_status load_entry(const kw_gguf *g, const gguf_tensor *t, size_t stem,
                            quant_imatrix_entry *e) {
    char cname[300];
    if (stem > 250)
        return kw_error(KW_ERR_FORMAT, "imatrix: tensor name '%s' is too long", t->name);
    snprintf(cname, sizeof cname, "%.*s.counts", (int)stem, t->name);
    const gguf_tensor *c = gguf_find_tensor(g, cname);
    if (t->type != GGML_TYPE_F32 || t->ne[2] * t->ne[3] != 1 || t->ne[1] != 1)
        return kw_error(KW_ERR_FORMAT, "imatrix: tensor '%s' must be F32 [n_in] or [n_in, 1]",
                        t->name);
    if (!c || c->type != GGML_TYPE_F32 || c->n_bytes != 4)
        return kw_error(KW_ERR_FORMAT, "imatrix: tensor '%s' has no F32 [1] partner '%s'", t->name,
                        cname);
    float count;
    memcpy(&count, c->data, 4);
    if (!(count > 0) || !isfinite(count))
        return kw_error(KW_ERR_FORMAT, "imatrix: '%s' = %g tokens (must be > 0)", cname,
                        (double)count);
    e->n_in = t->ne[0];
    e->name = kw_strndup(t->name, stem);
    e->weights = kw_malloc((size_t)e->n_in * sizeof(float), "imatrix weights");
    if (!e->name || !e->weights) return KW_ERR_NOMEM;
    const float *s = t->data;
    for (int64_t i = 0; i < e->n_in; i++) {
        float v;
        memcpy(&v, s + i, 4); /* the mapping is aligned, but copy to stay independent of it */
        if (!(v >= 0) || !isfinite(v))
            return kw_error(KW_ERR_FORMAT,
                            "imatrix: '%s'[%" PRId64 "] = %g (must be a finite sum >= 0)", t->name,
                            i, (double)v);
        e->weights[i] = v / count;
        if (!isfinite(
                e->weights[i])) /* a tiny count can overflow a finite sum (found by fuzzing) */
            return kw_error(KW_ERR_FORMAT,
                            "imatrix: '%s'[%" PRId64 "] = %g over %g tokens is not a finite mean",
                            t->name, i, (double)v, (double)count);
    }
    return KW_OK;
}

kw_status quant_imatrix_load(const char *path, quant_imatrix *out) {
    kw_gguf *g;
    kw_status st = kw_gguf_open(path, &g);
    if (st != KW_OK) return kw_error_wrap(st, "loading imatrix");
    quant_imatrix im = {0};
    im.e = kw_calloc((size_t)(g->n_tensors ? g->n_tensors : 1), sizeof *im.e, "imatrix entries");
    if (!im.e) st = KW_ERR_NOMEM;
    for (int64_t i = 0; i < g->n_tensors && st == KW_OK; i++) {
        size_t stem;
        if (!suffix_of(g->tensors[i].name, ".in_sum2", &stem)) continue;
        st = load_entry(g, &g->tensors[i], stem, &im.e[im.n++]);
    }
    if (st == KW_OK && im.n == 0)
        st = kw_error(KW_ERR_FORMAT, "imatrix '%s' holds no '<weight>.in_sum2' tensor", path);
    kw_gguf_close(g);
    if (st != KW_OK) {
        quant_imatrix_free(&im);
        return kw_error_wrap(st, "imatrix '%s'", path);
    }
    *out = im;
    return KW_OK;
}

void quant_imatrix_free(quant_imatrix *im) {
    if (!im) return;
    for (int32_t i = 0; i < im->n; i++) {
        free(im->e[i].name);
        free(im->e[i].weights);
    }
    free(im->e);
    im->e = NULL;
    im->n = 0;
}

kw_status quant_imatrix_find(const quant_imatrix *im, const char *name, int64_t n_in,
                             const float **out) {
    *out = NULL;
    for (int32_t i = 0; i < im->n; i++) {
        if (strcmp(im->e[i].name, name) != 0) continue;
        if (im->e[i].n_in != n_in)
            return kw_error(KW_ERR_FORMAT,
                            "imatrix entry '%s' has %" PRId64 " columns, the tensor %" PRId64, name,
                            im->e[i].n_in, n_in);
        *out = im->e[i].weights;
        return KW_OK;
    }
    return KW_OK;
}
