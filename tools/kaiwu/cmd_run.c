/* cmd_run.c - `kaiwu run`: generate text from a prompt and stream it to stdout.
 *
 * Flow: load the model, create a context with one generation engine over it, tokenize the prompt
 * (special tokens added and parsed as the metadata says), and run one kw_gen: the library
 * evaluates the prompt, samples, holds back text that could still be a stop string and hands out
 * whole UTF-8 characters, which on_event prints as they come. Only the continuation goes to
 * stdout; statistics go to stderr at the end. stdout ends with a newline (added when the text
 * does not end with one). With --chat-template the prompt becomes one user message rendered
 * through kw_chat (the model's template, a built-in format or Jinja text).
 * Exit status: 0, 1 error, 2 usage, 130 interrupted by Ctrl-C (kw_gen_cancel from the handler).
 *
 * Relies on: kaiwu.h and cli.h only; jansson for the --chat-template message. Must not: include
 * src/ headers, or generate on its own (the loop, stop strings and streaming are kw_gen's).
 */
#include "cli.h"

#include <jansson.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define RUN_MAX_STOPS 16

typedef struct run_opts {
    const char *model_path;
    const char *prompt;        /* -p or the positional PROMPT, or NULL */
    const char *prompt_file;   /* -f, or NULL ("-": stdin) */
    const char *chat_template; /* --chat-template: a format name or Jinja text, or NULL */
    const char *json_schema;   /* -j / -jf: a JSON Schema (JSON text), or NULL */
    int32_t n_predict;         /* -1: until end of generation or a full context */
    int32_t n_ctx;             /* -1 (not given): min(model's training context, 4096); 0: model's */
    int32_t n_threads;         /* 0: all cores */
    cli_cache_types cache;     /* -ctk / -ctv */
    kw_sampler_params sp;
    bool seed_given;
    const char *stops[RUN_MAX_STOPS];
    int n_stops;
    bool verbose, escape, ignore_eos;
} run_opts;

static void run_usage(FILE *f) {
    fprintf(
        f,
        "usage: kaiwu run [-m MODEL.gguf] (-p PROMPT | -f PROMPT_FILE) [options]\n"
        "       kaiwu run [MODEL.gguf] [PROMPT] [options]\n"
        "\n"
        "Generates a continuation of the prompt and streams it to stdout (the prompt itself is\n"
        "not printed), ending with a newline. Statistics (speeds, KV cache, peak memory, stop\n"
        "reason) go to stderr. Without -p, -f or PROMPT, the prompt is read from stdin when\n"
        "that is not a terminal.\n"
        "\n"
        "options:\n"
        "  -m, --model PATH         GGUF model file (or give it first, without "
        "-m);\n" CLI_DEFAULT_MODEL_HELP
        "  -p, --prompt TEXT        the prompt (or give it after the model)\n"
        "  -f, --file PATH          read the prompt from a file ('-' for stdin)\n"
        "  -e, --escape             process escapes (\\n \\t \\\\ \\\" \\xNN ...) in -p and "
        "--stop\n"
        "  --chat-template NAME     wrap the prompt as one user message in a chat format and\n"
        "                           generate the answer: a built-in format (%s),\n"
        "                           'model' for the model's own template, 'auto' (the model's,\n"
        "                           else one guessed from its vocabulary), or Jinja text\n"
        "  -n, --n-predict N        tokens to generate (default 128; -1 = until end of\n"
        "                           generation or a full context)\n"
        "  -c, --ctx-size N         context size in tokens (default min(model's, 4096);\n"
        "                           0 = the model's training context)\n" CLI_CACHE_HELP
            CLI_THREADS_HELP CLI_SAMPLING_HELP CLI_JSON_SCHEMA_HELP
        "  --stop STR               stop before STR (not printed); may be repeated\n"
        "  --ignore-eos             keep generating past end-of-generation tokens\n"
        "  -ngl N                   accepted and ignored: kaiwu runs on the CPU\n"
        "  --verbose                print model and run details on stderr\n"
        "  -h, --help               show this help\n"
        "\n"
        "Ctrl-C stops generation, prints the statistics and exits with status 130.\n"
        "With --grammar, --json-object or --json-schema the output fails closed: when it stops\n"
        "(-n, a stop string, a full context) before the constraint is complete, or the JSON\n"
        "fails the schema, stderr says so and the exit status is 1 (stdout keeps what was made).\n"
        "Exit status: 0 done, 1 error (model, context, incomplete or invalid constrained output),\n"
        "2 usage, 130 interrupted.\n"
        "examples: kaiwu run -m model.gguf -p \"Once upon a time\" -n 64 --temp 0\n"
        "          kaiwu run model.gguf \"Why is the sky blue?\" --chat-template auto\n",
        kw_chat_format_names());
}

