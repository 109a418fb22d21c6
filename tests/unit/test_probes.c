/* test_probes.c - the benchmark probes (kaiwu.h "Benchmark probes") return positive finite
 * numbers quickly, and the benchmark model generator (bench/bench_model.c, included below) writes
 * files the loader accepts, with llama.cpp's Q4_K_M type mix. No check asserts a speed.
 */
#include "../../bench/bench_model.c"

#include "kaiwu.h"
#include "test.h"

#include <math.h>
#include <unistd.h>

static bool positive_finite(double x) { return isfinite(x) && x > 0; }

static void test_probes_return_positive_finite_rates(void) {
    for (int t = 1; t <= 2; t++) {
        double bw = kw_probe_read_bandwidth(t, (size_t)8 << 20, 2);
        CHECK(positive_finite(bw),
              "read bandwidth on %d threads is positive and finite (got %g GB/s)", t, bw);
        const char *isa = NULL;
        double i8 = kw_probe_int8_peak(t, 0.05, &isa);
        CHECK(positive_finite(i8) && isa && *isa,
              "int8 peak on %d threads is positive (got %g ops/s, isa %s)", t, i8,
              isa ? isa : "(null)");
        isa = NULL;
        double f = kw_probe_f32_peak(t, 0.05, &isa);
        CHECK(positive_finite(f) && isa && *isa,
              "f32 peak on %d threads is positive (got %g FLOP/s, isa %s)", t, f,
              isa ? isa : "(null)");
        isa = NULL;
        double b = kw_probe_bf16_peak(t, 0.05, &isa);
        CHECK(positive_finite(b) && isa && *isa,
              "bf16 peak on %d threads is positive (got %g FLOP/s, isa %s)", t, b,
              isa ? isa : "(null)");
    }
    /* odd sizes are rounded, not rejected */
    double bw = kw_probe_read_bandwidth(3, 1000, 1);
    CHECK(positive_finite(bw), "a tiny odd-sized bandwidth probe still measures (got %g GB/s)", bw);
}

static void test_q4_k_m_mix_follows_llama_cpp(void) {
    const bench_shape *s05 = bench_shape_find("0.5B"), *s1 = bench_shape_find("1B");
    CHECK(s05 && s1, "the 0.5B and 1B shapes exist");
    if (!s05 || !s1) return;
    /* 0.5B: 24 layers, more bits on 0..2, 21..23 and (i - 3) % 3 == 2 */
    CHECK(bench_tensor_type(s05, BENCH_Q4_K_M, "ffn_down", 0, 4864) == GGML_TYPE_Q6_K,
          "0.5B ffn_down 0 is Q6_K");
    CHECK(bench_tensor_type(s05, BENCH_Q4_K_M, "ffn_down", 3, 4864) == GGML_TYPE_Q4_K,
          "0.5B ffn_down 3 is Q4_K");
    CHECK(bench_tensor_type(s05, BENCH_Q4_K_M, "ffn_down", 5, 4864) == GGML_TYPE_Q6_K,
          "0.5B ffn_down 5 is Q6_K");
    CHECK(bench_tensor_type(s05, BENCH_Q4_K_M, "attn_q", 5, 896) == GGML_TYPE_Q5_0,
          "0.5B attn_q (896 columns) falls back from Q4_K to Q5_0");
    CHECK(bench_tensor_type(s05, BENCH_Q4_K_M, "attn_v", 0, 896) == GGML_TYPE_Q8_0,
          "0.5B attn_v 0 falls back from Q6_K to Q8_0");
    CHECK(bench_tensor_type(s05, BENCH_Q4_0, "token_embd", -1, 896) == GGML_TYPE_Q8_0,
          "0.5B tied token_embd at Q4_0 is the output matrix: Q6_K, falling back to Q8_0");
    CHECK(bench_tensor_type(s1, BENCH_Q4_0, "token_embd", -1, 2048) == GGML_TYPE_Q6_K,
          "1B tied token_embd at Q4_0 is Q6_K");
    CHECK(bench_tensor_type(s1, BENCH_Q4_K_M, "attn_k", 7, 2048) == GGML_TYPE_Q4_K,
          "1B attn_k is Q4_K");
    CHECK(bench_tensor_type(s1, BENCH_Q8_0, "ffn_up", 7, 2048) == GGML_TYPE_Q8_0,
          "Q8_0 files are all Q8_0");
}

static void test_generated_tiny_models_load_and_decode(void) {
    char dir[] = "/tmp/kaiwu-test-probes-XXXXXX";
    CHECK(mkdtemp(dir) != NULL, "a temporary directory can be made");
    const bench_shape *s = bench_shape_find("tiny");
    CHECK(s != NULL, "the tiny shape exists");
    if (!s) return;
    for (int ft = 0; ft < BENCH_N_FTYPES; ft++) {
        char path[256];
        snprintf(path, sizeof path, "%s/tiny-%s.gguf", dir, bench_ftype_names[ft]);
        kw_status st = bench_model_write(s, (bench_ftype)ft, path, 1);
        CHECK(st == KW_OK, "tiny %s is written (%s)", bench_ftype_names[ft], kw_last_error());
        kw_model *m = NULL;
        st = kw_model_load(path, NULL, &m);
        CHECK(st == KW_OK, "tiny %s loads (%s)", bench_ftype_names[ft], kw_last_error());
        if (st != KW_OK) continue;
        CHECK(kw_model_n_vocab(m) == 300 && kw_model_n_layer(m) == 2 && kw_model_n_embd(m) == 64,
              "tiny %s has vocab 300, 2 layers, n_embd 64 (got %d, %d, %d)", bench_ftype_names[ft],
              kw_model_n_vocab(m), kw_model_n_layer(m), kw_model_n_embd(m));
        kw_token toks[16];
        int32_t n = 0;
        st = kw_tokenize(m, "the cat", 7, true, false, toks, 16, &n);
        CHECK(st == KW_OK && n >= 2, "the byte-level vocabulary tokenizes text (%d tokens)", n);
        kw_context_params cp = kw_context_default_params();
        cp.n_ctx = 64;
        cp.n_threads = 1;
        kw_context *ctx = NULL;
        if (kw_context_create(m, &cp, &ctx) == KW_OK && st == KW_OK && n > 0) {
            st = kw_decode(ctx, toks, NULL, n, NULL);
            CHECK(st == KW_OK, "tiny %s decodes (%s)", bench_ftype_names[ft], kw_last_error());
            const float *lg = st == KW_OK ? kw_get_logits(ctx, n - 1) : NULL;
            bool finite = lg != NULL;
            for (int i = 0; lg && i < 300; i++)
                finite = finite && isfinite(lg[i]);
            CHECK(finite, "tiny %s gives finite logits", bench_ftype_names[ft]);
        }
        kw_context_free(ctx);
        kw_model_free(m);
        unlink(path);
    }
    rmdir(dir);
}

int main(void) {
    RUN_TEST(test_probes_return_positive_finite_rates);
    RUN_TEST(test_q4_k_m_mix_follows_llama_cpp);
    RUN_TEST(test_generated_tiny_models_load_and_decode);
    return test_report();
}
