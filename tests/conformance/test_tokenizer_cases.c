/* test_tokenizer_cases.c - runs every tokenizer case of tests/data/tokenizer/cases/<vocab>.jsonl
 * against tests/data/tokenizer/vocab/<vocab>.gguf (ids identical, whole-sequence decoding equal to
 * `decoded`), and checks every golden manifest's prompt tokens and token pieces against the
 * model file it names.
 *
 * Prints "<vocab>: N/M cases" per vocabulary and the first mismatches with their position.
 * Texts may contain NUL: lengths come from json_string_length, never strlen.
 */
#include "../test.h"
#include "tokenizer/tokenizer.h"

#include <dirent.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static kw_status open_vocab(const char *path, kw_gguf **g, tok_vocab **v) {
    kw_status st = kw_gguf_open(path, g);
    if (st != KW_OK) return st;
    st = tok_vocab_load(*g, v);
    if (st != KW_OK) kw_gguf_close(*g);
    return st;
}

static void print_ids(const char *label, const kw_token *ids, size_t n) {
    fprintf(stderr, "    %s (%zu):", label, n);
    for (size_t i = 0; i < n && i < 40; i++)
        fprintf(stderr, " %d", ids[i]);
    fprintf(stderr, n > 40 ? " ...\n" : "\n");
}

/* ---------------------------------------------------------------- case files */

/* Runs one case; returns true when ids and decoding both match. */
static bool run_case(const tok_vocab *v, const char *name, int line, json_t *c, int *n_shown) {
    json_t *jt = json_object_get(c, "text"), *jids = json_object_get(c, "ids");
    json_t *jdec = json_object_get(c, "decoded");
    bool parse_special = json_is_true(json_object_get(c, "parse_special"));
    CHECK(json_is_string(jt) && json_is_array(jids) && json_is_string(jdec),
          "%s line %d has text, ids and decoded", name, line);
    if (!json_is_string(jt) || !json_is_array(jids) || !json_is_string(jdec)) return false;
    const char *text = json_string_value(jt);
    size_t len = json_string_length(jt);
    size_t n_exp = json_array_size(jids);
    int32_t cap = (int32_t)(4 * len + 16), n = 0;
    kw_token *ids = malloc((size_t)cap * sizeof(*ids));
    kw_token *exp = malloc((n_exp + 1) * sizeof(*exp));
    for (size_t i = 0; i < n_exp; i++)
        exp[i] = (kw_token)json_integer_value(json_array_get(jids, i));
    kw_status st = tok_tokenize(v, text, len, false, parse_special, ids, cap, &n);
    bool ids_ok = st == KW_OK && (size_t)n == n_exp && memcmp(ids, exp, n_exp * sizeof(*exp)) == 0;
    CHECK(ids_ok, "%s line %d (%s): token ids equal the expected %zu ids", name, line,
          json_string_value(json_object_get(c, "kind")), n_exp);
    if (!ids_ok && (*n_shown)++ < 4) {
        size_t first = 0;
        while (st == KW_OK && first < n_exp && first < (size_t)n && ids[first] == exp[first])
            first++;
        fprintf(stderr, "  %s line %d: status %d, first difference at index %zu, text \"%.60s\"\n",
                name, line, st, first, text);
        print_ids("expected", exp, n_exp);
        if (st == KW_OK) print_ids("got     ", ids, (size_t)n);
    }
    /* decode the expected ids, so a tokenizing bug does not hide a decoding one */
    size_t dlen = json_string_length(jdec);
    char *buf = malloc(dlen + 4 * len + 64);
    int64_t got = tok_detokenize(v, exp, (int32_t)n_exp, buf, dlen + 4 * len + 64, true);
    bool dec_ok = got == (int64_t)dlen && memcmp(buf, json_string_value(jdec), dlen) == 0;
    CHECK(dec_ok, "%s line %d: decoding the ids gives `decoded` (%zu bytes, got %lld)", name, line,
          dlen, (long long)got);
    if (!dec_ok && (*n_shown)++ < 4)
        fprintf(stderr, "  %s line %d decoded: expected \"%.60s\" got \"%.*s\"\n", name, line,
                json_string_value(jdec), got > 60 ? 60 : (int)(got < 0 ? 0 : got), buf);
    free(buf);
    free(ids);
    free(exp);
    return ids_ok && dec_ok;
}

