/* schema_samples.c - samples JSON-Schema-constrained replies for the acceptance test of issue 17
 * (tests/e2e/schema_ajv.sh checks them with ajv):
 *   schema_samples -m MODEL [-n SAMPLES] [--max-tokens N] [--parallel P] [--temp T] -o OUT.jsonl
 *                  [--mutants K] SCHEMA.json...
 * One model load; for each schema, SAMPLES generations (seeds 1..SAMPLES) with the schema in
 * kw_gen_params.json_schema, P at a time in one kw_engine (P sequences of one context). Each
 * sample is one JSONL line: {"schema": PATH, "seed": S, "finish": "stop", "constraint":
 * "satisfied", "why": null, "tokens": N, "text": REPLY, "mutants": [{"text": T, "kaiwu": "valid" |
 * "invalid" | "error"}...]}: K (default 3) altered copies of the reply with
 * kw_json_schema_validate's verdict, so the checker can compare kaiwu's validator with ajv on
 * instances that are mostly invalid. Uses only the public API (and jansson to read and write JSON).
 * Exit status 0 when every line was written (the verdicts are for the checker), 1 on an error, 2 on
 * a usage error. A timing line per schema goes to stderr.
 */
#include "kaiwu.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_PARALLEL 32

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec * 1e-9;
}

static char *read_all(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n + 4096 + 1 > cap) {
            cap = cap ? cap * 2 : 8192;
            char *p = realloc(buf, cap);
            if (!p) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = p;
        }
        size_t r = fread(buf + n, 1, 4096, f);
        n += r;
        if (r < 4096) break;
    }
    fclose(f);
    buf[n] = 0;
    return buf;
}

static int usage(void) {
    fprintf(stderr, "usage: schema_samples -m MODEL [-n SAMPLES] [--max-tokens N] [--parallel P] "
                    "[--temp T] [--mutants K] -o OUT.jsonl SCHEMA.json...\n");
    return 2;
}

/* Every value in v, as (container, key or index) slots; the root is not a slot. */
typedef struct slot {
    json_t *parent;
    const char *key; /* object member, or NULL for an array element */
    size_t index;
} slot;

static void collect(json_t *v, slot *s, size_t *n, size_t cap) {
    if (json_is_object(v)) {
        const char *k;
        json_t *x;
        json_object_foreach(v, k, x) {
            if (*n < cap) s[(*n)++] = (slot){v, k, 0};
            collect(x, s, n, cap);
        }
    } else if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v); i++) {
            if (*n < cap) s[(*n)++] = (slot){v, NULL, i};
            collect(json_array_get(v, i), s, n, cap);
        }
    }
}

