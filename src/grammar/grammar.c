/* grammar.c - the grammar matcher: parse states, the token trie and allowed-token masks.
 *
 * Relies on: gbnf.c (the rule form), the model's token API (kw_token_to_piece, kw_token_is_eog,
 * kw_token_is_special), base.
 *
 * A parse position is a stack of element indices (the top is the next terminal to match, the
 * entries below are where each enclosing rule continues), as in llama.cpp's grammar sampler. The
 * state keeps the SET of stacks that the text so far allows (the grammar may be ambiguous).
 * Stacks are interned as persistent linked nodes (elem, parent) -> id in a per-state hash table,
 * so a stack is one int32 and a stack set is a small sorted array of ids; node 0 is the empty
 * stack (the text is a complete sentence).
 *
 * Masks: all token pieces sit in a byte trie laid out in depth-first order (node i's subtree is
 * [i, end[i])). The walk keeps one stack set per depth and advances it by one byte per node;
 * when a set dies, the whole subtree is skipped. Bytes are decoded as UTF-8 on the fly, so a
 * piece that ends inside a character is allowed when some stack can still match a character with
 * that prefix. Masks are cached per (stack set, partial character): inside a JSON string, say,
 * the set repeats and the walk is skipped. The cache and the node table belong to the state;
 * they grow (amortized) while new positions are met, never per token once warm.
 */
#include "grammar/grammar.h"

#include "base/base.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define GRAMMAR_CACHE 32 /* cached masks per state */

typedef struct trie_node {
    int32_t end;       /* one past the last node of this subtree */
    int32_t tok_first; /* index into tok_sorted of the tokens whose piece ends here */
    int32_t tok_n;
    uint8_t byte;
    uint16_t depth; /* 1 for children of the root */
} trie_node;

struct kw_grammar {
    gbnf g;
    const kw_model *model; /* borrowed; NULL: no token table */
    int32_t n_vocab;
    uint8_t *eog;       /* (n_vocab) 1 for end-of-generation ids */
    char *piece_bytes;  /* all pieces, concatenated */
    int64_t *piece_off; /* (n_vocab + 1) */
    trie_node *trie;    /* (n_trie) */
    int32_t n_trie;
    int32_t *tok_sorted; /* token ids in trie order */
    int32_t max_depth;
};

typedef struct snode {
    int32_t pos, parent;
} snode;

typedef struct sset {
    int32_t *v;
    int32_t n, cap;
} sset;

typedef struct mcache {
    uint64_t hash;
    int32_t *key; /* n_key ids + partial, owned */
    int32_t n_key, cap_key;
    uint8_t *bits; /* mask, owned */
    bool used;
} mcache;

struct kw_grammar_state {
    const kw_grammar *gr;
    snode *nodes;
    int32_t n_nodes, cap_nodes;
    int32_t *hash; /* (hash_cap) node ids, -1 empty */
    int32_t hash_cap;
    sset cur;           /* the current stack set (sorted) */
    uint32_t part_cp;   /* partial UTF-8 character: bits so far */
    int32_t part_rem;   /* continuation bytes still expected (0: none) */
    sset tmp, tmp2;     /* scratch */
    sset *depth_sets;   /* (max_depth + 1) sets of the trie walk */
    uint32_t *depth_cp; /* (max_depth + 1) */
    int32_t *depth_rem;
    mcache cache[GRAMMAR_CACHE];
    int32_t cache_next;
    kw_status err; /* KW_ERR_NOMEM once an allocation failed */
};

/* ------------------------------------------------------------------------------------------------
 * Stack nodes and sets
 * ---------------------------------------------------------------------------------------------- */

static uint32_t node_hash(int32_t pos, int32_t parent) {
    uint64_t x = ((uint64_t)(uint32_t)pos << 32) | (uint32_t)parent;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    return (uint32_t)x;
}

