/* test_data.c - the training-data side: cleaning rules of one record, poem forms, MinHash, the
 * corpus JSON walker, `kaiwu data prepare` on the committed fixture (tests/data/poetry: t2s,
 * dedup including a near duplicate and a covered edition entry, split invariants, determinism)
 * and `kaiwu data sft` on its output (no validation poem leaks, the evaluation set's titles).
 */
#include "test.h"
#include "train/data.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---------------------------------------------------------------- cleaning */

static data_reason clean1(const char *title, const char *author, const char *const *lines, int n,
                          data_clean *c) {
    data_raw r = {title, author, "", lines, n, 0};
    kw_status st;
    data_reason why = data_clean_record(&r, c, &st);
    CHECK(st == KW_OK, "cleaning '%s' ran (status %d)", title, st);
    return why;
}

static void test_clean_removes_notes_and_markup(void) {
    data_clean c = {0};
    const char *a[] = {"遠去更宜長（辛本作「良」）。", "淚沾[襟]，(明明 一作：佼佼)歸來。"};
    CHECK(clean1("題", "", a, 2, &c) == DR_KEPT, "a poem with notes is kept");
    CHECK(strcmp(c.body.p, "遠去更宜長。\n淚沾襟，歸來。") == 0,
          "notes go, supplied characters stay: got '%s'", c.body.p);
    CHECK(c.n_notes == 2, "two notes counted (got %d)", c.n_notes);
    const char *b[] = {"從軍渡蓬海，萬里正蒼蒼。", "（據《翰林學士集》校改。", "）。"};
    CHECK(clean1("題", "", b, 3, &c) == DR_KEPT &&
              strcmp(c.body.p, "從軍渡蓬海，萬里正蒼蒼。") == 0,
          "a note over two lines goes with its lines: got '%s'", c.body.p);
    const char *d[] = {"春眠不覺曉,處處聞啼鳥.", "秦邸獄成杯酒裏。", "《癸辛雜識》續集卷上ff。"};
    CHECK(clean1("題", "", d, 3, &c) == DR_KEPT &&
              strcmp(c.body.p, "春眠不覺曉，處處聞啼鳥。\n秦邸獄成杯酒裏。") == 0,
          "ASCII punctuation becomes Chinese, the citation line goes: got '%s'", c.body.p);
    const char *e[] = {"\xEF\xA4\x80\xE2\x80\x8B秋， 莫回首"}; /* U+F900, a zero-width space */
    CHECK(clean1("題", "", e, 1, &c) == DR_KEPT && strcmp(c.body.p, "豈秋，莫回首") == 0,
          "NFC maps U+F900 to U+8C48, format characters and spaces by punctuation go: '%s'",
          c.body.p);
    CHECK(clean1("帝京篇（二首） 一", "（唐）孟浩然", e, 1, &c) == DR_KEPT &&
              strcmp(c.title.p, "帝京篇 一") == 0 && strcmp(c.author.p, "孟浩然") == 0,
          "title and author lose their notes: '%s' / '%s'", c.title.p, c.author.p);
    CHECK(clean1("題", "先秦：左丘明 ", e, 1, &c) == DR_KEPT && strcmp(c.author.p, "左丘明") == 0,
          "an author loses the dynasty prefix: '%s'", c.author.p);
    const char *q[] = {"猛见他可憎模样，--小生那里得病来--早医可九分不快。"};
    CHECK(clean1("诈妮子调风月・仙吕/点绛唇", "关汉卿", q, 1, &c) == DR_KEPT &&
              strcmp(c.title.p, "诈妮子调风月·仙吕·点绛唇") == 0 &&
              strcmp(c.body.p, "猛见他可憎模样，——小生那里得病来——早医可九分不快。") == 0,
          "元曲: '/' in a title and '--' in a body are kept as · and ——: '%s' / '%s'", c.title.p,
          c.body.p);
    data_clean_free(&c);
}

