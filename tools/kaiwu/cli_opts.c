/* cli_opts.c - command-line conveniences shared by the subcommands: the GPU-offload options
 * llama.cpp users type, accepted and dropped with a note (kaiwu runs on the CPU); -e escape
 * processing for prompts; the KV cache type options (-ctk/-ctv); the default model used when no
 * -m is given (the shipped models/kaiwu-shi.gguf, found through $KAIWU_MODEL, the executable's
 * location or the current directory); and the fail-closed report of a constrained generation
 * (cli_constraint_ok).
 *
 * Relies on: cli.h only (and POSIX readlink/stat for the default model). Must not: exit(), or
 * touch anything but the arguments it is given and the environment it reads.
 */
#include "cli.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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
 * KV cache types
 * ---------------------------------------------------------------------------------------------- */

cli_cache_types cli_cache_default(void) {
    kw_context_params cp = kw_context_default_params();
    return (cli_cache_types){cp.cache_type_k, cp.cache_type_v};
}

bool cli_parse_cache_type(const char *cmd, const char *opt, const char *s, int32_t *out) {
    int32_t t = kw_cache_type_from_name(s);
    if (t < 0) {
        cli_usage_error(cmd, "%s: '%s' is not a KV cache type kaiwu stores (f32, f16, q8_0)", opt,
                        s);
        return false;
    }
    *out = t;
    return true;
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

/* ------------------------------------------------------------------------------------------------
 * The default model
 * ---------------------------------------------------------------------------------------------- */

#ifndef PATH_MAX
#define PATH_MAX 4096
#endif

static bool is_regular_file(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

bool cli_looks_like_model(const char *arg) {
    size_t n = strlen(arg);
    if (n >= 5 && strcmp(arg + n - 5, ".gguf") == 0) return true;
    return is_regular_file(arg);
}

/* <dir of the running executable>/../models/kaiwu-shi.gguf into buf; false when the executable's
 * path is unknown (no /proc/self/exe) or too long. */
static bool exe_relative_model(char *buf, size_t cap) {
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0 || (size_t)n >= sizeof exe - 1) return false;
    exe[n] = 0;
    char *slash = strrchr(exe, '/');
    if (!slash) return false;
    *slash = 0;
    int w = snprintf(buf, cap, "%s/../models/" CLI_DEFAULT_MODEL_NAME, exe);
    return w > 0 && (size_t)w < cap;
}

const char *cli_default_model(const char *cmd) {
    static char exe_path[PATH_MAX + 64];
    const char *env = getenv("KAIWU_MODEL");
    if (env && *env) {
        struct stat st;
        int rc = stat(env, &st);
        if (rc == 0 && S_ISREG(st.st_mode)) return env;
        fprintf(stderr,
                "error: kaiwu %s: no -m given, and KAIWU_MODEL=%s is not a readable file (%s)\n"
                "fix: point KAIWU_MODEL at a GGUF model, unset it to use the shipped model, or "
                "give -m MODEL.gguf\n",
                cmd, env, rc != 0 ? strerror(errno) : "not a regular file");
        return NULL;
    }
    bool have_exe = exe_relative_model(exe_path, sizeof exe_path);
    if (have_exe && is_regular_file(exe_path)) return exe_path;
    static const char cwd_path[] = "models/" CLI_DEFAULT_MODEL_NAME;
    if (is_regular_file(cwd_path)) return cwd_path;
    fprintf(stderr,
            "error: kaiwu %s: no -m given and the default model " CLI_DEFAULT_MODEL_NAME
            " was not found; tried:\n"
            "  $KAIWU_MODEL (not set)\n"
            "  %s (next to the executable)\n"
            "  ./%s (in the current directory)\n"
            "fix: build it with 'make model' in the kaiwu source tree, set KAIWU_MODEL, or give "
            "-m MODEL.gguf\n",
            cmd, have_exe ? exe_path : "<dir of kaiwu>/../models/" CLI_DEFAULT_MODEL_NAME,
            cwd_path);
    return NULL;
}

bool cli_constraint_ok(const kw_gen *g, const char *what, const char *stop_reason,
                       bool json_schema) {
    const char *why = NULL;
    kw_constraint_status c = kw_gen_constraint(g, &why);
    if (c == KW_CONSTRAINT_INCOMPLETE) { /* why repeats the stop in the library's words */
        fprintf(stderr,
                "error: %s incomplete: generation stopped (%s) before the %s was complete\n", what,
                stop_reason, json_schema ? "JSON Schema's value" : "grammar");
        return false;
    }
    if (c == KW_CONSTRAINT_INVALID) {
        fprintf(stderr, "error: %s invalid: %s\n", what, why ? why : "it fails its constraint");
        return false;
    }
    return true;
}
