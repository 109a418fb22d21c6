/* quantize.c - kw_quantize_file: read a GGUF model, convert its weights to the types the target
 * mix chooses, and write a standard GGUF file laid out as llama-quantize lays it out.
 *
 * Flow: open (mmap) the input -> plan every tensor (order, type, fallback, override, imatrix) ->
 * convert the weights row by row on a thread pool (each row: dequantize to float, quantize with
 * the reference quantizer, importance weights passed to the k-quants) -> write header + data
 * through the gguf writer (a kw_outfile: temporary file, then rename). Layout and metadata order
 * reproduce llama-quantize's files byte for byte (tests/data/models/README.md, "Reproducing the
 * quantized files").
 *
 * Relies on: gguf reader/writer, tensor/quants.h row quantizers, quant_mix.c, imatrix.c.
 * Must not: write to or over the input or the imatrix (same file by device and inode, checked by
 * kw_outfile_check); leave a partial output file on failure. Known limit: the whole output is held
 * in memory until written (a streaming writer would lift it).
 */
#include "quant/quant.h"
#include "tensor/quants.h"
#include "tensor/quants_i.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---------------------------------------------------------------- the plan */

typedef struct qtensor {
    const gguf_tensor *src;
    uint32_t type;        /* output type */
    bool convert;         /* false: the bytes are copied unchanged */
    const float *imatrix; /* importance weights (ne[0]) or NULL */
    uint8_t *data;        /* converted bytes (owned) or NULL when copied */
    uint64_t n_bytes;     /* output bytes */
    char note[200];       /* "" or why the type differs from the target's */
} qtensor;

typedef struct qjob {
    const kw_quantize_params *p;
    const kw_gguf *in;
    quant_model_facts facts;
    quant_override *ov;
    int32_t n_ov;
    quant_imatrix im;
    qtensor *t; /* in output order */
    int64_t n;
    kw_pool *pool;
    float *rowbuf; /* n_threads * max row length */
    int64_t max_ne0;
    uint64_t bytes_total, bytes_done;
} qjob;

kw_quantize_params kw_quantize_default_params(void) {
    kw_quantize_params p;
    memset(&p, 0, sizeof p);
    p.ftype = KW_FTYPE_Q8_0;
    return p;
}

/* Tensors outside blocks first (by name), then block 0, 1, ... each by name. */
static int tensor_order(const void *a, const void *b) {
    const gguf_tensor *x = ((const qtensor *)a)->src, *y = ((const qtensor *)b)->src;
    int32_t lx = quant_layer_of(x->name), ly = quant_layer_of(y->name);
    if (lx != ly) return lx < ly ? -1 : 1;
    return strcmp(x->name, y->name);
}

static int32_t arch_u32(const kw_gguf *g, const char *arch, const char *suffix, int32_t dflt) {
    char key[160];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    uint32_t v = (uint32_t)dflt;
    if (gguf_get_u32_opt(g, key, &v) != KW_OK || v > INT32_MAX) return dflt;
    return (int32_t)v;
}

static void read_facts(const kw_gguf *g, quant_model_facts *f) {
    char arch[64] = "llama";
    gguf_str s = {0};
    if (gguf_get_str_opt(g, "general.architecture", &s) == KW_OK && s.ptr && s.len < sizeof arch) {
        memcpy(arch, s.ptr, (size_t)s.len);
        arch[s.len] = 0;
    }
    f->n_layer = arch_u32(g, arch, "block_count", 0);
    int32_t n_head = arch_u32(g, arch, "attention.head_count", 1);
    int32_t n_head_kv = arch_u32(g, arch, "attention.head_count_kv", n_head);
    f->n_gqa = n_head_kv > 0 ? n_head / n_head_kv : 1;
    f->has_output = gguf_find_tensor(g, "output.weight") != NULL;
    kw_error_clear(); /* a missing or mistyped key above falls back to its default */
}

static bool is_float_type(uint32_t t) {
    return t == GGML_TYPE_F32 || t == GGML_TYPE_F16 || t == GGML_TYPE_BF16;
}

