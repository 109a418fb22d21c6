/* test_chat_templates.c - renders every template x conversation of tests/data/chat-templates
 * with the Jinja engine and compares byte for byte with the reference renderings
 * (@huggingface/jinja 0.5.11), as tests/data/chat-templates/README.md describes:
 *  - status "ok": the rendering must succeed and equal expected/<file> exactly;
 *  - status "error", kind raise_exception: the rendering must fail (the template refuses);
 *  - status "error", kind runtime: a limit of the reference; refusing or rendering are both
 *    allowed, the count of each is reported.
 * Prints "name: matched/total" per template, the first differing byte of every mismatch, and
 * the totals. "Now" is frozen at 2025-03-07 09:05:00 UTC as the fixtures were rendered.
 *
 * Then the templates inside the test models (the .gguf files of tests/data/models carrying
 * tokenizer.chat_template) x the same conversations, rendered through the public kw_chat API
 * (bos_token/eos_token from the model's vocabulary). Expected bytes come only from the reference
 * renderer: tests/data/model-templates/expected/<model>__<conversation>.txt (or .error.txt when
 * the reference refused), made by tests/tools/render_model_templates.sh. Where one exists the
 * rendering must equal it byte for byte and its tokens (kw_chat_tokenize) must equal the tokens
 * of the expected text; where none exists the rendering must at least succeed and tokenize.
 * KAIWU_CHAT_DUMP=DIR writes each template and render context to DIR for that script.
 */
#include "../test.h"
#include "chat/jinja.h"

#include <dirent.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define FIXTURE_NOW 1741338300 /* 2025-03-07T09:05:00Z */

static json_t *load_json(const char *rel) {
    json_error_t err;
    json_t *j = json_load_file(test_data_path(rel), 0, &err);
    if (!j) fprintf(stderr, "%s: %s (line %d)\n", rel, err.text, err.line);
    return j;
}

/* The context exactly as the README's reference call builds it. */
static json_t *build_context(json_t *conv, json_t *tpl_meta) {
    json_t *ctx = json_object();
    json_object_set(ctx, "messages", json_object_get(conv, "messages"));
    json_t *agp = json_object_get(conv, "add_generation_prompt");
    json_object_set_new(ctx, "add_generation_prompt", agp ? json_incref(agp) : json_false());
    json_t *tools = json_object_get(conv, "tools"), *docs = json_object_get(conv, "documents");
    json_object_set_new(ctx, "tools", tools ? json_incref(tools) : json_null());
    json_object_set_new(ctx, "documents", docs ? json_incref(docs) : json_null());
    json_t *bos = json_object_get(tpl_meta, "bos_token"),
           *eos = json_object_get(tpl_meta, "eos_token");
    if (bos && !json_is_null(bos)) json_object_set(ctx, "bos_token", bos);
    if (eos && !json_is_null(eos)) json_object_set(ctx, "eos_token", eos);
    const char *key;
    json_t *val;
    json_object_foreach(conv, key, val) {
        if (strcmp(key, "messages") && strcmp(key, "add_generation_prompt") &&
            strcmp(key, "tools") && strcmp(key, "documents"))
            json_object_set(ctx, key, val);
    }
    return ctx;
}

typedef struct tally {
    char name[128];
    int ok, total;
} tally;

