/* gen_bad_gguf.c - writes the bad-input corpus: one malformed GGUF file per defect, plus
 * expected.tsv (defect, message fragment kaiwu must print, file offset or "-").
 *
 *   build/tests/bad-input/gen_bad_gguf tests/bad-input/corpus
 *
 * Everything starts from valid-base.gguf, a tiny synthetic llama (1 layer, n_embd 32, n_ff 256,
 * 32-token SPM vocabulary, F16 weights, F32 norms; about 60 KB) written with kaiwu's GGUF writer.
 * File-level defects are byte edits, truncations or re-assemblies of the base (header, kvs, tensor
 * infos, data) with one thing changed; model-level defects (missing keys, wrong types, missing or
 * misshapen tensors, an unsupported weight type) are written by the writer from a changed spec.
 * The output is deterministic: tests/bad-input/run.sh regenerates it and compares byte for byte.
 *
 * Relies on the gguf writer and reader (to find offsets in the base). Must not: use randomness
 * that is not seeded, or write anywhere but OUTDIR.
 */
#include "gguf/gguf.h"
#include "test.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *out_dir;
static FILE *tsv;
static int n_files, n_errors;

/* ---------------------------------------------------------------- byte buffers */

static test_bytes b_copy(const uint8_t *p, size_t n) {
    test_bytes b = {0};
    tb_put(&b, p, n);
    return b;
}
static void set_u32(test_bytes *b, uint64_t off, uint32_t v) { memcpy(b->p + off, &v, 4); }
static void set_u64(test_bytes *b, uint64_t off, uint64_t v) { memcpy(b->p + off, &v, 8); }

/* ---------------------------------------------------------------- output */

static void path_of(char *out, size_t cap, const char *name) {
    snprintf(out, cap, "%s/%s.gguf", out_dir, name);
}

static void expect(const char *name, const char *fragment, int64_t offset) {
    if (offset >= 0)
        fprintf(tsv, "%s\t%s\t%" PRId64 "\n", name, fragment, offset);
    else
        fprintf(tsv, "%s\t%s\t-\n", name, fragment);
    n_files++;
}

static void emit(const char *name, const void *p, size_t n, const char *fragment, int64_t offset) {
    char path[1024];
    path_of(path, sizeof path, name);
    FILE *f = fopen(path, "wb");
    if (!f || (n && fwrite(p, 1, n, f) != n) || fclose(f) != 0) {
        fprintf(stderr, "gen_bad_gguf: cannot write %s\n", path);
        n_errors++;
        return;
    }
    expect(name, fragment, offset);
}

static void emit_buf(const char *name, test_bytes *b, const char *fragment, int64_t offset) {
    emit(name, b->p, b->n, fragment, offset);
    free(b->p);
}

/* ---------------------------------------------------------------- the synthetic model */

enum { N_EMBD = 32, N_FF = 256, N_VOCAB = 32, N_HEAD = 2 };

typedef struct spec {
    const char *arch;          /* general.architecture and the key prefix */
    bool no_arch;              /* drop general.architecture */
    bool no_block_count;       /* drop <arch>.block_count */
    bool block_count_as_str;   /* <arch>.block_count as a string */
    bool no_tokens;            /* drop tokenizer.ggml.tokens */
    uint32_t head_count;       /* <arch>.attention.head_count */
    const char *drop_tensor;   /* a tensor left out */
    const char *narrow_tensor; /* a tensor written with half its rows */
    const char *iq_tensor;     /* a tensor written as Q8_K (an activation format) */
} spec;

static const spec base_spec = {.arch = "llama", .head_count = N_HEAD};

/* Deterministic weights: a 32-bit LCG mapped to [-0.05, 0.05), stored as F16. */
static uint32_t lcg_state;
static uint16_t next_weight(void) {
    lcg_state = lcg_state * 1664525u + 1013904223u;
    float v = ((float)(lcg_state >> 8) / 16777216.0f - 0.5f) * 0.1f;
    return kw_f32_to_f16(v);
}

typedef struct tensor_plan {
    const char *name;
    int64_t ne0, ne1; /* ne1 = 0: 1-D F32 norm */
} tensor_plan;

