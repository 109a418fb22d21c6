/* test_grad.c - every backward op of src/tensor/ops_grad.h against central finite differences of
 * a float64 reference (grad_ref.h, tolerances explained there), on small random shapes with odd
 * sizes; and the forwards against the inference ops they must equal bit for bit (RoPE table vs
 * op_rope, RMSNorm vs op_rmsnorm, SwiGLU vs op_swiglu), and against the float64 references.
 * Ops that take a pool run on 1 and 3 threads and must give the same bits.
 */
#include "base/base.h"
#include "grad_ref.h"
#include "tensor/ops_grad.h"
#include "test.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Largest |a - b| over n values (float vs double). */
static double max_diff(const float *a, const double *b, int64_t n) {
    double m = 0;
    for (int64_t i = 0; i < n; i++)
        if (fabs(a[i] - b[i]) > m) m = fabs(a[i] - b[i]);
    return m;
}

/* L = Σ w ⊙ y over n values. */
static double weighted_sum(const double *w, const double *y, int64_t n) {
    double s = 0;
    for (int64_t i = 0; i < n; i++)
        s += w[i] * y[i];
    return s;
}

/* ---------------------------------------------------------------- embedding */

typedef struct emb_ctx {
    double *table, *w, *y;
    const int32_t *tokens;
    int64_t n_tok, dim;
} emb_ctx;

static double emb_loss(void *p) {
    emb_ctx *c = p;
    for (int64_t t = 0; t < c->n_tok; t++)
        memcpy(c->y + t * c->dim, c->table + c->tokens[t] * c->dim, sizeof(double) * c->dim);
    return weighted_sum(c->w, c->y, c->n_tok * c->dim);
}

static void test_embedding_gradient(void) {
    const int64_t V = 11, D = 7, n = 9;
    const int32_t tokens[9] = {3, 0, 10, 3, 5, 3, 9, 0, 1}; /* repeats must add up */
    float *tf = gr_falloc(V * D), *wf = gr_falloc(n * D), *out = gr_falloc(n * D);
    float *dt = gr_falloc(V * D);
    double *td = gr_dalloc(V * D), *wd = gr_dalloc(n * D), *yd = gr_dalloc(n * D);
    double *num = gr_dalloc(V * D);
    gr_fill(tf, td, V * D, 1.0);
    gr_fill(wf, wd, n * D, 1.0);
    op_embedding_forward(out, tf, tokens, n, D);
    CHECK(memcmp(out, tf + 3 * D, sizeof(float) * D) == 0 &&
              memcmp(out + 8 * D, tf + 1 * D, sizeof(float) * D) == 0,
          "embedding forward copies the rows of the tokens");
    /* the columns in two ranges, as two threads would split them */
    op_embedding_backward(dt, wf, tokens, n, D, 0, 3);
    op_embedding_backward(dt, wf, tokens, n, D, 3, D);
    emb_ctx c = {td, wd, yd, tokens, n, D};
    gr_numeric_grad(num, td, V * D, emb_loss, &c);
    gr_check("embedding dtable", dt, num, V * D);
    free(tf), free(wf), free(out), free(dt), free(td), free(wd), free(yd), free(num);
}

/* ---------------------------------------------------------------- RMSNorm */

typedef struct norm_ctx {
    double *x, *g, *w, *y;
    int64_t rows, dim;
    double eps;
} norm_ctx;

static double norm_loss(void *p) {
    norm_ctx *c = p;
    ref_rmsnorm(c->y, c->x, c->g, c->rows, c->dim, c->eps);
    return weighted_sum(c->w, c->y, c->rows * c->dim);
}

