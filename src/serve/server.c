/* server.c - the HTTP side of kaiwu serve: libmicrohttpd (one thread per connection), routing,
 * the API key, OpenAI error objects, /health, /metrics, /v1/models, one log line per request,
 * graceful shutdown.
 *
 * A generation request is parsed and tokenized on its connection's thread (so a prompt longer
 * than the context is a 400 before it queues), then handed to the scheduler (sched.c). The
 * connection thread waits for the result, or streams it as server-sent events, and watches its
 * socket meanwhile: a client that hangs up cancels its request at once.
 *
 * Must not: parse HTTP itself (libmicrohttpd does), or let any body or header reach past its
 * checked length.
 */
#include "serve/serve.h"

#include "base/base.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

kw_server_params kw_server_default_params(void) {
    kw_server_params p = {0};
    p.host = "127.0.0.1";
    p.port = 8080;
    p.parallel = 4;
    p.max_queue = 64;
    p.timeout = 600;
    p.max_body = 4 << 20;
    return p;
}

/* ------------------------------------------------------------------------------------------------
 * Metrics
 * ---------------------------------------------------------------------------------------------- */

static const double ttft_bounds[SRV_TTFT_BUCKETS] = {0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
static const double tpot_bounds[SRV_TPOT_BUCKETS] = {0.005, 0.01, 0.025, 0.05, 0.075,
                                                     0.1,   0.25, 0.5,   1,    2.5};

static void observe(atomic_ullong *b, const double *bounds, int nb, atomic_ullong *count,
                    atomic_ullong *sum_us, double v) {
    int i = 0;
    while (i < nb && v > bounds[i])
        i++;
    atomic_fetch_add_explicit(&b[i], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(count, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(sum_us, (unsigned long long)(v * 1e6), memory_order_relaxed);
}

void srv_observe_ttft(srv_metrics *m, double s) {
    observe(m->ttft, ttft_bounds, SRV_TTFT_BUCKETS, &m->ttft_count, &m->ttft_sum_us, s);
}
void srv_observe_tpot(srv_metrics *m, double s) {
    observe(m->tpot, tpot_bounds, SRV_TPOT_BUCKETS, &m->tpot_count, &m->tpot_sum_us, s);
}

static const int status_codes[6] = {200, 400, 401, 404, 413, 503};

static void count_status(srv_metrics *m, int status) {
    for (int i = 0; i < 6; i++)
        if (status_codes[i] == status) {
            atomic_fetch_add_explicit(&m->req_by_status[i], 1, memory_order_relaxed);
            return;
        }
    atomic_fetch_add_explicit(&m->req_other, 1, memory_order_relaxed);
}

static void histogram(srv_buf *b, const char *name, const char *help, atomic_ullong *bk,
                      const double *bounds, int nb, atomic_ullong *count, atomic_ullong *sum_us) {
    char line[256];
    int n = snprintf(line, sizeof line, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
    srv_buf_add(b, line, (size_t)n);
    unsigned long long cum = 0;
    for (int i = 0; i <= nb; i++) {
        cum += atomic_load_explicit(&bk[i], memory_order_relaxed);
        if (i < nb)
            n = snprintf(line, sizeof line, "%s_bucket{le=\"%g\"} %llu\n", name, bounds[i], cum);
        else
            n = snprintf(line, sizeof line, "%s_bucket{le=\"+Inf\"} %llu\n", name, cum);
        srv_buf_add(b, line, (size_t)n);
    }
    n = snprintf(line, sizeof line, "%s_sum %.6f\n%s_count %llu\n", name,
                 (double)atomic_load(sum_us) / 1e6, name, (unsigned long long)atomic_load(count));
    srv_buf_add(b, line, (size_t)n);
}

static char *metrics_text(srv_server *s) {
    srv_metrics *m = &s->metrics;
    srv_buf b = {0};
    char line[1024];
    int n;
    srv_buf_add(&b,
                "# HELP kaiwu_requests_total HTTP requests answered, by status.\n"
                "# TYPE kaiwu_requests_total counter\n",
                strlen("# HELP kaiwu_requests_total HTTP requests answered, by status.\n"
                       "# TYPE kaiwu_requests_total counter\n"));
    for (int i = 0; i < 6; i++) {
        n = snprintf(line, sizeof line, "kaiwu_requests_total{status=\"%d\"} %llu\n",
                     status_codes[i], (unsigned long long)atomic_load(&m->req_by_status[i]));
        srv_buf_add(&b, line, (size_t)n);
    }
    n = snprintf(line, sizeof line, "kaiwu_requests_total{status=\"other\"} %llu\n",
                 (unsigned long long)atomic_load(&m->req_other));
    srv_buf_add(&b, line, (size_t)n);
    n = snprintf(line, sizeof line,
                 "# HELP kaiwu_prompt_tokens_total Prompt tokens of admitted requests.\n"
                 "# TYPE kaiwu_prompt_tokens_total counter\nkaiwu_prompt_tokens_total %llu\n"
                 "# HELP kaiwu_generated_tokens_total Tokens generated.\n"
                 "# TYPE kaiwu_generated_tokens_total counter\nkaiwu_generated_tokens_total %llu\n",
                 (unsigned long long)atomic_load(&m->tokens_in),
                 (unsigned long long)atomic_load(&m->tokens_out));
    srv_buf_add(&b, line, (size_t)n);
    n = snprintf(line, sizeof line,
                 "# HELP kaiwu_queue_length Requests waiting for a slot.\n"
                 "# TYPE kaiwu_queue_length gauge\nkaiwu_queue_length %d\n"
                 "# HELP kaiwu_slots_busy Slots (sequences) generating.\n"
                 "# TYPE kaiwu_slots_busy gauge\nkaiwu_slots_busy %d\n"
                 "# HELP kaiwu_slots_total Slots (--parallel).\n"
                 "# TYPE kaiwu_slots_total gauge\nkaiwu_slots_total %d\n",
                 atomic_load(&m->queue_len), atomic_load(&m->slots_busy), s->p.parallel);
    srv_buf_add(&b, line, (size_t)n);
    histogram(&b, "kaiwu_time_to_first_token_seconds",
              "Seconds from a request's arrival to its first token.", m->ttft, ttft_bounds,
              SRV_TTFT_BUCKETS, &m->ttft_count, &m->ttft_sum_us);
    histogram(&b, "kaiwu_time_per_output_token_seconds", "Seconds between two generated tokens.",
              m->tpot, tpot_bounds, SRV_TPOT_BUCKETS, &m->tpot_count, &m->tpot_sum_us);
    return b.p;
}

/* ------------------------------------------------------------------------------------------------
 * Requests
 * ---------------------------------------------------------------------------------------------- */

void srv_req_release(srv_req *r) {
    pthread_mutex_lock(&r->mu);
    bool last = --r->refs == 0;
    pthread_mutex_unlock(&r->mu);
    if (!last) return;
    for (int32_t i = 0; i < SRV_MAX_CHOICES; i++) {
        srv_buf_free(&r->choices[i].content);
        srv_buf_free(&r->choices[i].reasoning);
        json_decref(r->choices[i].logprobs);
        json_decref(r->choices[i].tool_calls);
    }
    srv_buf_free(&r->sse);
    srv_spec_free(&r->spec);
    free(r->prompt);
    pthread_mutex_destroy(&r->mu);
    pthread_cond_destroy(&r->cv);
    free(r);
}

/* One connection's request (MHD's con_cls). */
typedef struct conn_state {
    srv_server *s;
    srv_buf body;
    bool too_big;
    double t_start;
    char method[8], path[96];
    int status;
    srv_req *req; /* a generation request, or NULL */
    int fd;
} conn_state;

static bool client_gone(int fd) {
    if (fd < 0) return false;
    struct pollfd p = {.fd = fd, .events = POLLRDHUP};
    return poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL));
}

static void wake_scheduler(srv_server *s) {
    pthread_mutex_lock(&s->mu);
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

/* Waits (r->mu held) up to 50 ms for news; cancels the request when the client hung up. */
static bool wait_news(srv_req *r, int fd) {
    if (client_gone(fd)) {
        atomic_store(&r->cancel, true);
        pthread_mutex_unlock(&r->mu);
        wake_scheduler(r->srv);
        pthread_mutex_lock(&r->mu);
        return false;
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += 50 * 1000000L;
    if (ts.tv_nsec >= 1000000000L) ts.tv_sec++, ts.tv_nsec -= 1000000000L;
    pthread_cond_timedwait(&r->cv, &r->mu, &ts);
    return true;
}

static enum MHD_Result send_text(struct MHD_Connection *c, conn_state *cs, int status,
                                 const char *type, char *text) {
    if (!text) {
        text = strdup("{\"error\":{\"message\":\"out of memory\",\"type\":\"server_error\"}}");
        status = 500;
    }
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
    MHD_add_response_header(r, "Content-Type", type);
    if (status == 503) MHD_add_response_header(r, "Retry-After", "1");
    if (status == 401) MHD_add_response_header(r, "WWW-Authenticate", "Bearer");
    cs->status = status;
    enum MHD_Result ok = MHD_queue_response(c, (unsigned)status, r);
    MHD_destroy_response(r);
    return ok;
}

static enum MHD_Result send_error(struct MHD_Connection *c, conn_state *cs, int status,
                                  const char *param, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static enum MHD_Result send_error(struct MHD_Connection *c, conn_state *cs, int status,
                                  const char *param, const char *fmt, ...) {
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return send_text(c, cs, status, "application/json", srv_error_json(status, msg, param));
}

static ssize_t sse_reader(void *cls, uint64_t pos, char *buf, size_t max) {
    srv_req *r = cls;
    (void)pos;
    pthread_mutex_lock(&r->mu);
    for (;;) {
        if (r->sse_sent < r->sse.n) {
            size_t n = r->sse.n - r->sse_sent;
            if (n > max) n = max;
            memcpy(buf, r->sse.p + r->sse_sent, n);
            r->sse_sent += n;
            pthread_mutex_unlock(&r->mu);
            return (ssize_t)n;
        }
        if (r->finished) {
            pthread_mutex_unlock(&r->mu);
            return MHD_CONTENT_READER_END_OF_STREAM;
        }
        if (!wait_news(r, r->fd_stream)) {
            pthread_mutex_unlock(&r->mu);
            return MHD_CONTENT_READER_END_WITH_ERROR;
        }
    }
}

static void sse_free(void *cls) { srv_req_release(cls); }

static bool model_matches(const srv_server *s, const char *name) {
    if (!name || !*name) return true;
    if (strcmp(name, s->alias) == 0) return true;
    const char *base = strrchr(s->p.model_path, '/');
    base = base ? base + 1 : s->p.model_path;
    return strcmp(name, base) == 0;
}

/* Tokenizes the request's prompt; 0, or an HTTP status after queueing the error. */
static int prepare_prompt(struct MHD_Connection *c, conn_state *cs, srv_req *r) {
    srv_server *s = cs->s;
    srv_spec *sp = &r->spec;
    kw_status st = KW_OK;
    if (sp->kind == SRV_CHAT) {
        if (!s->chat) {
            send_error(c, cs, 400, "messages",
                       "this model has no chat template: use /v1/completions with a prompt");
            return 400;
        }
        /* a forced call the model's format cannot express is the request's fault: 400 */
        char *gbnf = NULL;
        if (srv_spec_tools_on(sp) &&
            kw_chat_tool_grammar(kw_chat_tool_format(s->chat), sp->tools_json, sp->tool_choice,
                                 &gbnf) != KW_OK) {
            const char *why = kw_last_error();
            send_error(c, cs, 400, strstr(why, "tool_choice names") ? "tool_choice" : "tools", "%s",
                       why);
            return 400;
        }
        free(gbnf);
        char *text = NULL;
        st = kw_chat_render(s->chat, sp->messages_json,
                            srv_spec_tools_on(sp) ? sp->tools_json : NULL, true, NULL, &text);
        if (!st) st = kw_chat_tokenize(s->chat, text, &r->prompt, &r->n_prompt);
        if (!st) r->thinking_open = kw_chat_prompt_opens_thinking(text);
        free(text);
    } else if (sp->prompt) {
        size_t len = strlen(sp->prompt);
        int32_t n = 0;
        st = kw_tokenize(s->model, sp->prompt, len, true, true, NULL, 0, &n);
        if (st == KW_ERR_BUFFER_SMALL || st == KW_OK) {
            r->prompt = malloc((size_t)(n > 0 ? n : 1) * sizeof *r->prompt);
            st = r->prompt ? kw_tokenize(s->model, sp->prompt, len, true, true, r->prompt, n, &n)
                           : KW_ERR_NOMEM;
            r->n_prompt = n;
        }
    } else {
        const int32_t nv = kw_model_n_vocab(s->model);
        for (int32_t i = 0; i < sp->n_prompt_ids; i++)
            if (sp->prompt_ids[i] >= nv) {
                send_error(c, cs, 400, "prompt", "prompt[%d] = %d is not a token id (0..%d)", i,
                           sp->prompt_ids[i], nv - 1);
                return 400;
            }
        r->prompt = sp->prompt_ids;
        r->n_prompt = sp->n_prompt_ids;
        sp->prompt_ids = NULL;
    }
    if (st) {
        send_error(c, cs, st == KW_ERR_NOMEM ? 500 : 400,
                   sp->kind == SRV_CHAT ? "messages" : "prompt", "%s", kw_last_error());
        return 400;
    }
    const int32_t n_ctx = kw_context_n_ctx(s->ctx);
    if (r->n_prompt == 0) {
        send_error(c, cs, 400, sp->kind == SRV_CHAT ? "messages" : "prompt",
                   "the prompt is empty (0 tokens)");
        return 400;
    }
    if (r->n_prompt >= n_ctx) {
        send_error(c, cs, 400, sp->kind == SRV_CHAT ? "messages" : "prompt",
                   "the prompt is %d tokens, longer than the context of %d tokens (leave at "
                   "least one for the answer; the server's --ctx-size sets it)",
                   r->n_prompt, n_ctx);
        return 400;
    }
    return 0;
}

static enum MHD_Result handle_generation(struct MHD_Connection *c, conn_state *cs, srv_kind kind) {
    srv_server *s = cs->s;
    if (atomic_load(&s->state) != SRV_READY)
        return send_error(c, cs, 503, NULL,
                          atomic_load(&s->state) == SRV_LOADING ? "the model is still loading"
                                                                : "the server is shutting down");
    srv_req *r = calloc(1, sizeof *r);
    if (!r) return send_error(c, cs, 500, NULL, "out of memory");
    char err[512];
    const char *param = NULL;
    int rc = srv_parse_request(kind, cs->body.p ? cs->body.p : "", cs->body.n, &r->spec, err,
                               sizeof err, &param);
    if (rc) {
        free(r);
        return send_error(c, cs, rc, param, "%s", err);
    }
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    r->refs = 1;
    r->srv = s;
    r->fd_stream = -1;
    atomic_init(&r->cancel, false);
    cs->req = r;
    if (!model_matches(s, r->spec.model))
        return send_error(c, cs, 404, "model",
                          "the model '%s' does not exist: this server has '%s'", r->spec.model,
                          s->alias);
    if (r->spec.n > s->p.parallel)
        return send_error(c, cs, 400, "n", "'n' is %d, more than the server's --parallel %d",
                          r->spec.n, s->p.parallel);
    if (!r->spec.seed_given) r->spec.sp.seed = ((uint64_t)time(NULL) << 20) ^ (uint64_t)rand();
    if (prepare_prompt(c, cs, r)) return MHD_YES;
    static atomic_ulong counter;
    snprintf(r->id, sizeof r->id, "%s-%lx%06lx", kind == SRV_CHAT ? "chatcmpl" : "cmpl",
             (unsigned long)time(NULL), (unsigned long)atomic_fetch_add(&counter, 1));
    r->created = (long)time(NULL);
    r->t_start = cs->t_start;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    cs->fd = ci ? ci->connect_fd : -1;
    if (sched_submit(s, r))
        return send_error(c, cs, 503, NULL,
                          "the server is overloaded: %d requests are waiting (--max-queue); retry "
                          "later",
                          s->p.max_queue);
    if (r->spec.stream) {
        pthread_mutex_lock(&r->mu);
        r->refs++; /* the response's reference */
        r->fd_stream = cs->fd;
        pthread_mutex_unlock(&r->mu);
        struct MHD_Response *resp =
            MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, sse_reader, r, sse_free);
        MHD_add_response_header(resp, "Content-Type", "text/event-stream");
        MHD_add_response_header(resp, "Cache-Control", "no-cache");
        MHD_add_response_header(resp, "X-Accel-Buffering", "no"); /* nginx: do not buffer */
        cs->status = 200;
        enum MHD_Result ok = MHD_queue_response(c, 200, resp);
        MHD_destroy_response(resp);
        return ok;
    }
    pthread_mutex_lock(&r->mu);
    while (!r->finished)
        if (!wait_news(r, cs->fd)) break;
    bool done = r->finished, failed = r->failed;
    char fail_msg[256];
    snprintf(fail_msg, sizeof fail_msg, "%s", r->fail_msg);
    pthread_mutex_unlock(&r->mu);
    if (!done) return MHD_NO; /* the client left: nothing to answer */
    if (failed) return send_error(c, cs, 500, NULL, "generation failed: %s", fail_msg);
    return send_text(c, cs, 200, "application/json", oai_response_json(r));
}

static enum MHD_Result route(struct MHD_Connection *c, conn_state *cs) {
    srv_server *s = cs->s;
    const char *m = cs->method, *path = cs->path;
    const bool get = strcmp(m, "GET") == 0, post = strcmp(m, "POST") == 0;
    if (strcmp(path, "/health") == 0) {
        int st = atomic_load(&s->state);
        int queued = atomic_load(&s->metrics.queue_len);
        const char *status = st == SRV_LOADING          ? "loading"
                             : st == SRV_STOPPING       ? "stopping"
                             : queued >= s->p.max_queue ? "overloaded"
                                                        : "ok";
        char *t = NULL;
        json_t *o = json_pack("{s:s, s:i, s:i, s:i}", "status", status, "slots_busy",
                              atomic_load(&s->metrics.slots_busy), "slots_total", s->p.parallel,
                              "queue", queued);
        t = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
        json_decref(o);
        return send_text(c, cs, strcmp(status, "ok") == 0 ? 200 : 503, "application/json", t);
    }
    if (strcmp(path, "/metrics") == 0 && get)
        return send_text(c, cs, 200, "text/plain; version=0.0.4", metrics_text(s));
    if (strncmp(path, "/v1/", 4) == 0 && s->p.api_key && *s->p.api_key) {
        const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
        const size_t kl = strlen(s->p.api_key);
        if (!auth || strncmp(auth, "Bearer ", 7) != 0 || strlen(auth + 7) != kl ||
            memcmp(auth + 7, s->p.api_key, kl) != 0)
            return send_error(c, cs, 401, NULL,
                              auth ? "the API key is wrong"
                                   : "an API key is required: send 'Authorization: Bearer KEY'");
    }
    if (strcmp(path, "/v1/models") == 0 && get) {
        json_t *o =
            json_pack("{s:s, s:[{s:s, s:s, s:I, s:s}]}", "object", "list", "data", "id", s->alias,
                      "object", "model", "created", (json_int_t)time(NULL), "owned_by", "kaiwu");
        char *t = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
        json_decref(o);
        return send_text(c, cs, 200, "application/json", t);
    }
    const bool chat = strcmp(path, "/v1/chat/completions") == 0,
               cmpl = strcmp(path, "/v1/completions") == 0;
    if ((chat || cmpl) && post) {
        if (cs->too_big)
            return send_error(c, cs, 413, NULL, "the body is larger than %d bytes", s->p.max_body);
        return handle_generation(c, cs, chat ? SRV_CHAT : SRV_COMPLETION);
    }
    if (chat || cmpl || strcmp(path, "/v1/models") == 0 || strcmp(path, "/metrics") == 0)
        return send_error(c, cs, 405, NULL, "%s is not allowed on %s", m, path);
    return send_error(c, cs, 404, NULL, "there is no %s %s here", m, path);
}

/* ------------------------------------------------------------------------------------------------
 * Request deadlines. libmicrohttpd's connection timeout counts inactivity only, so a client that
 * trickles its headers or body a byte at a time would hold a thread forever; the watchdog closes
 * (shutdown) a connection that has waited longer than --timeout for a whole request.
 * ---------------------------------------------------------------------------------------------- */

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode code) {
    srv_server *s = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        srv_conn *k = calloc(1, sizeof *k);
        if (!k || !ci) {
            free(k);
            *socket_context = NULL;
            return; /* no deadline for this one; libmicrohttpd's idle timeout still applies */
        }
        k->fd = ci->connect_fd;
        k->t_wait = kw_time_seconds();
        pthread_mutex_lock(&s->conn_mu);
        k->next = s->conns;
        if (s->conns) s->conns->prev = k;
        s->conns = k;
        pthread_mutex_unlock(&s->conn_mu);
        *socket_context = k;
    } else if (code == MHD_CONNECTION_NOTIFY_CLOSED && *socket_context) {
        srv_conn *k = *socket_context;
        pthread_mutex_lock(&s->conn_mu); /* before libmicrohttpd closes the fd */
        if (k->prev)
            k->prev->next = k->next;
        else
            s->conns = k->next;
        if (k->next) k->next->prev = k->prev;
        pthread_mutex_unlock(&s->conn_mu);
        free(k);
        *socket_context = NULL;
    }
}

static void conn_mark(srv_server *s, struct MHD_Connection *c, bool in_request) {
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    srv_conn *k = ci ? ci->socket_context : NULL;
    if (!k) return;
    pthread_mutex_lock(&s->conn_mu);
    k->in_request = in_request;
    if (!in_request) k->t_wait = kw_time_seconds();
    pthread_mutex_unlock(&s->conn_mu);
}

static void *watchdog_main(void *arg) {
    srv_server *s = arg;
    pthread_mutex_lock(&s->conn_mu);
    while (!s->watchdog_stop) {
        const double now = kw_time_seconds();
        for (srv_conn *k = s->conns; k; k = k->next)
            if (!k->in_request && now - k->t_wait > s->p.timeout && k->fd >= 0) {
                shutdown(k->fd, SHUT_RDWR); /* its thread sees the end and closes it */
                k->fd = -1;
            }
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 250 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&s->conn_cv, &s->conn_mu, &ts);
    }
    pthread_mutex_unlock(&s->conn_mu);
    return NULL;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_size, void **con_cls) {
    srv_server *s = cls;
    (void)version;
    conn_state *cs = *con_cls;
    if (!cs) {
        cs = calloc(1, sizeof *cs);
        if (!cs) return MHD_NO;
        cs->s = s;
        cs->fd = -1;
        cs->t_start = kw_time_seconds();
        snprintf(cs->method, sizeof cs->method, "%s", method);
        snprintf(cs->path, sizeof cs->path, "%s", url);
        *con_cls = cs;
        return MHD_YES;
    }
    if (*upload_size) {
        if (cs->body.n + *upload_size > (size_t)s->p.max_body)
            cs->too_big = true;
        else if (!cs->too_big)
            srv_buf_add(&cs->body, upload_data, *upload_size);
        *upload_size = 0;
        if (kw_time_seconds() - cs->t_start > s->p.timeout) return MHD_NO; /* body deadline */
        return MHD_YES;
    }
    conn_mark(s, c, true);
    return route(c, cs);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
    srv_server *s = cls;
    conn_state *cs = *con_cls;
    conn_mark(s, c, false); /* a keep-alive connection waits for its next request from now */
    if (!cs) return;
    *con_cls = NULL;
    const double now = kw_time_seconds();
    int n_in = 0, n_out = 0;
    double ttft = -1;
    if (cs->req) {
        srv_req *r = cs->req;
        if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK) {
            atomic_store(&r->cancel, true);
            wake_scheduler(s);
        }
        pthread_mutex_lock(&r->mu);
        n_in = r->n_prompt;
        for (int32_t i = 0; i < r->spec.n; i++)
            n_out += r->choices[i].n_tokens;
        if (r->t_first > 0) ttft = r->t_first - r->t_start;
        pthread_mutex_unlock(&r->mu);
    }
    const bool left = cs->req && cs->status == 200 && toe != MHD_REQUEST_TERMINATED_COMPLETED_OK &&
                      toe != MHD_REQUEST_TERMINATED_DAEMON_SHUTDOWN;
    const char *how = left                                            ? " (client left)"
                      : toe == MHD_REQUEST_TERMINATED_COMPLETED_OK    ? ""
                      : toe == MHD_REQUEST_TERMINATED_CLIENT_ABORT    ? " (client left)"
                      : toe == MHD_REQUEST_TERMINATED_TIMEOUT_REACHED ? " (timeout)"
                      : toe == MHD_REQUEST_TERMINATED_DAEMON_SHUTDOWN ? " (shutdown)"
                                                                      : " (aborted)";
    char addr[64] = "-";
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (ci && ci->client_addr && ci->client_addr->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)ci->client_addr)->sin_addr, addr,
                  sizeof addr);
    else if (ci && ci->client_addr && ci->client_addr->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)ci->client_addr)->sin6_addr, addr,
                  sizeof addr);
    count_status(&s->metrics, cs->status);
    pthread_mutex_lock(&s->log_mu);
    FILE *log = s->p.log ? (FILE *)s->p.log : stderr;
    fprintf(log, "%s %s %s %d in=%d out=%d ttft=", addr, cs->method, cs->path,
            cs->status ? cs->status : 499, n_in, n_out);
    if (ttft >= 0)
        fprintf(log, "%.3fs", ttft);
    else
        fputs("-", log);
    fprintf(log, " total=%.3fs%s\n", now - cs->t_start, how);
    fflush(log);
    pthread_mutex_unlock(&s->log_mu);
    if (cs->req) srv_req_release(cs->req);
    srv_buf_free(&cs->body);
    free(cs);
}

