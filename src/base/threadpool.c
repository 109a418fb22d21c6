/* threadpool.c - one pool of worker threads, created once, reused for every op.
 *
 * A call publishes a job under a new generation number; workers spin on the generation for a
 * short while (ops follow each other within microseconds during a forward pass), then sleep on a
 * condition variable. The mutex and the broadcast are only taken when some worker has gone to
 * sleep (n_sleeping, checked after the generation is bumped; a worker counts itself asleep before
 * its last look at the generation, both sequentially consistent, so one of the two always sees
 * the other). Nothing is allocated per call.
 *
 * Two kinds of job, told apart by bit 0 of the generation:
 * - kw_pool_run (bit 0 clear): every worker runs its part; the caller waits for all of them.
 * - kw_pool_for (bit 0 set): threads take chunks from `ticket` = generation << 32 | count << 16 |
 *   next, by compare-and-swap, and the caller waits until `chunks_done` reaches the count. A worker
 *   that wakes after the job ended sees another generation in the ticket, or no chunk left, and
 *   takes nothing. The count lives in the ticket itself: read from a field, a late worker could
 *   pair the old ticket with the next job's larger count and claim a chunk past the old end (it
 *   did: one chunk of the next job then ran twice). A CAS that succeeds on (generation, count,
 *   chunk < count) proves that job was still running, so the fields read before it (function,
 *   argument, chunks per claim) were still that job's: the caller rewrites them only after every
 *   chunk is done. They are relaxed atomics because a late reader may race with the rewrite (its
 *   CAS then fails and the values are dropped). Jobs of more than 65535 chunks hand them out in
 *   claims of several chunks.
 */
#include "base/base.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

#define SPIN_ITERS 20000

struct kw_pool {
    int n_threads; /* including the caller */
    pthread_t *threads;
    pthread_mutex_t mutex;
    pthread_cond_t wake;
    atomic_uint generation; /* bumped by 2 per job; bit 0 set for kw_pool_for jobs */
    atomic_bool stop;
    atomic_int n_sleeping; /* workers inside (or entering) the condition wait */
    /* kw_pool_run */
    atomic_llong n_done; /* workers finished with the current job */
    kw_pool_fn fn;
    void *arg;
    /* kw_pool_for */
    _Atomic uint64_t ticket;
    atomic_llong chunks_done;
    atomic_llong n_chunks;
    atomic_llong per_claim; /* chunks per claim (1 unless the job has more than MAX_CLAIMS) */
    _Atomic(kw_pool_chunk_fn) chunk_fn;
    _Atomic(void *) chunk_arg;
    struct worker_arg *worker_args; /* one per worker, owned */
};

typedef struct worker_arg {
    kw_pool *pool;
    int ith;
} worker_arg;

static inline void cpu_relax(void) {
#if defined(__x86_64__)
    __builtin_ia32_pause();
#endif
}

#define MAX_CLAIMS 0xFFFFu /* claims per kw_pool_for job: the 16-bit fields of the ticket */

/* Takes and runs claims of the kw_pool_for job of generation gen until none is left. */
static void take_chunks(kw_pool *pool, unsigned gen, int ith) {
    for (;;) {
        uint64_t t = atomic_load_explicit(&pool->ticket, memory_order_acquire);
        const unsigned count = (unsigned)(t >> 16) & MAX_CLAIMS, claim = (unsigned)t & MAX_CLAIMS;
        if ((unsigned)(t >> 32) != gen || claim >= count) return;
        const long long n = atomic_load_explicit(&pool->n_chunks, memory_order_relaxed);
        const long long per = atomic_load_explicit(&pool->per_claim, memory_order_relaxed);
        const kw_pool_chunk_fn fn = atomic_load_explicit(&pool->chunk_fn, memory_order_relaxed);
        void *arg = atomic_load_explicit(&pool->chunk_arg, memory_order_relaxed);
        if (!atomic_compare_exchange_weak_explicit(&pool->ticket, &t, t + 1, memory_order_acq_rel,
                                                   memory_order_relaxed))
            continue;
        const long long c1 = (long long)(claim + 1) * per < n ? (long long)(claim + 1) * per : n;
        for (long long c = (long long)claim * per; c < c1; c++)
            fn(arg, c, ith);
        atomic_fetch_add_explicit(&pool->chunks_done, 1, memory_order_release);
    }
}

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
                cpu_relax();
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
        if (gen & 1u) {
            take_chunks(pool, gen, wa->ith);
        } else {
            pool->fn(pool->arg, wa->ith, pool->n_threads);
            atomic_fetch_add_explicit(&pool->n_done, 1, memory_order_acq_rel);
        }
    }
}

