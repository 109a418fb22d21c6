/* test_quantize.c - kw_quantize_file: the pure conversions against llama-quantize's files (byte
 * for byte for the 32-value types, RMSE within 2 % for the k-quants), every target's round trip
 * through kw_model_load + kw_decode, the mix rules, overrides, fallbacks for odd row lengths on a
 * synthetic model, the refusal to overwrite the input, and the importance matrix (save, load, and
 * that it lowers the weighted error it is meant to lower).
 *
 * Data: tests/data/models/quant-base-f16.gguf and quant-*.gguf (tests/data/models/README.md).
 * Writes its outputs under a fresh /tmp directory and removes them.
 */
#include "../test.h"
#include "gguf/gguf.h"
#include "quant/quant.h"
#include "tensor/quants.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char g_dir[64];
static char g_base[512];

static const char *tmp_path(const char *name) {
    static char buf[4][256];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", g_dir, name);
    return buf[k];
}

static bool files_equal(const char *a, const char *b) {
    size_t na = 0, nb = 0;
    char *x = test_read_file(a, &na), *y = test_read_file(b, &nb);
    bool eq = x && y && na == nb && memcmp(x, y, na) == 0;
    free(x);
    free(y);
    return eq;
}

/* Collects the type of every tensor through the on_tensor callback. */
typedef struct seen {
    char name[32][64];
    int32_t type[32];
    bool noted[32];
    int n;
} seen;

static void on_tensor(void *user, const kw_quantize_tensor_report *r) {
    seen *s = user;
    if (s->n >= 32) return;
    snprintf(s->name[s->n], sizeof s->name[0], "%s", r->name);
    s->type[s->n] = r->to_type_id;
    s->noted[s->n] = r->note != NULL;
    s->n++;
}

static int32_t type_of(const seen *s, const char *name) {
    for (int i = 0; i < s->n; i++)
        if (strcmp(s->name[i], name) == 0) return s->type[i];
    return -1;
}

/* RMSE between a tensor of two files after dequantization. */
static double tensor_rmse(const kw_gguf *a, const kw_gguf *b, const char *name) {
    const gguf_tensor *ta = gguf_find_tensor(a, name), *tb = gguf_find_tensor(b, name);
    if (!ta || !tb || ta->ne[0] != tb->ne[0]) return INFINITY;
    int64_t ne0 = ta->ne[0], rows = (int64_t)(ta->n_bytes / ggml_row_bytes(ta->type, ne0));
    float *x = malloc(sizeof(float) * (size_t)ne0), *y = malloc(sizeof(float) * (size_t)ne0);
    double se = 0;
    for (int64_t r = 0; r < rows; r++) {
        quant_dequantize_row(ta->type,
                             (const uint8_t *)ta->data + r * ggml_row_bytes(ta->type, ne0), x, ne0);
        quant_dequantize_row(tb->type,
                             (const uint8_t *)tb->data + r * ggml_row_bytes(tb->type, ne0), y, ne0);
        for (int64_t i = 0; i < ne0; i++)
            se += ((double)x[i] - y[i]) * ((double)x[i] - y[i]);
    }
    free(x);
    free(y);
    return sqrt(se / (double)(rows * ne0));
}

/* Loads a model and decodes 4 tokens; true when every logit is finite. */
static bool runs(const char *path) {
    kw_model *m = NULL;
    kw_context *c = NULL;
    if (kw_model_load(path, NULL, &m) != KW_OK)
        return fprintf(stderr, "load: %s\n", kw_last_error()), false;
    kw_context_params cp = kw_context_default_params();
    cp.n_ctx = 16, cp.n_threads = 1;
    bool ok = kw_context_create(m, &cp, &c) == KW_OK;
    kw_token t[4] = {1, 5, 9, 3};
    ok = ok && kw_decode(c, t, NULL, 4, NULL) == KW_OK;
    const float *l = ok ? kw_get_logits(c, 3) : NULL;
    for (int32_t i = 0; l && i < kw_model_n_vocab(m); i++)
        ok = ok && isfinite(l[i]);
    if (!ok) fprintf(stderr, "run '%s': %s\n", path, kw_last_error());
    kw_context_free(c);
    kw_model_free(m);
    return ok && l;
}

/* ---------------------------------------------------------------- tests */

static void test_quantize_pure_matches_llama_quantize(void) {
    static const char *simple[] = {"q8_0", "q4_0", "q4_1", "q5_0", "q5_1"};
    for (int i = 0; i < 5; i++) {
        kw_quantize_params p = kw_quantize_default_params();
        CHECK(kw_ftype_from_name(simple[i], &p.ftype) == KW_OK, "'%s' is a target name", simple[i]);
        p.pure = true;
        const char *out = tmp_path("pure.gguf");
        CHECK(kw_quantize_file(g_base, out, &p) == KW_OK, "pure %s quantizes: %s", simple[i],
              kw_last_error());
        char ref[64];
        snprintf(ref, sizeof ref, "models/quant-%s.gguf", simple[i]);
        CHECK(files_equal(out, test_data_path(ref)),
              "pure %s is byte-identical to %s (data and header)", simple[i], ref);
    }
}

