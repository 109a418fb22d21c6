/* test_iquant_quantize.c - the i-quant quantizers (IQ4_NL, IQ4_XS, IQ3_S, IQ2_XS): round-trip
 * error on gaussian and on heavy-tailed data with outlier columns below stated bounds and ordered
 * by bits, the importance matrix lowering the error it weights, zero / tiny / huge blocks,
 * determinism, and that IQ4_NL beats Q4_0 at the same size.
 *
 * Bounds are RMSE / sigma of the data. Measured (2026-12-02, 64 x 1024 values): gaussian IQ4_NL
 * 0.0755, IQ4_XS 0.076, IQ3_S 0.157 (0.131 with the importance weights), IQ2_XS 0.290; libggml's
 * quantizers on the same data give the same for IQ4 and 3-5 % more weighted error for IQ3_S /
 * IQ2_XS (tests/ggml-ref/iq_quant_compare.c).
 */
#include "../test.h"
#include "gguf/gguf.h"
#include "tensor/quants.h"
#include "tensor/quants_i.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { ROWS = 32, COLS = 1024, N = ROWS * COLS };

static uint64_t g_rng = 0x9E3779B97F4A7C15ull;
static double uniform(void) {
    g_rng ^= g_rng << 13, g_rng ^= g_rng >> 7, g_rng ^= g_rng << 17;
    return ((double)(g_rng >> 11) + 0.5) / 9007199254740992.0;
}
static double gauss(void) { return sqrt(-2 * log(uniform())) * cos(6.283185307179586 * uniform()); }

static float g_x[N], g_y[N], g_im[COLS];
static uint8_t g_q[N * 2], g_q2[N * 2];

static void make_data(bool heavy, float sigma) {
    for (int c = 0; c < COLS; c++)
        g_im[c] = (float)(heavy ? exp(1.5 * gauss()) : 1.0 + 0.5 * uniform());
    for (int i = 0; i < N; i++) {
        double v = gauss();
        if (heavy) v *= 1.0 / sqrt(-log(uniform()) + 0.05) * (i % COLS % 97 == 0 ? 4 : 1);
        g_x[i] = (float)(sigma * v);
    }
}

/* Quantizes g_x to type (imatrix im or NULL) into g_q, dequantizes into g_y; returns the RMSE
 * and, in *wrmse, the error weighted by g_im (sqrt of the mean weighted square). */
static double round_trip(uint32_t type, const float *im, double *wrmse) {
    const uint64_t rb = ggml_row_bytes(type, COLS);
    CHECK(quant_iquant_prepare(type) == KW_OK, "tables for %s", ggml_type_get(type)->name);
    for (int r = 0; r < ROWS; r++) {
        const size_t n = quant_quantize_row(type, g_x + r * COLS, g_q + r * rb, COLS, im);
        CHECK(n == rb, "%s: a row is %zu bytes (want %llu)", ggml_type_get(type)->name, n,
              (unsigned long long)rb);
        quant_dequantize_row(type, g_q + r * rb, g_y + r * COLS, COLS);
    }
    double se = 0, wse = 0, ws = 0;
    for (int i = 0; i < N; i++) {
        const double d = (double)g_x[i] - g_y[i];
        se += d * d, wse += g_im[i % COLS] * d * d, ws += g_im[i % COLS];
    }
    if (wrmse) *wrmse = sqrt(wse / ws * COLS / N);
    return sqrt(se / N);
}

/* ---------------------------------------------------------------- tests */

static void test_iq_quantize_gaussian_bounds_and_order(void) {
    const float sigma = 0.02f;
    make_data(false, sigma);
    struct {
        uint32_t type;
        double bound; /* RMSE / sigma */
    } c[] = {{GGML_TYPE_IQ4_NL, 0.080},
             {GGML_TYPE_IQ4_XS, 0.080},
             {GGML_TYPE_IQ3_S, 0.140},
             {GGML_TYPE_IQ2_XS, 0.310}};
    double r[4];
    for (int k = 0; k < 4; k++) {
        r[k] = round_trip(c[k].type, g_im, NULL) / sigma;
        printf("gaussian %-6s RMSE/sigma %.4f (bound %.3f)\n", ggml_type_get(c[k].type)->name, r[k],
               c[k].bound);
        CHECK(r[k] < c[k].bound, "%s: RMSE/sigma %.4f < %.3f", ggml_type_get(c[k].type)->name, r[k],
              c[k].bound);
    }
    CHECK(r[1] < r[2] && r[2] < r[3], "IQ4_XS (%.4f) < IQ3_S (%.4f) < IQ2_XS (%.4f)", r[1], r[2],
          r[3]);
    const double r3_plain = round_trip(GGML_TYPE_IQ3_S, NULL, NULL) / sigma;
    CHECK(r3_plain < 0.170, "IQ3_S without importance weights: RMSE/sigma %.4f < 0.170", r3_plain);
    /* same bits as Q4_0 (4.5 per value): the non-linear levels must do better on gaussian data */
    const double r_q40 = round_trip(GGML_TYPE_Q4_0, NULL, NULL) / sigma;
    const double r_nl = round_trip(GGML_TYPE_IQ4_NL, NULL, NULL) / sigma;
    CHECK(r_nl < r_q40, "IQ4_NL (%.4f) beats Q4_0 (%.4f) at the same size", r_nl, r_q40);
}

