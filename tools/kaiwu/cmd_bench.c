/* cmd_bench.c - `kaiwu bench`: prompt-processing (pp) and decode (tg) speed of models, next to this
 * machine's ceilings measured in the same run (memory read bandwidth and int8 peak, right before
 * and after each model runs), so every speed is also a fraction of what the hardware allows.
 *
 *   pp: p random token ids as ONE kw_decode batch on a cleared context; the time of that call.
 *   tg: n tokens one kw_decode at a time after a 4-token prompt (untimed); the time of the n.
 *   -d DEPTH (llama-bench's -d): both start from a cache already holding DEPTH random tokens
 *     (evaluated once, untimed; each run truncates back to them).
 *   Each is run 1 (warm-up) + REPS times; the median and min-max of tokens/s are reported.
 *   Ceilings (best of the before/after probes):
 *     tg % of bandwidth = bytes read per token x tg / read bandwidth, where bytes per token are
 *       kw_model_weight_bytes minus token_embd.weight's bytes (decode reads one row of it), except
 *       when the output is tied to token_embd (no output.weight): then the output projection
 *       reads the whole table every token and nothing is subtracted; plus the KV cache a token
 *       reads (kw_context_kv_bytes_read) at the middle of the tg run (DEPTH + 4 + n/2 cached).
 *     pp % of int8 peak = 2 x matmul parameters x pp / int8 peak, where matmul parameters are
 *       kw_model_n_params minus token_embd's and output.weight's (only the last row's logits are
 *       computed in a pp batch); attention scores and all non-matmul work are not counted.
 *
 * Relies on: kaiwu.h and cli.h only. Must not: be run by `make test` (it takes minutes) or assert
 * anything about speed.
 */
#include "cli.h"

#include <errno.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum { MAX_MODELS = 32, MAX_THREAD_COUNTS = 16, MAX_REPS = 1000 };

typedef struct bench_opts {
    const char *models[MAX_MODELS];
    int n_models;
    int32_t n_prompt, n_gen, reps;
    int32_t depth;         /* -d: tokens in the cache before pp and tg */
    cli_cache_types cache; /* -ctk / -ctv */
    int32_t threads[MAX_THREAD_COUNTS];
    int n_threads;
    bool json, bandwidth_only, peak_only;
    int32_t bw_mib;     /* bandwidth probe buffer */
    float peak_seconds; /* int8 peak probe duration */
} bench_opts;

/* Sizes taken from the file itself (kaiwu.h gives totals; the embedding rule needs its parts). */
typedef struct model_facts {
    char type[32]; /* "Q4_K_M" from general.file_type */
    uint64_t embd_bytes, embd_params;
    bool has_output; /* output.weight present (not tied) */
    uint64_t output_params;
} model_facts;

typedef struct stat3 {
    double med, min, max; /* tokens/s */
} stat3;

typedef struct bench_row {
    const char *path;
    model_facts facts;
    uint64_t file_bytes, weight_bytes, bytes_per_token, mm_params;
    uint64_t kv_bytes_per_token; /* KV cache read per tg token (middle of the run) */
    int threads;
    stat3 pp, tg;
    double bw_before, bw_after, peak_before, peak_after; /* GB/s, ops/s */
    const char *isa;
    uint64_t peak_rss;
} bench_row;