static void test_quantize_kquants_rmse_within_2_percent(void) {
    static const char *kq[] = {"q2_k", "q3_k", "q4_k", "q5_k", "q6_k"};
    kw_gguf *base;
    CHECK(kw_gguf_open(g_base, &base) == KW_OK, "base opens");
    for (int i = 0; i < 5; i++) {
        kw_quantize_params p = kw_quantize_default_params();
        kw_ftype_from_name(kq[i], &p.ftype);
        p.pure = true;
        const char *out = tmp_path("kq.gguf");
        CHECK(kw_quantize_file(g_base, out, &p) == KW_OK, "pure %s quantizes: %s", kq[i],
              kw_last_error());
        char ref_rel[64];
        snprintf(ref_rel, sizeof ref_rel, "models/quant-%s.gguf", kq[i]);
        char ref_path[512];
        snprintf(ref_path, sizeof ref_path, "%s", test_data_path(ref_rel));
        kw_gguf *ours = NULL, *ref = NULL;
        CHECK(kw_gguf_open(out, &ours) == KW_OK && kw_gguf_open(ref_path, &ref) == KW_OK,
              "both %s files open", kq[i]);
        if (!ours || !ref) continue;
        int n_checked = 0;
        for (int64_t t = 0; t < base->n_tensors; t++) {
            const gguf_tensor *bt = &base->tensors[t];
            if (bt->n_dims < 2) continue;
            double r_ours = tensor_rmse(base, ours, bt->name),
                   r_ref = tensor_rmse(base, ref, bt->name);
            CHECK(r_ours <= r_ref * 1.02, "%s %s: RMSE %.6g within 2%% of llama-quantize's %.6g",
                  kq[i], bt->name, r_ours, r_ref);
            n_checked++;
        }
        CHECK(n_checked == 16, "%s: all 16 weight tensors compared (got %d)", kq[i], n_checked);
        printf("%s: whole file %s the llama-quantize reference\n", kq[i],
               files_equal(out, ref_path) ? "byte-identical to" : "differs from");
        kw_gguf_close(ours);
        kw_gguf_close(ref);
    }
    kw_gguf_close(base);
}

static void test_quantize_every_target_round_trips(void) {
    static const kw_ftype all[] = {
        KW_FTYPE_F32,    KW_FTYPE_F16,    KW_FTYPE_BF16,   KW_FTYPE_Q8_0,   KW_FTYPE_Q4_0,
        KW_FTYPE_Q4_1,   KW_FTYPE_Q5_0,   KW_FTYPE_Q5_1,   KW_FTYPE_Q2_K,   KW_FTYPE_Q3_K_S,
        KW_FTYPE_Q3_K_M, KW_FTYPE_Q3_K_L, KW_FTYPE_Q4_K_S, KW_FTYPE_Q4_K_M, KW_FTYPE_Q5_K_S,
        KW_FTYPE_Q5_K_M, KW_FTYPE_Q6_K,   KW_FTYPE_IQ4_NL, KW_FTYPE_IQ4_XS, KW_FTYPE_IQ3_S,
        KW_FTYPE_IQ3_M}; /* IQ2_XS needs an imatrix: test_quantize_imatrix */
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        kw_quantize_params p = kw_quantize_default_params();
        p.ftype = all[i];
        p.n_threads = 2;
        const char *out = tmp_path("rt.gguf");
        const char *name = kw_ftype_name(all[i]);
        CHECK(kw_quantize_file(g_base, out, &p) == KW_OK, "%s quantizes: %s", name,
              kw_last_error());
        kw_gguf *g = NULL;
        uint32_t ft = 999, qv = 0;
        if (kw_gguf_open(out, &g) == KW_OK) {
            gguf_get_u32(g, "general.file_type", &ft);
            gguf_get_u32(g, "general.quantization_version", &qv);
            CHECK(strcmp(g->kv[g->n_kv - 1].key, "general.file_type") == 0,
                  "%s: general.file_type is the last key", name);
        }
        kw_gguf_close(g);
        CHECK(ft == (uint32_t)all[i], "%s: general.file_type %u == %d", name, ft, (int)all[i]);
        CHECK(qv == 2, "%s: general.quantization_version %u == 2", name, qv);
        CHECK(runs(out), "%s: the quantized model loads and gives finite logits", name);
    }
}