static void test_clean_rejects_unreadable_text(void) {
    data_clean c = {0};
    struct {
        const char *line;
        data_reason why;
        uint32_t cp;
    } cases[] = {
        {"綬吐芽猶嫩，冰□已鏤津。", DR_MISSING_CHAR, 0x25A1},
        {"此流又高懸，{汸番}在長空。", DR_GLYPH, '{'},
        {"涉歷崎⿱山虛我熟諳。", DR_GLYPH, 0x2FF1},
        {"聚書雲霮zw，洗硯山晴鮮。", DR_LATIN, 'z'},
        {"是與不是，好看\xEE\xA1\x81棬。", DR_PRIVATE_USE, 0xE841},
        {"起来瞢\xEF\xBF\xBD。", DR_REPLACEMENT, 0xFFFD},
        {"涼夢幾回繞=孤璵。", DR_UNEXPECTED, '='},
        {"尽把师\xE3\x80\x80归美。", DR_MISSING_CHAR, 0x25A1}, /* ideographic space in a gap */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *l[] = {cases[i].line};
        data_reason why = clean1("題", "", l, 1, &c);
        CHECK(why == cases[i].why && c.bad_cp == cases[i].cp,
              "'%s' is dropped as %s by U+%04X (got %s by U+%04X)", cases[i].line,
              data_reason_name(cases[i].why), cases[i].cp, data_reason_name(why), c.bad_cp);
    }
    const char *ok[] = {"詩題：原無題句：微臣自愧頭如雪。"};
    CHECK(clean1("存目  其一", "", ok, 1, &c) == DR_LOST_TEXT, "a 存目 record is dropped");
    const char *empty[] = {"（見《野客叢書》卷六。", "）。"};
    CHECK(clean1("句", "", empty, 2, &c) == DR_EMPTY, "a record that is all note is empty");
    data_clean_free(&c);
}

/* ---------------------------------------------------------------- forms */