/* ------------------------------------------------------------------------------------------------
 * Life cycle
 * ---------------------------------------------------------------------------------------------- */

kw_status kw_server_create(const kw_server_params *params, kw_server **out) {
    if (!params || !params->model_path || !out)
        return kw_error(KW_ERR_INVALID_ARG, "kw_server_create: no model path");
    srv_server *s = calloc(1, sizeof *s);
    if (!s) return KW_ERR_NOMEM;
    s->p = *params;
    kw_server_params d = kw_server_default_params();
    if (!s->p.host) s->p.host = d.host;
    if (s->p.parallel <= 0) s->p.parallel = d.parallel;
    if (s->p.max_queue <= 0) s->p.max_queue = d.max_queue;
    if (s->p.timeout <= 0) s->p.timeout = d.timeout;
    if (s->p.max_body <= 0) s->p.max_body = d.max_body;
    const char *base = strrchr(s->p.model_path, '/');
    base = base ? base + 1 : s->p.model_path;
    size_t bl = strlen(base);
    if (bl > 5 && strcmp(base + bl - 5, ".gguf") == 0) bl -= 5;
    s->alias = s->p.alias && *s->p.alias ? strdup(s->p.alias) : strndup(base, bl);
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    pthread_mutex_init(&s->log_mu, NULL);
    pthread_mutex_init(&s->conn_mu, NULL);
    pthread_cond_init(&s->conn_cv, NULL);
    atomic_init(&s->state, SRV_LOADING);

    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                     MHD_USE_ERROR_LOG | MHD_USE_ITC;
    struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, s->p.host, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)s->p.port);
    } else if (inet_pton(AF_INET6, s->p.host, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)s->p.port);
        flags |= MHD_USE_IPv6;
    } else {
        kw_server_free(s);
        return kw_error(KW_ERR_INVALID_ARG,
                        "serve: --host '%s' is not an IPv4 or IPv6 address (e.g. 127.0.0.1, "
                        "0.0.0.0, ::1)",
                        params->host);
    }
    s->daemon = MHD_start_daemon(
        flags, (uint16_t)s->p.port, NULL, NULL, on_request, s, MHD_OPTION_SOCK_ADDR, &ss,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)s->p.timeout, MHD_OPTION_NOTIFY_COMPLETED,
        on_completed, s, MHD_OPTION_NOTIFY_CONNECTION, on_connection, s,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)(256 + 4 * s->p.max_queue), MHD_OPTION_END);
    if (!s->daemon) {
        int e = errno;
        kw_server_free(s);
        return kw_error(KW_ERR_IO, "serve: cannot listen on %s port %d: %s", params->host,
                        params->port, e ? strerror(e) : "libmicrohttpd refused");
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
    s->port = di ? di->port : s->p.port;
    if (pthread_create(&s->watchdog, NULL, watchdog_main, s) != 0) {
        kw_server_free(s);
        return kw_error(KW_ERR_IO, "serve: cannot start the request-deadline thread");
    }
    s->watchdog_started = true;
    kw_status st = sched_start(s);
    if (st) {
        kw_server_free(s);
        return st;
    }
    *out = s;
    return KW_OK;
}

