/* bpe.c - byte-level BPE (tokenizer.ggml.model "gpt2"): the GPT-2 byte <-> symbol table and the
 * merge loop that turns one pre-token into token ids.
 *
 * Each byte of a pre-token becomes one printable symbol (GPT-2's table); adjacent symbols are
 * merged lowest merge rank first (leftmost on ties) with a binary heap of candidate pairs, pairs
 * made stale by an earlier merge being skipped when popped. This is the algorithm of the original
 * GPT-2 encoder and of llama.cpp's BPE session, so ids match theirs.
 *
 * Relies on the vocab's token and merge maps and on pretok.c. Invalid UTF-8 in the input is
 * replaced by U+FFFD before splitting (as llama.cpp does). Allocates scratch per call only.
 */
#include "tokenizer/vocab.h"

#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- GPT-2 byte table */

/* Bytes that are printable and not space stand for themselves; the other 68 bytes map in order
 * to U+0100, U+0101, ... (GPT-2's bytes_to_unicode). */
static bool byte_is_self(int b) {
    return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
}

void tok_bytemap_init(tok_vocab *v) {
    int n = 0;
    memset(v->cp_byte, 0xff, sizeof(v->cp_byte));
    for (int b = 0; b < 256; b++) {
        uint32_t cp = byte_is_self(b) ? (uint32_t)b : 256u + (uint32_t)n++;
        char tmp[4];
        v->sym_len[b] = (uint8_t)kw_utf8_encode(cp, tmp);
        memcpy(v->sym[b], tmp, 2);
        v->cp_byte[cp] = (int16_t)b;
    }
}

/* ---------------------------------------------------------------- merge heap */

typedef struct sym {
    int32_t prev, next; /* neighbours, -1 at the ends */
    uint32_t off, n;    /* bytes in the mapped word; n = 0 once merged into the left neighbour */
} sym;

typedef struct pair {
    int32_t rank, left, right;
    uint32_t left_n, right_n; /* sizes when queued: a pair is stale if either changed */
} pair;

typedef struct scratch {
    char *word; /* the byte-mapped pre-token */
    size_t word_cap;
    sym *syms;
    size_t syms_cap;
    pair *heap;
    size_t heap_n, heap_cap;
} scratch;

static bool pair_before(const pair *a, const pair *b) {
    return a->rank < b->rank || (a->rank == b->rank && a->left < b->left);
}

static kw_status heap_push(scratch *s, pair p) {
    if (s->heap_n == s->heap_cap) {
        size_t cap = s->heap_cap ? s->heap_cap * 2 : 64;
        pair *h = tok_grow(s->heap, s->heap_n * sizeof(*h), cap * sizeof(*h), "bpe merge queue");
        if (!h) return kw_error(KW_ERR_NOMEM, "bpe: out of memory for the merge queue");
        s->heap = h;
        s->heap_cap = cap;
    }
    size_t i = s->heap_n++;
    while (i > 0) {
        size_t up = (i - 1) / 2;
        if (!pair_before(&p, &s->heap[up])) break;
        s->heap[i] = s->heap[up];
        i = up;
    }
    s->heap[i] = p;
    return KW_OK;
}

static pair heap_pop(scratch *s) {
    pair top = s->heap[0], last = s->heap[--s->heap_n];
    size_t i = 0, n = s->heap_n;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && pair_before(&s->heap[c + 1], &s->heap[c])) c++;
        if (!pair_before(&s->heap[c], &last)) break;
        s->heap[i] = s->heap[c];
        i = c;
    }
    if (n) s->heap[i] = last;
    return top;
}

static kw_status try_pair(const tok_vocab *v, scratch *s, int32_t l, int32_t r) {
    if (l < 0 || r < 0) return KW_OK;
    const sym *a = &s->syms[l], *b = &s->syms[r];
    int32_t rank = tok_merge_rank(v, s->word + a->off, a->n, s->word + b->off, b->n);
    if (rank < 0) return KW_OK;
    return heap_push(s, (pair){rank, l, r, a->n, b->n});
}

static kw_status grow(void **p, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return KW_OK;
    size_t c = *cap ? *cap : 64;
    while (c < need)
        c *= 2;
    void *q = tok_grow(*p, *cap * elem, c * elem, "bpe word");
    if (!q) return kw_error(KW_ERR_NOMEM, "bpe: out of memory for a %zu-byte word", need);
    *p = q;
    *cap = c;
    return KW_OK;
}

/* Emits the tokens of a merged symbol; a symbol with no token gives the tokens of its single
 * bytes where those exist (llama.cpp's rule: falcon's missing 0x0B byte symbol is dropped). */
