/* test_quants.c - the storage types against ggml: dequantization bit for bit, the simple
 * quantizers byte for byte, the k-quant quantizers by RMSE, the whole quant-base model against
 * llama-quantize's files, and the integer dot products against the float reference.
 *
 * Data: tests/data/golden/dequant-reference.json (format in tests/data/golden/README.md) and
 * tests/data/models/quant-*.gguf (tests/data/models/README.md).
 */
#include "../test.h"
#include "gguf/gguf.h"
#include "tensor/blocks.h"
#include "tensor/quants.h"

#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static json_t *g_ref; /* dequant-reference.json */

/* ---------------------------------------------------------------- helpers */

/* Decodes a hex string into a malloc'd buffer; *n_out = bytes. NULL on malformed input. */
static uint8_t *hex_decode(const char *hex, size_t *n_out) {
    size_t len = strlen(hex);
    if (len % 2) return NULL;
    uint8_t *out = malloc(len / 2 + 1);
    for (size_t i = 0; i < len / 2; i++) {
        unsigned v;
        if (sscanf(hex + 2 * i, "%2x", &v) != 1) {
            free(out);
            return NULL;
        }
        out[i] = (uint8_t)v;
    }
    *n_out = len / 2;
    return out;
}

static uint32_t type_by_name(const char *name) {
    for (uint32_t t = 0; t < GGML_TYPE_COUNT; t++) {
        const ggml_type_traits *tr = ggml_type_get(t);
        if (tr->name && strcmp(tr->name, name) == 0) return t;
    }
    return GGML_TYPE_COUNT;
}

static uint32_t f32_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

/* The 4 float rows of quant_input (n_rows * n_per_row floats, malloc'd). */
static float *load_quant_input(int *n_rows, int *n_per_row) {
    json_t *qi = json_object_get(g_ref, "quant_input");
    *n_rows = (int)json_integer_value(json_object_get(qi, "n_rows"));
    *n_per_row = (int)json_integer_value(json_object_get(qi, "n_per_row"));
    json_t *rows = json_object_get(qi, "rows_f32_hex");
    float *x = malloc(sizeof(float) * (size_t)(*n_rows) * (size_t)(*n_per_row));
    for (int r = 0; r < *n_rows; r++) {
        size_t nb = 0;
        uint8_t *b = hex_decode(json_string_value(json_array_get(rows, (size_t)r)), &nb);
        CHECK(b && nb == sizeof(float) * (size_t)*n_per_row, "quant_input row %d has %zu bytes", r,
              nb);
        if (b && nb == sizeof(float) * (size_t)*n_per_row)
            memcpy(x + (size_t)r * (size_t)*n_per_row, b, nb);
        free(b);
    }
    return x;
}

static double rmse(const float *a, const float *b, int64_t n) {
    double s = 0.0;
    for (int64_t i = 0; i < n; i++) {
        double d = (double)a[i] - (double)b[i];
        s += d * d;
    }
    return sqrt(s / (double)n);
}

/* ---------------------------------------------------------------- dequantization */

