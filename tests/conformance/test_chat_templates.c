/* test_chat_templates.c - renders every template x conversation of tests/data/chat-templates
 * with the Jinja engine and compares byte for byte with the reference renderings
 * (@huggingface/jinja 0.5.11), as tests/data/chat-templates/README.md describes:
 *  - status "ok": the rendering must succeed and equal expected/<file> exactly;
 *  - status "error", kind raise_exception: the rendering must fail (the template refuses);
 *  - status "error", kind runtime: a limit of the reference; refusing or rendering are both
 *    allowed, the count of each is reported.
 * Prints "name: matched/total" per template, the first differing byte of every mismatch, and
 * the totals. "Now" is frozen at 2025-03-07 09:05:00 UTC as the fixtures were rendered.
 */
#include "chat/jinja.h"
#include "../test.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#define FIXTURE_NOW 1741338300 /* 2025-03-07T09:05:00Z */

static json_t *load_json(const char *rel) {
    json_error_t err;
    json_t *j = json_load_file(test_data_path(rel), 0, &err);
    if (!j)
        fprintf(stderr, "%s: %s (line %d)\n", rel, err.text, err.line);
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
    json_t *bos = json_object_get(tpl_meta, "bos_token"), *eos = json_object_get(tpl_meta, "eos_token");
    if (bos && !json_is_null(bos))
        json_object_set(ctx, "bos_token", bos);
    if (eos && !json_is_null(eos))
        json_object_set(ctx, "eos_token", eos);
    const char *key;
    json_t *val;
    json_object_foreach(conv, key, val) {
        if (strcmp(key, "messages") && strcmp(key, "add_generation_prompt") && strcmp(key, "tools") &&
            strcmp(key, "documents"))
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
    if (!index || !meta)
        return;
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
            if (strcmp(tallies[k].name, tname) == 0)
                t = &tallies[k];
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
            free(src); free(expected); json_decref(conv);
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
            bool binding = !(note && strstr(json_string_value(note) ? json_string_value(note) : "", "object Map")) &&
                           !strstr(expected, "[object Map]");
            if (!match) {
                if (st != KW_OK) {
                    printf("  MISMATCH %s x %s: failed: %s\n", tname, cname, kw_last_error());
                } else {
                    size_t d = 0;
                    while (d < out_len && d < exp_len && out[d] == expected[d]) d++;
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
                      "%s x %s: the error carries the template's message (got '%s')", tname,
                      cname, kw_last_error());
        } else {
            n_rt++;
            match = st != KW_OK;
            n_rt_refused += match;
            if (!match)
                printf("  note: %s x %s renders where the reference refused (%s)\n", tname, cname, expected);
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

int main(void) {
    RUN_TEST(run_all);
    return test_report();
}