static bool hash_grow(kw_grammar_state *st) {
    int32_t cap = st->hash_cap ? 2 * st->hash_cap : 1024;
    int32_t *h = malloc((size_t)cap * sizeof *h);
    if (!h) return false;
    for (int32_t i = 0; i < cap; i++)
        h[i] = -1;
    for (int32_t id = 1; id < st->n_nodes; id++) {
        uint32_t k = node_hash(st->nodes[id].pos, st->nodes[id].parent) & (uint32_t)(cap - 1);
        while (h[k] >= 0)
            k = (k + 1) & (uint32_t)(cap - 1);
        h[k] = id;
    }
    free(st->hash);
    st->hash = h;
    st->hash_cap = cap;
    return true;
}

/* The id of stack (pos on top of parent); -1 when out of memory. */
static int32_t intern(kw_grammar_state *st, int32_t pos, int32_t parent) {
    if (st->n_nodes * 2 >= st->hash_cap && !hash_grow(st)) return st->err = KW_ERR_NOMEM, -1;
    uint32_t mask = (uint32_t)(st->hash_cap - 1);
    uint32_t k = node_hash(pos, parent) & mask;
    for (; st->hash[k] >= 0; k = (k + 1) & mask) {
        snode *n = &st->nodes[st->hash[k]];
        if (n->pos == pos && n->parent == parent) return st->hash[k];
    }
    if (st->n_nodes == st->cap_nodes) {
        int32_t cap = 2 * st->cap_nodes;
        snode *nn = realloc(st->nodes, (size_t)cap * sizeof *nn);
        if (!nn) return st->err = KW_ERR_NOMEM, -1;
        st->nodes = nn;
        st->cap_nodes = cap;
    }
    int32_t id = st->n_nodes++;
    st->nodes[id] = (snode){pos, parent};
    st->hash[k] = id;
    return id;
}

static bool sset_add(kw_grammar_state *st, sset *s, int32_t id) {
    for (int32_t i = 0; i < s->n; i++)
        if (s->v[i] == id) return true;
    if (s->n == s->cap) {
        int32_t cap = s->cap ? 2 * s->cap : 16;
        int32_t *nv = realloc(s->v, (size_t)cap * sizeof *nv);
        if (!nv) return st->err = KW_ERR_NOMEM, false;
        s->v = nv;
        s->cap = cap;
    }
    s->v[s->n++] = id;
    return true;
}

static void sset_sort(sset *s) {
    /* sets are tiny: insertion sort */
    for (int32_t i = 1; i < s->n; i++) {
        int32_t x = s->v[i], j = i;
        for (; j > 0 && s->v[j - 1] > x; j--)
            s->v[j] = s->v[j - 1];
        s->v[j] = x;
    }
}

static bool sset_copy(kw_grammar_state *st, sset *dst, const sset *src) {
    dst->n = 0;
    for (int32_t i = 0; i < src->n; i++)
        if (!sset_add(st, dst, src->v[i])) return false;
    return true;
}

/* Expands stack id until its top is a terminal (or it is empty), adding the results to out. */
static bool advance(kw_grammar_state *st, int32_t id, sset *out) {
    if (id == 0) return sset_add(st, out, 0);
    const gelem *el = st->gr->g.elems;
    int32_t pos = st->nodes[id].pos, parent = st->nodes[id].parent;
    if (gelem_is_char(el[pos].type)) return sset_add(st, out, id);
    /* G_RULE: replace the top by the continuation, then push each alternative */
    int32_t base = parent;
    if (!gelem_is_end(el[pos + 1].type)) {
        base = intern(st, pos + 1, parent);
        if (base < 0) return false;
    }
    int32_t a = st->gr->g.rule_start[el[pos].value];
    for (;;) {
        if (gelem_is_end(el[a].type)) {
            if (!advance(st, base, out)) return false;
        } else {
            int32_t n = intern(st, a, base);
            if (n < 0 || !advance(st, n, out)) return false;
        }
        while (!gelem_is_end(el[a].type))
            a++;
        if (el[a].type == G_END) break;
        a++;
    }
    return true;
}

