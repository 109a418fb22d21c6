/* threadpool.c - one pool of worker threads, created once, reused for every op.
 *
 * kw_pool_run publishes (fn, arg) under a new generation number; workers spin on the generation
 * for a short while (ops follow each other within microseconds during a forward pass), then sleep
 * on a condition variable. The caller runs part 0 itself and waits for the others to finish.
 * A run costs two atomic operations per thread while the workers are spinning: the mutex and the
 * broadcast are only taken when some worker has gone to sleep (n_sleeping, checked after the
 * generation is bumped; a worker counts itself asleep before its last look at the generation, both
 * sequentially consistent, so one of the two always sees the other). Nothing is allocated per call.
 */
#include "base/base.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>

#define SPIN_ITERS 20000

struct kw_pool {
    int n_threads; /* including the caller */
    pthread_t *threads;
    pthread_mutex_t mutex;
    pthread_cond_t wake;
    atomic_uint generation; /* bumped once per kw_pool_run */
    atomic_int n_done;      /* workers finished with the current generation */
    atomic_bool stop;
    atomic_int n_sleeping; /* workers inside (or entering) the condition wait */
    kw_pool_fn fn;
    void *arg;
    struct worker_arg *worker_args; /* one per worker, owned */
};

typedef struct worker_arg {
    kw_pool *pool;
    int ith;
} worker_arg;

static void *worker_main(void *p) {
    worker_arg *wa = p;
    kw_pool *pool = wa->pool;
    unsigned seen = 0;
    for (;;) {
        unsigned gen;
        int spins = 0;
        while ((gen = atomic_load_explicit(&pool->generation, memory_order_acquire)) == seen &&
               !atomic_load(&pool->stop)) {
            if (++spins < SPIN_ITERS) {
#if defined(__x86_64__)
                __builtin_ia32_pause();
#endif
                continue;
            }
            pthread_mutex_lock(&pool->mutex);
            atomic_fetch_add(&pool->n_sleeping, 1);
            while (atomic_load(&pool->generation) == seen && !atomic_load(&pool->stop))
                pthread_cond_wait(&pool->wake, &pool->mutex);
            atomic_fetch_sub(&pool->n_sleeping, 1);
            pthread_mutex_unlock(&pool->mutex);
            spins = 0;
        }
        if (atomic_load(&pool->stop)) return NULL;
        seen = gen;
        pool->fn(pool->arg, wa->ith, pool->n_threads);
        atomic_fetch_add_explicit(&pool->n_done, 1, memory_order_acq_rel);
    }
}

kw_status kw_pool_create(int n_threads, kw_pool **out) {
    if (n_threads < 1) n_threads = 1;
    if (n_threads > 256) return kw_error(KW_ERR_INVALID_ARG, "thread count %d is above 256", n_threads);
    kw_pool *pool = kw_calloc(1, sizeof *pool, "thread pool");
    if (!pool) return KW_ERR_NOMEM;
    pool->n_threads = n_threads;
    pthread_mutex_init(&pool->mutex, NULL);
    pthread_cond_init(&pool->wake, NULL);
    if (n_threads > 1) {
        pool->threads = kw_calloc((size_t)n_threads, sizeof(pthread_t), "thread handles");
        worker_arg *args = kw_calloc((size_t)n_threads, sizeof(worker_arg), "thread args");
        if (!pool->threads || !args) {
            free(pool->threads);
            free(args);
            free(pool);
            return KW_ERR_NOMEM;
        }
        for (int i = 1; i < n_threads; i++) {
            args[i].pool = pool;
            args[i].ith = i;
            if (pthread_create(&pool->threads[i], NULL, worker_main, &args[i]) != 0) {
                pool->n_threads = i;
                pool->worker_args = args;
                kw_pool_free(pool);
                return kw_error(KW_ERR_INTERNAL, "cannot start worker thread %d of %d", i, n_threads);
            }
        }
        pool->worker_args = args;
    }
    *out = pool;
    return KW_OK;
}

void kw_pool_free(kw_pool *pool) {
    if (!pool) return;
    pthread_mutex_lock(&pool->mutex);
    atomic_store(&pool->stop, true);
    pthread_cond_broadcast(&pool->wake);
    pthread_mutex_unlock(&pool->mutex);
    for (int i = 1; i < pool->n_threads; i++) pthread_join(pool->threads[i], NULL);
    pthread_mutex_destroy(&pool->mutex);
    pthread_cond_destroy(&pool->wake);
    free(pool->threads);
    free(pool->worker_args);
    free(pool);
}

int kw_pool_n_threads(const kw_pool *pool) { return pool ? pool->n_threads : 1; }

void kw_pool_run(kw_pool *pool, kw_pool_fn fn, void *arg) {
    if (!pool || pool->n_threads == 1) {
        fn(arg, 0, 1);
        return;
    }
    pool->fn = fn;
    pool->arg = arg;
    atomic_store_explicit(&pool->n_done, 0, memory_order_relaxed);
    atomic_fetch_add(&pool->generation, 1);
    if (atomic_load(&pool->n_sleeping) > 0) {
        pthread_mutex_lock(&pool->mutex);
        pthread_cond_broadcast(&pool->wake);
        pthread_mutex_unlock(&pool->mutex);
    }
    fn(arg, 0, pool->n_threads);
    /* spin briefly (the others usually finish within microseconds), then yield: on a loaded
     * machine a worker may be descheduled and spinning would only keep it off the core */
    int spins = 0;
    while (atomic_load_explicit(&pool->n_done, memory_order_acquire) < pool->n_threads - 1) {
        if (++spins > 2000) {
            sched_yield();
            continue;
        }
#if defined(__x86_64__)
        __builtin_ia32_pause();
#endif
    }
}
