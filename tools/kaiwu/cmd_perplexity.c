/* cmd_perplexity.c - `kaiwu perplexity`: perplexity of a model over a text, and with --kl-base the
 * KL divergence and top-1 agreement against a base model's saved logits.
 *
 * Method (as llama.cpp's perplexity tool): the text is tokenized once (no special tokens) and cut
 * into non-overlapping chunks of -c tokens; each chunk starts a fresh cache and its first token is
 * replaced by BOS when the model adds one. Only the second half of each chunk is scored: the
 * logits at positions j = c/2 .. c-2 predict token j+1, so every scored token has seen at least
 * c/2 tokens of context. NLL = logsumexp(logits) - logit[target]; PPL = exp(mean NLL); the error
 * bar is PPL times the standard error of the mean NLL (delta method).
 *
 * Saved logits (--save-logits FILE; little-endian):
 *   offset size  meaning
 *   0      8     magic "KWLOGIT1"
 *   8      4     u32 n_vocab
 *   12     4     u32 n_ctx (the -c used)
 *   16     4     u32 K (entries per position; K = n_vocab means the full distribution)
 *   20     4     u32 first scored position in a chunk (c/2)
 *   24     8     u64 number of records
 *   32     ...   records, one per scored position, 12 + 8K bytes each:
 *                i32 target token, f32 NLL, f32 logsumexp of the logits,
 *                K x (i32 token id, f32 logit) in decreasing logit order (ties: lower id first)
 * KL(base || model) per position is computed over the base's top K tokens plus one bucket for
 * all others (p_rest log(p_rest / q_rest)); merging tokens can only lower KL, so with K < n_vocab
 * the value is a lower bound, exact when K = n_vocab (--save-top-k 0).
 *
 * Relies on: kaiwu.h and cli.h only. Must not: include src/ headers, or write --save-logits other
 * than through a kw_outfile (it refuses the model or the text as output, and an interrupted run
 * leaves no partial file).
 */
#include "cli.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct ppl_opts {
    const char *model_path, *text_path, *save_path, *kl_path;
    int32_t n_ctx, n_threads, max_chunks, top_k;
    cli_cache_types cache; /* -ctk / -ctv */
} ppl_opts;

static void ppl_usage(FILE *f) {
    fputs(
        "usage: kaiwu perplexity -m MODEL.gguf -f TEXT [options]\n"
        "\n"
        "Perplexity over non-overlapping chunks of -c tokens. Each chunk starts with BOS (when "
        "the\n"
        "model uses one) and only its second half is scored (positions c/2 .. c-1 predicted from\n"
        "at least c/2 tokens of context), as llama.cpp's perplexity tool does. A running estimate\n"
        "with its error bar (standard error of the mean NLL) is printed per chunk.\n"
        "\n"
        "options:\n"
        "  -m, --model PATH        GGUF model (required)\n"
        "  -f, --file PATH         the text ('-' for stdin; required)\n"
        "  -c, --ctx-size N        tokens per chunk (default 512)\n"
        "  --chunks N              score at most N chunks (default: all)\n"
        "  -t, --threads N         worker threads (default: all cores)\n"
        "  -ctk, --cache-type-k T  KV cache type of the keys: f16 (default), f32, q8_0\n"
        "  -ctv, --cache-type-v T  KV cache type of the values: f16 (default), f32, q8_0\n"
        "  --save-logits FILE      save each scored position's top-K logits, logsumexp and NLL\n"
        "                          (format in docs/quantization.md) for a later --kl-base\n"
        "  --save-top-k K          logits kept per position (default 32; 0 = all)\n"
        "  --kl-base FILE          compare with a base model's --save-logits file on the same\n"
        "                          text and -c: KL divergence (mean, error, 99th percentile,\n"
        "                          max), top-1 agreement, the base's perplexity and the ratio\n"
        "  -h, --help              show this help\n"
        "\n"
        "example: kaiwu perplexity -m f16.gguf -f text.txt --save-logits f16.logits\n"
        "         kaiwu perplexity -m q4_k_m.gguf -f text.txt --kl-base f16.logits\n",
        f);
}