static void test_dequant_matches_ggml_bit_for_bit(void) {
    json_t *deq = json_object_get(g_ref, "dequant");
    CHECK(json_object_size(deq) == 13, "dequant-reference.json covers 13 types (has %zu)",
          json_object_size(deq));
    const char *name;
    json_t *entry;
    json_object_foreach(deq, name, entry) {
        const uint32_t type = type_by_name(name);
        CHECK(type != GGML_TYPE_COUNT, "type %s is known", name);
        if (type == GGML_TYPE_COUNT) continue;
        const ggml_type_traits *tr = ggml_type_get(type);
        CHECK(json_integer_value(json_object_get(entry, "block_bytes")) == tr->type_size,
              "%s block size %u matches the json", name, tr->type_size);
        json_t *blocks = json_object_get(entry, "blocks");
        for (size_t b = 0; b < json_array_size(blocks); b++) {
            json_t *blk = json_array_get(blocks, b);
            size_t n_raw = 0, n_want = 0;
            uint8_t *raw = hex_decode(json_string_value(json_object_get(blk, "hex")), &n_raw);
            uint8_t *want =
                hex_decode(json_string_value(json_object_get(blk, "values_f32_hex")), &n_want);
            const int64_t n = (int64_t)(n_raw / tr->type_size) * tr->block_size;
            CHECK(raw && want && (size_t)n * 4 == n_want,
                  "%s block %zu: %zu raw bytes decode to %zu bytes of floats", name, b, n_raw,
                  n_want);
            if (raw && want && (size_t)n * 4 == n_want) {
                float *got = malloc(sizeof(float) * (size_t)n);
                quant_dequantize_row(type, raw, got, n);
                int n_bad = 0;
                for (int64_t i = 0; i < n; i++) {
                    float w;
                    memcpy(&w, want + 4 * i, 4);
                    if (f32_bits(got[i]) != f32_bits(w) && n_bad++ < 3)
                        CHECK(false,
                              "%s block %zu value %lld: got %.9g (0x%08x), ggml %.9g (0x%08x)",
                              name, b, (long long)i, got[i], f32_bits(got[i]), w, f32_bits(w));
                }
                CHECK(n_bad == 0, "%s block %zu: all %lld values bit-identical (%d differ)", name,
                      b, (long long)n, n_bad);
                free(got);
            }
            free(raw);
            free(want);
        }
    }
}

/* ---------------------------------------------------------------- quantization of the json rows */

static void test_simple_quantizers_match_ggml_byte_for_byte(void) {
    static const char *types[] = {"F16",  "BF16", "Q8_0", "Q4_0", "Q4_1",
                                  "Q5_0", "Q5_1", "Q8_1", "Q8_K"};
    int n_rows, n_per_row;
    float *x = load_quant_input(&n_rows, &n_per_row);
    json_t *quant = json_object_get(g_ref, "quant");
    for (size_t t = 0; t < sizeof types / sizeof types[0]; t++) {
        const uint32_t type = type_by_name(types[t]);
        json_t *rows = json_object_get(json_object_get(quant, types[t]), "reference_rows_hex");
        CHECK(json_array_size(rows) == (size_t)n_rows, "%s has %d reference rows", types[t],
              n_rows);
        const size_t row_bytes = (size_t)ggml_row_bytes(type, n_per_row);
        uint8_t *got = calloc(1, row_bytes);
        for (int r = 0; r < n_rows && r < (int)json_array_size(rows); r++) {
            size_t nb = 0;
            uint8_t *want = hex_decode(json_string_value(json_array_get(rows, (size_t)r)), &nb);
            const size_t written =
                quant_quantize_row(type, x + (size_t)r * n_per_row, got, n_per_row, NULL);
            CHECK(written == row_bytes && nb == row_bytes, "%s row %d: wrote %zu bytes, ggml %zu",
                  types[t], r, written, nb);
            if (want && nb == row_bytes) {
                size_t first = row_bytes;
                for (size_t i = 0; i < row_bytes && first == row_bytes; i++)
                    if (got[i] != want[i]) first = i;
                const size_t bsz = ggml_type_get(type)->type_size;
                CHECK(first == row_bytes, "%s row %d: byte %zu (block %zu) is 0x%02x, ggml 0x%02x",
                      types[t], r, first, first / bsz, first < row_bytes ? got[first] : 0,
                      first < row_bytes ? want[first] : 0);
            }
            free(want);
        }
        free(got);
    }
    free(x);
}

