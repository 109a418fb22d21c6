/* train.h - the trainer's internals, shared by the files of src/train: the model configuration
 * and its parameter layout, the model with its activation arena (forward + backward), the
 * optimizer, the data (token streams, batches), checkpoints, GGUF export/import, and the
 * communication between MPI ranks. The public face is kw_train() in kaiwu.h (trainer.c).
 *
 * Lifetimes: train_config and train_layout are plain values; a train_model owns its parameters,
 * gradients and the activation arena planned once per (sequences, sequence length); a token
 * stream owns its ids. Nothing here allocates per step.
 */
#ifndef KAIWU_TRAIN_H
#define KAIWU_TRAIN_H

#include "base/base.h"
#include "tensor/ops_grad.h"
#include "tokenizer/tokenizer.h"

/* ---------------------------------------------------------------- configuration */

/* A llama-architecture model: RMSNorm, RoPE (normal pairs), grouped-query attention, SwiGLU,
 * the token embedding tied to the output layer. */
typedef struct train_config {
    int32_t n_vocab;   /* from the tokenizer, e.g. 8192 */
    int32_t n_embd;    /* e.g. 256 */
    int32_t n_layer;   /* e.g. 8 */
    int32_t n_head;    /* query heads, e.g. 8 */
    int32_t n_head_kv; /* key/value heads, a divisor of n_head, e.g. 4 */
    int32_t head_dim;  /* n_embd / n_head unless set, even, e.g. 32 */
    int32_t n_ff;      /* SwiGLU hidden width, e.g. 704 */
    int32_t n_ctx;     /* context length the model is trained for and written with, e.g. 256 */
    float norm_eps;    /* RMSNorm epsilon, e.g. 1e-5 */
    float rope_base;   /* RoPE theta base, e.g. 10000 */
    float init_std;    /* standard deviation of the initial matrices, e.g. 0.02 */
} train_config;

/* The defaults (n_vocab 0: taken from the tokenizer). */
train_config train_config_default(void);
/* Checks ranges and divisibility; the message names the field and the numbers. */
kw_status train_config_validate(const train_config *c);
/* A one-line description: "8 layers, 256 wide, 8 heads (4 kv) of 32, ffn 704, ctx 256, vocab
 * 8192: 6.55 M parameters". */
void train_config_describe(const train_config *c, char *buf, size_t cap);

/* One parameter tensor inside the contiguous parameter block. */
typedef enum train_init {
    TRAIN_INIT_ONES,     /* norm gains */
    TRAIN_INIT_NORMAL,   /* N(0, init_std) */
    TRAIN_INIT_RESIDUAL, /* N(0, init_std / sqrt(2 n_layer)): projections into the residual */
} train_init;

typedef struct train_tensor {
    char name[48];   /* GGUF name, e.g. "blk.3.attn_q.weight" */
    int64_t n_in;    /* values per row (GGUF ne0) */
    int64_t n_out;   /* rows (GGUF ne1); 1 for a vector */
    size_t offset;   /* of its first value in the block, in floats (a multiple of 16) */
    train_init init; /* how it starts */
    bool decay;      /* weight decay applies (matrices, not norm gains) */
} train_tensor;

typedef struct train_layout {
    train_tensor *t; /* owned, n entries: token_embd, output_norm, then per layer in GGUF order */
    int n;
    size_t n_floats;   /* size of the block (each tensor padded to 16 floats) */
    uint64_t n_params; /* sum of the tensors' sizes */
} train_layout;

kw_status train_layout_build(const train_config *c, train_layout *out);
void train_layout_free(train_layout *l);
/* The entry with this name, or NULL. */
const train_tensor *train_layout_find(const train_layout *l, const char *name);

/* Views of one layer's tensors inside a block laid out by train_layout (params or grads). */
typedef struct train_layer_view {
    float *attn_norm; /* (n_embd) */
    float *wq;        /* (n_head * head_dim, n_embd) */
    float *wk, *wv;   /* (n_head_kv * head_dim, n_embd) */
    float *wo;        /* (n_embd, n_head * head_dim) */
    float *ffn_norm;  /* (n_embd) */
    float *w_gate;    /* (n_ff, n_embd) */
    float *w_up;      /* (n_ff, n_embd) */
    float *w_down;    /* (n_embd, n_ff) */
} train_layer_view;

