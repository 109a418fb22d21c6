/* cmd_serve.c - `kaiwu serve`: an OpenAI-compatible HTTP server over one model.
 *
 * Parses the flags into kw_server_params, starts the server (which listens at once and loads the
 * model in the background), then waits for SIGTERM or SIGINT: the first stops accepting new
 * connections and lets requests in flight finish for up to --grace seconds; a second one cancels
 * them at once. Everything else is the library's (src/serve/, docs/serving.md).
 *
 * Relies on: kaiwu.h and cli.h only. Must not: include src/ headers.
 */
#include "cli.h"

#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <unistd.h>

typedef struct serve_opts {
    kw_server_params p;
    int32_t grace;
} serve_opts;

static void serve_usage(FILE *f) {
    fputs("usage: kaiwu serve [-m MODEL.gguf] [options]\n"
          "\n"
          "Serves the model over HTTP with the OpenAI API: POST /v1/chat/completions and\n"
          "/v1/completions (streaming with \"stream\": true), GET /v1/models, GET /health and\n"
          "GET /metrics (Prometheus). Requests share each forward pass (continuous batching);\n"
          "one log line per request goes to stderr. See docs/serving.md.\n"
          "\n"
          "options:\n"
          "  -m, --model PATH         GGUF model file;\n" CLI_DEFAULT_MODEL_HELP
          "  --host ADDR              address to listen on (default 127.0.0.1; 0.0.0.0 = all)\n"
          "  --port N                 port (default 8080; 0 = any free port, printed)\n"
          "  -np, --parallel N        requests evaluated together, one sequence each (default 4)\n"
          "  -c, --ctx-size N         context of each request in tokens (default min(model's,\n"
          "                           4096)); the KV cache holds N x parallel positions\n"
          "  -t, --threads N          worker threads (default: all cores)\n" CLI_CACHE_HELP
          "  --api-key KEY            require 'Authorization: Bearer KEY' on /v1 requests\n"
          "                           (default: the KAIWU_API_KEY environment variable, if set)\n"
          "  -a, --alias NAME         the model's name in the API (default: the file name)\n"
          "  --max-queue Q            requests that may wait for a free sequence; more get 503\n"
          "                           (default 64)\n"
          "  --timeout S              seconds a connection may idle, and to send its request\n"
          "                           (default 600)\n"
          "  --chat-format NAME       a built-in chat format for models without a template\n"
          "                           (chatml, llama3, ...; see kaiwu chat --help)\n"
          "  --grace S                on SIGTERM, seconds to let requests in flight finish\n"
          "                           (default 30); a second signal cancels them\n"
          "  -h, --help               show this help\n"
          "\n"
          "example: kaiwu serve -m model.gguf --port 8080 --parallel 8\n"
          "         curl http://127.0.0.1:8080/v1/chat/completions -H 'Content-Type: "
          "application/json' \\\n"
          "           -d '{\"messages\": [{\"role\": \"user\", \"content\": \"Hello\"}]}'\n",
          f);
}

#define F(field) offsetof(serve_opts, field)
static const cli_opt serve_table[] = {
    {"--model", "-m", CLI_STR, F(p.model_path), 0, 0},
    {"--host", NULL, CLI_STR, F(p.host), 0, 0},
    {"--port", NULL, CLI_I32, F(p.port), 0, 65535},
    {"--parallel", "-np", CLI_I32, F(p.parallel), 1, 64},
    {"--ctx-size", "-c", CLI_I32, F(p.ctx_size), 16, INT32_MAX},
    {"--threads", "-t", CLI_I32, F(p.n_threads), 1, 1024},
    {"--cache-type-k", "-ctk", CLI_CACHE_TYPE, F(p.cache_type_k), 0, 0},
    {"--cache-type-v", "-ctv", CLI_CACHE_TYPE, F(p.cache_type_v), 0, 0},
    {"--api-key", NULL, CLI_STR, F(p.api_key), 0, 0},
    {"--alias", "-a", CLI_STR, F(p.alias), 0, 0},
    {"--max-queue", NULL, CLI_I32, F(p.max_queue), 1, 1 << 20},
    {"--timeout", NULL, CLI_I32, F(p.timeout), 1, 1 << 24},
    {"--grace", NULL, CLI_I32, F(grace), 0, 1 << 20},
    {"--chat-format", NULL, CLI_STR, F(p.chat_format), 0, 0},
};
#undef F
enum { SERVE_N_OPTS = sizeof serve_table / sizeof serve_table[0] };

