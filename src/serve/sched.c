/* sched.c - the scheduler thread: loads the model, then runs every admitted request in one
 * kw_engine, a step at a time.
 *
 * Requests wait in a FIFO queue (bounded by max_queue) until their n choices each get a free
 * sequence; a new request joins between two steps, and its prompt is evaluated in chunks next to
 * the running streams' tokens (continuous batching). Events are formatted into the request under
 * its mutex and its HTTP thread is woken. A request whose client left (cancel flag, set by the
 * HTTP side) is cancelled before the next step and its sequence freed at once.
 *
 * Must not: block on a client (only the request mutexes, held briefly), or touch the engine from
 * any other thread.
 */
#include "serve/serve.h"

#include "base/base.h"

#include <stdlib.h>
#include <string.h>

/* Prompt tokens a request evaluates per step while others stream. */
#define SCHED_PROMPT_CHUNK 128

static void on_event(void *user, const kw_gen_event *ev) {
    srv_choice *c = user;
    srv_req *r = c->req;
    srv_metrics *m = &r->srv->metrics;
    const double now = kw_time_seconds();
    if (ev->token != KW_TOKEN_NONE) {
        atomic_fetch_add_explicit(&m->tokens_out, 1, memory_order_relaxed);
        if (c->t_last > 0) srv_observe_tpot(m, now - c->t_last);
        c->t_last = now;
    }
    pthread_mutex_lock(&r->mu);
    if (ev->token != KW_TOKEN_NONE) c->n_tokens++;
    if (r->t_first == 0 && ev->token != KW_TOKEN_NONE) {
        r->t_first = now;
        srv_observe_ttft(m, now - r->t_start);
    }
    srv_buf_add(&c->content, ev->content, (size_t)ev->content_len);
    srv_buf_add(&c->reasoning, ev->reasoning, (size_t)ev->reasoning_len);
    if (ev->finish != KW_FINISH_NONE && srv_spec_tools_on(&r->spec)) oai_finish_tools(r, c);
    oai_add_logprobs(r, c, ev);
    if (r->spec.stream) oai_stream_event(r, c, ev);
    if (ev->finish != KW_FINISH_NONE) {
        c->finish = ev->finish;
        c->done = true;
    }
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
}

/* Marks a request finished (all choices done or failed) and wakes its HTTP thread. */
static void req_finish(srv_req *r, const char *fail) {
    pthread_mutex_lock(&r->mu);
    if (fail) {
        r->failed = true;
        snprintf(r->fail_msg, sizeof r->fail_msg, "%s", fail);
    }
    if (r->spec.stream && !r->failed) oai_stream_final(r);
    r->finished = true;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
}

/* Creates and starts the generations of a request; false (request failed) on an error. */
static bool admit(srv_server *s, srv_req *r) {
    for (int32_t i = 0; i < r->spec.n; i++) {
        srv_choice *c = &r->choices[i];
        c->req = r;
        c->index = i;
        kw_gen_params gp = kw_gen_default_params();
        gp.sampler = r->spec.sp;
        gp.sampler.seed = r->spec.sp.seed + (uint64_t)i; /* each choice its own draw */
        gp.max_tokens = r->spec.max_tokens;
        gp.stops = (const char *const *)r->spec.stops;
        gp.n_stops = r->spec.n_stops;
        gp.split_thinking = r->spec.kind == SRV_CHAT;
        gp.prompt_opens_thinking = r->thinking_open;
        gp.n_logprobs =
            r->spec.logprobs ? (r->spec.top_logprobs > 0 ? r->spec.top_logprobs : 1) : 0;
        gp.prompt_chunk = SCHED_PROMPT_CHUNK;
        gp.on_event = on_event;
        gp.user = c;
        gp.tools_json = r->spec.tools_json;
        gp.tool_choice = r->spec.tool_choice;
        gp.tool_format = kw_chat_tool_format(s->chat);
        kw_status st = kw_gen_create(s->eng, &gp, &c->gen);
        if (!st) st = kw_gen_set_prompt(c->gen, r->prompt, r->n_prompt);
        if (!st) st = kw_gen_start(c->gen);
        if (st) {
            for (int32_t k = 0; k <= i; k++) {
                kw_gen_free(r->choices[k].gen);
                r->choices[k].gen = NULL;
            }
            req_finish(r, kw_last_error());
            return false;
        }
    }
    atomic_fetch_add_explicit(&s->metrics.tokens_in, (unsigned long long)r->n_prompt,
                              memory_order_relaxed);
    return true;
}

/* Frees the generations of finished choices; a request whose choices are all done finishes. */
static void reap(srv_server *s) {
    for (int32_t i = 0; i < s->n_admitted;) {
        srv_req *r = s->admitted[i];
        if (atomic_load(&r->cancel))
            for (int32_t k = 0; k < r->spec.n; k++)
                kw_gen_cancel(r->choices[k].gen);
        int32_t done = 0;
        for (int32_t k = 0; k < r->spec.n; k++) {
            srv_choice *c = &r->choices[k];
            if (c->gen && kw_gen_finish_reason(c->gen) != KW_FINISH_NONE) {
                pthread_mutex_lock(&r->mu);
                c->usage = kw_gen_get_usage(c->gen);
                c->done = true;
                pthread_mutex_unlock(&r->mu);
                kw_gen_free(c->gen);
                c->gen = NULL;
            }
            done += c->gen == NULL;
        }
        if (done == r->spec.n) {
            bool error = false;
            for (int32_t k = 0; k < r->spec.n; k++)
                error = error || r->choices[k].finish == KW_FINISH_ERROR;
            req_finish(r, error ? "evaluation failed" : NULL);
            s->admitted[i] = s->admitted[--s->n_admitted];
            srv_req_release(r);
            continue;
        }
        i++;
    }
}