static const tensor_plan plan[] = {
    {"token_embd.weight", N_EMBD, N_VOCAB},  {"blk.0.attn_norm.weight", N_EMBD, 0},
    {"blk.0.attn_q.weight", N_EMBD, N_EMBD}, {"blk.0.attn_k.weight", N_EMBD, N_EMBD},
    {"blk.0.attn_v.weight", N_EMBD, N_EMBD}, {"blk.0.attn_output.weight", N_EMBD, N_EMBD},
    {"blk.0.ffn_norm.weight", N_EMBD, 0},    {"blk.0.ffn_gate.weight", N_EMBD, N_FF},
    {"blk.0.ffn_up.weight", N_EMBD, N_FF},   {"blk.0.ffn_down.weight", N_FF, N_EMBD},
    {"output_norm.weight", N_EMBD, 0},       {"output.weight", N_EMBD, N_VOCAB},
};
#define N_PLAN (sizeof plan / sizeof plan[0])

static void add_key(gguf_writer *w, const spec *s, const char *suffix, uint32_t v) {
    char key[128];
    snprintf(key, sizeof key, "%s.%s", s->arch, suffix);
    gguf_writer_add_u32(w, key, v);
}

static void add_metadata(gguf_writer *w, const spec *s) {
    char key[128];
    if (!s->no_arch) gguf_writer_add_str(w, "general.architecture", s->arch);
    gguf_writer_add_str(w, "general.name", "kaiwu bad-input base");
    add_key(w, s, "context_length", 64);
    add_key(w, s, "embedding_length", N_EMBD);
    snprintf(key, sizeof key, "%s.block_count", s->arch);
    if (s->block_count_as_str)
        gguf_writer_add_str(w, key, "1");
    else if (!s->no_block_count)
        gguf_writer_add_u32(w, key, 1);
    add_key(w, s, "feed_forward_length", N_FF);
    add_key(w, s, "attention.head_count", s->head_count);
    add_key(w, s, "attention.head_count_kv", N_HEAD);
    snprintf(key, sizeof key, "%s.rope.freq_base", s->arch);
    gguf_writer_add_f32(w, key, 10000.0f);
    snprintf(key, sizeof key, "%s.attention.layer_norm_rms_epsilon", s->arch);
    gguf_writer_add_f32(w, key, 1e-5f);
    add_key(w, s, "rope.dimension_count", N_EMBD / N_HEAD);
    add_key(w, s, "vocab_size", N_VOCAB);

    /* SPM vocabulary: 3 specials, "▁", a..z, "▁hi", "hi" */
    static char letters[26][2];
    const char *tokens[N_VOCAB];
    float scores[N_VOCAB];
    int32_t types[N_VOCAB];
    int n = 0;
    tokens[n++] = "<unk>", tokens[n++] = "<s>", tokens[n++] = "</s>", tokens[n++] = "\xe2\x96\x81";
    for (int i = 0; i < 26; i++) {
        letters[i][0] = (char)('a' + i);
        tokens[n++] = letters[i];
    }
    tokens[n++] = "\xe2\x96\x81hi", tokens[n++] = "hi";
    for (int i = 0; i < N_VOCAB; i++) {
        scores[i] = i < 3 ? 0.0f : -(float)i;
        types[i] = i == 0 ? 2 : i < 3 ? 3 : 1;
    }
    gguf_writer_add_str(w, "tokenizer.ggml.model", "llama");
    gguf_writer_add_str(w, "tokenizer.ggml.pre", "default");
    if (!s->no_tokens) gguf_writer_add_arr_str(w, "tokenizer.ggml.tokens", tokens, N_VOCAB);
    gguf_writer_add_arr(w, "tokenizer.ggml.scores", GGUF_VT_F32, scores, N_VOCAB);
    gguf_writer_add_arr(w, "tokenizer.ggml.token_type", GGUF_VT_I32, types, N_VOCAB);
    gguf_writer_add_u32(w, "tokenizer.ggml.bos_token_id", 1);
    gguf_writer_add_u32(w, "tokenizer.ggml.eos_token_id", 2);
    gguf_writer_add_u32(w, "tokenizer.ggml.unknown_token_id", 0);
    gguf_writer_add_bool(w, "tokenizer.ggml.add_bos_token", true);
    gguf_writer_add_bool(w, "tokenizer.ggml.add_eos_token", false);
    gguf_writer_add_u32(w, "general.file_type", 1);
}

