/* test_sampler.c - the sampler chain without a model (sampler_create_n_vocab): greedy and ties,
 * top-k/top-p/min-p exclusions, penalties on exactly the right logits, the sampled distribution
 * against the softmax (chi-square), seeding, and no allocation per token.
 */
#include "../test.h"
#include "base/base.h"
#include "sample/sample.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static kw_sampler_params params_off(float temp, uint64_t seed) {
    kw_sampler_params p = kw_sampler_default_params();
    p.temperature = temp;
    p.top_k = 0;
    p.top_p = 1.0f;
    p.min_p = 0.0f;
    p.repeat_penalty = 1.0f;
    p.seed = seed;
    return p;
}

static kw_sampler *make(int32_t n_vocab, const kw_sampler_params *p) {
    kw_sampler *s = NULL;
    kw_status st = sampler_create_n_vocab(n_vocab, p, &s);
    CHECK(st == KW_OK && s, "sampler_create_n_vocab(%d) succeeds (status %d: %s)", n_vocab, st,
          kw_last_error());
    return s;
}

/* Draws n tokens and counts them per id (counts has n_vocab entries). */
static void draw(kw_sampler *s, const float *logits, int n, int *counts, int n_vocab) {
    memset(counts, 0, (size_t)n_vocab * sizeof *counts);
    for (int i = 0; i < n; i++) {
        kw_token t = kw_sampler_sample(s, logits);
        if (t >= 0 && t < n_vocab)
            counts[t]++;
        else
            CHECK(0, "sampled id %d is inside the vocabulary of %d", t, n_vocab);
    }
}

/* Pearson chi-square of counts against probabilities p (sum 1) over n ids. */
static double chi_square(const int *counts, const double *p, int n, int total) {
    double chi = 0;
    for (int i = 0; i < n; i++) {
        double e = p[i] * total;
        chi += (counts[i] - e) * (counts[i] - e) / e;
    }
    return chi;
}

static void test_greedy(void) {
    kw_sampler_params p = params_off(0.0f, 1);
    p.top_k = 40; /* the filters never change the argmax */
    kw_sampler *s = make(6, &p);
    float l1[6] = {0.5f, -1.0f, 3.0f, 2.9f, -INFINITY, 1.0f};
    CHECK(kw_sampler_sample(s, l1) == 2, "greedy picks the argmax id 2");
    float l2[6] = {1.0f, 4.0f, 2.0f, 4.0f, 4.0f, 0.0f};
    CHECK(kw_sampler_sample(s, l2) == 1,
          "greedy picks the lowest id (1) among tied maxima 1, 3, 4");
    float l3[6] = {NAN, 0.0f, NAN, 0.5f, 0.25f, NAN};
    CHECK(kw_sampler_sample(s, l3) == 3, "greedy ignores NaN logits and picks id 3");
    kw_sampler_free(s);

    p.temperature = -1.0f; /* any temperature <= 0 is greedy */
    s = make(6, &p);
    CHECK(kw_sampler_sample(s, l1) == 2, "temperature -1 is greedy too");
    kw_sampler_free(s);
}

static void test_top_k_1_is_greedy(void) {
    enum { N = 1000 };
    static float logits[N];
    uint64_t x = 12345;
    kw_sampler_params p = params_off(1.0f, 7);
    p.top_k = 1;
    kw_sampler *s = make(N, &p);
    kw_sampler_params pg = params_off(0.0f, 7);
    kw_sampler *g = make(N, &pg);
    int same = 0;
    for (int r = 0; r < 50; r++) {
        for (int i = 0; i < N; i++) {
            x = x * 6364136223846793005ull + 1442695040888963407ull;
            logits[i] = (float)((x >> 40) % 1000) / 100.0f; /* many ties on purpose */
        }
        same += kw_sampler_sample(s, logits) == kw_sampler_sample(g, logits);
    }
    CHECK(same == 50, "top-k 1 at temperature 1 equals greedy in %d of 50 rounds", same);
    kw_sampler_free(s);
    kw_sampler_free(g);
}

