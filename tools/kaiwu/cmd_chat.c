/* cmd_chat.c - `kaiwu chat`: talk to a model through its chat template, interactively (line
 * editing, history, /commands, streaming with the speed shown) or once (-p, or a question on
 * stdin) for scripts, optionally as a JSON message.
 *
 * Each turn renders the whole conversation through the template into one kw_gen of the
 * session's engine; the engine keeps the part of the KV cache whose tokens equal the start of the
 * new prompt and evaluates only the rest, so earlier turns are not evaluated again. Sampling,
 * streaming (whole UTF-8 characters) and the reasoning/content split are the library's; this file
 * prints the deltas. A conversation that does not fit the context is an explicit error, or with
 * --drop-oldest loses its oldest turns (never the system message) with a notice. Ctrl-C cancels
 * the answer being generated (kw_gen_cancel), not the program.
 *
 * Relies on: kaiwu.h and cli.h only; libedit (readline interface) for line editing; jansson for
 * the conversation (a JSON messages array, saved and loaded as {"messages": [...]}).
 * Must not: include src/ headers, or cut a conversation without saying so.
 */
#include "cli.h"

#include <editline/readline.h>
#include <jansson.h>
#include <langinfo.h>
#include <locale.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define DIM   "\033[2m"
#define RESET "\033[0m"

typedef struct chat_opts {
    const char *model_path;
    const char *system;      /* --system, or NULL */
    const char *format;      /* --format / --chat-template: a name, "model", or Jinja text */
    const char *prompt;      /* -p, or NULL */
    const char *prompt_file; /* -f: the question from a file, or NULL */
    const char *json_schema; /* -j / -jf: a JSON Schema every answer must meet, or NULL */
    const char *tools;       /* --tools: the OpenAI tools array (JSON text), or NULL */
    const char *tool_choice; /* --tool-choice: auto, none, required or a tool's name; or NULL */
    int32_t n_predict;       /* -1: until end of generation or a full context */
    int32_t n_ctx;           /* -1 (not given): min(model's training context, 4096); 0: model's */
    int32_t n_threads;       /* 0: all cores */
    cli_cache_types cache;   /* -ctk / -ctv */
    kw_sampler_params sp;
    bool seed_given, json, hide_thinking, no_think, drop_oldest, verbose, ignore_eos, escape;
} chat_opts;

typedef struct chat_session {
    chat_opts o;
    kw_model *model;
    kw_context *ctx;
    kw_engine *eng; /* over ctx: each turn's kw_gen reuses the cache of the previous turns */
    kw_chat *chat;
    json_t *messages; /* the conversation: [{"role", "content", ...}] */
    char *system;     /* the system message /reset restores (owned; NULL: none) */
    bool color;       /* stdout is a terminal: dim reasoning and statistics */
    bool interactive;
    bool interrupted; /* the last answer was stopped by Ctrl-C */
    bool unmet;       /* the last answer did not meet its constraint (incomplete or invalid) */
    bool hint_format; /* the chat format could not be made: say how to name one */
} chat_session;

/* Ctrl-C: at the prompt it drops the line being typed; during an answer it cancels the running
 * generation (kw_gen_cancel is safe in a signal handler). */
static _Atomic(kw_gen *) chat_gen;
static volatile sig_atomic_t chat_interrupted;
static void on_sigint(int sig) {
    (void)sig;
    chat_interrupted = 1;
    kw_gen *g = atomic_load(&chat_gen);
    if (g) kw_gen_cancel(g);
}

/* ------------------------------------------------------------------------------------------------
 * Options
 * ---------------------------------------------------------------------------------------------- */