static void test_quantize_mix_rules(void) {
    struct {
        kw_ftype f;
        const char *tensor;
        uint32_t want;
    } cases[] = {
        {KW_FTYPE_Q4_K_M, "output.weight", GGML_TYPE_Q6_K},
        {KW_FTYPE_Q4_K_M, "token_embd.weight", GGML_TYPE_Q4_K},
        {KW_FTYPE_Q4_K_M, "blk.0.attn_v.weight",
         GGML_TYPE_Q4_K}, /* 2 layers: layer 1 is the last eighth */
        {KW_FTYPE_Q4_K_M, "blk.1.attn_v.weight", GGML_TYPE_Q6_K},
        {KW_FTYPE_Q4_K_M, "blk.1.ffn_down.weight", GGML_TYPE_Q6_K},
        {KW_FTYPE_Q4_K_M, "blk.0.ffn_up.weight", GGML_TYPE_Q4_K},
        {KW_FTYPE_Q3_K_M, "blk.1.attn_v.weight", GGML_TYPE_Q5_K},
        {KW_FTYPE_Q3_K_M, "blk.0.ffn_down.weight", GGML_TYPE_Q4_K},
        {KW_FTYPE_Q3_K_M, "blk.0.attn_output.weight", GGML_TYPE_Q4_K},
        {KW_FTYPE_Q3_K_L, "blk.0.ffn_down.weight", GGML_TYPE_Q5_K},
        {KW_FTYPE_Q2_K, "blk.0.attn_v.weight", GGML_TYPE_Q3_K}, /* n_gqa 2 < 4 */
        {KW_FTYPE_Q2_K, "blk.0.attn_q.weight", GGML_TYPE_Q2_K},
        {KW_FTYPE_Q4_K_S, "blk.1.attn_v.weight", GGML_TYPE_Q5_K},
        {KW_FTYPE_Q4_0, "output.weight", GGML_TYPE_Q6_K},
        {KW_FTYPE_Q8_0, "output.weight", GGML_TYPE_Q8_0},
        {KW_FTYPE_F16, "output.weight", GGML_TYPE_F16},
        {KW_FTYPE_IQ4_XS, "output.weight", GGML_TYPE_Q6_K},
        {KW_FTYPE_IQ4_XS, "blk.0.attn_q.weight", GGML_TYPE_IQ4_XS},
        {KW_FTYPE_IQ4_XS, "blk.0.attn_v.weight", GGML_TYPE_IQ4_XS},   /* n_gqa 2 < 4 */
        {KW_FTYPE_IQ4_XS, "blk.0.ffn_down.weight", GGML_TYPE_IQ4_XS}, /* 2 layers: n/8 = 0 */
        {KW_FTYPE_IQ4_NL, "blk.1.ffn_up.weight", GGML_TYPE_IQ4_NL},
        {KW_FTYPE_IQ3_S, "blk.0.attn_output.weight", GGML_TYPE_IQ3_S},
        {KW_FTYPE_IQ3_S, "output.weight", GGML_TYPE_Q6_K},
        {KW_FTYPE_IQ3_M, "blk.0.attn_v.weight", GGML_TYPE_Q4_K},
        {KW_FTYPE_IQ3_M, "blk.1.attn_output.weight", GGML_TYPE_Q4_K},
        {KW_FTYPE_IQ3_M, "blk.0.ffn_gate.weight", GGML_TYPE_IQ3_S},
    };
    seen s = {0};
    kw_ftype done = (kw_ftype)-1;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (cases[i].f != done) { /* cases are grouped by target: quantize once per target */
            kw_quantize_params p = kw_quantize_default_params();
            p.ftype = cases[i].f, p.on_tensor = on_tensor, p.user = &s;
            s.n = 0;
            done = cases[i].f;
            CHECK(kw_quantize_file(g_base, tmp_path("mix.gguf"), &p) == KW_OK, "mix quantizes");
        }
        int32_t got = type_of(&s, cases[i].tensor);
        CHECK(got == (int32_t)cases[i].want, "%s gives %s type %s (got %s)",
              kw_ftype_name(cases[i].f), cases[i].tensor, ggml_type_get(cases[i].want)->name,
              got >= 0 ? ggml_type_get((uint32_t)got)->name : "none");
        CHECK(type_of(&s, "blk.0.attn_norm.weight") == GGML_TYPE_F32, "norms stay F32");
    }
}

