/* test_iquants.c - the i-quant, ternary and MXFP4 types (IQ4_NL, IQ4_XS, IQ3_XXS, IQ3_S, IQ2_XXS,
 * IQ2_XS, IQ2_S, IQ1_S, IQ1_M, TQ1_0, TQ2_0, MXFP4): dequantization bit for bit against libggml,
 * the codebooks' value sets, and the reference dot products (and every ISA's kernel for them)
 * against the float dot of the dequantized operands.
 *
 * Data: tests/data/iquant/dequant-ref.bin, written by tests/ggml-ref/make-ref.sh with the
 * llama.cpp build of commit d32676d (see tests/data/README.md).
 */
#include "../test.h"
#include "gguf/gguf.h"
#include "tensor/kernels/kernels.h"
#include "tensor/quants.h"
#include "tensor/quants_i.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const uint32_t k_types[] = {GGML_TYPE_IQ4_NL, GGML_TYPE_IQ4_XS,  GGML_TYPE_IQ3_XXS,
                                   GGML_TYPE_IQ3_S,  GGML_TYPE_IQ2_XXS, GGML_TYPE_IQ2_XS,
                                   GGML_TYPE_IQ2_S,  GGML_TYPE_IQ1_S,   GGML_TYPE_IQ1_M,
                                   GGML_TYPE_TQ1_0,  GGML_TYPE_TQ2_0,   GGML_TYPE_MXFP4};
#define N_TYPES (sizeof k_types / sizeof k_types[0])

static uint8_t *g_ref;
static size_t g_ref_len;

/* The reference blocks of `type` in dequant-ref.bin: *blocks, *vals (floats, unaligned copy
 * made by the caller), *nb blocks. False when the type is missing or the file is cut short. */
static bool ref_find(uint32_t type, const uint8_t **blocks, const uint8_t **vals, uint32_t *nb) {
    size_t off = 0;
    while (off + 8 <= g_ref_len) {
        uint32_t t, n;
        memcpy(&t, g_ref + off, 4);
        memcpy(&n, g_ref + off + 4, 4);
        const ggml_type_traits *tr = ggml_type_get(t);
        if (!tr->name || n > 64) return false;
        const size_t bytes = (size_t)n * tr->type_size, fl = (size_t)n * tr->block_size * 4;
        if (off + 8 + bytes + fl > g_ref_len) return false;
        if (t == type) {
            *blocks = g_ref + off + 8;
            *vals = g_ref + off + 8 + bytes;
            *nb = n;
            return true;
        }
        off += 8 + bytes + fl;
    }
    return false;
}

static void test_types_are_computable_with_ggml_pairing(void) {
    for (size_t i = 0; i < N_TYPES; i++) {
        const uint32_t t = k_types[i];
        CHECK(quant_type_can_compute(t), "%s is computable", ggml_type_get(t)->name);
        const uint32_t want =
            t == GGML_TYPE_IQ4_NL || t == GGML_TYPE_MXFP4 ? GGML_TYPE_Q8_0 : GGML_TYPE_Q8_K;
        CHECK(quant_vec_dot_type(t) == want, "%s pairs with %s activations as in ggml",
              ggml_type_get(t)->name, ggml_type_get(want)->name);
        const kernel_entry *e = kernels_get(t);
        CHECK(e->dot != NULL && e->act_type == want, "%s has a kernel (%s) over %s",
              ggml_type_get(t)->name, e->isa ? e->isa : "none", ggml_type_get(want)->name);
    }
}

