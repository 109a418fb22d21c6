/* main.c - the kaiwu command: `kaiwu <command> [options]` dispatches to one cmd_*.c per
 * subcommand; also the shared CLI helpers declared in cli.h (option values, numbers, errors).
 *
 * Relies on: kaiwu.h and cli.h only. Must not: reach into src/ headers, or exit() from helpers
 * (they return codes so each command can clean up).
 */
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------------------------------------------
 * Shared helpers (cli.h)
 * ---------------------------------------------------------------------------------------------- */

bool cli_is_help(const char *arg) { return strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0; }

int cli_usage_error(const char *cmd, const char *fmt, ...) {
    va_list ap;
    fputs("error: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    if (cmd)
        fprintf(stderr, "\nrun 'kaiwu %s --help' for usage\n", cmd);
    else
        fputs("\nrun 'kaiwu --help' for usage\n", stderr);
    return CLI_EXIT_USAGE;
}

int cli_api_error(void) {
    fprintf(stderr, "error: %s\n", kw_last_error());
    return CLI_EXIT_ERROR;
}

int cli_opt_value(const char *cmd, int argc, char **argv, int *i, const char *name,
                  const char *short_name, const char **value) {
    const char *arg = argv[*i];
    size_t n = strlen(name);
    if (strncmp(arg, name, n) == 0 && arg[n] == '=') {
        *value = arg + n + 1;
        return 1;
    }
    if (strcmp(arg, name) != 0 && !(short_name && strcmp(arg, short_name) == 0)) return 0;
    if (*i + 1 >= argc) {
        cli_usage_error(cmd, "option %s needs a value", arg);
        return -1;
    }
    *value = argv[++*i];
    return 1;
}

uint64_t cli_random_seed(void) {
    uint64_t seed = 0;
    FILE *f = fopen("/dev/urandom", "rb");
    if (f) {
        if (fread(&seed, sizeof seed, 1, f) != 1) seed = 0;
        fclose(f);
    }
    if (!seed) seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32) ^ (uint64_t)clock();
    return seed;
}

/* Inline JSON rather than a path: the first non-space character opens an object or array. */
static bool starts_json(const char *v) {
    while (*v == ' ' || *v == '\t' || *v == '\n' || *v == '\r')
        v++;
    return *v == '{' || *v == '[';
}

/* Reads the file at path into *dst, kept reachable until exit: the parsed options point into
 * it. False after printing why. */
static bool keep_file_text(const char *cmd, const char *path, void *dst) {
    static char *kept[8];
    static int n_kept;
    if (n_kept == (int)(sizeof kept / sizeof kept[0])) {
        fprintf(stderr, "error: %s: too many file options\n", cmd);
        return false;
    }
    char *text = cli_read_file(path, NULL);
    if (!text) return false;
    kept[n_kept++] = text;
    *(const char **)dst = text;
    return true;
}

int cli_match_opt(const char *cmd, const cli_opt *table, int n, int argc, char **argv, int *i,
                  void *base) {
    for (int k = 0; k < n; k++) {
        const char *v = NULL;
        if (table[k].kind == CLI_JSON_GRAMMAR) {
            if (strcmp(argv[*i], table[k].name) != 0) continue;
            *(const char **)((char *)base + table[k].offset) = kw_grammar_json();
            return k;
        }
        int r = cli_opt_value(cmd, argc, argv, i, table[k].name, table[k].short_name, &v);
        if (r < 0) return -2;
        if (r == 0) continue;
        void *dst = (char *)base + table[k].offset;
        bool ok = true;
        switch (table[k].kind) {
        case CLI_STR: *(const char **)dst = v; break;
        case CLI_I32:
            ok = cli_parse_i32(cmd, table[k].name, v, (int32_t)table[k].min, (int32_t)table[k].max,
                               dst);
            break;
        case CLI_F32:
            ok = cli_parse_float(cmd, table[k].name, v, (float)table[k].min, (float)table[k].max,
                                 dst);
            break;
        case CLI_U64: ok = cli_parse_u64(cmd, table[k].name, v, dst); break;
        case CLI_JSON_TEXT:
            if (starts_json(v))
                *(const char **)dst = v; /* inline */
            else
                ok = keep_file_text(cmd, v, dst);
            break;
        case CLI_FILE: ok = keep_file_text(cmd, v, dst); break;
        case CLI_JSON_GRAMMAR: break;
        case CLI_CACHE_TYPE: ok = cli_parse_cache_type(cmd, table[k].name, v, dst); break;
        case CLI_SEED:
            if (strcmp(v, "-1") == 0)
                *(uint64_t *)dst = cli_random_seed(); /* llama.cpp's "random" */
            else
                ok = cli_parse_u64(cmd, table[k].name, v, dst);
            break;
        }
        return ok ? k : -2;
    }
    return -1;
}