/* The i-quant mix rules on a 16-layer model's names (llama.cpp's llama_tensor_get_type). */
static void test_quantize_iquant_mix_rules(void) {
    const quant_model_facts dense = {.n_layer = 16, .n_gqa = 1, .has_output = true},
                            gqa4 = {.n_layer = 16, .n_gqa = 4, .has_output = true},
                            tied = {.n_layer = 16, .n_gqa = 1, .has_output = false},
                            dense_im = {
                                .n_layer = 16, .n_gqa = 1, .has_output = true, .has_imatrix = true};
    struct {
        kw_ftype f;
        const quant_model_facts *facts;
        const char *tensor;
        uint32_t want;
    } c[] = {
        {KW_FTYPE_IQ4_XS, &dense, "blk.1.ffn_down.weight", GGML_TYPE_Q5_K}, /* 1 < 16/8 */
        {KW_FTYPE_IQ4_XS, &dense, "blk.2.ffn_down.weight", GGML_TYPE_IQ4_XS},
        {KW_FTYPE_IQ4_XS, &dense_im, "blk.1.ffn_down.weight", GGML_TYPE_IQ4_XS},
        {KW_FTYPE_IQ4_NL, &gqa4, "blk.5.attn_v.weight", GGML_TYPE_Q5_K},
        {KW_FTYPE_IQ4_NL, &dense, "blk.5.attn_v.weight", GGML_TYPE_IQ4_NL},
        {KW_FTYPE_IQ4_NL, &dense, "output.weight", GGML_TYPE_Q6_K},
        {KW_FTYPE_IQ3_S, &gqa4, "blk.3.attn_v.weight", GGML_TYPE_Q4_K},
        {KW_FTYPE_IQ3_S, &dense, "blk.3.attn_v.weight", GGML_TYPE_IQ3_S},
        {KW_FTYPE_IQ3_S, &dense, "blk.0.ffn_down.weight", GGML_TYPE_IQ3_S},
        {KW_FTYPE_IQ3_M, &dense, "blk.3.attn_v.weight", GGML_TYPE_Q4_K},
        {KW_FTYPE_IQ3_M, &dense, "blk.1.ffn_down.weight", GGML_TYPE_Q4_K},
        {KW_FTYPE_IQ3_M, &dense, "blk.2.ffn_down.weight", GGML_TYPE_IQ3_S},
        {KW_FTYPE_IQ3_M, &dense, "blk.9.attn_output.weight", GGML_TYPE_Q4_K},
        {KW_FTYPE_IQ3_M, &dense, "blk.9.attn_qkv.weight", GGML_TYPE_Q4_K},
        {KW_FTYPE_IQ2_XS, &dense, "output.weight", GGML_TYPE_Q5_K},
        {KW_FTYPE_IQ2_XS, &dense, "token_embd.weight", GGML_TYPE_Q2_K},
        {KW_FTYPE_IQ2_XS, &tied, "token_embd.weight", GGML_TYPE_Q5_K}, /* it is the output */
        {KW_FTYPE_IQ2_XS, &dense, "blk.4.attn_v.weight", GGML_TYPE_Q2_K},
        {KW_FTYPE_IQ2_XS, &gqa4, "blk.4.attn_v.weight", GGML_TYPE_Q4_K},
        {KW_FTYPE_IQ2_XS, &dense, "blk.1.ffn_down.weight", GGML_TYPE_Q2_K},
        {KW_FTYPE_IQ2_XS, &dense, "blk.2.ffn_down.weight", GGML_TYPE_IQ2_XS},
        {KW_FTYPE_IQ2_XS, &dense, "blk.2.attn_output.weight", GGML_TYPE_IQ2_XS},
    };
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
        uint32_t got = quant_mix_type(c[i].f, false, c[i].tensor, c[i].facts);
        CHECK(got == c[i].want, "%s (n_gqa %d%s%s): %s gets %s (got %s)", kw_ftype_name(c[i].f),
              c[i].facts->n_gqa, c[i].facts->has_output ? "" : ", tied",
              c[i].facts->has_imatrix ? ", imatrix" : "", c[i].tensor,
              ggml_type_get(c[i].want)->name, ggml_type_get(got)->name);
    }
    static const char *names[] = {"IQ4_NL", "iq4_xs", "IQ3_S", "IQ3_M", "IQ2_XS"};
    static const int32_t base[] = {GGML_TYPE_IQ4_NL, GGML_TYPE_IQ4_XS, GGML_TYPE_IQ3_S,
                                   GGML_TYPE_IQ3_S, GGML_TYPE_IQ2_XS};
    static const kw_ftype num[] = {25, 30, 26, 27, 20}; /* llama_ftype numbers */
    for (int i = 0; i < 5; i++) {
        kw_ftype f = KW_FTYPE_F32;
        CHECK(kw_ftype_from_name(names[i], &f) == KW_OK && f == num[i] &&
                  kw_ftype_base_type(f) == base[i],
              "'%s' is target %d with base type %s", names[i], (int)num[i],
              ggml_type_get((uint32_t)base[i])->name);
    }
    CHECK(kw_quant_type_from_name("IQ2_XS") == GGML_TYPE_IQ2_XS, "IQ2_XS is a storage type name");
    CHECK(kw_quant_type_from_name("IQ1_S") < 0 && kw_quant_type_from_name("Q8_K") < 0,
          "IQ1_S (not quantizable) and Q8_K (activations only) are not override types");
}