static int parse_args(int argc, char **argv, ppl_opts *o) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = NULL;
        int r = 0;
        if (cli_is_help(a)) return ppl_usage(stdout), -1;
#define OPT(name, short_name)                                                                      \
    ((r = cli_opt_value("perplexity", argc, argv, &i, name, short_name, &v)) != 0)
        if (OPT("--model", "-m"))
            o->model_path = v;
        else if (OPT("--file", "-f"))
            o->text_path = v;
        else if (OPT("--save-logits", NULL))
            o->save_path = v;
        else if (OPT("--kl-base", NULL))
            o->kl_path = v;
        else if (OPT("--ctx-size", "-c")) {
            if (r > 0 && !cli_parse_i32("perplexity", "--ctx-size", v, 8, 1 << 20, &o->n_ctx))
                return CLI_EXIT_USAGE;
        } else if (OPT("--chunks", NULL)) {
            if (r > 0 && !cli_parse_i32("perplexity", "--chunks", v, 1, 1 << 30, &o->max_chunks))
                return CLI_EXIT_USAGE;
        } else if (OPT("--threads", "-t")) {
            if (r > 0 &&
                !cli_parse_i32("perplexity", "--threads", v, 1, KW_MAX_THREADS, &o->n_threads))
                return CLI_EXIT_USAGE;
        } else if (OPT("--cache-type-k", "-ctk")) {
            if (r > 0 && !cli_parse_cache_type("perplexity", "--cache-type-k", v, &o->cache.k))
                return CLI_EXIT_USAGE;
        } else if (OPT("--cache-type-v", "-ctv")) {
            if (r > 0 && !cli_parse_cache_type("perplexity", "--cache-type-v", v, &o->cache.v))
                return CLI_EXIT_USAGE;
        } else if (OPT("--save-top-k", NULL)) {
            if (r > 0 && !cli_parse_i32("perplexity", "--save-top-k", v, 0, 1 << 30, &o->top_k))
                return CLI_EXIT_USAGE;
        } else
            return cli_usage_error("perplexity", "unknown argument '%s'", a);
#undef OPT
        if (r < 0) return CLI_EXIT_USAGE;
    }
    if (!o->model_path) return cli_usage_error("perplexity", "missing -m MODEL");
    if (!o->text_path) return cli_usage_error("perplexity", "missing -f TEXT");
    return 0;
}

/* ---------------------------------------------------------------- logits files */

typedef struct logits_header {
    uint32_t n_vocab, n_ctx, k, first;
    uint64_t n_records;
} logits_header;

typedef struct logits_rec {
    int32_t target;
    float nll, lse;
    int32_t *ids; /* k */
    float *vals;  /* k */
} logits_rec;

static bool write_header(FILE *f, const logits_header *h) {
    uint32_t u[4] = {h->n_vocab, h->n_ctx, h->k, h->first};
    return fseek(f, 0, SEEK_SET) == 0 && fwrite("KWLOGIT1", 1, 8, f) == 8 &&
           fwrite(u, 4, 4, f) == 4 && fwrite(&h->n_records, 8, 1, f) == 1;
}

static bool read_header(FILE *f, logits_header *h) {
    char magic[8];
    uint32_t u[4];
    if (fread(magic, 1, 8, f) != 8 || memcmp(magic, "KWLOGIT1", 8) != 0) return false;
    if (fread(u, 4, 4, f) != 4 || fread(&h->n_records, 8, 1, f) != 1) return false;
    h->n_vocab = u[0], h->n_ctx = u[1], h->k = u[2], h->first = u[3];
    return h->k >= 1 && h->k <= h->n_vocab;
}

