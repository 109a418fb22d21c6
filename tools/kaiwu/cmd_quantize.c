/* cmd_quantize.c - `kaiwu quantize IN.gguf OUT.gguf TYPE`: convert a model's weights to another
 * storage type or mix through kw_quantize_file, with a progress bar on stderr and the speed at
 * the end.
 *
 * Relies on: kaiwu.h and cli.h only. Must not: include src/ headers, write over the input (the
 * library refuses that; this command only reports it).
 */
#include "cli.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define QUANTIZE_MAX_OVERRIDES 64

static void quantize_usage(FILE *f) {
    fputs(
        "usage: kaiwu quantize IN.gguf OUT.gguf TYPE [options]\n"
        "\n"
        "Writes OUT.gguf with the weights of IN.gguf converted to TYPE. 1-D tensors (norms,\n"
        "biases, rope factors) are copied unchanged. OUT must not be IN (refused).\n"
        "\n"
        "TYPE (the file's general.file_type follows llama.cpp's numbering):\n"
        "  F32 F16 BF16                      plain floats\n"
        "  Q8_0 Q4_0 Q4_1 Q5_0 Q5_1          32-value blocks (output.weight gets Q6_K unless\n"
        "                                    --pure or Q8_0)\n"
        "  Q2_K Q6_K                         k-quants (256-value blocks) with llama.cpp's mix\n"
        "  Q3_K_S Q3_K_M Q3_K_L              Q3_K mixes (Q3_K = Q3_K_M)\n"
        "  Q4_K_S Q4_K_M                     Q4_K mixes (Q4_K = Q4_K_M)\n"
        "  Q5_K_S Q5_K_M                     Q5_K mixes (Q5_K = Q5_K_M)\n"
        "  IQ4_NL IQ4_XS                     4-bit non-linear i-quants (32 / 256-value blocks)\n"
        "  IQ3_S IQ3_M                       3.44-bit i-quant; IQ3_M its mix with more bits\n"
        "  IQ2_XS                            2.31-bit i-quant: needs --imatrix FILE\n"
        "  The mixes give attn_v, ffn_down, attn_output and output more bits; the table is in\n"
        "  docs/quantization.md. Run with --verbose to see each tensor's type.\n"
        "\n"
        "options:\n"
        "  -t, --threads N              worker threads (default: all cores)\n"
        "  --pure                       every 2-D weight gets TYPE's base type (no mix rules)\n"
        "  --tensor-type PATTERN=TYPE   force a storage type (F32 F16 BF16 Q8_0 Q4_0 Q4_1 Q5_0\n"
        "                               Q5_1 Q2_K Q3_K Q4_K Q5_K Q6_K IQ4_NL IQ4_XS IQ3_S\n"
        "                               IQ2_XS) on matching weights; may\n"
        "                               be repeated, the last match wins. PATTERN: re:REGEX or\n"
        "                               /REGEX/ (searched in the name), a glob with * ? [ (whole\n"
        "                               name), else a substring (e.g. attn_v=Q8_0)\n"
        "  --imatrix FILE               importance matrix from 'kaiwu imatrix' (used by the\n"
        "                               k-quants and i-quants; required for IQ2_XS)\n"
        "  --no-fallback                refuse a row length the type cannot hold instead of\n"
        "                               falling back to Q8_0 (IQ4_NL for the i-quants; row\n"
        "                               length divisible by 32) or F16\n"
        "  --allow-requantize           accept already-quantized input weights\n"
        "  --verbose                    print one line per tensor\n"
        "  -h, --help                   show this help\n"
        "\n"
        "example: kaiwu quantize model-f16.gguf model-q4_k_m.gguf Q4_K_M\n",
        f);
}

typedef struct quantize_ui {
    bool verbose, tty;
    int last_pct;
} quantize_ui;

static void on_progress(void *user, uint64_t done, uint64_t total) {
    quantize_ui *ui = user;
    int pct = total ? (int)(done * 100 / total) : 100;
    if (pct == ui->last_pct) return;
    ui->last_pct = pct;
    if (!ui->tty && pct != 100 && pct % 10 != 0) return; /* a log file gets 10 % steps */
    char bar[41];
    int fill = pct * 40 / 100;
    for (int i = 0; i < 40; i++)
        bar[i] = i < fill ? '#' : '.';
    bar[40] = 0;
    fprintf(stderr, "%s[%s] %3d%% %7.1f / %.1f MB%s", ui->tty ? "\r" : "", bar, pct,
            (double)done / 1e6, (double)total / 1e6, ui->tty ? "" : "\n");
    if (ui->tty && pct == 100) fputc('\n', stderr);
}