static void test_rmsnorm_gradient(void) {
    const int64_t R = 5, D = 33;
    const float eps = 1e-5f;
    float *x = gr_falloc(R * D), *g = gr_falloc(D), *w = gr_falloc(R * D), *y = gr_falloc(R * D);
    float *y2 = gr_falloc(D), *rstd = gr_falloc(R), *dx = gr_falloc(R * D), *dg = gr_falloc(D);
    double *xd = gr_dalloc(R * D), *gd = gr_dalloc(D), *wd = gr_dalloc(R * D);
    double *yd = gr_dalloc(R * D), *nx = gr_dalloc(R * D), *ng = gr_dalloc(D);
    gr_fill(x, xd, R * D, 2.0);
    gr_fill(g, gd, D, 1.5);
    gr_fill(w, wd, R * D, 1.0);
    op_rmsnorm_forward(y, rstd, x, g, R, D, eps);
    op_rmsnorm(y2, x + 2 * D, g, D, eps);
    CHECK(memcmp(y + 2 * D, y2, sizeof(float) * D) == 0,
          "RMSNorm forward equals the inference op_rmsnorm bit for bit");
    norm_ctx c = {xd, gd, wd, yd, R, D, eps};
    norm_loss(&c);
    CHECK(max_diff(y, yd, R * D) < 1e-5, "RMSNorm forward matches float64 (max diff %.3g)",
          max_diff(y, yd, R * D));
    op_rmsnorm_backward(dx, dg, w, x, g, rstd, R, D);
    gr_numeric_grad(nx, xd, R * D, norm_loss, &c);
    gr_numeric_grad(ng, gd, D, norm_loss, &c);
    gr_check("RMSNorm dx", dx, nx, R * D);
    gr_check("RMSNorm dg", dg, ng, D);
    free(x), free(g), free(w), free(y), free(y2), free(rstd), free(dx), free(dg);
    free(xd), free(gd), free(wd), free(yd), free(nx), free(ng);
}

/* ---------------------------------------------------------------- RoPE */

typedef struct rope_ctx {
    double *x, *w, *y;
    int32_t n_tok, n_head, hd, n_rot, p0;
    bool neox;
    double base;
} rope_ctx;

static double rope_loss(void *p) {
    rope_ctx *c = p;
    const int64_t W = (int64_t)c->n_head * c->hd;
    for (int32_t t = 0; t < c->n_tok; t++)
        ref_rope(c->y + t * W, c->x + t * W, c->p0 + t, c->n_head, c->hd, c->n_rot, c->neox,
                 c->base);
    return weighted_sum(c->w, c->y, c->n_tok * W);
}

static void rope_case(bool neox, int32_t hd, int32_t n_rot) {
    const int32_t n_tok = 7, n_head = 3, p0 = 5;
    const int64_t W = (int64_t)n_head * hd, N = n_tok * W;
    rope_params rp = {
        .n_rot = n_rot, .neox = neox, .base = 10000.0f, .freq_scale = 1.0f, .mscale = 1.0f};
    float *x = gr_falloc(N), *w = gr_falloc(N), *y = gr_falloc(N), *y2 = gr_falloc(N);
    float *cs = gr_falloc((int64_t)n_tok * n_rot), *dx = gr_falloc(N);
    double *xd = gr_dalloc(N), *wd = gr_dalloc(N), *yd = gr_dalloc(N), *num = gr_dalloc(N);
    gr_fill(x, xd, N, 1.0);
    gr_fill(w, wd, N, 1.0);
    op_rope_table(cs, p0, n_tok, &rp);
    memcpy(y2, x, sizeof(float) * N);
    for (int32_t t = 0; t < n_tok; t++) {
        op_rope_forward(y + t * W, x + t * W, cs + (int64_t)t * n_rot, n_head, hd, n_rot, neox);
        op_rope(y2 + t * W, n_head, hd, p0 + t, &rp);
    }
    CHECK(memcmp(y, y2, sizeof(float) * N) == 0,
          "RoPE (%s, head_dim %d, n_rot %d) from the table equals op_rope bit for bit",
          neox ? "neox" : "normal", hd, n_rot);
    rope_ctx c = {xd, wd, yd, n_tok, n_head, hd, n_rot, p0, neox, 10000.0};
    rope_loss(&c);
    CHECK(max_diff(y, yd, N) < 1e-5, "RoPE forward matches float64 (max diff %.3g)",
          max_diff(y, yd, N));
    for (int32_t t = 0; t < n_tok; t++)
        op_rope_backward(dx + t * W, w + t * W, cs + (int64_t)t * n_rot, n_head, hd, n_rot, neox);
    gr_numeric_grad(num, xd, N, rope_loss, &c);
    gr_check(neox ? "RoPE neox dx" : "RoPE normal dx", dx, num, N);
    free(x), free(w), free(y), free(y2), free(cs), free(dx), free(xd), free(wd), free(yd),
        free(num);
}

