/* tokenizer.h - vocabularies from GGUF metadata and the two tokenizer families:
 * SentencePiece-style BPE by scores (tokenizer.ggml.model "llama") and byte-level BPE by merges
 * ("gpt2", with the pre-tokenizer regex chosen by tokenizer.ggml.pre, run through PCRE2).
 *
 * A tok_vocab is immutable after loading and safe to share between threads; tokenizing allocates
 * only per call.
 */
#ifndef KAIWU_TOKENIZER_H
#define KAIWU_TOKENIZER_H

#include "gguf/gguf.h"

typedef enum tok_kind { TOK_KIND_SPM = 0, TOK_KIND_BPE = 1 } tok_kind;

/* Token types as stored in tokenizer.ggml.token_type. */
typedef enum tok_type {
    TOK_TYPE_UNDEFINED = 0,
    TOK_TYPE_NORMAL = 1,
    TOK_TYPE_UNKNOWN = 2,
    TOK_TYPE_CONTROL = 3,
    TOK_TYPE_USER_DEFINED = 4,
    TOK_TYPE_UNUSED = 5,
    TOK_TYPE_BYTE = 6,
} tok_type;

typedef struct tok_vocab tok_vocab;

/* Loads the vocabulary from tokenizer.ggml.* keys; errors name the key and the numbers.
 * On success *out is owned by the caller (tok_vocab_free). The gguf file must stay open while the
 * vocab lives only if the implementation keeps views into it (it copies what it needs). */
kw_status tok_vocab_load(const kw_gguf *g, tok_vocab **out);
void tok_vocab_free(tok_vocab *v);

tok_kind tok_vocab_kind(const tok_vocab *v);
const char *tok_vocab_pre_name(const tok_vocab *v); /* tokenizer.ggml.pre or "default" */
int32_t tok_n_vocab(const tok_vocab *v);
kw_token tok_bos(const tok_vocab *v); /* KW_TOKEN_NONE when absent */
kw_token tok_eos(const tok_vocab *v);
kw_token tok_eot(const tok_vocab *v);
kw_token tok_unk(const tok_vocab *v);
kw_token tok_pad(const tok_vocab *v);
bool tok_add_bos(const tok_vocab *v);
bool tok_add_eos(const tok_vocab *v);
bool tok_is_eog(const tok_vocab *v, kw_token t);
tok_type tok_token_type(const tok_vocab *v, kw_token t);
/* The token's text as stored in the vocabulary (borrowed; not NUL-terminated; len in *len). */
const char *tok_token_text(const tok_vocab *v, kw_token t, size_t *len);

/* Same contracts as kw_tokenize / kw_token_to_piece / kw_detokenize in kaiwu.h. */
kw_status tok_tokenize(const tok_vocab *v, const char *text, size_t len, bool add_special,
                       bool parse_special, kw_token *out, int32_t cap, int32_t *n_out);
int32_t tok_token_to_piece(const tok_vocab *v, kw_token t, char *buf, int32_t cap,
                           bool render_special);
int64_t tok_detokenize(const tok_vocab *v, const kw_token *tokens, int32_t n, char *buf, size_t cap,
                       bool render_special);

#endif
