/* data_util.c - small helpers of the training-data files: a growable byte buffer, JSON string
 * output, writing a file through a temporary name, a 64-bit hash.
 *
 * Relies on base (memory, UTF-8, errors). Must not: leave a half-written output under its final
 * name (data_write_file writes path.tmp and renames).
 */
#include "train/data.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---------------------------------------------------------------- byte buffer */

static kw_status reserve(dbuf *b, size_t extra) {
    if (b->n + extra + 1 <= b->cap) return KW_OK;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->n + extra + 1) {
        if (cap > SIZE_MAX / 2) return kw_error(KW_ERR_NOMEM, "buffer of %zu bytes", b->n + extra);
        cap *= 2;
    }
    char *p = realloc(b->p, cap);
    if (!p) return kw_error(KW_ERR_NOMEM, "out of memory growing a buffer to %zu bytes", cap);
    b->p = p;
    b->cap = cap;
    return KW_OK;
}

kw_status dbuf_put(dbuf *b, const void *s, size_t n) {
    kw_status st = reserve(b, n);
    if (st != KW_OK) return st;
    if (n) memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
    return KW_OK;
}

kw_status dbuf_puts(dbuf *b, const char *s) { return dbuf_put(b, s, strlen(s)); }
kw_status dbuf_putc(dbuf *b, char c) { return dbuf_put(b, &c, 1); }

kw_status dbuf_put_cp(dbuf *b, uint32_t cp) {
    char u[4];
    return dbuf_put(b, u, (size_t)kw_utf8_encode(cp, u));
}

kw_status dbuf_printf(dbuf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) return kw_error(KW_ERR_INTERNAL, "dbuf_printf: bad format '%s'", fmt);
    kw_status st = reserve(b, (size_t)n);
    if (st != KW_OK) return st;
    va_start(ap, fmt);
    vsnprintf(b->p + b->n, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->n += (size_t)n;
    return KW_OK;
}

kw_status dbuf_put_json_str(dbuf *b, const char *s, size_t n) {
    kw_status st = dbuf_putc(b, '"');
    for (size_t i = 0; i < n && st == KW_OK; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            st = dbuf_put(b, e, 2);
        } else if (c == '\n') {
            st = dbuf_put(b, "\\n", 2);
        } else if (c < 0x20) {
            st = dbuf_printf(b, "\\u%04x", c);
        } else {
            st = dbuf_putc(b, (char)c);
        }
    }
    return st == KW_OK ? dbuf_putc(b, '"') : st;
}

void dbuf_free(dbuf *b) {
    free(b->p);
    b->p = NULL;
    b->n = b->cap = 0;
}

/* ---------------------------------------------------------------- files */

kw_status data_write_file(const char *path, const dbuf *b) {
    size_t plen = strlen(path);
    char *tmp = kw_malloc(plen + 5, "temporary path");
    if (!tmp) return KW_ERR_NOMEM;
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".tmp", 5);
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        kw_status st = kw_error(KW_ERR_IO, "cannot create '%s': %s", tmp, strerror(errno));
        free(tmp);
        return st;
    }
    size_t put = b->n ? fwrite(b->p, 1, b->n, f) : 0;
    int err = ferror(f);
    if (fclose(f) != 0) err = 1;
    if (put != b->n || err) {
        remove(tmp);
        free(tmp);
        return kw_error(KW_ERR_IO, "cannot write %zu bytes to '%s' (%zu written)", b->n, path, put);
    }
    if (rename(tmp, path) != 0) {
        kw_status st =
            kw_error(KW_ERR_IO, "cannot rename '%s' to '%s': %s", tmp, path, strerror(errno));
        remove(tmp);
        free(tmp);
        return st;
    }
    free(tmp);
    return KW_OK;
}

bool data_same_file(const char *a, const char *b) {
    struct stat x, y;
    if (stat(a, &x) != 0 || stat(b, &y) != 0) return false;
    return x.st_dev == y.st_dev && x.st_ino == y.st_ino;
}

/* ---------------------------------------------------------------- hashing */

uint64_t data_hash64(const void *p, size_t n, uint64_t seed) {
    const uint8_t *s = p;
    uint64_t h = 14695981039346656037ull ^ seed;
    for (size_t i = 0; i < n; i++) {
        h ^= s[i];
        h *= 1099511628211ull;
    }
    /* splitmix64 finalizer: FNV's low bits are weak for modulo decisions */
    h ^= h >> 30;
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 27;
    h *= 0x94d049bb133111ebull;
    return h ^ (h >> 31);
}