static void test_rope_gradient(void) {
    rope_case(false, 10, 10);
    rope_case(true, 10, 10);
    rope_case(false, 14, 6); /* partial rotary: dims 6..13 pass through */
}

/* ---------------------------------------------------------------- attention */

typedef struct attn_ctx {
    double *q, *k, *v, *w, *o;
    op_attn_shape s;
} attn_ctx;

static double attn_loss(void *p) {
    attn_ctx *c = p;
    ref_attention(c->o, c->q, c->k, c->v, c->s.T, c->s.n_head, c->s.n_kv, c->s.head_dim,
                  c->s.scale);
    return weighted_sum(c->w, c->o, (int64_t)c->s.T * c->s.n_head * c->s.head_dim);
}

static void attention_case(int32_t T, int32_t n_head, int32_t n_kv, int32_t hd) {
    const op_attn_shape s = {T, n_head, n_kv, hd, 1.0f / sqrtf((float)hd)};
    const int64_t NQ = (int64_t)T * n_head * hd, NK = (int64_t)T * n_kv * hd;
    const int32_t group = n_head / n_kv;
    float *q = gr_falloc(NQ), *k = gr_falloc(NK), *v = gr_falloc(NK), *w = gr_falloc(NQ);
    float *o = gr_falloc(NQ), *probs = gr_falloc((int64_t)group * T * T);
    float *scratch = gr_falloc((int64_t)T * T);
    float *dq = gr_falloc(NQ), *dk = gr_falloc(NK), *dv = gr_falloc(NK);
    double *qd = gr_dalloc(NQ), *kd = gr_dalloc(NK), *vd = gr_dalloc(NK), *wd = gr_dalloc(NQ);
    double *od = gr_dalloc(NQ), *nq = gr_dalloc(NQ), *nk = gr_dalloc(NK), *nv = gr_dalloc(NK);
    gr_fill(q, qd, NQ, 1.5);
    gr_fill(k, kd, NK, 1.5);
    gr_fill(v, vd, NK, 1.0);
    gr_fill(w, wd, NQ, 1.0);
    attn_ctx c = {qd, kd, vd, wd, od, s};
    attn_loss(&c);
    for (int32_t g = 0; g < n_kv; g++) {
        op_attention_forward(o, probs, q, k, v, &s, g);
        op_attention_backward(dq, dk, dv, w, q, k, v, probs, scratch, &s, g);
    }
    CHECK(max_diff(o, od, NQ) < 1e-5,
          "attention forward (T %d, %d heads, %d kv heads, head_dim %d) matches float64 (max "
          "diff %.3g)",
          T, n_head, n_kv, hd, max_diff(o, od, NQ));
    gr_numeric_grad(nq, qd, NQ, attn_loss, &c);
    gr_numeric_grad(nk, kd, NK, attn_loss, &c);
    gr_numeric_grad(nv, vd, NK, attn_loss, &c);
    gr_check("attention dq", dq, nq, NQ);
    gr_check("attention dk", dk, nk, NK);
    gr_check("attention dv", dv, nv, NK);
    free(q), free(k), free(v), free(w), free(o), free(probs), free(scratch), free(dq), free(dk);
    free(dv), free(qd), free(kd), free(vd), free(wd), free(od), free(nq), free(nk), free(nv);
}

static void test_attention_gradient(void) {
    attention_case(13, 3, 1, 5); /* one row block, a group of 3 heads */
    attention_case(67, 4, 2, 3); /* two row blocks (64 + 3): block edges in both directions */
    attention_case(1, 1, 1, 7);  /* a single token */
}

/* ---------------------------------------------------------------- SwiGLU */

typedef struct swiglu_ctx {
    double *g, *u, *w, *y;
    int64_t n;
} swiglu_ctx;

