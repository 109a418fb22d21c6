/* memory.c - allocation wrappers that name what failed and count allocations.
 *
 * The counter lets a test prove that decoding performs no allocation per token. Large aligned
 * blocks are mapped directly (see kw_malloc_aligned).
 */
#include "base/base.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

static atomic_uint_fast64_t n_allocs;

uint64_t kw_alloc_count(void) { return atomic_load(&n_allocs); }

/* Failure injection (testing only, see base.h): fail_at is the armed allocation number, 0 off. */
static atomic_uint_fast64_t fail_at, fail_seen;
static atomic_bool fail_hit;

void kw_test_fail_alloc_at(uint64_t k) {
    atomic_store(&fail_at, 0);
    atomic_store(&fail_seen, 0);
    atomic_store(&fail_hit, false);
    atomic_store(&fail_at, k);
}

bool kw_test_alloc_failed(void) { return atomic_load(&fail_hit); }

/* True when this allocation is the one to fail. */
static bool inject_failure(void) {
    uint64_t k = atomic_load(&fail_at);
    if (k == 0) return false;
    if (atomic_fetch_add(&fail_seen, 1) + 1 != k) return false;
    atomic_store(&fail_hit, true);
    return true;
}

void *kw_malloc(size_t size, const char *what) {
    void *p = inject_failure() ? NULL : malloc(size ? size : 1);
    atomic_fetch_add(&n_allocs, 1);
    if (!p) kw_error(KW_ERR_NOMEM, "out of memory allocating %zu bytes for %s", size, what);
    return p;
}

void *kw_realloc(void *old, size_t size, const char *what) {
    void *p = inject_failure() ? NULL : realloc(old, size ? size : 1);
    atomic_fetch_add(&n_allocs, 1);
    if (!p) kw_error(KW_ERR_NOMEM, "out of memory growing %s to %zu bytes", what, size);
    return p;
}

void *kw_calloc(size_t n, size_t size, const char *what) {
    void *p = inject_failure() ? NULL : calloc(n ? n : 1, size ? size : 1);
    atomic_fetch_add(&n_allocs, 1);
    if (!p)
        kw_error(KW_ERR_NOMEM, "out of memory allocating %zu x %zu bytes for %s", n, size, what);
    return p;
}

/* Aligned blocks carry a 64-byte header before the returned pointer: how they were obtained and
 * their size. Blocks of MAP_BYTES or more (weights, scratch, KV cache) are mapped directly, so
 * freeing them returns the memory to the system at once: through malloc, glibc raises its mmap
 * threshold after such a free and later large blocks stay in the heap after their free, which
 * made a second context's peak RSS depend on the first one's. */
#define MAP_BYTES ((size_t)1 << 20)
#define HEADER    64
enum { FROM_MALLOC = 0x6b776d61, FROM_MMAP = 0x6b776d6d };

typedef struct block_header {
    uint32_t kind;
    size_t total; /* bytes obtained, header included */
} block_header;

void *kw_malloc_aligned(size_t size, const char *what) {
    const size_t rounded = (size + 63) & ~(size_t)63;
    if (rounded > SIZE_MAX - HEADER - 4096) {
        kw_error(KW_ERR_NOMEM, "allocation of %zu aligned bytes for %s is too large", size, what);
        return NULL;
    }
    const size_t total = HEADER + (rounded ? rounded : 64);
    uint8_t *base = NULL;
    uint32_t kind = FROM_MALLOC;
    atomic_fetch_add(&n_allocs, 1);
    bool injected = inject_failure();
    if (!injected && total >= MAP_BYTES) {
        void *m = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m != MAP_FAILED) base = m, kind = FROM_MMAP;
    } else if (!injected) {
        void *p = NULL;
        if (posix_memalign(&p, 64, total) == 0) base = p;
    }
    if (!base) {
        kw_error(KW_ERR_NOMEM, "out of memory allocating %zu aligned bytes for %s", size, what);
        return NULL;
    }
    const block_header h = {kind, total};
    memcpy(base, &h, sizeof h);
    return base + HEADER;
}

void kw_free_aligned(void *p) {
    if (!p) return;
    uint8_t *base = (uint8_t *)p - HEADER;
    block_header h;
    memcpy(&h, base, sizeof h);
    if (h.kind == FROM_MMAP)
        munmap(base, h.total);
    else
        free(base);
}

char *kw_strdup(const char *s) { return kw_strndup(s, strlen(s)); }

char *kw_strndup(const char *s, size_t n) {
    char *p = kw_malloc(n + 1, "string");
    if (!p) return NULL;
    memcpy(p, s, n);
    p[n] = 0;
    return p;
}