static void test_distribution(void) {
    enum { N = 8, DRAWS = 20000 };
    const float logits[N] = {1.0f, 2.0f, 0.5f, 3.0f, -1.0f, 0.0f, 2.5f, 1.5f};
    const float temps[2] = {1.0f, 0.7f};
    for (int ti = 0; ti < 2; ti++) {
        kw_sampler_params p = params_off(temps[ti], 42 + (uint64_t)ti);
        kw_sampler *s = make(N, &p);
        double prob[N], sum = 0;
        for (int i = 0; i < N; i++)
            sum += prob[i] = exp((double)logits[i] / temps[ti]);
        for (int i = 0; i < N; i++)
            prob[i] /= sum;
        int counts[N];
        draw(s, logits, DRAWS, counts, N);
        double chi = chi_square(counts, prob, N, DRAWS);
        /* 7 degrees of freedom: P(chi2 > 24.32) = 0.001 for a correct sampler. */
        CHECK(chi < 24.32, "temperature %.1f: %d draws match the softmax (chi-square %.2f < 24.32)",
              (double)temps[ti], DRAWS, chi);
        kw_sampler_free(s);
    }
}

/* Probabilities 0.5, 0.3, 0.15, 0.05 at temperature 1. */
static void logits_4(float *l) {
    l[0] = logf(0.5f);
    l[1] = logf(0.3f);
    l[2] = logf(0.15f);
    l[3] = logf(0.05f);
}

static void test_top_k(void) {
    enum { N = 10, DRAWS = 4000 };
    const float logits[N] = {0.1f, 0.9f, 0.3f, 0.8f, 0.2f, 0.7f, 0.0f, 0.4f, 0.6f, 0.5f};
    kw_sampler_params p = params_off(1.0f, 3);
    p.top_k = 3; /* keeps ids 1, 3, 5 */
    kw_sampler *s = make(N, &p);
    int counts[N];
    draw(s, logits, DRAWS, counts, N);
    int outside = DRAWS - counts[1] - counts[3] - counts[5];
    CHECK(outside == 0, "top-k 3 draws only ids 1, 3, 5 (%d draws outside)", outside);
    CHECK(counts[1] > 0 && counts[3] > 0 && counts[5] > 0,
          "top-k 3 draws each of ids 1, 3, 5 (%d, %d, %d)", counts[1], counts[3], counts[5]);
    double e = exp(0.9) + exp(0.8) + exp(0.7), pr[3] = {exp(0.9) / e, exp(0.8) / e, exp(0.7) / e};
    int c3[3] = {counts[1], counts[3], counts[5]};
    double chi = chi_square(c3, pr, 3, DRAWS);
    CHECK(chi < 13.82, "top-k 3 renormalizes the kept ids (chi-square %.2f < 13.82, 2 dof)", chi);
    kw_sampler_free(s);
}

static void test_top_p(void) {
    enum { DRAWS = 4000 };
    float l[4];
    logits_4(l);
    int counts[4];

    kw_sampler_params p = params_off(1.0f, 5);
    p.top_p = 0.75f; /* 0.5 < 0.75 <= 0.8: keeps ids 0 and 1 */
    kw_sampler *s = make(4, &p);
    draw(s, l, DRAWS, counts, 4);
    CHECK(counts[2] == 0 && counts[3] == 0, "top-p 0.75 never draws ids 2, 3 (%d, %d)", counts[2],
          counts[3]);
    CHECK(counts[0] > 0 && counts[1] > 0, "top-p 0.75 draws ids 0 and 1 (%d, %d)", counts[0],
          counts[1]);
    double pr[2] = {0.5 / 0.8, 0.3 / 0.8};
    double chi = chi_square(counts, pr, 2, DRAWS);
    CHECK(chi < 10.83, "top-p keeps the 5:3 ratio of ids 0 and 1 (chi-square %.2f < 10.83)", chi);
    kw_sampler_free(s);

    p.top_p = 0.85f; /* 0.8 < 0.85 <= 0.95: keeps ids 0, 1, 2 */
    s = make(4, &p);
    draw(s, l, DRAWS, counts, 4);
    CHECK(counts[3] == 0 && counts[2] > 0, "top-p 0.85 draws id 2 (%d) but never id 3 (%d)",
          counts[2], counts[3]);
    kw_sampler_free(s);

    p.top_p = 0.0f; /* keeps just the best one */
    s = make(4, &p);
    draw(s, l, 200, counts, 4);
    CHECK(counts[0] == 200, "top-p 0 always draws the best id (%d of 200)", counts[0]);
    kw_sampler_free(s);

    p.top_p = 0.75f; /* after top-k the order of stages matters: top-p sees renormalized probs */
    p.top_k = 2;     /* ids 0, 1 with probs 0.625, 0.375: 0.75 needs both */
    s = make(4, &p);
    draw(s, l, DRAWS, counts, 4);
    CHECK(counts[0] > 0 && counts[1] > 0 && counts[2] + counts[3] == 0,
          "top-k 2 then top-p 0.75 draws ids 0 and 1 only (%d, %d, %d, %d)", counts[0], counts[1],
          counts[2], counts[3]);
    kw_sampler_free(s);
}

