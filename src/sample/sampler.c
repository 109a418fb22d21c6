/* sampler.c - the token sampler chain: grammar -> penalties -> top-k -> top-p -> min-p ->
 * temperature -> draw.
 *
 * Relies on: base (kw_calloc, kw_error) and the grammar engine (grammar/grammar.h: the
 * allowed-token bitset of a parse state). Does not know about models: kw_sampler_create (which
 * asks the model for n_vocab) lives in sampler_model.c so tests can build a sampler from a bare
 * vocabulary size with sampler_create_n_vocab().
 *
 * Must not: allocate, sort the whole vocabulary when top-k is on, or modify the caller's logits.
 * Every buffer is sized from n_vocab when the sampler is created; sampling a token costs O(n_vocab)
 * plus O(n_vocab log k) for top-k (a k-element heap); top-p without top-k sorts growing best-k
 * prefixes (64, 128, ...) until they hold the nucleus, and the whole vocabulary only if needed.
 *
 * Penalty history: the last repeat_last_n accepted ids live in a ring; count[id] says how often id
 * occurs in that window and distinct[] lists the ids with count > 0, so applying the penalties
 * touches only those ids (O(window) at worst) and accepting a token is O(1).
 *
 * Randomness: xoshiro256** seeded through splitmix64 from params.seed, so the same seed, logits and
 * history give the same tokens on every machine.
 */
#include "sample/sample.h"

#include "base/base.h"
#include "grammar/grammar.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------------------------------
 * State
 * ---------------------------------------------------------------------------------------------- */

typedef struct sampler_cand {
    float logit; /* penalized logit; NaN in the input becomes -inf */
    int32_t id;
} sampler_cand;

struct kw_sampler {
    kw_sampler_params p;
    int32_t n_vocab;    /* e.g. 151936 */
    sampler_cand *cand; /* (n_vocab) candidates of the current draw */
    float *prob;        /* (n_vocab) unnormalized probabilities of the surviving candidates */
    int32_t *count;     /* (n_vocab) occurrences of each id in the penalty window */
    int32_t *distinct;  /* (n_vocab) ids with count > 0, unordered; n_distinct of them */
    int32_t *where;     /* (n_vocab) index of id in distinct[], -1 when absent */
    int32_t n_distinct;
    kw_token *ring;   /* (ring_cap) the window, oldest at ring_head; NULL for -1 or 0 */
    int32_t ring_cap; /* = repeat_last_n when > 0 */
    int32_t ring_n;   /* ids currently in the ring (<= ring_cap) */
    int32_t ring_head;
    uint64_t rng[4];          /* xoshiro256** state */
    kw_grammar *grammar;      /* owned; NULL: no grammar stage */
    kw_grammar_state *gstate; /* owned, the parse state of this sampler's sequence */
    kw_token last_sampled;    /* what kw_sampler_sample returned, until it is accepted */
    bool grammar_failed;      /* an accepted token was rejected: every later sample fails */
};

void sampler_set_grammar(kw_sampler *s, kw_grammar *g, kw_grammar_state *st) {
    s->grammar = g;
    s->gstate = st;
    s->last_sampled = KW_TOKEN_NONE;
    s->p.grammar = NULL; /* the text was compiled; the caller's pointer is not kept */
    s->p.grammar_root = NULL;
}

bool kw_sampler_grammar_accepting(const kw_sampler *s) {
    return !s || !s->gstate || (!s->grammar_failed && kw_grammar_state_accepting(s->gstate));
}