/* Writes the model described by s to OUTDIR/name.gguf. */
static bool write_model(const spec *s, const char *name) {
    gguf_writer *w;
    if (gguf_writer_create(&w) != KW_OK) return false;
    add_metadata(w, s);
    void *data[N_PLAN] = {0};
    lcg_state = 20240601u;
    kw_status st = KW_OK;
    for (size_t i = 0; i < N_PLAN && !st; i++) {
        const tensor_plan *t = &plan[i];
        if (s->drop_tensor && strcmp(s->drop_tensor, t->name) == 0) continue;
        int64_t ne[2] = {t->ne0, t->ne1};
        if (t->ne1 == 0) {
            float *f = malloc((size_t)t->ne0 * sizeof *f);
            for (int64_t j = 0; j < t->ne0; j++)
                f[j] = 1.0f;
            data[i] = f;
            st = gguf_writer_add_tensor(w, t->name, GGML_TYPE_F32, 1, ne, f);
            continue;
        }
        if (s->narrow_tensor && strcmp(s->narrow_tensor, t->name) == 0) ne[1] /= 2;
        if (s->iq_tensor && strcmp(s->iq_tensor, t->name) == 0) {
            /* Q8_K: 292 bytes per 256 values; the contents never matter, kaiwu must refuse the
             * type (ggml's activation format, never a weight type) */
            size_t bytes = (size_t)(ne[0] / 256 * 292 * ne[1]);
            data[i] = calloc(bytes, 1);
            st = gguf_writer_add_tensor(w, t->name, GGML_TYPE_Q8_K, 2, ne, data[i]);
            continue;
        }
        uint16_t *h = malloc((size_t)(ne[0] * ne[1]) * sizeof *h);
        for (int64_t j = 0; j < ne[0] * ne[1]; j++)
            h[j] = next_weight();
        data[i] = h;
        st = gguf_writer_add_tensor(w, t->name, GGML_TYPE_F16, 2, ne, h);
    }
    char path[1024];
    path_of(path, sizeof path, name);
    if (!st) st = gguf_writer_write(w, path);
    if (st) fprintf(stderr, "gen_bad_gguf: %s: %s\n", name, kw_last_error());
    for (size_t i = 0; i < N_PLAN; i++)
        free(data[i]);
    gguf_writer_free(w);
    return st == KW_OK;
}

static void model_defect(const spec *s, const char *name, const char *fragment) {
    if (write_model(s, name))
        expect(name, fragment, -1);
    else
        n_errors++;
}

/* ---------------------------------------------------------------- the base, taken apart */

typedef struct base {
    uint8_t *p;
    size_t n;
    kw_gguf *g;
    uint64_t kv_end;    /* first byte after the metadata = first tensor info */
    uint64_t infos_end; /* first byte after the tensor infos */
} base;

static uint64_t kv_value_at(const base *b, const char *key) {
    int64_t i = gguf_find_key(b->g, key);
    if (i < 0) {
        fprintf(stderr, "gen_bad_gguf: base lacks key %s\n", key);
        exit(1);
    }
    return b->g->kv[i].offset;
}

/* File offset of the key string (its u64 length) of the entry whose value is at value_off. */
static uint64_t kv_key_at(const base *b, const char *key) {
    return kv_value_at(b, key) - 4 - 8 - strlen(key);
}

static const gguf_tensor *tensor_of(const base *b, const char *name) {
    const gguf_tensor *t = gguf_find_tensor(b->g, name);
    if (!t) {
        fprintf(stderr, "gen_bad_gguf: base lacks tensor %s\n", name);
        exit(1);
    }
    return t;
}

/* Offsets inside a tensor info record. */
static uint64_t ti_ndims_at(const gguf_tensor *t) { return t->info_offset + 8 + strlen(t->name); }
static uint64_t ti_ne_at(const gguf_tensor *t, int d) {
    return ti_ndims_at(t) + 4 + 8 * (uint64_t)d;
}
static uint64_t ti_type_at(const gguf_tensor *t) { return ti_ne_at(t, (int)t->n_dims); }
static uint64_t ti_offset_at(const gguf_tensor *t) { return ti_type_at(t) + 4; }