#define SP(field) offsetof(kw_sampler_params, field)
const cli_opt cli_sampling_opts[] = {
    {"--temp", NULL, CLI_F32, SP(temperature), 0, 1e6},
    {"--top-k", NULL, CLI_I32, SP(top_k), 0, INT32_MAX},
    {"--top-p", NULL, CLI_F32, SP(top_p), 0, 1},
    {"--min-p", NULL, CLI_F32, SP(min_p), 0, 1},
    {"--repeat-penalty", NULL, CLI_F32, SP(repeat_penalty), 1e-3, 1e3},
    {"--repeat-last-n", NULL, CLI_I32, SP(repeat_last_n), -1, 1 << 20},
    {"--presence-penalty", NULL, CLI_F32, SP(presence_penalty), -100, 100},
    {"--frequency-penalty", NULL, CLI_F32, SP(frequency_penalty), -100, 100},
    {"--seed", "-s", CLI_SEED, SP(seed), 0, 0},
    {"--grammar", NULL, CLI_FILE, SP(grammar), 0, 0},
    {"--grammar-text", NULL, CLI_STR, SP(grammar), 0, 0},
    {"--grammar-root", NULL, CLI_STR, SP(grammar_root), 0, 0},
    {"--json-object", NULL, CLI_JSON_GRAMMAR, SP(grammar), 0, 0},
    {"--json", NULL, CLI_JSON_GRAMMAR, SP(grammar), 0, 0}, /* chat: its own --json comes first */
};
#undef SP
const int cli_n_sampling_opts = sizeof cli_sampling_opts / sizeof cli_sampling_opts[0];

bool cli_parse_i32(const char *cmd, const char *opt, const char *s, int32_t min, int32_t max,
                   int32_t *out) {
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (!*s || *end || errno == ERANGE) {
        cli_usage_error(cmd, "%s: '%s' is not an integer", opt, s);
        return false;
    }
    if (v < min || v > max) {
        cli_usage_error(cmd, "%s: %lld is out of range [%d, %d]", opt, v, min, max);
        return false;
    }
    *out = (int32_t)v;
    return true;
}

bool cli_parse_u64(const char *cmd, const char *opt, const char *s, uint64_t *out) {
    char *end = NULL;
    errno = 0;
    if (!*s || *s == '-') {
        cli_usage_error(cmd, "%s: '%s' is not a non-negative integer", opt, s);
        return false;
    }
    unsigned long long v = strtoull(s, &end, 10);
    if (*end || errno == ERANGE) {
        cli_usage_error(cmd, "%s: '%s' is not an integer in [0, 2^64)", opt, s);
        return false;
    }
    *out = (uint64_t)v;
    return true;
}

bool cli_parse_float(const char *cmd, const char *opt, const char *s, float min, float max,
                     float *out) {
    char *end = NULL;
    errno = 0;
    float v = strtof(s, &end);
    if (!*s || *end || errno == ERANGE || isnan(v)) {
        cli_usage_error(cmd, "%s: '%s' is not a number", opt, s);
        return false;
    }
    if (v < min || v > max) {
        cli_usage_error(cmd, "%s: %g is out of range [%g, %g]", opt, (double)v, (double)min,
                        (double)max);
        return false;
    }
    *out = v;
    return true;
}

char *cli_read_file(const char *path, size_t *len_out) {
    bool is_stdin = strcmp(path, "-") == 0;
    FILE *f = is_stdin ? stdin : fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "error: cannot open '%s': %s\n", path, strerror(errno));
        return NULL;
    }
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    while (buf) {
        if (cap - len < 2) {
            char *bigger = realloc(buf, cap * 2);
            if (!bigger) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = bigger;
            cap *= 2;
        }
        size_t got = fread(buf + len, 1, cap - len - 1, f);
        len += got;
        if (got == 0) break;
    }
    bool failed = !buf || ferror(f);
    if (!is_stdin) fclose(f);
    if (failed) {
        fprintf(stderr, "error: cannot read '%s'%s\n", is_stdin ? "<stdin>" : path,
                buf ? "" : " (out of memory)");
        free(buf);
        return NULL;
    }
    buf[len] = 0;
    if (len_out) *len_out = len;
    return buf;
}