static void chat_usage(FILE *f) {
    fprintf(
        f,
        "usage: kaiwu chat [-m MODEL.gguf] [options]\n"
        "       kaiwu chat MODEL.gguf [options]\n"
        "\n"
        "Talks to a model through its chat template. On a terminal: an interactive chat\n"
        "(line editing and history; end a line with \\ or wrap text in \"\"\" to write\n"
        "several lines; Ctrl-C stops an answer; Ctrl-D, /bye or /exit quits; /? or /help lists\n"
        "the commands). With -p or -f, or a question on stdin, prints one answer and exits.\n"
        "A model without a chat template gets the built-in format its vocabulary points to\n"
        "(said on stderr; --format chooses another).\n"
        "\n"
        "options:\n"
        "  -m, --model PATH         GGUF model file (or give it first, without "
        "-m);\n" CLI_DEFAULT_MODEL_HELP
        "  -p, --prompt TEXT        ask one question, print the answer and exit\n"
        "  -f, --file PATH          the question from a file ('-' for stdin)\n"
        "  -e, --escape             process escapes (\\n \\t \\\\ \\\" \\xNN ...) in -p and "
        "--system\n"
        "  --system TEXT            the system message\n"
        "  --format NAME            the chat format: a built-in one (%s),\n"
        "                           'model' (the model's template only), 'auto' (default: the\n"
        "                           model's, else a built-in one), or Jinja template text\n"
        "  --chat-template NAME     the same as --format (llama.cpp's name)\n"
        "  --json                   print the answer as a JSON message object (with -p; UTF-8\n"
        "                           as is)\n"
        "  --hide-thinking          do not show the reasoning (<think>) part\n"
        "  --no-think               ask the template not to reason (enable_thinking=false)\n"
        "  --ignore-eos             keep generating past end-of-turn tokens (until -n or the\n"
        "                           context ends; for benchmarks and tests)\n"
        "  --drop-oldest            drop the oldest turns when the conversation no longer\n"
        "                           fits the context (default: refuse with a message)\n"
        "  -n, --n-predict N        most tokens per answer (default -1 = until the end of\n"
        "                           the answer or a full context)\n"
        "  -c, --ctx-size N         context size in tokens (default min(model's, 4096);\n"
        "                           0 = the model's training context)\n" CLI_CACHE_HELP
            CLI_THREADS_HELP CLI_SAMPLING_HELP CLI_JSON_SCHEMA_HELP
        "  --tools TOOLS            tool definitions, the OpenAI tools array ([{\"type\":\n"
        "                           \"function\", \"function\": {\"name\", \"description\",\n"
        "                           \"parameters\"}}, ...]) inline when it starts with '[',\n"
        "                           else a file; rendered through the chat template, and the\n"
        "                           calls in the reply are parsed in the template's format and\n"
        "                           printed as '[tool call] NAME ARGUMENTS' lines (with --json:\n"
        "                           \"tool_calls\"); a malformed call stays text, with a warning\n"
        "  --tool-choice C          auto (default: the model decides), none (no call parsed),\n"
        "                           required (the answer is forced to be one call of a tool),\n"
        "                           or a tool's name (forced to be a call of that tool)\n"
        "  -ngl N                   accepted and ignored: kaiwu runs on the CPU\n"
        "  --verbose                print model and context details on stderr\n"
        "  -h, --help               show this help\n"
        "\n"
        "With --grammar, --json-object or --json-schema an answer that stops before the\n"
        "constraint is complete, or whose JSON fails the schema, is reported on stderr\n"
        "(with -p: exit status 1; what was generated is still printed).\n"
        "Exit status: 0 answered, 1 error (also an incomplete or invalid constrained answer),\n"
        "2 usage, 130 the answer was interrupted (-p).\n"
        "example: kaiwu chat -m model.gguf --system \"You are terse.\" -p \"What is 2+2?\"\n",
        kw_chat_format_names());
}

#define F(field) offsetof(chat_opts, field)
static const cli_opt chat_table[] = {
    {"--model", "-m", CLI_STR, F(model_path), 0, 0},
    {"--prompt", "-p", CLI_STR, F(prompt), 0, 0},
    {"--system", NULL, CLI_STR, F(system), 0, 0},
    {"--file", "-f", CLI_STR, F(prompt_file), 0, 0},
    {"--format", NULL, CLI_STR, F(format), 0, 0},
    {"--chat-template", NULL, CLI_STR, F(format), 0, 0},
    {"--n-predict", "-n", CLI_I32, F(n_predict), -1, INT32_MAX},
    {"--ctx-size", "-c", CLI_I32, F(n_ctx), 0, INT32_MAX},
    {"--threads", "-t", CLI_I32, F(n_threads), 1, KW_MAX_THREADS},
    CLI_CACHE_OPTS(F(cache)),
    CLI_JSON_SCHEMA_OPTS(chat_opts, json_schema),
    {"--tools", NULL, CLI_JSON_TEXT, F(tools), 0, 0},
    {"--tool-choice", NULL, CLI_STR, F(tool_choice), 0, 0},
};
#undef F
enum { CHAT_N_OPTS = sizeof chat_table / sizeof chat_table[0] };

static const struct {
    const char *name;
    size_t offset;
} chat_flags[] = {
    {"--escape", offsetof(chat_opts, escape)},
    {"-e", offsetof(chat_opts, escape)},
    {"--json", offsetof(chat_opts, json)},
    {"--hide-thinking", offsetof(chat_opts, hide_thinking)},
    {"--no-think", offsetof(chat_opts, no_think)},
    {"--drop-oldest", offsetof(chat_opts, drop_oldest)},
    {"--verbose", offsetof(chat_opts, verbose)},
    {"--ignore-eos", offsetof(chat_opts, ignore_eos)},
};

