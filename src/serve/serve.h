/* serve.h - internals of the server (src/serve/): the OpenAI request mapping (oai.c), the
 * scheduler that runs every admitted request in one kw_engine (sched.c), and the HTTP side
 * (server.c: libmicrohttpd, routing, auth, errors, /health, /metrics, the request log).
 *
 * Layer: above gen; uses only the public API (kaiwu.h), libmicrohttpd and jansson.
 */
#ifndef KAIWU_SERVE_H
#define KAIWU_SERVE_H

#include "kaiwu.h"

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>

#define SRV_MAX_STOPS   4
#define SRV_MAX_CHOICES 16

typedef enum srv_kind { SRV_CHAT, SRV_COMPLETION } srv_kind;

/* A request body mapped to what the engine needs (oai.c). */
typedef struct srv_spec {
    srv_kind kind;
    char *model;          /* requested model name (owned), NULL when absent */
    char *messages_json;  /* chat: messages with parts flattened to strings (owned) */
    char *prompt;         /* completion: the prompt text (owned), or NULL for token ids */
    kw_token *prompt_ids; /* completion: a prompt given as token ids (owned) */
    int32_t n_prompt_ids;
    bool stream, include_usage;
    int32_t n;          /* choices */
    int32_t max_tokens; /* -1: until the end or a full context */
    kw_sampler_params sp;
    bool seed_given;
    bool logprobs;
    int32_t top_logprobs;
    char *stops[SRV_MAX_STOPS]; /* owned */
    int32_t n_stops;
    /* tool calls (chat only): the tools array as compact JSON and the choice: NULL (auto),
     * "none", "required" or a tool's name (both owned, NULL when absent) */
    char *tools_json;
    char *tool_choice;
} srv_spec;

/* Whether a request's replies are parsed for tool calls (tools given, tool_choice not "none"). */
bool srv_spec_tools_on(const srv_spec *s);

/* Parses a request body. Returns 0 and fills *out, or an HTTP status (400) with a message in err
 * and the offending parameter's name in *param (static storage, or NULL). */
int srv_parse_request(srv_kind kind, const char *body, size_t len, srv_spec *out, char *err,
                      size_t err_cap, const char **param);
void srv_spec_free(srv_spec *s);

/* The OpenAI error object {"error": {...}} as compact JSON (owned by the caller: free()). */
char *srv_error_json(int status, const char *message, const char *param);

/* ------------------------------------------------------------------------------------------------
 * Requests in flight
 * ---------------------------------------------------------------------------------------------- */

typedef struct srv_buf {
    char *p;
    size_t n, cap;
} srv_buf;
bool srv_buf_add(srv_buf *b, const char *s, size_t n);
void srv_buf_free(srv_buf *b);

typedef struct kw_server srv_server;

typedef struct srv_choice {
    struct srv_req *req;
    int32_t index;
    kw_gen *gen; /* scheduler thread only */
    srv_buf content, reasoning;
    json_t *logprobs; /* array of entries, NULL unless asked */
    kw_finish_reason finish;
    kw_gen_usage usage;
    bool done, sent_role;
    int32_t n_tokens;   /* tokens generated so far (the log's count while still running) */
    double t_last;      /* time of the last token (per-token latency) */
    json_t *tool_calls; /* with tools: the calls of the finished reply (OpenAI form), or NULL */
} srv_choice;

typedef struct srv_req {
    srv_server *srv;
    srv_spec spec;
    kw_token *prompt; /* tokenized prompt (owned) */
    int32_t n_prompt;
    bool thinking_open;
    char id[40];
    long created;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int refs;    /* the HTTP side and the scheduler */
    srv_buf sse; /* streaming: formatted events not yet sent */
    size_t sse_sent;
    int fd_stream; /* the streaming connection's socket, watched for a hang-up */
    srv_choice choices[SRV_MAX_CHOICES];
    int32_t n_done;
    bool admitted, finished, failed;
    char fail_msg[256];
    atomic_bool cancel;
    double t_start, t_first;
    struct srv_req *next; /* the scheduler's queue */
} srv_req;

void srv_req_release(srv_req *r); /* drops one reference; the last frees */

/* sched.c */
kw_status sched_start(srv_server *s);        /* loads the model, starts the scheduler thread */
void sched_stop(srv_server *s);              /* cancels everything, joins the thread */
int sched_submit(srv_server *s, srv_req *r); /* 0, or 503 when the queue is full */

/* Events of a request are formatted here (oai.c) under its mutex. */
void oai_stream_event(srv_req *r, srv_choice *c, const kw_gen_event *ev);
void oai_stream_final(srv_req *r); /* usage chunk (include_usage) and [DONE] */
char *oai_response_json(const srv_req *r);
void oai_add_logprobs(srv_req *r, srv_choice *c, const kw_gen_event *ev);
/* With tools, at the end of a choice: its reply parsed (kw_gen_reply), content replaced by the
 * text outside the calls and c->tool_calls set. */
void oai_finish_tools(srv_req *r, srv_choice *c);

/* Metrics (server.c): written by the scheduler, read by /metrics; relaxed atomics only. */
#define SRV_TTFT_BUCKETS 10
#define SRV_TPOT_BUCKETS 10
typedef struct srv_metrics {
    atomic_ullong req_by_status[6]; /* 200, 400, 401, 404, 413, 5xx */
    atomic_ullong req_other;
    atomic_ullong tokens_in, tokens_out;
    atomic_int queue_len, slots_busy;
    atomic_ullong ttft[SRV_TTFT_BUCKETS + 1], ttft_count;
    atomic_ullong ttft_sum_us;
    atomic_ullong tpot[SRV_TPOT_BUCKETS + 1], tpot_count;
    atomic_ullong tpot_sum_us;
} srv_metrics;
void srv_observe_ttft(srv_metrics *m, double s);
void srv_observe_tpot(srv_metrics *m, double s);

/* One open connection, for the request deadline (server.c): a request must arrive whole, headers
 * and body, within --timeout seconds of the connection opening or of the previous response; the
 * watchdog thread shuts down the socket of one that does not. Guarded by kw_server.conn_mu. */
typedef struct srv_conn {
    int fd;
    double t_wait;   /* since when the connection waits for a request */
    bool in_request; /* a whole request arrived and is being answered */
    struct srv_conn *prev, *next;
} srv_conn;

typedef enum srv_state { SRV_LOADING, SRV_READY, SRV_STOPPING } srv_state;

struct kw_server {
    kw_server_params p;
    char *alias; /* owned */
    atomic_int state;
    kw_model *model;
    kw_context *ctx;
    kw_chat *chat; /* NULL when the model has no template */
    kw_engine *eng;
    srv_metrics metrics;
    /* scheduler */
    pthread_t thread;
    bool thread_started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    srv_req *queue, *queue_tail;
    int32_t n_queued;
    srv_req *admitted[64];
    int32_t n_admitted;
    atomic_int n_inflight; /* requests between parse and response */
    bool stop;
    char load_error[512];
    struct MHD_Daemon *daemon;
    bool quiesced;
    int port;
    pthread_mutex_t log_mu;
    /* request deadlines */
    pthread_mutex_t conn_mu;
    pthread_cond_t conn_cv;
    srv_conn *conns;
    pthread_t watchdog;
    bool watchdog_started, watchdog_stop;
};

#endif
