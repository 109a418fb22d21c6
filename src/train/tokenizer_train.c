/* tokenizer_train.c - `kaiwu tokenizer-train`: a SentencePiece-style BPE vocabulary with byte
 * fallback, trained on prepared text.
 *
 * Why "llama" (SPM) and not "gpt2" (byte-level BPE): the text is Chinese, whose characters are the
 * natural base units. SPM keeps them whole and readable in the vocabulary, needs no pre-tokenizer
 * regex (whose letter classes would glue whole clauses of Han characters into one pre-token), and
 * its byte fallback (<0xXX>) makes every input encodable: a rare character becomes its UTF-8 bytes.
 * kaiwu (src/tokenizer/spm.c) and llama.cpp tokenize "llama" vocabularies the same way: split into
 * characters, then repeatedly merge the adjacent pair whose concatenation is a token with the
 * highest score (leftmost first), then byte fallback. With add_space_prefix off and spaces as
 * "▁", decode(encode(text)) == text for any text without a literal "▁" (U+2581; prepared text has
 * none).
 *
 * Training is BPE whose segmentation is, at every step, exactly what that merge-by-score would
 * produce with the vocabulary so far: merged piece m gets score -(m + 1), so earlier merges win.
 * Adding piece z (the lowest score) changes the segmentation of a unit only where two adjacent
 * symbols concatenate to z — not only the pair (a, b) chosen, but any split of z's text into two
 * tokens — and merging there can in turn enable higher-scored pieces that contain z (a cascade).
 * So each affected unit is carried on from its current segmentation by the same priority-queue
 * loop as spm.c, starting from the candidates that form z. The final segmentation of every unit
 * is then checked against kaiwu's own tokenizer reloading the written file (tokenizer_write.c).
 *
 * Units are lines: a line keeps its '\n' except the last line of a document (documents are
 * separated by an empty line and tokenized one by one), so no piece can span a line break and
 * tokenizing a whole document gives the concatenation of its lines' segmentations.
 *
 * Relies on base, data.h (buffers), tokenizer_train.h. Single-threaded; memory about 40 bytes per
 * character of distinct lines.
 */
#include "train/tokenizer_train.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const char *const tt_special[TT_N_SPECIAL] = {
    "<unk>", "<s>", "</s>", "<|endoftext|>", "<|im_start|>", "<|im_end|>",
};

kw_tokenizer_train_params kw_tokenizer_train_default_params(void) {
    kw_tokenizer_train_params p = {0};
    p.vocab_size = 8192;
    p.min_char_count = 3;
    p.min_pair_count = 2;
    p.verify = true;
    return p;
}

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static uint64_t fnv(uint64_t h, const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) {
        h ^= (uint8_t)s[i];
        h *= 1099511628211ull;
    }
    return h;
}
#define FNV0 14695981039346656037ull

static uint64_t mix(uint64_t h) {
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    return h ^ (h >> 33);
}

/* ---------------------------------------------------------------- vocabulary */

static kw_status vmap_grow(tt_vocab *v) {
    uint32_t size = v->mask ? (v->mask + 1) * 2 : 1u << 14;
    int32_t *slots = kw_malloc((size_t)size * sizeof(*slots), "vocabulary map");
    if (!slots) return KW_ERR_NOMEM;
    memset(slots, 0xff, (size_t)size * sizeof(*slots));
    for (int32_t id = 0; id < v->n; id++) {
        uint32_t i = (uint32_t)mix(fnv(FNV0, tt_text(v, id), v->len[id])) & (size - 1);
        while (slots[i] >= 0)
            i = (i + 1) & (size - 1);
        slots[i] = id;
    }
    free(v->slots);
    v->slots = slots;
    v->mask = size - 1;
    return KW_OK;
}

int32_t tt_vocab_find2(const tt_vocab *v, const char *a, size_t an, const char *b, size_t bn) {
    uint32_t i = (uint32_t)mix(fnv(fnv(FNV0, a, an), b, bn)) & v->mask;
    for (;; i = (i + 1) & v->mask) {
        int32_t id = v->slots[i];
        if (id < 0) return -1;
        const char *t = tt_text(v, id);
        if (v->len[id] == an + bn && memcmp(t, a, an) == 0 && memcmp(t + an, b, bn) == 0) return id;
    }
}

