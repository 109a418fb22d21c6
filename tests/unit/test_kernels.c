/* test_kernels.c - every matmul kernel of every ISA this machine runs, against the reference.
 *
 * For each ISA (ref, avx2, avx512, neon; those the CPU lacks are skipped and said so) and every
 * computable weight type: random weights quantized with the reference quantizer, random
 * activations quantized with the reference activation quantizer; each kernel's dot products for
 * 1, 3 and 4 activation rows (the 4-row path reuses each weight block) over 1, 7, 31 and 33 blocks
 * are compared with quant_vec_dot_q8_ref / quant_vec_dot_f32_ref, and each SIMD activation
 * quantizer's bytes with the reference quantizer's. Then op_matmul (threads, row chunks, token
 * groups, reused quantized input) on a 4097-row matrix against per-element reference dots.
 *
 * Tolerance (KERNEL_REL_TOL): integer block sums are exact in every kernel; only the float
 * accumulation order differs (8 or 16 lanes summed at the end instead of block by block), so the
 * difference is bounded by a few hundred float roundings of the magnitude sum_i |w_i x_i|: 1e-5 of
 * that magnitude is ~80 ulps of headroom, while any wrong quant, scale or offset moves the result
 * by ~1/sqrt(n) of the magnitude or more (1e-2 .. 1e-1 here).
 */
#include "base/base.h"
#include "tensor/blocks.h"
#include "tensor/kernels/kernels.h"
#include "tensor/ops.h"
#include "tensor/quants.h"
#include "test.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define KERNEL_REL_TOL 1e-5

static const uint32_t types[] = {GGML_TYPE_F32,  GGML_TYPE_F16,  GGML_TYPE_BF16, GGML_TYPE_Q4_0,
                                 GGML_TYPE_Q4_1, GGML_TYPE_Q5_0, GGML_TYPE_Q5_1, GGML_TYPE_Q8_0,
                                 GGML_TYPE_Q2_K, GGML_TYPE_Q3_K, GGML_TYPE_Q4_K, GGML_TYPE_Q5_K,
                                 GGML_TYPE_Q6_K};
static const char *isa_names[KERNEL_ISA_COUNT] = {"ref", "avx2", "avx512", "neon"};

static uint64_t g_rng = 0x2545F4914F6CDD1Dull;
static float rand_uniform(void) { /* in [-1, 1) */
    g_rng ^= g_rng << 13, g_rng ^= g_rng >> 7, g_rng ^= g_rng << 17;
    return (float)((g_rng >> 40) * (1.0 / 8388608.0)) - 1.0f;
}
/* roughly normal values with a few outliers, like real weights and activations */
static float rand_value(void) {
    float v = rand_uniform() + rand_uniform() + rand_uniform();
    return rand_uniform() > 0.98f ? 4.0f * v : v;
}

static int64_t block_of(uint32_t type) {
    int64_t b = ggml_type_get(type)->block_size;
    return b > 1 ? b : 32;
}

static void ref_quantize(uint32_t act_type, const float *x, void *y, int64_t n) {
    if (act_type == GGML_TYPE_F32)
        memcpy(y, x, sizeof(float) * (size_t)n);
    else
        quant_quantize_row(act_type, x, y, n, NULL);
}

static float ref_dot(uint32_t type, uint32_t act_type, const void *w, const void *xq, int64_t n) {
    return act_type == GGML_TYPE_F32 ? quant_vec_dot_f32_ref(type, w, xq, n)
                                     : quant_vec_dot_q8_ref(type, w, xq, n);
}

/* sum_i |w_i| |x_i| over dequantized values: the scale of the accumulated rounding error. */
static double magnitude(uint32_t type, uint32_t act_type, const void *w, const void *xq, int64_t n,
                        float *tw, float *tx) {
    quant_dequantize_row(type, w, tw, n);
    if (act_type == GGML_TYPE_F32)
        memcpy(tx, xq, sizeof(float) * (size_t)n);
    else
        quant_dequantize_row(act_type, xq, tx, n);
    double m = 0;
    for (int64_t i = 0; i < n; i++)
        m += fabs((double)tw[i] * tx[i]);
    return m;
}

