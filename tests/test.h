/* test.h - the tiny test framework every kaiwu test binary uses.
 *
 * Each check is a sentence: CHECK(cond, "what should hold, with %d numbers", ...). A failing check
 * prints file:line and the message; the binary keeps going so one run shows every failure. A test
 * binary ends with test_report(), which prints "N passed, N failed" (the runner sums those lines)
 * and returns the exit status.
 *
 * Test data lives under tests/data (copied from ../shared with provenance, see its README); tests
 * find it through test_data_path(), which honours KAIWU_TEST_DATA for out-of-tree runs.
 */
#ifndef KAIWU_TEST_H
#define KAIWU_TEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

extern int test_n_passed;
extern int test_n_failed;

void test_fail_at(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Counts one check; prints the message only when it fails. */
#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (cond)                                                                                  \
            test_n_passed++;                                                                       \
        else                                                                                       \
            test_fail_at(__FILE__, __LINE__, __VA_ARGS__);                                         \
    } while (0)

/* Runs one named test function and says so on stderr when KAIWU_TEST_VERBOSE is set. */
#define RUN_TEST(fn) test_run_named(#fn, fn)
void test_run_named(const char *name, void (*fn)(void));

/* Prints "N passed, N failed" for this binary; returns 0 when nothing failed, 1 otherwise. */
int test_report(void);

/* Path of a file under tests/data (static buffer; valid until the next call). */
const char *test_data_path(const char *rel);

/* Reads a whole file into a malloc'd, NUL-terminated buffer (caller frees); NULL on error. */
char *test_read_file(const char *path, size_t *len_out);

/* A growing byte buffer for crafting raw GGUF bytes (little-endian, as the format is). Free .p
 * when done. Exits the test binary on out-of-memory. */
typedef struct test_bytes {
    uint8_t *p;
    size_t n, cap;
} test_bytes;
void tb_put(test_bytes *b, const void *p, size_t n);
void tb_u8(test_bytes *b, uint8_t v);
void tb_u32(test_bytes *b, uint32_t v);
void tb_u64(test_bytes *b, uint64_t v);
void tb_str(test_bytes *b, const char *s);                  /* GGUF string: u64 length + bytes */
void tb_key(test_bytes *b, const char *key, uint32_t type); /* metadata key + value type */

#endif