kw_status tt_vocab_add(tt_vocab *v, const char *s, size_t n, float score, uint8_t type,
                       int32_t *id) {
    if (v->n == v->cap) {
        int32_t cap = v->cap ? v->cap * 2 : 1024;
        uint64_t *off = realloc(v->off, (size_t)cap * sizeof(*off));
        if (off) v->off = off;
        uint32_t *len = realloc(v->len, (size_t)cap * sizeof(*len));
        if (len) v->len = len;
        float *sc = realloc(v->score, (size_t)cap * sizeof(*sc));
        if (sc) v->score = sc;
        uint8_t *ty = realloc(v->type, (size_t)cap);
        if (ty) v->type = ty;
        if (!off || !len || !sc || !ty)
            return kw_error(KW_ERR_NOMEM, "out of memory for %d tokens", cap);
        v->cap = cap;
    }
    if ((uint32_t)(v->n + 1) * 2 > v->mask + 1) {
        kw_status st = vmap_grow(v);
        if (st != KW_OK) return st;
    }
    uint64_t off = v->arena.n;
    kw_status st = dbuf_put(&v->arena, s, n);
    if (st != KW_OK) return st;
    int32_t t = v->n++;
    v->off[t] = off;
    v->len[t] = (uint32_t)n;
    v->score[t] = score;
    v->type[t] = type;
    uint32_t i = (uint32_t)mix(fnv(FNV0, s, n)) & v->mask;
    while (v->slots[i] >= 0)
        i = (i + 1) & v->mask;
    v->slots[i] = t;
    if (id) *id = t;
    return KW_OK;
}

void tt_vocab_free(tt_vocab *v) {
    dbuf_free(&v->arena);
    free(v->off);
    free(v->len);
    free(v->score);
    free(v->type);
    free(v->slots);
    memset(v, 0, sizeof(*v));
}

/* ---------------------------------------------------------------- units */

typedef struct umap {
    int64_t *slots;
    uint64_t mask;
} umap;

static kw_status units_grow(tt_units *u) {
    int64_t cap = u->cap ? u->cap * 2 : 65536;
    uint64_t *toff = realloc(u->toff, (size_t)cap * sizeof(*toff));
    if (toff) u->toff = toff;
    uint32_t *tlen = realloc(u->tlen, (size_t)cap * sizeof(*tlen));
    if (tlen) u->tlen = tlen;
    int64_t *w = realloc(u->weight, (size_t)cap * sizeof(*w));
    if (w) u->weight = w;
    if (!toff || !tlen || !w)
        return kw_error(KW_ERR_NOMEM, "out of memory for %lld lines", (long long)cap);
    u->cap = cap;
    return KW_OK;
}

static kw_status umap_grow(umap *m, const tt_units *u) {
    uint64_t size = m->mask ? (m->mask + 1) * 2 : 1u << 16;
    int64_t *slots = kw_malloc(size * sizeof(*slots), "line map");
    if (!slots) return KW_ERR_NOMEM;
    memset(slots, 0xff, size * sizeof(*slots));
    for (int64_t k = 0; k < u->n; k++) {
        uint64_t i = mix(fnv(FNV0, u->text.p + u->toff[k], u->tlen[k])) & (size - 1);
        while (slots[i] >= 0)
            i = (i + 1) & (size - 1);
        slots[i] = k;
    }
    free(m->slots);
    m->slots = slots;
    m->mask = size - 1;
    return KW_OK;
}

/* Adds one escaped line (counting it again when already there). */
static kw_status add_unit(tt_units *u, umap *m, const char *s, size_t n) {
    if ((uint64_t)(u->n + 1) * 2 > m->mask + 1) {
        kw_status st = umap_grow(m, u);
        if (st != KW_OK) return st;
    }
    uint64_t i = mix(fnv(FNV0, s, n)) & m->mask;
    for (;; i = (i + 1) & m->mask) {
        int64_t k = m->slots[i];
        if (k < 0) break;
        if (u->tlen[k] == n && memcmp(u->text.p + u->toff[k], s, n) == 0) {
            u->weight[k]++;
            return KW_OK;
        }
    }
    if (u->n == u->cap) {
        kw_status st = units_grow(u);
        if (st != KW_OK) return st;
    }
    if (n > UINT32_MAX) return kw_error(KW_ERR_INVALID_ARG, "a line of %zu bytes", n);
    u->toff[u->n] = u->text.n;
    u->tlen[u->n] = (uint32_t)n;
    u->weight[u->n] = 1;
    m->slots[i] = u->n++;
    return dbuf_put(&u->text, s, n);
}