static void print_help(void) {
    printf(
        "usage: kaiwu bench -m MODEL.gguf [-m MODEL2.gguf ...] [options]\n"
        "       kaiwu bench --bandwidth | --peak [-t 1,2]\n"
        "\n"
        "Measures prompt processing (pp: -p random tokens as one batch on a cleared context) and\n"
        "decode (tg: -n tokens one at a time after a 4-token prompt) in tokens/s: the median and\n"
        "min-max of REPS runs after one warm-up; with -d both run after DEPTH cached tokens. "
        "Before and after each model's runs, for each "
        "thread\n"
        "count, it measures this machine's read bandwidth and int8 dot-product peak, and reports\n"
        "  tg %%bw   = bytes/token x tg / bandwidth, bytes/token = weight bytes minus "
        "token_embd's\n"
        "             (decode reads one row of it), unless the output is tied to token_embd (then\n"
        "             the output projection reads all of it each token: nothing is subtracted),\n"
        "             plus the KV cache one tg token reads (at DEPTH + 4 + n/2 cached tokens);\n"
        "  pp %%peak = 2 x params x pp / int8 peak, params = all minus token_embd and "
        "output.weight\n"
        "             (pp computes logits for the last token only); attention scores not counted.\n"
        "\n"
        "options:\n"
        "  -m, --model PATH     a GGUF model (repeat for several)\n"
        "  -p, --n-prompt N     pp batch size (default 512)\n"
        "  -n, --n-gen N        tg tokens (default 128)\n"
        "  -d, --n-depth N      tokens already in the KV cache before pp and tg (default 0)\n"
        "  -ctk, --cache-type-k T, -ctv, --cache-type-v T\n"
        "                       KV cache types: f16 (default), f32, q8_0\n"
        "  -t, --threads LIST   comma-separated thread counts (default 1,<cores>)\n"
        "  -r, --reps N         measured repetitions (default 5), after 1 warm-up\n"
        "  --json               one JSON object per line instead of the table\n"
        "  --bandwidth          only the read-bandwidth probe (1 and <cores> threads, or -t)\n"
        "  --peak               only the int8, f32 and bf16 peak probes\n"
        "  --bw-mib N           bandwidth probe buffer in MiB (default 1024)\n"
        "  --peak-seconds S     duration of each peak probe (default 0.5)\n"
        "\n"
        "The command line, CPU features, date and load average are printed first; progress goes "
        "to\n"
        "stderr. Peak RSS is the process's high-water mark over the model's runs (reset before\n"
        "them when /proc/self/clear_refs allows, so the probe buffer is not counted).\n");
}

/* ------------------------------------------------------------------------------------------------
 * Options
 * ---------------------------------------------------------------------------------------------- */

static bool parse_threads(const char *s, bench_opts *o) {
    char buf[256];
    snprintf(buf, sizeof buf, "%s", s);
    o->n_threads = 0;
    for (char *sp = NULL, *tok = strtok_r(buf, ",", &sp); tok; tok = strtok_r(NULL, ",", &sp)) {
        if (o->n_threads == MAX_THREAD_COUNTS) {
            cli_usage_error("bench", "-t: more than %d thread counts", MAX_THREAD_COUNTS);
            return false;
        }
        if (!cli_parse_i32("bench", "-t", tok, 1, KW_MAX_THREADS, &o->threads[o->n_threads++]))
            return false;
    }
    if (o->n_threads == 0) {
        cli_usage_error("bench", "-t: empty thread list");
        return false;
    }
    return true;
}