/* CLI_EXIT_OK, the code of a usage error (printed), or -1 after --help. */
static int chat_parse(int argc, char **argv, chat_opts *o) {
    memset(o, 0, sizeof *o);
    o->n_predict = -1;
    o->n_ctx = -1;
    o->cache = cli_cache_default();
    o->sp = kw_sampler_default_params();
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (cli_is_help(a)) {
            chat_usage(stdout);
            return -1;
        }
        bool matched = false;
        for (size_t k = 0; k < sizeof chat_flags / sizeof chat_flags[0] && !matched; k++)
            if (strcmp(a, chat_flags[k].name) == 0) {
                *(bool *)((char *)o + chat_flags[k].offset) = true;
                matched = true;
            }
        if (!matched) {
            int k = cli_match_opt("chat", chat_table, CHAT_N_OPTS, argc, argv, &i, o);
            if (k == -1) {
                k = cli_match_opt("chat", cli_sampling_opts, cli_n_sampling_opts, argc, argv, &i,
                                  &o->sp);
                if (k >= 0 && strcmp(cli_sampling_opts[k].name, "--seed") == 0)
                    o->seed_given = true;
            }
            if (k == -2) return CLI_EXIT_USAGE;
            matched = k >= 0;
        }
        if (matched) continue;
        if (a[0] == '-' && a[1]) return cli_usage_error("chat", "unknown option '%s'", a);
        if (!o->model_path) {
            o->model_path = a; /* `kaiwu chat MODEL` */
            continue;
        }
        return cli_usage_error("chat", "unexpected argument '%s' (a question goes after -p)", a);
    }
    if (!o->model_path && !(o->model_path = cli_default_model("chat"))) return CLI_EXIT_ERROR;
    if (o->prompt && o->prompt_file) return cli_usage_error("chat", "give -p or -f, not both");
    if (o->json_schema && o->sp.grammar)
        return cli_usage_error("chat", "--json-schema and --grammar/--json-object: give one");
    if (o->tool_choice && !o->tools) return cli_usage_error("chat", "--tool-choice needs --tools");
    bool is_template = o->format && (strstr(o->format, "{{") || strstr(o->format, "{%"));
    if (o->format && !is_template && strcmp(o->format, "model") != 0 &&
        strcmp(o->format, "auto") != 0 && !kw_chat_format_source(o->format))
        return cli_usage_error("chat",
                               "--format: unknown format '%s' (built-in formats: %s; or 'model', "
                               "'auto', or Jinja template text)",
                               o->format, kw_chat_format_names());
    if (o->escape && o->prompt) cli_unescape((char *)o->prompt);
    if (o->escape && o->system) cli_unescape((char *)o->system);
    return CLI_EXIT_OK;
}

/* ------------------------------------------------------------------------------------------------
 * The conversation
 * ---------------------------------------------------------------------------------------------- */

static void messages_reset(chat_session *s) {
    json_array_clear(s->messages);
    if (s->system && *s->system)
        json_array_append_new(s->messages,
                              json_pack("{s:s, s:s}", "role", "system", "content", s->system));
}

static void messages_add(chat_session *s, const char *role, const char *content,
                         const char *reasoning) {
    json_t *m = json_pack("{s:s, s:s}", "role", role, "content", content);
    if (reasoning && *reasoning)
        json_object_set_new(m, "reasoning_content", json_string(reasoning));
    json_array_append_new(s->messages, m);
}

/* The answer as an assistant message; its tool calls (if any) as OpenAI's "tool_calls" with the
 * arguments as a JSON object, the form chat templates iterate over. */
static void messages_add_reply(chat_session *s, const kw_chat_reply *r) {
    messages_add(s, "assistant", r->content, r->reasoning_content);
    if (r->n_tool_calls == 0) return;
    json_t *calls = json_array();
    for (int32_t i = 0; i < r->n_tool_calls; i++) {
        json_t *args = json_loads(r->tool_calls[i].arguments, JSON_DECODE_ANY, NULL);
        json_array_append_new(
            calls, json_pack("{s:s, s:s, s:{s:s, s:o}}", "id", r->tool_calls[i].id, "type",
                             "function", "function", "name", r->tool_calls[i].name, "arguments",
                             args ? args : json_string(r->tool_calls[i].arguments)));
    }
    json_object_set_new(json_array_get(s->messages, json_array_size(s->messages) - 1), "tool_calls",
                        calls);
}

/* Drops the oldest turn after the system message: its first message and what follows up to the
 * next user message. False when only the last user message (and the system) is left. */
static bool messages_drop_oldest(chat_session *s) {
    size_t first = 0, n = json_array_size(s->messages);
    const char *role0 = json_string_value(json_object_get(json_array_get(s->messages, 0), "role"));
    if (role0 && strcmp(role0, "system") == 0) first = 1;
    size_t end = first + 1;
    while (end < n) {
        const char *r =
            json_string_value(json_object_get(json_array_get(s->messages, end), "role"));
        if (r && strcmp(r, "user") == 0) break;
        end++;
    }
    if (end >= n) return false; /* that would drop the question being asked */
    for (size_t i = first; i < end; i++)
        json_array_remove(s->messages, first);
    return true;
}

/* ------------------------------------------------------------------------------------------------
 * One turn: render, reuse the cached prefix, evaluate the rest, stream the answer
 * ---------------------------------------------------------------------------------------------- */