static void test_quantize_overrides(void) {
    const char *ov[] = {"attn_v=q8_0", "blk.1.ffn_*=F16", "re:^token_embd=Q6_K",
                        "/attn_[qk]\\./=Q5_0"};
    seen s = {0};
    kw_quantize_params p = kw_quantize_default_params();
    p.ftype = KW_FTYPE_Q4_0, p.pure = true, p.overrides = ov, p.n_overrides = 4,
    p.on_tensor = on_tensor, p.user = &s;
    CHECK(kw_quantize_file(g_base, tmp_path("ov.gguf"), &p) == KW_OK, "overrides apply: %s",
          kw_last_error());
    CHECK(type_of(&s, "blk.0.attn_v.weight") == GGML_TYPE_Q8_0, "substring override attn_v=q8_0");
    CHECK(type_of(&s, "blk.1.ffn_down.weight") == GGML_TYPE_F16, "glob override blk.1.ffn_*");
    CHECK(type_of(&s, "blk.0.ffn_down.weight") == GGML_TYPE_Q4_0, "glob does not match blk.0");
    CHECK(type_of(&s, "token_embd.weight") == GGML_TYPE_Q6_K, "regex override ^token_embd");
    CHECK(type_of(&s, "blk.1.attn_k.weight") == GGML_TYPE_Q5_0, "/regex/ override attn_[qk]");
    CHECK(type_of(&s, "blk.1.attn_norm.weight") == GGML_TYPE_F32,
          "overrides leave 1-D tensors alone");
    CHECK(runs(tmp_path("ov.gguf")), "the overridden model runs");
    const char *bad[] = {"attn_v=Q9_9"}, *bad_re[] = {"re:(=Q8_0"}, *no_eq[] = {"attn_v"};
    p.on_tensor = NULL;
    p.overrides = bad;
    p.n_overrides = 1;
    CHECK(kw_quantize_file(g_base, tmp_path("ov.gguf"), &p) == KW_ERR_INVALID_ARG &&
              strstr(kw_last_error(), "Q9_9"),
          "an unknown override type is refused naming it: %s", kw_last_error());
    p.overrides = bad_re;
    CHECK(kw_quantize_file(g_base, tmp_path("ov.gguf"), &p) == KW_ERR_INVALID_ARG &&
              strstr(kw_last_error(), "regex"),
          "a bad regex is refused: %s", kw_last_error());
    p.overrides = no_eq;
    CHECK(kw_quantize_file(g_base, tmp_path("ov.gguf"), &p) == KW_ERR_INVALID_ARG,
          "an override without = is refused");
}

static void test_quantize_refuses_to_overwrite_input(void) {
    const char *copy = tmp_path("in.gguf"), *link_path = tmp_path("in-link.gguf");
    kw_quantize_params p = kw_quantize_default_params();
    p.ftype = KW_FTYPE_F16;
    CHECK(kw_quantize_file(g_base, copy, &p) == KW_OK, "an F16 copy is made");
    CHECK(files_equal(copy, g_base), "F16 -> F16 copies the base byte for byte");
    p.ftype = KW_FTYPE_Q4_0;
    CHECK(kw_quantize_file(copy, copy, &p) == KW_ERR_INVALID_ARG &&
              strstr(kw_last_error(), "overwrite"),
          "the same path is refused: %s", kw_last_error());
    unlink(link_path);
    CHECK(link(copy, link_path) == 0, "a hard link is made");
    CHECK(kw_quantize_file(copy, link_path, &p) == KW_ERR_INVALID_ARG,
          "a hard link to the input is refused");
    char tmp_in[300];
    snprintf(tmp_in, sizeof tmp_in, "%s.tmp", tmp_path("out"));
    rename(copy, tmp_in);
    char out[300], out_copy[300];
    snprintf(out, sizeof out, "%s", tmp_path("out"));
    snprintf(out_copy, sizeof out_copy, "%s", tmp_path("out-copy"));
    CHECK(kw_quantize_file(tmp_in, out, &p) == KW_OK,
          "an input named like the old fixed temporary name (OUT.tmp) is no obstacle: %s",
          kw_last_error());
    CHECK(files_equal(tmp_in, g_base), "the input is unchanged after the refusals");
    p.ftype = KW_FTYPE_F16;
    CHECK(kw_quantize_file(tmp_in, out_copy, &p) == KW_OK, "a second output is made");
    p.imatrix_path = out_copy; /* the check comes before the file is read as an imatrix */
    CHECK(kw_quantize_file(tmp_in, out_copy, &p) == KW_ERR_INVALID_ARG &&
              strstr(kw_last_error(), "refusing to overwrite"),
          "the imatrix file as output is refused: %s", kw_last_error());
    p.imatrix_path = NULL;
    CHECK(files_equal(out_copy, g_base), "the imatrix file is unchanged");
    unlink(out);
    unlink(out_copy);
    unlink(tmp_in);
    unlink(link_path);
    CHECK(kw_quantize_file(tmp_path("missing.gguf"), tmp_path("x.gguf"), &p) == KW_ERR_IO,
          "a missing input is an IO error");
}

