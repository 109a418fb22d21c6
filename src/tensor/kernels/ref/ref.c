/* ref.c - the reference kernel table: the plain C dot products of tensor/quants*.c behind the
 * kernel_dot_fn signature. Every SIMD kernel is tested against these.
 * Relies on: tensor/quants.h. Must not: use CPU-specific code.
 */
#include "base/base.h"
#include "tensor/blocks.h"
#include "tensor/kernels/kernels.h"
#include "tensor/quants.h"

#include <math.h>
#include <stdint.h>

static void dot_q8_ref(uint32_t wtype, int64_t n, const void *w, const void *x, size_t x_stride,
                       int nt, float *s) {
    for (int t = 0; t < nt; t++)
        s[t] = quant_vec_dot_q8_ref(wtype, w, (const uint8_t *)x + (size_t)t * x_stride, n);
}

static void dot_f_ref(uint32_t wtype, int64_t n, const void *w, const void *x, size_t x_stride,
                      int nt, float *s) {
    for (int t = 0; t < nt; t++)
        s[t] = quant_vec_dot_f32_ref(wtype, w,
                                     (const float *)((const uint8_t *)x + (size_t)t * x_stride), n);
}

#define REF_Q8(name, type)                                                                         \
    static void name(int64_t n, const void *w, const void *x, size_t xs, int nt, float *s) {       \
        dot_q8_ref(type, n, w, x, xs, nt, s);                                                      \
    }
#define REF_F(name, type)                                                                          \
    static void name(int64_t n, const void *w, const void *x, size_t xs, int nt, float *s) {       \
        dot_f_ref(type, n, w, x, xs, nt, s);                                                       \
    }
REF_Q8(dot_q4_0, GGML_TYPE_Q4_0)
REF_Q8(dot_q4_1, GGML_TYPE_Q4_1)
REF_Q8(dot_q5_0, GGML_TYPE_Q5_0)
REF_Q8(dot_q5_1, GGML_TYPE_Q5_1)
REF_Q8(dot_q8_0, GGML_TYPE_Q8_0)
REF_Q8(dot_q2_K, GGML_TYPE_Q2_K)
REF_Q8(dot_q3_K, GGML_TYPE_Q3_K)
REF_Q8(dot_q4_K, GGML_TYPE_Q4_K)
REF_Q8(dot_q5_K, GGML_TYPE_Q5_K)
REF_Q8(dot_q6_K, GGML_TYPE_Q6_K)
REF_F(dot_f32, GGML_TYPE_F32)
REF_F(dot_f16, GGML_TYPE_F16)
REF_F(dot_bf16, GGML_TYPE_BF16)
REF_Q8(dot_iq4_nl, GGML_TYPE_IQ4_NL)
REF_Q8(dot_iq4_xs, GGML_TYPE_IQ4_XS)
REF_Q8(dot_iq3_xxs, GGML_TYPE_IQ3_XXS)
REF_Q8(dot_iq3_s, GGML_TYPE_IQ3_S)
REF_Q8(dot_iq2_xxs, GGML_TYPE_IQ2_XXS)
REF_Q8(dot_iq2_xs, GGML_TYPE_IQ2_XS)
REF_Q8(dot_iq2_s, GGML_TYPE_IQ2_S)
REF_Q8(dot_iq1_s, GGML_TYPE_IQ1_S)
REF_Q8(dot_iq1_m, GGML_TYPE_IQ1_M)
REF_Q8(dot_tq1_0, GGML_TYPE_TQ1_0)
REF_Q8(dot_tq2_0, GGML_TYPE_TQ2_0)
REF_Q8(dot_mxfp4, GGML_TYPE_MXFP4)

