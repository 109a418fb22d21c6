/* fuzz_util.h - helpers shared by the fuzz targets (tests/fuzz/fuzz_*.c; docs/testing.md).
 * The readers under test take a path (they mmap or stream the file), so an input is written to
 * a per-process scratch file first: /dev/shm when present (no disk I/O), else /tmp. */
#ifndef KAIWU_FUZZ_UTIL_H
#define KAIWU_FUZZ_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <unistd.h>

/* Writes data to a scratch file named after tag and the process id; fills path (cap bytes).
 * Returns 0 on success, -1 when the file could not be written (the input is then skipped). */
static inline int fuzz_write_file(const char *tag, const uint8_t *data, size_t size, char *path,
                                  size_t cap) {
    const char *dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(path, cap, "%s/kaiwu-fuzz-%s-%d", dir, tag, (int)getpid());
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t n = size ? fwrite(data, 1, size, f) : 0;
    int bad = fclose(f) != 0 || n != size;
    if (bad) unlink(path);
    return bad ? -1 : 0;
}

#endif
