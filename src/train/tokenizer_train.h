/* tokenizer_train.h - private to tokenizer_train.c and tokenizer_write.c: the vocabulary being
 * trained and the corpus units it segments.
 *
 * Token ids: 0..5 the special tokens (tt_special), 6..261 the byte tokens <0x00>..<0xFF>, then
 * the characters by falling frequency, then the merged pieces in merge order.
 */
#ifndef KAIWU_TRAIN_TOKENIZER_TRAIN_H
#define KAIWU_TRAIN_TOKENIZER_TRAIN_H

#include "train/data.h"

#define TT_N_SPECIAL  6
#define TT_FIRST_BYTE TT_N_SPECIAL
#define TT_FIRST_CHAR (TT_FIRST_BYTE + 256)

enum { TT_UNK = 0, TT_BOS = 1, TT_EOS = 2, TT_PAD = 3, TT_IM_START = 4, TT_IM_END = 5 };

extern const char *const tt_special[TT_N_SPECIAL];

/* Token texts with a text -> id map. Texts are SentencePiece-escaped (space = "▁"). */
typedef struct tt_vocab {
    dbuf arena;    /* all texts back to back */
    uint64_t *off; /* [n] offset into arena */
    uint32_t *len; /* [n] bytes */
    float *score;  /* [n] */
    uint8_t *type; /* [n] tok_type values */
    int32_t n, cap;
    int32_t *slots; /* open addressing, -1 empty */
    uint32_t mask;
    int32_t n_chars, n_merges;
} tt_vocab;

kw_status tt_vocab_add(tt_vocab *v, const char *s, size_t n, float score, uint8_t type,
                       int32_t *id);
/* Id of the text a[0..an) followed by b[0..bn), or -1. */
int32_t tt_vocab_find2(const tt_vocab *v, const char *a, size_t an, const char *b, size_t bn);
static inline const char *tt_text(const tt_vocab *v, int32_t id) { return v->arena.p + v->off[id]; }
void tt_vocab_free(tt_vocab *v);

/* The units of the corpus: its lines (a line keeps its '\n', except the last line of a document),
 * deduplicated with a weight, escaped, and each one's current segmentation. Ids >= 0 are tokens;
 * -1 is a character outside the vocabulary (byte fallback), cut by its lead byte as spm.c does. */
typedef struct tt_units {
    dbuf text;       /* escaped unit texts back to back */
    uint64_t *toff;  /* [n] */
    uint32_t *tlen;  /* [n] */
    int64_t *weight; /* [n] occurrences */
    uint64_t *soff;  /* [n] offset of the segmentation in ids / pos */
    uint32_t *slen;  /* [n] current symbols */
    int32_t *ids;    /* symbols */
    uint32_t *pos;   /* character index of each symbol's start (SPM's tie-break) */
    int64_t n, cap, n_sym;
    int64_t n_docs, n_chars; /* documents and characters read (occurrences) */
} tt_units;

void tt_units_free(tt_units *u);

/* Writes the GGUF tokenizer (tokenizer_write.c). */
kw_status tt_write_gguf(const tt_vocab *v, const char *path, const kw_tokenizer_train_params *p,
                        const kw_tokenizer_train_stats *s);
/* Loads path with kaiwu's tokenizer and checks that it segments every unit as the trainer did,
 * round-trips every document of the data files, and counts tokens per character. */
kw_status tt_verify(const char *path, const tt_units *u, const kw_tokenizer_train_params *p,
                    kw_tokenizer_train_stats *s);

#endif