static void run_all(void) {
    json_t *index = load_json("chat-templates/expected/index.json");
    json_t *meta = load_json("chat-templates/templates.json");
    CHECK(index && json_is_array(index), "expected/index.json loads as an array");
    CHECK(meta != NULL, "templates.json loads");
    if (!index || !meta) return;
    json_t *templates = json_object_get(meta, "templates");
    tally tallies[64];
    int n_tallies = 0;
    int n_ok = 0, n_ok_match = 0, n_raise = 0, n_raise_refused = 0, n_rt = 0, n_rt_refused = 0;
    int n_nonbinding = 0;
    jinja_render_opts opts = {.now = FIXTURE_NOW, .now_utc = true};
    size_t i;
    json_t *row;
    json_array_foreach(index, i, row) {
        const char *tname = json_string_value(json_object_get(row, "template"));
        const char *cname = json_string_value(json_object_get(row, "conversation"));
        const char *status = json_string_value(json_object_get(row, "status"));
        const char *file = json_string_value(json_object_get(row, "file"));
        const char *kind = json_string_value(json_object_get(row, "error_kind"));
        json_t *note = json_object_get(row, "note");
        if (!tname || !cname || !status || !file) {
            CHECK(false, "index row %zu has template, conversation, status and file", i);
            continue;
        }
        tally *t = NULL;
        for (int k = 0; k < n_tallies; k++)
            if (strcmp(tallies[k].name, tname) == 0) t = &tallies[k];
        if (!t && n_tallies < 64) {
            t = &tallies[n_tallies++];
            snprintf(t->name, sizeof t->name, "%s", tname);
            t->ok = t->total = 0;
        }
        char rel[512];
        snprintf(rel, sizeof rel, "chat-templates/templates/%s", tname);
        size_t src_len;
        char *src = test_read_file(test_data_path(rel), &src_len);
        snprintf(rel, sizeof rel, "chat-templates/conversations/%s.json", cname);
        json_t *conv = load_json(rel);
        snprintf(rel, sizeof rel, "chat-templates/expected/%s", file);
        size_t exp_len = 0;
        char *expected = test_read_file(test_data_path(rel), &exp_len);
        CHECK(src && conv && expected, "%s x %s: fixture files load", tname, cname);
        if (!src || !conv || !expected) {
            free(src);
            free(expected);
            json_decref(conv);
            continue;
        }
        jinja_template *tpl = NULL;
        char *out = NULL;
        size_t out_len = 0;
        kw_status st = jinja_template_parse(src, src_len, &tpl);
        if (st == KW_OK) {
            json_t *ctx = build_context(conv, json_object_get(templates, tname));
            st = jinja_template_render_json(tpl, ctx, &opts, &out, &out_len);
            json_decref(ctx);
        }
        bool match;
        if (strcmp(status, "ok") == 0) {
            n_ok++;
            match = st == KW_OK && out_len == exp_len && memcmp(out, expected, exp_len) == 0;
            n_ok_match += match;
            bool binding = !(note && strstr(json_string_value(note) ? json_string_value(note) : "",
                                            "object Map")) &&
                           !strstr(expected, "[object Map]");
            if (!match) {
                if (st != KW_OK) {
                    printf("  MISMATCH %s x %s: failed: %s\n", tname, cname, kw_last_error());
                } else {
                    size_t d = 0;
                    while (d < out_len && d < exp_len && out[d] == expected[d])
                        d++;
                    printf("  MISMATCH %s x %s: first difference at byte %zu (got %zu bytes, "
                           "expected %zu)\n    got:      \"%.60s\"\n    expected: \"%.60s\"\n",
                           tname, cname, d, out_len, exp_len, out + d, expected + d);
                }
            }
            if (binding)
                CHECK(match, "%s x %s renders byte for byte as the reference", tname, cname);
            else
                n_nonbinding += !match;
        } else if (kind && strcmp(kind, "raise_exception") == 0) {
            n_raise++;
            match = st != KW_OK;
            n_raise_refused += match;
            CHECK(match, "%s x %s fails as the template raises '%s'", tname, cname, expected);
            if (match)
                CHECK(strstr(kw_last_error(), expected) != NULL,
                      "%s x %s: the error carries the template's message (got '%s')", tname, cname,
                      kw_last_error());
        } else {
            n_rt++;
            match = st != KW_OK;
            n_rt_refused += match;
            if (!match)
                printf("  note: %s x %s renders where the reference refused (%s)\n", tname, cname,
                       expected);
            match = true; /* not binding: either outcome is allowed */
        }
        if (t) {
            t->total++;
            t->ok += match;
        }
        free(out);
        jinja_template_free(tpl);
        free(src);
        free(expected);
        json_decref(conv);
    }
    for (int k = 0; k < n_tallies; k++)
        printf("%s: %d/%d\n", tallies[k].name, tallies[k].ok, tallies[k].total);
    printf("chat templates: %d/%d expected renderings byte-identical (%d non-binding "
           "[object Map] mismatches), %d/%d raise_exception refusals, runtime errors: "
           "%d/%d refused as the reference\n",
           n_ok_match, n_ok, n_nonbinding, n_raise_refused, n_raise, n_rt_refused, n_rt);
    json_decref(index);
    json_decref(meta);
}

/* ------------------------------------------------------------------------------------------------
 * Templates inside the test models
 * ---------------------------------------------------------------------------------------------- */

/* The reference render context: messages, add_generation_prompt, tools, documents, the model's
 * bos/eos texts, then the conversation's other keys (as build_context does for the fixtures). */
