/* kaiwu.h - the public C API of kaiwu (开物): run large language models from GGUF files on the CPU.
 *
 * Everything the `kaiwu` command does goes through this header. Overview:
 *
 *     kw_model *model;
 *     if (kw_model_load("model.gguf", NULL, &model) != KW_OK) { puts(kw_last_error()); return 1; }
 *     kw_context_params cp = kw_context_default_params();
 *     cp.n_ctx = 2048;
 *     kw_context *ctx;
 *     kw_context_create(model, &cp, &ctx);
 *     kw_token toks[512]; int32_t n;
 *     kw_tokenize(model, "Hello", 5, true, true, toks, 512, &n);
 *     kw_decode(ctx, toks, NULL, n, NULL);            // positions 0..n-1, logits for the last
 * token const float *logits = kw_get_logits(ctx, n - 1); // n_vocab floats
 *     ...
 *     kw_context_free(ctx);
 *     kw_model_free(model);
 *
 * Conventions
 *  - Functions that can fail return kw_status (or NULL) and leave a message for kw_last_error()
 *    that names what failed, where, and the numbers involved. On failure, output parameters are
 *    left untouched unless stated otherwise.
 *  - Ownership is stated per pointer: "owned by the caller" (free it with the named function),
 *    "borrowed" (valid until the named event), or "copied" (the callee keeps its own copy).
 *  - A kw_model is immutable after loading and may be shared by many contexts and threads.
 *    A kw_context and a kw_sampler belong to one thread at a time.
 */
#ifndef KAIWU_H
#define KAIWU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define KW_VERSION "0.1.0"

/* ------------------------------------------------------------------------------------------------
 * Status and errors
 * ---------------------------------------------------------------------------------------------- */

typedef enum kw_status {
    KW_OK = 0,
    KW_ERR_IO,           /* a file could not be opened, read or written */
    KW_ERR_FORMAT,       /* malformed input: a GGUF file, a vocabulary, a template, ... */
    KW_ERR_UNSUPPORTED,  /* well-formed but not supported: an architecture, a tensor type, ... */
    KW_ERR_INVALID_ARG,  /* a caller error: a NULL pointer, a size out of range, ... */
    KW_ERR_NOMEM,        /* an allocation failed */
    KW_ERR_CONTEXT_FULL, /* the tokens do not fit the context (the message gives both numbers) */
    KW_ERR_BUFFER_SMALL, /* an output buffer is too small; the needed size is reported */
    KW_ERR_INTERNAL,     /* a broken invariant: a bug in kaiwu */
} kw_status;

/* The message of the last failure on this thread (thread-local; borrowed: valid until the next
 * call on this thread of a function that can fail: each starts with an empty message). It reads
 * outermost first and ends with the root cause, which is never overwritten: "quantizing 'm.gguf':
 * cannot write 'o.gguf': No space left on device". "" when nothing failed yet. Never NULL. */
const char *kw_last_error(void);

/* A short constant name for a status ("format error", ...). Never NULL; static storage. */
const char *kw_status_str(kw_status status);

/* ------------------------------------------------------------------------------------------------
 * GGUF inspection (what `kaiwu info` shows): a read-only view of any GGUF file, runnable or not
 * ---------------------------------------------------------------------------------------------- */

typedef struct kw_gguf kw_gguf;

/* Opens and validates a GGUF file (mmap; every offset and length is checked before use).
 * On success *out is owned by the caller: free with kw_gguf_close(). */
kw_status kw_gguf_open(const char *path, kw_gguf **out);
void kw_gguf_close(kw_gguf *g); /* NULL is allowed */

uint32_t kw_gguf_version(const kw_gguf *g);
uint64_t kw_gguf_file_size(const kw_gguf *g);
uint64_t kw_gguf_data_offset(const kw_gguf *g); /* where tensor data begins */
uint32_t kw_gguf_alignment(const kw_gguf *g);

int64_t kw_gguf_n_kv(const kw_gguf *g);
/* Key of metadata entry i (borrowed, valid until kw_gguf_close; NUL-terminated). */
const char *kw_gguf_kv_key(const kw_gguf *g, int64_t i);
/* The value's type name ("u32", "string", "array[string]", ...); static storage. */
const char *kw_gguf_kv_type_name(const kw_gguf *g, int64_t i);
/* Writes a printable rendering of value i into buf (at most cap bytes, NUL-terminated, arrays
 * abbreviated after max_items elements). Returns the length it wanted (like snprintf). */
size_t kw_gguf_kv_format(const kw_gguf *g, int64_t i, char *buf, size_t cap, int max_items);

int64_t kw_gguf_n_tensors(const kw_gguf *g);
typedef struct kw_tensor_info {
    const char *name;      /* borrowed, valid until kw_gguf_close */
    const char *type_name; /* "F16", "Q4_K", ...; static storage */
    int32_t type;          /* the GGUF/ggml type id */
    int32_t n_dims;
    int64_t ne[4];   /* dims, ne[0] innermost (a row); unused dims are 1 */
    uint64_t offset; /* absolute file offset of the data */
    uint64_t n_bytes;
} kw_tensor_info;
kw_status kw_gguf_tensor(const kw_gguf *g, int64_t i, kw_tensor_info *out);

/* ------------------------------------------------------------------------------------------------
 * Models
 * ---------------------------------------------------------------------------------------------- */

typedef int32_t kw_token;
typedef struct kw_model kw_model;

typedef struct kw_model_params {
    bool verbose; /* print one line on stderr: what was loaded, weight and repacked sizes, time */
    bool vocab_only; /* load the vocabulary (and name, chat template) only, skipping the weights:
                        tokenizing a big model without its load time and memory */
} kw_model_params;

/* Loads a model (weights are mmapped, not copied). params may be NULL for the defaults (all
 * false). A file without tensors (a vocabulary file such as llama.cpp's ggml-vocab-*.gguf) loads
 * as vocabulary-only, as does any file with params->vocab_only: tokenizing, detokenizing, the
 * chat template and kw_chat_* rendering work, whatever the architecture; kw_context_create
 * refuses it with KW_ERR_INVALID_ARG and a message saying so.
 * On success *out is owned by the caller: free with kw_model_free() after every context made from
 * it has been freed. Errors name the offending key or tensor and the numbers involved. */
kw_status kw_model_load(const char *path, const kw_model_params *params, kw_model **out);
void kw_model_free(kw_model *model); /* NULL is allowed */

/* Short descriptions of the model. Strings are borrowed (valid until kw_model_free). A
 * vocabulary-only model has n_vocab; its other sizes are 0. */
const char *kw_model_arch(const kw_model *model); /* GGUF architecture, e.g. "llama" */
/* kaiwu description used, e.g. "llama"; "" for a vocabulary-only model */
const char *kw_model_family(const kw_model *model);
bool kw_model_vocab_only(const kw_model *model);  /* loaded without weights (see kw_model_load) */
const char *kw_model_name(const kw_model *model); /* general.name or "" */
const char *kw_model_tokenizer_kind(const kw_model *model); /* "spm" or "bpe" */
const char *kw_model_chat_template(const kw_model *model);  /* NULL when the file has none */
int32_t kw_model_n_vocab(const kw_model *model);
int32_t kw_model_n_ctx_train(const kw_model *model);
int32_t kw_model_n_embd(const kw_model *model);
int32_t kw_model_n_layer(const kw_model *model);
int32_t kw_model_n_head(const kw_model *model);
int32_t kw_model_n_head_kv(const kw_model *model);
int32_t kw_model_head_dim(const kw_model *model);
int32_t kw_model_n_ff(const kw_model *model);
uint64_t kw_model_n_params(const kw_model *model);
uint64_t kw_model_weight_bytes(const kw_model *model);
/* Writes a multi-line human description of hyperparameters (RoPE, norms, scales) into buf;
 * returns the length it wanted (like snprintf). */
size_t kw_model_describe(const kw_model *model, char *buf, size_t cap);

/* The names of the architectures kaiwu can run, comma separated (static storage). */
const char *kw_supported_architectures(void);

/* ------------------------------------------------------------------------------------------------
 * Tokens
 * ---------------------------------------------------------------------------------------------- */

#define KW_TOKEN_NONE (-1)

kw_token kw_token_bos(const kw_model *model); /* KW_TOKEN_NONE when the model has none */
kw_token kw_token_eos(const kw_model *model);
kw_token kw_token_eot(const kw_model *model);
bool kw_model_add_bos(const kw_model *model); /* whether tokenizing adds BOS (metadata rule) */
/* True for every id that ends generation (EOS, EOT, EOM, ... as the model declares them). */
bool kw_token_is_eog(const kw_model *model, kw_token token);
/* True for control / user-defined / unknown tokens (rendered as their text, not pieces). */
bool kw_token_is_special(const kw_model *model, kw_token token);

/* Tokenizes len bytes of text. add_special: add BOS/EOS as the model's metadata says.
 * parse_special: recognise special-token text ("<|im_end|>") as the special token.
 * Writes at most cap ids to out and the count to *n_out. When cap is too small, returns
 * KW_ERR_BUFFER_SMALL with *n_out set to the count needed. */
kw_status kw_tokenize(const kw_model *model, const char *text, size_t len, bool add_special,
                      bool parse_special, kw_token *out, int32_t cap, int32_t *n_out);

/* The bytes of one token's text piece (SPM "▁" becomes a space, byte tokens become their byte).
 * Special tokens give their text when render_special, else nothing. Returns the piece length;
 * writes at most cap bytes (no NUL). Invalid ids give -1. */
int32_t kw_token_to_piece(const kw_model *model, kw_token token, char *buf, int32_t cap,
                          bool render_special);

/* Detokenizes a whole sequence into buf (NUL-terminated when it fits): the text the tokens stand
 * for (SPM: the one space added in front of the text is removed; byte-level BPE vocabularies that
 * call for it get the usual clean-up of spaces before punctuation). Special tokens give their text
 * when render_special. Returns the length it wanted (like snprintf), -1 on a bad id. */
int64_t kw_detokenize(const kw_model *model, const kw_token *tokens, int32_t n, char *buf,
                      size_t cap, bool render_special);

