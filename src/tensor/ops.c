/* ops.c - plain C implementations of the forward-pass operations (see ops.h).
 *
 * op_matmul runs the kernels of tensor/kernels (chosen once per CPU); the rest is plain C.
 * Numerics follow what the reference (llama.cpp/ggml) computes where it matters for matching its
 * logits: RMSNorm sums squares in double; RoPE builds each pair's angle by repeated multiplication
 * by base^(-2/n_rot) in float, as ggml_rope_cache_init does; softmax sums in double.
 */
#include "tensor/ops.h"
#include "tensor/blocks.h"
#include "tensor/kernels/kernels.h"
#include "tensor/quants.h"

#include <math.h>
#include <string.h>

/* ---------------------------------------------------------------- matmul */

/* Output rows per work item at least: a multiple of 16 so two threads never write the same 64-byte
 * line of an output row. */
#define MM_ROWS_PER_CHUNK 16
/* Panels per work item at least (prefill: a chunk's panels stay in L2 while all tokens pass). */
#define MM_PANELS_PER_CHUNK 2
/* Work items per thread when decoding (few tokens): few enough that each is a long run of
 * contiguous weights (the hardware prefetcher keeps streaming, the shared counter is rarely
 * touched), enough that a thread held up by another process leaves little for the other. */
#define MM_DECODE_CHUNKS_PER_THREAD 8

typedef struct matmul_task {
    float *out;
    const kw_weight *w;
    const kernel_entry *k;
    const float *x;              /* float input (quantize phase) */
    const uint8_t *act;          /* activations in the kernel's format */
    kernel_quantize_fn quantize; /* into the activation format used */
    bool panels;       /* w->panel with k->panel: chunks are runs of KERNEL_PANEL_ROWS-row panels */
    size_t act_stride; /* bytes per activation row */
    int64_t n_tok;
    int64_t per_chunk;     /* panels or rows per chunk */
    int64_t tok_per_chunk; /* quantize phase */
    uint8_t *expand;       /* per-thread areas for expanded panels, or NULL */
    size_t expand_cap;
} matmul_task;

static void quantize_chunk(void *arg, int64_t c, int ith) {
    matmul_task *t = arg;
    (void)ith;
    const int64_t i0 = c * t->tok_per_chunk,
                  i1 = i0 + t->tok_per_chunk < t->n_tok ? i0 + t->tok_per_chunk : t->n_tok;
    for (int64_t i = i0; i < i1; i++)
        t->quantize(t->x + i * t->w->n_in, (uint8_t *)t->act + (size_t)i * t->act_stride,
                    t->w->n_in);
}

/* Panels [c * per_chunk, ...): a tile of up to max_nt tokens (their activations stay in L1/L2) is
 * run through every panel of the chunk (which stay in L2 across tiles), rows_per_call rows (1 or
 * 2 panels) per kernel call, never past the chunk's last panel. */
static void matmul_panel_chunk(const matmul_task *t, int64_t c, int ith) {
    const kw_weight *w = t->w;
    const kernel_panel *kp = &t->k->panel;
    size_t panel_bytes = KERNEL_PANEL_BYTES(kp, w->n_in);
    const int64_t n_panels = (w->n_out + KERNEL_PANEL_ROWS - 1) / KERNEL_PANEL_ROWS;
    const int64_t p0 = c * t->per_chunk,
                  p1 = p0 + t->per_chunk < n_panels ? p0 + t->per_chunk : n_panels;
    const int64_t step = kp->rows_per_call / KERNEL_PANEL_ROWS, max_nt = kp->max_nt;
    const uint8_t *base = (const uint8_t *)w->panel + (size_t)p0 * panel_bytes;
    kernel_panel_fn dot = kp->dot;
    if (t->expand) { /* unpack the chunk's panels once for all token tiles */
        uint8_t *e = t->expand + (size_t)ith * t->expand_cap;
        const size_t eb = KERNEL_PANEL_EXPANDED_BYTES(w->n_in);
        for (int64_t p = p0; p < p1; p++)
            kp->expand(base + (size_t)(p - p0) * panel_bytes, w->n_in, e + (size_t)(p - p0) * eb);
        base = e, panel_bytes = eb, dot = kp->expanded_dot;
    }
    for (int64_t t0 = 0; t0 < t->n_tok; t0 += max_nt) {
        const int nt = (int)(t->n_tok - t0 < max_nt ? t->n_tok - t0 : max_nt);
        const uint8_t *a = t->act + (size_t)t0 * t->act_stride;
        for (int64_t p = p0; p < p1; p += step) {
            const int64_t r0 = p * KERNEL_PANEL_ROWS;
            int64_t nr = (p + step < p1 ? step : p1 - p) * KERNEL_PANEL_ROWS;
            if (nr > w->n_out - r0) nr = w->n_out - r0;
            dot(w->n_in, base + (size_t)(p - p0) * panel_bytes, a, t->act_stride, nt,
                t->out + t0 * w->n_out + r0, (size_t)w->n_out, (int)nr);
        }
    }
}