/* K-quants search scales in float; ggml's exact bytes are the goal, the RMSE bound the contract. */
static void test_kquant_rmse_within_2pct_of_ggml(void) {
    static const char *types[] = {"Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K"};
    int n_rows, n_per_row;
    float *x = load_quant_input(&n_rows, &n_per_row);
    json_t *quant = json_object_get(g_ref, "quant");
    float *deq = malloc(sizeof(float) * (size_t)n_per_row);
    for (size_t t = 0; t < sizeof types / sizeof types[0]; t++) {
        const uint32_t type = type_by_name(types[t]);
        json_t *rows = json_object_get(json_object_get(quant, types[t]), "reference_rows_hex");
        const size_t row_bytes = (size_t)ggml_row_bytes(type, n_per_row);
        uint8_t *got = calloc(1, row_bytes);
        int n_identical = 0;
        for (int r = 0; r < n_rows; r++) {
            const float *xr = x + (size_t)r * n_per_row;
            size_t nb = 0;
            uint8_t *want = hex_decode(json_string_value(json_array_get(rows, (size_t)r)), &nb);
            quant_quantize_row(type, xr, got, n_per_row, NULL);
            CHECK(want && nb == row_bytes, "%s row %d: reference has %zu bytes", types[t], r, nb);
            if (!want || nb != row_bytes) {
                free(want);
                continue;
            }
            quant_dequantize_row(type, got, deq, n_per_row);
            const double e_got = rmse(deq, xr, n_per_row);
            quant_dequantize_row(type, want, deq, n_per_row);
            const double e_ref = rmse(deq, xr, n_per_row);
            CHECK(e_got <= e_ref * 1.02 + 1e-30, "%s row %d: RMSE %.6g within 2%% of ggml's %.6g",
                  types[t], r, e_got, e_ref);
            n_identical += memcmp(got, want, row_bytes) == 0;
            free(want);
        }
        if (getenv("KAIWU_TEST_VERBOSE"))
            fprintf(stderr, "   %s: %d of %d rows byte-identical to ggml\n", types[t], n_identical,
                    n_rows);
        free(got);
    }
    free(deq);
    free(x);
}

/* ---------------------------------------------------------------- the quant-base model */

static const gguf_tensor *find_tensor(const kw_gguf *g, const char *name) {
    for (int64_t i = 0; i < g->n_tensors; i++)
        if (strcmp(g->tensors[i].name, name) == 0) return &g->tensors[i];
    return NULL;
}

/* Per-tensor RMSE llama-quantize reached, from quant-rmse.json (NAN when missing). */
static double json_ref_rmse(json_t *rmse_json, const char *type_lc, const char *tensor) {
    json_t *t =
        json_object_get(json_object_get(json_object_get(rmse_json, type_lc), "per_tensor"), tensor);
    return t ? json_number_value(json_object_get(t, "rmse")) : NAN;
}

/* Issue 6's acceptance: quantizing every 2-D F16 tensor row by row reproduces llama-quantize's
 * files (byte for byte for the simple types, within 2% RMSE per tensor for the k-quants).
 * The whole model takes about 1 s (2 s under ASan), so every row of every tensor is used. */