/* Returns -1 on success, else the exit code. */
static int parse_args(int argc, char **argv, bench_opts *o) {
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    *o = (bench_opts){.n_prompt = 512,
                      .n_gen = 128,
                      .reps = 5,
                      .bw_mib = 1024,
                      .peak_seconds = 0.5f,
                      .cache = cli_cache_default()};
    o->threads[o->n_threads++] = 1;
    if (cores > 1)
        o->threads[o->n_threads++] = (int32_t)(cores > KW_MAX_THREADS ? KW_MAX_THREADS : cores);
    for (int i = 1; i < argc; i++) {
        const char *v = NULL;
        int r;
        if (cli_is_help(argv[i])) {
            print_help();
            return CLI_EXIT_OK;
        }
        if (strcmp(argv[i], "--json") == 0)
            o->json = true;
        else if (strcmp(argv[i], "--bandwidth") == 0)
            o->bandwidth_only = true;
        else if (strcmp(argv[i], "--peak") == 0)
            o->peak_only = true;
        else if ((r = cli_opt_value("bench", argc, argv, &i, "--model", "-m", &v)) != 0) {
            if (r < 0) return CLI_EXIT_USAGE;
            if (o->n_models == MAX_MODELS)
                return cli_usage_error("bench", "more than %d models", MAX_MODELS);
            o->models[o->n_models++] = v;
        } else if ((r = cli_opt_value("bench", argc, argv, &i, "--n-prompt", "-p", &v)) != 0) {
            if (r < 0 || !cli_parse_i32("bench", "-p", v, 1, 1 << 20, &o->n_prompt))
                return CLI_EXIT_USAGE;
        } else if ((r = cli_opt_value("bench", argc, argv, &i, "--n-gen", "-n", &v)) != 0) {
            if (r < 0 || !cli_parse_i32("bench", "-n", v, 1, 1 << 20, &o->n_gen))
                return CLI_EXIT_USAGE;
        } else if ((r = cli_opt_value("bench", argc, argv, &i, "--n-depth", "-d", &v)) != 0) {
            if (r < 0 || !cli_parse_i32("bench", "-d", v, 0, 1 << 24, &o->depth))
                return CLI_EXIT_USAGE;
        } else if ((r = cli_opt_value("bench", argc, argv, &i, "--cache-type-k", "-ctk", &v)) !=
                   0) {
            if (r < 0 || !cli_parse_cache_type("bench", "--cache-type-k", v, &o->cache.k))
                return CLI_EXIT_USAGE;
        } else if ((r = cli_opt_value("bench", argc, argv, &i, "--cache-type-v", "-ctv", &v)) !=
                   0) {
            if (r < 0 || !cli_parse_cache_type("bench", "--cache-type-v", v, &o->cache.v))
                return CLI_EXIT_USAGE;
        } else if ((r = cli_opt_value("bench", argc, argv, &i, "--reps", "-r", &v)) != 0) {
            if (r < 0 || !cli_parse_i32("bench", "-r", v, 1, MAX_REPS, &o->reps))
                return CLI_EXIT_USAGE;
        } else if ((r = cli_opt_value("bench", argc, argv, &i, "--threads", "-t", &v)) != 0) {
            if (r < 0 || !parse_threads(v, o)) return CLI_EXIT_USAGE;
        } else if ((r = cli_opt_value("bench", argc, argv, &i, "--bw-mib", NULL, &v)) != 0) {
            if (r < 0 || !cli_parse_i32("bench", "--bw-mib", v, 1, 1 << 20, &o->bw_mib))
                return CLI_EXIT_USAGE;
        } else if ((r = cli_opt_value("bench", argc, argv, &i, "--peak-seconds", NULL, &v)) != 0) {
            if (r < 0 ||
                !cli_parse_float("bench", "--peak-seconds", v, 0.001f, 600, &o->peak_seconds))
                return CLI_EXIT_USAGE;
        } else {
            return cli_usage_error("bench", "unknown option '%s'", argv[i]);
        }
    }
    if (!o->n_models && !o->bandwidth_only && !o->peak_only)
        return cli_usage_error("bench", "no model: give -m MODEL.gguf (or --bandwidth / --peak)");
    return -1;
}

/* ------------------------------------------------------------------------------------------------
 * Measuring
 * ---------------------------------------------------------------------------------------------- */

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static stat3 summarize(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    stat3 s = {n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]), v[0], v[n - 1]};
    return s;
}

/* Resets the peak-RSS high-water mark to the current RSS (Linux >= 4.0); false when not allowed. */
static bool reset_peak_rss(void) {
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (!f) return false;
    bool ok = fputs("5", f) >= 0;
    return fclose(f) == 0 && ok;
}

