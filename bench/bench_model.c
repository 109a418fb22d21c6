/* bench_model.c - writes benchmark GGUF models: the real tensor shapes of a published model
 * (bench/shapes.md, copied from /work/shared/bench/shapes.md) with random weights, a byte-level BPE
 * vocabulary the loader accepts, in F16, Q8_0, Q4_0 or Q4_K_M.
 *
 * Speed of generation: quantizing a billion random values with the reference k-quant search takes
 * minutes, so each storage type quantizes one pool of 2^20 normal values (std 0.02, seeded) once,
 * and every weight row is a block-aligned run copied from that pool at a pseudo-random offset.
 * Blocks quantize independently, so a row is exactly what quantizing those values would give;
 * repeated content cannot change kernel speed (caches and DRAM see distinct addresses). Norm
 * weights are 1, biases random (std 0.02), F32.
 *
 * Type mix (the rule of llama.cpp's llama_tensor_get_type, as we understand it):
 *   F16     every matrix F16.            Q8_0  every matrix Q8_0.
 *   Q4_0    every matrix Q4_0, but the output matrix (token_embd when tied) Q6_K.
 *   Q4_K_M  Q4_K; Q6_K for the output matrix (token_embd when tied), and for attn_v and ffn_down
 *           on "more bits" layers: i < n/8, i >= 7n/8, or (i - n/8) % 3 == 2.
 *   A k-quant on rows not a multiple of 256 falls back as llama.cpp does: Q4_K -> Q5_0,
 *   Q6_K -> Q8_0 (Qwen2.5-0.5B's 896-wide rows, for example).
 *
 * Relies on: gguf_writer (src/gguf/gguf.h), quant_quantize_row (src/tensor/quants.h).
 * Must not: be part of the library or of `make test` runs beyond the tiny shape used by
 * tests/unit/test_probes.c (which includes this file).
 */
#include "base/base.h"
#include "gguf/gguf.h"
#include "tensor/quants.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------------------------------
 * Shapes and types
 * ---------------------------------------------------------------------------------------------- */

typedef struct bench_shape {
    const char *name;      /* "0.5B" */
    const char *stem;      /* file name stem, "qwen2.5-0.5b" */
    const char *arch;      /* GGUF architecture, "qwen2" */
    const char *pre;       /* tokenizer.ggml.pre, "qwen2" */
    int n_embd, n_layer, n_head, n_head_kv, head_dim, n_ff, n_vocab;
    bool qkv_bias;         /* q/k/v biases (Qwen2) */
    bool tied;             /* no output.weight: the output reuses token_embd */
    bool llama3_rope;      /* rope_freqs.weight with Llama 3 scaling factors */
    float rope_base, norm_eps;
    int n_ctx_train;
} bench_shape;

static const bench_shape bench_shapes[] = {
    {"0.5B", "qwen2.5-0.5b", "qwen2", "qwen2", 896, 24, 14, 2, 64, 4864, 151936, true, true, false,
     1e6f, 1e-6f, 32768},
    {"1B", "llama-3.2-1b", "llama", "llama-bpe", 2048, 16, 32, 8, 64, 8192, 128256, false, true, true,
     5e5f, 1e-5f, 131072},
    {"1.5B", "qwen2.5-1.5b", "qwen2", "qwen2", 1536, 28, 12, 2, 128, 8960, 151936, true, true, false,
     1e6f, 1e-6f, 32768},
    {"135M", "smollm2-135m", "llama", "llama-bpe", 576, 30, 9, 3, 64, 1536, 49152, false, true, false,
     1e5f, 1e-5f, 8192},
    /* for tests only: tiny, quick to write and load */
    {"tiny", "tiny-qwen2", "qwen2", "qwen2", 64, 2, 4, 2, 16, 128, 300, true, true, false, 1e6f,
     1e-6f, 512},
};
enum { BENCH_N_SHAPES = sizeof bench_shapes / sizeof bench_shapes[0] };

typedef enum bench_ftype { BENCH_F16, BENCH_Q8_0, BENCH_Q4_0, BENCH_Q4_K_M, BENCH_N_FTYPES } bench_ftype;
static const char *const bench_ftype_names[BENCH_N_FTYPES] = {"f16", "q8_0", "q4_0", "q4_k_m"};
/* general.file_type values of llama.cpp's llama_ftype */
static const uint32_t bench_ftype_ids[BENCH_N_FTYPES] = {1, 7, 2, 15};

