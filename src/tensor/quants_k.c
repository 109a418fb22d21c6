/* quants_k.c - the k-quants (Q2_K, Q3_K, Q4_K, Q5_K, Q6_K): dequantizers and reference
 * quantizers.
 *
 * Dequantizers reproduce ggml's to_float bit for bit (same float operation order). Quantizers
 * follow ggml's reference algorithms (quantize_row_*_ref): each 16- or 32-value sub-block gets a
 * scale (and a min) from an iterative search minimising a weighted squared or absolute error, the
 * sub-block scales are then themselves quantized to 4, 6 or 8 bits against one f16 super-scale,
 * and finally every value is re-rounded with the scale it will actually be decoded with.
 * With an importance matrix (one weight per column of the row) the search weights become
 * imatrix[i] * sqrt(sigma2 + x[i]^2), as in ggml's quantize_*_K with quant_weights; the scale
 * quantization step is kept as in the reference quantizer (a simplification of ggml, which also
 * searches the scale grid with weights).
 * Relies on: blocks.h. Must not: allocate or use CPU-specific code.
 */
#include "tensor/blocks.h"

#include <math.h>
#include <string.h>

/* A group whose largest magnitude is below this is stored as zeros (ggml's GROUP_MAX_EPS). */
#define GROUP_MAX_EPS 1e-15f

