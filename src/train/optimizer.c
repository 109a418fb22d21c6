/* optimizer.c - AdamW (Loshchilov & Hutter, "Decoupled Weight Decay Regularization", 2019) with
 * a linear warmup and a cosine decay of the learning rate, and the global gradient norm for
 * clipping.
 *
 *   m = β1 m + (1 − β1) g,  v = β2 v + (1 − β2) g²,  m̂ = m / (1 − β1ᵗ),  v̂ = v / (1 − β2ᵗ)
 *   p -= lr (m̂ / (√v̂ + ε) + λ p)      (λ only on matrices: the layout's decay flag)
 *
 * Elementwise work is split in fixed chunks over the pool; the norm's partial sums are per chunk
 * and added in chunk order, so the result is the same on any thread count. Must not: allocate.
 */
#include "tensor/kernels/kernels.h"
#include "train/train.h"

#include <math.h>

/* Floats per chunk of the elementwise work (a fixed number: see the file comment). */
#define OPT_CHUNK 16384
/* Most chunks of one norm (partials on the stack). */
#define OPT_MAX_CHUNKS 65536

float train_lr_at(const train_optim *o, int64_t step) {
    if (o->warmup > 0 && step < o->warmup) return o->lr * (float)(step + 1) / (float)o->warmup;
    const int64_t span = o->n_steps - o->warmup;
    if (span <= 0) return o->lr;
    double progress = (double)(step - o->warmup) / (double)span;
    if (progress > 1.0) progress = 1.0;
    return (float)(o->min_lr +
                   0.5 * (o->lr - o->min_lr) * (1.0 + cos(3.14159265358979323846 * progress)));
}

typedef struct norm_task {
    const float *g;
    size_t n;
    double *part;
} norm_task;

static void norm_chunk(void *arg, int64_t c, int ith) {
    const norm_task *t = arg;
    (void)ith;
    const size_t i0 = (size_t)c * OPT_CHUNK, i1 = i0 + OPT_CHUNK < t->n ? i0 + OPT_CHUNK : t->n;
    double s = 0;
    for (size_t i = i0; i < i1; i++)
        s += (double)t->g[i] * (double)t->g[i];
    t->part[c] = s;
}

double train_grad_norm(kw_pool *pool, const float *g, size_t n) {
    double total = 0;
    /* in slices of OPT_MAX_CHUNKS chunks, so the partials fit a fixed array */
    static _Thread_local double part[OPT_MAX_CHUNKS];
    for (size_t s0 = 0; s0 < n; s0 += (size_t)OPT_CHUNK * OPT_MAX_CHUNKS) {
        const size_t len = n - s0 < (size_t)OPT_CHUNK * OPT_MAX_CHUNKS
                               ? n - s0
                               : (size_t)OPT_CHUNK * OPT_MAX_CHUNKS;
        norm_task t = {g + s0, len, part};
        const int64_t nc = (int64_t)((len + OPT_CHUNK - 1) / OPT_CHUNK);
        kw_pool_for(pool, nc, norm_chunk, &t);
        for (int64_t c = 0; c < nc; c++)
            total += part[c];
    }
    return sqrt(total);
}

typedef struct adam_task {
    float *p, *m, *v;
    const float *g;
    size_t n;
    float lr, b1, b2, eps, wd, scale;
    float bc1, bc2; /* 1 − β1ᵗ, 1 − β2ᵗ */
} adam_task;

static void adam_chunk(void *arg, int64_t c, int ith) {
    const adam_task *t = arg;
    (void)ith;
    const size_t i0 = (size_t)c * OPT_CHUNK, i1 = i0 + OPT_CHUNK < t->n ? i0 + OPT_CHUNK : t->n;
    kernels_grad()->adamw(t->p + i0, t->m + i0, t->v + i0, t->g + i0, (int64_t)(i1 - i0), t->lr,
                          t->b1, t->b2, t->eps, t->wd, t->scale, t->bc1, t->bc2);
}

void train_adamw_step(kw_pool *pool, const train_layout *l, float *params, const float *grads,
                      float *m, float *v, const train_optim *o, float lr, int64_t t,
                      float grad_scale) {
    const float bc1 = (float)(1.0 - pow(o->beta1, (double)t));
    const float bc2 = (float)(1.0 - pow(o->beta2, (double)t));
    for (int i = 0; i < l->n; i++) {
        const train_tensor *tt = &l->t[i];
        const size_t off = tt->offset, n = (size_t)(tt->n_in * tt->n_out);
        adam_task a = {
            params + off, m + off,  v + off,  grads + off, n,
            lr,           o->beta1, o->beta2, o->eps,      tt->decay ? o->weight_decay : 0.0f,
            grad_scale,   bc1,      bc2};
        kw_pool_for(pool, (int64_t)((n + OPT_CHUNK - 1) / OPT_CHUNK), adam_chunk, &a);
    }
}