static void test_dot_kernels(void) {
    static kernel_entry table[GGML_TYPE_COUNT];
    const int64_t nblocks[] = {1, 7, 31, 33};
    const int64_t max_n = 33 * 256 + 5;
    float *xf = malloc(sizeof(float) * 4 * (size_t)max_n),
          *tw = malloc(sizeof(float) * (size_t)max_n);
    float *tx = malloc(sizeof(float) * (size_t)max_n);
    uint8_t *wq = malloc((size_t)max_n * 4), *xq = malloc((size_t)max_n * 4 * 4 + 64),
            *xq2 = malloc((size_t)max_n * 4);
    for (int isa = 0; isa < KERNEL_ISA_COUNT; isa++) {
        if (!kernels_build_table((kernel_isa)isa, table)) {
            printf("  kernels: ISA %s not available on this CPU/build, skipped\n", isa_names[isa]);
            continue;
        }
        int n_checked = 0;
        for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++) {
            const uint32_t type = types[ti];
            const kernel_entry *k = &table[type];
            CHECK(k->dot != NULL, "ISA %s has a dot kernel for %s", isa_names[isa],
                  ggml_type_get(type)->name);
            if (!k->dot) continue;
            CHECK(k->act_type == (quant_vec_dot_type(type) == GGML_TYPE_COUNT
                                      ? GGML_TYPE_F32
                                      : quant_vec_dot_type(type)),
                  "ISA %s pairs %s with the reference activation format", isa_names[isa],
                  ggml_type_get(type)->name);
            for (size_t bi = 0; bi < sizeof nblocks / sizeof nblocks[0] + 1; bi++) {
                /* the extra case: a float row length that is no multiple of any vector width */
                int64_t n = bi < 4 ? nblocks[bi] * block_of(type) : 37;
                if (bi == 4 && ggml_type_get(type)->block_size > 1) continue;
                for (int64_t i = 0; i < n; i++)
                    tw[i] = rand_value() * 0.05f;
                quant_quantize_row(type, tw, wq, n, NULL);
                const size_t stride =
                    kernels_act_row_bytes(k->act_type, n) + 4 * (size_t)isa; /* odd gaps too */
                for (int t = 0; t < 4; t++) {
                    for (int64_t i = 0; i < n; i++)
                        xf[t * n + i] = rand_value();
                    ref_quantize(k->act_type, xf + t * n, xq + (size_t)t * stride, n);
                    if (k->quantize) {
                        k->quantize(xf + t * n, xq2, n);
                        size_t nbytes = kernels_act_row_bytes(k->act_type, n);
                        size_t first = 0;
                        while (first < nbytes && xq2[first] == xq[(size_t)t * stride + first])
                            first++;
                        CHECK(
                            first == nbytes,
                            "ISA %s quantizer for %s (n %lld) matches the reference byte for byte "
                            "(first difference at byte %zu of %zu)",
                            isa_names[isa], ggml_type_get(type)->name, (long long)n, first, nbytes);
                    }
                }
                const int nts[] = {1, 3, 4};
                for (int ni = 0; ni < 3; ni++) {
                    float s[KERNEL_MAX_NT] = {0};
                    k->dot(n, wq, xq, stride, nts[ni], s);
                    for (int t = 0; t < nts[ni]; t++) {
                        const void *xt = xq + (size_t)t * stride;
                        const float want = ref_dot(type, k->act_type, wq, xt, n);
                        const double mag = magnitude(type, k->act_type, wq, xt, n, tw, tx);
                        const double err = fabs((double)s[t] - want),
                                     tol = KERNEL_REL_TOL * mag + 1e-30;
                        CHECK(err <= tol,
                              "ISA %s type %s n %lld (nt %d, token %d): kernel %.9g vs reference "
                              "%.9g "
                              "(|diff| %.3g > tol %.3g)",
                              isa_names[isa], ggml_type_get(type)->name, (long long)n, nts[ni], t,
                              s[t], want, err, tol);
                        n_checked++;
                    }
                }
            }
        }
        char own[256] = "";
        for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++)
            if (table[types[ti]].isa && strcmp(table[types[ti]].isa, isa_names[isa]) == 0)
                snprintf(own + strlen(own), sizeof own - strlen(own), " %s",
                         ggml_type_get(types[ti])->name);
        printf("  kernels: ISA %s: %d dot products checked; its own kernels:%s\n", isa_names[isa],
               n_checked, own);
    }
    free(xf), free(tw), free(tx), free(wq), free(xq), free(xq2);
}

/* The k-quant panel activation quantizers (SIMD ones are written to give the reference's bytes)
 * on the inputs random data never hits: an all-zero 256-block, exact rounding ties, the largest
 * magnitude met first with a negative then with a positive sign, and a block of subnormals whose
 * scale -127 / max overflows to infinity. */
static void test_panel_q8k_edges(void) {
    static kernel_entry table[GGML_TYPE_COUNT];
    enum { NB = 5, N = NB * 256 };
    static float x[N];
    static uint8_t ref[N * 2], a[N * 2];
    for (int j = 0; j < 256; j++) {
        x[j] = 0.0f;                                                  /* block 0: zeros */
        x[256 + j] = (float)(j % 255 - 127) + (j % 2 ? 0.5f : -0.5f); /* block 1: ties at scale 1 */
        x[512 + j] = (float)((j * 37) % 201 - 100) * 0.013f;          /* block 2: -max first */
        x[768 + j] = (float)((j * 53) % 199 - 99) * 0.021f;           /* block 3: +max first */
        x[1024 + j] = (float)(j % 5 - 2) * 1e-40f;                    /* block 4: subnormals */
    }
    x[256 + 3] = -127.0f, x[256 + 200] = 127.0f;
    x[512 + 7] = -2.0f, x[512 + 9] = 2.0f;
    x[768 + 4] = 2.5f, x[768 + 100] = -2.5f;
    x[1024 + 11] = 3e-40f;
    quant_quantize_row(GGML_TYPE_Q8_K, x, ref, N, NULL);
    int n_checked = 0;
    for (int isa = 0; isa < KERNEL_ISA_COUNT; isa++) {
        if (!kernels_build_table((kernel_isa)isa, table)) continue;
        for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++) {
            const kernel_panel *kp = &table[types[ti]].panel;
            if (!kp->dot ||
                (kp->act_type != KERNEL_ACT_PANEL_Q8_K && kp->act_type != KERNEL_ACT_PANEL_Q8_K16))
                continue;
            kp->quantize(x, a, N);
            const bool per16 = kp->act_type == KERNEL_ACT_PANEL_Q8_K16;
            for (int b = 0; b < NB; b++) {
                const block_q8_K *y = (const block_q8_K *)ref + b;
                float d;
                memcpy(&d, a + N + 4 * b, 4);
                int bad = memcmp(a + 256 * b, y->qs, 256) != 0 || memcmp(&d, &y->d, 4) != 0;
                for (int j = 0; j < (per16 ? 16 : 8); j++) {
                    int16_t s;
                    memcpy(&s, a + N + 4 * NB + 2 * ((per16 ? 16 : 8) * b + j), 2);
                    bad += s != (per16 ? y->bsums[j] : y->bsums[2 * j] + y->bsums[2 * j + 1]);
                }
                CHECK(bad == 0,
                      "ISA %s panel quantizer for %s, edge block %d: quants, scale (%g vs %g) and "
                      "sums "
                      "equal the reference Q8_K's",
                      isa_names[isa], ggml_type_get(types[ti])->name, b, (double)d, (double)y->d);
                n_checked++;
            }
        }
    }
    CHECK(n_checked > 0 || !kernels_build_table(KERNEL_ISA_AVX512, table),
          "some k-quant panel quantizer was checked");
}

