/* sft_data.c - `kaiwu data sft`: chat conversations for supervised fine-tuning, built from the poem
 * metadata that `kaiwu data prepare` wrote (poems.jsonl), and the held-out evaluation set.
 *
 * Every training poem (prose sources and poems longer than max_chars left out) gets per_poem
 * requests of different kinds chosen by a seeded generator among those that fit it (a titled shi
 * also always gets its form request, on top; a 五言绝句 three times), each in one
 * of several phrasings a user would type; the answer is the poem, one couplet or source line per
 * line. Author questions are asked only when the answer is unique in the training split (the title,
 * or the first clause, belongs to one training poem), and never for 佚名. The evaluation set is
 * the 五言绝句 and 七言绝句 of the validation split whose titles no training poem has (generic
 * titles such as 无题 and 句 excluded), one request per title, in the exact words of the SFT form
 * request.
 *
 * Relies on jansson (reading poems.jsonl), data.h (buffers, hashing), kw_poem_form's names.
 * Must not: use a validation poem in SFT.jsonl, or depend on anything but its input and the seed.
 */
#include "train/data.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

kw_data_sft_params kw_data_sft_default_params(void) {
    kw_data_sft_params p = {0};
    p.per_poem = 1;
    p.max_chars = 160;
    return p;
}

enum { K_TITLE, K_FORM, K_CIPAI, K_THEME, K_FIRST, K_AUTHOR, K_COUNT };

typedef struct poem {
    char *title, *author, *dynasty, *form, *source, *body; /* owned */
    char *first;                                           /* the first clause (owned) */
    char *first_line; /* the first line when short (a couplet), else the first clause (owned) */
    bool val;
    int32_t n_chars; /* Han characters and punctuation of the body */
} poem;

typedef struct sft {
    const kw_data_sft_params *p;
    poem *a;
    int64_t n, cap;
    /* title -> how many training poems carry it, first clause -> likewise */
    uint64_t *tkeys, *fkeys;
    int32_t *tcount, *fcount;
    uint64_t mask;
    uint64_t rng;
} sft;

