/* data_json.c - the corpus files of chinese-poetry@2.0.1 and the walker that turns one of them
 * into raw records.
 *
 * The package stores each collection in its own JSON shape (see docs/training-data.md):
 *
 *   quantangshi/poet.tang.N.json   [{author, paragraphs[], title, id}]         全唐诗
 *   quantangshi/poet.song.N.json   same                                        全宋诗
 *   songci/ci.song.N.json          [{author, paragraphs[], rhythmic}]          宋词
 *   shijing/shijing.json           [{title, chapter, section, content[]}]      诗经
 *   lunyu/lunyu.json               [{chapter, paragraphs[]}]                   论语
 *   mengxue/NAME.json              {title, author, paragraphs[] | content[{chapter, ...}]}
 *   youmengying/youmengying.json   [{content: "...", comment[]}]               幽梦影
 *   nalanxingde/NAME.json           [{title, para[], author}]                   纳兰性德
 *   strains, rank                  tonal patterns and search counts: metadata, no text
 *
 * so the walker is generic: any object holding a list of strings under "paragraphs", "para" or
 * "content" (or a "content" string) is a record; any other array or object is walked into. A
 * record's title is its "title"; else its "chapter" (prefixed with the enclosing book's title,
 * "弟子规·总叙", unless the record has an author of its own, as the poems of 千家诗 do); else its
 * "rhythmic" (the cipai of an untitled ci); else the book. Its author is its own "author" or the
 * nearest enclosing one. Notes, comments, prologues, biographies and tags are not text to learn.
 *
 * Relies on jansson (which checks the UTF-8 of every string). Must not: recurse deeper than
 * MAX_DEPTH, or keep any pointer into the JSON after the callback returns.
 */
#include "train/data.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- sources */

/* Order matters twice: the first matching fragment wins, and when two sources hold the same poem
 * the earlier source's copy is kept (the complete collections before the anthologies drawn from
 * them, the second edition of 全唐诗 last). */
static const data_source k_sources[] = {
    {"/quantangshi/error/", "全唐诗勘误", "error", "", NULL, false, false, true,
     "copies of poems in poet.*.json that the package flagged (e.g. 豆腐块 □); not read"},
    {"/quantangshi/poet.tang.", "全唐诗", "tang", "唐", NULL, false, false, false, NULL},
    {"/quantangshi/poet.song.", "全宋诗", "song", "宋", NULL, false, false, false, NULL},
    {"/songci/ci.song.", "宋词", "ci", "宋", NULL, true, false, false, NULL},
    {"/shijing/", "诗经", "shijing", "先秦", NULL, false, true, false, NULL},
    {"/chuci/", "楚辞", "chuci", "先秦", NULL, false, true, false, NULL},
    {"/lunyu/", "论语", "lunyu", "先秦", "论语", false, true, false, NULL},
    {"/sishuwujing/mengzi", "四书五经", "sishu", "先秦", "孟子", false, false, false, NULL},
    {"/sishuwujing/", "四书五经", "sishu", "先秦", NULL, false, false, false, NULL},
    {"/yuanqu/", "元曲", "yuanqu", "元", NULL, false, true, false, NULL},
    {"/wudaishici/huajianji/", "花间集", "huajian", "五代", NULL, true, false, false, NULL},
    {"/wudaishici/nantang/", "南唐二主词", "nantang", "五代", NULL, true, false, false, NULL},
    {"/caocaoshiji/", "曹操诗集", "caocao", "汉", NULL, false, true, false, NULL},
    {"/nalanxingde/", "纳兰性德诗集", "nalan", "清", NULL, false, true, false, NULL},
    {"/youmengying/", "幽梦影", "youmeng", "清", "幽梦影", false, true, false, NULL},
    {"/mengxue/", "蒙学", "mengxue", "", NULL, false, false, false, NULL},
    {"/quantangshi/唐诗三百首", "唐诗三百首", "tang300", "唐", NULL, false, true, false, NULL},
    {"/quantangshi/唐诗补录", "唐诗补录", "tangbu", "唐", NULL, false, true, false, NULL},
    {"/songci/宋词三百首", "宋词三百首", "ci300", "宋", NULL, true, true, false, NULL},
    {"/shuimotangshi/", "水墨唐诗", "shuimo", "唐", NULL, false, true, false, NULL},
    {"/yudingquantangshi/", "御定全唐诗", "yuding", "唐", NULL, false, false, false, NULL},
    {"/strains/", "平仄", "strains", "", NULL, false, false, true,
     "tonal patterns (平仄) of the 全唐诗/全宋诗 poems by id: metadata, not text"},
    {"/rank/", "热度", "rank", "", NULL, false, false, true,
     "search-engine hit counts per poem: metadata, not text"},
    {"", "其他", "other", "", NULL, false, false, false, NULL},
};

int data_source_count(void) { return (int)(sizeof(k_sources) / sizeof(k_sources[0])); }

const data_source *data_source_at(int i) {
    return i >= 0 && i < data_source_count() ? &k_sources[i] : NULL;
}

int data_source_for_path(const char *path) {
    int n = data_source_count();
    for (int i = 0; i < n - 1; i++)
        if (strstr(path, k_sources[i].match)) return i;
    return n - 1;
}

