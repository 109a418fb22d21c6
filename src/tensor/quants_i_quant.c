/* quants_i_quant.c - quantizers (float -> blocks) for IQ4_NL, IQ4_XS, IQ3_S and IQ2_XS, the
 * i-quant types `kaiwu quantize` writes (layouts in quants_i.h).
 *
 * The methods are ggml's (ggml-quants.c), reimplemented; every error below is the weighted squared
 * error sum_i w_i (x_i - y_i)^2 with w_i = x_i^2 without an importance matrix and
 * w_i = imatrix_i * sqrt(sigma2 + x_i^2) with one (sigma2: the block's mean square, as ggml).
 *  - IQ4_NL / IQ4_XS: per group of 32, a scale search over the 16 non-linear levels (16 trial
 *    scales: the largest magnitude onto +127, and 15 around level -127; each followed by the
 *    least-squares scale for the levels it picks). IQ4_XS then codes the 8 group scales as 6-bit
 *    multiples of one f16 scale and re-picks the levels for the coded scale.
 *  - IQ3_S / IQ2_XS: the codebooks are subsets of a lattice (4 coordinates of 8 levels, 8 of 3).
 *    Signs are taken out (IQ2_XS stores 7 of 8: the count of negatives is kept even by flipping
 *    the least important value), then for 19 trial scales every group of 4 (8) magnitudes is
 *    rounded to the lattice; a point outside the codebook is replaced by the best of its nearest
 *    codebook entries (precomputed lists, the entries at the 3 (2) smallest lattice distances).
 *    The best trial by weighted error wins and the off-codebook groups are redone at its scale.
 * Two choices differ from ggml: errors are computed with the values the decoder really produces
 * (IQ2_XS's levels are 8, 25, 43 / 8, not 1, 3, 5), and the f16 super-block scale of IQ4_XS,
 * IQ3_S and IQ2_XS is the least-squares fit for the chosen levels and sub-scales (ggml uses the
 * largest sub-scale / 31 or 32, times 1.033 for IQ3_S). Both only lower the error.
 *
 * Deterministic: no randomness, no dependence on thread count (rows are independent).
 * Relies on: quants_i.h (grids), base (f16). Allocates once: the lattice maps of IQ3_S / IQ2_XS,
 * built on first use (quant_iquant_prepare) and kept for the process.
 */
#include "tensor/quants_i.h"

#include "tensor/quants.h"

#include <float.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define GROUP_EPS 1e-15f /* a group whose largest magnitude is below this is all zeros */