#define F(field) offsetof(run_opts, field)
static const cli_opt run_table[] = {
    {"--model", "-m", CLI_STR, F(model_path), 0, 0},
    {"--prompt", "-p", CLI_STR, F(prompt), 0, 0},
    {"--file", "-f", CLI_STR, F(prompt_file), 0, 0},
    {"--chat-template", NULL, CLI_STR, F(chat_template), 0, 0},
    {"--n-predict", "-n", CLI_I32, F(n_predict), -1, INT32_MAX},
    {"--ctx-size", "-c", CLI_I32, F(n_ctx), 0, INT32_MAX},
    {"--threads", "-t", CLI_I32, F(n_threads), 1, KW_MAX_THREADS},
    CLI_CACHE_OPTS(F(cache)),
    CLI_JSON_SCHEMA_OPTS(run_opts, json_schema),
};
#undef F
enum { RUN_N_OPTS = sizeof run_table / sizeof run_table[0] };

static const struct {
    const char *name, *short_name;
    size_t offset;
} run_flags[] = {
    {"--verbose", "-v", offsetof(run_opts, verbose)},
    {"--escape", "-e", offsetof(run_opts, escape)},
    {"--ignore-eos", NULL, offsetof(run_opts, ignore_eos)},
};

/* Adds a --stop string; false after printing a usage error. */
static bool add_stop(run_opts *o, const char *v) {
    if (!*v) {
        cli_usage_error("run", "--stop: the stop string is empty");
        return false;
    }
    if (o->n_stops == RUN_MAX_STOPS) {
        cli_usage_error("run", "--stop: at most %d stop strings", RUN_MAX_STOPS);
        return false;
    }
    o->stops[o->n_stops++] = v;
    return true;
}

/* A flag of run_flags at argv[i]: sets it and returns true. */
static bool match_flag(run_opts *o, const char *a) {
    for (size_t k = 0; k < sizeof run_flags / sizeof run_flags[0]; k++)
        if (strcmp(a, run_flags[k].name) == 0 ||
            (run_flags[k].short_name && strcmp(a, run_flags[k].short_name) == 0)) {
            *(bool *)((char *)o + run_flags[k].offset) = true;
            return true;
        }
    return false;
}

/* A positional argument: the model (when -m is not given and it looks like one: *.gguf or an
 * existing file), then the prompt (ollama's `run MODEL PROMPT`; `run PROMPT` uses the default
 * model). */
static int take_positional(run_opts *o, const char *a) {
    if (!o->model_path && !o->prompt && cli_looks_like_model(a)) {
        o->model_path = a;
        return CLI_EXIT_OK;
    }
    if (!o->prompt && !o->prompt_file) {
        o->prompt = a;
        return CLI_EXIT_OK;
    }
    return cli_usage_error("run", "unexpected argument '%s' (quote a prompt of several words)", a);
}