__attribute__((unused)) static const bench_shape *bench_shape_find(const char *name) {
    for (int i = 0; i < BENCH_N_SHAPES; i++)
        if (strcmp(bench_shapes[i].name, name) == 0 || strcmp(bench_shapes[i].stem, name) == 0)
            return &bench_shapes[i];
    return NULL;
}

__attribute__((unused)) static int bench_ftype_find(const char *name) {
    for (int i = 0; i < BENCH_N_FTYPES; i++)
        if (strcasecmp(bench_ftype_names[i], name) == 0) return i;
    return -1;
}

/* llama.cpp's use_more_bits: the first and last eighth of the layers and every third between. */
static bool more_bits(int i, int n) { return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2; }

/* The storage type of one matrix. kind: "token_embd", "output", "attn_q", "attn_k", "attn_v",
 * "attn_output", "ffn_gate", "ffn_up", "ffn_down"; il the layer (-1 outside layers); ne0 the row
 * length. */
static uint32_t bench_tensor_type(const bench_shape *s, bench_ftype ft, const char *kind, int il,
                                  int64_t ne0) {
    bool is_output = strcmp(kind, "output") == 0 || (s->tied && strcmp(kind, "token_embd") == 0);
    uint32_t t;
    switch (ft) {
    case BENCH_F16: return GGML_TYPE_F16;
    case BENCH_Q8_0: return GGML_TYPE_Q8_0;
    case BENCH_Q4_0: t = is_output ? GGML_TYPE_Q6_K : GGML_TYPE_Q4_0; break;
    default:
        t = GGML_TYPE_Q4_K;
        if (is_output) t = GGML_TYPE_Q6_K;
        else if ((strcmp(kind, "attn_v") == 0 || strcmp(kind, "ffn_down") == 0) &&
                 more_bits(il, s->n_layer))
            t = GGML_TYPE_Q6_K;
        break;
    }
    if (ne0 % 256 != 0) {
        if (t == GGML_TYPE_Q4_K) t = GGML_TYPE_Q5_0;
        else if (t == GGML_TYPE_Q6_K) t = GGML_TYPE_Q8_0;
    }
    return t;
}

/* ------------------------------------------------------------------------------------------------
 * Random values and quantized pools
 * ---------------------------------------------------------------------------------------------- */

enum { POOL_VALUES = 1 << 20 };

