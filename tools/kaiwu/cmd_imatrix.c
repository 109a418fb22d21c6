/* cmd_imatrix.c - `kaiwu imatrix -m MODEL -f TEXT -o FILE`: run the model over a text in chunks of
 * -c tokens and save, per weight matrix, the sum of x^2 per input column and the token count
 * (the importance matrix `kaiwu quantize --imatrix` weights the quantization error with).
 *
 * Chunks are cut as `kaiwu perplexity` cuts them (fresh cache, BOS first when the model uses
 * one); the statistics come from kw_imatrix_observe installed as the context's matmul observer.
 * Only the last position of a chunk asks for logits, so output.weight sees one row per chunk.
 *
 * Relies on: kaiwu.h and cli.h only. Must not: include src/ headers, or take -o naming the model
 * or the text (kw_outfile_check, before the run and again before saving; kw_imatrix_save writes
 * through a temporary file renamed into place).
 */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

static void imatrix_usage(FILE *f) {
    fputs(
        "usage: kaiwu imatrix -m MODEL.gguf -f TEXT -o FILE [options]\n"
        "\n"
        "Runs the model over the text in chunks of -c tokens and writes, for every weight matrix,\n"
        "the sum of x^2 per input column and the number of tokens (a GGUF file, format in\n"
        "docs/quantization.md). Pass it to 'kaiwu quantize --imatrix FILE'.\n"
        "\n"
        "options:\n"
        "  -m, --model PATH     GGUF model (required; best the F16/F32 one you will quantize)\n"
        "  -f, --file PATH      calibration text ('-' for stdin; required)\n"
        "  -o, --output PATH    output file (required)\n"
        "  -c, --ctx-size N     tokens per chunk (default 512)\n"
        "  --chunks N           use at most N chunks (default: all)\n"
        "  -t, --threads N      worker threads (default: all cores)\n"
        "  -h, --help           show this help\n"
        "\n"
        "example: kaiwu imatrix -m model-f16.gguf -f calibration.txt -o model.imatrix\n",
        f);
}

typedef struct imatrix_opts {
    const char *model_path, *text_path, *out_path;
    int32_t n_ctx, max_chunks, n_threads;
} imatrix_opts;

static int parse_args(int argc, char **argv, imatrix_opts *o) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = NULL;
        int r = 0;
        if (cli_is_help(a)) return imatrix_usage(stdout), -1;
#define OPT(name, short_name)                                                                      \
    ((r = cli_opt_value("imatrix", argc, argv, &i, name, short_name, &v)) != 0)
        if (OPT("--model", "-m"))
            o->model_path = v;
        else if (OPT("--file", "-f"))
            o->text_path = v;
        else if (OPT("--output", "-o"))
            o->out_path = v;
        else if (OPT("--ctx-size", "-c")) {
            if (r > 0 && !cli_parse_i32("imatrix", "--ctx-size", v, 2, 1 << 20, &o->n_ctx))
                return CLI_EXIT_USAGE;
        } else if (OPT("--chunks", NULL)) {
            if (r > 0 && !cli_parse_i32("imatrix", "--chunks", v, 1, 1 << 30, &o->max_chunks))
                return CLI_EXIT_USAGE;
        } else if (OPT("--threads", "-t")) {
            if (r > 0 &&
                !cli_parse_i32("imatrix", "--threads", v, 1, KW_MAX_THREADS, &o->n_threads))
                return CLI_EXIT_USAGE;
        } else
            return cli_usage_error("imatrix", "unknown argument '%s'", a);
#undef OPT
        if (r < 0) return CLI_EXIT_USAGE;
    }
    if (!o->model_path) return cli_usage_error("imatrix", "missing -m MODEL");
    if (!o->text_path) return cli_usage_error("imatrix", "missing -f TEXT");
    if (!o->out_path) return cli_usage_error("imatrix", "missing -o FILE");
    return 0;
}