static kw_status read_facts(const char *path, model_facts *mf) {
    kw_gguf *g;
    kw_status st = kw_gguf_open(path, &g);
    if (st != KW_OK) return st;
    *mf = (model_facts){.type = "?"};
    for (int64_t i = 0; i < kw_gguf_n_tensors(g); i++) {
        kw_tensor_info ti;
        if (kw_gguf_tensor(g, i, &ti) != KW_OK) continue;
        uint64_t n =
            (uint64_t)ti.ne[0] * (uint64_t)ti.ne[1] * (uint64_t)ti.ne[2] * (uint64_t)ti.ne[3];
        if (strcmp(ti.name, "token_embd.weight") == 0) {
            mf->embd_bytes = ti.n_bytes;
            mf->embd_params = n;
        } else if (strcmp(ti.name, "output.weight") == 0) {
            mf->has_output = true;
            mf->output_params = n;
        }
    }
    static const struct {
        int id;
        const char *name;
    } ftypes[] = {
        {0, "F32"},     {1, "F16"},     {2, "Q4_0"},    {3, "Q4_1"},    {7, "Q8_0"},
        {8, "Q5_0"},    {9, "Q5_1"},    {10, "Q2_K"},   {11, "Q3_K_S"}, {12, "Q3_K_M"},
        {13, "Q3_K_L"}, {14, "Q4_K_S"}, {15, "Q4_K_M"}, {16, "Q5_K_S"}, {17, "Q5_K_M"},
        {18, "Q6_K"},   {32, "BF16"},
    };
    for (int64_t i = 0; i < kw_gguf_n_kv(g); i++) {
        if (strcmp(kw_gguf_kv_key(g, i), "general.file_type") != 0) continue;
        char buf[32];
        kw_gguf_kv_format(g, i, buf, sizeof buf, 1);
        int id = atoi(buf);
        snprintf(mf->type, sizeof mf->type, "ftype %d", id);
        for (size_t k = 0; k < sizeof ftypes / sizeof ftypes[0]; k++)
            if (ftypes[k].id == id) snprintf(mf->type, sizeof mf->type, "%s", ftypes[k].name);
    }
    kw_gguf_close(g);
    return KW_OK;
}

static uint64_t rng_next(uint64_t *s) {
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return *s >> 33;
}

/* Leaves exactly the first `depth` positions in the cache: truncates back to them, or (first
 * call, or a sliding-window ring that no longer holds them) evaluates depth random ids afresh,
 * untimed. */
static kw_status set_depth(kw_context *ctx, int32_t depth, int32_t n_vocab) {
    kw_context_truncate(ctx, depth);
    if (kw_context_n_past(ctx) == depth) return KW_OK;
    kw_context_truncate(ctx, 0);
    uint64_t rng = 1234;
    enum { CHUNK = 512 };
    kw_token toks[CHUNK];
    for (int32_t done = 0; done < depth;) {
        const int32_t n = depth - done < CHUNK ? depth - done : CHUNK;
        for (int32_t i = 0; i < n; i++)
            toks[i] = (kw_token)(rng_next(&rng) % (uint64_t)n_vocab);
        fprintf(stderr, "\rbench:   depth %d/%d ", done, depth);
        kw_status st = kw_decode(ctx, toks, NULL, n, NULL);
        if (st != KW_OK) return st;
        done += n;
    }
    return KW_OK;
}

/* pp: one batch of n_prompt random ids on a cleared cache (holding only the depth tokens); fills
 * speeds[reps]. */
static kw_status run_pp(kw_context *ctx, const bench_opts *o, kw_token *toks, int32_t n_vocab,
                        double *speeds) {
    uint64_t rng = 42;
    for (int r = -1; r < o->reps; r++) {
        for (int32_t i = 0; i < o->n_prompt; i++)
            toks[i] = (kw_token)(rng_next(&rng) % (uint64_t)n_vocab);
        kw_status st = set_depth(ctx, o->depth, n_vocab);
        if (st != KW_OK) return st;
        fprintf(stderr, "\rbench:   pp %s %d/%d ", r < 0 ? "warm-up" : "run", r + 1, o->reps);
        double t0 = kw_time_seconds();
        st = kw_decode(ctx, toks, NULL, o->n_prompt, NULL);
        double dt = kw_time_seconds() - t0;
        if (st != KW_OK) return st;
        if (r >= 0) speeds[r] = o->n_prompt / dt;
    }
    return KW_OK;
}