/* Splits a file into documents (at empty lines) and lines, spaces escaped as "▁". */
static kw_status read_units(const char *path, tt_units *u, umap *m) {
    kw_mapped_file f;
    kw_status st = kw_file_map(path, &f);
    if (st != KW_OK) return st;
    const char *s = (const char *)f.data;
    size_t n = f.size;
    dbuf line = {0};
    bool in_doc = false;
    for (size_t i = 0; i < n && st == KW_OK;) {
        size_t e = i;
        while (e < n && s[e] != '\n')
            e++;
        bool last = e >= n || e + 1 >= n || s[e + 1] == '\n'; /* the document ends here */
        if (e > i) {
            line.n = 0;
            for (size_t k = i; k < e && st == KW_OK; k++)
                st = s[k] == ' ' ? dbuf_put(&line, "\xE2\x96\x81", 3) : dbuf_putc(&line, s[k]);
            if (st == KW_OK && !last) st = dbuf_putc(&line, '\n');
            if (st == KW_OK) st = add_unit(u, m, line.p, line.n);
            for (size_t k = i; k < e; k++)
                u->n_chars += ((uint8_t)s[k] & 0xC0) != 0x80;
            u->n_chars += !last;
            if (!in_doc) u->n_docs++;
            in_doc = !last;
        } else {
            in_doc = false;
        }
        i = e + 1;
    }
    dbuf_free(&line);
    kw_file_unmap(&f);
    return st;
}

void tt_units_free(tt_units *u) {
    dbuf_free(&u->text);
    free(u->toff);
    free(u->tlen);
    free(u->weight);
    free(u->soff);
    free(u->slen);
    free(u->ids);
    free(u->pos);
    memset(u, 0, sizeof(*u));
}

/* ---------------------------------------------------------------- characters */

typedef struct char_count {
    uint32_t cp;
    int64_t n;
} char_count;

static int cmp_char_count(const void *a, const void *b) {
    const char_count *x = a, *y = b;
    if (x->n != y->n) return x->n > y->n ? -1 : 1;
    return x->cp < y->cp ? -1 : x->cp > y->cp;
}

/* Chooses the character tokens: every character seen min_char_count times or more, printable
 * ASCII, "▁" and '\n' always, the most frequent first, as many as the vocabulary has room for. */
static kw_status choose_chars(const tt_units *u, const kw_tokenizer_train_params *p, tt_vocab *v,
                              kw_tokenizer_train_stats *s) {
    int64_t *count = kw_calloc(0x110000, sizeof(*count), "character counts");
    if (!count) return KW_ERR_NOMEM;
    for (int64_t k = 0; k < u->n; k++) {
        const char *t = u->text.p + u->toff[k];
        for (uint32_t i = 0; i < u->tlen[k];) {
            uint32_t cp;
            i += (uint32_t)kw_utf8_decode((const uint8_t *)t + i, u->tlen[k] - i, &cp);
            count[cp] += u->weight[k];
        }
    }
    int64_t n_distinct = 0, n_keep = 0;
    for (uint32_t cp = 0; cp < 0x110000; cp++)
        n_distinct += count[cp] > 0;
    char_count *cc = kw_malloc((size_t)(n_distinct + 128) * sizeof(*cc), "character list");
    if (!cc) {
        free(count);
        return KW_ERR_NOMEM;
    }
    for (uint32_t cp = 0; cp < 0x110000; cp++) {
        bool always = (cp >= 0x21 && cp <= 0x7E) || cp == 0x2581 || cp == '\n';
        if (count[cp] >= p->min_char_count || always) cc[n_keep++] = (char_count){cp, count[cp]};
        s->chars_in += count[cp];
    }
    qsort(cc, (size_t)n_keep, sizeof(*cc), cmp_char_count);
    int64_t room = p->vocab_size - TT_FIRST_CHAR;
    kw_status st = KW_OK;
    if (room < n_keep && room < 128)
        st = kw_error(KW_ERR_INVALID_ARG,
                      "tokenizer-train: --vocab %d leaves %lld slots after the %d special and "
                      "byte tokens; the data has %lld characters seen %d times or more",
                      p->vocab_size, (long long)room, TT_FIRST_CHAR, (long long)n_keep,
                      p->min_char_count);
    if (n_keep > room) n_keep = room; /* the rarest characters fall back to bytes */
    for (int64_t i = 0; i < n_keep && st == KW_OK; i++) {
        char buf[4];
        int len = kw_utf8_encode(cc[i].cp, buf);
        st = tt_vocab_add(v, buf, (size_t)len, -1e6f - (float)i, 1 /* normal */, NULL);
        count[cc[i].cp] = -1; /* marks a kept character */
    }
    for (uint32_t cp = 0; cp < 0x110000; cp++)
        if (count[cp] > 0) s->chars_fallback += count[cp];
    v->n_chars = (int32_t)n_keep;
    s->n_distinct_chars = n_distinct;
    free(cc);
    free(count);
    return st;
}