kw_status kw_pool_create(int n_threads, kw_pool **out) {
    if (n_threads < 1) n_threads = 1;
    if (n_threads > KW_MAX_THREADS)
        return kw_error(KW_ERR_INVALID_ARG, "thread count %d is above the limit of %d", n_threads,
                        KW_MAX_THREADS);
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
                return kw_error(KW_ERR_INTERNAL, "cannot start worker thread %d of %d", i,
                                n_threads);
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
    for (int i = 1; i < pool->n_threads; i++)
        pthread_join(pool->threads[i], NULL);
    pthread_mutex_destroy(&pool->mutex);
    pthread_cond_destroy(&pool->wake);
    free(pool->threads);
    free(pool->worker_args);
    free(pool);
}

int kw_pool_n_threads(const kw_pool *pool) { return pool ? pool->n_threads : 1; }

/* Publishes generation gen (the job's fields are already written) and wakes sleepers. */
static void publish(kw_pool *pool, unsigned gen) {
    atomic_store(&pool->generation, gen);
    if (atomic_load(&pool->n_sleeping) > 0) {
        pthread_mutex_lock(&pool->mutex);
        pthread_cond_broadcast(&pool->wake);
        pthread_mutex_unlock(&pool->mutex);
    }
}

/* Spins briefly, then yields: on a loaded machine a worker may be descheduled, and spinning would
 * only keep it off the core. */
static void wait_until(atomic_llong *counter, long long target) {
    int spins = 0;
    while (atomic_load_explicit(counter, memory_order_acquire) < target) {
        if (++spins > 2000)
            sched_yield();
        else
            cpu_relax();
    }
}

void kw_pool_run(kw_pool *pool, kw_pool_fn fn, void *arg) {
    if (!pool || pool->n_threads == 1) {
        fn(arg, 0, 1);
        return;
    }
    pool->fn = fn;
    pool->arg = arg;
    atomic_store_explicit(&pool->n_done, 0, memory_order_relaxed);
    const unsigned gen =
        (atomic_load_explicit(&pool->generation, memory_order_relaxed) | 1u) + 1u; /* even */
    publish(pool, gen);
    fn(arg, 0, pool->n_threads);
    wait_until(&pool->n_done, pool->n_threads - 1);
}

void kw_pool_for(kw_pool *pool, int64_t n_chunks, kw_pool_chunk_fn fn, void *arg) {
    if (n_chunks <= 0) return;
    if (!pool || pool->n_threads == 1 || n_chunks == 1) {
        for (int64_t c = 0; c < n_chunks; c++)
            fn(arg, c, 0);
        return;
    }
    const unsigned gen =
        (atomic_load_explicit(&pool->generation, memory_order_relaxed) + 2u) | 1u; /* odd */
    const long long per = (n_chunks + MAX_CLAIMS - 1) / MAX_CLAIMS;
    const long long claims = (n_chunks + per - 1) / per;
    atomic_store_explicit(&pool->n_chunks, n_chunks, memory_order_relaxed);
    atomic_store_explicit(&pool->per_claim, per, memory_order_relaxed);
    atomic_store_explicit(&pool->chunk_fn, fn, memory_order_relaxed);
    atomic_store_explicit(&pool->chunk_arg, arg, memory_order_relaxed);
    atomic_store_explicit(&pool->chunks_done, 0, memory_order_relaxed);
    atomic_store_explicit(&pool->ticket, (uint64_t)gen << 32 | (uint64_t)claims << 16,
                          memory_order_release);
    publish(pool, gen);
    take_chunks(pool, gen, 0);
    wait_until(&pool->chunks_done, claims);
}