static void test_model_quantization_matches_llama_quantize(void) {
    static const char *types[] = {"Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1",
                                  "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K"};
    kw_gguf *base = NULL;
    CHECK(kw_gguf_open(test_data_path("models/quant-base-f16.gguf"), &base) == KW_OK,
          "quant-base-f16.gguf opens");
    json_error_t jerr;
    json_t *rmse_json = json_load_file(test_data_path("models/quant-rmse.json"), 0, &jerr);
    CHECK(rmse_json != NULL, "quant-rmse.json parses (%s)", jerr.text);
    if (!base || !rmse_json) {
        kw_gguf_close(base);
        json_decref(rmse_json);
        return;
    }
    for (size_t t = 0; t < sizeof types / sizeof types[0]; t++) {
        const uint32_t type = type_by_name(types[t]);
        const bool exact = type <= GGML_TYPE_Q8_0;
        char lc[8], path[64];
        for (size_t k = 0; k <= strlen(types[t]); k++)
            lc[k] =
                (char)(types[t][k] >= 'A' && types[t][k] <= 'Z' ? types[t][k] + 32 : types[t][k]);
        snprintf(path, sizeof path, "models/quant-%s.gguf", lc);
        kw_gguf *ref = NULL;
        CHECK(kw_gguf_open(test_data_path(path), &ref) == KW_OK, "%s opens", path);
        if (!ref) continue;
        int n_tensors = 0;
        for (int64_t ti = 0; ti < base->n_tensors; ti++) {
            const gguf_tensor *src = &base->tensors[ti];
            if (src->n_dims != 2 || src->type != GGML_TYPE_F16) continue;
            const gguf_tensor *dst = find_tensor(ref, src->name);
            CHECK(dst && dst->type == type && dst->ne[0] == src->ne[0] && dst->ne[1] == src->ne[1],
                  "%s: %s is a %s tensor of the same shape", path, src->name, types[t]);
            if (!dst || dst->type != type) continue;
            n_tensors++;
            const int64_t ne0 = src->ne[0], ne1 = src->ne[1];
            const size_t row_bytes = (size_t)ggml_row_bytes(type, ne0);
            float *xrow = malloc(sizeof(float) * (size_t)ne0),
                  *deq = malloc(sizeof(float) * (size_t)ne0);
            uint8_t *q = malloc(row_bytes);
            int64_t first_bad_row = -1, n_rows_identical = 0, n_rows = 0;
            double se_got = 0.0, se_ref = 0.0;
            int64_t n_vals = 0;
            for (int64_t r = 0; r < ne1; r++) {
                quant_dequantize_row(GGML_TYPE_F16,
                                     (const uint8_t *)src->data + (size_t)r * (size_t)ne0 * 2, xrow,
                                     ne0);
                quant_quantize_row(type, xrow, q, ne0, NULL);
                const uint8_t *want = (const uint8_t *)dst->data + (size_t)r * row_bytes;
                n_rows++;
                n_rows_identical += memcmp(q, want, row_bytes) == 0;
                if (exact) {
                    if (first_bad_row < 0 && memcmp(q, want, row_bytes) != 0) first_bad_row = r;
                    continue;
                }
                quant_dequantize_row(type, q, deq, ne0);
                const double e1 = rmse(deq, xrow, ne0);
                quant_dequantize_row(type, want, deq, ne0);
                const double e2 = rmse(deq, xrow, ne0);
                se_got += e1 * e1 * (double)ne0;
                se_ref += e2 * e2 * (double)ne0;
                n_vals += ne0;
            }
            if (exact) {
                CHECK(first_bad_row < 0,
                      "%s %s: every row byte-identical to llama-quantize (row %lld differs)",
                      types[t], src->name, (long long)first_bad_row);
            } else {
                const double e_got = sqrt(se_got / (double)n_vals),
                             e_ref = sqrt(se_ref / (double)n_vals);
                CHECK(e_got <= 1.02 * e_ref, "%s %s: RMSE %.5g within 2%% of llama-quantize's %.5g",
                      types[t], src->name, e_got, e_ref);
                /* our dequantization of their bytes gives the RMSE published with the files */
                const double published = json_ref_rmse(rmse_json, lc, src->name);
                CHECK(fabs(e_ref - published) <= 1e-4 * published,
                      "%s %s: reference RMSE %.7g equals quant-rmse.json's %.7g", types[t],
                      src->name, e_ref, published);
                if (getenv("KAIWU_TEST_VERBOSE"))
                    fprintf(stderr,
                            "   %s %-26s rmse %.5g ref %.5g (%+.3f%%), %lld of %lld rows "
                            "byte-identical\n",
                            types[t], src->name, e_got, e_ref, 100.0 * (e_got / e_ref - 1.0),
                            (long long)n_rows_identical, (long long)n_rows);
            }
            free(xrow);
            free(deq);
            free(q);
        }
        CHECK(n_tensors == 16, "%s: all 16 2-D tensors compared (%d)", types[t], n_tensors);
        kw_gguf_close(ref);
    }
    json_decref(rmse_json);
    kw_gguf_close(base);
}

/* ---------------------------------------------------------------- importance matrix */

/* xorshift + Box-Muller: deterministic Gaussian-ish test data. */
static uint64_t g_rng = 0x9E3779B97F4A7C15ull;
static float rand_uniform(void) {
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return (float)((g_rng >> 11) * (1.0 / 9007199254740992.0));
}
static float rand_normal(void) {
    float u = rand_uniform(), v = rand_uniform();
    if (u < 1e-12f) u = 1e-12f;
    return sqrtf(-2.0f * logf(u)) * cosf(6.2831853f * v);
}

/* With an importance matrix that weights a quarter of the columns 100x, the error on those
 * columns must drop below what the unweighted quantizer leaves there. */
