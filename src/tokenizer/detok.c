/* detok.c - token ids back to text: one token's piece, and whole-sequence detokenization.
 *
 * Pieces: SPM normal tokens turn "▁" into spaces, byte tokens <0xXX> give their byte; byte-level
 * BPE normal tokens map each GPT-2 symbol back to its byte; user-defined tokens give their text;
 * control and unknown-type tokens give their text only when render_special; unused and undefined
 * tokens give nothing. Whole sequences also drop the one space an SPM tokenizer put in front of
 * the text, and apply the GPT-2 clean-up (spaces before punctuation and contractions) for the
 * vocabularies whose pre-tokenizer calls for it. Invalid UTF-8 is passed through as bytes.
 *
 * Relies on the vocab only. token_to_piece never allocates (it runs once per generated token).
 */
#include "tokenizer/vocab.h"

#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- one piece */

static size_t put(char *buf, size_t cap, size_t at, const char *s, size_t n) {
    if (at < cap) memcpy(buf + at, s, (at + n <= cap) ? n : cap - at);
    return at + n;
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

static size_t spm_normal(const char *s, size_t n, char *buf, size_t cap) {
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        if (i + 3 <= n && memcmp(s + i, "\xE2\x96\x81", 3) == 0) {
            o = put(buf, cap, o, " ", 1);
            i += 3;
        } else {
            o = put(buf, cap, o, s + i, 1);
            i++;
        }
    }
    return o;
}

static size_t bpe_normal(const tok_vocab *v, const char *s, size_t n, char *buf, size_t cap) {
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        int k = kw_utf8_decode((const uint8_t *)s + i, n - i, &cp);
        int b = cp < sizeof(v->cp_byte) / sizeof(v->cp_byte[0]) ? v->cp_byte[cp] : -1;
        if (b >= 0 && !(k == 1 && cp == 0xFFFD)) {
            char c = (char)b;
            o = put(buf, cap, o, &c, 1);
        } else {
            o = put(buf, cap, o, s + i, (size_t)k); /* not a byte symbol: keep its text */
        }
        i += (size_t)k;
    }
    return o;
}

/* Writes up to cap bytes of token t's piece; returns its full length. t must be valid. */
static size_t piece(const tok_vocab *v, kw_token t, bool render_special, char *buf, size_t cap) {
    const char *s = v->text[t];
    size_t n = v->text_len[t];
    switch ((tok_type)v->type[t]) {
    case TOK_TYPE_CONTROL:
    case TOK_TYPE_UNKNOWN: return render_special ? put(buf, cap, 0, s, n) : 0;
    case TOK_TYPE_USER_DEFINED: return put(buf, cap, 0, s, n);
    case TOK_TYPE_NORMAL:
        return v->kind == TOK_KIND_SPM ? spm_normal(s, n, buf, cap) : bpe_normal(v, s, n, buf, cap);
    case TOK_TYPE_BYTE:
        if (n == 6 && memcmp(s, "<0x", 3) == 0 && s[5] == '>' && hexval(s[3]) >= 0 &&
            hexval(s[4]) >= 0) {
            char c = (char)(hexval(s[3]) * 16 + hexval(s[4]));
            return put(buf, cap, 0, &c, 1);
        }
        return put(buf, cap, 0, s, n);
    default: /* unused, undefined: nothing, as SentencePiece does */ return 0;
    }
}

int32_t tok_token_to_piece(const tok_vocab *v, kw_token t, char *buf, int32_t cap,
                           bool render_special) {
    if (!v || t < 0 || t >= v->n_vocab) {
        kw_error(KW_ERR_INVALID_ARG, "token_to_piece: token id %d is out of range (n_vocab %d)", t,
                 v ? v->n_vocab : 0);
        return -1;
    }
    if (!buf || cap < 0) cap = 0;
    size_t n = piece(v, t, render_special, buf, (size_t)cap);
    return n > INT32_MAX ? INT32_MAX : (int32_t)n;
}

/* ---------------------------------------------------------------- clean-up */

/* The GPT-2 clean-up of llama.cpp's detokenizer, in place; returns the new length.
 * Pass 1: drop the space before ? ! . ,  Pass 2: " ' " becomes "'".
 * Pass 3: drop the space before 's 'm 're 've (not before 't 'd 'll). */
static size_t clean_up(char *t, size_t n) {
    if (n == 0) return 0;
    size_t o = 1;
    for (size_t i = 1; i < n; i++) {
        char x = t[i];
        if (t[i - 1] == ' ' && (x == '?' || x == '!' || x == '.' || x == ',')) o--;
        t[o++] = x;
    }
    n = o;
    o = 1;
    for (size_t i = 1; i < n; i++) {
        char x = t[i];
        if (x == '\'' && i + 1 < n && t[i - 1] == ' ' && t[i + 1] == ' ') {
            o--;           /* the space before */
            t[++i] = '\0'; /* and skip the one after */
        }
        t[o++] = x;
    }
    n = o;
    o = 1;
    for (size_t i = 1; i < n; i++) {
        char x = t[i];
        if (t[i - 1] == ' ' && x == '\'' && i + 1 < n) {
            char x1 = t[i + 1];
            char x2 = i + 2 < n ? t[i + 2] : 0;
            if (x1 == 's' || x1 == 'm' || (x1 == 'r' && x2 == 'e') || (x1 == 'v' && x2 == 'e')) o--;
        }
        t[o++] = x;
    }
    return o;
}

/* ---------------------------------------------------------------- whole sequence */

int64_t tok_detokenize(const tok_vocab *v, const kw_token *tokens, int32_t n, char *buf, size_t cap,
                       bool render_special) {
    if (!v || (n > 0 && !tokens) || n < 0 || (cap > 0 && !buf)) {
        kw_error(KW_ERR_INVALID_ARG, "detokenize: NULL argument or negative count");
        return -1;
    }
    for (int32_t i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= v->n_vocab) {
            kw_error(KW_ERR_INVALID_ARG, "detokenize: tokens[%d] = %d is out of range (n_vocab %d)",
                     i, tokens[i], v->n_vocab);
            return -1;
        }
    size_t total = 0;
    for (int32_t i = 0; i < n; i++)
        total += piece(v, tokens[i], render_special, NULL, 0);
    char *tmp = kw_malloc(total + 1, "detokenized text");
    if (!tmp) return -1;
    size_t len = 0;
    bool remove_space = v->add_space_prefix; /* the space the tokenizer put in front */
    for (int32_t i = 0; i < n; i++) {
        size_t k = piece(v, tokens[i], render_special, tmp + len, total - len);
        if (k == 0) continue; /* a skipped special token does not consume the space removal */
        if (remove_space && tmp[len] == ' ') {
            memmove(tmp + len, tmp + len + 1, k - 1);
            k--;
        }
        remove_space = false;
        len += k;
    }
    if (v->clean_spaces) len = clean_up(tmp, len);
    if (cap > 0) {
        size_t c = len < cap ? len : cap - 1;
        memcpy(buf, tmp, c);
        buf[c] = '\0';
    }
    free(tmp);
    return (int64_t)len;
}
