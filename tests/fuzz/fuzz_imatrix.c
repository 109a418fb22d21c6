/* fuzz_imatrix.c - libFuzzer target for the importance-matrix reader (quant_imatrix_load,
 * src/quant/imatrix.c): a GGUF file of "<weight>.in_sum2" / "<weight>.counts" tensor pairs, as
 * `kaiwu imatrix` writes it and `kaiwu quantize --imatrix` reads it. The input is the file.
 * What loads must be usable: every entry is found again by name and column count, and its
 * weights are finite and >= 0. Seeds: tests/fuzz/corpus/imatrix/ (written by kaiwu imatrix from
 * tests/bad-input/corpus/valid-base.gguf). See docs/testing.md. */
#include "fuzz_util.h"
#include "quant/quant.h"

#include <math.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char path[128];
    if (fuzz_write_file("imatrix", data, size, path, sizeof path) != 0) return 0;
    quant_imatrix im = {0};
    if (quant_imatrix_load(path, &im) == KW_OK) {
        for (int32_t i = 0; i < im.n; i++) {
            const quant_imatrix_entry *e = &im.e[i];
            const float *w = NULL;
            if (quant_imatrix_find(&im, e->name, e->n_in, &w) != KW_OK || !w) abort();
            for (int64_t j = 0; j < e->n_in; j++)
                if (!(e->weights[j] >= 0) || !isfinite(e->weights[j])) abort();
            if (e->n_in > 1 && quant_imatrix_find(&im, e->name, e->n_in - 1, &w) == KW_OK)
                abort(); /* a column count other than n_in is an error */
        }
        quant_imatrix_free(&im);
    }
    unlink(path);
    return 0;
}