/* Whether the class starting at elems[pos] matches code point c; *next gets the element after it.
 */
static bool class_match(const gelem *el, int32_t pos, uint32_t c, int32_t *next) {
    uint32_t t = el[pos].type;
    if (t == G_CHAR_ANY) {
        *next = pos + 1;
        return true;
    }
    bool in = false;
    int32_t i = pos;
    do {
        uint32_t lo = el[i].value, hi = lo;
        if (el[i + 1].type == G_CHAR_RNG_UPPER) {
            hi = el[i + 1].value;
            i++;
        }
        if (c >= lo && c <= hi) in = true;
        i++;
    } while (el[i].type == G_CHAR_ALT);
    *next = i;
    return t == G_CHAR_NOT ? !in : in;
}

/* Whether the class at pos matches some code point in [lo, hi] (for a partial character). */
static bool class_match_range(const gelem *el, int32_t pos, uint32_t lo, uint32_t hi) {
    uint32_t t = el[pos].type;
    if (t == G_CHAR_ANY) return true;
    bool covered = false, hit = false;
    int32_t i = pos;
    do {
        uint32_t a = el[i].value, b = a;
        if (el[i + 1].type == G_CHAR_RNG_UPPER) {
            b = el[i + 1].value;
            i++;
        }
        if (a <= hi && b >= lo) hit = true;
        if (a <= lo && b >= hi) covered = true;
        i++;
    } while (el[i].type == G_CHAR_ALT);
    /* negated: allowed unless one excluded range covers all of [lo, hi] (a union of several may
     * still cover it: then the next token finds no continuation and is masked out) */
    return t == G_CHAR_NOT ? !covered : hit;
}

/* out = the stacks of in after matching code point c (sorted). */
static bool accept_cp(kw_grammar_state *st, const sset *in, uint32_t c, sset *out) {
    const gelem *el = st->gr->g.elems;
    out->n = 0;
    for (int32_t i = 0; i < in->n; i++) {
        int32_t id = in->v[i];
        if (id == 0) continue;
        int32_t next;
        if (!class_match(el, st->nodes[id].pos, c, &next)) continue;
        int32_t parent = st->nodes[id].parent;
        int32_t n = gelem_is_end(el[next].type) ? parent : intern(st, next, parent);
        if (n < 0 || !advance(st, n, out)) return false;
    }
    sset_sort(out);
    return true;
}

/* Partial characters: cp holds the bits so far, rem the continuation bytes still expected. A
 * three-byte lead also sets CP_LEAD3 (its first continuation byte must rule out overlong forms and
 * surrogates, and a four-byte sequence also has rem == 2 after one continuation). Overlong forms,
 * surrogates and code points above U+10FFFF are rejected, as a UTF-8 decoder does. */
#define CP_LEAD3 0x80000000u

static bool partial_ok(const kw_grammar_state *st, const sset *in, uint32_t cp, int32_t rem) {
    bool lead3 = (cp & CP_LEAD3) != 0;
    cp &= ~CP_LEAD3;
    uint32_t lo = cp << (6 * rem), hi = lo | ((1u << (6 * rem)) - 1);
    if (lead3 && lo < 0x800) lo = 0x800;
    if (rem == 3) {
        if (lo < 0x10000) lo = 0x10000;
        if (hi > 0x10FFFF) hi = 0x10FFFF;
    }
    if (lo > hi) return false;
    for (int32_t i = 0; i < in->n; i++)
        if (in->v[i] != 0 && class_match_range(st->gr->g.elems, st->nodes[in->v[i]].pos, lo, hi))
            return true;
    return false;
}

/* Advances (in, cp, rem) by one byte into out; false when the byte is not allowed (or no
 * memory: st->err). */
