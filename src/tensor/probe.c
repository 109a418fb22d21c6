/* probe.c - machine ceilings for `kaiwu bench`: memory read bandwidth (STREAM-style sum of a large
 * buffer) and peak int8 dot-product / f32 FMA / bf16 dot throughput, on n threads with the best ISA
 * present.
 *
 * Decode speed is bounded by bandwidth / weight bytes per token and prompt processing by the
 * arithmetic peak; these probes measure both ceilings on this machine so benchmark results can be
 * reported as a fraction of them.
 *
 * Relies on: base (thread pool, CPU features, aligned memory, time) and the per-ISA kernels of
 * probe.h. Must not: run when not asked (nothing here is on an inference path); allocate more
 * than the one buffer the caller sizes.
 */
#include "tensor/probe.h"
#include "base/base.h"
#include "kaiwu.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---------------------------------------------------------------- dispatch */

typedef struct probe_isa {
    const char *int8_name, *f32_name, *bf16_name, *read_name;
    probe_int8_fn int8;
    probe_f32_fn f32, bf16; /* bf16: the f32 loop where the CPU has no bf16 dot */
    probe_read_fn read;
} probe_isa;

static probe_isa pick_isa(void) {
    const kw_cpu *c = kw_cpu_get();
    probe_isa p = {"ref",          "ref",         "ref (f32)",   "ref",
                   probe_int8_ref, probe_f32_ref, probe_f32_ref, probe_read_ref};
#if defined(__x86_64__)
    if (c->avx2 && c->fma) {
        p = (probe_isa){"avx2",          "avx2+fma",     "avx2+fma (f32)", "avx2",
                        probe_int8_avx2, probe_f32_avx2, probe_f32_avx2,   probe_read_avx2};
    }
    if (c->avx512f && c->avx512bw) {
        p.f32_name = "avx512f";
        p.f32 = probe_f32_avx512;
        p.bf16_name = "avx512f (f32)";
        p.bf16 = probe_f32_avx512;
        if (c->avx512bf16) {
            p.bf16_name = "avx512bf16";
            p.bf16 = probe_bf16_avx512;
        }
        p.read_name = "avx512f";
        p.read = probe_read_avx512;
        if (c->avx512vnni) {
            p.int8_name = "avx512vnni";
            p.int8 = probe_int8_avx512vnni;
        }
    }
#else
    (void)c;
#endif
    return p;
}

static int resolve_threads(int n_threads) {
    if (n_threads <= 0) n_threads = kw_cpu_get()->n_cores;
    return n_threads > KW_MAX_THREADS ? KW_MAX_THREADS : n_threads;
}

/* ---------------------------------------------------------------- arithmetic peak */

enum { MAX_THREADS = 256 };

typedef enum peak_kind { PEAK_INT8, PEAK_F32, PEAK_BF16 } peak_kind;

typedef struct peak_job {
    probe_isa isa;
    peak_kind kind;
    double seconds;
    double rate[MAX_THREADS]; /* operations per second of CPU time of each thread */
} peak_job;

/* Arithmetic units are private to a core, so the peak is rated per second of the thread's own CPU
 * time: on a machine shared with other work, time spent descheduled does not lower the ceiling
 * (the model runs, timed on the wall clock, do pay for it). */
static double thread_cpu_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static volatile int32_t sink_i32; /* results land here so the loops are not optimised away */
static volatile float sink_f32;

static void peak_worker(void *arg, int ith, int nth) {
    (void)nth;
    peak_job *job = arg;
    static const uint8_t seed8[64] = {
        1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22,
        23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 3,  1,  4,  1,  5,  9,  2,  6,  5,  3,  5,  8,
        9,  7,  9,  3,  2,  3,  8,  4,  6,  2,  6,  4,  3,  3,  8,  3,  2,  7,  9,  5};
    /* acc = acc * 0.5 + 1 converges to 2: no overflow, no subnormals that would slow the FMAs */
    static const float seedf[16] = {1, 2, 3, 4, 5, 6, 7, 8, 0.5f, 1.0f};
    const bool is_int8 = job->kind == PEAK_INT8;
    const probe_f32_fn flt = job->kind == PEAK_BF16 ? job->isa.bf16 : job->isa.f32;
    const int64_t chunk = is_int8 ? 4096 : 8192;
    int32_t si = 0;
    float sf = 0;
    /* warm-up outside the timing: wide units power up and clocks settle */
    double warm = job->seconds * 0.1, t0 = kw_time_seconds();
    while (kw_time_seconds() - t0 < warm) {
        if (is_int8)
            job->isa.int8(chunk, seed8, &si);
        else
            flt(chunk, seedf, &sf);
    }
    uint64_t ops = 0;
    double start = kw_time_seconds(), cpu0 = thread_cpu_seconds();
    do {
        ops += is_int8 ? job->isa.int8(chunk, seed8, &si) : flt(chunk, seedf, &sf);
    } while (kw_time_seconds() - start < job->seconds);
    double cpu = thread_cpu_seconds() - cpu0;
    job->rate[ith] = cpu > 0 ? (double)ops / cpu : 0;
    sink_i32 = si;
    sink_f32 = sf;
}