/* tg: 4-token prompt (untimed), then n_gen single-token decodes; fills speeds[reps]. */
static kw_status run_tg(kw_context *ctx, const bench_opts *o, kw_token *toks, int32_t n_vocab,
                        double *speeds) {
    uint64_t rng = 7;
    for (int r = -1; r < o->reps; r++) {
        for (int32_t i = 0; i < 4; i++)
            toks[i] = (kw_token)(rng_next(&rng) % (uint64_t)n_vocab);
        kw_status st = set_depth(ctx, o->depth, n_vocab);
        if (st == KW_OK) st = kw_decode(ctx, toks, NULL, 4, NULL);
        if (st != KW_OK) return st;
        fprintf(stderr, "\rbench:   tg %s %d/%d ", r < 0 ? "warm-up" : "run", r + 1, o->reps);
        double t0 = kw_time_seconds();
        for (int32_t i = 0; i < o->n_gen; i++) {
            kw_token t = (kw_token)(rng_next(&rng) % (uint64_t)n_vocab);
            if ((st = kw_decode(ctx, &t, NULL, 1, NULL)) != KW_OK) return st;
        }
        double dt = kw_time_seconds() - t0;
        if (r >= 0) speeds[r] = o->n_gen / dt;
    }
    return KW_OK;
}

static void probe(const bench_opts *o, int threads, double *bw, double *peak, const char **isa) {
    fprintf(stderr, "\rbench:   probes (%d threads)...      ", threads);
    *bw = kw_probe_read_bandwidth(threads, (size_t)o->bw_mib << 20, 5);
    *peak = kw_probe_int8_peak(threads, o->peak_seconds, isa);
}

static kw_status bench_one(kw_model *model, const bench_opts *o, int threads, bench_row *row) {
    probe(o, threads, &row->bw_before, &row->peak_before, &row->isa);
    kw_context_params cp = kw_context_default_params();
    cp.n_ctx = o->depth + (o->n_prompt > o->n_gen + 4 ? o->n_prompt : o->n_gen + 4) + 16;
    cp.n_batch = o->n_prompt;
    cp.n_threads = threads;
    cp.cache_type_k = o->cache.k, cp.cache_type_v = o->cache.v;
    reset_peak_rss();
    kw_context *ctx = NULL;
    kw_token *toks = malloc((size_t)o->n_prompt * sizeof *toks + 16 * sizeof *toks);
    double *pp = calloc((size_t)o->reps, sizeof *pp), *tg = calloc((size_t)o->reps, sizeof *tg);
    kw_status st = KW_ERR_NOMEM;
    if (!toks || !pp || !tg) goto out;
    if ((st = kw_context_create(model, &cp, &ctx)) != KW_OK) goto out;
    int32_t n_vocab = kw_model_n_vocab(model);
    row->kv_bytes_per_token = kw_context_kv_bytes_read(ctx, o->depth + 4 + o->n_gen / 2);
    if ((st = run_pp(ctx, o, toks, n_vocab, pp)) != KW_OK) goto out;
    if ((st = run_tg(ctx, o, toks, n_vocab, tg)) != KW_OK) goto out;
    row->peak_rss = kw_peak_rss_bytes();
    row->pp = summarize(pp, o->reps);
    row->tg = summarize(tg, o->reps);
    row->threads = threads;
    kw_context_free(ctx);
    ctx = NULL;
    probe(o, threads, &row->bw_after, &row->peak_after, &row->isa);
out:
    kw_context_free(ctx);
    free(toks);
    free(pp);
    free(tg);
    fputc('\n', stderr);
    return st;
}

/* ------------------------------------------------------------------------------------------------
 * Output
 * ---------------------------------------------------------------------------------------------- */

static double max2(double a, double b) { return a > b ? a : b; }

static void print_preamble(int argc, char **argv, bool json) {
    char cmdline[4096] = "kaiwu";
    for (int i = 0; i < argc; i++) {
        size_t len = strlen(cmdline);
        snprintf(cmdline + len, sizeof cmdline - len, " %s", argv[i]);
    }
    char date[64] = "?", load[64] = "?";
    time_t now = time(NULL);
    strftime(date, sizeof date, "%Y-%m-%d %H:%M:%S %Z", localtime(&now));
    FILE *f = fopen("/proc/loadavg", "r");
    if (f) {
        if (!fgets(load, sizeof load, f)) snprintf(load, sizeof load, "?");
        load[strcspn(load, "\n")] = 0;
        fclose(f);
    }
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    if (json) {
        printf("{\"command\": \"%s\", \"date\": \"%s\", \"cpu_features\": \"%s\", \"cores\": %ld, "
               "\"loadavg\": \"%s\", \"version\": \"%s\"}\n",
               cmdline, date, kw_cpu_features(), cores, load, KW_VERSION);
        return;
    }
    printf("command: %s\nkaiwu %s, %s, %ld cores (%s), load average %s\n\n", cmdline, KW_VERSION,
           date, cores, kw_cpu_features(), load);
}