static bool step_byte(kw_grammar_state *st, const sset *in, uint32_t cp, int32_t rem, uint8_t b,
                      sset *out, uint32_t *ocp, int32_t *orem) {
    if (rem == 0) {
        if (b < 0x80) {
            cp = b;
        } else if ((b & 0xE0) == 0xC0 && b >= 0xC2) {
            cp = b & 0x1F;
            rem = 1;
        } else if ((b & 0xF0) == 0xE0) {
            cp = (b & 0x0F) | CP_LEAD3;
            rem = 2;
        } else if ((b & 0xF8) == 0xF0 && b <= 0xF4) {
            cp = b & 0x07;
            rem = 3;
        } else {
            return false;
        }
    } else {
        if ((b & 0xC0) != 0x80) return false;
        if (cp & CP_LEAD3) {
            cp &= ~CP_LEAD3;
            if (cp == 0 && b < 0xA0) return false;    /* overlong */
            if (cp == 0x0D && b > 0x9F) return false; /* surrogate */
        } else if (rem == 3) {
            if (cp == 0 && b < 0x90) return false; /* overlong */
            if (cp == 4 && b > 0x8F) return false; /* above U+10FFFF */
        }
        cp = (cp << 6) | (b & 0x3F);
        rem--;
    }
    if (rem > 0) {
        if (!partial_ok(st, in, cp, rem)) return false;
        if (!sset_copy(st, out, in)) return false;
    } else {
        if (!accept_cp(st, in, cp, out) || out->n == 0) return false;
    }
    *ocp = cp;
    *orem = rem;
    return true;
}

/* ------------------------------------------------------------------------------------------------
 * Grammar create / free
 * ---------------------------------------------------------------------------------------------- */

static const kw_grammar *sort_gr; /* qsort context: only set during kw_grammar_create's sort */

static int cmp_piece(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    const kw_grammar *g = sort_gr;
    int64_t lx = g->piece_off[x + 1] - g->piece_off[x], ly = g->piece_off[y + 1] - g->piece_off[y];
    int64_t l = lx < ly ? lx : ly;
    int c = memcmp(g->piece_bytes + g->piece_off[x], g->piece_bytes + g->piece_off[y], (size_t)l);
    if (c) return c;
    if (lx != ly) return lx < ly ? -1 : 1;
    return (x > y) - (x < y);
}