/* Returns CLI_EXIT_OK, or the exit code of a usage error (already printed); -1 for --help. */
static int run_parse(int argc, char **argv, run_opts *o) {
    memset(o, 0, sizeof *o);
    o->n_predict = 128;
    o->n_ctx = -1;
    o->cache = cli_cache_default();
    o->sp = kw_sampler_default_params();
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (cli_is_help(a)) {
            run_usage(stdout);
            return -1;
        }
        if (match_flag(o, a)) continue;
        const char *stop = NULL;
        int r = cli_opt_value("run", argc, argv, &i, "--stop", NULL, &stop);
        if (r < 0 || (r > 0 && !add_stop(o, stop))) return CLI_EXIT_USAGE;
        if (r > 0) continue;
        int k = cli_match_opt("run", run_table, RUN_N_OPTS, argc, argv, &i, o);
        if (k == -1) {
            k = cli_match_opt("run", cli_sampling_opts, cli_n_sampling_opts, argc, argv, &i,
                              &o->sp);
            if (k >= 0 && strcmp(cli_sampling_opts[k].name, "--seed") == 0) o->seed_given = true;
        }
        if (k == -2) return CLI_EXIT_USAGE;
        if (k >= 0) continue;
        if (a[0] == '-' && a[1]) return cli_usage_error("run", "unknown option '%s'", a);
        int rc = take_positional(o, a);
        if (rc) return rc;
    }
    if (!o->model_path && !(o->model_path = cli_default_model("run"))) return CLI_EXIT_ERROR;
    if (o->prompt && o->prompt_file) return cli_usage_error("run", "give -p or -f, not both");
    if (o->json_schema && o->sp.grammar)
        return cli_usage_error("run", "--json-schema and --grammar/--json-object: give one");
    if (!o->prompt && !o->prompt_file) {
        if (isatty(STDIN_FILENO))
            return cli_usage_error("run",
                                   "no prompt: give -p TEXT, -f FILE or PROMPT after the model "
                                   "(for a conversation: kaiwu chat %s)",
                                   o->model_path);
        o->prompt_file = "-"; /* `echo question | kaiwu run MODEL` */
    }
    return CLI_EXIT_OK;
}

/* ------------------------------------------------------------------------------------------------
 * Generation (kw_gen: stop strings, UTF-8 streaming and limits live in the library)
 * ---------------------------------------------------------------------------------------------- */

typedef struct run_out {
    uint64_t n_printed;     /* bytes written to stdout */
    bool ends_with_newline; /* the last of them is '\n' */
} run_out;

/* Prints each step's text as it comes (whole UTF-8 characters, stop strings already cut). */
static void on_event(void *user, const kw_gen_event *ev) {
    run_out *w = user;
    if (ev->content_len <= 0) return;
    fwrite(ev->content, 1, (size_t)ev->content_len, stdout);
    fflush(stdout);
    w->n_printed += (uint64_t)ev->content_len;
    w->ends_with_newline = ev->content[ev->content_len - 1] == '\n';
}

/* Ctrl-C cancels the running generation (kw_gen_cancel is safe in a signal handler). */
static _Atomic(kw_gen *) run_gen;
static volatile sig_atomic_t run_interrupted;

static void on_sigint(int sig) {
    (void)sig;
    run_interrupted = 1;
    kw_gen *g = atomic_load(&run_gen);
    if (g) kw_gen_cancel(g);
}

/* Why the generation ended, in the words of the statistics line. */
static const char *stop_reason(const kw_gen *g, int32_t n_predict) {
    switch (kw_gen_finish_reason(g)) {
    case KW_FINISH_STOP: return kw_gen_stop_string(g) ? "stop string" : "end of generation token";
    case KW_FINISH_LENGTH:
        return n_predict >= 0 && kw_gen_get_usage(g).completion_tokens >= n_predict
                   ? "length limit (-n)"
                   : "context full";
    case KW_FINISH_CANCELLED: return "interrupted (Ctrl-C)";
    default: return "error";
    }
}

/* Tokenizes text, growing the buffer once when the first guess is too small. */
static kw_status tokenize_all(const kw_model *model, const char *text, size_t len, kw_token **out,
                              int32_t *n_out) {
    int32_t cap = len + 16 > INT32_MAX ? INT32_MAX : (int32_t)len + 16;
    for (int attempt = 0; attempt < 2; attempt++) {
        kw_token *toks = malloc((size_t)cap * sizeof *toks);
        if (!toks) {
            fprintf(stderr, "error: out of memory for %d prompt tokens\n", cap);
            return KW_ERR_NOMEM;
        }
        int32_t n = 0;
        kw_status st = kw_tokenize(model, text, len, true, true, toks, cap, &n);
        if (st == KW_OK) {
            *out = toks;
            *n_out = n;
            return KW_OK;
        }
        free(toks);
        if (st != KW_ERR_BUFFER_SMALL || n <= cap) return st;
        cap = n;
    }
    return KW_ERR_INTERNAL;
}