static json_t *replacement(uint64_t r) {
    switch (r % 12) {
    case 0: return json_null();
    case 1: return json_true();
    case 2: return json_integer(-1);
    case 3: return json_integer(1000000);
    case 4: return json_real(0.5);
    case 5: return json_string("");
    case 6: return json_string("2024-02-30");
    case 7: return json_string("a@b");
    case 8:
        return json_string("xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
    case 9: return json_array();
    case 10: return json_object();
    default: return json_string("红");
    }
}

/* Mutants of a reply with kaiwu's verdict on each, for the checker to compare with ajv's: a value
 * replaced by one of another type or shape, a member removed, a member added at the root. */
static json_t *mutants(const char *schema, const char *text, size_t len, uint64_t seed, int n) {
    json_t *arr = json_array();
    json_t *v = json_loadb(text, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    if (!v) return arr;
    for (int m = 0; m < n; m++) {
        json_t *c = json_deep_copy(v);
        slot s[256];
        size_t ns = 0;
        collect(c, s, &ns, 256);
        const uint64_t r = seed * 7919u + (uint64_t)m * 104729u;
        if (m % 3 == 2 && json_is_object(c)) {
            json_object_set_new(c, "zz_extra", json_integer(1));
        } else if (ns > 0) {
            slot *t = &s[r % ns];
            if (m % 3 == 1 && t->key)
                json_object_del(t->parent, t->key);
            else if (t->key)
                json_object_set_new(t->parent, t->key, replacement(r / 7));
            else
                json_array_set_new(t->parent, t->index, replacement(r / 7));
        } else {
            json_decref(c);
            c = replacement(r);
        }
        char *mt = json_dumps(c, JSON_COMPACT | JSON_ENCODE_ANY | JSON_ENSURE_ASCII);
        json_decref(c);
        if (!mt) continue;
        kw_status st = kw_json_schema_validate(schema, mt, strlen(mt), NULL);
        json_array_append_new(arr, json_pack("{s:s,s:s}", "text", mt, "kaiwu",
                                             st == KW_OK           ? "valid"
                                             : st == KW_ERR_FORMAT ? "invalid"
                                                                   : "error"));
        free(mt);
    }
    json_decref(v);
    return arr;
}

static int write_line(FILE *out, const char *path, const char *schema, uint64_t seed, kw_gen *g,
                      int n_mutants) {
    size_t len = 0;
    const char *text = kw_gen_text(g, &len);
    const char *why = NULL;
    kw_constraint_status c = kw_gen_constraint(g, &why);
    json_t *o = json_object();
    json_object_set_new(o, "schema", json_string(path));
    json_object_set_new(o, "seed", json_integer((json_int_t)seed));
    json_object_set_new(o, "finish", json_string(kw_finish_reason_str(kw_gen_finish_reason(g))));
    json_object_set_new(o, "constraint", json_string(kw_constraint_status_str(c)));
    json_object_set_new(o, "why", why ? json_string(why) : json_null());
    json_object_set_new(o, "tokens", json_integer(kw_gen_get_usage(g).completion_tokens));
    /* the reply may hold \u0000 or (in a bug) invalid UTF-8: jansson refuses that for a string,
     * so such a reply is written as null text and the checker fails it */
    json_t *t = json_stringn(text, len);
    json_object_set_new(o, "text", t ? t : json_null());
    json_object_set_new(o, "mutants", mutants(schema, text, len, seed, n_mutants));
    char *line = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII);
    json_decref(o);
    if (!line) return 1;
    int rc = fprintf(out, "%s\n", line) < 0;
    free(line);
    return rc;
}

int main(int argc, char **argv) {
    const char *model_path = NULL, *out_path = NULL;
    int n_samples = 200, max_tokens = 512, parallel = 8, n_mutants = 3;
    float temp = 1.0f;
    int first_schema = argc;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const bool has = i + 1 < argc;
        if (!strcmp(a, "-m") && has)
            model_path = argv[++i];
        else if (!strcmp(a, "-o") && has)
            out_path = argv[++i];
        else if (!strcmp(a, "-n") && has)
            n_samples = atoi(argv[++i]);
        else if (!strcmp(a, "--max-tokens") && has)
            max_tokens = atoi(argv[++i]);
        else if (!strcmp(a, "--parallel") && has)
            parallel = atoi(argv[++i]);
        else if (!strcmp(a, "--mutants") && has)
            n_mutants = atoi(argv[++i]);
        else if (!strcmp(a, "--temp") && has)
            temp = (float)atof(argv[++i]);
        else if (a[0] == '-')
            return usage();
        else {
            first_schema = i;
            break;
        }
    }
    if (!model_path || !out_path || first_schema >= argc || n_samples < 1 || max_tokens < 1 ||
        n_mutants < 0 || parallel < 1 || parallel > MAX_PARALLEL)
        return usage();

    kw_model *model = NULL;
    if (kw_model_load(model_path, NULL, &model) != KW_OK) {
        fprintf(stderr, "schema_samples: %s\n", kw_last_error());
        return 1;
    }
    kw_context_params cp = kw_context_default_params();
    cp.n_seq_max = parallel;
    cp.n_ctx = max_tokens + 32;
    cp.n_threads = 1;
    kw_context *ctx = NULL;
    kw_engine *eng = NULL;
    FILE *out = NULL;
    int rc = 1;
    if (kw_context_create(model, &cp, &ctx) != KW_OK || kw_engine_create(ctx, &eng) != KW_OK) {
        fprintf(stderr, "schema_samples: %s\n", kw_last_error());
        goto done;
    }
    out = fopen(out_path, "w");
    if (!out) {
        perror(out_path);
        goto done;
    }
    kw_token prompt[16];
    int32_t n_prompt = 0;
    if (kw_tokenize(model, "JSON:", 5, true, true, prompt, 16, &n_prompt) != KW_OK) {
        fprintf(stderr, "schema_samples: %s\n", kw_last_error());
        goto done;
    }
    for (int si = first_schema; si < argc; si++) {
        char *schema = read_all(argv[si]);
        if (!schema) {
            perror(argv[si]);
            goto done;
        }
        const double t0 = now();
        long tokens = 0;
        kw_gen *run[MAX_PARALLEL] = {0};
        uint64_t seeds[MAX_PARALLEL] = {0};
        uint64_t next = 1;
        int active = 0;
        bool failed = false;
        while (!failed && (next <= (uint64_t)n_samples || active > 0)) {
            for (int k = 0; k < parallel && next <= (uint64_t)n_samples; k++) {
                if (run[k]) continue;
                kw_gen_params gp = kw_gen_default_params();
                gp.json_schema = schema;
                gp.sampler.temperature = temp;
                gp.sampler.seed = next;
                gp.max_tokens = max_tokens;
                if (kw_gen_create(eng, &gp, &run[k]) != KW_OK ||
                    kw_gen_set_prompt(run[k], prompt, n_prompt) != KW_OK ||
                    kw_gen_start(run[k]) != KW_OK) {
                    fprintf(stderr, "schema_samples: %s: %s\n", argv[si], kw_last_error());
                    failed = true;
                    break;
                }
                seeds[k] = next++;
                active++;
            }
            if (failed) break;
            if (kw_engine_step(eng) != KW_OK) {
                fprintf(stderr, "schema_samples: step: %s\n", kw_last_error());
                failed = true;
                break;
            }
            for (int k = 0; k < parallel; k++) {
                if (!run[k] || kw_gen_finish_reason(run[k]) == KW_FINISH_NONE) continue;
                tokens += kw_gen_get_usage(run[k]).completion_tokens;
                if (write_line(out, argv[si], schema, seeds[k], run[k], n_mutants)) {
                    fprintf(stderr, "schema_samples: writing %s failed\n", out_path);
                    failed = true;
                }
                kw_gen_free(run[k]);
                run[k] = NULL;
                active--;
            }
        }
        for (int k = 0; k < parallel; k++)
            kw_gen_free(run[k]);
        free(schema);
        if (failed) goto done;
        const double dt = now() - t0;
        fprintf(stderr, "%s: %d samples, %ld tokens, %.2f s (%.0f tokens/s)\n", argv[si], n_samples,
                tokens, dt, tokens / (dt > 0 ? dt : 1));
    }
    rc = 0;
done:
    if (out && fclose(out) != 0) rc = 1;
    kw_engine_free(eng);
    kw_context_free(ctx);
    kw_model_free(model);
    return rc;
}