static int serve_parse(int argc, char **argv, serve_opts *o) {
    memset(o, 0, sizeof *o);
    o->p = kw_server_default_params();
    o->grace = 30;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (cli_is_help(a)) {
            serve_usage(stdout);
            return -1;
        }
        int k = cli_match_opt("serve", serve_table, SERVE_N_OPTS, argc, argv, &i, o);
        if (k == -2) return CLI_EXIT_USAGE;
        if (k >= 0) continue;
        if (a[0] == '-' && a[1]) return cli_usage_error("serve", "unknown option '%s'", a);
        return cli_usage_error("serve", "unexpected argument '%s'", a);
    }
    if (!o->p.model_path && !(o->p.model_path = cli_default_model("serve"))) return CLI_EXIT_ERROR;
    if (!o->p.api_key) o->p.api_key = getenv("KAIWU_API_KEY");
    if (o->p.chat_format && !kw_chat_format_source(o->p.chat_format))
        return cli_usage_error("serve", "--chat-format: unknown format '%s' (built-in formats: %s)",
                               o->p.chat_format, kw_chat_format_names());
    return CLI_EXIT_OK;
}

static int signal_pipe[2] = {-1, -1};

static void on_signal(int sig) {
    unsigned char b = (unsigned char)sig;
    ssize_t w = write(signal_pipe[1], &b, 1); /* async-signal-safe; the main thread reads it */
    (void)w;
}

int cmd_serve(int argc, char **argv) {
    serve_opts o;
    int rc = serve_parse(argc, argv, &o);
    if (rc < 0) return CLI_EXIT_OK;
    if (rc) return rc;
    if (pipe(signal_pipe) != 0) {
        fprintf(stderr, "error: pipe: %s\n", strerror(errno));
        return CLI_EXIT_ERROR;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN); /* a client that hangs up is an error return, not a signal */

    kw_server *srv = NULL;
    double t0 = kw_time_seconds();
    if (kw_server_create(&o.p, &srv) != KW_OK) return cli_api_error();
    fprintf(stderr, "kaiwu serve: listening on http://%s:%d (loading %s)\n", o.p.host,
            kw_server_port(srv), o.p.model_path);
    if (kw_server_wait_ready(srv) != KW_OK) {
        cli_api_error();
        kw_server_free(srv);
        return CLI_EXIT_ERROR;
    }
    fprintf(stderr, "kaiwu serve: ready in %.2f s: %d parallel, %s\n", kw_time_seconds() - t0,
            o.p.parallel, o.p.api_key && *o.p.api_key ? "API key required" : "no API key");
    unsigned char sig = 0;
    while (read(signal_pipe[0], &sig, 1) < 0 && errno == EINTR)
        ;
    fprintf(stderr,
            "kaiwu serve: signal %d: no new connections; finishing requests in flight "
            "(up to %d s, a second signal cancels them)\n",
            sig, o.grace);
    kw_server_drain(srv);
    const double until = kw_time_seconds() + o.grace;
    while (kw_server_n_busy(srv) > 0 && kw_time_seconds() < until) {
        fd_set fds;
        FD_ZERO(&fds);
        FD_SET(signal_pipe[0], &fds);
        struct timeval tv = {0, 50000};
        if (select(signal_pipe[0] + 1, &fds, NULL, NULL, &tv) > 0) {
            fprintf(stderr, "kaiwu serve: second signal: cancelling requests in flight\n");
            break;
        }
    }
    if (kw_server_n_busy(srv) > 0)
        fprintf(stderr, "kaiwu serve: cancelling %d requests\n", kw_server_n_busy(srv));
    kw_server_shutdown(srv, 0);
    kw_server_free(srv);
    fprintf(stderr, "kaiwu serve: stopped\n");
    return CLI_EXIT_OK;
}