typedef struct train_view {
    float *tok_embd;         /* (n_vocab, n_embd): input embedding and output layer */
    float *output_norm;      /* (n_embd) */
    train_layer_view *layer; /* n_layer, owned */
} train_view;

kw_status train_view_make(const train_layout *l, const train_config *c, float *block,
                          train_view *out);
void train_view_free(train_view *v);

/* ---------------------------------------------------------------- random numbers */

/* xoshiro256** seeded through splitmix64: the trainer's only source of randomness. */
typedef struct train_rng {
    uint64_t s[4];
} train_rng;

void train_rng_seed(train_rng *r, uint64_t seed);
uint64_t train_rng_next(train_rng *r);
/* Uniform in [0, n) without modulo bias (n >= 1). */
uint64_t train_rng_below(train_rng *r, uint64_t n);
/* A standard normal deviate (Box-Muller, in double). */
double train_rng_normal(train_rng *r);
/* FNV-1a 64 of bytes, continuing from h (start with TRAIN_HASH_SEED). */
uint64_t train_hash(uint64_t h, const void *data, size_t n);
#define TRAIN_HASH_SEED 0xcbf29ce484222325ull

/* ---------------------------------------------------------------- the model */

/* Activations kept for backward, for n_seq sequences of seq_len tokens (n = n_seq * seq_len rows),
 * per layer (l): */
typedef struct train_acts {
    float *x;     /* (n_layer + 1, n, n_embd): residual stream entering each layer; [n_layer] is
                     the stream after the last one */
    float *x_mid; /* (n_layer, n, n_embd): after the attention residual */
    float *h1;    /* (n_layer, n, n_embd): attention norm output */
    float *rstd1; /* (n_layer, n) */
    float *q;     /* (n_layer, n, n_head * head_dim): after RoPE */
    float *k;     /* (n_layer, n, n_head_kv * head_dim): after RoPE */
    float *v;     /* (n_layer, n, n_head_kv * head_dim) */
    float *probs; /* (n_layer, n_seq, n_head, seq_len, seq_len): attention softmax */
    float *att;   /* (n_layer, n, n_head * head_dim): attention output, before Wo */
    float *h2;    /* (n_layer, n, n_embd): FFN norm output */
    float *rstd2; /* (n_layer, n) */
    float *gate;  /* (n_layer, n, n_ff) */
    float *up;    /* (n_layer, n, n_ff) */
    float *act;   /* (n_layer, n, n_ff): SiLU(gate) * up */
    float *hf;    /* (n, n_embd): final norm output */
    float *rstdf; /* (n) */
} train_acts;

/* Scratch of the backward pass (one set, reused by every layer). */
typedef struct train_scratch {
    float *dx;          /* (n, n_embd): gradient of the residual stream */
    float *dh;          /* (n, n_embd) */
    float *dq, *dq_pre; /* (n, n_head * head_dim): after / before RoPE */
    float *dk, *dk_pre; /* (n, n_head_kv * head_dim) */
    float *dv;          /* (n, n_head_kv * head_dim) */
    float *datt;        /* (n, n_head * head_dim) */
    float *dgate, *dup; /* (n, n_ff) */
    float *dact;        /* (n, n_ff) */
    float *attn_tmp;    /* (n_threads, seq_len, seq_len): dS of attention backward */
    float *norm_part;   /* (n / TRAIN_ROWS_PER_CHUNK + 1, n_embd): per-chunk norm-gain sums */
    float *probs;       /* (TRAIN_XENT_ROWS, n_vocab): logits / probabilities of cross-entropy */
    float *loss;        /* (TRAIN_XENT_ROWS) per-row losses */
    float *weight;      /* (n) per-row loss weights */
} train_scratch;

/* Rows per chunk of the per-token steps on the pool (fixed: sums over chunks are the same for any
 * thread count). */
#define TRAIN_ROWS_PER_CHUNK 16
/* Rows of one cross-entropy block (its probabilities, n_vocab wide, are the largest scratch). */
#define TRAIN_XENT_ROWS 512