static void test_dequant_matches_ggml_bit_for_bit(void) {
    for (size_t i = 0; i < N_TYPES; i++) {
        const uint32_t t = k_types[i];
        const ggml_type_traits *tr = ggml_type_get(t);
        const uint8_t *blocks, *vals;
        uint32_t nb;
        CHECK(ref_find(t, &blocks, &vals, &nb) && nb == 4, "dequant-ref.bin has 4 %s blocks",
              tr->name);
        if (!ref_find(t, &blocks, &vals, &nb)) continue;
        const int64_t n = (int64_t)nb * tr->block_size;
        float *got = malloc((size_t)n * sizeof(float)), *want = malloc((size_t)n * sizeof(float));
        memcpy(want, vals, (size_t)n * sizeof(float));
        quant_dequantize_row(t, blocks, got, n);
        int64_t bad = -1, nbad = 0;
        for (int64_t j = 0; j < n; j++) {
            uint32_t a, b;
            memcpy(&a, &got[j], 4);
            memcpy(&b, &want[j], 4);
            if (a != b) {
                if (bad < 0) bad = j;
                nbad++;
            }
        }
        CHECK(nbad == 0,
              "%s: %lld of %lld values differ from ggml's bits (first %lld: %.9g vs %.9g)",
              tr->name, (long long)nbad, (long long)n, (long long)bad, bad >= 0 ? got[bad] : 0.0,
              bad >= 0 ? want[bad] : 0.0);
        free(got);
        free(want);
    }
}

static bool bytes_in(uint64_t e, int nbytes, const int *set, int nset, bool is_signed) {
    for (int k = 0; k < nbytes; k++) {
        int v = (int)((e >> (8 * k)) & 0xFF);
        if (is_signed) v = (int8_t)v;
        bool ok = false;
        for (int s = 0; s < nset; s++)
            ok |= v == set[s];
        if (!ok) return false;
    }
    return true;
}

static void test_grids_hold_the_formats_values(void) {
    static const int v2[] = {8, 25, 43}, v1[] = {-1, 0, 1};
    static const int v3[] = {1, 3, 5, 7, 9, 11, 13, 15}, v3xxs[] = {4, 12, 20, 28, 36, 44, 52, 62};
    bool ok = true;
    for (int i = 0; i < 256; i++)
        ok &= bytes_in(quant_iq2xxs_grid[i], 8, v2, 3, false);
    for (int i = 0; i < 512; i++)
        ok &= bytes_in(quant_iq2xs_grid[i], 8, v2, 3, false);
    for (int i = 0; i < 1024; i++)
        ok &= bytes_in(quant_iq2s_grid[i], 8, v2, 3, false);
    CHECK(ok, "IQ2 grids hold only the levels 8, 25, 43");
    ok = true;
    for (int i = 0; i < 256; i++)
        ok &= bytes_in(quant_iq3xxs_grid[i], 4, v3xxs, 8, false);
    CHECK(ok, "IQ3_XXS grid holds only its 8 levels 4..62");
    ok = true;
    for (int i = 0; i < 512; i++)
        ok &= bytes_in(quant_iq3s_grid[i], 4, v3, 8, false);
    CHECK(ok, "IQ3_S grid holds only the odd levels 1..15");
    ok = true;
    for (int i = 0; i < 2048; i++)
        ok &= bytes_in(quant_iq1s_grid[i], 8, v1, 3, true);
    CHECK(ok, "IQ1_S grid holds only -1, 0, 1");
    bool distinct = true;
    for (int i = 1; i < 512; i++)
        distinct &= quant_iq2xs_grid[i] != quant_iq2xs_grid[i - 1];
    CHECK(distinct, "IQ2_XS grid entries are distinct neighbours");
}

static uint64_t g_rng = 12345;
static float frand(void) {
    g_rng = g_rng * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((double)(g_rng >> 11) / 9007199254740992.0) * 2.0f - 1.0f;
}

/* Weight rows built from the reference blocks (typical and negative scales, 2 copies each: the
 * tiny and large ones are left out so the float tolerance is meaningful), activations random. */