static void test_imatrix_lowers_error_where_it_weights(void) {
    static const uint32_t types[] = {GGML_TYPE_Q2_K, GGML_TYPE_Q3_K, GGML_TYPE_Q4_K, GGML_TYPE_Q5_K,
                                     GGML_TYPE_Q6_K};
    enum { N = 512, ROWS = 16 };
    float x[N], imat[N], deq[N];
    uint8_t q[N * 2];
    for (int i = 0; i < N; i++)
        imat[i] = (i % 4 == 1) ? 100.0f : 1.0f;
    for (size_t t = 0; t < sizeof types / sizeof types[0]; t++) {
        double err_plain = 0.0, err_imat = 0.0, err_plain_all = 0.0, err_imat_all = 0.0;
        for (int r = 0; r < ROWS; r++) {
            for (int i = 0; i < N; i++)
                x[i] = rand_normal() * (1.0f + (float)(r % 3));
            for (int pass = 0; pass < 2; pass++) {
                quant_quantize_row(types[t], x, q, N, pass ? imat : NULL);
                quant_dequantize_row(types[t], q, deq, N);
                for (int i = 0; i < N; i++) {
                    const double e = ((double)deq[i] - x[i]) * ((double)deq[i] - x[i]);
                    *(pass ? &err_imat_all : &err_plain_all) += e;
                    if (i % 4 == 1) *(pass ? &err_imat : &err_plain) += e;
                }
            }
        }
        CHECK(err_imat < err_plain, "%s: weighted columns' error with imatrix %.5g < without %.5g",
              ggml_type_get(types[t])->name, err_imat, err_plain);
        /* and the rest is not wrecked: total error stays within 50% of the plain quantizer */
        CHECK(err_imat_all < 1.5 * err_plain_all,
              "%s: total error with imatrix %.5g vs %.5g without", ggml_type_get(types[t])->name,
              err_imat_all, err_plain_all);
    }
}

/* ---------------------------------------------------------------- dot products */

/* quant_vec_dot_q8_ref against the float reference on random data, for every weight type.
 * Two checks per pair:
 *  1. against sum(dequant(w) * dequant(xq)) in double: the integer kernel computes exactly this
 *     sum, differing only by float rounding of the block partial sums, so the tolerance is
 *     1e-5 * sum|w||x| (n <= 1024 float additions of partial sums, each rounded to 2^-24 relative).
 *     For the Q8_1 pairings the exact value uses Q8_1's stored s = f16(d * sum q) for the min term,
 *     as the kernel does (that f16 rounding is part of the format, not an error of the kernel).
 *  2. against quant_vec_dot_f32_ref(w, x) with the unquantized activations: the difference is the
 *     activation rounding, |x - dequant(xq)| <= 0.5 d + 127 |d - f16(d)| < 0.6 d per value with
 *     d = amax(block) / 127, so |diff| <= sum_i |w_i| * 0.6 * d(block of i) + the float slop. */
