/* data_clean.c - one corpus record to clean text: what the model should see of it, or the reason
 * it is dropped.
 *
 * In order, on the body (the record's lines joined by '\n'), the title and the author:
 *  0. Body lines that are a source citation ("《癸辛杂识》续集卷上ff。") are dropped.
 *  1. NFC (utf8proc): composed forms, and the CJK compatibility ideographs (U+F900...) mapped to
 *     the unified ones they stand for.
 *  2. Controls and format characters removed (tabs and every space kind become ' '); in a body,
 *     an ideographic space between two Han characters marks an unreadable one (as □ does).
 *  3. Editorial notes removed with their brackets: （…） (…) 〖…〗 〔…〕 【…】, nested, also when
 *     they run over several lines, e.g. "遠去更宜長（辛本作「良」）。" -> "遠去更宜長。". A note
 * never closed is removed to the end of the text. Square brackets [ ] ［ ］ mark characters an
 *     editor supplied: the brackets go, the characters stay ("淚沾[襟]" -> "淚沾襟"). Footnote
 *     marks ①-⒛ go.
 *  4. Punctuation unified to the full-width Chinese forms: , . ; : ? ! -> ，。；：？！, 「」『』 ->
 *     “”‘’, small and vertical forms to the normal ones, < > -> 《》, ・ -> ·, - -> —; in titles
 *     / -> · (元曲's "仙吕/点绛唇").
 *  5. Every character left must be Han, Chinese punctuation (，。、；：？！“”‘’《》〈〉·—…) or a
 * space; the first that is not names the reason (data.h: missing-character marks, glyph
 * compositions, Latin letters or digits, private use, U+FFFD, anything else).
 *  6. Lines: spaces collapsed, trimmed and dropped beside punctuation, leading punctuation other
 *     than opening quotes dropped, lines without a Han character dropped.
 * Titles go through 1-4 and are rejected by the same characters (a header with □ would teach □);
 * authors also lose a dynasty prefix ("先秦：左丘明") and anything after the first ，。；.
 *
 * Relies on utf8proc. Must not: read past the strings it is given (code points are decoded with
 * their lengths), or depend on anything but its input (the result is deterministic).
 */
#include "train/data.h"

#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

const char *data_reason_name(data_reason r) {
    static const char *const names[DR_COUNT] = {
        [DR_KEPT] = "kept",
        [DR_EMPTY] = "empty after cleaning",
        [DR_LOST_TEXT] = "text lost (存目)",
        [DR_MISSING_CHAR] = "missing-character mark (□ ■ ○ ●)",
        [DR_GLYPH] = "glyph composition ({...}, ⿰): a character Unicode lacks",
        [DR_LATIN] = "Latin letters or digits in the text (corrupted glyph codes)",
        [DR_PRIVATE_USE] = "private-use character",
        [DR_REPLACEMENT] = "U+FFFD (text damaged by a wrong encoding)",
        [DR_UNEXPECTED] = "other unexpected character",
        [DR_EXACT_DUP] = "exact duplicate",
        [DR_NEAR_DUP] = "near duplicate",
        [DR_COVERED] = "text already in kept poems",
    };
    return r >= 0 && r < DR_COUNT ? names[r] : "?";
}

bool data_is_han(uint32_t cp) {
    return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) ||
           (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x20000 && cp <= 0x2EE5F) ||
           (cp >= 0x2F800 && cp <= 0x2FA1F) || (cp >= 0x30000 && cp <= 0x323AF) || cp == 0x3007 ||
           cp == 0x3005;
}

/* ---------------------------------------------------------------- code point buffer */

typedef struct cps {
    uint32_t *a;
    size_t n, cap;
} cps;

static kw_status cps_push(cps *c, uint32_t cp) {
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 256;
        uint32_t *a = realloc(c->a, cap * sizeof(*a));
        if (!a) return kw_error(KW_ERR_NOMEM, "out of memory for %zu code points", cap);
        c->a = a;
        c->cap = cap;
    }
    c->a[c->n++] = cp;
    return KW_OK;
}

/* NFC of s, decoded into out (appended). */
static kw_status decode_nfc(const char *s, size_t len, cps *out) {
    utf8proc_uint8_t *nfc = NULL;
    utf8proc_ssize_t n = utf8proc_map((const utf8proc_uint8_t *)s, (utf8proc_ssize_t)len, &nfc,
                                      UTF8PROC_STABLE | UTF8PROC_COMPOSE);
    kw_status st = KW_OK;
    if (n < 0) {
        /* jansson hands us valid UTF-8, so this is a NUL or an unassigned code point: keep the
         * bytes as decoded, the whitelist rejects what is odd */
        for (size_t i = 0; i < len && st == KW_OK;) {
            uint32_t cp;
            int k = kw_utf8_decode((const uint8_t *)s + i, len - i, &cp);
            st = cps_push(out, cp);
            i += (size_t)k;
        }
        return st;
    }
    for (utf8proc_ssize_t i = 0; i < n && st == KW_OK;) {
        uint32_t cp;
        int k = kw_utf8_decode(nfc + i, (size_t)(n - i), &cp);
        st = cps_push(out, cp);
        i += k;
    }
    free(nfc);
    return st;
}