static void matmul_chunk(void *arg, int64_t c, int ith) {
    const matmul_task *t = arg;
    if (t->panels) {
        matmul_panel_chunk(t, c, ith);
        return;
    }
    const kw_weight *w = t->w;
    const kernel_dot_fn dot = t->k->dot;
    const uint8_t *wdata = w->data;
    float s[KERNEL_MAX_NT];
    const int64_t r0 = c * t->per_chunk,
                  r1 = r0 + t->per_chunk < w->n_out ? r0 + t->per_chunk : w->n_out;
    /* tokens outside, rows inside: the chunk's weight rows stay in cache across token groups */
    for (int64_t t0 = 0; t0 < t->n_tok; t0 += KERNEL_MAX_NT) {
        const int nt = (int)(t->n_tok - t0 < KERNEL_MAX_NT ? t->n_tok - t0 : KERNEL_MAX_NT);
        const uint8_t *a = t->act + (size_t)t0 * t->act_stride;
        float *o = t->out + t0 * w->n_out;
        for (int64_t r = r0; r < r1; r++) {
            dot(w->n_in, wdata + (uint64_t)r * w->row_bytes, a, t->act_stride, nt, s);
            for (int j = 0; j < nt; j++)
                o[j * w->n_out + r] = s[j];
        }
    }
}

static int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

/* Units (panels or rows) per chunk: for prefill the minimum (the chunks are the cache tiles); for
 * decode about MM_DECODE_CHUNKS_PER_THREAD chunks per thread, a multiple of the minimum. */
static int64_t units_per_chunk(int64_t n_units, int64_t min_units, int64_t n_tok, int nth) {
    if (n_tok > KERNEL_PANEL_MAX_NT) return min_units;
    return ceil_div(ceil_div(n_units, (int64_t)nth * MM_DECODE_CHUNKS_PER_THREAD), min_units) *
           min_units;
}

size_t op_matmul_expand_bytes(int64_t max_n_in) {
    return ((size_t)MM_PANELS_PER_CHUNK * KERNEL_PANEL_EXPANDED_BYTES(max_n_in) + 63) / 64 * 64;
}

size_t op_matmul_scratch_bytes(int64_t n_tok, int64_t max_n_in) {
    /* the largest per-value size of the 8-bit formats, rounded up to whole blocks */
    const int64_t n0 = (max_n_in + 31) / 32 * 32, nk = (max_n_in + QK_K - 1) / QK_K * QK_K;
    size_t a = kernels_act_row_bytes(GGML_TYPE_Q8_1, n0),
           b = kernels_act_row_bytes(GGML_TYPE_Q8_K, nk);
    size_t c = kernels_act_row_bytes(KERNEL_ACT_PANEL_Q4_0, n0);
    a = a > b ? a : b;
    return (size_t)n_tok * (a > c ? a : c);
}

/* The slow path when the scratch cannot hold one activation row: float dot products. */
static void matmul_unscratched(float *out, const kw_weight *w, const float *x, int64_t n_tok) {
    for (int64_t r = 0; r < w->n_out; r++)
        for (int64_t i = 0; i < n_tok; i++)
            out[i * w->n_out + r] = quant_vec_dot_f32_ref(
                w->type, (const uint8_t *)w->data + (uint64_t)r * w->row_bytes, x + i * w->n_in,
                w->n_in);
}