static kw_status build_tokens(kw_grammar *gr) {
    int32_t n = kw_model_n_vocab(gr->model);
    gr->n_vocab = n;
    gr->eog = kw_calloc((size_t)n, 1, "grammar eog table");
    gr->piece_off = kw_malloc(((size_t)n + 1) * sizeof *gr->piece_off, "grammar piece offsets");
    if (!gr->eog || !gr->piece_off) return KW_ERR_NOMEM;
    size_t cap = (size_t)n * 8 + 64, len = 0;
    gr->piece_bytes = kw_malloc(cap, "grammar pieces");
    if (!gr->piece_bytes) return KW_ERR_NOMEM;
    char buf[512];
    for (int32_t t = 0; t < n; t++) {
        gr->piece_off[t] = (int64_t)len;
        gr->eog[t] = kw_token_is_eog(gr->model, t);
        if (gr->eog[t] || kw_token_is_special(gr->model, t)) continue;
        int32_t l = kw_token_to_piece(gr->model, t, buf, (int32_t)sizeof buf, false);
        if (l <= 0) continue;
        if (l > (int32_t)sizeof buf) continue; /* a piece over 512 bytes is never allowed */
        if (len + (size_t)l > cap) {
            size_t ncap = 2 * cap + (size_t)l;
            char *nb = realloc(gr->piece_bytes, ncap);
            if (!nb) return kw_error(KW_ERR_NOMEM, "grammar: out of memory for token pieces");
            gr->piece_bytes = nb;
            cap = ncap;
        }
        memcpy(gr->piece_bytes + len, buf, (size_t)l);
        len += (size_t)l;
    }
    gr->piece_off[n] = (int64_t)len;

    int32_t m = 0;
    gr->tok_sorted = kw_malloc((size_t)n * sizeof *gr->tok_sorted, "grammar token order");
    if (!gr->tok_sorted) return KW_ERR_NOMEM;
    for (int32_t t = 0; t < n; t++)
        if (gr->piece_off[t + 1] > gr->piece_off[t]) gr->tok_sorted[m++] = t;
    sort_gr = gr;
    qsort(gr->tok_sorted, (size_t)m, sizeof *gr->tok_sorted, cmp_piece);
    sort_gr = NULL;

    /* trie in depth-first order: at most one node per piece byte */
    size_t cap_nodes = (size_t)len + 1;
    gr->trie = kw_malloc(cap_nodes * sizeof *gr->trie, "grammar token trie");
    int32_t path[513]; /* node index per depth of the current path */
    if (!gr->trie) return KW_ERR_NOMEM;
    int32_t nn = 0, path_len = 0; /* path_len: depth of the current path */
    const char *prev = NULL;
    int64_t prev_len = 0;
    for (int32_t i = 0; i < m; i++) {
        int32_t t = gr->tok_sorted[i];
        const char *p = gr->piece_bytes + gr->piece_off[t];
        int64_t l = gr->piece_off[t + 1] - gr->piece_off[t];
        int64_t lcp = 0;
        while (prev && lcp < l && lcp < prev_len && p[lcp] == prev[lcp])
            lcp++;
        /* close the nodes deeper than the common prefix */
        while (path_len > lcp) {
            gr->trie[path[path_len - 1]].end = nn;
            path_len--;
        }
        for (int64_t d = lcp; d < l; d++) {
            gr->trie[nn] = (trie_node){.end = 0,
                                       .tok_first = 0,
                                       .tok_n = 0,
                                       .byte = (uint8_t)p[d],
                                       .depth = (uint16_t)(d + 1)};
            path[path_len++] = nn++;
        }
        trie_node *leaf = &gr->trie[path[path_len - 1]];
        if (leaf->tok_n == 0) leaf->tok_first = i;
        leaf->tok_n++;
        if ((int32_t)l > gr->max_depth) gr->max_depth = (int32_t)l;
        prev = p;
        prev_len = l;
    }
    while (path_len > 0) {
        gr->trie[path[path_len - 1]].end = nn;
        path_len--;
    }
    gr->n_trie = nn;
    return KW_OK;
}

kw_status kw_grammar_create(const kw_model *model, const char *gbnf_text, const char *root,
                            kw_grammar **out) {
    kw_error_clear();
    if (!out) return kw_error(KW_ERR_INVALID_ARG, "kw_grammar_create: out is NULL");
    *out = NULL;
    if (!gbnf_text) return kw_error(KW_ERR_INVALID_ARG, "kw_grammar_create: gbnf is NULL");
    kw_grammar *gr = kw_calloc(1, sizeof *gr, "grammar");
    if (!gr) return KW_ERR_NOMEM;
    kw_status st = gbnf_parse(gbnf_text, root, &gr->g);
    if (st == KW_OK && model) {
        gr->model = model;
        st = build_tokens(gr);
    }
    if (st != KW_OK) {
        kw_grammar_free(gr);
        return st;
    }
    *out = gr;
    return KW_OK;
}

void kw_grammar_free(kw_grammar *g) {
    if (!g) return;
    gbnf_free(&g->g);
    free(g->eog);
    free(g->piece_bytes);
    free(g->piece_off);
    free(g->trie);
    free(g->tok_sorted);
    free(g);
}

/* ------------------------------------------------------------------------------------------------
 * States
 * ---------------------------------------------------------------------------------------------- */