static bool write_rec(FILE *f, const logits_rec *r, uint32_t k) {
    bool ok = fwrite(&r->target, 4, 1, f) == 1 && fwrite(&r->nll, 4, 1, f) == 1 &&
              fwrite(&r->lse, 4, 1, f) == 1;
    for (uint32_t i = 0; i < k && ok; i++)
        ok = fwrite(&r->ids[i], 4, 1, f) == 1 && fwrite(&r->vals[i], 4, 1, f) == 1;
    return ok;
}

static bool read_rec(FILE *f, logits_rec *r, uint32_t k, uint32_t n_vocab) {
    bool ok = fread(&r->target, 4, 1, f) == 1 && fread(&r->nll, 4, 1, f) == 1 &&
              fread(&r->lse, 4, 1, f) == 1;
    for (uint32_t i = 0; i < k && ok; i++)
        ok = fread(&r->ids[i], 4, 1, f) == 1 && fread(&r->vals[i], 4, 1, f) == 1 &&
             r->ids[i] >= 0 && (uint32_t)r->ids[i] < n_vocab;
    return ok && r->target >= 0 && (uint32_t)r->target < n_vocab;
}

/* The k largest logits, in decreasing order (ties: lower id first). */
static void top_k(const float *logits, int32_t n_vocab, uint32_t k, int32_t *ids, float *vals) {
    uint32_t n = 0;
    for (int32_t t = 0; t < n_vocab; t++) {
        float v = logits[t];
        if (n == k && !(v > vals[k - 1])) continue;
        uint32_t j = n < k ? n++ : k - 1;
        while (j > 0 && v > vals[j - 1]) {
            vals[j] = vals[j - 1];
            ids[j] = ids[j - 1];
            j--;
        }
        vals[j] = v;
        ids[j] = t;
    }
}

/* ---------------------------------------------------------------- statistics */

typedef struct ppl_stats {
    double nll_sum, nll_sum2; /* this model */
    double base_sum;          /* base NLL (with --kl-base) */
    double d_sum, d_sum2;     /* NLL - base NLL */
    double kl_sum, kl_sum2, kl_max;
    double *kls; /* every position's KL, for the percentile */
    int64_t n, n_top1;
} ppl_stats;

static double logsumexp(const float *x, int32_t n) {
    float m = x[0];
    for (int32_t i = 1; i < n; i++)
        m = x[i] > m ? x[i] : m;
    double s = 0;
    for (int32_t i = 0; i < n; i++)
        s += exp((double)x[i] - m);
    return m + log(s);
}

static int32_t argmax(const float *x, int32_t n) {
    int32_t b = 0;
    for (int32_t i = 1; i < n; i++)
        if (x[i] > x[b]) b = i;
    return b;
}

/* KL(base || this) at one position over the base's top k plus an "all others" bucket. */
static double kl_one(const logits_rec *b, uint32_t k, int32_t n_vocab, const float *logits,
                     double lse) {
    double kl = 0, p_top = 0, q_top = 0;
    /* with the whole distribution saved, renormalise in double rather than trust the f32 logsumexp
     */
    double lse_b = (int32_t)k == n_vocab ? logsumexp(b->vals, n_vocab) : b->lse;
    for (uint32_t i = 0; i < k; i++) {
        double lp = (double)b->vals[i] - lse_b, lq = (double)logits[b->ids[i]] - lse;
        double p = exp(lp);
        kl += p * (lp - lq);
        p_top += p;
        q_top += exp(lq);
    }
    double p_rest = 1 - p_top, q_rest = 1 - q_top;
    if (p_rest > 1e-9) kl += p_rest * log(p_rest / (q_rest > 1e-30 ? q_rest : 1e-30));
    return kl > 0 ? kl : 0;
}