/* A llama model with n_embd 96 (not a multiple of 256) and n_ff 100 (not a multiple of 32). */
static void write_odd_model(const char *path) {
    kw_gguf *b;
    kw_gguf_open(g_base, &b);
    gguf_writer *w;
    gguf_writer_create(&w);
    for (int64_t i = 0; i < b->n_kv; i++) {
        const char *k = b->kv[i].key;
        if (!strcmp(k, "llama.embedding_length") || !strcmp(k, "llama.feed_forward_length") ||
            !strcmp(k, "llama.rope.dimension_count") || !strcmp(k, "llama.block_count"))
            continue;
        gguf_writer_copy_kv(w, b, i);
    }
    gguf_writer_add_u32(w, "llama.embedding_length", 96);
    gguf_writer_add_u32(w, "llama.feed_forward_length", 100);
    gguf_writer_add_u32(w, "llama.rope.dimension_count", 24);
    gguf_writer_add_u32(w, "llama.block_count", 1);
    struct {
        const char *name;
        int64_t ne0, ne1;
    } t[] = {
        {"token_embd.weight", 96, 768},   {"output.weight", 96, 768},
        {"output_norm.weight", 96, 1},    {"blk.0.attn_norm.weight", 96, 1},
        {"blk.0.attn_q.weight", 96, 96},  {"blk.0.attn_k.weight", 96, 48},
        {"blk.0.attn_v.weight", 96, 48},  {"blk.0.attn_output.weight", 96, 96},
        {"blk.0.ffn_norm.weight", 96, 1}, {"blk.0.ffn_gate.weight", 96, 100},
        {"blk.0.ffn_up.weight", 96, 100}, {"blk.0.ffn_down.weight", 100, 96},
    };
    enum { NT = sizeof t / sizeof t[0] };
    float *data[NT];
    uint32_t seed = 7;
    for (int i = 0; i < NT; i++) {
        int64_t n = t[i].ne0 * t[i].ne1;
        data[i] = malloc(sizeof(float) * (size_t)n);
        bool norm = t[i].ne1 == 1;
        for (int64_t j = 0; j < n; j++) {
            seed = seed * 1664525u + 1013904223u;
            data[i][j] = norm ? 1.0f : ((float)(seed >> 8) / 16777216.0f - 0.5f) * 0.2f;
        }
        int64_t ne[2] = {t[i].ne0, t[i].ne1};
        gguf_writer_add_tensor(w, t[i].name, GGML_TYPE_F32, norm ? 1 : 2, ne, data[i]);
    }
    CHECK(gguf_writer_write(w, path) == KW_OK, "the odd-shaped model is written: %s",
          kw_last_error());
    gguf_writer_free(w);
    for (int i = 0; i < NT; i++)
        free(data[i]);
    kw_gguf_close(b);
}

static void test_quantize_odd_rows_fall_back(void) {
    const char *odd = tmp_path("odd.gguf"), *out = tmp_path("odd-q.gguf");
    write_odd_model(odd);
    CHECK(runs(odd), "the odd-shaped F32 model runs");
    seen s = {0};
    kw_quantize_params p = kw_quantize_default_params();
    p.ftype = KW_FTYPE_Q4_K_M, p.on_tensor = on_tensor, p.user = &s;
    CHECK(kw_quantize_file(odd, out, &p) == KW_OK, "Q4_K_M with odd rows quantizes: %s",
          kw_last_error());
    CHECK(type_of(&s, "blk.0.attn_q.weight") == GGML_TYPE_Q8_0,
          "row 96 (not /256, /32) falls back to Q8_0");
    CHECK(type_of(&s, "output.weight") == GGML_TYPE_Q8_0,
          "output.weight with row 96 falls back to Q8_0");
    CHECK(type_of(&s, "blk.0.ffn_down.weight") == GGML_TYPE_F16,
          "row 100 (not /32) falls back to F16");
    bool noted = false;
    for (int i = 0; i < s.n; i++)
        noted |= strcmp(s.name[i], "blk.0.ffn_down.weight") == 0 && s.noted[i];
    CHECK(noted, "the fallback comes with a note");
    CHECK(runs(out), "the fallback model runs");
    p.ftype = KW_FTYPE_Q4_0, p.pure = true, s.n = 0;
    CHECK(kw_quantize_file(odd, out, &p) == KW_OK, "pure Q4_0 with odd rows quantizes");
    CHECK(type_of(&s, "blk.0.attn_q.weight") == GGML_TYPE_Q4_0, "row 96 holds Q4_0 blocks");
    CHECK(type_of(&s, "blk.0.ffn_down.weight") == GGML_TYPE_F16,
          "row 100 falls back to F16 under Q4_0");
    CHECK(runs(out), "the Q4_0 odd model runs");
    p.ftype = KW_FTYPE_IQ4_XS, p.pure = false, s.n = 0;
    CHECK(kw_quantize_file(odd, out, &p) == KW_OK, "IQ4_XS with odd rows quantizes: %s",
          kw_last_error());
    CHECK(type_of(&s, "blk.0.attn_q.weight") == GGML_TYPE_IQ4_NL,
          "row 96 under IQ4_XS falls back to IQ4_NL (as llama.cpp)");
    CHECK(type_of(&s, "blk.0.ffn_down.weight") == GGML_TYPE_F16,
          "row 100 falls back to F16 under IQ4_XS");
    CHECK(runs(out), "the IQ4_XS odd model runs");
    p.ftype = KW_FTYPE_Q4_0, p.pure = true, s.n = 0;
    p.refuse_fallback = true;
    CHECK(kw_quantize_file(odd, out, &p) == KW_ERR_UNSUPPORTED && strstr(kw_last_error(), "100"),
          "refuse_fallback turns the fallback into an error naming the row length: %s",
          kw_last_error());
    p.ftype = KW_FTYPE_Q8_0, p.refuse_fallback = false, p.pure = false;
    CHECK(kw_quantize_file(out, tmp_path("re.gguf"), &p) == KW_ERR_INVALID_ARG &&
              strstr(kw_last_error(), "already quantized"),
          "requantizing is refused by default: %s", kw_last_error());
    p.allow_requantize = true;
    CHECK(kw_quantize_file(out, tmp_path("re.gguf"), &p) == KW_OK && runs(tmp_path("re.gguf")),
          "requantizing works when allowed");
}