void cli_print_speed(FILE *f, const char *label, int64_t n_tokens, double secs) {
    if (secs > 1e-9 && n_tokens > 0)
        fprintf(f, "%s: %lld tokens in %.3f s (%.2f tokens/s)\n", label, (long long)n_tokens, secs,
                (double)n_tokens / secs);
    else
        fprintf(f, "%s: %lld tokens in %.3f s\n", label, (long long)n_tokens, secs);
}

/* ------------------------------------------------------------------------------------------------
 * Dispatch
 * ---------------------------------------------------------------------------------------------- */

typedef struct cli_command {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *summary;
} cli_command;

static const cli_command commands[] = {
    {"run", cmd_run, "generate text from a prompt"},
    {"info", cmd_info, "show a GGUF file's metadata, tensors and model description"},
    {"tokenize", cmd_tokenize, "turn text into token ids, or ids back into text"},
    {"bench", cmd_bench, "measure pp/tg speed against this machine's bandwidth and int8 peak"},
    {"quantize", cmd_quantize, "convert a model's weights to another type (Q4_K_M, Q8_0, ...)"},
    {"imatrix", cmd_imatrix, "collect an importance matrix over a text (for quantize)"},
    {"perplexity", cmd_perplexity, "measure perplexity, and KL divergence against a base model"},
    {"chat", cmd_chat, "talk to a model through its chat template"},
    {"train", cmd_train, "pretrain a llama model on text, or fine-tune one on conversations"},
    {"serve", cmd_serve, "serve the model over HTTP with the OpenAI API"},
    {"data", cmd_data, "prepare training text from the poetry corpus; build SFT conversations"},
    {"tokenizer-train", cmd_tokenizer_train, "train a vocabulary on prepared text (GGUF)"},
};
enum { N_COMMANDS = sizeof commands / sizeof commands[0] };

static void print_usage(FILE *f) {
    fprintf(f,
            "kaiwu %s - run large language models from GGUF files on the CPU\n"
            "\n"
            "usage: kaiwu <command> [options]\n"
            "\n"
            "commands:\n",
            KW_VERSION);
    for (int i = 0; i < N_COMMANDS; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\n"
               "options:\n"
               "  -h, --help     show this help\n"
               "  --version      show the version and the CPU features in use\n"
               "\n"
               "Run 'kaiwu <command> --help' for the options of a command, e.g.\n"
               "  kaiwu run -m model.gguf -p \"Once upon a time\" -n 64\n");
}

static void print_command_list(FILE *f) {
    fputs("commands:", f);
    for (int i = 0; i < N_COMMANDS; i++)
        fprintf(f, "%s %s", i ? "," : "", commands[i].name);
    fputc('\n', f);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        print_usage(stderr);
        return CLI_EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (cli_is_help(cmd)) {
        print_usage(stdout);
        return CLI_EXIT_OK;
    }
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "-V") == 0) {
        printf("kaiwu %s\ncpu features: %s\n", KW_VERSION, kw_cpu_features());
        return CLI_EXIT_OK;
    }
    if (strcmp(cmd, "help") == 0) { /* `kaiwu help run` = `kaiwu run --help` */
        if (argc < 3) {
            print_usage(stdout);
            return CLI_EXIT_OK;
        }
        for (int i = 0; i < N_COMMANDS; i++) {
            if (strcmp(argv[2], commands[i].name) == 0) {
                char *help_argv[] = {argv[2], "--help", NULL};
                return commands[i].fn(2, help_argv);
            }
        }
        cmd = argv[2];
    } else {
        for (int i = 0; i < N_COMMANDS; i++)
            if (strcmp(cmd, commands[i].name) == 0) {
                int sub_argc = argc - 1;
                int rc = cli_drop_gpu_options(cmd, &sub_argc, argv + 1);
                return rc ? rc : commands[i].fn(sub_argc, argv + 1);
            }
    }
    fprintf(stderr, "error: unknown command '%s'\n", cmd);
    print_command_list(stderr);
    fputs("run 'kaiwu --help' for usage\n", stderr);
    return CLI_EXIT_USAGE;
}