static double run_peak(int n_threads, double seconds, peak_kind kind, const char **isa_name) {
    n_threads = resolve_threads(n_threads);
    if (!(seconds > 0)) seconds = 0.01;
    peak_job *job = kw_calloc(1, sizeof *job, "probe job");
    if (!job) return 0;
    job->isa = pick_isa();
    job->kind = kind;
    job->seconds = seconds;
    if (isa_name)
        *isa_name = kind == PEAK_INT8  ? job->isa.int8_name
                    : kind == PEAK_F32 ? job->isa.f32_name
                                       : job->isa.bf16_name;
    kw_pool *pool = NULL;
    if (kw_pool_create(n_threads, &pool) != KW_OK) {
        free(job);
        return 0;
    }
    kw_pool_run(pool, peak_worker, job);
    kw_pool_free(pool);
    double total = 0;
    for (int i = 0; i < n_threads; i++)
        total += job->rate[i];
    free(job);
    return total;
}

double kw_probe_int8_peak(int n_threads, double seconds, const char **isa) {
    kw_error_clear();
    return run_peak(n_threads, seconds, PEAK_INT8, isa);
}

double kw_probe_f32_peak(int n_threads, double seconds, const char **isa) {
    kw_error_clear();
    return run_peak(n_threads, seconds, PEAK_F32, isa);
}

double kw_probe_bf16_peak(int n_threads, double seconds, const char **isa) {
    kw_error_clear();
    return run_peak(n_threads, seconds, PEAK_BF16, isa);
}

/* ---------------------------------------------------------------- read bandwidth */

typedef struct read_job {
    probe_read_fn read;
    uint8_t *buf;
    size_t bytes; /* multiple of 256 * nth */
    bool touch;   /* first pass: write the buffer (page faults happen here, not in the timing) */
    double t_start[MAX_THREADS], t_end[MAX_THREADS];
    uint64_t sum[MAX_THREADS];
} read_job;

static void read_worker(void *arg, int ith, int nth) {
    read_job *job = arg;
    size_t per = job->bytes / (size_t)nth;
    uint8_t *p = job->buf + per * (size_t)ith;
    if (job->touch) {
        memset(p, ith + 1, per);
        return;
    }
    job->t_start[ith] = kw_time_seconds();
    job->sum[ith] = job->read(p, per);
    job->t_end[ith] = kw_time_seconds();
}

double kw_probe_read_bandwidth(int n_threads, size_t bytes, int reps) {
    kw_error_clear();
    n_threads = resolve_threads(n_threads);
    if (reps < 1) reps = 1;
    size_t unit = (size_t)256 * (size_t)n_threads;
    bytes = bytes / unit * unit;
    if (bytes == 0) bytes = unit;
    read_job *job = kw_calloc(1, sizeof *job, "probe job");
    if (!job) return 0;
    job->read = pick_isa().read;
    job->bytes = bytes;
    job->buf = kw_malloc_aligned(bytes, "bandwidth probe buffer");
    kw_pool *pool = NULL;
    double best = 0;
    if (!job->buf || kw_pool_create(n_threads, &pool) != KW_OK) goto out;
    job->touch = true;
    kw_pool_run(pool, read_worker, job);
    job->touch = false;
    for (int r = 0; r < reps; r++) {
        kw_pool_run(pool, read_worker, job);
        double t0 = job->t_start[0], t1 = job->t_end[0];
        for (int i = 1; i < n_threads; i++) {
            if (job->t_start[i] < t0) t0 = job->t_start[i];
            if (job->t_end[i] > t1) t1 = job->t_end[i];
            sink_i32 = (int32_t)job->sum[i];
        }
        double gbs = t1 > t0 ? (double)bytes / (t1 - t0) * 1e-9 : 0;
        if (gbs > best) best = gbs;
    }
out:
    kw_pool_free(pool);
    kw_free_aligned(job->buf);
    free(job);
    return best;
}