static double swiglu_loss(void *p) {
    swiglu_ctx *c = p;
    ref_swiglu(c->y, c->g, c->u, c->n);
    return weighted_sum(c->w, c->y, c->n);
}

static void test_swiglu_gradient(void) {
    const int64_t n = 37;
    float *g = gr_falloc(n), *u = gr_falloc(n), *w = gr_falloc(n), *y = gr_falloc(n);
    float *y2 = gr_falloc(n), *dg = gr_falloc(n), *du = gr_falloc(n);
    double *gd = gr_dalloc(n), *ud = gr_dalloc(n), *wd = gr_dalloc(n), *yd = gr_dalloc(n);
    double *ng = gr_dalloc(n), *nu = gr_dalloc(n);
    gr_fill(g, gd, n, 4.0);
    gr_fill(u, ud, n, 2.0);
    gr_fill(w, wd, n, 1.0);
    op_swiglu_forward(y, g, u, n);
    memcpy(y2, g, sizeof(float) * n);
    op_swiglu(y2, u, n);
    CHECK(memcmp(y, y2, sizeof(float) * n) == 0 && memcmp(g, y, sizeof(float)) != 0,
          "SwiGLU forward equals op_swiglu bit for bit and leaves gate unchanged");
    op_swiglu_backward(dg, du, w, g, u, n);
    swiglu_ctx c = {gd, ud, wd, yd, n};
    gr_numeric_grad(ng, gd, n, swiglu_loss, &c);
    gr_numeric_grad(nu, ud, n, swiglu_loss, &c);
    gr_check("SwiGLU dgate", dg, ng, n);
    gr_check("SwiGLU dup", du, nu, n);
    free(g), free(u), free(w), free(y), free(y2), free(dg), free(du);
    free(gd), free(ud), free(wd), free(yd), free(ng), free(nu);
}

/* ---------------------------------------------------------------- linear */

typedef struct linear_ctx {
    double *x, *wt, *w, *y;
    int64_t n_tok, n_in, n_out;
} linear_ctx;

static double linear_loss(void *p) {
    linear_ctx *c = p;
    ref_linear(c->y, c->x, c->wt, c->n_tok, c->n_in, c->n_out);
    return weighted_sum(c->w, c->y, c->n_tok * c->n_out);
}

static void test_linear_gradient(void) {
    const int64_t T = 9, I = 13, O = 7;
    kw_pool *pool = NULL;
    CHECK(kw_pool_create(3, &pool) == KW_OK, "a pool of 3 threads starts");
    float *x = gr_falloc(T * I), *wt = gr_falloc(O * I), *w = gr_falloc(T * O),
          *y = gr_falloc(T * O);
    float *dx = gr_falloc(T * I), *dw = gr_falloc(O * I), *dx1 = gr_falloc(T * I);
    float *dw1 = gr_falloc(O * I);
    double *xd = gr_dalloc(T * I), *wtd = gr_dalloc(O * I), *wd = gr_dalloc(T * O);
    double *yd = gr_dalloc(T * O), *nx = gr_dalloc(T * I), *nw = gr_dalloc(O * I);
    gr_fill(x, xd, T * I, 1.0);
    gr_fill(wt, wtd, O * I, 1.0);
    gr_fill(w, wd, T * O, 1.0);
    op_linear_forward(pool, y, x, wt, T, I, O, false);
    linear_ctx c = {xd, wtd, wd, yd, T, I, O};
    linear_loss(&c);
    CHECK(max_diff(y, yd, T * O) < 1e-5, "linear forward matches float64 (max diff %.3g)",
          max_diff(y, yd, T * O));
    op_linear_backward(pool, dx, dw, w, x, wt, T, I, O, false);
    op_linear_backward(NULL, dx1, dw1, w, x, wt, T, I, O, true);
    CHECK(memcmp(dx, dx1, sizeof(float) * T * I) == 0 &&
              memcmp(dw, dw1, sizeof(float) * O * I) == 0,
          "linear backward gives the same bits on 3 threads as on 1");
    gr_numeric_grad(nx, xd, T * I, linear_loss, &c);
    gr_numeric_grad(nw, wtd, O * I, linear_loss, &c);
    gr_check("linear dx", dx, nx, T * I);
    gr_check("linear dW", dw, nw, O * I);
    kw_pool_free(pool);
    free(x), free(wt), free(w), free(y), free(dx), free(dw), free(dx1), free(dw1);
    free(xd), free(wtd), free(wd), free(yd), free(nx), free(nw);
}