void kernels_fill_ref(kernel_entry *t) {
    static const struct {
        uint32_t type;
        kernel_dot_fn dot;
    } dots[] = {
        {GGML_TYPE_Q4_0, dot_q4_0},     {GGML_TYPE_Q4_1, dot_q4_1},
        {GGML_TYPE_Q5_0, dot_q5_0},     {GGML_TYPE_Q5_1, dot_q5_1},
        {GGML_TYPE_Q8_0, dot_q8_0},     {GGML_TYPE_Q2_K, dot_q2_K},
        {GGML_TYPE_Q3_K, dot_q3_K},     {GGML_TYPE_Q4_K, dot_q4_K},
        {GGML_TYPE_Q5_K, dot_q5_K},     {GGML_TYPE_Q6_K, dot_q6_K},
        {GGML_TYPE_F32, dot_f32},       {GGML_TYPE_F16, dot_f16},
        {GGML_TYPE_BF16, dot_bf16},     {GGML_TYPE_IQ4_NL, dot_iq4_nl},
        {GGML_TYPE_IQ4_XS, dot_iq4_xs}, {GGML_TYPE_IQ3_XXS, dot_iq3_xxs},
        {GGML_TYPE_IQ3_S, dot_iq3_s},   {GGML_TYPE_IQ2_XXS, dot_iq2_xxs},
        {GGML_TYPE_IQ2_XS, dot_iq2_xs}, {GGML_TYPE_IQ2_S, dot_iq2_s},
        {GGML_TYPE_IQ1_S, dot_iq1_s},   {GGML_TYPE_IQ1_M, dot_iq1_m},
        {GGML_TYPE_TQ1_0, dot_tq1_0},   {GGML_TYPE_TQ2_0, dot_tq2_0},
        {GGML_TYPE_MXFP4, dot_mxfp4},
    };
    for (size_t i = 0; i < sizeof dots / sizeof dots[0]; i++) {
        kernel_entry *e = &t[dots[i].type];
        e->dot = dots[i].dot;
        e->isa = "ref";
        e->act_type = quant_vec_dot_type(dots[i].type);
        switch (e->act_type) {
        case GGML_TYPE_Q8_0: e->quantize = quant_quantize_row_q8_0; break;
        case GGML_TYPE_Q8_1: e->quantize = quant_quantize_row_q8_1; break;
        case GGML_TYPE_Q8_K: e->quantize = quant_quantize_row_q8_K; break;
        default: e->act_type = GGML_TYPE_F32, e->quantize = NULL; break;
        }
    }
}

/* ---------------------------------------------------------------- attention */

static void qk_ref(const float *q, size_t qs, int nq, const float *kt, size_t ks, int n, int np,
                   float *scores, size_t ss) {
    for (int j = 0; j < nq; j++)
        for (int p = 0; p < np; p++) {
            float s = 0;
            for (int i = 0; i < n; i++)
                s += q[(size_t)j * qs + i] * kt[(size_t)i * ks + p];
            scores[(size_t)j * ss + p] = s;
        }
}

static void av_ref(const float *w, size_t ws, int nq, const float *v, size_t vs, int n, int np,
                   float *out, size_t os) {
    for (int j = 0; j < nq; j++)
        for (int p = 0; p < np; p++)
            for (int i = 0; i < n; i++)
                out[(size_t)j * os + i] += w[(size_t)j * ws + p] * v[(size_t)p * vs + i];
}

static void softmax_ref(float *x, int n, float scale) {
    float max = -INFINITY;
    for (int i = 0; i < n; i++) {
        x[i] *= scale;
        if (x[i] > max) max = x[i];
    }
    double sum = 0;
    for (int i = 0; i < n; i++) {
        x[i] = expf(x[i] - max);
        sum += x[i];
    }
    const float inv = (float)(1.0 / sum);
    for (int i = 0; i < n; i++)
        x[i] *= inv;
}

static float softmax_tile_ref(float *x, int n, float scale, float *max_io) {
    float max = *max_io;
    for (int i = 0; i < n; i++) {
        x[i] *= scale;
        if (x[i] > max) max = x[i];
    }
    double sum = 0;
    for (int i = 0; i < n; i++) {
        x[i] = expf(x[i] - max);
        sum += x[i];
    }
    *max_io = max;
    return (float)sum;
}

