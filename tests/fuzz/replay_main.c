/* replay_main.c - the driver `make test` links each fuzz target with (tests/fuzz/fuzz_<name>.c,
 * built with the normal compiler, also under SAN=1): feeds every file of the given files or
 * directories to LLVMFuzzerTestOneInput, one call per file, and counts each file that returns as
 * one passed test. A crash or sanitizer report ends the process, which tests/run.sh counts as a
 * failure. Without arguments, a binary named replay_<name> replays tests/fuzz/corpus/<name>
 * (relative to the working directory, the repository root under `make test`).
 *
 *   build/tests/fuzz/replay_jinja                      the committed corpus
 *   build/tests/fuzz/replay_jinja crash-1234 dir/      given inputs
 *
 * An empty or missing corpus is a failure: every target must have one. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Runs one file; returns 1 when it was read and replayed, 0 when it could not be read. */
static int replay_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "FAIL cannot open %s\n", path);
        return 0;
    }
    size_t cap = 4096, n = 0;
    uint8_t *buf = malloc(cap);
    for (;;) {
        if (!buf) break;
        n += fread(buf + n, 1, cap - n, f);
        if (n < cap) break;
        uint8_t *nb = realloc(buf, cap * 2);
        if (!nb) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = nb;
        cap *= 2;
    }
    int bad = ferror(f);
    fclose(f);
    if (!buf || bad) {
        free(buf);
        fprintf(stderr, "FAIL cannot read %s\n", path);
        return 0;
    }
    /* A copy of exactly n bytes, so that ASan sees a read past the input. */
    uint8_t *exact = malloc(n ? n : 1);
    if (!exact) {
        free(buf);
        fprintf(stderr, "FAIL out of memory for %s (%zu bytes)\n", path, n);
        return 0;
    }
    memcpy(exact, buf, n);
    free(buf);
    fprintf(stderr, "replay %s (%zu bytes)\n", path, n);
    LLVMFuzzerTestOneInput(exact, n);
    free(exact);
    return 1;
}

/* Replays a file or every regular file of a directory (sorted, not recursive). */
static void replay_path(const char *path, int *passed, int *failed) {
    struct stat st;
    if (stat(path, &st) != 0) {
        fprintf(stderr, "FAIL no such corpus: %s\n", path);
        (*failed)++;
        return;
    }
    if (!S_ISDIR(st.st_mode)) {
        if (replay_file(path))
            (*passed)++;
        else
            (*failed)++;
        return;
    }
    DIR *d = opendir(path);
    if (!d) {
        fprintf(stderr, "FAIL cannot open directory %s\n", path);
        (*failed)++;
        return;
    }
    char **names = NULL;
    size_t count = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        if (count == cap) {
            cap = cap ? cap * 2 : 64;
            char **nn = realloc(names, cap * sizeof *nn);
            if (!nn) break;
            names = nn;
        }
        size_t len = strlen(path) + strlen(e->d_name) + 2;
        char *full = malloc(len);
        if (!full) break;
        snprintf(full, len, "%s/%s", path, e->d_name);
        names[count++] = full;
    }
    closedir(d);
    if (count == 0) {
        fprintf(stderr, "FAIL empty corpus: %s\n", path);
        (*failed)++;
    }
    if (count) qsort(names, count, sizeof *names, cmp_str);
    for (size_t i = 0; i < count; i++) {
        struct stat fs;
        if (stat(names[i], &fs) == 0 && S_ISREG(fs.st_mode)) {
            if (replay_file(names[i]))
                (*passed)++;
            else
                (*failed)++;
        }
        free(names[i]);
    }
    free(names);
}

int main(int argc, char **argv) {
    int passed = 0, failed = 0;
    if (argc > 1) {
        for (int i = 1; i < argc; i++)
            replay_path(argv[i], &passed, &failed);
    } else {
        const char *base = strrchr(argv[0], '/');
        base = base ? base + 1 : argv[0];
        if (strncmp(base, "replay_", 7) != 0) {
            fprintf(stderr, "usage: %s FILE_OR_DIR...\n", argv[0]);
            return 2;
        }
        char dir[512];
        snprintf(dir, sizeof dir, "tests/fuzz/corpus/%s", base + 7);
        replay_path(dir, &passed, &failed);
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