static void *sched_main(void *arg) {
    srv_server *s = arg;
    for (;;) {
        pthread_mutex_lock(&s->mu);
        while (!s->stop && !s->queue && s->n_admitted == 0)
            pthread_cond_wait(&s->cv, &s->mu);
        if (s->stop) {
            pthread_mutex_unlock(&s->mu);
            break;
        }
        /* admit from the head of the queue while sequences are free (FIFO: no overtaking) */
        while (s->queue && kw_engine_n_free(s->eng) >= s->queue->spec.n &&
               s->n_admitted < (int32_t)(sizeof s->admitted / sizeof s->admitted[0])) {
            srv_req *r = s->queue;
            s->queue = r->next;
            if (!s->queue) s->queue_tail = NULL;
            s->n_queued--;
            atomic_store(&s->metrics.queue_len, s->n_queued);
            pthread_mutex_unlock(&s->mu);
            if (atomic_load(&r->cancel)) {
                req_finish(r, "cancelled before it started");
                srv_req_release(r);
            } else if (admit(s, r)) {
                r->admitted = true;
                s->admitted[s->n_admitted++] = r;
            } else {
                srv_req_release(r);
            }
            pthread_mutex_lock(&s->mu);
        }
        pthread_mutex_unlock(&s->mu);
        reap(s); /* cancellations before the step */
        atomic_store(&s->metrics.slots_busy, s->p.parallel - kw_engine_n_free(s->eng));
        if (kw_engine_n_active(s->eng) > 0) kw_engine_step(s->eng);
        reap(s);
        atomic_store(&s->metrics.slots_busy, s->p.parallel - kw_engine_n_free(s->eng));
    }
    /* shutting down: cancel what is left */
    for (int32_t i = 0; i < s->n_admitted; i++)
        atomic_store(&s->admitted[i]->cancel, true);
    reap(s);
    while (kw_engine_n_active(s->eng) > 0) {
        kw_engine_step(s->eng);
        reap(s);
    }
    pthread_mutex_lock(&s->mu);
    while (s->queue) {
        srv_req *r = s->queue;
        s->queue = r->next;
        pthread_mutex_unlock(&s->mu);
        req_finish(r, "the server is shutting down");
        srv_req_release(r);
        pthread_mutex_lock(&s->mu);
    }
    s->queue_tail = NULL;
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

/* Loads the model and context, then runs the scheduler (the thread's whole life). */
static void *load_and_run(void *arg) {
    srv_server *s = arg;
    kw_status st = kw_model_load(s->p.model_path, NULL, &s->model);
    kw_context_params cp = kw_context_default_params();
    if (!st) {
        int32_t train = kw_model_n_ctx_train(s->model);
        cp.n_ctx = s->p.ctx_size > 0 ? s->p.ctx_size : (train > 0 && train < 4096 ? train : 4096);
        cp.n_seq_max = s->p.parallel;
        cp.n_threads = s->p.n_threads;
        st = kw_context_create(s->model, &cp, &s->ctx);
    }
    if (!st) st = kw_engine_create(s->ctx, &s->eng);
    if (!st && (s->p.chat_format || kw_model_chat_template(s->model)) &&
        kw_chat_create(s->model, s->p.chat_format, &s->chat))
        s->chat = NULL; /* no usable template: /v1/chat/completions answers so */
    pthread_mutex_lock(&s->mu);
    if (st) {
        snprintf(s->load_error, sizeof s->load_error, "%s", kw_last_error());
        atomic_store(&s->state, SRV_STOPPING);
        pthread_cond_broadcast(&s->cv);
        pthread_mutex_unlock(&s->mu);
        return NULL;
    }
    atomic_store(&s->state, SRV_READY);
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    return sched_main(s);
}

kw_status sched_start(srv_server *s) {
    if (pthread_create(&s->thread, NULL, load_and_run, s) != 0)
        return kw_error(KW_ERR_NOMEM, "serve: cannot start the scheduler thread");
    s->thread_started = true;
    return KW_OK;
}

void sched_stop(srv_server *s) {
    pthread_mutex_lock(&s->mu);
    s->stop = true;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    if (s->thread_started) pthread_join(s->thread, NULL);
    s->thread_started = false;
}

int sched_submit(srv_server *s, srv_req *r) {
    pthread_mutex_lock(&s->mu);
    if (s->n_queued >= s->p.max_queue || s->stop) {
        pthread_mutex_unlock(&s->mu);
        return 503;
    }
    r->refs++; /* the scheduler's reference; no other thread sees r yet */
    r->next = NULL;
    if (s->queue_tail)
        s->queue_tail->next = r;
    else
        s->queue = r;
    s->queue_tail = r;
    s->n_queued++;
    atomic_store(&s->metrics.queue_len, s->n_queued);
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    return 0;
}