void op_matmul(kw_pool *pool, float *out, const kw_weight *w, const float *x, int64_t n_tok,
               op_matmul_scratch *scr, bool same_input) {
    const kernel_entry *k = kernels_get(w->type);
    assert(k && k->dot);
    const int nth = kw_pool_n_threads(pool);
    matmul_task t = {.out = out, .w = w, .k = k, .x = x, .n_tok = n_tok};
    int64_t n_units = w->n_out, min_units = MM_ROWS_PER_CHUNK;
    uint32_t act_type = k->act_type;
    kernel_quantize_fn quantize = k->quantize;
    if (w->panel && k->panel.dot) {
        t.panels = true;
        n_units = (w->n_out + KERNEL_PANEL_ROWS - 1) / KERNEL_PANEL_ROWS;
        min_units = MM_PANELS_PER_CHUNK;
        act_type = k->panel.act_type, quantize = k->panel.quantize;
    }
    if (k->act_type == GGML_TYPE_F32) {
        t.act = (const uint8_t *)x;
        t.act_stride = sizeof(float) * (size_t)w->n_in;
        t.per_chunk = units_per_chunk(n_units, min_units, n_tok, nth);
        kw_pool_for(pool, ceil_div(n_units, t.per_chunk), matmul_chunk, &t);
        return;
    }
    t.act_stride = kernels_act_row_bytes(act_type, w->n_in);
    t.quantize = quantize;
    const int64_t fit = (int64_t)(scr->act_cap / t.act_stride);
    if (fit < 1) {
        scr->src = NULL;
        matmul_unscratched(out, w, x, n_tok);
        return;
    }
    const bool reuse = same_input && scr->src == x && scr->n_tok == n_tok && scr->n_in == w->n_in &&
                       scr->act_type == act_type && fit >= n_tok;
    t.act = scr->act;
    for (int64_t c0 = 0; c0 < n_tok; c0 += fit) {
        t.n_tok = n_tok - c0 < fit ? n_tok - c0 : fit;
        t.x = x + c0 * w->n_in;
        t.out = out + c0 * w->n_out;
        if (!reuse) {
            t.tok_per_chunk = ceil_div(t.n_tok, 4 * (int64_t)nth);
            kw_pool_for(pool, ceil_div(t.n_tok, t.tok_per_chunk), quantize_chunk, &t);
        }
        t.per_chunk = units_per_chunk(n_units, min_units, t.n_tok, nth);
        /* expansion pays when several token tiles reuse it; chunks are then MM_PANELS_PER_CHUNK */
        const bool expand = t.panels && k->panel.expand && scr->expand &&
                            w->n_in <= scr->expand_n_in && t.n_tok > 2 * (int64_t)k->panel.max_nt &&
                            t.per_chunk == MM_PANELS_PER_CHUNK;
        t.expand = expand ? scr->expand : NULL;
        t.expand_cap = scr->expand_cap;
        kw_pool_for(pool, ceil_div(n_units, t.per_chunk), matmul_chunk, &t);
    }
    const bool whole = fit >= n_tok;
    scr->src = whole ? x : NULL;
    scr->n_tok = n_tok, scr->n_in = w->n_in, scr->act_type = act_type;
}

size_t op_weight_panel_bytes(const kw_weight *w) {
    const kernel_entry *k = kernels_get(w->type);
    if (!k || !k->panel.dot || w->n_out < 1) return 0;
    const int64_t n_panels = (w->n_out + KERNEL_PANEL_ROWS - 1) / KERNEL_PANEL_ROWS;
    return (size_t)n_panels * KERNEL_PANEL_BYTES(&k->panel, w->n_in);
}

typedef struct repack_task {
    const kw_weight *w;
    const kernel_entry *k;
    uint8_t *dst;
} repack_task;

int64_t op_weight_n_panels(const kw_weight *w) {
    return (w->n_out + KERNEL_PANEL_ROWS - 1) / KERNEL_PANEL_ROWS;
}

