/* base.h - the bottom layer: errors, mapped files, memory, UTF-8, time, CPU features, threads.
 *
 * Every other module may use this; it uses nothing of kaiwu above it.
 */
#ifndef KAIWU_BASE_H
#define KAIWU_BASE_H

#include "kaiwu.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---------------------------------------------------------------- errors */

/* Records the message for kw_last_error() (thread-local) and returns status, so that a failing
 * function can `return kw_error(KW_ERR_FORMAT, "tensor '%s': ...", name);`. The first message of
 * a failure is its root cause and is kept: a later kw_error (before the next kw_error_clear) goes
 * in front of it as context, as kw_error_wrap does. */
kw_status kw_error(kw_status status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prepends context to the current message: "loading 'x.gguf': <old message>". Returns status. */
kw_status kw_error_wrap(kw_status status, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Empties the message. Every public function that can fail calls it first, so a message never
 * carries an earlier failure; code that handles an error itself (a fallback) calls it too. */
void kw_error_clear(void);

/* ---------------------------------------------------------------- memory */

/* malloc/calloc that record a KW_ERR_NOMEM message naming what was being allocated. */
void *kw_malloc(size_t size, const char *what);
void *kw_calloc(size_t n, size_t size, const char *what);
/* realloc that records the message; on failure p is left allocated (as realloc leaves it). */
void *kw_realloc(void *p, size_t size, const char *what);
/* 64-byte aligned allocation (free with kw_free_aligned). */
void *kw_malloc_aligned(size_t size, const char *what);
void kw_free_aligned(void *p);
char *kw_strdup(const char *s);
char *kw_strndup(const char *s, size_t n);

/* Overflow-checked size arithmetic: return false on overflow. */
static inline bool kw_mul_overflows(uint64_t a, uint64_t b, uint64_t *out) {
    return __builtin_mul_overflow(a, b, out);
}
static inline bool kw_add_overflows(uint64_t a, uint64_t b, uint64_t *out) {
    return __builtin_add_overflow(a, b, out);
}

/* A counter of heap allocations made through kw_malloc/kw_calloc/kw_malloc_aligned, for the test
 * that decoding allocates nothing per token. */
uint64_t kw_alloc_count(void);

/* TESTING ONLY (tests/unit/test_allocfail.c; not part of the API): from this call on, the k-th
 * allocation through kw_malloc/kw_calloc/kw_realloc/kw_malloc_aligned/kw_strdup fails as if
 * memory ran out (k = 1: the next one); the others succeed. k = 0 turns injection off.
 * kw_test_alloc_failed() tells whether the armed failure happened (a run that completes without
 * it has fewer than k allocations). Counting is atomic; with worker threads which allocation is
 * the k-th is not fixed. */
void kw_test_fail_alloc_at(uint64_t k);
bool kw_test_alloc_failed(void);

/* ---------------------------------------------------------------- mapped files */

typedef struct kw_mapped_file {
    const uint8_t *data; /* read-only mapping of the whole file; NULL for an empty file */
    uint64_t size;
    char *path; /* owned copy */
} kw_mapped_file;

kw_status kw_file_map(const char *path, kw_mapped_file *out);
void kw_file_unmap(kw_mapped_file *f);

/* ---------------------------------------------------------------- UTF-8 */

/* Length of the UTF-8 sequence announced by lead byte c (1..4), or 0 for a continuation or
 * invalid lead byte. */
int kw_utf8_seq_len(uint8_t c);
/* Decodes one code point at s (n bytes available). Returns its byte length (>= 1) and the code
 * point in *cp; an invalid or truncated sequence gives length 1 and *cp = 0xFFFD. */
int kw_utf8_decode(const uint8_t *s, size_t n, uint32_t *cp);
/* Encodes cp into out (>= 4 bytes); returns the byte count. */
int kw_utf8_encode(uint32_t cp, char *out);
/* Number of bytes at the end of s[0..n) that form an incomplete (but so far valid) UTF-8
 * sequence, 0 when s ends on a character boundary. */
int kw_utf8_incomplete_tail(const uint8_t *s, size_t n);

/* ---------------------------------------------------------------- CPU features */

typedef struct kw_cpu {
    bool avx2, fma, f16c, avx512f, avx512bw, avx512vl, avx512dq, avx512vnni, avx512bf16, avxvnni;
    int n_cores; /* online logical CPUs */
} kw_cpu;

/* Detected once; KAIWU_ISA=ref in the environment turns every SIMD feature off. */
const kw_cpu *kw_cpu_get(void);

/* ---------------------------------------------------------------- threads */

/* A pool of workers created once. No allocation per call; workers spin briefly, then sleep on a
 * condition variable.
 * kw_pool_run runs fn(arg, i, n) for i in [0, n) on n threads (the caller is thread 0), each part
 * on its own thread, and returns when all are done: for work that needs every thread (probes).
 * kw_pool_for runs fn(arg, c, ith) for every chunk c in [0, n_chunks), chunks taken in order by
 * whichever thread is free (ith: the index of the thread running it, for per-thread scratch), and
 * returns when all chunks are done. The caller does not wait for a worker that took no chunk,
 * so a worker descheduled by another process does not stall the pass: prefer it for the forward
 * pass. */
typedef struct kw_pool kw_pool;
typedef void (*kw_pool_fn)(void *arg, int ith, int nth);
typedef void (*kw_pool_chunk_fn)(void *arg, int64_t chunk, int ith);

kw_status kw_pool_create(int n_threads, kw_pool **out);
void kw_pool_free(kw_pool *pool);
int kw_pool_n_threads(const kw_pool *pool);
void kw_pool_run(kw_pool *pool, kw_pool_fn fn, void *arg);
void kw_pool_for(kw_pool *pool, int64_t n_chunks, kw_pool_chunk_fn fn, void *arg);

/* Splits [0, n) into nth nearly equal parts; sets [*begin, *end) of part ith. */
static inline void kw_split_range(int64_t n, int ith, int nth, int64_t *begin, int64_t *end) {
    int64_t per = n / nth, rem = n % nth;
    *begin = ith * per + (ith < rem ? ith : rem);
    *end = *begin + per + (ith < rem ? 1 : 0);
}

/* ---------------------------------------------------------------- half precision */

float kw_f16_to_f32(uint16_t h);
uint16_t kw_f32_to_f16(float f); /* round to nearest even, as ggml's reference */
float kw_bf16_to_f32(uint16_t h);
uint16_t kw_f32_to_bf16(float f); /* round to nearest even; NaN stays NaN */

/* ---------------------------------------------------------------- logging */

/* Messages to stderr up to the verbosity KAIWU_LOG gives (read once, thread-safe): level 0
 * warnings (shown by default; KAIWU_LOG=-1 hides them), 1 details, 2 debug. */
void kw_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int kw_log_level(void); /* the verbosity in effect */

#endif
