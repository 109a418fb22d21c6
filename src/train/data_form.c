/* data_form.c - the regular forms of shi (绝句, 律诗) recognized by their shape, for poems.jsonl,
 * the SFT instructions, and the shape check of the model's replies (kw_poem_form).
 *
 * A body has a regular form when it is 4 (绝句) or 8 (律诗) clauses of the same length, 5 (五言) or
 * 7 (七言) Han characters each, every odd clause ending in ，；？！ and every even one in 。？！,
 * and nothing else but whitespace after a punctuation mark (a newline ends a couplet line, or not).
 * This is the shape only: the tonal rules of 律诗 and the rhyme are not checked, so a 古体 poem of
 * four five-character clauses counts as 五言绝句, as the anthologies' own labels mostly do too.
 *
 * Relies on base (UTF-8) and data_is_han. Must not read past len.
 */
#include "train/data.h"

#include <string.h>

#define MAX_CLAUSES 8

static bool is_ws(uint32_t cp) { return cp == ' ' || cp == '\n' || cp == '\r' || cp == '\t'; }

static bool odd_end(uint32_t cp) {
    return cp == 0xFF0C || cp == 0xFF1B || cp == 0xFF1F || cp == 0xFF01; /* ，；？！ */
}
static bool even_end(uint32_t cp) { return cp == 0x3002 || cp == 0xFF1F || cp == 0xFF01; }

typedef struct clause {
    size_t off, len; /* bytes of the Han characters */
    uint32_t end;    /* the punctuation mark after them */
    int n_han;
} clause;

/* Splits s into at most MAX_CLAUSES clauses; false when the text is not clauses and whitespace. */
static bool split_clauses(const char *s, size_t len, clause *cl, int *n_out) {
    int n = 0;
    size_t i = 0;
    while (i < len && is_ws((uint8_t)s[i]))
        i++;
    while (i < len) {
        if (n == MAX_CLAUSES) return false;
        clause c = {i, 0, 0, 0};
        uint32_t cp = 0;
        while (i < len) {
            int k = kw_utf8_decode((const uint8_t *)s + i, len - i, &cp);
            if (!data_is_han(cp)) break;
            c.n_han++;
            i += (size_t)k;
        }
        c.len = i - c.off;
        if (i >= len || c.n_han == 0) return false; /* no mark after the clause, or no clause */
        if (n % 2 == 0 ? !odd_end(cp) : !even_end(cp)) return false;
        c.end = cp;
        i += (size_t)kw_utf8_decode((const uint8_t *)s + i, len - i, &cp);
        while (i < len && is_ws((uint8_t)s[i]))
            i++;
        cl[n++] = c;
    }
    *n_out = n;
    return true;
}

const char *data_shi_form(const char *body, size_t len, dbuf *couplets, kw_status *st) {
    clause cl[MAX_CLAUSES];
    int n = 0;
    *st = KW_OK;
    if (!split_clauses(body, len, cl, &n) || (n != 4 && n != 8)) return NULL;
    int w = cl[0].n_han;
    if (w != 5 && w != 7) return NULL;
    for (int i = 1; i < n; i++)
        if (cl[i].n_han != w) return NULL;
    if (couplets) {
        couplets->n = 0;
        *st = dbuf_puts(couplets, "");
        for (int i = 0; i < n && *st == KW_OK; i++) {
            if (i && i % 2 == 0) *st = dbuf_putc(couplets, '\n');
            if (*st == KW_OK) *st = dbuf_put(couplets, body + cl[i].off, cl[i].len);
            if (*st == KW_OK) *st = dbuf_put_cp(couplets, cl[i].end);
        }
    }
    if (n == 4) return w == 5 ? "五言绝句" : "七言绝句";
    return w == 5 ? "五言律诗" : "七言律诗";
}

const char *kw_poem_form(const char *text, size_t len) {
    if (!text) return "other";
    kw_status st;
    const char *f = data_shi_form(text, len, NULL, &st);
    return f ? f : "other";
}