int32_t kw_server_port(const kw_server *s) { return s ? s->port : 0; }

kw_status kw_server_wait_ready(kw_server *s) {
    pthread_mutex_lock(&s->mu);
    while (atomic_load(&s->state) == SRV_LOADING)
        pthread_cond_wait(&s->cv, &s->mu);
    pthread_mutex_unlock(&s->mu);
    if (atomic_load(&s->state) == SRV_READY) return KW_OK;
    return kw_error(KW_ERR_IO, "serve: loading the model failed: %s", s->load_error);
}

void kw_server_drain(kw_server *s) {
    if (!s || !s->daemon || s->quiesced) return;
    int expect = SRV_READY;
    if (!atomic_compare_exchange_strong(&s->state, &expect, SRV_STOPPING) && expect == SRV_LOADING)
        atomic_store(&s->state, SRV_STOPPING);
    MHD_socket lfd = MHD_quiesce_daemon(s->daemon); /* no new connections */
    if (lfd != MHD_INVALID_SOCKET) close(lfd);
    s->quiesced = true;
}

int32_t kw_server_n_busy(kw_server *s) {
    pthread_mutex_lock(&s->mu);
    int32_t n = s->n_queued + s->n_admitted;
    pthread_mutex_unlock(&s->mu);
    return n;
}

