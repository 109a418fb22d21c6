/* quant_mix.c - which storage type each tensor gets: the targets (kw_ftype) and their names, the
 * k-quant mixes, and the user's per-tensor overrides.
 *
 * The mixes follow llama.cpp's documented choices (llama-quant.cpp, llama_tensor_get_type) for
 * dense models, written down in docs/quantization.md: output.weight (or token_embd when the
 * output is tied) gets Q6_K in every quantized mix unless the base type is Q8_0; attn_v,
 * ffn_down, attn_output and fused attn_qkv get more bits in the K mixes, on some layers. The
 * "use more bits" layers are the first and last eighth plus every third layer in between. The
 * i-quant mixes (IQ4_NL, IQ4_XS, IQ3_S, IQ3_M, IQ2_XS) follow the same function's branches for
 * them (llama.cpp commit d32676d).
 *
 * Relies on: the ggml type table, PCRE2 for regex overrides. Must not: look at tensor data.
 */
#include "quant/quant.h"
#include "tensor/quants.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <ctype.h>
#include <fnmatch.h>
#include <pcre2.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---------------------------------------------------------------- targets */

typedef struct ftype_info {
    const char *name;
    kw_ftype ftype;
    uint32_t base; /* ggml type of most 2-D weights */
} ftype_info;

static const ftype_info ftypes[] = {
    {"F32", KW_FTYPE_F32, GGML_TYPE_F32},          {"F16", KW_FTYPE_F16, GGML_TYPE_F16},
    {"BF16", KW_FTYPE_BF16, GGML_TYPE_BF16},       {"Q8_0", KW_FTYPE_Q8_0, GGML_TYPE_Q8_0},
    {"Q4_0", KW_FTYPE_Q4_0, GGML_TYPE_Q4_0},       {"Q4_1", KW_FTYPE_Q4_1, GGML_TYPE_Q4_1},
    {"Q5_0", KW_FTYPE_Q5_0, GGML_TYPE_Q5_0},       {"Q5_1", KW_FTYPE_Q5_1, GGML_TYPE_Q5_1},
    {"Q2_K", KW_FTYPE_Q2_K, GGML_TYPE_Q2_K},       {"Q3_K_S", KW_FTYPE_Q3_K_S, GGML_TYPE_Q3_K},
    {"Q3_K_M", KW_FTYPE_Q3_K_M, GGML_TYPE_Q3_K},   {"Q3_K_L", KW_FTYPE_Q3_K_L, GGML_TYPE_Q3_K},
    {"Q4_K_S", KW_FTYPE_Q4_K_S, GGML_TYPE_Q4_K},   {"Q4_K_M", KW_FTYPE_Q4_K_M, GGML_TYPE_Q4_K},
    {"Q5_K_S", KW_FTYPE_Q5_K_S, GGML_TYPE_Q5_K},   {"Q5_K_M", KW_FTYPE_Q5_K_M, GGML_TYPE_Q5_K},
    {"Q6_K", KW_FTYPE_Q6_K, GGML_TYPE_Q6_K},       {"IQ4_NL", KW_FTYPE_IQ4_NL, GGML_TYPE_IQ4_NL},
    {"IQ4_XS", KW_FTYPE_IQ4_XS, GGML_TYPE_IQ4_XS}, {"IQ3_S", KW_FTYPE_IQ3_S, GGML_TYPE_IQ3_S},
    {"IQ3_M", KW_FTYPE_IQ3_M, GGML_TYPE_IQ3_S},    {"IQ2_XS", KW_FTYPE_IQ2_XS, GGML_TYPE_IQ2_XS},
};
enum { N_FTYPES = sizeof ftypes / sizeof ftypes[0] };

/* llama-quantize's aliases: the plain k-quant names mean the _M mix */
static const struct {
    const char *alias;
    kw_ftype ftype;
} aliases[] = {
    {"Q3_K", KW_FTYPE_Q3_K_M},
    {"Q4_K", KW_FTYPE_Q4_K_M},
    {"Q5_K", KW_FTYPE_Q5_K_M},
};

static const ftype_info *ftype_find(kw_ftype f) {
    for (int i = 0; i < N_FTYPES; i++)
        if (ftypes[i].ftype == f) return &ftypes[i];
    return NULL;
}