static void test_poem_forms(void) {
    static const struct {
        const char *text, *form;
    } cases[] = {
        {"床前明月光，疑是地上霜。\n举头望明月，低头思故乡。", "五言绝句"},
        {"床前明月光，疑是地上霜。举头望明月，低头思故乡。\n", "五言绝句"},
        {"  黄砂直上白云间，一片孤城万仞山。\n羌笛何须怨杨柳，春风不度玉门关。  ", "七言绝句"},
        {"秦川雄帝宅，函谷壮皇居。\n绮殿千寻起，离宫百雉余。\n连甍遥接汉，飞观迥凌虚。\n"
         "云日隐层阙，风烟出绮疎。",
         "五言律诗"},
        {"床前明月光，疑是地上霜。\n举头望明月，低头思故乡", "other"},     /* no final mark */
        {"床前明月光，疑是地上霜。\n举头望明月，低头思故乡啊。", "other"}, /* 6 characters */
        {"床前明月光，疑是地上霜。\n举头望明月，低头思故乡。\n床前明月光，疑是地上霜。", "other"},
        {"床前明月光。疑是地上霜。\n举头望明月，低头思故乡。", "other"}, /* 。 on an odd clause */
        {"床前明月光，疑是地上霜。\n举头 望明月，低头思故乡。", "other"},
        {"", "other"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *f = kw_poem_form(cases[i].text, strlen(cases[i].text));
        CHECK(strcmp(f, cases[i].form) == 0, "form of '%s' is %s (got %s)", cases[i].text,
              cases[i].form, f);
    }
    CHECK(strcmp(kw_poem_form(NULL, 3), "other") == 0, "NULL text is other");
    dbuf cp = {0};
    kw_status st;
    const char *t = "床前明月光，疑是地上霜。举头望明月，低头思故乡。";
    const char *f = data_shi_form(t, strlen(t), &cp, &st);
    CHECK(f && st == KW_OK &&
              strcmp(cp.p, "床前明月光，疑是地上霜。\n举头望明月，低头思故乡。") == 0,
          "the body is rewritten one couplet per line: '%s'", cp.p ? cp.p : "");
    dbuf_free(&cp);
}

/* ---------------------------------------------------------------- MinHash */

static void test_minhash_finds_the_variant_pair(void) {
    const char *docs[] = {
        "盘根直盈渚，交干横倚天。舒华光四海，卷叶荫三川。",
        "盘根植瀛渚，交干横倚天。舒华光四海，卷叶荫山川。", /* a variant of the first */
        "床前明月光，疑是地上霜。举头望明月，低头思故乡。",
        "白日依山尽，黄河入海流。欲穷千里目，更上一层楼。",
    };
    uint64_t *sh[4];
    int32_t n[4];
    for (int i = 0; i < 4; i++)
        CHECK(mh_shingles(docs[i], strlen(docs[i]), 2, &sh[i], &n[i]) == KW_OK, "shingles %d", i);
    CHECK(n[0] == 19, "20 Han characters make 19 distinct bigrams (got %d)", n[0]);
    CHECK(mh_jaccard(sh[0], n[0], sh[0], n[0]) == 1.0, "a set is identical to itself");
    double j01 = mh_jaccard(sh[0], n[0], sh[1], n[1]), j23 = mh_jaccard(sh[2], n[2], sh[3], n[3]);
    CHECK(j01 > 0.5 && j01 < 0.7, "the variant pair is similar (J %.3f)", j01);
    CHECK(j23 == 0.0, "two unrelated quatrains share no bigram (J %.3f)", j23);
    int64_t *pairs = NULL, n_pairs = 0, capped = 0;
    CHECK(mh_candidates((const uint64_t *const *)sh, n, 4, 40, 3, 3, 500, 0, &pairs, &n_pairs,
                        &capped) == KW_OK,
          "LSH runs");
    bool found = false, wrong = false;
    for (int64_t k = 0; k < n_pairs; k++) {
        found |= pairs[2 * k] == 0 && pairs[2 * k + 1] == 1;
        wrong |= pairs[2 * k] == 2 && pairs[2 * k + 1] == 3;
    }
    CHECK(found && !wrong, "LSH proposes the variant pair and not the unrelated one (%lld pairs)",
          (long long)n_pairs);
    free(pairs);
    for (int i = 0; i < 4; i++)
        free(sh[i]);
}

/* ---------------------------------------------------------------- JSON walker */

typedef struct seen {
    char titles[8][64], authors[8][64];
    int n;
} seen;

static kw_status on_raw(void *user, const data_raw *r) {
    seen *s = user;
    if (s->n < 8) {
        snprintf(s->titles[s->n], 64, "%s", r->title);
        snprintf(s->authors[s->n], 64, "%s", r->author);
    }
    s->n++;
    return KW_OK;
}

static void test_json_walker_shapes(void) {
    const char *j = "{\"title\": \"弟子規\", \"author\": \"李毓秀\", \"content\": ["
                    "{\"chapter\": \"總敘\", \"paragraphs\": [\"弟子規 聖人訓\"]},"
                    "{\"type\": \"五言絕句\", \"content\": [{\"chapter\": \"春眠\", \"author\": "
                    "\"孟浩然\", \"paragraphs\": [\"春眠不覺曉\"]}]}]}";
    seen s = {0};
    int64_t n = 0;
    CHECK(data_json_records(j, strlen(j), "t.json", NULL, on_raw, &s, &n) == KW_OK && n == 2,
          "two records in a nested book (got %lld)", (long long)n);
    CHECK(strcmp(s.titles[0], "弟子規·總敘") == 0 && strcmp(s.authors[0], "李毓秀") == 0,
          "an untitled chapter takes the book's title and author: '%s' '%s'", s.titles[0],
          s.authors[0]);
    CHECK(strcmp(s.titles[1], "春眠") == 0 && strcmp(s.authors[1], "孟浩然") == 0,
          "a chapter with its own author is its own title: '%s' '%s'", s.titles[1], s.authors[1]);
    const char *ci =
        "[{\"author\": \"和岘\", \"paragraphs\": [\"气和玉烛\"], \"rhythmic\": \"导引\"}]";
    memset(&s, 0, sizeof s);
    CHECK(data_json_records(ci, strlen(ci), "ci.json", NULL, on_raw, &s, &n) == KW_OK &&
              strcmp(s.titles[0], "导引") == 0,
          "an untitled ci is titled by its cipai: '%s'", s.titles[0]);
    const char *bad = "[{\"title\": \"x\",\n \"paragraphs\": [\"a\" }]";
    kw_status st = data_json_records(bad, strlen(bad), "bad.json", NULL, on_raw, &s, &n);
    CHECK(st == KW_ERR_FORMAT && strstr(kw_last_error(), "bad.json") &&
              strstr(kw_last_error(), "line 2"),
          "malformed JSON names the file and line: %s", kw_last_error());
    char deep[200];
    memset(deep, '[', 100);
    memset(deep + 100, ']', 100);
    st = data_json_records(deep, sizeof deep, "deep.json", NULL, on_raw, &s, &n);
    CHECK(st == KW_ERR_FORMAT, "JSON nested 100 deep is refused (status %d)", st);
}

/* ---------------------------------------------------------------- prepare on the fixture */

static char *read_all(const char *dir, const char *name, size_t *len) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return test_read_file(path, len);
}