/* Initial segmentation: one symbol per character, its token or -(1 + code point). */
static kw_status init_segments(tt_units *u, const tt_vocab *v) {
    int64_t total = 0;
    for (int64_t k = 0; k < u->n; k++)
        total += u->tlen[k]; /* >= characters */
    u->soff = kw_malloc((size_t)(u->n + 1) * sizeof(*u->soff), "segment offsets");
    u->slen = kw_malloc((size_t)(u->n + 1) * sizeof(*u->slen), "segment lengths");
    u->ids = kw_malloc((size_t)(total + 1) * sizeof(*u->ids), "segments");
    u->pos = kw_malloc((size_t)(total + 1) * sizeof(*u->pos), "segment positions");
    if (!u->soff || !u->slen || !u->ids || !u->pos) return KW_ERR_NOMEM;
    uint64_t o = 0;
    for (int64_t k = 0; k < u->n; k++) {
        const char *t = u->text.p + u->toff[k];
        u->soff[k] = o;
        uint32_t n = 0;
        for (uint32_t i = 0; i < u->tlen[k];) {
            /* characters as spm.c cuts them: by the lead byte alone, so that even invalid UTF-8
             * is cut the same way */
            uint32_t len = (uint32_t)kw_utf8_seq_len((uint8_t)t[i]);
            if (len == 0) len = 1;
            if (len > u->tlen[k] - i) len = u->tlen[k] - i;
            int32_t id = tt_vocab_find2(v, t + i, len, "", 0);
            u->ids[o + n] = id >= 0 ? id : -1;
            u->pos[o + n] = n;
            n++;
            i += len;
        }
        u->slen[k] = n;
        o += n;
    }
    u->n_sym = (int64_t)o;
    return KW_OK;
}

/* ---------------------------------------------------------------- pairs */

/* One adjacent pair of tokens: its weighted count and the units it has occurred in (appended
 * as it appears; may hold units that lost it since, and repeats: users check). */
typedef struct pair {
    int32_t a, b;
    int64_t count;
    int32_t *units;
    int32_t n_units, cap_units;
    bool dirty; /* its count rose in this merge step: re-queue it */
} pair;

typedef struct heap_ent {
    int64_t count;
    int32_t pair;
} heap_ent;

typedef struct trainer {
    tt_vocab *v;
    tt_units *u;
    pair *pairs;
    int32_t n_pairs, cap_pairs;
    int32_t *slots; /* pair map, -1 empty */
    uint64_t mask;
    heap_ent *heap;
    int64_t n_heap, cap_heap;
    int32_t *dirty;
    int32_t n_dirty, cap_dirty;
    int64_t *stamp; /* per unit: the merge step that last visited it */
    /* per-unit scratch of the SPM loop */
    int32_t *prev, *next, *cand_tok;
    uint8_t *alive;
    struct cand {
        float score;
        uint32_t pos;
        int32_t l, r, tl, tr;
    } * cands;
    int64_t n_cands, cap_cands;
    uint32_t scratch_cap;
} trainer;

static uint64_t pair_key(int32_t a, int32_t b) {
    return ((uint64_t)(uint32_t)a << 32) | (uint32_t)b;
}

static kw_status pmap_grow(trainer *t) {
    uint64_t size = t->mask ? (t->mask + 1) * 2 : 1u << 20;
    int32_t *slots = kw_malloc(size * sizeof(*slots), "pair map");
    if (!slots) return KW_ERR_NOMEM;
    memset(slots, 0xff, size * sizeof(*slots));
    for (int32_t k = 0; k < t->n_pairs; k++) {
        uint64_t i = mix(pair_key(t->pairs[k].a, t->pairs[k].b)) & (size - 1);
        while (slots[i] >= 0)
            i = (i + 1) & (size - 1);
        slots[i] = k;
    }
    free(t->slots);
    t->slots = slots;
    t->mask = size - 1;
    return KW_OK;
}