/* Panel kernels (weights repacked KERNEL_PANEL_ROWS rows at a time): the panel activation
 * quantizer against the reference Q8_0 quantizer (quants, scale, init = -offset * sum), and the
 * dot products of full and partial calls (up to the kernel's rows_per_call rows: one or two
 * panels) for 1..max_nt tokens against reference dots of the original rows; the outputs of
 * missing rows and tokens must stay untouched. */
static void test_panel_kernels(void) {
    static kernel_entry table[GGML_TYPE_COUNT];
    const int64_t nblocks[] = {1, 7, 33};
    const int64_t max_n = 33 * 256;
    const int PR = KERNEL_PANEL_ROWS, MR = KERNEL_PANEL_MAX_ROWS, MT = KERNEL_PANEL_MAX_NT;
    float *xf = malloc(sizeof(float) * (size_t)(MT * max_n)),
          *tw = malloc(sizeof(float) * (size_t)max_n);
    float *tx = malloc(sizeof(float) * (size_t)max_n);
    uint8_t *wq = malloc((size_t)max_n * 2 * (size_t)MR),
            *panel = malloc((size_t)max_n * 2 * (size_t)MR);
    uint8_t *expanded = malloc(2 * KERNEL_PANEL_EXPANDED_BYTES(max_n));
    if (!xf || !tw || !tx || !wq || !panel || !expanded) abort();
    uint8_t *xq = malloc((size_t)max_n * 2 * (size_t)MT), *ref = malloc((size_t)max_n * 2);
    float out[KERNEL_PANEL_MAX_NT * KERNEL_PANEL_MAX_ROWS];
    for (int isa = 0; isa < KERNEL_ISA_COUNT; isa++) {
        if (!kernels_build_table((kernel_isa)isa, table)) continue;
        int n_checked = 0;
        for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++) {
            const uint32_t type = types[ti];
            const kernel_panel *kp = &table[type].panel;
            if (!kp->dot) continue;
            const int offset = type == GGML_TYPE_Q4_0 ? 8 : type == GGML_TYPE_Q5_0 ? 16 : 128;
            const uint32_t ref_act = quant_vec_dot_type(type);
            const int64_t bsz = ggml_type_get(type)->block_size;
            for (size_t bi = 0; bi < sizeof nblocks / sizeof nblocks[0]; bi++) {
                const int64_t n = nblocks[bi] * bsz, nb = n / 32;
                const size_t rb = (size_t)ggml_row_bytes(type, n);
                const size_t xs = kernels_act_row_bytes(kp->act_type, n);
                for (int t = 0; t < MT; t++) {
                    for (int64_t i = 0; i < n; i++)
                        xf[t * n + i] = rand_value();
                    if (t == 2) memset(xf + t * n, 0, sizeof(float) * 32); /* an all-zero block */
                    uint8_t *a = xq + (size_t)t * xs;
                    kp->quantize(xf + t * n, a, n);
                    quant_quantize_row(ref_act, xf + t * n, ref, n, NULL);
                    int bad = 0;
                    if (ref_act == GGML_TYPE_Q8_0) {
                        for (int64_t b = 0; b < nb; b++) {
                            const block_q8_0 *y = (const block_q8_0 *)ref + b;
                            float d;
                            int32_t init, sum = 0;
                            memcpy(&d, a + n + 4 * b, 4);
                            memcpy(&init, a + n + 4 * nb + 4 * b, 4);
                            for (int j = 0; j < 32; j++)
                                sum += y->qs[j];
                            bad += memcmp(a + 32 * b, y->qs, 32) != 0 || d != kw_f16_to_f32(y->d) ||
                                   init != -offset * sum;
                        }
                    } else if (kp->act_type == KERNEL_ACT_PANEL_Q8_K16) { /* int16 sums per 16 */
                        for (int64_t b = 0; b < n / 256; b++) {
                            const block_q8_K *y = (const block_q8_K *)ref + b;
                            float d;
                            memcpy(&d, a + n + 4 * b, 4);
                            bad += memcmp(a + 256 * b, y->qs, 256) != 0 || d != y->d ||
                                   memcmp(a + n + 4 * (n / 256) + 32 * b, y->bsums, 32) != 0;
                        }
                    } else { /* Q8_K: quants, float scale per 256, int16 sums per 32 */
                        for (int64_t b = 0; b < n / 256; b++) {
                            const block_q8_K *y = (const block_q8_K *)ref + b;
                            float d;
                            memcpy(&d, a + n + 4 * b, 4);
                            bad += memcmp(a + 256 * b, y->qs, 256) != 0 || d != y->d;
                            for (int j = 0; j < 8; j++) {
                                int16_t s2;
                                memcpy(&s2, a + n + 4 * (n / 256) + 2 * (8 * b + j), 2);
                                bad += s2 != y->bsums[2 * j] + y->bsums[2 * j + 1];
                            }
                        }
                    }
                    CHECK(
                        bad == 0,
                        "ISA %s panel quantizer for %s (n %lld, row %d): %d blocks differ from %s",
                        isa_names[isa], ggml_type_get(type)->name, (long long)n, t, bad,
                        ggml_type_get(ref_act)->name);
                }
                const int rpc = (int)kp->rows_per_call, nrs[] = {rpc, rpc - 11, PR, 5, 1};
                CHECK(rpc % PR == 0 && rpc <= MR && kp->max_nt >= 1 && (int)kp->max_nt <= MT,
                      "ISA %s panel %s takes %d rows and %u tokens per call (within %d and %d)",
                      isa_names[isa], ggml_type_get(type)->name, rpc, kp->max_nt, MR, MT);
                const size_t pb = KERNEL_PANEL_BYTES(kp, n);
                for (int ri = 0; ri < 5; ri++) {
                    const int nr = nrs[ri];
                    if (nr < 1 || (ri > 0 && nr == nrs[ri - 1])) continue;
                    for (int r = 0; r < nr; r++) {
                        for (int64_t i = 0; i < n; i++)
                            tw[i] = rand_value() * 0.05f;
                        quant_quantize_row(type, tw, wq + (size_t)r * rb, n, NULL);
                    }
                    /* rows 16.. go to the next panel, as the loader lays them out */
                    for (int r0 = 0; r0 < nr; r0 += PR)
                        kp->repack(wq + (size_t)r0 * rb, rb, nr - r0 < PR ? nr - r0 : PR, n,
                                   panel + (size_t)(r0 / PR) * pb);
                    int row_bad = 0;
                    for (int r = 0; r < nr; r++) {
                        quant_dequantize_row(type, wq + (size_t)r * rb, tw, n);
                        kp->row(panel + (size_t)(r / PR) * pb, r % PR, n, tx);
                        row_bad += memcmp(tw, tx, sizeof(float) * (size_t)n) != 0;
                    }
                    CHECK(row_bad == 0,
                          "ISA %s panel %s (n %lld, %d rows): rows read back from the panel equal "
                          "the "
                          "file rows dequantized (%d differ)",
                          isa_names[isa], ggml_type_get(type)->name, (long long)n, nr, row_bad);
                    /* path 1: the panels expanded to 8 bits and the expanded dot (prefill) */
                    const int n_paths = kp->expand ? 2 : 1;
                    for (int i = 0; kp->expand && i < nr; i += PR)
                        kp->expand(panel + (size_t)(i / PR) * pb, n,
                                   expanded + (size_t)(i / PR) * KERNEL_PANEL_EXPANDED_BYTES(n));
                    const int nts[] = {1, 2, 3, 5, (int)kp->max_nt};
                    for (int ni = 0; ni < 5 * n_paths; ni++) {
                        const int nt = nts[ni % 5], path = ni / 5;
                        if (nt > (int)kp->max_nt || (ni % 5 > 0 && nt == nts[ni % 5 - 1])) continue;
                        for (int i = 0; i < MT * MR; i++)
                            out[i] = 12345.0f;
                        if (path == 0)
                            kp->dot(n, panel, xq, xs, nt, out, (size_t)MR, nr);
                        else
                            kp->expanded_dot(n, expanded, xq, xs, nt, out, (size_t)MR, nr);
                        int bad = 0, stray = 0;
                        for (int t = 0; t < MT; t++) {
                            quant_quantize_row(ref_act, xf + t * n, ref, n, NULL);
                            for (int r = 0; r < MR; r++) {
                                const float got = out[t * MR + r];
                                if (t >= nt || r >= nr) {
                                    stray += got != 12345.0f;
                                    continue;
                                }
                                const void *wr = wq + (size_t)r * rb;
                                const float want = ref_dot(type, ref_act, wr, ref, n);
                                const double tol =
                                    KERNEL_REL_TOL * magnitude(type, ref_act, wr, ref, n, tw, tx) +
                                    1e-30;
                                if (fabs((double)got - want) > tol && bad++ < 2)
                                    printf("    %s row %d token %d: %.9g vs %.9g\n",
                                           ggml_type_get(type)->name, r, t, got, want);
                                n_checked++;
                            }
                        }
                        CHECK(bad == 0 && stray == 0,
                              "ISA %s panel %s%s (n %lld, %d rows, %d tokens): %d outputs off the "
                              "reference, %d written outside the tile",
                              isa_names[isa], ggml_type_get(type)->name, path ? " expanded" : "",
                              (long long)n, nr, nt, bad, stray);
                    }
                }
            }
        }
        if (n_checked)
            printf("  kernels: ISA %s: %d panel dot products checked\n", isa_names[isa], n_checked);
    }
    free(xf), free(tw), free(tx), free(wq), free(panel), free(xq), free(ref), free(expanded);
}