/* Prints the reply as it streams (kw_gen hands out whole UTF-8 characters, already split into
 * reasoning and content): the reasoning part apart (dim on a terminal, or between [thinking]
 * markers) or hidden. */
typedef struct chat_view {
    chat_session *s;
    bool in_think; /* reasoning is being shown: the marker that closes it is still due */
} chat_view;

static void view_close(chat_view *v) {
    if (v->in_think) fputs(v->s->color ? "\n" : "\n[/thinking]\n", stdout);
    v->in_think = false;
}

static void view_event(void *user, const kw_gen_event *ev) {
    chat_view *v = user;
    const chat_session *s = v->s;
    if (ev->reasoning_len > 0 && !s->o.hide_thinking) {
        if (!v->in_think && !s->color) fputs("[thinking] ", stdout);
        v->in_think = true;
        if (s->color) fputs(DIM, stdout);
        fwrite(ev->reasoning, 1, (size_t)ev->reasoning_len, stdout);
        if (s->color) fputs(RESET, stdout);
    }
    if (ev->content_len > 0) {
        view_close(v);
        fwrite(ev->content, 1, (size_t)ev->content_len, stdout);
    }
    fflush(stdout);
}

/* Sets the conversation (with the generation prompt) as g's prompt; when it plus room for an
 * answer passes the context, drops the oldest turns (--drop-oldest) or fails with the numbers.
 * Returns false after printing why. */
static bool fit_prompt(chat_session *s, kw_gen *g) {
    int32_t n_ctx = kw_context_n_ctx(s->ctx);
    int32_t room = s->o.n_predict >= 0 && s->o.n_predict < 128 ? s->o.n_predict : 128;
    if (room > n_ctx / 4) room = n_ctx / 4;
    if (room < 1) room = 1;
    int dropped = 0;
    int32_t n = 0;
    for (;;) {
        char *msgs = json_dumps(s->messages, JSON_COMPACT | JSON_PRESERVE_ORDER);
        kw_status st =
            msgs ? kw_gen_set_chat_prompt(g, s->chat, msgs, s->o.tools,
                                          s->o.no_think ? "{\"enable_thinking\": false}" : NULL)
                 : KW_ERR_NOMEM;
        free(msgs);
        if (st != KW_OK) {
            cli_api_error();
            return false;
        }
        n = kw_gen_get_usage(g).prompt_tokens;
        if (n + room <= n_ctx) break;
        if (!s->o.drop_oldest || !messages_drop_oldest(s)) {
            fprintf(stderr,
                    "error: the conversation is %d tokens; with %d tokens of room for the answer "
                    "it needs %d, more than the context of %d tokens (use -c to enlarge it, "
                    "--drop-oldest to drop old turns%s)\n",
                    n, room, n + room, n_ctx, s->interactive ? ", or /reset" : "");
            return false;
        }
        dropped++;
    }
    if (dropped)
        fprintf(stderr,
                "note: dropped the %d oldest turn%s to fit the context of %d tokens "
                "(the conversation is now %d tokens)\n",
                dropped, dropped == 1 ? "" : "s", n_ctx, n);
    return true;
}

/* A generation for one answer with the session's settings. */
static kw_status new_gen(chat_session *s, kw_gen_event_fn on_event, void *user, kw_gen **g) {
    kw_gen_params gp = kw_gen_default_params();
    gp.sampler = s->o.sp;
    gp.json_schema = s->o.json_schema;
    gp.tools_json = s->o.tools;
    gp.tool_choice = s->o.tool_choice;
    gp.tool_format = kw_chat_tool_format(s->chat);
    gp.max_tokens = s->o.n_predict;
    gp.ignore_eos = s->o.ignore_eos;
    gp.split_thinking = true;
    gp.on_event = on_event;
    gp.user = user;
    return kw_gen_create(s->eng, &gp, g);
}

/* The calls of an answer, one line each (dim on a terminal), after the streamed text. */
static void print_tool_calls(const chat_session *s, const kw_chat_reply *r) {
    for (int32_t i = 0; i < r->n_tool_calls; i++)
        printf("%s[tool call] %s %s%s\n", s->color ? DIM : "", r->tool_calls[i].name,
               r->tool_calls[i].arguments, s->color ? RESET : "");
}

/* Why the answer ended, in the words of the statistics. */
static const char *stop_reason(const kw_gen *g, int32_t n_predict) {
    switch (kw_gen_finish_reason(g)) {
    case KW_FINISH_STOP: return "end of answer";
    case KW_FINISH_TOOL_CALL: return "tool calls";
    case KW_FINISH_LENGTH:
        return n_predict >= 0 && kw_gen_get_usage(g).completion_tokens >= n_predict
                   ? "length limit (-n)"
                   : "context full";
    case KW_FINISH_CANCELLED: return "interrupted (Ctrl-C)";
    default: return "error";
    }
}

