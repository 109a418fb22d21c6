/* memory.c - allocation wrappers that name what failed and count allocations.
 *
 * The counter lets a test prove that decoding performs no allocation per token.
 */
#include "base/base.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

static atomic_uint_fast64_t n_allocs;

uint64_t kw_alloc_count(void) { return atomic_load(&n_allocs); }

void *kw_malloc(size_t size, const char *what) {
    void *p = malloc(size ? size : 1);
    atomic_fetch_add(&n_allocs, 1);
    if (!p) kw_error(KW_ERR_NOMEM, "out of memory allocating %zu bytes for %s", size, what);
    return p;
}

void *kw_calloc(size_t n, size_t size, const char *what) {
    void *p = calloc(n ? n : 1, size ? size : 1);
    atomic_fetch_add(&n_allocs, 1);
    if (!p) kw_error(KW_ERR_NOMEM, "out of memory allocating %zu x %zu bytes for %s", n, size, what);
    return p;
}

void *kw_malloc_aligned(size_t size, const char *what) {
    void *p = NULL;
    size_t rounded = (size + 63) & ~(size_t)63;
    atomic_fetch_add(&n_allocs, 1);
    if (posix_memalign(&p, 64, rounded ? rounded : 64) != 0) {
        kw_error(KW_ERR_NOMEM, "out of memory allocating %zu aligned bytes for %s", size, what);
        return NULL;
    }
    return p;
}

void kw_free_aligned(void *p) { free(p); }

char *kw_strdup(const char *s) { return kw_strndup(s, strlen(s)); }

char *kw_strndup(const char *s, size_t n) {
    char *p = kw_malloc(n + 1, "string");
    if (!p) return NULL;
    memcpy(p, s, n);
    p[n] = 0;
    return p;
}