/* ---------------------------------------------------------------- walker */

#define MAX_DEPTH 32
#define MAX_LINES 100000

typedef struct walk {
    data_raw_fn fn;
    void *user;
    int64_t n_records;
    const char *book_hint;
    dbuf title;
    const char **lines;
    int32_t lines_cap;
} walk;

static const char *str_field(json_t *o, const char *key) {
    json_t *v = json_object_get(o, key);
    const char *s = json_is_string(v) ? json_string_value(v) : NULL;
    return s && s[0] ? s : NULL;
}

/* The record's body: a non-empty list whose items are all strings, or a "content" string. */
static json_t *body_of(json_t *o) {
    static const char *const keys[] = {"paragraphs", "para", "content"};
    for (int k = 0; k < 3; k++) {
        json_t *v = json_object_get(o, keys[k]);
        if (json_is_string(v) && k == 2) return v;
        if (!json_is_array(v) || json_array_size(v) == 0) continue;
        bool all = true;
        for (size_t i = 0; i < json_array_size(v) && all; i++)
            all = json_is_string(json_array_get(v, i));
        if (all) return v;
    }
    return NULL;
}

static kw_status compose_title(walk *w, json_t *o, const char *book) {
    const char *t = str_field(o, "title"), *ch = str_field(o, "chapter");
    const char *rh = str_field(o, "rhythmic"), *au = str_field(o, "author");
    w->title.n = 0;
    kw_status st = dbuf_puts(&w->title, "");
    if (t) return dbuf_puts(&w->title, t);
    if (ch) {
        if (book && !au && strcmp(book, ch) != 0) {
            st = dbuf_puts(&w->title, book);
            if (st == KW_OK) st = dbuf_puts(&w->title, "·");
        }
        return st == KW_OK ? dbuf_puts(&w->title, ch) : st;
    }
    if (rh) return dbuf_puts(&w->title, rh);
    if (book) return dbuf_puts(&w->title, book);
    return st;
}

static kw_status emit(walk *w, json_t *o, json_t *body, const char *book, const char *author) {
    size_t n = json_is_string(body) ? 1 : json_array_size(body);
    if (n > MAX_LINES)
        return kw_error(KW_ERR_FORMAT, "a record has %zu lines (more than %d)", n, MAX_LINES);
    if ((int32_t)n > w->lines_cap) {
        const char **l = realloc(w->lines, n * sizeof(*l));
        if (!l) return kw_error(KW_ERR_NOMEM, "out of memory for %zu lines", n);
        w->lines = l;
        w->lines_cap = (int32_t)n;
    }
    for (size_t i = 0; i < n; i++)
        w->lines[i] = json_string_value(json_is_string(body) ? body : json_array_get(body, i));
    kw_status st = compose_title(w, o, book);
    if (st != KW_OK) return st;
    const char *au = str_field(o, "author"), *rh = str_field(o, "rhythmic");
    data_raw r = {w->title.p,   au ? au : (author ? author : ""),
                  rh ? rh : "", w->lines,
                  (int32_t)n,   (int32_t)w->n_records};
    w->n_records++;
    return w->fn(w->user, &r);
}

static kw_status walk_value(walk *w, json_t *v, const char *book, const char *author, int depth) {
    if (depth > MAX_DEPTH)
        return kw_error(KW_ERR_FORMAT, "JSON nested deeper than %d levels", MAX_DEPTH);
    kw_status st = KW_OK;
    if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v) && st == KW_OK; i++)
            st = walk_value(w, json_array_get(v, i), book, author, depth + 1);
        return st;
    }
    if (!json_is_object(v)) return KW_OK;
    json_t *body = body_of(v);
    if (body) return emit(w, v, body, book, author);
    /* a container: the outermost title is the book; the nearest author is inherited */
    const char *t = str_field(v, "title"), *au = str_field(v, "author");
    const char *inner_book = book ? book : t;
    const char *inner_author = au ? au : author;
    const char *key;
    json_t *child;
    json_object_foreach(v, key, child) {
        if (st != KW_OK) break;
        if (json_is_array(child) || json_is_object(child))
            st = walk_value(w, child, inner_book, inner_author, depth + 1);
    }
    return st;
}

kw_status data_json_records(const char *json, size_t len, const char *name, const char *book_hint,
                            data_raw_fn fn, void *user, int64_t *n_records) {
    json_error_t err;
    /* JSON_REJECT_DUPLICATES off: the corpus has none, and a duplicate key is harmless here */
    json_t *root = json_loadb(json, len, 0, &err);
    if (!root)
        return kw_error(KW_ERR_FORMAT, "%s: JSON error at line %d, column %d: %s", name, err.line,
                        err.column, err.text);
    walk w = {fn, user, 0, book_hint, {0}, NULL, 0};
    kw_status st = walk_value(&w, root, book_hint, NULL, 0);
    if (st != KW_OK && st != KW_ERR_NOMEM) kw_error_wrap(st, "%s", name);
    if (n_records) *n_records = w.n_records;
    dbuf_free(&w.title);
    free(w.lines);
    json_decref(root);
    return st;
}
