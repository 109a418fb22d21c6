/* minhash.c - near-duplicate candidates: character shingles, MinHash signatures, LSH banding,
 * exact Jaccard of shingle sets, and a union-find to group what is found.
 *
 * A document's shingles are the hashes of its runs of k Han characters (punctuation and the
 * line structure skipped, so "床前明月光，疑是地上霜" and "床前明月光疑是地上霜" agree). Its
 * signature is, for each of n_bands * n_rows hash functions h_i(x) = a_i x + b_i (mod 2^64, a_i
 * odd; the shingle hashes are already well mixed), the minimum over its shingles; two documents
 * agree on one value with probability equal to their Jaccard similarity J. LSH cuts the
 * signature into bands of n_rows values: a pair becomes a candidate when one band agrees
 * entirely, with probability 1 - (1 - J^r)^b (b = 32, r = 4: 0.9998 at J = 0.7, 0.87 at 0.5,
 * 0.05 at 0.2). Candidates are then judged by their exact Jaccard (mh_jaccard), so the threshold
 * the caller states is applied exactly; LSH only decides which pairs are looked at.
 *
 * Relies on base only. Work: one pass over the shingles per hash function, one sort per band.
 */
#include "train/data.h"

#include <stdlib.h>
#include <string.h>

static uint64_t mix64(uint64_t h) {
    h ^= h >> 30;
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 27;
    h *= 0x94d049bb133111ebull;
    return h ^ (h >> 31);
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* ---------------------------------------------------------------- shingles */

kw_status mh_shingles(const char *text, size_t len, int k, uint64_t **out, int32_t *n_out) {
    *out = NULL;
    *n_out = 0;
    if (k < 1) k = 1;
    size_t n_han = 0;
    uint32_t *han = kw_malloc((len + 1) * sizeof(*han), "shingle characters");
    if (!han) return KW_ERR_NOMEM;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        i += (size_t)kw_utf8_decode((const uint8_t *)text + i, len - i, &cp);
        if (data_is_han(cp)) han[n_han++] = cp;
    }
    if (n_han == 0) {
        free(han);
        return KW_OK;
    }
    size_t kk = n_han < (size_t)k ? n_han : (size_t)k; /* a text shorter than k: one shingle */
    size_t n = n_han - kk + 1;
    if (n > INT32_MAX) n = INT32_MAX;
    uint64_t *sh = kw_malloc(n * sizeof(*sh), "shingles");
    if (!sh) {
        free(han);
        return KW_ERR_NOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        uint64_t h = 0x9e3779b97f4a7c15ull;
        for (size_t j = 0; j < kk; j++)
            h = (h ^ han[i + j]) * 0x100000001b3ull;
        sh[i] = mix64(h);
    }
    free(han);
    qsort(sh, n, sizeof(*sh), cmp_u64);
    size_t u = 0;
    for (size_t i = 0; i < n; i++)
        if (u == 0 || sh[i] != sh[u - 1]) sh[u++] = sh[i];
    *out = sh;
    *n_out = (int32_t)u;
    return KW_OK;
}

double mh_jaccard(const uint64_t *a, int32_t na, const uint64_t *b, int32_t nb) {
    if (na == 0 && nb == 0) return 0;
    int32_t i = 0, j = 0, both = 0;
    while (i < na && j < nb) {
        if (a[i] == b[j]) {
            both++;
            i++;
            j++;
        } else if (a[i] < b[j]) {
            i++;
        } else {
            j++;
        }
    }
    return (double)both / (double)(na + nb - both);
}

/* ---------------------------------------------------------------- LSH */

typedef struct band_entry {
    uint64_t key;
    int64_t doc;
} band_entry;

static int cmp_entry(const void *a, const void *b) {
    const band_entry *x = a, *y = b;
    if (x->key != y->key) return x->key < y->key ? -1 : 1;
    return x->doc < y->doc ? -1 : x->doc > y->doc;
}

static int cmp_pair(const void *a, const void *b) {
    const int64_t *x = a, *y = b;
    if (x[0] != y[0]) return x[0] < y[0] ? -1 : 1;
    return x[1] < y[1] ? -1 : x[1] > y[1];
}

typedef struct pairs {
    int64_t *a; /* 2 per pair */
    int64_t n, cap;
} pairs;