kw_status kw_ftype_from_name(const char *name, kw_ftype *out) {
    kw_error_clear();
    if (!name || !out) return kw_error(KW_ERR_INVALID_ARG, "kw_ftype_from_name: NULL argument");
    for (int i = 0; i < N_FTYPES; i++)
        if (strcasecmp(name, ftypes[i].name) == 0) return *out = ftypes[i].ftype, KW_OK;
    for (size_t i = 0; i < sizeof aliases / sizeof aliases[0]; i++)
        if (strcasecmp(name, aliases[i].alias) == 0) return *out = aliases[i].ftype, KW_OK;
    return kw_error(
        KW_ERR_INVALID_ARG,
        "unknown quantization type '%s' (known: F32 F16 BF16 Q8_0 Q4_0 Q4_1 Q5_0 Q5_1 Q2_K "
        "Q3_K Q3_K_S Q3_K_M Q3_K_L Q4_K Q4_K_S Q4_K_M Q5_K Q5_K_S Q5_K_M Q6_K IQ4_NL IQ4_XS "
        "IQ3_S IQ3_M IQ2_XS)",
        name);
}

const char *kw_ftype_name(kw_ftype ftype) {
    const ftype_info *fi = ftype_find(ftype);
    return fi ? fi->name : "?";
}

int32_t kw_ftype_base_type(kw_ftype ftype) {
    const ftype_info *fi = ftype_find(ftype);
    return fi ? (int32_t)fi->base : -1;
}

int32_t kw_quant_type_from_name(const char *name) {
    if (!name) return -1;
    for (uint32_t t = 0; t < GGML_TYPE_COUNT; t++) {
        const ggml_type_traits *tr = ggml_type_get(t);
        /* a storage type: computable and quantizable (not the Q8_1 / Q8_K activation formats) */
        if (tr->name && strcasecmp(tr->name, name) == 0 && quant_type_can_compute(t) &&
            quant_type_can_quantize(t))
            return (int32_t)t;
    }
    return -1;
}

/* ---------------------------------------------------------------- the mix rules */

static bool ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

bool quant_tensor_is_weight(const gguf_tensor *t) {
    if (t->n_dims < 2 || !ends_with(t->name, "weight")) return false;
    /* tables that llama.cpp never quantizes: MoE routers, position / token-type embeddings */
    return !strstr(t->name, "_norm.") && !strstr(t->name, "ffn_gate_inp") &&
           !strstr(t->name, "pos_embd") && !strstr(t->name, "token_types");
}

int32_t quant_layer_of(const char *name) {
    if (strncmp(name, "blk.", 4) != 0 || !isdigit((unsigned char)name[4])) return -1;
    long v = strtol(name + 4, NULL, 10);
    return v >= 0 && v < 1000000 ? (int32_t)v : -1;
}

/* llama.cpp's use_more_bits: first and last eighth, and every third layer in between. */
static bool more_bits(int32_t i, int32_t n) {
    return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2;
}

static uint32_t attn_v_type(kw_ftype f, uint32_t t, int32_t i, int32_t n, int32_t n_gqa) {
    switch (f) {
    case KW_FTYPE_Q2_K: return n_gqa >= 4 ? GGML_TYPE_Q4_K : GGML_TYPE_Q3_K;
    case KW_FTYPE_IQ2_XS: return n_gqa >= 4 ? GGML_TYPE_Q4_K : GGML_TYPE_Q2_K;
    case KW_FTYPE_IQ3_S: return n_gqa >= 4 ? GGML_TYPE_Q4_K : t;
    case KW_FTYPE_IQ3_M: return GGML_TYPE_Q4_K;
    case KW_FTYPE_IQ4_NL:
    case KW_FTYPE_IQ4_XS: return n_gqa >= 4 ? GGML_TYPE_Q5_K : t;
    case KW_FTYPE_Q3_K_M: return i < 2 ? GGML_TYPE_Q5_K : GGML_TYPE_Q4_K;
    case KW_FTYPE_Q3_K_L: return GGML_TYPE_Q5_K;
    case KW_FTYPE_Q4_K_S: return i < 4 ? GGML_TYPE_Q5_K : t;
    case KW_FTYPE_Q4_K_M:
    case KW_FTYPE_Q5_K_M: return more_bits(i, n) ? GGML_TYPE_Q6_K : t;
    default: return t;
    }
}