static void test_vec_dot_q8_matches_float_dot(void) {
    static const uint32_t types[] = {GGML_TYPE_Q4_0, GGML_TYPE_Q4_1, GGML_TYPE_Q5_0, GGML_TYPE_Q5_1,
                                     GGML_TYPE_Q8_0, GGML_TYPE_Q2_K, GGML_TYPE_Q3_K, GGML_TYPE_Q4_K,
                                     GGML_TYPE_Q5_K, GGML_TYPE_Q6_K};
    enum { N = 1024 };
    static float w[N], x[N], wd[N], xd[N];
    static uint8_t wq[N * 2], xq[N * 2];
    for (int trial = 0; trial < 8; trial++) {
        for (int i = 0; i < N; i++) {
            w[i] = rand_normal() * 0.05f * (1.0f + (float)(i / 256));
            x[i] = rand_normal() * (trial % 2 ? 10.0f : 1.0f) + (trial % 4 == 3 ? 0.5f : 0.0f);
        }
        for (size_t t = 0; t < sizeof types / sizeof types[0]; t++) {
            const uint32_t wt = types[t], xt = quant_vec_dot_type(wt);
            const char *name = ggml_type_get(wt)->name;
            quant_quantize_row(wt, w, wq, N, NULL);
            quant_quantize_row(xt, x, xq, N, NULL);
            quant_dequantize_row(wt, wq, wd, N);
            quant_dequantize_row(xt, xq, xd, N);
            const float got = quant_vec_dot_q8_ref(wt, wq, xq, N);
            double exact = 0.0, mag = 0.0, act_bound = 0.0;
            const int xb = (int)ggml_type_get(xt)->block_size;
            for (int b = 0; b < N; b += xb) {
                float amax = 0.0f;
                for (int i = b; i < b + xb; i++)
                    amax = fmaxf(amax, fabsf(x[i]));
                for (int i = b; i < b + xb; i++) {
                    exact += (double)wd[i] * xd[i];
                    mag += fabs((double)wd[i] * xd[i]);
                    act_bound += fabs((double)wd[i]) * 0.6 * amax / 127.0;
                }
            }
            if (xt == GGML_TYPE_Q8_1) {
                /* the min term uses Q8_1's s = f16(d * sum q), not the sum of the dequantized x */
                for (int b = 0; b < N / QK8_1; b++) {
                    const block_q8_1 *xb8 = (const block_q8_1 *)xq + b;
                    const uint16_t m16 = wt == GGML_TYPE_Q4_1 ? ((const block_q4_1 *)wq)[b].m
                                                              : ((const block_q5_1 *)wq)[b].m;
                    double sum_xd = 0.0;
                    for (int i = 0; i < QK8_1; i++)
                        sum_xd += xd[b * QK8_1 + i];
                    exact += (double)kw_f16_to_f32(m16) * ((double)kw_f16_to_f32(xb8->s) - sum_xd);
                }
            }
            CHECK(fabs(got - exact) <= 1e-5 * mag,
                  "%s trial %d: integer dot %.9g vs dequantized dot %.9g (tol %.3g)", name, trial,
                  got, exact, 1e-5 * mag);
            const float ref = quant_vec_dot_f32_ref(wt, wq, x, N);
            CHECK(fabs(got - ref) <= act_bound + 2e-5 * mag,
                  "%s trial %d: integer dot %.7g vs float dot %.7g (bound %.3g)", name, trial, got,
                  ref, act_bound + 2e-5 * mag);
        }
    }
}

/* The float reference is the dequantized row dotted with x. */
static void test_vec_dot_f32_ref_is_dequantized_dot(void) {
    static const uint32_t types[] = {GGML_TYPE_F32,  GGML_TYPE_F16,  GGML_TYPE_BF16,
                                     GGML_TYPE_Q4_0, GGML_TYPE_Q5_1, GGML_TYPE_Q8_0,
                                     GGML_TYPE_Q3_K, GGML_TYPE_Q6_K};
    enum { N = 512 };
    static float w[N], x[N], wd[N];
    static uint8_t wq[N * 4];
    for (int i = 0; i < N; i++) {
        w[i] = rand_normal();
        x[i] = rand_normal();
    }
    for (size_t t = 0; t < sizeof types / sizeof types[0]; t++) {
        quant_quantize_row(types[t], w, wq, N, NULL);
        quant_dequantize_row(types[t], wq, wd, N);
        float want = 0.0f; /* same order: sequential float accumulation */
        for (int i = 0; i < N; i++)
            want += wd[i] * x[i];
        const float got = quant_vec_dot_f32_ref(types[t], wq, x, N);
        CHECK(f32_bits(got) == f32_bits(want),
              "%s: vec_dot_f32_ref %.9g equals the sequential dot %.9g",
              ggml_type_get(types[t])->name, got, want);
    }
}

/* Weights read from a file may hold inf or NaN: quantizing them must stay defined behaviour
 * (the suite runs under UBSan) and must not disturb the other blocks of the row. */