/* Chooses the output type of one weight: mix -> override -> fallback for the row length. */
static kw_status plan_weight(qjob *j, qtensor *q) {
    const gguf_tensor *t = q->src;
    const kw_quantize_params *p = j->p;
    uint32_t type = quant_mix_type(p->ftype, p->pure, t->name, &j->facts);
    const char *which = NULL;
    int32_t ov = quant_overrides_match(j->ov, j->n_ov, t->name, &which);
    if (ov >= 0) {
        type = (uint32_t)ov;
        snprintf(q->note, sizeof q->note, "override '%s'", which);
    }
    const uint32_t bs = ggml_type_get(type)->block_size;
    if (t->ne[0] % bs != 0) {
        /* the 256-value i-quants fall back to IQ4_NL as llama.cpp does, the rest to Q8_0 */
        const uint32_t fb32 = quant_iquant_can_quantize(type) ? GGML_TYPE_IQ4_NL : GGML_TYPE_Q8_0;
        uint32_t fb = t->ne[0] % 32 == 0 ? fb32 : GGML_TYPE_F16;
        if (p->refuse_fallback)
            return kw_error(KW_ERR_UNSUPPORTED,
                            "tensor '%s': row length %" PRId64
                            " is not a multiple of the %s block size %u "
                            "(fallbacks refused)",
                            t->name, t->ne[0], ggml_type_get(type)->name, bs);
        snprintf(q->note, sizeof q->note,
                 "row length %" PRId64 " is not a multiple of %u: %s instead of %s", t->ne[0], bs,
                 ggml_type_get(fb)->name, ggml_type_get(type)->name);
        type = fb;
    }
    q->type = type;
    q->convert = type != t->type;
    if (!q->convert) return KW_OK;
    if (!quant_type_can_compute(t->type))
        return kw_error(KW_ERR_UNSUPPORTED, "tensor '%s': cannot convert from input type %s",
                        t->name, ggml_type_get(t->type)->name);
    if (!is_float_type(t->type) && !p->allow_requantize)
        return kw_error(KW_ERR_INVALID_ARG,
                        "tensor '%s' is already quantized (%s); requantizing to %s loses quality: "
                        "quantize from the F16/F32 model, or allow it with --allow-requantize "
                        "(kw_quantize_params.allow_requantize)",
                        t->name, ggml_type_get(t->type)->name, ggml_type_get(type)->name);
    if ((type >= GGML_TYPE_Q2_K && type <= GGML_TYPE_Q6_K) || quant_iquant_can_quantize(type)) {
        kw_status st = quant_imatrix_find(&j->im, t->name, t->ne[0], &q->imatrix);
        if (st != KW_OK) return st;
    }
    /* llama.cpp refuses these types without importance weights, except for the token table and
     * the output (which the mixes never give them anyway) */
    if (quant_iquant_needs_imatrix(type) && !q->imatrix && strcmp(t->name, "output.weight") != 0 &&
        strcmp(t->name, "token_embd.weight") != 0) {
        if (!p->imatrix_path)
            return kw_error(KW_ERR_INVALID_ARG,
                            "tensor '%s' gets %s, which needs an importance matrix: add "
                            "--imatrix FILE (kw_quantize_params.imatrix_path; make FILE with "
                            "'kaiwu imatrix -m MODEL -f TEXT -o FILE')",
                            t->name, ggml_type_get(type)->name);
        return kw_error(KW_ERR_INVALID_ARG,
                        "tensor '%s' gets %s, which needs an importance matrix, but '%s' has no "
                        "entry for it (was it made from this model?)",
                        t->name, ggml_type_get(type)->name, p->imatrix_path);
    }
    return quant_iquant_prepare(type);
}

static kw_status plan(qjob *j) {
    const kw_gguf *g = j->in;
    /* j->n only once j->t exists: the caller frees j->t[0..n) on every path */
    j->t = kw_calloc((size_t)(g->n_tensors ? g->n_tensors : 1), sizeof *j->t, "quantize plan");
    if (!j->t) return KW_ERR_NOMEM;
    j->n = g->n_tensors;
    for (int64_t i = 0; i < j->n; i++)
        j->t[i].src = &g->tensors[i];
    qsort(j->t, (size_t)j->n, sizeof *j->t, tensor_order);
    for (int64_t i = 0; i < j->n; i++) {
        qtensor *q = &j->t[i];
        q->type = q->src->type;
        if (quant_tensor_is_weight(q->src)) {
            kw_status st = plan_weight(j, q);
            if (st != KW_OK) return st;
        }
        uint64_t rows =
            q->src->ne[0] ? q->src->n_bytes / ggml_row_bytes(q->src->type, q->src->ne[0]) : 0;
        q->n_bytes = ggml_row_bytes(q->type, q->src->ne[0]) * rows;
        j->bytes_total += q->src->n_bytes;
        if (q->convert && q->src->ne[0] > j->max_ne0) j->max_ne0 = q->src->ne[0];
    }
    return KW_OK;
}