static inline int nearest(float x) { return (int)lrintf(x); }
static inline int clampi(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

/* ---------------------------------------------------------------- 4-bit non-linear */

/* Index of the IQ4 level nearest to x (a tie goes to the upper level). */
static int iq4_level(float x) {
    const int8_t *v = quant_kvalues_iq4nl;
    int l = 0;
    while (l < 15 && x >= 0.5f * (float)(v[l] + v[l + 1]))
        l++;
    return l;
}

/* Sums for levels picked with inverse scale id: sum w q x and sum w q^2. */
static void iq4_fit(const float *x, const float *w, int n, float id, uint8_t *L, float *sqx,
                    float *sq2) {
    float a = 0, b = 0;
    for (int j = 0; j < n; j++) {
        const int l = iq4_level(id * x[j]);
        const float q = (float)quant_kvalues_iq4nl[l];
        L[j] = (uint8_t)l;
        a += w[j] * q * x[j];
        b += w[j] * q * q;
    }
    *sqx = a, *sq2 = b;
}

/* Best scale d for one group of n values (x ~ d * level), its levels in L; 0 for a zero group. */
static float iq4_group(const float *x, const float *w, int n, uint8_t *L) {
    float amax = 0, max = 0;
    for (int j = 0; j < n; j++)
        if (fabsf(x[j]) > amax) amax = fabsf(x[j]), max = x[j];
    if (amax < GROUP_EPS) {
        memset(L, 8, (size_t)n); /* level 8 is +1: close to zero */
        return 0.0f;
    }
    uint8_t tmp[32];
    float sqx, sq2;
    /* the largest magnitude onto +127 first (beyond the top level 113: it rounds to it), then
     * 15 trials that map it near -127, the level with the largest magnitude */
    iq4_fit(x, w, n, (float)-quant_kvalues_iq4nl[0] / max, L, &sqx, &sq2);
    float d = sq2 > 0 ? sqx / sq2 : 0.0f, best = d * sqx;
    for (int t = -7; t <= 7; t++) {
        iq4_fit(x, w, n, (float)(t + quant_kvalues_iq4nl[0]) / max, tmp, &sqx, &sq2);
        if (sq2 > 0 && sqx * sqx > best * sq2) {
            d = sqx / sq2, best = d * sqx;
            memcpy(L, tmp, (size_t)n);
        }
    }
    return d;
}

/* Weights of one super-block of n values (see the file head). */
static void make_weights(const float *x, const float *imatrix, int n, float sigma2_factor,
                         float *w) {
    float s2 = 0;
    for (int j = 0; j < n; j++)
        s2 += x[j] * x[j];
    const float sigma2 = sigma2_factor * s2 / (float)n;
    for (int j = 0; j < n; j++)
        w[j] = imatrix ? imatrix[j] * sqrtf(sigma2 + x[j] * x[j]) : x[j] * x[j];
}

static void pack_nibbles(const uint8_t *L, uint8_t *qs) { /* 32 levels: j and j + 16 share a byte */
    for (int j = 0; j < 16; j++)
        qs[j] = (uint8_t)(L[j] | L[j + 16] << 4);
}

static void quantize_iq4_nl(const float *x, block_iq4_nl *y, int64_t nb, const float *imatrix) {
    float w[QK4_NL];
    uint8_t L[QK4_NL];
    for (int64_t i = 0; i < nb; i++, x += QK4_NL) {
        make_weights(x, imatrix ? imatrix + i * QK4_NL : NULL, QK4_NL, 2.0f, w);
        const float d = iq4_group(x, w, QK4_NL, L);
        y[i].d = kw_f32_to_f16(d);
        /* re-pick the levels for the scale as stored */
        const float ds = kw_f16_to_f32(y[i].d);
        if (ds != 0.0f) {
            float a, b;
            iq4_fit(x, w, QK4_NL, 1.0f / ds, L, &a, &b);
        }
        pack_nibbles(L, y[i].qs);
    }
}

static void quantize_iq4_xs(const float *x, block_iq4_xs *y, int64_t nb, const float *imatrix) {
    float w[QK_K], sc[QK_K / 32];
    uint8_t L[QK_K];
    for (int64_t i = 0; i < nb; i++, x += QK_K) {
        block_iq4_xs *b = &y[i];
        memset(b, 0, sizeof *b);
        make_weights(x, imatrix ? imatrix + i * QK_K : NULL, QK_K, 2.0f, w);
        float max_sc = 0, amax_sc = 0;
        for (int g = 0; g < QK_K / 32; g++) {
            sc[g] = iq4_group(x + 32 * g, w + 32 * g, 32, L + 32 * g);
            if (fabsf(sc[g]) > amax_sc) amax_sc = fabsf(sc[g]), max_sc = sc[g];
        }
        int ls[QK_K / 32] = {0};
        float d = 0;
        if (amax_sc > 0) {
            /* 6-bit sub-scales ls - 32 in -32..31; the largest maps to -32 */
            const float d0 = -max_sc / 32, id0 = 1.0f / d0;
            for (int g = 0; g < QK_K / 32; g++)
                ls[g] = clampi(nearest(id0 * sc[g]), -32, 31);
            /* levels for the coded sub-scales, then the least-squares super-block scale */
            float num = 0, den = 0;
            for (int g = 0; g < QK_K / 32; g++) {
                const float dl = d0 * (float)ls[g];
                float a = 0, c = 0;
                if (dl != 0.0f) iq4_fit(x + 32 * g, w + 32 * g, 32, 1.0f / dl, L + 32 * g, &a, &c);
                num += (float)ls[g] * a;
                den += (float)(ls[g] * ls[g]) * c;
            }
            d = den > 0 ? num / den : d0;
        }
        b->d = kw_f32_to_f16(d);
        for (int g = 0; g < QK_K / 32; g++) {
            const int u = ls[g] + 32;
            b->scales_l[g / 2] |= (uint8_t)((u & 0xF) << (4 * (g % 2)));
            b->scales_h |= (uint16_t)((u >> 4) << (2 * g));
            pack_nibbles(L + 32 * g, b->qs + 16 * g);
        }
    }
}

/* ---------------------------------------------------------------- lattice codebooks */

/* A codebook whose entries are points of a lattice of `dim` coordinates with `nlev` levels each
 * (level values `val`, in units of the sub-block scale). Lattice points are packed as
 * sum L_k << (bits * k). */
typedef struct iq_lattice {
    int n_grid, dim, nlev, bits, nwant;
    float val[8];     /* value of each level as the decoder makes it */
    uint8_t *coord;   /* n_grid x dim levels of each codebook entry */
    int32_t *map;     /* packed point -> entry index, or -(offset + 1) into nb */
    uint16_t *nb;     /* at an offset: count, then the nearest entries, nearest first */
    kw_status status; /* of the one-time build */
    pthread_once_t once;
} iq_lattice;

static iq_lattice lat_iq3s = {
    .n_grid = 512, .dim = 4, .nlev = 8, .bits = 3, .nwant = 3, .once = PTHREAD_ONCE_INIT};
static iq_lattice lat_iq2xs = {
    .n_grid = 512, .dim = 8, .nlev = 3, .bits = 2, .nwant = 2, .once = PTHREAD_ONCE_INIT};

static int grid_byte(const iq_lattice *lt, int e, int k) {
    return lt == &lat_iq3s ? (int)((quant_iq3s_grid[e] >> (8 * k)) & 0xFF)
                           : (int)((quant_iq2xs_grid[e] >> (8 * k)) & 0xFF);
}

/* Squared lattice distances of point p (levels) to every entry, into d2; the nwant smallest
 * distinct distances into lev (ascending); returns how many were found. */
static int lattice_dists(const iq_lattice *lt, const uint8_t *p, int *d2, int *lev) {
    for (int e = 0; e < lt->n_grid; e++) {
        int s = 0;
        for (int k = 0; k < lt->dim; k++) {
            const int t = (int)lt->coord[e * lt->dim + k] - (int)p[k];
            s += t * t;
        }
        d2[e] = s;
    }
    int n = 0, prev = -1;
    for (; n < lt->nwant; n++) {
        int next = INT32_MAX;
        for (int e = 0; e < lt->n_grid; e++)
            if (d2[e] > prev && d2[e] < next) next = d2[e];
        if (next == INT32_MAX) break;
        lev[n] = prev = next;
    }
    return n;
}

static void unpack_point(const iq_lattice *lt, int u, uint8_t *p) {
    for (int k = 0; k < lt->dim; k++)
        p[k] = (uint8_t)((u >> (lt->bits * k)) & ((1 << lt->bits) - 1));
}

static bool point_valid(const iq_lattice *lt, const uint8_t *p) {
    for (int k = 0; k < lt->dim; k++)
        if (p[k] >= lt->nlev) return false;
    return true;
}

static void lattice_build(iq_lattice *lt) {
    const int n_map = 1 << (lt->bits * lt->dim);
    lt->coord = kw_malloc((size_t)lt->n_grid * (size_t)lt->dim, "i-quant codebook levels");
    lt->map = kw_malloc((size_t)n_map * sizeof *lt->map, "i-quant lattice map");
    int *d2 = kw_malloc((size_t)lt->n_grid * sizeof *d2, "i-quant distances");
    if (!lt->coord || !lt->map || !d2) goto nomem;
    /* the levels of each entry: the sorted distinct byte values of the grid are levels 0, 1, ... */
    int lev_byte[8], n_lev = 0;
    for (int e = 0; e < lt->n_grid; e++)
        for (int k = 0; k < lt->dim; k++) {
            const int v = grid_byte(lt, e, k);
            int j = 0;
            while (j < n_lev && lev_byte[j] != v)
                j++;
            if (j == n_lev && n_lev < 8) lev_byte[n_lev++] = v;
        }
    for (int a = 1; a < n_lev; a++) /* insertion sort of at most 8 */
        for (int b = a; b > 0 && lev_byte[b - 1] > lev_byte[b]; b--) {
            const int t = lev_byte[b];
            lev_byte[b] = lev_byte[b - 1], lev_byte[b - 1] = t;
        }
    assert(n_lev == lt->nlev);
    for (int j = 0; j < n_lev; j++) /* IQ3_S values are the bytes, IQ2_XS's bytes / 8 */
        lt->val[j] = lt == &lat_iq3s ? (float)lev_byte[j] : (float)lev_byte[j] / 8.0f;
    for (int i = 0; i < n_map; i++)
        lt->map[i] = INT32_MIN; /* not a valid point (a level >= nlev): never looked up */
    for (int e = 0; e < lt->n_grid; e++) {
        int u = 0;
        for (int k = 0; k < lt->dim; k++) {
            int j = 0;
            while (lev_byte[j] != grid_byte(lt, e, k))
                j++;
            lt->coord[e * lt->dim + k] = (uint8_t)j;
            u |= j << (lt->bits * k);
        }
        lt->map[u] = e;
    }
    /* neighbour lists of the valid points outside the codebook: count first, then fill */
    uint8_t p[8];
    int lev[8];
    size_t total = 0;
    for (int u = 0; u < n_map; u++) {
        unpack_point(lt, u, p);
        if (lt->map[u] >= 0 || !point_valid(lt, p)) continue;
        const int nl = lattice_dists(lt, p, d2, lev);
        size_t c = 1;
        for (int e = 0; e < lt->n_grid; e++)
            c += nl > 0 && d2[e] <= lev[nl - 1];
        total += c;
    }
    if (total > INT32_MAX) goto nomem;
    lt->nb = kw_malloc(total * sizeof *lt->nb, "i-quant neighbour lists");
    if (!lt->nb) goto nomem;
    int32_t off = 0;
    for (int u = 0; u < n_map; u++) {
        unpack_point(lt, u, p);
        if (lt->map[u] >= 0 || !point_valid(lt, p)) continue;
        const int nl = lattice_dists(lt, p, d2, lev);
        lt->map[u] = -(off + 1);
        const int32_t head = off++;
        /* nearest first; equal distances in entry order */
        for (int l = 0; l < nl; l++)
            for (int e = 0; e < lt->n_grid; e++)
                if (d2[e] == lev[l]) lt->nb[off++] = (uint16_t)e;
        lt->nb[head] = (uint16_t)(off - head - 1);
    }
    free(d2);
    lt->status = KW_OK;
    return;
nomem:
    free(d2);
    free(lt->coord);
    free(lt->map);
    lt->coord = NULL, lt->map = NULL;
    lt->status = KW_ERR_NOMEM;
}

static void build_iq3s(void) { lattice_build(&lat_iq3s); }
static void build_iq2xs(void) { lattice_build(&lat_iq2xs); }

static iq_lattice *lattice_get(uint32_t type) {
    if (type == GGML_TYPE_IQ3_S) {
        pthread_once(&lat_iq3s.once, build_iq3s);
        return lat_iq3s.status == KW_OK ? &lat_iq3s : NULL;
    }
    pthread_once(&lat_iq2xs.once, build_iq2xs);
    return lat_iq2xs.status == KW_OK ? &lat_iq2xs : NULL;
}

kw_status quant_iquant_prepare(uint32_t type) {
    if (type != GGML_TYPE_IQ3_S && type != GGML_TYPE_IQ2_XS) return KW_OK;
    if (lattice_get(type)) return KW_OK;
    return kw_error(KW_ERR_NOMEM, "%s: no memory for the codebook neighbour tables",
                    ggml_type_get(type)->name);
}

bool quant_iquant_needs_imatrix(uint32_t type) {
    switch (type) {
    case GGML_TYPE_IQ2_XXS:
    case GGML_TYPE_IQ2_XS:
    case GGML_TYPE_IQ2_S:
    case GGML_TYPE_IQ3_XXS:
    case GGML_TYPE_IQ1_S:
    case GGML_TYPE_IQ1_M: return true;
    default: return false;
    }
}

/* The codebook entry for magnitudes xv (dim values) at scale `scale` when the rounded lattice
 * point u is outside the codebook: the neighbour with the least weighted error. Its levels go to
 * L. */
static int best_neighbour(const iq_lattice *lt, int u, const float *xv, const float *w, float scale,
                          uint8_t *L) {
    const uint16_t *nb = lt->nb - lt->map[u] - 1;
    float best = FLT_MAX;
    int pick = nb[1];
    for (int j = 1; j <= nb[0]; j++) {
        const uint8_t *c = lt->coord + nb[j] * lt->dim;
        float e = 0;
        for (int k = 0; k < lt->dim; k++) {
            const float t = scale * lt->val[c[k]] - xv[k];
            e += w[k] * t * t;
        }
        if (e < best) best = e, pick = nb[j];
    }
    memcpy(L, lt->coord + pick * lt->dim, (size_t)lt->dim);
    return pick;
}

/* Rounds the magnitudes of one group to the lattice at inverse scale id and maps the point to a
 * codebook entry (the best neighbour when off the codebook). Returns the entry; *on: on it. */
static int group_entry(const iq_lattice *lt, const float *xv, const float *wn, float id, uint8_t *L,
                       bool *on) {
    int u = 0;
    for (int k = 0; k < lt->dim; k++) {
        /* the lattice level nearest to id * x, levels about 2l + 1 apart by 2 */
        L[k] = (uint8_t)clampi(nearest(0.5f * (id * xv[k] - 1.0f)), 0, lt->nlev - 1);
        u |= L[k] << (lt->bits * k);
    }
    const int e = lt->map[u];
    *on = e >= 0;
    return e >= 0 ? e : best_neighbour(lt, u, xv, wn, 1.0f / id, L);
}

/* Scale and codebook entries of one sub-block of n magnitudes xv (>= 0) with weights w, wn (for
 * the neighbour choice). step: spacing of the trial inverse scales. Returns the scale (>= 0) and
 * fills entry[] (n / dim) and sums *sqx, *sq2 of the chosen values. */
static float lattice_block(const iq_lattice *lt, const float *xv, const float *w, const float *wn,
                           int n, float step, int *entry, float *sqx_out, float *sq2_out) {
    const int ng = n / lt->dim;
    float max = 0;
    for (int i = 0; i < n; i++)
        max = xv[i] > max ? xv[i] : max;
    *sqx_out = *sq2_out = 0;
    if (max < GROUP_EPS) {
        for (int g = 0; g < ng; g++)
            entry[g] = lt->map[0] >= 0 ? lt->map[0] : 0;
        return 0.0f;
    }
    uint8_t L[32], Lt[32];
    int et[8];
    bool on[8], ont[8];
    float best = 0, scale = max / lt->val[lt->nlev - 1];
    bool have = false;
    const float top = (float)(2 * lt->nlev - 1);
    for (int t = -9; t <= 9; t++) {
        const float id = (top + (float)t * step) / max;
        for (int g = 0; g < ng; g++)
            et[g] =
                group_entry(lt, xv + g * lt->dim, wn + g * lt->dim, id, Lt + g * lt->dim, &ont[g]);
        float a = 0, b = 0;
        for (int i = 0; i < n; i++) {
            const float q = lt->val[Lt[i]];
            a += w[i] * xv[i] * q;
            b += w[i] * q * q;
        }
        if (b > 0 && (!have || a * a > best * b)) {
            scale = a / b, best = scale * a, have = true;
            memcpy(L, Lt, (size_t)n);
            memcpy(entry, et, sizeof et[0] * (size_t)ng);
            memcpy(on, ont, sizeof on);
        }
    }
    if (!have) {
        for (int g = 0; g < ng; g++)
            entry[g] = lt->map[0] >= 0 ? lt->map[0] : 0;
        return 0.0f;
    }
    /* redo the groups that were off the codebook at the winning scale, then refit it */
    bool redo = false;
    for (int g = 0; g < ng; g++)
        redo |= !on[g];
    if (redo && scale > 0) {
        const float id = 1.0f / scale;
        for (int g = 0; g < ng; g++)
            if (!on[g])
                entry[g] = group_entry(lt, xv + g * lt->dim, wn + g * lt->dim, id, L + g * lt->dim,
                                       &on[g]);
        float a = 0, b = 0;
        for (int i = 0; i < n; i++) {
            const float q = lt->val[L[i]];
            a += w[i] * xv[i] * q;
            b += w[i] * q * q;
        }
        if (b > 0 && a > 0) scale = a / b;
    }
    float a = 0, b = 0;
    for (int i = 0; i < n; i++) {
        const float q = lt->val[L[i]];
        a += w[i] * xv[i] * q;
        b += w[i] * q * q;
    }
    *sqx_out = a, *sq2_out = b;
    return scale > 0 ? scale : 0.0f;
}

/* Magnitudes, sign bits (one byte per 8 values, bit set = negative) and, for 7-bit signs, an even
 * count of negatives per 8 (the least important value, by w x^2, gets the wrong sign). */
static void take_signs(const float *x, const float *w, int n, bool even, float *xv,
                       uint8_t *signs) {
    for (int k = 0; k < n / 8; k++) {
        uint8_t s = 0;
        for (int i = 0; i < 8; i++) {
            const float v = x[8 * k + i];
            xv[8 * k + i] = v >= 0 ? v : -v;
            if (v < 0) s |= (uint8_t)(1u << i);
        }
        if (even && (__builtin_popcount(s) & 1)) {
            int imin = 0;
            for (int i = 1; i < 8; i++)
                if (w[8 * k + i] * x[8 * k + i] * x[8 * k + i] <
                    w[8 * k + imin] * x[8 * k + imin] * x[8 * k + imin])
                    imin = i;
            xv[8 * k + imin] = -xv[8 * k + imin];
            s ^= (uint8_t)(1u << imin);
        }
        signs[k] = s;
    }
}

/* Sub-scales to 4 bits: s with (2 s + 1) d0 ~ scale, d0 = largest / 31; then the least-squares
 * super-block scale d for x ~ d (2 s + 1) q given the per-sub-block sums. */
static float code_scales(const float *sc, const float *sqx, const float *sq2, int nsub,
                         uint8_t *s4) {
    float max_sc = 0;
    for (int b = 0; b < nsub; b++)
        max_sc = sc[b] > max_sc ? sc[b] : max_sc;
    if (max_sc <= 0) {
        memset(s4, 0, (size_t)nsub);
        return 0.0f;
    }
    const float d0 = max_sc / 31, id0 = 1.0f / d0;
    float num = 0, den = 0;
    for (int b = 0; b < nsub; b++) {
        s4[b] = (uint8_t)clampi(nearest(0.5f * (id0 * sc[b] - 1.0f)), 0, 15);
        const float m = (float)(2 * s4[b] + 1);
        num += m * sqx[b];
        den += m * m * sq2[b];
    }
    return den > 0 && num > 0 ? num / den : d0;
}

static void quantize_iq3_s(const float *x, block_iq3_s *y, int64_t nb, const float *imatrix,
                           const iq_lattice *lt) {
    float w[QK_K], wn[QK_K], xv[QK_K], sc[QK_K / 32], sqx[QK_K / 32], sq2[QK_K / 32];
    uint8_t s4[QK_K / 32];
    int entry[QK_K / 4];
    for (int64_t i = 0; i < nb; i++, x += QK_K) {
        block_iq3_s *b = &y[i];
        memset(b, 0, sizeof *b);
        make_weights(x, imatrix ? imatrix + i * QK_K : NULL, QK_K, 2.0f, w);
        for (int j = 0; j < QK_K; j++)
            wn[j] = sqrtf(w[j]);
        take_signs(x, w, QK_K, false, xv, b->signs);
        for (int s = 0; s < QK_K / 32; s++)
            sc[s] = lattice_block(lt, xv + 32 * s, w + 32 * s, wn + 32 * s, 32, 0.2f, entry + 8 * s,
                                  &sqx[s], &sq2[s]);
        /* dequant: d (1 + 2 s) grid, grid values = the lattice values */
        const float d = code_scales(sc, sqx, sq2, QK_K / 32, s4);
        b->d = kw_f32_to_f16(d);
        for (int s = 0; s < QK_K / 32; s++) {
            b->scales[s / 2] |= (uint8_t)(s4[s] << (4 * (s % 2)));
            for (int g = 0; g < 8; g++) {
                const int e = entry[8 * s + g];
                b->qs[8 * s + g] = (uint8_t)(e & 0xFF);
                b->qh[s] |= (uint8_t)((e >> 8) << g);
            }
        }
    }
}

static void quantize_iq2_xs(const float *x, block_iq2_xs *y, int64_t nb, const float *imatrix,
                            const iq_lattice *lt) {
    float w[QK_K], wn[QK_K], xv[QK_K], sc[QK_K / 16], sqx[QK_K / 16], sq2[QK_K / 16];
    float ones[QK_K];
    uint8_t signs[QK_K / 8], s4[QK_K / 16];
    int entry[QK_K / 8];
    if (!imatrix) /* the planner insists on an imatrix; a direct call gets uniform importance */
        for (int j = 0; j < QK_K; j++)
            ones[j] = 1.0f;
    for (int64_t i = 0; i < nb; i++, x += QK_K) {
        block_iq2_xs *b = &y[i];
        memset(b, 0, sizeof *b);
        make_weights(x, imatrix ? imatrix + i * QK_K : ones, QK_K, 1.0f, w);
        for (int j = 0; j < QK_K; j++)
            wn[j] = sqrtf(w[j]);
        take_signs(x, w, QK_K, true, xv, signs);
        for (int s = 0; s < QK_K / 16; s++)
            sc[s] = lattice_block(lt, xv + 16 * s, w + 16 * s, wn + 16 * s, 16, 0.1f, entry + 2 * s,
                                  &sqx[s], &sq2[s]);
        /* dequant: d (0.5 + s) 0.25 grid = d (2 s + 1) (grid / 8), lattice values = grid / 8 */
        const float d = code_scales(sc, sqx, sq2, QK_K / 16, s4);
        b->d = kw_f32_to_f16(d);
        for (int s = 0; s < QK_K / 16; s++)
            b->scales[s / 2] |= (uint8_t)(s4[s] << (4 * (s % 2)));
        for (int g = 0; g < QK_K / 8; g++)
            b->qs[g] = (uint16_t)(entry[g] | (signs[g] & 127) << 9);
    }
}

/* ---------------------------------------------------------------- dispatch */

bool quant_iquant_can_quantize(uint32_t type) {
    return type == GGML_TYPE_IQ4_NL || type == GGML_TYPE_IQ4_XS || type == GGML_TYPE_IQ3_S ||
           type == GGML_TYPE_IQ2_XS;
}

void quant_quantize_row_iquant(uint32_t type, const float *src, void *dst, int64_t n,
                               const float *imatrix) {
    const ggml_type_traits *t = ggml_type_get(type);
    const int64_t nb = n / (int64_t)t->block_size;
    switch (type) {
    case GGML_TYPE_IQ4_NL: quantize_iq4_nl(src, dst, nb, imatrix); return;
    case GGML_TYPE_IQ4_XS: quantize_iq4_xs(src, dst, nb, imatrix); return;
    case GGML_TYPE_IQ3_S:
    case GGML_TYPE_IQ2_XS: {
        const iq_lattice *lt = lattice_get(type);
        if (!lt) { /* quant_iquant_prepare reported it; zero blocks decode to zeros */
            memset(dst, 0, (size_t)(nb * (int64_t)t->type_size));
            return;
        }
        if (type == GGML_TYPE_IQ3_S)
            quantize_iq3_s(src, dst, nb, imatrix, lt);
        else
            quantize_iq2_xs(src, dst, nb, imatrix, lt);
        return;
    }
    default: assert(!"quant_quantize_row_iquant: not a type kaiwu quantizes to"); return;
    }
}