static uint64_t splitmix64(uint64_t *state) {
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Normal values with standard deviation std (Box-Muller). */
static void fill_normal(float *dst, int64_t n, float std, uint64_t seed) {
    uint64_t st = seed;
    for (int64_t i = 0; i < n; i += 2) {
        double u1 = ((double)(splitmix64(&st) >> 11) + 1.0) * 0x1.0p-53; /* (0, 1] */
        double u2 = (double)(splitmix64(&st) >> 11) * 0x1.0p-53;
        double r = sqrt(-2.0 * log(u1)) * std;
        dst[i] = (float)(r * cos(6.283185307179586 * u2));
        if (i + 1 < n) dst[i + 1] = (float)(r * sin(6.283185307179586 * u2));
    }
}

typedef struct bench_pools {
    float *values;                  /* POOL_VALUES normal values */
    uint8_t *quant[GGML_TYPE_COUNT]; /* the pool quantized to each type used, or NULL */
} bench_pools;

static kw_status pool_get(bench_pools *p, uint32_t type, const uint8_t **out) {
    if (!p->quant[type]) {
        uint64_t size = ggml_row_bytes(type, POOL_VALUES);
        uint8_t *q = kw_malloc(size, "quantized pool");
        if (!q) return KW_ERR_NOMEM;
        /* one 256-value piece at a time: every type's blocks (32 or 256 values) divide it */
        uint64_t piece = ggml_row_bytes(type, 256);
        for (int64_t i = 0; i < POOL_VALUES / 256; i++)
            quant_quantize_row(type, p->values + i * 256, q + (uint64_t)i * piece, 256, NULL);
        p->quant[type] = q;
    }
    *out = p->quant[type];
    return KW_OK;
}

static void pools_free(bench_pools *p) {
    free(p->values);
    for (int i = 0; i < GGML_TYPE_COUNT; i++) free(p->quant[i]);
}

/* ------------------------------------------------------------------------------------------------
 * Vocabulary: 256 byte symbols (GPT-2's byte-to-unicode map), a few merges and their results,
 * filler tokens up to n_vocab - 3, then three control tokens (BOS, EOS, EOT).
 * ---------------------------------------------------------------------------------------------- */

typedef struct bench_vocab {
    char **text;      /* n_vocab NUL-terminated texts (into arena) */
    int32_t *type;    /* token types: 1 normal, 3 control, 6 byte */
    char *arena;
    int32_t n;
} bench_vocab;

static const char *const k_merges[] = {"Ġ t", "h e", "i n", "Ġt he", "a n", "e r"};
static const char *const k_merged[] = {"Ġt", "he", "in", "Ġthe", "an", "er"};
enum { N_MERGES = sizeof k_merges / sizeof k_merges[0] };

static kw_status vocab_build(bench_vocab *v, int32_t n_vocab) {
    if (n_vocab < 256 + N_MERGES + 3)
        return kw_error(KW_ERR_INVALID_ARG, "bench vocabulary needs >= %d tokens (asked %d)",
                        256 + N_MERGES + 3, n_vocab);
    v->n = n_vocab;
    v->text = kw_malloc((size_t)n_vocab * sizeof(char *), "vocab texts");
    v->type = kw_malloc((size_t)n_vocab * sizeof(int32_t), "vocab types");
    v->arena = kw_malloc((size_t)n_vocab * 24, "vocab arena");
    if (!v->text || !v->type || !v->arena) return KW_ERR_NOMEM;
    char *p = v->arena;
    int next_extra = 0;
    for (int b = 0; b < 256; b++) { /* GPT-2: printable bytes are themselves, others 256 + k */
        bool self = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174);
        uint32_t cp = self ? (uint32_t)b : (uint32_t)(256 + next_extra++);
        v->text[b] = p;
        p += kw_utf8_encode(cp, p);
        *p++ = 0;
        v->type[b] = 1; /* byte-level BPE files mark byte symbols as normal tokens */
    }
    int32_t id = 256;
    for (int i = 0; i < N_MERGES; i++, id++) {
        v->text[id] = p;
        p += sprintf(p, "%s", k_merged[i]) + 1;
        v->type[id] = 1;
    }
    for (; id < n_vocab - 3; id++) {
        v->text[id] = p;
        p += sprintf(p, "[filler%d]", id) + 1;
        v->type[id] = 1;
    }
    static const char *const specials[] = {"<|bos|>", "<|endoftext|>", "<|eot|>"};
    for (int i = 0; i < 3; i++, id++) {
        v->text[id] = p;
        p += sprintf(p, "%s", specials[i]) + 1;
        v->type[id] = 3;
    }
    return KW_OK;
}

static void vocab_free(bench_vocab *v) {
    free(v->text);
    free(v->type);
    free(v->arena);
}

static kw_status add_vocab(gguf_writer *w, const bench_shape *s, const bench_vocab *v) {
    kw_status st;
    uint32_t n = (uint32_t)v->n;
    if ((st = gguf_writer_add_str(w, "tokenizer.ggml.model", "gpt2")) ||
        (st = gguf_writer_add_str(w, "tokenizer.ggml.pre", s->pre)) ||
        (st = gguf_writer_add_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)v->text, n)) ||
        (st = gguf_writer_add_arr(w, "tokenizer.ggml.token_type", GGUF_VT_I32, v->type, n)) ||
        (st = gguf_writer_add_arr_str(w, "tokenizer.ggml.merges", k_merges, N_MERGES)) ||
        (st = gguf_writer_add_u32(w, "tokenizer.ggml.bos_token_id", n - 3)) ||
        (st = gguf_writer_add_u32(w, "tokenizer.ggml.eos_token_id", n - 2)) ||
        (st = gguf_writer_add_u32(w, "tokenizer.ggml.eot_token_id", n - 1)) ||
        (st = gguf_writer_add_bool(w, "tokenizer.ggml.add_bos_token", strcmp(s->arch, "llama") == 0)))
        return st;
    return KW_OK;
}

/* ------------------------------------------------------------------------------------------------
 * Metadata and tensors
 * ---------------------------------------------------------------------------------------------- */