/* ---- F16 and Q8_0 caches */

static void qk_f16_ref(const float *q, size_t qs, int nq, const uint16_t *kt, size_t ks, int n,
                       int np, float *scores, size_t ss) {
    for (int j = 0; j < nq; j++)
        for (int p = 0; p < np; p++) {
            float s = 0;
            for (int i = 0; i < n; i++)
                s += q[(size_t)j * qs + i] * kw_f16_to_f32(kt[(size_t)i * ks + p]);
            scores[(size_t)j * ss + p] = s;
        }
}

static void av_f16_ref(const float *w, size_t ws, int nq, const uint16_t *v, size_t vs, int n,
                       int np, float *out, size_t os) {
    for (int j = 0; j < nq; j++)
        for (int p = 0; p < np; p++)
            for (int i = 0; i < n; i++)
                out[(size_t)j * os + i] +=
                    w[(size_t)j * ws + p] * kw_f16_to_f32(v[(size_t)p * vs + i]);
}

static void qk_q8_0_ref(const float *q, size_t qs, int nq, const void *k, size_t ks, int n, int np,
                        float *scores, size_t ss) {
    for (int j = 0; j < nq; j++)
        for (int p = 0; p < np; p++) {
            const block_q8_0 *b = (const block_q8_0 *)((const uint8_t *)k + (size_t)p * ks);
            const float *qj = q + (size_t)j * qs;
            float s = 0;
            for (int ib = 0; ib < n / QK8_0; ib++) {
                float bs = 0;
                for (int i = 0; i < QK8_0; i++)
                    bs += qj[ib * QK8_0 + i] * (float)b[ib].qs[i];
                s += bs * kw_f16_to_f32(b[ib].d);
            }
            scores[(size_t)j * ss + p] = s;
        }
}

static void av_q8_0_ref(const float *w, size_t ws, int nq, const void *v, size_t vs, int n, int np,
                        float *out, size_t os) {
    for (int j = 0; j < nq; j++)
        for (int p = 0; p < np; p++) {
            const block_q8_0 *b = (const block_q8_0 *)((const uint8_t *)v + (size_t)p * vs);
            for (int ib = 0; ib < n / QK8_0; ib++) {
                const float wd = w[(size_t)j * ws + p] * kw_f16_to_f32(b[ib].d);
                for (int i = 0; i < QK8_0; i++)
                    out[(size_t)j * os + ib * QK8_0 + i] += wd * (float)b[ib].qs[i];
            }
        }
}

/* ---------------------------------------------------------------- elementwise */

static void swiglu_ref(float *gate, const float *up, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        float g = gate[i];
        gate[i] = g / (1.0f + expf(-g)) * up[i];
    }
}

static void rmsnorm_ref(float *y, const float *x, const float *g, int64_t n, float eps) {
    double sum = 0;
    for (int64_t i = 0; i < n; i++)
        sum += (double)(x[i] * x[i]);
    float scale = 1.0f / sqrtf((float)(sum / (double)n) + eps);
    if (g)
        for (int64_t i = 0; i < n; i++)
            y[i] = x[i] * scale * g[i];
    else
        for (int64_t i = 0; i < n; i++)
            y[i] = x[i] * scale;
}

static void add_scaled_ref(float *y, const float *x, float s, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        y[i] += x[i] * s;
}

void kernels_fill_attn_ref(kernel_attn *a) {
    a->qk = qk_ref;
    a->av = av_ref;
    a->softmax = softmax_ref;
    a->qk_f16 = qk_f16_ref;
    a->av_f16 = av_f16_ref;
    a->qk_q8_0 = qk_q8_0_ref;
    a->av_q8_0 = av_q8_0_ref;
    a->softmax_tile = softmax_tile_ref;
    a->swiglu = swiglu_ref;
    a->rmsnorm = rmsnorm_ref;
    a->add_scaled = add_scaled_ref;
}