/* ---------------------------------------------------------------- steps */

/* An ideographic space between two Han characters of a body stands for an unreadable one (宋词:
 * "尽把师　归美"). */
static void mark_gaps(cps *c) {
    for (size_t i = 1; i + 1 < c->n; i++)
        if (c->a[i] == 0x3000 && data_is_han(c->a[i - 1]) && data_is_han(c->a[i + 1]))
            c->a[i] = 0x25A1;
}

/* 2: controls and format characters out, space kinds to ' ', line separators to '\n'. */
static void strip_controls(cps *c) {
    size_t o = 0;
    for (size_t i = 0; i < c->n; i++) {
        uint32_t cp = c->a[i];
        if (cp == '\n' || cp == 0x2028 || cp == 0x2029 || cp == '\r') {
            c->a[o++] = '\n';
            continue;
        }
        utf8proc_category_t cat = utf8proc_category((utf8proc_int32_t)cp);
        if (cp == '\t' || cat == UTF8PROC_CATEGORY_ZS) {
            c->a[o++] = ' ';
            continue;
        }
        if (cat == UTF8PROC_CATEGORY_CC || cat == UTF8PROC_CATEGORY_CF) continue;
        c->a[o++] = cp;
    }
    c->n = o;
}

static bool note_open(uint32_t cp) {
    return cp == 0xFF08 || cp == '(' || cp == 0x3016 || cp == 0x3014 || cp == 0x3010;
}
static bool note_close(uint32_t cp) {
    return cp == 0xFF09 || cp == ')' || cp == 0x3017 || cp == 0x3015 || cp == 0x3011;
}
static bool supplied_bracket(uint32_t cp) {
    return cp == '[' || cp == ']' || cp == 0xFF3B || cp == 0xFF3D;
}

/* ①-⑳, ⑴-⒇, ⒈-⒛: footnote markers; the note they point to is elsewhere. */
static bool footnote_mark(uint32_t cp) { return cp >= 0x2460 && cp <= 0x249B; }

/* 3: notes removed (depth counted over all note brackets alike), supplied-character brackets
 * dropped. A stray closing bracket is dropped. */
static void strip_notes(cps *c, int32_t *n_notes, int32_t *n_unclosed) {
    size_t o = 0;
    int depth = 0;
    for (size_t i = 0; i < c->n; i++) {
        uint32_t cp = c->a[i];
        if (note_open(cp)) {
            if (depth++ == 0) (*n_notes)++;
            continue;
        }
        if (note_close(cp)) {
            if (depth > 0) depth--;
            continue;
        }
        if (depth > 0 || supplied_bracket(cp) || footnote_mark(cp)) continue;
        c->a[o++] = cp;
    }
    if (depth > 0) (*n_unclosed)++;
    c->n = o;
}

/* 4: one code point to its unified form (0 = keep as is). Quotes alternate for '"' and '\''. */
static uint32_t unify_punct(uint32_t cp, int *dq, int *sq) {
    switch (cp) {
    case ',':
    case 0xFE50:
    case 0xFE10:
    case 0xFF64: return 0xFF0C; /* ， */
    case '.':
    case 0xFF0E:
    case 0xFF61:
    case 0xFE52:
    case 0xFE12: return 0x3002; /* 。 */
    case ';':
    case 0xFE54:
    case 0xFE14: return 0xFF1B; /* ； */
    case ':':
    case 0xFE55:
    case 0xFE13:
    case 0x2236: return 0xFF1A; /* ： */
    case '?':
    case 0xFE56:
    case 0xFE16: return 0xFF1F; /* ？ */
    case '!':
    case 0xFE57:
    case 0xFE15: return 0xFF01; /* ！ */
    case 0xFE51:
    case 0xFE11: return 0x3001; /* 、 */
    case 0xFE19: return 0x2026; /* … */
    case 0x300C:
    case 0xFE41: return 0x201C; /* 「 -> “ */
    case 0x300D:
    case 0xFE42: return 0x201D; /* 」 -> ” */
    case 0x300E:
    case 0xFE43: return 0x2018; /* 『 -> ‘ */
    case 0x300F:
    case 0xFE44: return 0x2019; /* 』 -> ’ */
    case '<': return 0x300A;    /* 《 */
    case '>': return 0x300B;    /* 》 */
    case 0x30FB:
    case 0x2022:
    case 0x2027:
    case 0xFF65: return 0x00B7; /* · */
    case '-':
    case 0x2015:
    case 0x2500: return 0x2014; /* — */
    case '"': return (*dq)++ % 2 ? 0x201D : 0x201C;
    case '\'': return (*sq)++ % 2 ? 0x2019 : 0x2018;
    default: return 0;
    }
}