static void print_table_header(const bench_opts *o) {
    char at[32] = "";
    if (o->depth > 0) snprintf(at, sizeof at, " @ d%d", o->depth);
    printf("| model | type | KV cache | MB/token (weights + KV) | threads | pp%d%s t/s (min-max) | "
           "tg%d%s t/s (min-max) | read GB/s | int8 Gop/s | tg %% of bw | pp %% of peak | peak RSS "
           "MiB |\n",
           o->n_prompt, at, o->n_gen, at);
    printf("|---|---|---|---|---|---|---|---|---|---|---|---|\n");
}

static void print_row(const bench_row *r, const bench_opts *o) {
    const bool json = o->json;
    const uint64_t bpt = r->bytes_per_token + r->kv_bytes_per_token;
    double bw = max2(r->bw_before, r->bw_after), peak = max2(r->peak_before, r->peak_after);
    double tg_pct = bw > 0 ? 100.0 * (double)bpt * r->tg.med / (bw * 1e9) : 0;
    char cache[16];
    snprintf(cache, sizeof cache, "%s/%s", kw_cache_type_name(o->cache.k),
             kw_cache_type_name(o->cache.v));
    double pp_pct = peak > 0 ? 100.0 * 2.0 * (double)r->mm_params * r->pp.med / peak : 0;
    const char *base = strrchr(r->path, '/');
    base = base ? base + 1 : r->path;
    if (json) {
        printf("{\"model\": \"%s\", \"type\": \"%s\", \"threads\": %d, \"depth\": %d, "
               "\"cache_type\": \"%s\", \"bytes_per_token\": %llu, \"weight_bytes_per_token\": "
               "%llu, \"kv_bytes_per_token\": %llu, "
               "\"matmul_params\": %llu, \"pp_tps\": {\"median\": %.3f, \"min\": %.3f, \"max\": "
               "%.3f}, "
               "\"tg_tps\": {\"median\": %.3f, \"min\": %.3f, \"max\": %.3f}, "
               "\"read_gbs\": {\"before\": %.3f, \"after\": %.3f}, "
               "\"int8_ops\": {\"before\": %.4g, \"after\": %.4g, \"isa\": \"%s\"}, "
               "\"tg_pct_bw\": %.2f, \"pp_pct_peak\": %.3f, \"peak_rss_bytes\": %llu}\n",
               r->path, r->facts.type, r->threads, o->depth, cache, (unsigned long long)bpt,
               (unsigned long long)r->bytes_per_token, (unsigned long long)r->kv_bytes_per_token,
               (unsigned long long)r->mm_params, r->pp.med, r->pp.min, r->pp.max, r->tg.med,
               r->tg.min, r->tg.max, r->bw_before, r->bw_after, r->peak_before, r->peak_after,
               r->isa, tg_pct, pp_pct, (unsigned long long)r->peak_rss);
    } else {
        printf("| %s | %s | %s | %.1f + %.1f | %d | %.2f (%.2f-%.2f) | %.2f (%.2f-%.2f) | %.1f / "
               "%.1f | %.0f / %.0f | %.1f%% | %.2f%% | %.0f |\n",
               base, r->facts.type, cache, (double)r->bytes_per_token * 1e-6,
               (double)r->kv_bytes_per_token * 1e-6, r->threads, r->pp.med, r->pp.min, r->pp.max,
               r->tg.med, r->tg.min, r->tg.max, r->bw_before, r->bw_after, r->peak_before * 1e-9,
               r->peak_after * 1e-9, tg_pct, pp_pct, (double)r->peak_rss / (1024.0 * 1024.0));
    }
    fflush(stdout);
}