/* Streaming detokenizer: feed tokens one at a time and get back only whole UTF-8 characters,
 * holding back an incomplete sequence until its continuation bytes arrive. */
typedef struct kw_detok_stream {
    const kw_model *model; /* borrowed */
    bool render_special;
    bool at_start;      /* drop the SPM leading space of the first piece */
    uint8_t pending[8]; /* bytes of an incomplete UTF-8 character */
    int32_t n_pending;
} kw_detok_stream;
void kw_detok_stream_init(kw_detok_stream *s, const kw_model *model, bool render_special,
                          bool strip_leading_space);
/* Appends the complete characters now available to out (at most cap bytes, no NUL); returns the
 * count written. cap >= 64 always suffices for one token's piece. */
int32_t kw_detok_stream_push(kw_detok_stream *s, kw_token token, char *out, int32_t cap);
/* Flushes held-back bytes at the end of a stream (invalid UTF-8 becomes U+FFFD). */
int32_t kw_detok_stream_flush(kw_detok_stream *s, char *out, int32_t cap);

/* ------------------------------------------------------------------------------------------------
 * Contexts: KV cache and evaluation
 * ---------------------------------------------------------------------------------------------- */

typedef struct kw_context kw_context;

/* The most worker threads a context, a quantization or a probe accepts: one limit for the library
 * and every front end (kaiwu -t). */
#define KW_MAX_THREADS 256

typedef struct kw_context_params {
    int32_t n_ctx;     /* tokens the KV cache holds; 0 = the model's training context */
    int32_t n_batch;   /* most tokens per kw_decode call (scratch is sized for it); 0 = 512 */
    int32_t n_threads; /* worker threads for evaluation, 1..KW_MAX_THREADS; 0 = number of CPU cores
                          (at most KW_MAX_THREADS) */
    int32_t n_seq_max; /* sequences the KV cache holds, each up to n_ctx tokens (0 = 1); see
                          "Batches and sequences" below */
    /* Element types of the cached keys and values (llama.cpp's -ctk / -ctv): KW_TYPE_F16 (the
     * default), KW_TYPE_F32 or KW_TYPE_Q8_0 (half F16's size; needs head sizes that are
     * multiples of 32). Any other value fails kw_context_create with KW_ERR_INVALID_ARG. */
    int32_t cache_type_k, cache_type_v;
} kw_context_params;

/* Element types a KV cache may hold (the ggml type ids; docs/performance.md gives their sizes and
 * measured effect on the output). */
enum { KW_TYPE_F32 = 0, KW_TYPE_F16 = 1, KW_TYPE_Q8_0 = 8 };

/* "f32", "f16" or "q8_0" for those types (the names -ctk/-ctv take), NULL for any other. */
const char *kw_cache_type_name(int32_t type);
/* The type of such a name (case-insensitive), or -1 when it is none of them. */
int32_t kw_cache_type_from_name(const char *name);

kw_context_params kw_context_default_params(void);

/* Creates a context: all memory (KV cache, scratch) is allocated here, none per token.
 * n_ctx above the model's training context works but warns on stderr (kw_log level 0: the model
 * was not trained for it). n_threads above KW_MAX_THREADS fails with KW_ERR_INVALID_ARG.
 * On success *out is owned by the caller: free with kw_context_free(). The model is borrowed
 * and must outlive the context. */
kw_status kw_context_create(kw_model *model, const kw_context_params *params, kw_context **out);
void kw_context_free(kw_context *ctx); /* NULL is allowed */

int32_t kw_context_n_ctx(const kw_context *ctx);
int32_t kw_context_n_batch(const kw_context *ctx);
/* Bytes the KV cache holds, keys and values of every layer and sequence in their element types
 * (the memory the context allocated for them). */
uint64_t kw_context_kv_bytes(const kw_context *ctx);
/* Bytes of the KV cache that evaluating one token at position n_past reads (each layer's keys and
 * values of the positions it attends: all of 0..n_past, or a sliding window's), for benchmarks'
 * bytes-per-token figures. */
uint64_t kw_context_kv_bytes_read(const kw_context *ctx, int32_t n_past);
/* The element types of the context's cached keys and values (KW_TYPE_*). */
int32_t kw_context_cache_type_k(const kw_context *ctx);
int32_t kw_context_cache_type_v(const kw_context *ctx);
/* Number of cached positions (the next position to evaluate when decoding sequentially). */
int32_t kw_context_n_past(const kw_context *ctx);

/* Evaluates n tokens. pos: the position of each token (NULL = n_past, n_past+1, ...). Positions
 * must continue the cache: token i at pos[i] sees all cached positions < pos[i] and the batch's
 * earlier tokens. want_logits: which rows to keep (NULL = only the last). Batches longer than
 * n_batch are split internally. Fails with KW_ERR_CONTEXT_FULL when a position is >= n_ctx. */
kw_status kw_decode(kw_context *ctx, const kw_token *tokens, const int32_t *pos, int32_t n,
                    const bool *want_logits);

/* Logits (n_vocab floats) of row i of the last kw_decode call; NULL if that row was not requested.
 * Borrowed: valid until the next kw_decode or kw_context_free. */
const float *kw_get_logits(kw_context *ctx, int32_t i);

/* Drops cached positions >= pos (pos = 0 clears the cache). A sliding-window layer keeps only its
 * window, so going back further than it still holds clears more: kw_context_n_past tells where
 * evaluation must resume. */
void kw_context_truncate(kw_context *ctx, int32_t pos);

/* Called before every weight matrix product with its input: weight name (borrowed, valid during
 * the call), x (n_tok rows of n_in floats, borrowed). For importance-matrix statistics. */
typedef void (*kw_matmul_observer)(void *user, const char *weight_name, const float *x,
                                   int64_t n_in, int64_t n_tok);
/* Installs (fn != NULL) or removes (fn == NULL) the observer; user is passed through. */
void kw_context_set_observer(kw_context *ctx, kw_matmul_observer fn, void *user);

/* ------------------------------------------------------------------------------------------------
 * Batches and sequences: many independent token sequences (conversations, requests) evaluated
 * together. A context made with n_seq_max = S keeps S sequences (ids 0..S-1), each with its own
 * KV cache of up to n_ctx positions. One kw_decode_batch call evaluates tokens of any of them in
 * one forward pass, so every weight matrix is read once for all of them. The single-sequence
 * calls above (kw_decode, kw_context_n_past, kw_context_truncate) act on sequence 0.
 * ---------------------------------------------------------------------------------------------- */

typedef int32_t kw_seq_id;

/* Row i: token[i] of sequence seq_id[i] at position pos[i]; logits[i] asks for its logits.
 * The arrays are owned by whoever filled the struct: kw_batch_init allocates them (free with
 * kw_batch_free), or point them at your own arrays of n_tokens entries. */
typedef struct kw_batch {
    int32_t n_tokens;
    kw_token *token;
    int32_t *pos;
    kw_seq_id *seq_id;
    bool *logits;
    int32_t cap; /* rows kw_batch_init allocated (0 for caller-owned arrays) */
} kw_batch;

/* Allocates room for cap rows; *b starts empty. KW_ERR_NOMEM leaves *b zeroed. */
kw_status kw_batch_init(kw_batch *b, int32_t cap);
void kw_batch_free(kw_batch *b);  /* frees what kw_batch_init allocated and zeroes *b */
void kw_batch_clear(kw_batch *b); /* n_tokens = 0 */
/* Appends one row; KW_ERR_BUFFER_SMALL when the batch already holds cap rows. */
kw_status kw_batch_add(kw_batch *b, kw_token token, int32_t pos, kw_seq_id seq, bool logits);

/* Evaluates every row of the batch in one forward pass (split into chunks of n_batch tokens).
 * Each sequence's rows must continue its cache in order: the first at kw_seq_n_past(seq), the
 * next one further, and so on; rows of different sequences may be interleaved. A row sees its own
 * sequence's cached positions and its sequence's earlier rows, nothing of other sequences.
 * Logits of row i: kw_get_logits(ctx, i). Fails without changing the cache with
 * KW_ERR_INVALID_ARG (a bad token, sequence id or position; the message names the row) or
 * KW_ERR_CONTEXT_FULL (a sequence would pass n_ctx; both numbers named). */
kw_status kw_decode_batch(kw_context *ctx, const kw_batch *batch);

int32_t kw_context_n_seq(const kw_context *ctx);   /* n_seq_max of the context */
kw_model *kw_context_model(const kw_context *ctx); /* the model (borrowed, as at creation) */
/* Cached positions of sequence seq (0 for an id out of range). */
int32_t kw_seq_n_past(const kw_context *ctx, kw_seq_id seq);
/* Drops the cached positions >= pos of one sequence, as kw_context_truncate does for sequence 0
 * (a sliding window may force it further back: kw_seq_n_past tells where to resume). */
void kw_seq_truncate(kw_context *ctx, kw_seq_id seq, int32_t pos);
/* Empties sequence seq (kw_seq_truncate to 0); its slot is free for another request. */
void kw_seq_remove(kw_context *ctx, kw_seq_id seq);
/* Makes sequence dst hold the first n_pos cached positions of sequence src (n_pos < 0 or beyond
 * src's cache: all of them), so a shared prefix (a system prompt) is computed once: copying the
 * cache costs far less than evaluating it again. dst's previous content is dropped; src is
 * unchanged. When src's sliding-window rings no longer hold what dst's next position must see,
 * dst gets less (possibly nothing): kw_seq_n_past(dst) tells. KW_ERR_INVALID_ARG for an id out
 * of range; src == dst truncates. */
kw_status kw_seq_copy(kw_context *ctx, kw_seq_id src, kw_seq_id dst, int32_t n_pos);

/* ------------------------------------------------------------------------------------------------
 * Sampling
 * ---------------------------------------------------------------------------------------------- */

typedef struct kw_sampler kw_sampler;

