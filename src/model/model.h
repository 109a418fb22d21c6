/* model.h - the loaded model (immutable: description, hyperparameters, weights, vocabulary) and
 * the context (per-user state: KV cache, scratch buffers, thread pool).
 *
 * Matrices are views into the mmapped GGUF file, or copies in this CPU's panel layout (whose file
 * pages are then dropped); 1-row weights are copied as F32.
 */
#ifndef KAIWU_MODEL_H
#define KAIWU_MODEL_H

#include "gguf/gguf.h"
#include "model/arch.h"
#include "tensor/ops.h"
#include "tokenizer/tokenizer.h"

typedef struct kw_layer {
    kw_weight attn_norm;      /* (n_embd) */
    kw_weight wq, wk, wv;     /* (n_embd -> n_head*head_dim / n_head_kv*head_dim) */
    kw_weight bq, bk, bv;     /* optional biases (data NULL when absent) */
    kw_weight wqkv, bqkv;     /* fused projection (fused_qkv) */
    kw_weight q_norm, k_norm; /* (head_dim), qk_norm */
    kw_weight wo;             /* (n_head*head_dim_v -> n_embd) */
    kw_weight bo;             /* optional */
    kw_weight post_attn_norm; /* (n_embd), post_attn_norm */
    kw_weight ffn_norm;       /* (n_embd) */
    kw_weight w_gate, w_up;   /* (n_embd -> n_ff); fused: w_up holds 2*n_ff rows */
    kw_weight w_down;         /* (n_ff -> n_embd) */
    kw_weight post_ffn_norm;  /* (n_embd), post_ffn_norm */
    bool is_swa;              /* sliding-window layer */
} kw_layer;

struct kw_model {
    kw_gguf *gguf;         /* owned; weights point into its mapping */
    const arch_desc *desc; /* NULL when vocab_only */
    char arch[64];         /* general.architecture, e.g. "llama" (also when not supported) */
    bool vocab_only;       /* the vocabulary (and chat template) only: no weights, no contexts */
    kw_hparams hp;
    tok_vocab *vocab;    /* owned */
    char *name;          /* general.name, owned */
    char *chat_template; /* owned, NULL when absent */
    kw_weight tok_embd;  /* (n_embd, n_vocab) */
    kw_weight output_norm;
    kw_weight output;                /* = tok_embd when tied */
    kw_weight rope_freqs;            /* optional per-pair divisors (llama3 scaling), F32 */
    kw_weight rope_long, rope_short; /* optional LongRoPE factors, F32 */
    kw_layer *layers;                /* n_layer, owned */
    uint64_t n_params;
    uint64_t weight_bytes; /* of the file's tensors */
    void *panels; /* owned: matrices repacked for the panel kernels (kw_weight.panel), or NULL */
    uint64_t panel_bytes; /* its size: these bytes replace the file pages of those matrices */
    void *vectors;        /* owned: the 1-row weights (norms, biases, RoPE factors) as F32 */
};

/* ---------------------------------------------------------------- context */

/* FFN tokens per pass through the gate/up/down matmuls: bounds the FFN scratch (n_ff wide) to this
 * many rows instead of n_batch, while each weight panel still serves many tokens per load. */
#define FFN_SUB_BATCH 128

/* One layer's KV cache: a region per sequence, each laid out as if it were the only one, so the
 * attention kernels run over one sequence's positions exactly as they would with one sequence.
 * The element types (F32, F16, Q8_0) and the layout inside a region belong to kv_cache.c: write
 * through kv_write() and read through kv_key_run()/kv_value_run(), never by hand. */
typedef struct kw_kv_layer {
    uint8_t *k; /* per sequence: F32/F16 keys transposed, (n_head_kv * head_dim, n_slots): value i
                   of the key of position p at element i * n_slots + p % n_slots (attention runs
                   along positions, kernels.h); Q8_0 keys as rows, slot p at byte p * k_row of
                   n_head_kv * head_dim / 32 blocks */
    uint8_t *v; /* per sequence (n_slots, n_head_kv * head_dim_v) rows of v_row bytes (Q8_0: in
                   blocks of 32) */
    int32_t n_slots;     /* positions a sequence's region holds (a ring when < n_ctx) */
    size_t k_seq, v_seq; /* bytes from one sequence's region to the next */
} kw_kv_layer;

/* The cache state of one sequence. */
typedef struct kv_seq {
    int32_t n_past;      /* cached positions 0..n_past-1 */
    int32_t ring_oldest; /* oldest position the rings (sliding-window layers) still hold */
} kv_seq;

/* The element types and row sizes of a context's cache (the same for every layer). */
typedef struct kv_format {
    int32_t type_k, type_v; /* KW_TYPE_F32 / F16 / Q8_0 */
    size_t k_elem;          /* F32/F16 keys: bytes per value (transposed layout); Q8_0: 0 */
    size_t k_row, v_row;    /* Q8_0 keys: bytes per slot row; values: bytes per slot row */
} kv_format;