/* The attention kernels of the chosen ISA against the reference ones: head sizes with and without
 * a tail; scores of 1..7 queries over 1..40 transposed keys (whole vectors and masked tails), rows
 * of the transposed keys further apart than the run; weighted sums of 1..9 value rows into 1..7
 * outputs (nothing written outside them). */
static void check_attn_kernels(const kernel_attn *ka, const char *isa);

static void test_attn_kernels(void) {
#if defined(__x86_64__)
    static kernel_entry table[GGML_TYPE_COUNT];
    kernel_attn tab;
    kernels_fill_attn_ref(&tab);
    if (kernels_build_table(KERNEL_ISA_AVX2, table)) {
        kernels_fill_attn_avx2(&tab);
        kernels_fill_vec_avx2(&tab);
        check_attn_kernels(&tab, "avx2");
    }
    if (kernels_build_table(KERNEL_ISA_AVX512, table)) {
        kernels_fill_attn_avx512(&tab);
        check_attn_kernels(&tab, "avx512");
    }
#endif
    check_attn_kernels(kernels_attn(), kernels_isa_name());
}

static void check_attn_kernels(const kernel_attn *ka, const char *isa) {
    kernel_attn ref;
    kernels_fill_attn_ref(&ref);
    const int ns[] = {64, 128, 80, 13, 7};
    const size_t stride = 300, qs = 130, ss = 50;
    float *k = malloc(sizeof(float) * stride * 128), *q = malloc(sizeof(float) * qs * 7);
    float *s1 = malloc(sizeof(float) * ss * 7), *s2 = malloc(sizeof(float) * ss * 7);
    for (size_t i = 0; i < stride * 128; i++)
        k[i] = rand_value();
    for (size_t i = 0; i < qs * 7; i++)
        q[i] = rand_value();
    int bad = 0, checked = 0;
    for (size_t ni = 0; ni < sizeof ns / sizeof ns[0]; ni++) {
        const int n = ns[ni];
        for (int nq = 1; nq <= 7; nq++)
            for (int np = 1; np <= 40; np += np < 18 ? 1 : 7) {
                for (size_t i = 0; i < ss * 7; i++)
                    s1[i] = s2[i] = -1.0f;
                ref.qk(q, qs, nq, k + 3, stride, n, np, s1, ss);
                ka->qk(q, qs, nq, k + 3, stride, n, np, s2, ss);
                for (int j = 0; j < nq; j++) {
                    for (int p = 0; p < np; p++) {
                        double mag = 0;
                        for (int i = 0; i < n; i++)
                            mag += fabs((double)q[j * qs + i] * k[(size_t)i * stride + 3 + p]);
                        bad += fabs((double)s1[j * ss + p] - s2[j * ss + p]) > KERNEL_REL_TOL * mag,
                            checked++;
                    }
                    for (size_t p = (size_t)np; p < ss; p++)
                        bad += s2[j * ss + p] != -1.0f, checked++;
                }
            }
        for (int nq = 1; nq <= 7; nq += 2)
            for (int np = 1; np <= 9; np++) {
                for (int j = 0; j < nq; j++)
                    for (int p = 0; p < np; p++)
                        s1[j * ss + p] = fabsf(rand_value());
                float *o1 = malloc(sizeof(float) * 7 * 130), *o2 = malloc(sizeof(float) * 7 * 130);
                for (int i = 0; i < 7 * 130; i++)
                    o1[i] = o2[i] = q[i % (int)(qs * 7)];
                ref.av(s1, ss, nq, k, stride, n, np, o1, 130);
                ka->av(s1, ss, nq, k, stride, n, np, o2, 130);
                for (int j = 0; j < 7; j++)
                    for (int i = 0; i < 130; i++) {
                        if (j >= nq || i >= n) { /* outside the outputs: untouched */
                            bad += o2[j * 130 + i] != o1[j * 130 + i], checked++;
                            continue;
                        }
                        double mag =
                            fabs(q[(j * 130 + i) % (int)(qs * 7)]); /* the starting value */
                        for (int p = 0; p < np; p++)
                            mag += fabs((double)s1[j * ss + p] * k[(size_t)p * stride + i]);
                        bad +=
                            fabs((double)o1[j * 130 + i] - o2[j * 130 + i]) > KERNEL_REL_TOL * mag,
                            checked++;
                    }
                free(o1), free(o2);
            }
    }
    CHECK(bad == 0, "attention kernels (%s) match the reference: %d of %d values off", isa, bad,
          checked);
    free(k), free(q), free(s1), free(s2);
}