static void on_tensor(void *user, const kw_quantize_tensor_report *r) {
    quantize_ui *ui = user;
    if (!ui->verbose && !r->note) return;
    if (ui->tty && ui->last_pct < 100) fputc('\n', stderr);
    if (ui->verbose) {
        char shape[96];
        int n = snprintf(shape, sizeof shape, "[%lld", (long long)r->ne[0]);
        for (int d = 1; d < r->n_dims && n < (int)sizeof shape - 24; d++)
            n += snprintf(shape + n, sizeof shape - (size_t)n, ", %lld", (long long)r->ne[d]);
        snprintf(shape + n, sizeof shape - (size_t)n, "]");
        fprintf(stderr, "[%3d/%3d] %-36s %-16s %5s -> %-5s %9.3f -> %9.3f MB%s%s%s\n", r->index + 1,
                r->n_tensors, r->name, shape, r->from_type, r->to_type, (double)r->bytes_in / 1e6,
                (double)r->bytes_out / 1e6, r->used_imatrix ? " (imatrix)" : "",
                r->note ? "  note: " : "", r->note ? r->note : "");
    } else {
        fprintf(stderr, "note: %s: %s\n", r->name, r->note);
    }
}

int cmd_quantize(int argc, char **argv) {
    const char *pos[3] = {0};
    int n_pos = 0;
    const char *overrides[QUANTIZE_MAX_OVERRIDES];
    kw_quantize_params qp = kw_quantize_default_params();
    quantize_ui ui = {.last_pct = -1, .tty = isatty(2)};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = NULL;
        int r;
        if (cli_is_help(a)) return quantize_usage(stdout), CLI_EXIT_OK;
        if (strcmp(a, "--pure") == 0)
            qp.pure = true;
        else if (strcmp(a, "--verbose") == 0)
            ui.verbose = true;
        else if (strcmp(a, "--no-fallback") == 0)
            qp.refuse_fallback = true;
        else if (strcmp(a, "--allow-requantize") == 0)
            qp.allow_requantize = true;
        else if ((r = cli_opt_value("quantize", argc, argv, &i, "--threads", "-t", &v)) != 0) {
            if (r < 0 ||
                !cli_parse_i32("quantize", "--threads", v, 1, KW_MAX_THREADS, &qp.n_threads))
                return CLI_EXIT_USAGE;
        } else if ((r = cli_opt_value("quantize", argc, argv, &i, "--tensor-type", NULL, &v)) !=
                   0) {
            if (r < 0) return CLI_EXIT_USAGE;
            if (qp.n_overrides == QUANTIZE_MAX_OVERRIDES)
                return cli_usage_error("quantize", "at most %d --tensor-type options",
                                       QUANTIZE_MAX_OVERRIDES);
            overrides[qp.n_overrides++] = v;
        } else if ((r = cli_opt_value("quantize", argc, argv, &i, "--imatrix", NULL, &v)) != 0) {
            if (r < 0) return CLI_EXIT_USAGE;
            qp.imatrix_path = v;
        } else if (a[0] == '-' && a[1])
            return cli_usage_error("quantize", "unknown option '%s'", a);
        else if (n_pos == 3)
            return cli_usage_error("quantize", "unexpected argument '%s'", a);
        else
            pos[n_pos++] = a;
    }
    if (n_pos < 3)
        return cli_usage_error("quantize",
                               "expected IN.gguf OUT.gguf TYPE (got %d of the 3 arguments)", n_pos);
    if (kw_ftype_from_name(pos[2], &qp.ftype) != KW_OK)
        return cli_usage_error("quantize", "%s", kw_last_error());
    qp.overrides = overrides;
    qp.progress = on_progress;
    qp.on_tensor = on_tensor;
    qp.user = &ui;
    fprintf(stderr, "quantizing %s -> %s as %s%s\n", pos[0], pos[1], kw_ftype_name(qp.ftype),
            qp.pure ? " (pure)" : "");
    double t0 = kw_time_seconds();
    kw_status st = kw_quantize_file(pos[0], pos[1], &qp);
    double secs = kw_time_seconds() - t0;
    if (st != KW_OK) {
        if (ui.tty && ui.last_pct >= 0 && ui.last_pct < 100) fputc('\n', stderr);
        return cli_api_error();
    }
    kw_gguf *gi = NULL, *go = NULL;
    if (kw_gguf_open(pos[0], &gi) == KW_OK && kw_gguf_open(pos[1], &go) == KW_OK) {
        double in_mb = (double)kw_gguf_file_size(gi) / 1e6,
               out_mb = (double)kw_gguf_file_size(go) / 1e6;
        fprintf(stderr, "done: %.2f MB -> %.2f MB (%.1f%%) in %.3f s (%.1f MB/s of input)\n", in_mb,
                out_mb, in_mb > 0 ? 100.0 * out_mb / in_mb : 0.0, secs,
                secs > 1e-9 ? in_mb / secs : 0.0);
    }
    kw_gguf_close(gi);
    kw_gguf_close(go);
    return CLI_EXIT_OK;
}