static bool state_init(kw_grammar_state *st) {
    const kw_grammar *gr = st->gr;
    st->cap_nodes = 256;
    st->nodes = malloc((size_t)st->cap_nodes * sizeof *st->nodes);
    if (!st->nodes || !hash_grow(st)) return false;
    st->nodes[0] = (snode){-1, -1};
    st->n_nodes = 1;
    if (gr->model) {
        int32_t d = gr->max_depth + 1;
        st->depth_sets = calloc((size_t)d, sizeof *st->depth_sets);
        st->depth_cp = calloc((size_t)d, sizeof *st->depth_cp);
        st->depth_rem = calloc((size_t)d, sizeof *st->depth_rem);
        if (!st->depth_sets || !st->depth_cp || !st->depth_rem) return false;
    }
    return true;
}

/* Sets cur to the start: every expansion of the root rule. */
static bool state_start(kw_grammar_state *st) {
    st->cur.n = 0;
    st->part_cp = 0;
    st->part_rem = 0;
    const gelem *el = st->gr->g.elems;
    int32_t a = st->gr->g.rule_start[st->gr->g.root];
    for (;;) {
        if (gelem_is_end(el[a].type)) {
            if (!sset_add(st, &st->cur, 0)) return false;
        } else {
            int32_t n = intern(st, a, 0);
            if (n < 0 || !advance(st, n, &st->cur)) return false;
        }
        while (!gelem_is_end(el[a].type))
            a++;
        if (el[a].type == G_END) break;
        a++;
    }
    sset_sort(&st->cur);
    return true;
}

void kw_grammar_state_reset(kw_grammar_state *st) {
    if (!st) return;
    if (!state_start(st)) st->cur.n = 0; /* out of memory: a dead state, reported by the mask */
}

kw_status kw_grammar_state_create(const kw_grammar *g, kw_grammar_state **out) {
    if (!g || !out) return kw_error(KW_ERR_INVALID_ARG, "kw_grammar_state_create: NULL argument");
    kw_grammar_state *st = calloc(1, sizeof *st);
    if (!st) return kw_error(KW_ERR_NOMEM, "grammar: out of memory for a state");
    st->gr = g;
    if (!state_init(st) || !state_start(st)) {
        kw_grammar_state_free(st);
        return kw_error(KW_ERR_NOMEM, "grammar: out of memory for a state");
    }
    *out = st;
    return KW_OK;
}

kw_status kw_grammar_state_clone(const kw_grammar_state *src, kw_grammar_state **out) {
    if (!src || !out) return kw_error(KW_ERR_INVALID_ARG, "kw_grammar_state_clone: NULL argument");
    kw_grammar_state *st = calloc(1, sizeof *st);
    if (!st) return kw_error(KW_ERR_NOMEM, "grammar: out of memory for a state");
    st->gr = src->gr;
    bool ok = state_init(st);
    if (ok && src->n_nodes > st->cap_nodes) {
        snode *nn = realloc(st->nodes, (size_t)src->cap_nodes * sizeof *nn);
        if (nn) {
            st->nodes = nn;
            st->cap_nodes = src->cap_nodes;
        } else {
            ok = false;
        }
    }
    if (ok) {
        memcpy(st->nodes, src->nodes, (size_t)src->n_nodes * sizeof *st->nodes);
        st->n_nodes = src->n_nodes;
        free(st->hash);
        st->hash = NULL;
        st->hash_cap = 0;
        while (ok && st->hash_cap <= 2 * st->n_nodes)
            ok = hash_grow(st);
        ok = ok && sset_copy(st, &st->cur, &src->cur);
        st->part_cp = src->part_cp;
        st->part_rem = src->part_rem;
    }
    if (!ok) {
        kw_grammar_state_free(st);
        return kw_error(KW_ERR_NOMEM, "grammar: out of memory cloning a state");
    }
    *out = st;
    return KW_OK;
}