/* --chat-template: the prompt as one user message, rendered with the generation prompt. */
static kw_status chat_prompt(const kw_model *model, const run_opts *o, const char *text, size_t len,
                             kw_token **out, int32_t *n_out) {
    const char *fmt = strcmp(o->chat_template, "model") == 0 ? NULL : o->chat_template;
    kw_chat *chat = NULL;
    kw_status st = kw_chat_create(model, fmt, &chat);
    if (st != KW_OK) return st;
    if (kw_chat_format_note(chat)) fprintf(stderr, "note: %s\n", kw_chat_format_note(chat));
    json_t *msgs = json_pack("[{s:s, s:s%}]", "role", "user", "content", text, len);
    char *msgs_json = msgs ? json_dumps(msgs, JSON_COMPACT) : NULL;
    char *rendered = NULL;
    st = msgs_json ? kw_chat_render(chat, msgs_json, NULL, true, NULL, &rendered) : KW_ERR_NOMEM;
    if (st == KW_OK) st = kw_chat_tokenize(chat, rendered, out, n_out);
    if (st == KW_OK && o->verbose)
        fprintf(stderr, "chat format: %s; rendered prompt:\n%s\n", kw_chat_format_used(chat),
                rendered);
    free(rendered);
    free(msgs_json);
    json_decref(msgs);
    kw_chat_free(chat);
    return st;
}

/* The prompt text: -p (escapes processed with -e) or the file / stdin (as written). */
static char *read_prompt(run_opts *o, size_t *len) {
    if (o->prompt_file) {
        char *text = cli_read_file(o->prompt_file, len);
        if (text) o->prompt = text;
        return text;
    }
    *len = o->escape ? cli_unescape((char *)o->prompt) : strlen(o->prompt);
    return NULL;
}