static kw_status prepare(const char *out, kw_data_prepare_stats *s) {
    kw_data_prepare_params p = kw_data_prepare_default_params();
    const char *in[] = {test_data_path("poetry")};
    char in_copy[512];
    snprintf(in_copy, sizeof in_copy, "%s", in[0]);
    const char *dirs[] = {in_copy};
    p.in_dirs = dirs;
    p.n_in_dirs = 1;
    p.out_dir = out;
    p.val_fraction = 0.3;
    return kw_data_prepare(&p, s);
}

/* The poems.jsonl entry of id, or NULL (the returned object is owned by the array). */
static json_t *find_poem(json_t *poems, const char *id) {
    for (size_t i = 0; i < json_array_size(poems); i++) {
        json_t *o = json_array_get(poems, i);
        if (strcmp(json_string_value(json_object_get(o, "id")), id) == 0) return o;
    }
    return NULL;
}

static json_t *load_jsonl(const char *text) {
    json_t *a = json_array();
    for (const char *l = text; *l;) {
        const char *e = strchr(l, '\n');
        size_t n = e ? (size_t)(e - l) : strlen(l);
        json_t *o = json_loadb(l, n, 0, NULL);
        if (o) json_array_append_new(a, o);
        l = e ? e + 1 : l + n;
    }
    return a;
}

static char *body_of(json_t *o) {
    json_t *lines = json_object_get(o, "lines");
    size_t cap = 1;
    for (size_t i = 0; i < json_array_size(lines); i++)
        cap += strlen(json_string_value(json_array_get(lines, i))) + 1;
    char *b = calloc(cap, 1);
    for (size_t i = 0; i < json_array_size(lines); i++) {
        if (i) strcat(b, "\n");
        strcat(b, json_string_value(json_array_get(lines, i)));
    }
    return b;
}

static void check_documents(const char *text, const char *what, int64_t want) {
    int64_t n = 0;
    bool well_formed = text[0] && text[strlen(text) - 1] == '\n';
    for (const char *d = text; *d;) {
        const char *e = strstr(d, "\n\n");
        size_t len = e ? (size_t)(e - d) : strlen(d) - 1;
        well_formed &= len > 0 && d[0] != ' ' && d[0] != '\n' && d[len - 1] != ' ';
        n++;
        d = e ? e + 2 : d + len + 1;
    }
    CHECK(well_formed, "%s: documents end in one newline, none is empty or padded", what);
    CHECK(n == want, "%s holds %lld documents (stats say %lld)", what, (long long)n,
          (long long)want);
}

static char g_out[256]; /* the prepared fixture, shared with the SFT test */

