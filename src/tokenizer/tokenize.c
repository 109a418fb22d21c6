/* tokenize.c - text to token ids: special-token matching, then SPM or BPE on the text between.
 *
 * Special tokens (control, user-defined and unknown-type tokens) are found in the raw text first:
 * each one, longest text first, splits every remaining text fragment at all its occurrences
 * (llama.cpp's partition order, which decides overlaps). Without parse_special only user-defined
 * tokens are matched. A token flagged rstrip (Phi-3) swallows the ASCII whitespace after it.
 * The text fragments are then tokenized by the vocabulary's algorithm; for SPM each fragment that
 * starts the text or follows a special token gets the "▁" prefix when add_space_prefix is set.
 *
 * Relies on spm.c and bpe.c. Allocates per call only; the vocab is read-only, so calls may run
 * concurrently on one vocab.
 */
#include "tokenizer/vocab.h"

#include <stdlib.h>
#include <string.h>

kw_status tok_out_push(tok_out *o, kw_token t) {
    if (o->n == o->cap) {
        int64_t cap = o->cap ? o->cap * 2 : 256;
        kw_token *ids =
            tok_grow(o->ids, (size_t)o->n * sizeof(*ids), (size_t)cap * sizeof(*ids), "token ids");
        if (!ids)
            return kw_error(KW_ERR_NOMEM, "tokenize: out of memory for %lld ids", (long long)cap);
        o->ids = ids;
        o->cap = cap;
    }
    o->ids[o->n++] = t;
    return KW_OK;
}

/* ---------------------------------------------------------------- special-token partition */

typedef struct frag {
    kw_token token;  /* KW_TOKEN_NONE for a text fragment */
    size_t off, len; /* text fragments: bytes of the input */
} frag;

typedef struct frags {
    frag *a;
    int64_t n, cap;
} frags;

static kw_status frags_push(frags *f, frag x) {
    if (f->n == f->cap) {
        int64_t cap = f->cap ? f->cap * 2 : 16;
        frag *a = tok_grow(f->a, (size_t)f->n * sizeof(*a), (size_t)cap * sizeof(*a), "fragments");
        if (!a)
            return kw_error(KW_ERR_NOMEM, "tokenize: out of memory for %lld fragments",
                            (long long)cap);
        f->a = a;
        f->cap = cap;
    }
    f->a[f->n++] = x;
    return KW_OK;
}