void kw_server_shutdown(kw_server *s, double grace) {
    if (!s || !s->daemon) return;
    kw_server_drain(s);
    const double until = kw_time_seconds() + grace;
    while (kw_time_seconds() < until && kw_server_n_busy(s) > 0) {
        struct timespec ts = {0, 20 * 1000000L};
        nanosleep(&ts, NULL);
    }
    sched_stop(s); /* cancels what is left; every waiting connection thread then returns */
    MHD_stop_daemon(s->daemon);
    s->daemon = NULL;
    if (s->watchdog_started) {
        pthread_mutex_lock(&s->conn_mu);
        s->watchdog_stop = true;
        pthread_cond_signal(&s->conn_cv);
        pthread_mutex_unlock(&s->conn_mu);
        pthread_join(s->watchdog, NULL);
        s->watchdog_started = false;
    }
}

void kw_server_free(kw_server *s) {
    if (!s) return;
    kw_server_shutdown(s, 0);
    if (s->thread_started) sched_stop(s);
    kw_engine_free(s->eng);
    kw_chat_free(s->chat);
    kw_context_free(s->ctx);
    kw_model_free(s->model);
    free(s->alias);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->log_mu);
    pthread_mutex_destroy(&s->conn_mu);
    pthread_cond_destroy(&s->conn_cv);
    free(s);
}