/* Rebuilds the base with extra raw kv entries appended after its own (data re-padded). */
static test_bytes assemble(const base *b, const test_bytes *extra, uint64_t n_extra) {
    test_bytes o = {0};
    tb_put(&o, b->p, 8);
    tb_u64(&o, (uint64_t)b->g->n_tensors);
    tb_u64(&o, (uint64_t)b->g->n_kv + n_extra);
    tb_put(&o, b->p + 24, b->kv_end - 24);
    if (extra) tb_put(&o, extra->p, extra->n);
    tb_put(&o, b->p + b->kv_end, b->infos_end - b->kv_end);
    static const uint8_t zero[32];
    tb_put(&o, zero, (32 - o.n % 32) % 32);
    tb_put(&o, b->p + b->g->data_offset, b->n - b->g->data_offset);
    return o;
}

static void extra_kv(const base *b, const char *name, test_bytes *kv, const char *fragment,
                     int64_t offset) {
    test_bytes o = assemble(b, kv, 1);
    emit_buf(name, &o, fragment, offset);
    free(kv->p);
}

/* ---------------------------------------------------------------- file-level defects */

/* The first cut bytes of the base with the header counts set to n_kv / n_tensors, so that the
 * reader's up-front count checks pass and the cut is found inside the section it falls in. */
static void trunc_counts(const base *b, const char *name, uint64_t cut, uint64_t n_kv,
                         uint64_t n_tensors, const char *fragment, int64_t offset) {
    test_bytes o = b_copy(b->p, cut);
    if (cut >= 24) set_u64(&o, 16, n_kv);
    if (cut >= 16) set_u64(&o, 8, n_tensors);
    emit_buf(name, &o, fragment, offset);
}

static void truncations(const base *b) {
    const gguf_tensor *tl = &b->g->tensors[b->g->n_tensors - 1]; /* truncate inside the last info */
    uint64_t nt = (uint64_t)b->g->n_tensors, nk = (uint64_t)b->g->n_kv;
    uint64_t name_val = kv_value_at(b, "general.name");
    uint64_t ft_key = kv_key_at(b, "general.file_type"),
             ft_val = kv_value_at(b, "general.file_type");
    int64_t tokens_i = gguf_find_key(b->g, "tokenizer.ggml.tokens");
    int64_t scores_i = gguf_find_key(b->g, "tokenizer.ggml.scores");
    uint64_t tokens_val = b->g->kv[tokens_i].offset, scores_val = b->g->kv[scores_i].offset;
    uint64_t tokens_bytes = b->g->kv[tokens_i].arr_bytes;
    emit("empty-file", b->p, 0, "too short for the magic", -1);
    emit("trunc-magic", b->p, 2, "too short for the magic", -1);
    emit("trunc-version", b->p, 6, "truncated: version needs 4 bytes", 4);
    emit("trunc-tensor-count", b->p, 12, "truncated: tensor count needs 8 bytes", 8);
    emit("trunc-kv-count", b->p, 20, "truncated: metadata count needs 8 bytes", 16);
    /* inside the last metadata entry (general.file_type, u32) */
    trunc_counts(b, "trunc-key-length", ft_key + 3, nk, nt, "truncated: metadata key needs 8 bytes",
                 (int64_t)ft_key);
    trunc_counts(b, "trunc-key", ft_key + 8 + 5, nk, nt, "claims 17 bytes but only 5 remain",
                 (int64_t)ft_key);
    trunc_counts(b, "trunc-value-type", ft_val - 2, nk, nt, "truncated: value type needs 4 bytes",
                 (int64_t)ft_val - 4);
    trunc_counts(b, "trunc-value", ft_val + 2, nk, nt, "truncated: value needs 4 bytes",
                 (int64_t)ft_val);
    /* inside a string value: general.name is entry 1, so claim 2 entries */
    trunc_counts(b, "trunc-string", name_val + 8 + 3, 2, nt, "string value at offset",
                 (int64_t)name_val);
    trunc_counts(b, "trunc-array-header", tokens_val + 4 + 3, (uint64_t)tokens_i + 1, nt,
                 "truncated: array count needs 8 bytes", (int64_t)tokens_val + 4);
    trunc_counts(b, "trunc-array-strings", tokens_val + 12 + tokens_bytes - 1,
                 (uint64_t)tokens_i + 1, nt, "array string at offset",
                 (int64_t)(tokens_val + 12 + tokens_bytes - 10));
    trunc_counts(b, "trunc-array-numbers", scores_val + 12 + 10, (uint64_t)scores_i + 1, nt,
                 "f32 values at offset", (int64_t)scores_val + 12);
    /* inside the last tensor info (output.weight, 2 dims) */
    char frag[160];
    snprintf(frag, sizeof frag, "tensor info %" PRIu64, nt - 1);
    trunc_counts(b, "trunc-tensor-name", tl->info_offset + 8 + 4, nk, nt, frag, -1);
    trunc_counts(b, "trunc-tensor-ndims", ti_ndims_at(tl) + 2, nk, nt,
                 "truncated: tensor n_dims needs 4 bytes", (int64_t)ti_ndims_at(tl));
    trunc_counts(b, "trunc-tensor-dims", ti_ne_at(tl, 1) + 3, nk, nt,
                 "truncated: tensor dimension needs 8 bytes", (int64_t)ti_ne_at(tl, 1));
    trunc_counts(b, "trunc-tensor-type", ti_type_at(tl) + 1, nk, nt,
                 "truncated: tensor type needs 4 bytes", (int64_t)ti_type_at(tl));
    trunc_counts(b, "trunc-tensor-offset", ti_offset_at(tl) + 7, nk, nt,
                 "truncated: tensor data offset needs 8 bytes", (int64_t)ti_offset_at(tl));
    emit("trunc-before-data", b->p, b->infos_end, "the data section would start at offset", -1);
    emit("trunc-data", b->p, b->g->data_offset + (b->n - b->g->data_offset) / 2,
         "passes the end of the file", -1);
    emit("trunc-last-tensor", b->p, b->n - 100, "'output.weight': data at offset", -1);
}