void kw_grammar_state_free(kw_grammar_state *st) {
    if (!st) return;
    free(st->nodes);
    free(st->hash);
    free(st->cur.v);
    free(st->tmp.v);
    free(st->tmp2.v);
    if (st->depth_sets) {
        for (int32_t i = 0; i <= st->gr->max_depth; i++)
            free(st->depth_sets[i].v);
    }
    free(st->depth_sets);
    free(st->depth_cp);
    free(st->depth_rem);
    for (int i = 0; i < GRAMMAR_CACHE; i++) {
        free(st->cache[i].key);
        free(st->cache[i].bits);
    }
    free(st);
}

bool kw_grammar_state_accepting(const kw_grammar_state *st) {
    if (!st || st->part_rem) return false;
    for (int32_t i = 0; i < st->cur.n; i++)
        if (st->cur.v[i] == 0) return true;
    return false;
}

kw_status kw_grammar_state_accept_bytes(kw_grammar_state *st, const char *bytes, size_t n) {
    if (!st || (!bytes && n)) return kw_error(KW_ERR_INVALID_ARG, "grammar accept: NULL argument");
    if (!sset_copy(st, &st->tmp, &st->cur)) return kw_error(KW_ERR_NOMEM, "grammar: out of memory");
    uint32_t cp = st->part_cp;
    int32_t rem = st->part_rem;
    sset *a = &st->tmp, *b = &st->tmp2;
    for (size_t i = 0; i < n; i++) {
        if (!step_byte(st, a, cp, rem, (uint8_t)bytes[i], b, &cp, &rem)) {
            if (st->err) return kw_error(KW_ERR_NOMEM, "grammar: out of memory");
            return kw_error(KW_ERR_INVALID_ARG,
                            "grammar: byte %zu of %zu (0x%02x) is not allowed here", i + 1, n,
                            (unsigned)(uint8_t)bytes[i]);
        }
        sset *t = a;
        a = b;
        b = t;
    }
    if (!sset_copy(st, &st->cur, a)) return kw_error(KW_ERR_NOMEM, "grammar: out of memory");
    st->part_cp = cp;
    st->part_rem = rem;
    return KW_OK;
}

kw_status kw_grammar_state_accept(kw_grammar_state *st, kw_token token) {
    if (!st) return kw_error(KW_ERR_INVALID_ARG, "grammar accept: state is NULL");
    const kw_grammar *gr = st->gr;
    if (!gr->model) return kw_error(KW_ERR_INVALID_ARG, "grammar: created without a model");
    if (token < 0 || token >= gr->n_vocab)
        return kw_error(KW_ERR_INVALID_ARG, "grammar: token %d out of range [0, %d)", token,
                        gr->n_vocab);
    if (gr->eog[token]) {
        if (kw_grammar_state_accepting(st)) return KW_OK;
        return kw_error(KW_ERR_INVALID_ARG,
                        "grammar: end of generation (token %d) before the grammar is complete",
                        token);
    }
    int64_t off = gr->piece_off[token], l = gr->piece_off[token + 1] - off;
    if (l == 0)
        return kw_error(KW_ERR_INVALID_ARG, "grammar: token %d has no text the grammar can match",
                        token);
    kw_status s = kw_grammar_state_accept_bytes(st, gr->piece_bytes + off, (size_t)l);
    if (s != KW_OK) return kw_error_wrap(s, "grammar: token %d rejected", token);
    return KW_OK;
}

/* ------------------------------------------------------------------------------------------------
 * Masks
 * ---------------------------------------------------------------------------------------------- */

static uint64_t key_hash(const sset *s, uint32_t cp, int32_t rem) {
    uint64_t h = 0x9e3779b97f4a7c15ull ^ ((uint64_t)cp << 8) ^ (uint64_t)rem;
    for (int32_t i = 0; i < s->n; i++) {
        h ^= (uint64_t)(uint32_t)s->v[i];
        h *= 0x100000001b3ull;
        h ^= h >> 29;
    }
    return h;
}