static double se_of(double sum, double sum2, int64_t n) {
    if (n < 2) return 0;
    double m = sum / n, var = (sum2 / n - m * m) * n / (n - 1);
    return var > 0 ? sqrt(var / n) : 0;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void print_summary(ppl_stats *s, bool kl) {
    double m = s->nll_sum / s->n, se = se_of(s->nll_sum, s->nll_sum2, s->n);
    printf("tokens scored: %lld\n", (long long)s->n);
    printf("ppl: %.4f +/- %.4f\n", exp(m), exp(m) * se);
    if (!kl) return;
    double bm = s->base_sum / s->n, dm = s->d_sum / s->n;
    double p = (double)s->n_top1 / s->n;
    qsort(s->kls, (size_t)s->n, sizeof *s->kls, cmp_double);
    int64_t i99 = (int64_t)ceil(0.99 * s->n) - 1;
    printf("base ppl: %.4f\n", exp(bm));
    printf("ln(ppl/base ppl): %.6f +/- %.6f\n", dm, se_of(s->d_sum, s->d_sum2, s->n));
    printf("kl mean: %.6f +/- %.6f\n", s->kl_sum / s->n, se_of(s->kl_sum, s->kl_sum2, s->n));
    printf("kl 99%%: %.6f\nkl max: %.6f\n", s->kls[i99 < 0 ? 0 : i99], s->kl_max);
    printf("top1 agreement: %.3f%% +/- %.3f%%\n", 100 * p, 100 * sqrt(p * (1 - p) / s->n));
}

/* ---------------------------------------------------------------- the run */

typedef struct ppl_run {
    ppl_opts *o;
    kw_model *model;
    kw_context *ctx;
    kw_token *tok;
    int32_t n_tok, n_vocab, first;
    kw_outfile *save_out; /* --save-logits: a temporary file renamed into place when complete */
    FILE *save, *base;    /* save: borrowed from save_out */
    logits_header sh, bh;
    logits_rec rec, brec;
    bool *want;
    ppl_stats st;
} ppl_run;

/* Scores one position: NLL, then the saved record and the comparison with the base. */
static int score(ppl_run *r, const float *logits, kw_token target) {
    double lse = logsumexp(logits, r->n_vocab), nll = lse - logits[target];
    ppl_stats *s = &r->st;
    s->nll_sum += nll;
    s->nll_sum2 += nll * nll;
    if (r->save) {
        r->rec.target = target, r->rec.nll = (float)nll, r->rec.lse = (float)lse;
        top_k(logits, r->n_vocab, r->sh.k, r->rec.ids, r->rec.vals);
        if (!write_rec(r->save, &r->rec, r->sh.k))
            return fprintf(stderr, "error: cannot write '%s'\n", r->o->save_path), CLI_EXIT_ERROR;
        r->sh.n_records++;
    }
    if (r->base) {
        if (!read_rec(r->base, &r->brec, r->bh.k, r->bh.n_vocab))
            return fprintf(stderr, "error: '%s' ends or is corrupt at record %lld\n", r->o->kl_path,
                           (long long)s->n),
                   CLI_EXIT_ERROR;
        if (r->brec.target != target)
            return fprintf(
                       stderr,
                       "error: '%s' record %lld is for token %d, this text has %d there (another "
                       "text, tokenizer or -c?)\n",
                       r->o->kl_path, (long long)s->n, r->brec.target, target),
                   CLI_EXIT_ERROR;
        double kl = kl_one(&r->brec, r->bh.k, r->n_vocab, logits, lse), d = nll - r->brec.nll;
        s->kl_sum += kl, s->kl_sum2 += kl * kl, s->kl_max = kl > s->kl_max ? kl : s->kl_max;
        s->kls[s->n] = kl;
        s->base_sum += r->brec.nll, s->d_sum += d, s->d_sum2 += d * d;
        s->n_top1 += argmax(logits, r->n_vocab) == r->brec.ids[0];
    }
    s->n++;
    return 0;
}

static int run_chunks(ppl_run *r, int32_t n_chunks) {
    const int32_t c = r->o->n_ctx;
    kw_token bos = kw_token_bos(r->model);
    bool add_bos = kw_model_add_bos(r->model) && bos != KW_TOKEN_NONE;
    for (int32_t i = 0; i < c; i++)
        r->want[i] = i >= r->first && i < c - 1;
    double t0 = kw_time_seconds();
    for (int32_t ch = 0; ch < n_chunks; ch++) {
        kw_token *t = r->tok + (int64_t)ch * c;
        kw_token saved = t[0];
        if (add_bos) t[0] = bos;
        kw_context_truncate(r->ctx, 0);
        kw_status st = kw_decode(r->ctx, t, NULL, c, r->want);
        t[0] = saved;
        if (st != KW_OK) return cli_api_error();
        for (int32_t j = r->first; j < c - 1; j++) {
            int rc = score(r, kw_get_logits(r->ctx, j), t[j + 1]);
            if (rc) return rc;
        }
        double m = r->st.nll_sum / r->st.n, se = se_of(r->st.nll_sum, r->st.nll_sum2, r->st.n);
        fprintf(stderr, "[chunk %d/%d] ppl %.4f +/- %.4f  (%.2f s)\n", ch + 1, n_chunks, exp(m),
                exp(m) * se, kw_time_seconds() - t0);
    }
    return 0;
}

static int open_files(ppl_run *r) {
    ppl_opts *o = r->o;
    uint32_t k = o->top_k == 0 || o->top_k > r->n_vocab ? (uint32_t)r->n_vocab : (uint32_t)o->top_k;
    r->sh = (logits_header){(uint32_t)r->n_vocab, (uint32_t)o->n_ctx, k, (uint32_t)r->first, 0};
    uint32_t kmax = (uint32_t)r->n_vocab;
    r->rec.ids = malloc(kmax * sizeof(int32_t)), r->rec.vals = malloc(kmax * sizeof(float));
    r->brec.ids = malloc(kmax * sizeof(int32_t)), r->brec.vals = malloc(kmax * sizeof(float));
    if (!r->rec.ids || !r->rec.vals || !r->brec.ids || !r->brec.vals)
        return fputs("error: out of memory\n", stderr), CLI_EXIT_ERROR;
    if (o->kl_path) {
        if (!(r->base = fopen(o->kl_path, "rb")))
            return fprintf(stderr, "error: cannot open '%s'\n", o->kl_path), CLI_EXIT_ERROR;
        if (!read_header(r->base, &r->bh))
            return fprintf(stderr, "error: '%s' is not a kaiwu logits file (bad header)\n",
                           o->kl_path),
                   CLI_EXIT_ERROR;
        if (r->bh.n_vocab != (uint32_t)r->n_vocab || r->bh.n_ctx != (uint32_t)o->n_ctx ||
            r->bh.first != (uint32_t)r->first)
            return fprintf(stderr,
                           "error: '%s' was made with n_vocab %u, -c %u; this run has n_vocab %d, "
                           "-c %d\n",
                           o->kl_path, r->bh.n_vocab, r->bh.n_ctx, r->n_vocab, o->n_ctx),
                   CLI_EXIT_ERROR;
    }
    if (o->save_path) {
        const char *inputs[] = {o->model_path, o->text_path, o->kl_path};
        if (kw_outfile_open(o->save_path, inputs, 3, &r->save_out) != KW_OK) return cli_api_error();
        r->save = kw_outfile_stream(r->save_out);
        if (!write_header(r->save, &r->sh) || fseek(r->save, 32, SEEK_SET))
            return fprintf(stderr, "error: cannot write '%s'\n", o->save_path), CLI_EXIT_ERROR;
    }
    return 0;
}

static int setup(ppl_run *r, int32_t *n_chunks) {
    ppl_opts *o = r->o;
    size_t len = 0;
    char *text = cli_read_file(o->text_path, &len);
    if (!text) return CLI_EXIT_ERROR;
    if (len == 0) {
        free(text);
        fprintf(stderr, "error: '%s': the text is empty (0 bytes): give a text to score\n",
                o->text_path);
        return CLI_EXIT_ERROR;
    }
    if (kw_model_load(o->model_path, NULL, &r->model) != KW_OK) return free(text), cli_api_error();
    r->n_vocab = kw_model_n_vocab(r->model);
    r->tok = malloc((len + 8) * sizeof *r->tok);
    kw_status st = r->tok ? kw_tokenize(r->model, text, len, false, false, r->tok,
                                        (int32_t)(len + 8), &r->n_tok)
                          : KW_ERR_NOMEM;
    free(text);
    if (st != KW_OK) return cli_api_error();
    if (r->n_tok < o->n_ctx)
        return fprintf(stderr,
                       "error: '%s' has %d tokens, fewer than one chunk of %d (use a smaller -c)\n",
                       o->text_path, r->n_tok, o->n_ctx),
               CLI_EXIT_ERROR;
    *n_chunks = r->n_tok / o->n_ctx;
    if (o->max_chunks > 0 && *n_chunks > o->max_chunks) *n_chunks = o->max_chunks;
    r->first = o->n_ctx / 2;
    kw_context_params cp = kw_context_default_params();
    cp.n_ctx = o->n_ctx, cp.n_batch = o->n_ctx < 512 ? o->n_ctx : 512, cp.n_threads = o->n_threads;
    cp.cache_type_k = o->cache.k, cp.cache_type_v = o->cache.v;
    if (kw_context_create(r->model, &cp, &r->ctx) != KW_OK) return cli_api_error();
    r->want = calloc((size_t)o->n_ctx, sizeof *r->want);
    r->st.kls = calloc((size_t)*n_chunks * (size_t)o->n_ctx + 1, sizeof *r->st.kls);
    if (!r->want || !r->st.kls) return fputs("error: out of memory\n", stderr), CLI_EXIT_ERROR;
    fprintf(stderr, "%d tokens, %d chunks of %d, scoring positions %d..%d of each (%d per chunk)\n",
            r->n_tok, *n_chunks, o->n_ctx, r->first, o->n_ctx - 1, o->n_ctx - 1 - r->first);
    return open_files(r);
}

int cmd_perplexity(int argc, char **argv) {
    ppl_opts o = {.n_ctx = 512, .top_k = 32, .cache = cli_cache_default()};
    int rc = parse_args(argc, argv, &o);
    if (rc) return rc < 0 ? CLI_EXIT_OK : rc;
    const char *inputs[] = {o.model_path, o.text_path, o.kl_path};
    if (o.save_path && kw_outfile_check(o.save_path, inputs, 3) != KW_OK) return cli_api_error();
    ppl_run r = {.o = &o};
    int32_t n_chunks = 0;
    double t0 = kw_time_seconds();
    rc = setup(&r, &n_chunks);
    if (!rc) rc = run_chunks(&r, n_chunks);
    if (!rc && r.save && !write_header(r.save, &r.sh))
        rc = (fprintf(stderr, "error: cannot write '%s'\n", o.save_path), CLI_EXIT_ERROR);
    if (!rc && r.base && r.st.n != (int64_t)r.bh.n_records)
        fprintf(stderr, "warning: '%s' holds %llu positions, %lld were compared\n", o.kl_path,
                (unsigned long long)r.bh.n_records, (long long)r.st.n);
    if (!rc) {
        print_summary(&r.st, r.base != NULL);
        cli_print_speed(stderr, "evaluated", (int64_t)n_chunks * o.n_ctx, kw_time_seconds() - t0);
    }
    if (r.save_out && !rc && kw_outfile_commit(r.save_out) != KW_OK)
        rc = cli_api_error();
    else if (r.save_out && rc)
        kw_outfile_abort(r.save_out); /* a failed run leaves no partial logits file */
    if (r.base) fclose(r.base);
    free(r.rec.ids), free(r.rec.vals), free(r.brec.ids), free(r.brec.vals);
    free(r.want), free(r.st.kls), free(r.tok);
    kw_context_free(r.ctx);
    kw_model_free(r.model);
    return rc;
}