static void dump_case(const char *dir, const char *model, const char *cname, const char *tmpl,
                      json_t *conv, json_t *extra_with_tokens) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s.jinja", dir, model);
    FILE *f = fopen(path, "wb");
    if (f) {
        fputs(tmpl, f);
        fclose(f);
    }
    json_t *meta = json_object();
    json_t *bos = json_object_get(extra_with_tokens, "bos_token");
    json_t *eos = json_object_get(extra_with_tokens, "eos_token");
    json_object_set(meta, "bos_token", bos ? bos : json_null());
    json_object_set(meta, "eos_token", eos ? eos : json_null());
    json_t *ctx = build_context(conv, meta);
    snprintf(path, sizeof path, "%s/%s__%s.json", dir, model, cname);
    json_dump_file(ctx, path, JSON_PRESERVE_ORDER | JSON_INDENT(1));
    json_decref(ctx);
    json_decref(meta);
}

static bool same_tokens(const kw_chat *chat, const char *a, const char *b, int32_t *n_a,
                        int32_t *n_b, int32_t *first_diff) {
    kw_token *ta = NULL, *tb = NULL;
    *n_a = *n_b = -1;
    *first_diff = -1;
    bool ok = kw_chat_tokenize(chat, a, &ta, n_a) == KW_OK &&
              kw_chat_tokenize(chat, b, &tb, n_b) == KW_OK;
    if (ok) {
        int32_t i = 0;
        while (i < *n_a && i < *n_b && ta[i] == tb[i])
            i++;
        ok = *n_a == *n_b && i == *n_a;
        if (!ok) *first_diff = i;
    }
    free(ta);
    free(tb);
    return ok;
}

