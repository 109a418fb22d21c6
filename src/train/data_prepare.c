/* data_prepare.c - `kaiwu data prepare`: corpus JSON files to train.txt, val.txt, poems.jsonl and
 * report.md in one pass (docs/training-data.md has the formats and the figures of the real run).
 *
 *   read     every *.json under the input directories, sorted by path; each record cleaned
 *            (data_clean.c), then title, author, cipai and body simplified in one OpenCC call
 *   order    documents by source priority (data_json.c's table), then read order: when two
 *            copies of a poem exist, the earlier one is kept
 *   dedup    exact duplicates (the same Han characters, punctuation ignored), then near
 *            duplicates: MinHash/LSH candidates over character bigrams (minhash.c), judged by
 *            exact Jaccard against the threshold, grouped by union-find
 *   split    every group of poems linked at split_link_threshold or more is one unit; a hash of
 *            its first member's id decides train or validation, so no poem or variant of it is
 *            on both sides, and the decision does not depend on the order of the input
 *   write    the four outputs, each to a temporary file renamed into place
 *
 * Relies on OpenCC (t2s), data_*.c, minhash.c and base. Single-threaded (the whole corpus takes
 * about a minute on one core, most of it in OpenCC). Must not: write outside out_dir, or leave a
 * half-written output.
 */
#include "train/data_prepare.h"

#include <dirent.h>
#include <errno.h>
#include <opencc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define SHINGLE_CHARS 2
#define LSH_BANDS     40
#define LSH_ROWS      3
#define COVER_CHARS   4
#define MIN_SHINGLES  3
#define MAX_BUCKET    500

kw_data_prepare_params kw_data_prepare_default_params(void) {
    kw_data_prepare_params p = {0};
    p.val_fraction = 0.01;
    p.near_dup_threshold = 0.5;
    p.cover_threshold = 0.7;
    p.split_link_threshold = 0.3;
    p.opencc_config = "t2s.json";
    return p;
}

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* ---------------------------------------------------------------- file list */

typedef struct paths {
    char **a;
    int64_t n, cap;
} paths;

static kw_status paths_push(paths *p, const char *s) {
    if (p->n == p->cap) {
        int64_t cap = p->cap ? p->cap * 2 : 256;
        char **a = realloc(p->a, (size_t)cap * sizeof(*a));
        if (!a) return kw_error(KW_ERR_NOMEM, "out of memory for %lld paths", (long long)cap);
        p->a = a;
        p->cap = cap;
    }
    if (!(p->a[p->n] = kw_strdup(s))) return KW_ERR_NOMEM;
    p->n++;
    return KW_OK;
}