static void run_vocab(const char *name) {
    char rel[256], path[1024];
    snprintf(rel, sizeof(rel), "tokenizer/vocab/%s.gguf", name);
    snprintf(path, sizeof(path), "%s", test_data_path(rel));
    kw_gguf *g = NULL;
    tok_vocab *v = NULL;
    double t0 = now_s();
    kw_status st = open_vocab(path, &g, &v);
    double t_load = now_s() - t0;
    CHECK(st == KW_OK, "vocab %s loads (%s)", name, st == KW_OK ? "ok" : kw_last_error());
    if (st != KW_OK) return;
    snprintf(rel, sizeof(rel), "tokenizer/cases/%s.jsonl", name);
    size_t flen = 0;
    char *data = test_read_file(test_data_path(rel), &flen);
    CHECK(data != NULL, "case file %s reads", rel);
    int n_cases = 0, n_ok = 0, line = 0, n_shown = 0;
    double t1 = now_s();
    for (char *p = data; p && *p;) {
        char *nl = strchr(p, '\n');
        size_t ll = nl ? (size_t)(nl - p) : strlen(p);
        line++;
        if (ll > 0) {
            json_error_t err;
            json_t *c = json_loadb(p, ll, JSON_ALLOW_NUL, &err);
            CHECK(c != NULL, "%s line %d parses: %s", name, line, c ? "" : err.text);
            if (c) {
                n_cases++;
                n_ok += run_case(v, name, line, c, &n_shown);
                json_decref(c);
            }
        }
        p = nl ? nl + 1 : NULL;
    }
    printf("%s: %d/%d cases (load %.0f ms, cases %.0f ms)\n", name, n_ok, n_cases, 1e3 * t_load,
           1e3 * (now_s() - t1));
    CHECK(n_cases > 100, "%s has its cases (%d)", name, n_cases);
    free(data);
    tok_vocab_free(v);
    kw_gguf_close(g);
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void test_all_case_files(void) {
    const char *dir_path = test_data_path("tokenizer/cases");
    DIR *d = opendir(dir_path);
    CHECK(d != NULL, "the case directory %s opens", dir_path);
    if (!d) return;
    char *names[64];
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < 64) {
        size_t l = strlen(e->d_name);
        if (l > 6 && strcmp(e->d_name + l - 6, ".jsonl") == 0)
            names[n++] = strndup(e->d_name, l - 6);
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof(names[0]), cmp_str);
    CHECK(n == 8, "there are 8 case files (found %d)", n);
    for (int i = 0; i < n; i++) {
        run_vocab(names[i]);
        free(names[i]);
    }
}

/* ---------------------------------------------------------------- disagreements */

static bool ids_equal(const kw_token *ids, int32_t n, json_t *arr) {
    if ((size_t)n != json_array_size(arr)) return false;
    for (int32_t i = 0; i < n; i++)
        if (ids[i] != (kw_token)json_integer_value(json_array_get(arr, (size_t)i))) return false;
    return true;
}

/* The cases the two reference tokenizers disagree on: kaiwu must give one of the two answers
 * (ids), or llama.cpp's (decoding, whose clean-up kaiwu follows). Prints which side it took. */
static void test_disagreements_take_a_side(void) {
    size_t flen = 0;
    char *data = test_read_file(test_data_path("tokenizer/disagreements.jsonl"), &flen);
    CHECK(data != NULL, "disagreements.jsonl reads");
    int line = 0;
    for (char *p = data; p && *p;) {
        char *nl = strchr(p, '\n');
        size_t ll = nl ? (size_t)(nl - p) : strlen(p);
        json_t *c = ll ? json_loadb(p, ll, JSON_ALLOW_NUL, NULL) : NULL;
        p = nl ? nl + 1 : NULL;
        line++;
        if (!c) continue;
        const char *vname = json_string_value(json_object_get(c, "vocab"));
        const char *what = json_string_value(json_object_get(c, "what"));
        json_t *jt = json_object_get(c, "text");
        char rel[256];
        snprintf(rel, sizeof(rel), "tokenizer/vocab/%s.gguf", vname ? vname : "?");
        kw_gguf *g = NULL;
        tok_vocab *v = NULL;
        if (open_vocab(test_data_path(rel), &g, &v) == KW_OK && what && json_is_string(jt)) {
            kw_token ids[256];
            int32_t n = 0;
            if (strcmp(what, "ids") == 0) {
                kw_status st =
                    tok_tokenize(v, json_string_value(jt), json_string_length(jt), false,
                                 json_is_true(json_object_get(c, "parse_special")), ids, 256, &n);
                bool lc = st == KW_OK && ids_equal(ids, n, json_object_get(c, "llama_cpp"));
                bool ref = st == KW_OK && ids_equal(ids, n, json_object_get(c, "reference"));
                printf("disagreement line %d (%s, ids): kaiwu = %s\n", line, vname,
                       lc    ? "llama.cpp"
                       : ref ? "reference"
                             : "neither");
                CHECK(lc || ref, "disagreement line %d: ids equal one of the two sides", line);
            } else {
                json_t *jids = json_object_get(c, "ids");
                for (size_t i = 0; i < json_array_size(jids) && i < 256; i++)
                    ids[i] = (kw_token)json_integer_value(json_array_get(jids, i));
                char buf[512];
                int64_t k =
                    tok_detokenize(v, ids, (int32_t)json_array_size(jids), buf, sizeof(buf), true);
                const char *want = json_string_value(json_object_get(c, "llama_cpp"));
                CHECK(want && k == (int64_t)strlen(want) && memcmp(buf, want, (size_t)k) == 0,
                      "disagreement line %d: decoding follows llama.cpp's clean-up", line);
            }
        }
        tok_vocab_free(v);
        kw_gguf_close(g);
        json_decref(c);
    }
    free(data);
}

/* ---------------------------------------------------------------- golden manifests */