static void test_prepare_fixture(void) {
    kw_data_prepare_stats s = {0};
    kw_status st = prepare(g_out, &s);
    CHECK(st == KW_OK, "prepare runs on the fixture: %s", kw_last_error());
    if (st != KW_OK) return;
    CHECK(s.n_files == 11 && s.n_records == 64, "11 files, 64 records (got %lld, %lld)",
          (long long)s.n_files, (long long)s.n_records);
    size_t n;
    char *train = read_all(g_out, "train.txt", &n), *val = read_all(g_out, "val.txt", &n);
    char *jl = read_all(g_out, "poems.jsonl", &n), *rep = read_all(g_out, "report.md", &n);
    CHECK(train && val && jl && rep, "all four outputs are written");
    if (!train || !val || !jl || !rep) return;
    CHECK(strstr(train, "函谷壮皇居") || strstr(val, "函谷壮皇居"), "t2s: 壯 became 壮");
    CHECK(!strstr(train, "壯") && !strstr(val, "壯") && !strstr(train, "處處"),
          "no traditional form left in the text");
    CHECK(!strstr(train, "一作") && !strstr(val, "一作") && !strstr(train, "（"),
          "the notes of 秋雨叹 are gone");
    json_t *poems = load_jsonl(jl);
    CHECK((int64_t)json_array_size(poems) == s.n_train + s.n_val,
          "poems.jsonl has one line per document (%zu vs %lld)", json_array_size(poems),
          (long long)(s.n_train + s.n_val));
    /* what dedup removed, by id (ids are source.file.index of the fixture files) */
    static const char *const gone[] = {"tang.0.37",    "tang.12000.0", "tang300.0",   "tang.3000.0",
                                       "yuding.001.0", "yuding.001.1", "yuding.001.2"};
    for (size_t i = 0; i < sizeof(gone) / sizeof(gone[0]); i++)
        CHECK(!find_poem(poems, gone[i]), "%s is removed", gone[i]);
    json_t *li = find_poem(poems, "tang.0.36"), *chu = find_poem(poems, "tang.0.41");
    CHECK(li && chu, "the kept copies (探得李, 出塞) are there");
    CHECK(!strstr(train, "盘根植瀛渚") && !strstr(val, "盘根植瀛渚"),
          "the near duplicate 咏李 is in neither text");
    CHECK(li && strcmp(json_string_value(json_object_get(li, "form")), "五言绝句") == 0,
          "探得李 is a 五言绝句");
    json_t *ci = find_poem(poems, "ci.0.0");
    CHECK(ci && strcmp(json_string_value(json_object_get(ci, "form")), "导引") == 0,
          "a ci's form is its cipai");
    json_t *ff = find_poem(poems, "song.237000.0");
    CHECK(ff && json_array_size(json_object_get(ff, "lines")) == 1, "the citation line is gone");
    /* split invariants: each poem in exactly its own file */
    int wrong = 0;
    for (size_t i = 0; i < json_array_size(poems); i++) {
        json_t *o = json_array_get(poems, i);
        bool is_val = strcmp(json_string_value(json_object_get(o, "split")), "val") == 0;
        char *b = body_of(o);
        if (!strstr(is_val ? val : train, b) || strstr(is_val ? train : val, b)) wrong++;
        free(b);
    }
    CHECK(wrong == 0, "every poem is in its split's file and not in the other (%d wrong)", wrong);
    CHECK(s.n_val > 0 && s.n_train > 0, "both sides are used (%lld train, %lld val)",
          (long long)s.n_train, (long long)s.n_val);
    check_documents(train, "train.txt", s.n_train);
    check_documents(val, "val.txt", s.n_val);
    CHECK(strstr(rep, "| 全唐诗 |") && strstr(rep, "near duplicate") && strstr(rep, "J 0.58"),
          "the report has the per-source table and the 咏李 example");
    /* determinism */
    char again[300];
    snprintf(again, sizeof again, "%s/again", g_out);
    kw_data_prepare_stats s2;
    CHECK(prepare(again, &s2) == KW_OK, "a second run works");
    static const char *const files[] = {"train.txt", "val.txt", "poems.jsonl"};
    for (int f = 0; f < 3; f++) {
        size_t n1, n2;
        char *a = read_all(g_out, files[f], &n1), *b = read_all(again, files[f], &n2);
        CHECK(a && b && n1 == n2 && memcmp(a, b, n1) == 0, "%s is identical in both runs",
              files[f]);
        free(a);
        free(b);
    }
    json_decref(poems);
    free(train);
    free(val);
    free(jl);
    free(rep);
}

/* ---------------------------------------------------------------- sft on the fixture */

