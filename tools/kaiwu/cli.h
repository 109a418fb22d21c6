/* cli.h - what the kaiwu subcommands share: their entry points, exit codes, and small helpers for
 * option parsing (numbers with clear errors), usage errors and speed printing.
 *
 * The CLI is a thin client of the public API: files under tools/kaiwu include kaiwu.h and this
 * header only, never a src/ header. The helpers are defined in main.c and cli_opts.c.
 */
#ifndef KAIWU_CLI_H
#define KAIWU_CLI_H

#include "kaiwu.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Exit codes of every subcommand. */
enum {
    CLI_EXIT_OK = 0,
    CLI_EXIT_ERROR = 1, /* the work failed: a file, a model, a context error (message on stderr) */
    CLI_EXIT_USAGE = 2, /* the command line is wrong (message + hint on stderr) */
    CLI_EXIT_INTERRUPTED = 130, /* Ctrl-C stopped the work (128 + SIGINT, as a shell reports it) */
};

/* Subcommands: argv[0] is the subcommand's name ("run"); they return an exit code. */
int cmd_run(int argc, char **argv);
int cmd_info(int argc, char **argv); /* tools/kaiwu/cmd_info.c */
int cmd_tokenize(int argc, char **argv);
int cmd_bench(int argc, char **argv);           /* tools/kaiwu/cmd_bench.c */
int cmd_quantize(int argc, char **argv);        /* tools/kaiwu/cmd_quantize.c */
int cmd_imatrix(int argc, char **argv);         /* tools/kaiwu/cmd_imatrix.c */
int cmd_perplexity(int argc, char **argv);      /* tools/kaiwu/cmd_perplexity.c */
int cmd_chat(int argc, char **argv);            /* tools/kaiwu/cmd_chat.c */
int cmd_serve(int argc, char **argv);           /* tools/kaiwu/cmd_serve.c */
int cmd_data(int argc, char **argv);            /* tools/kaiwu/cmd_data.c */
int cmd_tokenizer_train(int argc, char **argv); /* tools/kaiwu/cmd_tokenizer_train.c */
int cmd_train(int argc, char **argv);           /* tools/kaiwu/cmd_train.c */

/* True when arg is -h or --help. */
bool cli_is_help(const char *arg);

/* Prints "error: <message>" and "run 'kaiwu <cmd> --help' for usage" on stderr; returns
 * CLI_EXIT_USAGE, so a subcommand can `return cli_usage_error("run", "...", ...);`. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Prints "error: <kw_last_error()>" on stderr and returns CLI_EXIT_ERROR. */
int cli_api_error(void);

/* Matches option name at argv[*i] and fetches its value, accepting "--name VALUE" and
 * "--name=VALUE". Returns 1 and sets *value (and advances *i past a separate value) on a match,
 * 0 when argv[*i] is another option, -1 when the value is missing (after printing a usage error
 * for cmd). short_name may be NULL ("-m" style aliases). */
int cli_opt_value(const char *cmd, int argc, char **argv, int *i, const char *name,
                  const char *short_name, const char **value);

/* Number parsing with clear errors: the whole string must be a number in [min, max]; otherwise
 * a usage error naming opt, the text and the range is printed and false returned. */
bool cli_parse_i32(const char *cmd, const char *opt, const char *s, int32_t min, int32_t max,
                   int32_t *out);
bool cli_parse_u64(const char *cmd, const char *opt, const char *s, uint64_t *out);
bool cli_parse_float(const char *cmd, const char *opt, const char *s, float min, float max,
                     float *out);

/* Table-driven options: each entry stores its parsed value at base + offset. */
/* CLI_SEED: a u64, or -1 for a random one (drawn with cli_random_seed). */
/* CLI_FILE: the value is a path, the file's text is stored (kept until exit). CLI_JSON_GRAMMAR:
 * takes no value, stores kw_grammar_json(). CLI_JSON_TEXT: JSON given inline when the value
 * starts with '{' or '[' (after spaces), else a path whose text is stored as CLI_FILE does. */