typedef struct kw_sampler_params {
    float temperature;       /* <= 0: greedy (argmax, lowest id on ties) */
    int32_t top_k;           /* <= 0: off */
    float top_p;             /* >= 1: off */
    float min_p;             /* <= 0: off */
    float repeat_penalty;    /* 1: off */
    int32_t repeat_last_n;   /* window for the three penalties; 0: off, -1: whole history */
    float presence_penalty;  /* 0: off */
    float frequency_penalty; /* 0: off */
    uint64_t seed;
    /* Grammar stage (docs/structured-output.md): GBNF text, copied at create; NULL = none. The
     * mask is applied to the logits before every other stage; EOS/EOG ids are allowed only where
     * the grammar accepts. grammar_root names the start rule (NULL = "root"). */
    const char *grammar;
    const char *grammar_root;
} kw_sampler_params;

kw_sampler_params kw_sampler_default_params(void);

/* The sampler chain, as explicit stages: grammar mask -> penalties -> top-k -> top-p -> min-p ->
 * temperature -> draw. A grammar that does not parse fails the create (KW_ERR_INVALID_ARG, the
 * message names line:column).
 * On success *out is owned by the caller: free with kw_sampler_free(). It allocates its buffers
 * here, none per token. The model is borrowed and must outlive the sampler. */
kw_status kw_sampler_create(const kw_model *model, const kw_sampler_params *params,
                            kw_sampler **out);
void kw_sampler_free(kw_sampler *s); /* NULL is allowed */
/* Picks a token from logits (n_vocab floats; read, not modified). With a grammar, returns
 * KW_TOKEN_NONE and sets kw_last_error() when the grammar allows no token (a dead end). */
kw_token kw_sampler_sample(kw_sampler *s, const float *logits);
/* Records a token in the penalty history (call for prompt and generated tokens alike). The token
 * kw_sampler_sample just returned also advances the grammar; other tokens (the prompt) do not. */
void kw_sampler_accept(kw_sampler *s, kw_token token);
/* Forgets the history, restarts the random sequence and the grammar from its start. */
void kw_sampler_reset(kw_sampler *s);
/* With a grammar: whether the text generated so far is a complete sentence of it (so a stop on
 * length can be reported as incomplete). Without one: true. */
bool kw_sampler_grammar_accepting(const kw_sampler *s);

/* ------------------------------------------------------------------------------------------------
 * Grammars (GBNF, llama.cpp's dialect; src/grammar/, docs/structured-output.md)
 * ---------------------------------------------------------------------------------------------- */

/* A compiled grammar bound to a model's token table: immutable after create, so one may be shared
 * by the states of many sequences (on any threads). */
typedef struct kw_grammar kw_grammar;
/* The parse state of one sequence: belongs to one thread at a time. */
typedef struct kw_grammar_state kw_grammar_state;

/* Parses GBNF text (NUL-terminated, copied) with start rule root (NULL = "root"). model gives the
 * token table (borrowed: must outlive the grammar); NULL builds a grammar for text checks only
 * (kw_grammar_state_accept_bytes), without masks. Errors (KW_ERR_INVALID_ARG) name line:column
 * and what is wrong. On success *out is owned by the caller: kw_grammar_free. */
kw_status kw_grammar_create(const kw_model *model, const char *gbnf, const char *root,
                            kw_grammar **out);
void kw_grammar_free(kw_grammar *g); /* NULL is allowed; free every state of it first */

/* A state at the start of the grammar; *out owned by the caller (kw_grammar_state_free). The
 * grammar is borrowed. */
kw_status kw_grammar_state_create(const kw_grammar *g, kw_grammar_state **out);
kw_status kw_grammar_state_clone(const kw_grammar_state *st, kw_grammar_state **out);
void kw_grammar_state_reset(kw_grammar_state *st);
void kw_grammar_state_free(kw_grammar_state *st); /* NULL is allowed */
/* Sets logits (n_vocab floats) of every token the grammar forbids next to -inf; end-of-generation
 * ids stay only when the state accepts. KW_ERR_INVALID_ARG when no token is allowed. */
kw_status kw_grammar_state_mask(kw_grammar_state *st, float *logits);
/* Advances by one token (an end-of-generation id is allowed when accepting and changes nothing).
 * KW_ERR_INVALID_ARG, state unchanged, when the grammar rejects it. */
kw_status kw_grammar_state_accept(kw_grammar_state *st, kw_token token);
/* Advances by raw bytes (a token-free check of text); same errors as above. */
kw_status kw_grammar_state_accept_bytes(kw_grammar_state *st, const char *bytes, size_t n);
/* True when the bytes accepted so far form a complete sentence of the grammar. */
bool kw_grammar_state_accepting(const kw_grammar_state *st);
/* The built-in grammar of "any JSON object" (static storage; docs/structured-output.md). */
const char *kw_grammar_json(void);

/* ------------------------------------------------------------------------------------------------
 * Process-wide facts
 * ---------------------------------------------------------------------------------------------- */

/* CPU features in use, e.g. "avx2 fma f16c avx512f avx512vnni avx512bf16" (static storage). */
const char *kw_cpu_features(void);
/* Peak resident set size of this process in bytes (0 when unknown). */
uint64_t kw_peak_rss_bytes(void);
/* Monotonic time in seconds. */
double kw_time_seconds(void);

/* ------------------------------------------------------------------------------------------------
 * Output files: what every command that writes a file uses, so that no input is ever overwritten
 * and an interrupted or failed run leaves the destination as it was (the old file, or none).
 *
 *     const char *inputs[] = {model_path, text_path};
 *     kw_outfile *o;
 *     if (kw_outfile_open(out_path, inputs, 2, &o) != KW_OK) { puts(kw_last_error()); return 1; }
 *     fwrite(data, 1, n, kw_outfile_stream(o));
 *     if (kw_outfile_commit(o) != KW_OK) { puts(kw_last_error()); return 1; }   // o is freed
 * ---------------------------------------------------------------------------------------------- */

typedef struct kw_outfile kw_outfile;

/* KW_OK unless path names an existing file that is one of the n_inputs inputs: the same file by
 * device and inode, so another path to it, a symbolic link or a hard link is caught too. Then
 * KW_ERR_INVALID_ARG, "refusing to overwrite the input: ...". NULL and "-" (stdin) entries of
 * inputs are skipped, so optional inputs may be passed as NULL. A path that does not exist yet is
 * fine. Use it to fail fast before long work; kw_outfile_open checks again. */
kw_status kw_outfile_check(const char *path, const char *const *inputs, int32_t n_inputs);

/* Checks path against the inputs (kw_outfile_check), then opens a temporary file in the same
 * directory ("<path>.tmp.XXXXXX", never an existing file) to write into. Nothing appears at path
 * before kw_outfile_commit. A symbolic link at path is followed (its target is replaced, the link
 * stays); a dangling link, a directory or a read-only file are refused with KW_ERR_IO. A path that
 * is not a regular file (/dev/null, a FIFO) is written directly, without a temporary file.
 * Until committed or aborted the temporary file is removed if the process exits or is ended by
 * SIGINT, SIGTERM or SIGHUP: kaiwu installs a handler for those of the three whose disposition is
 * still the default (at the first open; it removes the files, then lets the signal end the
 * process as before). A program with its own handler must call kw_outfile_abort itself.
 * On success *out is owned by the caller: end it with kw_outfile_commit or kw_outfile_abort. */
kw_status kw_outfile_open(const char *path, const char *const *inputs, int32_t n_inputs,
                          kw_outfile **out);

/* The stream to write to (borrowed: valid until kw_outfile_commit/abort; do not fclose it). It may
 * be seeked (a regular temporary file) except in the direct case. */
FILE *kw_outfile_stream(kw_outfile *o);

/* The temporary file's path (borrowed, valid until commit/abort); NULL when writing directly. */
const char *kw_outfile_temp_path(const kw_outfile *o);

/* Flushes, fsyncs and closes the stream, renames the temporary file over the destination and
 * fsyncs its directory. Frees o in every case. On failure (a write error seen by the stream, a full
 * disk, the rename) the temporary file is removed, the destination is untouched, and
 * KW_ERR_IO names the file and the system's reason. */
kw_status kw_outfile_commit(kw_outfile *o);

/* Closes and removes the temporary file without touching the destination; frees o. NULL is
 * allowed. */
void kw_outfile_abort(kw_outfile *o);

/* ------------------------------------------------------------------------------------------------
 * Chat templates: the Jinja2 dialect of Hugging Face chat templates, rendered byte for byte as
 * @huggingface/jinja 0.5.11 (transformers.js) does, with trim_blocks and lstrip_blocks on.
 * ---------------------------------------------------------------------------------------------- */

typedef struct kw_chat_template kw_chat_template;

/* Parses a template once (e.g. kw_model_chat_template()). On success *out is owned by the
 * caller: free with kw_chat_template_free(). Fails with KW_ERR_FORMAT (syntax) or
 * KW_ERR_UNSUPPORTED (a construct kaiwu does not implement), naming it and its line:column. */
kw_status kw_chat_template_parse(const char *template_src, kw_chat_template **out);
void kw_chat_template_free(kw_chat_template *tmpl); /* NULL is allowed */

/* Renders a parsed template. The variables are: messages (messages_json, a JSON array),
 * add_generation_prompt, tools (tools_json, a JSON array, or none when NULL), documents (none),
 * then every key of extra_vars_json (a JSON object or NULL; e.g. {"enable_thinking": false,
 * "bos_token": "<s>", "eos_token": "</s>"}), which may override the others. strftime_now() uses
 * the current local time. On success *out (NUL-terminated) is owned by the caller: free().
 * A template that calls raise_exception() fails with KW_ERR_FORMAT and a message holding its
 * text; *out is untouched on failure. The template is only read: several threads may render
 * it at once. */
kw_status kw_chat_template_apply(const kw_chat_template *tmpl, const char *messages_json,
                                 const char *tools_json, bool add_generation_prompt,
                                 const char *extra_vars_json, char **out);

/* Parse and render in one call (kw_chat_template_parse + kw_chat_template_apply). */
kw_status kw_chat_template_render(const char *template_src, const char *messages_json,
                                  const char *tools_json, bool add_generation_prompt,
                                  const char *extra_vars_json, char **out);

/* ------------------------------------------------------------------------------------------------
 * Benchmark probes: this machine's ceilings, for reporting speeds as a fraction of them
 * (`kaiwu bench`). Each call takes about the time it is given; none is needed for inference.
 * ---------------------------------------------------------------------------------------------- */

