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

typedef struct kw_context_params {
    int32_t n_ctx;     /* tokens the KV cache holds; 0 = the model's training context */
    int32_t n_batch;   /* most tokens per kw_decode call (scratch is sized for it); 0 = 512 */
    int32_t n_threads; /* worker threads for evaluation; 0 = number of CPU cores */
} kw_context_params;

kw_context_params kw_context_default_params(void);

/* Creates a context: all memory (KV cache, scratch) is allocated here, none per token.
 * On success *out is owned by the caller: free with kw_context_free(). The model is borrowed
 * and must outlive the context. */
kw_status kw_context_create(kw_model *model, const kw_context_params *params, kw_context **out);
void kw_context_free(kw_context *ctx); /* NULL is allowed */

int32_t kw_context_n_ctx(const kw_context *ctx);
int32_t kw_context_n_batch(const kw_context *ctx);
uint64_t kw_context_kv_bytes(const kw_context *ctx); /* bytes held by the KV cache */
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
} kw_sampler_params;

kw_sampler_params kw_sampler_default_params(void);

/* The sampler chain: penalties -> top-k -> top-p -> min-p -> temperature -> draw.
 * On success *out is owned by the caller: free with kw_sampler_free(). It allocates its buffers
 * here, none per token. The model is borrowed and must outlive the sampler. */
kw_status kw_sampler_create(const kw_model *model, const kw_sampler_params *params,
                            kw_sampler **out);
void kw_sampler_free(kw_sampler *s); /* NULL is allowed */
/* Picks a token from logits (n_vocab floats; read, not modified). */
kw_token kw_sampler_sample(kw_sampler *s, const float *logits);
/* Records a token in the penalty history (call for prompt and generated tokens alike). */
void kw_sampler_accept(kw_sampler *s, kw_token token);
void kw_sampler_reset(kw_sampler *s);

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
    KW_FTYPE_BF16 = 32,
} kw_ftype;

/* Parses a target name, case-insensitive: "F32", "F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q5_0",
 * "Q5_1", "Q2_K", "Q3_K" (= Q3_K_M), "Q3_K_S", "Q3_K_M", "Q3_K_L", "Q4_K" (= Q4_K_M), "Q4_K_S",
 * "Q4_K_M", "Q5_K" (= Q5_K_M), "Q5_K_S", "Q5_K_M", "Q6_K". KW_ERR_INVALID_ARG listing the names
 * when unknown. */
kw_status kw_ftype_from_name(const char *name, kw_ftype *out);
/* The canonical name of a target ("Q4_K_M"); "?" for a value outside the enum. Static storage. */
const char *kw_ftype_name(kw_ftype ftype);
/* The storage type (ggml id) a target gives most 2-D weights, e.g. Q4_K for Q4_K_M; -1 if unknown.
 */
int32_t kw_ftype_base_type(kw_ftype ftype);
/* The ggml type id of a storage type name ("q6_k", "F16", ...; case-insensitive), -1 if unknown
 * or not a type kaiwu can quantize to. */
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
    const char *imatrix_path;         /* NULL, or a file written by kw_imatrix_save */
    kw_quantize_progress_fn progress; /* NULL or called after each tensor and during big ones */
    kw_quantize_tensor_fn on_tensor;  /* NULL or called once per tensor, in output order */
    void *user;                       /* passed to both callbacks */
} kw_quantize_params;

kw_quantize_params kw_quantize_default_params(void); /* Q8_0, all cores, mix rules on */

/* Reads in_path (any GGUF model kaiwu can read) and writes out_path with the weights converted:
 * 1-D tensors (norms, biases, rope factors) are copied unchanged; 2-D+ weights get the type the
 * mix (or pure / overrides) chooses. A row length that is not a multiple of the chosen type's block
 * falls back to Q8_0 (row length divisible by 32) or F16, with a note, unless refuse_fallback.
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

/* Prepares chat rendering for a model (borrowed: must outlive the kw_chat). format NULL (or "")
 * uses the model's tokenizer.chat_template; a model without one fails with KW_ERR_INVALID_ARG
 * and a message listing the built-in formats. A format name selects a built-in format instead
 * (an unknown name fails the same way). bos_token/eos_token of the rendering are the texts of the
 * model's BOS/EOS tokens. On success *out is owned by the caller: free with kw_chat_free(). */
kw_status kw_chat_create(const kw_model *model, const char *format, kw_chat **out);
void kw_chat_free(kw_chat *chat); /* NULL is allowed */
/* "model template" or the built-in format's name (static storage). */
const char *kw_chat_format_used(const kw_chat *chat);

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

#ifdef __cplusplus
}
#endif
#endif