/* The F16- and Q8_0-cache attention kernels and the online-softmax tile of one ISA against the
 * reference ones on random data: head sizes with and without a vector tail (F16; Q8_0 takes
 * multiples of 32), 1..7 queries, key runs of 1..70 (masked tails, the 64-key AVX-512 tile and
 * one past it), key rows further apart than the run; nothing written outside the outputs. */
static void check_cache_kernels(const kernel_attn *ka, const char *isa) {
    kernel_attn ref;
    kernels_fill_attn_ref(&ref);
    enum { KS = 300, QS = 130, SS = 80, OS = 130 };
    const int nps[] = {1, 2, 7, 8, 9, 15, 16, 17, 31, 40, 63, 64, 65, 70};
    uint16_t *kh = malloc(sizeof(uint16_t) * KS * 128);
    float *kf = malloc(sizeof(float) * KS * 128), *q = malloc(sizeof(float) * QS * 7);
    float *s1 = malloc(sizeof(float) * SS * 7), *s2 = malloc(sizeof(float) * SS * 7);
    float *o1 = malloc(sizeof(float) * 7 * OS), *o2 = malloc(sizeof(float) * 7 * OS);
    /* Q8_0 rows: 70 rows of up to 128 values, each row 5 blocks + 4 bytes apart (another head's
     * blocks in between, as in the cache) */
    const size_t qrow = 5 * sizeof(block_q8_0) + 4;
    uint8_t *k8 = calloc(70, qrow);
    float *k8f = malloc(sizeof(float) * 70 * 128); /* their values, dequantized */
    for (size_t i = 0; i < (size_t)KS * 128; i++) {
        kh[i] = kw_f32_to_f16(rand_value());
        kf[i] = kw_f16_to_f32(kh[i]);
    }
    for (int p = 0; p < 70; p++) {
        float row[128];
        for (int i = 0; i < 128; i++)
            row[i] = rand_value();
        quant_quantize_row_q8_0(row, k8 + (size_t)p * qrow, 128);
        const block_q8_0 *b = (const block_q8_0 *)(k8 + (size_t)p * qrow);
        for (int i = 0; i < 128; i++)
            k8f[p * 128 + i] = kw_f16_to_f32(b[i / 32].d) * (float)b[i / 32].qs[i % 32];
    }
    for (size_t i = 0; i < (size_t)QS * 7; i++)
        q[i] = rand_value();
    int bad = 0, checked = 0;
    const int ns[] = {64, 128, 80, 13, 7, 32, 96};
    for (size_t ni = 0; ni < sizeof ns / sizeof ns[0]; ni++)
        for (int q8 = 0; q8 < 2; q8++) {
            const int n = ns[ni];
            if (q8 && n % 32) continue;
            for (int nq = 1; nq <= 7; nq++)
                for (size_t pi = 0; pi < sizeof nps / sizeof nps[0]; pi++) {
                    const int np = nps[pi];
                    for (size_t i = 0; i < (size_t)SS * 7; i++)
                        s1[i] = s2[i] = -1.0f;
                    if (q8) {
                        ref.qk_q8_0(q, QS, nq, k8, qrow, n, np, s1, SS);
                        ka->qk_q8_0(q, QS, nq, k8, qrow, n, np, s2, SS);
                    } else {
                        ref.qk_f16(q, QS, nq, kh + 3, KS, n, np, s1, SS);
                        ka->qk_f16(q, QS, nq, kh + 3, KS, n, np, s2, SS);
                    }
                    for (int j = 0; j < nq; j++) {
                        for (int p = 0; p < np; p++) {
                            double mag = 0;
                            for (int i = 0; i < n; i++)
                                mag += fabs((double)q[j * QS + i] *
                                            (q8 ? k8f[p * 128 + i] : kf[(size_t)i * KS + 3 + p]));
                            bad += !(fabs((double)s1[j * SS + p] - s2[j * SS + p]) <=
                                     KERNEL_REL_TOL * mag),
                                checked++;
                        }
                        for (int p = np; p < SS; p++)
                            bad += s2[j * SS + p] != -1.0f, checked++;
                    }
                    /* weighted sums of np value rows (Q8_0: the rows above; F16: rows KS apart) */
                    for (int j = 0; j < nq; j++)
                        for (int p = 0; p < np; p++)
                            s1[j * SS + p] = fabsf(rand_value());
                    for (int i = 0; i < 7 * OS; i++)
                        o1[i] = o2[i] = q[i % (QS * 7)];
                    if (q8) {
                        ref.av_q8_0(s1, SS, nq, k8, qrow, n, np, o1, OS);
                        ka->av_q8_0(s1, SS, nq, k8, qrow, n, np, o2, OS);
                    } else {
                        ref.av_f16(s1, SS, nq, kh, KS, n, np, o1, OS);
                        ka->av_f16(s1, SS, nq, kh, KS, n, np, o2, OS);
                    }
                    for (int j = 0; j < 7; j++)
                        for (int i = 0; i < OS; i++) {
                            if (j >= nq || i >= n) {
                                bad += o2[j * OS + i] != o1[j * OS + i], checked++;
                                continue;
                            }
                            double mag = fabs(q[(j * OS + i) % (QS * 7)]);
                            for (int p = 0; p < np; p++)
                                mag += fabs((double)s1[j * SS + p] *
                                            (q8 ? k8f[p * 128 + i] : kf[(size_t)p * KS + i]));
                            bad += !(fabs((double)o1[j * OS + i] - o2[j * OS + i]) <=
                                     KERNEL_REL_TOL * mag),
                                checked++;
                        }
                }
        }
    CHECK(bad == 0 && checked > 100000,
          "F16/Q8_0 cache attention kernels (%s) match the reference: %d of %d values off", isa,
          bad, checked);
    /* the online-softmax tile: from no max yet, and continuing from a larger and a smaller one */
    int sbad = 0;
    for (int n = 1; n <= 300; n += 37)
        for (int start = 0; start < 3; start++) {
            float m1 = start == 0 ? -INFINITY : start == 1 ? 500.0f : -500.0f, m2 = m1;
            for (int i = 0; i < n; i++)
                o1[i] = o2[i] = rand_value() * 300.0f;
            const float sum1 = ref.softmax_tile(o1, n, 0.5f, &m1);
            const float sum2 = ka->softmax_tile(o2, n, 0.5f, &m2);
            if (m1 != m2 || !(fabsf(sum1 - sum2) <= 1e-5f * sum1 + 2e-38f)) {
                printf("  softmax tile n %d start %d: max %.9g vs %.9g, sum %.9g vs %.9g\n", n,
                       start, m1, m2, sum1, sum2);
                sbad++;
            }
            /* exp below -87.3 is 0 in the SIMD versions, a denormal (< 1.2e-38) in expf */
            for (int i = 0; i < n; i++) {
                const bool off = !(fabsf(o1[i] - o2[i]) <= 1e-6f * o1[i] + 2e-38f);
                if (off && sbad < 5)
                    printf("  softmax tile n %d start %d [%d]: %.9g vs %.9g\n", n, start, i, o1[i],
                           o2[i]);
                sbad += off;
            }
        }
    CHECK(sbad == 0, "online-softmax tile (%s) matches the reference: %d off", isa, sbad);
    free(kh), free(kf), free(q), free(s1), free(s2), free(o1), free(o2), free(k8), free(k8f);
}