/* top-p without top-k over 1000 ids: the nucleus is found by sorting growing best-k prefixes
 * (64, 128, ...); check the kept set against a plain reference for a small and a large nucleus. */
static void test_top_p_large_vocab(void) {
    enum { N = 1000, DRAWS = 3000 };
    static float logits[N];
    static int counts[N];
    for (int j = 0; j < N; j++)
        logits[j] = -0.01f * (float)((j * 7919) % N); /* rank of j */
    const float tops[2] = {0.3f, 0.8f};
    for (int t = 0; t < 2; t++) {
        double total = 0, cum = 0;
        for (int r = 0; r < N; r++)
            total += exp(-0.01 * r);
        int r_keep = N;
        for (int r = 0; r < N; r++) {
            cum += exp(-0.01 * r);
            if (cum >= tops[t] * total) {
                r_keep = r + 1;
                break;
            }
        }
        kw_sampler_params p = params_off(1.0f, 11);
        p.top_p = tops[t];
        kw_sampler *s = make(N, &p);
        draw(s, logits, DRAWS, counts, N);
        int max_rank = -1;
        for (int j = 0; j < N; j++)
            if (counts[j] && (j * 7919) % N > max_rank) max_rank = (j * 7919) % N;
        CHECK(max_rank <= r_keep && max_rank >= r_keep - 6,
              "top-p %.1f keeps ranks 0..%d of 1000: highest rank drawn %d", (double)tops[t],
              r_keep - 1, max_rank);
        kw_sampler_free(s);
    }
}

static void test_min_p(void) {
    enum { DRAWS = 4000 };
    float l[4];
    logits_4(l);
    int counts[4];
    kw_sampler_params p = params_off(1.0f, 9);
    p.min_p = 0.2f; /* threshold 0.1: keeps 0, 1, 2 */
    kw_sampler *s = make(4, &p);
    draw(s, l, DRAWS, counts, 4);
    CHECK(counts[3] == 0 && counts[2] > 0, "min-p 0.2 draws id 2 (%d) but never id 3 (%d)",
          counts[2], counts[3]);
    kw_sampler_free(s);

    p.min_p = 0.7f; /* threshold 0.35: keeps only id 0 */
    s = make(4, &p);
    draw(s, l, 500, counts, 4);
    CHECK(counts[0] == 500, "min-p 0.7 draws only id 0 (%d of 500)", counts[0]);
    kw_sampler_free(s);

    p.min_p = 0.5f;       /* threshold 0.25: keeps ids 0, 1 */
    p.temperature = 5.0f; /* temperature comes after min-p: it cannot bring id 2 back */
    s = make(4, &p);
    draw(s, l, DRAWS, counts, 4);
    CHECK(counts[0] > 0 && counts[1] > 0 && counts[2] + counts[3] == 0,
          "min-p 0.5 at temperature 5 draws ids 0 and 1 only (%d, %d, %d, %d)", counts[0],
          counts[1], counts[2], counts[3]);
    kw_sampler_free(s);
}

