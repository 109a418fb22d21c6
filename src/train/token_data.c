/* token_data.c - a text of documents turned into one stream of token ids, once: documents are
 * split at empty lines, tokenized with kaiwu's tokenizer (in parallel, by blocks of documents,
 * joined in order), each wrapped as BOS doc EOS; the result is cached next to the run so the next
 * run (or a resumed one) reads it back instead.
 *
 * Cache file (little-endian, every size checked against the file before use):
 *   offset  size        meaning
 *   0       8           magic "KWTOKS01"
 *   8       8           FNV-1a 64 of the text file
 *   16      8           FNV-1a 64 of the vocabulary file
 *   24      8           n, token count
 *   32      8           d, document count
 *   40      4 n         token ids (int32)
 *   40+4n   8 (d + 1)   document start offsets (int64; the last is n)
 * A cache whose hashes differ from the current text and vocabulary is ignored and rewritten.
 * Relies on: tok_tokenize (thread-safe over one vocabulary). Must not: write a partial cache
 * under its final name.
 */
#include "train/train.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void token_stream_free(token_stream *s) {
    if (!s) return;
    free(s->ids);
    free(s->mask);
    free(s->docs);
    memset(s, 0, sizeof *s);
}

/* ---------------------------------------------------------------- documents */

typedef struct doc_span {
    size_t off, len;
} doc_span;

/* Splits text at runs of two or more newlines; each document trimmed of surrounding whitespace,
 * empty ones dropped. *out owned by the caller (free). */
static kw_status split_documents(const char *text, size_t len, doc_span **out, int64_t *n_out) {
    int64_t cap = 1024, n = 0;
    doc_span *d = kw_malloc(sizeof *d * (size_t)cap, "document list");
    if (!d) return KW_ERR_NOMEM;
    size_t i = 0;
    while (i < len) {
        size_t start = i, end = i;
        /* a document ends at "\n\n" or at the end of the text */
        while (end < len && !(text[end] == '\n' && end + 1 < len && text[end + 1] == '\n'))
            end++;
        size_t s = start, e = end;
        while (s < e && (text[s] == ' ' || text[s] == '\n' || text[s] == '\r' || text[s] == '\t'))
            s++;
        while (e > s && (text[e - 1] == ' ' || text[e - 1] == '\n' || text[e - 1] == '\r' ||
                         text[e - 1] == '\t'))
            e--;
        if (e > s) {
            if (n == cap) {
                doc_span *g = train_realloc(d, sizeof *d * (size_t)cap * 2, "document list");
                if (!g) {
                    free(d);
                    return KW_ERR_NOMEM;
                }
                d = g, cap *= 2;
            }
            d[n++] = (doc_span){s, e - s};
        }
        i = end;
        while (i < len && text[i] == '\n')
            i++;
    }
    *out = d;
    *n_out = n;
    return KW_OK;
}

/* ---------------------------------------------------------------- tokenizing */

/* Documents per block of the parallel tokenization. */
#define DOCS_PER_BLOCK 512

typedef struct tok_block {
    int32_t *ids; /* owned until joined */
    int64_t n;
    int64_t *doc_len; /* tokens of each document of the block (BOS and EOS included) */
    kw_status st;
    char msg[256];
} tok_block;

typedef struct tok_job {
    const tok_vocab *v;
    const char *text;
    const doc_span *docs;
    int64_t n_docs;
    tok_block *blocks;
} tok_job;

static kw_status tokenize_doc(const tok_vocab *v, const char *s, size_t len, int32_t **buf,
                              int64_t *cap, int64_t *n) {
    const kw_token bos = tok_bos(v), eos = tok_eos(v);
    int64_t need = *n + (int64_t)len + 16;
    for (;;) {
        if (need > *cap) {
            int64_t nc = *cap * 2 > need ? *cap * 2 : need;
            int32_t *g = train_realloc(*buf, sizeof(int32_t) * (size_t)nc, "token block");
            if (!g) return KW_ERR_NOMEM;
            *buf = g, *cap = nc;
        }
        int64_t k = *n;
        if (bos != KW_TOKEN_NONE) (*buf)[k++] = bos;
        int32_t got = 0;
        const int32_t room = (int32_t)(*cap - k - 1 > INT32_MAX ? INT32_MAX : *cap - k - 1);
        kw_status st = tok_tokenize(v, s, len, false, false, *buf + k, room, &got);
        if (st == KW_ERR_BUFFER_SMALL) {
            need = k + got + 2;
            continue;
        }
        if (st) return st;
        k += got;
        if (eos != KW_TOKEN_NONE) (*buf)[k++] = eos;
        *n = k;
        return KW_OK;
    }
}