static void test_cache_kernels(void) {
#if defined(__x86_64__)
    static kernel_entry table[GGML_TYPE_COUNT];
    kernel_attn tab;
    kernels_fill_attn_ref(&tab);
    if (kernels_build_table(KERNEL_ISA_AVX2, table)) {
        kernels_fill_attn_avx2(&tab);
        kernels_fill_vec_avx2(&tab);
        check_cache_kernels(&tab, "avx2");
    }
    if (kernels_build_table(KERNEL_ISA_AVX512, table)) {
        kernels_fill_attn_avx512(&tab);
        check_cache_kernels(&tab, "avx512");
    }
#endif
    check_cache_kernels(kernels_attn(), kernels_isa_name());
}

/* The softmax and elementwise kernels of the chosen ISA against the reference ones (which use
 * expf): SiLU over the whole range where exp neither overflows nor underflows, and the extremes;
 * softmax of scores that span the underflow edge; RMSNorm and the scaled add with tails. */
static void test_vec_kernels(void) {
    kernel_attn ref;
    kernels_fill_attn_ref(&ref);
    const kernel_attn *ka = kernels_attn();
    enum { N = 4099 };
    float *g1 = malloc(sizeof(float) * N), *g2 = malloc(sizeof(float) * N),
          *up = malloc(sizeof(float) * N);
    for (int i = 0; i < N; i++)
        g1[i] = g2[i] = -85.0f + 170.0f * (float)i / (N - 1), up[i] = 1.0f;
    g1[0] = g2[0] = -200.0f, g1[1] = g2[1] = 150.0f, g1[2] = g2[2] = 0.0f;
    ref.swiglu(g1, up, N);
    ka->swiglu(g2, up, N);
    double worst = 0;
    for (int i = 3; i < N; i++) {
        double e = fabs((double)g1[i] - g2[i]) / (fabs((double)g1[i]) + 1e-30);
        if (e > worst) worst = e;
    }
    CHECK(worst < 1e-6, "SwiGLU (%s) within 1e-6 relative of expf's: worst %.3g",
          kernels_isa_name(), worst);
    CHECK(fabsf(g2[0]) < 1e-30f && g2[1] == 150.0f && g2[2] == 0.0f,
          "SwiGLU extremes: silu(-200) = %g (~0), silu(150) = %g (150), silu(0) = %g", g2[0], g2[1],
          g2[2]);
    for (int n = 1; n <= 70; n += 23) {
        for (int i = 0; i < n; i++)
            g1[i] = g2[i] = rand_value() * 300.0f;
        ref.softmax(g1, n, 0.5f);
        ka->softmax(g2, n, 0.5f);
        int bad = 0;
        double sum = 0;
        for (int i = 0; i < n; i++)
            bad += fabs((double)g1[i] - g2[i]) > 1e-6 * g1[i] + 1e-38, sum += g2[i];
        CHECK(bad == 0 && fabs(sum - 1) < 1e-5, "softmax of %d scores (%s): %d off, sum %.7f", n,
              kernels_isa_name(), bad, sum);
    }
    for (int n = 5; n <= 900; n += 179) {
        for (int i = 0; i < n; i++)
            g1[i] = rand_value() * 3, up[i] = rand_value();
        float *y1 = g2, *y2 = g2 + 1000;
        ref.rmsnorm(y1, g1, up, n, 1e-6f);
        ka->rmsnorm(y2, g1, up, n, 1e-6f);
        int bad = 0;
        for (int i = 0; i < n; i++)
            bad += fabsf(y1[i] - y2[i]) > 1e-6f * fabsf(y1[i]) + 1e-30f;
        ka->rmsnorm(y2, g1, NULL, n, 1e-6f);
        ref.rmsnorm(y1, g1, NULL, n, 1e-6f);
        for (int i = 0; i < n; i++)
            bad += fabsf(y1[i] - y2[i]) > 1e-6f * fabsf(y1[i]) + 1e-30f;
        for (int i = 0; i < n; i++)
            y1[i] = y2[i] = g1[i];
        ref.add_scaled(y1, up, 0.3f, n);
        ka->add_scaled(y2, up, 0.3f, n);
        for (int i = 0; i < n; i++)
            bad += y1[i] != y2[i];
        CHECK(bad == 0, "RMSNorm and scaled add of %d values (%s) match the reference: %d off", n,
              kernels_isa_name(), bad);
    }
    free(g1), free(g2), free(up);
}

