/* cli.h - what the kaiwu subcommands share: their entry points, exit codes, and small helpers for
 * option parsing (numbers with clear errors), usage errors and speed printing.
 *
 * The CLI is a thin client of the public API: files under tools/kaiwu include kaiwu.h and this
 * header only, never a src/ header. The helpers are defined in main.c.
 */
#ifndef KAIWU_CLI_H
#define KAIWU_CLI_H

#include "kaiwu.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/* Exit codes of every subcommand. */
enum {
    CLI_EXIT_OK = 0,
    CLI_EXIT_ERROR = 1, /* the work failed: a file, a model, a context error (message on stderr) */
    CLI_EXIT_USAGE = 2, /* the command line is wrong (message + hint on stderr) */
};

/* Subcommands: argv[0] is the subcommand's name ("run"); they return an exit code. */
int cmd_run(int argc, char **argv);
int cmd_info(int argc, char **argv); /* tools/kaiwu/cmd_info.c */
int cmd_tokenize(int argc, char **argv);
int cmd_bench(int argc, char **argv); /* tools/kaiwu/cmd_bench.c */
int cmd_quantize(int argc, char **argv);   /* tools/kaiwu/cmd_quantize.c */
int cmd_imatrix(int argc, char **argv);    /* tools/kaiwu/cmd_imatrix.c */
int cmd_perplexity(int argc, char **argv); /* tools/kaiwu/cmd_perplexity.c */
int cmd_chat(int argc, char **argv); /* tools/kaiwu/cmd_chat.c */

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

/* Reads a whole file (or stdin for "-") into a malloc'd NUL-terminated buffer (caller frees);
 * prints "error: ..." naming the path and returns NULL on failure. */
char *cli_read_file(const char *path, size_t *len_out);

/* Prints "<label>: N tokens in S s (R tokens/s)" to f; R is omitted when secs is ~0. */
void cli_print_speed(FILE *f, const char *label, int64_t n_tokens, double secs);

#endif