static void unify(cps *c) {
    int dq = 0, sq = 0;
    for (size_t i = 0; i < c->n; i++) {
        uint32_t m = unify_punct(c->a[i], &dq, &sq);
        if (m) c->a[i] = m;
    }
}

static bool is_cn_punct(uint32_t cp) {
    static const uint32_t p[] = {0xFF0C, 0x3002, 0x3001, 0xFF1B, 0xFF1A, 0xFF1F,
                                 0xFF01, 0x201C, 0x201D, 0x2018, 0x2019, 0x300A,
                                 0x300B, 0x3008, 0x3009, 0x00B7, 0x2014, 0x2026};
    for (size_t i = 0; i < sizeof(p) / sizeof(p[0]); i++)
        if (p[i] == cp) return true;
    return false;
}

/* 5: the reason a character is not allowed, DR_KEPT when it is. */
static data_reason classify(uint32_t cp) {
    if (data_is_han(cp) || is_cn_punct(cp) || cp == ' ' || cp == '\n') return DR_KEPT;
    if (cp == 0x25A1 || cp == 0x25A0 || cp == 0x25CB || cp == 0x25CF || cp == 0x25EF ||
        cp == 0x3013)
        return DR_MISSING_CHAR;
    if (cp == '{' || cp == '}' || (cp >= 0x2FF0 && cp <= 0x2FFF) || (cp >= 0x2E80 && cp <= 0x2EFF))
        return DR_GLYPH;
    if ((cp >= '0' && cp <= '9') || (cp >= 'A' && cp <= 'Z') || (cp >= 'a' && cp <= 'z') ||
        (cp >= 0xFF10 && cp <= 0xFF19) || (cp >= 0xFF21 && cp <= 0xFF3A) ||
        (cp >= 0xFF41 && cp <= 0xFF5A))
        return DR_LATIN;
    if ((cp >= 0xE000 && cp <= 0xF8FF) || cp >= 0xF0000) return DR_PRIVATE_USE;
    if (cp == 0xFFFD) return DR_REPLACEMENT;
    return DR_UNEXPECTED;
}

static data_reason check_chars(const cps *c, uint32_t *bad) {
    for (size_t i = 0; i < c->n; i++) {
        data_reason r = classify(c->a[i]);
        if (r != DR_KEPT) {
            *bad = c->a[i];
            return r;
        }
    }
    return DR_KEPT;
}

static bool drops_at_line_start(uint32_t cp) {
    return is_cn_punct(cp) && cp != 0x201C && cp != 0x2018 && cp != 0x300A && cp != 0x3008;
}

/* 6: one line [b, e) of c into out (with '\n' before it unless first); false when it has no Han
 * character (then nothing is written). */
static kw_status put_line(const cps *c, size_t b, size_t e, dbuf *out, bool *wrote) {
    *wrote = false;
    bool han = false;
    for (size_t i = b; i < e && !han; i++)
        han = data_is_han(c->a[i]);
    if (!han) return KW_OK;
    while (b < e && (c->a[b] == ' ' || drops_at_line_start(c->a[b])))
        b++;
    while (e > b && c->a[e - 1] == ' ')
        e--;
    kw_status st = out->n ? dbuf_putc(out, '\n') : KW_OK;
    for (size_t i = b; i < e && st == KW_OK; i++) {
        /* one space at most, and none beside punctuation ("秋， 莫回首" -> "秋，莫回首") */
        if (c->a[i] == ' ' && ((i > b && (c->a[i - 1] == ' ' || is_cn_punct(c->a[i - 1]))) ||
                               (i + 1 < e && is_cn_punct(c->a[i + 1]))))
            continue;
        st = dbuf_put_cp(out, c->a[i]);
    }
    *wrote = true;
    return st;
}

/* A source citation the 全宋诗 editors left as a line of its own: "《癸辛杂识》续集卷上ff。". */
static bool is_citation_line(const char *l) {
    size_t n = strlen(l);
    while (n > 0 && (l[n - 1] == ' ' || l[n - 1] == '.'))
        n--;
    if (n >= 3 && memcmp(l + n - 3, "。", 3) == 0) n -= 3;
    return n >= 2 && l[n - 1] == 'f' && l[n - 2] == 'f';
}

