/* cli_opts.c - command-line conveniences llama.cpp users expect, shared by the subcommands: the
 * GPU-offload options accepted and dropped with a note (kaiwu runs on the CPU), and -e escape
 * processing for prompts.
 *
 * Relies on: cli.h only. Must not: exit(), or touch anything but the arguments it is given.
 */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------------------------------
 * -ngl and friends
 * ---------------------------------------------------------------------------------------------- */

static const char *const gpu_options[] = {"-ngl", "--n-gpu-layers", "--gpu-layers"};

/* Whether argv[i] is a GPU option; sets *value (NULL when the value is the next argument). */
static bool is_gpu_option(const char *arg, const char **value) {
    for (size_t k = 0; k < sizeof gpu_options / sizeof gpu_options[0]; k++) {
        size_t n = strlen(gpu_options[k]);
        if (strncmp(arg, gpu_options[k], n) != 0) continue;
        if (arg[n] == 0) {
            *value = NULL;
            return true;
        }
        if (arg[n] == '=') {
            *value = arg + n + 1;
            return true;
        }
    }
    return false;
}

int cli_drop_gpu_options(const char *cmd, int *argc, char **argv) {
    int out = 0;
    bool noted = false;
    for (int i = 0; i < *argc; i++) {
        const char *v = NULL;
        if (i == 0 || !is_gpu_option(argv[i], &v)) {
            argv[out++] = argv[i];
            continue;
        }
        const char *opt = argv[i];
        if (!v) {
            if (i + 1 >= *argc) return cli_usage_error(cmd, "option %s needs a value", opt);
            v = argv[++i];
        }
        int32_t layers;
        if (!cli_parse_i32(cmd, "-ngl", v, -1, INT32_MAX, &layers)) return CLI_EXIT_USAGE;
        if (!noted)
            fprintf(stderr, "note: %s %s ignored: kaiwu runs on the CPU (no layers to offload)\n",
                    opt, v);
        noted = true;
    }
    argv[out] = NULL;
    *argc = out;
    return CLI_EXIT_OK;
}

/* ------------------------------------------------------------------------------------------------
 * -e escapes
 * ---------------------------------------------------------------------------------------------- */

static int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

size_t cli_unescape(char *s) {
    static const char from[] = "nrt\\'\"abfv", to[] = "\n\r\t\\'\"\a\b\f\v";
    size_t w = 0;
    for (size_t r = 0; s[r]; r++) {
        if (s[r] != '\\' || !s[r + 1]) {
            s[w++] = s[r];
            continue;
        }
        const char *k = strchr(from, s[r + 1]);
        if (k) {
            s[w++] = to[k - from];
            r++;
        } else if (s[r + 1] == 'x' && hex_digit(s[r + 2]) >= 0 && hex_digit(s[r + 3]) >= 0 &&
                   (s[r + 2] != '0' || s[r + 3] != '0')) {
            s[w++] = (char)(hex_digit(s[r + 2]) * 16 + hex_digit(s[r + 3]));
            r += 3;
        } else
            s[w++] = s[r]; /* not an escape we know: keep the backslash */
    }
    s[w] = 0;
    return w;
}
