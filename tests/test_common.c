/* test_common.c - counters and helpers behind tests/test.h. */
#include "test.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

int test_n_passed;
int test_n_failed;

void test_fail_at(const char *file, int line, const char *fmt, ...) {
    va_list ap;
    test_n_failed++;
    fprintf(stdout, "FAIL %s:%d: ", file, line);
    va_start(ap, fmt);
    vfprintf(stdout, fmt, ap);
    va_end(ap);
    fputc('\n', stdout);
    fflush(stdout);
}

void test_run_named(const char *name, void (*fn)(void)) {
    int failed_before = test_n_failed;
    if (getenv("KAIWU_TEST_VERBOSE")) fprintf(stderr, "-- %s\n", name);
    fn();
    if (test_n_failed != failed_before) fprintf(stdout, "  in %s\n", name);
}

int test_report(void) {
    printf("%d passed, %d failed\n", test_n_passed, test_n_failed);
    return test_n_failed ? 1 : 0;
}

const char *test_data_path(const char *rel) {
    static char buf[4096];
    const char *root = getenv("KAIWU_TEST_DATA");
    snprintf(buf, sizeof buf, "%s/%s", root ? root : "tests/data", rel);
    return buf;
}

char *test_read_file(const char *path, size_t *len_out) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    if (fseek(f, 0, SEEK_END) != 0) {
        fclose(f);
        return NULL;
    }
    long n = ftell(f);
    if (n < 0 || fseek(f, 0, SEEK_SET) != 0) {
        fclose(f);
        return NULL;
    }
    char *buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (!buf) return NULL;
    buf[n] = 0;
    if (len_out) *len_out = (size_t)n;
    return buf;
}

void tb_put(test_bytes *b, const void *p, size_t n) {
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 256;
        b->p = realloc(b->p, b->cap);
        if (!b->p) {
            fprintf(stderr, "test: out of memory growing a byte buffer to %zu bytes\n", b->cap);
            exit(1);
        }
    }
    if (n) memcpy(b->p + b->n, p, n);
    b->n += n;
}
void tb_u8(test_bytes *b, uint8_t v) { tb_put(b, &v, 1); }
void tb_u32(test_bytes *b, uint32_t v) { tb_put(b, &v, 4); }
void tb_u64(test_bytes *b, uint64_t v) { tb_put(b, &v, 8); }
void tb_str(test_bytes *b, const char *s) {
    tb_u64(b, strlen(s));
    tb_put(b, s, strlen(s));
}
void tb_key(test_bytes *b, const char *key, uint32_t type) {
    tb_str(b, key);
    tb_u32(b, type);
}