static bool piece_matches(const tok_vocab *v, kw_token t, const char *hex) {
    char buf[512], want[512];
    int32_t n = tok_token_to_piece(v, t, buf, sizeof(buf), true);
    size_t hl = strlen(hex);
    if (n < 0 || (size_t)n != hl / 2 || hl / 2 > sizeof(want)) return false;
    for (size_t i = 0; i < hl / 2; i++) {
        unsigned x;
        if (sscanf(hex + 2 * i, "%2x", &x) != 1) return false;
        want[i] = (char)x;
    }
    return memcmp(buf, want, (size_t)n) == 0;
}

static void check_pieces(const tok_vocab *v, const char *mpath, json_t *toks, json_t *hexes,
                         const char *what) {
    size_t n = json_array_size(toks), bad = 0, first_bad = 0;
    CHECK(n == json_array_size(hexes), "%s: %s tokens and pieces have the same count", mpath, what);
    for (size_t i = 0; i < n && i < json_array_size(hexes); i++) {
        kw_token t = (kw_token)json_integer_value(json_array_get(toks, i));
        if (!piece_matches(v, t, json_string_value(json_array_get(hexes, i))) && bad++ == 0)
            first_bad = i;
    }
    CHECK(bad == 0, "%s: all %zu %s pieces equal the golden hex (%zu differ, first at %zu)", mpath,
          n, what, bad, first_bad);
}

static void check_manifest(const char *mpath) {
    json_error_t err;
    json_t *m = json_load_file(mpath, 0, &err);
    CHECK(m != NULL, "manifest %s parses", mpath);
    if (!m) return;
    const char *fmt = json_string_value(json_object_get(m, "format"));
    if (!fmt || strcmp(fmt, "kaiwu-golden-logits-v1") != 0) { /* case lists, tolerances, ... */
        json_decref(m);
        return;
    }
    char model[1024];
    const char *slash = strrchr(mpath, '/');
    snprintf(model, sizeof(model), "%.*s/%s", (int)(slash - mpath), mpath,
             json_string_value(json_object_get(m, "model")));
    kw_gguf *g = NULL;
    tok_vocab *v = NULL;
    kw_status st = open_vocab(model, &g, &v);
    CHECK(st == KW_OK, "%s: model %s loads its vocabulary (%s)", mpath, model,
          st == KW_OK ? "ok" : kw_last_error());
    if (st == KW_OK) {
        json_t *jp = json_object_get(m, "prompt"), *exp = json_object_get(m, "prompt_tokens");
        kw_token ids[4096];
        int32_t n = 0;
        st = tok_tokenize(v, json_string_value(jp), json_string_length(jp), true, true, ids, 4096,
                          &n);
        bool same = st == KW_OK && (size_t)n == json_array_size(exp);
        for (int32_t i = 0; same && i < n; i++)
            same = ids[i] == (kw_token)json_integer_value(json_array_get(exp, (size_t)i));
        CHECK(same, "%s: prompt tokens equal prompt_tokens (%zu expected, %d got)", mpath,
              json_array_size(exp), n);
        CHECK(tok_add_bos(v) == json_is_true(json_object_get(m, "vocab_add_bos")),
              "%s: add_bos agrees with vocab_add_bos", mpath);
        check_pieces(v, mpath, exp, json_object_get(m, "prompt_pieces_hex"), "prompt");
        check_pieces(v, mpath, json_object_get(m, "gen_tokens"),
                     json_object_get(m, "gen_pieces_hex"), "generated");
        tok_vocab_free(v);
        kw_gguf_close(g);
    }
    json_decref(m);
}

static void test_golden_manifests(void) {
    char root[1024];
    snprintf(root, sizeof(root), "%s", test_data_path("golden"));
    DIR *d = opendir(root);
    CHECK(d != NULL, "the golden directory opens");
    if (!d) return;
    int n_manifests = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        char p[2048];
        size_t l = strlen(e->d_name);
        if (e->d_name[0] == '.') continue;
        if (strncmp(e->d_name, "tiny-", 5) == 0 && l > 5 &&
            strcmp(e->d_name + l - 5, ".json") == 0) {
            snprintf(p, sizeof(p), "%s/%s", root, e->d_name);
            check_manifest(p);
            n_manifests++;
            continue;
        }
        snprintf(p, sizeof(p), "%s/%s", root, e->d_name);
        DIR *sub = opendir(p);
        if (!sub) continue;
        struct dirent *f;
        while ((f = readdir(sub))) {
            size_t fl = strlen(f->d_name);
            if (fl > 5 && strcmp(f->d_name + fl - 5, ".json") == 0) {
                char q[3072];
                snprintf(q, sizeof(q), "%s/%s", p, f->d_name);
                check_manifest(q);
                n_manifests++;
            }
        }
        closedir(sub);
    }
    closedir(d);
    printf("golden manifests: %d checked\n", n_manifests);
    CHECK(n_manifests >= 40, "the golden manifests were found (%d)", n_manifests);
}

int main(void) {
    RUN_TEST(test_all_case_files);
    RUN_TEST(test_disagreements_take_a_side);
    RUN_TEST(test_golden_manifests);
    return test_report();
}