static void tokenize_block(void *arg, int64_t c, int ith) {
    const tok_job *j = arg;
    tok_block *b = &j->blocks[c];
    (void)ith;
    const int64_t d0 = c * DOCS_PER_BLOCK;
    const int64_t d1 = d0 + DOCS_PER_BLOCK < j->n_docs ? d0 + DOCS_PER_BLOCK : j->n_docs;
    int64_t cap = 0;
    b->doc_len = kw_malloc(sizeof(int64_t) * (size_t)(d1 - d0), "document lengths");
    if (!b->doc_len) {
        b->st = KW_ERR_NOMEM;
        return;
    }
    for (int64_t d = d0; d < d1; d++) {
        const int64_t before = b->n;
        b->st = tokenize_doc(j->v, j->text + j->docs[d].off, j->docs[d].len, &b->ids, &cap, &b->n);
        if (b->st) {
            snprintf(b->msg, sizeof b->msg, "document %lld (byte %zu): %s", (long long)d,
                     j->docs[d].off, kw_last_error());
            return;
        }
        b->doc_len[d - d0] = b->n - before;
    }
}

/* Tokenizes every document on the pool and joins the blocks in order. */
static kw_status tokenize_all(const tok_vocab *v, const char *text, const doc_span *docs,
                              int64_t n_docs, kw_pool *pool, token_stream *out) {
    const int64_t nb = (n_docs + DOCS_PER_BLOCK - 1) / DOCS_PER_BLOCK;
    tok_block *blocks = kw_calloc((size_t)(nb > 0 ? nb : 1), sizeof *blocks, "token blocks");
    if (!blocks) return KW_ERR_NOMEM;
    tok_job j = {v, text, docs, n_docs, blocks};
    kw_pool_for(pool, nb, tokenize_block, &j);
    kw_status st = KW_OK;
    int64_t total = 0;
    for (int64_t b = 0; b < nb && !st; b++) {
        if (blocks[b].st) st = kw_error(blocks[b].st, "tokenizing: %s", blocks[b].msg);
        total += blocks[b].n;
    }
    token_stream s = {0};
    if (!st) {
        s.ids = kw_malloc(sizeof(int32_t) * (size_t)(total > 0 ? total : 1), "token stream");
        s.docs = kw_malloc(sizeof(int64_t) * (size_t)(n_docs + 1), "document offsets");
        if (!s.ids || !s.docs) st = KW_ERR_NOMEM;
    }
    if (!st) {
        int64_t k = 0, d = 0;
        for (int64_t b = 0; b < nb; b++) {
            memcpy(s.ids + k, blocks[b].ids, sizeof(int32_t) * (size_t)blocks[b].n);
            const int64_t nd =
                (b + 1) * DOCS_PER_BLOCK < n_docs ? DOCS_PER_BLOCK : n_docs - b * DOCS_PER_BLOCK;
            for (int64_t i = 0; i < nd; i++, d++) {
                s.docs[d] = k;
                k += blocks[b].doc_len[i];
            }
        }
        s.docs[n_docs] = k;
        s.n = total, s.n_docs = n_docs;
        *out = s;
    } else {
        token_stream_free(&s);
    }
    for (int64_t b = 0; b < nb; b++)
        free(blocks[b].ids), free(blocks[b].doc_len);
    free(blocks);
    return st;
}

/* ---------------------------------------------------------------- cache */

#define CACHE_MAGIC  "KWTOKS01"
#define CACHE_HEADER 40