static kw_status pairs_push(pairs *p, int64_t i, int64_t j) {
    if (p->n == p->cap) {
        int64_t cap = p->cap ? p->cap * 2 : 4096;
        int64_t *a = realloc(p->a, (size_t)cap * 2 * sizeof(*a));
        if (!a)
            return kw_error(KW_ERR_NOMEM, "out of memory for %lld candidate pairs", (long long)cap);
        p->a = a;
        p->cap = cap;
    }
    p->a[2 * p->n] = i;
    p->a[2 * p->n + 1] = j;
    p->n++;
    return KW_OK;
}

/* Signatures of every eligible document: n_hash values each, [doc * n_hash + i]. */
static uint64_t *signatures(const uint64_t *const *sh, const int32_t *n_sh, int64_t n_docs,
                            int n_hash, int32_t min_shingles, uint64_t seed) {
    uint64_t *sig = kw_malloc((size_t)n_docs * (size_t)n_hash * sizeof(*sig), "signatures");
    uint64_t *a = kw_malloc((size_t)n_hash * 2 * sizeof(*a), "hash parameters");
    if (!sig || !a) {
        free(sig);
        free(a);
        return NULL;
    }
    uint64_t s = seed ^ 0x5851f42d4c957f2dull;
    for (int i = 0; i < 2 * n_hash; i++) {
        s = mix64(s + 0x9e3779b97f4a7c15ull);
        a[i] = i % 2 == 0 ? (s | 1) : s;
    }
    for (int64_t d = 0; d < n_docs; d++) {
        uint64_t *out = sig + (size_t)d * (size_t)n_hash;
        for (int i = 0; i < n_hash; i++)
            out[i] = UINT64_MAX;
        if (n_sh[d] < min_shingles) continue;
        for (int32_t j = 0; j < n_sh[d]; j++) {
            uint64_t x = sh[d][j];
            for (int i = 0; i < n_hash; i++) {
                uint64_t h = a[2 * i] * x + a[2 * i + 1];
                out[i] = h < out[i] ? h : out[i];
            }
        }
    }
    free(a);
    return sig;
}

kw_status mh_candidates(const uint64_t *const *sh, const int32_t *n_sh, int64_t n_docs, int n_bands,
                        int n_rows, int32_t min_shingles, int32_t max_bucket, uint64_t seed,
                        int64_t **pairs_out, int64_t *n_pairs, int64_t *n_capped) {
    *pairs_out = NULL;
    *n_pairs = 0;
    *n_capped = 0;
    if (n_bands < 1 || n_rows < 1 || max_bucket < 2)
        return kw_error(KW_ERR_INVALID_ARG, "minhash: %d bands of %d rows, bucket cap %d", n_bands,
                        n_rows, max_bucket);
    int n_hash = n_bands * n_rows;
    uint64_t *sig = signatures(sh, n_sh, n_docs, n_hash, min_shingles, seed);
    band_entry *e = kw_malloc((size_t)(n_docs + 1) * sizeof(*e), "band entries");
    pairs p = {0};
    kw_status st = sig && e ? KW_OK : KW_ERR_NOMEM;
    for (int b = 0; b < n_bands && st == KW_OK; b++) {
        int64_t m = 0;
        for (int64_t d = 0; d < n_docs; d++) {
            if (n_sh[d] < min_shingles) continue;
            e[m].key = data_hash64(sig + (size_t)d * (size_t)n_hash + (size_t)b * (size_t)n_rows,
                                   (size_t)n_rows * sizeof(uint64_t), (uint64_t)b);
            e[m++].doc = d;
        }
        qsort(e, (size_t)m, sizeof(*e), cmp_entry);
        for (int64_t g = 0; g < m && st == KW_OK;) {
            int64_t h = g;
            while (h < m && e[h].key == e[g].key)
                h++;
            int64_t size = h - g;
            if (size > max_bucket) {
                *n_capped += size - max_bucket;
                size = max_bucket;
            }
            for (int64_t x = 0; x < size && st == KW_OK; x++)
                for (int64_t y = x + 1; y < size && st == KW_OK; y++)
                    st = pairs_push(&p, e[g + x].doc, e[g + y].doc);
            g = h;
        }
    }
    free(sig);
    free(e);
    if (st != KW_OK) {
        free(p.a);
        return st;
    }
    qsort(p.a, (size_t)p.n, 2 * sizeof(int64_t), cmp_pair);
    int64_t u = 0;
    for (int64_t i = 0; i < p.n; i++)
        if (u == 0 || p.a[2 * i] != p.a[2 * (u - 1)] || p.a[2 * i + 1] != p.a[2 * (u - 1) + 1]) {
            p.a[2 * u] = p.a[2 * i];
            p.a[2 * u + 1] = p.a[2 * i + 1];
            u++;
        }
    *pairs_out = p.a;
    *n_pairs = u;
    return KW_OK;
}