/* Statistics from a real run -> file -> loader; then the weighted error they are meant to lower. */
static void test_quantize_imatrix(void) {
    kw_model *m;
    kw_context *c;
    kw_imatrix *im;
    CHECK(kw_model_load(g_base, NULL, &m) == KW_OK, "base loads");
    kw_context_params cp = kw_context_default_params();
    cp.n_ctx = 32, cp.n_threads = 1;
    CHECK(kw_context_create(m, &cp, &c) == KW_OK && kw_imatrix_create(&im) == KW_OK,
          "context and imatrix");
    kw_token t[16];
    for (int i = 0; i < 16; i++)
        t[i] = (kw_token)(1 + i * 37 % 700);
    kw_context_set_observer(c, kw_imatrix_observe, im);
    CHECK(kw_decode(c, t, NULL, 16, NULL) == KW_OK, "decode with the observer");
    kw_imatrix_end_chunk(im);
    CHECK(kw_imatrix_n_entries(im) == 15,
          "15 weight matrices observed (7 per layer + output), got %d", kw_imatrix_n_entries(im));
    char path[300]; /* tmp_path's buffers rotate: keep a copy */
    snprintf(path, sizeof path, "%s", tmp_path("im.gguf"));
    CHECK(kw_imatrix_save(im, path, "unit-test", 16) == KW_OK, "imatrix saves: %s",
          kw_last_error());
    kw_imatrix_free(im);
    kw_context_free(c);
    kw_model_free(m);
    quant_imatrix q = {0};
    CHECK(quant_imatrix_load(path, &q) == KW_OK, "imatrix loads: %s", kw_last_error());
    const float *wq = NULL;
    CHECK(quant_imatrix_find(&q, "blk.0.attn_q.weight", 256, &wq) == KW_OK && wq,
          "attn_q has weights");
    CHECK(quant_imatrix_find(&q, "blk.0.attn_q.weight", 128, &wq) == KW_ERR_FORMAT,
          "a wrong column count is an error");
    const float *wd = NULL;
    quant_imatrix_find(&q, "blk.1.ffn_down.weight", 512, &wd);
    CHECK(wd != NULL, "ffn_down has 512 weights");
    /* Weighted error sum_c w_c (x_c - q_c)^2 of ffn_down: with the imatrix it must be lower. */
    kw_gguf *b;
    kw_gguf_open(g_base, &b);
    const gguf_tensor *t_down = gguf_find_tensor(b, "blk.1.ffn_down.weight");
    float x[512], y[512];
    uint8_t blk[512];
    double e_plain = 0, e_im = 0;
    for (int64_t r = 0; wd && r < t_down->ne[1]; r++) {
        quant_dequantize_row(GGML_TYPE_F16, (const uint8_t *)t_down->data + r * 1024, x, 512);
        for (int pass = 0; pass < 2; pass++) {
            quant_quantize_row(GGML_TYPE_Q3_K, x, blk, 512, pass ? wd : NULL);
            quant_dequantize_row(GGML_TYPE_Q3_K, blk, y, 512);
            for (int i = 0; i < 512; i++)
                *(pass ? &e_im : &e_plain) += wd[i] * (double)(x[i] - y[i]) * (x[i] - y[i]);
        }
    }
    CHECK(e_im < e_plain,
          "Q3_K with the imatrix has lower weighted error (%.6g) than without (%.6g)", e_im,
          e_plain);
    kw_gguf_close(b);
    quant_imatrix_free(&q);
    seen s = {0};
    kw_quantize_params p = kw_quantize_default_params();
    p.ftype = KW_FTYPE_Q4_K_M, p.imatrix_path = path;
    CHECK(kw_quantize_file(g_base, tmp_path("imq.gguf"), &p) == KW_OK && runs(tmp_path("imq.gguf")),
          "quantize --imatrix works and the result runs: %s", kw_last_error());
    /* the i-quants: weighted error lower with the real statistics on the model's own weights */
    for (int k = 0; k < 4; k++) {
        static const uint32_t iq[] = {GGML_TYPE_IQ4_XS, GGML_TYPE_IQ4_NL, GGML_TYPE_IQ3_S,
                                      GGML_TYPE_IQ2_XS};
        quant_imatrix q2 = {0};
        const float *w2 = NULL, *none = NULL;
        float ones[512];
        for (int i = 0; i < 512; i++)
            ones[i] = 1.0f;
        CHECK(quant_imatrix_load(path, &q2) == KW_OK &&
                  quant_imatrix_find(&q2, "blk.1.ffn_down.weight", 512, &w2) == KW_OK && w2,
              "ffn_down statistics reload");
        if (iq[k] == GGML_TYPE_IQ2_XS) none = ones; /* its "without" is uniform importance */
        kw_gguf *b2;
        kw_gguf_open(g_base, &b2);
        const gguf_tensor *td = gguf_find_tensor(b2, "blk.1.ffn_down.weight");
        double e0 = 0, e1 = 0;
        for (int64_t r = 0; w2 && r < td->ne[1]; r++) {
            quant_dequantize_row(GGML_TYPE_F16, (const uint8_t *)td->data + r * 1024, x, 512);
            for (int pass = 0; pass < 2; pass++) {
                quant_quantize_row(iq[k], x, blk, 512, pass ? w2 : none);
                quant_dequantize_row(iq[k], blk, y, 512);
                for (int i = 0; i < 512; i++)
                    *(pass ? &e1 : &e0) += w2[i] * (double)(x[i] - y[i]) * (x[i] - y[i]);
            }
        }
        printf("%s on ffn_down: weighted error %.6g with the imatrix, %.6g without\n",
               ggml_type_get(iq[k])->name, e1, e0);
        CHECK(e1 < e0, "%s with the imatrix has lower weighted error (%.6g) than without (%.6g)",
              ggml_type_get(iq[k])->name, e1, e0);
        kw_gguf_close(b2);
        quant_imatrix_free(&q2);
    }
    /* IQ2_XS: refused without an imatrix, naming the option; with one the model runs */
    kw_quantize_params p2 = kw_quantize_default_params();
    p2.ftype = KW_FTYPE_IQ2_XS;
    CHECK(kw_quantize_file(g_base, tmp_path("iq2.gguf"), &p2) == KW_ERR_INVALID_ARG &&
              strstr(kw_last_error(), "--imatrix") && strstr(kw_last_error(), "IQ2_XS"),
          "IQ2_XS without an imatrix is refused naming --imatrix: %s", kw_last_error());
    p2.pure = true;
    CHECK(kw_quantize_file(g_base, tmp_path("iq2.gguf"), &p2) == KW_ERR_INVALID_ARG,
          "also with --pure");
    p2.pure = false;
    p2.imatrix_path = path, p2.on_tensor = on_tensor, p2.user = &s, s.n = 0;
    CHECK(kw_quantize_file(g_base, tmp_path("iq2.gguf"), &p2) == KW_OK &&
              runs(tmp_path("iq2.gguf")),
          "IQ2_XS with the imatrix quantizes and runs: %s", kw_last_error());
    CHECK(type_of(&s, "blk.0.attn_q.weight") == GGML_TYPE_IQ2_XS &&
              type_of(&s, "output.weight") == GGML_TYPE_Q5_K,
          "IQ2_XS mix: attn_q IQ2_XS, output Q5_K");
    p2.pure = true, p2.on_tensor = NULL;
    CHECK(kw_quantize_file(g_base, tmp_path("iq2p.gguf"), &p2) == KW_OK &&
              runs(tmp_path("iq2p.gguf")),
          "pure IQ2_XS (output and token table included) quantizes and runs: %s", kw_last_error());
    p.imatrix_path = g_base, p.on_tensor = on_tensor, p.user = &s;
    CHECK(kw_quantize_file(g_base, tmp_path("imq.gguf"), &p) == KW_ERR_FORMAT &&
              strstr(kw_last_error(), "in_sum2"),
          "a file that is not an imatrix is refused: %s", kw_last_error());
}

int main(void) {
    snprintf(g_dir, sizeof g_dir, "/tmp/kw_test_quantize_XXXXXX");
    if (!mkdtemp(g_dir)) return perror("mkdtemp"), 1;
    snprintf(g_base, sizeof g_base, "%s", test_data_path("models/quant-base-f16.gguf"));
    RUN_TEST(test_quantize_pure_matches_llama_quantize);
    RUN_TEST(test_quantize_kquants_rmse_within_2_percent);
    RUN_TEST(test_quantize_every_target_round_trips);
    RUN_TEST(test_quantize_mix_rules);
    RUN_TEST(test_quantize_iquant_mix_rules);
    RUN_TEST(test_quantize_overrides);
    RUN_TEST(test_quantize_refuses_to_overwrite_input);
    RUN_TEST(test_quantize_odd_rows_fall_back);
    RUN_TEST(test_quantize_imatrix);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", g_dir);
    return test_report();
}
