/* ops_grad.h - the operations of a llama-architecture training step, each as a forward that keeps
 * what its backward needs and the backward itself: embedding, RMSNorm, RoPE (normal or NeoX
 * pairs), grouped-query causal attention, SwiGLU, linear layers (tensor_sgemm) and cross-entropy
 * over the vocabulary with the embedding matrix as the output layer (tied embeddings).
 *
 * Conventions (one for every op here):
 *  - Activations are row-major (n_tok, width) float32 arrays; a weight matrix W has n_out rows of
 *    n_in values and a linear layer computes y = x · Wᵀ, as in ops.h. Argument order: outputs,
 *    inputs, sizes.
 *  - Forwards write their outputs. Backwards ADD into every gradient they produce (inputs and
 *    parameters alike): gradients flowing into one buffer from two places (the residual stream,
 *    the tied embedding) need no extra pass, and the caller clears gradients in one place.
 *  - Pure functions of their arguments: no state, no allocation; scratch comes from the caller.
 *    Each is plain C, the reference its tests check against float64 finite differences
 *    (tests/unit/test_grad.c). Ops that take a pool split their work into chunks whose results do
 *    not depend on which thread ran them: the same inputs give the same bits for any thread count.
 *  - Where inference has the op, the forward computes exactly what inference does (op_rmsnorm,
 *    op_swiglu, op_softmax of ops.h; op_rope_table holds the cos/sin op_rope uses), so a trained
 *    model runs in kaiwu's forward pass with the numbers it was trained with.
 */
#ifndef KAIWU_OPS_GRAD_H
#define KAIWU_OPS_GRAD_H

#include "tensor/ops.h"

/* ---------------------------------------------------------------- embedding */

/* out[t] = table[tokens[t]] for n_tok tokens, rows of dim values. Tokens must be in range. */
void op_embedding_forward(float *out, const float *table, const int32_t *tokens, int64_t n_tok,
                          int64_t dim);
/* dtable[tokens[t]][c] += dout[t][c] for columns c in [c0, c1): a caller splitting the columns
 * among threads gives each one whole columns, summed over tokens in token order. */
void op_embedding_backward(float *dtable, const float *dout, const int32_t *tokens, int64_t n_tok,
                           int64_t dim, int64_t c0, int64_t c1);

/* ---------------------------------------------------------------- RMSNorm */

/* y[r] = op_rmsnorm(x[r], g) for n_rows rows of dim values; rstd[r] = 1 / sqrt(mean(x[r]²) + eps)
 * (squares summed in double, as the reference kernel does). */
void op_rmsnorm_forward(float *y, float *rstd, const float *x, const float *g, int64_t n_rows,
                        int64_t dim, float eps);
/* With x̂ = x · rstd: dx += rstd · (g⊙dy − x̂ · mean(g⊙dy⊙x̂)), dg += Σ_rows dy ⊙ x̂. */
void op_rmsnorm_backward(float *dx, float *dg, const float *dy, const float *x, const float *g,
                         const float *rstd, int64_t n_rows, int64_t dim);

/* ---------------------------------------------------------------- RoPE */

/* The cos and sin of every rotated pair at positions p0 .. p0 + n_pos - 1:
 * cs[(p * n_rot/2 + i) * 2 + 0 / 1], bit for bit the values op_rope computes (mscale included). */
void op_rope_table(float *cs, int32_t p0, int32_t n_pos, const rope_params *p);
/* y = RoPE(x) for one token of n_head heads (head_dim values each, rows head_dim apart) with its
 * row of the table (cs + pos * n_rot); dims past n_rot are copied. y may be x. */
void op_rope_forward(float *y, const float *x, const float *cs, int32_t n_head, int32_t head_dim,
                     int32_t n_rot, bool neox);
/* dx += Rᵀ dy (the rotation by minus the angle). */
void op_rope_backward(float *dx, const float *dy, const float *cs, int32_t n_head, int32_t head_dim,
                      int32_t n_rot, bool neox);

/* ---------------------------------------------------------------- attention */