static uint64_t next_rand(uint64_t *s) {
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint32_t pick(sft *s, uint32_t n) { return (uint32_t)(next_rand(&s->rng) % n); }

/* ---------------------------------------------------------------- reading */

static char *dup_field(json_t *o, const char *key) {
    json_t *v = json_object_get(o, key);
    return kw_strdup(json_is_string(v) ? json_string_value(v) : "");
}

/* The first clause of a body: up to the first ，。！？；. */
static char *first_clause(const char *body) {
    static const char *const marks[] = {"，", "。", "！", "？", "；", "\n"};
    size_t n = strlen(body);
    for (int i = 0; i < 6; i++) {
        const char *m = strstr(body, marks[i]);
        if (m && (size_t)(m - body) < n) n = (size_t)(m - body);
    }
    return kw_strndup(body, n);
}

/* The first line of a body if it has at most 16 characters (a 五言 or 七言 couplet), else its
 * first clause. */
static char *first_line(const char *body) {
    const char *nl = strchr(body, '\n');
    size_t n = nl ? (size_t)(nl - body) : strlen(body), chars = 0;
    for (size_t i = 0; i < n; i++)
        chars += ((uint8_t)body[i] & 0xC0) != 0x80;
    return chars <= 16 ? kw_strndup(body, n) : first_clause(body);
}

static kw_status parse_line(sft *s, const char *line, size_t len, int64_t lineno) {
    json_error_t err;
    json_t *o = json_loadb(line, len, 0, &err);
    if (!o || !json_is_object(o)) {
        json_decref(o);
        return kw_error(KW_ERR_FORMAT, "poems.jsonl line %lld: %s", (long long)lineno,
                        o ? "not an object" : err.text);
    }
    json_t *lines = json_object_get(o, "lines");
    json_t *split = json_object_get(o, "split");
    if (!json_is_array(lines) || !json_is_string(split)) {
        json_decref(o);
        return kw_error(KW_ERR_FORMAT, "poems.jsonl line %lld: no \"lines\" list or \"split\"",
                        (long long)lineno);
    }
    dbuf body = {0};
    kw_status st = dbuf_puts(&body, "");
    int32_t chars = 0;
    for (size_t i = 0; i < json_array_size(lines) && st == KW_OK; i++) {
        const char *l = json_string_value(json_array_get(lines, i));
        if (!l) continue;
        if (body.n) st = dbuf_putc(&body, '\n');
        if (st == KW_OK) st = dbuf_puts(&body, l);
        for (const char *c = l; *c; c++)
            chars += ((uint8_t)*c & 0xC0) != 0x80;
    }
    if (st == KW_OK && s->n == s->cap) {
        int64_t cap = s->cap ? s->cap * 2 : 4096;
        poem *a = realloc(s->a, (size_t)cap * sizeof(*a));
        if (!a)
            st = kw_error(KW_ERR_NOMEM, "out of memory for %lld poems", (long long)cap);
        else {
            s->a = a;
            s->cap = cap;
        }
    }
    if (st == KW_OK) {
        poem *q = &s->a[s->n++];
        *q = (poem){dup_field(o, "title"),
                    dup_field(o, "author"),
                    dup_field(o, "dynasty"),
                    dup_field(o, "form"),
                    dup_field(o, "source"),
                    body.p,
                    first_clause(body.p),
                    first_line(body.p),
                    strcmp(json_string_value(split), "val") == 0,
                    chars};
        body.p = NULL;
        if (!q->title || !q->author || !q->dynasty || !q->form || !q->source || !q->first ||
            !q->first_line)
            st = KW_ERR_NOMEM;
    }
    dbuf_free(&body);
    json_decref(o);
    return st;
}

static kw_status read_poems(sft *s) {
    dbuf path = {0};
    kw_status st = dbuf_printf(&path, "%s/poems.jsonl", s->p->in_dir);
    kw_mapped_file f = {0};
    if (st == KW_OK) st = kw_file_map(path.p, &f);
    dbuf_free(&path);
    if (st != KW_OK) return st;
    const char *t = (const char *)f.data;
    int64_t lineno = 0;
    for (size_t i = 0; i < f.size && st == KW_OK;) {
        size_t e = i;
        while (e < f.size && t[e] != '\n')
            e++;
        lineno++;
        if (e > i) st = parse_line(s, t + i, e - i, lineno);
        i = e + 1;
    }
    kw_file_unmap(&f);
    return st;
}

/* ---------------------------------------------------------------- counts */

static kw_status counts_init(sft *s) {
    uint64_t size = 1024;
    while (size < (uint64_t)s->n * 4) /* titles and lookups of validation titles fit twice */
        size <<= 1;
    s->mask = size - 1;
    s->tkeys = kw_calloc(size, sizeof(uint64_t), "title counts");
    s->fkeys = kw_calloc(size, sizeof(uint64_t), "line counts");
    s->tcount = kw_calloc(size, sizeof(int32_t), "title counts");
    s->fcount = kw_calloc(size, sizeof(int32_t), "line counts");
    return s->tkeys && s->fkeys && s->tcount && s->fcount ? KW_OK : KW_ERR_NOMEM;
}

/* The count slot of a string (64-bit hash keys: a collision merely withholds a question). */
static int32_t *slot(uint64_t *keys, int32_t *counts, uint64_t mask, const char *str) {
    uint64_t h = data_hash64(str, strlen(str), 7) | 1;
    uint64_t i = h & mask;
    while (keys[i] && keys[i] != h)
        i = (i + 1) & mask;
    keys[i] = h;
    return &counts[i];
}

/* The count of a string, without adding it. */
static int32_t count_of(const uint64_t *keys, const int32_t *counts, uint64_t mask,
                        const char *str) {
    uint64_t h = data_hash64(str, strlen(str), 7) | 1;
    for (uint64_t i = h & mask; keys[i]; i = (i + 1) & mask)
        if (keys[i] == h) return counts[i];
    return 0;
}

static int32_t title_count(sft *s, const char *t) {
    return count_of(s->tkeys, s->tcount, s->mask, t);
}
static int32_t first_count(sft *s, const char *f) {
    return count_of(s->fkeys, s->fcount, s->mask, f);
}

static bool generic_title(const char *t) {
    static const char *const g[] = {"无题", "句", "失题", "缺题", "佚句", "残句", "其一", "又"};
    for (size_t i = 0; i < sizeof(g) / sizeof(g[0]); i++)
        if (strcmp(t, g[i]) == 0 || strncmp(t, "句 ", strlen("句 ")) == 0) return true;
    return t[0] == 0;
}

static bool prose_source(const char *src) {
    return strcmp(src, "论语") == 0 || strcmp(src, "四书五经") == 0 || strcmp(src, "幽梦影") == 0 ||
           strcmp(src, "蒙学") == 0;
}

static bool shi_form(const char *f) {
    return strcmp(f, "五言绝句") == 0 || strcmp(f, "七言绝句") == 0 || strcmp(f, "五言律诗") == 0 ||
           strcmp(f, "七言律诗") == 0;
}

/* ---------------------------------------------------------------- requests */

static const char *theme_of(const char *title) {
    static const char *const kw[][2] = {
        {"怀古", "怀古"}, {"思乡", "思乡"}, {"塞", "边塞"}, {"送", "送别"}, {"别", "离别"},
        {"春", "春天"},   {"夏", "夏日"},   {"秋", "秋天"}, {"冬", "冬天"}, {"梅", "梅花"},
        {"菊", "菊花"},   {"荷", "荷花"},   {"柳", "杨柳"}, {"竹", "竹"},   {"松", "松树"},
        {"雪", "雪"},     {"雨", "雨"},     {"月", "月亮"}, {"风", "风"},   {"花", "花"},
        {"江", "江景"},   {"湖", "湖"},     {"山", "山"},   {"酒", "饮酒"}, {"茶", "茶"},
        {"雁", "大雁"},   {"蝉", "蝉"},     {"鹤", "鹤"},   {"夜", "夜晚"},
    };
    for (size_t i = 0; i < sizeof(kw) / sizeof(kw[0]); i++)
        if (strstr(title, kw[i][0])) return kw[i][1];
    return NULL;
}

static const char *era(const char *dynasty, char *buf, size_t cap) {
    if (!dynasty[0]) return NULL;
    if (strcmp(dynasty, "五代") == 0 || strcmp(dynasty, "先秦") == 0) return dynasty;
    snprintf(buf, cap, "%s代", dynasty);
    return buf;
}

static bool is_ci(const poem *q) { return !shi_form(q->form) && strcmp(q->form, "other") != 0; }

/* The kinds of request that fit poem q. */
static int kinds_for(sft *s, const poem *q, int *out) {
    int n = 0;
    bool ci = is_ci(q);
    if (!generic_title(q->title) && !ci) out[n++] = K_TITLE;
    if (!generic_title(q->title) && shi_form(q->form)) out[n++] = K_FORM;
    if (ci) out[n++] = K_CIPAI;
    if (!ci && theme_of(q->title)) out[n++] = K_THEME;
    if (strlen(q->first) >= 6 && strchr(q->body, '\n')) out[n++] = K_FIRST;
    bool named = q->author[0] && strcmp(q->author, "佚名") != 0 && strcmp(q->author, "无名氏") != 0;
    char buf[32];
    if (named && era(q->dynasty, buf, sizeof buf) &&
        ((!generic_title(q->title) && title_count(s, q->title) == 1) ||
         (strlen(q->first) >= 12 && first_count(s, q->first) == 1)))
        out[n++] = K_AUTHOR;
    return n;
}

/* The subtitle of a ci ("念奴娇·赤壁怀古" -> "赤壁怀古"), or NULL. */
static const char *ci_subtitle(const poem *q) {
    const char *dot = strstr(q->title, "·");
    return dot && dot[2] ? dot + 2 : NULL;
}

static kw_status request(sft *s, const poem *q, int kind, dbuf *user, dbuf *answer) {
    user->n = answer->n = 0;
    kw_status st = dbuf_puts(answer, q->body);
    char buf[32];
    const char *t = q->title, *f = q->form;
    switch (kind) {
    case K_TITLE: {
        static const char *const ph[] = {"写一首诗，题为《%s》", "以《%s》为题写一首诗。",
                                         "请写一首题为《%s》的诗。", "帮我写首诗，题目是《%s》"};
        return dbuf_printf(user, ph[pick(s, 4)], t);
    }
    case K_FORM:
        switch (pick(s, 4)) {
        case 0: return dbuf_printf(user, "写一首%s，题为《%s》", f, t); /* the evaluation's words */
        case 1: return dbuf_printf(user, "以《%s》为题，作一首%s。", t, f);
        case 2: return dbuf_printf(user, "请按%s的格式写一首诗，题目是《%s》。", f, t);
        default: return dbuf_printf(user, "来一首%s吧，题目叫《%s》", f, t);
        }
    case K_CIPAI: {
        const char *sub = ci_subtitle(q);
        if (sub) return dbuf_printf(user, "以“%s”为题，填一首《%s》。", sub, f);
        static const char *const ph[] = {"填一首《%s》", "以《%s》为词牌写一首词。",
                                         "写一首词，词牌是%s。"};
        return dbuf_printf(user, ph[pick(s, 3)], f);
    }
    case K_THEME: {
        static const char *const ph[] = {"写一首关于%s的诗", "以%s为主题写一首诗。",
                                         "写一首描写%s的古诗。"};
        return dbuf_printf(user, ph[pick(s, 3)], theme_of(t));
    }
    case K_FIRST: {
        static const char *const ph[] = {"以“%s”开头写一首诗。", "续写这首诗：%s",
                                         "接着这一句往下写：%s"};
        return dbuf_printf(user, ph[pick(s, 3)], q->first_line);
    }
    default: { /* K_AUTHOR */
        const char *e = era(q->dynasty, buf, sizeof buf);
        answer->n = 0;
        bool by_title = !generic_title(t) && title_count(s, t) == 1;
        if (by_title &&
            (pick(s, 2) == 0 || strlen(q->first) < 12 || first_count(s, q->first) != 1)) {
            st = dbuf_printf(user, pick(s, 2) ? "《%s》的作者是谁？" : "《%s》是谁写的？", t);
            if (st == KW_OK) st = dbuf_printf(answer, "《%s》的作者是%s的%s。", t, e, q->author);
        } else {
            st = dbuf_printf(user, "“%s”出自哪首诗？", q->first);
            if (st == KW_OK) st = dbuf_printf(answer, "出自%s%s的《%s》。", e, q->author, t);
        }
        return st;
    }
    }
}

static kw_status put_conversation(sft *s, const dbuf *user, const dbuf *answer, dbuf *out) {
    kw_status st = dbuf_puts(out, "{\"messages\": [");
    if (st == KW_OK && s->p->system_prompt) {
        st = dbuf_puts(out, "{\"role\": \"system\", \"content\": ");
        if (st == KW_OK)
            st = dbuf_put_json_str(out, s->p->system_prompt, strlen(s->p->system_prompt));
        if (st == KW_OK) st = dbuf_puts(out, "}, ");
    }
    if (st == KW_OK) st = dbuf_puts(out, "{\"role\": \"user\", \"content\": ");
    if (st == KW_OK) st = dbuf_put_json_str(out, user->p, user->n);
    if (st == KW_OK) st = dbuf_puts(out, "}, {\"role\": \"assistant\", \"content\": ");
    if (st == KW_OK) st = dbuf_put_json_str(out, answer->p, answer->n);
    return st == KW_OK ? dbuf_puts(out, "}]}\n") : st;
}

/* ---------------------------------------------------------------- output */

typedef struct convs {
    dbuf text;     /* conversation lines back to back */
    uint64_t *off; /* [n + 1] */
    int64_t n, cap;
} convs;

static kw_status convs_end(convs *c) {
    if (c->n + 1 >= c->cap) {
        int64_t cap = c->cap ? c->cap * 2 : 4096;
        uint64_t *off = realloc(c->off, (size_t)cap * sizeof(*off));
        if (!off)
            return kw_error(KW_ERR_NOMEM, "out of memory for %lld conversations", (long long)cap);
        c->off = off;
        c->cap = cap;
    }
    if (c->n == 0) c->off[0] = 0;
    c->off[++c->n] = c->text.n;
    return KW_OK;
}

static kw_status build(sft *s, convs *c, kw_data_sft_stats *stats) {
    dbuf user = {0}, answer = {0};
    kw_status st = KW_OK;
    int per = s->p->per_poem < 1 ? 1 : s->p->per_poem;
    for (int64_t i = 0; i < s->n && st == KW_OK; i++) {
        const poem *q = &s->a[i];
        if (q->val || prose_source(q->source) || q->n_chars > s->p->max_chars) continue;
        int kinds[K_COUNT];
        int n = kinds_for(s, q, kinds);
        if (n == 0) continue;
        stats->n_train_used++;
        /* A shi with a title always gets its form request (五言绝句, 七言律诗 ...), besides the
         * per_poem others: it is the request the model card promises and the evaluation asks,
         * and drawn at random among five kinds it was too rare for the model to learn the form
         * words (make model-check: 51.8 % of replies in shape, 五言绝句 3 %). The 五言绝句, the
         * rarest form of the Tang/Song shi (7 % of the form requests) and the one the model
         * still confused with 七言 and 律诗 (85 % in shape against 98.9 % for 七言绝句), is asked
         * three times, in phrasings drawn anew. */
        for (int k = 0; k < n && st == KW_OK; k++) {
            if (kinds[k] != K_FORM) continue;
            kinds[k] = kinds[--n];
            int times = strcmp(q->form, "五言绝句") == 0 ? 3 : 1;
            for (int r = 0; r < times && st == KW_OK; r++) {
                st = request(s, q, K_FORM, &user, &answer);
                if (st == KW_OK) st = put_conversation(s, &user, &answer, &c->text);
                if (st == KW_OK) st = convs_end(c);
                stats->by_kind[K_FORM]++;
            }
            break;
        }
        for (int k = 0; k < per && k < n && st == KW_OK; k++) {
            int j = k + (int)pick(s, (uint32_t)(n - k)); /* kinds without repeats */
            int kind = kinds[j];
            kinds[j] = kinds[k];
            kinds[k] = kind;
            st = request(s, q, kind, &user, &answer);
            if (st == KW_OK) st = put_conversation(s, &user, &answer, &c->text);
            if (st == KW_OK) st = convs_end(c);
            stats->by_kind[kind]++;
        }
    }
    dbuf_free(&user);
    dbuf_free(&answer);
    return st;
}

static kw_status write_shuffled(sft *s, convs *c, kw_data_sft_stats *stats) {
    int64_t *order = kw_malloc((size_t)(c->n + 1) * sizeof(*order), "conversation order");
    if (!order) return KW_ERR_NOMEM;
    for (int64_t i = 0; i < c->n; i++)
        order[i] = i;
    for (int64_t i = c->n - 1; i > 0; i--) {
        int64_t j = (int64_t)(next_rand(&s->rng) % (uint64_t)(i + 1));
        int64_t t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    int64_t n = c->n;
    if (s->p->max_conversations > 0 && n > s->p->max_conversations) n = s->p->max_conversations;
    dbuf out = {0};
    kw_status st = dbuf_puts(&out, "");
    for (int64_t i = 0; i < n && st == KW_OK; i++)
        st = dbuf_put(&out, c->text.p + c->off[order[i]], c->off[order[i] + 1] - c->off[order[i]]);
    if (st == KW_OK) st = data_write_file(s->p->out_path, &out);
    stats->n_conversations = n;
    dbuf_free(&out);
    free(order);
    return st;
}

static kw_status write_eval(sft *s, kw_data_sft_stats *stats) {
    dbuf out = {0}, user = {0};
    kw_status st = dbuf_puts(&out, "");
    uint64_t *seen = kw_calloc(s->mask + 1, sizeof(*seen), "evaluation titles");
    int32_t *seen_n = kw_calloc(s->mask + 1, sizeof(*seen_n), "evaluation titles");
    if (!seen || !seen_n) st = KW_ERR_NOMEM;
    for (int64_t i = 0; i < s->n && st == KW_OK; i++) {
        const poem *q = &s->a[i];
        bool five = strcmp(q->form, "五言绝句") == 0, seven = strcmp(q->form, "七言绝句") == 0;
        if (!q->val || !(five || seven) || generic_title(q->title) || strlen(q->title) > 36)
            continue;
        if (title_count(s, q->title) > 0) continue; /* the title is in the training split */
        int32_t *once = slot(seen, seen_n, s->mask, q->title);
        if ((*once)++ > 0) continue;
        user.n = 0;
        st = dbuf_printf(&user, "写一首%s，题为《%s》", q->form, q->title);
        if (st == KW_OK) st = dbuf_puts(&out, "{\"title\": ");
        if (st == KW_OK) st = dbuf_put_json_str(&out, q->title, strlen(q->title));
        if (st == KW_OK) st = dbuf_printf(&out, ", \"form\": \"%s\", \"messages\": [", q->form);
        if (st == KW_OK && s->p->system_prompt) {
            st = dbuf_puts(&out, "{\"role\": \"system\", \"content\": ");
            if (st == KW_OK)
                st = dbuf_put_json_str(&out, s->p->system_prompt, strlen(s->p->system_prompt));
            if (st == KW_OK) st = dbuf_puts(&out, "}, ");
        }
        if (st == KW_OK) st = dbuf_puts(&out, "{\"role\": \"user\", \"content\": ");
        if (st == KW_OK) st = dbuf_put_json_str(&out, user.p, user.n);
        if (st == KW_OK) st = dbuf_puts(&out, "}]}\n");
        *(five ? &stats->n_eval_5 : &stats->n_eval_7) += 1;
    }
    if (st == KW_OK) st = data_write_file(s->p->eval_path, &out);
    free(seen);
    free(seen_n);
    dbuf_free(&out);
    dbuf_free(&user);
    return st;
}

kw_status kw_data_sft(const kw_data_sft_params *p, kw_data_sft_stats *stats_out) {
    if (!p || !p->in_dir || !p->out_path)
        return kw_error(KW_ERR_INVALID_ARG, "data sft: no input directory or no output path");
    dbuf in = {0};
    kw_status st = dbuf_printf(&in, "%s/poems.jsonl", p->in_dir);
    bool same = st == KW_OK && (data_same_file(in.p, p->out_path) ||
                                (p->eval_path && data_same_file(in.p, p->eval_path)));
    dbuf_free(&in);
    if (st != KW_OK) return st;
    if (same)
        return kw_error(KW_ERR_INVALID_ARG,
                        "data sft: an output names the input %s/poems.jsonl; choose another path",
                        p->in_dir);
    sft s = {0};
    s.p = p;
    s.rng = p->seed ^ 0x6a09e667f3bcc909ull;
    kw_data_sft_stats stats = {0};
    convs c = {0};
    st = read_poems(&s);
    if (st == KW_OK) st = counts_init(&s);
    for (int64_t i = 0; i < s.n && st == KW_OK; i++) {
        if (s.a[i].val) continue;
        (*slot(s.tkeys, s.tcount, s.mask, s.a[i].title))++;
        (*slot(s.fkeys, s.fcount, s.mask, s.a[i].first))++;
    }
    stats.n_poems = s.n;
    if (st == KW_OK) st = build(&s, &c, &stats);
    if (st == KW_OK) st = write_shuffled(&s, &c, &stats);
    if (st == KW_OK && p->eval_path) st = write_eval(&s, &stats);
    if (st == KW_OK && stats_out) *stats_out = stats;
    for (int64_t i = 0; i < s.n; i++) {
        poem *q = &s.a[i];
        free(q->title);
        free(q->author);
        free(q->dynasty);
        free(q->form);
        free(q->source);
        free(q->body);
        free(q->first);
        free(q->first_line);
    }
    free(s.a);
    free(s.tkeys);
    free(s.fkeys);
    free(s.tcount);
    free(s.fcount);
    dbuf_free(&c.text);
    free(c.off);
    return st;
}