/* ---------------------------------------------------------------- converting */

typedef struct slab_task {
    qjob *j;
    qtensor *q;
    int64_t row0, n_rows;
} slab_task;

static void convert_rows(void *arg, int ith, int nth) {
    slab_task *s = arg;
    const qtensor *q = s->q;
    const int64_t ne0 = q->src->ne[0];
    const uint64_t in_row = ggml_row_bytes(q->src->type, ne0),
                   out_row = ggml_row_bytes(q->type, ne0);
    float *buf = s->j->rowbuf + (int64_t)ith * s->j->max_ne0;
    int64_t b, e;
    kw_split_range(s->n_rows, ith, nth, &b, &e);
    for (int64_t r = s->row0 + b; r < s->row0 + e; r++) {
        quant_dequantize_row(q->src->type, (const uint8_t *)q->src->data + (uint64_t)r * in_row,
                             buf, ne0);
        quant_quantize_row(q->type, buf, q->data + (uint64_t)r * out_row, ne0, q->imatrix);
    }
}

static void progress(qjob *j, uint64_t add) {
    j->bytes_done += add;
    if (j->p->progress) j->p->progress(j->p->user, j->bytes_done, j->bytes_total);
}

/* Converts one tensor in slabs of about 4 MiB of input, reporting progress after each. */
static kw_status convert_tensor(qjob *j, qtensor *q) {
    if (!(q->data = kw_malloc(q->n_bytes ? (size_t)q->n_bytes : 1, q->src->name)))
        return KW_ERR_NOMEM;
    const uint64_t in_row = ggml_row_bytes(q->src->type, q->src->ne[0]);
    const int64_t rows = (int64_t)(q->src->n_bytes / in_row);
    int64_t per = (int64_t)((4u << 20) / in_row);
    if (per < 1) per = 1;
    for (int64_t r = 0; r < rows; r += per) {
        slab_task s = {j, q, r, rows - r < per ? rows - r : per};
        kw_pool_run(j->pool, convert_rows, &s);
        progress(j, (uint64_t)s.n_rows * in_row);
    }
    return KW_OK;
}

static void report(const qjob *j, const qtensor *q, int64_t i) {
    if (!j->p->on_tensor) return;
    const gguf_tensor *t = q->src;
    kw_quantize_tensor_report r = {
        .name = t->name,
        .index = (int32_t)i,
        .n_tensors = (int32_t)j->n,
        .from_type = ggml_type_get(t->type)->name,
        .to_type = ggml_type_get(q->type)->name,
        .to_type_id = (int32_t)q->type,
        .n_dims = (int32_t)t->n_dims,
        .ne = {t->ne[0], t->ne[1], t->ne[2], t->ne[3]},
        .bytes_in = t->n_bytes,
        .bytes_out = q->n_bytes,
        .used_imatrix = q->imatrix != NULL,
        .note = q->note[0] ? q->note : NULL,
    };
    j->p->on_tensor(j->p->user, &r);
}

static kw_status convert_all(qjob *j) {
    int n_threads = j->p->n_threads > 0 ? j->p->n_threads : kw_cpu_get()->n_cores;
    if (n_threads > KW_MAX_THREADS) n_threads = KW_MAX_THREADS;
    kw_status st = kw_pool_create(n_threads, &j->pool);
    if (st != KW_OK) return st;
    if (j->max_ne0 > 0) {
        uint64_t n;
        if (kw_mul_overflows((uint64_t)n_threads * sizeof(float), (uint64_t)j->max_ne0, &n) ||
            n > SIZE_MAX)
            return kw_error(KW_ERR_NOMEM, "quantize: row buffers of %" PRId64 " floats overflow",
                            j->max_ne0);
        if (!(j->rowbuf = kw_malloc((size_t)n, "quantize row buffers"))) return KW_ERR_NOMEM;
    }
    for (int64_t i = 0; i < j->n; i++) {
        qtensor *q = &j->t[i];
        if (q->convert) {
            if ((st = convert_tensor(j, q)) != KW_OK) return st;
        } else {
            progress(j, q->src->n_bytes);
        }
        report(j, q, i);
    }
    return KW_OK;
}