int cmd_run(int argc, char **argv) {
    run_opts o;
    int rc = run_parse(argc, argv, &o);
    if (rc < 0) return CLI_EXIT_OK;
    if (rc) return rc;
    if (!o.seed_given) o.sp.seed = cli_random_seed();
    for (int i = 0; i < o.n_stops && o.escape; i++)
        cli_unescape((char *)o.stops[i]);

    size_t prompt_len = 0;
    char *file_text = read_prompt(&o, &prompt_len);
    if (o.prompt_file && !file_text) return CLI_EXIT_ERROR;
    if (prompt_len == 0) {
        free(file_text);
        return cli_usage_error("run", "no prompt: the text is empty (%s)",
                               !o.prompt_file               ? "-p"
                               : strcmp(o.prompt_file, "-") ? o.prompt_file
                                                            : "stdin");
    }

    /* Ctrl-C from here on cancels the generation (at once when it comes while the model is still
     * loading); a second one ends the process as usual. */
    struct sigaction sa, old_sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sa.sa_flags = SA_RESETHAND;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_sa);

    kw_model *model = NULL;
    kw_context *ctx = NULL;
    kw_engine *eng = NULL;
    kw_gen *g = NULL;
    kw_token *prompt = NULL;
    run_out w = {0};
    rc = CLI_EXIT_ERROR;

    double t_load = kw_time_seconds();
    kw_model_params mp = {.verbose = o.verbose};
    if (kw_model_load(o.model_path, &mp, &model) != KW_OK) {
        cli_api_error();
        goto done;
    }
    kw_context_params cp = kw_context_default_params();
    if (o.n_ctx >= 0)
        cp.n_ctx = o.n_ctx; /* 0: the model's training context */
    else {
        int32_t train = kw_model_n_ctx_train(model);
        cp.n_ctx = train > 0 && train < 4096 ? train : 4096;
    }
    cp.n_threads = o.n_threads;
    cp.cache_type_k = o.cache.k, cp.cache_type_v = o.cache.v;
    if (kw_context_create(model, &cp, &ctx) != KW_OK || kw_engine_create(ctx, &eng) != KW_OK) {
        cli_api_error();
        goto done;
    }
    int32_t n_ctx = kw_context_n_ctx(ctx);
    kw_gen_params gp = kw_gen_default_params();
    gp.sampler = o.sp;
    gp.json_schema = o.json_schema; /* an unsupported keyword fails kw_gen_create, named */
    gp.max_tokens = o.n_predict;
    gp.stops = o.stops;
    gp.n_stops = o.n_stops;
    gp.ignore_eos = o.ignore_eos;
    gp.render_special = true; /* a continuation shows what the model wrote, special text too */
    gp.on_event = on_event;
    gp.user = &w;
    if (kw_gen_create(eng, &gp, &g) != KW_OK) { /* a malformed grammar, say */
        cli_api_error();
        goto done;
    }
    t_load = kw_time_seconds() - t_load;

    int32_t n_prompt = 0;
    kw_status st = o.chat_template
                       ? chat_prompt(model, &o, o.prompt, prompt_len, &prompt, &n_prompt)
                       : tokenize_all(model, o.prompt, prompt_len, &prompt, &n_prompt);
    if (st != KW_OK) {
        if (st != KW_ERR_NOMEM || o.chat_template) cli_api_error();
        if (o.chat_template && st == KW_ERR_INVALID_ARG)
            fprintf(stderr, "hint: name a format with --chat-template NAME (%s)\n",
                    kw_chat_format_names());
        goto done;
    }
    if (kw_gen_set_prompt(g, prompt, n_prompt) != KW_OK) {
        cli_api_error();
        goto done;
    }

    fprintf(stderr, "seed: %llu\n", (unsigned long long)o.sp.seed);
    if (o.verbose) {
        fprintf(stderr,
                "model: %s (%s, family %s), %d layers, n_embd %d, n_vocab %d, trained context %d\n"
                "context: %d tokens, batch %d; cpu: %s; load %.3f s\n"
                "sampling: temp %g, top-k %d, top-p %g, min-p %g, repeat penalty %g over %d, "
                "presence %g, frequency %g\n"
                "prompt: %d tokens\n",
                kw_model_name(model), kw_model_arch(model), kw_model_family(model),
                kw_model_n_layer(model), kw_model_n_embd(model), kw_model_n_vocab(model),
                kw_model_n_ctx_train(model), n_ctx, kw_context_n_batch(ctx), kw_cpu_features(),
                t_load, (double)o.sp.temperature, o.sp.top_k, (double)o.sp.top_p,
                (double)o.sp.min_p, (double)o.sp.repeat_penalty, o.sp.repeat_last_n,
                (double)o.sp.presence_penalty, (double)o.sp.frequency_penalty, n_prompt);
    }

    atomic_store(&run_gen, g);
    if (run_interrupted) kw_gen_cancel(g); /* Ctrl-C came before the handler knew g */
    st = kw_generate(g);
    atomic_store(&run_gen, NULL);
    /* a failed start (the prompt does not fit), a failed pass, or a grammar dead end */
    if (st != KW_OK || kw_gen_finish_reason(g) == KW_FINISH_ERROR) {
        if (st == KW_ERR_CONTEXT_FULL)
            fprintf(stderr, "error: %s (use -c to enlarge the context)\n", kw_last_error());
        else
            cli_api_error();
        if (kw_gen_finish_reason(g) == KW_FINISH_NONE) goto done; /* never started */
    }
    if (w.n_printed > 0 && !w.ends_with_newline) fputc('\n', stdout); /* stdout ends a line */
    fflush(stdout);

    kw_gen_usage u = kw_gen_get_usage(g);
    const char *why = stop_reason(g, o.n_predict);
    bool failed = kw_gen_finish_reason(g) == KW_FINISH_ERROR;
    cli_print_speed(stderr, "prompt", u.prompt_tokens, u.t_prompt);
    cli_print_speed(stderr, "generated", u.completion_tokens, u.t_generate);
    fprintf(stderr, "KV cache: %.2f MiB (%d of %d positions used)\n",
            (double)kw_context_kv_bytes(ctx) / (1024.0 * 1024.0), kw_context_n_past(ctx), n_ctx);
    fprintf(stderr, "peak memory: %.2f MiB\n", (double)kw_peak_rss_bytes() / (1024.0 * 1024.0));
    fprintf(stderr, "stop: %s\n", why);
    if (!failed && !cli_constraint_ok(g, "output", why, o.json_schema != NULL)) failed = true;
    rc = failed                                           ? CLI_EXIT_ERROR
         : kw_gen_finish_reason(g) == KW_FINISH_CANCELLED ? CLI_EXIT_INTERRUPTED
                                                          : CLI_EXIT_OK;

done:
    sigaction(SIGINT, &old_sa, NULL);
    kw_gen_free(g);
    kw_engine_free(eng);
    free(prompt);
    kw_context_free(ctx);
    kw_model_free(model);
    free(file_text);
    return rc;
}