static void test_iq_quantize_heavy_tails_and_imatrix(void) {
    const float sigma = 0.02f;
    make_data(true, sigma);
    const uint32_t types[] = {GGML_TYPE_IQ4_NL, GGML_TYPE_IQ4_XS, GGML_TYPE_IQ3_S,
                              GGML_TYPE_IQ2_XS};
    const double bound[] = {0.20, 0.20, 0.40, 0.75}; /* RMSE / sigma; measured 0.17 .. 0.65 */
    double wr_im[4];
    for (int k = 0; k < 4; k++) {
        const char *name = ggml_type_get(types[k])->name;
        double wr_plain, r_im = round_trip(types[k], g_im, &wr_im[k]) / sigma;
        round_trip(types[k], NULL, &wr_plain);
        printf("heavy-tailed %-6s RMSE/sigma %.4f, weighted error %.6g with the imatrix, %.6g "
               "without\n",
               name, r_im, wr_im[k], wr_plain);
        CHECK(r_im < bound[k], "%s heavy-tailed: RMSE/sigma %.4f < %.2f", name, r_im, bound[k]);
        /* IQ2_XS without one means uniform importance: still worse on the weighted error */
        CHECK(wr_im[k] < wr_plain * 0.97,
              "%s: the importance matrix lowers the weighted error by > 3%% (%.6g vs %.6g)", name,
              wr_im[k], wr_plain);
    }
    CHECK(wr_im[1] < wr_im[2] && wr_im[2] < wr_im[3],
          "weighted error IQ4_XS (%.6g) < IQ3_S (%.6g) < IQ2_XS (%.6g)", wr_im[1], wr_im[2],
          wr_im[3]);
}

static void test_iq_quantize_special_blocks(void) {
    const uint32_t types[] = {GGML_TYPE_IQ4_NL, GGML_TYPE_IQ4_XS, GGML_TYPE_IQ3_S,
                              GGML_TYPE_IQ2_XS};
    static const float scales[] = {0.0f, 1e-30f, 1e-3f, 3e4f};
    for (int k = 0; k < 4; k++) {
        const char *name = ggml_type_get(types[k])->name;
        for (int s = 0; s < 4; s++) {
            for (int i = 0; i < N; i++)
                g_x[i] = scales[s] * (float)gauss();
            round_trip(types[k], g_im, NULL);
            bool finite = true, zero = true;
            double se = 0, ss = 0;
            for (int i = 0; i < N; i++) {
                finite &= isfinite(g_y[i]);
                zero &= g_y[i] == 0.0f;
                se += ((double)g_x[i] - g_y[i]) * ((double)g_x[i] - g_y[i]);
                ss += (double)g_x[i] * g_x[i];
            }
            CHECK(finite, "%s at scale %g: every value decodes finite", name, scales[s]);
            if (scales[s] < 1e-20f)
                CHECK(zero, "%s at scale %g: decodes to zeros", name, scales[s]);
            else /* values within f16 range keep their relative error */
                CHECK(sqrt(se / ss) < 0.7, "%s at scale %g: relative RMSE %.3f < 0.7", name,
                      scales[s], sqrt(se / ss));
        }
    }
}

static void test_iq_quantize_deterministic(void) {
    make_data(true, 0.05f);
    const uint32_t types[] = {GGML_TYPE_IQ4_NL, GGML_TYPE_IQ4_XS, GGML_TYPE_IQ3_S,
                              GGML_TYPE_IQ2_XS};
    for (int k = 0; k < 4; k++) {
        const uint64_t bytes = ggml_row_bytes(types[k], COLS) * ROWS;
        round_trip(types[k], g_im, NULL);
        memcpy(g_q2, g_q, bytes);
        round_trip(types[k], g_im, NULL);
        CHECK(memcmp(g_q, g_q2, bytes) == 0, "%s: the same input gives the same bytes",
              ggml_type_get(types[k])->name);
    }
    CHECK(quant_type_can_quantize(GGML_TYPE_IQ4_XS) && !quant_type_can_quantize(GGML_TYPE_IQ1_S),
          "IQ4_XS is quantizable, IQ1_S is not");
    CHECK(quant_iquant_needs_imatrix(GGML_TYPE_IQ2_XS) &&
              !quant_iquant_needs_imatrix(GGML_TYPE_IQ3_S),
          "IQ2_XS needs an importance matrix, IQ3_S does not (as llama.cpp)");
}

int main(void) {
    RUN_TEST(test_iq_quantize_gaussian_bounds_and_order);
    RUN_TEST(test_iq_quantize_heavy_tails_and_imatrix);
    RUN_TEST(test_iq_quantize_special_blocks);
    RUN_TEST(test_iq_quantize_deterministic);
    return test_report();
}
