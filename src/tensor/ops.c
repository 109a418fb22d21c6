/* ops.c - plain C implementations of the forward-pass operations (see ops.h).
 *
 * Numerics follow what the reference (llama.cpp/ggml) computes where it matters for matching its
 * logits: RMSNorm sums squares in double; RoPE builds each pair's angle by repeated multiplication
 * by base^(-2/n_rot) in float, as ggml_rope_cache_init does; softmax sums in double.
 */
#include "tensor/ops.h"
#include "tensor/quants.h"

#include <math.h>
#include <string.h>

/* ---------------------------------------------------------------- matmul */

typedef struct matmul_task {
    float *out;
    const kw_weight *w;
    const float *x;
    int64_t n_tok;
    float *rowbuf;
} matmul_task;

static float dot_f32(const float *a, const float *b, int64_t n) {
    float s = 0;
    for (int64_t i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

static void matmul_worker(void *arg, int ith, int nth) {
    const matmul_task *t = arg;
    const kw_weight *w = t->w;
    int64_t r0, r1;
    kw_split_range(w->n_out, ith, nth, &r0, &r1);
    float *row = t->rowbuf + (size_t)ith * (size_t)w->n_in;
    for (int64_t r = r0; r < r1; r++) {
        const void *src = (const uint8_t *)w->data + (uint64_t)r * w->row_bytes;
        const float *wr;
        if (w->type == GGML_TYPE_F32) {
            wr = src;
        } else {
            quant_dequantize_row(w->type, src, row, w->n_in);
            wr = row;
        }
        for (int64_t tok = 0; tok < t->n_tok; tok++)
            t->out[tok * w->n_out + r] = dot_f32(wr, t->x + tok * w->n_in, w->n_in);
    }
}

void op_matmul(kw_pool *pool, float *out, const kw_weight *w, const float *x, int64_t n_tok,
               float *rowbuf) {
    matmul_task t = {out, w, x, n_tok, rowbuf};
    kw_pool_run(pool, matmul_worker, &t);
}

void op_weight_vector(float *out, const kw_weight *w) { op_weight_row(out, w, 0); }

void op_weight_row(float *out, const kw_weight *w, int64_t row) {
    const uint8_t *src = (const uint8_t *)w->data + (uint64_t)row * w->row_bytes;
    quant_dequantize_row(w->type, src, out, w->n_in);
}

/* ---------------------------------------------------------------- elementwise */

void op_rmsnorm(float *y, const float *x, const float *g, int64_t n, float eps) {
    double sum = 0;
    for (int64_t i = 0; i < n; i++) sum += (double)(x[i] * x[i]);
    float scale = 1.0f / sqrtf((float)(sum / (double)n) + eps);
    if (g)
        for (int64_t i = 0; i < n; i++) y[i] = x[i] * scale * g[i];
    else
        for (int64_t i = 0; i < n; i++) y[i] = x[i] * scale;
}

void op_add_bias(float *y, const float *b, int64_t n_tok, int64_t n) {
    for (int64_t t = 0; t < n_tok; t++)
        for (int64_t i = 0; i < n; i++) y[t * n + i] += b[i];
}

void op_rope(float *x, int32_t n_head, int32_t head_dim, int32_t pos, const rope_params *p) {
    const float theta_scale = powf(p->base, -2.0f / (float)p->n_rot);
    const int32_t half = p->n_rot / 2;
    for (int32_t h = 0; h < n_head; h++) {
        float *v = x + (int64_t)h * head_dim;
        float theta = (float)pos;
        for (int32_t i = 0; i < half; i++) {
            float ff = p->factors ? p->factors[i] : 1.0f;
            float angle = p->freq_scale * (theta / ff);
            float c = cosf(angle) * p->mscale, s = sinf(angle) * p->mscale;
            int32_t a = p->neox ? i : 2 * i, b = p->neox ? i + half : 2 * i + 1;
            float x0 = v[a], x1 = v[b];
            v[a] = x0 * c - x1 * s;
            v[b] = x0 * s + x1 * c;
            theta *= theta_scale;
        }
    }
}

void op_swiglu(float *gate, const float *up, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        float g = gate[i];
        gate[i] = g / (1.0f + expf(-g)) * up[i];
    }
}

void op_geglu_tanh(float *gate, const float *up, int64_t n) {
    const float sqrt_2_over_pi = 0.79788456080286535588f;
    for (int64_t i = 0; i < n; i++) {
        float g = gate[i];
        float y = 0.5f * g * (1.0f + tanhf(sqrt_2_over_pi * g * (1.0f + 0.044715f * g * g)));
        gate[i] = y * up[i];
    }
}

void op_softcap(float *x, int64_t n, float cap) {
    for (int64_t i = 0; i < n; i++) x[i] = cap * tanhf(x[i] / cap);
}