static bool is_ascii_space(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

/* Splits text fragment fr at every occurrence of special token t, appending to out. */
static kw_status split_fragment(const tok_vocab *v, const char *text, frag fr, kw_token t,
                                frags *out) {
    const char *tt = v->text[t];
    size_t tl = v->text_len[t];
    kw_status st = KW_OK;
    while (fr.len > 0 && st == KW_OK) {
        const char *m = memmem(text + fr.off, fr.len, tt, tl);
        if (!m) break;
        size_t at = (size_t)(m - text);
        if (at > fr.off) st = frags_push(out, (frag){KW_TOKEN_NONE, fr.off, at - fr.off});
        if (st == KW_OK) st = frags_push(out, (frag){t, 0, 0});
        size_t end = fr.off + fr.len;
        fr.off = at + tl;
        fr.len = end - fr.off;
        if (v->rstrip[t])
            while (fr.len > 0 && is_ascii_space(text[fr.off])) {
                fr.off++;
                fr.len--;
            }
    }
    if (fr.len > 0 && st == KW_OK) st = frags_push(out, fr);
    return st;
}

static kw_status partition(const tok_vocab *v, const char *text, size_t len, bool parse_special,
                           frags *cur) {
    frags next = {0};
    kw_status st = frags_push(cur, (frag){KW_TOKEN_NONE, 0, len});
    for (int32_t i = 0; i < v->n_special && st == KW_OK; i++) {
        kw_token t = v->special[i];
        if (!parse_special && v->type[t] != TOK_TYPE_USER_DEFINED) continue;
        /* fragments are pieces of the text: no occurrence in the text, none in them */
        if (v->text_len[t] > len || !memmem(text, len, v->text[t], v->text_len[t])) continue;
        next.n = 0;
        for (int64_t j = 0; j < cur->n && st == KW_OK; j++) {
            if (cur->a[j].token != KW_TOKEN_NONE)
                st = frags_push(&next, cur->a[j]);
            else
                st = split_fragment(v, text, cur->a[j], t, &next);
        }
        frags tmp = *cur;
        *cur = next;
        next = tmp;
    }
    free(next.a);
    return st;
}

/* ---------------------------------------------------------------- SPM fragments */

/* Adds the "▁" prefix when asked and turns spaces into "▁", into buf (3 bytes per input byte). */
static size_t spm_escape(const char *s, size_t n, bool prefix, char *buf) {
    size_t o = 0;
    if (prefix) {
        memcpy(buf, "\xE2\x96\x81", 3);
        o = 3;
    }
    for (size_t i = 0; i < n; i++) {
        if (s[i] == ' ') {
            memcpy(buf + o, "\xE2\x96\x81", 3);
            o += 3;
        } else {
            buf[o++] = s[i];
        }
    }
    return o;
}

static kw_status run_fragments(const tok_vocab *v, const char *text, const frags *f, tok_out *out) {
    char *buf = NULL;
    kw_status st = KW_OK;
    bool prev_special = true; /* SPM: the first fragment gets the prefix too */
    for (int64_t i = 0; i < f->n && st == KW_OK; i++) {
        frag fr = f->a[i];
        if (fr.token != KW_TOKEN_NONE) {
            st = tok_out_push(out, fr.token);
            prev_special = true;
            continue;
        }
        if (v->kind == TOK_KIND_BPE) {
            st = tok_bpe_tokenize(v, text + fr.off, fr.len, out);
            continue;
        }
        char *b = tok_grow(buf, 0, 3 * fr.len + 3, "escaped text");
        if (!b) {
            st = kw_error(KW_ERR_NOMEM, "tokenize: out of memory for %zu bytes", 3 * fr.len + 3);
            break;
        }
        buf = b;
        size_t n = spm_escape(text + fr.off, fr.len, v->add_space_prefix && prev_special, buf);
        st = tok_spm_tokenize(v, buf, n, out);
        prev_special = false;
    }
    free(buf);
    return st;
}

/* ---------------------------------------------------------------- entry point */

static kw_status tokenize_all(const tok_vocab *v, const char *text, size_t len, bool add_special,
                              bool parse_special, tok_out *out) {
    kw_status st = KW_OK;
    if (add_special && v->add_bos && v->bos != KW_TOKEN_NONE) st = tok_out_push(out, v->bos);
    frags f = {0};
    if (st == KW_OK && len > 0) {
        st = partition(v, text, len, parse_special, &f);
        if (st == KW_OK) st = run_fragments(v, text, &f, out);
    }
    free(f.a);
    if (st == KW_OK && add_special && v->add_eos && v->eos != KW_TOKEN_NONE)
        st = tok_out_push(out, v->eos);
    return st;
}

kw_status tok_tokenize(const tok_vocab *v, const char *text, size_t len, bool add_special,
                       bool parse_special, kw_token *out, int32_t cap, int32_t *n_out) {
    if (!v || !n_out || (!text && len > 0) || cap < 0 || (!out && cap > 0))
        return kw_error(KW_ERR_INVALID_ARG, "tokenize: NULL argument or negative capacity (%d)",
                        cap);
    tok_out o = {0};
    kw_status st = tokenize_all(v, text, len, add_special, parse_special, &o);
    if (st == KW_OK && o.n > INT32_MAX)
        st = kw_error(KW_ERR_INVALID_ARG, "tokenize: %lld tokens do not fit an int32 count",
                      (long long)o.n);
    if (st == KW_OK) {
        *n_out = (int32_t)o.n;
        if (o.n > cap)
            st = kw_error(KW_ERR_BUFFER_SMALL, "tokenize: %lld tokens do not fit the buffer of %d",
                          (long long)o.n, cap);
        else if (o.n > 0)
            memcpy(out, o.ids, (size_t)o.n * sizeof(*out));
    }
    free(o.ids);
    return st;
}