/* A one-line field (title, author, rhythmic): steps 1-4, spaces collapsed, trimmed. */
static kw_status clean_field(const char *s, bool title, cps *tmp, dbuf *out, int32_t *n_notes,
                             int32_t *n_unclosed) {
    tmp->n = 0;
    out->n = 0;
    kw_status st = dbuf_puts(out, "");
    if (st == KW_OK) st = decode_nfc(s, strlen(s), tmp);
    if (st != KW_OK) return st;
    strip_controls(tmp);
    strip_notes(tmp, n_notes, n_unclosed);
    unify(tmp);
    bool space = true; /* drops leading spaces */
    for (size_t i = 0; i < tmp->n && st == KW_OK; i++) {
        uint32_t cp = tmp->a[i] == '\n' ? ' ' : tmp->a[i];
        if (title && cp == '/') cp = 0x00B7; /* 元曲: "仙吕/点绛唇" -> "仙吕·点绛唇" */
        if (cp == ' ' && space) continue;
        space = cp == ' ';
        st = dbuf_put_cp(out, cp);
    }
    while (out->n && out->p[out->n - 1] == ' ')
        out->p[--out->n] = 0;
    return st;
}

/* The author's name alone: "先秦：左丘明" -> "左丘明", "王筠，字贯山…" -> "王筠". */
static void trim_author(dbuf *a) {
    const char *colon = strstr(a->p, "：");
    if (colon) {
        size_t skip = (size_t)(colon - a->p) + 3;
        memmove(a->p, a->p + skip, a->n - skip + 1);
        a->n -= skip;
    }
    static const char *const stops[] = {"，", "。", "；"};
    for (int i = 0; i < 3; i++) {
        char *p = strstr(a->p, stops[i]);
        if (p) {
            *p = 0;
            a->n = (size_t)(p - a->p);
        }
    }
    while (a->n && a->p[a->n - 1] == ' ')
        a->p[--a->n] = 0;
}

static data_reason check_field(const dbuf *f, cps *tmp, uint32_t *bad, kw_status *st) {
    tmp->n = 0;
    for (size_t i = 0; i < f->n && *st == KW_OK;) {
        uint32_t cp;
        int k = kw_utf8_decode((const uint8_t *)f->p + i, f->n - i, &cp);
        *st = cps_push(tmp, cp);
        i += (size_t)k;
    }
    return check_chars(tmp, bad);
}

data_reason data_clean_record(const data_raw *r, data_clean *c, kw_status *st) {
    cps tmp = {0}, body = {0};
    c->bad_cp = 0;
    c->n_notes = c->n_unclosed = 0;
    c->body.n = 0;
    *st = dbuf_puts(&c->body, "");
    data_reason res = DR_KEPT;
    if (*st == KW_OK)
        *st = clean_field(r->title, true, &tmp, &c->title, &c->n_notes, &c->n_unclosed);
    if (*st == KW_OK)
        *st = clean_field(r->author, false, &tmp, &c->author, &c->n_notes, &c->n_unclosed);
    if (*st == KW_OK)
        *st = clean_field(r->rhythmic, false, &tmp, &c->rhythmic, &c->n_notes, &c->n_unclosed);
    if (*st != KW_OK) goto out;
    trim_author(&c->author);
    if (strstr(r->title, "存目")) {
        res = DR_LOST_TEXT;
        goto out;
    }
    for (int32_t i = 0; i < r->n_lines && *st == KW_OK; i++) {
        if (is_citation_line(r->lines[i])) {
            c->n_notes++;
            continue;
        }
        if (body.n) *st = cps_push(&body, '\n');
        if (*st == KW_OK) *st = decode_nfc(r->lines[i], strlen(r->lines[i]), &body);
    }
    if (*st != KW_OK) goto out;
    mark_gaps(&body);
    strip_controls(&body);
    strip_notes(&body, &c->n_notes, &c->n_unclosed);
    unify(&body);
    res = check_chars(&body, &c->bad_cp);
    if (res == DR_KEPT) res = check_field(&c->title, &tmp, &c->bad_cp, st);
    if (res != DR_KEPT || *st != KW_OK) goto out;
    for (size_t b = 0; b <= body.n && *st == KW_OK;) {
        size_t e = b;
        while (e < body.n && body.a[e] != '\n')
            e++;
        bool wrote;
        *st = put_line(&body, b, e, &c->body, &wrote);
        b = e + 1;
    }
    if (c->body.n == 0) res = DR_EMPTY;
out:
    free(body.a);
    free(tmp.a);
    return res;
}

void data_clean_free(data_clean *c) {
    dbuf_free(&c->title);
    dbuf_free(&c->author);
    dbuf_free(&c->rhythmic);
    dbuf_free(&c->body);
}