static void header_defects(const base *b) {
    test_bytes o = b_copy(b->p, b->n);
    memcpy(o.p, "GGUX", 4);
    emit_buf("bad-magic", &o, "expected \"GGUF\"", -1);
    o = b_copy(b->p, b->n), set_u32(&o, 4, 1);
    emit_buf("version-1", &o, "GGUF version 1 is not supported", -1);
    o = b_copy(b->p, b->n), set_u32(&o, 4, 99);
    emit_buf("version-99", &o, "GGUF version 99 is not supported", -1);
    o = b_copy(b->p, b->n), set_u64(&o, 16, 1ull << 63);
    emit_buf("huge-kv-count", &o, "header claims 9223372036854775808 metadata entries", -1);
    o = b_copy(b->p, b->n), set_u64(&o, 8, UINT64_MAX);
    emit_buf("huge-tensor-count", &o, "header claims 18446744073709551615 tensors", -1);
    o = b_copy(b->p, b->n), set_u64(&o, 16, (uint64_t)b->g->n_kv + 1);
    emit_buf("kv-count-too-big", &o, "tensor name at offset", -1);
    o = b_copy(b->p, b->n), set_u64(&o, 8, (uint64_t)b->g->n_tensors + 1);
    emit_buf("tensor-count-too-big", &o, "tensor info 12", -1);
    o = b_copy(b->p, b->n), set_u64(&o, 24, 1ull << 63);
    emit_buf("huge-key-length", &o, "claims 9223372036854775808 bytes", 24);
}