/* op_matmul with the best ISA against reference dots element by element. */
static void check_matmul(kw_pool *pool, uint32_t type, int64_t n_out, int64_t n_in, int64_t n_tok,
                         bool pack) {
    const kernel_entry *k = kernels_get(type);
    const size_t rb = (size_t)ggml_row_bytes(type, n_in);
    uint8_t *w = malloc(rb * (size_t)n_out);
    float *row = malloc(sizeof(float) * (size_t)n_in),
          *x = malloc(sizeof(float) * (size_t)(n_in * n_tok));
    float *out = malloc(sizeof(float) * (size_t)(n_out * n_tok)),
          *out2 = malloc(sizeof(float) * (size_t)(n_out * n_tok));
    uint8_t *xq = malloc(kernels_act_row_bytes(k->act_type, n_in));
    for (int64_t r = 0; r < n_out; r++) {
        for (int64_t i = 0; i < n_in; i++)
            row[i] = rand_value() * 0.05f;
        quant_quantize_row(type, row, w + (size_t)r * rb, n_in, NULL);
    }
    for (int64_t i = 0; i < n_in * n_tok; i++)
        x[i] = rand_value();
    op_matmul_scratch scr = {0};
    scr.act_cap = op_matmul_scratch_bytes(n_tok, n_in);
    scr.act = malloc(scr.act_cap);
    kw_weight wt = {
        .name = "w", .type = type, .n_in = n_in, .n_out = n_out, .row_bytes = rb, .data = w};
    void *panel = NULL;
    if (pack && op_weight_panel_bytes(&wt)) {
        panel = kw_malloc_aligned(op_weight_panel_bytes(&wt), "test panel");
        op_weight_repack(pool, &wt, panel);
    }
    op_matmul(pool, out, &wt, x, n_tok, &scr, false);
    op_matmul(pool, out2, &wt, x, n_tok, &scr, true); /* reuses the quantized input */
    int bad = 0, bad2 = 0;
    float *tw = malloc(sizeof(float) * (size_t)n_in), *tx = malloc(sizeof(float) * (size_t)n_in);
    for (int64_t t = 0; t < n_tok; t++) {
        ref_quantize(k->act_type, x + t * n_in, xq, n_in);
        for (int64_t r = 0; r < n_out; r++) {
            const void *wr = w + (size_t)r * rb;
            const float want = ref_dot(type, k->act_type, wr, xq, n_in);
            const float got = out[t * n_out + r];
            const double tol =
                KERNEL_REL_TOL * magnitude(type, k->act_type, wr, xq, n_in, tw, tx) + 1e-30;
            if (fabs((double)got - want) > tol && bad++ < 3)
                CHECK(false,
                      "matmul %s (%lld x %lld, %lld tokens) row %lld token %lld: %.9g vs reference "
                      "%.9g",
                      ggml_type_get(type)->name, (long long)n_out, (long long)n_in,
                      (long long)n_tok, (long long)r, (long long)t, got, want);
            if (out2[t * n_out + r] != got) bad2++;
        }
    }
    CHECK(bad == 0,
          "matmul %s (%lld rows, %lld tokens, %s kernels%s): all %lld outputs match the reference "
          "(%d differ)",
          ggml_type_get(type)->name, (long long)n_out, (long long)n_tok, k->isa,
          panel ? ", panels" : "", (long long)(n_out * n_tok), bad);
    CHECK(bad2 == 0, "matmul %s: reusing the quantized input gives identical outputs (%d differ)",
          ggml_type_get(type)->name, bad2);
    /* a scratch too small for all tokens: processed in chunks, same results */
    scr.act_cap = kernels_act_row_bytes(panel ? k->panel.act_type : k->act_type, n_in) * 2;
    op_matmul(pool, out2, &wt, x, n_tok, &scr, false);
    bad2 = 0;
    for (int64_t i = 0; i < n_out * n_tok; i++)
        bad2 += out2[i] != out[i];
    CHECK(bad2 == 0, "matmul %s with a 2-token scratch matches the full one (%d differ)",
          ggml_type_get(type)->name, bad2);
    free(w), free(row), free(x), free(out), free(out2), free(xq), free(scr.act), free(tw), free(tx);
    kw_free_aligned(panel);
}