static uint32_t ffn_down_type(kw_ftype f, uint32_t t, int32_t i, int32_t n, bool has_imatrix) {
    switch (f) {
    case KW_FTYPE_Q2_K: return GGML_TYPE_Q3_K;
    case KW_FTYPE_IQ2_XS: return i < n / 8 ? GGML_TYPE_Q2_K : t;
    case KW_FTYPE_IQ3_M: return i < n / 8 ? GGML_TYPE_Q4_K : t;
    case KW_FTYPE_IQ4_NL:
    case KW_FTYPE_IQ4_XS: return i < n / 8 && !has_imatrix ? GGML_TYPE_Q5_K : t;
    case KW_FTYPE_Q3_K_M: return i < n / 16 ? GGML_TYPE_Q5_K : GGML_TYPE_Q4_K;
    case KW_FTYPE_Q3_K_L: return GGML_TYPE_Q5_K;
    case KW_FTYPE_Q4_K_S: return i < n / 8 ? GGML_TYPE_Q5_K : t;
    case KW_FTYPE_Q4_K_M:
    case KW_FTYPE_Q5_K_M: return more_bits(i, n) ? GGML_TYPE_Q6_K : t;
    default: return t;
    }
}

static uint32_t attn_output_type(kw_ftype f, uint32_t t) {
    switch (f) {
    case KW_FTYPE_Q2_K: return GGML_TYPE_Q3_K;
    case KW_FTYPE_Q3_K_M: return GGML_TYPE_Q4_K;
    case KW_FTYPE_Q3_K_L: return GGML_TYPE_Q5_K;
    case KW_FTYPE_IQ3_M: return GGML_TYPE_Q4_K;
    default: return t;
    }
}

static uint32_t attn_qkv_type(kw_ftype f, uint32_t t) {
    switch (f) {
    case KW_FTYPE_IQ3_M:
    case KW_FTYPE_Q3_K_M:
    case KW_FTYPE_Q3_K_L: return GGML_TYPE_Q4_K;
    case KW_FTYPE_Q4_K_M: return GGML_TYPE_Q5_K;
    case KW_FTYPE_Q5_K_M: return GGML_TYPE_Q6_K;
    default: return t;
    }
}

static bool is_float_type(uint32_t t) {
    return t == GGML_TYPE_F32 || t == GGML_TYPE_F16 || t == GGML_TYPE_BF16;
}

uint32_t quant_mix_type(kw_ftype ftype, bool pure, const char *name, const quant_model_facts *f) {
    const ftype_info *fi = ftype_find(ftype);
    uint32_t t = fi ? fi->base : GGML_TYPE_F16;
    if (pure || is_float_type(t)) return t; /* the float targets convert every weight alike */
    const bool is_output = strcmp(name, "output.weight") == 0 ||
                           (!f->has_output && strcmp(name, "token_embd.weight") == 0);
    if (is_output)
        return t == GGML_TYPE_Q8_0 ? t : ftype == KW_FTYPE_IQ2_XS ? GGML_TYPE_Q5_K : GGML_TYPE_Q6_K;
    /* the 2-bit mix keeps an untied token table at Q2_K (it is looked up, not multiplied) */
    if (ftype == KW_FTYPE_IQ2_XS && strcmp(name, "token_embd.weight") == 0) return GGML_TYPE_Q2_K;
    const int32_t i = quant_layer_of(name), n = f->n_layer > 0 ? f->n_layer : 1;
    if (strstr(name, "attn_v.weight")) return attn_v_type(ftype, t, i < 0 ? 0 : i, n, f->n_gqa);
    if (strstr(name, "ffn_down")) return ffn_down_type(ftype, t, i < 0 ? 0 : i, n, f->has_imatrix);
    if (strstr(name, "attn_output.weight")) return attn_output_type(ftype, t);
    if (strstr(name, "attn_qkv.weight")) return attn_qkv_type(ftype, t);
    return t;
}

/* ---------------------------------------------------------------- overrides */