static void print_json_reply(const kw_chat_reply *r) {
    json_t *m = json_pack("{s:s, s:s, s:o}", "role", "assistant", "content", r->content,
                          "reasoning_content",
                          r->reasoning_content ? json_string(r->reasoning_content) : json_null());
    if (r->n_tool_calls > 0) {
        json_t *calls = json_array();
        for (int32_t i = 0; i < r->n_tool_calls; i++)
            json_array_append_new(calls, json_pack("{s:s, s:s, s:{s:s, s:s}}", "id",
                                                   r->tool_calls[i].id, "type", "function",
                                                   "function", "name", r->tool_calls[i].name,
                                                   "arguments", r->tool_calls[i].arguments));
        json_object_set_new(m, "tool_calls", calls);
    }
    char *text = json_dumps(m, JSON_PRESERVE_ORDER); /* UTF-8 as is, not \uXXXX */
    if (text) puts(text);
    free(text);
    json_decref(m);
}

/* Asks one question: adds it to the conversation, answers it with one kw_gen over the session's
 * engine (which keeps the cached tokens that begin the new prompt and evaluates the rest), adds
 * the answer. On failure the question is taken back out, so the conversation stays as it was. */
static bool chat_turn(chat_session *s, const char *question) {
    messages_add(s, "user", question, NULL);
    chat_view v = {.s = s};
    kw_gen *g = NULL;
    if (new_gen(s, s->o.json ? NULL : view_event, &v, &g) != KW_OK) {
        cli_api_error();
        json_array_remove(s->messages, json_array_size(s->messages) - 1);
        return false;
    }
    if (!fit_prompt(s, g)) {
        kw_gen_free(g);
        json_array_remove(s->messages, json_array_size(s->messages) - 1);
        return false;
    }
    atomic_store(&chat_gen, g);
    if (chat_interrupted) kw_gen_cancel(g); /* Ctrl-C came before the handler knew g */
    kw_status st = kw_generate(g);
    atomic_store(&chat_gen, NULL);
    if (!s->o.json) {
        if (v.in_think && !s->color) fputs("\n[/thinking]", stdout);
        fputc('\n', stdout);
        fflush(stdout);
    }
    kw_chat_reply r;
    if (st != KW_OK || kw_gen_finish_reason(g) == KW_FINISH_ERROR || kw_gen_reply(g, &r) != KW_OK) {
        cli_api_error();
        kw_gen_free(g);
        json_array_remove(s->messages, json_array_size(s->messages) - 1);
        return false;
    }
    if (r.n_malformed_calls > 0)
        fprintf(stderr, "warning: %d malformed tool call%s left in the text: %s\n",
                r.n_malformed_calls, r.n_malformed_calls == 1 ? "" : "s",
                r.warning ? r.warning : "");
    if (!s->o.json) print_tool_calls(s, &r);
    messages_add_reply(s, &r); /* a partial answer stays too */
    s->interrupted = kw_gen_finish_reason(g) == KW_FINISH_CANCELLED;
    if (s->o.json) print_json_reply(&r);
    kw_chat_reply_free(&r);
    const kw_gen_usage u = kw_gen_get_usage(g);
    const char *why = stop_reason(g, s->o.n_predict);
    const int32_t n_new = u.prompt_tokens - u.cached_tokens;
    double rate = u.t_generate > 1e-9 ? (double)u.completion_tokens / u.t_generate : 0;
    if (s->interactive)
        printf("%s[%d tokens, %.1f tokens/s; prompt: %d new of %d tokens, %.2f s%s%s]%s\n",
               s->color ? DIM : "", u.completion_tokens, rate, n_new, u.prompt_tokens, u.t_prompt,
               strcmp(why, "end of answer") ? "; stop: " : "",
               strcmp(why, "end of answer") ? why : "", s->color ? RESET : "");
    else {
        cli_print_speed(stderr, "prompt", n_new, u.t_prompt);
        cli_print_speed(stderr, "generated", u.completion_tokens, u.t_generate);
        fprintf(stderr, "stop: %s\n", why);
    }
    if (strcmp(why, "context full") == 0)
        fprintf(stderr,
                "note: the context of %d tokens is full: the answer was cut (use -c to "
                "enlarge it, or --drop-oldest)\n",
                kw_context_n_ctx(s->ctx));
    s->unmet = !cli_constraint_ok(g, "reply", why, s->o.json_schema != NULL);
    kw_gen_free(g);
    return true;
}

/* ------------------------------------------------------------------------------------------------
 * Interactive loop: input, /commands
 * ---------------------------------------------------------------------------------------------- */

/* Appends src (n bytes) and a separator to *dst (malloc'd); false when out of memory. */
static bool str_append(char **dst, size_t *len, const char *src, size_t n, const char *sep) {
    size_t sl = sep ? strlen(sep) : 0;
    char *p = realloc(*dst, *len + n + sl + 1);
    if (!p) return false;
    memcpy(p + *len, src, n);
    memcpy(p + *len + n, sep ? sep : "", sl);
    *len += n + sl;
    p[*len] = 0;
    *dst = p;
    return true;
}