static kw_status add_hparams(gguf_writer *w, const bench_shape *s, bench_ftype ft) {
    char key[128], name[128];
    snprintf(name, sizeof name, "bench %s %s (random weights)", s->name, bench_ftype_names[ft]);
    kw_status st;
    if ((st = gguf_writer_add_str(w, "general.architecture", s->arch)) ||
        (st = gguf_writer_add_str(w, "general.name", name)) ||
        (st = gguf_writer_add_u32(w, "general.file_type", bench_ftype_ids[ft])) ||
        (st = gguf_writer_add_u32(w, "general.quantization_version", 2)))
        return st;
    const struct { const char *k; uint32_t v; } u[] = {
        {"context_length", (uint32_t)s->n_ctx_train}, {"embedding_length", (uint32_t)s->n_embd},
        {"block_count", (uint32_t)s->n_layer},        {"feed_forward_length", (uint32_t)s->n_ff},
        {"attention.head_count", (uint32_t)s->n_head}, {"attention.head_count_kv", (uint32_t)s->n_head_kv},
        {"attention.key_length", (uint32_t)s->head_dim}, {"attention.value_length", (uint32_t)s->head_dim},
        {"rope.dimension_count", (uint32_t)s->head_dim}, {"vocab_size", (uint32_t)s->n_vocab},
    };
    for (size_t i = 0; i < sizeof u / sizeof u[0]; i++) {
        snprintf(key, sizeof key, "%s.%s", s->arch, u[i].k);
        if ((st = gguf_writer_add_u32(w, key, u[i].v))) return st;
    }
    snprintf(key, sizeof key, "%s.rope.freq_base", s->arch);
    if ((st = gguf_writer_add_f32(w, key, s->rope_base))) return st;
    snprintf(key, sizeof key, "%s.attention.layer_norm_rms_epsilon", s->arch);
    return gguf_writer_add_f32(w, key, s->norm_eps);
}

/* Llama 3 RoPE scaling factors (factor 32, low/high frequency factors 1 and 4, original context
 * 8192), as convert_hf_to_gguf.py stores them in rope_freqs.weight: each frequency is divided
 * by its factor. */
static void llama3_factors(float *f, const bench_shape *s) {
    const double factor = 32, low = 1, high = 4, orig = 8192;
    const double low_wl = orig / low, high_wl = orig / high;
    for (int i = 0; i < s->head_dim / 2; i++) {
        double freq = pow(s->rope_base, -2.0 * i / s->head_dim), wl = 6.283185307179586 / freq;
        if (wl < high_wl) f[i] = 1;
        else if (wl > low_wl) f[i] = (float)factor;
        else {
            double smooth = (orig / wl - low) / (high - low);
            f[i] = (float)(1.0 / ((1 - smooth) / factor + smooth));
        }
    }
}

typedef struct bench_build {
    gguf_writer *w;
    bench_pools pools;
    void **bufs; /* tensor data, borrowed by the writer until written */
    int n_bufs, cap_bufs;
    uint64_t seed, n_tensor;
} bench_build;

static void *build_alloc(bench_build *b, uint64_t size) {
    if (b->n_bufs == b->cap_bufs) {
        int cap = b->cap_bufs ? 2 * b->cap_bufs : 64;
        void **bigger = realloc(b->bufs, (size_t)cap * sizeof(void *));
        if (!bigger) return NULL;
        b->bufs = bigger;
        b->cap_bufs = cap;
    }
    void *p = kw_malloc(size ? size : 1, "bench tensor");
    if (p) b->bufs[b->n_bufs++] = p;
    return p;
}

/* A [ne0, ne1] matrix of `type`: each row a block-aligned run of the type's pool. */
static kw_status add_matrix(bench_build *b, const char *name, uint32_t type, int64_t ne0, int64_t ne1) {
    const ggml_type_traits *tt = ggml_type_get(type);
    const uint8_t *pool;
    kw_status st = pool_get(&b->pools, type, &pool);
    if (st) return st;
    uint64_t row = ggml_row_bytes(type, ne0), blk = tt->type_size;
    int64_t bpr = ne0 / tt->block_size, pool_blocks = POOL_VALUES / tt->block_size;
    uint8_t *data = build_alloc(b, row * (uint64_t)ne1);
    if (!data) return KW_ERR_NOMEM;
    uint64_t rng = b->seed ^ (++b->n_tensor * 0x9E3779B97F4A7C15ull);
    for (int64_t r = 0; r < ne1; r++) {
        uint64_t start = splitmix64(&rng) % (uint64_t)(pool_blocks - bpr + 1);
        memcpy(data + row * (uint64_t)r, pool + start * blk, row);
    }
    int64_t ne[2] = {ne0, ne1};
    return gguf_writer_add_tensor(b->w, name, type, 2, ne, data);
}