/* ---------------------------------------------------------------- union-find */

kw_status mh_uf_init(mh_uf *u, int64_t n) {
    u->parent = kw_malloc((size_t)(n > 0 ? n : 1) * sizeof(*u->parent), "union-find");
    if (!u->parent) return KW_ERR_NOMEM;
    for (int64_t i = 0; i < n; i++)
        u->parent[i] = i;
    u->n = n;
    return KW_OK;
}

int64_t mh_uf_find(mh_uf *u, int64_t x) {
    while (u->parent[x] != x) {
        u->parent[x] = u->parent[u->parent[x]];
        x = u->parent[x];
    }
    return x;
}

void mh_uf_union(mh_uf *u, int64_t a, int64_t b) {
    a = mh_uf_find(u, a);
    b = mh_uf_find(u, b);
    if (a == b) return;
    if (a < b)
        u->parent[b] = a;
    else
        u->parent[a] = b;
}

void mh_uf_free(mh_uf *u) {
    free(u->parent);
    u->parent = NULL;
    u->n = 0;
}

/* ---------------------------------------------------------------- shingle set */

static uint64_t set_key(uint64_t k) { return k ? k : 1; } /* 0 marks an empty slot */

kw_status mh_set_init(mh_set *s, int64_t expected) {
    uint64_t size = 1024;
    while (size < (uint64_t)expected * 2)
        size <<= 1;
    s->keys = kw_calloc(size, sizeof(*s->keys), "shingle set");
    s->vals = kw_malloc(size * sizeof(*s->vals), "shingle set");
    s->mask = size - 1;
    s->n = 0;
    return s->keys && s->vals ? KW_OK : KW_ERR_NOMEM;
}

int64_t mh_set_get(const mh_set *s, uint64_t key) {
    key = set_key(key);
    for (uint64_t i = mix64(key) & s->mask;; i = (i + 1) & s->mask) {
        if (s->keys[i] == 0) return -1;
        if (s->keys[i] == key) return s->vals[i];
    }
}

static void set_insert(uint64_t *keys, int64_t *vals, uint64_t mask, uint64_t key, int64_t val,
                       int64_t *n) {
    for (uint64_t i = mix64(key) & mask;; i = (i + 1) & mask) {
        if (keys[i] == key) return; /* the first value stays */
        if (keys[i] == 0) {
            keys[i] = key;
            vals[i] = val;
            (*n)++;
            return;
        }
    }
}

kw_status mh_set_put(mh_set *s, uint64_t key, int64_t val) {
    if ((uint64_t)(s->n + 1) * 2 > s->mask + 1) {
        uint64_t size = (s->mask + 1) * 2;
        uint64_t *keys = kw_calloc(size, sizeof(*keys), "shingle set");
        int64_t *vals = kw_malloc(size * sizeof(*vals), "shingle set");
        if (!keys || !vals) {
            free(keys);
            free(vals);
            return KW_ERR_NOMEM;
        }
        int64_t n = 0;
        for (uint64_t i = 0; i <= s->mask; i++)
            if (s->keys[i]) set_insert(keys, vals, size - 1, s->keys[i], s->vals[i], &n);
        free(s->keys);
        free(s->vals);
        s->keys = keys;
        s->vals = vals;
        s->mask = size - 1;
    }
    set_insert(s->keys, s->vals, s->mask, set_key(key), val, &s->n);
    return KW_OK;
}

void mh_set_free(mh_set *s) {
    free(s->keys);
    free(s->vals);
    memset(s, 0, sizeof(*s));
}
