/* error.c - the thread-local "last error" message behind kw_last_error().
 *
 * The first failure sets the message; callers up the stack may add context with kw_error_wrap()
 * so the final text reads outermost-first ("loading 'm.gguf': tensor 'x': ...").
 */
#include "base/base.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KW_ERROR_CAP 1024

static _Thread_local char last_error[KW_ERROR_CAP];

const char *kw_last_error(void) { return last_error; }

void kw_error_clear(void) { last_error[0] = 0; }

kw_status kw_error(kw_status status, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    return status;
}

kw_status kw_error_wrap(kw_status status, const char *fmt, ...) {
    char prefix[512], old[KW_ERROR_CAP];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, last_error, sizeof old);
    size_t n = strlen(prefix);
    if (n > sizeof last_error - 3) n = sizeof last_error - 3;
    memcpy(last_error, prefix, n);
    memcpy(last_error + n, ": ", 2);
    size_t rest = sizeof last_error - n - 3;
    size_t m = strnlen(old, rest);
    memcpy(last_error + n + 2, old, m);
    last_error[n + 2 + m] = 0;
    return status;
}

const char *kw_status_str(kw_status status) {
    switch (status) {
    case KW_OK: return "ok";
    case KW_ERR_IO: return "i/o error";
    case KW_ERR_FORMAT: return "format error";
    case KW_ERR_UNSUPPORTED: return "unsupported";
    case KW_ERR_INVALID_ARG: return "invalid argument";
    case KW_ERR_NOMEM: return "out of memory";
    case KW_ERR_CONTEXT_FULL: return "context full";
    case KW_ERR_BUFFER_SMALL: return "buffer too small";
    case KW_ERR_INTERNAL: return "internal error";
    }
    return "unknown status";
}

void kw_log(int level, const char *fmt, ...) {
    static int threshold = -1;
    if (threshold < 0) {
        const char *e = getenv("KAIWU_LOG");
        threshold = e ? atoi(e) : 0;
    }
    if (level > threshold) return;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
}