/* An F32 vector: all `value`, or normal values with std 0.02 when value is NAN. */
static kw_status add_vector(bench_build *b, const char *name, int64_t n, float value) {
    float *data = build_alloc(b, (uint64_t)n * sizeof(float));
    if (!data) return KW_ERR_NOMEM;
    if (isnan(value)) fill_normal(data, n, 0.02f, b->seed ^ (++b->n_tensor * 0xD1B54A32D192ED03ull));
    else
        for (int64_t i = 0; i < n; i++) data[i] = value;
    return gguf_writer_add_tensor(b->w, name, GGML_TYPE_F32, 1, &n, data);
}

static kw_status add_layer(bench_build *b, const bench_shape *s, bench_ftype ft, int il) {
    const int64_t E = s->n_embd, Q = (int64_t)s->n_head * s->head_dim,
                  KV = (int64_t)s->n_head_kv * s->head_dim, F = s->n_ff;
    const struct { const char *kind; int64_t ne0, ne1; } mats[] = {
        {"attn_q", E, Q},  {"attn_k", E, KV}, {"attn_v", E, KV}, {"attn_output", Q, E},
        {"ffn_gate", E, F}, {"ffn_up", E, F},  {"ffn_down", F, E},
    };
    char name[96];
    kw_status st;
    snprintf(name, sizeof name, "blk.%d.attn_norm.weight", il);
    if ((st = add_vector(b, name, E, 1.0f))) return st;
    for (size_t i = 0; i < sizeof mats / sizeof mats[0]; i++) {
        if (strcmp(mats[i].kind, "ffn_gate") == 0) {
            snprintf(name, sizeof name, "blk.%d.ffn_norm.weight", il);
            if ((st = add_vector(b, name, E, 1.0f))) return st;
        }
        snprintf(name, sizeof name, "blk.%d.%s.weight", il, mats[i].kind);
        uint32_t t = bench_tensor_type(s, ft, mats[i].kind, il, mats[i].ne0);
        if ((st = add_matrix(b, name, t, mats[i].ne0, mats[i].ne1))) return st;
        if (s->qkv_bias && i < 3) {
            snprintf(name, sizeof name, "blk.%d.%s.bias", il, mats[i].kind);
            if ((st = add_vector(b, name, mats[i].ne1, NAN))) return st;
        }
    }
    return KW_OK;
}

static kw_status build_tensors(bench_build *b, const bench_shape *s, bench_ftype ft) {
    kw_status st;
    const int64_t E = s->n_embd;
    uint32_t te = bench_tensor_type(s, ft, "token_embd", -1, E);
    if ((st = add_matrix(b, "token_embd.weight", te, E, s->n_vocab))) return st;
    if (!s->tied &&
        (st = add_matrix(b, "output.weight", bench_tensor_type(s, ft, "output", -1, E), E, s->n_vocab)))
        return st;
    if ((st = add_vector(b, "output_norm.weight", E, 1.0f))) return st;
    if (s->llama3_rope) {
        int64_t n = s->head_dim / 2;
        float *f = build_alloc(b, (uint64_t)n * sizeof(float));
        if (!f) return KW_ERR_NOMEM;
        llama3_factors(f, s);
        if ((st = gguf_writer_add_tensor(b->w, "rope_freqs.weight", GGML_TYPE_F32, 1, &n, f))) return st;
    }
    for (int il = 0; il < s->n_layer; il++)
        if ((st = add_layer(b, s, ft, il))) return st;
    return KW_OK;
}

/* Writes shape s in storage type ft to path (via path.tmp, renamed when complete). Deterministic
 * for a given seed. Returns KW_OK or the writer's / allocator's error. */
__attribute__((unused)) static kw_status bench_model_write(const bench_shape *s, bench_ftype ft, const char *path, uint64_t seed) {
    bench_build b = {.seed = seed};
    bench_vocab v = {0};
    kw_status st = gguf_writer_create(&b.w);
    if (st) return st;
    b.pools.values = kw_malloc((size_t)POOL_VALUES * sizeof(float), "value pool");
    if (!b.pools.values) {
        st = KW_ERR_NOMEM;
        goto out;
    }
    fill_normal(b.pools.values, POOL_VALUES, 0.02f, seed);
    if ((st = add_hparams(b.w, s, ft)) || (st = vocab_build(&v, s->n_vocab)) ||
        (st = add_vocab(b.w, s, &v)) || (st = build_tensors(&b, s, ft)))
        goto out;
    st = gguf_writer_write(b.w, path);
out:
    gguf_writer_free(b.w);
    vocab_free(&v);
    pools_free(&b.pools);
    for (int i = 0; i < b.n_bufs; i++) free(b.bufs[i]);
    free(b.bufs);
    return st;
}