/* Renders every conversation through one model's own template. */
static void run_model(const char *file, const char *model_name, char **convs, int n_convs,
                      int *n_exact, int *n_no_ref, int *n_cases) {
    char rel[512];
    snprintf(rel, sizeof rel, "models/%s", file);
    kw_model *m = NULL;
    if (kw_model_load(test_data_path(rel), NULL, &m) != KW_OK) {
        CHECK(false, "%s loads (%s)", file, kw_last_error());
        return;
    }
    const char *tmpl = kw_model_chat_template(m);
    kw_chat *chat = NULL;
    if (!tmpl || kw_chat_create(m, NULL, &chat) != KW_OK) {
        CHECK(!tmpl, "%s: its template parses (%s)", file, kw_last_error());
        kw_model_free(m);
        return;
    }
    const char *dump = getenv("KAIWU_CHAT_DUMP");
    for (int c = 0; c < n_convs; c++) {
        snprintf(rel, sizeof rel, "chat-templates/conversations/%s.json", convs[c]);
        json_t *conv = load_json(rel);
        if (!conv) {
            CHECK(false, "conversation %s loads", convs[c]);
            continue;
        }
        json_t *extra = json_object();
        json_t *agp = json_object_get(conv, "add_generation_prompt");
        const char *key;
        json_t *val;
        json_object_foreach(conv, key, val) {
            if (strcmp(key, "messages") && strcmp(key, "add_generation_prompt") &&
                strcmp(key, "tools") && strcmp(key, "documents"))
                json_object_set(extra, key, val);
        }
        char *msgs =
            json_dumps(json_object_get(conv, "messages"), JSON_PRESERVE_ORDER | JSON_COMPACT);
        json_t *tools = json_object_get(conv, "tools");
        char *tools_s = tools ? json_dumps(tools, JSON_PRESERVE_ORDER | JSON_COMPACT) : NULL;
        char *extra_s = json_dumps(extra, JSON_PRESERVE_ORDER | JSON_COMPACT);
        char *out = NULL;
        kw_status st = kw_chat_render(chat, msgs, tools_s, json_is_true(agp), extra_s, &out);
        if (dump) {
            json_t *with_tokens = json_object();
            char bos[64] = "", eos[64] = "";
            int32_t nb = kw_token_to_piece(m, kw_token_bos(m), bos, 63, true);
            int32_t ne = kw_token_to_piece(m, kw_token_eos(m), eos, 63, true);
            if (nb > 0)
                json_object_set_new(with_tokens, "bos_token", json_stringn(bos, (size_t)nb));
            if (ne > 0)
                json_object_set_new(with_tokens, "eos_token", json_stringn(eos, (size_t)ne));
            dump_case(dump, model_name, convs[c], tmpl, conv, with_tokens);
            json_decref(with_tokens);
        }
        snprintf(rel, sizeof rel, "model-templates/expected/%s__%s.txt", model_name, convs[c]);
        size_t exp_len = 0;
        char *expected = test_read_file(test_data_path(rel), &exp_len);
        snprintf(rel, sizeof rel, "model-templates/expected/%s__%s.error.txt", model_name,
                 convs[c]);
        struct stat sb;
        bool ref_refused = !expected && stat(test_data_path(rel), &sb) == 0;
        (*n_cases)++;
        if (expected) {
            bool exact =
                st == KW_OK && strlen(out) == exp_len && memcmp(out, expected, exp_len) == 0;
            *n_exact += exact;
            CHECK(exact, "%s x %s renders byte for byte as the reference (%s)", model_name,
                  convs[c], st == KW_OK ? "bytes differ" : kw_last_error());
            int32_t na, nb, d;
            if (st == KW_OK)
                CHECK(same_tokens(chat, out, expected, &na, &nb, &d),
                      "%s x %s: the tokens of the rendering equal those of the reference (%d vs %d "
                      "ids, first difference at %d)",
                      model_name, convs[c], na, nb, d);
        } else if (ref_refused) {
            *n_exact += st != KW_OK;
            CHECK(st != KW_OK, "%s x %s fails as the reference does", model_name, convs[c]);
        } else {
            (*n_no_ref)++;
            kw_token *ids = NULL;
            int32_t n = 0;
            CHECK(st == KW_OK && kw_chat_tokenize(chat, out, &ids, &n) == KW_OK && n > 0,
                  "%s x %s (no reference file) renders and tokenizes (%s)", model_name, convs[c],
                  kw_last_error());
            free(ids);
        }
        free(expected);
        free(out);
        free(msgs);
        free(tools_s);
        free(extra_s);
        json_decref(extra);
        json_decref(conv);
    }
    kw_chat_free(chat);
    kw_model_free(m);
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted names (malloc'd) of the files in tests/data/<rel> ending with suffix, suffix removed
 * when strip. */
static int list_dir(const char *rel, const char *suffix, bool strip, char **names, int cap) {
    DIR *d = opendir(test_data_path(rel));
    int n = 0;
    struct dirent *e;
    size_t sl = strlen(suffix);
    while (d && (e = readdir(d)) && n < cap) {
        size_t l = strlen(e->d_name);
        if (l > sl && strcmp(e->d_name + l - sl, suffix) == 0)
            names[n++] = strip ? strndup(e->d_name, l - sl) : strdup(e->d_name);
    }
    if (d) closedir(d);
    qsort(names, (size_t)n, sizeof *names, cmp_str);
    return n;
}

static void run_model_templates(void) {
    char *convs[64], *models[64];
    int n_convs = list_dir("chat-templates/conversations", ".json", true, convs, 64);
    int n_models = list_dir("models", ".gguf", false, models, 64);
    CHECK(n_convs >= 8 && n_models > 0, "conversations (%d) and models (%d) are listed", n_convs,
          n_models);
    int n_exact = 0, n_no_ref = 0, n_cases = 0, n_with = 0;
    for (int i = 0; i < n_models; i++) {
        char rel[512];
        snprintf(rel, sizeof rel, "models/%s", models[i]);
        kw_gguf *g = NULL;
        bool has = false;
        if (kw_gguf_open(test_data_path(rel), &g) == KW_OK) {
            for (int64_t k = 0; k < kw_gguf_n_kv(g); k++)
                has |= strcmp(kw_gguf_kv_key(g, k), "tokenizer.chat_template") == 0;
            kw_gguf_close(g);
        }
        if (has) {
            n_with++;
            char *name = strndup(models[i], strlen(models[i]) - 5);
            run_model(models[i], name, convs, n_convs, &n_exact, &n_no_ref, &n_cases);
            free(name);
        }
        free(models[i]);
    }
    for (int c = 0; c < n_convs; c++)
        free(convs[c]);
    CHECK(n_with >= 1, "at least one test model carries a chat template (%d)", n_with);
    printf("model templates: %d models with a template, %d renderings: %d as the reference "
           "(bytes and tokens), %d without a reference file (rendered and tokenized)\n",
           n_with, n_cases, n_exact, n_no_ref);
}

int main(void) {
    RUN_TEST(run_all);
    RUN_TEST(run_model_templates);
    return test_report();
}