static kw_status emit(const tok_vocab *v, const char *s, size_t n, tok_out *out) {
    kw_token t = tok_find(v, s, n);
    if (t != KW_TOKEN_NONE) return tok_out_push(out, t);
    for (size_t i = 0; i < n; i++) {
        t = tok_find(v, s + i, 1);
        if (t != KW_TOKEN_NONE) {
            kw_status st = tok_out_push(out, t);
            if (st != KW_OK) return st;
        }
    }
    return KW_OK;
}

/* BPE of one pre-token (raw bytes p[0..n)). */
static kw_status bpe_word(const tok_vocab *v, scratch *s, const char *p, size_t n, tok_out *out) {
    kw_status st = grow((void **)&s->word, &s->word_cap, 2 * n, 1);
    if (st == KW_OK) st = grow((void **)&s->syms, &s->syms_cap, n, sizeof(sym));
    if (st != KW_OK) return st;
    size_t wn = 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t b = (uint8_t)p[i];
        int k = v->sym_len[b];
        s->syms[i] =
            (sym){(int32_t)i - 1, i + 1 < n ? (int32_t)i + 1 : -1, (uint32_t)wn, (uint32_t)k};
        memcpy(s->word + wn, v->sym[b], (size_t)k);
        wn += (size_t)k;
    }
    if (v->ignore_merges) { /* llama3: a pre-token that is a token is not merged */
        kw_token t = tok_find(v, s->word, wn);
        if (t != KW_TOKEN_NONE) return tok_out_push(out, t);
    }
    s->heap_n = 0;
    for (size_t i = 1; i < n && st == KW_OK; i++)
        st = try_pair(v, s, (int32_t)i - 1, (int32_t)i);
    while (st == KW_OK && s->heap_n > 0) {
        pair pr = heap_pop(s);
        sym *a = &s->syms[pr.left], *b = &s->syms[pr.right];
        if (a->n != pr.left_n || b->n != pr.right_n || a->n == 0 || b->n == 0) continue; /* stale */
        a->n += b->n;
        b->n = 0;
        a->next = b->next;
        if (b->next >= 0) s->syms[b->next].prev = pr.left;
        st = try_pair(v, s, a->prev, pr.left);
        if (st == KW_OK) st = try_pair(v, s, pr.left, a->next);
    }
    for (int32_t i = 0; st == KW_OK && i >= 0 && n > 0; i = s->syms[i].next)
        st = emit(v, s->word + s->syms[i].off, s->syms[i].n, out);
    return st;
}

/* ---------------------------------------------------------------- entry point */

/* A copy of text with every invalid UTF-8 byte replaced by U+FFFD, or NULL when text is valid. */
static kw_status sanitize(const char *text, size_t len, char **clean, size_t *clean_len) {
    size_t i = 0, bad = 0;
    while (i < len) {
        uint32_t cp;
        int k = kw_utf8_decode((const uint8_t *)text + i, len - i, &cp);
        if (k == 1 && cp == 0xFFFD) bad++;
        i += (size_t)k;
    }
    *clean = NULL;
    if (bad == 0) return KW_OK;
    char *c = kw_malloc(len + 2 * bad + 1, "sanitized text");
    if (!c) return KW_ERR_NOMEM;
    size_t o = 0;
    for (i = 0; i < len;) {
        uint32_t cp;
        int k = kw_utf8_decode((const uint8_t *)text + i, len - i, &cp);
        if (k == 1 && cp == 0xFFFD) {
            memcpy(c + o, "\xEF\xBF\xBD", 3);
            o += 3;
        } else {
            memcpy(c + o, text + i, (size_t)k);
            o += (size_t)k;
        }
        i += (size_t)k;
    }
    *clean = c;
    *clean_len = o;
    return KW_OK;
}

kw_status tok_bpe_tokenize(const tok_vocab *v, const char *text, size_t len, tok_out *out) {
    char *clean = NULL;
    kw_status st = sanitize(text, len, &clean, &len);
    if (st != KW_OK) return st;
    if (clean) text = clean;
    tok_spans cur = {0}, next = {0};
    scratch s = {0};
    st = tok_pretok_split(v, text, len, &cur, &next);
    for (int64_t i = 0; st == KW_OK && i < cur.n; i++)
        st = bpe_word(v, &s, text + cur.a[i].off, cur.a[i].len, out);
    tok_spans_free(&cur);
    tok_spans_free(&next);
    free(s.word);
    free(s.syms);
    free(s.heap);
    free(clean);
    return st;
}