/* ---------------------------------------------------------------- writing */

static kw_status write_output(qjob *j, const char *in_path, const char *out_path) {
    gguf_writer *w;
    kw_status st = gguf_writer_create(&w);
    if (st != KW_OK) return st;
    const kw_gguf *g = j->in;
    for (int64_t i = 0; i < g->n_kv && st == KW_OK; i++) {
        const char *k = g->kv[i].key;
        if (strcmp(k, "general.quantization_version") == 0 || strcmp(k, "general.file_type") == 0)
            continue;
        st = gguf_writer_copy_kv(w, g, i);
    }
    if (st == KW_OK) st = gguf_writer_add_u32(w, "general.quantization_version", 2);
    if (st == KW_OK) st = gguf_writer_add_u32(w, "general.file_type", (uint32_t)j->p->ftype);
    for (int64_t i = 0; i < j->n && st == KW_OK; i++) {
        const qtensor *q = &j->t[i];
        st = gguf_writer_add_tensor(w, q->src->name, q->type, q->src->n_dims, q->src->ne,
                                    q->convert ? (const void *)q->data : q->src->data);
    }
    const char *inputs[] = {in_path, j->p->imatrix_path};
    if (st == KW_OK) st = gguf_writer_write_guarded(w, out_path, inputs, 2);
    gguf_writer_free(w);
    return st;
}

/* ---------------------------------------------------------------- entry point */

/* Refuses an output that is the input or the importance matrix (kw_outfile_check). */
static kw_status check_paths(const char *in_path, const char *out_path, const char *imatrix) {
    struct stat in;
    if (stat(in_path, &in) != 0)
        return kw_error(KW_ERR_IO, "cannot open '%s': no such file", in_path);
    const char *inputs[] = {in_path, imatrix};
    return kw_outfile_check(out_path, inputs, 2);
}

kw_status kw_quantize_file(const char *in_path, const char *out_path, const kw_quantize_params *p) {
    kw_error_clear();
    if (!in_path || !out_path || !p)
        return kw_error(KW_ERR_INVALID_ARG, "kw_quantize_file: NULL argument");
    if (kw_ftype_base_type(p->ftype) < 0)
        return kw_error(KW_ERR_INVALID_ARG, "kw_quantize_file: unknown target %d", (int)p->ftype);
    if (p->n_threads < 0 || p->n_threads > KW_MAX_THREADS)
        return kw_error(KW_ERR_INVALID_ARG, "kw_quantize_file: %d threads (must be 0..%d)",
                        p->n_threads, KW_MAX_THREADS);
    kw_status st = check_paths(in_path, out_path, p->imatrix_path);
    if (st != KW_OK) return st;
    qjob j = {.p = p};
    kw_gguf *in = NULL;
    if ((st = kw_gguf_open(in_path, &in)) != KW_OK) return st;
    j.in = in;
    read_facts(in, &j.facts);
    j.facts.has_imatrix = p->imatrix_path != NULL;
    st = quant_overrides_parse(p->overrides, p->n_overrides, &j.ov);
    if (st == KW_OK) j.n_ov = p->n_overrides;
    if (st == KW_OK && p->imatrix_path) st = quant_imatrix_load(p->imatrix_path, &j.im);
    if (st == KW_OK) st = plan(&j);
    if (st == KW_OK) st = convert_all(&j);
    if (st == KW_OK) st = write_output(&j, in_path, out_path);
    if (st != KW_OK) kw_error_wrap(st, "quantizing '%s'", in_path);
    for (int64_t i = 0; i < j.n; i++)
        free(j.t[i].data);
    free(j.t);
    free(j.rowbuf);
    kw_pool_free(j.pool);
    quant_imatrix_free(&j.im);
    quant_overrides_free(j.ov, j.n_ov);
    kw_gguf_close(in);
    return st;
}
