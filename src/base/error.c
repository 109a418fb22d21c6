/* error.c - the thread-local "last error" message behind kw_last_error(), and kw_log.
 *
 * One message per failure, root cause kept: every public function that can fail clears the message
 * on entry (kw_error_clear); the first kw_error of the failure sets it, and whatever is reported
 * after that on the way up - another kw_error or a kw_error_wrap - is put in front as context, so
 * the final text reads outermost first and still ends with the root cause: "quantizing 'm.gguf':
 * cannot write 'out.gguf': No space left on device". (kw_error used to overwrite the first message,
 * so a caller's summary replaced the reason.)
 */
#include "base/base.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KW_ERROR_CAP 1024

static _Thread_local char last_error[KW_ERROR_CAP];

const char *kw_last_error(void) { return last_error; }

void kw_error_clear(void) { last_error[0] = 0; }

/* last_error = prefix + ": " + last_error (cut to the buffer). */
static void prepend(const char *prefix) {
    char old[KW_ERROR_CAP];
    memcpy(old, last_error, sizeof old);
    size_t n = strlen(prefix);
    if (n > sizeof last_error - 3) n = sizeof last_error - 3;
    memcpy(last_error, prefix, n);
    memcpy(last_error + n, ": ", 2);
    size_t rest = sizeof last_error - n - 3;
    size_t m = strnlen(old, rest);
    memcpy(last_error + n + 2, old, m);
    last_error[n + 2 + m] = 0;
}

kw_status kw_error(kw_status status, const char *fmt, ...) {
    char msg[KW_ERROR_CAP];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (!last_error[0])
        memcpy(last_error, msg, sizeof msg); /* the root cause */
    else if (strcmp(msg, last_error) != 0 && !strstr(last_error, msg))
        prepend(msg); /* a summary on the way up: in front, the cause stays */
    return status;
}

kw_status kw_error_wrap(kw_status status, const char *fmt, ...) {
    char prefix[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    prepend(prefix);
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

/* The threshold is read once, whichever thread logs first (pthread_once: no data race). */
static int log_threshold;
static pthread_once_t log_once = PTHREAD_ONCE_INIT;
static void read_log_threshold(void) {
    const char *e = getenv("KAIWU_LOG");
    log_threshold = e && *e ? atoi(e) : 0;
}

int kw_log_level(void) {
    pthread_once(&log_once, read_log_threshold);
    return log_threshold;
}

void kw_log(int level, const char *fmt, ...) {
    if (level > kw_log_level()) return;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
}