/* Memory read bandwidth in GB/s (1e9 bytes/s): allocates and writes a buffer of `bytes` (rounded
 * down to a multiple of 256 x threads; use far more than the last-level cache, e.g. 1 GiB), then
 * sums it `reps` times with the widest loads, split over n_threads threads (<= 0: all cores),
 * and returns the best pass. The buffer is freed before returning. 0 when the buffer or the
 * threads cannot be had (kw_last_error says why). */
double kw_probe_read_bandwidth(int n_threads, size_t bytes, int reps);

/* Peak int8 dot-product throughput in operations/s (a multiply-add counts 2) on n_threads threads
 * (<= 0: all cores), running for about `seconds` (plus a 10% warm-up) with the best ISA present:
 * AVX-512 VNNI (vpdpbusd), else AVX2 (vpmaddubsw + vpmaddwd), else plain C. *isa (may be NULL)
 * receives the ISA's name (static storage). 0 when the threads cannot be started. */
double kw_probe_int8_peak(int n_threads, double seconds, const char **isa);

/* Peak f32 fused multiply-add throughput in FLOP/s (an FMA counts 2), as kw_probe_int8_peak:
 * AVX-512F, else AVX2+FMA, else plain C. */
double kw_probe_f32_peak(int n_threads, double seconds, const char **isa);

/* Peak bf16 dot-product throughput in FLOP/s (a multiply-add counts 2; float32 sums), as
 * kw_probe_int8_peak: AVX512-BF16 (vdpbf16ps: 32 multiply-adds per instruction). Without it the
 * bf16 matrix product runs on f32 FMAs, so this is then the f32 peak (and *isa says so). */
double kw_probe_bf16_peak(int n_threads, double seconds, const char **isa);

/* ------------------------------------------------------------------------------------------------
 * Quantization: convert a GGUF model's weights to another storage type (`kaiwu quantize`), and
 * collect the importance matrix that weights the quantization error (`kaiwu imatrix`).
 * Which tensor gets which type in each mix is written down in docs/quantization.md.
 * ---------------------------------------------------------------------------------------------- */

/* A target: one storage type or a mix. Values are llama.cpp's llama_ftype numbers, which is what
 * the output's general.file_type holds. */
typedef enum kw_ftype {
    KW_FTYPE_F32 = 0,
    KW_FTYPE_F16 = 1,
    KW_FTYPE_Q4_0 = 2,
    KW_FTYPE_Q4_1 = 3,
    KW_FTYPE_Q8_0 = 7,
    KW_FTYPE_Q5_0 = 8,
    KW_FTYPE_Q5_1 = 9,
    KW_FTYPE_Q2_K = 10,
    KW_FTYPE_Q3_K_S = 11,
    KW_FTYPE_Q3_K_M = 12, /* also the meaning of the name "Q3_K" */
    KW_FTYPE_Q3_K_L = 13,
    KW_FTYPE_Q4_K_S = 14,
    KW_FTYPE_Q4_K_M = 15, /* also "Q4_K" */
    KW_FTYPE_Q5_K_S = 16,
    KW_FTYPE_Q5_K_M = 17, /* also "Q5_K" */
    KW_FTYPE_Q6_K = 18,
    KW_FTYPE_IQ2_XS = 20, /* needs an importance matrix (imatrix_path) */
    KW_FTYPE_IQ4_NL = 25,
    KW_FTYPE_IQ3_S = 26,
    KW_FTYPE_IQ3_M = 27, /* IQ3_S with more bits on attn_v, attn_output, first ffn_down */
    KW_FTYPE_IQ4_XS = 30,
    KW_FTYPE_BF16 = 32,
} kw_ftype;

/* Parses a target name, case-insensitive: "F32", "F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q5_0",
 * "Q5_1", "Q2_K", "Q3_K" (= Q3_K_M), "Q3_K_S", "Q3_K_M", "Q3_K_L", "Q4_K" (= Q4_K_M), "Q4_K_S",
 * "Q4_K_M", "Q5_K" (= Q5_K_M), "Q5_K_S", "Q5_K_M", "Q6_K", "IQ4_NL", "IQ4_XS", "IQ3_S", "IQ3_M",
 * "IQ2_XS". KW_ERR_INVALID_ARG listing the names when unknown. */
kw_status kw_ftype_from_name(const char *name, kw_ftype *out);
/* The canonical name of a target ("Q4_K_M"); "?" for a value outside the enum. Static storage. */
const char *kw_ftype_name(kw_ftype ftype);
/* The storage type (ggml id) a target gives most 2-D weights, e.g. Q4_K for Q4_K_M; -1 if unknown.
 */
int32_t kw_ftype_base_type(kw_ftype ftype);
/* The ggml type id of a storage type name ("q6_k", "F16", "IQ4_XS", ...; case-insensitive), -1 if
 * unknown or not a type kaiwu can quantize to (of the i-quants: IQ4_NL IQ4_XS IQ3_S IQ2_XS). */
int32_t kw_quant_type_from_name(const char *name);

/* What happened to one tensor (for `kaiwu quantize --verbose`); all pointers borrowed for the
 * duration of the callback. */
typedef struct kw_quantize_tensor_report {
    const char *name;
    int32_t index, n_tensors; /* position in the output, count */
    const char *from_type;    /* input storage type name */
    const char *to_type;      /* output storage type name */
    int32_t to_type_id;
    int32_t n_dims;
    int64_t ne[4];
    uint64_t bytes_in, bytes_out;
    bool used_imatrix;
    const char *note; /* NULL, or why the type is not the target's (fallback, override, ...) */
} kw_quantize_tensor_report;

typedef void (*kw_quantize_progress_fn)(void *user, uint64_t bytes_done, uint64_t bytes_total);
typedef void (*kw_quantize_tensor_fn)(void *user, const kw_quantize_tensor_report *report);

typedef struct kw_quantize_params {
    kw_ftype ftype;    /* target type or mix */
    int32_t n_threads; /* 0 = number of CPU cores */
    bool pure; /* every 2-D weight gets the base type: no mix rules (llama-quantize --pure) */
    bool refuse_fallback;  /* a row length the type cannot hold is an error instead of a fallback */
    bool allow_requantize; /* accept already-quantized input weights (quality suffers) */
    /* Per-tensor overrides "PATTERN=TYPE" (borrowed during the call), applied in order, the last
     * match winning, after the mix rules, also with pure. PATTERN: "re:REGEX" or "/REGEX/" is a
     * PCRE2 search in the tensor name; a glob with * ? [ must match the whole name; anything else
     * matches when it occurs in the name ("attn_v=Q8_0"). TYPE: a storage type name. */
    const char *const *overrides;
    int32_t n_overrides;
    /* NULL, or a file written by kw_imatrix_save. Required (KW_ERR_INVALID_ARG naming the
     * tensor and --imatrix otherwise) when a weight other than output / token_embd gets IQ2_XS. */
    const char *imatrix_path;
    kw_quantize_progress_fn progress; /* NULL or called after each tensor and during big ones */
    kw_quantize_tensor_fn on_tensor;  /* NULL or called once per tensor, in output order */
    void *user;                       /* passed to both callbacks */
} kw_quantize_params;

kw_quantize_params kw_quantize_default_params(void); /* Q8_0, all cores, mix rules on */

/* Reads in_path (any GGUF model kaiwu can read) and writes out_path with the weights converted:
 * 1-D tensors (norms, biases, rope factors) are copied unchanged; 2-D+ weights get the type the
 * mix (or pure / overrides) chooses. A row length that is not a multiple of the chosen type's block
 * falls back to Q8_0 (IQ4_NL for IQ4_XS / IQ3_S / IQ2_XS; row length divisible by 32) or F16,
 * with a note, unless refuse_fallback.
 * Metadata: the input's keys in order, then general.quantization_version = 2 and
 * general.file_type = ftype. Tensor order: tensors outside blocks by name, then each block's by
 * name. The output is written through a kw_outfile (a temporary file renamed into place); an
 * out_path that is the input or the imatrix file (same file by any path or link, kw_outfile_check)
 * is refused with KW_ERR_INVALID_ARG before any work. The output is held in memory until written.
 */
kw_status kw_quantize_file(const char *in_path, const char *out_path, const kw_quantize_params *p);

/* Importance matrix: per weight matrix, the sum over tokens of x^2 for each input column. */
typedef struct kw_imatrix kw_imatrix;
/* On success *out is owned by the caller: free with kw_imatrix_free(). */
kw_status kw_imatrix_create(kw_imatrix **out);
void kw_imatrix_free(kw_imatrix *im); /* NULL is allowed */
/* A kw_matmul_observer: install with kw_context_set_observer(ctx, kw_imatrix_observe, im).
 * An allocation failure here is remembered and reported by kw_imatrix_save. */
void kw_imatrix_observe(void *im, const char *weight_name, const float *x, int64_t n_in,
                        int64_t n_tok);
/* Counts one evaluated chunk (stored as imatrix.chunk_count). */
void kw_imatrix_end_chunk(kw_imatrix *im);
int32_t kw_imatrix_n_entries(const kw_imatrix *im); /* weight matrices seen so far */
/* Writes the statistics as GGUF (format in docs/quantization.md). dataset: the text's name. */
kw_status kw_imatrix_save(const kw_imatrix *im, const char *path, const char *dataset,
                          int32_t chunk_size);

/* ------------------------------------------------------------------------------------------------
 * Chat: a conversation rendered through the model's own template (or a named built-in format),
 * tokenized for the model, and replies split into content, reasoning and tool calls.
 * ---------------------------------------------------------------------------------------------- */

typedef struct kw_chat kw_chat;

/* The built-in formats, comma separated: "chatml, llama3, llama2, gemma, phi3, glm4, chatglm4,
 * deepseek, minicpm" (static storage). */
const char *kw_chat_format_names(void);
/* The Jinja source of a built-in format, or NULL for an unknown name (static storage). */
const char *kw_chat_format_source(const char *name);