typedef struct train_model {
    train_config cfg;
    train_layout layout;
    float *params, *grads; /* owned (64-byte aligned), layout.n_floats each */
    train_view w, g;       /* views of params and grads */
    /* planned for (n_seq, seq_len) on n_threads threads by train_model_plan */
    int32_t n_seq, seq_len, n_threads;
    float *arena; /* owned: every activation and scratch buffer */
    size_t arena_floats;
    train_acts a;
    train_scratch s;
    float *rope_cs; /* (seq_len, head_dim): cos/sin per position and pair */
} train_model;

/* A model with its parameter and gradient blocks (zeroed); no arena yet. */
kw_status train_model_create(const train_config *cfg, train_model **out);
void train_model_free(train_model *m);
/* Allocates the arena for batches of n_seq sequences of seq_len tokens (once; a new plan frees
 * the old arena). */
kw_status train_model_plan(train_model *m, int32_t n_seq, int32_t seq_len, int32_t n_threads);
/* Bytes the arena of a plan takes (to report, or to refuse a plan that cannot fit). */
uint64_t train_model_arena_bytes(const train_config *cfg, int32_t n_seq, int32_t seq_len,
                                 int32_t n_threads);
/* Deterministic initial parameters: each tensor from its own stream seeded by (seed, name). */
void train_model_init(train_model *m, uint64_t seed);
void train_model_zero_grad(train_model *m);

/* One forward pass over tokens (n_seq, seq_len) with targets (same shape; < 0: no loss at that
 * row) and, when backward, the backward pass adding into m->grads with row weights weight (the
 * factor of each row's loss in the objective, e.g. 1 / targets in the global batch). Returns
 * the sum of the per-row losses (nats) over rows with a target; *n_targets gets their count. */
double train_model_step(train_model *m, kw_pool *pool, const int32_t *tokens,
                        const int32_t *targets, const float *weight, bool backward,
                        int64_t *n_targets);

/* The backward pass (train_backward.c), after a forward that kept its activations and a
 * cross-entropy backward that left the final norm's input gradient in m->s.dh. */
void train_model_backward(train_model *m, kw_pool *pool, const int32_t *tokens);

/* ---------------------------------------------------------------- optimizer */

typedef struct train_optim {
    float lr;           /* peak learning rate, e.g. 1e-3 */
    float min_lr;       /* floor of the cosine decay, e.g. 1e-4 */
    int32_t warmup;     /* linear warmup steps, e.g. 100 */
    int32_t n_steps;    /* total steps (the cosine ends there) */
    float beta1, beta2; /* 0.9, 0.95 */
    float eps;          /* 1e-8 */
    float weight_decay; /* decoupled, on matrices only, e.g. 0.1 */
    float grad_clip;    /* global L2 norm limit, 0 = off, e.g. 1.0 */
} train_optim;

/* Learning rate of step (0-based): linear warmup to lr, then cosine down to min_lr at n_steps. */
float train_lr_at(const train_optim *o, int64_t step);
/* Global L2 norm of the n gradients (summed in double over fixed chunks, in order). */
double train_grad_norm(kw_pool *pool, const float *g, size_t n);
/* One AdamW update of every parameter: moments m, v (same layout), step t (1-based) for the bias
 * correction, grad_scale multiplying every gradient first (clipping); decay as the layout says. */
void train_adamw_step(kw_pool *pool, const train_layout *l, float *params, const float *grads,
                      float *m, float *v, const train_optim *o, float lr, int64_t t,
                      float grad_scale);

/* ---------------------------------------------------------------- data */

/* Token ids of a corpus: documents back to back, each as BOS doc EOS; for SFT also a mask (1 where
 * the token is the model's to predict: assistant turns) and document starts. */
typedef struct token_stream {
    int32_t *ids;  /* owned, n */
    uint8_t *mask; /* owned, n, or NULL (every token counts) */
    int64_t *docs; /* owned, n_docs + 1 offsets of document starts (the last = n) */
    int64_t n, n_docs;
} token_stream;

void token_stream_free(token_stream *s);

