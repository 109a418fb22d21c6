/* vocab.h - private to src/tokenizer: the tok_vocab structure, the text -> id hash map, and the
 * internal entry points the tokenizer files share (pre-tokenizer, BPE, SPM, token output buffer).
 *
 * Relies on base (memory, UTF-8) and PCRE2 (compiled pre-tokenizer regexes kept in the vocab).
 * Nothing here is visible outside the tokenizer module.
 */
#ifndef KAIWU_TOK_VOCAB_H
#define KAIWU_TOK_VOCAB_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "tokenizer/tokenizer.h"

/* ---------------------------------------------------------------- hash map */

/* Open-addressing map from byte strings to entry indices. The strings themselves live in the
 * caller's arrays (keys[i], key_lens[i]); the map stores entry indices only. */
typedef struct tok_map {
    int32_t *slots;   /* entry index or -1; size mask + 1 (a power of two, >= 2 * entries) */
    uint32_t *hashes; /* hash of the entry in each slot (skips most memcmp calls) */
    uint32_t mask;
} tok_map;

uint32_t tok_hash_bytes(uint32_t h, const char *s, size_t n);
#define TOK_HASH_SEED 2166136261u

/* ---------------------------------------------------------------- pre-tokenizer */

#define TOK_MAX_REGEX 6

/* ---------------------------------------------------------------- the vocabulary */

struct tok_vocab {
    tok_kind kind;
    char *pre_name;  /* tokenizer.ggml.pre, or "default" (owned) */
    int32_t n_vocab; /* e.g. 151936 */

    char *arena;        /* all token texts, back to back (owned) */
    const char **text;  /* [n_vocab] token text, into arena (not NUL-terminated) */
    uint32_t *text_len; /* [n_vocab] bytes */
    float *score;       /* [n_vocab] SPM merge priority (0 when the file has no scores) */
    uint8_t *type;      /* [n_vocab] tok_type */
    uint8_t *eog;       /* [n_vocab] 1 for end-of-generation tokens */
    uint8_t *rstrip;    /* [n_vocab] 1 when a matched special token swallows following spaces */
    tok_map tok_map;    /* token text -> id */

    int32_t n_merges; /* BPE: merge rules, rank = index */
    char *merge_arena;
    const char **merge; /* [n_merges] "left right" (into merge_arena) */
    uint32_t *merge_len;
    uint32_t *merge_split; /* [n_merges] offset of the separating space */
    tok_map merge_map;     /* merge line -> rank */

    kw_token bos, eos, eot, eom, unk, pad, sep; /* KW_TOKEN_NONE when absent */
    bool add_bos, add_eos;
    bool add_space_prefix; /* SPM: "▁" before the text and after each special token */
    bool ignore_merges;    /* BPE: a pre-token that is a token is emitted whole (llama3) */
    bool clean_spaces;     /* detokenize: remove spaces before punctuation (gpt-2 style) */

    kw_token *special; /* control / user-defined / unknown tokens, longest text first */
    int32_t n_special;

    kw_token byte_token[256]; /* SPM: the <0xXX> token of each byte (or -1) */
    char sym[256][2];         /* BPE: UTF-8 of the GPT-2 symbol standing for each byte */
    uint8_t sym_len[256];     /* its length, 1 or 2 */
    int16_t cp_byte[324];     /* symbol code point -> byte, -1 for code points not in the table */

    int n_regex; /* BPE pre-tokenizer: splits applied in order */
    pcre2_code *regex[TOK_MAX_REGEX];
};

/* Token id of the text s[0..n), or -1. */
kw_token tok_find(const tok_vocab *v, const char *s, size_t n);
/* Merge rank of (left, right) or -1. */
int32_t tok_merge_rank(const tok_vocab *v, const char *l, size_t ln, const char *r, size_t rn);

/* Grows an allocation made with kw_malloc: a new block of new_size bytes holding the first
 * keep bytes of p (p is freed). NULL (with a KW_ERR_NOMEM message) on failure, p untouched. */
void *tok_grow(void *p, size_t keep, size_t new_size, const char *what);

/* ---------------------------------------------------------------- per-call output */

/* A growable id list (per tokenize call). */
typedef struct tok_out {
    kw_token *ids;
    int64_t n, cap;
} tok_out;

kw_status tok_out_push(tok_out *o, kw_token t);

/* Selects and compiles the pre-tokenizer regexes for v->pre_name (BPE); sets ignore_merges and
 * clean_spaces as the pre-tokenizer calls for. Unknown names fall back to GPT-2 with a warning. */
kw_status tok_pretok_init(tok_vocab *v);
void tok_pretok_free(tok_vocab *v);

/* Pieces of a text run, as byte offsets into it (per call scratch). */
typedef struct tok_span {
    size_t off, len;
} tok_span;
typedef struct tok_spans {
    tok_span *a;
    int64_t n, cap;
} tok_spans;
kw_status tok_spans_push(tok_spans *s, size_t off, size_t len);
void tok_spans_free(tok_spans *s);
/* Splits valid UTF-8 text into pre-tokens (in cur; next is scratch). */
kw_status tok_pretok_split(const tok_vocab *v, const char *text, size_t len, tok_spans *cur,
                           tok_spans *next);

/* Byte-level BPE of one text run (no special tokens inside): pre-tokenize, byte-map, merge. */
kw_status tok_bpe_tokenize(const tok_vocab *v, const char *text, size_t len, tok_out *out);
/* SentencePiece-style merge by scores of one run whose spaces are already "▁". */
kw_status tok_spm_tokenize(const tok_vocab *v, const char *text, size_t len, tok_out *out);

/* Fills the GPT-2 byte <-> symbol tables (sym, sym_len, cp_byte) of v. */
void tok_bytemap_init(tok_vocab *v);

#endif