/* Prepares chat rendering for a model (borrowed: must outlive the kw_chat). format:
 *  - NULL or "": the model's tokenizer.chat_template; a model without one fails with
 *    KW_ERR_INVALID_ARG and a message listing the built-in formats;
 *  - "auto": the model's template, or, when it has none, the built-in format its vocabulary's
 *    special tokens point to (<|start_header_id|> llama3, <start_of_turn> gemma, <|im_start|>
 *    chatml, [gMASK] glm4, <|assistant|> phi3, <｜User｜> deepseek, <用户> minicpm; a SentencePiece
 *    vocabulary without those llama2; else chatml), with kw_chat_format_note saying so;
 *  - a built-in format's name (kw_chat_format_names; an unknown name fails as above);
 *  - Jinja template text (anything containing "{{" or "{%"): used as the template.
 * bos_token/eos_token of the rendering are the texts of the model's BOS/EOS tokens. On success
 * *out is owned by the caller: free with kw_chat_free(). */
kw_status kw_chat_create(const kw_model *model, const char *format, kw_chat **out);
void kw_chat_free(kw_chat *chat); /* NULL is allowed */
/* "model template", "custom template" or the built-in format's name (static storage). */
const char *kw_chat_format_used(const kw_chat *chat);
/* Why "auto" chose a built-in format ("the model has no chat template: using the built-in
 * 'llama3' format (its vocabulary has <|start_header_id|>)"), or NULL when it did not. Borrowed:
 * valid until kw_chat_free. */
const char *kw_chat_format_note(const kw_chat *chat);

/* Renders messages_json (a JSON array of {"role", "content", ...}) with tools_json (JSON array or
 * NULL) and extra_vars_json (JSON object or NULL, e.g. {"enable_thinking": false}; its keys
 * override bos_token/eos_token). On success *out (NUL-terminated) is owned by the caller: free().
 * Errors as kw_chat_template_apply; *out is untouched on failure. */
kw_status kw_chat_render(const kw_chat *chat, const char *messages_json, const char *tools_json,
                         bool add_generation_prompt, const char *extra_vars_json, char **out);

/* Tokenizes a rendering: special-token text becomes special ids (parse_special), and BOS is
 * added as the model's metadata says unless the text already starts with the BOS text (never
 * twice). On success *out (n ids) is owned by the caller: free(). */
kw_status kw_chat_tokenize(const kw_chat *chat, const char *text, kw_token **out, int32_t *n_out);

/* True when a rendered prompt ends inside an open reasoning block (the template put "<think>"
 * in the generation prompt, e.g. DeepSeek-R1 distills, Qwen3 thinking): the reply then begins
 * with reasoning and has only the closing "</think>". */
bool kw_chat_prompt_opens_thinking(const char *rendered);

typedef struct kw_chat_tool_call {
    char *id;        /* owned by the reply; "" when the model gave none */
    char *name;      /* owned by the reply */
    char *arguments; /* owned by the reply: the arguments as compact JSON text ("{}" if none) */
} kw_chat_tool_call;

typedef struct kw_chat_reply {
    char *content;                 /* the answer without reasoning and tool-call blocks, trimmed */
    char *reasoning_content;       /* the <think> part, trimmed; NULL when there was none */
    kw_chat_tool_call *tool_calls; /* n_tool_calls entries; NULL when none */
    int32_t n_tool_calls;
    /* Tool calls that began (the format's opening marker was there) but could not be parsed:
     * their text stays in content, never dropped. warning (owned by the reply; NULL when
     * n_malformed_calls is 0) describes the first one: the format, the byte offset, what is wrong,
     * e.g. "malformed hermes tool call at byte 12: arguments are not JSON". */
    int32_t n_malformed_calls;
    char *warning;
} kw_chat_reply;

/* Splits a generated reply (len bytes): <think>...</think> (or everything before a "</think>"
 * when thinking_open or when no "<think>" precedes it) becomes reasoning_content; each
 * <tool_call>{"name": ..., "arguments": {...}}</tool_call> (Qwen/Hermes) becomes a tool call;
 * the rest is content. A tool-call block whose JSON is malformed stays in content. An unclosed
 * reasoning block (generation stopped inside it) is all reasoning. On success *out is filled
 * (free with kw_chat_reply_free()); on failure (NOMEM, NULL) it is zeroed. */
kw_status kw_chat_parse_reply(const char *text, size_t len, bool thinking_open, kw_chat_reply *out);
void kw_chat_reply_free(kw_chat_reply *reply); /* frees the members and zeroes *reply */

/* ------------------------------------------------------------------------------------------------
 * Tool calls in every common format (docs/structured-output.md, "Tool calls"). A model writes its
 * calls in the form its chat template teaches; kaiwu recognises the form from the template TEXT
 * (the markers it renders, never the model's file name), parses replies in it, and can force a
 * generation to be one well-formed call whose arguments satisfy the tool's parameter schema.
 *
 *     kw_tool_format f = kw_chat_tool_format(chat);             // from the template
 *     kw_chat_reply r;
 *     kw_chat_parse_tool_reply(text, len, thinking_open, f, tools_json, &r);
 *     char *gbnf;                                               // tool_choice "required"
 *     kw_chat_tool_grammar(f, tools_json, "required", &gbnf);   // NULL when nothing to force
 *
 * The kw_gen fields tools_json / tool_choice / tool_format do both for a generation.
 * ---------------------------------------------------------------------------------------------- */

typedef enum kw_tool_format {
    /* <tool_call>{"name": N, "arguments": {...}}</tool_call> (Qwen2.5, Qwen3, QwQ, Hermes; also
     * the form kaiwu uses for templates that show no tool-call form at all) */
    KW_TOOL_FORMAT_HERMES = 0,
    /* <tool_call><function=N><parameter=P>value</parameter>...</function></tool_call>
     * (Qwen3-Coder, Qwen3.5): string values raw, others JSON */
    KW_TOOL_FORMAT_QWEN3_CODER,
    /* {"name": N, "parameters": {...}}, possibly after <|python_tag|> (Llama 3.1 / 3.2 / 3.3) */
    KW_TOOL_FORMAT_LLAMA3,
    /* [TOOL_CALLS][{"name": N, "arguments": {...}}, ...] (Mistral Nemo, Mistral 7B v0.3) */
    KW_TOOL_FORMAT_MISTRAL,
    /* [TOOL_CALLS]N[ARGS]{...}, repeated per call (Mistral Small 3.2, Magistral, Devstral) */
    KW_TOOL_FORMAT_MISTRAL_ARGS,
    /* a line with N, then the JSON arguments (GLM-4 9B chat, after <|assistant|>) */
    KW_TOOL_FORMAT_GLM4,
    /* <tool_call>N<arg_key>k</arg_key><arg_value>v</arg_value>...</tool_call> (GLM-4.5 .. 4.7):
     * string values raw, others JSON */
    KW_TOOL_FORMAT_GLM45,
    /* <｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>N\n```json\n{...}\n```
     * <｜tool▁call▁end｜>...<｜tool▁calls▁end｜> (DeepSeek V3, R1 and its distills) */
    KW_TOOL_FORMAT_DEEPSEEK_R1,
    /* <｜tool▁calls▁begin｜><｜tool▁call▁begin｜>N<｜tool▁sep｜>{...}<｜tool▁call▁end｜>...
     * <｜tool▁calls▁end｜> (DeepSeek V3.1) */
    KW_TOOL_FORMAT_DEEPSEEK_V31,
    KW_TOOL_FORMAT_COUNT
} kw_tool_format;

/* The format's short name: "hermes", "qwen3-coder", "llama3", "mistral", "mistral-args", "glm4",
 * "glm4.5", "deepseek-r1", "deepseek-v3.1" ("?" out of range). Static storage. */
const char *kw_tool_format_name(kw_tool_format format);
/* The format of a short name (as kw_tool_format_name gives); KW_ERR_INVALID_ARG listing the names
 * when unknown. */
kw_status kw_tool_format_from_name(const char *name, kw_tool_format *out);
/* The format a chat template's text teaches, from the markers it renders (<parameter=,
 * <arg_key>, tool▁calls▁begin, [TOOL_CALLS] / [ARGS], <tool_call>, <|python_tag|> or the Llama
 * "parameters" instruction, <|observation|>); KW_TOOL_FORMAT_HERMES when it shows none (or src is
 * NULL). why (may be NULL) receives a static description of the marker that decided. */
kw_tool_format kw_tool_format_detect(const char *template_src, const char **why);
/* The format of the template a kw_chat renders (kw_tool_format_detect of the model's template;
 * for a built-in format: llama3 -> llama3, glm4 / chatglm4 -> glm4, deepseek -> deepseek-r1,
 * others hermes). */
kw_tool_format kw_chat_tool_format(const kw_chat *chat);

/* kw_chat_parse_reply for any format: reasoning is split off as there, then every call of the
 * given format is taken out of the rest; several calls per reply, text around them stays content,
 * UTF-8 (Chinese) arguments are kept as they are (arguments: compact JSON text, non-ASCII not
 * escaped). A call that began but is malformed (bad JSON, no name, unclosed) stays in content and
 * is counted in n_malformed_calls with a warning. tools_json (NULL or the OpenAI tools array the
 * prompt was rendered with; read during the call) types the raw values of the XML-like formats
 * (qwen3-coder, glm4.5): a parameter whose schema type is "string" stays a string, others are
 * read as JSON; without it a value that parses as JSON is taken as JSON, else as a string.
 * On success *out is filled (free with kw_chat_reply_free()); on failure (NOMEM, a bad argument)
 * it is zeroed. */
kw_status kw_chat_parse_tool_reply(const char *text, size_t len, bool thinking_open,
                                   kw_tool_format format, const char *tools_json,
                                   kw_chat_reply *out);

/* A GBNF grammar (llama.cpp dialect, start rule "root") whose every sentence is exactly one
 * well-formed call in the given format, naming a tool of tools_json (the OpenAI array
 * [{"type": "function", "function": {"name", "description", "parameters"}}], or bare
 * {"name", "parameters"} items; "parameters" absent = no arguments) with arguments valid under
 * that tool's "parameters" schema (kw_json_schema_to_gbnf of each, renamed so the tools compose).
 * tool_choice: NULL, "auto" or "none": nothing to force, *gbnf_out = NULL and KW_OK; "required":
 * any of the tools; a tool's name, or OpenAI's {"type": "function", "function": {"name": N}}: that
 * tool. Errors: KW_ERR_INVALID_ARG (tools not an array of named functions, an unknown tool_choice
 * name, a name that is not [A-Za-z0-9_.-]{1,64}); KW_ERR_UNSUPPORTED from the schema conversion,
 * naming the tool; for the XML-like formats a "parameters" that is not an object schema with
 * "properties", or a string parameter with pattern/format (not expressible as raw text), is
 * refused naming it. On success *gbnf_out (NUL-terminated, or NULL as above) is owned by the
 * caller: free(). */