static void value_defects(const base *b) {
    uint64_t name_val = kv_value_at(b, "general.name");
    uint64_t tokens_val = kv_value_at(b, "tokenizer.ggml.tokens");
    uint64_t scores_val = kv_value_at(b, "tokenizer.ggml.scores");
    uint64_t bos_val = kv_value_at(b, "tokenizer.ggml.add_bos_token");
    test_bytes o = b_copy(b->p, b->n);
    set_u64(&o, name_val, UINT64_MAX - 3);
    emit_buf("huge-string-length", &o, "claims 18446744073709551612 bytes", (int64_t)name_val);
    o = b_copy(b->p, b->n), set_u64(&o, tokens_val + 4, 1ull << 62);
    emit_buf("huge-array-count-strings", &o, "array of 4611686018427387904 strings cannot fit", -1);
    o = b_copy(b->p, b->n), set_u64(&o, scores_val + 4, 1ull << 62);
    emit_buf("huge-array-count-numbers", &o, "array of 4611686018427387904 f32 values",
             (int64_t)scores_val + 12);
    o = b_copy(b->p, b->n), set_u64(&o, tokens_val + 12 + 8 + 5 + 8 + 3, UINT64_MAX);
    emit_buf("huge-array-string-length", &o, "claims 18446744073709551615 bytes", -1);
    o = b_copy(b->p, b->n), set_u32(&o, kv_value_at(b, "general.architecture") - 4, 13);
    emit_buf("unknown-value-type", &o, "unknown value type 13",
             (int64_t)kv_value_at(b, "general.architecture") - 4);
    o = b_copy(b->p, b->n), set_u32(&o, tokens_val, 99);
    emit_buf("unknown-array-type", &o, "unknown value type 99", (int64_t)tokens_val);
    o = b_copy(b->p, b->n), o.p[bos_val] = 2;
    emit_buf("bool-not-0-or-1", &o, "bool value 2", (int64_t)bos_val);
    o = b_copy(b->p, b->n), set_u64(&o, kv_key_at(b, "general.name"), 0);
    emit_buf("empty-key", &o, "has an empty key", -1);

    test_bytes kv = {0};
    tb_key(&kv, "general.name", GGUF_VT_STRING), tb_str(&kv, "again");
    extra_kv(b, "duplicate-key", &kv, "duplicate metadata key 'general.name'", -1);
    kv = (test_bytes){0};
    tb_key(&kv, "general.alignment", GGUF_VT_U32), tb_u32(&kv, 3);
    extra_kv(b, "alignment-not-power-of-two", &kv, "general.alignment is 3", -1);
    kv = (test_bytes){0};
    tb_key(&kv, "general.alignment", GGUF_VT_U32), tb_u32(&kv, 0);
    extra_kv(b, "alignment-zero", &kv, "general.alignment is 0", -1);
    kv = (test_bytes){0};
    tb_key(&kv, "general.alignment", GGUF_VT_STRING), tb_str(&kv, "32");
    extra_kv(b, "alignment-wrong-type", &kv, "general.alignment has type string", -1);
    kv = (test_bytes){0};
    tb_key(&kv, "test.deep", GGUF_VT_ARRAY);
    for (int d = 0; d < 10; d++)
        tb_u32(&kv, GGUF_VT_ARRAY), tb_u64(&kv, 1);
    tb_u32(&kv, GGUF_VT_U8), tb_u64(&kv, 0);
    extra_kv(b, "arrays-nested-too-deep", &kv, "arrays nested deeper than 8", -1);
    kv = (test_bytes){0};
    tb_key(&kv, "test.nested", GGUF_VT_ARRAY), tb_u32(&kv, GGUF_VT_ARRAY), tb_u64(&kv, 1);
    tb_u32(&kv, 77), tb_u64(&kv, 0);
    extra_kv(b, "nested-array-unknown-type", &kv, "unknown value type 77", -1);
}

static void tensor_defects(const base *b) {
    const gguf_tensor *emb = tensor_of(b, "token_embd.weight"),
                      *norm = tensor_of(b, "blk.0.attn_norm.weight");
    const gguf_tensor *q = tensor_of(b, "blk.0.attn_q.weight"),
                      *k = tensor_of(b, "blk.0.attn_k.weight");
    test_bytes o = b_copy(b->p, b->n);
    set_u64(&o, ti_offset_at(q), 1ull << 40);
    emit_buf("tensor-offset-past-end", &o, "'blk.0.attn_q.weight': data at offset", -1);
    o = b_copy(b->p, b->n), set_u64(&o, ti_offset_at(q), UINT64_MAX - 31);
    emit_buf("tensor-offset-overflow", &o, "passes the end of the file", -1);
    o = b_copy(b->p, b->n), set_u64(&o, ti_offset_at(k), q->offset - b->g->data_offset);
    emit_buf("overlapping-tensors", &o, "overlap", -1);
    o = b_copy(b->p, b->n), set_u64(&o, ti_offset_at(q), q->offset - b->g->data_offset + 4);
    emit_buf("misaligned-tensor-offset", &o, "is not a multiple of the alignment 32", -1);
    o = b_copy(b->p, b->n), set_u32(&o, ti_type_at(q), 4);
    emit_buf("removed-tensor-type", &o, "unknown tensor type id 4", -1);
    o = b_copy(b->p, b->n), set_u32(&o, ti_type_at(q), 200);
    emit_buf("unknown-tensor-type", &o, "unknown tensor type id 200", -1);
    o = b_copy(b->p, b->n), set_u64(&o, ti_ne_at(emb, 0), 1ull << 33),
    set_u64(&o, ti_ne_at(emb, 1), 1ull << 33);
    emit_buf("dims-product-overflows", &o, "overflows 64 bits", -1);
    o = b_copy(b->p, b->n), set_u32(&o, ti_ndims_at(q), 0);
    emit_buf("zero-dims", &o, "0 dimensions (must be 1..4)", -1);
    o = b_copy(b->p, b->n), set_u32(&o, ti_ndims_at(q), 5);
    emit_buf("too-many-dims", &o, "5 dimensions (must be 1..4)", -1);
    o = b_copy(b->p, b->n), set_u64(&o, ti_ne_at(q, 1), 0);
    emit_buf("zero-dim-size", &o, "dimension 1 is 0", -1);
    o = b_copy(b->p, b->n), set_u32(&o, ti_type_at(norm), GGML_TYPE_Q4_0),
    set_u64(&o, ti_ne_at(norm, 0), 48);
    emit_buf("row-not-block-multiple", &o, "is not a multiple of the Q4_0 block size 32", -1);
    /* "blk.0.attn_q.weight" -> "blk.0.attn_k.weight": same length, so nothing else moves */
    o = b_copy(b->p, b->n), o.p[q->info_offset + 8 + strlen("blk.0.attn_")] = 'k';
    emit_buf("duplicate-tensor-name", &o, "duplicate tensor name 'blk.0.attn_k.weight'", -1);
    o = b_copy(b->p, b->n), set_u64(&o, q->info_offset, 300);
    emit_buf("tensor-name-too-long", &o, "name length 300", (int64_t)q->info_offset);
}

