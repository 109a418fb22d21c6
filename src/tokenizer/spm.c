/* spm.c - SentencePiece-style tokenization (tokenizer.ggml.model "llama"): merge by scores.
 *
 * The text (spaces already turned into "▁") is split into UTF-8 characters; then, repeatedly, the
 * adjacent pair whose concatenation is a vocabulary token with the highest score is merged
 * (leftmost on equal scores), using a binary heap of candidate pairs; stale candidates are
 * skipped when popped. Symbols that are not tokens at the end fall back to byte tokens <0xXX>
 * (or a single-byte token, or <unk> when the vocabulary has neither). This reproduces
 * SentencePiece BPE inference and llama.cpp's SPM session.
 *
 * Relies on the vocab's token map and scores. Allocates scratch per call only.
 */
#include "tokenizer/vocab.h"

#include <stdlib.h>
#include <string.h>

typedef struct sym {
    int32_t prev, next;
    uint32_t off, n; /* n = 0 once merged into the left neighbour */
} sym;

typedef struct cand {
    float score;
    int32_t left, right;
    uint32_t size; /* bytes of the merged text when queued: stale if the sizes changed */
} cand;

typedef struct heap {
    cand *a;
    size_t n, cap;
} heap;

static bool cand_before(const cand *x, const cand *y) {
    return x->score > y->score || (x->score == y->score && x->left < y->left);
}

static kw_status heap_push(heap *h, cand c) {
    if (h->n == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 64;
        cand *a = tok_grow(h->a, h->n * sizeof(*a), cap * sizeof(*a), "spm merge queue");
        if (!a) return kw_error(KW_ERR_NOMEM, "spm: out of memory for the merge queue");
        h->a = a;
        h->cap = cap;
    }
    size_t i = h->n++;
    while (i > 0) {
        size_t up = (i - 1) / 2;
        if (!cand_before(&c, &h->a[up])) break;
        h->a[i] = h->a[up];
        i = up;
    }
    h->a[i] = c;
    return KW_OK;
}

static cand heap_pop(heap *h) {
    cand top = h->a[0], last = h->a[--h->n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h->n) break;
        if (c + 1 < h->n && cand_before(&h->a[c + 1], &h->a[c])) c++;
        if (!cand_before(&h->a[c], &last)) break;
        h->a[i] = h->a[c];
        i = c;
    }
    if (h->n) h->a[i] = last;
    return top;
}

static kw_status try_pair(const tok_vocab *v, const char *text, const sym *syms, heap *h, int32_t l,
                          int32_t r) {
    if (l < 0 || r < 0) return KW_OK;
    uint32_t size = syms[l].n + syms[r].n;
    kw_token t = tok_find(v, text + syms[l].off, size);
    if (t == KW_TOKEN_NONE) return KW_OK;
    return heap_push(h, (cand){v->score[t], l, r, size});
}

/* Tokens for a symbol that is not in the vocabulary: one per byte. */
static kw_status emit_bytes(const tok_vocab *v, const char *s, size_t n, tok_out *out) {
    for (size_t i = 0; i < n; i++) {
        uint8_t b = (uint8_t)s[i];
        kw_token t = v->byte_token[b];
        if (t == KW_TOKEN_NONE) t = tok_find(v, s + i, 1);
        if (t == KW_TOKEN_NONE) t = v->unk;
        if (t == KW_TOKEN_NONE)
            return kw_error(KW_ERR_UNSUPPORTED,
                            "spm: byte 0x%02X has no token and the vocabulary "
                            "has neither byte tokens nor <unk>",
                            b);
        kw_status st = tok_out_push(out, t);
        if (st != KW_OK) return st;
    }
    return KW_OK;
}

kw_status tok_spm_tokenize(const tok_vocab *v, const char *text, size_t len, tok_out *out) {
    if (len == 0) return KW_OK;
    sym *syms = kw_malloc(len * sizeof(*syms), "spm symbols");
    if (!syms) return KW_ERR_NOMEM;
    int32_t n = 0;
    for (size_t off = 0; off < len; n++) {
        size_t k = (size_t)kw_utf8_seq_len((uint8_t)text[off]);
        if (k == 0) k = 1; /* a stray byte is a character of its own */
        if (k > len - off) k = len - off;
        syms[n] = (sym){n - 1, off + k < len ? n + 1 : -1, (uint32_t)off, (uint32_t)k};
        off += k;
    }
    heap h = {0};
    kw_status st = KW_OK;
    for (int32_t i = 1; i < n && st == KW_OK; i++)
        st = try_pair(v, text, syms, &h, i - 1, i);
    while (st == KW_OK && h.n > 0) {
        cand c = heap_pop(&h);
        sym *a = &syms[c.left], *b = &syms[c.right];
        if (a->n == 0 || b->n == 0 || a->n + b->n != c.size) continue; /* stale */
        a->n += b->n;
        b->n = 0;
        a->next = b->next;
        if (b->next >= 0) syms[b->next].prev = c.left;
        st = try_pair(v, text, syms, &h, a->prev, c.left);
        if (st == KW_OK) st = try_pair(v, text, syms, &h, c.left, a->next);
    }
    for (int32_t i = 0; st == KW_OK && i >= 0; i = syms[i].next) {
        kw_token t = tok_find(v, text + syms[i].off, syms[i].n);
        st = t != KW_TOKEN_NONE ? tok_out_push(out, t)
                                : emit_bytes(v, text + syms[i].off, syms[i].n, out);
    }
    free(h.a);
    free(syms);
    return st;
}