static bool compute_mask(kw_grammar_state *st, uint8_t *bits) {
    const kw_grammar *gr = st->gr;
    memset(bits, 0, ((size_t)gr->n_vocab + 7) / 8);
    if (!sset_copy(st, &st->depth_sets[0], &st->cur)) return false;
    st->depth_cp[0] = st->part_cp;
    st->depth_rem[0] = st->part_rem;
    const trie_node *tn = gr->trie;
    for (int32_t i = 0; i < gr->n_trie;) {
        int32_t d = tn[i].depth;
        if (!step_byte(st, &st->depth_sets[d - 1], st->depth_cp[d - 1], st->depth_rem[d - 1],
                       tn[i].byte, &st->depth_sets[d], &st->depth_cp[d], &st->depth_rem[d])) {
            if (st->err) return false;
            i = tn[i].end;
            continue;
        }
        for (int32_t k = 0; k < tn[i].tok_n; k++) {
            int32_t t = gr->tok_sorted[tn[i].tok_first + k];
            bits[t >> 3] |= (uint8_t)(1u << (t & 7));
        }
        i++;
    }
    if (kw_grammar_state_accepting(st))
        for (int32_t t = 0; t < gr->n_vocab; t++)
            if (gr->eog[t]) bits[t >> 3] |= (uint8_t)(1u << (t & 7));
    return true;
}

const uint8_t *grammar_state_allowed(kw_grammar_state *st) {
    const kw_grammar *gr = st->gr;
    if (!gr->model) {
        kw_error(KW_ERR_INVALID_ARG, "grammar: created without a model, no token masks");
        return NULL;
    }
    uint64_t h = key_hash(&st->cur, st->part_cp, st->part_rem);
    int32_t nk = st->cur.n + 2;
    for (int i = 0; i < GRAMMAR_CACHE; i++) {
        mcache *c = &st->cache[i];
        if (!c->used || c->hash != h || c->n_key != nk) continue;
        if (c->key[0] != (int32_t)st->part_cp || c->key[1] != st->part_rem) continue;
        if (memcmp(c->key + 2, st->cur.v, (size_t)st->cur.n * sizeof(int32_t)) != 0) continue;
        return c->bits;
    }
    mcache *c = &st->cache[st->cache_next];
    st->cache_next = (st->cache_next + 1) % GRAMMAR_CACHE;
    if (!c->bits) {
        c->bits = malloc(((size_t)gr->n_vocab + 7) / 8);
        if (!c->bits) {
            kw_error(KW_ERR_NOMEM, "grammar: out of memory for a mask");
            return NULL;
        }
    }
    if (c->cap_key < nk) {
        int32_t *nkey = realloc(c->key, (size_t)nk * sizeof *nkey);
        if (!nkey) {
            kw_error(KW_ERR_NOMEM, "grammar: out of memory for a mask key");
            return NULL;
        }
        c->key = nkey;
        c->cap_key = nk;
    }
    c->used = false;
    if (!compute_mask(st, c->bits)) {
        kw_error(KW_ERR_NOMEM, "grammar: out of memory computing a mask");
        return NULL;
    }
    c->hash = h;
    c->n_key = nk;
    c->key[0] = (int32_t)st->part_cp;
    c->key[1] = st->part_rem;
    memcpy(c->key + 2, st->cur.v, (size_t)st->cur.n * sizeof(int32_t));
    c->used = true;
    return c->bits;
}

kw_status kw_grammar_state_mask(kw_grammar_state *st, float *logits) {
    if (!st || !logits) return kw_error(KW_ERR_INVALID_ARG, "grammar mask: NULL argument");
    const uint8_t *bits = grammar_state_allowed(st);
    if (!bits) return st->err ? KW_ERR_NOMEM : KW_ERR_INVALID_ARG;
    bool any = false;
    for (int32_t t = 0; t < st->gr->n_vocab; t++) {
        if (bits[t >> 3] & (1u << (t & 7)))
            any = true;
        else
            logits[t] = -INFINITY;
    }
    if (!any) return kw_error(KW_ERR_INVALID_ARG, "grammar: dead end, no token can continue");
    return KW_OK;
}