/* Reads one message (malloc'd), NULL at end of input. A line ending with '\' continues on the
 * next line; a line starting with """ opens a block that a line ending with """ closes. */
static char *read_input(void) {
    char *line = readline("> ");
    if (!line) return NULL;
    char *text = NULL;
    size_t len = 0;
    bool block = strncmp(line, "\"\"\"", 3) == 0;
    const char *cur = block ? line + 3 : line;
    for (;;) {
        size_t n = strlen(cur);
        bool closes =
            block && n >= 3 && strcmp(cur + n - 3, "\"\"\"") == 0 && (cur != line + 3 || n >= 3);
        bool cont = !block && n > 0 && cur[n - 1] == '\\';
        if (closes) n -= 3;
        if (cont) n -= 1;
        bool more = (block && !closes) || cont;
        if (!str_append(&text, &len, cur, n, more ? "\n" : NULL)) break;
        free(line);
        if (!more) return text;
        line = readline("... ");
        if (!line) return text; /* end of input inside a block: take what was typed */
        cur = line;
    }
    free(line);
    free(text);
    return NULL;
}

static void print_help(void) {
    puts("commands:\n"
         "  /help, /?             this list\n"
         "  /reset, /clear        start a new conversation (the system message stays)\n"
         "  /save FILE            save the conversation as JSON ({\"messages\": [...]})\n"
         "  /load FILE            load a conversation saved with /save (or a messages array)\n"
         "  /system TEXT          set the system message (empty TEXT removes it)\n"
         "  /set NAME VALUE       change sampling: temp, top-k, top-p, min-p, repeat-penalty,\n"
         "                        seed, n (most tokens per answer)\n"
         "  /exit, /quit, /bye    leave (Ctrl-D too)\n"
         "input: end a line with \\ to continue it; wrap several lines in \"\"\" ... \"\"\".\n"
         "Ctrl-C stops an answer; what was generated stays in the conversation.");
}

/* Saves through a kw_outfile: never over the model, never a half-written file. */
static void cmd_save(chat_session *s, const char *path) {
    if (!*path) {
        puts("usage: /save FILE");
        return;
    }
    const char *inputs[] = {s->o.model_path};
    kw_outfile *o = NULL;
    if (kw_outfile_open(path, inputs, 1, &o) != KW_OK) {
        fprintf(stderr, "error: %s\n", kw_last_error());
        return;
    }
    json_t *doc = json_pack("{s:O}", "messages", s->messages);
    FILE *f = kw_outfile_stream(o);
    if (!doc || json_dumpf(doc, f, JSON_INDENT(2) | JSON_PRESERVE_ORDER) != 0 ||
        fputc('\n', f) < 0) {
        fprintf(stderr, "error: cannot write '%s'\n", path);
        kw_outfile_abort(o);
    } else if (kw_outfile_commit(o) != KW_OK)
        fprintf(stderr, "error: %s\n", kw_last_error());
    else
        printf("saved %zu messages to %s\n", json_array_size(s->messages), path);
    json_decref(doc);
}

static void cmd_load(chat_session *s, const char *path) {
    if (!*path) {
        puts("usage: /load FILE");
        return;
    }
    json_error_t err;
    json_t *doc = json_load_file(path, JSON_DECODE_ANY, &err);
    if (!doc) {
        fprintf(stderr, "error: cannot load '%s': %s (line %d, column %d)\n", path, err.text,
                err.line, err.column);
        return;
    }
    json_t *msgs = json_is_array(doc) ? doc : json_object_get(doc, "messages");
    size_t i;
    json_t *m;
    bool valid = json_is_array(msgs);
    json_array_foreach(msgs, i, m) {
        if (!json_is_object(m) || !json_is_string(json_object_get(m, "role"))) {
            fprintf(stderr, "error: '%s': message %zu has no \"role\" string\n", path, i);
            valid = false;
            break;
        }
    }
    if (!json_is_array(msgs))
        fprintf(stderr, "error: '%s' holds neither a messages array nor {\"messages\": [...]}\n",
                path);
    if (valid) {
        json_array_clear(s->messages);
        json_array_extend(s->messages, msgs);
        printf("loaded %zu messages from %s\n", json_array_size(s->messages), path);
    }
    json_decref(doc);
}

static void cmd_system(chat_session *s, const char *text) {
    json_t *first = json_array_get(s->messages, 0);
    const char *role = json_string_value(json_object_get(first, "role"));
    bool has = role && strcmp(role, "system") == 0;
    if (has) json_array_remove(s->messages, 0);
    if (*text)
        json_array_insert_new(s->messages, 0,
                              json_pack("{s:s, s:s}", "role", "system", "content", text));
    free(s->system); /* /reset keeps the system message now in the conversation */
    s->system = *text ? strdup(text) : NULL;
    printf(*text ? "system message set\n" : "system message removed\n");
}