kw_status kw_chat_tool_grammar(kw_tool_format format, const char *tools_json,
                               const char *tool_choice, char **gbnf_out);

/* ------------------------------------------------------------------------------------------------
 * Training: pretrain a llama-architecture model (RMSNorm, RoPE, grouped-query attention, SwiGLU,
 * tied embeddings) from text, or fine-tune one on conversations (`kaiwu train`, docs/training.md).
 * Parameters, gradients and optimizer state are float32; results are the same bits for a given
 * seed, thread count and number of MPI ranks; checkpoints resume exactly.
 * ---------------------------------------------------------------------------------------------- */

/* One optimizer step, as reported to kw_train_params.on_progress (rank 0 only). */
typedef struct kw_train_progress {
    int64_t step;        /* optimizer steps done, 1 .. n_steps */
    int64_t n_steps;     /* steps of the whole run */
    double loss;         /* this step's mean training loss, nats per predicted token */
    double val_loss;     /* mean validation loss when evaluated after this step, else NaN */
    double lr;           /* learning rate used */
    double grad_norm;    /* global gradient L2 norm before clipping */
    double tokens_per_s; /* tokens per second of this step, all ranks */
    double mfu;          /* model FLOPs utilisation of this step: (6 params + attention) x
                            tokens/s over the peak (fraction, 0.45 = 45 %) */
    double mfu_cpu;      /* the same over the CPU time the process got (its threads' time, per
                            thread): what MFU would be on cores not shared with other processes */
    double eta_s;        /* seconds left at this run's average pace */
    int64_t tokens_seen; /* tokens trained on so far (this stage, all ranks) */
} kw_train_progress;

/* Receives each step's figures; p is borrowed for the call. */
typedef void (*kw_train_progress_fn)(void *user, const kw_train_progress *p);
/* Receives one line of information (setup, evaluation, checkpoints; no newline; borrowed). */
typedef void (*kw_train_log_fn)(void *user, const char *line);

/* Numbers below 0 (and NULL strings) mean "not given": the value comes from the config file,
 * then from the defaults in docs/training.md. */
typedef struct kw_train_params {
    const char *data;      /* pretraining: a directory with train.txt and val.txt (documents
                              separated by empty lines); SFT: a JSONL file of {"messages": ...} */
    const char *out;       /* the model to write (GGUF; written to out.tmp, then renamed) */
    const char *tokenizer; /* pretraining: vocabulary GGUF (default <data>/vocab.gguf) */
    const char *config;    /* JSON file of model shape and training settings (or NULL) */
    bool sft;              /* fine-tune init on conversations, loss on assistant turns only */
    const char *init;      /* SFT: the model to start from (a GGUF kaiwu trained) */
    const char *resume;    /* a checkpoint to continue from; "auto": the run's latest checkpoint
                              when there is one, else a fresh start */
    const char *checkpoint_dir; /* checkpoints and the token cache (default out + ".ckpt") */
    int32_t steps;              /* optimizer steps of the run */
    int32_t batch;              /* sequences per optimizer step, summed over MPI ranks */
    int32_t micro_batch;        /* sequences per forward/backward pass on one rank (gradients
                                   accumulate over batch / (ranks x micro_batch) passes) */
    int32_t seq;                /* tokens per sequence */
    float lr, min_lr;           /* peak learning rate and the end of the cosine decay */
    int32_t warmup;             /* steps of linear warmup */
    float weight_decay;         /* AdamW decoupled decay of the matrices */
    float grad_clip;            /* global gradient-norm limit (0 = off) */
    int32_t eval_every;         /* evaluate every N steps (0 = only at the end) */
    int32_t eval_batches;       /* validation sequences per evaluation, in batches of `batch` */
    int32_t checkpoint_every;   /* write a checkpoint every N steps (0 = only at the end) */
    int32_t stop_after;         /* end this process after N steps of this run, with a checkpoint
                                   (0 = run to the end; for interrupted and resumed runs) */
    int32_t n_threads;          /* threads per rank (0 or less: every core) */
    int64_t seed;               /* initialisation and data order */
    const char *name;           /* general.name of the model (default "kaiwu-model") */
    const char *corpus;         /* provenance: what the data is (default the data path) */
    const char *command_line;   /* provenance: how the run was started */
    double peak_flops;          /* FLOP/s for MFU (<= 0: measured by kw_probe_f32_peak) */
    volatile const int *stop;   /* when it becomes non-zero, the run checkpoints and returns */
    kw_train_progress_fn on_progress;
    kw_train_log_fn on_log;
    void *user; /* passed to both callbacks */
} kw_train_params;

/* Everything "not given". */
kw_train_params kw_train_default_params(void);

/* Runs a whole training run (also as one rank of an MPI job started by mpirun: the batch is
 * split over the ranks and the gradients summed). Writes checkpoints and, at the end, the model.
 * All strings are borrowed for the call. Errors (bad options, data, a checkpoint that does not
 * fit the run) are reported before any training starts where possible. */
kw_status kw_train(const kw_train_params *params);

/* Whether this build can run data-parallel over MPI. */
bool kw_train_has_mpi(void);

/* ------------------------------------------------------------------------------------------------
 * Generation: prompt in, streamed text out, for one request or many at once. What `kaiwu run`,
 * `kaiwu chat` and `kaiwu serve` share: prefix reuse, chunked prompts, sampling, stop strings held
 * back until they can no longer match, whole UTF-8 characters only, the reasoning/content split,
 * finish reasons, usage counts, cancellation.
 *
 *     kw_engine *eng;  kw_engine_create(ctx, &eng);        // ctx: n_seq_max = parallel requests
 *     kw_gen_params gp = kw_gen_default_params();
 *     gp.on_event = print_delta;  gp.user = stdout;
 *     kw_gen *g;  kw_gen_create(eng, &gp, &g);
 *     kw_gen_set_prompt(g, tokens, n);                        // or kw_gen_set_chat_prompt
 *     kw_generate(g);        // start + kw_engine_step until done; or start many, step the engine
 *     kw_gen_free(g);  kw_engine_free(eng);
 *
 * An engine owns the scheduling of one context: each kw_engine_step is one forward pass in which
 * every running generation decodes its next token and generations still reading their prompt
 * take chunks of it (at most prompt_chunk tokens each, n_batch in all), so a long prompt does not
 * stall the streams already running. A generation starts in a free sequence of the context: the
 * one whose cached tokens share the longest prefix with its prompt; a longer shared prefix held by
 * another sequence is copied (kw_seq_copy) instead of evaluated, and a generation whose prefix is
 * still being evaluated by another waits for it, so a system prompt common to many requests is
 * evaluated once. An engine, its context and its generations belong to one thread at a time;
 * only kw_gen_cancel may be called from any thread.
 * ---------------------------------------------------------------------------------------------- */

typedef struct kw_engine kw_engine;
typedef struct kw_gen kw_gen;

typedef enum kw_finish_reason {
    KW_FINISH_NONE = 0,  /* still running (or not started) */
    KW_FINISH_STOP,      /* an end-of-generation token or a stop string */
    KW_FINISH_LENGTH,    /* max_tokens reached, or the sequence's context is full */
    KW_FINISH_TOOL_CALL, /* the reply holds tool calls (parse_tool_calls, or tools_json) */
    KW_FINISH_CANCELLED, /* kw_gen_cancel */
    KW_FINISH_ERROR,     /* evaluation failed (kw_last_error of kw_engine_step says why) */
} kw_finish_reason;

/* "stop", "length", "tool_calls", "cancelled", "error", "" (static storage; OpenAI's names). */
const char *kw_finish_reason_str(kw_finish_reason r);

/* What one step produced for one generation. Every pointer is borrowed for the callback's
 * duration. Text is whole UTF-8 characters; a stop string and whatever follows it never appear.
 * With split_thinking, reasoning text (<think>...</think>, or from the start when the prompt
 * opened the block) goes to reasoning, the rest to content, both with leading and trailing
 * whitespace trimmed as kw_chat_parse_reply trims them, so the concatenated deltas equal the
 * parsed reply. */
typedef struct kw_gen_event {
    const char *content; /* new content (content_len bytes, not NUL-terminated) */
    int32_t content_len;
    const char *reasoning; /* new reasoning text */
    int32_t reasoning_len;
    kw_token token; /* the token sampled in this step, or KW_TOKEN_NONE (a final flush) */
    float logprob;  /* its natural-log probability under the model's distribution (logits
                       before any sampling setting); 0 unless n_logprobs > 0 */
    int32_t n_top;  /* n_logprobs most likely tokens, most likely first */
    const kw_token *top_tokens;
    const float *top_logprobs;
    kw_finish_reason finish; /* set on the generation's last event, KW_FINISH_NONE before */
} kw_gen_event;

typedef void (*kw_gen_event_fn)(void *user, const kw_gen_event *ev);