static inline int clampi(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

/* ---------------------------------------------------------------- dequantization */

void quant_dequantize_row_q2_K(const block_q2_K *x, float *y, int64_t n) {
    for (int64_t i = 0; i < n / QK_K; i++) {
        const float d = kw_f16_to_f32(x[i].d);
        const float min = kw_f16_to_f32(x[i].dmin);
        const uint8_t *q = x[i].qs;
        int is = 0;
        for (int half = 0; half < 2; half++, q += 32) {
            for (int shift = 0; shift < 8; shift += 2) {
                for (int k = 0; k < 2; k++) { /* two sub-blocks of 16 per shift */
                    const uint8_t sc = x[i].scales[is++];
                    const float dl = d * (float)(sc & 0xF);
                    const float ml = min * (float)(sc >> 4);
                    for (int l = 0; l < 16; l++)
                        *y++ = dl * (float)((q[16 * k + l] >> shift) & 3) - ml;
                }
            }
        }
    }
}

void quant_dequantize_row_q3_K(const block_q3_K *x, float *y, int64_t n) {
    for (int64_t i = 0; i < n / QK_K; i++) {
        const float d_all = kw_f16_to_f32(x[i].d);
        const uint8_t *q = x[i].qs;
        const uint8_t *hm = x[i].hmask;
        uint8_t m = 1;
        int is = 0;
        for (int half = 0; half < 2; half++, q += 32) {
            for (int shift = 0; shift < 8; shift += 2, m = (uint8_t)(m << 1)) {
                for (int k = 0; k < 2; k++) {
                    const float dl = d_all * (float)quant_q3_K_scale(x[i].scales, is++);
                    for (int l = 16 * k; l < 16 * k + 16; l++) {
                        const int v = ((q[l] >> shift) & 3) - ((hm[l] & m) ? 0 : 4);
                        *y++ = dl * (float)v;
                    }
                }
            }
        }
    }
}

void quant_dequantize_row_q4_K(const block_q4_K *x, float *y, int64_t n) {
    for (int64_t i = 0; i < n / QK_K; i++) {
        const float d = kw_f16_to_f32(x[i].d);
        const float min = kw_f16_to_f32(x[i].dmin);
        const uint8_t *q = x[i].qs;
        for (int is = 0; is < 8; is += 2, q += 32) {
            uint8_t sc, m;
            quant_get_scale_min_k4(is, x[i].scales, &sc, &m);
            const float d1 = d * (float)sc, m1 = min * (float)m;
            quant_get_scale_min_k4(is + 1, x[i].scales, &sc, &m);
            const float d2 = d * (float)sc, m2 = min * (float)m;
            for (int l = 0; l < 32; l++)
                *y++ = d1 * (float)(q[l] & 0xF) - m1;
            for (int l = 0; l < 32; l++)
                *y++ = d2 * (float)(q[l] >> 4) - m2;
        }
    }
}

void quant_dequantize_row_q5_K(const block_q5_K *x, float *y, int64_t n) {
    for (int64_t i = 0; i < n / QK_K; i++) {
        const float d = kw_f16_to_f32(x[i].d);
        const float min = kw_f16_to_f32(x[i].dmin);
        const uint8_t *ql = x[i].qs;
        const uint8_t *qh = x[i].qh;
        uint8_t u1 = 1, u2 = 2;
        for (int is = 0; is < 8;
             is += 2, ql += 32, u1 = (uint8_t)(u1 << 2), u2 = (uint8_t)(u2 << 2)) {
            uint8_t sc, m;
            quant_get_scale_min_k4(is, x[i].scales, &sc, &m);
            const float d1 = d * (float)sc, m1 = min * (float)m;
            quant_get_scale_min_k4(is + 1, x[i].scales, &sc, &m);
            const float d2 = d * (float)sc, m2 = min * (float)m;
            for (int l = 0; l < 32; l++)
                *y++ = d1 * (float)((ql[l] & 0xF) + ((qh[l] & u1) ? 16 : 0)) - m1;
            for (int l = 0; l < 32; l++)
                *y++ = d2 * (float)((ql[l] >> 4) + ((qh[l] & u2) ? 16 : 0)) - m2;
        }
    }
}

void quant_dequantize_row_q6_K(const block_q6_K *x, float *y, int64_t n) {
    for (int64_t i = 0; i < n / QK_K; i++) {
        const float d = kw_f16_to_f32(x[i].d);
        const uint8_t *ql = x[i].ql;
        const uint8_t *qh = x[i].qh;
        const int8_t *sc = x[i].scales;
        for (int half = 0; half < 2; half++, y += 128, ql += 64, qh += 32, sc += 8) {
            for (int l = 0; l < 32; l++) {
                const int is = l / 16;
                const int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
                const int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
                const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                y[l + 0] = d * (float)sc[is + 0] * (float)q1;
                y[l + 32] = d * (float)sc[is + 2] * (float)q2;
                y[l + 64] = d * (float)sc[is + 4] * (float)q3;
                y[l + 96] = d * (float)sc[is + 6] * (float)q4;
            }
        }
    }
}

/* ---------------------------------------------------------------- scale searches */

/* Symmetric search (Q6_K, and Q3_K with an imatrix): quants L[i] in [0, 2*nmax) stand for
 * L[i] - nmax. Starts from the scale that maps the largest-magnitude value to -nmax, then tries
 * 18 nearby grid scales and keeps the one maximising sumlx^2 / suml2, i.e. minimising the
 * weighted squared error with the least-squares scale. Weights: qw if given, else x^2
 * (rmse_type 1, the only kind the reference quantizers use). Returns the scale. */
static float make_qx_quants(int n, int nmax, const float *x, int8_t *L, const float *qw) {
    float max = 0.0f, amax = 0.0f;
    for (int i = 0; i < n; i++) {
        const float ax = fabsf(x[i]);
        if (ax > amax) {
            amax = ax;
            max = x[i];
        }
    }
    if (amax < GROUP_MAX_EPS) {
        memset(L, 0, (size_t)n);
        return 0.0f;
    }
    float iscale = -(float)nmax / max;
    float sumlx = 0.0f, suml2 = 0.0f;
    for (int i = 0; i < n; i++) {
        const int l = clampi(quant_nearest_int(iscale * x[i]), -nmax, nmax - 1);
        L[i] = (int8_t)(l + nmax);
        const float w = qw ? qw[i] : x[i] * x[i];
        sumlx += w * x[i] * (float)l;
        suml2 += w * (float)l * (float)l;
    }
    float scale = suml2 != 0.0f ? sumlx / suml2 : 0.0f;
    float best = scale * sumlx;
    for (int is = -9; is <= 9; is++) {
        if (is == 0) continue;
        iscale = -((float)nmax + 0.1f * (float)is) / max;
        sumlx = suml2 = 0.0f;
        for (int i = 0; i < n; i++) {
            const int l = clampi(quant_nearest_int(iscale * x[i]), -nmax, nmax - 1);
            const float w = qw ? qw[i] : x[i] * x[i];
            sumlx += w * x[i] * (float)l;
            suml2 += w * (float)l * (float)l;
        }
        if (suml2 > 0.0f && sumlx * sumlx > best * suml2) {
            for (int i = 0; i < n; i++)
                L[i] = (int8_t)(nmax + clampi(quant_nearest_int(iscale * x[i]), -nmax, nmax - 1));
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    return scale;
}

/* Q3_K's search: start from the max-magnitude scale, then move single quants (coordinate
 * descent, up to 5 sweeps) while that raises sumlx^2 / suml2 with weights x^2. L[i] in
 * [0, 2*nmax) stands for L[i] - nmax. Returns the least-squares scale. */
static float make_q3_quants(int n, int nmax, const float *x, int8_t *L) {
    float max = 0.0f, amax = 0.0f;
    for (int i = 0; i < n; i++) {
        const float ax = fabsf(x[i]);
        if (ax > amax) {
            amax = ax;
            max = x[i];
        }
    }
    if (amax < GROUP_MAX_EPS) {
        memset(L, 0, (size_t)n);
        return 0.0f;
    }
    const float iscale = -(float)nmax / max;
    float sumlx = 0.0f, suml2 = 0.0f;
    for (int i = 0; i < n; i++) {
        const int l = clampi(quant_nearest_int(iscale * x[i]), -nmax, nmax - 1);
        L[i] = (int8_t)l;
        const float w = x[i] * x[i];
        sumlx += w * x[i] * (float)l;
        suml2 += w * (float)l * (float)l;
    }
    for (int itry = 0; itry < 5; itry++) {
        int n_changed = 0;
        for (int i = 0; i < n; i++) {
            const float w = x[i] * x[i];
            float slx = sumlx - w * x[i] * (float)L[i];
            if (slx > 0.0f) {
                float sl2 = suml2 - w * (float)L[i] * (float)L[i];
                const int new_l = clampi(quant_nearest_int(x[i] * sl2 / slx), -nmax, nmax - 1);
                if (new_l != L[i]) {
                    slx += w * x[i] * (float)new_l;
                    sl2 += w * (float)new_l * (float)new_l;
                    if (sl2 > 0.0f && slx * slx * suml2 > sumlx * sumlx * sl2) {
                        L[i] = (int8_t)new_l;
                        sumlx = slx;
                        suml2 = sl2;
                        n_changed++;
                    }
                }
            }
        }
        if (!n_changed) break;
    }
    for (int i = 0; i < n; i++)
        L[i] = (int8_t)(L[i] + nmax);
    return sumlx / suml2;
}

/* Asymmetric search (Q2_K, Q4_K, Q5_K): value ~ scale * L[i] - the_min with L in [0, nmax] and
 * the_min >= 0. Tries nstep+1 grid scales (nmax + rmin + rdelta*is) / (max - min); for each, the
 * weighted least-squares scale and min are solved in closed form, and the candidate with the
 * lowest weighted error (absolute if use_mad, else squared) is kept. Returns the scale. */
static float make_qkx2_quants(int n, int nmax, const float *x, const float *weights, uint8_t *L,
                              float *the_min, uint8_t *Laux, float rmin, float rdelta, int nstep,
                              bool use_mad) {
    float min = x[0], max = x[0];
    float sum_w = weights[0];
    float sum_x = sum_w * x[0];
    for (int i = 1; i < n; i++) {
        if (x[i] < min) min = x[i];
        if (x[i] > max) max = x[i];
        const float w = weights[i];
        sum_w += w;
        sum_x += w * x[i];
    }
    if (min > 0.0f) min = 0.0f;
    if (max == min) {
        memset(L, 0, (size_t)n);
        *the_min = -min;
        return 0.0f;
    }
    float iscale = (float)nmax / (max - min);
    float scale = 1.0f / iscale;
    float best_error = 0.0f;
    for (int i = 0; i < n; i++) {
        const int l = clampi(quant_nearest_int(iscale * (x[i] - min)), 0, nmax);
        L[i] = (uint8_t)l;
        float diff = scale * (float)L[i] + min - x[i];
        diff = use_mad ? fabsf(diff) : diff * diff;
        best_error += weights[i] * diff;
    }
    for (int is = 0; is <= nstep; is++) {
        iscale = (rmin + rdelta * (float)is + (float)nmax) / (max - min);
        float sum_l = 0.0f, sum_l2 = 0.0f, sum_xl = 0.0f;
        for (int i = 0; i < n; i++) {
            const int l = clampi(quant_nearest_int(iscale * (x[i] - min)), 0, nmax);
            Laux[i] = (uint8_t)l;
            const float w = weights[i];
            sum_l += w * (float)l;
            sum_l2 += w * (float)l * (float)l;
            sum_xl += w * (float)l * x[i];
        }
        const float D = sum_w * sum_l2 - sum_l * sum_l;
        if (D > 0.0f) {
            float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
            float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
            if (this_min > 0.0f) {
                this_min = 0.0f;
                this_scale = sum_xl / sum_l2;
            }
            float cur_error = 0.0f;
            for (int i = 0; i < n; i++) {
                float diff = this_scale * (float)Laux[i] + this_min - x[i];
                diff = use_mad ? fabsf(diff) : diff * diff;
                cur_error += weights[i] * diff;
            }
            if (cur_error < best_error) {
                memcpy(L, Laux, (size_t)n);
                best_error = cur_error;
                scale = this_scale;
                min = this_min;
            }
        }
    }
    *the_min = -min;
    return scale;
}

/* Mean of x^2 over the whole row: the sigma2 of ggml's importance weights. */
static float row_sigma2(const float *x, int64_t n) {
    float sum = 0.0f;
    for (int64_t i = 0; i < n; i++)
        sum += x[i] * x[i];
    return sum / (float)n;
}

/* imatrix weights of one sub-block: qw[i] * sqrt(sigma2 + x[i]^2). */
static void importance_weights(const float *x, const float *qw, float sigma2, int n, float *w) {
    for (int i = 0; i < n; i++)
        w[i] = qw[i] * sqrtf(sigma2 + x[i] * x[i]);
}

/* Packs 2-bit quants L[0..256) as Q2_K / Q3_K store them: per 128 values, byte l of 32 holds
 * values l, l+32, l+64, l+96 in bits 0-1, 2-3, 4-5, 6-7. */
static void pack_2bit(const uint8_t *L, uint8_t *qs) {
    for (int j = 0; j < QK_K; j += 128)
        for (int l = 0; l < 32; l++)
            qs[j / 4 + l] = (uint8_t)(L[j + l] | (L[j + l + 32] << 2) | (L[j + l + 64] << 4) |
                                      (L[j + l + 96] << 6));
}

/* ---------------------------------------------------------------- Q2_K */

void quant_quantize_row_q2_K(const float *x, block_q2_K *y, int64_t n, const float *imatrix) {
    const float sigma2 = imatrix ? row_sigma2(x, n) : 0.0f;
    for (int64_t i = 0; i < n / QK_K; i++, x += QK_K) {
        uint8_t L[QK_K], Laux[16];
        float weights[16], mins[QK_K / 16], scales[QK_K / 16];
        float max_scale = 0.0f, max_min = 0.0f;
        for (int j = 0; j < QK_K / 16; j++) {
            const float *xs = x + 16 * j;
            if (imatrix) {
                importance_weights(xs, imatrix + i * QK_K + 16 * j, sigma2, 16, weights);
                scales[j] = make_qkx2_quants(16, 3, xs, weights, L + 16 * j, &mins[j], Laux, -0.9f,
                                             0.05f, 36, false);
            } else {
                for (int l = 0; l < 16; l++)
                    weights[l] = fabsf(xs[l]);
                scales[j] = make_qkx2_quants(16, 3, xs, weights, L + 16 * j, &mins[j], Laux, -0.5f,
                                             0.1f, 15, true);
            }
            if (scales[j] > max_scale) max_scale = scales[j];
            if (mins[j] > max_min) max_min = mins[j];
        }
        /* sub-block scales and mins to 4 bits against the f16 super-scales */
        if (max_scale > 0.0f) {
            const float iscale = 15.0f / max_scale;
            for (int j = 0; j < QK_K / 16; j++)
                y->scales[j] = (uint8_t)clampi(quant_nearest_int(iscale * scales[j]), 0, 15);
            y->d = kw_f32_to_f16(max_scale / 15.0f);
        } else {
            memset(y->scales, 0, sizeof y->scales);
            y->d = kw_f32_to_f16(0.0f);
        }
        if (max_min > 0.0f) {
            const float iscale = 15.0f / max_min;
            for (int j = 0; j < QK_K / 16; j++)
                y->scales[j] = (uint8_t)(y->scales[j] |
                                         (clampi(quant_nearest_int(iscale * mins[j]), 0, 15) << 4));
            y->dmin = kw_f32_to_f16(max_min / 15.0f);
        } else {
            y->dmin = kw_f32_to_f16(0.0f);
        }
        /* re-round every value with the scale and min it will be decoded with */
        for (int j = 0; j < QK_K / 16; j++) {
            const float d = kw_f16_to_f32(y->d) * (float)(y->scales[j] & 0xF);
            if (d == 0.0f) continue;
            const float dm = kw_f16_to_f32(y->dmin) * (float)(y->scales[j] >> 4);
            for (int l = 0; l < 16; l++)
                L[16 * j + l] = (uint8_t)clampi(quant_nearest_int((x[16 * j + l] + dm) / d), 0, 3);
        }
        pack_2bit(L, y->qs);
        y++;
    }
}

/* ---------------------------------------------------------------- Q3_K */

void quant_quantize_row_q3_K(const float *x, block_q3_K *y, int64_t n, const float *imatrix) {
    const float sigma2 = imatrix ? 2.0f * row_sigma2(x, n) : 0.0f;
    for (int64_t i = 0; i < n / QK_K; i++, x += QK_K) {
        int8_t L[QK_K];
        float scales[QK_K / 16], weights[16];
        float max_scale = 0.0f, amax = 0.0f;
        for (int j = 0; j < QK_K / 16; j++) {
            if (imatrix) {
                importance_weights(x + 16 * j, imatrix + i * QK_K + 16 * j, sigma2, 16, weights);
                scales[j] = make_qx_quants(16, 4, x + 16 * j, L + 16 * j, weights);
            } else {
                scales[j] = make_q3_quants(16, 4, x + 16 * j, L + 16 * j);
            }
            if (fabsf(scales[j]) > amax) {
                amax = fabsf(scales[j]);
                max_scale = scales[j];
            }
        }
        /* sub-block scales to signed 6 bits (stored +32) against the f16 super-scale */
        memset(y->scales, 0, sizeof y->scales);
        if (max_scale != 0.0f) {
            const float iscale = -32.0f / max_scale;
            for (int j = 0; j < QK_K / 16; j++) {
                const int l = clampi(quant_nearest_int(iscale * scales[j]), -32, 31) + 32;
                if (j < 8)
                    y->scales[j] = (uint8_t)(l & 0xF);
                else
                    y->scales[j - 8] = (uint8_t)(y->scales[j - 8] | ((l & 0xF) << 4));
                y->scales[8 + j % 4] =
                    (uint8_t)(y->scales[8 + j % 4] | ((l >> 4) << (2 * (j / 4))));
            }
            y->d = kw_f32_to_f16(1.0f / iscale);
        } else {
            y->d = kw_f32_to_f16(0.0f);
        }
        for (int j = 0; j < QK_K / 16; j++) {
            const float d = kw_f16_to_f32(y->d) * (float)quant_q3_K_scale(y->scales, j);
            if (d == 0.0f) continue;
            for (int l = 0; l < 16; l++)
                L[16 * j + l] = (int8_t)(clampi(quant_nearest_int(x[16 * j + l] / d), -4, 3) + 4);
        }
        /* high bit into hmask (bit i/32 of byte i%32), low 2 bits into qs */
        uint8_t low[QK_K];
        memset(y->hmask, 0, sizeof y->hmask);
        for (int j = 0; j < QK_K; j++) {
            if (L[j] > 3) y->hmask[j % 32] = (uint8_t)(y->hmask[j % 32] | (1 << (j / 32)));
            low[j] = (uint8_t)(L[j] & 3);
        }
        pack_2bit(low, y->qs);
        y++;
    }
}

/* ---------------------------------------------------------------- Q4_K, Q5_K */

/* Shared by Q4_K (nmax 15) and Q5_K (nmax 31): per 32-value sub-block the asymmetric search,
 * then scales and mins to 6 bits packed in `packed`, the two f16 super-scales, and the final
 * quants L[0..256) in [0, nmax]. */
static void quantize_k4_like(const float *x, int nmax, const float *qw, float sigma2, uint8_t *L,
                             uint8_t packed[K_SCALE_SIZE], uint16_t *d_out, uint16_t *dmin_out) {
    uint8_t Laux[32];
    float weights[32], mins[QK_K / 32], scales[QK_K / 32];
    float max_scale = 0.0f, max_min = 0.0f;
    for (int j = 0; j < QK_K / 32; j++) {
        const float *xs = x + 32 * j;
        if (qw) {
            importance_weights(xs, qw + 32 * j, sigma2, 32, weights);
            scales[j] = make_qkx2_quants(32, nmax, xs, weights, L + 32 * j, &mins[j], Laux, -0.9f,
                                         0.05f, 36, false);
        } else {
            /* weight each value by the sub-block's RMS plus its own magnitude */
            float sum_x2 = 0.0f;
            for (int l = 0; l < 32; l++)
                sum_x2 += xs[l] * xs[l];
            const float av_x = sqrtf(sum_x2 / 32.0f);
            for (int l = 0; l < 32; l++)
                weights[l] = av_x + fabsf(xs[l]);
            if (nmax == 15)
                scales[j] = make_qkx2_quants(32, 15, xs, weights, L + 32 * j, &mins[j], Laux, -1.0f,
                                             0.1f, 20, false);
            else
                scales[j] = make_qkx2_quants(32, 31, xs, weights, L + 32 * j, &mins[j], Laux, -0.5f,
                                             0.1f, 15, false);
        }
        if (scales[j] > max_scale) max_scale = scales[j];
        if (mins[j] > max_min) max_min = mins[j];
    }
    const float inv_scale = max_scale > 0.0f ? 63.0f / max_scale : 0.0f;
    const float inv_min = max_min > 0.0f ? 63.0f / max_min : 0.0f;
    for (int j = 0; j < QK_K / 32; j++) {
        const uint8_t ls = (uint8_t)clampi(quant_nearest_int(inv_scale * scales[j]), 0, 63);
        const uint8_t lm = (uint8_t)clampi(quant_nearest_int(inv_min * mins[j]), 0, 63);
        if (j < 4) {
            packed[j] = ls;
            packed[j + 4] = lm;
        } else {
            packed[j + 4] = (uint8_t)((ls & 0xF) | ((lm & 0xF) << 4));
            packed[j - 4] = (uint8_t)(packed[j - 4] | ((ls >> 4) << 6));
            packed[j] = (uint8_t)(packed[j] | ((lm >> 4) << 6));
        }
    }
    *d_out = kw_f32_to_f16(max_scale / 63.0f);
    *dmin_out = kw_f32_to_f16(max_min / 63.0f);
    for (int j = 0; j < QK_K / 32; j++) {
        uint8_t sc, m;
        quant_get_scale_min_k4(j, packed, &sc, &m);
        const float d = kw_f16_to_f32(*d_out) * (float)sc;
        if (d == 0.0f) continue;
        const float dm = kw_f16_to_f32(*dmin_out) * (float)m;
        for (int l = 0; l < 32; l++)
            L[32 * j + l] = (uint8_t)clampi(quant_nearest_int((x[32 * j + l] + dm) / d), 0, nmax);
    }
}

void quant_quantize_row_q4_K(const float *x, block_q4_K *y, int64_t n, const float *imatrix) {
    const float sigma2 = imatrix ? row_sigma2(x, n) : 0.0f;
    for (int64_t i = 0; i < n / QK_K; i++, x += QK_K, y++) {
        uint8_t L[QK_K];
        memset(y->scales, 0, sizeof y->scales);
        quantize_k4_like(x, 15, imatrix ? imatrix + i * QK_K : NULL, sigma2, L, y->scales, &y->d,
                         &y->dmin);
        /* per 64 values: low nibbles the first 32, high nibbles the next 32 */
        for (int j = 0; j < QK_K; j += 64)
            for (int l = 0; l < 32; l++)
                y->qs[j / 2 + l] = (uint8_t)(L[j + l] | (L[j + l + 32] << 4));
    }
}

void quant_quantize_row_q5_K(const float *x, block_q5_K *y, int64_t n, const float *imatrix) {
    const float sigma2 = imatrix ? row_sigma2(x, n) : 0.0f;
    for (int64_t i = 0; i < n / QK_K; i++, x += QK_K, y++) {
        uint8_t L[QK_K];
        memset(y->scales, 0, sizeof y->scales);
        quantize_k4_like(x, 31, imatrix ? imatrix + i * QK_K : NULL, sigma2, L, y->scales, &y->d,
                         &y->dmin);
        memset(y->qh, 0, sizeof y->qh);
        uint8_t m1 = 1, m2 = 2;
        for (int j = 0; j < QK_K; j += 64, m1 = (uint8_t)(m1 << 2), m2 = (uint8_t)(m2 << 2)) {
            for (int l = 0; l < 32; l++) {
                int l1 = L[j + l], l2 = L[j + l + 32];
                if (l1 > 15) {
                    l1 -= 16;
                    y->qh[l] |= m1;
                }
                if (l2 > 15) {
                    l2 -= 16;
                    y->qh[l] |= m2;
                }
                y->qs[j / 2 + l] = (uint8_t)(l1 | (l2 << 4));
            }
        }
    }
}

/* ---------------------------------------------------------------- Q6_K */

void quant_quantize_row_q6_K(const float *x, block_q6_K *y, int64_t n, const float *imatrix) {
    const float sigma2 = imatrix ? row_sigma2(x, n) : 0.0f;
    for (int64_t i = 0; i < n / QK_K; i++, x += QK_K, y++) {
        int8_t L[QK_K];
        float scales[QK_K / 16], weights[16];
        float max_scale = 0.0f, max_abs_scale = 0.0f;
        for (int ib = 0; ib < QK_K / 16; ib++) {
            const float *qw = NULL;
            if (imatrix) {
                importance_weights(x + 16 * ib, imatrix + i * QK_K + 16 * ib, sigma2, 16, weights);
                qw = weights;
            }
            scales[ib] = make_qx_quants(16, 32, x + 16 * ib, L + 16 * ib, qw);
            if (fabsf(scales[ib]) > max_abs_scale) {
                max_abs_scale = fabsf(scales[ib]);
                max_scale = scales[ib];
            }
        }
        if (max_abs_scale < GROUP_MAX_EPS) {
            memset(y, 0, sizeof *y);
            continue;
        }
        /* sub-block scales to int8 against the f16 super-scale */
        const float iscale = -128.0f / max_scale;
        y->d = kw_f32_to_f16(1.0f / iscale);
        for (int ib = 0; ib < QK_K / 16; ib++) {
            const int v = quant_nearest_int(iscale * scales[ib]);
            y->scales[ib] = (int8_t)clampi(v, -128, 127);
        }
        for (int j = 0; j < QK_K / 16; j++) {
            const float d = kw_f16_to_f32(y->d) * (float)y->scales[j];
            if (d == 0.0f) continue;
            for (int l = 0; l < 16; l++)
                L[16 * j + l] =
                    (int8_t)(clampi(quant_nearest_int(x[16 * j + l] / d), -32, 31) + 32);
        }
        /* per 128 values: ql low nibbles = values 0..63, high nibbles = 64..127; qh 2 bits each */
        uint8_t *ql = y->ql, *qh = y->qh;
        for (int j = 0; j < QK_K; j += 128, ql += 64, qh += 32) {
            for (int l = 0; l < 32; l++) {
                const int q1 = L[j + l], q2 = L[j + l + 32], q3 = L[j + l + 64], q4 = L[j + l + 96];
                ql[l] = (uint8_t)((q1 & 0xF) | ((q3 & 0xF) << 4));
                ql[l + 32] = (uint8_t)((q2 & 0xF) | ((q4 & 0xF) << 4));
                qh[l] =
                    (uint8_t)((q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) | ((q4 >> 4) << 6));
            }
        }
    }
}
