/* ops.h - the operations a transformer forward pass is made of: matrix products over any
 * computable weight type, norms, RoPE, activations, attention.
 *
 * Layout convention: activations are row-major (n_tok, width) float arrays. A weight matrix has
 * n_out rows of n_in values (GGUF ne0 = n_in, ne1 = n_out); out = x · Wᵀ. Argument order:
 * outputs, inputs, sizes. Nothing here allocates: callers pass scratch sized at context creation.
 */
#ifndef KAIWU_OPS_H
#define KAIWU_OPS_H

#include "gguf/gguf.h"

/* A weight matrix or vector: rows of n_in values of `type`. */
typedef struct kw_weight {
    const char *name; /* borrowed from the gguf reader */
    uint32_t type;    /* ggml_type */
    int64_t n_in;     /* ne[0]: values per row */
    int64_t n_out;    /* ne[1]: rows (1 for vectors) */
    uint64_t row_bytes;
    const void *data; /* into the mapping; NULL for an absent optional weight */
    const void *
        panel; /* the same rows repacked for this CPU's panel kernels (op_weight_repack), or NULL */
} kw_weight;

/* Bytes of w's rows in the panel layout of this CPU's kernels (rows padded to whole panels); 0
 * when the kernels have no panel layout for its type (then op_weight_repack must not be called). */
size_t op_weight_panel_bytes(const kw_weight *w);
/* Writes w's rows into dst (op_weight_panel_bytes(w) bytes, 64-byte aligned) in panel layout and
 * points w->panel at it; op_matmul then uses the panel kernels. Rows are split among the pool. */
void op_weight_repack(kw_pool *pool, kw_weight *w, void *dst);
/* The part of op_weight_repack for panels [p0, p1) only, on the calling thread (w->panel is not
 * set): the loader repacks a large matrix in slices and releases each slice's file pages. */
void op_weight_repack_panels(const kw_weight *w, void *dst, int64_t p0, int64_t p1);
/* Panels of w (KERNEL_PANEL_ROWS rows each, the last one padded). */
int64_t op_weight_n_panels(const kw_weight *w);

/* Scratch of op_matmul: room for the activations quantized to a kernel's format, and what they
 * were made from, so consecutive matmuls over one input quantize it once. Zero-initialise; the
 * owner allocates act (act_cap bytes, see op_matmul_scratch_bytes) and frees it. */
typedef struct op_matmul_scratch {
    void *act;
    size_t act_cap;
    /* optional: n_threads areas of expand_cap bytes where prefill expands weight panels
     * (kernel_panel.expand) for rows of up to expand_n_in values (op_matmul_expand_bytes) */
    void *expand;
    size_t expand_cap;
    int64_t expand_n_in;
    const float *src; /* input act was made from (NULL: nothing valid) */
    int64_t n_tok, n_in;
    uint32_t act_type;
} op_matmul_scratch;

/* Bytes of scratch that let op_matmul quantize n_tok rows of up to max_n_in values at once, for
 * any weight type (a smaller scratch still works: tokens are then processed in chunks). */
size_t op_matmul_scratch_bytes(int64_t n_tok, int64_t max_n_in);
/* Bytes of one thread's area of op_matmul_scratch.expand for rows of up to max_n_in values. */
size_t op_matmul_expand_bytes(int64_t max_n_in);

/* out (n_tok, w->n_out) = x (n_tok, w->n_in) · Wᵀ with the kernels of kernels_get(w->type): the
 * activations are quantized once to the kernel's format (unless same_input says x is unchanged
 * since the previous call with this scratch and the format matches), then chunks of output rows
 * are shared among the pool's threads, each weight row dotted with up to 4 tokens at a time. */
void op_matmul(kw_pool *pool, float *out, const kw_weight *w, const float *x, int64_t n_tok,
               op_matmul_scratch *scratch, bool same_input);

/* Reads a vector weight (F32/F16/BF16) as float into out (w->n_in values). */
void op_weight_vector(float *out, const kw_weight *w);
/* out[i] = dequantized row `row` of w. */
void op_weight_row(float *out, const kw_weight *w, int64_t row);

/* y = x / sqrt(mean(x²) + eps) * g, for one row of n values (g may be NULL). */
void op_rmsnorm(float *y, const float *x, const float *g, int64_t n, float eps);
/* y += b over n_tok rows of n values. */
void op_add_bias(float *y, const float *b, int64_t n_tok, int64_t n);
/* y[i] += x[i] * s over n values. */
void op_add_scaled(float *y, const float *x, float s, int64_t n);
/* x = softmax(x * scale) over n values (sum in double for the reference kernels). */
void op_softmax(float *x, int n, float scale);

typedef struct rope_params {
    int32_t n_rot; /* rotated dims per head (<= head_dim) */
    bool neox;     /* pairs (i, i + n_rot/2) instead of (2i, 2i+1) */
    float base;    /* theta_i = pos * freq_scale * base^(-2i/n_rot) / factors[i] */
    float freq_scale;
    float mscale;         /* multiplies cos and sin (LongRoPE attn_factor) */
    const float *factors; /* n_rot/2 divisors, or NULL */
} rope_params;

/* Rotates every head of one token's vector x (n_head heads of head_dim) at position pos. */
void op_rope(float *x, int32_t n_head, int32_t head_dim, int32_t pos, const rope_params *p);

/* SiLU(gate) * up and GELU-tanh(gate) * up, elementwise over n values (result into gate). */
void op_swiglu(float *gate, const float *up, int64_t n);
void op_geglu_tanh(float *gate, const float *up, int64_t n);

/* x = cap * tanh(x / cap) over n values. */
void op_softcap(float *x, int64_t n, float cap);

#endif