/* ---------------------------------------------------------------- cross-entropy */

typedef struct xent_ctx {
    double *h, *emb, *weight;
    const int32_t *targets;
    int64_t n, dim, n_vocab;
} xent_ctx;

static double xent_loss(void *p) {
    xent_ctx *c = p;
    return ref_xent(c->h, c->emb, c->targets, c->weight, c->n, c->dim, c->n_vocab);
}

static void test_cross_entropy_gradient(void) {
    const int64_t n = 7, D = 9, V = 23;
    const int32_t targets[7] = {4, -1, 22, 0, 4, 13, -1}; /* two rows masked out */
    kw_pool *pool = NULL;
    CHECK(kw_pool_create(3, &pool) == KW_OK, "a pool of 3 threads starts");
    float *h = gr_falloc(n * D), *emb = gr_falloc(V * D), *probs = gr_falloc(n * V);
    float *loss = gr_falloc(n), *dh = gr_falloc(n * D), *demb = gr_falloc(V * D);
    float weight[7];
    double *hd = gr_dalloc(n * D), *ed = gr_dalloc(V * D), wd[7], *nh = gr_dalloc(n * D);
    double *ne = gr_dalloc(V * D);
    gr_fill(h, hd, n * D, 1.0);
    gr_fill(emb, ed, V * D, 1.0);
    for (int i = 0; i < 7; i++)
        weight[i] = targets[i] < 0 ? 0.0f : 0.2f, wd[i] = weight[i];
    op_cross_entropy_forward(pool, loss, probs, h, emb, targets, n, D, V);
    xent_ctx c = {hd, ed, wd, targets, n, D, V};
    double want = 0, got = 0;
    for (int r = 0; r < 7; r++) {
        double one = 1.0;
        if (targets[r] < 0) continue;
        want = ref_xent(hd + r * D, ed, targets + r, &one, 1, D, V);
        got = loss[r];
        CHECK(fabs(got - want) < 1e-5, "row %d: loss %.7f equals float64 %.7f", r, got, want);
    }
    CHECK(loss[1] == 0.0f && loss[6] == 0.0f, "masked rows have zero loss");
    op_cross_entropy_backward(pool, dh, demb, probs, h, emb, targets, weight, n, D, V);
    gr_numeric_grad(nh, hd, n * D, xent_loss, &c);
    gr_numeric_grad(ne, ed, V * D, xent_loss, &c);
    gr_check("cross-entropy dh", dh, nh, n * D);
    gr_check("cross-entropy demb (tied output layer)", demb, ne, V * D);

    /* a target far below the best logit: its probability underflows, the loss does not */
    float hb[2] = {1.0f, 0.0f}, eb[6] = {120.0f, 0.0f, 0.0f, 0.0f, -30.0f, 0.0f}, pb[3], lb;
    int32_t tb = 2;
    op_cross_entropy_forward(NULL, &lb, pb, hb, eb, &tb, 1, 2, 3);
    CHECK(fabsf(lb - 150.0f) < 1e-3f, "loss of an underflowing target is 150 nats (got %.6f)", lb);
    kw_pool_free(pool);
    free(h), free(emb), free(probs), free(loss), free(dh), free(demb), free(hd), free(ed);
    free(nh), free(ne);
}

int main(void) {
    RUN_TEST(test_embedding_gradient);
    RUN_TEST(test_rmsnorm_gradient);
    RUN_TEST(test_rope_gradient);
    RUN_TEST(test_attention_gradient);
    RUN_TEST(test_swiglu_gradient);
    RUN_TEST(test_linear_gradient);
    RUN_TEST(test_cross_entropy_gradient);
    return test_report();
}