typedef struct kw_gen_params {
    kw_sampler_params sampler;
    /* ---- structured output (issue 17; docs/structured-output.md). At most one of json_schema,
     * json_object and sampler.grammar may be set (else kw_gen_create fails, KW_ERR_INVALID_ARG).
     * json_schema: a JSON Schema (JSON text, NUL-terminated, copied at kw_gen_create) in the
     * kw_json_schema_to_gbnf subset; it becomes the grammar stage, and a keyword outside the
     * subset fails kw_gen_create with KW_ERR_UNSUPPORTED and the message naming it and its JSON
     * pointer. json_object: the reply is any JSON object (the kw_grammar_json() grammar). At the
     * finish the reply is checked (fail closed): see kw_gen_constraint. */
    const char *json_schema;
    bool json_object;
    /* ---- end of structured output */
    int32_t max_tokens;       /* most tokens to generate; -1 = until the end or a full context; 0 =
                                 evaluate the prompt only (finishes with KW_FINISH_LENGTH) */
    const char *const *stops; /* n_stops stop strings (copied at kw_gen_create); empty ignored */
    int32_t n_stops;
    bool ignore_eos;       /* keep going past end-of-generation tokens */
    bool render_special;   /* special tokens sampled (with ignore_eos, say) appear as their text
                              in the reply (`kaiwu run` shows them); default: left out */
    bool split_thinking;   /* route reasoning to ev->reasoning (see kw_gen_event) */
    bool parse_tool_calls; /* finish with KW_FINISH_TOOL_CALL when the reply holds tool calls */
    int32_t n_logprobs;    /* 0 = no log-probabilities; 1..20 = that many top tokens per step */
    int32_t prompt_chunk;  /* most prompt tokens this generation evaluates per step; 0 = n_batch */
    bool prompt_opens_thinking; /* a token prompt (kw_gen_set_prompt) ends inside an open
                                   reasoning block (kw_chat_prompt_opens_thinking of its text) */
    kw_gen_event_fn on_event;   /* NULL or called after every step that sampled or finished */
    void *user;                 /* passed to on_event */
    /* ---- tool calls (docs/structured-output.md "Tool calls"; strings copied at kw_gen_create).
     * tools_json: NULL, or the OpenAI tools array (pass the same to kw_gen_set_chat_prompt so the
     * template shows them). With tools, kw_gen_reply parses calls in tool_format and the
     * generation finishes with KW_FINISH_TOOL_CALL when the reply holds calls. tool_choice: NULL
     * or "auto" (the model decides), "none" (no call is parsed), "required" or a tool's name (the
     * output is forced to one call, kw_chat_tool_grammar; then sampler.grammar, json_schema and
     * json_object must be unset, and kw_gen_constraint gives the call's verdict; after
     * a prompt that opens a reasoning block the forced output first closes it, "</think>\n\n").
     * tool_format: kw_chat_tool_format of the chat the prompt is rendered with. With tools
     * (and tool_choice not "none") special tokens are detokenized as their text, so markers
     * such as [TOOL_CALLS] reach the parser and the event deltas. */
    const char *tools_json;
    const char *tool_choice;
    kw_tool_format tool_format;
} kw_gen_params;

kw_gen_params kw_gen_default_params(void); /* sampler defaults, max_tokens -1, no stops */

/* Creates an engine over a context (borrowed: must outlive the engine; the engine now owns its
 * scheduling: do not decode into it yourself while the engine is in use). On success *out is
 * owned by the caller: free with kw_engine_free() after its generations. */
kw_status kw_engine_create(kw_context *ctx, kw_engine **out);
void kw_engine_free(kw_engine *eng);              /* NULL is allowed */
int32_t kw_engine_n_free(const kw_engine *eng);   /* sequences no generation holds */
int32_t kw_engine_n_active(const kw_engine *eng); /* started generations not yet finished */
/* One forward pass for every started, unfinished generation (see the section comment), then
 * their events. Finished generations give their sequence back (its cache stays, for reuse).
 * KW_OK with nothing to do when none is active. On an evaluation failure, every generation of
 * the pass finishes with KW_FINISH_ERROR and the status is returned. */
kw_status kw_engine_step(kw_engine *eng);

/* A generation over an engine (borrowed: must outlive it). params are copied (stop strings
 * included). On success *out is owned by the caller: free with kw_gen_free(), which also gives
 * back its sequence when it still holds one. */
kw_status kw_gen_create(kw_engine *eng, const kw_gen_params *params, kw_gen **out);
void kw_gen_free(kw_gen *g); /* NULL is allowed */
/* The prompt as tokens (copied). Before kw_gen_start. */
kw_status kw_gen_set_prompt(kw_gen *g, const kw_token *tokens, int32_t n);
/* The prompt as a conversation: messages_json rendered through chat (borrowed for the call) with
 * the generation prompt, tools_json and extra_vars_json as kw_chat_render takes them, then
 * tokenized (kw_chat_tokenize); a template that opens a reasoning block starts the reply in it.
 * Errors as kw_chat_render. */
kw_status kw_gen_set_chat_prompt(kw_gen *g, const kw_chat *chat, const char *messages_json,
                                 const char *tools_json, const char *extra_vars_json);
/* Takes a free sequence and queues the generation for the next kw_engine_step. Fails with
 * KW_ERR_CONTEXT_FULL when the prompt does not fit a sequence's context (both numbers named),
 * KW_ERR_INVALID_ARG for an empty prompt, a generation already started, or no free sequence
 * (check kw_engine_n_free). */
kw_status kw_gen_start(kw_gen *g);
/* kw_gen_start, then kw_engine_step until this generation finishes (other started generations of
 * the engine advance too). Returns the first failure. */
kw_status kw_generate(kw_gen *g);
/* Asks the generation to stop: it finishes with KW_FINISH_CANCELLED at the next step (or at once
 * when not started). Safe from any thread and from a signal handler. */
void kw_gen_cancel(kw_gen *g);

kw_finish_reason kw_gen_finish_reason(const kw_gen *g);

/* Whether a finished generation's reply meets its constraint (json_schema, json_object or a GBNF
 * sampler.grammar), checked on the final text of kw_gen_text, stop strings cut:
 *   NONE       no constraint was given;
 *   PENDING    the generation has not finished;
 *   SATISFIED  the text is a complete sentence of the grammar and, for json_schema / json_object,
 *              kw_json_schema_validate accepts it;
 *   INCOMPLETE the generation stopped (length, a stop string, cancel, an error) before the text
 *              was a complete sentence: a truncated reply, never to be passed off as valid;
 *   INVALID    the text is complete but the validator rejects it (a converter bug: report it).
 * The verdict is set before the finish event, so on_event may ask. why (may be NULL) receives a
 * message for INCOMPLETE and INVALID, else NULL; borrowed: valid until kw_gen_free. */
typedef enum kw_constraint_status {
    KW_CONSTRAINT_NONE = 0,
    KW_CONSTRAINT_PENDING,
    KW_CONSTRAINT_SATISFIED,
    KW_CONSTRAINT_INCOMPLETE,
    KW_CONSTRAINT_INVALID,
} kw_constraint_status;
kw_constraint_status kw_gen_constraint(const kw_gen *g, const char **why);
/* "none", "pending", "satisfied", "incomplete", "invalid" (static storage). */
const char *kw_constraint_status_str(kw_constraint_status c);
/* The stop string that ended the generation (the generation's own copy, NUL-terminated; borrowed:
 * valid until kw_gen_free), or NULL when none was found (it stopped on an end-of-generation
 * token, length or cancel, or is still running). */
const char *kw_gen_stop_string(const kw_gen *g);
/* The whole reply so far: the generated text with a stop string and what followed it cut, before
 * the reasoning split (NUL-terminated; borrowed: valid until the next step or kw_gen_free). */
const char *kw_gen_text(const kw_gen *g, size_t *len);
/* The reply split into content, reasoning and tool calls (kw_chat_parse_reply of kw_gen_text,
 * with the prompt's open reasoning block taken into account; with tools_json,
 * kw_chat_parse_tool_reply in tool_format with those tools). Free with kw_chat_reply_free. */
kw_status kw_gen_reply(const kw_gen *g, kw_chat_reply *out);

typedef struct kw_gen_usage {
    int32_t prompt_tokens;     /* tokens of the prompt */
    int32_t cached_tokens;     /* of them, taken from the cache instead of evaluated */
    int32_t completion_tokens; /* tokens generated (an end-of-generation token not counted) */
    double t_prompt;           /* seconds from kw_gen_start to the first sampled token */
    double t_generate;         /* seconds from the first sampled token to the end */
} kw_gen_usage;
kw_gen_usage kw_gen_get_usage(const kw_gen *g);
/* The sequence the generation holds, -1 before kw_gen_start and after it finished. */
kw_seq_id kw_gen_seq(const kw_gen *g);

/* ------------------------------------------------------------------------------------------------
 * Server: an OpenAI-compatible HTTP server over one model (`kaiwu serve`; docs/serving.md).
 * POST /v1/chat/completions and /v1/completions (streaming or not), GET /v1/models, /health,
 * /metrics. Every admitted request runs in its own sequence of one kw_engine (continuous
 * batching); the rest wait in a bounded queue.
 * ---------------------------------------------------------------------------------------------- */

typedef struct kw_server kw_server;

typedef struct kw_server_params {
    const char *model_path; /* borrowed for kw_server_create */
    const char *host;       /* address to listen on (default "127.0.0.1") */
    int32_t port;           /* 0 = any free port (kw_server_port tells) */
    int32_t parallel;       /* requests evaluated together (sequences); default 4 */
    int32_t ctx_size;       /* tokens per request (each sequence); 0 = min(model's, 4096) */
    int32_t n_threads;      /* 0 = all cores */
    int32_t cache_type_k;   /* KV cache types (kw_context_params); default KW_TYPE_F16 */
    int32_t cache_type_v;
    const char *api_key;     /* NULL or a key every /v1 request must send as a Bearer token */
    const char *alias;       /* the model's name in the API; NULL = the file name without .gguf */
    const char *chat_format; /* NULL = the model's template; or a built-in format name */
    int32_t max_queue;       /* requests waiting for a sequence before 503; default 64 */
    int32_t timeout;         /* seconds: idle connection, and the deadline to send headers and
                                body; default 600 */
    int32_t max_body;        /* largest request body in bytes (413 past it); default 4 MiB */
    void *log;               /* a FILE * for the request log, one line per request; NULL = stderr */
} kw_server_params;

kw_server_params kw_server_default_params(void);

/* Starts listening at once (GET /health answers "loading" until the model is ready) and loads
 * the model in the background. Fails when the address cannot be bound (the message names it).
 * On success *out is owned by the caller: free with kw_server_free(). */
kw_status kw_server_create(const kw_server_params *params, kw_server **out);
int32_t kw_server_port(const kw_server *srv); /* the port listened on */
/* Blocks until the model is loaded (KW_OK) or failed to load (its status and message). */
kw_status kw_server_wait_ready(kw_server *srv);
/* Stops accepting connections (GET /health on open ones says "stopping" and new requests get 503);
 * requests in flight go on. */