/* Tokenizes a text of documents separated by empty lines ("\n\n"; see docs/training.md) with
 * vocab (BOS/EOS around each document, no special-token parsing inside), reusing the cache file
 * in cache_dir when its hashes of text and vocabulary match, else writing it (temp + rename).
 * cache_dir NULL: no cache. Work is split over the pool by documents. */
kw_status token_stream_from_text(const tok_vocab *vocab, uint64_t vocab_hash, const char *path,
                                 const char *cache_dir, kw_pool *pool, token_stream *out);

/* Reads a token cache file (layout in token_data.c) when it exists and its hashes match; KW_OK
 * with out->ids NULL when it does not exist or is stale; KW_ERR_FORMAT when damaged. */
kw_status token_cache_read(const char *path, uint64_t text_hash, uint64_t vocab_hash,
                           token_stream *out);

/* The batches of a run: which tokens each sequence of each step holds. Pretraining takes
 * windows of seq_len + 1 tokens at a random shift, in a random order per epoch; SFT packs whole
 * conversations (in a random order per epoch) into sequences, the rest padded and masked. */
typedef struct batch_state {
    uint64_t epoch;  /* epochs begun */
    uint64_t cursor; /* next window / conversation of this epoch */
} batch_state;

typedef struct batch_source {
    const token_stream *stream; /* borrowed */
    bool packed;                /* SFT: whole documents packed (mask honoured) */
    int32_t seq_len;
    uint64_t seed;
    batch_state st;
    /* the current epoch's order */
    int64_t shift;         /* pretraining: offset of window 0 */
    int64_t n_units;       /* windows or documents per epoch */
    int64_t *order;        /* owned: a permutation of [0, n_units) */
    int32_t pad;           /* token used for padding (EOS) */
    int64_t *eval_start;   /* packed: owned, first document of each evaluation sequence */
    int64_t n_eval_packed; /* packed: evaluation sequences */
} batch_source;

kw_status batch_source_init(batch_source *b, const token_stream *s, int32_t seq_len, bool packed,
                            uint64_t seed, int32_t pad);
void batch_source_free(batch_source *b);
/* Moves to a saved position (the epoch's order is rebuilt from the seed). */
kw_status batch_source_seek(batch_source *b, batch_state st);
/* Fills one sequence: tokens[seq_len] inputs, targets[seq_len] the next tokens (-1 where no
 * loss: masked or padding). Advances the position. */
void batch_source_next(batch_source *b, int32_t *tokens, int32_t *targets);
/* Sequence i (0-based) of the fixed evaluation grid: windows at offsets i * seq_len (or packed
 * documents in order). False past the end. */
bool batch_source_eval(const batch_source *b, int64_t i, int32_t *tokens, int32_t *targets);
int64_t batch_source_n_eval(const batch_source *b);

/* Conversations of an OpenAI-style JSONL file rendered through the chat template of model and
 * tokenized as kaiwu's chat does (kw_chat_render + kw_chat_tokenize), mask = assistant turns
 * (their content and end-of-turn). Every val_every-th conversation (0: none) goes to val. */
kw_status sft_streams_from_jsonl(const kw_model *model, const char *path, int32_t val_every,
                                 token_stream *train, token_stream *val, int64_t *n_truncated,
                                 int32_t max_len);

/* ---------------------------------------------------------------- checkpoints */

/* What a checkpoint says besides the arrays (checkpoint.c has the file layout). */
typedef struct train_ckpt_meta {
    train_config cfg;
    train_optim opt;
    uint64_t seed;
    int64_t step;        /* optimizer steps done */
    int64_t tokens_seen; /* training tokens (target rows) so far, all ranks */
    batch_state data;    /* position of the training batches */
    uint64_t data_hash;  /* of the token stream trained on (a resume must see the same data) */
    uint64_t vocab_hash; /* of the tokenizer's vocabulary */
    int32_t batch;       /* sequences per optimizer step (all ranks) */
    int32_t micro_batch; /* sequences per forward/backward pass on one rank */
    int32_t seq_len;
    int32_t n_ranks; /* MPI ranks of the run (another count sums gradients in another order) */
    bool sft;
    double last_loss;     /* training loss of the last step */
    double last_val_loss; /* last evaluation, or -1 */
} train_ckpt_meta;

