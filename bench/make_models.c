/* make_models.c - writes the benchmark models (random weights, real shapes; see bench_model.c for
 * the shapes, the storage-type mix and how values are drawn) into bench/models/, skipping files
 * that exist.
 *
 *   build/bench/make_models [-o DIR] [-s 0.5B,1B] [-q q4_0,q4_k_m,q8_0] [--force] [--seed N]
 *
 * Relies on: bench_model.c (compiled in), libkaiwu.a. Must not: run as part of `make test`.
 */
#include "bench_model.c"

#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>

static void usage(FILE *f) {
    fprintf(f, "usage: make_models [-o DIR] [-s SHAPES] [-q TYPES] [--force] [--seed N]\n"
               "  -o DIR     output directory (default bench/models)\n"
               "  -s SHAPES  comma-separated shape names (default 0.5B,1B); known:");
    for (int i = 0; i < BENCH_N_SHAPES; i++) fprintf(f, " %s", bench_shapes[i].name);
    fprintf(f, "\n  -q TYPES   comma-separated storage types (default q4_0,q4_k_m,q8_0); known:");
    for (int i = 0; i < BENCH_N_FTYPES; i++) fprintf(f, " %s", bench_ftype_names[i]);
    fprintf(f, "\n  --force    rewrite files that exist\n  --seed N   random seed (default 1)\n");
}

int main(int argc, char **argv) {
    const char *dir = "bench/models", *shapes = "0.5B,1B", *types = "q4_0,q4_k_m,q8_0";
    bool force = false;
    uint64_t seed = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool has_val = i + 1 < argc;
        if (strcmp(a, "-o") == 0 && has_val) dir = argv[++i];
        else if (strcmp(a, "-s") == 0 && has_val) shapes = argv[++i];
        else if (strcmp(a, "-q") == 0 && has_val) types = argv[++i];
        else if (strcmp(a, "--seed") == 0 && has_val) seed = strtoull(argv[++i], NULL, 10);
        else if (strcmp(a, "--force") == 0) force = true;
        else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "make_models: unknown or incomplete option '%s'\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "make_models: cannot create '%s': %s\n", dir, strerror(errno));
        return 1;
    }
    char sbuf[256], tbuf[256];
    snprintf(sbuf, sizeof sbuf, "%s", shapes);
    for (char *sp = NULL, *sn = strtok_r(sbuf, ",", &sp); sn; sn = strtok_r(NULL, ",", &sp)) {
        const bench_shape *s = bench_shape_find(sn);
        if (!s) {
            fprintf(stderr, "make_models: unknown shape '%s'\n", sn);
            return 2;
        }
        snprintf(tbuf, sizeof tbuf, "%s", types);
        for (char *tp = NULL, *tn = strtok_r(tbuf, ",", &tp); tn; tn = strtok_r(NULL, ",", &tp)) {
            int ft = bench_ftype_find(tn);
            if (ft < 0) {
                fprintf(stderr, "make_models: unknown type '%s'\n", tn);
                return 2;
            }
            char path[1024];
            snprintf(path, sizeof path, "%s/%s-%s.gguf", dir, s->stem, bench_ftype_names[ft]);
            if (!force && access(path, F_OK) == 0) {
                fprintf(stderr, "make_models: %s exists\n", path);
                continue;
            }
            double t0 = kw_time_seconds();
            if (bench_model_write(s, (bench_ftype)ft, path, seed) != KW_OK) {
                fprintf(stderr, "make_models: %s: %s\n", path, kw_last_error());
                return 1;
            }
            struct stat stt;
            stat(path, &stt);
            fprintf(stderr, "make_models: wrote %s (%.2f GB) in %.1f s\n", path,
                    (double)stt.st_size * 1e-9, kw_time_seconds() - t0);
        }
    }
    return 0;
}
