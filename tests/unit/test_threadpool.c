/* test_threadpool.c - the worker pool: kw_pool_run gives every part its own thread, kw_pool_for
 * runs every chunk exactly once whichever thread takes it, jobs of both kinds interleave without
 * a late worker touching a later job, and the caller finishes a kw_pool_for job alone when a
 * worker is held up. */
#include "base/base.h"
#include "test.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum { MAX_CHUNKS = 4096, MAX_THREADS = 4 };

typedef struct count_job {
    atomic_int runs[MAX_CHUNKS];
    atomic_int bad_ith;
    int nth;
} count_job;

static void count_chunk(void *arg, int64_t c, int ith) {
    count_job *j = arg;
    if (ith < 0 || ith >= j->nth) atomic_fetch_add(&j->bad_ith, 1);
    atomic_fetch_add(&j->runs[c], 1);
}

typedef struct part_job {
    atomic_int seen[MAX_THREADS];
    pthread_t self[MAX_THREADS];
} part_job;

static void record_part(void *arg, int ith, int nth) {
    part_job *j = arg;
    (void)nth;
    atomic_fetch_add(&j->seen[ith], 1);
    j->self[ith] = pthread_self();
}

static void test_every_chunk_once(void) {
    static count_job job;
    for (int nth = 1; nth <= 3; nth++) {
        kw_pool *pool;
        CHECK(kw_pool_create(nth, &pool) == KW_OK, "a pool of %d threads starts", nth);
        const int64_t sizes[] = {1, 2, 3, 7, 64, 1000, MAX_CHUNKS};
        int wrong = 0, parts_wrong = 0, same_thread = 0;
        for (int round = 0; round < 300; round++) {
            const int64_t n = sizes[round % 7];
            memset(&job, 0, sizeof job);
            job.nth = nth;
            kw_pool_for(pool, n, count_chunk, &job);
            for (int64_t c = 0; c < n; c++)
                wrong += atomic_load(&job.runs[c]) != 1;
            for (int64_t c = n; c < MAX_CHUNKS; c++)
                wrong += atomic_load(&job.runs[c]) != 0;
            wrong += atomic_load(&job.bad_ith);
            /* a kw_pool_run job between two kw_pool_for jobs: each part exactly once, own thread */
            part_job pj;
            memset(&pj, 0, sizeof pj);
            kw_pool_run(pool, record_part, &pj);
            for (int i = 0; i < nth; i++)
                parts_wrong += atomic_load(&pj.seen[i]) != 1;
            for (int i = 0; i < nth; i++)
                for (int k = i + 1; k < nth; k++)
                    same_thread += pthread_equal(pj.self[i], pj.self[k]) != 0;
        }
        CHECK(wrong == 0, "%d threads: every chunk ran exactly once in 300 jobs (%d wrong counts)",
              nth, wrong);
        CHECK(parts_wrong == 0, "%d threads: kw_pool_run ran every part once (%d wrong)", nth,
              parts_wrong);
        CHECK(same_thread == 0, "%d threads: kw_pool_run parts ran on distinct threads (%d shared)",
              nth, same_thread);
        kw_pool_free(pool);
    }
}

/* While a worker is held inside its chunk (a descheduled thread, in effect), the caller takes
 * every other chunk; it releases the worker after the last one. A pool that handed chunks out
 * by thread, or waited for the worker before going on, would time out here. */
typedef struct stall_job {
    int64_t n;
    atomic_int by_caller, by_worker, released, timed_out;
} stall_job;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void stall_chunk(void *arg, int64_t c, int ith) {
    stall_job *j = arg;
    (void)c;
    if (ith == 0) {
        usleep(100); /* time for the worker to wake and take a chunk */
        if (atomic_fetch_add(&j->by_caller, 1) + 1 + atomic_load(&j->by_worker) == j->n)
            atomic_store(&j->released, 1);
        return;
    }
    if (atomic_fetch_add(&j->by_worker, 1) + 1 + atomic_load(&j->by_caller) == j->n)
        atomic_store(&j->released, 1);
    const double t0 = now_s();
    while (!atomic_load(&j->released)) {
        if (now_s() - t0 > 5.0) {
            atomic_store(&j->timed_out, 1);
            break;
        }
        usleep(50);
    }
}