static void test_penalties(void) {
    enum { N = 8 };
    const float logits[N] = {1.0f, 2.0f, -1.0f, 4.0f, 0.5f, -2.0f, 3.0f, 0.0f};
    float out[N];
    kw_sampler_params p = params_off(0.0f, 1);
    p.repeat_penalty = 2.0f;
    p.frequency_penalty = 0.5f;
    p.presence_penalty = 1.0f;
    p.repeat_last_n = 64;
    kw_sampler *s = make(N, &p);
    kw_sampler_accept(s, 3);
    kw_sampler_accept(s, 3);
    kw_sampler_accept(s, 5);
    kw_sampler_accept(s, -4);  /* out of range: ignored */
    kw_sampler_accept(s, 800); /* out of range: ignored */
    sampler_apply_penalties(s, logits, out);
    CHECK(out[3] == 4.0f / 2 - 2 * 0.5f - 1.0f, "id 3 seen twice: 4/2 - 2*0.5 - 1 = 0, got %g",
          (double)out[3]);
    CHECK(out[5] == -2.0f * 2 - 0.5f - 1.0f, "id 5 seen once: -2*2 - 0.5 - 1 = -5.5, got %g",
          (double)out[5]);
    int unchanged = 0;
    for (int i = 0; i < N; i++)
        if (i != 3 && i != 5) unchanged += out[i] == logits[i];
    CHECK(unchanged == N - 2, "the %d ids never accepted keep their logits (%d do)", N - 2,
          unchanged);
    CHECK(kw_sampler_sample(s, logits) == 6, "greedy after penalties picks id 6 instead of id 3");
    float copy[N];
    memcpy(copy, logits, sizeof copy);
    kw_sampler_sample(s, copy);
    CHECK(memcmp(copy, logits, sizeof copy) == 0, "sampling does not modify the caller's logits");
    kw_sampler_reset(s);
    sampler_apply_penalties(s, logits, out);
    CHECK(memcmp(out, logits, sizeof out) == 0, "after reset no logit is penalized");
    kw_sampler_free(s);

    /* The window: only the last 2 accepted ids count. */
    p.repeat_last_n = 2;
    p.frequency_penalty = p.presence_penalty = 0.0f;
    s = make(N, &p);
    const kw_token hist[4] = {0, 1, 6, 1};
    for (int i = 0; i < 4; i++)
        kw_sampler_accept(s, hist[i]);
    sampler_apply_penalties(s, logits, out);
    CHECK(out[0] == logits[0], "id 0 left the window of 2: unpenalized (%g)", (double)out[0]);
    CHECK(out[1] == 1.0f && out[6] == 1.5f,
          "ids 1 and 6 in the window: 2/2 = 1 (%g), 3/2 = 1.5 (%g)", (double)out[1],
          (double)out[6]);
    kw_sampler_free(s);

    /* -1: the whole history; 0: off. */
    p.repeat_last_n = -1;
    s = make(N, &p);
    for (int i = 0; i < 300; i++)
        kw_sampler_accept(s, i == 0 ? 0 : 4);
    sampler_apply_penalties(s, logits, out);
    CHECK(out[0] == 0.5f && out[4] == 0.25f, "window -1 keeps id 0 from 300 tokens ago (%g, %g)",
          (double)out[0], (double)out[4]);
    kw_sampler_free(s);
    p.repeat_last_n = 0;
    s = make(N, &p);
    kw_sampler_accept(s, 3);
    sampler_apply_penalties(s, logits, out);
    CHECK(out[3] == logits[3], "window 0 turns penalties off (%g)", (double)out[3]);
    kw_sampler_free(s);
}

static void test_seeds(void) {
    enum { N = 64, T = 200 };
    float logits[N];
    for (int i = 0; i < N; i++)
        logits[i] = (float)(i % 7) * 0.1f;
    kw_token a[T], b[T], c[T], d[T];
    kw_sampler_params p = params_off(1.0f, 1234);
    p.top_k = 50;
    p.top_p = 0.9f;
    kw_sampler *s1 = make(N, &p), *s2 = make(N, &p);
    p.seed = 1235;
    kw_sampler *s3 = make(N, &p);
    for (int i = 0; i < T; i++) {
        a[i] = kw_sampler_sample(s1, logits);
        b[i] = kw_sampler_sample(s2, logits);
        c[i] = kw_sampler_sample(s3, logits);
    }
    CHECK(memcmp(a, b, sizeof a) == 0, "the same seed gives the same %d tokens", T);
    int differ = 0;
    for (int i = 0; i < T; i++)
        differ += a[i] != c[i];
    CHECK(differ > T / 2, "seeds 1234 and 1235 differ in %d of %d tokens (> %d)", differ, T, T / 2);
    kw_sampler_reset(s1);
    for (int i = 0; i < T; i++)
        d[i] = kw_sampler_sample(s1, logits);
    CHECK(memcmp(a, d, sizeof a) == 0, "reset restarts the random sequence from the seed");
    kw_sampler_free(s1);
    kw_sampler_free(s2);
    kw_sampler_free(s3);
}