/* ---------------------------------------------------------------- model-level defects */

static void model_defects(void) {
    spec s;
    s = base_spec, s.no_block_count = true;
    model_defect(&s, "model-missing-block-count", "llama.block_count");
    s = base_spec, s.no_arch = true;
    model_defect(&s, "model-missing-architecture", "general.architecture");
    s = base_spec, s.no_tokens = true;
    model_defect(&s, "model-missing-tokens", "tokenizer.ggml.tokens");
    s = base_spec, s.block_count_as_str = true;
    model_defect(&s, "model-block-count-string", "llama.block_count");
    s = base_spec, s.arch = "notanarch";
    model_defect(&s, "model-unknown-architecture", "notanarch");
    s = base_spec, s.head_count = 0;
    model_defect(&s, "model-head-count-zero", "head_count");
    s = base_spec, s.drop_tensor = "blk.0.ffn_up.weight";
    model_defect(&s, "model-missing-tensor", "blk.0.ffn_up.weight");
    s = base_spec, s.drop_tensor = "token_embd.weight";
    model_defect(&s, "model-missing-token-embd", "token_embd.weight");
    s = base_spec, s.narrow_tensor = "blk.0.attn_q.weight";
    model_defect(&s, "model-wrong-tensor-shape", "blk.0.attn_q.weight");
    s = base_spec, s.iq_tensor = "blk.0.ffn_down.weight";
    model_defect(&s, "model-unsupported-tensor-type", "Q8_K");
}

/* ---------------------------------------------------------------- main */

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: gen_bad_gguf OUTDIR\n");
        return 2;
    }
    out_dir = argv[1];
    char path[1024];
    snprintf(path, sizeof path, "%s/expected.tsv", out_dir);
    tsv = fopen(path, "w");
    if (!tsv) {
        fprintf(stderr, "gen_bad_gguf: cannot write %s\n", path);
        return 1;
    }
    fprintf(tsv, "# defect\tmessage fragment\toffset\n");
    if (!write_model(&base_spec, "valid-base")) return 1;
    base b = {0};
    path_of(path, sizeof path, "valid-base");
    if (kw_gguf_open(path, &b.g) != KW_OK) {
        fprintf(stderr, "gen_bad_gguf: the base does not read back: %s\n", kw_last_error());
        return 1;
    }
    b.p = (uint8_t *)b.g->file.data;
    b.n = b.g->file.size;
    b.kv_end = b.g->tensors[0].info_offset;
    const gguf_tensor *last = &b.g->tensors[b.g->n_tensors - 1];
    b.infos_end = ti_offset_at(last) + 8;

    truncations(&b);
    header_defects(&b);
    value_defects(&b);
    tensor_defects(&b);
    model_defects();

    kw_gguf_close(b.g);
    fclose(tsv);
    printf("gen_bad_gguf: wrote %d defect files and expected.tsv to %s\n", n_files, out_dir);
    return n_errors ? 1 : 0;
}