static void test_matmul(void) {
    kw_pool *pool = NULL;
    CHECK(kw_pool_create(3, &pool) == KW_OK, "a 3-thread pool starts");
    printf("  kernels: op_matmul uses ISA %s\n", kernels_isa_name());
    check_matmul(pool, GGML_TYPE_Q4_0, 4097, 256, 1, false);
    check_matmul(pool, GGML_TYPE_Q4_0, 4097, 256, 7, false);
    for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++)
        check_matmul(pool, types[ti], 67, 512, 6, false);
    check_matmul(pool, GGML_TYPE_F16, 4097, 96, 5, false);
    /* repacked weights (where this CPU's kernels have panels): 4097 = 256 panels + 1 row */
    for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++) {
        if (!kernels_get(types[ti])->panel.dot) continue;
        check_matmul(pool, types[ti], 4097, 256, 1, true);
        check_matmul(pool, types[ti], 67, 512, 19, true);
    }
    kw_pool_free(pool);
}

int main(void) {
    RUN_TEST(test_dot_kernels);
    RUN_TEST(test_panel_kernels);
    RUN_TEST(test_panel_q8k_edges);
    RUN_TEST(test_attn_kernels);
    RUN_TEST(test_cache_kernels);
    RUN_TEST(test_vec_kernels);
    RUN_TEST(test_matmul);
    return test_report();
}