static void test_no_alloc_per_token(void) {
    enum { N = 32000 };
    float *logits = malloc(N * sizeof *logits);
    uint64_t x = 99;
    for (int i = 0; i < N; i++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        logits[i] = (float)((x >> 33) % 20000) / 1000.0f;
    }
    kw_sampler_params p = kw_sampler_default_params(); /* top-k 40, top-p, min-p, temp 0.8 */
    p.repeat_penalty = 1.1f;
    p.frequency_penalty = 0.1f;
    p.presence_penalty = 0.1f;
    kw_sampler *s = make(N, &p);
    uint64_t before = kw_alloc_count();
    int in_range = 0;
    for (int i = 0; i < 1000; i++) {
        kw_token t = kw_sampler_sample(s, logits);
        in_range += t >= 0 && t < N;
        kw_sampler_accept(s, t);
    }
    CHECK(kw_alloc_count() == before, "1000 samples allocate nothing (%llu allocations)",
          (unsigned long long)(kw_alloc_count() - before));
    CHECK(in_range == 1000, "all 1000 sampled ids are in range (%d)", in_range);
    kw_sampler_free(s);

    /* top-p without top-k sorts the whole vocabulary: still no allocation. */
    p.top_k = 0;
    s = make(N, &p);
    before = kw_alloc_count();
    for (int i = 0; i < 20; i++)
        kw_sampler_accept(s, kw_sampler_sample(s, logits));
    CHECK(kw_alloc_count() == before, "top-p over the full vocabulary allocates nothing");
    kw_sampler_free(s);
    free(logits);
}

static void test_bad_params(void) {
    kw_sampler *s = NULL;
    kw_sampler_params p = kw_sampler_default_params();
    CHECK(sampler_create_n_vocab(0, &p, &s) == KW_ERR_INVALID_ARG && !s, "n_vocab 0 is rejected");
    CHECK(strstr(kw_last_error(), "n_vocab") != NULL, "the message names n_vocab: %s",
          kw_last_error());
    p.repeat_last_n = -2;
    CHECK(sampler_create_n_vocab(10, &p, &s) == KW_ERR_INVALID_ARG && !s,
          "repeat_last_n -2 is rejected");
    p = kw_sampler_default_params();
    p.top_p = NAN;
    CHECK(sampler_create_n_vocab(10, &p, &s) == KW_ERR_INVALID_ARG && !s,
          "a NaN top_p is rejected");
    CHECK(kw_sampler_sample(NULL, NULL) == KW_TOKEN_NONE,
          "sampling with a NULL sampler gives KW_TOKEN_NONE");
    kw_sampler_free(NULL);
    CHECK(sampler_create_n_vocab(5, NULL, &s) == KW_OK && sampler_n_vocab(s) == 5,
          "NULL params take the defaults");
    float all_masked[5] = {-INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY};
    CHECK(kw_sampler_sample(s, all_masked) == 0,
          "all logits -inf gives the lowest id, not garbage");
    kw_sampler_free(s);
}

int main(void) {
    RUN_TEST(test_greedy);
    RUN_TEST(test_top_k_1_is_greedy);
    RUN_TEST(test_distribution);
    RUN_TEST(test_top_k);
    RUN_TEST(test_top_p);
    RUN_TEST(test_top_p_large_vocab);
    RUN_TEST(test_min_p);
    RUN_TEST(test_penalties);
    RUN_TEST(test_seeds);
    RUN_TEST(test_no_alloc_per_token);
    RUN_TEST(test_bad_params);
    return test_report();
}
