/* attn_grad.c - causal grouped-query attention of a training step, forward and backward (see
 * ops_grad.h), one sequence and one KV head per call.
 *
 * Forward, per query head h of the group (S, P: T x T, row i = query i, column j = key j):
 *   S = q_h · K_gᵀ,  P = softmax(S · scale) over j <= i (op_softmax, the inference op),  o_h = P ·
 * V_g Backward, with dP = do_h · V_gᵀ and D_i = Σ_j P_ij dP_ij (= do_i · o_i): dS = scale · P ⊙ (dP
 * − D),  dq_h += dS · K_g,  dK_g += dSᵀ · q_h,  dV_g += Pᵀ · do_h Every product is a tensor_sgemm
 * on the calling thread (the caller spreads (sequence, KV head) items over the pool). Query rows go
 * in blocks of ATTN_ROW_BLOCK: block [i0, i1) needs keys [0, i1) only, so the masked half is mostly
 * skipped; key blocks likewise need queries [j0, T). The heads of a group add into dK_g and dV_g in
 * head order: the sums do not depend on threads. Must not: allocate; read probs or scratch outside
 * the T x T areas it is given.
 */
#include "tensor/gemm.h"
#include "tensor/kernels/kernels.h"
#include "tensor/ops_grad.h"

#include <string.h>

/* Rows of queries (or keys) per block of the matrix products. */
#define ATTN_ROW_BLOCK 64

static int32_t min32(int32_t a, int32_t b) { return a < b ? a : b; }

void op_attention_forward(float *out, float *probs, const float *q, const float *k, const float *v,
                          const op_attn_shape *s, int32_t g) {
    const int32_t T = s->T, hd = s->head_dim, group = s->n_head / s->n_kv;
    const int64_t Q = (int64_t)s->n_head * hd, KV = (int64_t)s->n_kv * hd;
    const float *kg = k + (int64_t)g * hd, *vg = v + (int64_t)g * hd;
    for (int32_t j = 0; j < group; j++) {
        const int64_t h = (int64_t)g * group + j;
        const float *qh = q + h * hd;
        float *oh = out + h * hd, *P = probs + (int64_t)j * T * T;
        for (int32_t i0 = 0; i0 < T; i0 += ATTN_ROW_BLOCK) {
            const int32_t i1 = min32(i0 + ATTN_ROW_BLOCK, T);
            tensor_sgemm(NULL, false, true, i1 - i0, i1, hd, qh + i0 * Q, Q, kg, KV, 0.0f,
                         P + (int64_t)i0 * T, T);
            for (int32_t i = i0; i < i1; i++) {
                float *row = P + (int64_t)i * T;
                op_softmax(row, i + 1, s->scale);
                memset(row + i + 1, 0, sizeof(float) * (size_t)(T - i - 1));
            }
            tensor_sgemm(NULL, false, false, i1 - i0, hd, i1, P + (int64_t)i0 * T, T, vg, KV, 0.0f,
                         oh + i0 * Q, Q);
        }
    }
}

/* dP of rows [i0, i1) becomes dS in place: scale · P ⊙ (dP − D), zero above the diagonal. */
static void softmax_backward_rows(float *dP, const float *P, int32_t T, int32_t i0, int32_t i1,
                                  float scale) {
    const kernel_grad *k = kernels_grad();
    for (int32_t i = i0; i < i1; i++) {
        float *d = dP + (int64_t)i * T;
        k->softmax_backward(d, P + (int64_t)i * T, i + 1, scale);
        for (int32_t j = i + 1; j < i1; j++)
            d[j] = 0.0f;
    }
}

void op_attention_backward(float *dq, float *dk, float *dv, const float *dout, const float *q,
                           const float *k, const float *v, const float *probs, float *scratch,
                           const op_attn_shape *s, int32_t g) {
    const int32_t T = s->T, hd = s->head_dim, group = s->n_head / s->n_kv;
    const int64_t Q = (int64_t)s->n_head * hd, KV = (int64_t)s->n_kv * hd;
    const float *kg = k + (int64_t)g * hd, *vg = v + (int64_t)g * hd;
    float *dkg = dk + (int64_t)g * hd, *dvg = dv + (int64_t)g * hd;
    float *dS = scratch;
    for (int32_t j = 0; j < group; j++) {
        const int64_t h = (int64_t)g * group + j;
        const float *qh = q + h * hd, *doh = dout + h * hd, *P = probs + (int64_t)j * T * T;
        float *dqh = dq + h * hd;
        for (int32_t i0 = 0; i0 < T; i0 += ATTN_ROW_BLOCK) {
            const int32_t i1 = min32(i0 + ATTN_ROW_BLOCK, T);
            float *dSb = dS + (int64_t)i0 * T;
            tensor_sgemm(NULL, false, true, i1 - i0, i1, hd, doh + i0 * Q, Q, vg, KV, 0.0f, dSb, T);
            softmax_backward_rows(dS, P, T, i0, i1, s->scale);
            tensor_sgemm(NULL, false, false, i1 - i0, hd, i1, dSb, T, kg, KV, 1.0f, dqh + i0 * Q,
                         Q);
        }
        /* key block [j0, j1) hears from queries [j0, T); entries above the diagonal are zero in
         * both P and dS (rows of dS past each block's own columns are never read) */
        for (int32_t j0 = 0; j0 < T; j0 += ATTN_ROW_BLOCK) {
            const int32_t j1 = min32(j0 + ATTN_ROW_BLOCK, T);
            const int64_t off = (int64_t)j0 * T + j0;
            tensor_sgemm(NULL, true, false, j1 - j0, hd, T - j0, P + off, T, doh + j0 * Q, Q, 1.0f,
                         dvg + j0 * KV, KV);
            tensor_sgemm(NULL, true, false, j1 - j0, hd, T - j0, dS + off, T, qh + j0 * Q, Q, 1.0f,
                         dkg + j0 * KV, KV);
        }
    }
}