static int probes_only(const bench_opts *o) {
    if (!o->json)
        printf("| threads | read GB/s | int8 Gop/s (isa) | f32 GFLOP/s (isa) | bf16 GFLOP/s (isa) "
               "|\n|---|---|---|---|---|\n");
    for (int i = 0; i < o->n_threads; i++) {
        int t = o->threads[i];
        double bw = 0, i8 = 0, f32 = 0, bf16 = 0;
        const char *isa8 = "-", *isaf = "-", *isab = "-";
        fprintf(stderr, "bench: probes on %d threads\n", t);
        bool want_bw = o->bandwidth_only || !o->peak_only,
             want_peak = o->peak_only || !o->bandwidth_only;
        if (want_bw) bw = kw_probe_read_bandwidth(t, (size_t)o->bw_mib << 20, 5);
        if (want_peak) {
            i8 = kw_probe_int8_peak(t, o->peak_seconds, &isa8);
            f32 = kw_probe_f32_peak(t, o->peak_seconds, &isaf);
            bf16 = kw_probe_bf16_peak(t, o->peak_seconds, &isab);
        }
        if (o->json)
            printf(
                "{\"threads\": %d, \"read_gbs\": %.3f, \"int8_ops\": %.4g, \"int8_isa\": \"%s\", "
                "\"f32_flops\": %.4g, \"f32_isa\": \"%s\", \"bf16_flops\": %.4g, \"bf16_isa\": "
                "\"%s\"}\n",
                t, bw, i8, isa8, f32, isaf, bf16, isab);
        else
            printf("| %d | %.2f | %.1f (%s) | %.1f (%s) | %.1f (%s) |\n", t, bw, i8 * 1e-9, isa8,
                   f32 * 1e-9, isaf, bf16 * 1e-9, isab);
        fflush(stdout);
    }
    return CLI_EXIT_OK;
}

/* ------------------------------------------------------------------------------------------------
 * Entry
 * ---------------------------------------------------------------------------------------------- */

static int bench_model(const bench_opts *o, const char *path) {
    bench_row row = {.path = path};
    if (read_facts(path, &row.facts) != KW_OK) return cli_api_error();
    kw_model *model;
    fprintf(stderr, "bench: loading %s\n", path);
    if (kw_model_load(path, NULL, &model) != KW_OK) return cli_api_error();
    row.weight_bytes = kw_model_weight_bytes(model);
    /* the rules of the file header comment */
    row.bytes_per_token = row.weight_bytes - (row.facts.has_output ? row.facts.embd_bytes : 0);
    row.mm_params = kw_model_n_params(model) - row.facts.embd_params - row.facts.output_params;
    for (int i = 0; i < o->n_threads; i++) {
        fprintf(stderr, "bench: %s, %d threads\n", path, o->threads[i]);
        if (bench_one(model, o, o->threads[i], &row) != KW_OK) {
            kw_model_free(model);
            return cli_api_error();
        }
        print_row(&row, o);
    }
    kw_model_free(model);
#if defined(__GLIBC__)
    /* hand the heap the model's vocabulary and metadata used back to the system: otherwise the
     * next model's peak RSS counts this one's freed, retained heap (16 MiB after a 150k-token
     * vocabulary) */
    malloc_trim(0);
#endif
    return CLI_EXIT_OK;
}

int cmd_bench(int argc, char **argv) {
    bench_opts o;
    int rc = parse_args(argc, argv, &o);
    if (rc >= 0) return rc;
    print_preamble(argc, argv, o.json);
    if (o.bandwidth_only || o.peak_only) return probes_only(&o);
    if (!o.json) print_table_header(&o);
    for (int i = 0; i < o.n_models; i++)
        if ((rc = bench_model(&o, o.models[i])) != CLI_EXIT_OK) return rc;
    if (!o.json)
        printf("\nMB/token: weight bytes + KV cache bytes read per decoded token; read GB/s and "
               "int8 Gop/s: probes "
               "before / "
               "after the runs (the better one is the ceiling); see 'kaiwu bench --help'.\n");
    return CLI_EXIT_OK;
}
