/* grammar_bench.c - the cost of the grammar stage: generates N tokens with and without a grammar
 * (the built-in JSON grammar, a GBNF file, or a JSON Schema converted by kw_json_schema_to_gbnf)
 * and reports tg tokens/s for both and the time of kw_sampler_sample per token (which includes
 * the mask with a grammar): median and p99. The difference of the two is the mask's cost.
 *
 *   build/bench/grammar_bench MODEL.gguf [N=64] [GRAMMAR.gbnf | SCHEMA.json]
 *   (a file whose name ends in .json is a JSON Schema; docs/performance.md)
 */
#include "kaiwu.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Generates up to n tokens after a short prompt; fills times[] (seconds per sample call) and
 * returns the count generated; *secs gets the whole generation time (decode + sample). */
static int run(kw_model *model, const char *grammar, int n, double *times, double *secs) {
    kw_context_params cp = kw_context_default_params();
    cp.n_ctx = 512;
    kw_context *ctx = NULL;
    if (kw_context_create(model, &cp, &ctx) != KW_OK) return -1;
    kw_sampler_params sp = kw_sampler_default_params();
    sp.temperature = 1.0f;
    sp.seed = 1;
    sp.grammar = grammar;
    kw_sampler *smp = NULL;
    if (kw_sampler_create(model, &sp, &smp) != KW_OK) {
        kw_context_free(ctx);
        return -1;
    }
    kw_token prompt[64];
    int32_t np = 0;
    kw_tokenize(model, "Answer in JSON:", 15, true, false, prompt, 64, &np);
    if (kw_decode(ctx, prompt, NULL, np, NULL) != KW_OK)
        fprintf(stderr, "decode: %s\n", kw_last_error());
    int k = 0, row = np - 1; /* the prompt keeps only its last row */
    double t0 = kw_time_seconds();
    for (; k < n; k++, row = 0) {
        const float *logits = kw_get_logits(ctx, row);
        double a = kw_time_seconds();
        kw_token t = kw_sampler_sample(smp, logits);
        times[k] = kw_time_seconds() - a;
        if (t < 0 || kw_token_is_eog(model, t)) {
            if (t < 0) fprintf(stderr, "sample failed: %s\n", kw_last_error());
            break;
        }
        kw_sampler_accept(smp, t);
        if (kw_decode(ctx, &t, NULL, 1, NULL) != KW_OK) break;
    }
    *secs = kw_time_seconds() - t0;
    kw_sampler_free(smp);
    kw_context_free(ctx);
    return k;
}

static void report(const char *label, double *times, int k, double secs) {
    if (k <= 0) {
        printf("%s: nothing generated\n", label);
        return;
    }
    qsort(times, (size_t)k, sizeof *times, cmp_d);
    int p99 = (int)(0.99 * (k - 1) + 0.5);
    printf("%-12s %4d tokens, tg %.2f tokens/s, sample+mask per token: median %.3f ms, p99 %.3f "
           "ms\n",
           label, k, k / secs, times[k / 2] * 1e3, times[p99] * 1e3);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s MODEL.gguf [N] [GRAMMAR.gbnf]\n", argv[0]);
        return 2;
    }
    int n = argc > 2 ? atoi(argv[2]) : 64;
    if (n < 1 || n > 4096) n = 64;
    const char *grammar = kw_grammar_json();
    char *file = NULL;
    if (argc > 3) {
        FILE *f = fopen(argv[3], "rb");
        if (!f) return perror(argv[3]), 1;
        file = calloc(1, 1 << 20);
        if (!file || fread(file, 1, (1 << 20) - 1, f) == 0) return 1;
        fclose(f);
        grammar = file;
        const size_t len = strlen(argv[3]);
        if (len > 5 && strcmp(argv[3] + len - 5, ".json") == 0) {
            char *gbnf = NULL;
            if (kw_json_schema_to_gbnf(file, &gbnf) != KW_OK) {
                fprintf(stderr, "error: %s: %s\n", argv[3], kw_last_error());
                return 1;
            }
            free(file);
            grammar = file = gbnf; /* freed below like the file */
            printf("JSON Schema %s converted to GBNF (%zu bytes)\n", argv[3], strlen(gbnf));
        }
    }
    kw_model *model = NULL;
    if (kw_model_load(argv[1], NULL, &model) != KW_OK) {
        fprintf(stderr, "error: %s\n", kw_last_error());
        return 1;
    }
    double *times = malloc((size_t)n * sizeof *times);
    double t_create = kw_time_seconds();
    kw_grammar *g = NULL;
    if (kw_grammar_create(model, grammar, NULL, &g) != KW_OK) {
        fprintf(stderr, "error: %s\n", kw_last_error());
        return 1;
    }
    t_create = kw_time_seconds() - t_create;
    kw_grammar_free(g);
    printf("model %s, vocabulary %d, grammar compile + token trie %.1f ms\n", argv[1],
           kw_model_n_vocab(model), t_create * 1e3);
    double secs = 0;
    int k = run(model, NULL, n, times, &secs);
    report("no grammar", times, k, secs);
    k = run(model, grammar, n, times, &secs);
    report("grammar", times, k, secs);
    free(times);
    free(file);
    kw_model_free(model);
    return 0;
}