static void test_quantizers_contain_non_finite_values(void) {
    enum { N = 512 };
    static float x[N];
    static uint8_t whole[N * 4], clean[N * 4];
    for (int i = 0; i < N; i++)
        x[i] = rand_normal();
    x[3] = INFINITY;
    x[40] = NAN;
    x[100] = -INFINITY;
    for (uint32_t type = 0; type < GGML_TYPE_COUNT; type++) {
        if (!quant_type_can_quantize(type) || ggml_type_get(type)->block_size == 1) continue;
        const size_t bytes = quant_quantize_row(type, x, whole, N, NULL);
        CHECK(bytes == ggml_row_bytes(type, N), "%s: wrote a full row (%zu bytes)",
              ggml_type_get(type)->name, bytes);
        /* the second half of the row is finite: its blocks equal quantizing it alone */
        quant_quantize_row(type, x + N / 2, clean, N / 2, NULL);
        const size_t half = (size_t)ggml_row_bytes(type, N / 2);
        CHECK(memcmp(whole + half, clean, half) == 0,
              "%s: blocks after the non-finite values are unaffected", ggml_type_get(type)->name);
    }
}

/* ---------------------------------------------------------------- type properties */

static void test_type_capabilities(void) {
    static const uint32_t computable[] = {
        GGML_TYPE_F32,  GGML_TYPE_F16,  GGML_TYPE_BF16, GGML_TYPE_Q8_0, GGML_TYPE_Q4_0,
        GGML_TYPE_Q4_1, GGML_TYPE_Q5_0, GGML_TYPE_Q5_1, GGML_TYPE_Q2_K, GGML_TYPE_Q3_K,
        GGML_TYPE_Q4_K, GGML_TYPE_Q5_K, GGML_TYPE_Q6_K};
    for (size_t i = 0; i < sizeof computable / sizeof computable[0]; i++) {
        CHECK(quant_type_can_compute(computable[i]), "%s is computable",
              ggml_type_get(computable[i])->name);
        CHECK(quant_type_can_quantize(computable[i]), "%s is quantizable",
              ggml_type_get(computable[i])->name);
    }
    CHECK(!quant_type_can_compute(GGML_TYPE_Q8_K) && quant_type_can_quantize(GGML_TYPE_Q8_K),
          "Q8_K is an activation format: quantizable, not a weight type");
    CHECK(quant_type_can_compute(GGML_TYPE_IQ2_XXS) && !quant_type_can_quantize(GGML_TYPE_IQ2_XXS),
          "IQ2_XXS is computable, not quantizable (tests/unit/test_iquants.c covers the i-quants)");
    CHECK(!quant_type_can_compute(GGML_TYPE_Q8_1) && !quant_type_can_compute(GGML_TYPE_I8),
          "activation and integer types are not weight types");
    CHECK(!quant_type_can_compute(12345) && !quant_type_can_quantize(12345),
          "unknown ids are rejected");
    CHECK(quant_vec_dot_type(GGML_TYPE_Q4_1) == GGML_TYPE_Q8_1 &&
              quant_vec_dot_type(GGML_TYPE_Q5_0) == GGML_TYPE_Q8_0 &&
              quant_vec_dot_type(GGML_TYPE_Q4_K) == GGML_TYPE_Q8_K &&
              quant_vec_dot_type(GGML_TYPE_F16) == GGML_TYPE_COUNT,
          "vec_dot activation types follow ggml's pairing");
}

int main(void) {
    json_error_t err;
    g_ref = json_load_file(test_data_path("golden/dequant-reference.json"), 0, &err);
    CHECK(g_ref != NULL, "dequant-reference.json parses: %s (line %d)", err.text, err.line);
    if (!g_ref) return test_report();
    RUN_TEST(test_type_capabilities);
    RUN_TEST(test_dequant_matches_ggml_bit_for_bit);
    RUN_TEST(test_simple_quantizers_match_ggml_byte_for_byte);
    RUN_TEST(test_kquant_rmse_within_2pct_of_ggml);
    RUN_TEST(test_vec_dot_f32_ref_is_dequantized_dot);
    RUN_TEST(test_vec_dot_q8_matches_float_dot);
    RUN_TEST(test_imatrix_lowers_error_where_it_weights);
    RUN_TEST(test_quantizers_contain_non_finite_values);
    RUN_TEST(test_model_quantization_matches_llama_quantize);
    json_decref(g_ref);
    return test_report();
}