kw_status train_checkpoint_save(const char *path, const train_ckpt_meta *meta, const float *params,
                                const float *m, const float *v, size_t n_floats);
/* The header alone (to build the model), and the arrays' length. */
kw_status train_checkpoint_read_meta(const char *path, train_ckpt_meta *meta, size_t *n_floats);
/* The three arrays into the caller's buffers of n_floats each, after the checksum matched. */
kw_status train_checkpoint_read_state(const char *path, float *params, float *m, float *v,
                                      size_t n_floats);

/* ---------------------------------------------------------------- GGUF (train_gguf.c) */

/* Where the model came from, written under general.training.* */
typedef struct train_provenance {
    const char *name;    /* general.name, e.g. "kaiwu-shi" */
    const char *stage;   /* "pretrain" or "sft" */
    const char *corpus;  /* e.g. "chinese-poetry 2.0.1 (npm)" */
    const char *command; /* the command line that trained it */
    int64_t steps;       /* optimizer steps of this stage */
    int64_t tokens;      /* training tokens of this stage */
    double val_loss;     /* final validation loss (nats per token), -1 when not evaluated */
    const kw_gguf *base; /* the model fine-tuned from (its provenance is kept), or NULL */
} train_provenance;

/* Writes m as a llama-architecture F32 GGUF with tokenizer's tokenizer.* keys. */
kw_status train_export_gguf(const char *path, const train_model *m, const kw_gguf *tokenizer,
                            const train_provenance *p);
/* The configuration of a llama GGUF with tied embeddings (to continue training it). */
kw_status train_config_from_gguf(const kw_gguf *g, train_config *out);
/* Its tensors into m's parameters (F32, F16 or BF16; shapes checked). */
kw_status train_params_from_gguf(const kw_gguf *g, train_model *m);

/* ---------------------------------------------------------------- run settings */

/* A run's settings after defaults, the config file and the caller's values (train_options.c). */
typedef struct train_opts {
    train_config cfg; /* n_vocab filled in from the tokenizer later */
    train_optim opt;
    int32_t batch;       /* sequences per optimizer step, all ranks */
    int32_t micro_batch; /* sequences per pass on one rank */
    int32_t seq;
    int32_t eval_every, eval_batches, checkpoint_every, stop_after;
    int32_t n_threads;
    uint64_t seed;
} train_opts;

kw_status train_opts_resolve(const kw_train_params *p, int n_ranks, train_opts *o);

/* ---------------------------------------------------------------- files (train_io.c) */

/* Writes the n parts back to back to path.tmp, flushes it to disk and renames it over path: a
 * reader never sees a partial file. On failure path is untouched and path.tmp removed. */
kw_status train_file_write(const char *path, const void *const *parts, const size_t *lens, int n);
/* Creates dir and its missing parents (like mkdir -p). */
kw_status train_mkdirs(const char *dir);
/* realloc with a KW_ERR_NOMEM message naming what; NULL on failure (p untouched). */
void *train_realloc(void *p, size_t size, const char *what);

/* ---------------------------------------------------------------- communication (MPI) */

/* One process, or this rank's view of an MPI job (train_mpi.c; without MPI built in, always a
 * single rank). */
typedef struct train_comm {
    int rank, size;
    bool mpi; /* MPI was initialised by us (finalise at the end) */
} train_comm;

/* Joins the MPI job when started by mpirun (the environment says so), else a single rank. */
kw_status train_comm_init(train_comm *c);
void train_comm_finish(train_comm *c);
/* Sums n floats over all ranks in place (every rank gets the sum); a no-op for one rank. */
kw_status train_comm_allreduce_sum(const train_comm *c, float *data, size_t n);
/* Sums n doubles likewise. */
kw_status train_comm_allreduce_sum_f64(const train_comm *c, double *data, size_t n);
/* Rank 0's n bytes to every rank. */
kw_status train_comm_broadcast(const train_comm *c, void *data, size_t n);
/* Whether MPI support is compiled in. */
bool train_comm_available(void);

#endif