static void test_dot_products_match_float_dot(void) {
    kernel_entry tables[KERNEL_ISA_COUNT][GGML_TYPE_COUNT];
    bool have[KERNEL_ISA_COUNT];
    for (int isa = 0; isa < KERNEL_ISA_COUNT; isa++) {
        memset(tables[isa], 0, sizeof tables[isa]);
        have[isa] = kernels_build_table((kernel_isa)isa, tables[isa]);
    }
    for (size_t i = 0; i < N_TYPES; i++) {
        const uint32_t t = k_types[i];
        const ggml_type_traits *tr = ggml_type_get(t);
        const uint8_t *blocks, *vals;
        uint32_t nb;
        if (!ref_find(t, &blocks, &vals, &nb) || nb < 2) continue;
        const int reps = 4;
        const int64_t n = (int64_t)reps * tr->block_size;
        uint8_t *w = malloc((size_t)reps * tr->type_size);
        for (int r = 0; r < reps; r++)
            memcpy(w + (size_t)r * tr->type_size, blocks + (size_t)(r % 2) * tr->type_size,
                   tr->type_size);
        float *x = malloc((size_t)n * sizeof(float)), *wd = malloc((size_t)n * sizeof(float));
        float *xd = malloc((size_t)n * sizeof(float));
        for (int64_t j = 0; j < n; j++)
            x[j] = frand();
        const uint32_t at = quant_vec_dot_type(t);
        void *xq = malloc(kernels_act_row_bytes(at, n));
        if (at == GGML_TYPE_Q8_0)
            quant_quantize_row_q8_0(x, xq, n);
        else
            quant_quantize_row_q8_K(x, xq, n);
        quant_dequantize_row(t, w, wd, n);
        quant_dequantize_row(at, xq, xd, n);
        double want = 0.0, mag = 0.0;
        for (int64_t j = 0; j < n; j++) {
            want += (double)wd[j] * xd[j];
            mag += fabs((double)wd[j] * xd[j]);
        }
        const float got = quant_vec_dot_q8_ref(t, w, xq, n);
        CHECK(mag > 0.0 && fabs(got - want) <= 1e-5 * mag,
              "%s reference dot %.6g vs float dot %.6g (sum |w x| %.6g)", tr->name, got, want, mag);
        for (int isa = 0; isa < KERNEL_ISA_COUNT; isa++) {
            const kernel_entry *e = &tables[isa][t];
            if (!have[isa] || !e->dot) continue;
            const size_t rb = kernels_act_row_bytes(at, n);
            uint8_t *x4 = malloc(4 * rb); /* the same activation row 4 times: the 4-token path */
            for (int r = 0; r < 4; r++)
                memcpy(x4 + (size_t)r * rb, xq, rb);
            float s[KERNEL_MAX_NT], s4[4];
            e->dot(n, w, xq, rb, 1, s);
            e->dot(n, w, x4, rb, 4, s4);
            CHECK(fabs(s[0] - want) <= 1e-4 * mag, "%s %s kernel dot %.6g vs %.6g", tr->name,
                  e->isa, s[0], want);
            CHECK(s4[0] == s[0] && s4[1] == s[0] && s4[2] == s[0] && s4[3] == s[0],
                  "%s %s kernel: 4 tokens at once give the 1-token result %.6g (%.6g %.6g)",
                  tr->name, e->isa, s[0], s4[0], s4[3]);
            free(x4);
        }
        free(w);
        free(x);
        free(wd);
        free(xd);
        free(xq);
    }
}

int main(void) {
    g_ref = (uint8_t *)test_read_file(test_data_path("iquant/dequant-ref.bin"), &g_ref_len);
    CHECK(g_ref != NULL, "tests/data/iquant/dequant-ref.bin reads");
    if (!g_ref) return test_report();
    RUN_TEST(test_types_are_computable_with_ggml_pairing);
    RUN_TEST(test_dequant_matches_ggml_bit_for_bit);
    RUN_TEST(test_grids_hold_the_formats_values);
    RUN_TEST(test_dot_products_match_float_dot);
    free(g_ref);
    return test_report();
}