struct kw_context {
    kw_model *model; /* borrowed */
    int32_t n_ctx, n_batch, n_threads;
    int32_t n_seq;      /* sequences the cache holds (each up to n_ctx positions) */
    int32_t ring_slots; /* slots of the sliding-window rings, 0 when no layer has one */
    kw_pool *pool;      /* owned */
    kw_kv_layer *kv;    /* n_layer, owned */
    kv_seq *seqs;       /* n_seq, owned */
    kv_format kvf;      /* element types and row sizes of the cache */
    int32_t *seq_next;  /* (n_seq) scratch: next position of each sequence while checking */
    int32_t *tok_pos;   /* (n_batch) position of each token of the chunk being evaluated */
    int32_t *tok_seq;   /* (n_batch) its sequence */
    int32_t *blk_start; /* (n_batch + 1) attention blocks of the chunk: token runs of one sequence
                           at consecutive positions, at most ATTN_QBLOCK long (forward.c) */
    uint64_t kv_bytes;
    const float *rope_factors; /* the LongRoPE table chosen for this context size, or rope_freqs */
    /* scratch, sized for n_batch tokens at creation (no allocation per token) */
    float *x;             /* (n_batch, n_embd) residual stream */
    float *h;             /* (n_batch, max(n_embd, attn width)) normed input / attention output */
    float *q;             /* (n_batch, n_head*head_dim) */
    float *k;             /* (n_batch, n_head_kv*head_dim) */
    float *v;             /* (n_batch, n_head_kv*head_dim_v) */
    float *qkv;           /* (n_batch, fused qkv width) */
    float *attn;          /* (n_batch, n_head*head_dim_v) */
    float *ff;            /* (FFN_SUB_BATCH, 2*n_ff) gate|up, then activated */
    float *ff2;           /* (FFN_SUB_BATCH, n_ff) */
    float *scores;        /* (n_threads, ATTN_SCRATCH(group)) per-thread attention tiles */
    op_matmul_scratch mm; /* activations quantized for the matmul kernels, (n_batch, max row) */
    int32_t *out_rows;    /* (n_batch) batch index of each logits row */
    /* logits of the last kw_decode: row_of[i] = index into logits or -1 */
    float *logits;      /* (logits_cap, n_vocab) */
    int32_t logits_cap; /* rows allocated (grows only when a call asks for more rows) */
    int32_t *row_of;    /* (rows_cap) */
    int32_t rows_cap;
    int32_t n_rows_last;         /* rows of the last kw_decode call */
    kw_matmul_observer observer; /* optional, sees every weight matmul's input */
    void *observer_user;
};

/* Runs one chunk (n <= n_batch tokens; token t of sequence ctx->tok_seq[t] at position
 * ctx->tok_pos[t], each continuing its sequence) through the model and advances the sequences;
 * token t's logits go to ctx->logits row row_of[t] (rows of one call are consecutive), or nowhere
 * when row_of[t] < 0. */
kw_status forward_batch(kw_context *ctx, const kw_token *tokens, int32_t n, const int32_t *row_of);

/* Positions per attention tile (forward.c): scores are computed, exponentiated and summed into
 * the outputs one tile at a time with an online softmax, so no score row longer than this is
 * ever held, whatever the context length. */
#define ATTN_TILE 256
/* Tokens of one sequence whose attention runs together over each tile of the cache (prefill): a
 * tile read from memory serves them all, so the cache is read once per block, not per token. */
#define ATTN_QBLOCK 16
/* Floats of one thread's attention scratch for `group` query heads per KV head: one token's tile
 * of scores, then the running max and sum of each head of a block's tokens. */
#define ATTN_SCRATCH(group) ((int64_t)(group) * (ATTN_TILE + 2 * ATTN_QBLOCK))

/* kv_cache.c: allocates / frees the per-layer, per-sequence regions and the sequence table
 * (ctx->kvf must be set: kv_format_init). */
kw_status kv_cache_alloc(kw_context *ctx);
void kv_cache_free(kw_context *ctx);
/* Checks the requested element types against the model (KW_ERR_INVALID_ARG naming the type, or
 * the head size Q8_0 cannot hold) and fills *f. */
kw_status kv_format_init(const kw_model *model, int32_t type_k, int32_t type_v, kv_format *f);
/* Stores one token's key (n_head_kv * head_dim floats) and value (n_head_kv * head_dim_v) at
 * cache slot `slot` of sequence seq, converted to the cache's types. */
void kv_write(const kw_context *ctx, const kw_kv_layer *kv, int32_t seq, int32_t slot,
              const float *k, const float *v);
/* Where KV head g's keys / values of sequence seq start at slot `slot`, in the layout the
 * attention kernel of the cache type reads (kernels.h): *stride is the distance between
 * transposed key rows in elements (F32/F16 keys), between key rows in bytes (Q8_0 keys), between
 * value rows in elements (F32/F16 values) or in bytes (Q8_0 values). */
const void *kv_key_run(const kw_context *ctx, const kw_kv_layer *kv, int32_t seq, int32_t g,
                       int32_t slot, size_t *stride);
const void *kv_value_run(const kw_context *ctx, const kw_kv_layer *kv, int32_t seq, int32_t g,
                         int32_t slot, size_t *stride);
/* Records that sequence seq now holds position pos (after its K/V were written). */
void kv_seq_advance(kw_context *ctx, int32_t seq, int32_t pos);

#endif