typedef enum cli_kind {
    CLI_STR,
    CLI_I32,
    CLI_F32,
    CLI_U64,
    CLI_SEED,
    CLI_FILE,
    CLI_JSON_GRAMMAR,
    CLI_CACHE_TYPE, /* a KV cache type name (f32, f16, q8_0), stored as its KW_TYPE_* in an int32 */
    CLI_JSON_TEXT
} cli_kind;
typedef struct cli_opt {
    const char *name, *short_name; /* "--top-k", NULL */
    cli_kind kind;
    size_t offset;   /* of the field in the struct passed as base */
    double min, max; /* range for CLI_I32 / CLI_F32 */
} cli_opt;

/* Tries argv[*i] against the n entries of table (see cli_opt_value for the accepted forms).
 * Returns the index of the matched entry (its value stored, *i advanced past it), -1 when argv[*i]
 * is none of them, -2 after printing a usage error (missing or bad value). */
int cli_match_opt(const char *cmd, const cli_opt *table, int n, int argc, char **argv, int *i,
                  void *base);

/* The sampling options every generating command takes, stored into a kw_sampler_params:
 * --temp --top-k --top-p --min-p --repeat-penalty --repeat-last-n --presence-penalty
 * --frequency-penalty --seed, and the grammar stage: --grammar FILE, --grammar-text GBNF,
 * --grammar-root NAME, --json-object / --json. CLI_SAMPLING_HELP is their help text. */
extern const cli_opt cli_sampling_opts[];
extern const int cli_n_sampling_opts;
#define CLI_SAMPLING_HELP                                                                          \
    "  --temp T                 temperature (default 0.8; 0 = greedy)\n"                           \
    "  --top-k K                keep the K most likely tokens (default 40; 0 = off)\n"             \
    "  --top-p P                nucleus sampling threshold (default 0.95; 1 = off)\n"              \
    "  --min-p M                drop tokens below M x the best probability (default 0.05;\n"       \
    "                           0 = off)\n"                                                        \
    "  --repeat-penalty R       penalize repeated tokens (default 1.0 = off)\n"                    \
    "  --repeat-last-n N        window of the penalties (default 64; 0 = off; -1 = all)\n"         \
    "  --presence-penalty P     OpenAI-style presence penalty (default 0)\n"                       \
    "  --frequency-penalty F    OpenAI-style frequency penalty (default 0)\n"                      \
    "  --seed S                 random seed (default or -1: random, printed on stderr)\n"          \
    "  --grammar FILE           constrain the output to a GBNF grammar (llama.cpp's dialect)\n"    \
    "  --grammar-text GBNF      the same, the grammar given inline\n"                              \
    "  --grammar-root NAME      start rule of the grammar (default root)\n"                        \
    "  --json-object            constrain the output to a JSON object (built-in grammar; in\n"     \
    "                           run also --json)\n"

/* The structured-output options of run and chat (stored as kw_gen_params.json_schema), and their
 * help text: -j / --json-schema SCHEMA (inline JSON, or a file), -jf / --json-schema-file FILE. */
#define CLI_JSON_SCHEMA_OPTS(type, field)                                                          \
    {"--json-schema", "-j", CLI_JSON_TEXT, offsetof(type, field), 0, 0}, {                         \
        "--json-schema-file", "-jf", CLI_FILE, offsetof(type, field), 0, 0                         \
    }
#define CLI_JSON_SCHEMA_HELP                                                                       \
    "  -j, --json-schema SCHEMA constrain the output to a JSON Schema (docs/structured-\n"         \
    "                           output.md has the supported subset): inline JSON when it\n"        \
    "                           starts with '{', else a file; an unsupported keyword is an\n"      \
    "                           error naming it and its JSON pointer (exit 1)\n"                   \
    "  -jf, --json-schema-file FILE  the same, always from a file\n"

/* After a generation: when it had a constraint (--grammar, --json-object, --json-schema) that
 * the reply does not meet (kw_gen_constraint: incomplete, or invalid under the schema), prints
 * "error: <what> incomplete: ..." or "error: <what> invalid: ..." on stderr naming stop_reason
 * and returns false (fail closed: the caller exits 1). True when met or unconstrained. */
bool cli_constraint_ok(const kw_gen *g, const char *what, const char *stop_reason,
                       bool json_schema);

/* "-t, --threads N" help line, with the one limit the library has too (KW_MAX_THREADS). */
#define CLI_THREADS_HELP_(n)                                                                       \
    "  -t, --threads N          worker threads, 1.." #n " (default: all cores)\n"