/* Index of pair (a, b), created when create; -1 when absent (or on failure, with *st set). */
static int32_t pair_get(trainer *t, int32_t a, int32_t b, bool create, kw_status *st) {
    uint64_t key = pair_key(a, b), i = mix(key) & t->mask;
    for (;; i = (i + 1) & t->mask) {
        int32_t k = t->slots[i];
        if (k < 0) break;
        if (t->pairs[k].a == a && t->pairs[k].b == b) return k;
    }
    if (!create) return -1;
    if (t->n_pairs == t->cap_pairs) {
        int32_t cap = t->cap_pairs ? t->cap_pairs * 2 : 1 << 20;
        pair *p = realloc(t->pairs, (size_t)cap * sizeof(*p));
        if (!p) {
            *st = kw_error(KW_ERR_NOMEM, "out of memory for %d pairs", cap);
            return -1;
        }
        t->pairs = p;
        t->cap_pairs = cap;
    }
    if ((uint64_t)(t->n_pairs + 1) * 2 > t->mask + 1) {
        if ((*st = pmap_grow(t)) != KW_OK) return -1;
        return pair_get(t, a, b, create, st);
    }
    int32_t k = t->n_pairs++;
    t->pairs[k] = (pair){a, b, 0, NULL, 0, 0, false};
    t->slots[i] = k;
    return k;
}

/* Adds w occurrences of (a, b) in unit; records the unit when it is new to the pair's list. */
static kw_status pair_add(trainer *t, int32_t a, int32_t b, int64_t w, int64_t unit) {
    if (a < 0 || b < 0) return KW_OK; /* a byte-fallback character never merges */
    kw_status st = KW_OK;
    int32_t k = pair_get(t, a, b, w > 0, &st);
    if (k < 0) return st;
    pair *p = &t->pairs[k];
    p->count += w;
    if (w <= 0) return KW_OK;
    if (!p->dirty) {
        if (t->n_dirty == t->cap_dirty) {
            int32_t cap = t->cap_dirty ? t->cap_dirty * 2 : 4096;
            int32_t *d = realloc(t->dirty, (size_t)cap * sizeof(*d));
            if (!d) return kw_error(KW_ERR_NOMEM, "out of memory for %d pair updates", cap);
            t->dirty = d;
            t->cap_dirty = cap;
        }
        t->dirty[t->n_dirty++] = k;
        p->dirty = true;
    }
    if (p->n_units > 0 && p->units[p->n_units - 1] == unit) return KW_OK;
    if (p->n_units == p->cap_units) {
        int32_t cap = p->cap_units ? p->cap_units * 2 : 2;
        int32_t *us = realloc(p->units, (size_t)cap * sizeof(*us));
        if (!us) return kw_error(KW_ERR_NOMEM, "out of memory for a pair's %d lines", cap);
        p->units = us;
        p->cap_units = cap;
    }
    p->units[p->n_units++] = (int32_t)unit;
    return KW_OK;
}

/* Heap order: more occurrences first, then the smaller (a, b): deterministic. */
static bool heap_before(const trainer *t, heap_ent x, heap_ent y) {
    if (x.count != y.count) return x.count > y.count;
    const pair *p = &t->pairs[x.pair], *q = &t->pairs[y.pair];
    return p->a != q->a ? p->a < q->a : p->b < q->b;
}