/* Tokenizes the text (no special tokens); the caller frees *out. */
static int tokenize_text(kw_model *m, const char *path, kw_token **out, int32_t *n) {
    size_t len = 0;
    char *text = cli_read_file(path, &len);
    if (!text) return CLI_EXIT_ERROR;
    if (len == 0) {
        free(text);
        fprintf(stderr, "error: '%s': the text is empty (0 bytes): give a calibration text\n",
                path);
        return CLI_EXIT_ERROR;
    }
    int32_t cap = (int32_t)(len + 8);
    *out = malloc((size_t)cap * sizeof **out);
    kw_status st = *out ? kw_tokenize(m, text, len, false, false, *out, cap, n) : KW_ERR_NOMEM;
    free(text);
    return st == KW_OK ? 0 : cli_api_error();
}

static int run(const imatrix_opts *o, kw_model *model, kw_context *ctx, kw_imatrix *im,
               const kw_token *tok, int32_t n_chunks) {
    const int32_t c = o->n_ctx;
    kw_token bos = kw_token_bos(model);
    bool add_bos = kw_model_add_bos(model) && bos != KW_TOKEN_NONE;
    kw_token *chunk = malloc((size_t)c * sizeof *chunk);
    if (!chunk) return fputs("error: out of memory\n", stderr), CLI_EXIT_ERROR;
    kw_context_set_observer(ctx, kw_imatrix_observe, im);
    double t0 = kw_time_seconds();
    for (int32_t ch = 0; ch < n_chunks; ch++) {
        memcpy(chunk, tok + (int64_t)ch * c, (size_t)c * sizeof *chunk);
        if (add_bos) chunk[0] = bos;
        kw_context_truncate(ctx, 0);
        if (kw_decode(ctx, chunk, NULL, c, NULL) != KW_OK) return free(chunk), cli_api_error();
        kw_imatrix_end_chunk(im);
        fprintf(stderr, "[chunk %d/%d] %d weight matrices observed (%.2f s)\n", ch + 1, n_chunks,
                kw_imatrix_n_entries(im), kw_time_seconds() - t0);
    }
    kw_context_set_observer(ctx, NULL, NULL);
    free(chunk);
    return 0;
}

int cmd_imatrix(int argc, char **argv) {
    imatrix_opts o = {.n_ctx = 512};
    int rc = parse_args(argc, argv, &o);
    if (rc) return rc < 0 ? CLI_EXIT_OK : rc;
    kw_model *model = NULL;
    kw_context *ctx = NULL;
    kw_imatrix *im = NULL;
    kw_token *tok = NULL;
    int32_t n_tok = 0, n_chunks = 0;
    const char *inputs[] = {o.model_path, o.text_path};
    if (kw_outfile_check(o.out_path, inputs, 2) != KW_OK) return cli_api_error(); /* fail fast */
    if (kw_model_load(o.model_path, NULL, &model) != KW_OK) return cli_api_error();
    rc = tokenize_text(model, o.text_path, &tok, &n_tok);
    if (!rc && n_tok < o.n_ctx)
        rc = (fprintf(stderr,
                      "error: '%s' has %d tokens, fewer than one chunk of %d (use a smaller -c)\n",
                      o.text_path, n_tok, o.n_ctx),
              CLI_EXIT_ERROR);
    if (!rc) {
        n_chunks = n_tok / o.n_ctx;
        if (o.max_chunks > 0 && n_chunks > o.max_chunks) n_chunks = o.max_chunks;
        kw_context_params cp = kw_context_default_params();
        cp.n_ctx = o.n_ctx, cp.n_batch = o.n_ctx < 512 ? o.n_ctx : 512, cp.n_threads = o.n_threads;
        if (kw_context_create(model, &cp, &ctx) != KW_OK || kw_imatrix_create(&im) != KW_OK)
            rc = cli_api_error();
    }
    if (!rc) {
        fprintf(stderr, "%d tokens, %d chunks of %d\n", n_tok, n_chunks, o.n_ctx);
        rc = run(&o, model, ctx, im, tok, n_chunks);
    }
    if (!rc && (kw_outfile_check(o.out_path, inputs, 2) != KW_OK ||
                kw_imatrix_save(im, o.out_path, o.text_path, o.n_ctx) != KW_OK))
        rc = cli_api_error();
    if (!rc)
        fprintf(stderr, "wrote %s: %d weight matrices, %d chunks of %d tokens\n", o.out_path,
                kw_imatrix_n_entries(im), n_chunks, o.n_ctx);
    kw_imatrix_free(im);
    kw_context_free(ctx);
    free(tok);
    kw_model_free(model);
    return rc;
}