static kw_status list_json(const char *dir, int depth, paths *out) {
    if (depth > 16) return KW_OK;
    DIR *d = opendir(dir);
    if (!d) return kw_error(KW_ERR_IO, "cannot read directory '%s': %s", dir, strerror(errno));
    kw_status st = KW_OK;
    dbuf path = {0};
    struct dirent *e;
    while (st == KW_OK && (e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        path.n = 0;
        st = dbuf_printf(&path, "%s/%s", dir, e->d_name);
        struct stat sb;
        if (st != KW_OK || stat(path.p, &sb) != 0) continue;
        size_t n = strlen(e->d_name);
        if (S_ISDIR(sb.st_mode))
            st = list_json(path.p, depth + 1, out);
        else if (S_ISREG(sb.st_mode) && n > 5 && strcmp(e->d_name + n - 5, ".json") == 0)
            st = paths_push(out, path.p);
    }
    closedir(d);
    dbuf_free(&path);
    return st;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* ---------------------------------------------------------------- state */

typedef struct prep {
    const kw_data_prepare_params *p;
    opencc_t cc;
    prep_doc *docs;
    int64_t n_docs, cap_docs;
    prep_report rep;
    data_clean clean;
    dbuf tmp, couplets;
    /* per file */
    int source;
    const char *file_part; /* id part of the current file ("3000"), or NULL */
} prep;

static char *snippet(const char *s, size_t max_chars) {
    size_t n = 0, i = 0, len = strlen(s);
    while (i < len && n < max_chars) {
        uint32_t cp;
        i += (size_t)kw_utf8_decode((const uint8_t *)s + i, len - i, &cp);
        n++;
    }
    return kw_strndup(s, i);
}

static void add_example(prep_example *arr, int *n, const char *id, const char *text,
                        const char *other, double j) {
    if (*n >= PREP_MAX_EXAMPLES) return;
    prep_example *e = &arr[*n];
    e->id = kw_strdup(id);
    e->text = snippet(text, 60);
    e->other = other ? snippet(other, 60) : NULL;
    e->j = j;
    (*n)++;
}

/* The raw line holding the rejecting character, for the report. */
static const char *raw_line_with(const data_raw *r, uint32_t cp) {
    char u[5] = {0};
    if (cp) kw_utf8_encode(cp, u);
    for (int32_t i = 0; cp && i < r->n_lines; i++)
        if (strstr(r->lines[i], u)) return r->lines[i];
    if (cp && strstr(r->title, u)) return r->title;
    return r->n_lines ? r->lines[0] : r->title;
}

static void count_bad(prep_report *r, uint32_t cp) {
    if (!cp) return;
    for (int i = 0; i < r->n_bad; i++)
        if (r->bad_cp[i] == cp) {
            r->bad_n[i]++;
            return;
        }
    if (r->n_bad < 64) {
        r->bad_cp[r->n_bad] = cp;
        r->bad_n[r->n_bad++] = 1;
    }
}

/* The first raw body line with a note bracket, or NULL. */
static const char *raw_line_with_note(const data_raw *r) {
    static const char *const open[] = {"（", "(", "〖", "〔", "【"};
    for (int32_t i = 0; i < r->n_lines; i++)
        for (int k = 0; k < 5; k++)
            if (strstr(r->lines[i], open[k])) return r->lines[i];
    return NULL;
}

static kw_status make_id(prep *s, int32_t index, dbuf *out) {
    const data_source *src = data_source_at(s->source);
    out->n = 0;
    if (src->single_file || !s->file_part) return dbuf_printf(out, "%s.%d", src->key, index);
    return dbuf_printf(out, "%s.%s.%d", src->key, s->file_part, index);
}

/* Simplifies title, author, cipai and body in one OpenCC call (OpenCC keeps the newlines). */
static kw_status simplify(prep *s, char **title, char **author, char **cipai, char **body) {
    data_clean *c = &s->clean;
    s->tmp.n = 0;
    kw_status st =
        dbuf_printf(&s->tmp, "%s\n%s\n%s\n%s", c->title.p, c->author.p, c->rhythmic.p, c->body.p);
    if (st != KW_OK) return st;
    char *conv = opencc_convert_utf8(s->cc, s->tmp.p, s->tmp.n);
    if (!conv || conv == (char *)-1)
        return kw_error(KW_ERR_INTERNAL, "OpenCC failed on '%.60s': %s", s->tmp.p, opencc_error());
    char *parts[4] = {conv, NULL, NULL, NULL};
    for (int i = 1; i < 4; i++) {
        char *nl = parts[i - 1] ? strchr(parts[i - 1], '\n') : NULL;
        if (!nl) break;
        *nl = 0;
        parts[i] = nl + 1;
    }
    if (!parts[3]) {
        opencc_convert_utf8_free(conv);
        return kw_error(KW_ERR_INTERNAL, "OpenCC changed the line structure of '%.60s'", s->tmp.p);
    }
    *title = kw_strdup(parts[0]);
    *author = kw_strdup(parts[1]);
    *cipai = kw_strdup(parts[2]);
    *body = kw_strdup(parts[3]);
    opencc_convert_utf8_free(conv);
    return *title && *author && *cipai && *body ? KW_OK : KW_ERR_NOMEM;
}

/* The form of a document: a ci's cipai without its subtitle ("念奴娇·赤壁怀古" -> "念奴娇"), or
 * the regular shi form of the body (whose lines then become one couplet each), or "other". */
static kw_status set_form(prep *s, prep_doc *d, const char *cipai) {
    kw_status st = KW_OK;
    const char *f = NULL;
    if (data_source_at(d->source)->is_ci) {
        const char *c = cipai[0] ? cipai : d->title;
        const char *dot = strstr(c, "·"), *sp = strchr(c, ' ');
        size_t n = strlen(c);
        if (dot && (size_t)(dot - c) < n) n = (size_t)(dot - c);
        if (sp && (size_t)(sp - c) < n) n = (size_t)(sp - c);
        d->form = n ? kw_strndup(c, n) : kw_strdup("other");
        return d->form ? KW_OK : KW_ERR_NOMEM;
    }
    f = data_shi_form(d->body, strlen(d->body), &s->couplets, &st);
    if (st != KW_OK) return st;
    if (f) {
        char *b = kw_strdup(s->couplets.p);
        if (!b) return KW_ERR_NOMEM;
        free(d->body);
        d->body = b;
    }
    d->form = kw_strdup(f ? f : "other");
    return d->form ? KW_OK : KW_ERR_NOMEM;
}

static void doc_free(prep_doc *d) {
    free(d->id);
    free(d->title);
    free(d->author);
    free(d->form);
    free(d->body);
    free(d->raw_first);
    free(d->sh);
    memset(d, 0, sizeof(*d));
}

static kw_status push_doc(prep *s, const prep_doc *d) {
    if (s->n_docs == s->cap_docs) {
        int64_t cap = s->cap_docs ? s->cap_docs * 2 : 4096;
        prep_doc *a = realloc(s->docs, (size_t)cap * sizeof(*a));
        if (!a) return kw_error(KW_ERR_NOMEM, "out of memory for %lld documents", (long long)cap);
        s->docs = a;
        s->cap_docs = cap;
    }
    s->docs[s->n_docs++] = *d;
    return KW_OK;
}

static kw_status on_record(void *user, const data_raw *r) {
    prep *s = user;
    prep_source_stats *ss = &s->rep.src[s->source];
    ss->n_records++;
    kw_status st;
    dbuf id = {0};
    if ((st = make_id(s, r->index, &id)) != KW_OK) return st;
    data_reason why = data_clean_record(r, &s->clean, &st);
    if (st != KW_OK) goto out;
    s->rep.n_notes += s->clean.n_notes;
    s->rep.n_unclosed += s->clean.n_unclosed;
    if (why != DR_KEPT) {
        ss->by_reason[why]++;
        int n_ex = s->rep.n_ex[why];
        add_example(s->rep.ex[why], &s->rep.n_ex[why], id.p, raw_line_with(r, s->clean.bad_cp),
                    NULL, 0);
        if (n_ex < s->rep.n_ex[why]) s->rep.ex[why][n_ex].cp = s->clean.bad_cp;
        count_bad(&s->rep, s->clean.bad_cp);
        goto out;
    }
    prep_doc d = {0};
    char *cipai = NULL;
    d.source = s->source;
    d.order = s->n_docs;
    d.dup_of = -1;
    st = simplify(s, &d.title, &d.author, &cipai, &d.body);
    if (st == KW_OK && s->clean.n_notes > 0 && s->rep.n_notes_ex < PREP_MAX_EXAMPLES &&
        raw_line_with_note(r))
        add_example(s->rep.notes_ex, &s->rep.n_notes_ex, id.p, raw_line_with_note(r), d.body, 0);
    if (st == KW_OK) st = set_form(s, &d, cipai);
    if (st == KW_OK && !d.title[0]) {
        free(d.title);
        d.title = kw_strdup("无题");
    }
    d.id = kw_strdup(id.p);
    d.raw_first = snippet(r->n_lines ? r->lines[0] : "", 40);
    if (st == KW_OK && (!d.id || !d.title || !d.raw_first)) st = KW_ERR_NOMEM;
    if (st == KW_OK) st = push_doc(s, &d);
    if (st != KW_OK) doc_free(&d);
    free(cipai);
out:
    dbuf_free(&id);
    return st;
}

/* ---------------------------------------------------------------- read */

/* The id part of a file: "poet.tang.3000.json" -> "3000", "huajianji-1-juan.json" -> itself. */
static char *file_part(const char *path) {
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    static const char *const prefixes[] = {"poet.tang.", "poet.song.", "ci.song."};
    for (int i = 0; i < 3; i++)
        if (strncmp(base, prefixes[i], strlen(prefixes[i])) == 0) base += strlen(prefixes[i]);
    size_t n = strlen(base);
    return kw_strndup(base, n > 5 ? n - 5 : n);
}

static kw_status read_file(prep *s, const char *path) {
    kw_mapped_file f;
    kw_status st = kw_file_map(path, &f);
    if (st != KW_OK) return st;
    char *part = file_part(path);
    if (!part) {
        kw_file_unmap(&f);
        return KW_ERR_NOMEM;
    }
    s->file_part = part;
    const data_source *src = data_source_at(s->source);
    int64_t n = 0;
    st = data_json_records((const char *)f.data, f.size, path, src->book, on_record, s, &n);
    s->rep.src[s->source].n_files++;
    s->file_part = NULL;
    free(part);
    kw_file_unmap(&f);
    return st;
}

static kw_status read_all(prep *s, const paths *files) {
    for (int64_t i = 0; i < files->n; i++) {
        s->source = data_source_for_path(files->a[i]);
        if (data_source_at(s->source)->skip) {
            s->rep.skipped_files[s->source]++;
            continue;
        }
        kw_status st = read_file(s, files->a[i]);
        if (st != KW_OK) return st;
        if (s->p->progress) s->p->progress(s->p->user, "read", i + 1, files->n);
    }
    return KW_OK;
}

/* ---------------------------------------------------------------- dedup */

static int cmp_doc_priority(const void *a, const void *b) {
    const prep_doc *x = a, *y = b;
    if (x->source != y->source) return x->source < y->source ? -1 : 1;
    return x->order < y->order ? -1 : x->order > y->order;
}

/* The Han characters of a text, for exact comparison. */
static kw_status han_only(const char *t, dbuf *out) {
    out->n = 0;
    kw_status st = dbuf_puts(out, "");
    size_t len = strlen(t);
    for (size_t i = 0; i < len && st == KW_OK;) {
        uint32_t cp;
        int k = kw_utf8_decode((const uint8_t *)t + i, len - i, &cp);
        if (data_is_han(cp)) st = dbuf_put(out, t + i, (size_t)k);
        i += (size_t)k;
    }
    return st;
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static int cmp_pair(const void *a, const void *b) {
    const int64_t *x = a, *y = b;
    if (x[0] != y[0]) return x[0] < y[0] ? -1 : 1;
    return x[1] < y[1] ? -1 : x[1] > y[1];
}

typedef struct hash_idx {
    uint64_t h;
    int64_t i;
} hash_idx;

static int cmp_hash_idx(const void *a, const void *b) {
    const hash_idx *x = a, *y = b;
    if (x->h != y->h) return x->h < y->h ? -1 : 1;
    return x->i < y->i ? -1 : x->i > y->i;
}

static void mark_dup(prep *s, int64_t i, int64_t kept, data_reason why, double j) {
    prep_doc *d = &s->docs[i];
    prep_doc *k = &s->docs[kept];
    d->reason = why;
    d->dup_of = kept;
    d->dup_j = j;
    s->rep.src[d->source].by_reason[why]++;
    /* a ci kept from a shi collection (全唐诗 holds the 花间集 ci) gets the cipai of its copy */
    if (data_source_at(d->source)->is_ci && !data_source_at(k->source)->is_ci &&
        strcmp(k->form, "other") == 0 && strcmp(d->form, "other") != 0) {
        char *f = kw_strdup(d->form);
        if (f) {
            free(k->form);
            k->form = f;
        }
    }
    dbuf a = {0}, b = {0};
    if (dbuf_printf(&a, "《%s》%s", d->title, d->body) == KW_OK &&
        dbuf_printf(&b, "%s《%s》%s", k->id, k->title, k->body) == KW_OK)
        add_example(s->rep.ex[why], &s->rep.n_ex[why], d->id, a.p, b.p, j);
    dbuf_free(&a);
    dbuf_free(&b);
}

static kw_status exact_dups(prep *s, mh_uf *split) {
    hash_idx *h = kw_malloc((size_t)(s->n_docs + 1) * sizeof(*h), "document hashes");
    dbuf a = {0}, b = {0};
    kw_status st = h ? KW_OK : KW_ERR_NOMEM;
    for (int64_t i = 0; i < s->n_docs && st == KW_OK; i++) {
        st = han_only(s->docs[i].body, &a);
        h[i] = (hash_idx){data_hash64(a.p, a.n, 0), i};
    }
    if (st == KW_OK) qsort(h, (size_t)s->n_docs, sizeof(*h), cmp_hash_idx);
    for (int64_t g = 0; g < s->n_docs && st == KW_OK;) {
        int64_t e = g + 1;
        while (e < s->n_docs && h[e].h == h[g].h)
            e++;
        if (e - g > 1) st = han_only(s->docs[h[g].i].body, &a);
        for (int64_t k = g + 1; k < e && st == KW_OK; k++) {
            if ((st = han_only(s->docs[h[k].i].body, &b)) != KW_OK) break;
            if (a.n != b.n || memcmp(a.p, b.p, a.n) != 0) continue; /* a 64-bit collision */
            mark_dup(s, h[k].i, h[g].i, DR_EXACT_DUP, 1.0);
            mh_uf_union(split, h[g].i, h[k].i);
        }
        g = e;
    }
    free(h);
    dbuf_free(&a);
    dbuf_free(&b);
    return st;
}

static void near_example(prep *s, prep_example *arr, int *n, int64_t i, int64_t j, double v) {
    if (*n >= 2) return;
    prep_example *e = &arr[(*n)++];
    dbuf a = {0}, b = {0};
    if (dbuf_printf(&a, "%s《%s》%s", s->docs[i].id, s->docs[i].title, s->docs[i].body) == KW_OK &&
        dbuf_printf(&b, "%s《%s》%s", s->docs[j].id, s->docs[j].title, s->docs[j].body) == KW_OK) {
        e->id = kw_strdup(s->docs[i].id);
        e->text = snippet(a.p, 60);
        e->other = snippet(b.p, 60);
    }
    e->j = v;
    dbuf_free(&a);
    dbuf_free(&b);
}

static kw_status near_dups(prep *s, mh_uf *split) {
    const kw_data_prepare_params *p = s->p;
    kw_status st = KW_OK;
    const uint64_t **sh = kw_malloc((size_t)(s->n_docs + 1) * sizeof(*sh), "shingle index");
    int32_t *n_sh = kw_malloc((size_t)(s->n_docs + 1) * sizeof(*n_sh), "shingle counts");
    if (!sh || !n_sh) st = KW_ERR_NOMEM;
    for (int64_t i = 0; i < s->n_docs && st == KW_OK; i++) {
        prep_doc *d = &s->docs[i];
        if (d->reason == DR_KEPT)
            st = mh_shingles(d->body, strlen(d->body), SHINGLE_CHARS, &d->sh, &d->n_sh);
        sh[i] = d->sh;
        n_sh[i] = d->n_sh;
    }
    int64_t *pairs = NULL, n_pairs = 0;
    if (st == KW_OK)
        st = mh_candidates(sh, n_sh, s->n_docs, LSH_BANDS, LSH_ROWS, MIN_SHINGLES, MAX_BUCKET,
                           p->seed, &pairs, &n_pairs, &s->rep.n_capped);
    if (p->progress) p->progress(p->user, "dedup", 1, 2);
    s->rep.n_candidates = n_pairs;
    /* edges at or above the threshold, listed under their lower-priority end */
    int64_t *edges = kw_malloc((size_t)(n_pairs + 1) * 3 * sizeof(*edges), "near-dup edges");
    int64_t n_edges = 0;
    if (!edges) st = KW_ERR_NOMEM;
    for (int64_t k = 0; k < n_pairs && st == KW_OK; k++) {
        int64_t i = pairs[2 * k], j = pairs[2 * k + 1];
        double jac = mh_jaccard(sh[i], n_sh[i], sh[j], n_sh[j]);
        int bin = (int)(jac * PREP_N_BINS);
        bin = bin >= PREP_N_BINS ? PREP_N_BINS - 1 : bin;
        s->rep.hist[bin]++;
        near_example(s, s->rep.near_ex[bin], &s->rep.n_near_ex[bin], i, j, jac);
        if (jac >= p->split_link_threshold) mh_uf_union(split, i, j);
        if (jac >= p->near_dup_threshold) {
            edges[3 * n_edges] = j > i ? j : i;
            edges[3 * n_edges + 1] = j > i ? i : j;
            memcpy(&edges[3 * n_edges + 2], &jac, sizeof(jac));
            n_edges++;
        }
    }
    /* greedy, in priority order: a poem goes when a higher-priority poem that stays is this
     * similar to it (no chains: the kept poem is always within the threshold) */
    if (st == KW_OK) qsort(edges, (size_t)n_edges, 3 * sizeof(int64_t), cmp_pair);
    for (int64_t e = 0; e < n_edges && st == KW_OK; e++) {
        int64_t i = edges[3 * e], j = edges[3 * e + 1];
        double jac;
        memcpy(&jac, &edges[3 * e + 2], sizeof(jac));
        if (s->docs[i].reason == DR_KEPT && s->docs[j].reason == DR_KEPT)
            mark_dup(s, i, j, DR_NEAR_DUP, jac);
    }
    free(edges);
    for (int64_t i = 0; i < s->n_docs; i++) {
        free(s->docs[i].sh);
        s->docs[i].sh = NULL;
    }
    free(pairs);
    free(sh);
    free(n_sh);
    return st;
}

/* Coverage, in priority order: the share of a poem's 4-character shingles that kept poems before
 * it already hold. At cover_threshold or more it goes; at split_link_threshold or more it joins
 * the split group of the poems it shares text with. */
static kw_status covered_dups(prep *s, mh_uf *split) {
    const kw_data_prepare_params *p = s->p;
    mh_set seen = {0};
    kw_status st = mh_set_init(&seen, 1 << 22);
    int64_t *by = NULL;
    for (int64_t i = 0; i < s->n_docs && st == KW_OK; i++) {
        prep_doc *d = &s->docs[i];
        if (d->reason != DR_KEPT) continue;
        uint64_t *sh = NULL;
        int32_t n = 0;
        if ((st = mh_shingles(d->body, strlen(d->body), COVER_CHARS, &sh, &n)) != KW_OK) break;
        int64_t *b = realloc(by, (size_t)(n + 1) * sizeof(*b));
        if (!b) {
            free(sh);
            st = kw_error(KW_ERR_NOMEM, "out of memory for %d shingles", n);
            break;
        }
        by = b;
        int32_t hits = 0;
        for (int32_t k = 0; k < n; k++)
            if ((by[hits] = mh_set_get(&seen, sh[k])) >= 0) hits++;
        double cov = n >= MIN_SHINGLES ? (double)hits / n : 0;
        /* the poems it shares text with, by how much: the most is the one it is shown against,
         * and those sharing split_link or more of it join its split group (a looser rule would
         * chain whole collections together through common phrases) */
        qsort(by, (size_t)hits, sizeof(*by), cmp_i64);
        int64_t best = -1, best_n = 0;
        for (int32_t k = 0; k < hits;) {
            int32_t e = k;
            while (e < hits && by[e] == by[k])
                e++;
            if (e - k > best_n) {
                best_n = e - k;
                best = by[k];
            }
            if (cov < p->cover_threshold && (double)(e - k) / n >= p->split_link_threshold)
                mh_uf_union(split, i, by[k]);
            k = e;
        }
        if (hits > 0) {
            int bin = (int)(cov * PREP_N_BINS);
            bin = bin >= PREP_N_BINS ? PREP_N_BINS - 1 : bin;
            s->rep.cov_hist[bin]++;
            near_example(s, s->rep.cov_ex[bin], &s->rep.n_cov_ex[bin], i, best, cov);
        }
        if (cov >= p->cover_threshold)
            mark_dup(s, i, best, DR_COVERED, cov);
        else
            for (int32_t k = 0; k < n && st == KW_OK; k++)
                st = mh_set_put(&seen, sh[k], i);
        free(sh);
    }
    free(by);
    mh_set_free(&seen);
    return st;
}

/* ---------------------------------------------------------------- split */

static void split(prep *s, mh_uf *groups) {
    int64_t *size = kw_calloc((size_t)(s->n_docs + 1), sizeof(*size), "group sizes");
    uint64_t cut = (uint64_t)(s->p->val_fraction * 1e6 + 0.5);
    for (int64_t i = 0; i < s->n_docs; i++) {
        prep_doc *d = &s->docs[i];
        int64_t root = mh_uf_find(groups, i);
        const char *key = s->docs[root].id;
        d->val = data_hash64(key, strlen(key), s->p->seed) % 1000000u < cut;
        if (size && d->reason == DR_KEPT) size[root]++;
    }
    for (int64_t i = 0; size && i < s->n_docs; i++) {
        if (size[i] > 0) s->rep.n_split_groups++;
        if (size[i] > s->rep.largest_group) s->rep.largest_group = size[i];
    }
    free(size);
}

/* ---------------------------------------------------------------- write */

static int64_t count_cps(const char *s, size_t n) {
    int64_t c = 0;
    for (size_t i = 0; i < n; i++)
        c += ((uint8_t)s[i] & 0xC0) != 0x80;
    return c;
}

static kw_status put_document(const prep_doc *d, dbuf *out, int64_t *chars) {
    size_t start = out->n ? out->n + 2 : 0;
    kw_status st = out->n ? dbuf_put(out, "\n\n", 2) : KW_OK;
    if (st == KW_OK) st = dbuf_puts(out, d->title);
    if (st == KW_OK && d->author[0]) st = dbuf_printf(out, "\n%s", d->author);
    if (st == KW_OK) st = dbuf_printf(out, "\n%s", d->body);
    *chars += count_cps(out->p + start, out->n - start);
    return st;
}

static kw_status put_json_line(const prep_doc *d, dbuf *out) {
    const data_source *src = data_source_at(d->source);
    kw_status st = dbuf_puts(out, "{\"id\": ");
    if (st == KW_OK) st = dbuf_put_json_str(out, d->id, strlen(d->id));
    if (st == KW_OK) st = dbuf_puts(out, ", \"source\": ");
    if (st == KW_OK) st = dbuf_put_json_str(out, src->name, strlen(src->name));
    if (st == KW_OK)
        st = dbuf_printf(out, ", \"split\": \"%s\", \"title\": ", d->val ? "val" : "train");
    if (st == KW_OK) st = dbuf_put_json_str(out, d->title, strlen(d->title));
    if (st == KW_OK) st = dbuf_puts(out, ", \"author\": ");
    if (st == KW_OK) st = dbuf_put_json_str(out, d->author, strlen(d->author));
    if (st == KW_OK) st = dbuf_puts(out, ", \"dynasty\": ");
    if (st == KW_OK) st = dbuf_put_json_str(out, src->dynasty, strlen(src->dynasty));
    if (st == KW_OK) st = dbuf_puts(out, ", \"form\": ");
    if (st == KW_OK) st = dbuf_put_json_str(out, d->form, strlen(d->form));
    if (st == KW_OK) st = dbuf_puts(out, ", \"lines\": [");
    for (const char *l = d->body; st == KW_OK && l;) {
        const char *nl = strchr(l, '\n');
        size_t n = nl ? (size_t)(nl - l) : strlen(l);
        if (l != d->body) st = dbuf_puts(out, ", ");
        if (st == KW_OK) st = dbuf_put_json_str(out, l, n);
        l = nl ? nl + 1 : NULL;
    }
    return st == KW_OK ? dbuf_puts(out, "]}\n") : st;
}

static int form_slot(const char *form, bool is_ci) {
    static const char *const shi[] = {"五言绝句", "七言绝句", "五言律诗", "七言律诗"};
    for (int i = 0; i < 4; i++)
        if (strcmp(form, shi[i]) == 0) return i;
    return is_ci && strcmp(form, "other") != 0 ? 4 : 5;
}

static kw_status join_path(const char *dir, const char *name, dbuf *out) {
    out->n = 0;
    return dbuf_printf(out, "%s/%s", dir, name);
}

static kw_status write_outputs(prep *s, kw_data_prepare_stats *stats) {
    dbuf train = {0}, val = {0}, jsonl = {0}, path = {0};
    kw_status st = KW_OK;
    for (int64_t i = 0; i < s->n_docs && st == KW_OK; i++) {
        prep_doc *d = &s->docs[i];
        if (d->reason != DR_KEPT) continue;
        prep_source_stats *ss = &s->rep.src[d->source];
        int64_t chars = 0;
        st = put_document(d, d->val ? &val : &train, &chars);
        if (st == KW_OK) st = put_json_line(d, &jsonl);
        ss->n_kept++;
        ss->chars += chars;
        *(d->val ? &ss->n_val : &ss->n_train) += 1;
        *(d->val ? &stats->n_val : &stats->n_train) += 1;
        *(d->val ? &stats->chars_val : &stats->chars_train) += chars;
        s->rep.forms[form_slot(d->form, data_source_at(d->source)->is_ci)]++;
    }
    if (st == KW_OK && train.n) st = dbuf_putc(&train, '\n');
    if (st == KW_OK && val.n) st = dbuf_putc(&val, '\n');
    if (st == KW_OK) st = dbuf_puts(&train, "");
    if (st == KW_OK) st = dbuf_puts(&val, "");
    if (st == KW_OK) st = dbuf_puts(&jsonl, "");
    if (st == KW_OK) st = join_path(s->p->out_dir, "train.txt", &path);
    if (st == KW_OK) st = data_write_file(path.p, &train);
    if (st == KW_OK) st = join_path(s->p->out_dir, "val.txt", &path);
    if (st == KW_OK) st = data_write_file(path.p, &val);
    if (st == KW_OK) st = join_path(s->p->out_dir, "poems.jsonl", &path);
    if (st == KW_OK) st = data_write_file(path.p, &jsonl);
    dbuf_free(&train);
    dbuf_free(&val);
    dbuf_free(&jsonl);
    dbuf_free(&path);
    return st;
}

static kw_status write_report(prep *s, const kw_data_prepare_stats *stats) {
    dbuf md = {0}, path = {0};
    kw_status st = prep_report_write(&s->rep, stats, &md);
    if (st == KW_OK) st = join_path(s->p->out_dir, "report.md", &path);
    if (st == KW_OK) st = data_write_file(path.p, &md);
    dbuf_free(&md);
    dbuf_free(&path);
    return st;
}

/* ---------------------------------------------------------------- entry point */

static kw_status check_params(const kw_data_prepare_params *p) {
    if (!p || !p->out_dir || !p->in_dirs || p->n_in_dirs < 1)
        return kw_error(KW_ERR_INVALID_ARG, "data prepare: no input directory or no output");
    if (!(p->val_fraction >= 0 && p->val_fraction < 1))
        return kw_error(KW_ERR_INVALID_ARG, "data prepare: validation fraction %g is not in [0, 1)",
                        p->val_fraction);
    if (!(p->near_dup_threshold > 0 && p->near_dup_threshold <= 1) ||
        !(p->cover_threshold > 0 && p->cover_threshold <= 1) ||
        !(p->split_link_threshold > 0 && p->split_link_threshold <= p->near_dup_threshold))
        return kw_error(KW_ERR_INVALID_ARG,
                        "data prepare: thresholds near-dup %g, cover %g, split-link %g: need 0 < "
                        "split-link <= near-dup <= 1 and 0 < cover <= 1",
                        p->near_dup_threshold, p->cover_threshold, p->split_link_threshold);
    return KW_OK;
}

kw_status kw_data_prepare(const kw_data_prepare_params *p, kw_data_prepare_stats *stats_out) {
    kw_status st = check_params(p);
    if (st != KW_OK) return st;
    double t0 = now_s();
    if (mkdir(p->out_dir, 0777) != 0 && errno != EEXIST)
        return kw_error(KW_ERR_IO, "cannot create '%s': %s", p->out_dir, strerror(errno));
    prep s = {0};
    s.p = p;
    s.rep.params = p;
    s.rep.shingle_chars = SHINGLE_CHARS;
    s.rep.n_bands = LSH_BANDS;
    s.rep.n_rows = LSH_ROWS;
    s.rep.cover_chars = COVER_CHARS;
    s.cc = opencc_open(p->opencc_config ? p->opencc_config : "t2s.json");
    if (s.cc == (opencc_t)-1)
        return kw_error(KW_ERR_IO, "OpenCC cannot open '%s': %s (install libopencc-dev)",
                        p->opencc_config ? p->opencc_config : "t2s.json", opencc_error());
    paths files = {0};
    for (int32_t i = 0; i < p->n_in_dirs && st == KW_OK; i++)
        st = list_json(p->in_dirs[i], 0, &files);
    if (st == KW_OK && files.n == 0)
        st = kw_error(KW_ERR_INVALID_ARG, "data prepare: no .json file under '%s'%s", p->in_dirs[0],
                      p->n_in_dirs > 1 ? " or the other input directories" : "");
    if (st == KW_OK) qsort(files.a, (size_t)files.n, sizeof(*files.a), cmp_str);
    kw_data_prepare_stats stats = {0};
    mh_uf groups = {0};
    if (st == KW_OK) st = read_all(&s, &files);
    if (st == KW_OK) {
        qsort(s.docs, (size_t)s.n_docs, sizeof(*s.docs), cmp_doc_priority);
        st = mh_uf_init(&groups, s.n_docs);
    }
    if (st == KW_OK) st = exact_dups(&s, &groups);
    if (st == KW_OK) st = near_dups(&s, &groups);
    if (st == KW_OK) st = covered_dups(&s, &groups);
    if (st == KW_OK) {
        if (p->progress) p->progress(p->user, "dedup", 2, 2);
        split(&s, &groups);
        st = write_outputs(&s, &stats);
    }
    for (int i = 0; i < data_source_count() && st == KW_OK; i++) {
        prep_source_stats *ss = &s.rep.src[i];
        stats.n_files += ss->n_files;
        stats.n_records += ss->n_records;
        stats.n_exact_dups += ss->by_reason[DR_EXACT_DUP];
        stats.n_near_dups += ss->by_reason[DR_NEAR_DUP];
        stats.n_covered += ss->by_reason[DR_COVERED];
        for (int r = DR_EMPTY; r < DR_EXACT_DUP; r++)
            stats.n_rejected += ss->by_reason[r];
    }
    stats.seconds = now_s() - t0;
    s.rep.seconds = stats.seconds;
    if (st == KW_OK) st = write_report(&s, &stats);
    if (st == KW_OK && stats_out) *stats_out = stats;
    mh_uf_free(&groups);
    for (int64_t i = 0; i < s.n_docs; i++)
        doc_free(&s.docs[i]);
    free(s.docs);
    for (int64_t i = 0; i < files.n; i++)
        free(files.a[i]);
    free(files.a);
    for (int r = 0; r < DR_COUNT; r++)
        for (int k = 0; k < s.rep.n_ex[r]; k++)
            prep_example_free(&s.rep.ex[r][k]);
    for (int k = 0; k < s.rep.n_notes_ex; k++)
        prep_example_free(&s.rep.notes_ex[k]);
    for (int b = 0; b < PREP_N_BINS; b++)
        for (int k = 0; k < 2; k++) {
            prep_example_free(&s.rep.near_ex[b][k]);
            prep_example_free(&s.rep.cov_ex[b][k]);
        }
    data_clean_free(&s.clean);
    dbuf_free(&s.tmp);
    dbuf_free(&s.couplets);
    opencc_close(s.cc);
    return st;
}