static void test_caller_takes_the_rest(void) {
    kw_pool *pool;
    CHECK(kw_pool_create(2, &pool) == KW_OK, "a pool of 2 threads starts");
    int worker_took = 0, timeouts = 0, totals_wrong = 0;
    for (int round = 0; round < 20; round++) {
        static stall_job j;
        memset(&j, 0, sizeof j);
        j.n = 200;
        kw_pool_for(pool, j.n, stall_chunk, &j);
        const int w = atomic_load(&j.by_worker), c = atomic_load(&j.by_caller);
        worker_took += w > 0;
        timeouts += atomic_load(&j.timed_out);
        totals_wrong += w + c != j.n || w > 1;
    }
    CHECK(timeouts == 0,
          "the caller finished the job while the worker was held (%d of 20 timed out)", timeouts);
    CHECK(totals_wrong == 0,
          "all 200 chunks ran, the held worker ran at most one (%d rounds wrong)", totals_wrong);
    CHECK(worker_took > 0, "the worker took a chunk in some round (%d of 20), so it was held",
          worker_took);
    kw_pool_free(pool);
}

/* Back-to-back kw_pool_for jobs, small then large, with more threads than cores: a worker that
 * wakes late must not take a chunk of the job that ended (nor carry it into the next one). The
 * first pool version read the chunk count from a field and ran chunks twice here. */
typedef struct seq_job {
    atomic_int runs[64];
} seq_job;

static void seq_chunk(void *arg, int64_t c, int ith) {
    seq_job *j = arg;
    (void)ith;
    atomic_fetch_add(&j->runs[c], 1);
}

static void many_chunk(void *arg, int64_t c, int ith) {
    (void)ith;
    atomic_fetch_add(&((atomic_char *)arg)[c], 1);
}

static void test_back_to_back_jobs(void) {
    kw_pool *pool;
    CHECK(kw_pool_create(3, &pool) == KW_OK, "a pool of 3 threads starts");
    static seq_job jobs[2];
    int wrong = 0;
    for (int round = 0; round < 100000; round++) {
        seq_job *j = &jobs[round & 1];
        const int64_t n = round & 1 ? 64 : 2;
        for (int c = 0; c < 64; c++)
            atomic_store(&j->runs[c], 0);
        kw_pool_for(pool, n, seq_chunk, j);
        for (int c = 0; c < 64; c++)
            wrong += atomic_load(&j->runs[c]) != (c < n);
    }
    CHECK(wrong == 0,
          "100000 back-to-back jobs of 2 and 64 chunks ran each chunk once (%d wrong counts)",
          wrong);
    kw_pool_free(pool);
}

/* More chunks than one ticket counts: handed out several per claim, each still exactly once. */
static void test_many_chunks(void) {
    kw_pool *pool;
    CHECK(kw_pool_create(2, &pool) == KW_OK, "a pool of 2 threads starts");
    enum { N = 200003 };
    static atomic_char runs[N];
    memset(runs, 0, sizeof runs);
    kw_pool_for(pool, N, many_chunk, runs);
    int wrong = 0;
    for (int i = 0; i < N; i++)
        wrong += atomic_load(&runs[i]) != 1;
    CHECK(wrong == 0, "a job of %d chunks ran each once (%d wrong)", N, wrong);
    kw_pool_free(pool);
}

int main(void) {
    RUN_TEST(test_every_chunk_once);
    RUN_TEST(test_caller_takes_the_rest);
    RUN_TEST(test_back_to_back_jobs);
    RUN_TEST(test_many_chunks);
    return test_report();
}