/* ------------------------------------------------------------------------------------------------
 * Random numbers
 * ---------------------------------------------------------------------------------------------- */

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t rng_next(uint64_t s[4]) {
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

static void rng_seed(uint64_t s[4], uint64_t seed) {
    uint64_t x = seed;
    for (int i = 0; i < 4; i++)
        s[i] = splitmix64(&x);
}

/* Uniform in [0, 1) with 53 random bits. */
static double rng_uniform(uint64_t s[4]) { return (double)(rng_next(s) >> 11) * 0x1.0p-53; }

/* ------------------------------------------------------------------------------------------------
 * Create / free / history
 * ---------------------------------------------------------------------------------------------- */

kw_sampler_params kw_sampler_default_params(void) {
    kw_sampler_params p = {
        .temperature = 0.8f,
        .top_k = 40,
        .top_p = 0.95f,
        .min_p = 0.05f,
        .repeat_penalty = 1.0f,
        .repeat_last_n = 64,
        .presence_penalty = 0.0f,
        .frequency_penalty = 0.0f,
        .seed = 0,
    };
    return p;
}

kw_status sampler_create_n_vocab(int32_t n_vocab, const kw_sampler_params *params,
                                 kw_sampler **out) {
    if (!out) return kw_error(KW_ERR_INVALID_ARG, "sampler: out is NULL");
    kw_sampler_params p = params ? *params : kw_sampler_default_params();
    if (n_vocab < 1)
        return kw_error(KW_ERR_INVALID_ARG, "sampler: n_vocab is %d, need >= 1", n_vocab);
    if (p.repeat_last_n < -1 || p.repeat_last_n > SAMPLER_MAX_WINDOW)
        return kw_error(KW_ERR_INVALID_ARG,
                        "sampler: repeat_last_n is %d, need -1 (whole history), 0 (off) or 1..%d",
                        p.repeat_last_n, SAMPLER_MAX_WINDOW);
    if (isnan(p.temperature) || isnan(p.top_p) || isnan(p.min_p) || isnan(p.repeat_penalty) ||
        isnan(p.presence_penalty) || isnan(p.frequency_penalty))
        return kw_error(KW_ERR_INVALID_ARG, "sampler: a parameter is NaN");
    if (!(p.repeat_penalty > 0.0f) || isinf(p.repeat_penalty))
        return kw_error(KW_ERR_INVALID_ARG,
                        "sampler: repeat_penalty is %g, need a finite value > 0",
                        (double)p.repeat_penalty);

    kw_sampler *s = kw_calloc(1, sizeof *s, "sampler");
    if (!s) return KW_ERR_NOMEM;
    s->p = p;
    s->p.grammar = NULL; /* compiled by kw_sampler_create, never kept as text */
    s->p.grammar_root = NULL;
    s->last_sampled = KW_TOKEN_NONE;
    s->n_vocab = n_vocab;
    size_t n = (size_t)n_vocab;
    s->cand = kw_malloc(n * sizeof *s->cand, "sampler candidates");
    s->prob = kw_malloc(n * sizeof *s->prob, "sampler probabilities");
    s->count = kw_calloc(n, sizeof *s->count, "sampler penalty counts");
    s->distinct = kw_malloc(n * sizeof *s->distinct, "sampler penalty ids");
    s->where = kw_malloc(n * sizeof *s->where, "sampler penalty index");
    if (p.repeat_last_n > 0) {
        s->ring_cap = p.repeat_last_n;
        s->ring = kw_malloc((size_t)s->ring_cap * sizeof *s->ring, "sampler penalty window");
    }
    if (!s->cand || !s->prob || !s->count || !s->distinct || !s->where ||
        (p.repeat_last_n > 0 && !s->ring)) {
        kw_sampler_free(s);
        return KW_ERR_NOMEM;
    }
    for (int32_t i = 0; i < n_vocab; i++)
        s->where[i] = -1;
    rng_seed(s->rng, p.seed);
    *out = s;
    return KW_OK;
}

void kw_sampler_free(kw_sampler *s) {
    if (!s) return;
    free(s->cand);
    free(s->prob);
    free(s->count);
    free(s->distinct);
    free(s->where);
    free(s->ring);
    kw_grammar_state_free(s->gstate);
    kw_grammar_free(s->grammar);
    free(s);
}

int32_t sampler_n_vocab(const kw_sampler *s) { return s ? s->n_vocab : 0; }

static void count_add(kw_sampler *s, kw_token t) {
    if (s->count[t]++ == 0) {
        s->where[t] = s->n_distinct;
        s->distinct[s->n_distinct++] = t;
    }
}

static void count_remove(kw_sampler *s, kw_token t) {
    if (--s->count[t] == 0) {
        int32_t i = s->where[t], last = s->distinct[--s->n_distinct];
        s->distinct[i] = last;
        s->where[last] = i;
        s->where[t] = -1;
    }
}

/* Ids outside [0, n_vocab) are ignored: they cannot be penalized and must not index the arrays. */
void kw_sampler_accept(kw_sampler *s, kw_token token) {
    if (!s || token < 0 || token >= s->n_vocab) return;
    if (s->gstate && token == s->last_sampled) {
        s->last_sampled = KW_TOKEN_NONE;
        if (kw_grammar_state_accept(s->gstate, token) != KW_OK) s->grammar_failed = true;
    }
    if (s->p.repeat_last_n == 0) return;
    if (s->ring) {
        if (s->ring_n == s->ring_cap) { /* the window is full: the oldest id leaves it */
            count_remove(s, s->ring[s->ring_head]);
            s->ring[s->ring_head] = token;
            s->ring_head = (s->ring_head + 1) % s->ring_cap;
        } else {
            s->ring[(s->ring_head + s->ring_n) % s->ring_cap] = token;
            s->ring_n++;
        }
    }
    count_add(s, token);
}

/* Forgets the history and restarts the random sequence from the seed, so that a reset sampler
 * repeats exactly what a fresh one would do. */
void kw_sampler_reset(kw_sampler *s) {
    if (!s) return;
    for (int32_t i = 0; i < s->n_distinct; i++) {
        s->count[s->distinct[i]] = 0;
        s->where[s->distinct[i]] = -1;
    }
    s->n_distinct = 0;
    s->ring_n = 0;
    s->ring_head = 0;
    rng_seed(s->rng, s->p.seed);
    if (s->gstate) {
        kw_grammar_state_reset(s->gstate);
        s->grammar_failed = false;
        s->last_sampled = KW_TOKEN_NONE;
    }
}

/* ------------------------------------------------------------------------------------------------
 * Penalties
 * ---------------------------------------------------------------------------------------------- */

/* Repeat penalty as llama.cpp applies it (divide positive logits, multiply negative ones, so the
 * token always becomes less likely), then OpenAI's frequency (per occurrence) and presence (once)
 * penalties. c >= 1. */
static float penalize(const kw_sampler_params *p, float logit, int32_t c) {
    if (p->repeat_penalty != 1.0f)
        logit = logit > 0.0f ? logit / p->repeat_penalty : logit * p->repeat_penalty;
    return logit - (float)c * p->frequency_penalty - p->presence_penalty;
}

static bool penalties_on(const kw_sampler_params *p) {
    return p->repeat_last_n != 0 && (p->repeat_penalty != 1.0f || p->frequency_penalty != 0.0f ||
                                     p->presence_penalty != 0.0f);
}

void sampler_apply_penalties(const kw_sampler *s, const float *logits, float *out) {
    memcpy(out, logits, (size_t)s->n_vocab * sizeof *out);
    if (!penalties_on(&s->p)) return;
    for (int32_t i = 0; i < s->n_distinct; i++) {
        int32_t t = s->distinct[i];
        out[t] = penalize(&s->p, out[t], s->count[t]);
    }
}

/* ------------------------------------------------------------------------------------------------
 * Ordering: a candidate is better when its logit is higher, or equal with a lower id, so that every
 * stage is deterministic on ties.
 * ---------------------------------------------------------------------------------------------- */

static bool better(sampler_cand a, sampler_cand b) {
    return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
}

/* Sifts c[i] down a heap of n whose root is the WORST candidate. */
static void heap_sift(sampler_cand *c, int32_t n, int32_t i) {
    sampler_cand x = c[i];
    for (;;) {
        int32_t child = 2 * i + 1;
        if (child >= n) break;
        if (child + 1 < n && better(c[child], c[child + 1])) child++;
        if (!better(x, c[child])) break;
        c[i] = c[child];
        i = child;
    }
    c[i] = x;
}

static void heap_build(sampler_cand *c, int32_t n) {
    for (int32_t i = n / 2 - 1; i >= 0; i--)
        heap_sift(c, n, i);
}

/* Turns a worst-at-root heap into an array sorted best first. */
static void heap_sort(sampler_cand *c, int32_t n) {
    for (int32_t end = n - 1; end > 0; end--) {
        sampler_cand t = c[0];
        c[0] = c[end];
        c[end] = t;
        heap_sift(c, end, 0);
    }
}

/* Moves the k best of c[0..n) into c[0..k), sorted best first; c stays a permutation, so the
 * call may be repeated with a larger k. 0 < k < n. */
static void top_k(sampler_cand *c, int32_t n, int32_t k) {
    heap_build(c, k);
    for (int32_t i = k; i < n; i++) {
        if (better(c[i], c[0])) {
            sampler_cand t = c[0];
            c[0] = c[i];
            c[i] = t;
            heap_sift(c, k, 0);
        }
    }
    heap_sort(c, k);
}

/* ------------------------------------------------------------------------------------------------
 * Sampling
 * ---------------------------------------------------------------------------------------------- */

static kw_token sample_chain(kw_sampler *s, const float *logits);

kw_token kw_sampler_sample(kw_sampler *s, const float *logits) {
    if (!s || !logits) return KW_TOKEN_NONE;
    kw_token t = sample_chain(s, logits);
    s->last_sampled = t;
    return t;
}

static kw_token sample_chain(kw_sampler *s, const float *logits) {
    const kw_sampler_params *p = &s->p;
    sampler_cand *c = s->cand;
    int32_t n = s->n_vocab;

    if (s->gstate) {
        /* Stage 1, the grammar: only the allowed ids become candidates. */
        if (s->grammar_failed) {
            kw_error(KW_ERR_INVALID_ARG, "sampler: the grammar rejected an accepted token");
            return KW_TOKEN_NONE;
        }
        const uint8_t *bits = grammar_state_allowed(s->gstate);
        if (!bits) return KW_TOKEN_NONE;
        int32_t m = 0;
        for (int32_t i = 0; i < n; i++) {
            if (!(bits[i >> 3] & (1u << (i & 7)))) continue;
            float l = isnan(logits[i]) ? -INFINITY : logits[i];
            if (penalties_on(p) && s->count[i] > 0) l = penalize(p, l, s->count[i]);
            c[m].logit = l;
            c[m].id = i;
            m++;
        }
        if (m == 0) {
            kw_error(KW_ERR_INVALID_ARG, "sampler: grammar dead end, no token can continue");
            return KW_TOKEN_NONE;
        }
        n = m;
    } else {
        for (int32_t i = 0; i < n; i++) {
            c[i].logit = isnan(logits[i]) ? -INFINITY : logits[i];
            c[i].id = i;
        }
        if (penalties_on(p)) {
            for (int32_t i = 0; i < s->n_distinct; i++) {
                int32_t t = s->distinct[i];
                c[t].logit = penalize(p, c[t].logit, s->count[t]);
            }
        }
    }

    /* The best candidate: the answer for greedy decoding, and the reference of every later stage.
     */
    int32_t best = 0;
    for (int32_t i = 1; i < n; i++)
        if (c[i].logit > c[best].logit) best = i; /* strict: the lowest id wins ties */
    if (p->temperature <= 0.0f || !(c[best].logit > -INFINITY)) return c[best].id;

    bool sorted = false;
    if (p->top_k > 0 && p->top_k < n) {
        top_k(c, n, p->top_k);
        n = p->top_k;
        sorted = true;
    }

    if (p->top_p < 1.0f) {
        /* Keep the smallest best-first prefix whose probability (at temperature 1) reaches top_p.
         */
        float max_logit = sorted ? c[0].logit : c[best].logit;
        double total = 0.0;
        for (int32_t i = 0; i < n; i++)
            total += expf(c[i].logit - max_logit);
        double target = (double)p->top_p * total;
        if (!sorted) {
            /* Without top-k, sorting the whole vocabulary per token is slow (~30 ms for 150k ids):
             * the nucleus is usually small, so sort the best 64, 128, ... until their mass
             * reaches the target, and fall back to a full sort only when it never does. */
            for (int32_t k = 64;; k = k > n / 2 ? n : 2 * k) {
                if (k >= n) {
                    heap_build(c, n);
                    heap_sort(c, n);
                    break;
                }
                top_k(c, n, k);
                double mass = 0.0;
                for (int32_t i = 0; i < k; i++)
                    mass += expf(c[i].logit - max_logit);
                if (mass >= target) {
                    n = k;
                    break;
                }
            }
            sorted = true;
        }
        double cum = 0.0;
        int32_t keep = n;
        for (int32_t i = 0; i < n; i++) {
            cum += expf(c[i].logit - max_logit);
            if (cum >= target) {
                keep = i + 1;
                break;
            }
        }
        n = keep;
    }

    if (p->min_p > 0.0f) {
        /* p_i >= min_p * p_max  <=>  logit_i >= max_logit + ln(min_p). */
        float max_logit = sorted ? c[0].logit : c[best].logit;
        float threshold = p->min_p >= 1.0f ? max_logit : max_logit + logf(p->min_p);
        int32_t kept = 0;
        for (int32_t i = 0; i < n; i++)
            if (c[i].logit >= threshold) c[kept++] = c[i];
        n = kept; /* the maximum always passes, so n >= 1 */
    }

    /* Temperature, softmax and the draw. */
    float max_logit = c[0].logit;
    for (int32_t i = 1; i < n; i++)
        if (c[i].logit > max_logit) max_logit = c[i].logit;
    double sum = 0.0;
    for (int32_t i = 0; i < n; i++) {
        float d = c[i].logit - max_logit;
        s->prob[i] = d == -INFINITY ? 0.0f : expf(d / p->temperature);
        sum += s->prob[i];
    }
    double u = rng_uniform(s->rng) * sum, cum = 0.0;
    int32_t last = 0;
    for (int32_t i = 0; i < n; i++) {
        if (s->prob[i] <= 0.0f) continue;
        cum += s->prob[i];
        last = i;
        if (u < cum) return c[i].id;
    }
    return c[last].id; /* rounding left u at the very top */
}