static void cmd_set(chat_session *s, const char *args) {
    char name[32];
    const char *sp = strchr(args, ' ');
    if (!sp || sp == args || (size_t)(sp - args) >= sizeof name) {
        puts("usage: /set NAME VALUE  (temp, top-k, top-p, min-p, repeat-penalty, seed, n)");
        return;
    }
    memcpy(name, args, (size_t)(sp - args));
    name[sp - args] = 0;
    const char *val = sp + 1;
    char *end = NULL;
    double v = strtod(val, &end);
    if (!*val || *end) {
        printf("/set %s: '%s' is not a number\n", name, val);
        return;
    }
    kw_sampler_params p = s->o.sp;
    if (strcmp(name, "temp") == 0 && v >= 0)
        p.temperature = (float)v;
    else if (strcmp(name, "top-k") == 0 && v >= 0)
        p.top_k = (int32_t)v;
    else if (strcmp(name, "top-p") == 0 && v >= 0 && v <= 1)
        p.top_p = (float)v;
    else if (strcmp(name, "min-p") == 0 && v >= 0 && v <= 1)
        p.min_p = (float)v;
    else if (strcmp(name, "repeat-penalty") == 0 && v > 0)
        p.repeat_penalty = (float)v;
    else if (strcmp(name, "seed") == 0 && v >= 0)
        p.seed = (uint64_t)v;
    else if (strcmp(name, "n") == 0 && v >= -1 && v <= INT32_MAX) {
        s->o.n_predict = (int32_t)v;
        printf("n = %d\n", s->o.n_predict);
        return;
    } else {
        printf("/set: unknown parameter '%s' or value %s out of range\n", name, val);
        return;
    }
    kw_sampler *smp = NULL; /* only to check the settings: each answer makes its own */
    if (kw_sampler_create(s->model, &p, &smp) != KW_OK) {
        fprintf(stderr, "error: %s\n", kw_last_error());
        return;
    }
    kw_sampler_free(smp);
    s->o.sp = p;
    printf("%s = %s\n", name, val);
}

/* Runs a /command; false for /exit. */
static bool run_command(chat_session *s, const char *line) {
    const char *arg = strchr(line, ' ');
    size_t n = arg ? (size_t)(arg - line) : strlen(line);
    arg = arg ? arg + 1 : "";
    while (*arg == ' ')
        arg++;
#define IS(c) (n == strlen(c) && strncmp(line, c, n) == 0)
    if (IS("/exit") || IS("/quit") || IS("/bye")) return false;
    if (IS("/help") || IS("/?"))
        print_help();
    else if (IS("/reset") || IS("/clear")) {
        messages_reset(s);
        puts("conversation cleared");
    } else if (IS("/save"))
        cmd_save(s, arg);
    else if (IS("/load"))
        cmd_load(s, arg);
    else if (IS("/system"))
        cmd_system(s, arg);
    else if (IS("/set"))
        cmd_set(s, arg);
    else
        printf("unknown command '%.*s' (/help lists them)\n", (int)n, line);
#undef IS
    return true;
}

/* libedit decodes what is typed with the C library's multibyte functions, which in the "C" locale
 * drop every byte above 0x7f ("中文" -> "", "héllo" -> "hllo"). kaiwu's text is UTF-8, so the
 * character type comes from the environment when that is UTF-8, else from C.UTF-8. Only LC_CTYPE:
 * numbers keep printing with a dot whatever LC_NUMERIC says. */
static void use_utf8_input(void) {
    const char *l = setlocale(LC_CTYPE, "");
    if (l && strcmp(nl_langinfo(CODESET), "UTF-8") == 0) return;
    if (!setlocale(LC_CTYPE, "C.UTF-8") && !setlocale(LC_CTYPE, "en_US.UTF-8"))
        fprintf(stderr, "warning: no UTF-8 locale (C.UTF-8): characters beyond ASCII typed at "
                        "the prompt may be lost\n");
}

static int chat_repl(chat_session *s) {
    printf("kaiwu chat: %s (%s; context %d tokens). /help for commands, Ctrl-D to quit.\n",
           s->o.model_path, kw_chat_format_used(s->chat), kw_context_n_ctx(s->ctx));
    use_utf8_input();
    using_history();
    for (;;) {
        chat_interrupted = 0;
        char *text = read_input();
        if (!text && chat_interrupted) {
            putchar('\n');
            continue;
        }
        if (!text) {
            putchar('\n');
            break;
        }
        const char *t = text;
        while (*t == ' ' || *t == '\t')
            t++;
        if (!*t) {
            free(text);
            continue;
        }
        add_history(text);
        bool go_on = true;
        if (t[0] == '/' && t[1] != '/')
            go_on = run_command(s, t);
        else
            chat_turn(s, t);
        free(text);
        if (!go_on) break;
    }
    return CLI_EXIT_OK;
}