/* Causal grouped-query attention over one sequence of T tokens: query head h reads KV head
 * h / (n_head / n_kv). Rows of q, out, dq, dout hold n_head * head_dim values; rows of k, v, dk,
 * dv hold n_kv * head_dim. */
typedef struct op_attn_shape {
    int32_t T;        /* tokens of the sequence, e.g. 256 */
    int32_t n_head;   /* query heads, e.g. 8 */
    int32_t n_kv;     /* key/value heads, a divisor of n_head, e.g. 4 */
    int32_t head_dim; /* e.g. 64 */
    float scale;      /* q·k scale, 1/sqrt(head_dim) */
} op_attn_shape;

/* For the query heads of KV head g: out_h = softmax(q_h · K_gᵀ · scale, causal) · V_g. probs (group
 * x T x T, group = n_head / n_kv) receives the softmax rows (zeros above the diagonal): backward
 * needs them. The matrix products run through tensor_sgemm on the calling thread, in blocks of
 * query rows that skip most of the masked half. */
void op_attention_forward(float *out, float *probs, const float *q, const float *k, const float *v,
                          const op_attn_shape *s, int32_t g);
/* dq, dk, dv += the gradients of the forward above for KV head g, given dout and the probs it
 * kept; scratch holds T x T floats. */
void op_attention_backward(float *dq, float *dk, float *dv, const float *dout, const float *q,
                           const float *k, const float *v, const float *probs, float *scratch,
                           const op_attn_shape *s, int32_t g);

/* ---------------------------------------------------------------- SwiGLU */

/* out = SiLU(gate) ⊙ up over n values: op_swiglu out of place. */
void op_swiglu_forward(float *out, const float *gate, const float *up, int64_t n);
/* dgate += dout ⊙ up ⊙ σ(g)(1 + g(1 − σ(g))), dup += dout ⊙ SiLU(g). */
void op_swiglu_backward(float *dgate, float *dup, const float *dout, const float *gate,
                        const float *up, int64_t n);

/* ---------------------------------------------------------------- linear */

/* y = x · Wᵀ (y += x · Wᵀ when add: a residual connection): x (n_tok, n_in), W (n_out, n_in),
 * y (n_tok, n_out). */
void op_linear_forward(kw_pool *pool, float *y, const float *x, const float *w, int64_t n_tok,
                       int64_t n_in, int64_t n_out, bool add);
/* dx += dy · W (dx = dy · W when dx_overwrite: a fresh buffer needs no clearing first; skipped
 * when dx is NULL), dW += dyᵀ · x. */
void op_linear_backward(kw_pool *pool, float *dx, float *dw, const float *dy, const float *x,
                        const float *w, int64_t n_tok, int64_t n_in, int64_t n_out,
                        bool dx_overwrite);

/* ---------------------------------------------------------------- cross-entropy */

/* For n rows of hidden states h (n, dim) and the embedding matrix emb (n_vocab, dim) as output
 * layer: probs (n, n_vocab) = softmax(h · embᵀ) and loss[r] = −log probs[r][targets[r]] (the
 * negative log-likelihood in nats, computed from the logits when the probability underflows).
 * A row whose target is negative is skipped: its loss is 0 and its probs row is left unspecified.
 */
void op_cross_entropy_forward(kw_pool *pool, float *loss, float *probs, const float *h,
                              const float *emb, const int32_t *targets, int64_t n, int64_t dim,
                              int64_t n_vocab);
/* With the probs of the forward (overwritten: they become the logits' gradient), row weights
 * weight[r] (the factor of row r's loss in the total being differentiated; 0 for a skipped row):
 * dh += dlogits · emb, demb += dlogitsᵀ · h, where dlogits[r] = weight[r] (probs[r] − onehot). */
void op_cross_entropy_backward(kw_pool *pool, float *dh, float *demb, float *probs, const float *h,
                               const float *emb, const int32_t *targets, const float *weight,
                               int64_t n, int64_t dim, int64_t n_vocab);

#endif