#define CLI_THREADS_HELP_X(n) CLI_THREADS_HELP_(n)
#define CLI_THREADS_HELP      CLI_THREADS_HELP_X(KW_MAX_THREADS)

/* The KV cache types of a context (-ctk/--cache-type-k, -ctv/--cache-type-v, as llama.cpp's),
 * for the commands that make one: a field of this type in the options struct, CLI_CACHE_OPTS(
 * offset of that field) in the option table, CLI_CACHE_HELP in the help, cli_cache_default() as
 * its start value, and cp.cache_type_k / _v taken from it. */
typedef struct cli_cache_types {
    int32_t k, v; /* KW_TYPE_* */
} cli_cache_types;
#define CLI_CACHE_OPTS(off)                                                                        \
    {"--cache-type-k", "-ctk", CLI_CACHE_TYPE, (off) + offsetof(cli_cache_types, k), 0, 0}, {      \
        "--cache-type-v", "-ctv", CLI_CACHE_TYPE, (off) + offsetof(cli_cache_types, v), 0, 0       \
    }
#define CLI_CACHE_HELP                                                                             \
    "  -ctk, --cache-type-k T   KV cache type of the keys: f16 (default), f32, q8_0\n"             \
    "  -ctv, --cache-type-v T   KV cache type of the values: f16 (default), f32, q8_0\n"
/* The library's default cache types (kw_context_default_params). */
cli_cache_types cli_cache_default(void);
/* Parses a cache type name into *out; false after a usage error naming opt and the types. */
bool cli_parse_cache_type(const char *cmd, const char *opt, const char *s, int32_t *out);

/* -------------------------------------------------------------------- cli_opts.c */

/* Options llama.cpp users type that mean nothing on the CPU: "-ngl N", "--n-gpu-layers N",
 * "--gpu-layers N" (and "=N" forms) are removed from argv (argc updated) with one note on stderr
 * that kaiwu runs on the CPU. Returns CLI_EXIT_OK, or CLI_EXIT_USAGE after printing the error
 * when the value is missing or not an integer. */
int cli_drop_gpu_options(const char *cmd, int *argc, char **argv);

/* -e: turns the escapes \n \r \t \\ \' \" \a \b \f \v and \xNN (not \x00) in s into their bytes,
 * in place (the text only shrinks); an unknown escape is kept as written. Returns the new
 * length. */
size_t cli_unescape(char *s);

/* A seed for runs that were given none: from /dev/urandom, else time and pid. */
uint64_t cli_random_seed(void);

/* Reads a whole file (or stdin for "-") into a malloc'd NUL-terminated buffer (caller frees);
 * prints "error: ..." naming the path and returns NULL on failure. */
char *cli_read_file(const char *path, size_t *len_out);

/* Prints "<label>: N tokens in S s (R tokens/s)" to f; R is omitted when secs is ~0. */
void cli_print_speed(FILE *f, const char *label, int64_t n_tokens, double secs);

/* The default model: the file name of the shipped model, the lookup order, and its help text. */
#define CLI_DEFAULT_MODEL_NAME "kaiwu-shi.gguf"
#define CLI_DEFAULT_MODEL_HELP                                                                     \
    "                           default: $KAIWU_MODEL, else <dir of kaiwu>/../models/\n"           \
    "                           kaiwu-shi.gguf, else ./models/kaiwu-shi.gguf (the shipped\n"       \
    "                           poetry model; 'make model' builds it)\n"

/* The model a command uses when no -m is given: $KAIWU_MODEL when set and non-empty (used as is:
 * an error when it is not a regular file, no fallback), else <dir of the executable, from
 * /proc/self/exe>/../models/kaiwu-shi.gguf, else ./models/kaiwu-shi.gguf. Returns the path
 * (the environment's string or a static buffer: valid for the whole process, not to be freed), or
 * NULL after printing an error on stderr naming every path tried and the fix (make model, -m). */
const char *cli_default_model(const char *cmd);

/* Whether a positional argument names a model rather than a prompt: it ends in ".gguf" or is an
 * existing regular file. */
bool cli_looks_like_model(const char *arg);

#endif
