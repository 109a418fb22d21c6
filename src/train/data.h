/* data.h - private to src/train: what the training-data files share. The corpus sources and the
 * JSON walker that turns a corpus file into raw records (data_json.c), the cleaning of one record
 * (data_clean.c), poem forms (data_form.c), MinHash near-duplicate candidates (minhash.c) and a
 * growable byte buffer. data_prepare.c, data_report.c, sft_data.c and tokenizer_train.c use them.
 *
 * Relies on base only (and jansson/utf8proc inside the .c files). Nothing here is public: the
 * commands reach it through kaiwu.h's training-data section.
 */
#ifndef KAIWU_TRAIN_DATA_H
#define KAIWU_TRAIN_DATA_H

#include "base/base.h"

/* ---------------------------------------------------------------- byte buffer */

/* A growable byte buffer, always NUL-terminated once something was put (p may be NULL before). */
typedef struct dbuf {
    char *p;
    size_t n, cap;
} dbuf;

kw_status dbuf_put(dbuf *b, const void *s, size_t n);
kw_status dbuf_puts(dbuf *b, const char *s);
kw_status dbuf_putc(dbuf *b, char c);
kw_status dbuf_put_cp(dbuf *b, uint32_t cp); /* UTF-8 of one code point */
kw_status dbuf_printf(dbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* JSON string literal of s[0..n) (quotes included, UTF-8 kept, controls escaped). */
kw_status dbuf_put_json_str(dbuf *b, const char *s, size_t n);
void dbuf_free(dbuf *b);

/* True when both paths exist and name the same file (a command must not overwrite its input). */
bool data_same_file(const char *a, const char *b);

/* Writes b's n bytes to path.tmp and renames it over path. */
kw_status data_write_file(const char *path, const dbuf *b);

/* ---------------------------------------------------------------- sources */

/* One kind of corpus file, recognized by a fragment of its path. */
typedef struct data_source {
    const char *match;   /* path fragment, e.g. "/quantangshi/poet.tang." */
    const char *name;    /* what the report and poems.jsonl call it, e.g. "全唐诗" */
    const char *key;     /* id prefix, e.g. "tang" */
    const char *dynasty; /* e.g. "唐"; "" when the source mixes dynasties */
    const char *book;    /* title prefix of untitled chapters ("论语"), or NULL */
    bool is_ci;          /* records are ci: the "rhythmic" field is the cipai */
    bool single_file;    /* ids are key.index (no file part) */
    bool skip;           /* not read; note says why */
    const char *note;
} data_source;

int data_source_count(void);
const data_source *data_source_at(int i);
/* The source a corpus file belongs to: the first entry whose fragment occurs in path; the last
 * entry (generic "其他") when none does. */
int data_source_for_path(const char *path);

/* ---------------------------------------------------------------- raw records */

/* One record as the JSON has it. Every pointer is borrowed for the duration of the callback. */
typedef struct data_raw {
    const char *title;    /* composed title (see data_json.c), "" when none */
    const char *author;   /* "" when none */
    const char *rhythmic; /* ci: the cipai, "" otherwise */
    const char *const *lines;
    int32_t n_lines;
    int32_t index; /* ordinal of the record in its file, from 0 */
} data_raw;

typedef kw_status (*data_raw_fn)(void *user, const data_raw *r);

/* Parses one corpus file's bytes and calls fn for every record in it (an object with a
 * "paragraphs", "para" or "content" list of strings, or a "content" string), in document order;
 * book_hint is the source's book (NULL allowed). name is the file's path for messages. A JSON
 * error is KW_ERR_FORMAT with line and column; fn's failure stops the walk and is returned.
 * *n_records (optional) counts the calls made. */
kw_status data_json_records(const char *json, size_t len, const char *name, const char *book_hint,
                            data_raw_fn fn, void *user, int64_t *n_records);

/* ---------------------------------------------------------------- cleaning */

typedef enum data_reason {
    DR_KEPT = 0,
    DR_EMPTY,        /* nothing left after the notes were removed */
    DR_LOST_TEXT,    /* 存目: a title whose text is lost; the body is an editor's note */
    DR_MISSING_CHAR, /* □ ■ ○ ● marking characters the source could not read */
    DR_GLYPH,        /* {...} or ⿰-style composition of a character Unicode lacks */
    DR_LATIN,        /* Latin letters or digits inside the text: corrupted glyph codes */
    DR_PRIVATE_USE,  /* private-use code points: glyphs only the source's font had */
    DR_REPLACEMENT,  /* U+FFFD: text damaged by a wrong encoding */
    DR_UNEXPECTED,   /* any other character outside Han, Chinese punctuation and space */
    DR_EXACT_DUP,    /* the same Han characters as a kept poem */
    DR_NEAR_DUP,     /* character-shingle Jaccard with a kept poem at or above threshold */
    DR_COVERED,      /* most of its text already in kept poems (an edition's combined entry) */
    DR_COUNT
} data_reason;

const char *data_reason_name(data_reason r); /* short English text, static storage */

/* A cleaned record: NFC, controls and markup removed, punctuation unified, not yet simplified.
 * body holds the lines separated by '\n' (no empty line, none begins or ends with a space). */
typedef struct data_clean {
    dbuf title, author, rhythmic, body;
    uint32_t bad_cp;    /* the character that rejected the record (0 when kept or empty) */
    int32_t n_notes;    /* bracketed notes removed */
    int32_t n_unclosed; /* notes opened and never closed (removed to the end) */
} data_clean;

/* Cleans r into c (whose buffers are reset first, and reused across calls). Returns DR_KEPT or
 * the reason the record is dropped; *st is set on allocation failure (then the result is
 * meaningless). Deterministic; never reads outside r's strings. */
data_reason data_clean_record(const data_raw *r, data_clean *c, kw_status *st);
void data_clean_free(data_clean *c);

/* True for the code points counted as Han characters (CJK unified ideographs of every extension,
 * compatibility ideographs, 〇 and 々). */
bool data_is_han(uint32_t cp);

/* ---------------------------------------------------------------- forms */

/* The regular shi form of a body (see kw_poem_form), NULL when it has none. When it has one and
 * couplets is not NULL, the body rewritten one couplet per line ("床前明月光，疑是地上霜。")
 * is put into couplets. */
const char *data_shi_form(const char *body, size_t len, dbuf *couplets, kw_status *st);

/* ---------------------------------------------------------------- MinHash */

/* Shingles of a text: the 64-bit hashes of every run of k consecutive Han characters (other
 * characters skipped), sorted, duplicates removed. *out is malloc'd (caller frees); *n may be 0.
 */
kw_status mh_shingles(const char *text, size_t len, int k, uint64_t **out, int32_t *n);
/* Exact Jaccard similarity of two sorted, duplicate-free shingle sets (0 when both are empty). */
double mh_jaccard(const uint64_t *a, int32_t na, const uint64_t *b, int32_t nb);

/* Candidate pairs by LSH over MinHash signatures of n_bands * n_rows hash functions: two
 * documents whose signatures agree on all rows of some band. Documents with fewer than
 * min_shingles shingles take no part. Pairs (i < j) are sorted, each once; *pairs is malloc'd
 * (2 * *n_pairs entries, caller frees). A bucket larger than max_bucket is cut to its first
 * max_bucket members (counted in *n_capped) so that one huge bucket cannot go quadratic. */
kw_status mh_candidates(const uint64_t *const *sh, const int32_t *n_sh, int64_t n_docs, int n_bands,
                        int n_rows, int32_t min_shingles, int32_t max_bucket, uint64_t seed,
                        int64_t **pairs, int64_t *n_pairs, int64_t *n_capped);

/* Union-find over n elements, path halving, union by smaller index as root (deterministic). */
typedef struct mh_uf {
    int64_t *parent;
    int64_t n;
} mh_uf;
kw_status mh_uf_init(mh_uf *u, int64_t n);
int64_t mh_uf_find(mh_uf *u, int64_t x);
void mh_uf_union(mh_uf *u, int64_t a, int64_t b); /* the root with the smaller index wins */
void mh_uf_free(mh_uf *u);

/* A set of shingle hashes, each remembering the first document that put it (open addressing). */
typedef struct mh_set {
    uint64_t *keys; /* 0 = empty slot (a key 0 is stored as 1) */
    int64_t *vals;
    uint64_t mask;
    int64_t n;
} mh_set;
kw_status mh_set_init(mh_set *s, int64_t expected);
int64_t mh_set_get(const mh_set *s, uint64_t key);          /* its document, or -1 */
kw_status mh_set_put(mh_set *s, uint64_t key, int64_t val); /* no-op when present */
void mh_set_free(mh_set *s);

/* A 64-bit hash of bytes (FNV-1a, then a finalizer), for split decisions and exact duplicates. */
uint64_t data_hash64(const void *p, size_t n, uint64_t seed);

#endif
