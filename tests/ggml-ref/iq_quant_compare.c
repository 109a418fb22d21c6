/* iq_quant_compare.c - kaiwu's i-quant quantizers against libggml's (ggml_quantize_chunk, what
 * llama-quantize calls) on the same data: prints, per type and data set, the RMSE and the
 * importance-weighted RMSE of both, each dequantized by kaiwu (bit-exact with ggml's to_float),
 * and whether ggml_validate_row_data accepts kaiwu's blocks.
 *
 * Not part of make test (it needs a llama.cpp build). Build and run from the repo root:
 *   make build/libkaiwu.a
 *   cc -std=c17 -O2 -Isrc -Iinclude -I$LC/ggml/include tests/ggml-ref/iq_quant_compare.c \
 *      build/libkaiwu.a -L$LC/build/bin -lggml-base -Wl,-rpath,$LC/build/bin -lm -lpthread \
 *      -o /tmp/iqcmp && /tmp/iqcmp
 * (LC = the llama.cpp checkout, /work/ext/llama.cpp here). Uses ggml's public API only,
 * declared here because ggml.h and kaiwu's headers both define ggml_type_traits (the type ids
 * are the GGUF file's, the same in both).
 */
#include "tensor/quants.h"
#include "tensor/quants_i.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* from ggml.h (enum ggml_type passed as int) */
void ggml_quantize_init(int type);
size_t ggml_quantize_chunk(int type, const float *src, void *dst, int64_t start, int64_t nrows,
                           int64_t n_per_row, const float *imatrix);
bool ggml_validate_row_data(int type, const void *data, size_t nbytes);

enum { ROWS = 64, COLS = 1024 };

static uint64_t g_state = 88172645463325252ull;
static double uniform(void) {
    g_state ^= g_state << 13, g_state ^= g_state >> 7, g_state ^= g_state << 17;
    return ((double)(g_state >> 11) + 0.5) / 9007199254740992.0;
}
static double gauss(void) { return sqrt(-2 * log(uniform())) * cos(6.283185307179586 * uniform()); }

/* weighted and plain RMSE of y against x over rows x cols, weights per column */
static void errors(const float *x, const float *y, const float *w, double *rmse, double *wrmse) {
    double se = 0, wse = 0, ws = 0;
    for (int r = 0; r < ROWS; r++)
        for (int c = 0; c < COLS; c++) {
            const double d = (double)x[r * COLS + c] - y[r * COLS + c];
            se += d * d, wse += w[c] * d * d, ws += w[c];
        }
    *rmse = sqrt(se / (ROWS * COLS));
    *wrmse = sqrt(wse / ws * COLS / (ROWS * COLS));
}

int main(void) {
    static const char *names[] = {"iq4_nl", "iq4_xs", "iq3_s", "iq2_xs"};
    static const uint32_t types[] = {GGML_TYPE_IQ4_NL, GGML_TYPE_IQ4_XS, GGML_TYPE_IQ3_S,
                                     GGML_TYPE_IQ2_XS};
    float *x = malloc(sizeof(float) * ROWS * COLS), *y = malloc(sizeof(float) * ROWS * COLS);
    float *im = malloc(sizeof(float) * COLS);
    void *q = malloc(ROWS * COLS * 2);
    for (int set = 0; set < 2; set++) {
        /* 0: gaussian; 1: "real-shaped": student-t-like tails, a few outlier columns, and an
         * importance matrix with heavy-tailed column means (as activations have) */
        for (int c = 0; c < COLS; c++) {
            const double g = gauss();
            im[c] = (float)(set ? exp(1.5 * g) : 1.0 + 0.5 * uniform());
        }
        for (int i = 0; i < ROWS * COLS; i++) {
            double v = gauss();
            if (set) v *= 1.0 / sqrt(-log(uniform()) + 0.05) * (i % COLS % 97 == 0 ? 4 : 1);
            x[i] = (float)(0.02 * v);
        }
        printf("data set %s\n", set ? "heavy-tailed + outlier columns" : "gaussian");
        for (int k = 0; k < 4; k++) {
            for (int with_im = 0; with_im < 2; with_im++) {
                if (types[k] == GGML_TYPE_IQ2_XS && !with_im) continue; /* ggml needs one */
                const float *w = with_im ? im : NULL;
                double r[2], wr[2];
                for (int who = 0; who < 2; who++) {
                    const size_t rb = (size_t)ggml_row_bytes(types[k], COLS);
                    if (who == 0) {
                        ggml_quantize_init((int)types[k]);
                        ggml_quantize_chunk((int)types[k], x, q, 0, ROWS, COLS, w);
                    } else {
                        quant_iquant_prepare(types[k]);
                        for (int row = 0; row < ROWS; row++)
                            quant_quantize_row(types[k], x + row * COLS, (char *)q + row * rb, COLS,
                                               w);
                        /* what llama-quantize checks before writing (finite f16 scales) */
                        if (!ggml_validate_row_data((int)types[k], q, rb * ROWS))
                            printf("  %s: kaiwu's blocks FAIL ggml_validate_row_data\n", names[k]);
                    }
                    for (int row = 0; row < ROWS; row++)
                        quant_dequantize_row(types[k], (char *)q + row * rb, y + row * COLS, COLS);
                    errors(x, y, im, &r[who], &wr[who]);
                }
                printf("  %-7s %-10s ggml rmse %.6f w-rmse %.6f | kaiwu rmse %.6f w-rmse %.6f "
                       "(%+.2f%%)\n",
                       names[k], with_im ? "imatrix" : "no imatrix", r[0], wr[0], r[1], wr[1],
                       100 * (wr[1] / wr[0] - 1));
            }
        }
    }
    free(x), free(y), free(im), free(q);
    return 0;
}