void op_weight_repack_panels(const kw_weight *w, void *dst, int64_t p0, int64_t p1) {
    const kernel_entry *k = kernels_get(w->type);
    assert(k && k->panel.repack);
    for (int64_t p = p0; p < p1; p++) {
        const int64_t r0 = p * KERNEL_PANEL_ROWS;
        const int nr = (int)(w->n_out - r0 < KERNEL_PANEL_ROWS ? w->n_out - r0 : KERNEL_PANEL_ROWS);
        k->panel.repack((const uint8_t *)w->data + (uint64_t)r0 * w->row_bytes,
                        (size_t)w->row_bytes, nr, w->n_in,
                        (uint8_t *)dst + (size_t)p * KERNEL_PANEL_BYTES(&k->panel, w->n_in));
    }
}

static void repack_worker(void *arg, int ith, int nth) {
    const repack_task *r = arg;
    int64_t p0, p1;
    kw_split_range(op_weight_n_panels(r->w), ith, nth, &p0, &p1);
    op_weight_repack_panels(r->w, r->dst, p0, p1);
}

void op_weight_repack(kw_pool *pool, kw_weight *w, void *dst) {
    repack_task r = {w, kernels_get(w->type), dst};
    assert(r.k && r.k->panel.repack);
    kw_pool_run(pool, repack_worker, &r);
    w->panel = dst;
}

void op_weight_vector(float *out, const kw_weight *w) { op_weight_row(out, w, 0); }

void op_weight_row(float *out, const kw_weight *w, int64_t row) {
    if (w->panel) { /* the file's pages of a repacked matrix may have been dropped: read the panel
                     */
        const int64_t p = row / KERNEL_PANEL_ROWS;
        const kernel_panel *kp = &kernels_get(w->type)->panel;
        kp->row((const uint8_t *)w->panel + (size_t)p * KERNEL_PANEL_BYTES(kp, w->n_in),
                (int)(row % KERNEL_PANEL_ROWS), w->n_in, out);
        return;
    }
    const uint8_t *src = (const uint8_t *)w->data + (uint64_t)row * w->row_bytes;
    quant_dequantize_row(w->type, src, out, w->n_in);
}

/* ---------------------------------------------------------------- elementwise */

void op_rmsnorm(float *y, const float *x, const float *g, int64_t n, float eps) {
    kernels_attn()->rmsnorm(y, x, g, n, eps);
}

void op_add_bias(float *y, const float *b, int64_t n_tok, int64_t n) {
    const kernel_attn *k = kernels_attn();
    for (int64_t t = 0; t < n_tok; t++)
        k->add_scaled(y + t * n, b, 1.0f, n);
}

void op_add_scaled(float *y, const float *x, float s, int64_t n) {
    kernels_attn()->add_scaled(y, x, s, n);
}

void op_softmax(float *x, int n, float scale) { kernels_attn()->softmax(x, n, scale); }

void op_rope(float *x, int32_t n_head, int32_t head_dim, int32_t pos, const rope_params *p) {
    const float theta_scale = powf(p->base, -2.0f / (float)p->n_rot);
    const int32_t half = p->n_rot / 2;
    float theta = (float)pos;
    /* each pair's angle once for all heads (the same float steps as before, pair by pair) */
    for (int32_t i = 0; i < half; i++) {
        float ff = p->factors ? p->factors[i] : 1.0f;
        float angle = p->freq_scale * (theta / ff);
        float c = cosf(angle) * p->mscale, sn = sinf(angle) * p->mscale;
        int32_t a = p->neox ? i : 2 * i, b = p->neox ? i + half : 2 * i + 1;
        for (int32_t h = 0; h < n_head; h++) {
            float *v = x + (int64_t)h * head_dim;
            float x0 = v[a], x1 = v[b];
            v[a] = x0 * c - x1 * sn;
            v[b] = x0 * sn + x1 * c;
        }
        theta *= theta_scale;
    }
}

void op_swiglu(float *gate, const float *up, int64_t n) { kernels_attn()->swiglu(gate, up, n); }

void op_geglu_tanh(float *gate, const float *up, int64_t n) {
    const float sqrt_2_over_pi = 0.79788456080286535588f;
    for (int64_t i = 0; i < n; i++) {
        float g = gate[i];
        float y = 0.5f * g * (1.0f + tanhf(sqrt_2_over_pi * g * (1.0f + 0.044715f * g * g)));
        gate[i] = y * up[i];
    }
}

void op_softcap(float *x, int64_t n, float cap) {
    for (int64_t i = 0; i < n; i++)
        x[i] = cap * tanhf(x[i] / cap);
}