/* ------------------------------------------------------------------------------------------------
 * Entry point
 * ---------------------------------------------------------------------------------------------- */

/* Loads the model, the chat format, a context and a sampler. */
static bool session_open(chat_session *s) {
    kw_model_params mp = {.verbose = s->o.verbose};
    if (kw_model_load(s->o.model_path, &mp, &s->model) != KW_OK) return false;
    const char *fmt = !s->o.format                        ? "auto"
                      : strcmp(s->o.format, "model") == 0 ? NULL
                                                          : s->o.format;
    if (kw_chat_create(s->model, fmt, &s->chat) != KW_OK) {
        s->hint_format = true;
        return false;
    }
    if (kw_chat_format_note(s->chat))
        fprintf(stderr, "note: %s; choose another with --format NAME\n",
                kw_chat_format_note(s->chat));
    kw_context_params cp = kw_context_default_params();
    if (s->o.n_ctx >= 0)
        cp.n_ctx = s->o.n_ctx; /* 0: the model's training context */
    else {
        int32_t train = kw_model_n_ctx_train(s->model);
        cp.n_ctx = train > 0 && train < 4096 ? train : 4096;
    }
    cp.n_threads = s->o.n_threads;
    cp.cache_type_k = s->o.cache.k, cp.cache_type_v = s->o.cache.v;
    if (kw_context_create(s->model, &cp, &s->ctx) != KW_OK) return false;
    if (kw_engine_create(s->ctx, &s->eng) != KW_OK) return false;
    /* a malformed grammar, schema or tools array is reported now, not at the first answer */
    kw_gen *g = NULL;
    if (new_gen(s, NULL, NULL, &g) != KW_OK) return false;
    kw_gen_free(g);
    s->messages = json_array();
    s->system = s->o.system ? strdup(s->o.system) : NULL;
    messages_reset(s);
    if (s->o.verbose)
        fprintf(stderr, "model: %s (%s), chat format: %s, context %d tokens, seed %llu\n",
                kw_model_name(s->model), kw_model_arch(s->model), kw_chat_format_used(s->chat),
                kw_context_n_ctx(s->ctx), (unsigned long long)s->o.sp.seed);
    return true;
}

static void session_close(chat_session *s) {
    json_decref(s->messages);
    free(s->system);
    kw_engine_free(s->eng);
    kw_context_free(s->ctx);
    kw_chat_free(s->chat);
    kw_model_free(s->model);
}

int cmd_chat(int argc, char **argv) {
    chat_session s;
    memset(&s, 0, sizeof s);
    int rc = chat_parse(argc, argv, &s.o);
    if (rc != CLI_EXIT_OK) return rc < 0 ? CLI_EXIT_OK : rc;
    if (!s.o.seed_given) s.o.sp.seed = cli_random_seed();
    char *question = NULL;
    s.interactive = !s.o.prompt && !s.o.prompt_file && isatty(STDIN_FILENO);
    if (!s.o.prompt && !s.interactive) { /* -f FILE, or a question piped in */
        const char *from = s.o.prompt_file ? s.o.prompt_file : "-";
        size_t len = 0;
        question = cli_read_file(from, &len);
        if (!question) return CLI_EXIT_ERROR;
        while (len > 0 && (question[len - 1] == '\n' || question[len - 1] == '\r'))
            question[--len] = 0;
        if (len == 0) {
            free(question);
            return cli_usage_error("chat", "no question: the text is empty (%s; give -p TEXT)",
                                   strcmp(from, "-") == 0 ? "stdin" : from);
        }
    } else if (s.o.prompt && !*s.o.prompt)
        return cli_usage_error("chat", "-p: the text is empty");
    s.color = isatty(STDOUT_FILENO) && !s.o.json;
    /* Ctrl-C from here on: during an answer it cancels it; at the interactive prompt it drops the
     * line being typed; before the one answer of -p is under way (the model still loading) it
     * cancels that answer at once, and a second Ctrl-C ends the program as usual. */
    struct sigaction sa, old_sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sa.sa_flags = s.interactive ? 0 : SA_RESETHAND;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_sa);
    rc = CLI_EXIT_ERROR;
    if (!session_open(&s)) {
        cli_api_error();
        if (s.hint_format)
            fprintf(stderr, "hint: name a chat format with --format NAME (%s)\n",
                    kw_chat_format_names());
    } else if (s.interactive)
        rc = chat_repl(&s);
    else if (!chat_turn(&s, s.o.prompt ? s.o.prompt : question))
        rc = CLI_EXIT_ERROR;
    else
        rc = s.interrupted ? CLI_EXIT_INTERRUPTED : s.unmet ? CLI_EXIT_ERROR : CLI_EXIT_OK;
    sigaction(SIGINT, &old_sa, NULL);
    session_close(&s);
    free(question);
    return rc;
}