typedef enum { OV_SUBSTR, OV_GLOB, OV_REGEX } ov_kind;

struct quant_override {
    const char *spec; /* borrowed */
    char *pattern;    /* owned */
    ov_kind kind;
    pcre2_code *re;
    int32_t type;
};

static kw_status parse_one(const char *spec, quant_override *o) {
    const char *eq = strrchr(spec, '=');
    if (!eq || eq == spec || !eq[1])
        return kw_error(KW_ERR_INVALID_ARG, "tensor type override '%s': expected PATTERN=TYPE",
                        spec);
    o->spec = spec;
    o->type = kw_quant_type_from_name(eq + 1);
    if (o->type < 0)
        return kw_error(
            KW_ERR_INVALID_ARG,
            "tensor type override '%s': '%s' is not a storage type (F32 F16 BF16 Q8_0 Q4_0 "
            "Q4_1 Q5_0 Q5_1 Q2_K Q3_K Q4_K Q5_K Q6_K IQ4_NL IQ4_XS IQ3_S IQ2_XS)",
            spec, eq + 1);
    size_t len = (size_t)(eq - spec);
    const char *p = spec;
    if (len > 3 && strncmp(p, "re:", 3) == 0)
        o->kind = OV_REGEX, p += 3, len -= 3;
    else if (len > 2 && p[0] == '/' && p[len - 1] == '/')
        o->kind = OV_REGEX, p += 1, len -= 2;
    else
        o->kind = strpbrk(spec, "*?[") && strpbrk(spec, "*?[") < eq ? OV_GLOB : OV_SUBSTR;
    if (!(o->pattern = kw_strndup(p, len))) return KW_ERR_NOMEM;
    if (o->kind == OV_REGEX) {
        int err;
        PCRE2_SIZE at;
        o->re = pcre2_compile((PCRE2_SPTR)o->pattern, PCRE2_ZERO_TERMINATED, 0, &err, &at, NULL);
        if (!o->re) {
            PCRE2_UCHAR msg[160];
            pcre2_get_error_message(err, msg, sizeof msg);
            return kw_error(KW_ERR_INVALID_ARG, "tensor type override '%s': bad regex at %zu: %s",
                            spec, (size_t)at, (const char *)msg);
        }
    }
    return KW_OK;
}

kw_status quant_overrides_parse(const char *const *specs, int32_t n, quant_override **out) {
    *out = NULL;
    if (n <= 0) return KW_OK;
    if (!specs) return kw_error(KW_ERR_INVALID_ARG, "tensor type overrides: NULL list of %d", n);
    quant_override *o = kw_calloc((size_t)n, sizeof *o, "tensor type overrides");
    if (!o) return KW_ERR_NOMEM;
    for (int32_t i = 0; i < n; i++) {
        kw_status st = specs[i]
                           ? parse_one(specs[i], &o[i])
                           : kw_error(KW_ERR_INVALID_ARG, "tensor type override %d is NULL", i);
        if (st != KW_OK) {
            quant_overrides_free(o, n);
            return st;
        }
    }
    *out = o;
    return KW_OK;
}

void quant_overrides_free(quant_override *o, int32_t n) {
    if (!o) return;
    for (int32_t i = 0; i < n; i++) {
        free(o[i].pattern);
        if (o[i].re) pcre2_code_free(o[i].re);
    }
    free(o);
}

static bool matches(const quant_override *o, const char *name) {
    switch (o->kind) {
    case OV_SUBSTR: return strstr(name, o->pattern) != NULL;
    case OV_GLOB: return fnmatch(o->pattern, name, 0) == 0;
    case OV_REGEX: {
        pcre2_match_data *md = pcre2_match_data_create_from_pattern(o->re, NULL);
        if (!md) return false;
        int rc = pcre2_match(o->re, (PCRE2_SPTR)name, strlen(name), 0, 0, md, NULL);
        pcre2_match_data_free(md);
        return rc >= 0;
    }
    }
    return false;
}

int32_t quant_overrides_match(const quant_override *o, int32_t n, const char *name,
                              const char **which) {
    int32_t type = -1;
    for (int32_t i = 0; i < n; i++)
        if (matches(&o[i], name)) type = o[i].type, *which = o[i].spec;
    return type;
}