void kw_server_drain(kw_server *srv);
/* Requests queued or being generated. */
int32_t kw_server_n_busy(kw_server *srv);
/* Graceful shutdown: kw_server_drain, lets requests in flight finish for up to
 * grace_seconds, cancels the rest, then returns. Call from a normal thread (not a signal
 * handler). */
void kw_server_shutdown(kw_server *srv, double grace_seconds);
void kw_server_free(kw_server *srv); /* shuts down at once if still running; NULL allowed */
/* ------------------------------------------------------------------------------------------------
 * Training data: the corpus made into clean training text (`kaiwu data prepare`), a vocabulary
 * trained on that text (`kaiwu tokenizer-train`), and SFT conversations built from the corpus
 * metadata (`kaiwu data sft`). The formats and the cleaning rules are in docs/training-data.md.
 * ---------------------------------------------------------------------------------------------- */

/* Progress of a long data step: stage names it ("read", "dedup", "merges", ...), done of total
 * units (total 0 when unknown). Called on the calling thread; stage is borrowed for the call. */
typedef void (*kw_data_progress_fn)(void *user, const char *stage, int64_t done, int64_t total);

typedef struct kw_data_prepare_params {
    const char *const *in_dirs; /* searched recursively for *.json (borrowed during the call) */
    int32_t n_in_dirs;
    const char *out_dir; /* created if missing: train.txt, val.txt, poems.jsonl, report.md */
    double val_fraction; /* share of the poems (by split group) in val.txt, default 0.01 */
    /* Two poems whose character-bigram sets have a Jaccard similarity at or above this are one
     * poem (default 0.5; docs/training-data.md shows pairs on both sides of it). */
    double near_dup_threshold;
    /* A poem whose 4-character shingles already occur in kept poems for at least this share is
     * dropped as covered: the combined entries of a second edition, fragments of kept poems
     * (default 0.7). */
    double cover_threshold;
    /* Poems at least this similar (but below near_dup_threshold) go to the same side of the
     * split, so that a variant of a validation poem is never trained on (default 0.3). */
    double split_link_threshold;
    uint64_t seed;                /* of the split and of the MinHash functions, default 0 */
    const char *opencc_config;    /* OpenCC configuration, default "t2s.json" */
    kw_data_progress_fn progress; /* NULL or called per file and per stage */
    void *user;
} kw_data_prepare_params;

kw_data_prepare_params kw_data_prepare_default_params(void);

typedef struct kw_data_prepare_stats {
    int64_t n_files;    /* JSON files read (skipped metadata files not counted) */
    int64_t n_records;  /* records found in them */
    int64_t n_rejected; /* dropped by the cleaning rules */
    int64_t n_exact_dups, n_near_dups, n_covered;
    int64_t n_train, n_val;         /* documents written */
    int64_t chars_train, chars_val; /* their characters (code points, newlines included) */
    double seconds;
} kw_data_prepare_stats;

/* Reads every corpus JSON file under in_dirs (chinese-poetry's layout; unknown files are read by
 * the same generic rules), cleans, simplifies (OpenCC), removes exact and near duplicates, splits
 * by poem and writes out_dir/{train.txt, val.txt, poems.jsonl, report.md}, each through a
 * temporary file. Deterministic for given inputs and parameters. stats may be NULL; on failure it
 * is untouched and the outputs written so far are left as they are (never half a file). */
kw_status kw_data_prepare(const kw_data_prepare_params *p, kw_data_prepare_stats *stats);

/* Conversations for supervised fine-tuning, from the poems.jsonl of kw_data_prepare: for each poem
 * of the training split, per_poem user requests of different kinds (a titled shi also always gets
 * its form request, on top; a 五言绝句 three times), each in one of several
 * phrasings, answered with the poem: write a poem titled X; in the form 五言绝句/七言律诗/...
 * titled X; a ci to a named cipai; about a theme of its title (春天, 送别, 边塞, ...); beginning
 * with its first line; and who wrote 《X》 / where a line comes from (only when the title or line
 * names one poem of the training split). Validation poems are never used. The held-out evaluation
 * set takes 五言绝句 and 七言绝句 of the validation split whose titles occur nowhere in the
 * training split: {"title", "form", "messages": [user turn]}, the request
 * "写一首五言绝句，题为《X》". */
typedef struct kw_data_sft_params {
    const char *in_dir;    /* holds poems.jsonl */
    const char *out_path;  /* SFT.jsonl: {"messages": [...]} per line, in a seeded random order */
    const char *eval_path; /* NULL, or the evaluation set written there */
    uint64_t seed;         /* default 0 */
    int32_t per_poem;      /* requests per training poem, of different kinds (default 1) */
    int32_t max_chars;     /* poems with longer bodies are left out (default 160 characters) */
    int64_t max_conversations; /* 0 = all */
    const char *system_prompt; /* NULL, or a system turn put first in every conversation */
} kw_data_sft_params;

kw_data_sft_params kw_data_sft_default_params(void);

typedef struct kw_data_sft_stats {
    int64_t n_poems, n_train_used; /* poems read; training poems that got conversations */
    int64_t n_conversations;
    int64_t by_kind[6];         /* title, form, cipai, theme, first line, author */
    int64_t n_eval_5, n_eval_7; /* evaluation titles per form */
} kw_data_sft_stats;

/* Writes out_path (and eval_path) through temporary files. KW_ERR_FORMAT names the line of a
 * malformed poems.jsonl. stats may be NULL. */
kw_status kw_data_sft(const kw_data_sft_params *p, kw_data_sft_stats *stats);

/* A vocabulary for the prepared text: SentencePiece-style BPE ("llama" tokenizer model) with byte
 * fallback. Tokens: <unk> <s> </s> <|endoftext|> <|im_start|> <|im_end|> (0..5; the last five are
 * control tokens; BOS <s>, EOS </s>, padding <|endoftext|>, end of turn <|im_end|>), the 256 byte
 * tokens <0x00>..<0xFF>, every character occurring at least min_char_count times (and printable
 * ASCII, always), then merged pieces in merge order, scored so that SentencePiece's merge-by-score
 * reproduces the training's segmentation exactly. Spaces are "▁"; no space is added in front. */
typedef struct kw_tokenizer_train_params {
    const char *const *data_files; /* train.txt-style text (borrowed during the call) */
    int32_t n_data_files;
    const char *out_path;         /* the GGUF written (through out_path.tmp) */
    int32_t vocab_size;           /* tokens in all, e.g. 8192 */
    int32_t min_char_count;       /* default 3 */
    int32_t min_pair_count;       /* merging stops below this many occurrences, default 2 */
    bool verify;                  /* reload and check (default true; see the stats) */
    kw_data_progress_fn progress; /* NULL or called per 256 merges and per verified file */
    void *user;
} kw_tokenizer_train_params;

kw_tokenizer_train_params kw_tokenizer_train_default_params(void);

typedef struct kw_tokenizer_train_stats {
    int32_t n_vocab, n_chars, n_merges;
    int64_t n_docs, n_units;          /* documents read; distinct lines */
    int64_t n_distinct_chars;         /* in the data */
    int64_t chars_in, chars_fallback; /* character occurrences; those left to byte tokens */
    /* verify: kaiwu's tokenizer (src/tokenizer) reloaded from out_path */
    int64_t verify_units, verify_mismatch; /* units segmented unlike the training */
    int64_t verify_docs, roundtrip_fail;   /* documents whose decode(encode(doc)) != doc */
    int64_t tokens, chars;                 /* over all documents: tokens per char = tokens/chars */
    double seconds, verify_seconds;
} kw_tokenizer_train_stats;

/* Trains and writes the vocabulary; with verify, a segmentation mismatch or a failed round trip
 * is KW_ERR_INTERNAL (the file stays written, for inspection). stats may be NULL. */
kw_status kw_tokenizer_train(const kw_tokenizer_train_params *p, kw_tokenizer_train_stats *stats);

/* The regular shi form of a poem's text by its shape: "五言绝句" or "七言绝句" (4 clauses of 5 or 7
 * Han characters), "五言律诗" or "七言律诗" (8 clauses), else "other". Odd clauses end in ，；？！,
 * even ones in 。？！; whitespace is allowed after a mark and at the ends, nothing else. Static
 * storage; text may be NULL (then "other"). Tonal rules are not checked. */
const char *kw_poem_form(const char *text, size_t len);

/* ---------------------------------------------------------------- JSON Schema (issue 17)
 * A stated subset of JSON Schema (docs/structured-output.md): type (and unions), properties,
 * required, additionalProperties, enum, const, items, prefixItems, minItems, maxItems, anyOf,
 * oneOf, allOf (object schemas, merged), local $ref/$defs (recursive too), minLength, maxLength,
 * pattern (a regex subset), format (date, time, date-time, uuid, email), minimum, maximum,
 * exclusiveMinimum, exclusiveMaximum. Annotations (title, description, $schema, $id, examples,
 * default, $comment) are ignored; every other keyword is refused with KW_ERR_UNSUPPORTED and a
 * message naming it and its JSON pointer ("unsupported keyword 'patternProperties' at
 * /properties/a"). */

/* Converts the schema (JSON text, NUL-terminated) to GBNF text (llama.cpp's dialect, start rule
 * `root`). Every string the grammar accepts is valid under the schema. On success *gbnf_out is a
 * malloc'd NUL-terminated string the caller frees with free(); on failure it is NULL. */
kw_status kw_json_schema_to_gbnf(const char *schema_json, char **gbnf_out);

/* Validates instance[0..len) (JSON text) against the schema: KW_OK when valid, KW_ERR_FORMAT when
 * not (or not JSON), KW_ERR_UNSUPPORTED for a keyword outside the subset, KW_ERR_INVALID_ARG when
 * the schema is not JSON. When why is not NULL and the result is not KW_OK, *why may receive a
 * malloc'd message naming the instance's JSON pointer (caller frees with free()); else NULL. */
kw_status kw_json_schema_validate(const char *schema_json, const char *instance, size_t len,
                                  char **why);

#ifdef __cplusplus
}
#endif
#endif