static kw_status heap_push(trainer *t, heap_ent e) {
    if (t->n_heap == t->cap_heap) {
        int64_t cap = t->cap_heap ? t->cap_heap * 2 : 1 << 20;
        heap_ent *h = realloc(t->heap, (size_t)cap * sizeof(*h));
        if (!h)
            return kw_error(KW_ERR_NOMEM, "out of memory for %lld queued pairs", (long long)cap);
        t->heap = h;
        t->cap_heap = cap;
    }
    int64_t i = t->n_heap++;
    while (i > 0 && heap_before(t, e, t->heap[(i - 1) / 2])) {
        t->heap[i] = t->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    t->heap[i] = e;
    return KW_OK;
}

static heap_ent heap_pop(trainer *t) {
    heap_ent top = t->heap[0], last = t->heap[--t->n_heap];
    int64_t i = 0;
    for (;;) {
        int64_t c = 2 * i + 1;
        if (c >= t->n_heap) break;
        if (c + 1 < t->n_heap && heap_before(t, t->heap[c + 1], t->heap[c])) c++;
        if (!heap_before(t, t->heap[c], last)) break;
        t->heap[i] = t->heap[c];
        i = c;
    }
    if (t->n_heap) t->heap[i] = last;
    return top;
}

/* Queues every pair whose count rose since the last call. */
static kw_status flush_dirty(trainer *t) {
    kw_status st = KW_OK;
    for (int32_t i = 0; i < t->n_dirty && st == KW_OK; i++) {
        pair *p = &t->pairs[t->dirty[i]];
        p->dirty = false;
        if (p->count > 0) st = heap_push(t, (heap_ent){p->count, t->dirty[i]});
    }
    t->n_dirty = 0;
    return st;
}

/* ---------------------------------------------------------------- SPM continuation */

static bool cand_before(const struct cand *x, const struct cand *y) {
    return x->score > y->score || (x->score == y->score && x->pos < y->pos);
}

static kw_status cand_push(trainer *t, struct cand c) {
    if (t->n_cands == t->cap_cands) {
        int64_t cap = t->cap_cands ? t->cap_cands * 2 : 64;
        struct cand *a = realloc(t->cands, (size_t)cap * sizeof(*a));
        if (!a)
            return kw_error(KW_ERR_NOMEM, "out of memory for %lld merge candidates",
                            (long long)cap);
        t->cands = a;
        t->cap_cands = cap;
    }
    int64_t i = t->n_cands++;
    while (i > 0 && cand_before(&c, &t->cands[(i - 1) / 2])) {
        t->cands[i] = t->cands[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    t->cands[i] = c;
    return KW_OK;
}

static struct cand cand_pop(trainer *t) {
    struct cand top = t->cands[0], last = t->cands[--t->n_cands];
    int64_t i = 0;
    for (;;) {
        int64_t c = 2 * i + 1;
        if (c >= t->n_cands) break;
        if (c + 1 < t->n_cands && cand_before(&t->cands[c + 1], &t->cands[c])) c++;
        if (!cand_before(&t->cands[c], &last)) break;
        t->cands[i] = t->cands[c];
        i = c;
    }
    if (t->n_cands) t->cands[i] = last;
    return top;
}

/* Queues (l, r) when their concatenation is a token. */
static kw_status try_cand(trainer *t, const int32_t *ids, const uint32_t *pos, int32_t l,
                          int32_t r) {
    if (l < 0 || r < 0 || ids[l] < 0 || ids[r] < 0) return KW_OK;
    const tt_vocab *v = t->v;
    int32_t tok =
        tt_vocab_find2(v, tt_text(v, ids[l]), v->len[ids[l]], tt_text(v, ids[r]), v->len[ids[r]]);
    if (tok < 0) return KW_OK;
    return cand_push(t, (struct cand){v->score[tok], pos[l], l, r, ids[l], ids[r]});
}

static kw_status ensure_scratch(trainer *t, uint32_t n) {
    if (n <= t->scratch_cap) return KW_OK;
    free(t->prev);
    free(t->next);
    free(t->alive);
    t->prev = kw_malloc((size_t)n * sizeof(*t->prev), "merge scratch");
    t->next = kw_malloc((size_t)n * sizeof(*t->next), "merge scratch");
    t->alive = kw_malloc(n, "merge scratch");
    t->scratch_cap = t->prev && t->next && t->alive ? n : 0;
    return t->scratch_cap ? KW_OK : KW_ERR_NOMEM;
}

/* Carries unit k from its segmentation under the previous vocabulary to the one under the
 * current vocabulary (whose newest piece can be formed by the pairs splits[0..n_splits)), by
 * spm.c's loop: the best-scored candidate first, the leftmost on equal scores. */
static kw_status carry_on(trainer *t, int64_t k, const int32_t *splits, int n_splits) {
    tt_units *u = t->u;
    int32_t *ids = u->ids + u->soff[k];
    uint32_t *pos = u->pos + u->soff[k];
    uint32_t n = u->slen[k];
    int64_t w = u->weight[k];
    kw_status st = ensure_scratch(t, n);
    if (st != KW_OK) return st;
    t->n_cands = 0;
    for (uint32_t i = 0; i + 1 < n && st == KW_OK; i++)
        for (int s = 0; s < n_splits; s++)
            if (ids[i] == splits[2 * s] && ids[i + 1] == splits[2 * s + 1]) {
                st = try_cand(t, ids, pos, (int32_t)i, (int32_t)i + 1);
                break;
            }
    if (st != KW_OK || t->n_cands == 0) return st;
    for (uint32_t i = 0; i < n; i++) {
        t->prev[i] = (int32_t)i - 1;
        t->next[i] = i + 1 < n ? (int32_t)i + 1 : -1;
        t->alive[i] = 1;
    }
    const tt_vocab *v = t->v;
    while (t->n_cands > 0 && st == KW_OK) {
        struct cand c = cand_pop(t);
        if (!t->alive[c.l] || !t->alive[c.r] || t->next[c.l] != c.r || ids[c.l] != c.tl ||
            ids[c.r] != c.tr)
            continue; /* stale */
        int32_t tok =
            tt_vocab_find2(v, tt_text(v, c.tl), v->len[c.tl], tt_text(v, c.tr), v->len[c.tr]);
        int32_t pp = t->prev[c.l], nn = t->next[c.r];
        if (pp >= 0) st = pair_add(t, ids[pp], ids[c.l], -w, k);
        if (st == KW_OK) st = pair_add(t, ids[c.l], ids[c.r], -w, k);
        if (st == KW_OK && nn >= 0) st = pair_add(t, ids[c.r], ids[nn], -w, k);
        ids[c.l] = tok;
        t->alive[c.r] = 0;
        t->next[c.l] = nn;
        if (nn >= 0) t->prev[nn] = c.l;
        if (st == KW_OK && pp >= 0) st = pair_add(t, ids[pp], tok, w, k);
        if (st == KW_OK && nn >= 0) st = pair_add(t, tok, ids[nn], w, k);
        if (st == KW_OK) st = try_cand(t, ids, pos, pp, c.l);
        if (st == KW_OK) st = try_cand(t, ids, pos, c.l, nn);
    }
    uint32_t o = 0; /* symbol 0 never dies: merges fold the right symbol into the left */
    for (int32_t i = 0; i >= 0; i = t->next[i]) {
        ids[o] = ids[i];
        pos[o] = pos[i];
        o++;
    }
    u->slen[k] = o;
    return st;
}

/* ---------------------------------------------------------------- training */

static kw_status count_pairs(trainer *t) {
    tt_units *u = t->u;
    kw_status st = KW_OK;
    for (int64_t k = 0; k < u->n && st == KW_OK; k++) {
        const int32_t *ids = u->ids + u->soff[k];
        for (uint32_t i = 0; i + 1 < u->slen[k] && st == KW_OK; i++)
            st = pair_add(t, ids[i], ids[i + 1], u->weight[k], k);
    }
    return st == KW_OK ? flush_dirty(t) : st;
}

/* The best pair still counted, or -1. Stale queue entries are dropped or re-queued. */
static int32_t best_pair(trainer *t, kw_status *st) {
    while (t->n_heap > 0) {
        heap_ent e = heap_pop(t);
        int64_t c = t->pairs[e.pair].count;
        if (c == e.count) return e.pair;
        if (c > 0 && c < e.count && (*st = heap_push(t, (heap_ent){c, e.pair})) != KW_OK) return -1;
    }
    return -1;
}

/* One merge: piece z = a + b gets the next id and score; every unit where two adjacent symbols
 * make z is carried on. */
static kw_status merge_once(trainer *t, int32_t best, int32_t m, dbuf *z, int32_t *splits,
                            bool *done) {
    tt_vocab *v = t->v;
    int32_t a = t->pairs[best].a, b = t->pairs[best].b;
    z->n = 0;
    kw_status st = dbuf_put(z, tt_text(v, a), v->len[a]);
    if (st == KW_OK) st = dbuf_put(z, tt_text(v, b), v->len[b]);
    if (st != KW_OK) return st;
    if (tt_vocab_find2(v, z->p, z->n, "", 0) >= 0) { /* cannot happen under SPM; be safe */
        t->pairs[best].count = 0;
        return KW_OK;
    }
    int32_t zid;
    if ((st = tt_vocab_add(v, z->p, z->n, -(float)(m + 1), 1, &zid)) != KW_OK) return st;
    v->n_merges++;
    *done = true;
    int n_splits = 0;
    for (size_t j = 1; j < z->n && n_splits < 64; j++) {
        if (((uint8_t)z->p[j] & 0xC0) == 0x80) continue; /* not a character boundary */
        int32_t p = tt_vocab_find2(v, z->p, j, "", 0);
        int32_t q = tt_vocab_find2(v, z->p + j, z->n - j, "", 0);
        if (p >= 0 && q >= 0) {
            splits[2 * n_splits] = p;
            splits[2 * n_splits + 1] = q;
            n_splits++;
        }
    }
    for (int s = 0; s < n_splits && st == KW_OK; s++) {
        int32_t k = pair_get(t, splits[2 * s], splits[2 * s + 1], false, &st);
        if (k < 0) continue;
        /* the list may grow while we walk it (carry_on appends): walk the entries there now */
        int32_t n_units = t->pairs[k].n_units;
        for (int32_t i = 0; i < n_units && st == KW_OK; i++) {
            int32_t unit = t->pairs[k].units[i];
            if (t->stamp[unit] == m) continue;
            t->stamp[unit] = m;
            st = carry_on(t, unit, splits, n_splits);
        }
    }
    if (st == KW_OK) st = flush_dirty(t);
    return st;
}

static kw_status train_merges(trainer *t, const kw_tokenizer_train_params *p, int32_t budget) {
    kw_status st = count_pairs(t);
    dbuf z = {0};
    int32_t splits[128];
    t->stamp = kw_malloc((size_t)(t->u->n + 1) * sizeof(*t->stamp), "line stamps");
    if (!t->stamp) st = KW_ERR_NOMEM;
    for (int64_t k = 0; st == KW_OK && k < t->u->n; k++)
        t->stamp[k] = -1;
    for (int32_t m = 0; m < budget && st == KW_OK;) {
        int32_t best = best_pair(t, &st);
        if (best < 0 || t->pairs[best].count < p->min_pair_count) break;
        bool done = false;
        st = merge_once(t, best, m, &z, splits, &done);
        if (!done) continue;
        m++;
        if (p->progress && (m % 256 == 0 || m == budget)) p->progress(p->user, "merges", m, budget);
    }
    dbuf_free(&z);
    return st;
}

static void trainer_free(trainer *t) {
    for (int32_t k = 0; k < t->n_pairs; k++)
        free(t->pairs[k].units);
    free(t->pairs);
    free(t->slots);
    free(t->heap);
    free(t->dirty);
    free(t->stamp);
    free(t->prev);
    free(t->next);
    free(t->alive);
    free(t->cands);
}

static kw_status base_tokens(tt_vocab *v) {
    kw_status st = KW_OK;
    for (int i = 0; i < TT_N_SPECIAL && st == KW_OK; i++)
        st = tt_vocab_add(v, tt_special[i], strlen(tt_special[i]), 0,
                          i == TT_UNK ? 2 /* unknown */ : 3 /* control */, NULL);
    for (int b = 0; b < 256 && st == KW_OK; b++) {
        char name[8];
        snprintf(name, sizeof(name), "<0x%02X>", b);
        st = tt_vocab_add(v, name, 6, 0, 6 /* byte */, NULL);
    }
    return st;
}

kw_status kw_tokenizer_train(const kw_tokenizer_train_params *p, kw_tokenizer_train_stats *out) {
    if (!p || !p->out_path || !p->data_files || p->n_data_files < 1)
        return kw_error(KW_ERR_INVALID_ARG, "tokenizer-train: no data file or no output path");
    if (p->vocab_size < TT_FIRST_CHAR + 128 || p->vocab_size > (1 << 24) || p->min_char_count < 1)
        return kw_error(KW_ERR_INVALID_ARG,
                        "tokenizer-train: vocabulary size %d (need %d .. %d) or minimum count %d",
                        p->vocab_size, TT_FIRST_CHAR + 128, 1 << 24, p->min_char_count);
    for (int32_t i = 0; i < p->n_data_files; i++)
        if (data_same_file(p->data_files[i], p->out_path))
            return kw_error(KW_ERR_INVALID_ARG,
                            "tokenizer-train: the output '%s' is the input '%s'; choose another "
                            "--out",
                            p->out_path, p->data_files[i]);
    double t0 = now_s();
    kw_tokenizer_train_stats s = {0};
    tt_vocab v = {0};
    tt_units u = {0};
    umap m = {0};
    trainer t = {0};
    kw_status st = KW_OK;
    for (int32_t i = 0; i < p->n_data_files && st == KW_OK; i++)
        st = read_units(p->data_files[i], &u, &m);
    free(m.slots);
    if (st == KW_OK && u.n == 0)
        st = kw_error(KW_ERR_INVALID_ARG, "tokenizer-train: '%s' has no text", p->data_files[0]);
    if (st == KW_OK) st = base_tokens(&v);
    if (st == KW_OK) st = choose_chars(&u, p, &v, &s);
    if (st == KW_OK) st = init_segments(&u, &v);
    if (st == KW_OK) {
        t.v = &v;
        t.u = &u;
        st = pmap_grow(&t);
    }
    if (st == KW_OK) st = train_merges(&t, p, p->vocab_size - v.n);
    trainer_free(&t);
    s.n_vocab = v.n;
    s.n_chars = v.n_chars;
    s.n_merges = v.n_merges;
    s.n_docs = u.n_docs;
    s.n_units = u.n;
    s.seconds = now_s() - t0;
    if (st == KW_OK) st = tt_write_gguf(&v, p->out_path, p, &s);
    if (st == KW_OK && p->verify) {
        double t1 = now_s();
        st = tt_verify(p->out_path, &u, p, &s);
        s.verify_seconds = now_s() - t1;
    }
    if (out && (st == KW_OK || st == KW_ERR_INTERNAL)) *out = s;
    tt_vocab_free(&v);
    tt_units_free(&u);
    return st;
}