static void test_sft_keeps_validation_out(void) {
    char sft_path[300], eval_path[300];
    snprintf(sft_path, sizeof sft_path, "%s/sft.jsonl", g_out);
    snprintf(eval_path, sizeof eval_path, "%s/eval.jsonl", g_out);
    kw_data_sft_params p = kw_data_sft_default_params();
    p.in_dir = g_out;
    p.out_path = sft_path;
    p.eval_path = eval_path;
    p.per_poem = 6;
    p.max_chars = 400;
    kw_data_sft_stats s;
    kw_status st = kw_data_sft(&p, &s);
    CHECK(st == KW_OK, "sft runs: %s", kw_last_error());
    if (st != KW_OK) return;
    size_t n;
    char *jl = read_all(g_out, "poems.jsonl", &n), *sft = test_read_file(sft_path, &n);
    char *ev = test_read_file(eval_path, &n);
    if (!jl || !sft || !ev) {
        CHECK(false, "outputs readable");
        return;
    }
    json_t *poems = load_jsonl(jl), *convs = load_jsonl(sft), *evals = load_jsonl(ev);
    CHECK((int64_t)json_array_size(convs) == s.n_conversations && s.n_conversations > 0,
          "%lld conversations written", (long long)s.n_conversations);
    int kinds = 0;
    for (int k = 0; k < 6; k++)
        kinds += s.by_kind[k] > 0;
    CHECK(kinds >= 5, "at least five kinds of request are made (%d)", kinds);
    int leaks = 0, malformed = 0;
    for (size_t i = 0; i < json_array_size(poems); i++) {
        json_t *o = json_array_get(poems, i);
        if (strcmp(json_string_value(json_object_get(o, "split")), "val") != 0) continue;
        char *b = body_of(o);
        if (strstr(sft, b)) leaks++;
        free(b);
    }
    for (size_t i = 0; i < json_array_size(convs); i++) {
        json_t *m = json_object_get(json_array_get(convs, i), "messages");
        json_t *u = json_array_get(m, 0), *a = json_array_get(m, 1);
        malformed += json_array_size(m) != 2 ||
                     strcmp(json_string_value(json_object_get(u, "role")), "user") != 0 ||
                     strcmp(json_string_value(json_object_get(a, "role")), "assistant") != 0 ||
                     !json_string_value(json_object_get(a, "content"))[0];
    }
    CHECK(leaks == 0, "no validation poem appears in SFT.jsonl (%d do)", leaks);
    CHECK(malformed == 0, "every conversation is a user turn and an assistant answer");
    int bad_eval = 0;
    for (size_t i = 0; i < json_array_size(evals); i++) {
        json_t *e = json_array_get(evals, i);
        const char *t = json_string_value(json_object_get(e, "title"));
        const char *f = json_string_value(json_object_get(e, "form"));
        bool in_val = false, in_train = false;
        for (size_t k = 0; k < json_array_size(poems); k++) {
            json_t *o = json_array_get(poems, k);
            if (strcmp(json_string_value(json_object_get(o, "title")), t) != 0) continue;
            bool v = strcmp(json_string_value(json_object_get(o, "split")), "val") == 0;
            in_val |= v;
            in_train |= !v;
        }
        bad_eval +=
            !in_val || in_train || (strcmp(f, "五言绝句") != 0 && strcmp(f, "七言绝句") != 0);
    }
    CHECK(bad_eval == 0,
          "every evaluation title is a validation quatrain's and no training poem's");
    CHECK((int64_t)json_array_size(evals) == s.n_eval_5 + s.n_eval_7,
          "the evaluation file has %lld entries", (long long)(s.n_eval_5 + s.n_eval_7));
    json_decref(poems);
    json_decref(convs);
    json_decref(evals);
    free(jl);
    free(sft);
    free(ev);
}

/* Every titled shi gets its form request (写一首五言绝句，题为《X》 and its other phrasings), even
 * with one request per poem: the shipped model learns the form words from them. */