static void put_u64(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_u64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

kw_status token_cache_read(const char *path, uint64_t text_hash, uint64_t vocab_hash,
                           token_stream *out) {
    FILE *probe = fopen(path, "rb");
    if (!probe) return KW_OK;
    fclose(probe);
    kw_mapped_file f;
    kw_status st = kw_file_map(path, &f);
    if (st) return st;
    const uint8_t *p = f.data;
    if (f.size < CACHE_HEADER || memcmp(p, CACHE_MAGIC, 8) != 0 || get_u64(p + 8) != text_hash ||
        get_u64(p + 16) != vocab_hash) {
        kw_file_unmap(&f);
        return KW_OK; /* stale or foreign: rebuilt */
    }
    const uint64_t n = get_u64(p + 24), d = get_u64(p + 32);
    if (n > (f.size - CACHE_HEADER) / 4 || d >= (f.size - CACHE_HEADER - 4 * n) / 8 ||
        f.size != CACHE_HEADER + 4 * n + 8 * (d + 1)) {
        kw_file_unmap(&f);
        return kw_error(KW_ERR_FORMAT,
                        "token cache '%s': %llu tokens and %llu documents do not match its size "
                        "%llu (delete it to rebuild)",
                        path, (unsigned long long)n, (unsigned long long)d,
                        (unsigned long long)f.size);
    }
    token_stream s = {0};
    s.ids = kw_malloc(4 * (size_t)(n > 0 ? n : 1), "token stream");
    s.docs = kw_malloc(8 * (size_t)(d + 1), "document offsets");
    if (!s.ids || !s.docs) {
        token_stream_free(&s);
        kw_file_unmap(&f);
        return KW_ERR_NOMEM;
    }
    memcpy(s.ids, p + CACHE_HEADER, 4 * (size_t)n);
    memcpy(s.docs, p + CACHE_HEADER + 4 * n, 8 * (size_t)(d + 1));
    s.n = (int64_t)n, s.n_docs = (int64_t)d;
    kw_file_unmap(&f);
    /* document offsets index the tokens: they must start at 0, never decrease, end at n */
    bool ok = s.docs[0] == 0 && s.docs[d] == (int64_t)n;
    for (uint64_t i = 0; ok && i < d; i++)
        ok = s.docs[i] <= s.docs[i + 1];
    if (!ok) {
        token_stream_free(&s);
        return kw_error(KW_ERR_FORMAT,
                        "token cache '%s': its document offsets are not 0 .. %llu in order "
                        "(delete it to rebuild)",
                        path, (unsigned long long)n);
    }
    *out = s;
    return KW_OK;
}

static kw_status cache_write(const char *path, uint64_t text_hash, uint64_t vocab_hash,
                             const token_stream *s) {
    uint8_t h[CACHE_HEADER];
    memcpy(h, CACHE_MAGIC, 8);
    put_u64(h + 8, text_hash);
    put_u64(h + 16, vocab_hash);
    put_u64(h + 24, (uint64_t)s->n);
    put_u64(h + 32, (uint64_t)s->n_docs);
    const void *parts[3] = {h, s->ids, s->docs};
    const size_t lens[3] = {sizeof h, 4 * (size_t)s->n, 8 * (size_t)(s->n_docs + 1)};
    return train_file_write(path, parts, lens, 3);
}

kw_status token_stream_from_text(const tok_vocab *vocab, uint64_t vocab_hash, const char *path,
                                 const char *cache_dir, kw_pool *pool, token_stream *out) {
    kw_mapped_file f;
    kw_status st = kw_file_map(path, &f);
    if (st) return st;
    const char *text = (const char *)f.data;
    const uint64_t text_hash = train_hash(TRAIN_HASH_SEED, text, (size_t)f.size);
    char cache[4096] = "";
    if (cache_dir) {
        const char *base = strrchr(path, '/');
        base = base ? base + 1 : path;
        snprintf(cache, sizeof cache, "%s/%s.%016llx.tokens", cache_dir, base,
                 (unsigned long long)(text_hash ^ vocab_hash));
        token_stream s = {0};
        if ((st = token_cache_read(cache, text_hash, vocab_hash, &s))) goto done;
        if (s.ids) {
            *out = s;
            goto done;
        }
    }
    doc_span *docs = NULL;
    int64_t n_docs = 0;
    if ((st = split_documents(text, (size_t)f.size, &docs, &n_docs))) goto done;
    if (n_docs == 0) {
        free(docs);
        st = kw_error(KW_ERR_FORMAT,
                      "'%s' holds no document (documents are separated by empty "
                      "lines)",
                      path);
        goto done;
    }
    token_stream s = {0};
    st = tokenize_all(vocab, text, docs, n_docs, pool, &s);
    free(docs);
    if (st) goto done;
    if (cache_dir && (st = cache_write(cache, text_hash, vocab_hash, &s))) {
        token_stream_free(&s);
        goto done;
    }
    *out = s;
done:
    if (st) kw_error_wrap(st, "'%s'", path);
    kw_file_unmap(&f);
    return st;
}