static void test_sft_always_asks_the_form(void) {
    char sft_path[300];
    snprintf(sft_path, sizeof sft_path, "%s/sft-form.jsonl", g_out);
    kw_data_sft_params p = kw_data_sft_default_params();
    p.in_dir = g_out;
    p.out_path = sft_path;
    p.max_chars = 400;
    kw_data_sft_stats s;
    kw_status st = kw_data_sft(&p, &s);
    CHECK(st == KW_OK, "sft runs: %s", kw_last_error());
    if (st != KW_OK) return;
    size_t n;
    char *jl = read_all(g_out, "poems.jsonl", &n), *sft = test_read_file(sft_path, &n);
    if (!jl || !sft) {
        CHECK(false, "outputs readable");
        free(jl);
        free(sft);
        return;
    }
    json_t *poems = load_jsonl(jl), *convs = load_jsonl(sft);
    static const char *const shi[] = {"五言绝句", "七言绝句", "五言律诗", "七言律诗"};
    static const char *const generic[] = {"无题", "句",   "失题", "缺题",
                                          "佚句", "残句", "其一", "又"};
    int titled_shi = 0, missing = 0, form_requests = 0;
    for (size_t i = 0; i < json_array_size(poems); i++) {
        json_t *o = json_array_get(poems, i);
        const char *form = json_string_value(json_object_get(o, "form"));
        const char *title = json_string_value(json_object_get(o, "title"));
        bool is_shi = false, is_generic = false;
        for (size_t k = 0; k < sizeof shi / sizeof *shi; k++)
            is_shi |= strcmp(form, shi[k]) == 0;
        for (size_t k = 0; k < sizeof generic / sizeof *generic; k++)
            is_generic |= strcmp(title, generic[k]) == 0;
        /* the primers (蒙学: 千家诗 ...) and the classics are left out of SFT as prose sources */
        const char *src = json_string_value(json_object_get(o, "source"));
        bool prose = strcmp(src, "论语") == 0 || strcmp(src, "四书五经") == 0 ||
                     strcmp(src, "幽梦影") == 0 || strcmp(src, "蒙学") == 0;
        if (strcmp(json_string_value(json_object_get(o, "split")), "train") != 0 || !is_shi ||
            is_generic || prose)
            continue;
        titled_shi++;
        form_requests += strcmp(form, "五言绝句") == 0 ? 3 : 1; /* the rarest form, asked thrice */
        char *body = body_of(o), quoted[400];
        snprintf(quoted, sizeof quoted, "《%s》", title);
        bool asked = false;
        for (size_t c = 0; c < json_array_size(convs) && !asked; c++) {
            json_t *m = json_object_get(json_array_get(convs, c), "messages");
            const char *u = json_string_value(json_object_get(json_array_get(m, 0), "content"));
            const char *a = json_string_value(json_object_get(json_array_get(m, 1), "content"));
            asked = u && a && strcmp(a, body) == 0 && strstr(u, form) && strstr(u, quoted);
        }
        if (!asked) {
            if (missing == 0) fprintf(stderr, "  no form request for %s %s\n", form, quoted);
            missing++;
        }
        free(body);
    }
    CHECK(titled_shi >= 3, "the fixture has titled shi in training (%d)", titled_shi);
    CHECK(missing == 0, "each of the %d titled shi has a form request (%d have none)", titled_shi,
          missing);
    CHECK(s.by_kind[1] == form_requests, "%lld form requests for %d titled shi (%d expected)",
          (long long)s.by_kind[1], titled_shi, form_requests);
    CHECK(s.n_conversations > s.by_kind[1], "other kinds are still asked (%lld conversations)",
          (long long)s.n_conversations);
    json_decref(poems);
    json_decref(convs);
    free(jl);
    free(sft);
}

int main(void) {
    snprintf(g_out, sizeof g_out, "/tmp/kaiwu-test-data-XXXXXX");
    if (!mkdtemp(g_out)) {
        perror("mkdtemp");
        return 1;
    }
    RUN_TEST(test_clean_removes_notes_and_markup);
    RUN_TEST(test_clean_rejects_unreadable_text);
    RUN_TEST(test_poem_forms);
    RUN_TEST(test_minhash_finds_the_variant_pair);
    RUN_TEST(test_json_walker_shapes);
    RUN_TEST(test_prepare_fixture);
    RUN_TEST(test_sft_keeps_validation_out);
    RUN_TEST(test_sft_always_asks_the_form);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_out);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", g_out);
    return test_report();
}
